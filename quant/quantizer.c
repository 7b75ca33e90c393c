/* quantizer.c — GPTQ's find_params for every grid qbench uses (docs/quant.md §1.3 and §2.4):
 *   uniform min-max per row (asym / sym with the no-negative-values quirk, the MSE shrink search),
 *   and GPTQT's two-step grid (n-bit linear ints → m-bit binary code with offset, re-explored scale).
 * Arithmetic follows the PyTorch reference operation by operation (float32 where it is float32,
 * double where it is double, its summation order where a `<` comparison depends on a sum), so a
 * given W and H give the reference's bits. */
#include <limits.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant_internal.h"

/* ---- PyTorch-order sums ------------------------------------------------------------------------ */

/* torch's multi_row_sum / row_sum / vectorized_inner_sum for a contiguous row, written once for
 * float (8 lanes) and once for double (4 lanes). With n < lanes torch takes the scalar path, which
 * is the same cascade with one lane. */
#define DEFINE_TORCH_SUM(NAME, T, LANES_MAX)                                                        \
    T NAME(const T *x, int n) {                                                                     \
        enum { ILP = 4, NL = 4 };                                                                   \
        const int L = n >= LANES_MAX ? LANES_MAX : 1;                                               \
        const long vec_size = n / L, size_ilp = vec_size / ILP;                                     \
        int ceil_log2 = 1;                                                                          \
        if (size_ilp > 2) { ceil_log2 = 0; while ((1L << ceil_log2) < size_ilp) ceil_log2++; }     \
        const int level_power = ceil_log2 / NL > 4 ? ceil_log2 / NL : 4;                            \
        const long level_step = 1L << level_power, level_mask = level_step - 1;                     \
        if (L == LANES_MAX && size_ilp < level_step) { /* short rows (GPTQT's per-group sums): the \
            same additions with the cascade levels 1..NL-1 still zero, kept in registers */         \
            T a[ILP][LANES_MAX];                                                                    \
            for (int k = 0; k < ILP; k++)                                                           \
                for (int l = 0; l < LANES_MAX; l++) a[k][l] = 0;                                    \
            for (long i = 0; i < size_ilp; i++)                                                     \
                for (int k = 0; k < ILP; k++)                                                       \
                    for (int l = 0; l < LANES_MAX; l++) a[k][l] += x[(i * ILP + k) * LANES_MAX + l]; \
            for (int k = 0; k < ILP; k++) /* (+ the zero levels: turns a -0 into +0, as they do) */ \
                for (int l = 0; l < LANES_MAX; l++) a[k][l] += (T)0;                                \
            for (long v = size_ilp * ILP; v < vec_size; v++)                                        \
                for (int l = 0; l < LANES_MAX; l++) a[0][l] += x[v * LANES_MAX + l];               \
            for (int k = 1; k < ILP; k++)                                                           \
                for (int l = 0; l < LANES_MAX; l++) a[0][l] += a[k][l];                             \
            T fin = 0;                                                                              \
            for (long e = vec_size * LANES_MAX; e < n; e++) fin += x[e];                            \
            for (int l = 0; l < LANES_MAX; l++) fin += a[0][l];                                     \
            return fin;                                                                             \
        }                                                                                           \
        T acc[NL][ILP][LANES_MAX];                                                                  \
        memset(acc, 0, sizeof acc);                                                                 \
        long i = 0;                                                                                 \
        while (i + level_step <= size_ilp) {                                                        \
            for (long j = 0; j < level_step; j++, i++)                                              \
                for (int k = 0; k < ILP; k++)                                                       \
                    for (int l = 0; l < L; l++) acc[0][k][l] += x[(i * ILP + k) * L + l];           \
            for (int j = 1; j < NL; j++) {                                                          \
                for (int k = 0; k < ILP; k++)                                                       \
                    for (int l = 0; l < L; l++) {                                                   \
                        acc[j][k][l] += acc[j - 1][k][l];                                           \
                        acc[j - 1][k][l] = 0;                                                       \
                    }                                                                               \
                if ((i & (level_mask << (j * level_power))) != 0) break;                            \
            }                                                                                       \
        }                                                                                           \
        for (; i < size_ilp; i++)                                                                   \
            for (int k = 0; k < ILP; k++)                                                           \
                for (int l = 0; l < L; l++) acc[0][k][l] += x[(i * ILP + k) * L + l];               \
        for (int j = 1; j < NL; j++)                                                                \
            for (int k = 0; k < ILP; k++)                                                           \
                for (int l = 0; l < L; l++) acc[0][k][l] += acc[j][k][l];                           \
        for (long v = size_ilp * ILP; v < vec_size; v++)                                            \
            for (int l = 0; l < L; l++) acc[0][0][l] += x[v * L + l];                               \
        for (int k = 1; k < ILP; k++)                                                               \
            for (int l = 0; l < L; l++) acc[0][0][l] += acc[0][k][l];                               \
        if (L == 1) return acc[0][0][0];                                                            \
        T fin = 0;                                                                                  \
        for (long e = vec_size * L; e < n; e++) fin += x[e];                                        \
        for (int l = 0; l < L; l++) fin += acc[0][0][l];                                            \
        return fin;                                                                                 \
    }

