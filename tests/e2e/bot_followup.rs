//! After filing: follow-ups by replying to the bot's messages, tasks from their cards, /my,
//! /lang, notices' 收到 button.

use std::time::Duration;

use chrono::Utc;
use gridline_shared::domain::{Lang, ReportState};
use gridline_shared::entity::{attachment, outbox, report_event};
use gridline_shared::lifecycle::{Action, Actor, Assignee, transition};
use gridline_tests::db_test;
use gridline_tests::fake_telegram::FakeUser;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::bot_support::*;

async fn file_incident(h: &Harness, u: &FakeUser, text: &str) -> i64 {
    h.photo(u, &jpeg(text), Some(text)).await;
    h.press_label(u, "⚠️治安").await;
    h.text(u, "/skip").await;
    h.press_label(u, "✅ 提交").await;
    reports(&h.t).await.pop().unwrap().id
}

/// The bot and the delivery worker running; 何刚华 (chat `he`) filed an incident `text` that a
/// secretary assigned to 马东 (chat `ma`). Returns the harness, both users and the report id.
async fn assigned_incident(
    t: gridline_tests::TestDb,
    he: i64,
    ma: i64,
    text: &str,
) -> (Harness, FakeUser, FakeUser, i64) {
    let mut h = Harness::start(t).await;
    h.start_worker();
    let he = FakeUser::new(he, "何刚华");
    let ma = FakeUser::new(ma, "马东");
    h.bind(&he, HE).await;
    let assignee = h.bind(&ma, MA).await;
    let id = file_incident(&h, &he, text).await;
    let sec = h.secretary().await;
    transition(
        &h.t.db,
        &Actor::Staff(sec),
        id,
        Action::Assign(Assignee::Member(assignee.id)),
        Utc::now(),
    )
    .await
    .unwrap();
    (h, he, ma, id)
}

async fn event_files(h: &Harness, event_id: i64) -> Vec<attachment::Model> {
    attachment::Entity::find()
        .filter(attachment::Column::EventId.eq(event_id))
        .all(h.t.db.conn())
        .await
        .unwrap()
}

async fn events(h: &Harness, report_id: i64) -> Vec<report_event::Model> {
    report_event::Entity::find()
        .filter(report_event::Column::ReportId.eq(report_id))
        .order_by_asc(report_event::Column::Id)
        .all(h.t.db.conn())
        .await
        .unwrap()
}

// The reporter is told about changes (through the outbox and the delivery worker); replying
// to that message, or to the receipt, adds text and photos to the report's timeline.
db_test!(
    follow_up_reply_lands_on_the_timeline,
    |t: gridline_tests::TestDb| async move {
        let mut h = Harness::start(t).await;
        h.start_worker();
        let he = FakeUser::new(5001, "何刚华");
        let member = h.bind(&he, HE).await;
        let id = file_incident(&h, &he, "有人在河边烧垃圾").await;
        let receipt = h.fake.sent_to(he.id).pop().unwrap();
        assert!(receipt.text.contains(&format!("#{id}")));

        let sec = h.secretary().await;
        transition(&h.t.db, &Actor::Staff(sec), id, Action::Accept, Utc::now())
            .await
            .unwrap();
        let update = h
            .fake
            .wait_for(he.id, Duration::from_secs(20), |m| {
                m.text.contains("已受理")
            })
            .await
            .expect("the reporter is told");
        // The worker records Telegram's message id just after the send.
        for _ in 0..200 {
            let recorded = outbox::Entity::find()
                .filter(outbox::Column::TelegramMessageId.eq(update.message_id))
                .filter(outbox::Column::ChatId.eq(he.id))
                .one(h.t.db.conn())
                .await
                .unwrap();
            if recorded.is_some_and(|r| r.report_id == Some(id)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let r = h
            .reply(&he, update.message_id, "补充：火已扑灭，现场有人看守")
            .await;
        assert!(
            last(&r).text.contains(&format!("已补充到 #{id}")),
            "{:?}",
            texts(&r)
        );
        // A photo in reply to the receipt (a message the bot sent directly).
        h.fake.store_file("reply-photo-1", &jpeg("reply"));
        let msg = raw_message(
            &he,
            private_chat(&he),
            10_100_001,
            json!({
                "photo": [{"file_id": "reply-photo-1", "file_unique_id": "ureply-photo-1", "width": 800, "height": 600, "file_size": jpeg("reply").len()}],
                "reply_to_message": {"message_id": receipt.message_id, "date": 0, "chat": private_chat(&he),
                                     "from": {"id": 7303, "is_bot": true, "first_name": "Gridline"}, "text": receipt.text},
            }),
        );
        let r = h.raw(he.id, msg).await;
        assert!(last(&r).text.contains(&format!("#{id}")), "{:?}", texts(&r));

        let evs = events(&h, id).await;
        let adds: Vec<_> = evs
            .iter()
            .filter(|e| e.action.code() == "add_info")
            .collect();
        assert_eq!(adds.len(), 2, "{evs:#?}");
        assert_eq!(
            adds[0].note.as_deref(),
            Some("补充：火已扑灭，现场有人看守")
        );
        assert_eq!(adds[0].actor_member_id, Some(member.id));
        assert!(adds[0].public);
        let files = event_files(&h, adds[1].id).await;
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].data.as_deref(), Some(jpeg("reply").as_slice()));
        // No second report was opened by the replies.
        assert_eq!(reports(&h.t).await.len(), 1);

        // /my lists it with its state; /lang switches to English (stored on the member).
        let r = h.text(&he, "我的").await;
        assert!(
            last(&r).text.contains(&format!("#{id}")) && last(&r).text.contains("已受理"),
            "{:?}",
            texts(&r)
        );
        let r = h.text(&he, "/lang").await;
        assert!(last(&r).text.contains("English"), "{:?}", texts(&r));
        assert!(last(&r).button_labels().contains(&"Incident".to_owned()));
        assert_eq!(member_by_phone(&h.t, HE).await.language, Lang::En);
        let r = h.text(&he, "My reports").await;
        assert!(
            last(&r).text.contains("Accepted") || last(&r).text.contains("accepted"),
            "{:?}",
            texts(&r)
        );
        h.text(&he, "/lang").await;
        assert_eq!(member_by_phone(&h.t, HE).await.language, Lang::Zh);
        h.stop().await;
    }
);

