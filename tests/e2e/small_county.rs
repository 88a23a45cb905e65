//! A small county with ten hand-made reports whose dashboard figures are known, shared by the
//! tests of the dashboard, exports, the export command, the JSON API and the admin pages.
//!
//! ```text
//! 晋原街道 / 长乐社区  #1 incident closed  hazard.fire        60 min, on time
//!                      #2 incident closed  hazard.gas        120 min, late
//!                      #3 request  resolved livelihood.elderly        on time   (resident 王小明 13812345678)
//!                      #4 request  submitted —              due 1 h ago (overdue)
//!                      #5 visit    submitted —              due tomorrow
//!                      #6 incident rejected security.theft
//!          / 另一社区  #7 incident closed  environment.noise  30 min, on time
//!                      #8 visit    in_progress —            due yesterday (overdue)
//! 安仁镇   / 安仁社区  #9 incident closed  hazard.fire       600 min, on time  (resident 赵六 13900001111)
//!                      #10 request accepted livelihood.medical filed in January, due later
//! ```
//! Members: 何刚华, 方秀海, 孟波玉 bound; 马东 left; 万丽 never bound.

use chrono::{DateTime, Duration, TimeZone, Utc};
use gridline_shared::areas;
use gridline_shared::domain::{MemberStatus, ReportKind, ReportState, StaffRole, Urgency};
use gridline_shared::entity::{area, member, report, staff_user};
use gridline_tests::TestDb;
use gridline_tests::panel::{
    ROSTER, bind_at, category_by_code, import_csv, make_staff, member_by_phone,
};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

pub use gridline_tests::panel::PASSWORD;

/// 2026-03-10 12:00 UTC: "now" for every figure.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0)
        .single()
        .unwrap()
}

pub fn march(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0)
        .single()
        .unwrap()
}

pub struct World {
    pub jinyuan: area::Model,
    pub changle: area::Model,
    pub lingyi: area::Model,
    pub anren: area::Model,
    pub county_admin: staff_user::Model,
    pub town_admin: staff_user::Model,
    pub secretary: staff_user::Model,
    pub viewer: staff_user::Model,
    pub anren_secretary: staff_user::Model,
    /// Report ids #1..#10 in the order of the table above.
    pub ids: Vec<i64>,
}

/// One report, written as it would stand after its lifecycle (all fields set directly).
pub struct Spec {
    pub by: &'static str,
    pub kind: ReportKind,
    pub state: ReportState,
    pub category: Option<&'static str>,
    pub created: DateTime<Utc>,
    pub close_after_min: Option<i64>,
    pub on_time: Option<bool>,
    pub due: Option<DateTime<Utc>>,
    pub resident: Option<(&'static str, &'static str)>,
}

pub async fn put(t: &TestDb, s: Spec) -> report::Model {
    let m = member_by_phone(&t.db, s.by).await;
    let origin = area::Entity::find_by_id(m.area_id)
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    let community_id = gridline_shared::domain::AreaPath::stored(origin.path.as_str())
        .id_at(gridline_shared::domain::AreaLevel::Community)
        .unwrap();
    let community = area::Entity::find_by_id(community_id)
        .one(t.db.conn())
        .await
        .unwrap()
        .unwrap();
    let category_id = match s.category {
        Some(code) => Some(category_by_code(&t.db, code).await.id),
        None => None,
    };
    let closed_at = s.close_after_min.map(|m| s.created + Duration::minutes(m));
    let resolved_at = match s.state {
        ReportState::Resolved | ReportState::Closed => {
            Some(closed_at.unwrap_or(s.created + Duration::minutes(10)))
        }
        _ => None,
    };
    report::ActiveModel {
        kind: Set(s.kind),
        state: Set(s.state),
        category_id: Set(category_id),
        urgency: Set(Urgency::Normal),
        description: Set(format!("{:?} {:?} 测试事项", s.kind, s.state)),
        reporter_member_id: Set(Some(m.id)),
        origin_area_id: Set(origin.id),
        origin_area_path: Set(origin.path.clone()),
        handling_area_id: Set(community.id),
        handling_area_path: Set(community.path.clone()),
        address: Set(Some("3栋2单元".into())),
        resident_name: Set(s.resident.map(|r| r.0.to_owned())),
        resident_phone: Set(s.resident.map(|r| r.1.to_owned())),
        escalation_level: Set(0),
        simulated: Set(false),
        created_at: Set(s.created),
        updated_at: Set(s.created),
        submitted_at: Set(Some(s.created)),
        resolved_at: Set(resolved_at),
        closed_at: Set(closed_at),
        clock_started_at: Set(s.due.map(|_| s.created)),
        warn_at: Set(s.due),
        due_at: Set(s.due),
        resolved_on_time: Set(s.on_time),
        ..Default::default()
    }
    .insert(t.db.conn())
    .await
    .unwrap()
}

