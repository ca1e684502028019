#!/usr/bin/env python3
"""Benchmark `flowguard analyze` against `zcat` and DuckDB (one thread).

    make bench                                   # builds, then runs this with the defaults
    .venv/bin/python scripts/bench.py            # 1M and 5M records, 3 runs each -> BENCHMARKS.md
    .venv/bin/python scripts/bench.py --quick    # 1M records, 1 run -> bench-data/quick.md
    scripts/with-moto .venv/bin/python scripts/bench.py --lambda   # adds the Lambda path row
    .venv/bin/python scripts/bench.py --threat-list 250000   # adds flowguard with a 250k-entry threat list (1M)

What it measures, for each generated v2 object (cached in bench-data/, which
is gitignored; a sidecar .json records seed, records and sizes):

  flowguard  `flowguard analyze --format json --out TMPDIR FILE`, stdout to /dev/null
  zcat       `zcat FILE`, stdout to /dev/null: the floor of "read and inflate"
  duckdb     a child Python process: DuckDB with threads=1 reads the gzip file
             (read_csv, explicit types for the 14 v2 fields) into a table and
             answers the same three questions as flowguard's summaries
             (ports, top-100 talkers, SSH/RDP activity)
  flowguard (Parquet)
             `flowguard analyze` on the same records as Parquet (written once
             by DuckDB, as AWS's FileFormat=parquet: Gzip pages, INT32/INT64
             columns, row groups of a million records; cached beside the
             text object); with --lambda also the Lambda path on it

The tools run round-robin (flowguard, zcat, duckdb, flowguard, ...) so that
drift on the machine hits them alike. Wall time is time.perf_counter() around
the child; peak RSS and CPU time come from os.wait4() of that very child.
The input is read once before the runs so every tool starts from a warm page
cache. Stdlib only, plus duckdb (and boto3 for --lambda) from the venv.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DATA_DIR = os.path.join(REPO, "bench-data")
ACCOUNT = "123456789012"
REGION = "us-east-1"

# The goals of the performance issues.
GOAL_ZCAT_RATIO = 0.5      # flowguard wall <= 0.5 x zcat wall
GOAL_CPU_RATIO = 1.0       # flowguard CPU <= 1.0 x zcat CPU (goal beyond: 0.6)
GOAL_CPU_BEYOND = 0.6
GOAL_BASELINE = 0.05       # a feature keeps the figures within 5 % of the baseline binary
GOAL_THREAT_LIST = 0.15    # a 250,000-entry threat list adds at most 15 % CPU
GOAL_RSS_MIB = 64.0        # peak RSS <= 64 MiB
GOAL_FLAT_MIB = 8.0        # peak RSS at 1M and 5M within 8 MiB
GOAL_DUCKDB_SPEEDUP = 5.0  # >= 5x faster than DuckDB (one thread)
GOAL_PER_OBJECT_MS = 2.0   # <= 2 ms CPU per object beyond the same records as one object
PER_OBJECT_COUNT, PER_OBJECT_RECORDS = 96, 3_000

# The 14 fields of the default (v2) format, with DuckDB types.
V2_COLUMNS = [
    ("version", "INTEGER"), ("account_id", "VARCHAR"), ("interface_id", "VARCHAR"),
    ("srcaddr", "VARCHAR"), ("dstaddr", "VARCHAR"), ("srcport", "INTEGER"), ("dstport", "INTEGER"),
    ("protocol", "INTEGER"), ("packets", "BIGINT"), ("bytes", "BIGINT"), ("start", "BIGINT"),
    ("end", "BIGINT"), ("action", "VARCHAR"), ("log_status", "VARCHAR"),
]

# The same questions flowguard's summary tables answer (README "Summaries").
DUCKDB_QUERIES = {
    "ports": """
        SELECT dstport, protocol, action, count(*) AS flows, sum(packets) AS packets,
               sum(bytes) AS bytes, count(DISTINCT srcaddr) AS distinct_sources,
               count(DISTINCT dstaddr) AS distinct_destinations
        FROM flows WHERE log_status = 'OK'
        GROUP BY dstport, protocol, action""",
    "talkers": """
        SELECT address, sum(bytes_in) AS bytes_in, sum(bytes_out) AS bytes_out,
               sum(packets_in) AS packets_in, sum(packets_out) AS packets_out,
               sum(flows_in) AS flows_in, sum(flows_out) AS flows_out
        FROM (
            SELECT srcaddr AS address, 0 AS bytes_in, bytes AS bytes_out, 0 AS packets_in,
                   packets AS packets_out, 0 AS flows_in, 1 AS flows_out
            FROM flows WHERE log_status = 'OK'
            UNION ALL
            SELECT dstaddr, bytes, 0, packets, 0, 1, 0
            FROM flows WHERE log_status = 'OK')
        GROUP BY address
        ORDER BY sum(bytes_in) + sum(bytes_out) DESC, address
        LIMIT 100""",
    "admin": """
        SELECT srcaddr, dstaddr, dstport, protocol, action, count(*) AS flows,
               sum(packets) AS packets, sum(bytes) AS bytes, min(start) AS first_start,
               max("end") AS last_end
        FROM flows WHERE log_status = 'OK' AND dstport IN (22, 3389)
        GROUP BY srcaddr, dstaddr, dstport, protocol, action""",
}


def duckdb_load_sql(path: str) -> str:
    cols = ", ".join(f"'{n}': '{t}'" for n, t in V2_COLUMNS)
    lit = "'" + path.replace("'", "''") + "'"
    return (f"CREATE TABLE flows AS SELECT * FROM read_csv({lit}, delim = ' ', header = true, "
            f"compression = 'gzip', nullstr = '-', auto_detect = false, columns = {{{cols}}})")


# --- the DuckDB child process ------------------------------------------------------

def duckdb_child(path: str, threads: int, import_only: bool) -> int:
    """Runs in its own process (so its RSS is its own); prints a JSON line."""
    t0 = time.perf_counter()
    import duckdb  # noqa: PLC0415

    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(threads)}")
    t1 = time.perf_counter()
    out: dict[str, Any] = {"version": duckdb.__version__, "import_s": t1 - t0}
    if import_only:
        print(json.dumps(out))
        return 0
    con.execute(duckdb_load_sql(path))
    t2 = time.perf_counter()
    out["load_s"] = t2 - t1
    out["table_rows"] = con.execute("SELECT count(*) FROM flows").fetchone()[0]
    results = {}
    for name, sql in DUCKDB_QUERIES.items():
        q0 = time.perf_counter()
        rows = con.execute(sql).fetchall()
        results[name] = rows
        out[f"{name}_s"] = time.perf_counter() - q0
        out[f"{name}_rows"] = len(rows)
    out["query_s"] = time.perf_counter() - t2
    # A few totals for the cross-check against flowguard's summary tables.
    out["check"] = {
        "ports_rows": len(results["ports"]),
        "ports_flows": sum(r[3] for r in results["ports"]),
        "ports_bytes": sum(r[5] for r in results["ports"]),
        "ports_distinct_sources": sum(r[6] for r in results["ports"]),
        "ports_distinct_destinations": sum(r[7] for r in results["ports"]),
        "admin_rows": len(results["admin"]),
        "admin_flows": sum(r[5] for r in results["admin"]),
        "talkers_top": [r[0] for r in results["talkers"][:10]],
    }
    print(json.dumps(out))
    return 0


# --- measuring one child -----------------------------------------------------------

@dataclass
class Run:
    wall_s: float
    maxrss_kib: int
    cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)


GNU_TIME = "/usr/bin/time"


def run_measured(argv: list[str], *, stdout_path: str | None = None, env: dict[str, str] | None = None,
                 timeout: float = 1800) -> tuple[Run, str, str]:
    """Runs argv; returns its wall time, peak RSS and CPU time, its stdout
    (if stdout_path) and its stderr.

    Peak RSS: Linux carries the parent's RSS high-water mark into a child
    across fork/vfork + exec (exec_mmap() records the old mm's hiwater in
    the child's maxrss), so ru_maxrss of a child of this Python process
    would never be below this process's own RSS (~50 MiB with duckdb
    loaded). GNU time, a 2 MiB process, therefore sits between us and the
    tool and reports the tool's ru_maxrss (%M, from its own wait4). Without
    /usr/bin/time we fall back to os.wait4 here and say so in the notes.
    Wall time is perf_counter() around the whole child; CPU time is the
    user + system time from os.wait4 (GNU time's own share is negligible)."""
    with tempfile.TemporaryDirectory(prefix="flowguard-bench-m-") as tmp:
        rss_file = os.path.join(tmp, "rss")
        wrapped = ([GNU_TIME, "-f", "%M", "-o", rss_file] + argv) if os.access(GNU_TIME, os.X_OK) else argv
        err_path = os.path.join(tmp, "stderr")
        with open(err_path, "wb") as err, open(stdout_path or os.devnull, "wb") as out:
            t0 = time.perf_counter()
            proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
            deadline = t0 + timeout
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    raise TimeoutError(f"{shlex.join(argv)} ran longer than {timeout} s")
                time.sleep(0.001)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
        with open(err_path, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        maxrss = ru.ru_maxrss
        if wrapped is not argv:
            try:
                with open(rss_file) as f:
                    maxrss = int(f.read().strip().splitlines()[-1])
            except (OSError, ValueError, IndexError):
                raise RuntimeError(f"GNU time wrote no %M for {shlex.join(argv)}:\n{stderr[-2000:]}") from None
    stdout = ""
    if stdout_path:
        with open(stdout_path, encoding="utf-8", errors="replace") as f:
            stdout = f.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited with {proc.returncode}:\n{stderr[-4000:]}")
    return Run(wall, maxrss, ru.ru_utime + ru.ru_stime), stdout, stderr


# --- inputs ------------------------------------------------------------------------

@dataclass
class Input:
    records: int
    seed: int
    path: str
    gzip_bytes: int
    text_bytes: int
    parquet_path: str | None = None
    parquet_bytes: int = 0
    fmt: str = "v2"

    @property
    def label(self) -> str:
        return records_label(self.records) + ("" if self.fmt == "v2" else f" {self.fmt}")


def records_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def input_path(records: int, fmt: str = "v2") -> str:
    nn = records // 1_000_000 if records % 1_000_000 == 0 else records
    tag = "" if fmt == "v2" else f"-{fmt}"
    name = (f"{ACCOUNT}_vpcflowlogs_{REGION}_fl-0bench{nn:011d}_20250626T1820Z_{records}{tag}.log.gz")
    return os.path.join(DATA_DIR, "AWSLogs", ACCOUNT, "vpcflowlogs", REGION, "2025", "06", "26", name)


def measure_text(path: str) -> tuple[int, int]:
    """(uncompressed bytes, newline count) of a gzip file, streamed."""
    d = zlib.decompressobj(wbits=47)  # gzip, members handled below
    total = lines = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            while chunk:
                data = d.decompress(chunk)
                total += len(data)
                lines += data.count(b"\n")
                if d.eof:  # next gzip member
                    chunk = d.unused_data
                    d = zlib.decompressobj(wbits=47)
                else:
                    chunk = b""
    return total, lines


def ensure_input(flowguard: str, records: int, seed: int, shown_as: str | None = None,
                 fmt: str = "v2") -> Input:
    """The generated object of `records` records in format `fmt` (v2: the
    default 14 fields; v5: the 29 fields with flow-direction, instance-id,
    tcp-flags and pkt-dst-aws-service), generated once and cached."""
    path = input_path(records, fmt)
    sidecar = path + ".json"
    if os.path.exists(path) and os.path.exists(sidecar):
        with open(sidecar) as f:
            meta = json.load(f)
        if (meta.get("records") == records and meta.get("seed") == seed and meta.get("format", "v2") == fmt
                and meta.get("gzip_bytes") == os.path.getsize(path)):
            return Input(records, seed, path, meta["gzip_bytes"], meta["text_bytes"], fmt=fmt)
        print(f"bench: {sidecar} does not match (records/seed/size): regenerating", file=sys.stderr)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.log.gz"
    cmd = [flowguard, "generate", "--records", str(records), "--seed", str(seed), "--format", fmt,
           "--output", tmp]
    print(f"bench: generating {records_label(records)} records: {shlex.join(cmd)}", file=sys.stderr)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    text_bytes, newlines = measure_text(tmp)
    if newlines - 1 != records:
        raise RuntimeError(f"{tmp}: {newlines - 1} records after the header, expected {records}")
    os.replace(tmp, path)
    meta = {"records": records, "seed": seed, "format": fmt, "gzip_bytes": os.path.getsize(path),
            "text_bytes": text_bytes, "generator": shlex.join([shown_as or flowguard] + cmd[1:]).replace(tmp, path),
            "generated_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    with open(sidecar, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"bench: generated {path} in {time.perf_counter() - t0:.1f} s "
          f"({text_bytes / 1e6:.0f} MB text, {meta['gzip_bytes'] / 1e6:.0f} MB gzip)", file=sys.stderr)
    return Input(records, seed, path, meta["gzip_bytes"], text_bytes, fmt=fmt)


PARQUET_ROW_GROUP = 1_000_000


def ensure_parquet(inp: Input) -> None:
    """The same records as Parquet beside the text object (converted once,
    by DuckDB in a child process, with tests/formats/shapes.py)."""
    path = inp.path[: -len(".log.gz")] + ".log.parquet"
    sidecar = path + ".json"
    if os.path.exists(path) and os.path.exists(sidecar):
        with open(sidecar) as f:
            meta = json.load(f)
        if meta.get("from_gzip_bytes") == inp.gzip_bytes and meta.get("bytes") == os.path.getsize(path):
            inp.parquet_path, inp.parquet_bytes = path, meta["bytes"]
            return
    tmp = path + ".tmp"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import shapes; "
            "shapes.text_file_to_parquet(sys.argv[2], sys.argv[3], row_group_size=int(sys.argv[4]))")
    print(f"bench: converting {records_label(inp.records)} records to Parquet", file=sys.stderr)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, os.path.join(REPO, "tests", "formats"), inp.path, tmp,
                    str(PARQUET_ROW_GROUP)], check=True, stdin=subprocess.DEVNULL)
    os.replace(tmp, path)
    meta = {"records": inp.records, "from_gzip_bytes": inp.gzip_bytes, "bytes": os.path.getsize(path),
            "row_group_records": PARQUET_ROW_GROUP, "writer": "DuckDB (tests/formats/shapes.py), COMPRESSION gzip"}
    with open(sidecar, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"bench: wrote {path} in {time.perf_counter() - t0:.1f} s ({meta['bytes'] / 1e6:.0f} MB)",
          file=sys.stderr)
    inp.parquet_path, inp.parquet_bytes = path, meta["bytes"]


