//! Panel login sessions, stored in the database so they survive a restart and work across
//! several panel processes. The cookie holds a random token; the table holds its SHA-256, so a
//! copy of the database gives nobody a usable session.
//!
//! A session ends after [`IDLE_TIMEOUT`] without a request or [`ABSOLUTE_TIMEOUT`] after it
//! began, whichever comes first. Logging in always starts a new session (a new id), so a
//! session id planted before login is worthless afterwards.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};

use crate::entity::panel_session;
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
