//! The transition function. Pure: no database, no clock, no network; everything it needs is in
//! the [`Context`]. Every input gets an answer; a button that does not belong to the current
//! state (an old draft's, a forged one) changes nothing.

use rust_i18n::t;

use super::render::{self, msg, msg_with, tr};
use super::{BindBy, Context, Draft, Effect, FileKind, FileRef, Input, Keyboard, State, Step};
use crate::domain::{Lang, Phone, ReportKind, ReportState, Urgency, VisitMethod};
use crate::reports::MAX_DESCRIPTION_CHARS;

/// Longest short field (household, address, names, topics).
pub const MAX_FIELD_CHARS: usize = 500;
/// Most files on one draft.
pub const MAX_FILES: usize = 20;

type Out = (State, Vec<Effect>);

/// The steps of each kind, in order. Steps already filled are passed over.
pub fn sequence(kind: ReportKind) -> &'static [Step] {
    match kind {
        ReportKind::Incident => &[
            Step::Category,
            Step::Description,
            Step::Photo,
            Step::Location,
            Step::Summary,
        ],
        ReportKind::Request => &[
            Step::Category,
            Step::Description,
            Step::ResidentName,
            Step::ResidentPhone,
            Step::Summary,
        ],
        ReportKind::Visit => &[
            Step::Household,
            Step::Count,
            Step::Method,
            Step::Topics,
            Step::Resolved,
            Step::Summary,
        ],
    }
}

fn filled(d: &Draft, step: Step) -> bool {
    match step {
        Step::Kind => d.kind.is_some(),
        Step::Category => d.category_id.is_some(),
        Step::Description | Step::Notes => d.description.is_some(),
        Step::Photo => d.photos() > 0,
        Step::Location => d.latitude.is_some() || d.address.is_some(),
        Step::People => d.people_involved.is_some(),
        Step::Household => d.household.is_some(),
        Step::Count => d.household_count.is_some(),
        Step::Method => d.visit_method.is_some(),
        Step::Topics => d.topics.is_some(),
        Step::Resolved => d.resolved_on_spot.is_some(),
        Step::ResidentName => d.resident_name.is_some(),
        Step::ResidentPhone => d.resident_phone.is_some(),
        Step::Summary => false,
    }
}

/// Moves the draft to the next unfilled step after the current one (or the summary when a
/// single field was being changed).
fn advance(mut d: Draft) -> Draft {
    let Some(kind) = d.kind else {
        d.step = Some(Step::Kind);
        return d;
    };
    if d.editing {
        d.editing = false;
        d.step = Some(Step::Summary);
        return d;
    }
    let seq = sequence(kind);
    let from = d
        .step
        .and_then(|s| seq.iter().position(|x| *x == s))
        .map_or(0, |i| i + 1);
    d.step = Some(
        seq.iter()
            .skip(from)
            .copied()
            .find(|s| !filled(&d, *s))
            .unwrap_or(Step::Summary),
    );
    d
}

/// Starts a kind's sequence from the beginning (first unfilled step).
fn begin(mut d: Draft, kind: ReportKind) -> Draft {
    d.kind = Some(kind);
    d.step = None;
    d.editing = false;
    advance(d)
}

fn ask(d: Draft, ctx: &Context, mut effects: Vec<Effect>) -> Out {
    effects.push(Effect::Send(render::prompt(&d, ctx)));
    (State::Draft { draft: d }, effects)
}

fn say(state: State, text: String) -> Out {
    (state, vec![Effect::Send(msg(text))])
}

/// One step of the conversation.
pub fn step(state: State, ctx: &Context, input: Input) -> Out {
    let lang = ctx.lang;
    // Groups: nothing but a pointer to the private chat, and only when addressed.
    if !ctx.private {
        return match input {
            Input::Command { .. } => say(state, tr("bot.private_only", lang)),
            Input::Callback { .. } => (
                state,
                vec![Effect::Answer(Some(tr("bot.private_only", lang)))],
            ),
            _ => (state, Vec::new()),
        };
    }
    let Some(_member) = ctx.member_id else {
        return unbound(ctx, input);
    };
    match input {
        Input::Callback { data } => callback(state, ctx, &data),
        Input::FollowUp {
            report_id,
            text,
            file,
        } => follow_up(state, ctx, report_id, text, file),
        Input::Command { name, arg } => command(state, ctx, &name, &arg),
        Input::Text(text) if render::menu_command(&text).is_some() => {
            let name = render::menu_command(&text).unwrap_or("help");
            command(state, ctx, name, "")
        }
        Input::Text(text) if render::is_skip_word(&text) => command(state, ctx, "skip", ""),
        other => by_state(state, ctx, other),
    }
}

