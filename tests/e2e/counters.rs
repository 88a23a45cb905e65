//! The maintained report counters (`report_counts`) against the reports table: after a long
//! random run of filings and every kind of transition (by staff at every level, members, and
//! the escalation scheduler, some of them concurrent), the counters equal a fresh
//! `COUNT(*) … GROUP BY`, the inbox's per-state counts equal a count of the rows done here in
//! Rust, and `rebuild_counters` repairs a damaged table.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use gridline_shared::calendar::Light;
use gridline_shared::domain::{ReportKind, ReportState, ReturnReason, StaffRole, Urgency};
use gridline_shared::entity::{area, category, member, report};
use gridline_shared::inbox::{self, InboxFilter, InboxSort};
use gridline_shared::lifecycle::{self, Action, Actor, Assignee, LifecycleError, StaffActor};
use gridline_shared::reports::{self, NewReport};
use gridline_shared::stats::{self, Period};
use gridline_shared::{Db, Scope, counters, holidays};
use gridline_tests::bench_data::{self, Rng};
use gridline_tests::panel::{import_csv, make_staff};
use gridline_tests::{TestDb, db_test};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};

/// Two towns, four communities, eight micro-grids.
const ROSTER: &str = "镇街,村社区,网格,微网格,微网格长,手机号,标签\n\
    晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,19900000563,\n\
    晋原街道,长乐社区,第2网格,第2网格-1号微网格,方秀海,19900000767,\n\
    晋原街道,长乐社区,第2网格,第2网格-2号微网格,马东,19900001234,\n\
    晋原街道,另一社区,第1网格,第1网格-1号微网格,孟波玉,19900001562,\n\
    晋原街道,另一社区,第1网格,第1网格-2号微网格,罗敏,19900001563,\n\
    安仁镇,安仁社区,第1网格,第1网格-1号微网格,万丽,19900002266,\n\
    安仁镇,安仁社区,第2网格,第2网格-1号微网格,谢军,19900002267,\n\
    安仁镇,新福社区,第1网格,第1网格-1号微网格,唐芳,19900002268,\n";

struct World {
    members: Vec<member::Model>,
    staff: Vec<StaffActor>,
    /// Every area, for scopes and area filters.
    areas: Vec<area::Model>,
    categories: Vec<i64>,
}

async fn setup(t: &TestDb) -> World {
    let conn = t.db.conn();
    import_csv(&t.db, ROSTER).await;
    let members = member::Entity::find()
        .order_by_asc(member::Column::Id)
        .all(conn)
        .await
        .unwrap();
    assert_eq!(members.len(), 8);
    let areas = area::Entity::find()
        .order_by_asc(area::Column::Id)
        .all(conn)
        .await
        .unwrap();
    let mut staff_actors = Vec::new();
    for (i, a) in areas.iter().enumerate() {
        use gridline_shared::domain::AreaLevel::*;
        let role = match a.level {
            County => StaffRole::CountyAdmin,
            Town => StaffRole::TownAdmin,
            Community => StaffRole::Secretary,
            _ => continue,
        };
        let user = make_staff(&t.db, &format!("staff{i}"), role, a).await;
        staff_actors.push(StaffActor::of(&user));
    }
    let categories = category::Entity::find()
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    World {
        members,
        staff: staff_actors,
        areas,
        categories,
    }
}

fn pick<'a, T>(rng: &mut Rng, v: &'a [T]) -> &'a T {
    &v[rng.below(v.len() as u64) as usize]
}

async fn submit(db: &Db, w: &World, rng: &mut Rng, now: DateTime<Utc>) -> report::Model {
    let by = pick(rng, &w.members).clone();
    let kind = *pick(rng, ReportKind::ALL);
    let new = NewReport {
        kind: Some(kind),
        description: format!("楼道堆放杂物 {}", rng.below(1000)),
        category_id: (rng.below(4) > 0).then(|| *pick(rng, &w.categories)),
        urgency: Some(*pick(
            rng,
            &[Urgency::Normal, Urgency::Urgent, Urgency::Critical],
        )),
        ..Default::default()
    };
    let calendar = holidays::calendar(db.conn()).await.unwrap();
    let txn = db.write().await.unwrap();
    let r = reports::submit(&*txn, &by, new, &calendar, now)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    r
}

