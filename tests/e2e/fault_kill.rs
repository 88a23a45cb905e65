//! Fault tests (issue 7): `kill -9` of the real `gridline serve` at random moments during a
//! burst of reports filed through the fake Telegram server, restarting it each time. Every
//! report announced in a receipt is in the database, no update files two reports, the SQLite
//! file passes `PRAGMA integrity_check` after every kill, and once the process runs undisturbed
//! every filed report gets its receipt — exactly once, except receipts whose holder was killed
//! between Telegram's acceptance and the recording of it (counted in `outbox.retaken`).
//!
//! Also the helpers the other fault tests share (`fault_pg`, `fault_telegram`,
//! `fault_writers`): the seeded random generator, the burst of fake users, the checks.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gridline_shared::Db;
use gridline_shared::conversation::runner::single_report_number;
use gridline_shared::entity::{category, member, outbox, report};
use gridline_tests::fake_telegram::{FakeTelegram, FakeUser, TOKEN};
use gridline_tests::{TestDb, gridline_bin};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};

use crate::notices::{CHAT_BASE, seed};

/// splitmix64, seeded and printed so a failing run can be repeated
/// (`GRIDLINE_FAULT_SEED=<seed>`).
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(test: &str) -> Rng {
        let seed = std::env::var("GRIDLINE_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(7303, |d| d.as_nanos() as u64)
            });
        println!("{test}: seed {seed} (repeat with GRIDLINE_FAULT_SEED={seed})");
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next_u64() % (hi - lo).max(1))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The real `gridline serve <flags>` in `dir` against the database `url` and the fake
/// Telegram server; its log goes to `dir/log`. Add settings with `.env`, then spawn.
pub fn serve_command(
    url: &str,
    fake: &FakeTelegram,
    dir: &Path,
    flags: &[&str],
    log: &str,
) -> Command {
    let log = std::fs::File::create(dir.join(log)).unwrap();
    let mut cmd = Command::new(gridline_bin());
    cmd.arg("serve")
        .args(flags)
        .current_dir(dir)
        .env("GRIDLINE_DATABASE_URL", url)
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("GRIDLINE_TELEGRAM_API_URL", fake.api_url())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    cmd
}

/// `gridline serve` with the bot and the delivery worker (no panel, no scheduler) against the
/// fake server; its log goes to `dir/log`.
pub fn spawn_serve(url: &str, fake: &FakeTelegram, dir: &Path, log: &str) -> Child {
    serve_command(url, fake, dir, &["--no-panel", "--no-scheduler"], log)
        .spawn()
        .unwrap()
}

pub fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status();
}

/// `kill -9`, and waits for the process to be gone.
pub fn kill9(child: &mut Child) {
    signal(child, "-KILL");
    let _ = child.wait();
}

/// SIGTERM, and waits (a clean stop must succeed).
pub fn stop(child: &mut Child) {
    signal(child, "-TERM");
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "gridline did not stop cleanly: {status:?}"
    );
}

