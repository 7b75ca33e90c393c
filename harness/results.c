/* results.c — small helpers shared by report, plot and check: a point's short label, finding the
 * unquantized baseline that a point's metric is compared against, and which rows are current. */
#include "harness/results.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/ppl.h"
#include "quant/quant.h"

void results_point_label(const StoreRunRow *r, char *out, size_t outlen) {
    if (r->bits == 0) { snprintf(out, outlen, "%s", r->method); return; } /* a `models:` entry: "gguf:Q4_K_M" */
    char group[32];
    if (r->group_size > 0) snprintf(group, sizeof group, "g%d", r->group_size);
    else snprintf(group, sizeof group, "row");
    snprintf(out, outlen, "%s w%d %s%s%s%s", r->method, r->bits, group, r->act_order ? " act" : "",
             r->sym ? " sym" : "", r->static_groups ? " static" : "");
}

const StoreBaselineRow *results_find_baseline(const StoreBaselineRow *b, int nb, const char *model_sha256,
                                              const char *kind, const char *dataset, const char *against,
                                              const char *signature) {
    const StoreBaselineRow *only = NULL;
    int candidates = 0;
    for (int i = 0; i < nb; i++) {
        const StoreBaselineRow *x = &b[i];
        if (strcmp(x->model_sha256, model_sha256) || strcmp(x->m.kind, kind) || strcmp(x->m.dataset, dataset) ||
            strcmp(x->m.against, against ? against : "-"))
            continue;
        if (signature && !strcmp(x->m.signature, signature)) return x;
        /* Two different non-empty signatures are two different measurements (another seqlen,
         * another mode): never compare them. An empty one says nothing, so it may match. */
        if (signature && *signature && *x->m.signature) continue;
        only = x;
        candidates++;
    }
    /* Without a signature to decide, only an unambiguous single candidate will do. */
    return candidates == 1 ? only : NULL;
}

double results_metric_se(const StoreMetricRow *m) {
    int agree = m && (!strcmp(m->kind, "top1") || !strcmp(m->kind, "kl"));
    if (m && m->stats_json && (!strcmp(m->kind, "acc") || !strcmp(m->kind, "acc_norm") || agree)) {
        /* zero-shot task accuracies store lm-eval's standard error (harness/tasks_eval.c), agreement
         * llama.cpp's (runner_point.c) */
        cJSON *j = cJSON_Parse(m->stats_json);
        const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, !agree ? "stderr" : !strcmp(m->kind, "kl") ? "kl_se" : "same_top_se") : NULL;
        double se = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        cJSON_Delete(j);
        return se;
    }
    if (!m || strcmp(m->kind, "ppl") || !m->stats_json) return NAN;
    cJSON *j = cJSON_Parse(m->stats_json);
    if (!j) return NAN;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "n_scored"), *s1 = cJSON_GetObjectItemCaseSensitive(j, "sum_nll"),
                *s2 = cJSON_GetObjectItemCaseSensitive(j, "sum_nll2");
    double se = NAN;
    if (cJSON_IsNumber(n) && cJSON_IsNumber(s1) && cJSON_IsNumber(s2)) {
        PplStats st = {0};
        st.n_scored = (long)n->valuedouble;
        st.sum_nll = s1->valuedouble;
        st.sum_nll2 = s2->valuedouble;
        se = ppl_stderr(&st);
    }
    cJSON_Delete(j);
    return se;
}

int results_high_bits(const StoreRunRow *r) {
    if (strcmp(r->method, "gptqt") && strcmp(r->method, "rtnt")) return 0;
    int hb = 0;
    cJSON *j = r->params_json ? cJSON_Parse(r->params_json) : NULL;
    const cJSON *h = j ? cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "params"), "high_bits") : NULL;
    if (cJSON_IsNumber(h)) hb = (int)h->valuedouble; /* absolute */
    else hb = r->bits + (cJSON_IsString(h) ? atoi(h->valuestring) : 1); /* "+k" relative, default +1 */
    cJSON_Delete(j);
    if (hb > 8) hb = 8; /* as sweep_high_bits caps it */
    return hb;
}

/* ---- which rows are current --------------------------------------------------------------------- */

/* One line of an experiment's evals (store_set_experiment_evals), split in place. */
typedef struct {
    const char *kind, *dataset, *against, *sig;
    size_t siglen;
    int prefix;
} EvalLine;

