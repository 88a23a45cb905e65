//! The HTTP application: the panel (server-rendered HTML under `/`), its static assets under
//! `/static`, `/healthz` and `/metrics` (see [`crate::metrics`]). Every panel page runs behind [`crate::panel::session::middleware`]
//! (locale, session, CSRF, security headers).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gridline_shared::Db;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::panel;
use crate::panel::throttle::LoginThrottle;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// Failed-login counters (memory only: losing them on restart is acceptable).
    pub throttle: Arc<LoginThrottle>,
    /// Permits to read an upload's body (bounded memory: see `panel::session::UPLOADS_AT_ONCE`).
    pub uploads: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(settings: Arc<Settings>, db: Db) -> AppState {
        AppState {
            db,
            settings,
            throttle: Arc::new(LoginThrottle::default()),
            uploads: Arc::new(tokio::sync::Semaphore::new(
                crate::panel::session::UPLOADS_AT_ONCE,
            )),
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Binds the listen address (port 0 picks a free port, as tests do).
    pub async fn build(settings: Arc<Settings>, db: Db) -> std::io::Result<Application> {
        let listener = TcpListener::bind(&settings.listen).await?;
        let router = router(AppState::new(settings, db));
        Ok(Application { listener, router })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Adds routes served beside the panel (the bot's webhook in webhook mode).
    pub fn merge(mut self, extra: Router) -> Application {
        self.router = self.router.merge(extra);
        self
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::serve))
        .route("/static/{*path}", get(panel::assets::serve))
        .merge(panel::api_routes())
        .merge(panel::routes(state.clone()))
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
