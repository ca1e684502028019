//! The rule catalogue: one entry per rule id holding everything about the
//! rule that is not code: its severity, direction, subject, the threshold
//! keys it reads with their defaults, how its evidence is measured against
//! them, its MITRE ATT&CK techniques, title template, remediation line and
//! AWS Security Finding Format types. The README's rule tables are rendered
//! from it (`flowguard rules --markdown`) and a test compares them, so the
//! documentation cannot drift from the code.
//!
//! A leaf module: configuration takes the threshold defaults from here,
//! and the rules, the correlation and the reports read the rest.
//!
//! Adding a rule: a [`RuleId`] variant, its [`RuleSpec`] in [`CATALOGUE`]
//! (in the same order), new [`ThresholdKey`]s if it has thresholds, and the
//! rule's own file under `src/rules/`.

use std::fmt;
use std::ops::{Index, IndexMut};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::severity::Severity;

/// The identifiers of the rules (SPEC sections 2, 8 and 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleId {
    /// An accepted inbound flow from the internet to SSH/RDP.
    AdminPortExposed,
    /// Many flows from one internet source to admin ports.
    AdminPortBruteForce,
    /// An accepted inbound flow from the internet to a database-like port.
    SensitivePortExposed,
    /// Vertical port scan or horizontal sweep.
    PortScan,
    /// Many rejected flows from one source.
    RejectedTraffic,
    /// AWS dropped records (SKIPDATA): a visibility gap.
    SkippedRecords,
    /// An accepted flow to or from an address on a threat list.
    ThreatIntelMatch,
}

/// Which way the rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The internet acting on our hosts (or a gap in what we see).
    Inbound,
    /// One of our hosts acting on the internet.
    Outbound,
    /// Either way: decided per finding from its flows.
    Either,
}

impl Direction {
    /// `inbound`, `outbound` or `either`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Either => "either",
        }
    }
}

/// The thresholds of the rules: each a configuration key of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ThresholdKey {
    /// `brute_force_threshold`.
    BruteForce,
    /// `port_scan_threshold`.
    PortScan,
    /// `sweep_threshold`.
    Sweep,
    /// `rejected_threshold`.
    Rejected,
}

/// What one threshold key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThresholdSpec {
    /// The key.
    pub key: ThresholdKey,
    /// Its name in a configuration file (and, upper-cased behind
    /// `FLOWGUARD_`, in the environment).
    pub name: &'static str,
    /// The default value.
    pub default: u64,
    /// What it counts, for the README's configuration table.
    pub counts: &'static str,
}

impl ThresholdKey {
    /// Every key, in [`THRESHOLDS`] order.
    pub const ALL: [ThresholdKey; 4] = [
        ThresholdKey::BruteForce,
        ThresholdKey::PortScan,
        ThresholdKey::Sweep,
        ThresholdKey::Rejected,
    ];

    /// The key's entry.
    pub fn spec(self) -> &'static ThresholdSpec {
        &THRESHOLDS[self as usize]
    }

    /// The configuration key.
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

/// Every threshold key, in [`ThresholdKey`] order.
pub const THRESHOLDS: [ThresholdSpec; 4] = [
    ThresholdSpec {
        key: ThresholdKey::BruteForce,
        name: "brute_force_threshold",
        default: 20,
        counts: "flows to admin ports from one internet source",
    },
    ThresholdSpec {
        key: ThresholdKey::PortScan,
        name: "port_scan_threshold",
        default: 25,
        counts: "distinct ports one source tries on one destination",
    },
    ThresholdSpec {
        key: ThresholdKey::Sweep,
        name: "sweep_threshold",
        default: 25,
        counts: "distinct destinations one source tries on one port",
    },
    ThresholdSpec {
        key: ThresholdKey::Rejected,
        name: "rejected_threshold",
        default: 100,
        counts: "rejected flows from one source",
    },
];

/// A value for each threshold key: the configured thresholds, or the
/// per-object share of them that decides who enters the correlation store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds([u64; THRESHOLDS.len()]);

impl Thresholds {
    /// The catalogue's defaults.
    pub fn defaults() -> Thresholds {
        let mut t = Thresholds([0; THRESHOLDS.len()]);
        for s in &THRESHOLDS {
            t[s.key] = s.default;
        }
        t
    }

