//! Figures and files, called in the core: dashboard figures on a hand-made county with known
//! answers, exports (CSV and XLSX; number first, masked phones, unmasking refused to a viewer,
//! scoped), API tokens, and `gridline export reports` through the real binary.

use chrono::{Duration, TimeDelta};
use gridline_shared::api_tokens;
use gridline_shared::domain::{AreaLevel, ReportKind, ReportState, StaffRole};
use gridline_shared::entity::staff_user;
use gridline_shared::export::{self, CsvSink, ExportRequest, Exporter, VecSink, XlsxSink};
use gridline_shared::inbox::InboxFilter;
use gridline_shared::lifecycle::{self, Action, Actor, StaffActor};
use gridline_shared::reports::{self, NewReport};
use gridline_shared::stats::{self, Dashboard, Period, Rate};
use gridline_shared::{CoreError, Scope, holidays};
use gridline_tests::panel::member_by_phone;
use gridline_tests::{TestDb, db_test, run_gridline, stderr};

use crate::small_county::{self as world, now};

/// The dashboard as `user` sees it for `period`, at the world's `now()`.
async fn figures(t: &TestDb, user: &staff_user::Model, period: Period) -> Dashboard {
    stats::dashboard(t.db.conn(), &user.scope(), period, now())
        .await
        .unwrap()
}

/// The dashboard's area ranking as (name, on-time rate, closure rate).
fn ranking(d: &Dashboard) -> Vec<(&str, Rate, Rate)> {
    d.ranking
        .iter()
        .map(|a| (a.name.as_str(), a.on_time, a.closure))
        .collect()
}

fn count_of<T: PartialEq + Copy>(v: &[(T, u64)], k: T) -> u64 {
    v.iter().find(|(x, _)| *x == k).map_or(0, |(_, n)| *n)
}

db_test!(dashboard_figures_county, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let d = figures(&t, &w.county_admin, Period::all()).await;
    assert_eq!(d.total, 10);
    use ReportState::*;
    let expected_states = [
        (Submitted, 2),
        (Accepted, 1),
        (Assigned, 0),
        (InProgress, 1),
        (Resolved, 1),
        (Closed, 4),
        (Returned, 0),
        (Rejected, 1),
    ];
    for (s, n) in expected_states {
        assert_eq!(count_of(&d.by_state, s), n, "{s:?}");
    }
    assert_eq!(d.by_state.len(), ReportState::ALL.len());
    assert_eq!(count_of(&d.by_kind, ReportKind::Visit), 2);
    assert_eq!(count_of(&d.by_kind, ReportKind::Incident), 5);
    assert_eq!(count_of(&d.by_kind, ReportKind::Request), 3);
    let cats: Vec<(&str, u64)> = d
        .by_category
        .iter()
        .map(|c| (c.code.as_str(), c.count))
        .collect();
    assert_eq!(
        cats,
        vec![
            ("hazard", 3),
            ("none", 3),
            ("livelihood", 2),
            ("environment", 1),
            ("security", 1)
        ]
    );
    assert_eq!(d.by_category[0].name_zh, "安全隐患");
    assert_eq!(d.open_overdue, 2);
    assert_eq!(d.on_time, Rate::new(4, 7));
    assert_eq!(d.closure, Rate::new(4, 9));
    assert_eq!(d.median_time_to_close, TimeDelta::try_minutes(90));
    assert_eq!(
        d.close_time_histogram.iter().map(|b| b.count).sum::<u64>(),
        4
    );
    assert_eq!(d.bind, Rate::new(3, 4));
    assert_eq!(d.acknowledgement, None, "no notice was sent: n/a");
    assert_eq!(d.ranking_level, Some(AreaLevel::Town));
    assert_eq!(
        ranking(&d),
        vec![
            ("晋原街道", Rate::new(3, 6), Rate::new(3, 7)),
            ("安仁镇", Rate::new(1, 1), Rate::new(1, 2)),
        ],
        "lowest on-time rate first"
    );
    assert_eq!(Rate::new(4, 7).percent(), "57.1%");

    // A period: January's report (#10) drops out.
    let march = Period {
        from: Some(world::march(1, 0)),
        to: None,
    };
    let d = figures(&t, &w.county_admin, march).await;
    assert_eq!(d.total, 9);
    assert_eq!(count_of(&d.by_state, Accepted), 0);
    let d = figures(&t, &w.county_admin, Period::last_days(now(), 3)).await;
    assert_eq!(d.total, 2, "#4 and #5 were filed in the last three days");
});

