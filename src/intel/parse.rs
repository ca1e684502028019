//! Reading lists (SPEC section 8) with the `csv` crate, one reused record
//! buffer for the whole list.
//!
//! A threat list is plain text (one address or CIDR per line; `#` and `;`
//! start a comment, so Spamhaus-style `1.10.16.0/20 ; SBL256894` lines
//! work) or CSV whose header has an `ip`, `address` or `cidr` column and
//! optional `label` and `severity` columns. Which one is decided by the
//! first line that is not blank or a comment: an address or CIDR starts a
//! plain list, anything else must be a CSV header. A suppression list is
//! CSV with the columns `rule`, `cidr`, `port`, `reason` and `expires`.
//!
//! A bad line is an [`IntelError`] naming the list and the line, and the
//! whole list is refused: flowguard never runs with half a list.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::suppress::{expiry, Suppression, SuppressionTarget};
use super::{IntelError, MAX_LIST_ENTRIES};
use crate::net::Cidr;
use crate::severity::{RuleId, Severity};

/// The widest IPv4 network a threat list may name: wider would match a
/// large part of the internet (a `0.0.0.0/0` typo would make every flow a
/// finding).
pub const MIN_PREFIX_V4: u8 = 8;
/// The widest IPv6 network a threat list may name.
pub const MIN_PREFIX_V6: u8 = 16;
/// Labels are cut to this many characters for titles.
pub const MAX_LABEL_CHARS: usize = 100;

/// One listed network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreatEntry {
    /// The address or network.
    pub net: Cidr,
    /// Index into [`ThreatList::labels`], if the line has a label.
    pub label: Option<u32>,
    /// The line's severity, if given (else the rule's).
    pub severity: Option<Severity>,
}

/// A parsed threat list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreatList {
    /// The name titles give it (the file name, e.g. `intel.csv`).
    pub name: String,
    /// Its entries, in file order.
    pub entries: Vec<ThreatEntry>,
    /// Its distinct labels (feeds repeat a few labels many times).
    pub labels: Vec<Box<str>>,
}

/// A parsed suppression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressList {
    /// The list's name.
    pub name: String,
    /// Its entries, in file order.
    pub entries: Vec<Suppression>,
}

/// The records of a list's bytes, with their line numbers. Comment lines
/// (`#`) and blank lines are skipped, fields are trimmed, and a line may
/// have any number of fields.
struct Records<'a> {
    rdr: csv::Reader<&'a [u8]>,
    data: &'a [u8],
    /// Bytes of `data` whose newlines are counted in `line`.
    counted: usize,
    /// Newlines before `counted`.
    newlines: u64,
}

impl<'a> Records<'a> {
    fn new(data: &'a [u8]) -> Records<'a> {
        // Spreadsheets write a byte-order mark before the header.
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(data);
        Records {
            rdr,
            data,
            counted: 0,
            newlines: 0,
        }
    }

    /// Reads the next record into `rec` and returns its line; `Ok(None)`
    /// at the end. The reader's own record positions point at the comment
    /// or blank lines skipped before a record, so the line is that of the
    /// record's last byte, counted here.
    fn next(&mut self, rec: &mut csv::ByteRecord, list: &str) -> Result<Option<u64>, IntelError> {
        match self.rdr.read_byte_record(rec) {
            Ok(true) => {
                let end = usize::try_from(self.rdr.position().byte())
                    .unwrap_or(usize::MAX)
                    .min(self.data.len());
                // The record's last byte: before its line terminator.
                let last = end.saturating_sub(1).max(self.counted);
                let more = self.data.get(self.counted..last).unwrap_or_default();
                self.newlines += memchr::memchr_iter(b'\n', more).count() as u64;
                self.counted = last;
                Ok(Some(self.newlines + 1))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                let line = e.position().map_or(self.newlines + 1, |p| p.line());
                Err(IntelError::line(list, line, e.to_string()))
            }
        }
    }
}

/// A field as text; invalid UTF-8 is an error naming the line.
fn text<'r>(
    rec: &'r csv::ByteRecord,
    i: usize,
    list: &str,
    line: u64,
) -> Result<&'r str, IntelError> {
    let raw = rec.get(i).unwrap_or_default();
    std::str::from_utf8(raw).map_err(|_| IntelError::line(list, line, "not UTF-8 text"))
}