/// One random action by a random actor on a random report; `Ok(code)` when it happened.
async fn act(
    db: &Db,
    w: &World,
    ids: &[i64],
    rng: &mut Rng,
    now: DateTime<Utc>,
) -> Result<&'static str, LifecycleError> {
    let id = *pick(rng, ids);
    let r = report::Entity::find_by_id(id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap();
    // Usually an action the report's state allows, by someone entitled to it; sometimes a
    // random one (refused, and then nothing may change).
    let local: Vec<member::Model> = w
        .members
        .iter()
        .filter(|m| m.area_path.starts_with(&r.handling_area_path))
        .cloned()
        .collect();
    let member = if local.is_empty() || rng.below(5) == 0 {
        pick(rng, &w.members).clone()
    } else {
        pick(rng, &local).clone()
    };
    let choices: Vec<Action> = vec![
        Action::Accept,
        Action::Assign(Assignee::Member(member.id)),
        Action::Start,
        Action::Return {
            reason: ReturnReason::Incomplete,
            note: None,
        },
        Action::Resubmit { note: None },
        Action::Reject {
            note: "不属于受理范围".into(),
        },
        Action::MarkDuplicate {
            of: *pick(rng, ids),
        },
        Action::Resolve { note: None },
        Action::VerifyFail {
            note: "未处理完".into(),
        },
        Action::Close { note: None },
        Action::Reopen {
            note: "又堵了".into(),
        },
        Action::Escalate { note: None },
        Action::Comment {
            note: "跟进".into(),
        },
    ];
    let valid: Vec<Action> = choices
        .iter()
        .filter(|a| a.allowed_from().contains(&r.state))
        .cloned()
        .collect();
    let action = if valid.is_empty() || rng.below(8) == 0 {
        pick(rng, &choices).clone()
    } else {
        pick(rng, &valid).clone()
    };
    let entitled: Vec<StaffActor> = w
        .staff
        .iter()
        .filter(|s| s.scope.contains(&r.handling_area_path))
        .cloned()
        .collect();
    let actor = match (&action, rng.below(8)) {
        (_, 0) => Actor::Staff(pick(rng, &w.staff).clone()),
        (Action::Resubmit { .. }, _) => Actor::Member {
            id: r.reporter_member_id.unwrap_or(member.id),
        },
        (Action::Start | Action::Resolve { .. }, 1..=4) if r.assignee_member_id.is_some() => {
            Actor::Member {
                id: r.assignee_member_id.unwrap_or(member.id),
            }
        }
        _ if !entitled.is_empty() => Actor::Staff(pick(rng, &entitled).clone()),
        _ => Actor::Staff(pick(rng, &w.staff).clone()),
    };
    let code = action.code();
    lifecycle::transition(db, &actor, id, action, now)
        .await
        .map(|_| code)
}

