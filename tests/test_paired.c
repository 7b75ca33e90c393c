/* test_paired.c — paired comparisons end to end through the CLI ($QBENCH_BIN, default bin/qbench) on
 * stories260K: what a sweep stores for them (per-window NLL sums, per-position top-1 and KL,
 * per-segment chrF statistics and METEOR scores with their bootstrap intervals), `qbench compare`
 * (values, refusals, read-only), report's dppl / ln_ppl_ratio columns, `check` with `confidence:`
 * (and its validation), `score meteor --confidence`, GPTQ and GPTQT points bit-identical for 1, 2
 * and 3 threads, and a changed `eval: tasks:` setting evaluated again. Expected values: the paired
 * formula sd(d/n)/sqrt(W) computed here from the stored window sums (equal windows), identities
 * (ln ratio = ln(PPL_A/PPL_B), diff = A − B), Python's NormalDist for z, and the numpy fixture of
 * tests/fixtures/make_paired_fixture.py (NLTK's METEOR scores resampled as sacrebleu does). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/common.h"

static char DIR_[256];
static char DB[512];
static int READY; /* the shared sweep ran */

/* The shared experiment (name pa) with a check section. */
static void write_pa(const char *file, const char *checks) {
    char p[600], text[4096];
    snprintf(p, sizeof p, "%s/%s", DIR_, file);
    snprintf(text, sizeof text,
             "name: pa\n"
             "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
             "calibration: {dataset: tinystories-calib, samples: 8, seqlen: 64, seed: 1}\n"
             "sweep: {method: [rtn, gptq], bits: [4], group_size: [32]}\n"
             "eval:\n"
             "  perplexity: [{dataset: tinystories-valid, seqlen: 128, max_windows: 5}]\n"
             "  agreement: [{dataset: tinystories-valid, seqlen: 64, windows: 2}]\n"
             "  generation: [{task: tinystories-continuation, prompts: 3, max_new_tokens: 16,\n"
             "                metrics: [chrf, meteor], against: [reference, baseline]}]\n"
             "  tasks: [{task: tinystories-cloze, limit: 12}]\n"
             "check:\n%s"
             "output: {db: %s}\n",
             checks, DB);
    t_write_text(p, text);
}

static int have_assets(void) { return access("assets/stories260K/stories260K.bin", R_OK) == 0; }

static int setup(void **state) {
    (void)state;
    if (t_mkdtemp(DIR_, sizeof DIR_, "qb_paired") || !have_assets()) return 0;
    snprintf(DB, sizeof DB, "%s/pa.db", DIR_);
    write_pa("pa.yaml", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 1000}\n");
    char args[700];
    snprintf(args, sizeof args, "run %s/pa.yaml --threads 2 --quiet", DIR_);
    READY = t_run_qbench(args, NULL, NULL) == 0;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (DIR_[0] && !getenv("QBENCH_KEEP")) t_rm_rf(DIR_);
    return 0;
}

#define NEED_SWEEP() do { if (!READY) { fprintf(stderr, "no assets or the shared sweep failed\n"); skip(); } } while (0)

static char *db_text(const char *db, const char *sql) {
    sqlite3 *h;
    char *v = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) { sqlite3_close(h); return NULL; }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* A JSON array of numbers from stored stats_json, into v (at most max); returns the count. */
static int json_numbers(const char *stats, const char *field, double *v, int max) {
    cJSON *j = cJSON_Parse(stats);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, field);
    int n = 0;
    for (int i = 0; i < cJSON_GetArraySize(a) && n < max; i++) v[n++] = cJSON_GetArrayItem(a, i)->valuedouble;
    cJSON_Delete(j);
    return n;
}

static const cJSON *find_metric(const cJSON *arr, const char *kind, const char *against) {
    for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
        const cJSON *m = cJSON_GetArrayItem(arr, i);
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(m, "kind")->valuestring, kind) &&
            !strcmp(cJSON_GetObjectItemCaseSensitive(m, "against")->valuestring, against))
            return m;
    }
    return NULL;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The paired formula for equal windows: ln ratio = mean of d_i / n, SE = sd(d/n)/sqrt(W). */
static void paired_by_hand(const double *a, const double *b, const double *n, int w, double *L, double *se) {
    double m = 0, v = 0;
    for (int i = 0; i < w; i++) m += (a[i] - b[i]) / n[i];
    m /= w;
    for (int i = 0; i < w; i++) v += ((a[i] - b[i]) / n[i] - m) * ((a[i] - b[i]) / n[i] - m);
    *L = m;
    *se = sqrt(v / (w - 1)) / sqrt((double)w);
}

