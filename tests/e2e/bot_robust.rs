//! Nothing lost, nothing twice, nothing harmful: restarts mid-draft, repeated updates, group
//! chats, oversize text and files, forged buttons, odd message kinds, Telegram failing at
//! start, and webhook mode's secret token.

use std::time::Duration;

use gridline_shared::bot_store;
use gridline_shared::domain::ReportKind;
use gridline_shared::entity::bot_kv;
use gridline_tests::db_test;
use gridline_tests::fake_telegram::{FakeUser, Fault};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;

use crate::bot_support::*;

// Stop the bot half-way through a report, start a new polling task on the same database: the
// draft is still there and the report is finished. Then the same after a crash (the task is
// killed, not stopped).
db_test!(
    restart_mid_draft_finishes_the_report,
    |t: gridline_tests::TestDb| async move {
        let mut h = Harness::start(t).await;
        let he = FakeUser::new(6001, "何刚华");
        h.bind(&he, HE).await;
        h.text(&he, "/incident").await;
        h.press_label(&he, "安全隐患").await;
        h.text(&he, "加油站旁违规堆放液化气罐").await;

        h.stop_bot().await;
        // While the bot is down the user goes on; the update waits at Telegram.
        h.fake.send_photo(&he, &jpeg("restart"), None);
        h.start_bot();
        h.settle().await;
        let r = h.fake.sent_to(he.id);
        assert!(last(&r).text.contains("位置"), "{:?}", texts(&r));

        h.kill_bot();
        h.fake.send_location(&he, 30.55, 103.45);
        h.start_bot();
        h.settle().await;
        h.press_label(&he, "✅ 提交").await;
        let all = reports(&h.t).await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].description, "加油站旁违规堆放液化气罐");
        assert_eq!(all[0].latitude, Some(30.55));
        assert_eq!(attachments(&h.t, all[0].id).await.len(), 1);
        h.stop().await;
    }
);

// Telegram delivering the same update again (the bot's offset was not confirmed before a
// crash) has no second effect: one report, one receipt. The same message under a new update
// id (e.g. webhook and polling overlapping) is recognised by chat + message id.
db_test!(
    repeated_update_makes_one_report,
    |t: gridline_tests::TestDb| async move {
        let mut h = Harness::start(t).await;
        let he = FakeUser::new(6101, "何刚华");
        h.bind(&he, HE).await;
        h.photo(&he, &jpeg("dup"), Some("消防栓漏水")).await;
        h.press_label(&he, "⚠️设施").await;
        h.text(&he, "/skip").await;
        let card = h.fake.sent_to(he.id).pop().unwrap();
        let submit = button(&card, "✅ 提交").unwrap();
        let before = h.fake.sent_to(he.id).len();
        let update = h.fake.press_button(&he, card.message_id, &submit);
        h.settle().await;
        assert_eq!(reports(&h.t).await.len(), 1);
        let sent_after_first = h.fake.sent_to(he.id).len();
        assert_eq!(sent_after_first, before + 1, "one receipt");

        // Crash before the offset was stored: the stored offset goes back, Telegram redelivers.
        h.stop_bot().await;
        let id = update["update_id"].as_i64().unwrap();
        let mut row: bot_kv::ActiveModel = bot_kv::Entity::find_by_id("polling_offset".to_owned())
            .one(h.t.db.conn())
            .await
            .unwrap()
            .unwrap()
            .into();
        row.value = Set(id.to_string());
        row.update(h.t.db.conn()).await.unwrap();
        assert!(bot_store::is_processed(h.t.db.conn(), id).await.unwrap());
        h.fake.redeliver(update.clone());
        h.start_bot();
        h.settle().await;
        assert_eq!(reports(&h.t).await.len(), 1, "one report");
        assert_eq!(
            h.fake.sent_to(he.id).len(),
            sent_after_first,
            "no second receipt"
        );

        // The same user message under a new update id.
        let msg = h.fake.send_text(&he, "/my");
        h.settle().await;
        let n = h.fake.sent_to(he.id).len();
        h.fake
            .push_update(json!({"message": msg["message"].clone()}));
        h.settle().await;
        assert_eq!(
            h.fake.sent_to(he.id).len(),
            n,
            "same chat + message id: ignored"
        );
        h.stop().await;
    }
);

