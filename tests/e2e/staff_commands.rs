//! The staff commands of the admin pages, called in the core as the panel calls them: each
//! checks the actor's role and scope itself, makes its change and writes exactly one audit line
//! (typed action and target) in the same transaction; a refusal is a typed [`Problem`] and
//! changes nothing (not even the log, except where the refusal itself is audited).

use chrono::{NaiveDate, Utc};
use gridline_shared::audit::{AuditAction, AuditTarget};
use gridline_shared::calendar::DayKind;
use gridline_shared::categories::{self, LimitField, LimitTexts};
use gridline_shared::domain::{MemberStatus, StaffRole};
use gridline_shared::entity::{audit_entry, holiday};
use gridline_shared::export::{self, ExportFormat};
use gridline_shared::inbox::InboxFilter;
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::{CoreError, Problem, areas, holidays, members, staff};
use gridline_tests::panel::{category_by_code, member_by_phone};
use gridline_tests::{TestDb, db_test};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};

use crate::small_county as world;

async fn audit_lines(t: &TestDb) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .order_by_asc(audit_entry::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
}

/// The one line a command wrote since `before` lines, as (action, target).
async fn one_new_line(t: &TestDb, before: usize) -> (AuditAction, Option<AuditTarget>) {
    let lines = audit_lines(t).await;
    assert_eq!(lines.len(), before + 1, "exactly one audit line: {lines:?}");
    let line = lines.last().unwrap();
    (
        AuditAction::parse(&line.action).unwrap(),
        line.target.as_deref().map(|t| t.parse().unwrap()),
    )
}

fn refused_with(result: Result<impl std::fmt::Debug, CoreError>, expected: &Problem) {
    match result {
        Err(e) => assert_eq!(e.problem(), Some(expected), "{e:?}"),
        Ok(v) => panic!("not refused: {v:?}"),
    }
}

