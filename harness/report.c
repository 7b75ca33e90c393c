/* report.c — `qbench report DB`: one table of every point in a results database (markdown for
 * people, csv for spreadsheets, json for scripts). Rows: the unquantized baseline of each model,
 * then every run; columns: method, bits, group, act_order (sym and static_groups when any point
 * sets them), bits per weight, packed bytes, one column per (metric, dataset, against), status. */
#include "harness/results.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *kind, *dataset, *against, *signature;
    int tag; /* 1, 2, ... when several signatures share kind, dataset and against; 0 otherwise */
    int derived; /* 0: a stored metric; D_DPPL / D_LNRATIO: computed from a ppl metric and its baseline */
    int empty;   /* a derived column no row has a value for (no baseline, or rows without window sums):
                    left out of the default columns */
    int has_ci;  /* some row's metric carries a stored bootstrap interval (csv: :lo/:hi columns) */
} Col;

/* Columns computed from a perplexity and the unquantized model's on the same windows
 * (harness/paired.c): PPL − PPL_base and ln(PPL/PPL_base), each ± its standard error. */
enum { D_DPPL = 1, D_LNRATIO = 2 };
static const char *const DERIVED_KIND[3] = {NULL, "dppl", "ln_ppl_ratio"};

/* Well-known metrics first, in the order people read them; others alphabetically after. */
static int kind_rank(const char *k) {
    static const char *const order[] = {"ppl", "dppl", "ln_ppl_ratio", "chrf", "chrf++", "meteor", "top1", "kl"};
    for (int i = 0; i < 8; i++)
        if (!strcmp(k, order[i])) return i;
    return 8;
}

static int col_cmp(const void *pa, const void *pb) {
    const Col *a = pa, *b = pb;
    int ra = kind_rank(a->kind), rb = kind_rank(b->kind), c;
    if (ra != rb) return ra - rb;
    if ((c = strcmp(a->kind, b->kind))) return c;
    if ((c = strcmp(a->dataset, b->dataset))) return c;
    if ((c = strcmp(a->against, b->against))) return c;
    return strcmp(a->signature, b->signature);
}

/* One column per (kind, dataset, against, signature): numbers computed under other settings never
 * share a column. */
static int col_add(Col **cols, int *n, size_t *cap, const char *kind, const char *dataset, const char *against,
                   const char *signature, int derived) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*cols)[i].kind, kind) && !strcmp((*cols)[i].dataset, dataset) &&
            !strcmp((*cols)[i].against, against) && !strcmp((*cols)[i].signature, signature))
            return 0;
    if (qb_grow((void **)cols, cap, (size_t)*n + 1, sizeof **cols)) return -1;
    (*cols)[(*n)++] = (Col){kind, dataset, against, signature, 0, derived, 0, 0};
    return 0;
}

static const StoreMetricRow *baseline_metric(const StoreBaselineRow *b, int nb, const char *model, const Col *c) {
    if (c->derived) return NULL; /* the baseline against itself: nothing to show */
    for (int i = 0; i < nb; i++)
        if (!strcmp(b[i].model_sha256, model) && !strcmp(b[i].m.kind, c->kind) && !strcmp(b[i].m.dataset, c->dataset) &&
            !strcmp(b[i].m.against, c->against) && !strcmp(b[i].m.signature, c->signature))
            return &b[i].m;
    return NULL;
}

/* The column's metric of a run: the same signature too (a derived column: the ppl it comes from). */
static const StoreMetricRow *run_metric(const StoreRunRow *r, const Col *c) {
    for (int k = 0; k < r->n_metrics; k++) {
        const StoreMetricRow *m = &r->metrics[k];
        if (!strcmp(m->kind, c->derived ? "ppl" : c->kind) && !strcmp(m->dataset, c->dataset) && !strcmp(m->against, c->against) &&
            !strcmp(m->signature, c->signature))
            return m;
    }
    return NULL;
}

/* One table row before formatting: the config cells and one metric per column (or NULL). */
typedef struct {
    const StoreRunRow *run;   /* NULL for a baseline row */
    const char *model_sha256; /* baseline rows */
    const StoreMetricRow **vals;
    double *dv, *dse;         /* derived columns: value and standard error (NAN when not available) */
} Row;

