/* gguf.c — the GGUF container: header, metadata key/values (every type, arrays included), tensor infos
 * and the data section, all bounds-checked against the file before anything points into it. The
 * dequantization of the tensor types lives in gguf_quants.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/model_internal.h"

#define MAX_ARRAY_DEPTH 4
#define MAX_NAME 4096 /* longer keys / tensor names are not plausible */

typedef struct {
    const uint8_t *p;
    size_t size, off;
    const char *path;
    char *err;
} Cur;

static int need(Cur *c, size_t n, const char *what) {
    if (n > c->size - c->off) {
        snprintf(c->err, QB_ERRLEN, "%.200s: truncated at byte %zu reading %.100s (%zu bytes needed, %zu left)",
                 c->path, c->off, what, n, c->size - c->off);
        return -1;
    }
    return 0;
}

static int rd_u32(Cur *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    memcpy(v, c->p + c->off, 4); /* GGUF is little-endian, as is every machine qbench builds on */
    c->off += 4;
    return 0;
}

static int rd_u64(Cur *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    memcpy(v, c->p + c->off, 8);
    c->off += 8;
    return 0;
}

static int rd_str(Cur *c, const char **s, size_t *len, const char *what) {
    uint64_t n;
    if (rd_u64(c, &n, what)) return -1;
    if (n > c->size - c->off) {
        snprintf(c->err, QB_ERRLEN, "%.200s: %.100s: string of %llu bytes at byte %zu runs past the end of the file",
                 c->path, what, (unsigned long long)n, c->off);
        return -1;
    }
    *s = (const char *)c->p + c->off;
    *len = (size_t)n;
    c->off += (size_t)n;
    return 0;
}

static size_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

static const char *vtype_name(uint32_t t) {
    static const char *n[GGUF_NTYPES] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                         "bool", "string", "array", "uint64", "int64", "float64"};
    return t < GGUF_NTYPES ? n[t] : "unknown";
}

/* Skips one value of type t (validating it); `key` names it in errors. */
static int skip_value(Cur *c, uint32_t t, int depth, const char *key) {
    if (t >= GGUF_NTYPES) {
        snprintf(c->err, QB_ERRLEN, "%.200s: key '%.100s': unknown value type %u", c->path, key, t);
        return -1;
    }
    if (t == GGUF_STRING) {
        const char *s;
        size_t n;
        return rd_str(c, &s, &n, key);
    }
    if (t != GGUF_ARRAY) return need(c, scalar_size(t), key) ? -1 : (c->off += scalar_size(t), 0);
    if (depth >= MAX_ARRAY_DEPTH) {
        snprintf(c->err, QB_ERRLEN, "%.200s: key '%.100s': arrays nested deeper than %d", c->path, key, MAX_ARRAY_DEPTH);
        return -1;
    }
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, key) || rd_u64(c, &n, key)) return -1;
    if (et >= GGUF_NTYPES) {
        snprintf(c->err, QB_ERRLEN, "%.200s: key '%.100s': array of unknown type %u", c->path, key, et);
        return -1;
    }
    size_t es = scalar_size(et);
    if (es) {
        if (n > (c->size - c->off) / es) {
            snprintf(c->err, QB_ERRLEN, "%.200s: key '%.100s': array of %llu %s runs past the end of the file", c->path,
                     key, (unsigned long long)n, vtype_name(et));
            return -1;
        }
        c->off += (size_t)n * es;
        return 0;
    }
    /* strings or arrays: each element takes at least 8 bytes, which bounds the loop by the file size */
    if (n > (c->size - c->off) / 8) {
        snprintf(c->err, QB_ERRLEN, "%.200s: key '%.100s': array of %llu %s cannot fit in the file", c->path, key,
                 (unsigned long long)n, vtype_name(et));
        return -1;
    }
    for (uint64_t i = 0; i < n; i++)
        if (skip_value(c, et, depth + 1, key)) return -1;
    return 0;
}

