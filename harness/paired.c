/* paired.c — two stored numbers of the same identity (kind, dataset, against, signature) compared on
 * the units both were computed on, from the statistics stored with them (results.h): perplexity
 * from each window's Σnll, top-1 and KL from each position's values, chrF/chrF++ from each
 * segment's statistics and METEOR from each segment's score (sacrebleu's paired bootstrap). */
#include "harness/results.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/bootstrap.h"
#include "metrics/chrf.h"
#include "metrics/stats.h"

/* The per-unit values stored with one metric. */
typedef struct {
    long n;
    double *x;       /* ppl: Σnll per window; kl: per position; top1: 0/1 per position; meteor: per segment */
    long *wn;        /* ppl: scored tokens per window */
    chrf_stats *seg; /* chrf, chrf++: per segment */
    chrf_opts co;
} Units;

static void units_free(Units *u) {
    free(u->x);
    free(u->wn);
    free(u->seg);
    memset(u, 0, sizeof *u);
}

static int is_chrf(const char *k) { return !strcmp(k, "chrf") || !strcmp(k, "chrf++"); }

int results_paired_kind(const char *kind) {
    return !strcmp(kind, "ppl") || !strcmp(kind, "top1") || !strcmp(kind, "kl") || is_chrf(kind) ||
           !strcmp(kind, "meteor");
}

/* 0 loaded, -1 with err naming what is missing. */
static int units_load(const StoreMetricRow *m, Units *u, char err[QB_ERRLEN]) {
    memset(u, 0, sizeof *u);
    cJSON *j = m->stats_json ? cJSON_Parse(m->stats_json) : NULL;
    int rc = -1;
    const char *k = m->kind;
    if (!strcmp(k, "ppl")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "win_nll"), *b = cJSON_GetObjectItemCaseSensitive(j, "win_n");
        int n = cJSON_GetArraySize(a);
        if (!cJSON_IsArray(a) || !cJSON_IsArray(b) || n < 1 || cJSON_GetArraySize(b) != n) {
            snprintf(err, QB_ERRLEN, "no per-window sums stored with it (computed by an older qbench)");
            goto done;
        }
        u->x = malloc((size_t)n * sizeof *u->x);
        u->wn = malloc((size_t)n * sizeof *u->wn);
        if (!u->x || !u->wn) goto oom;
        for (int i = 0; i < n; i++) {
            const cJSON *x = cJSON_GetArrayItem(a, i), *w = cJSON_GetArrayItem(b, i);
            if (!cJSON_IsNumber(x) || !cJSON_IsNumber(w)) { snprintf(err, QB_ERRLEN, "bad per-window sums"); goto done; }
            u->x[i] = x->valuedouble;
            u->wn[i] = (long)w->valuedouble;
        }
        u->n = n;
    } else if (!strcmp(k, "kl") || !strcmp(k, "meteor")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, !strcmp(k, "kl") ? "kl_tokens" : "seg");
        int n = cJSON_GetArraySize(a);
        if (!cJSON_IsArray(a) || n < 1) {
            snprintf(err, QB_ERRLEN, "no per-%s values stored with it (computed by an older qbench)",
                     !strcmp(k, "kl") ? "position" : "segment");
            goto done;
        }
        if (!(u->x = malloc((size_t)n * sizeof *u->x))) goto oom;
        for (int i = 0; i < n; i++) {
            const cJSON *x = cJSON_GetArrayItem(a, i);
            if (!cJSON_IsNumber(x)) { snprintf(err, QB_ERRLEN, "bad per-unit values"); goto done; }
            u->x[i] = x->valuedouble;
        }
        u->n = n;
    } else if (!strcmp(k, "top1")) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "top1_tokens");
        size_t n = cJSON_IsString(a) ? strlen(a->valuestring) : 0;
        if (n < 1) { snprintf(err, QB_ERRLEN, "no per-position top-1 stored with it (computed by an older qbench)"); goto done; }
        if (!(u->x = malloc(n * sizeof *u->x))) goto oom;
        for (size_t i = 0; i < n; i++) u->x[i] = a->valuestring[i] == '1';
        u->n = (long)n;
    } else if (is_chrf(k)) {
        u->co = chrf_defaults(!strcmp(k, "chrf++") ? 2 : 0); /* sweeps score with sacrebleu's defaults */
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "seg");
        int n = cJSON_GetArraySize(a), w = 3 * (u->co.char_order + u->co.word_order);
        if (!cJSON_IsArray(a) || n < 1) {
            snprintf(err, QB_ERRLEN, "no per-segment statistics stored with it (computed by an older qbench)");
            goto done;
        }
        if (!(u->seg = malloc((size_t)n * sizeof *u->seg))) goto oom;
        for (int i = 0; i < n; i++) {
            const cJSON *row = cJSON_GetArrayItem(a, i);
            if (cJSON_GetArraySize(row) != w) { snprintf(err, QB_ERRLEN, "bad per-segment statistics"); goto done; }
            chrf_stats_zero(&u->seg[i], &u->co);
            for (int q = 0; q < w; q++) {
                const cJSON *v = cJSON_GetArrayItem(row, q);
                if (!cJSON_IsNumber(v) || v->valuedouble < 0) { snprintf(err, QB_ERRLEN, "bad per-segment statistics"); goto done; }
                u->seg[i].v[q] = (int64_t)v->valuedouble;
            }
        }
        u->n = n;
    } else {
        snprintf(err, QB_ERRLEN, "%s has no paired comparison", k);
        goto done;
    }
    rc = 0;
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "out of memory");
done:
    cJSON_Delete(j);
    if (rc) units_free(u);
    return rc;
}

