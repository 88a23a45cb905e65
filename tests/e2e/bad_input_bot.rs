//! The bad-input matrix of issue 7, bot side, table-driven: every awkward text (limits, emoji,
//! zero-width and right-to-left characters, NUL and control characters, lone combining marks,
//! HTML, SQL, formulas) in every free-text field of every report kind and in follow-up
//! replies, through the fake Telegram server and the real teloxide client; then the stored
//! reports as the panel shows and exports them. Malformed and unknown updates in long polling
//! and in webhook mode, and "photos" that are too big, not images, empty or not downloadable.
//!
//! Each row checks: a clear answer; no panic (the bot goes on serving, and no panic was raised
//! outside the tests' own code); nothing lost (the stored value equals the input, trimmed and
//! without control characters, or nothing changed when refused); nothing else touched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use gridline_shared::bot_store;
use gridline_shared::domain::{ReportKind, StaffRole};
use gridline_shared::entity::{report, report_event};
use gridline_shared::{areas, lifecycle, reports as core_reports};
use gridline_tests::db_test;
use gridline_tests::fake_telegram::{FakeUser, Fault};
use gridline_tests::panel::{make_staff, spawn_app};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::bot_support::*;

// ---------------------------------------------------------------------------------------------
// Panics anywhere in the product (not in the tests' own assertions)

static PANICS: AtomicUsize = AtomicUsize::new(0);
static PANIC_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs (once) a panic hook that counts panics raised outside `tests/` — the product's —
/// and keeps the default report. Returns the count so far.
pub fn product_panics() -> usize {
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info
                .location()
                .map(|l| l.file().to_owned())
                .unwrap_or_default();
            let ours = file.contains("tests/e2e") || file.contains("tests/src");
            if !ours {
                PANICS.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut log) = PANIC_LOG.lock() {
                    log.push(format!("{info}"));
                }
            }
            previous(info);
        }));
    });
    PANICS.load(Ordering::SeqCst)
}

/// Fails if the product panicked since `before` (a count from [`product_panics`]).
pub fn assert_no_product_panic(before: usize, what: &str) {
    let now = product_panics();
    assert_eq!(
        now,
        before,
        "{what}: the product panicked: {:?}",
        PANIC_LOG.lock().map(|l| l.clone()).unwrap_or_default()
    );
}

// ---------------------------------------------------------------------------------------------
// The rows

/// One awkward input.
pub struct Payload {
    pub name: &'static str,
    pub text: String,
}

fn p(name: &'static str, text: impl Into<String>) -> Payload {
    Payload {
        name,
        text: text.into(),
    }
}

/// Every awkward text of the matrix (the same list drives the panel side).
pub fn payloads() -> Vec<Payload> {
    vec![
        p(
            "emoji: ZWJ family, flags, skin tone, keycap",
            "👨‍👩‍👧‍👦 家庭 🇨🇳🇺🇳 👍🏽 1️⃣ 🏳️‍🌈",
        ),
        p(
            "zero-width joiner, space, word joiner, BOM inside",
            "路灯\u{200B}坏了\u{200D}a\u{2060}b\u{FEFF}c",
        ),
        p(
            "right-to-left override and RTL scripts",
            "\u{202E}gnp.exe\u{202C} עברית مرحبا \u{2067}x\u{2069}",
        ),
        p(
            "NUL and control characters",
            "坏\u{0}了\u{1}\u{7}\u{1b}[31m红\u{7f}\u{85}字\u{9f}end",
        ),
        p("lone combining marks", "\u{0301}\u{0308}\u{20DD} a\u{0336}"),
        p(
            "HTML",
            "<script>alert('x')</script> &amp; <b>粗</b> \"引号\" <img src=x onerror=alert(1)>",
        ),
        p(
            "SQL",
            "'; DROP TABLE reports; -- Robert'); DROP TABLE members;-- %_\\ \"",
        ),
        p(
            "spreadsheet formula",
            "=HYPERLINK(\"http://evil.example\",\"点我\")",
        ),
        p("lines and tabs kept", "第一行\n第二行\t制表\n\n末行"),
        p("blank: zero-width only", "\u{200B}\u{200D} \u{FEFF}"),
        p("blank: controls only", "\u{0}\u{1}\u{2}"),
        p(
            "500 astral characters (short-field limit)",
            "𠀀".repeat(500),
        ),
        p(
            "501 characters (over the short-field limit)",
            "字".repeat(501),
        ),
        p(
            "4,000 astral characters (description limit)",
            "𠀀".repeat(4000),
        ),
        p("exactly 4,096 characters", "长".repeat(4096)),
        p("4,097 characters", "长".repeat(4097)),
        p("20,000 characters", "超".repeat(20_000)),
    ]
}

