"""Correlation across objects (SPEC section 7) through the real Lambda binary,
with S3, SNS and DynamoDB all served by moto.

The scenario is `flowguard generate --objects 96`: 8 hours of one flow log in
5-minute objects of 3,000 records, internet noise (thousands of one-probe
sources), and seven attacks and exposures spread across objects so that no
single object shows one above a threshold. Delivered in time order, shuffled
with duplicates, or by 8 concurrent instances, every attack is found under
one finding id, nothing is found for the noise, and the notifications stay
few.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

import e2e_lib as L
from conftest import Aws
from faultproxy import FaultProxy
from test_lambda import invoke_ok

TABLE = "flowguard-state"
OBJECTS = 96
RECORDS = 3000
MAX_NOTIFICATIONS = 14


def create_table(aws: Aws) -> Any:
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=aws.endpoint, region_name=L.REGION,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    return ddb


@pytest.fixture(scope="module")
def scenario(flowguard_bin: str, tmp_path_factory: Any) -> dict[str, Any]:
    """The 96 objects (keys relative to the bucket, in time order) and the
    manifest of the findings they must produce."""
    root = tmp_path_factory.mktemp("scenario")
    manifest = root / "manifest.json"
    res = subprocess.run([flowguard_bin, "generate", "--objects", str(OBJECTS), "--records", str(RECORDS),
                          "--seed", "3", "--output", str(root / "in"), "--manifest", str(manifest)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    files = sorted((root / "in").glob("AWSLogs/**/*.log.gz"))
    assert len(files) == OBJECTS
    keys = [f.relative_to(root / "in").as_posix() for f in files]
    return {"files": dict(zip(keys, files)), "keys": keys,
            "expected": {(e["rule"], e["subject"]) for e in json.loads(manifest.read_text())["expected"]}}


def upload(aws: Aws, scenario: dict[str, Any]) -> None:
    for key, path in scenario["files"].items():
        aws.put(key, path.read_bytes())


def notified(aws: Aws, topic_arn: str | None = None) -> list[list[dict[str, Any]]]:
    """The findings of each SNS message published, in order."""
    sent = L.sent_notifications(aws.endpoint, topic_arn or aws.topic_arn)
    return [json.loads(json.loads(m["message"])["default"])["findings"] for m in sent]


def all_findings(aws: Aws) -> list[dict[str, Any]]:
    rows = []
    for key in aws.keys(L.PREFIX + "findings/"):
        rows += L.read_ndjson_gz(aws.s3, aws.bucket, key)
    return rows


def check_scenario(aws: Aws, scenario: dict[str, Any]) -> dict[str, Any]:
    messages = notified(aws)
    sent = [f for m in messages for f in m]
    rows = all_findings(aws)
    subjects = {(r["rule"], r["subject"]) for r in rows}
    # Every attack found, and nothing else (no finding for the noise).
    assert subjects == scenario["expected"], sorted(subjects ^ scenario["expected"])
    # Each under one finding id, in every object it occurs in.
    ids = {}
    for r in rows:
        ids.setdefault((r["rule"], r["subject"]), set()).add(r["finding_id"])
    assert all(len(v) == 1 for v in ids.values()), ids
    # Every attack notified, few notifications in all.
    assert {(f["rule"], f["subject"]) for f in sent} == scenario["expected"]
    assert len(messages) <= MAX_NOTIFICATIONS and len(sent) <= MAX_NOTIFICATIONS, \
        (len(messages), [(f["rule"], f["subject"], f["last_seen"]) for f in sent])
    # The summary marks exactly the notified findings of each object.
    assert sum(1 for r in rows if r["notified"]) == len(sent)
    return {"messages": len(messages), "notifications": len(sent), "rows": len(rows), "ids": len(ids)}


def state_requests(fn: Any, objects: int) -> list[int]:
    """The store requests of each of `objects` processed objects (waiting
    for their log lines, which may trail the answers)."""
    lines = fn.wait_json_logs(lambda j: j.get("fields", {}).get("message") == "processed", at_least=objects)
    return [j["fields"]["state_requests"] for j in lines]


def test_scenario_in_time_order(aws: Aws, start_lambda: Any, scenario: dict[str, Any]) -> None:
    create_table(aws)
    upload(aws, scenario)
    # Every severity is notified here (the default minimum is medium, and
    # rejected-traffic is low), so every attack must reach the topic.
    fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE, FLOWGUARD_MIN_SEVERITY="low")
    for key in scenario["keys"]:
        invoke_ok(fn, L.s3_notification(aws.bucket, key))
    got = check_scenario(aws, scenario)
    # Store requests per object: bounded by max_state_updates (100) plus a
    # batch read and the claims, whatever the noise.
    requests = state_requests(fn, len(scenario["keys"]))
    assert len(requests) == OBJECTS and max(requests) <= 110, requests
    print(f"in order: {got}; state requests per object: max {max(requests)}, "
          f"mean {sum(requests) / len(requests):.1f}")


def test_scenario_shuffled_with_duplicates(aws: Aws, start_lambda: Any, scenario: dict[str, Any]) -> None:
    create_table(aws)
    upload(aws, scenario)
    keys = list(scenario["keys"])
    rnd = random.Random(7)
    rnd.shuffle(keys)
    keys += rnd.sample(keys, 20)  # redelivered
    fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE, FLOWGUARD_MIN_SEVERITY="low")
    for key in keys:
        invoke_ok(fn, L.s3_notification(aws.bucket, key))
    check_scenario(aws, scenario)


def exposure_lines(i: int) -> list[str]:
    """An object where SSH on 10.0.0.5 accepts a flow from the internet."""
    return [L.flow(f"198.51.100.{10 + i}", "10.0.0.5", 40000 + i, 22, start=L.T0 + 60 * i),
            *L.benign_lines(5)]


def test_eight_concurrent_instances_notify_a_new_finding_once(aws: Aws, start_lambda: Any) -> None:
    create_table(aws)
    keys = [L.aws_key("20250626T1820Z", f"c0ffee{i:02d}") for i in range(8)]
    for i, key in enumerate(keys):
        aws.put(key, L.gz(L.flowlog_text(exposure_lines(i))))
    fns = [start_lambda(FLOWGUARD_STATE_TABLE=TABLE) for _ in keys]
    barrier = threading.Barrier(len(keys))
    answers: list[Any] = [None] * len(keys)

    def run(i: int) -> None:
        barrier.wait()
        answers[i] = fns[i].invoke(L.s3_notification(aws.bucket, keys[i]), timeout=120)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert all(a is not None and a[0] == "ok" for a in answers), answers
    sent = [f for m in notified(aws) for f in m if f["subject"] == "10.0.0.5:22/tcp"]
    assert len(sent) == 1, sent
    rows = [r for r in all_findings(aws) if r["subject"] == "10.0.0.5:22/tcp"]
    assert len(rows) == 8 and sum(r["notified"] for r in rows) == 1, rows
    assert len({r["finding_id"] for r in rows}) == 1


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_throttling_is_retried(aws: Aws, start_lambda: Any) -> None:
    create_table(aws)
    key = L.aws_key("20250626T1820Z", "7a7a7a7a")
    aws.put(key, L.gz(L.flowlog_text(exposure_lines(0))))
    with FaultProxy(aws.endpoint) as proxy:
        proxy.throttle("BatchGetItem", count=2)
        proxy.throttle("PutItem", count=3)
        fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE, AWS_ENDPOINT_URL_DYNAMODB=proxy.endpoint)
        invoke_ok(fn, L.s3_notification(aws.bucket, key))
        assert len(proxy.throttled) == 5, proxy.throttled
    sent = [f for m in notified(aws) for f in m]
    assert [f["subject"] for f in sent] == ["10.0.0.5:22/tcp"]


def test_unavailable_store_fails_after_the_summaries_and_publishes_nothing(aws: Aws, start_lambda: Any) -> None:
    key = L.aws_key("20250626T1820Z", "dead0001")
    aws.put(key, L.gz(L.flowlog_text(L.brute_force_lines(25))))
    dead = f"http://127.0.0.1:{free_port()}"
    fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE, AWS_ENDPOINT_URL_DYNAMODB=dead)
    status, body = fn.invoke(L.s3_notification(aws.bucket, key), timeout=180)
    assert status == "error", body
    assert "retryable" in json.dumps(body) and "state" in json.dumps(body), body
    # The summaries are there (the object's own findings, none notified)...
    files = L.read_ndjson_gz(aws.s3, aws.bucket, L.summary_key(key, "files"))
    assert files[0]["findings"] == 2
    rows = L.read_ndjson_gz(aws.s3, aws.bucket, L.summary_key(key, "findings"))
    assert len(rows) == 2 and not any(r["notified"] for r in rows)
    # ...nothing is published, and no completion marker lets a retry skip it.
    assert aws.published() == []
    assert not [k for k in aws.keys(L.PREFIX + "_state/")], "no marker for a failed object"


def test_publish_failing_after_the_claim_notifies_once_on_retry(aws: Aws, start_lambda: Any) -> None:
    create_table(aws)
    key = L.aws_key("20250626T1820Z", "feedbeef")
    aws.put(key, L.gz(L.flowlog_text(exposure_lines(1))))
    later = f"arn:aws:sns:{L.REGION}:123456789012:flowguard-later"
    fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE, FLOWGUARD_TOPIC_ARN=later)
    status, body = fn.invoke(L.s3_notification(aws.bucket, key), timeout=120)
    assert status == "error", body
    aws.sns.create_topic(Name="flowguard-later")
    invoke_ok(fn, L.s3_notification(aws.bucket, key))
    invoke_ok(fn, L.s3_notification(aws.bucket, key))  # a duplicate delivery
    # Another object with the same exposure, a minute later: not due again.
    other = L.aws_key("20250626T1825Z", "feedbee2")
    aws.put(other, L.gz(L.flowlog_text(exposure_lines(2))))
    invoke_ok(fn, L.s3_notification(aws.bucket, other))
    sent = [f for m in notified(aws, later) for f in m]
    assert [f["subject"] for f in sent] == ["10.0.0.5:22/tcp"], sent
    rows = all_findings(aws)
    assert sorted(r["occurrences"] for r in rows) == [1, 2], rows


def test_store_requests_per_object_stay_bounded(aws: Aws, start_lambda: Any) -> None:
    create_table(aws)
    rnd = random.Random(11)

    def public(i: int) -> str:
        return f"{11 + i % 200}.{(i // 200) % 250}.{rnd.randrange(1, 250)}.{1 + i % 250}"

    # 5,000 internet sources probing once, and one exposed service.
    one_probe = [L.flow(public(i), f"10.0.1.{10 + i % 40}", 40000 + i % 20000, rnd.choice((23, 445, 8080, 22)),
                        packets=1, nbytes=44, action="REJECT", start=L.T0 + i % 300) for i in range(5000)]
    one_probe.append(L.flow("198.51.100.7", "10.0.0.5", 40000, 22, start=L.T0))
    # 3,000 sources making 2 SSH attempts each: every one reaches the
    # per-object share of the brute-force threshold (2 of 20 an hour).
    sources = [public(i) for i in range(3000)]
    two_tries = [L.flow(src, "10.0.0.5", 40000 + k, 22, packets=1, nbytes=44, action="REJECT",
                        start=L.T0 + i % 300) for i, src in enumerate(sources) for k in range(2)]
    keys = [L.aws_key("20250626T1820Z", "0e0e0e01"), L.aws_key("20250626T1825Z", "0e0e0e02")]
    aws.put(keys[0], L.gz(L.flowlog_text(one_probe)))
    aws.put(keys[1], L.gz(L.flowlog_text(two_tries)))
    fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE)
    for key in keys:
        invoke_ok(fn, L.s3_notification(aws.bucket, key))
    requests = state_requests(fn, len(keys))
    # One batch read, one write for the exposed service, one to confirm
    # its notification.
    assert requests[0] == 3, requests
    # One batch read per 100 keys and max_state_updates (100) writes; the
    # rest is named in limits_hit.
    assert requests[1] == 101, requests
    files = L.read_ndjson_gz(aws.s3, aws.bucket, L.summary_key(keys[1], "files"))[0]
    assert "state:admin-port-brute-force" in files["limits_hit"], files["limits_hit"]
    print(f"state requests per object: 5,000 one-probe sources: {requests[0]}; "
          f"3,000 sources at the brute-force share: {requests[1]}")
