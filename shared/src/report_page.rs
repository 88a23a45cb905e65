//! The report page: everything staff see about one report (its fields, names, timeline,
//! files), the actions they may take on it now, and who it can be assigned to. Only built for
//! staff whose scope holds the report.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::areas;
use crate::areas::{area_names, display_or_county};
use crate::calendar::Light;
use crate::domain::AreaPath;
use crate::entity::{category, report};
use crate::error::{CoreError, CoreResult};
use crate::inbox::light_of;
use crate::lifecycle::{self, Action, Actor, StaffActor};
use crate::scope::Scope;

/// The actions the panel offers, by code, in display order.
pub const PANEL_ACTIONS: &[&str] = &[
    "accept",
    "assign",
    "return",
    "reject",
    "duplicate",
    "reply",
    "comment",
    "resolve",
    "verify_fail",
    "close",
    "reopen",
    "escalate",
];

/// A stand-in action of each code, for asking [`lifecycle::decide`] what may be offered.
fn sample_action(code: &str) -> Option<Action> {
    use crate::domain::ReturnReason;
    let note = || "-".to_owned();
    Some(match code {
        "accept" => Action::Accept,
        "assign" => Action::Assign(lifecycle::Assignee::Staff(0)),
        "return" => Action::Return {
            reason: ReturnReason::Incomplete,
            note: None,
        },
        "reject" => Action::Reject { note: note() },
        "duplicate" => Action::MarkDuplicate { of: 0 },
        "reply" => Action::Reply { note: note() },
        "comment" => Action::Comment { note: note() },
        "resolve" => Action::Resolve { note: None },
        "verify_fail" => Action::VerifyFail { note: note() },
        "close" => Action::Close { note: None },
        "reopen" => Action::Reopen { note: note() },
        "escalate" => Action::Escalate { note: None },
        _ => return None,
    })
}

/// A file attached to a report, without its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct AttachmentMeta {
    pub id: i64,
    pub kind: String,
    pub mime: Option<String>,
    pub file_name: Option<String>,
    pub size: Option<i64>,
}

/// One timeline line with the actor's name.
#[derive(Clone, Debug, PartialEq)]
pub struct EventView {
    pub event: crate::entity::report_event::Model,
    /// Staff display name or member name; empty for the system.
    pub actor: String,
}

/// Everything the report page shows. Only built for staff who may see the report.
#[derive(Clone, Debug)]
pub struct ReportDetail {
    pub report: report::Model,
    pub light: Option<Light>,
    pub origin: String,
    pub handling: String,
    pub category: Option<category::Model>,
    pub parent_category: Option<category::Model>,
    pub reporter: Option<crate::entity::member::Model>,
    pub assignee: Option<String>,
    pub events: Vec<EventView>,
    pub attachments: Vec<AttachmentMeta>,
    /// Codes from [`PANEL_ACTIONS`] this staff user may do now.
    pub actions: Vec<&'static str>,
}