fn unbound(ctx: &Context, input: Input) -> Out {
    let lang = ctx.lang;
    if ctx.left {
        let mut effects = Vec::new();
        if matches!(input, Input::Callback { .. }) {
            effects.push(Effect::Answer(None));
        }
        effects.push(Effect::Send(msg_with(
            tr("bot.bind.left", lang),
            Keyboard::Remove,
        )));
        return (State::Idle, effects);
    }
    match input {
        Input::Command { name, arg } if name == "start" && !arg.trim().is_empty() => (
            State::Idle,
            vec![Effect::Bind(BindBy::Code(arg.trim().to_owned()))],
        ),
        Input::Contact {
            phone,
            is_own: true,
        } => (State::Idle, vec![Effect::Bind(BindBy::Phone(phone))]),
        Input::Contact { is_own: false, .. } => (
            State::Idle,
            vec![Effect::Send(msg_with(
                tr("bot.bind.not_own_contact", lang),
                render::how_to_bind(lang).keyboard,
            ))],
        ),
        Input::Callback { .. } => (
            State::Idle,
            vec![
                Effect::Answer(None),
                Effect::Send(render::how_to_bind(lang)),
            ],
        ),
        Input::Command { name, .. } if name == "start" => (
            State::Idle,
            vec![Effect::Send(msg_with(
                format!(
                    "{}\n\n{}",
                    tr("bot.welcome", lang),
                    tr("bot.bind.how", lang)
                ),
                render::how_to_bind(lang).keyboard,
            ))],
        ),
        Input::Command { name, .. } if name == "lang" => {
            // Unbound users can still read the instructions in English.
            let other = if lang == Lang::Zh { Lang::En } else { Lang::Zh };
            (State::Idle, vec![Effect::Send(render::how_to_bind(other))])
        }
        _ => (State::Idle, vec![Effect::Send(render::how_to_bind(lang))]),
    }
}

fn command(state: State, ctx: &Context, name: &str, arg: &str) -> Out {
    let lang = ctx.lang;
    match name {
        "start" => {
            let text = if arg.trim().is_empty() {
                tr("bot.welcome_back", lang)
            } else {
                tr("bot.bind.already", lang)
            };
            let mut out = (
                state.clone(),
                vec![Effect::Send(msg_with(text, render::menu(lang)))],
            );
            remind(&state, ctx, &mut out.1);
            out
        }
        "help" => {
            let mut effects = vec![Effect::Send(msg_with(
                tr("bot.help", lang),
                render::menu(lang),
            ))];
            remind(&state, ctx, &mut effects);
            (state, effects)
        }
        "lang" => {
            let new = if lang == Lang::Zh { Lang::En } else { Lang::Zh };
            (
                state,
                vec![
                    Effect::SetLang(new),
                    Effect::Send(msg_with(tr("bot.lang.switched", new), render::menu(new))),
                ],
            )
        }
        "my" => (state, vec![Effect::ListMine]),
        "cancel" => match state {
            State::Idle => (
                State::Idle,
                vec![Effect::Send(msg_with(
                    tr("bot.nothing_to_cancel", lang),
                    render::menu(lang),
                ))],
            ),
            State::TaskNote {
                resume: Some(d), ..
            }
            | State::TaskPhoto {
                resume: Some(d), ..
            } => {
                let d = *d;
                ask(
                    d,
                    ctx,
                    vec![Effect::Send(msg(tr("bot.task.cancelled", lang)))],
                )
            }
            _ => (
                State::Idle,
                vec![Effect::Send(msg_with(
                    tr("bot.cancelled", lang),
                    render::menu(lang),
                ))],
            ),
        },
        "skip" => skip(state, ctx),
        "visit" | "incident" | "request" => {
            let kind = match name {
                "visit" => ReportKind::Visit,
                "incident" => ReportKind::Incident,
                _ => ReportKind::Request,
            };
            new_report(state, ctx, kind)
        }
        _ => {
            let mut effects = vec![Effect::Send(msg(tr("bot.unknown_command", lang)))];
            remind(&state, ctx, &mut effects);
            (state, effects)
        }
    }
}

/// Repeats the open question, so the user knows where they are.
fn remind(state: &State, ctx: &Context, effects: &mut Vec<Effect>) {
    match state {
        State::Draft { draft } => effects.push(Effect::Send(render::prompt(draft, ctx))),
        State::ConfirmNew { draft, kind } => {
            effects.push(Effect::Send(confirm_new(draft, *kind, ctx)))
        }
        State::TaskNote { report_id, .. } => {
            effects.push(Effect::Send(task_note_prompt(*report_id, ctx.lang)))
        }
        State::TaskPhoto { report_id, .. } => {
            effects.push(Effect::Send(task_photo_prompt(*report_id, ctx.lang)))
        }
        State::Idle => {}
    }
}

