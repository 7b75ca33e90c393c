/* loader_gguf.c — llama.cpp GGUF files of architecture `llama`: hyperparameters from the llama.* keys,
 * weights from the blk.N.* tensors. F32 tensors point into the private mapping; the linear layers of the
 * blocks stay as stored in it (F16/BF16 halves, quantized blocks: qkernels_gguf.c) unless
 * QBENCH_DEQUANTIZE is set in the environment (the float32 path, for comparisons); the embeddings, norms
 * and classifier are dequantized to float32.
 *
 * RoPE layout: llama.cpp's `llama` architecture rotates adjacent pairs (2i, 2i+1) of each head, and its
 * converters store q/k rows that way (convert_hf_to_gguf undoes Hugging Face's rotate-half permutation,
 * the llama2.c converter copies llama2.c's rows), which is the layout qbench holds, so rows are taken as
 * they are. Every tensor must be used: an unexpected one (biases, rope_freqs, another architecture's)
 * means the file holds a model this loader would get wrong, so it is refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model_internal.h"

typedef struct {
    Model *m;
    Linear *keep; /* the linear layer `tensor` loads, which it may keep as stored */
    GgufFile g;
    unsigned char *used; /* per tensor */
    size_t type_count[64];
    size_t linear_bytes, linear_weights;
} Ctx;

