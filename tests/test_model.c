/* test_model.c — the model runtime against independent oracles: karpathy's llama2.c greedy output for
 * stories260K, the float64 numpy teacher-forced references for stories260K and TinyStories-656K (HF,
 * rotate-half RoPE), the plain-torch float64 references of the RoPE-scaled fixtures (llama3, linear;
 * tests/fixtures/make_rope_fixtures.py), plus self-consistency: prefill vs decode, block hooks vs
 * forward, llama2.c vs safetensors of the same weights, the RoPE permutation vs llama2.c export.py's
 * `permute`, F16/BF16. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <sys/stat.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cJSON.h>

#include "model/model.h"
#include "model/model_internal.h"
#include "model/kernels.h"
#include "harness/cli.h"
#include "tests/common.h"

#define S260K "assets/stories260K/stories260K.bin"
#define T656K "assets/tinystories-656K"
#define ROPE_LLAMA3 "tests/fixtures/rope/llama3"
#define ROPE_LINEAR "tests/fixtures/rope/linear"

static int read_ids(const char *path, int *ids, int cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (n < cap && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* ---- oracles ------------------------------------------------------------------------------------ */

static void test_stories260k_greedy_200_matches_llama2c(void **state) {
    (void)state;
    int want[256];
    int n = read_ids("assets/stories260K/expected_greedy_200steps.ids", want, 256);
    assert_int_equal(n, 201); /* BOS + 200 generated */
    Model *m = t_load_model(S260K);
    GenerateOptions o = {.max_new_tokens = 200, .temperature = 0, .top_k = 0, .top_p = 1, .seed = 0, .stop_at_eos = 1};
    int out[200], n_out = 0;
    char err[QB_ERRLEN];
    int prompt = 1;
    assert_int_equal(model_generate(m, &prompt, 1, &o, out, &n_out, err), 0);
    assert_int_equal(n_out, 200);
    for (int i = 0; i < 200; i++) assert_int_equal(out[i], want[i + 1]);
    model_free(m);
}

/* Returns the largest |logit - reference| over the top-3 logits of every position. */
static double check_reference_logits(const char *model_path, const char *json_path) {
    Model *m = t_load_model(model_path);
    char err[QB_ERRLEN];
    size_t len;
    char *text = qb_read_file(json_path, &len, err);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    const cJSON *ids = cJSON_GetObjectItem(j, "ids"), *pos = cJSON_GetObjectItem(j, "positions");
    int n = cJSON_GetArraySize(ids), V = m->cfg.vocab_size;
    assert_int_equal(n, 64);
    assert_int_equal(cJSON_GetArraySize(pos), 64);
    int tok[64];
    for (int i = 0; i < n; i++) tok[i] = cJSON_GetArrayItem(ids, i)->valueint;
    float *lg = t_prefill_logits(m, tok, n);
    double sum_nll = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *p = cJSON_GetArrayItem(pos, i);
        const float *l = lg + (size_t)i * V;
        /* top-3 of our logits, by value */
        int top[3] = {-1, -1, -1};
        for (int k = 0; k < 3; k++)
            for (int v = 0; v < V; v++) {
                if (v == top[0] || v == top[1]) continue;
                if (top[k] < 0 || l[v] > l[top[k]]) top[k] = v;
            }
        double mx = l[top[0]], se = 0;
        for (int v = 0; v < V; v++) se += exp((double)l[v] - mx);
        double lse = mx + log(se);
        const cJSON *ti = cJSON_GetObjectItem(p, "top3_ids"), *tl = cJSON_GetObjectItem(p, "top3_logits");
        for (int k = 0; k < 3; k++) {
            assert_int_equal(top[k], cJSON_GetArrayItem(ti, k)->valueint);
            double dev = fabs(l[top[k]] - cJSON_GetArrayItem(tl, k)->valuedouble);
            assert_true(dev < 1e-4);
            if (dev > worst) worst = dev;
        }
        assert_true(fabs(lse - cJSON_GetObjectItem(p, "logsumexp")->valuedouble) < 1e-4);
        const cJSON *nll = cJSON_GetObjectItem(p, "nll_next");
        if (i + 1 < n && cJSON_IsNumber(nll)) {
            double mine = lse - l[tok[i + 1]];
            assert_true(fabs(mine - nll->valuedouble) < 1e-4);
            sum_nll += mine;
        }
    }
    assert_true(fabs(sum_nll - cJSON_GetObjectItem(j, "sum_nll_next")->valuedouble) < 1e-3);
    free(lg);
    cJSON_Delete(j);
    model_free(m);
    return worst;
}

static void test_reference_logits_stories260k(void **state) {
    (void)state;
    assert_true(check_reference_logits(S260K, "assets/stories260K/reference_logits_64.json") < 1e-4);
}

static void test_reference_logits_tinystories656k(void **state) {
    (void)state;
    assert_true(check_reference_logits(T656K, "assets/tinystories-656K/reference_logits_64.json") < 1e-4);
}

/* ---- RoPE scaling: tests/fixtures/make_rope_fixtures.py's plain-torch float64 forward ---------------- */

typedef struct { cJSON *j; int n, vocab; int ids[64]; float *logits; } RopeRef;

