//! Configuration: the keys of a TOML file and, upper-cased behind
//! `FLOWGUARD_`, the environment variables of the Lambda function. Read
//! once at start-up and passed down; nothing below reads the environment.
//!
//! The keys are one flat namespace, grouped by concern into serde structs
//! with `deny_unknown_fields`, one file each:
//!
//! | file | struct | what |
//! |---|---|---|
//! | `detection.rs` | [`Detection`] | networks, ports, thresholds, severities, bounds of per-object state |
//! | `lambda.rs` | [`Lambda`] | summary bucket and prefix, SNS topic |
//! | `lists.rs` | [`Lists`] | threat and suppression lists |
//! | `state.rs` | [`Correlation`] | the window, notification lifecycle, state store |
//! | `delivery.rs` | [`Delivery`] | Security Hub, EventBridge, EC2 enrichment, the email rate guard |
//!
//! A new key is one field in the struct of its concern, with its default
//! in that struct's `Default`; its environment variable follows from its
//! name. Every value is accepted as text (environment variables are text),
//! and lists also as TOML arrays ([`values`] reads them). An unknown key or
//! variable is an error naming it; a bad value is an error naming the key
//! (or variable) and the value.

use std::sync::Arc;

use serde::de::DeserializeOwned;

mod delivery;
mod detection;
mod lambda;
mod lists;
mod state;
mod values;

pub use delivery::{Delivery, Enrich, EventBus, GlueName, RolePattern, Switch};
pub use detection::{Detection, DEFAULT_ADMIN_PORTS, DEFAULT_SENSITIVE_PORTS, DEFAULT_TRUSTED};
pub use lambda::Lambda;
pub use lists::Lists;
pub use state::Correlation;
pub use values::{BucketName, Locations, TableName, TopicArn};

use crate::catalogue::RuleId;
use crate::intel::Intel;
pub use crate::net::{Cidr, PortSet, TrustedNetworks};
use crate::severity::Severity;

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

/// Everything flowguard can be told, with the defaults of the SPEC.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// What the engine reads and detects.
    pub detect: Detection,
    /// Where the Lambda function writes and publishes.
    pub lambda: Lambda,
    /// The locations of the threat and suppression lists.
    pub lists: Lists,
    /// Correlation across objects.
    pub state: Correlation,
    /// Where findings go besides SNS.
    pub delivery: Delivery,
    /// Whether the objects are correlated (a state store is in use): set
    /// by the caller, not a key. The engine then also names the subjects
    /// that reach a per-object share of each threshold.
    pub correlate: bool,
    /// The loaded threat and suppression lists: data, not text. The
    /// binaries fill it after reading `threat_lists` and `suppress_lists`;
    /// empty, the engine does no lookup at all.
    pub intel: Arc<Intel>,
}

/// One group's keys, deserialised from the keys routed to it.
fn group<T: DeserializeOwned>(
    keys: serde_json::Map<String, serde_json::Value>,
    origin: &impl Fn(&str) -> String,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(keys)).map_err(|e| {
        let path = e.path().to_string();
        ConfigError {
            origin: origin(&path),
            message: e.into_inner().to_string(),
        }
    })
}

