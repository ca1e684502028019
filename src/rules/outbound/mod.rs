//! Rules about our own hosts acting on the internet (SPEC section 9): one
//! of our hosts scans out, brute-forces someone's SSH, floods a victim,
//! beacons to a controller, uploads gigabytes, or connects to a mining pool.
//!
//! A flow is outbound when its destination is not trusted and
//! `flow-direction` is egress (or, without that field, its source is
//! trusted): the source is then our host (the actor), the destination the
//! internet host (the peer). Every subject includes the account of the
//! record: the same private address in two accounts is two hosts.

use std::net::IpAddr;

use crate::config::Config;
use crate::hash::mix64;
use crate::rules::{Flow, Hits};

mod beacon;
mod brute_force;
mod egress_port;
mod scan;
mod volume;

pub use beacon::Beaconing;
pub use brute_force::InstanceBruteForce;
pub use egress_port::SuspiciousEgressPort;
pub use scan::InstancePortScan;
pub use volume::Volume;

/// One of our hosts: the account of its records and its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey {
    /// Interned account slot ([`crate::flow::NO_ACCOUNT`]: the object's).
    pub account: u32,
    /// The host's address.
    pub addr: IpAddr,
}

impl HostKey {
    /// The actor of an outbound flow.
    #[inline]
    pub fn of(flow: &Flow<'_>) -> HostKey {
        HostKey {
            account: flow.account,
            addr: flow.src,
        }
    }
}

/// One of our hosts and one internet peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey {
    /// Our host.
    pub host: HostKey,
    /// The internet host.
    pub peer: IpAddr,
}

/// One of our hosts, one internet peer and the peer's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey {
    /// Our host and the peer.
    pub pair: PeerKey,
    /// The peer's port.
    pub port: u16,
    /// The protocol.
    pub protocol: Option<u8>,
}

impl PeerKey {
    /// The pair of an outbound flow.
    #[inline]
    pub fn of(flow: &Flow<'_>) -> PeerKey {
        PeerKey {
            host: HostKey::of(flow),
            peer: flow.dst,
        }
    }
}

/// The actor's hash with its account mixed in (distinct counts and scan
/// pairs of two accounts' same address stay apart).
#[inline]
pub(crate) fn actor_hash(flow: &Flow<'_>) -> u64 {
    flow.src_hash ^ mix64(u64::from(flow.account).wrapping_add(0x0ac0_0a17))
}

/// Whether an outbound flow counts for the volume and pace rules
/// (`instance-dos`, `beaconing`, `large-upload`): not to an AWS service
/// (`pkt-dst-aws-service`), not to a peer in `egress_allowed_cidrs`.
#[inline]
pub(crate) fn to_unknown_host(flow: &Flow<'_>, config: &Config) -> bool {
    !flow.aws_service && !config.detect.egress_allowed_cidrs.contains(flow.dst)
}

/// Hits per key, bounded by [`super::outbound_key_bound`]: the state of
/// the pair rules.
#[derive(Debug)]
pub(crate) struct Pairs<K> {
    map: crate::bounded::DenseMap<K, Hits>,
    limit_hit: bool,
}

impl<K> Default for Pairs<K> {
    fn default() -> Pairs<K> {
        Pairs {
            map: crate::bounded::DenseMap::default(),
            limit_hit: false,
        }
    }
}

impl<K: std::hash::Hash + Eq + Ord + Copy> Pairs<K> {
    /// Counts a flow of `key`, with sample ports and interfaces from
    /// `detail_from` flows on. Out of line: each rule's filter stops most
    /// flows before this.
    #[inline(never)]
    pub(crate) fn track(&mut self, key: K, flow: &Flow<'_>, detail_from: u64, config: &Config) {
        match self.map.entry(key, super::outbound_key_bound(config)) {
            Some(h) => h.add(flow, detail_from),
            None => self.limit_hit = true,
        }
    }

    /// Every key with its hits, in key order.
    pub(crate) fn sorted(&self) -> Vec<(&K, &Hits)> {
        crate::rules::sorted(&self.map)
    }

    /// The keys whose hits pass `keep`, in key order (filtered before the
    /// sort: most keys of a busy object are far from any threshold).
    pub(crate) fn sorted_where(&self, keep: impl Fn(&Hits) -> bool) -> Vec<(&K, &Hits)> {
        let mut v: Vec<_> = self.map.iter().filter(|(_, h)| keep(h)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Whether a key was not tracked because the map was full.
    pub(crate) fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    /// Keys tracked.
    pub(crate) fn entries(&self) -> usize {
        self.map.len()
    }
}
