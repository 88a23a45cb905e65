//! Background chores of `gridline serve`: every minute, escalate overdue reports (the core's
//! `lifecycle::escalate_overdue`) when the county turned automatic escalation on
//! (`county_settings::Setting::AutoEscalation`, off by default), and delete ended panel
//! sessions. Safe to run in several processes at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gridline_shared::county_settings::{self, Setting};
use gridline_shared::{CoreResult, Db, lifecycle, panel_sessions};

pub const INTERVAL: Duration = Duration::from_secs(60);

/// What one step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub escalated: usize,
    pub sessions_purged: u64,
}

/// One step at `now` (tests call this directly).
pub async fn tick(db: &Db, now: DateTime<Utc>) -> CoreResult<Tick> {
    let settings = county_settings::load(db.conn()).await?;
    let escalated = if settings.is_on(Setting::AutoEscalation) {
        lifecycle::escalate_overdue(db, now).await?
    } else {
        0
    };
    let sessions_purged = panel_sessions::purge_ended(db, now).await?;
    Ok(Tick {
        escalated,
        sessions_purged,
    })
}

/// Runs [`tick`] every [`INTERVAL`] until the task is aborted.
pub fn spawn(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match tick(&db, Utc::now()).await {
                Ok(t) if t.escalated > 0 => {
                    tracing::info!(escalated = t.escalated, "escalated overdue reports");
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "scheduler step failed"),
            }
        }
    })
}
