//! What the engine reads and detects: the networks and ports that decide
//! direction and replies, one threshold per [`ThresholdKey`] of the rule
//! catalogue, severities, and the bounds on per-object state. A new
//! threshold is a field here named as its catalogue key, with the
//! catalogue's default.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::values::{count, count_usize, cwl_fields, max_tracked, optional_text, severities, text};
use crate::catalogue::{RuleId, ThresholdKey, Thresholds};
use crate::flowlog::Format;
use crate::net::{PortSet, TrustedNetworks};
use crate::severity::Severity;

/// Default trusted networks: RFC 1918, CGNAT (RFC 6598) and IPv6 ULA.
pub const DEFAULT_TRUSTED: &str = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7";
/// Default admin ports: SSH and RDP.
pub const DEFAULT_ADMIN_PORTS: &str = "22,3389";
/// Default sensitive ports: telnet, SMB, databases, VNC, caches, search.
pub const DEFAULT_SENSITIVE_PORTS: &str = "23,445,1433,3306,5432,5900,6379,9200,11211,27017";
/// Default suspicious egress ports: mining pools (Stratum), IRC, Tor.
pub const DEFAULT_SUSPICIOUS_EGRESS_PORTS: &str =
    "3333,4444,5555,6666,6667,7777,9001,9030,14444,45700";

/// The detection keys (SPEC section 2).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Detection {
    /// Networks considered inside.
    #[serde(rename = "trusted_cidrs", deserialize_with = "text")]
    pub trusted: TrustedNetworks,
    /// Remote administration ports (SSH, RDP).
    #[serde(deserialize_with = "text")]
    pub admin_ports: PortSet,
    /// Ports that must never be open to the internet.
    #[serde(deserialize_with = "text")]
    pub sensitive_ports: PortSet,
    /// Flows from one source to admin ports that make brute force.
    #[serde(deserialize_with = "count")]
    pub brute_force_threshold: u64,
    /// Distinct ports on one destination that make a vertical scan.
    #[serde(deserialize_with = "count")]
    pub port_scan_threshold: u64,
    /// Distinct destinations on one port that make a sweep.
    #[serde(deserialize_with = "count")]
    pub sweep_threshold: u64,
    /// Rejected flows from one source that make `rejected-traffic`.
    #[serde(deserialize_with = "count")]
    pub rejected_threshold: u64,
    /// Distinct ports of one internet host that make `instance-port-scan`.
    #[serde(deserialize_with = "count")]
    pub instance_port_scan_threshold: u64,
    /// Distinct internet hosts on one port that make `instance-port-scan`.
    #[serde(deserialize_with = "count")]
    pub instance_sweep_threshold: u64,
    /// Flows to admin ports of one peer that make `instance-brute-force`.
    #[serde(deserialize_with = "count")]
    pub instance_brute_force_threshold: u64,
    /// Packets to one peer that make `instance-dos`.
    #[serde(deserialize_with = "count")]
    pub instance_dos_threshold: u64,
    /// The largest average packet of `instance-dos`, in bytes.
    #[serde(deserialize_with = "count")]
    pub instance_dos_max_bytes_per_packet: u64,
    /// Bytes to one peer that make `large-upload`.
    #[serde(deserialize_with = "count")]
    pub large_upload_threshold: u64,
    /// Five-minute slots of an hour that make `beaconing` (at most 12).
    #[serde(deserialize_with = "count")]
    pub beaconing_threshold: u64,
    /// Hosts of an account that may contact a beaconing peer; more make it
    /// a service every host uses.
    #[serde(deserialize_with = "count")]
    pub beaconing_max_hosts: u64,
    /// Packets an outbound flow needs to count as a connection our host
    /// made (`beaconing`, `suspicious-egress-port`).
    #[serde(deserialize_with = "count")]
    pub connection_min_packets: u64,
    /// Ports our hosts should not connect to (`suspicious-egress-port`).
    #[serde(deserialize_with = "text")]
    pub suspicious_egress_ports: PortSet,
    /// Internet networks our hosts may send to in volume and at any pace
    /// (backup targets, CDNs, partners): no `instance-dos`, `beaconing` or
    /// `large-upload` for them.
    #[serde(deserialize_with = "text")]
    pub egress_allowed_cidrs: TrustedNetworks,
    /// Severity of each rule (`[severity]` in a file,
    /// `FLOWGUARD_SEVERITY_<RULE>` in the environment).
    #[serde(rename = "severity", deserialize_with = "severities")]
    pub severities: BTreeMap<RuleId, Severity>,
    /// Findings below this are not published (Lambda; default `medium`)
    /// or printed (CLI; default `low`). `None` when not configured.
    #[serde(deserialize_with = "optional_text")]
    pub min_severity: Option<Severity>,
    /// Upper bound on the entries of each table of per-address state; beyond
    /// it new keys are not tracked and the `files` row says so.
    #[serde(deserialize_with = "max_tracked")]
    pub max_tracked: usize,
    /// Findings kept per rule and object; beyond it they are counted, and
    /// the `files` row lists `findings:<rule>` in `limits_hit`.
    #[serde(deserialize_with = "count_usize")]
    pub max_findings: usize,
    /// Rows in the `talkers` table.
    #[serde(deserialize_with = "count_usize")]
    pub top_talkers: usize,
    /// Rows in the `rejected` table.
    #[serde(deserialize_with = "count_usize")]
    pub top_rejected: usize,
    /// The fields of the messages of CloudWatch Logs exports (the log
    /// group's format, which the messages do not repeat): hyphenated names
    /// separated by spaces or commas, or the flow log's `${field}` format
    /// string. Default (or empty): the v2 default format.
    #[serde(deserialize_with = "cwl_fields")]
    pub cwl_fields: Format,
}