pub async fn integrity_ok(db: &Db) {
    let row = db
        .conn()
        .query_one_raw(Statement::from_string(
            db.backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .unwrap()
        .unwrap();
    let result: String = row.try_get_by_index(0).unwrap();
    assert_eq!(result, "ok", "PRAGMA integrity_check");
}

/// A top-level incident category (its id goes into the `kc:` button of the quick path).
pub async fn top_category(db: &Db) -> i64 {
    category::Entity::find()
        .filter(category::Column::ParentId.is_null())
        .filter(category::Column::Active.eq(true))
        .order_by_asc(category::Column::SortOrder)
        .order_by_asc(category::Column::Id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap()
        .id
}

/// `n` members bound to fake users (chat = user id = member id + CHAT_BASE).
pub async fn users(db: &Db, n: usize) -> Vec<(member::Model, FakeUser)> {
    seed(db, n)
        .await
        .into_iter()
        .map(|m| {
            let u = FakeUser::new(m.id + CHAT_BASE, "网格员");
            (m, u)
        })
        .collect()
}

/// One report a fake user filed: its chat, and the id of its first update (the draft's id,
/// so the report's idempotency key is `tg:<chat>:<draft>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filed {
    pub chat: i64,
    pub draft: i64,
}

impl Filed {
    pub fn key(&self) -> String {
        format!("tg:{}:{}", self.chat, self.draft)
    }
}

/// Fake users filing incidents by the bot's shortest path — text out of the blue, the
/// category button of "which kind?", /skip (photo), /skip (location), 提交 — until stopped.
/// A user waits a little for each answer (at most `patience`) but goes on without it: an
/// answer may be lost when the process dies between the commit and the send, and the next
/// update is handled in order anyway.
pub struct Burst {
    stop: Arc<AtomicBool>,
    tasks: tokio::task::JoinSet<Vec<Filed>>,
}

impl Burst {
    pub fn start(
        fake: Arc<FakeTelegram>,
        users: &[(member::Model, FakeUser)],
        category: i64,
        patience: Duration,
        rng: &mut Rng,
    ) -> Burst {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (_, user)) in users.iter().enumerate() {
            let fake = fake.clone();
            let user = user.clone();
            let stop = stop.clone();
            let mut rng = Rng(rng.next_u64());
            tasks.spawn(async move {
                let mut filed = Vec::new();
                // Stagger the start.
                tokio::time::sleep(Duration::from_millis(37 * i as u64 % 1000)).await;
                while !stop.load(Ordering::SeqCst) {
                    let draft =
                        file_one(&fake, &user, category, patience, filed.len(), &mut rng).await;
                    filed.push(Filed {
                        chat: user.id,
                        draft,
                    });
                    tokio::time::sleep(rng.millis(50, 600)).await;
                }
                filed
            });
        }
        Burst { stop, tasks }
    }

    /// Lets every user finish the report they are on; returns everything filed.
    pub async fn finish(mut self) -> Vec<Filed> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        while let Some(r) = self.tasks.join_next().await {
            all.extend(r.unwrap());
        }
        all
    }
}

async fn step(fake: &FakeTelegram, chat: i64, patience: Duration, push: impl FnOnce() -> i64) {
    let before = fake.sent_to(chat).len();
    push();
    fake.wait_for_count(chat, before + 1, patience).await;
}

/// Files one incident; returns the draft id.
async fn file_one(
    fake: &FakeTelegram,
    user: &FakeUser,
    category: i64,
    patience: Duration,
    n: usize,
    rng: &mut Rng,
) -> i64 {
    let chat = user.id;
    let last_id = |fake: &FakeTelegram| fake.sent_to(chat).last().map_or(1, |m| m.message_id);
    let mut draft = 0;
    let text = format!("第{n}号隐患：路灯杆倾斜 {}", rng.below(1000));
    step(fake, chat, patience, || {
        draft = fake.send_text(user, &text)["update_id"].as_i64().unwrap();
        draft
    })
    .await;
    let kc = format!("d:{draft}:kc:{category}");
    step(fake, chat, patience, || {
        fake.press_button(user, last_id(fake), &kc)["update_id"]
            .as_i64()
            .unwrap()
    })
    .await;
    for _ in 0..2 {
        step(fake, chat, patience, || {
            fake.send_text(user, "/skip")["update_id"].as_i64().unwrap()
        })
        .await;
    }
    let submit = format!("d:{draft}:submit");
    step(fake, chat, patience, || {
        fake.press_button(user, last_id(fake), &submit)["update_id"]
            .as_i64()
            .unwrap()
    })
    .await;
    draft
}

/// Receipts seen by the fake server: report number → (chat, message id) of each.
pub fn receipts(fake: &FakeTelegram) -> HashMap<i64, Vec<(i64, i64)>> {
    let mut out: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
    for m in fake.all_sent() {
        if m.method == "sendmessage"
            && m.text.starts_with("已提交")
            && let Some(n) = single_report_number(&m.text)
        {
            out.entry(n).or_default().push((m.chat_id, m.message_id));
        }
    }
    out
}

