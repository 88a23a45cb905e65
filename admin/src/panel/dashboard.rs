//! `/dashboard`: the figures of the user's scope for a period (`days` = 7, 30, 90, 365 or 0 for
//! all time; 30 by default), the areas one level down ranked lowest first, and SVG charts.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridline_shared::domain::ReportState;
use gridline_shared::stats::{self, Dashboard, Period, Rate};
use rust_i18n::t;

use super::charts::{self, Bar};
use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::filter;
use crate::panel::forms::FormData;
use crate::panel::layout::{Opt, PageCtx, level_key, opt};
use crate::panel::session::CurrentUser;
use crate::tr;

pub const PERIODS: &[i64] = &[7, 30, 90, 365, 0];

pub struct Figure {
    pub label: String,
    pub value: String,
    pub detail: String,
}

pub struct RankRow {
    pub area_id: i64,
    pub name: String,
    pub total: u64,
    pub closed: u64,
    pub overdue: u64,
    pub on_time: String,
    pub closure: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub page: PageCtx,
    pub periods: Vec<Opt>,
    pub figures: Vec<Figure>,
    pub ranking_title: String,
    pub ranking: Vec<RankRow>,
    pub charts: Vec<String>,
    pub definitions: String,
}

fn rate_detail(r: &Rate) -> String {
    format!("{} / {}", r.num, r.den)
}

fn duration_text(d: chrono::TimeDelta, locale: &str) -> String {
    let minutes = d.num_minutes();
    let (days, hours, mins) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    t!(
        "panel.dashboard.duration",
        locale = locale,
        days = days,
        hours = hours,
        minutes = mins
    )
    .into_owned()
}

/// GET /dashboard (`days`)
pub async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    let locale = user.locale;
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let days = match form.get("days") {
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| PERIODS.contains(d))
            .ok_or_else(|| filter::bad_filter(locale, "days"))?,
        None => 30,
    };
    let now = Utc::now();
    let period = if days == 0 {
        Period::all()
    } else {
        Period::last_days(now, days)
    };
    let d = stats::dashboard(state.db.conn(), &user.scope(), period, now).await?;
    let periods = PERIODS
        .iter()
        .map(|p| {
            opt(
                p.to_string(),
                tr(locale, format!("panel.dashboard.period.{p}")),
                *p == days,
            )
        })
        .collect();
    let page = DashboardPage {
        page: user
            .page(&state, "dashboard", "panel.dashboard.title")
            .await,
        periods,
        figures: figures(&d, locale),
        ranking_title: ranking_title(&d, locale),
        ranking: ranking(&d),
        charts: charts(&d, locale),
        definitions: tr(locale, "panel.dashboard.definitions"),
    };
    Ok(page.into_response())
}

/// The headline figures: counts, rates with their fractions, the median time to close.
fn figures(d: &Dashboard, locale: &str) -> Vec<Figure> {
    vec![
        Figure {
            label: tr(locale, "panel.dashboard.total"),
            value: d.total.to_string(),
            detail: String::new(),
        },
        Figure {
            label: tr(locale, "panel.dashboard.overdue"),
            value: d.open_overdue.to_string(),
            detail: String::new(),
        },
        Figure {
            label: tr(locale, "panel.dashboard.on_time"),
            value: d.on_time.percent(),
            detail: rate_detail(&d.on_time),
        },
        Figure {
            label: tr(locale, "panel.dashboard.closure"),
            value: d.closure.percent(),
            detail: rate_detail(&d.closure),
        },
        Figure {
            label: tr(locale, "panel.dashboard.median"),
            value: d
                .median_time_to_close
                .map(|m| duration_text(m, locale))
                .unwrap_or_else(|| "—".into()),
            detail: String::new(),
        },
        Figure {
            label: tr(locale, "panel.dashboard.bind"),
            value: d.bind.percent(),
            detail: rate_detail(&d.bind),
        },
        Figure {
            label: tr(locale, "panel.dashboard.ack"),
            value: d
                .acknowledgement
                .as_ref()
                .map_or_else(|| tr(locale, "panel.dashboard.na"), |r| r.percent()),
            detail: d
                .acknowledgement
                .as_ref()
                .map(rate_detail)
                .unwrap_or_default(),
        },
    ]
}

/// The charts, as SVG: by state, kind, category, time to close, and the ranking's on-time
/// rates when there are areas below.
fn charts(d: &Dashboard, locale: &str) -> Vec<String> {
    let state_color = |s: ReportState| match s {
        ReportState::Closed => "#2e9d48",
        ReportState::Resolved => "#7b5cc4",
        ReportState::Submitted => "#e0a800",
        ReportState::Rejected | ReportState::Returned => "#9aa5b1",
        _ => "#0b57a4",
    };
    let by_state: Vec<Bar> = d
        .by_state
        .iter()
        .map(|(s, n)| Bar::count(t!(s.i18n_key(), locale = locale), *n, state_color(*s)))
        .collect();
    let by_kind: Vec<Bar> = d
        .by_kind
        .iter()
        .map(|(k, n)| {
            let label = t!(format!("report.kind.{}", k.code()), locale = locale);
            Bar::count(label, *n, "#0b57a4")
        })
        .collect();
    let by_category: Vec<Bar> = d
        .by_category
        .iter()
        .map(|c| Bar::count(c.label(locale), c.count, "#b3261e"))
        .collect();
    let histogram: Vec<Bar> = d
        .close_time_histogram
        .iter()
        .map(|b| {
            let label = match b.upper_hours {
                Some(u) => t!(
                    "panel.dashboard.hours_range",
                    locale = locale,
                    from = b.lower_hours,
                    to = u
                ),
                None => t!(
                    "panel.dashboard.hours_more",
                    locale = locale,
                    from = b.lower_hours
                ),
            };
            Bar::count(label, b.count, "#2e9d48")
        })
        .collect();
    let ranking_bars: Vec<Bar> = d
        .ranking
        .iter()
        .take(15)
        .map(|a| Bar {
            label: a.name.clone(),
            value: a.on_time.ratio().unwrap_or(0.0) * 100.0,
            text: a.on_time.percent(),
            color: "#d93025",
        })
        .collect();
    let mut charts_svg = vec![
        charts::hbars(
            &t!("panel.dashboard.chart.state", locale = locale),
            &by_state,
            None,
        ),
        charts::hbars(
            &t!("panel.dashboard.chart.kind", locale = locale),
            &by_kind,
            None,
        ),
        charts::hbars(
            &t!("panel.dashboard.chart.category", locale = locale),
            &by_category,
            None,
        ),
        charts::hbars(
            &t!("panel.dashboard.chart.close_time", locale = locale),
            &histogram,
            None,
        ),
    ];
    if !ranking_bars.is_empty() {
        charts_svg.push(charts::hbars(
            &t!("panel.dashboard.chart.ranking", locale = locale),
            &ranking_bars,
            Some(100.0),
        ));
    }
    charts_svg
}

/// The areas one level down, lowest on-time rate first.
fn ranking(d: &Dashboard) -> Vec<RankRow> {
    d.ranking
        .iter()
        .map(|a| RankRow {
            area_id: a.area_id,
            name: a.name.clone(),
            total: a.total,
            closed: a.closed,
            overdue: a.open_overdue,
            on_time: a.on_time.percent(),
            closure: a.closure.percent(),
        })
        .collect()
}

fn ranking_title(d: &Dashboard, locale: &str) -> String {
    match d.ranking_level {
        Some(level) => t!(
            "panel.dashboard.ranking",
            locale = locale,
            level = t!(level_key(level), locale = locale)
        )
        .into_owned(),
        None => String::new(),
    }
}
