//! Configuration of the engine: trusted networks, ports, thresholds,
//! severities and state bounds. Read once at start-up (from a TOML file or
//! `FLOWGUARD_*` environment variables, with the same key names) and passed
//! down; nothing below reads the environment.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use crate::rules::{RuleId, Severity};

/// Default trusted networks: RFC 1918, CGNAT (RFC 6598) and IPv6 ULA.
pub const DEFAULT_TRUSTED: &str = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7";
/// Default admin ports: SSH and RDP.
pub const DEFAULT_ADMIN_PORTS: &str = "22,3389";
/// Default sensitive ports: telnet, SMB, databases, VNC, caches, search.
pub const DEFAULT_SENSITIVE_PORTS: &str = "23,445,1433,3306,5432,5900,6379,9200,11211,27017";

/// A configuration value that could not be used. `origin` names the
/// environment variable or file key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// Where the value came from, e.g. `FLOWGUARD_ADMIN_PORTS`.
    pub origin: String,
    /// What is wrong with it.
    pub message: String,
}

/// An IPv4 or IPv6 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::/n` (a bare address is a /32 or /128).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The networks whose addresses are "inside": flows from anywhere else are
/// from the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedNetworks {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    cidrs: Vec<Cidr>,
}

impl TrustedNetworks {
    /// Builds the set from CIDRs.
    pub fn new(cidrs: Vec<Cidr>) -> TrustedNetworks {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for c in &cidrs {
            match c.addr {
                IpAddr::V4(n) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
                    v4.push((u32::from(n) & mask, mask));
                }
                IpAddr::V6(n) => {
                    let mask = u128::MAX
                        .checked_shl(128 - u32::from(c.prefix))
                        .unwrap_or(0);
                    v6.push((u128::from(n) & mask, mask));
                }
            }
        }
        TrustedNetworks { v4, v6, cidrs }
    }

    /// Whether `ip` is in one of the trusted networks.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|(n, m)| a & m == *n)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|(n, m)| a & m == *n)
            }
        }
    }

    /// The configured networks.
    pub fn cidrs(&self) -> &[Cidr] {
        &self.cidrs
    }
}

/// A set of TCP/UDP ports with constant-time lookup.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: Box<[u64; 1024]>,
    list: Vec<u16>,
}

impl PortSet {
    /// A set of the given ports.
    pub fn new(ports: &[u16]) -> PortSet {
        let mut bits = Box::new([0u64; 1024]);
        let mut list = ports.to_vec();
        list.sort_unstable();
        list.dedup();
        for &p in &list {
            bits[usize::from(p >> 6)] |= 1 << (p & 63);
        }
        PortSet { bits, list }
    }

    /// Whether `port` is in the set.
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// The ports, sorted.
    pub fn ports(&self) -> &[u16] {
        &self.list
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.list).finish()
    }
}

/// Everything the engine needs to know, with the defaults of SPEC §2.
#[derive(Debug, Clone)]
pub struct Config {
    /// Networks considered inside.
    pub trusted: TrustedNetworks,
    /// Remote administration ports (SSH, RDP).
    pub admin_ports: PortSet,
    /// Ports that must never be open to the internet.
    pub sensitive_ports: PortSet,
    /// Flows from one source to admin ports that make brute force.
    pub brute_force_threshold: u64,
    /// Distinct ports on one destination that make a vertical scan.
    pub port_scan_threshold: u64,
    /// Distinct destinations on one port that make a sweep.
    pub sweep_threshold: u64,
    /// Rejected flows from one source that make `rejected-traffic`.
    pub rejected_threshold: u64,
    /// Rows in the `talkers` table.
    pub top_talkers: usize,
    /// Findings below this are not published (Lambda) or printed (CLI).
    pub min_severity: Severity,
    /// Severity of each rule.
    pub severities: BTreeMap<RuleId, Severity>,
    /// Prefix of the summary keys, e.g. `flowguard/`.
    pub summary_prefix: String,
    /// Upper bound on the entries of each table of per-address state; beyond
    /// it new keys are not tracked and the `files` row says so.
    pub max_tracked: usize,
    /// Findings kept per rule and object; beyond it they are counted, and
    /// the `files` row lists `findings:<rule>` in `limits_hit`.
    pub max_findings: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            trusted: parse_cidrs(DEFAULT_TRUSTED)
                .unwrap_or_else(|_| TrustedNetworks::new(Vec::new())),
            admin_ports: parse_ports(DEFAULT_ADMIN_PORTS)
                .unwrap_or_else(|_| PortSet::new(&[22, 3389])),
            sensitive_ports: parse_ports(DEFAULT_SENSITIVE_PORTS)
                .unwrap_or_else(|_| PortSet::new(&[])),
            brute_force_threshold: 20,
            port_scan_threshold: 25,
            sweep_threshold: 25,
            rejected_threshold: 100,
            top_talkers: 100,
            min_severity: Severity::Medium,
            severities: RuleId::ALL
                .iter()
                .map(|r| (*r, r.default_severity()))
                .collect(),
            summary_prefix: "flowguard/".to_string(),
            max_tracked: 100_000,
            max_findings: 1000,
        }
    }
}

