"""Fault injection: the real `flowguard-lambda` binary against moto when S3
or SNS misbehave. Each test checks what the README's table "Failures, and
what each one does" promises, for every event shape that answers
differently: an S3 notification (invocation error = Lambda retries), an SQS
batch (the message in `batchItemFailures`) and S3 Batch Operations
(`resultCode`).

Faults:
- the object was deleted between the event and the read;
- the S3 connection is cut in the middle of the GetObject body (a proxy,
  `faultproxy.py`, between the binary and moto);
- SNS publish fails (the topic does not exist yet), then the topic appears;
- PutObject of the summaries fails (the summary bucket does not exist yet),
  then the bucket appears; retries converge.

Run:  scripts/with-moto .venv/bin/pytest -q tests/e2e/test_faults.py
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest

import e2e_lib as L
from conftest import Aws
from faultproxy import FaultProxy
from runtime_api import LambdaProcess
from test_lambda import assert_summaries, source_key

NO_SUCH_OBJECT = "object no longer exists"
LATER_TOPIC = f"arn:aws:sns:{L.REGION}:{L.ACCOUNT}:flowguard-later"


# --- helpers -------------------------------------------------------------------------

def log_lines(fn: LambdaProcess, level: str, *, at_least: int = 1, wait: float = 5.0,
              **fields: Any) -> list[dict[str, Any]]:
    """JSON log lines on stderr at `level` whose fields include `fields`.
    The pipes are read by threads, so a line written just before the answer
    may arrive a moment after it: waits up to `wait` s for `at_least` matches."""
    return fn.wait_json_logs(
        lambda j: j.get("level") == level and all(j.get("fields", {}).get(k) == v for k, v in fields.items()),
        at_least=at_least, wait=wait)


def deliver(fn: LambdaProcess, shape: str, event: dict[str, Any], timeout: float = 180) -> tuple[str, Any]:
    """Invokes and returns ("ok" | "failed", detail) for a one-object event:
    S3: ("ok", body) or ("failed", error body); SQS: failed when the message is
    in batchItemFailures; Batch Ops: (resultCode, result)."""
    status, body = fn.invoke(event, timeout=timeout)
    if shape == "s3":
        return ("ok" if status == "ok" else "failed"), body
    assert status == "ok", (f"{shape} events are answered, never an invocation error: "
                            f"{json.dumps(body)[:1500]}\n{fn.output_tail()}")
    if shape == "sqs":
        ids = [r["messageId"] for r in event["Records"]]
        failed = body.get("batchItemFailures")
        assert isinstance(failed, list), body
        assert all(f.get("itemIdentifier") in ids for f in failed), body
        return ("failed" if failed else "ok"), body
    results = body.get("results")
    assert isinstance(results, list) and len(results) == 1, body
    assert results[0]["taskId"] == event["tasks"][0]["taskId"], body
    return results[0]["resultCode"], results[0]


def expect_failure(shape: str, got: tuple[str, Any], *, batch_code: str | None, mentions: list[str],
                   fn: LambdaProcess, batch_mentions: list[str] | None = None) -> None:
    """The delivery failed as `shape` reports failures (Batch Ops: with
    `batch_code`, or either failure code when None); the S3 invocation error
    names `mentions`, the Batch Ops resultString `batch_mentions` (default:
    the same; a task is already identified by its taskId)."""
    res, detail = got
    text = json.dumps(detail)
    if shape == "batch":
        want = (batch_code,) if batch_code else ("TemporaryFailure", "PermanentFailure")
        assert res in want, f"Batch Ops task should be {' or '.join(want)}, got {res}: {detail}\n{fn.output_tail()}"
        text = detail.get("resultString", "")
        mentions = mentions if batch_mentions is None else batch_mentions
    else:
        assert res == "failed", f"{shape}: the delivery should fail (retry), got {detail}\n{fn.output_tail()}"
    if shape != "sqs":  # an SQS answer only lists message ids
        for m in mentions:
            assert m in text, f"the failure should name {m!r}: {text[:1500]}"


def expect_success(shape: str, got: tuple[str, Any], fn: LambdaProcess) -> Any:
    res, detail = got
    assert res in ("ok", "Succeeded"), f"{shape}: expected success, got {res}: {json.dumps(detail)[:1500]}\n" \
                                       + fn.output_tail()
    return detail


def markers(aws: Aws, bucket: str | None = None) -> list[str]:
    return aws.keys(L.PREFIX + "_state/", bucket=bucket)


def drain_all(aws: Aws, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue: long polls until two empty receives in a row."""
    got: list[dict[str, Any]] = []
    empty = 0
    while empty < 2:
        msgs = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for m in msgs:
            aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        got += msgs
        empty = 0 if msgs else empty + 1
    return got


