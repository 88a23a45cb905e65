//! The report lifecycle: the only place a report's state changes.
//!
//! ```text
//! submitted → accepted → assigned → in_progress → resolved → closed
//!     ↘ returned (coded reason; the reporter amends and resubmits)   ↘ rejected (final)
//! resolved → in_progress (verification failed)   closed → in_progress (reopened within N days)
//! any open state → escalated to the parent area (by staff, or by the system when red)
//! ```
//!
//! [`decide`] is pure: given the report, the actor and the action it says what happens or why
//! not. [`transition`] loads the report within the actor's scope, asks [`decide`], and writes
//! the change, exactly one timeline event and the messages it causes in one transaction.

use chrono::{DateTime, Duration, Utc};
use rust_i18n::t;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};

use crate::calendar::{TimeLimit, WorkCalendar, warn_at};
use crate::db::Db;
use crate::domain::{MemberStatus, ReportState, ReturnReason, StaffRole, TimelineAction};
use crate::entity::{area, member, outbox, report, report_event, staff_user};
use crate::error::{CoreError, CoreResult};
use crate::outbox::{Button, MessageKind, OutgoingMessage, enqueue_to_member};
use crate::problem::Problem;
use crate::scope::Scope;
use crate::{categories, holidays};

use ReportState::*;

/// A closed report can be reopened within this many days of closing.
pub const REOPEN_WINDOW_DAYS: i64 = 30;
/// Longest note accepted with an action.
pub const MAX_NOTE_CHARS: usize = 4000;

