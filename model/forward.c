/* forward.c — the transformer forward pass: state (KV cache + scratch), the block (RMSNorm → q/k/v →
 * RoPE → causal GQA attention → o, RMSNorm → SwiGLU MLP), embedding and classifier head. Every linear
 * layer runs over the whole window of n positions at once: x (n,in) @ W (out,in)ᵀ -> y (n,out), as
 * sgemms on column slices (gemm.c). Prefill and one-token decode are the same code path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <cblas.h>
#include <omp.h>

#include "model/kernels.h"
#include "model/model_internal.h"

struct ModelState {
    int max_seq, max_batch;
    float *x;       /* (B, dim) residual stream of model_forward */
    float *xb;      /* (B, dim) normed input of attention / MLP / head */
    float *q;       /* (B, q_dim) */
    float *att;     /* (B, q_dim) attention output, input of o */
    float *hb, *hb2;      /* (B, hidden) gate, up */
    float *k_tmp, *v_tmp; /* (B, kv_dim) keys/values of model_block_forward (no cache) */
    float *kcache, *vcache; /* (L, max_seq, kv_dim) */
    float *scores;  /* attention scratch, see attention_causal */
    int scratch_threads; /* threads the attention scratch was sized for */
    float *rope_cos, *rope_sin; /* (max_seq, head_dim/2) */
};

static float *alloc_floats(size_t a, size_t b, int *fail) {
    size_t n;
    if (mul_size(a, b, &n) || mul_size(n ? n : 1, sizeof(float), &n)) { *fail = 1; return NULL; }
    float *p = malloc(n);
    if (!p) *fail = 1;
    return p;
}

/* transformers' _compute_llama3_parameters: wavelengths (2π/inv_freq) shorter than original/high_freq_factor
 * are kept, longer than original/low_freq_factor are divided by factor, and those between blend the two
 * linearly in original/wavelen. */
static double llama3_inv_freq(const RopeScaling *rs, double inv) {
    double old_ctx = rs->original_max_position_embeddings, lo = rs->low_freq_factor, hi = rs->high_freq_factor;
    double wavelen = 2.0 * M_PI / inv;
    if (wavelen < old_ctx / hi) return inv;
    if (wavelen > old_ctx / lo) return inv / rs->factor;
    double smooth = (old_ctx / wavelen - lo) / (hi - lo);
    return (1.0 - smooth) * inv / rs->factor + smooth * inv;
}

/* inv_freq[i] = theta^(-2i/hd), then scaled as transformers' modeling_rope_utils.py does. transformers
 * computes these in float32 (base ** (arange(0, dim, 2).float() / dim)); here they are double, which
 * differs from its table by float32 rounding (~1e-7 relative), far inside the tests' 1e-4 on logits.
 * The attention scaling factor of both linear and llama3 is 1, so only the frequencies change. */
void model_rope_inv_freq(const ModelConfig *c, double *inv_freq) {
    const RopeScaling *rs = &c->rope_scaling;
    int hd = c->head_dim;
    for (int i = 0; i < hd / 2; i++) {
        double inv = pow((double)c->rope_theta, -(double)(2 * i) / (double)hd);
        if (rs->type == ROPE_SCALING_LINEAR) inv /= rs->factor; /* HF: positions / factor, the same angles */
        else if (rs->type == ROPE_SCALING_LLAMA3) inv = llama3_inv_freq(rs, inv);
        inv_freq[i] = inv;
    }
}

