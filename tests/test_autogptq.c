/* test_autogptq.c — AutoGPTQ / GPTQModel directories packed by those projects' own code
 * (assets/autogptq, see its SOURCES.md): every layer's dequantized weight against AutoGPTQ's
 * dequantization (sha256 of the float32 bytes), logits against the float `dequantized/` directory, the
 * GPTQModel gptq_v2 folder against its plain-torch reference logits, qbench's own --export gptq loading
 * back to the logits of the .qbq checkpoint it came from, and malformed quantization configs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cJSON.h>

#include "model/model.h"
#include "model/model_internal.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"
#include "tests/common.h"

#define AG "assets/autogptq"

static const char *V1_DIRS[] = {"b4-g32-asym", "b4-g32-sym-actorder", "b3-g64-asym", "b2-g32-asym",
                                "b8-perchannel-sym", "b4-g128-asym-actorder"};
static const char *HF_NAMES[LIN_COUNT] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                          "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

static cJSON *read_json(const char *path) {
    char err[QB_ERRLEN];
    size_t len;
    char *text = qb_read_file(path, &len, err);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    return j;
}

/* sha256 of layer (l, k) in HF row order (the model holds q/k rows interleaved for RoPE). */
static void layer_sha(const Model *m, int l, int k, char hex[65]) {
    const Linear *lin = &m->blocks[l].lin[k];
    size_t n = (size_t)lin->rows * lin->cols;
    float *w = malloc(n * sizeof(float)), *held = malloc(n * sizeof(float));
    assert_true(w && held);
    linear_rows_f32(lin, 0, lin->rows, held); /* the layer as the model holds it (kept packed) */
    if (k == LIN_Q || k == LIN_K) {
        int heads = k == LIN_Q ? m->cfg.n_heads : m->cfg.n_kv_heads;
        rope_rows_interleaved_to_hf(held, w, heads, m->cfg.head_dim, lin->cols);
    } else {
        memcpy(w, held, n * sizeof(float));
    }
    qb_sha256_hex(w, n * sizeof(float), hex);
    free(held);
    free(w);
}

/* Every layer's sha256 against reference.json's (key: "f32_sha256" or GPTQModel's "sha256_f32"). */
static int check_layers(const Model *m, const cJSON *layers, const char *dir) {
    int n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            char name[128], hex[65];
            snprintf(name, sizeof name, "model.layers.%d.%s", l, HF_NAMES[k]);
            const cJSON *r = cJSON_GetObjectItemCaseSensitive(layers, name);
            if (!r) fail_msg("%s: reference.json has no %s", dir, name);
            const cJSON *sha = cJSON_GetObjectItemCaseSensitive(r, "f32_sha256");
            if (!sha) sha = cJSON_GetObjectItemCaseSensitive(r, "sha256_f32");
            assert_non_null(sha);
            layer_sha(m, l, k, hex);
            if (strcmp(hex, sha->valuestring)) fail_msg("%s %s: sha256 %s, AutoGPTQ %s", dir, name, hex, sha->valuestring);
            n++;
        }
    return n;
}

static void test_v1_folders(void **state) {
    (void)state;
    if (access(AG "/b4-g32-asym/model.safetensors", R_OK)) skip();
    int tok[32];
    for (int i = 0; i < 32; i++) tok[i] = i == 0 ? 1 : (int)((i * 613u + 5u) % 2048u);
    for (size_t d = 0; d < sizeof V1_DIRS / sizeof V1_DIRS[0]; d++) {
        char dir[256], path[300];
        snprintf(dir, sizeof dir, AG "/%s", V1_DIRS[d]);
        snprintf(path, sizeof path, "%s/reference.json", dir);
        cJSON *ref = read_json(path);
        assert_non_null(ref);
        Model *m = t_load_model(dir);
        assert_string_equal(m->stored.format, "autogptq");
        assert_true(m->stored.linear_bits > 2 && m->stored.linear_bits < 10);
        const cJSON *layers = cJSON_GetObjectItemCaseSensitive(ref, "layers");
        assert_int_equal(check_layers(m, layers ? layers : ref, dir), 14);
        /* logits: identical to the float directory holding AutoGPTQ's dequantized weights */
        snprintf(path, sizeof path, "%s/dequantized", dir);
        Model *f = t_load_model(path);
        assert_int_equal(f->stored.format[0], 0);
        float *a = t_prefill_logits(m, tok, 32), *b = t_prefill_logits(f, tok, 32);
        size_t n = (size_t)32 * m->cfg.vocab_size, diff = 0;
        for (size_t i = 0; i < n; i++) diff += a[i] != b[i];
        if (diff) fail_msg("%s: %zu of %zu logits differ from dequantized/", dir, diff, n);
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int k = 0; k < LIN_COUNT; k++) assert_int_equal(linear_format(&m->blocks[l].lin[k]), QW_UNIFORM);
        /* kept packed (repacked into uniform codes) against the float32 path of the same directory */
        double worst = t_packed_vs_dequantized(dir, 16);
        print_message("%-24s 14 layers bit-exact, logits identical, %.3f stored bits/weight (%s); packed decode vs "
                      "float32 %.2e\n", V1_DIRS[d], m->stored.linear_bits, m->stored.types, worst);
        free(a);
        free(b);
        model_free(f);
        model_free(m);
        cJSON_Delete(ref);
    }
}

