//! A flow-log format: the ordered list of columns an object's header names.

use super::field::{Field, FieldKind, DEFAULT_V2, FIELDS};

/// One column of a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// A field from the catalogue.
    Known(Field),
    /// A name flowguard does not know (a newer AWS field, or a repeated
    /// name): carried through as text.
    Other(String),
}

impl Column {
    /// The header name of the column.
    pub fn name(&self) -> &str {
        match self {
            Column::Known(f) => f.name(),
            Column::Other(n) => n,
        }
    }
}

/// The columns of one object, from its header or the v2 default.
#[derive(Debug, Clone)]
pub struct Format {
    columns: Vec<Column>,
    /// Column index of each catalogue field, if the format has it.
    index: Vec<Option<u16>>,
    has_header: bool,
    warnings: Vec<String>,
}

/// What the first non-blank line of an object turned out to be.
#[derive(Debug)]
pub enum FirstLine {
    /// A header naming the columns; it is not a record.
    Header(Format),
    /// No header: a 14-column record in the default v2 format.
    Headerless(Format),
    /// Neither: the object is not a flow log.
    NotFlowLog(String),
}

/// Maximum number of columns accepted in a header: AWS documents fewer than
/// 70 fields, so anything far above that is not a flow-log header.
pub const MAX_COLUMNS: usize = 256;

impl Format {
    /// The default 14-field version 2 format (no header).
    pub fn default_v2() -> Format {
        Format::from_columns(
            DEFAULT_V2.iter().map(|f| Column::Known(*f)).collect(),
            false,
        )
    }

    /// Builds a format from a header line such as
    /// `version account-id interface-id srcaddr ...`.
    ///
    /// Unknown names become text columns with a warning; a name repeated
    /// later in the header is kept as a text column (the first one wins).
    pub fn from_header(line: &str) -> Result<Format, String> {
        let mut columns = Vec::new();
        let mut seen = vec![false; FIELDS.len()];
        let mut warnings = Vec::new();
        for raw in line.split(' ').filter(|t| !t.is_empty()) {
            if !looks_like_field_name(raw) {
                return Err(format!("'{}' is not a field name", truncate(raw, 40)));
            }
            let name = raw.replace('_', "-");
            if columns.len() >= MAX_COLUMNS {
                return Err(format!("more than {MAX_COLUMNS} columns"));
            }
            match Field::from_name(&name) {
                Some(f) if !seen[f.0 as usize] => {
                    seen[f.0 as usize] = true;
                    columns.push(Column::Known(f));
                }
                Some(_) => {
                    warnings.push(format!(
                        "field '{name}' appears twice in the header; the first column is used"
                    ));
                    columns.push(Column::Other(name));
                }
                None => {
                    warnings.push(format!("unknown field '{name}' carried through as text"));
                    columns.push(Column::Other(name));
                }
            }
        }
        if !columns.iter().any(|c| matches!(c, Column::Known(_))) {
            return Err("no known flow-log field in the header".to_string());
        }
        let mut format = Format::from_columns(columns, true);
        format.warnings = warnings;
        Ok(format)
    }

    /// Decides whether the first non-blank line of an object is a header, a
    /// headerless v2 record, or something that is not a flow log.
    pub fn detect(line: &[u8]) -> FirstLine {
        let text = match std::str::from_utf8(line) {
            Ok(t) => t.trim_end_matches('\r').trim(),
            Err(_) => {
                return FirstLine::NotFlowLog("first line is not text (invalid UTF-8)".into())
            }
        };
        let starts_like_header = text
            .split(' ')
            .find(|t| !t.is_empty())
            .is_some_and(looks_like_field_name);
        if starts_like_header {
            return match Format::from_header(text) {
                Ok(f) => FirstLine::Header(f),
                Err(e) => FirstLine::NotFlowLog(format!("unrecognisable header: {e}")),
            };
        }
        let columns = text.split(' ').filter(|t| !t.is_empty()).count();
        if columns == DEFAULT_V2.len() {
            FirstLine::Headerless(Format::default_v2())
        } else {
            FirstLine::NotFlowLog(format!(
                "no header, and the first line has {columns} columns instead of the 14 of the default format"
            ))
        }
    }

    fn from_columns(columns: Vec<Column>, has_header: bool) -> Format {
        let mut index = vec![None; FIELDS.len()];
        for (i, c) in columns.iter().enumerate() {
            if let Column::Known(f) = c {
                index[f.0 as usize] = Some(i as u16);
            }
        }
        Format {
            columns,
            index,
            has_header,
            warnings: Vec::new(),
        }
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Column index of a field, if the format has it.
    pub fn position(&self, field: Field) -> Option<usize> {
        self.index[field.0 as usize].map(usize::from)
    }

    /// Whether the object had a header line.
    pub fn has_header(&self) -> bool {
        self.has_header
    }

    /// Warnings about the header (unknown or repeated names).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The kind of each column (`Text` for unknown columns).
    pub(crate) fn kinds(&self) -> Vec<FieldKind> {
        self.columns
            .iter()
            .map(|c| match c {
                Column::Known(f) => f.kind(),
                Column::Other(_) => FieldKind::Text,
            })
            .collect()
    }
}

/// `[a-z][a-z0-9_-]*`: the shape of every AWS field name.
fn looks_like_field_name(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// At most `max` bytes of `s`, cut on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_on_a_character_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn detects_header_headerless_and_garbage() {
        let cases: &[(&str, &str)] = &[
            ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", "header"),
            ("account-id bytes dstaddr dstport end instance-id packets\r", "header"),
            ("instance_id interface_id srcaddr", "header"),
            ("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK", "headerless"),
            ("3 eni-33333333333333333 123456789010 vpc-abcdefab012345678 subnet-22222222bbbbbbbbb i-01234567890123456 10.20.33.164 10.40.2.236 39812 80 6 3 IPv4 10.20.33.164 10.40.2.236 ACCEPT OK", "not"),
            ("hello world", "not"),
            ("", "not"),
        ];
        for (line, want) in cases {
            let got = match Format::detect(line.as_bytes()) {
                FirstLine::Header(_) => "header",
                FirstLine::Headerless(_) => "headerless",
                FirstLine::NotFlowLog(_) => "not",
            };
            assert_eq!(got, *want, "{line}");
        }
        assert!(matches!(
            Format::detect(b"\xff\xfe version"),
            FirstLine::NotFlowLog(_)
        ));
    }

    #[test]
    fn unknown_and_repeated_fields_become_text_columns() {
        let f = Format::from_header("srcaddr some-future-field dstaddr srcaddr").unwrap();
        assert_eq!(f.columns().len(), 4);
        assert_eq!(f.position(Field::SRCADDR), Some(0));
        assert_eq!(f.position(Field::DSTADDR), Some(2));
        assert_eq!(f.columns()[1], Column::Other("some-future-field".into()));
        assert_eq!(f.columns()[3], Column::Other("srcaddr".into()));
        assert_eq!(f.warnings().len(), 2);
    }

    #[test]
    fn header_of_only_unknown_names_is_rejected() {
        assert!(Format::from_header("foo bar baz").is_err());
    }
}
