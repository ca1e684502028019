//! Partition keys (`account=/region=/dt=/hour=`) and output names derived
//! from the object key, its AWS file name and its records.

use crate::hash::fnv1a64;
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
    /// Account from `AWSLogs/{account}/vpcflowlogs/` or `aws-account-id=`,
    /// else from the AWS file name (`{account}_vpcflowlogs_{region}_...`).
    pub account: Option<String>,
    /// Region from `vpcflowlogs/{region}/` or `aws-region=`, else from the
    /// AWS file name.
    pub region: Option<String>,
    /// Delivery time from `_YYYYMMDDTHHMMZ_` in the file name (Unix secs).
    pub delivered: Option<u64>,
    /// File name without its flow-log extension, made safe for a key (see
    /// [`stem_of_key`]).
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
        // `{account}_vpcflowlogs_{region}_{flow-log-id}_{time}_{hash}`:
        // the name says it when the folders do not (a copied object).
        let mut tokens = name.split('_');
        if let (Some(a), Some("vpcflowlogs"), Some(r)) =
            (tokens.next(), tokens.next(), tokens.next())
        {
            if is_account(a) && is_region(r) {
                facts.account.get_or_insert_with(|| a.to_string());
                facts.region.get_or_insert_with(|| r.to_string());
            }
        }
        facts.delivered = delivery_time(name);
        facts.stem = stem_of_key(key);
        facts
    }
}

/// Extensions stripped from a file name to make its stem.
const EXTENSIONS: [&str; 6] = [".log.gz", ".log.parquet", ".log", ".gz", ".parquet", ".txt"];

/// The stem of an object's summary files: its file name without its
/// flow-log extension. Characters outside `[A-Za-z0-9._=-]` are replaced by
/// `_`; when that changed the name, `-` and 8 hex digits of a hash of the
/// whole key are appended, so two keys that differ only in replaced
/// characters never share (and overwrite) summary files.
pub fn stem_of_key(key: &str) -> String {
    let name = key.rsplit(['/', '\\']).next().unwrap_or(key);
    let base = EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name);
    if base.is_empty() || base == "-" || base.chars().all(|c| c == '.') {
        return "stdin".to_string();
    }
    let mut changed = false;
    let mut s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=-".contains(c) {
                c
            } else {
                changed = true;
                '_'
            }
        })
        .collect();
    if changed {
        s.push_str(&format!("-{:08x}", fnv1a64(key.as_bytes()) as u32));
    }
    s
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
                stem: format!("my_flows-{:08x}", fnv1a64(b"/tmp/my flows.log") as u32),
                ..Default::default()
            }
        );
        assert_eq!(KeyFacts::from_key("-").stem, "stdin");
        assert_eq!(delivery_time("x_20251399T9999Z_y.log.gz"), None);
    }

    #[test]
    fn account_and_region_from_the_aws_file_name() {
        let name =
            "123456789012_vpcflowlogs_us-west-2_fl-0123456789abcdef0_20250626T1820Z_3f2a1b4c";
        for (key, account, region) in [
            (format!("copied/{name}.log"), "123456789012", "us-west-2"),
            (format!("{name}.log.parquet"), "123456789012", "us-west-2"),
            // The folders win over the name.
            (
                format!("AWSLogs/210987654321/vpcflowlogs/eu-west-1/2025/06/26/{name}.log.gz"),
                "210987654321",
                "eu-west-1",
            ),
        ] {
            let f = KeyFacts::from_key(&key);
            assert_eq!(f.account.as_deref(), Some(account), "{key}");
            assert_eq!(f.region.as_deref(), Some(region), "{key}");
            assert_eq!(f.delivered, Some(1750962000), "{key}");
            assert_eq!(f.stem, name, "{key}");
        }
        for key in [
            "x_vpcflowlogs_us-west-2_fl_20250626T1820Z_a.log",
            "123456789012_cloudtrail_us-west-2_x.log",
            "123456789012_vpcflowlogs_US_WEST_x.log",
            "vpcflowlogs.log",
        ] {
            let f = KeyFacts::from_key(key);
            assert!(f.account.is_none(), "{key}: {f:?}");
            assert!(f.region.is_none(), "{key}: {f:?}");
        }
    }

    #[test]
    fn stems_of_different_keys_never_collide() {
        let keys = [
            "logs/a b.log.gz",
            "logs/a+b.log.gz",
            "logs/a_b.log.gz",
            "logs/a\u{e9}b.log.gz",
            "other/a b.log.gz",
        ];
        let stems: Vec<String> = keys.iter().map(|k| stem_of_key(k)).collect();
        for (i, a) in stems.iter().enumerate() {
            for (j, b) in stems.iter().enumerate().skip(i + 1) {
                assert_ne!(a, b, "{} and {} share a stem", keys[i], keys[j]);
            }
        }
        // A safe name is kept as it is, without a hash.
        assert_eq!(stems[2], "a_b");
        assert!(stems[0].starts_with("a_b-") && stems[0].len() == "a_b-".len() + 8);
        assert_eq!(
            stem_of_key("AWSLogs/1/x/n_20250626T1820Z_ab.log.parquet"),
            "n_20250626T1820Z_ab"
        );
        assert_eq!(stem_of_key("dir\\file.log"), "file");
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
