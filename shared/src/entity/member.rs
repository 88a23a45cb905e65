use crate::domain::{Lang, MemberStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub phone: String,
    /// 微网格长, 网格员, 楼栋长 …
    pub role: String,
    /// Tags as `,党员,新任,` (leading and trailing commas so one tag matches with LIKE).
    pub tags: String,
    pub area_id: i64,
    pub area_path: String,
    pub bind_code: String,
    pub telegram_user_id: Option<i64>,
    pub telegram_chat_id: Option<i64>,
    pub language: Lang,
    pub status: MemberStatus,
    pub bound_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
