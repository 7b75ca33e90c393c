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
    const char *kind, *dataset, *against;
} Col;

/* Well-known metrics first, in the order people read them; others alphabetically after. */
static int kind_rank(const char *k) {
    static const char *const order[] = {"ppl", "chrf", "chrf++", "meteor", "top1", "kl"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(k, order[i])) return i;
    return 6;
}

static int col_cmp(const void *pa, const void *pb) {
    const Col *a = pa, *b = pb;
    int ra = kind_rank(a->kind), rb = kind_rank(b->kind), c;
    if (ra != rb) return ra - rb;
    if ((c = strcmp(a->kind, b->kind))) return c;
    if ((c = strcmp(a->dataset, b->dataset))) return c;
    return strcmp(a->against, b->against);
}

static int col_add(Col **cols, int *n, int *cap, const char *kind, const char *dataset, const char *against) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*cols)[i].kind, kind) && !strcmp((*cols)[i].dataset, dataset) &&
            !strcmp((*cols)[i].against, against))
            return 0;
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        Col *g = realloc(*cols, (size_t)*cap * sizeof *g);
        if (!g) return -1;
        *cols = g;
    }
    (*cols)[(*n)++] = (Col){kind, dataset, against};
    return 0;
}

static const StoreMetricRow *baseline_metric(const StoreBaselineRow *b, int nb, const char *model, const Col *c) {
    for (int i = 0; i < nb; i++)
        if (!strcmp(b[i].model_sha256, model) && !strcmp(b[i].m.kind, c->kind) && !strcmp(b[i].m.dataset, c->dataset) &&
            !strcmp(b[i].m.against, c->against))
            return &b[i].m;
    return NULL;
}