db_test!(dashboard_figures_are_scoped, |t: TestDb| async move {
    let w = world::setup(&t).await;
    // The town sees its two communities only, ranked lowest first.
    let d = figures(&t, &w.town_admin, Period::all()).await;
    assert_eq!(d.total, 8, "安仁镇's reports are not counted");
    assert_eq!(d.on_time, Rate::new(3, 6));
    assert_eq!(d.closure, Rate::new(3, 7));
    assert_eq!(d.median_time_to_close, TimeDelta::try_minutes(60));
    assert_eq!(
        d.bind,
        Rate::new(3, 3),
        "the member who left is not counted"
    );
    assert_eq!(d.ranking_level, Some(AreaLevel::Community));
    assert_eq!(
        ranking(&d),
        vec![
            ("长乐社区", Rate::new(2, 4), Rate::new(2, 5)),
            ("另一社区", Rate::new(1, 2), Rate::new(1, 2)),
        ],
        "tie on on-time: lower closure rate first"
    );

    // The secretary of 长乐社区: its grids, one without any figure last.
    let d = figures(&t, &w.secretary, Period::all()).await;
    assert_eq!(d.total, 6);
    assert_eq!(d.open_overdue, 1);
    assert_eq!(d.ranking_level, Some(AreaLevel::Grid));
    let names: Vec<&str> = d.ranking.iter().map(|a| a.name.as_str()).collect();
    // 第2网格: #3 on time + #4 overdue = 1/2; 第1网格: #1 on time, #2 late = 1/2 but closure
    // 2/3 vs 0/2 → 第2网格 first; 第3网格 has nothing.
    assert_eq!(names, vec!["第2网格", "第1网格", "第3网格"]);
    assert_eq!(d.ranking[2].on_time.ratio(), None);
    assert_eq!(d.bind, Rate::new(2, 2));

    // Another town's secretary sees none of it.
    let d = figures(&t, &w.anren_secretary, Period::all()).await;
    assert_eq!(d.total, 2);
    assert_eq!(d.closure, Rate::new(1, 2));
});

db_test!(
    resolving_records_whether_the_deadline_was_met,
    |t: TestDb| async move {
        let w = world::setup(&t).await;
        let reporter = member_by_phone(&t.db, "19900000563").await;
        let cal = holidays::calendar(t.db.conn()).await.unwrap();
        let filed = world::march(2, 2); // Monday 10:00 in the county
        let secretary = Actor::Staff(StaffActor::of(&w.secretary));
        let mut ids = Vec::new();
        for i in 0..2 {
            let r = reports::submit(
                t.db.conn(),
                &reporter,
                NewReport {
                    kind: Some(ReportKind::Incident),
                    description: format!("楼道堆物 {i}"),
                    ..Default::default()
                },
                &cal,
                filed,
            )
            .await
            .unwrap();
            lifecycle::transition(
                &t.db,
                &secretary,
                r.id,
                Action::Assign(lifecycle::Assignee::Staff(w.secretary.id)),
                filed + Duration::minutes(10),
            )
            .await
            .unwrap();
            ids.push(r.id);
        }
        // Two working days to handle: the first is resolved the next day, the second a week late.
        let early = lifecycle::transition(
            &t.db,
            &secretary,
            ids[0],
            Action::Resolve { note: None },
            filed + Duration::days(1),
        )
        .await
        .unwrap();
        assert_eq!(early.report.resolved_on_time, Some(true));
        assert_eq!(early.report.due_at, None, "the clock stopped");
        let late = lifecycle::transition(
            &t.db,
            &secretary,
            ids[1],
            Action::Resolve { note: None },
            filed + Duration::days(9),
        )
        .await
        .unwrap();
        assert_eq!(late.report.resolved_on_time, Some(false));
        let d = figures(&t, &w.secretary, Period::all()).await;
        // The world's 长乐社区 figures (2 of 4) plus one on time and one late.
        assert_eq!(d.on_time, Rate::new(3, 6));
    }
);

fn filter() -> InboxFilter {
    InboxFilter::default()
}

