/* pipeline.c — quantizes a whole model block by block on calibration windows (docs/quant.md §1.6).
 *
 * Memory: the model (mmapped, overwritten in place) + the calibration activations
 * (n_samples x seqlen x dim floats, `acts`) + one sample's scratch + the Hessians of one block + the
 * stacked layer inputs waiting for their Hessian (at most 16 MiB per input); the staged path also
 * keeps o's inputs (n_samples x seqlen x q_dim) during its o and gate/up stages, then down's inputs
 * (n_samples x seqlen x hidden, unless over 512 MiB).
 *
 * For block l:
 *   acts holds block l's inputs (the embeddings for l = 0, else block l-1's output computed with the
 *   already-quantized block l-1). The true-sequential stages ([q,k,v] → [o] → [gate,up] → [down])
 *   quantize a stage's layers before the next stage's inputs are computed, so later stages see the
 *   earlier stages quantized. By default (staged_block) each stage computes only its own inputs, with
 *   block parts (model_block_part), and the last step turns acts into block l+1's inputs: one block
 *   forward in all. The reference path (PipelineOptions.reference_path, and the only path without
 *   true_sequential, where one pass collects all four Hessians) runs every sample through the whole
 *   block with a LinearTap that adds it to the stage's Hessian, then re-runs the quantized block on
 *   acts in place. Both give the same bits (tests/test_pipeline.c).
 * q/k/v share one input and gate/up share one, so they share one Hessian (GPTQ computes identical
 * copies). Methods without error compensation (rtn, bcq, rtnt with the weight objective) need no
 * calibration: given none, they skip the forward passes; given some, the passes run only to report
 * each layer's error on the same inputs GPTQ would see.
 *
 * The head (only with quantize_head): after the last block, the classifier (vocab x dim) is
 * quantized with the same options, its Hessian built from the last block's outputs after the final
 * norm (the classifier's input: RMSNorm, or the LayerNorm families' final LayerNorm and OPT's
 * project_out); an untied tok_emb gets the same grid without a Hessian, since an embedding lookup has
 * no input activations to weigh (gptq → rtn, gptqt → rtnt). A tied head is one tensor with tok_emb:
 * quantizing it quantizes the embedding table to the same values (the CLI says so).
 *
 * Threads: the forward passes, the Hessians (hessian.c) and the solves all run on OpenMP threads;
 * only GPTQ's Cholesky runs on OpenBLAS's, with the other pool parked (quant/blas_threads.c). A
 * 768x3072 solve once took 2.2 s here against 0.1 s alone: the factorization's OpenBLAS threads were
 * competing with libgomp workers still spinning after the forward pass (and OpenBLAS workers spinning
 * under the next OpenMP loops), and every sample's Hessian was a one-thread ssyrk inside the forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quant/quant_internal.h"

enum { N_INPUTS = 4 }; /* distinct layer inputs in a block: qkv, o, gate/up, down */

static int input_of(LinearKind k) {
    switch (k) {
    case LIN_Q: case LIN_K: case LIN_V: return 0;
    case LIN_O: return 1;
    case LIN_GATE: case LIN_UP: return 2;
    default: return 3;
    }
}
/* The tap is called once per kind with the same x; accumulate on the first kind of each input that
 * the model's family has (model_block_linears: Llama's gate, OPT's fc1 = LIN_UP, ...). */
