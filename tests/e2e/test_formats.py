"""The other shapes AWS delivers, through the real `flowguard-lambda`
against moto (SPEC section 1): a Parquet object of more than 50 MB read by
ranged GETs in bounded memory, and a CloudWatch Logs subscription export
delivered by Firehose.

Run:  scripts/with-moto .venv/bin/pytest -q tests/e2e/test_formats.py -s
(-s prints the measured peak RSS and the request counts)
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
from typing import Any

import pytest

import e2e_lib as L
from conftest import Aws
from faultproxy import FaultProxy

sys.path.insert(0, os.path.join(L.REPO, "tests", "formats"))
import shapes  # noqa: E402

# 4.3M generated records: a Parquet object of 52 to 56 MB (Gzip), as large
# as AWS's larger objects (up to 75 MB).
RECORDS = 4_300_000
PEAK_RSS_LIMIT_MIB = 100.0
# The row group of parquet-mr's default 128 MB block holds about a million
# flow records (108 bytes each as text). (A file whose whole object is one
# row group written as one page per column, as DuckDB writes it, needs one
# decompressed page per column at once: 124 MiB in the CLI for this object;
# see the README.)
REALISTIC_ROW_GROUP = 1_000_000

KEY = ("AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/"
       "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_{}.log.parquet")


def invoke_ok(fn: Any, event: Any, timeout: float = 600) -> Any:
    status, body = fn.invoke(event, timeout=timeout)
    assert status == "ok", f"invocation error: {json.dumps(body)[:2000]}\n{fn.output_tail()}"
    return body


def files_row(aws: Aws, key: str) -> dict[str, Any]:
    rows = L.read_ndjson_gz(aws.s3, aws.bucket, L.summary_key(key, "files"))
    assert len(rows) == 1, rows
    return rows[0]


def test_parquet_object_over_50mb_read_by_ranges_in_bounded_memory(
        flowguard_bin: str, tmp_path: Any, aws: Aws, start_lambda: Any) -> None:
    """4.3M generated records as a 55 MB Parquet object in row groups of a
    million records (12.6 MB each, above the 8 MiB the function reads at
    once, so each column chunk is read through its own window): read by
    ranged GETs, with the peak RSS of the whole process at most 100 MiB."""
    text = str(tmp_path / "flows.log")
    L.generate_flowlog(flowguard_bin, RECORDS, 21, text)
    path = str(tmp_path / "flows.parquet")
    shapes.text_file_to_parquet(text, path, row_group_size=REALISTIC_ROW_GROUP)
    os.unlink(text)  # 460 MB of text: only the Parquet file is needed now
    size = os.path.getsize(path)
    groups = shapes.row_groups(path)
    assert size >= 50 * 1000 * 1000, f"{path}: {size} bytes, the test needs at least 50 MB"
    assert sum(r for r, _ in groups) == RECORDS and len(groups) == 5, groups
    key = KEY.format("4300000")
    with open(path, "rb") as f:
        aws.put(key, f.read())
    # Through a proxy that records every request the function makes to S3.
    with FaultProxy(aws.endpoint, lifetime=900) as proxy:
        with start_lambda(AWS_ENDPOINT_URL=proxy.endpoint) as fn:
            body = invoke_ok(fn, L.s3_notification(aws.bucket, key, size=size))
            peak_kib = fn.peak_rss_kb()
        requests = [r for r in proxy.requests if r[0] == "GET" and "parquet" in r[1]]
    entry = {p["key"]: p for p in body["processed"]}[key]
    assert entry["records"] == RECORDS and entry["malformed"] == 0, entry
    row = files_row(aws, key)
    assert row["records"] == row["ok"] + row["nodata"] + row["skipdata"] == RECORDS, row
    assert row["fields"] == shapes.V2_FIELDS, row["fields"]
    assert row["findings"] > 0 and row["limits_hit"] == [], row
    # The whole object was read once, by ranges: the first GET (whose body
    # is dropped after its first bytes), then 206 Partial Content answers.
    statuses = [s for _, _, s in requests]
    assert statuses[0] == 200 and statuses[1:] and set(statuses[1:]) == {206}, statuses
    # Every column is used, so nearly every byte is read, and none twice
    # (what is left is the footer's page indexes and statistics).
    assert size * 0.95 <= row["compressed_bytes"] <= size, (row["compressed_bytes"], size)
    peak_mib = peak_kib / 1024
    print(f"\n{size / 1e6:.1f} MB Parquet, {len(groups)} row groups of "
          f"{', '.join(f'{r} rows/{b / 1e6:.1f} MB' for r, b in groups)}; "
          f"{len(statuses) - 1} ranged GETs; peak RSS {peak_mib:.1f} MiB")
    assert peak_mib <= PEAK_RSS_LIMIT_MIB, f"peak RSS {peak_mib:.1f} MiB reading a {size / 1e6:.0f} MB object"
    # The footer, then at least one read per column chunk (14 columns) and
    # at most a few: never the object in one piece.
    assert 1 + 14 * len(groups) <= len(statuses) - 1 <= 1 + 3 * 14 * len(groups), len(statuses)


def test_cloudwatch_logs_export_from_firehose(aws: Aws, start_lambda: Any) -> None:
    """A Firehose object of CloudWatch Logs subscription documents (each a
    gzip member), with a CONTROL_MESSAGE first: the SSH brute force in it is
    found and published; the owner names the account."""
    lines = L.brute_force_lines(25) + L.benign_lines(10)
    text = "\n".join(lines).encode()
    body = shapes.to_cwl_export(text, owner="210987654321", per_document=7)
    key = "firehose/vpc-flow-logs/2025/06/26/18/flowlogs-stream-1-2025-06-26-18-20-00-5f3c2a1b"
    aws.put(key, body)
    with start_lambda() as fn:
        answer = invoke_ok(fn, L.s3_notification(aws.bucket, key, size=len(body)))
    entry = {p["key"]: p for p in answer["processed"]}[key]
    assert entry["records"] == len(lines) and entry["ok"] == len(lines), entry
    assert entry["findings"] == 2 and entry["published"] is True, entry
    # No AWSLogs/ folders and no AWS file name: the account is the owner,
    # the region unknown, the hour from the earliest record.
    prefix = "flowguard/files/account=210987654321/region=unknown/dt=2025-06-26/hour=18/"
    files = [k for k in aws.keys(L.PREFIX) if k.startswith("flowguard/files/")]
    assert files == [prefix + key.rsplit("/", 1)[1] + ".json.gz"], files
    row = L.read_ndjson_gz(aws.s3, aws.bucket, files[0])[0]
    assert row["records"] == len(lines) and row["fields"] == shapes.V2_FIELDS, row
    assert row["uncompressed_bytes"] == len(gzip.decompress(body)), row
    published = aws.published()
    assert len(published) == 1 and re.match(r"^\[HIGH\] flowguard: 2 findings in 210987654321/unknown",
                                            published[0]["subject"]), published


def test_a_cut_export_fails_naming_the_object(aws: Aws, start_lambda: Any) -> None:
    text = "\n".join(L.brute_force_lines(25)).encode()
    docs = shapes.cwl_documents(text, per_document=5)
    whole = "".join(json.dumps(d, separators=(",", ":")) for d in docs)
    key = "firehose/vpc-flow-logs/2025/06/26/18/flowlogs-stream-1-2025-06-26-18-25-00-deadbeef"
    aws.put(key, gzip.compress(whole[: len(whole) - 40].encode(), mtime=0))
    with start_lambda() as fn:
        status, body = fn.invoke(L.s3_notification(aws.bucket, key), timeout=120)
    assert status == "error", body
    message = json.dumps(body)
    assert key in message and "cut short" in message, message
    assert [k for k in aws.keys(L.PREFIX) if "/_state/" not in k] == []
    assert aws.published() == []
