//! The WeCom channel's protocol layer against the fake WeCom, over real HTTP on loopback:
//! the fake's crypto checked against WeCom's documented samples and against Gridline's own;
//! URL verification; forged, stale and foreign callbacks refused with nothing handed on; one
//! effect for a callback WeCom repeats; every input read; the API client's token refresh,
//! faults, text splitting, cards, media and menu.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridline_bot::wecom::api::{
    ApiError, ButtonCard, CardButton, MediaKind, RATE_LIMIT_BACKOFF, TEXT_LIMIT_BYTES, new_task_id,
};
use gridline_bot::wecom::callback::{self, CallbackSettings, HandlerError, InboundHandler};
use gridline_bot::wecom::inbound::{Inbound, WecomInbound};
use gridline_bot::wecom::menu::gridline_menu;
use gridline_bot::wecom::{CallbackCrypto, WecomConfig};
use gridline_shared::domain::Lang;
use gridline_tests::fake_wecom::{
    self, AES_KEY, AGENT_ID, CORP_ID, FakeWecom, Fault, TOKEN, WecomSide, cdata, query,
};

/// WeCom's documented sample (its callback library's samples and the documentation's
/// "加解密方案说明"; see `gridline_bot::wecom::crypto`'s tests): the settings, a URL
/// verification as WeCom sends it (percent-encoded) and a POSTed message.
mod doc {
    pub const TOKEN: &str = "QDG6eK";
    pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
    pub const RECEIVE_ID: &str = "wx5823bf96d3bd56c7";
    pub const VERIFY_QUERY: &str = "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D";
    pub const VERIFY_ECHO: &str = "1616140317555161061";
    pub const POST_SIGNATURE: &str = "477715d11cdb4164915debcba66cb864d751f3e6";
    pub const POST_TIMESTAMP: &str = "1409659813";
    pub const POST_NONCE: &str = "1372623149";
    pub const POST_ENCRYPT: &str = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
    pub const POST_PLAIN: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";
}

/// The test's stand-in for the conversation adapter: records what it is handed; can be slow
/// or fail its first calls.
#[derive(Clone, Default)]
struct Recorder {
    handled: Arc<Mutex<Vec<Inbound>>>,
    calls: Arc<AtomicUsize>,
    delay: Duration,
    fail_first: usize,
}

impl Recorder {
    fn slow(delay: Duration) -> Recorder {
        Recorder {
            delay,
            ..Default::default()
        }
    }
    fn failing_first(n: usize) -> Recorder {
        Recorder {
            fail_first: n,
            ..Default::default()
        }
    }
    fn handler(&self) -> Arc<dyn InboundHandler> {
        let me = self.clone();
        Arc::new(move |inbound: Inbound| {
            let me = me.clone();
            async move {
                let call = me.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(me.delay).await;
                if call < me.fail_first {
                    return Err(HandlerError::Retry("database unavailable".into()));
                }
                me.handled.lock().unwrap().push(inbound);
                Ok(())
            }
        })
    }
    fn handled(&self) -> Vec<Inbound> {
        self.handled.lock().unwrap().clone()
    }
}

