//! Streaming an object through decompression into the [`Engine`]: a reader
//! thread inflates into a small pool of reused buffers cut at line ends,
//! while the calling thread parses. Memory is bounded by the pool, whatever
//! the object's size.
//!
//! The shape of an object is decided from its first bytes: Parquet
//! (`PAR1`, read with random access by [`analyze_parquet`]), or a stream:
//! gzip or plain, holding flow-log text or, when the inflated text opens a
//! JSON object, a CloudWatch Logs subscription export whose messages are
//! fed to the engine as header-less lines.

use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use crate::analyze::{Aggregator, AnalyzeError, Engine, Observation, Report, Scanner};
use crate::config::Config;
use crate::flowlog::cwl::{opening, read_export, CwlError, Opening};
use crate::flowlog::parquet::{is_parquet, ByteRanges};
use crate::flowlog::MAX_LINE_BYTES;
use crate::source::SourceRef;

mod columnar;

pub use columnar::analyze_parquet;

/// Size of one text buffer handed from the reader to the parser.
pub const CHUNK_BYTES: usize = 128 * 1024;
/// Buffers in flight between the threads.
pub const CHUNKS_IN_FLIGHT: usize = 8;
const INPUT_BUFFER: usize = 128 * 1024;

/// How an object is encoded, decided from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// gzip (one or more members).
    Gzip,
    /// Parquet (`PAR1`): needs random access, see [`analyze_parquet`].
    Parquet,
    /// Plain text.
    Plain,
}

/// Decides the encoding from the magic bytes, never from the name.
pub fn detect_encoding(head: &[u8]) -> Encoding {
    if head.starts_with(&[0x1f, 0x8b]) {
        Encoding::Gzip
    } else if is_parquet(head) {
        Encoding::Parquet
    } else {
        Encoding::Plain
    }
}

/// The first bytes of a stream, read to decide its shape, and the stream
/// itself, which still yields them.
pub struct Sniffed<R> {
    head: [u8; 4],
    len: usize,
    rest: R,
}

impl<R: Read> Sniffed<R> {
    /// Reads up to four bytes (fewer only at the end of the stream).
    pub fn new(mut rest: R) -> io::Result<Sniffed<R>> {
        let mut head = [0u8; 4];
        let mut len = 0;
        while len < head.len() {
            match rest.read(&mut head[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Sniffed { head, len, rest })
    }

    /// The bytes read so far.
    pub fn head(&self) -> &[u8] {
        &self.head[..self.len]
    }

    /// Whether the stream is a Parquet file.
    pub fn is_parquet(&self) -> bool {
        is_parquet(self.head())
    }

    /// The whole stream again, from its first byte.
    pub fn into_reader(self) -> io::Chain<Cursor<Vec<u8>>, R> {
        Cursor::new(self.head[..self.len].to_vec()).chain(self.rest)
    }
}

/// Counts bytes read from the underlying source.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

enum Msg {
    /// A buffer and how many of its bytes are text (whole lines).
    Text(Vec<u8>, usize),
    Overlong(u64),
    Failed(io::Error, u64),
    /// The object is a CloudWatch Logs export: the lines that follow are
    /// its messages, in the configured format.
    Export,
    /// The `owner` of an export document.
    Owner(String),
    /// The end of an export: its inflated JSON bytes.
    ExportDone(u64),
    /// The object turned out not to be a flow log.
    NotFlowLog(String),
}

/// What the scanning thread hands to the aggregating one.
enum Batch {
    Observations(Vec<Observation>),
    Failed(io::Error, u64),
}

/// Progress counters another thread may read while an object is analysed.
#[derive(Debug, Default)]
pub struct Progress {
    /// Compressed (storage) bytes read so far.
    pub compressed: Arc<AtomicU64>,
}

/// Analyses one object of any shape from a stream: its first bytes decide.
/// A Parquet object needs random access, which `random_access` provides:
/// it gets the stream (to drop it, or to buffer it when there is no other
/// way) and returns the object's [`ByteRanges`]. Anything else streams
/// through [`analyze_reader`].
pub fn analyze_object<R, S, F>(
    reader: R,
    random_access: F,
    source: SourceRef,
    config: &Config,
    now: u64,
    progress: Option<&Progress>,
) -> Result<Report, AnalyzeError>
where
    R: Read + Send,
    S: ByteRanges,
    F: FnOnce(Sniffed<R>) -> io::Result<S>,
{
    let read_error = |error, object: &SourceRef| AnalyzeError::Read {
        object: object.clone(),
        bytes: 0,
        error,
    };
    // The first read runs on the caller's thread: a panic in the reader
    // (a bug) is reported as one, as it is on the engine's threads.
    let sniffed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Sniffed::new(reader)))
        .map_err(|_| AnalyzeError::Internal {
            object: source.clone(),
            message: "reading the first bytes panicked".into(),
        })?
        .map_err(|e| read_error(e, &source))?;
    if sniffed.is_parquet() {
        let ranges = random_access(sniffed).map_err(|e| read_error(e, &source))?;
        analyze_parquet(ranges, source, config, now, progress)
    } else {
        analyze_reader(sniffed.into_reader(), source, config, now, progress)
    }
}

