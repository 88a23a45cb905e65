//! The panel's front door over HTTP: redirects, login, sessions in the database (rotation at
//! login, idle and absolute timeouts, restart), cookie flags, CSRF on every POST, failed-login
//! throttling, logout, the language switch, and the audit lines all of these leave.

use chrono::{Duration, Utc};
use gridline_shared::domain::{ReportKind, ReportState};
use gridline_shared::entity::{audit_entry, panel_session};
use gridline_tests::panel::{
    Client, PASSWORD, Page, cookie_value, file_report, panel_world, reload, spawn_app,
    spawn_app_with,
};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

async fn audit_actions(t: &TestDb) -> Vec<String> {
    audit_entry::Entity::find()
        .order_by_asc(audit_entry::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect()
}

fn session_of(c: &[String]) -> String {
    cookie_value(c, "gridline_session").expect("a gridline_session cookie")
}

/// Logs in as `changle` with this CSRF token, asking to be sent to `next`.
async fn login_next(c: &Client, token: &str, next: &str) -> Page {
    c.post_raw(
        "/login",
        &[
            ("csrf_token", token),
            ("username", "changle"),
            ("password", PASSWORD),
            ("next", next),
        ],
    )
    .await
}

db_test!(home_redirects_and_health, |t: TestDb| async move {
    let _w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    let c = app.client();
    let home = c.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location().as_deref(), Some("/login"));
    assert_eq!(c.get("/healthz").await.status, StatusCode::OK);
    let inbox = c.get("/inbox?state=submitted").await;
    assert_eq!(inbox.status, StatusCode::SEE_OTHER);
    assert_eq!(
        inbox.location().as_deref(),
        Some("/login?next=%2Finbox%3Fstate%3Dsubmitted")
    );
    // The old status page is gone; a static asset is served from the binary.
    let css = c.get("/static/panel.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(c.get("/nowhere").await.status, StatusCode::NOT_FOUND);

    let logged = app.login("changle").await;
    let home = logged.get("/").await;
    assert_eq!(home.location().as_deref(), Some("/inbox"));
    let inbox = logged.get("/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("待办事项"), "{}", inbox.body);
    assert_eq!(inbox.headers["x-frame-options"], "DENY");
    assert!(
        inbox.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    // Back to where the user wanted to go.
    let c = app.client();
    let form = c.get("/login?next=%2Finbox%3Fkind%3Dvisit").await;
    assert!(
        form.body.contains("value=\"/inbox?kind=visit\""),
        "{}",
        form.body
    );
    let done = login_next(&c, &form.csrf(), "/inbox?kind=visit").await;
    assert_eq!(done.location().as_deref(), Some("/inbox?kind=visit"));
    // Never to another site.
    let c = app.client();
    let token = c.get("/login").await.csrf();
    let done = login_next(&c, &token, "//evil.example/x").await;
    assert_eq!(done.location().as_deref(), Some("/inbox"));
});

db_test!(
    session_rotates_at_login_with_cookie_flags,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let app = spawn_app(&t).await;
        let c = app.client();
        let form = c.get("/login").await;
        let before = form.set_cookies();
        let anon = session_of(&before);
        let flags = before
            .iter()
            .find(|c| c.starts_with("gridline_session="))
            .unwrap();
        assert!(flags.contains("HttpOnly"), "{flags}");
        assert!(flags.contains("SameSite=Lax"), "{flags}");
        assert!(!flags.contains("Secure"), "{flags}");
        let done = c.login("changle", PASSWORD).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER);
        let after = done.set_cookies();
        let logged = session_of(&after);
        assert_ne!(anon, logged, "the session id must change at login");
        let flags = after
            .iter()
            .find(|c| c.starts_with("gridline_session="))
            .unwrap();
        assert!(
            flags.contains("HttpOnly") && flags.contains("SameSite=Lax"),
            "{flags}"
        );
        // The pre-login id is worthless now: nothing is stored under it any more.
        let rows = panel_session::Entity::find()
            .all(t.db.conn())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].staff_id, Some(w.secretary.id));
        assert_ne!(rows[0].id, anon, "only a hash of the token is stored");
        let planted = raw_client(&app.base, &anon);
        assert_eq!(planted.get("/inbox").await.status, StatusCode::SEE_OTHER);
        let ok = raw_client(&app.base, &logged);
        assert_eq!(ok.get("/inbox").await.status, StatusCode::OK);
        // Logging in again (same browser) gives yet another id.
        let again = c
            .post("/login", &[("username", "changle"), ("password", PASSWORD)])
            .await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert_ne!(session_of(&again.set_cookies()), logged);
        assert_eq!(
            ok.get("/inbox").await.status,
            StatusCode::SEE_OTHER,
            "the replaced session ended"
        );

        // With cookie_secure the cookie is Secure.
        let secure = spawn_app_with(&t, |s| s.cookie_secure = true).await;
        let sc = secure.client();
        let form = sc.get("/login").await;
        let flags = form.set_cookies();
        let flags = flags
            .iter()
            .find(|c| c.starts_with("gridline_session="))
            .unwrap();
        assert!(flags.contains("; Secure"), "{flags}");
        assert!(
            audit_actions(&t)
                .await
                .contains(&"login.success".to_owned())
        );
    }
);

