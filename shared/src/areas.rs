//! The area tree: county → town/street → village/community → grid → micro-grid. Reads take a
//! [`Scope`]; the staff commands of the areas page ([`add`], [`rename`]) check the actor's
//! role and scope, make the change and write its audit line in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::db::Db;
use crate::domain::{AreaLevel, AreaPath};
use crate::entity::area::{self, Entity as Area};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;
use crate::scope::Scope;

/// Longest name of an area.
pub const MAX_NAME_CHARS: usize = 60;

/// The county (root) area, created on first use with the configured name.
pub async fn ensure_root(db: &impl ConnectionTrait, county_name: &str) -> CoreResult<area::Model> {
    if let Some(root) = find_root(db).await? {
        return Ok(root);
    }
    insert_child(db, None, AreaLevel::County, county_name).await
}

pub async fn find_root(db: &impl ConnectionTrait) -> CoreResult<Option<area::Model>> {
    Ok(Area::find()
        .filter(area::Column::Level.eq(AreaLevel::County))
        .order_by_asc(area::Column::Id)
        .one(db)
        .await?)
}

/// The whole county.
pub async fn root_scope(db: &impl ConnectionTrait) -> CoreResult<Scope> {
    find_root(db)
        .await?
        .map(|a| Scope::of_area(&a))
        .ok_or(CoreError::NotFound)
}

/// Inserts an area under `parent` (the root when `None`) and fills in its path.
pub async fn insert_child(
    db: &impl ConnectionTrait,
    parent: Option<&area::Model>,
    level: AreaLevel,
    name: &str,
) -> CoreResult<area::Model> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CoreError::Invalid(Problem::AreaNameInvalid {
            max: MAX_NAME_CHARS,
        }));
    }
    let inserted = area::ActiveModel {
        parent_id: Set(parent.map(|p| p.id)),
        level: Set(level),
        name: Set(name.to_owned()),
        // Unique placeholder until the id is known.
        path: Set(format!("#pending#{}#{}", parent.map_or(0, |p| p.id), name)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let path = match parent {
        Some(p) => AreaPath::stored(p.path.clone()).child(inserted.id),
        None => AreaPath::root(inserted.id),
    };
    let mut active: area::ActiveModel = inserted.into();
    active.path = Set(path.into_string());
    Ok(active.update(db).await?)
}

/// Finds an area in scope by its id.
pub async fn find_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
) -> CoreResult<area::Model> {
    Area::find_by_id(id)
        .filter(scope.condition(area::Column::Path))
        .one(db)
        .await?
        .ok_or(CoreError::NotFound)
}

/// Resolves a path of names below the county, e.g. `晋原街道/长乐社区`. Empty means the county.
pub async fn resolve_names(db: &impl ConnectionTrait, names: &str) -> CoreResult<area::Model> {
    let mut current = find_root(db).await?.ok_or(CoreError::NotFound)?;
    for name in names.split('/').map(str::trim).filter(|n| !n.is_empty()) {
        current = Area::find()
            .filter(area::Column::ParentId.eq(current.id))
            .filter(area::Column::Name.eq(name))
            .one(db)
            .await?
            .ok_or_else(|| {
                CoreError::Invalid(Problem::NoSuchAreaName {
                    name: name.to_owned(),
                })
            })?;
    }
    Ok(current)
}

