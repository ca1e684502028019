//! What became of an object: its outcome, its failure (logged once, with
//! the bucket and key), the invocation's error, and the metrics line.

use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use super::now;
use crate::analyze::{Counts, Report};
use crate::config::Config;
use crate::event::ObjectRef;
use crate::rules::{Finding, Severity};

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

/// What delivering an object's notifications did.
#[derive(Debug, Default)]
pub(super) struct Delivered {
    /// The SNS message id, if one was published.
    pub message_id: Option<String>,
    /// Notifications held back by the rate guard.
    pub held: usize,
    /// Held notifications sent with this object's message.
    pub digest: usize,
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
    /// The schedule could not send the held notifications.
    #[error("sending held notifications failed: {0}")]
    Schedule(String),
}

/// One object being processed: its names and the helpers that report on it.
pub(super) struct Job<'a> {
    pub(super) obj: &'a ObjectRef,
    /// `s3://bucket/key`, the start of every failure message.
    pub(super) name: String,
    /// Where the summaries go.
    pub(super) out_bucket: String,
    /// `s3://{out_bucket}/{prefix}`.
    pub(super) summaries: String,
}

impl<'a> Job<'a> {
    pub(super) fn new(obj: &'a ObjectRef, config: &Config) -> Job<'a> {
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
    pub(super) fn fail(&self, what: &str, error: String, retryable: bool) -> ObjectFailure {
        let failure = self.failure(error, retryable);
        tracing::error!(bucket = %self.obj.bucket, key = %self.obj.key, error = %failure.error, retryable, "{what}");
        failure
    }

    /// [`Job::fail`] for a summary that could not be written: the log also
    /// names the summary's key.
    pub(super) fn fail_writing(
        &self,
        summary_key: &str,
        error: String,
        retryable: bool,
    ) -> ObjectFailure {
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

    pub(super) fn skipped(&self, reason: &str) -> ObjectOutcome {
        ObjectOutcome::Skipped {
            bucket: self.obj.bucket.clone(),
            key: self.obj.key.clone(),
            reason: reason.to_string(),
        }
    }

    /// The outcome of a processed object, logged with its metrics (an
    /// Embedded Metric Format line on standard output).
    pub(super) fn processed(
        &self,
        report: &Report,
        due: &[Finding],
        delivered: &Delivered,
        state_requests: u64,
        started: Instant,
    ) -> ObjectOutcome {
        let published = delivered.message_id.is_some();
        let counts = report.counts();
        let by_sev = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
        let metrics = Metrics {
            counts,
            findings: [
                by_sev(Severity::High),
                by_sev(Severity::Medium),
                by_sev(Severity::Low),
            ],
            suppressed: report.findings.iter().filter(|f| f.suppressed).count(),
            notifications: due.len() - delivered.held.min(due.len()),
            held: delivered.held,
            digest: delivered.digest,
            state_requests,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        for b in &report.bounds {
            tracing::info!(bucket = %self.obj.bucket, key = %self.obj.key, limit = %b.entry(), "bound reached: {}", b.explain());
        }
        tracing::info!(
            bucket = %self.obj.bucket, key = %self.obj.key, records = counts.records, malformed = counts.malformed,
            findings = report.findings.len(), suppressed = metrics.suppressed, published,
            notifications = metrics.notifications, held = metrics.held, digest = metrics.digest,
            state_requests, elapsed_ms = metrics.duration_ms, "processed"
        );
        println!("{}", emf_line(now() * 1000, &metrics));
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

/// One object's metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metrics {
    /// Record counts.
    pub counts: Counts,
    /// Findings by severity: high, medium, low.
    pub findings: [usize; 3],
    /// Of which suppressed.
    pub suppressed: usize,
    /// Notifications delivered (not held).
    pub notifications: usize,
    /// Notifications the rate guard held.
    pub held: usize,
    /// Held notifications sent as a digest with this object's message.
    pub digest: usize,
    /// Requests to the state store.
    pub state_requests: u64,
    /// Wall time of the object.
    pub duration_ms: u64,
}

/// Outcome reason for the function's own summary output.
pub const OWN_OUTPUT: &str = "summary output of flowguard";
/// Outcome reason for an object whose completion marker exists.
pub const ALREADY_PROCESSED: &str = "already processed";
/// Outcome reason for an object deleted before it was read.
pub const NO_SUCH_OBJECT: &str = "object no longer exists";

/// A CloudWatch Embedded Metric Format line for one object.
pub fn emf_line(timestamp_ms: u64, m: &Metrics) -> String {
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
                    {"Name": "NotificationsHeld", "Unit": "Count"},
                    {"Name": "DigestSent", "Unit": "Count"},
                    {"Name": "StateRequests", "Unit": "Count"},
                    {"Name": "Duration", "Unit": "Milliseconds"}
                ]
            }]
        },
        "Objects": 1,
        "Records": m.counts.records,
        "MalformedRecords": m.counts.malformed,
        "FindingsHigh": m.findings[0],
        "FindingsMedium": m.findings[1],
        "FindingsLow": m.findings[2],
        "Suppressed": m.suppressed,
        "Notifications": m.notifications,
        "NotificationsHeld": m.held,
        "DigestSent": m.digest,
        "StateRequests": m.state_requests,
        "Duration": m.duration_ms,
    })
    .to_string()
}
