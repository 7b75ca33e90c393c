/* synth.c — synthetic Llama-shaped models with seeded random weights, normal(0, 0.02) for matrices and
 * biases and 1 for norms, for tests of odd shapes and benchmarks at realistic sizes. The weights are
 * drawn in llama2.c file order into an in-memory Model, then written as a llama2.c .bin or, through
 * model_save_safetensors, as a Hugging Face directory; the same seed gives the same model in both. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

static void fill_normal(float *p, size_t n, QbRng *rng) {
    for (size_t i = 0; i < n; i++) p[i] = 0.02f * qb_rng_normal(rng);
}

static Model *synth_model(const ModelConfig *cfg, uint64_t seed, char err[QB_ERRLEN]) {
    Model *m = model_alloc();
    if (!m) { snprintf(err, QB_ERRLEN, "synth: out of memory"); return NULL; }
    ModelConfig *c = &m->cfg;
    *c = *cfg;
    if (c->n_kv_heads <= 0) c->n_kv_heads = c->n_heads;
    if (c->head_dim <= 0 && c->n_heads > 0) c->head_dim = c->dim / c->n_heads;
    if (c->rope_theta <= 0) c->rope_theta = 10000.0f;
    if (c->norm_eps <= 0) c->norm_eps = 1e-5f;
    if (c->arch[0] == '\0') snprintf(c->arch, sizeof c->arch, "%s", c->qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
    if (model_check_config(c, "synth", err)) { model_free(m); return NULL; }
    QbRng rng;
    qb_rng_seed(&rng, seed);
    size_t D = (size_t)c->dim, L = (size_t)c->n_layers;
    int fail = !(m->blocks = calloc(L, sizeof *m->blocks));
    fail = fail || !(m->tok_emb = model_own_floats(m, (size_t)c->vocab_size * D));
    if (!fail) fill_normal(m->tok_emb, (size_t)c->vocab_size * D, &rng);
    for (size_t l = 0; l < L && !fail; l++) {
        Block *b = &m->blocks[l];
        fail = !(b->attn_norm = model_own_floats(m, D)) || !(b->ffn_norm = model_own_floats(m, D));
        for (size_t i = 0; !fail && i < D; i++) b->attn_norm[i] = b->ffn_norm[i] = 1.0f;
    }
    /* llama2.c order: wq, wk, wv, wo for all layers, then w1 (gate), w2 (down), w3 (up) */
    static const LinearKind order[LIN_COUNT] = {LIN_Q, LIN_K, LIN_V, LIN_O, LIN_GATE, LIN_DOWN, LIN_UP};
    for (int k = 0; k < LIN_COUNT && !fail; k++)
        for (size_t l = 0; l < L && !fail; l++) {
            Linear *lin = &m->blocks[l].lin[order[k]];
            model_linear_shape(c, order[k], &lin->rows, &lin->cols);
            size_t n = (size_t)lin->rows * lin->cols;
            fail = !(lin->w = model_own_floats(m, n));
            if (!fail) fill_normal(lin->w, n, &rng);
        }
    fail = fail || !(m->final_norm = model_own_floats(m, D));
    for (size_t i = 0; !fail && i < D; i++) m->final_norm[i] = 1.0f;
    if (!fail && c->tied_embeddings) m->classifier = m->tok_emb;
    else if (!fail) {
        fail = !(m->classifier = model_own_floats(m, (size_t)c->vocab_size * D));
        if (!fail) fill_normal(m->classifier, (size_t)c->vocab_size * D, &rng);
    }
    for (int k = LIN_Q; k <= LIN_V && c->qkv_bias && !fail; k++)
        for (size_t l = 0; l < L && !fail; l++) {
            Linear *lin = &m->blocks[l].lin[k];
            fail = !(lin->bias = model_own_floats(m, (size_t)lin->rows));
            if (!fail) fill_normal(lin->bias, (size_t)lin->rows, &rng);
        }
    if (fail) { snprintf(err, QB_ERRLEN, "synth: out of memory"); model_free(m); return NULL; }
    snprintf(m->path, sizeof m->path, "synth(seed %llu)", (unsigned long long)seed);
    return m;
}

static int put(FILE *f, const void *p, size_t size, size_t n) { return fwrite(p, size, n, f) == n; }

/* llama2.c legacy (v0) layout, freq_cis tables included so karpathy's run.c reads it too. */
static int write_llama2c(const Model *m, const char *path, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    if (c->qkv_bias || c->head_dim * c->n_heads != c->dim || c->rope_scaling.type != ROPE_SCALING_NONE) {
        snprintf(err, QB_ERRLEN, "%.300s: llama2.c format cannot hold q/k/v biases, head_dim != dim/n_heads or RoPE "
                 "scaling", path);
        return -1;
    }
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { snprintf(err, QB_ERRLEN, "%.300s: cannot write: %s", tmp, strerror(errno)); return -1; }
    int32_t h[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                    c->tied_embeddings ? c->vocab_size : -c->vocab_size, c->seq_len};
    size_t D = (size_t)c->dim, V = (size_t)c->vocab_size;
    int ok = put(f, h, sizeof h[0], 7) && put(f, m->tok_emb, 4, V * D);
    for (int l = 0; ok && l < c->n_layers; l++) ok = put(f, m->blocks[l].attn_norm, 4, D);
    static const LinearKind order[4] = {LIN_Q, LIN_K, LIN_V, LIN_O};
    for (int k = 0; ok && k < 4; k++)
        for (int l = 0; ok && l < c->n_layers; l++) {
            const Linear *lin = &m->blocks[l].lin[order[k]];
            ok = put(f, lin->w, 4, (size_t)lin->rows * lin->cols);
        }
    for (int l = 0; ok && l < c->n_layers; l++) ok = put(f, m->blocks[l].ffn_norm, 4, D);
    static const LinearKind order2[3] = {LIN_GATE, LIN_DOWN, LIN_UP};
    for (int k = 0; ok && k < 3; k++)
        for (int l = 0; ok && l < c->n_layers; l++) {
            const Linear *lin = &m->blocks[l].lin[order2[k]];
            ok = put(f, lin->w, 4, (size_t)lin->rows * lin->cols);
        }
    ok = ok && put(f, m->final_norm, 4, D);
    for (int part = 0; ok && part < 2; part++) /* freq_cis_real then _imag (seq_len, head_dim/2) */
        for (int p = 0; ok && p < c->seq_len; p++)
            for (int i = 0; ok && i < c->head_dim / 2; i++) {
                double a = p * pow((double)c->rope_theta, -2.0 * i / c->head_dim);
                float v = (float)(part ? sin(a) : cos(a));
                ok = put(f, &v, 4, 1);
            }
    if (ok && !c->tied_embeddings) ok = put(f, m->classifier, 4, V * D);
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, QB_ERRLEN, "%.300s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

int model_synth_write(const ModelConfig *cfg, uint64_t seed, SynthFormat fmt, const char *path,
                      char err[QB_ERRLEN]) {
    if (cfg->family != ARCH_LLAMA && fmt != SYNTH_SAFETENSORS) {
        snprintf(err, QB_ERRLEN, "synth: the %s family is written as a Hugging Face directory only",
                 arch_family_name(cfg->family));
        return -1;
    }
    Model *m = cfg->family != ARCH_LLAMA ? arch_synth(cfg, seed, err) : synth_model(cfg, seed, err);
    if (!m) return -1;
    int rc = fmt == SYNTH_LLAMA2C ? write_llama2c(m, path, err) : model_save_safetensors(m, path, err);
    model_free(m);
    return rc;
}