/// Counters equal a fresh GROUP BY; the inbox counts equal counts of the rows done in Rust, for
/// every area as scope, with and without a kind filter and an area filter, and through the
/// slow path (a filter the counters cannot answer).
async fn check_all(t: &TestDb, w: &World, now: DateTime<Utc>) {
    let conn = t.db.conn();
    let stored = counters::stored(conn).await.unwrap();
    let counted = counters::counted_from_reports(conn).await.unwrap();
    assert_eq!(stored, counted, "counters drifted from the reports table");
    let all = report::Entity::find().all(conn).await.unwrap();
    assert_eq!(
        stored.values().sum::<i64>(),
        all.len() as i64,
        "counters do not add up to the number of reports"
    );
    let expect = |scope_path: &str, f: &dyn Fn(&report::Model) -> bool| {
        ReportState::ALL
            .iter()
            .map(|s| {
                let n = all
                    .iter()
                    .filter(|r| r.state == *s && r.origin_area_path.starts_with(scope_path) && f(r))
                    .count() as u64;
                (*s, n)
            })
            .collect::<Vec<_>>()
    };
    let mut compared = 0;
    for a in &w.areas {
        let scope = Scope::of_area(a);
        for kind in [None, Some(ReportKind::Incident), Some(ReportKind::Visit)] {
            // A state filter must not change the counts (they are for the filter without it).
            for states in [vec![], vec![ReportState::Submitted, ReportState::Closed]] {
                let f = InboxFilter {
                    kind,
                    states,
                    ..Default::default()
                };
                let page = inbox::list(conn, &scope, &f, InboxSort::Newest, None, 50, now)
                    .await
                    .unwrap();
                let want = expect(&a.path, &|r| kind.is_none_or(|k| r.kind == k));
                assert_eq!(page.counts, want, "scope {} kind {kind:?}", a.path);
                compared += 1;
            }
        }
        // An area filter inside the scope (each child area), on the counters' path.
        for child in w.areas.iter().filter(|c| c.parent_id == Some(a.id)) {
            let f = InboxFilter {
                area_id: Some(child.id),
                ..Default::default()
            };
            let page = inbox::list(conn, &scope, &f, InboxSort::Newest, None, 50, now)
                .await
                .unwrap();
            assert_eq!(
                page.counts,
                expect(&child.path, &|_| true),
                "area {}",
                child.path
            );
        }
        // Filters the counters cannot answer: counted from the rows.
        let f = InboxFilter {
            urgency: Some(Urgency::Urgent),
            ..Default::default()
        };
        let page = inbox::list(conn, &scope, &f, InboxSort::Newest, None, 50, now)
            .await
            .unwrap();
        let want = expect(&a.path, &|r| r.urgency == Urgency::Urgent);
        assert_eq!(page.counts, want, "urgent in {}", a.path);
        let f = InboxFilter {
            light: Some(Light::Red),
            ..Default::default()
        };
        let page = inbox::list(conn, &scope, &f, InboxSort::Newest, None, 50, now)
            .await
            .unwrap();
        let want = expect(&a.path, &|r| r.due_at.is_some_and(|d| d <= now));
        assert_eq!(page.counts, want, "red in {}", a.path);
        assert!(!page.counts_capped, "fewer than COUNT_CAP reports: exact");
        // The dashboard's state counts agree too.
        let d = stats::dashboard(conn, &scope, Period::all(), now)
            .await
            .unwrap();
        assert_eq!(
            d.by_state,
            expect(&a.path, &|_| true),
            "dashboard {}",
            a.path
        );
    }
    assert!(compared > 30);
}