static void input_first(const ModelConfig *c, LinearKind first[N_INPUTS]) {
    LinearKind kinds[LIN_COUNT];
    int nk = model_block_linears(c, kinds);
    for (int g = 0; g < N_INPUTS; g++) first[g] = LIN_COUNT;
    for (int i = nk - 1; i >= 0; i--) first[input_of(kinds[i])] = kinds[i];
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Samples are stacked per input and added to their Hessian a few at a time (hessian.c: one tiled
 * XᵀX per batch; a single window of a few hundred tokens is too small a product for two cores). The
 * flush points depend only on the sample count, so a Hessian has the same bits whichever other
 * Hessians the pass collects (true_sequential or not). */
enum { STACK_TOKENS = 2048 };          /* aim: this many tokens per XᵀX */
#define STACK_BYTES (16u << 20)        /* but at most this much memory per input */

typedef struct {
    Hessian *h[N_INPUTS]; /* NULL: not collected in this pass */
    float *stack[N_INPUTS];
    int stacked[N_INPUTS]; /* samples waiting in stack[g] */
    int cap;               /* samples per flush (the same for every input) */
    int seqlen;
    int bad_cols;         /* a tap's cols disagreed with the Hessian, or a window had another length */
    LinearKind first[N_INPUTS]; /* input_first */
} TapCtx;

static void flush_stack(TapCtx *c, int g) {
    if (c->stacked[g] == 0) return;
    hessian_add_samples(c->h[g], c->stack[g], c->stacked[g] * c->seqlen, c->stacked[g]);
    c->stacked[g] = 0;
}

static void hessian_tap(void *vctx, int layer, LinearKind kind, const float *x, int n, int cols) {
    (void)layer;
    TapCtx *c = vctx;
    if (kind < 0 || kind >= LIN_COUNT) return;
    int g = input_of(kind);
    if (kind != c->first[g] || !c->h[g]) return;
    if (cols != c->h[g]->cols || n != c->seqlen) { c->bad_cols = 1; return; }
    memcpy(c->stack[g] + (size_t)c->stacked[g] * n * cols, x, (size_t)n * cols * sizeof(float));
    if (++c->stacked[g] == c->cap) flush_stack(c, g);
}

/* Samples per Hessian update for an input `cols` wide: STACK_TOKENS tokens, at most STACK_BYTES. */
static int stack_cap(int n_samples, int seqlen, size_t cols) {
    size_t per_sample = (size_t)seqlen * cols * sizeof(float);
    int cap = (STACK_TOKENS + seqlen - 1) / seqlen;
    while (cap > 1 && (size_t)cap * per_sample > STACK_BYTES) cap--;
    if (cap > n_samples) cap = n_samples;
    return cap < 1 ? 1 : cap;
}

/* Sets up the stacks of the inputs whose Hessian is collected (tc->h[g] set). */
static int tap_init(TapCtx *tc, int n_samples, int seqlen, char err[QB_ERRLEN]) {
    size_t widest = 0;
    for (int g = 0; g < N_INPUTS; g++)
        if (tc->h[g] && (size_t)tc->h[g]->cols > widest) widest = (size_t)tc->h[g]->cols;
    int cap = stack_cap(n_samples, seqlen, widest);
    tc->cap = cap;
    tc->seqlen = seqlen;
    for (int g = 0; g < N_INPUTS; g++) {
        if (!tc->h[g]) continue;
        tc->stack[g] = malloc((size_t)cap * seqlen * (size_t)tc->h[g]->cols * sizeof(float));
        if (!tc->stack[g]) {
            snprintf(err, QB_ERRLEN, "out of memory for %d stacked calibration windows", cap);
            return -1;
        }
    }
    return 0;
}

static void tap_free(TapCtx *tc) {
    for (int g = 0; g < N_INPUTS; g++) {
        free(tc->stack[g]);
        tc->stack[g] = NULL;
    }
}

static int method_compensates(const QuantOptions *o) {
    return o->method == QM_GPTQ || o->method == QM_GPTQT;
}
/* rtnt's hdiag/output objectives read H; everything else without compensation does not. */
static int method_needs_h(const QuantOptions *o) {
    return method_compensates(o) || (o->method == QM_RTNT && o->objective != QT_OBJ_WEIGHT);
}

/* Checks a collected Hessian: its layer's inputs must be finite and not all zero. `name` names the
 * layer in the message ("blk.3.attn.q", "classifier"). */
static int check_inputs(const Hessian *h, const char *name, char err[QB_ERRLEN]) {
    int nonfinite = h->nonfinite, nonzero = 0;
    for (int j = 0; j < h->cols; j++) {
        float d = h->H[(size_t)j * h->cols + j];
        if (!isfinite(d)) nonfinite = 1;
        else if (d != 0) nonzero = 1;
    }
    if (nonfinite) {
        snprintf(err, QB_ERRLEN, "%s: calibration inputs contain NaN or Inf", name);
        return -1;
    }
    if (!nonzero) {
        snprintf(err, QB_ERRLEN, "%s: calibration inputs are all zero", name);
        return -1;
    }
    return 0;
}

static void free_hessians(Hessian *H) {
    for (int g = 0; g < N_INPUTS; g++) {
        hessian_free(&H[g]);
        memset(&H[g], 0, sizeof H[g]);
    }
}

void pipeline_report_free(PipelineReport *r) {
    if (!r) return;
    if (r->results)
        for (int i = 0; i < r->n_layers; i++) quant_result_free(&r->results[i]);
    free(r->results);
    free(r->layers);
    memset(r, 0, sizeof *r);
}

/* Runs every calibration sample through block l (a copy of acts, output discarded) with the tap. */
static int collect(const Model *m, ModelState *s, int l, const float *acts, float *tmp, int n_samples,
                   int seqlen, TapCtx *tc, char err[QB_ERRLEN]) {
    size_t per = (size_t)seqlen * (size_t)m->cfg.dim;
    for (int i = 0; i < n_samples; i++) {
        memcpy(tmp, acts + (size_t)i * per, per * sizeof(float));
        if (model_block_forward(m, s, l, tmp, seqlen, hessian_tap, tc, err)) return -1;
    }
    if (tc->bad_cols) {
        snprintf(err, QB_ERRLEN, "blk.%d: a linear layer's input width disagrees with its weight", l);
        return -1;
    }
    for (int g = 0; g < N_INPUTS; g++)
        if (tc->h[g]) flush_stack(tc, g);
    return 0;
}

// out (dim) = x (dim) / rms(x) * w (dim), as the forward's final norm computes it
static void rmsnorm(float *out, const float *x, const float *w, int dim, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < dim; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int i = 0; i < dim; i++) out[i] = x[i] * inv * w[i];
}