static void test_compare_two_points(void **state) {
    (void)state;
    NEED_SWEEP();
    size_t len0, len1;
    char *before = t_slurp(DB, &len0);
    char args[800], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "compare %s 'gptq w4 g32' 'rtn w4 g32' --json", DB);
    assert_int_equal(t_run_qbench(args, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "metrics");
    /* ppl: the stored windows of both points, the paired formula by hand */
    const cJSON *p = find_metric(ms, "ppl", "-");
    assert_non_null(p);
    double a[16], b[16], na[16], nb[16];
    char *sa = db_text(DB, "SELECT m.stats_json FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.method = 'gptq' AND m.kind = 'ppl'");
    char *sb = db_text(DB, "SELECT m.stats_json FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.method = 'rtn' AND m.kind = 'ppl'");
    assert_non_null(sa);
    assert_non_null(sb);
    int w = json_numbers(sa, "win_nll", a, 16);
    assert_int_equal(w, 5);
    assert_int_equal(json_numbers(sb, "win_nll", b, 16), 5);
    assert_int_equal(json_numbers(sa, "win_n", na, 16), 5);
    assert_int_equal(json_numbers(sb, "win_n", nb, 16), 5);
    for (int i = 0; i < w; i++) assert_true(na[i] == 127 && nb[i] == 127); /* gptq mode: all but the first of 128 */
    double L, se;
    paired_by_hand(a, b, na, w, &L, &se);
    assert_true(fabs(num(p, "ln_ratio") - L) < 1e-12);
    assert_true(fabs(num(p, "ln_ratio_se") - se) < 1e-12 * fmax(se, 1e-3));
    assert_true(fabs(num(p, "ln_ratio") - log(num(p, "a") / num(p, "b"))) < 1e-12);
    assert_true(fabs(num(p, "diff") - (num(p, "a") - num(p, "b"))) < 1e-12);
    assert_true(num(p, "diff_se") > 0 && num(p, "units") == 5);
    fprintf(stderr, "gptq vs rtn: ln ratio %.5f ± %.5f (by hand %.5f ± %.5f), dppl %.4f ± %.4f\n", num(p, "ln_ratio"),
            num(p, "ln_ratio_se"), L, se, num(p, "diff"), num(p, "diff_se"));
    /* top-1 and KL: mean paired differences over the same positions */
    for (int k = 0; k < 2; k++) {
        const cJSON *m = find_metric(ms, k ? "kl" : "top1", "baseline");
        assert_non_null(m);
        assert_true(num(m, "units") == 126); /* 2 windows of 64, 63 positions each */
        assert_true(fabs(num(m, "diff") - (num(m, "a") - num(m, "b"))) < (k ? 1e-7 : 1e-12)); /* KL: 9 digits stored */
        assert_true(num(m, "diff_se") > 0 && num(m, "ci_lo") < num(m, "diff") && num(m, "diff") < num(m, "ci_hi"));
    }
    /* chrF and METEOR: sacrebleu's paired bootstrap */
    for (int k = 0; k < 2; k++) {
        const cJSON *m = find_metric(ms, k ? "meteor" : "chrf", "reference");
        assert_non_null(m);
        assert_true(num(m, "units") == 3 && num(m, "resamples") == 1000 && num(m, "seed") == 12345);
        assert_true(fabs(num(m, "diff") - (num(m, "a") - num(m, "b"))) < 1e-9);
        double pv = num(m, "p");
        assert_true(pv >= 1.0 / 1001 && pv <= 1);
        assert_true(num(m, "ci_lo") <= num(m, "ci_hi"));
    }
    /* the zero-shot task through tasks compare's code */
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "tasks"), 0);
    assert_non_null(t);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(t, "task")->valuestring, "tinystories-cloze");
    assert_true(num(t, "n") == 12);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(t, "mcnemar"));
    cJSON_Delete(j);
    free(out);
    free(err);
    /* the unquantized model on the same windows; text output */
    snprintf(args, sizeof args, "compare %s base 'rtn w4 g32'", DB);
    assert_int_equal(t_run_qbench(args, &out, &err), 0);
    assert_non_null(strstr(out, "A: unquantized"));
    assert_non_null(strstr(out, "ln(PPL_A/PPL_B)"));
    assert_non_null(strstr(out, "paired bootstrap p"));
    free(out);
    free(err);
    /* read only */
    char *after = t_slurp(DB, &len1);
    assert_true(len0 == len1 && !memcmp(before, after, len0));
    free(before);
    free(after);
    free(sa);
    free(sb);
}

