//! `/metrics`: the Prometheus text, its figures against the database, and who may read it
//! (loopback peers without a proxy's headers, or the metrics token).

use std::collections::BTreeMap;
use std::net::{IpAddr, UdpSocket};

use chrono::Utc;
use gridline_shared::domain::ReportKind;
use gridline_shared::lifecycle::{self, Action, Actor, StaffActor};
use gridline_tests::panel::{file_report, panel_world, spawn_app, spawn_app_with};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};

/// `name{label="value"} n` lines of one metric, by label value.
fn series(text: &str, name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix('{')) else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let label = labels.split_once('"').unwrap().1.trim_end_matches('"');
        out.insert(label.to_owned(), value.trim().parse().unwrap());
    }
    out
}

/// One number of a metric without labels.
fn single(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn grouped(t: &TestDb, sql: &str) -> BTreeMap<String, u64> {
    let rows =
        t.db.conn()
            .query_all_raw(Statement::from_string(t.db.backend(), sql.to_owned()))
            .await
            .unwrap();
    rows.into_iter()
        .map(|r| {
            let k: String = r.try_get_by_index(0).unwrap();
            let n: i64 = r.try_get_by_index(1).unwrap();
            (k, n as u64)
        })
        .collect()
}

async fn scrape(url: &str, token: Option<&str>, forwarded: bool) -> (StatusCode, String, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if forwarded {
        req = req.header("X-Forwarded-For", "203.0.113.9");
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

db_test!(metrics_match_the_database, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let by = if i % 2 == 0 { &w.reporter } else { &w.leader };
        ids.push(
            file_report(
                &t.db,
                by,
                ReportKind::Incident,
                &format!("积水 {i}"),
                |_| {},
            )
            .await
            .id,
        );
    }
    let secretary = Actor::Staff(StaffActor::of(&w.secretary));
    for id in &ids[..2] {
        lifecycle::transition(&t.db, &secretary, *id, Action::Accept, Utc::now())
            .await
            .unwrap();
    }
    let app = spawn_app(&t).await;
    let (status, ctype, text) = scrape(&app.url("/metrics"), None, false).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(text.ends_with("# EOF\n"), "{text}");

    // Reports by state: exactly the database's counts, every other state at zero.
    let reports = series(&text, "gridline_reports");
    let in_db = grouped(&t, "SELECT state, COUNT(*) FROM reports GROUP BY state").await;
    assert_eq!(in_db.get("submitted"), Some(&3), "{in_db:?}");
    assert_eq!(in_db.get("accepted"), Some(&2), "{in_db:?}");
    for (state, n) in &reports {
        assert_eq!(
            in_db.get(state).copied().unwrap_or(0),
            *n,
            "state {state}\n{text}"
        );
    }
    for (state, n) in &in_db {
        assert_eq!(reports.get(state), Some(n), "state {state} missing\n{text}");
    }
    assert!(reports.len() >= 8, "every state is listed: {reports:?}");

    // Outbox rows by status: the database's counts (filing and accepting queued receipts).
    let outbox = series(&text, "gridline_outbox_messages");
    let in_db = grouped(&t, "SELECT status, COUNT(*) FROM outbox GROUP BY status").await;
    assert!(!in_db.is_empty(), "the steps above queue messages");
    for (status, n) in &in_db {
        assert_eq!(outbox.get(status), Some(n), "status {status}\n{text}");
    }
    assert_eq!(outbox.values().sum::<u64>(), in_db.values().sum::<u64>());

    // The process counters are there (their values depend on other tests in this process).
    for name in [
        "gridline_messages_sent_total",
        "gridline_flood_control_total",
        "gridline_updates_handled_total",
        "gridline_scheduler_runs_total",
    ] {
        let _ = single(&text, name);
    }
    assert_eq!(
        series(&text, "gridline_handler_errors_total").len(),
        2,
        "{text}"
    );

    // A scheduler step counts; a filed update counts (the conversation core).
    let before = single(&text, "gridline_updates_handled_total");
    gridline_shared::metrics::COUNTERS.updates_handled.inc();
    let (_, _, again) = scrape(&app.url("/metrics"), None, false).await;
    assert!(single(&again, "gridline_updates_handled_total") > before);
});

/// A request a reverse proxy forwarded (it comes from loopback, but for someone else) is
/// refused without the token; the token opens it; a wrong one does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_through_a_proxy_need_the_token() {
    let t = TestDb::sqlite().await;
    let open = spawn_app(&t).await;
    let (status, _, _) = scrape(&open.url("/metrics"), None, true).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no token configured: forwarded is refused"
    );
    let (status, _, _) = scrape(&open.url("/metrics"), Some("anything"), true).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no token configured: no token opens it"
    );

    let app = spawn_app_with(&t, |s| s.metrics_token = Some("m-7f3a9c".into())).await;
    let (status, _, body) = scrape(&app.url("/metrics"), None, true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!body.contains("gridline_"), "{body}");
    let (status, _, _) = scrape(&app.url("/metrics"), Some("m-7f3a9d"), true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = scrape(&app.url("/metrics"), Some("m-7f3a9c"), true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("gridline_reports{state=\"submitted\"} 0"),
        "{body}"
    );
}

/// This machine's address on its network (the one a route to the outside would use), if any.
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route and the local address.
    socket.connect("192.0.2.200:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The panel bound on the machine's network address: a scrape from a non-loopback peer is
/// refused without the token and answered with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_from_a_non_loopback_peer_need_the_token() {
    let Some(ip) = non_loopback_address() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI machines have a network address"
        );
        println!(
            "NOTE: no non-loopback address on this machine; the peer rule is covered by \
             gridline_admin::metrics::tests and metrics_through_a_proxy_need_the_token"
        );
        return;
    };
    let t = TestDb::sqlite().await;
    let app = spawn_app_with(&t, |s| {
        s.listen = format!("{}:0", ip_for_url(ip));
        s.metrics_token = Some("net-token-1".into());
    })
    .await;
    assert!(!app.base.contains("127.0.0.1"), "{}", app.base);
    let (status, _, body) = scrape(&app.url("/metrics"), None, false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, _) = scrape(&app.url("/metrics"), Some("wrong"), false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = scrape(&app.url("/metrics"), Some("net-token-1"), false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("gridline_reports"), "{body}");
    // The same server still answers its health check to anyone.
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

fn ip_for_url(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
