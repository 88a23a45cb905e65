//! The audit log: every staff action (logins, report actions, admin changes) lands here with
//! who, what, when and from where. Never put personal data (residents' names or phones) in
//! `target` or `detail`.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, Set};

use crate::entity::{audit_entry, staff_user};
use crate::error::CoreResult;
use crate::scope::Scope;

/// Longest `detail` kept (longer text is cut).
pub const MAX_DETAIL_CHARS: usize = 500;

/// Writes one audit line now. `staff_id` is `None` for unknown users (failed logins) and the
/// system. Run it inside the transaction of the change it records when there is one.
pub async fn record(
    conn: &impl ConnectionTrait,
    staff_id: Option<i64>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
    ip: Option<&str>,
) -> CoreResult<audit_entry::Model> {
    record_at(conn, staff_id, action, target, detail, ip, Utc::now()).await
}

/// [`record`] at a given time (tests, the scheduler).
pub async fn record_at(
    conn: &impl ConnectionTrait,
    staff_id: Option<i64>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
    ip: Option<&str>,
    at: DateTime<Utc>,
) -> CoreResult<audit_entry::Model> {
    let area_path = match staff_id {
        Some(id) => staff_user::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|s| s.area_path),
        None => None,
    };
    let detail = detail.map(|d| d.chars().take(MAX_DETAIL_CHARS).collect::<String>());
    Ok(audit_entry::ActiveModel {
        at: Set(at),
        staff_id: Set(staff_id),
        area_path: Set(area_path),
        action: Set(action.to_owned()),
        target: Set(target.map(str::to_owned)),
        detail: Set(detail),
        ip: Set(ip.map(str::to_owned)),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// Which audit lines a staff user may read: those of actors inside `scope`, and at the county
/// root also those without an actor (failed logins of unknown usernames, the system).
pub fn visible_in(scope: &Scope, is_root: bool) -> Condition {
    let cond = Condition::any().add(scope.condition(audit_entry::Column::AreaPath));
    if is_root {
        cond.add(audit_entry::Column::AreaPath.is_null())
    } else {
        cond
    }
}
