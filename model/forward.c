/* forward.c — the transformer forward pass: state (KV cache + scratch), the block (RMSNorm → q/k/v →
 * RoPE → causal GQA attention → o, RMSNorm → SwiGLU MLP), embedding and classifier head. Every linear
 * layer is one sgemm over the whole window of n positions: x (n,in) @ W (out,in)ᵀ -> y (n,out). */
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

int model_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}

static float *alloc_floats(size_t a, size_t b, int *fail) {
    size_t n;
    if (mul_size(a, b, &n) || mul_size(n ? n : 1, sizeof(float), &n)) { *fail = 1; return NULL; }
    float *p = malloc(n);
    if (!p) *fail = 1;
    return p;
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
    if (fail) { model_state_free(s); return NULL; }
    /* angles in double: pos * theta^(-2i/hd) loses digits in float at long positions */
    for (size_t p = 0; p < T; p++)
        for (size_t i = 0; i < hd / 2; i++) {
            double freq = pow((double)c->rope_theta, -(double)(2 * i) / (double)hd);
            s->rope_cos[p * (hd / 2) + i] = (float)cos((double)p * freq);
            s->rope_sin[p * (hd / 2) + i] = (float)sin((double)p * freq);
        }
    return s;
}

void model_state_free(ModelState *s) {
    if (!s) return;
    float *bufs[] = {s->x, s->xb, s->q, s->att, s->hb, s->hb2, s->k_tmp, s->v_tmp, s->kcache,
                     s->vcache, s->scores, s->rope_cos, s->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(s);
}

// y (n,rows) = beta*y + x (n,cols) @ W (rows,cols)ᵀ (+ bias); y rows are ldy apart
static void linear(const Linear *lin, const float *x, int n, float *y, int ldy, float beta) {
    gemm_nt(n, lin->rows, lin->cols, x, lin->cols, lin->w, lin->cols, y, ldy, beta);
    if (lin->bias)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < lin->rows; j++) y[(size_t)i * ldy + j] += lin->bias[j];
}

// xb (n,dim) = rmsnorm(x (n,dim)) * w
static void rmsnorm_rows(float *xb, const float *x, const float *w, int n, int dim, float eps) {
#pragma omp parallel for schedule(static) if ((long)n * dim > 32768)
    for (int i = 0; i < n; i++) rmsnorm_row(xb + (size_t)i * dim, x + (size_t)i * dim, w, dim, eps);
}

/* One block on x (n, dim) in place, positions pos0 .. pos0+n-1. K, V (pos0+n, kv_dim) already hold
 * positions < pos0; this block's keys/values for the n new positions are written at rows pos0.. */
static void block(const Model *m, ModelState *s, int layer, float *x, int n, int pos0, float *K, float *V,
                  LinearTap tap, void *ctx) {
    const ModelConfig *c = &m->cfg;
    const Block *b = &m->blocks[layer];
    int dim = c->dim, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, H = c->hidden_dim;
    float *Kn = K + (size_t)pos0 * kvd, *Vn = V + (size_t)pos0 * kvd;

    rmsnorm_rows(s->xb, x, b->attn_norm, n, dim, c->norm_eps);
    if (tap) for (int k = LIN_Q; k <= LIN_V; k++) tap(ctx, layer, (LinearKind)k, s->xb, n, dim);
    linear(&b->lin[LIN_Q], s->xb, n, s->q, qd, 0.0f);   // q (n,qd)
    linear(&b->lin[LIN_K], s->xb, n, Kn, kvd, 0.0f);    // k (n,kvd) straight into K rows pos0..
    linear(&b->lin[LIN_V], s->xb, n, Vn, kvd, 0.0f);    // v (n,kvd)
#pragma omp parallel for schedule(static) if (n > 16)
    for (int i = 0; i < n; i++) {
        const float *cs = s->rope_cos + (size_t)(pos0 + i) * (hd / 2), *sn = s->rope_sin + (size_t)(pos0 + i) * (hd / 2);
        rope_row(s->q + (size_t)i * qd, c->n_heads, hd, cs, sn);
        rope_row(Kn + (size_t)i * kvd, c->n_kv_heads, hd, cs, sn);
    }
    attention_causal(s->q, K, V, s->att, n, pos0, c->n_heads, c->n_kv_heads, hd, s->scores, s->scratch_threads);
    if (tap) tap(ctx, layer, LIN_O, s->att, n, qd);
    linear(&b->lin[LIN_O], s->att, n, x, dim, 1.0f);    // x += att (n,qd) @ Woᵀ

    rmsnorm_rows(s->xb, x, b->ffn_norm, n, dim, c->norm_eps);
    if (tap) for (int k = LIN_GATE; k <= LIN_UP; k++) tap(ctx, layer, (LinearKind)k, s->xb, n, dim);
    linear(&b->lin[LIN_GATE], s->xb, n, s->hb, H, 0.0f);  // gate (n,H)
    linear(&b->lin[LIN_UP], s->xb, n, s->hb2, H, 0.0f);   // up (n,H)
#pragma omp parallel for schedule(static) if ((long)n * H > 32768)
    for (int i = 0; i < n; i++) swiglu_row(s->hb + (size_t)i * H, s->hb2 + (size_t)i * H, H);
    if (tap) tap(ctx, layer, LIN_DOWN, s->hb, n, H);
    linear(&b->lin[LIN_DOWN], s->hb, n, x, dim, 1.0f);  // x += h (n,H) @ Wdownᵀ
}

void model_embed(const Model *m, const int *tokens, int n, float *x) {
    int dim = m->cfg.dim;
    for (int i = 0; i < n; i++) {
        int t = tokens[i];
        if (t < 0 || t >= m->cfg.vocab_size) t = 0; /* callers validate; never read out of bounds */
        memcpy(x + (size_t)i * dim, m->tok_emb + (size_t)t * dim, (size_t)dim * sizeof(float));
    }
}

// logits (n,vocab) = rmsnorm(x (n,dim)) @ classifier (vocab,dim)ᵀ, xb (n,dim) scratch
static void head(const Model *m, const float *x, int n, float *xb, float *logits) {
    rmsnorm_rows(xb, x, m->final_norm, n, m->cfg.dim, m->cfg.norm_eps);
    gemm_nt(n, m->cfg.vocab_size, m->cfg.dim, xb, m->cfg.dim, m->classifier, m->cfg.dim, logits,
            m->cfg.vocab_size, 0.0f);
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
    size_t layer_kv = (size_t)s->max_seq * m->cfg.n_kv_heads * m->cfg.head_dim;
    BlasSingle bs;
    blas_single_begin(&bs);
    model_embed(m, tokens, n, s->x);
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