/// The characters a text field drops: C0/C1 control characters other than tab and newline.
pub fn is_dropped(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\t' | '\r')
}

fn is_blank(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
}

/// What a free-text field of at most `max` characters keeps of `input`, or the refusal the
/// user must see.
pub fn expected(input: &str, max: usize) -> Result<String, &'static str> {
    let cleaned: String = input.chars().filter(|c| !is_dropped(*c)).collect();
    let t = cleaned.trim();
    if is_blank(t) {
        return Err("内容是空的");
    }
    if t.chars().count() > max {
        return Err("内容太长");
    }
    Ok(t.to_owned())
}

const DESCRIPTION_MAX: usize = 4000;
const SHORT_MAX: usize = 500;
const NOTE_MAX: usize = 4000;
const FALLBACK: &str = "正常内容";

/// Sends `text` at a free-text step. Accepted: returns what must be stored. Refused: checks
/// the clear answer and that the question is asked again, then sends a plain fallback.
async fn answer(h: &Harness, u: &FakeUser, text: &str, max: usize, row: &str) -> String {
    let r = h.text(u, text).await;
    for m in &r {
        assert!(m.text.chars().count() <= 4096, "{row}: reply over 4096");
    }
    match expected(text, max) {
        Ok(v) => {
            assert!(
                !r.iter()
                    .any(|m| m.text.contains("内容太长") || m.text.contains("内容是空的")),
                "{row}: accepted text was refused: {:?}",
                texts(&r)
            );
            v
        }
        Err(why) => {
            assert!(
                r.iter().any(|m| m.text.contains(why)),
                "{row}: expected {why:?}, got {:?}",
                texts(&r)
            );
            if why == "内容太长" {
                let n = text.chars().filter(|c| !is_dropped(*c)).count();
                assert!(
                    r.iter().any(|m| m.text.contains(&n.to_string())),
                    "{row}: the length is named: {:?}",
                    texts(&r)
                );
            }
            h.text(u, FALLBACK).await;
            FALLBACK.to_owned()
        }
    }
}

async fn submit(h: &Harness, u: &FakeUser, row: &str) -> report::Model {
    let before = reports(&h.t).await.len();
    let r = h.press_label(u, "✅ 提交").await;
    let all = reports(&h.t).await;
    assert_eq!(all.len(), before + 1, "{row}: filed: {:?}", texts(&r));
    let rep = all.last().unwrap().clone();
    assert!(
        r.iter().any(|m| m.text.contains(&format!("#{}", rep.id))),
        "{row}: receipt {:?}",
        texts(&r)
    );
    rep
}

