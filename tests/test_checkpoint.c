/* test_checkpoint.c — qbench quantized checkpoints (write → load gives the same logits, same seed →
 * same bytes, corrupt / truncated / hostile files are clear errors) and the AutoGPTQ export, read
 * back with an independent decoder written here (safetensors + int32 bit unpacking + fp16); RoPE
 * scaling survives both. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "datasets/calib.h"
#include "datasets/datasets.h"
#include "model/tokenizer.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"
#include "tests/common.h"

static const char *S260 = "assets/stories260K/stories260K.bin";
static const char *S656 = "assets/tinystories-656K";

static char tmpdir[256];

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qbench_test_ckpt_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return t_rm_rf(tmpdir);
}

static void tmp_path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", tmpdir, name); }

/* Random in-vocabulary windows: the checkpoint tests need calibration, not good calibration. */
static void random_windows(int *w, int n, int vocab, uint64_t seed) {
    QbRng r;
    qb_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) w[i] = (int)qb_rng_below(&r, (uint64_t)vocab);
}

static Model *quantize(const char *path, const QuantOptions *o, const CalibrationSet *cs, PipelineReport *rep,
                       PipelineOptions *po) {
    char err[QB_ERRLEN];
    Model *m = model_load(path, err);
    assert_non_null(m);
    memset(po, 0, sizeof *po);
    po->opt = *o;
    po->true_sequential = 1;
    int rc = quant_model(m, cs, po, 1, rep, err);
    if (rc) fail_msg("quant_model: %s", err);
    return m;
}

/* logits of both models on the same 48 tokens, compared bit for bit */
static void assert_same_logits(const Model *a, const Model *b) {
    char err[QB_ERRLEN];
    const int n = 48, V = a->cfg.vocab_size;
    int toks[48];
    random_windows(toks, n, V, 99);
    float *la = malloc((size_t)n * V * sizeof(float)), *lb = malloc((size_t)n * V * sizeof(float));
    ModelState *sa = model_state_new(a, n, n), *sb = model_state_new(b, n, n);
    assert_int_equal(model_forward(a, sa, toks, n, 0, la, err), 0);
    assert_int_equal(model_forward(b, sb, toks, n, 0, lb, err), 0);
    assert_memory_equal(la, lb, (size_t)n * V * sizeof(float));
    model_state_free(sa);
    model_state_free(sb);
    free(la);
    free(lb);
}

/* Quantizes, writes, loads back and compares; returns the number of linear layers whose weights came
 * back bit-identical. */
static int roundtrip(const char *model_path, const QuantOptions *o, const char *file) {
    char err[QB_ERRLEN], path[512];
    tmp_path(path, sizeof path, file);
    Model *probe = model_load(model_path, err);
    assert_non_null(probe);
    const int V = probe->cfg.vocab_size;
    model_free(probe);
    int w[8 * 32];
    random_windows(w, 8 * 32, V, 1);
    CalibrationSet cs = {8, 32, w};
    PipelineReport rep;
    PipelineOptions po;
    Model *m = quantize(model_path, o, &cs, &rep, &po);
    assert_int_equal(quant_checkpoint_write(m, &rep, &po, path, err), 0);
    assert_int_equal(quant_checkpoint_detect(path), 1);
    Model *l = quant_checkpoint_load(path, err);
    if (!l) fail_msg("load: %s", err);
    assert_memory_equal(&l->cfg, &m->cfg, sizeof m->cfg);
    /* loaded packed; decoded to float32 it must be exactly the quantized model */
    assert_true(linear_format(&l->blocks[0].lin[0]) == QW_UNIFORM || linear_format(&l->blocks[0].lin[0]) == QW_BINARY);
    assert_int_equal(model_unpack_weights(l, err), 0);
    int same = 0;
    for (int b = 0; b < m->cfg.n_layers; b++)
        for (int k = 0; k < LIN_COUNT; k++)
            same += !memcmp(l->blocks[b].lin[k].w, m->blocks[b].lin[k].w,
                            (size_t)m->blocks[b].lin[k].rows * m->blocks[b].lin[k].cols * sizeof(float));
    assert_same_logits(m, l);
    assert_string_equal(l->path, path);
    model_free(l);
    /* the helper ppl/generate use takes either kind of path */
    Model *any = quant_or_model_load(path, err);
    assert_non_null(any);
    assert_int_equal(model_unpack_weights(any, err), 0);
    assert_same_logits(m, any);
    model_free(any);
    any = quant_or_model_load(model_path, err);
    assert_non_null(any);
    model_free(any);
    pipeline_report_free(&rep);
    model_free(m);
    return same;
}