/* Quantizes the classifier W (vocab, dim) in place, then an untied tok_emb (vocab, dim). acts holds
 * the last block's outputs (ns windows of T tokens), or is NULL without calibration. Adds the head's
 * weights to the bits/params/packed sums and fills rep->head_*. */
static int quant_head(Model *m, const float *acts, int ns, int T, const QuantOptions *o, double *bits_sum,
                      double *params, size_t *packed, PipelineReport *rep, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    const int V = c->vocab_size, D = model_emb_dim(c); /* the classifier's width (OPT-350M: project_out's) */
    const double np = (double)V * (double)D;
    double t0 = now_s();
    Hessian h;
    memset(&h, 0, sizeof h);
    float *xn = NULL;
    QuantResult r;
    memset(&r, 0, sizeof r);
    char qerr[QB_ERRLEN];
    int rc = -1;
    if (acts) {
        /* H of the classifier's input: final_norm(x) of every calibration position */
        if (hessian_init(&h, D, err)) return -1;
        xn = malloc((size_t)T * D * sizeof(float));
        if (!xn) {
            snprintf(err, QB_ERRLEN, "classifier: out of memory for %d normalised positions", T);
            goto done;
        }
        for (int i = 0; i < ns; i++) {
            const float *x = acts + (size_t)i * T * c->dim;
            if (c->family == ARCH_LLAMA) {
                for (int t = 0; t < T; t++)
                    rmsnorm(xn + (size_t)t * D, x + (size_t)t * D, m->final_norm, D, c->norm_eps);
            } else if (model_head_input(m, x, T, xn)) { /* final LayerNorm, OPT's project_out */
                snprintf(err, QB_ERRLEN, "classifier: out of memory for %d positions", T);
                goto done;
            }
            hessian_add_sample(&h, xn, T);
        }
        if (check_inputs(&h, "classifier", err)) goto done;
    }
    if (quantize_layer(m->classifier, acts ? h.H : NULL, V, D, o, &r, qerr)) {
        snprintf(err, QB_ERRLEN, "classifier: %.450s", qerr);
        goto done;
    }
    /* Tied models: classifier == tok_emb, so this one write makes the embedding table the same
     * quantized matrix (one tensor, counted once). */
    memcpy(m->classifier, r.q, (size_t)V * D * sizeof(float));
    rep->head_error = acts ? r.error : NAN;
    *bits_sum += quant_bits_per_weight(&r, o) * np;
    *params += np;
    *packed += quant_packed_bytes(&r, o);
    quant_result_free(&r);
    if (!c->tied_embeddings) {
        /* an embedding lookup has no input Hessian: the method's grid without compensation */
        QuantOptions eo = *o;
        if (eo.method == QM_GPTQ) eo.method = QM_RTN;
        if (eo.method == QM_GPTQT) eo.method = QM_RTNT;
        eo.act_order = 0;
        eo.static_groups = 0;
        if (quantize_layer(m->tok_emb, NULL, V, D, &eo, &r, qerr)) {
            snprintf(err, QB_ERRLEN, "tok_emb: %.450s", qerr);
            goto done;
        }
        memcpy(m->tok_emb, r.q, (size_t)V * D * sizeof(float));
        *bits_sum += quant_bits_per_weight(&r, &eo) * np;
        *params += np;
        *packed += quant_packed_bytes(&r, &eo);
        quant_result_free(&r);
    }
    rep->head_quantized = 1;
    rc = 0;
done:
    quant_result_free(&r);
    hessian_free(&h);
    free(xn);
    rep->head_seconds = now_s() - t0;
    return rc;
}

