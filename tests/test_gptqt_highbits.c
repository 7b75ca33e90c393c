/* test_gptqt_highbits.c — GPTQT/RTNT at the 8-bit cap: bits 8 with an 8-bit linear step
 * (high_bits == bits, the value the harness's relative "+k" default caps at). The binary code then
 * has as many levels (256) as the linear grid, so it can reproduce that grid exactly:
 *   - a row whose values sit on every point of an 8-bit grid comes back unchanged (hand-derived:
 *     greedy BCQ on a uniform 0..255 histogram gives c = 127.5, alphas 64, 32, ..., 0.5 — the
 *     binary expansion of the grid — which the alternating refit keeps);
 *   - a random layer is near lossless, like GPTQ at 8 bits, and far below GPTQT at 4 bits;
 *   - validation accepts high_bits == bits only at 8, and rejects 0 (= bits+1 = 9) at 8 bits;
 *   - the binary-code fit at 4, 6 and 8 bits agrees with the PyTorch oracle's bcq_fit_int_hist: the
 *     same level for every integer, levels within the rounding bound of the two solves (fixtures
 *     from tests/fixtures/make_bcq_fixtures.py; 2 and 3 bits: test_gptq_oracle). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "quant/quant_internal.h" /* bcq_fit_int_hist */

static float *rand_matrix(int r, int c, uint64_t seed) {
    QbRng rng;
    qb_rng_seed(&rng, seed);
    float *m = malloc((size_t)r * c * sizeof(float));
    for (size_t i = 0; i < (size_t)r * c; i++) m[i] = (float)(2.0 * qb_rng_uniform(&rng) - 1.0);
    return m;
}

/* H = 2/n XᵀX of correlated inputs x = z·M (a decaying spectrum, GPTQ's setting). */
static float *corr_hessian(int cols, int n, uint64_t seed) {
    float *M = rand_matrix(cols, cols, seed), *Z = rand_matrix(n, cols, seed + 1);
    float *X = calloc((size_t)n * cols, sizeof(float));
    for (int t = 0; t < n; t++)
        for (int k = 0; k < cols; k++) {
            float z = Z[(size_t)t * cols + k] * expf(-(float)k / (cols / 8.0f));
            for (int j = 0; j < cols; j++) X[(size_t)t * cols + j] += z * M[(size_t)k * cols + j];
        }
    Hessian h;
    char err[QB_ERRLEN];
    assert_int_equal(hessian_init(&h, cols, err), 0);
    hessian_add_sample(&h, X, n);
    free(M); free(Z); free(X);
    return h.H;
}

/* tr(W H Wᵀ)/2: the error of Q = 0, the scale QuantResult.error is measured on. */
static double zero_error(const float *W, const float *H, int rows, int cols) {
    double s = 0;
    for (int i = 0; i < rows; i++)
        for (int a = 0; a < cols; a++)
            for (int b = 0; b < cols; b++)
                s += (double)W[(size_t)i * cols + a] * H[(size_t)a * cols + b] * W[(size_t)i * cols + b];
    return s / 2;
}

static QuantOptions opts(QuantMethod m, int bits, int high, int group) {
    QuantOptions o;
    quant_options_default(&o, m, bits);
    o.high_bits = high;
    o.group_size = group;
    return o;
}

/* Rows holding every point (j − 127)/64, j = 0..255, of one 8-bit grid, each row in its own order.
 * min −127/64, max 128/64 → scale exactly 1/64, zero 127: every value is its own linear code, the
 * histogram is flat, and an 8-bit binary code covers it exactly. Everything is a power-of-two
 * multiple, so float arithmetic is exact up to the solver's ridge (~1e-9). */