/// A client that sends exactly this session cookie (as another browser or process would).
fn raw_client(base: &str, session: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("gridline_session={session}").parse().unwrap(),
    );
    Client {
        http: reqwest::Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: base.to_owned(),
    }
}

db_test!(
    sessions_survive_restart_and_time_out,
    |t: TestDb| async move {
        let _w = panel_world(&t).await;
        let first = spawn_app(&t).await;
        let c = first.client();
        let done = c.login("changle", PASSWORD).await;
        let token = session_of(&done.set_cookies());
        drop(first);
        // Another process (a second panel) on the same database knows the session.
        let second = spawn_app(&t).await;
        let other = raw_client(&second.base, &token);
        assert_eq!(other.get("/inbox").await.status, StatusCode::OK);

        // Idle for 31 minutes: gone.
        let row = panel_session::Entity::find()
            .filter(panel_session::Column::StaffId.is_not_null())
            .one(t.db.conn())
            .await
            .unwrap()
            .unwrap();
        let mut a: panel_session::ActiveModel = row.clone().into();
        a.last_seen_at = Set(Utc::now() - Duration::minutes(31));
        a.update(t.db.conn()).await.unwrap();
        assert_eq!(other.get("/inbox").await.status, StatusCode::SEE_OTHER);
        // Active every few minutes, but 12 hours old: gone too.
        let mut a: panel_session::ActiveModel = row.into();
        a.last_seen_at = Set(Utc::now() - Duration::minutes(2));
        a.created_at = Set(Utc::now() - Duration::hours(12));
        a.expires_at = Set(Utc::now() - Duration::seconds(1));
        a.update(t.db.conn()).await.unwrap();
        assert_eq!(other.get("/inbox").await.status, StatusCode::SEE_OTHER);
        // The scheduler deletes ended sessions.
        let tick = gridline_admin::scheduler::tick(&t.db, Utc::now())
            .await
            .unwrap();
        assert_eq!(tick.sessions_purged, 1);
    }
);

