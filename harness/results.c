/* results.c — small helpers shared by report, plot and check: a point's short label and finding the
 * unquantized baseline that a point's metric is compared against. */
#include "harness/results.h"

#include <stdio.h>
#include <string.h>

void results_point_label(const StoreRunRow *r, char *out, size_t outlen) {
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
