//! `instance-dos` and `large-upload`: how much one of our hosts sends to
//! one internet host. A flood is many small packets (GuardDuty's
//! Backdoor:EC2/DenialOfService), an upload many bytes (exfiltration,
//! Behavior:EC2/TrafficVolumeUnusual). Flows to AWS services
//! (`pkt-dst-aws-service`) and to `egress_allowed_cidrs` count for
//! neither: a backup to S3 is not an upload to an unknown host.

use super::{to_unknown_host, Pairs, PeerKey};
use crate::catalogue::ThresholdKey;
use crate::config::Config;
use crate::rules::{
    Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
};

/// Packets and bytes per (our host, peer), for one of the two rules.
#[derive(Debug)]
pub struct Volume {
    rule: RuleId,
    pairs: Pairs<PeerKey>,
}

/// Flows of a pair before its sample ports are kept.
const DETAIL_FROM: u64 = 8;

impl Volume {
    /// `instance-dos` (`RuleId::InstanceDos`) or `large-upload`
    /// (`RuleId::LargeUpload`).
    pub fn new(rule: RuleId) -> Volume {
        Volume {
            rule,
            pairs: Pairs::default(),
        }
    }

    /// What the rule counts of a pair, and the floor's key for it.
    fn measure(&self, hits: &Hits) -> (u64, ThresholdKey) {
        match self.rule {
            RuleId::InstanceDos => (hits.packets, ThresholdKey::InstanceDos),
            _ => (hits.bytes, ThresholdKey::LargeUpload),
        }
    }
}

impl Rule for Volume {
    fn id(&self) -> RuleId {
        self.rule
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        if !flow.outbound || !to_unknown_host(flow, config) {
            return;
        }
        // An upload is what arrived: rejected flows never left. A flood is
        // a flood whether or not the security group let it out.
        if self.rule == RuleId::LargeUpload && !flow.accepted() {
            return;
        }
        self.pairs
            .track(PeerKey::of(flow), flow, DETAIL_FROM, config);
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        for (key, hits) in self.pairs.sorted() {
            let (count, k) = self.measure(hits);
            if count < floor[k] {
                continue;
            }
            let mut evidence = hits.evidence(&ctx.interfaces).from_source(key.host.addr);
            evidence.count = count;
            out.push(Candidate {
                rule: self.rule,
                subject: Subject::HostPeer {
                    account: ctx.account_of(key.host.account).to_string(),
                    addr: key.host.addr,
                    peer: key.peer,
                },
                severity: config.severity(self.rule),
                evidence,
                label: None,
            });
        }
    }

    fn limit_hit(&self) -> bool {
        self.pairs.limit_hit()
    }

    fn entries(&self) -> usize {
        self.pairs.entries()
    }
}
