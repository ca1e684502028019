//! Where an object came from, and what its key says about it.

use serde::{Deserialize, Serialize};

/// The identity of one analysed object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceRef {
    /// An S3 object.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key (decoded).
        key: String,
    },
    /// A local file, or `-` for standard input.
    Path {
        /// The path as given.
        path: String,
    },
}

impl SourceRef {
    /// `s3://bucket/key` or the path.
    pub fn display(&self) -> String {
        match self {
            SourceRef::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            SourceRef::Path { path } => path.clone(),
        }
    }

    /// The bucket of an S3 object.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            SourceRef::S3 { bucket, .. } => Some(bucket),
            SourceRef::Path { .. } => None,
        }
    }

    /// The key of an S3 object.
    pub fn key(&self) -> Option<&str> {
        match self {
            SourceRef::S3 { key, .. } => Some(key),
            SourceRef::Path { .. } => None,
        }
    }

    /// The path of a local file.
    pub fn path(&self) -> Option<&str> {
        match self {
            SourceRef::S3 { .. } => None,
            SourceRef::Path { path } => Some(path),
        }
    }

    /// The key or path, used to derive partitions and the output stem.
    pub fn key_like(&self) -> &str {
        match self {
            SourceRef::S3 { key, .. } => key,
            SourceRef::Path { path } => path,
        }
    }
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}
