//! The report lifecycle against real databases: every transition through `transition()`, the
//! one timeline row and the queued messages each one writes, deadlines with the holiday table,
//! refusals that leave nothing behind, and concurrent writers.
//!
//! (Pure table tests of `decide()` live beside it in `shared/src/lifecycle_tests.rs`.)

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use gridline_shared::calendar::DayKind;
use gridline_shared::domain::{
    Lang, MemberStatus, ReportKind, ReportState, ReturnReason, StaffRole, Urgency,
};
use gridline_shared::entity::{area, member, outbox, report, report_event};
use gridline_shared::lifecycle::{
    self, Action, Actor, Assignee, LifecycleError, Refusal, StaffActor,
};
use gridline_shared::outbox::Button;
use gridline_shared::reports::{self, NewReport};
use gridline_shared::{areas, holidays};
use gridline_tests::panel::{self, category_by_code, events_of, reload};
use gridline_tests::{TestDb, db_test};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};

use ReportState::*;

// ---------------------------------------------------------------------------------------------
// The little county every test starts from
// ---------------------------------------------------------------------------------------------

struct World {
    root: area::Model,
    town: area::Model,
    changle: area::Model,
    /// Bound, 长乐社区: files the reports.
    reporter: member::Model,
    /// Bound, 长乐社区: the grid leader reports get assigned to.
    leader: member::Model,
    /// Never bound, 长乐社区.
    unbound: member::Model,
    /// Bound, 另一社区 (same town, other community).
    other_leader: member::Model,
    /// Bound, 安仁镇.
    anren: member::Model,
    county_admin: StaffActor,
    town_admin: StaffActor,
    secretary: StaffActor,
    other_secretary: StaffActor,
    viewer: StaffActor,
}

impl World {
    fn county_admin(&self) -> Actor {
        Actor::Staff(self.county_admin.clone())
    }
    fn town_admin(&self) -> Actor {
        Actor::Staff(self.town_admin.clone())
    }
    fn secretary(&self) -> Actor {
        Actor::Staff(self.secretary.clone())
    }
    fn other_secretary(&self) -> Actor {
        Actor::Staff(self.other_secretary.clone())
    }
    fn viewer(&self) -> Actor {
        Actor::Staff(self.viewer.clone())
    }
}

fn as_member(m: &member::Model) -> Actor {
    Actor::Member { id: m.id }
}

