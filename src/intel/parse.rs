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

use std::net::{IpAddr, Ipv4Addr};

use rustc_hash::FxHashMap;

use super::suppress::{expiry, SuppressList, Suppression, SuppressionTarget};
use super::{IntelError, MAX_LIST_ENTRIES};
use crate::catalogue::RuleId;
use crate::net::Cidr;
use crate::severity::Severity;

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

/// The records of a list's bytes. Comment lines (`#`) and blank lines are
/// skipped, and a line may have any number of fields. Fields are trimmed
/// where they are read ([`text`]): the reader's own trimming copies every
/// record.
///
/// A list with a quote character anywhere is read by the `csv` crate. One
/// without (feeds almost always: addresses, labels, severities) is split
/// at commas and line ends by [`Records::next_unquoted`], which gives the
/// same records at the same positions (a test compares the two on random
/// lists) for a quarter of the instructions: loading a 250,000-entry list
/// is most of what a threat list costs a run.
struct Records<'a> {
    /// The `csv` reader, for a list with quotes.
    rdr: Option<csv::Reader<&'a [u8]>>,
    data: &'a [u8],
    /// Where the last record ended (where [`Records::next_unquoted`]
    /// goes on).
    pos: usize,
    /// Bytes of `data` whose newlines are counted in `newlines`.
    counted: usize,
    /// Newlines before `counted`.
    newlines: u64,
}

impl<'a> Records<'a> {
    fn new(data: &'a [u8]) -> Records<'a> {
        // Spreadsheets write a byte-order mark before the header.
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let quoted = memchr::memchr(b'"', data).is_some();
        Records::with(data, quoted)
    }

    /// `quoted`: read with the `csv` crate (else split by hand).
    fn with(data: &'a [u8], quoted: bool) -> Records<'a> {
        let rdr = quoted.then(|| {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .comment(Some(b'#'))
                .from_reader(data)
        });
        Records {
            rdr,
            data,
            pos: 0,
            counted: 0,
            newlines: 0,
        }
    }

    /// Reads the next record into `rec` and returns where it ends (for
    /// [`Records::line`]); `Ok(None)` at the end.
    fn next(&mut self, rec: &mut csv::ByteRecord, list: &str) -> Result<Option<usize>, IntelError> {
        let Some(rdr) = self.rdr.as_mut() else {
            return Ok(self.next_unquoted(rec));
        };
        let start = self.pos;
        match rdr.read_byte_record(rec) {
            Ok(true) => {
                let end = usize::try_from(rdr.position().byte())
                    .unwrap_or(usize::MAX)
                    .min(self.data.len());
                self.pos = end;
                // A comment on the last line without a line end comes back
                // as one empty field: not a record (a quoted empty field,
                // `""`, is one, and is returned).
                let bytes = self.data.get(start..end).unwrap_or_default();
                if rec.len() == 1 && rec.get(0) == Some(b"") && only_comments(bytes) {
                    return Ok(None);
                }
                Ok(Some(end))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                let end = e
                    .position()
                    .and_then(|p| usize::try_from(p.byte()).ok())
                    .unwrap_or(self.counted);
                let line = self.line(end);
                Err(IntelError::line(list, line, e.to_string()))
            }
        }
    }

    /// The `csv` reader's rules for data without quotes: `\r`, `\n` and
    /// `\r\n` end a record, empty lines are skipped, a line starting with
    /// `#` is a comment up to the next `\n`, fields are split at commas.
    /// The position returned is the reader's: after a `\n`, or after the
    /// `\r` of a `\r\n` (the `\n` is skipped as an empty line).
    fn next_unquoted(&mut self, rec: &mut csv::ByteRecord) -> Option<usize> {
        let data = self.data;
        loop {
            let start = self.pos
                + data
                    .get(self.pos..)?
                    .iter()
                    .position(|b| !matches!(b, b'\r' | b'\n'))?;
            let rest = data.get(start..)?;
            if rest.first() == Some(&b'#') {
                self.pos = memchr::memchr(b'\n', rest).map_or(data.len(), |i| start + i + 1);
                continue;
            }
            let len = memchr::memchr2(b'\r', b'\n', rest).unwrap_or(rest.len());
            let line = rest.get(..len)?;
            rec.clear();
            for field in line.split(|b| *b == b',') {
                rec.push_field(field);
            }
            // Past the terminator, if there is one.
            self.pos = (start + len + 1).min(data.len());
            return Some(self.pos);
        }
    }

    /// The line of the record that ends at `end`: that of its last byte
    /// (the reader's own record positions point at the comment or blank
    /// lines skipped before a record). Counted on demand, from where the
    /// previous call stopped: a threat list asks only for an error, a
    /// suppression list for every entry.
    fn line(&mut self, end: usize) -> u64 {
        // The record's last byte: before its line terminator.
        let last = end.saturating_sub(1).min(self.data.len());
        if last < self.counted {
            self.counted = 0;
            self.newlines = 0;
        }
        let more = self.data.get(self.counted..last).unwrap_or_default();
        self.newlines += memchr::memchr_iter(b'\n', more).count() as u64;
        self.counted = last;
        self.newlines + 1
    }
}

/// Whether `bytes` hold only line ends and `#` comments, by the `csv`
/// reader's rules (a comment runs to the next `\n`).
fn only_comments(mut bytes: &[u8]) -> bool {
    loop {
        let Some(start) = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')) else {
            return true;
        };
        let rest = bytes.get(start..).unwrap_or_default();
        if rest.first() != Some(&b'#') {
            return false;
        }
        match memchr::memchr(b'\n', rest) {
            Some(i) => bytes = rest.get(i + 1..).unwrap_or_default(),
            None => return true,
        }
    }
}

/// A field as text, trimmed.
fn text(rec: &csv::ByteRecord, i: usize) -> Result<&str, String> {
    let raw = rec.get(i).unwrap_or_default().trim_ascii();
    std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())
}

