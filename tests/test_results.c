/* test_results.c — report, plot and check on a real results database filled through the store API
 * with hand-chosen numbers (baseline perplexity 10.0; a 4-bit point at 10.5 is a 5 % increase,
 * which passes a 10 % threshold and fails a 4 % one). Expected values are worked out by hand in
 * the comments, never copied from a run. Needs gnuplot (installed with the project's deps) and
 * python3 (only to validate the JUnit XML with an independent parser). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/commands.h"
#include "harness/results.h"
#include "harness/store.h"
#include "harness/sweep.h"
#include "quant/quant.h"
#include "tests/common.h"

static char g_dir[64];
static char g_db[128];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static const char *path_in(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* One point: the metrics that are not NAN are written. */
typedef struct {
    const char *key, *method;
    int bits, group, act;
    double bpw;
    long long bytes;
    double ppl, chrf_base, chrf_ref, top1;
} P;

/* Hand-chosen sweep. Perplexity baseline 10.0 on tinystories-valid; chrF-vs-reference baseline 55.
 * Pareto front of (bpw, ppl), smaller both better: sorted by bpw
 *   p4 (2.0625, 300) front; p5 (3.0625, 50) front; p3 (3.25, 14) front; p2 (4.0625, 11.5) front;
 *   p1 (4.25, 10.5) front; p6 (4.25, 10.8) same size, worse: off; p7 (8.0625, 10.5) no better than
 *   p1 for twice the size: off. */
static const P POINTS[] = {
    {"p1-key-gptq4", "gptq", 4, 32, 1, 4.25, 40000, 10.5, 80.0, 52.0, 0.9},
    {"p2-key-rtn4", "rtn", 4, -1, 0, 4.0625, 38000, 11.5, 60.0, 50.0, 0.7},
    {"p3-key-gptq3", "gptq", 3, 32, 1, 3.25, 30000, 14.0, NAN, NAN, NAN},
    {"p4-key-rtn2", "rtn", 2, -1, 0, 2.0625, 20000, 300.0, NAN, NAN, NAN},
    {"p5-key-rtn3", "rtn", 3, -1, 0, 3.0625, 29000, 50.0, NAN, NAN, NAN},
    {"p6-key-gptq4na", "gptq", 4, 32, 0, 4.25, 40000, 10.8, NAN, NAN, NAN},
    {"p7-key-rtn8", "rtn", 8, -1, 0, 8.0625, 77000, 10.5, NAN, NAN, NAN},
};
#define N_POINTS (int)(sizeof POINTS / sizeof POINTS[0])

static void write_db(const char *path, const char *exp_name, int n_points) {
    char err[QB_ERRLEN];
    Store *s = store_open(path, err);
    assert_non_null(s);
    int64_t eid;
    assert_int_equal(store_upsert_experiment(s, exp_name, "ci.yaml", "filesha", &eid, err), 0);
    StoreMetric b1 = {.kind = "ppl", .dataset = "tinystories-valid", .value = 10.0, .count = 1000, .signature = "seqlen=64"};
    StoreMetric b2 = {.kind = "chrf", .dataset = "tinystories-continuation", .against = "reference", .value = 55.0,
                      .count = 8};
    assert_int_equal(store_put_baseline(s, "modelsha", &b1, err), 0);
    assert_int_equal(store_put_baseline(s, "modelsha", &b2, err), 0);
    for (int i = 0; i < n_points; i++) {
        const P *p = &POINTS[i];
        char params[256];
        QuantMethod qm;
        assert_int_equal(quant_method_parse(p->method, &qm), 0);
        snprintf(params, sizeof params,
                 "{\"params\":{\"method\":\"%s\",\"bits\":%d,\"group_size\":%d,\"act_order\":%s,\"damp\":0.01},"
                 "\"quantizer_version\":%d}",
                 p->method, p->bits, p->group, p->act ? "true" : "false", quant_algorithm_version(qm));
        StoreMetric m[4];
        int nm = 0;
        m[nm++] = (StoreMetric){.kind = "ppl", .dataset = "tinystories-valid", .value = p->ppl, .count = 1000,
                                .signature = "seqlen=64"};
        if (!isnan(p->chrf_base)) {
            m[nm++] = (StoreMetric){.kind = "chrf", .dataset = "tinystories-continuation", .against = "baseline",
                                    .value = p->chrf_base, .count = 8};
            m[nm++] = (StoreMetric){.kind = "chrf", .dataset = "tinystories-continuation", .against = "reference",
                                    .value = p->chrf_ref, .count = 8};
            m[nm++] = (StoreMetric){.kind = "top1", .dataset = "tinystories-valid", .against = "baseline",
                                    .value = p->top1, .count = 512};
        }
        StorePoint pt = {.run = {.key = p->key, .experiment_id = eid, .model_path = "m.bin", .model_sha256 = "modelsha",
                                 .method = p->method, .bits = p->bits, .group_size = p->group, .act_order = p->act,
                                 .params_json = params, .threads = 1, .bits_per_weight = p->bpw,
                                 .packed_bytes = p->bytes},
                         .metrics = m, .n_metrics = nm};
        assert_int_equal(store_write_point(s, &pt, err), 0);
    }
    store_close(s);
}

/* The database most tests read, written once by whichever test needs it first (no test relies on
 * another having run). */
static void shared_db(void) {
    static int written;
    if (!written) write_db(g_db, "ci-gate", N_POINTS);
    written = 1;
}

