//! [`ObjectStore`] over Amazon S3 (or any S3-compatible endpoint). The body
//! of GetObject is pumped into a small bounded channel by a task and read on
//! the engine's blocking thread, so memory does not grow with the object.
//! Parquet objects are read with ranged GETs instead (`get_range`).

use std::io::{self, Read};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

use super::{ObjectStore, OpenedObject, StoreError};

/// Body chunks in flight between the network task and the parser.
const BODY_CHUNKS_IN_FLIGHT: usize = 2;

/// The S3 client, built once at start-up.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
}

impl S3Store {
    /// Wraps a client. With a custom endpoint (`AWS_ENDPOINT_URL`), pass a
    /// client configured with path-style addressing.
    pub fn new(client: Client) -> S3Store {
        S3Store { client }
    }
}

/// Maps an SDK error to a [`StoreError`]: 404 is `NotFound`; timeouts,
/// dispatch failures, throttling and 5xx are retryable; the rest permanent.
fn classify<E>(
    bucket: &str,
    key: &str,
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = DisplayErrorContext(err).to_string();
    let (bucket, key) = (bucket.to_string(), key.to_string());
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default();
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Retryable {
                bucket,
                key,
                message,
            }
        }
        // A missing bucket is a configuration problem that can be fixed
        // while the event waits: retryable, and named as such.
        _ if code == "NoSuchBucket" => StoreError::Retryable {
            bucket,
            key,
            message: "no such bucket".to_string(),
        },
        _ if status == Some(404) || matches!(code, "NoSuchKey" | "NoSuchVersion" | "NotFound") => {
            StoreError::NotFound { bucket, key }
        }
        _ if status.is_some_and(|s| s >= 500 || s == 429)
            || matches!(
                code,
                "SlowDown"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestTimeout"
                    | "InternalError"
                    | "ServiceUnavailable"
            ) =>
        {
            StoreError::Retryable {
                bucket,
                key,
                message,
            }
        }
        _ => StoreError::Permanent {
            bucket,
            key,
            message,
        },
    }
}

/// A blocking reader over body chunks sent by the network task. It checks
/// that the body had the announced length, so a connection cut short is an
/// error, not a silently shorter object.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    expected: Option<u64>,
    read: u64,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !self.current.has_remaining() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => {
                    self.done = true;
                    if let Some(want) = self.expected.filter(|w| self.read < *w) {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            format!("S3 body ended after {} of {want} bytes", self.read),
                        ));
                    }
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.remaining());
        self.current.copy_to_slice(&mut buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

async fn pump(mut body: ByteStream, tx: mpsc::Sender<io::Result<Bytes>>) {
    loop {
        match body.next().await {
            Some(Ok(b)) => {
                if tx.send(Ok(b)).await.is_err() {
                    return; // the reader stopped
                }
            }
            Some(Err(e)) => {
                let _ = tx
                    .send(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("S3 body: {e}"),
                    )))
                    .await;
                return;
            }
            None => return,
        }
    }
}

/// The whole body of a ranged GET of `len` bytes at `start`: exactly that
/// many bytes, or what went wrong.
async fn read_range(mut body: ByteStream, start: u64, len: u64) -> Result<Vec<u8>, String> {
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("S3 body of bytes {start}+{len}: {e}"))?;
        if buf.len() + chunk.len() > buf.capacity() {
            return Err(format!(
                "ranged GET of {len} bytes at {start} returned more"
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    if buf.len() as u64 != len {
        return Err(format!(
            "ranged GET of {len} bytes at {start} returned {}",
            buf.len()
        ));
    }
    Ok(buf)
}

impl ObjectStore for S3Store {
    async fn open(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<OpenedObject, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| classify(bucket, key, &e))?;
        let length = out.content_length().and_then(|l| u64::try_from(l).ok());
        let etag = out.e_tag().map(|e| e.trim_matches('"').to_string());
        let version_id = out.version_id().map(str::to_string);
        let (tx, rx) = mpsc::channel(BODY_CHUNKS_IN_FLIGHT);
        tokio::spawn(pump(out.body, tx));
        Ok(OpenedObject {
            body: Box::new(ChannelReader {
                rx,
                current: Bytes::new(),
                expected: length,
                read: 0,
                done: false,
            }),
            etag,
            version_id,
            length,
        })
    }

    async fn get_range(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        etag: Option<&str>,
        start: u64,
        len: u64,
    ) -> Result<Vec<u8>, StoreError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let retryable = |message: String| StoreError::Retryable {
            bucket: bucket.to_string(),
            key: key.to_string(),
            message,
        };
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_string))
            .set_if_match(etag.map(|e| format!("\"{e}\"")))
            .range(format!("bytes={start}-{}", start + len - 1))
            .send()
            .await
            .map_err(|e| {
                if e.raw_response().map(|r| r.status().as_u16()) == Some(412) {
                    // Replaced since it was opened: a retry reads the new one.
                    retryable("the object changed while it was read (ETag differs)".into())
                } else {
                    classify(bucket, key, &e)
                }
            })?;
        read_range(out.body, start, len).await.map_err(retryable)
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .set_content_encoding(content_encoding.map(str::to_string))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(bucket, key, &e))?;
        Ok(())
    }

    async fn put_if_absent(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.raw_response().map(|r| r.status().as_u16()) == Some(412)
                    || e.code() == Some("PreconditionFailed") =>
            {
                Ok(false)
            }
            Err(e) => Err(classify(bucket, key, &e)),
        }
    }

    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match classify(bucket, key, &e) {
                StoreError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }
}
