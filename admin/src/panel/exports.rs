//! `/export.csv` and `/export.xlsx`: the inbox as filtered (same query parameters), scoped to
//! the user. Residents' contacts are masked unless `unmask=1` is asked by a role that may (a
//! viewer never may: 403). Every export is audited (with its row count, never its content).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridline_shared::export::{self, CsvSink, ExportRequest, Exporter, XlsxSink};

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::forms::FormData;
use crate::panel::session::CurrentUser;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
}

pub async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    run(&state, &user, raw.as_deref(), Format::Csv).await
}

pub async fn xlsx(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    run(&state, &user, raw.as_deref(), Format::Xlsx).await
}

async fn run(
    state: &AppState,
    user: &CurrentUser,
    raw: Option<&str>,
    format: Format,
) -> Result<Response, PanelError> {
    let form = FormData::parse(raw.unwrap_or("").as_bytes());
    let filter = super::parse_filter(&form, user.locale)?;
    let unmask = matches!(form.get("unmask"), Some("1" | "true" | "yes" | "on"));
    let exporter = Exporter::Staff(user.user.role);
    if unmask && !export::may_unmask(user.user.role) {
        user.audit(&state.db, "export.refused", None, Some("unmask"))
            .await?;
        return Err(PanelError::Forbidden);
    }
    let scope = user.scope();
    let req = ExportRequest {
        scope: &scope,
        filter: &filter,
        unmask,
        locale: user.locale,
        now: Utc::now(),
    };
    let (bytes, count, content_type, ext) = match format {
        Format::Csv => {
            let mut sink = CsvSink::new(Vec::new(), user.locale, true)?;
            let n = export::export_reports(state.db.conn(), exporter, &req, &mut sink).await?;
            (sink.finish()?, n, "text/csv; charset=utf-8", "csv")
        }
        Format::Xlsx => {
            let mut sink = XlsxSink::new(user.locale)?;
            let n = export::export_reports(state.db.conn(), exporter, &req, &mut sink).await?;
            (
                sink.finish()?,
                n,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "xlsx",
            )
        }
    };
    let detail = format!(
        "{ext}, {count} rows, contacts {}",
        if unmask { "unmasked" } else { "masked" }
    );
    user.audit(&state.db, "export.reports", None, Some(&detail))
        .await?;
    let name = format!(
        "gridline-reports-{}.{ext}",
        Utc::now().format("%Y%m%d-%H%M")
    );
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
