//! County time (UTC+8) and the county's holiday table (days off on weekdays, and 调休 make-up
//! workdays on weekends).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, Set};

use crate::calendar::{DayKind, WorkCalendar};
use crate::entity::holiday;
use crate::error::{CoreError, CoreResult};

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
        .ok_or_else(|| CoreError::Invalid("bad date".into()))
}

/// The county's midnight at the end of `day` (the exclusive end of a range of whole days).
pub fn county_day_end(day: NaiveDate) -> CoreResult<DateTime<Utc>> {
    let next = day
        .succ_opt()
        .ok_or_else(|| CoreError::Invalid("bad date".into()))?;
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

pub async fn remove_day(db: &impl ConnectionTrait, day: NaiveDate) -> CoreResult<()> {
    holiday::Entity::delete_by_id(day).exec(db).await?;
    Ok(())
}

pub async fn list(db: &impl ConnectionTrait) -> CoreResult<Vec<holiday::Model>> {
    Ok(holiday::Entity::find()
        .order_by_asc(holiday::Column::Day)
        .all(db)
        .await?)
}