def queued_sources(msgs: list[dict[str, Any]]) -> list[str]:
    """The object key named by each SNS envelope read from an SQS subscriber."""
    return [source_key(json.loads(json.loads(m["Body"])["Message"])["source"]) for m in msgs]


def upload_brute_force(aws: Aws, key: str) -> bytes:
    blob = L.gz(L.flowlog_text(L.brute_force_lines(25)))  # 2 high findings
    aws.put(key, blob)
    return blob


# --- 1. object deleted between the event and the read ----------------------------------

@pytest.mark.parametrize("how", ["never-existed", "deleted", "version-deleted"])
@pytest.mark.parametrize("shape", L.SHAPES)
def test_object_deleted_before_read(shape: str, how: str, aws: Aws, start_lambda: Any) -> None:
    """Retrying cannot bring the object back: acknowledged with a warning, not
    retried forever (Batch Ops: PermanentFailure); nothing written or published."""
    key = L.aws_key("20250626T1820Z", "0de1e7ed")
    versions: dict[str, str] = {}
    if how == "deleted":
        upload_brute_force(aws, key)
        aws.s3.delete_object(Bucket=aws.bucket, Key=key)
    elif how == "version-deleted":  # the event's version was deleted permanently
        aws.enable_versioning()
        upload_brute_force(aws, key)
        versions[key] = aws.versions[(aws.bucket, key)]
        aws.s3.delete_object(Bucket=aws.bucket, Key=key, VersionId=versions[key])
    assert aws.keys() == []
    event = L.event_for(shape, aws.bucket, [key], version_ids=versions)
    with start_lambda() as fn:
        status, body = fn.invoke(event, timeout=60)
    assert status == "ok", f"a deleted object must not fail the invocation: {body}\n{fn.output_tail()}"
    if shape == "s3":
        assert body.get("processed") == [], body
        assert [{k: s.get(k) for k in ("bucket", "key", "reason")} for s in body.get("skipped", [])] == \
            [{"bucket": aws.bucket, "key": key, "reason": NO_SUCH_OBJECT}], body
    elif shape == "sqs":
        assert body == {"batchItemFailures": []}, body
    else:
        assert body["results"] == [{"taskId": "t0", "resultCode": "PermanentFailure",
                                    "resultString": NO_SUCH_OBJECT}], body
    warnings = log_lines(fn, "WARN", key=key, bucket=aws.bucket)
    assert warnings and any("no longer exists" in w["fields"].get("message", "") for w in warnings), \
        f"expected a JSON warning on stderr naming {key}\n{fn.output_tail()}"
    assert aws.keys(L.PREFIX) == [], f"nothing should be written: {aws.keys(L.PREFIX)}"
    assert aws.published() == []  # moto records every publish, delivered or not


# --- 2. S3 connection cut mid-stream -------------------------------------------------------

BIG_RECORDS = 45_000  # ~1 MB of gzip from `flowguard generate`
CUT_AFTER = 50_000    # bytes of the GetObject body that get through


@pytest.fixture(scope="module")
def big_log(flowguard_bin: str, tmp_path_factory: Any) -> bytes:
    path = tmp_path_factory.mktemp("big") / "big.log.gz"
    blob = L.generate_flowlog(flowguard_bin, BIG_RECORDS, 11, str(path))
    assert 800_000 <= len(blob) <= 1_500_000, f"generated object is {len(blob)} bytes, wanted ~1 MB"
    return blob


