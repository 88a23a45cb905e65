//! Maintained counts of reports per (origin community, kind, state), so that the inbox's
//! per-state counts at county, town or community scope are a small range sum instead of a
//! `COUNT(*)` over up to a million rows.
//!
//! The table `report_counts` holds one row per *bucket path* (a report's origin path cut after
//! the community: `/county/town/community/`, or the whole path when the origin sits higher),
//! kind and state. It changes only together with `reports`, in the same transaction: by
//! [`crate::reports::submit`] (one report added) and [`crate::lifecycle::transition_in`] (one
//! report moved between states) — the only two writers of reports (ARCHITECTURE.md). Anything
//! that loads reports another way (a bulk SQL import, a benchmark) must call
//! [`rebuild_counters`] afterwards; `gridline rebuild-counters` does it as a repair command.
//!
//! A scope (or an area filter) at community level or above is a prefix of whole bucket paths,
//! so its count is exact from this table; deeper scopes count the (few) rows directly.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QuerySelect};

use crate::db::Db;
use crate::domain::{AreaPath, ReportKind, ReportState};
use crate::entity::report;
use crate::error::CoreResult;
use crate::scope::Scope;

/// The table's name and columns.
pub const TABLE: &str = "report_counts";
const COL_PATH: &str = "bucket_path";
const COL_KIND: &str = "kind";
const COL_STATE: &str = "state";
const COL_N: &str = "n";

/// Path components kept in a bucket path: county, town, community.
pub const BUCKET_DEPTH: usize = 3;

/// The bucket of an origin path: the path cut after its [`BUCKET_DEPTH`]th component.
pub fn bucket_path(origin_path: &str) -> AreaPath {
    AreaPath::stored(origin_path).truncated(BUCKET_DEPTH)
}

/// Whether a subtree (by its path) is a union of whole buckets, so the counters answer it.
pub fn answers(path: &str) -> bool {
    AreaPath::stored(path).depth() <= BUCKET_DEPTH
}

/// Adds `delta` to one counter (creating it at `delta`).
async fn add(
    conn: &impl ConnectionTrait,
    path: &str,
    kind: ReportKind,
    state: ReportState,
    delta: i64,
) -> CoreResult<()> {
    let t = Alias::new(TABLE);
    let stmt = Query::insert()
        .into_table(t.clone())
        .columns([
            Alias::new(COL_PATH),
            Alias::new(COL_KIND),
            Alias::new(COL_STATE),
            Alias::new(COL_N),
        ])
        .values_panic([
            Expr::val(path),
            Expr::val(kind.code()),
            Expr::val(state.code()),
            Expr::val(delta),
        ])
        .on_conflict(
            OnConflict::columns([
                Alias::new(COL_PATH),
                Alias::new(COL_KIND),
                Alias::new(COL_STATE),
            ])
            .value(
                Alias::new(COL_N),
                Expr::col((t, Alias::new(COL_N))).add(Expr::val(delta)),
            )
            .to_owned(),
        )
        .to_owned();
    conn.execute(&stmt).await?;
    Ok(())
}

/// A report was filed (inside the filing transaction).
pub async fn report_added(conn: &impl ConnectionTrait, r: &report::Model) -> CoreResult<()> {
    add(
        conn,
        bucket_path(&r.origin_area_path).as_str(),
        r.kind,
        r.state,
        1,
    )
    .await
}

/// A report moved from `before` to `after` (inside the transition's transaction).
pub async fn report_changed(
    conn: &impl ConnectionTrait,
    before: &report::Model,
    after: &report::Model,
) -> CoreResult<()> {
    let old = (
        bucket_path(&before.origin_area_path),
        before.kind,
        before.state,
    );
    let new = (
        bucket_path(&after.origin_area_path),
        after.kind,
        after.state,
    );
    if old == new {
        return Ok(());
    }
    // Always touch the two rows in one order, so two transitions crossing the same pair of
    // states on PostgreSQL cannot deadlock on the row locks.
    let key = |k: &(AreaPath, ReportKind, ReportState)| (k.0.clone(), k.1.code(), k.2.code());
    let mut changes = [(old, -1i64), (new, 1i64)];
    changes.sort_by_key(|(k, _)| key(k));
    for ((path, kind, state), delta) in changes {
        add(conn, path.as_str(), kind, state, delta).await?;
    }
    Ok(())
}

#[derive(FromQueryResult)]
struct Grouped {
    origin_area_path: String,
    kind: ReportKind,
    state: ReportState,
    n: i64,
}

