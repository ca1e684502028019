//! Orchestration of one invocation, generic over the I/O traits: decode the
//! event, and for each object skip the function's own output and objects
//! already fully processed, stream-analyse it on a blocking thread,
//! correlate it with the state store (when there is one), write the
//! summaries (`files` last), publish the SNS message with the findings due
//! for notification, settle the notification claims, then record a
//! completion marker with a conditional put.
//!
//! Failure windows (at-least-once delivery): without a state store, a crash
//! after publishing and before the marker is written means a retry
//! publishes a second message, and two deliveries of one object running at
//! the same moment may both publish. With one, a finding is claimed in the
//! store before it is published, so concurrent deliveries notify it once;
//! a crash between the claim and the publish delays the notification until
//! the claim's lease ends. Summaries are always overwritten in place, so
//! they converge.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use crate::analyze::{AnalyzeError, Counts, Report};
use crate::config::Config;
use crate::correlate::{correlate, settle, Correlated, MemoryStore, Policy, StateStore};
use crate::event::{decode, BatchTask, Invocation, Notice, ObjectRef};
use crate::io::ranged::StoreRanges;
use crate::io::{ObjectStore, OpenedObject, Publisher, StoreError};
use crate::report::build_message;
use crate::rules::{Finding, Severity};
use crate::source::SourceRef;
use crate::stream::analyze_object;

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

/// The handler, generic over storage, publishing and the correlation
/// state (`D`; none: every object on its own).
pub struct Handler<S, P, D = MemoryStore> {
    store: Arc<S>,
    publisher: Arc<P>,
    config: Arc<Config>,
    state: Option<Arc<D>>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<S: ObjectStore, P: Publisher> Handler<S, P> {
    /// Builds the handler once, without a state store: every object is
    /// analysed on its own.
    pub fn new(store: Arc<S>, publisher: Arc<P>, config: Arc<Config>) -> Handler<S, P> {
        Handler {
            store,
            publisher,
            config,
            state: None,
        }
    }
}

impl<S: ObjectStore, P: Publisher, D: StateStore + 'static> Handler<S, P, D> {
    /// Builds the handler once, correlating objects in `state`.
    pub fn with_state(
        store: Arc<S>,
        publisher: Arc<P>,
        config: Arc<Config>,
        state: Arc<D>,
    ) -> Handler<S, P, D> {
        let mut config = (*config).clone();
        config.correlate = true;
        Handler {
            store,
            publisher,
            config: Arc::new(config),
            state: Some(state),
        }
    }