// A report assigned to a grid leader arrives as a task card (via the delivery worker); 接单
// starts it, 完成 asks for a note and an optional photo, then resolves it.
db_test!(
    task_accepted_and_done_from_the_card,
    |t: gridline_tests::TestDb| async move {
        let (h, he, ma, id) = assigned_incident(t, 5101, 5102, "井盖被盗").await;
        let card = h
            .fake
            .wait_for(ma.id, Duration::from_secs(20), |m| {
                m.button_data().contains(&format!("task:start:{id}"))
            })
            .await
            .expect("task card");

        // Someone else pressing a forged task button: refused, nothing changes.
        let r = h
            .press_exact(&he, card.message_id, &format!("task:start:{id}"))
            .await;
        assert!(r.is_empty());
        assert_eq!(reports(&h.t).await[0].state, ReportState::Assigned);

        // 接单.
        let r = h
            .press_exact(&ma, card.message_id, &format!("task:start:{id}"))
            .await;
        assert!(
            last(&r).text.contains(&format!("已接单 #{id}")),
            "{:?}",
            texts(&r)
        );
        assert_eq!(reports(&h.t).await[0].state, ReportState::InProgress);
        let card_now = h
            .fake
            .sent_to(ma.id)
            .into_iter()
            .find(|m| m.message_id == card.message_id)
            .unwrap();
        assert_eq!(card_now.button_data(), [format!("task:done:{id}")]);
        // Pressing 接单 again (a stale card) does nothing more.
        h.press_exact(&ma, card.message_id, &format!("task:start:{id}"))
            .await;
        assert_eq!(
            events(&h, id)
                .await
                .iter()
                .filter(|e| e.action.code() == "start")
                .count(),
            1
        );

        // 完成: a note, then a photo.
        let r = h
            .press_exact(&ma, card.message_id, &format!("task:done:{id}"))
            .await;
        assert!(last(&r).text.contains("处置情况"), "{:?}", texts(&r));
        let r = h.text(&ma, "已更换新井盖并加固").await;
        assert!(
            last(&r)
                .button_data()
                .contains(&format!("task:finish:{id}")),
            "{:?}",
            texts(&r)
        );
        let r = h.photo(&ma, &jpeg("fixed"), None).await;
        assert!(last(&r).text.contains(&format!("#{id}")), "{:?}", texts(&r));
        let rep = reports(&h.t).await.remove(0);
        assert_eq!(rep.state, ReportState::Resolved);
        let resolve = events(&h, id)
            .await
            .into_iter()
            .find(|e| e.action.code() == "resolve")
            .unwrap();
        assert_eq!(resolve.note.as_deref(), Some("已更换新井盖并加固"));
        let files = event_files(&h, resolve.id).await;
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].data.as_deref(), Some(jpeg("fixed").as_slice()));
        // The reporter hears about it.
        h.fake
            .wait_for(he.id, Duration::from_secs(20), |m| {
                m.text.contains("待核查")
            })
            .await
            .expect("reporter told it was resolved");
        h.stop().await;
    }
);