static int setup(void **state) {
    (void)state;
    strcpy(g_dir, "/tmp/qbench_results_XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_db, sizeof g_db, "%s/r.db", g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs fn with stdout redirected into a file; returns its status and the captured text (static). */
static const char *g_captured;
static int capture(int (*fn)(int, char **), int argc, char **argv) {
    static char buf[1 << 16];
    fflush(stdout);
    int saved = dup(1), fd = open(path_in("stdout.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    int rc = fn(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path_in("stdout.txt"), "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    g_captured = buf;
    return rc;
}

/* ---- report --------------------------------------------------------------------------------------- */

static char *report_text(Store *s, ReportFormat fmt) {
    char *buf = NULL, err[QB_ERRLEN];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(report_write(s, f, fmt, NULL, err), 0);
    fclose(f);
    return buf;
}

static void test_report_markdown(void **state) {
    (void)state;
    shared_db();
    char err[QB_ERRLEN];
    Store *s = store_open(g_db, err);
    assert_non_null(s);
    char *md = report_text(s, REPORT_MARKDOWN);
    /* Narrow default: method, bits, group, act_order, bits/w, then ppl, chrf vs baseline, chrf vs
     * reference, top1 vs baseline; no bytes, and no status while every point is done. */
    assert_non_null(strstr(md, "| method | bits | group | act_order | bits/w | ppl | chrf/base | chrf/ref | top1/base |\n"));
    /* each metric's dataset said once above the table, not in every header */
    assert_true(!strncmp(md, "Metrics: ppl, top1 on tinystories-valid; chrf on tinystories-continuation (", 75));
    assert_non_null(strstr(md, "|---|--:|--:|---|--:|--:|--:|--:|--:|\n"));
    assert_non_null(strstr(md, "| gptq | 4 | 32 | true | 4.25 | 10.5 | 80 | 52 | 0.9 |\n"));
    assert_non_null(strstr(md, "| rtn | 2 | row | false | 2.0625 | 300 | - | - | - |\n"));
    /* The baseline row comes first, with the values it has. */
    char *base = strstr(md, "| unquantized modelsha | - | - | - | - | 10 | - | 55 | - |\n");
    assert_non_null(base);
    assert_true(base < strstr(md, "| gptq |"));
    /* the datasets line and a blank line, 1 header + 1 separator + 1 baseline + 7 points */
    int lines = 0;
    for (char *c = md; *c; c++) lines += *c == '\n';
    assert_int_equal(lines, 12);
    free(md);
    store_close(s);
}

static void test_report_csv_and_json(void **state) {
    (void)state;
    shared_db();
    char err[QB_ERRLEN];
    Store *s = store_open(g_db, err);
    assert_non_null(s);
    char *csv = report_text(s, REPORT_CSV);
    /* csv: every configuration column, each ppl with its standard error beside it, status and key */
    assert_non_null(strstr(csv, "method,bits,high_bits,group_size,act_order,sym,static_groups,bits_per_weight,"
                                "packed_bytes,seconds_calibration,seconds_quantize,seconds_eval,decode_tps,prefill_tps,speed_threads,"
                                "ppl:tinystories-valid,"
                                "ppl:tinystories-valid:se,chrf:tinystories-continuation:baseline,"
                                "chrf:tinystories-continuation:reference,top1:tinystories-valid:baseline,status,key\n"));
    assert_non_null(strstr(csv, "\ngptq,4,,32,true,false,false,4.25,40000,"));
    assert_non_null(strstr(csv, ",10.5,,80,52,0.90000000000000002,done,p1-key-gptq4\n"));
    assert_non_null(strstr(csv, "\nrtn,3,,-1,false,false,false,3.0625,29000,"));
    assert_non_null(strstr(csv, ",50,,,,,done,p5-key-rtn3\n"));
    free(csv);

    char *js = report_text(s, REPORT_JSON);
    cJSON *root = cJSON_Parse(js);
    assert_non_null(root);
    cJSON *pts = cJSON_GetObjectItem(root, "points");
    assert_int_equal(cJSON_GetArraySize(pts), N_POINTS);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "baselines")), 2);
    int found = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, pts) {
        if (strcmp(cJSON_GetObjectItem(p, "key")->valuestring, "p2-key-rtn4")) continue;
        found = 1;
        assert_string_equal(cJSON_GetObjectItem(p, "method")->valuestring, "rtn");
        assert_int_equal(cJSON_GetObjectItem(p, "group_size")->valueint, -1);
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(p, "act_order")));
        assert_true(cJSON_GetObjectItem(p, "bits_per_weight")->valuedouble == 4.0625);
        cJSON *canon = cJSON_GetObjectItem(p, "canonical");
        assert_non_null(canon);
        cJSON *damp = cJSON_GetObjectItem(cJSON_GetObjectItem(canon, "params"), "damp");
        assert_non_null(damp);
        assert_true(damp->valuedouble == 0.01);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(p, "metrics")), 4);
    }
    assert_true(found);
    cJSON_Delete(root);
    free(js);
    store_close(s);
}

/* A database whose one point has text that needs quoting in every format. */
static void odd_db(void) {
    if (access(path_in("odd.db"), F_OK) == 0) return;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("odd.db"), err);
    assert_non_null(s);
    StoreMetric m = {.kind = "ppl", .dataset = "a|b,c", .value = 2.5, .count = 1};
    StorePoint pt = {.run = {.key = "odd", .method = "we,ird\"m|x", .bits = 4, .group_size = 8},
                     .metrics = &m, .n_metrics = 1};
    assert_int_equal(store_write_point(s, &pt, err), 0);
    store_close(s);
}

static void test_report_quotes_odd_text(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    odd_db();
    Store *s = store_open(path_in("odd.db"), err);
    assert_non_null(s);
    char *csv = report_text(s, REPORT_CSV);
    assert_non_null(strstr(csv, ",\"ppl:a|b,c\","));
    assert_non_null(strstr(csv, "\n\"we,ird\"\"m|x\",4,,8,false,"));
    free(csv);
    char *md = report_text(s, REPORT_MARKDOWN);
    assert_non_null(strstr(md, "| ppl |"));
    assert_non_null(strstr(md, "Metrics: ppl on a|b,c ("));
    assert_non_null(strstr(md, "| we,ird\"m\\|x | 4 | 8 |"));
    free(md);
    store_close(s);
}

static char *report_cols(Store *s, ReportFormat fmt, const char *cols, int want_rc) {
    char *buf = NULL, err[QB_ERRLEN] = "";
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(report_write(s, f, fmt, cols, err), want_rc);
    fclose(f);
    if (want_rc) {
        free(buf);
        return strdup(err);
    }
    return buf;
}

