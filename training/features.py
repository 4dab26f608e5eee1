"""Window table and cached window embeddings for every corpus row.

Embeddings are the mean-pooled hidden states of the truncated encoder for each window
(one row per window), computed either with torch (fp32, all depths in one pass) or with an
exported ONNX encoder (the int8 graph that ships, run one window at a time as the runtime does).
"""

from __future__ import annotations

import hashlib
import pickle
import time

import numpy as np

import common as c


def corpus_key(rows) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(r.text.encode("utf-8", "surrogatepass"))
        h.update(bytes([r.label]))
    return h.hexdigest()[:16]


def window_table(rows, cache=True):
    """For every row, its windows. Returns (win_row, win_ids, win_span)."""
    c.WORK.mkdir(parents=True, exist_ok=True)
    path = c.WORK / f"windows-{corpus_key(rows)}-{c.MAX_LEN}-{c.STRIDE}.pkl"
    if cache and path.exists():
        return pickle.loads(path.read_bytes())
    tok = c.load_tokenizer()
    win_row, win_ids, win_span = [], [], []
    for i, r in enumerate(rows):
        for w in c.windows(tok, r.text):
            win_row.append(i)
            win_ids.append(np.asarray(w.ids, np.int32))
            win_span.append((w.start, w.end))
    out = (np.asarray(win_row), win_ids, win_span)
    if cache:
        path.write_bytes(pickle.dumps(out))
    return out


def _length_batches(win_ids, max_tokens=8192):
    order = np.argsort([len(x) for x in win_ids], kind="stable")
    batch = []
    for i in order:
        batch.append(i)
        if len(batch) * len(win_ids[i]) >= max_tokens:
            yield batch
            batch = []
    if batch:
        yield batch


def torch_embeddings(rows, depths=(1, 2, 3, 4, 6), cache=True):
    """{depth: float32 [n_windows, 384]} from the fp32 torch encoder (base weights)."""
    import torch

    win_row, win_ids, _ = window_table(rows)
    key = corpus_key(rows)
    paths = {d: c.WORK / f"emb-torch-L{d}-{key}-{c.MAX_LEN}-{c.STRIDE}.npy" for d in depths}
    if cache and all(p.exists() for p in paths.values()):
        return {d: np.load(p) for d, p in paths.items()}
    torch.set_num_threads(2)
    enc = c.build_encoder(max(depths))
    out = {d: np.zeros((len(win_ids), 384), np.float32) for d in depths}
    t0 = time.time()
    done = 0
    with torch.inference_mode():
        for b in _length_batches(win_ids):
            ids, mask, tt = c.batch_arrays([c.Window(list(win_ids[i]), 0, 0) for i in b])
            layers = enc.pooled(torch.from_numpy(ids), torch.from_numpy(mask), all_layers=True)
            for d in depths:
                out[d][b] = layers[d - 1].numpy()
            done += len(b)
            if done % 5000 < len(b):
                print(f"  embedded {done}/{len(win_ids)} windows, {time.time() - t0:.0f}s", flush=True)
    if cache:
        for d, p in paths.items():
            np.save(p, out[d])
    return out


def _embed_chunk(args):
    onnx_path, outputs, chunk = args
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    import onnx_build

    onnx_build.precise(so)
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    res = [np.zeros((len(chunk), 384), np.float32) for _ in outputs]
    t0 = time.time()
    for j, ids in enumerate(chunk):
        x = ids[None, :].astype(np.int64)
        got = sess.run(list(outputs), {"input_ids": x, "attention_mask": np.ones_like(x),
                                       "token_type_ids": np.zeros_like(x)})
        for r, g in zip(res, got):
            r[j] = g[0]
        if (j + 1) % 5000 == 0:
            print(f"  embedded {j + 1}/{len(chunk)} windows of a chunk, {time.time() - t0:.0f}s", flush=True)
    return res


def embed_windows(onnx_path, outputs, ids, jobs=1):
    """Outputs ``outputs`` [len(ids), 384] of an ONNX encoder for the windows ``ids``, one window
    per run, 1 intra-op thread per process; ``jobs`` processes take interleaved shares (same
    numbers as one process)."""
    parts = [list(range(k, len(ids), jobs)) for k in range(jobs)]
    tasks = [(onnx_path, tuple(outputs), [ids[i] for i in p]) for p in parts]
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs) as pool:
            got = pool.map(_embed_chunk, tasks)
    else:
        got = [_embed_chunk(tasks[0])]
    res = [np.zeros((len(ids), 384), np.float32) for _ in outputs]
    for p, g in zip(parts, got):
        for r, part in zip(res, g):
            r[p] = part
    return res


def onnx_embeddings(rows, onnx_path, tag, outputs=("pooled",), cache=True, jobs=1):
    """Pooled embeddings from an ONNX encoder with output(s) ``outputs`` [batch, 384], one window
    per run (as the runtime scores a short input), 1 intra-op thread per process; ``jobs``
    processes take interleaved shares of the windows (same numbers as one process). Returns one
    array per output name (a single array when one output is asked for)."""
    win_row, win_ids, _ = window_table(rows)
    paths = [c.WORK / f"emb-{tag}-{o}-{corpus_key(rows)}-{c.MAX_LEN}-{c.STRIDE}.npy" for o in outputs]
    if cache and all(p.exists() for p in paths):
        res = [np.load(p) for p in paths]
        return res[0] if len(res) == 1 else res
    res = embed_windows(onnx_path, outputs, win_ids, jobs)
    if cache:
        for p, r in zip(paths, res):
            np.save(p, r)
    return res[0] if len(res) == 1 else res
