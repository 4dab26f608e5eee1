"""Leave-one-source-out evaluation of the injection pipeline.

For every source S of the corpus: train on the other sources (benign texts of each training
source split 80/20: 80% to fit, 20% held back), choose the threshold for <= 1% FPR on the
held-back benign texts, then score S. Reported per source:

  tpr      share of S's injection texts at or above the threshold
  fpr      share of S's benign texts at or above the threshold
  auc_x    AUC of S's injections against the held-back benign texts of the *other* sources
           (pairs one source's attacks with foreign benign text: no length shortcut inside S)
  auc_in, tpr1_in   AUC and TPR at 1% FPR inside S (both labels of S), when S has both

Models evaluated: ``tier2`` (truncated MiniLM, mean pooling, logistic-regression head; the
shipped ONNX graph), ``tier1`` (hashed n-gram logistic regression), ``cascade`` (tier 1 gates
which windows reach tier 2; a window tier 1 rejects counts as score 0), ``combo`` (window score =
sigmoid of the mean of both models' logits) and ``cascade_combo`` (combo behind the tier-1 gate).

Usage: python eval.py [--corpus DIR] [--depth 2] [--emb torch|int8] [--out work/loso.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import common as c
import features as f
import heads as h


KEYS = ("tier2", "tier1", "cascade", "combo", "cascade_combo")


def combine(s1, s2):
    """Mean of the two models' logits, as a probability: sigmoid((logit(p1) + logit(p2)) / 2)."""
    eps = 1e-7
    p1, p2 = np.clip(s1, eps, 1 - eps), np.clip(s2, eps, 1 - eps)
    return c.sigmoid(0.5 * (np.log(p1 / (1 - p1)) + np.log(p2 / (1 - p2))))


def tier1_gate(t1_scores_pos_windows, keep=0.99):
    """Tier-1 threshold that lets ``keep`` of the positive training windows through."""
    s = np.sort(t1_scores_pos_windows)
    return float(s[int(np.floor((1 - keep) * len(s)))])


