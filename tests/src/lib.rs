//! Test support shared by every end-to-end test: a fresh database per test (a SQLite file, or
//! a PostgreSQL database cloned from a migrated template), and the `gridline` binary.
//!
//! PostgreSQL tests run when `GRIDLINE_TEST_PG_URL` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432`). Without it they print a loud SKIPPED line, except
//! under CI (`CI` set), where a missing server is a failure.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use gridline_shared::Db;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

pub const PG_ENV: &str = "GRIDLINE_TEST_PG_URL";
pub const COUNTY: &str = "大邑县";

/// The repository's fixtures folder.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A database for one test. Dropping it removes it.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl TestDb {
    /// A fresh, migrated SQLite file.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("gridline.db").display());
        let db = Db::connect(&url).await.unwrap();
        gridline_shared::prepare(&db, COUNTY).await.unwrap();
        TestDb {
            db,
            url,
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh PostgreSQL database cloned from the migrated template, or `None` (after a loud
    /// notice) when no server is configured outside CI.
    pub async fn postgres(test: &str) -> Option<TestDb> {
        let base = pg_base_url(test)?;
        let template = ensure_template(&base).await;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "gridline_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let admin = admin_connection(&base).await;
        let mut attempts = 0;
        loop {
            // CREATE DATABASE … TEMPLATE fails while another session is connected to the
            // template; that is brief, so retry.
            match admin
                .execute_unprepared(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                ))
                .await
            {
                Ok(_) => break,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        admin.close().await.unwrap();
        let url = format!("{}/{}", base.trim_end_matches('/'), name);
        let db = Db::connect(&url).await.unwrap();
        Some(TestDb {
            db,
            url,
            _dir: None,
            pg_name: Some(name),
        })
    }

    pub async fn new(backend: Backend, test: &str) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite().await),
            Backend::Postgres => TestDb::postgres(test).await,
        }
    }

    pub fn backend(&self) -> Backend {
        if self.pg_name.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let Some(base) = std::env::var(PG_ENV).ok() else {
            return;
        };
        // Drop runs inside the test's runtime; do the async cleanup on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let admin = admin_connection(&base).await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
            });
        })
        .join();
    }
}

/// The configured server URL without a database name, or `None` when tests should skip.
fn pg_base_url(test: &str) -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.trim().is_empty() => {
            let url = url.trim().trim_end_matches('/').to_owned();
            Some(url)
        }
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!("{PG_ENV} is not set but CI is: PostgreSQL tests are mandatory in CI");
            }
            eprintln!(
                "SKIPPED (no PostgreSQL): {test} — set {PG_ENV}=postgres://postgres@127.0.0.1:5432 to run it"
            );
            None
        }
    }
}

async fn admin_connection(base: &str) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(format!("{base}/postgres"));
    opts.max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    Database::connect(opts)
        .await
        .expect("cannot connect to the PostgreSQL test server")
}

/// Creates (once per schema version, across processes) the migrated template database.
async fn ensure_template(base: &str) -> String {
    let name = format!("gridline_tpl_{}", migration::schema_fingerprint());
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.get().is_some() {
        return name;
    }
    let admin = admin_connection(base).await;
    // One connection, so the advisory lock and its release happen in the same session.
    admin
        .execute_unprepared("SELECT pg_advisory_lock(730300)")
        .await
        .unwrap();
    let exists = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        ))
        .await
        .unwrap()
        .is_some();
    if !exists {
        let building = format!("{name}_building");
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{building}\""))
            .await
            .unwrap();
        let db = Db::connect(&format!("{base}/{building}")).await.unwrap();
        gridline_shared::prepare(&db, COUNTY).await.unwrap();
        db.close().await.unwrap();
        admin
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
            ))
            .await
            .unwrap();
    }
    admin
        .execute_unprepared("SELECT pg_advisory_unlock(730300)")
        .await
        .unwrap();
    admin.close().await.unwrap();
    let _ = DONE.set(());
    name
}

/// Generates `<name>_sqlite` and `<name>_postgres` tests from one async body taking a `TestDb`.
#[macro_export]
macro_rules! db_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDb::new($crate::Backend::Sqlite, stringify!($name))
                    .await
                    .unwrap();
                ($body)(db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) =
                    $crate::TestDb::new($crate::Backend::Postgres, stringify!($name)).await
                {
                    ($body)(db).await;
                }
            }
        }
    };
}

/// The `gridline` binary, built on first use if the test run has not built it.
pub fn gridline_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        let bin = target.join(profile).join("gridline");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "gridline-admin", "--bin", "gridline"]);
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        // Always (re)build: cheap when up to date, and never tests a stale binary.
        let status = cmd
            .status()
            .expect("cannot run cargo build for the gridline binary");
        assert!(status.success(), "building the gridline binary failed");
        bin
    })
    .clone()
}

/// Runs `gridline` with `args` against `database_url`, in `cwd`, feeding `stdin`.
pub fn run_gridline(cwd: &Path, database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(gridline_bin())
        .args(args)
        .current_dir(cwd)
        .env("GRIDLINE_DATABASE_URL", database_url)
        .env_remove("TELOXIDE_TOKEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start gridline");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub mod bench_data;
pub mod bench_support;
pub mod fake_telegram;
pub mod fake_wecom;
pub mod panel;
