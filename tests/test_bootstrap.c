/* test_bootstrap.c — bootstrap confidence intervals and paired tests against sacrebleu 2.x's
 * published algorithm (sacrebleu/significance.py) run with numpy: tests/fixtures/
 * make_bootstrap_fixture.py drew np.random.default_rng(12345).choice(10, size=(1000, 10)) and
 * computed chrF / chrF++ on the chrF author's English example (the Python port of sacrebleu's
 * CHRF in bench/) with sacrebleu's estimate_ci and paired-bs p-value. (sacrebleu itself is not
 * installable here; its algorithm is reproduced with numpy.) The index stream must equal numpy's
 * exactly; the intervals must print the same at sacrebleu's width (2 decimals) and agree within
 * 1e-4 (sacrebleu holds the statistics as float32 and divides some in float32: relative 6e-8 of a
 * score of 100 is 6e-6). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/bootstrap.h"
#include "metrics/chrf.h"
#include "metrics/textfile.h"

#define FIX "tests/fixtures/bootstrap/expected.txt"

/* numpy 1.24: default_rng(12345).bit_generator.random_raw(3), and .choice(7, size=(2, 7)). */
static void test_generator_is_numpys(void **state) {
    (void)state;
    QbPcg64 g;
    qb_pcg64_seed(&g, 12345);
    assert_true(qb_pcg64_next64(&g) == 0x3a32b18db2ffc19dULL);
    assert_true(qb_pcg64_next64(&g) == 0x51171315c9e4c4deULL);
    assert_true(qb_pcg64_next64(&g) == 0xcc2024823444efd9ULL);
    const int want[14] = {4, 1, 5, 2, 1, 5, 4, 4, 6, 2, 5, 2, 3, 4};
    char err[QB_ERRLEN];
    int *idx = bootstrap_indices(12345, 2, 7, err);
    assert_non_null(idx);
    for (int i = 0; i < 14; i++) assert_int_equal(idx[i], want[i]);
    free(idx);
    assert_null(bootstrap_indices(12345, 10, 0, err));
}

/* estimate_ci by hand: 40 scores 1..40 → lower index 1 (score 2), upper 38 (score 39). */
static void test_estimate_by_hand(void **state) {
    (void)state;
    double s[40];
    for (int i = 0; i < 40; i++) s[i] = 40 - i;
    BootstrapCI ci;
    bootstrap_estimate(s, 40, &ci);
    assert_true(ci.mean == 20.5);
    assert_true(ci.lower == 2 && ci.upper == 39);
    assert_true(ci.ci == 18.5);
}

static void seg_stats(const char *hyp_path, const char *ref_path, const chrf_opts *o, chrf_stats **out, size_t *n) {
    TextFile h, r;
    char err[QB_ERRLEN];
    if (textfile_read(hyp_path, &h, err) || textfile_read(ref_path, &r, err)) fail_msg("%s", err);
    assert_int_equal(h.n, r.n);
    *out = calloc(h.n, sizeof **out);
    for (size_t i = 0; i < h.n; i++) {
        const char *ref = r.lines[i];
        assert_int_equal(chrf_segment_stats(NULL, h.lines[i], &ref, 1, o, &(*out)[i], NULL, err), 0);
    }
    *n = h.n;
    textfile_free(&h);
    textfile_free(&r);
}

static void same_printed(const char *what, double mine, double theirs) {
    char a[64], b[64];
    snprintf(a, sizeof a, "%.2f", mine);
    snprintf(b, sizeof b, "%.2f", theirs);
    printf("  %-22s qbench %.6f  reference %.6f  (|diff| %.1e)\n", what, mine, theirs, fabs(mine - theirs));
    if (strcmp(a, b) || fabs(mine - theirs) > 1e-4) fail_msg("%s: %s vs %s", what, a, b);
}

static void test_chrf_confidence_and_paired_match_reference(void **state) {
    (void)state;
    FILE *f = fopen(FIX, "r");
    if (!f) skip();
    char line[512];
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        char name[16];
        double v[5];
        if (!strncmp(line, "idx ", 4)) { /* the first 20 indices of the 1000 x 10 draw */
            char err[QB_ERRLEN];
            int *idx = bootstrap_indices(12345, 1000, 10, err);
            assert_non_null(idx);
            char *p = line + 4;
            for (int i = 0; i < 20; i++) assert_int_equal(idx[i], (int)strtol(p, &p, 10));
            free(idx);
            checked++;
            continue;
        }
        int paired = !strncmp(line, "paired ", 7);
        if (sscanf(line + (paired ? 7 : 0), "%15s %lf %lf %lf %lf %lf", name, &v[0], &v[1], &v[2], &v[3], &v[4]) < 4)
            continue;
        chrf_opts o = chrf_defaults(strcmp(name, "chrf++") ? 0 : 2);
        chrf_stats *a, *b;
        size_t na, nb;
        seg_stats("assets/chrf-examples/example.hyp.en", "assets/chrf-examples/example.ref.en", &o, &a, &na);
        char err[QB_ERRLEN], what[64];
        BootstrapCI ci;
        if (!paired) {
            assert_int_equal(chrf_bootstrap_ci(a, na, &o, 1000, 12345, &ci, err), 0);
            snprintf(what, sizeof what, "%s mean", name); same_printed(what, ci.mean, v[1]);
            snprintf(what, sizeof what, "%s ci", name); same_printed(what, ci.ci, v[2]);
            snprintf(what, sizeof what, "%s 2.5%%", name); same_printed(what, ci.lower, v[3]);
            snprintf(what, sizeof what, "%s 97.5%%", name); same_printed(what, ci.upper, v[4]);
        } else {
            seg_stats("tests/fixtures/bootstrap/sysb.en", "assets/chrf-examples/example.ref.en", &o, &b, &nb);
            assert_int_equal(na, nb);
            double p;
            assert_int_equal(chrf_paired_bootstrap(b, a, na, &o, 1000, 12345, &ci, &p, err), 0);
            printf("  %-22s qbench %.6f  reference %.6f\n", "paired p", p, v[1]);
            assert_true(fabs(p - v[1]) < 1e-12); /* a count over 1001 */
            snprintf(what, sizeof what, "%s B mean", name); same_printed(what, ci.mean, v[2]);
            snprintf(what, sizeof what, "%s B ci", name); same_printed(what, ci.ci, v[3]);
            free(b);
        }
        free(a);
        checked++;
    }
    fclose(f);
    assert_int_equal(checked, 5);
}

/* The command prints sacrebleu's line: signature with bs and seed, then (μ = mean ± ci) at the
 * width asked; the fixture's chrF line gives mean 57.5479 and ci 10.4627. */
static void test_score_command_prints_interval(void **state) {
    (void)state;
    const char *bin = getenv("QBENCH_BIN") ? getenv("QBENCH_BIN") : "bin/qbench";
    char cmd[600], out[512] = "";
    snprintf(cmd, sizeof cmd, "%s score chrf --hyp assets/chrf-examples/example.hyp.en --ref "
                              "assets/chrf-examples/example.ref.en --confidence --width 2 2>&1", bin);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "chrF2|nrefs:1|bs:1000|seed:12345|case:mixed|"));
    assert_non_null(strstr(out, " = 58.09 (μ = 57.55 ± 10.46)\n"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_is_numpys),
        cmocka_unit_test(test_estimate_by_hand),
        cmocka_unit_test(test_chrf_confidence_and_paired_match_reference),
        cmocka_unit_test(test_score_command_prints_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