fn new_report(state: State, ctx: &Context, kind: ReportKind) -> Out {
    match state {
        State::Draft { draft } | State::ConfirmNew { draft, .. } if draft_has_content(&draft) => {
            let m = confirm_new(&draft, kind, ctx);
            (State::ConfirmNew { draft, kind }, vec![Effect::Send(m)])
        }
        State::TaskNote { .. } | State::TaskPhoto { .. } => {
            let mut effects = vec![Effect::Send(msg(tr("bot.task.finish_first", ctx.lang)))];
            remind(&state, ctx, &mut effects);
            (state, effects)
        }
        _ => ask(begin(Draft::new(ctx.nonce), kind), ctx, Vec::new()),
    }
}

fn draft_has_content(d: &Draft) -> bool {
    let empty = Draft {
        id: d.id,
        kind: d.kind,
        step: d.step,
        editing: d.editing,
        ..Default::default()
    };
    *d != empty
}

fn confirm_new(d: &Draft, kind: ReportKind, ctx: &Context) -> super::Msg {
    let lang = ctx.lang;
    msg_with(
        tr("bot.draft.open", lang),
        render::inline(vec![vec![
            super::Button {
                label: tr("bot.button.keep_draft", lang),
                data: format!("d:{}:keep", d.id),
            },
            super::Button {
                label: tr("bot.button.discard_draft", lang),
                data: format!("d:{}:new:{}", d.id, kind.code()),
            },
        ]]),
    )
}

fn skip(state: State, ctx: &Context) -> Out {
    let lang = ctx.lang;
    match state {
        State::Draft { draft } => {
            let step = draft.step.unwrap_or(Step::Summary);
            if step.optional() {
                ask(advance(draft), ctx, Vec::new())
            } else {
                let effects = vec![Effect::Send(msg(tr("bot.cannot_skip", lang)))];
                ask(draft, ctx, effects)
            }
        }
        State::TaskPhoto {
            report_id,
            note,
            files,
            resume,
        } => finish_task(report_id, note, files, resume, ctx, Vec::new()),
        State::TaskNote { .. } => {
            let mut effects = vec![Effect::Send(msg(tr("bot.task.note_required", lang)))];
            remind(&state, ctx, &mut effects);
            (state, effects)
        }
        other => say(other, tr("bot.nothing_to_skip", lang)),
    }
}

/// Checks a file against the size limit; `Err` carries the refusal.
fn accept_file(file: &FileRef, ctx: &Context) -> Result<(), Effect> {
    match file.size {
        Some(0) => Err(Effect::Send(msg(tr("bot.file.empty", ctx.lang)))),
        Some(size) if size > ctx.max_file_bytes => Err(Effect::Send(msg(t!(
            "bot.file.too_big",
            locale = ctx.locale(),
            max = format_mb(ctx.max_file_bytes)
        )
        .into_owned()))),
        _ => Ok(()),
    }
}

fn format_mb(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if (mb - mb.round()).abs() < 0.05 {
        format!("{} MB", mb.round() as u64)
    } else {
        format!("{mb:.1} MB")
    }
}

/// A free text checked for length and blankness. `Err` carries the refusal.
fn check_text(text: &str, max: usize, ctx: &Context) -> Result<String, Effect> {
    let cleaned = drop_control_chars(text);
    let trimmed = cleaned.trim();
    if is_blank(trimmed) {
        return Err(Effect::Send(msg(tr("bot.text.empty", ctx.lang))));
    }
    let n = trimmed.chars().count();
    if n > max {
        return Err(Effect::Send(msg(t!(
            "bot.text.too_long",
            locale = ctx.locale(),
            n = n,
            max = max
        )
        .into_owned())));
    }
    Ok(trimmed.to_owned())
}

