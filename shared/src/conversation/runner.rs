//! Runs one update through the machine, inside one write transaction: the dedupe mark, the
//! core commands (bind, submit, task steps, follow-ups, acknowledgements) and the new dialogue
//! state commit together or not at all. The replies come back to the adapter, which sends them
//! after the commit (so a reply never announces something that was rolled back).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dashmap::DashMap;
use rust_i18n::t;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::render::{self, tr};
use super::{
    BindBy, Button, CategoryOption, Context, Draft, Effect, FileRef, Input, Keyboard, ReportFacts,
    machine,
};
use crate::bot_store;
use crate::db::Db;
use crate::domain::{Lang, MemberStatus, OutboxStatus, Phone, ReportKind};
use crate::entity::{area, attachment, category, member, report};
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::{Action, Actor, LifecycleError, Refusal, transition_in};
use crate::reports::{self, NewReport};

/// One update from the messenger, already turned into an [`Input`].
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    pub update_id: i64,
    pub chat_id: i64,
    pub private: bool,
    /// The sender (absent for channel posts and the like).
    pub user_id: Option<i64>,
    /// The user's own message id (dedupe by chat + message); `None` for button presses.
    pub message_id: Option<i64>,
    /// The bot message the user replied to, if any.
    pub reply_to: Option<i64>,
    /// The one report number (`#123`) in the text of the bot message replied to, for when the
    /// message is not (yet) recorded as being about a report (the delivery worker records a
    /// queued message's id just after Telegram accepted it). Permission is checked as always.
    pub reply_to_report: Option<i64>,
    /// The messenger's language hint for users who are not bound yet.
    pub language_code: Option<String>,
    pub input: Input,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunnerSettings {
    /// Files larger than this are refused.
    pub max_file_bytes: u64,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// 10 MB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// What the adapter does after the commit.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A new message; `report_id` when it is about a report (a reply to it is a follow-up).
    Send {
        text: String,
        keyboard: Keyboard,
        report_id: Option<i64>,
    },
    /// Answer the button press (with a short toast, or none).
    Answer(Option<String>),
    /// Replace the pressed message's text and buttons.
    Edit { text: String, keyboard: Keyboard },
    /// Remove the pressed message's buttons.
    ClearButtons,
    /// Replace the pressed message's buttons.
    ReplaceButtons(Vec<Vec<Button>>),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// The update was handled before: nothing was done.
    pub duplicate: bool,
    pub replies: Vec<Reply>,
    /// Replies that were also queued in the outbox in the update's transaction (receipts, with
    /// [`handle_durable`]): the adapter sends them at once and records the result on the row
    /// (`delivery::record_held`); if it cannot, the delivery worker sends them.
    pub queued: Vec<QueuedReply>,
    /// Attachments whose bytes the adapter should fetch now.
    pub fetch: Vec<i64>,
    /// Notice acknowledgements to record after the commit: (notice, member, language).
    acks: Vec<(i64, i64, Lang)>,
}

/// A reply that is also an outbox row, held (`sending`) by the adapter named in
/// [`DurableReceipts`] until `lease_until`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedReply {
    /// Its position in [`Outcome::replies`].
    pub reply: usize,
    /// The outbox row; `None` when the report's receipt was queued before (a repeated submit):
    /// then the reply is not to be sent again.
    pub outbox_id: Option<i64>,
    pub lease_until: DateTime<Utc>,
}

/// Receipts (the reply giving a filed report its number) written as outbox rows in the
/// update's own transaction, so that neither a failed send nor a crash between the commit and
/// the send can lose them. The row starts `sending`, held by `owner` for `lease`: the adapter
/// sends it at once (the fast path) and records the result; when the adapter fails, or dies,
/// the delivery worker retries it (a crashed holder's row is retaken once the lease has run
/// out).
#[derive(Clone, Debug, PartialEq)]
pub struct DurableReceipts {
    pub owner: String,
    pub lease: std::time::Duration,
}

/// One lock per chat, so that each chat's updates are handled one at a time, in order, while
/// different chats run in parallel (the Telegram adapter and the simulator both need it).
#[derive(Default)]
pub struct ChatLocks {
    chats: DashMap<i64, Arc<tokio::sync::Mutex<()>>>,
}