    /// Each threshold scaled by `part / whole`, rounded up, at least 1: an
    /// actor spread evenly over `whole` seconds reaches this much in
    /// `part` seconds.
    pub fn share(self, part: u64, whole: u64) -> Thresholds {
        let mut out = self;
        for v in out.0.iter_mut() {
            *v = (u128::from(*v) * u128::from(part))
                .div_ceil(u128::from(whole.max(1)))
                .clamp(1, u128::from((*v).max(1))) as u64;
        }
        out
    }
}

impl Index<ThresholdKey> for Thresholds {
    type Output = u64;
    fn index(&self, k: ThresholdKey) -> &u64 {
        &self.0[k as usize]
    }
}

impl IndexMut<ThresholdKey> for Thresholds {
    fn index_mut(&mut self, k: ThresholdKey) -> &mut u64 {
        &mut self.0[k as usize]
    }
}

/// How a rule's evidence is held against its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Any flow makes a finding (an exposed service, a visibility gap).
    Any,
    /// Any accepted flow makes a finding (a threat-list match; rejected
    /// flows alone never do).
    Accepted,
    /// What the rule counts ([`Evidence::count`](crate::rules::Evidence))
    /// reaches the threshold.
    Count(ThresholdKey),
    /// The widest vertical scan reaches `vertical` distinct ports, or the
    /// widest sweep `sweep` distinct destinations.
    Scan {
        /// Distinct ports on one destination.
        vertical: ThresholdKey,
        /// Distinct destinations on one port.
        sweep: ThresholdKey,
    },
}

/// Everything about one rule that is not code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule.
    pub id: RuleId,
    /// The rule id text.
    pub name: &'static str,
    /// Its default severity (`severity_<rule>` overrides it).
    pub severity: Severity,
    /// Which way it looks.
    pub direction: Direction,
    /// One finding per this.
    pub subject: &'static str,
    /// How its evidence fires.
    pub measure: Measure,
    /// When it fires, with `{key}` for configured values.
    pub fires_when: &'static str,
    /// Traffic that looks alike and stays quiet, and why.
    pub quiet: &'static str,
    /// MITRE ATT&CK technique ids.
    pub attack: &'static [&'static str],
    /// Whether the remote-services technique of each admin port
    /// (T1021.004 SSH, T1021.001 RDP, ...) is added.
    pub attack_by_port: bool,
    /// The finding's title, with `{placeholder}`s (see
    /// `rules::title`), `{n|word}` for a count and a word made plural.
    pub title: &'static str,
    /// One line of what to do.
    pub remediation: &'static str,
    /// AWS Security Finding Format `Types`.
    pub asff_types: &'static [&'static str],
}

