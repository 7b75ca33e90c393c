/* test_cli.c — the command line as a user meets it, through the real binary:
 *   - every command and subcommand answers --help with exit 0, and every option its source parses
 *     ("--x" literals in harness/cmd_*.c) is listed there; value options say their default or that
 *     they are required; out-of-range values name the range;
 *   - dataset names work for --data / --hyp / --ref, and from any working directory, as does
 *     meteor15's resource folder (checked against Meteor 1.5's published xray word counts);
 *   - `info` on a .qbq describes the checkpoint (source hash checked with sha256sum);
 *   - `--export gptq` refuses a model it cannot export before any work, and carries the tokenizer
 *     files, generation_config.json and GPTQModel's meta.quantizer. */
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

#include "tests/common.h"

static char g_root[1024], g_bin[1300], g_tmp[64];

static int setup(void **state) {
    (void)state;
    if (!getcwd(g_root, sizeof g_root)) return -1;
    const char *b = t_qbench_bin();
    if (b[0] == '/') snprintf(g_bin, sizeof g_bin, "%s", b);
    else snprintf(g_bin, sizeof g_bin, "%s/%s", g_root, b);
    return t_mkdtemp(g_tmp, sizeof g_tmp, "qbench_cli");
}

static int teardown(void **state) {
    (void)state;
    return t_rm_rf(g_tmp);
}

static int run(const char *args, char **out, char **err) { return t_run_qbench(args, out, err); }

/* `qbench ARGS` with DIR as the working directory. */
static int run_in(const char *dir, const char *args, char **out, char **err) {
    char *old = getenv("QBENCH_BIN") ? strdup(getenv("QBENCH_BIN")) : NULL;
    setenv("QBENCH_BIN", g_bin, 1);
    assert_int_equal(chdir(dir), 0);
    int rc = t_run_qbench(args, out, err);
    assert_int_equal(chdir(g_root), 0);
    if (old) setenv("QBENCH_BIN", old, 1);
    else unsetenv("QBENCH_BIN");
    free(old);
    return rc;
}

static int have_assets(void) { return access("assets/stories260K/stories260K.bin", R_OK) == 0; }

/* ---- --help ---------------------------------------------------------------------------------- */

typedef struct {
    const char *source;     /* harness file that parses the options */
    const char *alt_source; /* its other name, if renamed */
    const char *cmds[4];    /* the commands it implements */
} SourceCmds;

static const SourceCmds SOURCES[] = {
    {"harness/cmd_model.c", NULL, {"info", "synth", "convert"}},
    {"harness/cmd_eval.c", NULL, {"ppl", "generate"}},
    {"harness/cmd_quantize.c", NULL, {"quantize"}},
    {"harness/cmd_score.c", NULL, {"score chrf", "score chrf++", "score"}},
    {"harness/cmd_score_meteor.c", NULL, {"score meteor", "score meteor15"}},
    {"harness/cmd_sweep.c", "harness/cmd_run.c", {"run"}},
    {"harness/cmd_results.c", NULL, {"merge", "plot", "report", "check"}},
    {"harness/cmd_tasks.c", NULL, {"tasks", "tasks compare"}},
    {"harness/cmd_compare.c", NULL, {"compare"}},
};

/* Every "--name" string literal in src (a parser entry or a comparison), deduplicated. */
static int option_literals(const char *src, char names[][64], int max) {
    int n = 0;
    for (const char *p = src; (p = strstr(p, "\"--")) != NULL; p++) {
        const char *q = p + 3;
        while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-') q++;
        if (*q != '"' || q == p + 3) continue; /* not a whole literal: part of a message */
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(q - p - 1), p + 1);
        int dup = 0;
        for (int i = 0; i < n; i++) dup |= !strcmp(names[i], name);
        if (!dup && n < max) snprintf(names[n++], 64, "%s", name);
    }
    return n;
}

/* 1 if help lists option `name` at the start of an option line. */
static int help_lists(const char *help, const char *name) {
    size_t n = strlen(name);
    for (const char *p = help; (p = strstr(p, name)) != NULL; p += n) {
        char after = p[n];
        if (after != ' ' && after != ',' && after != '\n') continue;
        const char *line = p;
        while (line > help && line[-1] != '\n') line--;
        if (!strncmp(line, "  -", 3)) return 1;
    }
    return 0;
}

