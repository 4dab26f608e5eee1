"""Embed every window of the corpus with the int8 encoder, pooled output after layers 1..3.

One 3-layer graph with outputs pooled_1..pooled_3 is exported from the base weights and quantized
exactly like the shipped model (onnx_build.quantize_int8); the output after layer k is the output
of the k-layer graph. Results: work/emb-int8-base-L3all-pooled_<k>-<corpus key>-<len>-<stride>.npy

Usage: python embed_all.py [--corpus DIR_OR_FILE]
"""

import argparse

import common as c
import features as f
import onnx_build as ob


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (1 onnxruntime thread each)")
    a = ap.parse_args()
    c.seed_everything()
    c.WORK.mkdir(parents=True, exist_ok=True)
    enc = c.build_encoder(3)
    fp32, int8 = c.WORK / "encoder-base-L3-all.onnx", c.WORK / "encoder-base-L3-all.int8.onnx"
    ob.export_pooled_fp32(enc, fp32, every_layer=True)
    ob.quantize_int8(fp32, int8)
    rows = c.load_corpus(a.corpus)
    f.onnx_embeddings(rows, int8, "int8-base-L3all", outputs=("pooled_1", "pooled_2", "pooled_3"),
                        jobs=a.jobs)


if __name__ == "__main__":
    main()
