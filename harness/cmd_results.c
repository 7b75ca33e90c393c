/* cmd_results.c — the subcommands that read results databases: `merge` (shards into one),
 * `plot` (gnuplot figures), `report` (a table of every point) and `check` (the CI gate: exit 0
 * pass, 1 a threshold failed, 2 could not run). */
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/results.h"
#include "harness/store.h"

/* Opens an existing results database read-only: a command that reads never writes its input. */
static Store *open_existing(const char *cmd, const char *path) {
    char err[QB_ERRLEN];
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "qbench %s: %s: no such results database\n", cmd, path);
        return NULL;
    }
    Store *s = store_open_readonly(path, err);
    if (!s) fprintf(stderr, "qbench %s: %s\n", cmd, err);
    return s;
}

/* 1 if path starts with SQLite's file header. */
static int is_sqlite(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char h[16] = {0};
    size_t n = fread(h, 1, 16, f);
    fclose(f);
    return n == 16 && !memcmp(h, "SQLite format 3", 16);
}

/* `report`/`plot` take a results database or the experiment file that names one: for an
 * experiment, *e is loaded (caller frees) and the database is its output.db. */
static const char *resolve_db(const char *cmd, const char *arg, Experiment **e) {
    *e = NULL;
    if (is_sqlite(arg)) return arg;
    if (access(arg, R_OK) != 0) {
        fprintf(stderr, "qbench %s: %s: no such results database or experiment file\n", cmd, arg);
        return NULL;
    }
    char err[QB_ERRLEN];
    Experiment *x = calloc(1, sizeof *x); /* large: keep it off the stack */
    if (!x) { fprintf(stderr, "qbench %s: out of memory\n", cmd); return NULL; }
    if (config_load(arg, x, err)) {
        fprintf(stderr, "qbench %s: %s is neither a results database nor a valid experiment file: %s\n", cmd, arg, err);
        free(x);
        return NULL;
    }
    *e = x;
    return x->output.db;
}

/* Where `plot DB` draws without -o: the output.plots of the experiment recorded in the database
 * (the latest one whose file still loads and names this database), else plots/ beside the DB. */
static void default_plot_dir(Store *s, const char *db, char *out, size_t n) {
    sqlite3_stmt *st = NULL;
    char rdb[4096], rexp[4096];
    int found = 0;
    if (realpath(db, rdb) &&
        sqlite3_prepare_v2(store_db(s), "SELECT file_path FROM experiments ORDER BY id DESC", -1, &st, NULL) == SQLITE_OK) {
        Experiment *x = calloc(1, sizeof *x);
        while (x && !found && sqlite3_step(st) == SQLITE_ROW) {
            const char *f = (const char *)sqlite3_column_text(st, 0);
            char err[QB_ERRLEN];
            if (!f || config_load(f, x, err)) continue;
            if (realpath(x->output.db, rexp) && !strcmp(rexp, rdb)) {
                snprintf(out, n, "%s", x->output.plots);
                found = 1;
            }
        }
        free(x);
    }
    sqlite3_finalize(st);
    if (found) return;
    const char *slash = strrchr(db, '/');
    if (slash) snprintf(out, n, "%.*s/plots", (int)(slash - db), db);
    else snprintf(out, n, "plots");
}

