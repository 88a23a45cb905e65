//! Report categories: data, not code. Two levels, Chinese and English labels, and time limits
//! per urgency (inherited from the parent category, then from the county defaults).

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};

use crate::audit::{self, AuditAction, AuditTarget};
use crate::calendar::TimeLimit;
use crate::db::Db;
use crate::domain::Urgency;
use crate::entity::category;
use crate::error::{CoreError, CoreResult};
use crate::lifecycle::StaffActor;
use crate::problem::Problem;

/// Accept and handle limits for one category and urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub accept: TimeLimit,
    pub handle: TimeLimit,
}

/// One of a category's six time limits (accept or handle × urgency).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, strum::EnumIter)]
pub enum LimitField {
    #[default]
    AcceptNormal,
    AcceptUrgent,
    AcceptCritical,
    HandleNormal,
    HandleUrgent,
    HandleCritical,
}

impl LimitField {
    /// The six, accept limits first.
    pub fn all() -> impl Iterator<Item = LimitField> {
        <LimitField as strum::IntoEnumIterator>::iter()
    }

    /// The name of its form field and of its column.
    pub fn code(self) -> &'static str {
        match self {
            LimitField::AcceptNormal => "accept_normal",
            LimitField::AcceptUrgent => "accept_urgent",
            LimitField::AcceptCritical => "accept_critical",
            LimitField::HandleNormal => "handle_normal",
            LimitField::HandleUrgent => "handle_urgent",
            LimitField::HandleCritical => "handle_critical",
        }
    }

    /// The i18n key of its name (in this crate's texts).
    pub fn i18n_key(self) -> &'static str {
        match self {
            LimitField::AcceptNormal => "limit_field.accept_normal",
            LimitField::AcceptUrgent => "limit_field.accept_urgent",
            LimitField::AcceptCritical => "limit_field.accept_critical",
            LimitField::HandleNormal => "limit_field.handle_normal",
            LimitField::HandleUrgent => "limit_field.handle_urgent",
            LimitField::HandleCritical => "limit_field.handle_critical",
        }
    }
}

/// County defaults: accept within 1 working day (30 minutes when urgent or critical); handle
/// within 2 working days (1 when urgent, the same day when critical).
pub fn default_limits(urgency: Urgency) -> Limits {
    match urgency {
        Urgency::Normal => Limits {
            accept: TimeLimit::WorkingDays(1),
            handle: TimeLimit::WorkingDays(2),
        },
        Urgency::Urgent => Limits {
            accept: TimeLimit::Minutes(30),
            handle: TimeLimit::WorkingDays(1),
        },
        Urgency::Critical => Limits {
            accept: TimeLimit::Minutes(30),
            handle: TimeLimit::WorkingDays(0),
        },
    }
}

impl LimitField {
    /// The field of the accept (`handle` false) or handle limit of an urgency.
    pub fn of(urgency: Urgency, handle: bool) -> LimitField {
        match (urgency, handle) {
            (Urgency::Normal, false) => LimitField::AcceptNormal,
            (Urgency::Urgent, false) => LimitField::AcceptUrgent,
            (Urgency::Critical, false) => LimitField::AcceptCritical,
            (Urgency::Normal, true) => LimitField::HandleNormal,
            (Urgency::Urgent, true) => LimitField::HandleUrgent,
            (Urgency::Critical, true) => LimitField::HandleCritical,
        }
    }
}

impl category::Model {
    /// One limit as stored (`None`: inherited).
    pub fn limit_text(&self, field: LimitField) -> Option<&str> {
        match field {
            LimitField::AcceptNormal => self.accept_normal.as_deref(),
            LimitField::AcceptUrgent => self.accept_urgent.as_deref(),
            LimitField::AcceptCritical => self.accept_critical.as_deref(),
            LimitField::HandleNormal => self.handle_normal.as_deref(),
            LimitField::HandleUrgent => self.handle_urgent.as_deref(),
            LimitField::HandleCritical => self.handle_critical.as_deref(),
        }
    }

    fn own_limit(&self, urgency: Urgency, handle: bool) -> Option<TimeLimit> {
        self.limit_text(LimitField::of(urgency, handle))
            .and_then(|t| TimeLimit::parse(t).ok())
    }

    /// The limits for this category, falling back to `parent`, then to the defaults.
    pub fn limits(&self, parent: Option<&category::Model>, urgency: Urgency) -> Limits {
        let default = default_limits(urgency);
        let pick = |handle: bool, fallback: TimeLimit| {
            self.own_limit(urgency, handle)
                .or_else(|| parent.and_then(|p| p.own_limit(urgency, handle)))
                .unwrap_or(fallback)
        };
        Limits {
            accept: pick(false, default.accept),
            handle: pick(true, default.handle),
        }
    }