static void md_cell(FILE *out, const char *s) {
    fputs("| ", out);
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", out);
        else if (*s == '\n' || *s == '\r') fputc(' ', out);
        else fputc(*s, out);
    }
    fputc(' ', out);
}

static void csv_cell(FILE *out, const char *s, int first) {
    if (!first) fputc(',', out);
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void fmt_num(char *buf, size_t n, double v, int precise) {
    if (isnan(v)) snprintf(buf, n, "%s", precise ? "" : "-");
    else snprintf(buf, n, precise ? "%.17g" : "%.5g", v);
}

/* The configuration columns --columns can name, in their default order. Metric columns follow,
 * named kind:dataset[:against] ("metrics" = all of them). */
typedef enum {
    C_POINT, C_METHOD, C_BITS, C_HIGH, C_GROUP, C_ACT, C_SYM, C_STATIC, C_BPW, C_BYTES, C_S_CALIB, C_S_QUANT,
    C_S_EVAL, C_DECODE, C_PREFILL, C_SPEED_THREADS, C_STATUS, C_KEY, C_NCFG
} CfgCol;
static const struct {
    const char *name, *md_head, *csv_head;
    int right;
    const char *help;
} CFG[C_NCFG] = {
    {"point", "point", "point", 0, "short label: method, bits, group, flags"},
    {"method", "method", "method", 0, "rtn, gptq, gptqt, rtnt, bcq"},
    {"bits", "bits", "bits", 1, "bits per code (GPTQT/BCQ: the target bits)"},
    {"high_bits", "high", "high_bits", 1, "GPTQT/RTNT: bits of the first, linear step"},
    {"group", "group", "group_size", 1, "group size (row = one group per row)"},
    {"act_order", "act_order", "act_order", 0, "true/false"},
    {"sym", "sym", "sym", 0, "true/false"},
    {"static_groups", "static", "static_groups", 0, "true/false"},
    {"bpw", "bits/w", "bits_per_weight", 1, "bits per weight, scales and zeros included"},
    {"bytes", "bytes", "packed_bytes", 1, "packed bytes of the quantized layers"},
    {"seconds_calibration", "s calib", "seconds_calibration", 1, "calibration forward passes"},
    {"seconds_quantize", "s quant", "seconds_quantize", 1, "quantization solves"},
    {"seconds_eval", "s eval", "seconds_eval", 1, "evaluation"},
    {"decode_tps", "decode tok/s", "decode_tps", 1, "decode tokens/s of the model as stored (timing: varies with load)"},
    {"prefill_tps", "prefill tok/s", "prefill_tps", 1, "prefill tokens/s of the model as stored (timing: varies with load)"},
    {"speed_threads", "threads", "speed_threads", 1, "threads the speeds were measured with"},
    {"status", "status", "status", 0, "done, failed, running, or baseline"},
    {"key", "key", "key", 0, "the point's key (baselines: model sha256)"},
};

/* A chosen column: a configuration column, or metric column m (index into cols). */
typedef struct {
    int cfg, metric;
} Pick;

static const char *TF(int v) { return v ? "true" : "false"; }

static void cfg_cell(const Row *r, CfgCol c, int precise, char *b, size_t n) {
    const StoreRunRow *x = r->run;
    const char *blank = precise ? "" : "-";
    if (!x) { /* a baseline row: its label, status and key; the rest blank */
        if (c == C_POINT || (c == C_METHOD)) snprintf(b, n, "unquantized %.8s", r->model_sha256);
        else if (c == C_STATUS) snprintf(b, n, "baseline");
        else if (c == C_KEY) snprintf(b, n, "%s", r->model_sha256);
        else snprintf(b, n, "%s", blank);
        return;
    }
    int hb;
    switch (c) {
    case C_POINT: results_point_label(x, b, n); break;
    case C_METHOD: snprintf(b, n, "%s", x->method); break;
    case C_BITS: /* bits 0: a `models:` entry, evaluated as stored (its bpw says what it costs) */
        if (x->bits == 0) snprintf(b, n, "%s", blank);
        else snprintf(b, n, "%d", x->bits);
        break;
    case C_HIGH:
        hb = results_high_bits(x);
        if (hb) snprintf(b, n, "%d", hb);
        else snprintf(b, n, "%s", blank);
        break;
    case C_GROUP:
        if (x->bits == 0) snprintf(b, n, "%s", blank);
        else if (x->group_size > 0) snprintf(b, n, "%d", x->group_size);
        else snprintf(b, n, "%s", precise ? "-1" : "row");
        break;
    case C_ACT: snprintf(b, n, "%s", TF(x->act_order)); break;
    case C_SYM: snprintf(b, n, "%s", TF(x->sym)); break;
    case C_STATIC: snprintf(b, n, "%s", TF(x->static_groups)); break;
    case C_BPW: fmt_num(b, n, x->bits_per_weight, precise); break;
    case C_BYTES: snprintf(b, n, "%lld", (long long)x->packed_bytes); break;
    case C_S_CALIB: fmt_num(b, n, x->seconds_calibration, precise); break;
    case C_S_QUANT: fmt_num(b, n, x->seconds_quantize, precise); break;
    case C_S_EVAL: fmt_num(b, n, x->seconds_eval, precise); break;
    case C_DECODE: fmt_num(b, n, x->decode_tps, precise); break;
    case C_PREFILL: fmt_num(b, n, x->prefill_tps, precise); break;
    case C_SPEED_THREADS:
        if (x->speed_threads > 0) snprintf(b, n, "%d", x->speed_threads);
        else snprintf(b, n, "%s", blank);
        break;
    case C_STATUS: snprintf(b, n, "%s", x->status); break;
    case C_KEY: snprintf(b, n, "%s", x->key); break;
    default: b[0] = 0;
    }
}

static void metric_name(const Col *c, char *b, size_t n) {
    int vs = strcmp(c->against, "-") != 0;
    snprintf(b, n, "%s:%s%s%s", c->kind, c->dataset, vs ? ":" : "", vs ? c->against : "");
}

/* Parses --columns into picks; "help" prints what this database offers and returns 1. */
static int parse_columns(const char *spec, const Col *cols, int ncols, Pick *picks, int *np, int maxp,
                         char err[QB_ERRLEN]) {
    *np = 0;
    if (!strcmp(spec, "help")) {
        printf("configuration columns:\n");
        for (int c = 0; c < C_NCFG; c++) printf("  %-20s %s\n", CFG[c].name, CFG[c].help);
        printf("metric columns of this database (\"metrics\" = all; \"all\" = every column):\n");
        for (int c = 0; c < ncols; c++) {
            char nm[600];
            metric_name(&cols[c], nm, sizeof nm);
            printf("  %s\n", nm);
        }
        return 1;
    }
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char tok[600];
        snprintf(tok, sizeof tok, "%.*s", (int)(len < sizeof tok ? len : sizeof tok - 1), p);
        int found = 0;
        if (!strcmp(tok, "all") || !strcmp(tok, "metrics")) {
            if (!strcmp(tok, "all"))
                for (int c = 0; c < C_NCFG && *np < maxp; c++) picks[(*np)++] = (Pick){c, -1};
            for (int c = 0; c < ncols && *np < maxp; c++) picks[(*np)++] = (Pick){-1, c};
            found = 1;
        }
        for (int c = 0; c < C_NCFG && !found; c++)
            if (!strcmp(tok, CFG[c].name)) {
                if (*np < maxp) picks[(*np)++] = (Pick){c, -1};
                found = 1;
            }
        for (int c = 0; c < ncols && !found; c++) {
            char nm[600];
            metric_name(&cols[c], nm, sizeof nm);
            /* kind:dataset, or the kind alone when only one column has it */
            int kind_only = !strchr(tok, ':') && !strcmp(tok, cols[c].kind);
            if (!strcmp(tok, nm) || kind_only) {
                if (*np < maxp) picks[(*np)++] = (Pick){-1, c};
                found = 1;
            }
        }
        if (!found) {
            snprintf(err, QB_ERRLEN, "report: unknown column '%.200s' (--columns help lists them)", tok);
            return -1;
        }
        p += len + (comma ? 1 : 0);
    }
    if (!*np) {
        snprintf(err, QB_ERRLEN, "report: --columns names no column");
        return -1;
    }
    return 0;
}

