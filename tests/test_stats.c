/* test_stats.c — paired comparisons and one-sided bounds (metrics/stats.h, metrics/bootstrap.h)
 * against tests/fixtures/paired/expected.txt, written by tests/fixtures/make_paired_fixture.py:
 * Python's statistics.NormalDist for the normal quantile; the delta method as gradient' Cov
 * gradient / W with numpy's sample covariance for ln(PPL_A/PPL_B) and PPL_A − PPL_B over windows
 * (qbench writes it as residual sums); numpy's paired standard error; sacrebleu 2.x's resampling
 * (default_rng(12345)) over NLTK's own METEOR segment scores for the METEOR interval, paired p-value
 * and one-sided bounds. Tolerances: 1e-12 relative (numpy sums pairwise, qbench left to right). */
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
#include "metrics/stats.h"
#include "tests/common.h"

#define FIX "tests/fixtures/paired/expected.txt"
#define MAXV 256

typedef struct {
    char key[32];
    double v[MAXV];
    int n;
} Line;

static Line LINES[64];
static int NL;

static int setup(void **state) {
    (void)state;
    char *t = t_slurp(FIX, NULL);
    if (!t) return 0; /* each test skips */
    for (char *p = strtok(t, "\n"); p && NL < 64; p = strtok(NULL, "\n")) {
        Line *l = &LINES[NL++];
        char *save = NULL, *tok = strtok_r(p, " ", &save);
        snprintf(l->key, sizeof l->key, "%s", tok);
        while ((tok = strtok_r(NULL, " ", &save)) && l->n < MAXV) l->v[l->n++] = strtod(tok, NULL);
    }
    free(t);
    return 0;
}

/* The k-th (0-based) line with this key, or NULL. */
static const Line *get(const char *key, int k) {
    for (int i = 0; i < NL; i++)
        if (!strcmp(LINES[i].key, key) && k-- == 0) return &LINES[i];
    return NULL;
}

static void near(double got, double want, double rel, const char *what) {
    double tol = rel * fmax(fabs(want), 1e-300);
    if (!(fabs(got - want) <= tol)) fail_msg("%s: got %.17g, want %.17g (tolerance %.3g relative)", what, got, want, rel);
}

#define NEED_FIXTURE() do { if (!NL) { fprintf(stderr, "no %s\n", FIX); skip(); } } while (0)

static void test_normal_quantile(void **state) {
    (void)state;
    NEED_FIXTURE();
    int n = 0;
    for (const Line *l; (l = get("quantile", n)); n++) {
        double got = stats_normal_quantile(l->v[0]);
        if (l->v[1] == 0) assert_true(fabs(got) < 1e-15);
        else near(got, l->v[1], 1e-13, "quantile");
    }
    assert_true(n >= 10);
    assert_true(isnan(stats_normal_quantile(0)) && isnan(stats_normal_quantile(1)));
}

/* ln(PPL_A/PPL_B) and PPL_A − PPL_B ± SE over windows: one case with a short last window, one with
 * equal windows (where the fixture checked the SE equals the paired formula sd(d/n)/sqrt(W)). */
static void test_paired_ppl(void **state) {
    (void)state;
    NEED_FIXTURE();
    for (int c = 0; c < 2; c++) {
        const Line *n = get("ppl_n", c), *a = get("ppl_a", c), *b = get("ppl_b", c), *e = get("ppl_expect", c);
        assert_non_null(e);
        long wn[MAXV];
        for (int i = 0; i < n->n; i++) wn[i] = (long)n->v[i];
        PairedPpl p;
        assert_int_equal(stats_paired_ppl(a->v, b->v, wn, n->n, &p), 0);
        assert_int_equal(p.windows, n->n);
        near(p.ln_ratio, e->v[0], 1e-12, "ln ratio");
        near(p.ln_ratio_se, e->v[1], 1e-12, "ln ratio se");
        near(p.dppl, e->v[2], 1e-12, "dppl");
        near(p.dppl_se, e->v[3], 1e-12, "dppl se");
        near(p.ppl_a, e->v[4], 1e-13, "ppl a");
        near(p.ppl_b, e->v[5], 1e-13, "ppl b");
        fprintf(stderr, "case %d: ln ratio %.6f ± %.6f, dppl %.6f ± %.6f over %ld windows (fixture agrees to 1e-12)\n", c,
                p.ln_ratio, p.ln_ratio_se, p.dppl, p.dppl_se, p.windows);
    }
    /* one window: no standard error; no window: refused */
    long one = 10;
    double x = 20, y = 19;
    PairedPpl p;
    assert_int_equal(stats_paired_ppl(&x, &y, &one, 1, &p), 0);
    assert_true(isnan(p.ln_ratio_se));
    near(p.ln_ratio, 0.1, 1e-15, "one window"); /* (20 − 19) / 10 by hand */
    assert_int_equal(stats_paired_ppl(&x, &y, &one, 0, &p), -1);
}

