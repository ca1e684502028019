//! Suppressions (SPEC section 8): exceptions a security team grants with a
//! reason and, usually, an expiry: its own vulnerability scanner, a
//! partner's fixed address, a bastion that is meant to be open. An entry
//! names a rule (or `*`), the network the finding's subject lies in, maybe
//! a port, and the first second at which it no longer applies. Findings it
//! matches are still written, marked suppressed, and never notified.

use std::net::IpAddr;

use crate::catalogue::RuleId;
use crate::net::Cidr;
use crate::time::UtcDateTime;

/// A parsed suppression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressList {
    /// The list's name.
    pub name: String,
    /// Its entries, in file order.
    pub entries: Vec<Suppression>,
}

/// What a suppression entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuppressionTarget {
    /// Subjects whose address lies in this network.
    Network(Cidr),
    /// A network interface (the subject of `skipped-records`).
    Interface(Box<str>),
}

/// One exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The rule it applies to; `None` for `*`, every rule.
    pub rule: Option<RuleId>,
    /// The subjects it applies to.
    pub target: SuppressionTarget,
    /// When set, only findings whose `dst_ports` include it.
    pub port: Option<u16>,
    /// Why: written into the finding's `suppression_reason`.
    pub reason: String,
    /// Unix seconds from which it no longer applies; `None`: never expires.
    pub expires: Option<u64>,
    /// The list it comes from.
    pub list: String,
    /// Its line in that list.
    pub line: u64,
}

