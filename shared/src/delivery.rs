//! The delivery worker: drains the `outbox` table through a [`Transport`] (Telegram in
//! production, see `gridline-bot`), as fast as Telegram allows and no faster.
//!
//! - **Claims in batches with a lease.** One write transaction takes up to half a second's worth
//!   of due rows (person-to-person priority 0 before bulk 10, then oldest first; on PostgreSQL
//!   `FOR UPDATE SKIP LOCKED`, so several processes take disjoint rows), marks them `sending`
//!   with a lease, and reserves as many send slots from the bot-wide pace (the `delivery_pace`
//!   row). Rows whose lease ran out (their worker died mid-send) are taken again, counted in
//!   `outbox.retaken` and logged: those, and only those, may reach a member twice.
//! - **Paces.** Slots are evenly spaced at the configured rate (plus 2 % headroom) and disjoint
//!   across every worker that shares the database, so all of them together keep to the
//!   bot-wide rate. In-process, a sliding window over the last second's sends guards the rate
//!   against scheduling jitter, and a dashmap of per-chat next-allowed times keeps one message
//!   per chat per 1.1 s (`WorkerConfig::per_chat_interval`; the claim also skips chats with a
//!   message in flight or sent within that interval, which keeps a chat's messages in order
//!   across workers).
//! - **Many requests in flight.** Each claimed row is a task that waits for its slot, sends, and
//!   hands the outcome to a recorder task that writes results in batches, so network latency
//!   does not lower the rate.
//! - **Flood control.** A 429 pauses every sender for `retry_after`, in this process at once and
//!   in the others through the pace row (which they read at their next claim); tasks whose slots
//!   fell into the pause give their rows back and get fresh slots after it.
//! - **Failures.** 5xx and connection errors are retried with growing pauses up to
//!   [`MAX_ATTEMPTS`]; 403 marks the member blocked and drops their other queued messages;
//!   other 4xx fail the message with Telegram's reason; a request whose answer never came
//!   (timeout after sending) is marked `uncertain` — Telegram may have delivered it — and is not
//!   resent unless staff decide so (`notices::resend_uncertain`).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, Set, Statement,
};
use serde::Deserialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::db::{self, Db};
use crate::domain::{MemberStatus, OutboxStatus};
use crate::entity::{member, notice, outbox};
use crate::error::{CoreError, CoreResult};
use crate::outbox::OutgoingMessage;

/// What the messenger said about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Delivered; the messenger's id for the message.
    Sent { message_id: i64 },
    /// Flood control (Telegram 429): nobody may send for this long.
    RetryAfter(Duration),
    /// The user blocked the bot (Telegram 403): stop sending to them.
    Blocked,
    /// Not delivered, worth retrying later (5xx, connection refused, reset before sending).
    Transient(String),
    /// Will never work (other 4xx): fail the message with the reason.
    Permanent(String),
    /// The request went out but no answer came (timeout): it may have been delivered. Not
    /// resent automatically.
    Uncertain(String),
}

/// A file sent with a message (a notice's attachment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub file_name: String,
    pub mime: String,
    pub data: Vec<u8>,
}

/// One message as the transport sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub message: OutgoingMessage,
    /// The text is Telegram HTML (already escaped); otherwise plain text.
    pub html: bool,
    /// Sent as a document with the text as its caption.
    pub document: Option<Arc<Document>>,
}

/// Something that can deliver an [`Outgoing`] message to a chat.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, chat_id: i64, message: &Outgoing) -> impl Future<Output = SendOutcome> + Send;
}

/// Transient failures are retried this many times in all, with growing pauses.
pub const MAX_ATTEMPTS: i32 = 8;

/// Headroom on the configured rate: slots are 2 % further apart than the rate allows.
const RATE_HEADROOM: f64 = 1.02;
/// Each claim takes about this much sending time's worth of rows.
const CLAIM_SPAN: Duration = Duration::from_millis(500);
/// The next claim starts this long before the previous batch's last slot.
const LOOKAHEAD: Duration = Duration::from_millis(700);
/// How long the worker sleeps when nothing is due.
const IDLE: Duration = Duration::from_millis(200);
/// A row is not sent when less than this remains of its lease (it is given back instead):
/// teloxide's HTTP client gives up after 17 s, so a request never outlives its lease.
const LEASE_MARGIN: Duration = Duration::from_secs(18);