DEFINE_TORCH_SUM(torch_sum_f32, float, 8)
DEFINE_TORCH_SUM(torch_sum_f64, double, 4)

/* ---- specs and parameter storage --------------------------------------------------------------- */

/* The reference receives its options as decimal Python floats; ours are float32. Recover the
 * shortest decimal that rounds to the float, so derived doubles (linspace, maxshrink·grid) match. */
static double decimal_of(float f) {
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

void grid_spec_from_options(GridSpec *s, const QuantOptions *o) {
    memset(s, 0, sizeof *s);
    s->two_step = (o->method == QM_GPTQT || o->method == QM_RTNT);
    s->bits = o->bits;
    s->sym = o->sym;
    s->fp16_scales = o->fp16_scales && !s->two_step;
    s->mse = o->mse && !s->two_step;
    s->norm = o->mse_norm;
    s->grid = o->mse_grid;
    s->maxshrink = o->mse_maxshrink;
    s->high_bits = quant_high_bits(o);
    s->bcq_iters = o->bcq_iters;
    s->use_hdiag = o->objective == QT_OBJ_HDIAG;
    /* np.linspace(lo, hi, steps): i·step + lo, the last point exactly hi; cast to float32 when the
     * reference multiplies a float32 tensor by it. */
    int steps = o->reexplore_steps;
    if (steps > 256) steps = 256;
    if (steps <= 1) {
        s->n_factors = 1;
        s->factors[0] = 1.0f;
    } else {
        double lo = decimal_of(o->reexplore_lo), hi = decimal_of(o->reexplore_hi);
        double step = (hi - lo) / (steps - 1);
        for (int i = 0; i < steps; i++) s->factors[i] = (float)((double)i * step + lo);
        s->factors[steps - 1] = (float)hi;
        s->n_factors = steps;
    }
    s->fixed_factor = 0;
}

int group_params_alloc(GroupParams *p, const GridSpec *s, int rows) {
    memset(p, 0, sizeof *p);
    p->rows = rows;
    if (!s->two_step) {
        p->scale = malloc((size_t)rows * sizeof(float));
        p->zero = malloc((size_t)rows * sizeof(float));
        return (p->scale && p->zero) ? 0 : -1;
    }
    p->m = s->bits;
    p->nlev = 1 << s->bits;
    p->levels = malloc((size_t)rows * p->nlev * sizeof(float));
    p->level_code = malloc((size_t)rows * p->nlev);
    p->alpha = malloc((size_t)rows * p->m * sizeof(float));
    p->offset = malloc((size_t)rows * sizeof(float));
    return (p->levels && p->level_code && p->alpha && p->offset) ? 0 : -1;
}

void group_params_free(GroupParams *p) {
    if (!p) return;
    free(p->scale); free(p->zero); free(p->levels); free(p->level_code); free(p->alpha);
    free(p->offset);
    memset(p, 0, sizeof *p);
}

void group_params_copy(GroupParams *d, const GroupParams *s) {
    size_t r = (size_t)s->rows;
    if (s->scale) memcpy(d->scale, s->scale, r * sizeof(float));
    if (s->zero) memcpy(d->zero, s->zero, r * sizeof(float));
    if (s->levels) memcpy(d->levels, s->levels, r * s->nlev * sizeof(float));
    if (s->level_code) memcpy(d->level_code, s->level_code, r * s->nlev);
    if (s->alpha) memcpy(d->alpha, s->alpha, r * s->m * sizeof(float));
    if (s->offset) memcpy(d->offset, s->offset, r * sizeof(float));
}

/* ---- uniform grid (§1.3) ----------------------------------------------------------------------- */

/* Steps 1–3: [lo, hi] containing 0; sym keeps lo = 0 when the row has no negative value. */
static void row_range(const float *x, int k, int sym, float *lo_out, float *hi_out) {
    float lo = 0.0f, hi = 0.0f;
    for (int j = 0; j < k; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    if (sym) {
        float a = fabsf(lo);
        hi = a > hi ? a : hi;
        if (lo < 0) lo = -hi;
    }
    if (lo == 0.0f && hi == 0.0f) { lo = -1.0f; hi = 1.0f; }
    *lo_out = lo;
    *hi_out = hi;
}

static void uniform_fit_row(const GridSpec *s, const float *x, int k, float *d, float *scale_out,
                            float *zero_out) {
    const float maxq = (float)((1 << s->bits) - 1);
    float lo, hi;
    row_range(x, k, s->sym, &lo, &hi);
    float scale = (hi - lo) / maxq;
    float zero = s->sym ? (maxq + 1.0f) / 2.0f : rintf(-lo / scale);
    if (s->mse) {
        int steps = (int)(decimal_of(s->maxshrink) * s->grid);
        float best = INFINITY;
        for (int i = 0; i < steps; i++) {
            float p = (float)(1.0 - (double)i / s->grid);
            float lo1 = p * lo, hi1 = p * hi;
            float s1 = (hi1 - lo1) / maxq;
            float z1 = s->sym ? zero : rintf(-lo1 / s1);
            for (int j = 0; j < k; j++)
                d[j] = powf(fabsf(uniform_quant(x[j], s1, z1, maxq, NULL) - x[j]), s->norm);
            float err = torch_sum_f32(d, k);
            if (err < best) {
                best = err;
                scale = s1;
                zero = z1;
            }
        }
    }
    /* AutoGPTQ stores fp16 scales: with fp16_scales the grid uses that value from here on (the zero, an
     * integer, stays as chosen). A scale beyond fp16's range is clamped to its largest / smallest positive
     * value rather than becoming inf or 0. */
    if (s->fp16_scales) {
        float h = (float)(_Float16)scale;
        scale = h == 0.0f || !isfinite(scale) ? 0x1p-24f : isinf(h) ? 65504.0f : h;
    }
    *scale_out = scale;
    *zero_out = zero;
}

/* ---- GPTQT step 2: binary code with offset fitted to an integer histogram ------------------------ */

static int allclose1(double a, double b) { return fabs(a - b) <= 1e-8 + 1e-5 * fabs(b); }

/* In place: w[S] = sum over j of w[j] * prod over bits i in S of (bit i of j ? +1 : -1). */
static void walsh_hadamard(double *w, int n) {
    for (int len = 1; len < n; len <<= 1)
        for (int j = 0; j < n; j += 2 * len)
            for (int q = j; q < j + len; q++) {
                double lo = w[q], hi = w[q + len];
                w[q] = lo + hi;
                w[q + len] = hi - lo;
            }
}

/* The levels lev[j] = c + sum_i (bit i of j ? a_i : -a_i) of a BCQ fit with m bits, the sum in
 * the order i = 0..m-1 as the reference computes it, sorted by value, equal values by j: val[] and
 * their codes j[]. Built bit by bit, merging the sorted sums with bit i clear and set (the same
 * additions in the same order), so 2^m m steps instead of an insertion sort's 4^m. */
static void sorted_levels(double c, const double *a, int m, double *val, uint8_t *code) {
    double va[256], vb[256];
    int ja[256], jb[256];
    double *v = va, *vn = vb;
    int *jv = ja, *jn = jb, n = 1;
    v[0] = 0;
    jv[0] = 0;
    for (int i = 0; i < m; i++, n *= 2) {
        int p = 0, q = 0, o = 0;
        while (p < n || q < n) {
            double x = p < n ? v[p] + -a[i] : 0, y = q < n ? v[q] + a[i] : 0;
            if (q >= n || (p < n && x <= y)) { vn[o] = x; jn[o++] = jv[p++]; }
            else { vn[o] = y; jn[o++] = jv[q++] | 1 << i; }
        }
        double *t = v; v = vn; vn = t;
        int *tj = jv; jv = jn; jn = tj;
    }
    for (int j = 0; j < n; j++) { /* (rounding can make sums equal out of j order: put runs in order) */
        double x = c + v[j];
        int p = j, code_j = jv[j];
        while (p > 0 && val[p - 1] == x && code[p - 1] > code_j) { val[p] = val[p - 1]; code[p] = code[p - 1]; p--; }
        val[p] = x;
        code[p] = (uint8_t)code_j;
    }
}

/* For each integer k with h[k] != 0, the first level j (in code order) whose |k - lev[j]| is
 * smallest, and per level j: hj = sum of h[k], sj = sum of h[k] * k. The reference compares all 2^m
 * levels for every k (2^m K steps); here the sorted levels are walked with k (2^m + K steps). The
 * same answer: |k - lev| rounded is non-increasing up to the last level <= k and non-decreasing
 * after it, so the smallest distance is found beside that point, and every level at that distance
 * lies in the runs of equal distances on either side, where the smallest code is taken. */
static void nearest_level_sums(const double *h, int K, double c, const double *a, int m, double *hj,
                               double *sj) {
    const int nl = 1 << m;
    double lev[256];
    uint8_t code[256];
    sorted_levels(c, a, m, lev, code);
    for (int j = 0; j < nl; j++) hj[j] = sj[j] = 0;
    int below = -1; /* the last sorted level <= k */
    for (int k = 0; k < K; k++) {
        if (h[k] == 0) continue; /* contributes nothing to A or rhs */
        double dk = (double)k;
        while (below + 1 < nl && lev[below + 1] <= dk) below++;
        double db = below >= 0 ? fabs(dk - lev[below]) : INFINITY;
        double da = below + 1 < nl ? fabs(dk - lev[below + 1]) : INFINITY;
        double dmin = db < da ? db : da;
        int best = INT_MAX;
        for (int q = below; q >= 0 && fabs(dk - lev[q]) == dmin; q--) best = code[q] < best ? code[q] : best;
        for (int q = below + 1; q < nl && fabs(dk - lev[q]) == dmin; q++) best = code[q] < best ? code[q] : best;
        hj[best] += h[k];
        sj[best] += h[k] * dk;
    }
}

/* The oracle's bcq_fit_int_hist, batched over rows because its stopping rule is batch-wide: all rows
 * iterate until every row's (c, a) stopped moving (torch.allclose over the batch). */
int bcq_fit_int_hist(const double *hist, int rows, int K, int m, int iters, double *levels_sorted,
                     uint8_t *codes_sorted, double *c_out, double *a_out, char err[QB_ERRLEN]) {
    const int nl = 1 << m, P = m + 1;
    double *c = c_out, *a = a_out;
    if (K > 256 || m > 8) {
        snprintf(err, QB_ERRLEN, "bcq fit: %d levels or %d bits out of range", K, m);
        return -1;
    }
    double *tot = malloc((size_t)rows * sizeof(double));
    double *cn = malloc((size_t)rows * sizeof(double));
    double *an = malloc((size_t)rows * m * sizeof(double));
    if (!tot || !cn || !an) {
        snprintf(err, QB_ERRLEN, "bcq fit: out of memory");
        free(tot); free(cn); free(an);
        return -1;
    }
    /* small fits stay on one thread: a parallel region costs more than it saves there */
    const int par = (long)rows * K * nl > (1L << 16);
    /* greedy init: c = weighted mean, then residual signs / weighted mean |r| */
    #pragma omp parallel for schedule(static) if (par)
    for (int row = 0; row < rows; row++) {
        const double *h = hist + (size_t)row * K;
        double r[256];
        double t = torch_sum_f64(h, K);
        tot[row] = t > 1e-300 ? t : 1e-300;
        for (int k = 0; k < K; k++) r[k] = h[k] * (double)k;
        c[row] = torch_sum_f64(r, K) / tot[row];
        for (int k = 0; k < K; k++) r[k] = (double)k - c[row];
        double tmp[256];
        for (int i = 0; i < m; i++) {
            for (int k = 0; k < K; k++) tmp[k] = h[k] * fabs(r[k]);
            double ai = torch_sum_f64(tmp, K) / tot[row];
            for (int k = 0; k < K; k++) r[k] = r[k] - (r[k] >= 0 ? 1.0 : -1.0) * ai;
            a[(size_t)row * m + i] = ai;
        }
    }
    for (int it = 0; it < iters; it++) {
        int all_close = 1;
        #pragma omp parallel for schedule(static) reduction(&& : all_close) if (par)
        for (int row = 0; row < rows; row++) {
            const double *h = hist + (size_t)row * K;
            const double *ar = a + (size_t)row * m;
            /* the nearest level of every integer k (the first level j on ties), summed per level:
             * hj = sum of h[k], sj = sum of h[k] * k over the k whose nearest level is j */
            double hj[256], sj[256];
            nearest_level_sums(h, K, c[row], ar, m, hj, sj);
            /* the normal equations of D theta ~ k weighted by h, D = (1, +-1 per bit of the level).
             * Every term is an integer (h counts, k, D = +-1) and every sum stays far below 2^53,
             * so any order of summation gives the reference's A and rhs bit for bit: here a
             * Walsh-Hadamard transform, 2^m m additions instead of 2^m (m+1)^2. */
            double A[9 * 9], rhs[9];
            walsh_hadamard(hj, nl);
            walsh_hadamard(sj, nl);
            for (int u = 0; u < P; u++) {
                int bu = u ? 1 << (u - 1) : 0;
                rhs[u] = sj[bu];
                for (int v = 0; v < P; v++) {
                    int bv = v ? 1 << (v - 1) : 0;
                    A[u * P + v] = hj[bu ^ bv]; /* D_u D_v is the character of bits bu ^ bv */
                }
            }
            double dsum = 0;
            for (int u = 0; u < P; u++) dsum += A[u * P + u];
            double lam = 1e-9 * (dsum / P + 1.0);
            for (int u = 0; u < P; u++) A[u * P + u] += lam;
            /* A fixed-order solve (quant/bcq.c's Gaussian elimination with partial pivoting), not
             * LAPACK: OpenBLAS's getrf/getrs round differently per CPU kernel and thread count, and
             * the nearest-level steps grow a last-bit difference to 3e-5, so a LAPACK solve made
             * GPTQT's output depend on the machine. */
            if (bcq_solve_small(A, rhs, P) != 0) { /* cannot happen with the ridge; keep the fit */
                for (int u = 0; u < P; u++) rhs[u] = u == 0 ? c[row] : ar[u - 1];
            }
            cn[row] = rhs[0];
            for (int i = 0; i < m; i++) an[(size_t)row * m + i] = rhs[i + 1];
            if (!allclose1(cn[row], c[row])) all_close = 0;
            for (int i = 0; i < m; i++)
                if (!allclose1(an[(size_t)row * m + i], ar[i])) all_close = 0;
        }
        memcpy(c, cn, (size_t)rows * sizeof(double));
        memcpy(a, an, (size_t)rows * m * sizeof(double));
        if (all_close) break;
    }
    for (int row = 0; row < rows; row++) /* (a stable sort of the levels in code order) */
        sorted_levels(c[row], a + (size_t)row * m, m, levels_sorted + (size_t)row * nl,
                      codes_sorted + (size_t)row * nl);
    free(tot); free(cn); free(an);
    return 0;
}

/* GPTQT's step 2 for every row. When the code has as many levels as the linear grid (n = m, the
 * 8-bit cap) the fit's objective Σ h_k min_b (k − v(b))² has a known minimum, zero, at the grid
 * itself: c = (2^m − 1)/2, a_i = 2^(i−1) give v(b) = Σ 2^i [b_i = +1], the integer whose bits are
 * b, for every histogram. That optimum is taken directly; the alternating fit does not always reach
 * it (it stops at a local fixed point or after `iters` rounds) and cost 20 rounds × 256 levels per
 * row, group and re-explored scale. Other widths run the reference's fit. hist may be NULL then. */
int bcq_fit_step2(const double *hist, int rows, int K, int m, int iters, double *levels_sorted,
                  uint8_t *codes_sorted, double *c_out, double *a_out, char err[QB_ERRLEN]) {
    if (K != 1 << m)
        return bcq_fit_int_hist(hist, rows, K, m, iters, levels_sorted, codes_sorted, c_out, a_out, err);
    for (int row = 0; row < rows; row++) {
        c_out[row] = (K - 1) / 2.0;
        for (int i = 0; i < m; i++) a_out[(size_t)row * m + i] = ldexp(1.0, i - 1);
        for (int j = 0; j < K; j++) {
            levels_sorted[(size_t)row * K + j] = j;
            codes_sorted[(size_t)row * K + j] = (uint8_t)j;
        }
    }
    return 0;
}

/* ---- GPTQT grid (§2.4 steps 1–4) ---------------------------------------------------------------- */

typedef struct {
    double *hist, *lv, *c, *a;
    uint8_t *codes;
    float *s, *z;
    float *lo, *hi; /* each row's range (§1.3 steps 1–3), the same for every factor */
} TwoStepWork;

/* Steps 1–3 for one factor p: levels (rows x nl, float32) of every row. */
static int two_step_levels(const GridSpec *s, const float *x, int rows, int k, size_t ld, float p,
                           TwoStepWork *w, float *levels, char err[QB_ERRLEN]) {
    const int K = 1 << s->high_bits, nl = 1 << s->bits;
    const float maxq = (float)(K - 1);
    const int need_hist = K != nl; /* (the closed-form step 2 does not look at it) */
    #pragma omp parallel for schedule(static) if ((long)rows * k > (1L << 15))
    for (int row = 0; row < rows; row++) {
        const float *xr = x + (size_t)row * ld;
        float lo_p = p * w->lo[row], hi_p = p * w->hi[row];
        float sc = (hi_p - lo_p) / maxq;
        float z = s->sym ? (maxq + 1.0f) / 2.0f : rintf(-lo_p / sc);
        if (need_hist) {
            double *h = w->hist + (size_t)row * K;
            for (int q = 0; q < K; q++) h[q] = 0;
            for (int j = 0; j < k; j++) {
                uint8_t code;
                uniform_quant(xr[j], sc, z, maxq, &code);
                h[code] += 1.0;
            }
        }
        w->s[row] = sc;
        w->z[row] = z;
    }
    if (bcq_fit_step2(w->hist, rows, K, s->bits, s->bcq_iters, w->lv, w->codes, w->c, w->a, err))
        return -1;
    for (int row = 0; row < rows; row++)
        for (int j = 0; j < nl; j++)
            levels[(size_t)row * nl + j] =
                (float)((double)w->s[row] * (w->lv[(size_t)row * nl + j] - (double)w->z[row]));
    return 0;
}

static void two_step_store_row(const GridSpec *s, const TwoStepWork *w, const float *levels,
                               int row, GroupParams *p) {
    const int nl = p->nlev, m = p->m;
    memcpy(p->levels + (size_t)row * nl, levels + (size_t)row * nl, nl * sizeof(float));
    memcpy(p->level_code + (size_t)row * nl, w->codes + (size_t)row * nl, nl);
    double sc = w->s[row], z = w->z[row];
    for (int i = 0; i < m; i++) p->alpha[(size_t)row * m + i] = (float)(sc * w->a[(size_t)row * m + i]);
    p->offset[row] = (float)(sc * (w->c[row] - z));
    (void)s;
}

/* The level L(i) = float(s·(i − z)) of the linear grid: what two_step_levels computes from the
 * closed-form step 2 (levels 0..K−1 in the integer domain), without storing all K of them. */
static inline float grid_level(double sd, double zd, double i) { return (float)(sd * (i - zd)); }

/* The squared error of one weight against its nearest level L(i), first index on ties, exactly as
 * nearest_level_index over the stored levels gives it, or -1 where the guess does not certify: the
 * linear code g guesses b, the last level <= x; the weight checks that b is g or g−1 and that the
 * run of equal distances ending at b has length one (levels are strictly increasing, so it always
 * has, bar rounding accidents). */
static inline double grid_sqerr_one(float xj, float sc, float z, float maxq, double sd, double zd) {
    float g = __builtin_rintf(xj / sc) + z; /* uniform_quant's code */
    g = g < 0.0f ? 0.0f : g;
    g = g > maxq ? maxq : g;
    const double gd = g;
    const float L0 = grid_level(sd, zd, gd);
    const float Lm = g >= 1.0f ? grid_level(sd, zd, gd - 1.0) : -INFINITY;
    const float Lmm = g >= 2.0f ? grid_level(sd, zd, gd - 2.0) : -INFINITY;
    const float Lp = g < maxq ? grid_level(sd, zd, gd + 1.0) : INFINITY;
    const int below = L0 <= xj; /* b = g: (lo, hi, lo2) = (L0, Lp, Lm); b = g − 1: (Lm, L0, Lmm) */
    const float lo = below ? L0 : Lm, hi = below ? Lp : L0, lo2 = below ? Lm : Lmm;
    const float db = __builtin_fabsf(xj - lo), da = __builtin_fabsf(xj - hi);
    const int up = da < db || lo == -INFINITY; /* (b = −1: the first level is nearest) */
    if (xj != xj || !(lo <= xj) || !(hi > xj) || (!up && __builtin_fabsf(xj - lo2) == db)) return -1;
    const double dj = (double)((up ? hi : lo) - xj);
    return dj * dj;
}

#ifdef __AVX512F__
/* The same for 16 weights (element-wise IEEE operations: the same bits). Returns the lanes that
 * did not certify. */
static inline __mmask16 grid_sqerr16(const float *x, float sc, float z, float maxq, double sd, double zd,
                                     double *d) {
    const __m512 xv = _mm512_loadu_ps(x);
    /* (a product by 1/s, not the division: g is only a guess, the checks below make it exact) */
    __m512 g = _mm512_add_ps(_mm512_roundscale_ps(_mm512_mul_ps(xv, _mm512_set1_ps(1.0f / sc)),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                             _mm512_set1_ps(z));
    const __m512 zero = _mm512_setzero_ps(), vmax = _mm512_set1_ps(maxq);
    const __m512 ninf = _mm512_set1_ps(-INFINITY), pinf = _mm512_set1_ps(INFINITY);
    g = _mm512_mask_mov_ps(g, _mm512_cmp_ps_mask(g, zero, _CMP_LT_OQ), zero);
    g = _mm512_mask_mov_ps(g, _mm512_cmp_ps_mask(g, vmax, _CMP_GT_OQ), vmax);
    const __m512d vsd = _mm512_set1_pd(sd), vzd = _mm512_set1_pd(zd);
    __m512 L[4]; /* offsets −2, −1, 0, +1 */
    for (int o = 0; o < 4; o++) {
        const __m512d off = _mm512_set1_pd((double)(o - 2));
        __m512d g0 = _mm512_cvtps_pd(_mm512_castps512_ps256(g));
        __m512d g1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(g), 1)));
        if (o != 2) { g0 = _mm512_add_pd(g0, off); g1 = _mm512_add_pd(g1, off); }
        __m256 l0 = _mm512_cvtpd_ps(_mm512_mul_pd(vsd, _mm512_sub_pd(g0, vzd)));
        __m256 l1 = _mm512_cvtpd_ps(_mm512_mul_pd(vsd, _mm512_sub_pd(g1, vzd)));
        L[o] = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(l0)),
                                                   _mm256_castps_pd(l1), 1));
    }
    const __m512 Lmm = _mm512_mask_mov_ps(ninf, _mm512_cmp_ps_mask(g, _mm512_set1_ps(2.0f), _CMP_GE_OQ), L[0]);
    const __m512 Lm = _mm512_mask_mov_ps(ninf, _mm512_cmp_ps_mask(g, _mm512_set1_ps(1.0f), _CMP_GE_OQ), L[1]);
    const __m512 L0 = L[2];
    const __m512 Lp = _mm512_mask_mov_ps(pinf, _mm512_cmp_ps_mask(g, vmax, _CMP_LT_OQ), L[3]);
    const __mmask16 below = _mm512_cmp_ps_mask(L0, xv, _CMP_LE_OQ);
    const __m512 lo = _mm512_mask_mov_ps(Lm, below, L0), hi = _mm512_mask_mov_ps(L0, below, Lp);
    const __m512 lo2 = _mm512_mask_mov_ps(Lmm, below, Lm);
    const __m512 db = _mm512_abs_ps(_mm512_sub_ps(xv, lo)), da = _mm512_abs_ps(_mm512_sub_ps(xv, hi));
    const __mmask16 up = _mm512_cmp_ps_mask(da, db, _CMP_LT_OQ) | _mm512_cmp_ps_mask(lo, ninf, _CMP_EQ_OQ);
    const __m512 q = _mm512_mask_mov_ps(lo, up, hi);
    const __mmask16 ok = _mm512_cmp_ps_mask(xv, xv, _CMP_EQ_OQ) & _mm512_cmp_ps_mask(lo, xv, _CMP_LE_OQ) &
                         _mm512_cmp_ps_mask(hi, xv, _CMP_GT_OQ) &
                         (up | _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(xv, lo2)), db, _CMP_NEQ_UQ));
    const __m512 e = _mm512_sub_ps(q, xv);
    const __m512d e0 = _mm512_cvtps_pd(_mm512_castps512_ps256(e));
    const __m512d e1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    _mm512_storeu_pd(d, _mm512_mul_pd(e0, e0));
    _mm512_storeu_pd(d + 8, _mm512_mul_pd(e1, e1));
    return (__mmask16)~ok;
}
#endif

