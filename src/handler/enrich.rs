//! EC2 enrichment of the findings about to be notified (SPEC section 10):
//! best effort, bounded in time, never a failure of the object.

use std::collections::BTreeMap;
use std::time::Duration;

use super::outcome::Job;
use super::{Handler, Store};
use crate::analyze::Report;
use crate::io::{ObjectStore, Publisher, Sinks};
use crate::rules::Finding;

/// How long enrichment may take before the findings go out without it.
const ENRICH_TIMEOUT: Duration = Duration::from_secs(3);

impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
    /// EC2 enrichment of the due findings' interfaces: each finding (and
    /// its row in the object's `findings` summary) gains what EC2 says of
    /// its interfaces. A failure or a timeout only drops the enrichment.
    pub(super) async fn enrich(&self, job: &Job<'_>, report: &mut Report, due: &mut [Finding]) {
        if self.config.delivery.enrich.is_none() || due.is_empty() {
            return;
        }
        // One call per account and region.
        let mut wanted: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for f in due.iter() {
            let ids = wanted
                .entry((f.account.clone(), f.region.clone()))
                .or_default();
            for i in &f.interface_ids {
                if crate::ids::is_interface_id(i.as_bytes()) && !ids.contains(i) {
                    ids.push(i.clone());
                }
            }
        }
        let mut found = Vec::new();
        for ((account, region), ids) in wanted.into_iter().filter(|(_, ids)| !ids.is_empty()) {
            let foreign = self.identity.get().is_some_and(|i| i.account != account);
            let call = self
                .sinks
                .describe_interfaces(&account, &region, &ids, foreign);
            match tokio::time::timeout(ENRICH_TIMEOUT, call).await {
                Ok(Ok(d)) => found.extend(d),
                Ok(Err(e)) => {
                    tracing::warn!(bucket = %job.obj.bucket, key = %job.obj.key, account = %account, region = %region, error = %e, "enrichment failed; the findings go out without it")
                }
                Err(_) => {
                    tracing::warn!(bucket = %job.obj.bucket, key = %job.obj.key, account = %account, region = %region, "enrichment timed out after {} s; the findings go out without it", ENRICH_TIMEOUT.as_secs())
                }
            }
        }
        if found.is_empty() {
            return;
        }
        let apply = |f: &mut Finding| {
            f.resources = f
                .interface_ids
                .iter()
                .filter_map(|i| found.iter().find(|d| &d.interface_id == i).cloned())
                .collect();
            for r in &f.resources {
                for (value, list) in [
                    (&r.instance_id, &mut f.instance_ids),
                    (&r.vpc_id, &mut f.vpc_ids),
                    (&r.subnet_id, &mut f.subnet_ids),
                ] {
                    if let Some(v) = value {
                        if !list.contains(v) {
                            list.push(v.clone());
                        }
                    }
                }
            }
        };
        due.iter_mut().for_each(apply);
        let ids: Vec<&str> = due.iter().map(|f| f.finding_id.as_str()).collect();
        report
            .findings
            .iter_mut()
            .filter(|f| ids.contains(&f.finding_id.as_str()))
            .for_each(apply);
    }
}