static void test_report_columns_se_and_high_bits(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("cols.db"), err);
    assert_non_null(s);
    /* four scored tokens with NLL 1, 2, 3, 4: mean 2.5, population variance 30/4 - 2.5^2 = 1.25;
     * ppl = e^2.5 = 12.18249..., SE = e^2.5 * sqrt(1.25 / 3) = 7.8637... (ppl_stderr's definition) */
    StoreMetric m = {.kind = "ppl", .dataset = "d", .value = exp(2.5), .count = 4, .signature = "s",
                     .stats_json = "{\"n_scored\":4,\"n_windows\":1,\"sum_nll\":10,\"sum_nll2\":30,\"n_bytes\":8}"};
    char pj8[160], pj3[160]; /* (the current quantizer version: older points are stale) */
    snprintf(pj8, sizeof pj8, "{\"params\":{\"method\":\"gptqt\",\"bits\":8,\"high_bits\":\"+1\"},\"quantizer_version\":%d}",
             quant_algorithm_version(QM_GPTQT));
    snprintf(pj3, sizeof pj3, "{\"params\":{\"method\":\"gptqt\",\"bits\":3,\"high_bits\":6},\"quantizer_version\":%d}",
             quant_algorithm_version(QM_GPTQT));
    StorePoint pt = {.run = {.key = "t8", .method = "gptqt", .bits = 8, .group_size = -1, .act_order = 1,
                             .params_json = pj8,
                             .bits_per_weight = 12.6, .packed_bytes = 1},
                     .metrics = &m, .n_metrics = 1};
    assert_int_equal(store_write_point(s, &pt, err), 0);
    StorePoint p2 = {.run = {.key = "t3", .method = "gptqt", .bits = 3, .group_size = 32,
                             .params_json = pj3,
                             .bits_per_weight = 6.5, .packed_bytes = 1},
                     .metrics = &m, .n_metrics = 1};
    assert_int_equal(store_write_point(s, &p2, err), 0);
    char *md = report_text(s, REPORT_MARKDOWN);
    /* high bits shown for GPTQT (8 + 1 capped at 8; an absolute 6), ppl as value ± SE to the SE's
     * first two significant digits */
    assert_non_null(strstr(md, "| method | bits | high | group | act_order | bits/w | ppl |\n"));
    assert_non_null(strstr(md, "| gptqt | 8 | 8 | row | true | 12.6 | 12.2 ± 7.9 |\n"));
    assert_non_null(strstr(md, "| gptqt | 3 | 6 | 32 | false | 6.5 | 12.2 ± 7.9 |\n"));
    free(md);
    md = report_cols(s, REPORT_MARKDOWN, "point,bpw,ppl", 0);
    assert_non_null(strstr(md, "| point | bits/w | ppl |\n|---|--:|--:|\n"));
    assert_non_null(strstr(md, "| gptqt w8 row act | 12.6 | 12.2 ± 7.9 |\n"));
    free(md);
    char *csv = report_cols(s, REPORT_CSV, "key,ppl:d", 0);
    assert_non_null(strstr(csv, "key,ppl:d,ppl:d:se\n"));
    assert_non_null(strstr(csv, "t8,12.182493960703473,7.86"));
    free(csv);
    char *e = report_cols(s, REPORT_MARKDOWN, "method,nonsense", -1);
    assert_non_null(strstr(e, "unknown column 'nonsense'"));
    free(e);
    store_close(s);
}

static void test_report_command_errors(void **state) {
    (void)state;
    shared_db();
    char *a1[] = {"report", (char *)path_in("missing.db"), NULL};
    assert_int_equal(cmd_report(2, a1), 2);
    assert_int_equal(access(path_in("missing.db"), F_OK), -1); /* not created by the attempt */
    char *a2[] = {"report", g_db, "--format", "xml", NULL};
    assert_int_equal(cmd_report(4, a2), 2);
    char *a3[] = {"report", NULL};
    assert_int_equal(cmd_report(1, a3), 2);
    char *a4[] = {"report", g_db, "--format", "csv", NULL};
    assert_int_equal(capture(cmd_report, 4, a4), 0);
    assert_non_null(strstr(g_captured, "p7-key-rtn8"));
}

/* ---- plot ----------------------------------------------------------------------------------------- */

static void assert_file_starts(const char *path, const char *magic, size_t n) {
    size_t len = 0;
    char *b = t_slurp(path, &len);
    assert_non_null(b);
    assert_true(len > 1000);
    assert_memory_equal(b, magic, n);
    free(b);
}