@pytest.mark.parametrize("shape", L.SHAPES)
def test_s3_connection_cut_mid_stream(shape: str, aws: Aws, start_lambda: Any, big_log: bytes) -> None:
    """The GetObject body stops after 50 KB of ~1 MB: a retryable failure and
    nothing written or published; once S3 behaves, the retry completes and
    publishes exactly once."""
    key = L.aws_key("20250626T1820Z", "c0ffee01")
    stem = L.partition_of(key)["stem"]
    aws.put(key, big_log)
    event = L.event_for(shape, aws.bucket, [key])
    with FaultProxy(aws.endpoint, lifetime=300) as proxy:
        proxy.cut_responses(path_contains=stem, after_body_bytes=CUT_AFTER, methods=("GET",))
        fn = start_lambda(AWS_ENDPOINT_URL=proxy.endpoint)
        got = deliver(fn, shape, event)
        assert proxy.cuts, f"the proxy cut nothing; requests seen: {proxy.requests}"
        for c in proxy.cuts:
            assert c.body_bytes_sent == CUT_AFTER and c.content_length == len(big_log), c
        expect_failure(shape, got, batch_code="TemporaryFailure", mentions=[key], fn=fn)
        errors = log_lines(fn, "ERROR", key=key)
        assert any(e["fields"].get("retryable") is True for e in errors), \
            f"expected an ERROR log naming {key} with retryable=true\n{fn.output_tail()}"
        assert aws.keys(L.PREFIX) == [], f"nothing may be written for a cut read: {aws.keys(L.PREFIX)}"
        assert aws.published() == [], "nothing may be published for a cut read"
        assert not proxy.errors or all("Broken pipe" in e or "reset" in e.lower() for e in proxy.errors), proxy.errors

        proxy.clear()  # S3 is healthy again; the event is delivered again
        cuts = len(proxy.cuts)
        expect_success(shape, deliver(fn, shape, event), fn)
        assert len(proxy.cuts) == cuts
    assert_summaries(aws, key, records=L.count_records(big_log))
    assert len(markers(aws)) == 1, markers(aws)
    pub = aws.published()
    assert len(pub) == 1, f"exactly one SNS message after the retry, got {len(pub)}"
    assert queued_sources(drain_all(aws, aws.findings_queue)) == [key]


# --- 3. SNS publish fails (topic missing), then the topic exists ------------------------------

@pytest.mark.parametrize("shape", L.SHAPES)
def test_sns_publish_fails_then_topic_appears(shape: str, aws: Aws, start_lambda: Any) -> None:
    key = L.aws_key("20250626T1820Z", "5e5e5e5e")
    blob = upload_brute_force(aws, key)
    event = L.event_for(shape, aws.bucket, [key])
    fn = start_lambda(FLOWGUARD_TOPIC_ARN=LATER_TOPIC)

    got = deliver(fn, shape, event)
    expect_failure(shape, got, batch_code="TemporaryFailure", mentions=[key, "flowguard-later"],
                   batch_mentions=["flowguard-later"], fn=fn)
    assert log_lines(fn, "ERROR", message="publishing findings failed"), \
        f"expected an ERROR log for the failed publish\n{fn.output_tail()}"
    assert markers(aws) == [], f"no completion marker after a failed publish: {markers(aws)}"
    # Summaries may already be written (they are written before publishing);
    # if the `files` row is there, every table must be complete.
    if L.summary_key(key, "files") in aws.keys(L.PREFIX):
        assert_summaries(aws, key, records=L.count_records(blob))

    arn = aws.sns.create_topic(Name="flowguard-later")["TopicArn"]
    assert arn == LATER_TOPIC
    q = aws.sqs.create_queue(QueueName="findings-later")["QueueUrl"]
    aws.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=aws.queue_arn(q))

    second = expect_success(shape, deliver(fn, shape, event), fn)
    if shape == "s3":
        assert [p["key"] for p in second["processed"]] == [key] and second["processed"][0]["published"], second
    assert len(L.sent_notifications(aws.endpoint, LATER_TOPIC)) == 1
    assert queued_sources(drain_all(aws, q)) == [key]
    assert len(markers(aws)) == 1, markers(aws)
    assert_summaries(aws, key, records=L.count_records(blob))

    third = expect_success(shape, deliver(fn, shape, event), fn)
    if shape == "s3":
        assert third["processed"] == [] and third["skipped"][0]["reason"] == "already processed", third
    assert len(L.sent_notifications(aws.endpoint, LATER_TOPIC)) == 1, "the marker must stop a second publish"
    assert drain_all(aws, q) == []


# --- 4. PutObject of the summaries fails (bucket missing), then the bucket exists ----------------