// Group chats get only "please message me privately"; nothing else happens there.
db_test!(
    group_chat_is_sent_to_private,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let he = FakeUser::new(6201, "何刚华");
        h.bind(&he, HE).await;
        let group = json!({"id": -100_500, "type": "supergroup", "title": "长乐社区网格群"});
        let r = h.raw(-100_500, raw_message(&he, group.clone(), 10_200_001, json!({"text": "/incident", "entities": [{"type": "bot_command", "offset": 0, "length": 9}]}))).await;
        assert_eq!(r.len(), 1);
        assert!(r[0].text.contains("私聊"), "{}", r[0].text);
        let r = h
            .raw(
                -100_500,
                raw_message(&he, group, 10_200_002, json!({"text": "大家好"})),
            )
            .await;
        assert!(r.is_empty(), "ordinary group chatter is ignored");
        assert!(reports(&h.t).await.is_empty());
        // The private chat's state was not touched.
        let r = h.text(&he, "/cancel").await;
        assert!(last(&r).text.contains("没有正在填写"));
        h.stop().await;
    }
);

// Text over the limits is refused cleanly and the step stays; the longest accepted text goes
// through; a file over the size limit is refused with the limit named; stickers get a polite
// answer; voice notes and documents are kept as attachments.
db_test!(
    oversize_and_odd_input,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let he = FakeUser::new(6301, "何刚华");
        h.bind(&he, HE).await;
        h.text(&he, "/incident").await;
        h.press_label(&he, "其他").await;
        let r = h.text(&he, &"长".repeat(5000)).await;
        assert!(
            r.iter()
                .any(|m| m.text.contains("太长") && m.text.contains("5000")),
            "{:?}",
            texts(&r)
        );
        assert!(
            last(&r).text.contains("描述"),
            "the question is asked again"
        );
        let longest = "字".repeat(4000);
        let r = h.text(&he, &longest).await;
        assert!(last(&r).text.contains("照片"), "{:?}", texts(&r));

        // A photo over the limit (1 MB in these tests).
        let big = json!({"photo": [{"file_id": "huge", "file_unique_id": "uhuge", "width": 4000, "height": 3000, "file_size": 5 * 1024 * 1024}]});
        let r = h
            .raw(he.id, raw_message(&he, private_chat(&he), 10_300_001, big))
            .await;
        assert!(
            r.iter()
                .any(|m| m.text.contains("太大") && m.text.contains("1 MB")),
            "{:?}",
            texts(&r)
        );

        // A sticker: a short polite answer; the draft stays.
        let sticker = json!({"sticker": {"file_id": "st", "file_unique_id": "ust", "type": "regular", "width": 512, "height": 512, "is_animated": false, "is_video": false}});
        let r = h
            .raw(
                he.id,
                raw_message(&he, private_chat(&he), 10_300_002, sticker),
            )
            .await;
        assert!(
            r.iter().any(|m| m.text.contains("暂不支持")),
            "{:?}",
            texts(&r)
        );

        // A voice note and a document are attachments.
        h.fake.store_file("voice-1", b"OggS voice");
        h.fake.store_file("doc-1", b"%PDF-1.4 doc");
        let voice = json!({"voice": {"file_id": "voice-1", "file_unique_id": "uvoice-1", "duration": 3, "mime_type": "audio/ogg", "file_size": 10}});
        h.raw(
            he.id,
            raw_message(&he, private_chat(&he), 10_300_003, voice),
        )
        .await;
        let doc = json!({"document": {"file_id": "doc-1", "file_unique_id": "udoc-1", "file_name": "现场说明.pdf", "mime_type": "application/pdf", "file_size": 12}});
        h.raw(he.id, raw_message(&he, private_chat(&he), 10_300_004, doc))
            .await;
        h.text(&he, "/skip").await;
        let r = h.text(&he, "/skip").await;
        let card = last(&r);
        assert!(
            card.text.contains("请核对") && card.text.contains('…'),
            "long text previewed: {}",
            card.text
        );
        assert!(card.text.chars().count() < 4096);
        h.press_label(&he, "✅ 提交").await;
        let rep = reports(&h.t).await.pop().unwrap();
        assert_eq!(rep.description, longest);
        let files = attachments(&h.t, rep.id).await;
        let kinds: Vec<_> = files.iter().map(|f| f.kind.as_str()).collect();
        assert_eq!(kinds, ["voice", "document"]);
        assert_eq!(files[1].file_name.as_deref(), Some("现场说明.pdf"));
        assert_eq!(files[0].data.as_deref(), Some(&b"OggS voice"[..]));
        // Edited messages are ignored on purpose.
        let edited = json!({"edited_message": {"message_id": 10_300_004, "date": 0, "edit_date": 1, "chat": private_chat(&he),
        "from": {"id": he.id, "is_bot": false, "first_name": "何刚华"}, "text": "改过的"}});
        let r = h.raw(he.id, edited).await;
        assert!(r.is_empty());
        h.stop().await;
    }
);