/* key text → NUL-terminated copy for messages */
static const char *show(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = n < cap - 1 ? n : cap - 1;
    for (size_t i = 0; i < k; i++) buf[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    buf[k] = 0;
    return buf;
}

static int name_eq(const char *s, size_t n, const char *z) { return strlen(z) == n && memcmp(s, z, n) == 0; }

const GgufKV *gguf_find_kv(const GgufFile *f, const char *key) {
    for (size_t i = 0; i < f->n_kv; i++)
        if (name_eq(f->kv[i].key, f->kv[i].key_len, key)) return &f->kv[i];
    return NULL;
}

const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name) {
    for (size_t i = 0; i < f->n_t; i++)
        if (name_eq(f->t[i].name, f->t[i].name_len, name)) return &f->t[i];
    return NULL;
}

/* ---- duplicate names and overlaps, by sorting (a hostile file may hold millions of entries) ---- */

typedef struct { const char *s; size_t n; } NameRef;
typedef struct { const uint8_t *p; size_t i; } Span; /* tensor i starts at p */

static int by_name(const void *a, const void *b) {
    const NameRef *x = a, *y = b;
    int r = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

static int by_start(const void *a, const void *b) {
    const Span *x = a, *y = b;
    return (x->p > y->p) - (x->p < y->p);
}

/* names[n] (sorted in place): -1 naming the first name that appears twice. */
static int find_duplicate(Cur *c, NameRef *names, size_t n, const char *what) {
    qsort(names, n, sizeof *names, by_name);
    for (size_t k = 1; k < n; k++)
        if (by_name(&names[k - 1], &names[k]) == 0) {
            char buf[128];
            snprintf(c->err, QB_ERRLEN, "%.200s: %s '%s' appears twice", c->path, what,
                     show(names[k].s, names[k].n, buf, sizeof buf));
            return -1;
        }
    return 0;
}

static int parse_kvs(Cur *c, GgufFile *f, uint64_t n_kv) {
    /* each key/value takes at least 8 + 4 bytes */
    if (n_kv > (c->size - c->off) / 12) {
        snprintf(c->err, QB_ERRLEN, "%.200s: %llu metadata keys cannot fit in a file of %zu bytes", c->path,
                 (unsigned long long)n_kv, c->size);
        return -1;
    }
    f->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *f->kv);
    if (!f->kv) { snprintf(c->err, QB_ERRLEN, "%.200s: out of memory", c->path); return -1; }
    char kb[128];
    for (uint64_t i = 0; i < n_kv; i++) {
        GgufKV *kv = &f->kv[i];
        char what[64];
        snprintf(what, sizeof what, "metadata key %llu", (unsigned long long)i);
        if (rd_str(c, &kv->key, &kv->key_len, what)) return -1;
        if (kv->key_len == 0 || kv->key_len > MAX_NAME) {
            snprintf(c->err, QB_ERRLEN, "%.200s: metadata key %llu has length %zu", c->path, (unsigned long long)i,
                     kv->key_len);
            return -1;
        }
        show(kv->key, kv->key_len, kb, sizeof kb);
        if (rd_u32(c, &kv->type, kb)) return -1;
        size_t start = c->off;
        if (kv->type == GGUF_ARRAY) {
            if (rd_u32(c, &kv->arr_type, kb) || rd_u64(c, &kv->arr_n, kb)) return -1;
            c->off = start;
        }
        if (skip_value(c, kv->type, 0, kb)) return -1;
        kv->val = c->p + start + (kv->type == GGUF_ARRAY ? 12 : 0);
        kv->val_len = c->off - start - (kv->type == GGUF_ARRAY ? 12 : 0);
        f->n_kv = (size_t)i + 1;
    }
    NameRef *names = malloc((f->n_kv ? f->n_kv : 1) * sizeof *names);
    if (!names) { snprintf(c->err, QB_ERRLEN, "%.200s: out of memory", c->path); return -1; }
    for (size_t i = 0; i < f->n_kv; i++) names[i] = (NameRef){f->kv[i].key, f->kv[i].key_len};
    int rc = find_duplicate(c, names, f->n_kv, "metadata key");
    free(names);
    return rc;
}