    pub fn label(&self, locale: &str) -> &str {
        if locale.starts_with("en") {
            &self.name_en
        } else {
            &self.name_zh
        }
    }
}

/// (code, 中文, English)
type Label = (&'static str, &'static str, &'static str);

/// Categories shipped by default: each top level with its subcategories.
const DEFAULTS: &[(&str, &str, &str, &[Label])] = &[
    (
        "dispute",
        "矛盾纠纷",
        "Disputes",
        &[
            ("dispute.neighbour", "邻里纠纷", "Neighbour disputes"),
            ("dispute.family", "婚姻家庭纠纷", "Family disputes"),
            (
                "dispute.property",
                "物业纠纷",
                "Property management disputes",
            ),
            ("dispute.labour", "劳资纠纷", "Wage and labour disputes"),
        ],
    ),
    (
        "security",
        "治安",
        "Public security",
        &[
            ("security.theft", "盗窃", "Theft"),
            ("security.fraud", "诈骗", "Fraud"),
            ("security.order", "扰乱秩序", "Public disorder"),
        ],
    ),
    (
        "hazard",
        "安全隐患",
        "Safety hazards",
        &[
            ("hazard.fire", "消防隐患", "Fire hazard"),
            ("hazard.gas", "燃气隐患", "Gas hazard"),
            ("hazard.building", "房屋安全", "Unsafe building"),
            ("hazard.electric", "用电安全", "Electrical hazard"),
            ("hazard.geology", "地质灾害", "Landslide and flood risk"),
        ],
    ),
    (
        "environment",
        "环境市容",
        "Environment",
        &[
            ("environment.waste", "垃圾清运", "Rubbish"),
            ("environment.occupation", "占道经营", "Street obstruction"),
            ("environment.noise", "噪音扰民", "Noise"),
            ("environment.pollution", "污染", "Pollution"),
        ],
    ),
    (
        "facility",
        "设施",
        "Facilities",
        &[
            ("facility.streetlight", "路灯", "Street lights"),
            ("facility.road", "道路", "Roads"),
            ("facility.water", "供排水", "Water and drains"),
            ("facility.elevator", "电梯", "Lifts"),
        ],
    ),
    (
        "livelihood",
        "民生",
        "Livelihood",
        &[
            ("livelihood.elderly", "养老", "Elderly care"),
            ("livelihood.medical", "医疗", "Health care"),
            ("livelihood.relief", "社会救助", "Social assistance"),
            ("livelihood.employment", "就业", "Employment"),
        ],
    ),
    (
        "special",
        "特殊人群",
        "Special groups",
        &[
            ("special.elderly_alone", "独居老人", "Elderly living alone"),
            ("special.disabled", "残疾人", "People with disabilities"),
            ("special.minor", "困境儿童", "Children in difficulty"),
        ],
    ),
    ("inquiry", "咨询", "Inquiry", &[]),
    ("suggestion", "建议", "Suggestion", &[]),
    ("emergency", "突发", "Emergency", &[]),
    ("other", "其他", "Other", &[]),
];

/// Inserts the default categories when the table is empty.
pub async fn seed_defaults(db: &impl ConnectionTrait) -> CoreResult<()> {
    if category::Entity::find().count(db).await? > 0 {
        return Ok(());
    }
    for (i, (code, zh, en, children)) in DEFAULTS.iter().enumerate() {
        let mut top = new_category(None, code, zh, en, (i as i32 + 1) * 10);
        match *code {
            // Emergencies: accepted within 30 minutes and handled the same day, whatever the urgency.
            "emergency" => {
                for field in [
                    &mut top.accept_normal,
                    &mut top.accept_urgent,
                    &mut top.accept_critical,
                ] {
                    *field = Set(Some("30m".into()));
                }
                for field in [
                    &mut top.handle_normal,
                    &mut top.handle_urgent,
                    &mut top.handle_critical,
                ] {
                    *field = Set(Some("0wd".into()));
                }
            }
            "inquiry" => top.handle_normal = Set(Some("1wd".into())),
            "suggestion" => top.handle_normal = Set(Some("5wd".into())),
            _ => {}
        }
        let parent = top.insert(db).await?;
        for (j, (code, zh, en)) in children.iter().enumerate() {
            new_category(Some(parent.id), code, zh, en, j as i32 + 1)
                .insert(db)
                .await?;
        }
    }
    Ok(())
}

fn new_category(
    parent: Option<i64>,
    code: &str,
    zh: &str,
    en: &str,
    order: i32,
) -> category::ActiveModel {
    category::ActiveModel {
        parent_id: Set(parent),
        code: Set(code.into()),
        name_zh: Set(zh.into()),
        name_en: Set(en.into()),
        sort_order: Set(order),
        accept_normal: Set(None),
        accept_urgent: Set(None),
        accept_critical: Set(None),
        handle_normal: Set(None),
        handle_urgent: Set(None),
        handle_critical: Set(None),
        active: Set(true),
        ..Default::default()
    }
}

/// All categories, top level first in display order.
pub async fn all(db: &impl ConnectionTrait) -> CoreResult<Vec<category::Model>> {
    Ok(category::Entity::find()
        .order_by_asc(category::Column::ParentId)
        .order_by_asc(category::Column::SortOrder)
        .all(db)
        .await?)
}

/// The limits that apply to a report of this category (or the defaults without one).
pub async fn limits_for(
    db: &impl ConnectionTrait,
    category_id: Option<i64>,
    urgency: Urgency,
) -> CoreResult<Limits> {
    let Some(id) = category_id else {
        return Ok(default_limits(urgency));
    };
    let Some(cat) = category::Entity::find_by_id(id).one(db).await? else {
        return Ok(default_limits(urgency));
    };
    let parent = match cat.parent_id {
        Some(p) => category::Entity::find_by_id(p).one(db).await?,
        None => None,
    };
    Ok(cat.limits(parent.as_ref(), urgency))
}

/// The six limits of a category, as typed (`""` = inherit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitTexts {
    pub accept_normal: String,
    pub accept_urgent: String,
    pub accept_critical: String,
    pub handle_normal: String,
    pub handle_urgent: String,
    pub handle_critical: String,
}

