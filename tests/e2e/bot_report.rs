//! Filing reports through the bot: each kind with every field, photos and a location reaching
//! the database; quick mode and its tap count; cancel.

use gridline_shared::domain::{ReportKind, ReportState, Urgency, VisitMethod};
use gridline_shared::entity::category;
use gridline_tests::db_test;
use gridline_tests::fake_telegram::FakeUser;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::bot_support::*;

async fn category_id(h: &Harness, name_zh: &str) -> i64 {
    category::Entity::find()
        .filter(category::Column::NameZh.eq(name_zh))
        .one(h.t.db.conn())
        .await
        .unwrap()
        .unwrap()
        .id
}

// The guided incident: category and subcategory buttons, description with awkward text,
// a photo, a location, urgency changed on the summary card, people involved added through
// 修改, then submitted. Every field reaches the database; the photo's bytes are stored.
db_test!(
    incident_with_every_field,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let he = FakeUser::new(4001, "何刚华");
        let member = h.bind(&he, HE).await;

        let r = h.text(&he, "事件").await;
        assert!(last(&r).text.contains("类别"), "{:?}", texts(&r));
        let r = h.press_label(&he, "安全隐患").await;
        let prompt = last(&r);
        assert!(prompt.text.contains("描述"), "{}", prompt.text);
        assert!(prompt.button_labels().contains(&"消防隐患".to_owned()));
        // The optional subcategory: a toast, no new message.
        let r = h.press_label(&he, "消防隐患").await;
        assert!(r.is_empty(), "{:?}", texts(&r));

        let awkward = "楼道堆放杂物 <b>堵塞</b> 消防通道'); DROP TABLE reports;-- 🚒🔥 \u{202E}עברית\u{200B} & ok";
        let r = h.text(&he, awkward).await;
        assert!(last(&r).text.contains("照片"), "{:?}", texts(&r));
        let photo = jpeg("incident");
        let r = h.photo(&he, &photo, None).await;
        let loc = last(&r);
        assert!(loc.text.contains("位置"), "{}", loc.text);
        assert_eq!(loc.reply_markup["keyboard"][0][0]["request_location"], true);
        let r = h.location(&he, 30.5872, 103.5105).await;
        let card = last(&r).clone();
        assert!(
            card.text.contains("请核对") && card.text.contains("消防隐患"),
            "{}",
            card.text
        );
        assert!(
            card.text.contains("一般"),
            "urgency defaults to 一般: {}",
            card.text
        );

        // Urgency on the card: the card is edited in place.
        let r = h.press_label(&he, "紧急").await;
        assert!(r.is_empty());
        let edited = h
            .fake
            .sent_to(he.id)
            .into_iter()
            .find(|m| m.message_id == card.message_id)
            .unwrap();
        assert!(
            edited.edits >= 1 && edited.text.contains("紧急"),
            "{}",
            edited.text
        );
        assert!(edited.button_labels().contains(&"✓紧急".to_owned()));

        // 修改 → 涉及人员.
        h.press_label(&he, "✏️ 修改").await;
        let r = h.press_label(&he, "涉及人员").await;
        assert!(last(&r).text.contains("涉及人员"), "{:?}", texts(&r));
        let r = h.text(&he, "张三、李四两户").await;
        assert!(
            last(&r).text.contains("张三、李四两户"),
            "back to the card: {:?}",
            texts(&r)
        );
        assert!(
            reports(&h.t).await.is_empty(),
            "nothing is filed before 提交"
        );

        let r = h.press_label(&he, "✅ 提交").await;
        let all = reports(&h.t).await;
        assert_eq!(all.len(), 1);
        let rep = &all[0];
        assert!(
            last(&r).text.contains(&format!("#{}", rep.id)),
            "{:?}",
            texts(&r)
        );
        assert_eq!(rep.kind, ReportKind::Incident);
        assert_eq!(rep.state, ReportState::Submitted);
        assert_eq!(rep.category_id, Some(category_id(&h, "消防隐患").await));
        assert_eq!(rep.urgency, Urgency::Urgent);
        assert_eq!(rep.description, awkward.trim());
        assert_eq!(rep.latitude, Some(30.5872));
        assert_eq!(rep.longitude, Some(103.5105));
        assert_eq!(rep.people_involved.as_deref(), Some("张三、李四两户"));
        assert_eq!(rep.reporter_member_id, Some(member.id));
        assert!(rep.idempotency_key.is_some());
        let files = attachments(&h.t, rep.id).await;
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].kind, "photo");
        assert!(
            files[0]
                .telegram_file_id
                .as_deref()
                .unwrap()
                .starts_with("photo-big-"),
            "the largest size"
        );
        assert_eq!(
            files[0].data.as_deref(),
            Some(photo.as_slice()),
            "bytes stored"
        );
        h.stop().await;
    }
);

