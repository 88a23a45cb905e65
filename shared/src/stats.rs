//! Dashboard figures for one scope and an optional period.
//!
//! Every figure is computed by a few `GROUP BY` queries over the scope's path range (and the
//! period's `created_at` range), so the work grows with the number of groups returned (states,
//! kinds, categories, micro-grids, distinct closing times), not with what is sent to the caller.
//!
//! Definitions (shown on the dashboard, so that a county and a town read them the same way):
//! - **On-time rate** (按期办结率): among reports finished (resolved 待核查 or closed 已办结)
//!   while a deadline ran, plus open reports already past their deadline (they can no longer be
//!   on time), the share finished by the deadline.
//! - **Closure rate** (办结率): among the reports filed in the period that were not rejected
//!   (不予受理), the share closed (已办结).
//! - **Median time to close**: from filing to closing, over the closed reports.
//! - **Bind rate**: members in the roster who have not left and have bound Telegram, over the
//!   members who have not left.
//! - **Acknowledgement rate**: of the members in scope who were sent a notice (bound and
//!   reachable then), the share who acknowledged it (see [`acknowledgement`]).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use crate::domain::{AreaLevel, AreaPath, MemberStatus, ReportKind, ReportState};
use crate::entity::{area, category, member, notice, notice_recipient, report};
use crate::error::CoreResult;
use crate::scope::Scope;

/// Reports filed in `[from, to)`; either end open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Period {
    pub fn all() -> Period {
        Period::default()
    }

    /// The `days` days before `now`.
    pub fn last_days(now: DateTime<Utc>, days: i64) -> Period {
        Period {
            from: Some(now - TimeDelta::days(Ord::max(days, 0))),
            to: None,
        }
    }
}

/// A share: `num` out of `den`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub num: u64,
    pub den: u64,
}

impl Rate {
    pub fn new(num: u64, den: u64) -> Rate {
        Rate { num, den }
    }

    /// `None` when there is nothing to divide (shown as "—").
    pub fn ratio(&self) -> Option<f64> {
        (self.den > 0).then(|| self.num as f64 / self.den as f64)
    }

    /// `87.5%`, or `—` when undefined.
    pub fn percent(&self) -> String {
        match self.ratio() {
            Some(r) => format!("{:.1}%", r * 100.0),
            None => "—".to_owned(),
        }
    }
}

/// Count of one top-level category (subcategories folded in). `category` is `None` for
/// reports without a category (most visits).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CategoryCount {
    pub category_id: Option<i64>,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub count: u64,
}

impl CategoryCount {
    pub fn label(&self, locale: &str) -> &str {
        if locale.starts_with("en") {
            &self.name_en
        } else {
            &self.name_zh
        }
    }
}

/// The figures of one area of the ranking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AreaFigures {
    pub area_id: i64,
    pub name: String,
    pub level: AreaLevel,
    pub total: u64,
    pub closed: u64,
    pub open_overdue: u64,
    pub on_time: Rate,
    pub closure: Rate,
}

/// Closing times grouped for a chart: `[lower, upper)` in hours (`upper` `None`: and more).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DurationBucket {
    pub lower_hours: i64,
    pub upper_hours: Option<i64>,
    pub count: u64,
}

/// Everything the dashboard shows for one scope and period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dashboard {
    pub period: Period,
    pub total: u64,
    /// Every state, in lifecycle order (zeros included).
    pub by_state: Vec<(ReportState, u64)>,
    /// Every kind (zeros included).
    pub by_kind: Vec<(ReportKind, u64)>,
    /// Top-level categories with at least one report, most first.
    pub by_category: Vec<CategoryCount>,
    /// Open reports whose deadline has passed (red).
    pub open_overdue: u64,
    pub on_time: Rate,
    pub closure: Rate,
    pub median_time_to_close: Option<TimeDelta>,
    pub close_time_histogram: Vec<DurationBucket>,
    pub bind: Rate,
    /// `None` while notices are not available ("n/a").
    pub acknowledgement: Option<Rate>,
    /// The level the ranking is at (the level below the scope's area), if any.
    pub ranking_level: Option<AreaLevel>,
    /// Areas one level below the scope, lowest on-time rate first, then lowest closure rate;
    /// areas without reports last.
    pub ranking: Vec<AreaFigures>,
}