db_test!(
    admin_commands_check_role_scope_and_audit,
    |t: TestDb| async move {
        let w = world::setup(&t).await;
        let county = StaffActor::of(&w.county_admin);
        let town = StaffActor::of(&w.town_admin);
        let secretary = StaffActor::of(&w.secretary);
        let ip = Some("10.0.0.7");

        // Areas: a secretary may not; outside the town is not found; a duplicate name clashes.
        let before = audit_lines(&t).await.len();
        refused_with(
            areas::add(&t.db, &secretary, w.changle.id, "第9网格", ip).await,
            &Problem::AdminOnly,
        );
        assert!(matches!(
            areas::add(&t.db, &town, w.anren.id, "新社区", ip).await,
            Err(CoreError::NotFound)
        ));
        refused_with(
            areas::add(&t.db, &town, w.changle.id, "a/b", ip).await,
            &Problem::AreaNameInvalid { max: 60 },
        );
        assert_eq!(
            audit_lines(&t).await.len(),
            before,
            "refusals write nothing"
        );
        let grid = areas::add(&t.db, &town, w.changle.id, "第9网格", ip)
            .await
            .unwrap();
        assert_eq!(
            one_new_line(&t, before).await,
            (AuditAction::AreaAdd, Some(AuditTarget::Area(grid.id)))
        );
        let line = audit_lines(&t).await.pop().unwrap();
        assert_eq!(line.ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(line.staff_id, Some(w.town_admin.id));
        refused_with(
            areas::add(&t.db, &town, w.changle.id, "第9网格", ip).await,
            &Problem::AreaNameTaken,
        );
        refused_with(
            areas::rename(&t.db, &town, w.jinyuan.id, "新街道", ip).await,
            &Problem::OwnAreaRename,
        );

        // Categories and holidays are county-wide.
        let fire = category_by_code(&t.db, "hazard.fire").await;
        let limits = LimitTexts::from_fn(|f| match f {
            LimitField::AcceptUrgent => "45m".into(),
            LimitField::HandleNormal => "3x".into(),
            _ => String::new(),
        });
        refused_with(
            categories::set_limits(&t.db, &town, fire.id, &limits, ip).await,
            &Problem::CountyAdminOnly,
        );
        let before = audit_lines(&t).await.len();
        refused_with(
            categories::set_limits(&t.db, &county, fire.id, &limits, ip).await,
            &Problem::TimeLimitInvalid {
                field: LimitField::HandleNormal,
                text: "3x".into(),
            },
        );
        assert_eq!(
            category_by_code(&t.db, "hazard.fire").await.accept_urgent,
            None,
            "nothing saved when one limit is wrong"
        );
        let limits = LimitTexts::from_fn(|f| {
            if f == LimitField::AcceptUrgent {
                " 45M ".into()
            } else {
                String::new()
            }
        });
        let saved = categories::set_limits(&t.db, &county, fire.id, &limits, ip)
            .await
            .unwrap();
        assert_eq!(saved.limit_text(LimitField::AcceptUrgent), Some("45m"));
        assert_eq!(
            one_new_line(&t, before).await,
            (
                AuditAction::CategoryLimits,
                Some(AuditTarget::Category("hazard.fire".into()))
            )
        );

        let day = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        refused_with(
            holidays::set(&t.db, &town, day, DayKind::Holiday, "国庆", ip).await,
            &Problem::CountyAdminOnly,
        );
        refused_with(
            holidays::set(&t.db, &county, day, DayKind::Holiday, &"节".repeat(41), ip).await,
            &Problem::HolidayNameTooLong { max: 40 },
        );
        assert_eq!(holiday::Entity::find().count(t.db.conn()).await.unwrap(), 0);
        let before = audit_lines(&t).await.len();
        holidays::set(&t.db, &county, day, DayKind::Holiday, "国庆", ip)
            .await
            .unwrap();
        assert_eq!(
            one_new_line(&t, before).await,
            (AuditAction::HolidaySet, Some(AuditTarget::Day(day)))
        );

        // Users: a town admin may not make a county admin; a taken name clashes.
        refused_with(
            staff::add_user(
                &t.db,
                &town,
                "boss",
                "a long enough password",
                StaffRole::CountyAdmin,
                w.jinyuan.id,
                ip,
            )
            .await,
            &Problem::MayNotManageUser,
        );
        refused_with(
            staff::add_user(
                &t.db,
                &town,
                "changle",
                "a long enough password",
                StaffRole::Viewer,
                w.lingyi.id,
                ip,
            )
            .await,
            &Problem::UsernameTaken {
                username: "changle".into(),
            },
        );
        let before = audit_lines(&t).await.len();
        let (u, password) = staff::reset_user_password(&t.db, &town, w.secretary.id, ip)
            .await
            .unwrap();
        assert!(u.must_change_password && password.len() >= staff::MIN_PASSWORD_CHARS);
        assert!(staff::verify_password(&password, &u.password_hash).await);
        assert_eq!(
            one_new_line(&t, before).await,
            (
                AuditAction::UserResetPassword,
                Some(AuditTarget::User("changle".into()))
            )
        );
        refused_with(
            staff::set_user_active(&t.db, &town, w.town_admin.id, false, ip).await,
            &Problem::MayNotManageUser,
        );

        // The roster: deactivating a member is for admins, inside their scope.
        let member = member_by_phone(&t.db, "19900000767").await;
        refused_with(
            members::deactivate(&t.db, &secretary, member.id, ip, Utc::now()).await,
            &Problem::AdminOnly,
        );
        let before = audit_lines(&t).await.len();
        let left = members::deactivate(&t.db, &town, member.id, ip, Utc::now())
            .await
            .unwrap();
        assert_eq!(left.status, MemberStatus::Left);
        assert_eq!(
            one_new_line(&t, before).await,
            (
                AuditAction::MemberDeactivate,
                Some(AuditTarget::Member(member.id))
            )
        );
    }
);

db_test!(a_refused_export_is_audited_too, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let viewer = StaffActor::of(&w.viewer);
    let filter = InboxFilter::default();
    let before = audit_lines(&t).await.len();
    refused_with(
        export::staff_export(
            &t.db,
            &viewer,
            &filter,
            true,
            ExportFormat::Csv,
            "zh-CN",
            None,
            Utc::now(),
        )
        .await,
        &Problem::MayNotUnmask,
    );
    let lines = audit_lines(&t).await;
    assert_eq!(lines.len(), before + 1);
    assert_eq!(lines[before].action, AuditAction::ExportRefused.code());
    let csv = export::staff_export(
        &t.db,
        &viewer,
        &filter,
        false,
        ExportFormat::Csv,
        "zh-CN",
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&csv).contains("编号"));
    let lines = audit_lines(&t).await;
    assert_eq!(lines.len(), before + 2);
    assert_eq!(lines[before + 1].action, AuditAction::ExportReports.code());
    assert!(
        lines[before + 1]
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("csv, ") && d.contains("masked")),
        "{:?}",
        lines[before + 1].detail
    );
});