/// A UTC instant from a county-local (UTC+8) wall-clock time.
fn cst(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    gridline_shared::holidays::county_offset()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Monday 2026-03-02 10:00 in the county: an ordinary working morning, no holidays near.
fn monday() -> DateTime<Utc> {
    cst(2026, 3, 2, 10, 0)
}

/// Binds a member to Telegram (what `/start <code>` does), with `chat` as user and chat id.
async fn bind(t: &TestDb, phone: &str, chat: i64) -> member::Model {
    panel::bind_at(&t.db, phone, chat, monday() - Duration::days(7)).await
}

async fn set_language(t: &TestDb, m: &member::Model, lang: Lang) -> member::Model {
    let mut active: member::ActiveModel = m.clone().into();
    active.language = Set(lang);
    active.update(t.db.conn()).await.unwrap()
}

async fn make_staff(t: &TestDb, username: &str, role: StaffRole, area: &area::Model) -> StaffActor {
    StaffActor::of(&panel::make_staff(&t.db, username, role, area).await)
}

async fn setup(t: &TestDb) -> World {
    let conn = t.db.conn();
    let summary = panel::import_csv(&t.db, panel::ROSTER).await;
    assert_eq!(summary.members_new, 5, "{summary:?}");

    let reporter = bind(t, "19900000563", 5001).await;
    let leader = bind(t, "19900000767", 5002).await;
    let other_leader = bind(t, "19900001562", 5003).await;
    let anren = bind(t, "19900002266", 5004).await;
    let unbound = panel::member_by_phone(&t.db, "19900001234").await;
    assert_eq!(unbound.telegram_chat_id, None);

    let root = areas::find_root(conn).await.unwrap().unwrap();
    let town = areas::resolve_names(conn, "晋原街道").await.unwrap();
    let changle = areas::resolve_names(conn, "晋原街道/长乐社区")
        .await
        .unwrap();
    let lingyi = areas::resolve_names(conn, "晋原街道/另一社区")
        .await
        .unwrap();
    assert!(reporter.area_path.starts_with(&changle.path));
    assert!(other_leader.area_path.starts_with(&lingyi.path));

    let county_admin = make_staff(t, "county", StaffRole::CountyAdmin, &root).await;
    let town_admin = make_staff(t, "jinyuan", StaffRole::TownAdmin, &town).await;
    let secretary = make_staff(t, "changle", StaffRole::Secretary, &changle).await;
    let other_secretary = make_staff(t, "lingyi", StaffRole::Secretary, &lingyi).await;
    let viewer = make_staff(t, "viewer", StaffRole::Viewer, &root).await;
    World {
        root,
        town,
        changle,
        reporter,
        leader,
        unbound,
        other_leader,
        anren,
        county_admin,
        town_admin,
        secretary,
        other_secretary,
        viewer,
    }
}

/// Files an incident the way the bot does (one write transaction).
async fn file_with(
    t: &TestDb,
    by: &member::Model,
    urgency: Urgency,
    category_id: Option<i64>,
    now: DateTime<Utc>,
) -> report::Model {
    let calendar = holidays::calendar(t.db.conn()).await.unwrap();
    let txn = t.db.write().await.unwrap();
    let new = NewReport {
        kind: Some(ReportKind::Incident),
        description: "3栋楼道堆放杂物，堵塞消防通道".into(),
        category_id,
        urgency: Some(urgency),
        ..Default::default()
    };
    let r = reports::submit(&*txn, by, new, &calendar, now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(r.state, Submitted);
    r
}

async fn file(t: &TestDb, by: &member::Model, now: DateTime<Utc>) -> report::Model {
    file_with(t, by, Urgency::Normal, None, now).await
}

async fn all_reports(t: &TestDb) -> Vec<report::Model> {
    report::Entity::find()
        .order_by_asc(report::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
}

async fn all_events(t: &TestDb) -> Vec<report_event::Model> {
    report_event::Entity::find()
        .order_by_asc(report_event::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
}

async fn all_outbox(t: &TestDb) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .order_by_asc(outbox::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Checking one step
// ---------------------------------------------------------------------------------------------

/// What a step wrote.
struct Step {
    report: report::Model,
    event: report_event::Model,
    queued: Vec<outbox::Model>,
}

/// Runs a transition that must succeed. Checks that it wrote exactly one timeline row (for this
/// report, at `now`, the one it returned), that the rows it says it queued are exactly the new
/// outbox rows, and that the stored report is the one it returned.
async fn step(t: &TestDb, actor: &Actor, id: i64, action: Action, now: DateTime<Utc>) -> Step {
    let events_before = all_events(t).await;
    let outbox_before = all_outbox(t).await;
    let what = format!("{action:?} by {actor:?}");
    let tr = lifecycle::transition(&t.db, actor, id, action, now)
        .await
        .unwrap_or_else(|e| panic!("{what} failed: {e:?}"));

    let events_after = all_events(t).await;
    assert_eq!(
        events_after.len(),
        events_before.len() + 1,
        "{what}: exactly one new timeline row"
    );
    assert_eq!(
        &events_after[..events_before.len()],
        &events_before[..],
        "{what}: old timeline rows changed"
    );
    let event = events_after.last().unwrap().clone();
    assert_eq!(
        event, tr.event,
        "{what}: stored event differs from the returned one"
    );
    assert_eq!(event.report_id, id, "{what}");
    assert_eq!(event.at, now, "{what}");
    assert!(!event.simulated, "{what}");

    let outbox_after = all_outbox(t).await;
    assert_eq!(
        &outbox_after[..outbox_before.len()],
        &outbox_before[..],
        "{what}: old outbox rows changed"
    );
    let queued = outbox_after[outbox_before.len()..].to_vec();
    assert_eq!(
        queued, tr.queued,
        "{what}: new outbox rows differ from the returned ones"
    );

    let stored = reload(&t.db, id).await;
    assert_eq!(
        stored, tr.report,
        "{what}: stored report differs from the returned one"
    );
    assert_eq!(stored.updated_at, now, "{what}");
    Step {
        report: stored,
        event,
        queued,
    }
}

/// Two checked steps: `resolver` resolves (no note) at `resolved_at`, then the secretary closes
/// at `closed_at`.
async fn resolve_and_close(
    t: &TestDb,
    w: &World,
    resolver: &Actor,
    id: i64,
    resolved_at: DateTime<Utc>,
    closed_at: DateTime<Utc>,
) -> Step {
    step(t, resolver, id, Action::Resolve { note: None }, resolved_at).await;
    step(
        t,
        &w.secretary(),
        id,
        Action::Close { note: None },
        closed_at,
    )
    .await
}

/// The expected actor columns of an event.
fn staff_cols(s: &StaffActor) -> (&'static str, Option<i64>, Option<i64>) {
    ("staff", Some(s.id), None)
}

fn member_cols(m: &member::Model) -> (&'static str, Option<i64>, Option<i64>) {
    ("member", None, Some(m.id))
}

const SYSTEM_COLS: (&str, Option<i64>, Option<i64>) = ("system", None, None);

fn check_event(
    e: &report_event::Model,
    actor: (&str, Option<i64>, Option<i64>),
    action: &str,
    from: ReportState,
    to: ReportState,
    public: bool,
) {
    assert_eq!(
        (e.actor_kind.as_str(), e.actor_staff_id, e.actor_member_id),
        actor,
        "actor of {action}: {e:?}"
    );
    assert_eq!(e.action.code(), action, "{e:?}");
    assert_eq!(e.from_state, Some(from), "{e:?}");
    assert_eq!(e.to_state, Some(to), "{e:?}");
    assert_eq!(e.public, public, "public flag of {action}: {e:?}");
}

/// One expected outbox row: its kind, who gets it and the fragments its text must contain
/// (besides `#<id>`, which every one must name).
struct Expect<'a> {
    kind: &'a str,
    to: &'a member::Model,
    says: &'a [&'a str],
}

fn check_queued(rows: &[outbox::Model], report_id: i64, expected: &[Expect<'_>]) {
    let mut rows: Vec<&outbox::Model> = rows.iter().collect();
    rows.sort_by_key(|r| (r.member_id, r.kind.code()));
    let mut expected: Vec<&Expect<'_>> = expected.iter().collect();
    expected.sort_by_key(|e| (Some(e.to.id), e.kind.to_owned()));
    let got: Vec<(&str, Option<i64>)> = rows.iter().map(|r| (r.kind.code(), r.member_id)).collect();
    let want: Vec<(&str, Option<i64>)> = expected.iter().map(|e| (e.kind, Some(e.to.id))).collect();
    assert_eq!(got, want, "queued messages (kind, member)");
    for (row, exp) in rows.iter().zip(expected) {
        assert_eq!(Some(row.chat_id), exp.to.telegram_chat_id, "{row:?}");
        assert_eq!(
            row.priority, 0,
            "person-to-person messages go first: {row:?}"
        );
        assert_eq!(row.status.code(), "pending", "{row:?}");
        assert_eq!(row.report_id, Some(report_id), "{row:?}");
        assert_eq!(row.notice_id, None, "{row:?}");
        assert_eq!(row.attempts, 0, "{row:?}");
        assert!(!row.simulated, "{row:?}");
        let msg = row
            .message()
            .unwrap_or_else(|| panic!("payload is not a message: {}", row.payload));
        assert_eq!(msg.report_id, Some(report_id), "{row:?}");
        let number = format!("#{report_id}");
        assert!(
            msg.text.contains(&number),
            "{:?} does not name {number}",
            msg.text
        );
        for fragment in exp.says {
            assert!(
                msg.text.contains(fragment),
                "{:?} does not contain {fragment:?}",
                msg.text
            );
        }
        if row.kind.code() != "task" {
            assert!(msg.buttons.is_empty(), "{msg:?}");
        }
    }
}

/// The task card's two buttons (接单 starts the work, 完成 finishes it).
fn check_task_buttons(row: &outbox::Model, report_id: i64, start: &str, done: &str) {
    assert_eq!(row.kind.code(), "task");
    let msg = row.message().unwrap();
    assert_eq!(
        msg.buttons,
        vec![vec![
            Button {
                label: start.into(),
                data: format!("task:start:{report_id}")
            },
            Button {
                label: done.into(),
                data: format!("task:done:{report_id}")
            },
        ]]
    );
}

/// A transition that must be refused: returns the refusal after checking that no report, no
/// timeline row and no outbox row changed.
async fn refused(
    t: &TestDb,
    actor: &Actor,
    id: i64,
    action: Action,
    now: DateTime<Utc>,
) -> Refusal {
    let reports_before = all_reports(t).await;
    let events_before = all_events(t).await;
    let outbox_before = all_outbox(t).await;
    let what = format!("{action:?} by {actor:?}");
    let result = lifecycle::transition(&t.db, actor, id, action, now).await;
    let refusal = match result {
        Ok(tr) => panic!(
            "{what} should have been refused, but went through: {:?}",
            tr.event
        ),
        Err(LifecycleError::Refused(r)) => r,
        Err(e) => panic!("{what}: expected a refusal, got {e:?}"),
    };
    assert_eq!(
        all_reports(t).await,
        reports_before,
        "{what} changed a report"
    );
    assert_eq!(
        all_events(t).await,
        events_before,
        "{what} left a timeline row"
    );
    assert_eq!(
        all_outbox(t).await,
        outbox_before,
        "{what} queued a message"
    );
    refusal
}

fn assert_invalid(r: &Refusal) {
    assert!(
        matches!(r, Refusal::Invalid(_)),
        "expected Invalid, got {r:?}"
    );
}

fn wrong_state(action: &'static str, state: ReportState) -> Refusal {
    Refusal::WrongState { action, state }
}

// ---------------------------------------------------------------------------------------------
// 1. The happy path
// ---------------------------------------------------------------------------------------------

db_test!(
    happy_path_writes_one_event_and_the_right_messages_per_step,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let t0 = monday();
        let r = file(&t, &w.reporter, t0).await;
        let id = r.id;
        // Filed: handled by the community, the accept clock (1 working day) running.
        assert_eq!(r.handling_area_id, w.changle.id);
        assert_eq!(r.handling_area_path, w.changle.path);
        assert_eq!(r.origin_area_path, w.reporter.area_path);
        assert_eq!(r.due_at, Some(cst(2026, 3, 3, 10, 0)));
        assert_eq!(r.escalation_level, 0);
        let submit = events_of(&t.db, id).await;
        assert_eq!(submit.len(), 1);
        let e = &submit[0];
        assert_eq!(
            (e.actor_kind.as_str(), e.actor_staff_id, e.actor_member_id),
            member_cols(&w.reporter)
        );
        assert_eq!(
            (e.action.code(), e.from_state, e.to_state, e.public),
            ("submit", None, Some(Submitted), true)
        );
        assert!(
            all_outbox(&t).await.is_empty(),
            "filing queues nothing by itself"
        );

        // Accept (secretary): the handling clock (2 working days) starts.
        let t1 = cst(2026, 3, 2, 10, 30);
        let s = step(&t, &w.secretary(), id, Action::Accept, t1).await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "accept",
            Submitted,
            Accepted,
            true,
        );
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["已受理"],
            }],
        );
        assert_eq!(s.report.state, Accepted);
        assert_eq!(s.report.accepted_at, Some(t1));
        assert_eq!(s.report.clock_started_at, Some(t1));
        let handle_due = cst(2026, 3, 4, 10, 30);
        assert_eq!(s.report.due_at, Some(handle_due));
        // Yellow at 75 % of the 48 hours.
        assert_eq!(s.report.warn_at, Some(t1 + Duration::hours(36)));

        // Assign to the bound grid leader: the reporter is told, the leader gets a task card.
        let t2 = cst(2026, 3, 2, 11, 0);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Assign(Assignee::Member(w.leader.id)),
            t2,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "assign",
            Accepted,
            Assigned,
            true,
        );
        check_queued(
            &s.queued,
            id,
            &[
                Expect {
                    kind: "report_update",
                    to: &w.reporter,
                    says: &["已派遣"],
                },
                Expect {
                    kind: "task",
                    to: &w.leader,
                    says: &["新任务", "事件", "3栋楼道堆放杂物"],
                },
            ],
        );
        let card = s.queued.iter().find(|r| r.kind.code() == "task").unwrap();
        check_task_buttons(card, id, "接单", "完成");
        assert_eq!(s.report.assignee_member_id, Some(w.leader.id));
        assert_eq!(s.report.assignee_staff_id, None);
        assert_eq!(
            s.report.accepted_at,
            Some(t1),
            "assigning keeps the accept time"
        );
        assert_eq!(
            s.report.due_at,
            Some(handle_due),
            "assigning keeps the running deadline"
        );
        assert_eq!(s.report.clock_started_at, Some(t1));

        // The leader presses 接单.
        let t3 = cst(2026, 3, 2, 14, 0);
        let s = step(&t, &as_member(&w.leader), id, Action::Start, t3).await;
        check_event(
            &s.event,
            member_cols(&w.leader),
            "start",
            Assigned,
            InProgress,
            true,
        );
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["正在处置中"],
            }],
        );
        assert_eq!(s.report.due_at, Some(handle_due));

        // The leader presses 完成 with a note: the clock stops.
        let t4 = cst(2026, 3, 3, 9, 15);
        let s = step(
            &t,
            &as_member(&w.leader),
            id,
            Action::Resolve {
                note: Some("杂物已清理".into()),
            },
            t4,
        )
        .await;
        check_event(
            &s.event,
            member_cols(&w.leader),
            "resolve",
            InProgress,
            Resolved,
            true,
        );
        assert_eq!(s.event.note.as_deref(), Some("杂物已清理"));
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["已处置完毕", "杂物已清理"],
            }],
        );
        assert_eq!(s.report.resolved_at, Some(t4));
        assert_eq!(
            (s.report.due_at, s.report.warn_at, s.report.clock_started_at),
            (None, None, None)
        );

        // The secretary closes it.
        let t5 = cst(2026, 3, 3, 16, 0);
        let s = step(&t, &w.secretary(), id, Action::Close { note: None }, t5).await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "close",
            Resolved,
            Closed,
            true,
        );
        assert_eq!(s.event.note, None);
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["已办结"],
            }],
        );
        assert_eq!(s.report.state, Closed);
        assert_eq!(s.report.closed_at, Some(t5));
        assert_eq!(s.report.resolved_at, Some(t4));
        assert_eq!(s.report.accepted_at, Some(t1));
        assert_eq!(s.report.submitted_at, Some(t0));
        assert_eq!((s.report.due_at, s.report.warn_at), (None, None));

        // The whole timeline, in order; nobody else got anything.
        let timeline: Vec<String> = events_of(&t.db, id)
            .await
            .into_iter()
            .map(|e| e.action.code().to_owned())
            .collect();
        assert_eq!(
            timeline,
            ["submit", "accept", "assign", "start", "resolve", "close"]
        );
        let outbox = all_outbox(&t).await;
        assert_eq!(outbox.len(), 6);
        assert!(
            outbox
                .iter()
                .all(|r| r.member_id == Some(w.reporter.id) || r.member_id == Some(w.leader.id))
        );
        // The reporter's messages are all Chinese (the default language).
        for row in outbox.iter().filter(|r| r.member_id == Some(w.reporter.id)) {
            let text = row.message().unwrap().text;
            assert!(text.starts_with("您上报的"), "{text}");
        }
    }
);

