//! Orchestration of one invocation, generic over the I/O traits, in one
//! file per step:
//!
//! | file | step |
//! |---|---|
//! | `invocation.rs` | the event: every Lambda payload shape to objects, and the answer each shape wants |
//! | `pipeline.rs` | one object: skip the function's own output and objects already processed, stream-analyse it on a blocking thread, write the summaries (`files` last) |
//! | `notify.rs` | correlate it with the state store (when there is one), publish the SNS message with the findings due, settle the notification claims, record the completion marker |
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

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::correlate::{MemoryStore, StateStore};
use crate::io::{ObjectStore, Publisher};

mod invocation;
mod notify;
mod outcome;
mod pipeline;
#[cfg(test)]
mod tests;

pub use outcome::{
    emf_line, HandlerError, ObjectFailure, ObjectOutcome, ALREADY_PROCESSED, NO_SUCH_OBJECT,
    OWN_OUTPUT,
};

/// The handler, generic over storage, publishing and the correlation
/// state (`D`; none: every object on its own).
pub struct Handler<S, P, D = MemoryStore> {
    store: Arc<S>,
    publisher: Arc<P>,
    config: Arc<Config>,
    state: Option<Arc<D>>,
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
        }
    }
}

impl<S: ObjectStore, P: Publisher, D: StateStore + 'static> Handler<S, P, D> {
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
        }
    }

    /// The same handler with another configuration (the Lambda function
    /// swaps in re-read threat and suppression lists); correlation stays
    /// on when a state store is in use.
    pub fn with_config(&self, config: Arc<Config>) -> Handler<S, P, D> {
        let mut config = config;
        if self.state.is_some() && !config.correlate {
            Arc::make_mut(&mut config).correlate = true;
        }
        Handler {
            store: self.store.clone(),
            publisher: self.publisher.clone(),
            config,
            state: self.state.clone(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }
}
