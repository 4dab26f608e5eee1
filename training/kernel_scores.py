"""Adds to eval_texts.jsonl the probabilities the shipped model.onnx gives on a CPU with VNNI.

ONNX Runtime multiplies the int8 model's uint8 activations by its int8 weights on a kernel it
picks by CPU. Without VNNI (AVX2, AVX-512BW) the kernel adds pairs of products in 16-bit lanes
that saturate; with VNNI (AVX-VNNI, AVX-512 VNNI) or AMX it does not. The same model.onnx
therefore scores slightly differently on the two kinds of CPU. export.py writes the numbers of
the machine it runs on; run this on the other kind, with the same pinned onnxruntime, to record
its numbers under "vnni" (the Rust tests compare against the set that matches their CPU).

Usage (from the repository root, on a CPU with VNNI or AMX):
    python training/kernel_scores.py fixtures/models/injection-minilm
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c  # noqa: E402
import onnx_build as ob  # noqa: E402
from export import score_text  # noqa: E402


def cpu_has_vnni() -> bool:
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def main() -> None:
    out = Path(sys.argv[1])
    if not cpu_has_vnni():
        sys.exit("kernel_scores: this CPU has no VNNI; export.py's numbers are this kind's")
    sess = ob.session(out / "model.onnx")
    tok = c.load_tokenizer(out / "tokenizer.json")
    path = out / "eval_texts.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        probs = score_text(sess, tok, row["text"])
        row["vnni"] = {"window_probs": [round(p, 6) for p in probs], "prob": round(max(probs), 6)}
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for row in rows:
        print(f"{row['prob']:.6f} -> {row['vnni']['prob']:.6f}  {row['text'][:60]!r}")


if __name__ == "__main__":
    main()
