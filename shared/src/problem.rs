//! Why the core refused what someone asked: every validation error and every refusal that
//! reaches a person is a [`Problem`] — a typed value with an i18n key and its arguments, never
//! an English sentence. The core returns it inside [`CoreError::Invalid`] (malformed input),
//! [`CoreError::Conflict`] (clashes with what is stored) or [`CoreError::Forbidden`] (the role
//! may not), or inside [`Refusal::Invalid`] for a report action; adapters say it in the user's
//! language with [`Problem::message`] and decide nothing from its wording.
//!
//! The key is derived from the variant's name (`AreaNameTaken` → `problem.area_name_taken`);
//! the texts are in `shared/locales/problems.yml`, Chinese first. A test renders every variant
//! (enumerated by [`strum::EnumIter`], so a new one cannot be missed) in both languages.
//!
//! [`CoreError::Invalid`]: crate::CoreError::Invalid
//! [`CoreError::Conflict`]: crate::CoreError::Conflict
//! [`CoreError::Forbidden`]: crate::CoreError::Forbidden
//! [`Refusal::Invalid`]: crate::lifecycle::Refusal::Invalid

use std::fmt;

use rust_i18n::t;

use crate::categories::LimitField;

/// A refusal in words the locale files hold. Arguments are what the sentence names (a limit,
/// a field, what was typed); they never hold personal data of residents.
#[derive(Clone, Debug, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
#[strum(prefix = "problem.", serialize_all = "snake_case")]
pub enum Problem {
    // Who may do what ------------------------------------------------------------------------
    /// Only county and town admins manage areas, users and the roster.
    AdminOnly,
    /// Categories and holidays are county-wide: only the county admin changes them.
    CountyAdminOnly,
    /// A viewer reads; they do not act (send notices, change reports, use the simulator).
    ViewerMayNotAct,
    /// The account was deactivated.
    InactiveUser,
    /// Creating or changing a staff user above or beside one's own scope or role.
    MayNotManageUser,
    /// Only some roles may export residents' contacts.
    MayNotUnmask,

    // Areas ----------------------------------------------------------------------------------
    /// Empty, too long or holding a `/`.
    AreaNameInvalid {
        max: usize,
    },
    /// A sibling already has that name.
    AreaNameTaken,
    /// Micro-grids are the leaves of the tree.
    AreaHasNoChildren,
    /// A town admin renaming their own town.
    OwnAreaRename,
    /// A path of names (`gridline` commands) that does not exist.
    NoSuchAreaName {
        name: String,
    },

    // Lists and searches ---------------------------------------------------------------------
    SearchTooLong {
        max: usize,
    },
    /// A page link that is not one the panel made.
    BadPageCursor,
    /// A bulk action over more reports than allowed.
    TooManyReports {
        max: usize,
    },
    /// A day outside the calendar's range.
    DateOutOfRange,

    // Categories and holidays ----------------------------------------------------------------
    /// A category's time limit that is not `30m`, `4h` or `2wd`.
    TimeLimitInvalid {
        field: LimitField,
        text: String,
    },
    HolidayNameTooLong {
        max: usize,
    },

    // Staff users ----------------------------------------------------------------------------
    UsernameInvalid,
    UsernameTaken {
        username: String,
    },
    PasswordTooShort {
        min: usize,
    },
    PasswordTooLong,
    /// On the list of common passwords (or one character repeated).
    PasswordTooCommon,
    /// The current password given to change it is not the right one.
    PasswordWrong,
    /// The new password is the current one.
    PasswordUnchanged,
    /// The new password and its confirmation differ.
    PasswordsDiffer,

    // API tokens and exports -----------------------------------------------------------------
    TokenNameInvalid {
        max: usize,
    },
    TooManyRowsForXlsx {
        max: u64,
    },

    // Reports --------------------------------------------------------------------------------
    ReportKindMissing,
    DescriptionTooLong {
        max: usize,
    },
    NoteTooLong {
        max: usize,
    },
    NoteRequired,
    /// Returning a report for "another reason" without saying which.
    ReturnReasonNeedsNote,
    /// Escalating above the county.
    NoHigherLevel,
    /// Replying to a report nobody filed through the bot.
    NoReporter,
    /// Assigning to a grid leader who is not in the handling area.
    NoSuchMember,
    MemberLeft,
    /// Assigning to a staff user who cannot handle the area.
    NoSuchStaff,
    SelfDuplicate,
    /// Marking a duplicate of a report that does not exist (or is out of sight).
    NoOriginal {
        number: i64,
    },