static void test_roundtrip_gptq_actorder_groups(void **state) {
    (void)state;
    QuantOptions o;
    quant_options_default(&o, QM_GPTQ, 4);
    o.group_size = 32; /* 172 columns: a ragged last group */
    o.act_order = 1;
    assert_int_equal(roundtrip(S260, &o, "g4.qbq"), 5 * LIN_COUNT); /* stories260K: 5 blocks */
    quant_options_default(&o, QM_GPTQ, 3);
    o.sym = 1;
    o.group_size = 64;
    assert_int_equal(roundtrip(S656, &o, "g3.qbq"), 2 * LIN_COUNT); /* HF model, GQA, 2 blocks */
}

static void test_roundtrip_binary_methods(void **state) {
    (void)state;
    QuantOptions o;
    quant_options_default(&o, QM_GPTQT, 3);
    assert_int_equal(roundtrip(S260, &o, "gptqt.qbq"), 5 * LIN_COUNT);
    quant_options_default(&o, QM_BCQ, 2);
    o.group_size = 32;
    assert_int_equal(roundtrip(S260, &o, "bcq.qbq"), 5 * LIN_COUNT);
    quant_options_default(&o, QM_RTNT, 2);
    assert_int_equal(roundtrip(S656, &o, "rtnt.qbq"), 2 * LIN_COUNT);
}