static void test_full_grid_row_is_lossless(void **state) {
    (void)state;
    const int rows = 4, cols = 256;
    float *W = malloc((size_t)rows * cols * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) W[(size_t)r * cols + j] = (float)(((j * (2 * r + 1) + 17 * r) % 256) - 127) / 64.0f;
    float *H = calloc((size_t)cols * cols, sizeof(float)); /* identity: no cross-column compensation */
    for (int j = 0; j < cols; j++) H[(size_t)j * cols + j] = 1.0f;
    const QuantMethod methods[2] = {QM_RTNT, QM_GPTQT};
    for (int mi = 0; mi < 2; mi++)
        for (int variant = 0; variant < 2; variant++) {
            if (methods[mi] == QM_RTNT && variant == 1) continue; /* two-pass needs GPTQ */
            QuantOptions o = opts(methods[mi], 8, 8, -1);
            o.reexplore_steps = 1; /* scale factor exactly 1 */
            o.variant = variant ? QT_VARIANT_TWOPASS : QT_VARIANT_MERGED;
            char err[QB_ERRLEN] = "";
            assert_int_equal(quant_options_validate(&o, cols, err), 0);
            QuantResult q;
            if (quantize_layer(W, methods[mi] == QM_RTNT ? NULL : H, rows, cols, &o, &q, err))
                fail_msg("%s variant %d: %s", quant_method_name(methods[mi]), variant, err);
            double worst = 0;
            for (size_t i = 0; i < (size_t)rows * cols; i++) worst = fmax(worst, fabs((double)q.q[i] - W[i]));
            if (worst > 1e-5) /* half a grid step is 1/128 ≈ 7.8e-3 */
                fail_msg("%s variant %d: max |Q − W| = %g", quant_method_name(methods[mi]), variant, worst);
            /* 8 alphas per row and group: the binary expansion 0.5, 1, ..., 64 grid steps */
            assert_int_equal(q.bits, 8);
            for (int r = 0; r < rows; r++) {
                float a[8];
                for (int i = 0; i < 8; i++) a[i] = fabsf(q.scales[(size_t)r * 8 + i]) * 64.0f;
                for (int i = 0; i < 8; i++) /* some order of {0.5, 1, 2, ..., 64} */
                    for (int k = i + 1; k < 8; k++)
                        if (a[k] < a[i]) { float t = a[i]; a[i] = a[k]; a[k] = t; }
                for (int i = 0; i < 8; i++) assert_true(fabsf(a[i] - ldexpf(0.5f, i)) < 1e-4f);
            }
            quant_result_free(&q);
        }
    free(W); free(H);
}

/* At 8/8 step 2's objective is zero at the linear grid itself, so the levels of a row are exactly
 * docs/quant.md §1.3's 8-bit grid s·(k − z), k = 0..255 (s = (max − min)/255 with the range holding
 * 0, z = round(−min/s)), whatever the histogram: computed here from the spec for a random layer
 * (p = 1), every RTNT output lies on that grid at the level nearest its weight (ties to the lower). */
static void test_eight_bit_levels_are_the_linear_grid(void **state) {
    (void)state;
    const int rows = 8, cols = 96;
    float *W = rand_matrix(rows, cols, 21);
    for (int j = 0; j < cols; j++) W[j] = 0.25f + 0.5f * fabsf(W[j]); /* a row without negatives */
    QuantOptions o = opts(QM_RTNT, 8, 8, 32);
    o.reexplore_steps = 1;
    char err[QB_ERRLEN] = "";
    assert_int_equal(quant_options_validate(&o, cols, err), 0);
    QuantResult q;
    if (quantize_layer(W, NULL, rows, cols, &o, &q, err)) fail_msg("%s", err);
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < cols / 32; g++) {
            const float *x = W + (size_t)r * cols + g * 32;
            float lo = 0, hi = 0;
            for (int j = 0; j < 32; j++) { lo = fminf(lo, x[j]); hi = fmaxf(hi, x[j]); }
            const float s = (hi - lo) / 255.0f, z = rintf(-lo / s);
            for (int j = 0; j < 32; j++) {
                int best = 0;
                for (int k = 1; k < 256; k++)
                    if (fabsf(s * ((float)k - z) - x[j]) < fabsf(s * ((float)best - z) - x[j])) best = k;
                float want = s * ((float)best - z), got = q.q[(size_t)r * cols + g * 32 + j];
                if (got != want) fail_msg("row %d group %d col %d: %.9g, grid level %d is %.9g", r, g, j, got, best, want);
            }
        }
    quant_result_free(&q);
    free(W);
}

/* A random layer under a correlated Hessian, every GPTQT layout the demo sweeps (per row and group
 * 32, act-order on and off): at 8/8 the output error is below 1e-4 of the error of Q = 0 (the bound
 * test_quant.c uses for GPTQ at 8 bits: a 2/255 step on U(−1, 1) weights gives ~1.5e-5) and at most
 * 1/16 of GPTQT's at 4 bits (four fewer bits should cost ~256x in squared error). */