/* The default columns: markdown stays narrow (no bytes, seconds, key, speed threads; sym/static/high and
 * tokens/s only where some point has them; status only where some point is not done); csv has everything. */
static int default_picks(ReportFormat fmt, const Row *rows, int nrows, const Col *cols, int ncols, Pick *picks) {
    int np = 0, any_sym = 0, any_static = 0, any_high = 0, any_undone = 0, any_speed = 0;
    for (int i = 0; i < nrows; i++) {
        const StoreRunRow *x = rows[i].run;
        if (!x) continue;
        any_sym |= x->sym;
        any_static |= x->static_groups;
        any_high |= results_high_bits(x) > 0;
        any_undone |= strcmp(x->status, "done") != 0;
        any_speed |= x->speed_threads > 0;
    }
    for (int c = 0; c < C_NCFG; c++) {
        if (fmt == REPORT_MARKDOWN) {
            if (c == C_POINT || c == C_BYTES || c == C_S_CALIB || c == C_S_QUANT || c == C_S_EVAL || c == C_KEY) continue;
            if ((c == C_SYM && !any_sym) || (c == C_STATIC && !any_static) || (c == C_HIGH && !any_high)) continue;
            if (((c == C_DECODE || c == C_PREFILL) && !any_speed) || c == C_SPEED_THREADS) continue;
            if (c == C_STATUS) continue; /* after the metrics */
        } else if (c == C_POINT || c == C_STATUS || c == C_KEY) continue;
        picks[np++] = (Pick){c, -1};
    }
    for (int c = 0; c < ncols; c++)
        if (!cols[c].empty && (fmt != REPORT_MARKDOWN || cols[c].derived != D_LNRATIO)) picks[np++] = (Pick){-1, c};
    if (fmt != REPORT_MARKDOWN || any_undone) picks[np++] = (Pick){C_STATUS, -1};
    if (fmt != REPORT_MARKDOWN) picks[np++] = (Pick){C_KEY, -1};
    return np;
}

