//! Panel login sessions, stored in the database so they survive a restart and work across
//! several panel processes. The cookie holds a random token; the table holds its SHA-256, so a
//! copy of the database gives nobody a usable session.
//!
//! A session ends after [`IDLE_TIMEOUT`] without a request or [`ABSOLUTE_TIMEOUT`] after it
//! began, whichever comes first. Logging in always starts a new session (a new id), so a
//! session id planted before login is worthless afterwards.
//!
//! What the panel does with sessions are the functions taking a [`Db`]: [`start_anonymous`]
//! (the login form), [`resolve`] (every request), [`log_in`], [`log_out`], the audit lines of
//! refused logins ([`record_failed_login`], [`record_throttled_login`]) and [`purge_ended`]
//! (the scheduler). Checking the password is [`crate::staff::verify_password`].

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::db::Db;
use crate::entity::{panel_session, staff_user};
use crate::error::CoreResult;

pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);
pub const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// `last_seen_at` is written at most this often (fewer writes; idle precision of a minute).
pub const TOUCH_EVERY: Duration = Duration::seconds(60);

/// 32 random bytes as hex: session tokens and CSRF tokens.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The stored id of a cookie token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl panel_session::Model {
    /// Whether the session has ended at `now` (idle or absolute timeout).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at || now - self.last_seen_at > IDLE_TIMEOUT
    }
    /// Whether `last_seen_at` is old enough to be written again.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        now - self.last_seen_at >= TOUCH_EVERY
    }
}

/// Starts a session (anonymous when `staff_id` is `None`). Returns the cookie token and the row.
pub async fn create(
    conn: &impl ConnectionTrait,
    staff_id: Option<i64>,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<(String, panel_session::Model)> {
    let token = random_token();
    let row = panel_session::ActiveModel {
        id: Set(hash_token(&token)),
        staff_id: Set(staff_id),
        csrf_token: Set(random_token()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + ABSOLUTE_TIMEOUT),
        ip: Set(ip.map(str::to_owned)),
    }
    .insert(conn)
    .await?;
    Ok((token, row))
}

/// The live session for a cookie token, or `None` (unknown or ended).
pub async fn load(
    conn: &impl ConnectionTrait,
    token: &str,
    now: DateTime<Utc>,
) -> CoreResult<Option<panel_session::Model>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(panel_session::Entity::find_by_id(hash_token(token))
        .one(conn)
        .await?
        .filter(|s| !s.is_expired(now)))
}

