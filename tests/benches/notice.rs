//! Benchmark (not a test): a notice to all 7,303 members of the county roster through the fake
//! Telegram server with 50 ms answer latency, sent by the real `gridline serve` (bot and
//! delivery worker in one process, SQLite), at 30/s and at 1,000/s. Prints the achieved rate as
//! a share of the configured rate (targets: ≥ 97 % at 30/s, ≥ 90 % at 1,000/s) and the p95
//! latency of the bot's reply to an unrelated user writing during the notice (target ≤ 2 s).
//!
//!     CARGO_TARGET_DIR=/tmp/bench-target nice -n 19 cargo bench -p gridline-tests --bench notice
//!
//! `BENCH_RATES=30,1000` chooses the rates; `GRIDLINE_TEST_PG_URL` adds runs on PostgreSQL when
//! `BENCH_PG=1`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use gridline_shared::domain::StaffRole;
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::{areas, import, notices, roster, staff};
use gridline_tests::fake_telegram::{FakeTelegram, FakeUser, TOKEN};
use gridline_tests::{Backend, TestDb, fixture, gridline_bin};
use sea_orm::ConnectionTrait;

const MEMBERS: usize = 7303;
const CHAT_BASE: i64 = 1_000_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let rates: Vec<f64> = std::env::var("BENCH_RATES")
        .unwrap_or_else(|_| "30,1000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("BENCH_PG").is_ok() {
        backends.push(Backend::Postgres);
    }
    let bin = gridline_bin();
    println!("gridline binary: {}", bin.display());
    for backend in backends {
        for rate in &rates {
            one_run(backend, *rate).await;
        }
    }
}

async fn one_run(backend: Backend, rate: f64) {
    let Some(t) = TestDb::new(backend, "bench_notice").await else {
        return;
    };
    let text = std::fs::read(fixture("county-roster.csv")).unwrap();
    let root = areas::root_scope(t.db.conn()).await.unwrap();
    import::import_roster(
        &t.db,
        &root,
        roster::parse_roster(&text).unwrap(),
        |_, _| {},
    )
    .await
    .unwrap();
    t.db.conn()
        .execute_unprepared(&format!(
            "UPDATE members SET telegram_user_id = id + {CHAT_BASE}, telegram_chat_id = id + {CHAT_BASE}"
        ))
        .await
        .unwrap();
    let root_area = areas::find_root(t.db.conn()).await.unwrap().unwrap();
    let user = staff::create(
        t.db.conn(),
        "bench",
        "long enough password",
        StaffRole::CountyAdmin,
        &root_area,
    )
    .await
    .unwrap();
    let actor = StaffActor::of(&user);

    let fake = FakeTelegram::start().await;
    fake.set_latency(Duration::from_millis(50));
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(&t.url, &fake, rate, dir.path());

    // Wait for the bot to poll.
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.calls("getUpdates") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let new = notices::NewNotice {
        title: "基准测试通知".into(),
        body: "请查收本周培训安排。".into(),
        ..Default::default()
    };
    let n = notices::create(&t.db, &actor, new, Utc::now())
        .await
        .unwrap();
    let submitted = Instant::now();
    let s = notices::submit(&t.db, &actor, n.id, Utc::now())
        .await
        .unwrap();
    assert_eq!(s.queued as usize, MEMBERS);
    let enqueue = submitted.elapsed();

    // An unrelated (unbound) user writes once a second during the notice.
    let mut latencies = Vec::new();
    let expected = Duration::from_secs_f64(MEMBERS as f64 / rate);
    let give_up = Instant::now() + expected * 2 + Duration::from_secs(120);
    let mut k = 0;
    loop {
        let sent = count_notice(&fake);
        if sent >= MEMBERS || Instant::now() > give_up {
            break;
        }
        k += 1;
        let user = FakeUser::new(9_000_000 + k, "路人");
        let asked = Instant::now();
        fake.send_text(&user, "你好");
        if fake
            .wait_for(user.id, Duration::from_secs(15), |_| true)
            .await
            .is_some()
        {
            latencies.push(asked.elapsed());
        } else {
            latencies.push(Duration::from_secs(15));
        }
        let rest = Duration::from_secs(1).saturating_sub(asked.elapsed());
        tokio::time::sleep(rest).await;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();

    let mut times: Vec<Instant> = fake
        .all_sent()
        .iter()
        .filter(|m| m.text.starts_with("<b>基准测试通知"))
        .map(|m| m.at)
        .collect();
    times.sort();
    let n_sent = times.len();
    let (first, last) = (times[0], times[n_sent - 1]);
    let span = last.duration_since(first).as_secs_f64();
    let achieved = (n_sent - 1) as f64 / span;
    latencies.sort();
    let p95 = latencies
        .get(((latencies.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
        .copied()
        .unwrap_or_default();
    let p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or_default();
    println!(
        "{:?} rate {rate}/s: enqueue {MEMBERS} rows {:.2} s; sent {n_sent} in {:.1} s (first send {:.2} s after submit) = {:.1}/s = {:.1} % of the configured rate; bot reply to an unrelated user during the notice: p50 {:.0} ms, p95 {:.0} ms over {} probes",
        backend,
        enqueue.as_secs_f64(),
        span,
        first.duration_since(submitted).as_secs_f64(),
        achieved,
        achieved / rate * 100.0,
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        latencies.len()
    );
}

fn count_notice(fake: &FakeTelegram) -> usize {
    fake.all_sent()
        .iter()
        .filter(|m| m.text.starts_with("<b>基准测试通知"))
        .count()
}

fn spawn(url: &str, fake: &FakeTelegram, rate: f64, dir: &std::path::Path) -> Child {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    Command::new(gridline_bin())
        .args(["serve", "--no-panel", "--no-scheduler"])
        .current_dir(dir)
        .env("GRIDLINE_DATABASE_URL", url)
        .env("TELOXIDE_TOKEN", TOKEN)
        .env("GRIDLINE_TELEGRAM_API_URL", fake.api_url())
        .env("GRIDLINE_SEND_RATE", rate.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}
