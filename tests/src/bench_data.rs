//! The 1,000,000-report data set of the benchmarks: the 7,303-member county roster, then
//! reports inserted with raw multi-row INSERTs (far faster than `reports::submit`), with a
//! deterministic generator so every run loads the same data.
//!
//! ```ignore
//! let t = TestDb::new(Backend::Sqlite, "bench").await.unwrap();
//! bench_data::setup_county(&t.db).await;
//! let took = bench_data::generate_reports(&t.db, 1_000_000, bench_data::DEFAULT_SEED).await;
//! ```
//!
//! The signatures here are used by several benchmarks; keep them stable.

use std::time::{Duration, Instant};

use gridline_shared::domain::AreaPath;

use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use gridline_shared::Db;
use gridline_shared::domain::{AreaLevel, ReportKind, ReportState, Urgency};
use gridline_shared::entity::{category, member};
use gridline_shared::{areas, import, roster};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::fixture;

/// The seed the benchmarks use.
pub const DEFAULT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// The fixed "now" of the benchmark data: reports are filed over the 365 days before it.
pub fn bench_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 4, 0, 0)
        .single()
        .unwrap()
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift must not start at zero.
        Rng(if seed == 0 { DEFAULT_SEED } else { seed })
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Imports the county roster fixture (7,303 members over the whole area tree) into a fresh,
/// prepared database.
pub async fn setup_county(db: &Db) {
    let bytes = std::fs::read(fixture("county-roster.csv")).unwrap();
    let parsed = roster::parse_roster(&bytes).unwrap();
    let scope = areas::root_scope(db.conn()).await.unwrap();
    import::import_roster(db, &scope, parsed, |_, _| {})
        .await
        .unwrap();
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

/// Inserts `count` reports filed by random members of the (already imported, see
/// [`setup_county`]) roster over the 365 days before [`bench_now`], in a mix of kinds, states
/// and categories; then brings the derived tables (counters, daily summary) up to date and
/// runs `ANALYZE`. Returns the time taken. Progress goes to stderr.
pub async fn generate_reports(db: &Db, count: usize, seed: u64) -> Duration {
    let now = bench_now();
    let members = member::Entity::find().all(db.conn()).await.unwrap();
    assert!(
        !members.is_empty(),
        "generate_reports needs setup_county first"
    );
    let origins: Vec<Origin> = members
        .iter()
        .map(|m| {
            let community_id = AreaPath::stored(m.area_path.as_str())
                .id_at(AreaLevel::Community)
                .unwrap();
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
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();

    let pg = db.backend() == sea_orm::DbBackend::Postgres;
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
    let mut rng = Rng::new(seed);
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
    while done < count {
        let txn = db.write().await.unwrap();
        let end_txn = (done + ROWS_PER_TXN).min(count);
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
        eprint!("\r  loaded {done}/{count}");
    }
    eprintln!();
    // The raw INSERTs bypassed the core's writers: bring the derived counters up to date.
    gridline_shared::counters::rebuild_counters(db)
        .await
        .unwrap();
    // Planner statistics, as a production database would have them.
    db.conn().execute_unprepared("ANALYZE").await.unwrap();
    started.elapsed()
}
