//! Issue 11, the holes found in the panel's accounts (findings 4, 5, 6, 8, 9), over HTTP:
//! who may reset whom, what a reset or a deactivation ends (sessions, API tokens — for good),
//! the forced and the self-service password change, the password policy, the login throttle
//! under parallel guesses, and bodies refused before they are read.

use std::time::Duration;

use chrono::Utc;
use futures_util::future::join_all;
use gridline_shared::domain::StaffRole;
use gridline_shared::entity::{audit_entry, panel_session, staff_user};
use gridline_shared::{api_tokens, staff};
use gridline_tests::panel::{
    Client, PASSWORD, TestApp, cookie_value, make_staff, panel_world, spawn_app,
};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn audit_count(t: &TestDb, action: &str) -> usize {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq(action))
        .count(t.db.conn())
        .await
        .unwrap() as usize
}

async fn api_status(app: &TestApp, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(app.url("/api/v1/reports"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn sessions_of(t: &TestDb, user: &staff_user::Model) -> u64 {
    panel_session::Entity::find()
        .filter(panel_session::Column::StaffId.eq(user.id))
        .count(t.db.conn())
        .await
        .unwrap()
}

/// The one-time password on the users page after a reset.
fn shown_password(html: &str) -> String {
    let at = html
        .find("<code class=\"secret\">")
        .expect("no password shown")
        + 21;
    let end = html[at..].find('<').unwrap();
    html[at..at + end].to_owned()
}

/// Changes the logged-in user's password on `/password`.
async fn change_password(c: &Client, current: &str, new: &str) -> reqwest::Response {
    let token = c.get("/password").await.csrf();
    c.http
        .post(format!("{}/password", c.base))
        .form(&[
            ("csrf_token", token.as_str()),
            ("current", current),
            ("new", new),
            ("confirm", new),
        ])
        .send()
        .await
        .unwrap()
}

db_test!(only_lower_roles_are_managed, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let town2 = make_staff(&t.db, "town2", StaffRole::TownAdmin, &w.town).await;
    let county2 = make_staff(&t.db, "county2", StaffRole::CountyAdmin, &w.root).await;
    let app = spawn_app(&t).await;
    let town = app.login("town").await;

    // A town admin resets no other town admin of their town, and is shown no password.
    let page = town
        .post_from(
            "/admin/users",
            &format!("/admin/users/{}/reset", town2.id),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(!page.body.contains("class=\"secret\""));
    let page = town
        .post_from(
            "/admin/users",
            &format!("/admin/users/{}/active", town2.id),
            &[("active", "0")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let after = staff::find_by_username(t.db.conn(), "town2")
        .await
        .unwrap()
        .unwrap();
    assert!(after.active && !after.must_change_password);
    assert_eq!(after.password_hash, town2.password_hash);
    // Nor creates one; the form offers only lower roles.
    let users = town.get("/admin/users").await;
    assert!(
        !users.body.contains("value=\"town-admin\""),
        "{}",
        users.body
    );
    let page = town
        .post_from(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "town3"),
                ("password", "a long enough password"),
                ("role", "town-admin"),
                ("area", &w.town.id.to_string()),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        staff::find_by_username(t.db.conn(), "town3")
            .await
            .unwrap()
            .is_none()
    );

    // A county admin manages town admins, but no other county admin.
    let county = app.login("county").await;
    let page = county
        .post_from(
            "/admin/users",
            &format!("/admin/users/{}/reset", county2.id),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = county
        .post_from(
            "/admin/users",
            &format!("/admin/users/{}/reset", town2.id),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!shown_password(&page.body).is_empty());
    assert_eq!(audit_count(&t, "user.reset_password").await, 1);
});

db_test!(
    a_reset_ends_sessions_and_tokens_and_forces_a_change,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let app = spawn_app(&t).await;
        let secretary = app.login("changle").await;
        let elsewhere = app.login("changle").await;
        let token = api_tokens::create(&t.db, &w.secretary, "平台", None, Utc::now())
            .await
            .unwrap()
            .secret;
        assert_eq!(api_status(&app, &token).await, StatusCode::OK);
        assert_eq!(secretary.get("/inbox").await.status, StatusCode::OK);

        let town = app.login("town").await;
        let page = town
            .post_from(
                "/admin/users",
                &format!("/admin/users/{}/reset", w.secretary.id),
                &[],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let one_time = shown_password(&page.body);

        // Whoever held the old password or a session is out; the token is revoked.
        for c in [&secretary, &elsewhere] {
            let p = c.get("/inbox").await;
            assert_eq!(p.status, StatusCode::SEE_OTHER);
            assert!(p.location().unwrap().starts_with("/login"));
        }
        assert_eq!(sessions_of(&t, &w.secretary).await, 0);
        assert_eq!(api_status(&app, &token).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.client().login("changle", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED
        );

        // The next login must change the one-time password before anything else.
        let c = app.client();
        let login = c.login("changle", &one_time).await;
        assert_eq!(login.status, StatusCode::SEE_OTHER);
        assert_eq!(login.location().as_deref(), Some("/password"));
        for path in ["/inbox", "/dashboard", "/api-tokens", "/roster"] {
            let p = c.get(path).await;
            assert_eq!(p.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(p.location().as_deref(), Some("/password"), "{path}");
        }
        let p = c
            .post_from("/password", "/api-tokens", &[("name", "x")])
            .await;
        assert_eq!(p.location().as_deref(), Some("/password"));
        assert!(
            api_tokens::list_of(t.db.conn(), w.secretary.id)
                .await
                .unwrap()
                .iter()
                .all(|t| t.revoked_at.is_some()),
            "no token made before the change"
        );
        let form = c.get("/password").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("id=\"must-change\""), "{}", form.body);

        // The current password is asked; the new one follows the policy; CSRF is checked.
        let r = change_password(&c, "not the password", "a brand new passphrase").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("当前密码不正确"));
        let r = change_password(&c, &one_time, "Password1234").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains("这个密码太常见"));
        let r = change_password(&c, &one_time, &one_time).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let p = c
            .post_raw(
                "/password",
                &[
                    ("current", one_time.as_str()),
                    ("new", "a brand new passphrase"),
                    ("confirm", "a brand new passphrase"),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);

        let before = cookie_value(&login.set_cookies(), "gridline_session").unwrap();
        let r = change_password(&c, &one_time, "a brand new passphrase").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let set: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        let after = cookie_value(&set, "gridline_session").unwrap();
        assert_ne!(before, after, "the session is rotated");
        assert_eq!(c.get("/inbox").await.status, StatusCode::OK);
        assert_eq!(sessions_of(&t, &w.secretary).await, 1);
        // The old session cookie is worthless.
        let stale = Client::new(&app.base);
        let p = stale
            .http
            .get(app.url("/inbox"))
            .header("cookie", format!("gridline_session={before}"))
            .send()
            .await
            .unwrap();
        assert_eq!(p.status(), StatusCode::SEE_OTHER);
        assert_eq!(audit_count(&t, "user.change_password").await, 1);
        assert_eq!(
            app.client().login("changle", &one_time).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.client()
                .login("changle", "a brand new passphrase")
                .await
                .location()
                .as_deref(),
            Some("/inbox")
        );
        // The revoked token stays revoked.
        assert_eq!(api_status(&app, &token).await, StatusCode::UNAUTHORIZED);
    }
);

db_test!(
    every_user_changes_their_own_password,
    |t: TestDb| async move {
        let _w = panel_world(&t).await;
        let app = spawn_app(&t).await;
        let viewer = app.login("viewer").await;
        let page = viewer.get("/inbox").await;
        assert!(page.body.contains("href=\"/password\""));
        let form = viewer.get("/password").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(!form.body.contains("id=\"must-change\""));
        let r = change_password(&viewer, PASSWORD, "viewer's own passphrase").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers().get("location").unwrap().to_str().unwrap(),
            "/password?changed=1"
        );
        let done = viewer.get("/password?changed=1").await;
        assert!(done.body.contains("id=\"changed\""));
        let line = audit_entry::Entity::find()
            .filter(audit_entry::Column::Action.eq("user.change_password"))
            .one(t.db.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line.target.as_deref(), Some("user:viewer"));
        assert!(!format!("{line:?}").contains("passphrase"));
        // In English too.
        let en = viewer.get("/password?lang=en").await;
        assert!(en.body.contains("Change password"), "{}", en.body);
    }
);

db_test!(
    deactivation_revokes_tokens_for_good,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let app = spawn_app(&t).await;
        let secretary = app.login("changle").await;
        let token = api_tokens::create(&t.db, &w.secretary, "平台", None, Utc::now())
            .await
            .unwrap()
            .secret;
        assert_eq!(api_status(&app, &token).await, StatusCode::OK);
        let town = app.login("town").await;
        let id = w.secretary.id;
        let off = town
            .post_from(
                "/admin/users",
                &format!("/admin/users/{id}/active"),
                &[("active", "0")],
            )
            .await;
        assert_eq!(off.status, StatusCode::SEE_OTHER);
        assert_eq!(sessions_of(&t, &w.secretary).await, 0);
        assert_eq!(secretary.get("/inbox").await.status, StatusCode::SEE_OTHER);
        assert_eq!(api_status(&app, &token).await, StatusCode::UNAUTHORIZED);
        let on = town
            .post_from(
                "/admin/users",
                &format!("/admin/users/{id}/active"),
                &[("active", "1")],
            )
            .await;
        assert_eq!(on.status, StatusCode::SEE_OTHER);
        // Back in: the login works again, the token does not.
        assert_eq!(
            app.client().login("changle", PASSWORD).await.status,
            StatusCode::SEE_OTHER
        );
        assert_eq!(api_status(&app, &token).await, StatusCode::UNAUTHORIZED);
        assert!(
            api_tokens::list_of(t.db.conn(), id)
                .await
                .unwrap()
                .iter()
                .all(|t| t.revoked_at.is_some())
        );
    }
);

db_test!(weak_passwords_are_refused, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    let town = app.login("town").await;
    let area = w.changle.id.to_string();
    let create = |name: &'static str, password: &'static str| {
        let town = town.clone();
        let area = area.clone();
        async move {
            town.post_from(
                "/admin/users",
                "/admin/users",
                &[
                    ("username", name),
                    ("password", password),
                    ("role", "viewer"),
                    ("area", &area),
                ],
            )
            .await
        }
    };
    for (name, weak, says) in [
        ("weak1", "aaaaaaaaaa", "密码至少需要 12 个字符"),
        ("weak2", "password12", "密码至少需要 12 个字符"),
        ("weak3", "aaaaaaaaaaaaaaaa", "这个密码太常见"),
        ("weak4", "Password1234", "这个密码太常见"),
        ("weak5", "1QAZ2WSX3EDC", "这个密码太常见"),
    ] {
        let p = create(name, weak).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert!(p.body.contains(says), "{weak}: {}", p.body);
        assert!(
            staff::find_by_username(t.db.conn(), name)
                .await
                .unwrap()
                .is_none()
        );
    }
    let ok = create("strong", "晋原街道长乐社区第九网格员").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
});

/// Posts `n` parallel logins with `password`, each from its own anonymous session. Returns
/// the statuses.
async fn parallel_logins(app: &TestApp, users: &[String], password: &str) -> Vec<StatusCode> {
    let mut ready = Vec::new();
    for u in users {
        let c = app.client();
        let token = c.get("/login").await.csrf();
        ready.push((c, token, u.clone()));
    }
    join_all(ready.iter().map(|(c, token, u)| async move {
        c.post_raw(
            "/login",
            &[
                ("csrf_token", token.as_str()),
                ("username", u.as_str()),
                ("password", password),
            ],
        )
        .await
        .status
    }))
    .await
}

db_test!(parallel_guesses_are_throttled, |t: TestDb| async move {
    let _w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    // 25 at once against one account: 5 are checked, 20 refused before any check.
    let users = vec!["changle".to_owned(); 25];
    let statuses = parallel_logins(&app, &users, "wrong password!!").await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((checked, refused), (5, 20), "{statuses:?}");
    assert_eq!(audit_count(&t, "login.failure").await, 5);
    // The right password is refused too while the account is locked.
    assert_eq!(
        app.client().login("changle", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // 60 at once from one address, each against another name: 30 are checked.
    let app = spawn_app(&t).await;
    let before = audit_count(&t, "login.failure").await;
    let users: Vec<String> = (0..60).map(|i| format!("nobody{i}")).collect();
    let statuses = parallel_logins(&app, &users, "wrong password!!").await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 30, "{statuses:?}");
    assert_eq!(audit_count(&t, "login.failure").await - before, 30);
    assert_eq!(
        app.client().login("lingyi", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
});

/// Opens a connection and sends a POST's head declaring `length` bytes of body, then only
/// `sent` bytes of it.
async fn partial_post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
    sent: usize,
) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; \
         boundary=x\r\nContent-Length: {length}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b'a'; sent]).await.unwrap();
    s
}

/// The status line of the answer, if one comes within `wait` (the body was not all sent).
async fn status_line(s: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let read = tokio::time::timeout(wait, async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()?;
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().map(str::to_owned)
}

const THIRTY_MB: usize = 30 * 1024 * 1024;

db_test!(
    bodies_are_refused_before_they_are_read,
    |t: TestDb| async move {
        let _w = panel_world(&t).await;
        let app = spawn_app(&t).await;
        let wait = Duration::from_secs(10);

        // Anonymous: 16 at once, 30 MB declared, 64 KB sent — each answered 403 without waiting
        // for the rest.
        let mut conns = Vec::new();
        for _ in 0..16 {
            conns.push(partial_post(&app, "/roster/upload", &[], THIRTY_MB, 64 * 1024).await);
        }
        let lines = join_all(conns.iter_mut().map(|s| status_line(s, wait))).await;
        for line in &lines {
            assert_eq!(line.as_deref(), Some("HTTP/1.1 403 Forbidden"), "{lines:?}");
        }

        // An anonymous session (anyone gets one from the login form) does not make an upload.
        let anon = app.client().get("/login").await;
        let cookie = format!(
            "gridline_session={}",
            cookie_value(&anon.set_cookies(), "gridline_session").unwrap()
        );
        let csrf = anon.csrf();
        let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
        let mut s = partial_post(&app, "/roster/upload", &headers, THIRTY_MB, 1024).await;
        assert_eq!(
            status_line(&mut s, wait).await.as_deref(),
            Some("HTTP/1.1 403 Forbidden")
        );
        // Nor does it post more than a small form anywhere else.
        let mut s = partial_post(&app, "/login", &headers, 5 * 1024 * 1024, 1024).await;
        assert_eq!(
            status_line(&mut s, wait).await.as_deref(),
            Some("HTTP/1.1 413 Payload Too Large")
        );

        // Logged in: over the upload limit is refused at once too.
        let town = app.client();
        let login = town.login("town", PASSWORD).await;
        let cookie = format!(
            "gridline_session={}",
            cookie_value(&login.set_cookies(), "gridline_session").unwrap()
        );
        let csrf = town.get("/roster").await.csrf();
        let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
        let mut s = partial_post(&app, "/roster/upload", &headers, 40 * 1024 * 1024, 1024).await;
        assert_eq!(
            status_line(&mut s, wait).await.as_deref(),
            Some("HTTP/1.1 413 Payload Too Large")
        );
        // A wrong CSRF header is refused before the body as well.
        let bad = [("Cookie", cookie.as_str()), ("X-CSRF-Token", "nope")];
        let mut s = partial_post(&app, "/roster/upload", &bad, THIRTY_MB, 1024).await;
        assert_eq!(
            status_line(&mut s, wait).await.as_deref(),
            Some("HTTP/1.1 403 Forbidden")
        );

        // Uploads being read at once are bounded: four slow ones hold every slot, a fifth is told
        // to come back (503, in words), and once they are gone an upload goes through again.
        let mut slow = Vec::new();
        for _ in 0..gridline_admin::panel::session::UPLOADS_AT_ONCE {
            slow.push(partial_post(&app, "/roster/upload", &headers, THIRTY_MB, 1024).await);
        }
        // None of them is answered: each waits for the rest of its body, holding its slot.
        for c in slow.iter_mut() {
            assert_eq!(status_line(c, Duration::from_millis(500)).await, None);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let busy = loop {
            let p = town
                .http
                .post(app.url("/roster/upload"))
                .header("X-CSRF-Token", &csrf)
                .header("content-type", "multipart/form-data; boundary=x")
                .body("--x--\r\n")
                .send()
                .await
                .unwrap();
            if p.status() == StatusCode::SERVICE_UNAVAILABLE {
                break p.text().await.unwrap();
            }
            let status = p.status();
            if std::time::Instant::now() >= deadline {
                let mut first = slow.remove(0);
                let line = status_line(&mut first, Duration::from_secs(1)).await;
                panic!(
                    "never busy: {status} {:?}; a slow one: {line:?}",
                    p.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(busy.contains("服务器正在处理其他上传"), "{busy}");
        drop(slow);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let p = town
                .http
                .post(app.url("/roster/upload"))
                .header("X-CSRF-Token", &csrf)
                .header("content-type", "multipart/form-data; boundary=x")
                .body("--x--\r\n")
                .send()
                .await
                .unwrap();
            if p.status() != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the slots never came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
);
