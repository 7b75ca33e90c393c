/* loader_llama2c.c — karpathy llama2.c checkpoints (the original "v0" export): a header of 7 int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; vocab_size < 0 means the
 * classifier is stored separately at the end), then float32 tensors in run.c's order, with the legacy
 * freq_cis_real/imag tables between the final norm and the classifier. The file is mmapped privately;
 * every tensor points into the mapping. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

#define LLAMA2C_MAGIC 0x616b3432u /* "ak42": the later export versions, not supported */

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

Model *model_load_llama2c(const char *path, char err[QB_ERRLEN]) {
    Model *m = model_alloc();
    if (!m) { snprintf(err, QB_ERRLEN, "%s: out of memory", path); return NULL; }
    void *map; size_t size;
    if (model_map_file(m, path, &map, &size, err)) goto fail;
    if (size < 7 * sizeof(int32_t)) {
        snprintf(err, QB_ERRLEN, "%s: truncated header (%zu bytes, need 28)", path, size);
        goto fail;
    }
    int32_t h[7];
    memcpy(h, map, sizeof h);
    if ((uint32_t)h[0] == LLAMA2C_MAGIC) {
        snprintf(err, QB_ERRLEN, "%s: llama2.c export version 1/2 (magic ak42) is not supported; "
                 "use the legacy (v0) export", path);
        goto fail;
    }
    ModelConfig *c = &m->cfg;
    c->dim = h[0]; c->hidden_dim = h[1]; c->n_layers = h[2]; c->n_heads = h[3]; c->n_kv_heads = h[4];
    c->tied_embeddings = h[5] > 0;
    c->vocab_size = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -h[5] : h[5]);
    c->seq_len = h[6];
    c->head_dim = c->n_heads > 0 ? c->dim / c->n_heads : 0;
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    c->qkv_bias = 0;
    c->bos_id = 1; c->eos_id = 2; /* llama2.c's sentencepiece vocabularies */
    snprintf(c->arch, sizeof c->arch, "llama2c");
    if (c->n_heads > 0 && c->dim % c->n_heads != 0) {
        snprintf(err, QB_ERRLEN, "%s: dim %d is not a multiple of n_heads %d", path, c->dim, c->n_heads);
        goto fail;
    }
    if (model_check_config(c, path, err)) goto fail;
    m->blocks = calloc((size_t)c->n_layers, sizeof *m->blocks);
    if (!m->blocks) { snprintf(err, QB_ERRLEN, "%s: out of memory", path); goto fail; }

    /* Walk the file in run.c's order; every tensor must fit before we point into it. Config bounds
     * (model_check_config) keep every product below 2^62, so size_t arithmetic cannot overflow. */
    size_t L = (size_t)c->n_layers, D = (size_t)c->dim, F = (size_t)c->hidden_dim;
    size_t Q = (size_t)c->n_heads * c->head_dim, KV = (size_t)c->n_kv_heads * c->head_dim;
    size_t V = (size_t)c->vocab_size, T = (size_t)c->seq_len, HD = (size_t)c->head_dim;
    struct { const char *name; size_t n; float *p; } t[] = {
        {"token_embedding_table", V * D, NULL}, {"rms_att_weight", L * D, NULL},
        {"wq", L * Q * D, NULL},  {"wk", L * KV * D, NULL},  {"wv", L * KV * D, NULL},
        {"wo", L * D * Q, NULL},  {"rms_ffn_weight", L * D, NULL},
        {"w1", L * F * D, NULL},  {"w2", L * D * F, NULL},  {"w3", L * F * D, NULL},
        {"rms_final_weight", D, NULL},
        {"freq_cis_real", T * HD / 2, NULL}, {"freq_cis_imag", T * HD / 2, NULL},
        {"wcls", c->tied_embeddings ? 0 : V * D, NULL},
    };
    size_t nt = sizeof t / sizeof t[0], off = 28;
    for (size_t i = 0; i < nt; i++) {
        size_t bytes = t[i].n * sizeof(float);
        if (bytes > size - off) {
            snprintf(err, QB_ERRLEN, "%s: truncated: tensor '%s' needs bytes %zu..%zu but the file has %zu "
                     "(header: dim %d, hidden %d, layers %d, heads %d, kv heads %d, vocab %d, seq_len %d)",
                     base_name(path), t[i].name, off, off + bytes, size, c->dim, c->hidden_dim, c->n_layers,
                     c->n_heads, c->n_kv_heads, h[5], c->seq_len);
            goto fail;
        }
        t[i].p = (float *)((char *)map + off);
        off += bytes;
    }
    if (off != size) {
        snprintf(err, QB_ERRLEN, "%s: %zu bytes after the last tensor ('%s'): the header does not describe "
                 "this file (expected %zu bytes)", base_name(path), size - off,
                 c->tied_embeddings ? "freq_cis_imag" : "wcls", off);
        goto fail;
    }
    m->tok_emb = t[0].p;
    for (int l = 0; l < c->n_layers; l++) {
        Block *b = &m->blocks[l];
        b->attn_norm = t[1].p + l * D;
        b->ffn_norm = t[6].p + l * D;
        float *src[LIN_COUNT] = {t[2].p, t[3].p, t[4].p, t[5].p, t[7].p, t[9].p, t[8].p};
        for (int k = 0; k < LIN_COUNT; k++) {
            Linear *lin = &b->lin[k];
            model_linear_shape(c, (LinearKind)k, &lin->rows, &lin->cols);
            lin->w = src[k] + (size_t)l * lin->rows * lin->cols;
            lin->bias = NULL;
        }
    }
    m->final_norm = t[10].p;
    m->classifier = c->tied_embeddings ? m->tok_emb : t[13].p;
    snprintf(m->path, sizeof m->path, "%s", path);
    model_file_sha256(path, map, size, m->sha256);
    return m;
fail:
    model_free(m);
    return NULL;
}