impl Suppression {
    /// Whether it still applies at `now` (wall-clock Unix seconds).
    pub fn active(&self, now: u64) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// A finding's subject, as suppressions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The subject's address: the source of an attacker rule, the exposed
    /// service's address, the listed address of a threat-list match.
    Addr(IpAddr),
    /// A network interface id.
    Interface(&'a str),
}

/// Every suppression entry of every list, in list order.
#[derive(Debug, Clone, Default)]
pub struct Suppressions {
    entries: Vec<Suppression>,
}

impl Suppressions {
    /// The entries of `lists`, in order.
    pub fn new<'a>(lists: impl IntoIterator<Item = &'a SuppressList>) -> Suppressions {
        Suppressions {
            entries: lists
                .into_iter()
                .flat_map(|l| l.entries.iter().cloned())
                .collect(),
        }
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The first entry that applies at `now` to a finding of `rule` about
    /// `target` whose destination ports are `ports`. Lists are short
    /// (exceptions are granted one by one), so a scan is enough.
    pub fn find(
        &self,
        rule: RuleId,
        target: Target<'_>,
        ports: &[u16],
        now: u64,
    ) -> Option<&Suppression> {
        self.entries.iter().find(|s| {
            s.rule.is_none_or(|r| r == rule)
                && s.port.is_none_or(|p| ports.contains(&p))
                && match (&s.target, target) {
                    (SuppressionTarget::Network(n), Target::Addr(a)) => n.contains(a),
                    (SuppressionTarget::Interface(i), Target::Interface(t)) => &**i == t,
                    _ => false,
                }
                && s.active(now)
        })
    }
}

/// Reads an `expires` value, an RFC 3339 date (`2026-12-31`: the entry
/// applies to the end of that day, UTC) or timestamp
/// (`2026-12-31T18:00:00Z`, `2026-12-31T20:00:00+02:00`), into the first
/// Unix second at which the entry no longer applies.
pub fn expiry(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("'{s}' is not an RFC 3339 date (2026-12-31) or timestamp (2026-12-31T18:00:00Z)")
    };
    let num = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let b = s.as_bytes();
    // ASCII only, so every slice below is on a character boundary.
    if !s.is_ascii() || b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (year, month, day) = (
        num(&s[0..4]).ok_or_else(bad)?,
        num(&s[5..7]).ok_or_else(bad)?,
        num(&s[8..10]).ok_or_else(bad)?,
    );
    let mut t = UtcDateTime {
        year: i64::from(year),
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
    };
    if s.len() == 10 {
        let start = valid(&t).ok_or_else(bad)?;
        return Ok(start + 86_400);
    }
    // A timestamp: `T` (or `t`, or a space), HH:MM:SS, a fraction, a zone.
    let rest = s.get(10..).ok_or_else(bad)?;
    let rest = rest
        .strip_prefix(['T', 't', ' '])
        .filter(|r| r.len() >= 8)
        .ok_or_else(bad)?;
    let (clock, mut zone) = rest.split_at(8);
    let c = clock.as_bytes();
    if c[2] != b':' || c[5] != b':' {
        return Err(bad());
    }
    t.hour = num(&clock[0..2]).ok_or_else(bad)?;
    t.minute = num(&clock[3..5]).ok_or_else(bad)?;
    t.second = num(&clock[6..8]).filter(|s| *s <= 60).ok_or_else(bad)?;
    let mut fraction = false;
    if let Some(f) = zone.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        fraction = f[..digits].bytes().any(|d| d != b'0');
        zone = &f[digits..];
    }
    let offset: i64 = match zone {
        "Z" | "z" => 0,
        _ => {
            let z = zone.as_bytes();
            if z.len() != 6 || z[3] != b':' || !matches!(z[0], b'+' | b'-') {
                return Err(bad());
            }
            let h = i64::from(num(&zone[1..3]).filter(|h| *h < 24).ok_or_else(bad)?);
            let m = i64::from(num(&zone[4..6]).filter(|m| *m < 60).ok_or_else(bad)?);
            let sign = if z[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
    };
    let local = valid(&t).ok_or_else(bad)?;
    let utc = i64::try_from(local).map_err(|_| bad())? - offset;
    // Applies while `now` is before the instant: a fraction rounds up.
    let end = u64::try_from(utc).map_err(|_| bad())? + u64::from(fraction);
    Ok(end)
}

/// Unix seconds of a calendar time that exists (no 30 February).
fn valid(t: &UtcDateTime) -> Option<u64> {
    let secs = t.to_unix()?;
    let into_day = u64::from(t.hour) * 3600 + u64::from(t.minute) * 60 + u64::from(t.second);
    let back = UtcDateTime::from_unix(secs.checked_sub(into_day)?);
    (back.year == t.year && back.month == t.month && back.day == t.day).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::parse::parse_suppress_list;

    #[test]
    fn expiry_dates_and_timestamps() {
        let cases = [
            // A date covers the whole day (UTC).
            ("2026-12-31", 1_798_761_600),
            ("2024-02-29", 1_709_251_200),
            ("2025-07-01T12:00:00Z", 1_751_371_200),
            ("2025-07-01t12:00:00z", 1_751_371_200),
            ("2025-07-01 12:00:00Z", 1_751_371_200),
            ("2025-07-01T14:00:00+02:00", 1_751_371_200),
            ("2025-07-01T07:30:00-04:30", 1_751_371_200),
            ("2025-07-01T12:00:00.000Z", 1_751_371_200),
            ("2025-07-01T11:59:59.25Z", 1_751_371_200),
        ];
        for (text, want) in cases {
            assert_eq!(expiry(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2026-02-30",
            "2025-02-29",
            "31/12/2026",
            "2026-12-31T25:00:00Z",
            "2026-12-31T12:00Z",
            "2026-12-31T12:00:00",
            "2026-12-31T12:00:00+2:00",
            "2026-12-31T12:00:00.Z",
            "2026-12-31X",
            "２０２６-12-31",
        ] {
            assert!(expiry(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_active_entry_for_rule_subject_and_port() {
        let text = "rule,cidr,port,reason,expires\n\
                    port-scan,198.51.100.0/24,,our scanner,2026-01-01\n\
                    *,198.51.100.7,,partner,\n\
                    admin-port-exposed,10.0.0.5,22,bastion,\n\
                    rejected-traffic,2001:db8::/32,,v6 partner,2025-01-01\n\
                    skipped-records,eni-1,,test interface,\n";
        let l = parse_suppress_list("s", "s", text.as_bytes()).unwrap();
        let s = Suppressions::new(&[l]);
        let now = 1_750_962_000; // 2025-06-26
        let later = 1_800_000_000; // 2027
        let ip = |a: &str| Target::Addr(a.parse().unwrap());
        let reason = |rule, target, ports: &[u16], now| {
            s.find(rule, target, ports, now).map(|e| e.reason.as_str())
        };
        assert_eq!(
            reason(RuleId::PortScan, ip("198.51.100.9"), &[], now),
            Some("our scanner")
        );
        assert_eq!(
            reason(RuleId::PortScan, ip("198.51.100.9"), &[], later),
            None,
            "expired"
        );
        assert_eq!(
            reason(RuleId::PortScan, ip("198.51.100.7"), &[], later),
            Some("partner"),
            "the next entry that applies"
        );
        assert_eq!(
            reason(RuleId::RejectedTraffic, ip("198.51.100.9"), &[], now),
            None
        );
        assert_eq!(
            reason(RuleId::AdminPortExposed, ip("10.0.0.5"), &[22], now),
            Some("bastion")
        );
        assert_eq!(
            reason(RuleId::AdminPortExposed, ip("10.0.0.5"), &[3389], now),
            None
        );
        assert_eq!(
            reason(RuleId::AdminPortExposed, ip("10.0.0.6"), &[22], now),
            None
        );
        assert_eq!(
            reason(RuleId::RejectedTraffic, ip("2001:db8::1"), &[], now),
            None,
            "expired at the start of 2025-01-02"
        );
        assert_eq!(
            reason(RuleId::SkippedRecords, Target::Interface("eni-1"), &[], now),
            Some("test interface")
        );
        assert_eq!(
            reason(RuleId::SkippedRecords, Target::Interface("eni-2"), &[], now),
            None
        );
        assert_eq!(s.len(), 5);
        assert!(Suppressions::default()
            .find(RuleId::PortScan, ip("1.2.3.4"), &[], now)
            .is_none());
    }
}