static void test_every_command_help(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(run("--help", &out, &err), 0);
    assert_non_null(strstr(out, "usage: qbench <command>"));
    free(out);
    free(err);
    for (size_t s = 0; s < sizeof SOURCES / sizeof SOURCES[0]; s++) {
        const char *file = access(SOURCES[s].source, R_OK) == 0 || !SOURCES[s].alt_source ? SOURCES[s].source
                                                                                          : SOURCES[s].alt_source;
        char *src = t_slurp(file, NULL);
        static char names[128][64];
        int nn = option_literals(src, names, 128);
        free(src);
        /* the union of the helps of the commands this file implements must list every literal */
        char *all = strdup("");
        for (int c = 0; c < 4 && SOURCES[s].cmds[c]; c++) {
            char args[128];
            snprintf(args, sizeof args, "%s --help", SOURCES[s].cmds[c]);
            int rc = run(args, &out, &err);
            if (rc != 0) fprintf(stderr, "qbench %s --help exited %d: %s\n", SOURCES[s].cmds[c], rc, err);
            assert_int_equal(rc, 0);
            assert_true(!strncmp(out, "usage: qbench ", 14));
            /* value options: a default, "required" or "repeatable" on their line */
            for (char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                if (strncmp(line, "  -", 3)) continue;
                char l[1024];
                size_t ll = strcspn(line, "\n");
                snprintf(l, sizeof l, "%.*s", (int)(ll < sizeof l ? ll : sizeof l - 1), line);
                const char *sp = strchr(l + 2, ' ');
                if (!sp) continue;
                int takes_value = sp[1] != ' ' && !strstr(l, "--help");
                if (l[2] == '-' && sp[-1] == ',') takes_value = 0; /* "-o, --out X": look after the alias */
                if (strstr(l, ", --")) {
                    const char *sp2 = strchr(strstr(l, ", --") + 2, ' ');
                    takes_value = sp2 && sp2[1] != ' ';
                }
                if (takes_value && !strstr(l, "default") && !strstr(l, "required") && !strstr(l, "repeatable")) {
                    fprintf(stderr, "qbench %s --help: no default on: %s\n", SOURCES[s].cmds[c], l);
                    fail();
                }
            }
            size_t a = strlen(all), b = strlen(out);
            all = realloc(all, a + b + 1);
            memcpy(all + a, out, b + 1);
            free(out);
            free(err);
        }
        for (int i = 0; i < nn; i++) {
            if (!strcmp(names[i], "--help")) continue;
            if (!help_lists(all, names[i])) {
                fprintf(stderr, "%s parses %s but no --help of its commands lists it\n", SOURCES[s].source, names[i]);
                fail();
            }
        }
        free(all);
    }
}

static void test_ranges_and_unknown_options(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(run("quantize --model m --method rtn --bits 9 -o x", &out, &err), 2);
    assert_non_null(strstr(err, "--bits must be an integer 2..8, got '9'"));
    free(out);
    free(err);
    assert_int_equal(run("quantize --help", &out, &err), 0);
    const char *must[] = {"--threads N", "--blocksize N", "--mse-norm P", "--mse-grid N", "--mse-maxshrink F",
                          "--bits B", "range 2..8", "--damp P", "range 1e-09..1"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        if (!strstr(out, must[i])) fprintf(stderr, "quantize --help lacks '%s'\n", must[i]);
        assert_non_null(strstr(out, must[i]));
    }
    free(out);
    free(err);
    assert_int_equal(run("ppl --model m --data d --seqlen 8 --mode bogus", &out, &err), 2);
    assert_non_null(strstr(err, "--mode must be one of gptq|llamacpp|stride, got 'bogus'"));
    free(out);
    free(err);
    assert_int_equal(run("synth --nonsense -o x", &out, &err), 2);
    assert_non_null(strstr(err, "unknown option '--nonsense'"));
    free(out);
    free(err);
    assert_int_equal(run("info", &out, &err), 2); /* no MODEL: usage on stderr */
    assert_non_null(strstr(err, "usage: qbench info"));
    free(out);
    free(err);
    assert_int_equal(run("score meteor --hyp a --ref b --threads 0", &out, &err), 2);
    assert_non_null(strstr(err, "--threads must be an integer 1..4096"));
    free(out);
    free(err);
}

