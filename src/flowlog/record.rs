//! Typed flow-log records.

use std::net::IpAddr;

use super::field::Field;
use super::format::Format;

/// The `action` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Traffic permitted by security groups and network ACLs.
    Accept,
    /// Traffic rejected.
    Reject,
}

impl Action {
    /// The text AWS writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// The `log-status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStatus {
    /// Data is logging normally.
    Ok,
    /// No traffic on the interface during the aggregation interval.
    NoData,
    /// Some records were skipped during the aggregation interval.
    SkipData,
}

/// The `flow-direction` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowDirection {
    /// Towards the interface.
    Ingress,
    /// Away from the interface.
    Egress,
}

/// The fields the rules and summaries use, parsed into types. Every field is
/// optional: a custom format may leave it out and `-` means no value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowRecord {
    /// `version`.
    pub version: Option<u8>,
    /// `srcaddr`.
    pub srcaddr: Option<IpAddr>,
    /// `dstaddr`.
    pub dstaddr: Option<IpAddr>,
    /// `srcport`.
    pub srcport: Option<u16>,
    /// `dstport`.
    pub dstport: Option<u16>,
    /// `protocol` (IANA number).
    pub protocol: Option<u8>,
    /// `packets`.
    pub packets: Option<u64>,
    /// `bytes`.
    pub bytes: Option<u64>,
    /// `start` (Unix seconds).
    pub start: Option<u64>,
    /// `end` (Unix seconds).
    pub end: Option<u64>,
    /// `action`.
    pub action: Option<Action>,
    /// `log-status`.
    pub log_status: Option<LogStatus>,
    /// `tcp-flags`.
    pub tcp_flags: Option<u16>,
    /// `flow-direction`.
    pub flow_direction: Option<FlowDirection>,
}

/// The text fields the engine reads besides the typed core, in the order
/// of [`RowText::values`].
pub const ROW_TEXT_FIELDS: [Field; 7] = [
    Field::ACCOUNT_ID,
    Field::REGION,
    Field::INTERFACE_ID,
    Field::INSTANCE_ID,
    Field::VPC_ID,
    Field::SUBNET_ID,
    Field::PKT_DST_AWS_SERVICE,
];

/// The text columns of a record that arrived typed (a Parquet row) that
/// the engine reads besides the typed core, as bytes already checked to be
/// UTF-8; `None` when absent or null.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowText<'a> {
    /// The values of [`ROW_TEXT_FIELDS`], in that order.
    pub values: [Option<&'a [u8]>; ROW_TEXT_FIELDS.len()],
}

impl<'a> RowText<'a> {
    /// The value of one of [`ROW_TEXT_FIELDS`].
    #[inline]
    pub fn get(&self, field: Field) -> Option<&'a [u8]> {
        let i = ROW_TEXT_FIELDS.iter().position(|f| *f == field)?;
        self.values[i]
    }
}

/// A typed value of any column, for callers that want every field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `-`: no value.
    Null,
    /// An integer field.
    Int(u64),
    /// An address field.
    Addr(IpAddr),
    /// Any other field, as written.
    Text(&'a str),
}

/// A parsed line: the typed core plus access to every column.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    /// The typed core fields.
    pub record: FlowRecord,
    /// The line, known to be valid UTF-8.
    pub(crate) line: &'a [u8],
    pub(crate) spans: &'a [(u32, u32)],
    pub(crate) format: &'a Format,
}

impl<'a> RecordView<'a> {
    /// The raw text of a column, `None` if the format lacks the field or the
    /// value is `-`.
    pub fn text(&self, field: Field) -> Option<&'a str> {
        std::str::from_utf8(self.raw(field)?).ok()
    }

    /// The raw bytes of a column, `None` if the format lacks the field or
    /// the value is `-`.
    #[inline]
    pub fn raw(&self, field: Field) -> Option<&'a [u8]> {
        self.column_bytes(self.format.position(field)?)
            .filter(|v| *v != b"-")
    }

    /// The raw text of column `i`.
    pub fn column_text(&self, i: usize) -> Option<&'a str> {
        std::str::from_utf8(self.column_bytes(i)?).ok()
    }

    #[inline]
    fn column_bytes(&self, i: usize) -> Option<&'a [u8]> {
        let (s, e) = *self.spans.get(i)?;
        self.line.get(s as usize..e as usize)
    }

    /// The typed value of column `i`. Values were validated when the line was
    /// parsed, so this only re-reads them.
    pub fn value(&self, i: usize) -> Option<Value<'a>> {
        use super::field::FieldKind;
        let text = self.column_text(i)?;
        if text == "-" {
            return Some(Value::Null);
        }
        let kind = match self.format.columns().get(i)? {
            super::format::Column::Known(f) => f.kind(),
            super::format::Column::Other(_) => FieldKind::Text,
        };
        Some(match kind {
            FieldKind::Int { .. } => Value::Int(text.parse().ok()?),
            FieldKind::Addr => Value::Addr(text.parse().ok()?),
            _ => Value::Text(text),
        })
    }

    /// The whole line's bytes (without a trailing `\r`).
    pub fn bytes(&self) -> &'a [u8] {
        self.line
    }

    /// The format the line was parsed with.
    pub fn format(&self) -> &'a Format {
        self.format
    }
}