/// An address or CIDR of a threat list: host bits may be set (they are
/// masked); networks wider than [`MIN_PREFIX_V4`] / [`MIN_PREFIX_V6`] are
/// refused.
fn listed_net(s: &str) -> Result<Cidr, String> {
    if let Some(a) = plain_v4(s.as_bytes()) {
        return Ok(Cidr::from(IpAddr::V4(a)));
    }
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

/// `a.b.c.d`, most lines of a feed, without the general parser (a quarter
/// of the cost of loading a list): canonical decimal octets only (no
/// leading zero), so whatever it accepts the standard parser reads the
/// same; anything else goes to [`Cidr::parse`].
fn plain_v4(s: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut n = 0;
    // The current octet's value and digits.
    let (mut v, mut digits) = (0u32, 0u32);
    for &b in s.iter().chain(std::iter::once(&b'.')) {
        if b.is_ascii_digit() {
            // A leading zero is not canonical (and three digits at most).
            if digits == 3 || (digits == 1 && v == 0) {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
            digits += 1;
        } else if b == b'.' && digits > 0 && n < 4 {
            *octets.get_mut(n)? = u8::try_from(v).ok()?;
            n += 1;
            (v, digits) = (0, 0);
        } else {
            return None;
        }
    }
    (n == 4).then(|| Ipv4Addr::from(octets))
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
            .position(|h| h.trim_ascii().eq_ignore_ascii_case(n.as_bytes()))
    })
}

