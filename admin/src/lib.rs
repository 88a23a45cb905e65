//! The `gridline` binary's library: settings, the command line, and the HTTP application.
//! Handlers stay thin: every decision is made in `gridline-shared`.

rust_i18n::i18n!("locales", fallback = "zh-CN");

pub mod app;
pub mod cli;
pub mod cli_export;
pub mod config;
pub mod demo;
pub mod metrics;
pub mod panel;
pub mod scheduler;

#[cfg(test)]
mod locale_tests;

/// The text of `key` in `locale` from this crate's locale files (`admin/locales/`): the one
/// helper for text built in Rust. Templates call `page.t("key")`; text with arguments uses
/// `t!(key, locale = …, name = value)`.
pub fn tr(locale: &str, key: impl AsRef<str>) -> String {
    rust_i18n::t!(key.as_ref(), locale = locale).into_owned()
}
