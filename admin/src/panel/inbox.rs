//! The inbox: filters, sort, keyset pages, counts per state, bulk accept / assign. The query
//! and the actions are in `gridline_shared::inbox`; this only reads the form and renders.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridline_shared::Scope;
use gridline_shared::calendar::Light;
use gridline_shared::categories;
use gridline_shared::domain::{ReportKind, Urgency};
use gridline_shared::entity::category;
use gridline_shared::inbox::{self, Cursor, InboxFilter, InboxRow, InboxSort};
use gridline_shared::lifecycle::{Action, Assignee};
use rust_i18n::t;

use crate::app::AppState;
use crate::panel::error::{PanelError, refusal_message};
use crate::panel::filter::bad_filter;
use crate::panel::forms::FormData;
use crate::panel::layout::{Opt, PageCtx, local_time, local_time_opt, opt};
use crate::panel::session::CurrentUser;
use crate::tr;

pub struct StateTab {
    pub href: String,
    pub label: String,
    /// The count as shown: `1000+` (all states) or empty (one state) when capped.
    pub count: String,
    pub active: bool,
}

pub struct Row {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub state_code: &'static str,
    pub category: String,
    pub urgency: String,
    pub urgency_code: &'static str,
    pub excerpt: String,
    pub address: String,
    pub origin: String,
    pub handling: String,
    pub escalated: bool,
    pub created: String,
    pub due: String,
    pub light: &'static str,
    pub light_label: String,
    pub simulated: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "inbox.html")]
pub struct InboxPage {
    pub page: PageCtx,
    pub tabs: Vec<StateTab>,
    pub kinds: Vec<Opt>,
    pub categories: Vec<Opt>,
    pub areas: Vec<Opt>,
    pub urgencies: Vec<Opt>,
    pub lights: Vec<Opt>,
    pub sorts: Vec<Opt>,
    pub state_value: String,
    pub from: String,
    pub to: String,
    pub q: String,
    pub rows: Vec<Row>,
    pub total: u64,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub can_act: bool,
    pub assignees: Vec<Opt>,
}

/// The filter as read from the query string, plus what is needed to rebuild links.
struct Parsed {
    filter: InboxFilter,
    sort: InboxSort,
    after: Option<Cursor>,
    /// Query pairs without `after` / `lang` / `csrf_token` (for page links).
    pairs: Vec<(String, String)>,
}

fn parse_query(raw: Option<&str>, locale: &str) -> Result<Parsed, PanelError> {
    let form = FormData::parse(raw.unwrap_or("").as_bytes());
    // The same parameters as the exports and the JSON API.
    let f = crate::panel::filter::parse_filter(&form, locale)?;
    let sort = match form.get("sort") {
        Some(s) => InboxSort::parse(s).ok_or_else(|| bad_filter(locale, "sort"))?,
        None => InboxSort::default(),
    };
    let after = form.get("after").map(Cursor::decode).transpose()?;
    let pairs = form
        .0
        .iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "after" | "lang" | "csrf_token") && !v.trim().is_empty()
        })
        .cloned()
        .collect();
    Ok(Parsed {
        filter: f,
        sort,
        after,
        pairs,
    })
}

fn href(pairs: &[(String, String)], extra: &[(&str, &str)], drop: &[&str]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !drop.contains(&k.as_str()) {
            ser.append_pair(k, v);
        }
    }
    for (k, v) in extra {
        ser.append_pair(k, v);
    }
    let q = ser.finish();
    if q.is_empty() {
        "/inbox".to_owned()
    } else {
        format!("/inbox?{q}")
    }
}

pub fn light_label(light: Option<Light>, locale: &str) -> (&'static str, String) {
    match light {
        Some(l) => (
            l.as_str(),
            tr(locale, format!("panel.light.{}", l.as_str())),
        ),
        None => ("none", tr(locale, "panel.light.none")),
    }
}

fn row(r: InboxRow, cats: &[category::Model], locale: &str) -> Row {
    let (light, light_label) = light_label(r.light, locale);
    Row {
        id: r.id,
        kind: tr(locale, format!("report.kind.{}", r.kind.code())),
        state: tr(locale, r.state.i18n_key()),
        state_code: r.state.code(),
        category: r
            .category_id
            .and_then(|c| cats.iter().find(|x| x.id == c))
            .map(|c| c.label(locale).to_owned())
            .unwrap_or_default(),
        urgency: t!(
            format!("report.urgency.{}", r.urgency.code()),
            locale = locale
        )
        .into_owned(),
        urgency_code: r.urgency.code(),
        excerpt: r.excerpt,
        address: r.address.unwrap_or_default(),
        origin: r.origin,
        handling: r.handling,
        escalated: r.escalation_level > 0,
        created: local_time(r.created_at),
        due: local_time_opt(r.due_at),
        light,
        light_label,
        simulated: r.simulated,
    }
}

