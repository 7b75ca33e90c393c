/* qweights.c — linear layers kept as stored: the constructors that turn a checkpoint's codes into the
 * kernels' layouts (qweights.h), the float32 accessor every weight reader goes through, and the unpacking
 * that makes a model float32 again for code that rewrites weights in place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "model/qweights.h"

static const char *FORMAT_NAMES[QW_FORMAT_COUNT] = {"f32", "f16", "bf16", "uniform", "binary", "gguf"};

const char *qweight_format_name(QWeightFormat f) {
    return (unsigned)f < QW_FORMAT_COUNT ? FORMAT_NAMES[f] : "?";
}

QWeightFormat linear_format(const Linear *l) { return l->q ? l->q->fmt : QW_F32; }

size_t linear_weight_bytes(const Linear *l) {
    return l->q ? l->q->bytes : (size_t)l->rows * (size_t)l->cols * sizeof(float);
}

float model_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);        /* inf / nan */
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13); /* normal: rebias 15 → 127 */
    else if (man == 0) bits = sign;                                    /* ±0 */
    else {                                                             /* subnormal: normalize */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

void linear_rows_f32(const Linear *l, int r0, int r1, float *out) {
    if (r1 <= r0) return;
    if (!l->q) {
        memcpy(out, l->w + (size_t)r0 * l->cols, (size_t)(r1 - r0) * l->cols * sizeof(float));
        return;
    }
    qw_ops[l->q->fmt].rows_f32(l->q, r0, r1, out);
}

void linear_dot_rows(const Linear *l, const float *x, int r0, int r1, float *y) {
    if (r1 <= r0) return;
    if (!l->q) {
        for (int r = r0; r < r1; r++) y[r - r0] = qk_dot_f32(l->w + (size_t)r * l->cols, x, l->cols);
        return;
    }
    qw_ops[l->q->fmt].dot_rows(l->q, x, r0, r1, y);
}

int model_unpack_weights(Model *m, char err[QB_ERRLEN]) {
    m->classifier_q = NULL; /* writers change m->classifier in place */
    for (int b = 0; b < m->cfg.n_layers; b++)
        for (int k = 0; k < LIN_COUNT; k++) {
            Linear *l = &m->blocks[b].lin[k];
            if (!l->q) continue;
            float *w = model_own_floats(m, (size_t)l->rows * l->cols);
            if (!w) {
                snprintf(err, QB_ERRLEN, "blk.%d.%s: out of memory unpacking %s weights", b,
                         linear_kind_name((LinearKind)k), qweight_format_name(l->q->fmt));
                return -1;
            }
            linear_rows_f32(l, 0, l->rows, w);
            l->w = w;
            l->q = NULL; /* the packed buffers stay owned by m until model_free */
        }
    return 0;
}

/* v in half format f; clears *exact when that half is not v bit for bit (F16: subnormals and values out of
 * its normal range count as not exact, which only keeps such a classifier float32). */
static uint16_t half_of(float v, QWeightFormat f, int *exact) {
    uint32_t bits, back;
    memcpy(&bits, &v, sizeof bits);
    uint32_t sign = bits >> 31 << 15, exp = bits >> 23 & 0xff;
    uint16_t h;
    if (f == QW_BF16) h = (uint16_t)(bits >> 16);
    else if ((bits & 0x7fffffffu) == 0) h = (uint16_t)sign;
    else if (exp >= 113 && exp <= 142) h = (uint16_t)(sign | (exp - 112) << 10 | (bits >> 13 & 0x3ffu));
    else { *exact = 0; return 0; }
    if (f == QW_BF16) back = (uint32_t)h << 16;
    else { float fb = model_half_to_float(h); memcpy(&back, &fb, sizeof back); }
    if (back != bits) *exact = 0;
    return h;
}

int model_keep_classifier_half(Model *m, QWeightFormat f, const uint16_t *data, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    if (c->family != ARCH_LLAMA || !m->classifier) return 0;
    Linear l = {.rows = c->vocab_size, .cols = c->dim};
    size_t n = (size_t)l.rows * l.cols;
    if (!data) { /* an exact copy in the first half format that holds every value */
        const QWeightFormat fs[2] = {QW_BF16, QW_F16};
        uint16_t *h = NULL;
        for (int k = 0; k < 2 && !data; k++) {
            int exact = 1;
            for (size_t i = 0; i < n && exact; i++) half_of(m->classifier[i], fs[k], &exact);
            if (!exact) continue;
            if (!(h = (uint16_t *)model_own_floats(m, (n + 1) / 2))) {
                snprintf(err, QB_ERRLEN, "classifier: out of memory for its %s copy", qweight_format_name(fs[k]));
                return -1;
            }
            for (size_t i = 0; i < n; i++) h[i] = half_of(m->classifier[i], fs[k], &exact);
            data = h;
            f = fs[k];
        }
        if (!data) return 0;
    }
    if (linear_keep_half(m, &l, f, data, err)) return -1;
    m->classifier_q = l.q;
    return 0;
}

/* ---- constructors ----------------------------------------------------------------------------- */

static void *own(Model *m, size_t bytes, size_t *total) {
    *total += bytes;
    return model_own_floats(m, (bytes + sizeof(float) - 1) / sizeof(float));
}

static QWeights *new_q(Model *m, Linear *l, QWeightFormat f, char err[QB_ERRLEN]) {
    if (l->rows < 1 || l->cols < 1) {
        snprintf(err, QB_ERRLEN, "%s weights: empty layer (%d x %d)", qweight_format_name(f), l->rows, l->cols);
        return NULL;
    }
    size_t unused = 0;
    QWeights *q = own(m, sizeof *q, &unused);
    if (!q) {
        snprintf(err, QB_ERRLEN, "%s weights: out of memory", qweight_format_name(f));
        return NULL;
    }
    memset(q, 0, sizeof *q);
    q->fmt = f;
    q->rows = l->rows;
    q->cols = l->cols;
    return q;
}

int linear_keep_half(Model *m, Linear *l, QWeightFormat f, const uint16_t *data, char err[QB_ERRLEN]) {
    if (f != QW_F16 && f != QW_BF16) {
        snprintf(err, QB_ERRLEN, "linear_keep_half: %s is not a half format", qweight_format_name(f));
        return -1;
    }
    QWeights *q = new_q(m, l, f, err);
    if (!q) return -1;
    q->data = (const uint8_t *)data;
    q->row_bytes = (size_t)l->cols * 2;
    q->bytes = q->row_bytes * (size_t)l->rows;
    l->q = q;
    l->w = NULL;
    return 0;
}

/* Column order for the kernels: when every group holds the same number of columns, a multiple of
 * `align`, kernel columns are sorted by group (stable) and *gsize is that count; else *gsize = 0. */
static int group_order(Model *m, int cols, int ng, const int32_t *g_idx, int align, const int32_t **perm,
                       int *gsize, size_t *total) {
    *perm = NULL;
    *gsize = 0;
    if (cols % ng) return 0;
    int G = cols / ng;
    if (G % align) return 0;
    int *cnt = calloc((size_t)ng, sizeof *cnt);
    if (!cnt) return -1;
    int ok = 1, identity = 1;
    for (int c = 0; c < cols; c++) {
        if (++cnt[g_idx[c]] > G) ok = 0;
        if (g_idx[c] != c / G) identity = 0;
    }
    if (ok && !identity) {
        int32_t *p = own(m, (size_t)cols * sizeof *p, total);
        if (!p) { free(cnt); return -1; }
        for (int g = 0; g < ng; g++) cnt[g] = g * G; /* next free kernel column of group g */
        for (int c = 0; c < cols; c++) p[cnt[g_idx[c]]++] = c;
        *perm = p;
    }
    free(cnt);
    if (ok) *gsize = G;
    return 0;
}

/* Packs codes (rows x cols, original order) into q's layout. */
static void pack_layout(QWeights *q, const uint8_t *codes) {
    const int cols = q->cols, bits = q->bits;
    uint8_t *d = (uint8_t *)q->data; /* zeroed by the caller */
    for (int r = 0; r < q->rows; r++) {
        uint8_t *p = d + (size_t)r * q->row_bytes;
        const uint8_t *cr = codes + (size_t)r * cols;
        for (int j = 0; j < cols; j++) {
            unsigned c = cr[q->perm ? q->perm[j] : j];
            switch (q->layout) {
            case QL_NIB4: p[(j >> 5) * 16 + (j & 15)] |= (uint8_t)(c << ((j & 16) ? 4 : 0)); break;
            case QL_BYTE8: p[j] = (uint8_t)c; break;
            case QL_PLANES:
                for (int b = 0; b < bits; b++) d[qw_plane_at(q, r, b, j >> 3)] |= (uint8_t)((c >> b & 1u) << (j & 7));
                break;
            default: {
                size_t bit = (size_t)j * bits;
                unsigned v = c << (bit % 8);
                p[bit / 8] |= (uint8_t)v;
                p[bit / 8 + 1] |= (uint8_t)(v >> 8);
            }
            }
        }
    }
}

static int check_codes(const char *what, int rows, int cols, int bits, int ng, const uint8_t *codes,
                       const int32_t *g_idx, char err[QB_ERRLEN]) {
    if (bits < 1 || bits > 8 || ng < 1 || ng > cols) {
        snprintf(err, QB_ERRLEN, "%s weights: bits %d / n_groups %d out of range", what, bits, ng);
        return -1;
    }
    for (int c = 0; c < cols; c++)
        if (g_idx[c] < 0 || g_idx[c] >= ng) {
            snprintf(err, QB_ERRLEN, "%s weights: g_idx[%d] = %d outside [0, %d)", what, c, g_idx[c], ng);
            return -1;
        }
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        if (codes[i] >> bits) {
            snprintf(err, QB_ERRLEN, "%s weights: code %u at %zu does not fit in %d bits", what, codes[i], i, bits);
            return -1;
        }
    return 0;
}

/* Everything but the metadata both code formats share: layout, column order, packed codes, g_idx. */
static QWeights *keep_codes(Model *m, Linear *l, QWeightFormat f, int bits, int ng, const uint8_t *codes,
                            const int32_t *g_idx, char err[QB_ERRLEN]) {
    const char *what = qweight_format_name(f);
    if (check_codes(what, l->rows, l->cols, bits, ng, codes, g_idx, err)) return NULL;
    QWeights *q = new_q(m, l, f, err);
    if (!q) return NULL;
    q->bits = bits;
    q->n_groups = ng;
    size_t total = sizeof *q;
    /* uniform 2- and 3-bit codes use the 4-bit layout too: a nibble per code costs memory (4 bits instead
     * of 2 or 3) but runs the 4-bit kernels, where bit planes took 30x longer to decode */
    int align = f == QW_UNIFORM && bits <= 4 ? 32 : f == QW_UNIFORM && bits == 8 ? 1 : 8;
    if (group_order(m, l->cols, ng, g_idx, align, &q->perm, &q->gsize, &total)) goto oom;
    if (q->gsize && f == QW_UNIFORM && bits <= 4) q->layout = QL_NIB4, q->row_bytes = (size_t)l->cols / 2;
    else if (q->gsize && f == QW_UNIFORM && bits == 8) q->layout = QL_BYTE8, q->row_bytes = (size_t)l->cols;
    else if (q->gsize) q->layout = QL_PLANES, q->row_bytes = (size_t)l->cols / 8 * bits, q->tiled = f == QW_BINARY;
    else q->layout = QL_STREAM, q->row_bytes = ((size_t)l->cols * bits + 7) / 8 + 1;
    size_t padded = q->tiled ? ((size_t)l->rows + 15) / 16 * 16 : (size_t)l->rows;
    if (!(q->data = own(m, q->row_bytes * padded, &total))) goto oom;
    memset((uint8_t *)q->data, 0, q->row_bytes * padded);
    int32_t *gi = own(m, (size_t)l->cols * sizeof *gi, &total);
    if (!gi) goto oom;
    memcpy(gi, g_idx, (size_t)l->cols * sizeof *gi);
    q->g_idx = gi;
    pack_layout(q, codes);
    q->bytes = total;
    return q;
oom:
    snprintf(err, QB_ERRLEN, "%s weights: out of memory", what);
    return NULL;
}

static const float *copy_floats(Model *m, const float *src, size_t n, size_t *total) {
    float *d = own(m, n * sizeof *d, total);
    if (d) memcpy(d, src, n * sizeof *d);
    return d;
}

int linear_keep_uniform(Model *m, Linear *l, int bits, int n_groups, const uint8_t *codes, const float *scales,
                        const float *zeros, const int32_t *g_idx, char err[QB_ERRLEN]) {
    QWeights *q = keep_codes(m, l, QW_UNIFORM, bits, n_groups, codes, g_idx, err);
    if (!q) return -1;
    size_t n = (size_t)l->rows * n_groups;
    if (!(q->scales = copy_floats(m, scales, n, &q->bytes)) || !(q->zeros = copy_floats(m, zeros, n, &q->bytes))) {
        snprintf(err, QB_ERRLEN, "uniform weights: out of memory");
        return -1;
    }
    l->q = q;
    l->w = NULL;
    return 0;
}

int linear_keep_binary(Model *m, Linear *l, int bits, int n_groups, const uint8_t *codes, const float *alphas,
                       const float *offsets, const float *levels, const int32_t *g_idx, char err[QB_ERRLEN]) {
    QWeights *q = keep_codes(m, l, QW_BINARY, bits, n_groups, codes, g_idx, err);
    if (!q) return -1;
    size_t n = (size_t)l->rows * n_groups;
    if (!(q->scales = copy_floats(m, alphas, n * bits, &q->bytes)) ||
        !(q->zeros = copy_floats(m, offsets, n, &q->bytes)) ||
        !(q->levels = copy_floats(m, levels, n << bits, &q->bytes))) {
        snprintf(err, QB_ERRLEN, "binary weights: out of memory");
        return -1;
    }
    l->q = q;
    l->w = NULL;
    return 0;
}
