//! The finding: what a rule reports, serialised as the JSON of SPEC §2.

use std::net::IpAddr;

use serde::Serialize;

use super::{FindingContext, Hits, RuleId, Severity};
use crate::hash::fnv1a64;
use crate::source::SourceRef;
use crate::time::rfc3339;

/// One security finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable id: a hash of rule, object, source and destination.
    pub finding_id: String,
    /// Rule id.
    pub rule: RuleId,
    /// Severity.
    pub severity: Severity,
    /// One human sentence.
    pub title: String,
    /// AWS account of the object.
    pub account: String,
    /// AWS region of the object.
    pub region: String,
    /// Interfaces that saw the flows (capped).
    pub interface_ids: Vec<String>,
    /// The source address (none for `skipped-records`).
    pub src_addr: Option<String>,
    /// Destination addresses (capped list).
    pub dst_addrs: Vec<String>,
    /// Destination ports (capped list, sorted).
    pub dst_ports: Vec<u16>,
    /// IANA protocol number when all flows share one.
    pub protocol: Option<u8>,
    /// Flows behind the finding.
    pub flows: u64,
    /// Packets behind the finding.
    pub packets: u64,
    /// Bytes behind the finding.
    pub bytes: u64,
    /// Of which accepted.
    pub accepted_flows: u64,
    /// Of which rejected.
    pub rejected_flows: u64,
    /// Distinct destination addresses (may exceed the listed ones).
    pub distinct_dst_addrs: u64,
    /// Distinct destination ports (may exceed the listed ones).
    pub distinct_dst_ports: u64,
    /// Earliest flow start, RFC 3339 UTC.
    pub first_seen: Option<String>,
    /// Latest flow end, RFC 3339 UTC.
    pub last_seen: Option<String>,
    /// The object the flows came from.
    pub source: SourceRef,
    /// MITRE ATT&CK technique ids.
    pub mitre_attack: Vec<&'static str>,
}

impl Finding {
    /// Builds a finding from accumulated hits.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rule: RuleId,
        severity: Severity,
        title: String,
        ctx: &FindingContext,
        src: Option<IpAddr>,
        dst_key: Option<IpAddr>,
        hits: &Hits,
        mitre_attack: Vec<&'static str>,
    ) -> Finding {
        let mut ports = hits.dst_ports();
        let port_count = ports.len() as u64;
        let dsts = hits.dst_addrs();
        ports.sort_unstable();
        let id_input = format!(
            "{}|{}|{}|{}",
            rule.as_str(),
            ctx.source.display(),
            src.map(|a| a.to_string()).unwrap_or_default(),
            dst_key.map(|a| a.to_string()).unwrap_or_default()
        );
        Finding {
            finding_id: format!("fg-{:016x}", fnv1a64(id_input.as_bytes())),
            rule,
            severity,
            title,
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            interface_ids: hits
                .interfaces()
                .iter()
                .filter_map(|i| ctx.interfaces.get(*i as usize).cloned())
                .collect(),
            src_addr: src.map(|a| a.to_string()),
            dst_addrs: dsts.iter().map(|a| a.to_string()).collect(),
            dst_ports: ports,
            protocol: hits.protocol,
            flows: hits.flows(),
            packets: hits.packets,
            bytes: hits.bytes,
            accepted_flows: hits.accepted(),
            rejected_flows: hits.rejected(),
            distinct_dst_addrs: dsts.len() as u64,
            distinct_dst_ports: port_count,
            first_seen: hits.first().map(rfc3339),
            last_seen: hits.last().map(rfc3339),
            source: ctx.source.clone(),
            mitre_attack,
        }
    }
}

/// Takes one rule's findings for an object, up to `Config::max_findings`;
/// the rest are counted, not kept. One finding per source is the design,
/// but an object from a hostile or wide-open network can name a hundred
/// thousand sources, and their findings would not fit a small Lambda.
#[derive(Debug)]
pub struct FindingSink<'a> {
    out: &'a mut Vec<Finding>,
    room: usize,
    dropped: u64,
}

impl<'a> FindingSink<'a> {
    /// A sink appending to `out`, keeping at most `max` findings.
    pub fn new(out: &'a mut Vec<Finding>, max: usize) -> FindingSink<'a> {
        FindingSink {
            out,
            room: max,
            dropped: 0,
        }
    }

    /// Keeps `f` if there is room, else counts it.
    pub fn push(&mut self, f: Finding) {
        if self.room > 0 {
            self.room -= 1;
            self.out.push(f);
        } else {
            self.dropped += 1;
        }
    }

    /// `true` when no room is left: the caller skips building the finding,
    /// which is counted as dropped.
    pub fn skip_if_full(&mut self) -> bool {
        if self.room == 0 {
            self.dropped += 1;
        }
        self.room == 0
    }

    /// Findings that did not fit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}