/* What quant_model sums over the layers it quantizes. */
typedef struct {
    const QuantOptions *o;
    const PipelineOptions *po;
    PipelineReport *rep;
    int keep_results, done_layers, total;
    double bits_sum, params;
    size_t packed;
    double quant_s; /* seconds inside quant_input */
} Tally;

/* Quantizes the layers of block l that read input g (q/k/v, o, gate/up or down) in place, with that
 * input's Hessian (NULL without calibration), and records them. */
static int quant_input_layers(Model *m, int l, int g, const Hessian *Hg, Tally *t, char err[QB_ERRLEN]);

static int quant_input(Model *m, int l, int g, const Hessian *Hg, Tally *t, char err[QB_ERRLEN]) {
    double t0 = now_s();
    int rc = quant_input_layers(m, l, g, Hg, t, err);
    t->quant_s += now_s() - t0;
    return rc;
}

static int quant_input_layers(Model *m, int l, int g, const Hessian *Hg, Tally *t, char err[QB_ERRLEN]) {
    Block *b = &m->blocks[l];
    const ModelConfig *c = &m->cfg;
    if (Hg && t->po->hessian_hook) t->po->hessian_hook(t->po->hessian_ctx, l, g, Hg->H, Hg->cols);
    LinearKind kinds[LIN_COUNT];
    const int nk = model_block_linears(c, kinds); /* the family's layers, in true-sequential order */
    for (int i = 0; i < nk; i++) {
        const int k = kinds[i];
        if (input_of((LinearKind)k) != g) continue;
        Linear *lin = &b->lin[k];
        const float *Hk = Hg ? Hg->H : NULL;
        char lname[64];
        snprintf(lname, sizeof lname, "blk.%d.%s", l, model_linear_name(c, (LinearKind)k));
        if (Hk && check_inputs(Hg, lname, err)) return -1;
        QuantResult r;
        char qerr[QB_ERRLEN];
        double ts = now_s();
        /* given H, every method reports its layer error on it */
        if (quantize_layer(lin->w, Hk, lin->rows, lin->cols, t->o, &r, qerr)) {
            snprintf(err, QB_ERRLEN, "blk.%d.%s: %.400s", l, model_linear_name(c, (LinearKind)k), qerr);
            return -1;
        }
        r.seconds = now_s() - ts;
        memcpy(lin->w, r.q, (size_t)lin->rows * (size_t)lin->cols * sizeof(float));
        int idx = l * nk + i;
        LayerRecord *rec = &t->rep->layers[idx];
        rec->layer = l;
        rec->kind = (LinearKind)k;
        rec->rows = lin->rows;
        rec->cols = lin->cols;
        rec->error = Hk ? r.error : NAN;
        rec->gptq_loss = r.gptq_loss;
        rec->seconds = r.seconds;
        rec->damp_used = r.damp_used;
        rec->damp_retries = r.damp_retries;
        double np = (double)lin->rows * (double)lin->cols;
        t->bits_sum += quant_bits_per_weight(&r, t->o) * np;
        t->params += np;
        t->packed += quant_packed_bytes(&r, t->o);
        if (t->keep_results) {
            /* the dequantized weights now live in the model: drop the second copy */
            free(r.q);
            r.q = NULL;
            t->rep->results[idx] = r;
        } else {
            quant_result_free(&r);
        }
        t->done_layers++;
        if (t->po->progress) t->po->progress(t->po->progress_ctx, l, (LinearKind)k, t->done_layers, t->total);
    }
    return 0;
}

/* The staged true-sequential block (the default). Each stage computes only what its layers' inputs
 * need, once, with every earlier stage already quantized:
 *   q/k/v   rmsnorm(x)                          (ns windows, stacked a few at a time)
 *   o       att = attention(rmsnorm(x)), kept   (one pass with the new q/k/v)
 *   gate/up x += att·Woᵀ in place, rmsnorm(x)   (the new o)
 *   down    h = silu(gate)·up, kept if it fits  (the new gate/up)
 *   next    x += h·Wdownᵀ                       (the new down; h recomputed if it was not kept)
 * — one block forward in all, where the reference path (one full forward per stage, plus one) runs
 * five. Each window runs the same model_block_part calls as model_block_forward, and each Hessian is
 * updated with the same sample batches as the reference path's taps, so both give the same bits
 * (tests/test_pipeline.c checks it). */
