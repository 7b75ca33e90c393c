/* arch_block.c — the forward pass of the LayerNorm families (OPT, BLOOM, GPT-2, GPT-NeoX): embeddings
 * (learned positions, OPT's project_in, BLOOM's embedding LayerNorm), the block, and the head (final
 * LayerNorm, OPT's project_out, classifier). What differs between the families is read from the
 * config (model/arch.c sets it):
 *   OPT    pre- or post-LayerNorm, learned positions at offset 2, ReLU MLP
 *   BLOOM  ALiBi biases on the attention scores, GELU (tanh)
 *   GPT-2  learned positions, GELU (tanh)
 *   NeoX   rotate-half rotary on the first rotary_dims of each head, GELU, parallel residual
 * Every linear layer has a bias; the fused query_key_value is held as [q | k | v] rows, so the three
 * projections are three row slices of one matrix written straight into q and the KV cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include <omp.h>

#include "model/kernels.h"
#include "model/model_internal.h"

// out (dim) = (x - mean) / sqrt(var + eps) * w + b
static void layernorm_row(float *out, const float *x, const float *w, const float *b, int dim, float eps) {
    double mean = 0, var = 0;
    for (int i = 0; i < dim; i++) mean += x[i];
    mean /= dim;
    for (int i = 0; i < dim; i++) var += (x[i] - mean) * (x[i] - mean);
    float inv = (float)(1.0 / sqrt(var / dim + eps)), mu = (float)mean;
    for (int i = 0; i < dim; i++) out[i] = (x[i] - mu) * inv * w[i] + b[i];
}

static void layernorm_rows(float *out, const float *x, const float *w, const float *b, int n, int dim, float eps) {
#pragma omp parallel for schedule(static) if ((long)n * dim > PARALLEL_MIN_ELEMS)
    for (int i = 0; i < n; i++) layernorm_row(out + (size_t)i * dim, x + (size_t)i * dim, w, b, dim, eps);
}

static void activation(float *h, size_t n, Activation act) {
    switch (act) {
    case ACT_RELU:
        for (size_t i = 0; i < n; i++) h[i] = h[i] > 0 ? h[i] : 0;
        break;
    case ACT_GELU_TANH: /* GPT-2's gelu_new, BLOOM's gelu */
        for (size_t i = 0; i < n; i++) {
            float x = h[i];
            h[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
        }
        break;
    case ACT_GELU: /* the exact GELU */
        for (size_t i = 0; i < n; i++) h[i] = 0.5f * h[i] * (1.0f + erff(h[i] * 0.7071067811865476f));
        break;
    default: break;
    }
}

/* BLOOM's ALiBi slopes (build_alibi_tensor): for the closest power of two p <= H, base^1..base^p with
 * base = 2^(-8/p); the remaining heads take the odd powers of 2^(-4/p). */
static float alibi_slope(int H, int h) {
    int p = 1;
    while (p * 2 <= H) p *= 2;
    if (h < p) return powf(powf(2.0f, -8.0f / (float)p), (float)(h + 1));
    return powf(powf(2.0f, -4.0f / (float)p), (float)(2 * (h - p) + 1));
}

/* Causal attention with ALiBi: score(i, j) = q_i·k_j / sqrt(hd) + slope_h * j (the same softmax as
 * slope_h * (j - i): a per-row constant). q (n, H*hd), K, V (pos0+n, H*hd), out (n, H*hd). */
static void attention_alibi(const float *q, const float *K, const float *V, float *out, int n, int pos0, int H,
                            int hd, float *scratch, int threads) {
    int d = H * hd, T = pos0 + n;
    float scale = 1.0f / sqrtf((float)hd);
    if (threads > H) threads = H;
    if ((double)n * T * d < PARALLEL_MIN_MACS) threads = 1;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int h = 0; h < H; h++) {
        float *att = scratch + (size_t)omp_get_thread_num() * T;
        float slope = alibi_slope(H, h);
        for (int i = 0; i < n; i++) {
            int len = pos0 + i + 1;
            cblas_sgemv(CblasRowMajor, CblasNoTrans, len, hd, scale, K + (size_t)h * hd, d,
                        q + (size_t)i * d + (size_t)h * hd, 1, 0.0f, att, 1);
            for (int j = 0; j < len; j++) att[j] += slope * (float)j;
            softmax_row(att, len);
            cblas_sgemv(CblasRowMajor, CblasTrans, len, hd, 1.0f, V + (size_t)h * hd, d, att, 1, 0.0f,
                        out + (size_t)i * d + (size_t)h * hd, 1);
        }
    }
}

/* GPT-NeoX rotary on the first rot dims of each head of v (n, H*hd), rotate-half layout: dim i pairs
 * with i + rot/2, angle pos * base^(-2i/rot). */
