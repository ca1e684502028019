//! Orchestration of one invocation, generic over the I/O traits: decode the
//! event, and for each object skip the function's own output and objects
//! already fully processed, stream-analyse it on a blocking thread, write
//! the summaries (`files` last), publish the SNS message, then record a
//! completion marker with a conditional put.
//!
//! Failure windows (at-least-once delivery): a crash after publishing and
//! before the marker is written means a retry publishes a second message;
//! two deliveries of one object running at the same moment may both
//! publish. Summaries are always overwritten in place, so they converge.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use crate::analyze::{AnalyzeError, Counts};
use crate::config::{Config, ConfigError};
use crate::event::{decode, BatchTask, Invocation, Notice, ObjectRef};
use crate::io::{ObjectStore, Publisher, StoreError};
use crate::report::build_message;
use crate::rules::Severity;
use crate::source::SourceRef;
use crate::stream::analyze_reader;

/// Settings of the Lambda function, from `FLOWGUARD_*` variables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Engine configuration.
    pub engine: Arc<Config>,
    /// Bucket for summaries; `None` means the source object's bucket.
    pub summary_bucket: Option<String>,
    /// SNS topic; `None` disables publishing.
    pub topic_arn: Option<String>,
}

impl Settings {
    /// Reads the environment (pass `std::env::vars()`). Unknown
    /// `FLOWGUARD_*` variables are errors, so a typo never silently keeps a
    /// default.
    pub fn from_env<I: IntoIterator<Item = (String, String)>>(
        vars: I,
    ) -> Result<Settings, ConfigError> {
        let (engine, rest) = Config::from_env(vars)?;
        let mut settings = Settings {
            engine: Arc::new(engine),
            summary_bucket: None,
            topic_arn: None,
        };
        for (k, v) in rest {
            let v = v.trim().to_string();
            let err = |message: &str| ConfigError {
                origin: k.clone(),
                message: message.to_string(),
            };
            match k.as_str() {
                "FLOWGUARD_SUMMARY_BUCKET" => {
                    let ok = (3..=63).contains(&v.len())
                        && v.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                        });
                    if !ok {
                        return Err(err("not a valid S3 bucket name"));
                    }
                    settings.summary_bucket = Some(v);
                }
                "FLOWGUARD_TOPIC_ARN" if v.is_empty() => {}
                "FLOWGUARD_TOPIC_ARN" => {
                    if !v.starts_with("arn:") || v.split(':').count() < 6 {
                        return Err(err(
                            "not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                        ));
                    }
                    settings.topic_arn = Some(v);
                }
                _ => return Err(err("unknown flowguard setting")),
            }
        }
        Ok(settings)
    }
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ObjectOutcome {
    /// Analysed, summaries written, message published if any.
    Processed {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Record counts.
        #[serde(flatten)]
        counts: Counts,
        /// Findings of all severities.
        findings: usize,
        /// Whether an SNS message was published.
        published: bool,
        /// Summary location.
        summaries: String,
    },
    /// Acknowledged without analysis.
    Skipped {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Why one object failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}")]
pub struct ObjectFailure {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// What happened.
    pub error: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
}

/// An invocation that must be retried by Lambda.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload matched no event shape.
    #[error(transparent)]
    Event(#[from] crate::event::EventError),
    /// Some objects failed (the others were processed).
    #[error("{} object(s) failed: {}", .0.len(), .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    Objects(Vec<ObjectFailure>),
}

/// The handler, generic over storage and publishing.
pub struct Handler<S, P> {
    store: Arc<S>,
    publisher: Arc<P>,
    settings: Settings,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<S: ObjectStore, P: Publisher> Handler<S, P> {
    /// Builds the handler once; it is shared by all invocations.
    pub fn new(store: Arc<S>, publisher: Arc<P>, settings: Settings) -> Handler<S, P> {
        Handler {
            store,
            publisher,
            settings,
        }
    }

    /// Handles one invocation payload and returns the response.
    pub async fn handle(&self, payload: Value) -> Result<Value, HandlerError> {
        match decode(&payload)? {
            Invocation::Notices(notices) => {
                let mut outcomes = Vec::new();
                let mut failures = Vec::new();
                for n in notices {
                    match self.notice(n).await {
                        Ok(o) => outcomes.push(o),
                        Err(f) => failures.push(f),
                    }
                }
                if !failures.is_empty() {
                    return Err(HandlerError::Objects(failures));
                }
                let (processed, skipped): (Vec<_>, Vec<_>) = outcomes
                    .into_iter()
                    .partition(|o| matches!(o, ObjectOutcome::Processed { .. }));
                Ok(json!({ "processed": processed, "skipped": skipped }))
            }
            Invocation::Sqs(items) => {
                let mut failed = Vec::new();
                for item in items {
                    let ok = match item.notices {
                        Err(e) => {
                            tracing::error!(message_id = %item.message_id, error = %e, "SQS message is not an S3 notification");
                            false
                        }
                        Ok(notices) => {
                            let mut ok = true;
                            for n in notices {
                                if self.notice(n).await.is_err() {
                                    ok = false;
                                }
                            }
                            ok
                        }
                    };
                    if !ok {
                        failed.push(json!({ "itemIdentifier": item.message_id }));
                    }
                }
                Ok(json!({ "batchItemFailures": failed }))
            }
            Invocation::Batch {
                schema,
                invocation_id,
                tasks,
            } => {
                let mut results = Vec::new();
                for task in tasks {
                    results.push(self.batch_task(task).await);
                }
                Ok(json!({
                    "invocationSchemaVersion": schema,
                    "treatMissingKeysAs": "PermanentFailure",
                    "invocationId": invocation_id,
                    "results": results,
                }))
            }
        }
    }

    async fn batch_task(&self, task: BatchTask) -> Value {
        let (code, text) = match task.object {
            Err(e) => ("PermanentFailure", e),
            Ok(obj) => match self.process(&obj).await {
                Ok(ObjectOutcome::Processed { findings, .. }) => {
                    ("Succeeded", format!("{findings} findings"))
                }
                Ok(ObjectOutcome::Skipped { reason, .. }) if reason == NO_SUCH_OBJECT => {
                    ("PermanentFailure", reason)
                }
                Ok(ObjectOutcome::Skipped { reason, .. }) => ("Succeeded", reason),
                Err(f) if f.retryable => ("TemporaryFailure", f.error),
                Err(f) => ("PermanentFailure", f.error),
            },
        };
        json!({ "taskId": task.task_id, "resultCode": code, "resultString": text })
    }

    async fn notice(&self, n: Notice) -> Result<ObjectOutcome, ObjectFailure> {
        match n {
            Notice::Created(obj) => self.process(&obj).await,
            Notice::Test => {
                tracing::info!("s3:TestEvent acknowledged");
                Ok(ObjectOutcome::Skipped {
                    bucket: String::new(),
                    key: String::new(),
                    reason: "s3:TestEvent".into(),
                })
            }
            Notice::Ignored { event, key } => {
                tracing::info!(event = %event, key = ?key, "event is not an object creation; skipped");
                Ok(ObjectOutcome::Skipped {
                    bucket: String::new(),
                    key: key.unwrap_or_default(),
                    reason: format!("event {event}"),
                })
            }
        }
    }

    fn summary_bucket<'a>(&'a self, obj: &'a ObjectRef) -> &'a str {
        self.settings
            .summary_bucket
            .as_deref()
            .unwrap_or(&obj.bucket)
    }

    /// Processes one object end to end.
    pub async fn process(&self, obj: &ObjectRef) -> Result<ObjectOutcome, ObjectFailure> {
        let started = Instant::now();
        let config = self.settings.engine.clone();
        let prefix = config.summary_prefix.clone();
        let out_bucket = self.summary_bucket(obj).to_string();
        let skipped = |reason: &str| ObjectOutcome::Skipped {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            reason: reason.to_string(),
        };
        // Every failure message names the object, once.
        let name = format!("s3://{}/{}", obj.bucket, obj.key);
        let fail = |error: String, retryable: bool| ObjectFailure {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            error: if error.starts_with(&name) {
                error
            } else {
                format!("{name}: {error}")
            },
            retryable,
        };
        if obj.bucket == out_bucket && obj.key.starts_with(&prefix) {
            tracing::info!(bucket = %obj.bucket, key = %obj.key, "own summary output; skipped");
            return Ok(skipped("summary output of flowguard"));
        }
        let opened = match self
            .store
            .open(&obj.bucket, &obj.key, obj.version_id.as_deref())
            .await
        {
            Ok(o) => o,
            Err(StoreError::NotFound { .. }) => {
                // Deleted between the event and the read: retrying cannot
                // bring it back, so acknowledge instead of retrying forever.
                tracing::warn!(bucket = %obj.bucket, key = %obj.key, "object no longer exists; skipped without retry");
                return Ok(skipped(NO_SUCH_OBJECT));
            }
            Err(e) => {
                tracing::error!(bucket = %obj.bucket, key = %obj.key, error = %e, "cannot read object");
                return Err(fail(e.to_string(), e.is_retryable()));
            }
        };
        let identity = opened
            .version_id
            .clone()
            .or_else(|| obj.version_id.clone())
            .or_else(|| opened.etag.clone())
            .or_else(|| obj.etag.clone())
            .unwrap_or_else(|| "unversioned".into());
        let marker = format!(
            "{prefix}_state/processed/{}/{}/{identity}.json",
            obj.bucket, obj.key
        );
        match self.store.exists(&out_bucket, &marker).await {
            Ok(true) => {
                tracing::info!(bucket = %obj.bucket, key = %obj.key, marker = %marker, "already processed; skipped");
                return Ok(skipped("already processed"));
            }
            Ok(false) => {}
            Err(e) => return Err(fail(e.to_string(), e.is_retryable())),
        }

        let source = SourceRef::S3 {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
        };
        let body = opened.body;
        let engine_config = config.clone();
        let analysed = tokio::task::spawn_blocking(move || {
            analyze_reader(body, source, &engine_config, now(), None)
        })
        .await
        .map_err(|e| fail(format!("analysis task: {e}"), true))?;
        let report = match analysed {
            Ok(r) => r,
            Err(e) => {
                let retryable = e.is_retryable();
                let kind = match e {
                    AnalyzeError::NotFlowLog { .. } => "not a flow log",
                    AnalyzeError::Read { .. } => "read failed",
                };
                tracing::error!(bucket = %obj.bucket, key = %obj.key, error = %e, retryable, "{kind}; nothing written");
                return Err(fail(e.to_string(), retryable));
            }
        };
        for w in &report.warnings {
            tracing::warn!(bucket = %obj.bucket, key = %obj.key, "{w}");
        }
        for s in report.summary_objects(&prefix) {
            if let Err(e) = self
                .store
                .put(
                    &out_bucket,
                    &s.key,
                    s.body,
                    "application/x-ndjson",
                    Some("gzip"),
                )
                .await
            {
                tracing::error!(key = %s.key, error = %e, "writing summary failed");
                return Err(fail(e.to_string(), e.is_retryable()));
            }
        }
        let summaries = format!("s3://{out_bucket}/{prefix}");
        let mut message_id = None;
        if self.settings.topic_arn.is_some() {
            if let Some(msg) = build_message(&report, config.min_severity, &summaries) {
                match self.publisher.publish(&msg).await {
                    Ok(id) => message_id = Some(id),
                    Err(e) => {
                        tracing::error!(error = %e, "publishing findings failed");
                        return Err(fail(e.to_string(), e.retryable));
                    }
                }
            }
        }
        let marker_body = json!({
            "source": report.source,
            "processed_at": report.files.processed_at,
            "findings": report.findings.len(),
            "message_id": message_id,
        });
        match self
            .store
            .put_if_absent(&out_bucket, &marker, marker_body.to_string().into_bytes())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(marker = %marker, "completion marker already present: a concurrent delivery also processed this object")
            }
            // The work is done; a missing marker only risks a duplicate message.
            Err(e) => {
                tracing::warn!(marker = %marker, error = %e, "could not write completion marker")
            }
        }
        let counts = report.counts();
        let by_sev = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            bucket = %obj.bucket, key = %obj.key, records = counts.records, malformed = counts.malformed,
            findings = report.findings.len(), published = message_id.is_some(), elapsed_ms, "processed"
        );
        println!(
            "{}",
            emf_line(
                now() * 1000,
                counts,
                [
                    by_sev(Severity::High),
                    by_sev(Severity::Medium),
                    by_sev(Severity::Low)
                ],
                elapsed_ms
            )
        );
        Ok(ObjectOutcome::Processed {
            bucket: obj.bucket.clone(),
            key: obj.key.clone(),
            counts,
            findings: report.findings.len(),
            published: message_id.is_some(),
            summaries,
        })
    }
}

