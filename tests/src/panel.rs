//! Panel test support: the panel served in-process on a test database (port 0), HTTP clients
//! with a cookie jar, log-in and CSRF helpers, and a small county with staff of every role.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use gridline_admin::app::Application;
use gridline_admin::config::Settings;
use gridline_shared::domain::{ReportKind, StaffRole, Urgency};
use gridline_shared::entity::{area, category, member, report, report_event, staff_user};
use gridline_shared::import::ImportSummary;
use gridline_shared::reports::{self, NewReport};
use gridline_shared::{Db, areas, holidays, import, roster, staff};
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::TestDb;

pub const PASSWORD: &str = "long enough password";

/// Installs one rustls crypto provider for the process (ring), before any TLS user starts.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A running panel.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    pub db: Db,
    pub settings: Arc<Settings>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the panel on the test database (a free port on 127.0.0.1) and returns its address.
/// Its settings are production's defaults: the chat simulator is off (tests of it turn it on
/// with `spawn_app_with(&t, |s| s.simulator = Some(true))`).
pub async fn spawn_app(t: &TestDb) -> TestApp {
    spawn_app_with(t, |_| {}).await
}

/// [`spawn_app`] with changed settings.
pub async fn spawn_app_with(t: &TestDb, change: impl FnOnce(&mut Settings)) -> TestApp {
    install_crypto_provider();
    let mut settings = Settings {
        database_url: t.url.clone(),
        listen: "127.0.0.1:0".into(),
        county_name: crate::COUNTY.into(),
        ..Settings::default()
    };
    change(&mut settings);
    let settings = Arc::new(settings);
    let app = Application::build(settings.clone(), t.db.clone())
        .await
        .expect("bind the panel");
    let addr = app.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .run_until(async {
                let _ = rx.await;
            })
            .await;
    });
    TestApp {
        base: format!("http://{addr}"),
        db: t.db.clone(),
        settings,
        shutdown: Some(tx),
    }
}

/// A response read to the end.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        csrf_from(&self.body).expect("no csrf_token on the page")
    }
}

/// The value of the first `csrf_token` hidden input in some HTML.
pub fn csrf_from(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_owned())
}

/// The value of cookie `name` in a list of `Set-Cookie` headers.
pub fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k.trim() == name).then(|| v.trim().to_owned())
    })
}

/// A browser-like client: its own cookie jar, no automatic redirects.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh client (not logged in).
    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// A client logged in as `username` (panics if the login fails).
    pub async fn login(&self, username: &str) -> Client {
        let c = self.client();
        let page = c.login(username, PASSWORD).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "login of {username} failed: {}",
            page.body
        );
        c
    }
}