static void rope_ref_load(const char *dir, RopeRef *r) {
    char p[256], err[QB_ERRLEN];
    size_t len;
    snprintf(p, sizeof p, "%s/reference.json", dir);
    char *text = qb_read_file(p, &len, err);
    assert_non_null(text);
    r->j = cJSON_Parse(text);
    free(text);
    assert_non_null(r->j);
    const cJSON *ids = cJSON_GetObjectItem(r->j, "ids");
    r->n = cJSON_GetObjectItem(r->j, "n")->valueint;
    r->vocab = cJSON_GetObjectItem(r->j, "vocab")->valueint;
    assert_int_equal(r->n, 40);
    assert_int_equal(cJSON_GetArraySize(ids), r->n);
    for (int i = 0; i < r->n; i++) r->ids[i] = cJSON_GetArrayItem(ids, i)->valueint;
    snprintf(p, sizeof p, "%s/%s", dir, cJSON_GetObjectItem(r->j, "logits_file")->valuestring);
    unsigned char *raw = (unsigned char *)qb_read_file(p, &len, err);
    assert_non_null(raw);
    assert_int_equal(len, (size_t)r->n * r->vocab * 4);
    r->logits = malloc(len);
    for (size_t i = 0; i < len / 4; i++) { /* little-endian float32, whatever the host */
        uint32_t b = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 | (uint32_t)raw[4 * i + 2] << 16 |
                     (uint32_t)raw[4 * i + 3] << 24;
        memcpy(&r->logits[i], &b, 4);
    }
    free(raw);
}

static void rope_ref_free(RopeRef *r) {
    cJSON_Delete(r->j);
    free(r->logits);
}

/* Loads a fixture, checks its inv_freq against transformers' float32 table (the script wrote it) and
 * its teacher-forced logits against the reference; returns the largest logit difference. Dropping the
 * scaling must move the logits far past the tolerance, or the comparison would prove nothing. */
static double check_rope_fixture(const char *dir, RopeScalingType type) {
    Model *m = t_load_model(dir);
    assert_int_equal(m->cfg.rope_scaling.type, type);
    RopeRef r;
    rope_ref_load(dir, &r);
    assert_int_equal(r.vocab, m->cfg.vocab_size);
    const cJSON *hf = cJSON_GetObjectItem(r.j, "inv_freq_hf");
    int half = m->cfg.head_dim / 2;
    assert_int_equal(cJSON_GetArraySize(hf), half);
    double inv[64], worst_inv = 0;
    model_rope_inv_freq(&m->cfg, inv);
    for (int i = 0; i < half; i++) {
        double want = cJSON_GetArrayItem(hf, i)->valuedouble;
        worst_inv = fmax(worst_inv, fabs(inv[i] - want) / want);
    }
    assert_true(worst_inv < 1e-6); /* float32 rounding of transformers' table, nothing more */
    float *lg = t_prefill_logits(m, r.ids, r.n);
    double d = max_abs_diff(lg, r.logits, (size_t)r.n * r.vocab);
    print_message("%s: inv_freq max rel diff vs transformers %.2g; logits max |diff| vs reference %.3g\n", dir,
                  worst_inv, d);
    assert_true(d < 1e-4);
    m->cfg.rope_scaling.type = ROPE_SCALING_NONE;
    float *plain = t_prefill_logits(m, r.ids, r.n);
    assert_true(max_abs_diff(plain, r.logits, (size_t)r.n * r.vocab) > 1e-2);
    free(lg);
    free(plain);
    rope_ref_free(&r);
    model_free(m);
    return d;
}

