//! Error paths with in-memory fakes; the S3/SNS paths are tested against
//! moto in `tests/e2e`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::analyze::Counts;
use crate::event::ObjectRef;
use crate::io::memory::{MemoryPublisher, MemoryStore};
use crate::rules::Severity;

const BUCKET: &str = "logs";
const KEY: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-1_20250626T1820Z_ab.log";

fn exposed_ssh() -> Vec<u8> {
    let mut t = String::from("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
    for i in 0..25 {
        t.push_str(&format!(
            "2 123456789012 eni-00000001 198.51.100.7 10.0.0.5 {} 22 6 10 800 1750961400 1750961460 ACCEPT OK\n",
            40000 + i
        ));
    }
    t.into_bytes()
}

fn handler() -> (
    Arc<MemoryStore>,
    Arc<MemoryPublisher>,
    Handler<MemoryStore, MemoryPublisher>,
) {
    let store = Arc::new(MemoryStore::default());
    let publisher = Arc::new(MemoryPublisher::default());
    let config = Config::from_env(vec![(
        "FLOWGUARD_TOPIC_ARN".to_string(),
        "arn:aws:sns:us-east-1:123456789012:findings".to_string(),
    )])
    .unwrap();
    let h = Handler::new(store.clone(), publisher.clone(), Arc::new(config));
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

fn published(p: &MemoryPublisher) -> usize {
    p.published.lock().unwrap().len()
}

fn summaries(s: &MemoryStore) -> Vec<String> {
    s.keys(BUCKET)
        .into_iter()
        .filter(|k| k.starts_with("flowguard/") && !k.starts_with("flowguard/_state/"))
        .collect()
}

fn markers(s: &MemoryStore) -> Vec<String> {
    s.keys(BUCKET)
        .into_iter()
        .filter(|k| k.starts_with("flowguard/_state/"))
        .collect()
}

#[tokio::test]
async fn processes_publishes_once_and_skips_duplicates() {
    let (store, publisher, h) = handler();
    store.insert(BUCKET, KEY, exposed_ssh());
    let out = h.process(&object(KEY)).await.unwrap();
    assert!(
        matches!(
            out,
            ObjectOutcome::Processed {
                findings: 2,
                published: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(summaries(&store).len(), 7);
    assert!(summaries(&store).iter().any(|k| k.starts_with(
        "flowguard/files/account=123456789012/region=us-east-1/dt=2025-06-26/hour=18/"
    )));
    assert_eq!(markers(&store).len(), 1);
    let again = h.process(&object(KEY)).await.unwrap();
    assert!(
        matches!(&again, ObjectOutcome::Skipped { reason, .. } if reason == "already processed")
    );
    assert_eq!(published(&publisher), 1);
    let msg = &publisher.published.lock().unwrap()[0];
    assert_eq!(msg.severity, Severity::High);
    assert!(msg
        .subject
        .starts_with("[HIGH] flowguard: 2 findings in 123456789012/us-east-1"));
}

fn correlating() -> (
    Arc<MemoryStore>,
    Arc<MemoryPublisher>,
    Handler<MemoryStore, MemoryPublisher, crate::correlate::MemoryStore>,
) {
    let store = Arc::new(MemoryStore::default());
    let publisher = Arc::new(MemoryPublisher::default());
    let config = Config::from_env(vec![(
        "FLOWGUARD_TOPIC_ARN".to_string(),
        "arn:aws:sns:us-east-1:123456789012:findings".to_string(),
    )])
    .unwrap();
    let state = Arc::new(crate::correlate::MemoryStore::default());
    let h = Handler::with_state(store.clone(), publisher.clone(), Arc::new(config), state);
    (store, publisher, h)
}

#[tokio::test]
async fn correlated_objects_notify_a_finding_once_and_a_failed_publish_is_retried() {
    let (store, publisher, h) = correlating();
    let other = KEY.replace("_ab.log", "_cd.log");
    store.insert(BUCKET, KEY, exposed_ssh());
    store.insert(BUCKET, &other, exposed_ssh());
    *publisher.fail.lock().unwrap() = Some("topic missing".into());
    let err = h.process(&object(KEY)).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    *publisher.fail.lock().unwrap() = None;
    // The retry publishes the two findings the failed attempt claimed.
    assert!(matches!(
        h.process(&object(KEY)).await.unwrap(),
        ObjectOutcome::Processed {
            published: true,
            ..
        }
    ));
    // The same attacker and service in another object: ongoing.
    assert!(matches!(
        h.process(&object(&other)).await.unwrap(),
        ObjectOutcome::Processed {
            findings: 2,
            published: false,
            ..
        }
    ));
    let sent = publisher.published.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].subject.contains("2 findings"),
        "{}",
        sent[0].subject
    );
}

#[tokio::test]
async fn a_suppressed_finding_is_written_and_never_published() {
    let (store, publisher, h) = handler();
    let exceptions = "rule,cidr,port,reason,expires\n\
                      admin-port-exposed,10.0.0.5,22,bastion open by design,\n";
    let list =
        crate::intel::parse_suppress_list("ex.csv", "ex.csv", exceptions.as_bytes()).unwrap();
    let mut config = (**h.config()).clone();
    config.intel = Arc::new(crate::intel::Intel::new(&[], &[list]));
    let h = h.with_config(Arc::new(config));
    store.insert(BUCKET, KEY, exposed_ssh());
    h.process(&object(KEY)).await.unwrap();
    let msg = &publisher.published.lock().unwrap()[0];
    assert_eq!(msg.rules, ["admin-port-brute-force"], "{}", msg.message);
    let key = summaries(&store)
        .into_iter()
        .find(|k| k.starts_with("flowguard/findings/"))
        .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(&store.get(BUCKET, &key).unwrap()[..]),
        &mut text,
    )
    .unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exposed = rows
        .iter()
        .find(|r| r["rule"] == "admin-port-exposed")
        .unwrap();
    assert_eq!(
        (&exposed["suppressed"], &exposed["notified"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(exposed["suppression_reason"], "bastion open by design");
    let brute = rows
        .iter()
        .find(|r| r["rule"] == "admin-port-brute-force")
        .unwrap();
    assert_eq!(
        (&brute["suppressed"], &brute["notified"]),
        (&json!(false), &json!(true))
    );
}

#[test]
fn emf_counts_suppressed_findings() {
    let m = Metrics {
        counts: Counts::default(),
        findings: [2, 1, 0],
        suppressed: 1,
        notifications: 2,
        held: 3,
        digest: 4,
        state_requests: 0,
        duration_ms: 5,
    };
    let v: Value = serde_json::from_str(&emf_line(1, &m)).unwrap();
    assert_eq!(v["Suppressed"], 1);
    assert_eq!(v["FindingsHigh"], 2);
    assert_eq!(v["Notifications"], 2);
    assert_eq!(v["NotificationsHeld"], 3);
    assert_eq!(v["DigestSent"], 4);
    let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Suppressed"), "{names:?}");
}

#[tokio::test]
async fn failed_summary_write_is_retryable_and_converges() {
    let (store, publisher, h) = handler();
    store.insert(BUCKET, KEY, exposed_ssh());
    *store.fail_puts.lock().unwrap() = Some("503 SlowDown".into());
    let err = h.process(&object(KEY)).await.unwrap_err();
    assert!(err.retryable);
    assert!(err.error.contains(KEY), "{}", err.error);
    assert_eq!(published(&publisher), 0);
    assert!(markers(&store).is_empty());
    *store.fail_puts.lock().unwrap() = None;
    h.process(&object(KEY)).await.unwrap();
    let snapshot = || -> Vec<_> {
        summaries(&store)
            .into_iter()
            .filter(|k| !k.starts_with("flowguard/files/")) // processed_at differs
            .map(|k| (store.get(BUCKET, &k), k))
            .collect()
    };
    let first = snapshot();
    assert_eq!(first.len(), 6);
    assert_eq!(published(&publisher), 1);
    // A later retry (marker lost) converges to the same keys and bytes.
    store
        .objects
        .lock()
        .unwrap()
        .retain(|(_, k), _| !k.starts_with("flowguard/_state/"));
    h.process(&object(KEY)).await.unwrap();
    assert_eq!(snapshot(), first);
}

#[tokio::test]
async fn failed_publish_writes_no_marker_and_the_retry_publishes_once() {
    let (store, publisher, h) = handler();
    store.insert(BUCKET, KEY, exposed_ssh());
    *publisher.fail.lock().unwrap() = Some("topic missing".into());
    let err = h.process(&object(KEY)).await.unwrap_err();
    assert!(err.retryable);
    assert!(markers(&store).is_empty());
    *publisher.fail.lock().unwrap() = None;
    h.process(&object(KEY)).await.unwrap();
    h.process(&object(KEY)).await.unwrap();
    assert_eq!(published(&publisher), 1);
    assert_eq!(markers(&store).len(), 1);
}

#[tokio::test]
async fn not_a_flow_log_is_permanent_and_writes_nothing() {
    let (store, publisher, h) = handler();
    store.insert(
        BUCKET,
        KEY,
        b"\x00\x01binary garbage that is not a flow log\n".to_vec(),
    );
    let err = h.process(&object(KEY)).await.unwrap_err();
    assert!(!err.retryable);
    assert!(err.error.contains("not a flow log"), "{}", err.error);
    assert!(summaries(&store).is_empty());
    assert_eq!(published(&publisher), 0);
}

#[tokio::test]
async fn a_non_flow_log_is_not_read_to_the_end() {
    let (store, publisher, h) = handler();
    // 64 MB of numbered prose: the engine gives up on the first line.
    let mut body = Vec::with_capacity(64 << 20);
    let mut i = 0u64;
    while body.len() < 64 << 20 {
        body.extend_from_slice(format!("{i} GET /index.html 200\n").as_bytes());
        i += 1;
    }
    let total = body.len() as u64;
    store.insert(BUCKET, KEY, body);
    let err = h.process(&object(KEY)).await.unwrap_err();
    assert!(!err.retryable);
    assert!(err.error.contains("not a flow log"), "{}", err.error);
    let read = store.bytes_read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(read < total / 16, "read {read} of {total} bytes");
    assert!(summaries(&store).is_empty());
    assert_eq!(published(&publisher), 0);
}

#[tokio::test]
async fn a_panic_in_the_engine_is_a_permanent_failure() {
    let (store, publisher, h) = handler();
    store.insert(BUCKET, KEY, exposed_ssh());
    store
        .panic_reads
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let err = h.process(&object(KEY)).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.error.contains("internal error"), "{}", err.error);
    assert!(err.error.starts_with("s3://logs/AWSLogs/"), "{}", err.error);
    assert!(summaries(&store).is_empty());
    assert!(markers(&store).is_empty());
    assert_eq!(published(&publisher), 0);
}

#[tokio::test]
async fn own_output_and_missing_objects_are_skipped() {
    let (store, _publisher, h) = handler();
    let own = h
        .process(&object("flowguard/files/x.json.gz"))
        .await
        .unwrap();
    assert!(
        matches!(&own, ObjectOutcome::Skipped { reason, .. } if reason.contains("summary output"))
    );
    let gone = h.process(&object(KEY)).await.unwrap();
    assert!(matches!(&gone, ObjectOutcome::Skipped { reason, .. } if reason == NO_SUCH_OBJECT));
    assert!(store.keys(BUCKET).is_empty());
}

#[tokio::test]
async fn sqs_batch_reports_exactly_the_failed_message() {
    let (store, _publisher, h) = handler();
    store.insert(BUCKET, KEY, exposed_ssh());
    store.insert(
        BUCKET,
        "AWSLogs/bad.log.gz",
        b"\x1f\x8b\x08\x00truncated".to_vec(),
    );
    let body = |k: &str| {
        json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": BUCKET}, "object": {"key": k}}}]})
        .to_string()
    };
    let event = json!({"Records": [
        {"messageId": "good", "eventSource": "aws:sqs", "body": body(KEY)},
        {"messageId": "bad", "eventSource": "aws:sqs", "body": body("AWSLogs/bad.log.gz")},
        {"messageId": "junk", "eventSource": "aws:sqs", "body": "{}"}]});
    let out = h.handle(event).await.unwrap();
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "bad"}, {"itemIdentifier": "junk"}]})
    );
}

