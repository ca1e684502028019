//! Configuration: one serde struct, [`Config`], whose fields are the keys of
//! a TOML file and, upper-cased behind `FLOWGUARD_`, the environment
//! variables of the Lambda function. A new key is one field here, with its
//! default in [`Config::default`]. Read once at start-up and passed down;
//! nothing below reads the environment.
//!
//! Every value is accepted as text (environment variables are text), and
//! lists also as TOML arrays. An unknown key or variable is an error naming
//! it; a bad value is an error naming the key (or variable) and the value.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::flowlog::{Field, Format};
use crate::intel::{Intel, Location};
pub use crate::net::{Cidr, PortSet, TrustedNetworks};
use crate::severity::{RuleId, Severity};

/// Default trusted networks: RFC 1918, CGNAT (RFC 6598) and IPv6 ULA.
pub const DEFAULT_TRUSTED: &str = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7";
/// Default admin ports: SSH and RDP.
pub const DEFAULT_ADMIN_PORTS: &str = "22,3389";
/// Default sensitive ports: telnet, SMB, databases, VNC, caches, search.
pub const DEFAULT_SENSITIVE_PORTS: &str = "23,445,1433,3306,5432,5900,6379,9200,11211,27017";
/// The largest accepted `max_tracked`. The port-scan tables are allocated
/// at four times the bound on first use, and a hostile object needs about
/// 1.1 KiB per unit at the bound, so this allows about 1 GiB.
pub const MAX_TRACKED_LIMIT: usize = 1_000_000;
/// The smallest accepted `max_tracked`.
pub const MIN_TRACKED: usize = 1000;
/// The prefix of every environment variable.
pub const ENV_PREFIX: &str = "FLOWGUARD_";

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

