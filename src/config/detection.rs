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
            severities: BTreeMap::new(),
            min_severity: None,
            max_tracked: 100_000,
            max_findings: 1000,
            top_talkers: 100,
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

    /// The field of a threshold key (the one place a key meets its field).
    fn threshold_field(&self, k: ThresholdKey) -> &u64 {
        match k {
            ThresholdKey::BruteForce => &self.brute_force_threshold,
            ThresholdKey::PortScan => &self.port_scan_threshold,
            ThresholdKey::Sweep => &self.sweep_threshold,
            ThresholdKey::Rejected => &self.rejected_threshold,
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
        Ok(())
    }
}