static void spit(const char *path, const unsigned char *b, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Same seed → same calibration windows → same checkpoint bytes; another seed → other bytes. */
static void test_same_seed_same_bytes(void **state) {
    (void)state;
    char err[QB_ERRLEN], p[3][512];
    Tokenizer *tok = tokenizer_load("assets/stories260K/tok512.bin", 512, err);
    assert_non_null(tok);
    TextDataset td;
    assert_int_equal(dataset_load_text("tinystories-calib", &td, err), 0);
    const uint64_t seeds[3] = {4, 4, 5};
    for (int i = 0; i < 3; i++) {
        CalibWindows cw;
        assert_int_equal(calib_sample_text(tok, td.text, td.len, 0, "calib", 16, 64, seeds[i], CALIB_AUTO, &cw, err), 0);
        CalibrationSet cs = {cw.n_samples, cw.seqlen, cw.windows};
        QuantOptions o;
        quant_options_default(&o, QM_GPTQ, 4);
        o.group_size = 32;
        PipelineReport rep;
        PipelineOptions po;
        Model *m = quantize(S260, &o, &cs, &rep, &po);
        snprintf(p[i], sizeof p[i], "%s/seed%d.qbq", tmpdir, i);
        assert_int_equal(quant_checkpoint_write(m, &rep, &po, p[i], err), 0);
        pipeline_report_free(&rep);
        model_free(m);
        calib_free(&cw);
    }
    size_t la, lb, lc;
    unsigned char *a = (unsigned char *)t_slurp(p[0], &la), *b = (unsigned char *)t_slurp(p[1], &lb), *c = (unsigned char *)t_slurp(p[2], &lc);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_true(la != lc || memcmp(a, c, la) != 0);
    free(a); free(b); free(c);
    dataset_text_free(&td);
    tokenizer_free(tok);
}

static void write_rtn_checkpoint(const char *path) {
    char err[QB_ERRLEN];
    QuantOptions o;
    quant_options_default(&o, QM_RTN, 4);
    PipelineReport rep;
    PipelineOptions po;
    Model *m = quantize(S260, &o, NULL, &rep, &po);
    assert_int_equal(quant_checkpoint_write(m, &rep, &po, path, err), 0);
    pipeline_report_free(&rep);
    model_free(m);
}

static void expect_load_error(const char *path, const char *needle) {
    char err[QB_ERRLEN];
    Model *m = quant_checkpoint_load(path, err);
    if (m) fail_msg("%s loaded, expected an error containing '%s'", path, needle);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
    assert_non_null(strstr(err, path));
}

/* Re-signs a modified payload so the checks after the checksum are reached. */
static void resign(unsigned char *b, size_t len) {
    char hex[65];
    qb_sha256_hex(b + 128, len - 128, hex);
    memcpy(b + 24, hex, 64);
}

static void test_corrupt_and_truncated(void **state) {
    (void)state;
    char good[512], bad[512], err[QB_ERRLEN];
    tmp_path(good, sizeof good, "rtn.qbq");
    tmp_path(bad, sizeof bad, "bad.qbq");
    write_rtn_checkpoint(good);
    size_t len;
    unsigned char *b = (unsigned char *)t_slurp(good, &len);
    Model *ok = quant_checkpoint_load(good, err);
    assert_non_null(ok);
    model_free(ok);

    /* one flipped bit anywhere in the payload: checksum */
    size_t spots[3] = {200, len / 2, len - 1};
    for (int i = 0; i < 3; i++) {
        b[spots[i]] ^= 0x10;
        spit(bad, b, len);
        expect_load_error(bad, "checksum mismatch");
        b[spots[i]] ^= 0x10;
    }
    /* truncated: in the data, in the JSON, inside the header; and extra bytes appended */
    size_t cuts[4] = {len - 1, 300, 100, 0};
    const char *why[4] = {"truncated", "truncated", "file too short", "bad magic"};
    for (int i = 0; i < 4; i++) {
        spit(bad, b, cuts[i]);
        expect_load_error(bad, why[i]);
    }
    unsigned char *longer = calloc(len + 8, 1);
    memcpy(longer, b, len);
    spit(bad, longer, len + 8);
    expect_load_error(bad, "truncated or padded");
    free(longer);
    /* magic and version */
    b[0] = 'X';
    spit(bad, b, len);
    assert_int_equal(quant_checkpoint_detect(bad), 0);
    expect_load_error(bad, "bad magic");
    b[0] = 'Q';
    assert_int_equal(b[8], 1); /* no RoPE scaling: the version-1 layout */
    b[8] = 4; /* one past the newest (3: the non-Llama families) */
    spit(bad, b, len);
    assert_int_equal(quant_checkpoint_detect(bad), 1);
    expect_load_error(bad, "unsupported checkpoint version 4");
    b[8] = 1;
    /* hostile metadata under a valid checksum: a config that disagrees with the tensors, a tensor
     * pointing past the data, a g_idx outside its groups */
    const char *json = (const char *)b + 136;
    char *dim = memmem(json, len - 136, "\"dim\":64", 8);
    assert_non_null(dim);
    dim[7] = '5';
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "tok_emb");
    dim[7] = '4';
    char *off = memmem(json, len - 136, "\"offset\":0,", 11);
    assert_non_null(off);
    off[9] = '9'; /* tok_emb at offset 9: misaligned */
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "tensor tok_emb: bad offset/bytes");
    off[9] = '0';
    char *bytes = memmem(json, len - 136, "\"bytes\":131072", 14);
    assert_non_null(bytes);
    memcpy(bytes, "\"bytes\":131076", 14);
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "bad offset/bytes");
    memcpy(bytes, "\"bytes\":131072", 14);
    char *jl = memmem(json, len - 136, "\"layers\":[", 10);
    assert_non_null(jl);
    memcpy(jl, "\"lay3rs\":[", 10);
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "lacks config / tensors / layers");
    memcpy(jl, "\"layers\":[", 10);
    /* g_idx of blk.0.attn.q: find its offset in the JSON and write a group number out of range */
    resign(b, len);
    {
        uint64_t json_len = 0;
        for (int i = 7; i >= 0; i--) json_len = json_len << 8 | b[128 + i];
        cJSON *root = cJSON_ParseWithLength(json, json_len);
        assert_non_null(root);
        const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "tensors"), "blk.0.attn.q.g_idx");
        assert_non_null(t);
        size_t data_start = (136 + json_len + 63) / 64 * 64;
        size_t o = (size_t)cJSON_GetObjectItem(t, "offset")->valuedouble;
        int32_t g = 7;
        memcpy(b + data_start + o + 4 * 10, &g, 4);
        cJSON_Delete(root);
    }
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "g_idx[10] = 7");
    free(b);

    /* not a checkpoint / missing */
    assert_int_equal(quant_checkpoint_detect(S260), 0);
    assert_int_equal(quant_checkpoint_detect(S656), 0); /* a directory */
    assert_int_equal(quant_checkpoint_detect("/nonexistent/x.qbq"), -1);
    expect_load_error("/nonexistent/x.qbq", "x.qbq");
    assert_null(quant_or_model_load("/nonexistent/x.qbq", err));
}