def run(rows, X, Xs, depth_label, t1_keep=0.99, sources=None, log=print, tier2_fold=None, on_fold=None):
    """LOSO over ``sources`` (default: all). ``tier2_fold(source, fit_rows, need_rows)``, when
    given, replaces the frozen-embedding head: it trains on ``fit_rows`` and returns {name: window
    scores} (arrays over all windows, filled at least for the windows of ``need_rows``); the
    first is the primary ``tier2``, the others are reported as ``tier2@name`` and
    ``cascade@name``."""
    win_row, _, _ = f.window_table(rows)
    per_row = h.window_index(win_row, len(rows))
    all_sources = sorted({r.source for r in rows})
    labels = np.array([r.label for r in rows])
    srcs = np.array([r.source for r in rows])
    cats = np.array([r.category for r in rows])
    results = []
    for s in sources or all_sources:
        t0 = time.time()
        # Not the held-out source, nor its attacks planted in other text (plant.py).
        train_idx = np.where((srcs != s) & (cats != f"planted:{s}"))[0]
        test_idx = np.where(srcs == s)[0]
        fit_rows, cal_rows = h.split_calibration(rows, train_idx)
        extra = {}
        if tier2_fold is not None:
            luts = tier2_fold(s, fit_rows, np.concatenate([cal_rows, test_idx]))
            names = list(luts)
            lut = luts[names[0]]
            extra = {n: luts[n] for n in names[1:]}
            m2, score2 = None, lambda m, w: lut[w]
        elif X is not None:
            fit2, score2 = h.dense_lr(X)
            m2 = h.mil_fit(rows, per_row, fit_rows, fit2, score2)
        else:  # tier 1 only
            m2, score2 = None, lambda m, w: np.zeros(len(w))
        if Xs is not None:
            fit1, score1 = h.sparse_lr(Xs)
            m1 = h.mil_fit(rows, per_row, fit_rows, fit1, score1)
        else:  # tier 2 only
            m1, score1 = None, lambda m, w: np.ones(len(w))
        # tier-1 gate from training windows of injection texts (their top tier-1 window)
        pos_top = np.array([score1(m1, per_row[i]).max() for i in fit_rows if labels[i] == 1])
        gate = tier1_gate(pos_top, t1_keep) if Xs is not None else 0.0

        def scores(idx):
            out = {}
            wins = np.concatenate([per_row[i] for i in idx])
            s2, s1 = score2(m2, wins), score1(m1, wins)
            sc = np.where(s1 >= gate, s2, 0.0)
            cb = combine(s1, s2)
            cbg = np.where(s1 >= gate, cb, 0.0)
            k = 0
            res = {"tier2": [], "tier1": [], "cascade": [], "combo": [], "cascade_combo": []}
            ex = {n: lut_n[wins] for n, lut_n in extra.items()}
            for n in extra:
                res[f"tier2@{n}"], res[f"cascade@{n}"] = [], []
            passed = 0
            for i in idx:
                n = len(per_row[i])
                for name, e in ex.items():
                    res[f"tier2@{name}"].append(e[k : k + n].max())
                    res[f"cascade@{name}"].append(np.where(s1[k : k + n] >= gate, e[k : k + n], 0.0).max())
                res["tier2"].append(s2[k : k + n].max())
                res["tier1"].append(s1[k : k + n].max())
                res["cascade"].append(sc[k : k + n].max())
                res["combo"].append(cb[k : k + n].max())
                res["cascade_combo"].append(cbg[k : k + n].max())
                k += n
            passed = float((s1 >= gate).mean())
            for key, v in res.items():
                out[key] = np.array(v)
            return out, passed, len(wins)

        cal, cal_pass, _ = scores(cal_rows)
        te, te_pass, te_wins = scores(test_idx)
        y = labels[test_idx]
        row = {"source": s, "n_inj": int(y.sum()), "n_benign": int((1 - y).sum()),
               "tier1_gate": gate, "gate_pass_windows_test": te_pass, "gate_pass_windows_cal": cal_pass}
        for key in cal:
            t = h.threshold_at_fpr(cal[key], 0.01)
            pos, neg = te[key][y == 1], te[key][y == 0]
            row[key] = {
                "threshold": t,
                "tpr": float((pos >= t).mean()) if len(pos) else None,
                "fpr": float((neg >= t).mean()) if len(neg) else None,
                "auc_x": h.auc(pos, cal[key]) if len(pos) else None,
                "auc_in": h.auc(pos, neg),
                "tpr1_in": h.tpr_at_fpr(pos, neg),
            }
        results.append(row)
        if on_fold is not None:
            on_fold(results)
        log(f"[{depth_label}] {s:36s} inj={row['n_inj']:5d} ben={row['n_benign']:5d} "
            + " | ".join(f"{k}: tpr={_f(row[k]['tpr'])} fpr={_f(row[k]['fpr'])} aucx={_f(row[k]['auc_x'])} "
                         f"aucin={_f(row[k]['auc_in'])} tpr1in={_f(row[k]['tpr1_in'])}"
                         for k in cal)
            + f" | gate pass test={te_pass:.3f} cal={cal_pass:.3f} ({time.time() - t0:.0f}s)")
    return results


def _f(v):
    return "  -  " if v is None else f"{v:.3f}"


def summary(results, rows):
    both = {r.source for r in rows if r.label == 1} & {r.source for r in rows if r.label == 0}
    out = {}
    keys = [k for k in results[0] if k in KEYS or "@" in k] if results else []
    for key in keys:
        rs = [r for r in results if r["source"] in both]
        inj = [r for r in results if r["n_inj"]]
        docs = [r for r in results if r["source"] in ("benign_code", "benign_rust_docs")]
        out[key] = {
            "mean_tpr_both_labels": float(np.mean([r[key]["tpr"] for r in rs])) if rs else None,
            "mean_tpr1_in_both_labels": float(np.mean([r[key]["tpr1_in"] for r in rs])) if rs else None,
            "mean_tpr_all_injection_sources": float(np.mean([r[key]["tpr"] for r in inj])) if inj else None,
            "fpr_docs_code": {r["source"]: r[key]["fpr"] for r in docs},
        }
    return out


