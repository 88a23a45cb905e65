use sea_orm::entity::prelude::*;

/// A canned reply staff can pick when replying to a reporter.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "response_templates")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `zh-CN` or `en`.
    pub locale: String,
    pub title: String,
    pub body: String,
    pub sort_order: i32,
    pub active: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
