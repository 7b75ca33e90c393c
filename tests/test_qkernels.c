/* test_qkernels.c — weights kept as stored: for every packed format, the float accessor decodes exactly
 * the checkpoint's definition (computed here from the raw arrays), the decode kernels (AVX-512, AVX2 and portable
 * C, as the CPU has them) and the prefill path match a double-precision dot product of those weights within a float32
 * summation bound, and results do not depend on how rows are split among threads. Then whole models: a
 * .qbq checkpoint kept packed against the same checkpoint decoded to float32, decode and prefill.
 *
 * Tolerances: a float32 sum of n products, in any order and with or without FMA, is within
 * γ = n·u·Σ|w_j·x_j| of the exact sum (u = 2^-24, first order); the kernels' extra roundings (one scale
 * multiply per group, the lookup table's ±x sums of 8 terms) add a few u more per term. We allow
 * 2·(n + 32)·u·Σ|w_j·x_j|, where for binary codes |w_j| is bounded by |offset| + Σ_b |alpha_b|. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "model/qweights.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"
#include "tests/common.h"

#define U 0x1p-24

typedef struct {
    int rows, cols, bits, ng;
    uint8_t *codes;
    float *scales, *zeros, *alphas, *offsets, *levels, *x, *wref, *mag; /* wref: the layer's weights; mag: |w| bound */
    int32_t *g_idx;
} Case;

typedef enum { G_CONTIG, G_PERM, G_IRREGULAR, G_CHANNEL } Grouping;

static void make_gidx(Case *c, Grouping gr, QbRng *r) {
    const int cols = c->cols;
    if (gr == G_CHANNEL) c->ng = 1;
    for (int j = 0; j < cols; j++) c->g_idx[j] = gr == G_CHANNEL ? 0 : j / (cols / c->ng);
    if (gr == G_PERM) /* act-order: equal-size groups, columns shuffled */
        for (int j = cols - 1; j > 0; j--) {
            int k = (int)qb_rng_below(r, (uint64_t)j + 1), t = c->g_idx[j];
            c->g_idx[j] = c->g_idx[k];
            c->g_idx[k] = t;
        }
    if (gr == G_IRREGULAR) /* unequal groups: every group non-empty, the rest random */
        for (int j = c->ng; j < cols; j++) c->g_idx[j] = (int)qb_rng_below(r, (uint64_t)c->ng);
}

/* Random codes and grid; wref from the definitions (uniform: scale·(code − zero) in float32; binary:
 * levels = offset + Σ alpha_b·(±1), which the level table stores). */
static Case make_case(int rows, int cols, int bits, int ng, Grouping gr, int binary, uint64_t seed) {
    QbRng r;
    qb_rng_seed(&r, seed);
    Case c;
    memset(&c, 0, sizeof c);
    c.rows = rows; c.cols = cols; c.bits = bits; c.ng = ng;
    c.g_idx = malloc((size_t)cols * sizeof *c.g_idx);
    make_gidx(&c, gr, &r);
    ng = c.ng;
    size_t rc = (size_t)rows * cols, rg = (size_t)rows * ng;
    c.codes = malloc(rc);
    c.x = malloc((size_t)cols * sizeof *c.x);
    c.wref = malloc(rc * sizeof *c.wref);
    c.mag = malloc(rc * sizeof *c.mag);
    c.scales = malloc(rg * sizeof *c.scales);
    c.zeros = malloc(rg * sizeof *c.zeros);
    c.alphas = malloc(rg * bits * sizeof *c.alphas);
    c.offsets = malloc(rg * sizeof *c.offsets);
    c.levels = malloc((rg << bits) * sizeof *c.levels);
    for (size_t i = 0; i < rc; i++) c.codes[i] = (uint8_t)qb_rng_below(&r, 1u << bits);
    for (int j = 0; j < cols; j++) c.x[j] = qb_rng_normal(&r);
    for (size_t g = 0; g < rg; g++) {
        c.scales[g] = 0.001f + 0.01f * (float)qb_rng_uniform(&r);
        c.zeros[g] = (float)qb_rng_below(&r, 1u << bits);
        c.offsets[g] = 0.01f * qb_rng_normal(&r);
        for (int b = 0; b < bits; b++) c.alphas[g * bits + b] = 0.02f * (float)qb_rng_uniform(&r) / (float)(1 << b);
        for (int code = 0; code < 1 << bits; code++) {
            float v = c.offsets[g];
            for (int b = 0; b < bits; b++) v += c.alphas[g * bits + b] * ((code >> b & 1) ? 1.0f : -1.0f);
            c.levels[(g << bits) + code] = v;
        }
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t g = (size_t)i * ng + c.g_idx[j], e = (size_t)i * cols + j;
            if (binary) {
                c.wref[e] = c.levels[(g << bits) + c.codes[e]];
                float m = fabsf(c.offsets[g]);
                for (int b = 0; b < bits; b++) m += fabsf(c.alphas[g * bits + b]);
                c.mag[e] = m;
            } else {
                c.wref[e] = c.scales[g] * ((float)c.codes[e] - c.zeros[g]);
                c.mag[e] = fabsf(c.wref[e]);
            }
        }
    return c;
}