/// The groups, each with the keys it accepts.
fn groups() -> [&'static [&'static str]; 5] {
    [
        values::field_names::<Detection>(),
        values::field_names::<Lambda>(),
        values::field_names::<Lists>(),
        values::field_names::<Correlation>(),
        values::field_names::<Delivery>(),
    ]
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
    /// Each key goes to the group that declares it; a key no group
    /// declares is an error naming it.
    fn from_value(
        value: serde_json::Value,
        origin: impl Fn(&str) -> String,
    ) -> Result<Config, ConfigError> {
        let serde_json::Value::Object(map) = value else {
            return Err(ConfigError {
                origin: origin(""),
                message: "expected a table of keys".into(),
            });
        };
        let groups = groups();
        let mut routed: [serde_json::Map<String, serde_json::Value>; 5] = Default::default();
        for (key, v) in map {
            match groups.iter().position(|g| g.contains(&key.as_str())) {
                Some(i) => {
                    routed[i].insert(key, v);
                }
                None => {
                    let mut known: Vec<&str> =
                        groups.iter().flat_map(|g| g.iter().copied()).collect();
                    known.sort_unstable();
                    return Err(ConfigError {
                        origin: origin(&key),
                        message: format!(
                            "unknown field `{key}`, expected one of {}",
                            known.join(", ")
                        ),
                    });
                }
            }
        }
        let [detect, lambda, lists, state, delivery] = routed;
        let config = Config {
            detect: group(detect, &origin)?,
            lambda: group(lambda, &origin)?,
            lists: group(lists, &origin)?,
            state: group(state, &origin)?,
            delivery: group(delivery, &origin)?,
            correlate: false,
            intel: Arc::default(),
        };
        config
            .detect
            .check()
            .map_err(|(key, message)| ConfigError {
                origin: origin(key),
                message,
            })?;
        Ok(config)
    }

    /// The severity configured for a rule.
    pub fn severity(&self, rule: RuleId) -> Severity {
        self.detect.severity(rule)
    }

    /// The minimum severity the Lambda function publishes (default
    /// `medium`).
    pub fn publish_min_severity(&self) -> Severity {
        self.detect.min_severity.unwrap_or(Severity::Medium)
    }

    /// Whether the Lambda function delivers findings anywhere: an SNS
    /// topic, Security Hub or an EventBridge bus.
    pub fn delivers(&self) -> bool {
        self.lambda.topic_arn.is_some()
            || self.delivery.security_hub.0
            || self.delivery.event_bus.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::{Field, Format};
    use crate::intel::Location;

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
        let t = Config::default().detect.trusted;
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
        assert_eq!(c.detect.admin_ports.ports(), [22, 2222]);
        assert_eq!(c.detect.max_tracked, 50_000);
        assert_eq!(c.lambda.summary_prefix, "fg/");
        assert_eq!(
            c.lambda.topic_arn,
            Some(TopicArn("arn:aws:sns:us-east-1:123456789012:t".into()))
        );
        assert_eq!(
            env(&[("FLOWGUARD_TOPIC_ARN", "")])
                .unwrap()
                .lambda
                .topic_arn,
            None
        );
        let names = |f: &Format| -> Vec<String> {
            f.columns().iter().map(|c| c.name().to_string()).collect()
        };
        let d = env(&[]).unwrap();
        assert_eq!(names(&d.detect.cwl_fields), names(&Format::default_v2()));
        let empty = env(&[("FLOWGUARD_CWL_FIELDS", " ")]).unwrap();
        assert_eq!(
            names(&empty.detect.cwl_fields),
            names(&Format::default_v2())
        );
        for list in [
            "version srcaddr dstaddr action",
            "version,srcaddr, dstaddr,action",
            "${version} ${srcaddr} ${dstaddr} ${action}",
        ] {
            let c = env(&[("FLOWGUARD_CWL_FIELDS", list)]).unwrap();
            assert_eq!(
                names(&c.detect.cwl_fields),
                ["version", "srcaddr", "dstaddr", "action"],
                "{list}"
            );
        }
        // A newer field flowguard does not know is carried as text.
        let c = env(&[("FLOWGUARD_CWL_FIELDS", "srcaddr dstaddr next_new_field")]).unwrap();
        assert_eq!(
            names(&c.detect.cwl_fields),
            ["srcaddr", "dstaddr", "next-new-field"]
        );
        assert_eq!(c.detect.cwl_fields.warnings().len(), 1);
        let lists = env(&[
            (
                "FLOWGUARD_THREAT_LISTS",
                "s3://sec-feeds/intel.csv, s3://sec-feeds/tor.txt,",
            ),
            ("FLOWGUARD_SUPPRESS_LISTS", "s3://sec-feeds/exceptions.csv"),
            ("FLOWGUARD_INTEL_REFRESH_SECONDS", "60"),
        ])
        .unwrap();
        let shown: Vec<String> = lists
            .lists
            .threat_lists
            .0
            .iter()
            .map(|l| l.to_string())
            .collect();
        assert_eq!(
            shown,
            ["s3://sec-feeds/intel.csv", "s3://sec-feeds/tor.txt"]
        );
        assert_eq!(lists.lists.suppress_lists.0.len(), 1);
        assert_eq!(lists.lists.intel_refresh_seconds, 60);
        let d = env(&[]).unwrap();
        assert!(d.lists.threat_lists.0.is_empty() && d.intel.is_empty());
        assert_eq!(d.lists.intel_refresh_seconds, 300);
        assert_eq!(d.lambda.summary_prefix, "flowguard/");
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
        assert!(c.detect.admin_ports.contains(2222));
        assert!(!c.detect.admin_ports.contains(3389));
        assert_eq!(c.detect.brute_force_threshold, 5);
        assert_eq!(c.lambda.summary_prefix, "fg/");
        assert!(!c.detect.trusted.contains("192.168.1.1".parse().unwrap()));
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
            c.lists.threat_lists.0,
            [
                Location::Path("lists/c2.txt".into()),
                Location::Path("lists/tor.csv".into())
            ]
        );
        assert_eq!(c.lists.suppress_lists.0, [Location::Path("ex.csv".into())]);
        let e = Config::from_toml("summary_prefix = \"\"", "c.toml").unwrap_err();
        assert_eq!(e.origin, "c.toml: summary_prefix");
        let c = Config::from_toml(
            "cwl_fields = [\"srcaddr\", \"dstaddr\", \"dstport\"]",
            "c.toml",
        )
        .unwrap();
        assert_eq!(c.detect.cwl_fields.columns().len(), 3);
        assert_eq!(c.detect.cwl_fields.position(Field::DSTPORT), Some(2));
    }
}
