//! The panel in a real headless Chromium (Debian's `chromium` and `chromedriver`): log in,
//! filter the inbox, take a report from submitted to closed through the UI, and check that the
//! reporter got every message through the delivery worker and the fake Telegram server.
//! Screenshots of the inbox, the report and (when present) the dashboard go to
//! `tests/artifacts/`.
//!
//! Without chromedriver this test prints a loud SKIPPED line — except under CI (`CI` set), where
//! it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use gridline_bot::transport::TelegramTransport;
use gridline_shared::delivery::{Step, Worker};
use gridline_shared::domain::{ReportKind, ReportState};
use gridline_tests::TestDb;
use gridline_tests::fake_telegram::{FakeTelegram, TOKEN};
use gridline_tests::panel::{
    LEADER_CHAT, PASSWORD, REPORTER_CHAT, file_report, install_crypto_provider, panel_world,
    reload, spawn_app,
};
use serde_json::json;

const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1366,900",
];

pub(crate) fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

pub(crate) fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port, killed when dropped.
pub(crate) struct Driver {
    child: tokio::process::Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub(crate) async fn start_driver(chromedriver: &Path) -> Driver {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = tokio::process::Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..150 {
        if let Ok(r) = http.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            return Driver {
                child,
                url,
                _profile: tempfile::tempdir().unwrap(),
            };
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not answer on port {port}");
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    let mut args: Vec<String> = FLAGS.iter().map(|s| (*s).to_owned()).collect();
    args.push(format!(
        "--user-data-dir={}",
        driver._profile.path().display()
    ));
    let mut options = json!({ "args": args });
    if let Some(bin) = find_program(&["chromium", "chromium-browser", "google-chrome"]) {
        options["binary"] = json!(bin.display().to_string());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("cannot open a Chromium session")
}

pub(crate) async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(&[0x89, b'P', b'N', b'G']));
    std::fs::write(artifacts().join(name), png).unwrap();
}

/// Clicks the element, finding it again when the page replaced it between finding and clicking
/// (a reload or a script re-rendering the part: "stale element reference").
pub(crate) async fn click(c: &Client, css: &str) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let element = wait_for(c, css).await;
        match element.click().await {
            Ok(()) => return,
            Err(e) if attempt < 5 && format!("{e:?}").contains("StaleElementReference") => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("clicking {css}: {e}"),
        }
    }
}

/// chromedriver, or `None` after a loud SKIPPED line for `test` (under CI a missing
/// chromedriver fails the test instead).
pub(crate) fn chromedriver_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_program(&["chromedriver"]);
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("chromedriver is missing but CI is set: install chromium and chromium-driver");
        }
        eprintln!(
            "\n\n    SKIPPED (no chromedriver): {test}\n    \
             install Debian's chromium and chromium-driver to run it\n\n"
        );
    }
    found
}

/// Opens `url` (the login form, or a page that shows it) and logs in as `user`.
pub(crate) async fn log_in(c: &Client, url: &str, user: &str, password: &str) {
    c.goto(url).await.unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=username]"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    click(c, "form.login button[type=submit]").await;
}

/// Waits (up to 20 s) for the element `css`.
pub(crate) async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

