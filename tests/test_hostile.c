/* test_hostile.c — hostile input through the command line, as a user meets it: every text input
 * (ppl, quantize --calib, tasks and generation jsonl, the experiment's perplexity and agreement
 * datasets) refuses random bytes, invalid UTF-8 and NUL bytes the way `score` does (file, line,
 * column, exit 2); `run` creates no folders above its outputs; the shared text check itself. Expected
 * positions are counted by hand from the bytes each test writes. */
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

#include "base/base.h"
#include "tests/common.h"

static char DIR_[256];

static int setup(void **state) {
    (void)state;
    return t_mkdtemp(DIR_, sizeof DIR_, "qb_hostile");
}

static int teardown(void **state) {
    (void)state;
    return getenv("QBENCH_KEEP") ? 0 : t_rm_rf(DIR_);
}

static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", DIR_, name);
    return buf[k];
}

static void need_bin(void) {
    if (access(t_qbench_bin(), X_OK) != 0) {
        fprintf(stderr, "  (skipped: no %s)\n", t_qbench_bin());
        skip();
    }
}

/* The three bad files, each with the message `score` gives for it. Random bytes: a fixed
 * 64-byte pattern whose first non-UTF-8 byte (0xF8, never a lead byte) is on line 2, column 3. */
typedef struct { const char *name; const char *bytes; size_t len; const char *want; } Bad;
static const Bad BAD[] = {
    {"badutf8.txt", "Once upon a time\nthe cat \xc3\x28 sat\n", 32, "badutf8.txt:2: invalid UTF-8 at byte column 9 (byte 0xC3)"},
    {"nul.txt", "Once upon a time\nab\0cd\n", 23, "nul.txt:2: NUL byte at column 3"},
    {"random.bin", "\x41\x42\x0a\x43\x44\xf8\x91\x10\x7f\xfe\x00\x33\x12\xab\xcd\xef\x01\x02\x03\x04\x05\x06\x07\x08"
                   "\x90\x91\x92\x93\x94\x95\x96\x97\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
                   "\xc0\xc1\xd0\xd1\xe0\xe1\xf0\xf1\xfa\xfb\xfc\xfd\xfe\xff\x80\x81", 64,
     "random.bin:2: invalid UTF-8 at byte column 3 (byte 0xF8)"},
};
#define NBAD ((int)(sizeof BAD / sizeof BAD[0]))

static void write_bad(void) {
    for (int i = 0; i < NBAD; i++) t_write_file(tmp(BAD[i].name), BAD[i].bytes, BAD[i].len);
}

/* Runs `qbench ARGS`, expecting exit 2 and `want` on stderr. */
static void refused(const char *args, const char *want) {
    char *out = NULL, *err = NULL;
    int rc = t_run_qbench(args, &out, &err);
    if (rc != 2 || !strstr(err, want)) fprintf(stderr, "qbench %s\n  rc %d, stderr: %s\n  wanted: %s\n", args, rc, err, want);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, want));
    free(out);
    free(err);
}

