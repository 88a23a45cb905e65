//! The demo county (`gridline serve --demo`): the seed through the core on SQLite and
//! PostgreSQL (every lifecycle state present, real timelines, notices with acknowledgements,
//! idempotent), and README's run commands run as written.

use std::collections::HashMap;

use chrono::Utc;
use gridline_admin::demo::{self, DEMO_LOGINS, DEMO_PASSWORD, DemoError};
use gridline_shared::domain::ReportState;
use gridline_shared::entity::{
    attachment, audit_entry, member, notice, outbox, report, report_event, simulator_message,
};
use gridline_shared::{areas, inbox, simulator, staff, stats};
use gridline_tests::{TestDb, db_test};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

db_test!(
    demo_seed_fills_every_state_and_is_idempotent,
    |t: TestDb| async move {
        let db = &t.db;
        let now = Utc::now();
        let started = std::time::Instant::now();
        let s = demo::seed(db, now).await.unwrap();
        eprintln!(
            "demo seed ({:?}): {:.1} s — {:?}",
            t.backend(),
            started.elapsed().as_secs_f64(),
            s
        );
        assert!(s.seeded_now);
        assert_eq!(s.members, 7303);
        assert!(s.bound > 5800 && s.bound < 7000, "bound {}", s.bound);
        assert_eq!(s.reports, demo::DEMO_REPORTS as u64);
        let by_state: HashMap<ReportState, u64> = s.by_state.iter().copied().collect();
        for &state in ReportState::ALL {
            assert!(
                by_state[&state] > 0,
                "no report is {state}: {:?}",
                s.by_state
            );
        }
        assert!(by_state[&ReportState::Closed] > 100, "{:?}", s.by_state);
        let escalated_open = report::Entity::find()
            .filter(report::Column::EscalationLevel.gt(0))
            .filter(report::Column::State.is_in(ReportState::OPEN.iter().copied()))
            .count(db.conn())
            .await
            .unwrap();
        assert!(escalated_open > 0);

        // Bound members write in simulated chats only (a real bot token never writes to them),
        // and every message queued for them was delivered by the chat simulator.
        let bound = member::Entity::find()
            .filter(member::Column::TelegramChatId.is_not_null())
            .all(db.conn())
            .await
            .unwrap();
        assert_eq!(bound.len() as u64, s.bound);
        for m in &bound {
            let chat = m.telegram_chat_id.unwrap();
            assert!(
                simulator::is_simulated_chat(chat),
                "member {}: {chat}",
                m.id
            );
            assert_eq!(m.telegram_user_id, Some(chat));
            assert!(simulator::playable(m));
        }
        let rows = outbox::Entity::find().all(db.conn()).await.unwrap();
        assert!(rows.len() > 1000, "{} queued messages", rows.len());
        for r in &rows {
            assert!(simulator::is_simulated_chat(r.chat_id), "outbox {}", r.id);
            assert_eq!(r.status.code(), "sent", "outbox {}", r.id);
        }
        let shown = simulator_message::Entity::find()
            .filter(simulator_message::Column::OutboxId.is_not_null())
            .count(db.conn())
            .await
            .unwrap();
        assert_eq!(
            shown,
            rows.len() as u64,
            "each delivered message is in a transcript"
        );

        // What the database holds agrees with the summary, and every report has a real timeline.
        let total = report::Entity::find().count(db.conn()).await.unwrap();
        assert_eq!(total, s.reports);
        let events = report_event::Entity::find().count(db.conn()).await.unwrap();
        assert!(events > total * 3, "{events} events for {total} reports");
        let closed = report::Entity::find()
            .filter(report::Column::State.eq(ReportState::Closed))
            .all(db.conn())
            .await
            .unwrap();
        for r in closed.iter().take(20) {
            let tl = report_event::Entity::find()
                .filter(report_event::Column::ReportId.eq(r.id))
                .all(db.conn())
                .await
                .unwrap();
            assert_eq!(tl.first().unwrap().action.code(), "submit");
            assert_eq!(tl.last().unwrap().to_state, Some(ReportState::Closed));
            assert!(
                tl.windows(2).all(|w| w[0].at <= w[1].at),
                "timeline out of order"
            );
            assert!(r.created_at > now - chrono::Duration::days(demo::DEMO_DAYS + 1));
            assert!(r.closed_at.unwrap() <= now);
        }
        assert!(attachment::Entity::find().count(db.conn()).await.unwrap() > 20);
        assert!(audit_entry::Entity::find().count(db.conn()).await.unwrap() > 500);

        // Lights: the inbox shows green, yellow and red reports.
        let open = report::Entity::find()
            .filter(report::Column::State.is_in([
                ReportState::Submitted,
                ReportState::Accepted,
                ReportState::Assigned,
                ReportState::InProgress,
            ]))
            .all(db.conn())
            .await
            .unwrap();
        let mut lights = HashMap::new();
        for r in &open {
            if let Some(l) = inbox::light_of(r, now) {
                *lights.entry(format!("{l:?}")).or_insert(0) += 1;
            }
        }
        for l in ["Green", "Yellow", "Red"] {
            assert!(
                lights.get(l).copied().unwrap_or(0) > 0,
                "no {l} light: {lights:?}"
            );
        }

        // The busy community's secretary has a full inbox; the dashboard counts what is stored.
        let secretary = staff::find_by_username(db.conn(), "changle")
            .await
            .unwrap()
            .unwrap();
        let mine = report::Entity::find()
            .filter(secretary.scope().condition(report::Column::OriginAreaPath))
            .count(db.conn())
            .await
            .unwrap();
        assert!(mine > 80, "only {mine} reports in the busy community");
        let root = areas::root_scope(db.conn()).await.unwrap();
        let d = stats::dashboard(db.conn(), &root, stats::Period::all(), now)
            .await
            .unwrap();
        assert_eq!(d.total, total);
        assert!(d.open_overdue > 0);
        assert!(d.bind.num > 5800);

        // Two notices, sent and mostly delivered, a share acknowledged.
        let notices = notice::Entity::find().all(db.conn()).await.unwrap();
        assert_eq!(notices.len(), 2);
        for n in &notices {
            assert_eq!(n.status.code(), "active");
            let c = gridline_shared::notices::delivery_counts(db.conn(), &root, &[n.id])
                .await
                .unwrap()[&n.id];
            assert!(c.sent > 100 && c.queued == 0, "notice {}: {c:?}", n.title);
            assert!(
                c.acknowledged > 0 && c.acknowledged < c.sent,
                "notice {}: {c:?}",
                n.title
            );
        }
        assert!(s.acknowledged > 100);

        // Logins: every demo user logs in with the demo password.
        for login in DEMO_LOGINS {
            let u = staff::find_by_username(db.conn(), login.username)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(u.role, login.role);
            assert!(staff::verify_password(DEMO_PASSWORD, &u.password_hash).await);
        }

        // A second start seeds nothing.
        let again = demo::seed(db, Utc::now()).await.unwrap();
        assert!(!again.seeded_now);
        assert_eq!(again.reports, s.reports);
        assert_eq!(again.by_state, s.by_state);
        assert_eq!(again.acknowledged, s.acknowledged);
        assert_eq!(member::Entity::find().count(db.conn()).await.unwrap(), 7303);
        assert_eq!(notice::Entity::find().count(db.conn()).await.unwrap(), 2);
        demo::reset_logins(db).await.unwrap();
        assert_eq!(
            gridline_shared::entity::staff_user::Entity::find()
                .count(db.conn())
                .await
                .unwrap(),
            DEMO_LOGINS.len() as u64
        );
    }
);