static void test_plot_writes_png_svg_scripts_and_data(void **state) {
    (void)state;
    shared_db();
    char err[QB_ERRLEN];
    Store *s = store_open(g_db, err);
    assert_non_null(s);
    PlotFiles files;
    const char *dir = path_in("plots/sub");
    assert_int_equal(plot_all(s, dir, PLOT_PNG | PLOT_SVG, &files, err), 0);
    /* ppl: vs bpw and vs bytes; chrf vs baseline; chrf vs reference; top1 -> 5 figures x 4 files */
    assert_int_equal(files.n, 20);
    plot_files_free(&files);
    store_close(s);

    char p[512];
    snprintf(p, sizeof p, "%s/ppl_vs_bpw__tinystories-valid.png", dir);
    assert_file_starts(p, "\x89PNG\r\n\x1a\n", 8);
    snprintf(p, sizeof p, "%s/ppl_vs_bytes__tinystories-valid.png", dir);
    assert_file_starts(p, "\x89PNG\r\n\x1a\n", 8);
    snprintf(p, sizeof p, "%s/chrf_vs_bpw__tinystories-continuation__vs_reference.svg", dir);
    size_t len;
    char *svg = t_slurp(p, &len);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);

    snprintf(p, sizeof p, "%s/ppl_vs_bpw__tinystories-valid.gp", dir);
    char *gp = t_slurp(p, NULL);
    assert_non_null(gp);
    assert_non_null(strstr(gp, "set logscale y"));
    assert_non_null(strstr(gp, "set xlabel 'bits per weight"));
    assert_non_null(strstr(gp, "title 'Pareto front'"));
    assert_non_null(strstr(gp, "10 with lines")); /* the baseline at perplexity 10 */
    /* the legend lists each method (its colour) and each variant (marker and dash) once */
    assert_non_null(strstr(gp, "title 'gptq'"));
    assert_non_null(strstr(gp, "title 'rtn'"));
    assert_non_null(strstr(gp, "title 'g32 act-order'"));
    assert_non_null(strstr(gp, "title 'per-row'"));
    assert_non_null(strstr(gp, "set title 'm: Perplexity")); /* the model's name (m.bin) */
    /* the axis is cut above the >= 3-bit points (50 x 1.06, + 2 %), so the 2-bit 300 is drawn on
     * the edge; round labelled tics on the log axis in between */
    assert_non_null(strstr(gp, "set ytics (10, 15, 20, 30, 50)"));
    free(gp);
    snprintf(p, sizeof p, "%s/ppl_vs_bytes__tinystories-valid.gp", dir);
    gp = t_slurp(p, NULL);
    assert_non_null(strstr(gp, "(KiB)")); /* largest point 77000 bytes */
    free(gp);

    /* The Pareto front is the last index of the data file: 5 points (see POINTS). */
    snprintf(p, sizeof p, "%s/ppl_vs_bpw__tinystories-valid.dat", dir);
    char *dat = t_slurp(p, NULL);
    char *front = strstr(dat, "# index 3: Pareto front\n");
    assert_non_null(front); /* three series before it: gptq g32 act-order, gptq g32, rtn per-row */
    double want[5][2] = {{2.0625, 300}, {3.0625, 50}, {3.25, 14}, {4.0625, 11.5}, {4.25, 10.5}};
    char *line = strchr(front, '\n') + 1;
    for (int i = 0; i < 5; i++) {
        double x, y, b;
        assert_int_equal(sscanf(line, "%lf %lf %lf", &x, &y, &b), 3);
        assert_true(x == want[i][0] && y == want[i][1]);
        line = strchr(line, '\n') + 1;
    }
    assert_true(*line == '\n' || *line == 0); /* nothing else on the front */
    free(dat);
}

/* The y range of a figure: "set yrange [lo:hi]" in its script. */
static void gp_yrange(const char *gp, double *lo, double *hi) {
    const char *r = strstr(gp, "set yrange [");
    assert_non_null(r);
    assert_int_equal(sscanf(r, "set yrange [%lf:%lf]", lo, hi), 2);
}

static void test_plot_ranges_colours_errorbars_pdf(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("ranges.db"), err);
    assert_non_null(s);
    /* gptq w3: four scored tokens with NLL 1, 2, 3, 4 -> ppl e^2.5, SE e^2.5 sqrt(1.25/3) = 7.8637
     * (ppl_stderr's definition, by hand) */
    const char *sj = "{\"n_scored\":4,\"n_windows\":1,\"sum_nll\":10,\"sum_nll2\":30,\"n_bytes\":8}";
    struct { const char *key, *method; int bits, group; double bpw, ppl, top1, kl; const char *stats; } R[] = {
        {"a", "rtn", 2, -1, 2.1, 500, 0.30, 2.0, NULL},
        {"b", "rtn", 4, -1, 4.1, 10.2, 0.999, 0.001, NULL},
        {"c", "gptq", 4, 32, 4.6, 10.1, 0.9995, 0.0005, NULL},
        {"d", "gptq", 3, 32, 3.6, 12.182493960703473, 0.95, 0.05, sj},
    };
    for (int i = 0; i < 4; i++) {
        QuantMethod qm;
        assert_int_equal(quant_method_parse(R[i].method, &qm), 0);
        char pj[96];
        snprintf(pj, sizeof pj, "{\"params\":{},\"quantizer_version\":%d}", quant_algorithm_version(qm));
        StoreMetric m[3] = {
            {.kind = "ppl", .dataset = "d", .value = R[i].ppl, .count = 4, .stats_json = R[i].stats},
            {.kind = "top1", .dataset = "d", .against = "baseline", .value = R[i].top1, .count = 4},
            {.kind = "kl", .dataset = "d", .against = "baseline", .value = R[i].kl, .count = 4},
        };
        StorePoint pt = {.run = {.key = R[i].key, .model_path = "models/tiny.bin", .model_sha256 = "sha",
                                 .method = R[i].method, .bits = R[i].bits, .group_size = R[i].group,
                                 .params_json = pj, .bits_per_weight = R[i].bpw, .packed_bytes = 100},
                         .metrics = m, .n_metrics = 3};
        assert_int_equal(store_write_point(s, &pt, err), 0);
    }
    const char *dir = path_in("ranges");
    PlotFiles files;
    int fmt = PLOT_PNG | PLOT_PDF;
    assert_int_equal(plot_all(s, dir, fmt, &files, err), 0);
    plot_files_free(&files);
    store_close(s);
    char p[512];
    double lo, hi;
    /* top-1 agreement never above 1 */
    snprintf(p, sizeof p, "%s/top1_vs_bpw__d__vs_baseline.gp", dir);
    char *gp = t_slurp(p, NULL);
    assert_non_null(gp);
    gp_yrange(gp, &lo, &hi);
    assert_true(hi == 1.0 && lo >= 0 && lo < 0.30);
    /* Okabe-Ito: rtn orange, gptq blue; the title names the model */
    assert_non_null(strstr(gp, "lc rgb '#E69F00'"));
    assert_non_null(strstr(gp, "lc rgb '#0072B2'"));
    assert_non_null(strstr(gp, "set title 'tiny: Top-1 agreement"));
    free(gp);
    /* KL over three and a half decades: a log axis above 0 */
    snprintf(p, sizeof p, "%s/kl_vs_bpw__d__vs_baseline.gp", dir);
    gp = t_slurp(p, NULL);
    assert_non_null(strstr(gp, "set logscale y"));
    gp_yrange(gp, &lo, &hi);
    assert_true(lo > 0 && lo < 0.0005 && hi > 2.0);
    free(gp);
    /* perplexity: cut above the >= 3-bit points (the highest is 12.18 + its SE 7.86), the 2-bit
     * 500 drawn on the edge with its value; error bars from the SE */
    snprintf(p, sizeof p, "%s/ppl_vs_bpw__d.gp", dir);
    gp = t_slurp(p, NULL);
    gp_yrange(gp, &lo, &hi);
    assert_true(hi < 500 && hi > 20.04 * 1.06);
    assert_non_null(strstr(gp, "with yerrorbars"));
    assert_non_null(strstr(gp, "title 'off scale (value)'"));
    free(gp);
    snprintf(p, sizeof p, "%s/ppl_vs_bpw__d.dat", dir);
    char *dat = t_slurp(p, NULL);
    assert_non_null(dat);
    char *off = strstr(dat, ": above the y cut");
    assert_non_null(off);
    double x, y, v;
    int col;
    assert_int_equal(sscanf(strchr(off, '\n') + 1, "%lf %lf %d %lf", &x, &y, &col, &v), 4);
    assert_true(x == 2.1 && v == 500 && col == 0xE69F00 && y < hi);
    assert_non_null(strstr(dat, "\"500\""));
    char *d3 = strstr(dat, "# index 0: gptq g32\n"); /* gptq first: series in method order */
    assert_non_null(d3);
    double bytes, ylo, yhi;
    assert_int_equal(sscanf(strchr(d3, '\n') + 1, "%lf %lf %lf %lf %lf", &x, &y, &bytes, &ylo, &yhi), 5);
    assert_true(x == 3.6 && fabs((yhi - y) - 7.8637) < 1e-3 && fabs((y - ylo) - 7.8637) < 1e-3);
    free(dat);
    /* the PDF beside the PNG */
    snprintf(p, sizeof p, "%s/ppl_vs_bpw__d.pdf", dir);
    assert_file_starts(p, "%PDF-", 5);
}