static void test_compare_refuses(void **state) {
    (void)state;
    NEED_SWEEP();
    /* another experiment in the same database: 4 windows instead of 5 */
    char p[600], args[900], *out = NULL, *err = NULL;
    snprintf(p, sizeof p, "%s/pb.yaml", DIR_);
    char text[1200];
    snprintf(text, sizeof text,
             "name: pb\n"
             "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
             "sweep: {method: [rtn], bits: [4], group_size: [32]}\n"
             "eval:\n  perplexity: [{dataset: tinystories-valid, seqlen: 128, max_windows: 4}]\n"
             "check: [{metric: ppl, dataset: tinystories-valid, max_increase_pct: 1000}]\n"
             "output: {db: %s}\n", DB);
    t_write_text(p, text);
    snprintf(args, sizeof args, "run %s --threads 1 --quiet", p);
    assert_int_equal(t_run_qbench(args, NULL, NULL), 0);
    char *ka = db_text(DB, "SELECT r.key FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE e.name = 'pa' AND r.method = 'rtn'");
    char *kb = db_text(DB, "SELECT r.key FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE e.name = 'pb'");
    assert_non_null(ka);
    assert_non_null(kb);
    ka[12] = kb[12] = 0;
    snprintf(args, sizeof args, "compare %s %s %s", DB, ka, kb);
    assert_int_equal(t_run_qbench(args, &out, &err), 2);
    assert_non_null(strstr(err, "not comparable"));
    assert_non_null(strstr(err, "ppl tinystories-valid"));
    assert_non_null(strstr(err, "windows:4"));
    free(out);
    free(err);
    snprintf(args, sizeof args, "compare %s 'rtn w4 g32' 'gptq w4 g32'", DB); /* two experiments have an rtn w4 g32 */
    assert_int_equal(t_run_qbench(args, &out, &err), 2);
    assert_non_null(strstr(err, "ambiguous"));
    free(out);
    free(err);
    snprintf(args, sizeof args, "compare %s nosuchpoint %s", DB, ka);
    assert_int_equal(t_run_qbench(args, &out, &err), 2);
    free(out);
    free(err);
    free(ka);
    free(kb);
}

static void test_report_paired_columns(void **state) {
    (void)state;
    NEED_SWEEP();
    char args[800], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "report %s --format csv --columns point,ppl:tinystories-valid,dppl,ln_ppl_ratio", DB);
    assert_int_equal(t_run_qbench(args, &out, &err), 0);
    assert_non_null(strstr(out, "dppl:tinystories-valid:se"));
    assert_non_null(strstr(out, "ln_ppl_ratio:tinystories-valid:se"));
    /* the unquantized row first, then each point: dppl = ppl − ppl_base, ln ratio = ln(ppl / ppl_base) */
    double base = NAN;
    int checked = 0;
    for (char *l = strchr(out, '\n') + 1; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char label[64];
        double v[6];
        if (sscanf(l, "%63[^,],%lf,%lf,%lf,%lf,%lf,%lf", label, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 7) {
            assert_true(fabs(v[2] - (v[0] - base)) < 1e-12 && fabs(v[4] - log(v[0] / base)) < 1e-12);
            assert_true(v[3] > 0 && v[5] > 0);
            checked++;
        } else if (!strncmp(l, "unquantized", 11)) {
            assert_int_equal(sscanf(l, "%63[^,],%lf", label, &base), 2);
        }
    }
    assert_true(checked >= 2 && !isnan(base));
    free(out);
    free(err);
    snprintf(args, sizeof args, "report %s", DB);
    assert_int_equal(t_run_qbench(args, &out, &err), 0);
    assert_non_null(strstr(out, "Δppl"));
    assert_non_null(strstr(out, " ± "));
    assert_non_null(strstr(out, "["));   /* chrF / METEOR with their interval */
    free(out);
    free(err);
    snprintf(args, sizeof args, "report %s --format json", DB);
    assert_int_equal(t_run_qbench(args, &out, &err), 0);
    assert_non_null(strstr(out, "\"vs_baseline\""));
    assert_non_null(strstr(out, "\"ci95\""));
    free(out);
    free(err);
    if (system("command -v gnuplot >/dev/null 2>&1") == 0) { /* plots keep working */
        snprintf(args, sizeof args, "plot %s -o %s/plots --format svg", DB, DIR_);
        assert_int_equal(t_run_qbench(args, NULL, NULL), 0);
    }
}

