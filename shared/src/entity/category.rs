use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "categories")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub parent_id: Option<i64>,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub sort_order: i32,
    /// Time limits as text (`30m`, `4h`, `1wd`); `None` inherits from the parent, then the default.
    pub accept_normal: Option<String>,
    pub accept_urgent: Option<String>,
    pub accept_critical: Option<String>,
    pub handle_normal: Option<String>,
    pub handle_urgent: Option<String>,
    pub handle_critical: Option<String>,
    pub active: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
