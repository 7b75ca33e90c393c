/* plot.c — `qbench plot DB`: accuracy-vs-size figures drawn by gnuplot. For every perplexity
 * dataset: perplexity against bits per weight and against packed bytes; for every generation task:
 * chrF, chrF++ and METEOR against bits per weight (top-1 agreement and KL too when logged). The
 * unquantized baseline is a horizontal line, the Pareto front (smallest size for the best
 * accuracy) is drawn over the points.
 *
 * Styled for a paper: one colour per method (the Okabe–Ito palette, safe for colour-blind
 * readers), one marker and dash pattern per variant (group size, act-order, sym, static groups),
 * and a compact legend below the plot listing methods and variants once each rather than every
 * combination. The y range stays within what the metric can take (top-1 and METEOR <= 1, chrF <=
 * 100, KL >= 0, perplexity >= 1); perplexity is cut at the top of the >= 3-bit points so that 3 to
 * 8 bits stay readable, and points above the cut are drawn on the top edge with their value.
 * Error bars show the uncertainty a metric carries (perplexity: its standard error). The title
 * names the model.
 *
 * Each figure FIG is written to the output directory as FIG.dat (gnuplot data: one index per
 * series, then the Pareto front, then the off-scale points), FIG.gp (the script; `cd DIR &&
 * gnuplot FIG.gp` redraws it, so a figure can be restyled by hand) and FIG.png, FIG.svg and/or
 * FIG.pdf. */
#include "harness/results.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

typedef struct {
    double x, y;
    double bytes;
    double se; /* the metric's standard error, NAN when it carries none */
} Pt;

typedef struct {
    char label[96];
    int color;   /* 0xRRGGBB: the method's */
    int variant; /* index into the variant styles */
    Pt *pts;
    int n;
    size_t cap;
} Series;

/* One figure per (kind, dataset, against, signature): numbers computed under other evaluation
 * settings never share a figure; `tag` (1, 2, ...) names the figures that differ only by signature. */
/* The x axis of a figure: size as bits per weight or packed bytes, or speed as decode tokens/s of the
 * model as stored (faster is better there). */
enum { X_BPW, X_BYTES, X_DECODE };
static const char *const X_NAME[] = {"bpw", "bytes", "decode"}, *const X_WHAT[] = {"bits per weight", "packed size",
                                                                                  "decode speed"};

typedef struct {
    const char *kind, *dataset, *against, *signature;
    int x, tag; /* x: X_BPW, X_BYTES or X_DECODE */
} Figure;

/* x of run r in figure fg, NAN when r does not have it */
static double fig_x(const StoreRunRow *r, const Figure *fg) {
    if (fg->x == X_BYTES) return r->packed_bytes > 0 ? (double)r->packed_bytes : NAN;
    if (fg->x == X_DECODE) return r->speed_threads > 0 && r->decode_tps > 0 ? r->decode_tps : NAN;
    return r->bits_per_weight;
}

static const StoreMetricRow *fig_metric(const StoreRunRow *r, const Figure *fg) {
    for (int k = 0; k < r->n_metrics; k++) {
        const StoreMetricRow *m = &r->metrics[k];
        if (!strcmp(m->kind, fg->kind) && !strcmp(m->dataset, fg->dataset) && !strcmp(m->against, fg->against) &&
            !strcmp(m->signature, fg->signature))
            return m;
    }
    return NULL;
}

/* ---- small helpers ----------------------------------------------------------------------------- */

static int add_path(PlotFiles *f, const char *path) {
    char **g = realloc(f->paths, (size_t)(f->n + 1) * sizeof *g);
    if (!g) return -1;
    f->paths = g;
    if (!(f->paths[f->n] = strdup(path))) return -1;
    f->n++;
    return 0;
}

void plot_files_free(PlotFiles *f) {
    for (int i = 0; i < f->n; i++) free(f->paths[i]);
    free(f->paths);
    f->paths = NULL;
    f->n = 0;
}

/* mkdir -p */
static int make_dirs(const char *dir, char err[QB_ERRLEN]) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        snprintf(err, QB_ERRLEN, "plot: output directory name too long");
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                snprintf(err, QB_ERRLEN, "plot: cannot create %.400s: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, QB_ERRLEN, "plot: %.400s is not a directory", dir);
        return -1;
    }
    return 0;
}

/* A file-name-safe version of a dataset / task name (which may be a path). */
static void safe_name(const char *in, char *out, size_t n) {
    size_t k = 0;
    for (; *in && k + 3 < n; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '+') {
            out[k++] = 'p';
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                   c == '.' || c == '_') {
            out[k++] = (char)c;
        } else if (k > 0 && out[k - 1] != '_') {
            out[k++] = '_';
        }
    }
    out[k] = 0;
}

/* A gnuplot single-quoted string: a quote inside is written twice. */
static void gp_str(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        if (*s != '\n' && *s != '\r') fputc(*s, f);
    }
    fputc('\'', f);
}

