/* cmd_run.c — `qbench run EXP.yaml [--dry-run] [--shard i/n] [--threads N] [--quiet] [--db PATH]
 * [--print-db]` (options in the table below): validates the experiment completely, then runs every point not already done
 * (runner.c). --print-db lets scripts (experiments/sweep.sbatch) find the experiment's database. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli.h"
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

int cmd_run(int argc, char **argv) {
    const char *pos[1] = {0}, *shard = NULL;
    RunOptions o = {.shard_n = 1, .out = stdout, .progress = stderr};
    int print_db = 0, quiet = 0, n_pos = 0;
    long threads = 0;
    char err[QB_ERRLEN];
    const CliOpt opts[] = {
        {"--dry-run", NULL, CLI_FLAG, &o.dry_run, NULL, "list the points (done / to do) with a time estimate and what it is "
         "based on; run nothing", NULL, 0, 0, NULL, NULL},
        {"--shard", NULL, CLI_STR, &shard, "i/n", "only points k with k mod n == i (0 <= i < n), e.g. i = $SLURM_ARRAY_TASK_ID",
         "0/1", 0, 0, NULL, NULL},
        {"--threads", NULL, CLI_INT, &threads, "N", "OpenMP and OpenBLAS threads (results are identical for any count)",
         "all cores", 1, 4096, NULL, NULL},
        {"--quiet", NULL, CLI_FLAG, &quiet, NULL, "no progress on stderr", NULL, 0, 0, NULL, NULL},
        {"--db", NULL, CLI_STR, &o.db_path, "PATH", "write to PATH instead (e.g. one file per shard)", "the experiment's output.db",
         0, 0, NULL, NULL},
        {"--print-db", NULL, CLI_FLAG, &print_db, NULL, "print the database path the run would write and exit", NULL, 0, 0, NULL, NULL},
    };
    const CliSpec spec = {"run", "qbench run EXP.yaml [options]",
                          "  Runs every sweep point of EXP.yaml that is not already done in its results database.\n",
                          opts, CLI_N(opts), pos, 1, &n_pos,
                          "exit status: 0 every point done, 1 some point failed (recorded, retried next run), 2 error\n"};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    if (shard && sweep_parse_shard(shard, &o.shard_i, &o.shard_n, err)) { fprintf(stderr, "qbench run: %s\n", err); return 2; }
    if (quiet) o.progress = NULL;
    o.threads = (int)threads;
    const char *file = n_pos ? pos[0] : NULL;
    if (!file) { cli_usage(&spec, stderr); return 2; }
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
