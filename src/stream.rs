//! Streaming an object through decompression into the [`Engine`]: a reader
//! thread inflates into a small pool of reused buffers cut at line ends,
//! while the calling thread parses. Memory is bounded by the pool, whatever
//! the object's size.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use crate::analyze::{Aggregator, AnalyzeError, Engine, Observation, Report, Scanner};
use crate::config::Config;
use crate::flowlog::MAX_LINE_BYTES;
use crate::source::SourceRef;

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
    /// Plain text.
    Plain,
}

/// Decides the encoding from the magic bytes, never from the name.
pub fn detect_encoding(head: &[u8]) -> Encoding {
    if head.starts_with(&[0x1f, 0x8b]) {
        Encoding::Gzip
    } else {
        Encoding::Plain
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
    };
    let mut total: u64 = 0;
    let mut buf = take(pool);
    let cap = buf.len();
    let mut filled = 0usize;
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