/* A shell single-quoted word. */
static void sh_quote(char *out, size_t n, const char *s) {
    size_t k = 0;
    if (k < n - 1) out[k++] = '\'';
    for (; *s && k + 5 < n; s++) {
        if (*s == '\'') {
            memcpy(out + k, "'\\''", 4);
            k += 4;
        } else {
            out[k++] = *s;
        }
    }
    if (k < n - 1) out[k++] = '\'';
    out[k] = 0;
}

/* Runs a shell command, capturing the first line of its output; its exit status, or -1. */
static int run_capture(const char *cmd, char *first_line, size_t n) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    first_line[0] = 0;
    while (fgets(line, sizeof line, p))
        if (!first_line[0] && line[0] != '\n') {
            size_t l = strcspn(line, "\n");
            if (l >= n) l = n - 1;
            memcpy(first_line, line, l);
            first_line[l] = 0;
        }
    int st = pclose(p);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- what a metric means ------------------------------------------------------------------------- */

static int lower_is_better(const char *kind) {
    return !strcmp(kind, "ppl") || !strcmp(kind, "kl") || !strcmp(kind, "perplexity");
}

/* Short enough to fit beside a paper-sized plot; the title names the dataset and what is compared. */
static void y_label(const Figure *fg, int logy, char *out, size_t n) {
    const char *scale = logy ? "log scale, " : "";
    if (!strcmp(fg->kind, "ppl")) snprintf(out, n, "perplexity (%slower is better)", scale);
    else if (!strcmp(fg->kind, "chrf")) snprintf(out, n, "chrF (0-100, higher is better)");
    else if (!strcmp(fg->kind, "chrf++")) snprintf(out, n, "chrF++ (0-100, higher is better)");
    else if (!strcmp(fg->kind, "meteor")) snprintf(out, n, "METEOR (0-1, higher is better)");
    else if (!strcmp(fg->kind, "top1")) snprintf(out, n, "top-1 agreement (fraction of tokens)");
    else if (!strcmp(fg->kind, "kl")) snprintf(out, n, "KL, nats per token (%slower is better)", scale);
    else if (!strcmp(fg->kind, "acc") || !strcmp(fg->kind, "acc_norm"))
        snprintf(out, n, "%s (0-1, ± standard error, higher is better)", fg->kind);
    else if (!strcmp(fg->kind, "perplexity")) snprintf(out, n, "target perplexity (%slower is better)", scale);
    else snprintf(out, n, "%s", fg->kind);
}

static const char *kind_title(const char *kind) {
    if (!strcmp(kind, "ppl")) return "Perplexity";
    if (!strcmp(kind, "chrf")) return "chrF";
    if (!strcmp(kind, "chrf++")) return "chrF++";
    if (!strcmp(kind, "meteor")) return "METEOR";
    if (!strcmp(kind, "top1")) return "Top-1 agreement";
    if (!strcmp(kind, "kl")) return "KL divergence";
    if (!strcmp(kind, "acc")) return "Zero-shot accuracy";
    if (!strcmp(kind, "acc_norm")) return "Zero-shot accuracy (length-normalized)";
    if (!strcmp(kind, "perplexity")) return "Task perplexity";
    return kind;
}

static void title_of(const Figure *fg, char *out, size_t n) {
    const char *vs = !strcmp(fg->against, "-") ? "" : !strcmp(fg->against, "baseline") ? ", vs unquantized outputs"
                                                                                       : ", vs references";
    snprintf(out, n, "%s (%s%s) vs %s", kind_title(fg->kind), fg->dataset, vs, X_WHAT[fg->x]);
}

/* Byte unit so that numbers on the axis stay readable. */
static double byte_unit(double max_bytes, const char **name) {
    if (max_bytes >= 1073741824.0) { *name = "GiB"; return 1073741824.0; }
    if (max_bytes >= 1048576.0) { *name = "MiB"; return 1048576.0; }
    *name = "KiB";
    return 1024.0;
}

/* ---- building the series -------------------------------------------------------------------------- */

static int pt_cmp(const void *pa, const void *pb) {
    const Pt *a = pa, *b = pb;
    return a->x < b->x ? -1 : a->x > b->x ? 1 : a->y < b->y ? -1 : a->y > b->y ? 1 : 0;
}

static int series_add(Series **ss, int *ns, const char *label, int color, int variant, Pt p) {
    int i = 0;
    while (i < *ns && strcmp((*ss)[i].label, label)) i++;
    if (i == *ns) {
        Series *g = realloc(*ss, (size_t)(*ns + 1) * sizeof *g);
        if (!g) return -1;
        *ss = g;
        memset(&g[i], 0, sizeof g[i]);
        snprintf(g[i].label, sizeof g[i].label, "%s", label);
        g[i].color = color;
        g[i].variant = variant;
        (*ns)++;
    }
    Series *s = &(*ss)[i];
    if (qb_grow((void **)&s->pts, &s->cap, (size_t)s->n + 1, sizeof *s->pts)) return -1;
    s->pts[s->n++] = p;
    return 0;
}

