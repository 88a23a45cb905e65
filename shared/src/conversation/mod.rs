//! The bot's conversation as a pure state machine: `state + input → new state + effects`.
//!
//! Nothing here knows Telegram. An adapter (the teloxide bot in `gridline-bot`, the chat
//! simulator in [`crate::simulator`]) turns what the user did into an [`Input`],
//! and [`runner::handle`] loads the chat's [`State`] and the facts the machine needs into a
//! [`Context`], calls [`machine::step`], performs the core commands among the [`Effect`]s in
//! the same database transaction that stores the new state and marks the update handled, and
//! hands the replies back to the adapter to send after the commit.

pub mod machine;
pub mod render;
pub mod runner;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::domain::{Lang, ReportKind, ReportState, Urgency, VisitMethod};
pub use crate::outbox::Button;

/// What kind of file the user sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Photo,
    Voice,
    Document,
}

impl FileKind {
    /// The `attachments.kind` code.
    pub fn code(self) -> &'static str {
        match self {
            FileKind::Photo => "photo",
            FileKind::Voice => "voice",
            FileKind::Document => "document",
        }
    }
}

/// A file the messenger keeps for us; the bytes are fetched after the update is committed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub kind: FileKind,
    pub file_id: String,
    pub unique_id: String,
    /// Bytes, when the messenger said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// What the user did, in messenger-neutral terms.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Text(String),
    /// `/name arg` (the name lowercase, without the slash and without `@botname`).
    Command {
        name: String,
        arg: String,
    },
    /// A photo (the largest size), a voice note or a document, with its caption.
    File {
        file: FileRef,
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
    },
    /// A shared contact; `is_own` when it is the sender's own number (the share-phone button).
    Contact {
        phone: String,
        is_own: bool,
    },
    /// An inline button was pressed.
    Callback {
        data: String,
    },
    /// Text or a file sent in reply to a message about report `report_id` (the runner resolves
    /// the replied-to message to the report).
    FollowUp {
        report_id: i64,
        text: Option<String>,
        file: Option<FileRef>,
    },
    /// Stickers, polls, games, dice…: answered politely, otherwise ignored.
    Unsupported,
}

/// Typed text as every messenger adapter reads it: without control characters
/// ([`machine::drop_control_chars`]); `/cmd@bot arg` → a command (the name lowercase, without
/// `@botname`); anything else → text.
pub fn parse_text(text: &str) -> Input {
    let text = machine::drop_control_chars(text);
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix('/') {
        let (head, arg) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => (rest, ""),
        };
        let name = head.split('@').next().unwrap_or("").to_lowercase();
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Input::Command {
                name,
                arg: arg.to_owned(),
            };
        }
    }
    Input::Text(text.into_owned())
}

/// The steps of a draft. Each kind walks its own sequence (see [`machine::sequence`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Quick mode: something arrived out of the blue; which kind is it?
    Kind,
    Category,
    Description,
    Photo,
    Location,
    People,
    Household,
    Count,
    Method,
    Topics,
    Notes,
    Resolved,
    ResidentName,
    ResidentPhone,
    Summary,
}

impl Step {
    pub const ALL: &'static [Step] = &[
        Step::Kind,
        Step::Category,
        Step::Description,
        Step::Photo,
        Step::Location,
        Step::People,
        Step::Household,
        Step::Count,
        Step::Method,
        Step::Topics,
        Step::Notes,
        Step::Resolved,
        Step::ResidentName,
        Step::ResidentPhone,
        Step::Summary,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Step::Kind => "kind",
            Step::Category => "category",
            Step::Description => "description",
            Step::Photo => "photo",
            Step::Location => "location",
            Step::People => "people",
            Step::Household => "household",
            Step::Count => "count",
            Step::Method => "method",
            Step::Topics => "topics",
            Step::Notes => "notes",
            Step::Resolved => "resolved",
            Step::ResidentName => "resident_name",
            Step::ResidentPhone => "resident_phone",
            Step::Summary => "summary",
        }
    }

    pub fn parse(code: &str) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// Whether `/skip` may pass this step.
    pub fn optional(self) -> bool {
        matches!(
            self,
            Step::Photo
                | Step::Location
                | Step::People
                | Step::Topics
                | Step::Notes
                | Step::ResidentName
                | Step::ResidentPhone
        )
    }
}

