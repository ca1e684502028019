//! Where subject states live: the [`StateStore`] trait, the stored form of
//! a state (gzip'd JSON with a version, so a state written by another
//! version or damaged is an error that names it), and the in-memory store
//! of one CLI run.

use std::collections::HashMap;
use std::future::Future;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use flate2::read::GzDecoder;

pub use super::error::StateError;
use super::hold::{Held, HoldStore, MemoryHold};
use super::state::{SubjectState, STATE_VERSION};

/// The key of a subject's state: the partition key and sort key of SPEC
/// section 7 (both strings).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateKey {
    /// Partition key: the finding id of the subject.
    pub pk: String,
    /// Sort key: what the item holds (`state`).
    pub sk: String,
}

/// A stored state and the version a conditional write must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// Incremented by every write.
    pub version: u64,
    /// The state.
    pub state: SubjectState,
}

/// Subject states, read in batches and written with a condition on their
/// version, so concurrent invocations never overwrite each other's work.
pub trait StateStore: Send + Sync {
    /// The states of `keys`, in order (`None` where there is none).
    fn load(
        &self,
        keys: &[StateKey],
    ) -> impl Future<Output = Result<Vec<Option<Versioned>>, StateError>> + Send;

    /// Writes `state` under `key` if its stored version is still
    /// `expected` (`None`: no state yet), with version `expected + 1`;
    /// `Ok(false)` when another write came first. `expires_at` (Unix
    /// seconds) is when the store may forget it.
    fn save(
        &self,
        key: &StateKey,
        state: &SubjectState,
        expected: Option<u64>,
        expires_at: u64,
    ) -> impl Future<Output = Result<bool, StateError>> + Send;

    /// Requests sent to the store so far (reads and writes).
    fn requests(&self) -> u64;

    /// The store's name, for messages.
    fn name(&self) -> String;
}

/// The stored bytes of a state: gzip'd JSON.
pub fn encode(state: &SubjectState) -> Vec<u8> {
    // Serialising plain data into memory cannot fail.
    crate::summary::gzip(&serde_json::to_vec(state).unwrap_or_default())
}

/// Reads [`encode`]'s bytes; an error says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<SubjectState, String> {
    let mut json = Vec::new();
    GzDecoder::new(bytes)
        .take(16 << 20)
        .read_to_end(&mut json)
        .map_err(|e| format!("not a flowguard state (gzip: {e})"))?;
    #[derive(serde::Deserialize)]
    struct Version {
        v: u32,
    }
    let v: Version =
        serde_json::from_slice(&json).map_err(|e| format!("not a flowguard state ({e})"))?;
    if v.v != STATE_VERSION {
        return Err(format!(
            "state of version {} (this flowguard reads version {STATE_VERSION})",
            v.v
        ));
    }
    serde_json::from_slice(&json).map_err(|e| format!("damaged state: {e}"))
}

/// Subject states in memory, for one run of the CLI and for tests. They
/// are kept as they are: nothing leaves the process, so nothing is encoded.
#[derive(Debug, Default)]
pub struct MemoryStore {
    states: Mutex<HashMap<StateKey, Versioned>>,
    requests: AtomicU64,
    /// The rate guard's counts and held notifications.
    pub hold: MemoryHold,
}

impl MemoryStore {
    /// Subjects held.
    pub fn len(&self) -> usize {
        self.states.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Whether no subject is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl StateStore for MemoryStore {
    async fn load(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let states = self.states.lock().map_err(|_| poisoned())?;
        Ok(keys.iter().map(|k| states.get(k).cloned()).collect())
    }

    async fn save(
        &self,
        key: &StateKey,
        state: &SubjectState,
        expected: Option<u64>,
        _expires_at: u64,
    ) -> Result<bool, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut states = self.states.lock().map_err(|_| poisoned())?;
        let current = states.get(key).map(|v| v.version);
        if current != expected {
            return Ok(false);
        }
        let version = expected.map_or(1, |v| v + 1);
        states.insert(
            key.clone(),
            Versioned {
                version,
                state: state.clone(),
            },
        );
        Ok(true)
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn name(&self) -> String {
        "memory".into()
    }
}

fn poisoned() -> StateError {
    StateError::Unavailable {
        store: "memory".into(),
        message: "lock poisoned".into(),
    }
}

/// Runs a future to completion on this thread. For stores whose futures
/// never wait (memory, the embedded file store), so the CLI needs no async
/// runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// The correlation's in-memory store keeps a rate guard too (its
/// [`MemoryHold`]), so the handler's tests run the rate guard over one
/// store as the Lambda function does over its DynamoDB table.
impl HoldStore for MemoryStore {
    async fn take_message(
        &self,
        topic: &str,
        minute: u64,
        budget: u64,
    ) -> Result<bool, StateError> {
        self.hold.take_message(topic, minute, budget).await
    }

    async fn hold(&self, topic: &str, held: &Held) -> Result<(), StateError> {
        self.hold.hold(topic, held).await
    }

    async fn claim_held(
        &self,
        topic: &str,
        token: &str,
        now: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<Held>, StateError> {
        self.hold.claim_held(topic, token, now, until, limit).await
    }

    async fn drop_held(&self, topic: &str, token: &str, ids: &[String]) -> Result<(), StateError> {
        self.hold.drop_held(topic, token, ids).await
    }

    async fn release_held(
        &self,
        topic: &str,
        token: &str,
        ids: &[String],
    ) -> Result<(), StateError> {
        self.hold.release_held(topic, token, ids).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Candidate, Evidence, RuleId, Severity, Subject};

    fn state() -> SubjectState {
        let mut e = Evidence {
            flows: 3,
            count: 3,
            first: Some(10),
            last: Some(20),
            ..Evidence::default()
        };
        e.distinct_dst.add(7);
        let c = Candidate {
            rule: RuleId::PortScan,
            subject: Subject::Source {
                addr: "203.0.113.5"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0])),
            },
            severity: Severity::Medium,
            evidence: e.clone(),
            label: None,
        };
        let mut s = SubjectState::empty(&c);
        s.total = e;
        s
    }

    #[test]
    fn encoded_states_round_trip_and_other_versions_are_refused() {
        let s = state();
        assert_eq!(decode(&encode(&s)), Ok(s.clone()));
        let mut other = s;
        other.v = STATE_VERSION + 1;
        let e = decode(&encode(&other)).unwrap_err();
        assert!(e.contains("version 2"), "{e}");
        assert!(decode(b"not gzip")
            .unwrap_err()
            .contains("not a flowguard state"));
    }

    #[test]
    fn memory_writes_are_conditional_on_the_version() {
        let store = MemoryStore::default();
        let key = StateKey {
            pk: "fg-1".into(),
            sk: "state".into(),
        };
        let s = state();
        assert_eq!(block_on(store.save(&key, &s, None, 0)), Ok(true));
        assert_eq!(block_on(store.save(&key, &s, None, 0)), Ok(false), "exists");
        assert_eq!(
            block_on(store.save(&key, &s, Some(2), 0)),
            Ok(false),
            "stale"
        );
        assert_eq!(block_on(store.save(&key, &s, Some(1), 0)), Ok(true));
        let got = block_on(store.load(std::slice::from_ref(&key))).unwrap();
        assert_eq!(got[0].as_ref().map(|v| v.version), Some(2));
        assert_eq!(store.requests(), 5);
    }
}
