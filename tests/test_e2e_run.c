/* test_e2e_run.c — `qbench run` end to end on stories260K with a 4-point sweep, through the CLI
 * ($QBENCH_BIN, default bin/qbench) as a user runs it: database contents, resume after SIGKILL
 * (mid-point and between points), two shards merged equal one run (by hand and through
 * experiments/sweep.sbatch), `check` exit codes, a plot, and the CI gate experiments/ci.yaml.
 * Expected values come from hand calculations (bits per weight of group-32 asymmetric
 * quantization) and physical bounds (8-bit ≈ lossless). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common.h"

static char DIR_[256];
static const char *BIN;

static void path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", DIR_, name); }

/* The sweep: rtn and gptq at 4 and 8 bits, group 32 → 4 points, into DIR/dbname. */
static void write_exp_db(const char *name, const char *check, const char *dbname) {
    char p[512], db[512];
    path(p, sizeof p, name);
    path(db, sizeof db, dbname);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f,
            "name: e2e\n"
            "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
            "calibration: {dataset: tinystories-calib, samples: 8, seqlen: 64, seed: 1}\n"
            "sweep:\n  method: [rtn, gptq]\n  bits: [4, 8]\n"
            "fixed: {group_size: 32}\n"
            "eval:\n"
            "  perplexity: [{dataset: tinystories-valid, seqlen: 128, max_windows: 3}]\n"
            "  generation: [{task: tinystories-continuation, prompts: 2, max_new_tokens: 16,\n"
            "                metrics: [chrf], against: [reference, baseline]}]\n"
            "  agreement: [{dataset: tinystories-valid, seqlen: 64, windows: 2}]\n"
            "check:\n%s"
            "output: {db: %s, plots: %s/plots, junit: %s/check.xml}\n",
            check, db, DIR_, DIR_);
    fclose(f);
}

static void write_exp(const char *name, const char *check) { write_exp_db(name, check, "one.db"); }

/* argv[0] is replaced by BIN; output goes to DIR/log. Returns the pid. */
static pid_t spawn(const char *const *args) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char log[512];
        path(log, sizeof log, "log");
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        char *argv[32];
        int n = 0;
        argv[n++] = (char *)BIN;
        for (int i = 1; args[i] && n < 31; i++) argv[n++] = (char *)args[i];
        argv[n] = NULL;
        execv(BIN, argv);
        _exit(127);
    }
    return pid;
}

/* exit status, or 128 + signal */
static int wait_rc(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run(const char *const *args) { return wait_rc(spawn(args)); }

/* One integer from a query; -1 if the database cannot be read. */
static long db_int(const char *db, const char *sql) {
    sqlite3 *h;
    long v = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) { sqlite3_close(h); return -1; }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static double db_double(const char *db, const char *sql) {
    sqlite3 *h;
    double v = NAN;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) { sqlite3_close(h); return NAN; }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static char *db_text(const char *db, const char *sql) {
    sqlite3 *h;
    char *v = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) { sqlite3_close(h); return NULL; }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Every metric of every done point as one string, in key order: equal strings = equal results. */
static char *dump_results(const char *db) {
    return db_text(db, "SELECT group_concat(line, char(10)) FROM (SELECT r.key || ' ' || m.kind || ' ' || m.dataset || ' ' || "
                       "m.against || ' ' || printf('%.17g', m.value) AS line FROM runs r JOIN metrics m ON m.run_id = r.id "
                       "WHERE r.status = 'done' ORDER BY r.key, m.kind, m.dataset, m.against)");
}

/* A finished point is complete: 5 metrics (ppl, top1, kl, chrf vs reference and vs baseline),
 * 5 blocks x 7 linear layers, 2 samples. Returns the number of done points that are NOT complete. */
static long incomplete_done(const char *db) {
    return db_int(db, "SELECT count(*) FROM runs r WHERE r.status = 'done' AND ("
                      "(SELECT count(*) FROM metrics WHERE run_id = r.id) != 5 OR "
                      "(SELECT count(*) FROM layers WHERE run_id = r.id) != 35 OR "
                      "(SELECT count(*) FROM samples WHERE run_id = r.id) != 2)");
}

static int setup(void **state) {
    (void)state;
    BIN = getenv("QBENCH_BIN") ? getenv("QBENCH_BIN") : "bin/qbench";
    snprintf(DIR_, sizeof DIR_, "/tmp/qb_e2e_%d", (int)getpid());
    mkdir(DIR_, 0755);
    write_exp("exp.yaml", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 1000, where: {bits: 4}}\n");
    /* 4-bit RTN cannot leave perplexity exactly unchanged, so a 0% allowance must fail */
    write_exp("fail.yaml", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 0, where: {bits: 4}}\n");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (!getenv("QBENCH_KEEP")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
        if (system(cmd)) return 0;
    }
    return 0;
}

