//! Fault tests (issue 7) on PostgreSQL: the kill loop of `fault_kill` against a private
//! PostgreSQL cluster (initdb into a temporary folder, a free port, run as the `postgres` OS
//! user), plus an immediate restart of that server mid-burst while gridline keeps running:
//! its pool reconnects, the polling loop and the delivery worker carry on by themselves, and
//! nothing is lost. The machine's shared server (5432) is never touched.
//!
//! Without PostgreSQL binaries (`/usr/lib/postgresql/*/bin/initdb`) the test skips loudly,
//! except under CI, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridline_shared::Db;
use gridline_tests::fake_telegram::FakeTelegram;
use sea_orm::{ConnectionTrait, Database};

use crate::fault_kill::{
    Burst, Rng, check_reports, kill9, receipts, report_count, spawn_serve, stop, top_category,
    users, wait_settled,
};

/// A PostgreSQL cluster of this test's own. Dropping it stops it.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

/// Runs a PostgreSQL program as the `postgres` OS user (initdb refuses root).
fn as_postgres(program: &Path, args: &[&str]) -> std::process::Output {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        output.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let Some(bin) = pg_bin() else {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL binaries are missing but CI is set: this test is mandatory");
            }
            eprintln!(
                "SKIPPED (no PostgreSQL binaries under /usr/lib/postgresql): kill_9_and_postgres_restart_during_a_burst"
            );
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("gridline-pg-")
            .tempdir()
            .unwrap();
        let owner = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(owner.success(), "chown to postgres");
        let data = dir.path().join("data");
        let port = free_port();
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let cluster = Cluster {
            bin,
            data,
            port,
            _dir: dir,
        };
        cluster.ctl(&["start"]);
        Some(cluster)
    }

    fn ctl(&self, action: &[&str]) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.data.parent().unwrap().display()
        );
        let mut args: Vec<&str> = action.to_vec();
        args.extend([
            "-D",
            self.data.to_str().unwrap(),
            "-o",
            &opts,
            "-w",
            "-t",
            "60",
            "-l",
        ]);
        let log = self.data.parent().unwrap().join("pg.log");
        let log = log.to_str().unwrap().to_owned();
        args.push(&log);
        as_postgres(&self.bin.join("pg_ctl"), &args);
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&self.data)
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_and_postgres_restart_during_a_burst() {
    let started = Instant::now();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let admin = Database::connect(cluster.url("postgres")).await.unwrap();
    admin
        .execute_unprepared("CREATE DATABASE gridline")
        .await
        .unwrap();
    admin.close().await.unwrap();
    let url = cluster.url("gridline");
    let db = Db::connect(&url).await.unwrap();
    gridline_shared::prepare(&db, gridline_tests::COUNTY)
        .await
        .unwrap();

    let mut rng = Rng::new("kill_9_and_postgres_restart_during_a_burst");
    let users = users(&db, 30).await;
    let category = top_category(&db).await;
    let fake = Arc::new(FakeTelegram::start().await);
    let dir = tempfile::tempdir().unwrap();
    let _ = gridline_tests::gridline_bin();
    println!("set up in {:.1?}", started.elapsed());

    let mut child = spawn_serve(&url, &fake, dir.path(), "run-0.log");
    let burst = Burst::start(
        fake.clone(),
        &users,
        category,
        Duration::from_secs(2),
        &mut rng,
    );
    let kills = 20;
    for i in 1..=kills {
        tokio::time::sleep(rng.millis(150, 1500)).await;
        kill9(&mut child);
        child = spawn_serve(&url, &fake, dir.path(), &format!("run-{i}.log"));
        if i == kills / 2 {
            // PostgreSQL itself goes down (as in a crash) and comes back, mid-burst; gridline
            // is not restarted and must carry on by itself.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let receipts_before = receipts(&fake).len();
            let t0 = Instant::now();
            cluster.ctl(&["restart", "-m", "immediate"]);
            println!("PostgreSQL restarted in {:.1?}", t0.elapsed());
            // Progress after the restart, by the same process: new reports and receipts.
            let deadline = Instant::now() + Duration::from_secs(60);
            while receipts(&fake).len() < receipts_before + 10 {
                assert!(
                    Instant::now() < deadline,
                    "no progress within 60 s of the PostgreSQL restart ({} receipts before, {} now)",
                    receipts_before,
                    receipts(&fake).len()
                );
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "gridline exited after the PostgreSQL restart"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            println!(
                "gridline carried on {:.1?} after the PostgreSQL restart",
                t0.elapsed()
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let filed = burst.finish().await;
    wait_settled(&db, &fake, &filed, Duration::from_secs(60)).await;
    let tally = check_reports(&db, &fake, &filed).await;
    stop(&mut child);
    assert!(tally.uncertain.is_empty(), "{:?}", tally.uncertain);
    assert_eq!(tally.receipts, tally.reports + tally.duplicates);
    println!(
        "kill -9 ×{kills} + PostgreSQL restart: {} reports ({} counted before the end), {} receipts, {} duplicates ({} rows retaken), total {:.1?}",
        tally.reports,
        report_count(&db).await,
        tally.receipts,
        tally.duplicates,
        tally.retaken_rows,
        started.elapsed()
    );
    assert!(tally.reports >= 40, "the burst filed too little to test");
    db.close().await.unwrap();
}
