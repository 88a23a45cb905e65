//! The chat simulator in a real headless Chromium: staff log in, open the simulator, pick a new
//! unbound member, bind with the code, file an incident with a photo (a file input), find it in
//! the inbox with its badge, take it to closed through the panel, and the simulator then shows
//! the member the accept and close messages. Counts the simulator interactions from the new
//! member's first message to the filed incident (each send, press or upload is one) and prints
//! the figure. Screenshot: `tests/artifacts/simulator.png`.
//!
//! Without chromedriver this test prints a loud SKIPPED line — except under CI, where it fails.

use std::time::Duration;

use fantoccini::{Client, Locator};
use gridline_shared::domain::ReportState;
use gridline_shared::entity::outbox;
use gridline_shared::outbox::{MessageKind, OutgoingMessage, enqueue_to_member};
use gridline_shared::simulator;
use gridline_tests::TestDb;
use gridline_tests::panel::{
    PASSWORD, install_crypto_provider, member_by_phone, panel_world, reload, spawn_app_with,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::panel_browser::{
    artifacts, browser, chromedriver_or_skip, click, log_in, screenshot, start_driver, wait_for,
    wait_state,
};
use crate::simulator::filed_by;

/// 马东, 长乐社区: never bound.
const UNBOUND_PHONE: &str = "19900001234";

// --- A small PNG encoder (stored deflate blocks), so the photo is a real picture. -------------

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.extend_from_slice(&c);
    out.extend_from_slice(&crc32(&c).to_be_bytes());
}

/// A street lamp at dusk, `w`×`h` RGB.
fn lamp_png(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let mut px = [
                (30.0 + 60.0 * fy) as u8,
                (40.0 + 50.0 * fy) as u8,
                (90.0 + 40.0 * (1.0 - fy)) as u8,
            ];
            if fy > 0.8 {
                px = [70, 70, 75];
            }
            if (fx - 0.5).abs() < 0.015 && fy > 0.3 {
                px = [40, 40, 40];
            }
            let (dx, dy) = (fx - 0.5, (fy - 0.28) * h as f32 / w as f32);
            if dx * dx + dy * dy < 0.004 {
                px = [250, 220, 90];
            }
            raw.extend_from_slice(&px);
        }
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

// --- Steps ----------------------------------------------------------------------------------