/// The stored values of one report, field by field, as the panel must show them.
struct Filed {
    id: i64,
    fields: Vec<(&'static str, String)>,
}

async fn incident(h: &Harness, u: &FakeUser, row: &Payload) -> Filed {
    let name = row.name;
    h.text(u, "/incident").await;
    h.press_label(u, "其他").await;
    let description = answer(h, u, &row.text, DESCRIPTION_MAX, name).await;
    h.text(u, "/skip").await;
    let address = answer(h, u, &row.text, SHORT_MAX, name).await;
    h.press_label(u, "✏️ 修改").await;
    h.press_label(u, "涉及人员").await;
    let people = answer(h, u, &row.text, SHORT_MAX, name).await;
    let rep = submit(h, u, name).await;
    assert_eq!(rep.kind, ReportKind::Incident);
    assert_eq!(rep.description, description, "{name}: description");
    assert_eq!(rep.address.as_deref(), Some(address.as_str()), "{name}");
    assert_eq!(
        rep.people_involved.as_deref(),
        Some(people.as_str()),
        "{name}"
    );
    Filed {
        id: rep.id,
        fields: vec![
            ("description", description),
            ("address", address),
            ("people", people),
        ],
    }
}

async fn request(h: &Harness, u: &FakeUser, row: &Payload) -> Filed {
    let name = row.name;
    h.text(u, "/request").await;
    h.press_label(u, "咨询").await;
    // The description as a photo's caption (Telegram caps captions at 1,024; a webhook or a
    // changed client could send more: the description's own limit applies).
    let r = h.photo(u, &jpeg(name), Some(&row.text)).await;
    let description = match expected(&row.text, DESCRIPTION_MAX) {
        Ok(v) => {
            assert!(
                last(&r).text.contains("居民姓名"),
                "{name}: caption taken: {:?}",
                texts(&r)
            );
            v
        }
        Err(why) => {
            assert!(
                r.iter().any(|m| m.text.contains(why)) || why == "内容是空的",
                "{name}: {why} {:?}",
                texts(&r)
            );
            assert!(last(&r).text.contains("描述"), "{name}: {:?}", texts(&r));
            h.text(u, FALLBACK).await;
            FALLBACK.to_owned()
        }
    };
    let resident = answer(h, u, &row.text, SHORT_MAX, name).await;
    // The phone: only a mobile number is taken.
    let r = h.text(u, &row.text).await;
    assert!(
        r.iter().any(|m| m.text.contains("手机号格式不对")),
        "{name}: phone {:?}",
        texts(&r)
    );
    h.text(u, "138 0000 1234").await;
    h.press_label(u, "✏️ 修改").await;
    h.press_label(u, "位置/地址").await;
    let address = answer(h, u, &row.text, SHORT_MAX, name).await;
    let rep = submit(h, u, name).await;
    assert_eq!(rep.kind, ReportKind::Request);
    assert_eq!(rep.description, description, "{name}: description");
    assert_eq!(
        rep.resident_name.as_deref(),
        Some(resident.as_str()),
        "{name}"
    );
    assert_eq!(rep.resident_phone.as_deref(), Some("13800001234"), "{name}");
    assert_eq!(rep.address.as_deref(), Some(address.as_str()), "{name}");
    Filed {
        id: rep.id,
        fields: vec![
            ("description", description),
            ("resident_name", resident),
            ("address", address),
        ],
    }
}

async fn visit(h: &Harness, u: &FakeUser, row: &Payload) -> Filed {
    let name = row.name;
    h.text(u, "/visit").await;
    let household = answer(h, u, &row.text, SHORT_MAX, name).await;
    h.press_label(u, "3").await;
    h.press_label(u, "入户").await;
    let topics = answer(h, u, &row.text, SHORT_MAX, name).await;
    h.press_label(u, "是").await;
    h.press_label(u, "✏️ 修改").await;
    h.press_label(u, "情况记录").await;
    let notes = answer(h, u, &row.text, DESCRIPTION_MAX, name).await;
    let rep = submit(h, u, name).await;
    assert_eq!(rep.kind, ReportKind::Visit);
    assert_eq!(rep.household.as_deref(), Some(household.as_str()), "{name}");
    assert_eq!(rep.topics.as_deref(), Some(topics.as_str()), "{name}");
    assert_eq!(rep.description, notes, "{name}: notes");
    Filed {
        id: rep.id,
        fields: vec![
            ("household", household),
            ("topics", topics),
            ("description", notes),
        ],
    }
}

/// A follow-up reply to the receipt of `id` (the bot's last message in the chat).
async fn follow_up(h: &Harness, u: &FakeUser, id: i64, row: &Payload) -> Option<String> {
    let receipt = h
        .fake
        .sent_to(u.id)
        .into_iter()
        .rev()
        .find(|m| m.text.contains(&format!("#{id}")))
        .unwrap();
    let r = h.reply(u, receipt.message_id, &row.text).await;
    let adds = |evs: Vec<report_event::Model>| {
        evs.into_iter()
            .filter(|e| e.action.code() == "add_info")
            .collect::<Vec<_>>()
    };
    let evs = adds(
        report_event::Entity::find()
            .filter(report_event::Column::ReportId.eq(id))
            .order_by_asc(report_event::Column::Id)
            .all(h.t.db.conn())
            .await
            .unwrap(),
    );
    match expected(&row.text, NOTE_MAX) {
        Ok(v) => {
            assert!(
                last(&r).text.contains(&format!("已补充到 #{id}")),
                "{}: {:?}",
                row.name,
                texts(&r)
            );
            assert_eq!(evs.len(), 1, "{}", row.name);
            assert_eq!(evs[0].note.as_deref(), Some(v.as_str()), "{}", row.name);
            Some(v)
        }
        Err(why) => {
            // A blank reply is not a follow-up at all; a long one is refused with its length.
            assert!(
                r.iter()
                    .any(|m| m.text.contains(why) || m.text.contains("暂不支持")),
                "{}: {:?}",
                row.name,
                texts(&r)
            );
            assert!(evs.is_empty(), "{}: nothing added", row.name);
            None
        }
    }
}

/// HTML-escaped: as askama escapes (numeric entities) and as `escape_html` does (named).
pub fn escaped_forms(s: &str) -> [String; 2] {
    let mut numeric = String::with_capacity(s.len());
    let mut named = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => {
                numeric.push_str("&#38;");
                named.push_str("&amp;");
            }
            '<' => {
                numeric.push_str("&#60;");
                named.push_str("&lt;");
            }
            '>' => {
                numeric.push_str("&#62;");
                named.push_str("&gt;");
            }
            '"' => {
                numeric.push_str("&#34;");
                named.push_str("&quot;");
            }
            '\'' => {
                numeric.push_str("&#39;");
                named.push('\'');
            }
            c => {
                numeric.push(c);
                named.push(c);
            }
        }
    }
    [numeric, named]
}

