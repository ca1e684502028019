//! `flowguard-lambda`: the S3-triggered Lambda function (packaged as
//! `bootstrap` by cargo-lambda). Configuration is read once, clients are
//! built once, then every invocation goes to [`flowguard::handler`].

use std::sync::Arc;

use aws_config::BehaviorVersion;
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

use flowguard::config::Config;
use flowguard::handler::Handler;
use flowguard::io::s3::S3Store;
use flowguard::io::sns::SnsPublisher;

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
    let handler = Arc::new(Handler::new(store, publisher, config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            handler.handle(event.payload).await.map_err(|e| Diagnostic {
                error_type: match e {
                    flowguard::handler::HandlerError::Event(_) => "UnrecognisedEvent".to_string(),
                    flowguard::handler::HandlerError::Objects(_) => "ObjectsFailed".to_string(),
                },
                error_message: e.to_string(),
            })
        }
    }))
    .await
}
