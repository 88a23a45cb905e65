//! Benchmark (not a test): 1,000,000 reports spread over the 7,303-member county, then the
//! inbox query with filters (p50/p95 over many runs, for a county admin and a community
//! secretary), the dashboard figures and an export page. Runs on SQLite always and on
//! PostgreSQL when GRIDLINE_TEST_PG_URL is set. Targets: inbox p95 ≤ 20 ms, dashboard ≤ 200 ms.
//!
//!     CARGO_TARGET_DIR=/tmp/bench-target nice -n 19 cargo bench -p gridline-tests --bench inbox
//!
//! `GRIDLINE_BENCH_REPORTS` changes the number of reports, `GRIDLINE_BENCH_RUNS` the runs per
//! query, `GRIDLINE_BENCH_BACKENDS` (`sqlite`, `postgres` or both, comma-separated) the
//! backends.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use gridline_shared::calendar::Light;
use gridline_shared::domain::{AreaLevel, ReportKind, ReportState, StaffRole, Urgency};
use gridline_shared::entity::{area, category};
use gridline_shared::export::{self, ExportRequest, Exporter, VecSink};
use gridline_shared::inbox::{self, InboxFilter, InboxSort};
use gridline_shared::stats::{self, Period};
use gridline_shared::{Scope, areas};
use gridline_tests::{Backend, TestDb, bench_data};
use sea_orm::{ConnectionTrait, EntityTrait};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

async fn load(t: &TestDb, reports: usize) -> Duration {
    bench_data::setup_county(&t.db).await;
    bench_data::generate_reports(&t.db, reports, bench_data::DEFAULT_SEED).await
}

/// EXPLAIN ANALYZE of the county inbox's first page and of its old per-state count.
async fn explain_pg(conn: &sea_orm::DatabaseConnection) {
    for sql in [
        "SELECT * FROM reports WHERE origin_area_path >= '/1/' AND origin_area_path < '/10' \
         ORDER BY id DESC LIMIT 51",
        "SELECT state, COUNT(id) FROM reports WHERE origin_area_path >= '/1/' \
         AND origin_area_path < '/10' GROUP BY state",
        "SELECT * FROM reports WHERE origin_area_path >= '/1/' AND origin_area_path < '/10' \
         AND state IN ('submitted','accepted','assigned','in_progress') \
         ORDER BY due_at ASC NULLS LAST, id ASC LIMIT 51",
    ] {
        println!("  EXPLAIN ANALYZE {sql}");
        let rows = conn
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("EXPLAIN ANALYZE {sql}"),
            ))
            .await
            .unwrap();
        for r in rows {
            let line: String = r.try_get_by_index(0).unwrap();
            println!("    {line}");
        }
    }
}

struct Stat {
    p50: Duration,
    p95: Duration,
    max: Duration,
}

async fn time<F, Fut>(runs: usize, mut f: F) -> Stat
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm up
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        f().await;
        v.push(s.elapsed());
    }
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    Stat {
        p50: at(0.5),
        p95: at(0.95),
        max: v[v.len() - 1],
    }
}