/* One table row before formatting: the config cells and one metric per column (or NULL). */
typedef struct {
    const StoreRunRow *run;   /* NULL for a baseline row */
    const char *model_sha256; /* baseline rows */
    const StoreMetricRow **vals;
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

/* The cells of a row as strings (markdown/csv share them). */
static void row_cells(const Row *r, int show_sym, int show_static, int precise, char cells[][64], int *nc) {
    int k = 0;
    const StoreRunRow *x = r->run;
    if (x) {
        snprintf(cells[k++], 64, "%s", x->method);
        snprintf(cells[k++], 64, "%d", x->bits);
        if (x->group_size > 0) snprintf(cells[k++], 64, "%d", x->group_size);
        else snprintf(cells[k++], 64, "%s", precise ? "-1" : "row");
        snprintf(cells[k++], 64, "%s", x->act_order ? "yes" : "no");
        if (show_sym) snprintf(cells[k++], 64, "%s", x->sym ? "yes" : "no");
        if (show_static) snprintf(cells[k++], 64, "%s", x->static_groups ? "yes" : "no");
        fmt_num(cells[k++], 64, x->bits_per_weight, precise);
        snprintf(cells[k++], 64, "%lld", (long long)x->packed_bytes);
    } else {
        snprintf(cells[k++], 64, "unquantized %.8s", r->model_sha256);
        int n_blank = 5 + show_sym + show_static;
        for (int i = 0; i < n_blank; i++) snprintf(cells[k++], 64, "%s", precise ? "" : "-");
    }
    *nc = k;
}

static int write_table(FILE *out, ReportFormat fmt, const Row *rows, int nrows, const Col *cols, int ncols,
                       int show_sym, int show_static) {
    int precise = fmt == REPORT_CSV;
    const char *heads[] = {"method", "bits", precise ? "group_size" : "group", "act_order", "sym", "static_groups",
                           precise ? "bits_per_weight" : "bpw", precise ? "packed_bytes" : "bytes"};
    /* Markdown alignment per column: text left, numbers right. */
    static const char head_right[8] = {0, 1, 1, 0, 0, 0, 1, 1};
    char align[1024];
    int na = 0, first = 1;
    for (int i = 0; i < 8; i++) {
        if ((i == 4 && !show_sym) || (i == 5 && !show_static)) continue;
        if (fmt == REPORT_MARKDOWN) md_cell(out, heads[i]);
        else csv_cell(out, heads[i], first);
        first = 0;
        align[na++] = head_right[i];
    }
    for (int c = 0; c < ncols; c++) {
        char h[600];
        int vs = strcmp(cols[c].against, "-") != 0;
        if (fmt == REPORT_MARKDOWN)
            snprintf(h, sizeof h, "%s %s%s%s", cols[c].kind, cols[c].dataset, vs ? " vs " : "", vs ? cols[c].against : "");
        else
            snprintf(h, sizeof h, "%s:%s%s%s", cols[c].kind, cols[c].dataset, vs ? ":" : "", vs ? cols[c].against : "");
        if (fmt == REPORT_MARKDOWN) md_cell(out, h);
        else csv_cell(out, h, 0);
        if (na < (int)sizeof align - 1) align[na++] = 1;
    }
    if (fmt == REPORT_MARKDOWN) {
        md_cell(out, "status");
        fputs("|\n", out);
        for (int i = 0; i < na; i++) fputs(align[i] ? "|--:" : "|---", out);
        fputs("|---|\n", out);
    } else {
        csv_cell(out, "status", 0);
        csv_cell(out, "key", 0);
        fputc('\n', out);
    }
    for (int i = 0; i < nrows; i++) {
        char cells[8][64];
        int nc = 0;
        row_cells(&rows[i], show_sym, show_static, precise, cells, &nc);
        for (int k = 0; k < nc; k++) {
            if (fmt == REPORT_MARKDOWN) md_cell(out, cells[k]);
            else csv_cell(out, cells[k], k == 0);
        }
        for (int c = 0; c < ncols; c++) {
            char v[64];
            fmt_num(v, sizeof v, rows[i].vals[c] ? rows[i].vals[c]->value : NAN, precise);
            if (fmt == REPORT_MARKDOWN) md_cell(out, v);
            else csv_cell(out, v, 0);
        }
        const char *status = rows[i].run ? rows[i].run->status : "baseline";
        if (fmt == REPORT_MARKDOWN) {
            md_cell(out, status);
            fputs("|\n", out);
        } else {
            csv_cell(out, status, 0);
            csv_cell(out, rows[i].run ? rows[i].run->key : rows[i].model_sha256, 0);
            fputc('\n', out);
        }
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

static int write_json(FILE *out, const StoreRunRow *runs, int nr, const StoreBaselineRow *b, int nb) {
    cJSON *root = cJSON_CreateObject(), *pts = cJSON_AddArrayToObject(root, "points");
    cJSON *bl = cJSON_AddArrayToObject(root, "baselines");
    for (int i = 0; i < nb; i++) {
        cJSON *o = metric_json(&b[i].m);
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
        cJSON *ms = cJSON_AddArrayToObject(o, "metrics");
        for (int k = 0; k < r->n_metrics; k++) cJSON_AddItemToArray(ms, metric_json(&r->metrics[k]));
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

int report_write(Store *s, FILE *out, ReportFormat fmt, char err[QB_ERRLEN]) {
    StoreRunRow *runs = NULL;
    StoreBaselineRow *bl = NULL;
    int nr = 0, nb = 0, rc = -1;
    Col *cols = NULL;
    Row *rows = NULL;
    const StoreMetricRow **vals = NULL;
    if (store_load_runs(s, NULL, NULL, &runs, &nr, err) || store_load_baselines(s, &bl, &nb, err)) goto done;
    if (fmt == REPORT_JSON) {
        rc = write_json(out, runs, nr, bl, nb);
        if (rc) snprintf(err, QB_ERRLEN, "report: writing JSON failed");
        goto done;
    }
    int ncols = 0, cap = 0, show_sym = 0, show_static = 0;
    for (int i = 0; i < nr; i++) {
        show_sym |= runs[i].sym;
        show_static |= runs[i].static_groups;
        for (int k = 0; k < runs[i].n_metrics; k++) {
            const StoreMetricRow *m = &runs[i].metrics[k];
            if (col_add(&cols, &ncols, &cap, m->kind, m->dataset, m->against)) goto oom;
        }
    }
    /* Columns come from the points only: a baseline alone says nothing about quantization. */
    qsort(cols, (size_t)ncols, sizeof *cols, col_cmp);
    /* Baseline rows: one per model that has a baseline for some column. */
    int nrows = 0;
    rows = calloc((size_t)(nr + nb) + 1, sizeof *rows);
    vals = calloc(((size_t)(nr + nb) + 1) * ((size_t)ncols + 1), sizeof *vals);
    if (!rows || !vals) goto oom;
    for (int i = 0; i < nb; i++) {
        if (i > 0 && !strcmp(bl[i].model_sha256, bl[i - 1].model_sha256)) continue; /* sorted by model */
        Row *r = &rows[nrows];
        r->model_sha256 = bl[i].model_sha256;
        r->vals = vals + (size_t)nrows * (size_t)(ncols + 1);
        int any = 0;
        for (int c = 0; c < ncols; c++) any |= (r->vals[c] = baseline_metric(bl, nb, r->model_sha256, &cols[c])) != NULL;
        if (any) nrows++;
    }
    for (int i = 0; i < nr; i++) {
        Row *r = &rows[nrows];
        r->run = &runs[i];
        r->vals = vals + (size_t)nrows * (size_t)(ncols + 1);
        for (int c = 0; c < ncols; c++) r->vals[c] = store_run_metric(&runs[i], cols[c].kind, cols[c].dataset, cols[c].against);
        nrows++;
    }
    rc = write_table(out, fmt, rows, nrows, cols, ncols, show_sym, show_static);
    if (rc) snprintf(err, QB_ERRLEN, "report: writing the table failed");
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "report: out of memory");
    rc = -1;
done:
    free(cols);
    free(rows);
    free(vals);
    store_free_runs(runs, nr);
    store_free_baselines(bl, nb);
    return rc;
}
