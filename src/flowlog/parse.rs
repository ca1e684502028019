//! The line parser: one reusable span buffer, no allocation per line or
//! per field.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::field::{Field, FieldKind};
use super::format::{truncate, Format};
use super::record::{Action, FlowDirection, FlowRecord, LogStatus, RecordView};

/// Lines longer than this are malformed: AWS records are a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Why one line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The line has a different number of columns than the header.
    ColumnCount {
        /// Columns in the format.
        expected: usize,
        /// Columns on the line.
        found: usize,
    },
    /// A value does not parse as its field's type.
    InvalidValue {
        /// Header name of the column.
        field: String,
        /// The offending text (truncated).
        value: String,
    },
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// The line is longer than [`MAX_LINE_BYTES`].
    TooLong,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::ColumnCount { expected, found } => {
                write!(f, "{found} columns where the format has {expected}")
            }
            LineError::InvalidValue { field, value } => {
                write!(f, "invalid value '{value}' for field '{field}'")
            }
            LineError::InvalidUtf8 => f.write_str("not valid UTF-8"),
            LineError::TooLong => write!(f, "line longer than {MAX_LINE_BYTES} bytes"),
        }
    }
}

/// Parses lines of one format, reusing its column buffer.
#[derive(Debug)]
pub struct LineParser {
    format: Format,
    kinds: Vec<FieldKind>,
    /// Which `FlowRecord` slot each column fills.
    slots: Vec<Slot>,
    spans: Vec<(u32, u32)>,
}

/// Which [`FlowRecord`] field a column fills (shared with the Parquet
/// reader, which types its columns the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    None,
    Version,
    SrcAddr,
    DstAddr,
    SrcPort,
    DstPort,
    Protocol,
    Packets,
    Bytes,
    Start,
    End,
    Action,
    LogStatus,
    TcpFlags,
    Direction,
}

impl LineParser {
    /// A parser for `format`.
    pub fn new(format: Format) -> LineParser {
        let kinds = format.kinds();
        let slots = format
            .columns()
            .iter()
            .map(|c| match c {
                super::format::Column::Known(f) => slot_of(*f),
                super::format::Column::Other(_) => Slot::None,
            })
            .collect();
        let n = format.columns().len();
        LineParser {
            format,
            kinds,
            slots,
            spans: Vec::with_capacity(n),
        }
    }

    /// The format lines are parsed with.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// Parses one line (without its `\n`; a trailing `\r` is ignored).
    pub fn parse<'a>(&'a mut self, line: &'a [u8]) -> Result<RecordView<'a>, LineError> {
        self.parse_with(line, false)
    }

    /// [`LineParser::parse`] for a caller that already knows the line is
    /// valid UTF-8 (the scanner checks a whole chunk for ASCII at once).
    /// If it is not, text columns of the view read as absent.
    pub fn parse_with<'a>(
        &'a mut self,
        line: &'a [u8],
        known_utf8: bool,
    ) -> Result<RecordView<'a>, LineError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(LineError::TooLong);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !known_utf8 && std::str::from_utf8(line).is_err() {
            return Err(LineError::InvalidUtf8);
        }
        let record = match self.fast(line) {
            Some(r) => r,
            None => self.slow(line)?,
        };
        Ok(RecordView {
            record,
            line,
            spans: &self.spans,
            format: &self.format,
        })
    }

    /// One pass over the line: each column is split and typed together,
    /// integers and IPv4 octets eight bytes at a time. Anything unusual
    /// (a wrong column count, a bad value, IPv6) returns `None` and the
    /// line goes through [`LineParser::slow`], which says exactly what is
    /// wrong.
    #[inline]
    fn fast(&mut self, b: &[u8]) -> Option<FlowRecord> {
        let n = b.len();
        // One span per column, overwritten in place: no push per field.
        self.spans.resize(self.kinds.len(), (0, 0));
        let mut rec = FlowRecord::default();
        // Where the next field may start: each field's end is a space (or
        // the end of the line), so the field after it starts one further.
        let mut at = 0usize;
        let columns = self
            .kinds
            .iter()
            .zip(&self.slots)
            .zip(self.spans.iter_mut());
        for ((&kind, &slot), span) in columns {
            while b.get(at) == Some(&b' ') {
                at += 1;
            }
            let first = *b.get(at)?;
            let start = at;
            let end = if first == b'-' && matches!(b.get(at + 1), None | Some(b' ')) {
                at + 1
            } else {
                match kind {
                    FieldKind::Int { max } => {
                        let (x, end) = int_at(b, at)?;
                        if x > max {
                            return None;
                        }
                        set_int(&mut rec, slot, x);
                        end
                    }
                    FieldKind::Addr => {
                        let (a, end) = match ipv4_at(b, at) {
                            Some((v4, end)) => (IpAddr::V4(v4), end),
                            None => {
                                let end = field_end(b, at);
                                (parse_addr(&b[at..end])?, end)
                            }
                        };
                        set_addr(&mut rec, slot, a);
                        end
                    }
                    FieldKind::Text => field_end(b, at),
                    kind => {
                        let end = field_end(b, at);
                        if !set_word(&mut rec, kind, &b[at..end]) {
                            return None;
                        }
                        end
                    }
                }
            };
            *span = (start as u32, end as u32);
            at = end + 1;
        }
        while b.get(at) == Some(&b' ') {
            at += 1;
        }
        (at >= n).then_some(rec)
    }
}

