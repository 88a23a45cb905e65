//! The panel's inbox: the reports a scope may see, filtered, sorted and paged by keyset (never a
//! deep OFFSET), with counts per state, plus the staff actions on them (one at a time or in
//! bulk), each through [`lifecycle::transition_in`] with its audit line in the same
//! transaction.
//!
//! Rows carry no personal data: residents' names and phones stay on the report page.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, NullOrdering, Order};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Select,
};

use crate::areas;
use crate::audit;
use crate::calendar::Light;
use crate::counters;
use crate::db::Db;
use crate::domain::{AreaPath, ReportKind, ReportState, Urgency};
use crate::entity::{area, category, report};
use crate::error::{CoreError, CoreResult};
use crate::holidays::{county_day_end, county_day_start};
use crate::lifecycle::{self, Action, Actor, LifecycleError, StaffActor, Transition};
use crate::problem::Problem;
use crate::scope::Scope;

/// Named here for the panel's call sites; they live in [`crate::areas`].
pub use crate::areas::{area_names, display_or_county};

/// Rows per page unless asked otherwise, and the most a page may hold.
pub const DEFAULT_PAGE: u64 = 50;
pub const MAX_PAGE: u64 = 200;
/// Longest search text accepted.
pub const MAX_SEARCH_CHARS: usize = 100;
/// Most reports one bulk action takes.
pub const MAX_BULK: usize = 200;
/// Above this many matching reports, the counts of a filter the counters cannot answer are
/// shown as "1,000+" in a wide scope (see [`InboxPage::counts_capped`]).
pub const COUNT_CAP: u64 = 1000;
/// Characters of the description shown in a row.
pub const EXCERPT_CHARS: usize = 80;

/// What to show. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InboxFilter {
    pub states: Vec<ReportState>,
    pub kind: Option<ReportKind>,
    /// A category, with its subcategories.
    pub category_id: Option<i64>,
    /// An area inside the scope, with its subtree (by where reports come from).
    pub area_id: Option<i64>,
    pub urgency: Option<Urgency>,
    pub light: Option<Light>,
    /// Filed on or after this county-local day.
    pub from: Option<NaiveDate>,
    /// Filed on or before this county-local day.
    pub to: Option<NaiveDate>,
    /// Text in the description or the address.
    pub text: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InboxSort {
    #[default]
    Newest,
    Oldest,
    DueSoonest,
}

impl InboxSort {
    pub const ALL: &'static [InboxSort] =
        &[InboxSort::Newest, InboxSort::Oldest, InboxSort::DueSoonest];
    pub fn code(self) -> &'static str {
        match self {
            InboxSort::Newest => "newest",
            InboxSort::Oldest => "oldest",
            InboxSort::DueSoonest => "due",
        }
    }
    pub fn parse(s: &str) -> Option<InboxSort> {
        InboxSort::ALL.iter().copied().find(|x| x.code() == s)
    }
}

/// Where the next page starts: the sort key and id of the last row shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Newest / oldest: by report number.
    Id(i64),
    /// Due soonest: by deadline (none last), then number.
    Due(Option<DateTime<Utc>>, i64),
}

impl Cursor {
    /// Text for a URL: `i123`, `d<nanos>_123`, `n_123`.
    pub fn encode(&self) -> String {
        match self {
            Cursor::Id(id) => format!("i{id}"),
            Cursor::Due(Some(d), id) => match d.timestamp_nanos_opt() {
                Some(n) => format!("d{n}_{id}"),
                None => format!("n_{id}"),
            },
            Cursor::Due(None, id) => format!("n_{id}"),
        }
    }

    pub fn decode(s: &str) -> CoreResult<Cursor> {
        let bad = || CoreError::Invalid(Problem::BadPageCursor);
        if let Some(id) = s.strip_prefix('i') {
            return id.parse().map(Cursor::Id).map_err(|_| bad());
        }
        if let Some(id) = s.strip_prefix("n_") {
            return id
                .parse()
                .map(|id| Cursor::Due(None, id))
                .map_err(|_| bad());
        }
        if let Some(rest) = s.strip_prefix('d') {
            let (nanos, id) = rest.split_once('_').ok_or_else(bad)?;
            let nanos: i64 = nanos.parse().map_err(|_| bad())?;
            let id: i64 = id.parse().map_err(|_| bad())?;
            return Ok(Cursor::Due(Some(DateTime::from_timestamp_nanos(nanos)), id));
        }
        Err(bad())
    }