/// The receipt rows of the outbox, by report.
pub async fn receipt_rows(db: &Db) -> HashMap<i64, outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::DedupeKey.like("receipt:%"))
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.report_id.map(|id| (id, r)))
        .collect()
}

/// Waits (at most `timeout`) until every update was consumed, every filed report is in the
/// database, and no receipt row is still pending or being sent.
pub async fn wait_settled(db: &Db, fake: &FakeTelegram, filed: &[Filed], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let reports = report_count(db).await;
        let rows = receipt_rows(db).await;
        let open = rows
            .values()
            .filter(|r| r.status.code() == "pending" || r.status.code() == "sending")
            .count();
        let done = fake.pending_updates() == 0 && reports >= filed.len() && open == 0;
        if done {
            return;
        }
        if Instant::now() > deadline {
            println!(
                "not settled: {} updates pending, {reports}/{} reports, {open} receipts open",
                fake.pending_updates(),
                filed.len()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn report_count(db: &Db) -> usize {
    use sea_orm::PaginatorTrait;
    // A database restarting under us answers with an error: count nothing this time.
    report::Entity::find().count(db.conn()).await.unwrap_or(0) as usize
}

/// What [`check_reports`] found.
#[derive(Debug, Default)]
pub struct Tally {
    pub reports: usize,
    pub receipts: usize,
    /// Extra copies of receipts (each allowed only by a retaken row).
    pub duplicates: usize,
    pub retaken_rows: usize,
    /// Receipt rows left `uncertain` (the send got no answer): (report, copies delivered).
    pub uncertain: Vec<(i64, usize)>,
}

/// The checks every fault test shares:
/// - the reports are exactly the filed ones (idempotency keys `tg:<chat>:<draft>`, one each):
///   nothing lost, no update produced two reports;
/// - every number announced in a receipt is a report of that chat's member;
/// - every report has one receipt row and got its receipt exactly once, except: a row retaken
///   after its holder died may have reached the chat once more (at most `1 + retaken`), and a
///   row left `uncertain` (a send without an answer) was delivered at most once (whether it was
///   is the fake server's secret; the caller checks it against the faults it applied).
pub async fn check_reports(db: &Db, fake: &FakeTelegram, filed: &[Filed]) -> Tally {
    let all = report::Entity::find().all(db.conn()).await.unwrap();
    let members: HashMap<i64, member::Model> = member::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let expected: HashSet<String> = filed.iter().map(Filed::key).collect();
    assert_eq!(expected.len(), filed.len(), "draft ids are unique");
    let mut keys: HashMap<String, i64> = HashMap::new();
    for r in &all {
        let key = r.idempotency_key.clone().expect("a bot report has a key");
        if let Some(other) = keys.insert(key.clone(), r.id) {
            panic!("reports {other} and {} share the key {key}", r.id);
        }
    }
    let got: HashSet<String> = keys.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} filed, {} stored; missing {missing:?}; not filed by anyone {extra:?}",
        filed.len(),
        all.len()
    );
    for r in &all {
        let chat = r
            .reporter_member_id
            .and_then(|m| members.get(&m))
            .and_then(|m| m.telegram_chat_id);
        let key = r.idempotency_key.as_deref().unwrap_or("");
        assert!(
            chat.is_some_and(|c| key.starts_with(&format!("tg:{c}:"))),
            "report {} filed for the chat of its key {key}",
            r.id
        );
    }
    let by_id: HashMap<i64, &report::Model> = all.iter().map(|r| (r.id, r)).collect();
    let seen = receipts(fake);
    for (n, copies) in &seen {
        let r = by_id
            .get(n)
            .unwrap_or_else(|| panic!("receipt announces #{n}, which is not in the database"));
        let chat = r
            .reporter_member_id
            .and_then(|m| members.get(&m))
            .and_then(|m| m.telegram_chat_id);
        for (c, _) in copies {
            assert_eq!(Some(*c), chat, "receipt of #{n} went to another chat");
        }
    }
    let rows = receipt_rows(db).await;
    let mut tally = Tally {
        reports: all.len(),
        ..Default::default()
    };
    for r in &all {
        let row = rows
            .get(&r.id)
            .unwrap_or_else(|| panic!("report {} has no receipt row", r.id));
        let copies = seen.get(&r.id).map_or(0, Vec::len);
        tally.receipts += copies;
        if row.retaken > 0 {
            tally.retaken_rows += 1;
        }
        match row.status.code() {
            "sent" => {
                assert!(
                    copies >= 1,
                    "report {}: receipt marked sent, none seen",
                    r.id
                );
                assert!(
                    copies <= 1 + row.retaken as usize,
                    "report {}: {copies} receipts, row retaken {} times",
                    r.id,
                    row.retaken
                );
                tally.duplicates += copies - 1;
            }
            "uncertain" => {
                assert!(
                    copies <= 1 + row.retaken as usize,
                    "report {}: {copies} receipts of an uncertain row",
                    r.id
                );
                tally.duplicates += copies.saturating_sub(1);
                tally.uncertain.push((r.id, copies));
            }
            other => panic!(
                "report {}: receipt row {} is {other} ({:?}), {copies} seen",
                r.id, row.id, row.last_error
            ),
        }
    }
    tally
}

// SQLite: 30 users file reports for as long as it takes to kill the process ≥ 20 times at
// random moments; it is restarted at once each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_of_reports_sqlite() {
    let started = Instant::now();
    let t = TestDb::sqlite().await;
    let mut rng = Rng::new("kill_9_during_a_burst_of_reports_sqlite");
    let users = users(&t.db, 30).await;
    let category = top_category(&t.db).await;
    let fake = Arc::new(FakeTelegram::start().await);
    let dir = tempfile::tempdir().unwrap();
    // Built before the clock of the burst starts.
    assert!(gridline_bin().exists());

    println!("set up in {:.1?}", started.elapsed());
    let mut child = spawn_serve(&t.url, &fake, dir.path(), "run-0.log");
    let burst = Burst::start(
        fake.clone(),
        &users,
        category,
        Duration::from_secs(2),
        &mut rng,
    );
    let kills = 22;
    for i in 1..=kills {
        // Alive for a random while: sometimes still starting, mostly mid-burst.
        let t0 = Instant::now();
        tokio::time::sleep(rng.millis(150, 1500)).await;
        let t1 = Instant::now();
        kill9(&mut child);
        let t2 = Instant::now();
        integrity_ok(&t.db).await;
        let t3 = Instant::now();
        child = spawn_serve(&t.url, &fake, dir.path(), &format!("run-{i}.log"));
        println!(
            "kill {i}: slept {:?} kill {:?} integrity {:?} spawn {:?}",
            t1 - t0,
            t2 - t1,
            t3 - t2,
            t3.elapsed()
        );
    }
    let burst_time = started.elapsed();
    // The last process runs undisturbed; the users finish what they are filing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let filed = burst.finish().await;
    println!("burst finished after {:.1?}", started.elapsed());
    wait_settled(&t.db, &fake, &filed, Duration::from_secs(60)).await;
    println!("settled after {:.1?}", started.elapsed());
    let tally = check_reports(&t.db, &fake, &filed).await;
    stop(&mut child);
    integrity_ok(&t.db).await;
    assert!(
        tally.uncertain.is_empty(),
        "no send went unanswered here: {:?}",
        tally.uncertain
    );
    assert_eq!(
        tally.receipts,
        tally.reports + tally.duplicates,
        "every report got its receipt"
    );
    println!(
        "kill -9 ×{kills} (SQLite): {} reports from {} users, {} receipts, {} duplicates ({} rows retaken), burst {:.1?}, total {:.1?}",
        tally.reports,
        users.len(),
        tally.receipts,
        tally.duplicates,
        tally.retaken_rows,
        burst_time,
        started.elapsed()
    );
    assert!(tally.reports >= 40, "the burst filed too little to test");
}