db_test!(
    demo_refuses_a_database_with_other_data,
    |t: TestDb| async move {
        let db = &t.db;
        let root = areas::find_root(db.conn()).await.unwrap().unwrap();
        staff::create(
            db.conn(),
            "real",
            "a real password",
            gridline_shared::domain::StaffRole::CountyAdmin,
            &root,
        )
        .await
        .unwrap();
        let err = demo::seed(db, Utc::now()).await.unwrap_err();
        assert!(matches!(err, DemoError::NotEmpty), "{err}");
        assert_eq!(report::Entity::find().count(db.conn()).await.unwrap(), 0);
        assert_eq!(member::Entity::find().count(db.conn()).await.unwrap(), 0);
    }
);

// ---------------------------------------------------------------------------------------------
// README's run commands, run as written

/// The `cargo run -- serve…` lines of README.md's shell blocks, as argument lists.
fn readme_serve_commands() -> Vec<Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let mut in_sh = false;
    let mut out = Vec::new();
    for line in readme.lines() {
        let l = line.trim();
        if l.starts_with("```") {
            in_sh = l == "```sh";
            continue;
        }
        if in_sh && let Some(rest) = l.strip_prefix("cargo run -- ") {
            let args: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
            if args.first().map(String::as_str) == Some("serve") {
                out.push(args);
            }
        }
    }
    out
}

