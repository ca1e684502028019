"""The Athena named queries (infra/queries/*.sql), run by DuckDB over the
summaries that `flowguard analyze --out DIR` writes, checked against the same
questions answered in Python straight from the raw generated flow logs.

The CLI is $FLOWGUARD_BIN, else target/debug/flowguard. When it is missing
these tests FAIL (they are never skipped): build it with `cargo build`.

DuckDB reads the summaries through views named like the Glue tables
(flowguard.admin, ...), whose columns and types are taken from the Glue tables
of infra/template.yaml, with the Hive partition keys account/region/dt/hour
as strings, exactly as Athena's partition projection sees them.

Run: .venv/bin/pytest tests/infra/test_queries_duckdb.py
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from infra_helpers import QUERIES, REPO, load_template, resources_of_type

ACCOUNT_FALLBACK = "123456789012"
REGION_FALLBACK = "us-east-1"
TRUSTED = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
]
ADMIN_PORTS = {22, 3389}
SENSITIVE_PORTS = {23, 445, 1433, 3306, 5432, 5900, 6379, 9200, 11211, 27017}
BRUTE_FORCE_THRESHOLD = 20
REJECTED_THRESHOLD = 100
V2_FIELDS = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
    "packets bytes start end action log-status"
).split()


# ----------------------------------------------------------------- helpers


def athena_to_duckdb(sql: str) -> str:
    """Rewrite the Athena-only syntax of our named queries for DuckDB.

    The only difference they hit: Athena's date_format(ts, fmt) is DuckDB's
    strftime(ts, fmt); the %Y-%m-%d specifiers mean the same in both.
    Everything else (interval '7' day, CASE, IN, LIMIT) runs unchanged.
    """
    return re.sub(r"\bdate_format\s*\(", "strftime(", sql)


def glue_to_duckdb(glue_type: str) -> str:
    """Glue/Hive column type -> DuckDB type."""
    t = glue_type.strip()
    simple = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE", "boolean": "BOOLEAN"}
    if t in simple:
        return simple[t]
    if t.startswith("array<") and t.endswith(">"):
        return glue_to_duckdb(t[6:-1]) + "[]"
    if t.startswith("struct<") and t.endswith(">"):
        fields = []
        for part in split_top_level(t[7:-1]):
            name, inner = part.split(":", 1)
            fields.append(f'"{name}" {glue_to_duckdb(inner)}')
        return "STRUCT(" + ", ".join(fields) + ")"
    raise AssertionError(f"unsupported Glue type {glue_type}")


def split_top_level(s: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"<": 1, ">": -1}.get(ch, 0)
        current += ch
    return parts + [current]


def glue_tables() -> dict[str, list[tuple[str, str]]]:
    """{table: [(column, glue type)]} from infra/template.yaml."""
    tables = {}
    for table in resources_of_type(load_template(), "AWS::Glue::Table").values():
        ti = table["Properties"]["TableInput"]
        tables[ti["Name"]] = [(c["Name"], c["Type"]) for c in ti["StorageDescriptor"]["Columns"]]
    return tables


def named_query(name: str) -> str:
    return (QUERIES / f"{name}.sql").read_text(encoding="utf-8")


def addr(text: str) -> str:
    """Canonical text of an address, so both sides compare as addresses."""
    return str(ipaddress.ip_address(text))


def trusted(address: ipaddress._BaseAddress) -> bool:
    return any(address.version == n.version and address in n for n in TRUSTED)


@dataclass
class Record:
    srcaddr: ipaddress._BaseAddress
    dstaddr: ipaddress._BaseAddress
    srcport: int
    dstport: int
    protocol: int
    packets: int
    bytes: int
    action: str
    flow_direction: str | None


@dataclass
class RawLog:
    """What a reader of the raw file knows: OK records and status counts."""

    path: Path
    records: list[Record] = field(default_factory=list)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    accounts: collections.Counter = field(default_factory=collections.Counter)
    regions: collections.Counter = field(default_factory=collections.Counter)
    skipped_interfaces: set = field(default_factory=set)


def read_raw(path: Path) -> RawLog:
    """Parse a generated flow-log file independently of flowguard: gunzip,
    header line (fields per header; the v2 default when there is none), then
    whitespace-separated values. Lines that do not parse are skipped (they
    are flowguard's `malformed`); only log-status OK records are kept."""
    raw = RawLog(path)
    with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as f:
        lines = (line.rstrip("\r\n") for line in f)
        first = next(lines)
        tokens = first.split()
        if tokens and all(re.fullmatch(r"[a-z][a-z0-9-]*", t) for t in tokens):
            header, pending = tokens, []  # a header of field names
        else:
            header, pending = V2_FIELDS, [first]
        for line in [*pending, *lines]:
            values = line.split()
            if not values:
                continue
            if len(values) != len(header):
                raw.statuses["malformed"] += 1
                continue
            row = dict(zip(header, values))
            status = row.get("log-status", "OK")
            if row.get("account-id", "-") != "-":
                raw.accounts[row["account-id"]] += 1
            if row.get("region", "-") != "-":
                raw.regions[row["region"]] += 1
            if status != "OK":
                raw.statuses[status] += 1
                if status == "SKIPDATA":
                    raw.skipped_interfaces.add(row.get("interface-id", "-"))
                continue
            try:
                record = Record(
                    srcaddr=ipaddress.ip_address(row["srcaddr"]),
                    dstaddr=ipaddress.ip_address(row["dstaddr"]),
                    srcport=int(row["srcport"]),
                    dstport=int(row["dstport"]),
                    protocol=int(row["protocol"]),
                    packets=int(row["packets"]),
                    bytes=int(row["bytes"]),
                    action=row["action"],
                    flow_direction=None if row.get("flow-direction", "-") == "-" else row["flow-direction"],
                )
            except ValueError:
                raw.statuses["malformed"] += 1
                continue
            if not (0 <= record.srcport <= 65535 and 0 <= record.dstport <= 65535 and 0 <= record.protocol <= 255):
                raw.statuses["malformed"] += 1
                continue
            raw.statuses["OK"] += 1
            raw.records.append(record)
    return raw


def flowguard_bin() -> Path:
    configured = os.environ.get("FLOWGUARD_BIN")
    path = Path(configured) if configured else REPO / "target" / "debug" / "flowguard"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"flowguard CLI not found at {path}: build it (`cargo build`) or set FLOWGUARD_BIN. "
            "These tests need it and are deliberately not skipped.",
            pytrace=False,
        )
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {result.returncode}\nstderr:\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    return result