/// Gridline's callback endpoint on loopback; returns its URL (kept running by the guard).
struct Endpoint {
    url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn endpoint(
    crypto: CallbackCrypto,
    settings: CallbackSettings,
    recorder: &Recorder,
) -> Endpoint {
    let router = callback::router(crypto, settings, recorder.handler(), callback::DEFAULT_PATH);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Endpoint {
        url: format!("http://{addr}{}", callback::DEFAULT_PATH),
        _shutdown: tx,
    }
}

/// The fake WeCom and Gridline's endpoint for its app, wired together.
async fn wired(recorder: &Recorder, settings: Option<CallbackSettings>) -> (FakeWecom, Endpoint) {
    let fake = FakeWecom::start().await;
    let config = fake.config();
    let settings = settings.unwrap_or_else(|| config.callback_settings());
    let ep = endpoint(config.crypto().unwrap(), settings, recorder).await;
    fake.set_callback_url(&ep.url);
    (fake, ep)
}

#[tokio::test]
async fn fake_crypto_agrees_with_the_documentation_and_with_gridline() {
    // The fake's own implementation reproduces the documented sample exactly.
    let side = WecomSide::new(doc::TOKEN, doc::AES_KEY, doc::RECEIVE_ID);
    assert_eq!(
        side.sign(doc::POST_TIMESTAMP, doc::POST_NONCE, doc::POST_ENCRYPT),
        doc::POST_SIGNATURE
    );
    assert_eq!(
        side.decrypt(doc::POST_ENCRYPT),
        Some((doc::POST_PLAIN.to_owned(), doc::RECEIVE_ID.to_owned()))
    );
    // The two implementations read each other, in both directions, for the fake's key too.
    for (token, key, receiver) in [
        (doc::TOKEN, doc::AES_KEY, doc::RECEIVE_ID),
        (TOKEN, AES_KEY, CORP_ID),
    ] {
        let side = WecomSide::new(token, key, receiver);
        let gridline = CallbackCrypto::new(token, key, receiver).unwrap();
        for msg in [
            "",
            "x",
            "<xml><Content><![CDATA[走访 3 户]]></Content></xml>",
            &"长".repeat(999),
        ] {
            let by_wecom = side.encrypt(msg, rand::random());
            assert_eq!(gridline.decrypt(&by_wecom).unwrap(), msg);
            let by_gridline = gridline.encrypt(msg);
            assert_eq!(
                side.decrypt(&by_gridline),
                Some((msg.to_owned(), receiver.to_owned()))
            );
            assert_eq!(
                side.sign("1", "2", &by_wecom),
                gridline.sign("1", "2", &by_wecom)
            );
        }
    }
}

#[tokio::test]
async fn url_verification_round_trip() {
    let recorder = Recorder::default();
    let (fake, _ep) = wired(&recorder, None).await;
    let (status, body, expected) = fake.verify_url().await;
    assert_eq!(status, 200);
    assert_eq!(body, expected);

    // The documentation's GET, byte for byte, against an endpoint with its settings.
    let doc_ep = endpoint(
        CallbackCrypto::new(doc::TOKEN, doc::AES_KEY, doc::RECEIVE_ID).unwrap(),
        CallbackSettings::new(218),
        &recorder,
    )
    .await;
    let doc_fake = FakeWecom::start().await;
    doc_fake.set_callback_url(&doc_ep.url);
    let (status, body) = doc_fake.get_raw(doc::VERIFY_QUERY).await;
    assert_eq!((status, body.as_str()), (200, doc::VERIFY_ECHO));

    // The signature is checked before anything is decrypted.
    let forged = doc::VERIFY_QUERY.replace("5c45ff5e", "5c45ff5f");
    let (status, body) = doc_fake.get_raw(&forged).await;
    assert_eq!(status, 403);
    assert!(!body.contains(doc::VERIFY_ECHO));
    // Anything encrypted with the key but signed with another token: refused too.
    let echostr = WecomSide::new("another-token", AES_KEY, CORP_ID).encrypt("secret", [0; 16]);
    let sig = WecomSide::new("another-token", AES_KEY, CORP_ID).sign("1", "2", &echostr);
    let (status, body) = fake
        .get_raw(&query(&[
            ("msg_signature", &sig),
            ("timestamp", "1"),
            ("nonce", "2"),
            ("echostr", &echostr),
        ]))
        .await;
    assert_eq!(status, 403);
    assert!(!body.contains("secret"));
    let (status, _) = fake.get_raw("timestamp=1&nonce=2").await;
    assert_eq!(status, 400);
    assert!(recorder.handled().is_empty());
}

#[tokio::test]
async fn forged_stale_and_foreign_callbacks_hand_nothing_on() {
    let recorder = Recorder::default();
    let (fake, _ep) = wired(&recorder, None).await;
    let good = fake.text("zhangsan", "路灯不亮");

    // A wrong signature.
    let forged_query = good.query.replacen("msg_signature=", "msg_signature=0", 1);
    assert_eq!(fake.post_raw(&forged_query, good.body.clone()).await.0, 403);
    // Signed with another token (someone who knows the key but not the token).
    let other = WecomSide::new("not-the-token", AES_KEY, CORP_ID);
    let encrypted = other.encrypt(&good.plain, [1; 16]);
    let ts = chrono::Utc::now().timestamp().to_string();
    let body = format!("<xml><Encrypt>{}</Encrypt></xml>", cdata(&encrypted));
    let q = query(&[
        ("msg_signature", &other.sign(&ts, "n", &encrypted)),
        ("timestamp", &ts),
        ("nonce", "n"),
    ]);
    assert_eq!(fake.post_raw(&q, body).await.0, 403);
    // Right token and key, but encrypted for another corp: decrypted, then refused.
    let foreign = WecomSide::new(TOKEN, AES_KEY, "ww0000000000000000");
    let encrypted = foreign.encrypt(&good.plain, [2; 16]);
    let body = format!("<xml><Encrypt>{}</Encrypt></xml>", cdata(&encrypted));
    let q = query(&[
        ("msg_signature", &foreign.sign(&ts, "n", &encrypted)),
        ("timestamp", &ts),
        ("nonce", "n"),
    ]);
    assert_eq!(fake.post_raw(&q, body).await.0, 400);
    // A genuine callback from two hours ago (a replay): refused.
    let side = fake.side();
    let encrypted = side.encrypt(&good.plain, [3; 16]);
    let old = (chrono::Utc::now().timestamp() - 7200).to_string();
    let body = format!("<xml><Encrypt>{}</Encrypt></xml>", cdata(&encrypted));
    let q = query(&[
        ("msg_signature", &side.sign(&old, "n", &encrypted)),
        ("timestamp", &old),
        ("nonce", "n"),
    ]);
    assert_eq!(fake.post_raw(&q, body).await.0, 403);
    // Garbage bodies and missing parameters.
    assert_eq!(
        fake.post_raw(&good.query, "<xml><Encrypt>".into()).await.0,
        400
    );
    assert_eq!(
        fake.post_raw(&good.query, "not xml at all".into()).await.0,
        400
    );
    assert_eq!(fake.post_raw("timestamp=1", good.body.clone()).await.0, 400);
    let huge = format!(
        "<xml><Encrypt>{}</Encrypt></xml>",
        "A".repeat(callback::MAX_BODY_BYTES)
    );
    assert_eq!(fake.post_raw(&good.query, huge).await.0, 413);
    // A message for another app of the corp: answered, not handled.
    let plain = good.plain.replace(
        &format!("<AgentID>{AGENT_ID}</AgentID>"),
        "<AgentID>1000099</AgentID>",
    );
    assert_ne!(plain, good.plain);
    assert_eq!(fake.deliver(&fake.prepare(&plain, None)).await.0, 200);

    assert!(recorder.handled().is_empty(), "{:?}", recorder.handled());
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 0);

