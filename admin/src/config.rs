//! Settings: built-in defaults, then a TOML file, then environment variables.
//!
//! | setting | environment | default |
//! |---|---|---|
//! | `database_url` | `GRIDLINE_DATABASE_URL` | `sqlite://gridline.db` (in the working directory) |
//! | `listen` | `GRIDLINE_LISTEN` | `127.0.0.1:8080` |
//! | `county_name` | `GRIDLINE_COUNTY_NAME` | `大邑县` |
//! | `bot_username` | `GRIDLINE_BOT_USERNAME` | `gridline_bot` (for deep links until the bot learns its name) |
//! | `telegram_token` | `TELOXIDE_TOKEN` | none: the bot runs only when set |
//! | `telegram_api_url` | `GRIDLINE_TELEGRAM_API_URL` | Telegram's own |
//! | `send_rate` | `GRIDLINE_SEND_RATE` | 30 messages per second |
//! | `max_file_bytes` | `GRIDLINE_MAX_FILE_BYTES` | 10 MB: larger photos and files sent to the bot are refused |
//! | `webhook_url` | `GRIDLINE_WEBHOOK_URL` | none: long polling. Set (with `webhook_secret`) to receive updates at `/telegram/webhook` |
//! | `webhook_secret` | `GRIDLINE_WEBHOOK_SECRET` | none (never printed) |
//! | `cookie_secure` | `GRIDLINE_COOKIE_SECURE` | `false` (set `true` behind HTTPS: cookies get `Secure`) |
//! | `simulator` | `GRIDLINE_SIMULATOR` | off, except with `serve --demo`: the chat simulator page (`/simulator`); `true` turns it on |
//! | `metrics_token` | `GRIDLINE_METRICS_TOKEN` | none: `/metrics` answers loopback peers only; set, it also answers `Authorization: Bearer <token>` (never printed) |
//! | `backup_dir` | `GRIDLINE_BACKUP_DIR` | none: no daily backup. Set (SQLite), `serve` writes `gridline-YYYYMMDD-HHMMSS.db` there every day |
//! | `backup_keep` | `GRIDLINE_BACKUP_KEEP` | 7: daily backups kept in `backup_dir` (older ones are deleted) |
//! | `backup_time` | `GRIDLINE_BACKUP_TIME` | `03:00`: time of day of the daily backup, county time (UTC+8) |
//! | `wecom_corp_id` | `GRIDLINE_WECOM_CORP_ID` | none: the WeCom channel is off unless all five `wecom_*` settings below are set |
//! | `wecom_agent_id` | `GRIDLINE_WECOM_AGENT_ID` | none: the self-built app's AgentId |
//! | `wecom_secret` | `GRIDLINE_WECOM_SECRET` | none: the app's Secret (never printed) |
//! | `wecom_token` | `GRIDLINE_WECOM_TOKEN` | none: the callback's Token (never printed) |
//! | `wecom_aes_key` | `GRIDLINE_WECOM_AES_KEY` | none: the callback's 43-character EncodingAESKey (never printed) |
//! | `wecom_api_url` | `GRIDLINE_WECOM_API_URL` | `https://qyapi.weixin.qq.com` |
//! | `xlsx_max_rows` | `GRIDLINE_XLSX_MAX_ROWS` | 100,000: a larger export is refused as XLSX (CSV streams any size) |

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub database_url: String,
    pub listen: String,
    pub county_name: String,
    pub bot_username: String,
    /// Never printed.
    #[serde(skip_serializing)]
    pub telegram_token: Option<String>,
    pub telegram_api_url: Option<String>,
    pub send_rate: f64,
    /// Largest photo or file the bot accepts, in bytes.
    pub max_file_bytes: u64,
    /// Public HTTPS URL Telegram posts updates to (webhook mode); `None`: long polling.
    pub webhook_url: Option<String>,
    /// Secret token Telegram sends with each webhook call. Never printed.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<String>,
    /// Mark panel cookies `Secure` (only sent over HTTPS). Turn on when served over TLS.
    pub cookie_secure: bool,
    /// The chat simulator page (`/simulator`): off unless set, or `serve --demo` (see
    /// [`Settings::simulator_on`]).
    pub simulator: Option<bool>,
    /// Bearer token that lets a non-loopback peer read `/metrics`. Never printed.
    #[serde(skip_serializing)]
    pub metrics_token: Option<String>,
    /// Folder of the daily backup (SQLite); `None`: no daily backup.
    pub backup_dir: Option<std::path::PathBuf>,
    /// Daily backups kept in `backup_dir`.
    pub backup_keep: usize,
    /// Time of day (`HH:MM`, county time) of the daily backup.
    pub backup_time: String,
    /// WeCom self-built app (see `docs/wecom.md`): all five or none.
    pub wecom_corp_id: Option<String>,
    pub wecom_agent_id: Option<i64>,
    /// Never printed.
    #[serde(skip_serializing)]
    pub wecom_secret: Option<String>,
    /// Never printed.
    #[serde(skip_serializing)]
    pub wecom_token: Option<String>,
    /// Never printed.
    #[serde(skip_serializing)]
    pub wecom_aes_key: Option<String>,
    pub wecom_api_url: String,
    /// Most rows an XLSX export from the panel holds (CSV exports stream, without a cap).
    pub xlsx_max_rows: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: gridline_shared::db::DEFAULT_DATABASE_URL.to_owned(),
            listen: "127.0.0.1:8080".to_owned(),
            county_name: "大邑县".to_owned(),
            bot_username: "gridline_bot".to_owned(),
            telegram_token: None,
            telegram_api_url: None,
            send_rate: 30.0,
            max_file_bytes: 10 * 1024 * 1024,
            webhook_url: None,
            webhook_secret: None,
            cookie_secure: false,
            simulator: None,
            metrics_token: None,
            backup_dir: None,
            backup_keep: 7,
            backup_time: "03:00".to_owned(),
            wecom_corp_id: None,
            wecom_agent_id: None,
            wecom_secret: None,
            wecom_token: None,
            wecom_aes_key: None,
            wecom_api_url: gridline_bot::wecom::api::DEFAULT_API_URL.to_owned(),
            xlsx_max_rows: gridline_shared::export::DEFAULT_XLSX_ROWS,
        }
    }
}