static int has_se_column(const Col *c) { return !strcmp(c->kind, "ppl") || c->derived; }
static int has_ci_columns(const Col *c) { return c->has_ci; }

static int write_table(FILE *out, ReportFormat fmt, const Row *rows, int nrows, const Col *cols, const Pick *picks,
                       int np) {
    int precise = fmt == REPORT_CSV;
    /* markdown headers stay short: "chrf/ref", "ppl"; the dataset is named in the header only when
     * the table has that metric on two datasets, otherwise once in a line above the table */
    if (!precise) {
        char note[2048] = "";
        size_t nl = 0;
        for (int k = 0; k < np && nl < sizeof note - 1; k++) { /* each dataset once, with its metrics */
            if (picks[k].metric < 0) continue;
            const char *ds = cols[picks[k].metric].dataset;
            int seen = 0;
            for (int q = 0; q < k; q++) seen |= picks[q].metric >= 0 && !strcmp(cols[picks[q].metric].dataset, ds);
            if (seen) continue;
            size_t start = nl;
            for (int q = k; q < np && nl < sizeof note - 1; q++) {
                if (picks[q].metric < 0 || strcmp(cols[picks[q].metric].dataset, ds)) continue;
                const char *kind = cols[picks[q].metric].kind;
                int again = 0;
                for (int r = k; r < q; r++) again |= picks[r].metric >= 0 && !strcmp(cols[picks[r].metric].dataset, ds) &&
                                                     !strcmp(cols[picks[r].metric].kind, kind);
                if (!again) nl += (size_t)snprintf(note + nl, sizeof note - nl, "%s%s", nl > start ? ", " : (nl ? "; " : ""), kind);
            }
            if (nl < sizeof note - 1) nl += (size_t)snprintf(note + nl, sizeof note - nl, " on %s", ds);
        }
        if (nl) fprintf(out, "Metrics: %s (/ref: against the references, /base: against the unquantized model).\n\n", note);
    }
    for (int k = 0; k < np; k++) {
        char h[600];
        if (picks[k].cfg >= 0) snprintf(h, sizeof h, "%s", precise ? CFG[picks[k].cfg].csv_head : CFG[picks[k].cfg].md_head);
        else if (precise) metric_name(&cols[picks[k].metric], h, sizeof h);
        else {
            const Col *c = &cols[picks[k].metric];
            int dup = 0;
            for (int q = 0; q < np; q++)
                if (picks[q].metric >= 0 && !strcmp(cols[picks[q].metric].kind, c->kind) &&
                    strcmp(cols[picks[q].metric].dataset, c->dataset))
                    dup = 1;
            const char *vs = !strcmp(c->against, "-") ? "" : !strcmp(c->against, "baseline") ? "/base"
                           : !strcmp(c->against, "reference") ? "/ref" : NULL;
            const char *kname = c->derived == D_DPPL ? "Δppl" : c->derived == D_LNRATIO ? "ln(ppl/base)" : c->kind;
            snprintf(h, sizeof h, "%s%s%s%s%s", kname, dup ? " " : "", dup ? c->dataset : "", vs ? vs : "/",
                     vs ? "" : c->against);
        }
        if (picks[k].cfg < 0 && cols[picks[k].metric].tag) /* one column per signature: [n] under the table */
            snprintf(h + strlen(h), sizeof h - strlen(h), " [%d]", cols[picks[k].metric].tag);
        if (fmt == REPORT_MARKDOWN) md_cell(out, h);
        else csv_cell(out, h, k == 0);
        /* csv: the standard error beside each metric that carries one */
        if (precise && picks[k].metric >= 0 && has_se_column(&cols[picks[k].metric])) {
            char se[640];
            snprintf(se, sizeof se, "%s:se", h);
            csv_cell(out, se, 0);
        }
        if (precise && picks[k].metric >= 0 && has_ci_columns(&cols[picks[k].metric])) { /* the bootstrap's 95% */
            char b2[640];
            snprintf(b2, sizeof b2, "%s:lo", h);
            csv_cell(out, b2, 0);
            snprintf(b2, sizeof b2, "%s:hi", h);
            csv_cell(out, b2, 0);
        }
    }
    if (fmt == REPORT_MARKDOWN) {
        fputs("|\n", out);
        /* alignment: text left, numbers right */
        for (int k = 0; k < np; k++) fputs(picks[k].metric >= 0 || CFG[picks[k].cfg].right ? "|--:" : "|---", out);
        fputs("|\n", out);
    } else {
        fputc('\n', out);
    }
    for (int i = 0; i < nrows; i++) {
        for (int k = 0; k < np; k++) {
            char v[160];
            if (picks[k].cfg >= 0) {
                cfg_cell(&rows[i], (CfgCol)picks[k].cfg, precise, v, sizeof v);
            } else {
                const Col *col = &cols[picks[k].metric];
                const StoreMetricRow *m = rows[i].vals[picks[k].metric];
                double val = m ? m->value : NAN, se = results_metric_se(m), lo = NAN, hi = NAN;
                if (col->derived) {
                    val = rows[i].dv[picks[k].metric];
                    se = rows[i].dse[picks[k].metric];
                } else if (!strcmp(col->kind, "top1") || !strcmp(col->kind, "kl")) {
                    se = NAN; /* their ± is in the JSON; the table stays narrow */
                }
                int ci = !col->derived && results_metric_ci(m, &lo, &hi);
                fmt_num(v, sizeof v, val, precise);
                if (precise && has_se_column(col)) {
                    csv_cell(out, v, k == 0);
                    fmt_num(v, sizeof v, se, 1);
                } else if (precise && has_ci_columns(col)) {
                    csv_cell(out, v, k == 0);
                    fmt_num(v, sizeof v, lo, 1);
                    csv_cell(out, v, 0);
                    fmt_num(v, sizeof v, hi, 1);
                } else if (!precise && ci && !isnan(val)) {
                    snprintf(v, sizeof v, "%.4g [%.4g, %.4g]", val, lo, hi);
                } else if (!precise && !isnan(val) && !isnan(se)) {
                    /* ppl ± SE, both to the SE's first two significant digits */
                    int dec = se > 0 ? (int)ceil(-log10(se)) + 1 : 4;
                    if (dec < 0) dec = 0;
                    if (dec > 8) dec = 8;
                    snprintf(v, sizeof v, col->derived ? "%+.*f ± %.*f" : "%.*f ± %.*f", dec, val, dec, se);
                }
            }
            if (fmt == REPORT_MARKDOWN) md_cell(out, v);
            else csv_cell(out, v, k == 0);
        }
        fputs(fmt == REPORT_MARKDOWN ? "|\n" : "\n", out);
    }
    return ferror(out) ? -1 : 0;
}