// The visit: household, count, method and resolved-on-the-spot buttons, topics; a location
// sent at the summary; the receipt offers to spawn an incident from it.
db_test!(
    visit_with_every_field,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let he = FakeUser::new(4101, "何刚华");
        h.bind(&he, HE).await;

        let r = h.text(&he, "/visit").await;
        assert!(last(&r).text.contains("走访对象"), "{:?}", texts(&r));
        h.text(&he, "长乐小区3栋2单元 王家").await;
        let r = h.press_label(&he, "3").await;
        assert!(last(&r).text.contains("方式"), "{:?}", texts(&r));
        h.press_label(&he, "入户").await;
        h.text(&he, "政策宣传、独居老人关怀").await;
        let r = h.press_label(&he, "是").await;
        assert!(last(&r).text.contains("请核对"), "{:?}", texts(&r));
        // A photo and a location at the summary are added to the draft.
        h.photo(&he, &jpeg("visit"), None).await;
        let r = h.location(&he, 30.59, 103.52).await;
        assert!(last(&r).text.contains("📍"), "{}", last(&r).text);
        // Notes through 修改.
        h.press_label(&he, "✏️ 修改").await;
        h.press_label(&he, "情况记录").await;
        h.text(&he, "老人身体尚好，已留联系方式").await;
        let r = h.press_label(&he, "✅ 提交").await;
        let rep = reports(&h.t).await.pop().unwrap();
        assert!(
            r[0].text.contains(&format!("#{}", rep.id)),
            "{:?}",
            texts(&r)
        );
        assert!(
            r[0].button_labels().contains(&"事件".to_owned()),
            "the receipt restores the menu"
        );
        assert!(
            last(&r)
                .button_data()
                .contains(&format!("spawn:incident:{}", rep.id))
        );
        assert_eq!(rep.kind, ReportKind::Visit);
        assert_eq!(rep.household.as_deref(), Some("长乐小区3栋2单元 王家"));
        assert_eq!(rep.household_count, Some(3));
        assert_eq!(rep.visit_method, Some(VisitMethod::InPerson));
        assert_eq!(rep.topics.as_deref(), Some("政策宣传、独居老人关怀"));
        assert_eq!(rep.resolved_on_spot, Some(true));
        assert_eq!(rep.description, "老人身体尚好，已留联系方式");
        assert_eq!((rep.latitude, rep.longitude), (Some(30.59), Some(103.52)));
        assert_eq!(attachments(&h.t, rep.id).await.len(), 1);

        // Spawn an incident from the visit.
        let r = h.press(&he, "spawn:incident:").await;
        assert!(last(&r).text.contains("类别"), "{:?}", texts(&r));
        h.press_label(&he, "环境市容").await;
        h.text(&he, "楼下垃圾堆积").await;
        h.text(&he, "/skip").await;
        h.text(&he, "跳过").await;
        h.press_label(&he, "✅ 提交").await;
        let spawned = reports(&h.t).await.pop().unwrap();
        assert_eq!(spawned.kind, ReportKind::Incident);
        assert_eq!(spawned.parent_report_id, Some(rep.id));
        assert_eq!(spawned.address, None);
        h.stop().await;
    }
);

// The request: category, description, the resident's name and phone (typed as people do),
// a photo and a typed address.
db_test!(
    request_with_every_field,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let ma = FakeUser::new(4201, "马东");
        h.bind(&ma, MA).await;

        h.text(&ma, "诉求").await;
        let r = h.press_label(&ma, "民生").await;
        assert!(last(&r).button_labels().contains(&"养老".to_owned()));
        h.press_label(&ma, "养老").await;
        let photo = jpeg("request");
        let r = h.photo(&ma, &photo, Some("独居老人希望社区安排助餐")).await;
        assert!(
            last(&r).text.contains("居民姓名"),
            "caption is the description: {:?}",
            texts(&r)
        );
        h.text(&ma, "王桂英").await;
        let r = h.text(&ma, "138 0000 1234x").await;
        assert!(
            last(&r).text.contains("格式不对") || r.iter().any(|m| m.text.contains("格式不对")),
            "{:?}",
            texts(&r)
        );
        let r = h.text(&ma, "+86 138-0000-1234").await;
        assert!(last(&r).text.contains("请核对"), "{:?}", texts(&r));
        h.press_label(&ma, "✏️ 修改").await;
        h.press_label(&ma, "位置/地址").await;
        h.text(&ma, "长乐社区5组12号").await;
        h.press_label(&ma, "✅ 提交").await;
        let rep = reports(&h.t).await.pop().unwrap();
        assert_eq!(rep.kind, ReportKind::Request);
        assert_eq!(rep.category_id, Some(category_id(&h, "养老").await));
        assert_eq!(rep.description, "独居老人希望社区安排助餐");
        assert_eq!(rep.resident_name.as_deref(), Some("王桂英"));
        assert_eq!(rep.resident_phone.as_deref(), Some("13800001234"));
        assert_eq!(rep.address.as_deref(), Some("长乐社区5组12号"));
        let files = attachments(&h.t, rep.id).await;
        assert_eq!(files[0].data.as_deref(), Some(photo.as_slice()));
        h.stop().await;
    }
);

