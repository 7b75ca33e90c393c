#!/usr/bin/python3
"""gguf_synth.py — writes a GGUF file (version 3, architecture llama) with random quantized blocks, for
measuring memory and speed at shapes the llama.cpp-made fixtures do not have. The weights are random
bytes with small fp16 scales: good for RSS and timing, meaningless as a model.

usage: gguf_synth.py OUT.gguf [--dim 1024] [--hidden 2816] [--layers 8] [--heads 16] [--kv-heads 4]
                     [--vocab 512] [--type q4_k] [--seed 1]
Linear layers of the blocks in --type (q4_0, q8_0, q4_k, q6_k); token embedding F32 (tied), norms F32."""
import argparse
import struct

import numpy as np

TYPES = {"q4_0": (2, 32, 18, [0]), "q8_0": (8, 32, 34, [0]), "q4_k": (12, 256, 144, [0, 2]),
         "q6_k": (14, 256, 210, [208])}  # ggml number, block, bytes, offsets of fp16 scales


def s(b):
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, val):
    out = s(key.encode()) + struct.pack("<I", vtype)
    if vtype == 8:
        return out + s(val.encode())
    return out + struct.pack({4: "<I", 6: "<f"}[vtype], val)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    for k, v in [("dim", 1024), ("hidden", 2816), ("layers", 8), ("heads", 16), ("kv-heads", 4), ("vocab", 512),
                 ("seed", 1)]:
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--type", default="q4_k", choices=sorted(TYPES))
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    gnum, block, nbytes, scale_at = TYPES[a.type]
    hd = a.dim // a.heads
    kvs = [kv("general.architecture", 8, "llama"), kv("llama.embedding_length", 4, a.dim),
           kv("llama.feed_forward_length", 4, a.hidden), kv("llama.block_count", 4, a.layers),
           kv("llama.attention.head_count", 4, a.heads), kv("llama.attention.head_count_kv", 4, a.kv_heads),
           kv("llama.context_length", 4, 2048), kv("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
           kv("llama.vocab_size", 4, a.vocab)]
    tensors = []  # (name, ne list, ggml type, bytes)

    def f32(name, shape):
        arr = (np.ones(shape) if len(shape) == 1 else rng.normal(0, 0.02, shape[::-1])).astype("<f4")
        tensors.append((name, shape, 0, arr.tobytes()))

    def quant(name, rows, cols):
        nb = rows * cols // block
        d = rng.integers(0, 256, size=(nb, nbytes), dtype=np.uint8)
        for at in scale_at:
            h = (0x1800 + rng.integers(0, 0x400, size=nb)).astype("<u2")
            d[:, at:at + 2] = h.view(np.uint8).reshape(nb, 2)
        tensors.append((name, [cols, rows], gnum, d.tobytes()))

    f32("token_embd.weight", [a.dim, a.vocab])
    f32("output_norm.weight", [a.dim])
    for l in range(a.layers):
        f32(f"blk.{l}.attn_norm.weight", [a.dim])
        f32(f"blk.{l}.ffn_norm.weight", [a.dim])
        for n, r, c in [("attn_q", a.heads * hd, a.dim), ("attn_k", a.kv_heads * hd, a.dim),
                        ("attn_v", a.kv_heads * hd, a.dim), ("attn_output", a.dim, a.heads * hd),
                        ("ffn_gate", a.hidden, a.dim), ("ffn_up", a.hidden, a.dim), ("ffn_down", a.dim, a.hidden)]:
            quant(f"blk.{l}.{n}.weight", r, c)
    align = 32
    infos, off = b"", 0
    for name, ne, t, data in tensors:
        infos += s(name.encode()) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", x) for x in ne)
        infos += struct.pack("<IQ", t, off)
        off += (len(data) + align - 1) // align * align
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    with open(a.out, "wb") as f:
        f.write(head + b"\0" * ((-len(head)) % align))
        for _, _, _, data in tensors:
            f.write(data + b"\0" * ((-len(data)) % align))


if __name__ == "__main__":
    main()
