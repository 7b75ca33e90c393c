/* plot.c — `qbench plot DB`: accuracy-vs-size figures drawn by gnuplot. For every perplexity
 * dataset: perplexity (log y) against bits per weight and against packed bytes; for every
 * generation task: chrF, chrF++ and METEOR against bits per weight (top-1 agreement and KL too
 * when logged). One series per method × group size (× act-order / sym / static groups), the
 * unquantized baseline as a horizontal line, the Pareto front (smallest size for the best
 * accuracy) drawn over the points.
 *
 * Each figure FIG is four files in the output directory: FIG.dat (gnuplot data: one index per
 * series, the Pareto front last), FIG.gp (the script; `cd DIR && gnuplot FIG.gp` redraws it, so
 * a figure can be restyled by hand), FIG.png and/or FIG.svg. */
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
} Pt;

typedef struct {
    char label[96];
    Pt *pts;
    int n, cap;
} Series;

typedef struct {
    const char *kind, *dataset, *against;
    int vs_bytes;
} Figure;

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

static int lower_is_better(const char *kind) { return !strcmp(kind, "ppl") || !strcmp(kind, "kl"); }

static void y_label(const Figure *fg, char *out, size_t n) {
    const char *vs = !strcmp(fg->against, "baseline") ? " vs unquantized outputs"
                     : !strcmp(fg->against, "reference") ? " vs references" : "";
    if (!strcmp(fg->kind, "ppl")) snprintf(out, n, "perplexity on %s (log scale, lower is better)", fg->dataset);
    else if (!strcmp(fg->kind, "chrf")) snprintf(out, n, "chrF%s (0-100, higher is better)", vs);
    else if (!strcmp(fg->kind, "chrf++")) snprintf(out, n, "chrF++%s (0-100, higher is better)", vs);
    else if (!strcmp(fg->kind, "meteor")) snprintf(out, n, "METEOR%s (0-1, higher is better)", vs);
    else if (!strcmp(fg->kind, "top1")) snprintf(out, n, "top-1 agreement with unquantized (fraction of tokens)");
    else if (!strcmp(fg->kind, "kl")) snprintf(out, n, "KL(unquantized || quantized) (nats per token, lower is better)");
    else snprintf(out, n, "%s", fg->kind);
}

static const char *kind_title(const char *kind) {
    if (!strcmp(kind, "ppl")) return "Perplexity";
    if (!strcmp(kind, "chrf")) return "chrF";
    if (!strcmp(kind, "chrf++")) return "chrF++";
    if (!strcmp(kind, "meteor")) return "METEOR";
    if (!strcmp(kind, "top1")) return "Top-1 agreement";
    if (!strcmp(kind, "kl")) return "KL divergence";
    return kind;
}

static void title_of(const Figure *fg, char *out, size_t n) {
    const char *vs = !strcmp(fg->against, "-") ? "" : !strcmp(fg->against, "baseline") ? ", vs unquantized outputs"
                                                                                       : ", vs references";
    snprintf(out, n, "%s (%s%s) vs %s", kind_title(fg->kind), fg->dataset, vs,
             fg->vs_bytes ? "packed size" : "bits per weight");
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

static int series_add(Series **ss, int *ns, const char *label, Pt p) {
    int i = 0;
    while (i < *ns && strcmp((*ss)[i].label, label)) i++;
    if (i == *ns) {
        Series *g = realloc(*ss, (size_t)(*ns + 1) * sizeof *g);
        if (!g) return -1;
        *ss = g;
        memset(&g[i], 0, sizeof g[i]);
        snprintf(g[i].label, sizeof g[i].label, "%s", label);
        (*ns)++;
    }
    Series *s = &(*ss)[i];
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        Pt *g = realloc(s->pts, (size_t)s->cap * sizeof *g);
        if (!g) return -1;
        s->pts = g;
    }
    s->pts[s->n++] = p;
    return 0;
}

/* Pareto front: the points no other point beats on both size (x, smaller is better) and accuracy.
 * Sorted by x, a point is on the front when it is strictly better than every point before it. */
