//! The `gridline` binary's library: settings, the command line, and the HTTP application.
//! Handlers stay thin: every decision is made in `gridline-shared`.

rust_i18n::i18n!("locales", fallback = "zh-CN");

pub mod app;
pub mod cli;
pub mod cli_export;
pub mod config;
pub mod demo;
pub mod pages;
pub mod panel;
pub mod scheduler;