/// Who acts.
#[derive(Clone, Debug, PartialEq)]
pub enum Actor {
    Staff(StaffActor),
    /// A grid leader, through the bot.
    Member {
        id: i64,
    },
    /// The deadline scheduler.
    System,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StaffActor {
    pub id: i64,
    pub role: StaffRole,
    pub scope: Scope,
}

impl StaffActor {
    pub fn of(user: &staff_user::Model) -> StaffActor {
        StaffActor {
            id: user.id,
            role: user.role,
            scope: user.scope(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    Staff(i64),
    Member(i64),
}

/// Everything that can happen to a report after it was filed.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Accept,
    Assign(Assignee),
    /// The assignee starts work (接单).
    Start,
    Return {
        reason: ReturnReason,
        note: Option<String>,
    },
    /// The reporter resubmits a returned report after amending it.
    Resubmit {
        note: Option<String>,
    },
    Reject {
        note: String,
    },
    MarkDuplicate {
        of: i64,
    },
    Resolve {
        note: Option<String>,
    },
    VerifyFail {
        note: String,
    },
    Close {
        note: Option<String>,
    },
    Reopen {
        note: String,
    },
    Escalate {
        note: Option<String>,
    },
    /// Internal comment, never shown to the reporter.
    Comment {
        note: String,
    },
    /// A reply sent to the reporter through the bot.
    Reply {
        note: String,
    },
    /// More text or photos from the reporter or the assigned grid leader.
    AddInfo {
        note: String,
    },
}

impl Action {
    /// The line this action writes on the timeline.
    pub fn timeline_action(&self) -> TimelineAction {
        match self {
            Action::Accept => TimelineAction::Accept,
            Action::Assign(_) => TimelineAction::Assign,
            Action::Start => TimelineAction::Start,
            Action::Return { .. } => TimelineAction::Return,
            Action::Resubmit { .. } => TimelineAction::Resubmit,
            Action::Reject { .. } => TimelineAction::Reject,
            Action::MarkDuplicate { .. } => TimelineAction::Duplicate,
            Action::Resolve { .. } => TimelineAction::Resolve,
            Action::VerifyFail { .. } => TimelineAction::VerifyFail,
            Action::Close { .. } => TimelineAction::Close,
            Action::Reopen { .. } => TimelineAction::Reopen,
            Action::Escalate { .. } => TimelineAction::Escalate,
            Action::Comment { .. } => TimelineAction::Comment,
            Action::Reply { .. } => TimelineAction::Reply,
            Action::AddInfo { .. } => TimelineAction::AddInfo,
        }
    }

    /// The code stored on the timeline (and in audit lines: `report.<code>`).
    pub fn code(&self) -> &'static str {
        self.timeline_action().code()
    }

    fn note(&self) -> Option<&str> {
        match self {
            Action::Return { note, .. }
            | Action::Resubmit { note }
            | Action::Resolve { note }
            | Action::Close { note }
            | Action::Escalate { note } => note.as_deref(),
            Action::Reject { note }
            | Action::VerifyFail { note }
            | Action::Reopen { note }
            | Action::Comment { note }
            | Action::Reply { note }
            | Action::AddInfo { note } => Some(note),
            Action::Accept | Action::Assign(_) | Action::Start | Action::MarkDuplicate { .. } => {
                None
            }
        }
    }

    /// The states this action may start from.
    pub fn allowed_from(&self) -> &'static [ReportState] {
        match self {
            Action::Accept => &[Submitted],
            Action::Assign(_) => &[Submitted, Accepted, Assigned, InProgress],
            Action::Start => &[Assigned],
            Action::Return { .. } | Action::Reject { .. } => &[Submitted, Accepted],
            Action::Resubmit { .. } => &[Returned],
            Action::MarkDuplicate { .. } | Action::Escalate { .. } => {
                &[Submitted, Accepted, Assigned, InProgress]
            }
            Action::Resolve { .. } => &[Assigned, InProgress],
            Action::VerifyFail { .. } | Action::Close { .. } => &[Resolved],
            Action::Reopen { .. } => &[Closed],
            Action::Comment { .. } | Action::Reply { .. } | Action::AddInfo { .. } => {
                ReportState::ALL
            }
        }
    }
}

/// Why an action was refused. `NotFound` covers "outside your subtree" on purpose.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("report not found")]
    NotFound,
    #[error("cannot {action} a report that is {state}")]
    WrongState {
        action: &'static str,
        state: ReportState,
    },
    #[error("not allowed to {action}")]
    NotAllowed { action: &'static str },
    /// Visible (it comes from the actor's subtree) but handled above it now.
    #[error("the report is handled outside your area")]
    OutOfScope,
    #[error("the reopen window of {REOPEN_WINDOW_DAYS} days has passed")]
    ReopenWindowPassed,
    /// A malformed or impossible action (a missing note, an assignee outside the area…).
    #[error("{0}")]
    Invalid(Problem),
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl From<sea_orm::DbErr> for LifecycleError {
    fn from(e: sea_orm::DbErr) -> Self {
        LifecycleError::Core(CoreError::Db(e))
    }
}

/// Which deadline runs after the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Leave the running deadline alone.
    Keep,
    /// No deadline runs (waiting on the reporter, verification, or final).
    Stop,
    /// The accept deadline starts now.
    Accept,
    /// The handling deadline starts now.
    Handle,
}

/// What a permitted action does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub to: ReportState,
    pub clock: Clock,
    /// Whether the reporter sees this line of the timeline.
    pub public: bool,
    /// The i18n key of the message to the reporter, if any.
    pub tell_reporter: Option<&'static str>,
    /// Send a task card to the member being assigned.
    pub task_card: bool,
    /// The i18n key of a message to the assigned member, if any.
    pub tell_assignee: Option<&'static str>,
}

/// The facts about a report that decide what may happen to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    pub state: ReportState,
    pub origin_path: String,
    pub handling_path: String,
    /// Whether the handling area has a parent to escalate to.
    pub can_escalate: bool,
    pub reporter_member_id: Option<i64>,
    pub assignee_member_id: Option<i64>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Facts {
    pub fn of(report: &report::Model, can_escalate: bool) -> Facts {
        Facts {
            state: report.state,
            origin_path: report.origin_area_path.clone(),
            handling_path: report.handling_area_path.clone(),
            can_escalate,
            reporter_member_id: report.reporter_member_id,
            assignee_member_id: report.assignee_member_id,
            closed_at: report.closed_at,
        }
    }
}

