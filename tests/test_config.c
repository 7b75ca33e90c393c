/* test_config.c — experiment files: a good file parses into the expected settings (values read off
 * the YAML below by hand), and malformed files are rejected with "file:line" and the key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "harness/config.h"
#include "harness/sweep.h"

static const char GOOD[] =
    "name: t\n"                                                                          /* 1 */
    "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
    "calibration: {dataset: tinystories-calib, samples: 16, seqlen: 64, seed: 3}\n"     /* 3 */
    "sweep:\n"                                                                           /* 4 */
    "  method: [rtn, gptq]\n"                                                            /* 5 */
    "  bits: [2, 4]\n"                                                                   /* 6 */
    "  act_order: [false, true]\n"                                                       /* 7 */
    "  exclude: [{method: rtn, act_order: true}]\n"                                      /* 8 */
    "fixed: {sym: false, damp: 0.01, gptqt: {high_bits: +1}}\n"                          /* 9 */
    "eval:\n"                                                                            /* 10 */
    "  perplexity: [{dataset: tinystories-valid, seqlen: 128, max_windows: 4}]\n"        /* 11 */
    "  generation: [{task: tinystories-continuation, prompts: 4, max_new_tokens: 16,\n"  /* 12 */
    "                metrics: [chrf, meteor], against: [baseline]}]\n"                   /* 13 */
    "  agreement: [{dataset: wikitext2-test, seqlen: 64, windows: 2}]\n"                 /* 14 */
    "check:\n"                                                                           /* 15 */
    "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10, where: {bits: 4}}\n"
    "  - {metric: chrf, task: tinystories-continuation, against: baseline, min: 30}\n"
    "output: {db: results/t.db, plots: results/tplots}\n";

static void test_good_file_parses(void **state) {
    (void)state;
    Experiment *e = malloc(sizeof *e);
    char err[QB_ERRLEN] = "";
    assert_int_equal(config_parse(GOOD, strlen(GOOD), "good.yaml", e, err), 0);
    assert_string_equal(e->name, "t");
    assert_string_equal(e->model_path, "assets/stories260K/stories260K.bin");
    assert_string_equal(e->tokenizer_path, "assets/stories260K/tok512.bin");
    assert_int_equal(e->calibration.samples, 16);
    assert_int_equal(e->calibration.seqlen, 64);
    assert_int_equal((int)e->calibration.seed, 3);
    assert_int_equal(e->n_axes, 3);
    assert_string_equal(e->axes[1].name, "bits");
    assert_int_equal(e->axes[1].n_values, 2);
    assert_int_equal(e->axes[1].values[1].i, 4);
    assert_int_equal(e->axes[1].line, 6);
    assert_int_equal(e->n_exclude, 1);
    assert_int_equal(e->n_fixed, 3);
    const ParamSetting *hb = config_fixed(e, "high_bits");
    assert_non_null(hb);
    assert_true(hb->value.relative);
    assert_int_equal(hb->value.i, 1);
    const ParamSetting *damp = config_fixed(e, "damp");
    assert_non_null(damp);
    assert_true(damp->value.f == 0.01);
    assert_int_equal(e->n_ppl, 1);
    assert_int_equal(e->ppl[0].seqlen, 128);
    assert_int_equal(e->ppl[0].max_windows, 4);
    assert_int_equal(e->ppl[0].mode, PPL_GPTQ);
    assert_int_equal(e->n_gen, 1);
    assert_int_equal(e->gen[0].metrics, GEN_METRIC_CHRF | GEN_METRIC_METEOR);
    assert_int_equal(e->gen[0].against, AGAINST_BASELINE);
    assert_int_equal(e->gen[0].line, 12);
    assert_int_equal(e->n_agree, 1);
    assert_int_equal(e->agree[0].windows, 2);
    assert_int_equal(e->n_checks, 2);
    assert_string_equal(e->checks[0].metric, "ppl");
    assert_true(e->checks[0].has[CHECK_MAX_INCREASE_PCT]);
    assert_true(e->checks[0].limit[CHECK_MAX_INCREASE_PCT] == 10.0);
    assert_int_equal(e->checks[0].where.n, 1);
    assert_int_equal(e->checks[0].line, 16);
    assert_int_equal(e->checks[1].against, AGAINST_BASELINE);
    assert_true(e->checks[1].has[CHECK_MIN]);
    assert_string_equal(e->output.db, "results/t.db");
    assert_string_equal(e->output.plots, "results/tplots");
    free(e);
}

