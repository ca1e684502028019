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
    /// One of our hosts scanning the internet (vertical or sweep).
    InstancePortScan,
    /// One of our hosts making many flows to admin ports of one peer.
    InstanceBruteForce,
    /// One of our hosts flooding one peer with small packets.
    InstanceDos,
    /// One of our hosts connecting to one peer and port all hour long.
    Beaconing,
    /// One of our hosts sending gigabytes to one peer.
    LargeUpload,
    /// One of our hosts connecting to a mining, IRC or Tor port.
    SuspiciousEgressPort,
}

/// Which way the rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `instance_port_scan_threshold`.
    InstancePortScan,
    /// `instance_sweep_threshold`.
    InstanceSweep,
    /// `instance_brute_force_threshold`.
    InstanceBruteForce,
    /// `instance_dos_threshold` (packets).
    InstanceDos,
    /// `instance_dos_max_bytes_per_packet` (not shared: a ratio).
    InstanceDosBytesPerPacket,
    /// `large_upload_threshold` (bytes).
    LargeUpload,
    /// `beaconing_threshold` (five-minute slots of an hour).
    Beaconing,
    /// `beaconing_max_hosts` (not shared: a ceiling).
    BeaconingMaxHosts,
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
    /// Whether an object's share of it decides who enters the state store
    /// (false for a ratio or a ceiling, which do not scale with time).
    pub shared: bool,
}