static void test_random_layer_near_lossless(void **state) {
    (void)state;
    const int rows = 16, cols = 64;
    float *W = rand_matrix(rows, cols, 11);
    float *H = corr_hessian(cols, 256, 12);
    const double base = zero_error(W, H, rows, cols);
    for (int g = 0; g < 2; g++)
        for (int act = 0; act < 2; act++) {
            char err[QB_ERRLEN] = "";
            QuantOptions o8 = opts(QM_GPTQT, 8, 8, g ? 32 : -1), o4 = opts(QM_GPTQT, 4, 0, g ? 32 : -1);
            o8.act_order = o4.act_order = act;
            QuantResult q8, q4;
            if (quantize_layer(W, H, rows, cols, &o8, &q8, err)) fail_msg("8/8 g%d act%d: %s", g, act, err);
            if (quantize_layer(W, H, rows, cols, &o4, &q4, err)) fail_msg("4/5 g%d act%d: %s", g, act, err);
            if (getenv("SHOW"))
                printf("g%d act%d: error 8/8 %.3g, 4/5 %.3g, base %.3g\n", g, act, q8.error, q4.error, base);
            assert_true(q8.error >= 0);
            if (!(q8.error < 1e-4 * base)) fail_msg("g%d act%d: 8/8 error %g vs base %g", g, act, q8.error, base);
            if (!(q8.error < q4.error / 16)) fail_msg("g%d act%d: 8/8 error %g vs 4/5 %g", g, act, q8.error, q4.error);
            for (size_t i = 0; i < (size_t)rows * cols; i++) assert_true(isfinite(q8.q[i]));
            assert_true(quant_bits_per_weight(&q8, &o8) > 8.0); /* codes plus alphas/offsets */
            quant_result_free(&q8);
            quant_result_free(&q4);
        }
    free(W); free(H);
}

static void test_validation_at_the_cap(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    QuantOptions o;
    for (int m = 0; m < 2; m++) {
        QuantMethod qm = m ? QM_RTNT : QM_GPTQT;
        o = opts(qm, 8, 8, -1);
        assert_int_equal(quant_options_validate(&o, 0, err), 0);
        o = opts(qm, 7, 8, 32);
        assert_int_equal(quant_options_validate(&o, 0, err), 0);
        o = opts(qm, 8, 0, -1); /* 0 means bits+1, capped at 8 */
        assert_int_equal(quant_high_bits(&o), 8);
        assert_int_equal(quant_options_validate(&o, 0, err), 0);
        o = opts(qm, 8, 9, -1);
        assert_int_equal(quant_options_validate(&o, 0, err), -1);
        assert_non_null(strstr(err, "above 8"));
        o = opts(qm, 4, 4, -1); /* equal is only the cap's exception */
        assert_int_equal(quant_options_validate(&o, 0, err), -1);
        assert_non_null(strstr(err, "must exceed bits 4"));
        o = opts(qm, 6, 5, -1);
        assert_int_equal(quant_options_validate(&o, 0, err), -1);
        assert_non_null(strstr(err, "high_bits 5"));
        o = opts(qm, 4, -1, -1);
        assert_int_equal(quant_options_validate(&o, 0, err), -1);
        assert_non_null(strstr(err, "high_bits -1"));
    }
}


static int read_f64(const char *path, double *out, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(out, sizeof(double), n, f);
    fclose(f);
    return got == n ? 0 : -1;
}

/* The normal matrix of a fit's last solve, rebuilt from its result: every occupied integer k goes to
 * its nearest level (first in code order on ties), A = Σ h[k] d dᵀ + ridge with d = (1, ±1 per code
 * bit), the ridge as bcq_fit_int_hist adds it. Returns κ∞(A) = ‖A‖∞ ‖A⁻¹‖∞. */
static double fit_condition(const double *h, int K, int m, const double *lv, const uint8_t *code) {
    const int P = m + 1, nl = 1 << m;
    double A[81] = {0};
    for (int k = 0; k < K; k++) {
        if (h[k] == 0) continue;
        int best = 0;
        for (int j = 1; j < nl; j++) {
            double dj = fabs(k - lv[j]), db = fabs(k - lv[best]);
            if (dj < db || (dj == db && code[j] < code[best])) best = j;
        }
        double d[9] = {1};
        for (int i = 0; i < m; i++) d[i + 1] = (code[best] >> i) & 1 ? 1.0 : -1.0;
        for (int u = 0; u < P; u++)
            for (int v = 0; v < P; v++) A[u * P + v] += h[k] * d[u] * d[v];
    }
    double dsum = 0, norm = 0, inorm = 0, rowsum[9] = {0};
    for (int u = 0; u < P; u++) dsum += A[u * P + u];
    for (int u = 0; u < P; u++) A[u * P + u] += 1e-9 * (dsum / P + 1.0);
    for (int u = 0; u < P; u++) {
        double s = 0;
        for (int v = 0; v < P; v++) s += fabs(A[u * P + v]);
        norm = fmax(norm, s);
    }
    for (int col = 0; col < P; col++) { /* A⁻¹ column by column */
        double B[81], e[9] = {0};
        memcpy(B, A, sizeof B);
        e[col] = 1;
        assert_int_equal(bcq_solve_small(B, e, P), 0);
        for (int u = 0; u < P; u++) rowsum[u] += fabs(e[u]);
    }
    for (int u = 0; u < P; u++) inorm = fmax(inorm, rowsum[u]);
    return norm * inorm;
}

