//! The email rate guard's state (SPEC section 10): a message budget per
//! topic and minute, counted across every concurrent invocation, and the
//! notifications held back when a minute's budget is spent, to go out as a
//! digest with the next message that fits (or on the schedule). Held
//! notifications are claimed before they are sent, so two invocations
//! never send the same one; deleted only once sent; released when a send
//! fails. The [`HoldStore`] trait; the in-memory store implements it here,
//! DynamoDB in `io/dynamodb.rs`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::error::StateError;
use crate::rules::Finding;

/// How long a claim on held notifications lasts (wall clock) when the
/// claimer does not know its deadline: longer than any invocation. After
/// it, the notifications are claimable again.
pub const HOLD_LEASE_SECONDS: u64 = 15 * 60;
/// How long a claim outlives the deadline of the invocation that made it
/// (the Lambda service stops an invocation at its deadline; the margin
/// covers clock differences between containers).
pub const HOLD_LEASE_MARGIN_SECONDS: u64 = 30;
/// How long a held notification is kept at most before the store forgets
/// it (DynamoDB TTL), a safety net: the schedule sends them within minutes.
pub const HOLD_TTL_SECONDS: u64 = 14 * 24 * 3600;

/// One notification held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// `{finding_id}#{object token}`: the same object held twice (a retry)
    /// is one held notification.
    pub id: String,
    /// The finding as it was due.
    pub finding: Finding,
    /// Where the summaries of its object are.
    pub summaries: String,
    /// When it was held (wall clock).
    pub held_at: u64,
}

/// The rate guard's state.
pub trait HoldStore: Send + Sync {
    /// Takes one message of `budget` for `topic` in `minute` (Unix
    /// minute); `false` when that minute's budget is spent.
    fn take_message(
        &self,
        topic: &str,
        minute: u64,
        budget: u64,
    ) -> impl Future<Output = Result<bool, StateError>> + Send;

    /// Holds a notification (again holding the same id changes nothing).
    fn hold(&self, topic: &str, held: &Held)
        -> impl Future<Output = Result<(), StateError>> + Send;

    /// Claims for `token`, until `until`, at most `limit` held
    /// notifications that nobody holds a live claim on at `now` (wall
    /// clock), oldest first. A claimer that dies before it sends or
    /// releases them leaves them claimable again after `until`.
    fn claim_held(
        &self,
        topic: &str,
        token: &str,
        now: u64,
        until: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Held>, StateError>> + Send;

    /// Deletes the claimed notifications `ids`, sent.
    fn drop_held(
        &self,
        topic: &str,
        token: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Releases the claims on `ids` (their send failed, or they did not
    /// fit): the next message or schedule takes them.
    fn release_held(
        &self,
        topic: &str,
        token: &str,
        ids: &[String],
    ) -> impl Future<Output = Result<(), StateError>> + Send;
}

/// A held notification and its claim (token, wall-clock end), if any.
type HeldEntry = (Held, Option<(String, u64)>);

/// The in-memory rate guard of tests (the CLI has none: it sends nothing).
#[derive(Debug, Default)]
pub struct MemoryHold {
    /// (topic, minute) -> messages.
    pub counts: Mutex<BTreeMap<(String, u64), u64>>,
    /// (topic, id) -> (held, claim token and end).
    pub held: Mutex<BTreeMap<(String, String), HeldEntry>>,
}

fn poisoned() -> StateError {
    StateError::Unavailable {
        store: "memory".into(),
        message: "lock poisoned".into(),
    }
}

impl HoldStore for MemoryHold {
    async fn take_message(
        &self,
        topic: &str,
        minute: u64,
        budget: u64,
    ) -> Result<bool, StateError> {
        let mut c = self.counts.lock().map_err(|_| poisoned())?;
        let n = c.entry((topic.to_string(), minute)).or_default();
        if *n >= budget {
            return Ok(false);
        }
        *n += 1;
        Ok(true)
    }

    async fn hold(&self, topic: &str, held: &Held) -> Result<(), StateError> {
        let mut h = self.held.lock().map_err(|_| poisoned())?;
        h.entry((topic.to_string(), held.id.clone()))
            .or_insert_with(|| (held.clone(), None));
        Ok(())
    }

    async fn claim_held(
        &self,
        topic: &str,
        token: &str,
        now: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<Held>, StateError> {
        let mut h = self.held.lock().map_err(|_| poisoned())?;
        let mut mine: Vec<&mut (Held, Option<(String, u64)>)> = h
            .iter_mut()
            .filter(|((t, _), (_, claim))| {
                t == topic && claim.as_ref().is_none_or(|(_, end)| *end <= now)
            })
            .map(|(_, v)| v)
            .collect();
        mine.sort_by_key(|(held, _)| held.held_at);
        Ok(mine
            .into_iter()
            .take(limit)
            .map(|entry| {
                entry.1 = Some((token.to_string(), until));
                entry.0.clone()
            })
            .collect())
    }

    async fn drop_held(&self, topic: &str, token: &str, ids: &[String]) -> Result<(), StateError> {
        let mut h = self.held.lock().map_err(|_| poisoned())?;
        for id in ids {
            let key = (topic.to_string(), id.clone());
            if h.get(&key)
                .is_some_and(|(_, c)| c.as_ref().is_some_and(|(t, _)| t == token))
            {
                h.remove(&key);
            }
        }
        Ok(())
    }

    async fn release_held(
        &self,
        topic: &str,
        token: &str,
        ids: &[String],
    ) -> Result<(), StateError> {
        let mut h = self.held.lock().map_err(|_| poisoned())?;
        for id in ids {
            if let Some((_, claim)) = h.get_mut(&(topic.to_string(), id.clone())) {
                if claim.as_ref().is_some_and(|(t, _)| t == token) {
                    *claim = None;
                }
            }
        }
        Ok(())
    }
}
