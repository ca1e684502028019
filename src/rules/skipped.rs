//! `skipped-records`: AWS dropped flow records (SKIPDATA) on an interface,
//! so the object under-reports its traffic. One finding per interface.

use super::{
    Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
    NO_INTERFACE,
};
use crate::bounded::DenseMap;
use crate::config::Config;
use crate::flowlog::FlowRecord;

/// Counts SKIPDATA records per interface.
#[derive(Debug, Default)]
pub struct SkippedRecords {
    interfaces: DenseMap<u32, Hits>,
}

impl Rule for SkippedRecords {
    fn id(&self) -> RuleId {
        RuleId::SkippedRecords
    }

    fn observe(&mut self, _flow: &Flow<'_>, _config: &Config) {}

    fn observe_skipped(&mut self, record: &FlowRecord, interface: u32) {
        // Interfaces are bounded by the interning table.
        if let Some(h) = self.interfaces.entry(interface, usize::MAX) {
            h.count_flow();
            h.add_times(record.start, record.end);
            h.add_interface(interface);
        }
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        _floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        let mut named: Vec<(String, &Hits)> = self
            .interfaces
            .iter()
            .map(|(slot, h)| {
                let id = (*slot != NO_INTERFACE)
                    .then(|| ctx.interfaces.get(*slot as usize).cloned())
                    .flatten()
                    .unwrap_or_else(|| "unknown interface".to_string());
                (id, h)
            })
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        // Interfaces without a name (none, or a forged id) are one subject.
        let mut merged: Vec<(String, super::Evidence)> = Vec::with_capacity(named.len());
        for (id, hits) in named {
            let mut evidence = hits.evidence(&ctx.interfaces);
            evidence.dst_addrs.clear();
            evidence.dst_ports.clear();
            evidence.distinct_dst = Default::default();
            evidence.distinct_ports = Default::default();
            match merged.last_mut() {
                Some((last, e)) if *last == id => e.merge(&evidence),
                _ => merged.push((id, evidence)),
            }
        }
        for (id, evidence) in merged {
            out.push(Candidate {
                rule: self.id(),
                subject: Subject::Interface { id },
                severity: config.severity(self.id()),
                evidence,
                label: None,
            });
        }
    }

    fn limit_hit(&self) -> bool {
        false
    }

    fn entries(&self) -> usize {
        self.interfaces.len()
    }
}