static int pareto(const Series *ss, int ns, int lower_better, Pt **out) {
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
    *out = all;
    return nf;
}

/* Whether baseline i is drawn in figure fg: same metric, dataset and against, a usable value, and
 * the first such row of its model (a second signature of the same model would draw twice). */
static int baseline_drawn(const Figure *fg, const StoreBaselineRow *bl, int i) {
    const StoreBaselineRow *b = &bl[i];
    if (strcmp(b->m.kind, fg->kind) || strcmp(b->m.dataset, fg->dataset) || strcmp(b->m.against, fg->against) ||
        !isfinite(b->m.value) || (!strcmp(fg->kind, "ppl") && b->m.value <= 0))
        return 0;
    for (int j = 0; j < i; j++)
        if (!strcmp(bl[j].model_sha256, b->model_sha256) && !strcmp(bl[j].m.kind, fg->kind) &&
            !strcmp(bl[j].m.dataset, fg->dataset) && !strcmp(bl[j].m.against, fg->against))
            return 0;
    return 1;
}

/* Log-axis tics: gnuplot labels only whole decades, so a perplexity range inside one decade would
 * show no numbers at all. Six geometrically spaced values rounded to 3 digits instead. */
static void log_tics(FILE *f, double lo, double hi) {
    if (!(lo > 0) || !(hi > lo) || hi / lo >= 100) return;
    fputs("set ytics (", f);
    double prev = 0;
    int first = 1;
    for (int i = 0; i < 6; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.3g", lo * pow(hi / lo, i / 5.0));
        double v = strtod(buf, NULL);
        if (v == prev) continue;
        fprintf(f, "%s%s", first ? "" : ", ", buf);
        prev = v;
        first = 0;
    }
    fputs(")\nset mytics 1\n", f);
}

/* ---- one figure ------------------------------------------------------------------------------------ */

