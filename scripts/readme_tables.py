#!/usr/bin/env python3
"""Rewrites the README's generated blocks (the rule, remediation and Security Hub mapping tables)
from `flowguard rules --markdown`, so that after changing the rule
catalogue one command brings the README along; tests/engine/docs.rs fails
until it has been run.

    scripts/readme_tables.py [path/to/flowguard]   (default target/debug/flowguard)
"""
import re
import subprocess
import sys

binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/flowguard"
out = subprocess.run([binary, "rules", "--markdown"], check=True, capture_output=True, text=True).stdout
rules, remediation, asff = out.split("\n\n", 2)
blocks = {name: body.rstrip("\n") + "\n"
          for name, body in (("rules", rules), ("remediation", remediation), ("asff", asff))}
text = open("README.md", encoding="utf-8").read()
for name, body in blocks.items():
    pattern = re.compile(r"(<!-- %s:begin[^\n]*-->\n).*?(<!-- %s:end -->)" % (name, name), re.S)
    text, n = pattern.subn(lambda m: m.group(1) + body + m.group(2), text)
    if n != 1:
        sys.exit(f"README.md: no {name}:begin/end block")
open("README.md", "w", encoding="utf-8").write(text)
print("README.md: rule, remediation and ASFF tables rewritten")