def aws_name(account: str, region: str, delivered: dt.datetime, seed: int) -> str:
    """An AWS-style flow-log key: AWSLogs/{account}/vpcflowlogs/{region}/Y/m/d/
    {account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHMMZ}_{hash}.log.gz"""
    stamp = delivered.strftime("%Y%m%dT%H%MZ")
    digest = hashlib.sha1(f"{seed}{stamp}".encode()).hexdigest()[:8]
    return (
        f"AWSLogs/{account}/vpcflowlogs/{region}/{delivered:%Y/%m/%d}/"
        f"{account}_vpcflowlogs_{region}_fl-0a1b2c3d4e5f60718_{stamp}_{digest}.log.gz"
    )


@dataclass
class Dataset:
    raw: RawLog
    account: str
    region: str
    delivered: dt.datetime
    stem: str
    findings: list[dict]  # printed by `analyze --format json`


def generate_and_analyze(workdir: Path, out: Path, records: int, seed: int, delivered: dt.datetime) -> Dataset:
    exe = flowguard_bin()
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = workdir / f"generated-{seed}.log.gz"
    run(exe, "generate", "--records", records, "--seed", seed, "--output", scratch)
    raw = read_raw(scratch)
    assert raw.records, f"{scratch}: no OK records could be read"
    account = raw.accounts.most_common(1)[0][0] if raw.accounts else ACCOUNT_FALLBACK
    region = raw.regions.most_common(1)[0][0] if raw.regions else REGION_FALLBACK
    final = workdir / aws_name(account, region, delivered, seed)
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(scratch, final)
    raw.path = final
    result = run(exe, "analyze", "--out", out, "--format", "json", final)
    findings = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return Dataset(raw, account, region, delivered, final.name[: -len(".log.gz")], findings)