ModelState *model_state_new(const Model *m, int max_seq, int max_batch) {
    const ModelConfig *c = &m->cfg;
    if (max_seq < 1 || max_batch < 1) return NULL;
    if (max_batch > max_seq) max_batch = max_seq;
    ModelState *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max_seq = max_seq; s->max_batch = max_batch;
    size_t B = (size_t)max_batch, T = (size_t)max_seq, hd = (size_t)c->head_dim;
    size_t qd = (size_t)c->n_heads * hd, kvd = (size_t)c->n_kv_heads * hd;
    int fail = 0;
    s->x = alloc_floats(B, c->dim, &fail);
    s->xb = alloc_floats(B, c->dim, &fail);
    s->q = alloc_floats(B, qd, &fail);
    s->att = alloc_floats(B, qd, &fail);
    s->hb = alloc_floats(B, c->hidden_dim, &fail);
    s->hb2 = alloc_floats(B, c->hidden_dim, &fail);
    s->k_tmp = alloc_floats(B, kvd, &fail);
    s->v_tmp = alloc_floats(B, kvd, &fail);
    s->kcache = alloc_floats((size_t)c->n_layers * T, kvd, &fail);
    s->vcache = alloc_floats((size_t)c->n_layers * T, kvd, &fail);
    s->scratch_threads = omp_get_max_threads();
    s->scores = alloc_floats(attention_scratch_floats(max_seq, c->n_heads, s->scratch_threads), 1, &fail);
    s->rope_cos = alloc_floats(T, hd / 2, &fail);
    s->rope_sin = alloc_floats(T, hd / 2, &fail);
    double *inv_freq = fail ? NULL : malloc(hd / 2 * sizeof *inv_freq);
    if (!inv_freq) { model_state_free(s); return NULL; }
    model_rope_inv_freq(c, inv_freq);
    /* angles in double: pos * inv_freq loses digits in float at long positions */
    for (size_t i = 0; i < hd / 2; i++) {
        double freq = inv_freq[i];
        for (size_t p = 0; p < T; p++) {
            s->rope_cos[p * (hd / 2) + i] = (float)cos((double)p * freq);
            s->rope_sin[p * (hd / 2) + i] = (float)sin((double)p * freq);
        }
    }
    free(inv_freq);
    return s;
}

void model_state_free(ModelState *s) {
    if (!s) return;
    float *bufs[] = {s->x, s->xb, s->q, s->att, s->hb, s->hb2, s->k_tmp, s->v_tmp, s->kcache,
                     s->vcache, s->scores, s->rope_cos, s->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(s);
}

// xb (n,dim) = rmsnorm(x (n,dim)) * w
static void rmsnorm_rows(float *xb, const float *x, const float *w, int n, int dim, float eps) {
#pragma omp parallel for schedule(static) if ((long)n * dim > PARALLEL_MIN_ELEMS)
    for (int i = 0; i < n; i++) rmsnorm_row(xb + (size_t)i * dim, x + (size_t)i * dim, w, dim, eps);
}

/* Epilogues run by the thread that just computed a column slice (see gemm_jobs). */
typedef struct { const ModelState *s; float *q, *k; int n, pos0, hd, qd, kvd; } RopeCtx;

// RoPE on columns [c0, c1) of q (job 0) or k (job 1) for all n rows: pairs (2i, 2i+1) rotated by pos*freq
static void rope_post(void *ctx, int job, int c0, int c1) {
    const RopeCtx *r = ctx;
    if (job > 1) return;
    float *v = job == 0 ? r->q : r->k;
    int ld = job == 0 ? r->qd : r->kvd, half = r->hd / 2;
    for (int i = 0; i < r->n; i++) {
        const float *cs = r->s->rope_cos + (size_t)(r->pos0 + i) * half, *sn = r->s->rope_sin + (size_t)(r->pos0 + i) * half;
        float *row = v + (size_t)i * ld;
        for (int c = c0; c < c1; c += 2) {
            int f = (c % r->hd) / 2;
            float a = row[c], b = row[c + 1];
            row[c] = a * cs[f] - b * sn[f];
            row[c + 1] = a * sn[f] + b * cs[f];
        }
    }
}

typedef struct { float *gate; const float *up; int n, H; } SwigluCtx;

// gate[:, c0:c1] ← silu(gate) * up, once the up slice (job 1) is done
static void swiglu_post(void *ctx, int job, int c0, int c1) {
    const SwigluCtx *g = ctx;
    if (job != 1) return;
    for (int i = 0; i < g->n; i++) swiglu_row(g->gate + (size_t)i * g->H + c0, g->up + (size_t)i * g->H + c0, c1 - c0);
}

/* The block in four parts, so that the calibration pipeline can run each alone (model_block_part);
 * block() is the four in order. Every part makes the same calls whoever runs it, so a part's output
 * has the same bits in both. */

// att (n, q_dim) = attention(rmsnorm(x)) for positions pos0.., this block's keys/values written at K, V rows pos0..
static void part_attn(const Model *m, ModelState *s, int layer, const float *x, float *att, int n, int pos0,
                      float *K, float *V, LinearTap tap, void *ctx) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    int dim = c->dim, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    float *Kn = K + (size_t)pos0 * kvd, *Vn = V + (size_t)pos0 * kvd;
    rmsnorm_rows(s->xb, x, b->attn_norm, n, dim, c->norm_eps);
    if (tap) for (int k = LIN_Q; k <= LIN_V; k++) tap(ctx, layer, (LinearKind)k, s->xb, n, dim);
    // q (n,qd), k (n,kvd), v (n,kvd) = xb (n,dim) @ W{q,k,v}ᵀ (+ b); k, v straight into the cache rows
    GemmJob qkv[3] = {{&b->lin[LIN_Q], s->xb, s->q, qd, 0.0f}, {&b->lin[LIN_K], s->xb, Kn, kvd, 0.0f},
                      {&b->lin[LIN_V], s->xb, Vn, kvd, 0.0f}};
    RopeCtx rc = {s, s->q, Kn, n, pos0, hd, qd, kvd};
    gemm_jobs(qkv, 3, n, rope_post, &rc);
    attention_causal(s->q, K, V, att, n, pos0, c->n_heads, c->n_kv_heads, hd, s->scores, s->scratch_threads);
}