static int parse_tensors(Cur *c, GgufFile *f, uint64_t n_t) {
    /* each tensor info takes at least 8 + 4 + 4 + 8 bytes */
    if (n_t > (c->size - c->off) / 24) {
        snprintf(c->err, QB_ERRLEN, "%.200s: %llu tensors cannot fit in a file of %zu bytes", c->path,
                 (unsigned long long)n_t, c->size);
        return -1;
    }
    f->t = calloc(n_t ? (size_t)n_t : 1, sizeof *f->t);
    uint64_t *offs = calloc(n_t ? (size_t)n_t : 1, sizeof *offs);
    if (!f->t || !offs) { free(offs); snprintf(c->err, QB_ERRLEN, "%.200s: out of memory", c->path); return -1; }
    char nb[128];
    int rc = -1;
    for (uint64_t i = 0; i < n_t; i++) {
        GgufTensor *t = &f->t[i];
        char what[64];
        snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
        if (rd_str(c, &t->name, &t->name_len, what)) goto out;
        if (t->name_len == 0 || t->name_len > MAX_NAME) {
            snprintf(c->err, QB_ERRLEN, "%.200s: tensor %llu has a name of length %zu", c->path, (unsigned long long)i,
                     t->name_len);
            goto out;
        }
        show(t->name, t->name_len, nb, sizeof nb);
        uint32_t nd;
        if (rd_u32(c, &nd, nb)) goto out;
        if (nd < 1 || nd > 4) {
            snprintf(c->err, QB_ERRLEN, "%.200s: tensor '%s' has %u dimensions (1 to 4 allowed)", c->path, nb, nd);
            goto out;
        }
        t->n_dims = (int)nd;
        t->numel = 1;
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            if (rd_u64(c, &t->ne[d], nb)) goto out;
            /* no real tensor has a dimension of 2^40; bounding each keeps the product from overflowing */
            if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 40) || t->numel > ((uint64_t)1 << 62) / t->ne[d]) {
                snprintf(c->err, QB_ERRLEN, "%.200s: tensor '%s' has dimension %u = %llu", c->path, nb, d,
                         (unsigned long long)t->ne[d]);
                goto out;
            }
            t->numel *= t->ne[d];
        }
        if (rd_u32(c, &t->type, nb) || rd_u64(c, &offs[i], nb)) goto out;
        if (offs[i] % f->alignment != 0) {
            snprintf(c->err, QB_ERRLEN, "%.200s: tensor '%s' offset %llu is not a multiple of the alignment %zu",
                     c->path, nb, (unsigned long long)offs[i], f->alignment);
            goto out;
        }
        f->n_t = (size_t)i + 1;
    }
    /* the data section starts at the next multiple of the alignment after the tensor infos */
    size_t pad = (f->alignment - c->off % f->alignment) % f->alignment;
    if (f->n_t == 0 && pad > c->size - c->off) pad = c->size - c->off; /* metadata only: padding optional */
    if (pad > c->size - c->off) {
        snprintf(c->err, QB_ERRLEN, "%.200s: file ends before the data section (%zu bytes of header)", c->path, c->off);
        goto out;
    }
    f->data_off = c->off + pad;
    size_t avail = c->size - f->data_off;
    for (size_t i = 0; i < f->n_t; i++) {
        GgufTensor *t = &f->t[i];
        show(t->name, t->name_len, nb, sizeof nb);
        int block, bytes;
        if (!gguf_type_info(t->type, &block, &bytes)) {
            /* an unsupported type is reported only when the tensor is used; its size is unknown, so it
             * cannot be checked, and the loader refuses it by name */
            t->nbytes = 0;
            t->data = NULL;
            continue;
        }
        if (t->ne[0] % (uint64_t)block != 0) {
            snprintf(c->err, QB_ERRLEN, "%.200s: tensor '%s' (%s) has rows of %llu elements, not a multiple of the "
                     "block size %d", c->path, nb, gguf_type_name(t->type), (unsigned long long)t->ne[0], block);
            goto out;
        }
        uint64_t nb64 = t->numel / (uint64_t)block * (uint64_t)bytes;
        if (offs[i] > avail || nb64 > avail - offs[i]) {
            snprintf(c->err, QB_ERRLEN, "%.200s: tensor '%s' (%llu bytes at data offset %llu) runs past the end of the "
                     "file (%zu data bytes)", c->path, nb, (unsigned long long)nb64, (unsigned long long)offs[i], avail);
            goto out;
        }
        t->nbytes = (size_t)nb64;
        t->data = c->p + f->data_off + offs[i];
    }
    /* no two tensors may share bytes: sorted by start, each must end before the next begins */
    Span *sp = malloc((f->n_t ? f->n_t : 1) * sizeof *sp);
    NameRef *names = malloc((f->n_t ? f->n_t : 1) * sizeof *names);
    if (!sp || !names) {
        free(sp);
        free(names);
        snprintf(c->err, QB_ERRLEN, "%.200s: out of memory", c->path);
        goto out;
    }
    size_t m = 0;
    for (size_t i = 0; i < f->n_t; i++) {
        if (f->t[i].nbytes) sp[m++] = (Span){f->t[i].data, i};
        names[i] = (NameRef){f->t[i].name, f->t[i].name_len};
    }
    qsort(sp, m, sizeof *sp, by_start);
    int bad = 0;
    for (size_t k = 1; k < m && !bad; k++) {
        const GgufTensor *a = &f->t[sp[k - 1].i], *b = &f->t[sp[k].i];
        if (a->data + a->nbytes > b->data) {
            char nb2[128];
            snprintf(c->err, QB_ERRLEN, "%.200s: tensors '%s' and '%s' overlap", c->path,
                     show(a->name, a->name_len, nb, sizeof nb), show(b->name, b->name_len, nb2, sizeof nb2));
            bad = 1;
        }
    }
    if (!bad) bad = find_duplicate(c, names, f->n_t, "tensor") != 0;
    free(sp);
    free(names);
    if (bad) goto out;
    rc = 0;
