//! The audit log: every staff action (logins, report actions, admin changes) lands here with
//! who, what, when and from where. Never put personal data (residents' names or phones) in
//! `target` or `detail`.

use std::fmt;
use std::str::FromStr;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::db::Db;
use crate::domain::StaffRole;
use crate::entity::{audit_entry, staff_user};
use crate::error::CoreResult;
use crate::holidays::{county_day_end, county_day_start};
use crate::lifecycle::StaffActor;
use crate::scope::Scope;

/// What an audit line records, by the code stored in `action`. Lines about a report action are
/// not here: they are `report.<action>` and `report.<action>.refused` (see [`report_action`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum AuditAction {
    #[strum(serialize = "login.success")]
    LoginSuccess,
    #[strum(serialize = "login.failure")]
    LoginFailure,
    #[strum(serialize = "login.throttled")]
    LoginThrottled,
    Logout,
    #[strum(serialize = "area.add")]
    AreaAdd,
    #[strum(serialize = "area.rename")]
    AreaRename,
    #[strum(serialize = "category.limits")]
    CategoryLimits,
    #[strum(serialize = "holiday.set")]
    HolidaySet,
    #[strum(serialize = "holiday.remove")]
    HolidayRemove,
    #[strum(serialize = "user.create")]
    UserCreate,
    #[strum(serialize = "user.activate")]
    UserActivate,
    #[strum(serialize = "user.deactivate")]
    UserDeactivate,
    #[strum(serialize = "user.reset_password")]
    UserResetPassword,
    #[strum(serialize = "member.deactivate")]
    MemberDeactivate,
    #[strum(serialize = "roster.import")]
    RosterImport,
    #[strum(serialize = "roster.import.failed")]
    RosterImportFailed,
    #[strum(serialize = "roster.bind_sheet")]
    RosterBindSheet,
    #[strum(serialize = "api_token.create")]
    ApiTokenCreate,
    #[strum(serialize = "api_token.revoke")]
    ApiTokenRevoke,
    #[strum(serialize = "export.reports")]
    ExportReports,
    #[strum(serialize = "export.refused")]
    ExportRefused,
    #[strum(serialize = "notice.create")]
    NoticeCreate,
    #[strum(serialize = "notice.send")]
    NoticeSend,
    #[strum(serialize = "notice.pause")]
    NoticePause,
    #[strum(serialize = "notice.resume")]
    NoticeResume,
    #[strum(serialize = "notice.cancel")]
    NoticeCancel,
    #[strum(serialize = "notice.batch_time")]
    NoticeBatchTime,
    #[strum(serialize = "notice.reminder_time")]
    NoticeReminderTime,
    #[strum(serialize = "notice.remind")]
    NoticeRemind,
    #[strum(serialize = "notice.resend_uncertain")]
    NoticeResendUncertain,
    #[strum(serialize = "notice.export")]
    NoticeExport,
    #[strum(serialize = "simulator.input")]
    SimulatorInput,
    #[strum(serialize = "settings.change")]
    SettingsChange,
    #[strum(serialize = "user.change_password")]
    UserChangePassword,
    /// A member's bind code replaced by a fresh one (the old one no longer binds).
    #[strum(serialize = "member.bind_code")]
    MemberBindCode,
    /// A member's messenger account unbound (a lost phone): they bind again with a new code.
    #[strum(serialize = "member.unbind")]
    MemberUnbind,
}

impl AuditAction {
    /// The code stored in the log.
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// The action of a stored code (`None`: a report action, or a code this version does not
    /// know).
    pub fn parse(code: &str) -> Option<AuditAction> {
        use strum::IntoEnumIterator;
        AuditAction::iter().find(|a| a.code() == code)
    }
}

/// A report action's audit code (`report.accept`, `report.accept.refused`) read back: the
/// action's code (see [`crate::lifecycle::Action::code`]) and whether it was refused.
pub fn report_action(code: &str) -> Option<(&str, bool)> {
    let rest = code.strip_prefix("report.")?;
    Some(match rest.strip_suffix(".refused") {
        Some(action) => (action, true),
        None => (rest, false),
    })
}

