/* test_generate.c — generation end to end, through the library and through the CLI:
 *   - stories260K greedy 200 steps from BOS decodes to expected_greedy_200steps.txt byte for byte
 *     (the output of karpathy's `run stories260K.bin -z tok512.bin -t 0 -n 200`);
 *   - TinyStories-656K greedy from BOS matches the first 59 oracle ids (later steps have top-1/top-2
 *     gaps below float32 noise, see SOURCES.md);
 *   - `qbench generate` with an empty prompt (= BOS alone) prints the same text; `qbench ppl --json`
 *     gives llama.cpp's figure on a slice; usage errors exit 2 with a message;
 *   - the progress bar / plain lines (harness/progress.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <cJSON.h>

#include "harness/progress.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "harness/cli.h"
#include "tests/common.h"

static int read_ids(const char *path, int *ids, int cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (n < cap && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

static void test_stories260k_greedy_library(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *m = model_load("assets/stories260K/stories260K.bin", err);
    assert_non_null(m);
    Tokenizer *t = tokenizer_load("assets/stories260K/tok512.bin", m->cfg.vocab_size, err);
    assert_non_null(t);
    int *prompt, np;
    assert_int_equal(tokenizer_encode(t, "", 0, 1, &prompt, &np, err), 0); /* empty prompt = BOS alone */
    assert_int_equal(np, 1);
    GenerateOptions o = {.max_new_tokens = 200, .temperature = 0, .top_k = 0, .top_p = 1, .seed = 0, .stop_at_eos = 1};
    int out[200], n = 0;
    assert_int_equal(model_generate(m, prompt, np, &o, out, &n, err), 0);
    assert_int_equal(n, 200);
    int want[201];
    assert_int_equal(read_ids("assets/stories260K/expected_greedy_200steps.ids", want, 201), 201);
    for (int i = 0; i < 200; i++) assert_int_equal(out[i], want[i + 1]);
    size_t elen;
    char *expected = qb_read_file("assets/stories260K/expected_greedy_200steps.txt", &elen, err);
    assert_non_null(expected);
    char *text = tokenizer_decode(t, out, n);
    assert_int_equal(strlen(text), elen);
    assert_memory_equal(text, expected, elen);
    free(text);
    free(expected);
    free(prompt);
    tokenizer_free(t);
    model_free(m);
}

static void test_656k_greedy_prefix(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *m = model_load("assets/tinystories-656K", err);
    assert_non_null(m);
    Tokenizer *t = tokenizer_load("assets/tinystories-656K/tokenizer.json", m->cfg.vocab_size, err);
    assert_non_null(t);
    int bos = tokenizer_bos(t);
    assert_int_equal(bos, 1);
    GenerateOptions o = {.max_new_tokens = 59, .temperature = 0, .top_p = 1, .stop_at_eos = 1};
    int out[59], n = 0, want[101];
    assert_int_equal(model_generate(m, &bos, 1, &o, out, &n, err), 0);
    assert_int_equal(n, 59);
    assert_int_equal(read_ids("assets/tinystories-656K/expected_greedy_100steps.ids", want, 101), 101);
    for (int i = 0; i < 59; i++) assert_int_equal(out[i], want[i + 1]);
    /* the decoded text is a prefix of the oracle's text */
    size_t elen;
    char *expected = qb_read_file("assets/tinystories-656K/expected_greedy_100steps.txt", &elen, err);
    char *text = tokenizer_decode(t, out, n);
    assert_true(strlen(text) > 100);
    assert_memory_equal(text, expected, strlen(text));
    free(text);
    free(expected);
    tokenizer_free(t);
    model_free(m);
}

/* ---- CLI ---------------------------------------------------------------------------------------- */

