//! What the panel's roster and admin pages change: members (search, deactivate, bind sheets),
//! areas (tree, add, rename), category deadlines, staff users (create, deactivate, reset
//! password) and the audit log search. Every function takes the acting user's scope; anything
//! outside it is `NotFound`. Who may do what is decided here too (see [`may_manage_user`]).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::areas;
use crate::calendar::TimeLimit;
use crate::categories::LimitField;
use crate::domain::{AreaLevel, MemberStatus, StaffRole};
use crate::entity::{area, audit_entry, category, member, staff_user};
use crate::error::{CoreError, CoreResult};
use crate::holidays::{county_day_end, county_day_start};
use crate::members::{self, BindCodeRow};
use crate::problem::Problem;
use crate::scope::Scope;

pub const MEMBERS_PAGE: u64 = 50;
pub const MAX_QUERY_CHARS: usize = 50;

fn like(text: &str) -> LikeExpr {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    LikeExpr::new(out).escape('\\')
}

// ---------------------------------------------------------------------------------------------
// Members

/// One page of members in scope, by id; `q` matches name, phone or bind code.
pub struct MemberPage {
    pub rows: Vec<member::Model>,
    /// The id to continue after, when there are more.
    pub next: Option<i64>,
}

pub async fn members_page(
    db: &impl ConnectionTrait,
    scope: &Scope,
    q: Option<&str>,
    after_id: Option<i64>,
    limit: u64,
) -> CoreResult<MemberPage> {
    let limit = limit.clamp(1, 200);
    let mut query = member::Entity::find().filter(scope.condition(member::Column::AreaPath));
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(CoreError::Invalid(Problem::SearchTooLong {
                max: MAX_QUERY_CHARS,
            }));
        }
        query = query.filter(
            Condition::any()
                .add(Expr::col(member::Column::Name).like(like(q)))
                .add(Expr::col(member::Column::Phone).like(like(q)))
                .add(member::Column::BindCode.eq(members::normalise_bind_code(q))),
        );
    }
    if let Some(after) = after_id {
        query = query.filter(member::Column::Id.gt(after));
    }
    let mut rows = query
        .order_by_asc(member::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(|m| m.id)
    } else {
        None
    };
    Ok(MemberPage { rows, next })
}

/// Marks a member in scope as having left (they can no longer bind or receive anything).
pub async fn deactivate_member(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
    now: DateTime<Utc>,
) -> CoreResult<member::Model> {
    let m = member::Entity::find_by_id(id)
        .filter(scope.condition(member::Column::AreaPath))
        .one(db)
        .await?
        .ok_or(CoreError::NotFound)?;
    if m.status == MemberStatus::Left {
        return Ok(m);
    }
    let mut a: member::ActiveModel = m.into();
    a.status = Set(MemberStatus::Left);
    a.updated_at = Set(now);
    Ok(a.update(db).await?)
}

/// The communities (villages) in scope, for the bind-sheet picker.
pub async fn communities_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<Vec<area::Model>> {
    Ok(area::Entity::find()
        .filter(scope.condition(area::Column::Path))
        .filter(area::Column::Level.eq(AreaLevel::Community))
        .order_by_asc(area::Column::Id)
        .all(db)
        .await?)
}

/// The bind sheet of one community in scope: each member who has not left, with code and
/// deep link, in roster order.
pub async fn bind_sheet(
    db: &impl ConnectionTrait,
    scope: &Scope,
    community_id: i64,
    bot_username: &str,
) -> CoreResult<(area::Model, Vec<BindCodeRow>)> {
    let community = areas::find_in_scope(db, scope, community_id).await?;
    let rows = members::bind_code_sheet(db, &Scope::of_area(&community), bot_username).await?;
    Ok((community, rows))
}

// ---------------------------------------------------------------------------------------------
// Areas

/// The areas in scope down to `max_level`, in tree order, with their depth below the scope.
pub async fn area_tree(
    db: &impl ConnectionTrait,
    scope: &Scope,
    max_level: AreaLevel,
) -> CoreResult<Vec<(area::Model, usize)>> {
    let mut all = area::Entity::find()
        .filter(scope.condition(area::Column::Path))
        .filter(area::Column::Level.lte(max_level))
        .all(db)
        .await?;
    let key = |a: &area::Model| -> Vec<i64> {
        a.path.split('/').filter_map(|s| s.parse().ok()).collect()
    };
    all.sort_by_cached_key(key);
    let base = scope.path().matches('/').count();
    Ok(all
        .into_iter()
        .map(|a| {
            let depth = a.path.matches('/').count().saturating_sub(base);
            (a, depth)
        })
        .collect())
}

