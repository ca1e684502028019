//! `admin-port-brute-force`: one internet source making many flows to
//! admin ports (per source).

use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::{
    source_candidates, track, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Thresholds,
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
        let detail_from = config.brute_force_threshold / 2;
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
        let floor = floor.brute_force;
        source_candidates(
            self.id(),
            &self.sources,
            ctx,
            config,
            floor,
            Hits::flows,
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