def snapshot(aws: Aws, bucket: str) -> dict[str, Any]:
    """Decompressed summaries (without the completion marker); `processed_at`
    is dropped from `files` rows, everything else must match byte for byte."""
    out: dict[str, Any] = {}
    for k in aws.keys(L.PREFIX, bucket=bucket):
        if k.startswith(L.PREFIX + "_state/"):
            continue
        text = gzip.decompress(aws.s3.get_object(Bucket=bucket, Key=k)["Body"].read()).decode()
        if k.startswith(L.PREFIX + "files/"):
            rows = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
            for r in rows:
                assert "processed_at" in r, r
                r.pop("processed_at")
            out[k] = rows
        else:
            out[k] = text
    return out


@pytest.mark.parametrize("shape", L.SHAPES)
def test_summary_put_fails_then_bucket_appears(shape: str, aws: Aws, start_lambda: Any) -> None:
    later = aws.bucket + "-later"
    key = L.aws_key("20250626T1820Z", "b0c4e7ed")
    blob = upload_brute_force(aws, key)
    event = L.event_for(shape, aws.bucket, [key])
    fn = start_lambda(FLOWGUARD_SUMMARY_BUCKET=later)

    # README: "PutObject of a summary fails | invocation fails (retryable)".
    # The Batch Ops result code is checked at the end, so that a wrong code
    # does not hide whether the retries converge.
    got = deliver(fn, shape, event)
    expect_failure(shape, got, batch_code=None, mentions=[later, L.PREFIX], fn=fn)
    failed_puts = log_lines(fn, "ERROR", message="writing summary failed")
    assert failed_puts and all(e["fields"]["summary_key"].startswith(L.PREFIX) and e["fields"]["key"] == key
                               and later in e["fields"]["error"]
                               for e in failed_puts), \
        f"expected one ERROR log naming the object and the summary object\n{fn.output_tail()}"
    assert len(failed_puts) == 1, f"the failure is logged once: {failed_puts}"
    assert aws.keys() == [key], f"nothing may land in the log bucket: {aws.keys()}"
    assert aws.published() == [], "nothing may be published before the summaries are written"

    aws.s3.create_bucket(Bucket=later)
    expected = sorted(L.summary_keys(key).values())
    runs = []
    for attempt in range(2):
        if attempt:
            # Simulate the retry after a crash before the marker was written:
            # without the marker the object is processed again in full.
            (m,) = markers(aws, later)
            aws.s3.delete_object(Bucket=later, Key=m)
        expect_success(shape, deliver(fn, shape, event), fn)
        assert len(log_lines(fn, "INFO", at_least=attempt + 1, key=key, message="processed")) == attempt + 1, \
            f"attempt {attempt + 1} should have processed {key}\n{fn.output_tail()}"
        assert_summaries(aws, key, records=L.count_records(blob), bucket=later)
        written = [k for k in aws.keys(L.PREFIX, bucket=later) if not k.startswith(L.PREFIX + "_state/")]
        assert written == expected, f"summary keys {written}, expected {expected}"
        assert len(markers(aws, later)) == 1
        runs.append(snapshot(aws, later))
    assert list(runs[0]) == list(runs[1]) == expected
    for k in expected:
        assert runs[0][k] == runs[1][k], f"{k} differs between two retries:\n{runs[0][k]}\n---\n{runs[1][k]}"
    # Each full processing publishes; the second one is the documented
    # duplicate window (no marker found).
    assert len(aws.published()) == 2
    assert aws.keys() == [key]
    if shape == "batch":
        assert got[0] == "TemporaryFailure", (
            f"a failed summary PutObject (missing summary bucket) must be retryable, as the README says and as "
            f"a missing SNS topic is: Batch Ops task got {got[0]}: {got[1].get('resultString')}")


# --- 5. Security Hub or EventBridge does not take every finding -----------------------------

def hub_rejects_all(body: bytes) -> tuple[int, bytes]:
    """BatchImportFindings answered with every finding in FailedFindings."""
    ids = [f["Id"] for f in json.loads(body)["Findings"]]
    return 200, json.dumps({"FailedCount": len(ids), "SuccessCount": 0, "FailedFindings": [
        {"Id": i, "ErrorCode": "InternalException", "ErrorMessage": "injected by faultproxy"} for i in ids]}).encode()


def bus_fails_all(body: bytes) -> tuple[int, bytes]:
    """PutEvents answered with every entry failed."""
    n = len(json.loads(body)["Entries"])
    return 200, json.dumps({"FailedEntryCount": n, "Entries": [
        {"ErrorCode": "InternalFailure", "ErrorMessage": "injected by faultproxy"}] * n}).encode()


