/* pack.c — the size accounting of quant.h §1.5: bits per weight and packed bytes, counting everything
 * a packed layer stores (the packing itself is model/pack.c). */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "quant/quant.h"

/* ---- size accounting ---------------------------------------------------------------------- */

static int is_binary_code(QuantMethod m) { return m == QM_BCQ || m == QM_GPTQT || m == QM_RTNT; }
static int has_offset(QuantMethod m) { return m == QM_GPTQT || m == QM_RTNT; }

/* g_idx must be stored only when it is not c // G: dynamic groups under act-order. */
static int needs_g_idx(const QuantResult *r, const QuantOptions *o) {
    return o->act_order && !o->static_groups && r->n_groups > 1 &&
           (o->method == QM_GPTQ || o->method == QM_GPTQT);
}

/* Everything counted in bits: codes, per-group metadata (fp16 scale + `bits`-bit zero for uniform
 * grids; `bits` fp16 alphas (+ one fp16 offset for GPTQT/RTNT) for binary codes), g_idx. */
double quant_bits_per_weight(const QuantResult *r, const QuantOptions *o) {
    if (!r || r->rows <= 0 || r->cols <= 0) return 0;
    double n = (double)r->rows * r->cols;
    double meta_per_group = is_binary_code(o->method)
                                ? 16.0 * r->bits + (has_offset(o->method) ? 16.0 : 0.0)
                                : 16.0 + r->bits;
    double total = n * r->bits + (double)r->rows * r->n_groups * meta_per_group;
    if (needs_g_idx(r, o)) total += 32.0 * r->cols;
    return total / n;
}

/* The bytes of the packed tensors as stored (AutoGPTQ layout for uniform grids; for binary codes
 * the `bits` sign planes are packed like codes, one stream per row). */
size_t quant_packed_bytes(const QuantResult *r, const QuantOptions *o) {
    if (!r || r->rows <= 0 || r->cols <= 0) return 0;
    size_t rows = (size_t)r->rows, ng = (size_t)r->n_groups;
    size_t bytes = 4 * pack_words((size_t)r->cols, r->bits) * rows; /* qweight / sign planes */
    if (is_binary_code(o->method)) {
        bytes += 2 * rows * ng * (size_t)r->bits;         /* fp16 alphas */
        if (has_offset(o->method)) bytes += 2 * rows * ng; /* fp16 offsets */
    } else {
        bytes += 2 * rows * ng;                               /* fp16 scales */
        bytes += 4 * pack_words(rows, r->bits) * ng;          /* packed zeros */
    }
    if (needs_g_idx(r, o)) bytes += 4 * (size_t)r->cols;
    return bytes;
}
