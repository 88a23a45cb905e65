//! 「县级设置」: the county admin changes county-wide settings in the panel; town admins read
//! them, nobody else sees them; every change is audited; a refused change changes nothing.

use gridline_shared::county_settings::{self, Setting};
use gridline_shared::entity::audit_entry;
use gridline_tests::panel::{panel_world, spawn_app};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

async fn auto_escalation(t: &TestDb) -> bool {
    county_settings::load(t.db.conn())
        .await
        .unwrap()
        .is_on(Setting::AutoEscalation)
}

async fn setting_changes(t: &TestDb) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("settings.change"))
        .all(t.db.conn())
        .await
        .unwrap()
}

db_test!(
    county_admin_changes_settings_others_cannot,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let app = spawn_app(&t).await;
        assert!(!auto_escalation(&t).await, "off by default");

        // The county admin sees the form with the switch off, in Chinese and in English.
        let county = app.login("county").await;
        let p = county.get("/admin/settings").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body.contains("超期自动提级"), "{}", p.body);
        assert!(p.body.contains("name=\"auto_escalation\""));
        assert!(!p.body.contains("checked"));
        let en = county.get("/admin/settings?lang=en").await;
        assert!(en.body.contains("Escalate overdue work automatically"));

        // Turned on: saved, audited once, shown ticked.
        let r = county
            .post_from(
                "/admin/settings",
                "/admin/settings",
                &[("auto_escalation", "on")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(auto_escalation(&t).await);
        let p = county.get("/admin/settings?saved=1&lang=zh-CN").await;
        assert!(p.body.contains("checked") && p.body.contains("设置已保存"));
        let lines = setting_changes(&t).await;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].staff_id, Some(w.county.id));
        assert_eq!(lines[0].target.as_deref(), Some("setting:auto_escalation"));
        // Saving the same values again changes and logs nothing.
        county
            .post_from(
                "/admin/settings",
                "/admin/settings",
                &[("auto_escalation", "on")],
            )
            .await;
        assert_eq!(setting_changes(&t).await.len(), 1);
        // The audit page names the setting in the user's words.
        let audit = county.get("/admin/audit").await;
        assert!(audit.body.contains("修改县级设置"), "{}", audit.body);

        // A town admin reads them but cannot change them.
        let town = app.login("town").await;
        let p = town.get("/admin/settings").await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(p.body.contains("disabled"));
        let r = town
            .post_from("/admin/settings", "/admin/settings", &[])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(auto_escalation(&t).await, "unchanged");

        // Secretaries and viewers do not see them.
        for who in ["changle", "viewer"] {
            let c = app.login(who).await;
            assert_eq!(c.get("/admin/settings").await.status, StatusCode::FORBIDDEN);
        }
        // Without the CSRF token: refused before anything happens.
        let r = county.post_raw("/admin/settings", &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(auto_escalation(&t).await);

        // Unticked: off again.
        county
            .post_from("/admin/settings", "/admin/settings", &[])
            .await;
        assert!(!auto_escalation(&t).await);
        assert_eq!(setting_changes(&t).await.len(), 2);
    }
);
