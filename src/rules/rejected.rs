//! `rejected-traffic`: one source with many rejected flows.

use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::{sorted, track, Finding, FindingContext, FindingSink, Flow, Hits, Rule, RuleId};
use crate::config::Config;

/// Counts REJECTed flows per source. Replies are counted too: a scanner
/// sending from port 53 or 80 looks like a server reply to `port-scan`, and
/// this rule is what still sees it.
#[derive(Debug, Default)]
pub struct RejectedTraffic {
    sources: DenseMap<IpAddr, Hits>,
    limit_hit: bool,
}

impl Rule for RejectedTraffic {
    fn id(&self) -> RuleId {
        RuleId::RejectedTraffic
    }

    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        if !flow.rejected() {
            return;
        }
        track(
            &mut self.sources,
            flow.src,
            flow,
            config.max_tracked,
            &mut self.limit_hit,
            config.rejected_threshold / 2,
        );
    }

    fn findings(&self, ctx: &FindingContext, config: &Config, out: &mut FindingSink<'_>) {
        for (src, hits) in sorted(&self.sources) {
            if hits.rejected() < config.rejected_threshold {
                continue;
            }
            if out.skip_if_full() {
                continue;
            }
            let title = format!(
                "{src} had {} rejected flows to {} or more destinations",
                hits.rejected(),
                hits.dst_addrs().len()
            );
            out.push(Finding::new(
                self.id(),
                config.severity(self.id()),
                title,
                ctx,
                Some(*src),
                None,
                hits,
                vec!["T1595"],
            ));
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn entries(&self) -> usize {
        self.sources.len()
    }
}