    // Notices --------------------------------------------------------------------------------
    NoticeTitleEmpty,
    NoticeTitleTooLong {
        max: usize,
    },
    NoticeTextTooLong {
        length: usize,
        max: usize,
    },
    /// With an attachment the text is a caption, which Telegram keeps shorter.
    NoticeCaptionTooLong {
        length: usize,
        max: usize,
    },
    AttachmentEmpty,
    AttachmentTooLarge {
        max_mb: usize,
    },
    BatchSizeZero,
    /// Batches by area are by town or by community.
    BatchAreaLevel,
    BatchIntervalOutOfRange {
        max: i64,
    },
    NoticeAlreadySent,
    /// Pausing what is not sending, resuming what is not paused, reminding about a draft…
    NoticeWrongState,
    NoticeCancelled,

    // County settings ------------------------------------------------------------------------
    /// A number setting given something that is not a whole number.
    SettingNotANumber,
    SettingOutOfRange {
        min: i64,
        max: i64,
    },

    // Roster safety (issue 11) ----------------------------------------------------------------
    /// A roster row whose phone number cannot be imported into the uploader's scope (it belongs
    /// to a member outside it). Worded so it does not say that the number exists elsewhere.
    RosterPhoneUnavailable {
        row: usize,
    },
    /// A spreadsheet whose cells reach beyond what a roster can hold (rows × columns).
    SpreadsheetTooLarge {
        max_rows: usize,
        max_columns: usize,
    },
    /// Bind codes and bind sheets are for the roles that hand them out (admins, secretaries).
    MayNotSeeBindCodes,
}

impl Problem {
    /// The i18n key of the sentence (`problem.<variant in snake case>`).
    pub fn i18n_key(&self) -> &'static str {
        self.into()
    }

    /// The sentence's arguments as shown in `locale` (names of fields translated too).
    pub fn args(&self, locale: &str) -> Vec<(&'static str, String)> {
        use Problem::*;
        match self {
            AreaNameInvalid { max }
            | SearchTooLong { max }
            | TooManyReports { max }
            | HolidayNameTooLong { max }
            | TokenNameInvalid { max }
            | DescriptionTooLong { max }
            | NoteTooLong { max }
            | NoticeTitleTooLong { max } => vec![("max", max.to_string())],
            TooManyRowsForXlsx { max } => vec![("max", max.to_string())],
            BatchIntervalOutOfRange { max } => vec![("max", max.to_string())],
            PasswordTooShort { min } => vec![("min", min.to_string())],
            RosterPhoneUnavailable { row } => vec![("row", row.to_string())],
            SpreadsheetTooLarge {
                max_rows,
                max_columns,
            } => vec![
                ("max_rows", max_rows.to_string()),
                ("max_columns", max_columns.to_string()),
            ],
            SettingOutOfRange { min, max } => {
                vec![("min", min.to_string()), ("max", max.to_string())]
            }
            AttachmentTooLarge { max_mb } => vec![("max_mb", max_mb.to_string())],
            NoticeTextTooLong { length, max } | NoticeCaptionTooLong { length, max } => {
                vec![("length", length.to_string()), ("max", max.to_string())]
            }
            NoSuchAreaName { name } => vec![("name", name.clone())],
            UsernameTaken { username } => vec![("username", username.clone())],
            NoOriginal { number } => vec![("number", number.to_string())],
            TimeLimitInvalid { field, text } => vec![
                ("field", t!(field.i18n_key(), locale = locale).into_owned()),
                ("text", text.clone()),
            ],
            AdminOnly
            | CountyAdminOnly
            | ViewerMayNotAct
            | InactiveUser
            | MayNotManageUser
            | MayNotUnmask
            | AreaNameTaken
            | AreaHasNoChildren
            | OwnAreaRename
            | BadPageCursor
            | DateOutOfRange
            | UsernameInvalid
            | PasswordTooLong
            | PasswordTooCommon
            | PasswordWrong
            | PasswordUnchanged
            | PasswordsDiffer
            | ReportKindMissing
            | NoteRequired
            | ReturnReasonNeedsNote
            | NoHigherLevel
            | NoReporter
            | NoSuchMember
            | MemberLeft
            | NoSuchStaff
            | SelfDuplicate
            | NoticeTitleEmpty
            | AttachmentEmpty
            | BatchSizeZero
            | BatchAreaLevel
            | NoticeAlreadySent
            | NoticeWrongState
            | NoticeCancelled
            | SettingNotANumber
            | MayNotSeeBindCodes => Vec::new(),
        }
    }

    /// The sentence in `locale` (`zh-CN` or `en`).
    pub fn message(&self, locale: &str) -> String {
        let text = t!(self.i18n_key(), locale = locale);
        let (names, values): (Vec<&str>, Vec<String>) = self.args(locale).into_iter().unzip();
        rust_i18n::replace_patterns(&text, &names, &values)
    }
}