/// A report being written. Lives in the chat's [`State`] (and so in the database) until it is
/// submitted or cancelled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Unique per chat; buttons carry it, so a button of an older draft does nothing.
    pub id: i64,
    pub kind: Option<ReportKind>,
    pub step: Option<Step>,
    /// Changing one field from the summary: go back to the summary after it.
    #[serde(default)]
    pub editing: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_involved: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit_method: Option<VisitMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_on_spot: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resident_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRef>,
    /// A visit this report was spawned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_report_id: Option<i64>,
}

impl Draft {
    pub fn new(id: i64) -> Draft {
        Draft {
            id,
            ..Default::default()
        }
    }
    pub fn photos(&self) -> usize {
        self.files
            .iter()
            .filter(|f| f.kind == FileKind::Photo)
            .count()
    }
}

/// Where a chat's conversation stands. Stored as JSON per chat.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    #[default]
    Idle,
    Draft {
        draft: Draft,
    },
    /// A new report was asked for while a draft is open: keep it or start over?
    ConfirmNew {
        draft: Draft,
        kind: ReportKind,
    },
    /// 完成 was pressed on a task card: waiting for the note (and optional photos).
    TaskNote {
        report_id: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<FileRef>,
        /// A draft that was open when the task came up; it is resumed afterwards.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Box<Draft>>,
    },
    /// The note is in; an optional photo, then 完成.
    TaskPhoto {
        report_id: i64,
        note: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<FileRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Box<Draft>>,
    },
}

impl State {
    /// Reads a stored state; anything unreadable (an older format) starts over at `Idle`.
    pub fn from_json(json: &str) -> State {
        serde_json::from_str(json).unwrap_or_default()
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{\"state\":\"idle\"}".to_owned())
    }
}

/// A category as the machine offers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryOption {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name_zh: String,
    pub name_en: String,
}

impl CategoryOption {
    pub fn label(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.name_en,
            Lang::Zh => &self.name_zh,
        }
    }
}

/// The facts about a report an input names (a task button, a reply), loaded by the runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFacts {
    pub id: i64,
    pub state: ReportState,
    pub is_reporter: bool,
    pub is_assignee: bool,
}

/// Everything the machine may look at besides the state and the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Context {
    /// The bound, active member writing; `None` for an unbound user.
    pub member_id: Option<i64>,
    /// The user is bound to a roster entry marked left.
    pub left: bool,
    /// A private chat (groups only get "please message me privately").
    pub private: bool,
    pub lang: Lang,
    /// Active categories, top level and children.
    pub categories: Vec<CategoryOption>,
    /// Files larger than this are refused.
    pub max_file_bytes: u64,
    /// Unique per update: a new draft takes it as its id.
    pub nonce: i64,
    /// The report the input names, if any.
    pub report: Option<ReportFacts>,
}

impl Context {
    pub fn locale(&self) -> &'static str {
        self.lang.locale()
    }
}

/// A keyboard attached to a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Keyboard {
    /// Leave whatever keyboard the chat shows.
    None,
    Inline {
        rows: Vec<Vec<Button>>,
    },
    /// The main menu as a persistent reply keyboard.
    Menu {
        rows: Vec<Vec<String>>,
    },
    /// One button sharing the user's own phone number.
    RequestContact {
        label: String,
    },
    /// A button sharing the location, and a skip button.
    RequestLocation {
        label: String,
        skip: String,
    },
    /// Remove the reply keyboard.
    Remove,
}

/// A message to show the user.
#[derive(Clone, Debug, PartialEq)]
pub struct Msg {
    pub text: String,
    pub keyboard: Keyboard,
}

/// How a binding is asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum BindBy {
    Code(String),
    Phone(String),
}

/// What should happen. Messages and callback answers are performed by the adapter after the
/// commit; the rest are core commands the runner performs inside the transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Send(Msg),
    /// Answer the pressed button (a short toast, or nothing).
    Answer(Option<String>),
    /// Replace the pressed message's text and buttons.
    Edit(Msg),
    /// Remove the inline buttons of the pressed message (a step is done).
    ClearButtons,
    Bind(BindBy),
    Submit(Box<Draft>),
    StartTask(i64),
    ResolveTask {
        report_id: i64,
        note: String,
        files: Vec<FileRef>,
    },
    AddInfo {
        report_id: i64,
        note: String,
        files: Vec<FileRef>,
    },
    Acknowledge(i64),
    ListMine,
    SetLang(Lang),
}
