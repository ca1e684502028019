//! Orchestration of one invocation, generic over the I/O traits, in one
//! file per step:
//!
//! | file | step |
//! |---|---|
//! | `invocation.rs` | the event: every Lambda payload shape to objects, and the answer each shape wants |
//! | `pipeline.rs` | one object: skip the function's own output and objects already processed, stream-analyse it on a blocking thread, write the summaries (`files` last) |
//! | `notify.rs` | correlate it with the state store (when there is one), settle the notification claims once delivered, record the completion marker |
//! | `enrich.rs` | EC2 enrichment of the findings due (best effort) |
//! | `deliver.rs` | the findings due to Security Hub, EventBridge, then SNS, each with bounded retries |
//! | `rate.rs` | the SNS step through the email rate guard: the budget per minute, held notifications, digests and the schedule |
//! | `outcome.rs` | what became of an object: outcomes, failures (each logged once, naming the object), metrics |
//!
//! Failure windows (at-least-once delivery): without a state store, a crash
//! after publishing and before the marker is written means a retry
//! publishes a second message, and two deliveries of one object running at
//! the same moment may both publish. With one, a finding is claimed in the
//! store before it is published, so concurrent deliveries notify it once;
//! a crash between the claim and the publish delays the notification until
//! the claim's lease ends. Summaries are always overwritten in place, so
//! they converge.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::correlate::{HoldStore, MemoryStore, StateStore};
use crate::io::{NoSinks, ObjectStore, Publisher, Sinks};

mod deliver;
mod enrich;
mod invocation;
mod notify;
mod outcome;
mod pipeline;
mod rate;
#[cfg(test)]
mod rate_tests;
#[cfg(test)]
mod tests;

pub use outcome::{
    emf_line, HandlerError, Metrics, ObjectFailure, ObjectOutcome, ALREADY_PROCESSED,
    NO_SUCH_OBJECT, OWN_OUTPUT,
};

/// What every step of the handler asks of its state store: the
/// correlation's subject states and the rate guard's counts and held
/// notifications.
pub trait Store: StateStore + HoldStore + 'static {}

impl<T: StateStore + HoldStore + 'static> Store for T {}

/// The handler, generic over storage, publishing, the correlation state
/// (`D`; none: every object on its own) and the other sinks (`K`: Security
/// Hub, EventBridge, EC2 enrichment).
pub struct Handler<S, P, D = MemoryStore, K = NoSinks> {
    store: Arc<S>,
    publisher: Arc<P>,
    config: Arc<Config>,
    state: Option<Arc<D>>,
    sinks: Arc<K>,
    /// The function's own account and region (Security Hub's product ARN,
    /// and which interfaces enrichment looks up without assuming a role),
    /// learnt from the first invocation's function ARN when not given.
    identity: Arc<OnceLock<Identity>>,
    /// The current invocation's deadline (Unix milliseconds; 0 when not
    /// known): claims on held notifications last until just after it.
    deadline: Arc<AtomicU64>,
}

/// The function's account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// 12 digits.
    pub account: String,
    /// A region name.
    pub region: String,
}

impl Identity {
    /// From a Lambda function ARN
    /// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`), when it is one.
    pub fn of_function_arn(arn: &str) -> Option<Identity> {
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        match parts.as_slice() {
            ["arn", _, "lambda", region, account, "function", ..]
                if crate::ids::is_account_id(account.as_bytes())
                    && crate::ids::is_region(region.as_bytes()) =>
            {
                Some(Identity {
                    account: account.to_string(),
                    region: region.to_string(),
                })
            }
            _ => None,
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<S: ObjectStore, P: Publisher> Handler<S, P> {
    /// Builds the handler once, without a state store: every object is
    /// analysed on its own.
    pub fn new(store: Arc<S>, publisher: Arc<P>, config: Arc<Config>) -> Handler<S, P> {
        Handler {
            store,
            publisher,
            config,
            state: None,
            sinks: Arc::new(NoSinks),
            identity: Arc::new(OnceLock::new()),
            deadline: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<S: ObjectStore, P: Publisher, D: Store> Handler<S, P, D> {
    /// Builds the handler once, correlating objects in `state`.
    pub fn with_state(
        store: Arc<S>,
        publisher: Arc<P>,
        config: Arc<Config>,
        state: Arc<D>,
    ) -> Handler<S, P, D> {
        let mut config = (*config).clone();
        config.correlate = true;
        Handler {
            store,
            publisher,
            config: Arc::new(config),
            state: Some(state),
            sinks: Arc::new(NoSinks),
            identity: Arc::new(OnceLock::new()),
            deadline: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<S: ObjectStore, P: Publisher, D: Store, K: Sinks> Handler<S, P, D, K> {
    /// The same handler delivering to `sinks` (the parts of SPEC section 10
    /// the configuration turns on), as the function of `identity` (when
    /// `None`, learnt by [`Handler::learn_identity`]).
    pub fn with_sinks<K2: Sinks>(
        self,
        sinks: Arc<K2>,
        identity: Option<Identity>,
    ) -> Handler<S, P, D, K2> {
        let known = Arc::new(OnceLock::new());
        if let Some(i) = identity {
            let _ = known.set(i);
        }
        Handler {
            store: self.store,
            publisher: self.publisher,
            config: self.config,
            state: self.state,
            sinks,
            identity: known,
            deadline: self.deadline,
        }
    }

    /// Notes the deadline of the invocation about to run (Unix
    /// milliseconds, the Lambda context's `deadline`).
    pub fn set_deadline(&self, deadline_ms: u64) {
        self.deadline.store(deadline_ms, Ordering::Relaxed);
    }

    /// Until when a claim made at `now` lasts: just past this invocation's
    /// deadline, so a claimer that is stopped or killed before it sends
    /// leaves the notifications to the next one within seconds.
    fn claim_until(&self, now: u64) -> u64 {
        match self.deadline.load(Ordering::Relaxed) {
            0 => now + crate::correlate::hold::HOLD_LEASE_SECONDS,
            ms => (ms / 1000).max(now) + crate::correlate::hold::HOLD_LEASE_MARGIN_SECONDS,
        }
    }

    /// Takes the function's identity from an invocation's function ARN,
    /// once.
    pub fn learn_identity(&self, function_arn: &str) {
        if self.identity.get().is_none() {
            if let Some(i) = Identity::of_function_arn(function_arn) {
                let _ = self.identity.set(i);
            }
        }
    }

    /// The same handler with another configuration (the Lambda function
    /// swaps in re-read threat and suppression lists); correlation stays
    /// on when a state store is in use.
    pub fn with_config(&self, config: Arc<Config>) -> Handler<S, P, D, K> {
        let mut config = config;
        if self.state.is_some() && !config.correlate {
            Arc::make_mut(&mut config).correlate = true;
        }
        Handler {
            store: self.store.clone(),
            publisher: self.publisher.clone(),
            config,
            state: self.state.clone(),
            sinks: self.sinks.clone(),
            identity: self.identity.clone(),
            deadline: self.deadline.clone(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }
}