/// The catalogue, in [`RuleId`] order.
pub const CATALOGUE: [RuleSpec; 7] = [
    RuleSpec {
        id: RuleId::AdminPortExposed,
        name: "admin-port-exposed",
        severity: Severity::High,
        direction: Direction::Inbound,
        subject: "exposed service (address, port, protocol)",
        measure: Measure::Any,
        fires_when: "an ACCEPTed inbound flow from an untrusted source to an admin port \
                     ({admin_ports}); the finding lists and counts the internet sources",
        quiet: "server replies (source port below 1024 to an ephemeral port, never to an \
                admin port, never a lone SYN); REJECTed flows",
        attack: &["T1133"],
        attack_by_port: true,
        title: "{service} on {host} accepted {flows|flow} from \
                {sources|internet address/internet addresses}",
        remediation: "Remove the security group rule that allows this port from 0.0.0.0/0 or \
                      ::/0; reach the host through Session Manager, a VPN or a bastion with \
                      a narrow source range.",
        asff_types: &[
            "Software and Configuration Checks/AWS Security Best Practices/Network Reachability",
            "TTPs/Initial Access",
        ],
    },
    RuleSpec {
        id: RuleId::AdminPortBruteForce,
        name: "admin-port-brute-force",
        severity: Severity::High,
        direction: Direction::Inbound,
        subject: "source address",
        measure: Measure::Count(ThresholdKey::BruteForce),
        fires_when: "one untrusted source makes >= {brute_force_threshold} flows to admin \
                     ports within the window (accepted or rejected, any destination)",
        quiet: "trusted sources (your own admins inside the trusted networks); replies",
        attack: &["T1110"],
        attack_by_port: true,
        title: "Internet address {actor} made {count} flows to {ports} on {hosts|host} \
                ({accepted} accepted, {rejected} rejected)",
        remediation: "Block the source in the network ACL, check the target's logins for \
                      success from it, and close the admin port to the internet.",
        asff_types: &["TTPs/Credential Access", "Unusual Behaviors/Network Flow"],
    },
    RuleSpec {
        id: RuleId::SensitivePortExposed,
        name: "sensitive-port-exposed",
        severity: Severity::High,
        direction: Direction::Inbound,
        subject: "exposed service",
        measure: Measure::Any,
        fires_when: "the same for a sensitive port ({sensitive_ports})",
        quiet: "the same as admin-port-exposed",
        attack: &["T1133", "T1190"],
        attack_by_port: false,
        title: "{service} on {host} accepted {flows|flow} from \
                {sources|internet address/internet addresses}",
        remediation: "Remove the security group rule that opens this database or service \
                      port to the internet; serve it only to the application's security \
                      group.",
        asff_types: &[
            "Software and Configuration Checks/AWS Security Best Practices/Network Reachability",
            "TTPs/Initial Access",
        ],
    },
    RuleSpec {
        id: RuleId::PortScan,
        name: "port-scan",
        severity: Severity::Medium,
        direction: Direction::Inbound,
        subject: "source address",
        measure: Measure::Scan {
            vertical: ThresholdKey::PortScan,
            sweep: ThresholdKey::Sweep,
        },
        fires_when: "one source tries >= {port_scan_threshold} distinct ports on one \
                     destination (vertical), or one port on >= {sweep_threshold} \
                     destinations (sweep), within the window",
        quiet: "server replies; completed connections (more than 2 packets, not a lone \
                SYN) for the vertical scan; accepted flows for the sweep",
        attack: &["T1046"],
        attack_by_port: false,
        title: "{actor} {scan} ({flows} attempts)",
        remediation: "Block the source in the network ACL if it keeps coming, and check \
                      that nothing it reached is open by mistake.",
        asff_types: &["TTPs/Discovery", "Unusual Behaviors/Network Flow"],
    },
    RuleSpec {
        id: RuleId::RejectedTraffic,
        name: "rejected-traffic",
        severity: Severity::Low,
        direction: Direction::Inbound,
        subject: "source address",
        measure: Measure::Count(ThresholdKey::Rejected),
        fires_when: "one source has >= {rejected_threshold} REJECTed flows within the window",
        quiet: "accepted traffic",
        attack: &["T1595"],
        attack_by_port: false,
        title: "{actor} had {count} rejected flows to {destinations|destination}",
        remediation: "Nothing is needed while the flows stay rejected; block the source in \
                      the network ACL if it is persistent.",
        asff_types: &["TTPs/Discovery", "Unusual Behaviors/Network Flow"],
    },
    RuleSpec {
        id: RuleId::SkippedRecords,
        name: "skipped-records",
        severity: Severity::Low,
        direction: Direction::Inbound,
        subject: "network interface",
        measure: Measure::Any,
        fires_when: "SKIPDATA records: AWS dropped records, so there is a gap in visibility",
        quiet: "NODATA records (an idle interface)",
        attack: &["T1562.001"],
        attack_by_port: false,
        title: "AWS skipped flow records {flows|time} on {interface}: traffic in that \
                window is not visible",
        remediation: "Check the flow log's delivery errors and the interface's traffic \
                      volume; the records of this window are incomplete.",
        asff_types: &["Effects/Data Exposure", "Unusual Behaviors/Network Flow"],
    },
    RuleSpec {
        id: RuleId::ThreatIntelMatch,
        name: "threat-intel-match",
        severity: Severity::High,
        direction: Direction::Either,
        subject: "address on a threat list, as seen in the flows",
        measure: Measure::Accepted,
        fires_when: "an ACCEPTed flow, in either direction, with an address on one of your \
                     threat lists (see \"Threat lists and suppressions\")",
        quiet: "REJECTed flows alone (a blocked probe); no list loaded",
        attack: &["T1071"],
        attack_by_port: false,
        title: "{intel} ({label})",
        remediation: "Isolate the host on our side (a quarantine security group), find the \
                      process that talks to the listed address, and block the address.",
        asff_types: &["TTPs/Command and Control", "Unusual Behaviors/Network Flow"],
    },
];