static int write_figure(const char *dir, const Figure *fg, const StoreRunRow *runs, int nr, const StoreBaselineRow *bl,
                        int nb, int formats, const char *png_term, PlotFiles *files, char err[QB_ERRLEN]) {
    Series *ss = NULL;
    int ns = 0, rc = -1;
    Pt *front = NULL;
    FILE *f = NULL;
    double max_bytes = 0;
    for (int i = 0; i < nr; i++) {
        const StoreRunRow *r = &runs[i];
        const StoreMetricRow *m = store_run_metric(r, fg->kind, fg->dataset, fg->against);
        if (!m || !isfinite(m->value) || (fg->vs_bytes ? r->packed_bytes <= 0 : !isfinite(r->bits_per_weight))) continue;
        if (!strcmp(fg->kind, "ppl") && m->value <= 0) continue; /* cannot sit on a log axis */
        char label[96];
        char group[24];
        if (r->group_size > 0) snprintf(group, sizeof group, "g%d", r->group_size);
        else snprintf(group, sizeof group, "per-row");
        snprintf(label, sizeof label, "%s %s%s%s%s", r->method, group, r->act_order ? " act-order" : "",
                 r->sym ? " sym" : "", r->static_groups ? " static" : "");
        Pt p = {fg->vs_bytes ? (double)r->packed_bytes : r->bits_per_weight, m->value, (double)r->packed_bytes};
        if ((double)r->packed_bytes > max_bytes) max_bytes = (double)r->packed_bytes;
        if (series_add(&ss, &ns, label, p)) goto oom;
    }
    if (ns == 0) {
        rc = 0; /* nothing to draw for this figure */
        goto done;
    }
    const char *unit_name = "";
    double unit = fg->vs_bytes ? byte_unit(max_bytes, &unit_name) : 1.0;
    for (int i = 0; i < ns; i++) {
        for (int j = 0; j < ss[i].n; j++) ss[i].pts[j].x /= unit;
        qsort(ss[i].pts, (size_t)ss[i].n, sizeof(Pt), pt_cmp);
    }
    int nf = pareto(ss, ns, lower_is_better(fg->kind), &front);
    if (nf < 0) goto oom;

    char ds[200], fig[300], path[1500];
    safe_name(fg->dataset, ds, sizeof ds);
    char kind[32];
    safe_name(fg->kind, kind, sizeof kind);
    snprintf(fig, sizeof fig, "%s_vs_%s__%s%s%s", kind, fg->vs_bytes ? "bytes" : "bpw", ds,
             strcmp(fg->against, "-") ? "__vs_" : "", strcmp(fg->against, "-") ? fg->against : "");

    /* data */
    snprintf(path, sizeof path, "%s/%s.dat", dir, fig);
    if (!(f = fopen(path, "w"))) goto io;
    fprintf(f, "# qbench plot data: %s vs %s. One index per series (blank-line pairs separate them),\n"
               "# the Pareto front last. Columns: x y packed_bytes\n",
            fg->kind, fg->vs_bytes ? "packed size" : "bits per weight");
    for (int i = 0; i <= ns; i++) {
        const Pt *pts = i < ns ? ss[i].pts : front;
        int n = i < ns ? ss[i].n : nf;
        fprintf(f, "# index %d: %s\n", i, i < ns ? ss[i].label : "Pareto front");
        for (int j = 0; j < n; j++) fprintf(f, "%.17g %.17g %.0f\n", pts[j].x, pts[j].y, pts[j].bytes);
        fputs("\n\n", f);
    }
    if (fclose(f)) { f = NULL; goto io; }
    f = NULL;
    if (add_path(files, path)) goto oom;

    /* script */
    snprintf(path, sizeof path, "%s/%s.gp", dir, fig);
    if (!(f = fopen(path, "w"))) goto io;
    char title[700], ylab[700], xlab[200];
    title_of(fg, title, sizeof title);
    y_label(fg, ylab, sizeof ylab);
    if (fg->vs_bytes) snprintf(xlab, sizeof xlab, "packed size of the quantized layers (%s)", unit_name);
    else snprintf(xlab, sizeof xlab, "bits per weight (including scales and zeros)");
    fprintf(f, "# qbench plot: %s\n# Redraw after editing: cd into this directory, then `gnuplot %s.gp`.\n"
               "# Data: %s.dat (one index per series, the Pareto front last).\n",
            title, fig, fig);
    fputs("set encoding utf8\nset title ", f);
    gp_str(f, title);
    fputs("\nset xlabel ", f);
    gp_str(f, xlab);
    fputs("\nset ylabel ", f);
    gp_str(f, ylab);
    /* offsets keep the baseline line and extreme points off the frame */
    fprintf(f, "\nset grid\nset key outside right top\nset offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n%s",
            /* yfix: a log axis autoscaled to whole decades squashes a 5 % difference flat */
            !strcmp(fg->kind, "ppl") ? "set logscale y\nset autoscale yfix\n" : "");
    if (!strcmp(fg->kind, "ppl")) {
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < ss[i].n; j++) lo = fmin(lo, ss[i].pts[j].y), hi = fmax(hi, ss[i].pts[j].y);
        for (int i = 0; i < nb; i++)
            if (baseline_drawn(fg, bl, i)) lo = fmin(lo, bl[i].m.value), hi = fmax(hi, bl[i].m.value);
        log_tics(f, lo, hi);
    }
    /* The first format is drawn by `plot`; the second by `replot` on the other terminal. */
    int first_svg = !(formats & PLOT_PNG);
    if (first_svg)
        fprintf(f, "set terminal svg size 1000,620 dynamic noenhanced font 'sans,10'\nset output '%s.svg'\n", fig);
    else
        fprintf(f, "set terminal %s size 1000,620 noenhanced font 'sans,10'\nset output '%s.png'\n", png_term, fig);
    fputs("plot \\\n", f);
    for (int i = 0; i < ns; i++) {
        /* filled markers and squares/triangles; the open circle (pt 6) is reserved for the front */
        static const int point_types[] = {7, 5, 9, 11, 13, 15, 4, 8, 10, 12};
        fprintf(f, "  '%s.dat' index %d using 1:2 with linespoints lw 1.5 pt %d ps 1.2 title ", fig, i,
                point_types[i % 10]);
        gp_str(f, ss[i].label);
        fputs(", \\\n", f);
    }
    fprintf(f, "  '%s.dat' index %d using 1:2 with linespoints dt 2 lw 1 lc rgb 'black' pt 6 ps 2.4 title "
               "'Pareto front'", fig, ns);
    /* The unquantized baseline(s): one horizontal line per model. */
    int nbl = 0;
    for (int i = 0; i < nb; i++) {
        if (!baseline_drawn(fg, bl, i)) continue;
        const StoreBaselineRow *b = &bl[i];
        fprintf(f, ", \\\n  %.17g with lines dt 3 lw 2 lc rgb 'gray40' title 'unquantized %.5g%s%.8s'", b->m.value,
                b->m.value, nbl ? " " : "", nbl ? b->model_sha256 : "");
        nbl++;
    }
    fputs("\nunset output\n", f);
    if ((formats & PLOT_PNG) && (formats & PLOT_SVG))
        fprintf(f, "set terminal svg size 1000,620 dynamic noenhanced font 'sans,10'\nset output '%s.svg'\nreplot\n"
                   "unset output\n", fig);
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
    const char *exts[2] = {"png", "svg"};
    for (int k = 0; k < 2; k++) {
        if (!(formats & (k ? PLOT_SVG : PLOT_PNG))) continue;
        snprintf(path, sizeof path, "%s/%s.%s", dir, fig, exts[k]);
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
           !strcmp(k, "top1") || !strcmp(k, "kl");
}

