use crate::domain::NoticeStatus;
use sea_orm::entity::prelude::*;

/// A notice to members: text, optional attachment, audience, batches (see `crate::notices`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub title: String,
    /// As the author typed it (plain text; rendered to Telegram HTML with escaping).
    pub body: String,
    pub attachment_name: Option<String>,
    pub attachment_mime: Option<String>,
    pub attachment_data: Option<Vec<u8>>,
    /// JSON of [`crate::notices::Audience`].
    pub audience: String,
    /// JSON of [`crate::notices::BatchPlan`].
    pub batch_plan: String,
    /// The author's scope: the notice is visible to staff whose scope contains it.
    pub area_id: i64,
    pub area_path: String,
    pub created_by: Option<i64>,
    pub status: NoticeStatus,
    /// When to remind those who have not acknowledged (cleared once done).
    pub remind_at: Option<DateTimeUtc>,
    pub reminders_sent: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub submitted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