    /// The same handler with another configuration (the Lambda function
    /// swaps in re-read threat and suppression lists); correlation stays
    /// on when a state store is in use.
    pub fn with_config(&self, config: Arc<Config>) -> Handler<S, P, D> {
        let mut config = config;
        if self.state.is_some() && !config.correlate {
            Arc::make_mut(&mut config).correlate = true;
        }
        Handler {
            store: self.store.clone(),
            publisher: self.publisher.clone(),
            config,
            state: self.state.clone(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
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
                            // Each failure was logged with its object by
                            // `process`; the message is retried as a whole.
                            let mut ok = true;
                            for n in notices {
                                ok &= self.notice(n).await.is_ok();
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

    /// Processes one object end to end, in named steps: [`Self::decide`]
    /// (skip the function's own output, a deleted object, an object already
    /// processed), [`Self::analyse`] (stream and analyse), [`Self::write_summaries`],
    /// [`Self::publish`], [`Self::mark`]. Every failure is logged once, by
    /// [`Job::fail`], with the bucket and key.
    pub async fn process(&self, obj: &ObjectRef) -> Result<ObjectOutcome, ObjectFailure> {
        let started = Instant::now();
        let job = Job::new(obj, &self.config);
        let (opened, marker) = match self.decide(&job).await? {
            Decision::Skip(reason) => return Ok(job.skipped(reason)),
            Decision::Process { opened, marker } => (opened, marker),
        };
        let mut report = self.analyse(&job, opened).await?;
        let (mut correlated, due) = match self.correlate(&job, &mut report).await {
            Ok(c) => c,
            Err(failure) => {
                // The summaries are written (the object's own findings,
                // none notified) before the object fails: SPEC 7.
                self.write_summaries(&job, &report).await?;
                return Err(failure);
            }
        };
        self.write_summaries(&job, &report).await?;
        let published = self.publish(&job, &report, &due).await;
        self.settle(&job, correlated.as_mut(), published.is_ok())
            .await?;
        let message_id = published?;
        self.mark(&job, &marker, &report, message_id.as_deref())
            .await;
        let requests = correlated.as_ref().map_or(0, |c| c.requests);
        Ok(job.processed(
            &report,
            message_id.as_ref().map(|_| due.len()),
            requests,
            started,
        ))
    }

    /// Step 3: with a state store, the window's findings and the
    /// notifications this invocation claimed; without, the object's own
    /// findings, each due when at or above the minimum severity. Marks the
    /// findings that will be notified.
    async fn correlate(
        &self,
        job: &Job<'_>,
        report: &mut Report,
    ) -> Result<(Option<Correlated>, Vec<Finding>), ObjectFailure> {
        let min = self.config.publish_min_severity();
        let will_publish = self.config.lambda.topic_arn.is_some();
        let Some(state) = &self.state else {
            let mut due = Vec::new();
            for f in report.findings.iter_mut() {
                if f.severity >= min && will_publish && !f.suppressed {
                    f.notified = true;
                    due.push(f.clone());
                }
            }
            return Ok((None, due));
        };
        let policy = Policy::of(&self.config, min);
        match correlate(&**state, report, &self.config, &policy, now()).await {
            Ok(c) => {
                if !will_publish {
                    report.findings.iter_mut().for_each(|f| f.notified = false);
                    return Ok((Some(c), Vec::new()));
                }
                let due = c.due.clone();
                Ok((Some(c), due))
            }
            Err(e) => Err(job.fail(
                "correlation state unavailable; summaries written, nothing published",
                e.to_string(),
                e.is_retryable(),
            )),
        }
    }

    /// Step 6: the claims of the notifications: confirmed once published,
    /// released when publishing failed, so the retry notifies them.
    async fn settle(
        &self,
        job: &Job<'_>,
        correlated: Option<&mut Correlated>,
        published: bool,
    ) -> Result<(), ObjectFailure> {
        let (Some(state), Some(c)) = (&self.state, correlated) else {
            return Ok(());
        };
        let policy = Policy::of(&self.config, self.config.publish_min_severity());
        settle(&**state, c, published, &policy, now())
            .await
            .map_err(|e| {
                job.fail(
                    "settling notification claims failed",
                    e.to_string(),
                    e.is_retryable(),
                )
            })
    }

    /// Step 1: whether to process the object at all. Opens it (the body is
    /// not read yet) and checks the completion marker.
    async fn decide(&self, job: &Job<'_>) -> Result<Decision, ObjectFailure> {
        let obj = job.obj;
        if obj.bucket == job.out_bucket
            && obj
                .key
                .starts_with(self.config.lambda.summary_prefix.as_str())
        {
            tracing::info!(bucket = %obj.bucket, key = %obj.key, "own summary output; skipped");
            return Ok(Decision::Skip(OWN_OUTPUT));
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
                return Ok(Decision::Skip(NO_SUCH_OBJECT));
            }
            Err(e) => return Err(job.fail("cannot read object", e.to_string(), e.is_retryable())),
        };
        let identity = opened
            .version_id
            .clone()
            .or_else(|| obj.version_id.clone())
            .or_else(|| opened.etag.clone())
            .or_else(|| obj.etag.clone())
            .unwrap_or_else(|| "unversioned".into());
        let marker = format!(
            "{}_state/processed/{}/{}/{identity}.json",
            self.config.lambda.summary_prefix, obj.bucket, obj.key
        );
        match self.store.exists(&job.out_bucket, &marker).await {
            Ok(true) => {
                tracing::info!(bucket = %obj.bucket, key = %obj.key, marker = %marker, "already processed; skipped");
                Ok(Decision::Skip(ALREADY_PROCESSED))
            }
            Ok(false) => Ok(Decision::Process { opened, marker }),
            Err(e) => Err(job.fail(
                "cannot check the completion marker",
                e.to_string(),
                e.is_retryable(),
            )),
        }
    }

    /// Step 2: streams the body through the engine on a blocking thread (a
    /// Parquet object, known by its first bytes, is read by ranged GETs of
    /// the version opened instead). A panic there is a bug, reported as a
    /// permanent failure: retrying the same object would panic again.
    async fn analyse(&self, job: &Job<'_>, opened: OpenedObject) -> Result<Report, ObjectFailure> {
        let source = SourceRef::S3 {
            bucket: job.obj.bucket.clone(),
            key: job.obj.key.clone(),
        };
        let config = self.config.clone();
        let ranges = StoreRanges::of_opened(self.store.clone(), job.obj, &opened);
        let body = opened.body;
        let analysed = tokio::task::spawn_blocking(move || {
            let random_access = |stream| {
                drop(stream); // the ranged GETs replace the open body
                ranges
            };
            analyze_object(body, random_access, source, &config, now(), None)
        })
        .await;
        let report = match analysed {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let what = match e {
                    AnalyzeError::NotFlowLog { .. } => "not a flow log; nothing written",
                    AnalyzeError::Read { .. } => "read failed; nothing written",
                    AnalyzeError::Internal { .. } => "internal error; nothing written",
                };
                return Err(job.fail(what, e.to_string(), e.is_retryable()));
            }
            Err(e) if e.is_panic() => {
                return Err(job.fail(
                    "internal error; nothing written",
                    format!("the analysis panicked (a bug in flowguard): {e}"),
                    false,
                ))
            }
            Err(e) => return Err(job.fail("analysis task failed", e.to_string(), true)),
        };
        for w in &report.warnings {
            tracing::warn!(bucket = %job.obj.bucket, key = %job.obj.key, "{w}");
        }
        Ok(report)
    }

    /// Step 4: every summary table, `files` last.
    async fn write_summaries(&self, job: &Job<'_>, report: &Report) -> Result<(), ObjectFailure> {
        for s in report.summary_objects(&self.config.lambda.summary_prefix) {
            if let Err(e) = self
                .store
                .put(
                    &job.out_bucket,
                    &s.key,
                    s.body,
                    "application/x-ndjson",
                    Some("gzip"),
                )
                .await
            {
                return Err(job.fail_writing(&s.key, e.to_string(), e.is_retryable()));
            }
        }
        Ok(())
    }

    /// Step 5: the SNS message of the findings due, if a topic is
    /// configured and there are any. Returns the message id.
    async fn publish(
        &self,
        job: &Job<'_>,
        report: &Report,
        due: &[Finding],
    ) -> Result<Option<String>, ObjectFailure> {
        if self.config.lambda.topic_arn.is_none() {
            return Ok(None);
        }
        let Some(msg) = build_message(report, due, &job.summaries) else {
            return Ok(None);
        };
        match self.publisher.publish(&msg).await {
            Ok(id) => Ok(Some(id)),
            Err(e) => Err(job.fail("publishing findings failed", e.to_string(), e.retryable)),
        }
    }

    /// Step 7: the completion marker, so a duplicate delivery publishes no
    /// second message. The work is done: a failure here only risks a
    /// duplicate message, so it is a warning.
    async fn mark(&self, job: &Job<'_>, marker: &str, report: &Report, message_id: Option<&str>) {
        let body = json!({
            "source": report.source,
            "processed_at": report.files.processed_at,
            "findings": report.findings.len(),
            "message_id": message_id,
        });
        match self
            .store
            .put_if_absent(&job.out_bucket, marker, body.to_string().into_bytes())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(bucket = %job.obj.bucket, key = %job.obj.key, marker = %marker, "completion marker already present: a concurrent delivery also processed this object")
            }
            Err(e) => {
                tracing::warn!(bucket = %job.obj.bucket, key = %job.obj.key, marker = %marker, error = %e, "could not write completion marker")
            }
        }
    }
}

