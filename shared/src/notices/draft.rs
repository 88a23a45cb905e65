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

fn validate(new: &NewNotice) -> CoreResult<()> {
    if new.title.trim().is_empty() {
        return Err(CoreError::Invalid("title is empty".into()));
    }
    if new.title.chars().count() > 200 {
        return Err(CoreError::Invalid(
            "title is longer than 200 characters".into(),
        ));
    }
    let rendered = render_html(&new.title, &new.body).chars().count();
    let limit = if new.attachment.is_some() {
        MAX_CAPTION_CHARS
    } else {
        MAX_TEXT_CHARS
    };
    if rendered > limit {
        return Err(CoreError::Invalid(format!(
            "text is too long ({rendered} > {limit} characters{})",
            if new.attachment.is_some() {
                " with an attachment"
            } else {
                ""
            }
        )));
    }
    if let Some(a) = &new.attachment {
        if a.data.is_empty() {
            return Err(CoreError::Invalid("the attachment is empty".into()));
        }
        if a.data.len() > MAX_ATTACHMENT_BYTES {
            return Err(CoreError::Invalid(
                "the attachment is larger than 10 MB".into(),
            ));
        }
    }
    if let BatchMode::BySize { size } = new.plan.mode
        && size == 0
    {
        return Err(CoreError::Invalid("batch size must be at least 1".into()));
    }
    if let BatchMode::ByArea { level } = new.plan.mode
        && !matches!(level, AreaLevel::Town | AreaLevel::Community)
    {
        return Err(CoreError::Invalid(
            "batches by area are by town or community".into(),
        ));
    }
    if !(0..=60 * 24 * 30).contains(&new.plan.interval_minutes) {
        return Err(CoreError::Invalid("batch interval out of range".into()));
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
