//! The chat simulator over HTTP (SQLite and PostgreSQL): a new member binds with their code,
//! files an incident with a photo, the report is simulated and in the inbox with its badge,
//! staff take it to closed and the member sees the updates in the simulator; the delivery
//! worker never takes simulated rows; scope, the off switch, CSRF and bad uploads.

use gridline_shared::conversation::Button;
use gridline_shared::delivery::{Outgoing, SendOutcome, Step, Transport, Worker};
use gridline_shared::domain::ReportState;
use gridline_shared::entity::{attachment, outbox, report, report_event};
use gridline_shared::simulator;
use gridline_tests::TestDb;
use gridline_tests::db_test;
use gridline_tests::panel::{
    Client, Page, PanelWorld, member_by_phone, panel_world, reload, spawn_app_with,
};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::bad_input_panel::multipart;

/// 马东, 长乐社区: the member of the test county who never bound.
const UNBOUND_PHONE: &str = "19900001234";

/// A small valid-looking JPEG (the simulator checks the signature, not the pixels).
fn jpeg(len: usize) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    b.resize(len.max(b.len()), 0x42);
    b
}

/// Posts a multipart form (file field `file`, text fields as given).
async fn post_multipart(
    c: &Client,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &[u8])>,
    fetch: bool,
) -> Page {
    multipart(c, path, fields, file, fetch).await.unwrap()
}

/// Posts a simulator form the way the page's script does (fragment back).
async fn sim_post(c: &Client, csrf: &str, path: &str, form: &[(&str, &str)]) -> Page {
    let mut full: Vec<(&str, &str)> = vec![("csrf_token", csrf)];
    full.extend_from_slice(form);
    let r = c
        .http
        .post(format!("{}{path}", c.base))
        .header("x-sim-fetch", "1")
        .form(&full)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    Page {
        status,
        headers,
        body: r.text().await.unwrap_or_default(),
    }
}

/// Presses the button `data` on the bot message `message_id`, as the page's script does.
async fn sim_press(c: &Client, csrf: &str, send: &str, message_id: i64, data: &str) -> Page {
    let mid = message_id.to_string();
    sim_post(
        c,
        csrf,
        send,
        &[("action", "press"), ("message_id", &mid), ("data", data)],
    )
    .await
}

/// The report the member filed (the simulator tests file one per member).
pub(crate) async fn filed_by(t: &TestDb, member_id: i64) -> Option<report::Model> {
    report::Entity::find()
        .filter(report::Column::ReporterMemberId.eq(member_id))
        .one(t.db.conn())
        .await
        .unwrap()
}

/// The newest bot message with a button whose data contains `needle`: (message id, button).
async fn find_button(t: &TestDb, w: &PanelWorld, member_id: i64, needle: &str) -> (i64, Button) {
    let scope = gridline_shared::Scope::of_area(&w.root);
    let tr = simulator::transcript(t.db.conn(), &scope, member_id)
        .await
        .unwrap();
    tr.messages
        .iter()
        .rev()
        .filter(|m| m.from_bot)
        .find_map(|m| {
            m.buttons
                .iter()
                .flatten()
                .find(|b| b.data.contains(needle))
                .map(|b| (m.id, b.clone()))
        })
        .unwrap_or_else(|| panic!("no button {needle:?} in {:#?}", tr.messages))
}

/// A transport that must never be called: simulated rows are not the worker's.
struct MustNotSend;

impl Transport for MustNotSend {
    async fn send(&self, chat_id: i64, _m: &Outgoing) -> SendOutcome {
        panic!("the delivery worker sent to chat {chat_id}");
    }
}