    // The genuine one goes through.
    assert_eq!(fake.deliver(&good).await, (200, String::new()));
    assert_eq!(recorder.handled().len(), 1);
}

#[tokio::test]
async fn the_same_msgid_three_times_is_handled_once() {
    // One after another, as WeCom retries.
    let recorder = Recorder::default();
    let (fake, _ep) = wired(&recorder, None).await;
    let cb = fake.text("lisi", "2 号楼楼道堆放杂物");
    for _ in 0..3 {
        assert_eq!(fake.deliver(&cb).await.0, 200);
    }
    // A retry re-encrypted and re-signed (other nonce, other random bytes) is the same message.
    let again = fake.prepare(&cb.plain, cb.msg_id.clone());
    assert_ne!(again.body, cb.body);
    assert_eq!(fake.deliver(&again).await.0, 200);
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1);
    let handled = recorder.handled();
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].msg_id, cb.msg_id);
    // Another message is another message.
    fake.deliver(&fake.text("lisi", "2 号楼楼道堆放杂物")).await;
    assert_eq!(recorder.handled().len(), 2);

    // Three at once while the handler is busy: one run, every delivery answered 200.
    let recorder = Recorder::slow(Duration::from_millis(300));
    let (fake, _ep) = wired(&recorder, None).await;
    let cb = fake.menu_click("wangwu", "incident");
    let (a, b, c) = tokio::join!(fake.deliver(&cb), fake.deliver(&cb), fake.deliver(&cb));
    assert_eq!((a.0, b.0, c.0), (200, 200, 200));
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1);
    assert_eq!(recorder.handled().len(), 1);
}