/// What [`Handler::decide`] concluded.
enum Decision {
    /// Acknowledge without analysis, for this reason.
    Skip(&'static str),
    /// Analyse the opened object, then write `marker`.
    Process {
        opened: OpenedObject,
        marker: String,
    },
}

/// One object being processed: its names and the helpers that report on it.
struct Job<'a> {
    obj: &'a ObjectRef,
    /// `s3://bucket/key`, the start of every failure message.
    name: String,
    /// Where the summaries go.
    out_bucket: String,
    /// `s3://{out_bucket}/{prefix}`.
    summaries: String,
}

impl<'a> Job<'a> {
    fn new(obj: &'a ObjectRef, config: &Config) -> Job<'a> {
        let out_bucket = config
            .lambda
            .summary_bucket
            .as_ref()
            .map_or(obj.bucket.as_str(), |b| b.0.as_str())
            .to_string();
        Job {
            obj,
            name: format!("s3://{}/{}", obj.bucket, obj.key),
            summaries: format!("s3://{out_bucket}/{}", config.lambda.summary_prefix),
            out_bucket,
        }
    }

    /// Logs a failure (once: every failure path of an object goes through
    /// here) and builds it. The message names the object.
    fn fail(&self, what: &str, error: String, retryable: bool) -> ObjectFailure {
        let failure = self.failure(error, retryable);
        tracing::error!(bucket = %self.obj.bucket, key = %self.obj.key, error = %failure.error, retryable, "{what}");
        failure
    }

    /// [`Job::fail`] for a summary that could not be written: the log also
    /// names the summary's key.
    fn fail_writing(&self, summary_key: &str, error: String, retryable: bool) -> ObjectFailure {
        let failure = self.failure(error, retryable);
        tracing::error!(bucket = %self.obj.bucket, key = %self.obj.key, summary_key = %summary_key, error = %failure.error, retryable, "writing summary failed");
        failure
    }

    fn failure(&self, error: String, retryable: bool) -> ObjectFailure {
        let error = if error.starts_with(&self.name) {
            error
        } else {
            format!("{}: {error}", self.name)
        };
        ObjectFailure {
            bucket: self.obj.bucket.clone(),
            key: self.obj.key.clone(),
            error,
            retryable,
        }
    }

    fn skipped(&self, reason: &str) -> ObjectOutcome {
        ObjectOutcome::Skipped {
            bucket: self.obj.bucket.clone(),
            key: self.obj.key.clone(),
            reason: reason.to_string(),
        }
    }

    /// The outcome of a processed object, logged with its metrics (an
    /// Embedded Metric Format line on standard output).
    fn processed(
        &self,
        report: &Report,
        notified: Option<usize>,
        state_requests: u64,
        started: Instant,
    ) -> ObjectOutcome {
        let published = notified.is_some();
        let counts = report.counts();
        let by_sev = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
        let suppressed = report.findings.iter().filter(|f| f.suppressed).count();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            bucket = %self.obj.bucket, key = %self.obj.key, records = counts.records, malformed = counts.malformed,
            findings = report.findings.len(), suppressed, published, notifications = notified.unwrap_or(0),
            state_requests, elapsed_ms, "processed"
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
                suppressed,
                notified.unwrap_or(0),
                state_requests,
                elapsed_ms
            )
        );
        ObjectOutcome::Processed {
            bucket: self.obj.bucket.clone(),
            key: self.obj.key.clone(),
            counts,
            findings: report.findings.len(),
            published,
            summaries: self.summaries.clone(),
        }
    }
}