static void free_case(Case *c) {
    free(c->codes); free(c->scales); free(c->zeros); free(c->alphas); free(c->offsets); free(c->levels);
    free(c->x); free(c->wref); free(c->mag); free(c->g_idx);
}

/* y (rows) from the layer, for x, checked against Σ wref·x in double; then every row split of
 * gemm_jobs' shape for 1, 2 and 3 threads gives the same bits. */
static void check_dot(const Linear *l, const float *wref, const float *mag, const float *x) {
    const int R = l->rows, C = l->cols;
    float *y = malloc((size_t)R * sizeof *y), *y2 = malloc((size_t)R * sizeof *y2);
    linear_dot_rows(l, x, 0, R, y);
    for (int i = 0; i < R; i++) {
        double want = 0, bound = 0;
        for (int j = 0; j < C; j++) {
            want += (double)wref[(size_t)i * C + j] * x[j];
            bound += (double)mag[(size_t)i * C + j] * fabs(x[j]);
        }
        double tol = 2.0 * (C + 32) * U * bound + 1e-30;
        if (fabs(y[i] - want) > tol)
            fail_msg("%s row %d: kernel %.9g, reference %.9g, bound %.3g", qweight_format_name(linear_format(l)), i,
                     (double)y[i], want, tol);
    }
    for (int nt = 1; nt <= 3; nt++) {
        int per = ((R + nt - 1) / nt + 15) / 16 * 16;
        for (int t = 0; t < nt; t++) {
            int c0 = t * per < R ? t * per : R, c1 = c0 + per < R ? c0 + per : R;
            linear_dot_rows(l, x, c0, c1, y2 + c0);
        }
        assert_memory_equal(y, y2, (size_t)R * sizeof *y);
    }
    free(y);
    free(y2);
}

/* Prefill: n rows of activations through the tile-dequantizing path against the same reference. */
static void check_prefill(const Linear *l, const float *wref, const float *mag, uint64_t seed) {
    const int R = l->rows, C = l->cols, n = 5;
    QbRng r;
    qb_rng_seed(&r, seed);
    float *x = malloc((size_t)n * C * sizeof *x), *y = malloc((size_t)n * R * sizeof *y);
    for (int i = 0; i < n * C; i++) x[i] = qb_rng_normal(&r);
    for (int i = 0; i < n * R; i++) y[i] = 1.0f;
    BlasSingle bs;
    blas_single_begin(&bs);
    qgemm_slice(l, x, n, 0, R, 0.5f, y, R); /* beta 0.5 on y = 1: adds 0.5 */
    blas_single_end(&bs);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < R; i++) {
            double want = 0.5, bound = 0.5;
            for (int j = 0; j < C; j++) {
                want += (double)wref[(size_t)i * C + j] * x[(size_t)t * C + j];
                bound += (double)mag[(size_t)i * C + j] * fabs(x[(size_t)t * C + j]);
            }
            double tol = 2.0 * (C + 32) * U * bound;
            if (fabs(y[(size_t)t * R + i] - want) > tol)
                fail_msg("prefill %s [%d,%d]: %.9g vs %.9g", qweight_format_name(linear_format(l)), t, i,
                         (double)y[(size_t)t * R + i], want);
        }
    free(x);
    free(y);
}

