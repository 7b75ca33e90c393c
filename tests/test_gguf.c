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
#include "tests/common.h"
#include "metrics/ppl.h"
#include "harness/config.h"
#include "harness/runner.h"
#include "harness/store.h"
#include <sys/stat.h>
#include <dirent.h>
#include <omp.h>
#include "model/qweights.h"

#define GG "assets/gguf"

/* Under AddressSanitizer the perplexity of all 21 files costs minutes: the sanitizer build runs two of
 * them (memory checking), the normal build checks every figure. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#else
#define SANITIZER_BUILD 0
#endif

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

/* The same weights through two loaders give the same logits. synth256: llama.cpp's convert_hf_to_gguf
 * output against the HF directory it came from (rotate-half rows permuted by qbench's HF loader; GGUF
 * rows as llama.cpp stores them), so a wrong RoPE layout on either side shows. stories260K: llama.cpp's
 * llama2.c converter against the llama2.c checkpoint. Exact equality: same float32 values, same code. */
static void check_same_logits(const char *a, const char *b) {
    Model *ma = t_load_model(a), *mb = t_load_model(b);
    assert_int_equal(ma->cfg.vocab_size, mb->cfg.vocab_size);
    assert_int_equal(ma->cfg.head_dim, mb->cfg.head_dim);
    assert_int_equal(ma->cfg.n_kv_heads, mb->cfg.n_kv_heads);
    assert_true(ma->cfg.norm_eps == mb->cfg.norm_eps && ma->cfg.rope_theta == mb->cfg.rope_theta);
    int tok[24];
    for (int i = 0; i < 24; i++) tok[i] = i == 0 ? 1 : (int)((i * 7919u + 13u) % (unsigned)ma->cfg.vocab_size);
    float *la = t_prefill_logits(ma, tok, 24), *lb = t_prefill_logits(mb, tok, 24);
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
    Model *m = t_load_model(GG "/synth256-f32.gguf");
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

#define TS_TEXT "assets/tinystories/tinystories_v1_validation_head.txt"

/* llama2.c's `run` on stories260K, greedy, 200 steps (assets/stories260K/expected_greedy_200steps.*):
 * the GGUF conversion generates the same ids, and its own vocabulary decodes them to the same text.
 * llama.cpp's converter wrote a context of 128, so the GGUF model stops after 128 new tokens. */
static void test_generate_matches_llama2c(void **state) {
    (void)state;
    if (access(GG "/s260k-Q4_K_M.gguf", R_OK) || access("assets/stories260K/expected_greedy_200steps.ids", R_OK)) skip();
    FILE *f = fopen("assets/stories260K/expected_greedy_200steps.ids", "r");
    assert_non_null(f);
    int want[256], nw = 0;
    while (nw < 256 && fscanf(f, "%d", &want[nw]) == 1) nw++;
    fclose(f);
    assert_int_equal(nw, 201);
    Model *m = t_load_model(GG "/s260k-f32.gguf");
    assert_int_equal(m->cfg.seq_len, 128);
    GenerateOptions o = {.max_new_tokens = 200, .temperature = 0, .top_k = 0, .top_p = 1, .seed = 0, .stop_at_eos = 1};
    int out[200], n_out = 0, prompt = 1;
    char err[QB_ERRLEN];
    assert_int_equal(model_generate(m, &prompt, 1, &o, out, &n_out, err), 0);
    assert_int_equal(n_out, 128);
    assert_memory_equal(out, want + 1, (size_t)n_out * sizeof(int));
    Tokenizer *t = tokenizer_load(GG "/s260k-f32.gguf", m->cfg.vocab_size, err);
    assert_non_null(t);
    char *text = tokenizer_decode(t, out, n_out);
    size_t len;
    char *ref = t_slurp("assets/stories260K/expected_greedy_200steps.txt", &len);
    assert_true(strlen(text) > 300 && strlen(text) < len);
    assert_memory_equal(text, ref, strlen(text)); /* the text of those 128 tokens */
    free(ref);
    free(text);
    tokenizer_free(t);
    model_free(m);
}

/* llama.cpp copied tok512.bin's vocabulary into s260k-f32.gguf (and convert_hf_to_gguf the same
 * SentencePiece model into synth256): encoding the TinyStories text through the GGUF vocabulary gives
 * the ids of the llama2.c tokenizer (run.c's algorithm, tested against run.c elsewhere), and decoding
 * gives the text back. */
static void test_tokenizer_from_gguf(void **state) {
    (void)state;
    if (access(GG "/s260k-f32.gguf", R_OK) || access("assets/stories260K/tok512.bin", R_OK) || access(TS_TEXT, R_OK)) skip();
    size_t len;
    char *text = t_slurp(TS_TEXT, &len);
    assert_non_null(text);
    char err[QB_ERRLEN] = "", found[512];
    assert_int_equal(tokenizer_find_for_model(GG "/s260k-Q4_K_M.gguf", found, sizeof found), 0);
    assert_string_equal(found, GG "/s260k-Q4_K_M.gguf");
    Tokenizer *ref = tokenizer_load("assets/stories260K/tok512.bin", 512, err);
    assert_non_null(ref);
    const char *files[] = {GG "/s260k-f32.gguf", GG "/synth256-Q4_K_S.gguf"};
    for (int f = 0; f < 2; f++) {
        Tokenizer *t = tokenizer_load(files[f], 512, err);
        if (!t) fail_msg("%s", err);
        assert_int_equal(tokenizer_vocab_size(t), 512);
        assert_int_equal(tokenizer_bos(t), 1);
        assert_int_equal(tokenizer_eos(t), 2);
        int *a, *b, na, nb;
        assert_int_equal(tokenizer_encode(ref, text, len, 1, &a, &na, err), 0);
        assert_int_equal(tokenizer_encode(t, text, len, 1, &b, &nb, err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, (size_t)na * sizeof(int));
        char *dec = tokenizer_decode(t, b + 1, 2000);
        char *dec_ref = tokenizer_decode(ref, a + 1, 2000);
        assert_string_equal(dec, dec_ref);
        assert_true(strlen(dec) > 1000 && strncmp(dec, text, strlen(dec)) == 0);
        /* text outside the vocabulary goes through the <0xNN> byte tokens */
        const char *odd = "caf\xc3\xa9 \xe2\x82\xac 7";
        free(a);
        free(b);
        assert_int_equal(tokenizer_encode(t, odd, strlen(odd), 0, &b, &nb, err), 0);
        char *back = tokenizer_decode(t, b, nb);
        assert_string_equal(back, odd);
        free(back);
        free(b);
        free(dec);
        free(dec_ref);
        tokenizer_free(t);
    }
    tokenizer_free(ref);
    free(text);
}

/* llama.cpp's own llama-perplexity figures (-c 256 -b 256, default mode; assets/gguf/SOURCES.md):
 * file, chunks, PPL, ±. */
static const struct { const char *file; int chunks; double ppl, se; int quantized; } LLAMA_CPP_PPL[] = {
    {"s260k-f32.gguf", 100, 3.8867, 0.06301, 0},      {"s260k-F16.gguf", 100, 3.8864, 0.06300, 0},
    {"s260k-Q6_K.gguf", 100, 3.8929, 0.06320, 1},     {"s260k-Q5_K_M.gguf", 100, 3.9046, 0.06238, 1},
    {"s260k-Q4_K_M.gguf", 100, 3.9414, 0.06445, 1},   {"s260k-IQ4_XS.gguf", 100, 4.1317, 0.06804, 1},
    {"synth256-f32.gguf", 20, 520.3764, 3.69248, 0},  {"synth256-F16.gguf", 20, 520.3750, 3.69242, 0},
    {"synth256-BF16.gguf", 20, 520.4003, 3.69201, 0}, {"synth256-Q8_0.gguf", 20, 520.4940, 3.69364, 1},
    {"synth256-Q6_K.gguf", 20, 520.4591, 3.69820, 1}, {"synth256-Q5_K_S.gguf", 20, 520.5752, 3.70015, 1},
    {"synth256-Q5_1.gguf", 20, 519.2427, 3.69685, 1}, {"synth256-Q5_0.gguf", 20, 517.8939, 3.66386, 1},
    {"synth256-Q4_K_S.gguf", 20, 520.9115, 3.71300, 1}, {"synth256-Q4_1.gguf", 20, 522.9785, 3.69801, 1},
    {"synth256-Q4_0.gguf", 20, 520.5269, 3.73354, 1}, {"synth256-IQ4_NL.gguf", 20, 521.6564, 3.68158, 1},
    {"synth256-IQ4_XS.gguf", 20, 521.0308, 3.68831, 1}, {"synth256-Q3_K_S.gguf", 20, 528.3383, 3.78722, 1},
    {"synth256-Q2_K.gguf", 20, 520.9793, 3.73635, 1},
};

/* ppl --mode llamacpp on every GGUF file against llama.cpp's number. Bounds (SOURCES.md): float types
 * agree to about 1e-4 relative (summation order; the table's 4 decimals add 1e-5); for quantized types
 * llama.cpp quantizes the activations to 8 bits inside its matmuls while qbench multiplies dequantized
 * weights by float32 activations, so the two land near each other, well under 0.5% apart. */
static void test_ppl_llamacpp_every_file(void **state) {
    (void)state;
    if (access(TS_TEXT, R_OK) || access(GG "/s260k-f32.gguf", R_OK)) skip();
    size_t len;
    char *text = t_slurp(TS_TEXT, &len);
    assert_non_null(text);
    /* 100 chunks of 256 use the first ~25,600 tokens (~60 KB): tokenize a 300 KB prefix cut at a newline,
     * far enough from the chunks that the cut cannot change their tokens */
    if (len > 300000) {
        len = 300000;
        while (len > 0 && text[len - 1] != '\n') len--;
    }
    double worst_float = 0, worst_quant = 0;
    for (size_t i = 0; i < sizeof LLAMA_CPP_PPL / sizeof LLAMA_CPP_PPL[0]; i++) {
        char path[256], err[QB_ERRLEN] = "";
        if (SANITIZER_BUILD && i != 0 && i != 14) continue; /* memory checks need one float and one quantized file */
        snprintf(path, sizeof path, GG "/%s", LLAMA_CPP_PPL[i].file);
        Model *m = t_load_model(path);
        Tokenizer *t = tokenizer_load(path, m->cfg.vocab_size, err);
        if (!t) fail_msg("%s", err);
        PplOptions o = {.mode = PPL_LLAMACPP, .seqlen = 256, .max_windows = LLAMA_CPP_PPL[i].chunks};
        PplStats st;
        memset(&st, 0, sizeof st);
        if (ppl_eval_text(m, t, text, len, &o, &st, err)) fail_msg("%s: %s", path, err);
        double p = ppl_value(&st), rel = fabs(p - LLAMA_CPP_PPL[i].ppl) / LLAMA_CPP_PPL[i].ppl;
        double rel_se = fabs(ppl_stderr(&st) - LLAMA_CPP_PPL[i].se) / LLAMA_CPP_PPL[i].se;
        print_message("%-22s ppl %.4f +/- %.5f  llama.cpp %.4f +/- %.5f  rel %.2e\n", LLAMA_CPP_PPL[i].file, p,
                      ppl_stderr(&st), LLAMA_CPP_PPL[i].ppl, LLAMA_CPP_PPL[i].se, rel);
        assert_int_equal(st.n_windows, LLAMA_CPP_PPL[i].chunks);
        if (LLAMA_CPP_PPL[i].quantized) {
            worst_quant = fmax(worst_quant, rel);
            if (rel > 5e-3 || rel_se > 2e-2) fail_msg("%s: ppl %.4f vs llama.cpp %.4f", path, p, LLAMA_CPP_PPL[i].ppl);
        } else {
            worst_float = fmax(worst_float, rel);
            if (rel > 1e-4 || rel_se > 1e-3) fail_msg("%s: ppl %.4f vs llama.cpp %.4f", path, p, LLAMA_CPP_PPL[i].ppl);
        }
        tokenizer_free(t);
        model_free(m);
    }
    print_message("worst relative difference: float %.2e, quantized %.2e\n", worst_float, worst_quant);
    free(text);
}

/* Bits per weight of the block linear layers of a GGUF file, by hand from gguf-py's tensor list (types
 * and shapes in the reference JSON) and the ggml block sizes: Q5_0 22 bytes / 32 weights, Q8_0 34 / 32,
 * Q5_1 24 / 32, IQ4_NL 18 / 32, Q4_K 144 / 256, F16 2 / 1, F32 4 / 1. */
static double hand_bpw(const char *file) {
    cJSON *ref = read_json(GG "/gguf_dequant_reference.json");
    assert_non_null(ref);
    const cJSON *f = cJSON_GetObjectItem(ref, file), *t;
    assert_non_null(f);
    static const struct { const char *type; double bits; } B[] = {
        {"Q5_0", 22 * 8 / 32.0}, {"Q8_0", 34 * 8 / 32.0}, {"Q5_1", 24 * 8 / 32.0}, {"IQ4_NL", 18 * 8 / 32.0},
        {"Q4_K", 144 * 8 / 256.0}, {"F16", 16}, {"F32", 32}};
    double bits = 0, n = 0;
    cJSON_ArrayForEach(t, f) {
        if (strncmp(t->string, "blk.", 4) || strstr(t->string, "_norm")) continue;
        const cJSON *sh = cJSON_GetObjectItem(t, "shape");
        double numel = cJSON_GetArrayItem(sh, 0)->valuedouble * cJSON_GetArrayItem(sh, 1)->valuedouble;
        const char *ty = cJSON_GetObjectItem(t, "type")->valuestring;
        size_t k = 0;
        while (k < sizeof B / sizeof B[0] && strcmp(B[k].type, ty)) k++;
        if (k == sizeof B / sizeof B[0]) fail_msg("no block size for %s", ty);
        bits += numel * B[k].bits;
        n += numel;
    }
    cJSON_Delete(ref);
    return bits / n;
}

/* GGUF files as `models:` entries of an experiment: each is one more point, evaluated as it is, with
 * its true bits per weight and file bytes, and measured against the experiment's float model. The F32
 * GGUF holds the float model's own weights, so its agreement must be perfect; the Q4_K_M one lands
 * where the ppl command puts it; a rerun does nothing; a model with another vocabulary is refused. */
static void test_models_entries_in_experiment(void **state) {
    (void)state;
    if (access(GG "/s260k-Q4_K_M.gguf", R_OK) || access("assets/stories260K/stories260K.bin", R_OK)) skip();
    char dir[64], yaml[2048], db[128], err[QB_ERRLEN] = "";
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qb_ent"), 0);
    snprintf(db, sizeof db, "%s/e.db", dir);
    const char *head =
        "name: entries\n"
        "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
        "sweep: {method: [rtn], bits: [4]}\n"
        "fixed: {group_size: 32}\n"
        "eval:\n"
        "  perplexity: [{dataset: tinystories-valid, mode: llamacpp, seqlen: 256, max_windows: 4}]\n"
        "  agreement: [{dataset: tinystories-valid, seqlen: 128, windows: 2}]\n";
    snprintf(yaml, sizeof yaml, "%smodels: [{path: " GG "/s260k-Q4_K_M.gguf, label: Q4_K_M}, " GG "/s260k-f32.gguf]\n"
             "output: {db: %s}\n", head, db);
    Experiment *e = calloc(1, sizeof *e);
    assert_non_null(e);
    char yfile[128];
    snprintf(yfile, sizeof yfile, "%s/entries.yaml", dir);
    FILE *yf = fopen(yfile, "w");
    assert_non_null(yf);
    fputs(yaml, yf);
    fclose(yf);
    if (config_load(yfile, e, err)) fail_msg("%s", err);
    assert_int_equal(e->n_models, 2);
    assert_string_equal(e->models[1].label, "s260k-f32.gguf");
    RunOptions ro = {.db_path = NULL, .out = NULL, .progress = NULL};
    RunSummary sum;
    if (runner_run(e, &ro, &sum, err)) fail_msg("%s", err);
    assert_int_equal(sum.done, 3);
    assert_int_equal(sum.failed, 0);
    if (runner_run(e, &ro, &sum, err)) fail_msg("%s", err);
    assert_int_equal(sum.skipped, 3);
    assert_int_equal(sum.done, 0);

    Store *st = store_open(db, err);
    assert_non_null(st);
    StoreRunRow *rows;
    int n;
    assert_int_equal(store_load_runs(st, NULL, "done", &rows, &n, err), 0);
    assert_int_equal(n, 3);
    int seen = 0;
    for (int i = 0; i < n; i++) {
        const StoreRunRow *r = &rows[i];
        const StoreMetricRow *ppl = store_run_metric(r, "ppl", "tinystories-valid", NULL);
        const StoreMetricRow *top1 = store_run_metric(r, "top1", "tinystories-valid", NULL);
        const StoreMetricRow *kl = store_run_metric(r, "kl", "tinystories-valid", NULL);
        assert_non_null(ppl);
        assert_non_null(top1);
        assert_non_null(kl);
        struct stat sb;
        if (!strcmp(r->method, "gguf:Q4_K_M")) {
            seen |= 1;
            assert_int_equal(r->bits, 0);
            assert_true(fabs(r->bits_per_weight - hand_bpw("s260k-Q4_K_M.gguf")) < 1e-9);
            assert_int_equal(stat(GG "/s260k-Q4_K_M.gguf", &sb), 0);
            assert_int_equal(r->packed_bytes, (int64_t)sb.st_size);
            assert_true(strstr(r->params_json, "s260k-Q4_K_M.gguf") != NULL);
            /* the same number `ppl` gives for this file with these settings */
            Model *m = t_load_model(GG "/s260k-Q4_K_M.gguf");
            Tokenizer *t = tokenizer_load("assets/stories260K/tok512.bin", 512, err);
            size_t len;
            char *text = t_slurp("assets/tinystories/tinystories_v1_validation_head.txt", &len);
            assert_non_null(text);
            assert_non_null(t);
            PplOptions o = {.mode = PPL_LLAMACPP, .seqlen = 256, .max_windows = 4};
            PplStats ps;
            memset(&ps, 0, sizeof ps);
            if (ppl_eval_text(m, t, text, len, &o, &ps, err)) fail_msg("%s", err);
            if (fabs(ppl_value(&ps) - ppl->value) > 1e-9 * ppl->value)
                fail_msg("sweep entry ppl %.9g, ppl_eval_text %.9g", ppl->value, ppl_value(&ps));
            free(text);
            tokenizer_free(t);
            model_free(m);
            assert_true(ppl->value > 1 && top1->value < 1 && kl->value > 0);
        } else if (!strcmp(r->method, "gguf:s260k-f32.gguf")) {
            seen |= 2;
            assert_true(r->bits_per_weight == 32.0);
            assert_true(top1->value == 1.0);
            assert_true(fabs(kl->value) < 1e-9);
        } else {
            seen |= 4;
            assert_string_equal(r->method, "rtn");
            assert_int_equal(r->bits, 4);
        }
    }
    assert_int_equal(seen, 7);
    store_free_runs(rows, n);
    store_close(st);

    /* a model entry with another vocabulary (TinyStories-656K: 2048 tokens) is refused before any work */
    snprintf(yaml, sizeof yaml, "%smodels: [assets/tinystories-656K]\noutput: {db: %s/other.db}\n", head, dir);
    memset(e, 0, sizeof *e);
    if (config_parse(yaml, strlen(yaml), yfile, e, err)) fail_msg("%s", err);
    assert_int_equal(runner_run(e, &ro, &sum, err), -1);
    assert_non_null(strstr(err, "vocabulary"));
    /* a missing path is an error naming the line */
    snprintf(yaml, sizeof yaml, "%smodels: [assets/gguf/nope.gguf]\n", head);
    memset(e, 0, sizeof *e);
    assert_int_equal(config_parse(yaml, strlen(yaml), "entries.yaml", e, err), -1);
    assert_non_null(strstr(err, "entries.yaml:8: models"));
    free(e);
    assert_int_equal(t_rm_rf(dir), 0);
}

/* ---- hostile files ---------------------------------------------------------------------------- */

static char htmp[64];

/* Loading b[n] as a model (and as a tokenizer) must fail with a message naming the file and `want`. */
static void expect_model_error(const unsigned char *b, size_t n, const char *want) {
    char path[128], err[QB_ERRLEN] = "";
    snprintf(path, sizeof path, "%s/bad.gguf", htmp);
    t_write_file(path, b, n);
    Model *m = model_load(path, err);
    if (m) fail_msg("loaded a broken file (expected '%s')", want);
    if (!strstr(err, path) || !strstr(err, want)) fail_msg("error '%s' does not name the file and '%s'", err, want);
    Tokenizer *t = tokenizer_load(path, 0, err); /* the same bytes through the tokenizer: no crash */
    tokenizer_free(t);
}

/* Byte position of tensor i's offset field in the tensor-info table. */
static size_t offset_field(const GgufFile *g, size_t i) {
    const GgufTensor *t = &g->t[i];
    return (size_t)((const uint8_t *)t->name - g->buf) + t->name_len + 4 + 8 * (size_t)t->n_dims + 4;
}

static void test_hostile_files(void **state) {
    (void)state;
    if (access(GG "/s260k-f32.gguf", R_OK)) skip();
    assert_int_equal(t_mkdtemp(htmp, sizeof htmp, "qb_gg"), 0);
    size_t n;
    unsigned char *orig = (unsigned char *)t_slurp(GG "/s260k-f32.gguf", &n), *b = malloc(n);
    assert_non_null(b);
    GgufFile g;
    char err[QB_ERRLEN];
    assert_int_equal(gguf_parse(orig, n, "orig", &g, err), 0);
    /* truncated anywhere: in the header, the metadata, the tensor infos, the data */
    size_t cuts[] = {0, 3, 7, 12, 20, 30, 200, 5000, g.data_off - 1, g.data_off + 10, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        memcpy(b, orig, cuts[i]);
        expect_model_error(b, cuts[i], cuts[i] < 4 ? "" : "");
    }
    memcpy(b, orig, n);
    b[0] = 'X';
    expect_model_error(b, n, "no 'GGUF' magic");
    memcpy(b, orig, n);
    b[4] = 1;
    expect_model_error(b, n, "version 1 is not supported");
    uint64_t huge = (uint64_t)1 << 40;
    memcpy(b, orig, n);
    memcpy(b + 8, &huge, 8);
    expect_model_error(b, n, "tensors cannot fit");
    memcpy(b, orig, n);
    memcpy(b + 16, &huge, 8);
    expect_model_error(b, n, "metadata keys cannot fit");
    memcpy(b, orig, n);
    memcpy(b + 24, &huge, 8); /* the first key's length */
    expect_model_error(b, n, "runs past the end of the file");
    /* a tensor's offset past the end, misaligned, or onto another tensor */
    uint64_t off;
    memcpy(b, orig, n);
    off = (uint64_t)n;
    memcpy(b + offset_field(&g, 3), &off, 8);
    expect_model_error(b, n, "runs past the end");
    memcpy(b, orig, n);
    memcpy(&off, orig + offset_field(&g, 3), 8);
    off += 4;
    memcpy(b + offset_field(&g, 3), &off, 8);
    expect_model_error(b, n, "not a multiple of the alignment");
    memcpy(b, orig, n);
    memcpy(&off, orig + offset_field(&g, 2), 8);
    memcpy(b + offset_field(&g, 3), &off, 8);
    expect_model_error(b, n, "overlap");
    /* an unsupported tensor type is refused by name, naming the tensor */
    memcpy(b, orig, n);
    uint32_t iq2 = 16;
    memcpy(b + offset_field(&g, 3) - 4, &iq2, 4);
    expect_model_error(b, n, "IQ2_XXS");
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)g.t[3].name_len, g.t[3].name);
    char err2[QB_ERRLEN] = "", path[128];
    snprintf(path, sizeof path, "%s/bad.gguf", htmp);
    assert_null(model_load(path, err2));
    assert_non_null(strstr(err2, name));
    /* a dimension of 0, too many dimensions */
    memcpy(b, orig, n);
    uint64_t zero = 0;
    memcpy(b + offset_field(&g, 3) - 4 - 8 * (size_t)g.t[3].n_dims, &zero, 8);
    expect_model_error(b, n, "dimension 0 = 0");
    memcpy(b, orig, n);
    uint32_t nd = 9;
    memcpy(b + offset_field(&g, 3) - 4 - 8 * (size_t)g.t[3].n_dims - 4, &nd, 4);
    expect_model_error(b, n, "9 dimensions");
    /* another architecture is refused by name (same length, so nothing else moves) */
    const GgufKV *arch = gguf_find_kv(&g, "general.architecture");
    assert_non_null(arch);
    memcpy(b, orig, n);
    memcpy(b + (arch->val - orig) + 8, "bloom", 5);
    expect_model_error(b, n, "architecture 'bloom' is not supported");
    /* a value type that does not exist */
    memcpy(b, orig, n);
    uint32_t bad_type = 77;
    memcpy(b + ((const uint8_t *)arch->key - orig) + arch->key_len, &bad_type, 4);
    expect_model_error(b, n, "unknown value type 77");
    /* the same tensor name twice, the same key twice */
    assert_int_equal(g.t[3].name_len, g.t[4].name_len);
    memcpy(b, orig, n);
    memcpy(b + ((const uint8_t *)g.t[4].name - orig), g.t[3].name, g.t[3].name_len);
    expect_model_error(b, n, "appears twice");
    const GgufKV *bos = gguf_find_kv(&g, "tokenizer.ggml.bos_token_id"), *eos = gguf_find_kv(&g, "tokenizer.ggml.eos_token_id");
    assert_non_null(bos);
    assert_non_null(eos);
    memcpy(b, orig, n);
    memcpy(b + ((const uint8_t *)eos->key - orig), bos->key, bos->key_len);
    expect_model_error(b, n, "metadata key 'tokenizer.ggml.bos_token_id' appears twice");
    /* a tensor the llama loader does not know */
    memcpy(b, orig, n);
    memcpy(b + ((const uint8_t *)g.t[0].name - orig), "tok_embdX", 9);
    expect_model_error(b, n, "missing tensor 'token_embd.weight'");
    gguf_close(&g);
    free(orig);
    free(b);
    assert_int_equal(t_rm_rf(htmp), 0);
}