static cJSON *metric_json(const StoreMetricRow *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", m->kind);
    cJSON_AddStringToObject(o, "dataset", m->dataset);
    cJSON_AddStringToObject(o, "against", m->against);
    if (isnan(m->value)) cJSON_AddNullToObject(o, "value");
    else cJSON_AddNumberToObject(o, "value", m->value);
    cJSON_AddNumberToObject(o, "count", (double)m->count);
    cJSON_AddStringToObject(o, "signature", m->signature);
    return o;
}

static void add_num_or_null(cJSON *o, const char *k, double v) {
    if (isnan(v)) cJSON_AddNullToObject(o, k);
    else cJSON_AddNumberToObject(o, k, v);
}

/* The standard error and the stored bootstrap interval a metric carries. */
static void metric_json_uncertainty(cJSON *o, const StoreMetricRow *m) {
    double se = results_metric_se(m), lo, hi;
    if (!isnan(se)) cJSON_AddNumberToObject(o, "se", se);
    if (results_metric_ci(m, &lo, &hi)) {
        cJSON *ci = cJSON_AddObjectToObject(o, "ci95");
        cJSON_AddNumberToObject(ci, "lo", lo);
        cJSON_AddNumberToObject(ci, "hi", hi);
        cJSON_AddStringToObject(ci, "method", "bootstrap:1000:seed:12345");
    }
}

