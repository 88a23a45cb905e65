//! Roster import into real databases: counts, idempotence, bad rows, bad files, scope.

use gridline_shared::domain::AreaLevel;
use gridline_shared::entity::{area, member};
use gridline_shared::{areas, import, members, roster};
use gridline_tests::{db_test, fixture, run_gridline, stderr, stdout};
use sea_orm::{EntityTrait, PaginatorTrait};

async fn counts(db: &gridline_tests::TestDb) -> (u64, u64) {
    let m = member::Entity::find().count(db.db.conn()).await.unwrap();
    let a = area::Entity::find().count(db.db.conn()).await.unwrap();
    (m, a)
}

// The full county through the real binary: the figures, then nothing new on a second run.
db_test!(
    full_roster_through_the_binary,
    |t: gridline_tests::TestDb| async move {
        let dir = tempfile::tempdir().unwrap();
        let file = fixture("county-roster.csv");
        let file = file.to_str().unwrap();
        let first = run_gridline(
            dir.path(),
            &t.url,
            &["--lang", "en", "import", "roster", file],
            None,
        );
        assert!(first.status.success(), "stderr: {}", stderr(&first));
        let out = stdout(&first);
        assert!(
            out.contains("members: 7303 new, 0 updated, 0 unchanged"),
            "{out}"
        );
        assert!(
            out.contains("new areas: 20 towns, 211 communities, 1040 grids, 7303 micro-grids"),
            "{out}"
        );
        assert!(
            out.contains(
                "totals: 7303 members, 20 towns, 211 communities, 1040 grids, 7303 micro-grids"
            ),
            "{out}"
        );

        let second = run_gridline(
            dir.path(),
            &t.url,
            &["--lang", "en", "import", "roster", file],
            None,
        );
        assert!(second.status.success(), "stderr: {}", stderr(&second));
        let out = stdout(&second);
        assert!(
            out.contains("members: 0 new, 0 updated, 7303 unchanged"),
            "{out}"
        );
        assert!(
            out.contains("new areas: 0 towns, 0 communities, 0 grids, 0 micro-grids"),
            "{out}"
        );

        // And the database agrees, level by level.
        let scope = areas::root_scope(t.db.conn()).await.unwrap();
        let levels = areas::count_by_level(t.db.conn(), &scope).await.unwrap();
        assert_eq!(levels[&AreaLevel::County], 1);
        assert_eq!(levels[&AreaLevel::Town], 20);
        assert_eq!(levels[&AreaLevel::Community], 211);
        assert_eq!(levels[&AreaLevel::Grid], 1040);
        assert_eq!(levels[&AreaLevel::MicroGrid], 7303);
        assert_eq!(
            members::count_in_scope(t.db.conn(), &scope).await.unwrap(),
            7303
        );
        // Every member has a distinct 8-character bind code.
        let all = member::Entity::find().all(t.db.conn()).await.unwrap();
        let codes: std::collections::HashSet<_> = all.iter().map(|m| m.bind_code.clone()).collect();
        assert_eq!(codes.len(), 7303);
    }
);

