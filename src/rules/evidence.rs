//! What a rule knows about one subject after an object: the [`Subject`]
//! (one finding per subject, SPEC section 2), and the [`Evidence`] a
//! finding is built from. Evidence merges: the evidence of a subject over a
//! window of objects is the merge of its objects' evidence, which is how
//! correlation across objects counts.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::catalogue::RuleId;
use crate::intel::Target;
use crate::severity::Severity;
use crate::sketch::DistinctCount;

/// How many destination addresses a finding lists.
pub const MAX_LISTED_ADDRS: usize = 10;
/// How many destination ports a finding lists.
pub const MAX_LISTED_PORTS: usize = 20;
/// How many interface ids a finding lists.
pub const MAX_LISTED_INTERFACES: usize = 5;

/// What a finding is about: the same subject keeps one `finding_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// An attacker: the source address (brute force, scans, rejected
    /// traffic).
    Source {
        /// The address.
        addr: IpAddr,
    },
    /// An exposed service: destination address, port and protocol.
    Service {
        /// The destination address.
        addr: IpAddr,
        /// The destination port.
        port: u16,
        /// The IANA protocol number, when the flows carry one.
        protocol: Option<u8>,
    },
    /// A network interface (visibility gaps).
    Interface {
        /// The interface id, e.g. `eni-0a1b2c3d`.
        id: String,
    },
    /// An address seen in traffic that is on a threat list.
    Address {
        /// The address.
        addr: IpAddr,
    },
    /// One of our hosts acting on the internet (`instance-port-scan`):
    /// its account (the same private address in two accounts is two
    /// hosts) and address.
    Host {
        /// The host's account.
        account: String,
        /// The host's address.
        addr: IpAddr,
    },
    /// One of our hosts and one internet peer.
    HostPeer {
        /// The host's account.
        account: String,
        /// The host's address.
        addr: IpAddr,
        /// The internet host.
        peer: IpAddr,
    },
    /// One of our hosts, one internet peer and the peer's port.
    HostPeerPort {
        /// The host's account.
        account: String,
        /// The host's address.
        addr: IpAddr,
        /// The internet host.
        peer: IpAddr,
        /// The peer's port.
        port: u16,
        /// The IANA protocol number, when the flows carry one.
        protocol: Option<u8>,
    },
}

impl Subject {
    /// The actor address of the finding (`src_addr`): the source for
    /// attacker rules, the listed address for threat-list matches; none
    /// for a service or an interface.
    pub fn actor(&self) -> Option<IpAddr> {
        match self {
            Subject::Source { addr }
            | Subject::Address { addr }
            | Subject::Host { addr, .. }
            | Subject::HostPeer { addr, .. }
            | Subject::HostPeerPort { addr, .. } => Some(*addr),
            Subject::Service { .. } | Subject::Interface { .. } => None,
        }
    }

    /// The account of a subject that carries one (our hosts as actors).
    pub fn account(&self) -> Option<&str> {
        match self {
            Subject::Host { account, .. }
            | Subject::HostPeer { account, .. }
            | Subject::HostPeerPort { account, .. } => Some(account),
            _ => None,
        }
    }

    /// The internet peer of one of our hosts.
    pub fn peer(&self) -> Option<IpAddr> {
        match self {
            Subject::HostPeer { peer, .. } | Subject::HostPeerPort { peer, .. } => Some(*peer),
            _ => None,
        }
    }

    /// What suppressions match (SPEC section 8): the source of an attacker
    /// rule, the exposed service's address, the listed address, or the
    /// interface.
    pub fn target(&self) -> Target<'_> {
        match self {
            Subject::Source { addr }
            | Subject::Address { addr }
            | Subject::Service { addr, .. }
            | Subject::Host { addr, .. }
            | Subject::HostPeer { addr, .. }
            | Subject::HostPeerPort { addr, .. } => Target::Addr(*addr),
            Subject::Interface { id } => Target::Interface(id),
        }
    }
}

