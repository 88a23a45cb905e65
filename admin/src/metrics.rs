//! `GET /metrics`: the Prometheus text format (OpenMetrics), for the county's monitoring.
//!
//! Reports by state and outbox rows by status are read from the database at each scrape
//! (`gridline_shared::metrics::db_figures`); sends, 429s, updates handled, handler errors,
//! scheduler runs and backups are this process's counters (`gridline_shared::metrics::COUNTERS`).
//!
//! Who may read it ([`allowed`]): a peer connected from a loopback address without any
//! forwarding header (so a reverse proxy on the same machine does not make the world "local"),
//! or anyone presenting `Authorization: Bearer <metrics_token>` (compared in constant time).
//! Everyone else gets 403. The rule looks only at the socket's peer: no proxy header is trusted
//! to say who the client is.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gridline_shared::api_tokens::bearer_secret;
use gridline_shared::metrics::{COUNTERS, Component, DbFigures, db_figures};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use subtle::ConstantTimeEq;

use crate::app::AppState;

/// The content type of the OpenMetrics text format (Prometheus reads it).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Headers a reverse proxy adds: their presence means the socket's peer is a proxy.
const FORWARDING_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether a scrape is answered: the right bearer token, or a loopback peer whose request was
/// not forwarded by a proxy.
pub fn allowed(
    peer: Option<IpAddr>,
    forwarded: bool,
    authorization: Option<&str>,
    token: Option<&str>,
) -> bool {
    if let (Some(token), Some(given)) = (token, authorization.and_then(bearer_secret))
        && bool::from(given.as_bytes().ct_eq(token.as_bytes()))
    {
        return true;
    }
    !forwarded && peer.is_some_and(|ip| ip.to_canonical().is_loopback())
}

/// GET /metrics.
pub async fn serve(State(state): State<AppState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers: &HeaderMap = request.headers();
    let forwarded = FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h));
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !allowed(
        peer,
        forwarded,
        authorization,
        state.settings.metrics_token(),
    ) {
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    let figures = match db_figures(state.db.conn()).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "metrics: the database does not answer");
            COUNTERS.handler_error(Component::Panel);
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response();
        }
    };
    match render(&figures) {
        Ok(body) => {
            let mut resp = body.into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics: encoding failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: String,
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The text exposition of `figures` and this process's counters.
pub fn render(figures: &DbFigures) -> Result<String, std::fmt::Error> {
    let mut reg = Registry::with_prefix("gridline");

    let reports = Family::<StateLabel, Gauge>::default();
    for (state, n) in &figures.reports_by_state {
        reports
            .get_or_create(&StateLabel {
                state: (*state).to_owned(),
            })
            .set(gauge(*n));
    }
    reg.register("reports", "Reports by state (the whole county)", reports);

    let outbox = Family::<StatusLabel, Gauge>::default();
    for (status, n) in &figures.outbox_by_status {
        outbox
            .get_or_create(&StatusLabel {
                status: (*status).to_owned(),
            })
            .set(gauge(*n));
    }
    reg.register("outbox_messages", "Outbox rows by status", outbox);

    let c = &COUNTERS;
    for (name, help, value) in [
        (
            "messages_sent",
            "Messages delivered to the messenger by this process",
            &c.messages_sent,
        ),
        (
            "messages_failed",
            "Messages given up by this process",
            &c.messages_failed,
        ),
        (
            "flood_control",
            "Flood-control answers (HTTP 429) from the messenger",
            &c.flood_429,
        ),
        (
            "updates_handled",
            "Messenger updates handled by the conversation core (repeats excluded)",
            &c.updates_handled,
        ),
    ] {
        reg.register(name, help, counter(value.get()));
    }
    let errors = Family::<ComponentLabel, Counter>::default();
    for comp in Component::ALL {
        errors
            .get_or_create(&ComponentLabel {
                component: comp.code().to_owned(),
            })
            .inc_by(c.errors_of(*comp).get());
    }
    reg.register(
        "handler_errors",
        "Requests (panel, API) answered with a server error, and updates that could not be handled",
        errors,
    );
    for (name, help, value) in [
        (
            "scheduler_runs",
            "Scheduler steps completed",
            &c.scheduler_runs,
        ),
        (
            "scheduler_failures",
            "Scheduler steps that failed",
            &c.scheduler_failures,
        ),
        (
            "backups_written",
            "Daily backups written",
            &c.backups_written,
        ),
        (
            "backups_failed",
            "Daily backups that failed",
            &c.backups_failed,
        ),
    ] {
        reg.register(name, help, counter(value.get()));
    }

    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg)?;
    // Never empty, even if the encoder changes its trailer.
    if !out.ends_with('\n') {
        let _ = writeln!(out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: &str = "127.0.0.1";

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("an address"))
    }

    #[test]
    fn loopback_peers_are_answered_without_a_token() {
        assert!(allowed(ip(LOOPBACK), false, None, None));
        assert!(allowed(ip("::1"), false, None, None));
        assert!(allowed(ip("::ffff:127.0.0.1"), false, None, Some("t")));
    }

    #[test]
    fn others_need_the_token() {
        for peer in [
            "10.0.0.7",
            "192.168.1.20",
            "203.0.113.5",
            "::ffff:10.0.0.7",
            "fe80::1",
        ] {
            assert!(!allowed(ip(peer), false, None, None), "{peer}");
            assert!(!allowed(ip(peer), false, None, Some("s3cret")), "{peer}");
            assert!(
                !allowed(ip(peer), false, Some("Bearer wrong"), Some("s3cret")),
                "{peer}"
            );
            assert!(
                !allowed(ip(peer), false, Some("Basic s3cret"), Some("s3cret")),
                "{peer}"
            );
            assert!(
                !allowed(ip(peer), false, Some("Bearer s3cret"), None),
                "no token configured: {peer}"
            );
            assert!(
                allowed(ip(peer), false, Some("Bearer s3cret"), Some("s3cret")),
                "{peer}"
            );
        }
        assert!(!allowed(None, false, None, None), "unknown peer");
    }

    #[test]
    fn a_proxied_request_is_not_local() {
        assert!(!allowed(ip(LOOPBACK), true, None, None));
        assert!(allowed(ip(LOOPBACK), true, Some("Bearer k"), Some("k")));
    }

    #[test]
    fn the_text_names_every_state_and_status() {
        let mut f = DbFigures::default();
        f.reports_by_state.insert("submitted", 3);
        f.outbox_by_status.insert("pending", 2);
        let text = render(&f).expect("rendered");
        assert!(
            text.contains("gridline_reports{state=\"submitted\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("gridline_outbox_messages{status=\"pending\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE gridline_messages_sent counter"),
            "{text}"
        );
        assert!(
            text.contains("gridline_handler_errors_total{component=\"panel\"}"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