// x (n, dim) += att (n, q_dim) @ Woᵀ
static void part_attn_out(const Model *m, int layer, float *x, const float *att, int n) {
    GemmJob o = {&m->blocks[layer].lin[LIN_O], att, x, m->cfg.dim, 1.0f};
    gemm_jobs(&o, 1, n, NULL, NULL);
}

// h (n, hidden) = silu(xb @ Wgateᵀ) * (xb @ Wupᵀ), xb = rmsnorm(x); hb2 scratch for up
static void part_mlp(const Model *m, ModelState *s, int layer, const float *x, float *h, int n, LinearTap tap,
                     void *ctx) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    int dim = c->dim, H = c->hidden_dim;
    rmsnorm_rows(s->xb, x, b->ffn_norm, n, dim, c->norm_eps);
    if (tap) for (int k = LIN_GATE; k <= LIN_UP; k++) tap(ctx, layer, (LinearKind)k, s->xb, n, dim);
    GemmJob gu[2] = {{&b->lin[LIN_GATE], s->xb, h, H, 0.0f}, {&b->lin[LIN_UP], s->xb, s->hb2, H, 0.0f}};
    SwigluCtx sc = {h, s->hb2, n, H};
    gemm_jobs(gu, 2, n, swiglu_post, &sc);
}

// x (n, dim) += h (n, hidden) @ Wdownᵀ
static void part_mlp_out(const Model *m, int layer, float *x, const float *h, int n) {
    GemmJob down = {&m->blocks[layer].lin[LIN_DOWN], h, x, m->cfg.dim, 1.0f};
    gemm_jobs(&down, 1, n, NULL, NULL);
}

/* One block on x (n, dim) in place, positions pos0 .. pos0+n-1. K, V (pos0+n, kv_dim) already hold
 * positions < pos0; this block's keys/values for the n new positions are written at rows pos0.. */