async fn export_rows(
    t: &TestDb,
    exporter: Exporter,
    scope: &Scope,
    f: &InboxFilter,
    unmask: bool,
) -> Result<Vec<export::ExportRow>, CoreError> {
    let req = ExportRequest {
        scope,
        filter: f,
        unmask,
        locale: "zh-CN",
        now: now(),
    };
    let mut sink = VecSink::default();
    export::export_reports(t.db.conn(), exporter, &req, &mut sink)
        .await
        .map(|_| sink.0)
}

db_test!(exports_are_scoped_and_masked, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let all = export_rows(
        &t,
        Exporter::Staff(StaffRole::CountyAdmin),
        &w.county_admin.scope(),
        &filter(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        all.iter().map(|r| r.number).collect::<Vec<_>>(),
        w.ids,
        "every report, by number"
    );
    let r3 = &all[2];
    assert_eq!(r3.resident_phone, "138****5678");
    assert_eq!(r3.resident_name, "王**");
    assert_eq!(r3.kind, "诉求");
    assert_eq!(r3.state, "待核查");
    assert_eq!(r3.category, "民生/养老");
    assert_eq!(r3.area, "晋原街道/长乐社区/第2网格/第2网格-1号微网格");
    assert_eq!(r3.created, "2026-03-03 10:00", "county time");
    let r4 = &all[3];
    assert_eq!(r4.light, "红灯");
    assert_eq!(all[4].light, "绿灯", "#5 is due tomorrow");
    assert_eq!(all[0].light, "", "no deadline runs on a closed report");

    // Unmasked for a secretary in scope; refused to a viewer.
    let rows = export_rows(
        &t,
        Exporter::Staff(StaffRole::Secretary),
        &w.secretary.scope(),
        &filter(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[2].resident_phone, "13812345678");
    assert_eq!(rows[2].resident_name, "王小明");
    let refused = export_rows(
        &t,
        Exporter::Staff(StaffRole::Viewer),
        &w.viewer.scope(),
        &filter(),
        true,
    )
    .await;
    assert!(
        matches!(refused, Err(CoreError::Forbidden(_))),
        "{refused:?}"
    );
    // A viewer may export masked.
    let masked = export_rows(
        &t,
        Exporter::Staff(StaffRole::Viewer),
        &w.viewer.scope(),
        &filter(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(masked.len(), 10);

    // Scoped: the town admin of 晋原街道 never gets 安仁镇's reports.
    let town = export_rows(
        &t,
        Exporter::Staff(StaffRole::TownAdmin),
        &w.town_admin.scope(),
        &filter(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(town.len(), 8);
    assert!(town.iter().all(|r| r.area.starts_with("晋原街道/")));
    assert!(!town.iter().any(|r| r.resident_name == "赵六"));
    // An area filter outside the scope is not found.
    let f = InboxFilter {
        area_id: Some(w.anren.id),
        ..filter()
    };
    let outside = export_rows(
        &t,
        Exporter::Staff(StaffRole::TownAdmin),
        &w.town_admin.scope(),
        &f,
        false,
    )
    .await;
    assert!(matches!(outside, Err(CoreError::NotFound)), "{outside:?}");
    // Filters as in the inbox: closed incidents of 另一社区.
    let f = InboxFilter {
        states: vec![ReportState::Closed],
        kind: Some(ReportKind::Incident),
        area_id: Some(w.lingyi.id),
        ..filter()
    };
    let rows = export_rows(
        &t,
        Exporter::Staff(StaffRole::TownAdmin),
        &w.town_admin.scope(),
        &f,
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.number).collect::<Vec<_>>(),
        vec![w.ids[6]]
    );
});

db_test!(export_files_csv_and_xlsx, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let scope = w.secretary.scope();
    let f = filter();
    let req = ExportRequest {
        scope: &scope,
        filter: &f,
        unmask: false,
        locale: "en",
        now: now(),
    };
    // CSV for Excel: BOM, header, number first.
    let mut csv_sink = CsvSink::new(Vec::new(), "en", true).unwrap();
    let n = export::export_reports(
        t.db.conn(),
        Exporter::Staff(StaffRole::Secretary),
        &req,
        &mut csv_sink,
    )
    .await
    .unwrap();
    assert_eq!(n, 6);
    let bytes = csv_sink.finish().unwrap();
    assert!(bytes.starts_with("\u{FEFF}".as_bytes()));
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "number");
    assert_eq!(&headers[12], "resident_phone");
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 6);
    for (rec, id) in records.iter().zip(&w.ids) {
        assert_eq!(rec[0].parse::<i64>().unwrap(), *id);
    }
    assert_eq!(&records[2][1], "Request");
    assert_eq!(&records[2][12], "138****5678");
    assert!(!String::from_utf8_lossy(&bytes).contains("13812345678"));

    // XLSX: read it back.
    let mut x = XlsxSink::new("zh-CN").unwrap();
    let req = ExportRequest {
        locale: "zh-CN",
        ..req
    };
    export::export_reports(
        t.db.conn(),
        Exporter::Staff(StaffRole::Secretary),
        &req,
        &mut x,
    )
    .await
    .unwrap();
    let bytes = x.finish().unwrap();
    let rows = read_xlsx(&bytes);
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0][0], "编号");
    assert_eq!(rows[0][12], "群众电话");
    assert_eq!(rows[1][0], w.ids[0].to_string());
    assert_eq!(rows[3][12], "138****5678");
    assert_eq!(rows[3][1], "诉求");
});

