//! The per-key accumulator behind every finding.
//!
//! Rules keep one [`Hits`] per source (or source and destination), so its
//! size decides the memory of an object with many sources: the counters
//! and the first destination, port and interface are inline (80
//! bytes); the rest of the capped sample lists is allocated only once a key
//! has seen `detail_from` flows, i.e. once it is a candidate for a finding.

use std::net::IpAddr;

use super::evidence::{Evidence, MAX_LISTED_ADDRS, MAX_LISTED_INTERFACES, MAX_LISTED_PORTS};
use super::interfaces::Resources;
use super::{Flow, NO_INTERFACE};
use crate::hash::addr_hash;
use crate::sketch::{item_of_hash, DistinctCount};

/// What a key holds beyond its first destination, port and interface.
#[derive(Debug, Clone, Default)]
struct Extra {
    /// Sample lists, once the key has seen `detail_from` flows.
    samples: Option<Box<Samples>>,
    /// Every distinct destination and port, for a key that counts them,
    /// once it has seen a second one.
    distinct: Distinct,
}

#[derive(Debug, Clone, Default)]
struct Samples {
    dsts: Vec<IpAddr>,
    ports: Vec<u16>,
    interfaces: Vec<u32>,
}

/// Items of [`Distinct::Small`] with this bit are ports.
const PORT_TAG: u32 = 1 << 31;
/// Items kept in [`Distinct::Small`] before two counters take over.
const SMALL_DISTINCT: usize = 64;

/// Distinct destinations and ports of one key. Most keys see a handful,
/// so while small they share one sorted vector: destination hash items
/// (whose top bit is clear) and ports tagged with [`PORT_TAG`].
#[derive(Debug, Clone)]
enum Distinct {
    Small(Vec<u32>),
    Wide(Box<(DistinctCount, DistinctCount)>),
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct::Small(Vec::new())
    }
}

impl Distinct {
    #[inline]
    fn add_dst(&mut self, item: u32) {
        match self {
            Distinct::Small(_) => self.add_small(item & !PORT_TAG),
            Distinct::Wide(w) => w.0.add(item),
        }
    }

    #[inline]
    fn add_port(&mut self, port: u16) {
        match self {
            Distinct::Small(_) => self.add_small(PORT_TAG | u32::from(port)),
            Distinct::Wide(w) => w.1.add(u32::from(port)),
        }
    }

    fn add_small(&mut self, tagged: u32) {
        let Distinct::Small(items) = self else {
            return;
        };
        let Err(at) = items.binary_search(&tagged) else {
            return;
        };
        if items.len() < SMALL_DISTINCT {
            items.insert(at, tagged);
            return;
        }
        let (dsts, ports) = self.split();
        let mut wide = Distinct::Wide(Box::new((dsts, ports)));
        match tagged & PORT_TAG {
            0 => wide.add_dst(tagged),
            _ => wide.add_port(tagged as u16),
        }
        *self = wide;
    }

    /// The destination and port counts.
    fn split(&self) -> (DistinctCount, DistinctCount) {
        match self {
            Distinct::Wide(w) => (w.0.clone(), w.1.clone()),
            Distinct::Small(items) => {
                let mut d = DistinctCount::default();
                let mut p = DistinctCount::default();
                for &i in items {
                    if i & PORT_TAG == 0 {
                        d.add(i);
                    } else {
                        p.add(i & 0xFFFF);
                    }
                }
                (d, p)
            }
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Distinct::Small(items) if items.is_empty())
    }
}

/// Counts and capped samples of the flows behind one finding.
#[derive(Debug, Clone)]
pub struct Hits {
    /// Packets, saturating.
    pub packets: u64,
    /// Bytes, saturating.
    pub bytes: u64,
    /// Earliest `start` (see [`Hits::first`]): a plain `u64` and a flag
    /// instead of an `Option`, 8 bytes less per tracked key.
    first: u64,
    /// Latest `end` (see [`Hits::last`]).
    last: u64,
    extra: Option<Box<Extra>>,
    /// Flows seen, accepted and rejected, saturating (an object holds far
    /// fewer than 2^32 records): see [`Hits::flows`].
    flows: u32,
    accepted: u32,
    rejected: u32,
    interface0: u32,
    dst0: Option<IpAddr>,
    port0: u16,
    /// Protocol when all flows share one; `None` once they differ.
    pub protocol: Option<u8>,
    /// [`HAS_FIRST`] | [`HAS_LAST`] | [`HAS_PORT`] | [`MIXED_PROTOCOLS`].
    flags: u8,
}

const HAS_FIRST: u8 = 1;
const HAS_LAST: u8 = 2;
const HAS_PORT: u8 = 4;
const MIXED_PROTOCOLS: u8 = 8;

impl Default for Hits {
    fn default() -> Hits {
        Hits {
            packets: 0,
            bytes: 0,
            first: 0,
            last: 0,
            extra: None,
            flows: 0,
            accepted: 0,
            rejected: 0,
            interface0: NO_INTERFACE,
            dst0: None,
            port0: 0,
            protocol: None,
            flags: 0,
        }
    }
}

