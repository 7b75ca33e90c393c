/* model.c — a Model's lifetime and bookkeeping: format dispatch for model_load, the storage that owns
 * mappings and buffers, config sanity checks, linear layer names/shapes and parameter counts. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model_internal.h"

static const char *KIND_NAMES[LIN_COUNT] = {"attn.q", "attn.k", "attn.v", "attn.o",
                                            "mlp.gate", "mlp.up", "mlp.down"};

const char *linear_kind_name(LinearKind k) {
    return (k >= 0 && k < LIN_COUNT) ? KIND_NAMES[k] : "?";
}

int mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > (size_t)-1 / a) return -1;
    *out = a * b;
    return 0;
}

Model *model_alloc(void) {
    Model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->storage = calloc(1, sizeof *m->storage);
    if (!m->storage) { free(m); return NULL; }
    m->cfg.bos_id = m->cfg.eos_id = -1;
    return m;
}

float *model_own_floats(Model *m, size_t n) {
    ModelStorage *s = m->storage;
    if (s->n_bufs == INT_MAX || qb_grow((void **)&s->bufs, &s->cap_bufs, (size_t)s->n_bufs + 1, sizeof *s->bufs)) return NULL;
    size_t bytes;
    if (mul_size(n ? n : 1, sizeof(float), &bytes)) return NULL;
    float *p = malloc(bytes);
    if (p) s->bufs[s->n_bufs++] = p;
    return p;
}

int model_map_file(Model *m, const char *path, void **addr, size_t *len, char err[QB_ERRLEN]) {
    ModelStorage *s = m->storage;
    *addr = NULL; *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) { snprintf(err, QB_ERRLEN, "%s: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, QB_ERRLEN, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) { close(fd); return 0; }
    if (s->n_maps == INT_MAX || qb_grow((void **)&s->maps, &s->cap_maps, (size_t)s->n_maps + 1, sizeof *s->maps)) {
        close(fd);
        snprintf(err, QB_ERRLEN, "%s: out of memory", path);
        return -1;
    }
    /* MAP_PRIVATE + PROT_WRITE: quantizers may overwrite weights in place; the file never changes. */
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) { snprintf(err, QB_ERRLEN, "%s: mmap: %s", path, strerror(errno)); return -1; }
    s->maps[s->n_maps].addr = p;
    s->maps[s->n_maps].len = (size_t)st.st_size;
    s->n_maps++;
    *addr = p; *len = (size_t)st.st_size;
    return 0;
}

void model_free(Model *m) {
    if (!m) return;
    ModelStorage *s = m->storage;
    if (s) {
        for (int i = 0; i < s->n_maps; i++) munmap(s->maps[i].addr, s->maps[i].len);
        for (int i = 0; i < s->n_bufs; i++) free(s->bufs[i]);
        free(s->maps);
        free(s->bufs);
        free(s);
    }
    free(m->blocks);
    free(m);
}

const char *rope_scaling_name(RopeScalingType t) {
    switch (t) {
    case ROPE_SCALING_NONE: return "none";
    case ROPE_SCALING_LINEAR: return "linear";
    case ROPE_SCALING_LLAMA3: return "llama3";
    }
    return "?";
}

/* The shortest decimal that reads back as v, with a decimal point: Python's json then gives a float,
 * which transformers' rope validation wants ("8.0", not "8"). */
static const char *float_literal(float v, char out[32]) {
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(out, 32, "%.*g", digits, (double)v);
        if (strtof(out, NULL) == v) break;
    }
    if (!strpbrk(out, ".eEnN")) strcat(out, ".0");
    return out;
}

int model_rope_scaling_json(const RopeScaling *s, char *buf, size_t n) {
    char f[32], lo[32], hi[32];
    int k;
    switch (s->type) {
    case ROPE_SCALING_NONE: k = snprintf(buf, n, "null"); break;
    case ROPE_SCALING_LINEAR:
        k = snprintf(buf, n, "{\"rope_type\": \"linear\", \"factor\": %s}", float_literal(s->factor, f));
        break;
    case ROPE_SCALING_LLAMA3:
        k = snprintf(buf, n, "{\"rope_type\": \"llama3\", \"factor\": %s, \"low_freq_factor\": %s, "
                     "\"high_freq_factor\": %s, \"original_max_position_embeddings\": %d}", float_literal(s->factor, f),
                     float_literal(s->low_freq_factor, lo), float_literal(s->high_freq_factor, hi),
                     s->original_max_position_embeddings);
        break;
    default: return -1;
    }
    return k >= 0 && (size_t)k < n ? 0 : -1;
}

static int positive(float v) { return v > 0 && isfinite(v); }

/* The values the RoPE table is built from must make sense whatever source they came from (config.json
 * checks them with key names first; a quantized checkpoint's JSON only here). */
