//! `instance-brute-force`: one of our hosts making many flows to the admin
//! ports (SSH, RDP) of one internet host: GuardDuty's SSH/RDP brute force
//! with the instance as the actor.

use super::{Pairs, PeerKey};
use crate::catalogue::ThresholdKey;
use crate::config::Config;
use crate::rules::{
    Candidate, CandidateSink, FindingContext, Flow, Rule, RuleId, Subject, Thresholds,
};

/// Flows to admin ports per (our host, peer).
#[derive(Debug, Default)]
pub struct InstanceBruteForce {
    pairs: Pairs<PeerKey>,
}

impl Rule for InstanceBruteForce {
    fn id(&self) -> RuleId {
        RuleId::InstanceBruteForce
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let Some(port) = flow.record.dstport else {
            return;
        };
        if !flow.outbound || flow.is_reply || !config.detect.admin_ports.contains(port) {
            return;
        }
        let detail_from = config.detect.instance_brute_force_threshold / 2;
        self.pairs
            .track(PeerKey::of(flow), flow, detail_from, config);
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        let floor = floor[ThresholdKey::InstanceBruteForce];
        for (key, hits) in self.pairs.sorted_where(|h| h.flows() >= floor) {
            out.push(Candidate {
                rule: self.id(),
                subject: Subject::HostPeer {
                    account: ctx.account_of(key.host.account).to_string(),
                    addr: key.host.addr,
                    peer: key.peer,
                },
                severity: config.severity(self.id()),
                evidence: hits.evidence(&ctx.interfaces).from_source(key.host.addr),
                label: None,
            });
        }
    }

    fn outbound_only(&self) -> bool {
        true
    }

    fn limit_hit(&self) -> bool {
        self.pairs.limit_hit()
    }

    fn bound(&self, config: &Config) -> usize {
        super::super::outbound_key_bound(config)
    }

    fn entries(&self) -> usize {
        self.pairs.entries()
    }
}
