//! Operational counters of this process and the database figures `/metrics` reports.
//!
//! The counters are plain atomics bumped where things happen (the delivery worker, the bot's
//! update handling, the panel's error responses, the scheduler, the daily backup); they count
//! since the process started, as Prometheus counters do. The gauges (reports by state, outbox
//! rows by status) are read from the database at each scrape, so every process reports the
//! same truth. The exporter (text format) lives in the panel (`admin/src/metrics.rs`); the core
//! does not depend on it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::ConnectionTrait;

use crate::CoreResult;
use crate::db;
use crate::domain::{OutboxStatus, ReportState};

/// One monotonically increasing count.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    pub const fn new() -> Count {
        Count(AtomicU64::new(0))
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Where a handler error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// A panel or API request answered with a 5xx.
    Panel,
    /// A Telegram update that could not be handled (it is retried).
    Bot,
}

impl Component {
    pub const ALL: &'static [Component] = &[Component::Panel, Component::Bot];
    pub fn code(self) -> &'static str {
        match self {
            Component::Panel => "panel",
            Component::Bot => "bot",
        }
    }
}

/// The process's counters (see the module docs).
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages the delivery worker or the bot delivered (Telegram answered with a message).
    pub messages_sent: Count,
    /// Sends refused for good (4xx other than 429/403, or too many 5xx).
    pub messages_failed: Count,
    /// Telegram's flood control (HTTP 429) answers.
    pub flood_429: Count,
    /// Messenger updates handled by the conversation core (Telegram and the simulator),
    /// repeats excluded.
    pub updates_handled: Count,
    pub panel_errors: Count,
    pub bot_errors: Count,
    /// Scheduler steps that ran to the end, and those that failed.
    pub scheduler_runs: Count,
    pub scheduler_failures: Count,
    /// Daily backups written, and those that failed.
    pub backups_written: Count,
    pub backups_failed: Count,
}

impl Counters {
    pub const fn new() -> Counters {
        Counters {
            messages_sent: Count::new(),
            messages_failed: Count::new(),
            flood_429: Count::new(),
            updates_handled: Count::new(),
            panel_errors: Count::new(),
            bot_errors: Count::new(),
            scheduler_runs: Count::new(),
            scheduler_failures: Count::new(),
            backups_written: Count::new(),
            backups_failed: Count::new(),
        }
    }

    pub fn handler_error(&self, c: Component) {
        self.errors_of(c).inc();
    }

    pub fn errors_of(&self, c: Component) -> &Count {
        match c {
            Component::Panel => &self.panel_errors,
            Component::Bot => &self.bot_errors,
        }
    }
}

/// This process's counters.
pub static COUNTERS: Counters = Counters::new();

/// What the database holds now, for the gauges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbFigures {
    /// Every state, zero included.
    pub reports_by_state: BTreeMap<&'static str, u64>,
    /// Every status, zero included.
    pub outbox_by_status: BTreeMap<&'static str, u64>,
}

/// Reports by state (from the per-state counters, a sum over a small table) and outbox rows
/// by status (one grouped count).
pub async fn db_figures(conn: &impl ConnectionTrait) -> CoreResult<DbFigures> {
    let mut out = DbFigures::default();
    for s in ReportState::ALL {
        out.reports_by_state.insert(s.code(), 0);
    }
    for s in OutboxStatus::ALL {
        out.outbox_by_status.insert(s.code(), 0);
    }
    let rows = db::query_all(
        conn,
        "SELECT state, CAST(SUM(n) AS BIGINT) AS n FROM report_counts GROUP BY state",
        [],
    )
    .await?;
    for row in rows {
        let state: String = row.try_get("", "state")?;
        let n: Option<i64> = row.try_get("", "n")?;
        if let Some(s) = ReportState::parse(&state) {
            *out.reports_by_state.entry(s.code()).or_default() +=
                u64::try_from(n.unwrap_or(0)).unwrap_or(0);
        }
    }
    let rows = db::query_all(
        conn,
        "SELECT status, COUNT(*) AS n FROM outbox GROUP BY status",
        [],
    )
    .await?;
    for row in rows {
        let status: String = row.try_get("", "status")?;
        let n: i64 = row.try_get("", "n")?;
        if let Some(s) = OutboxStatus::parse(&status) {
            *out.outbox_by_status.entry(s.code()).or_default() += u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(out)
}