/// Every cell of the first sheet as text.
pub fn read_xlsx(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = wb.worksheet_range_at(0).unwrap().unwrap();
    range
        .rows()
        .map(|row| {
            row.iter()
                .map(|c| match c {
                    Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect()
}

db_test!(api_tokens_lifecycle, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let created = api_tokens::create(&t.db, &w.secretary, "县数据中心", None, now())
        .await
        .unwrap();
    assert!(created.secret.starts_with("gl_"));
    assert_ne!(created.token.token_hash, created.secret, "stored hashed");
    assert!(created.secret.starts_with(&created.token.prefix));
    let (tok, user) = api_tokens::authenticate(&t.db, &created.secret, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, w.secretary.id);
    assert_eq!(tok.last_used_at, Some(now()));
    assert!(
        api_tokens::authenticate(&t.db, "gl_wrong", now())
            .await
            .unwrap()
            .is_none()
    );
    // Someone else cannot revoke it; its owner can.
    assert!(matches!(
        api_tokens::revoke(&t.db, w.county_admin.id, created.token.id, None, now()).await,
        Err(CoreError::NotFound)
    ));
    api_tokens::revoke(&t.db, w.secretary.id, created.token.id, None, now())
        .await
        .unwrap();
    assert!(
        api_tokens::authenticate(&t.db, &created.secret, now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        api_tokens::create(&t.db, &w.secretary, "  ", None, now())
            .await
            .is_err()
    );
    let list = api_tokens::list_of(t.db.conn(), w.secretary.id)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].revoked_at.is_some());
});

db_test!(cli_export_reports, |t: TestDb| async move {
    let w = world::setup(&t).await;
    let dir = tempfile::tempdir().unwrap();
    // CSV to stdout: header, then one row per report, number first; phones masked.
    let out = run_gridline(
        dir.path(),
        &t.url,
        &["--lang", "en", "export", "reports"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(&reader.headers().unwrap()[0], "number");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(
        rows.iter()
            .map(|r| r[0].parse::<i64>().unwrap())
            .collect::<Vec<_>>(),
        w.ids
    );
    assert!(!text.contains("13812345678"));
    assert!(text.contains("138****5678"));
    assert!(
        stderr(&out).contains("Exported 10 reports"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("138"), "no personal data in the log");

    // --area, --unmask, --out FILE.xlsx.
    let file = dir.path().join("changle.xlsx");
    let out = run_gridline(
        dir.path(),
        &t.url,
        &[
            "export",
            "reports",
            "--area",
            "晋原街道/长乐社区",
            "--unmask",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "the table went to the file");
    let rows = crate::stats_exports::read_xlsx(&std::fs::read(&file).unwrap());
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[3][12], "13812345678");
    assert_eq!(rows[0][0], "编号");

    // Filters and a bad area.
    let out = run_gridline(
        dir.path(),
        &t.url,
        &["export", "reports", "--state", "closed", "--format", "csv"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
    let out = run_gridline(
        dir.path(),
        &t.url,
        &["export", "reports", "--area", "没有这个镇"],
        None,
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
});
