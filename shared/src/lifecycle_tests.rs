//! Table-driven tests of [`decide`]: every state × every action × every kind of actor.
//!
//! The expected outcomes are written out here from DESIGN.md ("Reports") rather than derived
//! from the code under test, so a change to the lifecycle has to change this table too.
#![allow(clippy::unwrap_used)]

use super::*;

use chrono::TimeZone;

/// The reporter of the standard report (a grid leader).
const REPORTER: i64 = 100;
/// The grid leader the standard report is assigned to.
const ASSIGNEE: i64 = 200;
/// A grid leader with nothing to do with the standard report.
const STRANGER: i64 = 999;

/// Micro-grid 99 of community 23 of town 5 of county 1.
const ORIGIN: &str = "/1/5/23/99/";
/// The community that handles the standard report.
const COMMUNITY: &str = "/1/5/23/";
const TOWN: &str = "/1/5/";
const COUNTY: &str = "/1/";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap()
}

/// A report filed in micro-grid 99, handled by its community, with a reporter and a member
/// assignee, closed yesterday (the closing time only matters to Reopen).
fn facts(state: ReportState) -> Facts {
    Facts {
        state,
        origin_path: ORIGIN.into(),
        handling_path: COMMUNITY.into(),
        can_escalate: true,
        reporter_member_id: Some(REPORTER),
        assignee_member_id: Some(ASSIGNEE),
        closed_at: Some(now() - Duration::days(1)),
    }
}

/// The standard report after it was escalated to the town.
fn escalated(state: ReportState) -> Facts {
    Facts {
        handling_path: TOWN.into(),
        ..facts(state)
    }
}

fn staff(role: StaffRole, path: &str) -> Actor {
    let area_id = crate::domain::AreaPath::parse(path).unwrap().id().unwrap();
    Actor::Staff(StaffActor {
        id: 1,
        role,
        scope: Scope::from_parts(area_id, path),
    })
}

fn secretary() -> Actor {
    staff(StaffRole::Secretary, COMMUNITY)
}

fn member(id: i64) -> Actor {
    Actor::Member { id }
}

const NOTE: &str = "checked on site";

/// One representative of every action, in declaration order.
fn actions() -> Vec<Action> {
    vec![
        Action::Accept,
        Action::Assign(Assignee::Member(7)),
        Action::Start,
        Action::Return {
            reason: ReturnReason::Incomplete,
            note: None,
        },
        Action::Resubmit { note: None },
        Action::Reject { note: NOTE.into() },
        Action::MarkDuplicate { of: 42 },
        Action::Resolve { note: None },
        Action::VerifyFail { note: NOTE.into() },
        Action::Close { note: None },
        Action::Reopen { note: NOTE.into() },
        Action::Escalate { note: None },
        Action::Comment { note: NOTE.into() },
        Action::Reply { note: NOTE.into() },
        Action::AddInfo { note: NOTE.into() },
    ]
}

/// Exhaustive on purpose: a new action fails to compile here until the tables learn it.
fn ordinal(action: &Action) -> usize {
    match action {
        Action::Accept => 0,
        Action::Assign(_) => 1,
        Action::Start => 2,
        Action::Return { .. } => 3,
        Action::Resubmit { .. } => 4,
        Action::Reject { .. } => 5,
        Action::MarkDuplicate { .. } => 6,
        Action::Resolve { .. } => 7,
        Action::VerifyFail { .. } => 8,
        Action::Close { .. } => 9,
        Action::Reopen { .. } => 10,
        Action::Escalate { .. } => 11,
        Action::Comment { .. } => 12,
        Action::Reply { .. } => 13,
        Action::AddInfo { .. } => 14,
    }
}

fn states() -> &'static [ReportState] {
    ReportState::ALL
}

/// (action code, from, to, clock, public, tell_reporter, task_card, tell_assignee) for the
/// representative action of [`actions`] on the standard [`facts`].
type Row = (
    &'static str,
    ReportState,
    ReportState,
    Clock,
    bool,
    Option<&'static str>,
    bool,
    Option<&'static str>,
);