/// What an audit line is about, stored in `target` as `<kind>:<id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditTarget {
    Report(i64),
    Notice(i64),
    Area(i64),
    Member(i64),
    ApiToken(i64),
    /// A staff user, by username (also for failed logins of unknown names).
    User(String),
    /// A category, by code.
    Category(String),
    /// A day of the holiday table.
    Day(NaiveDate),
    /// A county setting, by key.
    Setting(String),
}

impl AuditTarget {
    /// The kind's code (`report`, `notice`, …), as stored before the colon.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditTarget::Report(_) => "report",
            AuditTarget::Notice(_) => "notice",
            AuditTarget::Area(_) => "area",
            AuditTarget::Member(_) => "member",
            AuditTarget::ApiToken(_) => "api_token",
            AuditTarget::User(_) => "user",
            AuditTarget::Category(_) => "category",
            AuditTarget::Day(_) => "day",
            AuditTarget::Setting(_) => "setting",
        }
    }

    /// What follows the colon.
    pub fn id(&self) -> String {
        match self {
            AuditTarget::Report(id)
            | AuditTarget::Notice(id)
            | AuditTarget::Area(id)
            | AuditTarget::Member(id)
            | AuditTarget::ApiToken(id) => id.to_string(),
            AuditTarget::User(name) | AuditTarget::Category(name) | AuditTarget::Setting(name) => {
                name.clone()
            }
            AuditTarget::Day(day) => day.to_string(),
        }
    }
}

impl fmt::Display for AuditTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

impl FromStr for AuditTarget {
    type Err = ();
    fn from_str(s: &str) -> Result<AuditTarget, ()> {
        let (kind, id) = s.split_once(':').ok_or(())?;
        let number = || id.parse::<i64>().map_err(|_| ());
        Ok(match kind {
            "report" => AuditTarget::Report(number()?),
            "notice" => AuditTarget::Notice(number()?),
            "area" => AuditTarget::Area(number()?),
            "member" => AuditTarget::Member(number()?),
            "api_token" => AuditTarget::ApiToken(number()?),
            "user" => AuditTarget::User(id.to_owned()),
            "category" => AuditTarget::Category(id.to_owned()),
            "day" => AuditTarget::Day(id.parse().map_err(|_| ())?),
            "setting" => AuditTarget::Setting(id.to_owned()),
            _ => return Err(()),
        })
    }
}

/// Longest `detail` kept (longer text is cut).
pub const MAX_DETAIL_CHARS: usize = 500;

/// Writes one audit line now. `staff_id` is `None` for unknown users (failed logins) and the
/// system. Run it inside the transaction of the change it records when there is one.
pub async fn record(
    conn: &impl ConnectionTrait,
    staff_id: Option<i64>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
    ip: Option<&str>,
) -> CoreResult<audit_entry::Model> {
    record_at(conn, staff_id, action, target, detail, ip, Utc::now()).await
}

