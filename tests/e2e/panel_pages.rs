//! The panel pages beside the inbox and notices, over HTTP: the JSON API (bearer tokens, scope,
//! 401/404), the token page, exports, the dashboard, roster upload (good, bad rows, broken
//! file), members and bind sheets, and the admin pages (refused to a viewer, CSRF on every
//! form, audited).

use chrono::Utc;
use gridline_shared::api_tokens;
use gridline_shared::audit::{AuditAction, AuditTarget, report_action};
use gridline_shared::domain::MemberStatus;
use gridline_shared::entity::{api_token, audit_entry, category, holiday, member, staff_user};
use gridline_tests::panel::{Client, FilePart, Page, TestApp, member_by_phone, spawn_app};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::Value;

use crate::small_county::{self as world, World};
use crate::stats_exports::read_xlsx;

async fn api(app: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

async fn token_for(t: &TestDb, user: &staff_user::Model) -> String {
    api_tokens::create(&t.db, user, "测试平台", None, Utc::now())
        .await
        .unwrap()
        .secret
}

fn ids(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

db_test!(
    api_needs_a_token_and_keeps_to_its_scope,
    |t: TestDb| async move {
        let w: World = world::setup(&t).await;
        let app = spawn_app(&t).await;
        let secretary = token_for(&t, &w.secretary).await;

        // No token, a wrong one, another scheme: 401.
        for token in [None, Some("gl_not_a_real_token"), Some("")] {
            let (status, body) = api(&app, token, "/api/v1/reports").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
            assert_eq!(body["error"], "unauthorized");
        }
        let r = reqwest::Client::new()
            .get(app.url("/api/v1/reports"))
            .header("Authorization", format!("Basic {secretary}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // A panel session cookie is no API credential.
        let c = app.login("changle").await;
        let p = c.get("/api/v1/reports").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);

        // In scope: the six reports of 长乐社区, newest first, contacts masked.
        let (status, body) = api(&app, Some(&secretary), "/api/v1/reports").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut mine = w.ids[..6].to_vec();
        mine.reverse();
        assert_eq!(ids(&body), mine);
        let text = body.to_string();
        assert!(!text.contains("13812345678") && text.contains("138****5678"));
        assert!(body["next_cursor"].is_null());
        // Filters and keyset pages.
        let (_, body) = api(&app, Some(&secretary), "/api/v1/reports?state=closed").await;
        assert_eq!(ids(&body), vec![w.ids[1], w.ids[0]]);
        let (_, p1) = api(&app, Some(&secretary), "/api/v1/reports?limit=4").await;
        assert_eq!(ids(&p1), mine[..4].to_vec());
        let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
        let (_, p2) = api(
            &app,
            Some(&secretary),
            &format!("/api/v1/reports?limit=4&after={cursor}"),
        )
        .await;
        assert_eq!(ids(&p2), mine[4..].to_vec());
        let (status, _) = api(&app, Some(&secretary), "/api/v1/reports?state=bogus").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // One report: in scope 200 with its fields; out of scope (安仁镇) 404; nonsense 404.
        let (status, body) = api(
            &app,
            Some(&secretary),
            &format!("/api/v1/reports/{}", w.ids[2]),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["id"].as_i64(), Some(w.ids[2]));
        assert_eq!(body["number"], format!("#{}", w.ids[2]));
        assert_eq!(body["state"], "resolved");
        assert_eq!(body["kind"], "request");
        assert_eq!(body["resident_phone"], "138****5678");
        assert_eq!(
            body["origin_area"],
            "晋原街道/长乐社区/第2网格/第2网格-1号微网格"
        );
        for path in [
            format!("/api/v1/reports/{}", w.ids[8]),
            format!("/api/v1/reports/{}", w.ids[6]),
            "/api/v1/reports/999999".to_owned(),
            "/api/v1/reports/abc".to_owned(),
            "/api/v1/nothing".to_owned(),
        ] {
            let (status, _) = api(&app, Some(&secretary), &path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }

        // Areas: the subtree only.
        let (status, body) = api(&app, Some(&secretary), "/api/v1/areas").await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"长乐社区"));
        assert!(!names.contains(&"安仁镇") && !names.contains(&"另一社区"));
        let (_, body) = api(&app, Some(&secretary), "/api/v1/areas?level=grid").await;
        assert_eq!(body["items"].as_array().unwrap().len(), 3);
        // Notices: none yet, with the list shape.
        let (status, body) = api(&app, Some(&secretary), "/api/v1/notices").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["items"], serde_json::json!([]));

        // The county sees everything; revoked tokens and deactivated creators get 401.
        let county = token_for(&t, &w.county_admin).await;
        let (_, body) = api(&app, Some(&county), "/api/v1/reports?limit=500").await;
        assert_eq!(ids(&body).len(), 10);
        let row = api_token::Entity::find()
            .filter(api_token::Column::StaffUserId.eq(w.county_admin.id))
            .one(t.db.conn())
            .await
            .unwrap()
            .unwrap();
        assert!(row.last_used_at.is_some(), "last use recorded");
        api_tokens::revoke(&t.db, w.county_admin.id, row.id, None, Utc::now())
            .await
            .unwrap();
        let (status, _) = api(&app, Some(&county), "/api/v1/reports").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let mut u: staff_user::ActiveModel = w.secretary.clone().into();
        u.active = Set(false);
        u.update(t.db.conn()).await.unwrap();
        let (status, _) = api(&app, Some(&secretary), "/api/v1/reports").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
);

async fn tokens_of(t: &TestDb, id: i64) -> u64 {
    api_token::Entity::find()
        .filter(api_token::Column::StaffUserId.eq(id))
        .count(t.db.conn())
        .await
        .unwrap()
}

db_test!(token_page_shows_the_secret_once, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let app = spawn_app(&t).await;
    let c = app.login("changle").await;
    let page = c.get("/api-tokens").await;
    assert_eq!(page.status, StatusCode::OK);
    // Without the CSRF token: 403 and nothing created.
    let p = c.post_raw("/api-tokens", &[("name", "x")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = c
        .post_raw("/api-tokens", &[("name", "x"), ("csrf_token", "wrong")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(tokens_of(&t, w.secretary.id).await, 0);
    // With it: the secret is on the page once, and works.
    let p = c
        .post_from("/api-tokens", "/api-tokens", &[("name", "县指挥中心")])
        .await;
    assert_eq!(p.status, StatusCode::OK);
    let at = p.body.find("id=\"new-secret\">").unwrap() + "id=\"new-secret\">".len();
    let secret: String = p.body[at..].chars().take_while(|c| *c != '<').collect();
    assert!(secret.starts_with("gl_"), "{secret}");
    let (status, _) = api(&app, Some(&secret), "/api/v1/reports").await;
    assert_eq!(status, StatusCode::OK);
    let again = c.get("/api-tokens").await;
    assert!(
        !again.body.contains(&secret),
        "the secret is shown only once"
    );
    assert!(again.body.contains("县指挥中心"));
    // An empty name is refused with a message.
    let p = c
        .post_from("/api-tokens", "/api-tokens", &[("name", " ")])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Revoking: only one's own token.
    let id = api_token::Entity::find()
        .filter(api_token::Column::StaffUserId.eq(w.secretary.id))
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap()
        .id;
    let other = app.login("jinyuan").await;
    let p = other
        .post_from("/api-tokens", &format!("/api-tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = c
        .post_from("/api-tokens", &format!("/api-tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let (status, _) = api(&app, Some(&secret), "/api/v1/reports").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(audit_has(&t, "api_token.create").await);
    assert!(audit_has(&t, "api_token.revoke").await);
});

async fn audit_has(t: &TestDb, action: &str) -> bool {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq(action))
        .count(t.db.conn())
        .await
        .unwrap()
        > 0
}

async fn get_bytes(c: &Client, path: &str) -> (StatusCode, String, Vec<u8>) {
    let r = c
        .http
        .get(format!("{}{path}", c.base))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text.strip_prefix('\u{FEFF}').unwrap();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    r.records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

db_test!(exports_over_http, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let app = spawn_app(&t).await;
    let sec = app.login("changle").await;
    let (status, ct, bytes) = get_bytes(&sec, "/export.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let rows = csv_rows(&bytes);
    assert_eq!(rows[0][0], "编号");
    assert_eq!(rows.len(), 7);
    let numbers: Vec<i64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(numbers, w.ids[..6].to_vec());
    assert_eq!(rows[3][12], "138****5678");
    // Unmasked when asked by a secretary; the inbox's filters apply.
    let (_, _, bytes) = get_bytes(&sec, "/export.csv?unmask=1&state=resolved").await;
    let rows = csv_rows(&bytes);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][12], "13812345678");
    // English headers with ?lang=en.
    let (_, _, bytes) = get_bytes(&sec, "/export.csv?lang=en").await;
    assert_eq!(csv_rows(&bytes)[0][0], "number");
    // XLSX.
    let (status, ct, bytes) = get_bytes(&sec, "/export.xlsx?kind=incident").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.contains("spreadsheetml"), "{ct}");
    let sheet = read_xlsx(&bytes);
    assert_eq!(sheet.len(), 4, "#1, #2, #6");
    assert_eq!(sheet[1][0], w.ids[0].to_string());
    // Out of scope: another town's area → 404; its reports never appear.
    let (status, _, _) = get_bytes(&sec, &format!("/export.csv?area={}", w.anren.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let town = app.login("jinyuan").await;
    let (_, _, bytes) = get_bytes(&town, "/export.csv?unmask=1").await;
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains("赵六") && !text.contains("13900001111"));
    assert_eq!(csv_rows(text.as_bytes()).len(), 9);
    // A viewer may export, masked only.
    let viewer = app.login("viewer").await;
    let (status, _, _) = get_bytes(&viewer, "/export.csv?unmask=1").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, bytes) = get_bytes(&viewer, "/export.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!String::from_utf8(bytes).unwrap().contains("13900001111"));
    // Not logged in: sent to the login page.
    let anon = app.client();
    let p = anon.get("/export.csv").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(audit_has(&t, "export.reports").await);
    assert!(audit_has(&t, "export.refused").await);
});

db_test!(dashboard_page, |t: TestDb| async move {
    let _w = world::setup(&t).await;
    let app = spawn_app(&t).await;
    let c = app.login("jinyuan").await;
    let p = c.get("/dashboard?days=0").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("<svg"), "charts are drawn on the server");
    assert!(p.body.contains("按期办结率"));
    assert!(p.body.contains("50.0%"), "the town's on-time rate (3 of 6)");
    assert!(p.body.contains("长乐社区") && p.body.contains("另一社区"));
    assert!(!p.body.contains("安仁"), "nothing from another town");
    let lo = p.body.find("长乐社区").unwrap();
    let hi = p.body.find("另一社区").unwrap();
    assert!(lo < hi, "lowest first");
    let p = c.get("/dashboard?days=5").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    let v = app.login("viewer").await;
    let p = v.get("/dashboard?lang=en").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("On-time rate"));
});

/// Uploads a roster file (multipart/form-data, with a CSRF token if given).
async fn upload(c: &Client, csrf: Option<&str>, name: &str, content: &[u8]) -> Page {
    let fields: Vec<(&str, &str)> = csrf.map(|t| ("csrf_token", t)).into_iter().collect();
    c.post_multipart(
        "/roster/upload",
        &fields,
        Some(FilePart::octets(name, content)),
    )
    .await
}

async fn member_count(t: &TestDb) -> u64 {
    member::Entity::find().count(t.db.conn()).await.unwrap()
}

db_test!(roster_pages, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let app = spawn_app(&t).await;
    let admin = app.login("county").await;
    let csrf = admin.get("/roster").await.csrf();
    let before = member_count(&t).await;

    // Without the CSRF token: 403, nothing imported.
    let good = "镇街,村社区,网格,微网格,微网格长,手机号,标签\n\
        晋原街道,长乐社区,第4网格,第4网格-1号微网格,刘新,19900009991,新任\n";
    let p = upload(&admin, None, "a.csv", good.as_bytes()).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(member_count(&t).await, before);
    // A good file.
    let p = upload(&admin, Some(&csrf), "a.csv", good.as_bytes()).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("新增 1"), "{}", p.body);
    assert_eq!(member_count(&t).await, before + 1);
    // Bad rows are listed with their row number and reason; good rows are imported.
    let bad = "镇街,村社区,网格,微网格,微网格长,手机号,标签\n\
        晋原街道,长乐社区,第4网格,第4网格-2号微网格,陈一,19900009992,\n\
        晋原街道,长乐社区,第4网格,第4网格-3号微网格,陈二,12345,\n\
        晋原街道,长乐社区,第4网格,第4网格-4号微网格,,19900009994,\n";
    let p = upload(&admin, Some(&csrf), "b.csv", bad.as_bytes()).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.body.contains("第3行：手机号格式不正确（12345）"),
        "{}",
        p.body
    );
    assert!(p.body.contains("第4行：缺少微网格长姓名"), "{}", p.body);
    assert_eq!(member_count(&t).await, before + 2);
    // A broken file: a clear message, nothing changed.
    let p = upload(&admin, Some(&csrf), "c.xlsx", b"\x00\x01PK\x03garbage").await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("导入失败"), "{}", p.body);
    assert_eq!(member_count(&t).await, before + 2);
    // A secretary or a viewer may not import.
    let sec = app.login("changle").await;
    let token = sec.get("/roster").await.csrf();
    let p = upload(&sec, Some(&token), "a.csv", good.as_bytes()).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // A town admin imports only into the town: another town's rows are refused.
    let town = app.login("jinyuan").await;
    let token = town.get("/roster").await.csrf();
    let other = "镇街,村社区,网格,微网格,微网格长,手机号,标签\n\
        安仁镇,安仁社区,第9网格,第9网格-1号微网格,周五,19900009995,\n";
    let p = upload(&town, Some(&token), "d.csv", other.as_bytes()).await;
    assert!(p.body.contains("第2行：不在您的管辖范围内"), "{}", p.body);
    assert_eq!(member_count(&t).await, before + 2);

    // Members: scoped list with search; deactivate.
    let p = sec.get("/roster?q=何刚华").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("19900000563"));
    let p = sec.get("/roster").await;
    assert!(!p.body.contains("万丽"), "安仁镇's member is not listed");
    let target = member_by_phone(&t.db, "19900000767").await;
    let p = sec
        .post_from(
            "/roster",
            &format!("/roster/members/{}/deactivate", target.id),
            &[],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::FORBIDDEN,
        "secretaries do not manage the roster"
    );
    let p = town
        .post_raw(&format!("/roster/members/{}/deactivate", target.id), &[])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "CSRF");
    let anren_member = member_by_phone(&t.db, "19900002266").await;
    let p = town
        .post_from(
            "/roster",
            &format!("/roster/members/{}/deactivate", anren_member.id),
            &[],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "out of scope");
    let p = town
        .post_from(
            "/roster",
            &format!("/roster/members/{}/deactivate", target.id),
            &[],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let after = member_by_phone(&t.db, "19900000767").await;
    assert_eq!(after.status, MemberStatus::Left);
    assert!(audit_has(&t, "member.deactivate").await);
    assert!(audit_has(&t, "roster.import").await);

    // Bind sheet: codes and QR codes of the community; another community is 404.
    let p = sec.get(&format!("/roster/sheet/{}", w.changle.id)).await;
    assert_eq!(p.status, StatusCode::OK);
    let m = member_by_phone(&t.db, "19900000563").await;
    assert!(p.body.contains(&m.bind_code));
    assert!(p.body.contains(&format!("start={}", m.bind_code)));
    assert!(p.body.matches("<svg").count() >= 2, "a QR code per member");
    assert!(
        !p.body.contains("方秀海"),
        "members who left are not printed"
    );
    let p = sec.get(&format!("/roster/sheet/{}", w.lingyi.id)).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
});