static void block(const Model *m, ModelState *s, int layer, float *x, int n, int pos0, float *K, float *V,
                  LinearTap tap, void *ctx) {
    if (m->cfg.family != ARCH_LLAMA) { /* the LayerNorm families (arch_block.c) */
        ArchScratch sc = {s->xb, s->q, s->att, s->hb, s->scores, s->scratch_threads};
        arch_block(m, &sc, layer, x, n, pos0, K, V, tap, ctx);
        return;
    }
    part_attn(m, s, layer, x, s->att, n, pos0, K, V, tap, ctx);
    if (tap) tap(ctx, layer, LIN_O, s->att, n, m->cfg.n_heads * m->cfg.head_dim);
    part_attn_out(m, layer, x, s->att, n);
    part_mlp(m, s, layer, x, s->hb, n, tap, ctx);
    if (tap) tap(ctx, layer, LIN_DOWN, s->hb, n, m->cfg.hidden_dim);
    part_mlp_out(m, layer, x, s->hb, n);
}

void model_embed(const Model *m, const int *tokens, int n, float *x) {
    int dim = m->cfg.dim;
    if (m->cfg.family != ARCH_LLAMA) { arch_embed(m, tokens, n, 0, x); return; }
    for (int i = 0; i < n; i++) {
        int t = tokens[i];
        if (t < 0 || t >= m->cfg.vocab_size) t = 0; /* callers validate; never read out of bounds */
        memcpy(x + (size_t)i * dim, m->tok_emb + (size_t)t * dim, (size_t)dim * sizeof(float));
    }
}

// logits (n,vocab) = rmsnorm(x (n,dim)) @ classifier (vocab,dim)ᵀ, xb (n,dim) scratch
static void head(const Model *m, const float *x, int n, float *xb, float *logits) {
    if (m->cfg.family != ARCH_LLAMA) { arch_head(m, x, n, xb, logits); return; }
    rmsnorm_rows(xb, x, m->final_norm, n, m->cfg.dim, m->cfg.norm_eps);
    Linear cls = {m->classifier_q ? NULL : m->classifier, NULL, m->cfg.vocab_size, m->cfg.dim, m->classifier_q};
    GemmJob j = {&cls, xb, logits, m->cfg.vocab_size, 0.0f};
    gemm_jobs(&j, 1, n, NULL, NULL);
}

int model_head_input(const Model *m, const float *x, int n, float *out) {
    const ModelConfig *c = &m->cfg;
    if (c->family == ARCH_LLAMA) {
        rmsnorm_rows(out, x, m->final_norm, n, c->dim, c->norm_eps);
        return 0;
    }
    float *xb = c->proj_dim ? malloc((size_t)n * c->dim * sizeof(float)) : out;
    if (!xb) return -1;
    BlasSingle bs;
    blas_single_begin(&bs);
    arch_head_input(m, x, n, xb, out);
    blas_single_end(&bs);
    if (xb != out) free(xb);
    return 0;
}

void model_head(const Model *m, const float *x, int n, float *logits) {
    int dim = m->cfg.dim, chunk = n < 256 ? n : 256;
    float *xb = malloc((size_t)chunk * dim * sizeof(float));
    if (!xb) { /* no way to report from a void function: make the failure impossible to miss */
        for (size_t i = 0; i < (size_t)n * m->cfg.vocab_size; i++) logits[i] = NAN;
        return;
    }
    BlasSingle bs;
    blas_single_begin(&bs);
    for (int i = 0; i < n; i += chunk) {
        int k = n - i < chunk ? n - i : chunk;
        head(m, x + (size_t)i * dim, k, xb, logits + (size_t)i * m->cfg.vocab_size);
    }
    blas_single_end(&bs);
    free(xb);
}

static int check_tokens(const Model *m, const int *tokens, int n, char err[QB_ERRLEN]) {
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.vocab_size) {
            snprintf(err, QB_ERRLEN, "%.300s: token %d at index %d is outside the vocabulary [0, %d)", m->path,
                     tokens[i], i, m->cfg.vocab_size);
            return -1;
        }
    return 0;
}

