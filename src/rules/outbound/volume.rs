//! `instance-dos` and `large-upload`: how much one of our hosts sends to
//! one internet host. A flood is many small packets (GuardDuty's
//! Backdoor:EC2/DenialOfService), an upload many bytes (exfiltration,
//! Behavior:EC2/TrafficVolumeUnusual). Flows to AWS services
//! (`pkt-dst-aws-service`) and to `egress_allowed_cidrs` count for
//! neither: a backup to S3 is not an upload to an unknown host.
//!
//! What counts, and why:
//! - an upload is data our host sends on connections that are not a
//!   server's replies: a web server serving downloads sends gigabytes to
//!   its clients every hour;
//! - a flood is UDP, ICMP or any other protocol but TCP, and TCP only when
//!   `tcp-flags` shows no ACK (a SYN flood): the ACK stream our host sends
//!   while downloading gigabytes is a million small TCP packets too, and
//!   without `tcp-flags` (v2) the two cannot be told apart.

use super::{to_unknown_host, Pairs, PeerKey};
use crate::catalogue::ThresholdKey;
use crate::config::Config;
use crate::rules::scan::ACK;
use crate::rules::{
    Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
};

/// Packets and bytes per (our host, peer), for one of the two rules.
#[derive(Debug)]
pub struct Volume {
    rule: RuleId,
    pairs: Pairs<PeerKey>,
}

/// TCP's protocol number.
const TCP: u8 = 6;

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
        if !flow.outbound {
            return;
        }
        let counts = match self.rule {
            // What arrived: rejected flows never left.
            RuleId::LargeUpload => flow.accepted() && !flow.is_reply,
            // A flood whether or not the security group let it out.
            _ => match flow.record.protocol {
                Some(TCP) => !flow.is_reply && flow.record.tcp_flags.is_some_and(|f| f & ACK == 0),
                _ => true,
            },
        };
        if counts && to_unknown_host(flow, config) {
            self.pairs
                .track(PeerKey::of(flow), flow, DETAIL_FROM, config);
        }
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        for (key, hits) in self.pairs.sorted_where(|h| {
            let (count, k) = self.measure(h);
            count >= floor[k]
        }) {
            let (count, _) = self.measure(hits);
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