static void run_codes(int binary) {
    static const int BITS_U[] = {2, 3, 4, 8}, BITS_B[] = {1, 2, 3, 4};
    static const Grouping GR[] = {G_CONTIG, G_PERM, G_IRREGULAR, G_CHANNEL};
    char err[QB_ERRLEN];
    uint64_t seed = 10;
    for (int bi = 0; bi < 4; bi++)
        for (int gi = 0; gi < 4; gi++)
            for (int shape = 0; shape < 3; shape++) { /* groups of 64, 32, 8 columns: every layout */
                int bits = binary ? BITS_B[bi] : BITS_U[bi];
                int rows = (int[]){48, 37, 20}[shape], cols = (int[]){256, 96, 64}[shape], ng = (int[]){4, 3, 8}[shape];
                Case c = make_case(rows, cols, bits, ng, GR[gi], binary, seed++);
                Model *m = model_alloc();
                assert_non_null(m);
                Linear l = {NULL, NULL, rows, cols, NULL};
                int rc = binary ? linear_keep_binary(m, &l, bits, c.ng, c.codes, c.alphas, c.offsets, c.levels, c.g_idx, err)
                                : linear_keep_uniform(m, &l, bits, c.ng, c.codes, c.scales, c.zeros, c.g_idx, err);
                if (rc) fail_msg("%s", err);
                assert_null(l.w);
                assert_int_equal(linear_format(&l), binary ? QW_BINARY : QW_UNIFORM);
                float *w = malloc((size_t)rows * cols * sizeof *w);
                for (int simd = 0; simd < 3; simd++) {
                    qk_set_simd(simd);
                    /* the accessor decodes exactly the definition */
                    linear_rows_f32(&l, 0, rows, w);
                    assert_memory_equal(w, c.wref, (size_t)rows * cols * sizeof *w);
                    linear_rows_f32(&l, 5, 9, w);
                    assert_memory_equal(w, c.wref + (size_t)5 * cols, (size_t)4 * cols * sizeof *w);
                    check_dot(&l, c.wref, c.mag, c.x);
                }
                free(w);
                qk_set_simd(2);
                check_prefill(&l, c.wref, c.mag, seed);
                model_free(m);
                free_case(&c);
            }
}

static void test_uniform_codes(void **state) { (void)state; run_codes(0); }
static void test_binary_codes_lut(void **state) { (void)state; run_codes(1); }

static void test_bad_codes_refused(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *m = model_alloc();
    Linear l = {NULL, NULL, 2, 8, NULL};
    uint8_t codes[16] = {0};
    float s[2] = {1, 1}, z[2] = {0, 0};
    int32_t g[8] = {0, 0, 0, 0, 0, 0, 0, 1}; /* group 1 of 1 */
    assert_int_equal(linear_keep_uniform(m, &l, 4, 1, codes, s, z, g, err), -1);
    assert_non_null(strstr(err, "g_idx[7]"));
    g[7] = 0;
    codes[3] = 16;
    assert_int_equal(linear_keep_uniform(m, &l, 4, 1, codes, s, z, g, err), -1);
    assert_non_null(strstr(err, "does not fit"));
    assert_null(l.q);
    model_free(m);
}

static void test_halves(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    const int R = 40, C = 200; /* C not a multiple of 32: the vector loops' tails */
    QbRng r;
    qb_rng_seed(&r, 5);
    uint16_t *h = malloc((size_t)R * C * 2);
    float *wref = malloc((size_t)R * C * sizeof *wref), *mag = malloc((size_t)R * C * sizeof *mag), x[200];
    for (int j = 0; j < C; j++) x[j] = qb_rng_normal(&r);
    for (int bf = 0; bf < 2; bf++) {
        for (int i = 0; i < R * C; i++) {
            float v = 0.05f * qb_rng_normal(&r);
            if (bf) { /* truncation is a valid bf16; the reference widens by a shift */
                uint32_t b;
                memcpy(&b, &v, 4);
                h[i] = (uint16_t)(b >> 16);
                b = (uint32_t)h[i] << 16;
                memcpy(&wref[i], &b, 4);
            } else { /* the compiler's own half type as the independent reference */
                _Float16 f = (_Float16)v;
                memcpy(&h[i], &f, 2);
                wref[i] = (float)f;
            }
            mag[i] = fabsf(wref[i]);
        }
        Model *m = model_alloc();
        Linear l = {NULL, NULL, R, C, NULL};
        assert_int_equal(linear_keep_half(m, &l, bf ? QW_BF16 : QW_F16, h, err), 0);
        float *w = malloc((size_t)R * C * sizeof *w);
        linear_rows_f32(&l, 0, R, w);
        assert_memory_equal(w, wref, (size_t)R * C * sizeof *w);
        free(w);
        for (int simd = 0; simd < 3; simd++) {
            qk_set_simd(simd);
            check_dot(&l, wref, mag, x);
        }
        qk_set_simd(2);
        check_prefill(&l, wref, mag, 3);
        model_free(m);
    }
    free(h);
    free(wref);
    free(mag);
}