/// Analyses one object from any reader: detects gzip, then runs three
/// stages on their own threads, linked by bounded channels of reused
/// buffers: inflate (a spawned thread), scan (parse lines into typed
/// observations; another), and aggregate (rules and tables; the calling
/// thread). `now` is the processing time (Unix seconds).
pub fn analyze_reader<R: Read + Send>(
    reader: R,
    source: SourceRef,
    config: &Config,
    now: u64,
    progress: Option<&Progress>,
) -> Result<Report, AnalyzeError> {
    let compressed = progress.map(|p| p.compressed.clone()).unwrap_or_default();
    let (text_tx, text_rx) = sync_channel::<Msg>(CHUNKS_IN_FLIGHT);
    let (text_pool_tx, text_pool_rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);
    for _ in 0..CHUNKS_IN_FLIGHT + 1 {
        let _ = text_pool_tx.try_send(vec![0; CHUNK_BYTES]);
    }
    let (batch_tx, batch_rx) = sync_channel::<Batch>(CHUNKS_IN_FLIGHT);
    let (batch_pool_tx, batch_pool_rx) = sync_channel::<Vec<Observation>>(CHUNKS_IN_FLIGHT + 2);
    for _ in 0..CHUNKS_IN_FLIGHT + 1 {
        let _ = batch_pool_tx.try_send(Vec::new());
    }
    let counting = Counting {
        inner: reader,
        count: compressed.clone(),
    };
    let mut aggregator = Aggregator::new(config);
    let object = source.clone(); // named in errors even if a thread fails
    let mut failure = None;
    let (reader, scanner) = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            if let Err((e, at)) = read_chunks(counting, &text_tx, &text_pool_rx) {
                let _ = text_tx.send(Msg::Failed(e, at));
            }
        });
        let scan = s.spawn(move || {
            let mut scanner = Scanner::new(source);
            for msg in text_rx.iter() {
                match msg {
                    Msg::Text(buf, len) => {
                        let mut batch = batch_pool_rx.recv().unwrap_or_default();
                        batch.clear();
                        scanner.scan_text(&buf[..len], &mut batch);
                        let _ = text_pool_tx.try_send(buf);
                        if batch_tx.send(Batch::Observations(batch)).is_err() {
                            break;
                        }
                    }
                    Msg::Overlong(n) => scanner.push_overlong_line(n),
                    Msg::Failed(e, at) => {
                        let _ = batch_tx.send(Batch::Failed(e, at));
                        break;
                    }
                    Msg::Export => {
                        scanner.begin_headerless(config.detect.cwl_fields.clone(), "event")
                    }
                    Msg::Owner(owner) => scanner.note_account(&owner),
                    Msg::ExportDone(bytes) => scanner.set_uncompressed(bytes),
                    Msg::NotFlowLog(reason) => scanner.fail(reason),
                }
                if scanner.failed() {
                    // Not a flow log: nothing later changes the verdict, so
                    // stop here instead of inflating (and downloading) the
                    // rest of the object.
                    break;
                }
            }
            // Dropping the receivers unblocks and stops the reader, which
            // drops the source (for S3, the response body).
            drop(text_rx);
            drop(text_pool_tx);
            scanner
        });
        for batch in batch_rx.iter() {
            match batch {
                Batch::Observations(b) => {
                    aggregator.consume(&b);
                    let _ = batch_pool_tx.try_send(b);
                }
                Batch::Failed(e, at) => {
                    failure = Some((e, at));
                    break;
                }
            }
        }
        drop(batch_rx);
        drop(batch_pool_tx);
        // Joined here, so a panic in either thread is an error, not a panic
        // of the whole scope.
        (reader.join(), scan.join())
    });
    let scanner = match (reader, scanner) {
        (Ok(()), Ok(s)) => s,
        (_, scanner) => {
            let which = if scanner.is_err() {
                "scanner"
            } else {
                "reader"
            };
            return Err(AnalyzeError::Internal {
                object,
                message: format!("the {which} thread panicked"),
            });
        }
    };
    if scanner.failed() {
        // The verdict does not depend on how far the reader got.
        return Engine::from_parts(scanner, aggregator).finish(0, now);
    }
    if let Some((error, bytes)) = failure {
        return Err(AnalyzeError::Read {
            object,
            bytes,
            error,
        });
    }
    Engine::from_parts(scanner, aggregator).finish(compressed.load(Ordering::Relaxed), now)
}

