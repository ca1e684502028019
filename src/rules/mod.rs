//! Detection rules. Each rule sees every OK record once (as a classified
//! [`Flow`]), keeps bounded per-source state, and turns it into at most one
//! finding per source (per destination for `admin-port-exposed`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::config::Config;
use crate::flowlog::{Action, FlowDirection, FlowRecord};
use crate::source::SourceRef;
use crate::summary::addr_hash;

mod admin;
pub mod finding;
mod hits;
mod rejected;
mod scan;
mod sensitive;
mod skipped;

pub use admin::{AdminPortBruteForce, AdminPortExposed};
pub use finding::{Finding, FindingSink};
pub use hits::{Hits, InterfaceTable, NO_INTERFACE};
pub use rejected::RejectedTraffic;
pub use scan::PortScan;
pub use sensitive::SensitivePortExposed;
pub use skipped::SkippedRecords;

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Likely hostile.
    Medium,
    /// Exposure or attack in progress.
    High,
}

impl Severity {
    /// `low`, `medium` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            other => Err(format!("'{other}' is not a severity (low, medium, high)")),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule identifiers of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RuleId {
    /// An accepted inbound flow from the internet to SSH/RDP.
    #[serde(rename = "admin-port-exposed")]
    AdminPortExposed,
    /// Many flows from one internet source to admin ports.
    #[serde(rename = "admin-port-brute-force")]
    AdminPortBruteForce,
    /// An accepted inbound flow from the internet to a database-like port.
    #[serde(rename = "sensitive-port-exposed")]
    SensitivePortExposed,
    /// Vertical port scan or horizontal sweep.
    #[serde(rename = "port-scan")]
    PortScan,
    /// Many rejected flows from one source.
    #[serde(rename = "rejected-traffic")]
    RejectedTraffic,
    /// AWS dropped records (SKIPDATA): a visibility gap.
    #[serde(rename = "skipped-records")]
    SkippedRecords,
}

impl RuleId {
    /// Every rule.
    pub const ALL: [RuleId; 6] = [
        RuleId::AdminPortExposed,
        RuleId::AdminPortBruteForce,
        RuleId::SensitivePortExposed,
        RuleId::PortScan,
        RuleId::RejectedTraffic,
        RuleId::SkippedRecords,
    ];

    /// The rule id text.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::AdminPortExposed => "admin-port-exposed",
            RuleId::AdminPortBruteForce => "admin-port-brute-force",
            RuleId::SensitivePortExposed => "sensitive-port-exposed",
            RuleId::PortScan => "port-scan",
            RuleId::RejectedTraffic => "rejected-traffic",
            RuleId::SkippedRecords => "skipped-records",
        }
    }

    /// Severity from SPEC §2.
    pub fn default_severity(self) -> Severity {
        match self {
            RuleId::AdminPortExposed
            | RuleId::AdminPortBruteForce
            | RuleId::SensitivePortExposed => Severity::High,
            RuleId::PortScan => Severity::Medium,
            RuleId::RejectedTraffic | RuleId::SkippedRecords => Severity::Low,
        }
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OK record with addresses, classified once for all rules.
#[derive(Debug, Clone, Copy)]
pub struct Flow<'a> {
    /// The typed record.
    pub record: &'a FlowRecord,
    /// Interned `interface-id` ([`NO_INTERFACE`] when absent).
    pub interface: u32,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The source is in a trusted network.
    pub src_trusted: bool,
    /// Inbound from the internet: `flow-direction` ingress when present,
    /// else an untrusted source and a trusted destination.
    pub inbound: bool,
    /// A server's reply (from a port below 1024 to one of 1024 or above):
    /// never an attempt by the sender.
    pub is_reply: bool,
    /// [`addr_hash`] of the source, computed once for the tables and rules.
    pub src_hash: u64,
    /// [`addr_hash`] of the destination.
    pub dst_hash: u64,
}

