/* options.c — QuantOptions: defaults (docs/quant.md §1.8 IST column for GPTQ, §2.4 for GPTQT, §2.3 for
 * BCQ), method names, and validation of ranges and combinations before any work starts. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "quant/quant.h"

static const char *const method_names[QM_COUNT] = {"rtn", "gptq", "gptqt", "rtnt", "bcq"};

int quant_high_bits(const QuantOptions *o) {
    if (o->high_bits > 0) return o->high_bits;
    return o->bits + 1 > 8 ? 8 : o->bits + 1; /* at 8 bits: an 8-bit linear step, all 256 levels kept */
}

void quant_options_default(QuantOptions *o, QuantMethod method, int bits) {
    memset(o, 0, sizeof *o);
    o->method = method;
    o->bits = bits;
    o->group_size = -1;
    o->sym = 0;           /* the paper and IST scripts are asymmetric */
    o->mse_norm = 2.4f;
    o->mse_grid = 100;
    o->mse_maxshrink = 0.8f;
    o->percdamp = 0.01f;
    o->max_damp_retries = 10;
    o->blocksize = 128;
    o->high_bits = 0;     /* bits + 1, capped at 8 */
    o->reexplore_lo = 0.6f;
    o->reexplore_hi = 1.3f;
    o->reexplore_steps = 36;
    o->bcq_iters = 20;
    o->objective = QT_OBJ_WEIGHT;
    o->variant = QT_VARIANT_MERGED;
    o->bcq_solver = BCQ_ALTERNATING;
    o->bcq_rounds = 15;   /* LUT-GEMM's bcq.py default */
}

const char *quant_method_name(QuantMethod m) {
    return (m >= 0 && m < QM_COUNT) ? method_names[m] : "unknown";
}

/* Bump a method's entry in the commit that changes its outputs (say why here).
 *   gptqt, rtnt 2: the binary-code fit solves its normal equations in a fixed order (was LAPACK,
 *                  whose rounding depended on the CPU kernel and thread count).
 *   gptqt, rtnt 3: at n = m (8 bits) step 2 takes its exact optimum, the linear grid itself, instead
 *                  of the alternating fit's local fixed point (quantizer.c, bcq_fit_step2). */
int quant_algorithm_version(QuantMethod m) {
    static const int V[QM_COUNT] = {[QM_RTN] = 1, [QM_GPTQ] = 1, [QM_GPTQT] = 3, [QM_RTNT] = 3, [QM_BCQ] = 1};
    return (m >= 0 && m < QM_COUNT) ? V[m] : 0;
}

int quant_method_parse(const char *s, QuantMethod *m) {
    if (!s) return -1;
    for (int i = 0; i < QM_COUNT; i++)
        if (strcmp(s, method_names[i]) == 0) {
            *m = (QuantMethod)i;
            return 0;
        }
    return -1;
}

#define FAIL(...) do { snprintf(err, QB_ERRLEN, __VA_ARGS__); return -1; } while (0)

int quant_group_size_check(long g, const ModelConfig *cfg, char err[QB_ERRLEN]) {
    if (g == -1) return 0;
    if (g < 1) FAIL("%ld is not a group size (use -1 for one group per row, or a positive size)", g);
    if (g > cfg->dim) FAIL("%ld is above the model width %d (use -1 for one group per row)", g, cfg->dim);
    if (cfg->dim % g) FAIL("%ld does not divide the model width %d", g, cfg->dim);
    return 0;
}

