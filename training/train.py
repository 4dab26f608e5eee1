"""Train the shipped injection classifier (CPU only, deterministic).

Steps (frozen encoder, the default):
 1. Truncate all-MiniLM-L6-v2 to its first --depth layers; export it to ONNX with a mean-pooled
    output and quantize it to int8 (work/encoder-base-L{depth}.int8.onnx).
 2. Embed every window of every corpus text with that int8 graph, one window per run -- exactly
    the numbers the shipped model computes.
 3. Hold back 20% of every source's benign texts; fit the logistic-regression head (multiple-
    instance rounds, heads.py) and the first-tier hashed n-gram model on the rest.
 4. Choose thresholds on the held-back benign texts: the text score (max over windows) threshold
    for <= 1% FPR, the tier-1 gate, the cascade threshold.
 5. Write work/final/: head.npz, tier1.npz, final.json (thresholds, calibration statistics).

With --finetune N, steps 1-3 for the transformer are finetune.tuned_state and
finetune.interpolated_int8 instead: the head fitted on frozen fp32 embeddings picks the positive
windows, encoder and head are fine-tuned together for N epochs of --ft-samples windows, every
weight becomes (1 - alpha) * start + alpha * tuned, and that encoder is exported to int8 with its
head; the held-back texts are scored by that int8 graph (eval.py --finetune N measures this same
recipe in every fold). The exported state goes to work/final/encoder_state.safetensors.

Usage: python train.py [--corpus DIR_OR_FILE] [--depth 2] [--finetune 0] [--ft-samples 16000]
                       [--alpha 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json

from pathlib import Path

import numpy as np

import common as c
import features as f
import heads as h
import onnx_build as ob


def file_sha(p) -> str:
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def build_int8_encoder(depth: int, state=None, tag="base"):
    c.WORK.mkdir(parents=True, exist_ok=True)
    enc = c.build_encoder(depth, state)
    fp32 = c.WORK / f"encoder-{tag}-L{depth}.onnx"
    int8 = c.WORK / f"encoder-{tag}-L{depth}.int8.onnx"
    ob.export_pooled_fp32(enc, fp32)
    ob.quantize_int8(fp32, int8)
    return enc, fp32, int8


def embeddings(rows, int8, tag, depth):
    """Window embeddings of the int8 encoder ``int8``. For the base encoder, eval.py's cached
    pooled_<depth> output of the all-layers int8 graph is reused when the shipped graph reproduces
    it on a sample of windows (same ops and weights, so it does, to float rounding)."""
    own = f"int8-{tag}-L{depth}-{file_sha(int8)[:12]}"
    shared = c.WORK / f"emb-int8-base-L3all-pooled_{depth}-{f.corpus_key(rows)}-{c.MAX_LEN}-{c.STRIDE}.npy"
    if tag == "base" and shared.exists():
        X = np.load(shared)
        _, win_ids, _ = f.window_table(rows)
        sess = ob.session(int8)
        rng = np.random.RandomState(c.SEED)
        diffs = []
        for i in rng.choice(len(win_ids), 200, replace=False):
            x = win_ids[i][None, :].astype(np.int64)
            got = sess.run(["pooled"], {"input_ids": x, "attention_mask": np.ones_like(x),
                                        "token_type_ids": np.zeros_like(x)})[0][0]
            diffs.append(float(np.abs(got - X[i]).max()))
        print(f"reuse check: max abs diff {max(diffs):.2e} over 200 windows")
        if max(diffs) < 1e-4:
            return X
    return f.onnx_embeddings(rows, int8, own)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--finetune", type=int, default=0, help="fine-tuning epochs (0 = frozen encoder)")
    ap.add_argument("--ft-samples", type=int, default=16000, help="windows drawn per fine-tuning epoch")
    ap.add_argument("--alpha", type=float, default=1.0,
                    help="with --finetune: weight interpolation between the frozen start (0) and the tuned model (1)")
    ap.add_argument("--t1-keep", type=float, default=0.99)
    ap.add_argument("--extra", nargs="*", default=[],
                    help="training-only benign files (e.g. work/local_code.jsonl), as in eval.py")
    a = ap.parse_args()
    c.seed_everything()
    rows, _ = c.load_with_extra(a.corpus, a.extra)
    win_row, win_ids, spans = f.window_table(rows)
    per_row = h.window_index(win_row, len(rows))
    all_idx = np.arange(len(rows))
    fit_rows, cal_rows = h.split_calibration(rows, all_idx)

    state = None
    if a.finetune:
        import finetune

        # The recipe eval.py --finetune measures in every fold: positives chosen by the
        # frozen-encoder head (fp32 embeddings), encoder and head tuned together, weights
        # interpolated toward the start by --alpha; windows are scored by the int8 export.
        X = f.torch_embeddings(rows, depths=(a.depth,))[a.depth]
        tag = f"ft{a.finetune}x{a.ft_samples}" + ("-x" + f.corpus_key(rows)[:8] if a.extra else "")
        head0, tuned = finetune.tuned_state(
            rows, per_row, win_ids, X, fit_rows, a.depth, a.finetune, a.ft_samples, tag, cache=True)
        int8, fp32, coef, bias, state = finetune.interpolated_int8(head0, tuned, a.depth, a.alpha, tag)
        lut = finetune.window_scores(int8, coef, bias, win_ids,
                                     np.concatenate([per_row[i] for i in cal_rows]), len(win_ids))

        def score2(_model, w):
            return lut[w]
    else:
        _, fp32, int8 = build_int8_encoder(a.depth)
        tag = "base"
        X = embeddings(rows, int8, tag, a.depth)
        fit2, score2 = h.dense_lr(X)
        coef, bias = h.mil_fit(rows, per_row, fit_rows, fit2, score2)
    win_text = [rows[i].text[s:e] for i, (s, e) in zip(win_row, spans)]
    Xs = c.tier1_matrix(win_text)
    fit1, score1 = h.sparse_lr(Xs)
    t1w, t1b = h.mil_fit(rows, per_row, fit_rows, fit1, score1)

    labels = np.array([r.label for r in rows])
    pos_top = np.array([score1((t1w, t1b), per_row[i]).max() for i in fit_rows if labels[i] == 1])
    gate = float(np.sort(pos_top)[int(np.floor((1 - a.t1_keep) * len(pos_top)))])

    def text_scores(idx):
        wins = np.concatenate([per_row[i] for i in idx])
        s2, s1 = score2((coef, bias), wins), score1((t1w, t1b), wins)
        out = {"tier2": [], "tier1": [], "cascade": []}
        k = 0
        for i in idx:
            n = len(per_row[i])
            out["tier2"].append(s2[k:k + n].max())
            out["tier1"].append(s1[k:k + n].max())
            out["cascade"].append(np.where(s1[k:k + n] >= gate, s2[k:k + n], 0.0).max())
            k += n
        return {k: np.array(v) for k, v in out.items()}, float((s1 >= gate).mean())

    cal, cal_pass = text_scores(cal_rows)
    thr = {k: h.threshold_at_fpr(v, 0.01) for k, v in cal.items()}
    cal_by_src = {}
    for s in sorted({rows[i].source for i in cal_rows}):
        m = np.array([rows[i].source == s for i in cal_rows])
        wins = np.concatenate([per_row[i] for i in cal_rows[m]])
        cal_by_src[s] = {"n": int(m.sum()), **{k: float((cal[k][m] >= thr[k]).mean()) for k in cal},
                         "gate_pass_windows": float((score1((t1w, t1b), wins) >= gate).mean()),
                         "windows": int(len(wins))}
    out_dir = c.WORK / "final"
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "head.npz", coef=coef, bias=bias)
    np.savez(out_dir / "tier1.npz", coef=t1w.astype(np.float32), bias=t1b)
    info = {
        "depth": a.depth, "finetune_epochs": a.finetune, "ft_samples": a.ft_samples,
        "alpha": a.alpha if a.finetune else None, "encoder_tag": tag,
        "extra": [str(Path(p).resolve()) for p in a.extra],
        "encoder_int8": str(int8), "encoder_fp32": str(fp32), "encoder_int8_sha256": file_sha(int8),
        "threshold": thr["tier2"], "tier1_threshold": thr["tier1"], "cascade_threshold": thr["cascade"],
        "tier1_gate": gate, "tier1_keep": a.t1_keep, "gate_pass_windows_cal": cal_pass,
        "n_fit_rows": int(len(fit_rows)), "n_cal_rows": int(len(cal_rows)),
        "calibration_fpr_by_source": cal_by_src,
    }
    if state is not None:
        from safetensors.torch import save_file

        save_file(state, str(out_dir / "encoder_state.safetensors"))
    (out_dir / "final.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