impl ThresholdKey {
    /// Every key, in [`THRESHOLDS`] order.
    pub const ALL: [ThresholdKey; THRESHOLDS.len()] = {
        let mut all = [ThresholdKey::BruteForce; THRESHOLDS.len()];
        let mut i = 0;
        while i < THRESHOLDS.len() {
            all[i] = THRESHOLDS[i].key;
            i += 1;
        }
        all
    };

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
pub const THRESHOLDS: [ThresholdSpec; 12] = [
    ThresholdSpec {
        key: ThresholdKey::BruteForce,
        name: "brute_force_threshold",
        default: 20,
        counts: "flows to admin ports from one internet source",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::PortScan,
        name: "port_scan_threshold",
        default: 25,
        counts: "distinct ports one source tries on one destination",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::Sweep,
        name: "sweep_threshold",
        default: 25,
        counts: "distinct destinations one source tries on one port",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::Rejected,
        name: "rejected_threshold",
        default: 100,
        counts: "rejected flows from one source",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::InstancePortScan,
        name: "instance_port_scan_threshold",
        default: 25,
        counts: "distinct ports one of our hosts tries on one internet host",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::InstanceSweep,
        name: "instance_sweep_threshold",
        default: 25,
        counts: "distinct internet hosts one of our hosts tries on one port",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::InstanceBruteForce,
        name: "instance_brute_force_threshold",
        default: 20,
        counts: "flows from one of our hosts to admin ports of one internet host",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::InstanceDos,
        name: "instance_dos_threshold",
        default: 1_000_000,
        counts: "packets from one of our hosts to one internet host",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::InstanceDosBytesPerPacket,
        name: "instance_dos_max_bytes_per_packet",
        default: 200,
        counts: "the largest average packet of a flood, in bytes",
        shared: false,
    },
    ThresholdSpec {
        key: ThresholdKey::LargeUpload,
        name: "large_upload_threshold",
        default: 1 << 30,
        counts: "bytes from one of our hosts to one internet host",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::Beaconing,
        name: "beaconing_threshold",
        default: 10,
        counts: "five-minute slots of an hour in which one of our hosts connects to one internet host and port",
        shared: true,
    },
    ThresholdSpec {
        key: ThresholdKey::BeaconingMaxHosts,
        name: "beaconing_max_hosts",
        default: 2,
        counts: "hosts of the account that may contact a beaconing peer (more make it a service)",
        shared: false,
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
        for (v, spec) in out.0.iter_mut().zip(&THRESHOLDS) {
            if !spec.shared {
                continue;
            }
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
    /// The packets counted reach `packets`, at no more than
    /// `max_bytes_per_packet` bytes a packet on average.
    Flood {
        /// Packets.
        packets: ThresholdKey,
        /// The largest average packet, in bytes.
        max_bytes_per_packet: ThresholdKey,
    },
    /// Activity in at least `slots` of the [`BEACON_SLOTS`] five-minute
    /// slots of an hour of event time, while at most `max_hosts` hosts of
    /// the account contact the peer.
    Beacon {
        /// Slots with activity.
        slots: ThresholdKey,
        /// Hosts contacting the peer, at most.
        max_hosts: ThresholdKey,
    },
}

/// Seconds of one beaconing slot.
pub const BEACON_SLOT_SECONDS: u64 = 300;
/// Slots of the hour a beacon is judged over.
pub const BEACON_SLOTS: u32 = 12;

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
pub const CATALOGUE: [RuleSpec; 13] = [
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
    RuleSpec {
        id: RuleId::InstancePortScan,
        name: "instance-port-scan",
        severity: Severity::High,
        direction: Direction::Outbound,
        subject: "our host (account, address)",
        measure: Measure::Scan {
            vertical: ThresholdKey::InstancePortScan,
            sweep: ThresholdKey::InstanceSweep,
        },
        fires_when: "one of our hosts makes attempts (REJECTed, or TCP of at most 2 packets or \
                     a lone SYN) on one port of >= {instance_sweep_threshold} distinct internet \
                     hosts, or on >= {instance_port_scan_threshold} ports of one internet host, \
                     within the window",
        quiet: "completed connections to many hosts (a NAT gateway, a crawler, a fleet calling \
                APIs: more than 2 packets, not a lone SYN); small UDP flows (DNS, NTP, \
                traceroute); a job retrying one dead host (one host, one port)",
        attack: &["T1046"],
        attack_by_port: false,
        title: "Our host {our_host} {scan} on the internet ({flows} attempts)",
        remediation: "Isolate the instance (a quarantine security group with no rules), take \
                      a snapshot for forensics, and find the process that scans; a scanning \
                      instance is usually compromised.",
        asff_types: &["TTPs/Discovery", "Unusual Behaviors/Network Flow"],
    },
    RuleSpec {
        id: RuleId::InstanceBruteForce,
        name: "instance-brute-force",
        severity: Severity::High,
        direction: Direction::Outbound,
        subject: "our host and one internet peer",
        measure: Measure::Count(ThresholdKey::InstanceBruteForce),
        fires_when: ">= {instance_brute_force_threshold} outbound flows from one of our hosts \
                     to admin ports ({admin_ports}) of one internet host within the window",
        quiet: "a few sessions to a partner's SSH server; flows to trusted networks",
        attack: &["T1110"],
        attack_by_port: true,
        title: "Our host {our_host} made {count} flows to {ports} on {peer} ({accepted} \
                accepted, {rejected} rejected)",
        remediation: "Isolate the instance, check it for stolen keys and a brute-force tool, \
                      and rotate the credentials it holds.",
        asff_types: &["TTPs/Credential Access", "Unusual Behaviors/Network Flow"],
    },
    RuleSpec {
        id: RuleId::InstanceDos,
        name: "instance-dos",
        severity: Severity::High,
        direction: Direction::Outbound,
        subject: "our host and one internet peer",
        measure: Measure::Flood {
            packets: ThresholdKey::InstanceDos,
            max_bytes_per_packet: ThresholdKey::InstanceDosBytesPerPacket,
        },
        fires_when: ">= {instance_dos_threshold} outbound packets from one of our hosts to one \
                     internet host within the window, at <= {instance_dos_max_bytes_per_packet} \
                     bytes per packet on average",
        quiet: "bulk transfers (large packets); a download's TCP ACK stream (TCP counts only \
                with `tcp-flags` and no ACK: a SYN flood); flows to AWS services \
                (`pkt-dst-aws-service`) and to `egress_allowed_cidrs`",
        attack: &["T1498"],
        attack_by_port: false,
        title: "Our host {our_host} sent {packets} packets to {peer} at {bytes_per_packet} \
                bytes a packet ({sent})",
        remediation: "Isolate the instance now (it may be part of a botnet) and block the \
                      victim's address in the network ACL until it is rebuilt.",
        asff_types: &[
            "Effects/Denial of Service",
            "Unusual Behaviors/Network Flow",
        ],
    },
    RuleSpec {
        id: RuleId::Beaconing,
        name: "beaconing",
        severity: Severity::Medium,
        direction: Direction::Outbound,
        subject: "our host, one internet peer and port",
        measure: Measure::Beacon {
            slots: ThresholdKey::Beaconing,
            max_hosts: ThresholdKey::BeaconingMaxHosts,
        },
        fires_when: "ACCEPTed outbound connections of >= {connection_min_packets} packets that \
                     one of our hosts opens to one internet host and port in >= \
                     {beaconing_threshold} of the 12 five-minute slots of an hour of event \
                     time, while at most {beaconing_max_hosts} hosts of the account contact \
                     that peer",
        quiet: "a SaaS endpoint or update server that many hosts poll (more than \
                {beaconing_max_hosts} hosts); a job retrying one dead host (lone SYNs, under \
                {connection_min_packets} packets); server replies; AWS services and \
                `egress_allowed_cidrs`",
        attack: &["T1071"],
        attack_by_port: false,
        title: "Our host {our_host} connected to {peer_port} in {slots} of 12 five-minute \
                slots of an hour ({flows|flow}, {sent})",
        remediation: "Find the process on the instance that opens these connections; if it \
                      is not a known agent, isolate the instance and block the peer.",
        asff_types: &["TTPs/Command and Control", "Unusual Behaviors/Network Flow"],
    },
    RuleSpec {
        id: RuleId::LargeUpload,
        name: "large-upload",
        severity: Severity::Medium,
        direction: Direction::Outbound,
        subject: "our host and one internet peer",
        measure: Measure::Count(ThresholdKey::LargeUpload),
        fires_when: ">= {large_upload_threshold} sent from one of our hosts to one \
                     internet host within the window",
        quiet: "backups to S3 and other AWS services (`pkt-dst-aws-service`, v5 and later \
                formats) and peers in `egress_allowed_cidrs`; a server's replies (a web server \
                serving downloads)",
        attack: &["T1048"],
        attack_by_port: false,
        title: "Our host {our_host} sent {sent} to {peer} ({flows|flow})",
        remediation: "Confirm with the instance's owner that this transfer is expected; if \
                      not, isolate the instance and find what data left.",
        asff_types: &[
            "Effects/Data Exfiltration",
            "Unusual Behaviors/Network Flow",
        ],
    },
    RuleSpec {
        id: RuleId::SuspiciousEgressPort,
        name: "suspicious-egress-port",
        severity: Severity::Medium,
        direction: Direction::Outbound,
        subject: "our host, one internet peer and port",
        measure: Measure::Any,
        fires_when: "an ACCEPTed outbound connection of >= {connection_min_packets} packets \
                     that one of our hosts opens to a port in `suspicious_egress_ports` \
                     ({suspicious_egress_ports}: mining pools, IRC, Tor)",
        quiet: "server replies that happen to go to such a port (an ephemeral port of a \
                client); REJECTed and one- or two-packet flows",
        attack: &["T1496", "T1571"],
        attack_by_port: false,
        title: "Our host {our_host} connected to {peer_port} ({port_use}; {flows|flow}, {sent})",
        remediation: "Look for a miner or a backdoor on the instance; isolate it if the \
                      connection is not expected, and block the port outbound.",
        asff_types: &[
            "TTPs/Command and Control",
            "Effects/Resource Consumption",
            "Unusual Behaviors/Network Flow",
        ],
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
        // Ratios and ceilings (bytes per packet, hosts of a beacon's peer)
        // are not shared; 10 of 12 slots is one slot in five minutes.
        assert_eq!(got, [2, 3, 3, 9, 3, 3, 2, 83_334, 200, 89_478_486, 1, 2]);
        assert_eq!(d.share(300, 300), d);
        assert_eq!(d.share(3600, 300), d, "never above the threshold");
        assert_eq!(
            d.share(0, 3600)[ThresholdKey::BruteForce],
            1,
            "never below one"
        );
    }
}