// ---------------------------------------------------------------------------------------------
// 2. Every other transition
// ---------------------------------------------------------------------------------------------

db_test!(
    return_with_reason_then_resubmit,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let r = file(&t, &w.reporter, monday()).await;
        let id = r.id;

        let t1 = cst(2026, 3, 2, 11, 0);
        let ret = Action::Return {
            reason: ReturnReason::Incomplete,
            note: Some("请补充具体楼栋号".into()),
        };
        let s = step(&t, &w.secretary(), id, ret, t1).await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "return",
            Submitted,
            Returned,
            true,
        );
        assert_eq!(s.event.note.as_deref(), Some("请补充具体楼栋号"));
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["退回", "信息不全", "请补充具体楼栋号"],
            }],
        );
        assert_eq!(s.report.state, Returned);
        assert_eq!(s.report.return_reason, Some(ReturnReason::Incomplete));
        assert_eq!(s.report.reason_note.as_deref(), Some("请补充具体楼栋号"));
        assert_eq!(
            (s.report.due_at, s.report.warn_at),
            (None, None),
            "no clock runs while the reporter amends"
        );

        // Staff cannot resubmit for the reporter; the reporter can.
        let r2 = refused(&t, &w.secretary(), id, Action::Resubmit { note: None }, t1).await;
        assert_eq!(r2, Refusal::NotAllowed { action: "resubmit" });

        let t2 = cst(2026, 3, 2, 15, 0);
        let s = step(
            &t,
            &as_member(&w.reporter),
            id,
            Action::Resubmit {
                note: Some("3栋2单元".into()),
            },
            t2,
        )
        .await;
        check_event(
            &s.event,
            member_cols(&w.reporter),
            "resubmit",
            Returned,
            Submitted,
            true,
        );
        assert_eq!(s.event.note.as_deref(), Some("3栋2单元"));
        assert!(
            s.queued.is_empty(),
            "the reporter is not told about their own resubmission"
        );
        assert_eq!(s.report.state, Submitted);
        assert_eq!(s.report.return_reason, None);
        assert_eq!(s.report.submitted_at, Some(t2));
        // A fresh accept clock: 1 working day.
        assert_eq!(s.report.clock_started_at, Some(t2));
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 3, 15, 0)));

        // And it can be accepted again as usual.
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Accept,
            cst(2026, 3, 2, 16, 0),
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "accept",
            Submitted,
            Accepted,
            true,
        );
    }
);

db_test!(reject_is_final, |t: gridline_tests::TestDb| async move {
    let w = setup(&t).await;
    let id = file(&t, &w.reporter, monday()).await.id;
    let t1 = cst(2026, 3, 2, 11, 0);
    // A rejection needs a reason.
    let r = refused(
        &t,
        &w.secretary(),
        id,
        Action::Reject { note: "  ".into() },
        t1,
    )
    .await;
    assert_invalid(&r);

    let s = step(
        &t,
        &w.secretary(),
        id,
        Action::Reject {
            note: "不属于网格事项".into(),
        },
        t1,
    )
    .await;
    check_event(
        &s.event,
        staff_cols(&w.secretary),
        "reject",
        Submitted,
        Rejected,
        true,
    );
    check_queued(
        &s.queued,
        id,
        &[Expect {
            kind: "report_update",
            to: &w.reporter,
            says: &["不予受理", "不属于网格事项"],
        }],
    );
    assert_eq!(s.report.state, Rejected);
    assert_eq!(s.report.reason_note.as_deref(), Some("不属于网格事项"));
    assert_eq!((s.report.due_at, s.report.warn_at), (None, None));

    for action in [
        Action::Accept,
        Action::Reopen {
            note: "再看看".into(),
        },
        Action::Close { note: None },
    ] {
        let code = action.code();
        let r = refused(&t, &w.secretary(), id, action, t1).await;
        assert_eq!(r, wrong_state(code, Rejected));
    }
    let r = refused(
        &t,
        &as_member(&w.reporter),
        id,
        Action::Resubmit { note: None },
        t1,
    )
    .await;
    assert_eq!(r, wrong_state("resubmit", Rejected));
});

