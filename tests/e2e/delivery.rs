//! The delivery worker against the fake Telegram server, through the real teloxide transport.

use std::time::Duration;

use chrono::Utc;
use gridline_bot::transport::TelegramTransport;
use gridline_shared::delivery::{Step, Worker};
use gridline_shared::domain::{MemberStatus, ReportKind};
use gridline_shared::entity::{member, outbox};
use gridline_shared::lifecycle::{Action, Actor, Assignee, StaffActor, transition};
use gridline_shared::reports::{NewReport, submit};
use gridline_shared::{areas, holidays};
use gridline_tests::db_test;
use gridline_tests::fake_telegram::{FakeTelegram, Fault, TOKEN};
use gridline_tests::panel::{import_csv, make_staff};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

/// Two bound members in one community, a secretary, and one submitted report by the first.
async fn setup(t: &gridline_tests::TestDb) -> (member::Model, member::Model, StaffActor, i64) {
    let csv = "镇街,村社区,网格,微网格,微网格长,手机号\n\
        晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,19900000563\n\
        晋原街道,长乐社区,第1网格,第1网格-2号微网格,马东,19900003390\n";
    import_csv(&t.db, csv).await;
    let mut bound = Vec::new();
    for (i, m) in member::Entity::find()
        .all(t.db.conn())
        .await
        .unwrap()
        .into_iter()
        .enumerate()
    {
        let mut a: member::ActiveModel = m.into();
        a.telegram_user_id = Set(Some(5000 + i as i64));
        a.telegram_chat_id = Set(Some(5000 + i as i64));
        bound.push(a.update(t.db.conn()).await.unwrap());
    }
    let community = areas::resolve_names(t.db.conn(), "晋原街道/长乐社区")
        .await
        .unwrap();
    let sec = make_staff(
        &t.db,
        "changle",
        gridline_shared::domain::StaffRole::Secretary,
        &community,
    )
    .await;
    let calendar = holidays::calendar(t.db.conn()).await.unwrap();
    let report = submit(
        t.db.conn(),
        &bound[0],
        NewReport {
            kind: Some(ReportKind::Incident),
            description: "井盖破损".into(),
            ..Default::default()
        },
        &calendar,
        Utc::now(),
    )
    .await
    .unwrap();
    (
        bound[0].clone(),
        bound[1].clone(),
        StaffActor::of(&sec),
        report.id,
    )
}

fn worker(t: &gridline_tests::TestDb, fake: &FakeTelegram) -> Worker<TelegramTransport> {
    let bot = gridline_bot::make_bot(TOKEN, Some(&fake.api_url())).unwrap();
    Worker::new(t.db.clone(), TelegramTransport::new(bot), "test-worker")
}

// Accept and assign: the reporter's update and the assignee's task card reach Telegram, with
// the card's buttons; the rows are marked sent with Telegram's message ids.
db_test!(
    delivers_updates_and_task_cards,
    |t: gridline_tests::TestDb| async move {
        let fake = FakeTelegram::start().await;
        let (reporter, assignee, sec, id) = setup(&t).await;
        let actor = Actor::Staff(sec);
        transition(&t.db, &actor, id, Action::Accept, Utc::now())
            .await
            .unwrap();
        transition(
            &t.db,
            &actor,
            id,
            Action::Assign(Assignee::Member(assignee.id)),
            Utc::now(),
        )
        .await
        .unwrap();
        let w = worker(&t, &fake);
        let mut sent = 0;
        loop {
            match w.try_execute_task().await.unwrap() {
                Step::Idle => break,
                Step::Sent { .. } => sent += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            sent, 3,
            "accepted + assigned to the reporter, a task card to the assignee"
        );
        let to_reporter = fake.sent_to(reporter.telegram_chat_id.unwrap());
        assert_eq!(to_reporter.len(), 2);
        assert!(
            to_reporter[0].text.contains(&format!("#{id}"))
                && to_reporter[0].text.contains("已受理")
        );
        let card = fake.sent_to(assignee.telegram_chat_id.unwrap());
        assert_eq!(card.len(), 1);
        assert_eq!(
            card[0].button_data(),
            [format!("task:start:{id}"), format!("task:done:{id}")]
        );
        let rows = outbox::Entity::find().all(t.db.conn()).await.unwrap();
        assert!(rows.iter().all(|r| r.status.code() == "sent"
            && r.telegram_message_id.is_some()
            && r.sent_at.is_some()));
    }
);

// 403 marks the member blocked and stops; 5xx is retried later; 429 pauses without spending
// an attempt.
db_test!(
    blocked_transient_and_flood_control,
    |t: gridline_tests::TestDb| async move {
        let fake = FakeTelegram::start().await;
        let (reporter, _, sec, id) = setup(&t).await;
        let actor = Actor::Staff(sec);
        let w = worker(&t, &fake);

        transition(&t.db, &actor, id, Action::Accept, Utc::now())
            .await
            .unwrap();
        fake.fail_next("sendMessage", [Fault::ServerError]);
        assert!(matches!(
            w.try_execute_task().await.unwrap(),
            Step::Retry { .. }
        ));
        let row = outbox::Entity::find()
            .one(t.db.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((row.status.code(), row.attempts), ("pending", 1));
        assert!(row.not_before > Utc::now(), "retried after a pause");
        assert_eq!(
            w.try_execute_task().await.unwrap(),
            Step::Idle,
            "not before the pause is over"
        );

        // Make it due again, then flood control.
        let mut a: outbox::ActiveModel = row.into();
        a.not_before = Set(Utc::now());
        a.update(t.db.conn()).await.unwrap();
        fake.fail_next("sendMessage", [Fault::TooManyRequests { retry_after: 3 }]);
        match w.try_execute_task().await.unwrap() {
            Step::Paused { wait, .. } => assert_eq!(wait, Duration::from_secs(3)),
            other => panic!("{other:?}"),
        }
        let row = outbox::Entity::find()
            .one(t.db.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.attempts, 1,
            "flood control does not count as an attempt"
        );

        let mut a: outbox::ActiveModel = row.into();
        a.not_before = Set(Utc::now());
        a.update(t.db.conn()).await.unwrap();
        fake.block_chat(reporter.telegram_chat_id.unwrap());
        assert!(matches!(
            w.try_execute_task().await.unwrap(),
            Step::Blocked { .. }
        ));
        let m = member::Entity::find_by_id(reporter.id)
            .one(t.db.conn())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, MemberStatus::Blocked);
        // Nothing more is queued for a blocked member.
        transition(
            &t.db,
            &actor,
            id,
            Action::Reply {
                note: "收到".into(),
            },
            Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(w.try_execute_task().await.unwrap(), Step::Idle);
        assert!(fake.sent_to(reporter.telegram_chat_id.unwrap()).is_empty());
    }
);
