//! Benchmark (not a test): memory (resident set size) of the real `gridline serve` (release
//! build; panel, bot, delivery worker, scheduler) on a database holding the county (7,303
//! members, all bound to fake Telegram accounts) and 1,000,000 reports (`bench_data`).
//!
//! Figures, from `/proc/<pid>/status` (VmRSS now, VmHWM peak):
//! - **idle** after start (bot polling, panel answering), settled for a few seconds;
//! - **idle after the panel**: the county admin loaded the dashboard and the inbox 5 times each;
//! - **peak** (VmHWM, and the largest VmRSS sampled every 20 ms) while a notice goes to all
//!   7,303 members (sent from the panel, `GRIDLINE_SEND_RATE=1000`, fake server answering after
//!   50 ms) and, at the same time, every member files an incident (the intake burst of
//!   `benches/intake.rs`).
//!
//! Targets (issue 7): ≤ 100 MB idle, ≤ 200 MB during a notice plus a burst.
//!
//!     CARGO_TARGET_DIR=/tmp/bench-target nice -n 10 cargo bench -p gridline-tests --bench memory
//!
//! `GRIDLINE_BENCH_BACKENDS=sqlite,postgres` (default `sqlite`; PostgreSQL needs `GRIDLINE_TEST_PG_URL`),
//! `GRIDLINE_BENCH_REPORTS` (default 1000000) sizes the data.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::Utc;
use gridline_shared::notices;
use gridline_tests::bench_support::{
    self, ADMIN, ADMIN_PASSWORD, IntakePlan, MEMBERS, Serve, ServeOptions, ms,
};
use gridline_tests::fake_telegram::FakeTelegram;
use gridline_tests::panel::Client;
use gridline_tests::{Backend, TestDb, bench_data};

const IDLE_TARGET_MB: f64 = 100.0;
const PEAK_TARGET_MB: f64 = 200.0;
const NOTICE_TITLE: &str = "内存基准通知";

#[tokio::main]
async fn main() {
    gridline_tests::panel::install_crypto_provider();
    let wanted = std::env::var("GRIDLINE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite".into());
    let reports: usize = std::env::var("GRIDLINE_BENCH_REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "gridline binary: {}",
        gridline_tests::gridline_bin().display()
    );
    for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
        if wanted.contains(name) {
            one_backend(backend, reports).await;
        }
    }
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn one_backend(backend: Backend, reports: usize) {
    let Some(t) = TestDb::new(backend, "bench_memory").await else {
        return;
    };
    let setup = Instant::now();
    bench_support::county_bound(&t.db).await;
    let took = bench_data::generate_reports(&t.db, reports, bench_data::DEFAULT_SEED).await;
    let actor = bench_support::county_admin(&t.db).await;
    let chats = bench_support::member_chats(&t.db).await;
    println!(
        "{backend:?}: county, {MEMBERS} bound members and {reports} reports ready in {:.0} s (reports {:.0} s)",
        setup.elapsed().as_secs_f64(),
        took.as_secs_f64()
    );

    let fake = FakeTelegram::start().await;
    fake.set_latency(Duration::from_millis(50));
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let opts = ServeOptions {
        send_rate: 1000.0,
        panel: Some(addr),
        scheduler: true,
    };
    let mut serve = Serve::start(&t.url, &fake, &opts);
    bench_support::wait_until_polling(&fake, &mut serve).await;
    let client = Client {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: format!("http://{addr}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .is_err()
    {
        serve.assert_running();
        assert!(Instant::now() < deadline, "the panel did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = serve.pid();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (idle, _) = bench_support::rss_kib(pid).unwrap();
    let machine_idle = bench_support::machine();

    // The panel: log in, then the dashboard and the inbox, 5 times each.
    let login = client.login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(login.status.as_u16(), 303, "login failed: {}", login.body);
    let mut page_times = Vec::new();
    for _ in 0..5 {
        for path in ["/dashboard", "/inbox"] {
            let asked = Instant::now();
            let page = client.get(path).await;
            assert_eq!(page.status.as_u16(), 200, "{path}: {}", page.body);
            page_times.push((path, asked.elapsed()));
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (after_pages, hwm_pages) = bench_support::rss_kib(pid).unwrap();

    // A notice to everyone, sent from the panel, while every member files an incident.
    let new = notices::NewNotice {
        title: NOTICE_TITLE.into(),
        body: "请查收本周培训安排。".into(),
        ..Default::default()
    };
    let n = notices::create(&t.db, &actor, new, Utc::now())
        .await
        .unwrap();
    let sampler = {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let h = tokio::spawn(async move {
            let mut max = 0;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some((rss, _)) = bench_support::rss_kib(pid) {
                    max = max.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            max
        });
        (stop, h)
    };
    let mut notice_sent = fake.subscribe_sent();
    let started = Instant::now();
    let detail = format!("/notices/{}", n.id);
    let page = client
        .post_from(&detail, &format!("/notices/{}/do/send", n.id), &[])
        .await;
    assert_eq!(page.status.as_u16(), 303, "sending failed: {}", page.body);
    let enqueued = started.elapsed();
    let is_notice = |m: &gridline_tests::fake_telegram::SentMessage| m.text.contains(NOTICE_TITLE);
    let intake = bench_support::file_incidents_ignoring(
        &fake,
        &mut serve,
        &chats,
        IntakePlan::Burst,
        is_notice,
    )
    .await;
    let mut notices_seen = 0;
    let give_up = Instant::now() + Duration::from_secs(120);
    while notices_seen < MEMBERS {
        match tokio::time::timeout_at(give_up.into(), notice_sent.recv()).await {
            Ok(Some(m)) if is_notice(&m) => notices_seen += 1,
            Ok(Some(_)) => {}
            _ => panic!("only {notices_seen} of {MEMBERS} notice messages sent in time"),
        }
    }
    let busy = started.elapsed();
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let sampled_max = sampler.1.await.unwrap();
    let (_, peak) = bench_support::rss_kib(pid).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (settled, _) = bench_support::rss_kib(pid).unwrap();
    serve.assert_running();
    serve.stop();

    let rate = intake.updates as f64 / intake.wall.as_secs_f64();
    println!("[idle: {machine_idle}; end: {}]", bench_support::machine());
    for path in ["/dashboard", "/inbox"] {
        let mut t: Vec<Duration> = page_times
            .iter()
            .filter(|(p, _)| *p == path)
            .map(|(_, d)| *d)
            .collect();
        t.sort();
        println!(
            "  {path}: first {:.0} ms, median {:.0} ms over {}",
            ms(page_times.iter().find(|(p, _)| *p == path).unwrap().1),
            ms(bench_support::percentile(&t, 50.0)),
            t.len()
        );
    }
    println!(
        "{backend:?} memory with {reports} reports: idle after start {:.1} MB ({:.2} × 100 MB); idle after dashboard/inbox ×5 {:.1} MB ({:.2} × 100 MB; peak so far {:.1} MB); \
         during a notice to {MEMBERS} (enqueued by the panel in {:.2} s, all sent within {:.1} s) plus an intake burst ({} updates at {rate:.0}/s): peak {:.1} MB VmHWM ({:.2} × 200 MB), largest sample {:.1} MB; 5 s later {:.1} MB",
        mb(idle),
        mb(idle) / IDLE_TARGET_MB,
        mb(after_pages),
        mb(after_pages) / IDLE_TARGET_MB,
        mb(hwm_pages),
        enqueued.as_secs_f64(),
        busy.as_secs_f64(),
        intake.updates,
        mb(peak),
        mb(peak) / PEAK_TARGET_MB,
        mb(sampled_max),
        mb(settled),
    );
}
