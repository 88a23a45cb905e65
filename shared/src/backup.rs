//! Backups of the database while Gridline runs.
//!
//! SQLite: `VACUUM INTO` on a connection of the running pool. It reads one consistent snapshot
//! (a read transaction; in WAL mode writers go on meanwhile) and writes a compact, complete
//! database file: every transaction committed before it started is in the copy, none that
//! commits later. The copy is written under a temporary name beside the target, synced, and then
//! linked to the target name, so a half-written file never carries the target's name and an
//! existing file is never overwritten.
//!
//! PostgreSQL: Gridline does not dump PostgreSQL itself; [`pg_dump_command`] spells out the
//! `pg_dump` call for the configured database (its password is never printed: `pg_dump` takes it
//! from `PGPASSWORD` or `~/.pgpass`).
//!
//! The daily backup of `gridline serve` ([`daily`]) writes `gridline-YYYYMMDD-HHMMSS.db` into a
//! folder and keeps the newest N such files; it never touches other files there.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::Db;

/// Why a backup was not written. The command line says it in the user's language.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target file exists already (never overwritten).
    #[error("{0} exists already")]
    Exists(PathBuf),
    /// The target's path is not valid UTF-8 (SQLite takes the name as text).
    #[error("the path {0} is not valid UTF-8")]
    BadPath(PathBuf),
    /// The database is PostgreSQL: use `pg_dump`.
    #[error("the database is PostgreSQL: use pg_dump")]
    Postgres,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Whether Gridline backs up this database itself (SQLite), rather than `pg_dump`.
pub fn in_process(db: &Db) -> bool {
    db.backend() == DbBackend::Sqlite
}

/// The file of a SQLite database URL (`sqlite://path`, `sqlite:path` or a bare path, query
/// options dropped); `None` for other URLs and in-memory databases.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    let rest = match url.strip_prefix("sqlite:") {
        Some(r) => r.strip_prefix("//").unwrap_or(r),
        None if url.contains("://") => return None,
        None => url,
    };
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// What a backup wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Writes a consistent copy of the SQLite database behind `db` to `out` (which must not exist).
pub async fn sqlite_to(db: &Db, out: &Path) -> Result<Written, BackupError> {
    if db.backend() != DbBackend::Sqlite {
        return Err(BackupError::Postgres);
    }
    if out.exists() {
        return Err(BackupError::Exists(out.to_owned()));
    }
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BackupError::BadPath(out.to_owned()))?;
    let partial = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let partial_text = partial
        .to_str()
        .ok_or_else(|| BackupError::BadPath(out.to_owned()))?
        .to_owned();
    // A partial file left by a crashed attempt of this process id would make VACUUM INTO fail.
    if partial.exists() {
        std::fs::remove_file(&partial).map_err(io(&partial))?;
    }
    let result = async {
        db.conn()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "VACUUM INTO ?",
                [partial_text.into()],
            ))
            .await?;
        let file = std::fs::File::open(&partial).map_err(io(&partial))?;
        file.sync_all().map_err(io(&partial))?;
        let bytes = file.metadata().map_err(io(&partial))?.len();
        // A hard link never replaces an existing file (unlike rename).
        std::fs::hard_link(&partial, out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                BackupError::Exists(out.to_owned())
            } else {
                io(out)(e)
            }
        })?;
        Ok(Written {
            path: out.to_owned(),
            bytes,
        })
    }
    .await;
    // The temporary name goes whatever happened (after a success the target keeps the data).
    if partial.exists() {
        let _ = std::fs::remove_file(&partial);
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    result
}