/// Counts the areas of each level inside the scope (the scope's own area included).
pub async fn count_by_level(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<HashMap<AreaLevel, u64>> {
    let mut out = HashMap::new();
    for &level in AreaLevel::ALL {
        let n = Area::find()
            .filter(scope.condition(area::Column::Path))
            .filter(area::Column::Level.eq(level))
            .count(db)
            .await?;
        out.insert(level, n);
    }
    Ok(out)
}

/// Names of every area in scope keyed by id, for rendering paths (`晋原街道/长乐社区/…`).
pub async fn names_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<HashMap<i64, area::Model>> {
    Ok(Area::find()
        .filter(scope.condition(area::Column::Path))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect())
}

/// `晋原街道/长乐社区/第1网格/第1网格-1号微网格` for a path, leaving out the county.
pub fn display_path(path: &str, areas: &HashMap<i64, area::Model>) -> String {
    AreaPath::stored(path)
        .ids()
        .filter_map(|id| areas.get(&id))
        .filter(|a| a.level != AreaLevel::County)
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join("/")
}

/// The display path, or the county's name for the root.
pub fn display_or_county(path: &str, names: &HashMap<i64, area::Model>) -> String {
    let shown = display_path(path, names);
    if shown.is_empty() {
        AreaPath::stored(path)
            .ids()
            .next()
            .and_then(|id| names.get(&id))
            .map(|a| a.name.clone())
            .unwrap_or_default()
    } else {
        shown
    }
}

/// The areas named along some paths (only those, not the whole tree), keyed by id.
pub async fn area_names<'a>(
    db: &impl ConnectionTrait,
    paths: impl IntoIterator<Item = &'a str>,
) -> CoreResult<HashMap<i64, area::Model>> {
    let ids: HashSet<i64> = paths
        .into_iter()
        .flat_map(|p| AreaPath::stored(p).ids().collect::<Vec<_>>())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(Area::find()
        .filter(area::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect())
}

/// The areas in scope down to `max_level`, in tree order, with their depth below the scope.
pub async fn tree(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    max_level: AreaLevel,
) -> CoreResult<Vec<(area::Model, usize)>> {
    let mut all = Area::find()
        .filter(scope.condition(area::Column::Path))
        .filter(area::Column::Level.lte(max_level))
        .all(conn)
        .await?;
    all.sort_by_cached_key(|a| path_ids(&a.path));
    let base = scope.path().matches('/').count();
    Ok(all
        .into_iter()
        .map(|a| {
            let depth = a.path.matches('/').count().saturating_sub(base);
            (a, depth)
        })
        .collect())
}

/// The ids along a path, root first (the tree order of areas created in roster order).
pub fn path_ids(path: &str) -> Vec<i64> {
    AreaPath::stored(path).ids().collect()
}

/// The areas of some levels in scope, by path, at most `limit` (the notice audience picker).
pub async fn at_levels(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    levels: &[AreaLevel],
    limit: u64,
) -> CoreResult<Vec<area::Model>> {
    Ok(Area::find()
        .filter(scope.condition(area::Column::Path))
        .filter(area::Column::Level.is_in(levels.iter().copied()))
        .order_by_asc(area::Column::Path)
        .limit(limit)
        .all(conn)
        .await?)
}

/// The communities (villages) in scope, by id (the bind-sheet picker).
pub async fn communities_in_scope(
    conn: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<Vec<area::Model>> {
    Ok(Area::find()
        .filter(scope.condition(area::Column::Path))
        .filter(area::Column::Level.eq(AreaLevel::Community))
        .order_by_asc(area::Column::Id)
        .all(conn)
        .await?)
}

/// One page of the areas in scope by id, optionally of one level: the rows after `after_id`
/// and the id to continue after when there are more (the JSON API).
pub async fn page(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    level: Option<AreaLevel>,
    after_id: Option<i64>,
    limit: u64,
) -> CoreResult<(Vec<area::Model>, Option<i64>)> {
    let mut q = Area::find().filter(scope.condition(area::Column::Path));
    if let Some(level) = level {
        q = q.filter(area::Column::Level.eq(level));
    }
    if let Some(after) = after_id {
        q = q.filter(area::Column::Id.gt(after));
    }
    let rows = q
        .order_by_asc(area::Column::Id)
        .limit(limit + 1)
        .all(conn)
        .await?;
    Ok(crate::paging::split(rows, limit, |a| a.id))
}

fn check_name(name: &str) -> CoreResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.contains('/') {
        return Err(CoreError::Invalid(Problem::AreaNameInvalid {
            max: MAX_NAME_CHARS,
        }));
    }
    Ok(name.to_owned())
}

/// A clash when another area under `parent_id` (other than `except`) has that name.
async fn refuse_taken_name(
    conn: &impl ConnectionTrait,
    parent_id: Option<i64>,
    name: &str,
    except: Option<i64>,
) -> CoreResult<()> {
    let mut q = Area::find()
        .filter(match parent_id {
            Some(p) => area::Column::ParentId.eq(p),
            None => area::Column::ParentId.is_null(),
        })
        .filter(area::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(area::Column::Id.ne(id));
    }
    match q.one(conn).await? {
        Some(_) => Err(CoreError::Conflict(Problem::AreaNameTaken)),
        None => Ok(()),
    }
}

/// Staff command: adds an area under `parent_id` (in scope), one level below it. County and
/// town admins only.
pub async fn add(
    db: &Db,
    actor: &StaffActor,
    parent_id: i64,
    name: &str,
    ip: Option<&str>,
) -> CoreResult<area::Model> {
    crate::staff::require_admin(actor)?;
    let name = check_name(name)?;
    let txn = db.write().await?;
    let parent = find_in_scope(&*txn, &actor.scope, parent_id).await?;
    let level = parent
        .level
        .child()
        .ok_or(CoreError::Invalid(Problem::AreaHasNoChildren))?;
    refuse_taken_name(&*txn, Some(parent.id), &name, None).await?;
    let a = insert_child(&*txn, Some(&parent), level, &name).await?;
    let target = AuditTarget::Area(a.id);
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::AreaAdd,
        Some(target),
        Some(&a.name),
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(a)
}

/// Staff command: renames an area inside the scope (not the scope's own root unless it is the
/// county). County and town admins only.
pub async fn rename(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    name: &str,
    ip: Option<&str>,
) -> CoreResult<area::Model> {
    crate::staff::require_admin(actor)?;
    let name = check_name(name)?;
    let txn = db.write().await?;
    let a = find_in_scope(&*txn, &actor.scope, id).await?;
    if a.id == actor.scope.area_id() && a.level != AreaLevel::County {
        return Err(CoreError::Forbidden(Problem::OwnAreaRename));
    }
    refuse_taken_name(&*txn, a.parent_id, &name, Some(a.id)).await?;
    let mut active: area::ActiveModel = a.into();
    active.name = Set(name);
    let a = active.update(&*txn).await?;
    let target = AuditTarget::Area(a.id);
    let detail = Some(a.name.as_str());
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::AreaRename,
        Some(target),
        detail,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(id: i64, level: AreaLevel, name: &str) -> (i64, area::Model) {
        let model = area::Model {
            id,
            parent_id: None,
            level,
            name: name.to_owned(),
            path: String::new(),
            created_at: Utc::now(),
        };
        (id, model)
    }

    #[test]
    fn names() {
        assert!(check_name("a/b").is_err());
        assert!(check_name("  ").is_err());
        assert_eq!(check_name(" 新社区 ").ok().as_deref(), Some("新社区"));
        assert_eq!(path_ids("/1/5/23/"), vec![1, 5, 23]);
    }

    #[test]
    fn paths_shown_by_name() {
        let names: HashMap<i64, area::Model> = [
            area(1, AreaLevel::County, "大邑县"),
            area(5, AreaLevel::Town, "晋原街道"),
            area(23, AreaLevel::Community, "长乐社区"),
        ]
        .into_iter()
        .collect();
        assert_eq!(display_path("/1/5/23/", &names), "晋原街道/长乐社区");
        assert_eq!(display_path("/1/", &names), "");
        assert_eq!(display_or_county("/1/", &names), "大邑县");
        assert_eq!(display_or_county("/1/5/", &names), "晋原街道");
    }
}