static void test_cli_generate_empty_prompt(void **state) {
    (void)state;
    char *out, *err, e2[QB_ERRLEN];
    int rc = t_run_qbench("generate --model assets/stories260K/stories260K.bin --max-new-tokens 200 --prompt ''", &out, &err);
    if (rc) fprintf(stderr, "stderr: %s\n", err);
    assert_int_equal(rc, 0);
    size_t elen;
    char *expected = qb_read_file("assets/stories260K/expected_greedy_200steps.txt", &elen, e2);
    assert_int_equal(strlen(out), elen + 1); /* the text, then one newline */
    assert_memory_equal(out, expected, elen);
    assert_int_equal(out[elen], '\n');
    free(out);
    free(err);
    /* a prompt is echoed, then continued; --json carries ids and settings */
    rc = t_run_qbench("generate --model assets/stories260K/stories260K.bin --tokenizer assets/stories260K/tok512.bin "
                 "--prompt 'Once upon a time' --max-new-tokens 5 --json", &out, &err);
    assert_int_equal(rc, 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "prompt")->valuestring, "Once upon a time");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "ids")), 5);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "prompt_ids"), 0)->valueint, 1);
    /* the greedy path from BOS starts "Once upon a time, there was" (the expected file): after the
     * prompt "Once upon a time" the continuation starts with "," */
    assert_int_equal(cJSON_GetObjectItem(j, "text")->valuestring[0], ',');
    cJSON_Delete(j);
    free(out);
    free(err);
    free(expected);
}

static void test_cli_ppl_json(void **state) {
    (void)state;
    char *out, *err;
    int rc = t_run_qbench("ppl --model assets/stories260K/stories260K.bin --data assets/tinystories/tinystories_v1_validation_head.txt "
                     "--seqlen 256 --mode llamacpp --max-windows 20 --json --quiet", &out, &err);
    if (rc) fprintf(stderr, "stderr: %s\n", err);
    assert_int_equal(rc, 0);
    assert_string_equal(err, ""); /* --quiet: nothing on stderr */
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "mode")->valuestring, "llamacpp");
    assert_int_equal(cJSON_GetObjectItem(j, "windows")->valueint, 20);
    assert_int_equal(cJSON_GetObjectItem(j, "scored_tokens")->valueint, 20 * 127);
    double ppl = cJSON_GetObjectItem(j, "ppl")->valuedouble;
    assert_true(ppl > 2 && ppl < 8); /* a slice of the 4.8752 text; the exact figure is test_ppl's */
    assert_non_null(strstr(cJSON_GetObjectItem(j, "signature")->valuestring, "mode:llamacpp|ctx:256"));
    assert_non_null(strstr(cJSON_GetObjectItem(j, "signature")->valuestring, "prepend:yes"));
    cJSON_Delete(j);
    free(out);
    free(err);
    /* --no-prepend-space is recorded */
    rc = t_run_qbench("ppl --model assets/tinystories-656K --data assets/tinystories/tinystories_v1_validation_head.txt "
                 "--seqlen 128 --max-windows 2 --no-prepend-space --json --quiet", &out, &err);
    assert_int_equal(rc, 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "prepend_space")));
    assert_non_null(strstr(cJSON_GetObjectItem(j, "signature")->valuestring, "mode:gptq|seqlen:128"));
    assert_non_null(strstr(cJSON_GetObjectItem(j, "signature")->valuestring, "prepend:no"));
    cJSON_Delete(j);
    free(out);
    free(err);
}

static void expect_cli_error(const char *args, const char *needle) {
    char *out, *err;
    int rc = t_run_qbench(args, &out, &err);
    if (rc != 2 || !strstr(err, needle)) fprintf(stderr, "qbench %s -> %d, stderr: %s\n", args, rc, err);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, needle));
    assert_string_equal(out, ""); /* no partial results */
    free(out);
    free(err);
}