def connect(out: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB with a schema `flowguard` holding one view per Glue table."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA flowguard")
    partition_types = "{'account': 'VARCHAR', 'region': 'VARCHAR', 'dt': 'VARCHAR', 'hour': 'VARCHAR'}"
    for table, columns in glue_tables().items():
        files = list((out / table).glob("**/*.json.gz"))
        assert files, f"no summaries were written for table {table} under {out / table}"
        column_types = ", ".join(f"'{name}': '{glue_to_duckdb(t)}'" for name, t in columns)
        con.execute(
            f"""CREATE VIEW flowguard.{table} AS
                SELECT * FROM read_json('{out / table}/**/*.json.gz',
                    format = 'newline_delimited',
                    hive_partitioning = true,
                    union_by_name = true,
                    hive_types = {partition_types},
                    columns = {{{column_types}}})"""
        )
    return con


def query(con: duckdb.DuckDBPyConnection, name: str) -> list[dict]:
    cursor = con.execute(athena_to_duckdb(named_query(name)))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def assert_top_n(actual: list[dict], key: str, metric: str, expected: dict[str, int], n: int) -> None:
    """`actual` is the top n of `expected` ({key: metric}) by metric, ties in
    any order: same metric values in order, and every row's metric is its
    key's true metric."""
    truth = sorted(expected.values(), reverse=True)[:n]
    assert [r[metric] for r in actual] == truth, f"top {n} {metric} differ"
    for row in actual:
        assert expected[addr(row[key])] == row[metric], row


# ----------------------------------------------------------------- fixtures


@dataclass
class SetupFailure:
    message: str


