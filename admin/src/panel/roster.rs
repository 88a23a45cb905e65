//! Roster pages: upload a roster (CSV or XLSX, the same importer as `gridline import roster`,
//! into the user's scope), the members of the scope (search, pages, deactivate) and a printable
//! bind sheet per community with a QR code of each member's deep link.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use gridline_shared::domain::MemberStatus;
use gridline_shared::{areas, import, inbox, members};
use rust_i18n::t;

use crate::app::AppState;
use crate::panel::PanelError;
use crate::panel::filter;
use crate::panel::forms::FormData;
use crate::panel::layout::PageCtx;
use crate::panel::session::CurrentUser;
use crate::tr;

pub struct MemberRow {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub area: String,
    /// Shown only to roles that hand codes out.
    pub code: Option<String>,
    pub bound: bool,
    pub left: bool,
    pub status: String,
}

pub struct Community {
    pub id: i64,
    pub name: String,
}

/// What an upload did (shown above the list).
pub struct UploadResult {
    pub ok: bool,
    pub summary: String,
    pub bad: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "roster.html")]
pub struct RosterPage {
    pub page: PageCtx,
    pub can_manage: bool,
    /// Bind codes, bind sheets and the code/unbind buttons (admins and secretaries).
    pub can_codes: bool,
    pub q: String,
    pub members: Vec<MemberRow>,
    pub next_href: Option<String>,
    pub communities: Vec<Community>,
    pub result: Option<UploadResult>,
}

