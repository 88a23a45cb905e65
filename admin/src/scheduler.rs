//! Background chores of `gridline serve`: every minute, escalate overdue reports (the core's
//! `lifecycle::escalate_overdue`) when the county turned automatic escalation on
//! (`county_settings::Setting::AutoEscalation`, off by default), and delete ended panel
//! sessions. Safe to run in several processes at once.
//!
//! With `backup_dir` set (SQLite), also the daily backup ([`spawn_daily_backup`]): at
//! `backup_time` county time, a consistent copy into that folder, keeping the newest
//! `backup_keep` copies.

use std::time::Duration;

use chrono::{DateTime, Utc};
use gridline_shared::calendar::WorkCalendar;
use gridline_shared::county_settings::{self, Setting};
use gridline_shared::metrics::COUNTERS;
use gridline_shared::{CoreResult, Db, backup, lifecycle, panel_sessions};

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
                Ok(t) => {
                    COUNTERS.scheduler_runs.inc();
                    if t.escalated > 0 {
                        tracing::info!(escalated = t.escalated, "escalated overdue reports");
                    }
                }
                Err(e) => {
                    COUNTERS.scheduler_failures.inc();
                    tracing::error!(error = %e, "scheduler step failed");
                }
            }
        }
    })
}

/// The first moment after `now` whose county time (UTC+8) is `at`.
pub fn next_backup_at(now: DateTime<Utc>, at: chrono::NaiveTime) -> DateTime<Utc> {
    let offset = WorkCalendar::CHINA_OFFSET;
    let local = now.with_timezone(&offset);
    let mut day = local.date_naive();
    loop {
        // A fixed offset has no gaps: every local time exists once.
        if let Some(t) = day.and_time(at).and_local_timezone(offset).single()
            && t.with_timezone(&Utc) > now
        {
            return t.with_timezone(&Utc);
        }
        day = day.succ_opt().unwrap_or(day);
    }
}

/// The daily backup (SQLite): sleeps until the next `at` (county time), writes a copy into
/// `dir` and deletes the oldest beyond `keep`; again every day until the task is aborted.
/// A failure is logged and counted (`gridline_backups_failed_total`) and tried again the next day.
pub fn spawn_daily_backup(
    db: Db,
    dir: std::path::PathBuf,
    keep: usize,
    at: chrono::NaiveTime,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = Utc::now();
            let next = next_backup_at(now, at);
            let wait = (next - now).to_std().unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
            match backup::daily(&db, &dir, keep, Utc::now()).await {
                Ok((written, removed)) => {
                    COUNTERS.backups_written.inc();
                    tracing::info!(
                        path = %written.path.display(),
                        bytes = written.bytes,
                        removed = removed.len(),
                        "daily backup written"
                    );
                }
                Err(e) => {
                    COUNTERS.backups_failed.inc();
                    tracing::error!(error = %e, dir = %dir.display(), "daily backup failed");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_next_backup_is_at_the_county_time_of_day() {
        let three = chrono::NaiveTime::from_hms_opt(3, 0, 0).expect("03:00");
        // 10:00 county time (02:00 UTC): tomorrow 03:00 county time = 19:00 UTC today.
        assert_eq!(
            next_backup_at(utc("2026-12-08T02:00:00Z"), three),
            utc("2026-12-08T19:00:00Z")
        );
        // 02:59 county time (18:59 UTC the day before): a minute later.
        assert_eq!(
            next_backup_at(utc("2026-12-07T18:59:00Z"), three),
            utc("2026-12-07T19:00:00Z")
        );
        // Exactly at the time: the next day (never twice in one minute).
        assert_eq!(
            next_backup_at(utc("2026-12-07T19:00:00Z"), three),
            utc("2026-12-08T19:00:00Z")
        );
    }
}