impl Default for Detection {
    fn default() -> Detection {
        let t = Thresholds::defaults();
        Detection {
            trusted: DEFAULT_TRUSTED
                .parse()
                .unwrap_or_else(|_| TrustedNetworks::new(Vec::new())),
            admin_ports: DEFAULT_ADMIN_PORTS
                .parse()
                .unwrap_or_else(|_| PortSet::new(&[22, 3389])),
            sensitive_ports: DEFAULT_SENSITIVE_PORTS
                .parse()
                .unwrap_or_else(|_| PortSet::new(&[])),
            brute_force_threshold: t[ThresholdKey::BruteForce],
            port_scan_threshold: t[ThresholdKey::PortScan],
            sweep_threshold: t[ThresholdKey::Sweep],
            rejected_threshold: t[ThresholdKey::Rejected],
            instance_port_scan_threshold: t[ThresholdKey::InstancePortScan],
            instance_sweep_threshold: t[ThresholdKey::InstanceSweep],
            instance_brute_force_threshold: t[ThresholdKey::InstanceBruteForce],
            instance_dos_threshold: t[ThresholdKey::InstanceDos],
            instance_dos_max_bytes_per_packet: t[ThresholdKey::InstanceDosBytesPerPacket],
            large_upload_threshold: t[ThresholdKey::LargeUpload],
            beaconing_threshold: t[ThresholdKey::Beaconing],
            beaconing_max_hosts: t[ThresholdKey::BeaconingMaxHosts],
            connection_min_packets: 3,
            suspicious_egress_ports: DEFAULT_SUSPICIOUS_EGRESS_PORTS
                .parse()
                .unwrap_or_else(|_| PortSet::new(&[])),
            egress_allowed_cidrs: TrustedNetworks::new(Vec::new()),
            severities: BTreeMap::new(),
            min_severity: None,
            max_tracked: 100_000,
            max_findings: 1000,
            top_talkers: 100,
            top_rejected: 100,
            cwl_fields: Format::default_v2(),
        }
    }
}

impl Detection {
    /// The configured thresholds, by catalogue key.
    pub fn thresholds(&self) -> Thresholds {
        let mut t = Thresholds::defaults();
        for k in ThresholdKey::ALL {
            t[k] = *self.threshold_field(k);
        }
        t
    }

    /// One configured threshold.
    #[inline]
    pub fn threshold(&self, k: ThresholdKey) -> u64 {
        *self.threshold_field(k)
    }

    /// The field of a threshold key (the one place a key meets its field).
    fn threshold_field(&self, k: ThresholdKey) -> &u64 {
        match k {
            ThresholdKey::BruteForce => &self.brute_force_threshold,
            ThresholdKey::PortScan => &self.port_scan_threshold,
            ThresholdKey::Sweep => &self.sweep_threshold,
            ThresholdKey::Rejected => &self.rejected_threshold,
            ThresholdKey::InstancePortScan => &self.instance_port_scan_threshold,
            ThresholdKey::InstanceSweep => &self.instance_sweep_threshold,
            ThresholdKey::InstanceBruteForce => &self.instance_brute_force_threshold,
            ThresholdKey::InstanceDos => &self.instance_dos_threshold,
            ThresholdKey::InstanceDosBytesPerPacket => &self.instance_dos_max_bytes_per_packet,
            ThresholdKey::LargeUpload => &self.large_upload_threshold,
            ThresholdKey::Beaconing => &self.beaconing_threshold,
            ThresholdKey::BeaconingMaxHosts => &self.beaconing_max_hosts,
        }
    }

    /// The severity configured for a rule.
    pub fn severity(&self, rule: RuleId) -> Severity {
        self.severities
            .get(&rule)
            .copied()
            .unwrap_or(rule.default_severity())
    }

    /// Thresholds must be positive: zero would make every flow a finding.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        for k in ThresholdKey::ALL {
            if *self.threshold_field(k) == 0 {
                return Err((k.name(), "must be a positive whole number".into()));
            }
        }
        if self.beaconing_threshold > u64::from(crate::catalogue::BEACON_SLOTS) {
            return Err((
                "beaconing_threshold",
                format!(
                    "'{}' is more than the {} five-minute slots of an hour",
                    self.beaconing_threshold,
                    crate::catalogue::BEACON_SLOTS
                ),
            ));
        }
        Ok(())
    }
}
