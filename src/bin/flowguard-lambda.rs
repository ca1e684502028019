//! `flowguard-lambda`: the S3-triggered Lambda function (packaged as
//! `bootstrap` by cargo-lambda). Configuration is read once, clients are
//! built once, then every invocation goes to [`flowguard::handler`].

use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

use flowguard::config::Config;
use flowguard::correlate::StateStore;
use flowguard::handler::{Handler, HandlerError};
use flowguard::io::dynamodb::DynamoStore;
use flowguard::io::s3::S3Store;
use flowguard::io::sns::SnsPublisher;
use flowguard::io::{ObjectStore, Publisher};

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

    let config = match Config::from_env(std::env::vars()) {
        Ok(c) => Arc::new(c),
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
    let store = Arc::new(S3Store::new(aws_sdk_s3::Client::from_conf(s3_config)));
    let topic = config
        .topic_arn
        .as_ref()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let publisher = Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), topic));
    tracing::info!(
        summary_bucket = ?config.summary_bucket.as_ref().map(|b| &b.0),
        topic = ?config.topic_arn.as_ref().map(|t| &t.0),
        prefix = %config.summary_prefix,
        min_severity = %config.publish_min_severity(),
        "flowguard-lambda started"
    );
    match &config.state_table {
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
            tracing::info!(table = %table.0, window_seconds = config.window_seconds, "correlating objects in DynamoDB");
            Box::pin(serve(Handler::with_state(store, publisher, config, state))).await
        }
        None => {
            tracing::warn!(
                "FLOWGUARD_STATE_TABLE is not set: every object is analysed on its own (no correlation across objects, a message per object with findings)"
            );
            Box::pin(serve(Handler::new(store, publisher, config))).await
        }
    }
}

/// Attempts of a DynamoDB request (the first and the retries).
const DYNAMODB_ATTEMPTS: u32 = 6;

async fn serve<S, P, D>(handler: Handler<S, P, D>) -> Result<(), Error>
where
    S: ObjectStore,
    P: Publisher,
    D: StateStore + 'static,
{
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            handler.handle(event.payload).await.map_err(|e| Diagnostic {
                error_type: match e {
                    HandlerError::Event(_) => "UnrecognisedEvent".to_string(),
                    HandlerError::Objects(_) => "ObjectsFailed".to_string(),
                },
                error_message: e.to_string(),
            })
        }
    }))
    .await
}