fn check_area_name(name: &str) -> CoreResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > areas::MAX_NAME_CHARS || name.contains('/') {
        return Err(CoreError::Invalid(Problem::AreaNameInvalid {
            max: areas::MAX_NAME_CHARS,
        }));
    }
    Ok(name.to_owned())
}

/// Renames an area inside the scope (not the scope's own root unless it is the county).
pub async fn rename_area(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
    name: &str,
) -> CoreResult<area::Model> {
    let name = check_area_name(name)?;
    let a = areas::find_in_scope(db, scope, id).await?;
    if a.id == scope.area_id() && a.level != AreaLevel::County {
        return Err(CoreError::Forbidden(Problem::OwnAreaRename));
    }
    let taken = area::Entity::find()
        .filter(match a.parent_id {
            Some(p) => area::Column::ParentId.eq(p),
            None => area::Column::ParentId.is_null(),
        })
        .filter(area::Column::Name.eq(name.clone()))
        .filter(area::Column::Id.ne(a.id))
        .one(db)
        .await?;
    if taken.is_some() {
        return Err(CoreError::Conflict(Problem::AreaNameTaken));
    }
    let mut active: area::ActiveModel = a.into();
    active.name = Set(name);
    Ok(active.update(db).await?)
}

/// Adds an area under `parent_id` (in scope), one level below it.
pub async fn add_area(
    db: &impl ConnectionTrait,
    scope: &Scope,
    parent_id: i64,
    name: &str,
) -> CoreResult<area::Model> {
    let name = check_area_name(name)?;
    let parent = areas::find_in_scope(db, scope, parent_id).await?;
    let level = parent
        .level
        .child()
        .ok_or_else(|| CoreError::Invalid(Problem::AreaHasNoChildren))?;
    let taken = area::Entity::find()
        .filter(area::Column::ParentId.eq(parent.id))
        .filter(area::Column::Name.eq(name.clone()))
        .one(db)
        .await?;
    if taken.is_some() {
        return Err(CoreError::Conflict(Problem::AreaNameTaken));
    }
    areas::insert_child(db, Some(&parent), level, &name).await
}

// ---------------------------------------------------------------------------------------------
// Categories

/// The six limits of a category, as typed (`""` = inherit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitTexts {
    pub accept_normal: String,
    pub accept_urgent: String,
    pub accept_critical: String,
    pub handle_normal: String,
    pub handle_urgent: String,
    pub handle_critical: String,
}

/// Sets a category's time limits; each must parse as a [`TimeLimit`] (`30m`, `4h`, `2wd`) or
/// be empty (inherit). Nothing is saved when one is wrong; the error names the field.
pub async fn set_category_limits(
    db: &impl ConnectionTrait,
    id: i64,
    limits: &LimitTexts,
) -> CoreResult<category::Model> {
    let cat = category::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(CoreError::NotFound)?;
    let parse = |field: LimitField, text: &str| -> CoreResult<Option<String>> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        TimeLimit::parse(text)
            .map(|l| Some(l.to_string()))
            .map_err(|_| {
                CoreError::Invalid(Problem::TimeLimitInvalid {
                    field,
                    text: text.to_owned(),
                })
            })
    };
    let mut a: category::ActiveModel = cat.into();
    a.accept_normal = Set(parse(LimitField::AcceptNormal, &limits.accept_normal)?);
    a.accept_urgent = Set(parse(LimitField::AcceptUrgent, &limits.accept_urgent)?);
    a.accept_critical = Set(parse(LimitField::AcceptCritical, &limits.accept_critical)?);
    a.handle_normal = Set(parse(LimitField::HandleNormal, &limits.handle_normal)?);
    a.handle_urgent = Set(parse(LimitField::HandleUrgent, &limits.handle_urgent)?);
    a.handle_critical = Set(parse(LimitField::HandleCritical, &limits.handle_critical)?);
    Ok(a.update(db).await?)
}

// ---------------------------------------------------------------------------------------------
// Staff users

/// Whether `actor` may create or change a user with `role` whose scope is at `area_path`:
/// county admins anyone; town admins town admins, secretaries and viewers inside their town;
/// nobody else.
pub fn may_manage_user(actor: &staff_user::Model, role: StaffRole, area_path: &str) -> bool {
    match actor.role {
        StaffRole::CountyAdmin => actor.scope().contains(area_path),
        StaffRole::TownAdmin => role != StaffRole::CountyAdmin && actor.scope().contains(area_path),
        StaffRole::Secretary | StaffRole::Viewer => false,
    }
}

/// Staff users whose scope lies inside the actor's, by username.
pub async fn users_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<Vec<staff_user::Model>> {
    Ok(staff_user::Entity::find()
        .filter(scope.condition(staff_user::Column::AreaPath))
        .order_by_asc(staff_user::Column::Username)
        .all(db)
        .await?)
}

