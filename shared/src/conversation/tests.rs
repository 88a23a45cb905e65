//! Table tests of the pure machine: every state × every kind of input (expected and not), in
//! every context (bound, unbound, left, group), checked against the invariants; then the main
//! paths step by step.

#![allow(clippy::unwrap_used)]

use super::machine::{parse_count, sequence, step};
use super::runner::single_report_number;
use super::*;
use crate::domain::{Lang, ReportKind, ReportState, Urgency, VisitMethod};

fn categories() -> Vec<CategoryOption> {
    let c = |id, parent, zh: &str, en: &str| CategoryOption {
        id,
        parent_id: parent,
        name_zh: zh.into(),
        name_en: en.into(),
    };
    vec![
        c(1, None, "矛盾纠纷", "Disputes"),
        c(2, None, "安全隐患", "Safety hazards"),
        c(3, None, "民生", "Livelihood"),
        c(4, None, "其他", "Other"),
        c(21, Some(2), "消防隐患", "Fire hazard"),
        c(22, Some(2), "燃气隐患", "Gas hazard"),
        c(31, Some(3), "养老", "Elderly care"),
    ]
}

fn ctx() -> Context {
    Context {
        member_id: Some(7),
        left: false,
        private: true,
        lang: Lang::Zh,
        categories: categories(),
        max_file_bytes: 1000,
        nonce: 500,
        report: None,
    }
}

fn photo(id: &str, size: u64) -> FileRef {
    FileRef {
        kind: FileKind::Photo,
        file_id: id.into(),
        unique_id: format!("u{id}"),
        size: Some(size),
        mime: None,
        file_name: None,
    }
}

fn text(s: &str) -> Input {
    Input::Text(s.into())
}
fn cmd(name: &str, arg: &str) -> Input {
    Input::Command {
        name: name.into(),
        arg: arg.into(),
    }
}
fn cb(data: &str) -> Input {
    Input::Callback { data: data.into() }
}

fn draft_at(kind: Option<ReportKind>, step_: Step) -> Draft {
    Draft {
        id: 42,
        kind,
        step: Some(step_),
        category_id: Some(2),
        description: Some("旧描述".into()),
        ..Default::default()
    }
}

/// Every state the machine can be in (each kind at each of its steps).
fn all_states() -> Vec<State> {
    let mut out = vec![State::Idle];
    out.push(State::Draft {
        draft: Draft {
            id: 42,
            step: Some(Step::Kind),
            files: vec![photo("p", 10)],
            ..Default::default()
        },
    });
    for kind in ReportKind::ALL {
        for s in sequence(*kind) {
            out.push(State::Draft {
                draft: draft_at(Some(*kind), *s),
            });
        }
        for s in [Step::People, Step::Notes, Step::Photo, Step::Location] {
            let mut d = draft_at(Some(*kind), s);
            d.editing = true;
            out.push(State::Draft { draft: d });
        }
        out.push(State::ConfirmNew {
            draft: draft_at(Some(*kind), Step::Summary),
            kind: ReportKind::Visit,
        });
    }
    out.push(State::TaskNote {
        report_id: 9,
        files: Vec::new(),
        resume: None,
    });
    out.push(State::TaskNote {
        report_id: 9,
        files: vec![photo("t", 1)],
        resume: Some(Box::new(draft_at(Some(ReportKind::Visit), Step::Count))),
    });
    out.push(State::TaskPhoto {
        report_id: 9,
        note: "已处理".into(),
        files: Vec::new(),
        resume: None,
    });
    out
}