/// Settings of a worker.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Messages per second, bot-wide (every worker sharing the database should use the same).
    pub rate: f64,
    /// Least time between two messages to one chat.
    pub per_chat_interval: Duration,
    /// How long claimed rows stay reserved for this worker after the last slot of their batch
    /// (a crashed worker's rows are taken again that long after it stopped).
    pub lease: Duration,
    /// Requests in flight at most.
    pub max_in_flight: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig::with_rate(30.0)
    }
}

impl WorkerConfig {
    pub fn with_rate(rate: f64) -> WorkerConfig {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            30.0
        };
        WorkerConfig {
            rate,
            per_chat_interval: Duration::from_millis(1100),
            lease: Duration::from_secs(21),
            // Enough for 2 s of latency at full rate.
            max_in_flight: ((rate * 2.0).ceil() as usize).clamp(16, 4000),
        }
    }
    fn interval_us(&self) -> i64 {
        ((1_000_000.0 / self.rate) * RATE_HEADROOM).ceil().max(1.0) as i64
    }
    fn batch_size(&self) -> usize {
        ((self.rate * CLAIM_SPAN.as_secs_f64()).ceil() as usize).clamp(1, 500)
    }
}

/// What one step of the worker did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing was due.
    Idle,
    Sent {
        outbox_id: i64,
    },
    Blocked {
        outbox_id: i64,
    },
    Failed {
        outbox_id: i64,
    },
    /// Will be tried again after a pause.
    Retry {
        outbox_id: i64,
    },
    /// Telegram asked everyone to wait.
    Paused {
        outbox_id: i64,
        wait: Duration,
    },
    /// No answer came: maybe delivered; not resent automatically.
    Uncertain {
        outbox_id: i64,
    },
    /// Given back without sending (its chat or the lease did not allow it now).
    Released {
        outbox_id: i64,
    },
}

/// Counters since the worker started (for logs and the benchmark).
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub blocked: AtomicU64,
    pub retried: AtomicU64,
    pub uncertain: AtomicU64,
    pub flood_pauses: AtomicU64,
    /// Rows taken again after another holder's lease ran out.
    pub retaken: AtomicU64,
}

struct Inner<T> {
    db: Db,
    transport: T,
    /// Written on the rows this worker holds (e.g. host and process id).
    name: String,
    cfg: WorkerConfig,
    /// Per-chat next allowed send time (µs since the epoch).
    chats: DashMap<i64, i64>,
    /// End of the current flood-control pause (µs since the epoch).
    paused_until: AtomicI64,
    /// Bumped on every pause: slots handed out before it are void.
    epoch: AtomicU64,
    /// Departure times of the last `rate` sends (µs), the in-process rate guard.
    window: tokio::sync::Mutex<VecDeque<i64>>,
    /// Notice attachments, loaded once per notice.
    documents: DashMap<i64, Option<Arc<Document>>>,
    stats: WorkerStats,
}

pub struct Worker<T> {
    inner: Arc<Inner<T>>,
}

/// A claimed row and the time it may be sent.
struct Claimed {
    row: outbox::Model,
    slot_us: i64,
    epoch: u64,
}

/// The result of one send, as the recorder writes it.
#[derive(Debug)]
enum Done {
    Sent {
        message_id: i64,
        at: DateTime<Utc>,
    },
    Blocked,
    Failed(String),
    Retry {
        wait: Duration,
        reason: String,
    },
    Uncertain(String),
    /// Back to pending without spending an attempt.
    Release {
        not_before: DateTime<Utc>,
        reason: Option<String>,
    },
}

#[derive(Deserialize, Default)]
struct Extras {
    #[serde(default)]
    html: bool,
    #[serde(default)]
    attachment_notice: Option<i64>,
}

pub fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

fn us_to_time(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_else(Utc::now)
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::seconds(60))
}

impl<T: Transport> Worker<T> {
    /// A worker at the default 30 messages per second.
    pub fn new(db: Db, transport: T, name: impl Into<String>) -> Worker<T> {
        Worker::with_config(db, transport, name, WorkerConfig::default())
    }

