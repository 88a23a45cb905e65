//! The fake Bot API server itself, checked with the real teloxide client: if teloxide accepts
//! its answers here, the bot's tests speak the real protocol.

use std::time::Duration;

use gridline_tests::fake_telegram::{BOT_USERNAME, FakeTelegram, FakeUser, Fault, TOKEN};
use teloxide::prelude::*;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, UpdateKind};
use teloxide::{ApiError, RequestError};

fn bot(fake: &FakeTelegram) -> Bot {
    Bot::new(TOKEN).set_api_url(fake.api_url().parse().unwrap())
}

#[tokio::test]
async fn teloxide_speaks_to_the_fake_server() {
    let fake = FakeTelegram::start().await;
    let bot = bot(&fake);

    let me = bot.get_me().await.unwrap();
    assert_eq!(me.username.as_deref(), Some(BOT_USERNAME));

    // Long polling: an empty poll waits, an injected update arrives, the offset confirms it.
    let user = FakeUser::new(1001, "何刚华");
    let started = std::time::Instant::now();
    let none = bot.get_updates().timeout(1).await.unwrap();
    assert!(none.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "timeout is honoured"
    );
    fake.send_text(&user, "/start ABCD2345");
    let updates = bot.get_updates().timeout(5).await.unwrap();
    assert_eq!(updates.len(), 1);
    let UpdateKind::Message(msg) = &updates[0].kind else {
        panic!("not a message")
    };
    assert_eq!(msg.text(), Some("/start ABCD2345"));
    assert_eq!(msg.chat.id, ChatId(1001));
    let again = bot.get_updates().timeout(0).await.unwrap();
    assert_eq!(again.len(), 1, "not confirmed yet: delivered again");
    let next = updates[0].id.0 as i32 + 1;
    assert!(
        bot.get_updates()
            .offset(next)
            .timeout(0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fake.pending_updates(), 0);

    // Sending with an inline keyboard; the test sees text and buttons.
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("收到", "ack:1")]]);
    let sent = bot
        .send_message(ChatId(1001), "通知")
        .reply_markup(keyboard)
        .await
        .unwrap();
    let seen = fake.sent_to(1001);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].text, "通知");
    assert_eq!(seen[0].button_data(), ["ack:1"]);
    bot.edit_message_text(ChatId(1001), sent.id, "通知（已签收）")
        .await
        .unwrap();
    assert_eq!(fake.sent_to(1001)[0].text, "通知（已签收）");

    // A pressed button arrives as a callback query.
    fake.press_button(&user, sent.id.0.into(), "ack:1");
    let updates = bot.get_updates().offset(next).timeout(5).await.unwrap();
    let UpdateKind::CallbackQuery(q) = &updates[0].kind else {
        panic!("not a callback")
    };
    assert_eq!(q.data.as_deref(), Some("ack:1"));
    bot.answer_callback_query(q.id.clone()).await.unwrap();

    // Photos: getFile and the download route.
    let jpeg = b"\xFF\xD8\xFF\xE0 a tiny fake jpeg".to_vec();
    fake.send_photo(&user, &jpeg, Some("井盖破损"));
    let after = updates[0].id.0 as i32 + 1;
    let updates = bot.get_updates().offset(after).timeout(5).await.unwrap();
    let UpdateKind::Message(msg) = &updates[0].kind else {
        panic!()
    };
    let largest = msg
        .photo()
        .unwrap()
        .iter()
        .max_by_key(|p| p.width * p.height)
        .unwrap();
    let file = bot.get_file(largest.file.id.clone()).await.unwrap();
    let mut bytes = Vec::new();
    teloxide::net::Download::download_file(&bot, &file.path, &mut bytes)
        .await
        .unwrap();
    assert_eq!(bytes, jpeg);
}

#[tokio::test]
async fn faults_reach_teloxide_as_telegram_errors() {
    let fake = FakeTelegram::start().await;
    let bot = bot(&fake);
    fake.fail_next(
        "sendMessage",
        [
            Fault::TooManyRequests { retry_after: 7 },
            Fault::ServerError,
        ],
    );
    match bot.send_message(ChatId(5), "x").await {
        Err(RequestError::RetryAfter(d)) => assert_eq!(d.seconds(), 7),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    assert!(bot.send_message(ChatId(5), "x").await.is_err());
    fake.block_chat(6);
    match bot.send_message(ChatId(6), "x").await {
        Err(RequestError::Api(ApiError::BotBlocked)) => {}
        other => panic!("expected BotBlocked, got {other:?}"),
    }
    assert!(fake.sent_to(6).is_empty());
    assert_eq!(fake.sent_to(5).len(), 0);
    bot.send_message(ChatId(5), "ok now").await.unwrap();
    assert_eq!(fake.sent_to(5).len(), 1);

    // Flood limits: the 2nd message to one chat within a second is refused.
    fake.enforce_flood_limits(30, 1);
    bot.send_message(ChatId(8), "1").await.unwrap();
    assert!(matches!(
        bot.send_message(ChatId(8), "2").await,
        Err(RequestError::RetryAfter(_))
    ));
    assert_eq!(fake.flood_violations(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    bot.send_message(ChatId(8), "3").await.unwrap();
    assert_eq!(
        fake.sent_to(8)
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>(),
        ["1", "3"]
    );
}