static double bs_score(const Units *u, const int *idx, int n) {
    if (u->seg) {
        ChrfResample r = {u->seg, &u->co};
        return chrf_resample_score(idx, n, &r);
    }
    return bootstrap_mean_score(idx, n, u->x);
}
static double bs_fn(const int *idx, int n, void *ctx) { return bs_score(ctx, idx, n); }

/* The two systems' resampled corpus scores (sacrebleu's draws); malloc'd. */
static int resample_pair(const Units *a, const Units *b, double **sa, double **sb, char err[QB_ERRLEN]) {
    *sa = malloc(BOOTSTRAP_SAMPLES * sizeof **sa);
    *sb = malloc(BOOTSTRAP_SAMPLES * sizeof **sb);
    if (!*sa || !*sb) {
        snprintf(err, QB_ERRLEN, "out of memory");
        return -1;
    }
    return bootstrap_paired_scores(bs_fn, (void *)a, bs_fn, (void *)b, (int)a->n, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, *sa,
                                   *sb, err);
}

static int units_match(const Units *a, const Units *b, const char *unit, char err[QB_ERRLEN]) {
    if (a->n != b->n) {
        snprintf(err, QB_ERRLEN, "not the same %ss (%ld against %ld)", unit, a->n, b->n);
        return -1;
    }
    for (long i = 0; a->wn && i < a->n; i++)
        if (a->wn[i] != b->wn[i]) {
            snprintf(err, QB_ERRLEN, "not the same windows (window %ld scores %ld against %ld tokens)", i + 1, a->wn[i], b->wn[i]);
            return -1;
        }
    return 0;
}

static const char *unit_of(const char *kind) {
    return !strcmp(kind, "ppl") ? "window" : (!strcmp(kind, "top1") || !strcmp(kind, "kl")) ? "position" : "segment";
}

int results_paired(const StoreMetricRow *a, const StoreMetricRow *b, PairedResult *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    out->diff_se = out->ln_ratio = out->ln_ratio_se = out->p = out->lo = out->hi = NAN;
    out->unit = unit_of(a->kind);
    out->a = a->value;
    out->b = b->value;
    if (strcmp(a->kind, b->kind) || strcmp(a->dataset, b->dataset) || strcmp(a->against, b->against) ||
        strcmp(a->signature, b->signature)) {
        snprintf(err, QB_ERRLEN, "computed under different settings ('%.150s' against '%.150s')", a->signature, b->signature);
        return -1;
    }
    Units ua, ub;
    if (units_load(a, &ua, err)) return -1;
    if (units_load(b, &ub, err)) { units_free(&ua); return -1; }
    int rc = units_match(&ua, &ub, out->unit, err);
    out->units = ua.n;
    const double z = stats_normal_quantile(0.975);
    if (!rc && !strcmp(a->kind, "ppl")) {
        PairedPpl pp;
        if (stats_paired_ppl(ua.x, ub.x, ua.wn, ua.n, &pp)) { snprintf(err, QB_ERRLEN, "no scored token"); rc = -1; }
        else {
            out->diff = pp.dppl;
            out->diff_se = pp.dppl_se;
            out->ln_ratio = pp.ln_ratio;
            out->ln_ratio_se = pp.ln_ratio_se;
        }
    } else if (!rc && (!strcmp(a->kind, "top1") || !strcmp(a->kind, "kl"))) {
        stats_paired_mean(ua.x, ub.x, ua.n, &out->diff, &out->diff_se);
    } else if (!rc) { /* chrF, METEOR: sacrebleu's paired bootstrap */
        double *sa = NULL, *sb = NULL;
        rc = resample_pair(&ua, &ub, &sa, &sb, err);
        if (!rc) {
            double fa = ua.seg ? chrf_corpus_score_from_segments(ua.seg, (size_t)ua.n, &ua.co) : a->value;
            double fb = ub.seg ? chrf_corpus_score_from_segments(ub.seg, (size_t)ub.n, &ub.co) : b->value;
            out->diff = fa - fb;
            out->p = bootstrap_paired_p(sa, sb, BOOTSTRAP_SAMPLES, fa, fb);
            for (int s = 0; s < BOOTSTRAP_SAMPLES; s++) sa[s] -= sb[s];
            if (stats_bootstrap_bounds(sa, BOOTSTRAP_SAMPLES, 0.975, &out->lo, &out->hi)) {
                snprintf(err, QB_ERRLEN, "out of memory");
                rc = -1;
            }
            out->n_samples = BOOTSTRAP_SAMPLES;
        }
        free(sa);
        free(sb);
    }
    if (!rc && isnan(out->lo) && !isnan(out->diff_se)) {
        out->lo = out->diff - z * out->diff_se;
        out->hi = out->diff + z * out->diff_se;
        out->p = out->diff_se > 0 ? erfc(fabs(out->diff / out->diff_se) / sqrt(2.0)) : (out->diff == 0 ? 1.0 : 0.0);
    }
    units_free(&ua);
    units_free(&ub);
    return rc;
}

