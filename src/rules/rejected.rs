//! `rejected-traffic`: one source with many rejected flows.

use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::{
    source_candidates, track, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Thresholds,
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
        let detail_from = config.rejected_threshold / 2;
        let cap = config.max_tracked;
        track(
            &mut self.sources,
            flow.src,
            flow,
            cap,
            &mut self.limit_hit,
            detail_from,
            true,
        );
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
        let floor = floor.rejected;
        source_candidates(
            self.id(),
            &self.sources,
            ctx,
            config,
            floor,
            Hits::rejected,
            out,
        );
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn entries(&self) -> usize {
        self.sources.len()
    }
}