/* Pareto front: the points no other point beats on both size (x, smaller is better; speed: larger is
 * better, x_higher_better) and accuracy. Sorted by x, a point is on the front when it is strictly better
 * than every point before it. */
static int pareto(const Series *ss, int ns, int lower_better, int x_higher_better, Pt **out) {
    int total = 0;
    for (int i = 0; i < ns; i++) total += ss[i].n;
    Pt *all = malloc((size_t)(total ? total : 1) * sizeof *all);
    if (!all) return -1;
    int k = 0;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < ss[i].n; j++) all[k++] = ss[i].pts[j];
    /* For higher-is-better, sort ties best-first by flipping y. */
    if (!lower_better)
        for (int i = 0; i < total; i++) all[i].y = -all[i].y;
    if (x_higher_better)
        for (int i = 0; i < total; i++) all[i].x = -all[i].x;
    qsort(all, (size_t)total, sizeof *all, pt_cmp);
    int nf = 0;
    double best = INFINITY;
    for (int i = 0; i < total; i++)
        if (all[i].y < best) {
            best = all[i].y;
            all[nf++] = all[i];
        }
    if (!lower_better)
        for (int i = 0; i < nf; i++) all[i].y = -all[i].y;
    if (x_higher_better)
        for (int i = 0; i < nf; i++) all[i].x = -all[i].x;
    *out = all;
    return nf;
}

/* Whether baseline i is drawn in figure fg: same metric, dataset and against, a usable value, and
 * the first such row of its model (a second signature of the same model would draw twice). */
static int baseline_drawn(const Figure *fg, const StoreBaselineRow *bl, int i) {
    const StoreBaselineRow *b = &bl[i];
    (void)bl;
    (void)i;
    return !strcmp(b->m.kind, fg->kind) && !strcmp(b->m.dataset, fg->dataset) && !strcmp(b->m.against, fg->against) &&
           !strcmp(b->m.signature, fg->signature) && isfinite(b->m.value) &&
           (strcmp(fg->kind, "ppl") || b->m.value > 0);
}

/* Log-axis tics: gnuplot labels only whole decades, so a perplexity range inside one decade would
 * show no numbers at all. Round numbers instead (1 2 5, then 1 1.5 2 3 5 7, then every mantissa
 * of 1 1.2 1.5 2 2.5 3 4 5 6 7 8 per decade): the sparsest set that puts 4 or more tics in range. */
static void log_tics(FILE *f, double lo, double hi) {
    if (!(lo > 0) || !(hi > lo) || hi / lo > 1000) return; /* several decades: gnuplot's own */
    static const double SETS[3][11] = {{1, 2, 5}, {1, 1.5, 2, 3, 5, 7}, {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8}};
    static const int SET_N[3] = {3, 6, 11};
    double tics[64];
    int nt = 0;
    for (int set = 0; set < 3; set++) {
        nt = 0;
        for (int e = (int)floor(log10(lo)); e <= (int)ceil(log10(hi)) && nt < 64; e++)
            for (int k = 0; k < SET_N[set] && nt < 64; k++) {
                double v = SETS[set][k] * pow(10, e);
                if (v >= lo && v <= hi) tics[nt++] = v;
            }
        if (nt >= 4) break;
    }
    if (nt < 2) return; /* gnuplot's own then */
    fputs("set ytics (", f);
    for (int i = 0; i < nt; i++) fprintf(f, "%s%.3g", i ? ", " : "", tics[i]);
    fputs(")\nset mytics 1\n", f);
}

/* ---- styles ---------------------------------------------------------------------------------------- */

/* Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
 * deficiency. Known methods keep their colour in every figure; yellow is left out (unreadable on
 * white). */
static int method_color(const char *method) {
    static const struct { const char *m; int c; } KNOWN[] = {
        {"rtn", 0xE69F00}, {"gptq", 0x0072B2}, {"gptqt", 0x009E73}, {"rtnt", 0xCC79A7}, {"bcq", 0xD55E00},
    };
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
        if (!strcmp(method, KNOWN[i].m)) return KNOWN[i].c;
    unsigned h = 0;
    for (const char *p = method; *p; p++) h = h * 31u + (unsigned char)*p;
    static const int OTHER[] = {0x56B4E9, 0x000000, 0x999999};
    return OTHER[h % 3];
}

/* Marker and dash per variant: filled circle, square, triangle, inverted triangle, diamond,
 * pentagon; solid, dashed, dash-dot, dotted, long dash. */
static const int VARIANT_PT[] = {7, 5, 9, 11, 13, 15};
static const int VARIANT_DT[] = {1, 2, 4, 3, 5};

typedef struct {
    char (*names)[64];
    int n;
} Variants;

static void variant_name(const StoreRunRow *r, char *out, size_t n) {
    char group[24];
    if (r->group_size > 0) snprintf(group, sizeof group, "g%d", r->group_size);
    else snprintf(group, sizeof group, "per-row");
    snprintf(out, n, "%s%s%s%s", group, r->act_order ? " act-order" : "", r->sym ? " sym" : "",
             r->static_groups ? " static" : "");
}