static void test_plot_command_formats_and_errors(void **state) {
    (void)state;
    shared_db();
    const char *dir = path_in("pngonly");
    char *a1[] = {"plot", g_db, "-o", (char *)dir, "--format", "png", NULL};
    assert_int_equal(capture(cmd_plot, 6, a1), 0);
    assert_non_null(strstr(g_captured, "ppl_vs_bpw__tinystories-valid.png\n"));
    assert_null(strstr(g_captured, ".svg"));
    char p[512];
    snprintf(p, sizeof p, "%s/ppl_vs_bpw__tinystories-valid.svg", dir);
    assert_int_equal(access(p, F_OK), -1);
    char *a2[] = {"plot", g_db, "--format", "gif", NULL};
    assert_int_equal(cmd_plot(4, a2), 2);
    char *a3[] = {"plot", (char *)path_in("nope.db"), NULL};
    assert_int_equal(cmd_plot(2, a3), 2);

    /* A database with no metrics has nothing to draw. */
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("empty.db"), err);
    assert_non_null(s);
    PlotFiles files;
    assert_int_equal(plot_all(s, path_in("emptyplots"), PLOT_PNG, &files, err), -1);
    assert_non_null(strstr(err, "no finished point"));
    plot_files_free(&files);
    /* Without gnuplot on PATH it says so. */
    char *old = strdup(getenv("PATH"));
    setenv("PATH", "/nonexistent", 1);
    Store *r = store_open(g_db, err);
    int rc = plot_all(r, path_in("nognuplot"), PLOT_PNG, &files, err);
    setenv("PATH", old, 1);
    free(old);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "gnuplot"));
    plot_files_free(&files);
    store_close(r);
    store_close(s);
}

/* ---- merge (the command; the copying itself is tested in test_store.c) ------------------------------- */

static void test_merge_command(void **state) {
    (void)state;
    shared_db();
    odd_db();
    const char *out = path_in("merged-cmd.db");
    char *a1[] = {"merge", (char *)out, g_db, (char *)path_in("odd.db"), NULL};
    assert_int_equal(capture(cmd_merge, 4, a1), 0);
    /* 7 points from the shared database + 1 from odd.db */
    assert_non_null(strstr(g_captured, "8 points added from 2 databases, 0 conflicts"));
    /* Again: everything is already there, identical. */
    assert_int_equal(capture(cmd_merge, 4, a1), 0);
    assert_non_null(strstr(g_captured, "0 points added from 2 databases, 0 conflicts"));
    char *a2[] = {"merge", (char *)out, NULL};
    assert_int_equal(cmd_merge(2, a2), 2);
    char *a3[] = {"merge", (char *)out, (char *)path_in("absent.db"), NULL};
    assert_int_equal(cmd_merge(3, a3), 2);
    assert_int_equal(access(path_in("absent.db"), F_OK), -1);
    char *a4[] = {"merge", (char *)out, (char *)out, NULL};
    assert_int_equal(cmd_merge(3, a4), 2);
}

/* ---- check ----------------------------------------------------------------------------------------- */

static const char *write_yaml(const char *name, const char *exp_name, const char *checks) {
    shared_db();
    const char *path = path_in(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "name: %s\n"
            "model: {path: assets/stories260K/stories260K.bin}\n"
            "sweep: {method: [gptq], bits: [4], group_size: [32]}\n"
            "eval:\n"
            "  perplexity: [{dataset: tinystories-valid, seqlen: 64}]\n"
            "  generation: [{task: tinystories-continuation, prompts: 8, max_new_tokens: 16, metrics: [chrf],"
            " against: [reference, baseline]}]\n"
            "  agreement: [{dataset: tinystories-valid, seqlen: 64, windows: 2}]\n"
            "check:\n%s"
            "output: {db: %s, junit: %s}\n",
            exp_name, checks, g_db, path_in("default-junit.xml"));
    fclose(f);
    return path;
}

