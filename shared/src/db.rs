//! The database handle: SQLite (default, one file, WAL) or PostgreSQL, chosen by URL.
//!
//! Reads go straight to the pool. Writes go through [`Db::write`], which on SQLite starts the
//! transaction with `BEGIN IMMEDIATE` behind an in-process queue, so two writers never both
//! hold a read snapshot and then fight over the write lock (the case SQLite answers with
//! `database is locked` at once, without waiting). Other processes on the same file are waited
//! for by the busy timeout.

use std::sync::Arc;
use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait, Value,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The default database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://gridline.db";

/// How long a SQLite connection waits for another process's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
    backend: DbBackend,
    /// SQLite only: one writer at a time in this process.
    writer: Option<Arc<Mutex<()>>>,
}

/// A write transaction. Dereferences to the sea-orm transaction; commit it or it rolls back.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

impl Db {
    /// Connects without migrating. `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, DbErr> {
        let url = normalise_url(url);
        let mut opts = ConnectOptions::new(url.clone());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(60));
        let backend = if url.starts_with("sqlite:") {
            opts.max_connections(8)
                .min_connections(1)
                .map_sqlx_sqlite_opts(|o| {
                    o.create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .foreign_keys(true)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                });
            DbBackend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            opts.max_connections(16).min_connections(1);
            DbBackend::Postgres
        } else {
            return Err(DbErr::Custom(format!(
                "unsupported database URL (use sqlite://FILE or postgres://…): {}",
                redact(&url)
            )));
        };
        let conn = Database::connect(opts).await?;
        let writer = (backend == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Db {
            conn,
            backend,
            writer,
        })
    }

    /// Connects and brings the schema up to date.
    pub async fn connect_and_migrate(url: &str) -> Result<Db, DbErr> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), DbErr> {
        let _guard = self.lock_writer().await;
        migration::Migrator::up(&self.conn, None).await?;
        if self.backend == DbBackend::Sqlite {
            // Gathers statistics the planner lacks (cheap, bounded by analysis_limit).
            self.conn
                .execute_unprepared("PRAGMA analysis_limit=400; PRAGMA optimize=0x10002")
                .await?;
        }
        Ok(())
    }

    /// The connection for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Starts a write transaction (see the module docs).
    pub async fn write(&self) -> Result<WriteTxn, DbErr> {
        let guard = self.lock_writer().await;
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = self.conn.begin_with_options(options).await?;
        Ok(WriteTxn {
            txn,
            _writer: guard,
        })
    }

    async fn lock_writer(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.writer {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        }
    }

    /// Answers whether the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.execute_unprepared("SELECT 1").await.map(|_| ())
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }
}

/// SQL written with `$1, $2 …` placeholders, as `backend` wants them (SQLite: `?`). The one
/// place raw SQL of the core is adapted to the backend.
pub fn sql(backend: DbBackend, s: &str) -> String {
    if backend != DbBackend::Sqlite {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs a query written with `$1, $2 …` placeholders (see [`sql`]) and returns its rows.
pub async fn query_all(
    conn: &impl ConnectionTrait,
    s: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    let backend = conn.get_database_backend();
    conn.query_all_raw(Statement::from_sql_and_values(
        backend,
        sql(backend, s),
        values,
    ))
    .await
}

/// Runs a statement written with `$1, $2 …` placeholders (see [`sql`]).
pub async fn execute(
    conn: &impl ConnectionTrait,
    s: &str,
    values: impl IntoIterator<Item = Value>,
) -> Result<ExecResult, DbErr> {
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql(backend, s),
        values,
    ))
    .await
}

/// `sqlite:foo.db`, `sqlite://foo.db` and a bare `foo.db` all mean a file.
fn normalise_url(url: &str) -> String {
    let url = url.trim();
    if url.contains("://") || url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(normalise_url("gridline.db"), "sqlite://gridline.db");
        assert_eq!(normalise_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(normalise_url("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(redact("postgres://u:secret@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            sql(DbBackend::Sqlite, "a = $1 AND b = $12"),
            "a = ? AND b = ?"
        );
        assert_eq!(sql(DbBackend::Postgres, "a = $1"), "a = $1");
    }
}