/* Integer key in [lo, hi]; `def` when absent and def >= lo (else the key is required). */
static int key_int(Ctx *x, const char *key, long def, long lo, long hi, int *out, char err[QB_ERRLEN]) {
    int64_t v;
    int r = gguf_get_int(&x->g, key, &v, err);
    if (r < 0) return -1;
    if (r == 0) {
        if (def < lo) { snprintf(err, QB_ERRLEN, "%.200s: missing key '%s'", x->g.path, key); return -1; }
        v = def;
    }
    if (v < lo || v > hi) {
        snprintf(err, QB_ERRLEN, "%.200s: key '%s' = %lld is out of range [%ld, %ld]", x->g.path, key, (long long)v, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int key_float(Ctx *x, const char *key, double def, int required, float *out, char err[QB_ERRLEN]) {
    double v;
    int r = gguf_get_float(&x->g, key, &v, err);
    if (r < 0) return -1;
    if (r == 0) {
        if (required) { snprintf(err, QB_ERRLEN, "%.200s: missing key '%s'", x->g.path, key); return -1; }
        v = def;
    }
    if (!isfinite(v) || !(v > 0)) {
        snprintf(err, QB_ERRLEN, "%.200s: key '%s' = %g must be a positive number", x->g.path, key, v);
        return -1;
    }
    *out = (float)v;
    return 0;
}

/* A special token id, -1 when absent or not a token (llama.cpp writes 2^32 - 1 for "none"). */
static int special_id(Ctx *x, const char *key, int vocab) {
    int64_t v;
    char e[QB_ERRLEN];
    return gguf_get_int(&x->g, key, &v, e) == 1 && v >= 0 && v < vocab ? (int)v : -1;
}

static int str_is(const char *s, size_t n, const char *z) { return strlen(z) == n && memcmp(s, z, n) == 0; }

static int read_config(Ctx *x, char err[QB_ERRLEN]) {
    ModelConfig *c = &x->m->cfg;
    const char *arch;
    size_t alen;
    int r = gguf_get_str(&x->g, "general.architecture", &arch, &alen, err);
    if (r < 0) return -1;
    if (r == 0) { snprintf(err, QB_ERRLEN, "%.200s: missing key 'general.architecture'", x->g.path); return -1; }
    if (!str_is(arch, alen, "llama")) {
        snprintf(err, QB_ERRLEN, "%.200s: GGUF architecture '%.*s' is not supported (only 'llama')", x->g.path,
                 (int)(alen > 60 ? 60 : alen), arch);
        return -1;
    }
    if (key_int(x, "llama.embedding_length", -1, 1, 1 << 16, &c->dim, err) ||
        key_int(x, "llama.feed_forward_length", -1, 1, 1 << 18, &c->hidden_dim, err) ||
        key_int(x, "llama.block_count", -1, 1, 1024, &c->n_layers, err) ||
        key_int(x, "llama.attention.head_count", -1, 1, 1024, &c->n_heads, err) ||
        key_int(x, "llama.attention.head_count_kv", c->n_heads, 1, 1024, &c->n_kv_heads, err) ||
        key_int(x, "llama.context_length", -1, 1, 1 << 22, &c->seq_len, err) ||
        key_float(x, "llama.rope.freq_base", 10000.0, 0, &c->rope_theta, err) ||
        key_float(x, "llama.attention.layer_norm_rms_epsilon", 0, 1, &c->norm_eps, err))
        return -1;
    int hd_default = c->dim % c->n_heads == 0 ? c->dim / c->n_heads : -1, rot;
    if (key_int(x, "llama.attention.key_length", hd_default, 2, 1 << 12, &c->head_dim, err)) return -1;
    int vlen;
    if (key_int(x, "llama.attention.value_length", c->head_dim, 1, 1 << 12, &vlen, err) ||
        key_int(x, "llama.rope.dimension_count", c->head_dim, 1, 1 << 12, &rot, err))
        return -1;
    if (vlen != c->head_dim || rot != c->head_dim) {
        snprintf(err, QB_ERRLEN, "%.200s: value_length %d / rope.dimension_count %d differ from key_length %d (partial "
                 "rotary or unequal head sizes are not supported)", x->g.path, vlen, rot, c->head_dim);
        return -1;
    }
    /* RoPE scaling: 'linear' maps onto qbench's; llama.cpp's others (yarn, longrope) are refused */
    const char *st;
    size_t stlen;
    r = gguf_get_str(&x->g, "llama.rope.scaling.type", &st, &stlen, err);
    if (r < 0) return -1;
    if (r == 1 && !str_is(st, stlen, "none")) {
        if (!str_is(st, stlen, "linear")) {
            snprintf(err, QB_ERRLEN, "%.200s: llama.rope.scaling.type '%.*s' is not supported (none, linear)", x->g.path,
                     (int)(stlen > 40 ? 40 : stlen), st);
            return -1;
        }
        c->rope_scaling.type = ROPE_SCALING_LINEAR;
        if (key_float(x, "llama.rope.scaling.factor", 0, 1, &c->rope_scaling.factor, err)) return -1;
    } else {
        double f;
        r = gguf_get_float(&x->g, "llama.rope.scale_linear", &f, err); /* the older key for the same thing */
        if (r < 0) return -1;
        if (r == 1 && f != 1.0) {
            if (!(f > 0) || !isfinite(f)) {
                snprintf(err, QB_ERRLEN, "%.200s: llama.rope.scale_linear = %g", x->g.path, f);
                return -1;
            }
            c->rope_scaling.type = ROPE_SCALING_LINEAR;
            c->rope_scaling.factor = (float)f;
        }
    }
    /* vocabulary: llama.vocab_size, else the token list, else the embedding's rows */
    const GgufKV *toks = gguf_find_kv(&x->g, "tokenizer.ggml.tokens");
    const GgufTensor *emb = gguf_find_tensor(&x->g, "token_embd.weight");
    long vdef = toks && toks->type == GGUF_ARRAY ? (long)(toks->arr_n > (1u << 22) ? 0 : toks->arr_n)
                : emb && emb->n_dims == 2 ? (long)(emb->ne[1] > (1u << 22) ? 0 : emb->ne[1]) : -1;
    if (key_int(x, "llama.vocab_size", vdef, 1, 1 << 22, &c->vocab_size, err)) return -1;
    c->bos_id = special_id(x, "tokenizer.ggml.bos_token_id", c->vocab_size);
    c->eos_id = special_id(x, "tokenizer.ggml.eos_token_id", c->vocab_size);
    c->tied_embeddings = gguf_find_tensor(&x->g, "output.weight") == NULL;
    c->qkv_bias = 0;
    snprintf(c->arch, sizeof c->arch, "LlamaForCausalLM");
    return model_check_config(c, x->g.path, err);
}

/* What `tensor` returns when it kept x->keep packed instead of making float32 weights. */
static float KEPT_MARK;
#define KEPT (&KEPT_MARK)

/* Tensor `name` as float32 of shape (rows, cols) (cols 0: a vector); `linear`: counted in the stored stats
 * and, with x->keep set, possibly kept as stored in x->keep (returns KEPT). */
static float *tensor(Ctx *x, const char *name, int rows, int cols, int linear, char err[QB_ERRLEN]) {
    const GgufTensor *t = gguf_find_tensor(&x->g, name);
    if (!t) { snprintf(err, QB_ERRLEN, "%.200s: missing tensor '%s'", x->g.path, name); return NULL; }
    x->used[t - x->g.t] = 1;
    int nd = cols ? 2 : 1;
    if (t->n_dims != nd || t->ne[0] != (uint64_t)(cols ? cols : rows) || (cols && t->ne[1] != (uint64_t)rows)) {
        snprintf(err, QB_ERRLEN, "%.200s: tensor '%s' has shape [%llu, %llu] (%d dims, GGUF order), the config needs "
                 "[%d, %d]", x->g.path, name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], t->n_dims,
                 cols ? cols : rows, cols ? rows : 1);
        return NULL;
    }
    if (linear) {
        if (t->type < 64) x->type_count[t->type]++;
        x->linear_bytes += t->nbytes;
        x->linear_weights += (size_t)t->numel;
    }
    if (t->type == GGML_F32 && t->data && (uintptr_t)t->data % sizeof(float) == 0)
        return (float *)(uintptr_t)t->data; /* the mapping is private: writes stay in memory */
    if (linear && x->keep && t->data && !model_dequantize_requested()) {
        int block, bytes;
        Linear *l = x->keep;
        if ((t->type == GGML_F16 || t->type == GGML_BF16) && (uintptr_t)t->data % 2 == 0) {
            if (linear_keep_half(x->m, l, t->type == GGML_F16 ? QW_F16 : QW_BF16, (const uint16_t *)(uintptr_t)t->data,
                                 err))
                return NULL;
            return KEPT;
        }
        if (gguf_type_info(t->type, &block, &bytes) && block > 1 && cols % block == 0) {
            if (linear_keep_gguf(x->m, l, t->type, t->data, t->nbytes, err)) return NULL;
            return KEPT;
        }
    }
    float *out = model_own_floats(x->m, (size_t)t->numel);
    if (!out) { snprintf(err, QB_ERRLEN, "%.200s: out of memory for tensor '%s'", x->g.path, name); return NULL; }
    if (gguf_tensor_f32(&x->g, t, out, err)) return NULL;
    return out;
}

static int load_weights(Ctx *x, char err[QB_ERRLEN]) {
    Model *m = x->m;
    const ModelConfig *c = &m->cfg;
    if (!(m->tok_emb = tensor(x, "token_embd.weight", c->vocab_size, c->dim, 0, err))) return -1;
    if (!(m->final_norm = tensor(x, "output_norm.weight", c->dim, 0, 0, err))) return -1;
    m->classifier = c->tied_embeddings ? m->tok_emb : tensor(x, "output.weight", c->vocab_size, c->dim, 0, err);
    if (!m->classifier) return -1;
    static const char *names[LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (int l = 0; l < c->n_layers; l++) {
        Block *b = &m->blocks[l];
        char name[96];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        if (!(b->attn_norm = tensor(x, name, c->dim, 0, 0, err))) return -1;
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        if (!(b->ffn_norm = tensor(x, name, c->dim, 0, 0, err))) return -1;
        for (int k = 0; k < LIN_COUNT; k++) {
            Linear *lin = &b->lin[k];
            model_linear_shape(c, (LinearKind)k, &lin->rows, &lin->cols);
            lin->bias = NULL;
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[k]);
            x->keep = lin;
            float *w = tensor(x, name, lin->rows, lin->cols, 1, err);
            x->keep = NULL;
            if (!w) return -1;
            if (w != KEPT) lin->w = w, lin->q = NULL;
        }
    }
    for (size_t i = 0; i < x->g.n_t; i++)
        if (!x->used[i]) {
            const GgufTensor *t = &x->g.t[i];
            int n = (int)(t->name_len > 120 ? 120 : t->name_len);
            snprintf(err, QB_ERRLEN, "%.200s: unexpected tensor '%.*s'%s: this model is not a plain Llama qbench can run",
                     x->g.path, n, t->name, str_is(t->name, t->name_len, "rope_freqs.weight") ? " (Llama 3 RoPE scaling)" : "");
            return -1;
        }
    return 0;
}

static void stored_stats(Ctx *x, size_t file_bytes) {
    ModelStoredAs *s = &x->m->stored;
    snprintf(s->format, sizeof s->format, "gguf");
    s->linear_bytes = x->linear_bytes;
    s->linear_bits = x->linear_weights ? 8.0 * (double)x->linear_bytes / (double)x->linear_weights : 0;
    s->file_bytes = file_bytes;
    s->types[0] = 0;
    for (int t = 0; t < 64; t++)
        if (x->type_count[t]) {
            size_t o = strlen(s->types);
            snprintf(s->types + o, sizeof s->types - o, "%s%s %zu", o ? ", " : "", gguf_type_name((uint32_t)t),
                     x->type_count[t]);
        }
}

Model *model_load_gguf(const char *path, char err[QB_ERRLEN]) {
    Model *m = model_alloc();
    if (!m) { snprintf(err, QB_ERRLEN, "%.200s: out of memory", path); return NULL; }
    Ctx x = {.m = m};
    void *map;
    size_t len;
    if (model_map_file(m, path, &map, &len, err)) goto fail;
    if (gguf_parse(map, len, path, &x.g, err)) goto fail;
    x.used = calloc(x.g.n_t + 1, 1);
    if (!x.used) { snprintf(err, QB_ERRLEN, "%.200s: out of memory", path); goto fail; }
    if (read_config(&x, err)) goto fail;
    m->blocks = calloc((size_t)m->cfg.n_layers, sizeof *m->blocks);
    if (!m->blocks) { snprintf(err, QB_ERRLEN, "%.200s: out of memory", path); goto fail; }
    if (load_weights(&x, err)) goto fail;
    stored_stats(&x, len);
    snprintf(m->path, sizeof m->path, "%s", path);
    model_file_sha256(path, map, len, m->sha256); /* cached by the file's identity, as the other loaders */
    free(x.used);
    gguf_close(&x.g);
    return m;
fail:
    free(x.used);
    gguf_close(&x.g);
    model_free(m);
    return NULL;
}