// Quick mode: a photo out of the blue. The bot asks which kind; an incident with one photo is
// filed in at most 4 interactions after that first message (here exactly 4: category,
// description, location, submit). With a caption it takes 3.
db_test!(
    quick_mode_within_four_interactions,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let he = FakeUser::new(4301, "何刚华");
        h.bind(&he, HE).await;

        let r = h.photo(&he, &jpeg("quick"), None).await;
        let ask = last(&r);
        assert!(ask.text.contains("哪一类"), "{}", ask.text);
        assert!(ask.button_labels().contains(&"走访".to_owned()));
        let mut interactions = 0;
        h.press_label(&he, "⚠️设施").await;
        interactions += 1;
        h.text(&he, "路灯杆倾斜，有倒塌危险").await;
        interactions += 1;
        h.location(&he, 30.6, 103.5).await;
        interactions += 1;
        assert!(reports(&h.t).await.is_empty());
        let r = h.press_label(&he, "✅ 提交").await;
        interactions += 1;
        let rep = reports(&h.t).await.pop().expect("filed");
        assert!(last(&r).text.contains(&format!("#{}", rep.id)));
        println!(
            "quick mode: incident with one photo filed in {interactions} interactions after the first message"
        );
        assert!(interactions <= 4);
        assert_eq!(rep.kind, ReportKind::Incident);
        assert_eq!(rep.urgency, Urgency::Normal);
        assert_eq!(rep.description, "路灯杆倾斜，有倒塌危险");
        assert_eq!(attachments(&h.t, rep.id).await.len(), 1);

        // With a caption: 3 interactions.
        h.photo(&he, &jpeg("quick2"), Some("井盖缺失")).await;
        h.press_label(&he, "⚠️设施").await;
        h.text(&he, "跳过").await;
        h.press_label(&he, "✅ 提交").await;
        let rep = reports(&h.t).await.pop().unwrap();
        assert_eq!(rep.description, "井盖缺失");

        // Text out of the blue: which kind? → request.
        h.text(&he, "居民反映小区门口路灯不亮").await;
        let r = h.press_label(&he, "诉求").await;
        assert!(last(&r).text.contains("类别"), "{:?}", texts(&r));
        h.press_label(&he, "设施").await;
        let r = h.text(&he, "/skip").await;
        assert!(
            r.iter().any(|m| m.text.contains("居民联系电话")),
            "{:?}",
            texts(&r)
        );
        h.text(&he, "/skip").await;
        h.press_label(&he, "✅ 提交").await;
        let rep = reports(&h.t).await.pop().unwrap();
        assert_eq!(rep.kind, ReportKind::Request);
        assert_eq!(rep.description, "居民反映小区门口路灯不亮");
        assert_eq!(rep.resident_name, None);
        h.stop().await;
    }
);

// /cancel drops the draft; its old buttons are then stale and do nothing.
db_test!(
    cancel_drops_the_draft,
    |t: gridline_tests::TestDb| async move {
        let h = Harness::start(t).await;
        let he = FakeUser::new(4401, "何刚华");
        h.bind(&he, HE).await;
        h.text(&he, "/incident").await;
        let cat_msg = h.fake.sent_to(he.id).pop().unwrap();
        h.press_label(&he, "治安").await;
        let r = h.text(&he, "/cancel").await;
        assert!(last(&r).text.contains("已放弃"), "{:?}", texts(&r));
        let r = h.text(&he, "/cancel").await;
        assert!(last(&r).text.contains("没有正在填写"), "{:?}", texts(&r));
        // The old category button: nothing happens (a toast only).
        let data = button(&cat_msg, "治安").unwrap();
        let r = h.press_exact(&he, cat_msg.message_id, &data).await;
        assert!(r.is_empty(), "{:?}", texts(&r));
        // The summary's cancel button also cancels.
        h.text(&he, "/request").await;
        h.press_label(&he, "咨询").await;
        h.text(&he, "问低保政策").await;
        h.text(&he, "/skip").await;
        h.text(&he, "/skip").await;
        let r = h.press_label(&he, "取消").await;
        assert!(last(&r).text.contains("已放弃"), "{:?}", texts(&r));
        assert!(reports(&h.t).await.is_empty());
        h.stop().await;
    }
);
