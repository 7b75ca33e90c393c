/* pickle.c — PyTorch checkpoints (`pytorch_model.bin`, torch.save's zip format) read without running
 * anything: a zip reader (stored entries only, Zip64 included, every offset checked against the file)
 * and a restricted unpickler that understands only what a state_dict of tensors needs.
 *
 * The unpickler is an interpreter of pickle opcodes over a small value model (None, bool, int, float,
 * string, tuple, list, dict, and three things a state_dict is built from: an allowed global, a storage
 * reference, a tensor). Allowed globals: torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter,
 * collections.OrderedDict and the torch.*Storage types. REDUCE may only call those; BINPERSID may only
 * name a storage ('storage', type, key, location, numel); BUILD on a dict (OrderedDict's _metadata) is
 * ignored. Any other global, opcode or call is an error naming it and the byte offset: nothing is ever
 * imported or executed. Bounds: every length is checked against the bytes left, the stack, the memo
 * and the values made are capped, and tensors must be contiguous views inside their storage.
 * The result is an StFile whose tensors point into the private mapping of the zip, so the HF loader
 * reads .bin and .safetensors the same way. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "model/safetensors.h"

/* ---- zip ---------------------------------------------------------------------------------------- */

typedef struct { char *name; const uint8_t *data; uint64_t size; } ZipEntry;
typedef struct { ZipEntry *e; int n; } Zip;

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

static void zip_free(Zip *z) {
    for (int i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    z->e = NULL;
    z->n = 0;
}

#define ZFAIL(...) do { snprintf(err, QB_ERRLEN, __VA_ARGS__); zip_free(z); return -1; } while (0)

static int zip_open(const char *path, const uint8_t *b, size_t len, Zip *z, char err[QB_ERRLEN]) {
    memset(z, 0, sizeof *z);
    if (len < 22) ZFAIL("%.300s: not a zip archive (too short)", path);
    size_t eocd = (size_t)-1;
    for (size_t i = len - 22 + 1; i-- > 0 && len - i <= 22 + 65535;)
        if (u32(b + i) == 0x06054b50u) { eocd = i; break; }
    if (eocd == (size_t)-1) ZFAIL("%.300s: not a zip archive (no end-of-central-directory record)", path);
    uint64_t count = u16(b + eocd + 10), cd_size = u32(b + eocd + 12), cd_off = u32(b + eocd + 16);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) { /* Zip64 */
        if (eocd < 20 || u32(b + eocd - 20) != 0x07064b50u) ZFAIL("%.300s: zip: Zip64 locator missing", path);
        uint64_t z64 = u64(b + eocd - 20 + 8);
        if (z64 > len - 56 || u32(b + z64) != 0x06064b50u) ZFAIL("%.300s: zip: bad Zip64 end record", path);
        count = u64(b + z64 + 32);
        cd_size = u64(b + z64 + 40);
        cd_off = u64(b + z64 + 48);
    }
    if (cd_off > len || cd_size > len - cd_off || count > cd_size / 46 + 1 || count > (1u << 20))
        ZFAIL("%.300s: zip: central directory (%llu entries at %llu) lies outside the file", path,
              (unsigned long long)count, (unsigned long long)cd_off);
    z->e = calloc(count ? count : 1, sizeof *z->e);
    if (!z->e) ZFAIL("%.300s: out of memory", path);
    size_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || u32(b + p) != 0x02014b50u) ZFAIL("%.300s: zip: bad central directory entry %llu", path, (unsigned long long)i);
        uint16_t method = u16(b + p + 10), nlen = u16(b + p + 28), xlen = u16(b + p + 30), clen = u16(b + p + 32);
        uint64_t csize = u32(b + p + 20), usize = u32(b + p + 24), loff = u32(b + p + 42);
        if (end - p - 46 < (size_t)nlen + xlen + clen) ZFAIL("%.300s: zip: entry %llu overruns the directory", path, (unsigned long long)i);
        const uint8_t *name = b + p + 46, *x = name + nlen, *xe = x + xlen;
        while (xe - x >= 4) { /* Zip64 extra field: the 32-bit fields that are all ones, in order */
            uint16_t id = u16(x), sz = u16(x + 2);
            if (xe - x - 4 < sz) break;
            if (id == 1) {
                const uint8_t *q = x + 4, *qe = q + sz;
                if (usize == 0xFFFFFFFFu && qe - q >= 8) { usize = u64(q); q += 8; }
                if (csize == 0xFFFFFFFFu && qe - q >= 8) { csize = u64(q); q += 8; }
                if (loff == 0xFFFFFFFFu && qe - q >= 8) { loff = u64(q); q += 8; }
            }
            x += 4 + sz;
        }
        if (method != 0 || csize != usize)
            ZFAIL("%.300s: zip: entry '%.*s' is compressed (method %u); torch.save stores entries uncompressed", path,
                  nlen > 100 ? 100 : nlen, (const char *)name, method);
        if (loff > len || len - loff < 30 || u32(b + loff) != 0x04034b50u)
            ZFAIL("%.300s: zip: entry '%.*s' has no local header", path, nlen > 100 ? 100 : nlen, (const char *)name);
        uint64_t data = loff + 30 + (uint64_t)u16(b + loff + 26) + u16(b + loff + 28);
        if (data > len || usize > len - data)
            ZFAIL("%.300s: zip: entry '%.*s' (%llu bytes) lies outside the file", path, nlen > 100 ? 100 : nlen,
                  (const char *)name, (unsigned long long)usize);
        ZipEntry *e = &z->e[z->n];
        if (!(e->name = malloc((size_t)nlen + 1))) ZFAIL("%.300s: out of memory", path);
        memcpy(e->name, name, nlen);
        e->name[nlen] = '\0';
        e->data = b + data;
        e->size = usize;
        z->n++;
        p += 46 + (size_t)nlen + xlen + clen;
    }
    return 0;
}