/* Six histograms over 0..255 (wide, narrow, 7 samples, 11008 samples, a single sample) fitted with
 * 4, 6 and 8 bits, 20 iterations, against the PyTorch oracle's bcq_fit_int_hist.
 *
 * qbench solves each iteration's (m+1)×(m+1) normal equations with its own fixed-order elimination
 * (bcq_solve_small), so its fit is the same on every CPU and thread count; the oracle used
 * torch.linalg.solve (LAPACK getrf/getrs of the machine that made the fixtures). The two solves round
 * differently, so the comparison is bounded, not bit for bit (the 2- and 3-bit GPTQT fixtures of
 * test_gptq_oracle still match bit for bit once the levels are rounded to float32):
 *   - the discrete result is identical: every occupied integer maps to the same sorted level;
 *   - with the same assignment both fits solve the same normal equations A θ = b, whose entries are
 *     exact integers (plus the ridge). Each LU solve with partial pivoting has a forward error
 *     ‖Δθ‖∞ ≤ κ∞(A) γ(3P) ‖θ‖∞ (Higham, Accuracy and Stability, Thm 9.4 / §7.2; γ(n) = nu/(1−nu),
 *     u = 2⁻⁵³; the growth factor of these diagonally dominated SPD systems is 1), so the two
 *     differ by at most twice that; a level sums P = m+1 terms ±θ, each rounded: |Δlevel| ≤
 *     2 P (κ∞ γ(3P) + γ(P)) ‖θ‖∞. The test prints, per width, how many levels are bit-identical and
 *     the worst ratio of a difference to its bound. */
static void test_bcq_fit_matches_oracle(void **state) {
    (void)state;
    enum { ROWS = 6, K = 256 };
    static double hist[ROWS * K], ref[ROWS * 256], lv[ROWS * 256], c[ROWS], a[ROWS * 8];
    static uint8_t codes[ROWS * 256];
    const double u = ldexp(1.0, -53);
    char err[QB_ERRLEN];
    if (read_f64("tests/fixtures/bcq/hist.bin", hist, ROWS * K)) skip();
    for (int m = 4; m <= 8; m += 2) {
        const int nl = 1 << m, P = m + 1;
        char path[64];
        snprintf(path, sizeof path, "tests/fixtures/bcq/lv%d.bin", m);
        assert_int_equal(read_f64(path, ref, (size_t)ROWS << m), 0);
        assert_int_equal(bcq_fit_int_hist(hist, ROWS, K, m, 20, lv, codes, c, a, err), 0);
        int differ = 0, assign_differ = 0;
        double worst_ratio = 0, worst_kappa = 0;
        for (int r = 0; r < ROWS; r++) {
            const double *h = hist + (size_t)r * K, *mine = lv + (size_t)r * nl, *theirs = ref + (size_t)r * nl;
            for (int k = 0; k < K; k++) { /* nearest sorted level, lower on ties, in both fits */
                if (h[k] == 0) continue;
                int b1 = 0, b2 = 0;
                for (int j = 1; j < nl; j++) {
                    if (fabs(k - mine[j]) < fabs(k - mine[b1])) b1 = j;
                    if (fabs(k - theirs[j]) < fabs(k - theirs[b2])) b2 = j;
                }
                assign_differ += b1 != b2;
            }
            double kappa = fit_condition(h, K, m, mine, codes + (size_t)r * nl);
            double th = fabs(c[r]);
            for (int i = 0; i < m; i++) th = fmax(th, fabs(a[(size_t)r * m + i]));
            const double g3 = 3 * P * u / (1 - 3 * P * u), g1 = P * u / (1 - P * u);
            const double bound = 2.0 * P * (kappa * g3 + g1) * th;
            for (int j = 0; j < nl; j++) {
                differ += memcmp(&mine[j], &theirs[j], sizeof(double)) != 0;
                double d = fabs(mine[j] - theirs[j]);
                if (d > bound) fail_msg("bcq %d bits row %d level %d: |%.17g - %.17g| = %.3g > bound %.3g (kappa %.3g)",
                                        m, r, j, mine[j], theirs[j], d, bound, kappa);
                worst_ratio = fmax(worst_ratio, d / bound);
            }
            worst_kappa = fmax(worst_kappa, kappa);
        }
        printf("  bcq %d bits: %d of %d levels bit-identical to the oracle; same assignment: %s; "
               "worst difference %.2g of its bound (max kappa %.2g)\n",
               m, (ROWS << m) - differ, ROWS << m, assign_differ ? "NO" : "yes", worst_ratio, worst_kappa);
        assert_int_equal(assign_differ, 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_grid_row_is_lossless),
        cmocka_unit_test(test_eight_bit_levels_are_the_linear_grid),
        cmocka_unit_test(test_random_layer_near_lossless),
        cmocka_unit_test(test_validation_at_the_cap),
        cmocka_unit_test(test_bcq_fit_matches_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
