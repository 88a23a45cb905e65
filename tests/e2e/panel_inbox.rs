//! The inbox over HTTP and in the core: scope, filters, lights, sort, keyset pages, counts per
//! state, bulk accept / assign, and no personal data in the list.

use chrono::{Duration, Utc};
use gridline_shared::calendar::Light;
use gridline_shared::domain::{ReportKind, ReportState, Urgency};
use gridline_shared::entity::{audit_entry, outbox, report};
use gridline_shared::inbox::{self, Cursor, InboxFilter, InboxSort};
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::{Db, Scope};
use gridline_tests::panel::{
    PanelWorld, category_by_code, file_report, file_report_at, panel_world, reload, spawn_app,
};
use gridline_tests::{TestDb, db_test};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// The report numbers listed on an inbox page, in order.
fn listed(html: &str) -> Vec<i64> {
    html.split("data-id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

async fn set_deadline(db: &Db, id: i64, warn_in: Duration, due_in: Duration) {
    let r = reload(db, id).await;
    let mut a: report::ActiveModel = r.into();
    let now = Utc::now();
    a.clock_started_at = Set(Some(now - Duration::hours(1)));
    a.warn_at = Set(Some(now + warn_in));
    a.due_at = Set(Some(now + due_in));
    a.update(db.conn()).await.unwrap();
}

/// Six reports: three in 长乐社区, one in 另一社区, two in 安仁.
async fn seed(t: &TestDb, w: &PanelWorld) -> Vec<i64> {
    let db = &t.db;
    let fire = category_by_code(db, "hazard.fire").await.id;
    let hazard = category_by_code(db, "hazard").await.id;
    let a = file_report(
        db,
        &w.reporter,
        ReportKind::Incident,
        "楼道堆放杂物 占用消防通道",
        |n| {
            n.category_id = Some(fire);
            n.urgency = Some(Urgency::Urgent);
            n.address = Some("长乐路 12 号".into());
            n.resident_name = Some("王小明".into());
            n.resident_phone = Some("13812345678".into());
        },
    )
    .await;
    let b = file_report(
        db,
        &w.leader,
        ReportKind::Request,
        "老人需要送餐 100%_急",
        |n| {
            n.resident_name = Some("李大爷".into());
            n.resident_phone = Some("13900001111".into());
        },
    )
    .await;
    let c = file_report_at(
        db,
        &w.reporter,
        ReportKind::Visit,
        "走访独居老人",
        Utc::now() - Duration::days(10),
        |_| {},
    )
    .await;
    let d = file_report(
        db,
        &w.other_member,
        ReportKind::Incident,
        "另一社区 路灯不亮",
        |n| {
            n.category_id = Some(hazard);
        },
    )
    .await;
    let e = file_report(
        db,
        &w.anren_member,
        ReportKind::Incident,
        "安仁 河道垃圾",
        |_| {},
    )
    .await;
    let f = file_report(
        db,
        &w.anren_member,
        ReportKind::Request,
        "安仁 噪音扰民",
        |_| {},
    )
    .await;
    // Lights: a green, b yellow, c red; d green.
    set_deadline(db, a.id, Duration::hours(3), Duration::hours(4)).await;
    set_deadline(db, b.id, -Duration::minutes(5), Duration::hours(1)).await;
    set_deadline(db, c.id, -Duration::hours(2), -Duration::minutes(1)).await;
    vec![a.id, b.id, c.id, d.id, e.id, f.id]
}

db_test!(
    inbox_is_scoped_and_shows_no_personal_data,
    |t: TestDb| async move {
        let w = panel_world(&t).await;
        let ids = seed(&t, &w).await;
        let app = spawn_app(&t).await;
        let sorted = |mut v: Vec<i64>| {
            v.sort_unstable();
            v
        };
        let sec = app.login("changle").await;
        let page = sec.get("/inbox").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(sorted(listed(&page.body)), ids[..3].to_vec());
        assert!(!page.body.contains("王小明") && !page.body.contains("13812345678"));
        assert!(!page.body.contains("李大爷") && !page.body.contains("13900001111"));
        // A light on every row.
        assert_eq!(page.body.matches("<span class=\"light light-").count(), 3);
        assert!(
            page.body.contains("light-green")
                && page.body.contains("light-yellow")
                && page.body.contains("light-red")
        );
        let town = app.login("town").await;
        assert_eq!(
            sorted(listed(&town.get("/inbox").await.body)),
            ids[..4].to_vec()
        );
        let county = app.login("county").await;
        assert_eq!(
            sorted(listed(&county.get("/inbox").await.body)),
            ids.clone()
        );
        let anren = app.login("anren").await;
        assert_eq!(
            sorted(listed(&anren.get("/inbox").await.body)),
            ids[4..].to_vec()
        );
        // An area outside the scope is not a filter, it does not exist.
        let outside = sec.get(&format!("/inbox?area={}", w.anren.id)).await;
        assert_eq!(outside.status, StatusCode::NOT_FOUND);
        // Every form carries the CSRF token (filters included).
        let forms = page.body.matches("<form").count();
        assert_eq!(page.body.matches("name=\"csrf_token\"").count(), forms);
        // Bad filters get a clear answer.
        for q in [
            "state=overdue",
            "kind=x",
            "light=blue",
            "from=2026-13-01",
            "area=abc",
            "sort=x",
            "after=zzz",
        ] {
            let p = sec.get(&format!("/inbox?{q}")).await;
            assert_eq!(p.status, StatusCode::BAD_REQUEST, "{q}");
            assert!(
                p.body.contains("无效") || p.body.contains("输入有误"),
                "{q}: {}",
                p.body
            );
        }
    }
);

db_test!(inbox_filters, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let ids = seed(&t, &w).await;
    let (a, b, c, d) = (ids[0], ids[1], ids[2], ids[3]);
    let app = spawn_app(&t).await;
    let town = app.login("town").await;
    let get = |q: String| {
        let town = town.clone();
        async move {
            let p = town.get(&format!("/inbox?{q}")).await;
            assert_eq!(p.status, StatusCode::OK, "{q}: {}", p.body);
            let mut v = listed(&p.body);
            v.sort_unstable();
            v
        }
    };
    assert_eq!(get("kind=incident".into()).await, vec![a, d]);
    assert_eq!(get("kind=request".into()).await, vec![b]);
    let hazard = category_by_code(&t.db, "hazard").await.id;
    let fire = category_by_code(&t.db, "hazard.fire").await.id;
    assert_eq!(
        get(format!("category={hazard}")).await,
        vec![a, d],
        "a parent includes its children"
    );
    assert_eq!(get(format!("category={fire}")).await, vec![a]);
    assert_eq!(get(format!("area={}", w.lingyi.id)).await, vec![d]);
    assert_eq!(get(format!("area={}", w.changle.id)).await, vec![a, b, c]);
    assert_eq!(get("urgency=urgent".into()).await, vec![a]);
    assert_eq!(get("light=green".into()).await, vec![a, d]);
    assert_eq!(get("light=yellow".into()).await, vec![b]);
    assert_eq!(get("light=red".into()).await, vec![c]);
    let today = (Utc::now() + Duration::hours(8)).date_naive();
    let old = today - Duration::days(10);
    assert_eq!(get(format!("from={today}")).await, vec![a, b, d]);
    assert_eq!(
        get(format!("to={}", today - Duration::days(1))).await,
        vec![c]
    );
    assert_eq!(get(format!("from={old}&to={old}")).await, vec![c]);
    assert_eq!(
        get("q=%E6%B6%88%E9%98%B2".into()).await,
        vec![a],
        "text in the description"
    );
    assert_eq!(
        get("q=%E9%95%BF%E4%B9%90%E8%B7%AF".into()).await,
        vec![a],
        "text in the address"
    );
    assert_eq!(
        get("q=100%25_".into()).await,
        vec![b],
        "% and _ are literal"
    );
    assert_eq!(get("q=%25".into()).await, vec![b]);
    assert_eq!(
        get("kind=incident&light=green&urgency=urgent".into()).await,
        vec![a]
    );
    // Sorts.
    let order = |q: &'static str| {
        let town = town.clone();
        async move { listed(&town.get(&format!("/inbox?{q}")).await.body) }
    };
    assert_eq!(order("sort=newest").await, vec![d, c, b, a]);
    assert_eq!(order("sort=oldest").await, vec![a, b, c, d]);
    // Due soonest: c (overdue) first, then b, a; d keeps its filing deadline (later).
    let due = order("sort=due").await;
    assert_eq!(&due[..3], &[c, b, a]);
    // State tabs and counts follow the other filters.
    gridline_shared::inbox::act(
        &t.db,
        &StaffActor::of(&w.town_admin),
        a,
        gridline_shared::lifecycle::Action::Accept,
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(get("state=submitted".into()).await, vec![b, c, d]);
    assert_eq!(get("state=accepted".into()).await, vec![a]);
    assert_eq!(get("state=open".into()).await, vec![a, b, c, d]);
    let p = town.get("/inbox?kind=incident").await;
    assert!(
        p.body.contains("待受理 <span class=\"count\">1</span>"),
        "{}",
        p.body
    );
    assert!(p.body.contains("已受理 <span class=\"count\">1</span>"));
});

db_test!(keyset_pages_cover_everything_once, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let mut ids = Vec::new();
    for i in 0..120 {
        let r = file_report(
            &t.db,
            &w.reporter,
            ReportKind::Incident,
            &format!("事项 {i}"),
            |_| {},
        )
        .await;
        ids.push(r.id);
    }
    // Same deadline for some, none for others, to test ties and NULLs in "due soonest".
    for (n, id) in ids.iter().enumerate() {
        let r = reload(&t.db, *id).await;
        let mut a: report::ActiveModel = r.into();
        if n % 3 == 0 {
            a.due_at = Set(None);
            a.warn_at = Set(None);
        } else {
            a.due_at = Set(Some(Utc::now() + Duration::hours((n % 4) as i64 + 1)));
        }
        a.update(t.db.conn()).await.unwrap();
    }
    let app = spawn_app(&t).await;
    let sec = app.login("changle").await;
    let mut seen = Vec::new();
    let mut path = "/inbox".to_owned();
    let mut pages = 0;
    loop {
        let p = sec.get(&path).await;
        assert_eq!(p.status, StatusCode::OK);
        let rows = listed(&p.body);
        assert!(rows.len() <= 50);
        seen.extend(rows);
        pages += 1;
        match p
            .body
            .split("\" class=\"button\" rel=\"next\"")
            .next()
            .filter(|_| p.body.contains("rel=\"next\""))
            .and_then(|before| before.rsplit("href=\"").next())
            .map(|h| h.replace("&amp;", "&"))
        {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, every report once");

    // The core, due soonest: keyset across equal deadlines and NULLs.
    let staff = StaffActor::of(&w.secretary);
    let mut after: Option<Cursor> = None;
    let mut all = Vec::new();
    loop {
        let page = inbox::list(
            t.db.conn(),
            &staff.scope,
            &InboxFilter::default(),
            InboxSort::DueSoonest,
            after.as_ref(),
            7,
            Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(page.counts.iter().map(|(_, n)| n).sum::<u64>(), 120);
        all.extend(page.rows.iter().map(|r| (r.due_at, r.id)));
        match page.next {
            Some(c) => {
                // The cursor survives the URL.
                after = Some(Cursor::decode(&c.encode()).unwrap());
            }
            None => break,
        }
    }
    assert_eq!(all.len(), 120);
    let mut sorted = all.clone();
    sorted.sort_by(|x, y| match (x.0, y.0) {
        (Some(a), Some(b)) => a.cmp(&b).then(x.1.cmp(&y.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => x.1.cmp(&y.1),
    });
    assert_eq!(all, sorted);
    // A cursor of another sort is refused.
    assert!(
        inbox::list(
            t.db.conn(),
            &staff.scope,
            &InboxFilter::default(),
            InboxSort::Newest,
            Some(&Cursor::Due(None, 1)),
            10,
            Utc::now()
        )
        .await
        .is_err()
    );
    // Light filter in the core matches the computed light.
    let red = inbox::list(
        t.db.conn(),
        &Scope::from_parts(w.root.id, w.root.path.clone()),
        &InboxFilter {
            light: Some(Light::Green),
            ..Default::default()
        },
        InboxSort::Newest,
        None,
        200,
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(red.rows.iter().all(|r| r.light == Some(Light::Green)));
    assert_eq!(red.rows.len(), 80);
});

db_test!(bulk_accept_and_assign, |t: TestDb| async move {
    let w = panel_world(&t).await;
    let ids = seed(&t, &w).await;
    let (a, b, c, e) = (ids[0], ids[1], ids[2], ids[4]);
    let app = spawn_app(&t).await;
    let sec = app.login("changle").await;
    gridline_shared::inbox::act(
        &t.db,
        &StaffActor::of(&w.secretary),
        c,
        gridline_shared::lifecycle::Action::Accept,
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    let (sa, sb, sc, se) = (a.to_string(), b.to_string(), c.to_string(), e.to_string());
    let res = sec
        .post(
            "/inbox/bulk",
            &[
                ("action", "accept"),
                ("ids", &sa),
                ("ids", &sb),
                ("ids", &sc),
                ("ids", &se),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("成功 2"), "{}", res.body);
    assert!(res.body.contains("未执行 2"));
    assert!(
        res.body.contains("不能“受理”"),
        "wrong state explained: {}",
        res.body
    );
    assert_eq!(reload(&t.db, a).await.state, ReportState::Accepted);
    assert_eq!(reload(&t.db, b).await.state, ReportState::Accepted);
    assert_eq!(
        reload(&t.db, e).await.state,
        ReportState::Submitted,
        "out of scope"
    );
    // Bulk assign to a grid leader: each gets a task card.
    let leader = format!("m:{}", w.leader.id);
    let res = sec
        .post(
            "/inbox/bulk",
            &[
                ("action", "assign"),
                ("assignee", &leader),
                ("ids", &sa),
                ("ids", &sb),
            ],
        )
        .await;
    assert!(res.body.contains("成功 2"), "{}", res.body);
    for id in [a, b] {
        let r = reload(&t.db, id).await;
        assert_eq!(r.state, ReportState::Assigned);
        assert_eq!(r.assignee_member_id, Some(w.leader.id));
    }
    let tasks = outbox::Entity::find()
        .filter(outbox::Column::MemberId.eq(w.leader.id))
        .filter(outbox::Column::Kind.eq("task"))
        .all(t.db.conn())
        .await
        .unwrap();
    assert_eq!(tasks.len(), 2);
    // Refusals: nothing selected, no assignee, unknown action.
    assert_eq!(
        sec.post("/inbox/bulk", &[("action", "accept")])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sec.post("/inbox/bulk", &[("action", "assign"), ("ids", &sc)])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sec.post("/inbox/bulk", &[("action", "close"), ("ids", &sc)])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // A viewer cannot act: every line refused, nothing changed.
    let viewer = app.login("viewer").await;
    let page = viewer.get("/inbox").await;
    assert!(
        !page.body.contains("action\" value=\"accept\""),
        "no bulk buttons for a viewer"
    );
    let res = viewer
        .post("/inbox/bulk", &[("action", "accept"), ("ids", &sc)])
        .await;
    assert!(res.body.contains("成功 0"), "{}", res.body);
    assert_eq!(reload(&t.db, c).await.state, ReportState::Accepted);
    // Each done step is audited with who and from where.
    let lines = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("report.accept"))
        .all(t.db.conn())
        .await
        .unwrap();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .any(|l| l.staff_id == Some(w.secretary.id) && l.ip.as_deref() == Some("127.0.0.1"))
    );
    let refused = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("report.accept.refused"))
        .all(t.db.conn())
        .await
        .unwrap();
    assert_eq!(refused.len(), 3);
});