/* the entry whose name is <dir>/<rest> for the archive's one top directory */
static const ZipEntry *zip_find(const Zip *z, const char *dir, size_t dlen, const char *rest) {
    for (int i = 0; i < z->n; i++)
        if (!strncmp(z->e[i].name, dir, dlen) && z->e[i].name[dlen] == '/' && !strcmp(z->e[i].name + dlen + 1, rest))
            return &z->e[i];
    return NULL;
}

/* ---- the restricted unpickler ------------------------------------------------------------------- */

typedef enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR, V_MARK } VType;
typedef enum { G_REBUILD_V2, G_REBUILD_PARAM, G_ODICT, G_STORAGE } GKind;

typedef struct Val {
    VType t;
    int64_t i;       /* int, bool; global: GKind; storage: numel */
    char *s;         /* str (NUL-terminated copy); storage: key */
    size_t slen;
    struct Val **a;  /* tuple/list items; dict: key, value pairs */
    int n;
    size_t cap;
    StDtype dtype;   /* storage type (global, storage, tensor) */
    char dtype_name[16];
    struct Val *storage; /* tensor */
    int64_t offset, shape[8], stride[8];
    int ndim;
} Val;

enum { MAX_STACK = 1 << 16, MAX_MEMO = 1 << 22, MAX_VALS = 1 << 24 };

typedef struct {
    const char *path;
    const uint8_t *p, *end, *start;
    Val **stack;
    int sp;
    Val **memo;
    size_t n_memo;
    Val **all; /* every value made, for freeing */
    size_t n_all, cap_all;
    char *err;
} Unpickler;

static Val *mk(Unpickler *u, VType t) {
    if (u->n_all >= MAX_VALS || qb_grow((void **)&u->all, &u->cap_all, u->n_all + 1, sizeof *u->all)) return NULL;
    Val *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->t = t;
    u->all[u->n_all++] = v;
    return v;
}

static int add_item(Val *c, Val *x) {
    if (c->n >= 1 << 26 || qb_grow((void **)&c->a, &c->cap, (size_t)c->n + 1, sizeof *c->a)) return -1;
    c->a[c->n++] = x;
    return 0;
}

__attribute__((format(printf, 3, 4))) static Val *ufail(Unpickler *u, const uint8_t *at, const char *fmt, ...) {
    int k = snprintf(u->err, QB_ERRLEN, "%.200s: pickle at byte %ld: ", u->path, (long)(at - u->start));
    if (k > 0 && k < QB_ERRLEN) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(u->err + k, (size_t)(QB_ERRLEN - k), fmt, ap);
        va_end(ap);
    }
    return NULL;
}
#define UFAIL(...) return ufail(u, op_at, __VA_ARGS__)

