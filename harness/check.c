/* check.c — `qbench check EXP.yaml`: the CI regression gate. Every `check:` entry of the experiment
 * is evaluated on every finished point of that experiment that its `where` matches, reading only
 * the results database: perplexity increase over the unquantized baseline (percent), chrF/METEOR
 * of quantized generations against the references or the baseline's outputs, top-1 agreement,
 * KL, bits per weight. One PASS/FAIL/ERROR line per (check, point); the same as JUnit XML (one
 * testcase per check × point) for CI dashboards. */
#include "harness/results.h"
#include "harness/sweep.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const LIMIT_NAMES[4] = {"max_increase_pct", "max_decrease_pct", "min", "max"};

/* ---- `where` filters against a stored point ------------------------------------------------------ */

/* The point's value of a parameter as canonical text (config.h's param_value_str format), from its
 * canonical params JSON, or from the run's own columns for the core parameters. 0 if unknown. */
static int run_param_text(const StoreRunRow *r, const cJSON *params, const char *name, char *out, size_t n,
                          double *num, int *is_num) {
    *is_num = 0;
    const cJSON *it = params ? cJSON_GetObjectItemCaseSensitive(params, name) : NULL;
    if (it) {
        if (cJSON_IsBool(it)) snprintf(out, n, "%s", cJSON_IsTrue(it) ? "true" : "false");
        else if (cJSON_IsString(it)) snprintf(out, n, "%s", it->valuestring);
        else if (cJSON_IsNumber(it)) {
            double v = it->valuedouble;
            *num = v;
            *is_num = 1;
            if (v == floor(v) && fabs(v) < 1e15) snprintf(out, n, "%ld", (long)v);
            else snprintf(out, n, "%.17g", v);
        } else return 0;
        return 1;
    }
    if (!strcmp(name, "method")) snprintf(out, n, "%s", r->method);
    else if (!strcmp(name, "bits")) snprintf(out, n, "%d", r->bits);
    else if (!strcmp(name, "group_size")) snprintf(out, n, "%d", r->group_size);
    else if (!strcmp(name, "act_order")) snprintf(out, n, "%s", r->act_order ? "true" : "false");
    else if (!strcmp(name, "sym")) snprintf(out, n, "%s", r->sym ? "true" : "false");
    else if (!strcmp(name, "static_groups")) snprintf(out, n, "%s", r->static_groups ? "true" : "false");
    else return 0;
    return 1;
}

static int where_matches(const StoreRunRow *r, const ParamMatch *w) {
    if (w->n == 0) return 1;
    cJSON *root = cJSON_Parse(r->params_json);
    /* sweep.h's canonical JSON nests the parameters under "params"; accept a flat object too. */
    const cJSON *params = root ? cJSON_GetObjectItemCaseSensitive(root, "params") : NULL;
    if (!cJSON_IsObject(params)) params = cJSON_IsObject(root) ? root : NULL;
    int ok = 1;
    for (int i = 0; i < w->n && ok; i++) {
        char have[128], want[128];
        double num = 0;
        int is_num = 0;
        if (!run_param_text(r, params, w->p[i].name, have, sizeof have, &num, &is_num)) {
            ok = 0;
            break;
        }
        if (w->p[i].value.type == PV_FLOAT && is_num) {
            ok = fabs(num - w->p[i].value.f) <= 1e-12 * fmax(1.0, fabs(num));
        } else {
            param_value_str(&w->p[i].value, want, sizeof want);
            ok = !strcmp(have, want);
        }
    }
    cJSON_Delete(root);
    return ok;
}

/* ---- results of one (check, point) ----------------------------------------------------------------- */

typedef enum { OUT_PASS, OUT_FAIL, OUT_ERROR } Outcome;

typedef struct {
    Outcome outcome;
    char classname[300];
    char name[300];
    char message[600]; /* what was measured and against which limit */
} Case;

typedef struct {
    Case *v;
    int n;
    size_t cap;
} Cases;

static Case *case_new(Cases *cs) {
    if (qb_grow((void **)&cs->v, &cs->cap, (size_t)cs->n + 1, sizeof *cs->v)) return NULL;
    Case *c = &cs->v[cs->n++];
    memset(c, 0, sizeof *c);
    return c;
}

