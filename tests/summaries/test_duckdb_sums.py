"""The summary tables, read the way Athena reads them.

Generates two flow-log objects with AWS-style keys, runs
`flowguard analyze --out DIR --format json` over them, then reads the
partitioned gzip NDJSON with DuckDB (hive partitioning, as Athena/Glue
would) and checks the sums against the engine's own `files` rows and an
independent recount of the generated text in Python.

Run from the repository root:

    FLOWGUARD_BIN=target/debug/flowguard .venv/bin/python -m pytest tests/summaries

FLOWGUARD_BIN defaults to target/debug/flowguard relative to the repository
root; build it first (`cargo build --no-default-features --bin flowguard`).
"""

import gzip
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"

# (seed, records, delivery stamp, dt, hour)
OBJECTS = [
    (3, 50_000, "20250626T1820Z", "2025-06-26", "18"),
    (4, 30_000, "20250626T1925Z", "2025-06-26", "19"),
]


def flowguard_bin() -> Path:
    path = Path(os.environ.get("FLOWGUARD_BIN", "target/debug/flowguard"))
    if not path.is_absolute():
        path = ROOT / path
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"flowguard binary not found at {path}: build it "
            "(cargo build --no-default-features --bin flowguard) or set FLOWGUARD_BIN",
            pytrace=False,
        )
    return path


def object_key(stamp: str, suffix: str) -> str:
    return (
        f"AWSLogs/{ACCOUNT}/vpcflowlogs/{REGION}/2025/06/26/"
        f"{ACCOUNT}_vpcflowlogs_{REGION}_fl-0a1b2c3d4e5f67890_{stamp}_{suffix}.log.gz"
    )


