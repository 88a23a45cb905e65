//! Routes of the other panel pages (dashboard, exports, roster, admin pages) and of the JSON
//! API. Add yours here; see the module docs of [`crate::panel`] for the recipe.

use axum::Router;

use crate::app::AppState;

/// HTML pages: served behind the session middleware (login, locale, CSRF on every POST).
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(crate::pages::routes())
        .merge(crate::panel::notices::routes())
        .merge(crate::panel::simulator::routes())
}

/// `/api/v1/…`: bearer tokens, no session, no CSRF (read-only).
pub fn api_routes() -> Router<AppState> {
    Router::new().merge(crate::pages::api_routes())
}
