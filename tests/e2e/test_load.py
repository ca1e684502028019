"""Load: 1,000 small flow-log objects through 8 concurrent `flowguard-lambda`
processes (each with its own Runtime API), fed SQS batches of 10 S3
notifications by a thread pool. Every object must get exactly one `files`
row with the right record count, and exactly one SNS message when it has
findings (none otherwise); no batch item may fail.

Run:  scripts/with-moto .venv/bin/pytest -q -s tests/e2e/test_load.py   (-s prints timings)
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import json
import queue
import threading
import time
import uuid
from typing import Any

import e2e_lib as L
from conftest import Aws
from runtime_api import LambdaProcess
from test_lambda import source_key

OBJECTS = 1000
BATCH = 10          # S3 notifications per SQS event
INSTANCES = 8       # concurrent function processes
FINDINGS_EVERY = (0, 1, 2)  # n % 10 in this set: the object has findings (30%)


def has_findings(n: int) -> bool:
    return n % 10 in FINDINGS_EVERY


def object_lines(n: int) -> list[str]:
    """Findings: 25 ACCEPTed SSH flows from one internet address to 10.0.0.5
    (admin-port-exposed + admin-port-brute-force, both high) plus a little
    benign traffic. Otherwise: only benign internal HTTPS traffic. The
    number of lines varies with n, so record counts differ between objects."""
    lines = L.benign_lines(1 + n % 6)
    if has_findings(n):
        lines = L.brute_force_lines(25, src=f"198.51.100.{1 + n % 254}", dst="10.0.0.5") + lines[: n % 5]
    return lines


def load_key(run: str, n: int) -> str:
    return (f"AWSLogs/{L.ACCOUNT}/vpcflowlogs/{L.REGION}/2025/06/26/"
            f"{L.ACCOUNT}_vpcflowlogs_{L.REGION}_fl-load{run}_20250626T1820Z_{n:04d}.log.gz")


def drain_all(aws: Aws, queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue: long polls until two empty receives in a row."""
    got: list[dict[str, Any]] = []
    empty = 0
    while empty < 2:
        msgs = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
        if msgs:
            aws.sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
        got += msgs
        empty = 0 if msgs else empty + 1
    return got


def test_load_1000_objects_8_instances(aws: Aws, start_lambda: Any) -> None:
    timings: dict[str, float] = {}
    t_start = t = time.monotonic()
    run = uuid.uuid4().hex[:6]
    keys = [load_key(run, n) for n in range(OBJECTS)]
    records = {k: len(object_lines(n)) for n, k in enumerate(keys)}
    findings_keys = {k for n, k in enumerate(keys) if has_findings(n)}
    blobs = {k: L.gz(L.flowlog_text(object_lines(n))) for n, k in enumerate(keys)}
    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: aws.s3.put_object(Bucket=aws.bucket, Key=k, Body=blobs[k]), keys))
    timings["upload 1000 objects"] = time.monotonic() - t

    # 100 SQS events of 10 notifications, through 8 processes.
    t = time.monotonic()
    events: "queue.Queue[dict[str, Any]]" = queue.Queue()
    for i in range(0, OBJECTS, BATCH):
        events.put(L.event_for("sqs", aws.bucket, keys[i:i + BATCH]))
    n_events = events.qsize()
    fns: list[LambdaProcess] = [start_lambda() for _ in range(INSTANCES)]
    timings["start 8 processes"] = time.monotonic() - t

    t = time.monotonic()
    answers: list[tuple[int, dict[str, Any], str, Any, float]] = []
    lock = threading.Lock()

    def worker(idx: int) -> None:
        fn = fns[idx]
        while True:
            try:
                ev = events.get_nowait()
            except queue.Empty:
                return
            t0 = time.monotonic()
            status, body = fn.invoke(ev, timeout=180)
            with lock:
                answers.append((idx, ev, status, body, time.monotonic() - t0))

    with cf.ThreadPoolExecutor(INSTANCES) as pool:
        for f in [pool.submit(worker, i) for i in range(INSTANCES)]:
            f.result()
    timings["process 100 events"] = time.monotonic() - t

    assert len(answers) == n_events == OBJECTS // BATCH
    bad = [(idx, status, body) for idx, _, status, body, _ in answers
           if status != "ok" or body != {"batchItemFailures": []}]
    assert not bad, f"{len(bad)} invocations failed or reported batchItemFailures, e.g. {bad[:3]}\n" \
                    + fns[bad[0][0]].output_tail(80)
    per_instance = collections.Counter(idx for idx, *_ in answers)
    assert len(per_instance) == INSTANCES, f"not every instance got work: {per_instance}"

    # Exactly one `files` row per object, with its record count.
    t = time.monotonic()
    files_keys = aws.keys(L.PREFIX + "files/")
    expected = {L.summary_key(k, "files"): k for k in keys}
    assert len(files_keys) == len(set(files_keys)) == OBJECTS, f"{len(files_keys)} files objects, expected {OBJECTS}"
    assert set(files_keys) == set(expected), \
        f"unexpected: {sorted(set(files_keys) - set(expected))[:5]}, missing: {sorted(set(expected) - set(files_keys))[:5]}"

    def read_files(fk: str) -> tuple[str, list[dict[str, Any]]]:
        return fk, L.read_ndjson_gz(aws.s3, aws.bucket, fk)

    with cf.ThreadPoolExecutor(16) as pool:
        rows = dict(pool.map(read_files, files_keys))
    for fk, rs in rows.items():
        k = expected[fk]
        assert len(rs) == 1, f"{fk}: {len(rs)} rows"
        r = rs[0]
        assert source_key(r.get("source")) == k or r.get("key") == k, r
        assert r["records"] == r["ok"] == records[k], f"{k}: records {r['records']}, ok {r['ok']}, expected {records[k]}"
        assert r["findings"] == (2 if k in findings_keys else 0), f"{k}: findings {r['findings']}"
    n_markers = len(aws.keys(L.PREFIX + "_state/"))
    assert n_markers == OBJECTS, f"{n_markers} completion markers, expected {OBJECTS}"
    timings["check 1000 files rows"] = time.monotonic() - t

    # Exactly one SNS message per object with findings, none for the others.
    t = time.monotonic()
    msgs = drain_all(aws, aws.findings_queue)
    timings["drain SNS->SQS queue"] = time.monotonic() - t
    by_key = collections.Counter(source_key(json.loads(json.loads(m["Body"])["Message"])["source"]) for m in msgs)
    dupes = {k: c for k, c in by_key.items() if c > 1}
    assert not dupes, f"{len(dupes)} objects published more than once, e.g. {list(dupes.items())[:3]}"
    missing = findings_keys - set(by_key)
    extra = set(by_key) - findings_keys
    assert not missing, f"{len(missing)} objects with findings published nothing, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} messages for objects without findings (or unknown), e.g. {sorted(extra)[:3]}"
    assert len(msgs) == len(findings_keys) == 300
    assert len(aws.published()) == 300, "moto's record of published messages disagrees with the queue"

    timings["total"] = time.monotonic() - t_start
    durations = sorted(d for *_, d in answers)
    print("\nload test timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
          + f"; per event p50 {durations[len(durations) // 2]:.2f} max {durations[-1]:.2f}"
          + f"; events per instance {sorted(per_instance.values())}")