/// Distinct labels of a list, by id.
#[derive(Default)]
struct Labels {
    /// A line's label bytes as read (before the UTF-8 check and the cut):
    /// a known label costs one hash of its bytes.
    raw: FxHashMap<Box<[u8]>, u32>,
    /// The cut labels, so that two long labels with one prefix share an id.
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Labels {
    /// The id of a label field (trimmed), cut to [`MAX_LABEL_CHARS`]; a new
    /// one is allocated once: feeds repeat a few labels.
    fn id(&mut self, raw: &[u8]) -> Result<u32, String> {
        if let Some(id) = self.raw.get(raw) {
            return Ok(*id);
        }
        let label = std::str::from_utf8(raw).map_err(|_| "not UTF-8 text".to_string())?;
        let label = match label.char_indices().nth(MAX_LABEL_CHARS) {
            Some((cut, _)) => &label[..cut],
            None => label,
        };
        let id = match self.ids.get(label) {
            Some(id) => *id,
            None => {
                let id = self.names.len() as u32;
                self.names.push(label.into());
                self.ids.insert(label.into(), id);
                id
            }
        };
        self.raw.insert(raw.into(), id);
        Ok(id)
    }
}

/// What one record of a threat list is.
enum Row {
    /// A comment or a blank line.
    Skip,
    /// The header of a CSV list.
    Header(Columns),
    /// An entry.
    Entry(ThreatEntry),
}

/// Reads one record; `columns` is `None` until the first record decided
/// the list's kind. An error is the message for the record's line.
fn threat_row(
    rec: &csv::ByteRecord,
    columns: Option<Columns>,
    labels: &mut Labels,
) -> Result<Row, String> {
    let Some(cols) = columns else {
        let raw = text(rec, 0)?;
        let one = rec.len() == 1 || has_comment(raw);
        let first = uncommented(raw);
        if one && first.is_empty() {
            return Ok(Row::Skip); // a `;` comment before anything else
        }
        if one && Cidr::parse(first).is_some() {
            return threat_row(rec, Some(Columns::Plain), labels);
        }
        let Some(addr) = column(rec, &["ip", "address", "cidr"]) else {
            let shown: String = raw.chars().take(60).collect();
            return Err(format!(
                "'{shown}' is neither an address or CIDR (a plain list) nor a CSV header with \
                 an ip, address or cidr column"
            ));
        };
        return Ok(Row::Header(Columns::Csv {
            addr,
            label: column(rec, &["label"]),
            severity: column(rec, &["severity"]),
        }));
    };
    match cols {
        Columns::Plain => {
            let raw = text(rec, 0)?;
            let value = uncommented(raw);
            // A comma after a comment is the comment's, not a column.
            if rec.len() > 1 && !has_comment(raw) {
                return Err(
                    "a plain list has one address or CIDR per line (a CSV list needs a header)"
                        .into(),
                );
            }
            if value.is_empty() {
                return Ok(Row::Skip);
            }
            Ok(Row::Entry(ThreatEntry {
                net: listed_net(value)?,
                label: None,
                severity: None,
            }))
        }
        Columns::Csv {
            addr,
            label,
            severity,
        } => {
            if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
                return Ok(Row::Skip); // a line of only spaces
            }
            let raw = rec.get(addr).unwrap_or_default().trim_ascii();
            // Most lines are a plain IPv4 address: no UTF-8 check needed.
            let net = match plain_v4(raw) {
                Some(a) => Cidr::from(IpAddr::V4(a)),
                None => listed_net(text(rec, addr)?)?,
            };
            let label = match label.map(|i| rec.get(i).unwrap_or_default().trim_ascii()) {
                None | Some(b"") => None,
                Some(l) => Some(labels.id(l)?),
            };
            let severity = match severity.map(|i| text(rec, i)).transpose()? {
                None | Some("") => None,
                Some(s) => Some(s.parse::<Severity>()?),
            };
            Ok(Row::Entry(ThreatEntry {
                net,
                label,
                severity,
            }))
        }
    }
}

