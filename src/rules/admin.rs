//! `admin-port-brute-force`: one internet source making many flows to
//! admin ports (per source).

use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::{
    sorted, Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
};
use crate::config::Config;

/// One internet source making many flows to admin ports, accepted or
/// rejected, to any destination.
#[derive(Debug, Default)]
pub struct AdminPortBruteForce {
    sources: DenseMap<IpAddr, Hits>,
    limit_hit: bool,
}

impl AdminPortBruteForce {
    /// Counts a flow to an admin port (out of line: the filter in
    /// `observe` stops most flows).
    #[inline(never)]
    fn track(&mut self, flow: &Flow<'_>, config: &Config) {
        match self.sources.entry(flow.src, config.max_tracked) {
            Some(h) => h.add_counting(flow, config.brute_force_threshold / 2),
            None => self.limit_hit = true,
        }
    }
}

impl Rule for AdminPortBruteForce {
    fn id(&self) -> RuleId {
        RuleId::AdminPortBruteForce
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let Some(port) = flow.record.dstport else {
            return;
        };
        if flow.src_trusted || flow.is_reply || !config.admin_ports.contains(port) {
            return;
        }
        self.track(flow, config);
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        for (src, hits) in sorted(&self.sources) {
            if hits.flows() < floor.brute_force {
                continue;
            }
            out.push(Candidate {
                rule: self.id(),
                subject: Subject::Source { addr: *src },
                severity: config.severity(self.id()),
                evidence: hits.evidence(&ctx.interfaces).from_source(*src),
                label: None,
            });
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn entries(&self) -> usize {
        self.sources.len()
    }
}
