/* cmd_results.c — the subcommands that read results databases: `merge` (shards into one),
 * `plot` (gnuplot figures), `report` (a table of every point) and `check` (the CI gate: exit 0
 * pass, 1 a threshold failed, 2 could not run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/commands.h"
#include "harness/config.h"
#include "harness/results.h"
#include "harness/store.h"

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* Opens an existing results database (store_open would create a missing one). */
static Store *open_existing(const char *cmd, const char *path) {
    char err[QB_ERRLEN];
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "qbench %s: %s: no such results database\n", cmd, path);
        return NULL;
    }
    Store *s = store_open(path, err);
    if (!s) fprintf(stderr, "qbench %s: %s\n", cmd, err);
    return s;
}

int cmd_merge(int argc, char **argv) {
    static const char *usage = "usage: qbench merge OUT.db IN.db...\n"
                               "  Copies every finished point and baseline of each IN into OUT (created if needed),\n"
                               "  keeping one copy per point key; a conflicting duplicate keeps the first and warns.\n";
    if (argc >= 2 && is_help(argv[1])) { fputs(usage, stdout); return 0; }
    if (argc < 3) { fputs(usage, stderr); return 2; }
    for (int i = 2; i < argc; i++)
        if (access(argv[i], R_OK) != 0) {
            fprintf(stderr, "qbench merge: %s: no such results database\n", argv[i]);
            return 2;
        }
    char err[QB_ERRLEN], warn[QB_ERRLEN];
    Store *out = store_open(argv[1], err);
    if (!out) { fprintf(stderr, "qbench merge: %s\n", err); return 2; }
    int total = 0, total_conflicts = 0;
    for (int i = 2; i < argc; i++) {
        int added = 0, conflicts = 0;
        if (store_merge_from(out, argv[i], &added, &conflicts, warn, err)) {
            fprintf(stderr, "qbench merge: %s\n", err);
            store_close(out);
            return 2;
        }
        if (conflicts) fprintf(stderr, "qbench merge: warning: %s (%d conflict%s)\n", warn, conflicts, conflicts == 1 ? "" : "s");
        fprintf(stderr, "qbench merge: %s: %d point%s added\n", argv[i], added, added == 1 ? "" : "s");
        total += added;
        total_conflicts += conflicts;
    }
    store_close(out);
    printf("%s: %d point%s added from %d database%s, %d conflict%s\n", argv[1], total, total == 1 ? "" : "s", argc - 2,
           argc - 2 == 1 ? "" : "s", total_conflicts, total_conflicts == 1 ? "" : "s");
    return 0;
}

int cmd_plot(int argc, char **argv) {
    static const char *usage = "usage: qbench plot DB [-o DIR] [--format png|svg|both]\n"
                               "  Draws accuracy-vs-size figures with gnuplot into DIR (default: plots/ next to DB),\n"
                               "  with each figure's .gp script and .dat data beside it. Prints the paths.\n";
    const char *db = NULL, *dir = NULL;
    int formats = PLOT_PNG | PLOT_SVG;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "-o") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            const char *f = argv[++i];
            if (!strcmp(f, "png")) formats = PLOT_PNG;
            else if (!strcmp(f, "svg")) formats = PLOT_SVG;
            else if (!strcmp(f, "both")) formats = PLOT_PNG | PLOT_SVG;
            else { fprintf(stderr, "qbench plot: --format must be png, svg or both, got '%s'\n", f); return 2; }
        } else if (argv[i][0] == '-' || db) {
            fprintf(stderr, "qbench plot: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        } else db = argv[i];
    }
    if (!db) { fputs(usage, stderr); return 2; }
    char defdir[1100];
    if (!dir) {
        const char *slash = strrchr(db, '/');
        if (slash) snprintf(defdir, sizeof defdir, "%.*s/plots", (int)(slash - db), db);
        else snprintf(defdir, sizeof defdir, "plots");
        dir = defdir;
    }
    Store *s = open_existing("plot", db);
    if (!s) return 2;
    char err[QB_ERRLEN];
    PlotFiles files;
    int rc = plot_all(s, dir, formats, &files, err);
    store_close(s);
    for (int i = 0; i < files.n; i++) {
        size_t n = strlen(files.paths[i]);
        /* the images are what people open; the .gp/.dat beside them are for restyling */
        if (n > 4 && (!strcmp(files.paths[i] + n - 4, ".png") || !strcmp(files.paths[i] + n - 4, ".svg")))
            printf("%s\n", files.paths[i]);
    }
    plot_files_free(&files);
    if (rc) { fprintf(stderr, "qbench plot: %s\n", err); return 2; }
    return 0;
}

int cmd_report(int argc, char **argv) {
    static const char *usage = "usage: qbench report DB [--format markdown|csv|json]\n"
                               "  Prints every point of a results database: method, bits, group, act_order, bits per\n"
                               "  weight, bytes and each metric, with the unquantized baseline first.\n";
    const char *db = NULL;
    ReportFormat fmt = REPORT_MARKDOWN;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "--format") && i + 1 < argc) {
            const char *f = argv[++i];
            if (!strcmp(f, "markdown") || !strcmp(f, "md")) fmt = REPORT_MARKDOWN;
            else if (!strcmp(f, "csv")) fmt = REPORT_CSV;
            else if (!strcmp(f, "json")) fmt = REPORT_JSON;
            else { fprintf(stderr, "qbench report: --format must be markdown, csv or json, got '%s'\n", f); return 2; }
        } else if (argv[i][0] == '-' || db) {
            fprintf(stderr, "qbench report: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        } else db = argv[i];
    }
    if (!db) { fputs(usage, stderr); return 2; }
    Store *s = open_existing("report", db);
    if (!s) return 2;
    char err[QB_ERRLEN];
    int rc = report_write(s, stdout, fmt, err);
    store_close(s);
    fflush(stdout);
    if (rc) { fprintf(stderr, "qbench report: %s\n", err); return 2; }
    return 0;
}

int cmd_check(int argc, char **argv) {
    static const char *usage = "usage: qbench check EXP.yaml [--db PATH] [--junit FILE]\n"
                               "  Evaluates the experiment's check: thresholds on its finished points. Writes JUnit XML\n"
                               "  (default: output.junit, else the database path with .junit.xml).\n"
                               "  Exit 0 all pass, 1 a threshold failed, 2 could not run.\n";
    const char *exp = NULL, *db = NULL, *junit = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "--db") && i + 1 < argc) db = argv[++i];
        else if (!strcmp(argv[i], "--junit") && i + 1 < argc) junit = argv[++i];
        else if (argv[i][0] == '-' || exp) {
            fprintf(stderr, "qbench check: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        } else exp = argv[i];
    }
    if (!exp) { fputs(usage, stderr); return 2; }
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