impl Client {
    /// A fresh client of the panel at `base` (`http://host:port`), not logged in.
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        read(r).await
    }

    /// Posts a form as is (no CSRF token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    /// Posts a form with the CSRF token taken from `page_path` (GET first).
    pub async fn post_from(&self, page_path: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let token = self.get(page_path).await.csrf();
        let mut full: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
        full.extend_from_slice(form);
        self.post_raw(path, &full).await
    }

    /// Posts a form with the CSRF token of the inbox page (any logged-in page has the same).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from("/inbox", path, form).await
    }

    /// Posts a multipart/form-data body: the text fields as given (no CSRF token added), then
    /// the file part if any.
    pub async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<FilePart<'_>>,
    ) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={MULTIPART_BOUNDARY}"),
            )
            .body(multipart_body(fields, file))
            .send()
            .await
            .unwrap();
        read(r).await
    }

    /// GET /login, then POST the form. Returns the POST's answer.
    pub async fn login(&self, username: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let token = form.csrf();
        self.post_raw(
            "/login",
            &[
                ("csrf_token", &token),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

/// The boundary of the bodies [`multipart_body`] writes.
pub const MULTIPART_BOUNDARY: &str = "----gridlinetestboundary7MA4YWxk";

/// One file in a multipart form.
pub struct FilePart<'a> {
    /// The form field (`file` in every panel form).
    pub field: &'a str,
    /// The file name sent (`""` for an empty file input).
    pub name: &'a str,
    pub mime: &'a str,
    pub content: &'a [u8],
}

impl<'a> FilePart<'a> {
    /// `content` as field `file`, named `name`, of type application/octet-stream.
    pub fn octets(name: &'a str, content: &'a [u8]) -> Self {
        FilePart {
            field: "file",
            name,
            mime: "application/octet-stream",
            content,
        }
    }
}

/// A multipart/form-data body (boundary [`MULTIPART_BOUNDARY`]): the text fields in order,
/// then the file part if any.
pub fn multipart_body(fields: &[(&str, &str)], file: Option<FilePart<'_>>) -> Vec<u8> {
    let boundary = MULTIPART_BOUNDARY;
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some(f) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                f.field, f.name, f.mime
            )
            .as_bytes(),
        );
        body.extend_from_slice(f.content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

async fn read(r: reqwest::Response) -> Page {
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    Page {
        status,
        headers,
        body,
    }
}

// ---------------------------------------------------------------------------------------------
// A small county
// ---------------------------------------------------------------------------------------------

/// Three members in 长乐社区 (the last never binds), one in 另一社区, one in 安仁镇.
pub const ROSTER: &str = "镇街,村社区,网格,微网格,微网格长,手机号,标签\n\
    晋原街道,长乐社区,第1网格,第1网格-1号微网格,何刚华,19900000563,党员\n\
    晋原街道,长乐社区,第2网格,第2网格-1号微网格,方秀海,19900000767,\n\
    晋原街道,长乐社区,第3网格,第3网格-1号微网格,马东,19900001234,\n\
    晋原街道,另一社区,第1网格,第1网格-1号微网格,孟波玉,19900001562,\n\
    安仁镇,安仁社区,第1网格,第1网格-1号微网格,万丽,19900002266,\n";

/// Telegram chat ids of the bound members.
pub const REPORTER_CHAT: i64 = 5001;
pub const LEADER_CHAT: i64 = 5002;
pub const OTHER_CHAT: i64 = 5004;
pub const ANREN_CHAT: i64 = 5005;

pub struct PanelWorld {
    pub root: area::Model,
    pub town: area::Model,
    pub changle: area::Model,
    pub lingyi: area::Model,
    pub anren: area::Model,
    /// Bound, 长乐社区: files reports.
    pub reporter: member::Model,
    /// Bound, 长乐社区: gets tasks.
    pub leader: member::Model,
    /// Bound, 另一社区.
    pub other_member: member::Model,
    /// Bound, 安仁社区.
    pub anren_member: member::Model,
    /// Usernames: `county` (county admin), `town` (晋原街道 admin), `changle` (长乐社区
    /// secretary), `lingyi` (另一社区 secretary), `viewer` (长乐社区 viewer), `anren`
    /// (安仁社区 secretary). All with [`PASSWORD`].
    pub county: staff_user::Model,
    pub town_admin: staff_user::Model,
    pub secretary: staff_user::Model,
    pub other_secretary: staff_user::Model,
    pub viewer: staff_user::Model,
    pub anren_secretary: staff_user::Model,
}

pub async fn member_by_phone(db: &Db, phone: &str) -> member::Model {
    member::Entity::find()
        .filter(member::Column::Phone.eq(phone))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no member with phone {phone}"))
}

async fn bind(db: &Db, phone: &str, chat: i64) -> member::Model {
    bind_at(db, phone, chat, Utc::now()).await
}

/// Binds the member with this phone to Telegram (what `/start <code>` does), with `chat` as
/// user and chat id, at `at`.
pub async fn bind_at(db: &Db, phone: &str, chat: i64, at: DateTime<Utc>) -> member::Model {
    let m = member_by_phone(db, phone).await;
    let mut a: member::ActiveModel = m.into();
    a.telegram_user_id = Set(Some(chat));
    a.telegram_chat_id = Set(Some(chat));
    a.bound_at = Set(Some(at));
    a.update(db.conn()).await.unwrap()
}

/// Imports a roster CSV over the whole county (what `gridline import roster` does).
pub async fn import_csv(db: &Db, csv: &str) -> ImportSummary {
    let scope = areas::root_scope(db.conn()).await.unwrap();
    import::import_roster(
        db,
        &scope,
        roster::parse_roster(csv.as_bytes()).unwrap(),
        |_, _| {},
    )
    .await
    .unwrap()
}

async fn area_named(db: &Db, names: &str) -> area::Model {
    areas::resolve_names(db.conn(), names).await.unwrap()
}

pub async fn make_staff(
    db: &Db,
    username: &str,
    role: StaffRole,
    a: &area::Model,
) -> staff_user::Model {
    staff::create(db.conn(), username, PASSWORD, role, a)
        .await
        .unwrap()
}

pub async fn panel_world(t: &TestDb) -> PanelWorld {
    let db = &t.db;
    import_csv(db, ROSTER).await;
    let root = areas::find_root(db.conn()).await.unwrap().unwrap();
    let town = area_named(db, "晋原街道").await;
    let changle = area_named(db, "晋原街道/长乐社区").await;
    let lingyi = area_named(db, "晋原街道/另一社区").await;
    let anren = area_named(db, "安仁镇/安仁社区").await;
    let reporter = bind(db, "19900000563", REPORTER_CHAT).await;
    let leader = bind(db, "19900000767", LEADER_CHAT).await;
    let other_member = bind(db, "19900001562", OTHER_CHAT).await;
    let anren_member = bind(db, "19900002266", ANREN_CHAT).await;
    PanelWorld {
        county: make_staff(db, "county", StaffRole::CountyAdmin, &root).await,
        town_admin: make_staff(db, "town", StaffRole::TownAdmin, &town).await,
        secretary: make_staff(db, "changle", StaffRole::Secretary, &changle).await,
        other_secretary: make_staff(db, "lingyi", StaffRole::Secretary, &lingyi).await,
        viewer: make_staff(db, "viewer", StaffRole::Viewer, &changle).await,
        anren_secretary: make_staff(db, "anren", StaffRole::Secretary, &anren).await,
        root,
        town,
        changle,
        lingyi,
        anren,
        reporter,
        leader,
        other_member,
        anren_member,
    }
}

/// Files a report as `by` now (through the core), with a description and optional extras.
pub async fn file_report(
    db: &Db,
    by: &member::Model,
    kind: ReportKind,
    description: &str,
    change: impl FnOnce(&mut NewReport),
) -> report::Model {
    file_report_at(db, by, kind, description, Utc::now(), change).await
}

pub async fn file_report_at(
    db: &Db,
    by: &member::Model,
    kind: ReportKind,
    description: &str,
    at: DateTime<Utc>,
    change: impl FnOnce(&mut NewReport),
) -> report::Model {
    let mut new = NewReport {
        kind: Some(kind),
        urgency: Some(Urgency::Normal),
        description: description.into(),
        ..Default::default()
    };
    change(&mut new);
    let calendar = holidays::calendar(db.conn()).await.unwrap();
    let txn = db.write().await.unwrap();
    let r = reports::submit(&*txn, by, new, &calendar, at)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    r
}

/// The report as stored now.
pub async fn reload(db: &Db, id: i64) -> report::Model {
    report::Entity::find_by_id(id)
        .one(db.conn())
        .await
        .unwrap()
        .unwrap()
}

/// The report's timeline, oldest first.
pub async fn events_of(db: &Db, id: i64) -> Vec<report_event::Model> {
    report_event::Entity::find()
        .filter(report_event::Column::ReportId.eq(id))
        .order_by_asc(report_event::Column::Id)
        .all(db.conn())
        .await
        .unwrap()
}

/// The category with this code (`hazard.fire`).
pub async fn category_by_code(db: &Db, code: &str) -> category::Model {
    category::Entity::find()
        .filter(category::Column::Code.eq(code))
        .one(db.conn())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no category {code}"))
}