/* d[j] = (q_j − x_j)² (times hd[j] when hd) for a row against the K levels of one scale; lanes that
 * do not certify go through nearest_level_index. */
static void grid_row_sqerr(const float *x, int k, float sc, float z, int K, const float *hd, double *d,
                           float *lv) {
    const double sd = sc, zd = z;
    const float maxq = (float)(K - 1);
    int j = 0, built = 0, any = 0;
#ifdef __AVX512F__
    for (; j + 16 <= k; j += 16) {
        __mmask16 bad = grid_sqerr16(x + j, sc, z, maxq, sd, zd, d + j);
        any |= bad != 0;
        for (int l = 0; bad; l++, bad >>= 1) /* (rare) */
            if (bad & 1) d[j + l] = -1;
    }
#endif
    for (; j < k; j++) {
        d[j] = grid_sqerr_one(x[j], sc, z, maxq, sd, zd);
        any |= d[j] < 0;
    }
    for (j = 0; any && j < k; j++) {
        if (d[j] >= 0) continue;
        if (!built) {
            for (int i = 0; i < K; i++) lv[i] = grid_level(sd, zd, i);
            built = 1;
        }
        double dj = (double)(lv[nearest_level_index(lv, K, x[j])] - x[j]);
        d[j] = dj * dj;
    }
    if (hd)
        for (j = 0; j < k; j++) d[j] = d[j] * (double)hd[j];
}

