//! The report page over HTTP: fields (escaped), resident contact, photos, timeline, and every
//! action through the lifecycle — with its refusals: 404 outside the scope (page, action,
//! photo), 403 for a viewer, plain messages for wrong states and missing notes.

use chrono::{Duration, Utc};
use gridline_shared::domain::{ReportKind, ReportState, ReturnReason};
use gridline_shared::entity::{attachment, audit_entry, outbox, report};
use gridline_shared::lifecycle::{self, Action, Actor, StaffActor};
use gridline_tests::panel::{Client, events_of, file_report, panel_world, reload, spawn_app};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// An action, its form, the expected status and a text the answer must contain.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode, &'a str);

const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 0xFF, 0xD9,
];

async fn add_photo(t: &TestDb, report_id: i64) -> i64 {
    attachment::ActiveModel {
        report_id: Set(report_id),
        event_id: Set(None),
        kind: Set("photo".into()),
        telegram_file_id: Set(Some("AgAD-fake".into())),
        telegram_file_unique_id: Set(None),
        mime: Set(Some("image/jpeg".into())),
        file_name: Set(None),
        size: Set(Some(JPEG.len() as i64)),
        data: Set(Some(JPEG.to_vec())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(t.db.conn())
    .await
    .unwrap()
    .id
}

async fn outbox_to(t: &TestDb, member: i64) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::MemberId.eq(member))
        .order_by_asc(outbox::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
}

/// POSTs an action with the token of the report page; returns status and body.
async fn act(c: &Client, id: i64, action: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let p = c
        .post_from(
            &format!("/reports/{id}"),
            &format!("/reports/{id}/{action}"),
            form,
        )
        .await;
    (p.status, p.body)
}

async fn done(
    c: &Client,
    t: &TestDb,
    id: i64,
    action: &str,
    form: &[(&str, &str)],
    to: ReportState,
) {
    let (status, body) = act(c, id, action, form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{action}: {body}");
    assert_eq!(reload(&t.db, id).await.state, to, "{action}");
    let page = c.get(&format!("/reports/{id}?done={action}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("class=\"alert ok\""), "{action}: flash");
}

/// One step of [`done_all`]: the action, its form, and the state after it.
type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], ReportState);

