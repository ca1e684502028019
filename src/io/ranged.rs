//! Byte ranges of a stored object for the engine's blocking threads: a
//! [`ByteRanges`] over an [`ObjectStore`], each read a ranged GET run to
//! completion on the Tokio runtime that owns the store's client. Parquet
//! objects are read this way: the footer, then each row group's column
//! chunks, so memory holds one row group, never the object.

use std::io;
use std::sync::Arc;

use tokio::runtime::Handle;

use super::{ObjectStore, OpenedObject, StoreError};
use crate::event::ObjectRef;
use crate::flowlog::parquet::ByteRanges;

/// One version of one object, read by ranges.
pub struct StoreRanges<S> {
    store: Arc<S>,
    runtime: Handle,
    bucket: String,
    key: String,
    version_id: Option<String>,
    etag: Option<String>,
    len: u64,
}

impl<S: ObjectStore> StoreRanges<S> {
    /// Ranges of `bucket/key` (of the version `version_id`, or with the
    /// ETag `etag`), `len` bytes long. Must be read from a thread outside
    /// the runtime (a `spawn_blocking` thread or one it started), while the
    /// runtime is driven.
    pub fn new(
        store: Arc<S>,
        runtime: Handle,
        bucket: &str,
        key: &str,
        version_id: Option<String>,
        etag: Option<String>,
        len: u64,
    ) -> StoreRanges<S> {
        StoreRanges {
            store,
            runtime,
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id,
            etag,
            len,
        }
    }
}

impl<S: ObjectStore> StoreRanges<S> {
    /// Ranges of the version of `obj` that `opened` is reading, on the
    /// current runtime (call from inside it). Fails when the store gave no
    /// length or there is no runtime.
    pub fn of_opened(
        store: Arc<S>,
        obj: &ObjectRef,
        opened: &OpenedObject,
    ) -> io::Result<StoreRanges<S>> {
        let len = opened.length.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the store gave no length, which reading Parquet needs",
            )
        })?;
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        Ok(StoreRanges::new(
            store,
            runtime,
            &obj.bucket,
            &obj.key,
            opened.version_id.clone().or_else(|| obj.version_id.clone()),
            opened.etag.clone(),
            len,
        ))
    }
}

impl<S: ObjectStore> ByteRanges for StoreRanges<S> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_range(&self, start: u64, len: usize) -> io::Result<Vec<u8>> {
        let read = self.store.get_range(
            &self.bucket,
            &self.key,
            self.version_id.as_deref(),
            self.etag.as_deref(),
            start,
            len as u64,
        );
        self.runtime.block_on(read).map_err(to_io)
    }
}

/// A store failure as an I/O error whose kind keeps the retry decision:
/// the engine retries anything but invalid data and input.
fn to_io(e: StoreError) -> io::Error {
    let kind = match e {
        StoreError::NotFound { .. } => io::ErrorKind::NotFound,
        StoreError::Retryable { .. } => io::ErrorKind::ConnectionAborted,
        StoreError::Permanent { .. } => io::ErrorKind::InvalidInput,
    };
    io::Error::new(kind, e.to_string())
}