/* ---- inputs by name, from anywhere -------------------------------------------------------------- */

static double json_num(const char *text, const char *key) {
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    const cJSON *v = cJSON_GetObjectItem(j, key);
    assert_true(cJSON_IsNumber(v));
    double x = v->valuedouble;
    cJSON_Delete(j);
    return x;
}

static void test_dataset_names_everywhere(void **state) {
    (void)state;
    if (!have_assets()) skip();
    char *o1, *o2, *err, args[8192];
    /* ppl: the dataset name reads the same bytes as the path, from the root and from /tmp */
    snprintf(args, sizeof args, "ppl --model %s/assets/stories260K/stories260K.bin --data wikitext2-test --seqlen 64 "
                                "--max-windows 2 --json --quiet", g_root);
    assert_int_equal(run_in("/tmp", args, &o1, &err), 0);
    free(err);
    snprintf(args, sizeof args, "ppl --model %s/assets/stories260K/stories260K.bin --data %s/assets/wikitext2/wiki.test.raw "
                                "--seqlen 64 --max-windows 2 --json --quiet", g_root, g_root);
    assert_int_equal(run_in("/tmp", args, &o2, &err), 0);
    free(err);
    assert_true(json_num(o1, "ppl") == json_num(o2, "ppl"));
    assert_true(json_num(o1, "data_bytes") == json_num(o2, "data_bytes"));
    free(o1);
    free(o2);
    /* score: --ref by task name gives the German references of newstest2014 (filtered), the file
     * the task is built from */
    assert_int_equal(run("score chrf --hyp assets/wmt14-ende/newstest2014-filtered.en.tok --ref wmt14-ende --json", &o1, &err), 0);
    free(err);
    assert_int_equal(run("score chrf --hyp assets/wmt14-ende/newstest2014-filtered.en.tok "
                         "--ref assets/wmt14-ende/newstest2014-filtered.de.tok --json", &o2, &err), 0);
    free(err);
    assert_true(json_num(o1, "score") == json_num(o2, "score"));
    assert_true(json_num(o1, "nseg") == json_num(o2, "nseg"));
    free(o1);
    free(o2);
    /* meteor15 from another directory finds its resources: Meteor 1.5's published normalised word
     * counts for xray system1 (61600 test, 62469 reference words) */
    snprintf(args, sizeof args, "score meteor15 --hyp %s/assets/meteor-examples/xray/system1.hyp "
                                "--ref %s/assets/meteor-examples/xray/reference --json --threads 1", g_root, g_root);
    assert_int_equal(run_in("/tmp", args, &o1, &err), 0);
    cJSON *j = cJSON_Parse(o1);
    assert_non_null(j);
    const cJSON *st = cJSON_GetObjectItem(j, "statistics");
    assert_true(cJSON_GetObjectItem(st, "test_words")->valuedouble == 61600);
    assert_true(cJSON_GetObjectItem(st, "ref_words")->valuedouble == 62469);
    cJSON_Delete(j);
    free(o1);
    free(err);
}

/* ---- info on a checkpoint, --export gptq --------------------------------------------------------- */

