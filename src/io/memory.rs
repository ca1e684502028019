//! In-memory fakes of [`ObjectStore`] and [`Publisher`], for unit tests of
//! the handler's error paths (compiled for tests only).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{ObjectStore, OpenedObject, PublishError, Publisher, StoreError};
use crate::report::SnsMessage;

/// Objects in a map, with switches to make operations fail.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// `(bucket, key)` → body.
    pub objects: Mutex<BTreeMap<(String, String), Vec<u8>>>,
    /// When set, `put` fails with this (retryable) message.
    pub fail_puts: Mutex<Option<String>>,
    /// When set, `open` fails with this (retryable) message.
    pub fail_opens: Mutex<Option<String>>,
    /// Body bytes handed to readers so far, over all opens.
    pub bytes_read: Arc<AtomicU64>,
    /// When set, reading a body panics (a stand-in for a bug in the engine).
    pub panic_reads: std::sync::atomic::AtomicBool,
    /// Ranged reads served so far, as `(start, len)`.
    pub ranges: Mutex<Vec<(u64, u64)>>,
    /// When set, `get_range` fails with this (retryable) message.
    pub fail_ranges: Mutex<Option<String>>,
}

/// A body that counts what its reader takes.
struct CountingBody {
    inner: Cursor<Vec<u8>>,
    read: Arc<AtomicU64>,
    panic: bool,
}

impl Read for CountingBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        assert!(!self.panic, "panic_reads is set");
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl MemoryStore {
    /// Adds an object.
    pub fn insert(&self, bucket: &str, key: &str, body: Vec<u8>) {
        if let Ok(mut o) = self.objects.lock() {
            o.insert((bucket.to_string(), key.to_string()), body);
        }
    }

    /// Deletes an object.
    pub fn remove(&self, bucket: &str, key: &str) {
        if let Ok(mut o) = self.objects.lock() {
            o.remove(&(bucket.to_string(), key.to_string()));
        }
    }

    /// Keys in a bucket.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.objects
            .lock()
            .map(|o| {
                o.keys()
                    .filter(|(b, _)| b == bucket)
                    .map(|(_, k)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A body.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.objects
            .lock()
            .ok()?
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }
}

fn retryable(bucket: &str, key: &str, message: &str) -> StoreError {
    StoreError::Retryable {
        bucket: bucket.into(),
        key: key.into(),
        message: message.into(),
    }
}

impl ObjectStore for MemoryStore {
    async fn open(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&str>,
    ) -> Result<OpenedObject, StoreError> {
        if let Some(m) = self.fail_opens.lock().ok().and_then(|f| f.clone()) {
            return Err(retryable(bucket, key, &m));
        }
        let body = self.get(bucket, key).ok_or_else(|| StoreError::NotFound {
            bucket: bucket.into(),
            key: key.into(),
        })?;
        let etag = format!("{:016x}", crate::hash::fnv1a64(&body));
        Ok(OpenedObject {
            length: Some(body.len() as u64),
            body: Box::new(CountingBody {
                inner: Cursor::new(body),
                read: self.bytes_read.clone(),
                panic: self.panic_reads.load(Ordering::Relaxed),
            }),
            etag: Some(etag),
            version_id: None,
        })
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&str>,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        if let Some(m) = self.fail_ranges.lock().ok().and_then(|f| f.clone()) {
            return Err(retryable(bucket, key, &m));
        }
        let body = self.get(bucket, key).ok_or_else(|| StoreError::NotFound {
            bucket: bucket.into(),
            key: key.into(),
        })?;
        if etag.is_some_and(|e| e != format!("{:016x}", crate::hash::fnv1a64(&body))) {
            return Err(retryable(
                bucket,
                key,
                "the object changed while it was read",
            ));
        }
        let slice = usize::try_from(start)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(s, l)| body.get(s..s.checked_add(l)?))
            .ok_or_else(|| StoreError::Permanent {
                bucket: bucket.into(),
                key: key.into(),
                message: format!("range {start}+{len} is not satisfiable"),
            })?;
        if let Ok(mut r) = self.ranges.lock() {
            r.push((start, len));
        }
        self.bytes_read.fetch_add(len, Ordering::Relaxed);
        Ok(slice.to_vec())
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        _ct: &str,
        _ce: Option<&str>,
    ) -> Result<(), StoreError> {
        if let Some(m) = self.fail_puts.lock().ok().and_then(|f| f.clone()) {
            return Err(retryable(bucket, key, &m));
        }
        self.insert(bucket, key, body);
        Ok(())
    }

    async fn put_if_absent(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let mut o = self
            .objects
            .lock()
            .map_err(|_| retryable(bucket, key, "lock poisoned"))?;
        let k = (bucket.to_string(), key.to_string());
        if o.contains_key(&k) {
            return Ok(false);
        }
        o.insert(k, body);
        Ok(true)
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.get(bucket, key).is_some())
    }
}

/// Records published messages; can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    /// Messages published so far.
    pub published: Mutex<Vec<SnsMessage>>,
    /// When set, publishing fails with this message.
    pub fail: Mutex<Option<String>>,
}

impl Publisher for MemoryPublisher {
    async fn publish(&self, message: &SnsMessage) -> Result<String, PublishError> {
        if let Some(m) = self.fail.lock().ok().and_then(|f| f.clone()) {
            return Err(PublishError {
                topic: "memory".into(),
                message: m,
                retryable: true,
            });
        }
        let mut p = self.published.lock().map_err(|_| PublishError {
            topic: "memory".into(),
            message: "lock poisoned".into(),
            retryable: true,
        })?;
        p.push(message.clone());
        Ok(format!("msg-{}", p.len()))
    }
}