/// English, for logs and the audit log's details.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message("en"))
    }
}

/// Words allowed in Chinese text: names of the product, of formats and of keys, and the units
/// of a time limit (`30m`, `4h`, `2wd`).
const LATIN_IN_CHINESE: &[&str] = &[
    "Gridline", "Telegram", "CSV", "XLSX", "Excel", "JPEG", "PNG", "GIF", "WebP", "MB", "Ctrl",
    "Mac", "m", "h", "wd",
];

/// The runs of Latin letters in `text` that read as English: not a name allowed above, and not
/// part of a command, an option or a file name (`/start`, `--out`, `文件.xlsx`).
fn english_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_ascii_alphabetic(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let quoted = text[..s].ends_with(['/', '-', '.']);
                let word = &text[s..i];
                if !quoted && !LATIN_IN_CHINESE.contains(&word) {
                    words.push(word);
                }
                start = None;
            }
            _ => {}
        }
    }
    words
}

/// What is wrong with the two texts of one message: English words in the Chinese (see
/// [`english_words`]), Chinese in the English, a placeholder left unfilled, an empty text.
/// Empty when both are right. The locale tests of every crate check their messages with it.
pub fn text_faults(zh: &str, en: &str) -> Vec<String> {
    let mut faults = Vec::new();
    if zh.trim().is_empty() || en.trim().is_empty() {
        faults.push("an empty text".to_owned());
    }
    let english = english_words(zh);
    if !english.is_empty() {
        faults.push(format!("English in the Chinese text {zh:?}: {english:?}"));
    }
    let is_cjk =
        |c: char| ('\u{4E00}'..='\u{9FFF}').contains(&c) || ('\u{3000}'..='\u{303F}').contains(&c);
    if en.chars().any(is_cjk) {
        faults.push(format!("Chinese in the English text {en:?}"));
    }
    for text in [zh, en] {
        if text.contains("%{") {
            faults.push(format!("a placeholder left in {text:?}"));
        }
    }
    faults
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    /// Every text of a key: in both languages, and without [`text_faults`].
    fn check_texts(key: &str, zh: &str, en: &str) {
        for locale in ["zh-CN", "en"] {
            assert!(
                crate::_rust_i18n_backend().translate(locale, key).is_some(),
                "{key} has no {locale} text"
            );
        }
        let faults = text_faults(zh, en);
        assert!(faults.is_empty(), "{key}: {faults:?}");
    }

    #[test]
    fn every_problem_is_said_in_both_languages() {
        let mut n = 0;
        for p in Problem::iter() {
            check_texts(p.i18n_key(), &p.message("zh-CN"), &p.message("en"));
            n += 1;
        }
        assert!(n > 40, "{n} problems");
        // Arguments are translated too.
        for field in LimitField::iter() {
            let p = Problem::TimeLimitInvalid {
                field,
                text: "30".into(),
            };
            check_texts(field.i18n_key(), &p.message("zh-CN"), &p.message("en"));
        }
    }

    #[test]
    fn arguments_fill_the_sentence() {
        let p = Problem::PasswordTooShort { min: 10 };
        assert!(p.message("zh-CN").contains("10"), "{}", p.message("zh-CN"));
        assert!(p.message("en").contains("10"));
        assert_eq!(p.to_string(), p.message("en"));
        assert_eq!(p.i18n_key(), "problem.password_too_short");
        let p = Problem::TimeLimitInvalid {
            field: LimitField::HandleUrgent,
            text: "3x".into(),
        };
        let zh = p.message("zh-CN");
        assert!(zh.contains("3x") && zh.contains("紧急"), "{zh}");
    }

    #[test]
    fn the_check_catches_what_it_should() {
        assert_eq!(
            text_faults("超过 30m 或 2wd，导出 CSV", "Export CSV").len(),
            0
        );
        assert_eq!(text_faults("请填写 the note", "Write a note").len(), 1);
        assert_eq!(text_faults("请填写说明", "请填写说明").len(), 1);
        // Unfilled in both (and `max` reads as English in the Chinese).
        assert_eq!(text_faults("超过 %{max} 字", "At most %{max}").len(), 3);
        assert_eq!(text_faults("", "x").len(), 1);
        assert!(
            std::panic::catch_unwind(|| check_texts("problem.no_such_key", "缺少", "missing"))
                .is_err()
        );
    }
}