static void test_info_describes_checkpoint(void **state) {
    (void)state;
    if (!have_assets()) skip();
    char *out, *err, args[1024];
    snprintf(args, sizeof args, "quantize --model assets/stories260K/stories260K.bin --method rtn --bits 4 --group-size 32 "
                                "-o %s/r4.qbq --quiet", g_tmp);
    assert_int_equal(run(args, &out, &err), 0);
    free(out);
    free(err);
    /* the source hash, computed by coreutils */
    FILE *p = popen("sha256sum assets/stories260K/stories260K.bin", "r");
    char want[65] = "";
    if (!p || fscanf(p, "%64s", want) != 1) skip();
    pclose(p);
    snprintf(args, sizeof args, "info %s/r4.qbq", g_tmp);
    assert_int_equal(run(args, &out, &err), 0);
    assert_non_null(strstr(out, "method            rtn\n"));
    assert_non_null(strstr(out, "bits              4\n"));
    assert_non_null(strstr(out, "group_size        32\n"));
    assert_non_null(strstr(out, "bits_per_weight   "));
    assert_non_null(strstr(out, "source_model      assets/stories260K/stories260K.bin\n"));
    char line[128];
    snprintf(line, sizeof line, "source_sha256     %s\n", want);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "dim               64\n")); /* the model's configuration follows */
    assert_null(strstr(out, "1129398865"));                /* not the magic read as a llama2.c header */
    free(out);
    free(err);
    snprintf(args, sizeof args, "info %s/r4.qbq --json", g_tmp);
    assert_int_equal(run(args, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *ck = cJSON_GetObjectItem(j, "checkpoint"), *o = cJSON_GetObjectItem(ck, "options");
    assert_string_equal(cJSON_GetObjectItem(o, "method")->valuestring, "rtn");
    assert_int_equal(cJSON_GetObjectItem(o, "bits")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(o, "group_size")->valueint, 32);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ck, "source"), "sha256")->valuestring, want);
    assert_int_equal(cJSON_GetObjectItem(j, "dim")->valueint, 64);
    cJSON_Delete(j);
    free(out);
    free(err);
}

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = t_slurp(a, &la), *y = t_slurp(b, &lb);
    int same = la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

static void test_export_gptq_checks_first_and_carries_files(void **state) {
    (void)state;
    if (!have_assets() || access("assets/tinystories-656K/config.json", R_OK)) skip();
    char *out, *err, args[1024];
    /* stories260K's FFN is 172 wide: 172 x 4 bits is not a multiple of 32. Refused before the
     * calibration text is even sampled (nothing on stdout), nothing written. */
    snprintf(args, sizeof args, "quantize --model assets/stories260K/stories260K.bin --method gptq --bits 4 "
                                "--calib tinystories-calib --export gptq -o %s/bad", g_tmp);
    assert_int_equal(run(args, &out, &err), 2);
    assert_non_null(strstr(err, "multiples of 32"));
    assert_string_equal(out, "");
    free(out);
    free(err);
    snprintf(args, sizeof args, "%s/bad", g_tmp);
    assert_int_equal(access(args, F_OK), -1);
    /* TinyStories-656K exports; its tokenizer files and generation config travel byte for byte */
    snprintf(args, sizeof args, "quantize --model assets/tinystories-656K --method rtn --bits 4 --group-size 32 "
                                "--export gptq -o %s/ok --quiet", g_tmp);
    assert_int_equal(run(args, &out, &err), 0);
    free(out);
    free(err);
    const char *files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"};
    for (int i = 0; i < 4; i++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "assets/tinystories-656K/%s", files[i]);
        snprintf(b, sizeof b, "%s/ok/%s", g_tmp, files[i]);
        assert_true(same_file(a, b));
    }
    char qc[512];
    snprintf(qc, sizeof qc, "%s/ok/quantize_config.json", g_tmp);
    char *t = t_slurp(qc, NULL);
    cJSON *j = cJSON_Parse(t);
    assert_non_null(j);
    /* GPTQModel's layout: the quantizer named in meta.quantizer, not a top-level key */
    const cJSON *q = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "meta"), "quantizer");
    assert_true(cJSON_IsArray(q));
    assert_true(!strncmp(cJSON_GetArrayItem(q, 0)->valuestring, "qbench", 6));
    assert_null(cJSON_GetObjectItem(j, "qbench_method"));
    assert_string_equal(cJSON_GetObjectItem(j, "quant_method")->valuestring, "gptq");
    cJSON_Delete(j);
    free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_help),
        cmocka_unit_test(test_ranges_and_unknown_options),
        cmocka_unit_test(test_dataset_names_everywhere),
        cmocka_unit_test(test_info_describes_checkpoint),
        cmocka_unit_test(test_export_gptq_checks_first_and_carries_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
