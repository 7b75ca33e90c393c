/* quant_internal.h — private to quant/: the per-row grids every solver shares (quantizer.c),
 * the GPTQ core (gptq.c) driven by any grid, and PyTorch-order sums.
 *
 * A "grid" is what GPTQ's find_params produces for one slice of columns, for every row at once:
 * either a uniform (scale, zero) pair per row (§1.3) or a sorted list of 2^m real levels per row
 * (GPTQT's merged binary code, §2.4). quant() maps one weight to its nearest grid point. */
#ifndef QBENCH_QUANT_INTERNAL_H
#define QBENCH_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "quant/quant.h"

/* Sums in the order PyTorch 1.13's CPU sum (cascade_sum / vectorized_inner_sum, AVX2: 8 float or
 * 4 double lanes, 4-way ILP, 4 cascade levels) adds a contiguous row. The reference's MSE grid and
 * re-explore decisions compare such sums with `<`, so matching the order matches its tie-breaks. */
float torch_sum_f32(const float *x, int n);
double torch_sum_f64(const double *x, int n);

typedef struct {
    int two_step;         /* 0: uniform grid (RTN/GPTQ); 1: GPTQT two-step binary-code levels */
    int bits;             /* uniform bits, or target m for two_step */
    int sym;
    int fp16_scales;      /* uniform grid: scales rounded to fp16 values (QuantOptions.fp16_scales) */
    int mse; float norm; int grid; float maxshrink;
    /* two_step */
    int high_bits;        /* n */
    int n_factors;        /* re-explore factors p (already float32) */
    float factors[256];
    float fixed_factor;   /* > 0: use only this factor (the `output` objective driver) */
    int use_hdiag;        /* objective hdiag: weight the error by diag(H) */
    int bcq_iters;
} GridSpec;

typedef struct {
    int rows, nlev, m;
    float *scale, *zero;   /* uniform: rows each */
    float *levels;         /* two_step: rows x nlev, ascending */
    uint8_t *level_code;   /* two_step: rows x nlev, sign bits of each sorted level (bit i = b_i>0) */
    float *alpha, *offset; /* two_step: rows x m and rows: levels ≈ offset + Σ alpha_i b_i */
} GroupParams;

void grid_spec_from_options(GridSpec *s, const QuantOptions *o);
int group_params_alloc(GroupParams *p, const GridSpec *s, int rows);
void group_params_free(GroupParams *p);
void group_params_copy(GroupParams *dst, const GroupParams *src);

/* find_params on x (rows, k) with row stride ld. hdiag (k) or NULL is diag(H) of those columns. */
int grid_fit(const GridSpec *s, const float *x, int rows, int k, size_t ld, const float *hdiag,
             GroupParams *p, char err[QB_ERRLEN]);

/* Fake-quantizes one weight of `row`; *code gets the integer code (uniform) or sign bits. */
static inline float grid_quant(const GridSpec *s, const GroupParams *p, int row, float x,
                               uint8_t *code);

/* Uniform: q = scale·(clamp(rint(x/scale) + zero, 0, maxq) − zero) with a float32 division. */
static inline float uniform_quant(float x, float scale, float zero, float maxq, uint8_t *code) {
    float k = __builtin_rintf(x / scale) + zero;
    k = k < 0.0f ? 0.0f : (k > maxq ? maxq : k);
    if (code) *code = (uint8_t)k;
    return scale * (k - zero);
}

/* Nearest of sorted levels; ties go to the first (lower) level, like torch.argmin over all n.
 * Binary search instead of a scan of all n (256 at 8 bits), same answer: d(i) = |x − lv[i]| rounded
 * is non-increasing up to b, the last level <= x, and non-decreasing after it (rounding is monotone),
 * so the smallest d is at b or b+1, and its first index is the start of the run of equal d ending
 * at b when d(b) is smallest, else b+1. A NaN x gives 0, as the scan's `<` does. */
static inline int nearest_level_at(const float *lv, int n, float x, int b) {
    if (b < 0) return 0;
    const float db = __builtin_fabsf(x - lv[b]);
    if (b + 1 < n && __builtin_fabsf(x - lv[b + 1]) < db) return b + 1;
    int i = b;
    while (i > 0 && __builtin_fabsf(x - lv[i - 1]) == db) i--;
    return i;
}

static inline int nearest_level_index(const float *lv, int n, float x) {
    if (x != x) return 0;
    int lo = 0, hi = n; /* b + 1 = the first level > x */
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (lv[mid] <= x) lo = mid + 1; else hi = mid;
    }
    return nearest_level_at(lv, n, x, lo - 1);
}

/* The same answer, b found by walking from a guess (a level index near x): O(1) when levels are
 * near-uniform and the guess is the linear grid's code. */
static inline int nearest_level_index_near(const float *lv, int n, float x, int guess) {
    if (x != x) return 0;
    int b = guess < 0 ? 0 : (guess >= n ? n - 1 : guess);
    while (b >= 0 && lv[b] > x) b--;
    while (b + 1 < n && lv[b + 1] <= x) b++;
    return nearest_level_at(lv, n, x, b);
}