/// Decides whether `actor` may do `action` to a report with these facts, and what follows.
pub fn decide(
    facts: &Facts,
    actor: &Actor,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<Plan, Refusal> {
    let code = action.code();
    // Who may do it at all (and whether they can even see the report).
    match actor {
        Actor::Staff(staff) => {
            if !staff.scope.contains(&facts.origin_path) {
                return Err(Refusal::NotFound);
            }
            if !staff.role.can_act()
                || matches!(action, Action::Resubmit { .. } | Action::AddInfo { .. })
            {
                return Err(Refusal::NotAllowed { action: code });
            }
            // Comments are allowed to anyone who can see it; every other step needs the
            // report to be handled inside the actor's subtree.
            if !matches!(action, Action::Comment { .. })
                && !staff.scope.contains(&facts.handling_path)
            {
                return Err(Refusal::OutOfScope);
            }
        }
        Actor::Member { id } => {
            let is_reporter = facts.reporter_member_id == Some(*id);
            let is_assignee = facts.assignee_member_id == Some(*id);
            if !is_reporter && !is_assignee {
                return Err(Refusal::NotFound);
            }
            let allowed = match action {
                Action::Resubmit { .. } => is_reporter,
                Action::Start | Action::Resolve { .. } => is_assignee,
                Action::AddInfo { .. } => true,
                _ => false,
            };
            if !allowed {
                return Err(Refusal::NotAllowed { action: code });
            }
        }
        Actor::System => {
            if !matches!(action, Action::Escalate { .. }) {
                return Err(Refusal::NotAllowed { action: code });
            }
        }
    }
    if !action.allowed_from().contains(&facts.state) {
        return Err(Refusal::WrongState {
            action: code,
            state: facts.state,
        });
    }
    if let Some(note) = action.note() {
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(Refusal::Invalid(Problem::NoteTooLong {
                max: MAX_NOTE_CHARS,
            }));
        }
        let required = matches!(
            action,
            Action::Reject { .. }
                | Action::VerifyFail { .. }
                | Action::Reopen { .. }
                | Action::Comment { .. }
                | Action::Reply { .. }
                | Action::AddInfo { .. }
        );
        if required && is_blank(note) {
            return Err(Refusal::Invalid(Problem::NoteRequired));
        }
    }
    if let Action::Return {
        reason: ReturnReason::Other,
        note,
    } = action
        && note.as_deref().is_none_or(is_blank)
    {
        return Err(Refusal::Invalid(Problem::ReturnReasonNeedsNote));
    }
    let plan = |to, clock, public, tell_reporter| Plan {
        to,
        clock,
        public,
        tell_reporter,
        task_card: false,
        tell_assignee: None,
    };
    Ok(match action {
        Action::Accept => plan(Accepted, Clock::Handle, true, Some("msg.report.accepted")),
        Action::Assign(to) => {
            let mut p = plan(
                Assigned,
                if facts.state == Submitted {
                    Clock::Handle
                } else {
                    Clock::Keep
                },
                true,
                Some("msg.report.assigned"),
            );
            p.task_card = matches!(to, Assignee::Member(_));
            p
        }
        Action::Start => plan(
            InProgress,
            Clock::Keep,
            true,
            Some("msg.report.in_progress"),
        ),
        Action::Return { .. } => plan(Returned, Clock::Stop, true, Some("msg.report.returned")),
        Action::Resubmit { .. } => plan(Submitted, Clock::Accept, true, None),
        Action::Reject { .. } => plan(Rejected, Clock::Stop, true, Some("msg.report.rejected")),
        Action::MarkDuplicate { .. } => {
            plan(Rejected, Clock::Stop, true, Some("msg.report.duplicate"))
        }
        Action::Resolve { .. } => plan(Resolved, Clock::Stop, true, Some("msg.report.resolved")),
        Action::VerifyFail { .. } => {
            let mut p = plan(InProgress, Clock::Handle, false, None);
            p.tell_assignee = facts.assignee_member_id.map(|_| "msg.report.verify_failed");
            p
        }
        Action::Close { .. } => plan(Closed, Clock::Stop, true, Some("msg.report.closed")),
        Action::Reopen { .. } => {
            let closed = facts.closed_at.unwrap_or(now);
            if now - closed > Duration::days(REOPEN_WINDOW_DAYS) {
                return Err(Refusal::ReopenWindowPassed);
            }
            let mut p = plan(InProgress, Clock::Handle, true, Some("msg.report.reopened"));
            p.tell_assignee = facts
                .assignee_member_id
                .map(|_| "msg.report.reopened_assignee");
            p
        }
        Action::Escalate { .. } => {
            if !facts.can_escalate {
                return Err(Refusal::Invalid(Problem::NoHigherLevel));
            }
            // The new owner gets a fresh clock of the same kind.
            let clock = if facts.state == Submitted {
                Clock::Accept
            } else {
                Clock::Handle
            };
            plan(facts.state, clock, false, None)
        }
        Action::Comment { .. } => plan(facts.state, Clock::Keep, false, None),
        Action::Reply { .. } => {
            if facts.reporter_member_id.is_none() {
                return Err(Refusal::Invalid(Problem::NoReporter));
            }
            plan(facts.state, Clock::Keep, true, Some("msg.report.reply"))
        }
        Action::AddInfo { .. } => plan(facts.state, Clock::Keep, true, None),
    })
}