/// Every permitted (action, from) pair and what follows, from DESIGN.md.
#[rustfmt::skip]
fn outcomes() -> Vec<Row> {
    use Clock::{Accept as A, Handle as H, Keep as K, Stop as S};
    use ReportState::{
        Accepted as Acc, Assigned as Asg, Closed as Cls, InProgress as Inp, Rejected as Rej,
        Resolved as Res, Returned as Ret, Submitted as Sub,
    };
    let mut rows: Vec<Row> = vec![
        ("accept",      Sub, Acc, H, true,  Some("msg.report.accepted"),    false, None),
        // The handling clock starts when a report is first taken on (accepted or assigned).
        ("assign",      Sub, Asg, H, true,  Some("msg.report.assigned"),    true,  None),
        ("assign",      Acc, Asg, K, true,  Some("msg.report.assigned"),    true,  None),
        ("assign",      Asg, Asg, K, true,  Some("msg.report.assigned"),    true,  None),
        ("assign",      Inp, Asg, K, true,  Some("msg.report.assigned"),    true,  None),
        ("start",       Asg, Inp, K, true,  Some("msg.report.in_progress"), false, None),
        ("return",      Sub, Ret, S, true,  Some("msg.report.returned"),    false, None),
        ("return",      Acc, Ret, S, true,  Some("msg.report.returned"),    false, None),
        ("resubmit",    Ret, Sub, A, true,  None,                           false, None),
        ("reject",      Sub, Rej, S, true,  Some("msg.report.rejected"),    false, None),
        ("reject",      Acc, Rej, S, true,  Some("msg.report.rejected"),    false, None),
        ("duplicate",   Sub, Rej, S, true,  Some("msg.report.duplicate"),   false, None),
        ("duplicate",   Acc, Rej, S, true,  Some("msg.report.duplicate"),   false, None),
        ("duplicate",   Asg, Rej, S, true,  Some("msg.report.duplicate"),   false, None),
        ("duplicate",   Inp, Rej, S, true,  Some("msg.report.duplicate"),   false, None),
        ("resolve",     Asg, Res, S, true,  Some("msg.report.resolved"),    false, None),
        ("resolve",     Inp, Res, S, true,  Some("msg.report.resolved"),    false, None),
        // Verification is internal: the reporter is not told, the assigned grid leader is.
        ("verify_fail", Res, Inp, H, false, None,                           false, Some("msg.report.verify_failed")),
        ("close",       Res, Cls, S, true,  Some("msg.report.closed"),      false, None),
        // Reopening tells the reporter and, if a grid leader holds the task, them too.
        ("reopen",      Cls, Inp, H, true,  Some("msg.report.reopened"),    false, Some("msg.report.reopened_assignee")),
        // Escalation keeps the state; the new owner gets a fresh clock of the same kind.
        ("escalate",    Sub, Sub, A, false, None,                           false, None),
        ("escalate",    Acc, Acc, H, false, None,                           false, None),
        ("escalate",    Asg, Asg, H, false, None,                           false, None),
        ("escalate",    Inp, Inp, H, false, None,                           false, None),
    ];
    // Comment, Reply and AddInfo work in every state and keep it.
    for s in [Sub, Acc, Asg, Inp, Res, Cls, Ret, Rej] {
        rows.push(("comment",  s, s, K, false, None,                     false, None));
        rows.push(("reply",    s, s, K, true,  Some("msg.report.reply"), false, None));
        rows.push(("add_info", s, s, K, true,  None,                     false, None));
    }
    rows
}

/// The plan DESIGN.md expects for the representative `action` from `from` (standard facts),
/// or `None` when the pair is not permitted at all.
fn expected(action: &Action, from: ReportState) -> Option<Plan> {
    outcomes()
        .into_iter()
        .find(|r| r.0 == action.code() && r.1 == from)
        .map(
            |(_, _, to, clock, public, tell_reporter, task_card, tell_assignee)| Plan {
                to,
                clock,
                public,
                tell_reporter,
                task_card,
                tell_assignee,
            },
        )
}

fn is_staff_only_forbidden(action: &Action) -> bool {
    matches!(action, Action::Resubmit { .. } | Action::AddInfo { .. })
}

/// What an acting staff user whose scope covers the handling area gets, from the tables.
fn expected_for_acting_staff(action: &Action, state: ReportState) -> Result<Plan, Refusal> {
    if is_staff_only_forbidden(action) {
        return Err(Refusal::NotAllowed {
            action: action.code(),
        });
    }
    expected(action, state).ok_or(Refusal::WrongState {
        action: action.code(),
        state,
    })
}