static void test_write_errors(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    QuantOptions o;
    quant_options_default(&o, QM_RTN, 4);
    PipelineOptions po;
    PipelineReport rep;
    Model *m = quantize(S260, &o, NULL, &rep, &po);
    assert_int_equal(quant_checkpoint_write(m, &rep, &po, "/nonexistent/dir/x.qbq", err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/x.qbq"));
    /* results are needed */
    PipelineReport none = rep;
    none.results = NULL;
    char p[512];
    tmp_path(p, sizeof p, "none.qbq");
    assert_int_equal(quant_checkpoint_write(m, &none, &po, p, err), -1);
    assert_non_null(strstr(err, "keep_results"));
    assert_int_equal(access(p, F_OK), -1);
    /* weights that are not what the codes say (someone changed the model after quantizing) */
    m->blocks[1].lin[LIN_O].w[3] += 1.0f;
    assert_int_equal(quant_checkpoint_write(m, &rep, &po, p, err), -1);
    assert_non_null(strstr(err, "blk.1.attn.o"));
    assert_int_equal(access(p, F_OK), -1);
    pipeline_report_free(&rep);
    model_free(m);
}

/* ---- AutoGPTQ export, read back independently ----------------------------------------------------- */

typedef struct {
    unsigned char *buf;
    size_t len, data;
    cJSON *hdr;
} St;

static void st_read(St *s, const char *path) {
    s->buf = (unsigned char *)t_slurp(path, &s->len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | s->buf[i];
    assert_true(8 + hl <= s->len);
    s->hdr = cJSON_ParseWithLength((const char *)s->buf + 8, hl);
    assert_non_null(s->hdr);
    s->data = 8 + hl;
}

static const void *st_get(const St *s, const char *name, const char *dtype, long d0, long d1) {
    const cJSON *t = cJSON_GetObjectItem(s->hdr, name);
    if (!t) fail_msg("export lacks %s", name);
    assert_string_equal(cJSON_GetObjectItem(t, "dtype")->valuestring, dtype);
    const cJSON *sh = cJSON_GetObjectItem(t, "shape");
    assert_int_equal(cJSON_GetArraySize(sh), d1 ? 2 : 1);
    assert_int_equal((long)cJSON_GetArrayItem(sh, 0)->valuedouble, d0);
    if (d1) assert_int_equal((long)cJSON_GetArrayItem(sh, 1)->valuedouble, d1);
    const cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
    size_t a = (size_t)cJSON_GetArrayItem(o, 0)->valuedouble, b = (size_t)cJSON_GetArrayItem(o, 1)->valuedouble;
    assert_true(a <= b && s->data + b <= s->len);
    return s->buf + s->data + a;
}

static float half_to_float(uint16_t h) {
    int e = h >> 10 & 31, f = h & 1023;
    float v = e == 0 ? ldexpf((float)f, -24) : ldexpf((float)(f | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* bit field i of a little-endian stream of `bits`-bit fields held in int32 words words[k*stride] */
static unsigned field(const int32_t *words, size_t stride, size_t i, int bits) {
    unsigned v = 0;
    for (int b = 0; b < bits; b++) {
        size_t bit = i * bits + b;
        v |= (unsigned)(((uint32_t)words[(bit / 32) * stride] >> (bit % 32)) & 1u) << b;
    }
    return v;
}

/* orig: the model's own HF safetensors (independent row order) or NULL */
static void check_export(const Model *m, const PipelineReport *rep, int bits, const char *dir, const char *orig_path) {
    const int check_orig = orig_path != NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    St s, orig = {0};
    st_read(&s, path);
    if (check_orig) st_read(&orig, orig_path);
    static const char *hf[LIN_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    const int hd = m->cfg.head_dim;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const QuantResult *r = &rep->results[l * LIN_COUNT + k];
            const int R = r->rows, C = r->cols, ng = r->n_groups;
            char n[160];
            snprintf(n, sizeof n, "model.layers.%d.%s.qweight", l, hf[k]);
            const int32_t *qw = st_get(&s, n, "I32", C * bits / 32, R);
            snprintf(n, sizeof n, "model.layers.%d.%s.qzeros", l, hf[k]);
            const int32_t *qz = st_get(&s, n, "I32", ng, R * bits / 32);
            snprintf(n, sizeof n, "model.layers.%d.%s.scales", l, hf[k]);
            const uint16_t *sc = st_get(&s, n, "F16", ng, R);
            snprintf(n, sizeof n, "model.layers.%d.%s.g_idx", l, hf[k]);
            const int32_t *gi = st_get(&s, n, "I32", C, 0);
            const float *ow = NULL;
            if (check_orig) {
                snprintf(n, sizeof n, "model.layers.%d.%s.weight", l, hf[k]);
                ow = st_get(&orig, n, "F32", R, C);
            }
            const unsigned mask = (1u << bits) - 1;
            for (int rh = 0; rh < R; rh++) {
                /* HF rotate-half row rh of q/k is the model's interleaved row 2i + c of the same head */
                int rm = rh;
                if (k == LIN_Q || k == LIN_K) {
                    int h = rh / hd, j = rh % hd, half = hd / 2;
                    rm = h * hd + (j < half ? 2 * j : 2 * (j - half) + 1);
                }
                for (int c = 0; c < C; c++) {
                    int g = gi[c];
                    assert_in_range(g, 0, ng - 1);
                    assert_int_equal(g, r->g_idx[c]);
                    unsigned q = field(qw + rh, (size_t)R, (size_t)c, bits);
                    unsigned z = (field(qz + (size_t)g * (R * bits / 32), 1, (size_t)rh, bits) + 1) & mask; /* v1: zero − 1 */
                    float scale = half_to_float(sc[(size_t)g * R + rh]);
                    float w = scale * ((float)q - (float)z);
                    float want = m->blocks[l].lin[k].w[(size_t)rm * C + c];
                    /* fp16 scales: relative error <= 2^-11 per step of (q − z) */
                    float tol = fabsf(scale) * (float)(mask + 1) * 0x1p-11f + 1e-7f;
                    if (fabsf(w - want) > tol)
                        fail_msg("%s [%d,%d]: export decodes to %g, Q is %g", hf[k], rh, c, (double)w, (double)want);
                    /* against the original HF weights: RTN is within half a step (plus fp16 slop) */
                    if (ow && fabsf(ow[(size_t)rh * C + c] - w) > 0.5f * fabsf(scale) * 1.01f + tol)
                        fail_msg("%s [%d,%d]: export %g vs original %g", hf[k], rh, c, (double)w,
                                 (double)ow[(size_t)rh * C + c]);
                }
            }
        }
    /* biases (Qwen2-style q/k/v) are copied exactly, in the file's row order */
    for (int l = 0; l < m->cfg.n_layers && check_orig; l++)
        for (int k = 0; k < 3; k++) {
            if (!m->blocks[l].lin[k].bias) continue;
            char n[160];
            snprintf(n, sizeof n, "model.layers.%d.%s.bias", l, hf[k]);
            const long R = m->blocks[l].lin[k].rows;
            assert_memory_equal(st_get(&s, n, "F32", R, 0), st_get(&orig, n, "F32", R, 0), (size_t)R * sizeof(float));
        }
    /* float tensors are there, unchanged */
    const float *emb = st_get(&s, "model.embed_tokens.weight", "F32", m->cfg.vocab_size, m->cfg.dim);
    assert_memory_equal(emb, m->tok_emb, (size_t)m->cfg.vocab_size * m->cfg.dim * sizeof(float));
    const float *nw = st_get(&s, "model.norm.weight", "F32", m->cfg.dim, 0);
    assert_memory_equal(nw, m->final_norm, (size_t)m->cfg.dim * sizeof(float));
    cJSON_Delete(s.hdr);
    free(s.buf);
    if (check_orig) {
        cJSON_Delete(orig.hdr);
        free(orig.buf);
    }
}

static void test_export_gptq(void **state) {
    (void)state;
    char err[QB_ERRLEN], dir[512], p[600];
    /* RTN 4-bit g32: checked against Q and against the original HF file (independent row order) */
    QuantOptions o;
    quant_options_default(&o, QM_RTN, 4);
    o.group_size = 32;
    PipelineOptions po;
    PipelineReport rep;
    Model *m = quantize(S656, &o, NULL, &rep, &po);
    tmp_path(dir, sizeof dir, "rtn4");
    assert_int_equal(quant_export_gptq(m, &rep, &po, dir, err), 0);
    check_export(m, &rep, 4, dir, "assets/tinystories-656K/model.safetensors");
    snprintf(p, sizeof p, "%s/quantize_config.json", dir);
    char *qc = qb_read_file(p, NULL, err);
    assert_non_null(qc);
    cJSON *j = cJSON_Parse(qc);
    assert_int_equal(cJSON_GetObjectItem(j, "bits")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(j, "group_size")->valueint, 32);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "desc_act")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "sym")));
    assert_string_equal(cJSON_GetObjectItem(j, "checkpoint_format")->valuestring, "gptq");
    cJSON_Delete(j);
    free(qc);
    snprintf(p, sizeof p, "%s/config.json", dir);
    assert_int_equal(access(p, F_OK), 0);
    pipeline_report_free(&rep);
    model_free(m);

    /* GPTQ 3-bit act-order (non-monotone g_idx, codes straddling words), 2-bit sym, 8-bit */
    Model *probe = model_load(S656, err);
    int w[8 * 32];
    random_windows(w, 8 * 32, probe->cfg.vocab_size, 2);
    model_free(probe);
    CalibrationSet cs = {8, 32, w};
    const int bitss[3] = {3, 2, 8};
    for (int i = 0; i < 3; i++) {
        quant_options_default(&o, QM_GPTQ, bitss[i]);
        o.group_size = 32;
        o.act_order = i == 0;
        o.sym = i == 1;
        m = quantize(S656, &o, &cs, &rep, &po);
        snprintf(dir, sizeof dir, "%s/gptq%d", tmpdir, bitss[i]);
        assert_int_equal(quant_export_gptq(m, &rep, &po, dir, err), 0);
        check_export(m, &rep, bitss[i], dir, NULL);
        if (i == 0) {
            int monotone = 1;
            for (int c = 1; c < 128; c++) monotone &= rep.results[0].g_idx[c] >= rep.results[0].g_idx[c - 1];
            assert_false(monotone);
        }
        pipeline_report_free(&rep);
        model_free(m);
    }

    /* what cannot be exported */
    quant_options_default(&o, QM_RTN, 4);
    m = quantize(S656, &o, NULL, &rep, &po);
    assert_int_equal(quant_export_gptq(m, &rep, &po, "/nonexistent/a/b", err), -1);
    assert_non_null(strstr(err, "/nonexistent/a/b"));
    pipeline_report_free(&rep);
    model_free(m);
    quant_options_default(&o, QM_BCQ, 3);
    m = quantize(S656, &o, NULL, &rep, &po);
    assert_int_equal(quant_export_gptq(m, &rep, &po, dir, err), -1);
    assert_non_null(strstr(err, "bcq"));
    pipeline_report_free(&rep);
    model_free(m);
    quant_options_default(&o, QM_RTN, 5);
    m = quantize(S656, &o, NULL, &rep, &po);
    assert_int_equal(quant_export_gptq(m, &rep, &po, dir, err), -1);
    assert_non_null(strstr(err, "bits 2, 3, 4, 8"));
    pipeline_report_free(&rep);
    model_free(m);
    quant_options_default(&o, QM_RTN, 4); /* stories260K's FFN is 172 wide: 172·4 is not a multiple of 32 */
    m = quantize(S260, &o, NULL, &rep, &po);
    assert_int_equal(quant_export_gptq(m, &rep, &po, dir, err), -1);
    assert_non_null(strstr(err, "multiples of 32"));
    pipeline_report_free(&rep);
    model_free(m);
}

/* A Qwen2-shaped synthetic model: q/k/v biases, untied classifier, GQA. */
static void test_biases_and_untied_head(void **state) {
    (void)state;
    char err[QB_ERRLEN], dir[512], exp[512], st_path[600];
    tmp_path(dir, sizeof dir, "qwen_synth");
    ModelConfig c = {.dim = 64, .hidden_dim = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
                     .vocab_size = 300, .seq_len = 128, .rope_theta = 1e6f, .norm_eps = 1e-6f, .tied_embeddings = 0,
                     .qkv_bias = 1, .bos_id = 1, .eos_id = 2};
    assert_int_equal(model_synth_write(&c, 11, SYNTH_SAFETENSORS, dir, err), 0);
    QuantOptions o;
    quant_options_default(&o, QM_GPTQ, 4);
    o.group_size = 32;
    assert_int_equal(roundtrip(dir, &o, "qwen.qbq"), 2 * LIN_COUNT);
    quant_options_default(&o, QM_RTN, 4);
    o.group_size = 32;
    PipelineOptions po;
    PipelineReport rep;
    Model *m = quantize(dir, &o, NULL, &rep, &po);
    assert_non_null(m->blocks[0].lin[LIN_Q].bias);
    tmp_path(exp, sizeof exp, "qwen_export");
    assert_int_equal(quant_export_gptq(m, &rep, &po, exp, err), 0);
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    check_export(m, &rep, 4, exp, st_path);
    St s;
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", exp);
    st_read(&s, st_path);
    const float *head = st_get(&s, "lm_head.weight", "F32", 300, 64);
    assert_memory_equal(head, m->classifier, 300 * 64 * sizeof(float));
    cJSON_Delete(s.hdr);
    free(s.buf);
    pipeline_report_free(&rep);
    model_free(m);
}

/* ---- RoPE scaling (Llama 3.1's "llama3" block) through the checkpoint and the export ----------------- */

static const char *ROPE_L3 = "tests/fixtures/rope/llama3";

static void test_rope_scaling_checkpoint_and_export(void **state) {
    (void)state;
    char err[QB_ERRLEN], path[512], bad[512], dir[512], p[600];
    /* quantize → write → load: config (rope_scaling included) equal, logits bit-identical */
    QuantOptions o;
    quant_options_default(&o, QM_GPTQ, 4);
    o.group_size = 32;
    assert_int_equal(roundtrip(ROPE_L3, &o, "rope.qbq"), 2 * LIN_COUNT);
    tmp_path(path, sizeof path, "rope.qbq");
    tmp_path(bad, sizeof bad, "rope_bad.qbq");
    size_t len;
    unsigned char *b = (unsigned char *)t_slurp(path, &len);
    assert_int_equal(b[8], 2); /* version 2: builds without RoPE scaling refuse it */
    uint64_t json_len = 0;
    for (int i = 7; i >= 0; i--) json_len = json_len << 8 | b[128 + i];
    char *json = (char *)b + 136;
    cJSON *root = cJSON_ParseWithLength(json, json_len);
    const cJSON *rs = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "config"), "rope_scaling");
    assert_string_equal(cJSON_GetObjectItem(rs, "type")->valuestring, "llama3");
    assert_true(cJSON_GetObjectItem(rs, "factor")->valuedouble == 8.0);
    assert_true(cJSON_GetObjectItem(rs, "low_freq_factor")->valuedouble == 1.0);
    assert_true(cJSON_GetObjectItem(rs, "high_freq_factor")->valuedouble == 4.0);
    assert_int_equal(cJSON_GetObjectItem(rs, "original_max_position_embeddings")->valueint, 8192);
    cJSON_Delete(root);
    /* hostile values under a valid checksum */
    char *t = memmem(json, json_len, "\"type\":\"llama3\"", 15);
    assert_non_null(t);
    t[13] = '4';
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "config.rope_scaling.type");
    t[13] = '3';
    char *f = memmem(json, json_len, "\"factor\":8,", 11);
    assert_non_null(f);
    f[9] = '0';
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "rope_scaling.factor");
    f[9] = '8';
    char *lo = memmem(json, json_len, "\"low_freq_factor\":1,", 20);
    assert_non_null(lo);
    lo[18] = '5';
    resign(b, len);
    spit(bad, b, len);
    expect_load_error(bad, "low_freq_factor");
    free(b);
    /* an unscaled model's checkpoint has no rope_scaling key (the layout before it existed) */
    tmp_path(p, sizeof p, "plain.qbq");
    write_rtn_checkpoint(p);
    b = (unsigned char *)t_slurp(p, &len);
    assert_int_equal(b[8], 1);
    assert_null(memmem(b + 136, len - 136, "rope_scaling", 12));
    free(b);

    /* --export gptq: config.json carries rope_scaling in transformers' form */
    quant_options_default(&o, QM_RTN, 4);
    o.group_size = 32;
    PipelineOptions po;
    PipelineReport rep;
    Model *m = quantize(ROPE_L3, &o, NULL, &rep, &po);
    tmp_path(dir, sizeof dir, "rope_export");
    assert_int_equal(quant_export_gptq(m, &rep, &po, dir, err), 0);
    check_export(m, &rep, 4, dir, "tests/fixtures/rope/llama3/model.safetensors");
    snprintf(p, sizeof p, "%s/config.json", dir);
    char *text = qb_read_file(p, NULL, err);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    rs = cJSON_GetObjectItem(j, "rope_scaling");
    assert_string_equal(cJSON_GetObjectItem(rs, "rope_type")->valuestring, "llama3");
    assert_true(cJSON_GetObjectItem(rs, "factor")->valuedouble == 8.0);
    assert_true(cJSON_GetObjectItem(rs, "low_freq_factor")->valuedouble == 1.0);
    assert_true(cJSON_GetObjectItem(rs, "high_freq_factor")->valuedouble == 4.0);
    assert_int_equal(cJSON_GetObjectItem(rs, "original_max_position_embeddings")->valueint, 8192);
    assert_true(cJSON_GetObjectItem(j, "rope_theta")->valuedouble == 500000.0);
    assert_non_null(strstr(text, "\"factor\": 8.0,")); /* a float, as transformers' validation wants */
    cJSON_Delete(j);
    free(text);
    pipeline_report_free(&rep);
    model_free(m);
    /* and an unscaled export has none */
    m = quantize(S656, &o, NULL, &rep, &po);
    tmp_path(dir, sizeof dir, "plain_export");
    assert_int_equal(quant_export_gptq(m, &rep, &po, dir, err), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    text = qb_read_file(p, NULL, err);
    assert_null(strstr(text, "rope_scaling"));
    free(text);
    pipeline_report_free(&rep);
    model_free(m);
}