static void test_defaults(void **state) {
    (void)state;
    static const char Y[] = "model: {path: m.bin}\nsweep: {method: rtn, bits: 4}\n"
                            "eval: {perplexity: [{dataset: ptb-test}]}\n";
    Experiment *e = malloc(sizeof *e);
    char err[QB_ERRLEN];
    assert_int_equal(config_parse(Y, strlen(Y), "dir/my-exp.yaml", e, err), 0);
    assert_string_equal(e->name, "my-exp"); /* from the file name */
    assert_string_equal(e->output.db, "results/my-exp.db");
    assert_string_equal(e->calibration.dataset, "tinystories-calib");
    assert_int_equal(e->calibration.samples, 128);
    assert_int_equal(e->ppl[0].seqlen, 256);
    free(e);
}

/* Each bad file: its text, the line the message must name, and the key it must name. */
typedef struct {
    const char *what, *yaml;
    int line;
    const char *key;
} Bad;

#define HEAD "model: {path: m.bin}\n"
#define EVAL "eval: {perplexity: [{dataset: tinystories-valid}]}\n"

static const Bad BAD[] = {
    {"unknown top-level key", HEAD "sweep: {method: rtn, bits: 4}\n" EVAL "colour: blue\n", 4, "colour"},
    {"unknown sweep parameter", HEAD "sweep:\n  method: [rtn]\n  bitz: [4]\n" EVAL, 4, "bitz"},
    {"bits 0", HEAD "sweep:\n  method: [rtn]\n  bits: [4, 0]\n" EVAL, 4, "sweep.bits"},
    {"bits not a number", HEAD "sweep:\n  method: [rtn]\n  bits: [four]\n" EVAL, 4, "sweep.bits"},
    {"group size 0", HEAD "sweep: {method: rtn, bits: 4}\nfixed:\n  group_size: 0\n" EVAL, 4, "fixed.group_size"},
    {"unknown method", HEAD "sweep:\n  method: [rtn, awq]\n  bits: [4]\n" EVAL, 3, "sweep.method"},
    {"act_order with rtn not excluded", HEAD "sweep:\n  method: [rtn, gptq]\n  bits: [4]\n  act_order: [false, true]\n" EVAL,
     5, "act_order"},
    {"dataset that does not exist", HEAD "sweep: {method: rtn, bits: 4}\neval:\n  perplexity:\n    - {dataset: no-such-set}\n",
     5, "eval.perplexity.dataset"},
    {"wrong type: mapping for a list", HEAD "sweep: {method: rtn, bits: 4}\neval:\n  perplexity: {dataset: ptb-test}\n", 4,
     "eval.perplexity"},
    {"bool expected", HEAD "sweep: {method: gptq, bits: 4}\nfixed:\n  sym: maybe\n" EVAL, 4, "fixed.sym"},
    {"negative samples", HEAD "calibration:\n  samples: -5\nsweep: {method: gptq, bits: 4}\n" EVAL, 3, "calibration.samples"},
    {"unknown eval key", HEAD "sweep: {method: rtn, bits: 4}\neval:\n  perplexity: [{dataset: ptb-test}]\n  bleu: []\n", 5,
     "eval"},
    {"unknown generation metric", HEAD "sweep: {method: rtn, bits: 4}\neval:\n  generation:\n"
                                  "    - {task: c4-continuation, metrics: [chrf, bleu]}\n",
     5, "eval.generation.metrics"},
    {"check on an unevaluated dataset", HEAD "sweep: {method: rtn, bits: 4}\n" EVAL "check:\n  - {metric: ppl, dataset: ptb-test, max: 5}\n",
     5, "check.dataset"},
    {"check without a threshold", HEAD "sweep: {method: rtn, bits: 4}\n" EVAL "check:\n  - {metric: ppl, dataset: tinystories-valid}\n",
     5, "check"},
    {"check unknown metric", HEAD "sweep: {method: rtn, bits: 4}\n" EVAL "check:\n  - {metric: bleu, min: 3}\n", 5, "check.metric"},
    {"parameter in sweep and fixed", HEAD "sweep: {method: rtn, bits: 4}\nfixed:\n  bits: 3\n" EVAL, 4, "fixed"},
    {"duplicate key", HEAD "sweep:\n  method: [rtn]\n  bits: [4]\n  bits: [3]\n" EVAL, 5, "sweep"},
    {"duplicate axis value", HEAD "sweep:\n  method: [rtn]\n  bits: [4, 4]\n" EVAL, 4, "sweep.bits"},
    {"yaml syntax error", HEAD "sweep: {method: rtn, bits: [4}\n" EVAL, 2, "yaml"},
    {"missing model path", "model: {tokenizer: t.bin}\nsweep: {method: rtn, bits: 4}\n" EVAL, 1, "model.path"},
    {"missing bits", HEAD "sweep:\n  method: [rtn]\n" EVAL, 1, "bits"},
    {"everything excluded", HEAD "sweep:\n  method: [rtn]\n  bits: [4]\n  exclude: [{method: rtn}]\n" EVAL, 1, "sweep"},
    {"static groups without groups", HEAD "sweep:\n  method: [gptq]\n  bits: [4]\nfixed:\n  static_groups: true\n" EVAL, 6,
     "static_groups"},
    {"high_bits not above bits", HEAD "sweep:\n  method: [gptqt]\n  bits: [3, 4]\nfixed:\n  high_bits: 4\n" EVAL, 6, "high_bits"},
    {"high_bits below bits at 8", HEAD "sweep:\n  method: [rtnt]\n  bits: [8]\nfixed:\n  high_bits: 7\n" EVAL, 6, "high_bits"},
    {"relative high_bits out of range", HEAD "sweep:\n  method: [gptqt]\n  bits: [8]\nfixed:\n  high_bits: +7\n" EVAL, 6,
     "fixed.high_bits"},
    {"unknown output key", HEAD "sweep: {method: rtn, bits: 4}\n" EVAL "output:\n  dbb: x.db\n", 5, "output"},
    {"stride without stride mode", HEAD "sweep: {method: rtn, bits: 4}\neval:\n  perplexity:\n    - {dataset: ptb-test, stride: 8}\n",
     5, "eval.perplexity.stride"},
    {"task file that is not jsonl", HEAD "sweep: {method: rtn, bits: 4}\neval:\n  generation:\n    - {task: assets/ptb/ptb.test.txt}\n",
     5, "eval.generation.task"},
    {"empty file", "", 1, "empty"},
    {"top level is a list", "- a\n- b\n", 1, "(top level)"},
};