/// A text setting, trimmed; `None` when absent or blank.
fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Loads the settings. `file` is read if given (it must exist then); otherwise
    /// `gridline.toml` in the working directory is read if present.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError(format!("{} does not exist", path.display())));
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("gridline.toml")),
        }
        figment = figment
            .merge(Env::prefixed("GRIDLINE_").only(&[
                "database_url",
                "listen",
                "county_name",
                "bot_username",
                "telegram_api_url",
                "send_rate",
                "max_file_bytes",
                "webhook_url",
                "webhook_secret",
                "cookie_secure",
                "simulator",
                "metrics_token",
                "backup_dir",
                "backup_keep",
                "backup_time",
                "wecom_corp_id",
                "wecom_agent_id",
                "wecom_secret",
                "wecom_token",
                "wecom_aes_key",
                "wecom_api_url",
                "xlsx_max_rows",
            ]))
            .merge(
                Env::raw()
                    .only(&["TELOXIDE_TOKEN"])
                    .map(|_| "telegram_token".into()),
            );
        let settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.send_rate.is_finite() && self.send_rate > 0.0) {
            return Err(ConfigError("send_rate must be a positive number".into()));
        }
        if self.county_name.trim().is_empty() {
            return Err(ConfigError("county_name must not be empty".into()));
        }
        if self.xlsx_max_rows == 0 || self.xlsx_max_rows > gridline_shared::export::MAX_XLSX_ROWS {
            return Err(ConfigError(format!(
                "xlsx_max_rows must be between 1 and {}",
                gridline_shared::export::MAX_XLSX_ROWS
            )));
        }
        if self.max_file_bytes == 0 {
            return Err(ConfigError("max_file_bytes must be positive".into()));
        }
        if self.webhook_url.is_some() && self.webhook_secret.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError(
                "webhook_url needs webhook_secret (GRIDLINE_WEBHOOK_SECRET)".into(),
            ));
        }
        if self.backup_keep == 0 {
            return Err(ConfigError("backup_keep must be at least 1".into()));
        }
        self.backup_time()?;
        self.wecom()?;
        Ok(())
    }

    /// Whether the chat simulator is served: when `simulator` says so; off when unset
    /// (`serve --demo` sets it on unless the settings turned it off).
    pub fn simulator_on(&self) -> bool {
        self.simulator.unwrap_or(false)
    }

    /// The metrics token, when set and not blank.
    pub fn metrics_token(&self) -> Option<&str> {
        text(&self.metrics_token)
    }

    /// The time of day of the daily backup.
    pub fn backup_time(&self) -> Result<chrono::NaiveTime, ConfigError> {
        chrono::NaiveTime::parse_from_str(self.backup_time.trim(), "%H:%M").map_err(|_| {
            ConfigError(format!(
                "backup_time must be a time of day as HH:MM (e.g. 03:00), not {:?}",
                self.backup_time
            ))
        })
    }

    /// Whether the panel's listen address reaches beyond this machine (not a loopback address,
    /// or a name other than `localhost`).
    pub fn listens_beyond_loopback(&self) -> bool {
        let listen = self.listen.trim();
        if let Ok(addr) = listen.parse::<std::net::SocketAddr>() {
            return !addr.ip().is_loopback();
        }
        let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
        !host.eq_ignore_ascii_case("localhost")
    }

    /// The WeCom app's settings when the channel is configured (all five `wecom_*` set and
    /// valid); `None` when none is set; an error naming what is missing or wrong otherwise.
    pub fn wecom(&self) -> Result<Option<gridline_bot::wecom::WecomConfig>, ConfigError> {
        let given = [
            ("wecom_corp_id", text(&self.wecom_corp_id).is_some()),
            ("wecom_agent_id", self.wecom_agent_id.is_some()),
            ("wecom_secret", text(&self.wecom_secret).is_some()),
            ("wecom_token", text(&self.wecom_token).is_some()),
            ("wecom_aes_key", text(&self.wecom_aes_key).is_some()),
        ];
        if given.iter().all(|(_, set)| !set) {
            return Ok(None);
        }
        if let Some((missing, _)) = given.iter().find(|(_, set)| !set) {
            return Err(ConfigError(format!(
                "the WeCom channel needs all of wecom_corp_id, wecom_agent_id, wecom_secret, \
                 wecom_token and wecom_aes_key; {missing} is not set"
            )));
        }
        let config = gridline_bot::wecom::WecomConfig {
            corp_id: text(&self.wecom_corp_id).unwrap_or_default().to_owned(),
            agent_id: self.wecom_agent_id.unwrap_or_default(),
            secret: text(&self.wecom_secret).unwrap_or_default().to_owned(),
            token: text(&self.wecom_token).unwrap_or_default().to_owned(),
            aes_key: text(&self.wecom_aes_key).unwrap_or_default().to_owned(),
            api_url: self.wecom_api_url.trim().to_owned(),
        };
        config.check().map_err(|e| ConfigError(e.to_string()))?;
        Ok(Some(config))
    }
}