    fn matches(&self, sort: InboxSort) -> bool {
        matches!(
            (self, sort),
            (Cursor::Id(_), InboxSort::Newest | InboxSort::Oldest)
                | (Cursor::Due(..), InboxSort::DueSoonest)
        )
    }
}

/// One inbox line. No personal data.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxRow {
    pub id: i64,
    pub kind: ReportKind,
    pub state: ReportState,
    pub category_id: Option<i64>,
    pub urgency: Urgency,
    pub excerpt: String,
    pub address: Option<String>,
    /// Where it comes from, as names below the county (`晋原街道/长乐社区/…`).
    pub origin: String,
    /// Who handles it now, as names.
    pub handling: String,
    pub escalation_level: i16,
    pub has_assignee: bool,
    pub created_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    /// `None` when no deadline runs.
    pub light: Option<Light>,
    /// Filed in the chat simulator.
    pub simulated: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InboxPage {
    pub rows: Vec<InboxRow>,
    /// Present when there are more rows.
    pub next: Option<Cursor>,
    /// Reports per state for the filter without its state part, every state listed.
    pub counts: Vec<(ReportState, u64)>,
    /// The counts stopped at [`COUNT_CAP`]: more than that many reports match, and `counts`
    /// are those of the first `COUNT_CAP + 1` found (lower bounds). Only for a filter the
    /// maintained counters cannot answer in a scope holding most reports, where an exact
    /// count would read every row (a text search, a category…).
    pub counts_capped: bool,
}

