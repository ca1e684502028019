//! What a finding is about and how urgent it is: the rule identifiers of
//! SPEC section 2 and the severity scale. A leaf module shared by the
//! configuration, the rules and the reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
        // Without allocating: threat lists parse one per line.
        let t = s.trim();
        [Severity::Low, Severity::Medium, Severity::High]
            .into_iter()
            .find(|v| t.eq_ignore_ascii_case(v.as_str()))
            .ok_or_else(|| {
                format!(
                    "'{}' is not a severity (low, medium, high)",
                    t.to_ascii_lowercase()
                )
            })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule identifiers of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// An accepted flow to or from an address on a threat list.
    #[serde(rename = "threat-intel-match")]
    ThreatIntelMatch,
}

impl RuleId {
    /// Every rule.
    pub const ALL: [RuleId; 7] = [
        RuleId::AdminPortExposed,
        RuleId::AdminPortBruteForce,
        RuleId::SensitivePortExposed,
        RuleId::PortScan,
        RuleId::RejectedTraffic,
        RuleId::SkippedRecords,
        RuleId::ThreatIntelMatch,
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
            RuleId::ThreatIntelMatch => "threat-intel-match",
        }
    }

    /// Severity from SPEC §2.
    pub fn default_severity(self) -> Severity {
        match self {
            RuleId::AdminPortExposed
            | RuleId::AdminPortBruteForce
            | RuleId::SensitivePortExposed
            | RuleId::ThreatIntelMatch => Severity::High,
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