// Corrections update people in place, keyed by phone; the Chinese output names the figures too.
db_test!(
    reimport_updates_by_phone,
    |t: gridline_tests::TestDb| async move {
        let scope = areas::root_scope(t.db.conn()).await.unwrap();
        let small = std::fs::read(fixture("county-roster-small.csv")).unwrap();
        let s = import::import_roster(
            &t.db,
            &scope,
            roster::parse_roster(&small).unwrap(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(
            (s.members_new, s.members_updated, s.members_unchanged),
            (60, 0, 0)
        );

        let text = String::from_utf8(small).unwrap();
        let moved = text.replacen("何刚华", "何刚华（更正）", 1).replacen(
            "第2网格,第2网格-1号微网格,方秀海",
            "第9网格,第9网格-1号微网格,方秀海",
            1,
        );
        let s = import::import_roster(
            &t.db,
            &scope,
            roster::parse_roster(moved.as_bytes()).unwrap(),
            |_, _| {},
        )
        .await
        .unwrap();
        assert_eq!(
            (s.members_new, s.members_updated, s.members_unchanged),
            (0, 2, 58)
        );
        assert_eq!(s.new_at(AreaLevel::Grid), 1);
        assert_eq!(s.new_at(AreaLevel::MicroGrid), 1);
        let (m, _) = counts(&t).await;
        assert_eq!(m, 60);
        let renamed = member::Entity::find()
            .all(t.db.conn())
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.phone == "19900000563")
            .unwrap();
        assert_eq!(renamed.name, "何刚华（更正）");
    }
);

// Bad rows: reported with row number and reason, the good rows imported, nothing of the bad ones
// left behind (not even their areas), and the binary exits non-zero.
db_test!(
    bad_rows_are_reported_and_leave_nothing,
    |t: gridline_tests::TestDb| async move {
        let csv = "镇街,村社区,网格,微网格,微网格长,手机号,标签\n\
        晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,19900000563,党员\n\
        坏镇,坏社区,坏网格,坏微网格,张三,12345,\n\
        晋原街道,长乐社区,第1网格,第1网格-2号微网格,马东,19900000563,\n\
        晋原街道,,第1网格,第1网格-3号微网格,李四,19900000999,\n\
        空号镇,空号社区,第1网格,第1网格-4号微网格,王五,,\n\
        晋原街道,长乐社区,第1网格,第1网格-5号微网格,赵六,199-0000-1234,新任、党员\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.csv");
        std::fs::write(&path, csv).unwrap();
        let out = run_gridline(
            dir.path(),
            &t.url,
            &["--lang", "en", "import", "roster", path.to_str().unwrap()],
            None,
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "stdout {} stderr {}",
            stdout(&out),
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(err.contains("4 rows were not imported"), "{err}");
        assert!(err.contains("row 3") && err.contains("12345"), "{err}");
        assert!(
            err.contains("row 4") && err.contains("row 2"),
            "duplicate names its first row: {err}"
        );
        assert!(err.contains("row 5"), "{err}");
        assert!(err.contains("row 6"), "{err}");
        assert!(stdout(&out).contains("members: 2 new"), "{}", stdout(&out));

        let all = member::Entity::find().all(t.db.conn()).await.unwrap();
        let mut phones: Vec<_> = all.iter().map(|m| m.phone.as_str()).collect();
        phones.sort();
        assert_eq!(phones, ["19900000563", "19900001234"]);
        let names: Vec<String> = area::Entity::find()
            .all(t.db.conn())
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        for ghost in ["坏镇", "坏社区", "空号镇", "第1网格-3号微网格"] {
            assert!(
                !names.iter().any(|n| n == ghost),
                "area {ghost} of a bad row was created"
            );
        }
        let zhao = all.iter().find(|m| m.phone == "19900001234").unwrap();
        assert_eq!(zhao.tag_list(), ["新任", "党员"]);
    }
);

// Files that are not rosters: a clear error, a non-zero exit, and the database untouched.
db_test!(
    broken_files_change_nothing,
    |t: gridline_tests::TestDb| async move {
        let before = counts(&t).await;
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("empty.csv", Vec::new(), "empty"),
            (
                "photo.csv",
                b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec(),
                "cannot be read as a roster",
            ),
            (
                "wrong.csv",
                "姓名,年龄\n张三,30\n".as_bytes().to_vec(),
                "header",
            ),
            (
                "header-only.csv",
                "镇街,村社区,网格,微网格,微网格长,手机号\n"
                    .as_bytes()
                    .to_vec(),
                "no data",
            ),
        ];
        for (name, bytes, expect) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let out = run_gridline(
                dir.path(),
                &t.url,
                &["--lang", "en", "import", "roster", path.to_str().unwrap()],
                None,
            );
            assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
            let err = stderr(&out).to_lowercase();
            assert!(err.contains(expect), "{name}: expected {expect:?} in {err}");
            assert!(!err.contains("panicked"), "{name}: {err}");
        }
        let missing = run_gridline(
            dir.path(),
            &t.url,
            &[
                "--lang",
                "en",
                "import",
                "roster",
                "/nonexistent/roster.csv",
            ],
            None,
        );
        assert_eq!(missing.status.code(), Some(1));
        assert!(
            stderr(&missing).contains("cannot read"),
            "{}",
            stderr(&missing)
        );
        assert_eq!(counts(&t).await, before);
    }
);