    pub fn with_config(
        db: Db,
        transport: T,
        name: impl Into<String>,
        cfg: WorkerConfig,
    ) -> Worker<T> {
        Worker {
            inner: Arc::new(Inner {
                db,
                transport,
                name: name.into(),
                cfg,
                chats: DashMap::new(),
                paused_until: AtomicI64::new(0),
                epoch: AtomicU64::new(0),
                window: tokio::sync::Mutex::new(VecDeque::new()),
                documents: DashMap::new(),
                stats: WorkerStats::default(),
            }),
        }
    }

    pub fn stats(&self) -> &WorkerStats {
        &self.inner.stats
    }

    /// Claims the next due message (person-to-person first), waits for its send slot, sends
    /// it, and records the result. For tests, step by step; [`Worker::run`] keeps many in
    /// flight.
    pub async fn try_execute_task(&self) -> CoreResult<Step> {
        let mut claimed = self.inner.claim(1, false).await?;
        let Some(c) = claimed.pop() else {
            return Ok(Step::Idle);
        };
        let id = c.row.id;
        let (row, done) = self.inner.clone().deliver(c, None).await;
        let step = step_of(id, &done);
        self.inner.record(&[(row, done)]).await?;
        Ok(step)
    }

    /// Runs until `shutdown` resolves: claims what is due, keeps up to `max_in_flight`
    /// requests going at the configured pace, honours flood-control pauses, and sends the
    /// notices' scheduled reminders. On shutdown it gives back rows it has not sent yet.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let inner = self.inner;
        tokio::pin!(shutdown);
        let (tx, rx) = mpsc::unbounded_channel::<(outbox::Model, Done)>();
        let recorder = tokio::spawn(record_loop(inner.clone(), rx));
        let permits = Arc::new(Semaphore::new(inner.cfg.max_in_flight));
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        let mut next_tick = tokio::time::Instant::now();
        tracing::info!(worker = %inner.name, rate = inner.cfg.rate, "delivery worker started");
        loop {
            while tasks.try_join_next().is_some() {}
            if tokio::time::Instant::now() >= next_tick {
                next_tick = tokio::time::Instant::now() + Duration::from_secs(2);
                let now = now_us();
                inner.chats.retain(|_, t| *t > now);
                // Attachments are reloaded when needed; keep memory bounded.
                if inner.documents.len() > 8 {
                    inner.documents.clear();
                }
                if let Err(e) = crate::notices::run_due(&inner.db, Utc::now()).await {
                    tracing::error!(error = %e, "notice reminders");
                }
            }
            let want = inner.cfg.batch_size().min(permits.available_permits());
            let pause = if want == 0 {
                Duration::from_millis(20)
            } else {
                match inner.claim(want, true).await {
                    Ok(claimed) if claimed.is_empty() => IDLE,
                    Ok(claimed) => {
                        let last_slot = claimed.last().map(|c| c.slot_us).unwrap_or_else(now_us);
                        for c in claimed {
                            let Ok(permit) = permits.clone().try_acquire_owned() else {
                                break;
                            };
                            let inner = inner.clone();
                            let tx = tx.clone();
                            let stop = (stop.clone(), stopping.clone());
                            tasks.spawn(async move {
                                let result = inner.deliver(c, Some(stop)).await;
                                if let Err(lost) = tx.send(result) {
                                    // Only if the recorder died: the row stays `sending` and is
                                    // taken again when its lease ends.
                                    tracing::error!(
                                        outbox_id = lost.0.0.id,
                                        "delivery worker: the recorder is gone; a result was not recorded"
                                    );
                                }
                                drop(permit);
                            });
                        }
                        let ahead = last_slot - now_us() - LOOKAHEAD.as_micros() as i64;
                        Duration::from_micros(ahead.max(0) as u64)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "delivery worker: claim");
                        Duration::from_secs(1)
                    }
                }
            };
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        // Shutdown: tasks still waiting for their slot give their rows back; requests in
        // flight finish (or time out); then the recorder writes the last results.
        stopping.store(true, Ordering::SeqCst);
        stop.notify_waiters();
        let finished = tokio::time::timeout(Duration::from_secs(25), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                in_flight = tasks.len(),
                "delivery worker: requests still unanswered after 25 s are left to their leases"
            );
        }
        drop(tx);
        if let Err(e) = recorder.await {
            tracing::error!(error = %e, "delivery worker: the recorder task failed");
        }
        tracing::info!(worker = %inner.name, "delivery worker stopped");
    }
}

