//! Bearer tokens for the read-only JSON API (`/api/v1/`).
//!
//! Staff create them for the county's other platforms. A token carries its creator's role and
//! scope *as they are now* (a creator who is deactivated or moved takes their tokens along),
//! is stored as the sha256 of its secret, can be revoked, and records when it was last used.
//! The secret (`gl_` + 40 random characters) is shown once, at creation.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::db::Db;
use crate::entity::{api_token, staff_user};
use crate::error::{CoreError, CoreResult};
use crate::problem::Problem;

/// Every secret starts with this, so a leaked one is easy to recognise.
pub const SECRET_PREFIX: &str = "gl_";
const SECRET_RANDOM_CHARS: usize = 40;
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// How many characters of the secret are kept in clear to tell tokens apart.
const SHOWN_PREFIX_CHARS: usize = 8;
pub const MAX_NAME_CHARS: usize = 60;
/// `last_used_at` is written at most this often per token (a busy client would otherwise make
/// every read a write).
const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);

/// A token just created: the row, and the secret to show once.
#[derive(Clone, Debug)]
pub struct NewToken {
    pub token: api_token::Model,
    pub secret: String,
}

/// sha256 of the secret, lowercase hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn generate_secret() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let random: String = (0..SECRET_RANDOM_CHARS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{SECRET_PREFIX}{random}")
}

/// Staff command: creates a token for `creator` (who must be active) and writes its audit line.
/// Every role may: a token can read no more than its creator sees.
pub async fn create(
    db: &Db,
    creator: &staff_user::Model,
    name: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<NewToken> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(CoreError::Invalid(Problem::TokenNameInvalid {
            max: MAX_NAME_CHARS,
        }));
    }
    if !creator.active {
        return Err(CoreError::Forbidden(Problem::InactiveUser));
    }
    let secret = generate_secret();
    let txn = db.write().await?;
    let token = api_token::ActiveModel {
        staff_user_id: Set(creator.id),
        name: Set(name.to_owned()),
        prefix: Set(secret.chars().take(SHOWN_PREFIX_CHARS).collect()),
        token_hash: Set(hash_secret(&secret)),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    let target = Some(AuditTarget::ApiToken(token.id));
    let detail = Some(token.name.as_str());
    audit::log(
        &*txn,
        Some(creator.id),
        AuditAction::ApiTokenCreate,
        target,
        detail,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(NewToken { token, secret })
}

/// The tokens a user created, newest first (revoked ones included, marked).
pub async fn list_of(
    db: &impl ConnectionTrait,
    staff_user_id: i64,
) -> CoreResult<Vec<api_token::Model>> {
    Ok(api_token::Entity::find()
        .filter(api_token::Column::StaffUserId.eq(staff_user_id))
        .order_by_desc(api_token::Column::Id)
        .all(db)
        .await?)
}

/// Staff command: revokes one of the user's own tokens and writes its audit line. Someone
/// else's token does not exist for them.
pub async fn revoke(
    db: &Db,
    staff_user_id: i64,
    token_id: i64,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<api_token::Model> {
    let txn = db.write().await?;
    let token = api_token::Entity::find_by_id(token_id)
        .filter(api_token::Column::StaffUserId.eq(staff_user_id))
        .one(&*txn)
        .await?
        .ok_or(CoreError::NotFound)?;
    let token = if token.revoked_at.is_some() {
        token
    } else {
        let mut active: api_token::ActiveModel = token.into();
        active.revoked_at = Set(Some(now));
        active.update(&*txn).await?
    };
    let target = Some(AuditTarget::ApiToken(token.id));
    audit::log(
        &*txn,
        Some(staff_user_id),
        AuditAction::ApiTokenRevoke,
        target,
        None,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// Revokes every token of a staff user not revoked yet (their deactivation or password reset),
/// inside the caller's transaction. Permanent: reactivating the user does not bring them back.
/// Returns how many.
pub async fn revoke_all_of(
    conn: &impl ConnectionTrait,
    staff_user_id: i64,
    now: DateTime<Utc>,
) -> CoreResult<u64> {
    Ok(api_token::Entity::update_many()
        .col_expr(
            api_token::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(api_token::Column::StaffUserId.eq(staff_user_id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// The value of an `Authorization` header, if it is `Bearer <secret>`.
pub fn bearer_secret(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let secret = rest.trim();
    (!secret.is_empty()).then_some(secret)
}

/// Who a secret speaks for: the active creator of an unrevoked token, or `None`. Records the
/// use (at most once a minute per token).
pub async fn authenticate(
    db: &Db,
    secret: &str,
    now: DateTime<Utc>,
) -> CoreResult<Option<(api_token::Model, staff_user::Model)>> {
    if !secret.starts_with(SECRET_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let Some(token) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(hash_secret(secret)))
        .one(db.conn())
        .await?
    else {
        return Ok(None);
    };
    if token.revoked_at.is_some() {
        return Ok(None);
    }
    let Some(user) = staff_user::Entity::find_by_id(token.staff_user_id)
        .one(db.conn())
        .await?
        .filter(|u| u.active)
    else {
        return Ok(None);
    };
    let stale = token
        .last_used_at
        .is_none_or(|t| now - t >= LAST_USED_GRANULARITY);
    let token = if stale {
        let txn = db.write().await?;
        let mut active: api_token::ActiveModel = token.into();
        active.last_used_at = Set(Some(now));
        let token = active.update(&*txn).await?;
        txn.commit().await?;
        token
    } else {
        token
    };
    Ok(Some((token, user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_headers() {
        let s = generate_secret();
        assert!(s.starts_with(SECRET_PREFIX));
        assert_eq!(s.len(), SECRET_PREFIX.len() + SECRET_RANDOM_CHARS);
        assert_ne!(s, generate_secret());
        assert_eq!(hash_secret("abc").len(), 64);
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(bearer_secret("Bearer gl_x"), Some("gl_x"));
        assert_eq!(bearer_secret("bearer   gl_x "), Some("gl_x"));
        assert_eq!(bearer_secret("Basic abc"), None);
        assert_eq!(bearer_secret("Bearer "), None);
        assert_eq!(bearer_secret("gl_x"), None);
    }
}