static void rotary_neox(float *v, int n, int pos0, int H, int hd, int rot, float base) {
    int half = rot / 2;
    for (int i = 0; i < half; i++) {
        double inv = pow((double)base, -(double)(2 * i) / (double)rot);
        for (int t = 0; t < n; t++) {
            double a = (double)(pos0 + t) * inv;
            float cs = (float)cos(a), sn = (float)sin(a);
            for (int h = 0; h < H; h++) {
                float *p = v + (size_t)t * H * hd + (size_t)h * hd;
                float x0 = p[i], x1 = p[i + half];
                p[i] = x0 * cs - x1 * sn;
                p[i + half] = x1 * cs + x0 * sn;
            }
        }
    }
}

static void linear(const Linear *lin, const float *x, float *y, int n, float beta) {
    GemmJob j = {lin, x, y, lin->rows, beta};
    gemm_jobs(&j, 1, n, NULL, NULL);
}

/* The block in parts (the same split as the Llama block's, model_block_part), each making the same
 * calls whoever runs it, so that the staged calibration pipeline's parts have the bits of arch_block. */

// y (n, dim) = the input of q/k/v (or the MLP's): LayerNorm of x before the sublayer, x itself after it
static void sub_in(const ModelConfig *c, const float *w, const float *bias, const float *x, float *y, int n) {
    if (!c->post_norm) layernorm_rows(y, x, w, bias, n, c->dim, c->norm_eps);
    else memcpy(y, x, (size_t)n * c->dim * sizeof(float));
}

// att (n, dim) = attention(q/k/v of xb = sub_in(x)); the keys/values of positions pos0.. written at K, V
static void part_attn(const Model *m, const ArchScratch *sc, int layer, const float *x, float *att, int n, int pos0,
                      float *K, float *V, LinearTap tap, void *ctx) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    int D = c->dim, H = c->n_heads, hd = c->head_dim;
    float *Kn = K + (size_t)pos0 * D, *Vn = V + (size_t)pos0 * D, *xb = sc->xb;
    sub_in(c, b->attn_norm, b->attn_norm_b, x, xb, n);
    if (tap) {
        tap(ctx, layer, LIN_Q, xb, n, D);
        if (c->family == ARCH_OPT) { tap(ctx, layer, LIN_K, xb, n, D); tap(ctx, layer, LIN_V, xb, n, D); }
    }
    Linear qkv[3];
    if (c->family == ARCH_OPT) {
        qkv[0] = b->lin[LIN_Q]; qkv[1] = b->lin[LIN_K]; qkv[2] = b->lin[LIN_V];
    } else { /* the fused matrix's row slices */
        const Linear *f = &b->lin[LIN_Q];
        for (int i = 0; i < 3; i++)
            qkv[i] = (Linear){f->w + (size_t)i * D * D, f->bias ? f->bias + (size_t)i * D : NULL, D, D, NULL};
    }
    GemmJob jobs[3] = {{&qkv[0], xb, sc->q, D, 0.0f}, {&qkv[1], xb, Kn, D, 0.0f}, {&qkv[2], xb, Vn, D, 0.0f}};
    gemm_jobs(jobs, 3, n, NULL, NULL);
    if (c->rotary_dims) {
        rotary_neox(sc->q, n, pos0, H, hd, c->rotary_dims, c->rope_theta);
        rotary_neox(Kn, n, pos0, H, hd, c->rotary_dims, c->rope_theta);
    }
    if (c->family == ARCH_BLOOM)
        attention_alibi(sc->q, K, V, att, n, pos0, H, hd, sc->scores, sc->scratch_threads);
    else
        attention_causal(sc->q, K, V, att, n, pos0, H, H, hd, sc->scores, sc->scratch_threads);
}

// x (n, dim) += att @ Woᵀ + b, then OPT's post-LayerNorm
static void part_attn_out(const Model *m, int layer, float *x, const float *att, int n) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    linear(&b->lin[LIN_O], att, x, n, 1.0f);
    if (c->post_norm) layernorm_rows(x, x, b->attn_norm, b->attn_norm_b, n, c->dim, c->norm_eps);
}

// h (n, hidden) = act(xb @ Wfc1ᵀ + b), xb the MLP's input (ffn_in)
static void part_mlp(const Model *m, int layer, const float *xb, float *h, int n, LinearTap tap, void *ctx) {
    const Block *b = &m->blocks[layer];
    if (tap) tap(ctx, layer, LIN_UP, xb, n, m->cfg.dim);
    linear(&b->lin[LIN_UP], xb, h, n, 0.0f);
    activation(h, (size_t)n * m->cfg.hidden_dim, m->cfg.act);
}

// x (n, dim) += h @ Wfc2ᵀ + b, then OPT's post-LayerNorm
static void part_mlp_out(const Model *m, int layer, float *x, const float *h, int n) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    linear(&b->lin[LIN_DOWN], h, x, n, 1.0f);
    if (c->post_norm) layernorm_rows(x, x, b->ffn_norm, b->ffn_norm_b, n, c->dim, c->norm_eps);
}

