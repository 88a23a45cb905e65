//! The escalation scheduler, step by step: red reports move up one level per missed deadline,
//! once, with a fresh clock for the new owner, and stop at the county — when the county turned
//! automatic escalation on (off by default: overdue work is supervised, not moved).

use chrono::{Duration, Utc};
use gridline_shared::county_settings::{self, Setting, Value};
use gridline_shared::domain::{ReportKind, ReportState};
use gridline_shared::entity::{report, report_event};
use gridline_shared::lifecycle::{self, Action, Actor, StaffActor};
use gridline_tests::panel::{file_report, panel_world, reload, spawn_app};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

async fn make_overdue(t: &TestDb, id: i64) {
    let r = reload(&t.db, id).await;
    let mut a: report::ActiveModel = r.into();
    a.clock_started_at = Set(Some(Utc::now() - Duration::hours(5)));
    a.warn_at = Set(Some(Utc::now() - Duration::hours(2)));
    a.due_at = Set(Some(Utc::now() - Duration::minutes(1)));
    a.update(t.db.conn()).await.unwrap();
}

db_test!(
    overdue_reports_escalate_once_per_deadline_up_to_the_county,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let late = file_report(
            &t.db,
            &w.reporter,
            ReportKind::Incident,
            "超期未受理",
            |_| {},
        )
        .await;
        let fine = file_report(&t.db, &w.reporter, ReportKind::Incident, "未超期", |_| {}).await;
        let done = file_report(&t.db, &w.reporter, ReportKind::Incident, "已退回", |_| {}).await;
        lifecycle::transition(
            &t.db,
            &Actor::Staff(StaffActor::of(&w.secretary)),
            done.id,
            Action::Return {
                reason: gridline_shared::domain::ReturnReason::Incomplete,
                note: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
        make_overdue(&t, late.id).await;

        let now = Utc::now();
        assert_eq!(lifecycle::escalate_overdue(&t.db, now).await.unwrap(), 1);
        let r = reload(&t.db, late.id).await;
        assert_eq!(r.handling_area_id, w.town.id);
        assert_eq!(r.escalation_level, 1);
        assert_eq!(r.state, ReportState::Submitted);
        assert!(r.due_at.unwrap() > now, "the new owner gets a fresh clock");
        // Same deadline: not again.
        assert_eq!(lifecycle::escalate_overdue(&t.db, now).await.unwrap(), 0);
        assert_eq!(reload(&t.db, fine.id).await.handling_area_id, w.changle.id);
        let ev = report_event::Entity::find()
            .filter(report_event::Column::ReportId.eq(late.id))
            .filter(report_event::Column::Action.eq("escalate"))
            .all(t.db.conn())
            .await
            .unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].actor_kind, "system");
        assert!(!ev[0].public);

        // The town misses its deadline too. Automatic escalation is off by default: the
        // scheduler leaves it where it is.
        make_overdue(&t, late.id).await;
        let tick = gridline_admin::scheduler::tick(&t.db, Utc::now())
            .await
            .unwrap();
        assert_eq!(tick.escalated, 0);
        assert_eq!(reload(&t.db, late.id).await.handling_area_id, w.town.id);
        // Once the county turns it on: up to the county, and no further.
        let on = [(Setting::AutoEscalation, Value::Switch(true))];
        let county = StaffActor::of(&w.county);
        county_settings::update(&t.db, &county, &on, None, Utc::now())
            .await
            .unwrap();
        let tick = gridline_admin::scheduler::tick(&t.db, Utc::now())
            .await
            .unwrap();
        assert_eq!(tick.escalated, 1);
        assert_eq!(reload(&t.db, late.id).await.handling_area_id, w.root.id);
        make_overdue(&t, late.id).await;
        assert_eq!(
            lifecycle::escalate_overdue(&t.db, Utc::now())
                .await
                .unwrap(),
            0
        );
        let r = reload(&t.db, late.id).await;
        assert_eq!(r.handling_area_id, w.root.id);
        assert_eq!(r.escalation_level, 2);
        // Much later everything else that is open is late too; returned reports are not.
        let far = Utc::now() + Duration::days(60);
        assert_eq!(lifecycle::escalate_overdue(&t.db, far).await.unwrap(), 1);
        assert_eq!(reload(&t.db, done.id).await.handling_area_id, w.changle.id);

        // The inbox shows it as escalated and red for the county.
        let app = spawn_app(&t).await;
        let county = app.login("county").await;
        let p = county.get("/inbox?light=red").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(
            p.body.contains(&format!("data-id=\"{}\"", late.id)),
            "{}",
            p.body
        );
        assert!(p.body.contains("已上报"));
        let page = county.get(&format!("/reports/{}", late.id)).await;
        assert!(page.body.contains("系统（超时自动）"), "{}", page.body);
    }
);