/* check with confidence: a threshold between the one-sided 95% lower bound of the increase and
 * the increase itself passes with confidence and fails without; one below the bound fails. */
static void test_check_confidence(void **state) {
    (void)state;
    NEED_SWEEP();
    char *sa = db_text(DB, "SELECT m.stats_json FROM metrics m JOIN runs r ON r.id = m.run_id JOIN experiments e ON "
                           "e.id = r.experiment_id WHERE e.name = 'pa' AND r.method = 'rtn' AND m.kind = 'ppl'");
    char *sb = db_text(DB, "SELECT stats_json FROM baselines WHERE kind = 'ppl' AND signature LIKE '%windows:5|%'");
    assert_non_null(sa);
    assert_non_null(sb);
    double a[16], b[16], n[16], L, se;
    int w = json_numbers(sa, "win_nll", a, 16);
    assert_int_equal(json_numbers(sb, "win_nll", b, 16), w);
    json_numbers(sa, "win_n", n, 16);
    paired_by_hand(a, b, n, w, &L, &se);
    const double z = 1.6448536269514715; /* statistics.NormalDist().inv_cdf(0.95) */
    double est = 100 * expm1(L), lo = 100 * expm1(L - z * se);
    assert_true(lo > 0 && est > lo);
    double mid = 0.5 * (lo + est), below = lo - 0.5 * (est - lo);
    char checks[1200];
    snprintf(checks, sizeof checks,
             "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: %.6f, where: {method: rtn}}\n"
             "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: %.6f, confidence: 0.95, where: {method: rtn}}\n",
             mid, mid);
    write_pa("c1.yaml", checks);
    char args[800], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "check %s/c1.yaml --junit %s/c1.xml", DIR_, DIR_);
    assert_int_equal(t_run_qbench(args, &out, &err), 1);
    assert_non_null(strstr(out, "FAIL  ppl tinystories-valid max_increase_pct"));
    char want[200];
    snprintf(want, sizeof want, "[%+.3f%%, %+.3f%%] (one-sided 95%% bounds); increase not above", lo, 100 * expm1(L + z * se));
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "PASS  ppl tinystories-valid max_increase_pct"));
    free(out);
    free(err);
    snprintf(checks, sizeof checks,
             "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: %.6f, confidence: 0.95, where: {method: rtn}}\n"
             "  - {metric: chrf, task: tinystories-continuation, max_decrease_pct: 100, confidence: 0.9}\n"
             "  - {metric: meteor, task: tinystories-continuation, against: baseline, min: 0, confidence: 0.9}\n"
             "  - {metric: top1, dataset: tinystories-valid, min: 0.01, confidence: 0.99}\n",
             below);
    write_pa("c2.yaml", checks);
    snprintf(args, sizeof args, "check %s/c2.yaml --junit %s/c2.xml", DIR_, DIR_);
    assert_int_equal(t_run_qbench(args, &out, &err), 1);
    assert_non_null(strstr(out, "increase > "));
    assert_non_null(strstr(out, "with that confidence"));
    assert_non_null(strstr(out, "(one-sided 90% bounds)"));
    assert_non_null(strstr(out, "(one-sided 99% bounds)"));
    assert_null(strstr(out, "ERROR"));
    free(out);
    free(err);
    free(sa);
    free(sb);
}

static void test_confidence_is_validated(void **state) {
    (void)state;
    NEED_SWEEP();
    write_pa("bad1.yaml", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 1,\n"
                          "     confidence: 1.5}\n");
    char args[800], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "check %s/bad1.yaml", DIR_);
    assert_int_equal(t_run_qbench(args, &out, &err), 2);
    assert_non_null(strstr(err, "bad1.yaml:13: check.confidence")); /* the line of the value */
    free(out);
    free(err);
    write_pa("bad2.yaml", "  - {metric: bits_per_weight, max: 5, confidence: 0.9}\n");
    snprintf(args, sizeof args, "check %s/bad2.yaml", DIR_);
    assert_int_equal(t_run_qbench(args, &out, &err), 2);
    assert_non_null(strstr(err, "bad2.yaml:12: check.confidence"));
    free(out);
    free(err);
    write_pa("bad3.yaml", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 1, confidence: 0}\n");
    snprintf(args, sizeof args, "check %s/bad3.yaml", DIR_);
    assert_int_equal(t_run_qbench(args, &out, &err), 2);
    assert_non_null(strstr(err, "check.confidence"));
    free(out);
    free(err);
}

