/* checkpoint.c — qbench's own quantized checkpoint: packed codes + grid parameters of every quantized
 * layer and the float tensors, so a quantized model can be stored, checked and loaded again.
 *
 * File layout (all integers little-endian, version 1 or 2):
 *   bytes 0..127   header: magic "QBQCKPT\0" (8) | u32 version | u32 header size = 128 |
 *                  u64 payload bytes | 64 hex chars: SHA-256 of the payload | zeros
 *   payload        u64 json_len | JSON metadata (json_len bytes) | zero padding to a 64-byte file
 *                  offset | data section (tensors at the JSON's offsets, 64-byte aligned)
 * The JSON holds "format": "qbench-quantized", "version", "config" (ModelConfig), "options" (every
 * QuantOptions field + true_sequential + quantize_head), "source" (path, sha256 of the unquantized model),
 * "bits_per_weight", "packed_bytes", "tensors" {name: {dtype F32|I32|U32, shape, offset, bytes}} and
 * "layers" [{name, layer, kind, rows, cols, bits, n_groups, grid: "uniform"|"binary"}].
 * Version 2 is version 1 plus "config"."rope_scaling" {type: "linear"|"llama3", factor, low_freq_factor,
 * high_freq_factor, original_max_position_embeddings}; it is written only for models with RoPE scaling,
 * so a build that predates it refuses such a file instead of loading it without the scaling. A file
 * without the key has no scaling. "config" is model_config_json's object; its flags were 0/1 numbers in
 * files written before they became booleans, and both read.
 * Version 3 is written for the non-Llama families (OPT, BLOOM, GPT-2, GPT-NeoX): "config" adds "family",
 * "act", "post_norm", "parallel_residual", "rotary_dims", "proj_dim"; the float tensors are the ones
 * model_float_tensors lists (LayerNorm biases, every linear bias, learned positions, projections) and
 * the layers are the family's (model_block_linears), named by model_linear_name ("blk.L.attn.qkv").
 * Float tensors: tok_emb, classifier (untied only), final_norm, blk.L.attn_norm, blk.L.ffn_norm,
 * blk.L.attn.{q,k,v}.bias. Each quantized layer "blk.L.<kind>" stores:
 *   .codes  U32 [words]   its rows x cols codes (row-major) as pack_codes' little-endian bit stream
 *   .scales F32 [rows, n_groups] (uniform) or [rows, n_groups, bits] (binary: the alphas)
 *   .zeros  F32 [rows, n_groups] zero points (uniform) or offsets (binary)
 *   .g_idx  I32 [cols]    group of each column
 *   .levels F32 [rows, n_groups, 2^bits] (binary only): the real level of each sign-bit code
 * quantize_head: tok_emb / classifier are then stored as F32 tensors holding the
 * dequantized weights, with "options": {"quantize_head": true}. Their codes are not packed here: the
 * round trip is exact either way, and the size accounting (bits_per_weight, packed_bytes) already
 * counts them quantized in the pipeline report this file records.
 * Decoding: uniform w = scale·(code − zero) in float32, exactly GPTQ's fake-quantization; binary
 * w = levels[code]. The level table is stored because GPTQT's levels are s·(v − z) computed from the
 * integer-domain fit, which offset + Σ αᵢbᵢ reproduces only to rounding; with the table the loaded
 * weights are bit-identical to the quantizer's Q (the writer checks this for every weight).
 * Scales are stored as float32 so the round trip is exact; the bits-per-weight accounting
 * (quant_bits_per_weight) counts them at fp16, as a deployment format would store them.
 * Everything is written deterministically (no timestamps), so the same model, windows and options
 * give the same bytes. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model/model.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

#define CK_MAGIC "QBQCKPT"
#define CK_VERSION 3 /* the newest this build reads; 1 when the model has no RoPE scaling, 3 for non-Llama */
#define CK_HEADER 128
#define CK_ALIGN 64

static int is_binary_method(QuantMethod m) { return m == QM_GPTQT || m == QM_RTNT || m == QM_BCQ; }

/* ---- writing ---------------------------------------------------------------------------------- */

typedef struct {
    char name[96];
    const char *dtype;
    int ndim;
    long shape[3];
    const void *data;
    size_t bytes;
    size_t offset;
    void *owned; /* freed after writing */
} Piece;

typedef struct { Piece *p; int n; size_t cap; } Pieces;

static Piece *piece_add(Pieces *ps, const char *name, const char *dtype, const void *data, size_t bytes,
                        int ndim, long d0, long d1, long d2, void *owned) {
    if (qb_grow((void **)&ps->p, &ps->cap, (size_t)ps->n + 1, sizeof *ps->p)) { free(owned); return NULL; }
    Piece *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->dtype = dtype;
    p->ndim = ndim;
    p->shape[0] = d0; p->shape[1] = d1; p->shape[2] = d2;
    p->data = data;
    p->bytes = bytes;
    p->owned = owned;
    return p;
}

static void pieces_free(Pieces *ps) {
    for (int i = 0; i < ps->n; i++) free(ps->p[i].owned);
    free(ps->p);
}

static uint32_t file_version(const ModelConfig *c) {
    if (c->family != ARCH_LLAMA) return 3;
    return c->rope_scaling.type != ROPE_SCALING_NONE ? 2 : 1;
}