int results_change_bounds(const StoreMetricRow *a, const StoreMetricRow *b, double c, double *lo, double *hi,
                          char err[QB_ERRLEN]) {
    *lo = *hi = NAN;
    if (!strcmp(a->kind, "ppl")) {
        PairedResult pr;
        if (results_paired(a, b, &pr, err)) return -1;
        if (isnan(pr.ln_ratio_se)) { snprintf(err, QB_ERRLEN, "one window: no standard error"); return -1; }
        const double z = stats_normal_quantile(c);
        *lo = 100 * expm1(pr.ln_ratio - z * pr.ln_ratio_se);
        *hi = 100 * expm1(pr.ln_ratio + z * pr.ln_ratio_se);
        return 0;
    }
    if (!is_chrf(a->kind) && strcmp(a->kind, "meteor")) {
        snprintf(err, QB_ERRLEN, "%s has no paired interval of a relative change", a->kind);
        return -1;
    }
    if (strcmp(a->signature, b->signature)) {
        snprintf(err, QB_ERRLEN, "computed under different settings ('%.150s' against '%.150s')", a->signature, b->signature);
        return -1;
    }
    Units ua, ub;
    if (units_load(a, &ua, err)) return -1;
    if (units_load(b, &ub, err)) { units_free(&ua); return -1; }
    double *sa = NULL, *sb = NULL;
    int rc = units_match(&ua, &ub, "segment", err);
    if (!rc) rc = resample_pair(&ua, &ub, &sa, &sb, err);
    if (!rc) { /* the relative change of each resample, in percent */
        for (int s = 0; s < BOOTSTRAP_SAMPLES; s++) sa[s] = sb[s] != 0 ? 100 * (sa[s] / sb[s] - 1) : (sa[s] > 0 ? INFINITY : 0);
        if (stats_bootstrap_bounds(sa, BOOTSTRAP_SAMPLES, c, lo, hi)) { snprintf(err, QB_ERRLEN, "out of memory"); rc = -1; }
    }
    free(sa);
    free(sb);
    units_free(&ua);
    units_free(&ub);
    return rc;
}

int results_value_bounds(const StoreMetricRow *m, double c, double *lo, double *hi, char err[QB_ERRLEN]) {
    *lo = *hi = NAN;
    if (is_chrf(m->kind) || !strcmp(m->kind, "meteor")) {
        Units u;
        if (units_load(m, &u, err)) return -1;
        /* the resampled scores of this metric alone (the paired draws with itself on both sides) */
        double *sc = malloc(BOOTSTRAP_SAMPLES * sizeof *sc);
        int rc = sc ? bootstrap_paired_scores(bs_fn, &u, bs_fn, &u, (int)u.n, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, sc, sc, err) : -1;
        if (!sc) snprintf(err, QB_ERRLEN, "out of memory");
        if (!rc && stats_bootstrap_bounds(sc, BOOTSTRAP_SAMPLES, c, lo, hi)) { snprintf(err, QB_ERRLEN, "out of memory"); rc = -1; }
        free(sc);
        units_free(&u);
        return rc;
    }
    double se = results_metric_se(m);
    if (isnan(se)) {
        snprintf(err, QB_ERRLEN, "no standard error stored with %s", m->kind);
        return -1;
    }
    const double z = stats_normal_quantile(c);
    *lo = m->value - z * se;
    *hi = m->value + z * se;
    return 0;
}

int results_metric_ci(const StoreMetricRow *m, double *lo, double *hi) {
    *lo = *hi = NAN;
    if (!m || !m->stats_json || !(is_chrf(m->kind) || !strcmp(m->kind, "meteor"))) return 0;
    cJSON *j = cJSON_Parse(m->stats_json);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "lo"), *h = cJSON_GetObjectItemCaseSensitive(j, "hi");
    int ok = cJSON_IsNumber(l) && cJSON_IsNumber(h);
    if (ok) {
        *lo = l->valuedouble;
        *hi = h->valuedouble;
    }
    cJSON_Delete(j);
    return ok;
}