/// Outcome reason for the function's own summary output.
pub const OWN_OUTPUT: &str = "summary output of flowguard";
/// Outcome reason for an object whose completion marker exists.
pub const ALREADY_PROCESSED: &str = "already processed";
/// Outcome reason for an object deleted before it was read.
pub const NO_SUCH_OBJECT: &str = "object no longer exists";

/// A CloudWatch Embedded Metric Format line for one object: `findings`
/// by severity (high, medium, low), of which `suppressed`.
pub fn emf_line(
    timestamp_ms: u64,
    counts: Counts,
    findings: [usize; 3],
    suppressed: usize,
    notifications: usize,
    state_requests: u64,
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
                    {"Name": "Suppressed", "Unit": "Count"},
                    {"Name": "Notifications", "Unit": "Count"},
                    {"Name": "StateRequests", "Unit": "Count"},
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
        "Suppressed": suppressed,
        "Notifications": notifications,
        "StateRequests": state_requests,
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
        let line = emf_line(1, Counts::default(), [2, 1, 0], 1, 2, 0, 5);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Suppressed"], 1);
        assert_eq!(v["FindingsHigh"], 2);
        assert_eq!(v["Notifications"], 2);
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
                "2 123456789012 eni-2 10.0.{}.{} 10.0.9.9 {} 443 6 3 900 1750961400 1750961460 ACCEPT OK",
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
}