/// Everything flowguard can be told, with the defaults of SPEC section 2.
/// The engine reads the detection keys; the Lambda function also reads
/// `summary_bucket` and `topic_arn`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
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
    /// Rows in the `talkers` table.
    #[serde(deserialize_with = "count_usize")]
    pub top_talkers: usize,
    /// Findings below this are not published (Lambda; default `medium`)
    /// or printed (CLI; default `low`). `None` when not configured.
    #[serde(deserialize_with = "optional_text")]
    pub min_severity: Option<Severity>,
    /// Severity of each rule (`[severity]` in a file,
    /// `FLOWGUARD_SEVERITY_<RULE>` in the environment).
    #[serde(rename = "severity", deserialize_with = "severities")]
    pub severities: BTreeMap<RuleId, Severity>,
    /// Prefix of the summary keys, e.g. `flowguard/` (never empty: the
    /// Lambda skips keys under it as its own output).
    #[serde(deserialize_with = "summary_prefix")]
    pub summary_prefix: String,
    /// Upper bound on the entries of each table of per-address state; beyond
    /// it new keys are not tracked and the `files` row says so.
    #[serde(deserialize_with = "max_tracked")]
    pub max_tracked: usize,
    /// Findings kept per rule and object; beyond it they are counted, and
    /// the `files` row lists `findings:<rule>` in `limits_hit`.
    #[serde(deserialize_with = "count_usize")]
    pub max_findings: usize,
    /// Lambda: bucket for summaries; `None` means the source object's bucket.
    #[serde(deserialize_with = "optional_text")]
    pub summary_bucket: Option<BucketName>,
    /// Lambda: the SNS topic; `None` (or empty) disables publishing.
    #[serde(deserialize_with = "optional_text")]
    pub topic_arn: Option<TopicArn>,
    /// Event time, in seconds, over which the threshold rules count when
    /// objects are correlated (SPEC section 7).
    #[serde(deserialize_with = "count")]
    pub window_seconds: u64,
    /// At most one notification per finding per this many seconds of event
    /// time while it stays active.
    #[serde(deserialize_with = "count")]
    pub renotify_seconds: u64,
    /// Seconds of event time without activity after which a finding ends
    /// (its next activity is new).
    #[serde(deserialize_with = "count")]
    pub state_ttl_seconds: u64,
    /// Subjects written to the state store per object, at most.
    #[serde(deserialize_with = "count_usize")]
    pub max_state_updates: usize,
    /// Lambda: the DynamoDB table of the correlation state; without it the
    /// function works per object.
    #[serde(deserialize_with = "optional_text")]
    pub state_table: Option<TableName>,
    /// Threat lists (SPEC section 8): `s3://bucket/key` URLs for the
    /// Lambda function, local paths for the CLI.
    #[serde(deserialize_with = "text")]
    pub threat_lists: Locations,
    /// Suppression lists, located like the threat lists.
    #[serde(deserialize_with = "text")]
    pub suppress_lists: Locations,
    /// Lambda: seconds between checks of the lists' ETags; a list is read
    /// again only when its ETag changed.
    #[serde(deserialize_with = "count")]
    pub intel_refresh_seconds: u64,
    /// Whether the objects are correlated (a state store is in use): set
    /// by the caller, not a key. The engine then also names the subjects
    /// that reach a per-object share of each threshold.
    #[serde(skip)]
    pub correlate: bool,
    /// The fields of the messages of CloudWatch Logs exports (the log
    /// group's format, which the messages do not repeat): hyphenated names
    /// separated by spaces or commas, or the flow log's `${field}` format
    /// string. Default (or empty): the v2 default format.
    #[serde(deserialize_with = "cwl_fields")]
    pub cwl_fields: Format,
    /// The loaded threat and suppression lists: data, not text. The
    /// binaries fill it after reading `threat_lists` and `suppress_lists`;
    /// empty, the engine does no lookup at all.
    #[serde(skip)]
    pub intel: Arc<Intel>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            trusted: DEFAULT_TRUSTED
                .parse()
                .unwrap_or_else(|_| TrustedNetworks::new(Vec::new())),
            admin_ports: DEFAULT_ADMIN_PORTS
                .parse()
                .unwrap_or_else(|_| PortSet::new(&[22, 3389])),
            sensitive_ports: DEFAULT_SENSITIVE_PORTS
                .parse()
                .unwrap_or_else(|_| PortSet::new(&[])),
            brute_force_threshold: 20,
            port_scan_threshold: 25,
            sweep_threshold: 25,
            rejected_threshold: 100,
            top_talkers: 100,
            min_severity: None,
            severities: BTreeMap::new(),
            summary_prefix: "flowguard/".to_string(),
            max_tracked: 100_000,
            max_findings: 1000,
            summary_bucket: None,
            topic_arn: None,
            window_seconds: 3600,
            renotify_seconds: 6 * 3600,
            state_ttl_seconds: 7 * 24 * 3600,
            max_state_updates: 100,
            state_table: None,
            threat_lists: Locations::default(),
            suppress_lists: Locations::default(),
            intel_refresh_seconds: 300,
            correlate: false,
            cwl_fields: Format::default_v2(),
            intel: Arc::default(),
        }
    }
}

impl Config {
    /// Reads the `FLOWGUARD_*` variables of `vars` (pass `std::env::vars()`);
    /// other variables are ignored. `FLOWGUARD_SEVERITY_<RULE>` sets the
    /// severity of one rule (`FLOWGUARD_SEVERITY_PORT_SCAN=high`).
    pub fn from_env<I>(vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let pairs = vars.into_iter().filter_map(|(k, v)| {
            let key = k.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
            Some((key, v))
        });
        Config::from_text_pairs(pairs, |path| {
            let name = path.replace(['.', '-'], "_").to_ascii_uppercase();
            format!("{ENV_PREFIX}{name}")
        })
    }