db_test!(mark_duplicate, |t: gridline_tests::TestDb| async move {
    let w = setup(&t).await;
    let original = file(&t, &w.reporter, monday()).await.id;
    let dup = file(&t, &w.reporter, cst(2026, 3, 2, 10, 5)).await.id;
    let elsewhere = file(&t, &w.anren, monday()).await.id;
    let t1 = cst(2026, 3, 2, 11, 0);

    // Not a duplicate of itself, nor of a report the secretary cannot see, nor of nothing.
    assert_invalid(
        &refused(
            &t,
            &w.secretary(),
            dup,
            Action::MarkDuplicate { of: dup },
            t1,
        )
        .await,
    );
    assert_invalid(
        &refused(
            &t,
            &w.secretary(),
            dup,
            Action::MarkDuplicate { of: elsewhere },
            t1,
        )
        .await,
    );
    assert_invalid(
        &refused(
            &t,
            &w.secretary(),
            dup,
            Action::MarkDuplicate { of: 999_999 },
            t1,
        )
        .await,
    );

    let s = step(
        &t,
        &w.secretary(),
        dup,
        Action::MarkDuplicate { of: original },
        t1,
    )
    .await;
    check_event(
        &s.event,
        staff_cols(&w.secretary),
        "duplicate",
        Submitted,
        Rejected,
        true,
    );
    assert_eq!(s.event.note, Some(format!("#{original}")));
    let of = format!("#{original}");
    check_queued(
        &s.queued,
        dup,
        &[Expect {
            kind: "report_update",
            to: &w.reporter,
            says: &["重复", of.as_str()],
        }],
    );
    assert_eq!(s.report.state, Rejected);
    assert_eq!(s.report.duplicate_of, Some(original));
    assert_eq!((s.report.due_at, s.report.warn_at), (None, None));
    // The original is untouched.
    let o = reload(&t.db, original).await;
    assert_eq!(o.state, Submitted);
    assert_eq!(o.duplicate_of, None);
    assert_eq!(events_of(&t.db, original).await.len(), 1);

    // The county admin sees both towns, so it may merge across them.
    let other = file(&t, &w.reporter, cst(2026, 3, 2, 10, 10)).await.id;
    let s = step(
        &t,
        &w.county_admin(),
        other,
        Action::MarkDuplicate { of: elsewhere },
        t1,
    )
    .await;
    assert_eq!(s.report.duplicate_of, Some(elsewhere));
});

db_test!(
    verify_fail_and_reopen,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let id = file(&t, &w.reporter, monday()).await.id;
        step(
            &t,
            &w.secretary(),
            id,
            Action::Accept,
            cst(2026, 3, 2, 10, 30),
        )
        .await;
        step(
            &t,
            &w.secretary(),
            id,
            Action::Assign(Assignee::Member(w.leader.id)),
            cst(2026, 3, 2, 10, 40),
        )
        .await;
        step(
            &t,
            &as_member(&w.leader),
            id,
            Action::Start,
            cst(2026, 3, 2, 11, 0),
        )
        .await;
        step(
            &t,
            &as_member(&w.leader),
            id,
            Action::Resolve { note: None },
            cst(2026, 3, 2, 15, 0),
        )
        .await;

        // Verification failed: back to the assignee (not the reporter), a fresh handling clock.
        let t1 = cst(2026, 3, 3, 10, 0);
        let r = refused(
            &t,
            &w.secretary(),
            id,
            Action::VerifyFail {
                note: String::new(),
            },
            t1,
        )
        .await;
        assert_invalid(&r);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::VerifyFail {
                note: "现场仍有杂物".into(),
            },
            t1,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "verify_fail",
            Resolved,
            InProgress,
            false,
        );
        assert_eq!(s.event.note.as_deref(), Some("现场仍有杂物"));
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.leader,
                says: &["核查未通过", "现场仍有杂物"],
            }],
        );
        assert_eq!(s.report.state, InProgress);
        assert_eq!(s.report.assignee_member_id, Some(w.leader.id));
        assert_eq!(s.report.clock_started_at, Some(t1));
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 5, 10, 0)));

        // Resolved and closed again, then reopened by the secretary within the window.
        let closed_at = cst(2026, 3, 3, 16, 0);
        resolve_and_close(
            &t,
            &w,
            &as_member(&w.leader),
            id,
            cst(2026, 3, 3, 15, 0),
            closed_at,
        )
        .await;
        let r = refused(
            &t,
            &w.secretary(),
            id,
            Action::Reopen { note: " ".into() },
            closed_at,
        )
        .await;
        assert_invalid(&r);

        let t2 = cst(2026, 3, 10, 9, 30);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Reopen {
                note: "居民反映又堆上了".into(),
            },
            t2,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "reopen",
            Closed,
            InProgress,
            true,
        );
        // The reporter is told, and so is the grid leader it is still assigned to.
        check_queued(
            &s.queued,
            id,
            &[
                Expect {
                    kind: "report_update",
                    to: &w.reporter,
                    says: &["重新处置", "居民反映又堆上了"],
                },
                Expect {
                    kind: "report_update",
                    to: &w.leader,
                    says: &["重新打开", "居民反映又堆上了"],
                },
            ],
        );
        assert_eq!(s.report.assignee_member_id, Some(w.leader.id));
        assert_eq!(s.report.state, InProgress);
        assert_eq!(s.report.closed_at, None);
        assert_eq!(s.report.resolved_at, None);
        assert_eq!(s.report.clock_started_at, Some(t2));
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 12, 9, 30)));

        // Past the 30-day window a closed report stays closed.
        let closed_again = cst(2026, 3, 10, 16, 0);
        resolve_and_close(
            &t,
            &w,
            &as_member(&w.leader),
            id,
            cst(2026, 3, 10, 15, 0),
            closed_again,
        )
        .await;
        let late =
            closed_again + Duration::days(lifecycle::REOPEN_WINDOW_DAYS) + Duration::minutes(1);
        let r = refused(
            &t,
            &w.secretary(),
            id,
            Action::Reopen {
                note: "太晚了".into(),
            },
            late,
        )
        .await;
        assert_eq!(r, Refusal::ReopenWindowPassed);
        // On the last day it still works.
        let in_time = closed_again + Duration::days(lifecycle::REOPEN_WINDOW_DAYS);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Reopen {
                note: "最后一天".into(),
            },
            in_time,
        )
        .await;
        assert_eq!(s.report.state, InProgress);
    }
);