def warm_cache(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 22):
            pass


def loadavg() -> float:
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return float("nan")


# --- the tools ---------------------------------------------------------------------

def flowguard_argv(flowguard: str, out_dir: str, path: str) -> list[str]:
    return [flowguard, "analyze", "--format", "json", "--out", out_dir, path]


def zcat_argv(path: str) -> list[str]:
    return ["zcat", path]


def duckdb_argv(path: str, import_only: bool = False) -> list[str]:
    argv = [sys.executable, os.path.abspath(__file__), "--duckdb-child", path, "--duckdb-threads", "1"]
    return argv + (["--duckdb-import-only"] if import_only else [])


def read_flowguard_tables(out_dir: str) -> dict[str, Any]:
    """Totals of flowguard's ports/admin/talkers tables, for the cross-check."""
    def rows(table: str) -> list[dict[str, Any]]:
        found = []
        for root, _, files in os.walk(os.path.join(out_dir, "flowguard", table)):
            for name in files:
                if name.endswith(".json.gz"):
                    with gzip.open(os.path.join(root, name), "rt") as f:
                        found += [json.loads(ln) for ln in f if ln.strip()]
        return found
    ports, admin, talkers, files = rows("ports"), rows("admin"), rows("talkers"), rows("files")
    talkers.sort(key=lambda r: r.get("rank", 0))
    return {
        "ports_rows": len(ports), "ports_flows": sum(r["flows"] for r in ports),
        "ports_bytes": sum(r["bytes"] for r in ports),
        "ports_distinct_sources": sum(r.get("distinct_sources") or 0 for r in ports),
        "ports_distinct_destinations": sum(r.get("distinct_destinations") or 0 for r in ports),
        "admin_rows": len(admin), "admin_flows": sum(r["flows"] for r in admin),
        "talkers_top": [r["address"] for r in talkers[:10]],
        "records": files[0]["records"] if files else None,
        "limits_hit": files[0].get("limits_hit") if files else None,
    }


