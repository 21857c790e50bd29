#!/usr/bin/env python3
"""Writes ARCHITECTURE.md from ARCHITECTURE.md.in, replacing each @@FILE#TEXT@@ with FILE:LINE,
the first line of FILE that contains TEXT. Fails (exit 1) naming every anchor it cannot find,
so a rename that breaks the walk-through is noticed."""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "ARCHITECTURE.md.in").read_text()
missing = []

def resolve(m):
    path, text = m.group(1), m.group(2)
    try:
        lines = (root / path).read_text().splitlines()
    except OSError:
        missing.append(f"{path} (no such file)")
        return m.group(0)
    for i, line in enumerate(lines, 1):
        if text in line:
            return f"`{path}:{i}`"
    missing.append(f"{path}: {text!r}")
    return m.group(0)

out = re.sub(r"@@([^#@]+)#([^@]+)@@", resolve, src)
if missing:
    sys.exit("architecture-anchors: not found:\n  " + "\n  ".join(missing))
target = root / "ARCHITECTURE.md"
if "--check" in sys.argv:
    if target.read_text() != out:
        sys.exit("architecture-anchors: ARCHITECTURE.md is stale; run scripts/architecture-anchors.py")
else:
    target.write_text(out)
