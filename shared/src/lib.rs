//! The Gridline core.
//!
//! Everything a grid leader or a secretary can do is decided here: the area tree and scopes,
//! the roster, the report lifecycle, deadlines, the conversation machine and the outgoing
//! message queue. Adapters (the Telegram bot in `bot/`, the panel in `admin/`) call into this
//! crate and perform the effects it returns. This crate never depends on teloxide or axum.

rust_i18n::i18n!("locales", fallback = "zh-CN");

pub mod api_tokens;
pub mod areas;
pub mod audit;
pub mod backup;
pub mod bot_store;
pub mod calendar;
pub mod categories;
pub mod conversation;
pub mod counters;
pub mod county_settings;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod entity;
pub mod error;
pub mod export;
pub mod holidays;
pub mod import;
pub mod inbox;
pub mod lifecycle;
pub mod members;
pub mod metrics;
pub mod notices;
pub mod outbox;
pub mod paging;
pub mod panel_sessions;
pub mod problem;
pub mod report_page;
pub mod reports;
pub mod response_templates;
pub mod roster;
pub mod scope;
pub mod simulator;
pub mod staff;
pub mod stats;
pub mod text;

pub use db::Db;
pub use error::{CoreError, CoreResult};
pub use problem::Problem;
pub use scope::Scope;

/// Everything a fresh database needs before first use: the schema, the county root and the
/// default categories. Idempotent; called at start and by `gridline migrate`.
pub async fn prepare(db: &Db, county_name: &str) -> CoreResult<entity::area::Model> {
    db.migrate().await?;
    let txn = db.write().await?;
    let root = areas::ensure_root(&*txn, county_name).await?;
    categories::seed_defaults(&*txn).await?;
    txn.commit().await?;
    Ok(root)
}

/// Whether nothing was put into the database yet: no staff user, no member, no report (the
/// demo seeds only such a database).
pub async fn is_blank(conn: &impl sea_orm::ConnectionTrait) -> CoreResult<bool> {
    use entity::{member, report, staff_user};
    use sea_orm::{EntityTrait, PaginatorTrait};
    Ok(staff_user::Entity::find().count(conn).await? == 0
        && member::Entity::find().count(conn).await? == 0
        && report::Entity::find().count(conn).await? == 0)
}
