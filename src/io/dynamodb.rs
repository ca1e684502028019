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

use crate::correlate::hold::{Held, HoldStore, HOLD_TTL_SECONDS};
use crate::correlate::store::{decode, encode, StateError, StateKey, StateStore, Versioned};
use crate::correlate::SubjectState;
use crate::summary::gzip;

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

/// The partition key of a topic's items of kind `kind` (`rate`, `held`):
/// a hash of the topic ARN, so the key says nothing of it.
fn topic_pk(kind: &str, topic: &str) -> String {
    format!("{kind}#{:016x}", crate::hash::fnv1a64(topic.as_bytes()))
}

impl DynamoStore {
    fn conditional<E, R>(
        &self,
        r: Result<
            R,
            aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
        >,
    ) -> Result<bool, StateError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.unavailable(describe(&e))),
        }
    }

    /// The held notification of `item`, unless a claim on it lasts
    /// beyond `now`.
    fn unclaimed(&self, item: &HashMap<String, AttributeValue>, now: u64) -> Option<Held> {
        let claimed_until = match item.get("claim_until") {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        };
        if claimed_until.is_some_and(|end| end > now) {
            return None;
        }
        let Some(AttributeValue::B(b)) = item.get("held") else {
            return None;
        };
        let held = gunzip(b.as_ref()).and_then(|j| serde_json::from_slice::<Held>(&j).ok());
        if held.is_none() {
            tracing::warn!(table = %self.table, "a held notification cannot be read; left in place");
        }
        held
    }

    fn held_key(topic: &str, id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(topic_pk("held", topic))),
            ("sk".to_string(), AttributeValue::S(id.to_string())),
        ])
    }
}

/// The rate guard in the state table: a counter item per topic and minute
/// (`rate#…`, `minute#…`, TTL an hour later) raised by a conditional
/// `UpdateItem`, and one item per held notification (`held#…`, the
/// notification's id) claimed by a conditional update.
impl HoldStore for DynamoStore {
    async fn take_message(
        &self,
        topic: &str,
        minute: u64,
        budget: u64,
    ) -> Result<bool, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(topic_pk("rate", topic)))
            .key("sk", AttributeValue::S(format!("minute#{minute}")))
            .update_expression("ADD messages :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(messages) OR messages < :budget")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":budget", AttributeValue::N(budget.to_string()))
            .expression_attribute_values(
                ":exp",
                AttributeValue::N((minute * 60 + 3600).to_string()),
            )
            .send()
            .await;
        self.conditional(r)
    }

    async fn hold(&self, topic: &str, held: &Held) -> Result<(), StateError> {
        let body = serde_json::to_vec(held).map_err(|e| self.unavailable(e.to_string()))?;
        let mut item = Self::held_key(topic, &held.id);
        item.insert("held".into(), AttributeValue::B(Blob::new(gzip(&body))));
        item.insert(
            "held_at".into(),
            AttributeValue::N(held.held_at.to_string()),
        );
        item.insert(
            "expires_at".into(),
            AttributeValue::N((held.held_at + HOLD_TTL_SECONDS).to_string()),
        );
        self.requests.fetch_add(1, Ordering::Relaxed);
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Already held (a retry of the same object): nothing to do.
        self.conditional(r).map(|_| ())
    }

    async fn claim_held(
        &self,
        topic: &str,
        token: &str,
        now: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<Held>, StateError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(topic_pk("held", topic)))
            .consistent_read(true)
            .limit(i32::try_from(limit.saturating_mul(2).max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| self.unavailable(describe(&e)))?;
        let mut candidates: Vec<Held> = out
            .items()
            .iter()
            .filter_map(|item| self.unclaimed(item, now))
            .collect();
        candidates.sort_by_key(|h| h.held_at);
        let mut claimed = Vec::new();
        for h in candidates.into_iter().take(limit) {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::held_key(topic, &h.id)))
                .update_expression("SET claim_token = :t, claim_until = :until")
                .condition_expression("attribute_exists(pk) AND (attribute_not_exists(claim_until) OR claim_until <= :now)")
                .expression_attribute_values(":t", AttributeValue::S(token.to_string()))
                .expression_attribute_values(":until", AttributeValue::N(until.to_string()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .send()
                .await;
            if self.conditional(r)? {
                claimed.push(h);
            }
        }
        Ok(claimed)
    }

    async fn drop_held(&self, topic: &str, token: &str, ids: &[String]) -> Result<(), StateError> {
        for id in ids {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let r = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(Self::held_key(topic, id)))
                .condition_expression("claim_token = :t")
                .expression_attribute_values(":t", AttributeValue::S(token.to_string()))
                .send()
                .await;
            self.conditional(r)?;
        }
        Ok(())
    }

    async fn release_held(
        &self,
        topic: &str,
        token: &str,
        ids: &[String],
    ) -> Result<(), StateError> {
        for id in ids {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::held_key(topic, id)))
                .update_expression("REMOVE claim_token, claim_until")
                .condition_expression("claim_token = :t")
                .expression_attribute_values(":t", AttributeValue::S(token.to_string()))
                .send()
                .await;
            self.conditional(r)?;
        }
        Ok(())
    }
}

fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(16 << 20)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}
