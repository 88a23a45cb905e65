//! The panel says everything in both languages: every key its code and templates name exists
//! in `admin/locales/` in Chinese and English, and every refusal, error page, audit action and
//! target renders in both without English in the Chinese ([`text_faults`]). The core's own
//! refusals ([`gridline_shared::Problem`]) are checked in `shared/src/problem.rs`.

use std::path::Path;

use gridline_shared::audit::{AuditAction, AuditTarget};
use gridline_shared::county_settings::Setting;
use gridline_shared::domain::ReportState;
use gridline_shared::lifecycle::Refusal;
use gridline_shared::problem::text_faults;
use gridline_shared::report_page::PANEL_ACTIONS;
use gridline_shared::{CoreError, Problem};
use strum::IntoEnumIterator;

use crate::panel::PanelError;
use crate::panel::audit::{action_label, target_label};
use crate::panel::error::refusal_message;

const LOCALES: [&str; 2] = ["zh-CN", "en"];

fn has_text(key: &str, locale: &str) -> bool {
    crate::_rust_i18n_backend().translate(locale, key).is_some()
}

fn check(what: &str, render: impl Fn(&str) -> String) {
    let (zh, en) = (render("zh-CN"), render("en"));
    let faults = text_faults(&zh, &en);
    assert!(faults.is_empty(), "{what}: {faults:?}");
}

/// Every refusal of a report action, one of each variant (the match below does not compile
/// when a variant is added and not listed), and a wrong state for every action and state.
fn refusals() -> Vec<Refusal> {
    let mut all = vec![
        Refusal::NotFound,
        Refusal::NotAllowed { action: "accept" },
        Refusal::OutOfScope,
        Refusal::ReopenWindowPassed,
        Refusal::Invalid(Problem::NoteRequired),
    ];
    for action in PANEL_ACTIONS {
        for state in ReportState::ALL {
            all.push(Refusal::WrongState {
                action,
                state: *state,
            });
        }
    }
    for r in &all {
        match r {
            Refusal::NotFound
            | Refusal::WrongState { .. }
            | Refusal::NotAllowed { .. }
            | Refusal::OutOfScope
            | Refusal::ReopenWindowPassed
            | Refusal::Invalid(_) => {}
        }
    }
    all
}

#[test]
fn every_refusal_and_error_page_in_both_languages() {
    for r in refusals() {
        check(&format!("{r:?}"), |l| refusal_message(&r, l));
    }
    let errors = [
        PanelError::NotFound,
        PanelError::Forbidden,
        PanelError::Csrf,
        PanelError::TooLarge,
        PanelError::Busy,
        PanelError::Refused(Refusal::OutOfScope),
        PanelError::Core(CoreError::Invalid(Problem::BadPageCursor)),
        PanelError::Core(CoreError::Conflict(Problem::AreaNameTaken)),
        PanelError::Core(CoreError::Forbidden(Problem::AdminOnly)),
        PanelError::Core(CoreError::Internal("boom".into())),
        PanelError::Internal("boom".into()),
    ];
    for e in &errors {
        check(&format!("{e:?}"), |l| e.message(l));
        // Nothing internal reaches the page.
        assert!(!e.message("en").contains("boom"), "{e:?}");
    }
    assert_eq!(
        PanelError::Core(CoreError::Conflict(Problem::AreaNameTaken)).status(),
        axum::http::StatusCode::CONFLICT
    );
}