// Buttons that do not belong to the current state — forged data, another draft's, garbage —
// are answered and change nothing.
db_test!(
    forged_callbacks_do_nothing,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let he = FakeUser::new(6401, "何刚华");
        h.bind(&he, HE).await;
        let menu = h.fake.sent_to(he.id).pop().unwrap();
        for data in [
            "d:1:submit",
            "d:abc:cat:1",
            "task:start:99999",
            "task:done:1",
            "ack:424242",
            "spawn:incident:1",
            "'; DROP TABLE reports;--",
            "",
        ] {
            let r = h.press_exact(&he, menu.message_id, data).await;
            assert!(r.is_empty(), "{data:?}: {:?}", texts(&r));
        }
        // Mid-draft: a submit for a different draft id, a category that is not top level, a
        // subcategory of another category.
        h.text(&he, "/incident").await;
        let cat_msg = h.fake.sent_to(he.id).pop().unwrap();
        let draft_id = button(&cat_msg, "治安")
            .unwrap()
            .split(':')
            .nth(1)
            .unwrap()
            .to_owned();
        for data in [
            format!("d:{}:submit", draft_id.parse::<i64>().unwrap() + 1),
            format!("d:{draft_id}:submit"),
            format!("d:{draft_id}:cat:999999"),
            format!("d:{draft_id}:urg:urgent"),
            format!("d:{draft_id}:kind:visit"),
        ] {
            let r = h.press_exact(&he, cat_msg.message_id, &data).await;
            assert!(r.is_empty(), "{data}: {:?}", texts(&r));
        }
        assert!(reports(&h.t).await.is_empty());
        // The draft still works.
        h.press_label(&he, "治安").await;
        h.text(&he, "有人撬门").await;
        h.text(&he, "/skip").await;
        h.text(&he, "/skip").await;
        h.press_label(&he, "✅ 提交").await;
        assert_eq!(reports(&h.t).await.len(), 1);
        assert_eq!(reports(&h.t).await[0].kind, ReportKind::Incident);
        h.stop().await;
    }
);