/// The reader thread: decode and cut text into line-aligned chunks. Each
/// buffer stays `CHUNK_BYTES` long (zeroed once); `filled` says how much of
/// it holds text.
fn read_chunks<R: Read>(
    raw: R,
    tx: &SyncSender<Msg>,
    pool: &Receiver<Vec<u8>>,
) -> Result<(), (io::Error, u64)> {
    let mut input = BufReader::with_capacity(INPUT_BUFFER, raw);
    let head = input.fill_buf().map_err(|e| (e, 0))?;
    let mut text: Box<dyn Read> = match detect_encoding(head) {
        Encoding::Gzip => Box::new(MultiGzDecoder::new(input)),
        Encoding::Plain => Box::new(input),
        Encoding::Parquet => {
            return send(
                tx,
                Msg::NotFlowLog(
                    "a Parquet file, which needs random access: read it as a file \
                     (flowguard analyze FILE) or from S3, not as a stream"
                        .into(),
                ),
            )
        }
    };
    let mut total: u64 = 0;
    let mut buf = take(pool);
    let cap = buf.len();
    let mut filled = 0usize;
    // The first non-blank bytes decide between flow-log text and a
    // CloudWatch Logs export (a JSON object naming `messageType`).
    let mut shape = opening(&buf[..filled]);
    while filled < cap && matches!(shape, Opening::Blank | Opening::Object) {
        let n = match text.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((e, total)),
        };
        filled += n;
        total += n as u64;
        shape = opening(&buf[..filled]);
    }
    if shape == Opening::Export {
        let seen = buf[..filled].to_vec();
        return read_export_lines(Cursor::new(seen).chain(text), buf, tx, pool);
    }
    let mut skipping: Option<u64> = None; // bytes of an overlong line so far
    loop {
        if filled == cap {
            // A full buffer: send its whole lines, or, with no newline at
            // all, skip the overlong line without buffering it.
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(nl) => filled = hand_over(&mut buf, filled, nl, tx, pool)?,
                None => {
                    skipping = Some(skipping.unwrap_or(0) + filled as u64);
                    filled = 0;
                }
            }
            continue;
        }
        let n = match text.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((e, total)),
        };
        total += n as u64;
        if n == 0 {
            if let Some(len) = skipping.take() {
                send(tx, Msg::Overlong(len + filled as u64))?;
            } else if filled > 0 {
                send(tx, Msg::Text(buf, filled))?;
            }
            return Ok(());
        }
        let start = filled;
        filled += n;
        if let Some(len) = skipping {
            // Finish skipping at the first newline of the new data.
            match memchr::memchr(b'\n', &buf[start..filled]) {
                Some(i) => {
                    let end = start + i + 1;
                    send(tx, Msg::Overlong(len + end as u64))?;
                    skipping = None;
                    buf.copy_within(end..filled, 0);
                    filled -= end;
                }
                None => {
                    skipping = Some(len + filled as u64);
                    filled = 0;
                    continue;
                }
            }
        }
        // Send once the buffer is mostly full, cut at the last newline.
        if filled >= cap - MAX_LINE_BYTES.min(cap / 4) {
            if let Some(nl) = memchr::memrchr(b'\n', &buf[..filled]) {
                filled = hand_over(&mut buf, filled, nl, tx, pool)?;
            }
        }
    }
}