/// The slow path, which names the fault.
impl LineParser {
    /// Splits first, then types each column, reporting the first problem.
    fn slow(&mut self, bytes: &[u8]) -> Result<FlowRecord, LineError> {
        self.spans.clear();
        let n = bytes.len();
        let want = self.kinds.len();
        let mut found = 0usize;
        let mut at = 0usize;
        // Fields end at the next space, found eight bytes at a time (SWAR);
        // runs of spaces between fields are skipped.
        while at < n {
            if bytes[at] == b' ' {
                at += 1;
                continue;
            }
            let end = field_end(bytes, at);
            found += 1;
            if found <= want {
                self.spans.push((at as u32, end as u32));
            }
            at = end + 1;
        }
        if found != want {
            return Err(LineError::ColumnCount {
                expected: want,
                found,
            });
        }
        let mut rec = FlowRecord::default();
        for (col, &(s, e)) in self.spans.iter().enumerate() {
            let v = &bytes[s as usize..e as usize];
            if v == b"-" {
                continue;
            }
            let ok = match self.kinds[col] {
                FieldKind::Int { max } => match parse_u64(v) {
                    Some(x) if x <= max => {
                        set_int(&mut rec, self.slots[col], x);
                        true
                    }
                    _ => false,
                },
                FieldKind::Addr => match parse_addr(v) {
                    Some(a) => {
                        set_addr(&mut rec, self.slots[col], a);
                        true
                    }
                    None => false,
                },
                FieldKind::Text => true,
                kind => set_word(&mut rec, kind, v),
            };
            if !ok {
                let field = self.format.columns()[col].name().to_string();
                let value = String::from_utf8_lossy(v);
                return Err(LineError::InvalidValue {
                    field,
                    value: truncate(&value, 64).to_string(),
                });
            }
        }
        Ok(rec)
    }
}

#[inline]
pub(crate) fn set_int(rec: &mut FlowRecord, slot: Slot, x: u64) {
    match slot {
        Slot::Version => rec.version = Some(x as u8),
        Slot::SrcPort => rec.srcport = Some(x as u16),
        Slot::DstPort => rec.dstport = Some(x as u16),
        Slot::Protocol => rec.protocol = Some(x as u8),
        Slot::Packets => rec.packets = Some(x),
        Slot::Bytes => rec.bytes = Some(x),
        Slot::Start => rec.start = Some(x),
        Slot::End => rec.end = Some(x),
        Slot::TcpFlags => rec.tcp_flags = Some(x as u16),
        _ => {}
    }
}

#[inline]
pub(crate) fn set_addr(rec: &mut FlowRecord, slot: Slot, a: IpAddr) {
    match slot {
        Slot::SrcAddr => rec.srcaddr = Some(a),
        Slot::DstAddr => rec.dstaddr = Some(a),
        _ => {}
    }
}

