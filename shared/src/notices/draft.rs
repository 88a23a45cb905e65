//! Composing a notice: the checks on a draft and saving it.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, Set};

use super::audience::audience_areas;
use super::telegram::render_html;
use super::{
    BatchMode, MAX_ATTACHMENT_BYTES, MAX_CAPTION_CHARS, MAX_TEXT_CHARS, NewNotice, audit,
    require_sender, to_json,
};
use crate::db::Db;
use crate::domain::{AreaLevel, NoticeStatus};
use crate::entity::notice;
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;

/// Longest title of a notice.
const MAX_TITLE_CHARS: usize = 200;
/// Longest wait between two batches: 30 days.
const MAX_INTERVAL_MINUTES: i64 = 60 * 24 * 30;

fn validate(new: &NewNotice) -> CoreResult<()> {
    if new.title.trim().is_empty() {
        return Err(CoreError::Invalid(Problem::NoticeTitleEmpty));
    }
    if new.title.chars().count() > MAX_TITLE_CHARS {
        return Err(CoreError::Invalid(Problem::NoticeTitleTooLong {
            max: MAX_TITLE_CHARS,
        }));
    }
    let rendered = render_html(&new.title, &new.body).chars().count();
    let limit = if new.attachment.is_some() {
        MAX_CAPTION_CHARS
    } else {
        MAX_TEXT_CHARS
    };
    if rendered > limit {
        return Err(CoreError::Invalid(if new.attachment.is_some() {
            Problem::NoticeCaptionTooLong {
                length: rendered,
                max: limit,
            }
        } else {
            Problem::NoticeTextTooLong {
                length: rendered,
                max: limit,
            }
        }));
    }
    if let Some(a) = &new.attachment {
        if a.data.is_empty() {
            return Err(CoreError::Invalid(Problem::AttachmentEmpty));
        }
        if a.data.len() > MAX_ATTACHMENT_BYTES {
            return Err(CoreError::Invalid(Problem::AttachmentTooLarge {
                max_mb: MAX_ATTACHMENT_BYTES / (1024 * 1024),
            }));
        }
    }
    if let BatchMode::BySize { size } = new.plan.mode
        && size == 0
    {
        return Err(CoreError::Invalid(Problem::BatchSizeZero));
    }
    if let BatchMode::ByArea { level } = new.plan.mode
        && !matches!(level, AreaLevel::Town | AreaLevel::Community)
    {
        return Err(CoreError::Invalid(Problem::BatchAreaLevel));
    }
    if !(0..=MAX_INTERVAL_MINUTES).contains(&new.plan.interval_minutes) {
        return Err(CoreError::Invalid(Problem::BatchIntervalOutOfRange {
            max: MAX_INTERVAL_MINUTES,
        }));
    }
    Ok(())
}

/// Saves a draft in the actor's scope (the audience's areas must lie inside it).
pub async fn create(
    db: &Db,
    actor: &StaffActor,
    new: NewNotice,
    now: DateTime<Utc>,
) -> CoreResult<notice::Model> {
    require_sender(actor)?;
    validate(&new)?;
    let txn = db.write().await?;
    audience_areas(&*txn, &actor.scope, &new.audience).await?;
    let (name, mime, data) = match new.attachment {
        Some(a) => (Some(a.file_name), Some(a.mime), Some(a.data)),
        None => (None, None, None),
    };
    let model = notice::ActiveModel {
        title: Set(new.title.trim().to_owned()),
        body: Set(new.body),
        attachment_name: Set(name),
        attachment_mime: Set(mime),
        attachment_data: Set(data),
        audience: Set(to_json(&new.audience)?),
        batch_plan: Set(to_json(&new.plan)?),
        area_id: Set(actor.scope.area_id()),
        area_path: Set(actor.scope.path().to_owned()),
        created_by: Set(Some(actor.id)),
        status: Set(NoticeStatus::Draft),
        remind_at: Set(new.remind_at),
        reminders_sent: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        submitted_at: Set(None),
        ..Default::default()
    }
    .insert(&*txn)
    .await?;
    audit(&*txn, Some(actor.id), "notice.create", model.id, None, now).await?;
    txn.commit().await?;
    Ok(model)
}
