//! Demo mode (`gridline serve --demo`): the synthetic county (the roster fixture), demo staff
//! logins, a few hundred reports spread over the last four weeks in every state of the
//! lifecycle, and two sent notices with a share acknowledged — so that a trainer's panel looks
//! like a working county.
//!
//! Built only from core functions, as real use would go: the roster through
//! [`import::import_roster`], staff through [`staff::create`], members bound through
//! [`members::bind`] to chats of the chat simulator (ids ≥ 2^53, which Telegram never uses, so a
//! real bot token never writes to them), reports through [`reports::submit`] and the lifecycle
//! at back-dated times (so timelines, deadlines and escalations are real), notices through
//! [`notices`], and the messages all this queues delivered by the chat simulator
//! ([`simulator::pull_outbox`]), which marks them sent as it does for any simulated chat. The
//! random choices come from a fixed seed, so the county's shape is the same on every machine
//! (times are relative to the moment of seeding).
//!
//! Idempotent: a marker in `bot_kv` records how far seeding got; a second start seeds nothing,
//! and a start interrupted half-way carries on where it stopped. A database that already holds
//! data not made by the demo is refused, so a demo never mixes into a real county.

mod notices;
mod photo;
mod reports;
mod texts;

use chrono::{DateTime, Utc};
use gridline_shared::domain::{ReportState, StaffRole};
use gridline_shared::error::CoreError;
use gridline_shared::lifecycle::LifecycleError;
use gridline_shared::simulator::SimError;
use gridline_shared::{Db, areas, bot_store, import, members, roster, staff, stats};
use rust_i18n::t;

use crate::config::Settings;

/// The synthetic county's roster (7,303 grid leaders), embedded so the demo needs no files.
const ROSTER: &[u8] = include_bytes!("../../../tests/fixtures/county-roster.csv");

/// The password of every demo login. Printed at every demo start; (re)set at every start.
pub const DEMO_PASSWORD: &str = "gridline-demo";
/// The town of the demo's town admin, and the busy community of its secretary.
pub const DEMO_TOWN: &str = "晋原街道";
pub const DEMO_COMMUNITY: &str = "晋原街道/长乐社区";
/// How many reports the demo files.
pub const DEMO_REPORTS: usize = 320;
/// Over how many days before now they are spread.
pub const DEMO_DAYS: i64 = 28;
/// Share of the roster bound to (simulated) accounts, in percent.
pub const DEMO_BIND_PERCENT: u32 = 86;
const RNG_SEED: u64 = 0x6772_6964_6c69_6e65;
/// `bot_kv` key of the progress marker: `started`, `reports`, `done`.
pub const MARKER_KEY: &str = "demo_seed";

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database holds staff, members or reports that the demo did not make.
    #[error(
        "this database already holds data that was not made by the demo; \
         run the demo on an empty database (the default is gridline-demo.db)"
    )]
    NotEmpty,
    #[error("the embedded roster cannot be read: {0}")]
    Roster(String),
    #[error("demo seeding: {0}")]
    Core(#[from] CoreError),
    #[error("demo seeding: {0}")]
    Lifecycle(#[from] LifecycleError),
    #[error("demo seeding: {0}")]
    Simulator(#[from] SimError),
}

/// One demo login (all share [`DEMO_PASSWORD`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoLogin {
    pub username: &'static str,
    pub role: StaffRole,
    /// Names below the county joined by '/', empty for the whole county.
    pub area: &'static str,
}

/// The demo's logins: the county admin, a town admin, the secretary of the busy community and
/// a county-wide viewer.
pub const DEMO_LOGINS: &[DemoLogin] = &[
    DemoLogin {
        username: "admin",
        role: StaffRole::CountyAdmin,
        area: "",
    },
    DemoLogin {
        username: "jinyuan",
        role: StaffRole::TownAdmin,
        area: DEMO_TOWN,
    },
    DemoLogin {
        username: "changle",
        role: StaffRole::Secretary,
        area: DEMO_COMMUNITY,
    },
    DemoLogin {
        username: "viewer",
        role: StaffRole::Viewer,
        area: "",
    },
];

/// What the demo database holds after [`seed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Whether this call filed the reports (false: an earlier start had).
    pub seeded_now: bool,
    pub members: u64,
    pub bound: u64,
    pub reports: u64,
    /// Every state, in lifecycle order (zeros included).
    pub by_state: Vec<(ReportState, u64)>,
    pub notices: u64,
    pub acknowledged: u64,
}

/// Seeds the demo county into `db` (prepared: migrated, with the county root and the default
/// categories) relative to `now`, unless an earlier call did. See the module documentation.
pub async fn seed(db: &Db, now: DateTime<Utc>) -> Result<DemoSummary, DemoError> {
    let mut stage = bot_store::read_value(db.conn(), MARKER_KEY).await?;
    let mut seeded_now = false;
    if stage.is_none() {
        if !gridline_shared::is_blank(db.conn()).await? {
            return Err(DemoError::NotEmpty);
        }
        set_marker(db, "started", now).await?;
        stage = Some("started".into());
    }
    if stage.as_deref() == Some("started") {
        let started = std::time::Instant::now();
        import_county(db).await?;
        reports::file_reports(db, now).await?;
        tracing::info!(elapsed = ?started.elapsed(), "demo: roster and reports seeded");
        seeded_now = true;
        stage = Some("reports".into());
    }
    if stage.as_deref() == Some("reports") {
        let started = std::time::Instant::now();
        notices::send_notices(db, now).await?;
        notices::deliver_queued(db).await?;
        notices::acknowledge_some(db).await?;
        tracing::info!(elapsed = ?started.elapsed(), "demo: notices sent and acknowledged");
        set_marker(db, "done", now).await?;
    }
    summary(db, seeded_now, now).await
}

