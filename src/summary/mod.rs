//! Summaries of one object: aggregation into tables, partition keys, and
//! the gzip NDJSON encoding of SPEC §3. Pure: bytes out, no I/O.

mod addrmap;
mod distinct;
mod partition;
mod tables;

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;

pub use addrmap::{Prefetch, HAS_PREFETCH};
pub use distinct::Distinct;
pub use partition::{delivery_time, safe_component, stem_of_key, KeyFacts, PartitionKey};
pub use tables::{AdminRow, PortsRow, RejectedRow, ServicesRow, TableBuilder, Tables, TalkersRow};

/// The summary tables of SPEC section 3 (plus `services`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Per destination port, protocol and action.
    Ports,
    /// The top addresses by bytes.
    Talkers,
    /// Flows to admin ports, per source, destination, port and action.
    Admin,
    /// Traffic to each service (address and well-known, admin or
    /// sensitive port).
    Services,
    /// The top sources by REJECTed flows.
    Rejected,
    /// One row per finding.
    Findings,
    /// One row per object.
    Files,
}

impl Table {
    /// Every table, in the order they are written (`files` last, so a
    /// complete `files` row means the other tables of the object are there).
    pub const ALL: [Table; 7] = [
        Table::Ports,
        Table::Talkers,
        Table::Admin,
        Table::Services,
        Table::Rejected,
        Table::Findings,
        Table::Files,
    ];

    /// The table's name, the first component of its keys.
    #[inline]
    pub fn name(self) -> &'static str {
        match self {
            Table::Ports => "ports",
            Table::Talkers => "talkers",
            Table::Admin => "admin",
            Table::Services => "services",
            Table::Rejected => "rejected",
            Table::Findings => "findings",
            Table::Files => "files",
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A row with the object's `source` column prepended.
#[derive(Serialize)]
struct WithSource<'a, T: Serialize> {
    source: &'a str,
    #[serde(flatten)]
    row: &'a T,
}

/// Encodes rows as gzip NDJSON, each row with a `source` column.
pub fn encode_rows<T: Serialize>(source: &str, rows: &[T]) -> Vec<u8> {
    gzip_lines(rows.iter().map(|row| WithSource { source, row }))
}

/// Encodes rows that already carry their own `source` (the findings).
pub fn encode_plain<T: Serialize>(rows: &[T]) -> Vec<u8> {
    gzip_lines(rows.iter())
}

/// Bytes of JSON collected before each compression call: serde_json writes
/// token by token, and the compressor is slow to call for a few bytes.
const JSON_BATCH: usize = 64 * 1024;

fn gzip_lines<T: Serialize>(rows: impl Iterator<Item = T>) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    let mut json = Vec::with_capacity(JSON_BATCH + 4096);
    for row in rows {
        // Serialising plain structs into a Vec cannot fail; a row that did
        // would be left out, never half written.
        let mark = json.len();
        if serde_json::to_writer(&mut json, &row).is_ok() {
            json.push(b'\n');
        } else {
            json.truncate(mark);
        }
        if json.len() >= JSON_BATCH {
            let _ = gz.write_all(&json);
            json.clear();
        }
    }
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}