#[tokio::test]
async fn a_slow_handler_is_answered_in_time_and_a_failed_one_is_retried() {
    // Slower than the answer window: answered 503 without waiting for it, the handler keeps
    // going, and WeCom's retries join it instead of starting it again.
    let recorder = Recorder::slow(Duration::from_secs(3));
    let settings = CallbackSettings {
        answer_within: Duration::from_millis(200),
        ..CallbackSettings::new(AGENT_ID)
    };
    let (fake, _ep) = wired(&recorder, Some(settings)).await;
    let cb = fake.text("zhaoliu", "已走访");
    let started = std::time::Instant::now();
    assert_eq!(fake.deliver(&cb).await.0, 503);
    assert_eq!(fake.deliver(&cb).await.0, 503);
    assert!(
        recorder.handled().is_empty(),
        "answered before the handler finished"
    );
    while recorder.handled().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the handler never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.deliver(&cb).await.0, 200);
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 1);
    assert_eq!(recorder.handled().len(), 1);

    // A handler that fails is forgotten: WeCom's retry runs it again, and then once only.
    let recorder = Recorder::failing_first(1);
    let (fake, _ep) = wired(&recorder, None).await;
    let cb = fake.text("zhaoliu", "已走访");
    assert_eq!(fake.deliver(&cb).await.0, 500);
    assert!(recorder.handled().is_empty());
    assert_eq!(fake.deliver(&cb).await.0, 200);
    assert_eq!(fake.deliver(&cb).await.0, 200);
    assert_eq!(recorder.calls.load(Ordering::SeqCst), 2);
    assert_eq!(recorder.handled().len(), 1);
}

