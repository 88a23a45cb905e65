//! The real `gridline serve` binary runs the bot when TELOXIDE_TOKEN is set, against the fake
//! Telegram server named by GRIDLINE_TELEGRAM_API_URL: a grid leader binds and files a report.

use std::time::Duration;

use gridline_tests::db_test;
use gridline_tests::fake_telegram::{FakeTelegram, FakeUser};

use crate::bot_support::*;
use crate::fault_kill::{serve_command, signal};

/// Waits until the fake has handed out and seen confirmed every update (bounded).
async fn settle(fake: &FakeTelegram) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fake.pending_updates() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot did not handle the updates"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn button_on_last(fake: &FakeTelegram, chat: i64, label: &str) -> (i64, String) {
    let m = fake
        .sent_to(chat)
        .into_iter()
        .rev()
        .find(|m| button(m, label).is_some())
        .unwrap_or_else(|| panic!("no {label:?} button: {:?}", texts(&fake.sent_to(chat))));
    let data = button(&m, label).unwrap();
    (m.message_id, data)
}

db_test!(serve_runs_the_bot, |t: gridline_tests::TestDb| async move {
    // The roster is imported by the harness; the bot itself is the binary's.
    let mut h = Harness::start(t).await;
    h.stop_bot().await;
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve_command(&h.t.url, &fake, dir.path(), &[], "serve.log")
        .env("GRIDLINE_LISTEN", "127.0.0.1:0")
        .spawn()
        .unwrap();

    let he = FakeUser::new(7001, "何刚华");
    let m = member_by_phone(&h.t, HE).await;
    fake.send_text(&he, &format!("/start {}", m.bind_code));
    let bound = fake
        .wait_for(he.id, Duration::from_secs(90), |m| {
            m.text.contains("绑定成功")
        })
        .await;
    assert!(bound.is_some(), "{:?}", texts(&fake.sent_to(he.id)));
    assert!(
        fake.commands().as_array().is_some_and(|c| !c.is_empty()),
        "setMyCommands at start"
    );

    // Quick mode with a captioned photo: category, skip the location, submit.
    let photo = jpeg("serve");
    fake.send_photo(&he, &photo, Some("桥栏杆断裂"));
    settle(&fake).await;
    let (mid, data) = button_on_last(&fake, he.id, "⚠️设施");
    fake.press_button(&he, mid, &data);
    settle(&fake).await;
    fake.send_text(&he, "/skip");
    settle(&fake).await;
    let (mid, data) = button_on_last(&fake, he.id, "✅ 提交");
    fake.press_button(&he, mid, &data);
    let receipt = fake
        .wait_for(he.id, Duration::from_secs(30), |m| {
            m.text.contains("已提交")
        })
        .await
        .expect("receipt");
    settle(&fake).await;
    let all = reports(&h.t).await;
    assert_eq!(all.len(), 1);
    assert!(receipt.text.contains(&format!("#{}", all[0].id)));
    assert_eq!(all[0].description, "桥栏杆断裂");
    let files = attachments(&h.t, all[0].id).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].data.as_deref(), Some(photo.as_slice()));

    signal(&child, "-TERM");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    h.stop().await;
});
