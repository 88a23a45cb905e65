//! The read-only JSON API under `/api/v1/` (tokens are made on the `/api-tokens` page,
//! [`crate::panel::api_tokens`]).
//!
//! Authentication is `Authorization: Bearer <token>` only (no cookies, no CSRF): no or a bad
//! token answers 401. A token sees what its creator sees now; anything else answers 404.
//! Residents' contacts are masked in every answer.

use axum::Json;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gridline_shared::domain::AreaLevel;
use gridline_shared::entity::{area, report, staff_user};
use gridline_shared::export::{mask_name, mask_phone};
use gridline_shared::inbox::{self, light_of};
use gridline_shared::{CoreError, api_tokens, notices, paging, reports};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::panel::filter;
use crate::panel::forms::FormData;

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 500;

/// A JSON error answer.
pub struct ApiError(StatusCode, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.0, Json(json!({ "error": self.1 }))).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gridline\""),
            );
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::NotFound => ApiError(StatusCode::NOT_FOUND, "not_found"),
            CoreError::Forbidden(_) => ApiError(StatusCode::FORBIDDEN, "forbidden"),
            CoreError::Invalid(_) => bad_request(),
            other => {
                tracing::error!(error = %other, "api request failed");
                gridline_shared::metrics::COUNTERS
                    .handler_error(gridline_shared::metrics::Component::Panel);
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

/// The staff user a bearer token speaks for.
pub struct ApiUser(pub staff_user::Model);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = ApiError(StatusCode::UNAUTHORIZED, "unauthorized");
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(api_tokens::bearer_secret)
            .ok_or(unauthorized)?;
        match api_tokens::authenticate(&state.db, secret, Utc::now()).await? {
            Some((_, user)) => Ok(ApiUser(user)),
            None => Err(ApiError(StatusCode::UNAUTHORIZED, "unauthorized")),
        }
    }
}

pub async fn not_found(_user: ApiUser) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found")
}

fn bad_request() -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_request")
}

/// `limit`: `default` when absent, else clamped to `1..=max`.
fn limit_param(form: &FormData, default: u64, max: u64) -> Result<u64, ApiError> {
    match form.get("limit") {
        Some(l) => Ok(l.parse::<u64>().map_err(|_| bad_request())?.clamp(1, max)),
        None => Ok(default),
    }
}

/// `after`: the `next_cursor` of the previous page (an id).
fn cursor_param(form: &FormData) -> Result<Option<i64>, ApiError> {
    form.get("after")
        .map(|a| a.parse::<i64>().map_err(|_| bad_request()))
        .transpose()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn report_json(
    r: &report::Model,
    names: &std::collections::HashMap<i64, area::Model>,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "id": r.id,
        "number": format!("#{}", r.id),
        "kind": r.kind.code(),
        "state": r.state.code(),
        "category_id": r.category_id,
        "urgency": r.urgency.code(),
        "description": r.description,
        "address": r.address,
        "latitude": r.latitude,
        "longitude": r.longitude,
        "origin_area_id": r.origin_area_id,
        "origin_area": gridline_shared::areas::display_path(&r.origin_area_path, names),
        "handling_area_id": r.handling_area_id,
        "escalation_level": r.escalation_level,
        "resident_name": r.resident_name.as_deref().map(mask_name),
        "resident_phone": r.resident_phone.as_deref().map(mask_phone),
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "accepted_at": r.accepted_at.map(ts),
        "resolved_at": r.resolved_at.map(ts),
        "closed_at": r.closed_at.map(ts),
        "due_at": r.due_at.map(ts),
        "light": light_of(r, now).map(|l| l.as_str()),
    })
}

/// GET /api/v1/reports — the inbox's filters (`state`, `kind`, `category`, `area`, `urgency`,
/// `light`, `from`, `to`, `q`), newest first, `limit` (≤ 500) a page; `after` = the
/// `next_cursor` of the previous page.
pub async fn reports(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let filter = filter::parse_filter(&form, "en").map_err(|_| bad_request())?;
    let limit = limit_param(&form, DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = cursor_param(&form)?;
    let now = Utc::now();
    let (rows, next) =
        inbox::reports_page(state.db.conn(), &user.scope(), &filter, after, limit, now).await?;
    let next = next.map(|id| id.to_string());
    let names = inbox::area_names(
        state.db.conn(),
        rows.iter().map(|r| r.origin_area_path.as_str()),
    )
    .await?;
    let items: Vec<Value> = rows.iter().map(|r| report_json(r, &names, now)).collect();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// GET /api/v1/reports/{id} — one report with its public timeline.
pub async fn report(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError(StatusCode::NOT_FOUND, "not_found"))?;
    let scope = user.scope();
    let r = reports::find_in_scope(state.db.conn(), &scope, id).await?;
    let events = reports::timeline_in_scope(state.db.conn(), &scope, id).await?;
    let names = inbox::area_names(state.db.conn(), [r.origin_area_path.as_str()]).await?;
    let mut body = report_json(&r, &names, Utc::now());
    body["timeline"] = events
        .iter()
        .filter(|e| e.public)
        .map(|e| {
            json!({
                "at": ts(e.at),
                "action": e.action,
                "from": e.from_state.map(|s| s.code()),
                "to": e.to_state.map(|s| s.code()),
                "note": e.note,
            })
        })
        .collect();
    Ok(Json(body))
}

/// GET /api/v1/areas — the areas in scope by id; `level` (county, town, community, grid,
/// micro_grid) filters, `after` and `limit` (≤ 500) page.
pub async fn areas(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let level = form
        .get("level")
        .map(|level| {
            AreaLevel::ALL
                .iter()
                .copied()
                .find(|l| {
                    serde_json::to_value(l)
                        .ok()
                        .as_ref()
                        .and_then(Value::as_str)
                        == Some(level)
                })
                .ok_or_else(bad_request)
        })
        .transpose()?;
    let after = cursor_param(&form)?;
    let limit = limit_param(&form, MAX_LIMIT, MAX_LIMIT)?;
    let (rows, next) =
        gridline_shared::areas::page(state.db.conn(), &user.scope(), level, after, limit).await?;
    let next = next.map(|id| id.to_string());
    let items: Vec<Value> = rows
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "parent_id": a.parent_id,
                "level": a.level,
                "name": a.name,
                "path": a.path,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}

/// GET /api/v1/notices — notices visible in scope, newest first, with delivery counts;
/// `after` (the `next_cursor`) and `limit` (≤ 100) page.
pub async fn notices(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let before = cursor_param(&form)?;
    let limit = limit_param(&form, 50, 100)?;
    let scope = user.scope();
    let list = notices::list(state.db.conn(), &scope, before, limit + 1).await?;
    let (list, next) = paging::split(list, limit, |n| n.id);
    let next = next.map(|id| id.to_string());
    let ids: Vec<i64> = list.iter().map(|n| n.id).collect();
    let counts = notices::delivery_counts(state.db.conn(), &scope, &ids).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "title": n.title,
                "body": n.body,
                "status": n.status,
                "area_id": n.area_id,
                "created_at": ts(n.created_at),
                "submitted_at": n.submitted_at.map(ts),
                "delivery": counts.get(&n.id).copied().unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": next })))
}