/// Records activity (call when [`panel_session::Model::needs_touch`]).
pub async fn touch(conn: &impl ConnectionTrait, id: &str, now: DateTime<Utc>) -> CoreResult<()> {
    panel_session::Entity::update_many()
        .col_expr(
            panel_session::Column::LastSeenAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(panel_session::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Ends one session.
pub async fn delete(conn: &impl ConnectionTrait, id: &str) -> CoreResult<()> {
    panel_session::Entity::delete_by_id(id.to_owned())
        .exec(conn)
        .await?;
    Ok(())
}

/// Ends every session of a staff user (a password reset or change, a deactivation). Returns how
/// many.
pub async fn end_all_of(conn: &impl ConnectionTrait, staff_id: i64) -> CoreResult<u64> {
    Ok(panel_session::Entity::delete_many()
        .filter(panel_session::Column::StaffId.eq(staff_id))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Deletes sessions that have ended. Returns how many.
pub async fn purge_expired(conn: &impl ConnectionTrait, now: DateTime<Utc>) -> CoreResult<u64> {
    Ok(panel_session::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(panel_session::Column::ExpiresAt.lte(now))
                .add(panel_session::Column::LastSeenAt.lt(now - IDLE_TIMEOUT)),
        )
        .exec(conn)
        .await?
        .rows_affected)
}

/// A fresh anonymous session (the login form holds its CSRF token). Returns the cookie token
/// and the row.
pub async fn start_anonymous(
    db: &Db,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<(String, panel_session::Model)> {
    let txn = db.write().await?;
    let created = create(&*txn, None, ip, now).await?;
    txn.commit().await?;
    Ok(created)
}

/// The live session of a cookie token and its user: `None` when the token names no live
/// session, or names one whose user has since been deactivated (that session ends here).
/// Records activity when due.
pub async fn resolve(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> CoreResult<Option<(panel_session::Model, Option<staff_user::Model>)>> {
    let Some(session) = load(db.conn(), token, now).await? else {
        return Ok(None);
    };
    let mut user = None;
    if let Some(staff_id) = session.staff_id {
        user = crate::staff::find_active(db.conn(), staff_id).await?;
        if user.is_none() {
            let txn = db.write().await?;
            delete(&*txn, &session.id).await?;
            txn.commit().await?;
            return Ok(None);
        }
    }
    if session.needs_touch(now) {
        let txn = db.write().await?;
        touch(&*txn, &session.id, now).await?;
        txn.commit().await?;
    }
    Ok(Some((session, user)))
}

/// Logs `user` in (their password was checked): ends the session they came with, starts a new
/// one, records the login time and the audit line. Returns the new session's cookie token.
pub async fn log_in(
    db: &Db,
    user: &staff_user::Model,
    old_session_id: Option<&str>,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<String> {
    let txn = db.write().await?;
    if let Some(old) = old_session_id {
        delete(&*txn, old).await?;
    }
    let (token, _session) = create(&*txn, Some(user.id), ip, now).await?;
    let mut active: staff_user::ActiveModel = user.clone().into();
    active.last_login_at = Set(Some(now));
    active.update(&*txn).await?;
    let target = Some(AuditTarget::User(user.username.clone()));
    audit::log(
        &*txn,
        Some(user.id),
        AuditAction::LoginSuccess,
        target,
        None,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// Ends a session, with the audit line when someone was logged in.
pub async fn log_out(
    db: &Db,
    session_id: &str,
    user: Option<&staff_user::Model>,
    ip: Option<&str>,
) -> CoreResult<()> {
    let txn = db.write().await?;
    delete(&*txn, session_id).await?;
    if let Some(user) = user {
        let target = Some(AuditTarget::User(user.username.clone()));
        audit::log(&*txn, Some(user.id), AuditAction::Logout, target, None, ip).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The audit line of a refused login: a wrong password, an unknown name (`user` `None`) or a
/// deactivated account.
pub async fn record_failed_login(
    db: &Db,
    username: &str,
    user: Option<&staff_user::Model>,
    ip: Option<&str>,
) -> CoreResult<()> {
    let detail = user.filter(|u| !u.active).map(|_| "account deactivated");
    let target = Some(AuditTarget::User(username.to_owned()));
    let staff_id = user.map(|u| u.id);
    audit::log_alone(db, staff_id, AuditAction::LoginFailure, target, detail, ip).await?;
    Ok(())
}

/// The audit line of a login refused because of too many failures.
pub async fn record_throttled_login(db: &Db, username: &str, ip: Option<&str>) -> CoreResult<()> {
    let known = crate::staff::find_by_username(db.conn(), username).await?;
    let target = Some(AuditTarget::User(username.to_owned()));
    let staff_id = known.map(|u| u.id);
    audit::log_alone(db, staff_id, AuditAction::LoginThrottled, target, None, ip).await?;
    Ok(())
}

/// Deletes the sessions that have ended (the scheduler, every minute). Returns how many.
pub async fn purge_ended(db: &Db, now: DateTime<Utc>) -> CoreResult<u64> {
    let txn = db.write().await?;
    let n = purge_expired(&*txn, now).await?;
    txn.commit().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }

    #[test]
    fn timeouts() {
        let t0 = Utc::now();
        let s = panel_session::Model {
            id: "x".into(),
            staff_id: Some(1),
            csrf_token: "c".into(),
            created_at: t0,
            last_seen_at: t0,
            expires_at: t0 + ABSOLUTE_TIMEOUT,
            ip: None,
        };
        assert!(!s.is_expired(t0 + Duration::minutes(29)));
        assert!(s.is_expired(t0 + Duration::minutes(31)));
        let busy = panel_session::Model {
            last_seen_at: t0 + Duration::hours(12) - Duration::minutes(1),
            ..s.clone()
        };
        assert!(!busy.is_expired(t0 + Duration::hours(12) - Duration::seconds(1)));
        assert!(busy.is_expired(t0 + Duration::hours(12)));
        assert!(!s.needs_touch(t0 + Duration::seconds(59)));
        assert!(s.needs_touch(t0 + Duration::seconds(60)));
    }
}
