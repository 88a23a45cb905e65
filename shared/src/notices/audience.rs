//! Who receives a notice: the audience's members inside the author's scope, and the count
//! shown before sending.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Audience, AudienceCount};
use crate::areas;
use crate::domain::MemberStatus;
use crate::entity::{area, member};
use crate::error::CoreResult;
use crate::scope::Scope;

fn audience_condition(
    scope: &Scope,
    audience: &Audience,
    areas_in: &[area::Model],
) -> sea_orm::Condition {
    let mut cond = sea_orm::Condition::all()
        .add(scope.condition(member::Column::AreaPath))
        .add(member::Column::Status.ne(MemberStatus::Left));
    if !areas_in.is_empty() {
        let mut any = sea_orm::Condition::any();
        for a in areas_in {
            any = any.add(Scope::of_area(a).condition(member::Column::AreaPath));
        }
        cond = cond.add(any);
    }
    let roles: Vec<String> = audience
        .roles
        .iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    if !roles.is_empty() {
        cond = cond.add(member::Column::Role.is_in(roles));
    }
    let tags: Vec<&str> = audience
        .tags
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .collect();
    if !tags.is_empty() {
        let mut any = sea_orm::Condition::any();
        for tag in tags {
            // Tags are stored `,党员,新任,`; a tag never contains a comma, and LIKE wildcards
            // are dropped from the filter so it matches whole tags only.
            let clean: String = tag
                .chars()
                .filter(|c| !matches!(c, '%' | '_' | ',' | '\\'))
                .collect();
            any = any.add(member::Column::Tags.like(format!("%,{clean},%")));
        }
        cond = cond.add(any);
    }
    cond
}

/// The audience's areas, each checked against the scope (outside it: `NotFound`).
pub(super) async fn audience_areas(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    audience: &Audience,
) -> CoreResult<Vec<area::Model>> {
    let mut out = Vec::new();
    for id in &audience.area_ids {
        out.push(areas::find_in_scope(conn, scope, *id).await?);
    }
    Ok(out)
}

/// Members of the audience inside `scope`, in roster order (area path, id).
pub async fn audience_members(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    audience: &Audience,
) -> CoreResult<Vec<member::Model>> {
    let areas_in = audience_areas(conn, scope, audience).await?;
    Ok(member::Entity::find()
        .filter(audience_condition(scope, audience, &areas_in))
        .order_by_asc(member::Column::AreaPath)
        .order_by_asc(member::Column::Id)
        .all(conn)
        .await?)
}

pub(super) fn is_reachable(m: &member::Model) -> bool {
    m.telegram_chat_id.is_some() && m.status == MemberStatus::Active
}

/// The recipient count shown before sending.
pub async fn audience_count(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    audience: &Audience,
) -> CoreResult<AudienceCount> {
    let areas_in = audience_areas(conn, scope, audience).await?;
    let cond = audience_condition(scope, audience, &areas_in);
    use sea_orm::PaginatorTrait;
    let total = member::Entity::find()
        .filter(cond.clone())
        .count(conn)
        .await?;
    let reachable = member::Entity::find()
        .filter(cond)
        .filter(member::Column::TelegramChatId.is_not_null())
        .filter(member::Column::Status.eq(MemberStatus::Active))
        .count(conn)
        .await?;
    Ok(AudienceCount { total, reachable })
}