int plot_all(Store *s, const char *dir, int formats, PlotFiles *files, char err[QB_ERRLEN]) {
    files->paths = NULL;
    files->n = 0;
    if (!(formats & (PLOT_PNG | PLOT_SVG))) {
        snprintf(err, QB_ERRLEN, "plot: no output format");
        return -1;
    }
    /* pngcairo draws antialiased text; the libgd png terminal is the fallback. */
    char first[400];
    int st = run_capture("gnuplot -e 'set terminal pngcairo' 2>&1", first, sizeof first);
    if (st == 127 || st < 0) {
        snprintf(err, QB_ERRLEN, "plot: cannot run gnuplot (is it installed and on PATH?)");
        return -1;
    }
    const char *png_term = st == 0 && !first[0] ? "pngcairo" : "png";
    if (make_dirs(dir, err)) return -1;

    StoreRunRow *runs = NULL;
    StoreBaselineRow *bl = NULL;
    int nr = 0, nb = 0, rc = -1, nfig = 0;
    Figure *figs = NULL;
    if (store_load_runs(s, NULL, "done", &runs, &nr, err) || store_load_baselines(s, &bl, &nb, err)) goto done;
    for (int i = 0; i < nr; i++)
        for (int k = 0; k < runs[i].n_metrics; k++) {
            const StoreMetricRow *m = &runs[i].metrics[k];
            if (!plotted_kind(m->kind)) continue;
            int seen = 0;
            for (int j = 0; j < nfig && !seen; j++)
                seen = !strcmp(figs[j].kind, m->kind) && !strcmp(figs[j].dataset, m->dataset) &&
                       !strcmp(figs[j].against, m->against);
            if (seen) continue;
            int add = !strcmp(m->kind, "ppl") ? 2 : 1;
            Figure *g = realloc(figs, (size_t)(nfig + add) * sizeof *g);
            if (!g) {
                snprintf(err, QB_ERRLEN, "plot: out of memory");
                goto done;
            }
            figs = g;
            figs[nfig++] = (Figure){m->kind, m->dataset, m->against, 0};
            if (add == 2) figs[nfig++] = (Figure){m->kind, m->dataset, m->against, 1};
        }
    if (nfig == 0) {
        snprintf(err, QB_ERRLEN, "plot: no finished point with a perplexity, chrF, METEOR, top-1 or KL metric");
        goto done;
    }
    for (int i = 0; i < nfig; i++)
        if (write_figure(dir, &figs[i], runs, nr, bl, nb, formats, png_term, files, err)) goto done;
    rc = 0;
done:
    free(figs);
    store_free_runs(runs, nr);
    store_free_baselines(bl, nb);
    return rc;
}
