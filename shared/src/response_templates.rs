//! Canned replies offered in the panel's reply form (a small table seeded by the migration).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::entity::response_template;
use crate::error::CoreResult;

/// Active templates in `locale` (falling back to Chinese when there are none), in order.
pub async fn list(
    conn: &impl ConnectionTrait,
    locale: &str,
) -> CoreResult<Vec<response_template::Model>> {
    let find = |loc: String| {
        response_template::Entity::find()
            .filter(response_template::Column::Active.eq(true))
            .filter(response_template::Column::Locale.eq(loc))
            .order_by_asc(response_template::Column::SortOrder)
            .order_by_asc(response_template::Column::Id)
            .all(conn)
    };
    let rows = find(locale.to_owned()).await?;
    if rows.is_empty() && locale != "zh-CN" {
        return Ok(find("zh-CN".to_owned()).await?);
    }
    Ok(rows)
}

/// One active template by id.
pub async fn find(
    conn: &impl ConnectionTrait,
    id: i64,
) -> CoreResult<Option<response_template::Model>> {
    Ok(response_template::Entity::find_by_id(id)
        .filter(response_template::Column::Active.eq(true))
        .one(conn)
        .await?)
}