/// The text without C0/C1 control characters other than tab, newline and carriage return:
/// they are invisible, PostgreSQL cannot store NUL, and XML (XLSX exports) cannot hold most of
/// them. Everything else (emoji, zero-width and bidi characters, markup) is kept as sent.
pub fn drop_control_chars(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(is_dropped_control) {
        std::borrow::Cow::Owned(text.chars().filter(|c| !is_dropped_control(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn is_dropped_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\t' | '\r')
}

fn is_blank(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
    })
}

fn by_state(state: State, ctx: &Context, input: Input) -> Out {
    let lang = ctx.lang;
    match state {
        State::Idle => quick(ctx, input),
        State::Draft { draft } => draft_input(draft, ctx, input),
        State::ConfirmNew { draft, .. } => draft_input(draft, ctx, input),
        State::TaskNote {
            report_id,
            mut files,
            resume,
        } => match input {
            Input::Text(text) => match check_text(&text, crate::lifecycle::MAX_NOTE_CHARS, ctx) {
                Ok(note) => {
                    let m = task_photo_prompt(report_id, lang);
                    (
                        State::TaskPhoto {
                            report_id,
                            note,
                            files,
                            resume,
                        },
                        vec![Effect::Send(m)],
                    )
                }
                Err(e) => (
                    State::TaskNote {
                        report_id,
                        files,
                        resume,
                    },
                    vec![e],
                ),
            },
            Input::File { file, caption } => {
                if let Err(e) = accept_file(&file, ctx) {
                    return (
                        State::TaskNote {
                            report_id,
                            files,
                            resume,
                        },
                        vec![e],
                    );
                }
                files.push(file);
                match caption.map(|c| check_text(&c, crate::lifecycle::MAX_NOTE_CHARS, ctx)) {
                    Some(Ok(note)) => finish_task(report_id, note, files, resume, ctx, Vec::new()),
                    _ => (
                        State::TaskNote {
                            report_id,
                            files,
                            resume,
                        },
                        vec![Effect::Send(msg(tr("bot.task.photo_then_note", lang)))],
                    ),
                }
            }
            _ => {
                let st = State::TaskNote {
                    report_id,
                    files,
                    resume,
                };
                (st, vec![Effect::Send(task_note_prompt(report_id, lang))])
            }
        },
        State::TaskPhoto {
            report_id,
            note,
            mut files,
            resume,
        } => match input {
            Input::File { file, .. } => {
                if let Err(e) = accept_file(&file, ctx) {
                    return (
                        State::TaskPhoto {
                            report_id,
                            note,
                            files,
                            resume,
                        },
                        vec![e],
                    );
                }
                files.push(file);
                finish_task(report_id, note, files, resume, ctx, Vec::new())
            }
            _ => {
                let m = task_photo_prompt(report_id, lang);
                (
                    State::TaskPhoto {
                        report_id,
                        note,
                        files,
                        resume,
                    },
                    vec![Effect::Send(m)],
                )
            }
        },
    }
}

fn task_note_prompt(report_id: i64, lang: Lang) -> super::Msg {
    msg(t!("bot.task.ask_note", locale = lang.locale(), id = report_id).into_owned())
}

fn task_photo_prompt(report_id: i64, lang: Lang) -> super::Msg {
    msg_with(
        t!("bot.task.ask_photo", locale = lang.locale(), id = report_id).into_owned(),
        render::inline(vec![vec![super::Button {
            label: tr("bot.button.finish", lang),
            data: format!("task:finish:{report_id}"),
        }]]),
    )
}

fn finish_task(
    report_id: i64,
    note: String,
    files: Vec<FileRef>,
    resume: Option<Box<Draft>>,
    ctx: &Context,
    mut effects: Vec<Effect>,
) -> Out {
    effects.push(Effect::ResolveTask {
        report_id,
        note,
        files,
    });
    match resume {
        Some(d) => {
            let d = *d;
            effects.push(Effect::Send(msg(tr("bot.draft.resumed", ctx.lang))));
            ask(d, ctx, effects)
        }
        None => (State::Idle, effects),
    }
}

/// Something arrived with no draft open: quick mode starts one and asks which kind.
fn quick(ctx: &Context, input: Input) -> Out {
    let lang = ctx.lang;
    let mut d = Draft::new(ctx.nonce);
    d.step = Some(Step::Kind);
    match input {
        Input::Text(text) => match check_text(&text, MAX_DESCRIPTION_CHARS, ctx) {
            Ok(t) => d.description = Some(t),
            Err(e) => return (State::Idle, vec![e]),
        },
        Input::File { file, caption } => {
            if let Err(e) = accept_file(&file, ctx) {
                return (State::Idle, vec![e]);
            }
            d.files.push(file);
            if let Some(c) = caption {
                match check_text(&c, MAX_DESCRIPTION_CHARS, ctx) {
                    Ok(t) => d.description = Some(t),
                    Err(Effect::Send(_)) if is_blank(&c) => {}
                    Err(e) => return (State::Idle, vec![e]),
                }
            }
        }
        Input::Location {
            latitude,
            longitude,
        } => {
            d.latitude = Some(latitude);
            d.longitude = Some(longitude);
        }
        Input::Contact { .. } => {
            return (
                State::Idle,
                vec![Effect::Send(msg_with(
                    tr("bot.bind.already", lang),
                    render::menu(lang),
                ))],
            );
        }
        _ => {
            return (
                State::Idle,
                vec![Effect::Send(msg_with(
                    tr("bot.unsupported", lang),
                    render::menu(lang),
                ))],
            );
        }
    }
    ask(d, ctx, Vec::new())
}

/// Input while a draft is open.
fn draft_input(mut d: Draft, ctx: &Context, input: Input) -> Out {
    let lang = ctx.lang;
    let step = d.step.unwrap_or(Step::Summary);
    match input {
        Input::File { file, caption } => {
            if let Err(e) = accept_file(&file, ctx) {
                return ask(d, ctx, vec![e]);
            }
            if d.files.len() >= MAX_FILES {
                return ask(
                    d,
                    ctx,
                    vec![Effect::Send(msg(tr("bot.file.too_many", lang)))],
                );
            }
            let kind = file.kind;
            d.files.push(file);
            let caption = caption.filter(|c| !is_blank(c));
            match (step, caption) {
                (Step::Description | Step::Notes | Step::Kind, Some(c))
                    if d.description.is_none() || step != Step::Kind =>
                {
                    match check_text(&c, MAX_DESCRIPTION_CHARS, ctx) {
                        Ok(t) => {
                            d.description = Some(t);
                            if step == Step::Kind {
                                ask(d, ctx, Vec::new())
                            } else {
                                ask(advance(d), ctx, Vec::new())
                            }
                        }
                        Err(e) => ask(d, ctx, vec![e]),
                    }
                }
                (Step::Photo, _) if kind == FileKind::Photo => ask(advance(d), ctx, Vec::new()),
                (Step::Summary, _) => ask(d, ctx, Vec::new()),
                _ => {
                    let note = t!(
                        "bot.file.added",
                        locale = ctx.locale(),
                        what = render::file_kind_label(kind, lang),
                        n = d.files.len()
                    )
                    .into_owned();
                    ask(d, ctx, vec![Effect::Send(msg(note))])
                }
            }
        }
        Input::Location {
            latitude,
            longitude,
        } => {
            d.latitude = Some(latitude);
            d.longitude = Some(longitude);
            if step == Step::Location || step == Step::Photo {
                ask(advance(d), ctx, Vec::new())
            } else if step == Step::Summary {
                ask(d, ctx, Vec::new())
            } else {
                ask(
                    d,
                    ctx,
                    vec![Effect::Send(msg(tr("bot.location.added", lang)))],
                )
            }
        }
        Input::Text(text) => draft_text(d, ctx, step, text),
        Input::Contact { phone, .. } if step == Step::ResidentPhone => {
            draft_text(d, ctx, step, phone)
        }
        Input::Contact { .. } | Input::Unsupported => {
            ask(d, ctx, vec![Effect::Send(msg(tr("bot.unsupported", lang)))])
        }
        // Commands, callbacks and follow-ups are routed before this.
        Input::Command { .. } | Input::Callback { .. } | Input::FollowUp { .. } => {
            ask(d, ctx, Vec::new())
        }
    }
}

fn draft_text(mut d: Draft, ctx: &Context, step: Step, text: String) -> Out {
    let lang = ctx.lang;
    match step {
        Step::Kind => {
            // More words for the description while the kind is still open.
            match check_text(&text, MAX_DESCRIPTION_CHARS, ctx) {
                Ok(t) => {
                    let joined = match d.description.take() {
                        Some(prev) => format!("{prev}\n{t}"),
                        None => t,
                    };
                    if joined.chars().count() > MAX_DESCRIPTION_CHARS {
                        d.description = None;
                        let e = check_text(&joined, MAX_DESCRIPTION_CHARS, ctx).err();
                        return ask(d, ctx, e.into_iter().collect());
                    }
                    d.description = Some(joined);
                    ask(d, ctx, Vec::new())
                }
                Err(e) => ask(d, ctx, vec![e]),
            }
        }
        Step::Category => {
            let wanted = text.trim();
            let found = ctx
                .categories
                .iter()
                .find(|c| {
                    c.parent_id.is_none()
                        && (c.name_zh == wanted || c.name_en.eq_ignore_ascii_case(wanted))
                })
                .map(|c| c.id);
            match found {
                Some(id) => {
                    d.category_id = Some(id);
                    ask(advance(d), ctx, Vec::new())
                }
                None => ask(d, ctx, vec![Effect::Send(msg(tr("bot.use_buttons", lang)))]),
            }
        }
        Step::Description | Step::Notes => match check_text(&text, MAX_DESCRIPTION_CHARS, ctx) {
            Ok(t) => {
                d.description = Some(t);
                ask(advance(d), ctx, Vec::new())
            }
            Err(e) => ask(d, ctx, vec![e]),
        },
        Step::Photo => ask(
            d,
            ctx,
            vec![Effect::Send(msg(tr("bot.photo.expected", lang)))],
        ),
        Step::Location | Step::People | Step::Household | Step::Topics | Step::ResidentName => {
            match check_text(&text, MAX_FIELD_CHARS, ctx) {
                Ok(t) => {
                    *short_field(&mut d, step) = Some(t);
                    ask(advance(d), ctx, Vec::new())
                }
                Err(e) => ask(d, ctx, vec![e]),
            }
        }
        Step::Count => match parse_count(&text) {
            Some(n) => {
                d.household_count = Some(n);
                ask(advance(d), ctx, Vec::new())
            }
            None => ask(
                d,
                ctx,
                vec![Effect::Send(msg(tr("bot.count.invalid", lang)))],
            ),
        },
        Step::Method => {
            let wanted = text.trim();
            let found = VisitMethod::ALL.iter().copied().find(|m| {
                [Lang::Zh, Lang::En]
                    .iter()
                    .any(|l| render::method_label(*m, *l).eq_ignore_ascii_case(wanted))
            });
            match found {
                Some(m) => {
                    d.visit_method = Some(m);
                    ask(advance(d), ctx, Vec::new())
                }
                None => ask(d, ctx, vec![Effect::Send(msg(tr("bot.use_buttons", lang)))]),
            }
        }
        Step::Resolved => {
            let t = text.trim().to_lowercase();
            let answer = match t.as_str() {
                "是" | "是的" | "yes" | "y" => Some(true),
                "否" | "不是" | "没有" | "no" | "n" => Some(false),
                _ => None,
            };
            match answer {
                Some(r) => {
                    d.resolved_on_spot = Some(r);
                    ask(advance(d), ctx, Vec::new())
                }
                None => ask(d, ctx, vec![Effect::Send(msg(tr("bot.use_buttons", lang)))]),
            }
        }
        Step::ResidentPhone => match Phone::parse(&text) {
            Ok(p) => {
                d.resident_phone = Some(p.as_str().to_owned());
                ask(advance(d), ctx, Vec::new())
            }
            Err(_) => ask(
                d,
                ctx,
                vec![Effect::Send(msg(tr("bot.phone.invalid", lang)))],
            ),
        },
        Step::Summary => ask(
            d,
            ctx,
            vec![Effect::Send(msg(tr("bot.summary.use_buttons", lang)))],
        ),
    }
}

/// The short free-text field (at most [`MAX_FIELD_CHARS`]) that typed text fills at `step`:
/// the address, the people involved, the household, the topics, else the resident's name.
fn short_field(d: &mut Draft, step: Step) -> &mut Option<String> {
    match step {
        Step::Location => &mut d.address,
        Step::People => &mut d.people_involved,
        Step::Household => &mut d.household,
        Step::Topics => &mut d.topics,
        _ => &mut d.resident_name,
    }
}

/// A household count as typed: ASCII or full-width digits, 1 to 9999.
pub fn parse_count(text: &str) -> Option<i32> {
    let digits: String = text
        .trim()
        .trim_end_matches(['户', '家'])
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            c => c,
        })
        .collect();
    digits
        .parse::<i32>()
        .ok()
        .filter(|n| (1..=9999).contains(n))
}

