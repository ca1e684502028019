//! Every Lambda event shape of SPEC §4, decoded leniently into a list of
//! objects to analyse.
//!
//! Only what the function needs is required (bucket, key, and where present
//! size, eTag, versionId, sequencer, event name): S3-compatible stores such
//! as moto send thinner notifications than AWS, with no `userIdentity` and
//! an `eventTime` without a time zone, which strict types reject.

use serde::Deserialize;
use serde_json::Value;

/// One S3 object named by an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// Size in bytes, when the event says.
    pub size: Option<u64>,
    /// ETag, when the event says.
    pub etag: Option<String>,
    /// Version id, when the bucket is versioned.
    pub version_id: Option<String>,
    /// S3's ordering token.
    pub sequencer: Option<String>,
}

/// What one S3 notification record asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A created object to analyse.
    Created(ObjectRef),
    /// `s3:TestEvent`: acknowledge and skip.
    Test,
    /// Any other event (a delete, a restore): acknowledge and skip.
    Ignored {
        /// The event name.
        event: String,
        /// The key, if any.
        key: Option<String>,
    },
}

/// One SQS message and what it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsItem {
    /// The message id, used in `batchItemFailures`.
    pub message_id: String,
    /// The notices in its body, or why the body could not be read.
    pub notices: Result<Vec<Notice>, String>,
}

/// One task of an S3 Batch Operations job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTask {
    /// The task id.
    pub task_id: String,
    /// The object, or why the task names none.
    pub object: Result<ObjectRef, String>,
}

/// A decoded invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// S3 notification, SNS-wrapped notification, or EventBridge event:
    /// answered with a summary, or an error so Lambda retries.
    Notices(Vec<Notice>),
    /// An SQS batch: answered with `batchItemFailures`.
    Sqs(Vec<SqsItem>),
    /// An EventBridge schedule (`Scheduled Event` from `aws.events`): send
    /// the notifications the rate guard held back.
    Schedule,
    /// An S3 Batch Operations job: answered per task.
    Batch {
        /// `1.0` or `2.0`.
        schema: String,
        /// Echoed back.
        invocation_id: String,
        /// The tasks.
        tasks: Vec<BatchTask>,
    },
}

/// The event matched no known shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised event: {0}")]
pub struct EventError(pub String);

#[derive(Deserialize)]
struct RawS3Record {
    #[serde(rename = "eventName", default)]
    event_name: Option<String>,
    #[serde(default)]
    s3: Option<RawS3>,
}

#[derive(Deserialize)]
struct RawS3 {
    bucket: RawBucket,
    object: RawObject,
}

#[derive(Deserialize)]
struct RawBucket {
    name: String,
}

#[derive(Deserialize)]
struct RawObject {
    key: String,
    #[serde(default)]
    size: Option<Value>,
    #[serde(rename = "eTag", alias = "etag", default)]
    etag: Option<String>,
    #[serde(rename = "versionId", alias = "version-id", default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBatchTask {
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    s3_key: Option<String>,
    #[serde(default)]
    s3_version_id: Option<String>,
    #[serde(default)]
    s3_bucket_arn: Option<String>,
    #[serde(default)]
    s3_bucket: Option<String>,
}

/// Decodes `+`-as-space and percent escapes of an S3 notification key.
pub fn decode_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("key '{raw}' does not decode to UTF-8"))
}

fn size_of(v: &Option<Value>) -> Option<u64> {
    match v {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

/// Decodes the `Records` of an S3 notification (or an `s3:TestEvent`).
pub fn decode_s3_notification(v: &Value) -> Result<Vec<Notice>, String> {
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(vec![Notice::Test]);
    }
    if is_eventbridge(v) {
        return decode_eventbridge(v).map(|n| vec![n]);
    }
    let records = v
        .get("Records")
        .and_then(Value::as_array)
        .ok_or("no Records array")?;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let rec: RawS3Record =
            serde_json::from_value(r.clone()).map_err(|e| format!("S3 record: {e}"))?;
        let event = rec.event_name.unwrap_or_default();
        let Some(s3) = rec.s3 else {
            return Err("S3 record without s3 section".into());
        };
        if !event.starts_with("ObjectCreated:") {
            out.push(Notice::Ignored {
                event,
                key: decode_key(&s3.object.key).ok(),
            });
            continue;
        }
        out.push(Notice::Created(ObjectRef {
            bucket: s3.bucket.name,
            key: decode_key(&s3.object.key)?,
            size: size_of(&s3.object.size),
            etag: s3.object.etag.map(|e| e.trim_matches('"').to_string()),
            version_id: s3
                .object
                .version_id
                .filter(|v| !v.is_empty() && v != "null"),
            sequencer: s3.object.sequencer,
        }));
    }
    Ok(out)
}

fn is_eventbridge(v: &Value) -> bool {
    v.get("detail-type").is_some() && v.get("source").and_then(Value::as_str) == Some("aws.s3")
}

