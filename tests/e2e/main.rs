//! All end-to-end tests in one binary (one link, shared helpers).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod cli;
mod fake_telegram;
mod import;
mod lifecycle;
