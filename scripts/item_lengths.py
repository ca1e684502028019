#!/usr/bin/env python3
"""Lists Rust items (functions, impl blocks, structs, enums, traits, macros)
longer than a limit, outside test modules.

    scripts/item_lengths.py [--max N] [DIR]     (default: 150 lines, src/)

Exit status 1 when an item is over the limit, so `make lint` fails on one.
The parser is deliberately small: it strips comments, strings and char
literals, then matches braces from each item's opening line. A `mod tests`
(or any module under `#[cfg(test)]`) is skipped whole: the limit is for the
code a reader must hold in mind, not for tables of test cases.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

ITEM = re.compile(
    r"^\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+|async\s+|unsafe\s+|extern\s+\"[^\"]*\"\s+)*"
    r"(fn|impl|struct|enum|trait|mod|macro_rules!)\b\s*([A-Za-z_][A-Za-z0-9_]*)?"
)


def strip(text: str) -> str:
    """Comments, strings and char literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 8]) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'r(#*)"', text[i:])
            hashes = m.group(1)
            end = text.find('"' + hashes, i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def items(path: str):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    lines = strip(raw).split("\n")
    raw_lines = raw.split("\n")
    skip_until = -1
    for start, line in enumerate(lines):
        if start <= skip_until:
            continue
        m = ITEM.match(line)
        if not m:
            continue
        kind, name = m.group(1), m.group(2) or ""
        if kind == "impl":
            # `impl<T: X> Trait for Type<T>`: the words after the generics.
            rest = re.sub(r"<[^<>]*(<[^<>]*>[^<>]*)*>", "", line[m.start(1) + 4:])
            name = " ".join(rest.split("{")[0].split())
        # Find the opening brace (an item may declare over several lines);
        # a `;` first means no body.
        depth, end, opened = 0, None, False
        for j in range(start, len(lines)):
            seg = lines[j] if j > start else lines[j][m.end():] if False else lines[j]
            for ch in seg:
                if ch == ";" and not opened and depth == 0:
                    end = j
                    break
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
                    if opened and depth == 0:
                        end = j
                        break
            if end is not None:
                break
        if end is None or not opened:
            continue
        prev = " ".join(raw_lines[max(0, start - 3):start])
        if kind == "mod" and (name == "tests" or "cfg(test)" in prev):
            skip_until = end
            continue
        if kind == "mod":
            continue  # an inline module's items are counted one by one
        yield kind, name, start + 1, end + 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=150)
    ap.add_argument("dir", nargs="?", default="src")
    args = ap.parse_args()
    over = []
    for root, _, files in os.walk(args.dir):
        for f in sorted(files):
            if f.endswith(".rs"):
                p = os.path.join(root, f)
                for kind, name, a, b in items(p):
                    if b - a + 1 > args.max:
                        over.append((b - a + 1, p, a, kind, name))
    for n, p, a, kind, name in sorted(over, reverse=True):
        print(f"{p}:{a}: {kind} {name}: {n} lines (limit {args.max})")
    if over:
        print(f"{len(over)} item(s) over {args.max} lines")
        return 1
    print(f"no item over {args.max} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