int cmd_merge(int argc, char **argv) {
    const char *pos[4096];
    int n_pos = 0;
    const CliSpec spec = {"merge", "qbench merge OUT.db IN.db...",
                          "  Copies every finished point and baseline of each IN into OUT (created if needed),\n"
                          "  keeping one copy per point key; a conflicting duplicate keeps the first and warns.\n",
                          NULL, 0, pos, 4096, &n_pos, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (n_pos < 2) { cli_usage(&spec, stderr); return 2; }
    char err[QB_ERRLEN], warn[QB_ERRLEN];
    /* every input is checked before OUT is created: a bad input leaves no empty OUT behind */
    for (int i = 2; i <= n_pos; i++) {
        Store *in = open_existing("merge", pos[i - 1]);
        if (!in) return 2;
        store_close(in);
    }
    Store *out = store_open(pos[0], err);
    if (!out) { fprintf(stderr, "qbench merge: %s\n", err); return 2; }
    int total = 0, total_conflicts = 0;
    for (int i = 2; i <= n_pos; i++) {
        int added = 0, conflicts = 0;
        if (store_merge_from(out, pos[i - 1], &added, &conflicts, warn, err)) {
            fprintf(stderr, "qbench merge: %s\n", err);
            store_close(out);
            return 2;
        }
        if (conflicts) fprintf(stderr, "qbench merge: warning: %s (%d conflict%s)\n", warn, conflicts, conflicts == 1 ? "" : "s");
        fprintf(stderr, "qbench merge: %s: %d point%s added\n", pos[i - 1], added, added == 1 ? "" : "s");
        total += added;
        total_conflicts += conflicts;
    }
    store_close(out);
    printf("%s: %d point%s added from %d database%s, %d conflict%s\n", pos[0], total, total == 1 ? "" : "s", n_pos - 1,
           n_pos - 1 == 1 ? "" : "s", total_conflicts, total_conflicts == 1 ? "" : "s");
    return 0;
}

int cmd_plot(int argc, char **argv) {
    const char *pos[1] = {0}, *dir = NULL, *fmt_s = "all";
    int n_pos = 0;
    const CliOpt opts[] = {
        {"-o", "--out", CLI_STR, &dir, "DIR", "where the figures go", "the experiment's output.plots", 0, 0, NULL, NULL},
        {"--format", NULL, CLI_STR, &fmt_s, "F", "image formats (both = png + svg; all adds pdf)", "all", 0, 0, "png|svg|pdf|both|all", NULL},
    };
    const CliSpec spec = {"plot", "qbench plot DB|EXP.yaml [-o DIR] [--format png|svg|pdf|both|all]",
                          "  Draws accuracy-vs-size figures with gnuplot, each figure's .gp script and .dat data beside\n"
                          "  it, and prints the image paths. Given the experiment file, its output.db and output.plots;\n"
                          "  given a database, the output.plots of the experiment recorded in it (else plots/ beside it).\n",
                          opts, CLI_N(opts), pos, 1, &n_pos, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!n_pos) { cli_usage(&spec, stderr); return 2; }
    int formats = !strcmp(fmt_s, "png") ? PLOT_PNG : !strcmp(fmt_s, "svg") ? PLOT_SVG : !strcmp(fmt_s, "pdf") ? PLOT_PDF
                : !strcmp(fmt_s, "both") ? PLOT_PNG | PLOT_SVG : PLOT_PNG | PLOT_SVG | PLOT_PDF;
    Experiment *e;
    const char *db = resolve_db("plot", pos[0], &e);
    if (!db) return 2;
    char defdir[4096];
    Store *s = open_existing("plot", db);
    if (!s) { free(e); return 2; }
    if (!dir) {
        if (e) snprintf(defdir, sizeof defdir, "%s", e->output.plots);
        else default_plot_dir(s, db, defdir, sizeof defdir);
        dir = defdir;
    }
    char err[QB_ERRLEN];
    PlotFiles files;
    int rc = plot_all(s, dir, formats, &files, err);
    store_close(s);
    for (int i = 0; i < files.n; i++) {
        size_t n = strlen(files.paths[i]);
        /* the images are what people open; the .gp/.dat beside them are for restyling */
        if (n > 4 && (!strcmp(files.paths[i] + n - 4, ".png") || !strcmp(files.paths[i] + n - 4, ".svg") ||
                      !strcmp(files.paths[i] + n - 4, ".pdf")))
            printf("%s\n", files.paths[i]);
    }
    plot_files_free(&files);
    free(e);
    if (rc) { fprintf(stderr, "qbench plot: %s\n", err); return 2; }
    return 0;
}

int cmd_report(int argc, char **argv) {
    const char *pos[1] = {0}, *fmt_s = "markdown", *columns = NULL;
    int n_pos = 0;
    const CliOpt opts[] = {
        {"--format", NULL, CLI_STR, &fmt_s, "F", "table format", "markdown", 0, 0, "markdown|md|csv|json", NULL},
        {"--columns", NULL, CLI_STR, &columns, "LIST", "comma-separated columns to show, in order (--columns help lists "
         "them); 'all' for every one", "markdown: point,bits/w,each metric; csv/json: all", 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"report", "qbench report DB|EXP.yaml [--format markdown|csv|json] [--columns LIST]",
                          "  Prints every point of a results database (given the experiment file, its output.db): the\n"
                          "  unquantized baseline first, then method, bits, group, act-order, bits per weight, bytes and\n"
                          "  each metric (perplexity as value ± standard error).\n",
                          opts, CLI_N(opts), pos, 1, &n_pos, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (!n_pos) { cli_usage(&spec, stderr); return 2; }
    ReportFormat fmt = !strcmp(fmt_s, "csv") ? REPORT_CSV : !strcmp(fmt_s, "json") ? REPORT_JSON : REPORT_MARKDOWN;
    Experiment *e;
    const char *db = resolve_db("report", pos[0], &e);
    if (!db) return 2;
    Store *s = open_existing("report", db);
    free(e); /* db points into it: not used after the open */
    if (!s) return 2;
    char err[QB_ERRLEN];
    int rc = report_write(s, stdout, fmt, columns, err);
    store_close(s);
    fflush(stdout);
    if (rc) { fprintf(stderr, "qbench report: %s\n", err); return 2; }
    return 0;
}

int cmd_check(int argc, char **argv) {
    const char *pos[1] = {0}, *db = NULL, *junit = NULL;
    int n_pos = 0;
    const CliOpt opts[] = {
        {"--db", NULL, CLI_STR, &db, "PATH", "results database", "the experiment's output.db", 0, 0, NULL, NULL},
        {"--junit", NULL, CLI_STR, &junit, "FILE", "JUnit XML report", "output.junit, else DB with .junit.xml", 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"check", "qbench check EXP.yaml [--db PATH] [--junit FILE]",
                          "  Evaluates the experiment's check: thresholds on its finished points and writes JUnit XML.\n"
                          "  Exit 0 all pass, 1 a threshold failed, 2 could not run.\n",
                          opts, CLI_N(opts), pos, 1, &n_pos, NULL};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    const char *exp = n_pos ? pos[0] : NULL;
    if (!exp) { cli_usage(&spec, stderr); return 2; }
    char err[QB_ERRLEN];
    Experiment *e = calloc(1, sizeof *e); /* large: keep it off the stack */
    if (!e) { fprintf(stderr, "qbench check: out of memory\n"); return 2; }
    if (config_load(exp, e, err)) {
        fprintf(stderr, "qbench check: %s\n", err);
        free(e);
        return 2;
    }
    if (!db) db = e->output.db;
    char defjunit[1100];
    if (!junit) {
        if (e->output.junit[0]) junit = e->output.junit;
        else {
            size_t n = strlen(db);
            int cut = n > 3 && !strcmp(db + n - 3, ".db") ? 3 : 0;
            snprintf(defjunit, sizeof defjunit, "%.*s.junit.xml", (int)(n - (size_t)cut), db);
            junit = defjunit;
        }
    }
    Store *s = open_existing("check", db);
    if (!s) { free(e); return 2; }
    CheckSummary sum;
    int rc = check_run(e, s, stdout, junit, &sum, err);
    store_close(s);
    fflush(stdout);
    if (rc) fprintf(stderr, "qbench check: %s\n", err);
    else fprintf(stderr, "qbench check: %d passed, %d failed, %d could not be evaluated; JUnit: %s\n", sum.n_pass,
                 sum.n_fail, sum.n_error, junit);
    free(e); /* junit may point into it */
    if (rc) return 2;
    return sum.n_error ? 2 : sum.n_fail ? 1 : 0;
}
