"""ONNX graph building: the truncated encoder (pooled output), its int8 quantization, and the
head appended to the quantized graph so evaluation and the shipped model share one encoder."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import common as c

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
OPSET = 17


def export_pooled_fp32(enc, path: Path, every_layer: bool = False) -> None:
    """torch -> ONNX with output ``pooled`` [batch, 384] (mean over attention_mask).
    With ``every_layer``, outputs ``pooled_1`` .. ``pooled_N``: the pooled output after each layer
    (the int8 numbers of pooled_k equal those of a k-layer graph: same ops, same weights)."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, e):
            super().__init__()
            self.e = e

        def forward(self, input_ids, attention_mask, token_type_ids):
            if every_layer:
                return tuple(self.e.pooled(input_ids, attention_mask, token_type_ids, all_layers=True))
            return self.e.pooled(input_ids, attention_mask, token_type_ids)

    ids = torch.tensor([[c.CLS_ID, 7592, 2088, c.SEP_ID], [c.CLS_ID, 7592, c.SEP_ID, 0]])
    mask = (ids != 0).long()
    outs = [f"pooled_{i + 1}" for i in range(len(enc.layers))] if every_layer else ["pooled"]
    axes = {k: {0: "batch", 1: "sequence"} for k in INPUTS}
    axes.update({o: {0: "batch"} for o in outs})
    torch.onnx.export(Pooled(enc.eval()), (ids, mask, torch.zeros_like(ids)), str(path),
                      input_names=INPUTS, output_names=outs, dynamic_axes=axes,
                      opset_version=OPSET, dynamo=False, do_constant_folding=True)


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization (onnxruntime.quantization.quantize_dynamic): MatMul weights and
    the embedding tables (Gather), signed int8, per output channel, full 8-bit range; activations
    are quantized to uint8 at run time. Measured on 150 corpus windows against the fp32 graph:
    pooled-embedding cosine mean 0.997 (min 0.987) per channel, versus 0.970 per tensor and 0.916
    per tensor with the 7-bit reduced range, so per channel it is."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=False, op_types_to_quantize=["MatMul", "Gather"])


def append_head(pooled_model: Path, coef: np.ndarray, bias: float, dst: Path) -> None:
    """Add ``logits = pooled @ W + b`` with W = [-coef/2, +coef/2] (so softmax(logits)[1] equals
    sigmoid(coef . pooled + bias)), make ``logits`` [batch, 2] the only output. fp32, not quantized."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(pooled_model))
    g = m.graph
    W = np.stack([-coef / 2, coef / 2], axis=1).astype(np.float32)  # [384, 2]
    b = np.array([-bias / 2, bias / 2], np.float32)
    g.initializer.extend([numpy_helper.from_array(W, "head.W"), numpy_helper.from_array(b, "head.b")])
    g.node.extend([
        helper.make_node("MatMul", ["pooled", "head.W"], ["head.z"], name="head/MatMul"),
        helper.make_node("Add", ["head.z", "head.b"], ["logits"], name="head/Add"),
    ])
    while len(g.output):
        g.output.pop()
    g.output.extend([helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])])
    m.producer_name = "guardrail-training"
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def session(path: Path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    precise(so)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def int8_saturates() -> bool:
    """Whether ONNX Runtime's default int8 kernel saturates here: x86 without VNNI adds pairs of
    u8 x s8 products in 16-bit lanes (the Rust runtime's ``int8_saturates``)."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    flags = next((l.split(":", 1)[1].split() for l in cpuinfo.splitlines() if l.startswith("flags")), [])
    return not ({"avx512_vnni", "avx_vnni"} & set(flags))


def precise(so) -> None:
    """Exact int8 products on every x86 CPU, as the Rust runtime asks: where the default kernel
    saturates, the session uses the exact (slower) u8 x u8 kernel, so the same model scores the
    same on CPUs with and without VNNI."""
    if int8_saturates():
        so.add_session_config_entry("session.x64quantprecision", "1")


def latency_ms(path: Path, seq_len: int, runs: int = 30, warmup: int = 5, threads: int = 1) -> dict:
    """p50/p90 latency of one window of ``seq_len`` tokens (batch 1)."""
    sess = session(path, threads)
    rng = np.random.RandomState(0)
    ids = rng.randint(1000, 29000, size=(1, seq_len)).astype(np.int64)
    ids[0, 0], ids[0, -1] = c.CLS_ID, c.SEP_ID
    feed = {n.name: (ids if n.name == "input_ids" else
                     np.ones_like(ids) if n.name == "attention_mask" else np.zeros_like(ids))
            for n in sess.get_inputs()}
    for _ in range(warmup):
        sess.run(None, feed)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        ts.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": float(np.percentile(ts, 50)), "p90_ms": float(np.percentile(ts, 90))}