/// Computes the dashboard for `scope` and `period`, seen at `now` (for overdue counts).
pub async fn dashboard(
    db: &impl ConnectionTrait,
    scope: &Scope,
    period: Period,
    now: DateTime<Utc>,
) -> CoreResult<Dashboard> {
    let (by_state, by_kind, by_category, total) = counts(db, scope, period).await?;
    let per_path = per_origin_path(db, scope, period, now).await?;
    let mut totals = PathFigures::default();
    for f in per_path.values() {
        totals.add(f);
    }
    let minutes = close_minutes(db, scope, period).await?;
    let ranking_level = scope_level(db, scope).await?.and_then(AreaLevel::child);
    let ranking = match ranking_level {
        Some(level) => rank(db, scope, level, &per_path).await?,
        None => Vec::new(),
    };
    Ok(Dashboard {
        period,
        total,
        by_state,
        by_kind,
        by_category,
        open_overdue: totals.open_overdue,
        on_time: totals.on_time(),
        closure: totals.closure(),
        median_time_to_close: median_minutes(&minutes),
        close_time_histogram: histogram(&minutes),
        bind: bind_rate(db, scope).await?,
        acknowledgement: acknowledgement(db, scope, period).await?,
        ranking_level,
        ranking,
    })
}

/// Whether the scope is the whole tree (the county): its path has one id (`/1/`).
fn is_whole_tree(scope: &Scope) -> bool {
    scope.area_path().is_root()
}

fn report_filter(scope: &Scope, period: Period) -> sea_orm::Condition {
    let mut cond = sea_orm::Condition::all();
    // For the county the path range holds every row; leaving it out lets SQLite skip-scan the
    // dashboard index by filing time instead of reading the whole range.
    if !is_whole_tree(scope) {
        cond = cond.add(scope.condition(report::Column::OriginAreaPath));
    }
    if let Some(from) = period.from {
        cond = cond.add(report::Column::CreatedAt.gte(from));
    }
    if let Some(to) = period.to {
        cond = cond.add(report::Column::CreatedAt.lt(to));
    }
    cond
}

type Counts = (
    Vec<(ReportState, u64)>,
    Vec<(ReportKind, u64)>,
    Vec<CategoryCount>,
    u64,
);

/// Counts by state, kind and (top-level) category, from one `GROUP BY`.
async fn counts(db: &impl ConnectionTrait, scope: &Scope, period: Period) -> CoreResult<Counts> {
    let rows: Vec<(ReportState, ReportKind, Option<i64>, i64)> = report::Entity::find()
        .select_only()
        .column(report::Column::State)
        .column(report::Column::Kind)
        .column(report::Column::CategoryId)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(report_filter(scope, period))
        // Category first: grouping by state first would tempt SQLite into the state index.
        .group_by(report::Column::CategoryId)
        .group_by(report::Column::Kind)
        .group_by(report::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_state: BTreeMap<usize, u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<usize, u64> = BTreeMap::new();
    let mut by_cat: HashMap<Option<i64>, u64> = HashMap::new();
    let mut total = 0u64;
    for (state, kind, cat, n) in rows {
        let n = u64::try_from(n).unwrap_or(0);
        total += n;
        if let Some(i) = ReportState::ALL.iter().position(|s| *s == state) {
            *by_state.entry(i).or_default() += n;
        }
        if let Some(i) = ReportKind::ALL.iter().position(|k| *k == kind) {
            *by_kind.entry(i).or_default() += n;
        }
        *by_cat.entry(cat).or_default() += n;
    }
    let by_state = ReportState::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, by_state.get(&i).copied().unwrap_or(0)))
        .collect();
    let by_kind = ReportKind::ALL
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, by_kind.get(&i).copied().unwrap_or(0)))
        .collect();

    // Fold subcategories into their top level.
    let cats: HashMap<i64, category::Model> = category::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut top: HashMap<Option<i64>, u64> = HashMap::new();
    for (cat, n) in by_cat {
        let top_id = cat.map(|id| {
            cats.get(&id)
                .and_then(|c| c.parent_id)
                .filter(|p| cats.contains_key(p))
                .unwrap_or(id)
        });
        *top.entry(top_id).or_default() += n;
    }
    let mut by_category: Vec<CategoryCount> = top
        .into_iter()
        .map(|(id, count)| {
            let c = id.and_then(|id| cats.get(&id));
            CategoryCount {
                category_id: id,
                code: c.map_or_else(|| "none".to_owned(), |c| c.code.clone()),
                name_zh: c.map_or_else(|| "未分类".to_owned(), |c| c.name_zh.clone()),
                name_en: c.map_or_else(|| "No category".to_owned(), |c| c.name_en.clone()),
                count,
            }
        })
        .collect();
    by_category.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    Ok((by_state, by_kind, by_category, total))
}