static void test_paired_mean(void **state) {
    (void)state;
    NEED_FIXTURE();
    const Line *a = get("mean_a", 0), *b = get("mean_b", 0), *e = get("mean_expect", 0);
    assert_non_null(e);
    double m, se;
    stats_paired_mean(a->v, b->v, a->n, &m, &se);
    near(m, e->v[0], 1e-12, "mean");
    near(se, e->v[1], 1e-12, "se");
    /* by hand: a − b = {1, 3}: mean 2, sd sqrt(2), se sqrt(2)/sqrt(2) = 1 */
    double x[2] = {2, 5}, y[2] = {1, 2};
    stats_paired_mean(x, y, 2, &m, &se);
    near(m, 2, 0, "hand mean");
    near(se, 1, 1e-15, "hand se");
}

/* METEOR's corpus score is the mean of its segments: sacrebleu's interval, paired p-value and the
 * one-sided bounds check uses, on NLTK's segment scores. */
static void test_meteor_bootstrap(void **state) {
    (void)state;
    NEED_FIXTURE();
    const Line *a = get("meteor_a", 0), *b = get("meteor_b", 0), *ci = get("meteor_ci", 0), *pp = get("meteor_paired_p", 0);
    assert_non_null(pp);
    assert_int_equal(a->n, b->n);
    char err[QB_ERRLEN];
    BootstrapCI c;
    assert_int_equal(bootstrap_ci(bootstrap_mean_score, (void *)a->v, a->n, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, &c, err), 0);
    near(c.mean, ci->v[0], 1e-12, "mean");
    near(c.ci, ci->v[1], 1e-12, "ci");
    near(c.lower, ci->v[2], 1e-12, "lower");
    near(c.upper, ci->v[3], 1e-12, "upper");
    double ra[BOOTSTRAP_SAMPLES], rb[BOOTSTRAP_SAMPLES], rel[BOOTSTRAP_SAMPLES];
    assert_int_equal(bootstrap_paired_scores(bootstrap_mean_score, (void *)a->v, bootstrap_mean_score, (void *)b->v, a->n,
                                             BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, ra, rb, err), 0);
    double sa = 0, sb = 0;
    for (int i = 0; i < a->n; i++) { sa += a->v[i]; sb += b->v[i]; }
    near(bootstrap_paired_p(ra, rb, BOOTSTRAP_SAMPLES, sa / a->n, sb / b->n), pp->v[0], 1e-15, "paired p");
    for (int s = 0; s < BOOTSTRAP_SAMPLES; s++) rel[s] = 100 * (ra[s] / rb[s] - 1);
    for (int k = 0; k < 2; k++) {
        const Line *r = get("meteor_rel_bounds", k), *v = get("meteor_value_bounds", k);
        double lo, hi;
        assert_int_equal(stats_bootstrap_bounds(rel, BOOTSTRAP_SAMPLES, r->v[0], &lo, &hi), 0);
        near(lo, r->v[1], 1e-12, "relative lower bound");
        near(hi, r->v[2], 1e-12, "relative upper bound");
        assert_int_equal(stats_bootstrap_bounds(ra, BOOTSTRAP_SAMPLES, v->v[0], &lo, &hi), 0);
        near(lo, v->v[1], 1e-12, "value lower bound");
        near(hi, v->v[2], 1e-12, "value upper bound");
    }
    /* c = 0.975 gives sacrebleu's own 95% percentile indices */
    double lo, hi;
    assert_int_equal(stats_bootstrap_bounds(ra, BOOTSTRAP_SAMPLES, 0.975, &lo, &hi), 0);
    near(lo, ci->v[2], 1e-12, "0.975 lower");
    near(hi, ci->v[3], 1e-12, "0.975 upper");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_quantile),
        cmocka_unit_test(test_paired_ppl),
        cmocka_unit_test(test_paired_mean),
        cmocka_unit_test(test_meteor_bootstrap),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
