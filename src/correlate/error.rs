//! Why the correlation's state store could not be used.

/// Why the store could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The store did not answer, or kept throttling: the object is retried.
    #[error("state store {store}: {message} (retryable)")]
    Unavailable {
        /// The store (table or file).
        store: String,
        /// What happened.
        message: String,
    },
    /// The store holds something this version cannot read.
    #[error("state store {store}: {key}: {message}")]
    Unreadable {
        /// The store.
        store: String,
        /// The item or record.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl StateError {
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StateError::Unavailable { .. })
    }
}