    /// Builds a configuration from `(key, value)` pairs of text, with the
    /// keys of a file (`admin_ports`, `severity_port_scan`); errors name the
    /// key. For tests and embedding.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let pairs = pairs.into_iter().map(|(k, v)| (k.into(), v.into()));
        Config::from_text_pairs(pairs, str::to_string)
    }

    fn from_text_pairs(
        pairs: impl Iterator<Item = (String, String)>,
        origin: impl Fn(&str) -> String,
    ) -> Result<Config, ConfigError> {
        let mut map = serde_json::Map::new();
        let mut severity = serde_json::Map::new();
        for (key, v) in pairs {
            match key.strip_prefix("severity_") {
                Some(rule) => severity.insert(rule.replace('_', "-"), v.into()),
                None => map.insert(key, v.into()),
            };
        }
        if !severity.is_empty() {
            map.insert("severity".into(), severity.into());
        }
        Config::from_value(serde_json::Value::Object(map), origin)
    }

    /// Reads a TOML file's text; `file` names it in errors. Arrays are
    /// accepted for lists; unknown keys are errors (a typo must not
    /// silently keep a default).
    #[cfg(feature = "cli")]
    pub fn from_toml(text: &str, file: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            origin: file.to_string(),
            message: e.message().to_string(),
        })?;
        let value = serde_json::to_value(table).map_err(|e| ConfigError {
            origin: file.to_string(),
            message: e.to_string(),
        })?;
        Config::from_value(value, |path| format!("{file}: {path}"))
    }

    /// Deserialises and checks a map of keys; `origin` turns a key path
    /// (`admin_ports`, `severity.port-scan`) into the name a user wrote.
    fn from_value(
        value: serde_json::Value,
        origin: impl Fn(&str) -> String,
    ) -> Result<Config, ConfigError> {
        let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ConfigError {
                origin: origin(&path),
                message: e.into_inner().to_string(),
            }
        })?;
        config.check().map_err(|(key, message)| ConfigError {
            origin: origin(key),
            message,
        })?;
        Ok(config)
    }

    /// Checks that need more than one value's text.
    fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, n) in [
            ("brute_force_threshold", self.brute_force_threshold),
            ("port_scan_threshold", self.port_scan_threshold),
            ("sweep_threshold", self.sweep_threshold),
            ("rejected_threshold", self.rejected_threshold),
        ] {
            if n == 0 {
                return Err((key, "must be a positive whole number".into()));
            }
        }
        Ok(())
    }

    /// The severity configured for a rule.
    pub fn severity(&self, rule: RuleId) -> Severity {
        self.severities
            .get(&rule)
            .copied()
            .unwrap_or(rule.default_severity())
    }

    /// The minimum severity the Lambda function publishes (default
    /// `medium`).
    pub fn publish_min_severity(&self) -> Severity {
        self.min_severity.unwrap_or(Severity::Medium)
    }
}

/// A summary prefix: not empty, not starting with `/`, ending with `/`.
struct SummaryPrefix(String);

impl FromStr for SummaryPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<SummaryPrefix, String> {
        let s = s.trim();
        if s.is_empty() || s == "/" {
            return Err(
                "must not be empty: the Lambda function skips every key under the \
                        prefix as its own output, so an empty prefix would skip every object"
                    .into(),
            );
        }
        if s.starts_with('/') {
            return Err(format!("'{s}' must not start with '/'"));
        }
        let mut p = s.to_string();
        if !p.ends_with('/') {
            p.push('/');
        }
        Ok(SummaryPrefix(p))
    }
}

/// `cwl_fields`: field names, each once, in the messages' order. A
/// well-formed name flowguard does not know (a newer AWS field) is a text
/// column, as in a header; anything else is an error.
struct CwlFields(Format);

impl FromStr for CwlFields {
    type Err = String;
    fn from_str(s: &str) -> Result<CwlFields, String> {
        if s.trim().is_empty() {
            // Not set (an empty template parameter): the default format.
            return Ok(CwlFields(Format::default_v2()));
        }
        let mut names: Vec<String> = Vec::new();
        for token in s.split([',', ' ', '\t', '\n']).filter(|t| !t.is_empty()) {
            let name = token
                .trim_start_matches("${")
                .trim_end_matches('}')
                .replace('_', "-");
            let b = name.as_bytes();
            let well_formed = b.first().is_some_and(u8::is_ascii_lowercase)
                && b.len() <= 64
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
            if !well_formed {
                return Err(format!(
                    "'{token}' is not a flow-log field name (hyphenated names such as \
                     version account-id interface-id srcaddr ...)"
                ));
            }
            if names.contains(&name) {
                return Err(format!("'{name}' is listed twice"));
            }
            names.push(name);
        }
        if !names.iter().any(|n| Field::from_name(n).is_some()) {
            return Err("must list the fields of the log group's format".into());
        }
        Format::from_header(&names.join(" ")).map(CwlFields)
    }
}

