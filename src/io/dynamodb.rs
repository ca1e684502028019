//! [`StateStore`] over Amazon DynamoDB, for the Lambda function: one item
//! per subject, partition key `pk` (the finding id) and sort key `sk`
//! (`state`), both strings; the state gzip'd in the Binary attribute
//! `state`; `version` for conditional writes; TTL on `expires_at`. Reads
//! are strongly consistent batches of up to 100 keys; writes are
//! conditional puts. Throttling and transient errors are retried by the
//! SDK with exponential backoff (the client is built with its retry
//! configuration); an error that outlasts them fails the object as
//! retryable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;

use crate::correlate::store::{decode, encode, StateError, StateKey, StateStore, Versioned};
use crate::correlate::SubjectState;

/// Rounds of `UnprocessedKeys` a batch read retries before giving up.
const BATCH_ROUNDS: u32 = 8;

/// The state table.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    requests: AtomicU64,
}

impl DynamoStore {
    /// The table `table`, through `client` (built once at start-up, with
    /// the SDK's retry configuration).
    pub fn new(client: Client, table: String) -> DynamoStore {
        DynamoStore {
            client,
            table,
            requests: AtomicU64::new(0),
        }
    }

    fn unavailable(&self, message: String) -> StateError {
        StateError::Unavailable {
            store: format!("DynamoDB table {}", self.table),
            message,
        }
    }

    fn key_attrs(key: &StateKey) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(key.pk.clone())),
            ("sk".to_string(), AttributeValue::S(key.sk.clone())),
        ])
    }

    fn read_item(
        &self,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<(StateKey, Versioned), StateError> {
        let text = |name: &str| match item.get(name) {
            Some(AttributeValue::S(s)) => Some(s.clone()),
            _ => None,
        };
        let key = StateKey {
            pk: text("pk").unwrap_or_default(),
            sk: text("sk").unwrap_or_default(),
        };
        let unreadable = |message: String| StateError::Unreadable {
            store: format!("DynamoDB table {}", self.table),
            key: key.pk.clone(),
            message,
        };
        let version = match item.get("version") {
            Some(AttributeValue::N(n)) => n
                .parse::<u64>()
                .map_err(|_| unreadable(format!("version '{n}' is not a number")))?,
            _ => return Err(unreadable("no version".into())),
        };
        let state = match item.get("state") {
            Some(AttributeValue::B(b)) => decode(b.as_ref()).map_err(&unreadable)?,
            _ => return Err(unreadable("no state".into())),
        };
        Ok((key, Versioned { version, state }))
    }
}

impl StateStore for DynamoStore {
    async fn load(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StateError> {
        let mut found: HashMap<StateKey, Versioned> = HashMap::new();
        let mut pending: Vec<HashMap<String, AttributeValue>> =
            keys.iter().map(Self::key_attrs).collect();
        let mut round = 0;
        while !pending.is_empty() {
            if round >= BATCH_ROUNDS {
                return Err(self.unavailable(format!(
                    "{} keys still unprocessed after {BATCH_ROUNDS} rounds",
                    pending.len()
                )));
            }
            if round > 0 {
                // Unprocessed keys mean throttling: back off.
                tokio::time::sleep(Duration::from_millis(50 << round.min(6))).await;
            }
            round += 1;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| self.unavailable(e.to_string()))?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| self.unavailable(describe(&e)))?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let (key, v) = self.read_item(item)?;
                found.insert(key, v);
            }
            if let Some(rest) = out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                pending = rest.keys().to_vec();
            }
        }
        Ok(keys.iter().map(|k| found.remove(k)).collect())
    }

    async fn save(
        &self,
        key: &StateKey,
        state: &SubjectState,
        expected: Option<u64>,
        expires_at: u64,
    ) -> Result<bool, StateError> {
        let version = expected.map_or(1, |v| v + 1);
        let mut item = Self::key_attrs(key);
        item.insert("version".into(), AttributeValue::N(version.to_string()));
        item.insert("state".into(), AttributeValue::B(Blob::new(encode(state))));
        item.insert(
            "expires_at".into(),
            AttributeValue::N(expires_at.to_string()),
        );
        item.insert("rule".into(), AttributeValue::S(state.rule.to_string()));
        item.insert(
            "subject".into(),
            AttributeValue::S(state.subject.to_string()),
        );
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.unavailable(describe(&e))),
        }
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn name(&self) -> String {
        format!("DynamoDB table {}", self.table)
    }
}

/// The service's code and message when there is one, the error's context
/// otherwise (cut short: it can hold a raw response).
fn describe<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => crate::flowlog::format::truncate(&DisplayErrorContext(e).to_string(), 300).to_string(),
    }
}