/// [`done`] for each (action, form, state after it) in turn.
async fn done_all(c: &Client, t: &TestDb, id: i64, steps: &[Step<'_>]) {
    for (action, form, to) in steps {
        done(c, t, id, action, form, *to).await;
    }
}

db_test!(
    report_page_escapes_and_shows_contact_and_photos,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let r = file_report(
            &t.db,
            &w.reporter,
            ReportKind::Request,
            "<script>alert('x')</script><b>粗体</b> & \"引号\"",
            |n| {
                n.address = Some("<img src=x onerror=alert(1)>长乐路".into());
                n.resident_name = Some("王小明".into());
                n.resident_phone = Some("13812345678".into());
                n.latitude = Some(30.5872);
                n.longitude = Some(103.5123);
            },
        )
        .await;
        let photo = add_photo(&t, r.id).await;
        let app = spawn_app(&t).await;
        let sec = app.login("changle").await;
        let comment = sec
            .post_from(
                &format!("/reports/{}", r.id),
                &format!("/reports/{}/comment", r.id),
                &[("note", "<script>steal()</script>内部")],
            )
            .await;
        assert_eq!(comment.status, StatusCode::SEE_OTHER);
        let page = sec.get(&format!("/reports/{}", r.id)).await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;
        assert!(!body.contains("<script>alert"), "script must be escaped");
        assert!(!body.contains("<script>steal"));
        assert!(!body.contains("<b>粗体"));
        assert!(!body.contains("<img src=x"));
        assert!(
            body.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;"),
            "{body}"
        );
        assert!(body.contains("&#60;b&#62;粗体&#60;/b&#62; &#38; &#34;引号&#34;"));
        assert!(body.contains("&#60;script&#62;steal()&#60;/script&#62;内部"));
        // Contact, location and photo for staff in scope.
        assert!(body.contains("王小明") && body.contains("13812345678"));
        assert!(body.contains("30.587200, 103.512300"));
        assert!(body.contains("geo:30.587200,103.512300"));
        let href = format!("/reports/{}/attachments/{photo}", r.id);
        assert!(body.contains(&href));
        let img = sec
            .http
            .get(format!("{}{href}", sec.base))
            .send()
            .await
            .unwrap();
        assert_eq!(img.status(), StatusCode::OK);
        assert_eq!(img.headers()["content-type"], "image/jpeg");
        assert_eq!(img.bytes().await.unwrap().as_ref(), JPEG);
        // Internal comment is marked as such in the timeline.
        assert!(body.contains("ev ev-comment internal"), "{body}");
        // Every form has the token.
        assert_eq!(
            body.matches("<form").count(),
            body.matches("name=\"csrf_token\"").count()
        );
        // The town admin sees it too; the other community's secretary does not, nor its photo.
        let town = app.login("town").await;
        assert!(
            town.get(&format!("/reports/{}", r.id))
                .await
                .body
                .contains("13812345678")
        );
        let other = app.login("lingyi").await;
        assert_eq!(
            other.get(&format!("/reports/{}", r.id)).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(other.get(&href).await.status, StatusCode::NOT_FOUND);
        // A photo id under the wrong report is not found either.
        let r2 = file_report(&t.db, &w.reporter, ReportKind::Incident, "别的事项", |_| {}).await;
        assert_eq!(
            sec.get(&format!("/reports/{}/attachments/{photo}", r2.id))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(sec.get("/reports/abc").await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            sec.get("/reports/99999999").await.status,
            StatusCode::NOT_FOUND
        );
    }
);

db_test!(
    out_of_scope_is_404_for_page_action_and_photo,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let r = file_report(&t.db, &w.reporter, ReportKind::Incident, "长乐的事", |_| {}).await;
        let photo = add_photo(&t, r.id).await;
        let app = spawn_app(&t).await;
        let anren = app.login("anren").await;
        let id = r.id;
        assert_eq!(
            anren.get(&format!("/reports/{id}")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            anren
                .get(&format!("/reports/{id}/attachments/{photo}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let leader = format!("m:{}", w.leader.id);
        for (action, form) in [
            ("accept", vec![]),
            ("assign", vec![("assignee", leader.as_str())]),
            ("return", vec![("reason", "incomplete")]),
            ("reject", vec![("note", "不受理")]),
            ("duplicate", vec![("of", "1")]),
            ("reply", vec![("note", "你好")]),
            ("comment", vec![("note", "看看")]),
            ("resolve", vec![]),
            ("verify_fail", vec![("note", "不行")]),
            ("close", vec![]),
            ("reopen", vec![("note", "再开")]),
            ("escalate", vec![]),
            ("no_such_action", vec![]),
        ] {
            let p = anren.post(&format!("/reports/{id}/{action}"), &form).await;
            assert_eq!(p.status, StatusCode::NOT_FOUND, "{action}");
            assert!(!p.body.contains("长乐的事"));
        }
        let after = reload(&t.db, id).await;
        assert_eq!(after.state, ReportState::Submitted);
        assert_eq!(events_of(&t.db, id).await.len(), 1);
    }
);

db_test!(a_viewer_cannot_act, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let r = file_report(
        &t.db,
        &w.reporter,
        ReportKind::Incident,
        "看得见改不了",
        |_| {},
    )
    .await;
    let app = spawn_app(&t).await;
    let viewer = app.login("viewer").await;
    let page = viewer.get(&format!("/reports/{}", r.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("id=\"actions\""),
        "no action forms for a viewer"
    );
    for (action, form) in [
        ("accept", vec![]),
        ("reject", vec![("note", "x")]),
        ("comment", vec![("note", "x")]),
        ("escalate", vec![]),
    ] {
        let (status, body) = act(&viewer, r.id, action, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}");
        assert!(body.contains("不能进行这项操作"), "{body}");
    }
    assert_eq!(reload(&t.db, r.id).await.state, ReportState::Submitted);
    assert_eq!(events_of(&t.db, r.id).await.len(), 1);
});

db_test!(every_action_through_the_panel, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let app = spawn_app(&t).await;
    let sec = app.login("changle").await;
    let a = file_report(
        &t.db,
        &w.reporter,
        ReportKind::Incident,
        "A 路灯不亮",
        |_| {},
    )
    .await
    .id;
    let leader = format!("m:{}", w.leader.id);
    let staff = format!("s:{}", w.secretary.id);
    done(&sec, &t, a, "accept", &[], ReportState::Accepted).await;
    done(
        &sec,
        &t,
        a,
        "assign",
        &[("assignee", &leader)],
        ReportState::Assigned,
    )
    .await;
    assert_eq!(reload(&t.db, a).await.assignee_member_id, Some(w.leader.id));
    let tasks: Vec<_> = outbox_to(&t, w.leader.id)
        .await
        .into_iter()
        .filter(|o| o.kind.code() == "task")
        .collect();
    assert_eq!(tasks.len(), 1, "the grid leader gets a task card");
    assert!(
        tasks[0].payload.contains("task:start:"),
        "{}",
        tasks[0].payload
    );
    done(
        &sec,
        &t,
        a,
        "assign",
        &[("assignee", &staff)],
        ReportState::Assigned,
    )
    .await;
    assert_eq!(
        reload(&t.db, a).await.assignee_staff_id,
        Some(w.secretary.id)
    );
    done_all(
        &sec,
        &t,
        a,
        &[
            (
                "comment",
                &[("note", "内部：先联系物业")],
                ReportState::Assigned,
            ),
            (
                "reply",
                &[("note", "已安排人员处理")],
                ReportState::Assigned,
            ),
        ],
    )
    .await;
    // A response template as the reply.
    let tpl = gridline_shared::response_templates::list(t.db.conn(), "zh-CN")
        .await
        .unwrap();
    assert!(tpl.len() >= 3);
    let tid = tpl[0].id.to_string();
    done(
        &sec,
        &t,
        a,
        "reply",
        &[("template", &tid)],
        ReportState::Assigned,
    )
    .await;
    done_all(
        &sec,
        &t,
        a,
        &[
            ("resolve", &[("note", "已修好")], ReportState::Resolved),
            (
                "verify_fail",
                &[("note", "还是不亮")],
                ReportState::InProgress,
            ),
            ("resolve", &[], ReportState::Resolved),
            ("close", &[], ReportState::Closed),
            ("reopen", &[("note", "又坏了")], ReportState::InProgress),
            (
                "escalate",
                &[("note", "需要街道协调")],
                ReportState::InProgress,
            ),
        ],
    )
    .await;
    let esc = reload(&t.db, a).await;
    assert_eq!(esc.handling_area_id, w.town.id);
    // Now handled by the town: the secretary still sees it but may only comment.
    let page = sec.get(&format!("/reports/{a}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let (status, body) = act(&sec, a, "resolve", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("已上报到上级"), "{body}");
    done(
        &sec,
        &t,
        a,
        "comment",
        &[("note", "已转街道")],
        ReportState::InProgress,
    )
    .await;
    let town = app.login("town").await;
    done(&town, &t, a, "resolve", &[], ReportState::Resolved).await;

    // The timeline: one event per step, internal ones not public; reporter messages queued.
    let evs = events_of(&t.db, a).await;
    let codes: Vec<_> = evs.iter().map(|e| e.action.code()).collect();
    assert_eq!(
        codes,
        vec![
            "submit",
            "accept",
            "assign",
            "assign",
            "comment",
            "reply",
            "reply",
            "resolve",
            "verify_fail",
            "resolve",
            "close",
            "reopen",
            "escalate",
            "comment",
            "resolve"
        ]
    );
    assert!(
        evs.iter()
            .filter(|e| e.action.code() == "comment")
            .all(|e| !e.public)
    );
    assert!(
        evs.iter()
            .filter(|e| e.action.code() == "reply")
            .all(|e| e.public)
    );
    assert_eq!(evs[6].note.as_deref(), Some(tpl[0].body.as_str()));
    let to_reporter = outbox_to(&t, w.reporter.id).await;
    let texts: Vec<String> = to_reporter
        .iter()
        .filter_map(|o| o.message())
        .map(|m| m.text)
        .collect();
    assert!(texts.iter().any(|t| t.contains("已受理")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("已安排人员处理")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("已办结")), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t.contains("先联系物业")),
        "internal comments stay internal"
    );
    // Every step is in the audit log.
    let audited: Vec<String> = audit_entry::Entity::find()
        .filter(audit_entry::Column::Target.eq(format!("report:{a}")))
        .order_by_asc(audit_entry::Column::Id)
        .all(t.db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.action)
        .collect();
    assert_eq!(
        audited.iter().filter(|a| !a.ends_with(".refused")).count(),
        14
    );
    assert!(audited.contains(&"report.resolve.refused".to_owned()));

    // Return with a coded reason; reject; duplicate.
    let b = file_report(
        &t.db,
        &w.reporter,
        ReportKind::Request,
        "B 信息不全",
        |_| {},
    )
    .await
    .id;
    done(
        &sec,
        &t,
        b,
        "return",
        &[("reason", "needs_photo"), ("note", "请补拍照片")],
        ReportState::Returned,
    )
    .await;
    assert_eq!(
        reload(&t.db, b).await.return_reason,
        Some(ReturnReason::NeedsPhoto)
    );
    let c = file_report(
        &t.db,
        &w.reporter,
        ReportKind::Request,
        "C 不归我们管",
        |_| {},
    )
    .await
    .id;
    done(
        &sec,
        &t,
        c,
        "reject",
        &[("note", "属于市场监管部门职责")],
        ReportState::Rejected,
    )
    .await;
    let d = file_report(&t.db, &w.reporter, ReportKind::Incident, "D 同 A", |_| {})
        .await
        .id;
    let of = format!("#{a}");
    done(
        &sec,
        &t,
        d,
        "duplicate",
        &[("of", &of)],
        ReportState::Rejected,
    )
    .await;
    assert_eq!(reload(&t.db, d).await.duplicate_of, Some(a));
    let texts: Vec<String> = outbox_to(&t, w.reporter.id)
        .await
        .iter()
        .filter_map(|o| o.message())
        .map(|m| m.text)
        .collect();
    assert!(texts.iter().any(|t| t.contains("需补充照片")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains(&format!("与 #{a} 重复"))),
        "{texts:?}"
    );
});

db_test!(
    refusals_are_plain_and_change_nothing,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let app = spawn_app(&t).await;
        let sec = app.login("changle").await;
        let r = file_report(
            &t.db,
            &w.reporter,
            ReportKind::Incident,
            "要被拒绝的操作",
            |_| {},
        )
        .await;
        let id = r.id;
        let unchanged = |t: &TestDb| {
            let db = t.db.clone();
            async move {
                let now = reload(&db, id).await;
                assert_eq!(now.state, ReportState::Submitted);
                assert_eq!(now.updated_at, r.updated_at);
            }
        };
        let cases: Vec<Case<'_>> = vec![
            ("resolve", vec![], StatusCode::CONFLICT, "不能“处置完毕”"),
            ("close", vec![], StatusCode::CONFLICT, "当前状态为“待受理”"),
            (
                "reopen",
                vec![("note", "x")],
                StatusCode::CONFLICT,
                "不能“重新打开”",
            ),
            (
                "reject",
                vec![],
                StatusCode::UNPROCESSABLE_ENTITY,
                "请填写说明",
            ),
            (
                "reject",
                vec![("note", "   ")],
                StatusCode::UNPROCESSABLE_ENTITY,
                "请填写说明",
            ),
            (
                "comment",
                vec![],
                StatusCode::UNPROCESSABLE_ENTITY,
                "请填写说明",
            ),
            (
                "return",
                vec![],
                StatusCode::UNPROCESSABLE_ENTITY,
                "选择退回原因",
            ),
            (
                "return",
                vec![("reason", "nonsense")],
                StatusCode::UNPROCESSABLE_ENTITY,
                "选择退回原因",
            ),
            (
                "return",
                vec![("reason", "other")],
                StatusCode::UNPROCESSABLE_ENTITY,
                "请写明原因",
            ),
            (
                "assign",
                vec![],
                StatusCode::UNPROCESSABLE_ENTITY,
                "选择处理人",
            ),
            (
                "assign",
                vec![("assignee", "x:1")],
                StatusCode::UNPROCESSABLE_ENTITY,
                "选择处理人",
            ),
            (
                "duplicate",
                vec![("of", "abc")],
                StatusCode::UNPROCESSABLE_ENTITY,
                "重复",
            ),
        ];
        for (action, form, status, text) in cases {
            let (got, body) = act(&sec, id, action, &form).await;
            assert_eq!(got, status, "{action} {form:?}: {body}");
            assert!(
                body.contains(text),
                "{action} {form:?}: expected {text:?} in {body}"
            );
            unchanged(&t).await;
        }
        // Assign to a grid leader of another community, or to staff who cannot see it.
        let other = format!("m:{}", w.other_member.id);
        let (got, body) = act(&sec, id, "assign", &[("assignee", &other)]).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("不在处理区域内"), "{body}");
        let anren = format!("s:{}", w.anren_secretary.id);
        let (got, _) = act(&sec, id, "assign", &[("assignee", &anren)]).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
        // Duplicate of itself, or of a report the user cannot see.
        let me = id.to_string();
        let (got, body) = act(&sec, id, "duplicate", &[("of", &me)]).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("不能标记为与自己重复"), "{body}");
        let hidden = file_report(
            &t.db,
            &w.anren_member,
            ReportKind::Incident,
            "安仁的",
            |_| {},
        )
        .await;
        let hidden_id = hidden.id.to_string();
        let (got, body) = act(&sec, id, "duplicate", &[("of", &hidden_id)]).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("找不到所填的原事项编号"), "{body}");
        unchanged(&t).await;
        // A note that is too long.
        let long = "长".repeat(4001);
        let (got, _) = act(&sec, id, "comment", &[("note", &long)]).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
        // The county cannot escalate further.
        let county = app.login("county").await;
        let staff = StaffActor::of(&w.county);
        for _ in 0..2 {
            lifecycle::transition(
                &t.db,
                &Actor::Staff(staff.clone()),
                id,
                Action::Escalate { note: None },
                Utc::now(),
            )
            .await
            .unwrap();
        }
        assert_eq!(reload(&t.db, id).await.handling_area_id, w.root.id);
        let (got, body) = act(&county, id, "escalate", &[]).await;
        // The button is not offered; posting anyway is refused in plain words.
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("已经是县级"), "{body}");
        // A reopen window that has passed.
        let old = file_report(
            &t.db,
            &w.reporter,
            ReportKind::Incident,
            "很久以前办结",
            |_| {},
        )
        .await;
        for action in [
            Action::Accept,
            Action::Assign(gridline_shared::lifecycle::Assignee::Staff(w.secretary.id)),
            Action::Resolve { note: None },
            Action::Close { note: None },
        ] {
            lifecycle::transition(
                &t.db,
                &Actor::Staff(StaffActor::of(&w.secretary)),
                old.id,
                action,
                Utc::now(),
            )
            .await
            .unwrap();
        }
        let closed = reload(&t.db, old.id).await;
        let mut a: report::ActiveModel = closed.into();
        a.closed_at = Set(Some(Utc::now() - Duration::days(31)));
        a.update(t.db.conn()).await.unwrap();
        let (got, body) = act(&sec, old.id, "reopen", &[("note", "再看看")]).await;
        assert_eq!(got, StatusCode::CONFLICT);
        assert!(body.contains("超过 30 天"), "{body}");
        // Refusals are audited.
        let refused = audit_entry::Entity::find()
            .filter(audit_entry::Column::Action.like("%.refused"))
            .all(t.db.conn())
            .await
            .unwrap();
        assert!(refused.len() >= 8, "{refused:?}");
    }
);
