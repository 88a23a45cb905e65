//! Telegram updates → core inputs. Only shapes are translated here; nothing is decided.

use gridline_shared::conversation::machine::drop_control_chars;
use gridline_shared::conversation::runner::{self, Incoming};
use gridline_shared::conversation::{FileKind, FileRef, Input, parse_text};
use teloxide::types::{CallbackQuery, FileMeta, Message, MessageKind, Update, UpdateKind};

/// What the adapter needs to know about a button press besides the input.
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackMeta {
    pub query_id: String,
    /// The bot's message the button sits on (absent for inline-mode messages).
    pub message_id: Option<i32>,
}

/// An update the bot acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    pub incoming: Incoming,
    pub callback: Option<CallbackMeta>,
}

/// Why an update is not acted on (logged by kind, never with its content).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Edits are ignored on purpose: a message already taken into a draft or a report is
    /// evidence as it was sent; silently changing it later would change what staff saw. The
    /// user can send a correction (or use 修改 on the summary card).
    Edited,
    /// Channel posts, business messages, reactions, polls… — nothing a grid leader sends.
    OtherKind,
    /// A service message in a chat (member joined, pinned…).
    Service,
}

/// The chat an update belongs to, for per-chat ordering (0 when it has none).
pub fn chat_key(update: &Update) -> i64 {
    match &update.kind {
        UpdateKind::Message(m) | UpdateKind::EditedMessage(m) => m.chat.id.0,
        UpdateKind::CallbackQuery(q) => q
            .message
            .as_ref()
            .map(|m| m.chat().id.0)
            .unwrap_or(i64::try_from(q.from.id.0).unwrap_or(0)),
        UpdateKind::MyChatMember(c) => c.chat.id.0,
        _ => 0,
    }
}

pub fn update_id(update: &Update) -> i64 {
    i64::from(update.id.0)
}

pub fn convert(update: &Update) -> Result<Converted, Ignored> {
    let update_id = update_id(update);
    match &update.kind {
        UpdateKind::Message(m) => message(update_id, m),
        UpdateKind::EditedMessage(_) => Err(Ignored::Edited),
        UpdateKind::CallbackQuery(q) => Ok(callback(update_id, q)),
        _ => Err(Ignored::OtherKind),
    }
}

fn file(meta: &FileMeta, kind: FileKind, mime: Option<String>, name: Option<String>) -> FileRef {
    FileRef {
        kind,
        file_id: meta.id.0.clone(),
        unique_id: meta.unique_id.0.clone(),
        // teloxide fills u32::MAX when Telegram did not say.
        size: (meta.size != u32::MAX).then_some(u64::from(meta.size)),
        mime,
        file_name: name,
    }
}

fn message(update_id: i64, m: &Message) -> Result<Converted, Ignored> {
    if !matches!(m.kind, MessageKind::Common(_)) {
        return Err(Ignored::Service);
    }
    let from = m.from.as_ref();
    let caption = m.caption().map(clean);
    let input = if let Some(text) = m.text() {
        parse_text(text)
    } else if let Some(sizes) = m.photo() {
        match sizes
            .iter()
            .max_by_key(|p| (u64::from(p.width) * u64::from(p.height), p.file.size))
        {
            Some(largest) => Input::File {
                file: file(
                    &largest.file,
                    FileKind::Photo,
                    Some("image/jpeg".into()),
                    None,
                ),
                caption,
            },
            None => Input::Unsupported,
        }
    } else if let Some(v) = m.voice() {
        Input::File {
            file: file(
                &v.file,
                FileKind::Voice,
                v.mime_type.as_ref().map(|x| x.to_string()),
                None,
            ),
            caption,
        }
    } else if let Some(d) = m.document() {
        Input::File {
            file: file(
                &d.file,
                FileKind::Document,
                d.mime_type.as_ref().map(|x| x.to_string()),
                d.file_name.as_deref().map(file_name),
            ),
            caption,
        }
    } else if let Some(v) = m.video() {
        Input::File {
            file: file(
                &v.file,
                FileKind::Document,
                v.mime_type.as_ref().map(|x| x.to_string()),
                v.file_name.as_deref().map(file_name),
            ),
            caption,
        }
    } else if let Some(a) = m.audio() {
        Input::File {
            file: file(
                &a.file,
                FileKind::Voice,
                a.mime_type.as_ref().map(|x| x.to_string()),
                a.file_name.as_deref().map(file_name),
            ),
            caption,
        }
    } else if let Some(l) = m.location() {
        if l.latitude.is_finite() && l.longitude.is_finite() {
            Input::Location {
                latitude: l.latitude,
                longitude: l.longitude,
            }
        } else {
            Input::Unsupported
        }
    } else if let Some(c) = m.contact() {
        let is_own = match (c.user_id, from) {
            (Some(cid), Some(f)) => cid == f.id,
            _ => false,
        };
        Input::Contact {
            phone: clean(&c.phone_number),
            is_own,
        }
    } else {
        Input::Unsupported
    };
    Ok(Converted {
        incoming: Incoming {
            update_id,
            chat_id: m.chat.id.0,
            private: m.chat.is_private(),
            user_id: from.and_then(|u| i64::try_from(u.id.0).ok()),
            message_id: Some(i64::from(m.id.0)),
            reply_to: m.reply_to_message().map(|r| i64::from(r.id.0)),
            reply_to_report: m
                .reply_to_message()
                .filter(|r| r.from.as_ref().is_some_and(|u| u.is_bot))
                .and_then(|r| r.text().or(r.caption()))
                .and_then(runner::single_report_number),
            language_code: from.and_then(|u| u.language_code.clone()),
            input,
        },
        callback: None,
    })
}

/// A caption or a shared phone as sent, without control characters (NUL cannot be stored by
/// PostgreSQL; the others are invisible). Telegram never sends them, a webhook caller might.
/// Typed text is cleaned the same way by the core's `parse_text`.
fn clean(text: &str) -> String {
    drop_control_chars(text).into_owned()
}

/// A file name as shown in the panel: no control characters, at most 255 characters.
fn file_name(name: &str) -> String {
    drop_control_chars(name).chars().take(255).collect()
}

fn callback(update_id: i64, q: &CallbackQuery) -> Converted {
    let user_id = i64::try_from(q.from.id.0).unwrap_or(0);
    let (chat_id, private) = match &q.message {
        Some(m) => (m.chat().id.0, m.chat().is_private()),
        None => (user_id, true),
    };
    let data = q.data.clone().unwrap_or_default();
    Converted {
        incoming: Incoming {
            update_id,
            chat_id,
            private,
            user_id: Some(user_id),
            message_id: None,
            reply_to: None,
            reply_to_report: None,
            language_code: q.from.language_code.clone(),
            input: if data.len() > 64 || data.is_empty() {
                // Telegram caps callback data at 64 bytes; anything else is not ours.
                Input::Callback {
                    data: String::new(),
                }
            } else {
                Input::Callback { data }
            },
        },
        callback: Some(CallbackMeta {
            query_id: q.id.0.clone(),
            message_id: q.message.as_ref().map(|m| m.id().0),
        }),
    }
}