#[tokio::test]
async fn every_input_arrives_as_wecom_inbound() {
    let recorder = Recorder::default();
    let (fake, _ep) = wired(&recorder, None).await;
    let user = "ZhangSan";
    let jpeg = b"\xFF\xD8\xFF\xE0fake jpeg bytes".to_vec();
    for cb in [
        fake.text(user, "楼道里有 <杂物> & 电动车]]>充电"),
        fake.image(user, &jpeg),
        fake.voice(user, b"#!AMR\nvoice"),
        fake.location(user, 30.587, 103.522, "大邑县晋原街道"),
        fake.menu_click(user, "visit"),
        fake.card_press(user, "task-42-abc", "task:accept:42"),
        fake.enter_agent(user),
    ] {
        assert_eq!(fake.deliver(&cb).await.0, 200);
    }
    let handled = recorder.handled();
    assert!(
        handled
            .iter()
            .all(|i| i.user_id == user && i.corp_id == CORP_ID)
    );
    assert!(handled.iter().all(|i| i.agent_id == Some(AGENT_ID)));
    let messages: Vec<WecomInbound> = handled.into_iter().map(|i| i.message).collect();
    assert_eq!(
        messages[0],
        WecomInbound::Text {
            content: "楼道里有 <杂物> & 电动车]]>充电".into()
        }
    );
    let WecomInbound::Image { media_id, .. } = &messages[1] else {
        panic!("{:?}", messages[1])
    };
    // The photo's bytes come from media/get.
    let client = fake.config().client().unwrap();
    let media = client.get_media(media_id, 1024).await.unwrap();
    assert_eq!(media.bytes, jpeg);
    assert_eq!(media.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(media.file_name.as_deref(), Some("photo.jpg"));
    assert!(matches!(&messages[2], WecomInbound::Voice { format: Some(f), .. } if f == "amr"));
    assert_eq!(
        messages[3],
        WecomInbound::Location {
            latitude: 30.587,
            longitude: 103.522,
            scale: Some(15),
            label: Some("大邑县晋原街道".into())
        }
    );
    assert_eq!(
        messages[4],
        WecomInbound::MenuClick {
            key: "visit".into()
        }
    );
    let WecomInbound::CardPress {
        task_id,
        key,
        response_code,
        ..
    } = &messages[5]
    else {
        panic!("{:?}", messages[5])
    };
    assert_eq!(
        (task_id.as_str(), key.as_str()),
        ("task-42-abc", "task:accept:42")
    );
    assert!(
        response_code
            .as_deref()
            .is_some_and(|c| c.starts_with("RC-PRESS-"))
    );
    assert_eq!(messages[6], WecomInbound::EnterAgent);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_message_still_arrives() {
    let fake = FakeWecom::start().await;
    let client = fake.config().client().unwrap();
    client.send_text("zhangsan", "第一条").await.unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    client.send_text("zhangsan", "第二条").await.unwrap();
    assert_eq!(fake.tokens_issued(), 1, "the token is cached");

    // Expired while cached: eight sends at once get 42001, one new token serves them all.
    fake.expire_tokens();
    let sends = (0..8).map(|i| {
        let client = client.clone();
        async move { client.send_text("zhangsan", &format!("并发 {i}")).await }
    });
    for result in futures_util::future::join_all(sends).await {
        assert_eq!(result.unwrap().len(), 1);
    }
    assert_eq!(fake.tokens_issued(), 2, "single flight: one refresh");
    assert_eq!(client.token_fetches(), 2);
    assert_eq!(fake.sent_to("zhangsan").len(), 10);
    let mut texts: Vec<String> = fake
        .sent_to("zhangsan")
        .into_iter()
        .map(|m| m.text)
        .collect();
    texts.sort();
    assert!(texts.contains(&"并发 7".to_owned()));

    // A token WeCom no longer knows (40014) is replaced the same way, for any API.
    fake.revoke_tokens();
    client.create_menu(&gridline_menu(Lang::Zh)).await.unwrap();
    assert_eq!(fake.tokens_issued(), 3);
    assert_eq!(fake.menus().len(), 1);

    // A token that expires by itself is renewed before WeCom refuses it.
    fake.set_token_ttl(Duration::from_secs(2));
    fake.expire_tokens();
    client.send_text("lisi", "a").await.unwrap();
    let issued = fake.tokens_issued();
    let calls = fake.calls("message/send");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    client.send_text("lisi", "b").await.unwrap();
    assert_eq!(fake.tokens_issued(), issued + 1);
    assert_eq!(
        fake.calls("message/send"),
        calls + 1,
        "no call refused on the way"
    );
}

#[tokio::test]
async fn limits_and_outages_surface_as_typed_errors() {
    let fake = FakeWecom::start().await;
    let client = fake.config().client().unwrap();

    fake.fail_next("message/send", [Fault::Errcode(45009)]);
    let err = client.send_text("zhangsan", "通知").await.unwrap_err();
    assert_eq!(
        err.error,
        ApiError::RateLimited {
            errcode: 45009,
            backoff: RATE_LIMIT_BACKOFF
        }
    );
    assert!(err.delivered.is_empty());
    assert!(err.error.is_retryable());
    assert!(fake.sent().is_empty(), "nothing delivered under the limit");
    // Backing off and sending again works: nothing is lost.
    client.send_text("zhangsan", "通知").await.unwrap();
    assert_eq!(fake.sent_to("zhangsan").len(), 1);

    fake.fail_next("message/send", [Fault::Errcode(-1), Fault::Http(502)]);
    assert!(matches!(
        client.send_text("zhangsan", "x").await.unwrap_err().error,
        ApiError::Transient(_)
    ));
    assert!(matches!(
        client.send_text("zhangsan", "x").await.unwrap_err().error,
        ApiError::Transient(_)
    ));

    fake.forget_user("left-the-county");
    let err = client.send_text("left-the-county", "x").await.unwrap_err();
    assert_eq!(err.error, ApiError::InvalidUser { errcode: 81013 });
    assert!(!err.error.is_retryable());

    fake.fail_next("message/send", [Fault::Errcode(60020)]);
    assert!(matches!(
        client.send_text("zhangsan", "x").await.unwrap_err().error,
        ApiError::Permanent { errcode: 60020, .. }
    ));

    // A wrong secret is the settings' fault: permanent, and no message goes out.
    let mut config = fake.config();
    config.secret = "wrong".into();
    let wrong = config.client().unwrap();
    assert!(matches!(
        wrong.send_text("zhangsan", "x").await.unwrap_err().error,
        ApiError::Permanent { errcode: 40001, .. }
    ));

    // WeCom unreachable: transient (nothing was sent).
    let mut config = fake.config();
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.api_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = config.client().unwrap();
    assert!(matches!(
        unreachable
            .send_text("zhangsan", "x")
            .await
            .unwrap_err()
            .error,
        ApiError::Transient(_)
    ));

    // The fake keeps WeCom's per-member limit as WeCom does: the 31st message in a minute is
    // accepted and silently dropped (the delivery worker must pace WeCom members itself).
    for i in 0..fake_wecom::PER_MEMBER_PER_MINUTE {
        client.send_text("pace", &format!("{i}")).await.unwrap();
    }
    assert_eq!(fake.per_member_violations(), 0);
    client.send_text("pace", "one too many").await.unwrap();
    assert_eq!(fake.per_member_violations(), 1);
    assert_eq!(
        fake.sent_to("pace").len(),
        fake_wecom::PER_MEMBER_PER_MINUTE
    );
}

#[tokio::test]
async fn long_text_is_split_within_wecoms_limit() {
    let fake = FakeWecom::start().await;
    let client = fake.config().client().unwrap();
    let lines: Vec<String> = (1..=120)
        .map(|i| format!("#{i} 东街社区 3 组 张家 走访：家中 4 人，诉求已登记"))
        .collect();
    let text = lines.join("\n");
    assert!(text.len() > 2 * TEXT_LIMIT_BYTES);
    let sent = client.send_text("zhangsan", &text).await.unwrap();
    let received = fake.sent_to("zhangsan");
    assert_eq!(received.len(), sent.len());
    assert!(received.len() >= 3);
    assert_eq!(fake.length_violations(), 0);
    assert!(received.iter().all(|m| m.text.len() <= TEXT_LIMIT_BYTES));
    let joined: Vec<String> = received.into_iter().map(|m| m.text).collect();
    assert_eq!(joined.join("\n"), text);

    // A part failing midway says what was delivered.
    fake.fail_next(
        "message/send",
        [Fault::Delay(Duration::ZERO), Fault::Errcode(45009)],
    );
    let err = client.send_text("lisi", &text).await.unwrap_err();
    assert_eq!(err.delivered.len(), 1);
    assert_eq!(fake.sent_to("lisi").len(), 1);
}

#[tokio::test]
async fn cards_are_sent_pressed_and_updated() {
    let recorder = Recorder::default();
    let (fake, _ep) = wired(&recorder, None).await;
    let client = fake.config().client().unwrap();
    let card = ButtonCard {
        task_id: new_task_id("r42"),
        title: "#42 路灯不亮（东街社区）".into(),
        description: Some("派单至 东街社区 3 组".into()),
        text: Some("请接单或退单".into()),
        buttons: vec![
            CardButton::new("接单", "task:accept:42"),
            CardButton::new("退单", "task:return:42"),
        ],
    };
    let sent = client.send_card("zhangsan", &card).await.unwrap();
    assert!(sent.response_code.is_some());
    let on_wecom = fake.sent_to("zhangsan");
    assert_eq!(on_wecom.len(), 1);
    assert_eq!(on_wecom[0].msgtype, "template_card");
    assert_eq!(on_wecom[0].card_task_id(), Some(card.task_id.as_str()));
    assert_eq!(
        on_wecom[0].card_buttons(),
        [
            ("接单".to_owned(), "task:accept:42".to_owned()),
            ("退单".to_owned(), "task:return:42".to_owned())
        ]
    );
    // The same task id twice is refused by WeCom; Gridline checks its own limits first.
    assert!(matches!(
        client.send_card("zhangsan", &card).await,
        Err(ApiError::Permanent { .. })
    ));
    let mut seven = card.clone();
    seven.task_id = new_task_id("r42");
    seven.buttons = (0..7)
        .map(|i| CardButton::new(format!("{i}"), format!("k{i}")))
        .collect();
    assert!(matches!(
        client.send_card("zhangsan", &seven).await,
        Err(ApiError::Invalid(_))
    ));
    assert_eq!(
        fake.calls("message/send"),
        2,
        "the 7-button card never went out"
    );

    // The member presses 接单; the press's response code greys the card out, once.
    fake.deliver(&fake.card_press("zhangsan", &card.task_id, "task:accept:42"))
        .await;
    let handled = recorder.handled();
    let WecomInbound::CardPress {
        task_id,
        key,
        response_code: Some(code),
        ..
    } = &handled[0].message
    else {
        panic!("{handled:?}")
    };
    assert_eq!(
        (task_id.as_str(), key.as_str()),
        (card.task_id.as_str(), "task:accept:42")
    );
    client
        .update_card_button("zhangsan", code, "已接单")
        .await
        .unwrap();
    assert_eq!(
        fake.card_updates()[0].replace_name.as_deref(),
        Some("已接单")
    );
    assert_eq!(fake.card_updates()[0].user_ids, ["zhangsan"]);
    assert!(
        client
            .update_card_button("zhangsan", code, "已接单")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn media_and_menu() {
    let fake = FakeWecom::start().await;
    let client = fake.config().client().unwrap();

    // media/get: a size limit (nothing kept beyond it), an unknown id.
    let big = fake.store_media(&vec![7u8; 50_000], "image/jpeg", "big.jpg");
    assert_eq!(
        client.get_media(&big, 50_000).await.unwrap().bytes.len(),
        50_000
    );
    assert_eq!(
        client.get_media(&big, 49_999).await.unwrap_err(),
        ApiError::TooLarge { limit: 49_999 }
    );
    assert!(matches!(
        client.get_media("no-such-media", 1000).await.unwrap_err(),
        ApiError::Permanent { errcode: 40007, .. }
    ));
    fake.fail_next("media/get", [Fault::Http(503)]);
    assert!(matches!(
        client.get_media(&big, 50_000).await.unwrap_err(),
        ApiError::Transient(_)
    ));

    // media/upload, then the image sent by its media id.
    let png = b"\x89PNG\r\n\x1a\nnotice attachment".to_vec();
    let media_id = client
        .upload_media(MediaKind::Image, "通知.png", "image/png", png.clone())
        .await
        .unwrap();
    let upload = &fake.uploads()[0];
    assert_eq!(upload.media_id, media_id);
    assert_eq!(upload.bytes, png);
    assert_eq!(upload.kind, "image");
    assert_eq!(upload.content_type.as_deref(), Some("image/png"));
    assert_eq!(upload.file_name.as_deref(), Some("通知.png"));
    client.send_image("zhangsan", &media_id).await.unwrap();
    assert_eq!(
        fake.sent_to("zhangsan")[0].media_id(),
        Some(media_id.as_str())
    );
    assert!(matches!(
        client
            .upload_media(MediaKind::Image, "x.png", "image/png", vec![1, 2])
            .await,
        Err(ApiError::Invalid(_))
    ));
    // The token refresh works for multipart bodies too (the form is built again).
    fake.expire_tokens();
    client
        .upload_media(
            MediaKind::File,
            "台账.xlsx",
            "application/octet-stream",
            vec![0; 64],
        )
        .await
        .unwrap();
    assert_eq!(fake.uploads().len(), 2);

    // The menu.
    client.create_menu(&gridline_menu(Lang::Zh)).await.unwrap();
    let menus = fake.menus();
    assert_eq!(menus.len(), 1);
    assert_eq!(
        menus[0],
        serde_json::to_value(gridline_menu(Lang::Zh)).unwrap()
    );
    assert_eq!(menus[0]["button"][0]["key"], "visit");
}

#[tokio::test]
async fn wecom_settings_are_all_or_nothing_and_validated() {
    use gridline_admin::config::Settings;
    let dir = tempfile::tempdir().unwrap();
    let write = |body: &str| {
        let path = dir.path().join("gridline.toml");
        std::fs::write(&path, body).unwrap();
        path
    };
    let full = format!(
        "wecom_corp_id = \"{CORP_ID}\"\nwecom_agent_id = {AGENT_ID}\nwecom_secret = \"s\"\n\
         wecom_token = \"{TOKEN}\"\nwecom_aes_key = \"{AES_KEY}\"\n"
    );
    let settings = Settings::load(Some(&write(&full))).unwrap();
    let config: WecomConfig = settings.wecom().unwrap().unwrap();
    assert_eq!(config.corp_id, CORP_ID);
    assert_eq!(config.api_url, "https://qyapi.weixin.qq.com");
    assert!(
        Settings::load(Some(&write("county_name = \"大邑县\"\n")))
            .unwrap()
            .wecom()
            .unwrap()
            .is_none()
    );
    let missing = full.replace(&format!("wecom_token = \"{TOKEN}\"\n"), "");
    let err = Settings::load(Some(&write(&missing)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("wecom_token"), "{err}");
    let short_key = full.replace(AES_KEY, &AES_KEY[..42]);
    let err = Settings::load(Some(&write(&short_key)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("wecom_aes_key"), "{err}");
    // The app's secrets are never printed with its settings.
    let shown = format!("{config:?}");
    assert!(
        !shown.contains(AES_KEY) && !shown.contains(TOKEN),
        "{shown}"
    );
}
