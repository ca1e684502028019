"""One finding per exposed service, with true distinct counts.

Generates a 1,000,000-record object with eight services open to thousands
of internet addresses beside the usual injected attacks
(`flowguard generate --exposed 8`), analyses it with the real CLI, and
checks, with DuckDB reading both the summaries (hive partitions, as Athena
would) and the raw flow-log text:

- the findings are exactly the generator's manifest: one per exposed
  service, one per attacker, nothing for the internet noise;
- each exposure finding's `distinct_src_addrs` is within 5 % of DuckDB's
  exact `count(DISTINCT srcaddr)` over the same file, and its `flows` and
  `bytes` are exact.
"""

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from test_duckdb_sums import ACCOUNT, REGION, flowguard_bin, object_key

RECORDS = 1_000_000

V2 = [
    ("version", "INTEGER"), ("account_id", "VARCHAR"), ("interface_id", "VARCHAR"),
    ("srcaddr", "VARCHAR"), ("dstaddr", "VARCHAR"), ("srcport", "INTEGER"),
    ("dstport", "INTEGER"), ("protocol", "INTEGER"), ("packets", "BIGINT"),
    ("bytes", "BIGINT"), ("start", "BIGINT"), ("end", "BIGINT"), ("action", "VARCHAR"),
    ("log_status", "VARCHAR"),
]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exposed")
    log = tmp / "in" / object_key("20250626T1820Z", "e8b0c0de")
    log.parent.mkdir(parents=True)
    manifest = tmp / "manifest.json"
    fg = flowguard_bin()
    subprocess.run(
        [fg, "generate", "--records", str(RECORDS), "--seed", "11", "--exposed", "8",
         "--output", log, "--manifest", manifest],
        check=True, capture_output=True, timeout=600,
    )
    out = tmp / "out"
    res = subprocess.run(
        [fg, "analyze", "--format", "json", "--out", out, log],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr
    printed = [json.loads(line) for line in res.stdout.splitlines()]
    return log, json.loads(manifest.read_text()), out, printed


def test_findings_are_the_manifest(analysed):
    _, manifest, out, printed = analysed
    want = sorted((e["rule"], e["subject"]) for e in manifest["expected"])
    got = sorted((f["rule"], f["subject"]) for f in printed)
    assert got == want
    assert len({f["finding_id"] for f in printed}) == len(printed)
    con = duckdb.connect()
    rows = con.execute(
        "SELECT rule, subject FROM read_json_auto(?, hive_partitioning = true) "
        "WHERE account = ? AND region = ? ORDER BY rule, subject",
        [str(out / "flowguard/findings/**/*.json.gz"), ACCOUNT, REGION],
    ).fetchall()
    assert sorted(rows) == want


def test_distinct_sources_match_an_exact_count(analysed):
    log, _, out, _ = analysed
    con = duckdb.connect()
    cols = ", ".join(f"'{n}': '{t}'" for n, t in V2)
    con.execute(
        f"CREATE TABLE flows AS SELECT * FROM read_csv(?, delim = ' ', header = true, "
        f"compression = 'gzip', nullstr = '-', auto_detect = false, columns = {{{cols}}})",
        [str(log)],
    )
    exact = {
        f"{dst}:{port}/tcp": (n, flows, nbytes)
        for dst, port, n, flows, nbytes in con.execute(
            "SELECT dstaddr, dstport, count(DISTINCT srcaddr), count(*), sum(bytes) FROM flows "
            "WHERE action = 'ACCEPT' AND dstaddr LIKE '10.0.4.%' GROUP BY dstaddr, dstport"
        ).fetchall()
    }
    assert len(exact) == 8
    found = con.execute(
        "SELECT subject, distinct_src_addrs, flows, bytes, len(src_addrs), src_addr "
        "FROM read_json_auto(?, hive_partitioning = true) "
        "WHERE rule IN ('admin-port-exposed', 'sensitive-port-exposed') "
        "AND subject LIKE '10.0.4.%'",
        [str(out / "flowguard/findings/**/*.json.gz")],
    ).fetchall()
    assert len(found) == 8, found
    for subject, distinct, flows, nbytes, listed, actor in found:
        n, want_flows, want_bytes = exact[subject]
        assert n >= 1000, f"{subject}: the scenario should reach thousands of sources ({n})"
        assert abs(distinct - n) <= 0.05 * n, f"{subject}: {distinct} vs exact {n}"
        assert (flows, nbytes) == (want_flows, want_bytes), subject
        assert listed == 10 and actor is None, subject
