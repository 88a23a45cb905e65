//! The HTTP side: the panel (its own issue) and, for now, the health check and a status page.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use gridline_shared::domain::AreaLevel;
use gridline_shared::{Db, areas, members};
use rust_i18n::t;
use sea_orm::{EntityTrait, PaginatorTrait};
use tokio::net::TcpListener;

use crate::config::Settings;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Binds the listen address (port 0 picks a free port, as tests do).
    pub async fn build(settings: Arc<Settings>, db: Db) -> std::io::Result<Application> {
        let listener = TcpListener::bind(&settings.listen).await?;
        let router = router(AppState { db, settings });
        Ok(Application { listener, router })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// A plain page saying that Gridline runs and what the database holds (counts only: no
/// personal data before login).
async fn status_page(State(state): State<AppState>) -> Response {
    match status_counts(&state.db).await {
        Ok(counts) => {
            let body = render_status(&state.settings.county_name, &counts);
            ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "status page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                t!("status.error", locale = "zh-CN").into_owned(),
            )
                .into_response()
        }
    }
}

pub struct StatusCounts {
    pub towns: u64,
    pub communities: u64,
    pub grids: u64,
    pub micro_grids: u64,
    pub members: u64,
    pub bound: u64,
    pub reports: u64,
}

async fn status_counts(db: &Db) -> gridline_shared::CoreResult<StatusCounts> {
    use gridline_shared::entity::{member, report};
    use sea_orm::{ColumnTrait, QueryFilter};
    let scope = areas::root_scope(db.conn()).await?;
    let levels = areas::count_by_level(db.conn(), &scope).await?;
    let at = |l| levels.get(&l).copied().unwrap_or(0);
    Ok(StatusCounts {
        towns: at(AreaLevel::Town),
        communities: at(AreaLevel::Community),
        grids: at(AreaLevel::Grid),
        micro_grids: at(AreaLevel::MicroGrid),
        members: members::count_in_scope(db.conn(), &scope).await?,
        bound: member::Entity::find()
            .filter(member::Column::TelegramUserId.is_not_null())
            .count(db.conn())
            .await?,
        reports: report::Entity::find().count(db.conn()).await?,
    })
}

fn render_status(county: &str, c: &StatusCounts) -> String {
    let mut rows = String::new();
    for locale in ["zh-CN", "en"] {
        rows.push_str(&format!(
            "<section lang=\"{locale}\"><h2>{title}</h2><p>{running}</p><table>\
             <tr><th>{towns}</th><td>{}</td></tr><tr><th>{communities}</th><td>{}</td></tr>\
             <tr><th>{grids}</th><td>{}</td></tr><tr><th>{micro}</th><td>{}</td></tr>\
             <tr><th>{members}</th><td>{}</td></tr><tr><th>{bound}</th><td>{}</td></tr>\
             <tr><th>{reports}</th><td>{}</td></tr></table><p>{hint}</p></section>",
            c.towns,
            c.communities,
            c.grids,
            c.micro_grids,
            c.members,
            c.bound,
            c.reports,
            title = t!("status.title", locale = locale),
            running = t!("status.running", locale = locale),
            towns = t!("status.towns", locale = locale),
            communities = t!("status.communities", locale = locale),
            grids = t!("status.grids", locale = locale),
            micro = t!("status.micro_grids", locale = locale),
            members = t!("status.members", locale = locale),
            bound = t!("status.bound", locale = locale),
            reports = t!("status.reports", locale = locale),
            hint = t!("status.hint", locale = locale),
        ));
    }
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Gridline · {county}</title><style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}}\
         th{{text-align:left;padding-right:2em}}</style></head><body><h1>Gridline · {county}</h1>{rows}</body></html>",
        county = escape_html(county),
    )
}

/// Minimal HTML escaping for the few dynamic strings on this page.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
