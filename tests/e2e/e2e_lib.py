"""Helpers for the flowguard end-to-end tests: flow-log builders, the SPEC's
summary layout (a reference implementation of section 3's key rules),
event rewriting, and readers for S3 summaries and SNS messages in moto."""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterable

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EVENTS_DIR = os.path.join(REPO, "events")
SAMPLE_BUCKET = "flowguard-demo-logs"

ACCOUNT = "123456789012"
REGION = "us-east-1"
PREFIX = "flowguard/"
# Summary tables written per object (SPEC section 3, plus `services`).
TABLES = ("files", "ports", "talkers", "admin", "services", "rejected", "findings")
RULES = {
    "admin-port-exposed", "admin-port-brute-force", "sensitive-port-exposed",
    "port-scan", "rejected-traffic", "skipped-records", "threat-intel-match",
    "instance-port-scan", "instance-brute-force", "instance-dos", "beaconing", "large-upload",
    "suspicious-egress-port",
}
FINDING_FIELDS = (
    "finding_id", "rule", "severity", "direction", "title", "subject", "account", "region", "interface_ids",
    "instance_ids", "vpc_ids", "subnet_ids",
    "src_addr", "src_addrs", "dst_addrs", "dst_ports", "distinct_src_addrs", "distinct_dst_addrs",
    "distinct_dst_ports", "protocol", "flows", "packets", "bytes", "first_seen", "last_seen",
    "source", "mitre_attack", "notified", "occurrences", "window_flows", "suppressed", "suppression_reason",
    "resources",
)
FILES_FIELDS = (
    "source", "records", "ok", "nodata", "skipdata", "malformed", "first_start", "last_end",
    "compressed_bytes", "uncompressed_bytes", "findings", "untrusted_fields", "analyzer_version",
)

V2_HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
             "packets bytes start end action log-status")

T0 = 1750961400  # 2025-06-26T18:10:00Z
ENI = "eni-0a1b2c3d4e5f60718"


def flow(src: str, dst: str, sport: int, dport: int, *, proto: int = 6, packets: int = 3,
         nbytes: int = 180, start: int = T0, end: int | None = None, action: str = "ACCEPT",
         status: str = "OK", account: str = ACCOUNT, eni: str = ENI) -> str:
    end = start + 60 if end is None else end
    return (f"2 {account} {eni} {src} {dst} {sport} {dport} {proto} {packets} {nbytes} "
            f"{start} {end} {action} {status}")


def skipdata_line(start: int = T0) -> str:
    return f"2 {ACCOUNT} {ENI} - - - - - - - {start} {start + 60} - SKIPDATA"


def flowlog_text(lines: Iterable[str], header: str | None = V2_HEADER) -> bytes:
    body = "\n".join(lines) + "\n"
    return ((header + "\n") if header else "").encode() + body.encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# --- canned flow logs with exactly known findings -----------------------------

def brute_force_lines(n: int = 25, src: str = "198.51.100.7", dst: str = "10.0.0.5") -> list[str]:
    """n ACCEPTed SSH flows from one internet source to one host:
    admin-port-exposed + admin-port-brute-force (both high) when n >= 20."""
    return [flow(src, dst, 40000 + i, 22, packets=12, nbytes=2400, start=T0 + 10 * i)
            for i in range(n)]


def benign_lines(n: int = 10) -> list[str]:
    """Internal HTTPS traffic and its replies: no findings."""
    out = []
    for i in range(n):
        out.append(flow("10.0.1.20", "10.0.2.30", 50000 + i, 443, packets=20, nbytes=9000, start=T0 + i))
        out.append(flow("10.0.2.30", "10.0.1.20", 443, 50000 + i, packets=18, nbytes=24000, start=T0 + i))
    return out


def port_scan_lines(src: str = "203.0.113.9", dst: str = "10.0.0.7", ports: range = range(1000, 1030)) -> list[str]:
    """REJECTed probes of 30 distinct high ports on one host: port-scan (medium) only."""
    return [flow(src, dst, 54321, p, packets=1, nbytes=44, action="REJECT", start=T0 + i)
            for i, p in enumerate(ports)]


def count_records(raw: bytes) -> int:
    """Non-blank lines after the header (SPEC: records = every non-blank line)."""
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    lines = [ln for ln in text.decode().splitlines() if ln.strip()]
    # a header is all field names; every record has numeric fields
    if lines and all(re.fullmatch(r"[a-z][a-z0-9-]*", t) for t in lines[0].split()):
        lines = lines[1:]
    return len(lines)


def generate_flowlog(flowguard_bin: str, records: int, seed: int, out_path: str) -> bytes:
    cmd = [flowguard_bin, "generate", "--records", str(records), "--seed", str(seed), "--output", out_path]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}"
    with open(out_path, "rb") as f:
        return f.read()


# --- SPEC section 3: where summaries of an object go -------------------------

