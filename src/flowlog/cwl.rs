//! CloudWatch Logs subscription exports: flow logs sent to CloudWatch Logs,
//! then to S3 through a subscription (Firehose). Each object holds JSON
//! documents back to back, with or without whitespace between them (gzip
//! members, once inflated):
//!
//! ```json
//! {"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"vpc-flow-logs",
//!  "logStream":"eni-0a1b2c3d-all","subscriptionFilters":["to-s3"],
//!  "logEvents":[{"id":"3195...","timestamp":1750961400000,"message":"2 123456789012 eni-0a1b2c3d ..."}]}
//! ```
//!
//! Each `message` is one record in the log group's format, without a
//! header. `CONTROL_MESSAGE` documents (sent when the subscription is
//! created) carry no records and are skipped. Documents are read one at a
//! time with serde_json's stream deserializer, each bounded by
//! [`MAX_DOCUMENT_BYTES`], so memory does not grow with the object.

use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use serde::Deserialize;

/// What the first bytes of inflated text say about its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Only blanks so far: read more.
    Blank,
    /// A JSON object whose first bytes do not name `messageType` yet:
    /// read more (up to [`SNIFF_BYTES`]).
    Object,
    /// A CloudWatch Logs export: a JSON object naming `messageType` (the
    /// first key CloudWatch Logs writes) or `logEvents` (the first in
    /// alphabetical order, should a writer sort the keys).
    Export,
    /// Anything else: flow-log text (a header starts with a letter, a
    /// record with a digit; a JSON object of another kind, such as
    /// `{"message": ...}` lines, is text whose records are malformed).
    Text,
}

/// How far into an object a JSON object's keys are looked for.
pub const SNIFF_BYTES: usize = 16 * 1024;

/// Classifies the first bytes of inflated text.
pub fn opening(text: &[u8]) -> Opening {
    match text.iter().position(|b| !b.is_ascii_whitespace()) {
        None => Opening::Blank,
        Some(i) if text[i] == b'{' => {
            let window = &text[i..text.len().min(i + SNIFF_BYTES)];
            let names = |key: &[u8]| memchr::memmem::find(window, key).is_some();
            if names(b"\"messageType\"") || names(b"\"logEvents\"") {
                Opening::Export
            } else if window.len() < SNIFF_BYTES {
                Opening::Object
            } else {
                Opening::Text
            }
        }
        Some(_) => Opening::Text,
    }
}

/// The largest document accepted: CloudWatch Logs sends batches of at most
/// about 1 MB of events (plus their JSON), so anything far larger is not
/// an export, and reading it whole would break the memory bound.
pub const MAX_DOCUMENT_BYTES: u64 = 16 << 20;

/// One document of an export.
#[derive(Debug, Deserialize)]
pub struct Document {
    /// `DATA_MESSAGE` or `CONTROL_MESSAGE`.
    #[serde(rename = "messageType")]
    pub message_type: String,
    /// The account that owns the log group.
    #[serde(default)]
    pub owner: Option<String>,
    /// The log events; each message is one flow-log record.
    #[serde(rename = "logEvents", default)]
    pub log_events: Vec<LogEvent>,
}

/// One log event of a document.
#[derive(Debug, Deserialize)]
pub struct LogEvent {
    /// The flow-log record, one line of the log group's format.
    pub message: String,
}

/// Why an export could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CwlError {
    /// Reading or inflating failed (truncated gzip, network).
    #[error("{0}")]
    Io(io::Error),
    /// The text is not a CloudWatch Logs export (bad JSON, a document cut
    /// short, a document of another shape, or one far too large).
    #[error("CloudWatch Logs export, document {document} (at byte {offset}): {reason}")]
    NotExport {
        /// 1-based number of the document.
        document: u64,
        /// Inflated byte offset where the document starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// What reading the whole export amounted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Documents read (data and control).
    pub documents: u64,
    /// `CONTROL_MESSAGE` documents skipped.
    pub control: u64,
    /// Inflated bytes of JSON read.
    pub bytes: u64,
}

/// Counts bytes read and refuses to read further than
/// [`MAX_DOCUMENT_BYTES`] past the start of the current document.
struct Bounded<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    doc_start: Rc<Cell<u64>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let at = self.read.get();
        if at.saturating_sub(self.doc_start.get()) > MAX_DOCUMENT_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                TooLarge(at - self.doc_start.get()),
            ));
        }
        let n = self.inner.read(buf)?;
        self.read.set(at + n as u64);
        Ok(n)
    }
}

/// The error [`Bounded`] returns, recognised when it comes back wrapped
/// in a serde_json error.
#[derive(Debug)]
struct TooLarge(u64);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "document larger than {MAX_DOCUMENT_BYTES} bytes ({} read)",
            self.0
        )
    }
}

impl std::error::Error for TooLarge {}

/// Reads the documents of an export from inflated text and hands each to
/// `each` in order; `each` returns `false` to stop (the reader of the
/// records went away). `CONTROL_MESSAGE` documents are counted and not
/// handed on.
pub fn read_export<R: Read>(
    text: R,
    mut each: impl FnMut(&Document) -> bool,
) -> Result<ExportStats, CwlError> {
    let read = Rc::new(Cell::new(0u64));
    let doc_start = Rc::new(Cell::new(0u64));
    let bounded = Bounded {
        inner: text,
        read: read.clone(),
        doc_start: doc_start.clone(),
    };
    let reader = BufReader::with_capacity(64 * 1024, bounded);
    let mut stream = serde_json::Deserializer::from_reader(reader).into_iter::<Document>();
    let mut stats = ExportStats::default();
    loop {
        let offset = stream.byte_offset() as u64;
        doc_start.set(offset);
        let Some(next) = stream.next() else {
            break;
        };
        let document = stats.documents + 1;
        let doc = match next {
            Ok(d) => d,
            Err(e) => return Err(classify(e, document, offset)),
        };
        stats.documents = document;
        match doc.message_type.as_str() {
            "DATA_MESSAGE" => {
                if !each(&doc) {
                    break;
                }
            }
            "CONTROL_MESSAGE" => stats.control += 1,
            other => {
                return Err(CwlError::NotExport {
                    document,
                    offset,
                    reason: format!(
                        "messageType '{}' is neither DATA_MESSAGE nor CONTROL_MESSAGE",
                        super::format::truncate(other, 40)
                    ),
                })
            }
        }
    }
    stats.bytes = read.get();
    Ok(stats)
}