pub(crate) async fn wait_state(c: &Client, state: &str) {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!(
            "#report-state[data-state=\"{state}\"]"
        )))
        .await
        .unwrap_or_else(|e| panic!("the report did not reach {state}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_takes_a_report_from_submitted_to_closed() {
    let Some(chromedriver) =
        chromedriver_or_skip("browser_takes_a_report_from_submitted_to_closed")
    else {
        return;
    };
    install_crypto_provider();
    let t = TestDb::sqlite().await;
    let w = panel_world(&t).await;
    let target = file_report(
        &t.db,
        &w.reporter,
        ReportKind::Incident,
        "浏览器测试：三楼楼道灯不亮",
        |n| {
            n.address = Some("长乐社区 5 栋".into());
        },
    )
    .await;
    let other = file_report(
        &t.db,
        &w.leader,
        ReportKind::Request,
        "浏览器测试：想咨询低保政策",
        |_| {},
    )
    .await;
    let app = spawn_app(&t).await;
    let fake = FakeTelegram::start().await;
    let driver = start_driver(&chromedriver).await;
    let c = browser(&driver).await;

    // Log in.
    log_in(&c, &app.url("/"), "changle", PASSWORD).await;
    wait_for(&c, "table.inbox").await;
    assert!(c.current_url().await.unwrap().path().starts_with("/inbox"));
    let source = c.source().await.unwrap();
    assert!(source.contains(&format!("data-id=\"{}\"", other.id)));

    // Filter: incidents with "楼道" in the text.
    c.find(Locator::Css("select[name=kind]"))
        .await
        .unwrap()
        .select_by_value("incident")
        .await
        .unwrap();
    c.find(Locator::Css("input[name=q]"))
        .await
        .unwrap()
        .send_keys("楼道")
        .await
        .unwrap();
    click(&c, "#apply-filters").await;
    for _ in 0..100 {
        let url = c.current_url().await.unwrap();
        if url.query().unwrap_or("").contains("kind=incident") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for(&c, "table.inbox").await;
    let source = c.source().await.unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("kind=incident")
    );
    assert!(
        source.contains(&format!("data-id=\"{}\"", target.id)),
        "{source}"
    );
    assert!(
        !source.contains(&format!("data-id=\"{}\"", other.id)),
        "filtered out"
    );
    screenshot(&c, "inbox.png").await;

    // Submitted → accepted → assigned (to a grid leader) → resolved → closed.
    click(&c, &format!("a[href=\"/reports/{}\"].num", target.id)).await;
    wait_state(&c, "submitted").await;
    click(&c, "#do-accept").await;
    wait_state(&c, "accepted").await;
    c.find(Locator::Css("#assignee"))
        .await
        .unwrap()
        .select_by_value(&format!("m:{}", w.leader.id))
        .await
        .unwrap();
    click(&c, "#do-assign").await;
    wait_state(&c, "assigned").await;
    c.find(Locator::Css("#reply-note"))
        .await
        .unwrap()
        .send_keys("师傅下午到。")
        .await
        .unwrap();
    click(&c, "#do-reply").await;
    wait_state(&c, "assigned").await;
    click(&c, "#do-resolve").await;
    wait_state(&c, "resolved").await;
    click(&c, "#do-close").await;
    wait_state(&c, "closed").await;
    screenshot(&c, "report.png").await;
    assert_eq!(reload(&t.db, target.id).await.state, ReportState::Closed);

    // The dashboard, if the panel has one.
    c.goto(&app.url("/dashboard")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let source = c.source().await.unwrap();
    if !source.contains("class=\"card error-page\"") {
        screenshot(&c, "dashboard.png").await;
    } else {
        eprintln!("no /dashboard page yet: no dashboard screenshot");
    }
    c.close().await.unwrap();

    // The reporter hears about every step, through the queue and the Bot API.
    let bot = gridline_bot::make_bot(TOKEN, Some(&fake.api_url())).unwrap();
    let worker = Worker::new(t.db.clone(), TelegramTransport::new(bot), "browser-test");
    for _ in 0..50 {
        match worker.try_execute_task().await.unwrap() {
            Step::Idle => break,
            Step::Sent { .. } => {}
            other => panic!("unexpected delivery step {other:?}"),
        }
    }
    let to_reporter: Vec<String> = fake
        .sent_to(REPORTER_CHAT)
        .into_iter()
        .map(|m| m.text)
        .collect();
    let id = target.id;
    for expected in [
        format!("#{id} 已受理"),
        format!("#{id} 已派遣"),
        "师傅下午到。".to_owned(),
        format!("#{id} 已处置完毕"),
        format!("#{id} 已办结"),
    ] {
        assert!(
            to_reporter.iter().any(|m| m.contains(&expected)),
            "the reporter did not get {expected:?}: {to_reporter:?}"
        );
    }
    let task = fake.sent_to(LEADER_CHAT);
    assert!(
        task.iter()
            .any(|m| m.button_data().contains(&format!("task:start:{id}"))),
        "the grid leader got a task card: {task:?}"
    );
}