/* two_step_fit where the code has as many levels as the linear grid (bcq_fit_step2's closed form):
 * the levels of a factor are L(i) for i = 0..K−1 and need not be built to pick the factor. */
static int two_step_fit_grid(const GridSpec *s, const float *x, int rows, int k, size_t ld,
                             const float *hdiag, GroupParams *p, char err[QB_ERRLEN]) {
    const int K = 1 << s->high_bits, m = s->bits;
    const float maxq = (float)(K - 1);
    const int nf = s->fixed_factor > 0 ? 1 : s->n_factors;
    const float *hd = s->use_hdiag ? hdiag : NULL;
    int failed = 0;
    #pragma omp parallel if ((long)rows * k * nf > (1L << 15))
    {
        double *d = malloc((size_t)(k > 0 ? k : 1) * sizeof(double));
        float *lv = malloc((size_t)K * sizeof(float));
        if (!d || !lv) {
            #pragma omp atomic write
            failed = 1;
        }
        #pragma omp for schedule(static)
        for (int row = 0; row < rows; row++) {
            if (!d || !lv) continue;
            const float *xr = x + (size_t)row * ld;
            float lo, hi, best_s = 0, best_z = 0;
            double best = 0;
            row_range(xr, k, s->sym, &lo, &hi);
            for (int f = 0; f < nf; f++) {
                float pf = s->fixed_factor > 0 ? s->fixed_factor : s->factors[f];
                float lo_p = pf * lo, hi_p = pf * hi;
                float sc = (hi_p - lo_p) / maxq;
                float z = s->sym ? (maxq + 1.0f) / 2.0f : rintf(-lo_p / sc);
                double e = 0;
                if (nf > 1) {
                    grid_row_sqerr(xr, k, sc, z, K, hd, d, lv);
                    e = torch_sum_f64(d, k);
                }
                if (f == 0 || e < best) {
                    best = e;
                    best_s = sc;
                    best_z = z;
                }
            }
            const double sd = best_s, zd = best_z;
            for (int i = 0; i < K; i++) {
                p->levels[(size_t)row * K + i] = grid_level(sd, zd, i);
                p->level_code[(size_t)row * K + i] = (uint8_t)i;
            }
            for (int i = 0; i < m; i++) p->alpha[(size_t)row * m + i] = (float)(sd * ldexp(1.0, i - 1));
            p->offset[row] = (float)(sd * ((K - 1) / 2.0 - zd));
        }
        free(d);
        free(lv);
    }
    if (failed) {
        snprintf(err, QB_ERRLEN, "gptqt fit: out of memory");
        return -1;
    }
    return 0;
}

