"""Hostile volume on the outbound state (issue 25), through the real Lambda
binary with DynamoDB on moto.

Two default-format (v2) objects an attacker inside the network could make:
one host opening connections to 1,000,000 distinct internet peers, and
100,000 hosts each trying one peer's SSH port three times. In both:

- the engine's peak RSS (the `flowguard` binary on the object) stays within
  the bench's bound, 64 MiB;
- the function (this test's debug build, with the AWS SDK, the S3 stream
  and the state store around the same engine) stays within 80 MiB; the
  release build's figure is the bench's Lambda row;
- the store requests of the object stay bounded as for section 7
  (`max_state_updates` plus a batch read and the claims);
- the bounded rules are named in the `files` row's `limits_hit`, and the
  log says in a person's words what was bounded and which key raises it.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tempfile
from typing import Any

import e2e_lib as L
from conftest import Aws
from test_correlation import TABLE, create_table, state_requests
from test_lambda import invoke_ok

RSS_BOUND_KIB = 64 * 1024
DEBUG_FUNCTION_RSS_BOUND_KIB = 80 * 1024
# SPEC 7: at most max_state_updates (100) subjects per object, plus the
# batch reads and claims of the object.
STATE_REQUESTS_BOUND = 110


def one_host_to_a_million_peers() -> list[str]:
    first = int(ipaddress.IPv4Address("23.0.0.1"))
    return [
        f"2 {L.ACCOUNT} {L.ENI} 10.0.0.5 {ipaddress.IPv4Address(first + i)} {40000 + i % 20000} 443 6 1 60 "
        f"{L.T0 + i % 240} {L.T0 + 60 + i % 240} ACCEPT OK"
        for i in range(1_000_000)
    ]


def many_hosts_one_peer_each() -> list[str]:
    out = []
    for i in range(100_000):
        src = ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.64.0.0")) + i)
        peer = ipaddress.IPv4Address(int(ipaddress.IPv4Address("45.0.0.0")) + i)
        for k in range(3):
            out.append(f"2 {L.ACCOUNT} {L.ENI} {src} {peer} {50000 + k} 22 6 2 120 {L.T0 + k} {L.T0 + 60} "
                       "ACCEPT OK")
    return out


def rows(aws: Aws, key: str, table: str) -> list[dict[str, Any]]:
    return L.read_ndjson_gz(aws.s3, aws.bucket, L.summary_key(key, table))


def files_row(aws: Aws, key: str) -> dict[str, Any]:
    (row,) = rows(aws, key, "files")
    return row


# Runs a command and prints its peak RSS. A child forked from this test
# process would start with the test's own resident pages (the objects are
# built in memory here) and report them; a fresh, small interpreter forks
# the engine instead.
_PEAK_RSS = ("import os, subprocess, sys\n"
             "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
             "_, status, usage = os.wait4(p.pid, 0)\n"
             "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n")


def engine_peak_rss_kib(flowguard_bin: str, blob: bytes) -> int:
    """Peak RSS of `flowguard analyze` on the object, in KiB."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "hostile.log.gz")
        with open(path, "wb") as f:
            f.write(blob)
        out = subprocess.run([sys.executable, "-c", _PEAK_RSS, flowguard_bin, "analyze", path],
                             capture_output=True, text=True, check=True)
        code, kib = out.stdout.split()
        assert int(code) in (0, 1), out.stderr
        return int(kib)


def run_hostile(aws: Aws, start_lambda: Any, flowguard_bin: str, key: str,
                lines: list[str]) -> tuple[dict[str, Any], Any]:
    blob = L.gz(L.flowlog_text(lines))
    engine_peak = engine_peak_rss_kib(flowguard_bin, blob)
    assert engine_peak <= RSS_BOUND_KIB, f"the engine's peak RSS {engine_peak} KiB is over {RSS_BOUND_KIB} KiB"
    aws.put(key, blob)
    create_table(aws)
    fn = start_lambda(FLOWGUARD_STATE_TABLE=TABLE)
    invoke_ok(fn, L.s3_notification(aws.bucket, key), timeout=600)
    (requests,) = state_requests(fn, 1)
    peak = fn.peak_rss_kb()
    row = files_row(aws, key)
    assert row["records"] == len(lines) and row["malformed"] == 0, row
    assert peak is not None and peak <= DEBUG_FUNCTION_RSS_BOUND_KIB, \
        f"the function's peak RSS {peak} KiB is over {DEBUG_FUNCTION_RSS_BOUND_KIB} KiB"
    assert requests <= STATE_REQUESTS_BOUND, f"{requests} state requests for one object"
    print(f"\n{key.rsplit('_', 1)[-1]}: {len(lines)} records, engine peak RSS {engine_peak / 1024:.1f} MiB, "
          f"function (debug) {peak / 1024:.1f} MiB, "
          f"{requests} state requests, limits_hit {row['limits_hit']}")
    return row, fn


def bound_notes(fn: Any) -> list[str]:
    return [j["fields"]["message"] for j in fn.json_logs(stderr_only=True)
            if j.get("fields", {}).get("message", "").startswith("bound reached")]


def test_one_host_contacting_a_million_peers(aws: Aws, start_lambda: Any, flowguard_bin: str) -> None:
    key = L.aws_key("20250626T1820Z", "f00d0001")
    row, fn = run_hostile(aws, start_lambda, flowguard_bin, key, one_host_to_a_million_peers())
    limits = row["limits_hit"]
    # The pairs the outbound rules follow per object reach max_tracked.
    assert any(x.startswith("rule:") for x in limits), limits
    notes = bound_notes(fn)
    assert len(notes) == len(limits), (notes, limits)
    assert all("raise" in n or "raises" in n for n in notes), notes
    # The one host is still found: it scanned out.
    found = rows(aws, key, "findings")
    scans = [r for r in found if r["rule"] == "instance-port-scan"]
    assert [r["src_addr"] for r in scans] == ["10.0.0.5"], [(r["rule"], r["subject"]) for r in found]
    assert scans[0]["distinct_dst_addrs"] > 900_000, scans[0]["distinct_dst_addrs"]


def test_a_hundred_thousand_hosts_each_contacting_one_peer(aws: Aws, start_lambda: Any,
                                                          flowguard_bin: str) -> None:
    key = L.aws_key("20250626T1825Z", "f00d0002")
    row, fn = run_hostile(aws, start_lambda, flowguard_bin, key, many_hosts_one_peer_each())
    limits = row["limits_hit"]
    assert "state:instance-brute-force" in limits or "rule:instance-brute-force" in limits, limits
    notes = bound_notes(fn)
    assert len(notes) == len(limits), (notes, limits)
    assert any("instance-brute-force" in n for n in notes), notes