/* One RTN point (no calibration: quick), its perplexity on max_windows windows, into DIR/dbname. */
static void write_small(const char *name, int max_windows, const char *dbname) {
    char p[512], db[512];
    path(p, sizeof p, name);
    path(db, sizeof db, dbname);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f,
            "name: small\n"
            "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
            "sweep: {method: [rtn], bits: [4], group_size: [32]}\n"
            "eval:\n"
            "  perplexity: [{dataset: tinystories-valid, seqlen: 128, max_windows: %d}]\n"
            "  agreement: [{dataset: tinystories-valid, seqlen: 64, windows: 2}]\n"
            "check: [{metric: ppl, dataset: tinystories-valid, max_increase_pct: 1000}]\n"
            "output: {db: %s}\n",
            max_windows, db);
    fclose(f);
}

static int log_contains(const char *needle) {
    char p[512];
    path(p, sizeof p, "log");
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

static void truncate_log(void) {
    char p[512];
    path(p, sizeof p, "log");
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

/* Changing max_windows in the experiment: the next run evaluates the done point again (it does not
 * say "0 to run"), keeps the old number beside the new one, and check judges the new one; the
 * file's old version is then refused by check until it is run again. */
static void test_changed_eval_is_evaluated_again(void **state) {
    (void)state;
    char e3[512], e4[512], db[512];
    path(e3, sizeof e3, "small3.yaml");
    path(e4, sizeof e4, "small4.yaml");
    path(db, sizeof db, "small.db");
    write_small("small3.yaml", 3, "small.db");
    write_small("small4.yaml", 4, "small.db");
    const char *r3[] = {"qbench", "run", e3, "--threads", "1", NULL};
    const char *r4[] = {"qbench", "run", e4, "--threads", "1", NULL};
    truncate_log();
    assert_int_equal(run(r3), 0);
    assert_true(log_contains("1 points in this shard, 0 done before, 1 to run"));
    truncate_log();
    assert_int_equal(run(r4), 0);
    assert_true(log_contains("0 done before, 1 to run (1 of them done under other evaluation settings"));
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM metrics WHERE kind = 'ppl'"), 2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM metrics WHERE kind = 'ppl' AND signature LIKE '%|windows:4|%'"), 1);
    truncate_log();
    assert_int_equal(run(r4), 0);
    assert_true(log_contains("1 done before, 0 to run"));
    const char *c4[] = {"qbench", "check", e4, NULL};
    assert_int_equal(run(c4), 0);
    const char *c3[] = {"qbench", "check", e3, NULL}; /* recorded, but not the latest: still judged */
    assert_int_equal(run(c3), 0);
    write_small("small5.yaml", 5, "small.db"); /* never run */
    char e5[512];
    path(e5, sizeof e5, "small5.yaml");
    const char *c5[] = {"qbench", "check", e5, NULL};
    truncate_log();
    assert_int_equal(run(c5), 2);
    assert_true(log_contains("evaluation settings changed"));
    const char *rep[] = {"qbench", "report", db, NULL};
    truncate_log();
    assert_int_equal(run(rep), 0);
    assert_true(log_contains("1 stale metric row(s)")); /* the 3-window ppl, the latest version has 4 */
}

/* The same experiment with 1, 2 and 3 threads: every number identical to the last bit (the RTN
 * point's perplexity, top-1 and KL sums have fixed reduction orders). */
static void test_threads_give_identical_numbers(void **state) {
    (void)state;
    char *dumps[3];
    for (int t = 1; t <= 3; t++) {
        char name[32], dbn[32], e[512], db[512], th[16];
        snprintf(name, sizeof name, "thr%d.yaml", t);
        snprintf(dbn, sizeof dbn, "thr%d.db", t);
        snprintf(th, sizeof th, "%d", t);
        write_small(name, 3, dbn);
        path(e, sizeof e, name);
        path(db, sizeof db, dbn);
        const char *r[] = {"qbench", "run", e, "--threads", th, "--quiet", NULL};
        assert_int_equal(run(r), 0);
        dumps[t - 1] = dump_results(db);
        assert_non_null(dumps[t - 1]);
    }
    assert_string_equal(dumps[0], dumps[1]);
    assert_string_equal(dumps[0], dumps[2]);
    for (int t = 0; t < 3; t++) free(dumps[t]);
}