impl InboxPage {
    /// Sum of the counts of the states the filter asks for (all when none).
    pub fn total(&self, filter: &InboxFilter) -> u64 {
        self.counts
            .iter()
            .filter(|(s, _)| filter.states.is_empty() || filter.states.contains(s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The light of a report's running deadline at `now`.
pub fn light_of(r: &report::Model, now: DateTime<Utc>) -> Option<Light> {
    let due = r.due_at?;
    if now >= due {
        Some(Light::Red)
    } else if r.warn_at.is_some_and(|w| now >= w) {
        Some(Light::Yellow)
    } else {
        Some(Light::Green)
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `\` as escape character.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The WHERE clause of an inbox filter inside `scope` (what the inbox lists; exports and the
/// JSON API use it so they hold exactly the same rows).
pub async fn filter_condition(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    f: &InboxFilter,
    now: DateTime<Utc>,
) -> CoreResult<Condition> {
    condition(conn, scope, f, true, now).await
}

/// How the scope's path range is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Range {
    /// An indexable range: the planner may start from the path index.
    Indexed,
    /// On SQLite, the same range as a plain filter (`+origin_area_path`, which no index
    /// serves): for a scope holding most reports, walking the id (or state, or deadline) index
    /// in the page's order and skipping the few rows outside is far cheaper than reading the
    /// whole range and sorting it, and SQLite's planner (without range statistics) does not
    /// see that. PostgreSQL's planner does, so it always gets the indexable form.
    Filter,
}

/// The scope's path range on `origin_area_path`.
fn scope_range(scope: &Scope, range: Range, backend: sea_orm::DbBackend) -> Condition {
    if range == Range::Filter && backend == sea_orm::DbBackend::Sqlite {
        Condition::all().add(Expr::cust_with_values(
            "+\"origin_area_path\" >= ? AND +\"origin_area_path\" < ?",
            [scope.path().to_owned(), scope.path_end()],
        ))
    } else {
        Condition::all().add(scope.condition(report::Column::OriginAreaPath))
    }
}

/// The WHERE part shared by the page and the counts (`with_states` = include the state filter).
async fn condition(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    f: &InboxFilter,
    with_states: bool,
    now: DateTime<Utc>,
) -> CoreResult<Condition> {
    condition_with(conn, scope, f, with_states, Range::Indexed, now).await
}

async fn condition_with(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    f: &InboxFilter,
    with_states: bool,
    range: Range,
    now: DateTime<Utc>,
) -> CoreResult<Condition> {
    use report::Column as C;
    let mut cond = Condition::all().add(scope_range(scope, range, conn.get_database_backend()));
    if with_states && !f.states.is_empty() {
        cond = cond.add(C::State.is_in(f.states.iter().copied()));
    }
    if let Some(kind) = f.kind {
        cond = cond.add(C::Kind.eq(kind));
    }
    if let Some(cat) = f.category_id {
        let mut ids: Vec<i64> = category::Entity::find()
            .filter(category::Column::ParentId.eq(cat))
            .all(conn)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.push(cat);
        cond = cond.add(C::CategoryId.is_in(ids));
    }
    if let Some(area_id) = f.area_id {
        let area = areas::find_in_scope(conn, scope, area_id).await?;
        cond = cond.add(Scope::of_area(&area).condition(C::OriginAreaPath));
    }
    if let Some(u) = f.urgency {
        cond = cond.add(C::Urgency.eq(u));
    }
    match f.light {
        Some(Light::Red) => cond = cond.add(C::DueAt.lte(now)),
        Some(Light::Yellow) => cond = cond.add(C::WarnAt.lte(now)).add(C::DueAt.gt(now)),
        Some(Light::Green) => cond = cond.add(C::DueAt.gt(now)).add(C::WarnAt.gt(now)),
        None => {}
    }
    if let Some(from) = f.from {
        cond = cond.add(C::CreatedAt.gte(county_day_start(from)?));
    }
    if let Some(to) = f.to {
        cond = cond.add(C::CreatedAt.lt(county_day_end(to)?));
    }
    if let Some(text) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > MAX_SEARCH_CHARS {
            return Err(CoreError::Invalid(Problem::SearchTooLong {
                max: MAX_SEARCH_CHARS,
            }));
        }
        let pat = like_pattern(text);
        cond = cond.add(
            Condition::any()
                .add(Expr::col(C::Description).like(LikeExpr::new(pat.clone()).escape('\\')))
                .add(Expr::col(C::Address).like(LikeExpr::new(pat).escape('\\'))),
        );
    }
    Ok(cond)
}

fn keyset(
    q: Select<report::Entity>,
    sort: InboxSort,
    after: Option<&Cursor>,
) -> Select<report::Entity> {
    use report::Column as C;
    let q = match (sort, after) {
        (InboxSort::Newest, Some(Cursor::Id(id))) => q.filter(C::Id.lt(*id)),
        (InboxSort::Oldest, Some(Cursor::Id(id))) => q.filter(C::Id.gt(*id)),
        (InboxSort::DueSoonest, Some(Cursor::Due(Some(d), id))) => q.filter(
            Condition::any()
                .add(C::DueAt.gt(*d))
                .add(Condition::all().add(C::DueAt.eq(*d)).add(C::Id.gt(*id)))
                .add(C::DueAt.is_null()),
        ),
        (InboxSort::DueSoonest, Some(Cursor::Due(None, id))) => {
            q.filter(C::DueAt.is_null()).filter(C::Id.gt(*id))
        }
        _ => q,
    };
    match sort {
        InboxSort::Newest => q.order_by_desc(C::Id),
        InboxSort::Oldest => q.order_by_asc(C::Id),
        InboxSort::DueSoonest => q
            .order_by_with_nulls(C::DueAt, Order::Asc, NullOrdering::Last)
            .order_by_asc(C::Id),
    }
}

/// One page of the inbox of `scope`.
pub async fn list(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    filter: &InboxFilter,
    sort: InboxSort,
    after: Option<&Cursor>,
    limit: u64,
    now: DateTime<Utc>,
) -> CoreResult<InboxPage> {
    if let Some(c) = after
        && !c.matches(sort)
    {
        return Err(CoreError::Invalid(Problem::BadPageCursor));
    }
    let limit = limit.clamp(1, MAX_PAGE);
    let wide_scope = wide(conn, scope).await?;
    let range = if wide_scope {
        Range::Filter
    } else {
        Range::Indexed
    };
    let cond = condition_with(conn, scope, filter, true, range, now).await?;
    let mut models = keyset(report::Entity::find().filter(cond), sort, after)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let more = models.len() as u64 > limit;
    models.truncate(limit as usize);
    let next = if more {
        models.last().map(|r| match sort {
            InboxSort::DueSoonest => Cursor::Due(r.due_at, r.id),
            _ => Cursor::Id(r.id),
        })
    } else {
        None
    };

    let (counts, counts_capped) = state_counts(conn, scope, filter, wide_scope, now).await?;

    let names = area_names(
        conn,
        models
            .iter()
            .flat_map(|r| [r.origin_area_path.as_str(), r.handling_area_path.as_str()]),
    )
    .await?;
    let rows = models
        .iter()
        .map(|r| InboxRow {
            id: r.id,
            kind: r.kind,
            state: r.state,
            category_id: r.category_id,
            urgency: r.urgency,
            excerpt: crate::text::excerpt(&r.description, EXCERPT_CHARS),
            address: r.address.clone(),
            origin: areas::display_path(&r.origin_area_path, &names),
            handling: display_or_county(&r.handling_area_path, &names),
            escalation_level: r.escalation_level,
            has_assignee: r.assignee_member_id.is_some() || r.assignee_staff_id.is_some(),
            created_at: r.created_at,
            due_at: r.due_at,
            light: light_of(r, now),
            simulated: r.simulated,
        })
        .collect();
    Ok(InboxPage {
        rows,
        next,
        counts,
        counts_capped,
    })
}

/// Whether the scope holds so many reports that a page is found faster by walking an index in
/// the page's order (reading about `limit · total / in_scope` rows) than by reading the
/// scope's whole path range and sorting it (`in_scope` rows): `in_scope² > 64 · total`.
/// Decided from the counters, so only for scopes they answer; the county always is.
async fn wide(conn: &impl ConnectionTrait, scope: &Scope) -> CoreResult<bool> {
    if !counters::answers(scope.path()) {
        return Ok(false);
    }
    if scope.area_path().is_root() {
        // The county: the range holds every report.
        return Ok(true);
    }
    let root_path = scope.area_path().root_path();
    let in_scope: u64 = counters::state_counts(conn, scope.path(), None)
        .await?
        .values()
        .sum();
    let total: u64 = counters::state_counts(conn, root_path.as_str(), None)
        .await?
        .values()
        .sum();
    Ok(in_scope.saturating_mul(in_scope) > total.saturating_mul(64))
}

/// Reports per state (every state listed) for `filter` without its state part: from the
/// maintained counters when the filter is only a kind and/or an area and the subtree is made of
/// whole communities (see [`crate::counters`]), otherwise by counting the rows.
async fn state_counts(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    filter: &InboxFilter,
    wide_scope: bool,
    now: DateTime<Utc>,
) -> CoreResult<(Vec<(ReportState, u64)>, bool)> {
    let only_kind_and_area = InboxFilter {
        states: Vec::new(),
        kind: filter.kind,
        area_id: filter.area_id,
        ..InboxFilter::default()
    } == InboxFilter {
        states: Vec::new(),
        ..filter.clone()
    } && filter.text.as_deref().is_none_or(|t| t.trim().is_empty());
    let subtree = if only_kind_and_area {
        match filter.area_id {
            // Checked against the scope as the row query does.
            Some(id) => Some(areas::find_in_scope(conn, scope, id).await?.path),
            None => Some(scope.path().to_owned()),
        }
    } else {
        None
    };
    let mut capped = false;
    let by_state: HashMap<ReportState, u64> = match subtree {
        Some(path) if counters::answers(&path) => {
            counters::state_counts(conn, &path, filter.kind).await?
        }
        _ if wide_scope => {
            // Count at most COUNT_CAP + 1 matching rows, found the way the page finds its rows.
            let count_cond = condition_with(conn, scope, filter, false, Range::Filter, now).await?;
            let states: Vec<ReportState> = report::Entity::find()
                .select_only()
                .column(report::Column::State)
                .filter(count_cond)
                .limit(COUNT_CAP + 1)
                .into_tuple()
                .all(conn)
                .await?;
            capped = states.len() as u64 > COUNT_CAP;
            let mut m = HashMap::new();
            for s in states {
                *m.entry(s).or_default() += 1;
            }
            m
        }
        _ => {
            let count_cond = condition(conn, scope, filter, false, now).await?;
            let grouped: Vec<(ReportState, i64)> = report::Entity::find()
                .select_only()
                .column(report::Column::State)
                .column_as(Expr::col(report::Column::Id).count(), "n")
                .filter(count_cond)
                .group_by(report::Column::State)
                .into_tuple()
                .all(conn)
                .await?;
            grouped
                .into_iter()
                .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
                .collect()
        }
    };
    let counts = ReportState::ALL
        .iter()
        .map(|s| (*s, by_state.get(s).copied().unwrap_or(0)))
        .collect();
    Ok((counts, capped))
}

/// A staff action on one report: the transition and its audit line, in one transaction. A
/// refusal is audited too (as `report.<action>.refused`), then returned.
pub async fn act(
    db: &Db,
    staff: &StaffActor,
    report_id: i64,
    action: Action,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Transition, LifecycleError> {
    let code = action.code();
    let target = format!("report:{report_id}");
    let txn = db.write().await?;
    match act_in(&*txn, staff, report_id, action, ip, now).await {
        Ok(t) => {
            txn.commit().await?;
            Ok(t)
        }
        Err(e) => {
            drop(txn);
            if let LifecycleError::Refused(r) = &e {
                let wtxn = db.write().await?;
                audit::record_at(
                    &*wtxn,
                    Some(staff.id),
                    &format!("report.{code}.refused"),
                    Some(&target),
                    Some(&r.to_string()),
                    ip,
                    now,
                )
                .await?;
                wtxn.commit().await?;
            }
            Err(e)
        }
    }
}

/// A staff action on one report inside the caller's transaction: the transition and its audit
/// line (a refusal is returned, not audited: see [`act`]).
pub async fn act_in(
    conn: &impl ConnectionTrait,
    staff: &StaffActor,
    report_id: i64,
    action: Action,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Transition, LifecycleError> {
    let code = action.code();
    let t = lifecycle::transition_in(conn, &Actor::Staff(staff.clone()), report_id, action, now)
        .await?;
    audit_transition(conn, staff.id, code, &t, ip, now).await?;
    Ok(t)
}

/// The audit line of a staff action that went through: `report.<action>`, `from → to`.
async fn audit_transition(
    conn: &impl ConnectionTrait,
    staff_id: i64,
    code: &str,
    t: &Transition,
    ip: Option<&str>,
    at: DateTime<Utc>,
) -> CoreResult<()> {
    let detail = format!(
        "{} → {}",
        t.event.from_state.map(|s| s.code()).unwrap_or("-"),
        t.report.state.code()
    );
    let target = format!("report:{}", t.report.id);
    let action = format!("report.{code}");
    audit::record_at(
        conn,
        Some(staff_id),
        &action,
        Some(&target),
        Some(&detail),
        ip,
        at,
    )
    .await?;
    Ok(())
}

/// The same action on several reports, each in its own transaction (one refusal does not undo
/// the others). Returns each id with its outcome, in the order given, duplicates removed.
pub async fn bulk(
    db: &Db,
    staff: &StaffActor,
    ids: &[i64],
    action: &Action,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<Vec<(i64, Result<Transition, LifecycleError>)>> {
    if ids.len() > MAX_BULK {
        return Err(CoreError::Invalid(Problem::TooManyReports {
            max: MAX_BULK,
        }));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for &id in ids {
        if seen.insert(id) {
            out.push((id, act(db, staff, id, action.clone(), ip, now).await));
        }
    }
    Ok(out)
}

/// The scope's area and its descendants down to `depth` levels below, in tree order, each with
/// its depth (for the inbox's area filter).
pub async fn area_options(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    depth: usize,
) -> CoreResult<Vec<(area::Model, usize)>> {
    let top = area::Entity::find_by_id(scope.area_id())
        .one(conn)
        .await?
        .ok_or(CoreError::NotFound)?;
    let max_level = top.level as i16 + depth as i16;
    let mut rows: Vec<area::Model> = area::Entity::find()
        .filter(scope.condition(area::Column::Path))
        .filter(area::Column::Level.lte(max_level))
        .limit(5000)
        .all(conn)
        .await?;
    let key = |a: &area::Model| -> Vec<i64> { AreaPath::stored(a.path.as_str()).ids().collect() };
    rows.sort_by_cached_key(key);
    let base = top.level as usize;
    Ok(rows
        .into_iter()
        .map(|a| {
            let d = (a.level as usize).saturating_sub(base);
            (a, d)
        })
        .collect())
}

/// One page of whole report rows of the inbox of `scope` (the JSON API): the inbox's filter
/// and its newest-first keyset, `after_id` being the number of the last row of the previous
/// page. Returns the rows and the number to continue after when there are more.
pub async fn reports_page(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    filter: &InboxFilter,
    after_id: Option<i64>,
    limit: u64,
    now: DateTime<Utc>,
) -> CoreResult<(Vec<report::Model>, Option<i64>)> {
    let range = if wide(conn, scope).await? {
        Range::Filter
    } else {
        Range::Indexed
    };
    let cond = condition_with(conn, scope, filter, true, range, now).await?;
    let after = after_id.map(Cursor::Id);
    let rows = keyset(
        report::Entity::find().filter(cond),
        InboxSort::Newest,
        after.as_ref(),
    )
    .limit(limit + 1)
    .all(conn)
    .await?;
    Ok(crate::paging::split(rows, limit, |r| r.id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let d = DateTime::from_timestamp_nanos(1_772_000_000_123_456_789);
        for c in [
            Cursor::Id(42),
            Cursor::Due(Some(d), 7),
            Cursor::Due(None, 9),
        ] {
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
        for bad in ["", "x1", "i", "iabc", "d12", "d_1", "n_x", "d1_"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_and_excerpts() {
        assert_eq!(like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