/* NLTK's scores of the fixture's single-reference whitespace cases, resampled as sacrebleu does. */
static void test_score_meteor_confidence(void **state) {
    (void)state;
    char *fx = t_slurp("tests/fixtures/paired/expected.txt", NULL);
    char *l = strstr(fx, "meteor_ws ");
    assert_non_null(l);
    int n;
    double score, mu, ci;
    assert_int_equal(sscanf(l, "meteor_ws %d %lf %lf %lf", &n, &score, &mu, &ci), 4);
    free(fx);
    char *out = NULL, *err = NULL;
    int rc = t_run_qbench("score meteor --hyp tests/fixtures/paired/meteor_ws.hyp --ref tests/fixtures/paired/meteor_ws.ref "
                          "--tokenize whitespace --confidence --json", &out, &err);
    if (rc != 0 && strstr(err, "WordNet")) { free(out); free(err); skip(); }
    assert_int_equal(rc, 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_true(num(j, "nseg") == n);
    assert_true(fabs(num(j, "score") - score) < 1e-12);
    assert_true(fabs(num(j, "mean") - mu) < 1e-12);
    assert_true(fabs(num(j, "ci") - ci) < 1e-12);
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(j, "signature")->valuestring, "bs:1000|seed:12345"));
    cJSON_Delete(j);
    free(out);
    free(err);
}

/* GPTQ and GPTQT points with 1, 2 and 3 threads: every stored number identical (values, the
 * statistics behind them — window sums, per-position KL and top-1, segment statistics —, bits per
 * weight and every layer's error). */
static void test_gptq_gptqt_threads_identical(void **state) {
    (void)state;
    if (!have_assets()) skip();
    char *dumps[3];
    for (int t = 1; t <= 3; t++) {
        char p[600], db[600], text[1600], args[800];
        snprintf(p, sizeof p, "%s/th%d.yaml", DIR_, t);
        snprintf(db, sizeof db, "%s/th%d.db", DIR_, t);
        snprintf(text, sizeof text,
                 "name: th\n"
                 "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
                 "calibration: {dataset: tinystories-calib, samples: 6, seqlen: 64, seed: 3}\n"
                 "sweep: {method: [gptq, gptqt], bits: [3], group_size: [32], act_order: [true]}\n"
                 "eval:\n"
                 "  perplexity: [{dataset: tinystories-valid, seqlen: 128, max_windows: 3}]\n"
                 "  agreement: [{dataset: tinystories-valid, seqlen: 64, windows: 2}]\n"
                 "  generation: [{task: tinystories-continuation, prompts: 2, max_new_tokens: 12,\n"
                 "                metrics: [chrf, meteor], against: [reference, baseline]}]\n"
                 "check: [{metric: ppl, dataset: tinystories-valid, max_increase_pct: 1000}]\n"
                 "output: {db: %s}\n", db);
        t_write_text(p, text);
        snprintf(args, sizeof args, "run %s --threads %d --quiet", p, t);
        assert_int_equal(t_run_qbench(args, NULL, NULL), 0);
        dumps[t - 1] = db_text(db,
            "SELECT group_concat(line, char(10)) FROM ("
            "SELECT r.key || ' ' || printf('%.17g', r.bits_per_weight) || ' ' || m.kind || ' ' || m.dataset || ' ' || m.against "
            "|| ' ' || printf('%.17g', m.value) || ' ' || coalesce(m.stats_json, '') AS line FROM runs r JOIN metrics m ON "
            "m.run_id = r.id WHERE r.status = 'done' "
            "UNION ALL SELECT r.key || ' ' || l.block || ' ' || l.name || ' ' || printf('%.17g %.17g', l.error, l.gptq_loss) "
            "FROM runs r JOIN layers l ON l.run_id = r.id "
            "UNION ALL SELECT kind || ' ' || dataset || ' ' || printf('%.17g', value) || ' ' || coalesce(stats_json, '') "
            "FROM baselines ORDER BY 1)");
        assert_non_null(dumps[t - 1]);
    }
    assert_non_null(strstr(dumps[0], "\"win_nll\""));
    assert_non_null(strstr(dumps[0], "\"top1_tokens\""));
    for (int t = 1; t < 3; t++)
        if (strcmp(dumps[0], dumps[t])) {
            size_t k = 0;
            while (dumps[0][k] == dumps[t][k]) k++;
            fail_msg("threads 1 and %d differ at byte %zu: '%.80s' vs '%.80s'", t + 1, k, dumps[0] + (k > 40 ? k - 40 : 0),
                     dumps[t] + (k > 40 ? k - 40 : 0));
        }
    fprintf(stderr, "GPTQ and GPTQT 3-bit g32 act-order: %zu bytes of stored numbers identical for 1, 2, 3 threads\n",
            strlen(dumps[0]));
    for (int t = 0; t < 3; t++) free(dumps[t]);
}