static int run_check(const char *yaml, const char *junit) {
    char *argv[] = {"check", (char *)yaml, "--junit", (char *)junit, NULL};
    return capture(cmd_check, 4, argv);
}

static void assert_valid_xml(const char *path) {
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' '%s' 2>/dev/null", path);
    assert_int_equal(system(cmd), 0);
}

static void test_check_ppl_threshold_pass_and_fail(void **state) {
    (void)state;
    /* 10.5 vs 10.0 = +5 %: passes 10 %. */
    const char *y = write_yaml("pass.yaml", "ci-gate",
                               "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10,"
                               " where: {bits: 4, method: gptq, act_order: true}}\n");
    const char *junit = path_in("pass.xml");
    assert_int_equal(run_check(y, junit), 0);
    assert_non_null(strstr(g_captured, "PASS "));
    assert_non_null(strstr(g_captured, "+5.000%"));
    assert_null(strstr(g_captured, "FAIL"));
    assert_valid_xml(junit);
    /* Without --junit it goes where the experiment's output.junit says. */
    char *a_default[] = {"check", (char *)y, NULL};
    assert_int_equal(capture(cmd_check, 2, a_default), 0);
    assert_valid_xml(path_in("default-junit.xml"));
    char *x = t_slurp(junit, NULL);
    assert_non_null(strstr(x, "<testsuites name=\"qbench check\" tests=\"1\" failures=\"0\" errors=\"0\">"));
    free(x);

    /* ... and fails 4 %. */
    y = write_yaml("fail.yaml", "ci-gate",
                   "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 4, where: {bits: 4, act_order: true}}\n");
    junit = path_in("fail.xml");
    assert_int_equal(run_check(y, junit), 1);
    assert_non_null(strstr(g_captured, "FAIL "));
    assert_valid_xml(junit);
    x = t_slurp(junit, NULL);
    assert_non_null(strstr(x, "tests=\"1\" failures=\"1\" errors=\"0\""));
    assert_non_null(strstr(x, "<failure type=\"threshold\""));
    assert_non_null(strstr(x, "+5.000%"));
    free(x);

    /* where {bits: 4}: p1 +5 %, p2 +15 %, p6 +8 % against a 10 % limit -> 2 pass, 1 fail. */
    y = write_yaml("mixed.yaml", "ci-gate",
                   "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10, where: {bits: 4}}\n");
    junit = path_in("mixed.xml");
    assert_int_equal(run_check(y, junit), 1);
    x = t_slurp(junit, NULL);
    assert_non_null(strstr(x, "tests=\"3\" failures=\"1\" errors=\"0\""));
    assert_non_null(strstr(x, "+15.000%"));
    free(x);
}

static void test_check_other_metrics(void **state) {
    (void)state;
    /* p1 = gptq w4 g32 act, p2 = rtn w4 row. top1 min 0.8: p2 0.7 fail, p1 0.9 pass. chrf vs
     * baseline min 70: p2 60 fail. chrf vs reference, max_decrease_pct 10 from the baseline's 55:
     * p2 50 (-9.09 %) pass, p1 52 (-5.45 %) pass. bits_per_weight max 4.1: p1 4.25 fail, p2 4.0625
     * pass. 7 testcases: 4 pass, 3 fail. */
    const char *y = write_yaml("others.yaml", "ci-gate",
                               "  - {metric: top1, dataset: tinystories-valid, min: 0.8, where: {bits: 4, act_order: false,"
                               " method: rtn}}\n"
                               "  - {metric: top1, dataset: tinystories-valid, min: 0.8, where: {method: gptq, act_order: true,"
                               " bits: 4}}\n"
                               "  - {metric: chrf, task: tinystories-continuation, against: baseline, min: 70,"
                               " where: {group_size: -1, bits: 4}}\n"
                               "  - {metric: chrf, task: tinystories-continuation, max_decrease_pct: 10,"
                               " where: {bits: 4, method: rtn}}\n"
                               "  - {metric: chrf, task: tinystories-continuation, max_decrease_pct: 10,"
                               " where: {bits: 4, act_order: true}}\n"
                               "  - {metric: bits_per_weight, max: 4.1, where: {bits: 4, act_order: true}}\n"
                               "  - {metric: bits_per_weight, max: 4.1, where: {method: rtn, bits: 4}}\n");
    const char *junit = path_in("others.xml");
    assert_int_equal(run_check(y, junit), 1);
    char *x = t_slurp(junit, NULL);
    assert_non_null(strstr(x, "tests=\"7\" failures=\"3\" errors=\"0\""));
    free(x);
    /* Each line names the outcome; count them. */
    int pass = 0, fail = 0;
    for (const char *c = g_captured; (c = strstr(c, "PASS ")); c++) pass++;
    for (const char *c = g_captured; (c = strstr(c, "FAIL ")); c++) fail++;
    assert_int_equal(pass, 4);
    assert_int_equal(fail, 3);
    assert_non_null(strstr(g_captured, "change -9.091%"));
}

static void test_check_could_not_run(void **state) {
    (void)state;
    const char *ok_check = "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10}\n";
    /* Missing database. */
    const char *y = write_yaml("nodb.yaml", "ci-gate", ok_check);
    char *a1[] = {"check", (char *)y, "--db", (char *)path_in("absent.db"), NULL};
    assert_int_equal(cmd_check(4, a1), 2);
    /* No point matches the where filter. */
    y = write_yaml("nomatch.yaml", "ci-gate",
                   "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10, where: {bits: 5}}\n");
    assert_int_equal(run_check(y, path_in("nomatch.xml")), 2);
    char *x = t_slurp(path_in("nomatch.xml"), NULL);
    assert_non_null(strstr(x, "errors=\"1\""));
    assert_non_null(strstr(x, "no finished point matches"));
    free(x);
    /* A point lacks the metric (p3 has no chrf). */
    y = write_yaml("nometric.yaml", "ci-gate",
                   "  - {metric: chrf, task: tinystories-continuation, against: baseline, min: 1, where: {bits: 3}}\n");
    assert_int_equal(run_check(y, path_in("nometric.xml")), 2);
    assert_non_null(strstr(g_captured, "ERROR"));
    /* No points of this experiment in the database. */
    y = write_yaml("otherexp.yaml", "other-experiment", ok_check);
    assert_int_equal(run_check(y, path_in("otherexp.xml")), 2);
    /* A bad experiment file. */
    y = write_yaml("bad.yaml", "ci-gate", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10, bogus: 1}\n");
    assert_int_equal(run_check(y, path_in("bad.xml")), 2);
    assert_int_equal(access(path_in("bad.xml"), F_OK), -1);
    char *a2[] = {"check", (char *)path_in("does-not-exist.yaml"), NULL};
    assert_int_equal(cmd_check(2, a2), 2);
    char *a3[] = {"check", NULL};
    assert_int_equal(cmd_check(1, a3), 2);
    /* The JUnit file cannot be written. */
    y = write_yaml("nojunit.yaml", "ci-gate", ok_check);
    assert_int_equal(run_check(y, path_in("no/such/dir/x.xml")), 2);
}

