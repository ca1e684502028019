//! The notification steps of one object: correlate it with the state
//! store and claim what is due, settle the claims once delivered
//! ([`super::deliver`]), mark the object processed.

use std::collections::BTreeMap;

use serde_json::json;

use super::outcome::{Job, ObjectFailure};
use super::{now, Handler, Store};
use crate::analyze::Report;
use crate::correlate::{correlate, settle, Correlated, Policy};
use crate::io::{ObjectStore, Publisher, Sinks};
use crate::rules::Finding;

impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
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
        let will_publish = self.config.delivers();
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

    /// Step 6: the claims of the notifications: confirmed once delivered
    /// (or held by the rate guard, which then owns them), released when a
    /// sink failed, keeping which sinks took each one (`sent`), so the retry
    /// sends it to the others only.
    pub(super) async fn settle(
        &self,
        job: &Job<'_>,
        correlated: Option<&mut Correlated>,
        published: bool,
        sent: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), ObjectFailure> {
        let (Some(state), Some(c)) = (&self.state, correlated) else {
            return Ok(());
        };
        let policy = Policy::of(&self.config, self.config.publish_min_severity());
        settle(&**state, c, published, sent, &policy, now())
            .await
            .map_err(|e| {
                job.fail(
                    "settling notification claims failed",
                    e.to_string(),
                    e.is_retryable(),
                )
            })
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