/* The options a checkpoint records; NULL when out of memory. */
static cJSON *options_json(const PipelineOptions *po) {
    const QuantOptions *o = &po->opt;
    static const char *OBJ[] = {"weight", "hdiag", "output"}, *VAR[] = {"merged", "twopass"},
                      *SOL[] = {"greedy", "refined", "alternating"};
    QbJson j = qb_json_object();
    qb_json_str(&j, "method", quant_method_name(o->method));
    qb_json_num(&j, "bits", o->bits);
    qb_json_num(&j, "group_size", o->group_size);
    qb_json_bool(&j, "sym", o->sym);
    qb_json_bool(&j, "act_order", o->act_order);
    qb_json_bool(&j, "static_groups", o->static_groups);
    qb_json_bool(&j, "fp16_scales", o->fp16_scales);
    qb_json_bool(&j, "mse", o->mse);
    qb_json_num(&j, "mse_norm", o->mse_norm);
    qb_json_num(&j, "mse_grid", o->mse_grid);
    qb_json_num(&j, "mse_maxshrink", o->mse_maxshrink);
    qb_json_num(&j, "percdamp", o->percdamp);
    qb_json_num(&j, "max_damp_retries", o->max_damp_retries);
    qb_json_num(&j, "blocksize", o->blocksize);
    qb_json_num(&j, "high_bits", o->high_bits);
    qb_json_num(&j, "reexplore_lo", o->reexplore_lo);
    qb_json_num(&j, "reexplore_hi", o->reexplore_hi);
    qb_json_num(&j, "reexplore_steps", o->reexplore_steps);
    qb_json_num(&j, "bcq_iters", o->bcq_iters);
    qb_json_str(&j, "objective", (unsigned)o->objective < 3 ? OBJ[o->objective] : "?");
    qb_json_str(&j, "variant", (unsigned)o->variant < 2 ? VAR[o->variant] : "?");
    qb_json_str(&j, "bcq_solver", (unsigned)o->bcq_solver < 3 ? SOL[o->bcq_solver] : "?");
    qb_json_num(&j, "bcq_rounds", o->bcq_rounds);
    qb_json_bool(&j, "true_sequential", po->true_sequential);
    qb_json_bool(&j, "quantize_head", po->quantize_head);
    return qb_json_finish(&j); /* NULL when out of memory */
}

/* Builds the stored form of one layer and checks that decoding it gives exactly the model's
 * weights (Linear.w, where quant_model wrote Q). */
static int add_layer_w(Pieces *ps, cJSON *layers, int l, const char *kname, const Linear *lin, const float *W,
                       const QuantResult *r, QuantMethod method, char err[QB_ERRLEN]) {
    char name[64], tn[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, kname);
    if (!r->codes || !r->scales || !r->zeros || !r->g_idx || r->rows != lin->rows || r->cols != lin->cols ||
        r->bits < 1 || r->bits > 8 || r->n_groups < 1 || r->n_groups > r->cols) {
        snprintf(err, QB_ERRLEN, "%.400s: quantization result is missing or does not match the layer", name);
        return -1;
    }
    const int rows = r->rows, cols = r->cols, ng = r->n_groups, bits = r->bits, binary = is_binary_method(method);
    const size_t rc = (size_t)rows * cols, nw = pack_words(rc, bits);
    for (int c = 0; c < cols; c++)
        if (r->g_idx[c] < 0 || r->g_idx[c] >= ng) {
            snprintf(err, QB_ERRLEN, "%.400s: g_idx[%d] = %d outside [0, %d)", name, c, r->g_idx[c], ng);
            return -1;
        }
    uint32_t *words = malloc((nw ? nw : 1) * sizeof *words);
    if (!words) goto oom;
    if (pack_codes(r->codes, rc, bits, words, err)) { free(words); return -1; }
    snprintf(tn, sizeof tn, "%s.codes", name);
    if (!piece_add(ps, tn, "U32", words, nw * 4, 1, (long)nw, 0, 0, words)) goto oom;
    const int na = binary ? bits : 1;
    snprintf(tn, sizeof tn, "%s.scales", name);
    if (!piece_add(ps, tn, "F32", r->scales, (size_t)rows * ng * na * 4, binary ? 3 : 2, rows, ng, na, NULL)) goto oom;
    snprintf(tn, sizeof tn, "%s.zeros", name);
    if (!piece_add(ps, tn, "F32", r->zeros, (size_t)rows * ng * 4, 2, rows, ng, 0, NULL)) goto oom;
    snprintf(tn, sizeof tn, "%s.g_idx", name);
    if (!piece_add(ps, tn, "I32", r->g_idx, (size_t)cols * 4, 1, cols, 0, 0, NULL)) goto oom;
    if (binary) {
        /* level table by code: the weights themselves say which real value each used code means;
         * an unused code gets offset + Σ αᵢ bᵢ */
        const int nlev = 1 << bits;
        size_t nt = (size_t)rows * ng * nlev;
        float *lv = malloc(nt * sizeof *lv);
        unsigned char *set = calloc(nt, 1);
        if (!lv || !set) { free(lv); free(set); goto oom; }
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < cols; c++) {
                size_t t = ((size_t)i * ng + r->g_idx[c]) * nlev + r->codes[(size_t)i * cols + c];
                float w = W[(size_t)i * cols + c];
                if (set[t] && memcmp(&lv[t], &w, sizeof w)) {
                    snprintf(err, QB_ERRLEN, "%.400s: row %d: one code decodes to two values (%g, %g)", name, i,
                             (double)lv[t], (double)w);
                    free(lv); free(set);
                    return -1;
                }
                lv[t] = w;
                set[t] = 1;
            }
        for (size_t t = 0; t < nt; t++)
            if (!set[t]) {
                size_t rg = t / nlev;
                int code = (int)(t % nlev);
                float v = r->zeros[rg];
                for (int b = 0; b < bits; b++) v += r->scales[rg * bits + b] * ((code >> b & 1) ? 1.0f : -1.0f);
                lv[t] = v;
            }
        free(set);
        snprintf(tn, sizeof tn, "%s.levels", name);
        if (!piece_add(ps, tn, "F32", lv, nt * 4, 3, rows, ng, nlev, lv)) goto oom;
    } else {
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < cols; c++) {
                size_t g = (size_t)i * ng + r->g_idx[c];
                float w = r->scales[g] * ((float)r->codes[(size_t)i * cols + c] - r->zeros[g]);
                float q = W[(size_t)i * cols + c];
                if (memcmp(&w, &q, sizeof w)) {
                    snprintf(err, QB_ERRLEN, "%.400s: [%d,%d]: scale·(code − zero) = %.9g but the model holds %.9g",
                             name, i, c, (double)w, (double)q);
                    return -1;
                }
            }
    }
    QbJson lj = qb_json_object();
    qb_json_str(&lj, "name", name);
    qb_json_num(&lj, "layer", l);
    qb_json_str(&lj, "kind", kname);
    qb_json_num(&lj, "rows", rows);
    qb_json_num(&lj, "cols", cols);
    qb_json_num(&lj, "bits", bits);
    qb_json_num(&lj, "n_groups", ng);
    qb_json_str(&lj, "grid", binary ? "binary" : "uniform");
    QbJson la = {layers, 1};
    qb_json_add(&la, NULL, qb_json_finish(&lj));
    if (!la.ok) goto oom;
    return 0;
