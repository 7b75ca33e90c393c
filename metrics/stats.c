/* stats.c — see stats.h. */
#include "metrics/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double stats_normal_quantile(double p) {
    if (!(p > 0 && p < 1)) return NAN;
    /* P. J. Acklam's coefficients */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double plow = 0.02425;
    double x;
    if (p < plow) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - plow) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        double q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    /* one Halley step: Φ(x) = erfc(−x/√2)/2 */
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

int stats_paired_ppl(const double *a, const double *b, const long *n, long w, PairedPpl *out) {
    memset(out, 0, sizeof *out);
    if (w < 1) return -1;
    double sa = 0, sb = 0, nt = 0;
    for (long i = 0; i < w; i++) {
        sa += a[i];
        sb += b[i];
        nt += (double)n[i];
    }
    if (nt <= 0) return -1;
    const double ma = sa / nt, mb = sb / nt, L = (sa - sb) / nt;
    out->windows = w;
    out->tokens = (long)nt;
    out->ppl_a = exp(ma);
    out->ppl_b = exp(mb);
    out->dppl = out->ppl_a - out->ppl_b;
    out->ln_ratio = L;
    if (w < 2) {
        out->dppl_se = out->ln_ratio_se = NAN;
        return 0;
    }
    double su = 0, sz = 0;
    for (long i = 0; i < w; i++) {
        double u = a[i] - b[i] - L * (double)n[i];
        double z = out->ppl_a * (a[i] - ma * (double)n[i]) - out->ppl_b * (b[i] - mb * (double)n[i]);
        su += u * u;
        sz += z * z;
    }
    const double f = (double)w / (double)(w - 1);
    out->ln_ratio_se = sqrt(f * su) / nt;
    out->dppl_se = sqrt(f * sz) / nt;
    return 0;
}

void stats_paired_mean(const double *a, const double *b, long n, double *mean, double *se) {
    *mean = *se = NAN;
    if (n < 1) return;
    double s = 0;
    for (long i = 0; i < n; i++) s += a[i] - b[i];
    const double m = s / (double)n;
    *mean = m;
    if (n < 2) return;
    double v = 0;
    for (long i = 0; i < n; i++) {
        double d = a[i] - b[i] - m;
        v += d * d;
    }
    *se = sqrt(v / (double)(n - 1)) / sqrt((double)n);
}

static int cmp_double(const void *x, const void *y) {
    double p = *(const double *)x, q = *(const double *)y;
    return (p > q) - (p < q);
}

int stats_bootstrap_bounds(const double *scores, int n, double c, double *lo, double *hi) {
    *lo = *hi = NAN;
    if (n < 1) return -1;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return -1;
    memcpy(s, scores, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    long k = (long)floor((1 - c) * n + 1e-9); /* (1 − 0.95)·1000 is 50.000000000000043 */
    if (k < 0) k = 0;
    if (k > n - 1) k = n - 1;
    *lo = s[k];
    *hi = s[n - 1 - k];
    free(s);
    return 0;
}