#define KEEP_H_BYTES ((size_t)512 << 20) /* the down input is kept for the last step up to this size */

static int add_batches(Hessian *h, const float *x, int ns, int T, int cap) {
    for (int i0 = 0; i0 < ns; i0 += cap) {
        int k = ns - i0 < cap ? ns - i0 : cap;
        hessian_add_samples(h, x + (size_t)i0 * T * h->cols, k * T, k);
    }
    return 0;
}

static int staged_block(Model *m, ModelState *s, int l, float *acts, int ns, int T, int last, Hessian *H,
                        Tally *t, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    const int D = c->dim, QD = c->n_heads * c->head_dim, HD = c->hidden_dim;
    const size_t per = (size_t)T * D;
    float *buf = NULL, *stack = NULL;
    int rc = -1, cap;
#define PART(p, x, y) if (model_block_part(m, s, l, (p), (x), (y), T, err)) goto out
    /* q/k/v: rmsnorm of the block input */
    cap = stack_cap(ns, T, (size_t)D);
    stack = malloc((size_t)cap * per * sizeof(float));
    if (!stack || hessian_init(&H[0], D, err)) goto oom;
    for (int i0 = 0; i0 < ns; i0 += cap) {
        int k = ns - i0 < cap ? ns - i0 : cap;
        for (int i = 0; i < k; i++) PART(BLOCK_ATTN_NORM, acts + (size_t)(i0 + i) * per, stack + (size_t)i * per);
        hessian_add_samples(&H[0], stack, k * T, k);
    }
    if (quant_input(m, l, 0, &H[0], t, err)) goto out;
    free_hessians(H);
    /* o: attention with the new q/k/v */
    buf = malloc((size_t)ns * T * QD * sizeof(float));
    if (!buf || hessian_init(&H[1], QD, err)) goto oom;
    for (int i = 0; i < ns; i++) PART(BLOCK_ATTN, acts + (size_t)i * per, buf + (size_t)i * T * QD);
    add_batches(&H[1], buf, ns, T, stack_cap(ns, T, (size_t)QD));
    if (quant_input(m, l, 1, &H[1], t, err)) goto out;
    free_hessians(H);
    /* gate/up: the residual after the new o, normed */
    if (hessian_init(&H[2], D, err)) goto oom;
    for (int i0 = 0; i0 < ns; i0 += cap) {
        int k = ns - i0 < cap ? ns - i0 : cap;
        for (int i = 0; i < k; i++) {
            float *x = acts + (size_t)(i0 + i) * per;
            PART(BLOCK_ATTN_OUT, x, buf + (size_t)(i0 + i) * T * QD);
            PART(BLOCK_FFN_NORM, x, stack + (size_t)i * per);
        }
        hessian_add_samples(&H[2], stack, k * T, k);
    }
    free(buf);
    buf = NULL;
    free(stack);
    stack = NULL;
    if (quant_input(m, l, 2, &H[2], t, err)) goto out;
    free_hessians(H);
    /* down: the new gate/up's product, kept for the next block's inputs when it fits */
    const size_t hbytes = (size_t)ns * T * HD * sizeof(float);
    const int keep = !last && hbytes <= KEEP_H_BYTES;
    cap = stack_cap(ns, T, (size_t)HD);
    buf = malloc(keep ? hbytes : (size_t)cap * T * HD * sizeof(float));
    if (!buf || hessian_init(&H[3], HD, err)) goto oom;
    for (int i0 = 0; i0 < ns; i0 += cap) {
        int k = ns - i0 < cap ? ns - i0 : cap;
        float *h0 = keep ? buf + (size_t)i0 * T * HD : buf;
        for (int i = 0; i < k; i++) PART(BLOCK_MLP, acts + (size_t)(i0 + i) * per, h0 + (size_t)i * T * HD);
        hessian_add_samples(&H[3], h0, k * T, k);
    }
    if (quant_input(m, l, 3, &H[3], t, err)) goto out;
    free_hessians(H);
    /* the next block's inputs, with the new down */
    if (!last)
        for (int i = 0; i < ns; i++) {
            float *x = acts + (size_t)i * per, *h = buf + (size_t)i * T * HD;
            if (!keep) {
                h = buf;
                PART(BLOCK_MLP, x, h);
            }
            PART(BLOCK_MLP_OUT, x, h);
        }
    rc = 0;
    goto out;
oom:
    if (!err[0])
        snprintf(err, QB_ERRLEN, "blk.%d: out of memory for the calibration activations (%d windows of %d tokens)", l,
                 ns, T);
out:
#undef PART
    free(buf);
    free(stack);
    return rc;
}

