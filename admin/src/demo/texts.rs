//! What the demo's reports say: visits, incidents and residents' requests with plausible
//! addresses, and the notes staff write on them.

use std::collections::HashMap;

use gridline_shared::domain::{ReportKind, Urgency, VisitMethod};
use gridline_shared::reports::NewReport;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

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

pub(super) const COMMENTS: &[&str] = &[
    "已联系物业，约定明天上午到现场。",
    "此事涉及城管职责，已电话告知街道城管中队。",
    "上周同一地点也有类似反映，注意合并处理。",
    "已请网格员拍摄现场照片补充。",
];
pub(super) const REPLIES: &[&str] = &[
    "您好，您反映的问题已收到，我们已安排网格员跟进，请保持电话畅通。",
    "您好，相关部门将于近两日到现场查看，请耐心等待。",
];
pub(super) const RESOLUTIONS: &[&str] = &[
    "已现场处置完毕，并拍照留存。",
    "已协调相关部门处理，居民表示认可。",
    "已组织双方调解，达成一致意见。",
    "已清理完毕，后续加强巡查。",
    "已为居民解答政策并协助提交材料。",
];
pub(super) const REJECTIONS: &[&str] = &[
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
pub(super) fn new_report(
    rng: &mut StdRng,
    categories: &HashMap<String, i64>,
    i: usize,
) -> NewReport {
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