static int write_json(FILE *out, const StoreRunRow *runs, int nr, const StoreBaselineRow *b, int nb) {
    cJSON *root = cJSON_CreateObject(), *pts = cJSON_AddArrayToObject(root, "points");
    cJSON *bl = cJSON_AddArrayToObject(root, "baselines");
    for (int i = 0; i < nb; i++) {
        cJSON *o = metric_json(&b[i].m);
        metric_json_uncertainty(o, &b[i].m);
        cJSON_AddStringToObject(o, "model_sha256", b[i].model_sha256);
        cJSON_AddItemToArray(bl, o);
    }
    for (int i = 0; i < nr; i++) {
        const StoreRunRow *r = &runs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", r->key);
        cJSON_AddStringToObject(o, "experiment", r->experiment);
        cJSON_AddStringToObject(o, "model_sha256", r->model_sha256);
        cJSON_AddStringToObject(o, "method", r->method);
        cJSON_AddNumberToObject(o, "bits", r->bits);
        cJSON_AddNumberToObject(o, "group_size", r->group_size);
        cJSON_AddBoolToObject(o, "act_order", r->act_order);
        cJSON_AddBoolToObject(o, "sym", r->sym);
        cJSON_AddBoolToObject(o, "static_groups", r->static_groups);
        add_num_or_null(o, "bits_per_weight", r->bits_per_weight);
        cJSON_AddNumberToObject(o, "packed_bytes", (double)r->packed_bytes);
        cJSON_AddStringToObject(o, "status", r->status);
        if (*r->error) cJSON_AddStringToObject(o, "error", r->error);
        /* the point's full canonical configuration, as the sweep wrote it */
        cJSON *params = cJSON_Parse(r->params_json);
        if (params) cJSON_AddItemToObject(o, "canonical", params);
        else cJSON_AddStringToObject(o, "canonical", r->params_json);
        cJSON *sec = cJSON_AddObjectToObject(o, "seconds");
        add_num_or_null(sec, "calibration", r->seconds_calibration);
        add_num_or_null(sec, "quantize", r->seconds_quantize);
        add_num_or_null(sec, "eval", r->seconds_eval);
        cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)r->peak_rss_bytes);
        cJSON *spd = cJSON_AddObjectToObject(o, "speed"); /* tokens/s of the model as stored; null: not measured */
        add_num_or_null(spd, "decode_tps", r->decode_tps);
        add_num_or_null(spd, "prefill_tps", r->prefill_tps);
        cJSON_AddNumberToObject(spd, "threads", r->speed_threads);
        cJSON *ms = cJSON_AddArrayToObject(o, "metrics");
        for (int k = 0; k < r->n_metrics; k++) {
            const StoreMetricRow *m = &r->metrics[k];
            cJSON *mj = metric_json(m);
            metric_json_uncertainty(mj, m);
            const StoreBaselineRow *bm = !strcmp(m->kind, "ppl")
                ? results_find_baseline(b, nb, r->model_sha256, "ppl", m->dataset, "-", m->signature) : NULL;
            PairedResult pr;
            char e2[QB_ERRLEN];
            if (bm && !results_paired(m, &bm->m, &pr, e2)) { /* paired against the unquantized model */
                cJSON *vb = cJSON_AddObjectToObject(mj, "vs_baseline");
                add_num_or_null(vb, "dppl", pr.diff);
                add_num_or_null(vb, "dppl_se", pr.diff_se);
                add_num_or_null(vb, "ln_ratio", pr.ln_ratio);
                add_num_or_null(vb, "ln_ratio_se", pr.ln_ratio_se);
                cJSON_AddNumberToObject(vb, "windows", (double)pr.units);
            }
            cJSON_AddItemToArray(ms, mj);
        }
        cJSON_AddItemToArray(pts, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return -1;
    fputs(text, out);
    fputc('\n', out);
    free(text);
    return ferror(out) ? -1 : 0;
}