impl ChatLocks {
    /// Waits for `chat_id`'s turn; the chat is free again when the guard is dropped.
    pub async fn lock(&self, chat_id: i64) -> ChatGuard<'_> {
        let lock = self.chats.entry(chat_id).or_default().clone();
        ChatGuard {
            locks: self,
            chat_id,
            guard: Some(lock.lock_owned().await),
        }
    }
}

/// A chat's turn (see [`ChatLocks::lock`]).
pub struct ChatGuard<'a> {
    locks: &'a ChatLocks,
    chat_id: i64,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for ChatGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        // Forget the lock of a quiet chat (nobody else holds or waits for it).
        self.locks
            .chats
            .remove_if(&self.chat_id, |_, l| Arc::strong_count(l) == 1);
    }
}

fn send(text: impl Into<String>, keyboard: Keyboard) -> Reply {
    Reply::Send {
        text: text.into(),
        keyboard,
        report_id: None,
    }
}

/// The report number in a bot message's text when it names exactly one (`#123`).
pub fn single_report_number(text: &str) -> Option<i64> {
    let mut found: Option<i64> = None;
    let mut rest = text;
    while let Some(i) = rest.find('#') {
        rest = &rest[i + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<i64>() {
            match found {
                Some(f) if f != n => return None,
                _ => found = Some(n),
            }
        }
    }
    found
}

/// The language for a user who is not bound: English if their app is in English, else Chinese.
fn guess_lang(code: Option<&str>) -> Lang {
    match code {
        Some(c) if c.to_ascii_lowercase().starts_with("en") => Lang::En,
        _ => Lang::Zh,
    }
}

/// Handles one update: exactly once, however often it is delivered.
pub async fn handle(
    db: &Db,
    incoming: Incoming,
    settings: &RunnerSettings,
    now: DateTime<Utc>,
) -> CoreResult<Outcome> {
    handle_durable(db, incoming, settings, None, now).await
}

/// [`handle`], and with `durable` the receipts are also queued in the outbox in the same
/// transaction (listed in [`Outcome::queued`]).
pub async fn handle_durable(
    db: &Db,
    incoming: Incoming,
    settings: &RunnerSettings,
    durable: Option<&DurableReceipts>,
    now: DateTime<Utc>,
) -> CoreResult<Outcome> {
    let txn = db.write().await?;
    let keys = bot_store::update_keys(incoming.update_id, incoming.chat_id, incoming.message_id);
    if !bot_store::claim_update(&*txn, &keys, now).await? {
        txn.commit().await?;
        tracing::info!(update_id = incoming.update_id, "repeated update ignored");
        return Ok(Outcome {
            duplicate: true,
            ..Default::default()
        });
    }
    let mut outcome = run(&*txn, incoming, settings, durable, now).await?;
    txn.commit().await?;
    crate::metrics::COUNTERS.updates_handled.inc();
    for (notice_id, member_id, lang) in std::mem::take(&mut outcome.acks) {
        let replies = route_notice_ack(db, notice_id, member_id, lang).await?;
        outcome.replies.extend(replies);
    }
    Ok(outcome)
}

async fn run(
    txn: &impl ConnectionTrait,
    incoming: Incoming,
    settings: &RunnerSettings,
    durable: Option<&DurableReceipts>,
    now: DateTime<Utc>,
) -> CoreResult<Outcome> {
    let chat_id = incoming.chat_id;
    let member = sender(txn, &incoming, now).await?;
    let left = member
        .as_ref()
        .is_some_and(|m| m.status == MemberStatus::Left);
    let active_member = member.filter(|m| m.status != MemberStatus::Left);
    let lang = active_member
        .as_ref()
        .map(|m| m.language)
        .unwrap_or_else(|| guess_lang(incoming.language_code.as_deref()));

    let state = bot_store::load_state(txn, chat_id).await?;
    let user_id = incoming.user_id;
    let (private, nonce) = (incoming.private, incoming.update_id);
    let input = as_follow_up(txn, incoming, active_member.is_some()).await?;
    let report = report_facts(txn, &input, active_member.as_ref()).await?;
    let ctx = Context {
        member_id: active_member.as_ref().map(|m| m.id),
        left,
        private,
        lang,
        categories: load_categories(txn).await?,
        max_file_bytes: settings.max_file_bytes,
        nonce,
        report,
    };
    let (new_state, effects) = machine::step(state, &ctx, input);

    let mut turn = Turn {
        chat_id,
        user_id,
        member: active_member,
        lang,
        out: Outcome::default(),
    };
    for effect in effects {
        turn.apply(txn, effect, &ctx, durable, now).await?;
    }
    bot_store::save_state(
        txn,
        chat_id,
        turn.member.as_ref().map(|m| m.id),
        &new_state,
        now,
    )
    .await?;
    Ok(turn.out)
}

/// The member writing (by their messenger user id), if bound. A member who blocked the bot and
/// writes again in private can be reached again.
async fn sender(
    txn: &impl ConnectionTrait,
    incoming: &Incoming,
    now: DateTime<Utc>,
) -> CoreResult<Option<member::Model>> {
    let member = match incoming.user_id {
        Some(uid) => {
            member::Entity::find()
                .filter(member::Column::TelegramUserId.eq(uid))
                .one(txn)
                .await?
        }
        None => None,
    };
    match member {
        Some(m) if m.status == MemberStatus::Blocked && incoming.private => {
            let mut active: member::ActiveModel = m.into();
            active.status = Set(MemberStatus::Active);
            active.telegram_chat_id = Set(Some(incoming.chat_id));
            active.updated_at = Set(now);
            Ok(Some(active.update(txn).await?))
        }
        other => Ok(other),
    }
}

/// The update's input, where a reply to a message about a report becomes a follow-up on that
/// report (for a bound member in private).
async fn as_follow_up(
    txn: &impl ConnectionTrait,
    incoming: Incoming,
    bound: bool,
) -> CoreResult<Input> {
    let input = incoming.input;
    let Some(to) = incoming.reply_to.filter(|_| bound && incoming.private) else {
        return Ok(input);
    };
    let Some(report_id) = bot_store::report_of_message(txn, incoming.chat_id, to)
        .await?
        .or(incoming.reply_to_report)
    else {
        return Ok(input);
    };
    Ok(match input {
        Input::Text(text) => Input::FollowUp {
            report_id,
            text: Some(text),
            file: None,
        },
        Input::File { file, caption } => Input::FollowUp {
            report_id,
            text: caption,
            file: Some(file),
        },
        other => other,
    })
}

/// What the machine needs to know about the report a task button names, for a bound member.
async fn report_facts(
    txn: &impl ConnectionTrait,
    input: &Input,
    member: Option<&member::Model>,
) -> CoreResult<Option<ReportFacts>> {
    let report_id = match input {
        Input::Callback { data } => {
            let parts: Vec<&str> = data.split(':').collect();
            match parts.as_slice() {
                ["task", _, id] | ["spawn", _, id] => id.parse::<i64>().ok(),
                _ => None,
            }
        }
        _ => None,
    };
    let (Some(id), Some(m)) = (report_id, member) else {
        return Ok(None);
    };
    Ok(report::Entity::find_by_id(id)
        .one(txn)
        .await?
        .map(|r| ReportFacts {
            id: r.id,
            state: r.state,
            is_reporter: r.reporter_member_id == Some(m.id),
            is_assignee: r.assignee_member_id == Some(m.id),
        }))
}

/// One update's effects being carried out: who is writing (binding can change it), in which
/// language (`/lang` can change it), and what to answer.
struct Turn {
    chat_id: i64,
    user_id: Option<i64>,
    member: Option<member::Model>,
    lang: Lang,
    out: Outcome,
}

impl Turn {
    /// Carries out one effect of the machine: the core command it names, and its reply.
    async fn apply(
        &mut self,
        txn: &impl ConnectionTrait,
        effect: Effect,
        ctx: &Context,
        durable: Option<&DurableReceipts>,
        now: DateTime<Utc>,
    ) -> CoreResult<()> {
        let (chat_id, lang) = (self.chat_id, self.lang);
        let out = &mut self.out;
        match effect {
            Effect::Send(m) => out.replies.push(send(m.text, m.keyboard)),
            Effect::Answer(a) => out.replies.push(Reply::Answer(a)),
            Effect::Edit(m) => out.replies.push(Reply::Edit {
                text: m.text,
                keyboard: m.keyboard,
            }),
            Effect::ClearButtons => out.replies.push(Reply::ClearButtons),
            Effect::Bind(by) => {
                let (reply, bound) = bind(txn, by, self.user_id, chat_id, lang, now).await?;
                out.replies.push(reply);
                if bound.is_some() {
                    self.member = bound;
                }
            }
            Effect::SetLang(new) => {
                if let Some(m) = &self.member {
                    let mut active: member::ActiveModel = m.clone().into();
                    active.language = Set(new);
                    active.updated_at = Set(now);
                    self.member = Some(active.update(txn).await?);
                    self.lang = new;
                }
            }
            Effect::ListMine => {
                if let Some(m) = &self.member {
                    out.replies.push(list_mine(txn, m, ctx, lang).await?);
                }
            }
            Effect::Submit(draft) => {
                if let Some(m) = &self.member {
                    submit(txn, m, chat_id, *draft, ctx, durable, now, out).await?;
                }
            }
            Effect::StartTask(id) => {
                if let Some(m) = &self.member {
                    start_task(txn, m, id, lang, now, out).await?;
                }
            }
            Effect::ResolveTask {
                report_id,
                note,
                files,
            } => {
                if let Some(m) = &self.member {
                    let action = Action::Resolve { note: Some(note) };
                    let done = ("bot.task.resolved", render::menu(lang));
                    step_with_files(
                        txn, m, chat_id, report_id, action, &files, done, lang, now, out,
                    )
                    .await?;
                }
            }
            Effect::AddInfo {
                report_id,
                note,
                files,
            } => {
                if let Some(m) = &self.member {
                    let action = Action::AddInfo { note };
                    let done = ("bot.followup.added", Keyboard::None);
                    step_with_files(
                        txn, m, chat_id, report_id, action, &files, done, lang, now, out,
                    )
                    .await?;
                }
            }
            Effect::Acknowledge(notice_id) => {
                if let Some(m) = &self.member {
                    out.acks.push((notice_id, m.id, lang));
                }
            }
        }
        Ok(())
    }
}

/// 开始处置 on a task card: the transition, the card's button becomes 完成, and a reply.
async fn start_task(
    txn: &impl ConnectionTrait,
    m: &member::Model,
    id: i64,
    lang: Lang,
    now: DateTime<Utc>,
    out: &mut Outcome,
) -> CoreResult<()> {
    match transition_in(txn, &Actor::Member { id: m.id }, id, Action::Start, now).await {
        Ok(t) => {
            out.replies.push(Reply::ReplaceButtons(vec![vec![Button {
                label: tr("msg.task.done_button", lang),
                data: format!("task:done:{id}"),
            }]]));
            out.replies.push(Reply::Send {
                text: t!("bot.task.started", locale = lang.locale(), id = t.report.id).into_owned(),
                keyboard: Keyboard::None,
                report_id: Some(t.report.id),
            });
        }
        Err(e) => out.replies.push(refused(e, lang)?),
    }
    Ok(())
}

async fn load_categories(db: &impl ConnectionTrait) -> CoreResult<Vec<CategoryOption>> {
    Ok(category::Entity::find()
        .filter(category::Column::Active.eq(true))
        .order_by_asc(category::Column::SortOrder)
        .order_by_asc(category::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|c| CategoryOption {
            id: c.id,
            parent_id: c.parent_id,
            name_zh: c.name_zh,
            name_en: c.name_en,
        })
        .collect())
}

/// A member's step on a report that may bring files (完成 on a task, a follow-up): the
/// transition, its files on the new event, and the reply `done` (an i18n key taking the
/// report's `id`, and the keyboard) — or what the refusal tells the user.
#[allow(clippy::too_many_arguments)]
async fn step_with_files(
    txn: &impl ConnectionTrait,
    m: &member::Model,
    chat_id: i64,
    report_id: i64,
    action: Action,
    files: &[FileRef],
    (done_key, keyboard): (&str, Keyboard),
    lang: Lang,
    now: DateTime<Utc>,
    out: &mut Outcome,
) -> CoreResult<()> {
    match transition_in(txn, &Actor::Member { id: m.id }, report_id, action, now).await {
        Ok(t) => {
            let id = t.report.id;
            attach(txn, chat_id, id, Some(t.event.id), files, now, out).await?;
            out.replies.push(Reply::Send {
                text: t!(done_key, locale = lang.locale(), id = id).into_owned(),
                keyboard,
                report_id: Some(id),
            });
        }
        Err(e) => out.replies.push(refused(e, lang)?),
    }
    Ok(())
}

/// What a refusal from the lifecycle tells the user; database errors roll the update back.
fn refused(e: LifecycleError, lang: Lang) -> CoreResult<Reply> {
    let key = match e {
        LifecycleError::Core(e) => return Err(e),
        LifecycleError::Refused(Refusal::NotFound) => "bot.report.not_found",
        LifecycleError::Refused(Refusal::WrongState { .. }) => "bot.report.wrong_state",
        LifecycleError::Refused(Refusal::NotAllowed { .. } | Refusal::OutOfScope) => {
            "bot.report.not_allowed"
        }
        LifecycleError::Refused(_) => "bot.report.invalid",
    };
    Ok(send(tr(key, lang), Keyboard::None))
}

/// Binds the Telegram account to a roster entry, by one-time code or by the roster's phone.
async fn bind(
    txn: &impl ConnectionTrait,
    by: BindBy,
    user_id: Option<i64>,
    chat_id: i64,
    lang: Lang,
    now: DateTime<Utc>,
) -> CoreResult<(Reply, Option<member::Model>)> {
    let fail = |key: &str| Ok((render_bind_fail(key, lang), None));
    let Some(user_id) = user_id else {
        return fail("bot.bind.failed");
    };
    let (found, by_code) = match by {
        BindBy::Code(code) => {
            let code = crate::members::normalise_bind_code(&code);
            if code.is_empty() || code.chars().count() > 64 {
                return fail("bot.bind.bad_code");
            }
            (
                member::Entity::find()
                    .filter(member::Column::BindCode.eq(code))
                    .one(txn)
                    .await?,
                true,
            )
        }
        BindBy::Phone(phone) => {
            let Ok(phone) = Phone::parse(&phone) else {
                return fail("bot.bind.phone_unknown");
            };
            (
                member::Entity::find()
                    .filter(member::Column::Phone.eq(phone.as_str().to_owned()))
                    .one(txn)
                    .await?,
                false,
            )
        }
    };
    let Some(m) = found else {
        return fail(if by_code {
            "bot.bind.bad_code"
        } else {
            "bot.bind.phone_unknown"
        });
    };
    if m.status == MemberStatus::Left {
        tracing::info!(member = m.id, "bind refused: member has left");
        return fail("bot.bind.left");
    }
    // A binding made in the panel's chat simulator (a trainer trying the bot with this
    // member's code) gives way to the member's real Telegram account.
    let replaces_simulated = m
        .telegram_chat_id
        .is_some_and(crate::simulator::is_simulated_chat)
        && !crate::simulator::is_simulated_chat(chat_id);
    if m.telegram_user_id.is_some() && !replaces_simulated {
        tracing::info!(member = m.id, "bind refused: already bound");
        return fail(if by_code {
            "bot.bind.code_used"
        } else {
            "bot.bind.phone_taken"
        });
    }
    let m = crate::members::bind(txn, m, user_id, chat_id, now).await?;
    tracing::info!(member = m.id, "member bound to Telegram");
    let area_name = area::Entity::find_by_id(m.area_id)
        .one(txn)
        .await?
        .map(|a| a.name)
        .unwrap_or_default();
    let lang = m.language;
    let text = format!(
        "{}\n\n{}",
        t!(
            "bot.bind.ok",
            locale = lang.locale(),
            name = m.name.clone(),
            area = area_name
        ),
        tr("bot.help", lang)
    );
    Ok((send(text, render::menu(lang)), Some(m)))
}

fn render_bind_fail(key: &str, lang: Lang) -> Reply {
    let how = render::how_to_bind(lang);
    send(format!("{}\n{}", tr(key, lang), how.text), how.keyboard)
}

async fn list_mine(
    txn: &impl ConnectionTrait,
    m: &member::Model,
    ctx: &Context,
    lang: Lang,
) -> CoreResult<Reply> {
    let recent = reports::recent_of_member(txn, m.id, 10).await?;
    if recent.is_empty() {
        return Ok(send(tr("bot.my.empty", lang), render::menu(lang)));
    }
    let mut text = tr("bot.my.title", lang);
    let offset = crate::holidays::county_offset();
    for r in recent {
        let category = r
            .category_id
            .and_then(|c| ctx.categories.iter().find(|x| x.id == c))
            .map(|c| format!(" · {}", c.label(lang)))
            .unwrap_or_default();
        let preview: String = r.description.chars().take(24).collect();
        let ellipsis = if r.description.chars().count() > 24 {
            "…"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n#{} {}{} · {} · {}\n   {preview}{ellipsis}",
            r.id,
            render::kind_label(r.kind, lang),
            category,
            tr(&r.state.i18n_key(), lang),
            r.created_at.with_timezone(&offset).format("%m-%d %H:%M"),
        ));
    }
    text.push('\n');
    text.push_str(&tr("bot.my.hint", lang));
    Ok(send(text, render::menu(lang)))
}