/// The enumerated text fields; `false` for a value outside the field's set.
#[inline]
pub(crate) fn set_word(rec: &mut FlowRecord, kind: FieldKind, v: &[u8]) -> bool {
    match (kind, v) {
        (FieldKind::Action, b"ACCEPT") => rec.action = Some(Action::Accept),
        (FieldKind::Action, b"REJECT") => rec.action = Some(Action::Reject),
        (FieldKind::LogStatus, b"OK") => rec.log_status = Some(LogStatus::Ok),
        (FieldKind::LogStatus, b"NODATA") => rec.log_status = Some(LogStatus::NoData),
        (FieldKind::LogStatus, b"SKIPDATA") => rec.log_status = Some(LogStatus::SkipData),
        (FieldKind::Direction, b"ingress") => rec.flow_direction = Some(FlowDirection::Ingress),
        (FieldKind::Direction, b"egress") => rec.flow_direction = Some(FlowDirection::Egress),
        (FieldKind::Text, _) => {}
        _ => return false,
    }
    true
}

/// Eight bytes from `at`, padded with spaces past the end of the line (a
/// space ends every field).
#[inline]
fn load8(b: &[u8], at: usize) -> u64 {
    let mut word = [b' '; 8];
    if let Some(full) = b.get(at..at + 8) {
        word.copy_from_slice(full); // fixed size: one load, no memcpy call
    } else if let Some(tail) = b.get(at..) {
        word[..tail.len()].copy_from_slice(tail);
    }
    u64::from_le_bytes(word)
}