fn follow_up(
    state: State,
    ctx: &Context,
    report_id: i64,
    text: Option<String>,
    file: Option<FileRef>,
) -> Out {
    let lang = ctx.lang;
    if let Some(f) = &file
        && let Err(e) = accept_file(f, ctx)
    {
        return (state, vec![e]);
    }
    let note = match text.filter(|t| !is_blank(t)) {
        Some(t) => match check_text(&t, crate::lifecycle::MAX_NOTE_CHARS, ctx) {
            Ok(t) => t,
            Err(e) => return (state, vec![e]),
        },
        None => match &file {
            Some(f) => format!("[{}]", render::file_kind_label(f.kind, lang)),
            None => return (state, vec![Effect::Send(msg(tr("bot.unsupported", lang)))]),
        },
    };
    (
        state,
        vec![Effect::AddInfo {
            report_id,
            note,
            files: file.into_iter().collect(),
        }],
    )
}

fn stale(state: State, ctx: &Context) -> Out {
    (
        state,
        vec![Effect::Answer(Some(tr("bot.button.stale", ctx.lang)))],
    )
}

fn callback(state: State, ctx: &Context, data: &str) -> Out {
    let parts: Vec<&str> = data.split(':').collect();
    match parts.as_slice() {
        ["task", action, id] => {
            let Ok(id) = id.parse::<i64>() else {
                return stale(state, ctx);
            };
            task_callback(state, ctx, action, id)
        }
        ["ack", id] => match id.parse::<i64>() {
            Ok(id) => (state, vec![Effect::Acknowledge(id)]),
            Err(_) => stale(state, ctx),
        },
        ["spawn", kind, id] => {
            let (Some(kind), Ok(id)) = (ReportKind::parse(kind), id.parse::<i64>()) else {
                return stale(state, ctx);
            };
            let ok = kind != ReportKind::Visit
                && ctx
                    .report
                    .as_ref()
                    .is_some_and(|r| r.id == id && r.is_reporter);
            if !ok {
                return stale(state, ctx);
            }
            if !matches!(state, State::Idle) {
                let mut effects =
                    vec![Effect::Answer(Some(tr("bot.draft.finish_first", ctx.lang)))];
                remind(&state, ctx, &mut effects);
                return (state, effects);
            }
            let mut d = Draft::new(ctx.nonce);
            d.parent_report_id = Some(id);
            ask(
                begin(d, kind),
                ctx,
                vec![Effect::Answer(None), Effect::ClearButtons],
            )
        }
        ["d", id, rest @ ..] => {
            let Ok(id) = id.parse::<i64>() else {
                return stale(state, ctx);
            };
            match state {
                State::Draft { draft } if draft.id == id => draft_callback(draft, ctx, rest, None),
                State::ConfirmNew { draft, kind } if draft.id == id => match rest {
                    ["keep"] => ask(draft, ctx, vec![Effect::Answer(None), Effect::ClearButtons]),
                    ["new", k] if ReportKind::parse(k) == Some(kind) => ask(
                        begin(Draft::new(ctx.nonce), kind),
                        ctx,
                        vec![
                            Effect::Answer(None),
                            Effect::ClearButtons,
                            Effect::Send(msg(tr("bot.draft.discarded", ctx.lang))),
                        ],
                    ),
                    // Buttons of the draft itself still work; it stays open.
                    _ => draft_callback(draft, ctx, rest, Some(kind)),
                },
                other => stale(other, ctx),
            }
        }
        _ => stale(state, ctx),
    }
}