pub async fn create_user(
    db: &impl ConnectionTrait,
    actor: &staff_user::Model,
    username: &str,
    password: &str,
    role: StaffRole,
    area_id: i64,
) -> CoreResult<staff_user::Model> {
    let area = areas::find_in_scope(db, &actor.scope(), area_id).await?;
    if !may_manage_user(actor, role, &area.path) {
        return Err(CoreError::Forbidden(Problem::MayNotManageUser));
    }
    crate::staff::create(db, username, password, role, &area).await
}

async fn managed_user(
    db: &impl ConnectionTrait,
    actor: &staff_user::Model,
    id: i64,
) -> CoreResult<staff_user::Model> {
    let u = staff_user::Entity::find_by_id(id)
        .filter(actor.scope().condition(staff_user::Column::AreaPath))
        .one(db)
        .await?
        .ok_or(CoreError::NotFound)?;
    if u.id == actor.id || !may_manage_user(actor, u.role, &u.area_path) {
        return Err(CoreError::Forbidden(Problem::MayNotManageUser));
    }
    Ok(u)
}

/// Deactivates (or reactivates) a user; their sessions and API tokens stop working with it.
pub async fn set_user_active(
    db: &impl ConnectionTrait,
    actor: &staff_user::Model,
    id: i64,
    active: bool,
) -> CoreResult<staff_user::Model> {
    let u = managed_user(db, actor, id).await?;
    let mut a: staff_user::ActiveModel = u.into();
    a.active = Set(active);
    Ok(a.update(db).await?)
}

/// Gives a user a new random password (returned once), to be changed at next login.
pub async fn reset_password(
    db: &impl ConnectionTrait,
    actor: &staff_user::Model,
    id: i64,
) -> CoreResult<(staff_user::Model, String)> {
    let u = managed_user(db, actor, id).await?;
    let password = crate::staff::generate_password();
    let hash = crate::staff::hash_password(&password).await?;
    let mut a: staff_user::ActiveModel = u.into();
    a.password_hash = Set(hash);
    a.must_change_password = Set(true);
    Ok((a.update(db).await?, password))
}

// ---------------------------------------------------------------------------------------------
// Audit log

#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub staff_id: Option<i64>,
    /// County-local days, inclusive.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub before_id: Option<i64>,
}

/// Audit lines of actors inside the scope (and, for the county, of nobody: failed logins and
/// the system), newest first, with the usernames of their actors.
pub async fn audit_search(
    db: &impl ConnectionTrait,
    scope: &Scope,
    is_root: bool,
    q: &AuditQuery,
    limit: u64,
) -> CoreResult<(Vec<audit_entry::Model>, HashMap<i64, String>)> {
    let mut query = audit_entry::Entity::find().filter(crate::audit::visible_in(scope, is_root));
    if let Some(id) = q.staff_id {
        query = query.filter(audit_entry::Column::StaffId.eq(id));
    }
    if let Some(from) = q.from {
        query = query.filter(audit_entry::Column::At.gte(county_day_start(from)?));
    }
    if let Some(to) = q.to {
        query = query.filter(audit_entry::Column::At.lt(county_day_end(to)?));
    }
    if let Some(before) = q.before_id {
        query = query.filter(audit_entry::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit.clamp(1, 500))
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.staff_id).collect();
    let names = if ids.is_empty() {
        HashMap::new()
    } else {
        staff_user::Entity::find()
            .filter(staff_user::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect()
    };
    Ok((rows, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: StaffRole, path: &str) -> staff_user::Model {
        staff_user::Model {
            id: 1,
            username: "u".into(),
            display_name: "u".into(),
            password_hash: String::new(),
            role,
            area_id: 1,
            area_path: path.into(),
            active: true,
            must_change_password: false,
            created_at: Utc::now(),
            last_login_at: None,
        }
    }

    #[test]
    fn who_manages_whom() {
        let county = user(StaffRole::CountyAdmin, "/1/");
        let town = user(StaffRole::TownAdmin, "/1/5/");
        let sec = user(StaffRole::Secretary, "/1/5/9/");
        assert!(may_manage_user(&county, StaffRole::CountyAdmin, "/1/"));
        assert!(may_manage_user(&town, StaffRole::Secretary, "/1/5/9/"));
        assert!(!may_manage_user(&town, StaffRole::CountyAdmin, "/1/5/"));
        assert!(!may_manage_user(&town, StaffRole::Secretary, "/1/6/"));
        assert!(!may_manage_user(&sec, StaffRole::Viewer, "/1/5/9/"));
        assert!(check_area_name("a/b").is_err());
        assert!(check_area_name(" 新社区 ").is_ok());
    }
}