/// EventBridge `Object Created` (keys there are not URL-encoded).
fn decode_eventbridge(v: &Value) -> Result<Notice, String> {
    let kind = v
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let detail = v.get("detail").ok_or("EventBridge event without detail")?;
    let key = detail
        .pointer("/object/key")
        .and_then(Value::as_str)
        .map(str::to_string);
    if kind != "Object Created" {
        return Ok(Notice::Ignored {
            event: kind.to_string(),
            key,
        });
    }
    let bucket = detail
        .pointer("/bucket/name")
        .and_then(Value::as_str)
        .ok_or("EventBridge event without detail.bucket.name")?;
    let obj: RawObject =
        serde_json::from_value(detail.get("object").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("EventBridge detail.object: {e}"))?;
    Ok(Notice::Created(ObjectRef {
        bucket: bucket.to_string(),
        key: obj.key,
        size: size_of(&obj.size),
        etag: obj.etag.map(|e| e.trim_matches('"').to_string()),
        version_id: obj.version_id.filter(|v| !v.is_empty() && v != "null"),
        sequencer: obj.sequencer,
    }))
}

/// A message body (SQS) or SNS `Message`: an S3 notification, an SNS
/// envelope around one, or an EventBridge event.
pub fn decode_body(body: &str) -> Result<Vec<Notice>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        let inner = v
            .get("Message")
            .and_then(Value::as_str)
            .ok_or("SNS envelope without Message")?;
        return decode_body(inner);
    }
    decode_s3_notification(&v)
}

fn bucket_from_arn(arn: &str) -> Option<String> {
    arn.strip_prefix("arn:aws:s3:::")
        .or_else(|| arn.rsplit_once(":::").map(|(_, b)| b))
        .map(str::to_string)
}