// GBK and XLSX files import the same people as the UTF-8 CSV.
db_test!(
    gbk_and_xlsx_rosters,
    |t: gridline_tests::TestDb| async move {
        let scope = areas::root_scope(t.db.conn()).await.unwrap();
        let text = std::fs::read_to_string(fixture("county-roster-small.csv")).unwrap();
        let (gbk, _, bad) = encoding_rs::GBK.encode(&text);
        assert!(!bad);
        let parsed = roster::parse_roster(&gbk).unwrap();
        assert_eq!(parsed.format, roster::RosterFormat::CsvGbk);
        let s = import::import_roster(&t.db, &scope, parsed, |_, _| {})
            .await
            .unwrap();
        assert_eq!(s.members_new, 60);

        // The same roster as XLSX, with English headers and numeric phone cells: nothing changes.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in [
            "town",
            "community",
            "grid",
            "micro_grid",
            "name",
            "phone",
            "tags",
        ]
        .iter()
        .enumerate()
        {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        for (r, line) in text.lines().skip(1).enumerate() {
            for (c, cell) in line.split(',').enumerate() {
                let row = r as u32 + 1;
                if c == 5 {
                    sheet
                        .write_number(row, c as u16, cell.trim().parse::<f64>().unwrap())
                        .unwrap();
                } else {
                    sheet.write_string(row, c as u16, cell.trim()).unwrap();
                }
            }
        }
        let bytes = book.save_to_buffer().unwrap();
        let parsed = roster::parse_roster(&bytes).unwrap();
        assert_eq!(parsed.format, roster::RosterFormat::Xlsx);
        let s = import::import_roster(&t.db, &scope, parsed, |_, _| {})
            .await
            .unwrap();
        assert_eq!(
            (s.members_new, s.members_updated, s.members_unchanged),
            (0, 0, 60)
        );
    }
);

// A town's importer cannot create or change anything outside the town.
db_test!(import_is_scoped, |t: gridline_tests::TestDb| async move {
    let root = areas::root_scope(t.db.conn()).await.unwrap();
    let seed = "镇街,村社区,网格,微网格,微网格长,手机号\n\
        晋原街道,长乐社区,第1网格,第1网格-1号微网格,甲,19900000001\n\
        安仁镇,汪安社区,第1网格,第1网格-1号微网格,乙,19900000002\n";
    import::import_roster(
        &t.db,
        &root,
        roster::parse_roster(seed.as_bytes()).unwrap(),
        |_, _| {},
    )
    .await
    .unwrap();
    let town = areas::resolve_names(t.db.conn(), "晋原街道").await.unwrap();
    let town_scope = gridline_shared::Scope::of_area(&town);
    let attempt = "镇街,村社区,网格,微网格,微网格长,手机号\n\
        晋原街道,长乐社区,第2网格,第2网格-1号微网格,丙,19900000003\n\
        安仁镇,汪安社区,第1网格,第1网格-1号微网格,乙改名,19900000002\n\
        新镇,新社区,第1网格,第1网格-1号微网格,丁,19900000004\n";
    let s = import::import_roster(
        &t.db,
        &town_scope,
        roster::parse_roster(attempt.as_bytes()).unwrap(),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(s.members_new, 1);
    assert_eq!(s.out_of_scope_rows, vec![3, 4]);
    assert!(areas::resolve_names(t.db.conn(), "新镇").await.is_err());
    let yi = member::Entity::find()
        .all(t.db.conn())
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.phone == "19900000002")
        .unwrap();
    assert_eq!(yi.name, "乙");
});