def merge(paths, out, corpus, extra):
    """One LOSO file from several partial ones: per-source rows (a later file wins), only the
    model keys every fold has, settings from the first file."""
    parts = [json.loads(open(p).read()) for p in paths]
    for p, part in zip(paths, parts):
        if part.get("partial"):
            raise SystemExit(f"{p} is a partial run")
    by = {}
    for part in parts:
        for r in part["per_source"]:
            by[r["source"]] = r
    rows, own = c.load_with_extra(corpus, extra)
    res = [by[s] for s in own if s in by]
    common = set.intersection(*(set(r) for r in res))
    res = [{k: v for k, v in r.items() if k in common} for r in res]
    head = {k: v for k, v in parts[0].items() if k not in ("per_source", "summary", "partial")}
    head["alpha"] = head["alpha"].split(",")[0]
    with open(out, "w") as fh:
        json.dump({**head, "partial": len(res) < len(own), "per_source": res, "summary": summary(res, rows)},
                  fh, indent=1)
    print(f"{len(res)} of {len(own)} sources -> {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--emb", default="torch", help="torch (fp32), 'int8all' (cached pooled_<depth> of the int8 "
                    "3-layer all-outputs graph) or a path to an ONNX encoder with a 'pooled' output")
    ap.add_argument("--no-tier1", action="store_true")
    ap.add_argument("--sources", nargs="*")
    ap.add_argument("--extra", nargs="*", default=[],
                    help="training-only files (e.g. work/local_code.jsonl, work/planted.jsonl): in every fold's "
                    "training and calibration data, never a test fold")
    ap.add_argument("--t1-keep", type=float, default=0.99)
    ap.add_argument("--out", default=None)
    ap.add_argument("--finetune", type=int, default=0,
                    help="fine-tune the encoder for N epochs in every fold (finetune.tuned_state); "
                    "the head is the fine-tuned one and windows are scored by its int8 export")
    ap.add_argument("--ft-samples", type=int, default=16000, help="windows drawn per fine-tuning epoch")
    ap.add_argument("--alpha", default="1",
                    help="with --finetune: weight interpolation between the frozen start (0) and the tuned "
                    "model (1); a comma-separated list scores each, the first is the primary")
    ap.add_argument("--merge", nargs="*", default=[],
                    help="instead of evaluating: join the folds of earlier --out files (runs over different "
                    "--sources with the same settings) into one --out, in source order, summary recomputed")
    a = ap.parse_args()
    c.seed_everything()
    if a.merge:
        return merge(a.merge, a.out, a.corpus, a.extra)
    rows, own_sources = c.load_with_extra(a.corpus, a.extra)
    xtag = "-x" + f.corpus_key(rows)[:8] if a.extra else ""  # fold states depend on the extra rows
    if a.emb == "int8all":
        tag = f"int8all-L{a.depth}"
        X = np.load(c.WORK / f"emb-int8-base-L3all-pooled_{a.depth}-{f.corpus_key(rows)}-{c.MAX_LEN}-{c.STRIDE}.npy")
    elif a.emb == "torch":
        X = f.torch_embeddings(rows, depths=(a.depth,))[a.depth]
        tag = f"torch-L{a.depth}"
    else:
        tag = "onnx-" + a.emb.replace("/", "_")
        X = f.onnx_embeddings(rows, a.emb, tag)
    win_row, win_ids, spans = f.window_table(rows)
    tier2_fold = None
    if a.finetune:
        import finetune

        X = f.torch_embeddings(rows, depths=(a.depth,))[a.depth]
        alphas = [float(x) for x in a.alpha.split(",")]
        tag = f"ft{a.finetune}x{a.ft_samples}-a{alphas[0]:g}-int8-L{a.depth}"
        per_row = h.window_index(win_row, len(rows))

        def tier2_fold(source, fit_rows, need_rows):
            wins = np.concatenate([per_row[i] for i in need_rows])
            head0, tuned = finetune.tuned_state(
                rows, per_row, win_ids, X, fit_rows, a.depth, a.finetune, a.ft_samples,
                f"fold-{source}{xtag}", cache=True, log=lambda *_: None)
            luts = {}
            for al in alphas:
                int8, _, coef, bias, _ = finetune.interpolated_int8(head0, tuned, a.depth, al, f"fold-{source}{xtag}")
                luts[f"a{al:g}"] = finetune.window_scores(int8, coef, bias, win_ids, wins, len(win_ids))
            return luts
    Xs = None if a.no_tier1 else c.tier1_matrix([rows[i].text[s:e] for i, (s, e) in zip(win_row, spans)])

    def write(res, partial):
        if not a.out:
            return
        summ = summary(res, rows)
        with open(a.out, "w") as fh:
            json.dump({"embeddings": tag, "extra": a.extra, "finetune_epochs": a.finetune, "ft_samples": a.ft_samples,
                       "alpha": a.alpha, "t1_keep": a.t1_keep, "max_len": c.MAX_LEN, "stride": c.STRIDE,
                       "partial": partial, "per_source": res, "summary": summ}, fh, indent=1)

    res = run(rows, X, Xs, tag, t1_keep=a.t1_keep, sources=a.sources or own_sources, tier2_fold=tier2_fold,
              on_fold=lambda r: write(r, True))
    print(json.dumps(summary(res, rows), indent=1))
    write(res, False)


if __name__ == "__main__":
    main()
