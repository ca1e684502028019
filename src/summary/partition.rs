//! Partition keys (`account=/region=/dt=/hour=`) and output names derived
//! from the object key, its AWS file name and its records.

use crate::time::UtcDateTime;

/// Where one object's summaries go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKey {
    /// AWS account id, or `unknown`.
    pub account: String,
    /// AWS region, or `unknown`.
    pub region: String,
    /// `YYYY-MM-DD`.
    pub dt: String,
    /// `HH`.
    pub hour: String,
}

impl PartitionKey {
    /// The partition of an object (SPEC section 3): account and region from
    /// its key, else from its records, else `unknown`; `dt`/`hour` from the
    /// delivery time in its file name, else its earliest record start, else
    /// `now`.
    pub fn resolve(
        facts: &KeyFacts,
        account: Option<String>,
        region: Option<String>,
        first_start: Option<u64>,
        now: u64,
    ) -> PartitionKey {
        let when = UtcDateTime::from_unix(facts.delivered.or(first_start).unwrap_or(now));
        let unknown = || "unknown".to_string();
        PartitionKey {
            account: facts.account.clone().or(account).unwrap_or_else(unknown),
            region: facts.region.clone().or(region).unwrap_or_else(unknown),
            dt: when.date(),
            hour: format!("{:02}", when.hour),
        }
    }

    /// `{prefix}{table}/account=../region=../dt=../hour=../{stem}.json.gz`.
    pub fn object_key(&self, prefix: &str, table: &str, stem: &str) -> String {
        format!(
            "{prefix}{table}/account={}/region={}/dt={}/hour={}/{stem}.json.gz",
            self.account, self.region, self.dt, self.hour
        )
    }
}

/// What the key (or path) of an object says about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFacts {
    /// Account from `AWSLogs/{account}/vpcflowlogs/` or `aws-account-id=`.
    pub account: Option<String>,
    /// Region from `vpcflowlogs/{region}/` or `aws-region=`.
    pub region: Option<String>,
    /// Delivery time from `_YYYYMMDDTHHMMZ_` in the file name (Unix secs).
    pub delivered: Option<u64>,
    /// File name without `.log.gz`/`.log`/`.gz`, made safe for a key.
    pub stem: String,
}

impl KeyFacts {
    /// Reads the facts of an S3 key or a local path.
    pub fn from_key(key: &str) -> KeyFacts {
        let parts: Vec<&str> = key.split(['/', '\\']).collect();
        let mut facts = KeyFacts::default();
        for (i, p) in parts.iter().enumerate() {
            if *p == "AWSLogs" {
                if let Some(a) = parts.get(i + 1).filter(|a| is_account(a)) {
                    facts.account = Some(a.to_string());
                }
                if parts.get(i + 2) == Some(&"vpcflowlogs") {
                    if let Some(r) = parts.get(i + 3).filter(|r| is_region(r)) {
                        facts.region = Some(r.to_string());
                    }
                }
            }
            if let Some(a) = p.strip_prefix("aws-account-id=").filter(|a| is_account(a)) {
                facts.account = Some(a.to_string());
            }
            if let Some(r) = p.strip_prefix("aws-region=").filter(|r| is_region(r)) {
                facts.region = Some(r.to_string());
            }
        }
        let name = parts.last().copied().unwrap_or_default();
        facts.delivered = delivery_time(name);
        facts.stem = stem(name);
        facts
    }
}

/// The file name without its flow-log extension, with characters outside
/// `[A-Za-z0-9._=-]` replaced by `_`.
pub fn stem(name: &str) -> String {
    let base = [".log.gz", ".log", ".gz", ".txt"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name);
    let s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "-" || s.chars().all(|c| c == '.') {
        "stdin".to_string()
    } else {
        s
    }
}

/// `_YYYYMMDDTHHMMZ_` (AWS's delivery timestamp) in a file name.
pub fn delivery_time(name: &str) -> Option<u64> {
    name.split(['_', '.']).find_map(|tok| {
        let b = tok.as_bytes();
        if b.len() != 14 || b[8] != b'T' || b[13] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| tok.get(r)?.parse::<u32>().ok();
        if !b[..8].iter().chain(&b[9..13]).all(u8::is_ascii_digit) {
            return None;
        }
        UtcDateTime {
            year: i64::from(num(0..4)?),
            month: num(4..6)?,
            day: num(6..8)?,
            hour: num(9..11)?,
            minute: num(11..13)?,
            second: 0,
        }
        .to_unix()
    })
}

fn is_account(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Region-like: lower-case letters, digits and hyphens.
fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A value that is safe inside a partition path component.
pub fn safe_component(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 64 || s == "-" {
        return None;
    }
    let ok = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_keys() {
        let f = KeyFacts::from_key("AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20250626T1820Z_3f2a1b4c.log.gz");
        assert_eq!(f.account.as_deref(), Some("123456789012"));
        assert_eq!(f.region.as_deref(), Some("us-east-1"));
        assert_eq!(f.delivered, Some(1750962000));
        assert_eq!(
            f.stem,
            "123456789012_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20250626T1820Z_3f2a1b4c"
        );

        let f = KeyFacts::from_key("prefix/AWSLogs/aws-account-id=210987654321/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2025/month=06/day=26/hour=18/210987654321_vpcflowlogs_eu-west-1_fl-1_20250626T1805Z_ab.log.gz");
        assert_eq!(f.account.as_deref(), Some("210987654321"));
        assert_eq!(f.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            f.delivered.map(crate::time::rfc3339).as_deref(),
            Some("2025-06-26T18:05:00Z")
        );

        let f = KeyFacts::from_key("/tmp/my flows.log");
        assert_eq!(
            f,
            KeyFacts {
                stem: "my_flows".into(),
                ..Default::default()
            }
        );
        assert_eq!(KeyFacts::from_key("-").stem, "stdin");
        assert_eq!(delivery_time("x_20251399T9999Z_y.log.gz"), None);
    }

    #[test]
    fn object_key_layout() {
        let p = PartitionKey {
            account: "1".into(),
            region: "us-east-1".into(),
            dt: "2025-06-26".into(),
            hour: "18".into(),
        };
        assert_eq!(
            p.object_key("flowguard/", "ports", "s"),
            "flowguard/ports/account=1/region=us-east-1/dt=2025-06-26/hour=18/s.json.gz"
        );
    }
}