/// How many of the word's leading (lowest) bytes are ASCII digits (0..=8).
#[inline]
fn digit_count(w: u64) -> u32 {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    // A byte is zero in `v` iff it is 0x30..=0x39. Adding 6 can carry only
    // out of a non-digit byte, into the bytes after the first non-digit,
    // which are not counted.
    let v = ((w & HIGH) ^ THREES) | ((w.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ THREES);
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let nonzero = ((v & LOW7).wrapping_add(LOW7) | v) & 0x8080_8080_8080_8080;
    nonzero.trailing_zeros() / 8
}

/// The value of the word's first `len` bytes (1..=8), which are digits.
#[inline]
fn swar_value(w: u64, len: u32) -> u64 {
    // Move the digits to the top; the zero bytes below read as leading 0s.
    let d = (w << (8 * (8 - len))) & 0x0F0F_0F0F_0F0F_0F0F;
    let d = d.wrapping_mul(2561) >> 8;
    let d = (d & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (d & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

/// [`swar_value`] for 1 to 3 digits (an IPv4 octet): two multiplies.
#[inline]
fn swar_value3(w: u64, len: u32) -> u64 {
    let d = ((w as u32) << (8 * (4 - len))) & 0x0F0F_0F0F;
    let d = d.wrapping_mul(2561) >> 8;
    u64::from((d & 0x00FF_00FF).wrapping_mul(6_553_601) >> 16)
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// A decimal integer of up to 19 digits at `at`, ended by a space or the
/// end of the line: its value and where it ends. `None` otherwise (the slow
/// path then decides, with overflow checks for 20 digits).
#[inline]
fn int_at(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let w = load8(b, at);
    let len = digit_count(w);
    if len == 0 {
        return None;
    }
    if len < 8 {
        if (w >> (8 * len)) as u8 != b' ' {
            return None;
        }
        return Some((swar_value(w, len), at + len as usize));
    }
    let mut x = swar_value(w, 8);
    let mut p = at + 8;
    loop {
        let w = load8(b, p);
        let len = digit_count(w);
        if p - at + len as usize > 19 {
            return None;
        }
        if len < 8 {
            if (w >> (8 * len)) as u8 != b' ' {
                return None;
            }
            if len > 0 {
                x = x * POW10[len as usize] + swar_value(w, len);
            }
            return Some((x, p + len as usize));
        }
        x = x * POW10[8] + swar_value(w, 8);
        p += 8;
    }
}

/// A dotted-quad IPv4 address at `at` ended by a space or the end of the
/// line (std's rules: 1 to 3 digits an octet, no leading zeros).
#[inline]
fn ipv4_at(b: &[u8], at: usize) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut p = at;
    for (i, octet) in octets.iter_mut().enumerate() {
        let w = load8(b, p);
        let len = digit_count(w);
        if len == 0 || len > 3 || (len > 1 && w as u8 == b'0') {
            return None;
        }
        let v = swar_value3(w, len);
        let end = if i < 3 { b'.' } else { b' ' };
        if v > 255 || (w >> (8 * len)) as u8 != end {
            return None;
        }
        *octet = v as u8;
        p += len as usize + 1;
    }
    Some((Ipv4Addr::from(octets), p - 1))
}

pub(crate) fn slot_of(f: Field) -> Slot {
    match f {
        Field::VERSION => Slot::Version,
        Field::SRCADDR => Slot::SrcAddr,
        Field::DSTADDR => Slot::DstAddr,
        Field::SRCPORT => Slot::SrcPort,
        Field::DSTPORT => Slot::DstPort,
        Field::PROTOCOL => Slot::Protocol,
        Field::PACKETS => Slot::Packets,
        Field::BYTES => Slot::Bytes,
        Field::START => Slot::Start,
        Field::END => Slot::End,
        Field::ACTION => Slot::Action,
        Field::LOG_STATUS => Slot::LogStatus,
        Field::TCP_FLAGS => Slot::TcpFlags,
        Field::FLOW_DIRECTION => Slot::Direction,
        _ => Slot::None,
    }
}

/// Bytes equal to b' ' in a little-endian word: the high bit of each such
/// byte is set, and no other bit (exact, no false positives).
#[inline]
fn space_mask(w: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let x = w ^ 0x2020_2020_2020_2020;
    let t = (x & LOW7).wrapping_add(LOW7);
    !(t | x | LOW7)
}

/// The index of the first space at or after `at`, or `bytes.len()`.
#[inline]
fn field_end(bytes: &[u8], mut at: usize) -> usize {
    let n = bytes.len();
    loop {
        let m = space_mask(load8(bytes, at));
        if m != 0 {
            return (at + (m.trailing_zeros() / 8) as usize).min(n);
        }
        at += 8;
        if at >= n {
            return n;
        }
    }
}

/// Decimal digits only, no sign, no overflow.
#[inline]
pub(crate) fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let mut x: u64 = 0;
    for &c in v {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        x = x.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(x)
}

/// IPv4 dotted quad on a fast path (same rules as std: no leading zeros),
/// IPv6 through std.
#[inline]
pub(crate) fn parse_addr(v: &[u8]) -> Option<IpAddr> {
    if let Some(a) = parse_ipv4(v) {
        return Some(IpAddr::V4(a));
    }
    if v.contains(&b':') {
        return std::str::from_utf8(v).ok()?.parse().ok();
    }
    None
}

#[inline]
fn parse_ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    if v.len() < 7 || v.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut part = 0usize;
    let mut acc: u32 = 0;
    let mut digits = 0u8;
    for &c in v {
        if c == b'.' {
            if digits == 0 || part == 3 {
                return None;
            }
            octets[part] = acc as u8;
            part += 1;
            acc = 0;
            digits = 0;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 || (digits == 1 && acc == 0) || digits == 3 {
            return None;
        }
        acc = acc * 10 + u32::from(d);
        if acc > 255 {
            return None;
        }
        digits += 1;
    }
    if part != 3 || digits == 0 {
        return None;
    }
    octets[3] = acc as u8;
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2() -> LineParser {
        LineParser::new(Format::default_v2())
    }

    #[test]
    fn parses_default_record() {
        let mut p = v2();
        let line = b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
        let r = p.parse(line).unwrap();
        assert_eq!(r.record.srcaddr, Some("172.31.16.139".parse().unwrap()));
        assert_eq!(r.record.dstport, Some(22));
        assert_eq!(r.record.packets, Some(20));
        assert_eq!(r.record.action, Some(Action::Accept));
        assert_eq!(r.record.log_status, Some(LogStatus::Ok));
        assert_eq!(r.text(Field::ACCOUNT_ID), Some("123456789010"));
    }

    #[test]
    fn spaces_crlf_and_dashes() {
        let mut p = v2();
        let line = b"2  123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA\r";
        let r = p.parse(line).unwrap();
        assert_eq!(r.record.srcaddr, None);
        assert_eq!(r.record.log_status, Some(LogStatus::NoData));
        assert_eq!(r.text(Field::INTERFACE_ID), Some("eni-1"));
    }

    #[test]
    fn rejects_bad_values() {
        let base = "2 1 eni-1 10.0.0.1 10.0.0.2 SP DP 6 PK 10 1 2 ACCEPT OK";
        let cases = [
            (("1", "70000", "1"), "dstport"),
            (("1", "22", "-5"), "packets"),
            (("1", "22", "18446744073709551616"), "packets"),
            (("x", "22", "1"), "srcport"),
        ];
        for ((sp, dp, pk), field) in cases {
            let line = base.replace("SP", sp).replace("DP", dp).replace("PK", pk);
            let mut p = v2();
            match p.parse(line.as_bytes()) {
                Err(LineError::InvalidValue { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{line}: {other:?}"),
            }
        }
        let mut p = v2();
        let max = base
            .replace("SP", "1")
            .replace("DP", "2")
            .replace("PK", "18446744073709551615");
        assert_eq!(
            p.parse(max.as_bytes()).unwrap().record.packets,
            Some(u64::MAX)
        );
        assert!(matches!(
            p.parse(b"2 1 2"),
            Err(LineError::ColumnCount {
                expected: 14,
                found: 3
            })
        ));
        assert_eq!(p.parse(b"2 \xff").unwrap_err(), LineError::InvalidUtf8);
        assert_eq!(
            p.parse(&vec![b'1'; MAX_LINE_BYTES + 1]).unwrap_err(),
            LineError::TooLong
        );
    }

    #[test]
    fn short_digit_runs_convert_alike() {
        for v in 0..1000u32 {
            let text = format!("{v} ");
            let w = load8(text.as_bytes(), 0);
            let len = digit_count(w);
            assert_eq!(swar_value3(w, len), u64::from(v), "{v}");
            assert_eq!(swar_value(w, len), u64::from(v), "{v}");
        }
    }

    #[test]
    fn word_at_a_time_matches_byte_at_a_time() {
        let mut ints: Vec<String> = vec!["0".into(), "007".into(), u64::MAX.to_string()];
        let mut x: u64 = 1;
        for _ in 0..19 {
            ints.push(x.to_string());
            ints.push((x - 1).to_string());
            ints.push((x * 9 + 7).to_string());
            x *= 10;
        }
        ints.push("18446744073709551616".into()); // 20 digits, overflows
        ints.push("123456789012345678901".into());
        for v in &ints {
            for tail in ["", " ", " x", "x", ".", "-"] {
                let line = format!("{v}{tail}");
                let fast = int_at(line.as_bytes(), 0);
                let ends = tail.is_empty() || tail.starts_with(' ');
                let want = parse_u64(v.as_bytes()).filter(|_| ends);
                match fast {
                    Some((n, end)) => {
                        assert_eq!(Some(n), want, "{line:?}");
                        assert_eq!(end, v.len(), "{line:?}");
                    }
                    // The fast path may give up (20 digits); never wrongly.
                    None => assert!(want.is_none() || v.len() > 19, "{line:?}"),
                }
            }
        }
        let addrs = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "1.22.133.4",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4x",
            "1234.1.1.1",
        ];
        for a in addrs {
            for tail in ["", " 7"] {
                let line = format!("{a}{tail}");
                let fast = ipv4_at(line.as_bytes(), 0).map(|(v, end)| (v, end == a.len()));
                assert_eq!(
                    fast,
                    parse_ipv4(a.as_bytes()).map(|v| (v, true)),
                    "{line:?}"
                );
            }
        }
    }

    #[test]
    fn addresses() {
        let ok = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "::1",
            "2001:db8::ff00:42:8329",
            "fe80::1",
        ];
        for a in ok {
            assert_eq!(parse_addr(a.as_bytes()), Some(a.parse().unwrap()), "{a}");
        }
        let bad = [
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1..2.3",
            "a.b.c.d",
            "1.2.3.4 ",
            ":::",
            "1234",
        ];
        for a in bad {
            assert_eq!(parse_addr(a.as_bytes()), None, "{a}");
        }
    }
}
