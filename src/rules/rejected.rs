//! `rejected-traffic`: one source with many rejected flows.

use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::{
    sorted, Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
};
use crate::config::Config;

/// Counts REJECTed flows per source. Replies are counted too: a rejected
/// flow is an attempt whatever its ports say.
#[derive(Debug, Default)]
pub struct RejectedTraffic {
    sources: DenseMap<IpAddr, Hits>,
    limit_hit: bool,
}

impl RejectedTraffic {
    /// Counts a rejected flow (out of line: most flows are accepted).
    #[inline(never)]
    fn track(&mut self, flow: &Flow<'_>, config: &Config) {
        match self.sources.entry(flow.src, config.max_tracked) {
            Some(h) => h.add_counting(flow, config.rejected_threshold / 2),
            None => self.limit_hit = true,
        }
    }
}

impl Rule for RejectedTraffic {
    fn id(&self) -> RuleId {
        RuleId::RejectedTraffic
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        if !flow.rejected() {
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
            if hits.rejected() < floor.rejected {
                continue;
            }
            let mut evidence = hits.evidence(&ctx.interfaces).from_source(*src);
            evidence.count = hits.rejected();
            out.push(Candidate {
                rule: self.id(),
                subject: Subject::Source { addr: *src },
                severity: config.severity(self.id()),
                evidence,
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
