#!/usr/bin/env python3
"""Rebuilds the seed corpora fuzz/corpus/<target>/ from the project's fixtures.

    python3 fuzz/seeds.py

- parse_line, analyze_object: every tests/fixtures/conformance/*.json object
  (header, or the first record when there is none, then the lines) and
  tests/fixtures/golden/input.log; analyze_object also gets a gzip and a
  two-member gzip copy of the golden input.
- decode_event: events/*.json, tests/e2e/*.json, and the S3 notification
  carried inside each SQS/SNS sample as a message body.

Only small files (the whole set stays far below 2 MB). The fuzzer writes new
inputs to its working corpus under fuzz/target/, never here.
"""

import gzip
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEED = 64 * 1024


def write(target: str, name: str, data: bytes) -> None:
    if len(data) > MAX_SEED:
        return
    (CORPUS / target / name).write_bytes(data)


def main() -> None:
    for target in ("parse_line", "analyze_object", "decode_event"):
        shutil.rmtree(CORPUS / target, ignore_errors=True)
        (CORPUS / target).mkdir(parents=True)

    for f in sorted((ROOT / "tests/fixtures/conformance").glob("*.json")):
        d = json.loads(f.read_text())
        lines = ([d["header"]] if d["header"] is not None else []) + d["lines"]
        text = ("\n".join(lines) + "\n").encode()
        write("parse_line", f.stem, text)
        write("analyze_object", f.stem, text)

    golden = (ROOT / "tests/fixtures/golden/input.log").read_bytes()
    write("parse_line", "golden-input", golden)
    write("analyze_object", "golden-input", golden)
    write("analyze_object", "golden-input-gz", gzip.compress(golden, mtime=0))
    half = golden.index(b"\n", len(golden) // 2) + 1
    write(
        "analyze_object",
        "golden-input-2-members-gz",
        gzip.compress(golden[:half], mtime=0) + gzip.compress(golden[half:], mtime=0),
    )

    events = sorted((ROOT / "events").glob("*.json")) + sorted(
        (ROOT / "tests/e2e").glob("*.json")
    )
    for f in events:
        raw = f.read_bytes()
        write("decode_event", f.parent.name + "-" + f.stem, raw)
        # Message bodies (SQS body, SNS Message) as payloads of their own.
        for i, r in enumerate(json.loads(raw).get("Records", [])):
            body = r.get("body") or (r.get("Sns") or {}).get("Message")
            if isinstance(body, str):
                write("decode_event", f"{f.parent.name}-{f.stem}-body{i}", body.encode())

    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    count = sum(1 for p in CORPUS.rglob("*") if p.is_file())
    print(f"{count} seeds, {total} bytes under {CORPUS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