fn check_acting_staff_matrix(actor: &Actor, base: fn(ReportState) -> Facts) {
    for &state in states() {
        for action in actions() {
            let got = decide(&base(state), actor, &action, now());
            assert_eq!(
                got,
                expected_for_acting_staff(&action, state),
                "{actor:?} {} from {state}",
                action.code()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tables themselves.

#[test]
fn the_tables_cover_every_action_and_state() {
    let acts = actions();
    assert_eq!(acts.len(), 15);
    let ords: Vec<usize> = acts.iter().map(ordinal).collect();
    assert_eq!(
        ords,
        (0..15).collect::<Vec<_>>(),
        "one representative per action"
    );
    let mut codes: Vec<&str> = acts.iter().map(Action::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 15, "action codes are distinct");
    assert_eq!(states().len(), 8);
    // Every row names a real action and no pair appears twice.
    let rows = outcomes();
    for r in &rows {
        assert!(acts.iter().any(|a| a.code() == r.0), "unknown code {}", r.0);
        assert_eq!(
            rows.iter().filter(|o| o.0 == r.0 && o.1 == r.1).count(),
            1,
            "{} from {}",
            r.0,
            r.1
        );
    }
}

#[test]
fn allowed_from_is_exactly_the_design_table() {
    for action in actions() {
        for &state in states() {
            assert_eq!(
                action.allowed_from().contains(&state),
                expected(&action, state).is_some(),
                "{} from {state}",
                action.code()
            );
        }
    }
    // Variants of the same action share their starting states.
    assert_eq!(
        Action::Assign(Assignee::Staff(3)).allowed_from(),
        Action::Assign(Assignee::Member(7)).allowed_from()
    );
    // Escalation and duplicates are for open reports only.
    let open: Vec<ReportState> = states().iter().copied().filter(|s| s.is_open()).collect();
    assert_eq!(
        Action::Escalate { note: None }.allowed_from(),
        open.as_slice()
    );
    assert_eq!(
        Action::MarkDuplicate { of: 1 }.allowed_from(),
        open.as_slice()
    );
}

#[test]
fn message_keys_exist_in_both_languages() {
    let mut keys: Vec<&str> = outcomes()
        .iter()
        .flat_map(|r| [r.5, r.7])
        .flatten()
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert!(!keys.is_empty());
    for key in keys {
        let zh = t!(key, locale = "zh-CN").into_owned();
        let en = t!(key, locale = "en").into_owned();
        assert!(!zh.ends_with(key), "{key} missing in zh-CN");
        assert!(!en.ends_with(key), "{key} missing in en");
        assert_ne!(zh, en, "{key} in en falls back to Chinese");
    }
}

// ---------------------------------------------------------------------------------------------
// Staff in scope.

#[test]
fn secretary_in_scope_every_state_every_action() {
    check_acting_staff_matrix(&secretary(), facts);
}

#[test]
fn wrong_state_refusals_name_action_and_state() {
    let err = decide(&facts(Closed), &secretary(), &Action::Accept, now()).unwrap_err();
    assert_eq!(
        err,
        Refusal::WrongState {
            action: "accept",
            state: Closed
        }
    );
    assert_eq!(err.to_string(), "cannot accept a report that is closed");
    let err = decide(
        &facts(Rejected),
        &secretary(),
        &Action::Reopen { note: NOTE.into() },
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Refusal::WrongState {
            action: "reopen",
            state: Rejected
        }
    );
}

#[test]
fn every_acting_role_behaves_like_a_secretary() {
    assert_eq!(StaffRole::ALL.len(), 4);
    for &role in StaffRole::ALL.iter().filter(|&&r| r != StaffRole::Viewer) {
        // Whatever the level of the scope, as long as it covers the handling area.
        for path in [COMMUNITY, TOWN, COUNTY] {
            check_acting_staff_matrix(&staff(role, path), facts);
            for &state in states() {
                for action in actions() {
                    assert_eq!(
                        decide(&facts(state), &staff(role, path), &action, now()),
                        decide(&facts(state), &secretary(), &action, now()),
                        "{role} at {path}: {} from {state}",
                        action.code()
                    );
                }
            }
        }
    }
}

#[test]
fn the_town_has_full_rights_on_a_report_escalated_to_it() {
    for &role in StaffRole::ALL.iter().filter(|&&r| r != StaffRole::Viewer) {
        check_acting_staff_matrix(&staff(role, TOWN), escalated);
        check_acting_staff_matrix(&staff(role, COUNTY), escalated);
    }
}

#[test]
fn staff_may_not_resubmit_or_add_info() {
    for &role in StaffRole::ALL {
        for &state in states() {
            for action in [
                Action::Resubmit {
                    note: Some(NOTE.into()),
                },
                Action::AddInfo { note: NOTE.into() },
            ] {
                assert_eq!(
                    decide(&facts(state), &staff(role, COUNTY), &action, now()),
                    Err(Refusal::NotAllowed {
                        action: action.code()
                    }),
                    "{role} {} from {state}",
                    action.code()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Viewers.

#[test]
fn a_viewer_may_do_nothing_anywhere_in_scope() {
    for path in [COUNTY, TOWN, COMMUNITY, ORIGIN] {
        let viewer = staff(StaffRole::Viewer, path);
        for base in [facts as fn(ReportState) -> Facts, escalated] {
            for &state in states() {
                for action in actions() {
                    assert_eq!(
                        decide(&base(state), &viewer, &action, now()),
                        Err(Refusal::NotAllowed {
                            action: action.code()
                        }),
                        "viewer at {path}: {} from {state}",
                        action.code()
                    );
                }
            }
        }
    }
}

#[test]
fn a_viewer_out_of_scope_sees_nothing() {
    let viewer = staff(StaffRole::Viewer, "/1/6/");
    for &state in states() {
        for action in actions() {
            assert_eq!(
                decide(&facts(state), &viewer, &action, now()),
                Err(Refusal::NotFound)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scope.

#[test]
fn staff_outside_the_origin_subtree_get_not_found_for_everything() {
    // Another town, another community of the same town, a sibling micro-grid, a child of the
    // origin, another county, and paths that merely share a textual prefix.
    let outside = [
        "/1/6/",
        "/1/5/24/",
        "/1/5/23/98/",
        "/1/5/23/99/1/",
        "/2/",
        "/1/50/",
        "/1/5/2/",
        "/1/5/23/9/",
    ];
    for path in outside {
        for &role in StaffRole::ALL {
            let actor = staff(role, path);
            for base in [facts as fn(ReportState) -> Facts, escalated] {
                for &state in states() {
                    for action in actions() {
                        assert_eq!(
                            decide(&base(state), &actor, &action, now()),
                            Err(Refusal::NotFound),
                            "{role} at {path}: {} from {state}",
                            action.code()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_sibling_path_sharing_a_prefix_is_not_found() {
    // The report lives in town 50; town 5's staff must not see it, and vice versa.
    let in_town_50 = |state| Facts {
        origin_path: "/1/50/3/7/".into(),
        handling_path: "/1/50/3/".into(),
        ..facts(state)
    };
    for &role in StaffRole::ALL {
        for &state in states() {
            for action in actions() {
                assert_eq!(
                    decide(&in_town_50(state), &staff(role, TOWN), &action, now()),
                    Err(Refusal::NotFound),
                    "town 5 {role}: {} from {state}",
                    action.code()
                );
                assert_eq!(
                    decide(&facts(state), &staff(role, "/1/50/"), &action, now()),
                    Err(Refusal::NotFound),
                    "town 50 {role}: {} from {state}",
                    action.code()
                );
            }
        }
    }
    // The town 50 secretary does act on its own report.
    assert!(
        decide(
            &in_town_50(Submitted),
            &staff(StaffRole::Secretary, "/1/50/"),
            &Action::Accept,
            now()
        )
        .is_ok()
    );
}

/// A staff user who sees the report (its origin is in scope) but not where it is handled now.
fn check_out_of_handling_scope(actor: &Actor, base: fn(ReportState) -> Facts) {
    for &state in states() {
        for action in actions() {
            let got = decide(&base(state), actor, &action, now());
            let want = match &action {
                // Comments stay open to anyone who can see the report.
                Action::Comment { .. } => Ok(Plan {
                    to: state,
                    clock: Clock::Keep,
                    public: false,
                    tell_reporter: None,
                    task_card: false,
                    tell_assignee: None,
                }),
                // Staff may never do these, wherever the report is.
                a if is_staff_only_forbidden(a) => Err(Refusal::NotAllowed { action: a.code() }),
                _ => Err(Refusal::OutOfScope),
            };
            assert_eq!(got, want, "{actor:?}: {} from {state}", action.code());
        }
    }
}

#[test]
fn after_escalation_the_community_may_only_comment() {
    for &role in StaffRole::ALL.iter().filter(|&&r| r != StaffRole::Viewer) {
        check_out_of_handling_scope(&staff(role, COMMUNITY), escalated);
    }
}

#[test]
fn a_micro_grid_scope_may_only_comment_on_what_its_community_handles() {
    for &role in StaffRole::ALL.iter().filter(|&&r| r != StaffRole::Viewer) {
        check_out_of_handling_scope(&staff(role, ORIGIN), facts);
    }
}

// ---------------------------------------------------------------------------------------------
// Members (grid leaders through the bot).

fn check_member(actor: &Actor, base: &Facts, may: &[&str]) {
    for &state in states() {
        for action in actions() {
            let f = Facts {
                state,
                ..base.clone()
            };
            let got = decide(&f, actor, &action, now());
            let want = if !may.contains(&action.code()) {
                Err(Refusal::NotAllowed {
                    action: action.code(),
                })
            } else {
                let mut plan = expected(&action, state);
                if let Some(p) = plan.as_mut() {
                    // Only VerifyFail tells the assignee, and members cannot do it.
                    p.tell_assignee = None;
                }
                plan.ok_or(Refusal::WrongState {
                    action: action.code(),
                    state,
                })
            };
            assert_eq!(got, want, "{actor:?}: {} from {state}", action.code());
        }
    }
}

#[test]
fn the_reporter_may_resubmit_and_add_info_only() {
    check_member(
        &member(REPORTER),
        &facts(Submitted),
        &["resubmit", "add_info"],
    );
}

#[test]
fn the_reporter_resubmits_a_returned_report_into_a_fresh_accept_clock() {
    let plan = decide(
        &facts(Returned),
        &member(REPORTER),
        &Action::Resubmit {
            note: Some("photo added".into()),
        },
        now(),
    )
    .unwrap();
    assert_eq!(plan.to, Submitted);
    assert_eq!(plan.clock, Clock::Accept);
    assert!(plan.public);
    assert_eq!(
        plan.tell_reporter, None,
        "the reporter did it and needs no message about it"
    );
}

#[test]
fn the_assigned_grid_leader_may_start_resolve_and_add_info_only() {
    check_member(
        &member(ASSIGNEE),
        &facts(Submitted),
        &["start", "resolve", "add_info"],
    );
}

#[test]
fn a_reporter_who_is_also_the_assignee_has_both_rights() {
    let both = Facts {
        assignee_member_id: Some(REPORTER),
        ..facts(Submitted)
    };
    check_member(
        &member(REPORTER),
        &both,
        &["start", "resolve", "resubmit", "add_info"],
    );
}

#[test]
fn the_assignee_may_not_resubmit_and_the_reporter_may_not_start() {
    assert_eq!(
        decide(
            &facts(Returned),
            &member(ASSIGNEE),
            &Action::Resubmit { note: None },
            now()
        ),
        Err(Refusal::NotAllowed { action: "resubmit" })
    );
    assert_eq!(
        decide(&facts(Assigned), &member(REPORTER), &Action::Start, now()),
        Err(Refusal::NotAllowed { action: "start" })
    );
    assert_eq!(
        decide(
            &facts(InProgress),
            &member(REPORTER),
            &Action::Resolve { note: None },
            now()
        ),
        Err(Refusal::NotAllowed { action: "resolve" })
    );
    for (state, action) in [
        (Submitted, Action::Accept),
        (Resolved, Action::Close { note: None }),
        (Submitted, Action::Reject { note: NOTE.into() }),
        (Closed, Action::Reopen { note: NOTE.into() }),
        (Submitted, Action::Escalate { note: None }),
        (Submitted, Action::Reply { note: NOTE.into() }),
        (Submitted, Action::Comment { note: NOTE.into() }),
    ] {
        assert_eq!(
            decide(&facts(state), &member(REPORTER), &action, now()),
            Err(Refusal::NotAllowed {
                action: action.code()
            })
        );
    }
}

#[test]
fn an_unrelated_member_gets_not_found_for_everything() {
    let nobody = Facts {
        reporter_member_id: None,
        assignee_member_id: None,
        ..facts(Submitted)
    };
    let staff_assigned = Facts {
        assignee_member_id: None,
        ..facts(Submitted)
    };
    for base in [facts(Submitted), nobody, staff_assigned] {
        for &state in states() {
            for action in actions() {
                let f = Facts {
                    state,
                    ..base.clone()
                };
                for id in [STRANGER, 7, 0, -1] {
                    assert_eq!(
                        decide(&f, &member(id), &action, now()),
                        Err(Refusal::NotFound),
                        "member {id}: {} from {state}",
                        action.code()
                    );
                }
            }
        }
    }
}

#[test]
fn a_former_assignee_loses_the_report() {
    // Reassigned to someone else: the old grid leader no longer sees it.
    let reassigned = Facts {
        assignee_member_id: Some(STRANGER),
        ..facts(InProgress)
    };
    assert_eq!(
        decide(
            &reassigned,
            &member(ASSIGNEE),
            &Action::Resolve { note: None },
            now()
        ),
        Err(Refusal::NotFound)
    );
    assert_eq!(
        decide(
            &reassigned,
            &member(ASSIGNEE),
            &Action::AddInfo { note: NOTE.into() },
            now()
        ),
        Err(Refusal::NotFound)
    );
}

// ---------------------------------------------------------------------------------------------
// The system (deadline scheduler).

#[test]
fn the_system_may_only_escalate() {
    for &state in states() {
        for action in actions() {
            let got = decide(&facts(state), &Actor::System, &action, now());
            let want = if matches!(action, Action::Escalate { .. }) {
                expected(&action, state).ok_or(Refusal::WrongState {
                    action: "escalate",
                    state,
                })
            } else {
                Err(Refusal::NotAllowed {
                    action: action.code(),
                })
            };
            assert_eq!(got, want, "system: {} from {state}", action.code());
        }
    }
}

#[test]
fn the_system_escalates_regardless_of_the_handling_area() {
    // The scheduler is not scoped: a report at the town escalates too.
    for &state in states().iter().filter(|s| s.is_open()) {
        let plan = decide(
            &escalated(state),
            &Actor::System,
            &Action::Escalate { note: None },
            now(),
        )
        .unwrap();
        assert_eq!(plan.to, state);
        assert!(!plan.public);
    }
}

// ---------------------------------------------------------------------------------------------
// The special refusals.

#[test]
fn reply_without_a_reporter_is_invalid() {
    let no_reporter = |state| Facts {
        reporter_member_id: None,
        ..facts(state)
    };
    for &state in states() {
        let got = decide(
            &no_reporter(state),
            &secretary(),
            &Action::Reply { note: NOTE.into() },
            now(),
        );
        assert!(
            matches!(got, Err(Refusal::Invalid(_))),
            "reply from {state}: {got:?}"
        );
        // An internal comment needs no reporter.
        assert!(
            decide(
                &no_reporter(state),
                &secretary(),
                &Action::Comment { note: NOTE.into() },
                now()
            )
            .is_ok()
        );
    }
}

#[test]
fn escalating_the_top_level_is_invalid() {
    let at_top = |state| Facts {
        handling_path: COUNTY.into(),
        can_escalate: false,
        ..facts(state)
    };
    for actor in [staff(StaffRole::CountyAdmin, COUNTY), Actor::System] {
        for &state in states() {
            let got = decide(
                &at_top(state),
                &actor,
                &Action::Escalate { note: None },
                now(),
            );
            if state.is_open() {
                assert!(
                    matches!(got, Err(Refusal::Invalid(_))),
                    "{actor:?} from {state}: {got:?}"
                );
            } else {
                assert_eq!(
                    got,
                    Err(Refusal::WrongState {
                        action: "escalate",
                        state
                    })
                );
            }
        }
    }
    // Staff below the county do not even get that far: the report is handled above them.
    assert_eq!(
        decide(
            &at_top(Submitted),
            &secretary(),
            &Action::Escalate { note: None },
            now()
        ),
        Err(Refusal::OutOfScope)
    );
}

#[test]
fn reopen_only_within_the_window() {
    let closed_ago = |ago: Duration| Facts {
        closed_at: Some(now() - ago),
        ..facts(Closed)
    };
    let reopen = Action::Reopen {
        note: "still leaking".into(),
    };
    let reopened = expected(&reopen, Closed).unwrap();
    for ago in [
        Duration::zero(),
        Duration::minutes(1),
        Duration::days(1),
        Duration::days(29),
        Duration::days(REOPEN_WINDOW_DAYS),
        // A closing time a little in the future (clock skew between processes).
        Duration::seconds(-5),
    ] {
        assert_eq!(
            decide(&closed_ago(ago), &secretary(), &reopen, now()),
            Ok(reopened.clone()),
            "closed {ago} ago"
        );
    }
    for ago in [
        Duration::days(REOPEN_WINDOW_DAYS) + Duration::seconds(1),
        Duration::days(31),
        Duration::days(365),
    ] {
        assert_eq!(
            decide(&closed_ago(ago), &secretary(), &reopen, now()),
            Err(Refusal::ReopenWindowPassed),
            "closed {ago} ago"
        );
    }
    // Who may act is decided before the window: a viewer or an outsider learns nothing more.
    let long_ago = closed_ago(Duration::days(31));
    assert_eq!(
        decide(
            &long_ago,
            &staff(StaffRole::Viewer, COMMUNITY),
            &reopen,
            now()
        ),
        Err(Refusal::NotAllowed { action: "reopen" })
    );
    assert_eq!(
        decide(
            &long_ago,
            &staff(StaffRole::Secretary, "/1/6/"),
            &reopen,
            now()
        ),
        Err(Refusal::NotFound)
    );
    assert_eq!(
        decide(&long_ago, &member(REPORTER), &reopen, now()),
        Err(Refusal::NotAllowed { action: "reopen" })
    );
}

// ---------------------------------------------------------------------------------------------
// Notes.

/// Every action carrying a note, with `note` in it, the state it may start from and an actor
/// allowed to do it.
fn with_note(note: &str) -> Vec<(Action, ReportState, Actor)> {
    let s = || Some(note.to_owned());
    let n = || note.to_owned();
    vec![
        (
            Action::Return {
                reason: ReturnReason::Incomplete,
                note: s(),
            },
            Submitted,
            secretary(),
        ),
        (Action::Resubmit { note: s() }, Returned, member(REPORTER)),
        (Action::Reject { note: n() }, Accepted, secretary()),
        (Action::Resolve { note: s() }, InProgress, member(ASSIGNEE)),
        (Action::VerifyFail { note: n() }, Resolved, secretary()),
        (Action::Close { note: s() }, Resolved, secretary()),
        (Action::Reopen { note: n() }, Closed, secretary()),
        (Action::Escalate { note: s() }, Assigned, secretary()),
        (Action::Comment { note: n() }, InProgress, secretary()),
        (Action::Reply { note: n() }, Submitted, secretary()),
        (Action::AddInfo { note: n() }, Assigned, member(REPORTER)),
    ]
}

fn note_required(action: &Action) -> bool {
    matches!(
        action,
        Action::Reject { .. }
            | Action::VerifyFail { .. }
            | Action::Reopen { .. }
            | Action::Comment { .. }
            | Action::Reply { .. }
            | Action::AddInfo { .. }
    )
}

#[test]
fn every_note_bearing_action_is_listed() {
    let listed: Vec<usize> = with_note(NOTE).iter().map(|(a, _, _)| ordinal(a)).collect();
    assert_eq!(listed, vec![3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14]);
    for action in [
        Action::Accept,
        Action::Assign(Assignee::Member(7)),
        Action::Start,
        Action::MarkDuplicate { of: 42 },
    ] {
        assert_eq!(action.note(), None, "{}", action.code());
    }
    assert_eq!(
        with_note(NOTE)
            .iter()
            .filter(|(a, _, _)| note_required(a))
            .count(),
        6
    );
    for (action, state, actor) in with_note(NOTE) {
        assert_eq!(action.note(), Some(NOTE));
        assert_eq!(
            decide(&facts(state), &actor, &action, now()),
            expected(&action, state).ok_or(Refusal::NotFound)
        );
    }
}

#[test]
fn required_notes_may_not_be_empty_or_blank() {
    // Includes the ideographic space a Chinese input method types, and a no-break space.
    for blank in [
        "",
        " ",
        "   ",
        "\t\n",
        "\r\n",
        "\u{3000}",
        "\u{3000}\u{3000}",
        "\u{a0}",
    ] {
        for (action, state, actor) in with_note(blank) {
            let got = decide(&facts(state), &actor, &action, now());
            if note_required(&action) {
                assert!(
                    matches!(got, Err(Refusal::Invalid(_))),
                    "{} with {blank:?}: {got:?}",
                    action.code()
                );
            } else {
                assert!(
                    got.is_ok(),
                    "{} with optional {blank:?}: {got:?}",
                    action.code()
                );
            }
        }
    }
}

#[test]
fn optional_notes_may_be_absent() {
    for (action, state, actor) in [
        (
            Action::Return {
                reason: ReturnReason::NeedsPhoto,
                note: None,
            },
            Accepted,
            secretary(),
        ),
        (Action::Resubmit { note: None }, Returned, member(REPORTER)),
        (Action::Resolve { note: None }, Assigned, secretary()),
        (Action::Close { note: None }, Resolved, secretary()),
        (Action::Escalate { note: None }, InProgress, Actor::System),
    ] {
        assert!(
            decide(&facts(state), &actor, &action, now()).is_ok(),
            "{}",
            action.code()
        );
    }
    for &reason in ReturnReason::ALL {
        let action = Action::Return { reason, note: None };
        let result = decide(&facts(Submitted), &secretary(), &action, now());
        if reason == ReturnReason::Other {
            // "Other" says nothing to the reporter by itself: a note is required then.
            assert!(matches!(result, Err(Refusal::Invalid(_))), "{result:?}");
            let blank = Action::Return {
                reason,
                note: Some(" \u{200B} ".into()),
            };
            assert!(decide(&facts(Submitted), &secretary(), &blank, now()).is_err());
        } else {
            assert!(result.is_ok(), "{reason}");
        }
    }
}

#[test]
fn notes_are_limited_to_4000_characters_not_bytes() {
    assert_eq!(MAX_NOTE_CHARS, 4000);
    // ASCII, Chinese (3 bytes each in UTF-8) and emoji (4 bytes each).
    for unit in ["a", "网", "😀"] {
        let fits = unit.repeat(MAX_NOTE_CHARS);
        let too_long = unit.repeat(MAX_NOTE_CHARS + 1);
        for (action, state, actor) in with_note(&fits) {
            assert!(
                decide(&facts(state), &actor, &action, now()).is_ok(),
                "{} with 4000 × {unit}",
                action.code()
            );
        }
        for (action, state, actor) in with_note(&too_long) {
            let got = decide(&facts(state), &actor, &action, now());
            assert!(
                matches!(got, Err(Refusal::Invalid(_))),
                "{} with 4001 × {unit}: {got:?}",
                action.code()
            );
        }
    }
    // Leading and trailing blanks count too: the limit is on what is stored.
    let padded = format!(" {}", "a".repeat(MAX_NOTE_CHARS));
    let got = decide(
        &facts(InProgress),
        &secretary(),
        &Action::Comment { note: padded },
        now(),
    );
    assert!(matches!(got, Err(Refusal::Invalid(_))), "{got:?}");
}

#[test]
fn hostile_looking_notes_are_accepted_as_they_are() {
    let notes = [
        "<script>alert('x')</script><b>bold</b> &amp;",
        "'; DROP TABLE report; -- \" OR 1=1",
        "漏水 😀👨‍👩‍👧‍👦🏳️‍🌈 已处理",
        "\u{202E}txt.exe\u{202C} مرحبا שלום",
        "%{id} %{note} {{name}} ${HOME} \\n \\u0000",
        "line one\nline two\r\n\ttabbed",
        "  leading and trailing blanks  ",
        "nul \u{0} and zero width \u{200B}\u{FEFF}",
    ];
    for note in notes {
        for (action, state, actor) in with_note(note) {
            let before = action.clone();
            let got = decide(&facts(state), &actor, &action, now());
            assert_eq!(
                got,
                expected(&action, state).ok_or(Refusal::NotFound),
                "{} with {note:?}",
                action.code()
            );
            assert_eq!(action, before);
            assert_eq!(
                action.note(),
                Some(note),
                "the note reaches the timeline unchanged"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Details of particular plans.

#[test]
fn a_task_card_goes_only_to_an_assigned_member() {
    for &state in Action::Assign(Assignee::Staff(3)).allowed_from() {
        let to_staff = decide(
            &facts(state),
            &secretary(),
            &Action::Assign(Assignee::Staff(3)),
            now(),
        )
        .unwrap();
        let to_member = decide(
            &facts(state),
            &secretary(),
            &Action::Assign(Assignee::Member(7)),
            now(),
        )
        .unwrap();
        assert!(!to_staff.task_card, "from {state}");
        assert!(to_member.task_card, "from {state}");
        assert_eq!(
            Plan {
                task_card: true,
                ..to_staff
            },
            to_member,
            "otherwise the same, from {state}"
        );
    }
    // No other action sends a task card.
    for &state in states() {
        for action in actions() {
            if let Ok(plan) = decide(&facts(state), &secretary(), &action, now()) {
                assert_eq!(
                    plan.task_card,
                    matches!(action, Action::Assign(Assignee::Member(_)))
                );
            }
        }
    }
}

#[test]
fn failed_verification_tells_the_assignee_only_if_there_is_one() {
    let fail = Action::VerifyFail {
        note: "the lamp is still broken".into(),
    };
    let with_member = decide(&facts(Resolved), &secretary(), &fail, now()).unwrap();
    assert_eq!(with_member.tell_assignee, Some("msg.report.verify_failed"));
    // Assigned to staff (or to nobody): no member to tell.
    let without = Facts {
        assignee_member_id: None,
        ..facts(Resolved)
    };
    let plan = decide(&without, &secretary(), &fail, now()).unwrap();
    assert_eq!(plan.tell_assignee, None);
    for plan in [with_member, plan] {
        assert_eq!(plan.to, InProgress);
        assert_eq!(plan.clock, Clock::Handle);
        assert!(!plan.public);
        assert_eq!(plan.tell_reporter, None);
    }
}

#[test]
fn escalation_restarts_the_right_clock_and_stays_internal() {
    for &state in states().iter().filter(|s| s.is_open()) {
        for actor in [secretary(), Actor::System] {
            let plan = decide(
                &facts(state),
                &actor,
                &Action::Escalate {
                    note: Some("red".into()),
                },
                now(),
            )
            .unwrap();
            assert_eq!(plan.to, state);
            assert_eq!(
                plan.clock,
                if state == Submitted {
                    Clock::Accept
                } else {
                    Clock::Handle
                }
            );
            assert!(!plan.public);
            assert_eq!(plan.tell_reporter, None);
        }
    }
}

#[test]
fn only_final_and_waiting_states_stop_the_clock() {
    for row in outcomes() {
        let (code, from, to, clock, ..) = row;
        if clock == Clock::Stop {
            assert!(
                !to.is_open(),
                "{code} from {from} stops the clock but {to} is open"
            );
        }
        if !to.is_open() {
            assert!(
                matches!(clock, Clock::Stop | Clock::Keep),
                "{code} from {from} to {to} runs {clock:?}"
            );
        }
        if to.is_open() && !from.is_open() {
            assert!(
                matches!(clock, Clock::Accept | Clock::Handle),
                "{code} from {from} to {to} must restart a clock"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Order of the checks: nothing leaks to those who may not see the report.

#[test]
fn refusals_leak_nothing() {
    let outsider = staff(StaffRole::CountyAdmin, "/1/6/");
    // Outside the subtree: NotFound, whatever the state or the note.
    assert_eq!(
        decide(&facts(Closed), &outsider, &Action::Accept, now()),
        Err(Refusal::NotFound)
    );
    assert_eq!(
        decide(
            &facts(Closed),
            &outsider,
            &Action::Reject {
                note: String::new()
            },
            now()
        ),
        Err(Refusal::NotFound)
    );
    assert_eq!(
        decide(
            &facts(Submitted),
            &member(STRANGER),
            &Action::Resubmit { note: None },
            now()
        ),
        Err(Refusal::NotFound)
    );
    // A viewer in scope: NotAllowed before the state is looked at.
    assert_eq!(
        decide(
            &facts(Closed),
            &staff(StaffRole::Viewer, COMMUNITY),
            &Action::Accept,
            now()
        ),
        Err(Refusal::NotAllowed { action: "accept" })
    );
    // Handled above: OutOfScope before the state is looked at.
    assert_eq!(
        decide(&escalated(Closed), &secretary(), &Action::Accept, now()),
        Err(Refusal::OutOfScope)
    );
    // The state is checked before the note.
    assert_eq!(
        decide(
            &facts(Closed),
            &secretary(),
            &Action::Reject {
                note: String::new()
            },
            now()
        ),
        Err(Refusal::WrongState {
            action: "reject",
            state: Closed
        })
    );
}

#[test]
fn decide_is_pure() {
    for &state in states() {
        for action in actions() {
            let f = facts(state);
            let before = f.clone();
            let first = decide(&f, &secretary(), &action, now());
            let second = decide(&f, &secretary(), &action, now());
            assert_eq!(first, second);
            assert_eq!(f, before);
        }
    }
}

#[test]
fn reopening_tells_the_assigned_grid_leader() {
    let plan = decide(
        &facts(Closed),
        &secretary(),
        &Action::Reopen {
            note: "leaking again".into(),
        },
        now(),
    )
    .unwrap();
    assert_eq!(plan.to, InProgress);
    assert_eq!(plan.clock, Clock::Handle);
    assert!(
        plan.tell_assignee.is_some(),
        "the grid leader owes work again and must be told"
    );
    // Without a member assignee there is nobody to tell.
    let no_member = Facts {
        assignee_member_id: None,
        ..facts(Closed)
    };
    let plan = decide(
        &no_member,
        &secretary(),
        &Action::Reopen {
            note: "leaking again".into(),
        },
        now(),
    )
    .unwrap();
    assert_eq!(plan.tell_assignee, None);
}
