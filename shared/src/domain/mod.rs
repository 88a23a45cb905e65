//! Domain newtypes and enums, each with `parse()` and unit tests beside it. The enums are
//! stored as short lowercase strings (`DeriveActiveEnum`), so the database stays readable.

pub mod area_path;
pub mod phone;

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

pub use area_path::AreaPath;
pub use phone::Phone;

/// Declares a domain enum stored as a short string code, with `code()`, `parse()`, `ALL`,
/// `Display`, serde and sea-orm support generated from one list of variants.
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $($(#[$vmeta])* #[sea_orm(string_value = $code)] #[serde(rename = $code)] $variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stored code, e.g. `submitted`.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            /// Parses a stored code; `None` for anything unknown.
            pub fn parse(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

/// Levels of the area tree. The county is the root.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
#[serde(rename_all = "snake_case")]
pub enum AreaLevel {
    County = 0,
    Town = 1,
    Community = 2,
    Grid = 3,
    MicroGrid = 4,
}

impl AreaLevel {
    pub const ALL: &'static [AreaLevel] = &[
        AreaLevel::County,
        AreaLevel::Town,
        AreaLevel::Community,
        AreaLevel::Grid,
        AreaLevel::MicroGrid,
    ];
    pub fn child(self) -> Option<AreaLevel> {
        match self {
            AreaLevel::County => Some(AreaLevel::Town),
            AreaLevel::Town => Some(AreaLevel::Community),
            AreaLevel::Community => Some(AreaLevel::Grid),
            AreaLevel::Grid => Some(AreaLevel::MicroGrid),
            AreaLevel::MicroGrid => None,
        }
    }
    pub fn i18n_key(self) -> &'static str {
        match self {
            AreaLevel::County => "area.level.county",
            AreaLevel::Town => "area.level.town",
            AreaLevel::Community => "area.level.community",
            AreaLevel::Grid => "area.level.grid",
            AreaLevel::MicroGrid => "area.level.micro_grid",
        }
    }
}

string_enum! {
    /// What a member's roster entry allows.
    pub enum MemberStatus {
        Active = "active",
        /// Left the post: cannot bind, receives nothing.
        Left = "left",
        /// Blocked the bot (Telegram answered 403): nothing more is sent until they write again.
        Blocked = "blocked",
    }
}

string_enum! {
    /// Staff roles, from the widest powers to the narrowest.
    pub enum StaffRole {
        CountyAdmin = "county-admin",
        TownAdmin = "town-admin",
        Secretary = "secretary",
        Viewer = "viewer",
    }
}

impl StaffRole {
    /// Whether this role may change reports at all (a viewer only looks).
    pub fn can_act(self) -> bool {
        !matches!(self, StaffRole::Viewer)
    }
    /// Whether this role may manage users, categories, holidays and the roster.
    pub fn is_admin(self) -> bool {
        matches!(self, StaffRole::CountyAdmin | StaffRole::TownAdmin)
    }
}

string_enum! {
    pub enum ReportKind {
        /// 走访
        Visit = "visit",
        /// 事件/隐患
        Incident = "incident",
        /// 群众诉求
        Request = "request",
    }
}

string_enum! {
    /// The lifecycle states. "Overdue" is not a state: it is computed from the deadlines.
    pub enum ReportState {
        /// 待受理
        Submitted = "submitted",
        /// 已受理
        Accepted = "accepted",
        /// 已派遣
        Assigned = "assigned",
        /// 处置中
        InProgress = "in_progress",
        /// 待核查
        Resolved = "resolved",
        /// 已办结
        Closed = "closed",
        /// 退回 — the reporter may amend and resubmit.
        Returned = "returned",
        /// 不予受理 — final.
        Rejected = "rejected",
    }
}

impl ReportState {
    /// States in which somebody still owes work (and a deadline runs).
    pub const OPEN: &'static [ReportState] = &[
        ReportState::Submitted,
        ReportState::Accepted,
        ReportState::Assigned,
        ReportState::InProgress,
    ];

    /// Whether this is one of the [`ReportState::OPEN`] states.
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }
    pub fn i18n_key(self) -> String {
        format!("report.state.{}", self.code())
    }
}

string_enum! {
    pub enum Urgency {
        /// 一般
        Normal = "normal",
        /// 紧急
        Urgent = "urgent",
        /// 重大
        Critical = "critical",
    }
}

string_enum! {
    pub enum VisitMethod {
        /// 入户
        InPerson = "in_person",
        /// 电话
        Phone = "phone",
        /// 路遇
        Encounter = "encounter",
    }
}

