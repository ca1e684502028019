//! [`StateStore`] in one local file, for `flowguard analyze --state FILE`:
//! a redb database (an embedded, crash-safe key-value store). Every write is
//! a transaction, so an interrupted run never leaves a half-written state;
//! a file that is not a flowguard state file, or one written by another
//! state version, is an error that names it and is never reset.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::correlate::store::{decode, encode, StateError, StateKey, StateStore, Versioned};
use crate::correlate::SubjectState;

/// `key` -> 8-byte little-endian version, then the encoded state.
const STATES: TableDefinition<&str, &[u8]> = TableDefinition::new("subjects");
/// What the file is: [`FORMAT`] under `format`.
const META: TableDefinition<&str, &str> = TableDefinition::new("flowguard");
/// The format marker of a state file of this version.
pub const FORMAT: &str = "flowguard-state/1";

/// A state file.
pub struct FileStore {
    db: Database,
    path: PathBuf,
    requests: AtomicU64,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish()
    }
}

fn joined(key: &StateKey) -> String {
    format!("{}\u{1f}{}", key.pk, key.sk)
}

impl FileStore {
    /// Opens `path`, creating it (with the format marker) when it does not
    /// exist. A damaged or foreign file is an error naming it.
    pub fn open(path: &Path) -> Result<FileStore, StateError> {
        let name = path.display().to_string();
        let unreadable = |message: String| StateError::Unreadable {
            store: name.clone(),
            key: "file".into(),
            message,
        };
        let existed = path.exists();
        let db = if existed {
            Database::open(path)
        } else {
            Database::create(path)
        }
        .map_err(|e| unreadable(format!("not a flowguard state file ({e})")))?;
        let store = FileStore {
            db,
            path: path.to_path_buf(),
            requests: AtomicU64::new(0),
        };
        let format = {
            let read = store
                .db
                .begin_read()
                .map_err(|e| unreadable(e.to_string()))?;
            match read.open_table(META) {
                Ok(t) => t
                    .get("format")
                    .map_err(|e| unreadable(e.to_string()))?
                    .map(|v| v.value().to_string()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(unreadable(e.to_string())),
            }
        };
        match format {
            Some(f) if f == FORMAT => Ok(store),
            Some(f) => Err(unreadable(format!(
                "written as '{f}'; this flowguard reads '{FORMAT}'"
            ))),
            None if !existed => {
                store.write(|txn| {
                    let mut t = txn.open_table(META)?;
                    t.insert("format", FORMAT)?;
                    Ok(())
                })?;
                Ok(store)
            }
            None => Err(unreadable(
                "not a flowguard state file (no format marker)".into(),
            )),
        }
    }

    fn unavailable(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Unavailable {
            store: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StateError> {
        let txn = self.db.begin_write().map_err(|e| self.unavailable(e))?;
        let out = f(&txn).map_err(|e| self.unavailable(e))?;
        txn.commit().map_err(|e| self.unavailable(e))?;
        Ok(out)
    }
}

fn split(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (v, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*v), rest))
}

impl StateStore for FileStore {
    async fn load(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let read = self.db.begin_read().map_err(|e| self.unavailable(e))?;
        let table = match read.open_table(STATES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![None; keys.len()]),
            Err(e) => return Err(self.unavailable(e)),
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(value) = table
                .get(joined(key).as_str())
                .map_err(|e| self.unavailable(e))?
            else {
                out.push(None);
                continue;
            };
            let bytes = value.value();
            let state = split(bytes)
                .ok_or_else(|| "record too short".to_string())
                .and_then(|(version, rest)| decode(rest).map(|s| (version, s)))
                .map_err(|message| StateError::Unreadable {
                    store: self.path.display().to_string(),
                    key: key.pk.clone(),
                    message,
                })?;
            out.push(Some(Versioned {
                version: state.0,
                state: state.1,
            }));
        }
        Ok(out)
    }

    async fn save(
        &self,
        key: &StateKey,
        state: &SubjectState,
        expected: Option<u64>,
        _expires_at: u64,
    ) -> Result<bool, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let k = joined(key);
        let encoded = encode(state);
        self.write(|txn| {
            let mut t = txn.open_table(STATES)?;
            let current = t
                .get(k.as_str())?
                .and_then(|v| split(v.value()).map(|s| s.0));
            if current != expected {
                return Ok(false);
            }
            let version = expected.map_or(1, |v| v + 1);
            let mut record = version.to_le_bytes().to_vec();
            record.extend_from_slice(&encoded);
            t.insert(k.as_str(), record.as_slice())?;
            Ok(true)
        })
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}