/// Empty once white space and invisible characters (zero-width space, BOM…) are ignored.
fn is_blank(note: &str) -> bool {
    note.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
}

/// The result of a transition: the report after it, its new timeline event, and the queued
/// messages it caused.
#[derive(Clone, Debug)]
pub struct Transition {
    pub report: report::Model,
    pub event: report_event::Model,
    pub queued: Vec<outbox::Model>,
}

/// Performs `action` on report `report_id` as `actor`, in one transaction.
pub async fn transition(
    db: &Db,
    actor: &Actor,
    report_id: i64,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Transition, LifecycleError> {
    let txn = db.write().await?;
    let result = transition_in(&*txn, actor, report_id, action, now).await?;
    txn.commit().await?;
    Ok(result)
}

/// [`transition`] inside a caller's transaction (for bulk actions and the bot's own writes).
pub async fn transition_in(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    report_id: i64,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Transition, LifecycleError> {
    let mut query = report::Entity::find_by_id(report_id);
    if let Actor::Staff(staff) = actor {
        query = query.filter(staff.scope.condition(report::Column::OriginAreaPath));
    }
    // Two staff acting on one report at once: on PostgreSQL the row lock makes the second wait
    // and then see the first one's state (SQLite's writers are already one at a time).
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let report = query.one(txn).await?.ok_or(Refusal::NotFound)?;
    let handling = area::Entity::find_by_id(report.handling_area_id)
        .one(txn)
        .await?
        .ok_or(Refusal::NotFound)?;
    let facts = Facts::of(&report, handling.parent_id.is_some());
    let plan = decide(&facts, actor, &action, now)?;

    let mut active: report::ActiveModel = report.clone().into();
    active.state = Set(plan.to);
    active.updated_at = Set(now);
    let new_assignee =
        apply_action(txn, actor, &action, &report, handling, &mut active, now).await?;
    restart_clock(txn, plan.clock, &report, &mut active, now).await?;
    let updated = active.update(txn).await?;
    crate::counters::report_changed(txn, &report, &updated).await?;
    let event = write_event(txn, actor, &action, &plan, report.state, &updated, now).await?;
    let queued = queue_messages(
        txn,
        &plan,
        &action,
        &updated,
        event.id,
        new_assignee.as_ref(),
        now,
    )
    .await?;
    Ok(Transition {
        report: updated,
        event,
        queued,
    })
}

/// What the action itself changes on the report (beyond its state and deadlines). Returns the
/// grid leader it assigns, if any.
async fn apply_action(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    action: &Action,
    report: &report::Model,
    handling: area::Model,
    active: &mut report::ActiveModel,
    now: DateTime<Utc>,
) -> Result<Option<member::Model>, LifecycleError> {
    match action {
        Action::Accept => active.accepted_at = Set(Some(now)),
        Action::Assign(to) => {
            if report.accepted_at.is_none() {
                active.accepted_at = Set(Some(now));
            }
            match *to {
                Assignee::Member(id) => {
                    let m = member::Entity::find_by_id(id)
                        .filter(
                            Scope::from_parts(handling.id, handling.path.clone())
                                .condition(member::Column::AreaPath),
                        )
                        .one(txn)
                        .await?
                        .ok_or(Refusal::Invalid(Problem::NoSuchMember))?;
                    if m.status == MemberStatus::Left {
                        return Err(Refusal::Invalid(Problem::MemberLeft).into());
                    }
                    active.assignee_member_id = Set(Some(m.id));
                    active.assignee_staff_id = Set(None);
                    return Ok(Some(m));
                }
                Assignee::Staff(id) => {
                    let s = staff_user::Entity::find_by_id(id)
                        .one(txn)
                        .await?
                        .filter(|s| {
                            s.active
                                && s.role.can_act()
                                && s.scope().contains(&report.handling_area_path)
                        })
                        .ok_or(Refusal::Invalid(Problem::NoSuchStaff))?;
                    active.assignee_staff_id = Set(Some(s.id));
                    active.assignee_member_id = Set(None);
                }
            }
        }
        Action::Return { reason, note } => {
            active.return_reason = Set(Some(*reason));
            active.reason_note = Set(note.clone());
        }
        Action::Resubmit { .. } => {
            active.return_reason = Set(None);
            active.reason_note = Set(None);
            active.submitted_at = Set(Some(now));
        }
        Action::VerifyFail { .. } => active.resolved_at = Set(None),
        Action::Reject { note } => active.reason_note = Set(Some(note.clone())),
        Action::MarkDuplicate { of } => {
            if *of == report.id {
                return Err(Refusal::Invalid(Problem::SelfDuplicate).into());
            }
            // The original must exist where this actor can see it.
            let mut q = report::Entity::find_by_id(*of);
            if let Actor::Staff(staff) = actor {
                q = q.filter(staff.scope.condition(report::Column::OriginAreaPath));
            }
            q.one(txn)
                .await?
                .ok_or(Refusal::Invalid(Problem::NoOriginal { number: *of }))?;
            active.duplicate_of = Set(Some(*of));
        }
        Action::Resolve { .. } => {
            active.resolved_at = Set(Some(now));
            // The clock stops here and `due_at` is cleared, so keep whether it was met.
            active.resolved_on_time = Set(report.due_at.map(|due| now <= due));
        }
        Action::Close { .. } => active.closed_at = Set(Some(now)),
        Action::Reopen { .. } => {
            active.closed_at = Set(None);
            active.resolved_at = Set(None);
        }
        Action::Escalate { .. } => {
            let parent_id = handling.parent_id.ok_or(Refusal::NotFound)?;
            let parent = area::Entity::find_by_id(parent_id)
                .one(txn)
                .await?
                .ok_or(Refusal::NotFound)?;
            active.handling_area_id = Set(parent.id);
            active.handling_area_path = Set(parent.path.clone());
            active.escalation_level = Set(report.escalation_level.saturating_add(1));
        }
        _ => {}
    }
    Ok(None)
}

/// The deadline the plan asks for: kept, stopped, or a fresh accept or handling clock from now.
async fn restart_clock(
    txn: &impl ConnectionTrait,
    clock: Clock,
    report: &report::Model,
    active: &mut report::ActiveModel,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    let due = match clock {
        Clock::Keep => return Ok(()),
        Clock::Stop => None,
        Clock::Accept | Clock::Handle => {
            let limits = categories::limits_for(txn, report.category_id, report.urgency).await?;
            let limit: TimeLimit = if clock == Clock::Accept {
                limits.accept
            } else {
                limits.handle
            };
            let calendar: WorkCalendar = holidays::calendar(txn).await?;
            Some(calendar.deadline(now, limit))
        }
    };
    active.clock_started_at = Set(due.map(|_| now));
    active.due_at = Set(due);
    active.warn_at = Set(due.map(|d| warn_at(now, d)));
    Ok(())
}

/// The one timeline line of a transition.
async fn write_event(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    action: &Action,
    plan: &Plan,
    from: ReportState,
    updated: &report::Model,
    now: DateTime<Utc>,
) -> CoreResult<report_event::Model> {
    let (actor_kind, staff_id, member_id) = match actor {
        Actor::Staff(s) => ("staff", Some(s.id), None),
        Actor::Member { id } => ("member", None, Some(*id)),
        Actor::System => ("system", None, None),
    };
    let event_note = match action {
        Action::MarkDuplicate { of } => Some(format!("#{of}")),
        other => other.note().map(str::to_owned),
    };
    Ok(report_event::ActiveModel {
        report_id: Set(updated.id),
        at: Set(now),
        actor_kind: Set(actor_kind.into()),
        actor_staff_id: Set(staff_id),
        actor_member_id: Set(member_id),
        action: Set(action.timeline_action()),
        from_state: Set(Some(from)),
        to_state: Set(Some(plan.to)),
        note: Set(event_note),
        public: Set(plan.public),
        simulated: Set(updated.simulated),
        ..Default::default()
    }
    .insert(txn)
    .await?)
}

/// The messages a transition causes: to the reporter, a task card to a newly assigned grid
/// leader, and to the assigned grid leader — queued in the same transaction.
async fn queue_messages(
    txn: &impl ConnectionTrait,
    plan: &Plan,
    action: &Action,
    updated: &report::Model,
    event_id: i64,
    new_assignee: Option<&member::Model>,
    now: DateTime<Utc>,
) -> CoreResult<Vec<outbox::Model>> {
    let mut queued = Vec::new();
    if let (Some(key), Some(reporter_id)) = (plan.tell_reporter, updated.reporter_member_id)
        && let Some(reporter) = member::Entity::find_by_id(reporter_id).one(txn).await?
    {
        let msg = render_report_message(key, updated, action, reporter.language.locale());
        let kind = if matches!(action, Action::Reply { .. }) {
            MessageKind::Reply
        } else {
            MessageKind::ReportUpdate
        };
        let dedupe = Some(format!("event:{}:reporter:{}", event_id, reporter.id));
        queued.extend(enqueue_to_member(txn, &reporter, kind, &msg, dedupe, now).await?);
    }
    if plan.task_card
        && let Some(assignee) = new_assignee
    {
        let msg = task_card(updated, assignee.language.locale());
        let dedupe = Some(format!("event:{}:task:{}", event_id, assignee.id));
        queued
            .extend(enqueue_to_member(txn, assignee, MessageKind::Task, &msg, dedupe, now).await?);
    }
    // A grid leader assigned their own report hears it once, as the reporter.
    let assignee_already_told = plan.tell_reporter.is_some()
        && updated.assignee_member_id.is_some()
        && updated.assignee_member_id == updated.reporter_member_id;
    if let (Some(key), Some(assignee_id)) = (plan.tell_assignee, updated.assignee_member_id)
        && !assignee_already_told
        && let Some(assignee) = member::Entity::find_by_id(assignee_id).one(txn).await?
    {
        let msg = render_report_message(key, updated, action, assignee.language.locale());
        let dedupe = Some(format!("event:{}:assignee:{}", event_id, assignee.id));
        let kind = MessageKind::ReportUpdate;
        queued.extend(enqueue_to_member(txn, &assignee, kind, &msg, dedupe, now).await?);
    }
    Ok(queued)
}

fn render_report_message(
    key: &str,
    report: &report::Model,
    action: &Action,
    locale: &str,
) -> OutgoingMessage {
    let note = action.note().unwrap_or("").trim().to_owned();
    let reason = match action {
        Action::Return { reason, .. } => t!(
            format!("report.return_reason.{}", reason.code()),
            locale = locale
        )
        .into_owned(),
        _ => String::new(),
    };
    let of = match action {
        Action::MarkDuplicate { of } => of.to_string(),
        _ => String::new(),
    };
    let mut text = t!(
        key,
        locale = locale,
        id = report.id,
        reason = reason,
        of = of
    )
    .into_owned();
    if !note.is_empty() && !matches!(action, Action::Reply { .. }) {
        text.push('\n');
        text.push_str(&t!("msg.report.note", locale = locale, note = note));
    } else if matches!(action, Action::Reply { .. }) {
        text.push('\n');
        text.push_str(&note);
    }
    OutgoingMessage {
        text,
        buttons: Vec::new(),
        report_id: Some(report.id),
    }
}

/// The card a grid leader gets when a report is assigned to them.
pub fn task_card(report: &report::Model, locale: &str) -> OutgoingMessage {
    let text = t!(
        "msg.task.card",
        locale = locale,
        id = report.id,
        kind = t!(
            format!("report.kind.{}", report.kind.code()),
            locale = locale
        ),
        description = report.description.clone()
    )
    .into_owned();
    OutgoingMessage {
        text,
        buttons: vec![vec![
            Button {
                label: t!("msg.task.accept_button", locale = locale).into_owned(),
                data: format!("task:start:{}", report.id),
            },
            Button {
                label: t!("msg.task.done_button", locale = locale).into_owned(),
                data: format!("task:done:{}", report.id),
            },
        ]],
        report_id: Some(report.id),
    }
}

/// Reports whose deadline has passed and which may still move up, for the escalation scheduler.
pub async fn overdue_open_reports(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<report::Model>, CoreError> {
    use sea_orm::{QueryOrder, QuerySelect};
    Ok(report::Entity::find()
        .filter(report::Column::State.is_in(ReportState::OPEN.iter().copied()))
        .filter(report::Column::DueAt.lte(now))
        .order_by_asc(report::Column::DueAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// The escalation scheduler's step: every open report whose deadline has passed moves up to
/// the parent of its handling area, as the system. At most once per deadline (escalation gives
/// the new owner a fresh clock, and each report is claimed with a conditional update so two
/// schedulers never escalate the same deadline twice); reports handled by the county stay.
/// Returns how many reports were escalated.
pub async fn escalate_overdue(db: &Db, now: DateTime<Utc>) -> Result<usize, CoreError> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{QueryOrder, QuerySelect};
    let Some(root) = crate::areas::find_root(db.conn()).await? else {
        return Ok(0);
    };
    let mut escalated = 0;
    let mut after_id = 0;
    loop {
        let batch = report::Entity::find()
            .filter(report::Column::State.is_in(ReportState::OPEN.iter().copied()))
            .filter(report::Column::DueAt.lte(now))
            .filter(report::Column::HandlingAreaId.ne(root.id))
            .filter(report::Column::Id.gt(after_id))
            .order_by_asc(report::Column::Id)
            .limit(200)
            .all(db.conn())
            .await?;
        let Some(last) = batch.last() else {
            break;
        };
        after_id = last.id;
        for r in batch {
            let txn = db.write().await?;
            // Claim: still overdue and still handled where we saw it (another scheduler may
            // have escalated it meanwhile). On PostgreSQL this also locks the row.
            let claimed = report::Entity::update_many()
                .col_expr(report::Column::UpdatedAt, Expr::value(now))
                .filter(report::Column::Id.eq(r.id))
                .filter(report::Column::HandlingAreaId.eq(r.handling_area_id))
                .filter(report::Column::DueAt.lte(now))
                .exec(&*txn)
                .await?
                .rows_affected;
            if claimed == 0 {
                continue;
            }
            match transition_in(
                &*txn,
                &Actor::System,
                r.id,
                Action::Escalate { note: None },
                now,
            )
            .await
            {
                Ok(_) => {
                    txn.commit().await?;
                    escalated += 1;
                }
                Err(LifecycleError::Refused(refusal)) => {
                    tracing::warn!(report = r.id, %refusal, "automatic escalation refused");
                }
                Err(LifecycleError::Core(e)) => return Err(e),
            }
        }
    }
    Ok(escalated)
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
