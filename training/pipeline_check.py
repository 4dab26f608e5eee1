"""The whole input-screening pipeline on long tool output, through `guardrail replay --kind input`.

Corpus LOSO numbers score one text at a time. What a deployment screens is often long tool
output, where the verdict is the maximum over many windows and the screener shows the
transformer only the `max_model_windows` windows the first tier ranks highest. This script
measures that, for a model directory, with the Rust binary:

- clean: 8 MB of the shared synthetic tool output (`gen_tool_output.py`, seed 42) cut into
  100 kB inputs at line breaks; every input is benign, so the denied share is the false-alarm
  rate on long output;
- planted: 2 MB (seed 42, the start of the same stream) cut the same way, once as is and once per attack source with one of
  that source's `injection` texts (in file order) inserted at the line break nearest the middle
  of each input;

- real text, when the machine has Debian's package documentation (`--docs`, default
  `/usr/share/doc`): the packages' changelogs and copyright files (licence text: imperative,
  "you must", "you may not"), none of which is training data (the standard licences they quote
  are, though, the same text as the licence files `local_negatives.py --licences` reads), cut the same way
  (`clean_changelogs`, `clean_copyright`, 4 MB each), and the first 2 MB of the changelogs
  again with one attack planted in each input (`planted_changelogs_<source>`);

each with the default window budget (4) and with every window scored (`max_model_windows = 0`).
Short inputs too: up to 3000 lines of prose (30-400 characters, four words or more, mostly
letters) drawn from each clean text above, one line per input (`lines_<text>`, budget only: a
line is one window). A tool result is often one such line.
The policy is the built-in default with `[input.model]` pointing at the model directory.
Results go to a JSON file that model_card.py quotes.

Usage: python pipeline_check.py [--model DIR] [--guardrail BIN] [--out work/pipeline.json]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import common as c

ATTACKS = ("spikee_seeds", "neuralchemy_core", "tensor_trust_attacks")
CHUNK = 100_000


def cut(text: str, size: int = CHUNK) -> list[str]:
    """Inputs of at most ``size`` bytes, each ending at a line break when one is in reach."""
    data = text.encode("utf-8")
    out, at = [], 0
    while at < len(data):
        end = min(len(data), at + size)
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        if end < len(data):
            nl = data.rfind(b"\n", at, end)
            if nl != -1:
                end = nl + 1
        out.append(data[at:end].decode("utf-8"))
        at = end
    return out


def plant(inputs: list[str], attacks: list[str]) -> list[str]:
    out = []
    for i, text in enumerate(inputs):
        data = text.encode("utf-8")
        half = data[: len(data) // 2]
        nl = half.rfind(b"\n")
        mid = len(half[: nl + 1].decode("utf-8", "ignore")) if nl != -1 else 0
        out.append(text[:mid] + attacks[i % len(attacks)] + "\n" + text[mid:])
    return out


def attacks_of(shared: Path, source: str) -> list[str]:
    """The ``injection`` texts of one shared corpus file, in file order."""
    with open(shared / "corpora" / "injection" / f"{source}.jsonl", encoding="utf-8") as fh:
        return [r["text"] for r in map(json.loads, fh) if r.get("label") == "injection"]


def docs_text(root: Path, names: tuple[str, ...], per_file: int, total: int) -> str:
    """Up to ``total`` characters: the first ``per_file`` characters (whole lines) of the first of
    ``names`` found in each package directory under ``root``, packages in name order."""
    parts, size = [], 0
    for pkg in sorted(p for p in root.iterdir() if p.is_dir()):
        for name in names:
            f = pkg / name
            if not f.is_file():
                continue
            if name.endswith(".gz"):
                with gzip.open(f) as fh:
                    data = fh.read()
            else:
                data = f.read_bytes()
            text = data.decode("utf-8", "replace")[:per_file]
            text = text[: text.rfind("\n") + 1] or text
            parts.append(text)
            size += len(text)
            break
        if size >= total:
            break
    return "".join(parts)[:total]


def prose_lines(inputs: list[str], n: int = 3000) -> list[str]:
    """Up to ``n`` lines of prose from ``inputs``, in a seeded random order."""
    import random

    out = []
    for text in inputs:
        for line in text.split("\n"):
            line = line.strip()
            if 30 <= len(line) <= 400 and len(line.split()) >= 4 and \
                    sum(ch.isalpha() or ch == " " for ch in line) >= 0.85 * len(line):
                out.append(line)
    random.Random(c.SEED).shuffle(out)
    return out[:n]


def write_rows(path: Path, texts: list[str], label: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for t in texts:
            fh.write(json.dumps({"text": t, "label": label, "source": path.stem}) + "\n")


def policy(model: Path, windows: int | None) -> str:
    text = (c.REPO / "guardrail-core" / "policy" / "default.toml").read_text()
    sums = hashlib.sha256((model / "SHA256SUMS").read_bytes()).hexdigest()
    text = re.sub(r'(?m)^dir = "builtin:injection-minilm"', f'dir = "{model}"', text)
    text = re.sub(r'(?m)^sha256sums = "[0-9a-f]{64}"', f'sha256sums = "{sums}"', text)
    if windows is not None:
        text = re.sub(r"(?m)^# max_model_windows = 4.*$", f"max_model_windows = {windows}", text)
    return text


def replay(binary: Path, config: Path, corpus: Path) -> dict:
    run = subprocess.run([str(binary), "replay", "--kind", "input", "--config", str(config), "--corpus",
                          str(corpus)], capture_output=True, text=True)
    lines = [l for l in run.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"guardrail replay failed ({run.returncode}): {run.stderr[-2000:]}")
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=str(c.REPO / "fixtures" / "models" / "injection-minilm"))
    ap.add_argument("--guardrail", default=str(c.REPO / "target" / "release" / "guardrail"))
    ap.add_argument("--shared", default=str(c.REPO.parent / "shared"))
    ap.add_argument("--docs", default="/usr/share/doc", help="Debian package documentation, for real text")
    ap.add_argument("--out", default=str(c.WORK / "pipeline.json"))
    a = ap.parse_args()
    model, shared = Path(a.model).resolve(), Path(a.shared)
    work = c.WORK / "pipeline"
    work.mkdir(parents=True, exist_ok=True)
    gen = shared / "tools" / "gen_tool_output.py"
    texts = {}
    for name, mb, seed in (("clean8", 8, 42), ("clean2", 2, 42)):
        txt = work / f"{name}.txt"
        subprocess.run([sys.executable, str(gen), str(txt), str(work / f"{name}.planted.jsonl"), str(mb),
                        "10000", str(seed)], check=True, stdout=subprocess.DEVNULL)
        texts[name] = cut(txt.read_text(encoding="utf-8"))
    corpora = {"clean_8mb": (texts["clean8"], "benign"), "clean_2mb": (texts["clean2"], "benign")}
    for src in ATTACKS:
        corpora[f"planted_{src}"] = (plant(texts["clean2"], attacks_of(shared, src)), "injection")
    docs = Path(a.docs)
    if docs.is_dir():
        changelogs = docs_text(docs, ("changelog.Debian.gz", "changelog.gz", "changelog"), 12_000, 4_000_000)
        copyright = docs_text(docs, ("copyright",), 12_000, 4_000_000)
        corpora["clean_changelogs"] = (cut(changelogs), "benign")
        corpora["clean_copyright"] = (cut(copyright), "benign")
        for src in ATTACKS:
            corpora[f"planted_changelogs_{src}"] = (plant(cut(changelogs[:2_000_000]), attacks_of(shared, src)),
                                                    "injection")
    for name in [k for k in corpora if k.startswith("clean_") and k != "clean_2mb"]:
        corpora[f"lines_{name[len('clean_'):]}"] = (prose_lines(corpora[name][0]), "benign")
    configs = {}
    for label, windows in (("budget", None), ("every_window", 0)):
        p = work / f"policy-{label}.toml"
        p.write_text(policy(model, windows))
        configs[label] = p
    result = {f"{f}_sha256": hashlib.sha256((model / f).read_bytes()).hexdigest() for f in ("model.onnx", "tier1.bin")}
    result.update({"input_bytes": CHUNK, "runs": {}})
    for name, (inputs, label) in corpora.items():
        path = work / f"{name}.jsonl"
        write_rows(path, inputs, label)
        for cfg, p in configs.items():
            if name.startswith("lines_") and cfg != "budget":
                continue
            r = replay(Path(a.guardrail), p, path)
            share = r["tpr"] if label == "injection" else r["fpr"]
            stopped = round(share * r["cases"])
            result["runs"][f"{name}/{cfg}"] = {"inputs": r["cases"], "stopped": stopped, "errors": r.get("errors")}
            print(f"{name:32s} {cfg:13s} stopped {stopped:3d} of {r['cases']}", flush=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
