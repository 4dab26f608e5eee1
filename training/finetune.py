"""Fine-tuning of the truncated encoder on windows (CPU, torch, 2 threads, deterministic).

Input windows: every window of the benign fit texts (negatives) and, for injection texts, the
window chosen by the frozen-encoder multiple-instance head (positives). Each epoch draws
``samples`` windows with probability proportional to heads.sample_weights (so a large source does
not drown a small one). The word/position/type embeddings stay frozen; the transformer layers
and the head train with AdamW. The head starts from the frozen-encoder logistic regression.
"""

from __future__ import annotations

import time

import numpy as np

import common as c
import heads as h


def finetune(rows, per_row, win_ids, neg_windows, pos_windows, depth, epochs, init_head,
             samples=16000, batch=32, lr=5e-5, head_lr=1e-3, log=print):
    import torch

    torch.set_num_threads(2)
    c.seed_everything()
    enc = c.build_encoder(depth)
    coef, bias = init_head
    with torch.no_grad():
        enc.head.weight.copy_(torch.tensor(np.stack([-coef / 2, coef / 2]), dtype=torch.float32))
        enc.head.bias.copy_(torch.tensor([-bias / 2, bias / 2], dtype=torch.float32))
    for p in (*enc.word.parameters(), *enc.pos.parameters(), *enc.typ.parameters(), *enc.ln.parameters()):
        p.requires_grad_(False)
    opt = torch.optim.AdamW([
        {"params": [p for p in enc.layers.parameters()], "lr": lr},
        {"params": list(enc.head.parameters()), "lr": head_lr},
    ], weight_decay=0.01)

    win = np.concatenate([np.asarray(neg_windows, np.int64), np.asarray(pos_windows, np.int64)])
    y = np.concatenate([np.zeros(len(neg_windows), np.int64), np.ones(len(pos_windows), np.int64)])
    row_of = np.zeros(sum(len(p) for p in per_row), np.int64)
    for i, p in enumerate(per_row):
        row_of[p] = i
    w = h.sample_weights([rows[i].source for i in row_of[win]], y)
    prob = w / w.sum()
    rng = np.random.RandomState(c.SEED)
    steps = samples // batch
    total = steps * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / total))
    loss_fn = torch.nn.CrossEntropyLoss()
    enc.train()
    t0 = time.time()
    for ep in range(epochs):
        draw = rng.choice(len(win), size=steps * batch, replace=True, p=prob)
        run = 0.0
        for s in range(steps):
            b = draw[s * batch:(s + 1) * batch]
            ids, mask, tt = c.batch_arrays([c.Window(list(win_ids[win[j]]), 0, 0) for j in b])
            logits = enc(torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(tt))
            loss = loss_fn(logits, torch.from_numpy(y[b]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(enc.parameters(), 1.0)
            opt.step()
            sched.step()
            run += loss.item()
            if (s + 1) % 100 == 0:
                log(f"  epoch {ep + 1} step {s + 1}/{steps} loss {run / 100:.4f} ({time.time() - t0:.0f}s)")
                run = 0.0
    enc.eval()
    return {k: v.detach().clone() for k, v in enc.state_dict().items()}


def tuned_state(rows, per_row, win_ids, X, fit_rows, depth, epochs, samples, tag, cache=False,
                log=print):
    """The fine-tuned recipe on ``fit_rows``: the multiple-instance head on frozen embeddings
    ``X`` picks the positive windows, then the encoder and head are fine-tuned from it. With
    ``cache``, the tuned state is kept in work/state-<tag>-...safetensors and reused. Returns
    (head0, tuned): the starting head (coef, bias) and the tuned state dict."""
    from safetensors.torch import load_file, save_file

    fit2, score2 = h.dense_lr(X)
    head0, neg, pos = h.mil_fit(rows, per_row, fit_rows, fit2, score2, return_windows=True)
    path = c.WORK / f"state-{tag}-L{depth}-{epochs}x{samples}.safetensors"
    if cache and path.exists():
        return head0, load_file(str(path))
    tuned = finetune(rows, per_row, win_ids, neg, pos, depth, epochs, head0, samples=samples, log=log)
    if cache:
        save_file({k: v.contiguous() for k, v in tuned.items()}, str(path))
    return head0, tuned


def interpolated_int8(head0, tuned, depth, alpha, tag):
    """Every weight as (1 - alpha) * start + alpha * tuned (start: the base encoder and
    ``head0``), exported to int8 exactly as the shipped graph is. Returns (int8 encoder path,
    fp32 encoder path, coef, bias, state): the window score is sigmoid(coef . pooled + bias), the
    head the export appends; ``state`` is the interpolated state dict."""
    import torch

    import onnx_build as ob

    start = c.base_state_dict(depth)
    coef0, bias0 = head0
    start["head.weight"] = torch.tensor(np.stack([-coef0 / 2, coef0 / 2]), dtype=torch.float32)
    start["head.bias"] = torch.tensor([-bias0 / 2, bias0 / 2], dtype=torch.float32)
    state = {k: (1 - alpha) * start[k].to(torch.float32) + alpha * v.to(torch.float32)
             if v.is_floating_point() else v for k, v in tuned.items()}
    enc = c.build_encoder(depth, state)
    fp32 = c.WORK / f"encoder-{tag}-a{alpha:g}-L{depth}.onnx"
    int8 = c.WORK / f"encoder-{tag}-a{alpha:g}-L{depth}.int8.onnx"
    ob.export_pooled_fp32(enc, fp32)
    ob.quantize_int8(fp32, int8)
    w = state["head.weight"].numpy().astype(np.float64)
    b = state["head.bias"].numpy().astype(np.float64)
    return int8, fp32, w[1] - w[0], float(b[1] - b[0]), state


def window_scores(int8, coef, bias, win_ids, wins, n_windows, jobs=2):
    """Scores of windows ``wins`` (one window per onnxruntime run, as the runtime scores a short
    input) in an array over all ``n_windows`` windows (NaN elsewhere)."""
    import features as f

    pooled = f.embed_windows(int8, ("pooled",), [win_ids[i] for i in wins], jobs)[0]
    out = np.full(n_windows, np.nan)
    out[np.asarray(wins, np.int64)] = c.sigmoid(pooled.astype(np.float64) @ coef + bias)
    return out
