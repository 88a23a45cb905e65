//! `/admin/audit`: the audit log of the staff in scope (and, for the county, of nobody: failed
//! logins and the system), newest first, filtered by user and days. County and town admins only.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use gridline_shared::audit::{self, AuditAction, AuditQuery, AuditTarget, report_action};
use gridline_shared::county_settings::Setting;
use gridline_shared::entity::category;
use gridline_shared::{categories, report_page, staff};
use rust_i18n::t;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::filter;
use crate::panel::forms::FormData;
use crate::panel::layout::{Opt, PageCtx, local_time, opt};
use crate::panel::session::CurrentUser;
use crate::tr;

pub struct AuditRow {
    pub at: String,
    pub who: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub page: PageCtx,
    pub rows: Vec<AuditRow>,
    pub users: Vec<Opt>,
    pub from: String,
    pub to: String,
    pub next_href: Option<String>,
}

const AUDIT_PAGE: u64 = 100;

/// An action code in the user's words (`notice.create` → 起草通知); a code this version does
/// not know is shown as stored.
pub fn action_label(code: &str, locale: &str) -> String {
    if let Some(a) = AuditAction::parse(code) {
        let key = format!("panel.audit.action.{}", a.code().replace('.', "_"));
        return tr(locale, &key);
    }
    if let Some((action, refused)) = report_action(code)
        && report_page::PANEL_ACTIONS.contains(&action)
    {
        let action = tr(locale, format!("panel.action.{action}"));
        let key = if refused {
            "panel.audit.action.report_refused"
        } else {
            "panel.audit.action.report"
        };
        return t!(key, locale = locale, action = action).into_owned();
    }
    code.to_owned()
}

/// A target in the user's words (`notice:12` → 通知 #12, a category by its name); one this
/// version does not know is shown as stored.
pub fn target_label(target: &str, categories: &[category::Model], locale: &str) -> String {
    let Ok(t) = target.parse::<AuditTarget>() else {
        return target.to_owned();
    };
    let id = match &t {
        AuditTarget::Category(code) => categories
            .iter()
            .find(|c| &c.code == code)
            .map_or_else(|| code.clone(), |c| c.label(locale).to_owned()),
        AuditTarget::Setting(key) => {
            Setting::parse(key).map_or_else(|| key.clone(), |s| tr(locale, s.label_key()))
        }
        other => other.id(),
    };
    t!(
        format!("panel.audit.target.{}", t.kind()),
        locale = locale,
        id = id
    )
    .into_owned()
}

/// GET /admin/audit (`user`, `from`, `to`, `before`)
pub async fn audit_page(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let locale = user.locale;
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let bad = |what: &str| filter::bad_filter(locale, what);
    let q = AuditQuery {
        staff_id: form
            .get("user")
            .map(|u| u.parse::<i64>().map_err(|_| bad("user")))
            .transpose()?,
        from: filter::parse_date(&form, "from", locale)?,
        to: filter::parse_date(&form, "to", locale)?,
        before_id: form
            .get("before")
            .map(|u| u.parse::<i64>().map_err(|_| bad("before")))
            .transpose()?,
    };
    let (entries, names) = audit::search(state.db.conn(), &user.actor(), &q, AUDIT_PAGE).await?;
    let next_href = (entries.len() as u64 == AUDIT_PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &form.0 {
                if k != "before" && k != "lang" {
                    ser.append_pair(k, v);
                }
            }
            ser.append_pair("before", &id.to_string());
            format!("/admin/audit?{}", ser.finish())
        });
    let categories = categories::all(state.db.conn()).await?;
    let rows = entries
        .into_iter()
        .map(|e| AuditRow {
            at: local_time(e.at),
            who: e
                .staff_id
                .and_then(|id| names.get(&id).cloned())
                .unwrap_or_else(|| "—".into()),
            action: action_label(&e.action, locale),
            target: e
                .target
                .as_deref()
                .map(|t| target_label(t, &categories, locale))
                .unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    let users = staff::users_in_scope(state.db.conn(), &user.scope())
        .await?
        .into_iter()
        .map(|u| opt(u.id.to_string(), u.username, q.staff_id == Some(u.id)))
        .collect();
    let page = AuditPage {
        page: user.page(&state, "admin", "panel.audit.title").await,
        rows,
        users,
        from: q.from.map(|d| d.to_string()).unwrap_or_default(),
        to: q.to.map(|d| d.to_string()).unwrap_or_default(),
        next_href,
    };
    Ok(page.into_response())
}
