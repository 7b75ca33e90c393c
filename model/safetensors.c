/* safetensors.c — reads the safetensors container: u64 header length, a JSON object
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data. The header
 * is hostile input: every number is checked for type, integrality and range before use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "model/model_internal.h"
#include "model/safetensors.h"

#define MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

static const struct { const char *name; StDtype dt; size_t size; } DTYPES[] = {
    {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2}, {"F64", ST_OTHER, 8},
    {"I64", ST_OTHER, 8}, {"I32", ST_OTHER, 4}, {"I16", ST_OTHER, 2}, {"I8", ST_OTHER, 1},
    {"U8", ST_OTHER, 1}, {"BOOL", ST_OTHER, 1}, {"U16", ST_OTHER, 2}, {"U32", ST_OTHER, 4},
    {"U64", ST_OTHER, 8}, {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};

/* A JSON number that is a non-negative integer below 2^53 (exact in a double). */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int by_offset(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static int parse_entry(const StFile *f, const cJSON *e, StTensor *t, const uint8_t *base, size_t avail,
                       char err[QB_ERRLEN]) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) {
        snprintf(err, QB_ERRLEN, "%.300s: header entry '%.100s' is not an object", f->path, name);
        return -1;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs)) {
        snprintf(err, QB_ERRLEN, "%.300s: tensor '%.100s' lacks a string dtype, a shape array or a "
                 "data_offsets array", f->path, name);
        return -1;
    }
    size_t esize = 0;
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(dt->valuestring, DTYPES[i].name) == 0) { t->dtype = DTYPES[i].dt; esize = DTYPES[i].size; }
    if (!esize) {
        snprintf(err, QB_ERRLEN, "%.300s: tensor '%.100s' has unknown dtype '%.20s'", f->path, name,
                 dt->valuestring);
        return -1;
    }
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > 8) {
        snprintf(err, QB_ERRLEN, "%.300s: tensor '%.100s' has %d dimensions (at most 8)", f->path, name, nd);
        return -1;
    }
    t->ndim = nd;
    size_t numel = 1;
    for (int i = 0; i < nd; i++) {
        uint64_t v;
        if (json_uint(cJSON_GetArrayItem(shape, i), &v) || v > ((uint64_t)1 << 40) ||
            mul_size(numel, (size_t)v, &numel)) {
            snprintf(err, QB_ERRLEN, "%.300s: tensor '%.100s' has a bad shape entry %d", f->path, name, i);
            return -1;
        }
        t->shape[i] = (int64_t)v;
    }
    uint64_t b, e2;
    if (cJSON_GetArraySize(offs) != 2 || json_uint(cJSON_GetArrayItem(offs, 0), &b) ||
        json_uint(cJSON_GetArrayItem(offs, 1), &e2) || b > e2 || e2 > avail) {
        snprintf(err, QB_ERRLEN, "%.300s: tensor '%.100s' has data_offsets outside the %zu data bytes of "
                 "the file (truncated file or lying header)", f->path, name, avail);
        return -1;
    }
    size_t nbytes;
    if (mul_size(numel, esize, &nbytes) || nbytes != e2 - b) {
        snprintf(err, QB_ERRLEN, "%.300s: tensor '%.100s' spans %llu bytes but its shape and dtype %s need %zu",
                 f->path, name, (unsigned long long)(e2 - b), t->dtype_name, numel * esize);
        return -1;
    }
    t->numel = numel;
    t->nbytes = nbytes;
    t->data = base + b;
    t->name = strdup(name);
    if (!t->name) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", f->path); return -1; }
    return 0;
}

int st_open(Model *m, const char *path, StFile *f, char err[QB_ERRLEN]) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    void *map;
    if (model_map_file(m, path, &map, &f->size, err)) return -1;
    f->map = map;
    if (f->size < 8) {
        snprintf(err, QB_ERRLEN, "%.300s: truncated: %zu bytes, no header length", path, f->size);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->map[i]; /* little-endian u64 */
    if (hlen > MAX_HEADER || hlen > f->size - 8) {
        snprintf(err, QB_ERRLEN, "%.300s: header length %llu does not fit the file (%zu bytes)", path,
                 (unsigned long long)hlen, f->size);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)f->map + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        snprintf(err, QB_ERRLEN, "%.300s: header is not a JSON object", path);
        cJSON_Delete(root);
        return -1;
    }
    int n = cJSON_GetArraySize(root);
    f->t = calloc((size_t)n + 1, sizeof *f->t);
    if (!f->t) { cJSON_Delete(root); snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); return -1; }
    const uint8_t *base = f->map + 8 + hlen;
    size_t avail = f->size - 8 - (size_t)hlen;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (e->string && strcmp(e->string, "__metadata__") == 0) continue;
        if (parse_entry(f, e, &f->t[f->n], base, avail, err)) { cJSON_Delete(root); st_close(f); return -1; }
        f->n++;
    }
    cJSON_Delete(root);
    /* no two tensors may share bytes: sort by start, each must begin at or after the previous end */
    StTensor *sorted = malloc(((size_t)f->n + 1) * sizeof *sorted);
    if (!sorted) { st_close(f); snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); return -1; }
    memcpy(sorted, f->t, (size_t)f->n * sizeof *sorted);
    qsort(sorted, (size_t)f->n, sizeof *sorted, by_offset);
    for (int i = 1; i < f->n; i++)
        if (sorted[i].data < sorted[i - 1].data + sorted[i - 1].nbytes) {
            snprintf(err, QB_ERRLEN, "%.200s: tensors '%.100s' and '%.100s' overlap", path, sorted[i - 1].name,
                     sorted[i].name);
            free(sorted);
            st_close(f);
            return -1;
        }
    free(sorted);
    return 0;
}

void st_close(StFile *f) {
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

int st_to_f32(const StFile *f, const StTensor *t, float *dst, char err[QB_ERRLEN]) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(dst, p, t->numel * 4); return 0;
    case ST_F16:
        for (size_t i = 0; i < t->numel; i++) dst[i] = model_half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < t->numel; i++) {
            uint32_t bits = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
            memcpy(&dst[i], &bits, sizeof(float));
        }
        return 0;
    default:
        snprintf(err, QB_ERRLEN, "%.300s: tensor '%.100s' has dtype %s; only F32, F16 and BF16 weights are "
                 "supported", f->path, t->name, t->dtype_name);
        return -1;
    }
}