oom:
    snprintf(err, QB_ERRLEN, "%.400s: out of memory", name);
    return -1;
}

/* add_layer_w on the layer's float weights (decoded through linear_rows_f32 when kept packed). */
static int add_layer(Pieces *ps, cJSON *layers, int l, const char *kname, const Linear *lin, const QuantResult *r,
                     QuantMethod method, char err[QB_ERRLEN]) {
    if (lin->w) return add_layer_w(ps, layers, l, kname, lin, lin->w, r, method, err);
    float *W = malloc((size_t)lin->rows * lin->cols * sizeof *W);
    if (!W) {
        snprintf(err, QB_ERRLEN, "blk.%d.%s: out of memory", l, kname);
        return -1;
    }
    linear_rows_f32(lin, 0, lin->rows, W);
    int rc = add_layer_w(ps, layers, l, kname, lin, W, r, method, err);
    free(W);
    return rc;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put_u64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get_u32(const unsigned char *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = v << 8 | p[i]; return v; }
static uint64_t get_u64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

/* Non-Llama families: the float tensors model_float_tensors lists, then per block its bias-less
 * quantized layers in model_block_linears order. Returns 1 on out of memory, -1 with err set on a bad
 * result, 0 when done. */
static int write_family_tensors(const Model *m, Pieces *ps, cJSON *layers, const PipelineReport *rep,
                                const PipelineOptions *po, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    err[0] = '\0';
    int n = model_float_tensors((Model *)m, NULL, 0);
    ModelTensorRef *t = n > 0 ? malloc((size_t)n * sizeof *t) : NULL;
    if (!t) return 1;
    model_float_tensors((Model *)m, t, n);
    for (int i = 0; i < n; i++) {
        size_t numel = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
        if (!piece_add(ps, t[i].name, "F32", *t[i].slot, numel * 4, t[i].cols ? 2 : 1, t[i].rows, t[i].cols, 0, NULL)) {
            free(t);
            return 1;
        }
    }
    free(t);
    LinearKind kinds[LIN_COUNT];
    const int nk = model_block_linears(c, kinds);
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < nk; i++)
            if (add_layer(ps, layers, l, model_linear_name(c, kinds[i]), &m->blocks[l].lin[kinds[i]],
                          &rep->results[l * nk + i], po->opt.method, err))
                return err[0] ? -1 : 1;
    return 0;
}