static void test_check_junit_escapes_text(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    const char *db = path_in("esc.db");
    Store *s = store_open(db, err);
    assert_non_null(s);
    int64_t eid;
    assert_int_equal(store_upsert_experiment(s, "esc", "e.yaml", "", &eid, err), 0);
    StoreMetric m = {.kind = "ppl", .dataset = "tinystories-valid", .value = 12.0, .count = 1};
    StorePoint pt = {.run = {.key = "<&\"'>\x01zz", .experiment_id = eid, .model_sha256 = "m", .method = "a<b&c",
                             .bits = 4, .group_size = -1},
                     .metrics = &m, .n_metrics = 1};
    assert_int_equal(store_write_point(s, &pt, err), 0);
    StoreMetric b = {.kind = "ppl", .dataset = "tinystories-valid", .value = 10.0, .count = 1};
    assert_int_equal(store_put_baseline(s, "m", &b, err), 0);
    store_close(s);
    const char *y = write_yaml("esc.yaml", "esc", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10}\n");
    char *argv[] = {"check", (char *)y, "--db", (char *)db, "--junit", (char *)path_in("esc.xml"), NULL};
    /* 12 vs 10 = +20 % > 10 %. */
    assert_int_equal(capture(cmd_check, 6, argv), 1);
    assert_valid_xml(path_in("esc.xml"));
    char *x = t_slurp(path_in("esc.xml"), NULL);
    assert_non_null(strstr(x, "a&lt;b&amp;c w4 row [&lt;&amp;&quot;&apos;&gt;?zz]"));
    free(x);
}

/* ---- rows that must not be compared ---------------------------------------------------------------- */

/* Two experiments measured the same quantization under different evaluation settings (32 and 8
 * windows), each with its own unquantized baseline; the demo point also has a number under settings
 * its experiment no longer uses (16 windows), and a point computed by an older quantizer version is
 * left over. Report and plot keep the two signatures apart and match each baseline by signature;
 * the stale rows are counted and left out; check judges only the file's own signatures and refuses
 * a file edited since its run. Read-only commands leave bad inputs untouched. */