fn cwl_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
    text::<D, CwlFields>(d).map(|f| f.0)
}

/// `max_tracked`: between [`MIN_TRACKED`] and [`MAX_TRACKED_LIMIT`].
struct MaxTracked(usize);

impl FromStr for MaxTracked {
    type Err = String;
    fn from_str(s: &str) -> Result<MaxTracked, String> {
        let n = parse_count(s)?;
        match usize::try_from(n) {
            Ok(n) if n < MIN_TRACKED => Err(format!("'{s}' must be at least {MIN_TRACKED}")),
            Ok(n) if n <= MAX_TRACKED_LIMIT => Ok(MaxTracked(n)),
            _ => Err(format!(
                "'{s}' is above the maximum of {MAX_TRACKED_LIMIT} (the port-scan tables \
                 are allocated at four times the bound)"
            )),
        }
    }
}

/// An S3 bucket name (3 to 63 lower-case letters, digits, `-` and `.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(pub String);

impl FromStr for BucketName {
    type Err = String;
    fn from_str(s: &str) -> Result<BucketName, String> {
        let s = s.trim();
        let ok = (3..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if ok {
            Ok(BucketName(s.to_string()))
        } else {
            Err(format!("'{s}' is not a valid S3 bucket name"))
        }
    }
}

/// An SNS topic ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArn(pub String);

impl FromStr for TopicArn {
    type Err = String;
    fn from_str(s: &str) -> Result<TopicArn, String> {
        let s = s.trim();
        if s.starts_with("arn:") && s.split(':').count() >= 6 {
            Ok(TopicArn(s.to_string()))
        } else {
            Err(format!(
                "'{s}' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            ))
        }
    }
}

/// Comma-separated list locations: `s3://bucket/key` URLs or local paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations(pub Vec<Location>);

impl FromStr for Locations {
    type Err = String;
    fn from_str(s: &str) -> Result<Locations, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Location::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Locations)
    }
}

/// A DynamoDB table name (3 to 255 of `A-Za-z0-9_.-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName(pub String);

impl FromStr for TableName {
    type Err = String;
    fn from_str(s: &str) -> Result<TableName, String> {
        let s = s.trim();
        let ok = (3..=255).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if ok {
            Ok(TableName(s.to_string()))
        } else {
            Err(format!("'{s}' is not a DynamoDB table name"))
        }
    }
}

impl FromStr for TrustedNetworks {
    type Err = String;
    fn from_str(s: &str) -> Result<TrustedNetworks, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(Cidr::parse(part).ok_or_else(|| format!("'{part}' is not a CIDR network"))?);
        }
        Ok(TrustedNetworks::new(out))
    }
}

impl FromStr for PortSet {
    type Err = String;
    fn from_str(s: &str) -> Result<PortSet, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(
                part.parse::<u16>()
                    .map_err(|_| format!("'{part}' is not a port (0-65535)"))?,
            );
        }
        Ok(PortSet::new(&out))
    }
}

fn parse_count(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{}' is not a positive whole number", s.trim())),
    }
}

/// A positive whole number, as text or a number.
struct Count(u64);

impl FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> Result<Count, String> {
        parse_count(s).map(Count)
    }
}

/// Reads a value as text (a string, a number, a boolean, or a list joined
/// with commas) and parses it with `T::from_str`, whose message names the
/// value.
fn text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let raw = d.deserialize_any(TextVisitor)?;
    raw.parse().map_err(de::Error::custom)
}

/// [`text`] where an empty value means "not set".
fn optional_text<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let raw = d.deserialize_any(TextVisitor)?;
    if raw.trim().is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(de::Error::custom)
}

fn summary_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text::<D, SummaryPrefix>(d).map(|p| p.0)
}

fn max_tracked<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    text::<D, MaxTracked>(d).map(|m| m.0)
}

fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    text::<D, Count>(d).map(|c| c.0)
}

fn count_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = count(d)?;
    usize::try_from(n).map_err(|_| de::Error::custom(format!("'{n}' is too large")))
}