/// The keys the engine understands (file keys; the environment uses
/// `FLOWGUARD_` plus the upper-case key).
pub const KEYS: &[&str] = &[
    "min_severity",
    "summary_prefix",
    "trusted_cidrs",
    "admin_ports",
    "sensitive_ports",
    "brute_force_threshold",
    "port_scan_threshold",
    "sweep_threshold",
    "rejected_threshold",
    "top_talkers",
    "max_tracked",
    "max_findings",
];

impl Config {
    /// Applies one setting. `origin` names it in errors. Returns `Ok(false)`
    /// when the key is not an engine key (the caller decides whether that
    /// is an error).
    pub fn set(&mut self, key: &str, value: &str, origin: &str) -> Result<bool, ConfigError> {
        let err = |message: String| ConfigError {
            origin: origin.to_string(),
            message,
        };
        let value = value.trim();
        match key {
            "min_severity" => self.min_severity = value.parse().map_err(err)?,
            "summary_prefix" => {
                if value.starts_with('/') {
                    return Err(err("must not start with '/'".into()));
                }
                let mut p = value.to_string();
                if !p.is_empty() && !p.ends_with('/') {
                    p.push('/');
                }
                self.summary_prefix = p;
            }
            "trusted_cidrs" => self.trusted = parse_cidrs(value).map_err(err)?,
            "admin_ports" => self.admin_ports = parse_ports(value).map_err(err)?,
            "sensitive_ports" => self.sensitive_ports = parse_ports(value).map_err(err)?,
            "brute_force_threshold" => {
                self.brute_force_threshold = parse_count(value).map_err(err)?
            }
            "port_scan_threshold" => self.port_scan_threshold = parse_count(value).map_err(err)?,
            "sweep_threshold" => self.sweep_threshold = parse_count(value).map_err(err)?,
            "rejected_threshold" => self.rejected_threshold = parse_count(value).map_err(err)?,
            "top_talkers" => self.top_talkers = parse_count(value).map_err(err)? as usize,
            "max_tracked" => {
                let n = parse_count(value).map_err(err)?;
                if n < 1000 {
                    return Err(err("must be at least 1000".into()));
                }
                self.max_tracked = n as usize;
            }
            "max_findings" => {
                let n = parse_count(value).map_err(err)?;
                if n < 1 {
                    return Err(err("must be at least 1".into()));
                }
                self.max_findings = n as usize;
            }
            _ => {
                if let Some(rule) = key.strip_prefix("severity_") {
                    let id = RuleId::ALL
                        .iter()
                        .find(|r| r.as_str().replace('-', "_") == rule)
                        .ok_or_else(|| err(format!("no rule named '{rule}'")))?;
                    self.severities.insert(*id, value.parse().map_err(err)?);
                } else {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Reads `FLOWGUARD_*` variables from `vars`. Variables that are not
    /// engine settings are returned for the caller (the Lambda uses
    /// `FLOWGUARD_SUMMARY_BUCKET` and `FLOWGUARD_TOPIC_ARN`).
    pub fn from_env<I>(vars: I) -> Result<(Config, Vec<(String, String)>), ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut config = Config::default();
        let mut rest = Vec::new();
        for (k, v) in vars {
            let Some(key) = k.strip_prefix("FLOWGUARD_") else {
                continue;
            };
            if !config.set(&key.to_ascii_lowercase(), &v, &k)? {
                rest.push((k, v));
            }
        }
        Ok((config, rest))
    }

    /// Reads a TOML file's text. Arrays are accepted for lists; unknown keys
    /// are errors (a typo must not silently keep a default).
    pub fn from_toml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            origin: file.to_string(),
            message: e.message().to_string(),
        })?;
        let mut config = Config::default();
        for (key, value) in &table {
            let origin = format!("{file}: {key}");
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                toml::Value::Table(t) if key == "severity" => {
                    for (rule, sev) in t {
                        let sev = sev.as_str().unwrap_or_default();
                        let k = format!("severity_{}", rule.replace('-', "_"));
                        config.set(&k, sev, &format!("{file}: severity.{rule}"))?;
                    }
                    continue;
                }
                other => other.to_string(),
            };
            if !config.set(key, &text, &origin)? {
                return Err(ConfigError {
                    origin,
                    message: format!("unknown key (known: {})", KEYS.join(", ")),
                });
            }
        }
        Ok(config)
    }

    /// The severity configured for a rule.
    pub fn severity(&self, rule: RuleId) -> Severity {
        self.severities
            .get(&rule)
            .copied()
            .unwrap_or(rule.default_severity())
    }
}