#[tokio::test]
async fn batch_operations_result_codes() {
    let (store, _publisher, h) = handler();
    store.insert(BUCKET, KEY, exposed_ssh());
    let event = json!({"invocationSchemaVersion": "1.0", "invocationId": "inv-1", "job": {"id": "j"},
        "tasks": [
            {"taskId": "t-ok", "s3Key": KEY, "s3BucketArn": "arn:aws:s3:::logs"},
            {"taskId": "t-missing", "s3Key": "AWSLogs/none.log.gz", "s3BucketArn": "arn:aws:s3:::logs"}]});
    let out = h.handle(event).await.unwrap();
    assert_eq!(out["invocationId"], "inv-1");
    assert_eq!(out["treatMissingKeysAs"], "PermanentFailure");
    assert_eq!(out["results"][0]["taskId"], "t-ok");
    assert_eq!(out["results"][0]["resultCode"], "Succeeded");
    assert_eq!(out["results"][1]["resultCode"], "PermanentFailure");
    *store.fail_opens.lock().unwrap() = Some("connection reset".into());
    let event = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-2", "job": {"id": "j"},
        "tasks": [{"taskId": "t-net", "s3Key": "AWSLogs/x.log.gz", "s3Bucket": "logs"}]});
    let out = h.handle(event).await.unwrap();
    assert_eq!(out["results"][0]["resultCode"], "TemporaryFailure");
}

