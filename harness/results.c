/* results.c — small helpers shared by report, plot and check: a point's short label and finding the
 * unquantized baseline that a point's metric is compared against. */
#include "harness/results.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/ppl.h"

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
    if (m && m->stats_json && (!strcmp(m->kind, "acc") || !strcmp(m->kind, "acc_norm"))) {
        /* zero-shot task accuracies store lm-eval's standard error (harness/tasks_eval.c) */
        cJSON *j = cJSON_Parse(m->stats_json);
        const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "stderr") : NULL;
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