/// The report page of `id` for `staff`, or `NotFound` outside their scope.
pub async fn detail(
    conn: &impl ConnectionTrait,
    staff: &StaffActor,
    id: i64,
    now: DateTime<Utc>,
) -> CoreResult<ReportDetail> {
    use crate::entity::{attachment, member, report_event, staff_user};
    let report = crate::reports::find_in_scope(conn, &staff.scope, id).await?;
    let names = area_names(
        conn,
        [
            report.origin_area_path.as_str(),
            report.handling_area_path.as_str(),
        ],
    )
    .await?;
    let can_escalate = names
        .get(&report.handling_area_id)
        .is_some_and(|a| a.parent_id.is_some());
    let facts = lifecycle::Facts::of(&report, can_escalate);
    let actor = Actor::Staff(staff.clone());
    let actions = PANEL_ACTIONS
        .iter()
        .copied()
        .filter(|code| {
            sample_action(code).is_some_and(|a| lifecycle::decide(&facts, &actor, &a, now).is_ok())
        })
        .collect();

    let category = match report.category_id {
        Some(c) => category::Entity::find_by_id(c).one(conn).await?,
        None => None,
    };
    let parent_category = match category.as_ref().and_then(|c| c.parent_id) {
        Some(p) => category::Entity::find_by_id(p).one(conn).await?,
        None => None,
    };
    let reporter = match report.reporter_member_id {
        Some(m) => member::Entity::find_by_id(m).one(conn).await?,
        None => None,
    };
    let assignee = match (report.assignee_member_id, report.assignee_staff_id) {
        (Some(m), _) => member::Entity::find_by_id(m)
            .one(conn)
            .await?
            .map(|m| m.name),
        (None, Some(s)) => staff_user::Entity::find_by_id(s)
            .one(conn)
            .await?
            .map(|s| s.display_name),
        _ => None,
    };

    let raw_events = report_event::Entity::find()
        .filter(report_event::Column::ReportId.eq(report.id))
        .order_by_asc(report_event::Column::Id)
        .all(conn)
        .await?;
    let staff_ids: HashSet<i64> = raw_events.iter().filter_map(|e| e.actor_staff_id).collect();
    let member_ids: HashSet<i64> = raw_events
        .iter()
        .filter_map(|e| e.actor_member_id)
        .collect();
    let staff_names: HashMap<i64, String> = if staff_ids.is_empty() {
        HashMap::new()
    } else {
        staff_user::Entity::find()
            .filter(staff_user::Column::Id.is_in(staff_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|s| (s.id, s.display_name))
            .collect()
    };
    let member_names: HashMap<i64, String> = if member_ids.is_empty() {
        HashMap::new()
    } else {
        member::Entity::find()
            .filter(member::Column::Id.is_in(member_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|m| (m.id, m.name))
            .collect()
    };
    let events = raw_events
        .into_iter()
        .map(|e| {
            let actor = e
                .actor_staff_id
                .and_then(|id| staff_names.get(&id).cloned())
                .or_else(|| {
                    e.actor_member_id
                        .and_then(|id| member_names.get(&id).cloned())
                })
                .unwrap_or_default();
            EventView { event: e, actor }
        })
        .collect();

    let attachments = attachment::Entity::find()
        .select_only()
        .columns([
            attachment::Column::Id,
            attachment::Column::Kind,
            attachment::Column::Mime,
            attachment::Column::FileName,
            attachment::Column::Size,
        ])
        .filter(attachment::Column::ReportId.eq(report.id))
        .filter(attachment::Column::Data.is_not_null())
        .order_by_asc(attachment::Column::Id)
        .into_tuple::<(i64, String, Option<String>, Option<String>, Option<i64>)>()
        .all(conn)
        .await?
        .into_iter()
        .map(|(id, kind, mime, file_name, size)| AttachmentMeta {
            id,
            kind,
            mime,
            file_name,
            size,
        })
        .collect();

    Ok(ReportDetail {
        light: light_of(&report, now),
        origin: areas::display_path(&report.origin_area_path, &names),
        handling: display_or_county(&report.handling_area_path, &names),
        report,
        category,
        parent_category,
        reporter,
        assignee,
        events,
        attachments,
        actions,
    })
}

/// A stored file of a report the scope may see (`NotFound` otherwise, or when it has no bytes).
pub async fn attachment_in_scope(
    conn: &impl ConnectionTrait,
    scope: &Scope,
    report_id: i64,
    attachment_id: i64,
) -> CoreResult<crate::entity::attachment::Model> {
    use crate::entity::attachment;
    let report = crate::reports::find_in_scope(conn, scope, report_id).await?;
    attachment::Entity::find_by_id(attachment_id)
        .filter(attachment::Column::ReportId.eq(report.id))
        .one(conn)
        .await?
        .filter(|a| a.data.is_some())
        .ok_or(CoreError::NotFound)
}

/// Who a report can be assigned to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssigneeChoices {
    /// (staff id, display name)
    pub staff: Vec<(i64, String)>,
    /// (member id, name, area path as names) — grid leaders in the area.
    pub members: Vec<(i64, String, String)>,
}

/// Most grid leaders offered in one list.
pub const MAX_MEMBER_CHOICES: u64 = 500;

/// Staff who may act on reports handled at `handling_path` (their scope contains it), and the
/// active grid leaders inside it.
pub async fn assignee_choices(
    conn: &impl ConnectionTrait,
    handling_path: &str,
) -> CoreResult<AssigneeChoices> {
    use crate::domain::{MemberStatus, StaffRole};
    use crate::entity::{member, staff_user};
    // Every ancestor-or-self path of the handling area: `/1/`, `/1/5/`, `/1/5/23/`.
    let prefixes: Vec<String> = AreaPath::stored(handling_path)
        .ancestors()
        .into_iter()
        .map(AreaPath::into_string)
        .collect();
    let staff = staff_user::Entity::find()
        .filter(staff_user::Column::AreaPath.is_in(prefixes))
        .filter(staff_user::Column::Active.eq(true))
        .filter(staff_user::Column::Role.ne(StaffRole::Viewer))
        .order_by_desc(staff_user::Column::AreaPath)
        .order_by_asc(staff_user::Column::Username)
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.id, s.display_name))
        .collect();
    let scope = Scope::from_parts(0, handling_path.to_owned());
    let members = member::Entity::find()
        .filter(scope.condition(member::Column::AreaPath))
        .filter(member::Column::Status.ne(MemberStatus::Left))
        .order_by_asc(member::Column::AreaPath)
        .order_by_asc(member::Column::Id)
        .limit(MAX_MEMBER_CHOICES)
        .all(conn)
        .await?;
    let names = area_names(conn, members.iter().map(|m| m.area_path.as_str())).await?;
    let members = members
        .into_iter()
        .map(|m| {
            let area = areas::display_path(&m.area_path, &names);
            (m.id, m.name, area)
        })
        .collect();
    Ok(AssigneeChoices { staff, members })
}