/// Detects the shape of an invocation payload and decodes it.
pub fn decode(v: &Value) -> Result<Invocation, EventError> {
    // S3 Batch Operations.
    if let (Some(tasks), Some(schema)) = (
        v.get("tasks").and_then(Value::as_array),
        v.get("invocationSchemaVersion").and_then(Value::as_str),
    ) {
        let invocation_id = v
            .get("invocationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut out = Vec::new();
        for t in tasks {
            let raw: RawBatchTask = serde_json::from_value(t.clone())
                .map_err(|e| EventError(format!("batch task: {e}")))?;
            let task_id = raw.task_id.clone().unwrap_or_default();
            let bucket = raw
                .s3_bucket
                .clone()
                .or_else(|| raw.s3_bucket_arn.as_deref().and_then(bucket_from_arn));
            let object = match (bucket, raw.s3_key.as_deref()) {
                (Some(bucket), Some(key)) => decode_key(key).map(|key| ObjectRef {
                    bucket,
                    key,
                    size: None,
                    etag: None,
                    version_id: raw.s3_version_id.clone().filter(|v| !v.is_empty()),
                    sequencer: None,
                }),
                _ => Err("task names no bucket and key".to_string()),
            };
            out.push(BatchTask { task_id, object });
        }
        return Ok(Invocation::Batch {
            schema: schema.to_string(),
            invocation_id,
            tasks: out,
        });
    }
    if v.get("source").and_then(Value::as_str) == Some("aws.events")
        && v.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        return Ok(Invocation::Schedule);
    }
    if is_eventbridge(v) {
        return decode_eventbridge(v)
            .map(|n| Invocation::Notices(vec![n]))
            .map_err(EventError);
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Invocation::Notices(vec![Notice::Test]));
    }
    let records = v
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| EventError("no Records, tasks or detail".into()))?;
    let source_of = |r: &Value| {
        r.get("eventSource")
            .or_else(|| r.get("EventSource"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let first = records.first().map(source_of).unwrap_or_default();
    match first.as_str() {
        "aws:sqs" => {
            let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_value(v.clone())
                .map_err(|e| EventError(format!("SQS event: {e}")))?;
            Ok(Invocation::Sqs(
                event
                    .records
                    .into_iter()
                    .map(|m| SqsItem {
                        message_id: m.message_id.unwrap_or_default(),
                        notices: m
                            .body
                            .as_deref()
                            .ok_or_else(|| "message without body".to_string())
                            .and_then(decode_body),
                    })
                    .collect(),
            ))
        }
        "aws:sns" => {
            let mut notices = Vec::new();
            for r in records {
                let msg = r
                    .pointer("/Sns/Message")
                    .and_then(Value::as_str)
                    .ok_or_else(|| EventError("SNS record without Sns.Message".into()))?;
                notices.extend(decode_body(msg).map_err(EventError)?);
            }
            Ok(Invocation::Notices(notices))
        }
        _ => decode_s3_notification(v)
            .map(Invocation::Notices)
            .map_err(EventError),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_decoding() {
        let cases = [
            ("noog+nork", "noog nork"),
            ("noog%2bnork", "noog+nork"),
            ("noog%2Bnork", "noog+nork"),
            ("a%2Fb/c", "a/b/c"),
            ("Happy%20Face.jpg", "Happy Face.jpg"),
            ("caf%C3%A9+%E2%9C%93.log.gz", "café ✓.log.gz"),
            ("plain/key.log.gz", "plain/key.log.gz"),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_key(raw).unwrap(), want, "{raw}");
        }
        assert!(decode_key("bad%FF").is_err());
    }

    fn s3_event(name: &str, key: &str) -> Value {
        json!({"Records": [{"eventSource": "aws:s3", "eventName": name,
            "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 12, "eTag": "abc", "sequencer": "01"}}}]})
    }

    #[test]
    fn s3_shapes() {
        let inv = decode(&s3_event("ObjectCreated:Put", "AWSLogs/1/x+y.log.gz")).unwrap();
        let Invocation::Notices(n) = inv else {
            panic!("{inv:?}")
        };
        assert_eq!(
            n,
            vec![Notice::Created(ObjectRef {
                bucket: "b".into(),
                key: "AWSLogs/1/x y.log.gz".into(),
                size: Some(12),
                etag: Some("abc".into()),
                version_id: None,
                sequencer: Some("01".into()),
            })]
        );
        let inv = decode(&s3_event("ObjectRemoved:Delete", "k")).unwrap();
        assert!(matches!(&inv, Invocation::Notices(n) if matches!(n[0], Notice::Ignored { .. })));
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"});
        assert_eq!(
            decode(&test).unwrap(),
            Invocation::Notices(vec![Notice::Test])
        );
        assert!(decode(&json!({"hello": 1})).is_err());
    }

    #[test]
    fn moto_notification_without_identity_or_zone() {
        // As moto sends it: no userIdentity/requestParameters, naive eventTime.
        let body = r#"{"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2025-06-26T18:20:01.123", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": "logs", "arn": "arn:aws:s3:::logs"},
            "object": {"key": "AWSLogs/1/f.log.gz", "size": 10, "eTag": "\"e\"", "versionId": null, "sequencer": "0"}}}]}"#;
        let sqs = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": body}]});
        let Invocation::Sqs(items) = decode(&sqs).unwrap() else {
            panic!()
        };
        let notices = items[0].notices.as_ref().unwrap();
        assert!(
            matches!(&notices[0], Notice::Created(o) if o.key == "AWSLogs/1/f.log.gz" && o.etag.as_deref() == Some("e"))
        );
    }

    #[test]
    fn sqs_sns_eventbridge_and_batch() {
        let s3 = s3_event("ObjectCreated:Put", "k1").to_string();
        let sns_envelope = json!({"Type": "Notification", "Message": s3}).to_string();
        let sqs = json!({"Records": [
            {"messageId": "a", "eventSource": "aws:sqs", "body": s3},
            {"messageId": "b", "eventSource": "aws:sqs", "body": sns_envelope},
            {"messageId": "c", "eventSource": "aws:sqs", "body": "not json"}]});
        let Invocation::Sqs(items) = decode(&sqs).unwrap() else {
            panic!()
        };
        assert_eq!(items.len(), 3);
        assert!(items[0].notices.is_ok() && items[1].notices.is_ok() && items[2].notices.is_err());

        let sns = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": s3}}]});
        assert!(matches!(decode(&sns).unwrap(), Invocation::Notices(n) if n.len() == 1));

        let tick = json!({"version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
            "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
            "time": "2025-06-26T18:25:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/flowguard-held"], "detail": {}});
        assert!(matches!(decode(&tick), Ok(Invocation::Schedule)));
        let eb = json!({"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "a b+c.log.gz", "size": 5, "etag": "e", "version-id": "v1"}}});
        let Invocation::Notices(n) = decode(&eb).unwrap() else {
            panic!()
        };
        assert!(
            matches!(&n[0], Notice::Created(o) if o.key == "a b+c.log.gz" && o.version_id.as_deref() == Some("v1"))
        );

        let v1 = json!({"invocationSchemaVersion": "1.0", "invocationId": "inv", "job": {"id": "j"},
            "tasks": [{"taskId": "t1", "s3Key": "a%20b.log.gz", "s3VersionId": null, "s3BucketArn": "arn:aws:s3:::bk"}]});
        let Invocation::Batch {
            schema,
            invocation_id,
            tasks,
        } = decode(&v1).unwrap()
        else {
            panic!()
        };
        assert_eq!((schema.as_str(), invocation_id.as_str()), ("1.0", "inv"));
        assert_eq!(tasks[0].object.as_ref().unwrap().bucket, "bk");
        assert_eq!(tasks[0].object.as_ref().unwrap().key, "a b.log.gz");
        let v2 = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv2", "job": {"id": "j", "userArguments": {}},
            "tasks": [{"taskId": "t2", "s3Key": "k", "s3VersionId": "v", "s3Bucket": "bk2"}]});
        let Invocation::Batch { tasks, .. } = decode(&v2).unwrap() else {
            panic!()
        };
        assert_eq!(tasks[0].object.as_ref().unwrap().bucket, "bk2");
    }
}