/// `ssh`-style protocol names for the subject text.
fn protocol_name(p: Option<u8>) -> String {
    match p {
        Some(6) => "tcp".into(),
        Some(17) => "udp".into(),
        Some(1) => "icmp".into(),
        Some(58) => "icmpv6".into(),
        Some(n) => n.to_string(),
        None => "any".into(),
    }
}

impl fmt::Display for Subject {
    /// The stable text of a subject: `198.51.100.7`,
    /// `10.0.1.20:22/tcp`, `[2001:db8::5]:3389/tcp`, `eni-0a1b2c3d`, and
    /// for our hosts `123456789012/10.0.1.5`,
    /// `123456789012/10.0.1.5 -> 198.18.0.9`,
    /// `123456789012/10.0.1.5 -> 198.18.0.9:4444/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Source { addr } | Subject::Address { addr } => write!(f, "{addr}"),
            Subject::Service {
                addr,
                port,
                protocol,
            } => write!(f, "{}", ServiceText(*addr, *port, *protocol)),
            Subject::Interface { id } => f.write_str(id),
            Subject::Host { account, addr } => write!(f, "{account}/{addr}"),
            Subject::HostPeer {
                account,
                addr,
                peer,
            } => write!(f, "{account}/{addr} -> {peer}"),
            Subject::HostPeerPort {
                account,
                addr,
                peer,
                port,
                protocol,
            } => write!(
                f,
                "{account}/{addr} -> {}",
                ServiceText(*peer, *port, *protocol)
            ),
        }
    }
}

/// `10.0.1.20:22/tcp` or `[2001:db8::5]:3389/tcp`.
pub(crate) struct ServiceText(pub IpAddr, pub u16, pub Option<u8>);

impl fmt::Display for ServiceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ServiceText(addr, port, protocol) = self;
        match addr {
            IpAddr::V4(a) => write!(f, "{a}:{port}/{}", protocol_name(*protocol)),
            IpAddr::V6(a) => write!(f, "[{a}]:{port}/{}", protocol_name(*protocol)),
        }
    }
}

/// A scan target of one source: a destination probed on many ports
/// (vertical) or a port probed on many destinations (sweep).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScanTarget {
    /// Many ports of one destination.
    Vertical {
        /// The destination.
        dst: IpAddr,
        /// Distinct ports tried (items are the port numbers).
        ports: DistinctCount,
        /// Some of the ports, first seen first.
        sample: Vec<u16>,
    },
    /// One port on many destinations.
    Sweep {
        /// The port.
        port: u16,
        /// Distinct destinations tried (items are address hashes).
        dsts: DistinctCount,
        /// Some of the destinations, first seen first.
        sample: Vec<IpAddr>,
    },
}

impl ScanTarget {
    /// Distinct ports (vertical) or destinations (sweep) tried.
    pub fn breadth(&self) -> u64 {
        match self {
            ScanTarget::Vertical { ports, .. } => ports.count(),
            ScanTarget::Sweep { dsts, .. } => dsts.count(),
        }
    }

    /// Whether both name the same destination (vertical) or port (sweep).
    pub(crate) fn same_target(&self, other: &ScanTarget) -> bool {
        match (self, other) {
            (ScanTarget::Vertical { dst: a, .. }, ScanTarget::Vertical { dst: b, .. }) => a == b,
            (ScanTarget::Sweep { port: a, .. }, ScanTarget::Sweep { port: b, .. }) => a == b,
            _ => false,
        }
    }

    /// Adds the elements of the same target seen elsewhere.
    pub(crate) fn merge(&mut self, other: &ScanTarget) {
        match (self, other) {
            (
                ScanTarget::Vertical { ports, sample, .. },
                ScanTarget::Vertical {
                    ports: p,
                    sample: s,
                    ..
                },
            ) => {
                ports.merge(p);
                extend_capped(sample, s, MAX_LISTED_PORTS);
            }
            (
                ScanTarget::Sweep { dsts, sample, .. },
                ScanTarget::Sweep {
                    dsts: d, sample: s, ..
                },
            ) => {
                dsts.merge(d);
                extend_capped(sample, s, MAX_LISTED_ADDRS);
            }
            _ => {}
        }
    }
}

/// The largest number of scan targets kept per source.
pub const MAX_SCAN_TARGETS: usize = 32;

