#!/usr/bin/python3
"""half_model.py SRC_DIR DST_DIR bf16|f16 — copies a Hugging Face directory (config.json +
model.safetensors, F32) with every tensor stored as BF16 (round to nearest even) or F16, for the
memory and speed benchmarks of weights kept as stored. Plain numpy; no torch needed."""
import json, os, shutil, struct, sys

import numpy as np


def to_bf16(a):
    u = a.astype(np.float32).view(np.uint32)
    u = u + 0x7FFF + ((u >> 16) & 1)  # round to nearest even (no NaNs in model weights)
    return (u >> 16).astype(np.uint16)


def main():
    src, dst, dt = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(dst, exist_ok=True)
    shutil.copy(os.path.join(src, "config.json"), os.path.join(dst, "config.json"))
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out_header, chunks, off = {}, [], 0
    for name, t in header.items():
        if name == "__metadata__":
            out_header[name] = t
            continue
        b0, b1 = t["data_offsets"]
        a = np.frombuffer(data[b0:b1], dtype=np.float32)
        h = to_bf16(a) if dt == "bf16" else a.astype(np.float16).view(np.uint16)
        raw = h.tobytes()
        out_header[name] = {"dtype": "BF16" if dt == "bf16" else "F16", "shape": t["shape"],
                            "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(out_header).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for c in chunks:
            f.write(c)


if __name__ == "__main__":
    main()