db_test!(
    simulator_binds_files_a_photo_incident_and_follows_it,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let app = spawn_app_with(&t, |s| s.simulator = Some(true)).await;
        let c = app.login("changle").await;
        let madong = member_by_phone(&t.db, UNBOUND_PHONE).await;

        // The picker lists the member (with the phone: in scope), the nav has the entry.
        let pick = c.get("/simulator?q=马东").await;
        assert_eq!(pick.status, StatusCode::OK, "{}", pick.body);
        assert!(pick.body.contains("马东") && pick.body.contains(UNBOUND_PHONE));
        assert!(pick.body.contains("href=\"/simulator\""), "nav entry");
        // "A new unbound member" is the first unbound member in scope.
        let new = c.get("/simulator/new").await;
        assert_eq!(new.status, StatusCode::SEE_OTHER);
        let chat_path = format!("/simulator/{}", madong.id);
        assert_eq!(new.location().as_deref(), Some(chat_path.as_str()));
        let page = c.get(&chat_path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains(&madong.bind_code),
            "the bind code is shown"
        );
        let csrf = page.csrf();
        let send = format!("{chat_path}/send");
        let mut interactions = 0;

        // 1. Bind with the code, as the deep link does.
        let start = format!("/start {}", madong.bind_code);
        let r = sim_post(&c, &csrf, &send, &[("action", "text"), ("text", &start)]).await;
        interactions += 1;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("绑定成功"), "{}", r.body);
        let bound = member_by_phone(&t.db, UNBOUND_PHONE).await;
        let chat = simulator::chat_of_member(madong.id);
        assert_eq!(bound.telegram_user_id, Some(chat));
        assert_eq!(bound.telegram_chat_id, Some(chat));

        // 2. A photo with a caption (quick mode: the bot asks what it is).
        let photo = jpeg(2048);
        let r = post_multipart(
            &c,
            &format!("{chat_path}/photo"),
            &[("csrf_token", &csrf), ("caption", "长乐路 12 号路灯坏了")],
            Some(("lamp.jpg", "image/jpeg", &photo)),
            true,
        )
        .await;
        interactions += 1;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("class=\"sim-photo\""), "the photo is shown");

        // 3. It is an incident of the first category.
        let (mid, kc) = find_button(&t, &w, madong.id, ":kc:").await;
        let r = sim_press(&c, &csrf, &send, mid, &kc.data).await;
        interactions += 1;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // A button of another message (or made up) is refused, nothing is done.
        let r = sim_press(&c, &csrf, &send, 999_999, &kc.data).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("按钮已失效"), "{}", r.body);

        // 4. The location, 5. submit (more steps only if the bot asks).
        let r = sim_post(
            &c,
            &csrf,
            &send,
            &[
                ("action", "location"),
                ("lat", "30.5872"),
                ("lon", "103.521"),
            ],
        )
        .await;
        interactions += 1;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for _ in 0..4 {
            if filed_by(&t, madong.id).await.is_some() {
                break;
            }
            let (mid, submit) = find_button(&t, &w, madong.id, ":submit").await;
            let r = sim_press(&c, &csrf, &send, mid, &submit.data).await;
            interactions += 1;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let filed = filed_by(&t, madong.id)
            .await
            .expect("the incident was filed");
        println!(
            "simulator (HTTP): a new member bound and filed an incident in {interactions} interactions"
        );
        assert!(interactions <= 6, "{interactions} interactions");
        assert!(filed.simulated, "a simulated chat files simulated reports");
        assert_eq!(filed.description, "长乐路 12 号路灯坏了");
        assert!(filed.latitude.is_some());
        // The photo's bytes are on the report (no Telegram file to fetch).
        let files = attachment::Entity::find()
            .filter(attachment::Column::ReportId.eq(filed.id))
            .all(t.db.conn())
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].data.as_deref(), Some(photo.as_slice()));
        assert_eq!(files[0].telegram_file_id, None);
        assert_eq!(files[0].mime.as_deref(), Some("image/jpeg"));

        // In the inbox with the badge, and on the report page.
        let inbox = c.get("/inbox").await;
        assert!(inbox.body.contains(&format!("data-id=\"{}\"", filed.id)));
        assert!(
            inbox.body.contains("class=\"tag sim\""),
            "badge in the inbox"
        );
        let rp = c.get(&format!("/reports/{}", filed.id)).await;
        assert!(
            rp.body.contains("id=\"report-simulated\""),
            "badge on the report"
        );
        // The CSV export marks it in its own column.
        let csv = c.get("/export.csv").await;
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
        let line = csv
            .body
            .lines()
            .find(|l| {
                l.trim_start_matches('\u{FEFF}')
                    .starts_with(&format!("{},", filed.id))
            })
            .unwrap_or_else(|| panic!("no line for #{}: {}", filed.id, csv.body));
        assert!(line.trim_end().ends_with(",模拟"), "{line}");

        // Staff accept, resolve and close it.
        let rpath = format!("/reports/{}", filed.id);
        let me = format!("s:{}", w.secretary.id);
        for action in ["accept", "assign", "resolve", "close"] {
            let r = c
                .post_from(
                    &rpath,
                    &format!("{rpath}/{action}"),
                    &[("note", ""), ("assignee", &me)],
                )
                .await;
            assert!(
                r.status.is_redirection() || r.status == StatusCode::OK,
                "{action}: {} {}",
                r.status,
                r.body
            );
        }
        let closed = reload(&t.db, filed.id).await;
        assert_eq!(closed.state, ReportState::Closed);
        let events = report_event::Entity::find()
            .filter(report_event::Column::ReportId.eq(filed.id))
            .all(t.db.conn())
            .await
            .unwrap();
        assert!(events.len() >= 4 && events.iter().all(|e| e.simulated));

        // The updates are queued for the simulated chat, marked simulated, never claimed by the
        // delivery worker.
        let queued = outbox::Entity::find()
            .filter(outbox::Column::ChatId.eq(chat))
            .all(t.db.conn())
            .await
            .unwrap();
        assert!(queued.len() >= 2, "{queued:?}");
        assert!(
            queued
                .iter()
                .all(|o| o.simulated && o.status.code() == "pending")
        );
        let worker = Worker::new(t.db.clone(), MustNotSend, "sim-test");
        assert!(matches!(
            worker.try_execute_task().await.unwrap(),
            Step::Idle
        ));

        // The member sees them in the simulator; the rows are then sent (by the simulator).
        let log = c.get(&format!("{chat_path}/log")).await;
        assert_eq!(log.status, StatusCode::OK);
        let id = filed.id;
        for expected in [format!("#{id} 已受理"), format!("#{id} 已办结")] {
            assert!(log.body.contains(&expected), "{expected}: {}", log.body);
        }
        let after = outbox::Entity::find()
            .filter(outbox::Column::ChatId.eq(chat))
            .all(t.db.conn())
            .await
            .unwrap();
        assert!(
            after
                .iter()
                .all(|o| o.status.code() == "sent" && o.sent_at.is_some())
        );
        // Shown once, however often the page polls.
        let again = c.get(&format!("{chat_path}/log")).await;
        assert_eq!(
            again.body.matches(&format!("#{id} 已办结")).count(),
            1,
            "{}",
            again.body
        );
        // The photo the member sent is served to staff in scope.
        let tr = simulator::transcript(
            t.db.conn(),
            &gridline_shared::Scope::of_area(&w.root),
            madong.id,
        )
        .await
        .unwrap();
        let sent_photo = tr.messages.iter().find(|m| m.has_photo).unwrap();
        let img = c
            .http
            .get(app.url(&format!("{chat_path}/photos/{}", sent_photo.id)))
            .send()
            .await
            .unwrap();
        assert_eq!(img.status(), StatusCode::OK);
        assert_eq!(img.bytes().await.unwrap().as_ref(), photo.as_slice());
    }
);

