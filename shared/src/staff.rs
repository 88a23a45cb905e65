//! Staff users of the panel: a role and one scope area each. Who may do what is decided here
//! ([`require_admin`], [`may_manage_user`]); the staff commands of the users page
//! ([`add_user`], [`set_user_active`], [`reset_user_password`]) check it, make the change and
//! write its audit line in one transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::db::Db;
use crate::domain::StaffRole;
use crate::entity::{area, staff_user};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;
use crate::scope::Scope;
use crate::{api_tokens, areas, panel_sessions};

/// OWASP ASVS 2.1: at least 12 characters, no composition rules, common passwords refused.
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Common passwords, one a line, lowercase: the most frequent ones of the xato.net list as
/// published with zxcvbn (MIT, © Dan Wheeler and Dropbox) — its first 1,500 and every one of
/// ten characters or more — and a few local ones.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// Whether a password is on the bundled list (case-insensitively) or one character repeated.
pub fn is_common_password(password: &str) -> bool {
    let lower = password.trim().to_lowercase();
    let mut chars = lower.chars();
    let first = chars.next();
    if first.is_some_and(|f| chars.all(|c| c == f)) {
        return true;
    }
    COMMON_PASSWORDS.lines().any(|l| l.trim() == lower)
}

/// Checks a username: 2–32 characters, letters (any script), digits, `_ . -`.
pub fn validate_username(username: &str) -> CoreResult<String> {
    let u = username.trim();
    let n = u.chars().count();
    if !(2..=32).contains(&n) || !u.chars().all(|c| c.is_alphanumeric() || "_.-".contains(c)) {
        return Err(CoreError::Invalid(Problem::UsernameInvalid));
    }
    Ok(u.to_owned())
}

pub fn validate_password(password: &str) -> CoreResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(CoreError::Invalid(Problem::PasswordTooShort {
            min: MIN_PASSWORD_CHARS,
        }));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CoreError::Invalid(Problem::PasswordTooLong));
    }
    if is_common_password(password) {
        return Err(CoreError::Invalid(Problem::PasswordTooCommon));
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
        return Err(CoreError::Conflict(Problem::UsernameTaken { username }));
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

/// Refuses anyone but county and town admins (areas, users, the roster, the audit log).
pub fn require_admin(actor: &StaffActor) -> CoreResult<()> {
    if actor.role.is_admin() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(Problem::AdminOnly))
    }
}

/// Refuses viewers (they read; they do not act).
pub fn require_can_act(actor: &StaffActor) -> CoreResult<()> {
    if actor.role.can_act() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(Problem::ViewerMayNotAct))
    }
}

/// Refuses anyone but the county admin (county-wide tables: categories, holidays).
pub fn require_county_admin(actor: &StaffActor) -> CoreResult<()> {
    if actor.role == StaffRole::CountyAdmin {
        Ok(())
    } else {
        Err(CoreError::Forbidden(Problem::CountyAdminOnly))
    }
}

/// How much a role may do: a user manages only users of a strictly lower rank.
fn rank(role: StaffRole) -> u8 {
    match role {
        StaffRole::CountyAdmin => 3,
        StaffRole::TownAdmin => 2,
        StaffRole::Secretary => 1,
        StaffRole::Viewer => 0,
    }
}

/// Whether `actor` may create or change a user with `role` whose scope is at `area_path`:
/// admins only, and only roles strictly below their own, inside their scope — a county admin
/// town admins, secretaries and viewers; a town admin secretaries and viewers in their town.
/// Nobody manages a peer (who could otherwise take over their account by a reset).
pub fn may_manage_user(actor: &StaffActor, role: StaffRole, area_path: &str) -> bool {
    may_assign_role(actor.role, role) && actor.scope.contains(area_path)
}

/// Whether a user with role `actor` may give `role` to someone (create, reset, deactivate).
pub fn may_assign_role(actor: StaffRole, role: StaffRole) -> bool {
    actor.is_admin() && rank(role) < rank(actor)
}

/// Ends every panel session of a user and revokes their API tokens for good (a reactivation
/// does not bring them back), inside the caller's transaction. Returns (sessions, tokens).
async fn end_access(
    conn: &impl ConnectionTrait,
    staff_id: i64,
    now: DateTime<Utc>,
) -> CoreResult<(u64, u64)> {
    let sessions = panel_sessions::end_all_of(conn, staff_id).await?;
    let tokens = api_tokens::revoke_all_of(conn, staff_id, now).await?;
    Ok((sessions, tokens))
}

/// Staff users whose scope lies inside `scope`, by username.
pub async fn users_in_scope(
    conn: &impl ConnectionTrait,
    scope: &Scope,
) -> CoreResult<Vec<staff_user::Model>> {
    Ok(staff_user::Entity::find()
        .filter(scope.condition(staff_user::Column::AreaPath))
        .order_by_asc(staff_user::Column::Username)
        .all(conn)
        .await?)
}