/// How many simulator requests the page has completed.
async fn done(c: &Client) -> u64 {
    c.find(Locator::Css("#sim"))
        .await
        .unwrap()
        .attr("data-done")
        .await
        .unwrap()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Waits until the page has completed `n` simulator requests.
async fn wait_done(c: &Client, n: u64) {
    for _ in 0..200 {
        if done(c).await >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the simulator request did not finish");
}

/// Does one simulator interaction (a click on `css`) and waits for its answer.
async fn interact(c: &Client, css: &str, count: &mut u32) {
    let before = done(c).await;
    click(c, css).await;
    wait_done(c, before + 1).await;
    *count += 1;
    let error = c
        .find(Locator::Css("#sim-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.trim().is_empty(), "the simulator refused: {error}");
}

async fn wait_text(c: &Client, text: &str) {
    for _ in 0..200 {
        if c.source().await.unwrap().contains(text) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{text:?} never appeared: {}", c.source().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_simulator_binds_files_and_follows_an_incident() {
    let Some(chromedriver) =
        chromedriver_or_skip("browser_simulator_binds_files_and_follows_an_incident")
    else {
        return;
    };
    install_crypto_provider();
    let t = TestDb::sqlite().await;
    let w = panel_world(&t).await;
    let madong = member_by_phone(&t.db, UNBOUND_PHONE).await;
    let app = spawn_app_with(&t, |s| s.simulator = Some(true)).await;
    let driver = start_driver(&chromedriver).await;
    let c = browser(&driver).await;
    c.set_window_size(1366, 1060).await.unwrap();
    let photo_dir = tempfile::tempdir().unwrap();
    let photo_path = photo_dir.path().join("lamp.png");
    std::fs::write(&photo_path, lamp_png(320, 240)).unwrap();

    // Log in, open the simulator from the navigation, take a new unbound member.
    log_in(&c, &app.url("/login"), "changle", PASSWORD).await;
    click(&c, "nav.main-nav a[href=\"/simulator\"]").await;
    click(&c, "#sim-new").await;
    wait_for(&c, "#sim-text").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        format!("/simulator/{}", madong.id)
    );
    let code = c
        .find(Locator::Css("#sim-bind-code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(code.trim(), madong.bind_code);

    // From the first message to the filed incident, every send, press and upload counts.
    let mut count = 0u32;
    c.find(Locator::Css("#sim-text"))
        .await
        .unwrap()
        .send_keys(&format!("/start {}", code.trim()))
        .await
        .unwrap();
    interact(&c, "#sim-send", &mut count).await;
    wait_text(&c, "绑定成功").await;

    c.find(Locator::Css("#sim-file"))
        .await
        .unwrap()
        .send_keys(&photo_path.display().to_string())
        .await
        .unwrap();
    c.find(Locator::Css("#sim-caption"))
        .await
        .unwrap()
        .send_keys("长乐路 12 号路灯不亮，晚上很黑")
        .await
        .unwrap();
    interact(&c, "#sim-photo-send", &mut count).await;
    // The kind question: one press says "incident, this category".
    interact(&c, ".sim-inline button[value*=\":kc:\"]", &mut count).await;
    interact(&c, ".sim-kb-location", &mut count).await;
    interact(&c, ".sim-inline button[value$=\":submit\"]", &mut count).await;
    wait_text(&c, "已提交").await;
    let filed = filed_by(&t, madong.id)
        .await
        .expect("the incident was filed");
    println!(
        "simulator (browser): a new member bound and filed a first incident in {count} interactions"
    );
    assert!(count <= 6, "{count} interactions");
    assert!(filed.simulated);
    assert!(c.source().await.unwrap().contains("class=\"sim-photo\""));
    // A message queued for the member meanwhile shows up without reloading (the page polls).
    let member = member_by_phone(&t.db, UNBOUND_PHONE).await;
    let txn = t.db.write().await.unwrap();
    let queued = enqueue_to_member(
        &*txn,
        &member,
        MessageKind::Reply,
        &OutgoingMessage::text("社区已收到，正在安排（轮询测试）"),
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    assert!(queued.is_some_and(|q| q.simulated));
    wait_text(&c, "社区已收到，正在安排（轮询测试）").await;

    // The inbox shows it with the badge; staff take it to closed through the panel.
    c.goto(&app.url("/inbox")).await.unwrap();
    let row = wait_for(&c, &format!("tr[data-id=\"{}\"]", filed.id)).await;
    assert!(row.find(Locator::Css(".tag.sim")).await.is_ok(), "badge");
    click(&c, &format!("a[href=\"/reports/{}\"].num", filed.id)).await;
    wait_state(&c, "submitted").await;
    assert!(c.find(Locator::Css("#report-simulated")).await.is_ok());
    click(&c, "#do-accept").await;
    wait_state(&c, "accepted").await;
    c.find(Locator::Css("#assignee"))
        .await
        .unwrap()
        .select_by_value(&format!("s:{}", w.secretary.id))
        .await
        .unwrap();
    click(&c, "#do-assign").await;
    wait_state(&c, "assigned").await;
    click(&c, "#do-resolve").await;
    wait_state(&c, "resolved").await;
    click(&c, "#do-close").await;
    wait_state(&c, "closed").await;
    let closed = reload(&t.db, filed.id).await;
    assert_eq!(closed.state, ReportState::Closed);

    // Back in the simulator, the member has the updates.
    c.goto(&app.url(&format!("/simulator/{}", madong.id)))
        .await
        .unwrap();
    let id = filed.id;
    wait_text(&c, &format!("#{id} 已受理")).await;
    wait_text(&c, &format!("#{id} 已办结")).await;
    let chat = simulator::chat_of_member(madong.id);
    let rows = outbox::Entity::find()
        .filter(outbox::Column::ChatId.eq(chat))
        .all(t.db.conn())
        .await
        .unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.simulated && r.status.code() == "sent")
    );
    // Scroll the chat to the newest message for the picture.
    tokio::time::sleep(Duration::from_millis(300)).await;
    screenshot(&c, "simulator.png").await;
    assert!(artifacts().join("simulator.png").is_file());
    c.close().await.unwrap();
}
