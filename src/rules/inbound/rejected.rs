//! `rejected-traffic`: one source with many rejected flows.

use crate::catalogue::ThresholdKey;
use crate::config::Config;
use crate::rules::{
    CandidateSink, FindingContext, Flow, Hits, PerSource, Rule, RuleId, RuleRows, Thresholds,
};

/// Counts REJECTed flows per source. Replies are counted too: a rejected
/// flow is an attempt whatever its ports say.
#[derive(Debug, Default)]
pub struct RejectedTraffic {
    sources: PerSource,
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
        self.sources
            .track(flow, config.detect.rejected_threshold, config);
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
            floor[ThresholdKey::Rejected],
            Hits::rejected,
            out,
        );
    }

    fn limit_hit(&self) -> bool {
        self.sources.limit_hit()
    }

    fn entries(&self) -> usize {
        self.sources.entries()
    }

    fn table_rows(&self, config: &Config) -> Option<RuleRows> {
        Some(RuleRows::Rejected(
            self.sources.top_rows(config.detect.top_rejected),
        ))
    }
}