/* A minimal GGUF writer for tokenizer cases (metadata only, no tensors). */
typedef struct { unsigned char *b; size_t n, cap; } Buf;
static void put(Buf *w, const void *p, size_t k) {
    assert_int_equal(qb_grow((void **)&w->b, &w->cap, w->n + k, 1), 0);
    memcpy(w->b + w->n, p, k);
    w->n += k;
}
static void put_u32(Buf *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(Buf *w, uint64_t v) { put(w, &v, 8); }
static void put_str(Buf *w, const char *s) { put_u64(w, strlen(s)); put(w, s, strlen(s)); }

static void tokenizer_file(Buf *w, const char *model, int n_tokens, int scores_ok) {
    w->n = 0;
    put(w, "GGUF", 4);
    put_u32(w, 3);
    put_u64(w, 0);
    put_u64(w, 3);
    put_str(w, "tokenizer.ggml.model");
    put_u32(w, GGUF_STRING);
    put_str(w, model);
    put_str(w, "tokenizer.ggml.tokens");
    put_u32(w, GGUF_ARRAY);
    put_u32(w, GGUF_STRING);
    put_u64(w, (uint64_t)n_tokens);
    const char *toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a"};
    for (int i = 0; i < n_tokens; i++) put_str(w, toks[i % 7]);
    put_str(w, "tokenizer.ggml.scores");
    put_u32(w, GGUF_ARRAY);
    put_u32(w, GGUF_F32);
    put_u64(w, (uint64_t)(scores_ok ? n_tokens : n_tokens - 1));
    for (int i = 0; i < (scores_ok ? n_tokens : n_tokens - 1); i++) {
        float v = (float)-i;
        put(w, &v, 4);
    }
}

/* A byte-level BPE vocabulary: a, b, ab, Ġ (the byte-level space), Ġab, <|endoftext|> (control), merges
 * "a b" then "Ġ ab"; `bad_merge` names a token that is not in the vocabulary. */
static void bpe_file(Buf *w, const char *pre, int bad_merge, int types_ok) {
    static const char *TOK[] = {"a", "b", "ab", "\xc4\xa0", "\xc4\xa0" "ab", "<|endoftext|>"};
    w->n = 0;
    put(w, "GGUF", 4);
    put_u32(w, 3);
    put_u64(w, 0);
    put_u64(w, 6);
    put_str(w, "tokenizer.ggml.model");
    put_u32(w, GGUF_STRING);
    put_str(w, "gpt2");
    put_str(w, "tokenizer.ggml.pre");
    put_u32(w, GGUF_STRING);
    put_str(w, pre);
    put_str(w, "tokenizer.ggml.tokens");
    put_u32(w, GGUF_ARRAY);
    put_u32(w, GGUF_STRING);
    put_u64(w, 6);
    for (int i = 0; i < 6; i++) put_str(w, TOK[i]);
    put_str(w, "tokenizer.ggml.token_type");
    put_u32(w, GGUF_ARRAY);
    put_u32(w, GGUF_I32);
    put_u64(w, types_ok ? 6 : 5);
    for (int i = 0; i < (types_ok ? 6 : 5); i++) put_u32(w, i == 5 ? 3 : 1);
    put_str(w, "tokenizer.ggml.merges");
    put_u32(w, GGUF_ARRAY);
    put_u32(w, GGUF_STRING);
    put_u64(w, 2);
    put_str(w, "a b");
    put_str(w, bad_merge ? "\xc4\xa0 zz" : "\xc4\xa0 ab");
    put_str(w, "tokenizer.ggml.eos_token_id");
    put_u32(w, GGUF_U32);
    put_u32(w, 5);
}

static void test_tokenizer_bpe(void **state) {
    (void)state;
    char dir[64], path[128], err[QB_ERRLEN];
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qb_gb"), 0);
    snprintf(path, sizeof path, "%s/t.gguf", dir);
    Buf w = {0};
    bpe_file(&w, "gpt-2", 0, 1);
    t_write_file(path, w.b, w.n);
    Tokenizer *t = tokenizer_load(path, 0, err);
    if (!t) fail_msg("%s", err);
    /* by hand: "ab" | " ab" (GPT-2's regex); a b → ab; Ġ a b → Ġ ab → Ġab; the control token whole */
    int *ids, nid;
    assert_int_equal(tokenizer_encode(t, "ab ab<|endoftext|>", 18, 1, &ids, &nid, err), 0);
    assert_int_equal(nid, 3); /* no BOS: the file does not ask for one */
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 4);
    assert_int_equal(ids[2], 5);
    free(ids);
    assert_int_equal(tokenizer_eos(t), 5);
    char *text = tokenizer_decode(t, (int[]){2, 4}, 2);
    assert_string_equal(text, "ab ab");
    free(text);
    tokenizer_free(t);
    struct { const char *pre; int bad_merge, types_ok; const char *want; } bad[] = {
        {"starcoder", 0, 1, "pre-tokenizer 'starcoder' is not supported"},
        {"gpt-2", 1, 1, "merges[1]"},
        {"gpt-2", 0, 0, "tokenizer.ggml.token_type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bpe_file(&w, bad[i].pre, bad[i].bad_merge, bad[i].types_ok);
        t_write_file(path, w.b, w.n);
        assert_null(tokenizer_load(path, 0, err));
        if (!strstr(err, bad[i].want)) fail_msg("'%s' lacks '%s'", err, bad[i].want);
    }
    /* every truncation is an error, never a crash */
    bpe_file(&w, "gpt-2", 0, 1);
    for (size_t cut = 0; cut < w.n; cut += 7) {
        t_write_file(path, w.b, cut);
        Tokenizer *tc = tokenizer_load(path, 0, err);
        assert_null(tc);
    }
    free(w.b);
    assert_int_equal(t_rm_rf(dir), 0);
}

static void test_tokenizer_kinds(void **state) {
    (void)state;
    char dir[64], path[128], err[QB_ERRLEN];
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qb_gt"), 0);
    snprintf(path, sizeof path, "%s/t.gguf", dir);
    Buf w = {0};
    tokenizer_file(&w, "llama", 7, 1);
    t_write_file(path, w.b, w.n);
    Tokenizer *t = tokenizer_load(path, 0, err);
    if (!t) fail_msg("%s", err);
    int *ids, nid;
    assert_int_equal(tokenizer_encode(t, "ab", 2, 1, &ids, &nid, err), 0);
    assert_int_equal(nid, 3); /* BOS, "▁a" (the space prefix merged with a), "b" */
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 6);
    assert_int_equal(ids[2], 5);
    free(ids);
    tokenizer_free(t);
    const char *refused[] = {"bert", "rwkv"};
    for (int i = 0; i < 2; i++) {
        tokenizer_file(&w, refused[i], 7, 1);
        t_write_file(path, w.b, w.n);
        assert_null(tokenizer_load(path, 0, err));
        char want[64];
        snprintf(want, sizeof want, "GGUF tokenizer '%s' is not supported", refused[i]);
        if (!strstr(err, want)) fail_msg("'%s' lacks '%s'", err, want);
    }
    /* gpt2 without tokenizer.ggml.pre: its split is unknown */
    tokenizer_file(&w, "gpt2", 7, 1);
    t_write_file(path, w.b, w.n);
    assert_null(tokenizer_load(path, 0, err));
    assert_non_null(strstr(err, "pre-tokenizer '(none)' is not supported"));
    tokenizer_file(&w, "llama", 7, 0);
    t_write_file(path, w.b, w.n);
    assert_null(tokenizer_load(path, 0, err));
    assert_non_null(strstr(err, "tokenizer.ggml.scores"));
    tokenizer_file(&w, "llama", 7, 1);
    t_write_file(path, w.b, w.n);
    assert_null(tokenizer_load(path, 4, err)); /* more tokens than the model's vocabulary */
    assert_non_null(strstr(err, "vocab_size 4"));
    free(w.b);
    assert_int_equal(t_rm_rf(dir), 0);
}