int model_forward(const Model *m, ModelState *s, const int *tokens, int n, int pos0, float *logits,
                  char err[QB_ERRLEN]) {
    if (n < 1 || n > s->max_batch || pos0 < 0 || pos0 > s->max_seq - n) {
        snprintf(err, QB_ERRLEN, "%.300s: forward of %d positions at %d does not fit the state (max_batch %d, "
                 "max_seq %d)", m->path, n, pos0, s->max_batch, s->max_seq);
        return -1;
    }
    if (check_tokens(m, tokens, n, err)) return -1;
    if (m->pos_emb && pos0 + n > m->cfg.seq_len) { /* learned positions: no row past the table */
        snprintf(err, QB_ERRLEN, "%.300s: position %d is past the %d learned positions of the model", m->path,
                 pos0 + n - 1, m->cfg.seq_len);
        return -1;
    }
    size_t layer_kv = (size_t)s->max_seq * m->cfg.n_kv_heads * m->cfg.head_dim;
    BlasSingle bs;
    blas_single_begin(&bs);
    if (m->cfg.family != ARCH_LLAMA) arch_embed(m, tokens, n, pos0, s->x); /* learned positions */
    else model_embed(m, tokens, n, s->x);
    for (int l = 0; l < m->cfg.n_layers; l++)
        block(m, s, l, s->x, n, pos0, s->kcache + l * layer_kv, s->vcache + l * layer_kv, NULL, NULL);
    if (logits) head(m, s->x, n, s->xb, logits);
    blas_single_end(&bs);
    return 0;
}

int model_block_forward(const Model *m, ModelState *s, int layer, float *x, int n, LinearTap tap,
                        void *tap_ctx, char err[QB_ERRLEN]) {
    if (layer < 0 || layer >= m->cfg.n_layers || n < 1 || n > s->max_batch) {
        snprintf(err, QB_ERRLEN, "%.300s: block %d with %d positions: out of range (layers %d, max_batch %d)",
                 m->path, layer, n, m->cfg.n_layers, s->max_batch);
        return -1;
    }
    BlasSingle bs;
    blas_single_begin(&bs);
    block(m, s, layer, x, n, 0, s->k_tmp, s->v_tmp, tap, tap_ctx);
    blas_single_end(&bs);
    return 0;
}

int model_block_part(const Model *m, ModelState *s, int layer, BlockPart part, float *x, float *y, int n,
                     char err[QB_ERRLEN]) {
    if (layer < 0 || layer >= m->cfg.n_layers || n < 1 || n > s->max_batch || part < 0 || part > BLOCK_MLP_OUT) {
        snprintf(err, QB_ERRLEN, "%.300s: block %d part %d with %d positions: out of range (layers %d, max_batch %d)",
                 m->path, layer, (int)part, n, m->cfg.n_layers, s->max_batch);
        return -1;
    }
    const Block *b = &m->blocks[layer];
    BlasSingle bs;
    blas_single_begin(&bs);
    if (m->cfg.family != ARCH_LLAMA) { /* the LayerNorm families (arch_block.c) */
        ArchScratch sc = {s->xb, s->q, s->att, s->hb, s->scores, s->scratch_threads};
        arch_block_part(m, &sc, layer, part, x, y, n, s->k_tmp, s->v_tmp);
        blas_single_end(&bs);
        return 0;
    }
    switch (part) {
    case BLOCK_ATTN_NORM: rmsnorm_rows(y, x, b->attn_norm, n, m->cfg.dim, m->cfg.norm_eps); break;
    case BLOCK_ATTN: part_attn(m, s, layer, x, y, n, 0, s->k_tmp, s->v_tmp, NULL, NULL); break;
    case BLOCK_ATTN_OUT: part_attn_out(m, layer, x, y, n); break;
    case BLOCK_FFN_NORM: rmsnorm_rows(y, x, b->ffn_norm, n, m->cfg.dim, m->cfg.norm_eps); break;
    case BLOCK_MLP: part_mlp(m, s, layer, x, y, n, NULL, NULL); break;
    case BLOCK_MLP_OUT: part_mlp_out(m, layer, x, y, n); break;
    }
    blas_single_end(&bs);
    return 0;
}