pub async fn setup(t: &TestDb) -> World {
    let conn = t.db.conn();
    let summary = import_csv(&t.db, ROSTER).await;
    assert_eq!(summary.members_new, 5);
    for (phone, chat) in [
        ("19900000563", 5001),
        ("19900000767", 5002),
        ("19900001562", 5003),
    ] {
        bind_at(&t.db, phone, chat, march(1, 8)).await;
    }
    let mut left: member::ActiveModel = member_by_phone(&t.db, "19900001234").await.into();
    left.status = Set(MemberStatus::Left);
    left.update(conn).await.unwrap();

    let root = areas::find_root(conn).await.unwrap().unwrap();
    let jinyuan = areas::resolve_names(conn, "晋原街道").await.unwrap();
    let changle = areas::resolve_names(conn, "晋原街道/长乐社区")
        .await
        .unwrap();
    let lingyi = areas::resolve_names(conn, "晋原街道/另一社区")
        .await
        .unwrap();
    let anren = areas::resolve_names(conn, "安仁镇").await.unwrap();
    let anren_community = areas::resolve_names(conn, "安仁镇/安仁社区").await.unwrap();

    let county_admin = make_staff(&t.db, "county", StaffRole::CountyAdmin, &root).await;
    let town_admin = make_staff(&t.db, "jinyuan", StaffRole::TownAdmin, &jinyuan).await;
    let secretary = make_staff(&t.db, "changle", StaffRole::Secretary, &changle).await;
    let viewer = make_staff(&t.db, "viewer", StaffRole::Viewer, &root).await;
    let anren_secretary = make_staff(&t.db, "anren", StaffRole::Secretary, &anren_community).await;

    use ReportKind::*;
    use ReportState::*;
    let n = now();
    let specs = vec![
        Spec {
            by: "19900000563",
            kind: Incident,
            state: Closed,
            category: Some("hazard.fire"),
            created: march(2, 2),
            close_after_min: Some(60),
            on_time: Some(true),
            due: None,
            resident: None,
        },
        Spec {
            by: "19900000563",
            kind: Incident,
            state: Closed,
            category: Some("hazard.gas"),
            created: march(2, 3),
            close_after_min: Some(120),
            on_time: Some(false),
            due: None,
            resident: None,
        },
        Spec {
            by: "19900000767",
            kind: Request,
            state: Resolved,
            category: Some("livelihood.elderly"),
            created: march(3, 2),
            close_after_min: None,
            on_time: Some(true),
            due: None,
            resident: Some(("王小明", "13812345678")),
        },
        Spec {
            by: "19900000767",
            kind: Request,
            state: Submitted,
            category: None,
            created: march(9, 2),
            close_after_min: None,
            on_time: None,
            due: Some(n - Duration::hours(1)),
            resident: None,
        },
        Spec {
            by: "19900000563",
            kind: Visit,
            state: Submitted,
            category: None,
            created: march(10, 1),
            close_after_min: None,
            on_time: None,
            due: Some(n + Duration::days(1)),
            resident: None,
        },
        Spec {
            by: "19900000563",
            kind: Incident,
            state: Rejected,
            category: Some("security.theft"),
            created: march(4, 2),
            close_after_min: None,
            on_time: None,
            due: None,
            resident: None,
        },
        Spec {
            by: "19900001562",
            kind: Incident,
            state: Closed,
            category: Some("environment.noise"),
            created: march(5, 2),
            close_after_min: Some(30),
            on_time: Some(true),
            due: None,
            resident: None,
        },
        Spec {
            by: "19900001562",
            kind: Visit,
            state: InProgress,
            category: None,
            created: march(6, 2),
            close_after_min: None,
            on_time: None,
            due: Some(n - Duration::days(1)),
            resident: None,
        },
        Spec {
            by: "19900002266",
            kind: Incident,
            state: Closed,
            category: Some("hazard.fire"),
            created: march(7, 2),
            close_after_min: Some(600),
            on_time: Some(true),
            due: None,
            resident: Some(("赵六", "13900001111")),
        },
        Spec {
            by: "19900002266",
            kind: Request,
            state: Accepted,
            category: Some("livelihood.medical"),
            created: Utc.with_ymd_and_hms(2026, 1, 15, 2, 0, 0).single().unwrap(),
            close_after_min: None,
            on_time: None,
            due: Some(n + Duration::days(2)),
            resident: None,
        },
    ];
    let mut ids = Vec::new();
    for s in specs {
        ids.push(put(t, s).await.id);
    }
    World {
        jinyuan,
        changle,
        lingyi,
        anren,
        county_admin,
        town_admin,
        secretary,
        viewer,
        anren_secretary,
        ids,
    }
}