/// [`record`] at a given time (tests, the scheduler).
pub async fn record_at(
    conn: &impl ConnectionTrait,
    staff_id: Option<i64>,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
    ip: Option<&str>,
    at: DateTime<Utc>,
) -> CoreResult<audit_entry::Model> {
    let area_path = match staff_id {
        Some(id) => staff_user::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|s| s.area_path),
        None => None,
    };
    let detail = detail.map(|d| d.chars().take(MAX_DETAIL_CHARS).collect::<String>());
    Ok(audit_entry::ActiveModel {
        at: Set(at),
        staff_id: Set(staff_id),
        area_path: Set(area_path),
        action: Set(action.to_owned()),
        target: Set(target.map(str::to_owned)),
        detail: Set(detail),
        ip: Set(ip.map(str::to_owned)),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// [`record`] of a typed action and target: how the core's staff commands write their line,
/// inside the transaction of the change.
pub async fn log(
    conn: &impl ConnectionTrait,
    staff_id: Option<i64>,
    action: AuditAction,
    target: Option<AuditTarget>,
    detail: Option<&str>,
    ip: Option<&str>,
) -> CoreResult<()> {
    let target = target.map(|t| t.to_string());
    record(conn, staff_id, action.code(), target.as_deref(), detail, ip).await?;
    Ok(())
}

/// [`log`] in a transaction of its own: the line of something that changes nothing else (an
/// export, a bind sheet, a refused login).
pub async fn log_alone(
    db: &Db,
    staff_id: Option<i64>,
    action: AuditAction,
    target: Option<AuditTarget>,
    detail: Option<&str>,
    ip: Option<&str>,
) -> CoreResult<()> {
    let txn = db.write().await?;
    log(&*txn, staff_id, action, target, detail, ip).await?;
    txn.commit().await?;
    Ok(())
}

/// Which audit lines a staff user may read: those of actors inside `scope`, and at the county
/// root also those without an actor (failed logins of unknown usernames, the system).
pub fn visible_in(scope: &Scope, is_root: bool) -> Condition {
    let cond = Condition::any().add(scope.condition(audit_entry::Column::AreaPath));
    if is_root {
        cond.add(audit_entry::Column::AreaPath.is_null())
    } else {
        cond
    }
}

/// A search of the audit log. Days are county-local and inclusive.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub staff_id: Option<i64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Lines older than this one (the next page).
    pub before_id: Option<i64>,
}

/// Audit lines an admin may read, newest first, with the usernames of their actors: those of
/// actors inside the admin's scope, and for the county admin also those of nobody (failed
/// logins of unknown names, the system). Only county and town admins read the log.
pub async fn search(
    conn: &impl ConnectionTrait,
    actor: &StaffActor,
    q: &AuditQuery,
    limit: u64,
) -> CoreResult<(Vec<audit_entry::Model>, HashMap<i64, String>)> {
    crate::staff::require_admin(actor)?;
    let is_root = actor.role == StaffRole::CountyAdmin
        && crate::areas::find_root(conn)
            .await?
            .is_some_and(|r| r.id == actor.scope.area_id());
    let mut query = audit_entry::Entity::find().filter(visible_in(&actor.scope, is_root));
    if let Some(id) = q.staff_id {
        query = query.filter(audit_entry::Column::StaffId.eq(id));
    }
    if let Some(from) = q.from {
        query = query.filter(audit_entry::Column::At.gte(county_day_start(from)?));
    }
    if let Some(to) = q.to {
        query = query.filter(audit_entry::Column::At.lt(county_day_end(to)?));
    }
    if let Some(before) = q.before_id {
        query = query.filter(audit_entry::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(audit_entry::Column::Id)
        .limit(limit.clamp(1, 500))
        .all(conn)
        .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.staff_id).collect();
    let names = if ids.is_empty() {
        HashMap::new()
    } else {
        staff_user::Entity::find()
            .filter(staff_user::Column::Id.is_in(ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect()
    };
    Ok((rows, names))
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn codes_round_trip() {
        for a in AuditAction::iter() {
            assert_eq!(AuditAction::parse(a.code()), Some(a));
            assert!(report_action(a.code()).is_none(), "{}", a.code());
        }
        assert_eq!(AuditAction::Logout.code(), "logout");
        assert_eq!(AuditAction::parse("report.accept"), None);
        assert_eq!(report_action("report.accept"), Some(("accept", false)));
        assert_eq!(
            report_action("report.verify_fail.refused"),
            Some(("verify_fail", true))
        );
        for t in [
            AuditTarget::Report(12),
            AuditTarget::User("张三".into()),
            AuditTarget::Category("hazard.fire".into()),
            AuditTarget::Day(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap_or_default()),
        ] {
            assert_eq!(t.to_string().parse::<AuditTarget>(), Ok(t));
        }
        assert_eq!("notice:12".parse(), Ok(AuditTarget::Notice(12)));
        assert!("notice:x".parse::<AuditTarget>().is_err());
        assert!("what:1".parse::<AuditTarget>().is_err());
    }
}