/// Assignment choices for the bulk form: staff and grid leaders of the user's own area.
async fn bulk_assignees(state: &AppState, user: &CurrentUser) -> Result<Vec<Opt>, PanelError> {
    let choices =
        gridline_shared::report_page::assignee_choices(state.db.conn(), &user.user.area_path)
            .await?;
    let mut out = Vec::new();
    for (id, name) in choices.staff {
        out.push(opt(format!("s:{id}"), name, false));
    }
    for (id, name, area) in choices.members {
        out.push(opt(format!("m:{id}"), format!("{name}（{area}）"), false));
    }
    Ok(out)
}

/// The tabs of the states with their counts: all states first, then each state.
fn state_tabs(result: &inbox::InboxPage, parsed: &Parsed, locale: &str) -> Vec<StateTab> {
    let f = &parsed.filter;
    let mut tabs = vec![StateTab {
        href: href(&parsed.pairs, &[], &["state"]),
        label: tr(locale, "panel.inbox.all_states"),
        count: if result.counts_capped {
            format!("{}+", inbox::COUNT_CAP)
        } else {
            result
                .counts
                .iter()
                .map(|(_, n)| n)
                .sum::<u64>()
                .to_string()
        },
        active: f.states.is_empty(),
    }];
    for (s, n) in &result.counts {
        tabs.push(StateTab {
            href: href(&parsed.pairs, &[("state", s.code())], &["state"]),
            label: tr(locale, s.i18n_key()),
            // Capped counts of one state are only lower bounds: not shown.
            count: if result.counts_capped {
                String::new()
            } else {
                n.to_string()
            },
            active: f.states.len() == 1 && f.states[0] == *s,
        });
    }
    tabs
}

/// The filter form's choices, the current filter selected.
struct FilterChoices {
    kinds: Vec<Opt>,
    categories: Vec<Opt>,
    areas: Vec<Opt>,
    urgencies: Vec<Opt>,
    lights: Vec<Opt>,
    sorts: Vec<Opt>,
}

async fn filter_choices(
    state: &AppState,
    scope: &Scope,
    parsed: &Parsed,
    cats: &[category::Model],
    locale: &str,
) -> Result<FilterChoices, PanelError> {
    let f = &parsed.filter;
    let kinds = ReportKind::ALL
        .iter()
        .map(|k| {
            opt(
                k.code(),
                t!(format!("report.kind.{}", k.code()), locale = locale),
                f.kind == Some(*k),
            )
        })
        .collect();
    let categories = {
        let mut v = Vec::new();
        let tops = cats.iter().filter(|c| c.parent_id.is_none() && c.active);
        for top in tops {
            v.push(opt(
                top.id.to_string(),
                top.label(locale),
                f.category_id == Some(top.id),
            ));
            for sub in cats
                .iter()
                .filter(|c| c.parent_id == Some(top.id) && c.active)
            {
                v.push(opt(
                    sub.id.to_string(),
                    format!("　· {}", sub.label(locale)),
                    f.category_id == Some(sub.id),
                ));
            }
        }
        v
    };
    // Areas to filter by: the user's area and two levels below it.
    let areas_opts = {
        let names = inbox::area_options(state.db.conn(), scope, 2).await?;
        names
            .into_iter()
            .map(|(a, depth)| {
                opt(
                    a.id.to_string(),
                    format!("{}{}", "　".repeat(depth), a.name),
                    f.area_id == Some(a.id),
                )
            })
            .collect()
    };
    let urgencies = Urgency::ALL
        .iter()
        .map(|u| {
            opt(
                u.code(),
                t!(format!("report.urgency.{}", u.code()), locale = locale),
                f.urgency == Some(*u),
            )
        })
        .collect();
    let lights = [Light::Green, Light::Yellow, Light::Red]
        .iter()
        .map(|l| {
            opt(
                l.as_str(),
                t!(format!("panel.light.{}", l.as_str()), locale = locale),
                f.light == Some(*l),
            )
        })
        .collect();
    let sorts = InboxSort::ALL
        .iter()
        .map(|s| {
            opt(
                s.code(),
                t!(format!("panel.inbox.sort.{}", s.code()), locale = locale),
                parsed.sort == *s,
            )
        })
        .collect();
    Ok(FilterChoices {
        kinds,
        categories,
        areas: areas_opts,
        urgencies,
        lights,
        sorts,
    })
}

