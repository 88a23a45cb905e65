//! The area tree: county → town/street → village/community → grid → micro-grid.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::domain::{AreaLevel, AreaPath};
use crate::entity::area::{self, Entity as Area};
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;

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
        return Err(CoreError::Invalid("empty area name".into()));
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
            .ok_or_else(|| CoreError::Invalid(format!("no area named {name:?} there")))?;
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