/* GPTQModel's gptq_v2 (zeros stored without the v1 offset): layers against GPTQModel's dequantize_weight,
 * logits against the float64 plain-torch forward (a float32 runtime agrees to ~1e-5; bound 1e-4). */
static void test_v2_folder(void **state) {
    (void)state;
    const char *dir = AG "/v2-b4-g32-asym-actorder";
    cJSON *ref = read_json(AG "/v2-b4-g32-asym-actorder/reference.json");
    if (!ref) skip();
    Model *m = t_load_model(dir);
    assert_int_equal(check_layers(m, cJSON_GetObjectItemCaseSensitive(ref, "layers"), dir), 14);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(ref, "logits"), *c;
    int ncases = 0;
    double worst = 0;
    cJSON_ArrayForEach(c, cases) {
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(c, "ids"), *lg = cJSON_GetObjectItemCaseSensitive(c, "logits");
        int n = cJSON_GetArraySize(ids), tok[64];
        assert_true(n > 0 && n <= 64);
        for (int i = 0; i < n; i++) tok[i] = cJSON_GetArrayItem(ids, i)->valueint;
        float *got = t_prefill_logits(m, tok, n);
        assert_int_equal(cJSON_GetArraySize(lg), n);
        for (int i = 0; i < n; i++) {
            const cJSON *row = cJSON_GetArrayItem(lg, i);
            assert_int_equal(cJSON_GetArraySize(row), m->cfg.vocab_size);
            int v = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, row) worst = fmax(worst, fabs(got[(size_t)i * m->cfg.vocab_size + v++] - x->valuedouble));
        }
        free(got);
        ncases++;
    }
    print_message("gptq_v2: %d sequences, max |logit - reference| = %.2e\n", ncases, worst);
    assert_int_equal(ncases, 2);
    assert_true(worst < 1e-4);
    model_free(m);
    cJSON_Delete(ref);
}

static char tmpdir[64];

/* A copy of b4-g32-asym with quantize_config.json replaced: loading must fail naming `want`. */
static void expect_config_error(const char *qc, const char *want) {
    char dir[128], p[200];
    snprintf(dir, sizeof dir, "%s/bad", tmpdir);
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char from[200];
        snprintf(from, sizeof from, AG "/b4-g32-asym/%s", files[i]);
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        size_t len;
        char *data = t_slurp(from, &len);
        t_write_file(p, data, len);
        free(data);
    }
    snprintf(p, sizeof p, "%s/quantize_config.json", dir);
    t_write_text(p, qc);
    char err[QB_ERRLEN] = "";
    Model *m = model_load(dir, err);
    if (m) fail_msg("loaded with quantize_config %s", qc);
    if (!strstr(err, want)) fail_msg("error '%s' does not mention '%s'", err, want);
}

static void test_bad_configs(void **state) {
    (void)state;
    if (access(AG "/b4-g32-asym/model.safetensors", R_OK)) skip();
    assert_int_equal(t_mkdtemp(tmpdir, sizeof tmpdir, "qb_ag"), 0);
    expect_config_error("{\"bits\": 5, \"group_size\": 32}", "bits must be 2, 3, 4 or 8");
    expect_config_error("{\"bits\": 4, \"group_size\": 0}", "group_size");
    expect_config_error("{\"bits\": 4, \"group_size\": 32, \"quant_method\": \"awq\"}", "quant_method 'awq'");
    expect_config_error("{\"bits\": 4, \"group_size\": 32, \"checkpoint_format\": \"marlin\"}", "checkpoint_format 'marlin'");
    /* wrong geometry: the tensors were packed with 4 bits / groups of 32 */
    expect_config_error("{\"bits\": 8, \"group_size\": 32}", "qweight");
    expect_config_error("{\"bits\": 4, \"group_size\": 64}", "qzeros");
    expect_config_error("[1, 2]", "not a JSON object");
    assert_int_equal(t_rm_rf(tmpdir), 0);
}