fn step_of(id: i64, done: &Done) -> Step {
    match done {
        Done::Sent { .. } => Step::Sent { outbox_id: id },
        Done::Blocked => Step::Blocked { outbox_id: id },
        Done::Failed(_) => Step::Failed { outbox_id: id },
        Done::Retry { .. } => Step::Retry { outbox_id: id },
        Done::Uncertain(_) => Step::Uncertain { outbox_id: id },
        Done::Release { not_before, reason } => {
            if reason.as_deref() == Some(FLOOD) {
                let wait = (*not_before - Utc::now()).to_std().unwrap_or_default();
                Step::Paused {
                    outbox_id: id,
                    wait: Duration::from_secs(wait.as_secs_f64().round() as u64),
                }
            } else {
                Step::Released { outbox_id: id }
            }
        }
    }
}

const FLOOD: &str = "flood control";

async fn record_loop<T: Transport>(
    inner: Arc<Inner<T>>,
    mut rx: mpsc::UnboundedReceiver<(outbox::Model, Done)>,
) {
    let mut buf = Vec::with_capacity(256);
    loop {
        buf.clear();
        if rx.recv_many(&mut buf, 256).await == 0 {
            return;
        }
        // Let a few more arrive so one transaction carries many results.
        tokio::time::sleep(Duration::from_millis(30)).await;
        while buf.len() < 1000 {
            match rx.try_recv() {
                Ok(item) => buf.push(item),
                Err(_) => break,
            }
        }
        let mut attempt = 0;
        while let Err(e) = inner.record(&buf).await {
            attempt += 1;
            tracing::error!(error = %e, attempt, "delivery worker: recording results");
            if attempt >= 5 {
                // The rows stay `sending` and are retaken when their lease runs out.
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl<T: Transport> Inner<T> {
    /// Takes up to `n` due rows and reserves a send slot for each.
    /// `pace_chats`: skip chats with a message in flight or sent within the per-chat interval
    /// (the running worker; step-by-step sending waits for the chat instead).
    async fn claim(&self, n: usize, pace_chats: bool) -> CoreResult<Vec<Claimed>> {
        use sea_orm::sea_query::ExprTrait;
        let now = Utc::now();
        let backend = self.db.backend();
        let txn = self.db.write().await?;
        let lock = if backend == DbBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let recent = if pace_chats {
            now - chrono_dur(self.cfg.per_chat_interval)
        } else {
            // Matches nothing in practice: only rows in flight exclude their chat.
            now + chrono::Duration::days(36500)
        };
        let query = format!(
            "SELECT o.id AS id, o.status AS status FROM outbox o \
                 WHERE ((o.status = 'pending' AND o.not_before <= $1) OR (o.status = 'sending' AND o.lease_until < $2)) \
                 AND o.chat_id < {sim} \
                 AND NOT EXISTS (SELECT 1 FROM outbox q WHERE q.chat_id = o.chat_id AND q.id <> o.id \
                   AND ((q.status = 'sending' AND q.lease_until >= $3) OR (q.status = 'sent' AND q.sent_at > $4))) \
                 ORDER BY o.priority, o.id LIMIT $5{lock}",
            // Simulated chats are the chat simulator's to show (see `simulator`).
            sim = crate::simulator::SIMULATED_CHAT_BASE,
        );
        let rows = db::query_all(
            &*txn,
            &query,
            [
                now.into(),
                now.into(),
                now.into(),
                recent.into(),
                (n as i64).into(),
            ],
        )
        .await?;
        if rows.is_empty() {
            // Still learn about other workers' flood-control pauses.
            let (_, paused) = read_pace(&*txn, backend, false).await?;
            txn.commit().await?;
            self.note_pause(paused);
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut retaken = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get("", "id")?;
            let status: String = r.try_get("", "status")?;
            if status == OutboxStatus::Sending.code() {
                retaken.push(id);
            }
            ids.push(id);
        }
        // Reserve one slot per row from the bot-wide pace.
        let (next_slot, paused) = read_pace(&*txn, backend, true).await?;
        let interval = self.cfg.interval_us();
        let start = std::cmp::max(std::cmp::max(next_slot, now_us()), paused);
        let k = ids.len() as i64;
        db::execute(
            &*txn,
            "UPDATE delivery_pace SET next_slot_us = $1 WHERE id = 1",
            [(start + k * interval).into()],
        )
        .await?;
        let last_slot = start + std::cmp::max(k - 1, 0) * interval;
        let lease_until = us_to_time(last_slot) + chrono_dur(self.cfg.lease);
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Sending))
            .col_expr(outbox::Column::LeaseOwner, Expr::value(self.name.clone()))
            .col_expr(outbox::Column::LeaseUntil, Expr::value(lease_until))
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .filter(outbox::Column::Id.is_in(ids.clone()))
            .exec(&*txn)
            .await?;
        if !retaken.is_empty() {
            outbox::Entity::update_many()
                .col_expr(
                    outbox::Column::Retaken,
                    Expr::col(outbox::Column::Retaken).add(1),
                )
                .filter(outbox::Column::Id.is_in(retaken.clone()))
                .exec(&*txn)
                .await?;
            self.stats
                .retaken
                .fetch_add(retaken.len() as u64, Ordering::Relaxed);
            // Ids only: no personal data in logs.
            tracing::warn!(
                count = retaken.len(),
                ids = ?retaken,
                "retaking messages whose holder's lease ran out (it stopped mid-send): each may reach its chat twice"
            );
        }
        let mut claimed = outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(ids))
            .all(&*txn)
            .await?;
        claimed.sort_by_key(|r| (r.priority, r.id));
        txn.commit().await?;
        self.note_pause(paused);
        let epoch = self.epoch.load(Ordering::SeqCst);
        Ok(claimed
            .into_iter()
            .enumerate()
            .map(|(i, row)| Claimed {
                row,
                slot_us: start + i as i64 * interval,
                epoch,
            })
            .collect())
    }

    /// Adopts a pause another worker recorded.
    fn note_pause(&self, until_us: i64) {
        if until_us > self.paused_until.load(Ordering::SeqCst) && until_us > now_us() {
            self.paused_until.fetch_max(until_us, Ordering::SeqCst);
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Starts a flood-control pause for everyone.
    async fn pause_all(&self, wait: Duration) {
        let until = now_us() + wait.as_micros() as i64;
        self.paused_until.fetch_max(until, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.stats.flood_pauses.fetch_add(1, Ordering::Relaxed);
        crate::metrics::COUNTERS.flood_429.inc();
        tracing::warn!(
            seconds = wait.as_secs_f64(),
            "flood control: every sender pauses"
        );
        let result = async {
            let txn = self.db.write().await?;
            db::execute(
                &*txn,
                "UPDATE delivery_pace SET \
                 paused_until_us = CASE WHEN paused_until_us < $1 THEN $2 ELSE paused_until_us END, \
                 next_slot_us = CASE WHEN next_slot_us < $3 THEN $4 ELSE next_slot_us END WHERE id = 1",
                [until.into(), until.into(), until.into(), until.into()],
            )
            .await?;
            txn.commit().await?;
            Ok::<(), sea_orm::DbErr>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "flood control: could not tell the other workers");
        }
    }

    /// Waits for the row's slot, then sends it (or gives it back), and says what happened.
    async fn deliver(
        self: Arc<Self>,
        c: Claimed,
        stop: Option<(Arc<tokio::sync::Notify>, Arc<std::sync::atomic::AtomicBool>)>,
    ) -> (outbox::Model, Done) {
        let row = c.row;
        // 1. The slot (a pause voids it: the row goes back and gets a fresh one after).
        loop {
            let target = c.slot_us.max(self.paused_until.load(Ordering::SeqCst));
            let wait = target - now_us();
            if wait <= 0 {
                break;
            }
            let sleep = tokio::time::sleep(Duration::from_micros(wait as u64));
            match &stop {
                Some((notify, flag)) => {
                    if flag.load(Ordering::SeqCst) {
                        return (row, release(Utc::now(), Some("worker stopped")));
                    }
                    tokio::select! {
                        _ = sleep => {}
                        _ = notify.notified() => {}
                    }
                    if flag.load(Ordering::SeqCst) {
                        return (row, release(Utc::now(), Some("worker stopped")));
                    }
                }
                None => sleep.await,
            }
        }
        if stop.is_some() && self.epoch.load(Ordering::SeqCst) != c.epoch {
            let until = us_to_time(self.paused_until.load(Ordering::SeqCst));
            return (row, release(until.max(Utc::now()), Some(FLOOD)));
        }
        // 2. The lease must outlast the request.
        if row
            .lease_until
            .is_none_or(|l| l - Utc::now() < chrono_dur(LEASE_MARGIN))
        {
            return (row, release(Utc::now(), Some("lease nearly over")));
        }
        // 3. The in-process rate guard: at most `rate` departures in any second.
        if let Some(done) = self.wait_window(&stop).await {
            return (row, done);
        }
        // 4. One message per chat per interval.
        let now = now_us();
        let gap = self.cfg.per_chat_interval.as_micros() as i64;
        let mut next_ok = 0;
        let allowed = {
            let mut entry = self.chats.entry(row.chat_id).or_insert(0);
            if *entry <= now {
                *entry = now + gap;
                true
            } else {
                next_ok = *entry;
                false
            }
        };
        if !allowed {
            if stop.is_some() {
                return (row, release(us_to_time(next_ok), None));
            }
            // Step by step: wait for the chat.
            tokio::time::sleep(Duration::from_micros((next_ok - now).max(0) as u64)).await;
            self.chats.insert(row.chat_id, now_us() + gap);
        }
        // 5. Send.
        let Some(message) = self.outgoing(&row).await else {
            return (row, Done::Failed("unreadable payload".into()));
        };
        let outcome = self.transport.send(row.chat_id, &message).await;
        let done = match outcome {
            SendOutcome::Sent { message_id } => Done::Sent {
                message_id,
                at: Utc::now(),
            },
            SendOutcome::Blocked => Done::Blocked,
            SendOutcome::Permanent(reason) => Done::Failed(reason),
            SendOutcome::Transient(reason) if row.attempts >= MAX_ATTEMPTS => {
                Done::Failed(format!("gave up after {} attempts: {reason}", row.attempts))
            }
            SendOutcome::Transient(reason) => Done::Retry {
                wait: backoff(row.attempts),
                reason,
            },
            SendOutcome::Uncertain(reason) => Done::Uncertain(reason),
            SendOutcome::RetryAfter(wait) => {
                self.pause_all(wait).await;
                // Not the message's fault: it does not count as an attempt.
                release(Utc::now() + chrono_dur(wait), Some(FLOOD))
            }
        };
        (row, done)
    }

    async fn wait_window(
        &self,
        stop: &Option<(Arc<tokio::sync::Notify>, Arc<std::sync::atomic::AtomicBool>)>,
    ) -> Option<Done> {
        let cap = (self.cfg.rate.floor() as usize).max(1);
        let span = 1_015_000i64;
        loop {
            let wait = {
                let mut w = self.window.lock().await;
                let now = now_us();
                while w.front().is_some_and(|t| now - *t >= span) {
                    w.pop_front();
                }
                if w.len() < cap {
                    w.push_back(now);
                    return None;
                }
                w.front().map_or(0, |t| span - (now - *t))
            };
            tokio::time::sleep(Duration::from_micros(wait.max(1) as u64)).await;
            if stop
                .as_ref()
                .is_some_and(|(_, flag)| flag.load(Ordering::SeqCst))
            {
                return Some(release(Utc::now(), Some("worker stopped")));
            }
            if self.paused_until.load(Ordering::SeqCst) > now_us() {
                let until = us_to_time(self.paused_until.load(Ordering::SeqCst));
                return Some(release(until, Some(FLOOD)));
            }
        }
    }

    /// The message of a row, with its attachment if it has one.
    async fn outgoing(&self, row: &outbox::Model) -> Option<Outgoing> {
        let message: OutgoingMessage = row.message()?;
        let extras: Extras = serde_json::from_str(&row.payload).unwrap_or_default();
        let document = match extras.attachment_notice {
            Some(id) => self.document(id).await,
            None => None,
        };
        Some(Outgoing {
            message,
            html: extras.html,
            document,
        })
    }

    async fn document(&self, notice_id: i64) -> Option<Arc<Document>> {
        if let Some(d) = self.documents.get(&notice_id) {
            return d.clone();
        }
        let loaded = match notice::Entity::find_by_id(notice_id)
            .one(self.db.conn())
            .await
        {
            Ok(Some(n)) => match (n.attachment_name, n.attachment_mime, n.attachment_data) {
                (Some(file_name), Some(mime), Some(data)) => Some(Arc::new(Document {
                    file_name,
                    mime,
                    data,
                })),
                _ => None,
            },
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, notice_id, "loading a notice attachment");
                return None;
            }
        };
        self.documents.insert(notice_id, loaded.clone());
        loaded
    }

    /// Writes results in one transaction. A result only applies while this worker still
    /// holds the row (a row retaken by another worker is theirs).
    async fn record(&self, results: &[(outbox::Model, Done)]) -> CoreResult<()> {
        record_rows(&self.db, &self.name, Some(&self.stats), results).await
    }
}

/// Writes results in one transaction, each only while `name` still holds the row (`sending`,
/// leased to it).
async fn record_rows(
    db: &Db,
    name: &str,
    stats: Option<&WorkerStats>,
    results: &[(outbox::Model, Done)],
) -> CoreResult<()> {
    use sea_orm::sea_query::ExprTrait;
    if results.is_empty() {
        return Ok(());
    }
    let txn = db.write().await?;
    let mine = || {
        sea_orm::Condition::all()
            .add(outbox::Column::Status.eq(OutboxStatus::Sending))
            .add(outbox::Column::LeaseOwner.eq(name.to_owned()))
    };
    let clear = |u: sea_orm::UpdateMany<outbox::Entity>, keep_owner: bool| {
        let u = u.col_expr(
            outbox::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        );
        if keep_owner {
            // Who sent it stays on the row.
            u
        } else {
            u.col_expr(
                outbox::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
        }
    };
    for (row, done) in results {
        let base = clear(
            outbox::Entity::update_many(),
            matches!(done, Done::Sent { .. }),
        );
        let update = match done {
            Done::Sent { message_id, at } => {
                crate::metrics::COUNTERS.messages_sent.inc();
                if let Some(s) = stats {
                    s.sent.fetch_add(1, Ordering::Relaxed);
                }
                base.col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Sent))
                    .col_expr(outbox::Column::TelegramMessageId, Expr::value(*message_id))
                    .col_expr(outbox::Column::SentAt, Expr::value(*at))
                    .col_expr(
                        outbox::Column::LastError,
                        Expr::value(Option::<String>::None),
                    )
            }
            Done::Blocked => {
                if let Some(s) = stats {
                    s.blocked.fetch_add(1, Ordering::Relaxed);
                }
                base.col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Blocked))
                    .col_expr(
                        outbox::Column::LastError,
                        Expr::value("blocked by the user"),
                    )
            }
            Done::Failed(reason) => {
                crate::metrics::COUNTERS.messages_failed.inc();
                if let Some(s) = stats {
                    s.failed.fetch_add(1, Ordering::Relaxed);
                }
                base.col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Failed))
                    .col_expr(outbox::Column::LastError, Expr::value(truncate(reason)))
            }
            Done::Uncertain(reason) => {
                if let Some(s) = stats {
                    s.uncertain.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(
                    outbox_id = row.id,
                    "no answer from Telegram: the message may have been delivered; marked uncertain, not resent"
                );
                base.col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Uncertain))
                    .col_expr(outbox::Column::LastError, Expr::value(truncate(reason)))
            }
            Done::Retry { wait, reason } => {
                if let Some(s) = stats {
                    s.retried.fetch_add(1, Ordering::Relaxed);
                }
                base.col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Pending))
                    .col_expr(
                        outbox::Column::NotBefore,
                        Expr::value(Utc::now() + chrono_dur(*wait)),
                    )
                    .col_expr(outbox::Column::LastError, Expr::value(truncate(reason)))
            }
            Done::Release { not_before, reason } => base
                .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Pending))
                .col_expr(outbox::Column::NotBefore, Expr::value(*not_before))
                .col_expr(
                    outbox::Column::Attempts,
                    Expr::col(outbox::Column::Attempts).sub(1),
                )
                .col_expr(
                    outbox::Column::LastError,
                    Expr::value(reason.clone().or_else(|| row.last_error.clone())),
                ),
        };
        update
            .filter(outbox::Column::Id.eq(row.id))
            .filter(mine())
            .exec(&*txn)
            .await?;
        if let Done::Blocked = done
            && let Some(member_id) = row.member_id
        {
            mark_member_blocked(&*txn, member_id).await?;
            // Nothing else queued for them can arrive either.
            outbox::Entity::update_many()
                .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Blocked))
                .col_expr(
                    outbox::Column::LastError,
                    Expr::value("blocked by the user"),
                )
                .filter(outbox::Column::MemberId.eq(member_id))
                .filter(outbox::Column::Status.is_in([OutboxStatus::Pending, OutboxStatus::Held]))
                .exec(&*txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(())
}