string_enum! {
    /// Coded reasons for returning a report to its reporter (the reporter is told which).
    pub enum ReturnReason {
        /// 信息不全
        Incomplete = "incomplete",
        /// 分类错误
        WrongCategory = "wrong_category",
        /// 地点不清
        UnclearLocation = "unclear_location",
        /// 需补充照片
        NeedsPhoto = "needs_photo",
        /// 其他
        Other = "other",
    }
}

string_enum! {
    /// One line of a report's timeline (`report_events.action`): filing, then the lifecycle's
    /// actions ([`crate::lifecycle::Action::timeline_action`]).
    pub enum TimelineAction {
        Submit = "submit",
        Accept = "accept",
        Assign = "assign",
        Start = "start",
        Return = "return",
        Resubmit = "resubmit",
        Reject = "reject",
        Duplicate = "duplicate",
        Resolve = "resolve",
        VerifyFail = "verify_fail",
        Close = "close",
        Reopen = "reopen",
        Escalate = "escalate",
        Comment = "comment",
        Reply = "reply",
        AddInfo = "add_info",
    }
}

string_enum! {
    /// What a queued message (an `outbox` row) is, for priorities and counts.
    pub enum MessageKind {
        ReportUpdate = "report_update",
        Task = "task",
        Reply = "reply",
        Notice = "notice",
        Reminder = "reminder",
    }
}

string_enum! {
    /// Where a queued message (an `outbox` row) stands.
    pub enum OutboxStatus {
        /// Waiting for its time and a worker.
        Pending = "pending",
        /// Claimed by a worker (or held by the bot for a receipt) under a lease.
        Sending = "sending",
        Sent = "sent",
        /// Given up: a 4xx other than 403, or 5xx/connection errors too many times.
        Failed = "failed",
        /// The member blocked the bot (403).
        Blocked = "blocked",
        /// Telegram may have accepted it but the answer never came: not resent blindly.
        Uncertain = "uncertain",
        /// Its notice is paused.
        Held = "held",
        /// Its notice was cancelled before it went out.
        Cancelled = "cancelled",
    }
}

string_enum! {
    /// Where a notice stands.
    pub enum NoticeStatus {
        /// Composed, not sent.
        Draft = "draft",
        /// Sent: its messages go out batch by batch.
        Active = "active",
        /// Sending stopped; the messages not yet taken are held.
        Paused = "paused",
        /// Whatever was not sent is cancelled.
        Cancelled = "cancelled",
    }
}

string_enum! {
    /// The language a member or a staff user reads. Chinese first.
    pub enum Lang {
        Zh = "zh-CN",
        En = "en",
    }
}

#[allow(clippy::derivable_impls)] // the enum comes from a macro; Chinese is the default
impl Default for Lang {
    fn default() -> Self {
        Lang::Zh
    }
}

impl Lang {
    /// The rust-i18n locale name.
    pub fn locale(self) -> &'static str {
        self.code()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for &s in ReportState::ALL {
            assert_eq!(ReportState::parse(s.code()), Some(s));
        }
        for &r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.code()), Some(r));
        }
        for &r in ReturnReason::ALL {
            assert_eq!(ReturnReason::parse(r.code()), Some(r));
        }
        for &a in TimelineAction::ALL {
            assert_eq!(TimelineAction::parse(a.code()), Some(a));
        }
        for &s in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::parse(s.code()), Some(s));
        }
        for &k in MessageKind::ALL {
            assert_eq!(MessageKind::parse(k.code()), Some(k));
        }
        for &s in NoticeStatus::ALL {
            assert_eq!(NoticeStatus::parse(s.code()), Some(s));
        }
        assert_eq!(TimelineAction::VerifyFail.code(), "verify_fail");
        assert_eq!(MessageKind::ReportUpdate.code(), "report_update");
        assert_eq!(ReportState::InProgress.code(), "in_progress");
        assert_eq!(StaffRole::CountyAdmin.code(), "county-admin");
        assert_eq!(Lang::En.locale(), "en");
        assert_eq!(ReportState::parse("overdue"), None);
        assert_eq!(StaffRole::parse(""), None);
    }

    #[test]
    fn open_states() {
        let open: Vec<_> = ReportState::ALL
            .iter()
            .copied()
            .filter(|s| s.is_open())
            .collect();
        assert_eq!(
            open,
            vec![
                ReportState::Submitted,
                ReportState::Accepted,
                ReportState::Assigned,
                ReportState::InProgress
            ]
        );
    }
}