fn task_callback(state: State, ctx: &Context, action: &str, id: i64) -> Out {
    let lang = ctx.lang;
    let Some(facts) = ctx.report.as_ref().filter(|r| r.id == id) else {
        return stale(state, ctx);
    };
    if !facts.is_assignee {
        return (
            state,
            vec![Effect::Answer(Some(tr("bot.task.not_yours", lang)))],
        );
    }
    match action {
        "start" => match facts.state {
            ReportState::Assigned => (state, vec![Effect::Answer(None), Effect::StartTask(id)]),
            ReportState::InProgress => (
                state,
                vec![Effect::Answer(Some(tr("bot.task.already_started", lang)))],
            ),
            _ => (
                state,
                vec![Effect::Answer(Some(tr("bot.task.closed", lang)))],
            ),
        },
        "done" => {
            if !matches!(facts.state, ReportState::Assigned | ReportState::InProgress) {
                return (
                    state,
                    vec![Effect::Answer(Some(tr("bot.task.closed", lang)))],
                );
            }
            let resume = match state {
                State::Draft { draft } | State::ConfirmNew { draft, .. } => Some(Box::new(draft)),
                State::TaskNote { resume, .. } | State::TaskPhoto { resume, .. } => resume,
                State::Idle => None,
            };
            (
                State::TaskNote {
                    report_id: id,
                    files: Vec::new(),
                    resume,
                },
                vec![
                    Effect::Answer(None),
                    Effect::Send(task_note_prompt(id, lang)),
                ],
            )
        }
        "finish" => match state {
            State::TaskPhoto {
                report_id,
                note,
                files,
                resume,
            } if report_id == id => finish_task(
                report_id,
                note,
                files,
                resume,
                ctx,
                vec![Effect::Answer(None), Effect::ClearButtons],
            ),
            other => stale(other, ctx),
        },
        _ => stale(state, ctx),
    }
}