/// Every kind of input, expected or not, including stale, forged and garbage button data.
fn all_inputs() -> Vec<Input> {
    let mut out = vec![
        text("楼道堆物"),
        text(""),
        text("   \u{200B} "),
        text(&"长".repeat(5000)),
        text("<b>x</b>'); DROP TABLE reports;-- 🚒 \u{202E}RTL"),
        text("3"),
        text("是"),
        text("入户"),
        text("安全隐患"),
        text("13800001234"),
        text("跳过"),
        text("事件"),
        text("My reports"),
        Input::File {
            file: photo("a", 100),
            caption: None,
        },
        Input::File {
            file: photo("b", 100),
            caption: Some("带说明的照片".into()),
        },
        Input::File {
            file: photo("huge", 1_000_000),
            caption: None,
        },
        Input::File {
            file: FileRef {
                kind: FileKind::Voice,
                size: None,
                ..photo("v", 0)
            },
            caption: None,
        },
        Input::Location {
            latitude: 30.5,
            longitude: 103.5,
        },
        Input::Contact {
            phone: "+8619900000563".into(),
            is_own: true,
        },
        Input::Contact {
            phone: "13800001234".into(),
            is_own: false,
        },
        Input::FollowUp {
            report_id: 5,
            text: Some("补充".into()),
            file: None,
        },
        Input::FollowUp {
            report_id: 5,
            text: None,
            file: Some(photo("f", 10)),
        },
        Input::Unsupported,
    ];
    for c in [
        "start", "visit", "incident", "request", "my", "skip", "cancel", "lang", "help", "nope",
    ] {
        out.push(cmd(c, ""));
    }
    out.push(cmd("start", "K7MX3QPD"));
    for d in [
        "d:42:kind:incident",
        "d:42:kind:bogus",
        "d:42:kc:2",
        "d:42:kc:21",
        "d:42:cat:3",
        "d:42:cat:31",
        "d:42:cat:999",
        "d:42:sub:21",
        "d:42:sub:31",
        "d:42:count:3",
        "d:42:count:0",
        "d:42:method:phone",
        "d:42:method:x",
        "d:42:res:yes",
        "d:42:res:maybe",
        "d:42:skip",
        "d:42:urg:critical",
        "d:42:urg:x",
        "d:42:submit",
        "d:42:edit",
        "d:42:back",
        "d:42:field:people",
        "d:42:field:resident_phone",
        "d:42:field:bogus",
        "d:42:keep",
        "d:42:new:visit",
        "d:42:new:incident",
        "d:42:cancel",
        "d:43:submit",
        "d:x:submit",
        "d:42",
        "task:start:9",
        "task:done:9",
        "task:finish:9",
        "task:finish:8",
        "task:start:x",
        "task:explode:9",
        "ack:3",
        "ack:x",
        "spawn:incident:9",
        "spawn:visit:9",
        "'; DROP TABLE reports;--",
        "",
        ":::::",
    ] {
        out.push(cb(d));
    }
    out
}

fn core_commands(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| {
            !matches!(
                e,
                Effect::Send(_) | Effect::Answer(_) | Effect::Edit(_) | Effect::ClearButtons
            )
        })
        .count()
}

fn answers(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Answer(_)))
        .count()
}

fn is_valid_for(state: &State, data: &str) -> bool {
    // Data that may legitimately change something in some state.
    let _ = state;
    !(data.starts_with("d:43")
        || data.starts_with("d:x")
        || data == "d:42"
        || data.contains("bogus")
        || data.contains("DROP")
        || data.is_empty()
        || data == ":::::"
        || data == "task:start:x"
        || data == "task:explode:9"
        || data == "ack:x")
}