/* IEEE half rounding (round to nearest even), as --export gptq stores scales. */
static float fp16_round(float x) { return (float)(_Float16)x; }

static void max_logit_diff(const Model *a, const Model *b, double *maxdiff, size_t *ndiff) {
    int tok[40];
    for (int i = 0; i < 40; i++) tok[i] = i == 0 ? 1 : (int)((i * 389u + 11u) % (unsigned)a->cfg.vocab_size);
    float *la = t_prefill_logits(a, tok, 40), *lb = t_prefill_logits(b, tok, 40);
    *maxdiff = 0;
    *ndiff = 0;
    for (size_t i = 0; i < (size_t)40 * a->cfg.vocab_size; i++) {
        *maxdiff = fmax(*maxdiff, fabs((double)la[i] - lb[i]));
        *ndiff += la[i] != lb[i];
    }
    free(la);
    free(lb);
}

/* qbench's --export gptq loads back. GPTQ 4-bit g32 with act-order on TinyStories-656K (HF: q/k rows are
 * permuted on the way out and back in). The AutoGPTQ layout stores scales as fp16, qbench's .qbq as
 * float32: (1) every layer of the export loads as fp16(scale)·(code − zero) of the quantizer's own
 * result, bit for bit; (2) quantized with fp16_scales (as --export gptq does), the model, its .qbq and
 * its export give identical logits. */
static void test_export_gptq_loads_back(void **state) {
    (void)state;
    const char *src = "assets/tinystories-656K";
    if (access(src, R_OK)) skip();
    char err[QB_ERRLEN] = "", dir[128], qbq[160];
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qb_ex"), 0);
    Model *m = t_load_model(src);
    int wins[8 * 64];
    QbRng rng;
    qb_rng_seed(&rng, 42);
    for (int i = 0; i < 8 * 64; i++) wins[i] = i % 64 == 0 ? 1 : (int)qb_rng_below(&rng, (uint64_t)m->cfg.vocab_size);
    CalibrationSet cs = {8, 64, wins};
    PipelineOptions po;
    memset(&po, 0, sizeof po);
    quant_options_default(&po.opt, QM_GPTQ, 4);
    po.opt.group_size = 32;
    po.opt.act_order = 1;
    po.true_sequential = 1;
    PipelineReport rep;
    memset(&rep, 0, sizeof rep);
    if (quant_model(m, &cs, &po, 1, &rep, err)) fail_msg("%s", err);

    /* (1) the export as written, float32 scales rounded by the format */
    char d1[160];
    snprintf(d1, sizeof d1, "%s/raw", dir);
    if (quant_export_gptq(m, &rep, &po, d1, err)) fail_msg("%s", err);
    Model *e1 = t_load_model(d1);
    assert_string_equal(e1->stored.format, "autogptq");
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const QuantResult *r = &rep.results[l * LIN_COUNT + k];
            const Linear *el = &e1->blocks[l].lin[k];
            assert_int_equal(linear_format(el), QW_UNIFORM); /* kept packed, repacked exactly */
            float *w = malloc((size_t)el->rows * el->cols * sizeof *w);
            assert_non_null(w);
            linear_rows_f32(el, 0, el->rows, w);
            for (int i = 0; i < r->rows; i++)
                for (int c = 0; c < r->cols; c++) {
                    size_t g = (size_t)i * r->n_groups + (size_t)r->g_idx[c];
                    float want = fp16_round(r->scales[g]) * ((float)r->codes[(size_t)i * r->cols + c] - r->zeros[g]);
                    float got = w[(size_t)i * r->cols + c];
                    if (memcmp(&want, &got, sizeof want))
                        fail_msg("layer %d %s [%d,%d]: export loads %.9g, fp16(scale)*(code-zero) = %.9g", l,
                                 linear_kind_name((LinearKind)k), i, c, (double)got, (double)want);
                }
            free(w);
        }

    double md_raw;
    size_t nd_raw;
    max_logit_diff(m, e1, &md_raw, &nd_raw);
    assert_true(md_raw < 5e-2); /* fp16 scales: relative weight error <= 2^-11, logits of size ~10 */

    /* (2) quantized with fp16_scales (what --export gptq asks for): the grid uses fp16 scales from the
     * start, so GPTQ's error compensation sees the stored scale; the .qbq and the export of that
     * quantization give identical logits */
    Model *m2 = t_load_model(src);
    PipelineOptions po2 = po;
    po2.opt.fp16_scales = 1;
    PipelineReport rep2;
    memset(&rep2, 0, sizeof rep2);
    if (quant_model(m2, &cs, &po2, 1, &rep2, err)) fail_msg("%s", err);
    for (int l = 0; l < m2->cfg.n_layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            const QuantResult *r = &rep2.results[l * LIN_COUNT + k];
            for (size_t g = 0; g < (size_t)r->rows * r->n_groups; g++)
                if (fp16_round(r->scales[g]) != r->scales[g])
                    fail_msg("layer %d: scale %.9g is not an fp16 value", l, (double)r->scales[g]);
        }
    char d2[160];
    snprintf(d2, sizeof d2, "%s/fp16", dir);
    snprintf(qbq, sizeof qbq, "%s/model.qbq", dir);
    if (quant_checkpoint_write(m2, &rep2, &po2, qbq, err)) fail_msg("%s", err);
    if (quant_export_gptq(m2, &rep2, &po2, d2, err)) fail_msg("%s", err);
    Model *a = quant_or_model_load(qbq, err);
    if (!a) fail_msg("%s", err);
    Model *b = t_load_model(d2);
    double md;
    size_t nd;
    max_logit_diff(a, b, &md, &nd);
    if (nd) fail_msg(".qbq vs its export: %zu logits differ (max %.3g)", nd, md);
    max_logit_diff(m2, b, &md, &nd);
    if (nd) fail_msg("quantized model vs its export: %zu logits differ (max %.3g)", nd, md);
    print_message(".qbq with fp16_scales vs its export: logits identical; float32-scale model vs its export: max "
                  "|logit diff| %.2e\n", md_raw);
    model_free(m2);
    pipeline_report_free(&rep2);
    model_free(a);
    model_free(b);
    model_free(e1);
    pipeline_report_free(&rep);
    model_free(m);
    assert_int_equal(t_rm_rf(dir), 0);
}