def aws_key(ts: str = "20250626T1820Z", suffix: str = "3f2a1b4c", *, account: str = ACCOUNT,
            region: str = REGION, flow_log_id: str = "fl-0123456789abcdef0") -> str:
    d = ts[:8]
    return (f"AWSLogs/{account}/vpcflowlogs/{region}/{d[:4]}/{d[4:6]}/{d[6:8]}/"
            f"{account}_vpcflowlogs_{region}_{flow_log_id}_{ts}_{suffix}.log.gz")


def partition_of(key: str) -> dict[str, str]:
    name = key.rsplit("/", 1)[-1]
    stem = re.sub(r"\.log(\.gz|\.parquet)?$", "", name)
    m = re.search(r"_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z(?:_|\.|$)", name)
    assert m, f"test key {key!r} has no delivery timestamp"
    dt, hour = f"{m[1]}-{m[2]}-{m[3]}", m[4]
    m = re.search(r"(?:^|/)AWSLogs/(\d{12})/vpcflowlogs/([a-z0-9-]+)/", key)
    if not m:
        m = re.search(r"aws-account-id=(\d{12})/.*?aws-region=([a-z0-9-]+)/", key)
    assert m, f"test key {key!r} has no account/region"
    return {"account": m[1], "region": m[2], "dt": dt, "hour": hour, "stem": stem}


def summary_key(key: str, table: str, prefix: str = PREFIX) -> str:
    p = partition_of(key)
    return (f"{prefix}{table}/account={p['account']}/region={p['region']}/dt={p['dt']}/"
            f"hour={p['hour']}/{p['stem']}.json.gz")


def summary_keys(key: str, prefix: str = PREFIX) -> dict[str, str]:
    return {t: summary_key(key, t, prefix) for t in TABLES}


# --- S3 ---------------------------------------------------------------------