/// The user of a session, if they still exist and are active.
pub async fn find_active(
    conn: &impl ConnectionTrait,
    id: i64,
) -> CoreResult<Option<staff_user::Model>> {
    Ok(staff_user::Entity::find_by_id(id)
        .one(conn)
        .await?
        .filter(|u| u.active))
}

/// Staff command: creates a user with `role` at an area in the actor's scope.
pub async fn add_user(
    db: &Db,
    actor: &StaffActor,
    username: &str,
    password: &str,
    role: StaffRole,
    area_id: i64,
    ip: Option<&str>,
) -> CoreResult<staff_user::Model> {
    require_admin(actor)?;
    let txn = db.write().await?;
    let area = areas::find_in_scope(&*txn, &actor.scope, area_id).await?;
    if !may_manage_user(actor, role, &area.path) {
        return Err(CoreError::Forbidden(Problem::MayNotManageUser));
    }
    let user = create(&*txn, username, password, role, &area).await?;
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::UserCreate,
        Some(AuditTarget::User(user.username.clone())),
        Some(role.code()),
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// A user the actor may change: in scope (else `NotFound`), not themselves, and one
/// [`may_manage_user`] allows.
async fn managed_user(
    conn: &impl ConnectionTrait,
    actor: &StaffActor,
    id: i64,
) -> CoreResult<staff_user::Model> {
    require_admin(actor)?;
    let u = staff_user::Entity::find_by_id(id)
        .filter(actor.scope.condition(staff_user::Column::AreaPath))
        .one(conn)
        .await?
        .ok_or(CoreError::NotFound)?;
    if u.id == actor.id || !may_manage_user(actor, u.role, &u.area_path) {
        return Err(CoreError::Forbidden(Problem::MayNotManageUser));
    }
    Ok(u)
}

/// Staff command: deactivates (or reactivates) a user. A deactivation ends their panel
/// sessions and revokes their API tokens in the same transaction; a reactivation gives back the
/// login only (tokens stay revoked, the user makes new ones).
pub async fn set_user_active(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    active: bool,
    ip: Option<&str>,
) -> CoreResult<staff_user::Model> {
    let txn = db.write().await?;
    let u = managed_user(&*txn, actor, id).await?;
    let mut a: staff_user::ActiveModel = u.into();
    a.active = Set(active);
    let u = a.update(&*txn).await?;
    if !active {
        end_access(&*txn, u.id, Utc::now()).await?;
    }
    let action = if active {
        AuditAction::UserActivate
    } else {
        AuditAction::UserDeactivate
    };
    let target = AuditTarget::User(u.username.clone());
    audit::log(&*txn, Some(actor.id), action, Some(target), None, ip).await?;
    txn.commit().await?;
    Ok(u)
}

/// Staff command: gives a user a new random password (returned once, to be shown once), to be
/// changed at next login; their panel sessions end and their API tokens are revoked in the same
/// transaction (whoever knew the old password may have used it).
pub async fn reset_user_password(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    ip: Option<&str>,
) -> CoreResult<(staff_user::Model, String)> {
    require_admin(actor)?;
    // Hashed before the write transaction: it is deliberately slow.
    let password = generate_password();
    let hash = hash_password(&password).await?;
    let txn = db.write().await?;
    let u = managed_user(&*txn, actor, id).await?;
    let mut a: staff_user::ActiveModel = u.into();
    a.password_hash = Set(hash);
    a.must_change_password = Set(true);
    let u = a.update(&*txn).await?;
    end_access(&*txn, u.id, Utc::now()).await?;
    let target = AuditTarget::User(u.username.clone());
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::UserResetPassword,
        Some(target),
        None,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok((u, password))
}

/// On a database without staff users, creates `admin` (county admin) with a random password
/// and returns the password (to be shown once). It is printed on the console, so it must be
/// changed at the first login.
pub async fn ensure_first_admin(db: &Db) -> CoreResult<Option<String>> {
    let txn = db.write().await?;
    if staff_user::Entity::find().count(&*txn).await? > 0 {
        return Ok(None);
    }
    let root = areas::find_root(&*txn).await?.ok_or(CoreError::NotFound)?;
    let password = generate_password();
    let admin = create(&*txn, "admin", &password, StaffRole::CountyAdmin, &root).await?;
    let mut a: staff_user::ActiveModel = admin.into();
    a.must_change_password = Set(true);
    a.update(&*txn).await?;
    txn.commit().await?;
    Ok(Some(password))
}

/// Staff command of every logged-in user: changes their own password. The current password
/// must be given (a session left open is not enough to take the account over); the new one
/// follows the password rules and differs from it. Clears `must_change_password`, ends every
/// session of the user and starts a new one (returned: the new cookie token), writes the audit
/// line — one transaction.
pub async fn change_own_password(
    db: &Db,
    user_id: i64,
    current: &str,
    new: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<String> {
    let user = find_active(db.conn(), user_id)
        .await?
        .ok_or(CoreError::Forbidden(Problem::InactiveUser))?;
    if current.len() > MAX_PASSWORD_BYTES || !verify_password(current, &user.password_hash).await {
        return Err(CoreError::Invalid(Problem::PasswordWrong));
    }
    validate_password(new)?;
    if new == current {
        return Err(CoreError::Invalid(Problem::PasswordUnchanged));
    }
    let hash = hash_password(new).await?;
    let txn = db.write().await?;
    // The row again, in the transaction: it may have changed while the hashes were computed.
    let user = staff_user::Entity::find_by_id(user_id)
        .one(&*txn)
        .await?
        .filter(|u| u.active)
        .ok_or(CoreError::Forbidden(Problem::InactiveUser))?;
    let username = user.username.clone();
    let mut a: staff_user::ActiveModel = user.into();
    a.password_hash = Set(hash);
    a.must_change_password = Set(false);
    a.update(&*txn).await?;
    panel_sessions::end_all_of(&*txn, user_id).await?;
    let (token, _session) = panel_sessions::create(&*txn, Some(user_id), ip, now).await?;
    audit::log(
        &*txn,
        Some(user_id),
        AuditAction::UserChangePassword,
        Some(AuditTarget::User(username)),
        None,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(token)
}

/// Creates a user whose scope is the area at a path of names below the county (`gridline user
/// add`; empty: the county). Returns the user and their area.
pub async fn create_at(
    db: &Db,
    username: &str,
    password: &str,
    role: StaffRole,
    area_names: &str,
) -> CoreResult<(staff_user::Model, area::Model)> {
    let txn = db.write().await?;
    let area = areas::resolve_names(&*txn, area_names).await?;
    let user = create(&*txn, username, password, role, &area).await?;
    txn.commit().await?;
    Ok((user, area))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: StaffRole, area_id: i64, path: &str) -> StaffActor {
        StaffActor {
            id: 1,
            role,
            scope: Scope::from_parts(area_id, path),
        }
    }

    #[test]
    fn who_manages_whom() {
        let county = actor(StaffRole::CountyAdmin, 1, "/1/");
        let town = actor(StaffRole::TownAdmin, 5, "/1/5/");
        let sec = actor(StaffRole::Secretary, 9, "/1/5/9/");
        // Only strictly lower roles: no admin manages a peer.
        assert!(!may_manage_user(&county, StaffRole::CountyAdmin, "/1/"));
        assert!(may_manage_user(&county, StaffRole::TownAdmin, "/1/5/"));
        assert!(!may_manage_user(&town, StaffRole::TownAdmin, "/1/5/"));
        assert!(may_manage_user(&town, StaffRole::Viewer, "/1/5/9/"));
        assert!(may_manage_user(&town, StaffRole::Secretary, "/1/5/9/"));
        assert!(!may_manage_user(&town, StaffRole::CountyAdmin, "/1/5/"));
        assert!(!may_manage_user(&town, StaffRole::Secretary, "/1/6/"));
        assert!(!may_manage_user(&sec, StaffRole::Viewer, "/1/5/9/"));
        assert!(require_admin(&town).is_ok() && require_admin(&sec).is_err());
        assert!(require_county_admin(&county).is_ok());
        assert!(matches!(
            require_county_admin(&town),
            Err(CoreError::Forbidden(Problem::CountyAdminOnly))
        ));
    }

    #[test]
    fn usernames_and_passwords() {
        assert!(validate_username("zhang.san").is_ok());
        assert!(validate_username("张三").is_ok());
        assert!(validate_username("a").is_err());
        assert!(validate_username("robert'); drop table").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough pass").is_ok());
        // ASVS 2.1: 12 characters at least, common ones refused whatever their case.
        for weak in ["aaaaaaaaaa", "password12", "elevenchars"] {
            assert!(
                matches!(
                    validate_password(weak),
                    Err(CoreError::Invalid(Problem::PasswordTooShort { min: 12 }))
                ),
                "{weak}"
            );
        }
        for common in [
            "aaaaaaaaaaaaaaa",
            "1qaz2wsx3edc",
            "Password1234",
            "QWERTY123456",
        ] {
            assert!(
                matches!(
                    validate_password(common),
                    Err(CoreError::Invalid(Problem::PasswordTooCommon))
                ),
                "{common}"
            );
        }
        assert!(validate_password("gridline-demo").is_ok());
        assert!(validate_password("晋原街道长乐社区网格员们好").is_ok());
        assert!(COMMON_PASSWORDS.lines().count() > 2000);
        let p = generate_password();
        assert_eq!(p.len(), 16);
        assert_ne!(p, generate_password());
    }
}
