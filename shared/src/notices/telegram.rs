//! The notice as Telegram sees it: HTML text, the 收到 button and the outbox payload.

use rust_i18n::t;

use crate::error::{CoreError, CoreResult};
use crate::outbox::{Button, OutgoingMessage};
use crate::text::escape_html;

/// The notice as Telegram HTML: the title in bold, then the body escaped, with `**bold**`
/// spans of the body in bold (an unpaired `**` stays as typed).
pub fn render_html(title: &str, body: &str) -> String {
    let mut out = format!("<b>{}</b>", escape_html(title.trim()));
    let body = body.trim();
    if !body.is_empty() {
        out.push_str("\n\n");
        let parts: Vec<&str> = body.split("**").collect();
        let paired = parts.len() % 2 == 1;
        for (i, part) in parts.iter().enumerate() {
            let bold = i % 2 == 1 && (paired || i + 1 < parts.len());
            if i % 2 == 1 && !bold {
                out.push_str("**");
            }
            if bold {
                out.push_str("<b>");
                out.push_str(&escape_html(part));
                out.push_str("</b>");
            } else {
                out.push_str(&escape_html(part));
            }
        }
    }
    out
}

/// Callback data of the 收到 button: `ack:<notice_id>`.
pub fn ack_data(notice_id: i64) -> String {
    format!("ack:{notice_id}")
}

/// Parses `ack:<notice_id>` (for the bot).
pub fn parse_ack_data(data: &str) -> Option<i64> {
    data.strip_prefix("ack:")?.parse().ok()
}

/// The payload of an outbox row: an [`OutgoingMessage`] plus how to send it (`html`, and the
/// notice whose attachment goes with it). Extra keys are ignored by readers of the plain type.
pub(super) fn payload(
    text: String,
    notice_id: i64,
    with_attachment: bool,
    locale: &str,
) -> CoreResult<String> {
    let message = OutgoingMessage {
        text,
        buttons: vec![vec![Button {
            label: t!("msg.notice.ack_button", locale = locale).into_owned(),
            data: ack_data(notice_id),
        }]],
        report_id: None,
    };
    let mut value =
        serde_json::to_value(&message).map_err(|e| CoreError::Internal(format!("payload: {e}")))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("html".into(), serde_json::Value::Bool(true));
        if with_attachment {
            obj.insert(
                "attachment_notice".into(),
                serde_json::Value::from(notice_id),
            );
        }
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_bold_pairs_render() {
        assert_eq!(
            render_html("培训<通知>", "请 **周五** 前到 A&B 会议室"),
            "<b>培训&lt;通知&gt;</b>\n\n请 <b>周五</b> 前到 A&amp;B 会议室"
        );
        assert_eq!(render_html("t", "a ** b"), "<b>t</b>\n\na ** b");
        assert_eq!(render_html("t", "<script>"), "<b>t</b>\n\n&lt;script&gt;");
    }

    #[test]
    fn ack_data_round_trips() {
        assert_eq!(parse_ack_data(&ack_data(42)), Some(42));
        assert_eq!(parse_ack_data("ack:x"), None);
        assert_eq!(parse_ack_data("task:done:1"), None);
    }
}
