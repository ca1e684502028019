//! The per-key accumulator behind every finding.

use std::net::IpAddr;

use super::Flow;

/// How many destination addresses a finding lists.
pub const MAX_LISTED_ADDRS: usize = 10;
/// How many destination ports a finding lists.
pub const MAX_LISTED_PORTS: usize = 20;
/// How many interface ids a finding lists.
pub const MAX_LISTED_INTERFACES: usize = 5;

/// Counts and capped samples of the flows behind one finding.
#[derive(Debug, Clone, Default)]
pub struct Hits {
    /// Flows seen.
    pub flows: u64,
    /// Packets, saturating.
    pub packets: u64,
    /// Bytes, saturating.
    pub bytes: u64,
    /// Flows with action ACCEPT.
    pub accepted: u64,
    /// Flows with action REJECT.
    pub rejected: u64,
    /// Earliest `start`.
    pub first: Option<u64>,
    /// Latest `end`.
    pub last: Option<u64>,
    /// First distinct destination addresses.
    pub dst_addrs: Vec<IpAddr>,
    /// First distinct destination ports.
    pub dst_ports: Vec<u16>,
    /// First distinct interface ids.
    pub interfaces: Vec<String>,
    /// Protocol when all flows share one; `None` once they differ.
    pub protocol: Option<u8>,
    mixed_protocols: bool,
}

impl Hits {
    /// Adds one flow.
    pub fn add(&mut self, flow: &Flow<'_>) {
        let r = flow.record;
        self.flows += 1;
        self.packets = self.packets.saturating_add(r.packets.unwrap_or(0));
        self.bytes = self.bytes.saturating_add(r.bytes.unwrap_or(0));
        if flow.accepted() {
            self.accepted += 1;
        } else if flow.rejected() {
            self.rejected += 1;
        }
        self.add_times(r.start, r.end);
        if self.dst_addrs.len() < MAX_LISTED_ADDRS && !self.dst_addrs.contains(&flow.dst) {
            self.dst_addrs.push(flow.dst);
        }
        if let Some(p) = r.dstport {
            if self.dst_ports.len() < MAX_LISTED_PORTS && !self.dst_ports.contains(&p) {
                self.dst_ports.push(p);
            }
        }
        self.add_interface(flow.interface_id);
        match (self.flows, r.protocol) {
            (1, p) => self.protocol = p,
            (_, p) if p != self.protocol => {
                self.mixed_protocols = true;
                self.protocol = None;
            }
            _ => {}
        }
        if self.mixed_protocols {
            self.protocol = None;
        }
    }

    /// Widens the time window.
    pub fn add_times(&mut self, start: Option<u64>, end: Option<u64>) {
        if let Some(s) = start {
            self.first = Some(self.first.map_or(s, |f| f.min(s)));
        }
        if let Some(e) = end.or(start) {
            self.last = Some(self.last.map_or(e, |l| l.max(e)));
        }
    }

    /// Records an interface id (capped list).
    pub fn add_interface(&mut self, id: Option<&str>) {
        if let Some(id) = id {
            if self.interfaces.len() < MAX_LISTED_INTERFACES
                && !self.interfaces.iter().any(|i| i == id)
            {
                self.interfaces.push(id.to_string());
            }
        }
    }
}