static void test_malformed_files_name_line_and_key(void **state) {
    (void)state;
    Experiment *e = malloc(sizeof *e);
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char err[QB_ERRLEN] = "";
        int rc = config_parse(BAD[i].yaml, strlen(BAD[i].yaml), "bad.yaml", e, err);
        char want[64];
        snprintf(want, sizeof want, "bad.yaml:%d:", BAD[i].line);
        if (getenv("SHOW")) printf("%-36s %s\n", BAD[i].what, err);
        const int ok = rc == -1 && strstr(err, want) && strstr(err, BAD[i].key);
        if (!ok) print_error("case '%s': rc %d, message \"%s\" (want \"%s\" and \"%s\")\n", BAD[i].what, rc, err, want, BAD[i].key);
        assert_true(ok);
    }
    free(e);
}

static void test_load_missing_file(void **state) {
    (void)state;
    Experiment *e = malloc(sizeof *e);
    char err[QB_ERRLEN];
    assert_int_equal(config_load("tests/no/such/exp.yaml", e, err), -1);
    assert_non_null(strstr(err, "tests/no/such/exp.yaml"));
    free(e);
}

/* Group sizes must divide the model width: 7 does not divide stories260K's 64; 32 does. */
static void test_group_size_against_model(void **state) {
    (void)state;
    static const char Y[] = HEAD "calibration: {seqlen: 64}\nsweep:\n  method: [rtn]\n  bits: [4]\n  group_size: [32, 7]\n" EVAL;
    Experiment *e = malloc(sizeof *e);
    char err[QB_ERRLEN];
    assert_int_equal(config_parse(Y, strlen(Y), "g.yaml", e, err), 0);
    ModelConfig cfg = {.dim = 64, .hidden_dim = 172, .seq_len = 512};
    assert_int_equal(config_validate_model(e, &cfg, err), -1);
    assert_non_null(strstr(err, "g.yaml:6:"));
    assert_non_null(strstr(err, "group_size"));
    assert_non_null(strstr(err, " 7 "));
    cfg.dim = 56; /* 7 divides 56, but 32 does not */
    assert_int_equal(config_validate_model(e, &cfg, err), -1);
    assert_non_null(strstr(err, "32"));
    cfg.dim = 224; /* both divide 224 */
    assert_int_equal(config_validate_model(e, &cfg, err), 0);
    cfg.seq_len = 128; /* the default eval seqlen 256 no longer fits */
    assert_int_equal(config_validate_model(e, &cfg, err), -1);
    assert_non_null(strstr(err, "eval.perplexity.seqlen"));
    free(e);
}

