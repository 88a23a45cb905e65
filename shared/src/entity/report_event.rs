use crate::domain::{ReportState, TimelineAction};
use sea_orm::entity::prelude::*;

/// One line of a report's timeline: who did what, when, from which state to which.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "report_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub report_id: i64,
    pub at: DateTimeUtc,
    /// `staff`, `member` or `system`.
    pub actor_kind: String,
    pub actor_staff_id: Option<i64>,
    pub actor_member_id: Option<i64>,
    pub action: TimelineAction,
    pub from_state: Option<ReportState>,
    pub to_state: Option<ReportState>,
    pub note: Option<String>,
    /// Whether the reporter may see it (internal comments are not public).
    pub public: bool,
    pub simulated: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