/// An I/O failure stays one (a truncated gzip stream is the reader's
/// error); anything else means the text is not an export.
fn classify(e: serde_json::Error, document: u64, offset: u64) -> CwlError {
    if e.is_io() {
        let io: io::Error = e.into();
        let too_large = io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<TooLarge>())
            .map(|t| t.to_string());
        return match too_large {
            Some(reason) => CwlError::NotExport {
                document,
                offset,
                reason,
            },
            None => CwlError::Io(io),
        };
    }
    let reason = if e.is_eof() {
        format!("cut short: {e}")
    } else {
        e.to_string()
    };
    CwlError::NotExport {
        document,
        offset,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(kind: &str, owner: &str, messages: &[&str]) -> String {
        let events: Vec<String> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| format!(r#"{{"id":"{i}","timestamp":1750961400000,"message":"{m}"}}"#))
            .collect();
        format!(
            r#"{{"messageType":"{kind}","owner":"{owner}","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{}]}}"#,
            events.join(",")
        )
    }

    fn messages(text: &str) -> Result<(Vec<String>, Vec<String>, ExportStats), CwlError> {
        let mut owners = Vec::new();
        let mut out = Vec::new();
        let stats = read_export(text.as_bytes(), |d| {
            owners.push(d.owner.clone().unwrap_or_default());
            out.extend(d.log_events.iter().map(|e| e.message.clone()));
            true
        })?;
        Ok((owners, out, stats))
    }

    #[test]
    fn documents_back_to_back_with_or_without_whitespace() {
        let a = doc("DATA_MESSAGE", "111111111111", &["m1", "m2"]);
        let c = doc(
            "CONTROL_MESSAGE",
            "CloudwatchLogs",
            &["CWL CONTROL MESSAGE: Checking health of destination Firehose."],
        );
        let b = doc("DATA_MESSAGE", "222222222222", &["m3"]);
        for sep in ["", "\n", " \r\n\t"] {
            let text = format!("{a}{sep}{c}{sep}{b}{sep}");
            let (owners, msgs, stats) = messages(&text).unwrap();
            assert_eq!(owners, ["111111111111", "222222222222"]);
            assert_eq!(msgs, ["m1", "m2", "m3"]);
            assert_eq!(stats.documents, 3);
            assert_eq!(stats.control, 1);
            assert_eq!(stats.bytes, text.len() as u64);
        }
        assert_eq!(opening(b"\n  {\"messageType\""), Opening::Export);
        assert_eq!(
            opening(b"{\"owner\":\"1\",\"messageType\":\"DATA_MESSAGE\""),
            Opening::Export
        );
        assert_eq!(opening(b"{\"logEvents\":[{\"id\":\"1\""), Opening::Export);
        assert_eq!(opening(b"{\"message\":\"2 1 eni-1"), Opening::Object);
        let json_lines = "{\"message\":\"2 1 eni-1 - - - - - - - 1 2 - NODATA\"}\n".repeat(400);
        assert_eq!(opening(json_lines.as_bytes()), Opening::Text);
        assert_eq!(opening(b"version account-id"), Opening::Text);
        assert_eq!(opening(b"2 123456789012 eni-1"), Opening::Text);
        assert_eq!(opening(b" \r\n"), Opening::Blank);
        assert_eq!(opening(b""), Opening::Blank);
        assert_eq!(messages("").unwrap().2, ExportStats::default());
    }

    #[test]
    fn a_bad_document_is_named() {
        let a = doc("DATA_MESSAGE", "111111111111", &["m1"]);
        let cut = &a[..a.len() - 10];
        let cases = [
            (format!("{a}{cut}"), 2, "cut short"),
            (
                format!("{a}{{\"messageType\":\"OTHER\"}}"),
                2,
                "messageType 'OTHER'",
            ),
            (
                format!("{a}\n{{\"logEvents\":[]}}"),
                2,
                "missing field `messageType`",
            ),
            (format!("{a}[1,2]"), 2, "invalid type"),
            (
                "{\"messageType\":\"DATA_MESSAGE\",\"logEvents\":[{\"id\":\"1\"}]}".to_string(),
                1,
                "missing field `message`",
            ),
        ];
        for (text, document, says) in cases {
            match messages(&text) {
                Err(CwlError::NotExport {
                    document: d,
                    reason,
                    ..
                }) => {
                    assert_eq!(d, document, "{text}");
                    assert!(reason.contains(says), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_huge_document_is_refused_without_reading_it_whole() {
        let big = format!(
            r#"{{"messageType":"DATA_MESSAGE","logEvents":[{{"message":"{}"}}]}}"#,
            "x".repeat((MAX_DOCUMENT_BYTES + 1024 * 1024) as usize)
        );
        match messages(&big) {
            Err(CwlError::NotExport { reason, .. }) => {
                assert!(reason.contains("larger than"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn io_errors_stay_io_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            }
        }
        match read_export(Failing, |_| true) {
            Err(CwlError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("{other:?}"),
        }
    }
}