static int push(Unpickler *u, Val *v) {
    if (!v || u->sp >= MAX_STACK) return -1;
    u->stack[u->sp++] = v;
    return 0;
}

static const struct { const char *mod, *name; GKind kind; StDtype dtype; } ALLOWED[] = {
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_V2, ST_OTHER},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, ST_OTHER},
    {"collections", "OrderedDict", G_ODICT, ST_OTHER},
    {"torch", "FloatStorage", G_STORAGE, ST_F32},     {"torch", "HalfStorage", G_STORAGE, ST_F16},
    {"torch", "BFloat16Storage", G_STORAGE, ST_BF16}, {"torch", "DoubleStorage", G_STORAGE, ST_OTHER},
    {"torch", "LongStorage", G_STORAGE, ST_OTHER},    {"torch", "IntStorage", G_STORAGE, ST_OTHER},
    {"torch", "ShortStorage", G_STORAGE, ST_OTHER},   {"torch", "CharStorage", G_STORAGE, ST_OTHER},
    {"torch", "ByteStorage", G_STORAGE, ST_OTHER},    {"torch", "BoolStorage", G_STORAGE, ST_OTHER},
};

static size_t elem_size(const Val *storage_type) {
    const char *n = storage_type->dtype_name;
    if (!strcmp(n, "F32") || !strcmp(n, "I32")) return 4;
    if (!strcmp(n, "F16") || !strcmp(n, "BF16") || !strcmp(n, "I16")) return 2;
    if (!strcmp(n, "F64") || !strcmp(n, "I64")) return 8;
    return 1;
}

static const char *dtype_name_of(const char *storage) {
    static const struct { const char *s, *d; } M[] = {{"FloatStorage", "F32"}, {"HalfStorage", "F16"},
        {"BFloat16Storage", "BF16"}, {"DoubleStorage", "F64"}, {"LongStorage", "I64"}, {"IntStorage", "I32"},
        {"ShortStorage", "I16"}, {"CharStorage", "I8"}, {"ByteStorage", "U8"}, {"BoolStorage", "BOOL"}};
    for (size_t i = 0; i < sizeof M / sizeof M[0]; i++)
        if (!strcmp(storage, M[i].s)) return M[i].d;
    return "?";
}

/* the items above the topmost MARK, popped (MARK included); NULL when there is no MARK */
static Val *pop_mark(Unpickler *u, int *from) {
    int k = u->sp;
    while (k > 0 && u->stack[k - 1]->t != V_MARK) k--;
    if (k == 0) return NULL;
    *from = k;
    return u->stack[k - 1];
}

static int64_t read_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    return (int64_t)v;
}

static int is_int(const Val *v) { return v->t == V_INT || v->t == V_BOOL; }

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
static Val *rebuild_tensor(Unpickler *u, const uint8_t *op_at, Val *args) {
    if (args->t != V_TUPLE || args->n < 4) UFAIL("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...)");
    Val *st = args->a[0], *off = args->a[1], *size = args->a[2], *stride = args->a[3];
    if (st->t != V_STORAGE || !is_int(off) || size->t != V_TUPLE || stride->t != V_TUPLE || size->n != stride->n ||
        size->n > 8)
        UFAIL("_rebuild_tensor_v2: arguments are not (storage, int, size tuple, stride tuple) of at most 8 dims");
    Val *t = mk(u, V_TENSOR);
    if (!t) UFAIL("out of memory");
    t->storage = st;
    t->offset = off->i;
    t->ndim = size->n;
    t->dtype = st->dtype;
    memcpy(t->dtype_name, st->dtype_name, sizeof t->dtype_name);
    for (int d = 0; d < size->n; d++) {
        if (!is_int(size->a[d]) || !is_int(stride->a[d]) || size->a[d]->i < 0 || size->a[d]->i > (1LL << 40))
            UFAIL("_rebuild_tensor_v2: size/stride entries must be non-negative integers");
        t->shape[d] = size->a[d]->i;
        t->stride[d] = stride->a[d]->i;
    }
    return t;
}