/* ---- whole models --------------------------------------------------------------------------------- */

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    return t_mkdtemp(tmpdir, sizeof tmpdir, "qbench_test_qk");
}

static int teardown(void **state) {
    (void)state;
    return t_rm_rf(tmpdir);
}

/* A synthetic model quantized by `method` and written as a checkpoint; returns its path in buf. */
static void make_checkpoint(QuantMethod method, int bits, int gs, char *buf, size_t n) {
    char err[QB_ERRLEN], dir[300];
    snprintf(dir, sizeof dir, "%s/synth", tmpdir);
    ModelConfig cfg = {.dim = 256, .hidden_dim = 512, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 64,
                       .vocab_size = 300, .seq_len = 64, .rope_theta = 10000, .norm_eps = 1e-5f, .bos_id = 1, .eos_id = 2};
    snprintf(cfg.arch, sizeof cfg.arch, "LlamaForCausalLM");
    if (model_synth_write(&cfg, 7, SYNTH_SAFETENSORS, dir, err)) fail_msg("%s", err);
    Model *m = model_load(dir, err);
    assert_non_null(m);
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, method, bits);
    po.opt.group_size = gs;
    po.true_sequential = 1;
    PipelineReport rep;
    if (quant_model(m, NULL, &po, 1, &rep, err)) fail_msg("quant_model: %s", err);
    snprintf(buf, n, "%s/%s%d.qbq", tmpdir, quant_method_name(method), bits);
    if (quant_checkpoint_write(m, &rep, &po, buf, err)) fail_msg("write: %s", err);
    pipeline_report_free(&rep);
    model_free(m);
}

static void logits(const Model *m, int decode, float *out) {
    char err[QB_ERRLEN];
    const int n = 12, V = m->cfg.vocab_size;
    int toks[12];
    for (int i = 0; i < n; i++) toks[i] = (i * 37 + 5) % V;
    ModelState *s = model_state_new(m, n, n);
    assert_non_null(s);
    if (decode)
        for (int i = 0; i < n; i++) assert_int_equal(model_forward(m, s, toks + i, 1, i, out + (size_t)i * V, err), 0);
    else
        assert_int_equal(model_forward(m, s, toks, n, 0, out, err), 0);
    model_state_free(s);
}

/* Packed against the same checkpoint decoded to float32: identical weights, so only float32 summation
 * order differs (kernel vs BLAS; measured about 5e-7 relative to the logits' scale after 2 blocks), and
 * 1e-5·(1 + |logit|) is the bound we hold it to. Decoding packed is bit-identical for 1, 2, 3 threads. */
static void check_packed_model(QuantMethod method, int bits, int gs, QWeightFormat want) {
    char err[QB_ERRLEN], path[512];
    make_checkpoint(method, bits, gs, path, sizeof path);
    Model *p = quant_checkpoint_load(path, err), *f = quant_checkpoint_load(path, err);
    assert_non_null(p);
    assert_non_null(f);
    assert_int_equal(linear_format(&p->blocks[1].lin[LIN_DOWN]), want);
    assert_true(linear_weight_bytes(&p->blocks[1].lin[LIN_DOWN]) <
                (size_t)p->blocks[1].lin[LIN_DOWN].rows * p->blocks[1].lin[LIN_DOWN].cols * sizeof(float) / 2);
    assert_int_equal(model_unpack_weights(f, err), 0);
    assert_int_equal(linear_format(&f->blocks[1].lin[LIN_DOWN]), QW_F32);
    const size_t NV = (size_t)12 * p->cfg.vocab_size;
    float *a = malloc(NV * sizeof *a), *b = malloc(NV * sizeof *b), *c = malloc(NV * sizeof *c);
    for (int decode = 0; decode < 2; decode++) {
        logits(p, decode, a);
        logits(f, decode, b);
        double worst = 0;
        for (size_t i = 0; i < NV; i++) {
            double d = fabs(a[i] - b[i]) / (1.0 + fabs(b[i]));
            if (d > worst) worst = d;
        }
        print_message("%s %d-bit %s: packed vs float32 logits, max |Δ|/(1+|l|) = %.3g\n", quant_method_name(method),
                      bits, decode ? "decode" : "prefill", worst);
        assert_true(worst <= 1e-5);
    }
    float *d = malloc(NV * sizeof *d);
    for (int nt = 1; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        logits(p, 1, nt == 1 ? a : c);
        logits(p, 0, nt == 1 ? b : d);
        if (nt > 1) {
            assert_memory_equal(a, c, NV * sizeof *a);
            assert_memory_equal(b, d, NV * sizeof *b);
        }
    }
    omp_set_num_threads(omp_get_num_procs());
    free(a); free(b); free(c); free(d);
    model_free(p);
    model_free(f);
}

