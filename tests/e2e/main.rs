//! All end-to-end tests in one binary (one link, shared helpers).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod bad_input_bot;
mod bad_input_panel;
mod bot_bind;
mod bot_cli;
mod bot_followup;
mod bot_report;
mod bot_robust;
mod bot_support;
mod cli;
mod counters;
mod delivery;
mod delivery_queue;
mod demo;
mod fake_telegram;
mod fault_kill;
mod fault_pg;
mod fault_telegram;
mod fault_writers;
mod import;
mod lifecycle;
mod notices;
mod notices_panel;
mod panel_auth;
mod panel_browser;
mod panel_inbox;
mod panel_pages;
mod panel_report;
mod panel_scheduler;
mod simulator;
mod simulator_browser;
mod small_county;
mod staff_commands;
mod stats_exports;
mod wecom_protocol;
