//! `/export.csv` and `/export.xlsx`: the inbox as filtered (same query parameters), scoped to
//! the user. Residents' contacts are masked unless `unmask=1` is asked by a role that may (a
//! viewer never may: 403). Every export is audited (with its row count, never its content).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridline_shared::CoreError;
use gridline_shared::export::{self, ExportBody, ExportFormat, ExportOptions};

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
    let opts = ExportOptions {
        unmask,
        format,
        locale: user.locale,
        xlsx_max_rows: state.settings.xlsx_max_rows,
    };
    let body = export::staff_export_stream(&state.db, &user.actor(), &filter, opts, user.ip(), now)
        .await?;
    let name = format!(
        "gridline-reports-{}.{}",
        now.format("%Y%m%d-%H%M"),
        format.extension()
    );
    let mut resp = match body {
        ExportBody::Whole(bytes) => bytes.into_response(),
        // CSV goes out a batch of reports at a time (chunked): never whole in memory.
        ExportBody::Csv(csv) => {
            let stream = futures_util::stream::unfold(Some(csv), |csv| async move {
                let mut csv = csv?;
                match csv.next_chunk().await {
                    Ok(Some(chunk)) => Some((Ok::<_, CoreError>(chunk), Some(csv))),
                    Ok(None) => None,
                    Err(e) => {
                        // The status is sent already: the transfer is cut short, so the file
                        // is visibly incomplete rather than silently short.
                        tracing::error!(error = %e, "csv export failed midway");
                        Some((Err(e), None))
                    }
                }
            });
            Body::from_stream(stream).into_response()
        }
    };
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