/// Whether the page contains `value` escaped (its first line, at most `chars` characters).
pub fn shows_escaped(body: &str, value: &str, chars: usize) -> bool {
    let head: String = value.chars().take(chars).collect();
    escaped_forms(&head)
        .iter()
        .any(|e| body.contains(e.lines().next().unwrap_or("")))
}

/// The page shows `value` escaped (whole, or at least its first 200 characters where the page
/// shortens long text), and never the raw markup.
pub fn assert_shown_escaped(body: &str, value: &str, what: &str) {
    assert!(
        shows_escaped(body, value, 200),
        "{what}: {:?} not on the page",
        value.chars().take(80).collect::<String>()
    );
    for raw in ["<script>alert", "<img src=x", "<b>粗</b>"] {
        assert!(
            !body.contains(raw),
            "{what}: raw markup {raw:?} on the page"
        );
    }
}

fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let text = std::str::from_utf8(bytes).unwrap();
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// A CSV cell for spreadsheets: formula-like text is prefixed with `'`.
fn defused(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

// Every row in every free-text field of every report kind, and as a follow-up reply; then the
// same reports in the panel (report page, inbox) and in the CSV export.
db_test!(
    every_text_in_every_field,
    |t: gridline_tests::TestDb| async move {
        let panics = product_panics();
        let h = Harness::start(t).await;
        let he = FakeUser::new(7001, "何刚华");
        h.bind(&he, HE).await;
        let mut filed = Vec::new();
        for row in payloads() {
            let started = std::time::Instant::now();
            let a = incident(&h, &he, &row).await;
            follow_up(&h, &he, a.id, &row).await;
            filed.push(a);
            filed.push(request(&h, &he, &row).await);
            filed.push(visit(&h, &he, &row).await);
            // Still serving.
            let r = h.text(&he, "/my").await;
            assert!(!r.is_empty(), "{}: /my answered", row.name);
            println!("row {:?}: {:?}", row.name, started.elapsed());
        }
        // Nothing else changed: one report per flow, the roster as it was.
        assert_eq!(reports(&h.t).await.len(), filed.len());
        assert_eq!(member_by_phone(&h.t, MA).await.name, "马东");

        // The panel shows every stored value escaped, and exports it intact.
        let root = areas::find_root(h.t.db.conn()).await.unwrap().unwrap();
        make_staff(&h.t.db, "county", StaffRole::CountyAdmin, &root).await;
        let app = spawn_app(&h.t).await;
        let c = app.login("county").await;
        for f in &filed {
            let page = c.get(&format!("/reports/{}", f.id)).await;
            assert_eq!(page.status.as_u16(), 200, "report {}", f.id);
            for (field, value) in &f.fields {
                assert_shown_escaped(&page.body, value, &format!("report {} {field}", f.id));
            }
        }
        let inbox = c.get("/inbox").await;
        assert_eq!(inbox.status.as_u16(), 200);
        assert_shown_escaped(&inbox.body, &filed.last().unwrap().fields[2].1, "inbox");
        let resp = c
            .http
            .get(format!("{}/export.csv?unmask=1", c.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let rows = csv_rows(&resp.bytes().await.unwrap());
        for f in &filed {
            let row = rows
                .iter()
                .find(|r| r[0] == f.id.to_string())
                .unwrap_or_else(|| panic!("report {} not exported", f.id));
            let stored = reports(&h.t)
                .await
                .into_iter()
                .find(|r| r.id == f.id)
                .unwrap();
            assert_eq!(row[9], defused(&stored.description), "export of {}", f.id);
            assert_eq!(
                row[10],
                defused(stored.address.as_deref().unwrap_or("")),
                "export of {}",
                f.id
            );
        }
        assert_no_product_panic(panics, "text matrix");
        h.stop().await;
    }
);

// ---------------------------------------------------------------------------------------------
// Malformed and unknown updates

/// Waits (bounded) until the fake has no unconfirmed update; `false` when the bot is stuck.
async fn drained(h: &Harness, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while h.fake.pending_updates() > 0 {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

fn user_json(u: &FakeUser) -> Value {
    json!({"id": u.id, "is_bot": false, "first_name": u.first_name, "language_code": "zh-hans"})
}

/// Updates that are broken or of kinds the bot does not handle. Each is queued as is (the
/// fake does not touch its `update_id`), followed by a valid `/help`: the polling loop must
/// go on, answer the `/help`, and confirm past the broken update (never fetch it again).
fn malformed(u: &FakeUser, id: i64) -> Vec<(&'static str, Value)> {
    let chat = private_chat(u);
    let from = user_json(u);
    let now = chrono::Utc::now().timestamp();
    vec![
        (
            "message without fields",
            json!({"update_id": id, "message": {}}),
        ),
        (
            "message without chat",
            json!({"update_id": id, "message": {"message_id": 1, "date": now, "from": from, "text": "/my"}}),
        ),
        (
            "message_id of the wrong type",
            json!({"update_id": id, "message": {"message_id": "abc", "date": now, "chat": chat, "from": from, "text": "/my"}}),
        ),
        (
            "text of the wrong type",
            json!({"update_id": id, "message": {"message_id": 9, "date": now, "chat": chat, "from": from, "text": {"a": 1}}}),
        ),
        (
            "message_id beyond 32 bits",
            json!({"update_id": id, "message": {"message_id": 1_i64 << 40, "date": now, "chat": chat, "from": from, "text": "/my"}}),
        ),
        (
            "message is an array",
            json!({"update_id": id, "message": [1, 2, 3]}),
        ),
        ("no kind at all", json!({"update_id": id})),
        (
            "unknown kind",
            json!({"update_id": id, "future_kind_2030": {"x": 1}}),
        ),
        (
            "business_message",
            json!({"update_id": id, "business_message": {"message_id": 5, "date": now, "chat": chat, "from": from, "text": "/incident", "business_connection_id": "bc"}}),
        ),
        (
            "message_reaction",
            json!({"update_id": id, "message_reaction": {"chat": chat, "message_id": 5, "user": from, "date": now, "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}}),
        ),
        (
            "chat_boost",
            json!({"update_id": id, "chat_boost": {"chat": {"id": -1_001, "type": "channel", "title": "c"}, "boost": {"boost_id": "b", "add_date": now, "expiration_date": now + 100, "source": {"source": "premium", "user": from}}}}),
        ),
        (
            "callback without message or data",
            json!({"update_id": id, "callback_query": {"id": "cbq-x", "from": from, "chat_instance": "ci"}}),
        ),
        (
            "callback with 2 KB of data",
            json!({"update_id": id, "callback_query": {"id": "cbq-y", "from": from, "chat_instance": "ci", "data": "d".repeat(2048)}}),
        ),
        (
            "poll",
            json!({"update_id": id, "poll": {"id": "p", "question": "?", "options": [], "total_voter_count": 0, "is_closed": false, "is_anonymous": true, "type": "regular", "allows_multiple_answers": false}}),
        ),
    ]
}

/// Updates whose own id is broken: Telegram never sends these, but a webhook caller could.
fn broken_ids(u: &FakeUser) -> Vec<(&'static str, Value)> {
    let chat = private_chat(u);
    let from = user_json(u);
    let now = chrono::Utc::now().timestamp();
    vec![
        (
            "update_id missing",
            json!({"message": {"message_id": 3, "date": now, "chat": chat, "from": from, "text": "/my"}}),
        ),
        (
            "update_id a string",
            json!({"update_id": "seven", "message": {"message_id": 4, "date": now, "chat": chat, "from": from, "text": "/my"}}),
        ),
        (
            "update_id negative",
            json!({"update_id": -5, "message": {"message_id": 6, "date": now, "chat": chat, "from": from, "text": "/my"}}),
        ),
    ]
}

db_test!(
    malformed_updates_do_not_stop_polling,
    |t: gridline_tests::TestDb| async move {
        let panics = product_panics();
        let h = Harness::start(t).await;
        let he = FakeUser::new(7101, "何刚华");
        h.bind(&he, HE).await;
        // An open draft must survive all of it.
        h.text(&he, "/incident").await;
        h.press_label(&he, "其他").await;
        h.text(&he, "草稿描述").await;
        let reports_before = reports(&h.t).await.len();
        for (name, update) in malformed(&he, 0) {
            let before = h.fake.sent_to(he.id).len();
            // The fake gives it the next update id.
            h.fake.push_update(update);
            h.fake.send_text(&he, "/help");
            assert!(
                drained(&h, Duration::from_secs(15)).await,
                "{name}: the bot stopped taking updates"
            );
            let r: Vec<_> = h.fake.sent_to(he.id).into_iter().skip(before).collect();
            assert!(
                r.iter().any(|m| m.text.contains("使用方法")),
                "{name}: /help answered: {:?}",
                texts(&r)
            );
        }
        // Nothing filed, nothing lost: the draft goes on where it was.
        assert_eq!(reports(&h.t).await.len(), reports_before);
        let r = h.text(&he, "/skip").await;
        assert!(last(&r).text.contains("位置"), "{:?}", texts(&r));
        h.text(&he, "/skip").await;
        h.press_label(&he, "✅ 提交").await;
        assert_eq!(reports(&h.t).await.last().unwrap().description, "草稿描述");
        // Huge ids of users and chats (Telegram's are up to 52 bits) are handled.
        let big = FakeUser::new(1_i64 << 52, "大号");
        let r = h.text(&big, "/help").await;
        assert!(!r.is_empty(), "a 52-bit user id is answered");
        assert_no_product_panic(panics, "malformed updates");
        h.stop().await;
    }
);

// Webhook mode: wrong secrets (case, prefix, empty, not ASCII) are refused before anything is
// read; with the right secret, bodies that are not updates are acknowledged (200, so Telegram
// does not resend them forever) and change nothing; a valid update after them is handled.
db_test!(webhook_bad_input, |t: gridline_tests::TestDb| async move {
    let panics = product_panics();
    let mut h = Harness::start(t).await;
    h.bind(&FakeUser::new(7201, "何刚华"), HE).await;
    h.stop_bot().await;
    let bound = h.fake.sent_to(7201).len();
    let app = gridline_bot::webhook::router(
        h.runtime(),
        "s3cret-token",
        gridline_bot::webhook::DEFAULT_PATH,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://{addr}{}", gridline_bot::webhook::DEFAULT_PATH);
    let client = reqwest::Client::new();
    let he = FakeUser::new(7201, "何刚华");
    let valid = |id: i64, text: &str| {
        let mut u = raw_message(
            &he,
            private_chat(&he),
            20_000_000 + id,
            json!({"text": text, "entities": [{"type": "bot_command", "offset": 0, "length": text.len()}]}),
        );
        u["update_id"] = json!(id);
        u
    };
    // (Leading and trailing blanks are not part of an HTTP header value.)
    for secret in [
        "S3CRET-TOKEN",
        "s3cret",
        "",
        "s3cret-token-",
        "s3cret-token\u{0}",
    ] {
        let resp = client
            .post(&url)
            .header(
                "X-Telegram-Bot-Api-Secret-Token",
                reqwest::header::HeaderValue::from_bytes(secret.as_bytes())
                    .unwrap_or(reqwest::header::HeaderValue::from_static("x")),
            )
            .json(&valid(900_001, "/help"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{secret:?}");
    }
    let resp = client
        .post(&url)
        .header(
            "X-Telegram-Bot-Api-Secret-Token",
            reqwest::header::HeaderValue::from_bytes(b"s3cret-\xFF").unwrap(),
        )
        .json(&valid(900_001, "/help"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401, "non-ASCII secret");
    assert!(
        !bot_store::is_processed(h.t.db.conn(), 900_001)
            .await
            .unwrap()
    );
    assert_eq!(h.fake.sent_to(he.id).len(), bound);

    let mut bodies: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"<html>hello</html>".to_vec()),
        ("empty", Vec::new()),
        ("JSON array", b"[1,2,3]".to_vec()),
        ("empty object", b"{}".to_vec()),
        (
            "invalid UTF-8",
            b"{\"update_id\": 5, \"message\": \"\xFF\xFE\"}".to_vec(),
        ),
        (
            "update_id beyond 32 bits",
            serde_json::to_vec(&{
                let mut v = valid(0, "/help");
                v["update_id"] = json!(1_i64 << 40);
                v
            })
            .unwrap(),
        ),
        (
            "deeply nested",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        ),
    ];
    for (name, update) in malformed(&he, 900_100).into_iter().chain(broken_ids(&he)) {
        bodies.push((name, serde_json::to_vec(&update).unwrap()));
    }
    for (name, body) in bodies {
        let resp = client
            .post(&url)
            .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{name}");
    }
    assert_eq!(
        h.fake.sent_to(he.id).len(),
        bound,
        "nothing answered: {:?}",
        texts(&h.fake.sent_to(he.id))
    );
    assert!(reports(&h.t).await.is_empty());
    // A text over Telegram's 4,096 through the webhook: refused like any long text.
    let mut long = valid(900_200, "x");
    long["message"]["text"] = json!("长".repeat(4097));
    long["message"].as_object_mut().unwrap().remove("entities");
    let resp = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        h.fake
            .sent_to(he.id)
            .iter()
            .any(|m| m.text.contains("内容太长")),
        "{:?}",
        texts(&h.fake.sent_to(he.id))
    );
    // And a valid update is handled.
    let resp = client
        .post(&url)
        .header("X-Telegram-Bot-Api-Secret-Token", "s3cret-token")
        .json(&valid(900_300, "/my"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        bot_store::is_processed(h.t.db.conn(), 900_300)
            .await
            .unwrap()
    );
    assert_no_product_panic(panics, "webhook");
    h.stop().await;
});

// ---------------------------------------------------------------------------------------------
// "Photos"

fn file_message(u: &FakeUser, mid: i64, fields: Value) -> Value {
    raw_message(u, private_chat(u), mid, fields)
}

// Each file row at the photo step of an incident: refused with a clear answer (the step is
// asked again, nothing kept) or kept as what it is; the report is then filed with exactly the
// kept files, their bytes stored when they could be fetched, and the panel serves them safely.
db_test!(
    photos_that_are_not_photos,
    |t: gridline_tests::TestDb| async move {
        let panics = product_panics();
        let mut h = Harness::start(t).await;
        let he = FakeUser::new(7301, "何刚华");
        h.bind(&he, HE).await;
        h.text(&he, "/incident").await;
        h.press_label(&he, "其他").await;
        h.text(&he, "附件测试").await;
        let limit = h.max_file_bytes as usize;

        // Over the limit as Telegram declares it: refused, the limit named.
        let big = json!({"photo": [{"file_id": "big", "file_unique_id": "ubig", "width": 4000, "height": 3000, "file_size": limit + 1}]});
        let r = h.raw(he.id, file_message(&he, 30_000_001, big)).await;
        assert!(
            r.iter()
                .any(|m| m.text.contains("文件太大") && m.text.contains("1 MB")),
            "{:?}",
            texts(&r)
        );
        assert!(last(&r).text.contains("照片"), "the photo is asked again");
        // A document that is over the limit.
        let r = h
            .raw(
                he.id,
                file_message(
                    &he,
                    30_000_002,
                    json!({"document": {"file_id": "bigdoc", "file_unique_id": "ubigdoc", "file_name": "a.zip", "mime_type": "application/zip", "file_size": 50 * 1024 * 1024}}),
                ),
            )
            .await;
        assert!(
            r.iter().any(|m| m.text.contains("文件太大")),
            "{:?}",
            texts(&r)
        );
        // Zero bytes: refused as empty.
        h.fake.store_file("empty", b"");
        let r = h
            .raw(
                he.id,
                file_message(
                    &he,
                    30_000_003,
                    json!({"photo": [{"file_id": "empty", "file_unique_id": "uempty", "width": 1, "height": 1, "file_size": 0}]}),
                ),
            )
            .await;
        assert!(
            r.iter().any(|m| m.text.contains("文件是空的")),
            "{:?}",
            texts(&r)
        );
        // Kept as what they are: random bytes claiming to be a JPEG; a PDF; a ZIP (its name
        // full of markup and control characters); a photo whose size Telegram did not say and
        // whose bytes are over the limit (kept without bytes); a photo whose download fails.
        let random: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        h.fake.store_file("fakejpeg", &random);
        h.fake.store_file(
            "pdf",
            b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<<>>\nendobj\n",
        );
        h.fake
            .store_file("zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00");
        h.fake.store_file("undeclared", &vec![0xFFu8; limit + 10]);
        h.fake.store_file("flaky", &jpeg("flaky"));
        let kept = [
            json!({"document": {"file_id": "fakejpeg", "file_unique_id": "ufakejpeg", "file_name": "photo.jpg", "mime_type": "image/jpeg", "file_size": random.len()}}),
            json!({"document": {"file_id": "pdf", "file_unique_id": "updf", "file_name": "说明.pdf", "mime_type": "application/pdf", "file_size": 40}}),
            json!({"document": {"file_id": "zip", "file_unique_id": "uzip", "file_name": "<script>x</script>\u{0}\u{202E}gpj.zip", "mime_type": "application/zip", "file_size": 10}}),
            json!({"photo": [{"file_id": "undeclared", "file_unique_id": "uundeclared", "width": 10, "height": 10}]}),
        ];
        for (i, fields) in kept.into_iter().enumerate() {
            let r = h
                .raw(he.id, file_message(&he, 30_000_010 + i as i64, fields))
                .await;
            assert!(!r.is_empty(), "file {i} answered");
        }
        h.raw(
            he.id,
            file_message(
                &he,
                30_000_020,
                json!({"photo": [{"file_id": "flaky", "file_unique_id": "uflaky", "width": 10, "height": 10, "file_size": jpeg("flaky").len()}]}),
            ),
        )
        .await;
        // Still at a step that goes on: skip what is left, submit.
        for _ in 0..3 {
            let card = h
                .fake
                .sent_to(he.id)
                .into_iter()
                .rev()
                .find(|m| button(m, "✅ 提交").is_some());
            if card.is_some() {
                break;
            }
            h.text(&he, "/skip").await;
        }
        // The fifth file's getFile fails (the first four answer normally).
        h.fake.fail_next(
            "getFile",
            [
                Fault::Delay(Duration::ZERO),
                Fault::Delay(Duration::ZERO),
                Fault::Delay(Duration::ZERO),
                Fault::Delay(Duration::ZERO),
                Fault::ServerError,
            ],
        );
        let rep = {
            let r = h.press_label(&he, "✅ 提交").await;
            let rep = reports(&h.t).await.pop().unwrap();
            assert!(r.iter().any(|m| m.text.contains(&format!("#{}", rep.id))));
            rep
        };
        assert_eq!(rep.description, "附件测试");
        let files = attachments(&h.t, rep.id).await;
        let ids: Vec<_> = files
            .iter()
            .map(|f| f.telegram_file_id.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            ids,
            ["fakejpeg", "pdf", "zip", "undeclared", "flaky"],
            "only the kept files"
        );
        assert_eq!(files[0].data.as_deref(), Some(random.as_slice()));
        assert_eq!(files[0].kind, "document");
        let zip_name = files[2].file_name.clone().unwrap_or_default();
        assert!(
            !zip_name.contains('\u{0}'),
            "control characters dropped: {zip_name:?}"
        );
        assert!(zip_name.contains("<script>"), "the name is kept otherwise");
        assert_eq!(
            files[3].data, None,
            "over the limit once downloaded: no bytes kept"
        );
        // The failed download is fetched again when the bot restarts.
        h.stop_bot().await;
        h.start_bot();
        let mut flaky = None;
        for _ in 0..200 {
            flaky = attachments(&h.t, rep.id)
                .await
                .into_iter()
                .find(|f| f.telegram_file_id.as_deref() == Some("flaky"))
                .and_then(|f| f.data);
            if flaky.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            flaky.as_deref(),
            Some(jpeg("flaky").as_slice()),
            "fetched after the failure"
        );

        // The panel: nothing is served inline unless it is what it claims; names are escaped.
        let files = attachments(&h.t, rep.id).await;
        let root = areas::find_root(h.t.db.conn()).await.unwrap().unwrap();
        make_staff(&h.t.db, "county", StaffRole::CountyAdmin, &root).await;
        let app = spawn_app(&h.t).await;
        let c = app.login("county").await;
        let page = c.get(&format!("/reports/{}", rep.id)).await;
        assert_eq!(page.status.as_u16(), 200);
        assert!(!page.body.contains("<script>x"), "file name escaped");
        for f in &files {
            let resp = c
                .http
                .get(format!(
                    "{}/reports/{}/attachments/{}",
                    c.base, rep.id, f.id
                ))
                .send()
                .await
                .unwrap();
            if f.data.is_none() {
                // Not stored (over the limit): nothing to serve, a readable 404.
                assert_eq!(resp.status().as_u16(), 404);
                continue;
            }
            assert_eq!(resp.status().as_u16(), 200);
            let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
            let disposition = resp.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
            let is_real_jpeg = f.telegram_file_id.as_deref() == Some("flaky");
            if is_real_jpeg {
                assert_eq!(ct, "image/jpeg");
            } else {
                assert!(
                    !ct.starts_with("text/") && !ct.contains("html") && !ct.contains("svg"),
                    "{ct}"
                );
            }
            if f.telegram_file_id.as_deref() == Some("fakejpeg") {
                assert_eq!(
                    ct, "application/octet-stream",
                    "random bytes are not shown as an image"
                );
                assert!(disposition.starts_with("attachment"));
            }
        }
        let _ = core_reports::MAX_DESCRIPTION_CHARS;
        let _ = lifecycle::MAX_NOTE_CHARS;
        assert_no_product_panic(panics, "photos");
        h.stop().await;
    }
);
