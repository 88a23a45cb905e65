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

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use gridline_shared::calendar::Light;
use gridline_shared::domain::{AreaLevel, ReportKind, ReportState, StaffRole, Urgency};
use gridline_shared::entity::{area, category, member};
use gridline_shared::export::{self, ExportRequest, Exporter, VecSink};
use gridline_shared::inbox::{self, InboxFilter, InboxSort};
use gridline_shared::stats::{self, Period};
use gridline_shared::{Scope, areas, import, roster};
use gridline_tests::{Backend, TestDb, fixture};
use sea_orm::{ConnectionTrait, EntityTrait};

/// A small deterministic generator (xorshift64*), so every run loads the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'", t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
}

fn opt_ts(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "NULL".to_owned(), ts)
}

struct Origin {
    member_id: i64,
    area_id: i64,
    area_path: String,
    community_id: i64,
    community_path: String,
}

async fn load(t: &TestDb, reports: usize, now: DateTime<Utc>) -> Duration {
    let bytes = std::fs::read(fixture("county-roster.csv")).unwrap();
    let parsed = roster::parse_roster(&bytes).unwrap();
    let scope = areas::root_scope(t.db.conn()).await.unwrap();
    import::import_roster(&t.db, &scope, parsed, |_, _| {})
        .await
        .unwrap();
    let members = member::Entity::find().all(t.db.conn()).await.unwrap();
    let origins: Vec<Origin> = members
        .iter()
        .map(|m| {
            let community_id = areas::ancestor_id_at(&m.area_path, AreaLevel::Community).unwrap();
            let marker = format!("/{community_id}/");
            let end = m.area_path.find(&marker).unwrap() + marker.len();
            Origin {
                member_id: m.id,
                area_id: m.area_id,
                area_path: m.area_path.clone(),
                community_id,
                community_path: m.area_path[..end].to_owned(),
            }
        })
        .collect();
    let cats: Vec<i64> = category::Entity::find()
        .all(t.db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();

    let pg = t.db.backend() == sea_orm::DbBackend::Postgres;
    let bool_lit = |b: bool| {
        if pg {
            if b { "TRUE" } else { "FALSE" }
        } else if b {
            "1"
        } else {
            "0"
        }
    };
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    const ROWS_PER_INSERT: usize = 500;
    const ROWS_PER_TXN: usize = 50_000;
    let words = [
        "楼道堆放杂物",
        "路灯不亮",
        "邻里噪音纠纷",
        "独居老人走访",
        "燃气管道老化",
        "垃圾清运不及时",
        "占道经营",
        "下水道堵塞",
    ];
    let mut done = 0;
    while done < reports {
        let txn = t.db.write().await.unwrap();
        let end_txn = (done + ROWS_PER_TXN).min(reports);
        while done < end_txn {
            let n = ROWS_PER_INSERT.min(end_txn - done);
            let mut sql = String::with_capacity(n * 400);
            sql.push_str(
                "INSERT INTO reports (kind, state, category_id, urgency, description, \
                 reporter_member_id, origin_area_id, origin_area_path, handling_area_id, \
                 handling_area_path, escalation_level, simulated, address, created_at, updated_at, \
                 submitted_at, accepted_at, resolved_at, closed_at, clock_started_at, warn_at, \
                 due_at, resolved_on_time) VALUES ",
            );
            for i in 0..n {
                let o = &origins[rng.below(origins.len() as u64) as usize];
                // Filed over the last 365 days.
                let created = now - TimeDelta::seconds(rng.below(365 * 86_400) as i64 + 60);
                let age = now - created;
                let kind = match rng.below(10) {
                    0..=3 => ReportKind::Visit,
                    4..=7 => ReportKind::Incident,
                    _ => ReportKind::Request,
                };
                let urgency = match rng.below(20) {
                    0 => Urgency::Critical,
                    1..=3 => Urgency::Urgent,
                    _ => Urgency::Normal,
                };
                // Older reports are mostly finished; recent ones are often open.
                let roll = rng.below(100);
                let recent = age < TimeDelta::days(7);
                let state = if recent && roll < 50 {
                    [
                        ReportState::Submitted,
                        ReportState::Accepted,
                        ReportState::Assigned,
                        ReportState::InProgress,
                    ][rng.below(4) as usize]
                } else if roll < 3 {
                    ReportState::Submitted
                } else if roll < 5 {
                    ReportState::InProgress
                } else if roll < 8 {
                    ReportState::Rejected
                } else if roll < 10 {
                    ReportState::Returned
                } else if roll < 15 {
                    ReportState::Resolved
                } else {
                    ReportState::Closed
                };
                let category = if kind == ReportKind::Visit && rng.below(2) == 0 {
                    "NULL".to_owned()
                } else {
                    cats[rng.below(cats.len() as u64) as usize].to_string()
                };
                let handle_minutes = rng.below(6 * 24 * 60) as i64 + 20;
                let finished = matches!(state, ReportState::Resolved | ReportState::Closed);
                let accepted = (state != ReportState::Submitted
                    && state != ReportState::Rejected
                    && state != ReportState::Returned)
                    .then(|| created + TimeDelta::minutes(30));
                let resolved = finished.then(|| created + TimeDelta::minutes(handle_minutes));
                let closed = (state == ReportState::Closed)
                    .then(|| created + TimeDelta::minutes(handle_minutes + 60));
                let (clock, warn, due) = if state.is_open() {
                    let start = created;
                    let due = start + TimeDelta::days(rng.below(5) as i64 + 1);
                    let warn = start + (due - start) * 3 / 4;
                    (Some(start), Some(warn), Some(due))
                } else {
                    (None, None, None)
                };
                let on_time = if finished {
                    bool_lit(handle_minutes < 2 * 24 * 60)
                } else {
                    "NULL"
                };
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('{}','{}',{},'{}','{} #{}',{},{},'{}',{},'{}',0,{},'{}号楼',{},{},{},{},{},{},{},{},{},{})",
                    kind.code(),
                    state.code(),
                    category,
                    urgency.code(),
                    words[rng.below(words.len() as u64) as usize],
                    done + i,
                    o.member_id,
                    o.area_id,
                    o.area_path,
                    o.community_id,
                    o.community_path,
                    bool_lit(false),
                    rng.below(40) + 1,
                    ts(created),
                    ts(created),
                    ts(created),
                    opt_ts(accepted),
                    opt_ts(resolved),
                    opt_ts(closed),
                    opt_ts(clock),
                    opt_ts(warn),
                    opt_ts(due),
                    on_time,
                ));
            }
            txn.execute_unprepared(&sql).await.unwrap();
            done += n;
        }
        txn.commit().await.unwrap();
        eprint!("\r  loaded {done}/{reports}");
    }
    eprintln!();
    // Planner statistics, as a production database would have them.
    t.db.conn().execute_unprepared("ANALYZE").await.unwrap();
    started.elapsed()
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
    let now = Utc
        .with_ymd_and_hms(2026, 11, 29, 4, 0, 0)
        .single()
        .unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_ascii_lowercase();
        if !backends.contains(&name) {
            continue;
        }
        let Some(t) = TestDb::new(backend, "bench inbox").await else {
            continue;
        };
        println!("== {backend:?}: loading {reports} reports over 7,303 members");
        let took = load(&t, reports, now).await;
        println!(
            "  loaded in {:.1} s ({:.0} reports/s)",
            took.as_secs_f64(),
            reports as f64 / took.as_secs_f64()
        );
        let conn = t.db.conn();
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
                let p = inbox::list(
                    conn,
                    scope,
                    &InboxFilter::default(),
                    InboxSort::Newest,
                    cursor.as_ref(),
                    50,
                    now,
                )
                .await
                .unwrap();
                cursor = p.next;
            }
            let s = time(runs, || async {
                inbox::list(
                    conn,
                    scope,
                    &InboxFilter::default(),
                    InboxSort::Newest,
                    cursor.as_ref(),
                    50,
                    now,
                )
                .await
                .unwrap();
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