#[test]
fn every_audit_action_and_target_in_both_languages() {
    for a in AuditAction::iter() {
        check(a.code(), |l| action_label(a.code(), l));
        assert_ne!(action_label(a.code(), "zh-CN"), a.code());
    }
    for action in PANEL_ACTIONS {
        for code in [
            format!("report.{action}"),
            format!("report.{action}.refused"),
        ] {
            check(&code, |l| action_label(&code, l));
        }
    }
    let day = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default();
    for t in [
        AuditTarget::Report(1),
        AuditTarget::Notice(1),
        AuditTarget::Area(1),
        AuditTarget::Member(1),
        AuditTarget::ApiToken(1),
        AuditTarget::User("zhang".into()),
        AuditTarget::Category("hazard".into()),
        AuditTarget::Day(day),
        AuditTarget::Setting("auto_escalation".into()),
    ] {
        let text = t.to_string();
        let zh = target_label(&text, &[], "zh-CN");
        assert!(has_text(&format!("panel.audit.target.{}", t.kind()), "en"));
        // A setting is named by its label, anything else by its id.
        let named = match &t {
            AuditTarget::Setting(key) => Setting::parse(key)
                .map(|s| crate::tr("zh-CN", s.label_key()))
                .unwrap_or_default(),
            other => other.id(),
        };
        assert!(zh != text && zh.contains(&named), "{text}: {zh}");
    }
    // What this version does not know is shown as stored.
    assert_eq!(action_label("future.thing", "zh-CN"), "future.thing");
    assert_eq!(target_label("thing:1", &[], "zh-CN"), "thing:1");
}

/// The string literals of a source text that look like keys of this crate's texts.
fn literal_keys(text: &str) -> Vec<String> {
    const PREFIXES: [&str; 5] = ["panel.", "nt.", "sim.", "report.", "cli."];
    const NOT_KEYS: [&str; 3] = [".css", ".js", ".html"];
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| PREFIXES.iter().any(|p| s.starts_with(p)))
        .filter(|s| !s.ends_with('.') && !s.contains(['{', ' ', '/']))
        .filter(|s| !NOT_KEYS.iter().any(|x| s.ends_with(x)))
        .map(str::to_owned)
        .collect()
}

/// Keys whose text holds the other language on purpose.
const BILINGUAL: [&str; 2] = [
    // The language switch names the other language in its own words.
    "panel.lang.switch",
    // The county's word 调休 stays beside its English explanation.
    "panel.holidays.hint",
];

/// The text with its placeholders filled (as the code fills them).
fn filled(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("%{") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => {
                out.push('1');
                rest = &rest[i + j + 1..];
            }
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "rs" || e == "html" || e == "js")
            && !path.ends_with("locale_tests.rs")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn every_key_named_in_code_and_templates_exists_in_both_languages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "templates", "static"] {
        sources(&root.join(dir), &mut files);
    }
    assert!(files.len() > 30, "{} files", files.len());
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (path, text) in &files {
        for key in literal_keys(text) {
            for locale in LOCALES {
                if !has_text(&key, locale) {
                    wrong.push(format!("{path}: {key} has no {locale} text"));
                }
            }
            let faults = text_faults(
                &filled(&crate::tr("zh-CN", &key)),
                &filled(&crate::tr("en", &key)),
            );
            // The command line's texts quote commands, URLs and account names
            // (`echo 密码 | gridline user add`, `http://…`, `admin`).
            let quotes_commands = key.starts_with("cli.");
            if !faults.is_empty() && !quotes_commands && !BILINGUAL.contains(&key.as_str()) {
                wrong.push(format!("{path}: {key}: {faults:?}"));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(checked > 300, "{checked} keys");
    assert_eq!(filled("第%{row}行：%{x}"), "第1行：1");
    assert_eq!(
        literal_keys(r#"t!("panel.a.b") "panel.css" "nt.x.{y}" "x""#),
        vec!["panel.a.b"]
    );
}

#[test]
fn every_county_setting_has_a_label_and_a_hint() {
    for s in Setting::all() {
        for key in [s.label_key(), s.hint_key()] {
            let zh = crate::tr("zh-CN", &key);
            let en = crate::tr("en", &key);
            assert!(zh != key && en != key, "{key} has no text");
            let faults = text_faults(&zh, &en);
            assert!(faults.is_empty(), "{key}: {faults:?}");
        }
    }
}
