//! What the machine says: prompts, the summary card, menus and keyboards, in the user's
//! language (the locale is passed on every call).

use rust_i18n::t;

use super::{Button, CategoryOption, Context, Draft, FileKind, Keyboard, Msg, Step};
use crate::domain::{Lang, ReportKind, Urgency, VisitMethod};

/// Longest preview of a free text on the summary card.
const PREVIEW_CHARS: usize = 300;

pub fn tr(key: &str, lang: Lang) -> String {
    t!(key, locale = lang.locale()).into_owned()
}

fn button(label: impl Into<String>, data: impl Into<String>) -> Button {
    Button {
        label: label.into(),
        data: data.into(),
    }
}

/// The menu labels for one language: 走访 事件 诉求 / 我的 帮助.
pub fn menu_rows(lang: Lang) -> Vec<Vec<String>> {
    vec![
        vec![
            tr("bot.menu.visit", lang),
            tr("bot.menu.incident", lang),
            tr("bot.menu.request", lang),
        ],
        vec![tr("bot.menu.my", lang), tr("bot.menu.help", lang)],
    ]
}

pub fn menu(lang: Lang) -> Keyboard {
    Keyboard::Menu {
        rows: menu_rows(lang),
    }
}

/// Which command a menu button (in either language) stands for.
pub fn menu_command(text: &str) -> Option<&'static str> {
    let text = text.trim();
    for lang in [Lang::Zh, Lang::En] {
        for (key, cmd) in [
            ("bot.menu.visit", "visit"),
            ("bot.menu.incident", "incident"),
            ("bot.menu.request", "request"),
            ("bot.menu.my", "my"),
            ("bot.menu.help", "help"),
        ] {
            if tr(key, lang) == text {
                return Some(cmd);
            }
        }
    }
    None
}

/// Words that mean `/skip` when typed or sent by the skip button of a reply keyboard.
pub fn is_skip_word(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    t == "跳过" || t == "skip" || t == tr("bot.button.skip", Lang::Zh) || t == "/skip"
}

pub fn msg(text: impl Into<String>) -> Msg {
    Msg {
        text: text.into(),
        keyboard: Keyboard::None,
    }
}

pub fn msg_with(text: impl Into<String>, keyboard: Keyboard) -> Msg {
    Msg {
        text: text.into(),
        keyboard,
    }
}

pub fn inline(rows: Vec<Vec<Button>>) -> Keyboard {
    Keyboard::Inline { rows }
}

/// How to bind, with the share-phone button.
pub fn how_to_bind(lang: Lang) -> Msg {
    msg_with(
        tr("bot.bind.how", lang),
        Keyboard::RequestContact {
            label: tr("bot.button.share_phone", lang),
        },
    )
}

pub fn kind_label(kind: ReportKind, lang: Lang) -> String {
    tr(&format!("report.kind.{}", kind.code()), lang)
}

pub fn urgency_label(u: Urgency, lang: Lang) -> String {
    tr(&format!("report.urgency.{}", u.code()), lang)
}

pub fn method_label(m: VisitMethod, lang: Lang) -> String {
    tr(&format!("bot.method.{}", m.code()), lang)
}

fn top_categories(ctx: &Context) -> impl Iterator<Item = &CategoryOption> {
    ctx.categories.iter().filter(|c| c.parent_id.is_none())
}

fn rows_of<T>(items: Vec<T>, per_row: usize) -> Vec<Vec<T>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    for item in items {
        row.push(item);
        if row.len() == per_row {
            rows.push(std::mem::take(&mut row));
        }
    }
    if !row.is_empty() {
        rows.push(row);
    }
    rows
}

fn cancel_row(d: &Draft, lang: Lang) -> Vec<Button> {
    vec![button(
        tr("bot.button.cancel", lang),
        format!("d:{}:cancel", d.id),
    )]
}

fn skip_row(d: &Draft, lang: Lang) -> Vec<Button> {
    vec![button(
        tr("bot.button.skip", lang),
        format!("d:{}:skip", d.id),
    )]
}

