/* cmd_compare.c — `qbench compare DB A B`: any stored point against any other (or the unquantized
 * model, `base`) on the same windows, positions, segments and items, from the per-unit statistics
 * the sweep stored (harness/paired.c; zero-shot tasks through tasks_paired). Reads the database
 * only. Exit 0 compared, 2 usage error, unknown or ambiguous point, or incomparable points (a
 * metric both have under different settings, or on different windows / segments / items). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/results.h"
#include "harness/tasks_eval.h"
#include "metrics/bootstrap.h"

/* One side: a point, or the unquantized baseline of a model. */
typedef struct {
    const char *arg;
    const StoreRunRow *run;    /* NULL for base */
    const char *model_sha256;  /* base: the model */
    const StoreMetricRow **m;  /* its current metrics */
    int n;
    char label[160];
} Side;

static int is_hex(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s)) return 0;
    return 1;
}

/* A point named by its key, a key prefix (4+ hex digits) or its label ("gptq w4 g32 act", as
 * report's point column prints it); several matches are an error naming them. */
static int resolve_point(const char *arg, const StoreRunRow *runs, int nr, const StoreRunRow **out, char err[QB_ERRLEN]) {
    const StoreRunRow *found = NULL;
    int n = 0;
    size_t len = strlen(arg), el = 0;
    char list[400] = "";
    for (int pass = 0; pass < 2 && !n; pass++) /* keys first, then labels */
        for (int i = 0; i < nr; i++) {
            char label[128];
            results_point_label(&runs[i], label, sizeof label);
            int hit = pass == 0 ? len >= 4 && is_hex(arg) && !strncmp(runs[i].key, arg, len) : !strcmp(label, arg);
            if (!hit) continue;
            found = &runs[i];
            n++;
            if (el < sizeof list - 1)
                el += (size_t)snprintf(list + el, sizeof list - el, "%s%s [%.12s] of %s", n > 1 ? ", " : "", label,
                                       runs[i].key, *runs[i].experiment ? runs[i].experiment : "no experiment");
        }
    if (n == 1) {
        *out = found;
        return 0;
    }
    if (n == 0) snprintf(err, QB_ERRLEN, "'%.100s' is no current point's key, key prefix or label (qbench report DB "
                         "--columns point,key lists them)", arg);
    else snprintf(err, QB_ERRLEN, "'%.60s' is ambiguous: %s (give a longer key prefix)", arg, list);
    return -1;
}

static int side_metrics(Side *s, const StoreBaselineRow *bl, int nb) {
    int cap = s->run ? s->run->n_metrics : nb;
    s->m = calloc((size_t)cap + 1, sizeof *s->m);
    if (!s->m) return -1;
    if (s->run)
        for (int k = 0; k < s->run->n_metrics; k++) s->m[s->n++] = &s->run->metrics[k];
    else
        for (int k = 0; k < nb; k++)
            if (!strcmp(bl[k].model_sha256, s->model_sha256)) s->m[s->n++] = &bl[k].m;
    return 0;
}

static const char *vs_text(const char *against) {
    return !strcmp(against, "baseline") ? " vs baseline" : !strcmp(against, "reference") ? " vs reference" : "";
}

static void print_metric(const StoreMetricRow *m, const PairedResult *p) {
    printf("%s %s%s (%ld %ss): A %.6g  B %.6g  ", m->kind, m->dataset, vs_text(m->against), p->units, p->unit, p->a, p->b);
    if (!strcmp(m->kind, "ppl")) {
        printf("dppl %+.6g ± %.2g [%+.6g, %+.6g] p %.3g; ln(PPL_A/PPL_B) %+.6g ± %.2g\n", p->diff, p->diff_se, p->lo, p->hi,
               p->p, p->ln_ratio, p->ln_ratio_se);
    } else if (p->n_samples) {
        printf("diff %+.6g [%+.6g, %+.6g] paired bootstrap p %.4g (%d resamples, seed %d)\n", p->diff, p->lo, p->hi, p->p,
               p->n_samples, BOOTSTRAP_SEED);
    } else {
        printf("diff %+.6g ± %.2g [%+.6g, %+.6g] p %.3g\n", p->diff, p->diff_se, p->lo, p->hi, p->p);
    }
}