/// The `pg_dump` call that backs up the PostgreSQL database at `url` into `out` (custom format,
/// for `pg_restore`). Host, port, user and database come from the URL; the password never
/// appears. `None` when the URL cannot be read as a PostgreSQL URL.
pub fn pg_dump_command(url: &str, out: &Path) -> Option<String> {
    let opts = PgConnectOptions::from_str(url.trim()).ok()?;
    let mut args = vec![
        "pg_dump".to_owned(),
        "--format=custom".to_owned(),
        format!("--host={}", opts.get_host()),
        format!("--port={}", opts.get_port()),
        format!("--username={}", opts.get_username()),
        format!("--file={}", out.display()),
    ];
    args.push(opts.get_database().unwrap_or("postgres").to_owned());
    Some(
        args.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The `pg_restore` call that loads a dump made by [`pg_dump_command`] into the PostgreSQL
/// database at `url` (replacing what it holds); the password never appears.
pub fn pg_restore_command(url: &str, dump: &Path) -> Option<String> {
    let opts = PgConnectOptions::from_str(url.trim()).ok()?;
    let args = [
        "pg_restore".to_owned(),
        "--clean".to_owned(),
        "--if-exists".to_owned(),
        "--no-owner".to_owned(),
        format!("--host={}", opts.get_host()),
        format!("--port={}", opts.get_port()),
        format!("--username={}", opts.get_username()),
        format!("--dbname={}", opts.get_database().unwrap_or("postgres")),
        dump.display().to_string(),
    ];
    Some(
        args.iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `s` as one word for a POSIX shell (quoted only when needed).
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:@,+%".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The file name of a daily backup taken at `at`.
pub fn daily_name(at: DateTime<Utc>) -> String {
    format!("gridline-{}.db", at.format("%Y%m%d-%H%M%S"))
}

/// Whether `name` is a daily backup's file name (so rotation may delete it).
pub fn is_daily_name(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix("gridline-")
        .and_then(|r| r.strip_suffix(".db"))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 15
        && b[8] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit())
}

/// The daily backup: a copy into `dir` (created if missing) named after `now`, then the oldest
/// daily backups beyond the newest `keep` are deleted. Returns the new file and the deleted ones.
pub async fn daily(
    db: &Db,
    dir: &Path,
    keep: usize,
    now: DateTime<Utc>,
) -> Result<(Written, Vec<PathBuf>), BackupError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let written = sqlite_to(db, &dir.join(daily_name(now))).await?;
    let removed = rotate(dir, keep)?;
    Ok((written, removed))
}

/// Deletes the oldest daily backups in `dir` beyond the newest `keep` (at least one is kept).
pub fn rotate(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_daily_name(n))
        .collect();
    // The time stamp in the name sorts as the time.
    names.sort();
    let excess = names.len().saturating_sub(keep.max(1));
    let mut removed = Vec::new();
    for name in names.into_iter().take(excess) {
        let path = dir.join(name);
        std::fs::remove_file(&path).map_err(io(&path))?;
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_command_has_the_parts_and_no_password() {
        let cmd = pg_dump_command(
            "postgres://grid:s3cret@db.example:6543/county",
            Path::new("/var/backups/gridline.dump"),
        )
        .unwrap();
        assert_eq!(
            cmd,
            "pg_dump --format=custom --host=db.example --port=6543 --username=grid \
             --file=/var/backups/gridline.dump county"
        );
        assert!(!cmd.contains("s3cret"));
        let odd = pg_dump_command("postgres://u@h/d", Path::new("my backup's.dump")).unwrap();
        assert!(odd.contains(r"'--file=my backup'\''s.dump'"), "{odd}");
        assert!(pg_dump_command("not a url", Path::new("x")).is_none());
    }

    #[test]
    fn sqlite_files() {
        assert_eq!(
            sqlite_file("sqlite://gridline.db"),
            Some("gridline.db".into())
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/g.db?mode=rwc"),
            Some("/var/lib/g.db".into())
        );
        assert_eq!(sqlite_file("sqlite:g.db"), Some("g.db".into()));
        assert_eq!(sqlite_file("g.db"), Some("g.db".into()));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/d"), None);
    }

    #[test]
    fn daily_names() {
        let at = DateTime::parse_from_rfc3339("2026-12-08T19:03:04Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(daily_name(at), "gridline-20261208-190304.db");
        assert!(is_daily_name(&daily_name(at)));
        for other in [
            "gridline.db",
            "gridline-20261208-190304.db-wal",
            "gridline-2026120-1903045.db",
            "gridline-20261208x190304.db",
            "notes.txt",
        ] {
            assert!(!is_daily_name(other), "{other}");
        }
    }

    #[test]
    fn rotation_keeps_the_newest_and_nothing_else_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        for d in 1..=5 {
            std::fs::write(
                dir.path().join(format!("gridline-2026120{d}-030000.db")),
                b"x",
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("keep-me.db"), b"x").unwrap();
        let removed = rotate(dir.path(), 2).unwrap();
        assert_eq!(removed.len(), 3);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "gridline-20261204-030000.db",
                "gridline-20261205-030000.db",
                "keep-me.db"
            ]
        );
        assert!(
            rotate(dir.path(), 0).unwrap().len() == 1,
            "keep 0 still keeps one"
        );
    }
}