async fn render(
    state: &AppState,
    user: &CurrentUser,
    q: Option<&str>,
    after: Option<i64>,
    result: Option<UploadResult>,
    status: StatusCode,
) -> Result<Response, PanelError> {
    let scope = user.scope();
    let conn = state.db.conn();
    let can_codes = members::may_see_bind_codes(user.user.role);
    let page = members::page(conn, &scope, can_codes, q, after, members::PAGE).await?;
    let names = inbox::area_names(conn, page.rows.iter().map(|m| m.area_path.as_str())).await?;
    let locale = user.locale;
    let members = page
        .rows
        .iter()
        .map(|m| MemberRow {
            id: m.id,
            name: m.name.clone(),
            phone: m.phone.clone(),
            area: gridline_shared::areas::display_path(&m.area_path, &names),
            code: can_codes.then(|| m.bind_code.clone()),
            bound: m.is_bound(),
            left: m.status == MemberStatus::Left,
            status: t!(
                format!("panel.member.status.{}", m.status.code()),
                locale = locale
            )
            .into_owned(),
        })
        .collect();
    let next_href = page.next.map(|id| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if let Some(q) = q {
            ser.append_pair("q", q);
        }
        ser.append_pair("after", &id.to_string());
        format!("/roster?{}", ser.finish())
    });
    let communities = if can_codes {
        areas::communities_in_scope(conn, &scope)
            .await?
            .into_iter()
            .map(|a| Community {
                id: a.id,
                name: a.name,
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = RosterPage {
        page: user.page(state, "roster", "panel.roster.title").await,
        can_manage: user.user.role.is_admin(),
        can_codes,
        q: q.unwrap_or("").to_owned(),
        members,
        next_href,
        communities,
        result,
    };
    Ok((status, page).into_response())
}

/// GET /roster (`q` search, `after` page)
pub async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, PanelError> {
    let form = FormData::parse(raw.as_deref().unwrap_or("").as_bytes());
    let after = form
        .get("after")
        .map(|a| a.parse::<i64>())
        .transpose()
        .map_err(|_| filter::bad_filter(user.locale, "after"))?;
    render(&state, &user, form.get("q"), after, None, StatusCode::OK).await
}

/// Largest roster file accepted.
const MAX_FILE: usize = 20 * 1024 * 1024;

/// POST /roster/upload (multipart: `file`, `csrf_token`). Bad rows are listed with their row
/// number; a file that is not a roster changes nothing.
pub async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    mut multipart: Multipart,
) -> Result<Response, PanelError> {
    user.require_admin()?;
    let locale = user.locale;
    let mut file: Option<Vec<u8>> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| PanelError::BadRequest(tr(locale, "panel.roster.bad_upload")))?
    {
        if field.name() == Some("file") {
            let bytes = field.bytes().await.map_err(|_| PanelError::TooLarge)?;
            if bytes.len() > MAX_FILE {
                return Err(PanelError::TooLarge);
            }
            file = Some(bytes.to_vec());
        }
    }
    let bytes = file.unwrap_or_default();
    let summary = match import::upload_roster(&state.db, &user.actor(), &bytes, user.ip()).await? {
        Ok(summary) => summary,
        Err(e) => {
            let result = UploadResult {
                ok: false,
                summary: t!(
                    "panel.roster.failed",
                    locale = locale,
                    reason = e.message(locale)
                )
                .into_owned(),
                bad: Vec::new(),
            };
            return render(
                &state,
                &user,
                None,
                None,
                Some(result),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let mut bad: Vec<String> = summary.bad.iter().map(|b| b.message(locale)).collect();
    bad.extend(
        summary
            .out_of_scope_rows
            .iter()
            .map(|row| t!("panel.roster.out_of_scope", locale = locale, row = row).into_owned()),
    );
    bad.extend(summary.refused.iter().map(|p| p.message(locale)));
    let text = t!(
        "panel.roster.done",
        locale = locale,
        rows = summary.rows,
        new = summary.members_new,
        updated = summary.members_updated,
        unchanged = summary.members_unchanged,
        bad = bad.len()
    )
    .into_owned();
    let result = UploadResult {
        ok: bad.is_empty(),
        summary: text,
        bad,
    };
    render(&state, &user, None, None, Some(result), StatusCode::OK).await
}

/// POST /roster/members/{id}/deactivate
pub async fn deactivate(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    members::deactivate(&state.db, &user.actor(), id, user.ip(), Utc::now()).await?;
    Ok(Redirect::to("/roster").into_response())
}

/// POST /roster/members/{id}/code: a fresh bind code (the old one no longer binds).
pub async fn new_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    members::regenerate_bind_code(&state.db, &user.actor(), id, user.ip(), Utc::now()).await?;
    Ok(Redirect::to("/roster").into_response())
}

/// POST /roster/members/{id}/unbind: a lost phone; the member binds again with a new code.
pub async fn unbind(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, PanelError> {
    members::unbind(&state.db, &user.actor(), id, user.ip(), Utc::now()).await?;
    Ok(Redirect::to("/roster").into_response())
}

pub struct SheetRow {
    pub name: String,
    pub area: String,
    pub code: String,
    pub link: String,
    pub qr_svg: String,
    pub bound: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "bind_sheet.html")]
pub struct SheetPage {
    pub page: PageCtx,
    pub community: String,
    pub rows: Vec<SheetRow>,
}

/// The deep link as an SVG QR code.
pub fn qr_svg(data: &str) -> String {
    use qrcode::QrCode;
    use qrcode::render::svg;
    match QrCode::new(data.as_bytes()) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(120, 120)
            .quiet_zone(true)
            .build()
            .replace("<?xml version=\"1.0\" standalone=\"yes\"?>", ""),
        Err(_) => String::new(),
    }
}

/// GET /roster/sheet/{community}: printable; one card per member who has not left.
pub async fn sheet(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(community): Path<i64>,
) -> Result<Response, PanelError> {
    let (area, rows) = members::bind_sheet(
        &state.db,
        &user.actor(),
        community,
        &state.settings.bot_username,
        user.ip(),
    )
    .await?;
    let rows = rows
        .into_iter()
        .map(|r| SheetRow {
            qr_svg: qr_svg(&r.deep_link),
            name: r.name,
            area: r.area,
            code: r.code,
            link: r.deep_link,
            bound: r.bound,
        })
        .collect();
    let page = SheetPage {
        page: user.page(&state, "roster", "panel.bind_sheet.title").await,
        community: area.name,
        rows,
    };
    Ok(page.into_response())
}
