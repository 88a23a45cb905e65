//! The demo's reports: who files them, when, and the story each goes through — every step a
//! real lifecycle transition at a back-dated time.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Timelike, Utc};
use gridline_shared::calendar::WorkCalendar;
use gridline_shared::conversation::FileKind;
use gridline_shared::db::WriteTxn;
use gridline_shared::domain::{AreaLevel, AreaPath, ReportKind, ReturnReason};
use gridline_shared::entity::{member, report};
use gridline_shared::error::CoreError;
use gridline_shared::lifecycle::{self, Action, Actor, Assignee, StaffActor};
use gridline_shared::reports::{self, StoredFile};
use gridline_shared::{Db, Scope, areas, bot_store, categories, holidays, inbox, members, staff};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::photo::tiny_png;
use super::texts::{COMMENTS, REJECTIONS, REPLIES, RESOLUTIONS, new_report};
use super::{
    DEMO_BIND_PERCENT, DEMO_COMMUNITY, DEMO_DAYS, DEMO_LOGINS, DEMO_PASSWORD, DEMO_REPORTS,
    DEMO_TOWN, DemoError, MARKER_KEY, RNG_SEED,
};

/// The demo's staff, as actors.
struct Staff {
    county: StaffActor,
    town: StaffActor,
    secretary: StaffActor,
}

impl Staff {
    /// The demo's logins as actors (created when missing).
    async fn of_logins(txn: &WriteTxn) -> Result<Staff, DemoError> {
        let conn = &**txn;
        let mut users = HashMap::new();
        for login in DEMO_LOGINS {
            let area = areas::resolve_names(conn, login.area).await?;
            let user = match staff::find_by_username(conn, login.username).await? {
                Some(u) => u,
                None => {
                    staff::create(conn, login.username, DEMO_PASSWORD, login.role, &area).await?
                }
            };
            users.insert(login.username, user);
        }
        let actor = |name: &str| -> Result<StaffActor, DemoError> {
            users
                .get(name)
                .map(StaffActor::of)
                .ok_or(DemoError::Core(CoreError::NotFound))
        };
        Ok(Staff {
            county: actor("admin")?,
            town: actor("jinyuan")?,
            secretary: actor("changle")?,
        })
    }

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

/// Binds most of the roster to simulated chats, in a few waves over six weeks before `now`.
/// Returns every member, by id, as stored afterwards.
async fn bind_roster(
    txn: &WriteTxn,
    rng: &mut StdRng,
    now: DateTime<Utc>,
) -> Result<Vec<member::Model>, DemoError> {
    let conn = &**txn;
    let county = areas::root_scope(conn).await?;
    let mut all = members::list_in_scope(conn, &county).await?;
    all.sort_by_key(|m| m.id);
    let chosen: Vec<i64> = all
        .iter()
        .filter(|_| rng.random_ratio(DEMO_BIND_PERCENT, 100))
        .map(|m| m.id)
        .collect();
    for (wave, ids) in chosen.chunks(500).enumerate() {
        let at = now - Duration::days(42) + Duration::days(wave as i64 * 2);
        members::bind_in_simulator(conn, ids, at).await?;
    }
    let mut all = members::list_in_scope(conn, &county).await?;
    all.sort_by_key(|m| m.id);
    Ok(all)
}

/// Who files: a third from the busy community, a sixth from the rest of its town, the rest
/// from anywhere in the county. Assignees come from the reporter's community.
struct Reporters<'a> {
    all: &'a [member::Model],
    busy: Vec<&'a member::Model>,
    town: Vec<&'a member::Model>,
    by_community: HashMap<i64, Vec<&'a member::Model>>,
}

impl<'a> Reporters<'a> {
    async fn of(txn: &WriteTxn, all: &'a [member::Model]) -> Result<Reporters<'a>, DemoError> {
        let conn = &**txn;
        let busy = Scope::of_area(&areas::resolve_names(conn, DEMO_COMMUNITY).await?);
        let town = Scope::of_area(&areas::resolve_names(conn, DEMO_TOWN).await?);
        let in_busy: Vec<&member::Model> =
            all.iter().filter(|m| busy.contains(&m.area_path)).collect();
        let in_town: Vec<&member::Model> = all
            .iter()
            .filter(|m| town.contains(&m.area_path) && !busy.contains(&m.area_path))
            .collect();
        if in_busy.is_empty() || in_town.is_empty() {
            return Err(DemoError::Roster(format!(
                "the roster has no members in {DEMO_COMMUNITY}"
            )));
        }
        let mut by_community: HashMap<i64, Vec<&member::Model>> = HashMap::new();
        for m in all {
            if let Some(c) = AreaPath::stored(m.area_path.as_str()).id_at(AreaLevel::Community) {
                by_community.entry(c).or_default().push(m);
            }
        }
        Ok(Reporters {
            all,
            busy: in_busy,
            town: in_town,
            by_community,
        })
    }

    fn pick(&self, rng: &mut StdRng) -> Result<&'a member::Model, DemoError> {
        let pool = match rng.random_range(0..6) {
            0 | 1 => self.busy.as_slice(),
            2 => self.town.as_slice(),
            _ => &[],
        };
        match pool.choose(rng) {
            Some(m) => Ok(*m),
            None => self
                .all
                .choose(rng)
                .ok_or(DemoError::Core(CoreError::NotFound)),
        }
    }
}

/// Everything filing one report needs at hand.
struct Filing<'a> {
    now: DateTime<Utc>,
    root_id: i64,
    staff: Staff,
    reporters: Reporters<'a>,
    categories: HashMap<String, i64>,
    calendar: WorkCalendar,
    /// Reports filed so far, per community (the earlier one a duplicate points to).
    filed_in: HashMap<i64, Vec<i64>>,
}

