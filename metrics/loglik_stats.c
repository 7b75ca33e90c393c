/* loglik_stats.c — task metrics and their standard errors as lm-eval computes them (api/metrics.py:
 * mean_stderr, perplexity, bootstrap_stderr), and paired tests between two models on one item set.
 * lm-eval's bootstrap draws with Python's random module; MT19937 with CPython's seeding
 * (init_by_array of the seed's 32-bit words) and random() = genrand_res53 reproduce its draws. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/loglik.h"

/* ---- CPython's random.Random ------------------------------------------------------------------ */

typedef struct { uint32_t mt[624]; int i; } PyRandom;

static void mt_init(PyRandom *r, uint32_t s) {
    r->mt[0] = s;
    for (int i = 1; i < 624; i++) r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->i = 624;
}

/* random.Random(seed) for a small non-negative int: init_by_array with key = [seed] */
static void py_random_seed(PyRandom *r, uint32_t seed) {
    mt_init(r, 19650218u);
    uint32_t *mt = r->mt;
    int i = 1, j = 0;
    for (int k = 624; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + seed + (uint32_t)j;
        i++;
        j++;
        if (i >= 624) { mt[0] = mt[623]; i = 1; }
        if (j >= 1) j = 0;
    }
    for (int k = 623; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= 624) { mt[0] = mt[623]; i = 1; }
    }
    mt[0] = 0x80000000u;
    r->i = 624;
}

static uint32_t mt_next(PyRandom *r) {
    if (r->i >= 624) {
        uint32_t *mt = r->mt;
        for (int k = 0; k < 624; k++) {
            uint32_t y = (mt[k] & 0x80000000u) | (mt[(k + 1) % 624] & 0x7fffffffu);
            mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        r->i = 0;
    }
    uint32_t y = r->mt[r->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static double py_random(PyRandom *r) {
    uint32_t a = mt_next(r) >> 5, b = mt_next(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

/* ---- lm-eval's metrics ------------------------------------------------------------------------ */

double loglik_mean_stderr(const double *x, long n) {
    if (n < 2) return NAN;
    double mu = 0;
    for (long i = 0; i < n; i++) mu += x[i];
    mu /= n;
    double ss = 0;
    for (long i = 0; i < n; i++) ss += (x[i] - mu) * (x[i] - mu);
    return sqrt(ss / (n - 1)) / sqrt((double)n);
}

double loglik_perplexity(const double *ll, long n) {
    if (n < 1) return NAN;
    double s = 0;
    for (long i = 0; i < n; i++) s += ll[i];
    return exp(-(s / n));
}

/* bootstrap_stderr(perplexity, xs, iters): chunks i = 0 .. iters/1000 - 1 of min(1000, iters)
 * resamples each, drawn by random.Random(i).choices(xs, k=len(xs)) = xs[floor(random() * n)];
 * the result is sample_stddev of all resampled perplexities. */
double loglik_perplexity_stderr(const double *ll, long n, int iters) {
    if (iters <= 0 || n < 1) return NAN;
    int chunk = iters < 1000 ? iters : 1000, nchunks = iters / chunk;
    long total = (long)nchunks * chunk;
    if (total < 2) return NAN;
    double *res = malloc((size_t)total * sizeof *res);
    if (!res) return NAN;
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < nchunks; c++) {
        PyRandom r;
        py_random_seed(&r, (uint32_t)c);
        for (int k = 0; k < chunk; k++) {
            double s = 0;
            for (long j = 0; j < n; j++) s += ll[(long)floor(py_random(&r) * (double)n)];
            res[(long)c * chunk + k] = exp(-(s / n));
        }
    }
    double mu = 0;
    for (long i = 0; i < total; i++) mu += res[i];
    mu /= total;
    double ss = 0;
    for (long i = 0; i < total; i++) ss += (res[i] - mu) * (res[i] - mu);
    free(res);
    return sqrt(ss / (total - 1));
}

void loglik_summarize(const LoglikTask *task, const TaskScores *sc, int bootstrap_iters, TaskSummary *s) {
    long n = sc->n_items;
    memset(s, 0, sizeof *s);
    s->n = n;
    s->chance = task->chance;
    s->acc_norm = s->acc_norm_stderr = s->ppl = s->ppl_stderr = NAN;
    double *x = calloc((size_t)n + 1, sizeof *x);
    if (!x) { s->acc = s->acc_stderr = NAN; return; }
    double sum = 0;
    for (long i = 0; i < n; i++) sum += x[i] = sc->correct[i];
    s->acc = n ? sum / n : NAN;
    s->acc_stderr = loglik_mean_stderr(x, n);
    if (task->has_acc_norm) {
        sum = 0;
        for (long i = 0; i < n; i++) sum += x[i] = sc->correct_norm[i];
        s->acc_norm = n ? sum / n : NAN;
        s->acc_norm_stderr = loglik_mean_stderr(x, n);
    }
    if (task->kind == LL_GREEDY) {
        for (long i = 0; i < n; i++) x[i] = sc->ll[(size_t)i * sc->max_req];
        s->ppl = loglik_perplexity(x, n);
        s->ppl_stderr = loglik_perplexity_stderr(x, n, bootstrap_iters);
    }
    free(x);
}

/* ---- paired tests ----------------------------------------------------------------------------- */

void loglik_mcnemar(const unsigned char *a, const unsigned char *b, long n, McNemar *out) {
    memset(out, 0, sizeof *out);
    out->n = n;
    for (long i = 0; i < n; i++) {
        if (a[i] && !b[i]) out->b++;
        if (!a[i] && b[i]) out->c++;
    }
    long m = out->b + out->c, k = out->b < out->c ? out->b : out->c;
    if (m == 0) { out->p = 1; return; }
    double d = fabs((double)(out->b - out->c)) - 1;
    out->chi2 = d > 0 ? d * d / m : 0;
    double tail = 0; /* Σ_{j<=k} C(m, j) / 2^m, in logs */
    for (long j = 0; j <= k; j++) tail += exp(lgamma(m + 1.0) - lgamma(j + 1.0) - lgamma(m - j + 1.0) - m * log(2.0));
    out->p = 2 * tail < 1 ? 2 * tail : 1;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int loglik_paired_bootstrap(const double *a, const double *b, long n, int iters, uint64_t seed, PairedBootstrap *out) {
    memset(out, 0, sizeof *out);
    if (n < 1 || iters < 1) return -1;
    double *d = malloc((size_t)iters * sizeof *d);
    if (!d) return -1;
    double obs = 0;
    for (long i = 0; i < n; i++) obs += b[i] - a[i];
    out->diff = obs / n;
    QbRng r;
    qb_rng_seed(&r, seed);
    long le = 0, ge = 0;
    for (int k = 0; k < iters; k++) {
        double s = 0;
        for (long i = 0; i < n; i++) {
            long j = (long)qb_rng_below(&r, (uint64_t)n);
            s += b[j] - a[j];
        }
        d[k] = s / n;
        le += d[k] <= 0;
        ge += d[k] >= 0;
    }
    qsort(d, (size_t)iters, sizeof *d, cmp_double);
    out->lo = d[(long)floor(0.025 * (iters - 1))];
    out->hi = d[(long)ceil(0.975 * (iters - 1))];
    double p = 2.0 * (le < ge ? le : ge) / iters;
    out->p = p < 1 ? p : 1;
    out->iters = iters;
    free(d);
    return 0;
}
