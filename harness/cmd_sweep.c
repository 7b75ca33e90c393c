/* cmd_sweep.c — `qbench run EXP.yaml [--dry-run] [--shard i/n] [--threads N] [--quiet] [--db PATH]
 * [--print-db]`: validates the experiment completely, then runs every point not already done
 * (runner.c). --print-db lets scripts (experiments/sweep.sbatch) find the experiment's database. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/commands.h"
#include "harness/config.h"
#include "harness/runner.h"
#include "harness/sweep.h"
#include "harness/cli.h"

/* Sleeping OpenMP waits (qb_prefer_passive_wait). Measured on a 2-core machine shared with other
 * jobs (load 2-5), two runs each, in seconds — demo.yaml's GPTQT 8-bit per-row point: 1 thread 52,
 * 47; 2 threads spinning 157, 27; 2 threads passive 28, 36. Its other 36 points: 86, 56 / 123, 266 /
 * 59, 54. Spinning only wins when the machine happens to be idle; passive is never the slowest.
 * Setting OMP_WAIT_POLICY yourself (e.g. ACTIVE on a dedicated machine) skips this. */
static void prefer_passive_wait(int argc, char **argv) {
    char **args = calloc((size_t)argc + 2, sizeof *args);
    if (!args) return;
    args[0] = "qbench";
    for (int i = 0; i < argc; i++) args[i + 1] = argv[i]; /* argv[0] is "run" */
    qb_prefer_passive_wait(args);
    free(args); /* nothing re-executed: run on */
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: qbench run EXP.yaml [--dry-run] [--shard i/n] [--threads N] [--quiet] [--db PATH] [--print-db]\n"
            "  Runs every sweep point of EXP.yaml that is not already done in its results database.\n"
            "  --dry-run     list the points (done / to do) with a rough time estimate; run nothing\n"
            "  --shard i/n   only points k with k mod n == i (0 <= i < n), e.g. i = $SLURM_ARRAY_TASK_ID\n"
            "  --threads N   OpenMP and OpenBLAS threads (default: all cores)\n"
            "  --quiet       no progress on stderr\n"
            "  --db PATH     write to PATH instead of the experiment's output.db (e.g. one file per shard)\n"
            "  --print-db    print the database path the run would write (output.db, or --db) and exit\n"
            "exit status: 0 every point done, 1 some point failed (recorded, retried next run), 2 error\n");
}

int cmd_run(int argc, char **argv) {
    const char *file = NULL;
    RunOptions o = {.shard_n = 1, .out = stdout, .progress = stderr};
    int print_db = 0;
    char err[QB_ERRLEN];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--dry-run")) o.dry_run = 1;
        else if (!strcmp(a, "--quiet")) o.progress = NULL;
        else if (!strcmp(a, "--print-db")) print_db = 1;
        else if (!strcmp(a, "--shard") && i + 1 < argc) {
            if (sweep_parse_shard(argv[++i], &o.shard_i, &o.shard_n, err)) { fprintf(stderr, "qbench run: %s\n", err); return 2; }
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 4096) { fprintf(stderr, "qbench run: --threads %s: expected 1..4096\n", argv[i]); return 2; }
            o.threads = (int)t;
        } else if (!strcmp(a, "--db") && i + 1 < argc) o.db_path = argv[++i];
        else if (a[0] == '-' || file) { fprintf(stderr, "qbench run: unexpected argument '%s'\n", a); usage(stderr); return 2; }
        else file = a;
    }
    if (!file) { usage(stderr); return 2; }
    if (!o.dry_run && !print_db) prefer_passive_wait(argc, argv);
    if (o.threads > 0) {
        omp_set_num_threads(o.threads);
        openblas_set_num_threads(o.threads);
    }
    Experiment *e = malloc(sizeof *e);
    if (!e) { fprintf(stderr, "qbench run: out of memory\n"); return 2; }
    if (config_load(file, e, err)) {
        fprintf(stderr, "qbench run: %s\n", err);
        free(e);
        return 2;
    }
    if (print_db) {
        printf("%s\n", o.db_path ? o.db_path : e->output.db);
        free(e);
        return 0;
    }
    RunSummary s;
    int rc = runner_run(e, &o, &s, err);
    free(e);
    if (rc) { fprintf(stderr, "qbench run: %s\n", err); return 2; }
    if (!o.dry_run)
        printf("%d points: %d done now, %d already done, %d failed\n", s.points, s.done, s.skipped, s.failed);
    return s.failed ? 1 : 0;
}
