//! `admin-port-exposed` and `sensitive-port-exposed`: a service (address,
//! port, protocol) that accepted flows from the internet. One finding per
//! service, listing and counting its internet sources.

use std::net::IpAddr;

use crate::bounded::DenseMap;
use crate::net::PortSet;

use crate::config::Config;
use crate::rules::evidence::TopCounts;
use crate::rules::evidence::MAX_LISTED_ADDRS;
use crate::rules::{
    Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
};
use crate::sketch::{item_of_hash, DistinctCount};

/// Services tracked per object, at most: a bound far below `max_tracked`,
/// because each keeps a list of its top sources. More exposed services
/// than this in one object is a network open to the internet, and the
/// `files` row says the bound was reached.
pub const MAX_SERVICES: usize = 4096;

/// Accepted inbound flows from the internet to one set of ports.
#[derive(Debug)]
pub struct Exposure {
    rule: RuleId,
    services: DenseMap<(IpAddr, u16, Option<u8>), Service>,
    limit_hit: bool,
}

#[derive(Debug, Default)]
struct Service {
    hits: Hits,
    top: TopCounts,
    sources: DistinctCount,
}

impl Exposure {
    /// The rule for admin ports (`AdminPortExposed`) or sensitive ports
    /// (`SensitivePortExposed`).
    pub fn new(rule: RuleId) -> Exposure {
        Exposure {
            rule,
            services: DenseMap::default(),
            limit_hit: false,
        }
    }

    fn ports<'c>(&self, config: &'c Config) -> &'c PortSet {
        match self.rule {
            RuleId::AdminPortExposed => &config.detect.admin_ports,
            _ => &config.detect.sensitive_ports,
        }
    }

    /// Counts an accepted inbound flow to one of the rule's ports.
    #[inline(never)]
    fn track(&mut self, flow: &Flow<'_>, port: u16, config: &Config) {
        let key = (flow.dst, port, flow.record.protocol);
        let cap = config.detect.max_tracked.min(MAX_SERVICES);
        match self.services.entry(key, cap) {
            Some(s) => {
                s.hits.add(flow, 0);
                s.top.add(flow.src);
                s.sources.add(item_of_hash(flow.src_hash));
            }
            None => self.limit_hit = true,
        }
    }
}

impl Rule for Exposure {
    fn id(&self) -> RuleId {
        self.rule
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        // The filter, kept small: most flows stop here, and the tracking
        // would make every call pay its register saves.
        let Some(port) = flow.record.dstport else {
            return;
        };
        if !flow.accepted()
            || flow.src_trusted
            || !flow.inbound
            || flow.is_reply
            || !self.ports(config).contains(port)
        {
            return;
        }
        self.track(flow, port, config);
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        _floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        let mut services: Vec<_> = self.services.iter().collect();
        services.sort_by(|a, b| a.0.cmp(b.0));
        for (&(addr, port, protocol), s) in services {
            let mut evidence = s.hits.evidence(&ctx.interfaces);
            evidence.src_addrs = s.top.top(MAX_LISTED_ADDRS);
            evidence.distinct_src = s.sources.clone();
            out.push(Candidate {
                rule: self.rule,
                subject: Subject::Service {
                    addr,
                    port,
                    protocol,
                },
                severity: config.severity(self.rule),
                evidence,
                label: None,
            });
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn bound(&self, config: &Config) -> usize {
        config.detect.max_tracked.min(MAX_SERVICES)
    }

    fn entries(&self) -> usize {
        self.services.len()
    }
}