/// `{rule: severity}`, each severity as text. The rule name is checked
/// while its value is read, so an error's path names the key.
fn severities<'de, D>(d: D) -> Result<BTreeMap<RuleId, Severity>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Rules;
    struct Level(Option<RuleId>, String);

    impl<'de> de::DeserializeSeed<'de> for Level {
        type Value = (RuleId, Severity);
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(RuleId, Severity), D::Error> {
            let text = d.deserialize_any(TextVisitor)?;
            let rule = self.0.ok_or_else(|| {
                let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                de::Error::custom(format!(
                    "no rule named '{}' (rules: {})",
                    self.1,
                    known.join(", ")
                ))
            })?;
            Ok((rule, text.parse().map_err(de::Error::custom)?))
        }
    }

    impl<'de> Visitor<'de> for Rules {
        type Value = BTreeMap<RuleId, Severity>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of rule = severity")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                let rule = RuleId::ALL.iter().copied().find(|r| r.as_str() == name);
                let (rule, level) = map.next_value_seed(Level(rule, name))?;
                out.insert(rule, level);
            }
            Ok(out)
        }
    }

    d.deserialize_map(Rules)
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value as text, a number or a list")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item.0);
        }
        Ok(items.join(","))
    }
}

/// One list item as text.
struct Item(String);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        d.deserialize_any(TextVisitor).map(Item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_env(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
        )
    }

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
    fn env_errors_name_the_variable_and_the_value() {
        let cases = [
            ("FLOWGUARD_ADMIN_PORTS", "22,ssh", "'ssh' is not a port"),
            ("FLOWGUARD_MIN_SEVERITY", "urgent", "'urgent'"),
            ("FLOWGUARD_TRUSTED_CIDRS", "10.0.0.0/33", "'10.0.0.0/33'"),
            ("FLOWGUARD_PORT_SCAN_THRESHOLD", "0", "'0'"),
            ("FLOWGUARD_MAX_TRACKED", "999", "at least 1000"),
            ("FLOWGUARD_MAX_TRACKED", "5000000", "maximum of 1000000"),
            ("FLOWGUARD_SUMMARY_PREFIX", "", "must not be empty"),
            ("FLOWGUARD_SUMMARY_PREFIX", "/x", "must not start with '/'"),
            ("FLOWGUARD_TOPIC_ARN", "not-an-arn", "'not-an-arn'"),
            ("FLOWGUARD_SUMMARY_BUCKET", "Bad_Bucket", "'Bad_Bucket'"),
            ("FLOWGUARD_TYPO", "1", "unknown field `typo`"),
            ("FLOWGUARD_SEVERITY_PORT_SCAN", "urgent", "'urgent'"),
            ("FLOWGUARD_CWL_FIELDS", "version src.addr", "'src.addr'"),
            ("FLOWGUARD_CWL_FIELDS", "foo bar", "must list the fields"),
            ("FLOWGUARD_CWL_FIELDS", "srcaddr,srcaddr", "listed twice"),
            ("FLOWGUARD_CWL_FIELDS", " , ", "must list the fields"),
            (
                "FLOWGUARD_THREAT_LISTS",
                "s3://b/k,s3://nokey",
                "'s3://nokey'",
            ),
            ("FLOWGUARD_INTEL_REFRESH_SECONDS", "0", "'0'"),
            (
                "FLOWGUARD_SEVERITY_NO_RULE",
                "high",
                "no rule named 'no-rule'",
            ),
        ];
        for (var, value, says) in cases {
            let e = env(&[(var, value)]).unwrap_err();
            assert_eq!(e.origin, var, "{var}={value}: {e}");
            assert!(e.message.contains(says), "{var}={value}: {e}");
        }
    }

    #[test]
    fn env_sets_every_kind_of_value() {
        let c = env(&[
            (
                "FLOWGUARD_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:t",
            ),
            ("FLOWGUARD_SEVERITY_PORT_SCAN", "high"),
            ("FLOWGUARD_ADMIN_PORTS", " 22, 2222 "),
            ("FLOWGUARD_MAX_TRACKED", "50000"),
            ("FLOWGUARD_SUMMARY_PREFIX", "fg"),
            ("PATH", "/bin"),
        ])
        .unwrap();
        assert_eq!(c.severity(RuleId::PortScan), Severity::High);
        assert_eq!(c.severity(RuleId::RejectedTraffic), Severity::Low);
        assert_eq!(c.admin_ports.ports(), [22, 2222]);
        assert_eq!(c.max_tracked, 50_000);
        assert_eq!(c.summary_prefix, "fg/");
        assert_eq!(
            c.topic_arn,
            Some(TopicArn("arn:aws:sns:us-east-1:123456789012:t".into()))
        );
        assert_eq!(env(&[("FLOWGUARD_TOPIC_ARN", "")]).unwrap().topic_arn, None);
        let names = |f: &Format| -> Vec<String> {
            f.columns().iter().map(|c| c.name().to_string()).collect()
        };
        let d = env(&[]).unwrap();
        assert_eq!(names(&d.cwl_fields), names(&Format::default_v2()));
        let empty = env(&[("FLOWGUARD_CWL_FIELDS", " ")]).unwrap();
        assert_eq!(names(&empty.cwl_fields), names(&Format::default_v2()));
        for list in [
            "version srcaddr dstaddr action",
            "version,srcaddr, dstaddr,action",
            "${version} ${srcaddr} ${dstaddr} ${action}",
        ] {
            let c = env(&[("FLOWGUARD_CWL_FIELDS", list)]).unwrap();
            assert_eq!(
                names(&c.cwl_fields),
                ["version", "srcaddr", "dstaddr", "action"],
                "{list}"
            );
        }
        // A newer field flowguard does not know is carried as text.
        let c = env(&[("FLOWGUARD_CWL_FIELDS", "srcaddr dstaddr next_new_field")]).unwrap();
        assert_eq!(
            names(&c.cwl_fields),
            ["srcaddr", "dstaddr", "next-new-field"]
        );
        assert_eq!(c.cwl_fields.warnings().len(), 1);
        let lists = env(&[
            (
                "FLOWGUARD_THREAT_LISTS",
                "s3://sec-feeds/intel.csv, s3://sec-feeds/tor.txt,",
            ),
            ("FLOWGUARD_SUPPRESS_LISTS", "s3://sec-feeds/exceptions.csv"),
            ("FLOWGUARD_INTEL_REFRESH_SECONDS", "60"),
        ])
        .unwrap();
        let shown: Vec<String> = lists.threat_lists.0.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            shown,
            ["s3://sec-feeds/intel.csv", "s3://sec-feeds/tor.txt"]
        );
        assert_eq!(lists.suppress_lists.0.len(), 1);
        assert_eq!(lists.intel_refresh_seconds, 60);
        let d = env(&[]).unwrap();
        assert!(d.threat_lists.0.is_empty() && d.intel.is_empty());
        assert_eq!(d.intel_refresh_seconds, 300);
        assert_eq!(d.summary_prefix, "flowguard/");
        assert_eq!(d.publish_min_severity(), Severity::Medium);
    }

    #[cfg(feature = "cli")]
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
        let e = Config::from_toml("max_tracked = 10", "c.toml").unwrap_err();
        assert_eq!(e.origin, "c.toml: max_tracked");
        assert!(e.message.contains("'10'"), "{e}");
        let e = Config::from_toml("[severity]\nport-scan = \"x\"", "c.toml").unwrap_err();
        assert_eq!(e.origin, "c.toml: severity.port-scan");
        let c = Config::from_toml(
            "threat_lists = [\"lists/c2.txt\", \"lists/tor.csv\"]\nsuppress_lists = \"ex.csv\"",
            "c.toml",
        )
        .unwrap();
        assert_eq!(
            c.threat_lists.0,
            [
                Location::Path("lists/c2.txt".into()),
                Location::Path("lists/tor.csv".into())
            ]
        );
        assert_eq!(c.suppress_lists.0, [Location::Path("ex.csv".into())]);
        let e = Config::from_toml("summary_prefix = \"\"", "c.toml").unwrap_err();
        assert_eq!(e.origin, "c.toml: summary_prefix");
        let c = Config::from_toml(
            "cwl_fields = [\"srcaddr\", \"dstaddr\", \"dstport\"]",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.cwl_fields.columns().len(), 3);
        assert_eq!(c.cwl_fields.position(Field::DSTPORT), Some(2));
    }
}