impl<'a> Flow<'a> {
    /// Classifies a record; `None` when it has no addresses.
    #[inline]
    pub fn classify(record: &'a FlowRecord, interface: u32, config: &Config) -> Option<Flow<'a>> {
        let src = record.srcaddr?;
        let dst = record.dstaddr?;
        let src_trusted = config.trusted.contains(src);
        let inbound = match record.flow_direction {
            Some(d) => d == FlowDirection::Ingress,
            None => !src_trusted && config.trusted.contains(dst),
        };
        let is_reply =
            matches!((record.srcport, record.dstport), (Some(s), Some(d)) if s < 1024 && d >= 1024);
        Some(Flow {
            record,
            interface,
            src,
            dst,
            src_trusted,
            inbound,
            is_reply,
            src_hash: addr_hash(src),
            dst_hash: addr_hash(dst),
        })
    }

    /// `action` is ACCEPT.
    #[inline]
    pub fn accepted(&self) -> bool {
        self.record.action == Some(Action::Accept)
    }

    /// `action` is REJECT.
    #[inline]
    pub fn rejected(&self) -> bool {
        self.record.action == Some(Action::Reject)
    }
}

/// What every finding of one object shares.
#[derive(Debug, Clone)]
pub struct FindingContext {
    /// Account of the object.
    pub account: String,
    /// Region of the object.
    pub region: String,
    /// The object.
    pub source: SourceRef,
    /// Interface ids by interned slot.
    pub interfaces: Vec<String>,
}

/// One detection rule.
pub trait Rule {
    /// The rule's id.
    fn id(&self) -> RuleId;
    /// Sees one OK record.
    fn observe(&mut self, flow: &Flow<'_>, config: &Config);
    /// Sees one SKIPDATA record (only `skipped-records` cares).
    fn observe_skipped(&mut self, _record: &FlowRecord, _interface: u32) {}
    /// Emits the findings for the whole object.
    fn findings(&self, ctx: &FindingContext, config: &Config, out: &mut FindingSink<'_>);
    /// Set when the rule stopped tracking new keys because of
    /// `Config::max_tracked`.
    fn limit_hit(&self) -> bool;
    /// Entries held in the rule's bounded state (for memory-bound tests).
    fn entries(&self) -> usize;
}

/// All rules, in the order of SPEC §2.
pub fn all_rules() -> Vec<Box<dyn Rule + Send>> {
    vec![
        Box::new(AdminPortExposed::default()),
        Box::new(AdminPortBruteForce::default()),
        Box::new(SensitivePortExposed::default()),
        Box::new(PortScan::default()),
        Box::new(RejectedTraffic::default()),
        Box::new(SkippedRecords::default()),
    ]
}

/// The usual name of a well-known port, for titles.
pub fn service_name(port: u16) -> Option<&'static str> {
    Some(match port {
        22 => "SSH",
        23 => "Telnet",
        445 => "SMB",
        1433 => "SQL Server",
        3306 => "MySQL",
        3389 => "RDP",
        5432 => "PostgreSQL",
        5900 => "VNC",
        6379 => "Redis",
        9200 => "Elasticsearch",
        11211 => "Memcached",
        27017 => "MongoDB",
        _ => return None,
    })
}

/// `SSH (22)` or `port 8022`.
pub fn port_label(port: u16) -> String {
    match service_name(port) {
        Some(n) => format!("{n} ({port})"),
        None => format!("port {port}"),
    }
}

/// `SSH (22), RDP (3389)`: labels of ports, in the order given.
pub fn ports_label(ports: &[u16]) -> String {
    ports
        .iter()
        .map(|p| port_label(*p))
        .collect::<Vec<_>>()
        .join(", ")
}

/// MITRE ATT&CK remote-services technique for an admin port.
pub fn remote_service_technique(port: u16) -> &'static str {
    match port {
        22 => "T1021.004",
        3389 => "T1021.001",
        5900 => "T1021.005",
        _ => "T1021",
    }
}