/// The category's label, with its parent's for a subcategory (`安全隐患 / 消防隐患`).
pub fn category_path(ctx: &Context, id: i64) -> Option<String> {
    let cat = ctx.categories.iter().find(|c| c.id == id)?;
    let own = cat.label(ctx.lang).to_owned();
    match cat
        .parent_id
        .and_then(|p| ctx.categories.iter().find(|c| c.id == p))
    {
        Some(parent) => Some(format!("{} / {own}", parent.label(ctx.lang))),
        None => Some(own),
    }
}

/// The top-level category a draft's category belongs to.
pub fn top_of(ctx: &Context, id: i64) -> Option<i64> {
    let cat = ctx.categories.iter().find(|c| c.id == id)?;
    Some(cat.parent_id.unwrap_or(cat.id))
}

/// The question for the draft's current step.
pub fn prompt(d: &Draft, ctx: &Context) -> Msg {
    let lang = ctx.lang;
    let step = d.step.unwrap_or(Step::Summary);
    match step {
        Step::Kind => {
            let mut rows = vec![vec![
                button(
                    kind_label(ReportKind::Visit, lang),
                    format!("d:{}:kind:visit", d.id),
                ),
                button(
                    kind_label(ReportKind::Request, lang),
                    format!("d:{}:kind:request", d.id),
                ),
            ]];
            let cats: Vec<Button> = top_categories(ctx)
                .map(|c| {
                    button(
                        format!("⚠️{}", c.label(lang)),
                        format!("d:{}:kc:{}", d.id, c.id),
                    )
                })
                .collect();
            rows.extend(rows_of(cats, 3));
            rows.push(cancel_row(d, lang));
            msg_with(tr("bot.ask.kind", lang), inline(rows))
        }
        Step::Category => {
            let cats: Vec<Button> = top_categories(ctx)
                .map(|c| button(c.label(lang), format!("d:{}:cat:{}", d.id, c.id)))
                .collect();
            let mut rows = rows_of(cats, 3);
            rows.push(cancel_row(d, lang));
            msg_with(
                t!(
                    "bot.ask.category",
                    locale = lang.locale(),
                    kind = kind_label(d.kind.unwrap_or(ReportKind::Incident), lang)
                ),
                inline(rows),
            )
        }
        Step::Description => {
            let mut text = tr("bot.ask.description", lang);
            if d.photos() > 0 {
                text = format!("{}\n{}", photo_count(d, lang), text);
            }
            let top = d.category_id.and_then(|c| top_of(ctx, c));
            let subs: Vec<Button> = ctx
                .categories
                .iter()
                .filter(|c| top.is_some() && c.parent_id == top)
                .map(|c| {
                    let mark = if Some(c.id) == d.category_id {
                        "✓"
                    } else {
                        ""
                    };
                    button(
                        format!("{mark}{}", c.label(lang)),
                        format!("d:{}:sub:{}", d.id, c.id),
                    )
                })
                .collect();
            if subs.is_empty() {
                msg(text)
            } else {
                text.push('\n');
                text.push_str(&tr("bot.ask.subcategory", lang));
                msg_with(text, inline(rows_of(subs, 3)))
            }
        }
        Step::Photo => msg_with(tr("bot.ask.photo", lang), inline(vec![skip_row(d, lang)])),
        Step::Location => msg_with(
            tr("bot.ask.location", lang),
            Keyboard::RequestLocation {
                label: tr("bot.button.send_location", lang),
                skip: tr("bot.button.skip", lang),
            },
        ),
        Step::People => msg_with(tr("bot.ask.people", lang), inline(vec![skip_row(d, lang)])),
        Step::Household => msg(tr("bot.ask.household", lang)),
        Step::Count => {
            let buttons = (1..=5)
                .map(|n| button(n.to_string(), format!("d:{}:count:{n}", d.id)))
                .collect();
            msg_with(tr("bot.ask.count", lang), inline(vec![buttons]))
        }
        Step::Method => {
            let buttons = VisitMethod::ALL
                .iter()
                .map(|m| {
                    button(
                        method_label(*m, lang),
                        format!("d:{}:method:{}", d.id, m.code()),
                    )
                })
                .collect();
            msg_with(tr("bot.ask.method", lang), inline(vec![buttons]))
        }
        Step::Topics => msg_with(tr("bot.ask.topics", lang), inline(vec![skip_row(d, lang)])),
        Step::Notes => msg_with(tr("bot.ask.notes", lang), inline(vec![skip_row(d, lang)])),
        Step::Resolved => msg_with(
            tr("bot.ask.resolved", lang),
            inline(vec![vec![
                button(tr("bot.button.yes", lang), format!("d:{}:res:yes", d.id)),
                button(tr("bot.button.no", lang), format!("d:{}:res:no", d.id)),
            ]]),
        ),
        Step::ResidentName => msg_with(
            tr("bot.ask.resident_name", lang),
            inline(vec![skip_row(d, lang)]),
        ),
        Step::ResidentPhone => msg_with(
            tr("bot.ask.resident_phone", lang),
            inline(vec![skip_row(d, lang)]),
        ),
        Step::Summary => summary(d, ctx),
    }
}