static int variant_index(const Variants *v, const char *name) {
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->names[i], name)) return i;
    return 0;
}

/* "stories260K" from ".../stories260K.bin"; a directory's own name for an HF folder. */
static void model_name(const char *path, char *out, size_t n) {
    const char *p = path;
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') len--;
    const char *slash = NULL;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '/') slash = p + i;
    const char *b = slash ? slash + 1 : p;
    size_t bl = len - (size_t)(b - p);
    const char *dot = NULL;
    for (size_t i = 0; i < bl; i++)
        if (b[i] == '.') dot = b + i;
    if (dot && dot > b) bl = (size_t)(dot - b);
    snprintf(out, n, "%.*s", (int)bl, b);
}

/* What the metric can take: the y range never goes past it. */
static void metric_bounds(const char *kind, double *lo, double *hi) {
    *lo = -INFINITY;
    *hi = INFINITY;
    if (!strcmp(kind, "top1") || !strcmp(kind, "meteor") || !strcmp(kind, "acc") || !strcmp(kind, "acc_norm")) *lo = 0, *hi = 1;
    else if (!strcmp(kind, "chrf") || !strcmp(kind, "chrf++")) *lo = 0, *hi = 100;
    else if (!strcmp(kind, "kl")) *lo = 0;
    else if (!strcmp(kind, "ppl") || !strcmp(kind, "perplexity")) *lo = 1;
}

typedef struct {
    const char *term, *ext;
} Term;

/* ---- one figure ------------------------------------------------------------------------------------ */