static void test_cli_errors(void **state) {
    (void)state;
    expect_cli_error("generate --prompt hi", "--model is required");
    expect_cli_error("generate --model assets/no-such-model.bin", "no-such-model.bin");
    expect_cli_error("generate --model assets/stories260K/stories260K.bin --temperature -1", "--temperature");
    expect_cli_error("generate --model assets/stories260K/stories260K.bin --bogus", "unknown option");
    expect_cli_error("generate --model assets/stories260K/stories260K.bin --tokenizer assets/llama2-tokenizer/tokenizer.bin",
                     "vocab_size 512");
    expect_cli_error("generate --model assets/wikitext2/wiki.test.raw", "wiki.test.raw");
    expect_cli_error("ppl --model assets/stories260K/stories260K.bin --seqlen 256", "required");
    expect_cli_error("ppl --model assets/stories260K/stories260K.bin --data assets/nope.txt --seqlen 256", "nope.txt");
    expect_cli_error("ppl --model assets/stories260K/stories260K.bin --data assets/tinystories/tinystories_v1_validation_head.txt "
                     "--seqlen 256 --mode fancy", "--mode");
    expect_cli_error("ppl --model assets/stories260K/stories260K.bin --data assets/tinystories/tinystories_v1_validation_head.txt "
                     "--seqlen 256 --stride 128", "--stride only applies");
    expect_cli_error("ppl --model assets/stories260K/stories260K.bin --data assets/tinystories/tinystories_v1_validation_head.txt "
                     "--seqlen x", "--seqlen");
    expect_cli_error("ppl --model assets/stories260K/stories260K.bin --data assets/stories260K/expected_greedy_200steps.txt "
                     "--seqlen 512 --quiet", "too few");
    expect_cli_error("ppl --model assets/stories260K/stories260K.bin --data assets/stories260K/expected_greedy_200steps.txt "
                     "--seqlen 4096 --quiet", "above the model's context 512");
}

/* ---- progress ------------------------------------------------------------------------------------ */

static double fake_t;
static double fake_now(void) { return fake_t; }

static char *capture(void (*fn)(FILE *)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f);
    fclose(f);
    return buf;
}

static void plain_run(FILE *f) {
    Progress p;
    progress_init_stream(&p, f, 0, "ppl", 1000, "tok", 0);
    p.now = fake_now;
    fake_t = p.t0 = p.last = 100.0;
    fake_t = 101; progress_update(&p, 100); /* < 10 s since start: silent */
    fake_t = 110; progress_update(&p, 250); /* 10 s: a line, 25 tok/s, ETA 750/25 = 30 s */
    fake_t = 112; progress_update(&p, 300); /* silent */
    fake_t = 120; progress_callback(&p, 1000, 1000);
    progress_finish(&p);
}

static void tty_run(FILE *f) {
    Progress p;
    progress_init_stream(&p, f, 1, "ppl", 200, "tok", 0);
    p.now = fake_now;
    fake_t = p.t0 = p.last = 0;
    fake_t = 1; progress_update(&p, 100);
    progress_finish(&p);
}

static void quiet_run(FILE *f) {
    Progress p;
    progress_init_stream(&p, f, 1, "ppl", 200, "tok", 1);
    progress_update(&p, 100);
    progress_finish(&p);
}

static void test_progress(void **state) {
    (void)state;
    char *s = capture(plain_run);
    assert_string_equal(s, "ppl: 25% (250/1000 tok) 25.0 tok/s, ETA 30s\n"
                           "ppl: 100% (1000/1000 tok) 50.0 tok/s, done in 20s\n");
    free(s);
    s = capture(tty_run);
    /* half done after 1 s: 15 of 30 bar cells, 100 tok/s, 1 s to go; then the final bar and a newline */
    assert_non_null(strstr(s, "\rppl [###############---------------]  50% 100/200 tok  100.0 tok/s  ETA 1s"));
    assert_int_equal(s[strlen(s) - 1], '\n');
    free(s);
    s = capture(quiet_run);
    assert_string_equal(s, "");
    free(s);
    char d[16];
    progress_format_duration(3725, d, sizeof d);
    assert_string_equal(d, "1:02:05");
    progress_format_duration(65, d, sizeof d);
    assert_string_equal(d, "1:05");
    progress_format_duration(-1, d, sizeof d);
    assert_string_equal(d, "?");
}

int main(void) {
    qb_set_threads(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k_greedy_library),
        cmocka_unit_test(test_656k_greedy_prefix),
        cmocka_unit_test(test_cli_generate_empty_prompt),
        cmocka_unit_test(test_cli_ppl_json),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
