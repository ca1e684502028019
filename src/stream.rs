//! Streaming an object through decompression into the [`Engine`]: a reader
//! thread inflates into a small pool of reused buffers cut at line ends,
//! while the calling thread parses. Memory is bounded by the pool, whatever
//! the object's size.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use crate::analyze::{AnalyzeError, Engine, Report};
use crate::config::Config;
use crate::flowlog::MAX_LINE_BYTES;
use crate::source::SourceRef;

/// Size of one text buffer handed from the reader to the parser.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Buffers in flight between the threads.
pub const CHUNKS_IN_FLIGHT: usize = 4;
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
    Text(Vec<u8>),
    Overlong(u64),
    Failed(io::Error, u64),
}

/// Progress counters another thread may read while an object is analysed.
#[derive(Debug, Default)]
pub struct Progress {
    /// Compressed (storage) bytes read so far.
    pub compressed: Arc<AtomicU64>,
}

/// Analyses one object from any reader: detects gzip, inflates on a second
/// thread, parses on this one. `now` is the processing time (Unix seconds).
pub fn analyze_reader<R: Read + Send>(
    reader: R,
    source: SourceRef,
    config: &Config,
    now: u64,
    progress: Option<&Progress>,
) -> Result<Report, AnalyzeError> {
    let compressed = progress.map(|p| p.compressed.clone()).unwrap_or_default();
    let (tx, rx) = sync_channel::<Msg>(CHUNKS_IN_FLIGHT);
    let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);
    for _ in 0..CHUNKS_IN_FLIGHT + 1 {
        let _ = pool_tx.try_send(Vec::with_capacity(CHUNK_BYTES));
    }
    let counting = Counting {
        inner: reader,
        count: compressed.clone(),
    };
    let mut engine = Engine::new(config, source.clone());
    let mut failure = None;
    std::thread::scope(|s| {
        s.spawn(move || {
            let result = read_chunks(counting, &tx, &pool_rx);
            if let Err((e, at)) = result {
                let _ = tx.send(Msg::Failed(e, at));
            }
        });
        for msg in rx.iter() {
            match msg {
                Msg::Text(buf) => {
                    engine.push_text(&buf);
                    let _ = pool_tx.try_send(buf);
                }
                Msg::Overlong(n) => engine.push_overlong_line(n),
                Msg::Failed(e, at) => {
                    failure = Some((e, at));
                    break;
                }
            }
        }
        // Dropping the receivers unblocks the reader if we stopped early.
        drop(rx);
        drop(pool_tx);
    });
    if let Some((error, bytes)) = failure {
        return Err(AnalyzeError::Read {
            object: source,
            bytes,
            error,
        });
    }
    engine.finish(compressed.load(Ordering::Relaxed), now)
}

/// The reader thread: decode and cut text into line-aligned chunks.
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
    let mut skipping: Option<u64> = None; // bytes of an overlong line so far
    loop {
        if buf.len() == buf.capacity() {
            // A full buffer with no newline: the line is too long. Skip it
            // without buffering it.
            if let Some(last_nl) = memchr::memrchr(b'\n', &buf) {
                let mut next = take(pool);
                next.extend_from_slice(&buf[last_nl + 1..]);
                buf.truncate(last_nl + 1);
                send(tx, Msg::Text(std::mem::replace(&mut buf, next)))?;
            } else {
                skipping = Some(skipping.unwrap_or(0) + buf.len() as u64);
                buf.clear();
            }
            continue;
        }
        let start = buf.len();
        let cap = buf.capacity();
        buf.resize(cap, 0);
        let n = match text.read(&mut buf[start..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                buf.truncate(start);
                continue;
            }
            Err(e) => return Err((e, total)),
        };
        buf.truncate(start + n);
        total += n as u64;
        if n == 0 {
            if let Some(len) = skipping.take() {
                send(tx, Msg::Overlong(len + buf.len() as u64))?;
            } else if !buf.is_empty() {
                send(tx, Msg::Text(buf))?;
            }
            return Ok(());
        }
        if let Some(len) = skipping {
            // Finish skipping at the first newline of the new data.
            match memchr::memchr(b'\n', &buf[start..]) {
                Some(i) => {
                    let end = start + i + 1;
                    send(tx, Msg::Overlong(len + end as u64))?;
                    skipping = None;
                    buf.drain(..end);
                }
                None => {
                    skipping = Some(len + buf.len() as u64);
                    buf.clear();
                    continue;
                }
            }
        }
        // Send once the buffer is mostly full, cut at the last newline.
        if buf.len() >= cap - MAX_LINE_BYTES.min(cap / 4) {
            if let Some(last_nl) = memchr::memrchr(b'\n', &buf) {
                let mut next = take(pool);
                next.extend_from_slice(&buf[last_nl + 1..]);
                buf.truncate(last_nl + 1);
                send(tx, Msg::Text(std::mem::replace(&mut buf, next)))?;
            }
        }
    }
}

fn take(pool: &Receiver<Vec<u8>>) -> Vec<u8> {
    match pool.recv() {
        Ok(mut b) => {
            b.clear();
            b
        }
        // The parser is gone; a fresh buffer lets the loop end normally.
        Err(_) => Vec::with_capacity(CHUNK_BYTES),
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