/// One inbox page of 50, newest first, unfiltered, after `cursor`.
async fn newest_page(
    conn: &sea_orm::DatabaseConnection,
    scope: &Scope,
    cursor: Option<&inbox::Cursor>,
    now: chrono::DateTime<chrono::Utc>,
) -> inbox::InboxPage {
    inbox::list(
        conn,
        scope,
        &InboxFilter::default(),
        InboxSort::Newest,
        cursor,
        50,
        now,
    )
    .await
    .unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn print(label: &str, s: &Stat, target_ms: f64) {
    let ok = if s.p95.as_secs_f64() * 1e3 <= target_ms {
        "ok"
    } else {
        "OVER"
    };
    println!(
        "  {label:<58} p50 {:>8} ms  p95 {:>8} ms  max {:>8} ms  [{ok} ≤ {target_ms} ms]",
        ms(s.p50),
        ms(s.p95),
        ms(s.max)
    );
}

#[tokio::main]
async fn main() {
    let reports = env_num("GRIDLINE_BENCH_REPORTS", 1_000_000);
    let runs = env_num("GRIDLINE_BENCH_RUNS", 40);
    let backends = std::env::var("GRIDLINE_BENCH_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres".into())
        .to_ascii_lowercase();
    let now = bench_data::bench_now();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_ascii_lowercase();
        if !backends.contains(&name) {
            continue;
        }
        let Some(t) = TestDb::new(backend, "bench inbox").await else {
            continue;
        };
        println!("== {backend:?}: loading {reports} reports over 7,303 members");
        let took = load(&t, reports).await;
        println!(
            "  loaded in {:.1} s ({:.0} reports/s)",
            took.as_secs_f64(),
            reports as f64 / took.as_secs_f64()
        );
        let conn = t.db.conn();
        if let (Backend::Sqlite, Ok(keep)) = (backend, std::env::var("GRIDLINE_BENCH_KEEP_SQLITE"))
        {
            // A copy of the loaded database, for EXPLAIN QUERY PLAN with the sqlite3 shell.
            let _ = std::fs::remove_file(&keep);
            conn.execute_unprepared(&format!("VACUUM INTO '{}'", keep.replace('\'', "''")))
                .await
                .unwrap();
            println!("  kept a copy in {keep}");
        }
        if backend == Backend::Postgres && std::env::var_os("GRIDLINE_BENCH_EXPLAIN").is_some() {
            explain_pg(conn).await;
        }
        let county = areas::root_scope(conn).await.unwrap();
        // The secretary of the community with the most members.
        let communities = area::Entity::find().all(conn).await.unwrap();
        let community = communities
            .iter()
            .filter(|a| a.level == AreaLevel::Community)
            .max_by_key(|a| {
                let s = Scope::of_area(a);
                communities.iter().filter(|x| s.contains(&x.path)).count()
            })
            .unwrap();
        let secretary = Scope::of_area(community);
        let hazard = category::Entity::find()
            .all(conn)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.code == "hazard")
            .unwrap()
            .id;
        let filters: Vec<(&str, InboxFilter, InboxSort)> = vec![
            (
                "no filter, newest",
                InboxFilter::default(),
                InboxSort::Newest,
            ),
            (
                "state=submitted",
                InboxFilter {
                    states: vec![ReportState::Submitted],
                    ..Default::default()
                },
                InboxSort::Newest,
            ),
            (
                "open states, due soonest",
                InboxFilter {
                    states: ReportState::ALL
                        .iter()
                        .copied()
                        .filter(|s| s.is_open())
                        .collect(),
                    ..Default::default()
                },
                InboxSort::DueSoonest,
            ),
            (
                "light=red",
                InboxFilter {
                    light: Some(Light::Red),
                    ..Default::default()
                },
                InboxSort::Newest,
            ),
            (
                "kind=incident, category=hazard, urgency=urgent",
                InboxFilter {
                    kind: Some(ReportKind::Incident),
                    category_id: Some(hazard),
                    urgency: Some(Urgency::Urgent),
                    ..Default::default()
                },
                InboxSort::Newest,
            ),
            (
                "last 7 days",
                InboxFilter {
                    from: Some((now - TimeDelta::days(7)).date_naive()),
                    ..Default::default()
                },
                InboxSort::Newest,
            ),
            (
                "text search '路灯'",
                InboxFilter {
                    text: Some("路灯".into()),
                    ..Default::default()
                },
                InboxSort::Newest,
            ),
        ];
        for (who, scope) in [("county admin", &county), ("secretary", &secretary)] {
            let total = stats::dashboard(conn, scope, Period::all(), now)
                .await
                .unwrap()
                .total;
            println!("-- {who} ({total} reports in scope): inbox, 50 rows a page");
            for (label, f, sort) in &filters {
                let s = time(runs, || async {
                    inbox::list(conn, scope, f, *sort, None, 50, now)
                        .await
                        .unwrap();
                })
                .await;
                print(label, &s, 20.0);
            }
            // A deep page through the keyset cursor.
            let mut cursor = None;
            for _ in 0..20 {
                cursor = newest_page(conn, scope, cursor.as_ref(), now).await.next;
            }
            let s = time(runs, || async {
                newest_page(conn, scope, cursor.as_ref(), now).await;
            })
            .await;
            print("page 21 (keyset cursor)", &s, 20.0);

            println!("-- {who}: dashboard");
            let dash_runs = (runs / 4).max(5);
            for (label, period) in [
                ("dashboard, last 30 days", Period::last_days(now, 30)),
                ("dashboard, all time (365 days)", Period::all()),
            ] {
                let s = time(dash_runs, || async {
                    stats::dashboard(conn, scope, period, now).await.unwrap();
                })
                .await;
                print(label, &s, 200.0);
            }
            let f = InboxFilter {
                light: Some(Light::Red),
                ..Default::default()
            };
            let s = time(dash_runs, || async {
                let req = ExportRequest {
                    scope,
                    filter: &f,
                    unmask: false,
                    locale: "zh-CN",
                    now,
                };
                let mut sink = VecSink::default();
                export::export_reports(
                    conn,
                    Exporter::Staff(StaffRole::CountyAdmin),
                    &req,
                    &mut sink,
                )
                .await
                .unwrap();
            })
            .await;
            print("export rows, light=red", &s, 1000.0);
        }
    }
}