int quant_checkpoint_write(const Model *m, const PipelineReport *rep, const PipelineOptions *po,
                           const char *path, char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    LinearKind kinds[LIN_COUNT];
    const int nk = model_block_linears(c, kinds);
    if (!rep || !rep->results || rep->n_layers != c->n_layers * nk) {
        snprintf(err, QB_ERRLEN, "%.400s: no per-layer results to write (run quant_model with keep_results)", path);
        return -1;
    }
    Pieces ps = {0};
    cJSON *root = cJSON_CreateObject(), *layers = cJSON_CreateArray();
    char *json = NULL, tmp_path[1100];
    int fd = -1, rc = -1;
    tmp_path[0] = 0;
    char tn[96];
    size_t V = (size_t)c->vocab_size, D = (size_t)c->dim;
    if (!root || !layers) goto oom;
    if (c->family != ARCH_LLAMA) {
        if (write_family_tensors(m, &ps, layers, rep, po, err) == 1) goto oom;
        if (err[0]) goto done;
        goto write;
    }
    if (!piece_add(&ps, "tok_emb", "F32", m->tok_emb, V * D * 4, 2, (long)V, (long)D, 0, NULL)) goto oom;
    if (!c->tied_embeddings &&
        !piece_add(&ps, "classifier", "F32", m->classifier, V * D * 4, 2, (long)V, (long)D, 0, NULL)) goto oom;
    if (!piece_add(&ps, "final_norm", "F32", m->final_norm, D * 4, 1, (long)D, 0, 0, NULL)) goto oom;
    for (int l = 0; l < c->n_layers; l++) {
        const Block *b = &m->blocks[l];
        snprintf(tn, sizeof tn, "blk.%d.attn_norm", l);
        if (!piece_add(&ps, tn, "F32", b->attn_norm, D * 4, 1, (long)D, 0, 0, NULL)) goto oom;
        snprintf(tn, sizeof tn, "blk.%d.ffn_norm", l);
        if (!piece_add(&ps, tn, "F32", b->ffn_norm, D * 4, 1, (long)D, 0, 0, NULL)) goto oom;
        for (int k = 0; k < LIN_COUNT; k++) {
            const Linear *lin = &b->lin[k];
            if (lin->bias) {
                snprintf(tn, sizeof tn, "blk.%d.%s.bias", l, linear_kind_name((LinearKind)k));
                if (!piece_add(&ps, tn, "F32", lin->bias, (size_t)lin->rows * 4, 1, lin->rows, 0, 0, NULL)) goto oom;
            }
            if (add_layer(&ps, layers, l, linear_kind_name((LinearKind)k), lin, &rep->results[l * LIN_COUNT + k],
                          po->opt.method, err))
                goto done;
        }
    }
write:;
    /* offsets inside the data section, each 64-byte aligned */
    size_t off = 0;
    QbJson tj = qb_json_object();
    for (int i = 0; i < ps.n; i++) {
        Piece *p = &ps.p[i];
        p->offset = off;
        off += (p->bytes + CK_ALIGN - 1) / CK_ALIGN * CK_ALIGN;
        QbJson t = qb_json_object(), sh = qb_json_array();
        qb_json_str(&t, "dtype", p->dtype);
        for (int d = 0; d < p->ndim; d++) qb_json_num(&sh, NULL, (double)p->shape[d]);
        qb_json_add(&t, "shape", qb_json_finish(&sh));
        qb_json_num(&t, "offset", (double)p->offset);
        qb_json_num(&t, "bytes", (double)p->bytes);
        qb_json_add(&tj, p->name, qb_json_finish(&t));
    }
    const size_t data_bytes = off;
    QbJson rj = {root, root != NULL}, src = qb_json_object();
    root = NULL; /* rj owns it now */
    qb_json_str(&rj, "format", "qbench-quantized");
    qb_json_num(&rj, "version", file_version(c));
    qb_json_str(&src, "path", m->path);
    qb_json_str(&src, "sha256", m->sha256);
    qb_json_add(&rj, "source", qb_json_finish(&src));
    qb_json_add(&rj, "config", model_config_json(c));
    qb_json_add(&rj, "options", options_json(po));
    qb_json_num(&rj, "bits_per_weight", rep->bits_per_weight);
    qb_json_num(&rj, "packed_bytes", (double)rep->packed_bytes);
    qb_json_add(&rj, "tensors", qb_json_finish(&tj));
    qb_json_add(&rj, "layers", layers);
    layers = NULL;
    root = qb_json_finish(&rj);
    if (!root) goto oom;
    json = cJSON_PrintUnformatted(root);
    if (!json) goto oom;
    const size_t json_len = strlen(json);
    const size_t data_start = (CK_HEADER + 8 + json_len + CK_ALIGN - 1) / CK_ALIGN * CK_ALIGN;
    const size_t payload = data_start - CK_HEADER + data_bytes;

    /* write to a temporary name, hash the payload through a mapping, then rename into place */
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    fd = open(tmp_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(err, QB_ERRLEN, "%.400s: %s", tmp_path, strerror(errno));
        tmp_path[0] = 0;
        goto done;
    }
    unsigned char hdr[CK_HEADER] = {0}, lenbuf[8];
    memcpy(hdr, CK_MAGIC, 8);
    put_u32(hdr + 8, file_version(c));
    put_u32(hdr + 12, CK_HEADER);
    put_u64(hdr + 16, payload);
    put_u64(lenbuf, json_len);
    static const unsigned char zeros[CK_ALIGN] = {0};
    int werr = write_all(fd, hdr, CK_HEADER) || write_all(fd, lenbuf, 8) || write_all(fd, json, json_len) ||
               write_all(fd, zeros, data_start - (CK_HEADER + 8 + json_len));
    size_t pos = 0;
    for (int i = 0; i < ps.n && !werr; i++) {
        Piece *p = &ps.p[i];
        werr = write_all(fd, zeros, p->offset - pos) || write_all(fd, p->data, p->bytes);
        pos = p->offset + p->bytes;
    }
    if (!werr && pos < data_bytes) werr = write_all(fd, zeros, data_bytes - pos);
    if (werr) {
        snprintf(err, QB_ERRLEN, "%.400s: write failed: %s", tmp_path, strerror(errno));
        goto done;
    }
    void *map = mmap(NULL, CK_HEADER + payload, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        snprintf(err, QB_ERRLEN, "%.400s: mmap: %s", tmp_path, strerror(errno));
        goto done;
    }
    char hex[65];
    qb_sha256_hex((const char *)map + CK_HEADER, payload, hex);
    munmap(map, CK_HEADER + payload);
    if (pwrite(fd, hex, 64, 24) != 64 || fsync(fd) != 0) {
        snprintf(err, QB_ERRLEN, "%.400s: write failed: %s", tmp_path, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        snprintf(err, QB_ERRLEN, "%.400s: close: %s", tmp_path, strerror(errno));
        goto done;
    }
    fd = -1;
    if (rename(tmp_path, path) != 0) {
        snprintf(err, QB_ERRLEN, "%.200s: rename from %.200s: %s", path, tmp_path, strerror(errno));
        goto done;
    }
    tmp_path[0] = 0;
    rc = 0;
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "%.400s: out of memory", path);
done:
    if (fd >= 0) close(fd);
    if (tmp_path[0]) unlink(tmp_path);
    free(json);
    cJSON_Delete(root);
    cJSON_Delete(layers);
    pieces_free(&ps);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------------- */

int quant_checkpoint_detect(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return -1;
    if (!S_ISREG(st.st_mode)) return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    char buf[8];
    ssize_t n = read(fd, buf, 8);
    close(fd);
    if (n < 0) return -1;
    return n == 8 && !memcmp(buf, CK_MAGIC, 8);
}

typedef struct {
    const char *path;
    const unsigned char *data; /* data section */
    size_t data_len;
    const cJSON *tensors;
} Reader;

/* Finds tensor `name`, checks dtype, shape and that it lies inside the data section. */
static const void *tensor_get(const Reader *rd, const char *name, const char *dtype, int ndim, const long *shape,
                              char err[QB_ERRLEN]) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rd->tensors, name);
    if (!cJSON_IsObject(t)) {
        snprintf(err, QB_ERRLEN, "%.400s: tensor %s is missing", rd->path, name);
        return NULL;
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(t, "shape"),
                *of = cJSON_GetObjectItemCaseSensitive(t, "offset"), *by = cJSON_GetObjectItemCaseSensitive(t, "bytes");
    if (!cJSON_IsString(dt) || strcmp(dt->valuestring, dtype)) {
        snprintf(err, QB_ERRLEN, "%.400s: tensor %s: dtype should be %s", rd->path, name, dtype);
        return NULL;
    }
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) != ndim) {
        snprintf(err, QB_ERRLEN, "%.400s: tensor %s: shape should have %d dimensions", rd->path, name, ndim);
        return NULL;
    }
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        const cJSON *e = cJSON_GetArrayItem(sh, d);
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)shape[d]) {
            snprintf(err, QB_ERRLEN, "%.400s: tensor %s: dimension %d should be %ld", rd->path, name, d, shape[d]);
            return NULL;
        }
        numel *= (size_t)shape[d];
    }
    if (!cJSON_IsNumber(of) || !cJSON_IsNumber(by) || of->valuedouble < 0 || by->valuedouble < 0 ||
        of->valuedouble > 1e18 || by->valuedouble != (double)(numel * 4) || fmod(of->valuedouble, 4) != 0) {
        snprintf(err, QB_ERRLEN, "%.400s: tensor %s: bad offset/bytes (expected %zu bytes)", rd->path, name, numel * 4);
        return NULL;
    }
    size_t o = (size_t)of->valuedouble, b = (size_t)by->valuedouble;
    if (o > rd->data_len || b > rd->data_len - o) {
        snprintf(err, QB_ERRLEN, "%.400s: tensor %s: bytes [%zu, %zu) lie outside the data section (%zu bytes)",
                 rd->path, name, o, o + b, rd->data_len);
        return NULL;
    }
    return rd->data + o;
}

