//! Test helpers that turn flow-log text into the other shapes AWS delivers:
//! Parquet (written with the parquet crate's own writer, with AWS's column
//! names and types) and CloudWatch Logs subscription exports (gzip'd JSON
//! documents). The Python twin, `tests/formats/shapes.py`, writes Parquet
//! with DuckDB instead.

#![allow(dead_code)]

use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use super::support::gzip;

/// Fields AWS types INT32 (and the catalogue's other small integers).
const INT32: &[&str] = &[
    "version",
    "srcport",
    "dstport",
    "protocol",
    "tcp-flags",
    "traffic-path",
    "encryption-status",
];
/// Fields AWS types INT64 (and the catalogue's other counters).
const INT64: &[&str] = &[
    "packets",
    "bytes",
    "start",
    "end",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
];

/// The v2 default fields, for header-less text.
pub const V2_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The values of one Parquet column (all columns are OPTIONAL: `None` is
/// a null).
#[derive(Debug, Clone)]
pub enum Col {
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    Str(Vec<Option<String>>),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::I32(v) => v.len(),
            Col::I64(v) => v.len(),
            Col::Str(v) => v.len(),
        }
    }
}

/// How a Parquet file is written.
#[derive(Debug, Clone)]
pub struct ParquetOpts {
    pub compression: Compression,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Rows per data page (several pages per column chunk).
    pub page_rows: usize,
    pub dictionary: bool,
}

impl Default for ParquetOpts {
    fn default() -> ParquetOpts {
        ParquetOpts {
            compression: Compression::GZIP(Default::default()),
            row_group_rows: 1_000_000,
            page_rows: 20_000,
            dictionary: true,
        }
    }
}

/// A Parquet file of named columns (names as given: use underscores for
/// AWS's names).
pub fn write_parquet(columns: &[(&str, Col)], opts: &ParquetOpts) -> Vec<u8> {
    let rows = columns.first().map_or(0, |(_, c)| c.len());
    let fields: Vec<String> = columns
        .iter()
        .map(|(name, c)| match c {
            Col::I32(_) => format!("OPTIONAL INT32 {name};"),
            Col::I64(_) => format!("OPTIONAL INT64 {name};"),
            Col::Str(_) => format!("OPTIONAL BYTE_ARRAY {name} (UTF8);"),
        })
        .collect();
    let schema = parse_message_type(&format!("message flows {{ {} }}", fields.join(" ")))
        .expect("test schema parses");
    let props = WriterProperties::builder()
        .set_compression(opts.compression)
        .set_data_page_row_count_limit(opts.page_rows)
        .set_write_batch_size(opts.page_rows.min(1024))
        .set_dictionary_enabled(opts.dictionary)
        .build();
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(props))
        .expect("writer starts");
    let mut start = 0;
    while start < rows || (rows == 0 && start == 0) {
        let end = (start + opts.row_group_rows.max(1)).min(rows);
        let mut group = writer.next_row_group().expect("row group starts");
        for (_, col) in columns {
            let mut w = group
                .next_column()
                .expect("column")
                .expect("a column per field");
            match col {
                Col::I32(v) => {
                    let (vals, defs) = split(&v[start..end], |x| *x);
                    w.typed::<Int32Type>().write_batch(&vals, Some(&defs), None)
                }
                Col::I64(v) => {
                    let (vals, defs) = split(&v[start..end], |x| *x);
                    w.typed::<Int64Type>().write_batch(&vals, Some(&defs), None)
                }
                Col::Str(v) => {
                    let (vals, defs) = split(&v[start..end], |x| ByteArray::from(x.as_str()));
                    w.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&defs), None)
                }
            }
            .expect("values written");
            w.close().expect("column closes");
        }
        group.close().expect("row group closes");
        if rows == 0 {
            break;
        }
        start = end;
    }
    writer.close().expect("file closes");
    out
}

fn split<T, U>(v: &[Option<T>], f: impl Fn(&T) -> U) -> (Vec<U>, Vec<i16>) {
    let vals = v.iter().flatten().map(f).collect();
    let defs = v.iter().map(|x| i16::from(x.is_some())).collect();
    (vals, defs)
}

/// The header's fields (the v2 default when the first line is a record)
/// and every non-blank record line split on runs of spaces.
pub fn split_text(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .peekable();
    let header = lines
        .peek()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .map(|l| {
            l.split_whitespace()
                .map(|t| t.replace('_', "-"))
                .collect::<Vec<_>>()
        });
    if header.is_some() {
        lines.next();
    }
    let fields = header.unwrap_or_else(|| V2_FIELDS.iter().map(|s| s.to_string()).collect());
    let rows = lines
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    (fields, rows)
}