static void test_model_uniform4(void **state) { (void)state; check_packed_model(QM_RTN, 4, 64, QW_UNIFORM); }
static void test_model_uniform3(void **state) { (void)state; check_packed_model(QM_RTN, 3, 128, QW_UNIFORM); }
static void test_model_bcq3(void **state) { (void)state; check_packed_model(QM_BCQ, 3, 64, QW_BINARY); }

/* Writers that need float weights get them from a packed model through the accessor: a packed model
 * converted to HF safetensors loads back as exactly its decoded weights. */
/* A classifier whose every value is a bfloat16 is run as BF16 (half the bytes per decoded token): logits
 * within the same summation-order bound of the float32 classifier, identical for 1, 2, 3 threads; a
 * classifier that is not exactly BF16/F16 stays float32. */
static void test_classifier_half(void **state) {
    (void)state;
    char err[QB_ERRLEN], path[512];
    make_checkpoint(QM_RTN, 4, 64, path, sizeof path);
    Model *p = quant_checkpoint_load(path, err), *f = quant_checkpoint_load(path, err);
    assert_non_null(p);
    assert_non_null(f);
    assert_null(p->classifier_q); /* random float32 values */
    const size_t n = (size_t)p->cfg.vocab_size * p->cfg.dim;
    for (size_t i = 0; i < n; i++) { /* truncate to bfloat16 by hand, the same in both models */
        uint32_t b;
        memcpy(&b, &p->classifier[i], 4);
        b &= 0xffff0000u;
        memcpy(&p->classifier[i], &b, 4);
        memcpy(&f->classifier[i], &b, 4);
    }
    assert_int_equal(model_keep_classifier_half(p, QW_F32, NULL, err), 0);
    assert_non_null(p->classifier_q);
    assert_int_equal(model_unpack_weights(f, err), 0);
    assert_null(f->classifier_q);
    const size_t NV = (size_t)12 * p->cfg.vocab_size;
    float *a = malloc(NV * sizeof *a), *b = malloc(NV * sizeof *b), *c = malloc(NV * sizeof *c);
    for (int decode = 0; decode < 2; decode++) {
        logits(p, decode, a);
        logits(f, decode, b);
        double worst = 0;
        for (size_t i = 0; i < NV; i++) {
            double d = fabs(a[i] - b[i]) / (1.0 + fabs(b[i]));
            if (d > worst) worst = d;
        }
        print_message("bf16 classifier %s: vs float32 classifier, max |d|/(1+|l|) = %.3g\n", decode ? "decode" : "prefill",
                      worst);
        assert_true(worst <= 1e-5);
    }
    omp_set_num_threads(1);
    logits(p, 1, a);
    for (int nt = 2; nt <= 3; nt++) {
        omp_set_num_threads(nt);
        logits(p, 1, c);
        assert_memory_equal(a, c, NV * sizeof *a);
    }
    omp_set_num_threads(omp_get_num_procs());
    free(a); free(b); free(c);
    model_free(p);
    model_free(f);
}

static void test_save_packed(void **state) {
    (void)state;
    char err[QB_ERRLEN], path[512], out[600];
    make_checkpoint(QM_RTN, 4, 64, path, sizeof path);
    Model *p = quant_checkpoint_load(path, err);
    assert_non_null(p);
    snprintf(out, sizeof out, "%s/saved", tmpdir);
    assert_int_equal(model_save_safetensors(p, out, err), 0);
    Model *back = model_load(out, err);
    assert_non_null(back);
    assert_int_equal(model_unpack_weights(p, err), 0);
    for (int k = 0; k < LIN_COUNT; k++) {
        const Linear *a = &p->blocks[1].lin[k], *b = &back->blocks[1].lin[k];
        assert_memory_equal(a->w, b->w, (size_t)a->rows * a->cols * sizeof(float));
    }
    model_free(back);
    model_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_codes),
        cmocka_unit_test(test_binary_codes_lut),
        cmocka_unit_test(test_bad_codes_refused),
        cmocka_unit_test(test_halves),
        cmocka_unit_test(test_model_uniform4),
        cmocka_unit_test(test_model_uniform3),
        cmocka_unit_test(test_model_bcq3),
        cmocka_unit_test(test_classifier_half),
        cmocka_unit_test(test_save_packed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