static int json_int(const cJSON *obj, const char *key, long lo, long hi, int *out, const char *path,
                    const char *where, char err[QB_ERRLEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v) && lo == 0 && hi == 1) { /* flags are written as booleans, were numbers before */
        *out = cJSON_IsTrue(v);
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi) {
        snprintf(err, QB_ERRLEN, "%.400s: %s.%s is missing or not an integer in [%ld, %ld]", path, where, key, lo, hi);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int json_float(const cJSON *obj, const char *key, float *out, const char *path, const char *where,
                      char err[QB_ERRLEN]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v)) {
        snprintf(err, QB_ERRLEN, "%.400s: %s.%s is missing or not a number", path, where, key);
        return -1;
    }
    *out = (float)v->valuedouble;
    return 0;
}

/* config.rope_scaling → rs; absent (every version-1 file) means none. model_check_config checks the values. */
static int load_rope_scaling(const cJSON *cj, const char *path, RopeScaling *rs, char err[QB_ERRLEN]) {
    const char *where = "config.rope_scaling";
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(cj, "rope_scaling");
    memset(rs, 0, sizeof *rs);
    if (!r || cJSON_IsNull(r)) return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "type");
    if (cJSON_IsString(t) && !strcmp(t->valuestring, "linear")) rs->type = ROPE_SCALING_LINEAR;
    else if (cJSON_IsString(t) && !strcmp(t->valuestring, "llama3")) rs->type = ROPE_SCALING_LLAMA3;
    else {
        snprintf(err, QB_ERRLEN, "%.400s: %s.type should be \"linear\" or \"llama3\"", path, where);
        return -1;
    }
    if (json_float(r, "factor", &rs->factor, path, where, err)) return -1;
    if (rs->type == ROPE_SCALING_LINEAR) return 0;
    return json_float(r, "low_freq_factor", &rs->low_freq_factor, path, where, err) ||
                   json_float(r, "high_freq_factor", &rs->high_freq_factor, path, where, err) ||
                   json_int(r, "original_max_position_embeddings", 1, 1L << 30, &rs->original_max_position_embeddings,
                            path, where, err)
               ? -1
               : 0;
}

static float *load_floats(Model *m, const Reader *rd, const char *name, int ndim, const long *shape,
                          char err[QB_ERRLEN]) {
    const void *p = tensor_get(rd, name, "F32", ndim, shape, err);
    if (!p) return NULL;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    float *f = model_own_floats(m, n);
    if (!f) {
        snprintf(err, QB_ERRLEN, "%.400s: out of memory for %.90s", rd->path, name);
        return NULL;
    }
    memcpy(f, p, n * sizeof(float));
    qb_drop_pages(p, n * sizeof(float));
    return f;
}