// A task done while a draft is open: the draft is kept and resumed afterwards; 完成 without
// a photo works with the button.
db_test!(
    task_done_keeps_an_open_draft,
    |t: gridline_tests::TestDb| async move {
        let (h, _he, ma, id) = assigned_incident(t, 5201, 5202, "路面塌陷").await;
        let card = h
            .fake
            .wait_for(ma.id, Duration::from_secs(20), |m| {
                m.button_data().contains(&format!("task:done:{id}"))
            })
            .await
            .unwrap();
        // Ma is half-way through a visit.
        h.text(&ma, "/visit").await;
        h.text(&ma, "6组 张家").await;
        let r = h
            .press_exact(&ma, card.message_id, &format!("task:done:{id}"))
            .await;
        assert!(last(&r).text.contains("处置情况"));
        h.text(&ma, "已设置围挡").await;
        let r = h.press(&ma, &format!("task:finish:{id}")).await;
        assert!(
            r.iter().any(|m| m.text.contains(&format!("#{id}"))),
            "{:?}",
            texts(&r)
        );
        assert!(
            last(&r).text.contains("几户"),
            "the visit draft resumes: {:?}",
            texts(&r)
        );
        assert_eq!(reports(&h.t).await[0].state, ReportState::Resolved);
        h.press_label(&ma, "2").await;
        h.press_label(&ma, "电话").await;
        h.text(&ma, "/skip").await;
        h.press_label(&ma, "否").await;
        h.press_label(&ma, "✅ 提交").await;
        let visit = reports(&h.t).await.pop().unwrap();
        assert_eq!(visit.household.as_deref(), Some("6组 张家"));
        assert_eq!(visit.household_count, Some(2));
        h.stop().await;
    }
);

// A notice card's 收到 button is routed to the notices module: recorded once, however often
// pressed; the button then shows it was acknowledged; a forged notice id records nothing.
db_test!(
    notice_acknowledged_once_from_the_card,
    |t: gridline_tests::TestDb| async move {
        use gridline_shared::domain::StaffRole;
        use gridline_shared::entity::notice_recipient;
        let mut h = Harness::start(t).await;
        h.start_worker();
        let he = FakeUser::new(5301, "何刚华");
        let member_id = h.bind(&he, HE).await.id;
        let county = crate::notices::actor(&h.t.db, "county", StaffRole::CountyAdmin, "").await;
        let id = crate::notices::send_to_all(&h.t.db, &county, "防汛培训通知").await;
        let card = h
            .fake
            .wait_for(he.id, Duration::from_secs(30), |m| {
                m.button_data().contains(&format!("ack:{id}"))
            })
            .await
            .expect("notice card");
        let acked_at = |h: &Harness| {
            let db = h.t.db.clone();
            async move {
                notice_recipient::Entity::find()
                    .filter(notice_recipient::Column::NoticeId.eq(id))
                    .filter(notice_recipient::Column::MemberId.eq(member_id))
                    .one(db.conn())
                    .await
                    .unwrap()
                    .and_then(|r| r.acknowledged_at)
            }
        };
        assert!(acked_at(&h).await.is_none());
        let r = h
            .press_exact(&he, card.message_id, &format!("ack:{id}"))
            .await;
        assert!(r.is_empty(), "answered with a toast: {:?}", texts(&r));
        let first = acked_at(&h).await.expect("recorded");
        let now = h
            .fake
            .sent_to(he.id)
            .into_iter()
            .find(|m| m.message_id == card.message_id)
            .unwrap();
        assert_eq!(now.button_labels(), ["✅ 已签收"]);
        for _ in 0..3 {
            h.press_exact(&he, card.message_id, &format!("ack:{id}"))
                .await;
        }
        assert_eq!(acked_at(&h).await, Some(first), "recorded once");
        h.press_exact(&he, card.message_id, &format!("ack:{}", id + 1000))
            .await;
        h.stop().await;
    }
);
