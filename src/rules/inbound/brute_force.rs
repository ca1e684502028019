//! `admin-port-brute-force`: one internet source making many flows to
//! admin ports (per source).

use crate::catalogue::ThresholdKey;
use crate::config::Config;
use crate::rules::{
    CandidateSink, FindingContext, Flow, Hits, PerSource, Rule, RuleId, Thresholds,
};

/// One internet source making many flows to admin ports, accepted or
/// rejected, to any destination.
#[derive(Debug, Default)]
pub struct AdminPortBruteForce {
    sources: PerSource,
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
        if flow.src_trusted || flow.is_reply || !config.detect.admin_ports.contains(port) {
            return;
        }
        self.sources
            .track(flow, config.detect.brute_force_threshold, config);
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        self.sources.candidates(
            self.id(),
            ctx,
            config,
            floor[ThresholdKey::BruteForce],
            Hits::flows,
            out,
        );
    }

    fn limit_hit(&self) -> bool {
        self.sources.limit_hit()
    }

    fn entries(&self) -> usize {
        self.sources.entries()
    }
}
