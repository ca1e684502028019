//! The gzip NDJSON encoding of the summaries (SPEC §3), cheap per object:
//! the object's `source` column is escaped once, not once per row, and the
//! deflate state (a few hundred KiB that zlib zeroes on every set-up) is
//! kept per thread and reset between objects, as a Lambda container
//! reuses it from one invocation to the next. The bytes are those of
//! `flate2::write::GzEncoder` at `Compression::fast()` (a test checks).

use std::cell::RefCell;
use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};
use serde::Serialize;

/// Bytes of JSON collected before each compression call: serde_json writes
/// token by token, and the compressor is slow to call for a few bytes.
const JSON_BATCH: usize = 64 * 1024;

/// The gzip header `GzEncoder` writes at `Compression::fast()`: no name,
/// no time, XFL 4 (fastest), OS 255 (unknown).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff];

thread_local! {
    /// One deflate state per thread, reused by every encoding.
    static DEFLATE: RefCell<Option<DeflateEncoder<Vec<u8>>>> = const { RefCell::new(None) };
}

/// Encodes rows as gzip NDJSON, each row with a `source` column first.
/// Each row must serialise as a JSON object (every summary row does).
pub fn encode_rows<T: Serialize>(source: &str, rows: &[T]) -> Vec<u8> {
    // `{"source":"<escaped>"`, then each row's own members.
    let mut prefix = b"{\"source\":".to_vec();
    if serde_json::to_writer(&mut prefix, source).is_err() {
        prefix.extend_from_slice(b"\"\"");
    }
    encode(rows.iter(), |json, row| {
        json.extend_from_slice(&prefix);
        let body = json.len();
        serde_json::to_writer(&mut *json, row).ok()?;
        match json.get(body..) {
            Some(b"{}") => {
                json.truncate(body);
                json.push(b'}');
            }
            Some([b'{', ..]) => json[body] = b',',
            _ => return None,
        }
        Some(())
    })
}

/// Encodes rows that already carry their own `source` (the findings).
pub fn encode_plain<T: Serialize>(rows: &[T]) -> Vec<u8> {
    encode(rows.iter(), |json, row| {
        serde_json::to_writer(json, row).ok()
    })
}

/// Gzips one buffer with the thread's deflate state: the same bytes as
/// `GzEncoder` at `Compression::fast()` (the state store's blobs).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = Gzip::start();
    gz.write(bytes);
    gz.finish()
}

/// Writes each row with `write` (which appends one JSON document, or
/// returns `None` and leaves the rest of its output to be cut off), one a
/// line, and gzips the lines. A row that fails is left out, never half
/// written.
fn encode<T>(
    rows: impl Iterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T) -> Option<()>,
) -> Vec<u8> {
    let mut gz = Gzip::start();
    let mut json = Vec::with_capacity(JSON_BATCH + 4096);
    for row in rows {
        let mark = json.len();
        match write(&mut json, row) {
            Some(()) => json.push(b'\n'),
            None => json.truncate(mark),
        }
        if json.len() >= JSON_BATCH {
            gz.write(&json);
            json.clear();
        }
    }
    gz.write(&json);
    gz.finish()
}

/// A gzip member being written with the thread's deflate state.
struct Gzip {
    deflate: DeflateEncoder<Vec<u8>>,
    crc: Crc,
}

impl Gzip {
    fn start() -> Gzip {
        let mut deflate = DEFLATE
            .with(|d| d.borrow_mut().take())
            .unwrap_or_else(|| DeflateEncoder::new(Vec::new(), Compression::fast()));
        *deflate.get_mut() = GZIP_HEADER.to_vec();
        Gzip {
            deflate,
            crc: Crc::new(),
        }
    }

    fn write(&mut self, data: &[u8]) {
        // Writing into a Vec cannot fail.
        let _ = self.deflate.write_all(data);
        self.crc.update(data);
    }

    /// The whole member; the deflate state, reset, goes back to the
    /// thread for the next one.
    fn finish(mut self) -> Vec<u8> {
        let Ok(mut out) = self.deflate.reset(Vec::new()) else {
            return Vec::new();
        };
        out.extend_from_slice(&self.crc.sum().to_le_bytes());
        out.extend_from_slice(&self.crc.amount().to_le_bytes());
        DEFLATE.with(|d| *d.borrow_mut() = Some(self.deflate));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    #[derive(Serialize)]
    struct Row {
        port: u16,
        name: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<&'static str>,
    }

    #[derive(Serialize)]
    struct Empty {}

    /// What the encoding was before: a `source` column flattened into each
    /// row, through `GzEncoder`.
    fn reference<T: Serialize>(source: &str, rows: &[T]) -> Vec<u8> {
        #[derive(Serialize)]
        struct WithSource<'a, T: Serialize> {
            source: &'a str,
            #[serde(flatten)]
            row: &'a T,
        }
        let mut text = Vec::new();
        for row in rows {
            serde_json::to_writer(&mut text, &WithSource { source, row }).unwrap();
            text.push(b'\n');
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&text).unwrap();
        gz.finish().unwrap()
    }

    fn rows(n: usize) -> Vec<Row> {
        (0..n)
            .map(|i| Row {
                port: (i * 7 % 65536) as u16,
                name: ["ssh", "rdp", "quote\"d", "tab\tnew\nline", "é"][i % 5],
                note: (i % 3 == 0).then_some("x"),
            })
            .collect()
    }

    #[test]
    fn bytes_equal_the_flattened_gz_encoder_output_across_reuses() {
        let source = "s3://bucket/AWSLogs/1/\"odd\\key\u{1}.log.gz";
        // Several sizes, in one thread, so the state is reused and reset
        // between them (one over a JSON batch).
        for n in [0, 1, 5, 300, 2_000, 1] {
            let r = rows(n);
            assert_eq!(encode_rows(source, &r), reference(source, &r), "{n} rows");
        }
        assert_eq!(
            encode_rows(source, &[Empty {}, Empty {}]),
            reference(source, &[Empty {}, Empty {}])
        );
    }

    #[test]
    fn plain_rows_equal_gz_encoder_output() {
        let r = rows(50);
        let mut text = Vec::new();
        for row in &r {
            serde_json::to_writer(&mut text, row).unwrap();
            text.push(b'\n');
        }
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&text).unwrap();
        let want = gz.finish().unwrap();
        assert_eq!(encode_plain(&r), want);
        assert_eq!(gzip(&text), want);
    }

    #[test]
    fn a_row_that_is_not_an_object_is_left_out_whole() {
        let out = encode_rows(
            "s",
            &[
                serde_json::json!({"a": 1}),
                serde_json::json!(3),
                serde_json::json!({}),
            ],
        );
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&out[..]), &mut text)
            .unwrap();
        assert_eq!(text, "{\"source\":\"s\",\"a\":1}\n{\"source\":\"s\"}\n");
    }
}