/* Reads one layer and keeps it packed in m. */
static int load_layer(Model *m, const Reader *rd, const cJSON *lj, int l, const char *kname, int idx, Linear *lin,
                      char err[QB_ERRLEN]) {
    char name[64], tn[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, kname);
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(lj, "name"), *gr = cJSON_GetObjectItemCaseSensitive(lj, "grid");
    int rows, cols, bits, ng;
    if (!cJSON_IsString(nm) || strcmp(nm->valuestring, name)) {
        snprintf(err, QB_ERRLEN, "%.400s: layers[%d] should be %s", rd->path, idx, name);
        return -1;
    }
    if (json_int(lj, "rows", lin->rows, lin->rows, &rows, rd->path, name, err) ||
        json_int(lj, "cols", lin->cols, lin->cols, &cols, rd->path, name, err) ||
        json_int(lj, "bits", 1, 8, &bits, rd->path, name, err) ||
        json_int(lj, "n_groups", 1, cols, &ng, rd->path, name, err))
        return -1;
    int binary;
    if (cJSON_IsString(gr) && !strcmp(gr->valuestring, "uniform")) binary = 0;
    else if (cJSON_IsString(gr) && !strcmp(gr->valuestring, "binary")) binary = 1;
    else {
        snprintf(err, QB_ERRLEN, "%.400s: %s.grid should be \"uniform\" or \"binary\"", rd->path, name);
        return -1;
    }
    const size_t rc = (size_t)rows * cols, nw = pack_words(rc, bits);
    const int nlev = 1 << bits;
    long sh_codes[1] = {(long)nw}, sh_s[3] = {rows, ng, binary ? bits : 1}, sh_z[2] = {rows, ng},
         sh_g[1] = {cols}, sh_l[3] = {rows, ng, nlev};
    snprintf(tn, sizeof tn, "%s.codes", name);
    const uint32_t *words = tensor_get(rd, tn, "U32", 1, sh_codes, err);
    snprintf(tn, sizeof tn, "%s.scales", name);
    const float *scales = words ? tensor_get(rd, tn, "F32", binary ? 3 : 2, sh_s, err) : NULL;
    snprintf(tn, sizeof tn, "%s.zeros", name);
    const float *zeros = scales ? tensor_get(rd, tn, "F32", 2, sh_z, err) : NULL;
    snprintf(tn, sizeof tn, "%s.g_idx", name);
    const int32_t *g_idx = zeros ? tensor_get(rd, tn, "I32", 1, sh_g, err) : NULL;
    snprintf(tn, sizeof tn, "%s.levels", name);
    const float *levels = g_idx && binary ? tensor_get(rd, tn, "F32", 3, sh_l, err) : NULL;
    if (!g_idx || (binary && !levels)) return -1;
    for (int c = 0; c < cols; c++)
        if (g_idx[c] < 0 || g_idx[c] >= ng) {
            snprintf(err, QB_ERRLEN, "%.400s: %s.g_idx[%d] = %d outside [0, %d)", rd->path, name, c, g_idx[c], ng);
            return -1;
        }
    uint8_t *codes = malloc(rc ? rc : 1);
    if (!codes) {
        snprintf(err, QB_ERRLEN, "%.400s: out of memory for %s", rd->path, name);
        return -1;
    }
    /* kept packed: the forward pass multiplies the codes; linear_rows_f32 decodes them exactly as
     * described above when float weights are needed */
    char kerr[QB_ERRLEN];
    int rcode = unpack_codes(words, rc, bits, codes, err);
    if (!rcode && (binary ? linear_keep_binary(m, lin, bits, ng, codes, scales, zeros, levels, g_idx, kerr)
                          : linear_keep_uniform(m, lin, bits, ng, codes, scales, zeros, g_idx, kerr))) {
        snprintf(err, QB_ERRLEN, "%.200s: %s: %.200s", rd->path, name, kerr);
        rcode = -1;
    }
    free(codes);
    const size_t rg = (size_t)rows * ng;
    qb_drop_pages(words, nw * 4);
    qb_drop_pages(scales, rg * (binary ? bits : 1) * 4);
    qb_drop_pages(zeros, rg * 4);
    qb_drop_pages(g_idx, (size_t)cols * 4);
    if (levels) qb_drop_pages(levels, rg * nlev * 4);
    return rcode;
}

/* config.family and its block options; absent (versions 1 and 2) means Llama. */
static int load_family(const cJSON *cj, const char *path, ModelConfig *c, char err[QB_ERRLEN]) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(cj, "family");
    if (!f) return 0;
    ArchFamily fam = cJSON_IsString(f) ? arch_family_from_name(f->valuestring) : ARCH_COUNT;
    if (fam == ARCH_COUNT || fam == ARCH_LLAMA) {
        snprintf(err, QB_ERRLEN, "%.400s: config.family is not one of opt, bloom, gpt2, neox", path);
        return -1;
    }
    int act;
    c->family = fam;
    if (json_int(cj, "act", ACT_RELU, ACT_GELU, &act, path, "config", err) ||
        json_int(cj, "post_norm", 0, 1, &c->post_norm, path, "config", err) ||
        json_int(cj, "parallel_residual", 0, 1, &c->parallel_residual, path, "config", err) ||
        json_int(cj, "rotary_dims", 0, 1 << 12, &c->rotary_dims, path, "config", err) ||
        json_int(cj, "proj_dim", 0, 1 << 16, &c->proj_dim, path, "config", err))
        return -1;
    c->act = (Activation)act;
    return 0;
}

/* The float tensors and layers of a non-Llama model (see write_family_tensors). */
static int load_family_tensors(Model *m, const Reader *rd, const cJSON *lj, const LinearKind *kinds, int nk,
                               char err[QB_ERRLEN]) {
    const ModelConfig *c = &m->cfg;
    int n = model_float_tensors(m, NULL, 0);
    ModelTensorRef *t = n > 0 ? malloc((size_t)n * sizeof *t) : NULL;
    if (!t) {
        snprintf(err, QB_ERRLEN, "%.400s: out of memory", rd->path);
        return -1;
    }
    model_float_tensors(m, t, n);
    for (int i = 0; i < n; i++) {
        long sh[2] = {t[i].rows, t[i].cols};
        if (!(*t[i].slot = load_floats(m, rd, t[i].name, t[i].cols ? 2 : 1, sh, err))) {
            free(t);
            return -1;
        }
    }
    free(t);
    if (c->tied_embeddings) m->classifier = m->tok_emb;
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < nk; i++, lj = lj->next) {
            Linear *lin = &m->blocks[l].lin[kinds[i]];
            model_linear_shape(c, kinds[i], &lin->rows, &lin->cols);
            if (!cJSON_IsObject(lj)) {
                snprintf(err, QB_ERRLEN, "%.400s: layers[%d] is not an object", rd->path, l * nk + i);
                return -1;
            }
            if (load_layer(m, rd, lj, l, model_linear_name(c, kinds[i]), l * nk + i, lin, err)) return -1;
        }
    /* the LayerNorm families' forward reads float32 weights (fused QKV as row slices) */
    return model_unpack_weights(m, err);
}

/* The file mapped read-only (it is only read, and copied into the model where kept), so that loading
 * does not hold a second copy of it in memory. NULL with err set on failure; *lenp its size. */