static int write_figure(const char *dir, const Figure *fg, const StoreRunRow *runs, int nr, const StoreBaselineRow *bl,
                        int nb, const Variants *vars, const Term *terms, int nterms, PlotFiles *files,
                        char err[QB_ERRLEN]) {
    Series *ss = NULL;
    int ns = 0, rc = -1;
    Pt *front = NULL;
    FILE *f = NULL;
    double max_bytes = 0, y3_hi = -INFINITY; /* y3_hi: the highest point of >= 3 bits (perplexity cut) */
    char model[128] = "", path[1500];
    int n_models = 0;
    for (int i = 0; i < nr; i++) {
        const StoreRunRow *r = &runs[i];
        const StoreMetricRow *m = fig_metric(r, fg);
        if (!m || !isfinite(m->value) || !isfinite(fig_x(r, fg))) continue;
        if (!strcmp(fg->kind, "ppl") && m->value <= 0) continue; /* cannot sit on a log axis */
        char vname[64], label[96], mn[128];
        variant_name(r, vname, sizeof vname);
        int several = 0; /* points of more than one experiment: each keeps its own series */
        for (int j = 0; j < nr && !several; j++) several = strcmp(runs[j].experiment, r->experiment) && fig_metric(&runs[j], fg);
        snprintf(label, sizeof label, "%.30s%s%s %s", several ? r->experiment : "", several ? ": " : "", r->method, vname);
        if (r->bits == 0) /* a `models:` entry ("gguf:Q4_K_M"): one series per stored format */
            snprintf(label, sizeof label, "%.*s", (int)strcspn(r->method, ":"), r->method);
        model_name(r->model_path && *r->model_path ? r->model_path : r->model_sha256, mn, sizeof mn);
        if (!n_models || strcmp(mn, model)) {
            if (n_models == 0) snprintf(model, sizeof model, "%s", mn);
            n_models += !n_models || strcmp(mn, model) != 0;
        }
        Pt p = {fig_x(r, fg), m->value, (double)r->packed_bytes,
                results_metric_se(m)};
        if ((double)r->packed_bytes > max_bytes) max_bytes = (double)r->packed_bytes;
        if (r->bits >= 3 || (r->bits == 0 && r->bits_per_weight >= 3)) /* a `models:` entry by its stored bits */
            y3_hi = fmax(y3_hi, m->value + (isnan(p.se) ? 0 : p.se));
        if (series_add(&ss, &ns, label, method_color(r->method), variant_index(vars, vname), p)) goto oom;
    }
    if (ns == 0) {
        rc = 0; /* nothing to draw for this figure */
        goto done;
    }
    const char *unit_name = "";
    double unit = fg->x == X_BYTES ? byte_unit(max_bytes, &unit_name) : 1.0;
    for (int i = 0; i < ns; i++) {
        for (int j = 0; j < ss[i].n; j++) ss[i].pts[j].x /= unit;
        qsort(ss[i].pts, (size_t)ss[i].n, sizeof(Pt), pt_cmp);
    }
    int nf = pareto(ss, ns, lower_is_better(fg->kind), fg->x == X_DECODE, &front);
    if (nf < 0) goto oom;

    /* the y range: the data (error bars and baselines included) with a margin, kept inside what the
     * metric can take; perplexity cut above the >= 3-bit points */
    double ylo = INFINITY, yhi = -INFINITY, blo, bhi;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < ss[i].n; j++) {
            const Pt *q = &ss[i].pts[j];
            double e = isnan(q->se) ? 0 : q->se;
            ylo = fmin(ylo, q->y - e);
            yhi = fmax(yhi, q->y + e);
        }
    for (int i = 0; i < nb; i++)
        if (baseline_drawn(fg, bl, i)) ylo = fmin(ylo, bl[i].m.value), yhi = fmax(yhi, bl[i].m.value);
    int is_ppl = !strcmp(fg->kind, "ppl"), clipped = 0;
    double ycut = INFINITY;
    if (is_ppl && isfinite(y3_hi) && yhi > y3_hi * 1.1) {
        ycut = y3_hi * 1.06; /* off-scale points are drawn here, just under the top edge */
        yhi = ycut * 1.02;
        clipped = 1;
    }
    metric_bounds(fg->kind, &blo, &bhi);
    /* perplexity is exp(mean NLL): log shows NLL steps evenly; KL spanning decades (2 to 8 bits)
     * is only readable on a log axis */
    int logy = ylo > 0 && ((is_ppl && yhi / ylo > 1.5) || (!strcmp(fg->kind, "kl") && yhi / ylo > 100) ||
                           (!strcmp(fg->kind, "perplexity") && yhi / ylo > 1.5));
    if (logy) {
        if (!clipped) yhi *= 1.04;
        ylo /= 1.04;
    } else {
        double pad = (yhi - ylo) * 0.06;
        if (!(pad > 0)) pad = fabs(yhi) * 0.02 + 1e-3;
        if (!clipped) yhi += pad;
        ylo -= pad;
    }
    ylo = fmax(ylo, blo);
    yhi = fmin(yhi, bhi);

    char ds[200], fig[300];
    safe_name(fg->dataset, ds, sizeof ds);
    char kind[32];
    safe_name(fg->kind, kind, sizeof kind);
    snprintf(fig, sizeof fig, "%s_vs_%s__%s%s%s", kind, X_NAME[fg->x], ds,
             strcmp(fg->against, "-") ? "__vs_" : "", strcmp(fg->against, "-") ? fg->against : "");
    if (fg->tag) snprintf(fig + strlen(fig), sizeof fig - strlen(fig), "__s%d", fg->tag);

    /* data */
    snprintf(path, sizeof path, "%s/%s.dat", dir, fig);
    if (!(f = fopen(path, "w"))) goto io;
    fprintf(f, "# qbench plot data: %s vs %s. One index per series (blank-line pairs separate them),\n"
               "# then the Pareto front, then the points above the y cut (drawn on the edge).\n"
               "# Columns: x y packed_bytes y_low y_high (y -/+ standard error; y y when none)\n",
            fg->kind, X_WHAT[fg->x]);
    int any_se = 0;
    for (int i = 0; i <= ns; i++) {
        const Pt *pts = i < ns ? ss[i].pts : front;
        int n = i < ns ? ss[i].n : nf;
        fprintf(f, "# index %d: %s\n", i, i < ns ? ss[i].label : "Pareto front");
        for (int j = 0; j < n; j++) {
            double e = isnan(pts[j].se) ? 0 : pts[j].se;
            any_se |= e > 0;
            fprintf(f, "%.17g %.17g %.0f %.17g %.17g\n", pts[j].x, pts[j].y, pts[j].bytes, pts[j].y - e, pts[j].y + e);
        }
        fputs("\n\n", f);
    }
    fprintf(f, "# index %d: above the y cut: x y_edge colour value\n", ns + 1);
    int n_off = 0;
    Pt *off = NULL;
    int *off_color = NULL;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < ss[i].n; j++) n_off += ss[i].pts[j].y > ycut;
    if (n_off) {
        off = malloc((size_t)n_off * sizeof *off);
        off_color = malloc((size_t)n_off * sizeof *off_color);
        if (!off || !off_color) {
            free(off);
            free(off_color);
            goto oom;
        }
        int k = 0;
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < ss[i].n; j++)
                if (ss[i].pts[j].y > ycut) off[k] = ss[i].pts[j], off[k].bytes = ss[i].color, k++;
        qsort(off, (size_t)n_off, sizeof *off, pt_cmp);
        for (int i = 0; i < n_off; i++)
            fprintf(f, "%.17g %.17g %d %.3g\n", off[i].x, ycut, (int)off[i].bytes, off[i].y);
        /* the values as vertical labels hanging under the edge; points closer in x than a line of
         * text share one label ("487/271") instead of printing over each other */
        double xmin = INFINITY, xmax = -INFINITY;
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < ss[i].n; j++) xmin = fmin(xmin, ss[i].pts[j].x), xmax = fmax(xmax, ss[i].pts[j].x);
        double near = (xmax - xmin) * 0.018;
        fprintf(f, "\n\n# index %d: labels of the points above the y cut: x y text\n", ns + 2);
        double ylab = logy ? exp(log(ycut) - 0.015 * (log(yhi) - log(ylo))) : ycut - 0.015 * (yhi - ylo);
        for (int i = 0; i < n_off;) {
            int j = i;
            double xs = 0;
            char text[256] = "";
            while (j < n_off && (j == i || off[j].x - off[i].x < near)) {
                size_t l = strlen(text);
                snprintf(text + l, sizeof text - l, "%s%.3g", l ? "/" : "", off[j].y);
                xs += off[j].x;
                j++;
            }
            fprintf(f, "%.17g %.17g \"%s\"\n", xs / (j - i), ylab, text);
            i = j;
        }
        free(off);
        free(off_color);
    }
    if (!n_off) fputs("nan nan 0 nan\n\n\nnan nan \"\"\n", f); /* an empty index is an error to gnuplot */
    fputs("\n\n", f);
    if (fclose(f)) { f = NULL; goto io; }
    f = NULL;
    if (add_path(files, path)) goto oom;

    /* script */
    snprintf(path, sizeof path, "%s/%s.gp", dir, fig);
    if (!(f = fopen(path, "w"))) goto io;
    char title[900], ylab[700], xlab[200], what[700];
    title_of(fg, what, sizeof what);
    if (n_models > 1) snprintf(title, sizeof title, "%d models: %s", n_models, what);
    else snprintf(title, sizeof title, "%s: %s", model, what);
    y_label(fg, logy, ylab, sizeof ylab);
    if (fg->x == X_BYTES) snprintf(xlab, sizeof xlab, "packed size of the quantized layers (%s)", unit_name);
    else if (fg->x == X_DECODE) snprintf(xlab, sizeof xlab, "decode tokens/s of the model as stored (this machine; faster to the right)");
    else snprintf(xlab, sizeof xlab, "bits per weight (including scales and zeros)");
    fprintf(f, "# qbench plot: %s\n# Redraw after editing: cd into this directory, then `gnuplot %s.gp`.\n"
               "# Data: %s.dat (one index per series, then the Pareto front, then the off-scale points).\n",
            title, fig, fig);
    fputs("set encoding utf8\nset title ", f);
    gp_str(f, title);
    fputs("\nset xlabel ", f);
    gp_str(f, xlab);
    fputs("\nset ylabel ", f);
    gp_str(f, ylab);
    int entries = 1 + (n_off > 0); /* Pareto front, off scale */
    for (int i = 0; i < nb; i++) entries += baseline_drawn(fg, bl, i);
    for (int i = 0; i < ns; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = ss[j].color == ss[i].color;
        entries += !seen;
    }
    for (int v = 0; v < vars->n; v++) {
        int used = 0;
        for (int i = 0; i < ns && !used; i++) used = ss[i].variant == v;
        entries += used;
    }
    int legend_rows = (entries + 1) / 2; /* at least two columns fit even at paper size */
    fprintf(f, "\nset grid lc rgb '#dddddd'\nset border lw 1\n"
               /* the legend in a band under the x label, no width taken from the plot; the band is
                * sized in character heights so it fits at every terminal's font size */
               "set bmargin %d\nset key at screen 0.5, screen 0.005 center bottom horizontal Left reverse "
               "maxcols 3 samplen 2 spacing 1.0 width -1\n"
               "set autoscale xfix\nset offsets graph 0.03, graph 0.03, 0, 0\n", legend_rows + 4);
    if (logy) fputs("set logscale y\nset format y '%g'\n", f);
    fprintf(f, "set yrange [%.10g:%.10g]\n", ylo, yhi);
    if (logy) log_tics(f, ylo, yhi);
    fprintf(f, "set terminal %s\nset output '%s.%s'\nplot \\\n", terms[0].term, fig, terms[0].ext);
    /* legend: methods (colour), then variants (marker and dash) */
    for (int i = 0; i < ns; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = ss[j].color == ss[i].color;
        if (seen) continue;
        char meth[96];
        snprintf(meth, sizeof meth, "%.*s", (int)strcspn(ss[i].label, " "), ss[i].label);
        fprintf(f, "  NaN with lines lw 4 lc rgb '#%06X' title ", ss[i].color);
        gp_str(f, meth);
        fputs(", \\\n", f);
    }
    /* a series joins its points in order of bits; speed does not follow bits, so against speed the
     * points stand alone and only the Pareto front is a line */
    const char *series_style = fg->x == X_DECODE ? "points" : "linespoints";
    for (int v = 0; v < vars->n; v++) {
        int used = 0;
        for (int i = 0; i < ns && !used; i++) used = ss[i].variant == v;
        if (!used) continue;
        fprintf(f, "  NaN with %s lw 1.6 lc rgb 'gray20' pt %d ps 1.5 dt %d title ", series_style, VARIANT_PT[v % 6],
                VARIANT_DT[v % 5]);
        gp_str(f, vars->names[v]);
        fputs(", \\\n", f);
    }
    /* the series: colour = method, marker and dash = variant; the legend below lists each once */
    for (int i = 0; i < ns && any_se; i++) /* error bars first: the markers are drawn over them */
        fprintf(f, "  '%s.dat' index %d using 1:2:4:5 with yerrorbars lw 1 lc rgb '#%06X' pt 7 ps 0 notitle, \\\n",
                fig, i, ss[i].color);
    for (int i = 0; i < ns; i++) {
        int v = ss[i].variant;
        fprintf(f, "  '%s.dat' index %d using 1:2 with %s lw 1.6 lc rgb '#%06X' pt %d ps 1.5 dt %d notitle, \\\n",
                fig, i, series_style, ss[i].color, VARIANT_PT[v % 6], VARIANT_DT[v % 5]);
    }
    fprintf(f, "  '%s.dat' index %d using 1:2 with linespoints dt 2 lw 1 lc rgb 'black' pt 6 ps 1.9 title "
               "'Pareto front'", fig, ns);
    /* the unquantized baseline(s): one horizontal line per model */
    int nbl = 0;
    for (int i = 0; i < nb; i++) {
        if (!baseline_drawn(fg, bl, i)) continue;
        const StoreBaselineRow *b = &bl[i];
        fprintf(f, ", \\\n  %.17g with lines dt 3 lw 2 lc rgb 'gray40' title 'unquantized %.4g%s%.8s'", b->m.value,
                b->m.value, nbl ? " " : "", nbl ? b->model_sha256 : "");
        nbl++;
    }
    if (n_off)
        fprintf(f, ", \\\n  '%s.dat' index %d using 1:2:3 with points pt 9 ps 1.4 lc rgb variable notitle, \\\n"
                   "  NaN with points pt 9 ps 1.4 lc rgb 'gray20' title 'off scale (value)', \\\n  '%s.dat' index %d using 1:2:3 with labels rotate by 90 right font ',8' "
                   "notitle", fig, ns + 1, fig, ns + 2);
    fputs("\n", f);
    /* the first format is drawn by `plot`, each other one by a terminal and a replot */
    fputs("unset output\n", f);
    for (int t = 1; t < nterms; t++)
        fprintf(f, "set terminal %s\nset output '%s.%s'\nreplot\nunset output\n", terms[t].term, fig, terms[t].ext);
    if (fclose(f)) { f = NULL; goto io; }
    f = NULL;
    if (add_path(files, path)) goto oom;

    /* draw: run in the output directory so the script's relative names work there too */
    char qdir[2100], qgp[700], cmd[3000], first[400];
    sh_quote(qdir, sizeof qdir, dir);
    char gpname[400];
    snprintf(gpname, sizeof gpname, "%s.gp", fig);
    sh_quote(qgp, sizeof qgp, gpname);
    snprintf(cmd, sizeof cmd, "cd %s && gnuplot %s 2>&1", qdir, qgp);
    int st = run_capture(cmd, first, sizeof first);
    if (st != 0) {
        snprintf(err, QB_ERRLEN, "plot: gnuplot failed on %.250s/%.100s.gp (status %d): %.80s", dir, fig, st, first);
        goto done;
    }
    for (int t = 0; t < nterms; t++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, fig, terms[t].ext);
        struct stat sb;
        if (stat(path, &sb) != 0 || sb.st_size == 0) {
            snprintf(err, QB_ERRLEN, "plot: gnuplot wrote no %.400s", path);
            goto done;
        }
        if (add_path(files, path)) goto oom;
    }
    rc = 0;
    goto done;