fn photo_count(d: &Draft, lang: Lang) -> String {
    t!("bot.note.photos", locale = lang.locale(), n = d.photos()).into_owned()
}

fn preview(text: &str) -> String {
    crate::text::excerpt(text, PREVIEW_CHARS)
}

fn line(out: &mut String, lang: Lang, key: &str, value: Option<String>) {
    let label = tr(&format!("bot.field.{key}"), lang);
    let value = value.unwrap_or_else(|| "—".to_owned());
    out.push('\n');
    out.push_str(&label);
    out.push('：');
    out.push_str(&value);
}

/// The summary card shown before submitting, with 提交 / 修改 / 取消 (and urgency for incidents).
pub fn summary(d: &Draft, ctx: &Context) -> Msg {
    let lang = ctx.lang;
    let kind = d.kind.unwrap_or(ReportKind::Incident);
    let mut text = t!(
        "bot.summary.title",
        locale = lang.locale(),
        kind = kind_label(kind, lang)
    )
    .into_owned();
    let location = match (d.latitude, d.longitude, &d.address) {
        (Some(la), Some(lo), Some(a)) => Some(format!("📍{la:.5}, {lo:.5}；{}", preview(a))),
        (Some(la), Some(lo), None) => Some(format!("📍{la:.5}, {lo:.5}")),
        (_, _, Some(a)) => Some(preview(a)),
        _ => None,
    };
    let files = {
        let photos = d.photos();
        let others = d.files.len() - photos;
        if d.files.is_empty() {
            None
        } else if others == 0 {
            Some(photos.to_string())
        } else {
            Some(format!("{photos} + {others}"))
        }
    };
    match kind {
        ReportKind::Incident => {
            line(
                &mut text,
                lang,
                "category",
                d.category_id.and_then(|c| category_path(ctx, c)),
            );
            line(
                &mut text,
                lang,
                "urgency",
                Some(urgency_label(d.urgency.unwrap_or(Urgency::Normal), lang)),
            );
            line(
                &mut text,
                lang,
                "description",
                d.description.as_deref().map(preview),
            );
            line(&mut text, lang, "photos", files);
            line(&mut text, lang, "location", location);
            line(
                &mut text,
                lang,
                "people",
                d.people_involved.as_deref().map(preview),
            );
        }
        ReportKind::Request => {
            line(
                &mut text,
                lang,
                "category",
                d.category_id.and_then(|c| category_path(ctx, c)),
            );
            line(
                &mut text,
                lang,
                "description",
                d.description.as_deref().map(preview),
            );
            line(&mut text, lang, "resident_name", d.resident_name.clone());
            line(&mut text, lang, "resident_phone", d.resident_phone.clone());
            line(&mut text, lang, "photos", files);
            line(&mut text, lang, "location", location);
        }
        ReportKind::Visit => {
            line(
                &mut text,
                lang,
                "household",
                d.household.as_deref().map(preview),
            );
            line(
                &mut text,
                lang,
                "count",
                d.household_count.map(|n| n.to_string()),
            );
            line(
                &mut text,
                lang,
                "method",
                d.visit_method.map(|m| method_label(m, lang)),
            );
            line(&mut text, lang, "topics", d.topics.as_deref().map(preview));
            line(
                &mut text,
                lang,
                "notes",
                d.description.as_deref().map(preview),
            );
            line(
                &mut text,
                lang,
                "resolved",
                d.resolved_on_spot
                    .map(|r| tr(if r { "bot.button.yes" } else { "bot.button.no" }, lang)),
            );
            line(&mut text, lang, "photos", files);
            line(&mut text, lang, "location", location);
        }
    }
    text.push_str("\n\n");
    text.push_str(&tr("bot.summary.hint", lang));
    let mut rows = vec![vec![
        button(tr("bot.button.submit", lang), format!("d:{}:submit", d.id)),
        button(tr("bot.button.edit", lang), format!("d:{}:edit", d.id)),
        button(tr("bot.button.cancel", lang), format!("d:{}:cancel", d.id)),
    ]];
    if kind == ReportKind::Incident {
        let current = d.urgency.unwrap_or(Urgency::Normal);
        rows.push(
            Urgency::ALL
                .iter()
                .map(|u| {
                    let mark = if *u == current { "✓" } else { "" };
                    button(
                        format!("{mark}{}", urgency_label(*u, lang)),
                        format!("d:{}:urg:{}", d.id, u.code()),
                    )
                })
                .collect(),
        );
    }
    msg_with(text, inline(rows))
}

