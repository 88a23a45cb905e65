//! Benchmark (not a test): intake. All 7,303 members of the county roster (bound to fake
//! Telegram accounts) each file one complete incident through the fake Telegram server, handled
//! by the real `gridline serve` (release build; bot, delivery worker), on SQLite and on
//! PostgreSQL. Each member uses the shortest complete conversation the bot offers for an
//! incident — 4 updates:
//!
//! 1. a text (quick mode: it becomes the description; the bot asks which kind),
//! 2. the "incident: <category>" button (`d:<draft>:kc:<category>`; the bot asks for a photo),
//! 3. a location (instead of the optional photo; the bot shows the summary),
//! 4. the "submit" button (the bot files the report and sends the receipt `#<number>`).
//!
//! Like a real user, a member pushes its next update only when the bot's reply to the previous
//! one (its `sendMessage`) has arrived. **Update-to-reply latency** is measured by the fake
//! server's clock: from the moment the update was pushed into its queue to the moment the
//! bot's `sendMessage` for that chat arrived (it also records when getUpdates first handed the
//! update out, which splits the latency into waiting for a poll and handling).
//!
//! Two runs per backend, on the same `gridline serve`:
//! - **burst**: all 7,303 members start at once. Measures capacity: updates per second
//!   (29,212 updates / wall time from the first push to the last receipt). Latency here is
//!   queueing: with N users always waiting, latency ≈ N / throughput (Little's law).
//! - **paced**: members start evenly spread so the offered load is 1,000 updates/s
//!   (`GRIDLINE_BENCH_PACED_RATE`); measures update-to-reply latency at the target rate.
//!
//! Targets (issue 7): ≥ 1,000 updates/s, p99 ≤ 100 ms, on 2 cores (the fake server and this
//! driver share those cores). Every run asserts that exactly 7,303 new reports were filed.
//!
//!     CARGO_TARGET_DIR=/tmp/bench-target nice -n 10 cargo bench -p gridline-tests --bench intake
//!
//! `GRIDLINE_TEST_PG_URL` (e.g. `postgres://postgres@127.0.0.1:5432`) adds PostgreSQL (a fresh
//! database, dropped afterwards); `GRIDLINE_BENCH_BACKENDS=sqlite` limits the backends;
//! `GRIDLINE_BENCH_LATENCY_MS` adds latency to every fake Bot API answer (default 0: measure the
//! product, not the network); `GRIDLINE_BENCH_INTAKE=burst,paced` chooses the runs.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use gridline_shared::entity::report;
use gridline_tests::bench_support::{
    self, IntakePlan, IntakeRun, MEMBERS, Serve, ServeOptions, ms,
};
use gridline_tests::fake_telegram::FakeTelegram;
use gridline_tests::{Backend, TestDb};
use sea_orm::{EntityTrait, PaginatorTrait};

const TARGET_RATE: f64 = 1000.0;
const TARGET_P99: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() {
    let wanted =
        std::env::var("GRIDLINE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runs = std::env::var("GRIDLINE_BENCH_INTAKE").unwrap_or_else(|_| "burst,paced".into());
    let paced_rate: f64 = std::env::var("GRIDLINE_BENCH_PACED_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(TARGET_RATE);
    let mut plans = Vec::new();
    if runs.contains("burst") {
        plans.push(IntakePlan::Burst);
    }
    if runs.contains("paced") {
        plans.push(IntakePlan::Paced(paced_rate));
    }
    println!(
        "gridline binary: {}",
        gridline_tests::gridline_bin().display()
    );
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        if wanted.contains(name) {
            one_backend(backend, &plans).await;
        }
    }
}

async fn one_backend(backend: Backend, plans: &[IntakePlan]) {
    let Some(t) = TestDb::new(backend, "bench_intake").await else {
        return;
    };
    let setup = Instant::now();
    bench_support::county_bound(&t.db).await;
    let chats = bench_support::member_chats(&t.db).await;
    println!(
        "{backend:?}: county imported and {MEMBERS} members bound in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let fake = FakeTelegram::start().await;
    let latency = std::env::var("GRIDLINE_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    fake.set_latency(Duration::from_millis(latency));
    let mut serve = Serve::start(&t.url, &fake, &ServeOptions::default());
    bench_support::wait_until_polling(&fake, &mut serve).await;

    for plan in plans {
        let before = report::Entity::find().count(t.db.conn()).await.unwrap();
        let polls_before = fake.calls("getUpdates");
        let machine_before = bench_support::machine();
        let cpu_serve = bench_support::cpu_seconds(Some(serve.pid()));
        let cpu_self = bench_support::cpu_seconds(None);
        let r = bench_support::file_incidents(&fake, &mut serve, &chats, *plan).await;
        let cpu = (
            bench_support::cpu_seconds(Some(serve.pid())) - cpu_serve,
            bench_support::cpu_seconds(None) - cpu_self,
        );
        let polls = fake.calls("getUpdates") - polls_before;
        let filed = report::Entity::find().count(t.db.conn()).await.unwrap() - before;
        assert_eq!(
            filed as usize, MEMBERS,
            "{backend:?} {plan:?}: {filed} reports filed instead of {MEMBERS}"
        );
        let counts = Counts { polls, filed, cpu };
        print_result(backend, *plan, latency, &r, &counts, &machine_before);
    }
    serve.assert_running();
    serve.stop();
}

/// What else a run counted: getUpdates calls, reports filed, CPU seconds of `gridline serve`
/// and of this process (fake server and driver).
struct Counts {
    polls: usize,
    filed: u64,
    cpu: (f64, f64),
}

fn print_result(
    backend: Backend,
    plan: IntakePlan,
    latency_ms: u64,
    r: &IntakeRun,
    counts: &Counts,
    machine_before: &str,
) {
    let Counts { polls, filed, cpu } = *counts;
    let rate = r.updates as f64 / r.wall.as_secs_f64();
    let p = |q| bench_support::percentile(&r.latencies, q);
    let w = |q| bench_support::percentile(&r.waits, q);
    let plan_text = match plan {
        IntakePlan::Burst => "burst (all members at once)".to_owned(),
        IntakePlan::Paced(rate) => format!("paced (offered {rate:.0} updates/s)"),
    };
    println!(
        "[start: {machine_before}; end: {}]",
        bench_support::machine()
    );
    println!(
        "{backend:?} intake, {plan_text}, fake server latency {latency_ms} ms: {} updates in {:.1} s = {rate:.0} updates/s ({:.2} × the 1,000/s target); update-to-reply p50 {:.0} ms, p99 {:.0} ms ({:.2} × the 100 ms target), max {:.0} ms; of which waiting to be polled p50 {:.0} ms, p99 {:.0} ms; {polls} getUpdates calls ({:.1} updates per answer); reports filed {filed}",
        r.updates,
        r.wall.as_secs_f64(),
        rate / TARGET_RATE,
        ms(p(50.0)),
        ms(p(99.0)),
        p(99.0).as_secs_f64() / TARGET_P99.as_secs_f64(),
        ms(p(100.0)),
        ms(w(50.0)),
        ms(w(99.0)),
        r.updates as f64 / polls.max(1) as f64,
    );
    println!(
        "  CPU: gridline serve {:.1} s ({:.0} µs per update, {:.0} % of one core over the run); fake server and driver {:.1} s ({:.0} µs per update)",
        cpu.0,
        cpu.0 / r.updates as f64 * 1e6,
        cpu.0 / r.wall.as_secs_f64() * 100.0,
        cpu.1,
        cpu.1 / r.updates as f64 * 1e6,
    );
}