/// Counts and samples of the flows behind one subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Flows with action ACCEPT.
    pub accepted: u64,
    /// Flows with action REJECT.
    pub rejected: u64,
    /// What the rule's threshold counts (admin-port flows, rejected flows;
    /// the flows for the other rules).
    pub count: u64,
    /// Earliest flow time (`start`, else `end`).
    pub first: Option<u64>,
    /// Latest flow time (`end`, else `start`).
    pub last: Option<u64>,
    /// The protocol when every flow has the same one.
    pub protocol: Option<u8>,
    /// Whether flows with different protocols were seen.
    pub mixed_protocols: bool,
    /// Interface ids (capped).
    pub interfaces: Vec<String>,
    /// Source addresses with their flows, most flows first (capped).
    pub src_addrs: Vec<(IpAddr, u64)>,
    /// Destination addresses, first seen first (capped).
    pub dst_addrs: Vec<IpAddr>,
    /// Destination ports, first seen first (capped).
    pub dst_ports: Vec<u16>,
    /// All distinct source addresses (hash items).
    pub distinct_src: DistinctCount,
    /// All distinct destination addresses (hash items).
    pub distinct_dst: DistinctCount,
    /// All distinct destination ports (port items).
    pub distinct_ports: DistinctCount,
    /// Scan targets (`port-scan` only), largest first.
    pub targets: Vec<ScanTarget>,
    /// Flows whose destination was the subject's address (threat-list
    /// matches: sent by our hosts to the listed address).
    #[serde(default)]
    pub flows_to_subject: u64,
    /// Bytes of those flows.
    #[serde(default)]
    pub bytes_to_subject: u64,
    /// Of those, the flows our host opened (not replies): a threat-list
    /// match where our host made the connection.
    #[serde(default)]
    pub opened_to_subject: u64,
    /// Instance ids of the interfaces (capped), from the records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_ids: Vec<String>,
    /// VPC ids of the interfaces (capped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_ids: Vec<String>,
    /// Subnet ids of the interfaces (capped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnet_ids: Vec<String>,
    /// Five-minute slots of event time with activity (`beaconing`),
    /// ascending, the latest [`MAX_SLOTS`] kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<u32>,
    /// Hosts of the account seen contacting the peer (`beaconing`), as
    /// hash items, at most [`MAX_PEER_HOSTS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_hosts: Vec<u32>,
}

/// Slots of activity kept per subject: a day of five-minute slots.
pub const MAX_SLOTS: usize = 288;
/// Hosts contacting a peer kept per subject: enough to tell "a few" from
/// "a service every host uses".
pub const MAX_PEER_HOSTS: usize = 16;

/// Adds the sorted `more` to the sorted set `into`, keeping the largest
/// `cap` values (the latest slots), whatever the order they came in.
pub(crate) fn union_sorted(into: &mut Vec<u32>, more: &[u32], cap: usize) {
    if more.is_empty() {
        return;
    }
    into.extend_from_slice(more);
    into.sort_unstable();
    into.dedup();
    if into.len() > cap {
        into.drain(..into.len() - cap);
    }
}