def require(value):
    """Fail (not error, never skip) the calling test when the shared setup
    could not run, e.g. because the flowguard CLI is missing."""
    if isinstance(value, SetupFailure):
        pytest.fail(value.message, pytrace=False)
    return value


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two generated objects: `recent` (delivered an hour ago, the brief's
    --records 20000 --seed 7) and `old` (delivered 30 days ago). out_recent
    holds the summaries of `recent` only; out_both those of both."""
    try:
        work = tmp_path_factory.mktemp("flowguard")
        now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
        recent_at = now - dt.timedelta(hours=1)
        old_at = now - dt.timedelta(days=30)
        out_recent, out_both = work / "out-recent", work / "out-both"
        recent = generate_and_analyze(work / "recent", out_recent, 20000, 7, recent_at)
        run(flowguard_bin(), "analyze", "--out", out_both, "--format", "json", recent.raw.path)
        old = generate_and_analyze(work / "old", out_both, 5000, 11, old_at)
    except (pytest.fail.Exception, AssertionError) as e:
        return SetupFailure(str(e))
    # `--out DIR` mirrors S3, so the tables sit under the default summary
    # prefix `flowguard/`, like the Glue tables' locations.
    return {
        "recent": recent,
        "old": old,
        "out_recent": out_recent / "flowguard",
        "out_both": out_both / "flowguard",
    }


@pytest.fixture(scope="module")
def con(data):
    if isinstance(data, SetupFailure):
        return data
    try:
        return connect(data["out_recent"])
    except AssertionError as e:
        return SetupFailure(str(e))


# ----------------------------------------------------------------- tests


def test_athena_rewrite_is_minimal():
    for path in QUERIES.glob("*.sql"):
        sql = path.read_text(encoding="utf-8")
        rewritten = athena_to_duckdb(sql)
        assert rewritten.replace("strftime(", "date_format(") == sql.replace("strftime(", "date_format(")


def test_summaries_are_partitioned_like_s3(data):
    """{table}/account=/region=/dt=/hour=/{stem}.json.gz, with dt and hour
    from the delivery time in the AWS file name."""
    data = require(data)
    recent = data["recent"]
    for table in glue_tables():
        files = sorted((data["out_recent"] / table).glob("**/*.json.gz"))
        relative = [f.relative_to(data["out_recent"] / table).as_posix() for f in files]
        expected = (
            f"account={recent.account}/region={recent.region}/dt={recent.delivered:%Y-%m-%d}/"
            f"hour={recent.delivered:%H}/{recent.stem}.json.gz"
        )
        assert relative == [expected], f"{table}: {relative}"


def test_summary_rows_match_the_glue_schema(data):
    """Every key of every row is a Glue column (or a partition key, which
    findings rows repeat) and every value has its column's type, so Athena
    reads what flowguard writes. A new column needs a Glue column in
    infra/template.yaml."""
    data = require(data)
    ints = {"bigint": (-(2**63), 2**63 - 1), "int": (-(2**31), 2**31 - 1)}

    def check(value, glue_type: str, where: str):
        if value is None:
            return
        if glue_type == "string":
            assert isinstance(value, str), f"{where}: {value!r} is not a string"
        elif glue_type == "boolean":
            assert isinstance(value, bool), f"{where}: {value!r} is not a boolean"
        elif glue_type in ints:
            lo, hi = ints[glue_type]
            assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not an integer"
            assert lo <= value <= hi, f"{where}: {value} out of {glue_type} range"
        elif glue_type.startswith("array<"):
            assert isinstance(value, list), f"{where}: {value!r} is not an array"
            for i, item in enumerate(value):
                check(item, glue_type[6:-1], f"{where}[{i}]")
        elif glue_type.startswith("struct<"):
            assert isinstance(value, dict), f"{where}: {value!r} is not an object"
            fields = dict(part.split(":", 1) for part in split_top_level(glue_type[7:-1]))
            extra = set(value) - set(fields)
            assert not extra, f"{where}: fields {sorted(extra)} are not in {glue_type}"
            for k, v in value.items():
                check(v, fields[k], f"{where}.{k}")
        else:
            raise AssertionError(f"unsupported Glue type {glue_type}")

    for table, columns in glue_tables().items():
        types = dict(columns)
        rows = 0
        for path in (data["out_recent"] / table).glob("**/*.json.gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    row = json.loads(line)
                    rows += 1
                    extra = set(row) - set(types) - {"account", "region"}
                    assert not extra, f"{table}: {sorted(extra)} are not Glue columns (add them to the template)"
                    for key, value in row.items():
                        if key in types:
                            check(value, types[key], f"{table} line {n} {key}")
        assert rows > 0 or table == "findings", f"{table}: no rows"


def test_ssh_rdp_activity(con, data):
    data, con = require(data), require(con)
    expected: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for r in data["recent"].raw.records:
        if r.dstport in ADMIN_PORTS:
            sums = expected[(str(r.srcaddr), str(r.dstaddr), r.dstport, r.action)]
            sums[0] += 1
            sums[1] += r.packets
            sums[2] += r.bytes
    assert expected, "the generated log has no SSH/RDP flows; the query would test nothing"
    rows = query(con, "ssh-rdp-activity")
    actual = {
        (addr(r["srcaddr"]), addr(r["dstaddr"]), r["dstport"], r["action"]): [r["flows"], r["packets"], r["bytes"]]
        for r in rows
    }
    assert len(actual) == len(rows), "duplicate groups"
    assert actual == dict(expected)
    flows = [r["flows"] for r in rows]
    assert flows == sorted(flows, reverse=True), "not ordered by flows"


def test_top_talkers_by_bytes(con, data):
    data, con = require(data), require(con)
    totals: dict[str, int] = collections.Counter()
    for r in data["recent"].raw.records:
        totals[str(r.srcaddr)] += r.bytes
        totals[str(r.dstaddr)] += r.bytes
    rows = query(con, "top-talkers-by-bytes")
    assert len(rows) == min(20, len(totals))
    # Each object keeps its top N talkers only; the top 10 are exact.
    assert_top_n(rows[:10], "address", "bytes", totals, 10)


def test_https_destinations_by_packets(con, data):
    data, con = require(data), require(con)
    packets: dict[str, int] = collections.Counter()
    other: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for r in data["recent"].raw.records:
        if r.dstport == 443 and r.protocol == 6:
            key = str(r.dstaddr)
            packets[key] += r.packets
            other[key][0] += r.bytes
            other[key][1] += 1
    assert packets, "the generated log has no HTTPS flows; the query would test nothing"
    rows = query(con, "https-destinations-by-packets")
    assert len(rows) == min(20, len(packets))
    assert_top_n(rows, "dstaddr", "packets", packets, 20)
    for row in rows:
        assert [row["bytes"], row["flows"]] == other[addr(row["dstaddr"])], row


def raw_finding_counts(raw: RawLog) -> dict[str, int]:
    """Findings per rule for the rules whose definition (SPEC section 2) can be
    recomputed from the records alone, with the default configuration."""
    rejected = collections.Counter()
    admin_attempts = collections.Counter()
    # Exposure is one finding per service (address, port, protocol).
    admin_exposed, sensitive_exposed = set(), set()
    for r in raw.records:
        src_untrusted = not trusted(r.srcaddr)
        if r.flow_direction is not None:
            inbound = r.flow_direction == "ingress"
        else:
            inbound = src_untrusted and trusted(r.dstaddr)
        if r.action == "REJECT":
            rejected[r.srcaddr] += 1
        if src_untrusted and r.dstport in ADMIN_PORTS:
            admin_attempts[r.srcaddr] += 1
        if r.action == "ACCEPT" and inbound and src_untrusted:
            if r.dstport in ADMIN_PORTS:
                admin_exposed.add((r.dstaddr, r.dstport, r.protocol))
            if r.dstport in SENSITIVE_PORTS:
                sensitive_exposed.add((r.dstaddr, r.dstport, r.protocol))
    return {
        "rejected-traffic": sum(1 for n in rejected.values() if n >= REJECTED_THRESHOLD),
        "admin-port-brute-force": sum(1 for n in admin_attempts.values() if n >= BRUTE_FORCE_THRESHOLD),
        "admin-port-exposed": len(admin_exposed),
        "sensitive-port-exposed": len(sensitive_exposed),
        "skipped-records": len(raw.skipped_interfaces),
    }


def test_top_rejected_sources(con, data):
    """`top-rejected-sources` over the `rejected` table: the sources the
    security groups and network ACLs turned away most, equal to a count of
    the raw REJECT records."""
    data, con = require(data), require(con)
    flows: dict[str, int] = collections.Counter()
    packets: dict[str, int] = collections.Counter()
    for r in data["recent"].raw.records:
        if r.action == "REJECT":
            flows[str(r.srcaddr)] += 1
            packets[str(r.srcaddr)] += r.packets
    assert flows, "the generated log has no rejected flows; the query would test nothing"
    rows = query(con, "top-rejected-sources")
    assert len(rows) == min(20, len(flows))
    assert_top_n(rows, "address", "rejected_flows", flows, 20)
    for row in rows:
        assert row["packets"] == packets[addr(row["address"])], row
        assert row["objects"] == 1, row


def test_findings_by_severity_7d(data):
    data = require(data)
    recent, old = data["recent"], data["old"]
    con = connect(data["out_both"])
    # The old object's findings are there, and the 7-day window drops them.
    cutoff = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=7)).isoformat()
    (old_rows,) = con.execute("SELECT count(*) FROM flowguard.findings WHERE dt < ?", [cutoff]).fetchone()
    assert old_rows == len(old.findings)
    rows = query(con, "findings-by-severity-7d")
    actual = {(r["severity"], r["rule"]): (r["findings"], r["flows"]) for r in rows}
    assert len(actual) == len(rows)

    # Same question over the findings `analyze --format json` printed.
    expected: dict[tuple, list[int]] = collections.defaultdict(lambda: [0, 0])
    for f in recent.findings:
        expected[(f["severity"], f["rule"])][0] += 1
        expected[(f["severity"], f["rule"])][1] += f["flows"]
    assert actual == {k: tuple(v) for k, v in expected.items()}
    assert actual, "the generated log produced no findings"

    # And, for the rules that can be recomputed from the raw records, the
    # same counts as a reader of the raw log gets.
    by_rule = collections.Counter()
    for (severity, rule), (count, _) in actual.items():
        by_rule[rule] += count
    for rule, count in raw_finding_counts(recent.raw).items():
        assert by_rule[rule] == count, f"{rule}: {by_rule[rule]} findings, the raw records give {count}"

    order = {"high": 1, "medium": 2, "low": 3}
    keys = [(order.get(r["severity"], 4), -r["findings"]) for r in rows]
    assert keys == sorted(keys), "not ordered by severity, then count"
