use sea_orm::entity::prelude::*;

/// One line of the audit log: who did what, when, from where.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    /// `None` for failed logins with an unknown username and for system actions.
    pub staff_id: Option<i64>,
    /// The actor's scope path when it acted (so the log can be shown per subtree).
    pub area_path: Option<String>,
    /// `login.success`, `login.failure`, `report.accept`, …
    pub action: String,
    /// What it acted on: `report:123`, `user:zhang`, …
    pub target: Option<String>,
    /// Free text without personal data.
    pub detail: Option<String>,
    pub ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
