"""The same records in every shape of object give the same summaries
(SPEC section 1), through the real `flowguard` CLI.

Each case is a text object from the fixtures (or `flowguard generate`),
converted by shapes.py into Parquet (written by DuckDB, COMPRESSION gzip,
AWS's column names and types) and into a CloudWatch Logs subscription
export (gzip'd JSON documents). Every shape is written in turn to the
*same path* and analysed with `flowguard analyze --out`: the shape is
detected from the bytes, never the name, so every summary file must be the
same, except `processed_at`, the byte counts, and the unit of the malformed
samples (`line 14` / `row 13` / `event 13`).

Run from the repository root (build the CLI first: cargo build --bins):

    .venv/bin/python -m pytest -q tests/formats
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

import shapes

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
NAME = "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b.log"


def flowguard_bin() -> Path:
    path = Path(os.environ.get("FLOWGUARD_BIN", "target/debug/flowguard"))
    if not path.is_absolute():
        path = ROOT / path
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"flowguard binary not found at {path}: build it (cargo build --bins) "
                    "or set FLOWGUARD_BIN", pytrace=False)
    return path


def conformance_cases() -> list[tuple[str, bytes]]:
    """Every conformance fixture whose records a Parquet row can hold (no
    record with another column count, not an object error)."""
    out = []
    for path in sorted((FIXTURES / "conformance").glob("*.json")):
        f = json.loads(path.read_text())
        if f["object_error"]:
            continue
        text = ((f["header"] + "\n") if f["header"] else "") + "".join(line + "\n" for line in f["lines"])
        fields, rows = shapes.split_text(text.encode())
        if all(len(r) == len(fields) for r in rows):
            out.append((path.stem, text.encode()))
    return out


CASES = [("golden", (FIXTURES / "golden" / "input.log").read_bytes())] + conformance_cases()


def summaries(out: Path) -> dict[str, list[dict]]:
    """Every summary file under --out, decoded and normalised."""
    tables = {}
    for p in sorted(out.rglob("*.json.gz")):
        rows = [json.loads(line) for line in gzip.decompress(p.read_bytes()).decode().splitlines() if line]
        for r in rows:
            for k in ("processed_at", "compressed_bytes", "uncompressed_bytes"):
                r.pop(k, None)
            if "malformed_samples" in r:
                r["malformed_samples"] = [s.split(": ", 1)[-1] for s in r["malformed_samples"]]
        tables[str(p.relative_to(out))] = rows
    return tables


def analyze(exe: Path, path: Path, out: Path, config: Path | None) -> tuple[dict, list[dict]]:
    args = [str(exe), "analyze", "--format", "json", "--out", str(out)]
    if config:
        args += ["--config", str(config)]
    proc = subprocess.run(args + [str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{path}: exit {proc.returncode}\n{proc.stderr}"
    findings = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return summaries(out), findings


def every_shape(exe: Path, tmp: Path, text: bytes, *, parquet_kw: dict | None = None,
                cwl_kw: dict | None = None) -> dict[str, tuple[dict, list[dict]]]:
    """The summaries and findings of `text` written as each shape at one path."""
    fields, _ = shapes.split_text(text)
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "flowguard.toml"
    config.write_text(f"cwl_fields = {json.dumps(fields)}\n")
    obj = tmp / "in" / NAME
    obj.parent.mkdir(parents=True, exist_ok=True)
    parquet = tmp / "x.parquet"
    shapes.to_parquet(text, str(parquet), **(parquet_kw or {}))
    bodies = {
        "text": gzip.compress(text, mtime=0),
        "parquet": parquet.read_bytes(),
        "cloudwatch": shapes.to_cwl_export(text, **(cwl_kw or {})),
    }
    results = {}
    for shape, body in bodies.items():
        obj.write_bytes(body)
        out = tmp / f"out-{shape}"
        shutil.rmtree(out, ignore_errors=True)
        results[shape] = analyze(exe, obj, out, config)
    return results


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_fixture_in_every_shape(name: str, text: bytes, tmp_path: Path) -> None:
    results = every_shape(flowguard_bin(), tmp_path, text)
    want, want_findings = results["text"]
    files = [rows for key, rows in want.items() if key.startswith("flowguard/files/")]
    assert len(files) == 1 and files[0][0]["records"] > 0, want.keys()
    for shape in ("parquet", "cloudwatch"):
        got, got_findings = results[shape]
        assert sorted(got) == sorted(want), f"{name}: {shape} wrote other files"
        for key in want:
            assert got[key] == want[key], f"{name}: {shape}: {key}"
        assert got_findings == want_findings, f"{name}: {shape} findings"


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 30, [c[0] for c in CASES]


def test_generated_object_in_every_shape_and_packing(tmp_path: Path) -> None:
    """30,000 generated v5 records with injected attacks: Parquet in small
    row groups (several per file) and with Snappy, the export as one plain
    newline-delimited stream: the same findings and tables every time."""
    exe = flowguard_bin()
    gen = tmp_path / "gen.log"
    subprocess.run([str(exe), "generate", "--records", "30000", "--seed", "5", "--format", "v5",
                    "--output", str(gen)], check=True, capture_output=True)
    text = gen.read_bytes()
    # The same path each time, so `source` is the same in every run.
    base = every_shape(exe, tmp_path, text, parquet_kw={"row_group_size": 4096},
                       cwl_kw={"per_document": 500})
    want, want_findings = base["text"]
    assert len(want_findings) >= 8, want_findings
    for shape in ("parquet", "cloudwatch"):
        assert base[shape] == (want, want_findings), shape
    meta = duckdb.connect().execute(f"SELECT count(DISTINCT row_group_id), min(compression) "
                                    f"FROM parquet_metadata('{tmp_path / 'x.parquet'}')").fetchone()
    assert meta[0] >= 7 and meta[1] == "GZIP", meta
    other = every_shape(exe, tmp_path, text, parquet_kw={"compression": "snappy"},
                        cwl_kw={"gzip_members": False, "newlines": True, "per_document": 97})
    for shape in ("parquet", "cloudwatch"):
        assert other[shape] == (want, want_findings), shape


def test_parquet_columns_are_aws_names_and_types(tmp_path: Path) -> None:
    """What the helper writes is what SPEC section 1 describes."""
    text = (FIXTURES / "golden" / "input.log").read_bytes().replace(b" x ", b" 1 ")
    out = tmp_path / "g.parquet"
    shapes.to_parquet(text, str(out))
    con = duckdb.connect()
    schema = dict(con.execute(f"SELECT name, type FROM parquet_schema('{out}') WHERE type IS NOT NULL").fetchall())
    assert schema == {"version": "INT32", "account_id": "BYTE_ARRAY", "interface_id": "BYTE_ARRAY",
                      "srcaddr": "BYTE_ARRAY", "dstaddr": "BYTE_ARRAY", "srcport": "INT32", "dstport": "INT32",
                      "protocol": "INT32", "packets": "INT64", "bytes": "INT64", "start": "INT64",
                      "end": "INT64", "action": "BYTE_ARRAY", "log_status": "BYTE_ARRAY"}
    nulls = con.execute(f"SELECT count(*) FROM '{out}' WHERE srcaddr IS NULL").fetchone()[0]
    assert nulls == 2  # the NODATA and SKIPDATA records


def test_deploy_ddl_of_raw_parquet_has_aws_types() -> None:
    """The Glue DDL in infra/DEPLOY.md for raw Parquet flow logs: AWS's
    column types (INT32 -> int, INT64 -> bigint, strings), and partition
    projection whose location template uses exactly the partition keys."""
    text = (ROOT / "infra" / "DEPLOY.md").read_text()
    ddl = next(block for block in re.findall(r"```sql\n(.*?)```", text, re.S)
               if "CREATE EXTERNAL TABLE" in block and "vpc_flow_logs_parquet" in block)
    body = ddl.split("(", 1)[1].split("\n)", 1)[0]
    columns = dict(re.findall(r"^\s*`?([a-z_]+)`?\s+([a-z]+),?$", body, re.M))
    assert list(columns) == [f.replace("-", "_") for f in shapes.V2_FIELDS], columns
    athena = {"INTEGER": "int", "BIGINT": "bigint", "VARCHAR": "string"}
    for name, typ in columns.items():
        assert typ == athena[shapes.duck_type(name.replace("_", "-"))], (name, typ)
    assert columns["protocol"] == "int"
    keys = re.findall(r"(\w+) string", ddl.split("PARTITIONED BY", 1)[1].split(")", 1)[0])
    template = re.search(r"'storage.location.template' = '([^']+)'", ddl)[1]
    assert sorted(re.findall(r"\$\{(\w+)\}", template)) == sorted(keys), (template, keys)
    assert "STORED AS PARQUET" in ddl and "'projection.enabled' = 'true'" in ddl
    for key in keys:
        assert f"'projection.{key}.type'" in ddl, key
