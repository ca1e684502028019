//! Aggregation of OK records into the `ports`, `talkers`, `admin` and
//! `services` tables. Every map is bounded by `Config::max_tracked`; when a
//! map is full, new keys are dropped and the `files` row lists the table in
//! `limits_hit`.

use std::hash::Hash;
use std::net::IpAddr;

use crate::bounded::DenseMap;

use super::addrmap::{Prefetch, U32Map};
use super::distinct::Distinct;
use serde::Serialize;

use crate::config::Config;
use crate::flow::Flow;
use crate::flowlog::{Action, FlowRecord};
use crate::time::TimeSpan;

/// Ports below this are services for the `services` table (plus admin and
/// sensitive ports).
const WELL_KNOWN_BELOW: u16 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct PortKey {
    dstport: u16,
    protocol: Option<u8>,
    action: Option<Action>,
}

impl PortKey {
    /// The `ports` row of a record; `None` without a destination port.
    #[inline]
    fn of(r: &FlowRecord) -> Option<PortKey> {
        Some(PortKey {
            dstport: r.dstport?,
            protocol: r.protocol,
            action: r.action,
        })
    }

    /// Port in bits 16..32, protocol in 8..16, then whether the protocol
    /// is present and the action (0 none, 1 accept, 2 reject).
    #[inline]
    fn pack(self) -> u32 {
        let action = match self.action {
            None => 0,
            Some(Action::Accept) => 1,
            Some(Action::Reject) => 2,
        };
        u32::from(self.dstport) << 16
            | u32::from(self.protocol.unwrap_or(0)) << 8
            | u32::from(self.protocol.is_some()) << 2
            | action
    }

    fn unpack(k: u32) -> PortKey {
        PortKey {
            dstport: (k >> 16) as u16,
            protocol: (k & 4 != 0).then_some((k >> 8) as u8),
            action: match k & 3 {
                1 => Some(Action::Accept),
                2 => Some(Action::Reject),
                _ => None,
            },
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    flows: u64,
    packets: u64,
    bytes: u64,
}

impl Counter {
    #[inline]
    fn add(&mut self, packets: u64, bytes: u64) {
        self.flows += 1;
        self.packets = self.packets.saturating_add(packets);
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

#[derive(Debug, Default, Clone)]
struct PortAcc {
    c: Counter,
    sources: Distinct,
    destinations: Distinct,
}

#[derive(Debug, Default, Clone, Copy)]
struct TalkerAcc {
    r#in: Counter,
    out: Counter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct AdminKey {
    src: IpAddr,
    dst: IpAddr,
    dstport: u16,
    protocol: Option<u8>,
    action: Option<Action>,
}

#[derive(Debug, Default, Clone, Copy)]
struct AdminAcc {
    c: Counter,
    span: TimeSpan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ServiceKey {
    dst: IpAddr,
    dstport: u16,
    protocol: Option<u8>,
}

/// A row of `ports`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortsRow {
    /// Destination port.
    pub dstport: u16,
    /// IANA protocol number.
    pub protocol: Option<u8>,
    /// ACCEPT or REJECT.
    pub action: Option<&'static str>,
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Distinct source addresses.
    pub distinct_sources: u64,
    /// Distinct destination addresses.
    pub distinct_destinations: u64,
}

/// A row of `talkers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TalkersRow {
    /// 1 for the address with the most bytes.
    pub rank: u32,
    /// The address.
    pub address: String,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// Flows received.
    pub flows_in: u64,
    /// Flows sent.
    pub flows_out: u64,
}

/// A row of `admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminRow {
    /// Source address (written as text).
    pub srcaddr: IpAddr,
    /// Destination address (written as text).
    pub dstaddr: IpAddr,
    /// Admin port.
    pub dstport: u16,
    /// IANA protocol number.
    pub protocol: Option<u8>,
    /// ACCEPT or REJECT.
    pub action: Option<&'static str>,
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Earliest start.
    pub first_start: Option<u64>,
    /// Latest end.
    pub last_end: Option<u64>,
}

/// A row of `services`: traffic to one service (address and port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicesRow {
    /// Destination address (written as text).
    pub dstaddr: IpAddr,
    /// Destination port (below 1024, admin or sensitive).
    pub dstport: u16,
    /// IANA protocol number.
    pub protocol: Option<u8>,
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A row of `rejected`: one source among the top N by REJECTed flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// 1 for the source with the most rejected flows.
    pub rank: u32,
    /// The source address.
    pub address: String,
    /// Rejected flows.
    pub flows: u64,
    /// Their packets.
    pub packets: u64,
    /// Distinct destination ports tried.
    pub distinct_ports: u64,
    /// Distinct destinations tried.
    pub distinct_destinations: u64,
    /// Earliest start.
    pub first_start: Option<u64>,
    /// Latest end.
    pub last_end: Option<u64>,
}

/// The rows of the aggregate tables of one object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    /// `ports` rows, by port, protocol, action.
    pub ports: Vec<PortsRow>,
    /// `talkers` rows, by rank.
    pub talkers: Vec<TalkersRow>,
    /// `admin` rows, by source, destination, port.
    pub admin: Vec<AdminRow>,
    /// `services` rows, by destination and port.
    pub services: Vec<ServicesRow>,
    /// `rejected` rows, by rank (from `rejected-traffic`'s per-source
    /// state, which counts every REJECTed flow of every source).
    pub rejected: Vec<RejectedRow>,
}

/// Accumulates the aggregate tables of one object.
#[derive(Debug, Default)]
pub struct TableBuilder {
    /// By [`PortKey::pack`].
    ports: U32Map<PortAcc>,
    /// Talkers by family: a `u32` key hashes and compares in one step.
    talkers_v4: U32Map<TalkerAcc>,
    talkers_v6: DenseMap<u128, TalkerAcc>,
    admin: DenseMap<AdminKey, AdminAcc>,
    services: DenseMap<ServiceKey, Counter>,
    limits: Vec<&'static str>,
}

impl TableBuilder {
    /// Starts loading what a record will touch, in two stages a few
    /// records apart (see [`Prefetch`]): the key probes of `talkers` and
    /// `ports`, then their value slots.
    #[inline]
    pub fn prefetch(&self, r: &FlowRecord, stage: Prefetch) {
        // Matched in place: an array of the two `Option<IpAddr>` would be
        // copied for every record.
        if let Some(IpAddr::V4(a)) = &r.srcaddr {
            self.talkers_v4.prefetch(u32::from(*a), stage);
        }
        if let Some(IpAddr::V4(a)) = &r.dstaddr {
            self.talkers_v4.prefetch(u32::from(*a), stage);
        }
        if let Some(k) = PortKey::of(r) {
            self.ports.prefetch(k.pack(), stage);
        }
    }