static unsigned char *map_file(const char *path, size_t *lenp, char err[QB_ERRLEN]) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        snprintf(err, QB_ERRLEN, "%.400s: cannot read: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (st.st_size < CK_HEADER + 8) { /* too short to hold a header: say whether it even starts like one */
        unsigned char head[8] = {0};
        ssize_t got = read(fd, head, sizeof head);
        close(fd);
        snprintf(err, QB_ERRLEN, "%.400s: not a qbench quantized checkpoint (%s)", path,
                 got < 8 || memcmp(head, CK_MAGIC, 8) ? "bad magic" : "file too short");
        return NULL;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, QB_ERRLEN, "%.400s: cannot map: %s", path, strerror(errno));
        return NULL;
    }
    *lenp = (size_t)st.st_size;
    return p;
}

/* sha256 of the whole file (*file) and of its payload after the header (*payload) in one pass; each
 * hashed chunk is dropped from this process's memory again (the pages stay in the page cache), so
 * checking a checkpoint costs no resident memory. */
static void hash_file_and_payload(unsigned char *buf, size_t len, char file[65], char payload[65]) {
    const size_t CHUNK_BYTES = (size_t)32 << 20; /* a multiple of the page size */
    QbSha256 f, pl;
    qb_sha256_init(&f);
    qb_sha256_init(&pl);
    for (size_t off = 0; off < len; off += CHUNK_BYTES) {
        size_t n = len - off < CHUNK_BYTES ? len - off : CHUNK_BYTES;
        qb_sha256_update(&f, buf + off, n);
        if (off + n > CK_HEADER)
            qb_sha256_update(&pl, buf + (off > CK_HEADER ? off : CK_HEADER), off + n - (off > CK_HEADER ? off : CK_HEADER));
        qb_drop_pages(buf + off, n);
    }
    qb_sha256_final_hex(&f, file);
    qb_sha256_final_hex(&pl, payload);
}

/* Maps path and checks its header, checksum and metadata JSON: on success *buf (the mapping, len
 * bytes: munmap it), *root (the metadata), *data_start and file_sha (sha256 of the file) are the caller's. */
static int read_verified(const char *path, unsigned char **bufp, size_t *lenp, cJSON **rootp, size_t *data_startp,
                         char file_sha[65], char err[QB_ERRLEN]) {
    size_t len = 0;
    unsigned char *buf = map_file(path, &len, err);
    if (!buf) return -1;
    cJSON *root = NULL;
    if (len < CK_HEADER + 8 || memcmp(buf, CK_MAGIC, 8)) {
        snprintf(err, QB_ERRLEN, "%.400s: not a qbench quantized checkpoint (%s)", path,
                 len < 8 || memcmp(buf, CK_MAGIC, 8) ? "bad magic" : "file too short");
        goto fail;
    }
    uint32_t version = get_u32(buf + 8), hsize = get_u32(buf + 12);
    uint64_t payload = get_u64(buf + 16);
    if (version < 1 || version > CK_VERSION || hsize != CK_HEADER) {
        snprintf(err, QB_ERRLEN, "%.400s: unsupported checkpoint version %u (header %u bytes); this build reads versions "
                 "1 to %d", path, version, hsize, CK_VERSION);
        goto fail;
    }
    if (payload != len - CK_HEADER) {
        snprintf(err, QB_ERRLEN, "%.400s: truncated or padded: the header promises %llu payload bytes, the file has %zu",
                 path, (unsigned long long)payload, len - CK_HEADER);
        goto fail;
    }
    char want[65], got[65];
    memcpy(want, buf + 24, 64);
    want[64] = 0;
    hash_file_and_payload(buf, len, file_sha, got);
    if (memcmp(want, got, 64)) {
        snprintf(err, QB_ERRLEN, "%.400s: checksum mismatch (the file is corrupt): header sha256 %.16s…, payload %.16s…",
                 path, want, got);
        goto fail;
    }
    uint64_t json_len = get_u64(buf + CK_HEADER);
    if (json_len > payload - 8) {
        snprintf(err, QB_ERRLEN, "%.400s: JSON length %llu exceeds the payload", path, (unsigned long long)json_len);
        goto fail;
    }
    size_t data_start = (CK_HEADER + 8 + (size_t)json_len + CK_ALIGN - 1) / CK_ALIGN * CK_ALIGN;
    if (data_start > len) {
        snprintf(err, QB_ERRLEN, "%.400s: data section starts past the end of the file", path);
        goto fail;
    }
    root = cJSON_ParseWithLength((const char *)buf + CK_HEADER + 8, (size_t)json_len);
    const cJSON *fmt = root ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
    if (!root || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "qbench-quantized")) {
        snprintf(err, QB_ERRLEN, "%.400s: metadata is not valid qbench-quantized JSON", path);
        goto fail;
    }
    *bufp = buf;
    *lenp = len;
    *rootp = root;
    *data_startp = data_start;
    return 0;
fail:
    cJSON_Delete(root);
    munmap(buf, len);
    return -1;
}

char *quant_checkpoint_describe(const char *path, char err[QB_ERRLEN]) {
    unsigned char *buf;
    size_t len, data_start;
    cJSON *root;
    char sha[65];
    if (read_verified(path, &buf, &len, &root, &data_start, sha, err)) return NULL;
    munmap(buf, len);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "tensors"); /* per-tensor detail: not a description */
    cJSON_DeleteItemFromObjectCaseSensitive(root, "layers");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) snprintf(err, QB_ERRLEN, "%.400s: out of memory", path);
    return s;
}

