"""Benign code from this machine's own dependencies, as extra training negatives.

The shared corpus has one source of benign code (`benign_code`: CPython's standard library and
some crates). Held out, it is the test of how often the classifier flags code it has never seen,
so its files must not also be training data. This script takes code from elsewhere: the Rust
crates of the repository's `Cargo.lock` (from the local cargo registry, which `cargo fetch`
fills) and the Python packages of the training environment (`.venv`, pinned by
requirements.txt), minus every crate that `benign_code` quotes. Texts are slices of whole lines,
500-2000 characters, at most three per file, drawn with the project seed.

Each row is `{"text", "label": "benign", "source", "license"}`; the source names the crate or
package and file, the licence is the crate's or package's own (from its metadata).

Usage: python local_negatives.py [--out work/local_code.jsonl] [--n 3000]
       [--min-chars 500 --max-chars 2000]

`--licences` slices the crates' and packages' licence, notice and copyright files instead
(`--n 1200 --min-chars 200 --max-chars 1500 --out work/local_licences.jsonl`): licence text
("must retain the above copyright notice", "you may not use this file") is in every repository an
agent reads, and is imperative enough to look like an instruction. Identical slices are written
once.

Short slices (`--min-chars 20 --max-chars 300 --out work/local_short.jsonl`) are the one- to
few-line snippets a tool often returns (a config line, a query, a log line).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import tomllib
from pathlib import Path

import common as c

REGISTRY = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "registry" / "src"
SITE = c.REPO / ".venv" / "lib" / "python3.11" / "site-packages"
# Tooling rather than code a tool output would show; and the CUDA wheels, which are data.
SKIP_PY = {"pip", "setuptools", "_distutils_hack", "pkg_resources", "nvidia", "cuda", "triton"}
MIN_CHARS, MAX_CHARS, PER_FILE = 500, 2000, 3


def quoted_crates(corpus: Path) -> set[str]:
    """Crate names that the shared benign_code source takes files from."""
    names = set()
    path = corpus / "benign_code.jsonl"
    if path.exists():
        for line in path.open(encoding="utf-8"):
            m = re.search(r"crate source: ([A-Za-z0-9_\-]+?)-\d+\.\d+[^/]*/", json.loads(line).get("source", ""))
            if m:
                names.add(m.group(1))
    return names


LICENCE_NAMES = ("LICENSE*", "LICENCE*", "COPYING*", "NOTICE*", "COPYRIGHT*")


def rust_files(exclude: set[str], patterns: tuple[str, ...] = ("*.rs",)):
    lock = tomllib.loads((c.REPO / "Cargo.lock").read_text())
    for pkg in sorted(lock.get("package", []), key=lambda p: (p["name"], p["version"])):
        if pkg["name"] in exclude or "source" not in pkg:
            continue
        dirs = sorted(glob.glob(str(REGISTRY / "*" / f"{pkg['name']}-{pkg['version']}")))
        if not dirs:
            continue
        root = Path(dirs[0])
        try:
            lic = tomllib.loads((root / "Cargo.toml").read_text()).get("package", {}).get("license", "")
        except (OSError, tomllib.TOMLDecodeError):
            lic = ""
        for f in sorted({f for pattern in patterns for f in root.rglob(pattern) if f.is_file()}):
            yield f"crate {pkg['name']}-{pkg['version']}: {f.relative_to(root)}", f, lic or "see crate"


def python_files():
    if not SITE.is_dir():
        return
    licences = {}
    for meta in SITE.glob("*.dist-info/METADATA"):
        name, lic = meta.parent.name.split("-")[0].lower(), ""
        for line in meta.read_text(errors="replace").splitlines():
            if line.startswith(("License-Expression:", "License:")):
                lic = line.split(":", 1)[1].strip()[:80]
                break
            if not line:
                break
        licences[name] = lic
    for top in sorted(p for p in SITE.iterdir() if p.is_dir() and not p.name.endswith((".dist-info", ".libs"))):
        if top.name in SKIP_PY or top.name.startswith("__"):
            continue
        lic = licences.get(top.name.lower(), "") or "see package"
        for f in sorted(top.rglob("*.py")):
            yield f"python package {top.name}: {f.relative_to(SITE)}", f, lic


def python_licence_files():
    """The licence and notice files the Python packages ship in their ``.dist-info``."""
    if not SITE.is_dir():
        return
    for info in sorted(SITE.glob("*.dist-info")):
        name = info.name.split("-")[0]
        if name.lower() in SKIP_PY or name.lower().startswith("nvidia"):
            continue
        for f in sorted({f for pattern in LICENCE_NAMES for f in info.rglob(pattern) if f.is_file()}):
            yield f"python package {name}: {f.relative_to(SITE)}", f, "the file's own text"


def round_robin(files, rng: random.Random):
    """The files in a shuffled order that takes one file from each crate or package in turn, so
    that no large package (torch, tokio) dominates."""
    groups: dict[str, list] = {}
    for f in files:
        groups.setdefault(f[0].split(":")[0], []).append(f)
    order = sorted(groups)
    rng.shuffle(order)
    for g in order:
        rng.shuffle(groups[g])
    while order:
        for g in list(order):
            if groups[g]:
                yield groups[g].pop()
            else:
                order.remove(g)


def slices(text: str, rng: random.Random, lo: int = MIN_CHARS, hi: int = MAX_CHARS, cap: int | None = None):
    """Up to PER_FILE disjoint runs of whole lines, each grown to a random length in lo..hi (it
    may overshoot by its last line); with ``cap``, runs longer than ``cap`` are skipped."""
    lines = text.splitlines(keepends=True)
    starts = list(range(len(lines)))
    rng.shuffle(starts)
    taken: list[tuple[int, int]] = []
    for s in starts:
        if len(taken) == PER_FILE:
            break
        want = rng.randint(lo, hi)
        e, size = s, 0
        while e < len(lines) and size < want:
            size += len(lines[e])
            e += 1
        if size < lo or (cap is not None and size > cap) or any(a < e and s < b for a, b in taken):
            continue
        chunk = "".join(lines[s:e]).strip("\n")
        if chunk.strip():
            taken.append((s, e))
            yield chunk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(c.WORK / "local_code.jsonl"))
    ap.add_argument("--n", type=int, default=3000, help="texts to write (half Rust, half Python)")
    ap.add_argument("--corpus", default=str(c.DEFAULT_CORPUS))
    ap.add_argument("--min-chars", type=int, default=MIN_CHARS)
    ap.add_argument("--max-chars", type=int, default=None,
                    help=f"longest slice wanted (default {MAX_CHARS}); given, longer slices are skipped")
    ap.add_argument("--licences", action="store_true",
                    help="slice the licence, notice and copyright files instead of code")
    a = ap.parse_args()
    rng = random.Random(c.SEED)
    exclude = quoted_crates(Path(a.corpus))
    out, seen = [], set()
    if a.licences:
        kinds = (rust_files(exclude, LICENCE_NAMES), python_licence_files())
    else:
        kinds = (rust_files(exclude), python_files())
    for files, share in ((list(kinds[0]), a.n // 2), (list(kinds[1]), a.n - a.n // 2)):
        got = 0
        for source, path, lic in round_robin(files, rng):
            if got >= share:
                break
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for chunk in slices(text, rng, a.min_chars, a.max_chars or MAX_CHARS, a.max_chars):
                # Licence texts repeat word for word across crates; code does not, and its output
                # stays as it was.
                if a.licences:
                    if chunk in seen:
                        continue
                    seen.add(chunk)
                out.append({"text": chunk, "label": "benign", "source": source, "license": lic})
                got += 1
                if got >= share:
                    break
        print(f"{got} texts from {len(files)} files")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as fh:
        for r in out:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} rows to {a.out} (excluded {len(exclude)} crates quoted by benign_code)")


if __name__ == "__main__":
    main()
