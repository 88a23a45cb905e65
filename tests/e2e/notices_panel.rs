//! The notice pages: compose with the recipient count before sending (multipart, CSRF), send,
//! live progress per batch, recipients and CSV export, pause / cancel, scope, and the audit log.

use gridline_shared::entity::audit_entry;
use gridline_shared::notices;
use gridline_tests::panel::{Client, FilePart, panel_world, spawn_app};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::EntityTrait;

/// Posts a multipart form (text fields and an empty file input).
async fn multipart(
    c: &Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let p = c
        .post_multipart(path, fields, Some(FilePart::octets("", b"")))
        .await;
    (p.status, p.location().unwrap_or_default(), p.body)
}

db_test!(compose_send_progress_export, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    let c = app.login("changle").await;
    let list = c.get("/notices").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("/notices/new"));
    let token = c.get("/notices/new").await.csrf();

    // The count before sending: 3 members in 长乐社区, 2 bound.
    let base = [
        ("csrf_token", token.as_str()),
        ("title", "防汛<培训>"),
        ("body", "请 **周五** 前完成"),
        ("mode", "single"),
        ("batch_size", "500"),
        ("interval", "0"),
    ];
    let mut preview = base.to_vec();
    preview.push(("action", "preview"));
    let (status, _, html) = multipart(&c, "/notices/new", &preview).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("data-total=\"3\" data-reachable=\"2\""),
        "{html}"
    );
    assert!(
        html.contains("防汛&#60;培训&#62;") || html.contains("防汛&lt;培训&gt;"),
        "the title is escaped in the form"
    );

    // An area outside the secretary's scope does not exist for them.
    let anren = w.anren.id.to_string();
    let mut outside = base.to_vec();
    outside.push(("area", anren.as_str()));
    outside.push(("action", "save"));
    let (status, _, _) = multipart(&c, "/notices/new", &outside).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Without the CSRF token: refused before anything happens.
    let (status, _, _) = multipart(&c, "/notices/new", &base[1..]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut save = base.to_vec();
    save.push(("action", "save"));
    let (status, location, _) = multipart(&c, "/notices/new", &save).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id: i64 = location.trim_start_matches("/notices/").parse().unwrap();
    let page = c.get(&location).await;
    assert!(page.body.contains("id=\"do-send\""));
    assert!(page.body.contains("<b>防汛&lt;培训&gt;</b>"));
    let sent = c
        .post_from(&location, &format!("/notices/{id}/do/send"), &[])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);

    // Progress per batch: 2 queued, 1 not bound; then an acknowledgement shows.
    let p = c.get(&format!("/notices/{id}/progress")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.body.contains("id=\"batch-1\" data-queued=\"2\""),
        "{}",
        p.body
    );
    notices::acknowledge(&t.db, w.reporter.id, id)
        .await
        .unwrap();
    let p = c.get(&format!("/notices/{id}/progress")).await;
    assert!(p.body.contains("data-acknowledged=\"1\""), "{}", p.body);
    let page = c.get(&format!("/notices/{id}")).await;
    assert!(page.body.contains(&w.reporter.name));
    assert!(page.body.contains("id=\"do-pause\""));

    let list = c.get("/notices").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(&format!("/notices/{id}")),
        "{}",
        list.body
    );

    // CSV export of the recipients.
    let r = c
        .http
        .get(format!("{}/notices/{id}/recipients.csv", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4);
    assert!(!csv.contains(&w.reporter.phone));

    // Pause, then cancel.
    let out = c
        .post_from(&location, &format!("/notices/{id}/do/pause"), &[])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let out = c
        .post_from(&location, &format!("/notices/{id}/do/cancel"), &[])
        .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let p = c.get(&format!("/notices/{id}/progress")).await;
    assert!(p.body.contains("data-queued=\"0\""));

    // Another community's secretary does not see it.
    let other = app.login("anren").await;
    assert_eq!(
        other.get(&format!("/notices/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    // A viewer cannot send.
    let viewer = app.login("viewer").await;
    assert_eq!(
        viewer.get("/notices/new").await.status,
        StatusCode::FORBIDDEN
    );

    let actions: Vec<String> = audit_entry::Entity::find()
        .all(t.db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    for a in [
        "notice.create",
        "notice.send",
        "notice.export",
        "notice.pause",
        "notice.cancel",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
});