fn parse_cidrs(s: &str) -> Result<TrustedNetworks, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(Cidr::parse(part).ok_or_else(|| format!("'{part}' is not a CIDR network"))?);
    }
    Ok(TrustedNetworks::new(out))
}

fn parse_ports(s: &str) -> Result<PortSet, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(
            part.parse::<u16>()
                .map_err(|_| format!("'{part}' is not a port (0-65535)"))?,
        );
    }
    Ok(PortSet::new(&out))
}

fn parse_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a positive whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_networks_v4_and_v6() {
        let t = Config::default().trusted;
        let cases = [
            ("10.1.2.3", true),
            ("172.31.255.255", true),
            ("172.32.0.1", false),
            ("192.168.0.1", true),
            ("100.64.0.1", true),
            ("100.128.0.1", false),
            ("8.8.8.8", false),
            ("fd12::1", true),
            ("fc00::1", true),
            ("2001:db8::1", false),
            ("::1", false),
        ];
        for (ip, want) in cases {
            assert_eq!(t.contains(ip.parse().unwrap()), want, "{ip}");
        }
        let any = TrustedNetworks::new(vec![Cidr::parse("0.0.0.0/0").unwrap()]);
        assert!(any.contains("1.2.3.4".parse().unwrap()));
        assert!(!any.contains("::1".parse().unwrap()));
    }

    #[test]
    fn env_errors_name_the_variable() {
        let vars = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let e = Config::from_env(vars("FLOWGUARD_ADMIN_PORTS", "22,ssh")).unwrap_err();
        assert_eq!(e.origin, "FLOWGUARD_ADMIN_PORTS");
        let e = Config::from_env(vars("FLOWGUARD_MIN_SEVERITY", "urgent")).unwrap_err();
        assert_eq!(e.origin, "FLOWGUARD_MIN_SEVERITY");
        let e = Config::from_env(vars("FLOWGUARD_TRUSTED_CIDRS", "10.0.0.0/33")).unwrap_err();
        assert_eq!(e.origin, "FLOWGUARD_TRUSTED_CIDRS");
        let e = Config::from_env(vars("FLOWGUARD_PORT_SCAN_THRESHOLD", "0")).unwrap_err();
        assert_eq!(e.origin, "FLOWGUARD_PORT_SCAN_THRESHOLD");
        let (c, rest) = Config::from_env(vec![
            ("FLOWGUARD_TOPIC_ARN".to_string(), "arn".to_string()),
            (
                "FLOWGUARD_SEVERITY_PORT_SCAN".to_string(),
                "high".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ])
        .unwrap();
        assert_eq!(
            rest,
            vec![("FLOWGUARD_TOPIC_ARN".to_string(), "arn".to_string())]
        );
        assert_eq!(c.severity(RuleId::PortScan), Severity::High);
    }

    #[test]
    fn toml_file() {
        let c = Config::from_toml(
            "admin_ports = [22, 2222]\ntrusted_cidrs = [\"10.0.0.0/8\"]\nbrute_force_threshold = 5\nsummary_prefix = \"fg\"\n[severity]\nrejected-traffic = \"medium\"\n",
            "c.toml",
        )
        .unwrap();
        assert!(c.admin_ports.contains(2222));
        assert!(!c.admin_ports.contains(3389));
        assert_eq!(c.brute_force_threshold, 5);
        assert_eq!(c.summary_prefix, "fg/");
        assert!(!c.trusted.contains("192.168.1.1".parse().unwrap()));
        assert_eq!(c.severity(RuleId::RejectedTraffic), Severity::Medium);
        let e = Config::from_toml("admin_port = 22", "c.toml").unwrap_err();
        assert_eq!(e.origin, "c.toml: admin_port");
    }
}
