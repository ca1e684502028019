//! `sensitive-port-exposed`: accepted inbound internet flows to database,
//! cache, file-sharing and remote-desktop-like ports.

use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::{
    plural, ports_label, sorted, track, Finding, FindingContext, FindingSink, Flow, Hits, Rule,
    RuleId,
};
use crate::config::Config;

/// Accepted inbound flows from the internet to a sensitive port.
#[derive(Debug, Default)]
pub struct SensitivePortExposed {
    sources: DenseMap<IpAddr, Hits>,
    limit_hit: bool,
}

impl Rule for SensitivePortExposed {
    fn id(&self) -> RuleId {
        RuleId::SensitivePortExposed
    }

    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let Some(port) = flow.record.dstport else {
            return;
        };
        if !flow.accepted()
            || flow.src_trusted
            || !flow.inbound
            || flow.is_reply
            || !config.sensitive_ports.contains(port)
        {
            return;
        }
        track(
            &mut self.sources,
            flow.src,
            flow,
            config.max_tracked,
            &mut self.limit_hit,
            0,
        );
    }

    fn findings(&self, ctx: &FindingContext, config: &Config, out: &mut FindingSink<'_>) {
        for (src, hits) in sorted(&self.sources) {
            if out.skip_if_full() {
                continue;
            }
            let mut ports = hits.dst_ports();
            ports.sort_unstable();
            let ports = ports_label(&ports);
            let dsts = hits
                .dst_addrs()
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let title = format!(
                "{ports} on {dsts} accepted {} flow{} from internet address {src}",
                hits.flows(),
                plural(hits.flows())
            );
            out.push(Finding::new(
                self.id(),
                config.severity(self.id()),
                title,
                ctx,
                Some(*src),
                None,
                hits,
                vec!["T1133", "T1190"],
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
