"""Short lines of documentation and changelogs, as extra training negatives.

A tool result is often one short line: a changelog entry, a commit subject, a list item ("Remove
excess blank lines.", "Run all tests even if there was a failure."). Such lines are imperative,
and a model trained on corpus texts scores many of them as attacks. This script writes such
lines as ``benign`` rows: the lines of the Markdown, reStructuredText and package metadata of the
local crates and Python packages (the files plant.py draws prose from, with the crates that
``benign_code`` quotes left out), list items and headings included with their markers, 20-300
characters, three words or more, mostly letters. Files are taken crate by crate in turn, at most
``--per-file`` lines each, with the project seed; repeated lines are written once.

Usage: python doc_lines.py [--n 3000] [--per-file 6] [--out work/doc_lines.jsonl]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

import common as c
import plant


def short_lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not 20 <= len(line) <= 300 or len(line.split()) < 3 or "http" in line:
            continue
        if sum(ch.isalpha() or ch == " " for ch in line) < 0.7 * len(line):
            continue
        out.append(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--per-file", type=int, default=6)
    ap.add_argument("--out", default=str(c.WORK / "doc_lines.jsonl"))
    a = ap.parse_args()
    rng = random.Random(c.SEED)
    rows = [{"text": line, "label": "benign", "source": source, "license": "the package's own"}
            for source, line in itertools.islice(plant.drawn_lines(short_lines, a.per_file, rng), a.n)]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} lines to {out}")


if __name__ == "__main__":
    main()