#[test]
fn every_state_times_every_input_bound() {
    let facts = [
        None,
        Some(ReportFacts {
            id: 9,
            state: ReportState::Assigned,
            is_reporter: false,
            is_assignee: true,
        }),
        Some(ReportFacts {
            id: 9,
            state: ReportState::Closed,
            is_reporter: true,
            is_assignee: false,
        }),
    ];
    let mut combos = 0;
    for state in all_states() {
        for input in all_inputs() {
            for f in &facts {
                let mut c = ctx();
                c.report = f.clone();
                let (next, effects) = step(state.clone(), &c, input.clone());
                combos += 1;
                let label = format!("{state:?} × {input:?} × {f:?}");
                // Every input is answered somehow.
                assert!(!effects.is_empty(), "no effect: {label}");
                // The new state survives storage.
                assert_eq!(State::from_json(&next.to_json()), next, "{label}");
                // No binding for a bound user; nothing is filed except by 提交 on a summary.
                assert!(
                    !effects.iter().any(|e| matches!(e, Effect::Bind(_))),
                    "{label}"
                );
                if effects.iter().any(|e| matches!(e, Effect::Submit(_))) {
                    assert_eq!(input, cb("d:42:submit"), "{label}");
                    assert!(
                        matches!(&state, State::Draft { draft } | State::ConfirmNew { draft, .. } if draft.step == Some(Step::Summary)),
                        "{label}"
                    );
                }
                if let Input::Callback { data } = &input {
                    // One answer per button press (an acknowledgement is answered by the runner).
                    let expected = usize::from(!data.starts_with("ack:") || data == "ack:x");
                    assert_eq!(answers(&effects), expected, "{label}: {effects:?}");
                    if !is_valid_for(&state, data) {
                        assert_eq!(next, state, "forged data changed the state: {label}");
                        assert_eq!(core_commands(&effects), 0, "{label}");
                        assert_eq!(effects.len(), 1, "{label}");
                    }
                    // Task buttons act only for the assignee of an open task.
                    if data.starts_with("task:start") || data.starts_with("task:done") {
                        let ok = f
                            .as_ref()
                            .is_some_and(|r| r.is_assignee && r.state.is_open());
                        if !ok {
                            assert_eq!(core_commands(&effects), 0, "{label}");
                            assert_eq!(next, state, "{label}");
                        }
                    }
                    // A draft button of another draft id never changes anything.
                    if data.starts_with("d:") && !data.starts_with("d:42:") {
                        assert_eq!(next, state, "{label}");
                    }
                } else {
                    assert_eq!(answers(&effects), 0, "{label}");
                }
                // Oversize files are never taken.
                if let Input::File { file, .. } = &input
                    && file.file_id == "huge"
                {
                    assert_eq!(core_commands(&effects), 0, "{label}");
                    let kept = match &next {
                        State::Draft { draft } | State::ConfirmNew { draft, .. } => {
                            draft.files.iter().any(|f| f.file_id == "huge")
                        }
                        State::TaskNote { files, .. } | State::TaskPhoto { files, .. } => {
                            files.iter().any(|f| f.file_id == "huge")
                        }
                        State::Idle => false,
                    };
                    assert!(!kept, "{label}");
                }
                // Too long text never lands in a draft.
                if let State::Draft { draft } = &next {
                    assert!(
                        draft.description.as_ref().is_none_or(
                            |d| d.chars().count() <= crate::reports::MAX_DESCRIPTION_CHARS
                        ),
                        "{label}"
                    );
                }
            }
        }
    }
    assert!(combos > 3000, "{combos}");
}

#[test]
fn every_state_times_every_input_unbound_left_and_group() {
    for state in all_states() {
        for input in all_inputs() {
            // Unbound: only binding, always an answer, no draft.
            let mut c = ctx();
            c.member_id = None;
            let (next, effects) = step(state.clone(), &c, input.clone());
            let label = format!("unbound {state:?} × {input:?}");
            assert!(!effects.is_empty(), "{label}");
            assert_eq!(next, State::Idle, "{label}");
            let binds = effects
                .iter()
                .filter(|e| matches!(e, Effect::Bind(_)))
                .count();
            assert_eq!(core_commands(&effects), binds, "{label}");
            match &input {
                Input::Command { name, arg } if name == "start" && !arg.is_empty() => {
                    assert_eq!(effects, vec![Effect::Bind(BindBy::Code(arg.clone()))])
                }
                Input::Contact {
                    is_own: true,
                    phone,
                } => {
                    assert_eq!(effects, vec![Effect::Bind(BindBy::Phone(phone.clone()))])
                }
                _ => assert_eq!(binds, 0, "{label}"),
            }

            // Left: told so, nothing else.
            c.left = true;
            let (next, effects) = step(state.clone(), &c, input.clone());
            assert_eq!(next, State::Idle);
            assert_eq!(core_commands(&effects), 0, "left {input:?}");
            assert!(!effects.is_empty());

            // Group: only "message me privately" for commands and buttons; state untouched.
            let mut g = ctx();
            g.private = false;
            let (next, effects) = step(state.clone(), &g, input.clone());
            assert_eq!(next, state);
            assert_eq!(core_commands(&effects), 0);
            match &input {
                Input::Command { .. } | Input::Callback { .. } => assert_eq!(effects.len(), 1),
                _ => assert!(effects.is_empty(), "group {input:?}"),
            }
        }
    }
}