fn draft_callback(
    mut d: Draft,
    ctx: &Context,
    rest: &[&str],
    confirming: Option<ReportKind>,
) -> Out {
    let lang = ctx.lang;
    let step = d.step.unwrap_or(Step::Summary);
    let done = || vec![Effect::Answer(None), Effect::ClearButtons];
    let top_level = |id: i64| {
        ctx.categories
            .iter()
            .any(|c| c.id == id && c.parent_id.is_none())
    };
    let keep = |d: Draft| {
        if let Some(kind) = confirming {
            // Still waiting for keep / discard: stay there.
            (
                State::ConfirmNew { kind, draft: d },
                vec![Effect::Answer(Some(tr("bot.button.stale", lang)))],
            )
        } else {
            (
                State::Draft { draft: d },
                vec![Effect::Answer(Some(tr("bot.button.stale", lang)))],
            )
        }
    };
    match rest {
        ["kind", k] if step == Step::Kind => match ReportKind::parse(k) {
            Some(kind) => ask(begin(d, kind), ctx, done()),
            None => keep(d),
        },
        ["kc", c] if step == Step::Kind => match c.parse::<i64>() {
            Ok(c) if top_level(c) => {
                d.category_id = Some(c);
                ask(begin(d, ReportKind::Incident), ctx, done())
            }
            _ => keep(d),
        },
        ["cat", c] if step == Step::Category => match c.parse::<i64>() {
            Ok(c) if top_level(c) => {
                d.category_id = Some(c);
                ask(advance(d), ctx, done())
            }
            _ => keep(d),
        },
        ["sub", c] if d.category_id.is_some() && step != Step::Summary => {
            let top = d.category_id.and_then(|id| render::top_of(ctx, id));
            match c.parse::<i64>() {
                Ok(c)
                    if ctx
                        .categories
                        .iter()
                        .any(|x| x.id == c && x.parent_id.is_some() && x.parent_id == top) =>
                {
                    d.category_id = Some(c);
                    let label = render::category_path(ctx, c).unwrap_or_default();
                    (
                        State::Draft { draft: d },
                        vec![Effect::Answer(Some(label)), Effect::ClearButtons],
                    )
                }
                _ => keep(d),
            }
        }
        ["count", n] if step == Step::Count => match n.parse::<i32>() {
            Ok(n) if (1..=9999).contains(&n) => {
                d.household_count = Some(n);
                ask(advance(d), ctx, done())
            }
            _ => keep(d),
        },
        ["method", m] if step == Step::Method => match VisitMethod::parse(m) {
            Some(m) => {
                d.visit_method = Some(m);
                ask(advance(d), ctx, done())
            }
            None => keep(d),
        },
        ["res", r] if step == Step::Resolved && (*r == "yes" || *r == "no") => {
            d.resolved_on_spot = Some(*r == "yes");
            ask(advance(d), ctx, done())
        }
        ["skip"] if step.optional() => ask(advance(d), ctx, done()),
        ["urg", u] if step == Step::Summary && d.kind == Some(ReportKind::Incident) => {
            match Urgency::parse(u) {
                Some(u) => {
                    d.urgency = Some(u);
                    let card = render::summary(&d, ctx);
                    (
                        State::Draft { draft: d },
                        vec![Effect::Answer(None), Effect::Edit(card)],
                    )
                }
                None => keep(d),
            }
        }
        ["submit"] if step == Step::Summary => match missing(&d) {
            Some(step) => {
                d.step = Some(step);
                d.editing = true;
                let m = t!(
                    "bot.summary.missing",
                    locale = lang.locale(),
                    field = tr(&format!("bot.field.{}", render::field_key(step)), lang)
                )
                .into_owned();
                ask(d, ctx, vec![Effect::Answer(None), Effect::Send(msg(m))])
            }
            None => (
                State::Idle,
                vec![
                    Effect::Answer(None),
                    Effect::ClearButtons,
                    Effect::Submit(Box::new(d)),
                ],
            ),
        },
        ["edit"] if step == Step::Summary => {
            let m = render::edit_menu(&d, ctx);
            (
                State::Draft { draft: d },
                vec![Effect::Answer(None), Effect::Edit(m)],
            )
        }
        ["back"] if step == Step::Summary => {
            let m = render::summary(&d, ctx);
            (
                State::Draft { draft: d },
                vec![Effect::Answer(None), Effect::Edit(m)],
            )
        }
        ["field", f] if step == Step::Summary => {
            let kind = d.kind.unwrap_or(ReportKind::Incident);
            match Step::parse(f).filter(|s| render::editable_fields(kind).contains(s)) {
                Some(s) => {
                    d.step = Some(s);
                    d.editing = true;
                    ask(d, ctx, done())
                }
                None => keep(d),
            }
        }
        ["cancel"] => (
            State::Idle,
            vec![
                Effect::Answer(None),
                Effect::ClearButtons,
                Effect::Send(msg_with(tr("bot.cancelled", lang), render::menu(lang))),
            ],
        ),
        _ => keep(d),
    }
}

/// The first required field a draft lacks.
fn missing(d: &Draft) -> Option<Step> {
    match d.kind {
        None => Some(Step::Kind),
        Some(ReportKind::Incident | ReportKind::Request) => {
            if d.category_id.is_none() {
                Some(Step::Category)
            } else if d.description.as_deref().is_none_or(is_blank) {
                Some(Step::Description)
            } else {
                None
            }
        }
        Some(ReportKind::Visit) => {
            if d.household.is_none() {
                Some(Step::Household)
            } else if d.household_count.is_none() {
                Some(Step::Count)
            } else if d.visit_method.is_none() {
                Some(Step::Method)
            } else {
                None
            }
        }
    }
}
