//! The `gridline` binary: serve with no configuration, migrate, user add, codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use gridline_shared::domain::StaffRole;
use gridline_shared::staff;
use gridline_tests::{fixture, gridline_bin, run_gridline, stderr, stdout};

/// `gridline serve` in an empty directory with no settings at all: creates its SQLite file,
/// prints where to open it and the first admin's password, and answers /healthz.
#[tokio::test]
async fn serve_starts_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(gridline_bin())
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("GRIDLINE_DATABASE_URL")
        .env_remove("TELOXIDE_TOKEN")
        .env("GRIDLINE_LISTEN", "127.0.0.1:0")
        .env("GRIDLINE_LANG", "en")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    let mut password_line = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while addr.is_none() && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains("one-time password") {
                password_line = Some(line.clone());
            }
            if let Some(rest) = line.split("http://").nth(1) {
                addr = rest.split('/').next().map(str::to_owned);
            }
        }
    }
    let addr = addr.expect("serve never said where it listens");
    assert!(
        password_line.is_some(),
        "first start must print the admin's one-time password"
    );
    assert!(
        dir.path().join("gridline.db").exists(),
        "the default SQLite file is in the working directory"
    );

    let health = http_get(&addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // The panel: `/` sends a visitor to the login form, where the first admin can log in.
    let page = http_get(&addr, "/").await;
    assert!(page.starts_with("HTTP/1.1 303"), "{page}");
    assert!(page.contains("location: /login"), "{page}");
    let page = http_get(&addr, "/login").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("Gridline") && page.contains("微网格"),
        "{page}"
    );
    let password = password_line
        .as_deref()
        .and_then(|l| l.split("one-time password ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the password on the first-start line")
        .to_owned();
    let client = gridline_tests::panel::Client::new(&format!("http://{addr}"));
    let login = client.login("admin", &password).await;
    assert_eq!(
        login.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        login.body
    );
    // The printed password must be changed before anything else (issue 11).
    assert_eq!(login.location().as_deref(), Some("/password"));
    let inbox = client.get("/inbox").await;
    assert_eq!(inbox.location().as_deref(), Some("/password"));
    let token = client.get("/password").await.csrf();
    let changed = client
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
    assert_eq!(
        changed.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        changed.body
    );
    assert_eq!(client.get("/inbox").await.status, reqwest::StatusCode::OK);

    // SIGTERM stops it cleanly.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    // A second start does not create or print another password.
    let out = Command::new(gridline_bin())
        .args(["migrate"])
        .current_dir(dir.path())
        .env_remove("GRIDLINE_DATABASE_URL")
        .env("GRIDLINE_LANG", "en")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("password"));
}

/// A raw HTTP/1.1 GET over loopback (no HTTP client crate needed for two requests).
async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn user_add_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let roster = fixture("county-roster-small.csv");
    let out = run_gridline(
        dir.path(),
        &url,
        &["import", "roster", roster.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // user add: password from stdin, role and area checked.
    let ok = run_gridline(
        dir.path(),
        &url,
        &[
            "--lang",
            "en",
            "user",
            "add",
            "--username",
            "changle",
            "--role",
            "secretary",
            "--area",
            "晋原街道/长乐社区",
        ],
        Some("correct horse battery\n"),
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad_role = run_gridline(
        dir.path(),
        &url,
        &["user", "add", "--username", "x1", "--role", "mayor"],
        Some("correct horse battery\n"),
    );
    assert_eq!(bad_role.status.code(), Some(2));
    assert!(
        stderr(&bad_role).contains("county-admin"),
        "{}",
        stderr(&bad_role)
    );
    let bad_area = run_gridline(
        dir.path(),
        &url,
        &[
            "--lang",
            "en",
            "user",
            "add",
            "--username",
            "x2",
            "--role",
            "viewer",
            "--area",
            "晋原街道/没有这个社区",
        ],
        Some("correct horse battery\n"),
    );
    assert_eq!(bad_area.status.code(), Some(1));
    assert!(
        stderr(&bad_area).contains("没有这个社区"),
        "{}",
        stderr(&bad_area)
    );
    let no_password = run_gridline(
        dir.path(),
        &url,
        &[
            "--lang",
            "en",
            "user",
            "add",
            "--username",
            "x3",
            "--role",
            "viewer",
        ],
        Some(""),
    );
    assert_eq!(no_password.status.code(), Some(1));
    let taken = run_gridline(
        dir.path(),
        &url,
        &["user", "add", "--username", "changle", "--role", "viewer"],
        Some("correct horse battery\n"),
    );
    assert_eq!(taken.status.code(), Some(1));

    let db = gridline_shared::Db::connect(&url).await.unwrap();
    let user = staff::find_by_username(db.conn(), "changle")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, StaffRole::Secretary);
    assert!(
        user.password_hash.starts_with("$argon2id$"),
        "{}",
        user.password_hash
    );
    assert!(staff::verify_password("correct horse battery", &user.password_hash).await);
    assert!(!staff::verify_password("wrong", &user.password_hash).await);
    let area = gridline_shared::areas::resolve_names(db.conn(), "晋原街道/长乐社区")
        .await
        .unwrap();
    assert_eq!(user.area_id, area.id);
    assert!(
        staff::find_by_username(db.conn(), "x2")
            .await
            .unwrap()
            .is_none()
    );

    // codes: a header and one row per member, to stdout or --out.
    let codes = run_gridline(dir.path(), &url, &["codes"], None);
    assert!(codes.status.success(), "{}", stderr(&codes));
    let text = stdout(&codes);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["name", "phone", "area", "code", "deep_link", "bound"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 60);
    assert_eq!(&rows[0][0], "何刚华");
    assert_eq!(&rows[0][2], "晋原街道/长乐社区/第1网格/第1网格-1号微网格");
    assert_eq!(
        rows[0][4],
        format!("https://t.me/gridline_bot?start={}", &rows[0][3])
    );
    let out_file = dir.path().join("codes.csv");
    let to_file = run_gridline(
        dir.path(),
        &url,
        &[
            "codes",
            "--area",
            "晋原街道/长乐社区",
            "--out",
            out_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(to_file.status.success());
    assert!(
        stdout(&to_file).is_empty(),
        "tables go to --out, not stdout"
    );
    let file_rows = std::fs::read_to_string(&out_file).unwrap().lines().count();
    assert!(file_rows > 1 && file_rows < 61, "{file_rows}");
}