def cross_check(fg: dict[str, Any], db: dict[str, Any]) -> list[str]:
    notes = []
    for k in ("ports_rows", "ports_flows", "ports_bytes", "admin_rows", "admin_flows"):
        same = fg.get(k) == db.get(k)
        notes.append(f"{k}: flowguard {fg.get(k)} / duckdb {db.get(k)}{'' if same else '  <-- DIFFERS'}")
    for k in ("ports_distinct_sources", "ports_distinct_destinations"):
        f, d = fg.get(k), db.get(k)
        if f is not None and d:
            notes.append(f"{k} (summed over rows): flowguard {f} / duckdb {d} ({(f - d) / d * 100:+.2f}%)")
    a, b = fg.get("talkers_top") or [], db.get("talkers_top") or []
    notes.append(f"top-10 talkers in common: {len(set(a) & set(b))}/10"
                 + ("" if a[:1] == b[:1] else f"  <-- #1 differs ({a[:1]} vs {b[:1]})"))
    if fg.get("limits_hit"):
        # Plain names are summary tables; `rule:`, `findings:` and `state:`
        # cap a rule's tracking, its findings or its state writes.
        tables = [x for x in fg["limits_hit"] if ":" not in x]
        why = ("tables " + ", ".join(tables) + " are partial" if tables
               else "rule limits only; the tables compared above are complete")
        notes.append(f"flowguard limits_hit: {fg['limits_hit']} ({why})")
    return notes


# --- a threat list, for the cost of looking up every address ---------------------------

THREAT_LABELS = ["c2 beacon host", "scanner", "tor exit", "botnet node", "phishing host", "malware download",
                 "brute forcer", "spam source", "crypto miner pool", "proxy abuse"]


def _public_v4(rnd: Any) -> str:
    while True:
        a = rnd.getrandbits(32)
        o = a.to_bytes(4, "big")
        if (o[0] in (0, 10, 127) or o[0] >= 224 or (o[0] == 100 and 64 <= o[1] < 128)
                or (o[0] == 169 and o[1] == 254) or (o[0] == 172 and 16 <= o[1] < 32)
                or (o[0] == 192 and o[1] == 168)):
            continue
        return ".".join(str(b) for b in o)


def object_sources(path: str, want: int, scan: int = 200_000) -> list[str]:
    """Distinct internet source addresses of the first `scan` records, in
    order of appearance, at most `want`."""
    seen: dict[str, None] = {}
    with gzip.open(path, "rt") as f:
        next(f, None)  # header
        for i, line in enumerate(f):
            if i >= scan or len(seen) >= want:
                break
            parts = line.split()
            if len(parts) > 12 and parts[12] == "ACCEPT" and not parts[3].startswith(("10.", "-")):
                seen.setdefault(parts[3], None)
    return list(seen)


def ensure_threat_list(inp: Input, entries: int, seed: int) -> tuple[str, list[str]]:
    """A CSV threat list (`ip,label,severity`) of `entries` entries, cached in
    bench-data/: 20 internet sources of the object itself (so some of its
    records match, as a real feed would), then random public IPv4
    addresses (about 95 %), /24 networks (3 %) and IPv6 /48 networks (2 %),
    with ten labels. Returns its path and the addresses taken from the
    object."""
    import random  # noqa: PLC0415

    path = os.path.join(DATA_DIR, f"threat-list-{entries}-{seed}-{inp.records}.csv")
    picked = object_sources(inp.path, 2000)[::100][:20]
    if os.path.exists(path):
        return path, picked
    rnd = random.Random(seed)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("ip,label,severity\n")
        for a in picked:
            f.write(f"{a},c2 beacon host,high\n")
        for _ in range(entries - len(picked)):
            roll = rnd.random()
            label = THREAT_LABELS[rnd.randrange(len(THREAT_LABELS))]
            if roll < 0.95:
                f.write(f"{_public_v4(rnd)},{label},\n")
            elif roll < 0.98:
                net = _public_v4(rnd).rsplit(".", 1)[0]
                f.write(f"{net}.0/24,{label},medium\n")
            else:
                f.write(f"2001:db8:{rnd.getrandbits(16):x}:{rnd.getrandbits(16):x}::/64,{label},\n"
                        if rnd.random() < 0.5 else f"2a0{rnd.randrange(10)}:{rnd.getrandbits(16):x}::/48,{label},\n")
    os.replace(tmp, path)
    return path, picked