def recount(path: Path) -> dict:
    """Counts of a generated object, from its text alone."""
    c = {"records": 0, "ok": 0, "nodata": 0, "skipdata": 0, "port_flows": 0, "port_bytes": 0}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = fh.readline().split()
        idx = {name: i for i, name in enumerate(header)}
        for line in fh:
            cols = line.split()
            if not cols:
                continue
            c["records"] += 1
            status = cols[idx["log-status"]]
            if status == "NODATA":
                c["nodata"] += 1
            elif status == "SKIPDATA":
                c["skipdata"] += 1
            else:
                assert status == "OK", line
                c["ok"] += 1
                src, dst, dport = cols[idx["srcaddr"]], cols[idx["dstaddr"]], cols[idx["dstport"]]
                if "-" not in (src, dst, dport):
                    c["port_flows"] += 1
                    b = cols[idx["bytes"]]
                    c["port_bytes"] += 0 if b == "-" else int(b)
    return c


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    exe = flowguard_bin()
    tmp = tmp_path_factory.mktemp("duckdb")
    inputs = []
    for seed, records, stamp, _, _ in OBJECTS:
        path = tmp / "bucket" / object_key(stamp, f"seed{seed}")
        subprocess.run(
            [str(exe), "generate", "--records", str(records), "--seed", str(seed), "-o", str(path)],
            check=True,
            capture_output=True,
        )
        inputs.append(path)
    out = tmp / "out"
    proc = subprocess.run(
        [str(exe), "analyze", "--out", str(out), "--format", "json", *map(str, inputs)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    findings = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {"out": out, "inputs": inputs, "findings": findings, "raw": [recount(p) for p in inputs]}


def table(con, out: Path, name: str) -> str:
    glob = (out / "flowguard" / name / "**" / "*.json.gz").as_posix()
    return (
        f"read_json('{glob}', format='newline_delimited', hive_partitioning=true, "
        f"hive_types_autocast=false)"
    )


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


def test_files_sums_match_engine_and_raw_recount(run, con):
    files = table(con, run["out"], "files")
    rows = con.execute(
        f"select source, path, records, ok, nodata, skipdata, malformed from {files}"
    ).fetchall()
    assert len(rows) == 2
    by_source = {r[0]: r for r in rows}
    raw = run["raw"]
    # Each object: the engine's row equals the recount of its text.
    for (_, records, _, _, _), path, want in zip(OBJECTS, run["inputs"], raw):
        _, local_path, rec, ok, nodata, skipdata, malformed = by_source[str(path)]
        assert local_path == str(path)
        assert rec == want["records"] == records
        assert (ok, nodata, skipdata, malformed) == (want["ok"], want["nodata"], want["skipdata"], 0)
        assert rec == ok + nodata + skipdata + malformed
    total_records, total_ok = con.execute(f"select sum(records), sum(ok) from {files}").fetchone()
    assert total_records == sum(r["records"] for r in raw) == sum(o[1] for o in OBJECTS)
    assert total_ok == sum(r["ok"] for r in raw)


def test_ports_sums_match_raw_records(run, con):
    ports = table(con, run["out"], "ports")
    flows, byts = con.execute(f"select sum(flows), sum(bytes) from {ports}").fetchone()
    assert flows == sum(r["port_flows"] for r in run["raw"])
    assert byts == sum(r["port_bytes"] for r in run["raw"])
    # Per object too, via the source column.
    per = dict(con.execute(f"select source, sum(flows) from {ports} group by source").fetchall())
    assert per == {str(p): r["port_flows"] for p, r in zip(run["inputs"], run["raw"])}


def test_partition_columns(run, con):
    files = table(con, run["out"], "files")
    got = con.execute(
        f"select account, region, dt, hour, source from {files} order by hour"
    ).fetchall()
    want = [
        (ACCOUNT, REGION, dt, hour, str(p))
        for (_, _, _, dt, hour), p in zip(OBJECTS, run["inputs"])
    ]
    assert got == want
    # Every table of every object sits in the same partitions.
    for name in ("ports", "talkers", "admin", "services", "findings"):
        parts = con.execute(
            f"select distinct account, region, dt, hour from {table(con, run['out'], name)} order by hour"
        ).fetchall()
        assert parts == [(ACCOUNT, REGION, "2025-06-26", "18"), (ACCOUNT, REGION, "2025-06-26", "19")], name


def test_findings_table_matches_printed_json(run, con):
    """The findings table holds every finding of every object; the CLI
    prints each notification once (SPEC 6): the two objects carry the same
    attacks, so the second object's findings are ongoing, not notified."""
    findings = table(con, run["out"], "findings")
    (n,) = con.execute(f"select count(*) from {findings}").fetchone()
    (notified,) = con.execute(f"select count(*) from {findings} where notified").fetchone()
    assert notified == len(run["findings"])
    ids = [r[0] for r in con.execute(f"select finding_id from {findings}").fetchall()]
    assert set(ids) == {f["finding_id"] for f in run["findings"]}
    per_object = {}
    for hour, rule, subject, fid, occ in con.execute(
        f"select hour, rule, subject, finding_id, occurrences from {findings}"
    ).fetchall():
        per_object.setdefault(hour, {})[fid] = (rule, subject, occ)
    files = table(con, run["out"], "files")
    (total,) = con.execute(f"select sum(findings) from {files}").fetchone()
    assert total == n
    # The injected attacks of each object: 10 findings (a scan, a sweep,
    # brute force, rejected traffic, 4 exposed services, 2 interfaces with
    # skipped records). The second object has the same 10 under the same
    # ids (a finding id names its subject, not the object), seen twice, and
    # one more: the sweeper's 60 rejected flows in each object add up to
    # 120 within the hour, over the rejected-traffic threshold of 100.
    first, second = per_object["18"], per_object["19"]
    assert len(first) == 10 and all(occ == 1 for _, _, occ in first.values())
    assert set(first) < set(second) and len(second) == 11, second
    assert all(second[fid][2] == 2 for fid in first)
    (extra,) = set(second) - set(first)
    assert second[extra] == ("rejected-traffic", "198.51.100.200", 2)


def test_rejected_table_counts_equal_a_count_over_the_raw_records(run, con, tmp_path):
    """The `rejected` table (SPEC 3): per source, the top N by REJECTed
    flows. DuckDB counts the raw text of each object itself and the two
    must agree on every row the table holds: flows, packets, distinct
    ports and destinations (exact at these sizes), first start, last end;
    and the table holds the top N of that count (ties by address)."""
    rejected = table(con, run["out"], "rejected")
    got = con.execute(
        f"select source, address, flows, packets, distinct_ports, distinct_destinations, "
        f"first_start, last_end, rank from {rejected}"
    ).fetchall()
    assert got, "no rejected rows"
    for path in run["inputs"]:
        # The text as DuckDB reads it: space-separated, one header line.
        text = tmp_path / (path.name + ".txt")
        with gzip.open(path, "rt") as src, open(text, "w") as dst:
            dst.write(src.read())
        raw = f"read_csv('{text.as_posix()}', delim=' ', header=true, all_varchar=true)"
        want = con.execute(
            f"""select srcaddr, count(*) as flows, sum(cast(packets as bigint)),
                       count(distinct dstport), count(distinct dstaddr),
                       min(cast(start as bigint)), max(cast("end" as bigint))
                from {raw} where action = 'REJECT' and "log-status" = 'OK'
                group by srcaddr order by flows desc, srcaddr"""
        ).fetchall()
        rows = sorted(
            [r for r in got if r[0] == str(path)], key=lambda r: r[8]
        )
        assert len(rows) == min(100, len(want)), (len(rows), len(want))
        by_addr = {w[0]: w[1:] for w in want}
        for r in rows:
            assert tuple(r[2:8]) == tuple(by_addr[r[1]]), r
        # The top 100 by flows: no source left out has more flows than the
        # last one kept.
        kept = {r[1] for r in rows}
        floor = min(r[2] for r in rows)
        assert all(w[1] <= floor for w in want if w[0] not in kept)
