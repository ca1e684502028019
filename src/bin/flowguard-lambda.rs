//! `flowguard-lambda`: the S3-triggered Lambda function (packaged as
//! `bootstrap` by cargo-lambda). Configuration is read once, clients are
//! built once, the threat and suppression lists are read from S3, then
//! every invocation goes to [`flowguard::handler`] (after a check of the
//! lists' ETags, at most once per `intel_refresh_seconds`).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

use flowguard::config::Config;
use flowguard::handler::{Handler, HandlerError, Store};
use flowguard::intel::Location;
use flowguard::io::aws_sinks::AwsSinks;
use flowguard::io::dynamodb::DynamoStore;
use flowguard::io::eventbridge::EventBus;
use flowguard::io::lists::{ListSet, S3Lists};
use flowguard::io::s3::S3Store;
use flowguard::io::securityhub::SecurityHub;
use flowguard::io::sns::SnsPublisher;
use flowguard::io::{ObjectStore, Publisher, Sinks};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .init();

    let mut config = match Config::from_env(std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowguard-lambda: configuration error: {e}");
            tracing::error!(variable = %e.origin, "configuration error: {}", e.message);
            std::process::exit(2);
        }
    };

    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    // A custom endpoint (moto, MinIO, LocalStack) needs path-style URLs.
    let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(custom_endpoint)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    let lists = load_lists(&mut config, S3Lists::new(s3.clone())).await;
    let config = Arc::new(config);
    let store = Arc::new(S3Store::new(s3));
    let topic = config
        .lambda
        .topic_arn
        .as_ref()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let publisher = Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), topic));
    let sinks = Arc::new(sinks(&sdk, &config));
    tracing::info!(
        summary_bucket = ?config.lambda.summary_bucket.as_ref().map(|b| &b.0),
        topic = ?config.lambda.topic_arn.as_ref().map(|t| &t.0),
        prefix = %config.lambda.summary_prefix,
        min_severity = %config.publish_min_severity(),
        security_hub = config.delivery.security_hub.0,
        event_bus = ?config.delivery.event_bus.as_ref().map(|b| &b.0),
        enrich = ?config.delivery.enrich,
        enrich_role = ?config.delivery.enrich_role.as_ref().map(|r| &r.0),
        max_messages_per_minute = config.delivery.max_messages_per_minute,
        "flowguard-lambda started"
    );
    match &config.state.state_table {
        Some(table) => {
            // Throttling is retried with exponential backoff and jitter.
            let retry = aws_config::retry::RetryConfig::standard()
                .with_max_attempts(DYNAMODB_ATTEMPTS)
                .with_initial_backoff(std::time::Duration::from_millis(50));
            let ddb = aws_sdk_dynamodb::config::Builder::from(&sdk)
                .retry_config(retry)
                .build();
            let state = Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::from_conf(ddb),
                table.0.clone(),
            ));
            tracing::info!(table = %table.0, window_seconds = config.state.window_seconds, "correlating objects in DynamoDB; SNS messages rate-guarded there");
            let handler = Handler::with_state(store, publisher, config, state);
            Box::pin(serve(handler.with_sinks(sinks, None), lists)).await
        }
        None => {
            tracing::warn!(
                "FLOWGUARD_STATE_TABLE is not set: every object is analysed on its own (no correlation across objects, a message per object with findings, no rate guard on SNS messages)"
            );
            let handler = Handler::new(store, publisher, config);
            Box::pin(serve(handler.with_sinks(sinks, None), lists)).await
        }
    }
}

/// The sinks the configuration turns on, each client built once.
fn sinks(sdk: &aws_config::SdkConfig, config: &Config) -> AwsSinks {
    let d = &config.delivery;
    #[cfg(not(feature = "ec2"))]
    if d.enrich.is_some() {
        tracing::warn!("FLOWGUARD_ENRICH is set but this build has no `ec2` feature: findings go out without enrichment");
    }
    AwsSinks {
        security_hub: d
            .security_hub
            .0
            .then(|| SecurityHub::new(aws_sdk_securityhub::Client::new(sdk))),
        events: d
            .event_bus
            .as_ref()
            .map(|b| EventBus::new(aws_sdk_eventbridge::Client::new(sdk), b.0.clone())),
        #[cfg(feature = "ec2")]
        ec2: d
            .enrich
            .map(|_| flowguard::io::ec2::Ec2Lookup::new(sdk.clone(), d.enrich_role.clone())),
    }
}