/// Outcome reason for an object deleted before it was read.
pub const NO_SUCH_OBJECT: &str = "object no longer exists";

/// A CloudWatch Embedded Metric Format line for one object.
pub fn emf_line(
    timestamp_ms: u64,
    counts: Counts,
    findings: [usize; 3],
    duration_ms: u64,
) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "flowguard",
                "Dimensions": [[]],
                "Metrics": [
                    {"Name": "Objects", "Unit": "Count"},
                    {"Name": "Records", "Unit": "Count"},
                    {"Name": "MalformedRecords", "Unit": "Count"},
                    {"Name": "FindingsHigh", "Unit": "Count"},
                    {"Name": "FindingsMedium", "Unit": "Count"},
                    {"Name": "FindingsLow", "Unit": "Count"},
                    {"Name": "Duration", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Objects": 1,
        "Records": counts.records,
        "MalformedRecords": counts.malformed,
        "FindingsHigh": findings[0],
        "FindingsMedium": findings[1],
        "FindingsLow": findings[2],
        "Duration": duration_ms,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    //! Error paths with in-memory fakes; the S3/SNS paths are tested against
    //! moto in `tests/e2e`.
    use super::*;
    use crate::io::memory::{MemoryPublisher, MemoryStore};
    use serde_json::json;

    const BUCKET: &str = "logs";
    const KEY: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-1_20250626T1820Z_ab.log";

    fn exposed_ssh() -> Vec<u8> {
        let mut t = String::from("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n");
        for i in 0..25 {
            t.push_str(&format!(
                "2 123456789012 eni-1 198.51.100.7 10.0.0.5 {} 22 6 10 800 1750961400 1750961460 ACCEPT OK\n",
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
        let settings = Settings::from_env(vec![(
            "FLOWGUARD_TOPIC_ARN".to_string(),
            "arn:aws:sns:us-east-1:123456789012:findings".to_string(),
        )])
        .unwrap();
        let h = Handler::new(store.clone(), publisher.clone(), settings);
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
        assert_eq!(summaries(&store).len(), 6);
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
        assert_eq!(first.len(), 5);
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

    #[test]
    fn settings_reject_unknown_and_invalid_variables() {
        let one = |k: &str, v: &str| Settings::from_env(vec![(k.to_string(), v.to_string())]);
        assert_eq!(
            one("FLOWGUARD_TOPIC_ARN", "not-an-arn").unwrap_err().origin,
            "FLOWGUARD_TOPIC_ARN"
        );
        assert_eq!(
            one("FLOWGUARD_SUMMARY_BUCKET", "Bad_Bucket")
                .unwrap_err()
                .origin,
            "FLOWGUARD_SUMMARY_BUCKET"
        );
        assert_eq!(
            one("FLOWGUARD_TYPO", "1").unwrap_err().origin,
            "FLOWGUARD_TYPO"
        );
        assert!(one("FLOWGUARD_TOPIC_ARN", "").unwrap().topic_arn.is_none());
    }
}