static void check_title(const CheckSpec *k, char *out, size_t n) {
    const char *vs = k->against == AGAINST_BASELINE ? " vs baseline" : k->against == AGAINST_REFERENCE ? " vs reference" : "";
    char limits[200] = "";
    size_t len = 0;
    for (int i = 0; i < 4; i++)
        if (k->has[i] && len < sizeof limits)
            len += (size_t)snprintf(limits + len, sizeof limits - len, " %s %g", LIMIT_NAMES[i], k->limit[i]);
    if (k->confidence > 0 && len < sizeof limits)
        snprintf(limits + len, sizeof limits - len, " confidence %g", k->confidence);
    snprintf(out, n, "%s%s%s%s%s", k->metric, k->dataset[0] ? " " : "", k->dataset, vs, limits);
}

/* Evaluates check k on point r into c. */
static void eval_case(const CheckSpec *k, const StoreRunRow *r, const StoreBaselineRow *bl, int nb, Case *c) {
    char label[128];
    results_point_label(r, label, sizeof label);
    snprintf(c->name, sizeof c->name, "%s [%.8s]", label, r->key);
    double v;
    const StoreMetricRow *m = NULL;
    if (!strcmp(k->metric, "bits_per_weight")) {
        v = r->bits_per_weight;
    } else {
        const char *against = k->against == AGAINST_BASELINE ? "baseline" : k->against == AGAINST_REFERENCE ? "reference"
                                                                                                              : NULL;
        m = store_run_metric(r, k->metric, k->dataset, against);
        if (!m) {
            c->outcome = OUT_ERROR;
            snprintf(c->message, sizeof c->message, "no %s for %s%s%s in this point", k->metric, k->dataset,
                     against ? " against " : "", against ? against : "");
            return;
        }
        v = m->value;
    }
    if (!isfinite(v)) {
        c->outcome = OUT_ERROR;
        snprintf(c->message, sizeof c->message, "%s is not a number (NULL/NaN) in this point", k->metric);
        return;
    }
    int pass = 1;
    size_t len = 0;
    char *msg = c->message;
    size_t cap = sizeof c->message;
    len += (size_t)snprintf(msg + len, cap - len, "%s = %.6g", k->metric, v);
    if (k->has[CHECK_MAX_INCREASE_PCT] || k->has[CHECK_MAX_DECREASE_PCT]) {
        const StoreBaselineRow *b = results_find_baseline(bl, nb, r->model_sha256, k->metric, k->dataset,
                                                          m ? m->against : "-", m ? m->signature : "");
        if (!b || !isfinite(b->m.value) || b->m.value == 0) {
            c->outcome = OUT_ERROR;
            snprintf(c->message, sizeof c->message,
                     "no usable unquantized baseline for %s on %s (model %.12s, signature '%.100s')", k->metric,
                     k->dataset, r->model_sha256, m ? m->signature : "");
            return;
        }
        double base = b->m.value, change = (v - base) / base * 100.0;
        len += (size_t)snprintf(msg + len, cap - len, ", baseline %.6g, change %+.3f%%", base, change);
        double lo = change, hi = change; /* the change judged: the number itself, or its bounds */
        if (k->confidence > 0) {
            char e2[QB_ERRLEN];
            if (results_change_bounds(m, &b->m, k->confidence, &lo, &hi, e2)) {
                c->outcome = OUT_ERROR;
                snprintf(c->message, sizeof c->message, "%s: no interval for the change with confidence %g: %.300s",
                         k->metric, k->confidence, e2);
                return;
            }
            len += (size_t)snprintf(msg + len, cap - len, " [%+.3f%%, %+.3f%%] (one-sided %g%% bounds)", lo, hi,
                                    100 * k->confidence);
        }
        const char *sure = k->confidence > 0 ? " with that confidence" : "";
        if (k->has[CHECK_MAX_INCREASE_PCT]) {
            int ok = lo <= k->limit[CHECK_MAX_INCREASE_PCT];
            pass &= ok;
            len += (size_t)snprintf(msg + len, cap - len, "; increase %s %g%%%s", ok ? "not above" : ">",
                                    k->limit[CHECK_MAX_INCREASE_PCT], ok ? "" : sure);
        }
        if (k->has[CHECK_MAX_DECREASE_PCT]) {
            int ok = -hi <= k->limit[CHECK_MAX_DECREASE_PCT];
            pass &= ok;
            len += (size_t)snprintf(msg + len, cap - len, "; decrease %s %g%%%s", ok ? "not above" : ">",
                                    k->limit[CHECK_MAX_DECREASE_PCT], ok ? "" : sure);
        }
    }
    double lo = v, hi = v; /* the value judged by min / max */
    if ((k->has[CHECK_MIN] || k->has[CHECK_MAX]) && k->confidence > 0 && len < cap) {
        char e2[QB_ERRLEN];
        if (!m || results_value_bounds(m, k->confidence, &lo, &hi, e2)) {
            c->outcome = OUT_ERROR;
            snprintf(c->message, sizeof c->message, "%s: no interval with confidence %g: %.300s", k->metric, k->confidence,
                     m ? e2 : "no statistics");
            return;
        }
        len += (size_t)snprintf(msg + len, cap - len, " [%.6g, %.6g] (one-sided %g%% bounds)", lo, hi, 100 * k->confidence);
    }
    if (k->has[CHECK_MIN] && len < cap) {
        int ok = hi >= k->limit[CHECK_MIN];
        pass &= ok;
        len += (size_t)snprintf(msg + len, cap - len, "; %s %g%s", ok ? (k->confidence > 0 ? "not below min" : ">=") : "< min",
                                k->limit[CHECK_MIN], !ok && k->confidence > 0 ? " with that confidence" : "");
    }
    if (k->has[CHECK_MAX] && len < cap) {
        int ok = lo <= k->limit[CHECK_MAX];
        pass &= ok;
        snprintf(msg + len, cap - len, "; %s %g%s", ok ? (k->confidence > 0 ? "not above max" : "<=") : "> max",
                 k->limit[CHECK_MAX], !ok && k->confidence > 0 ? " with that confidence" : "");
    }
    c->outcome = pass ? OUT_PASS : OUT_FAIL;
}

