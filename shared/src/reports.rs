//! Reports: creating them (by a grid leader) and finding them (always within a scope).
//! State changes after submission go through [`crate::lifecycle::transition`] only.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use crate::calendar::{WorkCalendar, warn_at};
use crate::categories;
use crate::domain::{AreaLevel, ReportKind, ReportState, TimelineAction, Urgency, VisitMethod};
use crate::entity::{area, attachment, member, report, report_event};
use crate::error::{CoreError, CoreResult};
use crate::problem::Problem;
use crate::scope::Scope;

/// Longest description we store; the bot splits or refuses longer input before this.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;

/// Everything a grid leader can fill in. Only `kind` and `description` are required.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewReport {
    pub kind: Option<ReportKind>,
    pub category_id: Option<i64>,
    pub urgency: Option<Urgency>,
    pub description: String,
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
    pub resident_name: Option<String>,
    pub resident_phone: Option<String>,
    pub simulated: bool,
    /// Makes a repeated submission (same Telegram update) a no-op.
    pub idempotency_key: Option<String>,
}

/// Files a report for `reporter`: state `submitted`, the accept deadline running, one timeline
/// event. If a report with the same idempotency key exists, that one is returned unchanged.
pub async fn submit(
    db: &impl ConnectionTrait,
    reporter: &member::Model,
    new: NewReport,
    calendar: &WorkCalendar,
    now: DateTime<Utc>,
) -> CoreResult<report::Model> {
    if let Some(key) = &new.idempotency_key
        && let Some(existing) = report::Entity::find()
            .filter(report::Column::IdempotencyKey.eq(key.clone()))
            .one(db)
            .await?
    {
        return Ok(existing);
    }
    let kind = new
        .kind
        .ok_or(CoreError::Invalid(Problem::ReportKindMissing))?;
    let description = new.description.trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(CoreError::Invalid(Problem::DescriptionTooLong {
            max: MAX_DESCRIPTION_CHARS,
        }));
    }
    let urgency = new.urgency.unwrap_or(Urgency::Normal);
    let origin = area::Entity::find_by_id(reporter.area_id)
        .one(db)
        .await?
        .ok_or(CoreError::NotFound)?;
    let handling = handling_area_for(db, &origin).await?;
    let limits = categories::limits_for(db, new.category_id, urgency).await?;
    let due = calendar.deadline(now, limits.accept);

    let saved = report::ActiveModel {
        kind: Set(kind),
        state: Set(ReportState::Submitted),
        category_id: Set(new.category_id),
        urgency: Set(urgency),
        description: Set(description),
        reporter_member_id: Set(Some(reporter.id)),
        origin_area_id: Set(origin.id),
        origin_area_path: Set(origin.path.clone()),
        handling_area_id: Set(handling.id),
        handling_area_path: Set(handling.path.clone()),
        assignee_staff_id: Set(None),
        assignee_member_id: Set(None),
        latitude: Set(new.latitude),
        longitude: Set(new.longitude),
        address: Set(new.address),
        people_involved: Set(new.people_involved),
        household: Set(new.household),
        household_count: Set(new.household_count),
        visit_method: Set(new.visit_method),
        topics: Set(new.topics),
        resolved_on_spot: Set(new.resolved_on_spot),
        parent_report_id: Set(new.parent_report_id),
        resident_name: Set(new.resident_name),
        resident_phone: Set(new.resident_phone),
        return_reason: Set(None),
        reason_note: Set(None),
        duplicate_of: Set(None),
        escalation_level: Set(0),
        simulated: Set(new.simulated),
        idempotency_key: Set(new.idempotency_key),
        created_at: Set(now),
        updated_at: Set(now),
        submitted_at: Set(Some(now)),
        accepted_at: Set(None),
        resolved_at: Set(None),
        closed_at: Set(None),
        clock_started_at: Set(Some(now)),
        warn_at: Set(Some(warn_at(now, due))),
        due_at: Set(Some(due)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    crate::counters::report_added(db, &saved).await?;
    report_event::ActiveModel {
        report_id: Set(saved.id),
        at: Set(now),
        actor_kind: Set("member".into()),
        actor_staff_id: Set(None),
        actor_member_id: Set(Some(reporter.id)),
        action: Set(TimelineAction::Submit),
        from_state: Set(None),
        to_state: Set(Some(ReportState::Submitted)),
        note: Set(None),
        public: Set(true),
        simulated: Set(saved.simulated),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(saved)
}

/// A file whose bytes are at hand (not fetched from a messenger later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub kind: crate::conversation::FileKind,
    pub mime: String,
    pub file_name: String,
    pub data: Vec<u8>,
}

/// Attaches a file with its bytes to a report (not to a timeline event).
pub async fn attach_stored(
    db: &impl ConnectionTrait,
    report_id: i64,
    file: StoredFile,
    now: DateTime<Utc>,
) -> CoreResult<attachment::Model> {
    Ok(attachment::ActiveModel {
        report_id: Set(report_id),
        event_id: Set(None),
        kind: Set(file.kind.code().to_owned()),
        telegram_file_id: Set(None),
        telegram_file_unique_id: Set(None),
        mime: Set(Some(file.mime)),
        file_name: Set(Some(file.file_name)),
        size: Set(i64::try_from(file.data.len()).ok()),
        data: Set(Some(file.data)),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Reports are handled by the community they come from (or the area itself if it sits higher).
async fn handling_area_for(
    db: &impl ConnectionTrait,
    origin: &area::Model,
) -> CoreResult<area::Model> {
    if origin.level <= AreaLevel::Community {
        return Ok(origin.clone());
    }
    let id = crate::domain::AreaPath::stored(origin.path.as_str())
        .id_at(AreaLevel::Community)
        .ok_or(CoreError::NotFound)?;
    area::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(CoreError::NotFound)
}

/// A report the scope may see (by where it comes from), or `NotFound`.
pub async fn find_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
) -> CoreResult<report::Model> {
    report::Entity::find_by_id(id)
        .filter(scope.condition(report::Column::OriginAreaPath))
        .one(db)
        .await?
        .ok_or(CoreError::NotFound)
}

/// The timeline of a report the scope may see, oldest first.
pub async fn timeline_in_scope(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
) -> CoreResult<Vec<report_event::Model>> {
    let report = find_in_scope(db, scope, id).await?;
    Ok(report_event::Entity::find()
        .filter(report_event::Column::ReportId.eq(report.id))
        .order_by_asc(report_event::Column::Id)
        .all(db)
        .await?)
}

/// A member's own recent reports, newest first (for `/my`).
pub async fn recent_of_member(
    db: &impl ConnectionTrait,
    member_id: i64,
    limit: u64,
) -> CoreResult<Vec<report::Model>> {
    use sea_orm::QuerySelect;
    Ok(report::Entity::find()
        .filter(report::Column::ReporterMemberId.eq(member_id))
        .order_by_desc(report::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
