//! Benchmark (not a test): import the full county roster (7,303 members) into a fresh
//! database, several times, and print the median and the spread. Runs on SQLite always and on
//! PostgreSQL when GRIDLINE_TEST_PG_URL is set.
//!
//!     cargo bench -p gridline-tests --bench import_roster

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use gridline_shared::{areas, import, roster};
use gridline_tests::{Backend, TestDb, fixture};

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let bytes = std::fs::read(fixture("county-roster.csv")).unwrap();
    let t0 = Instant::now();
    let parsed = roster::parse_roster(&bytes).unwrap();
    let parse_time = t0.elapsed();
    println!(
        "parse: {} rows in {:.1} ms",
        parsed.rows.len(),
        parse_time.as_secs_f64() * 1e3
    );

    for backend in [Backend::Sqlite, Backend::Postgres] {
        let mut first = Vec::new();
        let mut again = Vec::new();
        for _ in 0..RUNS {
            let Some(t) = TestDb::new(backend, "bench import_roster").await else {
                break;
            };
            let scope = areas::root_scope(t.db.conn()).await.unwrap();
            let start = Instant::now();
            let s = import::import_roster(&t.db, &scope, parsed.clone(), |_, _| {})
                .await
                .unwrap();
            first.push(start.elapsed());
            assert_eq!(s.members_new, 7303);
            let start = Instant::now();
            let s = import::import_roster(&t.db, &scope, parsed.clone(), |_, _| {})
                .await
                .unwrap();
            again.push(start.elapsed());
            assert_eq!(s.members_unchanged, 7303);
        }
        if first.is_empty() {
            continue;
        }
        report(&format!("{backend:?} first import"), &mut first);
        report(&format!("{backend:?} re-import (no changes)"), &mut again);
    }
}

fn report(label: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = times[times.len() / 2];
    println!(
        "{label}: median {:.0} ms (min {:.0}, max {:.0}, n={}) = {:.0} members/s",
        ms(median),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len(),
        7303.0 / median.as_secs_f64()
    );
}