/* ---- JUnit XML ------------------------------------------------------------------------------------- */

/* Text safe in both attributes and element content. Characters XML 1.0 forbids (controls other
 * than tab/newline/CR) become '?'. */
static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        switch (ch) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') fputc('?', f);
            else fputc(ch, f);
        }
    }
}

static int write_junit(const char *path, const char *suite, const Cases *cs, const CheckSummary *sum,
                       char err[QB_ERRLEN]) {
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, QB_ERRLEN, "check: cannot write JUnit file %.400s: %s", path, strerror(errno));
        return -1;
    }
    int tests = sum->n_pass + sum->n_fail + sum->n_error;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites name=\"qbench check\" tests=\"%d\" failures=\"%d\" errors=\"%d\">\n", tests, sum->n_fail,
            sum->n_error);
    fputs("  <testsuite name=\"", f);
    xml_text(f, suite);
    fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"0\">\n", tests, sum->n_fail, sum->n_error);
    for (int i = 0; i < cs->n; i++) {
        const Case *c = &cs->v[i];
        fputs("    <testcase classname=\"", f);
        xml_text(f, c->classname);
        fputs("\" name=\"", f);
        xml_text(f, c->name);
        fputs("\" time=\"0\">", f);
        if (c->outcome == OUT_PASS) {
            fputs("<system-out>", f);
            xml_text(f, c->message);
            fputs("</system-out></testcase>\n", f);
            continue;
        }
        const char *tag = c->outcome == OUT_FAIL ? "failure" : "error";
        fprintf(f, "\n      <%s type=\"%s\" message=\"", tag, c->outcome == OUT_FAIL ? "threshold" : "missing");
        xml_text(f, c->message);
        fputs("\">", f);
        xml_text(f, c->message);
        fprintf(f, "</%s>\n    </testcase>\n", tag);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    if (ferror(f) | fclose(f)) {
        snprintf(err, QB_ERRLEN, "check: writing JUnit file %.400s failed", path);
        return -1;
    }
    return 0;
}

