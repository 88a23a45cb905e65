//! Shared set-up for the bot's end-to-end tests: a roster, the fake Telegram server, the real
//! bot (teloxide client, own long-polling loop) on the test database, and helpers that act as
//! a user and wait until the bot has handled what they did.

use std::time::Duration;

use gridline_bot::{BotConfig, BotRuntime};
use gridline_shared::domain::{MemberStatus, StaffRole};
use gridline_shared::entity::{attachment, member, report};
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::{areas, import, roster, staff};
use gridline_tests::TestDb;
use gridline_tests::fake_telegram::{FakeTelegram, FakeUser, SentMessage, TOKEN};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};

pub const HE: &str = "19900000563";
pub const MA: &str = "19900003390";
pub const LI_LEFT: &str = "19900004411";

/// A JPEG-ish payload for photos.
pub fn jpeg(tag: &str) -> Vec<u8> {
    let mut v = b"\xFF\xD8\xFF\xE0 fake jpeg ".to_vec();
    v.extend_from_slice(tag.as_bytes());
    v
}

pub struct Harness {
    pub t: TestDb,
    pub fake: FakeTelegram,
    bot: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    worker: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    pub max_file_bytes: u64,
}

impl Harness {
    /// A roster of three (the third has left), the fake server and the bot polling it.
    pub async fn start(t: TestDb) -> Harness {
        let root = areas::root_scope(t.db.conn()).await.unwrap();
        let csv = format!(
            "镇街,村社区,网格,微网格,微网格长,手机号\n\
             晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,{HE}\n\
             晋原街道,长乐社区,第1网格,第1网格-2号微网格,马东,{MA}\n\
             晋原街道,长乐社区,第2网格,第2网格-1号微网格,李芳,{LI_LEFT}\n"
        );
        import::import_roster(
            &t.db,
            &root,
            roster::parse_roster(csv.as_bytes()).unwrap(),
            |_, _| {},
        )
        .await
        .unwrap();
        let left = member_by_phone(&t, LI_LEFT).await;
        let mut a: member::ActiveModel = left.into();
        a.status = Set(MemberStatus::Left);
        a.update(t.db.conn()).await.unwrap();
        let fake = FakeTelegram::start().await;
        let mut h = Harness {
            t,
            fake,
            bot: None,
            worker: None,
            max_file_bytes: 1024 * 1024,
        };
        h.start_bot();
        h
    }

    pub fn runtime(&self) -> BotRuntime {
        let bot = gridline_bot::make_bot(TOKEN, Some(&self.fake.api_url())).unwrap();
        BotRuntime::new(
            self.t.db.clone(),
            bot,
            BotConfig {
                max_file_bytes: self.max_file_bytes,
                poll_timeout: 1,
            },
        )
    }