/// Files the demo's reports and moves each through its story, in one transaction (with the
/// roster's binding and the progress marker, so an interrupted seed starts this part again).
pub(super) async fn file_reports(db: &Db, now: DateTime<Utc>) -> Result<(), DemoError> {
    let mut rng = StdRng::seed_from_u64(RNG_SEED);
    let txn = db.write().await.map_err(CoreError::from)?;
    let conn = &*txn;
    let root = areas::find_root(conn).await?.ok_or(CoreError::NotFound)?;
    let staff = Staff::of_logins(&txn).await?;
    let members = bind_roster(&txn, &mut rng, now).await?;
    let mut filing = Filing {
        now,
        root_id: root.id,
        staff,
        reporters: Reporters::of(&txn, &members).await?,
        categories: categories::all(conn)
            .await?
            .into_iter()
            .map(|c| (c.code, c.id))
            .collect(),
        calendar: holidays::calendar(conn).await?,
        filed_in: HashMap::new(),
    };
    // Filing times in order, so report numbers grow with time as in real use.
    let mut times: Vec<DateTime<Utc>> = (0..DEMO_REPORTS)
        .map(|_| filing_time(&mut rng, now))
        .collect();
    times.sort();
    for (i, created) in times.into_iter().enumerate() {
        file_one(&txn, &mut filing, &mut rng, i, created).await?;
    }
    bot_store::write_value(conn, MARKER_KEY, "reports", now).await?;
    txn.commit().await.map_err(CoreError::from)?;
    Ok(())
}

/// Files report number `i` at `created` and plays its story up to the present.
async fn file_one(
    txn: &WriteTxn,
    f: &mut Filing<'_>,
    rng: &mut StdRng,
    i: usize,
    created: DateTime<Utc>,
) -> Result<(), DemoError> {
    let conn = &**txn;
    let reporter = f.reporters.pick(rng)?;
    let new = new_report(rng, &f.categories, i);
    let with_photo = new.kind == Some(ReportKind::Incident) && rng.random_bool(0.35);
    let mut r = reports::submit(conn, reporter, new, &f.calendar, created).await?;
    let report_id = r.id;
    if with_photo {
        let png = tiny_png(rng);
        if !png.is_empty() {
            let file = StoredFile {
                kind: FileKind::Photo,
                mime: "image/png".into(),
                file_name: format!("现场照片-{}.png", r.id),
                data: png,
            };
            reports::attach_stored(conn, r.id, file, created).await?;
        }
    }
    let community = AreaPath::stored(r.origin_area_path.as_str()).id_at(AreaLevel::Community);
    let neighbours: Vec<&member::Model> = community
        .and_then(|c| f.reporters.by_community.get(&c))
        .cloned()
        .unwrap_or_default();
    let story = pick_weighted(rng, STORIES);
    let mut t = created;
    for step in story_steps(story, rng) {
        let at = next_time(rng, &r, t);
        // What the deadline scheduler would have done meanwhile.
        r = escalate_until(txn, r, Ord::min(at, f.now), f.root_id).await?;
        if at >= f.now {
            break;
        }
        let by = f.staff.for_handling(&r.handling_area_path).clone();
        let earlier = community
            .and_then(|c| f.filed_in.get(&c))
            .and_then(|ids| ids.last().copied());
        let Some((actor, action)) = step_action(step, &r, by, reporter, &neighbours, earlier, rng)
        else {
            break;
        };
        r = match &actor {
            Actor::Staff(s) => inbox::act_in(conn, s, r.id, action, None, at).await?,
            _ => lifecycle::transition_in(conn, &actor, r.id, action, at).await?,
        }
        .report;
        t = at;
    }
    escalate_until(txn, r, f.now, f.root_id).await?;
    if let Some(c) = community {
        f.filed_in.entry(c).or_default().push(report_id);
    }
    Ok(())
}

/// Who does a planned step and how, at this point of the report's story; `None` when nobody
/// can (a member step on a report without an assigned member ends the story).
fn step_action(
    step: Step,
    r: &report::Model,
    by: StaffActor,
    reporter: &member::Model,
    neighbours: &[&member::Model],
    earlier: Option<i64>,
    rng: &mut StdRng,
) -> Option<(Actor, Action)> {
    Some(match step {
        Step::Staff(action) => (Actor::Staff(by), action),
        Step::AssignMember => {
            let to = neighbours
                .iter()
                .filter(|m| m.telegram_chat_id.is_some())
                .copied()
                .collect::<Vec<_>>()
                .choose(rng)
                .map(|m| m.id)
                .unwrap_or(reporter.id);
            (Actor::Staff(by), Action::Assign(Assignee::Member(to)))
        }
        Step::AssignSelf => {
            let id = by.id;
            (Actor::Staff(by), Action::Assign(Assignee::Staff(id)))
        }
        Step::AssigneeStart => (
            Actor::Member {
                id: r.assignee_member_id?,
            },
            Action::Start,
        ),
        Step::AssigneeResolve(note) => (
            Actor::Member {
                id: r.assignee_member_id?,
            },
            Action::Resolve {
                note: Some(note.to_owned()),
            },
        ),
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
        Step::Duplicate => match earlier {
            Some(of) => (Actor::Staff(by), Action::MarkDuplicate { of }),
            None => (
                Actor::Staff(by),
                Action::Reject {
                    note: REJECTIONS[0].to_owned(),
                },
            ),
        },
    })
}

/// Escalates `r` as the deadline scheduler would have, at each deadline that passed before
/// `until` (never above the county).
async fn escalate_until(
    txn: &WriteTxn,
    mut r: report::Model,
    until: DateTime<Utc>,
    root_id: i64,
) -> Result<report::Model, DemoError> {
    let conn = &**txn;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