int report_write(Store *s, FILE *out, ReportFormat fmt, const char *columns, char err[QB_ERRLEN]) {
    StoreRunRow *runs = NULL;
    StoreBaselineRow *bl = NULL;
    int nr = 0, nb = 0, rc = -1;
    Col *cols = NULL;
    Row *rows = NULL;
    const StoreMetricRow **vals = NULL;
    double *dnum = NULL;
    if (store_load_runs(s, NULL, NULL, &runs, &nr, err) || store_load_baselines(s, &bl, &nb, err)) goto done;
    ResultsStale stale;
    if (results_select_current(s, NULL, runs, &nr, &stale, err)) goto done;
    results_print_stale(stderr, "report", &stale);
    if (fmt == REPORT_JSON && !(columns && !strcmp(columns, "help"))) {
        rc = write_json(out, runs, nr, bl, nb);
        if (rc) snprintf(err, QB_ERRLEN, "report: writing JSON failed");
        goto done;
    }
    int ncols = 0;
    size_t cap = 0;
    Pick *picks = NULL;
    for (int i = 0; i < nr; i++) {
        for (int k = 0; k < runs[i].n_metrics; k++) {
            const StoreMetricRow *m = &runs[i].metrics[k];
            if (col_add(&cols, &ncols, &cap, m->kind, m->dataset, m->against, m->signature, 0)) goto oom;
            for (int d = D_DPPL; d <= D_LNRATIO && !strcmp(m->kind, "ppl"); d++)
                if (col_add(&cols, &ncols, &cap, DERIVED_KIND[d], m->dataset, m->against, m->signature, d)) goto oom;
        }
    }
    /* Columns come from the points only: a baseline alone says nothing about quantization. */
    qsort(cols, (size_t)ncols, sizeof *cols, col_cmp);
    for (int c = 0; c + 1 < ncols; c++) /* number the columns that differ only by signature */
        if (!strcmp(cols[c].kind, cols[c + 1].kind) && !strcmp(cols[c].dataset, cols[c + 1].dataset) &&
            !strcmp(cols[c].against, cols[c + 1].against)) {
            if (!cols[c].tag) cols[c].tag = c > 0 && cols[c - 1].tag ? cols[c - 1].tag + 1 : 1;
            cols[c + 1].tag = cols[c].tag + 1;
        }
    /* Baseline rows: one per model that has a baseline for some column. */
    int nrows = 0;
    rows = calloc((size_t)(nr + nb) + 1, sizeof *rows);
    vals = calloc(((size_t)(nr + nb) + 1) * ((size_t)ncols + 1), sizeof *vals);
    dnum = malloc(((size_t)(nr + nb) + 1) * ((size_t)ncols + 1) * 2 * sizeof *dnum);
    if (!rows || !vals || !dnum) goto oom;
    for (size_t q = 0; q < ((size_t)(nr + nb) + 1) * ((size_t)ncols + 1) * 2; q++) dnum[q] = NAN;
    for (int i = 0; i < nb; i++) {
        if (i > 0 && !strcmp(bl[i].model_sha256, bl[i - 1].model_sha256)) continue; /* sorted by model */
        Row *r = &rows[nrows];
        r->model_sha256 = bl[i].model_sha256;
        r->vals = vals + (size_t)nrows * (size_t)(ncols + 1);
        r->dv = dnum + (size_t)nrows * (size_t)(ncols + 1) * 2;
        r->dse = r->dv + ncols + 1;
        int any = 0;
        for (int c = 0; c < ncols; c++) any |= (r->vals[c] = baseline_metric(bl, nb, r->model_sha256, &cols[c])) != NULL;
        if (any) nrows++;
    }
    for (int i = 0; i < nr; i++) {
        Row *r = &rows[nrows];
        r->run = &runs[i];
        r->vals = vals + (size_t)nrows * (size_t)(ncols + 1);
        r->dv = dnum + (size_t)nrows * (size_t)(ncols + 1) * 2;
        r->dse = r->dv + ncols + 1;
        for (int c = 0; c < ncols; c++) {
            r->vals[c] = run_metric(&runs[i], &cols[c]);
            const StoreBaselineRow *b = cols[c].derived && r->vals[c]
                ? results_find_baseline(bl, nb, runs[i].model_sha256, "ppl", cols[c].dataset, "-", cols[c].signature) : NULL;
            PairedResult pr;
            char e2[QB_ERRLEN];
            if (b && !results_paired(r->vals[c], &b->m, &pr, e2)) {
                r->dv[c] = cols[c].derived == D_DPPL ? pr.diff : pr.ln_ratio;
                r->dse[c] = cols[c].derived == D_DPPL ? pr.diff_se : pr.ln_ratio_se;
            }
        }
        nrows++;
    }
    for (int c = 0; c < ncols; c++) {
        cols[c].empty = cols[c].derived != 0;
        for (int i = 0; i < nrows && cols[c].empty; i++) cols[c].empty = isnan(rows[i].dv[c]);
        double lo, hi;
        for (int i = 0; i < nrows && !cols[c].derived && !cols[c].has_ci; i++)
            cols[c].has_ci = results_metric_ci(rows[i].vals[c], &lo, &hi);
    }
    int maxp = 2 * (C_NCFG + ncols) + 4, np;
    if (!(picks = calloc((size_t)maxp, sizeof *picks))) goto oom;
    if (columns) {
        int pc = parse_columns(columns, cols, ncols, picks, &np, maxp, err);
        if (pc) {
            rc = pc > 0 ? 0 : -1;
            free(picks);
            goto done;
        }
    } else {
        np = default_picks(fmt, rows, nrows, cols, ncols, picks);
    }
    rc = write_table(out, fmt, rows, nrows, cols, picks, np);
    free(picks);
    if (rc) snprintf(err, QB_ERRLEN, "report: writing the table failed");
    if (!rc && fmt == REPORT_MARKDOWN) /* what [k] stands for */
        for (int c = 0; c < ncols; c++)
            if (cols[c].tag) fprintf(out, "%s[%d] %s %s: %s\n", c == 0 || !cols[c - 1].tag ? "\n" : "", cols[c].tag,
                                     cols[c].kind, cols[c].dataset, cols[c].signature);
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "report: out of memory");
    rc = -1;
done:
    free(cols);
    free(rows);
    free(vals);
    free(dnum);
    store_free_runs(runs, nr);
    store_free_baselines(bl, nb);
    return rc;
}