impl LimitTexts {
    /// The six texts, each from `text(field)`.
    pub fn from_fn(text: impl Fn(LimitField) -> String) -> LimitTexts {
        LimitTexts {
            accept_normal: text(LimitField::AcceptNormal),
            accept_urgent: text(LimitField::AcceptUrgent),
            accept_critical: text(LimitField::AcceptCritical),
            handle_normal: text(LimitField::HandleNormal),
            handle_urgent: text(LimitField::HandleUrgent),
            handle_critical: text(LimitField::HandleCritical),
        }
    }

    /// The text of one limit.
    pub fn get(&self, field: LimitField) -> &str {
        match field {
            LimitField::AcceptNormal => &self.accept_normal,
            LimitField::AcceptUrgent => &self.accept_urgent,
            LimitField::AcceptCritical => &self.accept_critical,
            LimitField::HandleNormal => &self.handle_normal,
            LimitField::HandleUrgent => &self.handle_urgent,
            LimitField::HandleCritical => &self.handle_critical,
        }
    }
}

/// A limit as stored: `None` (inherit) for an empty text, else its canonical form.
fn stored_limit(field: LimitField, text: &str) -> CoreResult<Option<String>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    TimeLimit::parse(text)
        .map(|l| Some(l.to_string()))
        .map_err(|_| {
            CoreError::Invalid(Problem::TimeLimitInvalid {
                field,
                text: text.to_owned(),
            })
        })
}

/// Staff command: sets a category's time limits. Each must parse as a [`TimeLimit`] (`30m`,
/// `4h`, `2wd`) or be empty (inherit); nothing is saved when one is wrong, and the problem
/// names the field. Categories are county-wide: the county admin only.
pub async fn set_limits(
    db: &Db,
    actor: &StaffActor,
    id: i64,
    limits: &LimitTexts,
    ip: Option<&str>,
) -> CoreResult<category::Model> {
    crate::staff::require_county_admin(actor)?;
    let parse = |field| stored_limit(field, limits.get(field));
    let (an, au, ac) = (
        parse(LimitField::AcceptNormal)?,
        parse(LimitField::AcceptUrgent)?,
        parse(LimitField::AcceptCritical)?,
    );
    let (hn, hu, hc) = (
        parse(LimitField::HandleNormal)?,
        parse(LimitField::HandleUrgent)?,
        parse(LimitField::HandleCritical)?,
    );
    let txn = db.write().await?;
    let cat = category::Entity::find_by_id(id)
        .one(&*txn)
        .await?
        .ok_or(CoreError::NotFound)?;
    let mut a: category::ActiveModel = cat.into();
    a.accept_normal = Set(an);
    a.accept_urgent = Set(au);
    a.accept_critical = Set(ac);
    a.handle_normal = Set(hn);
    a.handle_urgent = Set(hu);
    a.handle_critical = Set(hc);
    let c = a.update(&*txn).await?;
    let detail = format!(
        "{:?}/{:?}/{:?} {:?}/{:?}/{:?}",
        c.accept_normal,
        c.accept_urgent,
        c.accept_critical,
        c.handle_normal,
        c.handle_urgent,
        c.handle_critical
    );
    let target = AuditTarget::Category(c.code.clone());
    audit::log(
        &*txn,
        Some(actor.id),
        AuditAction::CategoryLimits,
        Some(target),
        Some(&detail),
        ip,
    )
    .await?;
    txn.commit().await?;
    Ok(c)
}
