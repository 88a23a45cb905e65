//! Shared setup of the benchmarks that run the real `gridline serve` (release) against the fake
//! Telegram server: the county with every member bound to a fake Telegram account, the
//! process with its settings, waiting for it to poll, stopping it, percentiles and a line
//! describing the machine (cores and load) to print with every figure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use gridline_shared::Db;
use gridline_shared::domain::StaffRole;
use gridline_shared::entity::member;
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::{areas, staff};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{EntityTrait, QueryFilter};

use crate::bench_data;
use crate::fake_telegram::{FakeTelegram, FakeUser, SentMessage, TOKEN};
use crate::gridline_bin;

/// Members in the county roster fixture.
pub const MEMBERS: usize = 7303;
/// Member `id` is bound to the Telegram user and private chat `id + CHAT_BASE`.
pub const CHAT_BASE: i64 = 1_000_000;
/// The county admin created by [`county_admin`].
pub const ADMIN: &str = "bench";
pub const ADMIN_PASSWORD: &str = "long enough password";

/// Imports the county roster fixture and binds every member (directly in the database, as if
/// each had opened their deep link): Telegram user and chat `member id + CHAT_BASE`.
pub async fn county_bound(db: &Db) {
    bench_data::setup_county(db).await;
    bind_all(db).await;
}

/// Binds every member of the roster to the Telegram user/chat `id + CHAT_BASE`.
pub async fn bind_all(db: &Db) {
    let res = member::Entity::update_many()
        .col_expr(
            member::Column::TelegramUserId,
            Expr::col(member::Column::Id).add(CHAT_BASE),
        )
        .col_expr(
            member::Column::TelegramChatId,
            Expr::col(member::Column::Id).add(CHAT_BASE),
        )
        .col_expr(member::Column::BoundAt, Expr::value(Utc::now()))
        .filter(Expr::col(member::Column::Id).gt(0))
        .exec(db.conn())
        .await
        .unwrap();
    assert_eq!(
        res.rows_affected as usize, MEMBERS,
        "roster not fully bound"
    );
}

/// The private chat of every member (`id + CHAT_BASE`), all [`MEMBERS`] of them.
pub async fn member_chats(db: &Db) -> Vec<i64> {
    let chats: Vec<i64> = member::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .iter()
        .map(|m| m.id + CHAT_BASE)
        .collect();
    assert_eq!(chats.len(), MEMBERS);
    chats
}

/// A county admin ([`ADMIN`] / [`ADMIN_PASSWORD`]) for notices and the panel.
pub async fn county_admin(db: &Db) -> StaffActor {
    let root = areas::find_root(db.conn()).await.unwrap().unwrap();
    let user = staff::create(
        db.conn(),
        ADMIN,
        ADMIN_PASSWORD,
        StaffRole::CountyAdmin,
        &root,
    )
    .await
    .unwrap();
    StaffActor::of(&user)
}

/// How `gridline serve` is started.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `GRIDLINE_SEND_RATE` (messages per second).
    pub send_rate: f64,
    /// Serve the panel on this address (`None`: `--no-panel`).
    pub panel: Option<SocketAddr>,
    /// Run the deadline scheduler.
    pub scheduler: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            send_rate: 30.0,
            panel: None,
            scheduler: false,
        }
    }
}

/// A running `gridline serve`. Dropping it kills it.
pub struct Serve {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Serve {
    /// Starts the release (or debug, in a debug build) binary with the bot pointed at `fake`.
    pub fn start(database_url: &str, fake: &FakeTelegram, opts: &ServeOptions) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let mut args = vec!["serve".to_owned()];
        if opts.panel.is_none() {
            args.push("--no-panel".into());
        }
        if !opts.scheduler {
            args.push("--no-scheduler".into());
        }
        let mut cmd = Command::new(gridline_bin());
        cmd.args(&args)
            .current_dir(dir.path())
            .env("GRIDLINE_DATABASE_URL", database_url)
            .env("TELOXIDE_TOKEN", TOKEN)
            .env("GRIDLINE_TELEGRAM_API_URL", fake.api_url())
            .env("GRIDLINE_SEND_RATE", opts.send_rate.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(addr) = opts.panel {
            cmd.env("GRIDLINE_LISTEN", addr.to_string());
        }
        let child = cmd.spawn().unwrap();
        Serve {
            child: Some(child),
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The process's standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    /// Panics (with the log) when the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            panic!("gridline serve exited ({status}):\n{}", self.log());
        }
    }