db_test!(
    escalation_by_staff_moves_the_report_to_the_town,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let id = file(&t, &w.reporter, monday()).await.id;
        let t1 = cst(2026, 3, 2, 11, 0);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Escalate {
                note: Some("需街道协调".into()),
            },
            t1,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "escalate",
            Submitted,
            Submitted,
            false,
        );
        assert_eq!(s.event.note.as_deref(), Some("需街道协调"));
        assert!(s.queued.is_empty(), "escalation is internal");
        assert_eq!(s.report.state, Submitted);
        assert_eq!(s.report.handling_area_id, w.town.id);
        assert_eq!(s.report.handling_area_path, w.town.path);
        assert_eq!(
            s.report.origin_area_path, w.reporter.area_path,
            "the origin never moves"
        );
        assert_eq!(s.report.escalation_level, 1);
        // The town gets a fresh accept clock.
        assert_eq!(s.report.clock_started_at, Some(t1));
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 3, 11, 0)));

        // The community secretary still sees it but can no longer act on it …
        for action in [
            Action::Accept,
            Action::Reject {
                note: "不管".into(),
            },
            Action::Assign(Assignee::Member(w.leader.id)),
            Action::Escalate { note: None },
            Action::Reply {
                note: "已上报街道".into(),
            },
        ] {
            let r = refused(&t, &w.secretary(), id, action, t1).await;
            assert_eq!(r, Refusal::OutOfScope);
        }
        // … except comment on it.
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Comment {
                note: "社区已初步核实".into(),
            },
            t1,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "comment",
            Submitted,
            Submitted,
            false,
        );
        assert!(s.queued.is_empty());
        // The other community's secretary does not even see it.
        let r = refused(
            &t,
            &w.other_secretary(),
            id,
            Action::Comment { note: "?".into() },
            t1,
        )
        .await;
        assert_eq!(r, Refusal::NotFound);

        // The town admin acts on it, and may assign a grid leader from anywhere in the town.
        let t2 = cst(2026, 3, 2, 14, 0);
        let s = step(&t, &w.town_admin(), id, Action::Accept, t2).await;
        check_event(
            &s.event,
            staff_cols(&w.town_admin),
            "accept",
            Submitted,
            Accepted,
            true,
        );
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["已受理"],
            }],
        );
        let s = step(
            &t,
            &w.town_admin(),
            id,
            Action::Assign(Assignee::Member(w.other_leader.id)),
            t2,
        )
        .await;
        assert_eq!(s.report.assignee_member_id, Some(w.other_leader.id));
        check_queued(
            &s.queued,
            id,
            &[
                Expect {
                    kind: "report_update",
                    to: &w.reporter,
                    says: &["已派遣"],
                },
                Expect {
                    kind: "task",
                    to: &w.other_leader,
                    says: &["新任务"],
                },
            ],
        );

        // Up once more, to the county: now the town admin is out of scope too.
        let s = step(&t, &w.town_admin(), id, Action::Escalate { note: None }, t2).await;
        check_event(
            &s.event,
            staff_cols(&w.town_admin),
            "escalate",
            Assigned,
            Assigned,
            false,
        );
        assert_eq!(s.report.handling_area_id, w.root.id);
        assert_eq!(s.report.escalation_level, 2);
        // An assigned report gets a fresh handling clock (2 working days).
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 4, 14, 0)));
        let r = refused(&t, &w.town_admin(), id, Action::Close { note: None }, t2).await;
        assert_eq!(r, Refusal::OutOfScope);
        // Nothing lies above the county.
        let r = refused(
            &t,
            &w.county_admin(),
            id,
            Action::Escalate { note: None },
            t2,
        )
        .await;
        assert_invalid(&r);
    }
);

db_test!(
    escalation_by_the_system,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let id = file(&t, &w.reporter, monday()).await.id;
        step(
            &t,
            &w.secretary(),
            id,
            Action::Accept,
            cst(2026, 3, 2, 10, 30),
        )
        .await;
        let red = cst(2026, 3, 4, 10, 31);

        // The scheduler may only escalate.
        let r = refused(&t, &Actor::System, id, Action::Close { note: None }, red).await;
        assert_eq!(r, Refusal::NotAllowed { action: "close" });

        let s = step(&t, &Actor::System, id, Action::Escalate { note: None }, red).await;
        check_event(&s.event, SYSTEM_COLS, "escalate", Accepted, Accepted, false);
        assert!(s.queued.is_empty());
        assert_eq!(s.report.handling_area_id, w.town.id);
        assert_eq!(s.report.escalation_level, 1);
        assert_eq!(s.report.clock_started_at, Some(red));
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 6, 10, 31)));
        assert_eq!(
            refused(
                &t,
                &w.secretary(),
                id,
                Action::Assign(Assignee::Member(w.leader.id)),
                red
            )
            .await,
            Refusal::OutOfScope
        );

        let s = step(&t, &Actor::System, id, Action::Escalate { note: None }, red).await;
        assert_eq!(s.report.handling_area_id, w.root.id);
        assert_eq!(s.report.escalation_level, 2);
        assert_invalid(
            &refused(&t, &Actor::System, id, Action::Escalate { note: None }, red).await,
        );
    }
);

db_test!(
    comment_reply_and_add_info,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let r = file(&t, &w.reporter, monday()).await;
        let id = r.id;
        let t1 = cst(2026, 3, 2, 11, 0);

        // Internal comment: not public, nothing queued, nothing else changes.
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Comment {
                note: "需联系物业".into(),
            },
            t1,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "comment",
            Submitted,
            Submitted,
            false,
        );
        assert_eq!(s.event.note.as_deref(), Some("需联系物业"));
        assert!(s.queued.is_empty());
        assert_eq!(
            s.report,
            report::Model {
                updated_at: t1,
                ..r.clone()
            }
        );

        // A reply goes to the reporter with the text.
        let t2 = cst(2026, 3, 2, 11, 30);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Reply {
                note: "已联系物业，今天下午处理".into(),
            },
            t2,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "reply",
            Submitted,
            Submitted,
            true,
        );
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "reply",
                to: &w.reporter,
                says: &["回复", "已联系物业，今天下午处理"],
            }],
        );
        assert_eq!(
            s.report,
            report::Model {
                updated_at: t2,
                ..r.clone()
            }
        );

        // The reporter adds information: on the timeline, public, nothing queued.
        let t3 = cst(2026, 3, 2, 12, 0);
        let s = step(
            &t,
            &as_member(&w.reporter),
            id,
            Action::AddInfo {
                note: "杂物在2单元门口".into(),
            },
            t3,
        )
        .await;
        check_event(
            &s.event,
            member_cols(&w.reporter),
            "add_info",
            Submitted,
            Submitted,
            true,
        );
        assert_eq!(s.event.note.as_deref(), Some("杂物在2单元门口"));
        assert!(s.queued.is_empty());
        assert_eq!(
            s.report,
            report::Model {
                updated_at: t3,
                ..r.clone()
            }
        );

        // So may the assigned grid leader, once assigned.
        step(
            &t,
            &w.secretary(),
            id,
            Action::Assign(Assignee::Member(w.leader.id)),
            t3,
        )
        .await;
        let s = step(
            &t,
            &as_member(&w.leader),
            id,
            Action::AddInfo {
                note: "已到现场".into(),
            },
            t3,
        )
        .await;
        check_event(
            &s.event,
            member_cols(&w.leader),
            "add_info",
            Assigned,
            Assigned,
            true,
        );
        assert!(s.queued.is_empty());

        // Even after closing, a comment may be added (no state change).
        resolve_and_close(&t, &w, &as_member(&w.leader), id, t3, t3).await;
        let s = step(
            &t,
            &w.county_admin(),
            id,
            Action::Comment {
                note: "抽查合格".into(),
            },
            t3,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.county_admin),
            "comment",
            Closed,
            Closed,
            false,
        );

        let timeline: Vec<(String, bool)> = events_of(&t.db, id)
            .await
            .into_iter()
            .map(|e| (e.action.code().to_owned(), e.public))
            .collect();
        let expected = [
            ("submit", true),
            ("comment", false),
            ("reply", true),
            ("add_info", true),
            ("assign", true),
            ("add_info", true),
            ("resolve", true),
            ("close", true),
            ("comment", false),
        ];
        assert_eq!(timeline, expected.map(|(a, p)| (a.to_owned(), p)));
    }
);