impl RuleId {
    /// Every rule, in catalogue order.
    pub const ALL: [RuleId; CATALOGUE.len()] = {
        let mut all = [RuleId::AdminPortExposed; CATALOGUE.len()];
        let mut i = 0;
        while i < CATALOGUE.len() {
            all[i] = CATALOGUE[i].id;
            i += 1;
        }
        all
    };

    /// The rule's catalogue entry.
    pub fn spec(self) -> &'static RuleSpec {
        &CATALOGUE[self as usize]
    }

    /// The rule id text.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// The rule with this id text.
    pub fn from_name(name: &str) -> Option<RuleId> {
        CATALOGUE.iter().find(|s| s.name == name).map(|s| s.id)
    }

    /// The catalogue's severity.
    pub fn default_severity(self) -> Severity {
        self.spec().severity
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RuleId, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RuleId::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("no rule named '{name}'")))
    }
}

/// Fills a template: `{name}` is replaced by `value(name)`, and `{name|word}`
/// by the value, a space and the word, made plural (`word/plural`, or
/// `word` plus `s`) unless the value is `1`. A placeholder without a value
/// is left as written, so a test can find it.
pub fn render(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(len) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &rest[open + 1..open + len];
        let (name, word) = match inner.split_once('|') {
            Some((n, w)) => (n, Some(w)),
            None => (inner, None),
        };
        match value(name) {
            Some(v) => {
                out.push_str(&v);
                if let Some(w) = word {
                    let (one, many) = match w.split_once('/') {
                        Some((a, b)) => (a.to_string(), b.to_string()),
                        None => (w.to_string(), format!("{w}s")),
                    };
                    out.push(' ');
                    out.push_str(if v == "1" { &one } else { &many });
                }
            }
            None => out.push_str(&rest[open..=open + len]),
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_in_id_order_and_named_once() {
        for (i, s) in CATALOGUE.iter().enumerate() {
            assert_eq!(s.id as usize, i, "{}", s.name);
            assert_eq!(RuleId::from_name(s.name), Some(s.id));
            assert!(
                !s.attack.is_empty() && !s.asff_types.is_empty(),
                "{}",
                s.name
            );
            assert!(!s.remediation.is_empty(), "{}", s.name);
        }
        for (i, t) in THRESHOLDS.iter().enumerate() {
            assert_eq!(t.key as usize, i, "{}", t.name);
            assert_eq!(ThresholdKey::ALL[i], t.key);
        }
        let mut names: Vec<_> = CATALOGUE.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }

    #[test]
    fn rule_ids_serialise_as_their_names() {
        let json = serde_json::to_string(&RuleId::PortScan).unwrap();
        assert_eq!(json, "\"port-scan\"");
        let back: RuleId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, RuleId::PortScan);
        assert!(serde_json::from_str::<RuleId>("\"no-such\"").is_err());
    }

    #[test]
    fn templates_fill_values_and_plurals() {
        let v = |n: &str| match n {
            "a" => Some("1".to_string()),
            "b" => Some("3".to_string()),
            _ => None,
        };
        assert_eq!(
            render("{a|flow}, {b|flow}, {b|address/addresses} {x}", v),
            "1 flow, 3 flows, 3 addresses {x}"
        );
        assert_eq!(render("no braces", v), "no braces");
        assert_eq!(render("open {a", v), "open {a");
    }

    #[test]
    fn shares_of_the_default_thresholds() {
        let d = Thresholds::defaults();
        let t = d.share(300, 3600);
        let got: Vec<u64> = ThresholdKey::ALL.iter().map(|k| t[*k]).collect();
        assert_eq!(got, [2, 3, 3, 9]);
        assert_eq!(d.share(300, 300), d);
        assert_eq!(d.share(3600, 300), d, "never above the threshold");
        assert_eq!(
            d.share(0, 3600)[ThresholdKey::BruteForce],
            1,
            "never below one"
        );
    }
}
