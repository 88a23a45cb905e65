//! Static assets (CSS, a little JS, icons) embedded in the binary and served under `/static`,
//! so the panel works with no internet. URLs carry a content hash for long caching.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn short_hash(path: &str) -> String {
    Assets::get(path)
        .map(|f| hex_prefix(&f.metadata.sha256_hash()))
        .unwrap_or_default()
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `/static/<path>?v=<hash>` for templates.
pub fn url(path: &str) -> String {
    static CACHE: OnceLock<dashmap::DashMap<String, String>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(u) = cache.get(path) {
        return u.clone();
    }
    let u = format!("/static/{path}?v={}", short_hash(path));
    cache.insert(path.to_owned(), u.clone());
    u
}

pub async fn serve(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => {
            let mut resp = file.data.into_owned().into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