static void test_signatures_stay_apart_and_stale_rows_are_ignored(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    char db[256], demo_yaml[256], strict[256]; /* (path_in's buffers rotate) */
    snprintf(db, sizeof db, "%s", path_in("two.db"));
    snprintf(demo_yaml, sizeof demo_yaml, "%s",
             write_yaml("demo-two.yaml", "demo", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 10}\n"));
    snprintf(strict, sizeof strict, "%s",
             write_yaml("demo-strict.yaml", "demo", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 5}\n"));
    char sha[65], ekey[65];
    assert_int_equal(qb_sha256_file(demo_yaml, sha, err), 0);
    Experiment *ex = calloc(1, sizeof *ex);
    assert_int_equal(config_load(demo_yaml, ex, err), 0);
    sweep_eval_key(ex, ekey);
    free(ex);
    Store *s = store_open(db, err);
    assert_non_null(s);
    int64_t demo, ci;
    assert_int_equal(store_upsert_experiment(s, "demo", demo_yaml, sha, &demo, err), 0);
    assert_int_equal(store_upsert_experiment(s, "ci", "ci.yaml", "cisha", &ci, err), 0);
    assert_int_equal(store_set_experiment_evals(s, demo, ekey, "ppl\ttinystories-valid\t-\tmetric:ppl|w32\n", err), 0);
    assert_int_equal(store_set_experiment_evals(s, ci, "cikey", "ppl\ttinystories-valid\t-\tmetric:ppl|w8\n", err), 0);
    StoreMetric b32 = {.kind = "ppl", .dataset = "tinystories-valid", .value = 4.0, .count = 100, .signature = "metric:ppl|w32"};
    StoreMetric b8 = {.kind = "ppl", .dataset = "tinystories-valid", .value = 4.1, .count = 100, .signature = "metric:ppl|w8"};
    assert_int_equal(store_put_baseline(s, "m", &b32, err), 0);
    assert_int_equal(store_put_baseline(s, "m", &b8, err), 0);
    char params[128];
    snprintf(params, sizeof params, "{\"params\":{},\"quantizer_version\":%d}", quant_algorithm_version(QM_GPTQ));
    StoreMetric md[2] = {{.kind = "ppl", .dataset = "tinystories-valid", .value = 4.3441, .count = 100, .signature = "metric:ppl|w32"},
                         {.kind = "ppl", .dataset = "tinystories-valid", .value = 4.40, .count = 100, .signature = "metric:ppl|w16"}};
    StoreMetric mc = {.kind = "ppl", .dataset = "tinystories-valid", .value = 4.2409, .count = 100, .signature = "metric:ppl|w8"};
    StoreMetric mo = {.kind = "ppl", .dataset = "tinystories-valid", .value = 9.9, .count = 100, .signature = "metric:ppl|w32"};
    StoreRun r = {.key = "d-g4", .experiment_id = demo, .model_sha256 = "m", .method = "gptq", .bits = 4,
                  .group_size = 32, .params_json = params, .bits_per_weight = 4.5, .packed_bytes = 100};
    StorePoint p = {.run = r, .metrics = md, .n_metrics = 2};
    assert_int_equal(store_write_point(s, &p, err), 0);
    p.run.key = "c-g4";
    p.run.experiment_id = ci;
    p.metrics = &mc;
    p.n_metrics = 1;
    assert_int_equal(store_write_point(s, &p, err), 0);
    p.run.key = "old-g4";
    p.run.experiment_id = demo;
    p.run.params_json = "{\"params\":{}}"; /* before quantizer versions */
    p.metrics = &mo;
    assert_int_equal(store_write_point(s, &p, err), 0);
    store_close(s);

    s = store_open_readonly(db, err);
    assert_non_null(s);
    StoreRunRow *runs;
    int nr;
    ResultsStale st;
    assert_int_equal(store_load_runs(s, NULL, NULL, &runs, &nr, err), 0);
    assert_int_equal(nr, 3);
    assert_int_equal(results_select_current(s, NULL, runs, &nr, &st, err), 0);
    assert_int_equal(nr, 2);
    assert_int_equal(st.stale_runs, 1);
    assert_int_equal(st.stale_metrics, 2); /* the old point's ppl and demo's 16-window one */
    store_free_runs(runs, nr);

    /* Columns sorted by signature: [1] = w32 ('3' < '8'), [2] = w8. */
    char *md_text = report_text(s, REPORT_MARKDOWN);
    assert_non_null(strstr(md_text, "| ppl [1] | ppl [2] |\n"));
    assert_non_null(strstr(md_text, "| unquantized m | - | - | - | - | 4 | 4.1 |\n"));
    assert_non_null(strstr(md_text, "| 4.3441 | - |\n"));
    assert_non_null(strstr(md_text, "| - | 4.2409 |\n"));
    assert_null(strstr(md_text, "9.9"));
    assert_null(strstr(md_text, "4.4 "));
    assert_non_null(strstr(md_text, "[1] ppl tinystories-valid: metric:ppl|w32\n[2] ppl tinystories-valid: metric:ppl|w8\n"));
    free(md_text);

    PlotFiles files;
    const char *dir = path_in("two-plots");
    assert_int_equal(plot_all(s, dir, PLOT_SVG, &files, err), 0);
    assert_int_equal(files.n, 12); /* 2 signatures x (vs bpw, vs bytes) x (.dat, .gp, .svg) */
    plot_files_free(&files);
    store_close(s);
    char gp_path[512];
    snprintf(gp_path, sizeof gp_path, "%s/ppl_vs_bpw__tinystories-valid__s1.gp", dir);
    char *gp = t_slurp(gp_path, NULL);
    assert_non_null(gp);
    assert_non_null(strstr(gp, "  4 with lines")); /* its own baseline only */
    assert_null(strstr(gp, "4.0999999999999996 with lines")); /* 4.1 to 17 digits */
    free(gp);
    snprintf(gp_path, sizeof gp_path, "%s/ppl_vs_bpw__tinystories-valid__s2.gp", dir);
    gp = t_slurp(gp_path, NULL);
    assert_non_null(gp);
    assert_non_null(strstr(gp, "4.0999999999999996 with lines"));
    free(gp);

    /* check: 4.3441 against the 32-window baseline 4.0 is +8.6 %, under 10 %. */
    char *a1[] = {"check", (char *)demo_yaml, "--db", (char *)db, NULL};
    assert_int_equal(capture(cmd_check, 4, a1), 0);
    assert_non_null(strstr(g_captured, "+8.603%"));
    /* Another threshold on the same evaluations is judged; other evaluation settings are not. */
    char *a5[] = {"check", (char *)strict, "--db", (char *)db, NULL};
    assert_int_equal(capture(cmd_check, 4, a5), 1);
    FILE *f = fopen(demo_yaml, "r");
    char text[4096];
    size_t tn = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[tn] = 0;
    char *sl = strstr(text, "seqlen: 64}");
    assert_non_null(sl);
    memcpy(sl, "seqlen: 32}", 11);
    f = fopen(demo_yaml, "w");
    fputs(text, f);
    fclose(f);
    assert_int_equal(capture(cmd_check, 4, a1), 2);

    /* Read-only commands never write: an empty file stays empty; merge creates no OUT for a bad input. */
    const char *empty = path_in("zero.db");
    f = fopen(empty, "w");
    fclose(f);
    char *a2[] = {"plot", (char *)empty, "-o", (char *)path_in("zero-plots"), NULL};
    assert_int_equal(cmd_plot(4, a2), 2);
    char *a3[] = {"report", (char *)empty, NULL};
    assert_int_equal(cmd_report(2, a3), 2);
    struct stat sb;
    assert_int_equal(stat(empty, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    char *a4[] = {"merge", (char *)path_in("never.db"), (char *)empty, NULL};
    assert_int_equal(cmd_merge(3, a4), 2);
    assert_int_equal(access(path_in("never.db"), F_OK), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_markdown),
        cmocka_unit_test(test_report_csv_and_json),
        cmocka_unit_test(test_report_quotes_odd_text),
        cmocka_unit_test(test_report_columns_se_and_high_bits),
        cmocka_unit_test(test_report_command_errors),
        cmocka_unit_test(test_plot_writes_png_svg_scripts_and_data),
        cmocka_unit_test(test_plot_ranges_colours_errorbars_pdf),
        cmocka_unit_test(test_plot_command_formats_and_errors),
        cmocka_unit_test(test_merge_command),
        cmocka_unit_test(test_check_ppl_threshold_pass_and_fail),
        cmocka_unit_test(test_check_other_metrics),
        cmocka_unit_test(test_check_could_not_run),
        cmocka_unit_test(test_check_junit_escapes_text),
        cmocka_unit_test(test_signatures_stay_apart_and_stale_rows_are_ignored),
    };
    return cmocka_run_group_tests_name("results", tests, setup, teardown);
}