/// The records of a text object as Parquet, as a flow log created with
/// `FileFormat=parquet` would hold them: underscored names, INT32/INT64 for
/// the integer fields, strings for the rest, null for `-`. A value an
/// integer column cannot hold (`x`, a number too large) makes that column
/// a string column, which flowguard reads as digits: the record is then
/// malformed in both shapes. Panics on a record with a different column
/// count (no Parquet row can hold it).
pub fn text_to_parquet(text: &str, opts: &ParquetOpts) -> Vec<u8> {
    let (fields, rows) = split_text(text);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(
            r.len(),
            fields.len(),
            "record {} has another column count",
            i + 1
        );
    }
    let names: Vec<String> = fields.iter().map(|f| f.replace('-', "_")).collect();
    let mut columns = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let raw: Vec<Option<&str>> = rows
            .iter()
            .map(|r| Some(r[i].as_str()).filter(|v| *v != "-"))
            .collect();
        // Only plain digits become integers: `+5`, `-0` or `-5` stay text,
        // so they are judged by flowguard's rules, not by Rust's parser. A
        // null stays a null; a value that does not fit makes it a string
        // column.
        fn ints<T: std::str::FromStr>(raw: &[Option<&str>]) -> Option<Vec<Option<T>>> {
            raw.iter()
                .map(|v| match v {
                    None => Some(None),
                    Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                        t.parse().ok().map(Some)
                    }
                    Some(_) => None,
                })
                .collect()
        }
        let col = if INT32.contains(&field.as_str()) {
            ints(&raw).map(Col::I32)
        } else if INT64.contains(&field.as_str()) {
            ints(&raw).map(Col::I64)
        } else {
            None
        };
        let col =
            col.unwrap_or_else(|| Col::Str(raw.iter().map(|v| v.map(str::to_string)).collect()));
        columns.push(col);
    }
    let named: Vec<(&str, Col)> = names.iter().map(String::as_str).zip(columns).collect();
    write_parquet(&named, opts)
}

/// The records of a text object (without its header) as a CloudWatch Logs
/// export: a CONTROL_MESSAGE document, then DATA_MESSAGE documents of
/// `per_doc` events owned by `owner`, each gzip'd on its own (as
/// CloudWatch Logs sends them through Firehose) and concatenated.
pub fn text_to_cwl(text: &str, owner: &str, per_doc: usize) -> Vec<u8> {
    cwl_documents(text, owner, per_doc)
        .iter()
        .flat_map(|d| gzip(d.as_bytes()))
        .collect()
}

/// The JSON documents of [`text_to_cwl`], not compressed.
pub fn cwl_documents(text: &str, owner: &str, per_doc: usize) -> Vec<String> {
    let (_, rows) = split_text(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .skip(usize::from(
            text.starts_with(|c: char| c.is_ascii_alphabetic()),
        ))
        .collect();
    assert_eq!(lines.len(), rows.len());
    // Keys in the order CloudWatch Logs writes them (messageType first).
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let document = |kind: &str, owner: &str, stream: &str, filters: &str, events: Vec<String>| {
        format!(
            r#"{{"messageType":{},"owner":{},"logGroup":"vpc-flow-logs","logStream":{},"subscriptionFilters":[{filters}],"logEvents":[{}]}}"#,
            q(kind),
            q(owner),
            q(stream),
            events.join(",")
        )
    };
    let event = |id: String, ts: u64, m: &str| {
        format!(r#"{{"id":{},"timestamp":{ts},"message":{}}}"#, q(&id), q(m))
    };
    let mut docs = vec![document(
        "CONTROL_MESSAGE",
        "CloudwatchLogs",
        "",
        "",
        vec![event(
            String::new(),
            1750961400000,
            "CWL CONTROL MESSAGE: Checking health of destination Firehose.",
        )],
    )];
    for (d, chunk) in lines.chunks(per_doc.max(1)).enumerate() {
        let events = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                event(
                    format!("3700000000000000000{d}{i}"),
                    1750961400000 + i as u64,
                    m,
                )
            })
            .collect();
        docs.push(document(
            "DATA_MESSAGE",
            owner,
            &format!("eni-{d:08x}-all"),
            "\"to-s3\"",
            events,
        ));
    }
    docs
}