out:
    free(offs);
    return rc;
}

int gguf_parse(const uint8_t *buf, size_t size, const char *path, GgufFile *f, char err[QB_ERRLEN]) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->buf = buf;
    f->size = size;
    f->alignment = 32;
    Cur c = {buf, size, 0, f->path, err};
    uint32_t magic;
    uint64_t n_t, n_kv;
    if (size < 4 || memcmp(buf, "GGUF", 4) != 0) {
        snprintf(err, QB_ERRLEN, "%.200s: not a GGUF file (no 'GGUF' magic)", path);
        return -1;
    }
    if (rd_u32(&c, &magic, "magic") || rd_u32(&c, &f->version, "version")) return -1;
    if (f->version != 2 && f->version != 3) {
        snprintf(err, QB_ERRLEN, "%.200s: GGUF version %u is not supported (2 and 3 are)", path, f->version);
        return -1;
    }
    if (rd_u64(&c, &n_t, "tensor count") || rd_u64(&c, &n_kv, "metadata count")) return -1;
    if (parse_kvs(&c, f, n_kv)) goto fail;
    const GgufKV *al = gguf_find_kv(f, "general.alignment");
    if (al) {
        int64_t a;
        if (al->type != GGUF_U32 || gguf_get_int(f, "general.alignment", &a, err) != 1 || a < 1 || a > 65536 ||
            (a & (a - 1)) != 0) {
            snprintf(err, QB_ERRLEN, "%.200s: general.alignment must be a uint32 power of two up to 65536", path);
            goto fail;
        }
        f->alignment = (size_t)a;
    }
    if (parse_tensors(&c, f, n_t)) goto fail;
    return 0;