/// GET /inbox
pub async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let parsed = parse_query(raw.as_deref(), locale)?;
    let scope = user.scope();
    let now = Utc::now();
    let result = inbox::list(
        state.db.conn(),
        &scope,
        &parsed.filter,
        parsed.sort,
        parsed.after.as_ref(),
        inbox::DEFAULT_PAGE,
        now,
    )
    .await?;
    let cats = categories::all(state.db.conn()).await?;
    let f = &parsed.filter;

    let state_value = form_value(raw.as_deref(), "state");
    let tabs = state_tabs(&result, &parsed, locale);
    let choices = filter_choices(&state, &scope, &parsed, &cats, locale).await?;
    let total = result.total(f);
    let next_href = result
        .next
        .as_ref()
        .map(|c| href(&parsed.pairs, &[("after", &c.encode())], &[]));
    let first_href = parsed.after.as_ref().map(|_| href(&parsed.pairs, &[], &[]));
    let can_act = user.user.role.can_act();
    let assignees = if can_act {
        bulk_assignees(&state, &user).await?
    } else {
        Vec::new()
    };
    let page = InboxPage {
        page: user.page(&state, "inbox", "panel.inbox.title").await,
        tabs,
        kinds: choices.kinds,
        categories: choices.categories,
        areas: choices.areas,
        urgencies: choices.urgencies,
        lights: choices.lights,
        sorts: choices.sorts,
        state_value,
        from: f.from.map(|d| d.to_string()).unwrap_or_default(),
        to: f.to.map(|d| d.to_string()).unwrap_or_default(),
        q: f.text.clone().unwrap_or_default(),
        rows: result
            .rows
            .into_iter()
            .map(|r| row(r, &cats, locale))
            .collect(),
        total,
        next_href,
        first_href,
        can_act,
        assignees,
    };
    Ok(page.into_response())
}

fn form_value(raw: Option<&str>, name: &str) -> String {
    FormData::parse(raw.unwrap_or("").as_bytes())
        .get(name)
        .unwrap_or("")
        .to_owned()
}

pub struct BulkLine {
    pub id: i64,
    pub ok: bool,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "bulk.html")]
pub struct BulkPage {
    pub page: PageCtx,
    pub lines: Vec<BulkLine>,
    pub done: usize,
    pub failed: usize,
    pub back: String,
}

/// Parses `s:12` (staff) or `m:34` (grid leader).
pub fn parse_assignee(v: &str) -> Option<Assignee> {
    let (kind, id) = v.split_once(':')?;
    let id: i64 = id.trim().parse().ok()?;
    match kind {
        "s" => Some(Assignee::Staff(id)),
        "m" => Some(Assignee::Member(id)),
        _ => None,
    }
}

/// POST /inbox/bulk (`action` = accept | assign, `ids` repeated, `assignee`, `back`).
pub async fn bulk(
    State(state): State<AppState>,
    user: CurrentUser,
    form: FormData,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let ids: Vec<i64> = form
        .all("ids")
        .iter()
        .map(|v| v.parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad_filter(locale, "ids"))?;
    if ids.is_empty() {
        return Err(PanelError::BadRequest(tr(
            locale,
            "panel.bulk.none_selected",
        )));
    }
    let action = match form.get("action") {
        Some("accept") => Action::Accept,
        Some("assign") => {
            let a = form
                .get("assignee")
                .and_then(parse_assignee)
                .ok_or_else(|| PanelError::BadRequest(tr(locale, "panel.form.choose_assignee")))?;
            Action::Assign(a)
        }
        _ => return Err(bad_filter(locale, "action")),
    };
    let outcomes = inbox::bulk(
        &state.db,
        &user.actor(),
        &ids,
        &action,
        user.ip.as_deref(),
        Utc::now(),
    )
    .await?;
    let mut lines = Vec::new();
    for (id, outcome) in outcomes {
        let (ok, message) = match outcome {
            Ok(t) => (true, tr(locale, t.report.state.i18n_key())),
            Err(gridline_shared::lifecycle::LifecycleError::Refused(r)) => {
                (false, refusal_message(&r, locale))
            }
            Err(e) => return Err(e.into()),
        };
        lines.push(BulkLine { id, ok, message });
    }
    let done = lines.iter().filter(|l| l.ok).count();
    let failed = lines.len() - done;
    let back = form
        .get("back")
        .and_then(crate::panel::session::safe_next)
        .filter(|b| b.starts_with("/inbox"))
        .unwrap_or_else(|| "/inbox".to_owned());
    let page = BulkPage {
        page: user.page(&state, "inbox", "panel.bulk.title").await,
        lines,
        done,
        failed,
        back,
    };
    Ok(page.into_response())
}
