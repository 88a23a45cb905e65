//! The inbox's filter read from query parameters (shared by the inbox, the exports, the JSON
//! API and the dashboard's links), and the refusal of a query parameter that does not parse.

use chrono::NaiveDate;
use gridline_shared::calendar::Light;
use gridline_shared::domain::{ReportKind, ReportState, Urgency};
use gridline_shared::inbox::InboxFilter;
use rust_i18n::t;

use crate::panel::PanelError;
use crate::panel::forms::FormData;

/// A query parameter that does not parse: "the filter “state” is not valid" (`what` is the
/// parameter's name, said in the user's words).
pub fn bad_filter(locale: &str, what: &str) -> PanelError {
    let field = t!(format!("panel.filter.field.{what}"), locale = locale);
    PanelError::BadRequest(t!("panel.filter.bad", locale = locale, what = field).into_owned())
}

/// The inbox's filter from its query parameters (`state` repeatable or `open`, `kind`,
/// `category`, `area`, `urgency`, `light`, `from`, `to`, `q`) — the same names as `/inbox`.
pub fn parse_filter(form: &FormData, locale: &str) -> Result<InboxFilter, PanelError> {
    let mut f = InboxFilter::default();
    for s in form.all("state") {
        match s {
            "all" => {}
            "open" => f
                .states
                .extend(ReportState::ALL.iter().filter(|s| s.is_open())),
            s => f
                .states
                .push(ReportState::parse(s).ok_or_else(|| bad_filter(locale, "state"))?),
        }
    }
    if let Some(k) = form.get("kind") {
        f.kind = Some(ReportKind::parse(k).ok_or_else(|| bad_filter(locale, "kind"))?);
    }
    if let Some(c) = form.get("category") {
        f.category_id = Some(c.parse().map_err(|_| bad_filter(locale, "category"))?);
    }
    if let Some(a) = form.get("area") {
        f.area_id = Some(a.parse().map_err(|_| bad_filter(locale, "area"))?);
    }
    if let Some(u) = form.get("urgency") {
        f.urgency = Some(Urgency::parse(u).ok_or_else(|| bad_filter(locale, "urgency"))?);
    }
    if let Some(l) = form.get("light") {
        f.light = Some(match l {
            "green" => Light::Green,
            "yellow" => Light::Yellow,
            "red" => Light::Red,
            _ => return Err(bad_filter(locale, "light")),
        });
    }
    f.from = parse_date(form, "from", locale)?;
    f.to = parse_date(form, "to", locale)?;
    f.text = form.get("q").map(str::to_owned);
    Ok(f)
}

pub fn parse_date(
    form: &FormData,
    name: &str,
    locale: &str,
) -> Result<Option<NaiveDate>, PanelError> {
    form.get(name)
        .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad_filter(locale, name)))
        .transpose()
}
