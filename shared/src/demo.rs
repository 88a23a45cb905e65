//! Demo data: the synthetic county (the roster fixture), demo staff logins, a few hundred
//! reports spread over the last four weeks in every state of the lifecycle, and two sent
//! notices with a share acknowledged — so that a trainer's panel looks like a working county.
//!
//! Everything goes through the core as real use would: the roster through
//! [`crate::import::import_roster`], staff through [`crate::staff::create`], reports through
//! [`crate::reports::submit`] and [`crate::lifecycle::transition_in`] at back-dated times (so
//! timelines, deadlines and escalations are real), notices through [`crate::notices`], and the
//! messages all this queues through the real [`crate::delivery::Worker`] with a transport that
//! pretends to deliver. The random choices come from a fixed seed, so the county's shape is the
//! same on every machine (times are relative to the moment of seeding).
//!
//! Idempotent: a marker in `bot_kv` records how far seeding got; a second start seeds nothing,
//! and a start interrupted half-way carries on where it stopped. A database that already holds
//! data not made by the demo is refused, so a demo never mixes into a real county.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Timelike, Utc};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};

use crate::calendar::WorkCalendar;
use crate::db::Db;
use crate::delivery::{Outgoing, SendOutcome, Transport, Worker, WorkerConfig};
use crate::domain::{
    AreaLevel, ReportKind, ReportState, ReturnReason, StaffRole, Urgency, VisitMethod,
};
use crate::entity::{
    attachment, bot_kv, category, member, notice_recipient, outbox, report, staff_user,
};
use crate::error::CoreError;
use crate::lifecycle::{self, Action, Actor, Assignee, LifecycleError, StaffActor};
use crate::notices::{self, Audience, BatchMode, BatchPlan, NewNotice};
use crate::reports::{self, NewReport};
use crate::{areas, holidays, import, inbox, roster, staff};

/// The synthetic county's roster (7,303 grid leaders), embedded so the demo needs no files.
const ROSTER: &[u8] = include_bytes!("../../tests/fixtures/county-roster.csv");

/// The password of every demo login. Printed at every demo start; (re)set at every start.
pub const DEMO_PASSWORD: &str = "gridline-demo";
/// The town of the demo's town admin, and the busy community of its secretary.
pub const DEMO_TOWN: &str = "晋原街道";
pub const DEMO_COMMUNITY: &str = "晋原街道/长乐社区";
/// How many reports the demo files.
pub const DEMO_REPORTS: usize = 320;
/// Over how many days before now they are spread.
pub const DEMO_DAYS: i64 = 28;
/// Share of the roster bound to (pretend) Telegram accounts, in percent.
pub const DEMO_BIND_PERCENT: u32 = 86;
/// Pretend Telegram ids of bound demo members are this plus the member id.
const FAKE_TELEGRAM_BASE: i64 = 7_000_000_000;
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
}

impl From<sea_orm::DbErr> for DemoError {
    fn from(e: sea_orm::DbErr) -> Self {
        DemoError::Core(CoreError::Db(e))
    }
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
    /// Open reports escalated at least once.
    pub escalated_open: u64,
    pub notices: u64,
    pub acknowledged: u64,
}

/// Seeds the demo county into `db` (prepared: migrated, with the county root and the default
/// categories) relative to `now`, unless an earlier call did. See the module documentation.
pub async fn seed(db: &Db, now: DateTime<Utc>) -> Result<DemoSummary, DemoError> {
    let mut stage = marker(db).await?;
    let mut seeded_now = false;
    if stage.is_none() {
        if !is_empty(db).await? {
            return Err(DemoError::NotEmpty);
        }
        set_marker(db, "started", now).await?;
        stage = Some("started".into());
    }
    if stage.as_deref() == Some("started") {
        let started = std::time::Instant::now();
        import_county(db).await?;
        file_reports(db, now).await?;
        tracing::info!(elapsed = ?started.elapsed(), "demo: roster and reports seeded");
        seeded_now = true;
        stage = Some("reports".into());
    }
    if stage.as_deref() == Some("reports") {
        let started = std::time::Instant::now();
        send_notices(db, now).await?;
        drain_outbox(db).await?;
        acknowledge_some(db).await?;
        tracing::info!(elapsed = ?started.elapsed(), "demo: notices sent and acknowledged");
        set_marker(db, "done", now).await?;
    }
    summary(db, seeded_now).await
}

/// Creates the demo logins that are missing and sets every one's password to
/// [`DEMO_PASSWORD`] (active, no forced change), so a trainer can always log in. Called at
/// every demo start.
pub async fn reset_logins(db: &Db) -> Result<&'static [DemoLogin], DemoError> {
    let txn = db.write().await?;
    for login in DEMO_LOGINS {
        match staff::find_by_username(&*txn, login.username).await? {
            Some(user) => {
                let mut a: staff_user::ActiveModel = user.into();
                a.password_hash = Set(staff::hash_password(DEMO_PASSWORD).await?);
                a.active = Set(true);
                a.must_change_password = Set(false);
                a.update(&*txn).await?;
            }
            None => {
                let area = areas::resolve_names(&*txn, login.area).await?;
                staff::create(&*txn, login.username, DEMO_PASSWORD, login.role, &area).await?;
            }
        }
    }
    txn.commit().await?;
    Ok(DEMO_LOGINS)
}

async fn marker(db: &Db) -> Result<Option<String>, DemoError> {
    Ok(bot_kv::Entity::find_by_id(MARKER_KEY.to_owned())
        .one(db.conn())
        .await?
        .map(|r| r.value))
}