/// An address or CIDR of a threat list: host bits may be set (they are
/// masked); networks wider than [`MIN_PREFIX_V4`] / [`MIN_PREFIX_V6`] are
/// refused.
fn listed_net(s: &str) -> Result<Cidr, String> {
    let net =
        Cidr::parse(s).ok_or_else(|| format!("'{s}' is not an IPv4 or IPv6 address or CIDR"))?;
    let (min, family) = match net.addr() {
        IpAddr::V4(_) => (MIN_PREFIX_V4, "IPv4"),
        IpAddr::V6(_) => (MIN_PREFIX_V6, "IPv6"),
    };
    if net.prefix() < min {
        return Err(format!(
            "'{s}' is wider than /{min}, the widest {family} network a threat list may name \
             (it would match a large part of the internet)"
        ));
    }
    Ok(net)
}

/// Whether a plain-list field holds the start of a comment.
fn has_comment(s: &str) -> bool {
    s.contains(['#', ';'])
}

/// The text of a plain-list line without its comment.
fn uncommented(s: &str) -> &str {
    s.split(['#', ';']).next().unwrap_or_default().trim()
}

/// The columns of a threat list.
#[derive(Debug, Clone, Copy)]
enum Columns {
    /// One address or CIDR per line.
    Plain,
    /// CSV: the positions of the address, label and severity columns.
    Csv {
        addr: usize,
        label: Option<usize>,
        severity: Option<usize>,
    },
}

/// Finds a header's columns: the first of `names` (case-insensitive).
fn column(header: &csv::ByteRecord, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(n.as_bytes()))
    })
}

/// Parses a threat list. `list` names it in errors (its location); the
/// entries are named `name` in titles.
pub fn parse_threat_list(list: &str, name: &str, data: &[u8]) -> Result<ThreatList, IntelError> {
    let mut records = Records::new(data);
    let mut rec = csv::ByteRecord::new();
    let mut columns = None;
    let mut out = ThreatList {
        name: name.to_string(),
        entries: Vec::new(),
        labels: Vec::new(),
    };
    let mut label_ids: FxHashMap<Box<str>, u32> = FxHashMap::default();
    while let Some(line) = records.next(&mut rec, list)? {
        let cols = match columns {
            Some(c) => c,
            None => {
                let raw = text(&rec, 0, list, line)?;
                let one = rec.len() == 1 || has_comment(raw);
                let first = uncommented(raw);
                if one && first.is_empty() {
                    continue; // a `;` comment before anything else
                }
                if one && Cidr::parse(first).is_some() {
                    columns = Some(Columns::Plain);
                    Columns::Plain
                } else {
                    let Some(addr) = column(&rec, &["ip", "address", "cidr"]) else {
                        let shown: String = text(&rec, 0, list, line)?.chars().take(60).collect();
                        return Err(IntelError::line(
                            list,
                            line,
                            format!(
                                "'{shown}' is neither an address or CIDR (a plain list) nor a CSV \
                                 header with an ip, address or cidr column"
                            ),
                        ));
                    };
                    columns = Some(Columns::Csv {
                        addr,
                        label: column(&rec, &["label"]),
                        severity: column(&rec, &["severity"]),
                    });
                    continue;
                }
            }
        };
        let entry = match cols {
            Columns::Plain => {
                let raw = text(&rec, 0, list, line)?;
                let value = uncommented(raw);
                // A comma after a comment is the comment's, not a column.
                if rec.len() > 1 && !has_comment(raw) {
                    return Err(IntelError::line(
                        list,
                        line,
                        "a plain list has one address or CIDR per line (a CSV list needs a header)",
                    ));
                }
                if value.is_empty() {
                    continue;
                }
                let net = listed_net(value).map_err(|m| IntelError::line(list, line, m))?;
                ThreatEntry {
                    net,
                    label: None,
                    severity: None,
                }
            }
            Columns::Csv {
                addr,
                label,
                severity,
            } => {
                if rec.len() == 1 && rec.get(0).is_some_and(<[u8]>::is_empty) {
                    continue; // a line of only spaces
                }
                let value = text(&rec, addr, list, line)?;
                let net = listed_net(value).map_err(|m| IntelError::line(list, line, m))?;
                let label = match label {
                    Some(i) => text(&rec, i, list, line)?,
                    None => "",
                };
                let label = if label.is_empty() {
                    None
                } else {
                    let label: Box<str> = label.chars().take(MAX_LABEL_CHARS).collect();
                    let next = out.labels.len() as u32;
                    let id = *label_ids.entry(label.clone()).or_insert_with(|| {
                        out.labels.push(label);
                        next
                    });
                    Some(id)
                };
                let severity = match severity.map(|i| text(&rec, i, list, line)).transpose()? {
                    None | Some("") => None,
                    Some(s) => Some(
                        s.parse::<Severity>()
                            .map_err(|m| IntelError::line(list, line, m))?,
                    ),
                };
                ThreatEntry {
                    net,
                    label,
                    severity,
                }
            }
        };
        if out.entries.len() >= MAX_LIST_ENTRIES {
            return Err(IntelError::line(
                list,
                line,
                format!("more than {MAX_LIST_ENTRIES} entries, the most a list may hold"),
            ));
        }
        out.entries.push(entry);
    }
    Ok(out)
}