/// Creates the demo logins that are missing and sets every one's password to
/// [`DEMO_PASSWORD`] (active, no forced change), so a trainer can always log in. Called at
/// every demo start.
pub async fn reset_logins(db: &Db) -> Result<&'static [DemoLogin], DemoError> {
    let txn = db.write().await.map_err(CoreError::from)?;
    for login in DEMO_LOGINS {
        match staff::find_by_username(&*txn, login.username).await? {
            Some(user) => {
                staff::set_password(&*txn, user, DEMO_PASSWORD).await?;
            }
            None => {
                let area = areas::resolve_names(&*txn, login.area).await?;
                staff::create(&*txn, login.username, DEMO_PASSWORD, login.role, &area).await?;
            }
        }
    }
    txn.commit().await.map_err(CoreError::from)?;
    Ok(DEMO_LOGINS)
}

async fn set_marker(db: &Db, value: &str, now: DateTime<Utc>) -> Result<(), DemoError> {
    let txn = db.write().await.map_err(CoreError::from)?;
    bot_store::write_value(&*txn, MARKER_KEY, value, now).await?;
    txn.commit().await.map_err(CoreError::from)?;
    Ok(())
}

async fn import_county(db: &Db) -> Result<(), DemoError> {
    let parsed = roster::parse_roster(ROSTER).map_err(|e| DemoError::Roster(e.to_string()))?;
    let scope = areas::root_scope(db.conn()).await?;
    let summary = import::import_roster(db, &scope, parsed, |_, _| {}).await?;
    if summary.has_bad_rows() {
        return Err(DemoError::Roster(format!(
            "{} bad rows",
            summary.refused_count()
        )));
    }
    Ok(())
}

/// What the county holds now, read from the same figures the panel shows.
async fn summary(db: &Db, seeded_now: bool, now: DateTime<Utc>) -> Result<DemoSummary, DemoError> {
    let conn = db.conn();
    let county = areas::root_scope(conn).await?;
    let d = stats::dashboard(conn, &county, stats::Period::all(), now).await?;
    let notices = gridline_shared::notices::list(conn, &county, None, 1000).await?;
    Ok(DemoSummary {
        seeded_now,
        members: members::count_in_scope(conn, &county).await?,
        bound: d.bind.num,
        reports: d.total,
        by_state: d.by_state,
        notices: notices.len() as u64,
        acknowledged: d.acknowledgement.map_or(0, |a| a.num),
    })
}

// ---------------------------------------------------------------------------------------------
// The `--demo` wiring of `gridline serve`

/// Seeds the demo county on the first start (the marker keeps later starts from seeding again),
/// (re)sets the demo logins' known password and says what the county holds.
pub async fn start(
    settings: &Settings,
    db: &Db,
    locale: &str,
) -> Result<&'static [DemoLogin], DemoError> {
    eprintln!(
        "{}",
        t!(
            "cli.demo.seeding",
            locale = locale,
            url = gridline_shared::db::redact(&settings.database_url)
        )
    );
    let started = std::time::Instant::now();
    let summary = seed(db, Utc::now()).await?;
    let logins = reset_logins(db).await?;
    let key = if summary.seeded_now {
        "cli.demo.seeded"
    } else {
        "cli.demo.reused"
    };
    eprintln!(
        "{}",
        t!(
            key,
            locale = locale,
            members = summary.members,
            reports = summary.reports,
            notices = summary.notices,
            secs = format!("{:.1}", started.elapsed().as_secs_f64())
        )
    );
    Ok(logins)
}

/// The demo logins, one per line: `username / password — role (area)`.
pub fn print_logins(settings: &Settings, logins: &[DemoLogin], addr: &str, locale: &str) {
    let mut text = format!(
        "\n{}\n",
        t!("cli.demo.logins", locale = locale, addr = addr)
    );
    for l in logins {
        let role = match l.role {
            StaffRole::CountyAdmin => t!("cli.demo.role.county_admin", locale = locale),
            StaffRole::TownAdmin => t!("cli.demo.role.town_admin", locale = locale),
            StaffRole::Secretary => t!("cli.demo.role.secretary", locale = locale),
            StaffRole::Viewer => t!("cli.demo.role.viewer", locale = locale),
        };
        let area = if l.area.is_empty() {
            settings.county_name.as_str()
        } else {
            l.area
        };
        text.push_str(&format!(
            "  {} / {} — {role} ({area})\n",
            l.username, DEMO_PASSWORD
        ));
    }
    eprintln!("{text}");
}
