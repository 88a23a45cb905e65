//! Staff users of the panel: a role and one scope area each.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::domain::StaffRole;
use crate::entity::{area, staff_user};
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a username: 2–32 characters, letters (any script), digits, `_ . -`.
pub fn validate_username(username: &str) -> CoreResult<String> {
    let u = username.trim();
    let n = u.chars().count();
    if !(2..=32).contains(&n) || !u.chars().all(|c| c.is_alphanumeric() || "_.-".contains(c)) {
        return Err(CoreError::Invalid(
            "username must be 2–32 letters, digits, '_', '.' or '-'".into(),
        ));
    }
    Ok(u.to_owned())
}

pub fn validate_password(password: &str) -> CoreResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CoreError::Invalid(format!(
            "password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CoreError::Invalid("password is too long".into()));
    }
    Ok(())
}

/// argon2id PHC string; runs on the blocking pool because it is deliberately slow.
pub async fn hash_password(password: &str) -> CoreResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password))
        .await
        .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")))
}

/// Verifies a password against a stored hash, on the blocking pool.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    tokio::task::spawn_blocking(move || password_auth::verify_password(password, &hash).is_ok())
        .await
        .unwrap_or(false)
}

/// Creates a staff user. The area is the root of what they will see.
pub async fn create(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
    role: StaffRole,
    area: &area::Model,
) -> CoreResult<staff_user::Model> {
    let username = validate_username(username)?;
    validate_password(password)?;
    if find_by_username(db, &username).await?.is_some() {
        return Err(CoreError::Conflict(format!(
            "username {username:?} is taken"
        )));
    }
    let hash = hash_password(password).await?;
    Ok(staff_user::ActiveModel {
        username: Set(username.clone()),
        display_name: Set(username),
        password_hash: Set(hash),
        role: Set(role),
        area_id: Set(area.id),
        area_path: Set(area.path.clone()),
        active: Set(true),
        must_change_password: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Gives a user the password `password` (the password rules apply) and makes the account usable:
/// active, no change asked at the next login. The demo's logins are reset this way at every start.
pub async fn set_password(
    db: &impl ConnectionTrait,
    user: staff_user::Model,
    password: &str,
) -> CoreResult<staff_user::Model> {
    validate_password(password)?;
    let mut a: staff_user::ActiveModel = user.into();
    a.password_hash = Set(hash_password(password).await?);
    a.active = Set(true);
    a.must_change_password = Set(false);
    Ok(a.update(db).await?)
}

pub async fn find_by_username(
    db: &impl ConnectionTrait,
    username: &str,
) -> CoreResult<Option<staff_user::Model>> {
    Ok(staff_user::Entity::find()
        .filter(staff_user::Column::Username.eq(username.trim()))
        .one(db)
        .await?)
}

impl staff_user::Model {
    /// The subtree this user sees.
    pub fn scope(&self) -> Scope {
        Scope::from_parts(self.area_id, self.area_path.clone())
    }
}

/// Random password for a first admin: 16 characters without look-alikes.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_passwords() {
        assert!(validate_username("zhang.san").is_ok());
        assert!(validate_username("张三").is_ok());
        assert!(validate_username("a").is_err());
        assert!(validate_username("robert'); drop table").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pass").is_ok());
        let p = generate_password();
        assert_eq!(p.len(), 16);
        assert_ne!(p, generate_password());
    }
}