    /// SIGTERM, then waits for the process to end.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// Waits (up to 60 s) until the bot has called getUpdates, i.e. it is polling.
pub async fn wait_until_polling(fake: &FakeTelegram, serve: &mut Serve) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.calls("getUpdates") == 0 {
        serve.assert_running();
        assert!(
            Instant::now() < deadline,
            "the bot did not poll within 60 s:\n{}",
            serve.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `p`-th percentile (0–100, nearest rank) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// "2026-11-29 19:30 UTC, 2 cores, load average 0.52, 0.71, 0.80" — print it with every figure,
/// the machine is shared.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{}, {cores} cores, load average {load}",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}

/// CPU time (user + system) used so far by process `pid` (`None`: this process), in seconds.
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// Resident set size now and at its peak (VmRSS, VmHWM from /proc/<pid>/status), in KiB.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

// ---------------------------------------------------------------------------------------------
// Intake: members filing incidents through the bot
// ---------------------------------------------------------------------------------------------

/// An intake run fails when no reply arrives for this long.
const STALL: Duration = Duration::from_secs(60);

/// Updates in the shortest complete incident conversation.
pub const UPDATES_PER_INCIDENT: usize = 4;

/// How the members start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IntakePlan {
    /// All at once.
    Burst,
    /// Evenly spread so the offered load is this many updates per second.
    Paced(f64),
}

/// What one intake run measured.
pub struct IntakeRun {
    pub updates: usize,
    /// From the first push to the last reply.
    pub wall: Duration,
    /// Push → the bot's reply (sendMessage) arrived, sorted.
    pub latencies: Vec<Duration>,
    /// Push → first handed out by getUpdates, sorted.
    pub waits: Vec<Duration>,
}

/// One member's conversation.
struct Conversation {
    user: FakeUser,
    /// Replies received so far (0..=4).
    step: usize,
    /// The update waiting for its reply.
    pending: Option<i64>,
}

/// Every chat in `chats` (a bound member's private chat) files one incident with the shortest
/// complete conversation (see `benches/intake.rs`), each pushing its next update when the
/// bot's reply to the previous one arrived. Panics when a reply is not what the conversation
/// expects or when nothing arrives for a minute.
pub async fn file_incidents(
    fake: &FakeTelegram,
    serve: &mut Serve,
    chats: &[i64],
    plan: IntakePlan,
) -> IntakeRun {
    file_incidents_ignoring(fake, serve, chats, plan, |_| false).await
}

/// [`file_incidents`], passing over the bot's messages for which `ignore` is true (a notice
/// sent to the same members at the same time).
pub async fn file_incidents_ignoring(
    fake: &FakeTelegram,
    serve: &mut Serve,
    chats: &[i64],
    plan: IntakePlan,
    ignore: impl Fn(&SentMessage) -> bool,
) -> IntakeRun {
    let mut sent = fake.subscribe_sent();
    let mut convs: Vec<Conversation> = chats
        .iter()
        .map(|c| Conversation {
            user: FakeUser::new(*c, "网格长"),
            step: 0,
            pending: None,
        })
        .collect();
    let index: HashMap<i64, usize> = chats.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let interval = match plan {
        IntakePlan::Burst => Duration::ZERO,
        IntakePlan::Paced(rate) => Duration::from_secs_f64(UPDATES_PER_INCIDENT as f64 / rate),
    };
    let mut latencies = Vec::with_capacity(chats.len() * UPDATES_PER_INCIDENT);
    let mut waits = Vec::with_capacity(chats.len() * UPDATES_PER_INCIDENT);
    let started = Instant::now();
    let mut first_push: Option<Instant> = None;
    let mut last_reply = started;
    let mut next_start = 0;
    let mut done = 0;
    let mut last_progress = Instant::now();
    while done < convs.len() {
        // Members whose turn to start has come.
        while next_start < convs.len()
            && (interval.is_zero() || started + interval * next_start as u32 <= Instant::now())
        {
            let c = &mut convs[next_start];
            let update = fake.send_text(&c.user, "楼道里堆放了三个液化气罐，存在消防隐患");
            let id = update["update_id"].as_i64().unwrap();
            c.pending = Some(id);
            if first_push.is_none() {
                first_push = fake.update_times(id).map(|t| t.pushed);
            }
            next_start += 1;
        }
        let next_due = (next_start < convs.len()).then(|| started + interval * next_start as u32);
        let message: Option<SentMessage> = tokio::select! {
            m = sent.recv() => m,
            _ = sleep_until_opt(next_due) => continue,
            _ = tokio::time::sleep(Duration::from_secs(1)) => None,
        };
        let Some(m) = message else {
            serve.assert_running();
            assert!(
                last_progress.elapsed() < STALL,
                "{plan:?}: no reply for {} s; {done} of {} members finished, {next_start} started; server log:\n{}",
                STALL.as_secs(),
                convs.len(),
                tail(&serve.log(), 40)
            );
            continue;
        };
        last_progress = Instant::now();
        let Some(&i) = index.get(&m.chat_id) else {
            continue;
        };
        if ignore(&m) {
            continue;
        }
        let c = &mut convs[i];
        let Some(update_id) = c.pending.take() else {
            panic!(
                "{plan:?}: chat {} got a message it was not waiting for (step {}): {}",
                m.chat_id,
                c.step,
                m.text.chars().take(80).collect::<String>()
            );
        };
        let times = fake.update_times(update_id).unwrap();
        latencies.push(m.at.duration_since(times.pushed));
        waits.push(
            times
                .handed_out
                .unwrap_or(m.at)
                .duration_since(times.pushed),
        );
        last_reply = last_reply.max(m.at);
        let unexpected = |what: &str| -> ! {
            panic!(
                "{plan:?}: chat {} step {}: expected {what}, got {:?} with buttons {:?}",
                m.chat_id,
                c.step,
                m.text.chars().take(80).collect::<String>(),
                m.button_data()
            )
        };
        let next = match c.step {
            0 => {
                let Some(kc) = m.button_data().into_iter().find(|d| d.contains(":kc:")) else {
                    unexpected("the kind/category buttons")
                };
                Some(fake.press_button(&c.user, m.message_id, &kc))
            }
            1 => Some(fake.send_location(&c.user, 30.59, 103.52)),
            2 => {
                let Some(submit) = m.button_data().into_iter().find(|d| d.ends_with(":submit"))
                else {
                    unexpected("the summary with a submit button")
                };
                Some(fake.press_button(&c.user, m.message_id, &submit))
            }
            _ => {
                if !m.text.contains('#') {
                    unexpected("the receipt with the report number");
                }
                None
            }
        };
        c.step += 1;
        match next {
            Some(update) => c.pending = Some(update["update_id"].as_i64().unwrap()),
            None => done += 1,
        }
    }
    let first = first_push.unwrap_or(started);
    latencies.sort();
    waits.sort();
    IntakeRun {
        updates: latencies.len(),
        wall: last_reply.duration_since(first),
        latencies,
        waits,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
