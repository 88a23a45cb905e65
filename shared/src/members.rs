//! The roster: grid leaders and their bind codes. Reads take a [`Scope`]; the roster page's
//! staff commands ([`deactivate`], [`bind_sheet`]) check the actor's role and scope and write
//! their audit line.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::areas;
use crate::audit::{self, AuditAction, AuditTarget};
use crate::db::Db;
use crate::domain::{MemberStatus, OutboxStatus, StaffRole};
use crate::entity::{area, member, outbox};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;
use crate::scope::Scope;

/// Members on one page of the roster.
pub const PAGE: u64 = 50;
/// Longest search text of the roster.
pub const MAX_QUERY_CHARS: usize = 50;

/// Bind codes avoid look-alike characters (0/O, 1/I/L) because people type them from paper.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
pub const BIND_CODE_LEN: usize = 8;

/// A fresh random one-time bind code, e.g. `K7MX3QPD`.
pub fn generate_bind_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..BIND_CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Normalises what a person typed as a code (case, spaces, dashes).
pub fn normalise_bind_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `,党员,新任,` — leading and trailing commas so `LIKE '%,党员,%'` matches one whole tag.
pub fn tags_to_column(tags: &[String]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(",{},", tags.join(","))
    }
}

pub fn tags_from_column(column: &str) -> Vec<String> {
    column
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

impl member::Model {
    pub fn tag_list(&self) -> Vec<String> {
        tags_from_column(&self.tags)
    }
    pub fn is_bound(&self) -> bool {
        self.telegram_user_id.is_some()
    }
    /// The `t.me` deep link that binds this member when opened.
    pub fn deep_link(&self, bot_username: &str) -> String {
        format!(
            "https://t.me/{}?start={}",
            bot_username.trim_start_matches('@'),
            self.bind_code
        )
    }
}

/// Binds a member to a messenger account: `user_id` speaks for them, `chat_id` is where the bot
/// writes. The member is active again (a member who had blocked the bot can be reached).
pub async fn bind(
    db: &impl ConnectionTrait,
    m: member::Model,
    user_id: i64,
    chat_id: i64,
    now: DateTime<Utc>,
) -> CoreResult<member::Model> {
    let mut active: member::ActiveModel = m.into();
    active.telegram_user_id = Set(Some(user_id));
    active.telegram_chat_id = Set(Some(chat_id));
    active.bound_at = Set(Some(now));
    active.status = Set(MemberStatus::Active);
    active.updated_at = Set(now);
    Ok(active.update(db).await?)
}

/// Binds members to their chats in the chat simulator (see [`crate::simulator`]), as binding
/// there does one by one (the demo's seeding binds most of its roster this way).
pub async fn bind_in_simulator(
    db: &impl ConnectionTrait,
    member_ids: &[i64],
    now: DateTime<Utc>,
) -> CoreResult<u64> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let mut n = 0;
    for chunk in member_ids.chunks(500) {
        let chat = Expr::col(member::Column::Id).add(crate::simulator::SIMULATED_CHAT_BASE);
        n += member::Entity::update_many()
            .col_expr(member::Column::TelegramUserId, chat.clone())
            .col_expr(member::Column::TelegramChatId, chat)
            .col_expr(member::Column::BoundAt, Expr::value(now))
            .col_expr(member::Column::Status, Expr::value(MemberStatus::Active))
            .col_expr(member::Column::UpdatedAt, Expr::value(now))
            .filter(member::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(n)
}

/// Members in scope, by area path then id (roster order).
pub async fn list_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<Vec<member::Model>> {
    Ok(member::Entity::find()
        .filter(scope.condition(member::Column::AreaPath))
        .order_by_asc(member::Column::AreaPath)
        .order_by_asc(member::Column::Id)
        .all(db)
        .await?)
}

/// Active (not left) members in scope.
pub async fn count_in_scope(db: &impl ConnectionTrait, scope: &Scope) -> CoreResult<u64> {
    Ok(member::Entity::find()
        .filter(scope.condition(member::Column::AreaPath))
        .filter(member::Column::Status.ne(MemberStatus::Left))
        .count(db)
        .await?)
}

/// One line of the bind-code sheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindCodeRow {
    pub name: String,
    pub phone: String,
    pub area: String,
    pub code: String,
    pub deep_link: String,
    pub bound: bool,
}

/// The bind-code sheet for everyone in scope who has not left.
pub async fn bind_code_sheet(
    db: &impl ConnectionTrait,
    scope: &Scope,
    bot_username: &str,
) -> CoreResult<Vec<BindCodeRow>> {
    let names: HashMap<_, _> = areas::names_in_scope(db, scope).await?;
    let mut members = list_in_scope(db, scope).await?;
    members.retain(|m| m.status != MemberStatus::Left);
    // Roster order: by the ids along the path (areas are created in roster order), then id.
    members.sort_by_cached_key(|m| (areas::path_ids(&m.area_path), m.id));
    let rows = members
        .into_iter()
        .map(|m| BindCodeRow {
            area: areas::display_path(&m.area_path, &names),
            deep_link: m.deep_link(bot_username),
            bound: m.is_bound(),
            name: m.name,
            phone: m.phone,
            code: m.bind_code,
        })
        .collect();
    Ok(rows)
}

/// `%text%` with `%`, `_` and `\` escaped (the inbox's pattern), for a LIKE.
fn like_contains(text: &str) -> LikeExpr {
    LikeExpr::new(crate::inbox::like_pattern(text)).escape('\\')
}

/// One page of members in scope, by id.
pub struct MemberPage {
    pub rows: Vec<member::Model>,
    /// The id to continue after, when there are more.
    pub next: Option<i64>,
}

/// Members in scope by id after `after_id`; `q` matches name, phone or (when `codes`: the
/// reader may see bind codes) bind code.
pub async fn page(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    codes: bool,
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
        let mut any = Condition::any()
            .add(Expr::col(member::Column::Name).like(like_contains(q)))
            .add(Expr::col(member::Column::Phone).like(like_contains(q)));
        if codes {
            any = any.add(member::Column::BindCode.eq(normalise_bind_code(q)));
        }
        query = query.filter(any);
    }
    if let Some(after) = after_id {
        query = query.filter(member::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(member::Column::Id)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let (rows, next) = crate::paging::split(rows, limit, |m| m.id);
    Ok(MemberPage { rows, next })
}

/// The roles and the tags of the members in scope who have not left, each sorted once (the
/// notice audience picker).
pub async fn roles_and_tags(
    conn: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<(Vec<String>, Vec<String>)> {
    let in_scope = member::Entity::find()
        .filter(scope.condition(member::Column::AreaPath))
        .filter(member::Column::Status.ne(MemberStatus::Left));
    let mut roles: Vec<String> = in_scope
        .clone()
        .select_only()
        .column(member::Column::Role)
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    roles.retain(|r| !r.is_empty());
    roles.sort();
    let tag_columns: Vec<String> = in_scope
        .select_only()
        .column(member::Column::Tags)
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    let mut tags: Vec<String> = tag_columns
        .iter()
        .flat_map(|t| tags_from_column(t))
        .collect();
    tags.sort();
    tags.dedup();
    Ok((roles, tags))
}

/// Staff command: marks a member in scope as having left (they can no longer bind or receive
/// anything). County and town admins only.
pub async fn deactivate(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<member::Model> {
    crate::staff::require_admin(actor)?;
    let txn = db.write().await?;
    let m = member::Entity::find_by_id(id)
        .filter(actor.scope.condition(member::Column::AreaPath))
        .one(&*txn)
        .await?
        .ok_or(CoreError::NotFound)?;
    let m = if m.status == MemberStatus::Left {
        m
    } else {
        let mut a: member::ActiveModel = m.into();
        a.status = Set(MemberStatus::Left);
        a.updated_at = Set(now);
        a.update(&*txn).await?
    };
    let target = AuditTarget::Member(m.id);
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::MemberDeactivate,
        Some(target),
        None,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(m)
}

/// Whether a role hands out bind codes (and so may see them): admins and secretaries. A viewer
/// never sees a code (with one, anybody can bind as that member).
pub fn may_see_bind_codes(role: StaffRole) -> bool {
    role.can_act()
}

/// Refuses roles that do not hand out bind codes.
pub fn require_bind_code_role(actor: &StaffActor) -> CoreResult<()> {
    if may_see_bind_codes(actor.role) {
        Ok(())
    } else {
        Err(CoreError::Forbidden(Problem::MayNotSeeBindCodes))
    }
}

/// A bind code no member holds (checked against the table).
async fn unused_bind_code(db: &impl ConnectionTrait) -> CoreResult<String> {
    loop {
        let code = generate_bind_code();
        let taken = member::Entity::find()
            .filter(member::Column::BindCode.eq(code.clone()))
            .count(db)
            .await?;
        if taken == 0 {
            return Ok(code);
        }
    }
}

/// Staff command: gives a member in scope a fresh bind code (the old one no longer binds), for
/// a code that was seen by someone it should not have been. Admins and secretaries.
pub async fn regenerate_bind_code(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<member::Model> {
    change_binding(db, actor, id, ip, now, AuditAction::MemberBindCode).await
}

/// Staff command: unbinds a member in scope from their messenger account (a lost or changed
/// phone) and gives them a fresh bind code, so the old account no longer speaks for them and
/// they bind again. Messages still queued for the old chat are cancelled. Admins and
/// secretaries.
pub async fn unbind(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<member::Model> {
    change_binding(db, actor, id, ip, now, AuditAction::MemberUnbind).await
}

async fn change_binding(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    ip: Option<&str>,
    now: DateTime<Utc>,
    action: AuditAction,
) -> CoreResult<member::Model> {
    require_bind_code_role(actor)?;
    let txn = db.write().await?;
    let m = member::Entity::find_by_id(id)
        .filter(actor.scope.condition(member::Column::AreaPath))
        .one(&*txn)
        .await?
        .ok_or(CoreError::NotFound)?;
    let old_chat = m.telegram_chat_id;
    let mut a: member::ActiveModel = m.into();
    a.bind_code = Set(unused_bind_code(&*txn).await?);
    if action == AuditAction::MemberUnbind {
        a.telegram_user_id = Set(None);
        a.telegram_chat_id = Set(None);
        a.bound_at = Set(None);
    }
    a.updated_at = Set(now);
    let m = a.update(&*txn).await?;
    if action == AuditAction::MemberUnbind
        && let Some(chat) = old_chat
    {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Status, Expr::value(OutboxStatus::Cancelled))
            .filter(outbox::Column::ChatId.eq(chat))
            .filter(outbox::Column::Status.is_in([OutboxStatus::Pending, OutboxStatus::Held]))
            .exec(&*txn)
            .await?;
    }
    let target = AuditTarget::Member(m.id);
    audit::log(&*txn, Some(actor.id), action, Some(target), None, ip).await?;
    txn.commit().await?;
    Ok(m)
}

/// The bind sheet of one community in scope (each member who has not left, with code and deep
/// link, in roster order), audited: it holds phones and codes. Admins and secretaries.
pub async fn bind_sheet(
    db: &Db,
    actor: &StaffActor,
    community_id: i64,
    bot_username: &str,
    ip: Option<&str>,
) -> CoreResult<(area::Model, Vec<BindCodeRow>)> {
    require_bind_code_role(actor)?;
    let community = areas::find_in_scope(db.conn(), &actor.scope, community_id).await?;
    let rows = bind_code_sheet(db.conn(), &Scope::of_area(&community), bot_username).await?;
    let target = AuditTarget::Area(community.id);
    audit::log_alone(
        db,
        Some(actor.id),
        AuditAction::RosterBindSheet,
        Some(target),
        None,
        ip,
    )
    .await?;
    Ok((community, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let c = generate_bind_code();
        assert_eq!(c.len(), BIND_CODE_LEN);
        assert!(c.bytes().all(|b| CODE_ALPHABET.contains(&b)));
        assert_eq!(normalise_bind_code(" k7mx-3qpd "), "K7MX3QPD");
    }

    #[test]
    fn tags_round_trip() {
        let tags = vec!["党员".to_owned(), "新任".to_owned()];
        assert_eq!(tags_to_column(&tags), ",党员,新任,");
        assert_eq!(tags_from_column(",党员,新任,"), tags);
        assert_eq!(tags_to_column(&[]), "");
        assert!(tags_from_column("").is_empty());
    }
}