static inline float grid_quant(const GridSpec *s, const GroupParams *p, int row, float x,
                               uint8_t *code) {
    if (!s->two_step)
        return uniform_quant(x, p->scale[row], p->zero[row], (float)((1 << s->bits) - 1), code);
    const float *lv = p->levels + (size_t)row * p->nlev;
    int i;
    if (p->nlev > 32 && lv[p->nlev - 1] > lv[0]) { /* many levels: guess by interpolation, then walk */
        float t = (x - lv[0]) / (lv[p->nlev - 1] - lv[0]) * (float)(p->nlev - 1);
        int guess = t > 0.0f ? (t < (float)p->nlev ? (int)t : p->nlev - 1) : 0;
        i = nearest_level_index_near(lv, p->nlev, x, guess);
    } else {
        i = nearest_level_index(lv, p->nlev, x);
    }
    if (code) *code = p->level_code[(size_t)row * p->nlev + i];
    return lv[i];
}

/* Solves the m×m system A x = y in place (row-major A, overwritten) by Gaussian elimination with
 * partial pivoting in a fixed order of operations; -1 if singular. */
int bcq_solve_small(double *A, double *y, int m);
/* BCQ fit of an integer histogram (GPTQT step 2, oracle's bcq_fit_int_hist) for `rows` rows:
 * hist (rows, K) → levels in the integer domain, c and a (rows, m), then sorted with their codes. */
int bcq_fit_int_hist(const double *hist, int rows, int K, int m, int iters, double *levels_sorted,
                     uint8_t *codes_sorted, double *c_out, double *a_out, char err[QB_ERRLEN]);
/* The step-2 fit GPTQT uses: bcq_fit_int_hist, or where K == 2^m its exact optimum, the linear grid
 * itself (levels 0..K−1, code j at level j; hist is not read). */
int bcq_fit_step2(const double *hist, int rows, int K, int m, int iters, double *levels_sorted,
                  uint8_t *codes_sorted, double *c_out, double *a_out, char err[QB_ERRLEN]);

/* ---- the GPTQ core (§1.4), driven by a grid spec -------------------------------------------- */

typedef struct {
    int group_size, act_order, static_groups, blocksize;
    float percdamp;
    int max_damp_retries;
    /* Optional preset grids (the two-pass GPTQT variant): one per group in result order. */
    const GroupParams *preset;
    double *row_loss;   /* optional output (rows): each row's Σ e²/2 */
} GptqCfg;

/* Runs GPTQ on W (rows, cols) with H; fills out->q, codes, g_idx, perm, damp, gptq_loss and, when
 * params_out is not NULL, the grid of every group (n_groups entries, caller frees). */
int gptq_run(const float *W, const float *H, int rows, int cols, const GridSpec *s,
             const GptqCfg *c, QuantResult *out, GroupParams **params_out, char err[QB_ERRLEN]);

/* RTN with any grid: per row / group fit on the untouched W and round. H (may be NULL) only feeds
 * the hdiag objective of the two-step grid. */
int rtn_run(const float *W, const float *H, int rows, int cols, int group_size, const GridSpec *s,
            QuantResult *out, GroupParams **params_out, char err[QB_ERRLEN]);
/* RTNT: the GPTQT grid without compensation; with H, the hdiag / output objectives use it. */
int rtnt_run(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
             QuantResult *out, char err[QB_ERRLEN]);

/* Copies grids into the result's scales/zeros (uniform) or alphas/offsets (two-step). */
void store_group_params(const GridSpec *s, const GroupParams *params, QuantResult *out);

int gptqt_run(const float *W, const float *H, int rows, int cols, const QuantOptions *o,
              QuantResult *out, char err[QB_ERRLEN]);
int bcq_run(const float *W, int rows, int cols, const QuantOptions *o, QuantResult *out,
            char err[QB_ERRLEN]);

/* Allocates q, codes, scales, zeros, g_idx for the method (perm left NULL). */
int quant_result_alloc(QuantResult *r, int rows, int cols, int n_groups, int bits, int alphas,
                       char err[QB_ERRLEN]);
/* ‖(W−Q)‖²_H / 2 = tr((W−Q) H (W−Q)ᵀ)/2 in double (the layer error with H = 2XᵀX/n). */
double layer_error_h(const float *W, const float *Q, const float *H, int rows, int cols);

/* ---- threads and the XᵀX kernels (blas_threads.c, xtx.c) ------------------------------------- */

/* OpenBLAS pinned to one thread between begin and end (loops and GEMMs run on OpenMP threads). */
typedef struct { int saved; } QBlasSingle;
void qblas_single_begin(QBlasSingle *b);
void qblas_single_end(QBlasSingle *b);
/* Stops OpenBLAS's idle worker threads (they spin ~0.1 s after a threaded call). Serial code only. */
void qblas_park(void);
/* Ends libgomp's idle worker threads (they spin a few ms after a parallel region). Serial code only. */
void qomp_park(void);

/* C (cols, cols) ← beta·C + alpha·XᵀX, X (n, cols) with rows ldx apart; C stays exactly symmetric. */
void xtx_update(float *C, const float *X, int n, int cols, size_t ldx, float alpha, float beta);
/* Σ_ij H_ij (DᵀD)_ij in double, D (n, cols), H (cols, cols) symmetric; NaN when out of memory. */
double xtx_dot(const float *D, int n, int cols, const float *H);

/* `samples` sequences stacked in x (tokens, cols): H ← H·n/(n+s) + 2/(n+s)·xᵀx, n ← n+s (the
 * reference's add_batch with batch s; hessian_add_sample is s = 1). */
void hessian_add_samples(Hessian *h, const float *x, int tokens, int samples);

#endif