int quant_options_validate(const QuantOptions *o, int cols, char err[QB_ERRLEN]) {
    if (!o) FAIL("quant options: NULL");
    if (o->method < 0 || o->method >= QM_COUNT) FAIL("quant options: unknown method %d", (int)o->method);
    const char *mn = quant_method_name(o->method);
    const int two_step = o->method == QM_GPTQT || o->method == QM_RTNT;
    const int uses_h = o->method == QM_GPTQ || o->method == QM_GPTQT;
    if (o->bits < 2 || o->bits > 8) FAIL("quant options: bits %d outside 2..8", o->bits);
    if (o->group_size == 0 || o->group_size < -1)
        FAIL("quant options: group_size %d (use -1 for one group per row, or a positive size)",
             o->group_size);
    /* a group size above cols is one group per row (a sweep's g128 on a 64-wide layer stays valid) */
    if (cols < 0) FAIL("quant options: negative column count %d", cols);
    if (o->act_order && !uses_h) FAIL("quant options: act_order needs a Hessian; %s has none", mn);
    if (o->fp16_scales && o->method != QM_RTN && o->method != QM_GPTQ)
        FAIL("quant options: fp16_scales applies to rtn/gptq (uniform grids), not %s", mn);
    if (o->static_groups && !uses_h) FAIL("quant options: static_groups applies to gptq/gptqt, not %s", mn);
    if (o->static_groups && o->group_size == -1)
        FAIL("quant options: static_groups needs a group size");
    if (o->mse && (two_step || o->method == QM_BCQ))
        FAIL("quant options: mse applies to the uniform grid (rtn/gptq), not %s", mn);
    if (o->mse) {
        if (!(o->mse_norm > 0 && isfinite(o->mse_norm))) FAIL("quant options: mse_norm %g must be > 0", (double)o->mse_norm);
        if (o->mse_grid < 1 || o->mse_grid > 100000) FAIL("quant options: mse_grid %d outside 1..100000", o->mse_grid);
        if (!(o->mse_maxshrink > 0 && o->mse_maxshrink <= 1))
            FAIL("quant options: mse_maxshrink %g outside (0, 1]", (double)o->mse_maxshrink);
    }
    if (uses_h) {
        if (!(o->percdamp >= 0 && isfinite(o->percdamp)))
            FAIL("quant options: percdamp %g must be a finite value >= 0", (double)o->percdamp);
        if (o->max_damp_retries < 0 || o->max_damp_retries > 50)
            FAIL("quant options: max_damp_retries %d outside 0..50", o->max_damp_retries);
        if (o->blocksize < 1 || o->blocksize > 4096) FAIL("quant options: blocksize %d outside 1..4096", o->blocksize);
    }
    if (two_step) {
        /* n = the linear step's bits. It must exceed bits so the binary code has a finer grid to
         * fit, except at the 8-bit cap: bits 8 with n = 8 is legal (256 linear levels, 256 binary
         * levels). 0 stays bits+1, so 8 bits needs n = 8 written explicitly. */
        int n = quant_high_bits(o);
        if (o->high_bits < 0) FAIL("quant options: high_bits %d must be 0 (bits+1, at most 8) or more than bits", o->high_bits);
        if (n > 8)
            FAIL("quant options: high_bits %d is above 8 (at bits %d set high_bits to 8)", n, o->bits);
        if (n < o->bits || (n == o->bits && n != 8))
            FAIL("quant options: high_bits %d must exceed bits %d (or equal it at 8 bits)", n, o->bits);
        if (!(o->reexplore_lo > 0 && o->reexplore_hi >= o->reexplore_lo && isfinite(o->reexplore_hi)))
            FAIL("quant options: re-explore range [%g, %g] must satisfy 0 < lo <= hi",
                 (double)o->reexplore_lo, (double)o->reexplore_hi);
        if (o->reexplore_steps < 1 || o->reexplore_steps > 256)
            FAIL("quant options: reexplore_steps %d outside 1..256", o->reexplore_steps);
        if (o->bcq_iters < 0 || o->bcq_iters > 1000) FAIL("quant options: bcq_iters %d outside 0..1000", o->bcq_iters);
        if (o->objective < QT_OBJ_WEIGHT || o->objective > QT_OBJ_OUTPUT)
            FAIL("quant options: unknown GPTQT objective %d", (int)o->objective);
        if (o->variant != QT_VARIANT_MERGED && o->variant != QT_VARIANT_TWOPASS)
            FAIL("quant options: unknown GPTQT variant %d", (int)o->variant);
        if (o->method == QM_RTNT && o->variant == QT_VARIANT_TWOPASS)
            FAIL("quant options: the two-pass variant needs GPTQ (method gptqt), not rtnt");
    }
    if (o->method == QM_BCQ) {
        if (o->bcq_solver < BCQ_GREEDY || o->bcq_solver > BCQ_ALTERNATING)
            FAIL("quant options: unknown BCQ solver %d", (int)o->bcq_solver);
        if (o->bcq_rounds < 0 || o->bcq_rounds > 1000) FAIL("quant options: bcq_rounds %d outside 0..1000", o->bcq_rounds);
    }
    return 0;
}
