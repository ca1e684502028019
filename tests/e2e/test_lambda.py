"""End-to-end tests of the real `flowguard-lambda` binary against moto
(S3, SNS, SQS) through a local Lambda Runtime API.

Contract: SPEC.md sections 3 (summaries), 4 (Lambda) and 5 (SNS message).
Run:  scripts/with-moto .venv/bin/pytest -q tests/e2e
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import string
import uuid
from typing import Any

import pytest

import e2e_lib as L
from conftest import Aws
from runtime_api import LambdaProcess

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


# --- helpers ----------------------------------------------------------------------

def invoke_ok(fn: LambdaProcess, event: Any, timeout: float = 180) -> Any:
    status, body = fn.invoke(event, timeout=timeout)
    assert status == "ok", (f"expected a response, got an invocation error: "
                            f"{json.dumps(body)[:2000]}\n{fn.output_tail()}")
    return body


def _entries(body: Any, status: str) -> list[dict[str, Any]]:
    """Objects with `status` in the answer. The contract shape is
    {"processed": [...], "skipped": [...]}; an {"objects": [{..., "status"}]}
    answer is also read here so that other checks still run (the shape
    itself is asserted by test_s3_event_response_shape)."""
    assert isinstance(body, dict), f"expected a JSON object, got {body!r}"
    if status in body:
        return body[status]
    if "objects" in body:
        return [o for o in body["objects"] if o.get("status") == status]
    raise AssertionError(f"answer lists no {status!r} objects: {json.dumps(body)[:1000]}")


def processed(body: Any) -> dict[str, dict[str, Any]]:
    return {p["key"]: p for p in _entries(body, "processed")}


def skipped_keys(body: Any) -> set[str]:
    return {s.get("key") for s in _entries(body, "skipped")}


def n_findings(entry: dict[str, Any]) -> int:
    f = entry["findings"]
    return len(f) if isinstance(f, list) else int(f)


def assert_summaries(aws: Aws, key: str, *, records: int, bucket: str | None = None,
                     prefix: str = L.PREFIX) -> dict[str, list[dict[str, Any]]]:
    """All per-table summaries of `key` exist at the SPEC keys and decode;
    the `files` table has exactly one row whose counters add up."""
    bucket = bucket or aws.bucket
    expected = L.summary_keys(key, prefix)
    present = set(aws.keys(prefix, bucket=bucket))
    missing = [k for k in expected.values() if k not in present]
    assert not missing, (f"summaries missing in s3://{bucket} for {key}:\n  " + "\n  ".join(missing)
                         + f"\npresent under {prefix}:\n  " + "\n  ".join(sorted(present)[:60]))
    tables = {t: L.read_ndjson_gz(aws.s3, bucket, k) for t, k in expected.items()}
    files = tables["files"]
    assert len(files) == 1, f"files table must have exactly one row per object, got {len(files)}: {files}"
    row = files[0]
    missing_cols = [c for c in L.FILES_FIELDS if c not in row]
    assert not missing_cols, f"files row lacks {missing_cols}: {row}"
    assert row["records"] == records, f"files.records = {row['records']}, expected {records} (lines written)"
    assert row["records"] == row["ok"] + row["nodata"] + row["skipdata"] + row["malformed"], row
    assert row["findings"] == len(tables["findings"]), \
        f"files.findings = {row['findings']} but the findings table has {len(tables['findings'])} rows"
    for f in tables["findings"]:
        lacking = [c for c in L.FINDING_FIELDS if c not in f]
        assert not lacking, f"finding lacks {lacking}: {f}"
        assert f["rule"] in L.RULES and f["severity"] in SEVERITY_RANK, f
    return tables


def assert_no_summaries(aws: Aws, key: str, bucket: str | None = None, prefix: str = L.PREFIX) -> None:
    present = set(aws.keys(prefix, bucket=bucket))
    stem = L.partition_of(key)["stem"] if re.search(r"\d{8}T\d{4}Z", key) else key
    written = [k for k in present if stem in k]
    assert not written, f"nothing should be written for {key}, found: {written}"


def source_key(source: Any) -> str:
    if isinstance(source, dict):
        return source.get("key") or source.get("path") or ""
    return str(source)


def sns_by_key(aws: Aws) -> dict[str, list[dict[str, Any]]]:
    """Published notifications (moto's record: includes the `email` part),
    grouped by the object key their `default` document names."""
    out: dict[str, list[dict[str, Any]]] = {}
    for n in aws.published():
        msg = json.loads(n["message"])
        default = json.loads(msg["default"]) if isinstance(msg, dict) and "default" in msg else msg
        out.setdefault(source_key(default.get("source")), []).append({**n, "parts": msg, "default": default})
    return out


def published_for(aws: Aws, key: str) -> list[dict[str, Any]]:
    by = sns_by_key(aws)
    return [n for k, ns in by.items() for n in ns if k.endswith(key)]


def upload_logs(aws: Aws, keys: list[str], lines: list[str] | None = None) -> dict[str, bytes]:
    lines = lines or L.brute_force_lines()
    blobs = {}
    for k in keys:
        blobs[k] = L.gz(L.flowlog_text(lines))
        aws.put(k, blobs[k])
    return blobs


# --- a. the production path: bucket notification -> SQS -> function ------------------

KA = L.aws_key("20250626T1820Z", "3f2a1b4c")  # hand-made SSH brute force, 25 records
KB = L.aws_key("20250626T1825Z", "8d7e6f5a")  # `flowguard generate` output
KC = L.aws_key("20250626T1830Z", "1a2b3c4d")  # benign internal traffic

SUBJECT_RE = re.compile(r"^\[(HIGH|MEDIUM|LOW)\] flowguard: (\d+) findings? in (\d{12}|unknown)/([a-z0-9-]+)")


def production_setup(aws: Aws, flowguard_bin: str, tmp_path: Any) -> dict[str, Any]:
    notif_url = aws.sqs.create_queue(QueueName="flowguard-flow-logs")["QueueUrl"]
    notif_arn = aws.queue_arn(notif_url)
    aws.s3.put_bucket_notification_configuration(Bucket=aws.bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "flowguard", "QueueArn": notif_arn, "Events": ["s3:ObjectCreated:*"]}]})
    blobs = {
        KA: L.gz(L.flowlog_text(L.brute_force_lines(25))),
        KB: L.generate_flowlog(flowguard_bin, 5000, 42, str(tmp_path / "generated.log.gz")),
        KC: L.gz(L.flowlog_text(L.benign_lines(10))),
    }
    for k, b in blobs.items():
        aws.put(k, b)
    msgs = L.drain_queue(aws.sqs, notif_url, expect=3, wait=15, predicate=lambda m: "Records" in m["Body"])
    notified = {json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"] for m in msgs if "Records" in m["Body"]}
    assert len(notified) == 3, f"moto delivered notifications for {notified}, expected 3 objects"
    return {"notif_url": notif_url, "notif_arn": notif_arn, "blobs": blobs, "messages": msgs}


def test_production_path_bucket_notification_via_sqs(aws: Aws, start_lambda: Any, flowguard_bin: str,
                                                      tmp_path: Any) -> None:
    ctx = production_setup(aws, flowguard_bin, tmp_path)
    event = L.sqs_lambda_event(ctx["messages"], ctx["notif_arn"])  # includes moto's s3:TestEvent, if any
    with start_lambda() as fn:
        body = invoke_ok(fn, event)
    assert body == {"batchItemFailures": []} or body.get("batchItemFailures") == [], \
        f"SQS answer should list no failures, got {body}"

    # Summaries at the SPEC keys, with the record counts we wrote.
    tables = {k: assert_summaries(aws, k, records=L.count_records(b)) for k, b in ctx["blobs"].items()}
    ta = tables[KA]
    assert ta["files"][0]["ok"] == 25 and ta["files"][0]["malformed"] == 0
    assert ta["files"][0]["compressed_bytes"] == len(ctx["blobs"][KA]), ta["files"][0]
    assert ta["files"][0]["uncompressed_bytes"] == len(gzip.decompress(ctx["blobs"][KA])), ta["files"][0]
    rules = sorted(f["rule"] for f in ta["findings"])
    assert rules == ["admin-port-brute-force", "admin-port-exposed"], rules
    for f in ta["findings"]:
        assert f["severity"] == "high" and f["src_addrs"] == ["198.51.100.7"], f
        assert (f["account"], f["region"]) == (L.ACCOUNT, L.REGION), f
        assert source_key(f["source"]) == KA, f["source"]
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", f["first_seen"]), f["first_seen"]
        assert f["flows"] == 25, f
    exposed = [f for f in ta["findings"] if f["rule"] == "admin-port-exposed"][0]
    assert "10.0.0.5" in exposed["dst_addrs"] and 22 in exposed["dst_ports"], exposed
    # One finding per exposed service: the service is the subject, the
    # internet addresses are listed and counted.
    assert exposed["subject"] == "10.0.0.5:22/tcp" and exposed["src_addr"] is None, exposed
    assert exposed["distinct_src_addrs"] == 1, exposed
    assert any(t.startswith("T1021.004") for t in exposed["mitre_attack"]), exposed["mitre_attack"]
    brute = [f for f in ta["findings"] if f["rule"] == "admin-port-brute-force"][0]
    assert any(t.startswith("T1110") for t in brute["mitre_attack"]), brute["mitre_attack"]
    assert brute["src_addr"] == "198.51.100.7" and brute["subject"] == "198.51.100.7", brute
    admin = [r for r in ta["admin"] if r.get("srcaddr") == "198.51.100.7"]
    assert len(admin) == 1 and admin[0]["dstaddr"] == "10.0.0.5" and admin[0]["dstport"] == 22 \
        and admin[0]["flows"] == 25 and str(admin[0]["action"]).upper() == "ACCEPT", ta["admin"]
    ports = [r for r in ta["ports"] if r.get("dstport") == 22]
    assert len(ports) == 1 and ports[0]["flows"] == 25 and ports[0]["packets"] == 25 * 12 \
        and ports[0]["bytes"] == 25 * 2400 and ports[0]["distinct_sources"] == 1 \
        and ports[0]["protocol"] == 6, ta["ports"]
    talker = [r for r in ta["talkers"] if r.get("address") == "198.51.100.7"]
    assert len(talker) == 1 and talker[0]["flows_out"] == 25 and talker[0]["bytes_out"] == 25 * 2400, ta["talkers"]
    assert tables[KC]["findings"] == [] and tables[KC]["files"][0]["findings"] == 0
    assert len(tables[KB]["findings"]) > 0, "the generated log (injected attacks) gave no findings"

    # SNS: one message per object with findings >= medium (KA, KB), none for KC.
    envelopes = L.drain_queue(aws.sqs, aws.findings_queue, expect=2, wait=10)
    assert len(envelopes) == 2, f"expected 2 SNS messages (KA, KB), got {len(envelopes)}: " \
                                f"{[json.loads(e['Body']).get('Subject') for e in envelopes]}"
    by_key = {}
    for e in envelopes:
        env = json.loads(e["Body"])
        default = json.loads(env["Message"])  # SQS subscribers get the `default` part
        by_key[source_key(default["source"])] = (env, default)
    assert any(k.endswith(KA) for k in by_key) and any(k.endswith(KB) for k in by_key), list(by_key)
    env, default = next(v for k, v in by_key.items() if k.endswith(KA))
    subject = env["Subject"]
    assert len(subject) <= 100 and all(32 <= ord(c) < 127 for c in subject), repr(subject)
    m = SUBJECT_RE.match(subject)
    assert m and m.groups() == ("HIGH", "2", L.ACCOUNT, L.REGION), \
        f"subject {subject!r}, expected like '[HIGH] flowguard: 2 findings in {L.ACCOUNT}/{L.REGION}'"
    attrs = env["MessageAttributes"]
    assert attrs["severity"] == {"Type": "String", "Value": "high"}, attrs
    assert attrs["rules"]["Type"] == "String.Array", attrs
    assert sorted(json.loads(attrs["rules"]["Value"])) == ["admin-port-brute-force", "admin-port-exposed"], attrs
    assert attrs["account"]["Value"] == L.ACCOUNT and attrs["region"]["Value"] == L.REGION, attrs
    for k in ("source", "account", "region", "findings", "total", "truncated", "summaries"):
        assert k in default, f"default document lacks {k!r}: {list(default)}"
    assert (default["account"], default["region"], default["total"], default["truncated"]) == \
        (L.ACCOUNT, L.REGION, 2, False), default
    assert len(default["findings"]) == 2
    assert default["summaries"].startswith(f"s3://{aws.bucket}/{L.PREFIX}"), default["summaries"]
    # Both parts were published (MessageStructure=json): check moto's record of the raw message.
    pub = published_for(aws, KA)
    assert len(pub) == 1, pub
    parts = pub[0]["parts"]
    assert set(parts) >= {"default", "email"}, f"MessageStructure=json needs default+email, got {list(parts)}"
    email = parts["email"]
    assert isinstance(email, str) and email.strip() and not email.lstrip().startswith("{"), email[:500]
    assert "198.51.100.7" in email and "s3://" in email, f"email text should name the source and the summaries:\n{email}"
    assert not published_for(aws, KC), "benign object must not publish"

    # Athena-style layout: read the summaries back with duckdb, hive-partitioned.
    duckdb = pytest.importorskip("duckdb")
    root = tmp_path / "s3"
    for k in aws.keys(L.PREFIX):
        if "/_state/" in f"/{k}" or not k.endswith(".json.gz"):
            continue
        p = root / k
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(aws.s3.get_object(Bucket=aws.bucket, Key=k)["Body"].read())
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT account, region, dt, hour, sum(records) FROM read_json_auto('{root}/{L.PREFIX}files/**/*.json.gz', "
        f"hive_partitioning=true, format='newline_delimited') GROUP BY ALL").fetchall()
    assert [tuple(map(str, r[:4])) for r in rows] == [(L.ACCOUNT, L.REGION, "2025-06-26", "18")], rows
    assert rows[0][4] == sum(L.count_records(b) for b in ctx["blobs"].values()), rows


def test_production_path_own_output_notifications_are_skipped(aws: Aws, start_lambda: Any, flowguard_bin: str,
                                                              tmp_path: Any) -> None:
    """The function's own summaries land in the same bucket and (with an
    unfiltered ObjectCreated:* notification) come back as events: they must
    be skipped, writing nothing and publishing nothing."""
    ctx = production_setup(aws, flowguard_bin, tmp_path)
    with start_lambda() as fn:
        body = invoke_ok(fn, L.sqs_lambda_event(ctx["messages"], ctx["notif_arn"]))
        assert body.get("batchItemFailures") == [], body
        before = {k: aws.s3.head_object(Bucket=aws.bucket, Key=k)["ETag"] for k in aws.keys()}
        published_before = len(aws.published())
        echoes = L.drain_queue(aws.sqs, ctx["notif_url"], wait=3)
        own = [m for m in echoes if L.PREFIX in m["Body"] or "flowguard%2F" in m["Body"]]
        assert len(own) >= len(L.TABLES) * 3, f"moto should have notified the summaries, got {len(own)}"
        body = invoke_ok(fn, L.sqs_lambda_event(echoes, ctx["notif_arn"]))
    assert body.get("batchItemFailures") == [], f"own output must be skipped, not failed: {body}"
    after = {k: aws.s3.head_object(Bucket=aws.bucket, Key=k)["ETag"] for k in aws.keys()}
    assert set(after) == set(before), f"new objects written: {sorted(set(after) - set(before))}"
    assert len(aws.published()) == published_before, "own output must not publish"


# --- b. every sample event in events/ ---------------------------------------------

EVENT_FILES = sorted(f for f in os.listdir(L.EVENTS_DIR) if f.endswith(".json"))


def test_events_dir_is_complete() -> None:
    required = {"s3-put.json", "sqs-batch.json", "sns.json", "eventbridge.json", "batch-ops-v1.json",
                "batch-ops-v2.json", "s3-test-event.json", "s3-delete.json"}
    assert required <= set(EVENT_FILES), f"missing: {required - set(EVENT_FILES)}"
    for f in EVENT_FILES:
        assert L.SAMPLE_BUCKET in open(os.path.join(L.EVENTS_DIR, f)).read(), f"{f} should use {L.SAMPLE_BUCKET}"


@pytest.mark.parametrize("name", EVENT_FILES)
def test_sample_event(name: str, aws: Aws, start_lambda: Any) -> None:
    sample = L.load_event(name)
    aws.enable_versioning()
    _, keys = L.retarget(sample, aws.bucket)
    removal = "ObjectRemoved" in json.dumps(sample) or name == "s3-delete.json"
    blobs = {} if removal else upload_logs(aws, keys)
    event, _ = L.retarget(sample, aws.bucket, lambda k: aws.versions.get((aws.bucket, k)))
    with start_lambda() as fn:
        body = invoke_ok(fn, event)

    if "invocationSchemaVersion" in sample:  # S3 Batch Operations
        assert body.get("invocationSchemaVersion") == sample["invocationSchemaVersion"], body
        assert body.get("treatMissingKeysAs") == "PermanentFailure", body
        assert body.get("invocationId") == sample["invocationId"], body
        results = body.get("results")
        assert [r.get("taskId") for r in results] == [t["taskId"] for t in sample["tasks"]], body
        for r in results:
            assert r.get("resultCode") == "Succeeded", f"task {r.get('taskId')}: {r}"
            assert isinstance(r.get("resultString"), str), r
    elif name.startswith("sqs"):
        assert body == {"batchItemFailures": []} or body.get("batchItemFailures") == [], body
    elif name == "s3-test-event.json":
        assert processed(body) == {}, f"TestEvent must be acknowledged and skipped: {body}"
    elif removal:
        assert processed(body) == {}, body
        assert set(keys) <= skipped_keys(body), f"ObjectRemoved keys must be listed as skipped: {body}"
    else:
        got = processed(body)
        assert set(got) == set(keys), f"processed {sorted(got)}, expected {keys} (URL-decoded keys)"
        for k in keys:
            assert got[k]["bucket"] == aws.bucket and n_findings(got[k]) == 2 and got[k]["published"] is True, got[k]
        assert skipped_keys(body) == set(), body

    for k in keys:
        if removal:
            assert_no_summaries(aws, k)
            continue
        t = assert_summaries(aws, k, records=L.count_records(blobs[k]))
        p = L.partition_of(k)
        assert all((f["account"], f["region"]) == (p["account"], p["region"]) for f in t["findings"]), t["findings"]
        assert len(published_for(aws, k)) == 1, f"expected one SNS message for {k}, got {len(published_for(aws, k))}"
    if not keys or removal:
        assert aws.keys(L.PREFIX) == [] or all("/_state/" in f"/{k}" for k in aws.keys(L.PREFIX)), aws.keys(L.PREFIX)
        assert aws.published() == []


def test_s3_event_response_shape(aws: Aws, start_lambda: Any) -> None:
    """S3/SNS/EventBridge answers: {"processed": [{"bucket", "key", "findings",
    "published"}], "skipped": [{"bucket", "key", "reason"}]}."""
    own = L.PREFIX + "files/x.json.gz"
    upload_logs(aws, [KA])
    event = L.s3_notification(aws.bucket, KA)
    event["Records"] += L.s3_notification(aws.bucket, own)["Records"]
    with start_lambda() as fn:
        body = invoke_ok(fn, event)
    assert isinstance(body, dict) and set(body) >= {"processed", "skipped"}, \
        f"expected {{'processed': [...], 'skipped': [...]}}, got {json.dumps(body)[:1500]}"
    assert len(body["processed"]) == 1 and len(body["skipped"]) == 1, body
    p, s = body["processed"][0], body["skipped"][0]
    assert set(p) >= {"bucket", "key", "findings", "published"}, p
    assert (p["bucket"], p["key"], n_findings(p), p["published"]) == (aws.bucket, KA, 2, True), p
    assert set(s) >= {"bucket", "key", "reason"} and s["key"] == own and isinstance(s["reason"], str), s


# --- delivery semantics -----------------------------------------------------------

def test_duplicate_delivery_publishes_once(aws: Aws, start_lambda: Any) -> None:
    aws.enable_versioning()
    upload_logs(aws, [KA])
    event = L.s3_notification(aws.bucket, KA, version_id=aws.versions[(aws.bucket, KA)])
    with start_lambda() as fn:
        first = invoke_ok(fn, event)
        assert processed(first)[KA]["published"] is True, first
        second = invoke_ok(fn, event)
    assert len(aws.published()) == 1, f"duplicate delivery published again: {len(aws.published())} messages; " \
                                      f"second answer {second}"
    assert aws.keys(L.PREFIX + "_state/"), f"no marker under {L.PREFIX}_state/: {aws.keys(L.PREFIX)}"
    with start_lambda() as fn:  # a cold start (another instance) sees the marker too
        invoke_ok(fn, event)
    assert len(aws.published()) == 1, "duplicate delivery to a fresh instance published again"
    assert_summaries(aws, KA, records=25)
    # A new version of the object is new data, not a duplicate.
    upload_logs(aws, [KA], L.brute_force_lines(30))
    event = L.s3_notification(aws.bucket, KA, version_id=aws.versions[(aws.bucket, KA)],
                              sequencer="00685D8F1F6B1A2C99")
    with start_lambda() as fn:
        invoke_ok(fn, event)
    assert len(aws.published()) == 2, "a new object version should publish its findings"
    assert_summaries(aws, KA, records=30)


def test_sqs_batch_reports_exactly_the_failed_message(aws: Aws, start_lambda: Any) -> None:
    good, bad = KA, L.aws_key("20250626T1835Z", "deadbeef")
    upload_logs(aws, [good])
    aws.put(bad, random.Random(7).randbytes(4096))  # not a flow log at all
    ids = [str(uuid.uuid4()) for _ in range(3)]
    event = {"Records": [
        L.sqs_record(ids[0], json.dumps(L.s3_notification(aws.bucket, good))),
        L.sqs_record(ids[1], json.dumps(L.s3_notification(aws.bucket, bad))),
        L.sqs_record(ids[2], json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
                                         "Time": "2025-06-26T18:01:12.523Z", "Bucket": aws.bucket})),
    ]}
    with start_lambda() as fn:
        body = invoke_ok(fn, event)
    assert body == {"batchItemFailures": [{"itemIdentifier": ids[1]}]}, \
        f"expected exactly the bad message {ids[1]} to fail, got {body}"
    assert_summaries(aws, good, records=25)
    assert_no_summaries(aws, bad)


def test_s3_event_with_bad_object_is_an_invocation_error(aws: Aws, start_lambda: Any) -> None:
    bad = L.aws_key("20250626T1835Z", "deadbeef")
    aws.put(bad, b"\x1f\x8b\x08\x00" + random.Random(3).randbytes(2000))  # truncated/corrupt gzip
    with start_lambda() as fn:
        status, body = fn.invoke(L.s3_notification(aws.bucket, bad), timeout=120)
    assert status == "error", f"a failed object in an S3 event must fail the invocation (retry), got {body}"
    assert bad in json.dumps(body) or "deadbeef" in json.dumps(body), f"error should name the object: {body}"
    assert_no_summaries(aws, bad)


def test_batch_ops_failed_and_missing_tasks(aws: Aws, start_lambda: Any) -> None:
    good, bad, missing = KA, L.aws_key("20250626T1835Z", "deadbeef"), L.aws_key("20250626T1840Z", "00000000")
    upload_logs(aws, [good])
    aws.put(bad, random.Random(9).randbytes(1000))
    event = {"invocationSchemaVersion": "1.0", "invocationId": "inv-" + uuid.uuid4().hex,
             "job": {"id": str(uuid.uuid4())},
             "tasks": [{"taskId": f"t{i}", "s3Key": k.replace("=", "%3D"), "s3VersionId": None,
                        "s3BucketArn": f"arn:aws:s3:::{aws.bucket}"} for i, k in enumerate([good, bad, missing])]}
    with start_lambda() as fn:
        body = invoke_ok(fn, event)
    codes = {r["taskId"]: r["resultCode"] for r in body["results"]}
    assert codes["t0"] == "Succeeded", body
    assert codes["t1"] in ("PermanentFailure", "TemporaryFailure"), body
    assert codes["t2"] in ("PermanentFailure", "TemporaryFailure"), body
    assert body["invocationId"] == event["invocationId"] and body["treatMissingKeysAs"] == "PermanentFailure"


def test_summary_prefix_in_summary_bucket_is_skipped(aws: Aws, start_lambda: Any) -> None:
    own = L.PREFIX + KA  # a perfectly valid flow log, but under the summary prefix
    upload_logs(aws, [own])
    before = aws.keys()
    with start_lambda() as fn:
        body = invoke_ok(fn, L.s3_notification(aws.bucket, own))
    assert processed(body) == {} and own in skipped_keys(body), f"{own} must be skipped: {body}"
    assert aws.keys() == before, f"new objects: {sorted(set(aws.keys()) - set(before))}"
    assert aws.published() == []


# --- configuration ------------------------------------------------------------------

@pytest.mark.parametrize("var,value", [
    ("FLOWGUARD_MIN_SEVERITY", "urgent"),
    ("FLOWGUARD_TRUSTED_CIDRS", "10.0.0.0/33"),
    ("FLOWGUARD_ADMIN_PORTS", "22,70000"),
    ("FLOWGUARD_SENSITIVE_PORTS", "mysql"),
    ("FLOWGUARD_PORT_SCAN_THRESHOLD", "0"),
    # An empty prefix would make the function skip every object of its
    # bucket as its own output.
    ("FLOWGUARD_SUMMARY_PREFIX", ""),
    ("FLOWGUARD_MAX_TRACKED", "50000000"),
    ("FLOWGUARD_NO_SUCH_SETTING", "1"),
])
def test_invalid_configuration_fails_at_start(var: str, value: str, aws: Aws, start_lambda: Any) -> None:
    fn = start_lambda(**{var: value})
    rc, init_errors = fn.wait_init_failure(timeout=30)
    text = "\n".join(fn.log_lines()) + json.dumps(init_errors)
    assert rc is not None or init_errors, \
        f"{var}={value!r}: process still running 30 s after start, no /init/error\n{fn.output_tail()}"
    assert rc != 0 or init_errors, f"{var}={value!r}: exited with status 0"
    assert var in text, f"{var}={value!r}: the start-up error does not name the variable\n{fn.output_tail()}"


@pytest.mark.parametrize("min_sev,kind,expected", [
    (None, "skipdata", None),        # low only, default medium: nothing
    ("low", "skipdata", "LOW"),
    (None, "portscan", "MEDIUM"),
    ("high", "portscan", None),
    ("high", "bruteforce", "HIGH"),
])
def test_min_severity(min_sev: str | None, kind: str, expected: str | None, aws: Aws, start_lambda: Any) -> None:
    lines = {"skipdata": L.benign_lines(5) + [L.skipdata_line()],
             "portscan": L.port_scan_lines(),
             "bruteforce": L.brute_force_lines()}[kind]
    upload_logs(aws, [KA], lines)
    with start_lambda(FLOWGUARD_MIN_SEVERITY=min_sev) as fn:
        body = invoke_ok(fn, L.s3_notification(aws.bucket, KA))
    t = assert_summaries(aws, KA, records=len(lines))
    rules = sorted(f["rule"] for f in t["findings"])
    assert rules == {"skipdata": ["skipped-records"], "portscan": ["port-scan"],
                     "bruteforce": ["admin-port-brute-force", "admin-port-exposed"]}[kind], rules
    if kind == "skipdata":
        assert t["files"][0]["skipdata"] == 1, t["files"]
    pub = aws.published()
    if expected is None:
        assert pub == [], f"nothing >= {min_sev or 'medium'}; published {[p['subject'] for p in pub]}"
        assert processed(body)[KA]["published"] is False, body
    else:
        assert len(pub) == 1, pub
        assert pub[0]["subject"].startswith(f"[{expected}] flowguard: "), pub[0]["subject"]
        assert pub[0]["attributes"]["severity"]["Value"] == expected.lower(), pub[0]["attributes"]


def test_trusted_cidrs(aws: Aws, start_lambda: Any) -> None:
    upload_logs(aws, [KA])
    with start_lambda(FLOWGUARD_TRUSTED_CIDRS="10.0.0.0/8,198.51.100.0/24") as fn:
        invoke_ok(fn, L.s3_notification(aws.bucket, KA))
    t = assert_summaries(aws, KA, records=25)
    assert t["findings"] == [], f"traffic from a trusted network is not an attack: {t['findings']}"
    assert aws.published() == []


def test_custom_summary_bucket_and_prefix(aws: Aws, start_lambda: Any) -> None:
    other = aws.bucket + "-summaries"
    aws.s3.create_bucket(Bucket=other)
    upload_logs(aws, [KA])
    prefix = "athena/flowguard/"
    with start_lambda(FLOWGUARD_SUMMARY_BUCKET=other, FLOWGUARD_SUMMARY_PREFIX=prefix) as fn:
        invoke_ok(fn, L.s3_notification(aws.bucket, KA))
    assert_summaries(aws, KA, records=25, bucket=other, prefix=prefix)
    assert aws.keys() == [KA], f"nothing else should be written to the log bucket: {aws.keys()}"
    pub = aws.published()
    assert len(pub) == 1
    default = json.loads(json.loads(pub[0]["message"])["default"])
    assert default["summaries"].startswith(f"s3://{other}/{prefix}"), default["summaries"]


# --- SNS limits, memory, logs --------------------------------------------------------

def test_sns_message_truncated_under_256k(aws: Aws, start_lambda: Any) -> None:
    n = 3000  # one admin-port-exposed finding per service: far more than fits in one message
    lines = [L.flow(f"198.{51 + i // 250}.{i % 250}.{1 + i % 7}", f"10.0.{i // 250}.{5 + i % 250}",
                    40000 + i % 1000, 22, start=L.T0 + i % 3000)
             for i in range(n)]
    upload_logs(aws, [KA], lines)
    # Above the default max_findings (1000 per rule), so every finding is kept.
    with start_lambda(FLOWGUARD_MAX_FINDINGS="5000") as fn:
        invoke_ok(fn, L.s3_notification(aws.bucket, KA))
    t = assert_summaries(aws, KA, records=n)
    assert len(t["findings"]) == n, f"{len(t['findings'])} findings in the table, expected {n}"
    pub = aws.published()
    assert len(pub) == 1, pub
    raw = pub[0]["message"].encode()
    assert len(raw) + len(pub[0]["subject"]) <= 256 * 1024, f"SNS message is {len(raw)} bytes (> 256 KiB)"
    default = json.loads(json.loads(pub[0]["message"])["default"])
    assert default["total"] == n and default["truncated"] is True and 0 < len(default["findings"]) < n, \
        {k: v for k, v in default.items() if k != "findings"} | {"len(findings)": len(default["findings"])}
    # SPEC 5: "keep the most severe, set truncated, and point to the findings table"
    pointer = json.dumps({k: v for k, v in default.items() if k != "findings"})
    table = f"s3://{aws.bucket}/{L.PREFIX}findings/"
    assert table in pointer, (f"a truncated message should point to the findings table ({table}...) "
                              f"in its default document: {pointer}")


def test_findings_per_rule_are_capped_by_default(aws: Aws, start_lambda: Any) -> None:
    n = 1200  # one admin-port-exposed finding per service, above the default cap of 1000
    lines = [L.flow(f"198.{51 + i // 250}.{i % 250}.{1 + i % 7}", f"10.0.{i // 250}.{5 + i % 250}",
                    40000 + i % 1000, 22, start=L.T0)
             for i in range(n)]
    upload_logs(aws, [KA], lines)
    with start_lambda() as fn:
        invoke_ok(fn, L.s3_notification(aws.bucket, KA))
    t = assert_summaries(aws, KA, records=n)
    assert len(t["findings"]) == 1000, len(t["findings"])
    files = t["files"][0]
    assert files["findings"] == 1000, files
    assert "findings:admin-port-exposed" in files["limits_hit"], files["limits_hit"]


def _steady_lines(n: int, seed: int) -> list[str]:
    """Many records over a small, fixed set of addresses/ports: state stays
    constant, only the volume grows."""
    rnd = random.Random(seed)
    hosts = [f"10.0.{i}.{10 + i}" for i in range(6)]
    out = []
    for i in range(n):
        a, b = rnd.sample(hosts, 2)
        out.append(L.flow(a, b, rnd.randrange(1024, 65535), rnd.choice((443, 8080, 5432, 6379, 53)),
                          packets=rnd.randrange(1, 5000), nbytes=rnd.randrange(40, 9_000_000),
                          start=L.T0 + rnd.randrange(0, 600), action=rnd.choice(("ACCEPT", "ACCEPT", "REJECT"))))
    return out


def test_memory_does_not_grow_with_object_size(aws: Aws, start_lambda: Any) -> None:
    small, big = 20_000, 400_000
    peaks = {}
    for n, key in ((small, L.aws_key("20250626T1840Z", "5a5a5a5a")), (big, L.aws_key("20250626T1845Z", "b1b1b1b1"))):
        text = L.flowlog_text(_steady_lines(n, n))
        aws.put(key, L.gz(text))
        with start_lambda() as fn:
            invoke_ok(fn, L.s3_notification(aws.bucket, key), timeout=600)
            peaks[n] = (fn.peak_rss_kb(), len(text))
        assert_summaries(aws, key, records=n)
    growth_kb = peaks[big][0] - peaks[small][0]
    print(f"peak RSS: {small} records {peaks[small][0]} KiB, {big} records {peaks[big][0]} KiB")
    text_growth_kb = (peaks[big][1] - peaks[small][1]) // 1024
    assert growth_kb < 32 * 1024, (f"peak RSS grew by {growth_kb} KiB for {text_growth_kb} KiB more text "
                                   f"(small {peaks[small][0]} KiB, big {peaks[big][0]} KiB): not streamed?")


def test_logs_are_json_lines(aws: Aws, start_lambda: Any) -> None:
    upload_logs(aws, [KA])
    with start_lambda() as fn:
        invoke_ok(fn, L.s3_notification(aws.bucket, KA))
    lines = [ln for ln in fn.log_lines() if ln.strip()]
    assert lines, "the function logged nothing"
    bad = []
    for ln in lines:
        try:
            assert isinstance(json.loads(ln), dict)
        except (ValueError, AssertionError):
            bad.append(ln)
    assert not bad, "non-JSON log lines:\n" + "\n".join(bad[:20])
    assert KA in "\n".join(lines), "the logs should name the object processed"


def test_url_encoded_keys_are_decoded(aws: Aws, start_lambda: Any) -> None:
    key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/flow logs+copy (1)/" \
          "123456789012_vpcflowlogs_us-east-1_fl-0123456789abcdef0_20250626T1820Z_3f2a1b4c.log.gz"
    upload_logs(aws, [key])
    event = L.s3_notification(aws.bucket, key)
    assert "flow+logs%2Bcopy+%281%29" in event["Records"][0]["s3"]["object"]["key"]
    with start_lambda() as fn:
        body = invoke_ok(fn, event)
    assert key in processed(body), body
    assert_summaries(aws, key, records=25)
