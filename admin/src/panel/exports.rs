//! `/export.csv` and `/export.xlsx`: the inbox as filtered (same query parameters), scoped to
//! the user. Residents' contacts are masked unless `unmask=1` is asked by a role that may (a
//! viewer never may: 403). Every export is audited (with its row count, never its content).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridline_shared::export::{self, ExportFormat};

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::filter;
use crate::panel::forms::FormData;
use crate::panel::session::CurrentUser;

pub async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    run(&state, &user, raw.as_deref(), ExportFormat::Csv).await
}

pub async fn xlsx(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    run(&state, &user, raw.as_deref(), ExportFormat::Xlsx).await
}

async fn run(
    state: &AppState,
    user: &CurrentUser,
    raw: Option<&str>,
    format: ExportFormat,
) -> Result<Response, PanelError> {
    let form = FormData::parse(raw.unwrap_or("").as_bytes());
    let filter = filter::parse_filter(&form, user.locale)?;
    let unmask = matches!(form.get("unmask"), Some("1" | "true" | "yes" | "on"));
    let now = Utc::now();
    let bytes = export::staff_export(
        &state.db,
        &user.actor(),
        &filter,
        unmask,
        format,
        user.locale,
        user.ip(),
        now,
    )
    .await?;
    let name = format!(
        "gridline-reports-{}.{}",
        now.format("%Y%m%d-%H%M"),
        format.extension()
    );
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