db_test!(
    simulator_scope_switch_csrf_and_uploads,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let madong = member_by_phone(&t.db, UNBOUND_PHONE).await;
        let small = 64 * 1024;
        let app = spawn_app_with(&t, |s| {
            s.max_file_bytes = small;
            s.simulator = Some(true);
        })
        .await;

        // Out of scope: 安仁's secretary cannot see 长乐's member (404 on every route).
        let anren = app.login("anren").await;
        let path = format!("/simulator/{}", madong.id);
        assert_eq!(anren.get(&path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            anren.get(&format!("{path}/log")).await.status,
            StatusCode::NOT_FOUND
        );
        let r = anren
            .post(
                &format!("{path}/send"),
                &[("action", "text"), ("text", "/start")],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let pick = anren.get("/simulator?q=马东").await;
        assert!(!pick.body.contains(UNBOUND_PHONE), "no phone out of scope");
        // A member bound to a real Telegram account is never played.
        let c = app.login("changle").await;
        let real = c
            .post_from(
                &path,
                &format!("/simulator/{}/send", w.reporter.id),
                &[("action", "text"), ("text", "hi")],
            )
            .await;
        assert_eq!(real.status, StatusCode::SEE_OTHER);
        assert!(
            real.location()
                .unwrap_or_default()
                .contains("err=real_account")
        );
        // A viewer may not use it (it files reports).
        let viewer = app.login("viewer").await;
        assert_eq!(viewer.get(&path).await.status, StatusCode::FORBIDDEN);

        // CSRF: a POST without the token is refused before anything is done.
        let r = c
            .post_raw(
                &format!("{path}/send"),
                &[("action", "text"), ("text", "/start x")],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = post_multipart(
            &c,
            &format!("{path}/photo"),
            &[],
            Some(("a.jpg", "image/jpeg", &jpeg(100))),
            true,
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let scope = gridline_shared::Scope::of_area(&w.root);
        let tr = simulator::transcript(t.db.conn(), &scope, madong.id)
            .await
            .unwrap();
        assert!(tr.messages.is_empty(), "nothing was recorded");

        // Bind first (photos are refused the same way before, but this is the usual order).
        let csrf = c.get(&path).await.csrf();
        let start = format!("/start {}", madong.bind_code);
        let r = sim_post(
            &c,
            &csrf,
            &format!("{path}/send"),
            &[("action", "text"), ("text", &start)],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);

        // Not an image: a clear message, nothing reaches the bot.
        let r = post_multipart(
            &c,
            &format!("{path}/photo"),
            &[("csrf_token", &csrf)],
            Some(("doc.pdf", "application/pdf", b"%PDF-1.7 not a photo")),
            true,
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("只能发送照片"), "{}", r.body);
        // Without the script: back to the chat, which says why.
        let r = post_multipart(
            &c,
            &format!("{path}/photo"),
            &[("csrf_token", &csrf)],
            Some(("doc.pdf", "application/pdf", b"%PDF-1.7 not a photo")),
            false,
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let shown = c.get(&r.location().unwrap()).await;
        assert!(shown.body.contains("只能发送照片"));
        // Empty text.
        let r = sim_post(
            &c,
            &csrf,
            &format!("{path}/send"),
            &[("action", "text"), ("text", "  ")],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("没有内容"), "{}", r.body);

        // Over the size limit: the bot refuses it as it refuses a large Telegram photo; the bytes
        // are not kept.
        let r = post_multipart(
            &c,
            &format!("{path}/photo"),
            &[("csrf_token", &csrf)],
            Some(("big.jpg", "image/jpeg", &jpeg(small as usize + 1))),
            true,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("文件太大"), "{}", r.body);
        let tr = simulator::transcript(t.db.conn(), &scope, madong.id)
            .await
            .unwrap();
        let big = tr
            .messages
            .iter()
            .rev()
            .find(|m| m.kind == "photo")
            .unwrap();
        assert!(!big.has_photo, "the oversize photo's bytes are not kept");
        let state = gridline_shared::bot_store::load_state(
            t.db.conn(),
            simulator::chat_of_member(madong.id),
        )
        .await
        .unwrap();
        assert_eq!(
            state,
            gridline_shared::conversation::State::Idle,
            "no draft from a refused file"
        );

        // Turned off (and by default, as in production): every route is 404 and the nav has
        // no entry.
        let off = spawn_app_with(&t, |s| s.simulator = Some(false)).await;
        let c = off.login("changle").await;
        for p in [
            "/simulator",
            "/simulator/new",
            path.as_str(),
            &format!("{path}/log"),
        ] {
            assert_eq!(c.get(p).await.status, StatusCode::NOT_FOUND, "{p}");
        }
        let r = c
            .post(
                &format!("{path}/send"),
                &[("action", "text"), ("text", "hi")],
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(!c.get("/inbox").await.body.contains("href=\"/simulator\""));
        // Not set at all (a production server's settings): off too.
        let unset = spawn_app_with(&t, |s| s.simulator = None).await;
        let c = unset.login("changle").await;
        assert_eq!(c.get("/simulator").await.status, StatusCode::NOT_FOUND);
        assert!(!c.get("/inbox").await.body.contains("href=\"/simulator\""));
    }
);

db_test!(
    a_simulator_binding_gives_way_to_the_real_telegram_account,
    |t: TestDb| async move {
        use gridline_shared::conversation::Input;
        use gridline_shared::conversation::runner::{self, Incoming, Reply, RunnerSettings};
        let w = panel_world(&t).await;
        let madong = member_by_phone(&t.db, UNBOUND_PHONE).await;
        let scope = gridline_shared::Scope::of_area(&w.root);
        let settings = RunnerSettings::default();
        // A trainer binds 马东 in the simulator with his code.
        let trainer = gridline_shared::lifecycle::StaffActor {
            scope,
            ..gridline_shared::lifecycle::StaffActor::of(&w.secretary)
        };
        simulator::send(
            &t.db,
            &trainer,
            madong.id,
            simulator::SimInput::Text(format!("/start {}", madong.bind_code)),
            &settings,
            "zh-CN",
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let bound = member_by_phone(&t.db, UNBOUND_PHONE).await;
        let sim_chat = bound.telegram_chat_id.expect("bound in the simulator");
        assert!(simulator::is_simulated_chat(sim_chat));

        // Later the real 马东 binds from Telegram with the same code: the real account wins.
        let real_chat = 424_242_i64;
        // `/start CODE` from a real Telegram private chat.
        let start_from = |update_id: i64, chat_id: i64| Incoming {
            update_id,
            chat_id,
            private: true,
            user_id: Some(chat_id),
            message_id: Some(1),
            reply_to: None,
            reply_to_report: None,
            language_code: Some("zh-CN".into()),
            input: Input::Command {
                name: "start".into(),
                arg: madong.bind_code.clone(),
            },
        };
        let outcome = runner::handle(
            &t.db,
            start_from(1, real_chat),
            &settings,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let after = member_by_phone(&t.db, UNBOUND_PHONE).await;
        assert_eq!(
            after.telegram_chat_id,
            Some(real_chat),
            "{:?}",
            outcome.replies
        );
        assert_eq!(after.telegram_user_id, Some(real_chat));
        assert!(
            outcome
                .replies
                .iter()
                .any(|r| matches!(r, Reply::Send { text, .. } if text.contains("马东"))),
            "welcomed by name: {:?}",
            outcome.replies
        );

        // A second real account with the same code is still refused.
        let other = runner::handle(&t.db, start_from(2, 515_151), &settings, chrono::Utc::now())
            .await
            .unwrap();
        let still = member_by_phone(&t.db, UNBOUND_PHONE).await;
        assert_eq!(
            still.telegram_chat_id,
            Some(real_chat),
            "{:?}",
            other.replies
        );
    }
);
