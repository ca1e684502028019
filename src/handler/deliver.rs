//! Where notified findings go (SPEC section 10), after the summaries are
//! written: EC2 enrichment of their interfaces (best effort), then Security
//! Hub, an EventBridge bus and the SNS topic, in that order, each only when
//! configured. A sink that keeps failing fails the object as retryable;
//! the sinks that took the findings before are recorded in their claims,
//! so the retry sends to the others only (Security Hub, which updates a
//! finding in place by its id, may take one twice). SNS goes through the
//! rate guard ([`super::rate`]).

use std::collections::BTreeMap;
use std::time::Duration;

use super::outcome::{Delivered, Job, ObjectFailure};
use super::{now, Handler, Store};
use crate::analyze::Report;
use crate::correlate::Correlated;
use crate::io::{ObjectStore, Publisher, Rejected, SinkError, Sinks};
use crate::report::asff::{asff, Asff, Product, MAX_ASFF_BYTES};
use crate::report::events::{batches, event_entry, EventEntry};
use crate::rules::Finding;

/// The sink names claims record.
pub const SINK_SECURITY_HUB: &str = "security-hub";
/// EventBridge.
pub const SINK_EVENTS: &str = "events";
/// SNS.
pub const SINK_SNS: &str = "sns";

/// Attempts of a sink call (the first and the retries of what it did not
/// take), with backoff between them.
const ATTEMPTS: u32 = 4;
/// The first backoff; it doubles.
const BACKOFF: Duration = Duration::from_millis(200);
/// Security Hub's limits of one call.
const HUB_BATCH: usize = 100;
const HUB_BATCH_BYTES: usize = 6 * 1024 * 1024;

/// A sink's failure after its retries, and what the sinks before it took.
pub(super) struct Undelivered {
    pub failure: ObjectFailure,
    pub sent: BTreeMap<String, Vec<String>>,
}

/// Retries `call` over the items it did not take, with bounded backoff;
/// the items still not taken after [`ATTEMPTS`] are an error.
async fn with_retries<T: Clone, F, Fut>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    mut call: F,
) -> Result<(), SinkError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Rejected>, SinkError>>,
{
    let mut pending = items;
    let mut delay = BACKOFF;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match call(pending.clone()).await {
            Ok(rejected) if rejected.is_empty() => return Ok(()),
            Ok(rejected) => {
                last = rejected
                    .iter()
                    .map(|r| format!("{}: {}", r.id, r.error))
                    .collect::<Vec<_>>()
                    .join("; ");
                pending.retain(|x| rejected.iter().any(|r| r.id == id(x)));
            }
            Err(e) if e.retryable && attempt < ATTEMPTS => last = e.to_string(),
            Err(e) => return Err(e),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    Err(SinkError {
        sink: "sink",
        message: format!(
            "{} item(s) still not taken after {ATTEMPTS} attempts: {last}",
            pending.len()
        ),
        retryable: true,
    })
}

impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
    /// Sends the due findings to every configured sink, in order.
    pub(super) async fn deliver(
        &self,
        job: &Job<'_>,
        report: &Report,
        due: &[Finding],
        correlated: Option<&Correlated>,
    ) -> Result<Delivered, Undelivered> {
        let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let todo = |sink: &str| -> Vec<&Finding> {
            due.iter()
                .filter(|f| {
                    correlated
                        .is_none_or(|c| !c.already_sent(&f.finding_id).iter().any(|s| s == sink))
                })
                .collect()
        };
        let fail = |what: &str, e: SinkError, sent: BTreeMap<String, Vec<String>>| Undelivered {
            failure: job.fail(what, e.to_string(), e.retryable),
            sent,
        };
        if self.config.delivery.security_hub.0 {
            let findings = todo(SINK_SECURITY_HUB);
            if let Err(e) = self.to_security_hub(&findings).await {
                return Err(fail("Security Hub import failed", e, sent));
            }
            for f in findings {
                sent.entry(f.finding_id.clone())
                    .or_default()
                    .push(SINK_SECURITY_HUB.into());
            }
        }
        if self.config.delivery.event_bus.is_some() {
            let findings = todo(SINK_EVENTS);
            if let Err(e) = self.to_event_bus(&findings).await {
                return Err(fail("EventBridge PutEvents failed", e, sent));
            }
            for f in findings {
                sent.entry(f.finding_id.clone())
                    .or_default()
                    .push(SINK_EVENTS.into());
            }
        }
        let findings: Vec<Finding> = todo(SINK_SNS).into_iter().cloned().collect();
        self.to_topic(job, report, &findings, correlated)
            .await
            .map_err(|failure| Undelivered { failure, sent })
    }

    async fn to_security_hub(&self, findings: &[&Finding]) -> Result<(), SinkError> {
        let t = now();
        let own = self.identity.get();
        let all: Vec<Asff> = findings
            .iter()
            .map(|f| {
                // Without a known identity (outside Lambda), the finding's
                // own account and region.
                let product = Product {
                    account: own.map_or(&f.account, |i| &i.account),
                    region: own.map_or(&f.region, |i| &i.region),
                };
                asff(f, product, t)
            })
            .collect();
        // At most 100 findings and 6 MB a call.
        let mut calls: Vec<Vec<Asff>> = Vec::new();
        let mut size = 0;
        for a in all {
            let n = serde_json::to_vec(&a).map_or(MAX_ASFF_BYTES, |v| v.len());
            match calls.last_mut() {
                Some(c) if c.len() < HUB_BATCH && size + n <= HUB_BATCH_BYTES => {
                    size += n;
                    c.push(a);
                }
                _ => {
                    size = n;
                    calls.push(vec![a]);
                }
            }
        }
        for call in calls {
            with_retries(
                call,
                |a: &Asff| a.id.as_str(),
                |batch| async move { self.sinks.import_findings(&batch).await },
            )
            .await
            .map_err(|e| SinkError {
                sink: "Security Hub",
                ..e
            })?;
        }
        Ok(())
    }

    async fn to_event_bus(&self, findings: &[&Finding]) -> Result<(), SinkError> {
        let entries: Vec<EventEntry> = findings.iter().map(|f| event_entry(f)).collect();
        for batch in batches(entries) {
            with_retries(
                batch,
                |e: &EventEntry| e.finding_id.as_str(),
                |b| async move { self.sinks.put_events(&b).await },
            )
            .await
            .map_err(|e| SinkError {
                sink: "EventBridge",
                ..e
            })?;
        }
        Ok(())
    }
}