/// Sums per origin area (micro-grid, usually).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PathFigures {
    total: u64,
    closed: u64,
    rejected: u64,
    finished_on_time: u64,
    finished_timed: u64,
    open_overdue: u64,
}

impl PathFigures {
    fn add(&mut self, o: &PathFigures) {
        self.total += o.total;
        self.closed += o.closed;
        self.rejected += o.rejected;
        self.finished_on_time += o.finished_on_time;
        self.finished_timed += o.finished_timed;
        self.open_overdue += o.open_overdue;
    }
    fn on_time(&self) -> Rate {
        Rate::new(
            self.finished_on_time,
            self.finished_timed + self.open_overdue,
        )
    }
    fn closure(&self) -> Rate {
        Rate::new(self.closed, self.total.saturating_sub(self.rejected))
    }
}

fn sum_when(cond: sea_orm::sea_query::SimpleExpr) -> sea_orm::sea_query::SimpleExpr {
    // Literal 1 and 0 (not bound values) so that PostgreSQL sums integers into a bigint.
    let case = Expr::case(cond, Expr::cust("1")).finally(Expr::cust("0"));
    Func::sum(case).into()
}

/// On-time, closure and overdue sums per origin path, from one `GROUP BY`.
async fn per_origin_path(
    db: &impl ConnectionTrait,
    scope: &Scope,
    period: Period,
    now: DateTime<Utc>,
) -> CoreResult<HashMap<String, PathFigures>> {
    let finished = report::Column::State.is_in([ReportState::Resolved, ReportState::Closed]);
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = report::Entity::find()
        .select_only()
        .column(report::Column::OriginAreaPath)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(
            sum_when(report::Column::State.eq(ReportState::Closed)),
            "closed",
        )
        .column_as(
            sum_when(report::Column::State.eq(ReportState::Rejected)),
            "rejected",
        )
        .column_as(
            sum_when(
                finished
                    .clone()
                    .and(report::Column::ResolvedOnTime.eq(true)),
            ),
            "on_time",
        )
        .column_as(
            sum_when(finished.and(report::Column::ResolvedOnTime.is_not_null())),
            "timed",
        )
        .column_as(
            sum_when(
                report::Column::State
                    .is_in(ReportState::OPEN.iter().copied())
                    .and(report::Column::DueAt.lte(now)),
            ),
            "overdue",
        )
        .filter(report_filter(scope, period))
        .group_by(report::Column::OriginAreaPath)
        .into_tuple()
        .all(db)
        .await?;
    let clamp = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|(path, n, closed, rejected, on_time, timed, overdue)| {
            (
                path,
                PathFigures {
                    total: clamp(n),
                    closed: clamp(closed),
                    rejected: clamp(rejected),
                    finished_on_time: clamp(on_time),
                    finished_timed: clamp(timed),
                    open_overdue: clamp(overdue),
                },
            )
        })
        .collect())
}