impl Evidence {
    /// Adds `other` (a later or earlier object of the same subject).
    pub fn merge(&mut self, other: &Evidence) {
        self.flows = self.flows.saturating_add(other.flows);
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.accepted = self.accepted.saturating_add(other.accepted);
        self.rejected = self.rejected.saturating_add(other.rejected);
        self.count = self.count.saturating_add(other.count);
        self.first = min_opt(self.first, other.first);
        self.last = max_opt(self.last, other.last);
        if self.flows == other.flows {
            // Nothing was here before.
            self.protocol = other.protocol;
            self.mixed_protocols = other.mixed_protocols;
        } else if other.flows > 0 && (other.mixed_protocols || other.protocol != self.protocol) {
            self.mixed_protocols = true;
            self.protocol = None;
        }
        extend_capped(
            &mut self.interfaces,
            &other.interfaces,
            MAX_LISTED_INTERFACES,
        );
        merge_sources(&mut self.src_addrs, &other.src_addrs);
        extend_capped(&mut self.dst_addrs, &other.dst_addrs, MAX_LISTED_ADDRS);
        extend_capped(&mut self.dst_ports, &other.dst_ports, MAX_LISTED_PORTS);
        self.distinct_src.merge(&other.distinct_src);
        self.distinct_dst.merge(&other.distinct_dst);
        self.distinct_ports.merge(&other.distinct_ports);
        for t in &other.targets {
            add_target(&mut self.targets, t);
        }
        self.targets.sort_by_key(|t| std::cmp::Reverse(t.breadth()));
        self.flows_to_subject = self.flows_to_subject.saturating_add(other.flows_to_subject);
        self.bytes_to_subject = self.bytes_to_subject.saturating_add(other.bytes_to_subject);
        self.opened_to_subject = self
            .opened_to_subject
            .saturating_add(other.opened_to_subject);
        extend_capped(
            &mut self.instance_ids,
            &other.instance_ids,
            MAX_LISTED_INTERFACES,
        );
        extend_capped(&mut self.vpc_ids, &other.vpc_ids, MAX_LISTED_INTERFACES);
        extend_capped(
            &mut self.subnet_ids,
            &other.subnet_ids,
            MAX_LISTED_INTERFACES,
        );
        union_sorted(&mut self.slots, &other.slots, MAX_SLOTS);
        union_sorted(&mut self.peer_hosts, &other.peer_hosts, MAX_PEER_HOSTS);
    }

    /// The most slots with activity within any hour (12 consecutive
    /// five-minute slots) of [`Evidence::slots`].
    pub fn busiest_hour(&self) -> u64 {
        busiest_hour(&self.slots)
    }

    /// The evidence of one actor: `src` is its only source.
    pub fn from_source(mut self, src: IpAddr) -> Evidence {
        self.src_addrs = vec![(src, self.flows)];
        self.distinct_src = DistinctCount::default();
        self.distinct_src
            .add(crate::sketch::item_of_hash(crate::hash::addr_hash(src)));
        self
    }