def threat_list_argv(flowguard: str, out_dir: str, path: str, config: str) -> list[str]:
    return [flowguard, "analyze", "--format", "json", "--config", config, "--out", out_dir, path]


def count_rule(out_dir: str, rule: str) -> int:
    n = 0
    for root, _, files in os.walk(os.path.join(out_dir, "flowguard", "findings")):
        for name in files:
            with gzip.open(os.path.join(root, name), "rt") as f:
                n += sum(1 for ln in f if ln.strip() and json.loads(ln)["rule"] == rule)
    return n


# --- the Lambda path ---------------------------------------------------------------

def lambda_runs(binary: str, inp: Input, runs: int, path: str | None = None) -> tuple[list[Run], list[str]]:
    """Uploads the object to moto, invokes the real binary through a local
    Runtime API, once per fresh process; wall time of the invocation and the
    process's VmHWM."""
    endpoint = os.environ.get("MOTO_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0] if endpoint else ""
    if host not in ("127.0.0.1", "localhost", "[::1]"):
        raise RuntimeError(f"refusing a non-loopback S3 endpoint {endpoint!r}")
    sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
    import boto3  # noqa: PLC0415
    from botocore.config import Config as BotoConfig  # noqa: PLC0415
    from runtime_api import LambdaProcess  # noqa: PLC0415

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    s3 = boto3.client("s3", config=BotoConfig(s3={"addressing_style": "path"}), **kw)
    bucket = "flowguard-bench"
    path = path or inp.path
    size = os.path.getsize(path)
    key = os.path.relpath(path, DATA_DIR)
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f)
    notes = [f"uploaded {size / 1e6:.0f} MB ({os.path.basename(path)}) to moto in "
             f"{time.perf_counter() - t0:.1f} s"]
    if path.endswith(".parquet"):
        # Parquet is read by ranged GETs: what one costs here, for reading
        # the wall time (moto copies the whole object for each request).
        t0 = time.perf_counter()
        for i in range(5):
            s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={i << 20}-{(i + 1 << 20) - 1}")["Body"].read()
        notes.append(f"a ranged GET of 1 MiB of this object from moto takes "
                     f"{(time.perf_counter() - t0) / 5 * 1000:.0f} ms (moto copies the whole object per request)")
    event = {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2025-06-26T18:25:03.114Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "flowguard-bench",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key, "size": size, "sequencer": "00685D8F1F6B1A2C3D"}},
    }]}
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FLOWGUARD_")}
    env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true", "RUST_LOG": "info"})
    out: list[Run] = []
    for i in range(runs):
        # Summaries and the completion marker of the previous run: without
        # this the function would acknowledge the object as already processed.
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="flowguard/"):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=o["Key"])
        with LambdaProcess(binary, env) as fn:
            t0 = time.perf_counter()
            status, payload = fn.invoke(event, timeout=1800)
            wall = time.perf_counter() - t0
            hwm = fn.peak_rss_kb() or 0
            cpu = _proc_cpu_s(fn.pid)
            if status != "ok":
                raise RuntimeError(f"Lambda invocation failed: {payload}\n{fn.output_tail()}")
            done = [o for o in _dicts(payload) if o.get("records") == inp.records]
            if not done:
                raise RuntimeError(f"the function did not process the object ({inp.records} records): "
                                   f"{json.dumps(payload)[:800]}")
        print(f"bench:   lambda run {i + 1}/{runs}: {wall:.2f} s, VmHWM {hwm / 1024:.1f} MiB", file=sys.stderr)
        out.append(Run(wall, hwm, cpu, {"payload": payload}))
    written = sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="flowguard/") for o in page.get("Contents", []))
    notes.append(f"the last run wrote {len(written)} objects under s3://{bucket}/flowguard/")
    return out, notes


def _dicts(x: Any) -> list[dict[str, Any]]:
    """Every dict inside a JSON value (the answer's shape may grow)."""
    if isinstance(x, dict):
        return [x] + [d for v in x.values() for d in _dicts(v)]
    if isinstance(x, list):
        return [d for v in x for d in _dicts(v)]
    return []