fail:
    free(f->kv);
    free(f->t);
    f->kv = NULL;
    f->t = NULL;
    f->n_kv = f->n_t = 0;
    return -1;
}

int gguf_open(const char *path, GgufFile *f, char err[QB_ERRLEN]) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { snprintf(err, QB_ERRLEN, "%.200s: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, QB_ERRLEN, "%.200s: not a regular file", path);
        return -1;
    }
    if (st.st_size == 0) {
        close(fd);
        snprintf(err, QB_ERRLEN, "%.200s: empty file", path);
        return -1;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) { snprintf(err, QB_ERRLEN, "%.200s: mmap: %s", path, strerror(errno)); return -1; }
    if (gguf_parse(p, (size_t)st.st_size, path, f, err)) {
        munmap(p, (size_t)st.st_size);
        return -1;
    }
    f->own_map = p;
    return 0;
}

void gguf_close(GgufFile *f) {
    if (f->own_map) munmap(f->own_map, f->size);
    free(f->kv);
    free(f->t);
    memset(f, 0, sizeof *f);
}

static int64_t scalar_int(uint32_t t, const uint8_t *p, int *ok) {
    *ok = 1;
    switch (t) {
    case GGUF_U8: return p[0];
    case GGUF_I8: return (int8_t)p[0];
    case GGUF_BOOL: return p[0] != 0;
    case GGUF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case GGUF_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX) { *ok = 0; return 0; }
        return (int64_t)v;
    }
    default: *ok = 0; return 0;
    }
}

int gguf_get_int(const GgufFile *f, const char *key, int64_t *out, char err[QB_ERRLEN]) {
    const GgufKV *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    int ok;
    *out = scalar_int(kv->type, kv->val, &ok);
    if (!ok || kv->type == GGUF_BOOL) {
        snprintf(err, QB_ERRLEN, "%.200s: key '%.100s' is a %s, an integer is needed", f->path, key, vtype_name(kv->type));
        return -1;
    }
    return 1;
}

int gguf_get_float(const GgufFile *f, const char *key, double *out, char err[QB_ERRLEN]) {
    const GgufKV *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    if (kv->type == GGUF_F32) { float v; memcpy(&v, kv->val, 4); *out = v; return 1; }
    if (kv->type == GGUF_F64) { memcpy(out, kv->val, 8); return 1; }
    snprintf(err, QB_ERRLEN, "%.200s: key '%.100s' is a %s, a float is needed", f->path, key, vtype_name(kv->type));
    return -1;
}

int gguf_get_str(const GgufFile *f, const char *key, const char **s, size_t *len, char err[QB_ERRLEN]) {
    const GgufKV *kv = gguf_find_kv(f, key);
    if (!kv) return 0;
    if (kv->type != GGUF_STRING) {
        snprintf(err, QB_ERRLEN, "%.200s: key '%.100s' is a %s, a string is needed", f->path, key, vtype_name(kv->type));
        return -1;
    }
    uint64_t n;
    memcpy(&n, kv->val, 8);
    *s = (const char *)kv->val + 8;
    *len = (size_t)n;
    return 1;
}

void gguf_array_strings(const GgufKV *kv, const char **s, size_t *len) {
    const uint8_t *p = kv->val; /* validated by gguf_parse: every string lies inside val_len */
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        uint64_t n;
        memcpy(&n, p, 8);
        s[i] = (const char *)p + 8;
        len[i] = (size_t)n;
        p += 8 + n;
    }
}

double gguf_array_num(const GgufKV *kv, uint64_t i) {
    size_t es = scalar_size(kv->arr_type);
    if (!es || i >= kv->arr_n) return 0;
    const uint8_t *p = kv->val + i * es;
    if (kv->arr_type == GGUF_F32) { float v; memcpy(&v, p, 4); return v; }
    if (kv->arr_type == GGUF_F64) { double v; memcpy(&v, p, 8); return v; }
    if (kv->arr_type == GGUF_U64) { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    int ok;
    return (double)scalar_int(kv->arr_type, p, &ok);
}