static Val *call(Unpickler *u, const uint8_t *op_at, Val *fn, Val *args) {
    if (fn->t != V_GLOBAL) UFAIL("REDUCE on something that is not an allowed global");
    switch ((GKind)fn->i) {
    case G_ODICT:
        if (args->t != V_TUPLE || args->n != 0) UFAIL("OrderedDict called with arguments");
        return mk(u, V_DICT);
    case G_REBUILD_V2: return rebuild_tensor(u, op_at, args);
    case G_REBUILD_PARAM:
        if (args->t != V_TUPLE || args->n < 1 || args->a[0]->t != V_TENSOR) UFAIL("_rebuild_parameter needs a tensor");
        return args->a[0];
    default: UFAIL("a storage type cannot be called");
    }
}

static Val *unpickle(Unpickler *u) {
    const uint8_t *op_at = u->p;
    Val *mark = mk(u, V_MARK);
    if (!mark) UFAIL("out of memory");
    while (u->p < u->end) {
        op_at = u->p;
        uint8_t op = *u->p++;
        size_t left = (size_t)(u->end - u->p);
        Val *v = NULL;
        int from;
#define NEED(k) do { if (left < (size_t)(k)) UFAIL("truncated (opcode 0x%02x needs %zu bytes, %zu left)", op, (size_t)(k), left); } while (0)
#define POP(x) do { if (u->sp < 1 || u->stack[u->sp - 1]->t == V_MARK) UFAIL("stack underflow (opcode 0x%02x)", op); x = u->stack[--u->sp]; } while (0)
#define PUSH(x) do { if (push(u, x)) UFAIL("stack overflow or out of memory"); } while (0)
        switch (op) {
        case 0x80: NEED(1); if (u->p[0] > 5) UFAIL("protocol %u", u->p[0]); u->p++; break; /* PROTO */
        case 0x95: NEED(8); u->p += 8; break; /* FRAME: a hint only */
        case '.': { /* STOP */
            Val *r;
            POP(r);
            return r;
        }
        case '(': PUSH(mark); break;
        case '}': PUSH(mk(u, V_DICT)); break;
        case ']': PUSH(mk(u, V_LIST)); break;
        case ')': PUSH(mk(u, V_TUPLE)); break;
        case 'N': PUSH(mk(u, V_NONE)); break;
        case 0x88: case 0x89: v = mk(u, V_BOOL); if (v) v->i = op == 0x88; PUSH(v); break;
        case 'K': NEED(1); v = mk(u, V_INT); if (v) v->i = u->p[0]; u->p += 1; PUSH(v); break;
        case 'M': NEED(2); v = mk(u, V_INT); if (v) v->i = u16(u->p); u->p += 2; PUSH(v); break;
        case 'J': NEED(4); v = mk(u, V_INT); if (v) v->i = read_le(u->p, 4); u->p += 4; PUSH(v); break;
        case 0x8a: { /* LONG1 */
            NEED(1);
            int n = u->p[0];
            if (n > 8) UFAIL("LONG1 of %d bytes does not fit 64 bits", n);
            NEED(1 + n);
            v = mk(u, V_INT);
            if (v) v->i = n ? read_le(u->p + 1, n) : 0;
            u->p += 1 + n;
            PUSH(v);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian double */
            NEED(8);
            uint64_t b = 0;
            for (int k = 0; k < 8; k++) b = b << 8 | u->p[k];
            v = mk(u, V_FLOAT);
            if (v) memcpy(&v->i, &b, 8);
            u->p += 8;
            PUSH(v);
            break;
        }
        case 'X': case 0x8c: case 'U': case 'T': case 'C': case 'B': { /* strings and bytes */
            int lb = op == 'X' || op == 'T' || op == 'B' ? 4 : 1;
            NEED(lb);
            uint64_t n = lb == 4 ? u32(u->p) : u->p[0];
            if (n > left - (size_t)lb) UFAIL("string of %llu bytes, only %zu left", (unsigned long long)n, left - (size_t)lb);
            v = mk(u, V_STR);
            if (!v || !(v->s = malloc((size_t)n + 1))) UFAIL("out of memory");
            memcpy(v->s, u->p + lb, (size_t)n);
            v->s[n] = '\0';
            v->slen = (size_t)n;
            u->p += lb + n;
            PUSH(v);
            break;
        }
        case 'c': { /* GLOBAL "module\nname\n" */
            const uint8_t *nl1 = memchr(u->p, '\n', left), *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(u->end - nl1 - 1)) : NULL;
            if (!nl2) UFAIL("truncated GLOBAL");
            int ml = (int)(nl1 - u->p), nlen = (int)(nl2 - nl1 - 1);
            for (size_t k = 0; k < sizeof ALLOWED / sizeof ALLOWED[0] && !v; k++)
                if ((int)strlen(ALLOWED[k].mod) == ml && !memcmp(u->p, ALLOWED[k].mod, (size_t)ml) &&
                    (int)strlen(ALLOWED[k].name) == nlen && !memcmp(nl1 + 1, ALLOWED[k].name, (size_t)nlen)) {
                    v = mk(u, V_GLOBAL);
                    if (!v) UFAIL("out of memory");
                    v->i = ALLOWED[k].kind;
                    v->dtype = ALLOWED[k].dtype;
                    snprintf(v->dtype_name, sizeof v->dtype_name, "%s", dtype_name_of(ALLOWED[k].name));
                }
            if (!v)
                UFAIL("global '%.*s.%.*s' is not allowed (a state_dict of tensors needs only torch._utils._rebuild_tensor_v2, "
                      "collections.OrderedDict and torch storage types)", ml > 80 ? 80 : ml, (const char *)u->p,
                      nlen > 80 ? 80 : nlen, (const char *)nl1 + 1);
            u->p = nl2 + 1;
            PUSH(v);
            break;
        }
        case 0x93: UFAIL("STACK_GLOBAL is not allowed (protocol 4 globals)");
        case 'q': case 'r': case 0x94: { /* BINPUT, LONG_BINPUT, MEMOIZE */
            size_t idx;
            if (op == 0x94) idx = u->n_memo;
            else {
                int lb = op == 'q' ? 1 : 4;
                NEED(lb);
                idx = lb == 1 ? u->p[0] : u32(u->p);
                u->p += lb;
            }
            if (u->sp < 1) UFAIL("PUT on an empty stack");
            if (idx >= MAX_MEMO) UFAIL("memo index %zu is too large", idx);
            if (idx >= u->n_memo) {
                size_t nn = idx + 1 > 2 * u->n_memo ? idx + 1 : 2 * u->n_memo;
                if (nn > MAX_MEMO) nn = MAX_MEMO;
                Val **nm = realloc(u->memo, nn * sizeof *nm);
                if (!nm) UFAIL("out of memory");
                memset(nm + u->n_memo, 0, (nn - u->n_memo) * sizeof *nm);
                u->memo = nm;
                u->n_memo = nn;
            }
            u->memo[idx] = u->stack[u->sp - 1];
            break;
        }
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            int lb = op == 'h' ? 1 : 4;
            NEED(lb);
            size_t idx = lb == 1 ? u->p[0] : u32(u->p);
            u->p += lb;
            if (idx >= u->n_memo || !u->memo[idx]) UFAIL("GET of memo entry %zu that was never set", idx);
            PUSH(u->memo[idx]);
            break;
        }
        case 't': case 'l': { /* TUPLE, LIST */
            if (!pop_mark(u, &from)) UFAIL("TUPLE/LIST without MARK");
            v = mk(u, op == 't' ? V_TUPLE : V_LIST);
            if (!v) UFAIL("out of memory");
            for (int k = from; k < u->sp; k++) if (add_item(v, u->stack[k])) UFAIL("out of memory");
            u->sp = from - 1;
            PUSH(v);
            break;
        }
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int n = op - 0x84;
            if (u->sp < n) UFAIL("stack underflow (TUPLE%d)", n);
            v = mk(u, V_TUPLE);
            if (!v) UFAIL("out of memory");
            for (int k = u->sp - n; k < u->sp; k++) {
                if (u->stack[k]->t == V_MARK) UFAIL("MARK inside TUPLE%d", n);
                if (add_item(v, u->stack[k])) UFAIL("out of memory");
            }
            u->sp -= n;
            PUSH(v);
            break;
        }
        case 'a': case 'e': { /* APPEND, APPENDS */
            Val *x = NULL;
            if (op == 'a') POP(x);
            else if (!pop_mark(u, &from)) UFAIL("APPENDS without MARK");
            int base = op == 'a' ? u->sp : from - 1;
            if (base < 1 || u->stack[base - 1]->t != V_LIST) UFAIL("APPEND to something that is not a list");
            Val *l = u->stack[base - 1];
            if (op == 'a') { if (add_item(l, x)) UFAIL("out of memory"); }
            else {
                for (int k = from; k < u->sp; k++) if (add_item(l, u->stack[k])) UFAIL("out of memory");
                u->sp = from - 1;
            }
            break;
        }
        case 's': case 'u': { /* SETITEM, SETITEMS */
            int base;
            if (op == 's') { base = u->sp - 2; if (base < 1) UFAIL("stack underflow (SETITEM)"); from = base; }
            else { if (!pop_mark(u, &from)) UFAIL("SETITEMS without MARK"); base = from - 1; if ((u->sp - from) % 2) UFAIL("SETITEMS with an odd count"); }
            if (base < 1 || u->stack[base - 1]->t != V_DICT) UFAIL("SETITEM on something that is not a dict");
            Val *d = u->stack[base - 1];
            for (int k = from; k < u->sp; k++) {
                if (u->stack[k]->t == V_MARK) UFAIL("MARK inside SETITEMS");
                if (add_item(d, u->stack[k])) UFAIL("out of memory");
            }
            u->sp = base;
            break;
        }
        case 'R': { /* REDUCE */
            Val *args, *fn;
            POP(args);
            POP(fn);
            v = call(u, op_at, fn, args);
            if (!v) return NULL;
            PUSH(v);
            break;
        }
        case 'b': { /* BUILD: only OrderedDict's attribute dict, ignored */
            Val *state;
            POP(state);
            if (u->sp < 1 || u->stack[u->sp - 1]->t != V_DICT || (state->t != V_DICT && state->t != V_NONE))
                UFAIL("BUILD is allowed only to set a dict's attributes");
            break;
        }
        case 'Q': { /* BINPERSID: ('storage', storage type, key, location, numel) */
            Val *pid;
            POP(pid);
            if (pid->t != V_TUPLE || pid->n != 5 || pid->a[0]->t != V_STR || strcmp(pid->a[0]->s, "storage") ||
                pid->a[1]->t != V_GLOBAL || pid->a[1]->i != G_STORAGE || pid->a[2]->t != V_STR ||
                pid->a[3]->t != V_STR || !is_int(pid->a[4]) || pid->a[4]->i < 0)
                UFAIL("persistent id is not ('storage', torch.<type>Storage, key, location, numel)");
            v = mk(u, V_STORAGE);
            if (!v) UFAIL("out of memory");
            v->s = NULL;
            v->i = pid->a[4]->i;
            v->dtype = pid->a[1]->dtype;
            memcpy(v->dtype_name, pid->a[1]->dtype_name, sizeof v->dtype_name);
            v->a = NULL;
            v->storage = pid->a[2]; /* the key string */
            PUSH(v);
            break;
        }
        case '0': { Val *x; POP(x); (void)x; break; } /* POP */
        case '2': if (u->sp < 1) UFAIL("DUP on an empty stack"); PUSH(u->stack[u->sp - 1]); break;
        default:
            UFAIL("opcode 0x%02x ('%c') is not allowed in a state_dict", op, op >= 32 && op < 127 ? op : '?');
        }
