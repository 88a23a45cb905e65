//! Fault tests (issue 7): 50 concurrent writers on one SQLite file for a minute — 30 fake
//! Telegram users filing reports (text, button presses, commands) through the real bot
//! (teloxide client, long polling) and 20 panel sessions acting on those reports over HTTP
//! (accept, comment, reply, assign) — with the delivery worker sending what the actions queue.
//! No `database is locked` (nor any other internal error) reaches anybody: no bot message says
//! the system is busy, no panel answer is a 5xx, every action is done (303) or refused with its
//! proper message (409 wrong state), and the counts agree: one timeline event per action done,
//! every filed report stored once with its receipt.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gridline_bot::{BotConfig, BotRuntime};
use gridline_shared::delivery::Worker;
use gridline_shared::domain::StaffRole;
use gridline_shared::entity::{report, report_event};
use gridline_tests::TestDb;
use gridline_tests::fake_telegram::{FakeTelegram, TOKEN};
use gridline_tests::panel::{make_staff, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

use crate::fault_kill::{Burst, Rng, check_reports, top_category, users, wait_settled};

const BOT_USERS: usize = 30;
const PANEL_WRITERS: usize = 20;
const RUN_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct PanelTally {
    done: usize,
    refused: usize,
    by_status: HashMap<u16, usize>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_writers_on_sqlite() {
    let started = Instant::now();
    let t = TestDb::sqlite().await;
    let mut rng = Rng::new("fifty_concurrent_writers_on_sqlite");
    let users = users(&t.db, BOT_USERS).await;
    let category = top_category(&t.db).await;
    let root = gridline_shared::areas::find_root(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    make_staff(&t.db, "county", StaffRole::CountyAdmin, &root).await;
    let fake = Arc::new(FakeTelegram::start().await);

    // The bot and the worker in this process, on the same database handle as the panel (as
    // `gridline serve` runs them).
    let bot = gridline_bot::make_bot(TOKEN, Some(&fake.api_url())).unwrap();
    let rt = BotRuntime::new(
        t.db.clone(),
        bot.clone(),
        BotConfig {
            poll_timeout: 1,
            ..Default::default()
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx = stop_rx.clone();
    let polling = tokio::spawn(gridline_bot::polling::run(rt, async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    let worker = Worker::new(
        t.db.clone(),
        gridline_bot::transport::TelegramTransport::new(bot),
        "writers-worker",
    );
    let mut rx = stop_rx.clone();
    let worker = tokio::spawn(worker.run(async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    let app = spawn_app(&t).await;

    let burst = Burst::start(
        fake.clone(),
        &users,
        category,
        Duration::from_secs(3),
        &mut rng,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut staff = tokio::task::JoinSet::new();
    let assignees: Vec<i64> = users.iter().map(|(m, _)| m.id).collect();
    for _ in 0..PANEL_WRITERS {
        let client = app.login("county").await;
        let stop = stop.clone();
        let db = t.db.clone();
        let mut rng = Rng(rng.next_u64());
        let assignees = assignees.clone();
        staff.spawn(async move {
            let mut tally = PanelTally::default();
            while !stop.load(Ordering::SeqCst) {
                let ids: Vec<i64> = report::Entity::find()
                    .select_only()
                    .column(report::Column::Id)
                    .into_tuple()
                    .all(db.conn())
                    .await
                    .unwrap();
                if ids.is_empty() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                let id = ids[rng.below(ids.len() as u64) as usize];
                let assignee = format!(
                    "m:{}",
                    assignees[rng.below(assignees.len() as u64) as usize]
                );
                let (action, form): (&str, Vec<(&str, &str)>) = match rng.below(4) {
                    0 => ("accept", vec![]),
                    1 => ("comment", vec![("note", "内部：已电话联系")]),
                    2 => ("reply", vec![("note", "已安排人员处理")]),
                    _ => ("assign", vec![("assignee", assignee.as_str())]),
                };
                let page = client
                    .post_from(
                        &format!("/reports/{id}"),
                        &format!("/reports/{id}/{action}"),
                        &form,
                    )
                    .await;
                *tally.by_status.entry(page.status.as_u16()).or_default() += 1;
                assert!(
                    !page.body.contains("database is locked"),
                    "{action} on #{id}: {}",
                    page.body
                );
                match page.status {
                    StatusCode::SEE_OTHER => tally.done += 1,
                    StatusCode::CONFLICT => {
                        assert!(
                            page.body.contains("不能"),
                            "{action} on #{id}: 409 without its message: {}",
                            page.body
                        );
                        tally.refused += 1;
                    }
                    // The chosen member is outside the report's handling area.
                    StatusCode::UNPROCESSABLE_ENTITY if action == "assign" => {
                        assert!(
                            page.body.contains("不在处理区域内"),
                            "assign on #{id}: 422 without its message: {}",
                            page.body
                        );
                        tally.refused += 1;
                    }
                    other => panic!("{action} on #{id}: {other}: {}", page.body),
                }
                tokio::time::sleep(rng.millis(20, 300)).await;
            }
            tally
        });
    }
    tokio::time::sleep(RUN_FOR).await;
    stop.store(true, Ordering::SeqCst);
    let mut panel = PanelTally::default();
    while let Some(r) = staff.join_next().await {
        let r = r.unwrap();
        panel.done += r.done;
        panel.refused += r.refused;
        for (k, v) in r.by_status {
            *panel.by_status.entry(k).or_default() += v;
        }
    }
    let filed = burst.finish().await;
    wait_settled(&t.db, &fake, &filed, Duration::from_secs(60)).await;
    let tally = check_reports(&t.db, &fake, &filed).await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), polling).await;
    let _ = tokio::time::timeout(Duration::from_secs(30), worker).await;

    // No bot message told anyone the system was busy or failed.
    let busy = gridline_shared::conversation::render::tr(
        "bot.error.retry",
        gridline_shared::domain::Lang::Zh,
    );
    for m in fake.all_sent() {
        assert!(
            !m.text.contains(&busy) && !m.text.contains("database is locked"),
            "a user was told: {}",
            m.text
        );
    }
    assert_eq!(tally.duplicates, 0);
    assert!(tally.uncertain.is_empty(), "{:?}", tally.uncertain);
    assert_eq!(
        tally.receipts, tally.reports,
        "every report got its receipt"
    );
    // Every action done left exactly one staff event on the timeline.
    let staff_events = report_event::Entity::find()
        .filter(report_event::Column::ActorStaffId.is_not_null())
        .count(t.db.conn())
        .await
        .unwrap() as usize;
    assert_eq!(
        staff_events, panel.done,
        "one timeline event per action done"
    );
    println!(
        "{} writers for {RUN_FOR:?} on SQLite: {} reports filed through the bot ({} getUpdates calls), panel {} done + {} refused {:?}; total {:.1?}",
        BOT_USERS + PANEL_WRITERS,
        tally.reports,
        fake.calls("getUpdates"),
        panel.done,
        panel.refused,
        panel.by_status,
        started.elapsed()
    );
    assert!(
        tally.reports >= 30 && panel.done >= 50,
        "too little happened to test"
    );
}