impl Hits {
    /// Adds one flow; sample lists grow only once `flows > detail_from`.
    #[inline]
    pub fn add(&mut self, flow: &Flow<'_>, detail_from: u64) {
        self.add_flow(flow, detail_from, false);
    }

    /// [`Hits::add`], also counting every distinct destination address and
    /// port exactly (an estimate beyond a few hundred): the heap is used
    /// only once a key has seen a second destination or port.
    #[inline]
    pub fn add_counting(&mut self, flow: &Flow<'_>, detail_from: u64) {
        self.add_flow(flow, detail_from, true);
    }

    #[inline]
    fn add_flow(&mut self, flow: &Flow<'_>, detail_from: u64, distinct: bool) {
        let r = flow.record;
        self.count_flow();
        self.packets = self.packets.saturating_add(r.packets.unwrap_or(0));
        self.bytes = self.bytes.saturating_add(r.bytes.unwrap_or(0));
        if flow.accepted() {
            self.accepted = self.accepted.saturating_add(1);
        } else if flow.rejected() {
            self.rejected = self.rejected.saturating_add(1);
        }
        self.add_times(r.start, r.end);
        if self.flows == 1 {
            self.protocol = r.protocol;
            self.dst0 = Some(flow.dst);
            if let Some(p) = r.dstport {
                self.port0 = p;
                self.flags |= HAS_PORT;
            }
            self.interface0 = flow.interface;
            return;
        }
        if self.flags & MIXED_PROTOCOLS == 0 && r.protocol != self.protocol {
            self.flags |= MIXED_PROTOCOLS;
            self.protocol = None;
        }
        if distinct {
            self.count_distinct(flow.dst_hash, r.dstport, Some(flow.dst));
        }
        if self.flows() > detail_from {
            self.sample(Some(flow.dst), r.dstport, flow.interface);
        }
    }

    /// Adds a destination and port to the distinct counts, creating them
    /// (seeded with the first destination and port) at the first new one.
    #[inline]
    fn count_distinct(&mut self, dst_hash: u64, port: Option<u16>, dst: Option<IpAddr>) {
        let same_dst = dst == self.dst0;
        let same_port = port == self.port0();
        if self.extra.is_none() && same_dst && same_port {
            return;
        }
        let (dst0, port0) = (self.dst0, self.port0());
        let distinct = &mut self.extra.get_or_insert_with(Box::default).distinct;
        if distinct.is_empty() {
            if let Some(d) = dst0 {
                distinct.add_dst(item_of_hash(addr_hash(d)));
            }
            if let Some(p) = port0 {
                distinct.add_port(p);
            }
        }
        if dst.is_some() {
            distinct.add_dst(item_of_hash(dst_hash));
        }
        if let Some(p) = port {
            distinct.add_port(p);
        }
    }

    fn sample(&mut self, dst: Option<IpAddr>, port: Option<u16>, interface: u32) {
        let new_dst = dst.filter(|d| Some(*d) != self.dst0);
        let new_port = port.filter(|p| Some(*p) != self.port0());
        let new_if = Some(interface).filter(|i| *i != NO_INTERFACE && *i != self.interface0);
        if new_dst.is_none() && new_port.is_none() && new_if.is_none() {
            return;
        }
        let extra = self
            .extra
            .get_or_insert_with(Box::default)
            .samples
            .get_or_insert_with(Box::default);
        if let Some(d) = new_dst {
            if extra.dsts.len() + 1 < MAX_LISTED_ADDRS && !extra.dsts.contains(&d) {
                extra.dsts.push(d);
            }
        }
        if let Some(p) = new_port {
            if extra.ports.len() + 1 < MAX_LISTED_PORTS && !extra.ports.contains(&p) {
                extra.ports.push(p);
            }
        }
        if let Some(i) = new_if {
            if extra.interfaces.len() + 1 < MAX_LISTED_INTERFACES && !extra.interfaces.contains(&i)
            {
                extra.interfaces.push(i);
            }
        }
    }

    /// Widens the time window.
    #[inline]
    pub fn add_times(&mut self, start: Option<u64>, end: Option<u64>) {
        let (start, end) = crate::time::flow_span(start, end);
        if let Some(s) = start {
            self.first = if self.flags & HAS_FIRST != 0 {
                self.first.min(s)
            } else {
                s
            };
            self.flags |= HAS_FIRST;
        }
        if let Some(e) = end {
            self.last = if self.flags & HAS_LAST != 0 {
                self.last.max(e)
            } else {
                e
            };
            self.flags |= HAS_LAST;
        }
    }
}

/// Reading the counts and samples back.
impl Hits {
    /// Counts one more flow (for records that are not a [`Flow`]).
    #[inline]
    pub fn count_flow(&mut self) {
        self.flows = self.flows.saturating_add(1);
    }