/// Time from filing to closing of the closed reports, in whole minutes, with how many took
/// that long (one `GROUP BY` over the distinct durations).
async fn close_minutes(
    db: &impl ConnectionTrait,
    scope: &Scope,
    period: Period,
) -> CoreResult<Vec<(i64, u64)>> {
    let minutes = match db.get_database_backend() {
        DbBackend::Postgres => {
            "CAST(FLOOR(EXTRACT(EPOCH FROM (closed_at - created_at)) / 60) AS BIGINT)"
        }
        // julianday() reads the stored ISO 8601 text (with its offset); rounding to whole
        // seconds first keeps float noise from moving a value across a minute.
        _ => "CAST(ROUND((julianday(closed_at) - julianday(created_at)) * 86400) AS INTEGER) / 60",
    };
    let rows: Vec<(i64, i64)> = report::Entity::find()
        .select_only()
        .column_as(Expr::cust(minutes), "minutes")
        .column_as(Expr::cust("COUNT(*)"), "n")
        .filter(report_filter(scope, period))
        // Only closed reports have `closed_at` (reopening clears it). Not filtering on
        // `state` lets SQLite read the covering dashboard index instead of the state index.
        .filter(report::Column::ClosedAt.is_not_null())
        .group_by(Expr::cust(minutes))
        .into_tuple()
        .all(db)
        .await?;
    let mut out: Vec<(i64, u64)> = rows
        .into_iter()
        .map(|(m, n)| (Ord::max(m, 0), u64::try_from(n).unwrap_or(0)))
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// The median of a sorted histogram of minutes (the mean of the two middle values when the
/// count is even).
pub fn median_minutes(sorted: &[(i64, u64)]) -> Option<TimeDelta> {
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let nth = |k: u64| -> i64 {
        let mut seen = 0u64;
        for &(m, n) in sorted {
            seen += n;
            if seen > k {
                return m;
            }
        }
        sorted.last().map_or(0, |&(m, _)| m)
    };
    let (lo, hi) = if total % 2 == 1 {
        (nth(total / 2), nth(total / 2))
    } else {
        (nth(total / 2 - 1), nth(total / 2))
    };
    TimeDelta::try_seconds((lo + hi) * 30)
}

/// Bucket edges of the closing-time chart, in hours.
const HISTOGRAM_EDGES: &[i64] = &[0, 4, 24, 48, 72, 120, 240];

fn histogram(sorted: &[(i64, u64)]) -> Vec<DurationBucket> {
    let mut buckets: Vec<DurationBucket> = HISTOGRAM_EDGES
        .iter()
        .enumerate()
        .map(|(i, &lower)| DurationBucket {
            lower_hours: lower,
            upper_hours: HISTOGRAM_EDGES.get(i + 1).copied(),
            count: 0,
        })
        .collect();
    for &(minutes, n) in sorted {
        let hours = minutes / 60;
        if let Some(b) = buckets.iter_mut().rev().find(|b| hours >= b.lower_hours) {
            b.count += n;
        }
    }
    buckets
}

/// Bound members over members who have not left, in scope.
pub async fn bind_rate(db: &impl ConnectionTrait, scope: &Scope) -> CoreResult<Rate> {
    let row: Option<(i64, i64)> = member::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(Expr::cust("COUNT(telegram_user_id)"), "bound")
        .filter(scope.condition(member::Column::AreaPath))
        .filter(member::Column::Status.ne(MemberStatus::Left))
        .into_tuple()
        .one(db)
        .await?;
    let (n, bound) = row.unwrap_or((0, 0));
    Ok(Rate::new(
        u64::try_from(bound).unwrap_or(0),
        u64::try_from(n).unwrap_or(0),
    ))
}

/// Acknowledged over reachable notice recipients who are members in scope, for notices sent
/// in the period (by their sending time). `None` ("n/a") when no notice reached anyone.
pub async fn acknowledgement(
    db: &impl ConnectionTrait,
    scope: &Scope,
    period: Period,
) -> CoreResult<Option<Rate>> {
    use sea_orm::sea_query::Query;
    let members_in_scope = Query::select()
        .column(member::Column::Id)
        .from(member::Entity)
        .and_where(scope.condition(member::Column::AreaPath))
        .to_owned();
    let mut q = notice_recipient::Entity::find()
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(Expr::cust("COUNT(acknowledged_at)"), "acked")
        .filter(notice_recipient::Column::Reachable.eq(true))
        .filter(notice_recipient::Column::MemberId.in_subquery(members_in_scope));
    if period.from.is_some() || period.to.is_some() {
        let mut notices_in_period = Query::select()
            .column(notice::Column::Id)
            .from(notice::Entity)
            .to_owned();
        if let Some(from) = period.from {
            notices_in_period.and_where(notice::Column::SubmittedAt.gte(from));
        }
        if let Some(to) = period.to {
            notices_in_period.and_where(notice::Column::SubmittedAt.lt(to));
        }
        q = q.filter(notice_recipient::Column::NoticeId.in_subquery(notices_in_period));
    }
    let (n, acked): (i64, i64) = q.into_tuple().one(db).await?.unwrap_or((0, 0));
    if n <= 0 {
        return Ok(None);
    }
    Ok(Some(Rate::new(
        u64::try_from(acked).unwrap_or(0),
        u64::try_from(n).unwrap_or(0),
    )))
}

async fn scope_level(db: &impl ConnectionTrait, scope: &Scope) -> CoreResult<Option<AreaLevel>> {
    Ok(area::Entity::find_by_id(scope.area_id())
        .one(db)
        .await?
        .map(|a| a.level))
}

/// The areas at `level` inside the scope with their figures, lowest first.
async fn rank(
    db: &impl ConnectionTrait,
    scope: &Scope,
    level: AreaLevel,
    per_path: &HashMap<String, PathFigures>,
) -> CoreResult<Vec<AreaFigures>> {
    let children = area::Entity::find()
        .filter(scope.condition(area::Column::Path))
        .filter(area::Column::Level.eq(level))
        .all(db)
        .await?;
    let mut sums: HashMap<i64, PathFigures> = HashMap::new();
    for (path, f) in per_path {
        if let Some(id) = AreaPath::stored(path.as_str()).id_at(level) {
            sums.entry(id).or_default().add(f);
        }
    }
    let mut out: Vec<AreaFigures> = children
        .into_iter()
        .map(|a| {
            let f = sums.get(&a.id).copied().unwrap_or_default();
            AreaFigures {
                area_id: a.id,
                name: a.name,
                level: a.level,
                total: f.total,
                closed: f.closed,
                open_overdue: f.open_overdue,
                on_time: f.on_time(),
                closure: f.closure(),
            }
        })
        .collect();
    out.sort_by(ranking_order);
    Ok(out)
}

/// Lowest on-time rate first, then lowest closure rate, then most overdue; areas without a
/// figure after those with one; then by name.
fn ranking_order(a: &AreaFigures, b: &AreaFigures) -> std::cmp::Ordering {
    fn key(r: Option<f64>) -> (bool, f64) {
        (r.is_none(), r.unwrap_or(0.0))
    }
    let (a1, b1) = (key(a.on_time.ratio()), key(b.on_time.ratio()));
    let (a2, b2) = (key(a.closure.ratio()), key(b.closure.ratio()));
    a1.0.cmp(&b1.0)
        .then(a1.1.total_cmp(&b1.1))
        .then(a2.0.cmp(&b2.0))
        .then(a2.1.total_cmp(&b2.1))
        .then(b.open_overdue.cmp(&a.open_overdue))
        .then_with(|| a.name.cmp(&b.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median_minutes(&[]), None);
        assert_eq!(median_minutes(&[(90, 1)]), TimeDelta::try_minutes(90));
        // 10, 20, 20, 40 → (20 + 20) / 2
        assert_eq!(
            median_minutes(&[(10, 1), (20, 2), (40, 1)]),
            TimeDelta::try_minutes(20)
        );
        // 10, 40 → 25
        assert_eq!(
            median_minutes(&[(10, 1), (40, 1)]),
            TimeDelta::try_minutes(25)
        );
        // 1, 2, 3 → 2
        assert_eq!(
            median_minutes(&[(1, 1), (2, 1), (3, 1)]),
            TimeDelta::try_minutes(2)
        );
    }

    #[test]
    fn rates_and_buckets() {
        assert_eq!(Rate::new(1, 4).percent(), "25.0%");
        assert_eq!(Rate::new(0, 0).percent(), "—");
        let h = histogram(&[(30, 2), (5 * 60, 1), (30 * 60, 1), (1000 * 60, 3)]);
        assert_eq!(h[0].count, 2);
        assert_eq!(h[1].count, 1);
        assert_eq!(h[2].count, 1);
        assert_eq!(h.last().map(|b| b.count), Some(3));
        assert_eq!(h.last().and_then(|b| b.upper_hours), None);
    }
}