void arch_block(const Model *m, const ArchScratch *sc, int layer, float *x, int n, int pos0, float *K, float *V,
                LinearTap tap, void *ctx) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    part_attn(m, sc, layer, x, sc->att, n, pos0, K, V, tap, ctx);
    /* parallel residual: the MLP reads ln2 of the block's input, taken before attention is added */
    if (c->parallel_residual) sub_in(c, b->ffn_norm, b->ffn_norm_b, x, sc->xb, n);
    if (tap) tap(ctx, layer, LIN_O, sc->att, n, c->dim);
    part_attn_out(m, layer, x, sc->att, n);
    if (!c->parallel_residual) sub_in(c, b->ffn_norm, b->ffn_norm_b, x, sc->xb, n);
    part_mlp(m, layer, sc->xb, sc->hb, n, tap, ctx);
    if (tap) tap(ctx, layer, LIN_DOWN, sc->hb, n, c->hidden_dim);
    part_mlp_out(m, layer, x, sc->hb, n);
}

void arch_block_part(const Model *m, const ArchScratch *sc, int layer, BlockPart part, float *x, float *y, int n,
                     float *K, float *V) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    switch (part) {
    case BLOCK_ATTN_NORM: sub_in(c, b->attn_norm, b->attn_norm_b, x, y, n); break;
    case BLOCK_ATTN: part_attn(m, sc, layer, x, y, n, 0, K, V, NULL, NULL); break;
    case BLOCK_ATTN_OUT: part_attn_out(m, layer, x, y, n); break;
    case BLOCK_FFN_NORM: sub_in(c, b->ffn_norm, b->ffn_norm_b, x, y, n); break;
    case BLOCK_MLP:
        sub_in(c, b->ffn_norm, b->ffn_norm_b, x, sc->xb, n);
        part_mlp(m, layer, sc->xb, y, n, NULL, NULL);
        break;
    case BLOCK_MLP_OUT: part_mlp_out(m, layer, x, y, n); break;
    }
}

void arch_embed(const Model *m, const int *tokens, int n, int pos0, float *x) {
    const ModelConfig *c = &m->cfg;
    int D = c->dim, E = model_emb_dim(c);
    float *e = NULL;
    if (c->proj_dim) {
        e = malloc((size_t)n * E * sizeof(float));
        if (!e) { /* no way to report from here: make the failure impossible to miss */
            for (size_t i = 0; i < (size_t)n * D; i++) x[i] = NAN;
            return;
        }
    }
    float *dst = e ? e : x;
    for (int i = 0; i < n; i++) {
        int t = tokens[i];
        if (t < 0 || t >= c->vocab_size) t = 0; /* callers validate; never read out of bounds */
        memcpy(dst + (size_t)i * E, m->tok_emb + (size_t)t * E, (size_t)E * sizeof(float));
    }
    if (e) {
        Linear pin = {m->proj_in, NULL, D, E, NULL};
        linear(&pin, e, x, n, 0.0f);
        free(e);
    }
    if (m->pos_emb) {
        int off = c->family == ARCH_OPT ? 2 : 0, rows = c->family == ARCH_OPT ? c->seq_len + 2 : c->seq_len;
        for (int i = 0; i < n; i++) {
            int p = pos0 + i + off;
            if (p >= rows) p = rows - 1; /* model_forward bounds positions by seq_len; stay in the table */
            const float *pe = m->pos_emb + (size_t)p * D;
            float *xi = x + (size_t)i * D;
            for (int j = 0; j < D; j++) xi[j] += pe[j];
        }
    }
    if (m->emb_norm) layernorm_rows(x, x, m->emb_norm, m->emb_norm_b, n, D, c->norm_eps);
}

void arch_head_input(const Model *m, const float *x, int n, float *xb, float *out) {
    const ModelConfig *c = &m->cfg;
    int D = c->dim, E = model_emb_dim(c);
    float *dst = c->proj_dim ? xb : out;
    if (m->final_norm) layernorm_rows(dst, x, m->final_norm, m->final_norm_b, n, D, c->norm_eps);
    else memcpy(dst, x, (size_t)n * D * sizeof(float));
    if (c->proj_dim) {
        Linear pout = {m->proj_out, NULL, E, D, NULL};
        linear(&pout, xb, out, n, 0.0f);
    }
}

void arch_head(const Model *m, const float *x, int n, float *xb, float *logits) {
    const ModelConfig *c = &m->cfg;
    int E = model_emb_dim(c), V = c->vocab_size;
    const float *h = xb;
    float *p = NULL;
    if (c->proj_dim) {
        p = malloc((size_t)n * E * sizeof(float));
        if (!p) {
            for (size_t i = 0; i < (size_t)n * V; i++) logits[i] = NAN;
            return;
        }
        h = p;
    }
    arch_head_input(m, x, n, xb, p ? p : xb);
    Linear cls = {m->classifier, NULL, V, E, NULL};
    linear(&cls, h, logits, n, 0.0f);
    free(p);
}