io:
    snprintf(err, QB_ERRLEN, "plot: cannot write %.400s: %s", path, strerror(errno));
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "plot: out of memory");
done:
    if (f) fclose(f);
    for (int i = 0; i < ns; i++) free(ss[i].pts);
    free(ss);
    free(front);
    return rc;
}

/* ---- all figures ------------------------------------------------------------------------------------ */

static int plotted_kind(const char *k) {
    return !strcmp(k, "ppl") || !strcmp(k, "chrf") || !strcmp(k, "chrf++") || !strcmp(k, "meteor") ||
           !strcmp(k, "top1") || !strcmp(k, "kl") || !strcmp(k, "acc") ||
           !strcmp(k, "acc_norm") || !strcmp(k, "perplexity");
}

int plot_all(Store *s, const char *dir, int formats, PlotFiles *files, char err[QB_ERRLEN]) {
    files->paths = NULL;
    files->n = 0;
    if (!(formats & (PLOT_PNG | PLOT_SVG | PLOT_PDF))) {
        snprintf(err, QB_ERRLEN, "plot: no output format");
        return -1;
    }
    /* pngcairo draws antialiased text; the libgd png terminal is the fallback. PDF needs pdfcairo. */
    char first[400];
    int st = run_capture("gnuplot -e 'set terminal pngcairo' 2>&1", first, sizeof first);
    if (st == 127 || st < 0) {
        snprintf(err, QB_ERRLEN, "plot: cannot run gnuplot (is it installed and on PATH?)");
        return -1;
    }
    int have_cairo = st == 0 && !first[0];
    if ((formats & PLOT_PDF) && !have_cairo) {
        if (formats == PLOT_PDF) {
            snprintf(err, QB_ERRLEN, "plot: this gnuplot has no pdfcairo terminal for PDF output");
            return -1;
        }
        formats &= ~PLOT_PDF; /* the default asks for every format: draw the others */
    }
    Term terms[3];
    int nterms = 0;
    if (formats & PLOT_PNG)
        terms[nterms++] = (Term){have_cairo ? "pngcairo size 1000,720 noenhanced font 'sans,11'"
                                            : "png size 1000,720 noenhanced font 'sans,11'", "png"};
    if (formats & PLOT_SVG) terms[nterms++] = (Term){"svg size 1000,720 dynamic noenhanced font 'sans,11'", "svg"};
    if (formats & PLOT_PDF) terms[nterms++] = (Term){"pdfcairo size 6in,4.5in noenhanced font 'sans,8'", "pdf"};
    if (make_dirs(dir, err)) return -1;

    StoreRunRow *runs = NULL;
    StoreBaselineRow *bl = NULL;
    int nr = 0, nb = 0, rc = -1, nfig = 0;
    Figure *figs = NULL;
    Variants vars = {NULL, 0};
    if (store_load_runs(s, NULL, "done", &runs, &nr, err) || store_load_baselines(s, &bl, &nb, err)) goto done;
    ResultsStale stale;
    if (results_select_current(s, NULL, runs, &nr, &stale, err)) goto done;
    results_print_stale(stderr, "plot", &stale);
    /* the variants of the whole database, so a variant keeps its marker in every figure: per-row
     * first, then by group size, plain before act-order (runs come ordered by group size) */
    vars.names = calloc((size_t)nr + 1, sizeof *vars.names);
    if (!vars.names) {
        snprintf(err, QB_ERRLEN, "plot: out of memory");
        goto done;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nr; i++) {
            if ((runs[i].group_size > 0) != pass) continue;
            char vn[64];
            variant_name(&runs[i], vn, sizeof vn);
            int seen = 0;
            for (int k = 0; k < vars.n && !seen; k++) seen = !strcmp(vars.names[k], vn);
            if (!seen) snprintf(vars.names[vars.n++], 64, "%s", vn);
        }
    for (int a = 1; a < vars.n; a++) /* insertion sort: group size, then name */
        for (int b = a; b > 0; b--) {
            int ga = atoi(vars.names[b - 1] + 1), gb = atoi(vars.names[b] + 1);
            int pa = vars.names[b - 1][0] == 'p', pb = vars.names[b][0] == 'p';
            int swap = pa != pb ? pb : ga != gb ? ga > gb : strcmp(vars.names[b - 1], vars.names[b]) > 0;
            if (!swap) break;
            char t[64];
            memcpy(t, vars.names[b], 64);
            memcpy(vars.names[b], vars.names[b - 1], 64);
            memcpy(vars.names[b - 1], t, 64);
        }
    for (int i = 0; i < nr; i++)
        for (int k = 0; k < runs[i].n_metrics; k++) {
            const StoreMetricRow *m = &runs[i].metrics[k];
            if (!plotted_kind(m->kind)) continue;
            int seen = 0;
            for (int j = 0; j < nfig && !seen; j++)
                seen = !strcmp(figs[j].kind, m->kind) && !strcmp(figs[j].dataset, m->dataset) &&
                       !strcmp(figs[j].against, m->against) && !strcmp(figs[j].signature, m->signature);
            if (seen) continue;
            int tag = 0;
            for (int j = 0; j < nfig; j++)
                if (!strcmp(figs[j].kind, m->kind) && !strcmp(figs[j].dataset, m->dataset) &&
                    !strcmp(figs[j].against, m->against)) {
                    if (!figs[j].tag) figs[j].tag = 1;
                    if (figs[j].tag >= tag) tag = figs[j].tag + 1;
                }
            int add = !strcmp(m->kind, "ppl") ? 2 : 1;
            int speed = 0; /* accuracy against decode speed too, once some point of the metric has a speed */
            for (int j = 0; j < nr && !speed; j++)
                speed = runs[j].speed_threads > 0 && store_run_metric(&runs[j], m->kind, m->dataset, m->against);
            Figure *g = realloc(figs, (size_t)(nfig + add + speed) * sizeof *g);
            if (!g) {
                snprintf(err, QB_ERRLEN, "plot: out of memory");
                goto done;
            }
            figs = g;
            figs[nfig++] = (Figure){m->kind, m->dataset, m->against, m->signature, X_BPW, tag};
            if (add == 2) figs[nfig++] = (Figure){m->kind, m->dataset, m->against, m->signature, X_BYTES, tag};
            if (speed) figs[nfig++] = (Figure){m->kind, m->dataset, m->against, m->signature, X_DECODE, tag};
        }
    if (nfig == 0) {
        snprintf(err, QB_ERRLEN, "plot: no finished point with a perplexity, chrF, METEOR, top-1 or KL metric");
        goto done;
    }
    for (int i = 0; i < nfig; i++)
        if (write_figure(dir, &figs[i], runs, nr, bl, nb, &vars, terms, nterms, files, err)) goto done;
    rc = 0;
done:
    free(vars.names);
    free(figs);
    store_free_runs(runs, nr);
    store_free_baselines(bl, nb);
    return rc;
}