// getMe failing at start (Telegram down): the bot retries with backoff and then works; a
// 5xx from getUpdates is retried too. (teloxide itself sleeps 10 s after every 5xx answer,
// hence the generous wait.)
db_test!(
    telegram_down_at_start_is_retried,
    |t: gridline_tests::TestDb| async move {
        let mut h = Harness::start(t).await;
        h.stop_bot().await;
        h.fake.fail_next("getMe", [Fault::ServerError]);
        h.fake.fail_next("getUpdates", [Fault::ServerError]);
        h.start_bot();
        let he = FakeUser::new(6501, "何刚华");
        let m = member_by_phone(&h.t, HE).await;
        h.fake.send_text(&he, &format!("/start {}", m.bind_code));
        let bound = h
            .fake
            .wait_for(he.id, Duration::from_secs(90), |m| {
                m.text.contains("绑定成功")
            })
            .await;
        assert!(
            bound.is_some(),
            "getMe {} deleteWebhook {} getUpdates {} sent {:?}",
            h.fake.calls("getMe"),
            h.fake.calls("deleteWebhook"),
            h.fake.calls("getUpdates"),
            h.fake.all_sent()
        );
        assert!(h.fake.calls("getMe") >= 2);
        h.stop().await;
    }
);

// Webhook mode: updates POSTed with the right secret token are handled; a wrong or missing
// token gets 401 and nothing is processed.
db_test!(
    webhook_checks_the_secret_token,
    |t: gridline_tests::TestDb| async move {
        let mut h = Harness::start(t).await;
        h.stop_bot().await;
        let rt = h.runtime();
        let app =
            gridline_bot::webhook::router(rt, "s3cret-token", gridline_bot::webhook::DEFAULT_PATH);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = format!("http://{addr}{}", gridline_bot::webhook::DEFAULT_PATH);
        let he = FakeUser::new(6601, "何刚华");
        let m = member_by_phone(&h.t, HE).await;
        let update = raw_message(
            &he,
            private_chat(&he),
            10_600_001,
            json!({"text": format!("/start {}", m.bind_code), "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}),
        );
        let mut update = update;
        update["update_id"] = json!(777_001);
        let client = reqwest::Client::new();
        for secret in [None, Some("wrong"), Some("s3cret-token-but-longer")] {
            let mut req = client.post(&url).json(&update);
            if let Some(s) = secret {
                req = req.header("X-Telegram-Bot-Api-Secret-Token", s);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 401, "{secret:?}");
        }
        assert!(
            !bot_store::is_processed(h.t.db.conn(), 777_001)
                .await
                .unwrap()
        );
        assert_eq!(member_by_phone(&h.t, HE).await.telegram_user_id, None);
        let resp = client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(member_by_phone(&h.t, HE).await.telegram_user_id, Some(6601));
        assert!(
            h.fake
                .sent_to(he.id)
                .iter()
                .any(|m| m.text.contains("绑定成功"))
        );
        // Telegram retrying the same update: handled once.
        let resp = client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
            .json(&update)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(h.fake.sent_to(he.id).len(), 1);
        h.stop().await;
    }
);

// A user blocking the bot (my_chat_member → kicked) marks the member blocked; writing again
// makes them reachable again.
db_test!(
    blocking_the_bot_marks_the_member,
    |t: gridline_tests::TestDb| async move {
        use gridline_shared::domain::MemberStatus;
        let h = Harness::start(t).await;
        let he = FakeUser::new(6701, "何刚华");
        h.bind(&he, HE).await;
        let bot_user = json!({"id": 7303, "is_bot": true, "first_name": "Gridline", "username": "gridline_test_bot"});
        let kicked = json!({"my_chat_member": {
            "chat": private_chat(&he),
            "from": {"id": he.id, "is_bot": false, "first_name": "何刚华"},
            "date": 0,
            "old_chat_member": {"user": bot_user, "status": "member"},
            "new_chat_member": {"user": bot_user, "status": "kicked", "until_date": 0},
        }});
        let r = h.raw(he.id, kicked).await;
        assert!(r.is_empty());
        assert_eq!(
            member_by_phone(&h.t, HE).await.status,
            MemberStatus::Blocked
        );
        h.text(&he, "/my").await;
        assert_eq!(member_by_phone(&h.t, HE).await.status, MemberStatus::Active);
        h.stop().await;
    }
);
