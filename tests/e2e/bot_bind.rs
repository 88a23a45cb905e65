//! Binding a Telegram account to the roster: by one-time code (also the deep link's
//! `/start <code>`), by sharing one's own phone number, and the refusals.

use gridline_shared::domain::MemberStatus;
use gridline_tests::db_test;
use gridline_tests::fake_telegram::FakeUser;

use crate::bot_support::*;

db_test!(bind_by_code_once, |t: gridline_tests::TestDb| async move {
    let h = Harness::start(t).await;
    let he = FakeUser::new(3001, "何刚华");

    // Unbound: every message gets an answer saying how to bind, with the share-phone button.
    let r = h.text(&he, "你好").await;
    assert_eq!(r.len(), 1, "{:?}", texts(&r));
    assert!(r[0].text.contains("/start"), "{}", r[0].text);
    assert_eq!(r[0].reply_markup["keyboard"][0][0]["request_contact"], true);
    let r = h.text(&he, "/visit").await;
    assert!(r[0].text.contains("绑定"), "unbound users can only bind");
    assert!(reports(&h.t).await.is_empty());

    // A wrong code.
    let r = h.text(&he, "/start WRONG234").await;
    assert!(r[0].text.contains("绑定码不正确"), "{}", r[0].text);

    // The code as printed, typed in lower case with a dash: binds at once.
    let m = member_by_phone(&h.t, HE).await;
    let typed = format!("{}-{}", &m.bind_code[..4], &m.bind_code[4..]).to_lowercase();
    let r = h.text(&he, &format!("/start {typed}")).await;
    assert!(
        r[0].text.contains("绑定成功") && r[0].text.contains("何刚华"),
        "{}",
        r[0].text
    );
    assert!(
        r[0].button_labels().contains(&"事件".to_owned()),
        "the menu comes with it"
    );
    let m = member_by_phone(&h.t, HE).await;
    assert_eq!(m.telegram_user_id, Some(3001));
    assert_eq!(m.telegram_chat_id, Some(3001));
    assert!(m.bound_at.is_some());

    // The code works once: someone else cannot reuse it.
    let other = FakeUser::new(3002, "冒用者");
    let r = h.text(&other, &format!("/start {}", m.bind_code)).await;
    assert!(r[0].text.contains("已经用过"), "{}", r[0].text);
    assert_eq!(member_by_phone(&h.t, HE).await.telegram_user_id, Some(3001));

    // Binding again from the bound account just says so.
    let r = h.text(&he, &format!("/start {}", m.bind_code)).await;
    assert!(r[0].text.contains("已绑定"), "{}", r[0].text);

    // A member marked left cannot bind.
    let li = member_by_phone(&h.t, LI_LEFT).await;
    let r = h.text(&other, &format!("/start {}", li.bind_code)).await;
    assert!(r[0].text.contains("离任"), "{}", r[0].text);
    let li = member_by_phone(&h.t, LI_LEFT).await;
    assert_eq!(li.telegram_user_id, None);
    assert_eq!(li.status, MemberStatus::Left);

    // setMyCommands was called at start, deleteWebhook before polling.
    assert!(
        h.fake.commands().as_array().is_some_and(|c| c.len() == 9),
        "{}",
        h.fake.commands()
    );
    assert!(h.fake.webhook_deletions() >= 1);
    h.stop().await;
});

db_test!(bind_by_contact, |t: gridline_tests::TestDb| async move {
    let h = Harness::start(t).await;
    let ma = FakeUser::new(3101, "马东");

    // Someone else's contact card is not accepted.
    let before = h.fake.sent_to(ma.id).len();
    let update = raw_message(
        &ma,
        private_chat(&ma),
        10_000_001,
        serde_json::json!({"contact": {"phone_number": MA, "first_name": "马东", "user_id": 999}}),
    );
    let r = h.raw(ma.id, update).await;
    assert!(r[0].text.contains("本人"), "{}", r[0].text);
    assert_eq!(h.fake.sent_to(ma.id).len(), before + 1);
    assert_eq!(member_by_phone(&h.t, MA).await.telegram_user_id, None);

    // A number not on the roster.
    let r = h.contact(&ma, "+86 139 0000 0000").await;
    assert!(r[0].text.contains("花名册中没有"), "{}", r[0].text);

    // Their own number, as Telegram sends it (+86 …): bound.
    let r = h.contact(&ma, "+86 199-0000-3390").await;
    assert!(
        r[0].text.contains("绑定成功") && r[0].text.contains("马东"),
        "{}",
        r[0].text
    );
    assert_eq!(member_by_phone(&h.t, MA).await.telegram_user_id, Some(3101));

    // A left member's number is refused.
    let li = FakeUser::new(3102, "李芳");
    let r = h.contact(&li, LI_LEFT).await;
    assert!(r[0].text.contains("离任"), "{}", r[0].text);
    assert_eq!(member_by_phone(&h.t, LI_LEFT).await.telegram_user_id, None);

    // A phone already bound to another account is refused.
    let other = FakeUser::new(3103, "别人");
    let r = h.contact(&other, MA).await;
    assert!(r[0].text.contains("已绑定其他"), "{}", r[0].text);
    h.stop().await;
});