/// The counters a `COUNT(*) … GROUP BY` over `reports` gives now (non-zero ones only), by
/// (bucket path, kind, state).
pub async fn counted_from_reports(
    conn: &impl ConnectionTrait,
) -> CoreResult<BTreeMap<(String, &'static str, &'static str), i64>> {
    let rows = report::Entity::find()
        .select_only()
        .column(report::Column::OriginAreaPath)
        .column(report::Column::Kind)
        .column(report::Column::State)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .group_by(report::Column::OriginAreaPath)
        .group_by(report::Column::Kind)
        .group_by(report::Column::State)
        .into_model::<Grouped>()
        .all(conn)
        .await?;
    let mut out: BTreeMap<(String, &'static str, &'static str), i64> = BTreeMap::new();
    for r in rows {
        *out.entry((
            bucket_path(&r.origin_area_path).into_string(),
            r.kind.code(),
            r.state.code(),
        ))
        .or_default() += r.n;
    }
    Ok(out)
}

#[derive(FromQueryResult)]
struct Stored {
    bucket_path: String,
    kind: String,
    state: String,
    n: i64,
}

/// The stored counters (non-zero ones only).
pub async fn stored(
    conn: &impl ConnectionTrait,
) -> CoreResult<BTreeMap<(String, &'static str, &'static str), i64>> {
    let stmt = Query::select()
        .columns([
            Alias::new(COL_PATH),
            Alias::new(COL_KIND),
            Alias::new(COL_STATE),
            Alias::new(COL_N),
        ])
        .from(Alias::new(TABLE))
        .to_owned();
    let rows = Stored::find_by_statement(conn.get_database_backend().build(&stmt))
        .all(conn)
        .await?;
    let mut out = BTreeMap::new();
    for r in rows.into_iter().filter(|r| r.n != 0) {
        let (Some(kind), Some(state)) = (ReportKind::parse(&r.kind), ReportState::parse(&r.state))
        else {
            return Err(crate::CoreError::Internal(format!(
                "unknown kind or state in {TABLE}: {} {}",
                r.kind, r.state
            )));
        };
        out.insert((r.bucket_path, kind.code(), state.code()), r.n);
    }
    Ok(out)
}

/// Recomputes every counter from `reports` in one write transaction (after a bulk load, or as
/// a repair). Returns the number of reports counted.
pub async fn rebuild_counters(db: &Db) -> CoreResult<u64> {
    let txn = db.write().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // Transitions update their counter rows after their report row; holding this lock
        // while counting makes every such transaction either finish before the count (and be
        // in it) or add its change after this one commits.
        txn.execute_unprepared(&format!("LOCK TABLE {TABLE} IN EXCLUSIVE MODE"))
            .await?;
    }
    let counted = counted_from_reports(&*txn).await?;
    txn.execute(&Query::delete().from_table(Alias::new(TABLE)).to_owned())
        .await?;
    let mut total = 0u64;
    let rows: Vec<_> = counted.into_iter().collect();
    for chunk in rows.chunks(500) {
        let mut stmt = Query::insert();
        stmt.into_table(Alias::new(TABLE)).columns([
            Alias::new(COL_PATH),
            Alias::new(COL_KIND),
            Alias::new(COL_STATE),
            Alias::new(COL_N),
        ]);
        for ((path, kind, state), n) in chunk {
            total += u64::try_from(*n).unwrap_or(0);
            stmt.values_panic([
                Expr::val(path.clone()),
                Expr::val(*kind),
                Expr::val(*state),
                Expr::val(*n),
            ]);
        }
        txn.execute(&stmt).await?;
    }
    txn.commit().await?;
    Ok(total)
}

/// Reports per state inside `path`'s subtree (a path [`answers`] accepts), optionally of one
/// kind only, from the counters.
pub async fn state_counts(
    conn: &impl ConnectionTrait,
    path: &str,
    kind: Option<ReportKind>,
) -> CoreResult<HashMap<ReportState, u64>> {
    let sub = Scope::from_parts(0, path);
    let mut stmt = Query::select();
    stmt.column(Alias::new(COL_STATE))
        // SUM of a BIGINT is NUMERIC on PostgreSQL: cast it back.
        .expr_as(Expr::cust("CAST(SUM(n) AS BIGINT)"), Alias::new(COL_N))
        .from(Alias::new(TABLE))
        .and_where(sub.condition(Alias::new(COL_PATH)))
        .group_by_col(Alias::new(COL_STATE));
    if let Some(k) = kind {
        stmt.and_where(Expr::col(Alias::new(COL_KIND)).eq(k.code()));
    }
    let rows = conn.query_all(&stmt).await?;
    let mut out = HashMap::new();
    for row in rows {
        let state: String = row.try_get("", COL_STATE)?;
        let n: i64 = row.try_get("", COL_N)?;
        if let Some(s) = ReportState::parse(&state) {
            out.insert(s, u64::try_from(n).unwrap_or(0));
        }
    }
    Ok(out)
}