/* The staged block of the LayerNorm families (OPT, BLOOM, GPT-2, GPT-NeoX): the same stages as
 * staged_block, from the family's block parts (model_block_part), in GPTQ's order for them
 * (OPT: q,k,v → out_proj → fc1 → fc2; the others: fused qkv → dense → fc_in → fc_out):
 *   qkv     ln1(x) (x itself under OPT's post-LayerNorm)
 *   o       att = attention(ln1(x)), kept
 *   fc1     x += att·Woᵀ + b in place, ln2(x) — GPT-NeoX's parallel residual instead takes ln2 of the
 *           block input, so its att stays kept and x untouched until the last step
 *   fc2     h = act(fc1(ln2 x)), kept if it fits
 *   next    (parallel: x += att·Woᵀ + b, with h computed before it when not kept) x += h·Wfc2ᵀ + b
 * Each window runs the same part calls as the family's block, and each Hessian takes the same sample
 * batches as the reference path's taps: the same bits (tests/test_pipeline.c). */
static int staged_block_arch(Model *m, ModelState *s, int l, float *acts, int ns, int T, int last, Hessian *H,
                             Tally *t, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    const int D = c->dim, HD = c->hidden_dim, par = c->parallel_residual;
    const size_t per = (size_t)T * D;
    float *att = NULL, *buf = NULL, *stack = NULL;
    int rc = -1;
#define PART(p, x, y) if (model_block_part(m, s, l, (p), (x), (y), T, err)) goto out
    const int cap = stack_cap(ns, T, (size_t)D);
    stack = malloc((size_t)cap * per * sizeof(float));
    if (!stack || hessian_init(&H[0], D, err)) goto oom;
    for (int i0 = 0; i0 < ns; i0 += cap) {
        int k = ns - i0 < cap ? ns - i0 : cap;
        for (int i = 0; i < k; i++) PART(BLOCK_ATTN_NORM, acts + (size_t)(i0 + i) * per, stack + (size_t)i * per);
        hessian_add_samples(&H[0], stack, k * T, k);
    }
    if (quant_input(m, l, 0, &H[0], t, err)) goto out;
    free_hessians(H);
    att = malloc((size_t)ns * per * sizeof(float));
    if (!att || hessian_init(&H[1], D, err)) goto oom;
    for (int i = 0; i < ns; i++) PART(BLOCK_ATTN, acts + (size_t)i * per, att + (size_t)i * per);
    add_batches(&H[1], att, ns, T, stack_cap(ns, T, (size_t)D));
    if (quant_input(m, l, 1, &H[1], t, err)) goto out;
    free_hessians(H);
    if (hessian_init(&H[2], D, err)) goto oom;
    for (int i0 = 0; i0 < ns; i0 += cap) {
        int k = ns - i0 < cap ? ns - i0 : cap;
        for (int i = 0; i < k; i++) {
            float *x = acts + (size_t)(i0 + i) * per;
            if (!par) PART(BLOCK_ATTN_OUT, x, att + (size_t)(i0 + i) * per);
            PART(BLOCK_FFN_NORM, x, stack + (size_t)i * per);
        }
        hessian_add_samples(&H[2], stack, k * T, k);
    }
    free(stack);
    stack = NULL;
    if (!par) {
        free(att);
        att = NULL;
    }
    if (quant_input(m, l, 2, &H[2], t, err)) goto out;
    free_hessians(H);
    const size_t hbytes = (size_t)ns * T * HD * sizeof(float);
    const int keep = !last && hbytes <= KEEP_H_BYTES;
    const int hcap = stack_cap(ns, T, (size_t)HD);
    buf = malloc(keep ? hbytes : (size_t)hcap * T * HD * sizeof(float));
    if (!buf || hessian_init(&H[3], HD, err)) goto oom;
    for (int i0 = 0; i0 < ns; i0 += hcap) {
        int k = ns - i0 < hcap ? ns - i0 : hcap;
        float *h0 = keep ? buf + (size_t)i0 * T * HD : buf;
        for (int i = 0; i < k; i++) PART(BLOCK_MLP, acts + (size_t)(i0 + i) * per, h0 + (size_t)i * T * HD);
        hessian_add_samples(&H[3], h0, k * T, k);
    }
    if (quant_input(m, l, 3, &H[3], t, err)) goto out;
    free_hessians(H);
    if (!last)
        for (int i = 0; i < ns; i++) {
            float *x = acts + (size_t)i * per, *h = buf + (size_t)i * T * HD;
            if (!keep) {
                h = buf;
                PART(BLOCK_MLP, x, h); /* before ATTN_OUT: under the parallel residual h reads the block input */
            }
            if (par) PART(BLOCK_ATTN_OUT, x, att + (size_t)i * per);
            PART(BLOCK_MLP_OUT, x, h);
        }
    rc = 0;
    goto out;
oom:
    if (!err[0])
        snprintf(err, QB_ERRLEN, "blk.%d: out of memory for the calibration activations (%d windows of %d tokens)", l,
                 ns, T);
out:
#undef PART
    free(att);
    free(buf);
    free(stack);
    return rc;
}