static void num_or_null(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static cJSON *metric_json(const StoreMetricRow *m, const PairedResult *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", m->kind);
    cJSON_AddStringToObject(o, "dataset", m->dataset);
    cJSON_AddStringToObject(o, "against", m->against);
    cJSON_AddStringToObject(o, "signature", m->signature);
    cJSON_AddStringToObject(o, "unit", p->unit);
    cJSON_AddNumberToObject(o, "units", (double)p->units);
    num_or_null(o, "a", p->a);
    num_or_null(o, "b", p->b);
    num_or_null(o, "diff", p->diff);
    num_or_null(o, "diff_se", p->diff_se);
    if (!strcmp(m->kind, "ppl")) {
        num_or_null(o, "ln_ratio", p->ln_ratio);
        num_or_null(o, "ln_ratio_se", p->ln_ratio_se);
    }
    num_or_null(o, "ci_lo", p->lo);
    num_or_null(o, "ci_hi", p->hi);
    num_or_null(o, "p", p->p);
    if (p->n_samples) {
        cJSON_AddNumberToObject(o, "resamples", p->n_samples);
        cJSON_AddNumberToObject(o, "seed", BOOTSTRAP_SEED);
    }
    return o;
}

static void side_json(cJSON *root, const char *name, const Side *s) {
    cJSON *o = cJSON_AddObjectToObject(root, name);
    cJSON_AddStringToObject(o, "arg", s->arg);
    cJSON_AddStringToObject(o, "label", s->label);
    if (s->run) {
        cJSON_AddStringToObject(o, "key", s->run->key);
        cJSON_AddStringToObject(o, "experiment", s->run->experiment);
    } else {
        cJSON_AddStringToObject(o, "model_sha256", s->model_sha256);
    }
}

int cmd_compare(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0, json = 0;
    long iters = 10000, seed = 0;
    const CliOpt opts[] = {
        {"--json", NULL, CLI_FLAG, &json, NULL, "one JSON object", "off", 0, 0, NULL, NULL},
        {"--iters", NULL, CLI_INT, &iters, "N", "zero-shot tasks: paired-bootstrap resamples (as tasks compare)", "10000", 1,
         10000000, NULL, NULL},
        {"--seed", NULL, CLI_INT, &seed, "S", "zero-shot tasks: the resampling seed (as tasks compare)", "0", 0, 0x7fffffff,
         NULL, NULL},
    };
    const CliSpec spec = {
        "compare", "qbench compare DB A B [--json] [--iters N] [--seed S]",
        "  Compares point A with point B of results database DB on the same windows, positions, segments\n"
        "  and items. A and B: a key or key prefix (4+ hex digits), a label as report prints it\n"
        "  (\"gptq w4 g32 act\"), or 'base' (the other point's unquantized model). Per metric: ppl\n"
        "  dppl = PPL_A - PPL_B and ln(PPL_A/PPL_B) ± SE over windows; top1, kl: mean paired difference ± SE\n"
        "  over positions; chrf, chrf++, meteor: difference with sacrebleu's paired bootstrap (1000\n"
        "  resamples, seed 12345) p-value; zero-shot tasks: McNemar and a paired bootstrap (tasks compare).\n"
        "  Intervals are 95%. Exit 2 when the points were evaluated under different settings or windows.\n",
        opts, CLI_N(opts), pos, 3, &n_pos, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (n_pos != 3) { cli_usage(&spec, stderr); return 2; }
    if (!strcmp(pos[1], "base") && !strcmp(pos[2], "base")) {
        fprintf(stderr, "qbench compare: at most one side can be 'base'\n");
        return 2;
    }
    char err[QB_ERRLEN];
    if (access(pos[0], R_OK) != 0) { fprintf(stderr, "qbench compare: %s: no such results database\n", pos[0]); return 2; }
    Store *st = store_open_readonly(pos[0], err);
    if (!st) { fprintf(stderr, "qbench compare: %s\n", err); return 2; }
    StoreRunRow *runs = NULL;
    StoreBaselineRow *bl = NULL;
    int nr = 0, nb = 0, rc = 2;
    Side sd[2];
    memset(sd, 0, sizeof sd);
    cJSON *root = NULL;
    if (store_load_runs(st, NULL, "done", &runs, &nr, err) || store_load_baselines(st, &bl, &nb, err)) {
        fprintf(stderr, "qbench compare: %s\n", err);
        goto done;
    }
    ResultsStale stale;
    if (results_select_current(st, NULL, runs, &nr, &stale, err)) { fprintf(stderr, "qbench compare: %s\n", err); goto done; }
    results_print_stale(stderr, "compare", &stale);
    for (int k = 0; k < 2; k++) {
        sd[k].arg = pos[1 + k];
        if (strcmp(pos[1 + k], "base") && resolve_point(pos[1 + k], runs, nr, &sd[k].run, err)) {
            fprintf(stderr, "qbench compare: %s\n", err);
            goto done;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (sd[k].run) {
            char l[128];
            results_point_label(sd[k].run, l, sizeof l);
            snprintf(sd[k].label, sizeof sd[k].label, "%s [%.8s]", l, sd[k].run->key);
        } else {
            sd[k].model_sha256 = sd[1 - k].run->model_sha256;
            snprintf(sd[k].label, sizeof sd[k].label, "unquantized %.8s", sd[k].model_sha256);
        }
        if (side_metrics(&sd[k], bl, nb)) { fprintf(stderr, "qbench compare: out of memory\n"); goto done; }
    }
    /* Metrics both sides have: under the same settings, or a refusal naming them (a metric kept
     * under several settings is compared where they share one). */
    {
        const Side *x = sd[0].run ? &sd[0] : &sd[1], *y = x == &sd[0] ? &sd[1] : &sd[0];
        for (int i = 0; i < x->n; i++) {
            const StoreMetricRow *a = x->m[i];
            int shared = 0, other = -1;
            for (int i2 = 0; i2 < x->n && !shared; i2++) {
                const StoreMetricRow *a2 = x->m[i2];
                if (strcmp(a->kind, a2->kind) || strcmp(a->dataset, a2->dataset) || strcmp(a->against, a2->against)) continue;
                for (int j = 0; j < y->n && !shared; j++) {
                    const StoreMetricRow *b = y->m[j];
                    if (strcmp(a2->kind, b->kind) || strcmp(a2->dataset, b->dataset) || strcmp(a2->against, b->against)) continue;
                    if (!strcmp(a2->signature, b->signature)) shared = 1;
                    else other = j;
                }
            }
            if (!shared && other >= 0) {
                fprintf(stderr, "qbench compare: %s and %s are not comparable: %s %s%s was computed under different "
                        "settings ('%s' against '%s')\n", x->label, y->label, a->kind, a->dataset, vs_text(a->against),
                        a->signature, y->m[other]->signature);
                goto done;
            }
        }
    }
    if (json) {
        root = cJSON_CreateObject();
        side_json(root, "a", &sd[0]);
        side_json(root, "b", &sd[1]);
    } else {
        printf("A: %s\nB: %s\n", sd[0].label, sd[1].label);
    }
    cJSON *jm = root ? cJSON_AddArrayToObject(root, "metrics") : NULL, *jt = root ? cJSON_AddArrayToObject(root, "tasks") : NULL;
    int compared = 0;
    for (int i = 0; i < sd[0].n; i++) {
        const StoreMetricRow *a = sd[0].m[i], *b = NULL;
        for (int j = 0; j < sd[1].n && !b; j++)
            if (!strcmp(a->kind, sd[1].m[j]->kind) && !strcmp(a->dataset, sd[1].m[j]->dataset) &&
                !strcmp(a->against, sd[1].m[j]->against) && !strcmp(a->signature, sd[1].m[j]->signature))
                b = sd[1].m[j];
        if (!b) continue;
        if (!strcmp(a->kind, "acc")) { /* a zero-shot task: its items */
            StoreTaskItemRow *r[2] = {NULL, NULL};
            int n[2] = {0, 0}, bad = 0;
            TaskPaired tp;
            for (int k = 0; k < 2 && !bad; k++)
                bad = store_get_task_items(st, sd[k].run ? sd[k].run->id : 0, sd[k].model_sha256, a->dataset, a->signature,
                                           &r[k], &n[k], NULL, err) != 0;
            if (!bad && tasks_paired(r[0], n[0], r[1], n[1], iters, seed, &tp, err)) {
                fprintf(stderr, "qbench compare: %s and %s are not comparable on task %s: %s\n", sd[0].label, sd[1].label,
                        a->dataset, err);
                for (int k = 0; k < 2; k++) store_free_task_items(r[k], n[k]);
                goto done;
            }
            for (int k = 0; k < 2; k++) store_free_task_items(r[k], n[k]);
            if (bad) {
                if (!json) printf("task %s: no per-item rows (%s)\n", a->dataset, err);
                continue;
            }
            compared++;
            if (json) {
                cJSON *o = tasks_paired_json(&tp);
                cJSON_AddStringToObject(o, "task", a->dataset);
                cJSON_AddStringToObject(o, "signature", a->signature);
                cJSON_AddItemToArray(jt, o);
            } else {
                printf("task %s (%d items, A %.4f, B %.4f):\n", a->dataset, tp.n, a->value, b->value);
                tasks_paired_print(stdout, &tp, "A", "B");
            }
            continue;
        }
        if (!results_paired_kind(a->kind)) continue;
        PairedResult p;
        if (results_paired(a, b, &p, err)) {
            if (strstr(err, "not the same")) {
                fprintf(stderr, "qbench compare: %s and %s are not comparable: %s %s%s: %s\n", sd[0].label, sd[1].label,
                        a->kind, a->dataset, vs_text(a->against), err);
                goto done;
            }
            if (!json) printf("%s %s%s: A %.6g  B %.6g  (no paired comparison: %s)\n", a->kind, a->dataset, vs_text(a->against),
                              a->value, b->value, err);
            continue;
        }
        compared++;
        if (json) cJSON_AddItemToArray(jm, metric_json(a, &p));
        else print_metric(a, &p);
    }
    if (!compared) {
        fprintf(stderr, "qbench compare: %s and %s have no metric in common to compare\n", sd[0].label, sd[1].label);
        goto done;
    }
    if (json) {
        char *s = cJSON_Print(root);
        if (s) printf("%s\n", s);
        free(s);
    }
    rc = 0;
done:
    cJSON_Delete(root);
    free(sd[0].m);
    free(sd[1].m);
    store_free_runs(runs, nr);
    store_free_baselines(bl, nb);
    store_close(st);
    return rc;
}