    /// Adds one OK record.
    #[inline]
    pub fn add(&mut self, flow: &Flow<'_>, config: &Config) {
        let r = flow.record;
        let packets = r.packets.unwrap_or(0);
        let bytes = r.bytes.unwrap_or(0);
        let cap = config.detect.max_tracked;

        // talkers
        for (addr, outbound) in [(flow.src, true), (flow.dst, false)] {
            // One bound for both families.
            let room = cap.saturating_sub(self.talkers_v6.len());
            let acc = match addr {
                IpAddr::V4(a) => self.talkers_v4.entry(u32::from(a), room),
                IpAddr::V6(a) => {
                    let room = cap.saturating_sub(self.talkers_v4.len());
                    self.talkers_v6.entry(u128::from(a), room)
                }
            };
            match acc {
                Some(acc) if outbound => acc.out.add(packets, bytes),
                Some(acc) => acc.r#in.add(packets, bytes),
                None => note_limit(&mut self.limits, "talkers"),
            }
        }

        let Some(key) = PortKey::of(r) else { return };
        let dstport = key.dstport;
        let acc = self.ports.entry(key.pack(), cap);
        if acc.is_none() {
            note_limit(&mut self.limits, "ports");
        }
        if let Some(acc) = acc {
            acc.c.add(packets, bytes);
            acc.sources.add(flow.src_hash);
            acc.destinations.add(flow.dst_hash);
        }

        if config.detect.admin_ports.contains(dstport) {
            let key = AdminKey {
                src: flow.src,
                dst: flow.dst,
                dstport,
                protocol: r.protocol,
                action: r.action,
            };
            match self.admin.entry(key, cap) {
                Some(a) => a.add(packets, bytes, r.start, r.end),
                None => note_limit(&mut self.limits, "admin"),
            }
        }

        let service = dstport < WELL_KNOWN_BELOW
            || config.detect.admin_ports.contains(dstport)
            || config.detect.sensitive_ports.contains(dstport);
        if service && !flow.is_reply {
            let key = ServiceKey {
                dst: flow.dst,
                dstport,
                protocol: r.protocol,
            };
            match self.services.entry(key, cap) {
                Some(c) => c.add(packets, bytes),
                None => note_limit(&mut self.limits, "services"),
            }
        }
    }

