//! County time (UTC+8) and the county's holiday table (days off on weekdays, and 调休 make-up
//! workdays on weekends).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, Set};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::calendar::{DayKind, WorkCalendar};
use crate::db::Db;
use crate::entity::holiday;
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;

/// The county's local time: China Standard Time.
pub fn county_offset() -> FixedOffset {
    WorkCalendar::CHINA_OFFSET
}

/// County-local `2026-03-02 10:00`.
pub fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&county_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The county's midnight at the start of `day`.
pub fn county_day_start(day: NaiveDate) -> CoreResult<DateTime<Utc>> {
    county_offset()
        .from_local_datetime(&day.and_time(NaiveTime::MIN))
        .single()
        .map(|d| d.with_timezone(&Utc))
        .ok_or(CoreError::Invalid(Problem::DateOutOfRange))
}

/// The county's midnight at the end of `day` (the exclusive end of a range of whole days).
pub fn county_day_end(day: NaiveDate) -> CoreResult<DateTime<Utc>> {
    let next = day
        .succ_opt()
        .ok_or(CoreError::Invalid(Problem::DateOutOfRange))?;
    county_day_start(next)
}

pub async fn calendar(db: &impl ConnectionTrait) -> CoreResult<WorkCalendar> {
    let rows = holiday::Entity::find().all(db).await?;
    Ok(WorkCalendar::new(
        county_offset(),
        rows.into_iter().map(|h| {
            (
                h.day,
                if h.kind == "workday" {
                    DayKind::Workday
                } else {
                    DayKind::Holiday
                },
            )
        }),
    ))
}

/// Adds or replaces one day.
pub async fn set_day(
    db: &impl ConnectionTrait,
    day: NaiveDate,
    kind: DayKind,
    name: &str,
) -> CoreResult<()> {
    holiday::Entity::delete_by_id(day).exec(db).await?;
    holiday::ActiveModel {
        day: Set(day),
        kind: Set(match kind {
            DayKind::Holiday => "holiday".into(),
            DayKind::Workday => "workday".into(),
        }),
        name: Set(name.trim().to_owned()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Longest name of a holiday.
pub const MAX_NAME_CHARS: usize = 40;

/// Staff command: adds or replaces one day of the county's table. A name too long is refused
/// rather than cut (nothing typed is silently lost). The county admin only.
pub async fn set(
    db: &Db,
    actor: &StaffActor,
    day: NaiveDate,
    kind: DayKind,
    name: &str,
    ip: Option<&str>,
) -> CoreResult<()> {
    crate::staff::require_county_admin(actor)?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(CoreError::Invalid(Problem::HolidayNameTooLong {
            max: MAX_NAME_CHARS,
        }));
    }
    let txn = db.write().await?;
    set_day(&*txn, day, kind, name).await?;
    let target = Some(AuditTarget::Day(day));
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::HolidaySet,
        target,
        Some(kind.as_str()),
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Staff command: removes one day from the county's table. The county admin only.
pub async fn remove(
    db: &Db,
    actor: &StaffActor,
    day: NaiveDate,
    ip: Option<&str>,
) -> CoreResult<()> {
    crate::staff::require_county_admin(actor)?;
    let txn = db.write().await?;
    holiday::Entity::delete_by_id(day).exec(&*txn).await?;
    let target = Some(AuditTarget::Day(day));
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::HolidayRemove,
        target,
        None,
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait) -> CoreResult<Vec<holiday::Model>> {
    Ok(holiday::Entity::find()
        .order_by_asc(holiday::Column::Day)
        .all(db)
        .await?)
}