static int two_step_fit(const GridSpec *s, const float *x, int rows, int k, size_t ld,
                        const float *hdiag, GroupParams *p, char err[QB_ERRLEN]) {
    const int K = 1 << s->high_bits, nl = 1 << s->bits, m = s->bits;
    if (K == nl) return two_step_fit_grid(s, x, rows, k, ld, hdiag, p, err);
    TwoStepWork w = {0};
    w.hist = malloc((size_t)rows * K * sizeof(double));
    w.lv = malloc((size_t)rows * nl * sizeof(double));
    w.c = malloc((size_t)rows * sizeof(double));
    w.a = malloc((size_t)rows * m * sizeof(double));
    w.codes = malloc((size_t)rows * nl);
    w.s = malloc((size_t)rows * sizeof(float));
    w.z = malloc((size_t)rows * sizeof(float));
    w.lo = malloc((size_t)rows * sizeof(float));
    w.hi = malloc((size_t)rows * sizeof(float));
    float *levels = malloc((size_t)rows * nl * sizeof(float));
    double *best = malloc((size_t)rows * sizeof(double));
    double *dbuf = malloc((size_t)rows * (k > 0 ? k : 1) * sizeof(double));
    int rc = -1;
    if (!w.hist || !w.lv || !w.c || !w.a || !w.codes || !w.s || !w.z || !w.lo || !w.hi || !levels ||
        !best || !dbuf) {
        snprintf(err, QB_ERRLEN, "gptqt fit: out of memory");
        goto done;
    }
    for (int row = 0; row < rows; row++) row_range(x + (size_t)row * ld, k, s->sym, &w.lo[row], &w.hi[row]);
    int nf = s->fixed_factor > 0 ? 1 : s->n_factors;
    for (int f = 0; f < nf; f++) {
        float pf = s->fixed_factor > 0 ? s->fixed_factor : s->factors[f];
        if (two_step_levels(s, x, rows, k, ld, pf, &w, levels, err)) goto done;
        #pragma omp parallel for schedule(static) if ((long)rows * k > (1L << 15))
        for (int row = 0; row < rows; row++) {
            double *d = dbuf + (size_t)row * k;
            double e = 0;
            if (nf > 1) {
                const float *xr = x + (size_t)row * ld;
                const float *lv = levels + (size_t)row * nl;
                for (int j = 0; j < k; j++) {
                    double dj = (double)(lv[nearest_level_index(lv, nl, xr[j])] - xr[j]);
                    d[j] = dj * dj;
                    if (s->use_hdiag && hdiag) d[j] = d[j] * (double)hdiag[j];
                }
                e = torch_sum_f64(d, k);
            }
            if (f == 0 || e < best[row]) {
                best[row] = e;
                two_step_store_row(s, &w, levels, row, p);
            }
        }
    }
    rc = 0;
done:
    free(w.hist); free(w.lv); free(w.c); free(w.a); free(w.codes); free(w.s); free(w.z);
    free(w.lo); free(w.hi);
    free(levels); free(best); free(dbuf);
    return rc;
}