db_test!(
    assign_straight_away_and_reassign,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let id = file(&t, &w.reporter, monday()).await.id;
        // Assigning a submitted report accepts it on the way and starts the handling clock.
        let t1 = cst(2026, 3, 2, 10, 20);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Assign(Assignee::Member(w.leader.id)),
            t1,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "assign",
            Submitted,
            Assigned,
            true,
        );
        assert_eq!(s.report.accepted_at, Some(t1));
        assert_eq!(s.report.clock_started_at, Some(t1));
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 4, 10, 20)));
        step(
            &t,
            &as_member(&w.leader),
            id,
            Action::Start,
            cst(2026, 3, 2, 11, 0),
        )
        .await;

        // Reassigning while in progress: a card to the new leader, the clock and the accept time
        // stay, and the old leader may no longer finish it.
        let t2 = cst(2026, 3, 3, 9, 0);
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Assign(Assignee::Member(w.unbound.id)),
            t2,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "assign",
            InProgress,
            Assigned,
            true,
        );
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["已派遣"],
            }],
        );
        assert_eq!(s.report.assignee_member_id, Some(w.unbound.id));
        assert_eq!(s.report.accepted_at, Some(t1));
        assert_eq!(s.report.due_at, Some(cst(2026, 3, 4, 10, 20)));
        let r = refused(
            &t,
            &as_member(&w.leader),
            id,
            Action::Resolve { note: None },
            t2,
        )
        .await;
        assert_eq!(r, Refusal::NotFound);
        // Assigning to a staff member drops the member assignee.
        let s = step(
            &t,
            &w.town_admin(),
            id,
            Action::Assign(Assignee::Staff(w.secretary.id)),
            t2,
        )
        .await;
        assert_eq!(
            (s.report.assignee_staff_id, s.report.assignee_member_id),
            (Some(w.secretary.id), None)
        );
    }
);

/// A grid leader who reported something in their own micro-grid and was then assigned it: the
/// whole lifecycle must work, including a reopen (which tells both the reporter and the
/// assignee — here the same person).
async fn reporter_assigned_own_report(t: TestDb) {
    let w = setup(&t).await;
    let id = file(&t, &w.reporter, monday()).await.id;
    let me = as_member(&w.reporter);
    let s = step(
        &t,
        &w.secretary(),
        id,
        Action::Assign(Assignee::Member(w.reporter.id)),
        cst(2026, 3, 2, 10, 30),
    )
    .await;
    check_queued(
        &s.queued,
        id,
        &[
            Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["已派遣"],
            },
            Expect {
                kind: "task",
                to: &w.reporter,
                says: &["新任务"],
            },
        ],
    );
    step(&t, &me, id, Action::Start, cst(2026, 3, 2, 11, 0)).await;
    step(
        &t,
        &me,
        id,
        Action::Resolve { note: None },
        cst(2026, 3, 2, 15, 0),
    )
    .await;
    let s = step(
        &t,
        &w.secretary(),
        id,
        Action::VerifyFail {
            note: "再看看".into(),
        },
        cst(2026, 3, 2, 16, 0),
    )
    .await;
    check_queued(
        &s.queued,
        id,
        &[Expect {
            kind: "report_update",
            to: &w.reporter,
            says: &["核查未通过"],
        }],
    );
    resolve_and_close(
        &t,
        &w,
        &me,
        id,
        cst(2026, 3, 3, 10, 0),
        cst(2026, 3, 3, 11, 0),
    )
    .await;

    let s = step(
        &t,
        &w.secretary(),
        id,
        Action::Reopen {
            note: "又坏了".into(),
        },
        cst(2026, 3, 5, 9, 0),
    )
    .await;
    check_event(
        &s.event,
        staff_cols(&w.secretary),
        "reopen",
        Closed,
        InProgress,
        true,
    );
    assert_eq!(s.report.state, InProgress);
    assert!(!s.queued.is_empty(), "the reporter-assignee is told");
    for row in &s.queued {
        assert_eq!(row.member_id, Some(w.reporter.id));
        assert!(row.message().unwrap().text.contains(&format!("#{id}")));
    }
}

db_test!(reporter_assigned_own_report, reporter_assigned_own_report);

// ---------------------------------------------------------------------------------------------
// 3. Refusals leave nothing behind
// ---------------------------------------------------------------------------------------------

db_test!(
    refusals_leave_nothing_behind,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let submitted = file(&t, &w.reporter, monday()).await.id;
        let accepted = file(&t, &w.reporter, monday()).await.id;
        step(
            &t,
            &w.secretary(),
            accepted,
            Action::Accept,
            cst(2026, 3, 2, 10, 30),
        )
        .await;
        let now = cst(2026, 3, 2, 11, 0);

        // Wrong state.
        assert_eq!(
            refused(
                &t,
                &w.secretary(),
                submitted,
                Action::Close { note: None },
                now
            )
            .await,
            wrong_state("close", Submitted)
        );
        assert_eq!(
            refused(&t, &w.secretary(), accepted, Action::Accept, now).await,
            wrong_state("accept", Accepted)
        );
        assert_eq!(
            refused(
                &t,
                &w.secretary(),
                accepted,
                Action::Resolve { note: None },
                now
            )
            .await,
            wrong_state("resolve", Accepted)
        );

        // Wrong role: a viewer only looks, even at what it sees.
        assert_eq!(
            refused(&t, &w.viewer(), submitted, Action::Accept, now).await,
            Refusal::NotAllowed { action: "accept" }
        );
        assert_eq!(
            refused(
                &t,
                &w.viewer(),
                submitted,
                Action::Comment {
                    note: "看看".into()
                },
                now
            )
            .await,
            Refusal::NotAllowed { action: "comment" }
        );

        // Out of scope: the other community's secretary is told there is no such report.
        for action in [
            Action::Accept,
            Action::Comment { note: "?".into() },
            Action::Reject { note: "x".into() },
        ] {
            assert_eq!(
                refused(&t, &w.other_secretary(), submitted, action, now).await,
                Refusal::NotFound
            );
        }
        // A report that does not exist at all looks the same.
        assert_eq!(
            refused(&t, &w.secretary(), 999_999, Action::Accept, now).await,
            Refusal::NotFound
        );
        assert_eq!(
            refused(&t, &w.county_admin(), 999_999, Action::Accept, now).await,
            Refusal::NotFound
        );

        // Members who are not the reporter (nor the assignee) do not see it either.
        assert_eq!(
            refused(
                &t,
                &as_member(&w.leader),
                submitted,
                Action::AddInfo {
                    note: "我也看到了".into()
                },
                now
            )
            .await,
            Refusal::NotFound
        );
        assert_eq!(
            refused(
                &t,
                &as_member(&w.other_leader),
                submitted,
                Action::Resubmit { note: None },
                now
            )
            .await,
            Refusal::NotFound
        );
        // The reporter may not run the lifecycle.
        assert_eq!(
            refused(&t, &as_member(&w.reporter), submitted, Action::Accept, now).await,
            Refusal::NotAllowed { action: "accept" }
        );
        assert_eq!(
            refused(
                &t,
                &as_member(&w.reporter),
                accepted,
                Action::Close { note: None },
                now
            )
            .await,
            Refusal::NotAllowed { action: "close" }
        );

        // Assigning outside the handling area, to nobody, or to someone who has left.
        for to in [
            Assignee::Member(w.other_leader.id),
            Assignee::Member(w.anren.id),
            Assignee::Member(999_999),
            Assignee::Staff(w.other_secretary.id),
            Assignee::Staff(w.viewer.id),
            Assignee::Staff(999_999),
        ] {
            let r = refused(&t, &w.secretary(), accepted, Action::Assign(to), now).await;
            assert_invalid(&r);
        }
        let mut gone: member::ActiveModel = w.unbound.clone().into();
        gone.status = Set(MemberStatus::Left);
        let gone = gone.update(t.db.conn()).await.unwrap();
        assert_invalid(
            &refused(
                &t,
                &w.secretary(),
                accepted,
                Action::Assign(Assignee::Member(gone.id)),
                now,
            )
            .await,
        );

        // Notes: too long, or missing where one is required (a return for "other" must say why).
        let other = Action::Return {
            reason: ReturnReason::Other,
            note: Some(" \u{200B}".into()),
        };
        assert_invalid(&refused(&t, &w.secretary(), submitted, other, now).await);
        let other = Action::Return {
            reason: ReturnReason::Other,
            note: None,
        };
        assert_invalid(&refused(&t, &w.secretary(), submitted, other, now).await);
        let long = "字".repeat(lifecycle::MAX_NOTE_CHARS + 1);
        assert_invalid(
            &refused(
                &t,
                &w.secretary(),
                accepted,
                Action::Comment { note: long },
                now,
            )
            .await,
        );
        assert_invalid(
            &refused(
                &t,
                &w.secretary(),
                accepted,
                Action::Reply { note: "\n".into() },
                now,
            )
            .await,
        );

        // After all that, both reports are exactly as they were and the timelines hold only what
        // the successful steps wrote.
        assert_eq!(events_of(&t.db, submitted).await.len(), 1);
        assert_eq!(events_of(&t.db, accepted).await.len(), 2);
        assert_eq!(all_outbox(&t).await.len(), 1);
        assert_eq!(reload(&t.db, submitted).await.state, Submitted);
        // And a valid step still goes through.
        let s = step(
            &t,
            &w.secretary(),
            accepted,
            Action::Assign(Assignee::Staff(w.secretary.id)),
            now,
        )
        .await;
        assert_eq!(s.report.assignee_staff_id, Some(w.secretary.id));
        assert!(
            s.queued.iter().all(|r| r.kind.code() != "task"),
            "no task card when a staff member is assigned"
        );
    }
);

