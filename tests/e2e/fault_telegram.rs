//! Fault tests (issue 7): the fake Telegram server answers a seeded random share of
//! sendMessage calls with 502 (teloxide then sleeps 10 s before returning the error), a delay,
//! or a cut connection — before the message is recorded as delivered, or after — and a share
//! of getUpdates calls with 502 or a cut after handing the updates out. Every report still
//! gets its receipt exactly once, except receipts whose send got no answer at all (a cut
//! connection): those are `uncertain`, as the delivery queue's rule says (Telegram may have
//! delivered them; they are not resent blindly), and the test checks each against the fault
//! the server applied: delivered exactly when the cut came after the delivery.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gridline_shared::conversation::runner::single_report_number;
use gridline_tests::fake_telegram::{FakeTelegram, Fault, RandomFaults};
use gridline_tests::{TestDb, db_test};

use crate::fault_kill::{
    Burst, Rng, check_reports, spawn_serve, stop, top_category, users, wait_settled,
};

db_test!(receipts_survive_telegram_faults, |t: TestDb| async move {
    let started = Instant::now();
    let mut rng = Rng::new("receipts_survive_telegram_faults");
    let users = users(&t.db, 20).await;
    let category = top_category(&t.db).await;
    let fake = Arc::new(FakeTelegram::start().await);
    fake.random_faults(
        "sendMessage",
        RandomFaults {
            seed: rng.next_u64(),
            server_error: 0.10,
            delayed: 0.08,
            delay: (Duration::from_millis(200), Duration::from_millis(2500)),
            reset_before: 0.04,
            reset_after: 0.04,
        },
    );
    fake.random_faults(
        "getUpdates",
        RandomFaults {
            seed: rng.next_u64(),
            server_error: 0.03,
            delayed: 0.0,
            delay: (Duration::ZERO, Duration::ZERO),
            reset_before: 0.0,
            reset_after: 0.05,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_serve(&t.url, &fake, dir.path(), "serve.log");
    let burst = Burst::start(
        fake.clone(),
        &users,
        category,
        Duration::from_millis(1500),
        &mut rng,
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    let filed = burst.finish().await;
    // The faults go on while the worker retries.
    wait_settled(&t.db, &fake, &filed, Duration::from_secs(90)).await;
    let tally = check_reports(&t.db, &fake, &filed).await;
    stop(&mut child);

    assert_eq!(tally.retaken_rows, 0, "nothing was killed: no row retaken");
    assert_eq!(tally.duplicates, 0, "no receipt arrived twice");
    // Every uncertain receipt: delivered exactly when a cut came after its delivery.
    let applied = fake.applied_faults();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    let mut receipt_faults: HashMap<i64, Vec<Fault>> = HashMap::new();
    for a in &applied {
        let kind = match a.fault {
            Fault::ServerError => "502",
            Fault::Delay(_) => "delay",
            Fault::Reset => "cut before",
            Fault::ResetAfter => "cut after",
            _ => "other",
        };
        *kinds.entry(format!("{} {kind}", a.method)).or_default() += 1;
        if a.method == "sendmessage"
            && a.text.starts_with("已提交")
            && let Some(n) = single_report_number(&a.text)
        {
            receipt_faults.entry(n).or_default().push(a.fault.clone());
        }
    }
    let mut delivered_uncertain = 0;
    for (report, copies) in &tally.uncertain {
        let faults = receipt_faults.get(report).cloned().unwrap_or_default();
        let cut_after = faults.contains(&Fault::ResetAfter);
        let cut_before = faults.contains(&Fault::Reset);
        assert!(
            cut_after || cut_before,
            "receipt of #{report} is uncertain without a cut connection: {faults:?}"
        );
        assert_eq!(
            *copies,
            usize::from(cut_after),
            "receipt of #{report}: delivered iff the cut came after delivery ({faults:?})"
        );
        delivered_uncertain += copies;
    }
    let retried = receipt_faults
        .values()
        .filter(|f| f.contains(&Fault::ServerError))
        .count();
    assert_eq!(
        tally.receipts,
        tally.reports - tally.uncertain.len() + delivered_uncertain,
        "every other report got exactly one receipt"
    );
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort();
    println!(
        "Telegram faults ({:?}): {} reports, {} receipts; {} receipts retried by the worker after a 502; \
         {} uncertain (cut connection; {} of them delivered before the cut); faults applied {kinds:?}; {:.1?}",
        t.backend(),
        tally.reports,
        tally.receipts,
        retried,
        tally.uncertain.len(),
        delivered_uncertain,
        started.elapsed()
    );
    assert!(
        retried > 0,
        "some receipt met a 502 (else nothing was tested)"
    );
    assert!(tally.reports >= 20, "the burst filed too little to test");
});