static void test_cli_quantize(void **state) {
    (void)state;
    if (access(t_qbench_bin(), X_OK) != 0) skip();
    char out[512], args[1500], err[QB_ERRLEN], *text;
    tmp_path(out, sizeof out, "cli.qbq");
    snprintf(args, sizeof args,
             "quantize --model %s --method gptq --bits 4 --group-size 32 --act-order --calib tinystories-calib --nsamples 4 "
             "--seqlen 32 --seed 3 --quiet -o %s", S260, out);
    assert_int_equal(t_run_qbench(args, &text, NULL), 0);
    assert_non_null(strstr(text, "calibration: tinystories-calib, 4 windows x 32 tokens, seed 3"));
    assert_non_null(strstr(text, "blk.4.mlp.down"));
    assert_non_null(strstr(text, "bits/weight"));
    free(text);
    Model *m = quant_or_model_load(out, err);
    assert_non_null(m);
    model_free(m);
    /* usage errors exit 2 with a message */
    const char *bad[] = {"--model x --method gptq --bits 4 -o y", /* gptq without --calib */
                         "--model x --method nope --bits 4 -o y", "--model x --method rtn --bits 9 -o y",
                         "--model x --method rtn --bits 4", "--model x --method rtn --bits 4 -o y --export awq",
                         "--model /nonexistent --method rtn --bits 4 -o y", "--bogus"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "quantize %s", bad[i]);
        assert_int_equal(t_run_qbench(args, &text, NULL), 2);
        assert_non_null(strstr(text, "qbench quantize"));
        free(text);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_gptq_actorder_groups),
        cmocka_unit_test(test_roundtrip_binary_methods),
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_export_gptq),
        cmocka_unit_test(test_biases_and_untied_head),
        cmocka_unit_test(test_rope_scaling_checkpoint_and_export),
        cmocka_unit_test(test_cli_quantize),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
