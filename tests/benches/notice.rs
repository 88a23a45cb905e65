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

use std::time::{Duration, Instant};

use chrono::Utc;
use gridline_shared::notices;
use gridline_tests::bench_support::{self, MEMBERS, Serve, ServeOptions};
use gridline_tests::fake_telegram::{FakeTelegram, FakeUser};
use gridline_tests::{Backend, TestDb, gridline_bin};

#[tokio::main]
async fn main() {
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
    bench_support::county_bound(&t.db).await;
    let actor = bench_support::county_admin(&t.db).await;

    let fake = FakeTelegram::start().await;
    fake.set_latency(Duration::from_millis(50));
    let opts = ServeOptions {
        send_rate: rate,
        ..Default::default()
    };
    let mut serve = Serve::start(&t.url, &fake, &opts);
    bench_support::wait_until_polling(&fake, &mut serve).await;

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
    serve.stop();

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
    let p95 = bench_support::percentile(&latencies, 95.0);
    let p50 = bench_support::percentile(&latencies, 50.0);
    println!("[{}]", bench_support::machine());
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