    /// The largest vertical target: (destination, distinct ports).
    pub fn widest_vertical(&self) -> Option<(IpAddr, u64)> {
        self.targets
            .iter()
            .filter_map(|t| match t {
                ScanTarget::Vertical { dst, ports, .. } => Some((*dst, ports.count())),
                ScanTarget::Sweep { .. } => None,
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    }

    /// The largest sweep: (port, distinct destinations).
    pub fn widest_sweep(&self) -> Option<(u16, u64)> {
        self.targets
            .iter()
            .filter_map(|t| match t {
                ScanTarget::Sweep { port, dsts, .. } => Some((*port, dsts.count())),
                ScanTarget::Vertical { .. } => None,
            })
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
    }
}

/// The most of `slots` (ascending) within any 12 consecutive slots.
pub fn busiest_hour(slots: &[u32]) -> u64 {
    let span = crate::catalogue::BEACON_SLOTS;
    let mut best = 0;
    let mut from = 0;
    for (i, s) in slots.iter().enumerate() {
        while slots[from] + span <= *s {
            from += 1;
        }
        best = best.max(i + 1 - from);
    }
    best as u64
}

/// Merges `t` into the same target of `targets`, or adds it while there
/// is room.
pub(crate) fn add_target(targets: &mut Vec<ScanTarget>, t: &ScanTarget) {
    match targets.iter().position(|m| m.same_target(t)) {
        Some(i) => targets[i].merge(t),
        None if targets.len() < MAX_SCAN_TARGETS => targets.push(t.clone()),
        None => {}
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Appends the items of `more` not yet in `list`, up to `cap` items.
pub(crate) fn extend_capped<T: PartialEq + Clone>(list: &mut Vec<T>, more: &[T], cap: usize) {
    for x in more {
        if list.len() >= cap {
            return;
        }
        if !list.contains(x) {
            list.push(x.clone());
        }
    }
}

/// Adds the flows of `more` to `list` by address, most flows first, capped.
fn merge_sources(list: &mut Vec<(IpAddr, u64)>, more: &[(IpAddr, u64)]) {
    for (a, n) in more {
        match list.iter_mut().find(|(b, _)| b == a) {
            Some((_, m)) => *m = m.saturating_add(*n),
            None => list.push((*a, *n)),
        }
    }
    list.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    list.truncate(MAX_LISTED_ADDRS);
}

/// One subject a rule saw in an object, with its evidence: a finding when
/// it crosses the rule's threshold, in the object alone or over a window of
/// objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The rule.
    pub rule: RuleId,
    /// The subject.
    pub subject: Subject,
    /// The severity the rule gives it.
    pub severity: Severity,
    /// Evidence from this object.
    pub evidence: Evidence,
    /// A label for the title, where the rule has one (a threat list's
    /// name and label).
    pub label: Option<String>,
}

/// The `limit` items with the most flows, approximately: the Space-Saving
/// algorithm keeps `capacity` counters, and a newcomer takes the smallest
/// one's place with its count plus one. Exact while fewer than `capacity`
/// items are seen.
#[derive(Debug, Clone, Default)]
pub struct TopCounts {
    items: Vec<(IpAddr, u64)>,
}

/// Counters kept by [`TopCounts`].
const TOP_CAPACITY: usize = 32;

impl TopCounts {
    /// Counts one flow of `addr`.
    #[inline]
    pub fn add(&mut self, addr: IpAddr) {
        if let Some(e) = self.items.iter_mut().find(|(a, _)| *a == addr) {
            e.1 += 1;
        } else if self.items.len() < TOP_CAPACITY {
            self.items.push((addr, 1));
        } else if let Some(min) = self.items.iter_mut().min_by_key(|(_, n)| *n) {
            *min = (addr, min.1 + 1);
        }
    }

    /// The most frequent items, most flows first, at most `limit`.
    pub fn top(&self, limit: usize) -> Vec<(IpAddr, u64)> {
        let mut v = self.items.clone();
        v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        v.truncate(limit);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subject_text_is_stable() {
        let cases = [
            (
                Subject::Source {
                    addr: ip("198.51.100.7"),
                },
                "198.51.100.7",
            ),
            (
                Subject::Service {
                    addr: ip("10.0.1.20"),
                    port: 22,
                    protocol: Some(6),
                },
                "10.0.1.20:22/tcp",
            ),
            (
                Subject::Service {
                    addr: ip("2001:db8::5"),
                    port: 3389,
                    protocol: None,
                },
                "[2001:db8::5]:3389/any",
            ),
            (Subject::Interface { id: "eni-1".into() }, "eni-1"),
        ];
        for (s, want) in cases {
            assert_eq!(s.to_string(), want);
        }
    }

    #[test]
    fn top_counts_keep_the_heavy_hitters() {
        let mut t = TopCounts::default();
        for i in 0..1000u32 {
            t.add(IpAddr::from((0xC633_6400 + i % 200).to_be_bytes()));
            if i % 3 == 0 {
                t.add(ip("203.0.113.9"));
            }
        }
        let top = t.top(3);
        assert_eq!(top[0].0, ip("203.0.113.9"));
        assert!(top[0].1 >= 334, "{top:?}");
    }

    #[test]
    fn evidence_merges_counts_times_and_sets() {
        let mut a = Evidence {
            flows: 2,
            count: 2,
            first: Some(100),
            last: Some(200),
            protocol: Some(6),
            dst_ports: vec![22],
            ..Evidence::default()
        };
        a.distinct_dst.add(1);
        let mut b = Evidence {
            flows: 3,
            count: 3,
            first: Some(50),
            last: Some(150),
            protocol: Some(17),
            dst_ports: vec![22, 3389],
            ..Evidence::default()
        };
        b.distinct_dst.add(1);
        b.distinct_dst.add(2);
        a.merge(&b);
        assert_eq!((a.flows, a.count), (5, 5));
        assert_eq!((a.first, a.last), (Some(50), Some(200)));
        assert_eq!((a.protocol, a.mixed_protocols), (None, true));
        assert_eq!(a.dst_ports, vec![22, 3389]);
        assert_eq!(a.distinct_dst.count(), 2);
    }
}
