"""Our own hosts as attackers (SPEC section 9) through the real Lambda
binary, with S3, SNS and DynamoDB served by moto.

The scenario is `flowguard generate --objects 288 --outbound --format v5`: a
day of five-minute objects from two accounts in which one instance sweeps
port 22 of the internet, one brute-forces a remote SSH server, one floods a
victim, one beacons every minute, one uploads 2.4 GB and one mines on a
Stratum pool, each spread so that no single object crosses a threshold.
Beside them: a crawler completing connections to thousands of hosts (the
NAT-like look-alike), a job retrying one dead host, a backup to S3, a SaaS
endpoint every host polls, and the beacon's and uploader's addresses reused
in the other account with little activity.

Delivered late (every seventh object an hour after its time), out of order
and with duplicates, in SQS batches of ten as the production path would,
the function notifies each of the six once, under one finding id, with the
right account and the instance the v5 records name, and nothing for the
look-alikes.
"""

from __future__ import annotations

import json
import random
import subprocess
from typing import Any

import pytest

import e2e_lib as L
from conftest import Aws
from test_correlation import TABLE, all_findings, create_table, notified
from test_lambda import invoke_ok

OBJECTS = 288
RECORDS = 300
QUIET_HOSTS = ("10.1.7.10", "10.1.8.20", "10.1.9.30") + tuple(f"10.1.10.{h}" for h in range(1, 7))


@pytest.fixture(scope="module")
def day(flowguard_bin: str, tmp_path_factory: Any) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("day")
    manifest = root / "manifest.json"
    res = subprocess.run([flowguard_bin, "generate", "--objects", str(OBJECTS), "--records", str(RECORDS),
                          "--seed", "5", "--format", "v5", "--outbound", "--output", str(root / "in"),
                          "--manifest", str(manifest)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    files = sorted((root / "in").glob("AWSLogs/**/*.log.gz"))
    assert len(files) == 2 * OBJECTS
    # Time order: the delivery stamp in the name, then the account.
    keys = sorted((f.relative_to(root / "in").as_posix() for f in files),
                  key=lambda k: (k.rsplit("_", 2)[-2], k))
    return {"files": {f.relative_to(root / "in").as_posix(): f for f in files}, "keys": keys,
            "expected": {(e["rule"], e["subject"]) for e in json.loads(manifest.read_text())["expected"]}}


def late_and_shuffled(keys: list[str]) -> list[str]:
    """Every seventh object an hour (12 objects of each account) late, the
    rest shuffled within a few minutes, and 15 objects delivered twice."""
    rnd = random.Random(11)
    order = [(i + (24 if i % 7 == 0 else rnd.uniform(0, 3)), k) for i, k in enumerate(keys)]
    order.sort()
    out = [k for _, k in order]
    for k in rnd.sample(keys, 15):
        out.insert(rnd.randrange(len(out)), k)
    return out


def sqs_batches(aws: Aws, keys: list[str], size: int = 10) -> list[dict[str, Any]]:
    records = [L.sqs_record(f"m-{i}", json.dumps(L.s3_notification(aws.bucket, k))) for i, k in enumerate(keys)]
    return [{"Records": records[i:i + size]} for i in range(0, len(records), size)]


def test_a_day_of_outbound_attacks_late_out_of_order_and_twice(aws: Aws, start_lambda: Any,
                                                               day: dict[str, Any]) -> None:
    create_table(aws)
    for key, path in day["files"].items():
        aws.put(key, path.read_bytes())
    fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE, FLOWGUARD_MIN_SEVERITY="low")
    order = late_and_shuffled(day["keys"])
    assert order != day["keys"]
    for event in sqs_batches(aws, order):
        body = invoke_ok(fn, event, timeout=300)
        assert body == {"batchItemFailures": []}, body

    messages = notified(aws)
    sent = [f for m in messages for f in m]
    got = sorted((f["rule"], f["subject"]) for f in sent)
    assert got == sorted(day["expected"]), "each of the six notified once, nothing else"

    rows = all_findings(aws)
    ids: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        ids.setdefault((r["rule"], r["subject"]), set()).add(r["finding_id"])
        assert r["src_addr"] not in QUIET_HOSTS, f"a look-alike made a finding: {r['rule']} {r['subject']}"
    assert set(ids) == day["expected"], sorted(set(ids) ^ day["expected"])
    assert all(len(v) == 1 for v in ids.values()), ids
    assert {f["finding_id"] for f in sent} == {next(iter(v)) for v in ids.values()}

    by_rule = {f["rule"]: f for f in sent}
    # The account of each host, from its records (the same private address
    # in the other account is another host).
    assert by_rule["large-upload"]["account"] == "210987654321"
    assert by_rule["instance-dos"]["account"] == "210987654321"
    assert by_rule["beaconing"]["account"] == L.ACCOUNT
    # The instance the v5 records name, its VPC and subnet; direction.
    for f in sent:
        assert f["direction"] == "outbound", f
        assert len(f["instance_ids"]) == 1 and f["instance_ids"][0].startswith("i-0abc"), f
        assert f["vpc_ids"] == ["vpc-0f1e2d3c4b5a69788"], f
        assert f["subnet_ids"] and f["subnet_ids"][0].startswith("subnet-0a1b2c3d"), f
    assert by_rule["beaconing"]["window_flows"] >= 10
    assert by_rule["large-upload"]["bytes"] >= 1 << 30
    # Every object's summaries were written, the duplicates over themselves.
    assert len(aws.keys(L.PREFIX + "files/")) == 2 * OBJECTS
    print(f"day: {len(order)} deliveries, {len(messages)} messages, {len(rows)} finding rows")
