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