db_test!(sixth_rapid_failure_is_refused, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    let c = app.client();
    for i in 0..5 {
        let p = c.login("changle", "wrong password!!").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(p.body.contains("用户名或密码错误"), "{}", p.body);
    }
    // The sixth, even with the right password, is refused with a clear message.
    let sixth = c.login("changle", PASSWORD).await;
    assert_eq!(sixth.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(sixth.body.contains("登录失败次数过多"), "{}", sixth.body);
    assert!(
        !sixth
            .set_cookies()
            .iter()
            .any(|s| s.starts_with("gridline_session="))
    );
    assert_eq!(c.get("/inbox").await.status, StatusCode::SEE_OTHER);
    // Usernames are compared case-insensitively for throttling.
    assert_eq!(
        c.login("CHANGLE", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account from the same address still works.
    let other = app.client();
    assert_eq!(
        other.login("lingyi", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // An unknown user fails like a wrong password.
    let p = app.client().login("nobody", PASSWORD).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);

    let lines = audit_entry::Entity::find()
        .order_by_asc(audit_entry::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap();
    let failures: Vec<_> = lines
        .iter()
        .filter(|l| l.action == "login.failure")
        .collect();
    assert_eq!(failures.len(), 6);
    assert!(
        failures[..5]
            .iter()
            .all(|l| l.staff_id == Some(w.secretary.id))
    );
    assert_eq!(failures[5].staff_id, None);
    assert_eq!(failures[5].target.as_deref(), Some("user:nobody"));
    assert!(
        failures
            .iter()
            .all(|l| l.ip.as_deref() == Some("127.0.0.1"))
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.action == "login.throttled")
            .count(),
        2
    );
    assert!(
        lines
            .iter()
            .any(|l| l.action == "login.success" && l.staff_id == Some(w.other_secretary.id))
    );
    // No password ever lands in the log.
    assert!(lines.iter().all(|l| !format!("{l:?}").contains(PASSWORD)));
});

db_test!(every_post_needs_the_csrf_token, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let r = file_report(&t.db, &w.reporter, ReportKind::Incident, "路灯坏了", |_| {}).await;
    let app = spawn_app(&t).await;
    let c = app.login("changle").await;
    let id = r.id.to_string();
    let path = format!("/reports/{id}/accept");
    let missing = c.post_raw(&path, &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("页面已过期"), "{}", missing.body);
    let wrong = c
        .post_raw(&path, &[("csrf_token", "0123456789abcdef")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let empty = c.post_raw(&path, &[("csrf_token", "")]).await;
    assert_eq!(empty.status, StatusCode::FORBIDDEN);
    // Another session's token is wrong too.
    let other = app.login("town").await;
    let foreign = other.get("/inbox").await.csrf();
    let stolen = c.post_raw(&path, &[("csrf_token", &foreign)]).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    for (p, form) in [
        (
            "/inbox/bulk",
            vec![("action", "accept"), ("ids", id.as_str())],
        ),
        (&*format!("/reports/{id}/comment"), vec![("note", "x")]),
        (&*format!("/reports/{id}/reject"), vec![("note", "x")]),
        ("/logout", vec![]),
    ] {
        assert_eq!(
            c.post_raw(p, &form).await.status,
            StatusCode::FORBIDDEN,
            "{p}"
        );
    }
    let after = reload(&t.db, r.id).await;
    assert_eq!(after.state, ReportState::Submitted);
    assert_eq!(after.updated_at, r.updated_at);
    // Still logged in (logout was refused), and the right token works.
    assert_eq!(c.get("/inbox").await.status, StatusCode::OK);
    let ok = c.post(&path, &[]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(reload(&t.db, r.id).await.state, ReportState::Accepted);
    // The login form needs it as well.
    let anon = app.client();
    let _ = anon.get("/login").await;
    let p = anon
        .post_raw("/login", &[("username", "changle"), ("password", PASSWORD)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // A header token (for scripts) works like the form field; multipart bodies are checked too.
    let r2 = file_report(&t.db, &w.reporter, ReportKind::Incident, "井盖松动", |_| {}).await;
    let id2 = r2.id.to_string();
    let token = c.get("/inbox").await.csrf();
    let part = multipart_accept(&c, &id2, "wrong").await;
    assert_eq!(part, StatusCode::FORBIDDEN);
    assert_eq!(reload(&t.db, r2.id).await.state, ReportState::Submitted);
    let part = multipart_accept(&c, &id2, &token).await;
    assert_eq!(part, StatusCode::SEE_OTHER);
    assert_eq!(reload(&t.db, r2.id).await.state, ReportState::Accepted);
});

/// Accepts a report with a multipart/form-data body carrying this token.
async fn multipart_accept(c: &Client, id: &str, token: &str) -> StatusCode {
    c.post_multipart(
        &format!("/reports/{id}/accept"),
        &[("csrf_token", token)],
        None,
    )
    .await
    .status
}

db_test!(logout_ends_the_session, |t: TestDb| async move {
    let _w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    let c = app.login("changle").await;
    let out = c.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location().as_deref(), Some("/login"));
    assert!(out.set_cookies().iter().any(|s| s.contains("Max-Age=0")));
    assert_eq!(c.get("/inbox").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        panel_session::Entity::find()
            .filter(panel_session::Column::StaffId.is_not_null())
            .all(t.db.conn())
            .await
            .unwrap()
            .len(),
        0
    );
    assert!(audit_actions(&t).await.contains(&"logout".to_owned()));
});

db_test!(chinese_first_english_on_request, |t: TestDb| async move {
    let _w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    let c = app.client();
    let zh = c.get("/login").await;
    assert!(zh.body.contains("<html lang=\"zh-CN\">"));
    assert!(zh.body.contains("用户名"));
    let en = c.get("/login?lang=en").await;
    assert!(en.body.contains("<html lang=\"en\">"), "{}", en.body);
    assert!(en.body.contains("Username"));
    assert!(
        en.set_cookies()
            .iter()
            .any(|s| s.starts_with("gridline_lang=en"))
    );
    // Remembered by the cookie.
    let again = c.get("/login").await;
    assert!(again.body.contains("Username"));
    // Error pages follow the language too.
    let logged = app.login("changle").await;
    let _ = logged.get("/inbox?lang=en").await;
    let missing = logged.get("/reports/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("does not exist"), "{}", missing.body);
    let back = logged.get("/inbox?lang=zh-CN").await;
    assert!(back.body.contains("待办事项"));
});