/// Parses a threat list. `list` names it in errors (its location); the
/// entries are named `name` in titles.
pub fn parse_threat_list(list: &str, name: &str, data: &[u8]) -> Result<ThreatList, IntelError> {
    let mut records = Records::new(data);
    let mut rec = csv::ByteRecord::new();
    let mut columns = None;
    let mut labels = Labels::default();
    let mut entries = Vec::new();
    while let Some(end) = records.next(&mut rec, list)? {
        let row = match threat_row(&rec, columns, &mut labels) {
            Ok(row) => row,
            Err(m) => return Err(IntelError::line(list, records.line(end), m)),
        };
        match row {
            Row::Skip => {}
            Row::Header(c) => columns = Some(c),
            Row::Entry(e) => {
                if entries.len() >= MAX_LIST_ENTRIES {
                    return Err(IntelError::line(
                        list,
                        records.line(end),
                        format!("more than {MAX_LIST_ENTRIES} entries, the most a list may hold"),
                    ));
                }
                // The first entry decides a plain list.
                columns.get_or_insert(Columns::Plain);
                entries.push(e);
            }
        }
    }
    Ok(ThreatList {
        name: name.to_string(),
        entries,
        labels: labels.names,
    })
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
    while let Some(end) = records.next(&mut rec, list)? {
        let line = records.line(end);
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
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        let bad = |m: String| IntelError::line(list, line, m);
        let rule = match text(&rec, cols.rule).map_err(bad)? {
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
        let cidr = text(&rec, cols.cidr).map_err(bad)?;
        let target = if cidr.starts_with("eni-") {
            SuppressionTarget::Interface(cidr.into())
        } else {
            SuppressionTarget::Network(Cidr::parse(cidr).ok_or_else(|| {
                bad(format!(
                    "'{cidr}' is not a CIDR network (or, for skipped-records, an interface id)"
                ))
            })?)
        };
        let port = match cols.port.map(|i| text(&rec, i)).transpose().map_err(bad)? {
            None | Some("") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| bad(format!("'{p}' is not a port (0-65535)")))?,
            ),
        };
        let reason = text(&rec, cols.reason).map_err(bad)?;
        if reason.is_empty() {
            return Err(bad("every suppression needs a reason".into()));
        }
        let expires = match cols
            .expires
            .map(|i| text(&rec, i))
            .transpose()
            .map_err(bad)?
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

    /// Every record of `data` with its end and line, read the one way or
    /// the other.
    fn all_records(data: &[u8], quoted: bool) -> Vec<(Vec<Vec<u8>>, usize, u64)> {
        let mut r = Records::with(data, quoted);
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while let Some(end) = r.next(&mut rec, "t").unwrap() {
            let fields = rec.iter().map(<[u8]>::to_vec).collect();
            out.push((fields, end, r.line(end)));
        }
        out
    }

    proptest::proptest! {
        /// The hand split of a list without quotes is the `csv` crate's.
        #[test]
        fn unquoted_lists_split_as_the_csv_crate_does(
            data in proptest::collection::vec(
                proptest::sample::select(b"1.0/:a ,#;\r\n\t".to_vec()), 0..80)
        ) {
            proptest::prop_assert_eq!(all_records(&data, false), all_records(&data, true));
        }
    }

    #[test]
    fn a_quoted_empty_line_is_a_record_and_a_last_comment_is_not() {
        // `""` reads as one empty field, as a comment on the last line
        // without a line end does: only the comment may end the list.
        let text = "ip,label\n1.2.3.4,a\n\"\"\n5.6.7.8,\"b, c\"\n# the end";
        let l = parse_threat_list("q.csv", "q.csv", text.as_bytes()).unwrap();
        assert_eq!(nets(&l), ["1.2.3.4/32", "5.6.7.8/32"]);
        let records = all_records(text.as_bytes(), true);
        assert_eq!(records.len(), 4, "{records:?}");
        assert_eq!(records[2].0, [b"".to_vec()]);
    }

    #[test]
    fn unquoted_split_edge_cases() {
        for data in [
            &b""[..],
            b"\n\n",
            b"#only a comment",
            b"# c\r1.2.3.4\n5.6.7.8",
            b"a,b\r\n\r\nc,,d\r",
            b",\n,,\n  \n",
            b"1.2.3.4",
        ] {
            assert_eq!(
                all_records(data, false),
                all_records(data, true),
                "{data:?}"
            );
        }
    }

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
    fn the_ipv4_fast_path_reads_what_the_standard_parser_reads() {
        let cases = [
            "0.0.0.0",
            "1.2.3.4",
            "255.255.255.255",
            "198.51.100.250",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.",
            ".1.2.3",
            "a.b.c.d",
            "1.2.3.4/24",
            "+1.2.3.4",
            "1.2.3.0004",
            "",
            "::1",
            "1.2.3.-4",
            "100.200.300.1",
        ];
        for c in cases {
            let fast = plain_v4(c.as_bytes());
            let std = c.parse::<Ipv4Addr>().ok();
            // Whatever the fast path reads, it reads as the standard parser.
            if fast.is_some() {
                assert_eq!(fast, std, "{c}");
            }
            // And it reads every canonical address.
            if let Some(a) = std {
                assert_eq!(fast, Some(a), "{c}");
            }
        }
        let mut x: u32 = 12345;
        for _ in 0..10_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let a = Ipv4Addr::from(x);
            assert_eq!(plain_v4(a.to_string().as_bytes()), Some(a));
        }
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
