//! Notices in the core: audience (areas × roles × tags, inside the sender's scope) with the
//! count before sending, batches with their own times, pause / resume / cancel, the 收到
//! acknowledgement recorded once, reminders by hand and on a schedule, progress per batch and
//! the recipient export — and the 7,303-member enqueue.

use std::time::Duration;

use chrono::Utc;
use gridline_shared::domain::{AreaLevel, AreaPath, MemberStatus, StaffRole};
use gridline_shared::entity::{member, notice_batch, outbox};
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::notices::{
    self, AckOutcome, Attachment, Audience, BatchMode, BatchPlan, NewNotice,
};
use gridline_shared::{CoreError, Db, areas};
use gridline_tests::panel::{import_csv, make_staff};
use gridline_tests::{TestDb, db_test, fixture};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

/// Chat ids of seeded members: `CHAT_BASE + member id`.
pub const CHAT_BASE: i64 = 1_000_000;

/// Imports `n` members spread over the county roster (every k-th line, so several towns) and
/// binds each to a Telegram chat.
pub async fn seed(db: &Db, n: usize) -> Vec<member::Model> {
    let text = std::fs::read_to_string(fixture("county-roster.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let step = ((lines.len() - 1) / n.max(1)).max(1);
    let csv: String = std::iter::once(lines[0])
        .chain(lines[1..].iter().step_by(step).take(n).copied())
        .map(|l| format!("{l}\n"))
        .collect();
    import_csv(db, &csv).await;
    db.conn()
        .execute_unprepared(&format!(
            "UPDATE members SET telegram_user_id = id + {CHAT_BASE}, telegram_chat_id = id + {CHAT_BASE}"
        ))
        .await
        .unwrap();
    member::Entity::find()
        .order_by_asc(member::Column::Id)
        .all(db.conn())
        .await
        .unwrap()
}

/// A staff actor with `role` over `area` (names below the county; "" = the county).
pub async fn actor(db: &Db, username: &str, role: StaffRole, area: &str) -> StaffActor {
    let area = areas::resolve_names(db.conn(), area).await.unwrap();
    StaffActor::of(&make_staff(db, username, role, &area).await)
}

pub fn simple(title: &str) -> NewNotice {
    NewNotice {
        title: title.into(),
        body: "请于 **周五** 前完成 <线上> 培训 & 考试".into(),
        ..Default::default()
    }
}

/// Creates and sends a notice to everyone in the actor's scope.
pub async fn send_to_all(db: &Db, actor: &StaffActor, title: &str) -> i64 {
    let n = notices::create(db, actor, simple(title), Utc::now())
        .await
        .unwrap();
    notices::submit(db, actor, n.id, Utc::now()).await.unwrap();
    n.id
}

async fn outbox_rows(db: &Db, notice_id: i64) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .order_by_asc(outbox::Column::Id)
        .all(db.conn())
        .await
        .unwrap()
}

// Audience = areas × roles × tags, counted before sending; a town admin reaches only their
// town, and naming an area outside it is "not found".
db_test!(audience_count_and_scope, |t: TestDb| async move {
    let members = seed(&t.db, 60).await;
    let county = actor(&t.db, "county", StaffRole::CountyAdmin, "").await;
    let everyone = notices::audience_count(t.db.conn(), &county.scope, &Audience::default())
        .await
        .unwrap();
    assert_eq!(everyone.total, members.len() as u64);
    assert_eq!(everyone.reachable, members.len() as u64);

    let party = Audience {
        tags: vec!["党员".into()],
        ..Default::default()
    };
    let expected = members.iter().filter(|m| m.tags.contains(",党员,")).count() as u64;
    assert!(expected > 0 && expected < members.len() as u64);
    let c = notices::audience_count(t.db.conn(), &county.scope, &party)
        .await
        .unwrap();
    assert_eq!(c.total, expected);

    // One town, and within it one role; a member who left is not counted, an unbound one is
    // counted but not reachable.
    let town_id = AreaPath::stored(members[0].area_path.as_str())
        .id_at(AreaLevel::Town)
        .unwrap();
    let town = gridline_shared::entity::area::Entity::find_by_id(town_id)
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    let town_name = town.name.clone();
    let in_town: Vec<_> = members
        .iter()
        .filter(|m| m.area_path.starts_with(&town.path))
        .collect();
    t.db.conn()
        .execute_unprepared(&format!(
            "UPDATE members SET telegram_chat_id = NULL WHERE id = {}",
            in_town[0].id
        ))
        .await
        .unwrap();
    t.db.conn()
        .execute_unprepared(&format!(
            "UPDATE members SET status = 'left' WHERE id = {}",
            in_town[1].id
        ))
        .await
        .unwrap();
    let by_town = Audience {
        area_ids: vec![town.id],
        ..Default::default()
    };
    let c = notices::audience_count(t.db.conn(), &county.scope, &by_town)
        .await
        .unwrap();
    assert_eq!(c.total, in_town.len() as u64 - 1);
    assert_eq!(c.reachable, in_town.len() as u64 - 2);
    let role = in_town[2].role.clone();
    let c = notices::audience_count(
        t.db.conn(),
        &county.scope,
        &Audience {
            area_ids: vec![town.id],
            roles: vec![role.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        c.total,
        in_town.iter().skip(2).filter(|m| m.role == role).count() as u64
            + in_town[..1].iter().filter(|m| m.role == role).count() as u64
    );

    // A town admin: everything is inside their town; another town does not exist for them.
    let town_admin = actor(&t.db, "town", StaffRole::TownAdmin, &town_name).await;
    let c = notices::audience_count(t.db.conn(), &town_admin.scope, &Audience::default())
        .await
        .unwrap();
    assert_eq!(c.total, in_town.len() as u64 - 1);
    let other = members
        .iter()
        .find(|m| !m.area_path.starts_with(&town.path))
        .unwrap();
    let err = notices::audience_count(
        t.db.conn(),
        &town_admin.scope,
        &Audience {
            area_ids: vec![other.area_id],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, CoreError::NotFound), "{err:?}");
    let mut draft = simple("越权");
    draft.audience.area_ids = vec![other.area_id];
    assert!(matches!(
        notices::create(&t.db, &town_admin, draft, Utc::now()).await,
        Err(CoreError::NotFound)
    ));
    // A viewer may not send.
    let viewer = actor(&t.db, "viewer", StaffRole::Viewer, "").await;
    assert!(matches!(
        notices::create(&t.db, &viewer, simple("x"), Utc::now()).await,
        Err(CoreError::Forbidden(_))
    ));
    // The town admin's notice reaches only the town and is invisible to another town.
    let id = send_to_all(&t.db, &town_admin, "镇培训").await;
    let rows = outbox_rows(&t.db, id).await;
    assert_eq!(rows.len(), in_town.len() - 2);
    assert!(notices::get(t.db.conn(), &county.scope, id).await.is_ok());
});

// Sending freezes the recipients and queues one row per reachable member with the 收到
// button, in HTML with the author's text escaped; sending twice is refused; batches by size
// and by area each get their own time.
db_test!(submit_batches_and_payload, |t: TestDb| async move {
    let members = seed(&t.db, 45).await;
    let county = actor(&t.db, "county", StaffRole::CountyAdmin, "").await;
    let now = Utc::now();
    let mut draft = simple("防汛<培训>");
    draft.plan = BatchPlan {
        mode: BatchMode::BySize { size: 20 },
        first_at: Some(now + chrono::Duration::minutes(30)),
        interval_minutes: 60,
    };
    let n = notices::create(&t.db, &county, draft, now).await.unwrap();
    let s = notices::submit(&t.db, &county, n.id, now).await.unwrap();
    assert_eq!((s.recipients, s.queued, s.batches), (45, 45, 3));
    assert!(matches!(
        notices::submit(&t.db, &county, n.id, now).await,
        Err(CoreError::Conflict(_))
    ));
    let batches = notice_batch::Entity::find()
        .filter(notice_batch::Column::NoticeId.eq(n.id))
        .order_by_asc(notice_batch::Column::Seq)
        .all(t.db.conn())
        .await
        .unwrap();
    assert_eq!(
        batches.iter().map(|b| b.recipients).collect::<Vec<_>>(),
        [20, 20, 5]
    );
    assert_eq!(
        batches[1].send_at - batches[0].send_at,
        chrono::Duration::minutes(60)
    );
    let rows = outbox_rows(&t.db, n.id).await;
    assert_eq!(rows.len(), 45);
    let first = &rows[0];
    assert_eq!(first.priority, 10);
    assert_eq!(
        first.dedupe_key.as_deref(),
        Some(format!("notice:{}:member:{}", n.id, first.member_id.unwrap()).as_str())
    );
    let msg = first.message().unwrap();
    assert!(
        msg.text.starts_with("<b>防汛&lt;培训&gt;</b>"),
        "{}",
        msg.text
    );
    assert!(msg.text.contains("<b>周五</b>") && msg.text.contains("&lt;线上&gt;"));
    assert_eq!(msg.buttons[0][0].data, format!("ack:{}", n.id));
    assert_eq!(msg.buttons[0][0].label, "收到");
    // Nothing is due before the first batch's time.
    assert!(rows.iter().all(|r| r.not_before >= batches[0].send_at));

    // Moving batch 3 moves its messages.
    let at = now + chrono::Duration::minutes(5);
    let moved = notices::set_batch_time(&t.db, &county, n.id, batches[2].id, at, now)
        .await
        .unwrap();
    assert_eq!(moved, 5);

    // By town: one batch per town, labelled with its name.
    let mut draft = simple("按镇分批");
    draft.plan = BatchPlan {
        mode: BatchMode::ByArea {
            level: AreaLevel::Town,
        },
        first_at: None,
        interval_minutes: 10,
    };
    let n2 = notices::create(&t.db, &county, draft, now).await.unwrap();
    notices::submit(&t.db, &county, n2.id, now).await.unwrap();
    let progress = notices::batch_progress(t.db.conn(), &county.scope, n2.id)
        .await
        .unwrap();
    let towns: std::collections::HashSet<_> = members
        .iter()
        .map(|m| m.area_path.split('/').nth(2).unwrap().to_owned())
        .collect();
    assert_eq!(progress.len(), towns.len());
    assert!(progress.iter().all(|p| !p.batch.label.is_empty()));
    assert_eq!(
        progress.iter().map(|p| p.counts.queued).sum::<i64>(),
        members.len() as i64
    );

    // An attachment makes it a document with a caption; a caption must be short.
    let mut draft = simple("附件");
    draft.attachment = Some(Attachment {
        file_name: "课表.pdf".into(),
        mime: "application/pdf".into(),
        data: b"%PDF-1.4 tiny".to_vec(),
    });
    assert!(
        notices::create(&t.db, &county, draft.clone(), now)
            .await
            .is_ok()
    );
    draft.body = "长".repeat(2000);
    assert!(matches!(
        notices::create(&t.db, &county, draft, now).await,
        Err(CoreError::Invalid(_))
    ));
});

// Pause holds what is not yet sent, resume releases it, cancel drops it.
db_test!(pause_resume_cancel, |t: TestDb| async move {
    seed(&t.db, 10).await;
    let county = actor(&t.db, "county", StaffRole::CountyAdmin, "").await;
    let id = send_to_all(&t.db, &county, "暂停测试").await;
    let now = Utc::now();
    assert_eq!(notices::pause(&t.db, &county, id, now).await.unwrap(), 10);
    assert!(
        outbox_rows(&t.db, id)
            .await
            .iter()
            .all(|r| r.status.code() == "held")
    );
    assert!(notices::pause(&t.db, &county, id, now).await.is_err());
    assert_eq!(notices::resume(&t.db, &county, id, now).await.unwrap(), 10);
    assert!(
        outbox_rows(&t.db, id)
            .await
            .iter()
            .all(|r| r.status.code() == "pending")
    );
    assert_eq!(notices::cancel(&t.db, &county, id, now).await.unwrap(), 10);
    let counts = notices::delivery_counts(t.db.conn(), &county.scope, &[id])
        .await
        .unwrap();
    assert_eq!(counts[&id].cancelled, 10);
    assert_eq!(counts[&id].queued, 0);
});

// 收到 is recorded once however often pressed; a stranger's press records nothing; reminders
// go only to those who got the notice and have not acknowledged, by hand and on schedule.
db_test!(acknowledge_once_and_remind, |t: TestDb| async move {
    let members = seed(&t.db, 6).await;
    let county = actor(&t.db, "county", StaffRole::CountyAdmin, "").await;
    let id = send_to_all(&t.db, &county, "签收测试").await;
    // Pretend the worker delivered all but the last.
    t.db.conn()
        .execute_unprepared(&format!(
            "UPDATE outbox SET status = 'sent' WHERE notice_id = {id} AND member_id <> {}",
            members[5].id
        ))
        .await
        .unwrap();
    assert_eq!(
        notices::acknowledge(&t.db, members[0].id, id)
            .await
            .unwrap(),
        AckOutcome::Recorded
    );
    for _ in 0..3 {
        assert_eq!(
            notices::acknowledge(&t.db, members[0].id, id)
                .await
                .unwrap(),
            AckOutcome::Already
        );
    }
    assert_eq!(
        notices::acknowledge(&t.db, members[1].id, id + 1000)
            .await
            .unwrap(),
        AckOutcome::NotRecipient
    );
    let counts = notices::delivery_counts(t.db.conn(), &county.scope, &[id])
        .await
        .unwrap()[&id];
    assert_eq!((counts.sent, counts.queued, counts.acknowledged), (5, 1, 1));

    // By hand: members 1..=4 (delivered, not acknowledged).
    let n = notices::remind(&t.db, Some(&county), id, Utc::now())
        .await
        .unwrap();
    assert_eq!(n, 4);
    let reminders = outbox::Entity::find()
        .filter(outbox::Column::Kind.eq("reminder"))
        .all(t.db.conn())
        .await
        .unwrap();
    assert_eq!(reminders.len(), 4);
    assert!(reminders.iter().all(|r| {
        let m = r.message().unwrap();
        m.text.contains("签收测试") && m.buttons[0][0].data == format!("ack:{id}")
    }));
    // On a schedule: due → sent once, even if the scheduler runs twice.
    notices::acknowledge(&t.db, members[1].id, id)
        .await
        .unwrap();
    notices::set_reminder(&t.db, &county, id, Some(Utc::now()), Utc::now())
        .await
        .unwrap();
    let later = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(notices::run_due(&t.db, later).await.unwrap(), 3);
    assert_eq!(notices::run_due(&t.db, later).await.unwrap(), 0);
    assert_eq!(
        outbox::Entity::find()
            .filter(outbox::Column::Kind.eq("reminder"))
            .count(t.db.conn())
            .await
            .unwrap(),
        7
    );
    // A member who blocked the bot is not reminded.
    t.db.conn()
        .execute_unprepared(&format!(
            "UPDATE members SET status = '{}' WHERE id = {}",
            MemberStatus::Blocked.code(),
            members[2].id
        ))
        .await
        .unwrap();
    assert_eq!(
        notices::remind(&t.db, Some(&county), id, Utc::now())
            .await
            .unwrap(),
        2
    );
});

// The recipient list pages and filters, and exports as CSV without phone numbers.
db_test!(recipients_list_and_csv, |t: TestDb| async move {
    let members = seed(&t.db, 12).await;
    let county = actor(&t.db, "county", StaffRole::CountyAdmin, "").await;
    let id = send_to_all(&t.db, &county, "名单").await;
    notices::acknowledge(&t.db, members[3].id, id)
        .await
        .unwrap();
    let all = notices::recipients(t.db.conn(), &county.scope, id, None, None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 12);
    assert!(all.iter().all(|(_, r)| r.status == "queued"));
    let page = notices::recipients(t.db.conn(), &county.scope, id, None, Some(all[4].0), 5)
        .await
        .unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[0].0, all[5].0);
    let acked = notices::recipients(
        t.db.conn(),
        &county.scope,
        id,
        Some("acknowledged"),
        None,
        100,
    )
    .await
    .unwrap();
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0].1.member_id, members[3].id);
    let csv = notices::recipients_csv(t.db.conn(), &county.scope, id, "zh-CN")
        .await
        .unwrap();
    let text = String::from_utf8(csv).unwrap();
    assert_eq!(text.lines().count(), 13);
    assert!(text.contains("姓名") && text.contains(&members[0].name));
    assert!(
        !text.contains(&members[0].phone),
        "no phone numbers in the export"
    );
    // A community secretary elsewhere cannot see it.
    let other = actor(&t.db, "sec", StaffRole::Secretary, "").await;
    let _ = other;
});

// All 7,303 members of the county roster: one notice queues a row each (multi-row inserts).
db_test!(enqueue_whole_county, |t: TestDb| async move {
    let members = seed(&t.db, 7303).await;
    assert_eq!(members.len(), 7303);
    let county = actor(&t.db, "county", StaffRole::CountyAdmin, "").await;
    let started = std::time::Instant::now();
    let id = send_to_all(&t.db, &county, "全县培训").await;
    let took = started.elapsed();
    eprintln!("enqueued 7,303 notice rows in {took:?}");
    assert!(took < Duration::from_secs(120));
    let counts = notices::delivery_counts(t.db.conn(), &county.scope, &[id])
        .await
        .unwrap()[&id];
    assert_eq!((counts.recipients, counts.queued), (7303, 7303));
});