/// Records what happened to a row held outside the worker — a receipt the bot sent itself
/// right after the update's commit (`conversation::runner::handle_durable`) — with the
/// worker's rules: sent; 5xx or a connection that never reached Telegram: back to `pending`
/// after a pause, for the worker to retry; no answer after sending: `uncertain` (not resent);
/// 403: blocked; other 4xx: failed; 429: back to `pending` after the wait, without spending an
/// attempt. Nothing happens when `owner` no longer holds the row (its lease ran out and a worker
/// took it).
pub async fn record_held(
    db: &Db,
    owner: &str,
    outbox_id: i64,
    outcome: SendOutcome,
) -> CoreResult<()> {
    let Some(row) = outbox::Entity::find_by_id(outbox_id).one(db.conn()).await? else {
        return Ok(());
    };
    let done = match outcome {
        SendOutcome::Sent { message_id } => Done::Sent {
            message_id,
            at: Utc::now(),
        },
        SendOutcome::Blocked => Done::Blocked,
        SendOutcome::Permanent(reason) => Done::Failed(reason),
        SendOutcome::Transient(reason) => Done::Retry {
            wait: backoff(row.attempts),
            reason,
        },
        SendOutcome::Uncertain(reason) => Done::Uncertain(reason),
        SendOutcome::RetryAfter(wait) => {
            crate::metrics::COUNTERS.flood_429.inc();
            release(Utc::now() + chrono_dur(wait), Some(FLOOD))
        }
    };
    record_rows(db, owner, None, &[(row, done)]).await
}