int quant_model(Model *m, const CalibrationSet *calib, const PipelineOptions *po, int keep_results,
                PipelineReport *rep, char err[QB_ERRLEN]) {
    memset(rep, 0, sizeof *rep);
    const QuantOptions *o = &po->opt;
    const ModelConfig *c = &m->cfg;
    if (quant_options_validate(o, 0, err)) return -1;
    LinearKind kinds[LIN_COUNT], first[N_INPUTS];
    const int nk = model_block_linears(c, kinds);
    input_first(c, first);
    int have_calib = calib && calib->n_samples > 0;
    if (method_needs_h(o) && !have_calib) {
        snprintf(err, QB_ERRLEN, "%s needs calibration windows (none given)", quant_method_name(o->method));
        return -1;
    }
    if (have_calib) {
        if (m->pos_emb && calib->seqlen > c->seq_len) {
            snprintf(err, QB_ERRLEN, "calibration: seqlen %d is longer than the model's %d learned positions",
                     calib->seqlen, c->seq_len);
            return -1;
        }
        if (calib->seqlen < 1 || !calib->windows) {
            snprintf(err, QB_ERRLEN, "calibration: seqlen %d / windows missing", calib->seqlen);
            return -1;
        }
        size_t nt = (size_t)calib->n_samples * (size_t)calib->seqlen;
        for (size_t i = 0; i < nt; i++)
            if (calib->windows[i] < 0 || calib->windows[i] >= c->vocab_size) {
                snprintf(err, QB_ERRLEN, "calibration: window %zu token %zu = %d is outside the vocabulary (%d)",
                         i / (size_t)calib->seqlen, i % (size_t)calib->seqlen, calib->windows[i], c->vocab_size);
                return -1;
            }
    }
    /* quantizers rewrite Linear.w in place: a model loaded packed (F16/BF16, a checkpoint) becomes float32 */
    if (model_unpack_weights(m, err)) return -1;
    const int nl = c->n_layers, total = nl * nk;
    double t0 = now_s();
    rep->layers = calloc((size_t)total, sizeof *rep->layers);
    if (keep_results) rep->results = calloc((size_t)total, sizeof *rep->results);
    if (!rep->layers || (keep_results && !rep->results)) {
        snprintf(err, QB_ERRLEN, "out of memory for %d layer records", total);
        pipeline_report_free(rep);
        return -1;
    }
    rep->n_layers = total;

    const int ns = have_calib ? calib->n_samples : 0, T = have_calib ? calib->seqlen : 0;
    const size_t per = (size_t)T * (size_t)c->dim;
    float *acts = NULL, *tmp = NULL;
    ModelState *s = NULL;
    Hessian H[N_INPUTS];
    memset(H, 0, sizeof H);
    int rc = -1;
    if (have_calib) {
        acts = malloc((size_t)ns * per * sizeof(float));
        tmp = malloc(per * sizeof(float));
        s = model_state_new(m, T, T);
        if (!acts || !tmp || !s) {
            snprintf(err, QB_ERRLEN, "out of memory for %d calibration windows of %d tokens (%.1f MiB of activations)",
                     ns, T, (double)ns * (double)per * 4 / 1048576.0);
            goto done;
        }
        double tc0 = now_s();
        for (int i = 0; i < ns; i++) model_embed(m, calib->windows + (size_t)i * T, T, acts + (size_t)i * per);
        rep->calib_seconds += now_s() - tc0;
    }

    Tally t = {.o = o, .po = po, .rep = rep, .keep_results = keep_results, .total = total};
    static const int STAGES_SEQ[][N_INPUTS] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};
    static const int STAGES_ONE[][N_INPUTS] = {{1, 1, 1, 1}};
    const int (*stages)[N_INPUTS] = po->true_sequential ? STAGES_SEQ : STAGES_ONE;
    const int n_stages = po->true_sequential ? 4 : 1;
    const int staged = have_calib && po->true_sequential && !po->reference_path;

    for (int l = 0; l < nl; l++) {
        Block *b = &m->blocks[l];
        /* non-finite block inputs would reach every layer (and the forward's kernels): stop here */
        for (size_t i = 0; i < (size_t)ns * per; i++)
            if (!isfinite(acts[i])) {
                snprintf(err, QB_ERRLEN, "blk.%d.%s: calibration inputs contain NaN or Inf (window %zu, position %zu)",
                         l, model_linear_name(c, LIN_Q), i / per, i % per / (size_t)c->dim);
                goto done;
            }
        if (staged) {
            err[0] = 0;
            double tc0 = now_s(), q0 = t.quant_s;
            const int last = l + 1 == nl && !po->quantize_head;
            int src = c->family == ARCH_LLAMA ? staged_block(m, s, l, acts, ns, T, last, H, &t, err)
                                              : staged_block_arch(m, s, l, acts, ns, T, last, H, &t, err);
            rep->calib_seconds += now_s() - tc0 - (t.quant_s - q0); /* all but the layers' quantization */
            if (src) goto done;
            continue;
        }
        /* the reference path: every stage runs the whole block on every window with a tap */
        for (int st = 0; st < n_stages; st++) {
            TapCtx tc = {0};
            memcpy(tc.first, first, sizeof first);
            if (have_calib) {
                for (int g = 0; g < N_INPUTS; g++) {
                    if (!stages[st][g]) continue;
                    if (hessian_init(&H[g], b->lin[first[g]].cols, err)) goto done;
                    tc.h[g] = &H[g];
                }
                double tc0 = now_s();
                int crc = tap_init(&tc, ns, T, err) || collect(m, s, l, acts, tmp, ns, T, &tc, err);
                tap_free(&tc);
                rep->calib_seconds += now_s() - tc0;
                if (crc) goto done;
            }
            for (int g = 0; g < N_INPUTS; g++)
                if (stages[st][g] && quant_input(m, l, g, have_calib ? &H[g] : NULL, &t, err)) goto done;
            free_hessians(H);
        }
        /* the quantized block produces the next block's inputs (after the last block: the head's) */
        if (have_calib && (l + 1 < nl || po->quantize_head)) {
            double tc0 = now_s();
            for (int i = 0; i < ns; i++)
                if (model_block_forward(m, s, l, acts + (size_t)i * per, T, NULL, NULL, err)) goto done;
            rep->calib_seconds += now_s() - tc0;
        }
    }
    if (po->quantize_head && quant_head(m, acts, ns, T, o, &t.bits_sum, &t.params, &t.packed, rep, err)) goto done;
    /* everything left in float, counted at fp16 (2 bytes): embeddings and classifier unless quantized,
     * norms, biases */
    size_t floats = (po->quantize_head ? 0 : (size_t)c->vocab_size * c->dim * (c->tied_embeddings ? 1 : 2)) +
                    (size_t)c->dim * (2 * (size_t)nl + 1);
    for (int l = 0; l < nl; l++)
        for (int k = 0; k < LIN_COUNT; k++)
            if (m->blocks[l].lin[k].bias) floats += (size_t)m->blocks[l].lin[k].rows;
    if (c->family != ARCH_LLAMA) { /* every listed tensor, biases included, less the quantized head */
        floats = model_float_params(m);
        if (po->quantize_head) floats -= (size_t)c->vocab_size * model_emb_dim(c) * (c->tied_embeddings ? 1 : 2);
    }
    rep->bits_per_weight = t.params > 0 ? t.bits_sum / t.params : 0;
    rep->packed_bytes = t.packed + 2 * floats;
    rc = 0;
done:
    free_hessians(H);
    free(acts);
    free(tmp);
    model_state_free(s);
    rep->seconds = now_s() - t0;
    if (rc) pipeline_report_free(rep);
    return rc;
}
