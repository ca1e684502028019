//! `beaconing`: one of our hosts connecting to one internet host and port
//! in nearly every five-minute slot of an hour, as malware checks in with
//! its controller (GuardDuty's C&C findings). The slots are of event time
//! (`start` to `end` of each flow), so the verdict does not depend on the
//! order objects arrive in. A peer that more than `beaconing_max_hosts`
//! hosts of the account contact is a service they all use (an update
//! server, a SaaS API), not a controller.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{to_unknown_host, HostKey, PeerKey, PortKey};
use crate::bounded::DenseMap;
use crate::catalogue::{ThresholdKey, BEACON_SLOTS, BEACON_SLOT_SECONDS};
use crate::config::Config;
use crate::hash::{addr_hash, mix64};
use crate::rules::evidence::{union_sorted, MAX_PEER_HOSTS};
use crate::rules::{
    Candidate, CandidateSink, FindingContext, Flow, Hits, Rule, RuleId, Subject, Thresholds,
};
use crate::sketch::item_of_hash;

/// What one (host, peer, port) did in an object.
#[derive(Debug, Default)]
struct Beacon {
    hits: Hits,
    /// Five-minute slots of event time with a connection.
    slots: SlotMask,
}

/// The slots with activity among the 64 up to the latest one seen: bit
/// `i` is slot `latest - i`. Whatever order the slots arrive in, the set is
/// the same (those within 64 slots of the latest), and it is inline: no
/// allocation per key.
#[derive(Debug, Default, Clone, Copy)]
struct SlotMask {
    latest: u32,
    bits: u64,
}

impl SlotMask {
    fn add(&mut self, slot: u32) {
        if self.bits == 0 {
            *self = SlotMask {
                latest: slot,
                bits: 1,
            };
        } else if slot > self.latest {
            let shift = slot - self.latest;
            self.bits = if shift >= 64 { 0 } else { self.bits << shift };
            self.bits |= 1;
            self.latest = slot;
        } else if self.latest - slot < 64 {
            self.bits |= 1 << (self.latest - slot);
        }
    }

    fn len(&self) -> usize {
        self.bits.count_ones() as usize
    }

    /// The slots, ascending.
    fn to_vec(self) -> Vec<u32> {
        (0..64u32)
            .rev()
            .filter(|i| self.bits & (1 << i) != 0)
            .map(|i| self.latest - i)
            .collect()
    }
}

/// Connections per (our host, peer, port), with their slots.
#[derive(Debug, Default)]
pub struct Beaconing {
    keys: DenseMap<PortKey, Beacon>,
    limit_hit: bool,
}

/// The slots a flow spans: from its `start` to its `end` (at most an
/// hour's worth, the latest kept), or the one of whichever it has.
fn slots_of(start: Option<u64>, end: Option<u64>) -> impl Iterator<Item = u32> {
    let slot = |t: u64| u32::try_from(t / BEACON_SLOT_SECONDS).unwrap_or(u32::MAX);
    let span = match (start, end) {
        (Some(s), Some(e)) if s <= e => Some((slot(s), slot(e))),
        (Some(t), _) | (None, Some(t)) => Some((slot(t), slot(t))),
        (None, None) => None,
    };
    span.into_iter()
        .flat_map(|(first, last)| first.max(last.saturating_sub(BEACON_SLOTS - 1))..=last)
}

/// A host of an account as a hash item: what "hosts contacting a peer"
/// counts.
fn host_item(host: HostKey) -> u32 {
    item_of_hash(addr_hash(host.addr) ^ mix64(u64::from(host.account).wrapping_add(0x0ac0_0a17)))
}

impl Beaconing {
    #[inline(never)]
    fn track(&mut self, key: PortKey, flow: &Flow<'_>, config: &Config) {
        let Some(b) = self
            .keys
            .entry(key, super::super::outbound_key_bound(config))
        else {
            self.limit_hit = true;
            return;
        };
        b.hits.add(flow, 8);
        for s in slots_of(flow.record.start, flow.record.end) {
            b.slots.add(s);
        }
    }

    /// The hosts of each (account, peer), over every port.
    fn hosts_by_peer(&self) -> BTreeMap<(u32, IpAddr), Vec<u32>> {
        let mut by_peer: BTreeMap<(u32, IpAddr), Vec<u32>> = BTreeMap::new();
        for (key, _) in self.keys.iter() {
            let host = key.pair.host;
            let hosts = by_peer.entry((host.account, key.pair.peer)).or_default();
            union_sorted(hosts, &[host_item(host)], MAX_PEER_HOSTS);
        }
        by_peer
    }
}

impl Rule for Beaconing {
    fn id(&self) -> RuleId {
        RuleId::Beaconing
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        if !flow.outbound || !flow.accepted() {
            return;
        }
        let Some(port) = flow.record.dstport else {
            return;
        };
        if flow.record.packets.unwrap_or(0) < config.detect.connection_min_packets
            || !flow.opened_by_source()
            || !to_unknown_host(flow, config)
        {
            return;
        }
        let key = PortKey {
            pair: PeerKey::of(flow),
            port,
            protocol: flow.record.protocol,
        };
        self.track(key, flow, config);
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        let hosts = self.hosts_by_peer();
        let max_hosts = config.detect.beaconing_max_hosts;
        let need = floor[ThresholdKey::Beaconing];
        let mut keys: Vec<_> = self
            .keys
            .iter()
            .filter(|(_, b)| b.slots.len() as u64 >= need)
            .collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, b) in keys {
            let host = key.pair.host;
            let seen = hosts
                .get(&(host.account, key.pair.peer))
                .map_or(&[][..], Vec::as_slice);
            // A peer many hosts contact is a service: no finding can come
            // of it, in this object or in a window that includes it.
            if seen.len() as u64 > max_hosts {
                continue;
            }
            let mut evidence = b.hits.evidence(&ctx.interfaces).from_source(host.addr);
            evidence.slots = b.slots.to_vec();
            evidence.peer_hosts = seen.to_vec();
            evidence.count = b.slots.len() as u64;
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
                evidence,
                label: None,
            });
        }
    }

    fn outbound_only(&self) -> bool {
        true
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn bound(&self, config: &Config) -> usize {
        super::super::outbound_key_bound(config)
    }

    fn entries(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_spans_its_slots() {
        let t = 1_750_961_400; // a slot boundary
        let of = |s, e| slots_of(s, e).collect::<Vec<_>>();
        assert_eq!(of(Some(t), Some(t + 599)), [5_836_538, 5_836_539]);
        assert_eq!(of(None, Some(t)), [5_836_538]);
        assert_eq!(of(Some(t + 10), Some(t)), [5_836_538]);
        assert!(of(None, None).is_empty());
        // A flow longer than an hour marks the hour before its end.
        assert_eq!(slots_of(Some(t), Some(t + 7200)).count(), 12);
    }

    #[test]
    fn slot_masks_keep_the_latest_64_slots_in_any_order() {
        let orders: [&[u32]; 3] = [
            &[0, 100, 50, 99, 37],
            &[50, 0, 37, 100, 99],
            &[100, 99, 50, 37, 0],
        ];
        for order in orders {
            let mut m = SlotMask::default();
            for s in order {
                m.add(*s);
            }
            assert_eq!(m.to_vec(), [37, 50, 99, 100], "{order:?}");
            assert_eq!(m.len(), 4);
        }
    }
}