static int parse_evals(char *text, EvalLine **out, int *n) {
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *f[4] = {line, NULL, NULL, NULL};
        for (int k = 1; k < 4 && f[k - 1]; k++) {
            char *t = strchr(f[k - 1], '\t');
            if (t) *t++ = 0;
            f[k] = t;
        }
        if (f[3]) {
            if (qb_grow((void **)out, &cap, (size_t)*n + 1, sizeof **out)) return -1;
            size_t len = strlen(f[3]);
            (*out)[(*n)++] = (EvalLine){f[0], f[1], f[2], f[3], len, len > 0 && f[3][len - 1] == '|'};
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* A metric is stale when the experiment's recorded evaluations compute the same (kind, dataset,
 * against) under another signature; one they do not list at all (zero-shot task metrics, whose
 * kinds are known only once scored) is not judged here. */
static int metric_current(const StoreMetricRow *m, const EvalLine *ev, int n) {
    int listed = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(m->kind, ev[i].kind) || strcmp(m->dataset, ev[i].dataset) || strcmp(m->against, ev[i].against))
            continue;
        listed = 1;
        if (ev[i].prefix ? !strncmp(m->signature, ev[i].sig, ev[i].siglen) : !strcmp(m->signature, ev[i].sig)) return 1;
    }
    return !listed;
}

/* The quantizer version a run was computed with (its canonical parameters), -1 when not recorded. */
static int run_quantizer_version(const StoreRunRow *r) {
    const char *p = strstr(r->params_json, "\"quantizer_version\":");
    return p ? atoi(p + strlen("\"quantizer_version\":")) : -1;
}

int results_select_current(Store *s, const char *eval_key, StoreRunRow *runs, int *nr, ResultsStale *st,
                           char err[QB_ERRLEN]) {
    memset(st, 0, sizeof *st);
    int keep = 0, rc = -1;
    char *cur_name = NULL, *evals = NULL;
    EvalLine *ev = NULL;
    int nev = 0, have = 0, i;
    for (i = 0; i < *nr; i++) {
        StoreRunRow *r = &runs[i];
        if (!cur_name || strcmp(cur_name, r->experiment)) { /* the evals of this run's experiment */
            free(evals);
            free(ev);
            evals = NULL;
            ev = NULL;
            nev = 0;
            free(cur_name);
            if (!(cur_name = strdup(r->experiment))) {
                snprintf(err, QB_ERRLEN, "out of memory");
                goto done;
            }
            have = *r->experiment ? store_get_experiment_evals(s, r->experiment, eval_key, &evals, err) : 0;
            if (have < 0) goto done;
            if (have && parse_evals(evals, &ev, &nev)) {
                snprintf(err, QB_ERRLEN, "out of memory");
                goto done;
            }
        }
        QuantMethod qm;
        int now = quant_method_parse(r->method, &qm) ? 0 : quant_algorithm_version(qm);
        if (now > 0 && run_quantizer_version(r) != now) { /* (a method this build does not know: kept) */
            st->stale_runs++;
            st->stale_metrics += r->n_metrics;
            store_free_run_row(r);
            continue;
        }
        if (have) {
            int k = 0;
            for (int j = 0; j < r->n_metrics; j++) {
                if (metric_current(&r->metrics[j], ev, nev)) r->metrics[k++] = r->metrics[j];
                else {
                    st->stale_metrics++;
                    store_free_metric_row(&r->metrics[j]);
                }
            }
            r->n_metrics = k;
        } else {
            st->unverified += r->n_metrics;
        }
        if (keep != i) runs[keep] = *r;
        keep++;
    }
    rc = 0;
done:
    if (rc) /* runs i.. are still whole (the error came before touching run i): keep them to be freed */
        for (; i < *nr; i++) runs[keep++] = runs[i];
    *nr = keep;
    free(cur_name);
    free(evals);
    free(ev);
    return rc;
}

void results_print_stale(FILE *f, const char *cmd, const ResultsStale *st) {
    if (st->stale_runs || st->stale_metrics)
        fprintf(f, "qbench %s: ignored %d stale point(s) (computed by another version of their quantizer) and %d stale "
                   "metric row(s) (evaluation settings other than the experiment's current ones)\n",
                cmd, st->stale_runs, st->stale_metrics);
    if (st->unverified)
        fprintf(f, "qbench %s: %d metric row(s) of experiments that recorded no evaluation signatures (written by an "
                   "older qbench) are shown as they are\n", cmd, st->unverified);
}