    /// Flows seen.
    pub fn flows(&self) -> u64 {
        u64::from(self.flows)
    }

    /// Flows with action ACCEPT.
    pub fn accepted(&self) -> u64 {
        u64::from(self.accepted)
    }

    /// Flows with action REJECT.
    pub fn rejected(&self) -> u64 {
        u64::from(self.rejected)
    }

    fn port0(&self) -> Option<u16> {
        (self.flags & HAS_PORT != 0).then_some(self.port0)
    }

    /// Earliest `start`.
    pub fn first(&self) -> Option<u64> {
        (self.flags & HAS_FIRST != 0).then_some(self.first)
    }

    /// Latest `end` (or `start` for a record without `end`).
    pub fn last(&self) -> Option<u64> {
        (self.flags & HAS_LAST != 0).then_some(self.last)
    }

    /// Records an interface (capped list), for records without a flow.
    pub fn add_interface(&mut self, interface: u32) {
        if interface == NO_INTERFACE {
            return;
        }
        if self.interface0 == NO_INTERFACE {
            self.interface0 = interface;
        } else {
            self.sample(None, None, interface);
        }
    }

    /// The evidence of these flows; `interfaces` names the interned
    /// interface slots. Distinct counts are exact for keys that counted
    /// them ([`Hits::add_counting`]) and the samples' sizes otherwise.
    pub fn evidence(&self, resources: &Resources) -> Evidence {
        let dsts = self.dst_addrs();
        let ports = self.dst_ports();
        let (distinct_dst, distinct_ports) = self.distinct_with(&dsts, &ports);
        let mut e = Evidence {
            flows: self.flows(),
            packets: self.packets,
            bytes: self.bytes,
            accepted: self.accepted(),
            rejected: self.rejected(),
            count: self.flows(),
            first: self.first(),
            last: self.last(),
            protocol: self.protocol,
            mixed_protocols: self.flags & MIXED_PROTOCOLS != 0,
            dst_addrs: dsts,
            dst_ports: ports,
            distinct_dst,
            distinct_ports,
            ..Evidence::default()
        };
        resources.describe(&self.interfaces(), &mut e);
        e
    }

    /// The distinct destinations and ports: counted, for a key that counts
    /// them ([`Hits::add_counting`]), else those of the samples.
    pub fn distinct(&self) -> (DistinctCount, DistinctCount) {
        self.distinct_with(&self.dst_addrs(), &self.dst_ports())
    }

    fn distinct_with(&self, dsts: &[IpAddr], ports: &[u16]) -> (DistinctCount, DistinctCount) {
        match self.extra.as_deref().filter(|e| !e.distinct.is_empty()) {
            Some(e) => e.distinct.split(),
            None => {
                let mut d = DistinctCount::default();
                let mut p = DistinctCount::default();
                dsts.iter().for_each(|a| d.add(item_of_hash(addr_hash(*a))));
                ports.iter().for_each(|x| p.add(u32::from(*x)));
                (d, p)
            }
        }
    }

    /// Sampled destination addresses, first seen first.
    pub fn dst_addrs(&self) -> Vec<IpAddr> {
        let extra = self
            .extra
            .as_deref()
            .and_then(|e| e.samples.as_deref())
            .map(|e| e.dsts.as_slice())
            .unwrap_or_default();
        self.dst0.into_iter().chain(extra.iter().copied()).collect()
    }

    /// Sampled destination ports, first seen first.
    pub fn dst_ports(&self) -> Vec<u16> {
        let extra = self
            .extra
            .as_deref()
            .and_then(|e| e.samples.as_deref())
            .map(|e| e.ports.as_slice())
            .unwrap_or_default();
        self.port0()
            .into_iter()
            .chain(extra.iter().copied())
            .collect()
    }

    /// Sampled interface slots, first seen first.
    pub fn interfaces(&self) -> Vec<u32> {
        let extra = self
            .extra
            .as_deref()
            .and_then(|e| e.samples.as_deref())
            .map(|e| e.interfaces.as_slice())
            .unwrap_or_default();
        Some(self.interface0)
            .filter(|i| *i != NO_INTERFACE)
            .into_iter()
            .chain(extra.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn hits_stay_small() {
        // One per tracked source: this size times `max_tracked` is the
        // bound of each rule's map.
        assert!(
            std::mem::size_of::<Hits>() <= 80,
            "{}",
            std::mem::size_of::<Hits>()
        );
        let mut h = Hits::default();
        assert_eq!((h.first(), h.last()), (None, None));
        h.add_times(None, Some(9));
        assert_eq!((h.first(), h.last()), (Some(9), Some(9)));
        h.add_times(Some(5), None);
        h.add_times(Some(7), Some(8));
        assert_eq!((h.first(), h.last()), (Some(5), Some(9)));
        h.add_times(Some(12), None);
        assert_eq!((h.first(), h.last()), (Some(5), Some(12)));
    }
}