#[allow(clippy::too_many_arguments)]
async fn submit(
    txn: &impl ConnectionTrait,
    m: &member::Model,
    chat_id: i64,
    d: Draft,
    ctx: &Context,
    durable: Option<&DurableReceipts>,
    now: DateTime<Utc>,
    out: &mut Outcome,
) -> CoreResult<()> {
    let lang = ctx.lang;
    let Some(kind) = d.kind else {
        out.replies
            .push(send(tr("bot.report.invalid", lang), Keyboard::None));
        return Ok(());
    };
    // Only categories that exist and are active; a parent report only of this reporter.
    let category_id = d
        .category_id
        .filter(|c| ctx.categories.iter().any(|x| x.id == *c));
    let parent_report_id = match d.parent_report_id {
        Some(p) => report::Entity::find_by_id(p)
            .filter(report::Column::ReporterMemberId.eq(m.id))
            .one(txn)
            .await?
            .map(|r| r.id),
        None => None,
    };
    let description = match kind {
        ReportKind::Visit => d
            .description
            .clone()
            .or_else(|| d.topics.clone())
            .unwrap_or_default(),
        _ => d.description.clone().unwrap_or_default(),
    };
    let new = NewReport {
        kind: Some(kind),
        category_id,
        urgency: d.urgency,
        description,
        latitude: d.latitude,
        longitude: d.longitude,
        address: d.address.clone(),
        people_involved: d.people_involved.clone(),
        household: d.household.clone(),
        household_count: d.household_count,
        visit_method: d.visit_method,
        topics: d.topics.clone(),
        resolved_on_spot: d.resolved_on_spot,
        parent_report_id,
        resident_name: d.resident_name.clone(),
        resident_phone: d.resident_phone.clone(),
        simulated: crate::simulator::is_simulated_chat(chat_id),
        idempotency_key: Some(format!("tg:{chat_id}:{}", d.id)),
    };
    let calendar = crate::holidays::calendar(txn).await?;
    let saved = match reports::submit(txn, m, new, &calendar, now).await {
        Ok(r) => r,
        Err(CoreError::Invalid(_)) => {
            out.replies
                .push(send(tr("bot.report.invalid", lang), Keyboard::None));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // A repeated submit returns the stored report: attach files only the first time.
    let has_files = attachment::Entity::find()
        .filter(attachment::Column::ReportId.eq(saved.id))
        .one(txn)
        .await?
        .is_some();
    if !has_files {
        attach(txn, chat_id, saved.id, None, &d.files, now, out).await?;
    }
    tracing::info!(report = saved.id, member = m.id, kind = %kind, "report filed from the bot");
    let receipt = render::receipt(saved.id, kind, lang);
    if let Some(durable) = durable {
        let lease_until = now + chrono::Duration::from_std(durable.lease).unwrap_or_default();
        let outbox_id = queue_receipt(
            txn,
            m,
            chat_id,
            saved.id,
            &receipt,
            durable,
            lease_until,
            now,
        )
        .await?;
        out.queued.push(QueuedReply {
            reply: out.replies.len(),
            outbox_id,
            lease_until,
        });
    }
    out.replies.push(Reply::Send {
        text: receipt,
        keyboard: render::menu(lang),
        report_id: Some(saved.id),
    });
    if kind == ReportKind::Visit {
        // A visit can spawn an incident or a request (a message of its own: the receipt
        // carries the menu keyboard).
        out.replies.push(Reply::Send {
            text: tr("bot.spawn.offer", lang),
            keyboard: render::spawn_buttons(saved.id, lang),
            report_id: Some(saved.id),
        });
    }
    Ok(())
}

/// Writes a receipt as an outbox row held by the adapter (`sending`, leased to
/// `durable.owner`), with the dedupe key `receipt:<report id>`: a report has one receipt row
/// however often its submit is repeated. `None` when the row existed already.
#[allow(clippy::too_many_arguments)]
async fn queue_receipt(
    txn: &impl ConnectionTrait,
    m: &member::Model,
    chat_id: i64,
    report_id: i64,
    text: &str,
    durable: &DurableReceipts,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CoreResult<Option<i64>> {
    use crate::entity::outbox;
    use crate::outbox::{MessageKind, OutgoingMessage};
    let dedupe = format!("receipt:{report_id}");
    if let Some(existing) = outbox::Entity::find()
        .filter(outbox::Column::DedupeKey.eq(dedupe.clone()))
        .one(txn)
        .await?
    {
        tracing::info!(
            outbox_id = existing.id,
            "receipt queued before; not sent again"
        );
        return Ok(None);
    }
    // The menu keyboard is not kept: a resent receipt carries the text (and number) only.
    let message = OutgoingMessage {
        report_id: Some(report_id),
        ..OutgoingMessage::text(text)
    };
    let payload = serde_json::to_string(&message)
        .map_err(|e| CoreError::Internal(format!("payload: {e}")))?;
    let kind = MessageKind::Reply;
    let row = outbox::ActiveModel {
        kind: Set(kind),
        priority: Set(kind.priority()),
        member_id: Set(Some(m.id)),
        chat_id: Set(chat_id),
        report_id: Set(Some(report_id)),
        notice_id: Set(None),
        payload: Set(payload),
        dedupe_key: Set(Some(dedupe)),
        status: Set(OutboxStatus::Sending),
        attempts: Set(1),
        not_before: Set(now),
        lease_owner: Set(Some(durable.owner.clone())),
        lease_until: Set(Some(lease_until)),
        last_error: Set(None),
        telegram_message_id: Set(None),
        simulated: Set(false),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(Some(row.id))
}

/// Records files on a report (bytes fetched after the commit; a simulated chat's photos come
/// with their bytes, stored now).
async fn attach(
    txn: &impl ConnectionTrait,
    chat_id: i64,
    report_id: i64,
    event_id: Option<i64>,
    files: &[FileRef],
    now: DateTime<Utc>,
    out: &mut Outcome,
) -> CoreResult<()> {
    for f in files {
        let simulated = crate::simulator::file_bytes(txn, chat_id, &f.file_id).await?;
        let in_telegram = simulated.is_none();
        let (mime, data) = match simulated {
            Some((mime, data)) => (mime.or_else(|| f.mime.clone()), Some(data)),
            None => (f.mime.clone(), None),
        };
        let row = attachment::ActiveModel {
            report_id: Set(report_id),
            event_id: Set(event_id),
            kind: Set(f.kind.code().to_owned()),
            telegram_file_id: Set(in_telegram.then(|| f.file_id.clone())),
            telegram_file_unique_id: Set(in_telegram.then(|| f.unique_id.clone())),
            mime: Set(mime),
            file_name: Set(f.file_name.clone()),
            size: Set(f.size.and_then(|s| i64::try_from(s).ok())),
            data: Set(data),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        if in_telegram {
            out.fetch.push(row.id);
        }
    }
    Ok(())
}

/// Routes a press of a notice's 收到 button to the notices module (acknowledging is idempotent
/// there). `notices::acknowledge` opens its own write
/// transaction, so it runs right after this update's transaction commits; pressing again after
/// a crash in between records it then.
async fn route_notice_ack(
    db: &Db,
    notice_id: i64,
    member_id: i64,
    lang: Lang,
) -> CoreResult<Vec<Reply>> {
    use crate::notices::AckOutcome;
    match crate::notices::acknowledge(db, member_id, notice_id).await? {
        AckOutcome::Recorded | AckOutcome::Already => Ok(vec![
            Reply::Answer(Some(tr("bot.notice.acknowledged", lang))),
            Reply::ReplaceButtons(vec![vec![Button {
                label: tr("bot.notice.acknowledged_button", lang),
                data: format!("ack:{notice_id}"),
            }]]),
        ]),
        AckOutcome::NotRecipient => Ok(vec![Reply::Answer(Some(tr("bot.button.stale", lang)))]),
    }
}
