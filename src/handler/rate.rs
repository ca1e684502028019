//! The SNS step through the email rate guard (SPEC section 10): at most
//! `max_messages_per_minute` messages per topic and minute across all
//! invocations, counted in the state store; over that the notifications
//! are held there, and go out as a digest with the next message that fits
//! or on the schedule ([`Handler::send_held`]).

use super::outcome::{Delivered, Job, ObjectFailure};
use super::{now, Handler, Store};
use crate::analyze::Report;
use crate::correlate::{Correlated, Held};
use crate::io::{ObjectStore, Publisher, Sinks};
use crate::report::{build, findings_object, MessageInput};
use crate::rules::Finding;

/// Held notifications sent with one message, at most.
const MAX_DIGEST: usize = 50;
/// Messages one schedule sends at most (the rest waits for the next).
const MAX_SCHEDULED_MESSAGES: usize = 10;

impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
    /// The SNS message of `due`, through the rate guard when there is a
    /// state store: with held notifications as a digest when the minute's
    /// budget allows, else `due` held in their place.
    pub(super) async fn to_topic(
        &self,
        job: &Job<'_>,
        report: &Report,
        due: &[Finding],
        correlated: Option<&Correlated>,
    ) -> Result<Delivered, ObjectFailure> {
        let Some(topic) = self.config.lambda.topic_arn.as_ref().map(|t| t.0.as_str()) else {
            return Ok(Delivered::default());
        };
        let (Some(state), Some(c)) = (&self.state, correlated) else {
            // No state store: no rate guard, one message per object.
            let msg = build(&MessageInput {
                source: Some(&report.source),
                account: &report.partition.account,
                region: &report.partition.region,
                summaries: &job.summaries,
                findings_object: Some(findings_object(report, &job.summaries)),
                due,
                held: &[],
                athena_database: &self.config.delivery.athena_database.0,
            });
            return match msg {
                None => Ok(Delivered::default()),
                Some(m) => match self.publisher.publish(&m).await {
                    Ok(id) => Ok(Delivered {
                        message_id: Some(id),
                        ..Delivered::default()
                    }),
                    Err(e) => {
                        Err(job.fail("publishing findings failed", e.to_string(), e.retryable))
                    }
                },
            };
        };
        if due.is_empty() {
            return Ok(Delivered::default());
        }
        let unavailable = |e: crate::correlate::StateError| {
            job.fail(
                "the rate guard's state is unavailable",
                e.to_string(),
                e.is_retryable(),
            )
        };
        let t = now();
        let budget = self.config.delivery.max_messages_per_minute;
        if !state
            .take_message(topic, t / 60, budget)
            .await
            .map_err(unavailable)?
        {
            for f in due {
                let held = Held {
                    id: format!("{}#{}", f.finding_id, c.token()),
                    finding: f.clone(),
                    summaries: job.summaries.clone(),
                    held_at: t,
                };
                state.hold(topic, &held).await.map_err(unavailable)?;
            }
            tracing::info!(bucket = %job.obj.bucket, key = %job.obj.key, held = due.len(), budget, "over the topic's message budget for this minute: notifications held for the next message or the schedule");
            return Ok(Delivered {
                held: due.len(),
                ..Delivered::default()
            });
        }
        let held = state
            .claim_held(topic, c.token(), t, self.claim_until(t), MAX_DIGEST)
            .await
            .map_err(unavailable)?;
        let held_findings: Vec<Finding> = held.iter().map(|h| h.finding.clone()).collect();
        let msg = build(&MessageInput {
            source: Some(&report.source),
            account: &report.partition.account,
            region: &report.partition.region,
            summaries: &job.summaries,
            findings_object: Some(findings_object(report, &job.summaries)),
            due,
            held: &held_findings,
            athena_database: &self.config.delivery.athena_database.0,
        });
        let Some(msg) = msg else {
            return Ok(Delivered::default());
        };
        let (sent, left): (Vec<&Held>, Vec<&Held>) = held
            .iter()
            .partition(|h| msg.included_ids.contains(&h.finding.finding_id));
        let ids = |v: &[&Held]| v.iter().map(|h| h.id.clone()).collect::<Vec<_>>();
        match self.publisher.publish(&msg).await {
            Ok(id) => {
                state
                    .drop_held(topic, c.token(), &ids(&sent))
                    .await
                    .map_err(unavailable)?;
                state
                    .release_held(topic, c.token(), &ids(&left))
                    .await
                    .map_err(unavailable)?;
                Ok(Delivered {
                    message_id: Some(id),
                    held: 0,
                    digest: sent.len(),
                })
            }
            Err(e) => {
                let _ = state.release_held(topic, c.token(), &ids(&sent)).await;
                let _ = state.release_held(topic, c.token(), &ids(&left)).await;
                Err(job.fail("publishing findings failed", e.to_string(), e.retryable))
            }
        }
    }
}

/// The schedule: held notifications sent when no object arrives.
impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
    /// The schedule's work: sends the held notifications as digests while
    /// the minute's budget allows. Returns how many went out.
    pub(super) async fn send_held(&self) -> Result<usize, String> {
        let (Some(state), Some(topic)) = (&self.state, self.config.lambda.topic_arn.as_ref())
        else {
            return Ok(0);
        };
        let topic = topic.0.as_str();
        let budget = self.config.delivery.max_messages_per_minute;
        let mut total = 0;
        for _ in 0..MAX_SCHEDULED_MESSAGES {
            let t = now();
            let token = format!("schedule-{t}-{}", std::process::id());
            let held = state
                .claim_held(topic, &token, t, self.claim_until(t), MAX_DIGEST)
                .await
                .map_err(|e| e.to_string())?;
            if held.is_empty() {
                break;
            }
            let ids: Vec<String> = held.iter().map(|h| h.id.clone()).collect();
            if !state
                .take_message(topic, t / 60, budget)
                .await
                .map_err(|e| e.to_string())?
            {
                state
                    .release_held(topic, &token, &ids)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(held = held.len(), "the topic's budget for this minute is spent; the held notifications wait for the next schedule");
                break;
            }
            let findings: Vec<Finding> = held.iter().map(|h| h.finding.clone()).collect();
            let first = &findings[0];
            let Some(msg) = build(&MessageInput {
                source: None,
                account: &first.account,
                region: &first.region,
                summaries: &held[0].summaries,
                findings_object: None,
                due: &[],
                held: &findings,
                athena_database: &self.config.delivery.athena_database.0,
            }) else {
                break;
            };
            let (sent, left): (Vec<&Held>, Vec<&Held>) = held
                .iter()
                .partition(|h| msg.included_ids.contains(&h.finding.finding_id));
            let sent: Vec<String> = sent.iter().map(|h| h.id.clone()).collect();
            let left: Vec<String> = left.iter().map(|h| h.id.clone()).collect();
            match self.publisher.publish(&msg).await {
                Ok(_) => {
                    state
                        .drop_held(topic, &token, &sent)
                        .await
                        .map_err(|e| e.to_string())?;
                    state
                        .release_held(topic, &token, &left)
                        .await
                        .map_err(|e| e.to_string())?;
                    total += sent.len();
                }
                Err(e) => {
                    let _ = state.release_held(topic, &token, &ids).await;
                    return Err(e.to_string());
                }
            }
        }
        Ok(total)
    }
}