// ---------------------------------------------------------------------------------------------
// 4. Language, 5. unbound reporters
// ---------------------------------------------------------------------------------------------

db_test!(
    english_members_get_english_messages,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let reporter = set_language(&t, &w.reporter, Lang::En).await;
        let leader = set_language(&t, &w.leader, Lang::En).await;
        let id = file(&t, &reporter, monday()).await.id;
        let t1 = cst(2026, 3, 2, 10, 30);

        let s = step(&t, &w.secretary(), id, Action::Accept, t1).await;
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "report_update",
                to: &reporter,
                says: &["has been accepted"],
            }],
        );
        assert_eq!(
            s.queued[0].message().unwrap().text,
            format!("Your report #{id} has been accepted.")
        );

        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Assign(Assignee::Member(leader.id)),
            t1,
        )
        .await;
        check_queued(
            &s.queued,
            id,
            &[
                Expect {
                    kind: "report_update",
                    to: &reporter,
                    says: &["assigned"],
                },
                Expect {
                    kind: "task",
                    to: &leader,
                    says: &["New task", "Incident", "3栋楼道堆放杂物"],
                },
            ],
        );
        check_task_buttons(
            s.queued.iter().find(|r| r.kind.code() == "task").unwrap(),
            id,
            "Accept",
            "Done",
        );

        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Reply {
                note: "On our way".into(),
            },
            t1,
        )
        .await;
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "reply",
                to: &reporter,
                says: &["Reply about", "On our way"],
            }],
        );

        // The return reason is named in English too.
        let id2 = file(&t, &reporter, monday()).await.id;
        let ret = Action::Return {
            reason: ReturnReason::NeedsPhoto,
            note: None,
        };
        let s = step(&t, &w.secretary(), id2, ret, t1).await;
        check_queued(
            &s.queued,
            id2,
            &[Expect {
                kind: "report_update",
                to: &reporter,
                says: &["was returned", "a photo is needed"],
            }],
        );

        for row in all_outbox(&t).await {
            let text = row.message().unwrap().text;
            assert!(
                !text.contains("您上报的") && !text.contains("新任务"),
                "Chinese text to an English member: {text}"
            );
        }
    }
);

db_test!(
    unbound_reporter_gets_nothing_queued,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let id = file(&t, &w.unbound, monday()).await.id;
        let t1 = cst(2026, 3, 2, 10, 30);

        let s = step(&t, &w.secretary(), id, Action::Accept, t1).await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "accept",
            Submitted,
            Accepted,
            true,
        );
        assert!(s.queued.is_empty());
        // The bound leader still gets the task card; the unbound reporter nothing.
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Assign(Assignee::Member(w.leader.id)),
            t1,
        )
        .await;
        check_queued(
            &s.queued,
            id,
            &[Expect {
                kind: "task",
                to: &w.leader,
                says: &["新任务"],
            }],
        );
        let s = step(
            &t,
            &w.secretary(),
            id,
            Action::Reply {
                note: "收到".into(),
            },
            t1,
        )
        .await;
        check_event(
            &s.event,
            staff_cols(&w.secretary),
            "reply",
            Assigned,
            Assigned,
            true,
        );
        assert!(s.queued.is_empty());
        let s = step(&t, &as_member(&w.leader), id, Action::Start, t1).await;
        assert!(s.queued.is_empty());
        let s = step(
            &t,
            &as_member(&w.leader),
            id,
            Action::Resolve { note: None },
            t1,
        )
        .await;
        assert!(s.queued.is_empty());
        let s = step(&t, &w.secretary(), id, Action::Close { note: None }, t1).await;
        assert_eq!(s.report.state, Closed);
        assert!(s.queued.is_empty());

        // Returned and resubmitted by the unbound reporter (e.g. through the simulator).
        let id2 = file(&t, &w.unbound, monday()).await.id;
        let s = step(
            &t,
            &w.secretary(),
            id2,
            Action::Return {
                reason: ReturnReason::Other,
                note: Some("重拍".into()),
            },
            t1,
        )
        .await;
        assert!(s.queued.is_empty());
        let s = step(
            &t,
            &as_member(&w.unbound),
            id2,
            Action::Resubmit { note: None },
            t1,
        )
        .await;
        assert_eq!(s.report.state, Submitted);

        // A task card to an unbound leader is not queued either.
        let id3 = file(&t, &w.reporter, monday()).await.id;
        let s = step(
            &t,
            &w.secretary(),
            id3,
            Action::Assign(Assignee::Member(w.unbound.id)),
            t1,
        )
        .await;
        check_queued(
            &s.queued,
            id3,
            &[Expect {
                kind: "report_update",
                to: &w.reporter,
                says: &["已派遣"],
            }],
        );

        let rows = all_outbox(&t).await;
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.member_id != Some(w.unbound.id)));
    }
);

// ---------------------------------------------------------------------------------------------
// 6. Deadlines with the holiday table
// ---------------------------------------------------------------------------------------------

