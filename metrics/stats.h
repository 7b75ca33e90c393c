/* stats.h — paired comparisons of two systems evaluated on the same units (perplexity windows,
 * agreement positions, generation segments) and the one-sided bounds a CI gate judges.
 *
 * Perplexity: windows are the independent units (positions inside a window are correlated). With
 * a[i], b[i] the Σnll of window i under systems A and B over n[i] scored tokens, N = Σn[i] and
 * W windows, ln(PPL_A/PPL_B) = L = Σ(a[i] − b[i]) / N. Its standard error is the ratio estimator's
 * (delta method): se(L) = sqrt(W/(W−1) · Σ(a[i] − b[i] − L·n[i])²) / N, which for windows of equal
 * n is exactly the standard error of the mean of the per-window differences of mean NLL,
 * sd(d)/sqrt(W). ΔPPL = PPL_A − PPL_B with PPL = exp(Σ/N) linearised the same way:
 * se = sqrt(W/(W−1) · Σ(PPL_A(a[i] − m_A n[i]) − PPL_B(b[i] − m_B n[i]))²) / N.
 *
 * Per-position or per-item values (KL, top-1 agreement): mean of the paired differences
 * d = a − b with se = sd(d)/sqrt(n), sd with n − 1 (the paired t formula, used as a normal one).
 *
 * Nothing here prints or allocates beyond what is documented. */
#ifndef QBENCH_STATS_H
#define QBENCH_STATS_H

/* Φ⁻¹(p), the standard normal quantile, for 0 < p < 1 (Acklam's rational approximation refined by
 * one Halley step on erfc: about 1e-15 relative); NAN outside (0, 1). */
double stats_normal_quantile(double p);

typedef struct {
    long windows, tokens;
    double ppl_a, ppl_b;
    double dppl, dppl_se;         /* PPL_A − PPL_B */
    double ln_ratio, ln_ratio_se; /* ln(PPL_A / PPL_B) */
} PairedPpl;
/* From per-window Σnll a[0..w), b[0..w) over n[0..w) tokens. The standard errors are NAN for w < 2.
 * -1 when w < 1 or no token is scored. */
int stats_paired_ppl(const double *a, const double *b, const long *n, long w, PairedPpl *out);

/* mean(a − b) and sd(a − b)/sqrt(n) (NAN for n < 2). */
void stats_paired_mean(const double *a, const double *b, long n, double *mean, double *se);

/* One-sided bounds at confidence c (0.5 < c < 1) from bootstrap scores[0..n): with k = floor((1 − c)·n),
 * *lo = the sorted score at index k and *hi = at index n − 1 − k, as sacrebleu takes n/40 and
 * n − n/40 − 1 for its two-sided 95% interval (c = 0.975). Sorts a copy; -1 when out of memory or
 * n < 1. */
int stats_bootstrap_bounds(const double *scores, int n, double c, double *lo, double *hi);

#endif