async fn set_marker(db: &Db, value: &str, now: DateTime<Utc>) -> Result<(), DemoError> {
    let txn = db.write().await?;
    write_marker(&*txn, value, now).await?;
    txn.commit().await?;
    Ok(())
}

async fn write_marker(
    conn: &impl ConnectionTrait,
    value: &str,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    let row = bot_kv::ActiveModel {
        key: Set(MARKER_KEY.to_owned()),
        value: Set(value.to_owned()),
        updated_at: Set(now),
    };
    bot_kv::Entity::insert(row)
        .on_conflict(
            OnConflict::column(bot_kv::Column::Key)
                .update_columns([bot_kv::Column::Value, bot_kv::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(conn)
        .await?;
    Ok(())
}

/// No staff, no members, no reports: nothing the demo could mix into.
async fn is_empty(db: &Db) -> Result<bool, DemoError> {
    let conn = db.conn();
    Ok(staff_user::Entity::find().count(conn).await? == 0
        && member::Entity::find().count(conn).await? == 0
        && report::Entity::find().count(conn).await? == 0)
}

async fn import_county(db: &Db) -> Result<(), DemoError> {
    let parsed = roster::parse_roster(ROSTER).map_err(|e| DemoError::Roster(e.to_string()))?;
    let scope = areas::root_scope(db.conn()).await?;
    let summary = import::import_roster(db, &scope, parsed, |_, _| {}).await?;
    if summary.has_bad_rows() {
        return Err(DemoError::Roster(format!(
            "{} bad rows",
            summary.bad.len() + summary.out_of_scope_rows.len()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reports

/// The demo's staff, as actors.
struct Staff {
    county: StaffActor,
    town: StaffActor,
    secretary: StaffActor,
}

impl Staff {
    /// The most local demo login that may act on a report handled at `handling_path`.
    fn for_handling(&self, handling_path: &str) -> &StaffActor {
        if self.secretary.scope.contains(handling_path) {
            &self.secretary
        } else if self.town.scope.contains(handling_path) {
            &self.town
        } else {
            &self.county
        }
    }
}

/// How a report's story is meant to end (it stops earlier when it runs into the present).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Story {
    Submitted,
    Accepted,
    Assigned,
    InProgress,
    Resolved,
    Closed,
    ClosedByStaff,
    Returned,
    ReturnedAndResubmitted,
    Rejected,
    Duplicate,
    Reopened,
    VerifyFailed,
}

const STORIES: &[(Story, u32)] = &[
    (Story::Submitted, 4),
    (Story::Accepted, 5),
    (Story::Assigned, 6),
    (Story::InProgress, 8),
    (Story::Resolved, 9),
    (Story::Closed, 36),
    (Story::ClosedByStaff, 12),
    (Story::Returned, 4),
    (Story::ReturnedAndResubmitted, 3),
    (Story::Rejected, 4),
    (Story::Duplicate, 3),
    (Story::Reopened, 3),
    (Story::VerifyFailed, 3),
];

/// One planned step. Staff steps are done by the most local demo login; member steps by the
/// reporter or the assignee.
#[derive(Clone, Debug)]
enum Step {
    Staff(Action),
    AssignMember,
    AssignSelf,
    AssigneeStart,
    AssigneeResolve(&'static str),
    ReporterResubmit,
    ReporterAddInfo,
    Duplicate,
}

fn pick_weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut n = rng.random_range(0..Ord::max(total, 1));
    for (item, w) in items {
        if n < *w {
            return *item;
        }
        n -= w;
    }
    items[0].0
}

fn story_steps(story: Story, rng: &mut StdRng) -> Vec<Step> {
    let comment = |rng: &mut StdRng| {
        Step::Staff(Action::Comment {
            note: (*COMMENTS.choose(rng).unwrap_or(&COMMENTS[0])).to_owned(),
        })
    };
    let reply = |rng: &mut StdRng| {
        Step::Staff(Action::Reply {
            note: (*REPLIES.choose(rng).unwrap_or(&REPLIES[0])).to_owned(),
        })
    };
    let resolve_note = *RESOLUTIONS.choose(rng).unwrap_or(&RESOLUTIONS[0]);
    let close = Step::Staff(Action::Close {
        note: rng
            .random_bool(0.3)
            .then(|| "回访群众，表示满意。".to_owned()),
    });
    let mut handled = vec![Step::Staff(Action::Accept)];
    if rng.random_bool(0.25) {
        handled.push(comment(rng));
    }
    handled.push(Step::AssignMember);
    if rng.random_bool(0.2) {
        handled.push(reply(rng));
    }
    let mut worked = handled.clone();
    worked.push(Step::AssigneeStart);
    if rng.random_bool(0.12) {
        worked.push(Step::ReporterAddInfo);
    }
    let mut resolved = worked.clone();
    resolved.push(Step::AssigneeResolve(resolve_note));
    let mut closed = resolved.clone();
    closed.push(close.clone());
    let returned = Step::Staff(Action::Return {
        reason: *[
            ReturnReason::Incomplete,
            ReturnReason::UnclearLocation,
            ReturnReason::NeedsPhoto,
            ReturnReason::WrongCategory,
        ]
        .choose(rng)
        .unwrap_or(&ReturnReason::Incomplete),
        note: Some("请补充具体位置和现场照片后重新提交。".to_owned()),
    });
    match story {
        Story::Submitted => Vec::new(),
        Story::Accepted => {
            let mut s = vec![Step::Staff(Action::Accept)];
            if rng.random_bool(0.3) {
                s.push(comment(rng));
            }
            s
        }
        Story::Assigned => handled,
        Story::InProgress => worked,
        Story::Resolved => resolved,
        Story::Closed => closed,
        Story::ClosedByStaff => vec![
            Step::Staff(Action::Accept),
            Step::AssignSelf,
            Step::Staff(Action::Resolve {
                note: Some(resolve_note.to_owned()),
            }),
            close,
        ],
        Story::Returned => vec![returned],
        Story::ReturnedAndResubmitted => {
            let mut s = vec![returned, Step::ReporterResubmit];
            s.extend(closed);
            s
        }
        Story::Rejected => vec![Step::Staff(Action::Reject {
            note: (*REJECTIONS.choose(rng).unwrap_or(&REJECTIONS[0])).to_owned(),
        })],
        Story::Duplicate => vec![Step::Duplicate],
        Story::Reopened => {
            let mut s = closed;
            s.push(Step::Staff(Action::Reopen {
                note: "群众反映问题再次出现，重新处置。".to_owned(),
            }));
            s
        }
        Story::VerifyFailed => {
            let mut s = resolved;
            s.push(Step::Staff(Action::VerifyFail {
                note: "核查发现尚未整改到位，请继续处置。".to_owned(),
            }));
            s
        }
    }
}

/// When the next step happens: mostly well within the running deadline, sometimes late.
fn next_time(rng: &mut StdRng, r: &report::Model, t: DateTime<Utc>) -> DateTime<Utc> {
    let delay = match r.due_at {
        Some(due) if due > t => {
            let span = (due - t).num_seconds() as f64;
            let f = if rng.random_bool(0.05) {
                rng.random_range(1.05..1.6)
            } else {
                rng.random_range(0.04..0.7)
            };
            Duration::seconds((span * f) as i64)
        }
        _ => Duration::minutes(rng.random_range(40..36 * 60)),
    };
    awake(rng, t + delay.max(Duration::minutes(3)))
}

/// People act between 07:30 and 22:00 county time: a step due at night happens the next
/// morning instead.
fn awake(rng: &mut StdRng, at: DateTime<Utc>) -> DateTime<Utc> {
    let county = holidays::county_offset();
    let local = at.with_timezone(&county);
    let day = match local.hour() {
        0..7 => local.date_naive(),
        22.. => local.date_naive() + Duration::days(1),
        _ => return at,
    };
    let morning =
        day.and_hms_opt(7, 30, 0).unwrap_or_default() + Duration::minutes(rng.random_range(0..90));
    county
        .from_local_datetime(&morning)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(at)
}

/// A filing time within the last [`DEMO_DAYS`] days, mostly in county working hours.
fn filing_time(rng: &mut StdRng, now: DateTime<Utc>) -> DateTime<Utc> {
    let county: FixedOffset = holidays::county_offset();
    let day = rng.random_range(0..DEMO_DAYS);
    let local_now = now.with_timezone(&county);
    let hour = if rng.random_bool(0.85) {
        rng.random_range(8..19)
    } else {
        rng.random_range(6..23)
    };
    let base = county
        .with_ymd_and_hms(
            chrono::Datelike::year(&local_now),
            chrono::Datelike::month(&local_now),
            chrono::Datelike::day(&local_now),
            hour,
            rng.random_range(0..60),
            rng.random_range(0..60),
        )
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(now);
    let t = base - Duration::days(day);
    if t >= now {
        // Later today than now: a little while ago instead.
        now - Duration::minutes(rng.random_range(5..Ord::max(local_now.hour() as i64 * 60 + 30, 6)))
    } else {
        t
    }
}

async fn file_reports(db: &Db, now: DateTime<Utc>) -> Result<(), DemoError> {
    let mut rng = StdRng::seed_from_u64(RNG_SEED);
    let txn = db.write().await?;
    let conn = &*txn;
    let root = areas::find_root(conn).await?.ok_or(CoreError::NotFound)?;

    // Staff logins.
    let mut users = HashMap::new();
    for login in DEMO_LOGINS {
        let area = areas::resolve_names(conn, login.area).await?;
        let user = match staff::find_by_username(conn, login.username).await? {
            Some(u) => u,
            None => staff::create(conn, login.username, DEMO_PASSWORD, login.role, &area).await?,
        };
        users.insert(login.username, user);
    }
    let actor = |name: &str| -> Result<StaffActor, DemoError> {
        users
            .get(name)
            .map(StaffActor::of)
            .ok_or(DemoError::Core(CoreError::NotFound))
    };
    let staff = Staff {
        county: actor("admin")?,
        town: actor("jinyuan")?,
        secretary: actor("changle")?,
    };

    // Bind most of the roster to pretend Telegram accounts, in a few waves over six weeks.
    let all_members: Vec<member::Model> = member::Entity::find()
        .order_by_asc(member::Column::Id)
        .all(conn)
        .await?;
    let to_bind: Vec<i64> = all_members
        .iter()
        .filter(|_| rng.random_ratio(DEMO_BIND_PERCENT, 100))
        .map(|m| m.id)
        .collect();
    for (i, chunk) in to_bind.chunks(500).enumerate() {
        use sea_orm::sea_query::ExprTrait;
        let bound_at = now - Duration::days(42) + Duration::days(i as i64 * 2);
        member::Entity::update_many()
            .col_expr(
                member::Column::TelegramUserId,
                Expr::col(member::Column::Id).add(FAKE_TELEGRAM_BASE),
            )
            .col_expr(
                member::Column::TelegramChatId,
                Expr::col(member::Column::Id).add(FAKE_TELEGRAM_BASE),
            )
            .col_expr(member::Column::BoundAt, Expr::value(bound_at))
            .filter(member::Column::Id.is_in(chunk.iter().copied()))
            .exec(conn)
            .await?;
    }
    let members: Vec<member::Model> = member::Entity::find()
        .order_by_asc(member::Column::Id)
        .all(conn)
        .await?;

    // Who files: a third from the busy community, a sixth from the rest of its town, the rest
    // from anywhere in the county.
    let busy = areas::resolve_names(conn, DEMO_COMMUNITY).await?;
    let town = areas::resolve_names(conn, DEMO_TOWN).await?;
    let busy_scope = crate::Scope::of_area(&busy);
    let town_scope = crate::Scope::of_area(&town);
    let in_busy: Vec<&member::Model> = members
        .iter()
        .filter(|m| busy_scope.contains(&m.area_path))
        .collect();
    let in_town: Vec<&member::Model> = members
        .iter()
        .filter(|m| town_scope.contains(&m.area_path) && !busy_scope.contains(&m.area_path))
        .collect();
    let mut by_community: HashMap<i64, Vec<&member::Model>> = HashMap::new();
    for m in &members {
        if let Some(c) = areas::ancestor_id_at(&m.area_path, AreaLevel::Community) {
            by_community.entry(c).or_default().push(m);
        }
    }
    if in_busy.is_empty() || in_town.is_empty() {
        return Err(DemoError::Roster(format!(
            "the roster has no members in {DEMO_COMMUNITY}"
        )));
    }

    let categories: HashMap<String, i64> = category::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.code, c.id))
        .collect();
    let calendar: WorkCalendar = holidays::calendar(conn).await?;

    // Filing times in order, so report numbers grow with time as in real use.
    let mut times: Vec<DateTime<Utc>> = (0..DEMO_REPORTS)
        .map(|_| filing_time(&mut rng, now))
        .collect();
    times.sort();
    let mut filed_in: HashMap<i64, Vec<i64>> = HashMap::new();

    for (i, created) in times.into_iter().enumerate() {
        let pool = match rng.random_range(0..6) {
            0 | 1 => &in_busy,
            2 => &in_town,
            _ => &Vec::new(),
        };
        let reporter = match pool.choose(&mut rng) {
            Some(m) => (*m).clone(),
            None => members
                .choose(&mut rng)
                .cloned()
                .ok_or(CoreError::NotFound)?,
        };
        let new = new_report(&mut rng, &categories, i);
        let with_photo = new.kind == Some(ReportKind::Incident) && rng.random_bool(0.35);
        let mut r = reports::submit(conn, &reporter, new, &calendar, created).await?;
        let report_id = r.id;
        if with_photo {
            let png = tiny_png(&mut rng);
            attachment::ActiveModel {
                report_id: Set(r.id),
                event_id: Set(None),
                kind: Set("photo".into()),
                telegram_file_id: Set(None),
                telegram_file_unique_id: Set(None),
                mime: Set(Some("image/png".into())),
                file_name: Set(Some(format!("现场照片-{}.png", r.id))),
                size: Set(Some(png.len() as i64)),
                data: Set(Some(png)),
                created_at: Set(created),
                ..Default::default()
            }
            .insert(conn)
            .await?;
        }
        let community = areas::ancestor_id_at(&r.origin_area_path, AreaLevel::Community);
        let neighbours: Vec<&member::Model> = community
            .and_then(|c| by_community.get(&c))
            .cloned()
            .unwrap_or_default();
        let story = pick_weighted(&mut rng, STORIES);
        let mut t = created;
        for step in story_steps(story, &mut rng) {
            let at = next_time(&mut rng, &r, t);
            // What the deadline scheduler would have done meanwhile.
            r = escalate_until(conn, r, Ord::min(at, now), root.id).await?;
            if at >= now {
                break;
            }
            let by = staff.for_handling(&r.handling_area_path).clone();
            let (actor, action) = match step {
                Step::Staff(action) => (Actor::Staff(by.clone()), action),
                Step::AssignMember => {
                    let to = neighbours
                        .iter()
                        .filter(|m| m.telegram_chat_id.is_some())
                        .copied()
                        .collect::<Vec<_>>()
                        .choose(&mut rng)
                        .map(|m| m.id)
                        .unwrap_or(reporter.id);
                    (
                        Actor::Staff(by.clone()),
                        Action::Assign(Assignee::Member(to)),
                    )
                }
                Step::AssignSelf => (
                    Actor::Staff(by.clone()),
                    Action::Assign(Assignee::Staff(by.id)),
                ),
                Step::AssigneeStart => match r.assignee_member_id {
                    Some(id) => (Actor::Member { id }, Action::Start),
                    None => break,
                },
                Step::AssigneeResolve(note) => match r.assignee_member_id {
                    Some(id) => (
                        Actor::Member { id },
                        Action::Resolve {
                            note: Some(note.to_owned()),
                        },
                    ),
                    None => break,
                },
                Step::ReporterResubmit => (
                    Actor::Member { id: reporter.id },
                    Action::Resubmit {
                        note: Some("已补充位置和照片。".to_owned()),
                    },
                ),
                Step::ReporterAddInfo => (
                    Actor::Member { id: reporter.id },
                    Action::AddInfo {
                        note: "补充：今天早上又去看了一次，情况没有变化。".to_owned(),
                    },
                ),
                Step::Duplicate => {
                    let earlier = community
                        .and_then(|c| filed_in.get(&c))
                        .and_then(|ids| ids.last().copied());
                    match earlier {
                        Some(of) => (Actor::Staff(by.clone()), Action::MarkDuplicate { of }),
                        None => (
                            Actor::Staff(by.clone()),
                            Action::Reject {
                                note: REJECTIONS[0].to_owned(),
                            },
                        ),
                    }
                }
            };
            let code = action.code();
            let done = lifecycle::transition_in(conn, &actor, r.id, action, at).await?;
            if let Actor::Staff(s) = &actor {
                inbox::audit_transition(conn, s.id, code, &done, None, at).await?;
            }
            r = done.report;
            t = at;
        }
        escalate_until(conn, r, now, root.id).await?;
        if let Some(c) = community {
            filed_in.entry(c).or_default().push(report_id);
        }
    }
    write_marker(conn, "reports", now).await?;
    txn.commit().await?;
    Ok(())
}

/// Escalates `r` as the deadline scheduler would have, at each deadline that passed before
/// `until` (never above the county).
async fn escalate_until(
    conn: &impl ConnectionTrait,
    mut r: report::Model,
    until: DateTime<Utc>,
    root_id: i64,
) -> Result<report::Model, DemoError> {
    while let Some(due) = r.due_at {
        if !r.state.is_open() || due > until || r.handling_area_id == root_id {
            break;
        }
        r = lifecycle::transition_in(
            conn,
            &Actor::System,
            r.id,
            Action::Escalate { note: None },
            due,
        )
        .await?
        .report;
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------------
// What the reports say

const ESTATES: &[&str] = &[
    "锦江花园",
    "银杏苑",
    "南街小区",
    "东门新村",
    "凤凰城",
    "滨河小区",
    "桂花园",
    "文星苑",
    "金龙湾",
    "书香门第",
    "晋原印象",
    "蜀山苑",
];
const STREETS: &[&str] = &[
    "建设路",
    "新东街",
    "南岳大道",
    "金龙大道",
    "晋原路",
    "东街",
    "北街",
    "富民路",
    "迎宾大道",
];
const SURNAMES: &[&str] = &[
    "张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴", "何", "罗",
];
const GIVEN: &[&str] = &[
    "桂芳", "建国", "秀英", "德明", "玉兰", "志强", "淑华", "国平", "春梅", "文斌", "小燕", "永福",
];

/// (category code, urgency weight of urgent in percent, description templates). `{addr}` is
/// replaced by an address, `{n}` by a small number.
const INCIDENTS: &[(&str, u32, &[&str])] = &[
    (
        "hazard.fire",
        25,
        &[
            "{addr}楼道内堆放大量纸箱和废旧家具，堵塞消防通道，存在火灾隐患。",
            "{addr}电动车在楼道内充电，飞线从{n}楼窗户拉下，居民担心起火。",
            "{addr}消防栓箱门损坏，里面的水带不见了。",
        ],
    ),
    (
        "hazard.gas",
        40,
        &[
            "{addr}一楼餐馆液化气罐摆放在门外，阀门锈蚀，有轻微气味。",
            "{addr}居民反映楼道里闻到燃气味，已提醒住户开窗，请燃气公司上门检查。",
        ],
    ),
    (
        "hazard.building",
        20,
        &[
            "{addr}外墙瓷砖脱落，下方是小孩上学必经之路，已临时拉警戒线。",
            "{addr}老旧自建房墙体出现{n}条裂缝，住户两位老人仍在居住。",
        ],
    ),
    (
        "hazard.electric",
        15,
        &[
            "{addr}路边配电箱门敞开，电线裸露，离地面不到一米。",
            "{addr}菜市场内私拉乱接电线，插线板泡在积水里。",
        ],
    ),
    (
        "hazard.geology",
        30,
        &[
            "{addr}后山连续降雨后出现小范围滑坡，碎石滚到村道上。",
            "{addr}河堤护坡有{n}米左右被冲刷掏空，请水务部门查看。",
        ],
    ),
    (
        "environment.waste",
        0,
        &[
            "{addr}垃圾桶满溢{n}天未清运，气味很大，居民意见较大。",
            "{addr}有人在绿化带倾倒建筑垃圾，约{n}车。",
        ],
    ),
    (
        "environment.occupation",
        0,
        &[
            "{addr}早市摊贩占用人行道和半幅车道，早高峰堵车。",
            "{addr}门店把货物摆到人行道上，盲道被完全占用。",
        ],
    ),
    (
        "environment.noise",
        0,
        &[
            "{addr}夜间{n}点后仍有工地施工，噪音扰民，多位居民反映。",
            "{addr}广场舞音响声音过大，持续到晚上十点以后。",
        ],
    ),
    (
        "environment.pollution",
        5,
        &[
            "{addr}河沟里有黑色污水流入，疑似附近作坊偷排。",
            "{addr}附近烧烤摊油烟直排居民楼，住户无法开窗。",
        ],
    ),
    (
        "facility.streetlight",
        0,
        &[
            "{addr}一带有{n}盏路灯不亮，晚上行人出行不便。",
            "{addr}路灯杆倾斜，灯罩脱落悬挂。",
        ],
    ),
    (
        "facility.road",
        5,
        &[
            "{addr}路面塌陷出现一个约{n}0厘米的坑，已放置锥桶提醒。",
            "{addr}井盖破损松动，车辆经过响声很大，存在安全隐患。",
        ],
    ),
    (
        "facility.water",
        10,
        &[
            "{addr}雨水井堵塞，下雨后积水没过脚踝。",
            "{addr}自来水管爆裂，路面冒水已有{n}个小时。",
        ],
    ),
    (
        "facility.elevator",
        20,
        &["{addr}电梯频繁故障停运，楼里有{n}位行动不便的老人。"],
    ),
    (
        "dispute.neighbour",
        0,
        &[
            "{addr}楼上楼下因漏水问题发生争吵，双方情绪激动，需要社区出面调解。",
            "{addr}邻居在公共区域搭建棚子，隔壁住户不同意，多次发生口角。",
        ],
    ),
    (
        "dispute.property",
        0,
        &["{addr}业主与物业因停车费上涨发生纠纷，约{n}十户业主到物业办公室反映。"],
    ),
    (
        "dispute.labour",
        10,
        &["{addr}工地{n}名工人反映被拖欠工资两个月，情绪较大。"],
    ),
    (
        "security.fraud",
        15,
        &["{addr}有老人接到冒充公检法的电话，被要求转账，家属已劝阻，请民警上门宣传。"],
    ),
    (
        "security.theft",
        5,
        &["{addr}车棚连续几晚有电动车电瓶被盗。"],
    ),
    (
        "emergency",
        100,
        &["{addr}一户居民家中起火冒烟，已拨打119，群众正在疏散。"],
    ),
];

const REQUESTS: &[(&str, &[&str])] = &[
    (
        "livelihood.elderly",
        &[
            "{addr}独居老人希望了解居家养老上门服务怎么申请。",
            "{addr}老人申请高龄补贴，不清楚需要准备哪些材料。",
        ],
    ),
    (
        "livelihood.medical",
        &[
            "{addr}居民询问城乡居民医保缴费截止时间和线上缴费方式。",
            "{addr}慢性病患者希望家庭医生能定期上门随访。",
        ],
    ),
    (
        "livelihood.relief",
        &["{addr}一户家庭因病致困，希望了解临时救助和低保政策。"],
    ),
    (
        "livelihood.employment",
        &[
            "{addr}居民{n}人希望参加社区组织的技能培训，咨询报名方式。",
            "{addr}返乡青年询问创业担保贷款的申请条件。",
        ],
    ),
    (
        "special.elderly_alone",
        &["{addr}独居老人反映家中水龙头漏水，自己无法维修。"],
    ),
    (
        "special.disabled",
        &["{addr}残疾人家庭希望在单元门口加装无障碍坡道。"],
    ),
    (
        "inquiry",
        &[
            "{addr}居民咨询新生儿落户需要哪些材料。",
            "{addr}居民询问小区加装电梯的补贴政策。",
        ],
    ),
    (
        "suggestion",
        &[
            "{addr}居民建议在小区门口增设非机动车停放区。",
            "{addr}居民建议在广场增加几张休息座椅。",
        ],
    ),
];

const VISITS: &[&str] = &[
    "入户走访独居老人，身体状况良好，提醒注意冬季用电用气安全。",
    "走访困难家庭，了解孩子上学和家庭收入情况，已登记需求。",
    "走访新搬入住户，登记人口信息，宣传反诈知识。",
    "走访重点人员，近期情况稳定，无异常。",
    "走访沿街商铺，开展消防安全检查，发放宣传资料{n}份。",
    "电话回访上月反映漏水问题的住户，已修好，表示满意。",
    "走访退役军人家庭，送去慰问品，了解就业需求。",
    "走访出租房屋，核对租户信息，提醒房东签订治安责任书。",
];
const TOPICS: &[&str] = &[
    "用气安全",
    "反诈宣传",
    "医保缴费",
    "人口信息",
    "矛盾排查",
    "防汛",
];

const COMMENTS: &[&str] = &[
    "已联系物业，约定明天上午到现场。",
    "此事涉及城管职责，已电话告知街道城管中队。",
    "上周同一地点也有类似反映，注意合并处理。",
    "已请网格员拍摄现场照片补充。",
];
const REPLIES: &[&str] = &[
    "您好，您反映的问题已收到，我们已安排网格员跟进，请保持电话畅通。",
    "您好，相关部门将于近两日到现场查看，请耐心等待。",
];
const RESOLUTIONS: &[&str] = &[
    "已现场处置完毕，并拍照留存。",
    "已协调相关部门处理，居民表示认可。",
    "已组织双方调解，达成一致意见。",
    "已清理完毕，后续加强巡查。",
    "已为居民解答政策并协助提交材料。",
];
const REJECTIONS: &[&str] = &[
    "该事项不属于网格受理范围，已告知群众通过12345热线反映。",
    "经核实情况不属实。",
];

fn fill(rng: &mut StdRng, template: &str, address: &str) -> String {
    template
        .replace("{addr}", address)
        .replace("{n}", &rng.random_range(2..9).to_string())
}

fn address(rng: &mut StdRng) -> String {
    if rng.random_bool(0.7) {
        format!(
            "{}{}栋{}单元",
            ESTATES.choose(rng).unwrap_or(&ESTATES[0]),
            rng.random_range(1..24),
            rng.random_range(1..5)
        )
    } else {
        format!(
            "{}{}号",
            STREETS.choose(rng).unwrap_or(&STREETS[0]),
            rng.random_range(1..300)
        )
    }
}

fn resident(rng: &mut StdRng) -> (String, String) {
    let name = format!(
        "{}{}",
        SURNAMES.choose(rng).unwrap_or(&SURNAMES[0]),
        GIVEN.choose(rng).unwrap_or(&GIVEN[0])
    );
    let phone = format!(
        "1{}{:08}",
        rng.random_range(35..90),
        rng.random_range(0..100_000_000)
    );
    (name, phone)
}

/// A plausible report: a visit, an incident or a resident's request.
fn new_report(rng: &mut StdRng, categories: &HashMap<String, i64>, i: usize) -> NewReport {
    let addr = address(rng);
    let mut new = NewReport {
        urgency: Some(Urgency::Normal),
        idempotency_key: Some(format!("demo:{i}")),
        ..Default::default()
    };
    if rng.random_bool(0.4) {
        new.latitude = Some(30.587 + rng.random_range(-0.08..0.08));
        new.longitude = Some(103.522 + rng.random_range(-0.1..0.1));
    }
    match rng.random_range(0..100) {
        0..30 => {
            new.kind = Some(ReportKind::Visit);
            let text = *VISITS.choose(rng).unwrap_or(&VISITS[0]);
            new.description = fill(rng, text, "");
            new.household = Some(addr);
            new.household_count = Some(rng.random_range(1..6));
            new.visit_method = Some(
                *[
                    VisitMethod::InPerson,
                    VisitMethod::InPerson,
                    VisitMethod::Phone,
                    VisitMethod::Encounter,
                ]
                .choose(rng)
                .unwrap_or(&VisitMethod::InPerson),
            );
            new.topics = TOPICS.choose(rng).map(|t| (*t).to_owned());
            new.resolved_on_spot = Some(rng.random_bool(0.7));
        }
        30..75 => {
            let (code, urgent, texts) = INCIDENTS.choose(rng).copied().unwrap_or(INCIDENTS[0]);
            new.kind = Some(ReportKind::Incident);
            new.category_id = categories.get(code).copied();
            let text = *texts.choose(rng).unwrap_or(&texts[0]);
            new.description = fill(rng, text, &addr);
            new.urgency = Some(if rng.random_ratio(urgent, 100) {
                if rng.random_bool(0.2) {
                    Urgency::Critical
                } else {
                    Urgency::Urgent
                }
            } else {
                Urgency::Normal
            });
            new.address = Some(addr);
        }
        _ => {
            let (code, texts) = REQUESTS.choose(rng).copied().unwrap_or(REQUESTS[0]);
            new.kind = Some(ReportKind::Request);
            new.category_id = categories.get(code).copied();
            let text = *texts.choose(rng).unwrap_or(&texts[0]);
            new.description = fill(rng, text, &addr);
            let (name, phone) = resident(rng);
            new.resident_name = Some(name);
            new.resident_phone = Some(phone);
            new.address = Some(addr);
        }
    }
    new
}

// ---------------------------------------------------------------------------------------------
// A small generated photo

/// An 80×60 PNG of a house under a sky, in colours of the RNG's choosing.
fn tiny_png(rng: &mut StdRng) -> Vec<u8> {
    const W: u32 = 80;
    const H: u32 = 60;
    let sky = [
        rng.random_range(120..190u8),
        rng.random_range(170..220),
        235,
    ];
    let ground = [rng.random_range(70..120u8), rng.random_range(110..150), 60];
    let wall = [
        rng.random_range(170..240u8),
        rng.random_range(150..220),
        rng.random_range(120..200),
    ];
    let (x0, x1) = (rng.random_range(10..30), rng.random_range(45..70));
    let top = rng.random_range(15..28);
    let mut raw = Vec::with_capacity(((W * 3 + 1) * H) as usize);
    for y in 0..H {
        raw.push(0); // filter: none
        for x in 0..W {
            let px = if y >= 44 {
                ground
            } else if (x0..x1).contains(&x) && y >= top {
                let window = (x - x0) % 8 < 4 && (y - top) % 8 < 4 && y < 40;
                if window { [60, 70, 90] } else { wall }
            } else {
                let shade = (y * 2) as u8;
                [
                    sky[0].saturating_sub(shade),
                    sky[1].saturating_sub(shade),
                    sky[2],
                ]
            };
            raw.extend_from_slice(&px);
        }
    }
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&W.to_be_bytes());
    ihdr.extend_from_slice(&H.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    png_chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// zlib stream of uncompressed ("stored") deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// ---------------------------------------------------------------------------------------------
// Notices

/// The town admin's notice to every grid leader of the town (three days ago), and the county's
/// notice to the building leaders (楼栋长) of the county in batches by town (yesterday).
async fn send_notices(db: &Db, now: DateTime<Utc>) -> Result<(), DemoError> {
    let conn = db.conn();
    let user = |name: &'static str| async move {
        staff::find_by_username(conn, name)
            .await?
            .ok_or(DemoError::Core(CoreError::NotFound))
    };
    let town = StaffActor::of(&user("jinyuan").await?);
    let county = StaffActor::of(&user("admin").await?);
    if !notices::list(conn, &county.scope, None, 1)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let at = now - Duration::days(3) - Duration::hours(2);
    let first = notices::create(
        db,
        &town,
        NewNotice {
            title: "关于开展冬季消防安全隐患排查的通知".into(),
            body: "各位微网格长：\n\n入冬以来用火用电用气增多，请于**本周五前**完成本网格内\
                   沿街商铺、出租房屋和独居老人家庭的消防安全隐患排查，发现问题通过机器人\
                   “上报事件”报送，并拍摄现场照片。\n\n收到请点击“收到”。"
                .into(),
            audience: Audience::default(),
            plan: BatchPlan::default(),
            ..Default::default()
        },
        at,
    )
    .await?;
    notices::submit(db, &town, first.id, at + Duration::minutes(12)).await?;

    let at = now - Duration::hours(26);
    let second = notices::create(
        db,
        &county,
        NewNotice {
            title: "楼栋长反诈宣传培训（第二期）".into(),
            body: "各位楼栋长：\n\n县里将于下周三下午两点在县政务中心三楼举办反诈宣传培训，\
                   请**各镇街楼栋长**准时参加，不能参加的请向所在社区请假。\n\n收到请点击“收到”。"
                .into(),
            audience: Audience {
                tags: vec!["楼栋长".into()],
                ..Default::default()
            },
            plan: BatchPlan {
                mode: BatchMode::ByArea {
                    level: AreaLevel::Town,
                },
                first_at: Some(at + Duration::minutes(30)),
                interval_minutes: 20,
            },
            ..Default::default()
        },
        at,
    )
    .await?;
    notices::submit(db, &county, second.id, at + Duration::minutes(5)).await?;
    Ok(())
}

/// Delivers everything queued so far (report updates, task cards, notices) through the real
/// delivery worker, with a transport that pretends every message arrived.
async fn drain_outbox(db: &Db) -> Result<(), DemoError> {
    let pending = || async {
        outbox::Entity::find()
            .filter(outbox::Column::Status.is_in(["pending", "sending"]))
            .filter(outbox::Column::NotBefore.lte(Utc::now()))
            .count(db.conn())
            .await
    };
    if pending().await? == 0 {
        return Ok(());
    }
    let mut cfg = WorkerConfig::with_rate(20_000.0);
    cfg.per_chat_interval = StdDuration::ZERO;
    let worker = Worker::with_config(db.clone(), DemoTransport::default(), "demo-seed", cfg);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(60);
    let mut result = Ok(());
    loop {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        match pending().await {
            Ok(0) => break,
            Ok(_) if tokio::time::Instant::now() > deadline => {
                result = Err(DemoError::Core(CoreError::Internal(
                    "the demo's messages were not all delivered within a minute".into(),
                )));
                break;
            }
            Ok(_) => {}
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    let _ = stop.send(true);
    let _ = task.await;
    result
}

/// Pretends to deliver: every message "arrives" at once.
#[derive(Default)]
struct DemoTransport {
    next_id: AtomicI64,
}

impl Transport for DemoTransport {
    fn send(
        &self,
        _chat_id: i64,
        _message: &Outgoing,
    ) -> impl std::future::Future<Output = SendOutcome> + Send {
        let message_id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        std::future::ready(SendOutcome::Sent { message_id })
    }
}

/// Most of the town's grid leaders acknowledged the older notice; about a third of the
/// building leaders the newer one so far.
async fn acknowledge_some(db: &Db) -> Result<(), DemoError> {
    let mut rng = StdRng::seed_from_u64(RNG_SEED ^ 0xACC);
    let list = notices::list(db.conn(), &areas::root_scope(db.conn()).await?, None, 10).await?;
    for n in list {
        let share = if n.area_path.matches('/').count() > 2 {
            82
        } else {
            37
        };
        let recipients = notice_recipient::Entity::find()
            .filter(notice_recipient::Column::NoticeId.eq(n.id))
            .filter(notice_recipient::Column::Reachable.eq(true))
            .order_by_asc(notice_recipient::Column::Id)
            .all(db.conn())
            .await?;
        for r in recipients {
            if r.acknowledged_at.is_none() && rng.random_ratio(share, 100) {
                notices::acknowledge(db, r.member_id, n.id).await?;
            }
        }
    }
    Ok(())
}

async fn summary(db: &Db, seeded_now: bool) -> Result<DemoSummary, DemoError> {
    let conn = db.conn();
    let mut by_state = Vec::new();
    let mut reports = 0;
    for &s in ReportState::ALL {
        let n = report::Entity::find()
            .filter(report::Column::State.eq(s))
            .count(conn)
            .await?;
        reports += n;
        by_state.push((s, n));
    }
    Ok(DemoSummary {
        seeded_now,
        members: member::Entity::find().count(conn).await?,
        bound: member::Entity::find()
            .filter(member::Column::TelegramChatId.is_not_null())
            .count(conn)
            .await?,
        reports,
        by_state,
        escalated_open: report::Entity::find()
            .filter(report::Column::EscalationLevel.gt(0))
            .filter(report::Column::State.is_in(ReportState::OPEN.iter().copied()))
            .count(conn)
            .await?,
        notices: crate::entity::notice::Entity::find().count(conn).await?,
        acknowledged: notice_recipient::Entity::find()
            .filter(notice_recipient::Column::AcknowledgedAt.is_not_null())
            .count(conn)
            .await?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_photo_is_a_png_with_valid_checksums() {
        let mut rng = StdRng::seed_from_u64(1);
        let png = tiny_png(&mut rng);
        assert_eq!(&png[..8], &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        // Walk the chunks and check each CRC.
        let mut at = 8;
        let mut kinds = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let body = &png[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc32(body), crc);
            kinds.push(String::from_utf8_lossy(&body[..4]).into_owned());
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn stories_and_filing_times() {
        let mut rng = StdRng::seed_from_u64(2);
        let now = Utc::now();
        for _ in 0..500 {
            let t = filing_time(&mut rng, now);
            assert!(t < now && t > now - Duration::days(DEMO_DAYS + 1));
        }
        let county = holidays::county_offset();
        for h in 0..48 {
            let at = awake(&mut rng, now + Duration::minutes(h * 30));
            let hour = at.with_timezone(&county).hour();
            assert!((7..22).contains(&hour), "{at} is at night");
            assert!(at >= now + Duration::minutes(h * 30));
        }
        assert!(story_steps(Story::Submitted, &mut rng).is_empty());
        assert!(matches!(
            story_steps(Story::Closed, &mut rng).last(),
            Some(Step::Staff(Action::Close { .. }))
        ));
    }
}
