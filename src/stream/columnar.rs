//! Parquet objects into the engine: a decoding thread reads one row group
//! at a time through [`ByteRanges`] and turns its rows into observations,
//! while the calling thread aggregates them. Memory is bounded by one row
//! group's column chunks plus a few batches of observations.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;

use crate::analyze::{Aggregator, AnalyzeError, Engine, Observation, Report, Scanner};
use crate::config::Config;
use crate::flowlog::parquet::{ByteRanges, ParquetFile, ParquetInputError};
use crate::source::SourceRef;

use super::{Progress, CHUNKS_IN_FLIGHT};

/// Observations per batch handed to the aggregating thread.
const BATCH: usize = 2048;

/// Analyses a Parquet object (detected by [`crate::flowlog::parquet::is_parquet`]
/// on its first bytes) read through `src`. `now` is the processing time
/// (Unix seconds). The `files` row's `compressed_bytes` are the bytes read
/// (the footer and the column chunks of the columns used), its
/// `uncompressed_bytes` the decompressed size of those chunks.
pub fn analyze_parquet<S: ByteRanges>(
    src: S,
    source: SourceRef,
    config: &Config,
    now: u64,
    progress: Option<&Progress>,
) -> Result<Report, AnalyzeError> {
    let object = source.clone();
    let mut file = ParquetFile::open(src).map_err(|e| analyze_error(e, &object, 0))?;
    let mut scanner = Scanner::new(source);
    scanner.begin_typed(file.fields().to_vec(), file.warnings().to_vec());
    let compressed = progress.map(|p| p.compressed.clone()).unwrap_or_default();
    compressed.store(file.bytes_read(), Ordering::Relaxed);
    let (tx, rx) = sync_channel::<Vec<Observation>>(CHUNKS_IN_FLIGHT);
    let (pool_tx, pool_rx) = sync_channel::<Vec<Observation>>(CHUNKS_IN_FLIGHT + 2);
    for _ in 0..CHUNKS_IN_FLIGHT + 1 {
        let _ = pool_tx.try_send(Vec::with_capacity(BATCH));
    }
    let mut aggregator = Aggregator::new(config);
    let decoded = std::thread::scope(|s| {
        let decoder = s.spawn(move || {
            let mut uncompressed = 0u64;
            let mut batch = pool_rx.recv().unwrap_or_default();
            for g in 0..file.row_groups() {
                let read = file.read_row_group(g, |row| {
                    scanner.push_typed(row, &mut batch);
                    if batch.len() >= BATCH {
                        let mut next = pool_rx.recv().unwrap_or_default();
                        next.clear();
                        let _ = tx.send(std::mem::replace(&mut batch, next));
                    }
                });
                compressed.store(file.bytes_read(), Ordering::Relaxed);
                match read {
                    Ok(n) => {
                        uncompressed += n;
                        scanner.set_uncompressed(uncompressed);
                    }
                    Err(e) => return Err((e, uncompressed)),
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok((scanner, file.bytes_read()))
        });
        for b in rx.iter() {
            aggregator.consume(&b);
            let _ = pool_tx.try_send(b);
        }
        decoder.join()
    });
    match decoded {
        Ok(Ok((scanner, bytes_read))) => {
            Engine::from_parts(scanner, aggregator).finish(bytes_read, now)
        }
        Ok(Err((e, uncompressed))) => Err(analyze_error(e, &object, uncompressed)),
        Err(_) => Err(AnalyzeError::Internal {
            object,
            message: "the Parquet decoding thread panicked".into(),
        }),
    }
}

/// A Parquet failure as the engine reports it: not a flow log, or a read
/// failure (damaged data is `InvalidData`, which is not retried).
fn analyze_error(e: ParquetInputError, object: &SourceRef, bytes: u64) -> AnalyzeError {
    match e {
        ParquetInputError::NotFlowLog(reason) => AnalyzeError::NotFlowLog {
            object: object.clone(),
            reason: format!("Parquet: {reason}"),
        },
        ParquetInputError::Read { start, end, error } => AnalyzeError::Read {
            object: object.clone(),
            bytes,
            error: io::Error::new(
                error.kind(),
                format!("Parquet bytes {start}..{end}: {error}"),
            ),
        },
        ParquetInputError::Corrupt(m) => AnalyzeError::Read {
            object: object.clone(),
            bytes,
            error: io::Error::new(io::ErrorKind::InvalidData, format!("damaged Parquet: {m}")),
        },
    }
}