db_test!(admin_pages, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let app = spawn_app(&t).await;
    // A viewer or a secretary may not use them.
    for who in ["viewer", "changle"] {
        let c = app.login(who).await;
        for path in [
            "/admin/areas",
            "/admin/categories",
            "/admin/holidays",
            "/admin/users",
            "/admin/audit",
        ] {
            assert_eq!(
                c.get(path).await.status,
                StatusCode::FORBIDDEN,
                "{who} {path}"
            );
        }
        let p = c
            .post_from(
                "/inbox",
                "/admin/holidays",
                &[("day", "2026-10-01"), ("kind", "holiday")],
            )
            .await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
    }
    let admin = app.login("county").await;
    for path in [
        "/admin/areas",
        "/admin/categories",
        "/admin/holidays",
        "/admin/users",
        "/admin/audit",
    ] {
        let p = admin.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
    }

    // Categories: limits are validated; nothing saved when one is wrong.
    let fire = category::Entity::find()
        .filter(category::Column::Code.eq("hazard.fire"))
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    let path = format!("/admin/categories/{}", fire.id);
    let p = admin
        .post_from(
            "/admin/categories",
            &path,
            &[("accept_urgent", "45m"), ("handle_normal", "3x")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = admin.post_raw(&path, &[("accept_urgent", "45m")]).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "CSRF");
    let unchanged = category::Entity::find_by_id(fire.id)
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.accept_urgent, None);
    let p = admin
        .post_from(
            "/admin/categories",
            &path,
            &[("accept_urgent", " 45M "), ("handle_normal", "3wd")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let saved = category::Entity::find_by_id(fire.id)
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.accept_urgent.as_deref(), Some("45m"));
    assert_eq!(saved.handle_normal.as_deref(), Some("3wd"));
    // A town admin sees categories but may not change them.
    let town = app.login("jinyuan").await;
    let p = town
        .post_from("/admin/categories", &path, &[("accept_urgent", "1h")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);

    // Holidays: add a day off and a make-up workday, remove one.
    for (day, kind) in [("2026-10-01", "holiday"), ("2026-10-11", "workday")] {
        let p = admin
            .post_from(
                "/admin/holidays",
                "/admin/holidays",
                &[("day", day), ("kind", kind), ("name", "国庆")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER);
    }
    let p = admin
        .post_from("/admin/holidays", "/admin/holidays", &[("day", "10/01")])
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(holiday::Entity::find().count(t.db.conn()).await.unwrap(), 2);
    let p = admin
        .post_from(
            "/admin/holidays",
            "/admin/holidays/remove",
            &[("day", "2026-10-11")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let page = admin.get("/admin/holidays").await;
    assert!(page.body.contains("2026-10-01") && !page.body.contains("2026-10-11"));

    // Areas: add below a community, rename; out of scope for a town admin is 404.
    let p = admin
        .post_from(
            "/admin/areas",
            "/admin/areas/add",
            &[("parent", &w.changle.id.to_string()), ("name", "第5网格")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = admin
        .post_from(
            "/admin/areas",
            "/admin/areas/add",
            &[("parent", &w.changle.id.to_string()), ("name", "第5网格")],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a duplicate name"
    );
    let p = town
        .post_from(
            "/admin/areas",
            &format!("/admin/areas/{}/rename", w.anren.id),
            &[("name", "安仁新镇")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = town
        .post_from(
            "/admin/areas",
            &format!("/admin/areas/{}/rename", w.lingyi.id),
            &[("name", "新民社区")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(admin.get("/admin/areas").await.body.contains("新民社区"));

    // Users: create, a town admin may not create a county admin, deactivate, reset.
    let p = town
        .post_from(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "xinmin"),
                ("password", world::PASSWORD),
                ("role", "secretary"),
                ("area", &w.lingyi.id.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = town
        .post_from(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "boss"),
                ("password", "another long password"),
                ("role", "county-admin"),
                ("area", &w.jinyuan.id.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = town
        .post_from(
            "/admin/users",
            "/admin/users",
            &[
                ("username", "x"),
                ("password", "short"),
                ("role", "viewer"),
                ("area", &w.jinyuan.id.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let new_user = app.login("xinmin").await;
    assert_eq!(new_user.get("/inbox").await.status, StatusCode::OK);
    let xinmin = staff_user::Entity::find()
        .filter(staff_user::Column::Username.eq("xinmin"))
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    let p = town
        .post_from(
            "/admin/users",
            &format!("/admin/users/{}/reset", xinmin.id),
            &[],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("class=\"secret\""));
    let p = town
        .post_from(
            "/admin/users",
            &format!("/admin/users/{}/active", xinmin.id),
            &[("active", "0")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = new_user.get("/inbox").await;
    assert_eq!(
        p.status,
        StatusCode::SEE_OTHER,
        "a deactivated user is logged out"
    );
    let p = town
        .post_from(
            "/admin/users",
            &format!("/admin/users/{}/active", w.county_admin.id),
            &[("active", "0")],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::NOT_FOUND,
        "the county admin is outside the town"
    );

    // The audit log: who, what, when, from where; filter by user.
    let p = admin
        .get(&format!("/admin/audit?user={}", w.town_admin.id))
        .await;
    assert_eq!(p.status, StatusCode::OK);
    // Actions and targets in the user's words, not as stored (`user.create`, `user:xinmin`).
    assert!(p.body.contains("新建用户") && p.body.contains("jinyuan"));
    assert!(p.body.contains("用户 xinmin"), "{}", p.body);
    assert!(!p.body.contains("user.create") && !p.body.contains("user:xinmin"));
    assert!(p.body.contains("127.0.0.1"));
    assert!(!p.body.contains("设置节假日"), "filtered to the town admin");
    let p = admin.get("/admin/audit?lang=en").await;
    assert!(p.body.contains("Holiday set") && p.body.contains("Area renamed"));
    assert!(p.body.contains("Category Fire hazard"), "{}", p.body);
    let p = admin
        .get("/admin/audit?from=2020-01-01&to=2020-01-02")
        .await;
    assert!(!p.body.contains("新建用户"));
    // Every line this test wrote is one the audit page knows how to say.
    for e in audit_entry::Entity::find().all(t.db.conn()).await.unwrap() {
        assert!(
            AuditAction::parse(&e.action).is_some() || report_action(&e.action).is_some(),
            "{}",
            e.action
        );
        if let Some(target) = e.target {
            assert!(target.parse::<AuditTarget>().is_ok(), "{target}");
        }
    }
    let p = admin.get("/admin/audit?from=yesterday").await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
});