/* ---- find_params --------------------------------------------------------------------------------- */

int grid_fit(const GridSpec *s, const float *x, int rows, int k, size_t ld, const float *hdiag,
             GroupParams *p, char err[QB_ERRLEN]) {
    if (s->two_step) return two_step_fit(s, x, rows, k, ld, hdiag, p, err);
    float *d = s->mse ? malloc((size_t)rows * (k > 0 ? k : 1) * sizeof(float)) : NULL;
    if (s->mse && !d) {
        snprintf(err, QB_ERRLEN, "find_params: out of memory");
        return -1;
    }
    #pragma omp parallel for schedule(static) if ((s->mse ? 80L : 1L) * rows * k > (1L << 16))
    for (int row = 0; row < rows; row++)
        uniform_fit_row(s, x + (size_t)row * ld, k, d ? d + (size_t)row * k : NULL, &p->scale[row],
                        &p->zero[row]);
    free(d);
    return 0;
}

void store_group_params(const GridSpec *s, const GroupParams *params, QuantResult *out) {
    const int rows = out->rows, ng = out->n_groups, m = s->bits;
    for (int g = 0; g < ng; g++) {
        const GroupParams *p = &params[g];
        for (int r = 0; r < rows; r++) {
            if (!s->two_step) {
                out->scales[(size_t)r * ng + g] = p->scale[r];
                out->zeros[(size_t)r * ng + g] = p->zero[r];
            } else {
                for (int i = 0; i < m; i++)
                    out->scales[((size_t)r * ng + g) * m + i] = p->alpha[(size_t)r * m + i];
                out->zeros[(size_t)r * ng + g] = p->offset[r];
            }
        }
    }
}
