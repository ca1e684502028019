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

pub use addrmap::Prefetch;
pub use distinct::{addr_hash, mix64, Distinct};
pub use partition::{delivery_time, safe_component, stem, KeyFacts, PartitionKey};
pub use tables::{AdminRow, PortsRow, ServicesRow, TableBuilder, Tables, TalkersRow};

/// The summary tables, in the order they are written (`files` last, so a
/// complete `files` row means the other tables of the object are there).
pub const TABLE_NAMES: [&str; 6] = ["ports", "talkers", "admin", "services", "findings", "files"];

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