/// The fields that can be changed from the summary, per kind.
pub fn editable_fields(kind: ReportKind) -> &'static [Step] {
    match kind {
        ReportKind::Incident => &[
            Step::Category,
            Step::Description,
            Step::Photo,
            Step::Location,
            Step::People,
        ],
        ReportKind::Request => &[
            Step::Category,
            Step::Description,
            Step::ResidentName,
            Step::ResidentPhone,
            Step::Photo,
            Step::Location,
        ],
        ReportKind::Visit => &[
            Step::Household,
            Step::Count,
            Step::Method,
            Step::Topics,
            Step::Notes,
            Step::Resolved,
            Step::Photo,
            Step::Location,
        ],
    }
}

/// The "which field?" card that 修改 turns the summary into.
pub fn edit_menu(d: &Draft, ctx: &Context) -> Msg {
    let lang = ctx.lang;
    let kind = d.kind.unwrap_or(ReportKind::Incident);
    let buttons: Vec<Button> = editable_fields(kind)
        .iter()
        .map(|s| {
            button(
                tr(&format!("bot.field.{}", field_key(*s)), lang),
                format!("d:{}:field:{}", d.id, s.code()),
            )
        })
        .collect();
    let mut rows = rows_of(buttons, 3);
    rows.push(vec![button(
        tr("bot.button.back", lang),
        format!("d:{}:back", d.id),
    )]);
    msg_with(tr("bot.ask.which_field", lang), inline(rows))
}

/// The `bot.field.*` key of a step.
pub fn field_key(step: Step) -> &'static str {
    match step {
        Step::Photo => "photos",
        Step::Notes => "notes",
        other => other.code(),
    }
}

/// The receipt after submitting.
pub fn receipt(id: i64, kind: ReportKind, lang: Lang) -> String {
    t!(
        "bot.receipt",
        locale = lang.locale(),
        id = id,
        kind = kind_label(kind, lang)
    )
    .into_owned()
}

/// Visits can spawn an incident or a request.
pub fn spawn_buttons(visit_id: i64, lang: Lang) -> Keyboard {
    inline(vec![vec![
        button(
            tr("bot.button.spawn_incident", lang),
            format!("spawn:incident:{visit_id}"),
        ),
        button(
            tr("bot.button.spawn_request", lang),
            format!("spawn:request:{visit_id}"),
        ),
    ]])
}

pub fn file_kind_label(kind: FileKind, lang: Lang) -> String {
    tr(&format!("bot.file.{}", kind.code()), lang)
}
