//! `admin-port-exposed` (per source and destination) and
//! `admin-port-brute-force` (per source).

use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::{
    plural, ports_label, remote_service_technique, sorted, track, Finding, FindingContext,
    FindingSink, Flow, Hits, Rule, RuleId,
};
use crate::config::Config;

/// Accepted inbound flows from the internet to an admin port.
#[derive(Debug, Default)]
pub struct AdminPortExposed {
    pairs: DenseMap<(IpAddr, IpAddr), Hits>,
    limit_hit: bool,
}

impl Rule for AdminPortExposed {
    fn id(&self) -> RuleId {
        RuleId::AdminPortExposed
    }

    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let Some(port) = flow.record.dstport else {
            return;
        };
        if !flow.accepted()
            || flow.src_trusted
            || !flow.inbound
            || flow.is_reply
            || !config.admin_ports.contains(port)
        {
            return;
        }
        track(
            &mut self.pairs,
            (flow.src, flow.dst),
            flow,
            config.max_tracked,
            &mut self.limit_hit,
            0,
        );
    }

    fn findings(&self, ctx: &FindingContext, config: &Config, out: &mut FindingSink<'_>) {
        for ((src, dst), hits) in sorted(&self.pairs) {
            if out.skip_if_full() {
                continue;
            }
            let ports = ports_label(&hits.dst_ports());
            let title = format!(
                "{ports} on {dst} accepted {} flow{} from internet address {src}",
                hits.flows(),
                plural(hits.flows())
            );
            let mut mitre = vec!["T1133"];
            mitre.extend(techniques(hits));
            out.push(Finding::new(
                self.id(),
                config.severity(self.id()),
                title,
                ctx,
                Some(*src),
                Some(*dst),
                hits,
                mitre,
            ));
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn entries(&self) -> usize {
        self.pairs.len()
    }
}

/// One internet source making many flows to admin ports.
#[derive(Debug, Default)]
pub struct AdminPortBruteForce {
    sources: DenseMap<IpAddr, Hits>,
    limit_hit: bool,
}

impl Rule for AdminPortBruteForce {
    fn id(&self) -> RuleId {
        RuleId::AdminPortBruteForce
    }

    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let Some(port) = flow.record.dstport else {
            return;
        };
        if flow.src_trusted || flow.is_reply || !config.admin_ports.contains(port) {
            return;
        }
        track(
            &mut self.sources,
            flow.src,
            flow,
            config.max_tracked,
            &mut self.limit_hit,
            config.brute_force_threshold / 2,
        );
    }

    fn findings(&self, ctx: &FindingContext, config: &Config, out: &mut FindingSink<'_>) {
        for (src, hits) in sorted(&self.sources) {
            if hits.flows() < config.brute_force_threshold {
                continue;
            }
            if out.skip_if_full() {
                continue;
            }
            let ports = ports_label(&hits.dst_ports());
            let title = format!(
                "Internet address {src} made {} flows to {ports} on {} host{} ({} accepted, {} rejected)",
                hits.flows(),
                hits.dst_addrs().len(),
                plural(hits.dst_addrs().len() as u64),
                hits.accepted(),
                hits.rejected()
            );
            let mut mitre = vec!["T1110"];
            mitre.extend(techniques(hits));
            out.push(Finding::new(
                self.id(),
                config.severity(self.id()),
                title,
                ctx,
                Some(*src),
                None,
                hits,
                mitre,
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

fn techniques(hits: &Hits) -> Vec<&'static str> {
    let mut t: Vec<&'static str> = hits
        .dst_ports()
        .iter()
        .map(|p| remote_service_technique(*p))
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}