def _proc_cpu_s(pid: int | None) -> float:
    """utime + stime of a live process, from /proc (the Lambda process keeps running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


# --- reporting ---------------------------------------------------------------------

def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    duck = sh([sys.executable, "-c", "import duckdb; print(duckdb.__version__)"]) or "not importable"
    return {
        "CPU": cpu,
        "architecture": platform.machine(),
        "cores": f"{os.cpu_count()} logical (os.sched_getaffinity: {len(os.sched_getaffinity(0))})",
        "memory": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "rustc": sh(["rustc", "--version"]) or "unknown",
        "zcat": (sh(["zcat", "--version"]).splitlines() or ["unknown"])[0],
        "duckdb": duck,
        "python": platform.python_version(),
    }


def git_state() -> str:
    rev = sh(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = sh(["git", "status", "--porcelain"])
    return f"{rev} dirty" if dirty else rev


def binary_state(path: str) -> str:
    try:
        st = os.stat(path)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        built = _dt.datetime.fromtimestamp(st.st_mtime, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{os.path.relpath(path, REPO)} (built {built}, sha256 {h.hexdigest()[:12]})"
    except OSError:
        return f"{path} (missing)"


@dataclass
class Row:
    inp: Input
    tool: str
    runs: list[Run]

    @property
    def walls(self) -> list[float]:
        return [r.wall_s for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def peak_mib(self) -> float:
        return max(r.maxrss_kib for r in self.runs) / 1024

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)


def table(rows: list[Row]) -> str:
    head = ["input", "tool", "median s", "min s", "MB/s (text)", "records/s", "CPU s", "peak RSS MiB",
            "wall vs zcat", "CPU vs zcat"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    zcat = {r.inp.path: r for r in rows if r.tool == "zcat"}
    for r in rows:
        i = r.inp
        inp = f"{i.label} records, {i.text_bytes / 1e6:.0f} MB text, {i.gzip_bytes / 1e6:.0f} MB gzip"
        z = zcat.get(i.path)
        ratio = f"{r.median / z.median:.2f}" if z else "-"
        cpu_ratio = f"{r.cpu / z.cpu:.2f}" if z and z.cpu > 0 else "-"
        lines.append("| " + " | ".join([
            inp, r.tool, f"{r.median:.2f}", f"{min(r.walls):.2f}", f"{i.text_bytes / 1e6 / r.median:.0f}",
            f"{i.records / r.median / 1e6:.2f} M", f"{r.cpu:.2f}", f"{r.peak_mib:.1f}", ratio, cpu_ratio,
        ]) + " |")
    return "\n".join(lines)


def goals(rows: list[Row]) -> list[str]:
    def get(tool: str, records: int, fmt: str = "v2") -> Row | None:
        return next((r for r in rows if r.tool == tool and r.inp.records == records and r.inp.fmt == fmt), None)

    fg_inputs = sorted({r.inp.records for r in rows if r.tool == "flowguard" and r.inp.fmt == "v2"})
    if not fg_inputs:
        return ["no flowguard runs: no goal evaluated"]
    big = 5_000_000 if 5_000_000 in fg_inputs else max(fg_inputs)
    note = "" if big == 5_000_000 else f" (measured at {records_label(big)}, the goal is stated at 5M)"
    out = []

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    fg, zc, db = get("flowguard", big), get("zcat", big), get("duckdb", big)
    ratio = fg.median / zc.median if zc else None
    out.append(f"- wall time <= {GOAL_ZCAT_RATIO} x zcat: "
               + (f"{mark(ratio <= GOAL_ZCAT_RATIO)}: {ratio:.2f} x ({fg.median:.2f} s vs {zc.median:.2f} s){note}"
                  if ratio is not None else "not measured"))
    if zc and zc.cpu > 0:
        cr = fg.cpu / zc.cpu
        out.append(f"- CPU <= {GOAL_CPU_RATIO} x zcat's CPU: {mark(cr <= GOAL_CPU_RATIO)}: {cr:.2f} x "
                   f"({fg.cpu:.2f} s vs {zc.cpu:.2f} s){note}; the goal beyond, {GOAL_CPU_BEYOND} x: "
                   f"{mark(cr <= GOAL_CPU_BEYOND)}")
    for inp_records in fg_inputs:
        cur, base = get("flowguard", inp_records), next(
            (r for r in rows if r.tool.startswith("baseline") and r.inp.records == inp_records
             and r.inp.fmt == "v2"), None)
        if cur and base:
            parts = []
            for name, a, b in (("wall", cur.median, base.median), ("CPU", cur.cpu, base.cpu),
                               ("peak RSS", cur.peak_mib, base.peak_mib)):
                change = a / b - 1 if b else 0.0
                parts.append(f"{name} {a:.2f} vs {b:.2f} ({change:+.1%}, {mark(change <= GOAL_BASELINE)})")
            out.append(f"- within {GOAL_BASELINE:.0%} of the {base.tool} at {records_label(inp_records)}: "
                       + "; ".join(parts))
    worst = max((r for r in rows if r.tool == "flowguard"), key=lambda r: r.peak_mib)
    out.append(f"- peak RSS <= {GOAL_RSS_MIB:.0f} MiB: {mark(worst.peak_mib <= GOAL_RSS_MIB)}: "
               f"max {worst.peak_mib:.1f} MiB (at {worst.inp.label})")
    a, b = get("flowguard", 1_000_000), get("flowguard", 5_000_000)
    if a and b:
        d = b.peak_mib - a.peak_mib
        out.append(f"- flat RSS, 1M vs 5M within {GOAL_FLAT_MIB:.0f} MiB: {mark(abs(d) <= GOAL_FLAT_MIB)}: "
                   f"{a.peak_mib:.1f} -> {b.peak_mib:.1f} MiB ({d:+.1f})")
    else:
        out.append(f"- flat RSS, 1M vs 5M within {GOAL_FLAT_MIB:.0f} MiB: not measured (needs both inputs)")
    if db:
        sp = db.median / fg.median
        out.append(f"- >= {GOAL_DUCKDB_SPEEDUP:.0f}x faster than DuckDB (1 thread): "
                   f"{mark(sp >= GOAL_DUCKDB_SPEEDUP)}: {sp:.1f}x ({fg.median:.2f} s vs {db.median:.2f} s){note}")
    else:
        out.append(f"- >= {GOAL_DUCKDB_SPEEDUP:.0f}x faster than DuckDB (1 thread): not measured (DuckDB skipped)")
    for tl in (r for r in rows if r.tool.startswith("flowguard + ")):
        plain = get("flowguard", tl.inp.records)
        if plain and plain.cpu > 0:
            cpu = tl.cpu / plain.cpu - 1
            wall = tl.median / plain.median - 1
            pairs = ", ".join(f"{a.cpu_s:.2f}/{b.cpu_s:.2f}" for a, b in zip(plain.runs, tl.runs))
            out.append(f"- {tl.tool.removeprefix('flowguard + ')} costs <= {GOAL_THREAT_LIST:.0%} CPU at "
                       f"{tl.inp.label}: {mark(cpu <= GOAL_THREAT_LIST)}: CPU {plain.cpu:.2f} -> {tl.cpu:.2f} s "
                       f"({cpu:+.1%}; medians; without/with per round: {pairs}), wall {plain.median:.2f} -> "
                       f"{tl.median:.2f} s ({wall:+.1%}), peak RSS {plain.peak_mib:.1f} -> {tl.peak_mib:.1f} MiB")
    for v5 in (r for r in rows if r.tool == "flowguard" and r.inp.fmt == "v5"):
        v2 = get("flowguard", v5.inp.records)
        zc5 = get("zcat", v5.inp.records, "v5")
        base5 = next((r for r in rows if r.tool.startswith("baseline") and r.inp.path == v5.inp.path), None)
        line = (f"- reported: the v5 object at {records_label(v5.inp.records)} ({v5.inp.text_bytes / 1e6:.0f} MB "
                f"text): wall {v5.median:.2f} s, CPU {v5.cpu:.2f} s, peak RSS {v5.peak_mib:.1f} MiB")
        if zc5 and zc5.cpu > 0:
            line += f", CPU {v5.cpu / zc5.cpu:.2f} x zcat's"
        if v2:
            line += f"; the v2 object of as many records: CPU {v2.cpu:.2f} s"
        if base5:
            line += (f"; {base5.tool}: wall {base5.median:.2f} s, CPU {base5.cpu:.2f} s "
                     f"({v5.cpu / base5.cpu - 1:+.1%} CPU)")
        out.append(line)
    lam = next((r for r in rows if r.tool.startswith("lambda")), None)
    if lam:
        out.append(f"- Lambda path (S3 stream from moto) peak RSS <= {GOAL_RSS_MIB:.0f} MiB: "
                   f"{mark(lam.peak_mib <= GOAL_RSS_MIB)}: {lam.peak_mib:.1f} MiB (VmHWM of the whole process)")
    return out


def markdown(rows: list[Row], goal_lines: list[str], args: argparse.Namespace, commands: list[str],
             notes: list[str], mach: dict[str, str], started: str, fg_state: str, loads: list[float]) -> str:
    raw = []
    for r in rows:
        raw.append(f"| {r.inp.label} | {r.tool} | " + ", ".join(f"{w:.2f}" for w in r.walls) + " | "
                   + ", ".join(f"{x.maxrss_kib / 1024:.1f}" for x in r.runs) + " |")
    inv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `scripts/bench.py{(' ' + inv) if inv else ''}` on {started} (`make bench` runs it with no arguments).",
        "",
        f"- flowguard commit: `{git_state()}`",
        f"- binary: `{fg_state}` (copied aside before the runs, so a rebuild cannot swap it mid-run)",
        *([f"- {args.describe}"] if args.describe else []),
        f"- runs per tool and input: {args.runs}, round-robin; the table shows the median and the minimum",
        f"- load average (1 min) sampled before the runs: min {min(loads):.2f}, max {max(loads):.2f} "
        f"on {os.cpu_count()} cores",
        "",
        table(rows),
        "",
        "MB = 10^6 bytes (sizes, MB/s of uncompressed text); RSS in MiB (2^20 bytes): the child's",
        "`ru_maxrss` as GNU time (`/usr/bin/time -f %M`) reports it (the Lambda row: `VmHWM`). CPU s = user + system",
        "time of the child (flowguard inflates and parses on two threads, so it can exceed its wall",
        "time). \"wall vs zcat\" = median wall / median wall of `zcat` on the same input; \"CPU vs zcat\" =",
        "median CPU s / median CPU s of `zcat` on the same input.",
        "",
        "## Goals",
        "",
        *goal_lines,
        "",
        "## Notes",
        "",
        *[f"- {n}" for n in notes],
        "",
        "## Every run (wall s; peak RSS MiB)",
        "",
        "| input | tool | wall s | peak RSS MiB |",
        "|---|---|---|---|",
        *raw,
        "",
        "## Commands",
        "",
        "```sh",
        *commands,
        "```",
        "",
        "DuckDB (in a child `python`, `SET threads = 1`, in-memory database; the load, then each query,",
        "all results fetched):",
        "",
        "```sql",
        duckdb_load_sql("FILE") + ";",
        *[q.strip().replace("\n        ", "\n") + ";" for q in DUCKDB_QUERIES.values()],
        "```",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in mach.items()],
        "",
    ]
    return "\n".join(parts)


# --- main --------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=lambda s: [int(x.replace("_", "")) for x in s.split(",")],
                    default=[1_000_000, 5_000_000], help="comma-separated record counts (default 1000000,5000000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and input (default 3)")
    ap.add_argument("--quick", action="store_true", help="1M records, 1 run (writes bench-data/quick.md)")
    ap.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    ap.add_argument("--flowguard", default=os.environ.get("FLOWGUARD_BIN")
                    or os.path.join(REPO, "target", "release", "flowguard"))
    ap.add_argument("--no-duckdb", action="store_true", help="skip DuckDB")
    ap.add_argument("--baseline", metavar="BIN", default=os.environ.get("FLOWGUARD_BASELINE_BIN"),
                    help="a flowguard binary to compare with, run round-robin with the others "
                         "(e.g. one built from the previous release)")
    ap.add_argument("--baseline-label", default="", help="what the baseline is (e.g. a commit)")
    ap.add_argument("--no-parquet", action="store_true",
                    help="skip the Parquet rows (the same records as Parquet)")
    ap.add_argument("--threat-list", type=int, default=0, metavar="ENTRIES",
                    help="also run flowguard with a generated threat list of ENTRIES entries "
                         "(make bench: 250000) on the --threat-list-records input, round-robin with the others")
    ap.add_argument("--threat-list-records", type=int, default=1_000_000)
    ap.add_argument("--lambda", dest="lambda_", action="store_true",
                    help="add the Lambda path row (needs MOTO_ENDPOINT: run under scripts/with-moto)")
    ap.add_argument("--lambda-bin", default=os.environ.get("FLOWGUARD_LAMBDA_BIN")
                    or os.path.join(REPO, "target", "release", "flowguard-lambda"))
    ap.add_argument("--lambda-records", type=int, default=5_000_000)
    ap.add_argument("--no-per-object", action="store_true",
                    help=f"skip the fixed cost per object ({PER_OBJECT_COUNT} objects of {PER_OBJECT_RECORDS:,} records)")
    ap.add_argument("--v5-records", type=int, default=1_000_000,
                    help="also a v5 object of this many records (flow-direction, instance-id, tcp-flags, "
                         "pkt-dst-aws-service), flowguard and zcat only; 0 for none (default 1M)")
    ap.add_argument("--markdown", help="where to write the report (default BENCHMARKS.md; "
                                       "bench-data/quick.md with --quick)")
    ap.add_argument("--describe", default="", help="a line about the binary for the report "
                                                     "(e.g. which commit it was built from)")
    ap.add_argument("--duckdb-child", metavar="FILE", help=argparse.SUPPRESS)
    ap.add_argument("--duckdb-threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--duckdb-import-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.duckdb_child:
        return duckdb_child(args.duckdb_child, args.duckdb_threads, args.duckdb_import_only)

    if args.quick:
        args.records, args.runs = [1_000_000], 1
    md_path = args.markdown or (os.path.join(DATA_DIR, "quick.md") if args.quick
                                else os.path.join(REPO, "BENCHMARKS.md"))
    flowguard = os.path.abspath(args.flowguard)
    if not os.access(flowguard, os.X_OK):
        print(f"bench: {flowguard} not found: build it with `cargo build --release --bin flowguard`",
              file=sys.stderr)
        return 2
    if not shutil.which("zcat"):
        print("bench: zcat not found", file=sys.stderr)
        return 2
    started = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    notes: list[str] = []
    if not os.access(GNU_TIME, os.X_OK):
        msg = (f"{GNU_TIME} (GNU time) not found: peak RSS is ru_maxrss from os.wait4 of a child of this "
               "Python process, which includes this process's own RSS at fork (apt-get install time)")
        print(f"bench: note: {msg}", file=sys.stderr)
        notes.append(msg)

    have_duckdb = False
    if not args.no_duckdb:
        # Checked in a child: importing duckdb here would only grow this process.
        if subprocess.run([sys.executable, "-c", "import duckdb"], capture_output=True).returncode == 0:
            have_duckdb = True
        else:
            msg = (f"DuckDB is not importable from {sys.executable}: DuckDB rows skipped "
                   "(`make venv` installs it)")
            print(f"bench: note: {msg}", file=sys.stderr)
            notes.append(msg)
    else:
        notes.append("DuckDB skipped (--no-duckdb)")

    # Run a private copy of the binary: a rebuild of target/release during
    # the runs (cargo replaces the file) must not mix two builds in one table.
    snap_dir = tempfile.mkdtemp(prefix="flowguard-bench-bin-")
    try:
        return measure_all(args, md_path, flowguard, snap_dir, started, notes, have_duckdb)
    finally:
        shutil.rmtree(snap_dir, ignore_errors=True)


def per_object_cost(tools: list[tuple[str, str]], seed: int, runs: int) -> tuple[list[str], list[str]]:
    """The fixed CPU cost of an object: 96 five-minute objects of about
    3,000 records (`generate --objects`) against the same records as one
    object, each tool round-robin; returns goal lines and notes."""
    base = os.path.join(DATA_DIR, f"objects-{PER_OBJECT_COUNT}-{PER_OBJECT_RECORDS}-{seed}")
    many, one = os.path.join(base, "many"), os.path.join(base, "one.log.gz")
    gen = tools[0][1]
    if not os.path.exists(one):
        shutil.rmtree(base, ignore_errors=True)
        subprocess.run([gen, "generate", "--objects", str(PER_OBJECT_COUNT), "--records",
                        str(PER_OBJECT_RECORDS), "--seed", str(seed), "--output", many],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(many) for f in fs if f.endswith(".log.gz"))
        with gzip.open(one + ".tmp", "wt") as out:
            for i, path in enumerate(files):
                with gzip.open(path, "rt") as f:
                    header = f.readline()
                    if i == 0:
                        out.write(header)
                    shutil.copyfileobj(f, out)
        os.replace(one + ".tmp", one)
    with gzip.open(one, "rt") as f:
        records = sum(1 for _ in f) - 1
    cpu: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _ in tools}
    for _ in range(max(runs, 5)):
        for name, binary in tools:
            for path, into in ((many, cpu[name][0]), (one, cpu[name][1])):
                out_dir = tempfile.mkdtemp(prefix="flowguard-bench-")
                try:
                    run, _, _ = run_measured([binary, "analyze", "--out", out_dir, path])
                finally:
                    shutil.rmtree(out_dir, ignore_errors=True)
                into.append(run.cpu_s)
    goal, notes = [], []
    for name, _ in tools:
        m, o = statistics.median(cpu[name][0]), statistics.median(cpu[name][1])
        extra_ms = (m - o) / PER_OBJECT_COUNT * 1000
        line = (f"{PER_OBJECT_COUNT} objects of about {PER_OBJECT_RECORDS:,} records ({records:,} in all, with "
                f"--out): {m:.3f} CPU-s, the same records as one object {o:.3f} CPU-s: {extra_ms:.2f} ms "
                "CPU extra per object (medians of "
                f"{len(cpu[name][0])} runs)")
        if name == "flowguard":
            goal.append(f"- <= {GOAL_PER_OBJECT_MS:.0f} ms CPU extra per object: "
                        f"{'met' if extra_ms <= GOAL_PER_OBJECT_MS else 'NOT met'}: {line}")
        else:
            notes.append(f"{name}: {line}")
    return goal, notes


def measure_all(args: argparse.Namespace, md_path: str, flowguard: str, snap_dir: str, started: str,
                notes: list[str], have_duckdb: bool) -> int:
    fg_state = binary_state(flowguard)
    fg_path = flowguard
    flowguard = os.path.join(snap_dir, "flowguard")
    shutil.copy2(fg_path, flowguard)
    inputs = [ensure_input(flowguard, n, args.seed, fg_path) for n in args.records]
    if args.v5_records:
        inputs.append(ensure_input(flowguard, args.v5_records, args.seed, fg_path, fmt="v5"))
    baseline_tool = None
    if args.baseline:
        baseline_bin = os.path.join(snap_dir, "flowguard-baseline")
        shutil.copy2(os.path.abspath(args.baseline), baseline_bin)
        baseline_tool = f"baseline {args.baseline_label}".strip()
        notes.append(f"baseline: `{binary_state(os.path.abspath(args.baseline))}`"
                     + (f" ({args.baseline_label})" if args.baseline_label else "")
                     + ", run round-robin with the others on the same inputs")
    rows: list[Row] = []
    commands: list[str] = []
    loads: list[float] = []
    for inp in inputs:
        warm_cache(inp.path)
        list_tool = None
        if args.threat_list and inp.records == args.threat_list_records and inp.fmt == "v2":
            list_path, picked = ensure_threat_list(inp, args.threat_list, args.seed)
            list_tool = f"flowguard + {records_label(args.threat_list)} threat list"
            list_config = os.path.join(snap_dir, "threat-list.toml")
            with open(list_config, "w") as f:
                f.write(f"threat_lists = [{json.dumps(list_path)}]\n")
            warm_cache(list_path)
            notes.append(f"{list_tool}: `{os.path.relpath(list_path, REPO)}` ({os.path.getsize(list_path) / 1e6:.1f} MB "
                         f"CSV, {args.threat_list} entries: {len(picked)} internet sources of the object itself, random "
                         "public IPv4 addresses, /24 networks and IPv6 networks), given as `threat_lists` in a "
                         "`--config` file; the same binary, round-robin with the run without a list")
            commands.append(shlex.join(threat_list_argv(os.path.relpath(fg_path, REPO), "OUT_DIR",
                                                         os.path.relpath(inp.path, REPO), "LIST.toml"))
                            + f"   # LIST.toml: threat_lists = [\"{os.path.relpath(list_path, REPO)}\"]")
        tools = (["flowguard"] + ([list_tool] if list_tool else []) + ([baseline_tool] if baseline_tool else [])
                 + ["zcat"] + (["duckdb"] if have_duckdb and inp.fmt == "v2" else []))
        if not args.no_parquet and inp.fmt == "v2":
            ensure_parquet(inp)
            warm_cache(inp.parquet_path)
            tools.append("flowguard (Parquet)")
            commands.append(shlex.join(flowguard_argv(os.path.relpath(fg_path, REPO), "OUT_DIR",
                                                      os.path.relpath(inp.parquet_path, REPO)))
                            + " > /dev/null   # the same records as Parquet")
        runs: dict[str, list[Run]] = {t: [] for t in tools}
        fg_tables = db_check = None
        rel = os.path.relpath(inp.path, REPO)
        commands += [f"# {inp.label} records",
                     shlex.join(flowguard_argv(os.path.relpath(fg_path, REPO), "OUT_DIR", rel)) + " > /dev/null",
                     shlex.join(zcat_argv(rel)) + " > /dev/null"]
        if have_duckdb:
            py = sys.executable if not sys.executable.startswith(REPO) else os.path.relpath(sys.executable, REPO)
            commands.append(shlex.join([py, "scripts/bench.py"] + duckdb_argv(rel)[2:])
                            + "   # the DuckDB child (SQL below)")
        for i in range(args.runs):
            for tool in tools:
                loads.append(loadavg())
                if tool == "flowguard":
                    out_dir = tempfile.mkdtemp(prefix="flowguard-bench-")
                    try:
                        run, _, _ = run_measured(flowguard_argv(flowguard, out_dir, inp.path))
                        if i == args.runs - 1:
                            fg_tables = read_flowguard_tables(out_dir)
                    finally:
                        shutil.rmtree(out_dir, ignore_errors=True)
                elif tool == list_tool:
                    out_dir = tempfile.mkdtemp(prefix="flowguard-bench-")
                    try:
                        run, _, _ = run_measured(threat_list_argv(flowguard, out_dir, inp.path, list_config))
                        if i == args.runs - 1:
                            notes.append(f"{list_tool} at {inp.label}: "
                                         f"{count_rule(out_dir, 'threat-intel-match')} threat-intel-match findings")
                    finally:
                        shutil.rmtree(out_dir, ignore_errors=True)
                elif tool == baseline_tool:
                    out_dir = tempfile.mkdtemp(prefix="flowguard-bench-")
                    try:
                        run, _, _ = run_measured(flowguard_argv(baseline_bin, out_dir, inp.path))
                    finally:
                        shutil.rmtree(out_dir, ignore_errors=True)
                elif tool == "flowguard (Parquet)":
                    out_dir = tempfile.mkdtemp(prefix="flowguard-bench-")
                    try:
                        run, _, _ = run_measured(flowguard_argv(flowguard, out_dir, inp.parquet_path))
                        if i == args.runs - 1:
                            pq_tables = read_flowguard_tables(out_dir)
                            same = "the same as" if pq_tables == fg_tables else "DIFFERENT from"
                            notes.append(f"Parquet at {inp.label}: {inp.parquet_bytes / 1e6:.0f} MB "
                                         f"(Gzip pages, row groups of {PARQUET_ROW_GROUP:,} records); "
                                         f"flowguard's tables from it are {same} those from the text"
                                         + ("" if pq_tables == fg_tables else f": {pq_tables} vs {fg_tables}"))
                    finally:
                        shutil.rmtree(out_dir, ignore_errors=True)
                elif tool == "zcat":
                    run, _, _ = run_measured(zcat_argv(inp.path))
                else:
                    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
                        out_path = tf.name
                    try:
                        run, stdout, _ = run_measured(duckdb_argv(inp.path), stdout_path=out_path)
                    finally:
                        os.unlink(out_path)
                    run.extra = json.loads(stdout.strip().splitlines()[-1])
                    db_check = run.extra.get("check")
                runs[tool].append(run)
                print(f"bench: {inp.label} run {i + 1}/{args.runs} {tool:9s} {run.wall_s:7.2f} s  "
                      f"{run.maxrss_kib / 1024:7.1f} MiB  cpu {run.cpu_s:6.2f} s", file=sys.stderr)
        rows += [Row(inp, t, runs[t]) for t in tools]
        if runs.get("duckdb"):  # not run on the v5 object
            ex = [r.extra for r in runs["duckdb"]]
            med = lambda k: statistics.median(e[k] for e in ex)  # noqa: E731
            notes.append(f"DuckDB at {inp.label} (inside the child, medians): import + connect "
                         f"{med('import_s'):.2f} s, read_csv into a table {med('load_s'):.2f} s, "
                         f"the three queries {med('query_s'):.2f} s "
                         f"(ports {med('ports_s'):.2f}, talkers {med('talkers_s'):.2f}, admin {med('admin_s'):.2f}); "
                         f"{ex[0]['table_rows']} rows loaded")
            if fg_tables and db_check:
                notes.append(f"cross-check at {inp.label}, flowguard's tables vs DuckDB's answers: "
                             + "; ".join(cross_check(fg_tables, db_check)))

    if have_duckdb:
        try:
            base, _, _ = run_measured(duckdb_argv("-", import_only=True))
            notes.append(f"the DuckDB child with no query (python + import duckdb + connect) takes "
                         f"{base.wall_s:.2f} s and {base.maxrss_kib / 1024:.1f} MiB peak RSS; "
                         "that is included in the DuckDB rows")
        except (RuntimeError, TimeoutError) as e:
            notes.append(f"DuckDB import-only baseline failed: {e}")

    if args.lambda_:
        binary = os.path.abspath(args.lambda_bin)
        if not os.access(binary, os.X_OK):
            msg = (f"Lambda path skipped: {os.path.relpath(binary, REPO)} not found "
                   "(build it with `cargo build --release --bins`)")
            print(f"bench: note: {msg}", file=sys.stderr)
            notes.append(msg)
        elif not (os.environ.get("MOTO_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")):
            msg = "Lambda path skipped: no MOTO_ENDPOINT/AWS_ENDPOINT_URL (run under scripts/with-moto)"
            print(f"bench: note: {msg}", file=sys.stderr)
            notes.append(msg)
        else:
            inp = next((i for i in inputs if i.records == args.lambda_records), None) \
                or ensure_input(flowguard, args.lambda_records, args.seed, fg_path)
            print(f"bench: Lambda path on {inp.label} records via moto", file=sys.stderr)
            lruns, lnotes = lambda_runs(binary, inp, args.runs)
            rows.append(Row(inp, "lambda (moto S3)", lruns))
            if not args.no_parquet:
                if not inp.parquet_path:
                    ensure_parquet(inp)
                pruns, pnotes = lambda_runs(binary, inp, args.runs, path=inp.parquet_path)
                rows.append(Row(inp, "lambda, Parquet (moto S3)", pruns))
                lnotes += [f"Parquet: {n}" for n in pnotes]
            rows.sort(key=lambda r: r.inp.records)  # keep the rows of one input together
            notes += [f"Lambda path: {n}" for n in lnotes]
            notes.append(f"Lambda path: `{binary_state(binary)}`, one fresh process per run, the wall "
                         "time is the invocation (event in -> answer out: S3 GET from moto on loopback, "
                         "analysis, summary PUTs); RSS is the process's VmHWM; CPU s is the process's "
                         "whole life (start-up included)")
            commands += ["# Lambda path", "scripts/with-moto .venv/bin/python scripts/bench.py --lambda"]

    if max(loads) > 0.5 * (os.cpu_count() or 1):
        notes.append(f"the machine was not idle: the 1-min load average reached {max(loads):.2f} before "
                     f"some run (on {os.cpu_count()} cores), so other work competed with the tools")
    for inp in inputs:
        by = {r.tool: r for r in rows if r.inp.path == inp.path}
        fg, zc, db = by.get("flowguard"), by.get("zcat"), by.get("duckdb")
        if fg and zc:
            line = (f"less load-sensitive views at {inp.label}: best run flowguard {min(fg.walls):.2f} s = "
                    f"{min(fg.walls) / min(zc.walls):.2f} x zcat's best ({min(zc.walls):.2f} s); CPU time "
                    f"flowguard {fg.cpu:.2f} s, zcat {zc.cpu:.2f} s")
            if db:
                line += (f", DuckDB {db.cpu:.2f} s; DuckDB's best {min(db.walls):.2f} s = "
                         f"{min(db.walls) / min(fg.walls):.1f} x flowguard's best")
            notes.append(line)
    goal_lines = goals(rows)
    if not args.no_per_object:
        tools = [("flowguard", flowguard)] + ([(baseline_tool, baseline_bin)] if baseline_tool else [])
        print("bench: the fixed cost per object", file=sys.stderr)
        more_goals, more_notes = per_object_cost(tools, args.seed, args.runs)
        goal_lines += more_goals
        notes += more_notes
    mach = machine()
    print()
    print(table(rows))
    print()
    print("\n".join(goal_lines))
    for n in notes:
        print(f"note: {n}")
    os.makedirs(os.path.dirname(md_path), exist_ok=True)
    with open(md_path, "w") as f:
        f.write(markdown(rows, goal_lines, args, commands, notes, mach, started, fg_state, loads))
    print(f"\nwrote {os.path.relpath(md_path, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
