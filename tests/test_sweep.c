/* test_sweep.c — sweep expansion (count = product minus exclusions, counted by hand), order,
 * canonical JSON and keys (stable, sensitive to every parameter and the model hash), shards
 * (disjoint, balanced, covering), and the named datasets (checksums, the tinystories split). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "harness/config.h"
#include "harness/sweep.h"
#include "tests/common.h"

static Experiment *parse(const char *yaml) {
    Experiment *e = malloc(sizeof *e);
    char err[QB_ERRLEN];
    if (config_parse(yaml, strlen(yaml), "s.yaml", e, err)) fail_msg("%s", err);
    return e;
}

#define HEAD "model: {path: m.bin}\n"
#define EVAL "eval: {perplexity: [{dataset: tinystories-valid}]}\n"

/* The demo's sweep: 3 methods x 4 bits x 2 groups x 2 act-order = 48, minus rtn with act-order
 * (4 bits x 2 groups = 8) = 40 points; with gptqt at 8 bits also excluded (2 groups x 2 act-order
 * = 4), 36. */
static void test_demo_count_and_order(void **state) {
    (void)state;
    Experiment *e36 = parse(HEAD "sweep:\n  method: [rtn, gptq, gptqt]\n  bits: [2, 3, 4, 8]\n  group_size: [-1, 32]\n"
                                 "  act_order: [false, true]\n  exclude: [{method: rtn, act_order: true}, {method: gptqt, bits: 8}]\n" EVAL);
    Experiment *e = parse(HEAD "sweep:\n  method: [rtn, gptq, gptqt]\n  bits: [2, 3, 4, 8]\n  group_size: [-1, 32]\n"
                               "  act_order: [false, true]\n  exclude: [{method: rtn, act_order: true}]\n" EVAL);
    SweepPoint *p;
    int n;
    char err[QB_ERRLEN];
    assert_int_equal(sweep_expand(e36, &p, &n, err), 0);
    assert_int_equal(n, 36);
    free(p);
    free(e36);
    assert_int_equal(sweep_expand(e, &p, &n, err), 0);
    assert_int_equal(n, 40);
    assert_string_equal(sweep_get_str(&p[39], "method", ""), "gptqt"); /* the last: gptqt 8 g32 act */
    assert_int_equal(sweep_get_int(&p[39], "bits", 0), 8);
    /* first axis slowest, last fastest: rtn 2 -1 false, rtn 2 32 false, rtn 3 -1 false, ... */
    assert_string_equal(sweep_get_str(&p[0], "method", ""), "rtn");
    assert_int_equal(sweep_get_int(&p[0], "bits", 0), 2);
    assert_int_equal(sweep_get_int(&p[0], "group_size", 0), -1);
    assert_int_equal(sweep_get_int(&p[1], "group_size", 0), 32);
    assert_int_equal(sweep_get_int(&p[2], "bits", 0), 3);
    /* rtn occupies 8 points, then gptq 2 -1 false, gptq 2 -1 true */
    assert_string_equal(sweep_get_str(&p[8], "method", ""), "gptq");
    assert_int_equal(sweep_get_int(&p[8], "act_order", 1), 0);
    assert_int_equal(sweep_get_int(&p[9], "act_order", 0), 1);
    for (int i = 0; i < n; i++) {
        assert_int_equal(p[i].index, i);
        assert_false(!strcmp(sweep_get_str(&p[i], "method", ""), "rtn") && sweep_get_int(&p[i], "act_order", 0));
    }
    free(p);
    free(e);
}