/* A changed `eval: tasks:` setting (limit 8 → 10): run evaluates the done point again, report and
 * check use only the new task rows and count the old ones as stale. */
static void test_task_setting_change(void **state) {
    (void)state;
    if (!have_assets()) skip();
    char db[600], args[900], *out = NULL, *err = NULL;
    snprintf(db, sizeof db, "%s/tk.db", DIR_);
    for (int v = 0; v < 2; v++) {
        char p[600], text[1200];
        snprintf(p, sizeof p, "%s/tk%d.yaml", DIR_, v);
        snprintf(text, sizeof text,
                 "name: tk\n"
                 "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
                 "sweep: {method: [rtn], bits: [4], group_size: [32]}\n"
                 "eval:\n  tasks: [{task: tinystories-cloze, limit: %d, bootstrap_iters: 0}]\n"
                 "check: [{metric: acc, task: tinystories-cloze, min: 0}]\n"
                 "output: {db: %s}\n", v ? 10 : 8, db);
        t_write_text(p, text);
    }
    snprintf(args, sizeof args, "run %s/tk0.yaml --threads 1", DIR_);
    assert_int_equal(t_run_qbench(args, &out, NULL), 0);
    free(out);
    snprintf(args, sizeof args, "run %s/tk1.yaml --threads 1", DIR_);
    assert_int_equal(t_run_qbench(args, &out, NULL), 0);
    assert_non_null(strstr(out, "1 to run (1 of them done under other evaluation settings"));
    free(out);
    char *cnt = db_text(db, "SELECT group_concat(count, ',') FROM (SELECT count FROM metrics WHERE kind = 'acc' ORDER BY count)");
    assert_non_null(cnt);
    assert_string_equal(cnt, "8,10"); /* the old number kept for the record, the new one beside it */
    free(cnt);
    snprintf(args, sizeof args, "report %s --format json", db);
    assert_int_equal(t_run_qbench(args, &out, &err), 0);
    assert_non_null(strstr(err, "stale metric row"));
    cJSON *j = cJSON_Parse(out);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "points"), 0), "metrics");
    int acc = 0;
    for (int i = 0; i < cJSON_GetArraySize(ms); i++) {
        const cJSON *m = cJSON_GetArrayItem(ms, i);
        if (strcmp(cJSON_GetObjectItemCaseSensitive(m, "kind")->valuestring, "acc")) continue;
        acc++;
        assert_true(num(m, "count") == 10);
    }
    assert_int_equal(acc, 1);
    cJSON_Delete(j);
    free(out);
    free(err);
    snprintf(args, sizeof args, "check %s/tk1.yaml --junit %s/tk.xml", DIR_, DIR_);
    assert_int_equal(t_run_qbench(args, &out, &err), 0);
    assert_non_null(strstr(out, "PASS"));
    free(out);
    free(err);
    snprintf(args, sizeof args, "run %s/tk1.yaml --threads 1", DIR_);
    assert_int_equal(t_run_qbench(args, &out, NULL), 0);
    assert_non_null(strstr(out, "1 done before, 0 to run"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_two_points),
        cmocka_unit_test(test_report_paired_columns),
        cmocka_unit_test(test_check_confidence),
        cmocka_unit_test(test_confidence_is_validated),
        cmocka_unit_test(test_compare_refuses), /* adds a second experiment to the database */
        cmocka_unit_test(test_score_meteor_confidence),
        cmocka_unit_test(test_gptq_gptqt_threads_identical),
        cmocka_unit_test(test_task_setting_change),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