Model *quant_checkpoint_load(const char *path, char err[QB_ERRLEN]) {
    unsigned char *buf;
    size_t len, data_start;
    cJSON *root;
    char sha[65];
    if (read_verified(path, &buf, &len, &root, &data_start, sha, err)) return NULL;
    Model *m = NULL;
    Reader rd = {path, buf + data_start, len - data_start, cJSON_GetObjectItemCaseSensitive(root, "tensors")};
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(root, "config"),
                *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsObject(cj) || !cJSON_IsObject(rd.tensors) || !cJSON_IsArray(layers)) {
        snprintf(err, QB_ERRLEN, "%.400s: metadata lacks config / tensors / layers", path);
        goto fail;
    }
    m = model_alloc();
    if (!m) {
        snprintf(err, QB_ERRLEN, "%.400s: out of memory", path);
        goto fail;
    }
    ModelConfig *c = &m->cfg;
    const long BIG = 1L << 30;
    if (json_int(cj, "dim", 1, BIG, &c->dim, path, "config", err) ||
        json_int(cj, "hidden_dim", 1, BIG, &c->hidden_dim, path, "config", err) ||
        json_int(cj, "n_layers", 1, BIG, &c->n_layers, path, "config", err) ||
        json_int(cj, "n_heads", 1, BIG, &c->n_heads, path, "config", err) ||
        json_int(cj, "n_kv_heads", 1, BIG, &c->n_kv_heads, path, "config", err) ||
        json_int(cj, "head_dim", 1, BIG, &c->head_dim, path, "config", err) ||
        json_int(cj, "vocab_size", 1, BIG, &c->vocab_size, path, "config", err) ||
        json_int(cj, "seq_len", 1, BIG, &c->seq_len, path, "config", err) ||
        json_int(cj, "tied_embeddings", 0, 1, &c->tied_embeddings, path, "config", err) ||
        json_int(cj, "qkv_bias", 0, 1, &c->qkv_bias, path, "config", err) ||
        json_int(cj, "bos_id", -1, BIG, &c->bos_id, path, "config", err) ||
        json_int(cj, "eos_id", -1, BIG, &c->eos_id, path, "config", err))
        goto fail;
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(cj, "rope_theta"), *ep = cJSON_GetObjectItemCaseSensitive(cj, "norm_eps"),
                *ar = cJSON_GetObjectItemCaseSensitive(cj, "arch");
    if (!cJSON_IsNumber(th) || !cJSON_IsNumber(ep) || !cJSON_IsString(ar)) {
        snprintf(err, QB_ERRLEN, "%.400s: config.rope_theta / norm_eps / arch missing", path);
        goto fail;
    }
    c->rope_theta = (float)th->valuedouble;
    c->norm_eps = (float)ep->valuedouble;
    snprintf(c->arch, sizeof c->arch, "%s", ar->valuestring);
    if (load_family(cj, path, c, err)) goto fail;
    if (load_rope_scaling(cj, path, &c->rope_scaling, err) || model_check_config(c, path, err)) goto fail;
    LinearKind kinds[LIN_COUNT];
    const int nk = model_block_linears(c, kinds);
    if (cJSON_GetArraySize(layers) != c->n_layers * nk) {
        snprintf(err, QB_ERRLEN, "%.400s: %d layer records, expected %d", path, cJSON_GetArraySize(layers),
                 c->n_layers * nk);
        goto fail;
    }
    m->blocks = calloc((size_t)c->n_layers, sizeof *m->blocks);
    if (!m->blocks) {
        snprintf(err, QB_ERRLEN, "%.400s: out of memory", path);
        goto fail;
    }
    if (c->family != ARCH_LLAMA) {
        if (load_family_tensors(m, &rd, layers->child, kinds, nk, err)) goto fail;
        goto loaded;
    }
    long sh_emb[2] = {c->vocab_size, c->dim}, sh_d[1] = {c->dim};
    if (!(m->tok_emb = load_floats(m, &rd, "tok_emb", 2, sh_emb, err))) goto fail;
    m->classifier = c->tied_embeddings ? m->tok_emb : load_floats(m, &rd, "classifier", 2, sh_emb, err);
    if (!m->classifier) goto fail;
    if (!(m->final_norm = load_floats(m, &rd, "final_norm", 1, sh_d, err))) goto fail;
    /* a classifier that came from a BF16/F16 model is run in that format: same values, half the bytes */
    if (model_keep_classifier_half(m, QW_F32, NULL, err)) goto fail;
    const cJSON *lj = layers->child;
    for (int l = 0; l < c->n_layers; l++) {
        Block *b = &m->blocks[l];
        char tn[96];
        snprintf(tn, sizeof tn, "blk.%d.attn_norm", l);
        if (!(b->attn_norm = load_floats(m, &rd, tn, 1, sh_d, err))) goto fail;
        snprintf(tn, sizeof tn, "blk.%d.ffn_norm", l);
        if (!(b->ffn_norm = load_floats(m, &rd, tn, 1, sh_d, err))) goto fail;
        for (int k = 0; k < LIN_COUNT; k++, lj = lj->next) {
            Linear *lin = &b->lin[k];
            model_linear_shape(c, (LinearKind)k, &lin->rows, &lin->cols);
            if (c->qkv_bias && k <= LIN_V) {
                long sh_b[1] = {lin->rows};
                snprintf(tn, sizeof tn, "blk.%d.%s.bias", l, linear_kind_name((LinearKind)k));
                if (!(lin->bias = load_floats(m, &rd, tn, 1, sh_b, err))) goto fail;
            }
            if (!cJSON_IsObject(lj)) {
                snprintf(err, QB_ERRLEN, "%.400s: layers[%d] is not an object", path, l * LIN_COUNT + k);
                goto fail;
            }
            if (load_layer(m, &rd, lj, l, linear_kind_name((LinearKind)k), l * LIN_COUNT + k, lin, err)) goto fail;
        }
    }
loaded:
    snprintf(m->path, sizeof m->path, "%s", path);
    memcpy(m->sha256, sha, sizeof sha);
    cJSON_Delete(root);
    munmap(buf, len);
    return m;
fail:
    cJSON_Delete(root);
    munmap(buf, len);
    model_free(m);
    return NULL;
}

Model *quant_or_model_load(const char *path, char err[QB_ERRLEN]) {
    return quant_checkpoint_detect(path) == 1 ? quant_checkpoint_load(path, err) : model_load(path, err);
}