static void test_rope_scaling_llama3_matches_torch_reference(void **state) {
    (void)state;
    Model *m = t_load_model(ROPE_LLAMA3);
    const RopeScaling *rs = &m->cfg.rope_scaling;
    assert_true(rs->factor == 8.0f && rs->low_freq_factor == 1.0f && rs->high_freq_factor == 4.0f);
    assert_int_equal(rs->original_max_position_embeddings, 8192);
    assert_true(m->cfg.rope_theta == 500000.0f);
    /* the script put all three bands into this head_dim: kept, blended, divided by 8 */
    RopeRef r;
    rope_ref_load(ROPE_LLAMA3, &r);
    const cJSON *bands = cJSON_GetObjectItem(r.j, "bands");
    double inv[8];
    model_rope_inv_freq(&m->cfg, inv);
    int seen[3] = {0};
    for (int i = 0; i < 8; i++) {
        const char *b = cJSON_GetArrayItem(bands, i)->valuestring;
        double plain = pow(500000.0, -2.0 * i / 16), ratio = inv[i] / plain;
        if (!strcmp(b, "high")) { seen[0]++; assert_true(ratio == 1.0); }
        else if (!strcmp(b, "low")) { seen[2]++; assert_true(fabs(ratio - 0.125) < 1e-15); }
        else { seen[1]++; assert_true(ratio > 0.125 && ratio < 1.0); }
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    rope_ref_free(&r);
    model_free(m);
    assert_true(check_rope_fixture(ROPE_LLAMA3, ROPE_SCALING_LLAMA3) < 1e-4);
}

static void test_rope_scaling_linear_matches_torch_reference(void **state) {
    (void)state;
    Model *m = t_load_model(ROPE_LINEAR); /* the older {"type": "linear"} spelling */
    assert_true(m->cfg.rope_scaling.factor == 4.0f);
    assert_false(m->cfg.tied_embeddings);
    model_free(m);
    assert_true(check_rope_fixture(ROPE_LINEAR, ROPE_SCALING_LINEAR) < 1e-4);
}

/* Every way a model leaves qbench keeps the scaling: HF directory (convert), synth; llama2.c cannot. */
static char tmpdir[64];

static void test_rope_scaling_survives_save_and_synth(void **state) {
    (void)state;
    char err[QB_ERRLEN], dir[128], p[160];
    Model *a = t_load_model(ROPE_LLAMA3);
    snprintf(dir, sizeof dir, "%s/rope_saved", tmpdir);
    assert_int_equal(model_save_safetensors(a, dir, err), 0);
    Model *b = t_load_model(dir);
    assert_memory_equal(&b->cfg.rope_scaling, &a->cfg.rope_scaling, sizeof(RopeScaling));
    assert_true(b->cfg.rope_theta == a->cfg.rope_theta);
    RopeRef r;
    rope_ref_load(ROPE_LLAMA3, &r);
    float *la = t_prefill_logits(a, r.ids, r.n), *lb = t_prefill_logits(b, r.ids, r.n);
    assert_memory_equal(la, lb, sizeof(float) * (size_t)r.n * r.vocab);
    free(la); free(lb);
    rope_ref_free(&r);
    /* HF's own form, factors as floats: what transformers reads without a warning */
    snprintf(p, sizeof p, "%s/config.json", dir);
    char *text = qb_read_file(p, NULL, err);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    const cJSON *rs = cJSON_GetObjectItem(j, "rope_scaling");
    assert_string_equal(cJSON_GetObjectItem(rs, "rope_type")->valuestring, "llama3");
    assert_true(cJSON_GetObjectItem(rs, "factor")->valuedouble == 8.0);
    assert_true(cJSON_GetObjectItem(rs, "low_freq_factor")->valuedouble == 1.0);
    assert_true(cJSON_GetObjectItem(rs, "high_freq_factor")->valuedouble == 4.0);
    assert_int_equal(cJSON_GetObjectItem(rs, "original_max_position_embeddings")->valueint, 8192);
    assert_non_null(strstr(text, "\"factor\": 8.0,"));
    assert_non_null(strstr(text, "\"original_max_position_embeddings\": 8192}"));
    cJSON_Delete(j);
    free(text);
    model_free(b);
    model_free(a);
    /* an unscaled model's config.json has no rope_scaling key at all */
    Model *s = t_load_model(S260K);
    snprintf(dir, sizeof dir, "%s/plain_saved", tmpdir);
    assert_int_equal(model_save_safetensors(s, dir, err), 0);
    model_free(s);
    snprintf(p, sizeof p, "%s/config.json", dir);
    text = qb_read_file(p, NULL, err);
    assert_null(strstr(text, "rope_scaling"));
    free(text);
    /* synth: the HF directory carries it, the llama2.c format refuses it */
    ModelConfig c = {.dim = 32, .hidden_dim = 48, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .vocab_size = 40,
                     .seq_len = 64, .rope_theta = 500000.0f, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2,
                     .rope_scaling = {ROPE_SCALING_LINEAR, 2.5f, 0, 0, 0}};
    snprintf(dir, sizeof dir, "%s/rope_synth", tmpdir);
    assert_int_equal(model_synth_write(&c, 4, SYNTH_SAFETENSORS, dir, err), 0);
    Model *y = t_load_model(dir);
    assert_int_equal(y->cfg.rope_scaling.type, ROPE_SCALING_LINEAR);
    assert_true(y->cfg.rope_scaling.factor == 2.5f);
    model_free(y);
    snprintf(p, sizeof p, "%s/rope_synth.bin", tmpdir);
    assert_int_equal(model_synth_write(&c, 4, SYNTH_LLAMA2C, p, err), -1);
    assert_non_null(strstr(err, "RoPE scaling"));
    assert_int_equal(access(p, F_OK), -1);
    /* bad values are refused however the config was made */
    c.rope_scaling.factor = 0;
    assert_int_equal(model_synth_write(&c, 4, SYNTH_SAFETENSORS, dir, err), -1);
    assert_non_null(strstr(err, "rope_scaling.factor"));
    c.rope_scaling = (RopeScaling){ROPE_SCALING_LLAMA3, 8, 4, 1, 8192};
    assert_int_equal(model_synth_write(&c, 4, SYNTH_SAFETENSORS, dir, err), -1);
    assert_non_null(strstr(err, "low_freq_factor"));
}

static void test_tinystories656k_greedy_first_59(void **state) {
    (void)state;
    int want[128];
    int n = read_ids("assets/tinystories-656K/expected_greedy_100steps.ids", want, 128);
    assert_int_equal(n, 101);
    Model *m = t_load_model(T656K);
    assert_int_equal(m->cfg.eos_id, 2);
    GenerateOptions o = {.max_new_tokens = 59, .temperature = 0, .top_p = 1, .stop_at_eos = 1};
    int out[59], n_out = 0, prompt = 1;
    char err[QB_ERRLEN];
    assert_int_equal(model_generate(m, &prompt, 1, &o, out, &n_out, err), 0);
    assert_int_equal(n_out, 59);
    for (int i = 0; i < 59; i++) assert_int_equal(out[i], want[i + 1]);
    model_free(m);
}

/* Parameter counts by hand: stories260K's file is 28 + 4*264128 bytes, of which 2 * 512 * 4 floats
 * are freq_cis tables: 260032 parameters. SOURCES.md: TinyStories-656K has 656,000 parameters. */
static void test_param_counts(void **state) {
    (void)state;
    Model *m = t_load_model(S260K);
    assert_int_equal(model_total_params(m), 264128 - 2 * 512 * 4);
    assert_int_equal(model_linear_params(m), 5 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 64 * 172));
    assert_string_equal(m->sha256, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
    model_free(m);
    m = t_load_model(T656K);
    assert_int_equal(model_total_params(m), 656000);
    assert_true(m->classifier == m->tok_emb);
    assert_string_equal(m->sha256, "187d0d5e8360d9625e40e0b35ec57d1ef0eea1a60ddcf09412246bed3484852f");
    model_free(m);
    assert_string_equal(linear_kind_name(LIN_Q), "attn.q");
    assert_string_equal(linear_kind_name(LIN_DOWN), "mlp.down");
}

/* ---- self-consistency ------------------------------------------------------------------------------ */

/* 300 positions: one prefill (several attention row blocks), token-by-token decode, and a prefill split
 * in two (the second half attends to cached positions) must all give the same logits. Returns the
 * largest difference from the one-shot prefill. */
static double check_prefill_vs_decode(const char *path) {
    Model *m = t_load_model(path);
    int n = 300, V = m->cfg.vocab_size;
    int tok[300];
    QbRng r;
    qb_rng_seed(&r, 7);
    tok[0] = 1;
    for (int i = 1; i < n; i++) tok[i] = 3 + (int)qb_rng_below(&r, (uint64_t)V - 3);
    float *full = t_prefill_logits(m, tok, n);
    char err[QB_ERRLEN];
    ModelState *s = model_state_new(m, n, n);
    float *step = malloc(sizeof(float) * (size_t)n * V);
    for (int i = 0; i < n; i++) assert_int_equal(model_forward(m, s, &tok[i], 1, i, step + (size_t)i * V, err), 0);
    double d = max_abs_diff(full, step, (size_t)n * V);
    assert_true(d < 1e-4);
    assert_int_equal(model_forward(m, s, tok, 170, 0, step, err), 0);
    assert_int_equal(model_forward(m, s, tok + 170, 130, 170, step + (size_t)170 * V, err), 0);
    double d2 = max_abs_diff(full, step, (size_t)n * V);
    assert_true(d2 < 1e-4);
    model_state_free(s);
    free(full);
    free(step);
    model_free(m);
    return d > d2 ? d : d2;
}

static void test_prefill_equals_decode(void **state) {
    (void)state;
    assert_true(check_prefill_vs_decode(S260K) < 1e-4);
    assert_true(check_prefill_vs_decode(T656K) < 1e-4);
    assert_true(check_prefill_vs_decode(ROPE_LLAMA3) < 1e-4); /* scaled table, cached positions */
}

typedef struct { int calls[LIN_COUNT]; const float *qkv_ptr, *gu_ptr; int shared_ok; } TapLog;

static void tap_log(void *ctx, int layer, LinearKind kind, const float *x, int n, int cols) {
    TapLog *t = ctx;
    (void)n; (void)cols;
    if (layer == 0) t->calls[kind]++;
    if (kind == LIN_Q) t->qkv_ptr = x;
    if ((kind == LIN_K || kind == LIN_V) && x != t->qkv_ptr) t->shared_ok = 0;
    if (kind == LIN_GATE) t->gu_ptr = x;
    if (kind == LIN_UP && x != t->gu_ptr) t->shared_ok = 0;
}

static void test_block_chain_equals_forward(void **state) {
    (void)state;
    Model *m = t_load_model(S260K);
    int n = 40, V = m->cfg.vocab_size, D = m->cfg.dim, tok[40];
    for (int i = 0; i < n; i++) tok[i] = (i * 37 + 1) % V;
    float *want = t_prefill_logits(m, tok, n);
    ModelState *s = model_state_new(m, n, n);
    float *x = malloc(sizeof(float) * (size_t)n * D), *got = malloc(sizeof(float) * (size_t)n * V);
    char err[QB_ERRLEN];
    TapLog log = {.shared_ok = 1};
    model_embed(m, tok, n, x);
    for (int l = 0; l < m->cfg.n_layers; l++) assert_int_equal(model_block_forward(m, s, l, x, n, tap_log, &log, err), 0);
    model_head(m, x, n, got);
    assert_true(max_abs_diff(want, got, (size_t)n * V) < 1e-5);
    for (int k = 0; k < LIN_COUNT; k++) assert_int_equal(log.calls[k], 1);
    assert_true(log.shared_ok);
    assert_int_equal(model_block_forward(m, s, m->cfg.n_layers, x, n, NULL, NULL, err), -1);
    assert_non_null(strstr(err, "block"));
    model_state_free(s);
    free(x); free(got); free(want);
    model_free(m);
}

static void test_convert_to_safetensors_same_logits(void **state) {
    (void)state;
    Model *a = t_load_model(S260K);
    char err[QB_ERRLEN], dir[128];
    snprintf(dir, sizeof dir, "%s/conv260k", tmpdir);
    assert_int_equal(model_save_safetensors(a, dir, err), 0);
    Model *b = t_load_model(dir);
    assert_int_equal(b->cfg.n_kv_heads, 4);
    assert_true(b->cfg.tied_embeddings);
    int tok[64];
    for (int i = 0; i < 64; i++) tok[i] = (i * 101 + 1) % 512;
    float *la = t_prefill_logits(a, tok, 64), *lb = t_prefill_logits(b, tok, 64);
    assert_true(max_abs_diff(la, lb, 64 * 512) < 1e-5);
    free(la); free(lb);
    model_free(a); model_free(b);
}

/* llama2.c export.py: permute(w) = w.view(heads, hd/2, 2, cols).transpose(1, 2).reshape(rows, cols)
 * turns interleaved rows into HF rotate-half rows; written here straight from that definition. */
static void test_rope_permutation_matches_export_py(void **state) {
    (void)state;
    int heads = 3, hd = 6, cols = 2, rows = heads * hd;
    float w[36], hf[36], back[36], want[36];
    for (int i = 0; i < rows * cols; i++) w[i] = (float)i;
    for (int h = 0; h < heads; h++)
        for (int a = 0; a < hd / 2; a++)     /* view index (h, a, b) → transposed (h, b, a) */
            for (int b = 0; b < 2; b++)
                for (int c = 0; c < cols; c++)
                    want[((h * 2 + b) * (hd / 2) + a) * cols + c] = w[((h * (hd / 2) + a) * 2 + b) * cols + c];
    rope_rows_interleaved_to_hf(w, hf, heads, hd, cols);
    assert_memory_equal(hf, want, sizeof want);
    rope_rows_hf_to_interleaved(hf, back, heads, hd, cols);
    assert_memory_equal(back, w, sizeof w);
}

static void test_synthetic_gqa_both_formats_identical(void **state) {
    (void)state;
    ModelConfig c = {.dim = 48, .hidden_dim = 80, .n_layers = 2, .n_heads = 6, .n_kv_heads = 2, .vocab_size = 97,
                     .seq_len = 64, .tied_embeddings = 0, .bos_id = 1, .eos_id = 2};
    char err[QB_ERRLEN], bin[128], dir[128];
    snprintf(bin, sizeof bin, "%s/syn.bin", tmpdir);
    snprintf(dir, sizeof dir, "%s/syn_hf", tmpdir);
    assert_int_equal(model_synth_write(&c, 5, SYNTH_LLAMA2C, bin, err), 0);
    assert_int_equal(model_synth_write(&c, 5, SYNTH_SAFETENSORS, dir, err), 0);
    Model *a = t_load_model(bin), *b = t_load_model(dir);
    assert_false(a->cfg.tied_embeddings);
    assert_false(b->cfg.tied_embeddings);
    assert_int_equal(b->cfg.n_kv_heads, 2);
    assert_int_equal(model_total_params(a), model_total_params(b));
    int tok[50];
    for (int i = 0; i < 50; i++) tok[i] = (i * 13 + 1) % 97;
    float *la = t_prefill_logits(a, tok, 50), *lb = t_prefill_logits(b, tok, 50);
    assert_true(max_abs_diff(la, lb, 50 * 97) < 1e-6);
    /* a different seed is a different model */
    assert_int_equal(model_synth_write(&c, 6, SYNTH_LLAMA2C, bin, err), 0);
    Model *d = t_load_model(bin);
    float *ld = t_prefill_logits(d, tok, 50);
    assert_true(max_abs_diff(la, ld, 50 * 97) > 1e-3);
    free(la); free(lb); free(ld);
    model_free(a); model_free(b); model_free(d);
}

/* A Qwen2-style model (q/k/v biases, head_dim != dim/heads) round-trips through safetensors. */
static void test_qwen2_biases_roundtrip(void **state) {
    (void)state;
    ModelConfig c = {.dim = 32, .hidden_dim = 40, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
                     .vocab_size = 50, .seq_len = 32, .tied_embeddings = 1, .qkv_bias = 1, .bos_id = -1, .eos_id = -1};
    char err[QB_ERRLEN], dir[128];
    snprintf(dir, sizeof dir, "%s/qwen", tmpdir);
    assert_int_equal(model_synth_write(&c, 1, SYNTH_SAFETENSORS, dir, err), 0);
    Model *a = t_load_model(dir);
    assert_string_equal(a->cfg.arch, "Qwen2ForCausalLM");
    assert_true(a->cfg.qkv_bias);
    assert_non_null(a->blocks[1].lin[LIN_K].bias);
    assert_null(a->blocks[1].lin[LIN_O].bias);
    assert_int_equal(a->blocks[0].lin[LIN_Q].rows, 64);
    assert_int_equal(a->blocks[0].lin[LIN_O].cols, 64);
    char dir2[128];
    snprintf(dir2, sizeof dir2, "%s/qwen2", tmpdir);
    assert_int_equal(model_save_safetensors(a, dir2, err), 0);
    Model *b = t_load_model(dir2);
    int tok[20];
    for (int i = 0; i < 20; i++) tok[i] = i * 2;
    float *la = t_prefill_logits(a, tok, 20), *lb = t_prefill_logits(b, tok, 20);
    assert_true(max_abs_diff(la, lb, 20 * 50) == 0.0);
    /* biases matter: zeroing them changes the logits */
    for (int l = 0; l < 2; l++)
        for (int k = LIN_Q; k <= LIN_V; k++)
            memset(b->blocks[l].lin[k].bias, 0, sizeof(float) * (size_t)b->blocks[l].lin[k].rows);
    float *lz = t_prefill_logits(b, tok, 20);
    assert_true(max_abs_diff(la, lz, 20 * 50) > 1e-4);
    free(la); free(lb); free(lz);
    model_free(a); model_free(b);
}

static void test_sampling_seeded_and_greedy_limits(void **state) {
    (void)state;
    Model *m = t_load_model(S260K);
    char err[QB_ERRLEN];
    int prompt[3] = {1, 403, 407}, a[80], b[80], g[80], na, nb, ng;
    GenerateOptions o = {.max_new_tokens = 80, .temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42, .stop_at_eos = 0};
    assert_int_equal(model_generate(m, prompt, 3, &o, a, &na, err), 0);
    assert_int_equal(model_generate(m, prompt, 3, &o, b, &nb, err), 0);
    assert_int_equal(na, 80);
    assert_int_equal(nb, 80);
    assert_memory_equal(a, b, sizeof a);
    o.seed = 43;
    assert_int_equal(model_generate(m, prompt, 3, &o, b, &nb, err), 0);
    assert_true(memcmp(a, b, sizeof a) != 0);
    GenerateOptions greedy = {.max_new_tokens = 80, .temperature = 0, .top_p = 1, .stop_at_eos = 0};
    assert_int_equal(model_generate(m, prompt, 3, &greedy, g, &ng, err), 0);
    /* top-k 1 and a tiny top-p leave only the argmax: sampling must then equal greedy */
    o.top_k = 1;
    assert_int_equal(model_generate(m, prompt, 3, &o, b, &nb, err), 0);
    assert_memory_equal(b, g, sizeof g);
    o.top_k = 0; o.top_p = 1e-6f; o.temperature = 0.8f;
    assert_int_equal(model_generate(m, prompt, 3, &o, b, &nb, err), 0);
    assert_memory_equal(b, g, sizeof g);
    /* top-k 5: every sampled token is among the 5 best logits at its step */
    o.top_k = 5; o.top_p = 1; o.temperature = 1.5f; o.max_new_tokens = 30;
    assert_int_equal(model_generate(m, prompt, 3, &o, b, &nb, err), 0);
    int seq[40];
    memcpy(seq, prompt, sizeof prompt);
    memcpy(seq + 3, b, sizeof(int) * 30);
    float *lg = t_prefill_logits(m, seq, 33);
    for (int i = 0; i < 30; i++) {
        const float *l = lg + (size_t)(2 + i) * 512;
        int better = 0;
        for (int v = 0; v < 512; v++) better += l[v] > l[b[i]];
        assert_true(better < 5);
    }
    free(lg);
    /* a zeroed top_p means off, like top_k 0: same tokens as top_p 1 with the same seed */
    o.top_k = 0; o.top_p = 0; o.temperature = 1.0f; o.seed = 42; o.max_new_tokens = 80;
    assert_int_equal(model_generate(m, prompt, 3, &o, b, &nb, err), 0);
    assert_memory_equal(a, b, sizeof a);
    /* bad options */
    o.top_p = 1.5f;
    assert_int_equal(model_generate(m, prompt, 3, &o, b, &nb, err), -1);
    assert_non_null(strstr(err, "top_p"));
    model_free(m);
}

static void test_generate_stops_at_eos_and_context(void **state) {
    (void)state;
    Model *m = t_load_model(T656K);
    char err[QB_ERRLEN];
    /* greedy from BOS: the reference path never emits EOS in 100 steps, so make EOS the token the model
     * wants at step 5 and check generation stops before writing it */
    int want[128];
    read_ids("assets/tinystories-656K/expected_greedy_100steps.ids", want, 128);
    int saved = m->cfg.eos_id;
    m->cfg.eos_id = want[6];
    GenerateOptions o = {.max_new_tokens = 50, .temperature = 0, .top_p = 1, .stop_at_eos = 1};
    int out[600], n = 0, prompt = 1;
    assert_int_equal(model_generate(m, &prompt, 1, &o, out, &n, err), 0);
    assert_int_equal(n, 5);
    m->cfg.eos_id = saved;
    /* the context ends at seq_len positions: 511 prompt positions leave room for one more token */
    o.max_new_tokens = 600;
    int *longp = calloc(512, sizeof(int));
    for (int i = 0; i < 511; i++) longp[i] = want[i % 60];
    assert_int_equal(model_generate(m, longp, 511, &o, out, &n, err), 0);
    assert_true(n <= 2);
    assert_int_equal(model_generate(m, longp, 0, &o, out, &n, err), -1);
    free(longp);
    model_free(m);
}

static void test_forward_rejects_bad_calls(void **state) {
    (void)state;
    Model *m = t_load_model(S260K);
    ModelState *s = model_state_new(m, 16, 8);
    float lg[512 * 16];
    int tok[16] = {1, 2, 3};
    char err[QB_ERRLEN];
    assert_int_equal(model_forward(m, s, tok, 9, 0, lg, err), -1);        /* n > max_batch */
    assert_non_null(strstr(err, "max_batch"));
    assert_int_equal(model_forward(m, s, tok, 4, 14, lg, err), -1);       /* past max_seq */
    tok[2] = 512;
    assert_int_equal(model_forward(m, s, tok, 3, 0, lg, err), -1);        /* token out of vocab */
    assert_non_null(strstr(err, "512"));
    assert_non_null(strstr(err, "stories260K.bin"));
    tok[2] = -1;
    assert_int_equal(model_forward(m, s, tok, 3, 0, NULL, err), -1);
    model_state_free(s);
    model_free(m);
}

/* The private mapping is copy-on-write: overwriting a weight changes the logits, not the file. */
static void test_weights_writable_copy_on_write(void **state) {
    (void)state;
    Model *m = t_load_model(S260K);
    int tok[8] = {1, 403, 407, 261, 378, 432, 383, 286};
    float *before = t_prefill_logits(m, tok, 8);
    Linear *w = &m->blocks[2].lin[LIN_UP];
    for (int i = 0; i < w->rows * w->cols; i++) w->w[i] = 0.0f;
    float *after = t_prefill_logits(m, tok, 8);
    assert_true(max_abs_diff(before, after, 8 * 512) > 1e-3);
    model_free(m);
    char hex[65], err[QB_ERRLEN];
    assert_int_equal(qb_sha256_file(S260K, hex, err), 0);
    assert_string_equal(hex, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
    free(before); free(after);
}

/* fast_expf (the vectorizable exp inside softmax and SiLU) against libm's double exp */
static void test_fast_expf_accuracy(void **state) {
    (void)state;
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        double e = exp((double)x);
        worst = fmax(worst, fabs(fast_expf(x) - e) / e);
    }
    assert_true(worst < 1e-6);
    assert_true(fast_expf(0.0f) == 1.0f);
    assert_true(fast_expf(-1000.0f) < 1e-37f && fast_expf(-1000.0f) >= 0.0f); /* clamped, no NaN */
}

/* Large enough that every parallel path runs (split gemms, attention tasks): the same thread count
 * gives the same bits; 1 and 2 threads agree to rounding. */
static void test_threads_deterministic(void **state) {
    (void)state;
    ModelConfig c = {.dim = 256, .hidden_dim = 512, .n_layers = 1, .n_heads = 4, .n_kv_heads = 2, .vocab_size = 1000,
                     .seq_len = 640, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    char err[QB_ERRLEN], bin[128];
    snprintf(bin, sizeof bin, "%s/threads.bin", tmpdir);
    assert_int_equal(model_synth_write(&c, 9, SYNTH_LLAMA2C, bin, err), 0);
    Model *m = t_load_model(bin);
    int n = 600, tok[600];
    for (int i = 0; i < n; i++) tok[i] = (i * 31 + 1) % 1000;
    qb_set_threads(2);
    float *a = t_prefill_logits(m, tok, n), *b = t_prefill_logits(m, tok, n);
    assert_memory_equal(a, b, sizeof(float) * (size_t)n * 1000);
    qb_set_threads(1);
    float *one = t_prefill_logits(m, tok, n);
    qb_set_threads(0);
    assert_true(max_abs_diff(a, one, (size_t)n * 1000) < 1e-5);
    free(a); free(b); free(one);
    model_free(m);
}

/* ---- CLI: info / synth / convert through bin/qbench (QBENCH_BIN, set by `make test`) ---------------- */

static int run_cli(const char *args, const char *out_file) {
    char *o;
    int rc = t_run_qbench(args, &o, NULL);
    t_write_text(out_file, o);
    free(o);
    return rc;
}

static void test_cli_info_synth_convert(void **state) {
    (void)state;
    if (!getenv("QBENCH_BIN")) { print_message("QBENCH_BIN not set: CLI test skipped\n"); skip(); }
    char out[128], args[512], err[QB_ERRLEN];
    snprintf(out, sizeof out, "%s/cli.out", tmpdir);
    assert_int_equal(run_cli("info " S260K " --json", out), 0);
    size_t len;
    char *text = qb_read_file(out, &len, err);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    assert_int_equal((int)cJSON_GetObjectItem(j, "total_params")->valuedouble, 260032);
    assert_int_equal((int)cJSON_GetObjectItem(j, "n_kv_heads")->valuedouble, 4);
    assert_string_equal(cJSON_GetObjectItem(j, "sha256")->valuestring,
                        "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "rope_scaling")));
    cJSON_Delete(j);
    assert_int_equal(run_cli("info " ROPE_LLAMA3 " --json", out), 0);
    text = qb_read_file(out, &len, err);
    j = cJSON_Parse(text);
    free(text);
    const cJSON *rs = cJSON_GetObjectItem(j, "rope_scaling");
    assert_string_equal(cJSON_GetObjectItem(rs, "rope_type")->valuestring, "llama3"); /* as config.json has it */
    assert_true(cJSON_GetObjectItem(rs, "factor")->valuedouble == 8.0);
    assert_int_equal(cJSON_GetObjectItem(rs, "original_max_position_embeddings")->valueint, 8192);
    cJSON_Delete(j);
    assert_int_equal(run_cli("info " ROPE_LINEAR, out), 0);
    text = qb_read_file(out, &len, err);
    assert_non_null(strstr(text, "rope_scaling      linear (factor 4)"));
    free(text);
    assert_int_equal(run_cli("info " T656K, out), 0);
    text = qb_read_file(out, &len, err);
    assert_non_null(strstr(text, "LlamaForCausalLM"));
    assert_non_null(strstr(text, "656000"));
    free(text);
    /* errors: exit 2 with the file named on stderr */
    assert_int_equal(run_cli("info /no/such/model.bin", out), 2);
    text = qb_read_file(out, &len, err);
    assert_non_null(strstr(text, "/no/such/model.bin"));
    free(text);
    assert_int_equal(run_cli("synth --dim abc -o /tmp/x", out), 2);
    assert_int_equal(run_cli("synth --dim 30 --heads 4 -o /tmp/x", out), 2);
    /* synth (GQA, untied) in both formats → the same logits; convert → the same logits as the source */
    char bin[128], dir[128], conv[128];
    snprintf(bin, sizeof bin, "%s/cli_syn.bin", tmpdir);
    snprintf(dir, sizeof dir, "%s/cli_syn_hf", tmpdir);
    snprintf(conv, sizeof conv, "%s/cli_conv", tmpdir);
    const char *shape = "--dim 32 --hidden 48 --layers 2 --heads 4 --kv-heads 2 --vocab 40 --seq-len 16 --seed 3 --untied";
    snprintf(args, sizeof args, "synth --format llama2c %s -o %s", shape, bin);
    assert_int_equal(run_cli(args, out), 0);
    snprintf(args, sizeof args, "synth --format hf %s -o %s", shape, dir);
    assert_int_equal(run_cli(args, out), 0);
    snprintf(args, sizeof args, "convert %s -o %s", bin, conv);
    assert_int_equal(run_cli(args, out), 0);
    Model *a = t_load_model(bin), *b = t_load_model(dir), *c = t_load_model(conv);
    assert_int_equal(a->cfg.n_kv_heads, 2);
    assert_false(a->cfg.tied_embeddings);
    int tok[16];
    for (int i = 0; i < 16; i++) tok[i] = (i * 7 + 1) % 40;
    float *la = t_prefill_logits(a, tok, 16), *lb = t_prefill_logits(b, tok, 16), *lc = t_prefill_logits(c, tok, 16);
    assert_true(max_abs_diff(la, lb, 16 * 40) < 1e-6);
    assert_true(max_abs_diff(la, lc, 16 * 40) < 1e-6);
    free(la); free(lb); free(lc);
    model_free(a); model_free(b); model_free(c);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qbench_test_model_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return t_rm_rf(tmpdir);
}

/* The weight file's sha256 comes from the hash cache while the file is unchanged, and is computed
 * again when it changes (hash_cache.c). The expected hash is qb_sha256_file's (reads the file). */
static void test_hash_cache(void **state) {
    (void)state;
    char dir[256], path[300], cache[300], err[QB_ERRLEN], want[65], got[65];
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qb_hashcache"), 0);
    snprintf(path, sizeof path, "%s/m.bin", dir);
    snprintf(cache, sizeof cache, "%s/cache/sha256-cache.tsv", dir);
    ModelConfig c = {.dim = 16, .hidden_dim = 32, .n_layers = 1, .n_heads = 2, .n_kv_heads = 2, .vocab_size = 40,
                     .seq_len = 8, .tied_embeddings = 1, .bos_id = 1, .eos_id = 2};
    assert_int_equal(model_synth_write(&c, 3, SYNTH_LLAMA2C, path, err), 0);
    char cdir[300];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    setenv("QBENCH_CACHE_DIR", cdir, 1);
    unsetenv("QBENCH_HASH_CACHE");
    assert_int_equal(qb_sha256_file(path, want, err), 0);
    Model *m = model_load(path, err);
    assert_non_null(m);
    assert_string_equal(m->sha256, want);
    model_free(m);
    /* one line, keyed by the file: a changed hash in it is what the next load reports */
    size_t len;
    char *text = t_slurp(cache, &len);
    assert_non_null(text);
    assert_int_equal(strncmp(text, want, 64), 0);
    assert_non_null(strstr(text, "/m.bin\n"));
    memset(text, 'a', 64);
    t_write_file(cache, text, len);
    free(text);
    m = model_load(path, err);
    assert_non_null(m);
    memset(got, 'a', 64);
    got[64] = 0;
    assert_string_equal(m->sha256, got);
    model_free(m);
    /* QBENCH_HASH_CACHE=0: hashed, whatever the cache says */
    setenv("QBENCH_HASH_CACHE", "0", 1);
    m = model_load(path, err);
    assert_string_equal(m->sha256, want);
    model_free(m);
    unsetenv("QBENCH_HASH_CACHE");
    /* the file changes (same size): its ctime moves, the cache misses, the new hash is computed.
     * The change must land on a later file-system timestamp than the cached one (they tick coarsely):
     * wait until a probe file's ctime is past the model's, an observed condition, not a fixed sleep. */
    struct stat st0, sp;
    assert_int_equal(stat(path, &st0), 0);
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/probe", dir);
    for (long i = 0;; i++) {
        t_write_text(probe, "p");
        assert_int_equal(stat(probe, &sp), 0);
        if (sp.st_ctim.tv_sec > st0.st_ctim.tv_sec ||
            (sp.st_ctim.tv_sec == st0.st_ctim.tv_sec && sp.st_ctim.tv_nsec > st0.st_ctim.tv_nsec))
            break;
        assert_true(i < 100000000); /* the clock does move */
        sched_yield();
    }
    text = t_slurp(path, &len);
    text[len - 1] ^= 0x40;
    t_write_file(path, text, len);
    free(text);
    assert_int_equal(qb_sha256_file(path, want, err), 0);
    m = model_load(path, err);
    assert_non_null(m);
    assert_string_equal(m->sha256, want);
    model_free(m);
    unsetenv("QBENCH_CACHE_DIR");
    t_rm_rf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k_greedy_200_matches_llama2c),
        cmocka_unit_test(test_reference_logits_stories260k),
        cmocka_unit_test(test_reference_logits_tinystories656k),
        cmocka_unit_test(test_rope_scaling_llama3_matches_torch_reference),
        cmocka_unit_test(test_rope_scaling_linear_matches_torch_reference),
        cmocka_unit_test(test_rope_scaling_survives_save_and_synth),
        cmocka_unit_test(test_tinystories656k_greedy_first_59),
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_prefill_equals_decode),
        cmocka_unit_test(test_block_chain_equals_forward),
        cmocka_unit_test(test_convert_to_safetensors_same_logits),
        cmocka_unit_test(test_rope_permutation_matches_export_py),
        cmocka_unit_test(test_synthetic_gqa_both_formats_identical),
        cmocka_unit_test(test_qwen2_biases_roundtrip),
        cmocka_unit_test(test_sampling_seeded_and_greedy_limits),
        cmocka_unit_test(test_generate_stops_at_eos_and_context),
        cmocka_unit_test(test_forward_rejects_bad_calls),
        cmocka_unit_test(test_weights_writable_copy_on_write),
        cmocka_unit_test(test_fast_expf_accuracy),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_cli_info_synth_convert),
        cmocka_unit_test(test_hash_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