/* The command line: `quantize --export gptq` quantizes with fp16 scales, so its directory gives exactly
 * the logits of `quantize --fp16-scales -o X.qbq` with the same calibration (GPTQ 4-bit g32 act-order,
 * TinyStories-656K), and the option is recorded in the checkpoint. */
static void test_cli_export_matches_checkpoint(void **state) {
    (void)state;
    const char *src = "assets/tinystories-656K";
    if (access(t_qbench_bin(), X_OK) || access(src, R_OK)) skip();
    char dir[128], args[1200], err[QB_ERRLEN];
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qb_cx"), 0);
    const char *common = "quantize --model %s --method gptq --bits 4 --group-size 32 --act-order --calib tinystories-calib "
                         "--nsamples 4 --seqlen 32 --seed 3 --quiet";
    char base[600];
    snprintf(base, sizeof base, common, src);
    snprintf(args, sizeof args, "%s --export gptq -o %s/export", base, dir);
    assert_int_equal(t_run_qbench(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "%s --fp16-scales -o %s/m.qbq", base, dir);
    assert_int_equal(t_run_qbench(args, NULL, NULL), 0);
    char p1[200], p2[200];
    snprintf(p1, sizeof p1, "%s/m.qbq", dir);
    snprintf(p2, sizeof p2, "%s/export", dir);
    Model *a = quant_or_model_load(p1, err);
    if (!a) fail_msg("%s", err);
    Model *b = t_load_model(p2);
    double md;
    size_t nd;
    max_logit_diff(a, b, &md, &nd);
    if (nd) fail_msg("quantize --export gptq vs --fp16-scales .qbq: %zu logits differ (max %.3g)", nd, md);
    size_t len;
    char *text = t_slurp(p1, &len); /* the JSON metadata follows a binary header */
    const char *key = "\"fp16_scales\":true";
    assert_non_null(memmem(text, len, key, strlen(key)));
    free(text);
    model_free(a);
    model_free(b);
    assert_int_equal(t_rm_rf(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_folders),
        cmocka_unit_test(test_v2_folder),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_export_gptq_loads_back),
        cmocka_unit_test(test_cli_export_matches_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