/* ---- the gate ---------------------------------------------------------------------------------------- */

int check_run(const Experiment *e, Store *s, FILE *out, const char *junit_path, CheckSummary *sum,
              char err[QB_ERRLEN]) {
    memset(sum, 0, sizeof *sum);
    if (e->n_checks == 0) {
        snprintf(err, QB_ERRLEN, "%.400s: no check: section, nothing to evaluate", e->file);
        return -1;
    }
    StoreRunRow *runs = NULL;
    StoreBaselineRow *bl = NULL;
    int nr = 0, nb = 0, rc = -1;
    Cases cs = {0};
    if (store_load_runs(s, e->name, "done", &runs, &nr, err) || store_load_baselines(s, &bl, &nb, err)) goto done;
    /* Only numbers computed under this file's evaluation settings (and this build's quantizer
     * versions) are judged: the evaluations `run` recorded under the file's eval key. */
    char esha[65], *evals = NULL;
    sweep_eval_key(e, esha);
    int have = store_get_experiment_evals(s, e->name, esha, &evals, err);
    free(evals);
    evals = NULL;
    int any = have ? 1 : store_get_experiment_evals(s, e->name, NULL, &evals, err); /* 0: a database from before */
    free(evals);
    if (have < 0 || any < 0) goto done;
    if (!have && any && nr > 0) {
        snprintf(err, QB_ERRLEN, "%.150s: its evaluation settings changed since its points were computed (no run with "
                 "these settings in the database): run `qbench run %.150s` first", e->file, e->file);
        goto done;
    }
    ResultsStale stale;
    if (results_select_current(s, have ? esha : NULL, runs, &nr, &stale, err)) goto done;
    results_print_stale(stderr, "check", &stale);
    if (nr == 0) {
        snprintf(err, QB_ERRLEN, "no finished point of experiment '%.100s' in the database (run `qbench run %.200s` first)",
                 e->name, e->file);
        goto done;
    }
    for (int i = 0; i < e->n_checks; i++) {
        const CheckSpec *k = &e->checks[i];
        char title[400];
        check_title(k, title, sizeof title);
        int matched = 0;
        for (int j = 0; j < nr; j++) {
            if (!where_matches(&runs[j], &k->where)) continue;
            matched++;
            Case *c = case_new(&cs);
            if (!c) goto oom;
            snprintf(c->classname, sizeof c->classname, "%.100s.check%d.%.16s", e->name, i + 1, k->metric);
            eval_case(k, &runs[j], bl, nb, c);
            /* the name carries the check's threshold too, so a failing testcase reads on its own */
            char full[300];
            snprintf(full, sizeof full, "%.180s: %.110s", title, c->name);
            snprintf(c->name, sizeof c->name, "%s", full);
        }
        if (matched == 0) {
            Case *c = case_new(&cs);
            if (!c) goto oom;
            snprintf(c->classname, sizeof c->classname, "%.100s.check%d.%.16s", e->name, i + 1, k->metric);
            snprintf(c->name, sizeof c->name, "%.250s: (no point)", title);
            snprintf(c->message, sizeof c->message, "%.300s:%d: no finished point matches this check's where filter",
                     e->file, k->line);
            c->outcome = OUT_ERROR;
        }
    }
    for (int i = 0; i < cs.n; i++) {
        const Case *c = &cs.v[i];
        const char *tag = c->outcome == OUT_PASS ? "PASS " : c->outcome == OUT_FAIL ? "FAIL " : "ERROR";
        fprintf(out, "%s %s: %s\n", tag, c->name, c->message);
        if (c->outcome == OUT_PASS) sum->n_pass++;
        else if (c->outcome == OUT_FAIL) sum->n_fail++;
        else sum->n_error++;
    }
    if (junit_path && *junit_path && write_junit(junit_path, e->name, &cs, sum, err)) goto done;
    rc = 0;
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "check: out of memory");
done:
    free(cs.v);
    store_free_runs(runs, nr);
    store_free_baselines(bl, nb);
    return rc;
}