/// Gives a held row back to the worker at once (the holder will not send it).
pub async fn release_held(db: &Db, owner: &str, outbox_id: i64) -> CoreResult<()> {
    let Some(row) = outbox::Entity::find_by_id(outbox_id).one(db.conn()).await? else {
        return Ok(());
    };
    record_rows(
        db,
        owner,
        None,
        &[(row, release(Utc::now(), Some("not sent by its holder")))],
    )
    .await
}

fn release(not_before: DateTime<Utc>, reason: Option<&str>) -> Done {
    Done::Release {
        not_before,
        reason: reason.map(str::to_owned),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}

/// Reads the pace row (`FOR UPDATE` on PostgreSQL when `lock`).
async fn read_pace(
    txn: &impl ConnectionTrait,
    backend: DbBackend,
    lock: bool,
) -> CoreResult<(i64, i64)> {
    let sql = if lock && backend == DbBackend::Postgres {
        "SELECT next_slot_us, paused_until_us FROM delivery_pace WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT next_slot_us, paused_until_us FROM delivery_pace WHERE id = 1"
    };
    let row = txn
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| CoreError::Internal("delivery_pace row missing".into()))?;
    Ok((
        row.try_get("", "next_slot_us")?,
        row.try_get("", "paused_until_us")?,
    ))
}

/// 2 s, 4 s, 8 s … capped at 10 minutes.
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 12) as u32;
    Duration::from_secs(std::cmp::min(1u64 << exp, 600))
}

async fn mark_member_blocked(conn: &impl ConnectionTrait, member_id: i64) -> CoreResult<()> {
    if let Some(m) = member::Entity::find_by_id(member_id).one(conn).await?
        && m.status == MemberStatus::Active
    {
        let mut active: member::ActiveModel = m.into();
        active.status = Set(MemberStatus::Blocked);
        active.updated_at = Set(Utc::now());
        active.update(conn).await?;
    }
    Ok(())
}

/// How many rows were taken again after a lease ran out (each may have been sent twice).
pub async fn retaken_total(db: &Db) -> CoreResult<i64> {
    let rows: Vec<i32> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Retaken)
        .filter(outbox::Column::Retaken.gt(0))
        .into_tuple()
        .all(db.conn())
        .await?;
    Ok(rows.into_iter().map(i64::from).sum())
}