#undef NEED
#undef POP
#undef PUSH
    }
    UFAIL("truncated: no STOP opcode");
}

static void unpickler_free(Unpickler *u) {
    for (size_t i = 0; i < u->n_all; i++) {
        free(u->all[i]->s);
        free(u->all[i]->a);
        free(u->all[i]);
    }
    free(u->all);
    free(u->memo);
    free(u->stack);
}

/* ---- the state_dict as an StFile ------------------------------------------------------------------ */

int pt_open(Model *m, const char *path, StFile *f, char err[QB_ERRLEN]) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    void *addr;
    size_t len;
    if (model_map_file(m, path, &addr, &len, err)) return -1;
    f->map = addr;
    f->size = len;
    Zip z;
    if (zip_open(path, addr, len, &z, err)) return -1;
    const ZipEntry *pkl = NULL;
    for (int i = 0; i < z.n && !pkl; i++) {
        const char *s = strchr(z.e[i].name, '/');
        if (s && !strcmp(s + 1, "data.pkl")) pkl = &z.e[i];
    }
    if (!pkl) {
        snprintf(err, QB_ERRLEN, "%.300s: no <archive>/data.pkl (not a PyTorch zip checkpoint; the legacy tar/pickle "
                 "format is not supported)", path);
        zip_free(&z);
        return -1;
    }
    size_t dlen = (size_t)(strchr(pkl->name, '/') - pkl->name);
    Unpickler u = {.path = path, .p = pkl->data, .end = pkl->data + pkl->size, .start = pkl->data, .err = err};
    u.stack = malloc(MAX_STACK * sizeof *u.stack);
    int rc = -1;
    Val *root = u.stack ? unpickle(&u) : NULL;
    if (!u.stack) snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
    if (!root) goto out;
    if (root->t != V_DICT) {
        snprintf(err, QB_ERRLEN, "%.300s: the pickle is not a state_dict (a dict of tensors)", path);
        goto out;
    }
    f->t = calloc((size_t)root->n / 2 + 1, sizeof *f->t);
    if (!f->t) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); goto out; }
    for (int i = 0; i + 1 < root->n; i += 2) {
        Val *k = root->a[i], *t = root->a[i + 1];
        if (k->t != V_STR || t->t != V_TENSOR) {
            snprintf(err, QB_ERRLEN, "%.300s: state_dict entry %d is not a (name, tensor) pair", path, i / 2);
            goto out;
        }
        const Val *st = t->storage, *key = st->storage;
        const ZipEntry *data = NULL;
        char rest[160];
        if (key->slen < 100 && !strchr(key->s, '/')) {
            snprintf(rest, sizeof rest, "data/%s", key->s);
            data = zip_find(&z, pkl->name, dlen, rest);
        }
        size_t es = elem_size(st);
        if (!data || (uint64_t)st->i > data->size / es) {
            snprintf(err, QB_ERRLEN, "%.200s: tensor '%.120s': storage '%.60s' is missing or shorter than %lld elements",
                     path, k->s, key->s, (long long)st->i);
            goto out;
        }
        /* contiguous (row-major) view inside the storage */
        uint64_t numel = 1, want = 1;
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (t->shape[d] != 1 && t->stride[d] != (int64_t)want) {
                snprintf(err, QB_ERRLEN, "%.300s: tensor '%.120s' is not contiguous (stride %lld in dim %d)", path, k->s,
                         (long long)t->stride[d], d);
                goto out;
            }
            want *= (uint64_t)t->shape[d];
            numel *= (uint64_t)t->shape[d];
            if (numel > (1ULL << 40)) break;
        }
        if (t->offset < 0 || numel > (uint64_t)st->i || (uint64_t)t->offset > (uint64_t)st->i - numel) {
            snprintf(err, QB_ERRLEN, "%.300s: tensor '%.120s' (offset %lld, %llu elements) lies outside its storage of %lld",
                     path, k->s, (long long)t->offset, (unsigned long long)numel, (long long)st->i);
            goto out;
        }
        StTensor *o = &f->t[f->n];
        if (!(o->name = strdup(k->s))) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); goto out; }
        f->n++;
        o->dtype = t->dtype;
        snprintf(o->dtype_name, sizeof o->dtype_name, "%s", t->dtype_name);
        o->ndim = t->ndim;
        for (int d = 0; d < t->ndim; d++) o->shape[d] = t->shape[d];
        o->numel = (size_t)numel;
        o->data = data->data + (size_t)t->offset * es;
        o->nbytes = (size_t)numel * es;
    }
    rc = 0;
out:
    unpickler_free(&u);
    zip_free(&z);
    if (rc) st_close(f);
    return rc;
}
