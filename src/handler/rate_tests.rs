//! The email rate guard with in-memory fakes: a budget per minute, the
//! rest held and sent once as a digest (with the next message or on the
//! schedule), a failed send keeping them held. The same path against
//! DynamoDB and SNS on moto is `tests/e2e/test_delivery.py`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::event::ObjectRef;
use crate::io::memory::{MemoryPublisher, MemoryStore};

const BUCKET: &str = "logs";

/// Object `n`: SSH on 10.0.0.`n` accepting flows from one internet address,
/// a finding of its own.
fn exposure(n: u32) -> (String, Vec<u8>) {
    let key = format!("AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-1_20250626T1820Z_{n:04x}.log");
    let mut t = String::from("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
    for i in 0..3 {
        t.push_str(&format!(
            "2 123456789012 eni-0a1b2c3d4e5f6{n:04x} 198.51.100.{} 10.0.0.{n} {} 22 6 10 800 1750961400 1750961460 ACCEPT OK\n",
            n % 250,
            40000 + i
        ));
    }
    (key, t.into_bytes())
}

type Guarded = Handler<MemoryStore, MemoryPublisher, crate::correlate::MemoryStore>;

fn guarded(budget: u64) -> (Arc<MemoryStore>, Arc<MemoryPublisher>, Guarded) {
    let store = Arc::new(MemoryStore::default());
    let publisher = Arc::new(MemoryPublisher::default());
    let config = Config::from_env(vec![
        (
            "FLOWGUARD_TOPIC_ARN".to_string(),
            "arn:aws:sns:us-east-1:123456789012:findings".to_string(),
        ),
        (
            "FLOWGUARD_MAX_MESSAGES_PER_MINUTE".to_string(),
            budget.to_string(),
        ),
    ])
    .unwrap();
    let state = Arc::new(crate::correlate::MemoryStore::default());
    let h = Handler::with_state(store.clone(), publisher.clone(), Arc::new(config), state);
    (store, publisher, h)
}

fn object(key: &str) -> ObjectRef {
    ObjectRef {
        bucket: BUCKET.into(),
        key: key.into(),
        size: None,
        etag: None,
        version_id: None,
        sequencer: None,
    }
}

/// finding id -> how many messages carried it.
fn delivered(p: &MemoryPublisher) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in p.published.lock().unwrap().iter() {
        let parts: Value = serde_json::from_str(&m.message).unwrap();
        let default: Value = serde_json::from_str(parts["default"].as_str().unwrap()).unwrap();
        for f in default["findings"].as_array().unwrap() {
            *out.entry(f["finding_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    out
}

fn schedule() -> Value {
    json!({"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": "123456789012", "time": "2025-06-26T19:00:00Z", "region": "us-east-1",
           "resources": [], "detail": {}})
}

/// Forgets the minute's count, as the next minute would.
fn next_minute(h: &Guarded) {
    let state = h.state.as_ref().unwrap();
    state.hold.counts.lock().unwrap().clear();
}

#[tokio::test]
async fn over_the_budget_notifications_are_held_and_sent_once_as_a_digest() {
    let (store, publisher, h) = guarded(2);
    for n in 1..=5 {
        let (key, body) = exposure(n);
        store.insert(BUCKET, &key, body);
        h.process(&object(&key)).await.unwrap();
    }
    // Two messages in the minute; three notifications held.
    assert_eq!(publisher.published.lock().unwrap().len(), 2);
    assert_eq!(delivered(&publisher).len(), 2);
    let state = h.state.as_ref().unwrap();
    assert_eq!(state.hold.held.lock().unwrap().len(), 3);
    // The schedule in the same minute cannot send: the budget is spent.
    assert_eq!(h.handle(schedule()).await.unwrap(), json!({"held_sent": 0}));
    next_minute(&h);
    assert_eq!(h.handle(schedule()).await.unwrap(), json!({"held_sent": 3}));
    let sent = delivered(&publisher);
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert!(sent.values().all(|&n| n == 1), "{sent:?}");
    assert_eq!(publisher.published.lock().unwrap().len(), 3);
    assert!(state.hold.held.lock().unwrap().is_empty());
    // Nothing is left for a later schedule.
    next_minute(&h);
    assert_eq!(h.handle(schedule()).await.unwrap(), json!({"held_sent": 0}));
}

#[tokio::test]
async fn the_next_message_that_fits_carries_the_digest() {
    let (store, publisher, h) = guarded(1);
    for n in 1..=3 {
        let (key, body) = exposure(n);
        store.insert(BUCKET, &key, body);
        h.process(&object(&key)).await.unwrap();
    }
    assert_eq!(publisher.published.lock().unwrap().len(), 1);
    next_minute(&h);
    let (key, body) = exposure(4);
    store.insert(BUCKET, &key, body);
    h.process(&object(&key)).await.unwrap();
    let messages = publisher.published.lock().unwrap().clone();
    assert_eq!(messages.len(), 2);
    let parts: Value = serde_json::from_str(&messages[1].message).unwrap();
    let default: Value = serde_json::from_str(parts["default"].as_str().unwrap()).unwrap();
    assert_eq!(default["findings"].as_array().unwrap().len(), 3);
    assert_eq!(default["held"], 2);
    assert!(parts["email"]
        .as_str()
        .unwrap()
        .contains("2 of them were held back"));
    assert_eq!(delivered(&publisher).len(), 4);
}

#[tokio::test]
async fn a_failed_send_keeps_the_held_notifications() {
    let (store, publisher, h) = guarded(1);
    for n in 1..=3 {
        let (key, body) = exposure(n);
        store.insert(BUCKET, &key, body);
        h.process(&object(&key)).await.unwrap();
    }
    next_minute(&h);
    *publisher.fail.lock().unwrap() = Some("SNS unavailable".into());
    let err = h.handle(schedule()).await.unwrap_err();
    assert!(err.to_string().contains("SNS unavailable"), "{err}");
    let state = h.state.as_ref().unwrap();
    {
        let held = state.hold.held.lock().unwrap();
        assert_eq!(held.len(), 2);
        assert!(held.values().all(|(_, claim)| claim.is_none()), "released");
    }
    *publisher.fail.lock().unwrap() = None;
    next_minute(&h);
    assert_eq!(h.handle(schedule()).await.unwrap(), json!({"held_sent": 2}));
    let sent = delivered(&publisher);
    assert_eq!(sent.len(), 3);
    assert!(sent.values().all(|&n| n == 1), "{sent:?}");
}

#[tokio::test]
async fn a_retried_object_over_the_budget_is_held_once() {
    let (store, publisher, h) = guarded(1);
    let (first, body) = exposure(1);
    store.insert(BUCKET, &first, body);
    h.process(&object(&first)).await.unwrap();
    let (key, body) = exposure(2);
    store.insert(BUCKET, &key, body);
    h.process(&object(&key)).await.unwrap();
    // A duplicate delivery of the held object (its marker removed, as if
    // the first attempt had died after holding).
    for k in store.keys(BUCKET) {
        if k.contains("_state/processed/") && k.contains("0002") {
            store.remove(BUCKET, &k);
        }
    }
    h.process(&object(&key)).await.unwrap();
    assert_eq!(h.state.as_ref().unwrap().hold.held.lock().unwrap().len(), 1);
    next_minute(&h);
    h.handle(schedule()).await.unwrap();
    let sent = delivered(&publisher);
    assert_eq!(sent.len(), 2);
    assert!(sent.values().all(|&n| n == 1), "{sent:?}");
}

/// A claimer that dies between claiming held notifications and sending
/// them keeps its claim only until the end it chose (just past its
/// invocation's deadline); then the next claimer takes them, oldest first.
/// A live claim is never taken.
#[tokio::test]
async fn a_dead_claimers_held_notifications_come_back_after_its_claim_ends() {
    use crate::catalogue::{Direction, RuleId};
    use crate::correlate::hold::{Held, HoldStore, MemoryHold};
    let h = MemoryHold::default();
    for (id, at) in [("a", 100), ("b", 101)] {
        let held = Held {
            id: id.into(),
            finding: crate::report::asff::tests::big_finding(RuleId::PortScan, Direction::Inbound),
            summaries: "s3://b/p/".into(),
            held_at: at,
        };
        h.hold("t", &held).await.unwrap();
    }
    assert_eq!(
        h.claim_held("t", "dead", 200, 230, 10).await.unwrap().len(),
        2
    );
    assert!(h
        .claim_held("t", "live", 229, 260, 10)
        .await
        .unwrap()
        .is_empty());
    let after = h.claim_held("t", "live", 230, 260, 10).await.unwrap();
    let ids: Vec<&str> = after.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
}

/// The claim of an invocation ends just past its deadline; without one
/// (the CLI, tests), after the fixed lease.
#[test]
fn claims_end_just_past_the_invocations_deadline() {
    let (_, _, handler) = guarded(30);
    assert_eq!(
        handler.claim_until(1_000),
        1_000 + crate::correlate::hold::HOLD_LEASE_SECONDS
    );
    handler.set_deadline(1_900_000);
    assert_eq!(
        handler.claim_until(1_000),
        1_900 + crate::correlate::hold::HOLD_LEASE_MARGIN_SECONDS
    );
}
