//! The notification steps of one object: correlate it with the state
//! store and claim what is due, publish, settle the claims, mark the object
//! processed.

use serde_json::json;

use super::outcome::{Job, ObjectFailure};
use super::{now, Handler};
use crate::analyze::Report;
use crate::correlate::{correlate, settle, Correlated, Policy, StateStore};
use crate::io::{ObjectStore, Publisher};
use crate::report::build_message;
use crate::rules::Finding;

impl<S: ObjectStore, P: Publisher, D: StateStore + 'static> Handler<S, P, D> {
    /// Step 3: with a state store, the window's findings and the
    /// notifications this invocation claimed; without, the object's own
    /// findings, each due when at or above the minimum severity. Marks the
    /// findings that will be notified.
    pub(super) async fn correlate(
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
    pub(super) async fn settle(
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

    /// Step 5: the SNS message of the findings due, if a topic is
    /// configured and there are any. Returns the message id.
    pub(super) async fn publish(
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
    pub(super) async fn mark(
        &self,
        job: &Job<'_>,
        marker: &str,
        report: &Report,
        message_id: Option<&str>,
    ) {
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