/* The shared check: what `score` reads and every dataset path goes through. */
static void test_text_validate(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    for (int i = 0; i < NBAD; i++) {
        assert_int_equal(qb_text_validate(BAD[i].bytes, BAD[i].len, BAD[i].name, err), -1);
        assert_string_equal(err, BAD[i].want);
    }
    /* valid: 2-, 3- and 4-byte sequences, an empty text, CRLF */
    const char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\r\n";
    assert_int_equal(qb_text_validate(ok, sizeof ok - 1, "ok", err), 0);
    assert_int_equal(qb_text_validate("", 0, "empty", err), 0);
    /* strict: an overlong '/', a surrogate, above U+10FFFF, a truncated sequence at the end */
    static const char *const strict[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe2\x82"};
    for (int i = 0; i < 4; i++) assert_int_equal(qb_text_validate(strict[i], strlen(strict[i]), "s", err), -1);
    assert_non_null(strstr(err, "s:1: invalid UTF-8 at byte column 3 (byte 0xE2)"));
}

/* ppl, quantize --calib, score, tasks and agreement/perplexity in an experiment: the same refusal. */
static void test_text_inputs_refused_alike(void **state) {
    (void)state;
    need_bin();
    write_bad();
    char args[2048];
    for (int i = 0; i < NBAD; i++) {
        const char *f = tmp(BAD[i].name);
        snprintf(args, sizeof args, "score chrf --hyp %s --ref %s", f, f);
        refused(args, BAD[i].want);
        snprintf(args, sizeof args, "ppl --model assets/stories260K/stories260K.bin --data %s --seqlen 64 --quiet", f);
        refused(args, BAD[i].want);
        snprintf(args, sizeof args,
                 "quantize --model assets/stories260K/stories260K.bin --method gptq --bits 4 --calib %s "
                 "--nsamples 2 --seqlen 32 -o %s --quiet", f, tmp("never.qbq"));
        refused(args, BAD[i].want);
        assert_int_equal(access(tmp("never.qbq"), F_OK), -1);
    }
    /* jsonl: a zero-shot task file and a generation task file, invalid UTF-8 on line 2 */
    const char jl[] = "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n"
                      "{\"context\": \"\xff\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n";
    t_write_file(tmp("task.jsonl"), jl, sizeof jl - 1);
    snprintf(args, sizeof args, "tasks --model assets/stories260K/stories260K.bin --task %s", tmp("task.jsonl"));
    refused(args, "task.jsonl:2: invalid UTF-8 at byte column 14 (byte 0xFF)");
    const char gl[] = "{\"prompt\": \"a\", \"reference\": \"b\"}\n{\"prompt\": \"x\0\", \"reference\": \"b\"}\n";
    t_write_file(tmp("gen.jsonl"), gl, sizeof gl - 1);
    /* an experiment whose agreement data is bad, and one whose generation task is */
    for (int k = 0; k < 2; k++) {
        FILE *y = fopen(tmp("bad.yaml"), "w");
        assert_non_null(y);
        fprintf(y,
                "name: bad\n"
                "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
                "sweep: {method: [rtn], bits: [4], group_size: [32]}\n"
                "eval:\n"
                "  perplexity: [{dataset: tinystories-valid, seqlen: 64, max_windows: 1}]\n"
                "%s\n"
                "output: {db: %s}\n",
                k == 0 ? "  agreement: [{dataset: BAD, seqlen: 64, windows: 1}]"
                       : "  generation: [{task: GEN, prompts: 1, max_new_tokens: 2, metrics: [chrf], against: [reference]}]",
                tmp("bad.db"));
        fclose(y);
        /* the dataset paths go in after the fact: fprintf above keeps the YAML readable */
        char *txt = t_slurp(tmp("bad.yaml"), NULL);
        char *at = strstr(txt, k == 0 ? "BAD" : "GEN");
        assert_non_null(at);
        char fixed[4096];
        snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - txt), txt, tmp(k == 0 ? "badutf8.txt" : "gen.jsonl"), at + 3);
        t_write_text(tmp("bad.yaml"), fixed);
        free(txt);
        snprintf(args, sizeof args, "run %s --quiet", tmp("bad.yaml"));
        refused(args, k == 0 ? BAD[0].want : "gen.jsonl:2: NUL byte at column 14");
        unlink(tmp("bad.db"));
    }
}

/* run refuses an output whose folder is missing, naming it, before any work; nothing is created. */
static void test_run_creates_no_parent_folders(void **state) {
    (void)state;
    need_bin();
    static const struct { const char *out, *want; } cases[] = {
        {"db: DIR/missing/one/x.db", "output.db DIR/missing/one/x.db: folder DIR/missing/one does not exist"},
        {"db: DIR/x.db, junit: DIR/missing/j.xml", "output.junit DIR/missing/j.xml: folder DIR/missing does not exist"},
        {"db: DIR/x.db, plots: DIR/missing/plots", "output.plots DIR/missing/plots: folder DIR/missing does not exist"},
        {"db: DIR/file.txt/x.db", "output.db DIR/file.txt/x.db: folder DIR/file.txt is not a folder"},
    };
    t_write_text(tmp("file.txt"), "x");
    for (int i = 0; i < 4; i++) {
        char out[512] = "", want[1024] = "";
        /* DIR -> the test's folder */
        for (int w = 0; w < 2; w++) {
            const char *src = w ? cases[i].want : cases[i].out;
            char *dst = w ? want : out;
            size_t cap = w ? sizeof want : sizeof out, k = 0;
            for (const char *s = src; *s && k + 300 < cap;) {
                if (!strncmp(s, "DIR", 3)) { k += (size_t)snprintf(dst + k, cap - k, "%s", DIR_); s += 3; }
                else dst[k++] = *s++;
            }
            dst[k] = 0;
        }
        FILE *y = fopen(tmp("out.yaml"), "w");
        assert_non_null(y);
        fprintf(y,
                "name: out\n"
                "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
                "sweep: {method: [rtn], bits: [4], group_size: [32]}\n"
                "eval:\n  perplexity: [{dataset: tinystories-valid, seqlen: 64, max_windows: 1}]\n"
                "output: {%s}\n",
                out);
        fclose(y);
        char args[1024];
        snprintf(args, sizeof args, "run %s --quiet", tmp("out.yaml"));
        refused(args, want);
        struct stat st;
        assert_int_equal(stat(tmp("missing"), &st), -1);
        assert_int_equal(stat(tmp("x.db"), &st), -1); /* refused before the database is created */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_validate),
        cmocka_unit_test(test_text_inputs_refused_alike),
        cmocka_unit_test(test_run_creates_no_parent_folders),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
