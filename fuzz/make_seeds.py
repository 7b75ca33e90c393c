#!/usr/bin/python3
"""Writes the seed corpora of fuzz_gguf, fuzz_safetensors, fuzz_pickle, fuzz_tokenizer_json,
fuzz_hf_config and fuzz_llama2c into fuzz/corpus/ (run from the repository root, once assets/ is filled; needs
Debian's python3-torch for the pickles). The seeds are small, valid files of each format, so the
fuzzers start from inputs that reach deep into the readers; the files are committed, this script
says how they were made."""
import io
import json
import os
import struct
import subprocess
import tempfile
import zipfile

import torch

OUT = "fuzz/corpus"


def put(name, file, data):
    os.makedirs(f"{OUT}/{name}", exist_ok=True)
    with open(f"{OUT}/{name}/{file}", "wb") as f:
        f.write(data)


# ---- GGUF v3: metadata of every value type, a string array, tensors of four types -----------------
def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, typ, payload):
    return gguf_str(key) + struct.pack("<I", typ) + payload


def gguf(kvs, tensors, align=32):
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    infos, data = b"", b""
    for name, dims, typ, raw in tensors:
        pad = (-len(data)) % align
        data += b"\0" * pad
        infos += gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", typ, len(data))
        data += raw
    blob = head + infos
    blob += b"\0" * ((-len(blob)) % align)
    return blob + data


kvs = [
    gguf_kv("general.architecture", 8, gguf_str("llama")),
    gguf_kv("general.alignment", 4, struct.pack("<I", 32)),
    gguf_kv("llama.context_length", 4, struct.pack("<I", 64)),
    gguf_kv("llama.embedding_length", 4, struct.pack("<I", 32)),
    gguf_kv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0)),
    gguf_kv("some.flag", 7, b"\x01"),
    gguf_kv("some.i64", 11, struct.pack("<q", -5)),
    gguf_kv("some.f64", 12, struct.pack("<d", 0.5)),
    gguf_kv("tokenizer.ggml.model", 8, gguf_str("llama")),
    gguf_kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 4) + b"".join(gguf_str(t) for t in ["<unk>", "<s>", "</s>", "\u2581a"])),
    gguf_kv("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 4) + struct.pack("<4f", 0, 0, 0, -1)),
]
f32 = struct.pack("<32f", *[i / 7 for i in range(32)])
f16 = struct.pack("<32e", *[i / 9 for i in range(32)])
q8_0 = struct.pack("<e", 0.25) + bytes((i * 7) & 0xFF for i in range(32))  # one 32-element block
q4_k = bytes((i * 13 + 5) & 0xFF for i in range(144))                        # one 256-element block
put("gguf", "types.gguf", gguf(kvs, [("a.f32", [32], 0, f32), ("b.f16", [8, 4], 1, f16),
                                      ("c.q8_0", [32], 8, q8_0), ("d.q4_k", [256], 12, q4_k)]))
put("gguf", "empty.gguf", gguf(kvs[:2], []))

# ---- safetensors: F32, F16, BF16 and metadata -----------------------------------------------------
def safetensors(ts, meta=None):
    header, data = {}, b""
    if meta:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in ts:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "three.safetensors", safetensors(
    [("w", "F32", [2, 4], struct.pack("<8f", *range(8))), ("h", "F16", [4], struct.pack("<4e", 1, 2, 3, 4)),
     ("b", "BF16", [2], b"\x80\x3f\x00\x40"), ("i", "I64", [1], struct.pack("<q", 7))], {"format": "pt"}))
put("safetensors", "empty.safetensors", safetensors([]))