def list_keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def read_ndjson_gz(s3: Any, bucket: str, key: str, *, check_headers: bool = True) -> list[dict[str, Any]]:
    obj = s3.get_object(Bucket=bucket, Key=key)
    raw = obj["Body"].read()
    if check_headers:
        assert obj.get("ContentType") == "application/x-ndjson", \
            f"{key}: ContentType {obj.get('ContentType')!r}, expected 'application/x-ndjson'"
        assert obj.get("ContentEncoding") == "gzip", \
            f"{key}: ContentEncoding {obj.get('ContentEncoding')!r}, expected 'gzip'"
    assert raw[:2] == b"\x1f\x8b", f"{key}: body is not gzip (starts with {raw[:16]!r})"
    rows = []
    for i, line in enumerate(gzip.decompress(raw).decode("utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as e:
                raise AssertionError(f"{key}: line {i} is not JSON ({e}): {line[:200]!r}") from None
    return rows


# --- SNS / SQS in moto -----------------------------------------------------------

def moto_data(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=30) as r:
        return json.load(r)


def sent_notifications(endpoint: str, topic_arn: str) -> list[dict[str, Any]]:
    """Everything published to the topic, as moto recorded it:
    [{"message_id", "message" (raw string), "subject", "attributes"}]."""
    out = []
    for topic in moto_data(endpoint).get("sns", {}).get("Topic", []):
        if topic.get("arn") != topic_arn:
            continue
        for n in topic.get("sent_notifications", []):
            out.append({"message_id": n[0], "message": n[1], "subject": n[2], "attributes": n[3] or {}})
    return out


def drain_queue(sqs: Any, queue_url: str, *, expect: int | None = None, wait: float = 5.0,
                predicate: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
    """Receive (and delete) messages until the queue is empty, or until
    `expect` matching messages were seen (waiting at most `wait` s)."""
    import time
    got: list[dict[str, Any]] = []
    end = time.monotonic() + wait
    while True:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                   AttributeNames=["All"], MessageAttributeNames=["All"])
        msgs = resp.get("Messages", [])
        for m in msgs:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        got += msgs
        n = len([m for m in got if predicate is None or predicate(m)])
        if expect is None and not msgs:
            return got
        if expect is not None and n >= expect:
            return got
        if time.monotonic() > end:
            return got
        if not msgs:
            time.sleep(0.1)


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event for messages received with ReceiveMessage."""
    return {"Records": [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": REGION,
        }
        for m in messages
    ]}


def sqs_record(message_id: str, body: str, queue_arn: str = f"arn:aws:sqs:{REGION}:{ACCOUNT}:flowguard-flow-logs") -> dict[str, Any]:
    return {
        "messageId": message_id, "receiptHandle": "AQEB" + message_id.replace("-", ""), "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1750962904650",
                       "SenderId": "AIDAJHIPRHEMV73VRJEBU", "ApproximateFirstReceiveTimestamp": "1750962904671"},
        "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": REGION,
    }


def s3_notification(bucket: str, key: str, *, size: int = 1024, etag: str = "0" * 32,
                    version_id: str | None = None, event_name: str = "ObjectCreated:Put",
                    sequencer: str = "00685D8F1F6B1A2C3D") -> dict[str, Any]:
    obj: dict[str, Any] = {"key": urllib.parse.quote_plus(key, safe="/"), "size": size, "eTag": etag,
                           "sequencer": sequencer}
    if version_id:
        obj["versionId"] = version_id
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2025-06-26T18:25:03.114Z", "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AROA4EXAMPLEDELIVERY:AWSLogDeliveryWrite"},
        "requestParameters": {"sourceIPAddress": "52.94.133.131"},
        "responseElements": {"x-amz-request-id": "4HBJ5X8ZQW2T9K3M", "x-amz-id-2": "EXAMPLE"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "flowguard",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKEXAMPLE"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": obj},
    }]}


# --- events/ rewriting -------------------------------------------------------------

def load_event(name: str) -> Any:
    with open(os.path.join(EVENTS_DIR, name)) as f:
        return json.load(f)


def retarget(event: Any, bucket: str, version_of: Callable[[str], str | None] | None = None
             ) -> tuple[Any, list[str]]:
    """Point a sample event at `bucket` (instead of flowguard-demo-logs) and,
    where the sample carries a version id, at the real version of the
    uploaded object. Returns (new event, decoded object keys it refers to)."""
    ev = copy.deepcopy(event)
    keys: list[str] = []

    def version(key: str, old: Any) -> Any:
        if old is None or version_of is None:
            return old
        return version_of(key) or old

    def s3_notif(doc: dict[str, Any]) -> None:
        if doc.get("Event") == "s3:TestEvent":
            doc["Bucket"] = bucket
            return
        for r in doc.get("Records", []):
            b = r["s3"]["bucket"]
            b["name"] = bucket
            if "arn" in b:
                b["arn"] = f"arn:aws:s3:::{bucket}"
            o = r["s3"]["object"]
            key = urllib.parse.unquote_plus(o["key"])
            keys.append(key)
            if "versionId" in o:
                o["versionId"] = version(key, o["versionId"])

    if "Records" in ev:
        for r in ev["Records"]:
            if r.get("eventSource") == "aws:s3":
                s3_notif({"Records": [r]})
            elif r.get("eventSource") == "aws:sqs":
                body = json.loads(r["body"])
                if body.get("Type") == "Notification" and "Message" in body:
                    inner = json.loads(body["Message"])
                    s3_notif(inner)
                    body["Message"] = json.dumps(inner)
                else:
                    s3_notif(body)
                r["body"] = json.dumps(body)
            elif r.get("EventSource") == "aws:sns":
                inner = json.loads(r["Sns"]["Message"])
                s3_notif(inner)
                r["Sns"]["Message"] = json.dumps(inner)
            else:
                raise AssertionError(f"unknown record type {r}")
    elif ev.get("detail-type"):
        d = ev["detail"]
        d["bucket"]["name"] = bucket
        ev["resources"] = [f"arn:aws:s3:::{bucket}"]
        key = d["object"]["key"]
        keys.append(key)
        if "version-id" in d["object"]:
            d["object"]["version-id"] = version(key, d["object"]["version-id"])
    elif "invocationSchemaVersion" in ev:
        for t in ev["tasks"]:
            if "s3BucketArn" in t:
                t["s3BucketArn"] = f"arn:aws:s3:::{bucket}"
            if "s3Bucket" in t:
                t["s3Bucket"] = bucket
            key = urllib.parse.unquote_plus(t["s3Key"])
            keys.append(key)
            t["s3VersionId"] = version(key, t.get("s3VersionId"))
    elif ev.get("Event") == "s3:TestEvent":
        s3_notif(ev)
    else:
        raise AssertionError(f"unknown event shape: {list(ev)}")
    return ev, keys


# --- one object, each event shape (fault and load tests) ---------------------------

SHAPES = ("s3", "sqs", "batch")


def event_for(shape: str, bucket: str, keys: list[str], *, version_ids: dict[str, str] | None = None,
              message_ids: list[str] | None = None) -> dict[str, Any]:
    """An invocation for `keys` as an S3 notification ("s3": one event with one
    record per key), an SQS batch ("sqs": one message per key, each an S3
    notification) or S3 Batch Operations 1.0 ("batch": one task per key)."""
    import uuid
    version_ids = version_ids or {}
    if shape == "s3":
        ev: dict[str, Any] = {"Records": []}
        for k in keys:
            ev["Records"] += s3_notification(bucket, k, version_id=version_ids.get(k))["Records"]
        return ev
    if shape == "sqs":
        ids = message_ids or [str(uuid.uuid4()) for _ in keys]
        return {"Records": [sqs_record(i, json.dumps(s3_notification(bucket, k, version_id=version_ids.get(k))))
                            for i, k in zip(ids, keys)]}
    if shape == "batch":
        return {"invocationSchemaVersion": "1.0", "invocationId": "inv-" + uuid.uuid4().hex,
                "job": {"id": str(uuid.uuid4())},
                "tasks": [{"taskId": f"t{i}", "s3Key": urllib.parse.quote(k, safe="/"),
                           "s3VersionId": version_ids.get(k), "s3BucketArn": f"arn:aws:s3:::{bucket}"}
                          for i, k in enumerate(keys)]}
    raise AssertionError(f"unknown shape {shape}")