/// The reader thread for a CloudWatch Logs export: each message of each
/// `DATA_MESSAGE` document becomes one line (a newline inside a message is
/// a space, so a message stays one record), packed into the same chunks as
/// text.
fn read_export_lines<R: Read>(
    text: R,
    mut buf: Vec<u8>,
    tx: &SyncSender<Msg>,
    pool: &Receiver<Vec<u8>>,
) -> Result<(), (io::Error, u64)> {
    send(tx, Msg::Export)?;
    let cap = buf.len();
    let mut filled = 0usize;
    let mut owner: Option<String> = None;
    let mut stopped = false;
    let result = read_export(text, |doc| {
        let mut sent = || -> Result<(), (io::Error, u64)> {
            if let Some(o) = doc.owner.as_ref().filter(|_| owner.is_none()) {
                owner = Some(o.clone());
                send(tx, Msg::Owner(o.clone()))?;
            }
            for event in &doc.log_events {
                let m = event.message.as_bytes();
                if m.len() > MAX_LINE_BYTES {
                    if filled > 0 {
                        let full = std::mem::replace(&mut buf, take(pool));
                        send(tx, Msg::Text(full, filled))?;
                        filled = 0;
                    }
                    send(tx, Msg::Overlong(m.len() as u64 + 1))?;
                    continue;
                }
                if filled + m.len() + 1 > cap {
                    let full = std::mem::replace(&mut buf, take(pool));
                    send(tx, Msg::Text(full, filled))?;
                    filled = 0;
                }
                let line = &mut buf[filled..filled + m.len()];
                line.copy_from_slice(m);
                for b in line.iter_mut().filter(|b| **b == b'\n') {
                    *b = b' ';
                }
                buf[filled + m.len()] = b'\n';
                filled += m.len() + 1;
            }
            Ok(())
        };
        let ok = sent().is_ok();
        stopped = !ok;
        ok
    });
    if stopped {
        return Ok(()); // the scanner went away: nothing left to tell it
    }
    match result {
        Ok(stats) => {
            if filled > 0 {
                send(tx, Msg::Text(buf, filled))?;
            }
            send(tx, Msg::ExportDone(stats.bytes))
        }
        Err(CwlError::Io(e)) => Err((e, 0)),
        Err(e @ CwlError::NotExport { .. }) => send(tx, Msg::NotFlowLog(e.to_string())),
    }
}

/// Sends `buf[..=nl]` and continues in a fresh buffer holding the partial
/// line after it; returns the new fill level.
fn hand_over(
    buf: &mut Vec<u8>,
    filled: usize,
    nl: usize,
    tx: &SyncSender<Msg>,
    pool: &Receiver<Vec<u8>>,
) -> Result<usize, (io::Error, u64)> {
    let mut next = take(pool);
    let carry = filled - (nl + 1);
    next[..carry].copy_from_slice(&buf[nl + 1..filled]);
    let full = std::mem::replace(buf, next);
    send(tx, Msg::Text(full, nl + 1))?;
    Ok(carry)
}

fn take(pool: &Receiver<Vec<u8>>) -> Vec<u8> {
    match pool.recv() {
        Ok(b) if b.len() == CHUNK_BYTES => b,
        // The parser is gone (or a buffer came back short): a fresh buffer
        // lets the loop end normally.
        _ => vec![0; CHUNK_BYTES],
    }
}

fn send(tx: &SyncSender<Msg>, msg: Msg) -> Result<(), (io::Error, u64)> {
    tx.send(msg).map_err(|_| {
        (
            io::Error::new(io::ErrorKind::BrokenPipe, "parser stopped"),
            0,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_from_magic_bytes() {
        assert_eq!(detect_encoding(&[0x1f, 0x8b, 8]), Encoding::Gzip);
        assert_eq!(detect_encoding(b"version account-id"), Encoding::Plain);
        assert_eq!(detect_encoding(b""), Encoding::Plain);
        assert_eq!(detect_encoding(&[0x1f]), Encoding::Plain);
    }
}