static int check_rope_scaling(const RopeScaling *s, const char *what, char err[QB_ERRLEN]) {
    if (s->type == ROPE_SCALING_NONE) return 0;
    if (s->type != ROPE_SCALING_LINEAR && s->type != ROPE_SCALING_LLAMA3) {
        snprintf(err, QB_ERRLEN, "%s: rope_scaling type %d is unknown", what, (int)s->type);
        return -1;
    }
    if (!positive(s->factor)) {
        snprintf(err, QB_ERRLEN, "%s: rope_scaling.factor = %g must be a positive finite number", what, (double)s->factor);
        return -1;
    }
    if (s->type == ROPE_SCALING_LINEAR) return 0;
    if (!positive(s->low_freq_factor) || !positive(s->high_freq_factor) || !(s->low_freq_factor < s->high_freq_factor)) {
        snprintf(err, QB_ERRLEN, "%s: rope_scaling.low_freq_factor = %g and high_freq_factor = %g must be positive with "
                 "low < high", what, (double)s->low_freq_factor, (double)s->high_freq_factor);
        return -1;
    }
    if (s->original_max_position_embeddings < 1) {
        snprintf(err, QB_ERRLEN, "%s: rope_scaling.original_max_position_embeddings = %d must be positive", what,
                 s->original_max_position_embeddings);
        return -1;
    }
    return 0;
}

int model_check_config(const ModelConfig *c, const char *what, char err[QB_ERRLEN]) {
    /* Generous upper bounds: big enough for any real Llama, small enough that products of two of
     * them cannot overflow and a lying header cannot make us allocate terabytes. */
    struct { const char *name; long v, lo, hi; } f[] = {
        {"dim", c->dim, 1, 1 << 16},           {"hidden_dim", c->hidden_dim, 1, 1 << 18},
        {"n_layers", c->n_layers, 1, 1024},    {"n_heads", c->n_heads, 1, 1024},
        {"n_kv_heads", c->n_kv_heads, 1, 1024}, {"head_dim", c->head_dim, 2, 1 << 12},
        {"vocab_size", c->vocab_size, 1, 1 << 22}, {"seq_len", c->seq_len, 1, 1 << 22},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi) {
            snprintf(err, QB_ERRLEN, "%s: %s = %ld is out of range [%ld, %ld]", what, f[i].name, f[i].v,
                     f[i].lo, f[i].hi);
            return -1;
        }
    if (c->n_heads % c->n_kv_heads != 0) {
        snprintf(err, QB_ERRLEN, "%s: n_heads %d is not a multiple of n_kv_heads %d", what, c->n_heads,
                 c->n_kv_heads);
        return -1;
    }
    if (c->family != ARCH_LLAMA) {
        if (arch_check_config(c, what, err)) return -1;
    } else if (c->head_dim % 2 != 0) {
        snprintf(err, QB_ERRLEN, "%s: head_dim %d is odd (RoPE needs pairs)", what, c->head_dim);
        return -1;
    }
    if ((long)c->n_heads * c->head_dim > (1 << 18)) {
        snprintf(err, QB_ERRLEN, "%s: n_heads * head_dim = %ld is too large", what,
                 (long)c->n_heads * c->head_dim);
        return -1;
    }
    if (!(c->rope_theta > 0) || !(c->norm_eps > 0) || c->norm_eps > 1) {
        snprintf(err, QB_ERRLEN, "%s: rope_theta %g / norm_eps %g must be positive", what,
                 (double)c->rope_theta, (double)c->norm_eps);
        return -1;
    }
    return check_rope_scaling(&c->rope_scaling, what, err);
}

void model_linear_shape(const ModelConfig *c, LinearKind k, int *rows, int *cols) {
    int q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    if (c->family != ARCH_LLAMA && arch_linear_shape(c, k, rows, cols)) return;
    switch (k) {
    case LIN_Q: *rows = q; *cols = c->dim; break;
    case LIN_K: case LIN_V: *rows = kv; *cols = c->dim; break;
    case LIN_O: *rows = c->dim; *cols = q; break;
    case LIN_GATE: case LIN_UP: *rows = c->hidden_dim; *cols = c->dim; break;
    default: *rows = c->dim; *cols = c->hidden_dim; break;
    }
}

size_t model_linear_params(const Model *m) {
    size_t n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++)
            n += (size_t)m->blocks[l].lin[k].rows * (size_t)m->blocks[l].lin[k].cols;
    return n;
}

size_t model_total_params(const Model *m) {
    const ModelConfig *c = &m->cfg;
    size_t n = model_linear_params(m);
    if (c->family != ARCH_LLAMA) return n + model_float_params(m);
    n += (size_t)c->vocab_size * c->dim * (c->tied_embeddings ? 1 : 2);
    n += (size_t)c->n_layers * 2 * c->dim + c->dim; /* norms */
    if (c->qkv_bias) n += (size_t)c->n_layers * (size_t)(c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
    return n;
}

/* A directory, config.json, a .safetensors file or an index → HF; anything else → llama2.c .bin. */
Model *model_load(const char *path, char err[QB_ERRLEN]) {
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        snprintf(err, QB_ERRLEN, "%s: %s", path ? path : "(null)", path ? strerror(errno) : "no path");
        return NULL;
    }
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) return model_load_gguf(path, err);
    const char *hf_suffix[] = {".safetensors", ".json"};
    int hf = S_ISDIR(st.st_mode);
    for (int i = 0; i < 2 && !hf; i++) {
        size_t k = strlen(hf_suffix[i]);
        hf = n >= k && strcmp(path + n - k, hf_suffix[i]) == 0;
    }
    if (!hf && S_ISREG(st.st_mode)) { /* a PyTorch zip (pytorch_model.bin), not a llama2.c .bin */
        FILE *f = fopen(path, "rb");
        unsigned char magic[4] = {0};
        if (f) {
            hf = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "PK\x03\x04", 4);
            fclose(f);
        }
    }
    return hf ? model_load_hf(path, err) : model_load_llama2c(path, err);
}