/// A `gridline` started as README says (with `cargo run --` replaced by the built binary), in
/// an empty working directory, on a free port; stderr is collected line by line. Killed when
/// dropped.
struct Running {
    child: tokio::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[String], dir: &std::path::Path) -> Running {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(gridline_tests::gridline_bin())
            .args(args)
            .current_dir(dir)
            // Only the port is changed, so parallel tests do not clash; nothing else is set.
            .env("GRIDLINE_LISTEN", "127.0.0.1:0")
            .env_remove("GRIDLINE_DATABASE_URL")
            .env_remove("GRIDLINE_CONFIG")
            .env_remove("GRIDLINE_LANG")
            .env_remove("TELOXIDE_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Reads stderr until `done` says the output so far is complete (or fails after `secs`).
    async fn until(&mut self, secs: u64, done: impl Fn(&[String]) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !done(&self.seen) {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => self.seen.push(line),
                Ok(None) => panic!("gridline exited early:\n{}", self.seen.join("\n")),
                Err(_) => panic!(
                    "gridline did not finish starting:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The first `http://…/` address printed.
fn printed_url(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|l| {
        let at = l.find("http://")?;
        let url: String = l[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '/'))
            .collect();
        Some(url.trim_end_matches('/').to_owned())
    })
}

/// Demo login lines: `  username / password — role (area)`.
fn printed_logins(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l.starts_with("  ") && l.contains(" / ") && l.contains(" — "))
        .filter_map(|l| {
            let (user, rest) = l.trim().split_once(" / ")?;
            let (password, _) = rest.split_once(" — ")?;
            Some((user.to_owned(), password.to_owned()))
        })
        .collect()
}

fn panel_client(base: &str) -> gridline_tests::panel::Client {
    gridline_tests::panel::Client {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: base.to_owned(),
    }
}

/// The numbers of `<span class="count">N</span>` in a page, in order.
fn counts(html: &str) -> Vec<u64> {
    html.split("<span class=\"count\">")
        .skip(1)
        .filter_map(|s| s.split('<').next()?.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_demo_command_serves_a_working_county() {
    let commands = readme_serve_commands();
    let demo_args = commands
        .iter()
        .find(|a| a.iter().any(|x| x == "--demo"))
        .unwrap_or_else(|| panic!("README.md has no `cargo run -- serve --demo`: {commands:?}"))
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let mut run = Running::start(&demo_args, dir.path());
    // The seed takes a while on a cold debug build; the logins come last.
    run.until(240, |lines| {
        printed_url(lines).is_some() && printed_logins(lines).len() >= 4
    })
    .await;
    let url = printed_url(&run.seen).unwrap();
    assert!(
        !url.ends_with(":0"),
        "the printed URL is not the bound port: {url}"
    );
    let logins = printed_logins(&run.seen);
    let users: Vec<&str> = logins.iter().map(|(u, _)| u.as_str()).collect();
    assert!(users.contains(&"admin"), "{users:?}");

    // A separate demo database in the working directory, never gridline.db.
    assert!(dir.path().join("gridline-demo.db").exists());
    assert!(!dir.path().join("gridline.db").exists());
    let db = gridline_shared::Db::connect(&format!(
        "sqlite://{}",
        dir.path().join("gridline-demo.db").display()
    ))
    .await
    .unwrap();
    let total = report::Entity::find().count(db.conn()).await.unwrap();
    assert!(total > 200, "{total} reports");

    // Every printed login works; the county admin's dashboard shows the stored reports.
    for (user, password) in &logins {
        let c = panel_client(&url);
        let page = c.login(user, password).await;
        assert_eq!(page.status, reqwest::StatusCode::SEE_OTHER, "login {user}");
        assert_eq!(
            c.get("/inbox").await.status,
            reqwest::StatusCode::OK,
            "{user}"
        );
    }
    let (user, password) = logins.iter().find(|(u, _)| u == "admin").unwrap();
    let c = panel_client(&url);
    c.login(user, password).await;
    let dash = c.get("/dashboard?days=0").await;
    assert_eq!(dash.status, reqwest::StatusCode::OK);
    let shown: u64 = dash
        .body
        .split("figure-value\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total on the dashboard:\n{}", dash.body));
    assert_eq!(shown, total);
    let inbox = c.get("/inbox").await;
    assert_eq!(inbox.status, reqwest::StatusCode::OK);
    let tabs = counts(&inbox.body);
    assert!(
        tabs.iter().skip(1).filter(|n| **n > 0).count() >= 6,
        "state counts on the inbox: {tabs:?}"
    );
    let notices = c.get("/notices").await;
    assert!(
        notices.body.contains("冬季消防安全隐患排查"),
        "{}",
        notices.body
    );

    // A second start of the same command in the same directory seeds nothing more, and
    // prints the same logins.
    run.child.start_kill().unwrap();
    let _ = run.child.wait().await;
    let mut again = Running::start(&demo_args, dir.path());
    again
        .until(120, |lines| {
            printed_url(lines).is_some() && printed_logins(lines).len() >= 4
        })
        .await;
    assert_eq!(printed_logins(&again.seen), logins);
    assert_eq!(
        report::Entity::find().count(db.conn()).await.unwrap(),
        total
    );
    let c = panel_client(&printed_url(&again.seen).unwrap());
    assert_eq!(
        c.login(user, password).await.status,
        reqwest::StatusCode::SEE_OTHER
    );
    again.child.start_kill().unwrap();
    let _ = again.child.wait().await;
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_run_command_prints_where_and_how_to_log_in() {
    let commands = readme_serve_commands();
    let args = commands
        .iter()
        .find(|a| a.len() == 1)
        .unwrap_or_else(|| panic!("README.md has no plain `cargo run -- serve`: {commands:?}"))
        .clone();
    let dir = tempfile::tempdir().unwrap();
    let mut run = Running::start(&args, dir.path());
    run.until(120, |lines| {
        printed_url(lines).is_some() && lines.iter().any(|l| l.contains("admin"))
    })
    .await;
    let url = printed_url(&run.seen).unwrap();
    assert!(!url.ends_with(":0"), "{url}");
    assert!(dir.path().join("gridline.db").exists());
    assert!(!dir.path().join("gridline-demo.db").exists());
    // The one-time password: the 16-character word on the line that names `admin`.
    let line = run.seen.iter().find(|l| l.contains("admin")).unwrap();
    let password = line
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 16)
        .unwrap_or_else(|| panic!("no password in {line:?}"))
        .to_owned();
    let c = panel_client(&url);
    let login = c.login("admin", &password).await;
    assert_eq!(login.status, reqwest::StatusCode::SEE_OTHER);
    // The printed password is changed first (issue 11); then the panel opens.
    assert_eq!(login.location().as_deref(), Some("/password"));
    let token = c.get("/password").await.csrf();
    let changed = c
        .post_raw(
            "/password",
            &[
                ("csrf_token", token.as_str()),
                ("current", password.as_str()),
                ("new", "the county's own admin passphrase"),
                ("confirm", "the county's own admin passphrase"),
            ],
        )
        .await;
    assert_eq!(changed.status, reqwest::StatusCode::SEE_OTHER);
    let inbox = c.get("/inbox").await;
    assert_eq!(inbox.status, reqwest::StatusCode::OK);
    // A fresh county: no reports.
    assert_eq!(counts(&inbox.body).first().copied(), Some(0));
    run.child.start_kill().unwrap();
    let _ = run.child.wait().await;
}

// ---------------------------------------------------------------------------------------------
// Screenshots for README (headless Chromium)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_screenshots_in_a_browser() {
    use crate::panel_browser::{
        browser, chromedriver_or_skip, log_in, screenshot, start_driver, wait_for,
    };
    use std::time::Duration;

    let Some(chromedriver) = chromedriver_or_skip("demo_screenshots_in_a_browser") else {
        return;
    };
    gridline_tests::panel::install_crypto_provider();
    let t = TestDb::sqlite().await;
    demo::seed(&t.db, Utc::now()).await.unwrap();
    let app = gridline_tests::panel::spawn_app(&t).await;

    // The report to show: from the busy community, with a photo and the longest timeline.
    let secretary = staff::find_by_username(t.db.conn(), "changle")
        .await
        .unwrap()
        .unwrap();
    let with_photo: Vec<i64> = attachment::Entity::find()
        .all(t.db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.report_id)
        .collect();
    let mut best = (0, 0);
    for r in report::Entity::find()
        .filter(secretary.scope().condition(report::Column::OriginAreaPath))
        .filter(report::Column::Id.is_in(with_photo))
        .all(t.db.conn())
        .await
        .unwrap()
    {
        let n = report_event::Entity::find()
            .filter(report_event::Column::ReportId.eq(r.id))
            .count(t.db.conn())
            .await
            .unwrap();
        if n > best.1 {
            best = (r.id, n);
        }
    }
    assert!(
        best.1 >= 3,
        "no report with a photo and a timeline in the busy community"
    );

    let driver = start_driver(&chromedriver).await;
    let c = browser(&driver).await;
    c.set_window_size(1280, 900).await.unwrap();
    let login = |user: &'static str| {
        let c = c.clone();
        let url = app.url("/login");
        async move {
            c.delete_all_cookies().await.unwrap();
            log_in(&c, &url, user, DEMO_PASSWORD).await;
            wait_for(&c, "table.inbox").await;
        }
    };

    // The county admin's dashboard.
    login("admin").await;
    c.goto(&app.url("/dashboard")).await.unwrap();
    wait_for(&c, ".figure-value").await;
    let source = c.source().await.unwrap();
    let total = report::Entity::find().count(t.db.conn()).await.unwrap();
    assert!(
        source.contains(&format!("figure-value\">{total}<")),
        "dashboard total"
    );
    screenshot(&c, "demo-dashboard.png").await;

    // The busy community's inbox and one of its reports.
    login("changle").await;
    let source = c.source().await.unwrap();
    assert!(source.matches("data-id=\"").count() >= 10, "a full inbox");
    screenshot(&c, "demo-inbox.png").await;
    c.goto(&app.url(&format!("/reports/{}", best.0)))
        .await
        .unwrap();
    wait_for(&c, "#report-state").await;
    // Let the photo load before the picture is taken.
    tokio::time::sleep(Duration::from_millis(500)).await;
    screenshot(&c, "demo-report.png").await;
    c.close().await.unwrap();
}