/// On a current-thread runtime, as in the Lambda function.
#[tokio::test]
async fn parquet_objects_are_read_by_ranges_of_the_opened_version() {
    let (store, publisher, h) = handler();
    let key = KEY.replace(".log", ".log.parquet");
    // 25 SSH flows from the internet among 20,000 internal ones, in 3
    // row groups: a file larger than the first read from its end.
    let mut lines: Vec<String> = String::from_utf8(exposed_ssh())
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    for i in 0..20_000 {
        lines.push(format!(
            "2 123456789012 eni-00000002 10.0.{}.{} 10.0.9.9 {} 443 6 3 900 1750961400 1750961460 ACCEPT OK",
            i % 200,
            i % 250,
            30000 + i
        ));
    }
    let body = crate::flowlog::parquet::test_files::v2_parquet(&lines, 7000);
    let len = body.len() as u64;
    assert!(len > 64 * 1024, "{len}");
    store.insert(BUCKET, &key, body);
    let out = h.process(&object(&key)).await.unwrap();
    assert!(
        matches!(
            out,
            ObjectOutcome::Processed {
                findings: 2,
                published: true,
                ..
            }
        ),
        "{out:?}"
    );
    let ranges = store.ranges.lock().unwrap().clone();
    assert_eq!(
        ranges.len(),
        1 + 3,
        "the footer, then each row group: {ranges:?}"
    );
    assert_eq!(
        ranges[0].0 + ranges[0].1,
        len,
        "the first read is the file's end"
    );
    assert!(ranges[1..].iter().all(|r| r.1 < len / 2), "{ranges:?}");
    // Of the opened body only the first bytes were read.
    let body_bytes = store.bytes_read.load(std::sync::atomic::Ordering::Relaxed)
        - ranges.iter().map(|r| r.1).sum::<u64>();
    assert!(
        body_bytes <= 8,
        "{body_bytes} bytes of the GetObject body read"
    );
    let files = summaries(&store)
        .into_iter()
        .find(|k| k.starts_with("flowguard/files/"))
        .unwrap();
    assert!(files.ends_with("_20250626T1820Z_ab.json.gz"), "{files}");
    assert_eq!(published(&publisher), 1);
    // An object replaced since it was opened is not read as a mix.
    *store.fail_ranges.lock().unwrap() = Some("503 SlowDown".into());
    store
        .objects
        .lock()
        .unwrap()
        .retain(|(_, k), _| !k.starts_with("flowguard/_state/"));
    let err = h.process(&object(&key)).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.error.contains("SlowDown"), "{}", err.error);
}