static void test_canonical_and_key(void **state) {
    (void)state;
    Experiment *e = parse(HEAD "calibration: {samples: 8, seqlen: 32, seed: 5}\nsweep:\n  method: [rtn, gptq]\n  bits: [4]\n"
                               "fixed: {damp: 0.05, sym: true}\n" EVAL);
    SweepPoint *p;
    int n;
    char err[QB_ERRLEN], c0[2048], c1[2048];
    assert_int_equal(sweep_expand(e, &p, &n, err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(sweep_canonical(e, &p[0], c0, sizeof c0), 0);
    assert_int_equal(sweep_canonical(e, &p[1], c1, sizeof c1), 0);
    /* written out by hand from the rules in sweep.h */
    assert_string_equal(c0, "{\"experiment\":\"s\",\"params\":{\"method\":\"rtn\",\"bits\":4,\"group_size\":-1,"
                            "\"act_order\":false,\"sym\":true,\"static_groups\":false,\"true_sequential\":true,"
                            "\"damp\":0.050000000000000003},\"quantizer_version\":1}");
    assert_string_equal(c1, "{\"experiment\":\"s\",\"params\":{\"method\":\"gptq\",\"bits\":4,\"group_size\":-1,"
                            "\"act_order\":false,\"sym\":true,\"static_groups\":false,\"true_sequential\":true,"
                            "\"damp\":0.050000000000000003},\"quantizer_version\":1,"
                            "\"calibration\":{\"dataset\":\"tinystories-calib\",\"samples\":8,\"seqlen\":32,\"seed\":5}}");
    char k0[65], k0b[65], k1[65], kother[65], manual[65];
    sweep_key("aa", c0, k0);
    sweep_key("aa", c0, k0b);
    sweep_key("aa", c1, k1);
    sweep_key("ab", c0, kother);
    assert_string_equal(k0, k0b);
    assert_string_not_equal(k0, k1);
    assert_string_not_equal(k0, kother);
    char buf[2100];
    snprintf(buf, sizeof buf, "aa\n%s", c0);
    qb_sha256_hex(buf, strlen(buf), manual);
    assert_string_equal(k0, manual);
    assert_int_equal(sweep_canonical(e, &p[0], c0, 20), -1); /* does not fit */
    char label[64];
    sweep_label(&p[1], label, sizeof label);
    assert_string_equal(label, "gptq w4 row sym");
    free(p);
    free(e);
}

static void test_shards_partition(void **state) {
    (void)state;
    Experiment *e = parse(HEAD "sweep:\n  method: [rtn]\n  bits: [2, 3, 4, 5, 6, 7, 8]\n" EVAL);
    SweepPoint *p;
    int n;
    char err[QB_ERRLEN];
    assert_int_equal(sweep_expand(e, &p, &n, err), 0);
    assert_int_equal(n, 7);
    int si, sn, owner[7];
    assert_int_equal(sweep_parse_shard("1/3", &si, &sn, err), 0);
    assert_int_equal(si, 1);
    assert_int_equal(sn, 3);
    memset(owner, 0, sizeof owner);
    int sizes[3] = {0};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < n; i++)
            if (sweep_in_shard(&p[i], s, 3)) { owner[i]++; sizes[s]++; }
    for (int i = 0; i < n; i++) assert_int_equal(owner[i], 1);
    assert_int_equal(sizes[0], 3); /* 0, 3, 6 */
    assert_int_equal(sizes[1], 2);
    assert_int_equal(sizes[2], 2);
    const char *bad[] = {"3/3", "-1/2", "1", "a/b", "1/0", "1/2x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sweep_parse_shard(bad[i], &si, &sn, err), -1);
        assert_non_null(strstr(err, "--shard"));
    }
    assert_int_equal(sweep_parse_shard(NULL, &si, &sn, err), -1);
    free(p);
    free(e);
}

static void test_exclude_and_where_match_defaults(void **state) {
    (void)state;
    /* excluding group_size -1 (the default, not swept) removes every point of the 2nd method */
    Experiment *e = parse(HEAD "sweep:\n  method: [rtn, gptq]\n  bits: [4, 8]\n"
                               "  exclude: [{method: gptq, group_size: -1}, {bits: 8, method: rtn}]\n" EVAL);
    SweepPoint *p;
    int n;
    char err[QB_ERRLEN];
    assert_int_equal(sweep_expand(e, &p, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(sweep_get_str(&p[0], "method", ""), "rtn");
    assert_int_equal(sweep_get_int(&p[0], "bits", 0), 4);
    free(p);
    free(e);
}

/* Every parameter reaches the quantizer's options. */
static void test_pipeline_options(void **state) {
    (void)state;
    Experiment *e = parse(HEAD "sweep:\n  method: [gptqt]\n  bits: [3]\n"
                               "fixed: {group_size: 32, damp: 0.05, true_sequential: false, static_groups: true,\n"
                               "        gptqt: {high_bits: +2, objective: hdiag, variant: twopass, reexplore_steps: 7}}\n" EVAL);
    SweepPoint *p;
    int n;
    char err[QB_ERRLEN];
    assert_int_equal(sweep_expand(e, &p, &n, err), 0);
    assert_int_equal(n, 1);
    PipelineOptions po;
    assert_int_equal(sweep_pipeline_options(&p[0], &po, err), 0);
    assert_int_equal(po.opt.method, QM_GPTQT);
    assert_int_equal(po.opt.bits, 3);
    assert_int_equal(po.opt.group_size, 32);
    assert_int_equal(po.opt.high_bits, 5); /* 3 + 2 */
    assert_true(po.opt.percdamp == 0.05f);
    assert_int_equal(po.opt.static_groups, 1);
    assert_int_equal(po.opt.objective, QT_OBJ_HDIAG);
    assert_int_equal(po.opt.variant, QT_VARIANT_TWOPASS);
    assert_int_equal(po.opt.reexplore_steps, 7);
    assert_int_equal(po.true_sequential, 0);
    assert_int_equal(po.quantize_head, 0); /* not asked */
    assert_true(po.opt.reexplore_lo == 0.6f); /* untouched: the quantizer's default */
    free(p);
    free(e);
    e = parse(HEAD "sweep:\n  method: [gptq]\n  bits: [4]\nfixed: {quantize_head: true}\n" EVAL);
    assert_int_equal(sweep_expand(e, &p, &n, err), 0);
    assert_int_equal(sweep_pipeline_options(&p[0], &po, err), 0);
    assert_int_equal(po.quantize_head, 1);
    free(p);
    free(e);
}

/* GPTQT's linear-step bits: absolute as written; relative "+k" or unset (+1) capped at 8, so 8-bit
 * points keep an 8-bit linear step. Values worked out by hand from that rule. */
static void test_high_bits_cap(void **state) {
    (void)state;
    static const struct { const char *fixed; long want[4]; } CASES[] = { /* bits 2, 3, 7, 8 */
        {"{sym: false}", {3, 4, 8, 8}},
        {"{gptqt: {high_bits: +1}}", {3, 4, 8, 8}},
        {"{gptqt: {high_bits: +3}}", {5, 6, 8, 8}},
        {"{gptqt: {high_bits: 8}}", {8, 8, 8, 8}},
    };
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        char y[512];
        snprintf(y, sizeof y, HEAD "sweep:\n  method: [gptqt, rtnt]\n  bits: [2, 3, 7, 8]\nfixed: %s\n" EVAL, CASES[c].fixed);
        Experiment *e = parse(y);
        SweepPoint *p;
        int n;
        char err[QB_ERRLEN];
        assert_int_equal(sweep_expand(e, &p, &n, err), 0);
        assert_int_equal(n, 8);
        for (int i = 0; i < n; i++) {
            PipelineOptions po;
            assert_int_equal(sweep_pipeline_options(&p[i], &po, err), 0);
            if (sweep_high_bits(&p[i]) != CASES[c].want[i % 4] || po.opt.high_bits != CASES[c].want[i % 4])
                fail_msg("%s, point %d: high bits %ld / %d, want %ld", CASES[c].fixed, i, sweep_high_bits(&p[i]),
                         po.opt.high_bits, CASES[c].want[i % 4]);
            if (quant_options_validate(&po.opt, 0, err)) fail_msg("%s, point %d: %s", CASES[c].fixed, i, err);
        }
        free(p);
        free(e);
    }
    /* methods without a two-step grid have none */
    Experiment *e = parse(HEAD "sweep:\n  method: [rtn, gptq]\n  bits: [8]\nfixed: {gptqt: {high_bits: +1}}\n" EVAL);
    SweepPoint *p;
    int n;
    char err[QB_ERRLEN];
    assert_int_equal(sweep_expand(e, &p, &n, err), 0);
    for (int i = 0; i < n; i++) assert_int_equal(sweep_high_bits(&p[i]), 0);
    free(p);
    free(e);
}

/* ---- datasets ---------------------------------------------------------------------------------- */

static void test_tinystories_split_is_disjoint_and_complete(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    TextDataset v, c, whole;
    assert_int_equal(dataset_load_text("tinystories-valid", &v, err), 0);
    assert_int_equal(dataset_load_text("tinystories-calib", &c, err), 0);
    assert_int_equal(dataset_load_text("assets/tinystories/tinystories_v1_validation_head.txt", &whole, err), 0);
    /* the manifest's hash (datasets/assets.tsv) */
    assert_string_equal(v.sha256, "5fc1fb0113df62b567fb271806cd645ce8d75f59c58ca0b764c03d3b6ff34ca6");
    assert_int_equal(v.len + c.len, whole.len);
    assert_memory_equal(whole.text, v.text, v.len);
    assert_memory_equal(whole.text + v.len, c.text, c.len);
    assert_true(c.len > whole.len / 5 && c.len <= whole.len / 4); /* the last quarter, cut at a story start */
    assert_int_equal(strncmp(c.text, "Once upon a time", 16), 0);
    assert_memory_equal(v.text + v.len - 2, "\n\n", 2);
    /* the cut only happens at a story opening in the last quarter; none: everything is validation */
    const char *t1 = "Once upon a time x.\n\nabc def ghi jkl mno pqr stu vwx";
    assert_int_equal(dataset_tinystories_cut(t1, strlen(t1)), strlen(t1));
    const char *t2 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\nOnce upon a time y.";
    assert_int_equal(dataset_tinystories_cut(t2, strlen(t2)), 80);
    const char *t3 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nOnce upon a time y.";
    assert_int_equal(dataset_tinystories_cut(t3, strlen(t3)), strlen(t3)); /* not a paragraph start */
    dataset_text_free(&v);
    dataset_text_free(&c);
    dataset_text_free(&whole);
}

static void test_named_datasets_load(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    TextDataset d;
    assert_int_equal(dataset_load_text("wikitext2-test", &d, err), 0);
    assert_non_null(strstr(d.text, " = Robert Boulter = ")); /* wikitext-2 test starts with this article */
    dataset_text_free(&d);
    assert_int_equal(dataset_load_text("c4-calib", &d, err), 0);
    /* the first document of the file, as seen with head -c */
    assert_int_equal(strncmp(d.text, "Beginners BBQ Class Taking Place in Missoula!", 45), 0);
    assert_null(strstr(d.text, "{\"text\""));
    dataset_text_free(&d);
    assert_int_equal(dataset_load_text("ptb-test", &d, err), 0);
    dataset_text_free(&d);
    assert_int_equal(dataset_load_text("no-such-dataset", &d, err), -1);
    assert_non_null(strstr(err, "no-such-dataset"));
    assert_int_equal(dataset_check("wmt14-ende", err), 0);
    assert_int_equal(dataset_check("nope", err), -1);
}

static void test_tasks(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    TaskSet t;
    assert_int_equal(dataset_load_task("tinystories-continuation", 5, &t, err), 0);
    assert_int_equal(t.n, 5);
    for (int i = 0; i < t.n; i++) {
        assert_int_equal(strncmp(t.pairs[i].prompt, "Once upon a time", 16), 0);
        char last = t.pairs[i].prompt[strlen(t.pairs[i].prompt) - 1];
        assert_true(last == '.' || last == '!' || last == '?');
        assert_int_equal(t.pairs[i].n_refs, 1);
        assert_true(strlen(t.pairs[i].refs[0]) > 0);
    }
    /* the first story opening of the file (line 5): its first sentence and the start of the rest */
    assert_string_equal(t.pairs[0].prompt, "Once upon a time, in a big forest, there lived a rhinoceros named Roxy.");
    assert_int_equal(strncmp(t.pairs[0].refs[0], "Roxy loved to climb.", 20), 0);
    dataset_task_free(&t);

    assert_int_equal(dataset_load_task("c4-continuation", 3, &t, err), 0);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.pairs[0].prompt, "Cluster comprises IBM's Opteron-based eServer 325 server and ");
    dataset_task_free(&t);

    assert_int_equal(dataset_load_task("wmt14-ende", 2, &t, err), 0);
    assert_string_equal(t.pairs[0].prompt, "Orlando Bloom and Miranda Kerr still love each other");
    dataset_task_free(&t);
}

static void test_task_jsonl_hostile(void **state) {
    (void)state;
    char err[QB_ERRLEN], path[64];
    TaskSet t;
    snprintf(path, sizeof path, "/tmp/qb_task_%d.jsonl", (int)getpid());
    t_write_text(path, "{\"prompt\": \"a\", \"references\": [\"x\", \"y\"]}\n\n{\"prompt\": \"b\", \"reference\": \"z\"}\n");
    assert_int_equal(dataset_load_task(path, 0, &t, err), 0);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.pairs[0].n_refs, 2);
    assert_string_equal(t.pairs[0].refs[1], "y");
    assert_string_equal(t.pairs[1].refs[0], "z");
    dataset_task_free(&t);
    const char *bad[][2] = {
        {"{\"prompt\": \"a\", \"reference\": \"b\"}\n{\"prompt\": \"a\"\n", ":2:"},       /* truncated JSON */
        {"{\"prompt\": \"a\", \"reference\": 3}\n", ":1:"},                                /* wrong type */
        {"{\"prompt\": \"a\", \"references\": []}\n", ":1:"},                              /* no references */
        {"[1, 2]\n", ":1:"},                                                              /* not an object */
        {"{\"reference\": \"b\"}\n", "prompt"},                                           /* no prompt */
        {"\n\n", "no prompt/reference pairs"},                                            /* empty */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_write_text(path, bad[i][0]);
        assert_int_equal(dataset_load_task(path, 0, &t, err), -1);
        if (!strstr(err, bad[i][1]) || !strstr(err, path)) fail_msg("case %zu: %s", i, err);
    }
    t_write_text(path, "{\"text\": \"one\"}\n{\"text\": 5}\n");
    TextDataset d;
    assert_int_equal(dataset_load_text(path, &d, err), -1);
    assert_non_null(strstr(err, ":2:"));
    unlink(path);
    /* a text file with a NUL byte inside */
    snprintf(path, sizeof path, "/tmp/qb_text_%d.txt", (int)getpid());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("ab\0cd", 1, 5, f);
    fclose(f);
    assert_int_equal(dataset_load_text(path, &d, err), -1);
    assert_non_null(strstr(err, "NUL"));
    unlink(path);
}

