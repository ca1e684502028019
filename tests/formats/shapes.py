"""Turn flow-log text into the other shapes AWS delivers (SPEC section 1):

- Parquet as a flow log created with FileFormat=parquet writes it: the
  fields as columns with underscores, INT32 for version, ports, protocol,
  tcp_flags and traffic_path (and the other small integers), INT64 for
  packets, bytes, start, end (and the other counters), VARCHAR for the
  rest, NULL for `-`; written by DuckDB with COMPRESSION gzip;
- CloudWatch Logs subscription exports as Firehose writes them to S3: each
  batch of log events one JSON document
  `{"messageType":"DATA_MESSAGE","owner":...,"logEvents":[{"id","timestamp","message"}]}`,
  each gzip-compressed on its own and the members concatenated, with a
  CONTROL_MESSAGE document first (sent when a subscription is created).

Used by tests/formats (the same records in every shape give the same
summaries) and tests/e2e (a large Parquet object and an export in moto).
Stdlib plus duckdb.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from typing import Iterable

# The catalogue's integer fields by width (src/flowlog/field.rs); AWS
# documents INT_32 for version, ports, protocol, tcp-flags, traffic-path
# and INT_64 for packets, bytes, start and end.
INT32_FIELDS = {"version", "srcport", "dstport", "protocol", "tcp-flags", "traffic-path", "encryption-status"}
INT64_FIELDS = {"packets", "bytes", "start", "end", "packets-lost-no-route", "packets-lost-blackhole",
                "packets-lost-mtu-exceeded", "packets-lost-ttl-expired"}

V2_FIELDS = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
             "start end action log-status").split()


def duck_type(field: str) -> str:
    if field in INT32_FIELDS:
        return "INTEGER"
    if field in INT64_FIELDS:
        return "BIGINT"
    return "VARCHAR"


def column_types(fields: list[str], rows: list[list[str]]) -> list[str]:
    """The DuckDB type of each column: its field's integer type, unless a
    value cannot be stored in it (a malformed value such as 'x' or a number
    too large): then a string column, which flowguard reads as digits, so
    the record is malformed in Parquet exactly as in text."""
    limits = {"INTEGER": 2**31 - 1, "BIGINT": 2**63 - 1}
    out = []
    for i, name in enumerate(fields):
        t = duck_type(name)
        if t in limits:
            for r in rows:
                v = r[i]
                if v == "-":
                    continue
                # Only plain ASCII digits become integers: `+5`, `-5` or `-0`
                # stay text, judged by flowguard's rules, not by DuckDB's.
                if not (v.isascii() and v.isdigit()) or int(v) > limits[t]:
                    t = "VARCHAR"
                    break
        out.append(t)
    return out


def split_text(text: bytes) -> tuple[list[str], list[list[str]]]:
    """(fields, rows) of a flow-log object: the header's names (or the v2
    default when the first line is a record), then every non-blank line
    split on runs of spaces."""
    lines = [ln.rstrip("\r") for ln in text.decode("utf-8").split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return list(V2_FIELDS), []
    first = lines[0].split()
    if first and first[0][:1].isalpha():
        return [f.replace("_", "-") for f in first], [ln.split() for ln in lines[1:]]
    return list(V2_FIELDS), [ln.split() for ln in lines]


def to_parquet(text: bytes, out_path: str, *, compression: str = "gzip",
               row_group_size: int | None = None, delim_text: bool = False) -> None:
    """Writes the records of `text` as Parquet at `out_path` (DuckDB).

    delim_text=True reads the text with DuckDB's CSV reader directly (for
    large, single-spaced objects such as `flowguard generate` output);
    otherwise the lines are split in Python first (runs of spaces, CRLF)."""
    import duckdb

    with tempfile.TemporaryDirectory(prefix="flowguard-shapes-") as tmp:
        src = os.path.join(tmp, "rows.tsv")
        if delim_text:
            with open(src, "wb") as f:
                f.write(gzip.decompress(text) if text[:2] == b"\x1f\x8b" else text)
            with open(src, "rb") as f:
                fields = [n.replace("_", "-") for n in f.readline().decode().split()]
            types = [duck_type(n) for n in fields]
            delim = " "
        else:
            fields, rows = split_text(text)
            bad = [i + 1 for i, r in enumerate(rows) if len(r) != len(fields)]
            if bad:
                raise ValueError(f"records {bad[:5]} have a column count other than the header's "
                                 f"{len(fields)}: no Parquet row can hold them")
            types = column_types(fields, rows)
            with open(src, "w", encoding="utf-8") as f:
                f.write("\t".join(fields) + "\n")
                for r in rows:
                    f.write("\t".join(r) + "\n")
            delim = "\t"
        columns = ", ".join(f"'{n.replace('-', '_')}': '{t}'" for n, t in zip(fields, types))
        lit = lambda p: "'" + p.replace("'", "''") + "'"  # noqa: E731
        options = f"FORMAT parquet, COMPRESSION {compression}"
        if row_group_size:
            options += f", ROW_GROUP_SIZE {int(row_group_size)}"
        con = duckdb.connect()
        con.execute("SET threads = 1")  # one row group order, as AWS writes
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"COPY (SELECT * FROM read_csv({lit(src)}, delim = {lit(delim)}, header = true, "
            f"nullstr = '-', quote = '', escape = '', auto_detect = false, columns = {{{columns}}})) "
            f"TO {lit(out_path)} ({options})")
        con.close()


def text_file_to_parquet(path: str, out_path: str, *, compression: str = "gzip",
                         row_group_size: int | None = None) -> None:
    """Like to_parquet for a large single-spaced object on disk (gzip or
    plain, such as `flowguard generate` output): DuckDB reads it directly,
    nothing is held in Python."""
    import duckdb

    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        fields = [n.replace("_", "-") for n in f.readline().split()]
    columns = ", ".join(f"'{n.replace('-', '_')}': '{duck_type(n)}'" for n in fields)
    lit = lambda p: "'" + p.replace("'", "''") + "'"  # noqa: E731
    options = f"FORMAT parquet, COMPRESSION {compression}"
    if row_group_size:
        options += f", ROW_GROUP_SIZE {int(row_group_size)}"
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"COPY (SELECT * FROM read_csv({lit(path)}, delim = ' ', header = true, nullstr = '-', "
        f"quote = '', escape = '', auto_detect = false, columns = {{{columns}}})) "
        f"TO {lit(out_path)} ({options})")
    con.close()


def row_groups(path: str) -> list[tuple[int, int]]:
    """(rows, compressed bytes of its column chunks) of each row group."""
    import duckdb

    con = duckdb.connect()
    lit = "'" + path.replace("'", "''") + "'"
    rows = con.execute(f"SELECT row_group_id, any_value(row_group_num_rows), sum(total_compressed_size) "
                       f"FROM parquet_metadata({lit}) GROUP BY row_group_id ORDER BY row_group_id").fetchall()
    con.close()
    return [(int(r[1]), int(r[2])) for r in rows]


def cwl_documents(text: bytes, *, owner: str = "123456789012", per_document: int = 3,
                  log_group: str = "vpc-flow-logs", start_ms: int = 1750961400000) -> list[dict]:
    """The records of `text` (without its header) as CloudWatch Logs
    subscription documents of `per_document` events each, after a
    CONTROL_MESSAGE document."""
    lines = [ln.rstrip("\r") for ln in text.decode("utf-8").split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if lines and lines[0].split()[0][:1].isalpha():
        lines = lines[1:]
    docs: list[dict] = [{
        "messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": start_ms,
                       "message": "CWL CONTROL MESSAGE: Checking health of destination Firehose."}],
    }]
    for i in range(0, len(lines), per_document):
        batch = lines[i:i + per_document]
        docs.append({
            "messageType": "DATA_MESSAGE", "owner": owner, "logGroup": log_group,
            "logStream": f"eni-{i // per_document:08x}-all", "subscriptionFilters": ["flowguard-s3"],
            "logEvents": [{"id": str(37000000000000000000 + i + j), "timestamp": start_ms + 1000 * (i + j),
                           "message": m} for j, m in enumerate(batch)],
        })
    return docs


def to_cwl_export(text: bytes, *, gzip_members: bool = True, newlines: bool = False, **kw) -> bytes:
    """A Firehose object of the documents of `text`: one gzip member per
    document (as CloudWatch Logs compresses each batch), concatenated; or,
    with gzip_members=False, the documents back to back in plain text
    (`newlines` puts a newline after each)."""
    docs = [json.dumps(d, separators=(",", ":")).encode() + (b"\n" if newlines else b"")
            for d in cwl_documents(text, **kw)]
    if gzip_members:
        return b"".join(gzip.compress(d, mtime=0) for d in docs)
    return b"".join(docs)


def records_of(rows: Iterable[list[str]]) -> int:
    return sum(1 for _ in rows)