db_test!(
    deadlines_follow_the_holiday_table,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        // 国庆 2026: Thursday 10-01 to Wednesday 10-07 off, Saturday 10-10 worked (调休).
        for d in 1..=7 {
            holidays::set_day(t.db.conn(), day(2026, 10, d), DayKind::Holiday, "国庆节")
                .await
                .unwrap();
        }
        holidays::set_day(t.db.conn(), day(2026, 10, 10), DayKind::Workday, "国庆调休")
            .await
            .unwrap();
        let emergency = category_by_code(&t.db, "emergency").await;
        let fire = category_by_code(&t.db, "hazard.fire").await;

        // Wednesday 2026-09-30 10:00, the last working day before the holiday.
        let now = cst(2026, 9, 30, 10, 0);
        let normal = file(&t, &w.reporter, now).await;
        assert_eq!(
            normal.due_at,
            Some(cst(2026, 10, 8, 10, 0)),
            "1 working day skips the holiday"
        );
        assert_eq!(normal.clock_started_at, Some(now));
        // Yellow at 75 % of the eight calendar days.
        assert_eq!(normal.warn_at, Some(cst(2026, 10, 6, 10, 0)));

        let subcategory = file_with(&t, &w.reporter, Urgency::Normal, Some(fire.id), now).await;
        assert_eq!(subcategory.due_at, Some(cst(2026, 10, 8, 10, 0)));

        let urgent = file_with(&t, &w.reporter, Urgency::Urgent, None, now).await;
        assert_eq!(urgent.due_at, Some(now + Duration::minutes(30)));
        assert_eq!(urgent.warn_at, Some(now + Duration::seconds(1350)));

        let sudden = file_with(&t, &w.reporter, Urgency::Normal, Some(emergency.id), now).await;
        assert_eq!(
            sudden.due_at,
            Some(now + Duration::minutes(30)),
            "突发 is accepted within 30 minutes"
        );

        let sudden_later = file_with(
            &t,
            &w.reporter,
            Urgency::Normal,
            Some(emergency.id),
            cst(2026, 9, 30, 10, 10),
        )
        .await;
        assert_eq!(sudden_later.due_at, Some(cst(2026, 9, 30, 10, 40)));

        // Accepting starts the handling clock: 2 working days for a normal report (over the
        // holiday), the same day for an emergency.
        let s = step(
            &t,
            &w.secretary(),
            normal.id,
            Action::Accept,
            cst(2026, 9, 30, 11, 0),
        )
        .await;
        assert_eq!(s.report.due_at, Some(cst(2026, 10, 9, 11, 0)));
        let s = step(
            &t,
            &w.secretary(),
            sudden_later.id,
            Action::Accept,
            cst(2026, 9, 30, 10, 20),
        )
        .await;
        assert_eq!(s.report.due_at, Some(cst(2026, 9, 30, 18, 0)));
        assert_eq!(s.report.clock_started_at, Some(cst(2026, 9, 30, 10, 20)));

        // Friday 10-09 + 1 working day is the make-up Saturday 10-10.
        let friday = file(&t, &w.reporter, cst(2026, 10, 9, 15, 0)).await;
        assert_eq!(friday.due_at, Some(cst(2026, 10, 10, 15, 0)));

        // A report that is no longer open never counts as overdue, whatever its stored deadline.
        let rejected = file_with(&t, &w.reporter, Urgency::Urgent, None, now).await;
        step(
            &t,
            &w.secretary(),
            rejected.id,
            Action::Reject {
                note: "误报".into(),
            },
            now,
        )
        .await;
        let mut stale: report::ActiveModel = reload(&t.db, rejected.id).await.into();
        stale.due_at = Set(Some(now));
        stale.update(t.db.conn()).await.unwrap();

        // The ids returned (sorted, since equal deadlines may come in any order), after checking
        // that they come earliest deadline first and are all open.
        let overdue_ids = |rs: Vec<report::Model>| {
            assert!(
                rs.windows(2).all(|p| p[0].due_at <= p[1].due_at),
                "not earliest first: {rs:?}"
            );
            assert!(rs.iter().all(|r| r.state.is_open()), "{rs:?}");
            sorted(rs.into_iter().map(|r| r.id).collect())
        };
        // 10:45: the urgent and the unaccepted 突发 reports are red, earliest deadline first.
        let at = cst(2026, 9, 30, 10, 45);
        let got = lifecycle::overdue_open_reports(t.db.conn(), at, 100)
            .await
            .unwrap();
        assert_eq!(overdue_ids(got), sorted(vec![urgent.id, sudden.id]));
        let got = lifecycle::overdue_open_reports(t.db.conn(), at, 1)
            .await
            .unwrap();
        assert_eq!(overdue_ids(got).len(), 1);
        // Just before the first deadline nothing is overdue.
        let got = lifecycle::overdue_open_reports(t.db.conn(), cst(2026, 9, 30, 10, 29), 100)
            .await
            .unwrap();
        assert!(got.is_empty(), "{got:?}");
        // 18:00 on 09-30: the accepted emergency's same-day limit ran out too (the deadline itself counts).
        let got = lifecycle::overdue_open_reports(t.db.conn(), cst(2026, 9, 30, 18, 0), 100)
            .await
            .unwrap();
        assert_eq!(
            overdue_ids(got),
            sorted(vec![urgent.id, sudden.id, sudden_later.id])
        );
        // During the holiday nothing new turns red; on 10-08 10:00 the normal ones do.
        let got = lifecycle::overdue_open_reports(t.db.conn(), cst(2026, 10, 5, 12, 0), 100)
            .await
            .unwrap();
        assert_eq!(overdue_ids(got).len(), 3);
        let got = lifecycle::overdue_open_reports(t.db.conn(), cst(2026, 10, 8, 10, 0), 100)
            .await
            .unwrap();
        assert_eq!(
            overdue_ids(got),
            sorted(vec![urgent.id, sudden.id, sudden_later.id, subcategory.id])
        );
        // Once handled, a report drops out.
        step(
            &t,
            &w.secretary(),
            urgent.id,
            Action::Accept,
            cst(2026, 10, 8, 10, 0),
        )
        .await;
        let got = lifecycle::overdue_open_reports(t.db.conn(), cst(2026, 10, 8, 10, 0), 100)
            .await
            .unwrap();
        assert_eq!(
            overdue_ids(got),
            sorted(vec![sudden.id, sudden_later.id, subcategory.id])
        );
    }
);

// ---------------------------------------------------------------------------------------------
// 7. Concurrent writers
// ---------------------------------------------------------------------------------------------

db_test!(
    twenty_concurrent_accepts_of_different_reports,
    |t: gridline_tests::TestDb| async move {
        let w = setup(&t).await;
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(
                file(&t, &w.reporter, monday() + Duration::seconds(i))
                    .await
                    .id,
            );
        }
        let now = cst(2026, 3, 2, 11, 0);
        let handles: Vec<_> = ids
            .iter()
            .map(|&id| {
                let db = t.db.clone();
                let actor = w.secretary();
                tokio::spawn(async move {
                    lifecycle::transition(&db, &actor, id, Action::Accept, now).await
                })
            })
            .collect();
        for (id, h) in ids.iter().zip(handles) {
            let result = h.await.unwrap();
            assert!(result.is_ok(), "accepting #{id}: {:?}", result.err());
        }
        for &id in &ids {
            let r = reload(&t.db, id).await;
            assert_eq!(r.state, Accepted, "#{id}");
            let actions: Vec<String> = events_of(&t.db, id)
                .await
                .into_iter()
                .map(|e| e.action.code().to_owned())
                .collect();
            assert_eq!(actions, ["submit", "accept"], "#{id}");
        }
        assert_eq!(all_outbox(&t).await.len(), 20);
    }
);

/// Ten staff sessions press 受理 on the same report at once: one wins, nine are told it is no
/// longer waiting, and the timeline and the reporter see one acceptance. Five rounds (five
/// reports), every round released at once by a barrier, so a race shows up reliably.
async fn same_report_accepted_once(t: TestDb) {
    const ROUNDS: usize = 5;
    const SESSIONS: usize = 10;
    let w = setup(&t).await;
    let now = cst(2026, 3, 2, 11, 0);
    let actors = [w.secretary(), w.town_admin(), w.county_admin()];
    for round in 0..ROUNDS {
        let id = file(&t, &w.reporter, monday()).await.id;
        let outbox_before = all_outbox(&t).await.len();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(SESSIONS));
        let handles: Vec<_> = (0..SESSIONS)
            .map(|i| {
                let db = t.db.clone();
                let actor = actors[i % actors.len()].clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    lifecycle::transition(&db, &actor, id, Action::Accept, now).await
                })
            })
            .collect();
        let mut ok = 0;
        for h in handles {
            match h.await.unwrap() {
                Ok(_) => ok += 1,
                Err(LifecycleError::Refused(r)) => assert_eq!(r, wrong_state("accept", Accepted)),
                Err(e) => panic!("round {round}: unexpected error: {e:?}"),
            }
        }
        assert_eq!(ok, 1, "round {round}: exactly one accept may succeed");
        let accepts = events_of(&t.db, id)
            .await
            .into_iter()
            .filter(|e| e.action.code() == "accept")
            .count();
        assert_eq!(
            accepts, 1,
            "round {round}: exactly one accept on the timeline"
        );
        assert_eq!(
            all_outbox(&t).await.len(),
            outbox_before + 1,
            "round {round}: the reporter is told once"
        );
        let r = reload(&t.db, id).await;
        assert_eq!((r.state, r.accepted_at), (Accepted, Some(now)));
    }
}

db_test!(
    ten_concurrent_accepts_of_one_report,
    same_report_accepted_once
);
