//! Threat lists and suppressions (SPEC section 8): the known-bad addresses
//! a security team brings, and the exceptions it grants. [`parse`] turns
//! the bytes of a list (plain text or CSV) into entries, refusing the
//! whole list at its first bad line; [`ranges`] merges every threat list
//! into one [`ThreatSet`] that answers "is this address listed?" for both
//! addresses of every record at almost no cost; [`suppress`] holds the
//! exceptions ([`Suppressions`]: a rule, a network, maybe a port, a reason
//! and an expiry) and finds the one that applies to a finding's subject.
//!
//! Pure: bytes in, data out. The CLI reads the lists from files and the
//! Lambda function from S3 (`crate::io::lists`); both hand the loaded
//! [`Intel`] to the engine through `Config::intel`.

pub mod parse;
pub mod ranges;
pub mod suppress;

use std::fmt;

pub use parse::{parse_suppress_list, parse_threat_list, ThreatEntry, ThreatList};
pub use ranges::{Listing, ThreatSet};
pub use suppress::{expiry, SuppressList, Suppression, Suppressions, Target};

/// The most entries one list may hold (GuardDuty's limit per threat list).
/// A longer list is refused, never cut.
pub const MAX_LIST_ENTRIES: usize = 250_000;

/// A list that could not be used: it names the list and, for a bad line,
/// the line number. The list is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{list}{}: {message}", line.map(|n| format!(": line {n}")).unwrap_or_default())]
pub struct IntelError {
    /// The list's location, as configured.
    pub list: String,
    /// The 1-based line of the fault, when it is one line's.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl IntelError {
    /// An error about the whole list (it could not be read, it is too big).
    pub fn list(list: &str, message: impl Into<String>) -> IntelError {
        IntelError {
            list: list.to_string(),
            line: None,
            message: message.into(),
        }
    }

    /// An error about one line of the list.
    pub fn line(list: &str, line: u64, message: impl Into<String>) -> IntelError {
        IntelError {
            list: list.to_string(),
            line: Some(line),
            message: message.into(),
        }
    }
}

/// Where a list is: an `s3://bucket/key` URL (the Lambda function) or a
/// local path (the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key, as written (not URL-decoded).
        key: String,
    },
    /// A local file.
    Path(String),
}

impl Location {
    /// Reads `s3://bucket/key`, or anything else as a local path. An
    /// `s3://` URL without a bucket or a key is an error.
    pub fn parse(s: &str) -> Result<Location, String> {
        let s = s.trim();
        let Some(rest) = s.strip_prefix("s3://") else {
            return Ok(Location::Path(s.to_string()));
        };
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => {
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            _ => Err(format!("'{s}' is not an s3://bucket/key URL of one object")),
        }
    }

    /// The list's name in titles: the file name of the path or key
    /// (`intel.csv` for `s3://sec-feeds/flowguard/intel.csv`).
    pub fn name(&self) -> &str {
        let full = match self {
            Location::S3 { key, .. } => key.as_str(),
            Location::Path(p) => p.as_str(),
        };
        full.rsplit(['/', '\\'])
            .find(|part| !part.is_empty())
            .unwrap_or(full)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Location::Path(p) => f.write_str(p),
        }
    }
}

/// The loaded lists: the merged threat lists and the suppressions. Shared
/// by reference (`Arc<Intel>` in `Config::intel`); a re-read builds a new
/// one.
#[derive(Clone, Default)]
pub struct Intel {
    /// Every threat list, merged for lookups.
    pub threats: ThreatSet,
    /// Every suppression, in list order.
    pub suppressions: Suppressions,
}

impl Intel {
    /// Builds the lookup structures of parsed lists, in order.
    pub fn new<'a>(
        threat_lists: impl IntoIterator<Item = &'a ThreatList>,
        suppress_lists: impl IntoIterator<Item = &'a SuppressList>,
    ) -> Intel {
        Intel {
            threats: ThreatSet::build(threat_lists),
            suppressions: Suppressions::new(suppress_lists),
        }
    }

    /// Whether there is neither a threat nor a suppression entry.
    pub fn is_empty(&self) -> bool {
        self.threats.is_empty() && self.suppressions.is_empty()
    }
}

impl fmt::Debug for Intel {
    /// A summary: a list of 250,000 entries is not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intel")
            .field("threat_entries", &self.threats.len())
            .field("threat_ranges", &self.threats.ranges())
            .field("suppressions", &self.suppressions.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_their_names() {
        let cases = [
            (
                "s3://sec-feeds/flowguard/intel.csv",
                Location::S3 {
                    bucket: "sec-feeds".into(),
                    key: "flowguard/intel.csv".into(),
                },
                "intel.csv",
            ),
            (
                " s3://b/k.txt ",
                Location::S3 {
                    bucket: "b".into(),
                    key: "k.txt".into(),
                },
                "k.txt",
            ),
            (
                "lists/tor-exits.txt",
                Location::Path("lists/tor-exits.txt".into()),
                "tor-exits.txt",
            ),
            ("c2.txt", Location::Path("c2.txt".into()), "c2.txt"),
        ];
        for (text, want, name) in cases {
            let l = Location::parse(text).unwrap();
            assert_eq!(l, want, "{text}");
            assert_eq!(l.name(), name, "{text}");
        }
        for bad in [
            "s3://",
            "s3://bucket",
            "s3://bucket/",
            "s3:///key",
            "s3://b/dir/",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Location::parse("s3://b/a/k.csv").unwrap().to_string(),
            "s3://b/a/k.csv"
        );
    }

    #[test]
    fn errors_name_the_list_and_the_line() {
        assert_eq!(
            IntelError::line("s3://b/intel.csv", 7, "'x' is not an address").to_string(),
            "s3://b/intel.csv: line 7: 'x' is not an address"
        );
        assert_eq!(
            IntelError::list("intel.csv", "no such file").to_string(),
            "intel.csv: no such file"
        );
    }
}