/// The columns of a suppression list.
struct SuppressColumns {
    rule: usize,
    cidr: usize,
    reason: usize,
    port: Option<usize>,
    expires: Option<usize>,
}

/// Parses a suppression list: CSV with a header naming the columns `rule`
/// (a rule id or `*`), `cidr` (a network; for `skipped-records`, whose
/// subject is a network interface, an interface id), `reason`, and
/// optionally `port` and `expires` (an RFC 3339 date or timestamp). An
/// empty `port` matches any port; an empty `expires` never expires.
pub fn parse_suppress_list(
    list: &str,
    name: &str,
    data: &[u8],
) -> Result<SuppressList, IntelError> {
    let mut records = Records::new(data);
    let mut rec = csv::ByteRecord::new();
    let mut columns: Option<SuppressColumns> = None;
    let mut out = SuppressList {
        name: name.to_string(),
        entries: Vec::new(),
    };
    while let Some(line) = records.next(&mut rec, list)? {
        let Some(cols) = &columns else {
            let find = |n: &str| column(&rec, &[n]);
            let (Some(rule), Some(cidr), Some(reason)) =
                (find("rule"), find("cidr"), find("reason"))
            else {
                return Err(IntelError::line(
                    list,
                    line,
                    "the first line must be a CSV header with the columns rule, cidr, reason \
                     and optionally port and expires",
                ));
            };
            columns = Some(SuppressColumns {
                rule,
                cidr,
                reason,
                port: find("port"),
                expires: find("expires"),
            });
            continue;
        };
        if rec.len() == 1 && rec.get(0).is_some_and(<[u8]>::is_empty) {
            continue;
        }
        let bad = |m: String| IntelError::line(list, line, m);
        let rule = match text(&rec, cols.rule, list, line)? {
            "*" => None,
            r => Some(
                RuleId::ALL
                    .iter()
                    .copied()
                    .find(|id| id.as_str() == r)
                    .ok_or_else(|| {
                        let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                        bad(format!(
                            "no rule named '{r}' (rules: *, {})",
                            known.join(", ")
                        ))
                    })?,
            ),
        };
        let cidr = text(&rec, cols.cidr, list, line)?;
        let target = if cidr.starts_with("eni-") {
            SuppressionTarget::Interface(cidr.into())
        } else {
            SuppressionTarget::Network(Cidr::parse(cidr).ok_or_else(|| {
                bad(format!(
                    "'{cidr}' is not a CIDR network (or, for skipped-records, an interface id)"
                ))
            })?)
        };
        let port = match cols.port.map(|i| text(&rec, i, list, line)).transpose()? {
            None | Some("") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| bad(format!("'{p}' is not a port (0-65535)")))?,
            ),
        };
        let reason = text(&rec, cols.reason, list, line)?;
        if reason.is_empty() {
            return Err(bad("every suppression needs a reason".into()));
        }
        let expires = match cols
            .expires
            .map(|i| text(&rec, i, list, line))
            .transpose()?
        {
            None | Some("") => None,
            Some(e) => Some(expiry(e).map_err(bad)?),
        };
        if out.entries.len() >= MAX_LIST_ENTRIES {
            return Err(bad(format!(
                "more than {MAX_LIST_ENTRIES} entries, the most a list may hold"
            )));
        }
        out.entries.push(Suppression {
            rule,
            target,
            port,
            reason: reason.to_string(),
            expires,
            list: name.to_string(),
            line,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(l: &ThreatList) -> Vec<String> {
        l.entries.iter().map(|e| e.net.to_string()).collect()
    }

    #[test]
    fn plain_lists_with_comments_cidrs_and_ipv6() {
        let text = "\u{feff}# C2 feed, 2025-06-26\n\n198.51.100.250\n203.0.113.0/24   # scanner net\n\
                    ; a Spamhaus-style comment\n1.10.16.0/20 ; SBL256894\r\n192.0.2.1 # c2, beacon\n2001:db8::dead\n2001:db8:bad::/48\n   \n";
        let l = parse_threat_list("s3://b/c2.txt", "c2.txt", text.as_bytes()).unwrap();
        assert_eq!(
            nets(&l),
            [
                "198.51.100.250/32",
                "203.0.113.0/24",
                "1.10.16.0/20",
                "192.0.2.1/32",
                "2001:db8::dead/128",
                "2001:db8:bad::/48"
            ]
        );
        assert!(l
            .entries
            .iter()
            .all(|e| e.label.is_none() && e.severity.is_none()));
        assert_eq!(l.name, "c2.txt");
        let empty = parse_threat_list("e", "e", b"# nothing listed today\n").unwrap();
        assert!(empty.entries.is_empty());
    }

    #[test]
    fn csv_lists_with_labels_and_severities() {
        let text = "Severity,IP,label,first_seen\n\
                    high,198.51.100.250,c2 beacon host,2025-06-01\n\
                    ,203.0.113.0/24,scanner,\n\
                    low,\"2001:db8::1\",\"tor exit, relay\",\n\
                    medium,192.0.2.7,scanner,x\n";
        let l = parse_threat_list("intel.csv", "intel.csv", text.as_bytes()).unwrap();
        assert_eq!(
            nets(&l),
            [
                "198.51.100.250/32",
                "203.0.113.0/24",
                "2001:db8::1/128",
                "192.0.2.7/32"
            ]
        );
        let labels: Vec<Option<&str>> = l
            .entries
            .iter()
            .map(|e| e.label.map(|i| &*l.labels[i as usize]))
            .collect();
        assert_eq!(
            labels,
            [
                Some("c2 beacon host"),
                Some("scanner"),
                Some("tor exit, relay"),
                Some("scanner")
            ]
        );
        assert_eq!(l.labels.len(), 3, "labels are interned");
        let sev: Vec<_> = l.entries.iter().map(|e| e.severity).collect();
        assert_eq!(
            sev,
            [
                Some(Severity::High),
                None,
                Some(Severity::Low),
                Some(Severity::Medium)
            ]
        );
        // `address` and `cidr` name the column too; a label-less CSV.
        for header in ["address", "CIDR"] {
            let l =
                parse_threat_list("x", "x", format!("{header}\n10.1.2.3\n").as_bytes()).unwrap();
            assert_eq!(nets(&l), ["10.1.2.3/32"]);
        }
    }

    #[test]
    fn a_bad_line_refuses_the_list_and_names_the_line() {
        let cases: [(&str, u64, &str); 8] = [
            (
                "198.51.100.1\n198.51.100.300\n",
                2,
                "'198.51.100.300' is not",
            ),
            ("# feed\n198.51.100.1\n\n10.0.0.0/33\n", 4, "'10.0.0.0/33'"),
            ("198.51.100.1\n0.0.0.0/0\n", 2, "wider than /8"),
            ("198.51.100.1\n2001::/8\n", 2, "wider than /16"),
            (
                "1.2.3.4\n5.6.7.8,9.9.9.9\n",
                2,
                "one address or CIDR per line",
            ),
            ("hostname,label\nx,y\n", 1, "nor a CSV header"),
            (
                "ip,severity\n1.2.3.4,urgent\n",
                2,
                "'urgent' is not a severity",
            ),
            ("ip,label\n1.2.3.4,ok\n1.2.3.x,bad\n", 3, "'1.2.3.x' is not"),
        ];
        for (text, line, says) in cases {
            let e =
                parse_threat_list("s3://b/intel.csv", "intel.csv", text.as_bytes()).unwrap_err();
            assert_eq!(e.list, "s3://b/intel.csv", "{text:?}");
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(e.message.contains(says), "{text:?}: {e}");
        }
        let e = parse_threat_list("l", "l", b"1.2.3.4\n\xff\xfe\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (Some(2), "not UTF-8 text"));
    }

    #[test]
    fn at_most_250000_entries() {
        let mut text = String::with_capacity(MAX_LIST_ENTRIES * 16);
        for i in 0..MAX_LIST_ENTRIES as u32 {
            text.push_str(&std::net::Ipv4Addr::from(0x0B00_0000 + i).to_string());
            text.push('\n');
        }
        let full = parse_threat_list("l", "l", text.as_bytes()).unwrap();
        assert_eq!(full.entries.len(), MAX_LIST_ENTRIES);
        text.push_str("203.0.113.9\n");
        let e = parse_threat_list("l", "l", text.as_bytes()).unwrap_err();
        assert_eq!(e.line, Some(MAX_LIST_ENTRIES as u64 + 1));
        assert!(e.message.contains("more than 250000 entries"), "{e}");
    }

    #[test]
    fn suppression_lists() {
        let text = "rule,cidr,port,reason,expires\n\
                    port-scan,198.51.100.0/24,,our vulnerability scanner (Qualys),2026-12-31\n\
                    admin-port-exposed,10.0.0.5/32,22,the bastion is meant to be open,\n\
                    *,2001:db8::7,,partner monitoring,2025-07-01T12:00:00Z\n\
                    skipped-records,eni-0a1b2c3d,,noisy test interface,\n";
        let l = parse_suppress_list("s3://b/exceptions.csv", "exceptions.csv", text.as_bytes())
            .unwrap();
        assert_eq!(l.entries.len(), 4);
        let e = &l.entries[0];
        assert_eq!(e.rule, Some(RuleId::PortScan));
        assert_eq!(e.port, None);
        assert_eq!(e.reason, "our vulnerability scanner (Qualys)");
        // The whole of 2026-12-31 (UTC).
        assert_eq!(e.expires, Some(1_798_761_600));
        assert_eq!((e.list.as_str(), e.line), ("exceptions.csv", 2));
        assert_eq!(l.entries[1].port, Some(22));
        assert_eq!(l.entries[1].expires, None);
        assert_eq!(l.entries[2].rule, None);
        assert_eq!(l.entries[2].expires, Some(1_751_371_200));
        assert_eq!(
            l.entries[3].target,
            SuppressionTarget::Interface("eni-0a1b2c3d".into())
        );
        // Columns in any order; port and expires may be left out.
        let l = parse_suppress_list("x", "x", b"reason,cidr,rule\nbastion,10.0.0.5,*\n").unwrap();
        assert_eq!((l.entries[0].port, l.entries[0].expires), (None, None));
    }

    #[test]
    fn a_bad_suppression_refuses_the_list_and_names_the_line() {
        let head = "rule,cidr,port,reason,expires\n";
        let cases = [
            (
                "port-scan,1.2.3.4,,ok,\nport-scn,1.2.3.4,,typo,\n",
                3,
                "no rule named 'port-scn'",
            ),
            ("*,1.2.3.4/40,,x,\n", 2, "'1.2.3.4/40' is not a CIDR"),
            ("*,1.2.3.4,ssh,x,\n", 2, "'ssh' is not a port"),
            ("*,1.2.3.4,22,,\n", 2, "needs a reason"),
            (
                "*,1.2.3.4,22,x,31/12/2026\n",
                2,
                "'31/12/2026' is not an RFC 3339",
            ),
            ("*,1.2.3.4,22,x,2026-02-30\n", 2, "'2026-02-30' is not"),
        ];
        for (body, line, says) in cases {
            let text = format!("{head}{body}");
            let e = parse_suppress_list("ex.csv", "ex.csv", text.as_bytes()).unwrap_err();
            assert_eq!(e.line, Some(line), "{body:?}: {e}");
            assert!(e.message.contains(says), "{body:?}: {e}");
        }
        let e = parse_suppress_list("ex.csv", "ex.csv", b"1.2.3.4,x\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("header"), "{e}");
    }
}
