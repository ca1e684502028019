//! The per-object pipeline: decide whether to process the object, stream
//! and analyse it, write its summaries; then hand over to the
//! notification steps ([`super::notify`]).

use std::collections::BTreeMap;
use std::time::Instant;

use super::outcome::{
    Job, ObjectFailure, ObjectOutcome, ALREADY_PROCESSED, NO_SUCH_OBJECT, OWN_OUTPUT,
};
use super::{now, Handler, Store};
use crate::analyze::{AnalyzeError, Report};
use crate::event::ObjectRef;
use crate::io::ranged::StoreRanges;
use crate::io::{ObjectStore, OpenedObject, Publisher, Sinks, StoreError};
use crate::source::SourceRef;
use crate::stream::analyze_object;

impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
    /// Processes one object end to end, in named steps: [`Self::decide`]
    /// (skip the function's own output, a deleted object, an object already
    /// processed), [`Self::analyse`] (stream and analyse), [`Self::write_summaries`],
    /// enrichment, delivery to every sink ([`Self::deliver`]), the claims
    /// settled, [`Self::mark`]. Every failure is logged once, by
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
        let mut due = due;
        self.enrich(&job, &mut report, &mut due).await;
        self.write_summaries(&job, &report).await?;
        let delivered = self.deliver(&job, &report, &due, correlated.as_ref()).await;
        let no_sends = BTreeMap::new();
        let (ok, sent) = match &delivered {
            Ok(_) => (true, &no_sends),
            Err(u) => (false, &u.sent),
        };
        self.settle(&job, correlated.as_mut(), ok, sent).await?;
        let delivered = delivered.map_err(|u| u.failure)?;
        self.mark(&job, &marker, &report, delivered.message_id.as_deref())
            .await;
        let requests = correlated.as_ref().map_or(0, |c| c.requests);
        Ok(job.processed(&report, &due, &delivered, requests, started))
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
}

/// Reading and writing: the analysis and its summaries.
impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
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
