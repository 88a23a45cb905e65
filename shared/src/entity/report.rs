use crate::domain::{ReportKind, ReportState, ReturnReason, Urgency, VisitMethod};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    /// The report number a grid leader sees on the receipt (`#123`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: ReportKind,
    pub state: ReportState,
    pub category_id: Option<i64>,
    pub urgency: Urgency,
    pub description: String,
    pub reporter_member_id: Option<i64>,
    /// Where the report comes from (the reporter's micro-grid): decides who may see it.
    pub origin_area_id: i64,
    pub origin_area_path: String,
    /// Who must act now: starts at the community, moves up on escalation.
    pub handling_area_id: i64,
    pub handling_area_path: String,
    pub assignee_staff_id: Option<i64>,
    pub assignee_member_id: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub address: Option<String>,
    pub people_involved: Option<String>,
    pub household: Option<String>,
    pub household_count: Option<i32>,
    pub visit_method: Option<VisitMethod>,
    pub topics: Option<String>,
    pub resolved_on_spot: Option<bool>,
    pub parent_report_id: Option<i64>,
    /// Personal data: shown only to staff in scope, masked in exports, never logged.
    pub resident_name: Option<String>,
    pub resident_phone: Option<String>,
    pub return_reason: Option<ReturnReason>,
    /// The note that came with the last return or rejection.
    pub reason_note: Option<String>,
    pub duplicate_of: Option<i64>,
    pub escalation_level: i16,
    pub simulated: bool,
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub submitted_at: Option<DateTimeUtc>,
    pub accepted_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    /// When the running deadline started; with `due_at` it gives the light.
    pub clock_started_at: Option<DateTimeUtc>,
    /// 75 % of the running deadline: yellow from here.
    pub warn_at: Option<DateTimeUtc>,
    /// The running deadline: red from here. `None` when no deadline runs.
    pub due_at: Option<DateTimeUtc>,
    /// Set when resolved: whether the deadline then running was met (`None`: none ran).
    pub resolved_on_time: Option<bool>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