    /// Tables whose bound was reached (deduplicated).
    pub fn limits_hit(&self) -> Vec<&'static str> {
        let mut l = self.limits.clone();
        l.sort_unstable();
        l.dedup();
        l
    }
}

/// The rows, once the object is read.
impl TableBuilder {
    /// The rows, in a stable order.
    pub fn finish(self, top_talkers: usize) -> Tables {
        let mut ports: Vec<_> = self
            .ports
            .into_entries()
            .map(|(k, a)| (PortKey::unpack(k), a))
            .collect();
        ports.sort_by_key(|(k, _)| *k);
        let ports = ports
            .into_iter()
            .map(|(k, a)| PortsRow {
                dstport: k.dstport,
                protocol: k.protocol,
                action: k.action.map(Action::as_str),
                flows: a.c.flows,
                packets: a.c.packets,
                bytes: a.c.bytes,
                distinct_sources: a.sources.count(),
                distinct_destinations: a.destinations.count(),
            })
            .collect();

        let v4 = self
            .talkers_v4
            .into_entries()
            .map(|(a, t)| (IpAddr::from(a.to_be_bytes()), t));
        let v6 = self
            .talkers_v6
            .into_entries()
            .map(|(a, t)| (IpAddr::from(a.to_be_bytes()), t));
        let mut talkers: Vec<_> = v4.chain(v6).collect();
        let total = |a: &TalkerAcc| a.r#in.bytes.saturating_add(a.out.bytes);
        let order = |(ka, a): &(IpAddr, TalkerAcc), (kb, b): &(IpAddr, TalkerAcc)| {
            total(b).cmp(&total(a)).then(ka.cmp(kb))
        };
        // Only the top rows are kept: select them first (linear), then sort
        // those few. The order is total, so the rows are the same.
        if talkers.len() > top_talkers && top_talkers > 0 {
            talkers.select_nth_unstable_by(top_talkers - 1, order);
        }
        talkers.truncate(top_talkers);
        talkers.sort_unstable_by(order);
        let talkers = talkers
            .into_iter()
            .enumerate()
            .map(|(i, (addr, a))| TalkersRow {
                rank: i as u32 + 1,
                address: addr.to_string(),
                bytes_in: a.r#in.bytes,
                bytes_out: a.out.bytes,
                packets_in: a.r#in.packets,
                packets_out: a.out.packets,
                flows_in: a.r#in.flows,
                flows_out: a.out.flows,
            })
            .collect();

        let mut admin: Vec<_> = self.admin.into_entries().collect();
        admin.sort_by_key(|(k, _)| *k);
        let admin = admin
            .into_iter()
            .map(|(k, a)| AdminRow {
                srcaddr: k.src,
                dstaddr: k.dst,
                dstport: k.dstport,
                protocol: k.protocol,
                action: k.action.map(Action::as_str),
                flows: a.c.flows,
                packets: a.c.packets,
                bytes: a.c.bytes,
                first_start: a.span.first,
                last_end: a.span.last,
            })
            .collect();

        let mut services: Vec<_> = self.services.into_entries().collect();
        services.sort_by_key(|(k, _)| *k);
        let services = services
            .into_iter()
            .map(|(k, c)| ServicesRow {
                dstaddr: k.dst,
                dstport: k.dstport,
                protocol: k.protocol,
                flows: c.flows,
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect();
        Tables {
            ports,
            talkers,
            admin,
            services,
            rejected: Vec::new(),
        }
    }

    /// Entries held (a sketch counts as one more), for tests of the memory
    /// bound.
    pub fn entries(&self) -> usize {
        self.ports.len()
            + self
                .ports
                .values()
                .map(|p| {
                    usize::from(p.sources.is_sketch()) + usize::from(p.destinations.is_sketch())
                })
                .sum::<usize>()
            + self.talkers_v4.len()
            + self.talkers_v6.len()
            + self.admin.len()
            + self.services.len()
    }
}

/// Notes a table whose bound was reached, once: this runs for every dropped
/// record, so pushing each time would grow with the object.
fn note_limit(limits: &mut Vec<&'static str>, table: &'static str) {
    if !limits.contains(&table) {
        limits.push(table);
    }
}

impl AdminAcc {
    fn add(&mut self, packets: u64, bytes: u64, start: Option<u64>, end: Option<u64>) {
        self.c.add(packets, bytes);
        self.span.add(start, end);
    }
}