async fn run(t: TestDb) {
    let w = setup(&t).await;
    let mut rng = Rng::new(0x5EED_0001);
    let mut now = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().unwrap();
    let mut ids = Vec::new();
    let mut done: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut escalated = 0;
    for step in 0..400 {
        now += Duration::minutes(rng.below(240) as i64 + 1);
        if ids.len() < 10 || rng.below(4) == 0 {
            ids.push(submit(&t.db, &w, &mut rng, now).await.id);
        } else if let Ok(code) = act(&t.db, &w, &ids, &mut rng, now).await {
            *done.entry(code).or_default() += 1;
        }
        if step % 50 == 49 {
            // Days pass: the scheduler escalates what is overdue.
            now += Duration::days(3);
            escalated += lifecycle::escalate_overdue(&t.db, now).await.unwrap();
            check_all(&t, &w, now).await;
        }
    }
    // Concurrent writers: four tasks acting on the same reports at once.
    let mut tasks = Vec::new();
    for k in 0..4u64 {
        let db = t.db.clone();
        let ids = ids.clone();
        let w2 = World {
            members: w.members.clone(),
            staff: w.staff.clone(),
            areas: w.areas.clone(),
            categories: w.categories.clone(),
        };
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0xC0FFEE + k);
            let mut ok = 0;
            for _ in 0..40 {
                if act(&db, &w2, &ids, &mut rng, now).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    now += Duration::days(10);
    escalated += lifecycle::escalate_overdue(&t.db, now).await.unwrap();
    check_all(&t, &w, now).await;

    // The run exercised every kind of step that moves a report.
    for code in [
        "accept", "assign", "return", "resubmit", "reject", "resolve", "close", "reopen",
        "escalate",
    ] {
        assert!(
            done.get(code).copied().unwrap_or(0) > 0 || (code == "escalate" && escalated > 0),
            "no successful {code} in the run: {done:?}"
        );
    }
    assert!(escalated > 0, "the scheduler escalated nothing");

    // Damage the table, then repair it.
    let conn = t.db.conn();
    conn.execute_unprepared("UPDATE report_counts SET n = n + 7")
        .await
        .unwrap();
    conn.execute_unprepared("DELETE FROM report_counts WHERE state = 'closed'")
        .await
        .unwrap();
    assert_ne!(
        counters::stored(conn).await.unwrap(),
        counters::counted_from_reports(conn).await.unwrap()
    );
    let total = counters::rebuild_counters(&t.db).await.unwrap();
    assert_eq!(total, ids.len() as u64);
    check_all(&t, &w, now).await;
}

db_test!(counters_follow_every_transition, run);

/// Reports loaded with raw SQL (the benchmark generator) bypass the core's writers:
/// `rebuild_counters` brings the counters up to date, the counter-answered counts are exact,
/// and a filter they cannot answer in the county stops counting at COUNT_CAP (flagged).
async fn bulk(t: TestDb) {
    let w = setup(&t).await;
    let conn = t.db.conn();
    // generate_reports ends with rebuild_counters.
    bench_data::generate_reports(&t.db, 1_500, 7).await;
    assert_eq!(
        counters::stored(conn).await.unwrap(),
        counters::counted_from_reports(conn).await.unwrap()
    );
    let all = report::Entity::find().all(conn).await.unwrap();
    assert_eq!(all.len(), 1_500);
    let county = Scope::of_area(&w.areas[0]);
    assert_eq!(w.areas[0].parent_id, None);
    let now = bench_data::bench_now();
    let page = inbox::list(
        conn,
        &county,
        &InboxFilter::default(),
        InboxSort::Newest,
        None,
        50,
        now,
    )
    .await
    .unwrap();
    assert!(!page.counts_capped);
    assert_eq!(page.counts.iter().map(|(_, n)| n).sum::<u64>(), 1_500);
    // Every description holds " #": more than COUNT_CAP match.
    let f = InboxFilter {
        text: Some("#".into()),
        ..Default::default()
    };
    let page = inbox::list(conn, &county, &f, InboxSort::Newest, None, 50, now)
        .await
        .unwrap();
    assert!(page.counts_capped);
    assert_eq!(
        page.counts.iter().map(|(_, n)| n).sum::<u64>(),
        inbox::COUNT_CAP + 1
    );
    assert_eq!(page.rows.len(), 50);
    // A selective text: exact again, and equal to a count of the rows.
    let f = InboxFilter {
        text: Some("#14".into()),
        ..Default::default()
    };
    let page = inbox::list(conn, &county, &f, InboxSort::Newest, None, 50, now)
        .await
        .unwrap();
    assert!(!page.counts_capped);
    let want = all.iter().filter(|r| r.description.contains("#14")).count() as u64;
    assert!(want > 10);
    assert_eq!(page.counts.iter().map(|(_, n)| n).sum::<u64>(), want);
}

db_test!(counters_after_bulk_load, bulk);

/// `gridline rebuild-counters` repairs damaged counters (SQLite file; the command is the same
/// core function the PostgreSQL variants above exercise).
#[tokio::test]
async fn rebuild_counters_command() {
    let t = TestDb::sqlite().await;
    setup(&t).await;
    bench_data::generate_reports(&t.db, 200, 3).await;
    let conn = t.db.conn();
    conn.execute_unprepared("UPDATE report_counts SET n = n * 3")
        .await
        .unwrap();
    assert_ne!(
        counters::stored(conn).await.unwrap(),
        counters::counted_from_reports(conn).await.unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = gridline_tests::run_gridline(dir.path(), &t.url, &["rebuild-counters"], None);
    assert!(out.status.success(), "{}", gridline_tests::stderr(&out));
    assert!(
        gridline_tests::stderr(&out).contains("200"),
        "{}",
        gridline_tests::stderr(&out)
    );
    assert_eq!(
        counters::stored(conn).await.unwrap(),
        counters::counted_from_reports(conn).await.unwrap()
    );
}