/* Hostile input: an alias to its own enclosing mapping, an alias bomb, and random mutations of a
 * good file must all end in 0 or -1 with a message, never a crash (run under ASan in `make asan`). */
static void test_hostile_yaml(void **state) {
    (void)state;
    Experiment *e = malloc(sizeof *e);
    char err[QB_ERRLEN];
    static const char SELF[] = HEAD "sweep: {method: rtn, bits: 4}\nfixed: &a {gptqt: *a}\n" EVAL;
    assert_int_equal(config_parse(SELF, strlen(SELF), "self.yaml", e, err), -1);
    assert_non_null(strstr(err, "self.yaml:"));
    static const char BOMB[] = HEAD "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                               "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nsweep: {method: rtn, bits: 4}\n" EVAL;
    assert_int_equal(config_parse(BOMB, strlen(BOMB), "bomb.yaml", e, err), -1);
    assert_non_null(strstr(err, "bomb.yaml:2:")); /* unknown top-level key a: rejected before any walk */
    static const char BIG[] = HEAD "sweep:\n  method: [rtn]\n  bits: [2, 3, 4, 5, 6, 7, 8]\n"
                              "  group_size: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]\n"
                              "  damp: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]\n"
                              "  blocksize: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" EVAL;
    assert_int_equal(config_parse(BIG, strlen(BIG), "big.yaml", e, err), -1);
    assert_non_null(strstr(err, "10000 points"));
    QbRng rng;
    qb_rng_seed(&rng, 7);
    size_t n = strlen(GOOD);
    char *buf = malloc(n + 1);
    int ok = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, GOOD, n + 1);
        int edits = 1 + (int)qb_rng_below(&rng, 4);
        for (int k = 0; k < edits; k++) {
            size_t at = (size_t)qb_rng_below(&rng, n);
            static const char ALPHABET[] = "{}[]:,-&*!|>'\"#\n 0123456789abcxyz";
            buf[at] = ALPHABET[qb_rng_below(&rng, sizeof ALPHABET - 1)];
        }
        size_t len = (size_t)qb_rng_below(&rng, n + 1); /* and truncated */
        err[0] = 0;
        int rc = config_parse(buf, len, "fuzz.yaml", e, err);
        if (rc == 0) ok++;
        else if (rc != -1 || !strstr(err, "fuzz.yaml:")) fail_msg("iteration %d: rc %d, message '%s'", it, rc, err);
    }
    free(buf);
    assert_true(ok < 3000); /* the mutations did break files */
    free(e);
}

/* GPTQT at 8 bits: the relative default (+k, or unset) caps the linear step at 8 bits, and an
 * explicit high_bits 8 equals bits only at 8; both are accepted. */
static void test_gptqt_at_8_bits(void **state) {
    (void)state;
    static const char *const FIXED[] = {"{sym: false}", "{gptqt: {high_bits: +1}}", "{gptqt: {high_bits: +2}}",
                                        "{high_bits: 8}"};
    Experiment *e = malloc(sizeof *e);
    for (size_t i = 0; i < sizeof FIXED / sizeof FIXED[0]; i++) {
        char y[512], err[QB_ERRLEN] = "";
        snprintf(y, sizeof y, HEAD "sweep:\n  method: [gptqt, rtnt]\n  bits: [7, 8]\nfixed: %s\n" EVAL, FIXED[i]);
        int rc = config_parse(y, strlen(y), "g8.yaml", e, err);
        if (rc) print_error("%s: %s\n", FIXED[i], err);
        assert_int_equal(rc, 0);
    }
    free(e);
}

/* The shipped experiment files must be valid. */
static void test_shipped_experiments_parse(void **state) {
    (void)state;
    Experiment *e = malloc(sizeof *e);
    char err[QB_ERRLEN] = "";
    const char *files[] = {"experiments/demo.yaml", "experiments/ci.yaml"};
    for (int i = 0; i < 2; i++) {
        int rc = config_load(files[i], e, err);
        if (rc) print_error("%s: %s\n", files[i], err);
        assert_int_equal(rc, 0);
    }
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file_parses),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_malformed_files_name_line_and_key),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_group_size_against_model),
        cmocka_unit_test(test_hostile_yaml),
        cmocka_unit_test(test_gptqt_at_8_bits),
        cmocka_unit_test(test_shipped_experiments_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