/* The command line refuses a window longer than the model's context, as the experiment validator
 * does (stories260K: 512 positions), instead of warning and running (or hanging at 100000). */
static void test_cli_seqlen_beyond_context_is_refused(void **state) {
    (void)state;
    const char *ppl[] = {"qbench", "ppl", "--model", "assets/stories260K/stories260K.bin", "--data",
                         "assets/tinystories/tinystories_v1_validation_head.txt", "--seqlen", "513", "--quiet", NULL};
    truncate_log();
    assert_int_equal(run(ppl), 2);
    assert_true(log_contains("--seqlen: 513 is above the model's context 512"));
    char out[512];
    path(out, sizeof out, "never.qbq");
    const char *q[] = {"qbench", "quantize", "--model", "assets/stories260K/stories260K.bin", "--method", "gptq",
                       "--bits", "4", "--calib", "tinystories-calib", "--nsamples", "2", "--seqlen", "4096",
                       "-o", out, NULL};
    truncate_log();
    assert_int_equal(run(q), 2);
    assert_true(log_contains("--seqlen: 4096 is above the model's context 512"));
    assert_int_equal(access(out, F_OK), -1);
}

/* One group-size rule for the command line and the experiment file (quant_group_size_check): 7 does
 * not divide stories260K's width 64 and 100000 is above it; both are refused by `quantize` and by
 * `run` with the same words, before any work (no checkpoint, no database). */
static void test_cli_group_size_same_rule_as_yaml(void **state) {
    (void)state;
    char out[512], y[512], db[512];
    path(out, sizeof out, "never-g.qbq");
    path(y, sizeof y, "g7.yaml");
    path(db, sizeof db, "g7.db");
    static const struct { const char *g, *why; } cases[] = {
        {"7", "7 does not divide the model width 64"},
        {"100000", "100000 is above the model width 64 (use -1 for one group per row)"},
    };
    for (int k = 0; k < 2; k++) {
        const char *q[] = {"qbench", "quantize", "--model", "assets/stories260K/stories260K.bin", "--method", "rtn",
                           "--bits", "4", "--group-size", cases[k].g, "-o", out, "--quiet", NULL};
        truncate_log();
        assert_int_equal(run(q), 2);
        char want[256];
        snprintf(want, sizeof want, "--group-size: %s", cases[k].why);
        assert_true(log_contains(want));
        assert_int_equal(access(out, F_OK), -1);
        FILE *f = fopen(y, "w");
        assert_non_null(f);
        fprintf(f,
                "name: g\n"
                "model: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n"
                "sweep: {method: [rtn], bits: [4], group_size: [%s]}\n"
                "eval:\n  perplexity: [{dataset: tinystories-valid, seqlen: 128, max_windows: 1}]\n"
                "output: {db: %s}\n",
                cases[k].g, db);
        fclose(f);
        const char *r[] = {"qbench", "run", y, "--quiet", NULL};
        truncate_log();
        assert_int_equal(run(r), 2);
        snprintf(want, sizeof want, "g7.yaml:3: group_size: %s", cases[k].why);
        assert_true(log_contains(want));
        assert_int_equal(access(db, F_OK), -1);
    }
    /* -1 and a divisor are accepted by both (the quantize runs: RTN needs no calibration) */
    const char *ok[] = {"qbench", "quantize", "--model", "assets/stories260K/stories260K.bin", "--method", "rtn",
                        "--bits", "4", "--group-size", "64", "-o", out, "--quiet", NULL};
    assert_int_equal(run(ok), 0);
    unlink(out);
}

#define EXP(p) char p##_exp[512]; path(p##_exp, sizeof p##_exp, "exp.yaml")

/* DIR/one.db, the uninterrupted run of exp.yaml that other tests compare with: made here when no
 * earlier test made it (a rerun of a finished sweep adds nothing), so no test needs another's files. */
static void one_db(char *out, size_t n) {
    EXP(e);
    path(out, n, "one.db");
    const char *args[] = {"qbench", "run", e_exp, "--threads", "1", "--quiet", "--db", out, NULL};
    assert_int_equal(run(args), 0);
    assert_int_equal(db_int(out, "SELECT count(*) FROM runs WHERE status = 'done'"), 4);
}