/// Attempts of a DynamoDB request (the first and the retries).
const DYNAMODB_ATTEMPTS: u32 = 6;

/// Seconds since start, on a monotonic clock (the lists' refresh).
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs()
}

/// Reads the threat and suppression lists into `config.intel`. A list
/// that is not an `s3://` URL, cannot be read or does not parse stops the
/// start: the function never runs with half a list.
async fn load_lists(config: &mut Config, source: S3Lists) -> Option<ListSet<S3Lists>> {
    if config.lists.threat_lists.0.is_empty() && config.lists.suppress_lists.0.is_empty() {
        return None;
    }
    for (variable, lists) in [
        ("FLOWGUARD_THREAT_LISTS", &config.lists.threat_lists),
        ("FLOWGUARD_SUPPRESS_LISTS", &config.lists.suppress_lists),
    ] {
        if let Some(Location::Path(p)) = lists.0.iter().find(|l| matches!(l, Location::Path(_))) {
            let message = format!(
                "'{p}' is not an s3://bucket/key URL (the function reads its lists from S3)"
            );
            eprintln!("flowguard-lambda: configuration error: {variable}: {message}");
            tracing::error!(variable, "configuration error: {message}");
            std::process::exit(2);
        }
    }
    match ListSet::load(source, config, clock()).await {
        Ok(set) => {
            config.intel = Arc::new(set.intel());
            for (list, entries) in set.sizes() {
                tracing::info!(list = %list, entries, "list loaded");
            }
            Some(set)
        }
        Err(e) => {
            eprintln!("flowguard-lambda: list error: {e}");
            tracing::error!(list = %e.list, line = e.line, "list cannot be used, the function does not start: {}", e.message);
            std::process::exit(2);
        }
    }
}

async fn serve<S, P, D, K>(
    handler: Handler<S, P, D, K>,
    lists: Option<ListSet<S3Lists>>,
) -> Result<(), Error>
where
    S: ObjectStore,
    P: Publisher,
    D: Store,
    K: Sinks,
{
    // One invocation at a time: the lock is never contended; it lets an
    // invocation swap in a handler with re-read lists.
    let current = Arc::new(tokio::sync::Mutex::new((Arc::new(handler), lists)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let current = current.clone();
        async move {
            let handler = {
                let mut guard = current.lock().await;
                let (handler, lists) = &mut *guard;
                if let Some(lists) = lists.as_mut() {
                    let refresh = lists.refresh(clock()).await;
                    for e in &refresh.failed {
                        tracing::error!(list = %e.list, line = e.line, "list could not be read again; the previous version stays in use: {}", e.message);
                    }
                    for (list, entries) in &refresh.reread {
                        tracing::info!(list = %list, entries, "list changed (new ETag) and was read again");
                    }
                    if let Some(intel) = refresh.intel {
                        let mut config = (**handler.config()).clone();
                        config.intel = Arc::new(intel);
                        *handler = Arc::new(handler.with_config(Arc::new(config)));
                    }
                }
                handler.clone()
            };
            handler.learn_identity(&event.context.invoked_function_arn);
            handler.set_deadline(event.context.deadline);
            handler.handle(event.payload).await.map_err(|e| Diagnostic {
                error_type: match e {
                    HandlerError::Event(_) => "UnrecognisedEvent".to_string(),
                    HandlerError::Objects(_) => "ObjectsFailed".to_string(),
                    HandlerError::Schedule(_) => "HeldNotificationsFailed".to_string(),
                },
                error_message: e.to_string(),
            })
        }
    }))
    .await
}