/// Runs inputs from a state; returns the final state and all effects.
fn run(mut state: State, c: &Context, inputs: Vec<Input>) -> (State, Vec<Effect>) {
    let mut all = Vec::new();
    for i in inputs {
        let (s, e) = step(state, c, i);
        state = s;
        all.extend(e);
    }
    (state, all)
}

fn submitted(effects: &[Effect]) -> Option<Draft> {
    effects.iter().find_map(|e| match e {
        Effect::Submit(d) => Some((**d).clone()),
        _ => None,
    })
}

fn last_buttons(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Send(m) | Effect::Edit(m) => match &m.keyboard {
                Keyboard::Inline { rows } => {
                    Some(rows.iter().flatten().map(|b| b.data.clone()).collect())
                }
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn quick_incident_with_one_photo_takes_four_interactions() {
    let c = ctx();
    let (state, effects) = step(
        State::Idle,
        &c,
        Input::File {
            file: photo("p1", 10),
            caption: None,
        },
    );
    let buttons = last_buttons(&effects);
    assert!(buttons.contains(&"d:500:kc:2".to_owned()), "{buttons:?}");
    assert!(buttons.contains(&"d:500:kind:visit".to_owned()));
    let follow = vec![
        cb("d:500:kc:2"),
        text("液化气罐堆放在楼道"),
        Input::Location {
            latitude: 30.1,
            longitude: 103.2,
        },
        cb("d:500:submit"),
    ];
    let n = follow.len();
    let (state, effects) = run(state, &c, follow);
    assert!(n <= 4);
    assert_eq!(state, State::Idle);
    let d = submitted(&effects).unwrap();
    assert_eq!(d.kind, Some(ReportKind::Incident));
    assert_eq!(d.category_id, Some(2));
    assert_eq!(d.description.as_deref(), Some("液化气罐堆放在楼道"));
    assert_eq!(d.files.len(), 1);
    assert_eq!(d.latitude, Some(30.1));
    assert_eq!(d.urgency, None, "defaults to 一般 when filed");
}

#[test]
fn guided_incident_with_subcategory_urgency_and_edit() {
    let c = ctx();
    let (s, e) = step(State::Idle, &c, text("事件"));
    assert!(last_buttons(&e).contains(&"d:500:cat:2".to_owned()));
    let (s, e) = step(s, &c, cb("d:500:cat:2"));
    assert!(last_buttons(&e).contains(&"d:500:sub:21".to_owned()));
    let (s, e) = step(s, &c, cb("d:500:sub:22"));
    assert!(e.contains(&Effect::ClearButtons));
    let (s, _) = step(s, &c, text("燃气管道漏气"));
    let (s, _) = step(s, &c, cmd("skip", ""));
    let (s, _) = step(s, &c, text("长乐路12号"));
    let State::Draft { draft } = &s else {
        panic!("{s:?}")
    };
    assert_eq!(draft.step, Some(Step::Summary));
    let (s, e) = step(s, &c, cb("d:500:urg:critical"));
    assert!(matches!(e.last(), Some(Effect::Edit(_))));
    let (s, e) = step(s, &c, cb("d:500:edit"));
    assert!(last_buttons(&e).contains(&"d:500:field:people".to_owned()));
    let (s, _) = step(s, &c, cb("d:500:field:people"));
    let (s, e) = step(s, &c, text("王某"));
    assert!(matches!(&s, State::Draft { draft } if draft.step == Some(Step::Summary)));
    assert!(last_buttons(&e).contains(&"d:500:submit".to_owned()));
    let (_, e) = step(s, &c, cb("d:500:submit"));
    let d = submitted(&e).unwrap();
    assert_eq!(d.category_id, Some(22));
    assert_eq!(d.urgency, Some(Urgency::Critical));
    assert_eq!(d.address.as_deref(), Some("长乐路12号"));
    assert_eq!(d.people_involved.as_deref(), Some("王某"));
}

#[test]
fn visit_and_request_paths() {
    let c = ctx();
    let (s, e) = run(
        State::Idle,
        &c,
        vec![
            cmd("visit", ""),
            text("3栋 李家"),
            text("２户"),
            cb("d:500:method:encounter"),
            cmd("skip", ""),
            cb("d:500:res:no"),
            cb("d:500:submit"),
        ],
    );
    assert_eq!(s, State::Idle);
    let d = submitted(&e).unwrap();
    assert_eq!(d.household.as_deref(), Some("3栋 李家"));
    assert_eq!(d.household_count, Some(2));
    assert_eq!(d.visit_method, Some(VisitMethod::Encounter));
    assert_eq!(d.topics, None);
    assert_eq!(d.resolved_on_spot, Some(false));

    let (s, e) = run(
        State::Idle,
        &c,
        vec![
            cmd("request", ""),
            cb("d:500:cat:3"),
            text("希望加装扶手"),
            text("张大爷"),
            text("138 0000 12"),
        ],
    );
    assert!(matches!(&s, State::Draft { draft } if draft.step == Some(Step::ResidentPhone)));
    assert!(
        e.iter()
            .any(|x| matches!(x, Effect::Send(m) if m.text.contains("格式不对")))
    );
    let (_, e) = run(s, &c, vec![text("+86 138-0000-1234"), cb("d:500:submit")]);
    let d = submitted(&e).unwrap();
    assert_eq!(d.resident_phone.as_deref(), Some("13800001234"));
    assert_eq!(d.resident_name.as_deref(), Some("张大爷"));
}

#[test]
fn required_steps_cannot_be_skipped_and_submit_checks_fields() {
    let c = ctx();
    let (s, e) = run(State::Idle, &c, vec![cmd("incident", ""), cmd("skip", "")]);
    assert!(
        e.iter()
            .any(|x| matches!(x, Effect::Send(m) if m.text.contains("不能跳过")))
    );
    assert!(matches!(&s, State::Draft { draft } if draft.step == Some(Step::Category)));
    // A summary without a description (e.g. only a location) is sent back to that step.
    let d = Draft {
        id: 42,
        kind: Some(ReportKind::Incident),
        step: Some(Step::Summary),
        category_id: Some(2),
        ..Default::default()
    };
    let (s, e) = step(State::Draft { draft: d }, &c, cb("d:42:submit"));
    assert!(submitted(&e).is_none());
    assert!(
        matches!(&s, State::Draft { draft } if draft.step == Some(Step::Description) && draft.editing)
    );
}

#[test]
fn task_done_flow_and_follow_up() {
    let mut c = ctx();
    c.report = Some(ReportFacts {
        id: 9,
        state: ReportState::InProgress,
        is_reporter: false,
        is_assignee: true,
    });
    let (s, e) = step(State::Idle, &c, cb("task:done:9"));
    assert!(matches!(s, State::TaskNote { report_id: 9, .. }));
    assert_eq!(answers(&e), 1);
    let (s, _) = step(s, &c, cmd("skip", ""));
    assert!(matches!(s, State::TaskNote { .. }), "the note is required");
    let (s, _) = step(s, &c, text("已清理完毕"));
    assert!(matches!(s, State::TaskPhoto { .. }));
    let (s, e) = step(
        s,
        &c,
        Input::File {
            file: photo("done", 5),
            caption: None,
        },
    );
    assert_eq!(s, State::Idle);
    assert!(e.contains(&Effect::ResolveTask {
        report_id: 9,
        note: "已清理完毕".into(),
        files: vec![photo("done", 5)],
    }));
    // Start only when assigned.
    let (_, e) = step(State::Idle, &c, cb("task:start:9"));
    assert_eq!(core_commands(&e), 0);
    c.report.as_mut().unwrap().state = ReportState::Assigned;
    let (_, e) = step(State::Idle, &c, cb("task:start:9"));
    assert!(e.contains(&Effect::StartTask(9)));

    // Follow-up: a photo without caption gets a note naming it; a draft is left alone.
    let draft = State::Draft {
        draft: draft_at(Some(ReportKind::Incident), Step::Location),
    };
    let (s, e) = step(
        draft.clone(),
        &c,
        Input::FollowUp {
            report_id: 5,
            text: None,
            file: Some(photo("x", 3)),
        },
    );
    assert_eq!(s, draft);
    assert!(
        matches!(&e[..], [Effect::AddInfo { report_id: 5, note, files }] if note == "[照片]" && files.len() == 1)
    );
}

#[test]
fn new_report_while_a_draft_is_open_asks_first() {
    let c = ctx();
    let (s, _) = run(
        State::Idle,
        &c,
        vec![cmd("incident", ""), cb("d:500:cat:1")],
    );
    let (s, e) = step(s, &c, text("走访"));
    assert!(matches!(
        &s,
        State::ConfirmNew {
            kind: ReportKind::Visit,
            ..
        }
    ));
    assert!(last_buttons(&e).contains(&"d:500:keep".to_owned()));
    let (kept, _) = step(s.clone(), &c, cb("d:500:keep"));
    assert!(matches!(&kept, State::Draft { draft } if draft.kind == Some(ReportKind::Incident)));
    let mut c2 = ctx();
    c2.nonce = 501;
    let (fresh, _) = step(s, &c2, cb("d:500:new:visit"));
    assert!(
        matches!(&fresh, State::Draft { draft } if draft.kind == Some(ReportKind::Visit) && draft.id == 501)
    );
}

#[test]
fn language_switch_and_menus() {
    let c = ctx();
    let (_, e) = step(State::Idle, &c, cmd("lang", ""));
    assert_eq!(e[0], Effect::SetLang(Lang::En));
    let Effect::Send(m) = &e[1] else { panic!() };
    assert_eq!(m.keyboard, render::menu(Lang::En));
    assert_eq!(render::menu_command("Incident"), Some("incident"));
    assert_eq!(render::menu_command("诉求"), Some("request"));
    assert_eq!(render::menu_command("路灯"), None);
    let mut en = ctx();
    en.lang = Lang::En;
    let (_, e) = step(State::Idle, &en, cmd("help", ""));
    assert!(matches!(&e[0], Effect::Send(m) if m.text.starts_with("How to use")));
}

#[test]
fn small_parsers() {
    assert_eq!(parse_count("3"), Some(3));
    assert_eq!(parse_count("１２户"), Some(12));
    assert_eq!(parse_count("0"), None);
    assert_eq!(parse_count("三"), None);
    assert_eq!(parse_count("99999"), None);
    assert_eq!(single_report_number("您上报的 #123 已受理。"), Some(123));
    assert_eq!(single_report_number("#12 … #12"), Some(12));
    assert_eq!(single_report_number("#12 #13"), None);
    assert_eq!(single_report_number("没有编号 #"), None);
    assert_eq!(State::from_json("garbage"), State::Idle);
    for s in Step::ALL {
        assert_eq!(Step::parse(s.code()), Some(*s));
    }
}

/// Typed text as both adapters (Telegram and the simulator) hand it to the machine.
#[test]
fn typed_text_and_commands() {
    assert_eq!(
        parse_text("/start K7MX-3QPD"),
        Input::Command {
            name: "start".into(),
            arg: "K7MX-3QPD".into()
        }
    );
    assert_eq!(
        parse_text("/Visit@gridline_bot"),
        Input::Command {
            name: "visit".into(),
            arg: String::new()
        }
    );
    assert_eq!(parse_text("/ 路灯"), Input::Text("/ 路灯".into()));
    assert_eq!(parse_text("路灯坏了"), Input::Text("路灯坏了".into()));
    // Control characters never reach the machine (PostgreSQL cannot store NUL).
    assert_eq!(
        parse_text("路灯\u{0}坏了\u{7}"),
        Input::Text("路灯坏了".into())
    );
}