static void test_checksum_mismatch(void **state) {
    (void)state;
    char err[QB_ERRLEN], dir[64], sub[96], file[160];
    snprintf(dir, sizeof dir, "/tmp/qb_assets_%d", (int)getpid());
    snprintf(sub, sizeof sub, "%s/ptb", dir);
    snprintf(file, sizeof file, "%s/ptb.test.txt", sub);
    mkdir(dir, 0755);
    mkdir(sub, 0755);
    t_write_text(file, "not the real file\n");
    dataset_set_assets_dir(dir);
    TextDataset d;
    assert_int_equal(dataset_load_text("ptb-test", &d, err), -1);
    assert_non_null(strstr(err, "sha256"));
    assert_non_null(strstr(err, "ptb-test"));
    dataset_set_assets_dir(NULL);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_count_and_order),
        cmocka_unit_test(test_canonical_and_key),
        cmocka_unit_test(test_shards_partition),
        cmocka_unit_test(test_exclude_and_where_match_defaults),
        cmocka_unit_test(test_pipeline_options),
        cmocka_unit_test(test_high_bits_cap),
        cmocka_unit_test(test_tinystories_split_is_disjoint_and_complete),
        cmocka_unit_test(test_named_datasets_load),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_task_jsonl_hostile),
        cmocka_unit_test(test_checksum_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
