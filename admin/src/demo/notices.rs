//! The demo's notices: sent through the core, delivered by the chat simulator (the demo's
//! members are bound to simulated chats), then acknowledged by a share of the recipients.

use chrono::{DateTime, Duration, Utc};
use gridline_shared::domain::AreaLevel;
use gridline_shared::error::CoreError;
use gridline_shared::lifecycle::StaffActor;
use gridline_shared::notices::{self, Audience, BatchMode, BatchPlan, NewNotice};
use gridline_shared::{Db, areas, simulator, staff};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{DemoError, RNG_SEED};

/// The town admin's notice to every grid leader of the town (three days ago), and the county's
/// notice to the building leaders (楼栋长) of the county in batches by town (yesterday).
pub(super) async fn send_notices(db: &Db, now: DateTime<Utc>) -> Result<(), DemoError> {
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

/// Delivers everything queued so far (report updates, task cards, notices) as the chat
/// simulator does for any simulated chat: into the chat's transcript, marked sent.
pub(super) async fn deliver_queued(db: &Db) -> Result<(), DemoError> {
    simulator::pull_all_due(db, Utc::now()).await?;
    Ok(())
}

/// Most of the town's grid leaders acknowledged the older notice; about a third of the
/// building leaders the newer one so far.
pub(super) async fn acknowledge_some(db: &Db) -> Result<(), DemoError> {
    let mut rng = StdRng::seed_from_u64(RNG_SEED ^ 0xACC);
    let county = areas::root_scope(db.conn()).await?;
    for n in notices::list(db.conn(), &county, None, 10).await? {
        // The town's notice (its scope is below the county) is the older one.
        let share = if n.area_path == county.path() { 37 } else { 82 };
        let mut after = None;
        loop {
            let page = notices::recipients(db.conn(), &county, n.id, None, after, 1000).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (_, r) in page {
                if r.status != "unreachable"
                    && r.acknowledged_at.is_none()
                    && rng.random_ratio(share, 100)
                {
                    notices::acknowledge(db, r.member_id, n.id).await?;
                }
            }
        }
    }
    Ok(())
}
