//! `suspicious-egress-port`: one of our hosts connecting to a port that
//! mining pools (Stratum), IRC botnets or Tor use (GuardDuty's
//! CryptoCurrency and Backdoor findings). Only connections our host opened
//! count: a server's reply to a client whose ephemeral port happens to be
//! 4444 is not one.

use super::{Pairs, PeerKey, PortKey};
use crate::config::Config;
use crate::rules::{
    Candidate, CandidateSink, FindingContext, Flow, Rule, RuleId, Subject, Thresholds,
};

/// Connections to suspicious ports per (our host, peer, port).
#[derive(Debug, Default)]
pub struct SuspiciousEgressPort {
    pairs: Pairs<PortKey>,
}

impl Rule for SuspiciousEgressPort {
    fn id(&self) -> RuleId {
        RuleId::SuspiciousEgressPort
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let Some(port) = flow.record.dstport else {
            return;
        };
        let d = &config.detect;
        if !flow.outbound || !d.suspicious_egress_ports.contains(port) {
            return;
        }
        if !flow.accepted()
            || flow.record.packets.unwrap_or(0) < d.connection_min_packets
            || !flow.opened_by_source()
        {
            return;
        }
        let key = PortKey {
            pair: PeerKey::of(flow),
            port,
            protocol: flow.record.protocol,
        };
        self.pairs.track(key, flow, 0, config);
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        _floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        for (key, hits) in self.pairs.sorted() {
            let host = key.pair.host;
            out.push(Candidate {
                rule: self.id(),
                subject: Subject::HostPeerPort {
                    account: ctx.account_of(host.account).to_string(),
                    addr: host.addr,
                    peer: key.pair.peer,
                    port: key.port,
                    protocol: key.protocol,
                },
                severity: config.severity(self.id()),
                evidence: hits.evidence(&ctx.interfaces).from_source(host.addr),
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