static void test_full_run_database(void **state) {
    (void)state;
    EXP(e);
    char db[512];
    path(db, sizeof db, "one.db");
    const char *args[] = {"qbench", "run", e_exp, "--threads", "1", "--quiet", NULL};
    assert_int_equal(run(args), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 4);
    assert_int_equal(db_int(db, "SELECT count(DISTINCT key) FROM runs"), 4);
    assert_int_equal(incomplete_done(db), 0);
    /* bits per weight by hand: b-bit codes + per group of 32 an fp16 scale and a b-bit zero,
     * (16 + b) / 32 bits per weight; the 172-wide down projection's ragged last group adds a little */
    for (int b = 4; b <= 8; b += 4) {
        char q[200];
        snprintf(q, sizeof q, "SELECT min(bits_per_weight) FROM runs WHERE bits = %d", b);
        double lo = db_double(db, q);
        snprintf(q, sizeof q, "SELECT max(bits_per_weight) FROM runs WHERE bits = %d", b);
        double hi = db_double(db, q), expect = b + (16.0 + b) / 32;
        assert_true(lo >= expect - 1e-9 && hi <= expect + 0.1);
    }
    /* physics: 8-bit is nearly lossless, 4-bit RTN visibly worse than the baseline */
    double base = db_double(db, "SELECT value FROM baselines WHERE kind = 'ppl'");
    assert_true(base > 1 && base < 50);
    double p8 = db_double(db, "SELECT max(m.value) FROM runs r JOIN metrics m ON m.run_id = r.id WHERE r.bits = 8 AND m.kind = 'ppl'");
    double p4 = db_double(db, "SELECT m.value FROM runs r JOIN metrics m ON m.run_id = r.id WHERE r.bits = 4 AND r.method = 'rtn' AND m.kind = 'ppl'");
    assert_true(fabs(p8 / base - 1) < 0.01);
    assert_true(p4 > base);
    double t8 = db_double(db, "SELECT min(m.value) FROM runs r JOIN metrics m ON m.run_id = r.id WHERE r.bits = 8 AND m.kind = 'top1'");
    assert_true(t8 > 0.9 && t8 <= 1.0);
    double kl = db_double(db, "SELECT min(m.value) FROM metrics m WHERE m.kind = 'kl'");
    assert_true(kl >= 0);
    /* timings logged per point */
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE seconds_quantize >= 0 AND seconds_eval > 0 AND finished IS NOT NULL"), 4);
    /* every GPTQ point's Hessian forward passes are calibration time, not quantization time (each
     * point runs them again even though the calibration windows are sampled once) */
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE method = 'gptq' AND seconds_calibration > 0"), 2);
    /* the baseline was computed once: one ppl row, one set of baseline generations */
    assert_int_equal(db_int(db, "SELECT count(*) FROM baselines WHERE kind = 'ppl'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM baseline_samples"), 2);
    /* `qbench ppl` on the same settings prints the sweep's signature (and its build) and number */
    char *out = NULL, *sig = db_text(db, "SELECT signature FROM baselines WHERE kind = 'ppl'"), want[700];
    assert_int_equal(t_run_qbench("ppl --model assets/stories260K/stories260K.bin --tokenizer assets/stories260K/tok512.bin"
                                  " --data tinystories-valid --seqlen 128 --max-windows 3 --threads 1 --json --quiet",
                                  &out, NULL), 0);
    assert_non_null(sig);
    snprintf(want, sizeof want, "\"%s|qbench:", sig);
    if (!strstr(out, want)) fail_msg("qbench ppl prints\n%s\nwithout the sweep's signature %s", out, sig);
    char *pl = strstr(out, "\"ppl\":");
    assert_non_null(pl);
    double cli = strtod(pl + 6, NULL);
    assert_true(fabs(cli / base - 1) < 1e-13); /* the same sums; JSON prints 15 or more digits */
    free(out);
    free(sig);
    /* a second run finds everything done and adds nothing */
    assert_int_equal(run(args), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs"), 4);
    assert_int_equal(db_int(db, "SELECT count(*) FROM metrics"), 20);
}

/* 1 if process pid's environment holds the entry `kv` ("NAME=value"), 0 if not, -1 if unreadable. */
static int proc_env_has(pid_t pid, const char *kv) {
    char f[64], buf[65536];
    snprintf(f, sizeof f, "/proc/%d/environ", (int)pid);
    FILE *fp = fopen(f, "rb");
    if (!fp) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (!strcmp(buf + i, kv)) return 1;
    return 0;
}

/* Kills `qbench run` with SIGKILL as point `stop_at` starts (its 'running' row written): the run
 * stops itself there (QBENCH_TEST_STOP_POINT, runner_point.c) and waitpid reports the stop, so the
 * kill lands at the same moment on any machine. Then reruns it to the end. */
static void kill_and_resume(const char *dbname, int stop_at, long *done_at_kill) {
    EXP(e);
    char db[512], one[512];
    path(db, sizeof db, dbname);
    one_db(one, sizeof one);
    const char *args[] = {"qbench", "run", e_exp, "--threads", "1", "--quiet", "--db", db, NULL};
    char at[16];
    snprintf(at, sizeof at, "%d", stop_at);
    setenv("QBENCH_TEST_STOP_POINT", at, 1);
    pid_t pid = spawn(args);
    unsetenv("QBENCH_TEST_STOP_POINT");
    int st;
    assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
    assert_true(WIFSTOPPED(st)); /* (it did not exit or crash before the point) */
    /* by now it has restarted itself with a passive OpenMP wait (cmd_run.c), unless the environment
     * already chose one */
    int passive = proc_env_has(pid, "OMP_WAIT_POLICY=PASSIVE");
    assert_int_equal(kill(pid, SIGKILL), 0);
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) assert_int_equal(passive, 1);
    int rc = wait_rc(pid);
    assert_int_equal(rc, 128 + SIGKILL);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    *done_at_kill = db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'");
    assert_true(*done_at_kill < 4); /* it really was interrupted */
    assert_int_equal(incomplete_done(db), 0); /* nothing half-written counted as done */
    char *created = db_text(db, "SELECT created FROM baselines WHERE kind = 'ppl'");
    assert_non_null(created); /* baselines come before the first point */
    assert_int_equal(run(args), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs"), 4);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 4);
    assert_int_equal(db_int(db, "SELECT count(DISTINCT key) FROM runs"), 4);
    assert_int_equal(incomplete_done(db), 0);
    /* the baseline stored before the kill was reused, not computed and written a second time */
    assert_int_equal(db_int(db, "SELECT count(*) FROM baselines WHERE kind = 'ppl'"), 1);
    char *created2 = db_text(db, "SELECT created FROM baselines WHERE kind = 'ppl'");
    assert_non_null(created2);
    assert_string_equal(created, created2);
    free(created);
    free(created2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM baseline_samples"), 2);
    char *ok = db_text(db, "PRAGMA integrity_check");
    assert_non_null(ok);
    assert_string_equal(ok, "ok");
    free(ok);
    /* resumed results equal an uninterrupted run's, point for point */
    char *a = dump_results(one), *b = dump_results(db);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_resume_after_kill_mid_point(void **state) {
    (void)state;
    long done;
    /* the first point has started (its 'running' row exists) and none has finished */
    kill_and_resume("kill1.db", 0, &done);
    assert_int_equal(done, 0);
}

static void test_resume_after_kill_between_points(void **state) {
    (void)state;
    long done;
    kill_and_resume("kill2.db", 1, &done); /* point 0 done, point 1 just begun */
    assert_int_equal(done, 1);
}

/* A point that fails is recorded as 'failed' with its message, the others still finish, the exit
 * status is 1, and the next run retries only that point. */
static void test_failed_point_is_retried(void **state) {
    (void)state;
    EXP(e);
    char db[512];
    path(db, sizeof db, "fail.db");
    const char *args[] = {"qbench", "run", e_exp, "--threads", "1", "--quiet", "--db", db, NULL};
    setenv("QBENCH_TEST_FAIL_POINT", "2", 1); /* gptq w4 g32: the third point */
    int rc = run(args);
    unsetenv("QBENCH_TEST_FAIL_POINT");
    assert_int_equal(rc, 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 3);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'failed' AND method = 'gptq' AND bits = 4 "
                                "AND error LIKE '%injected failure%'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.status = 'failed'"), 0);
    assert_int_equal(run(args), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs"), 4);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 4);
    assert_int_equal(incomplete_done(db), 0);
}

/* Two unsharded runs on one database at the same time (WAL + busy timeout): both succeed and every
 * point is there exactly once. */
static void test_two_processes_share_a_database(void **state) {
    (void)state;
    EXP(e);
    char db[512];
    path(db, sizeof db, "shared.db");
    const char *args[] = {"qbench", "run", e_exp, "--threads", "1", "--quiet", "--db", db, NULL};
    pid_t a = spawn(args), b = spawn(args);
    assert_int_equal(wait_rc(a), 0);
    assert_int_equal(wait_rc(b), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs"), 4);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 4);
    assert_int_equal(incomplete_done(db), 0);
}

static void test_shards_merged_equal_one_run(void **state) {
    (void)state;
    EXP(e);
    char s0[512], s1[512], m[512], one[512];
    path(s0, sizeof s0, "s0.db");
    path(s1, sizeof s1, "s1.db");
    path(m, sizeof m, "merged.db");
    one_db(one, sizeof one);
    const char *a0[] = {"qbench", "run", e_exp, "--threads", "1", "--quiet", "--shard", "0/2", "--db", s0, NULL};
    const char *a1[] = {"qbench", "run", e_exp, "--threads", "1", "--quiet", "--shard", "1/2", "--db", s1, NULL};
    assert_int_equal(run(a0), 0);
    assert_int_equal(run(a1), 0);
    assert_int_equal(db_int(s0, "SELECT count(*) FROM runs WHERE status = 'done'"), 2);
    assert_int_equal(db_int(s1, "SELECT count(*) FROM runs WHERE status = 'done'"), 2);
    const char *mg[] = {"qbench", "merge", m, s0, s1, NULL};
    assert_int_equal(run(mg), 0);
    assert_int_equal(db_int(m, "SELECT count(*) FROM runs WHERE status = 'done'"), 4); /* the shards were disjoint */
    char *a = dump_results(one), *b = dump_results(m);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_dry_run_lists_without_working(void **state) {
    (void)state;
    EXP(e);
    char db[512];
    path(db, sizeof db, "dry.db");
    const char *args[] = {"qbench", "run", e_exp, "--dry-run", "--db", db, NULL};
    char log[512];
    path(log, sizeof log, "log");
    unlink(log);
    assert_int_equal(run(args), 0);
    assert_int_equal(access(db, F_OK), -1); /* a dry run creates nothing */
    /* one line per point, all to do, each with an estimate */
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[512];
    int todo = 0;
    while (fgets(line, sizeof line, f)) todo += strstr(line, " todo ") != NULL && strchr(line, 's') != NULL;
    fclose(f);
    assert_int_equal(todo, 4);
    /* against the finished database: every point done */
    char one[512];
    one_db(one, sizeof one);
    const char *again[] = {"qbench", "run", e_exp, "--dry-run", "--db", one, NULL};
    unlink(log);
    assert_int_equal(run(again), 0);
    f = fopen(log, "r");
    assert_non_null(f);
    int done = 0;
    while (fgets(line, sizeof line, f)) done += strstr(line, " done ") != NULL;
    fclose(f);
    assert_int_equal(done, 4);
    /* the estimate says what it rests on: with nothing finished, the cost model for every point */
    f = fopen(log, "r");
    char all[16384];
    size_t got = fread(all, 1, sizeof all - 1, f);
    all[got] = 0;
    fclose(f);
    assert_non_null(strstr(all, "based on nothing (no point left); 4 finished points observed"));
    /* 3 bits in the sweep beside the finished 8: rtn and gptq at 3 bits are estimated from the same
     * methods' finished 4- and 8-bit points, scaled */
    char more[512], text[2048];
    path(more, sizeof more, "more.yaml");
    FILE *src = fopen(e_exp, "r");
    assert_non_null(src);
    got = fread(text, 1, sizeof text - 1, src);
    text[got] = 0;
    fclose(src);
    char *b = strstr(text, "bits: [4, 8]");
    assert_non_null(b);
    memcpy(b, "bits: [3, 8]", 12);
    f = fopen(more, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    const char *m3[] = {"qbench", "run", more, "--dry-run", "--db", one, NULL};
    unlink(log);
    assert_int_equal(run(m3), 0);
    f = fopen(log, "r");
    got = fread(all, 1, sizeof all - 1, f);
    all[got] = 0;
    fclose(f);
    int scaled = 0;
    for (char *l = all; (l = strstr(l, " w3 ")); l++) {
        char *eol = strchr(l, '\n');
        char line3[256];
        snprintf(line3, sizeof line3, "%.*s", (int)(eol ? eol - l : 0), l);
        scaled += strstr(line3, " todo ") && strstr(line3, " scaled ");
    }
    assert_int_equal(scaled, 2);
    assert_non_null(strstr(all, "based on 2 scaled from other bits; 4 finished points observed"));
    const char *bad[] = {"qbench", "run", e_exp, "--shard", "2/2", NULL};
    assert_int_equal(run(bad), 2);
    const char *missing[] = {"qbench", "run", "no/such/file.yaml", NULL};
    assert_int_equal(run(missing), 2);
    /* problems found only with the model (group size 7 does not divide stories260K's width 64, a
     * model file that does not exist) stop the run before any work: no database appears */
    const char *bodies[] = {
        "model: {path: assets/stories260K/stories260K.bin}\nsweep: {method: rtn, bits: 4, group_size: 7}\n",
        "model: {path: assets/no-such-model.bin}\nsweep: {method: rtn, bits: 4}\n",
    };
    for (int i = 0; i < 2; i++) {
        char y[512], bdb[512];
        path(y, sizeof y, "bad.yaml");
        path(bdb, sizeof bdb, "bad.db");
        FILE *f = fopen(y, "w");
        assert_non_null(f);
        fprintf(f, "%seval: {perplexity: [{dataset: tinystories-valid, seqlen: 64}]}\n", bodies[i]);
        fclose(f);
        const char *a[] = {"qbench", "run", y, "--quiet", "--db", bdb, NULL};
        assert_int_equal(run(a), 2);
        assert_int_equal(access(bdb, F_OK), -1);
    }
}

static void test_check_exit_codes_and_plot(void **state) {
    (void)state;
    char pass[512], fail[512], db[512], junit[512], plots[512];
    path(pass, sizeof pass, "exp.yaml");
    path(fail, sizeof fail, "fail.yaml");
    one_db(db, sizeof db);
    path(junit, sizeof junit, "check.xml");
    path(plots, sizeof plots, "plots");
    const char *ok[] = {"qbench", "check", pass, "--db", db, "--junit", junit, NULL};
    assert_int_equal(run(ok), 0);
    struct stat st;
    assert_int_equal(stat(junit, &st), 0);
    assert_true(st.st_size > 0);
    const char *bad[] = {"qbench", "check", fail, "--db", db, "--junit", junit, NULL};
    assert_int_equal(run(bad), 1);
    const char *plot[] = {"qbench", "plot", db, "-o", plots, NULL};
    assert_int_equal(run(plot), 0);
    DIR *d = opendir(plots);
    assert_non_null(d);
    int pngs = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".png")) {
            char f[1024];
            snprintf(f, sizeof f, "%s/%s", plots, de->d_name);
            if (stat(f, &st) == 0 && st.st_size > 0) pngs++;
        }
    }
    closedir(d);
    assert_true(pngs >= 1);
    /* report and plot take the experiment file: its output.db, and its output.plots (DIR/plots) */
    char out[512], expplots[512];
    path(out, sizeof out, "report.md");
    path(expplots, sizeof expplots, "plots/ppl_vs_bpw__tinystories-valid.png");
    const char *rep[] = {"qbench", "report", pass, NULL};
    assert_int_equal(run(rep), 0);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", plots);
    assert_int_equal(system(cmd), 0);
    const char *plot_exp[] = {"qbench", "plot", pass, NULL};
    assert_int_equal(run(plot_exp), 0);
    assert_int_equal(access(expplots, F_OK), 0);
    /* every point was timed (decode and prefill of the quantized model as stored, with its threads), and
     * accuracy is drawn against that speed too */
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done' AND NOT (decode_tps > 0 AND"
                                " prefill_tps > 0 AND speed_threads >= 1)"), 0);
    assert_true(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'") > 0);
    path(expplots, sizeof expplots, "plots/ppl_vs_decode__tinystories-valid.png");
    assert_int_equal(access(expplots, F_OK), 0);
    path(expplots, sizeof expplots, "plots/ppl_vs_bpw__tinystories-valid.png");
    /* given the database alone, the plots go to the output.plots of the experiment recorded in it */
    assert_int_equal(system(cmd), 0);
    const char *plot_db[] = {"qbench", "plot", db, NULL};
    assert_int_equal(run(plot_db), 0);
    assert_int_equal(access(expplots, F_OK), 0);
}

/* experiments/sweep.sbatch outside Slurm: the two array tasks run by hand with Slurm's variables,
 * `sbatch` replaced by a stub that records how the merge job is submitted, then the merge step. The
 * shards and the merge must land next to and in the experiment's output.db (sbatch_out.db here,
 * unrelated to the file name sb.yaml), and the merged database must equal the single run. */
static void test_sbatch_merges_into_output_db(void **state) {
    (void)state;
    char stubdir[512], stub[600], args_file[512], one[512], out_db[512], shard0[512], shard1[512], log[512], exp[512];
    path(stubdir, sizeof stubdir, "fakebin");
    mkdir(stubdir, 0755);
    snprintf(stub, sizeof stub, "%s/sbatch", stubdir);
    path(args_file, sizeof args_file, "sbatch.args");
    one_db(one, sizeof one);
    path(out_db, sizeof out_db, "sbatch_out.db");
    path(shard0, sizeof shard0, "sbatch_out.shard0.db");
    path(shard1, sizeof shard1, "sbatch_out.shard1.db");
    path(log, sizeof log, "log");
    path(exp, sizeof exp, "sb.yaml");
    write_exp_db("sb.yaml", "  - {metric: ppl, dataset: tinystories-valid, max_increase_pct: 1000, where: {bits: 4}}\n",
                 "sbatch_out.db");
    FILE *f = fopen(stub, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\necho \"$@\" >> '%s'\n", args_file);
    fclose(f);
    chmod(stub, 0755);
    const char *env = "SHARDS=2 SLURM_ARRAY_JOB_ID=77 SLURM_CPUS_PER_TASK=1";
    char cmd[4096];
    for (int task = 0; task < 2; task++) {
        snprintf(cmd, sizeof cmd, "PATH='%s':\"$PATH\" QBENCH='%s' %s SLURM_ARRAY_TASK_ID=%d bash experiments/sweep.sbatch '%s' >>'%s' 2>&1",
                 stubdir, BIN, env, task, exp, log);
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(db_int(shard0, "SELECT count(*) FROM runs WHERE status = 'done'"), 2);
    assert_int_equal(db_int(shard1, "SELECT count(*) FROM runs WHERE status = 'done'"), 2);
    assert_int_equal(access(out_db, F_OK), -1); /* nothing merged before the merge job */
    /* only task 0 submitted the merge, after the whole array, with MERGE_ONLY */
    f = fopen(args_file, "r");
    assert_non_null(f);
    char line[2048] = "";
    int lines = 0;
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(line, "--dependency=afterany:77"));
    assert_non_null(strstr(line, "MERGE_ONLY=1"));
    snprintf(cmd, sizeof cmd, "PATH='%s':\"$PATH\" QBENCH='%s' %s MERGE_ONLY=1 bash experiments/sweep.sbatch '%s' >>'%s' 2>&1",
             stubdir, BIN, env, exp, log);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(db_int(out_db, "SELECT count(*) FROM runs WHERE status = 'done'"), 4);
    char *a = dump_results(one), *b = dump_results(out_db);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* --print-db: the experiment's output.db, or --db when given */
    snprintf(cmd, sizeof cmd, "'%s' run '%s' --print-db --db x/y.db > '%s'", BIN, exp, args_file);
    assert_int_equal(system(cmd), 0);
    f = fopen(args_file, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "x/y.db\n");
}

/* experiments/ci.yaml, the regression gate: runs and passes its own checks. */
static void test_ci_experiment_gate(void **state) {
    (void)state;
    char db[512], junit[512];
    path(db, sizeof db, "ci.db");
    path(junit, sizeof junit, "ci.xml");
    const char *r[] = {"qbench", "run", "experiments/ci.yaml", "--threads", "1", "--quiet", "--db", db, NULL};
    assert_int_equal(run(r), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 2);
    const char *c[] = {"qbench", "check", "experiments/ci.yaml", "--db", db, "--junit", junit, NULL};
    assert_int_equal(run(c), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_run_database),
        cmocka_unit_test(test_resume_after_kill_mid_point),
        cmocka_unit_test(test_resume_after_kill_between_points),
        cmocka_unit_test(test_failed_point_is_retried),
        cmocka_unit_test(test_two_processes_share_a_database),
        cmocka_unit_test(test_shards_merged_equal_one_run),
        cmocka_unit_test(test_sbatch_merges_into_output_db),
        cmocka_unit_test(test_dry_run_lists_without_working),
        cmocka_unit_test(test_check_exit_codes_and_plot),
        cmocka_unit_test(test_ci_experiment_gate),
        cmocka_unit_test(test_changed_eval_is_evaluated_again),
        cmocka_unit_test(test_threads_give_identical_numbers),
        cmocka_unit_test(test_cli_seqlen_beyond_context_is_refused),
        cmocka_unit_test(test_cli_group_size_same_rule_as_yaml),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