def hub_imports(proxy: FaultProxy) -> int:
    """BatchImportFindings calls that reached moto."""
    return sum(1 for m, p, s in proxy.requests if m == "POST" and p.startswith("/findings/import") and s == 200)


class Sinks:
    """Security Hub enabled, an EventBridge rule with an SQS target on the
    default bus, and the state table, on this test's moto."""

    def __init__(self, aws: Aws, shape: str) -> None:
        import boto3

        from test_correlation import create_table

        kw = dict(endpoint_url=aws.endpoint, region_name=L.REGION, aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        self.aws, self.shape = aws, shape
        self.hub = boto3.client("securityhub", **kw)
        self.hub.enable_security_hub()
        events = boto3.client("events", **kw)
        self.bus_queue = aws.sqs.create_queue(QueueName="bus-events")["QueueUrl"]
        events.put_rule(Name="flowguard", EventPattern=json.dumps({"source": ["flowguard"]}))
        events.put_targets(Rule="flowguard", Targets=[{"Id": "q", "Arn": aws.queue_arn(self.bus_queue)}])
        create_table(aws)

    def obj(self, n: int) -> tuple[str, dict[str, Any]]:
        """An object with two new high findings, and its event."""
        key = L.aws_key("20250626T1820Z", f"7a7a7a{n:02x}")
        self.aws.put(key, L.gz(L.flowlog_text(L.brute_force_lines(25, src=f"198.51.100.{n}", dst=f"10.0.0.{n}"))))
        return key, L.event_for(self.shape, self.aws.bucket, [key])

    def queued(self, url: str) -> list[dict[str, Any]]:
        # moto delivers to SQS subscribers and rule targets within the call.
        return L.drain_queue(self.aws.sqs, url, wait=0.5)

    def hub_ids(self) -> list[str]:
        return sorted(f["Id"] for f in self.hub.get_findings()["Findings"])


@pytest.mark.parametrize("shape", L.SHAPES)
def test_security_hub_and_eventbridge_partial_failures(shape: str, aws: Aws, start_lambda: Any) -> None:
    from test_correlation import TABLE

    sinks = Sinks(aws, shape)
    hub, bus_queue, obj, queued, hub_ids = sinks.hub, sinks.bus_queue, sinks.obj, sinks.queued, sinks.hub_ids

    with FaultProxy(aws.endpoint) as proxy:
        fn = start_lambda(AWS_ENDPOINT_URL=proxy.endpoint, FLOWGUARD_STATE_TABLE=TABLE,
                          FLOWGUARD_SECURITY_HUB="true", FLOWGUARD_EVENT_BUS="default")

        # Two calls with FailedFindings, then Security Hub takes them: the
        # retries inside the invocation deliver everything once.
        proxy.answer("/findings/import", hub_rejects_all, count=2)
        key, event = obj(1)
        expect_success(shape, deliver(fn, shape, event), fn)
        assert len(proxy.answered) == 2 and hub_imports(proxy) == 1
        first = hub_ids()
        assert len(first) == 2, first
        assert queued_sources(queued(aws.findings_queue)) == [key]
        assert len(queued(bus_queue)) == 2

        # FailedFindings on every attempt: the object fails as retryable,
        # nothing goes to EventBridge or SNS, no marker; the retry delivers.
        proxy.answer("/findings/import", hub_rejects_all)
        key, event = obj(2)
        expect_failure(shape, deliver(fn, shape, event), batch_code="TemporaryFailure",
                       mentions=[key, "Security Hub", "InternalException"], fn=fn)
        assert len(proxy.answered) == 2 + 4, "four attempts of the failing call"
        assert log_lines(fn, "ERROR", message="Security Hub import failed", retryable=True)
        assert queued(aws.findings_queue) == [] and queued(bus_queue) == []
        assert len(markers(aws)) == 1
        proxy.clear()
        expect_success(shape, deliver(fn, shape, event), fn)
        assert len(hub_ids()) == 4
        assert queued_sources(queued(aws.findings_queue)) == [key], "one SNS message on the retry"
        assert len(queued(bus_queue)) == 2

        # Every PutEvents entry failing: Security Hub took the findings, the
        # object fails as retryable with no SNS message; the retry sends to
        # EventBridge and SNS only, once each.
        proxy.answer("AWSEvents.PutEvents", bus_fails_all)
        key, event = obj(3)
        imports = hub_imports(proxy)
        expect_failure(shape, deliver(fn, shape, event), batch_code="TemporaryFailure",
                       mentions=[key, "EventBridge", "InternalFailure"], fn=fn)
        assert log_lines(fn, "ERROR", message="EventBridge PutEvents failed", retryable=True)
        assert hub_imports(proxy) == imports + 1 and len(hub_ids()) == 6
        assert queued(aws.findings_queue) == []
        proxy.clear()
        expect_success(shape, deliver(fn, shape, event), fn)
        assert hub_imports(proxy) == imports + 1, "the retry does not import again what Security Hub took"
        assert queued_sources(queued(aws.findings_queue)) == [key]
        assert len(queued(bus_queue)) == 2
        expect_success(shape, deliver(fn, shape, event), fn)
        assert queued(aws.findings_queue) == [], "a third delivery publishes nothing"
        assert len(markers(aws)) == 3


def hub_throttles(body: bytes) -> tuple[int, bytes]:
    """BatchImportFindings refused as Security Hub refuses calls over its
    10 a second."""
    return 429, json.dumps({"__type": "TooManyRequestsException", "Message": "Rate exceeded"}).encode()


def ec2_hangs(body: bytes) -> tuple[int, bytes]:
    """DescribeNetworkInterfaces that answers after the function's 3-s
    enrichment bound."""
    time.sleep(6)
    return 500, b"{}"


def sns_fails(body: bytes) -> tuple[int, bytes]:
    """Any SNS call failing as a service error."""
    return 500, (b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code>"
                 b"<Message>injected by faultproxy</Message></Error></ErrorResponse>")


def test_throttled_security_hub_slow_ec2_and_sns_failing_after_the_hub(aws: Aws, start_lambda: Any) -> None:
    from test_correlation import TABLE

    shape = "sqs"
    sinks = Sinks(aws, shape)
    with FaultProxy(aws.endpoint) as proxy, FaultProxy(aws.endpoint) as ec2, FaultProxy(aws.endpoint) as sns:
        ec2.answer("/", ec2_hangs)
        fn = start_lambda(AWS_ENDPOINT_URL=proxy.endpoint, AWS_ENDPOINT_URL_EC2=ec2.endpoint,
                          AWS_ENDPOINT_URL_SNS=sns.endpoint, FLOWGUARD_STATE_TABLE=TABLE,
                          FLOWGUARD_SECURITY_HUB="true", FLOWGUARD_EVENT_BUS="default", FLOWGUARD_ENRICH="ec2")

        # Security Hub throttles twice, then takes the findings; EC2 does not
        # answer within the bound: the findings go out, without enrichment.
        proxy.answer("/findings/import", hub_throttles, count=2)
        key, event = sinks.obj(1)
        expect_success(shape, deliver(fn, shape, event), fn)
        assert len(proxy.answered) == 2 and hub_imports(proxy) == 1, (proxy.answered, proxy.requests)
        assert len(sinks.hub_ids()) == 2
        assert fn.wait_json_logs(lambda j: j.get("level") == "WARN"
                                 and "enrichment timed out" in j.get("fields", {}).get("message", ""))
        msgs = sinks.queued(aws.findings_queue)
        assert queued_sources(msgs) == [key]
        body = json.loads(json.loads(msgs[0]["Body"])["Message"])
        assert all(not f.get("resources") for f in body["findings"]), "no enrichment"
        assert len(sinks.queued(sinks.bus_queue)) == 2

        # SNS fails on every attempt after Security Hub and EventBridge took
        # the findings: the object fails as retryable; the retry publishes
        # the one SNS message and sends nothing twice to the others.
        sns.answer("/", sns_fails)
        key, event = sinks.obj(2)
        expect_failure(shape, deliver(fn, shape, event), batch_code="TemporaryFailure", mentions=[key], fn=fn)
        assert log_lines(fn, "ERROR", message="publishing findings failed")
        assert len(sinks.hub_ids()) == 4 and len(sinks.queued(sinks.bus_queue)) == 2
        assert sinks.queued(aws.findings_queue) == []
        imports = hub_imports(proxy)
        sns.clear()
        expect_success(shape, deliver(fn, shape, event), fn)
        assert queued_sources(sinks.queued(aws.findings_queue)) == [key], "one SNS message on the retry"
        assert hub_imports(proxy) == imports, "Security Hub is not imported again"
        assert sinks.queued(sinks.bus_queue) == [], "no event twice"
        assert len(sinks.hub_ids()) == 4