/* Every .gguf file in assets/gguf, sorted; returns how many. */
static int gguf_files(char names[64][128]) {
    DIR *d = opendir(GG);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > 5 && l < 120 && !strcmp(e->d_name + l - 5, ".gguf")) snprintf(names[n++], 128, "%.120s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 128, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* Quantized layers stay as the file stores them: every linear layer is QW_GGUF (block types), F16/BF16
 * (halves) or F32; the packed model's prefill logits equal the dequantize-at-load model's, its decode
 * logits agree to float32 summation order; and each layer's decode kernel, at every SIMD level, agrees
 * with a float64 dot product of its weights (gguf-py's, as the sha256 test shows) within the float32
 * summation bound 2·(n + 32)·u·Σ|w·x|. */
static void test_packed_every_file(void **state) {
    (void)state;
    char names[64][128];
    int nf = gguf_files(names);
    if (nf < 21) skip();
    int layers = 0, kept = 0;
    for (int fi = 0; fi < nf; fi++) {
        char path[300];
        snprintf(path, sizeof path, GG "/%.200s", names[fi]);
        GgufFile g;
        char err[QB_ERRLEN];
        if (gguf_open(path, &g, err)) fail_msg("%s", err);
        Model *m = t_load_model(path);
        static const char *gn[LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int k = 0; k < LIN_COUNT; k++) {
                char tn[96];
                snprintf(tn, sizeof tn, "blk.%d.%s.weight", l, gn[k]);
                const GgufTensor *t = gguf_find_tensor(&g, tn);
                assert_non_null(t);
                const Linear *lin = &m->blocks[l].lin[k];
                QWeightFormat want = t->type == GGML_F32 ? QW_F32 : t->type == GGML_F16 ? QW_F16
                                     : t->type == GGML_BF16 ? QW_BF16 : QW_GGUF;
                if (linear_format(lin) != want)
                    fail_msg("%s %s: held as %s", path, tn, qweight_format_name(linear_format(lin)));
                if (want == QW_GGUF) assert_int_equal(linear_weight_bytes(lin), t->nbytes);
                kept += want != QW_F32;
                layers++;
                /* the decode kernel of this layer at every SIMD level */
                const int R = lin->rows, C = lin->cols;
                float *w = malloc((size_t)R * C * sizeof *w), *x = malloc((size_t)C * sizeof *x), *y = malloc((size_t)R * sizeof *y);
                assert_true(w && x && y);
                linear_rows_f32(lin, 0, R, w);
                for (int j = 0; j < C; j++) x[j] = (float)(((j * 2654435761u) >> 7) % 2001u) / 1000.0f - 1.0f;
                for (int lev = 0; lev <= 2; lev++) {
                    qk_set_simd(lev);
                    linear_dot_rows(lin, x, 0, R, y);
                    for (int r = 0; r < R; r++) {
                        double want_v = 0, mag = 0;
                        for (int j = 0; j < C; j++) {
                            want_v += (double)w[(size_t)r * C + j] * x[j];
                            mag += fabs((double)w[(size_t)r * C + j] * x[j]);
                        }
                        double tol = 2.0 * (C + 32) * 0x1p-24 * mag + 1e-30;
                        if (fabs(y[r] - want_v) > tol)
                            fail_msg("%s %s (simd %d) row %d: kernel %.9g, float64 %.9g, bound %.3g", path, tn, lev, r,
                                     (double)y[r], want_v, tol);
                    }
                }
                qk_set_simd(99); /* back to the best the CPU has */
                free(w);
                free(x);
                free(y);
            }
        model_free(m);
        gguf_close(&g);
        double worst = t_packed_vs_dequantized(path, 16);
        print_message("%-24s packed: prefill identical, decode max |diff| %.2e\n", names[fi], worst);
    }
    print_message("%d files, %d linear layers, %d kept as stored\n", nf, layers, kept);
    /* `info` says how the layers are held: 14 Q4_K tensors of 144-byte blocks per 256 weights */
    char *out = NULL;
    assert_int_equal(t_run_qbench("info " GG "/synth256-Q4_K_S.gguf", &out, NULL), 0);
    char want[96];
    snprintf(want, sizeof want, "in_memory         gguf 14; %d bytes of linear weights\n", 1572864 / 256 * 144);
    assert_non_null(strstr(out, want));
    free(out);
}

/* Packed GGUF layers give the same bits for any thread count: a 160-token prefill (enough work to split
 * the layers over threads) and a 16-token decode with 1 and 3 threads, Q4_K and Q2_K. */
static void test_packed_threads(void **state) {
    (void)state;
    const char *files[] = {GG "/synth256-Q4_K_S.gguf", GG "/synth256-Q2_K.gguf"};
    if (access(files[0], R_OK) || access(files[1], R_OK)) skip();
    int saved = omp_get_max_threads(), tok[160];
    for (int f = 0; f < 2; f++) {
        Model *m = t_load_model(files[f]);
        assert_int_equal(linear_format(&m->blocks[0].lin[LIN_UP]), QW_GGUF);
        for (int i = 0; i < 160; i++) tok[i] = i == 0 ? 1 : (int)((i * 389u + 11u) % (unsigned)m->cfg.vocab_size);
        size_t V = (size_t)m->cfg.vocab_size;
        omp_set_num_threads(1);
        float *p1 = t_prefill_logits(m, tok, 160), *d1 = t_decode_logits(m, tok, 16);
        omp_set_num_threads(3);
        float *p3 = t_prefill_logits(m, tok, 160), *d3 = t_decode_logits(m, tok, 16);
        omp_set_num_threads(saved);
        assert_memory_equal(p1, p3, 160 * V * sizeof(float));
        assert_memory_equal(d1, d3, 16 * V * sizeof(float));
        free(p1), free(p3), free(d1), free(d3);
        model_free(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequant_all_reference),
        cmocka_unit_test(test_logits_synth256_gguf_vs_hf),
        cmocka_unit_test(test_logits_s260k_gguf_vs_llama2c),
        cmocka_unit_test(test_packed_every_file),
        cmocka_unit_test(test_packed_threads),
        cmocka_unit_test(test_tokenizer_from_gguf),
        cmocka_unit_test(test_generate_matches_llama2c),
        cmocka_unit_test(test_ppl_llamacpp_every_file),
        cmocka_unit_test(test_models_entries_in_experiment),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_tokenizer_kinds),
        cmocka_unit_test(test_tokenizer_bpe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
