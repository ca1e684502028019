//! `threat-intel-match`: an ACCEPTed flow, in either direction, with an
//! address on a threat list (SPEC sections 2 and 8). One finding per listed
//! address as seen in the flows (a listed /24 gives one finding per address
//! of it that was seen), naming the hosts on our side. Rejected flows with
//! a listed address are counted in the finding of an accepted one, never a
//! finding by themselves.
//!
//! The rule exists only when a threat list is loaded ([`super::all_rules`]):
//! without one, no record pays for a lookup.

use std::net::IpAddr;
use std::sync::Arc;

use super::evidence::extend_capped;
use super::evidence::{MAX_LISTED_ADDRS, MAX_LISTED_INTERFACES, MAX_LISTED_PORTS};
use super::{
    sorted, Candidate, CandidateSink, Evidence, FindingContext, Flow, Rule, RuleId, Subject,
    Thresholds, NO_INTERFACE,
};
use crate::config::Config;
use crate::intel::Intel;
use crate::sketch::item_of_hash;

/// Listed addresses tracked per object, at most: each keeps capped lists
/// of hosts and ports. More than this in one object means a list names a
/// large part of the traffic, and the `files` row says the bound was
/// reached.
pub const MAX_LISTED_SEEN: usize = 4096;

/// Flows with a listed address, per listed address.
#[derive(Debug)]
pub struct ThreatIntelMatch {
    intel: Arc<Intel>,
    seen: crate::bounded::DenseMap<IpAddr, Seen>,
    limit_hit: bool,
}

/// What the flows with one listed address showed.
#[derive(Debug, Default)]
struct Seen {
    /// The list entry ([`crate::intel::ThreatSet::listing`]).
    entry: u32,
    /// Counts, times, hosts on our side (`dst_addrs`) and service ports.
    evidence: Evidence,
    /// Interface slots (names are known at the end of the object).
    interfaces: Vec<u32>,
}

impl ThreatIntelMatch {
    /// The rule over the threat lists of `intel`.
    pub fn new(intel: Arc<Intel>) -> ThreatIntelMatch {
        ThreatIntelMatch {
            intel,
            seen: crate::bounded::DenseMap::default(),
            limit_hit: false,
        }
    }

    /// Adds a flow with the listed address `listed` (entry `entry`);
    /// `to_listed`: the listed address is the flow's destination.
    fn add(&mut self, listed: IpAddr, entry: u32, flow: &Flow<'_>, to_listed: bool, cap: usize) {
        let Some(s) = self.seen.entry(listed, cap) else {
            self.limit_hit = true;
            return;
        };
        s.entry = entry;
        let r = flow.record;
        let e = &mut s.evidence;
        e.flows = e.flows.saturating_add(1);
        e.count = e.flows;
        e.packets = e.packets.saturating_add(r.packets.unwrap_or(0));
        let bytes = r.bytes.unwrap_or(0);
        e.bytes = e.bytes.saturating_add(bytes);
        if flow.accepted() {
            e.accepted = e.accepted.saturating_add(1);
        } else if flow.rejected() {
            e.rejected = e.rejected.saturating_add(1);
        }
        if to_listed {
            e.flows_to_subject = e.flows_to_subject.saturating_add(1);
            e.bytes_to_subject = e.bytes_to_subject.saturating_add(bytes);
            if flow.outbound && flow.opened_by_source() {
                e.opened_to_subject = e.opened_to_subject.saturating_add(1);
            }
        }
        let (start, end) = crate::time::flow_span(r.start, r.end);
        e.first = match (e.first, start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        e.last = match (e.last, end) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if e.flows == 1 {
            e.protocol = r.protocol;
        } else if !e.mixed_protocols && e.protocol != r.protocol {
            e.mixed_protocols = true;
            e.protocol = None;
        }
        // The host on our side, and the service port: the destination's,
        // or the source's for a server's reply.
        let (ours, ours_hash) = if to_listed {
            (flow.src, flow.src_hash)
        } else {
            (flow.dst, flow.dst_hash)
        };
        extend_capped(&mut e.dst_addrs, &[ours], MAX_LISTED_ADDRS);
        e.distinct_dst.add(item_of_hash(ours_hash));
        let port = if flow.is_reply { r.srcport } else { r.dstport };
        if let Some(p) = port {
            extend_capped(&mut e.dst_ports, &[p], MAX_LISTED_PORTS);
            e.distinct_ports.add(u32::from(p));
        }
        if flow.interface != NO_INTERFACE {
            extend_capped(&mut s.interfaces, &[flow.interface], MAX_LISTED_INTERFACES);
        }
    }
}

impl Rule for ThreatIntelMatch {
    fn id(&self) -> RuleId {
        RuleId::ThreatIntelMatch
    }

    #[inline]
    fn observe(&mut self, flow: &Flow<'_>, config: &Config) {
        let cap = config.detect.max_tracked.min(MAX_LISTED_SEEN);
        if let Some(entry) = self.intel.threats.lookup(flow.src) {
            self.add(flow.src, entry, flow, false, cap);
        }
        if let Some(entry) = self.intel.threats.lookup(flow.dst) {
            self.add(flow.dst, entry, flow, true, cap);
        }
    }

    fn candidates(
        &self,
        ctx: &FindingContext,
        config: &Config,
        _floor: &Thresholds,
        out: &mut CandidateSink,
    ) {
        for (addr, s) in sorted(&self.seen) {
            // Rejected flows alone are never a finding.
            if s.evidence.accepted == 0 {
                continue;
            }
            let listing = self.intel.threats.listing(s.entry);
            let mut evidence = s.evidence.clone().from_source(*addr);
            ctx.interfaces.describe(&s.interfaces, &mut evidence);
            out.push(Candidate {
                rule: self.id(),
                subject: Subject::Address { addr: *addr },
                severity: listing
                    .and_then(|l| l.severity)
                    .unwrap_or_else(|| config.severity(self.id())),
                evidence,
                label: listing.map(|l| l.describe()),
            });
        }
    }

    fn limit_hit(&self) -> bool {
        self.limit_hit
    }

    fn bound(&self, config: &Config) -> usize {
        config.detect.max_tracked.min(MAX_LISTED_SEEN)
    }

    fn entries(&self) -> usize {
        self.seen.len()
    }
}
