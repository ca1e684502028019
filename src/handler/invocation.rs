//! The event step: an invocation's payload, decoded into objects
//! ([`crate::event::decode`]), each object processed, and the answer each
//! event shape expects: a plain result (S3, SNS, EventBridge), partial batch
//! failures (SQS), a result code per task (S3 Batch Operations), the held
//! notifications sent (the schedule).

use serde_json::{json, Value};

use super::outcome::{HandlerError, ObjectFailure, ObjectOutcome, NO_SUCH_OBJECT};
use super::{Handler, Store};
use crate::event::{decode, BatchTask, Invocation, Notice};
use crate::io::{ObjectStore, Publisher, Sinks};

impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
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
            Invocation::Schedule => match self.send_held().await {
                Ok(sent) => {
                    tracing::info!(sent, "schedule: held notifications sent");
                    Ok(json!({ "held_sent": sent }))
                }
                Err(e) => {
                    tracing::error!(error = %e, "schedule: sending held notifications failed; the next schedule retries");
                    Err(HandlerError::Schedule(e))
                }
            },
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
}