    /// Starts (another) polling task on the same database.
    pub fn start_bot(&mut self) {
        assert!(self.bot.is_none(), "bot already running");
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(gridline_bot::polling::run(self.runtime(), async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        self.bot = Some((tx, task));
    }

    /// Stops the polling task (as a process stopping would), waiting for it to end.
    pub async fn stop_bot(&mut self) {
        if let Some((tx, task)) = self.bot.take() {
            let _ = tx.send(true);
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("the bot did not stop")
                .unwrap();
        }
    }

    /// Kills the polling task at once (a crash: whatever was in flight is cut off).
    pub fn kill_bot(&mut self) {
        if let Some((_, task)) = self.bot.take() {
            task.abort();
        }
    }

    /// Runs the delivery worker (queued messages: report updates, task cards).
    pub fn start_worker(&mut self) {
        let bot = gridline_bot::make_bot(TOKEN, Some(&self.fake.api_url())).unwrap();
        let worker = gridline_shared::delivery::Worker::new(
            self.t.db.clone(),
            gridline_bot::transport::TelegramTransport::new(bot),
            "bot-test-worker",
        );
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(worker.run(async move {
            let _ = rx.wait_for(|s| *s).await;
        }));
        self.worker = Some((tx, task));
    }

    pub async fn stop(mut self) {
        self.stop_bot().await;
        if let Some((tx, task)) = self.worker.take() {
            let _ = tx.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Waits until every update pushed so far was handled and confirmed (the bot confirms a
    /// batch with its next getUpdates, after the batch's replies were sent).
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.fake.pending_updates() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not handle the updates in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Pushes an update (already queued by the fake's helpers), waits until it is handled, and
    /// returns what the bot sent to `chat` meanwhile (new messages only).
    pub async fn new_messages(&self, chat: i64, before: usize) -> Vec<SentMessage> {
        self.settle().await;
        self.fake.sent_to(chat).into_iter().skip(before).collect()
    }

    fn count(&self, chat: i64) -> usize {
        self.fake.sent_to(chat).len()
    }

    pub async fn text(&self, u: &FakeUser, text: &str) -> Vec<SentMessage> {
        let before = self.count(u.id);
        self.fake.send_text(u, text);
        self.new_messages(u.id, before).await
    }

    pub async fn photo(
        &self,
        u: &FakeUser,
        bytes: &[u8],
        caption: Option<&str>,
    ) -> Vec<SentMessage> {
        let before = self.count(u.id);
        self.fake.send_photo(u, bytes, caption);
        self.new_messages(u.id, before).await
    }

    pub async fn location(&self, u: &FakeUser, lat: f64, lon: f64) -> Vec<SentMessage> {
        let before = self.count(u.id);
        self.fake.send_location(u, lat, lon);
        self.new_messages(u.id, before).await
    }

    pub async fn contact(&self, u: &FakeUser, phone: &str) -> Vec<SentMessage> {
        let before = self.count(u.id);
        self.fake.send_contact(u, phone);
        self.new_messages(u.id, before).await
    }

    pub async fn reply(&self, u: &FakeUser, to: i64, text: &str) -> Vec<SentMessage> {
        let before = self.count(u.id);
        self.fake.reply_text(u, to, text);
        self.new_messages(u.id, before).await
    }

    /// Presses the button whose callback data starts with `prefix` on the latest bot message
    /// that has one; returns new messages.
    pub async fn press(&self, u: &FakeUser, prefix: &str) -> Vec<SentMessage> {
        let msg = self
            .fake
            .sent_to(u.id)
            .into_iter()
            .rev()
            .find(|m| m.button_data().iter().any(|d| d.starts_with(prefix)))
            .unwrap_or_else(|| panic!("no button {prefix:?} in chat {}", u.id));
        let data = msg
            .button_data()
            .into_iter()
            .find(|d| d.starts_with(prefix))
            .unwrap();
        self.press_exact(u, msg.message_id, &data).await
    }

    /// Presses the button labelled `label` (exactly) on the latest bot message that has it.
    pub async fn press_label(&self, u: &FakeUser, label: &str) -> Vec<SentMessage> {
        let msg = self
            .fake
            .sent_to(u.id)
            .into_iter()
            .rev()
            .find(|m| button(m, label).is_some())
            .unwrap_or_else(|| panic!("no button labelled {label:?} in chat {}", u.id));
        let data = button(&msg, label).unwrap();
        self.press_exact(u, msg.message_id, &data).await
    }

    pub async fn press_exact(&self, u: &FakeUser, message_id: i64, data: &str) -> Vec<SentMessage> {
        let before = self.count(u.id);
        self.fake.press_button(u, message_id, data);
        self.new_messages(u.id, before).await
    }

    /// Pushes a raw update (its id is assigned by the fake) and waits until it is handled.
    pub async fn raw(&self, chat: i64, update: Value) -> Vec<SentMessage> {
        let before = self.count(chat);
        self.fake.push_update(update);
        self.new_messages(chat, before).await
    }

    /// Binds `u` to the member with `phone` by code.
    pub async fn bind(&self, u: &FakeUser, phone: &str) -> member::Model {
        let m = member_by_phone(&self.t, phone).await;
        let replies = self.text(u, &format!("/start {}", m.bind_code)).await;
        assert!(
            replies.iter().any(|r| r.text.contains("绑定成功")),
            "{replies:#?}"
        );
        member_by_phone(&self.t, phone).await
    }

    /// A secretary of the community, for staff actions.
    pub async fn secretary(&self) -> StaffActor {
        let community = areas::resolve_names(self.t.db.conn(), "晋原街道/长乐社区")
            .await
            .unwrap();
        let s = staff::create(
            self.t.db.conn(),
            "changle",
            "long enough password",
            StaffRole::Secretary,
            &community,
        )
        .await
        .unwrap();
        StaffActor::of(&s)
    }
}

pub async fn member_by_phone(t: &TestDb, phone: &str) -> member::Model {
    member::Entity::find()
        .filter(member::Column::Phone.eq(phone))
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap()
}

pub async fn reports(t: &TestDb) -> Vec<report::Model> {
    report::Entity::find()
        .order_by_asc(report::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
}

/// The report's files, oldest first.
pub async fn attachments(t: &TestDb, report_id: i64) -> Vec<attachment::Model> {
    attachment::Entity::find()
        .filter(attachment::Column::ReportId.eq(report_id))
        .order_by_asc(attachment::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
}

/// The callback data of the inline button labelled `label`.
pub fn button(m: &SentMessage, label: &str) -> Option<String> {
    m.reply_markup["inline_keyboard"]
        .as_array()?
        .iter()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .find(|b| b["text"].as_str() == Some(label))
        .and_then(|b| b["callback_data"].as_str().map(str::to_owned))
}

/// The texts of messages, for assertion messages.
pub fn texts(msgs: &[SentMessage]) -> Vec<String> {
    msgs.iter().map(|m| m.text.clone()).collect()
}

pub fn last(msgs: &[SentMessage]) -> &SentMessage {
    msgs.last().expect("the bot answered nothing")
}

/// A user message in a raw update (for kinds the fake has no helper for).
pub fn raw_message(user: &FakeUser, chat: Value, message_id: i64, fields: Value) -> Value {
    let mut msg = json!({
        "message_id": message_id,
        "date": chrono::Utc::now().timestamp(),
        "chat": chat,
        "from": {"id": user.id, "is_bot": false, "first_name": user.first_name, "language_code": "zh-hans"},
    });
    if let (Some(m), Some(f)) = (msg.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({ "message": msg })
}

pub fn private_chat(user: &FakeUser) -> Value {
    json!({"id": user.id, "type": "private", "first_name": user.first_name})
}