# ---- pickles: data.pkl of torch.save, every tensor in storage "0" (fuzz_pickle supplies 64 bytes) --
def data_pkl(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


base = torch.arange(16, dtype=torch.float32)
put("pickle", "views.pkl", data_pkl({"w": base.view(4, 4), "b": base[2:6]}))
put("pickle", "strided.pkl", data_pkl({"s": base[::2]}))  # refused: not contiguous
sd = torch.nn.Linear(3, 4).state_dict()  # an OrderedDict with _metadata; weight 12 + bias 4 floats
flat = torch.zeros(16)
put("pickle", "state_dict.pkl", data_pkl(type(sd)([("weight", flat[:12].view(4, 3)), ("bias", flat[12:])])))
put("pickle", "half.pkl", data_pkl({"h": torch.zeros(32, dtype=torch.float16)[4:8]}))
put("pickle", "bf16.pkl", data_pkl({"x": torch.zeros(32, dtype=torch.bfloat16).view(2, 16)}))

# ---- tokenizer.json: the TinyStories-656K BPE cut to 300 pieces, and a byte-level BPE ----------------
t = json.load(open("assets/tinystories-656K/tokenizer.json"))
vocab = {k: v for k, v in t["model"]["vocab"].items() if v < 300}
merges = []
for m in t["model"]["merges"]:
    a, b = m.split(" ") if isinstance(m, str) else m
    if a in vocab and b in vocab and a + b in vocab:
        merges.append(m)
t["model"]["vocab"], t["model"]["merges"] = vocab, merges[:150]
t["added_tokens"] = [a for a in t["added_tokens"] if a["id"] < 300]
put("tokenizer_json", "spm_bpe.json", json.dumps(t, ensure_ascii=False).encode())
bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
byte_chars = [chr(c) for c in cs]
bvocab = {ch: i for i, ch in enumerate(byte_chars)}
for m in ["Ġ t", "Ġ a", "h e", "Ġt he", "i n"]:
    a, b = m.split(" ")
    bvocab.setdefault(a + b, len(bvocab))
bl = {"version": "1.0", "added_tokens": [{"id": len(bvocab), "content": "<|endoftext|>", "special": True,
                                           "single_word": False, "lstrip": False, "rstrip": False, "normalized": False}],
      "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
      "post_processor": None, "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
      "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                "vocab": bvocab, "merges": ["Ġ t", "Ġ a", "h e", "Ġt he", "i n"]}}
put("tokenizer_json", "byte_level.json", json.dumps(bl, ensure_ascii=False).encode())

# ---- config.json of each family, and AutoGPTQ's quantize_config.json --------------------------------
for src, dst in [("assets/tinystories-656K/config.json", "llama.json"), ("tests/fixtures/rope/llama3/config.json", "llama3_rope.json"),
                 ("tests/fixtures/arch/gpt2/config.json", "gpt2.json"), ("tests/fixtures/arch/bloom/config.json", "bloom.json"),
                 ("tests/fixtures/arch/opt_pre/config.json", "opt.json"), ("tests/fixtures/arch/neox/config.json", "neox.json")]:
    put("hf_config", dst, open(src, "rb").read())
put("hf_config", "quantize_config.json", json.dumps({"bits": 4, "group_size": 32, "desc_act": True, "sym": False,
                                                     "checkpoint_format": "gptq", "quant_method": "gptq"}).encode())
put("hf_config", "quantization_config.json", json.dumps({"architectures": ["LlamaForCausalLM"], "quantization_config":
                                                         {"quant_method": "gptq", "bits": 3, "group_size": -1, "desc_act": False,
                                                          "sym": True, "checkpoint_format": "gptq_v2"}}).encode())

# ---- llama2.c checkpoints: tiny seeded models from `qbench synth` (tied and untied classifier) --------
with tempfile.TemporaryDirectory() as d:
    for name, extra in [("tied.bin", []), ("untied.bin", ["--untied"])]:
        subprocess.run(["bin/qbench", "synth", "--dim", "8", "--hidden", "16", "--layers", "1", "--heads", "2",
                        "--kv-heads", "1", "--vocab", "16", "--seq-len", "8", "-o", f"{d}/{name}"] + extra, check=True,
                       stdout=subprocess.DEVNULL)
        put("llama2c", name, open(f"{d}/{name}", "rb").read())
