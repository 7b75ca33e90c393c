/* test_store.c — the results database on real SQLite files in a temp dir: schema version and
 * forward migration from a hand-written v1 file, whole-point transactions (a failure or a kill in
 * the middle of a write leaves nothing counted as done), WAL + busy timeout with two connections,
 * baselines, and merging shard databases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/store.h"

static char g_dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    strcpy(g_dir, "/tmp/qbench_store_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_in(const char *name) {
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* First column of the first row of `sql` as text ("" if NULL / no row). */
static char *query1(sqlite3 *db, const char *sql) {
    static char out[4096];
    sqlite3_stmt *st = NULL;
    out[0] = 0;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static long long query_int(sqlite3 *db, const char *sql) { return atoll(query1(db, sql)); }

/* A point with hand-chosen numbers: 2 metrics, 3 layers, n_samples samples. */
typedef struct {
    StoreMetric m[2];
    StoreLayer l[3];
    StoreSample s[256];
    StorePoint p;
} Fixture;

static void make_point(Fixture *f, const char *key, int bits, double ppl, int n_samples) {
    memset(f, 0, sizeof *f);
    f->p.run = (StoreRun){.key = key, .model_path = "m.bin", .model_sha256 = "abc123", .method = "gptq",
                          .bits = bits, .group_size = 32, .act_order = 1, .params_json = "{\"params\":{}}",
                          .host = "testhost", .threads = 2, .seconds_quantize = 1.5, .bits_per_weight = bits + 0.5,
                          .packed_bytes = 1000 * bits};
    f->m[0] = (StoreMetric){.kind = "ppl", .dataset = "tinystories-valid", .value = ppl, .count = 4096,
                            .signature = "seqlen=256"};
    f->m[1] = (StoreMetric){.kind = "chrf", .dataset = "tinystories-continuation", .against = "baseline",
                            .value = 61.25, .count = 8, .stats_json = "[1,2,3]"};
    const char *names[3] = {"attn.q", "attn.k", "mlp.down"};
    for (int i = 0; i < 3; i++)
        f->l[i] = (StoreLayer){.block = 0, .name = names[i], .rows = 64, .cols = 64, .error = 0.01 * (i + 1),
                               .gptq_loss = NAN, .damp_used = 0.01, .seconds = 0.1};
    for (int i = 0; i < n_samples; i++)
        f->s[i] = (StoreSample){.task = "tinystories-continuation", .idx = i, .prompt = "Once upon",
                                .output = "a time", .reference = "a time there was", .scores_json = "{\"chrf\":50}"};
    f->p.metrics = f->m;
    f->p.n_metrics = 2;
    f->p.layers = f->l;
    f->p.n_layers = 3;
    f->p.samples = f->s;
    f->p.n_samples = n_samples;
}

static void test_fresh_database_has_current_schema_wal_and_timeout(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("fresh.db"), err);
    assert_non_null(s);
    sqlite3 *db = store_db(s);
    assert_int_equal(query_int(db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_string_equal(query1(db, "PRAGMA journal_mode"), "wal");
    assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query_int(db, "PRAGMA busy_timeout"), 10000);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                                   " ('experiments','runs','metrics','layers','samples','baselines',"
                                   "'baseline_samples')"), 7);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                                   " ('task_items','baseline_task_items')"), 2);
    store_close(s);
    /* Reopening does not migrate again or lose anything. */
    s = store_open(path_in("fresh.db"), err);
    assert_non_null(s);
    assert_int_equal(query_int(store_db(s), "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    store_close(s);
}

/* A version-1 database written by hand (no baseline tables), as qbench's first schema made it. */
static void test_migrates_hand_written_v1_database(void **state) {
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path_in("v1.db"), &db), SQLITE_OK);
    const char *v1 =
        "CREATE TABLE experiments(id INTEGER PRIMARY KEY, name TEXT NOT NULL, file_path TEXT,"
        "  file_sha256 TEXT NOT NULL DEFAULT '', created TEXT NOT NULL DEFAULT '', UNIQUE(name, file_sha256));"
        "CREATE TABLE runs(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, experiment_id INTEGER"
        "  REFERENCES experiments(id), model_path TEXT, model_sha256 TEXT NOT NULL DEFAULT '', method TEXT NOT NULL,"
        "  bits INTEGER NOT NULL, group_size INTEGER NOT NULL, act_order INTEGER NOT NULL DEFAULT 0,"
        "  sym INTEGER NOT NULL DEFAULT 0, static_groups INTEGER NOT NULL DEFAULT 0,"
        "  params_json TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL CHECK (status IN ('running','done','failed')),"
        "  error TEXT, started TEXT, finished TEXT, seconds_calibration REAL, seconds_quantize REAL,"
        "  seconds_eval REAL, peak_rss_bytes INTEGER, bits_per_weight REAL, packed_bytes INTEGER, host TEXT,"
        "  threads INTEGER);"
        "CREATE TABLE metrics(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
        "  kind TEXT NOT NULL, dataset TEXT NOT NULL, against TEXT NOT NULL DEFAULT '-', value REAL, count INTEGER,"
        "  stats_json TEXT, signature TEXT NOT NULL DEFAULT '', UNIQUE(run_id, kind, dataset, against, signature));"
        "CREATE TABLE layers(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
        "  block INTEGER NOT NULL, name TEXT NOT NULL, rows INTEGER, cols INTEGER, error REAL, gptq_loss REAL,"
        "  damp_used REAL, retries INTEGER, seconds REAL, UNIQUE(run_id, block, name));"
        "CREATE TABLE samples(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
        "  task TEXT NOT NULL, idx INTEGER NOT NULL, prompt TEXT, output TEXT, reference TEXT, scores_json TEXT,"
        "  UNIQUE(run_id, task, idx));"
        "INSERT INTO runs(key, method, bits, group_size, status, bits_per_weight) VALUES ('old-key','rtn',4,-1,'done',4.25);"
        "INSERT INTO metrics(run_id, kind, dataset, value, count) VALUES (1,'ppl','wikitext2-test',12.5,100);"
        "PRAGMA user_version = 1;";
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char err[QB_ERRLEN];
    Store *s = store_open(path_in("v1.db"), err);
    assert_non_null(s);
    assert_int_equal(query_int(store_db(s), "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    assert_int_equal(store_point_is_done(s, "old-key", err), 1);
    StoreRunRow *rows;
    int n;
    assert_int_equal(store_load_runs(s, NULL, NULL, &rows, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].method, "rtn");
    assert_int_equal(rows[0].n_metrics, 1);
    assert_true(rows[0].metrics[0].value == 12.5);
    assert_string_equal(rows[0].provenance, ""); /* v3: unknown for rows written before it */
    assert_true(isnan(rows[0].decode_tps) && isnan(rows[0].prefill_tps)); /* v5: not measured before it */
    assert_int_equal(rows[0].speed_threads, 0);
    store_free_runs(rows, n);
    /* The v2 tables now exist and work. */
    StoreMetric b = {.kind = "ppl", .dataset = "wikitext2-test", .value = 11.0, .count = 100};
    assert_int_equal(store_put_baseline(s, "abc", &b, err), 0);
    store_close(s);
}

/* Every point records the build that computed it (provenance.h), in key:value form. */
static void test_point_records_provenance(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("prov.db"), err);
    assert_non_null(s);
    Fixture f;
    make_point(&f, "kp", 4, 5.0, 0);
    assert_int_equal(store_write_point(s, &f.p, err), 0);
    const char *prov = query1(store_db(s), "SELECT provenance FROM runs WHERE key = 'kp'");
    assert_true(!strncmp(prov, "qbench:", 7));
    const char *want[] = {"|commit:", "|cc:", "|flags:", "|openblas:", "|core:"};
    for (int i = 0; i < 5; i++)
        if (!strstr(prov, want[i])) fail_msg("provenance '%s' lacks %s", prov, want[i]);
    store_close(s);
}

/* A point's speed (decode and prefill tokens/s with their thread count) reads back as written; a point
 * without one reads NAN / 0 and its columns are NULL. */
static void test_point_speed_round_trip(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("speed.db"), err);
    assert_non_null(s);
    Fixture f, g;
    make_point(&f, "ks", 4, 5.0, 0);
    f.p.run.decode_tps = 41.5;
    f.p.run.prefill_tps = 312.25;
    f.p.run.speed_threads = 2;
    assert_int_equal(store_write_point(s, &f.p, err), 0);
    make_point(&g, "kn", 3, 6.0, 0);
    assert_int_equal(store_write_point(s, &g.p, err), 0);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM runs WHERE key = 'kn' AND decode_tps IS NULL AND"
                                            " prefill_tps IS NULL AND speed_threads IS NULL"), 1);
    StoreRunRow *rows;
    int n;
    assert_int_equal(store_load_runs(s, NULL, NULL, &rows, &n, err), 0);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        if (!strcmp(rows[i].key, "ks")) {
            assert_true(rows[i].decode_tps == 41.5 && rows[i].prefill_tps == 312.25);
            assert_int_equal(rows[i].speed_threads, 2);
        } else {
            assert_true(isnan(rows[i].decode_tps) && isnan(rows[i].prefill_tps));
            assert_int_equal(rows[i].speed_threads, 0);
        }
    }
    store_free_runs(rows, n);
    store_close(s);
}

/* A done point evaluated again under new settings: the new metrics are added, the old ones (other
 * signatures) kept for the record, nothing duplicated; without the flag a done key is refused. The
 * experiment's recorded evaluations come back by name (latest) or by eval key, and
 * store_run_has_metric matches exact signatures and '|'-terminated prefixes. */
static void test_reevaluated_point_keeps_old_signatures(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("reeval.db"), err);
    assert_non_null(s);
    Fixture f;
    make_point(&f, "kr", 4, 5.0, 2);
    assert_int_equal(store_write_point(s, &f.p, err), 0);
    f.m[0].signature = "seqlen=256|windows:16";
    f.m[0].value = 5.5;
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    assert_non_null(strstr(err, "already done"));
    f.p.reevaluated = 1;
    assert_int_equal(store_write_point(s, &f.p, err), 0);
    sqlite3 *db = store_db(s);
    assert_int_equal(query_int(db, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM metrics"), 3); /* 2 ppl signatures + chrf */
    assert_int_equal(query_int(db, "SELECT count(*) FROM samples"), 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM layers"), 3);
    assert_int_equal(store_run_has_metric(s, "kr", "ppl", "tinystories-valid", "-", "seqlen=256", err), 1);
    assert_int_equal(store_run_has_metric(s, "kr", "ppl", "tinystories-valid", "-", "seqlen=256|", err), 1);
    assert_int_equal(store_run_has_metric(s, "kr", "ppl", "tinystories-valid", "-", "seqlen=512", err), 0);
    assert_int_equal(store_run_has_metric(s, "kr", "ppl", "other", "-", "seqlen=256", err), 0);
    int64_t id1, id2;
    assert_int_equal(store_upsert_experiment(s, "e", "e.yaml", "sha1", &id1, err), 0);
    assert_int_equal(store_upsert_experiment(s, "e", "e.yaml", "sha2", &id2, err), 0);
    assert_int_equal(store_set_experiment_evals(s, id1, "key1", "ppl\td\t-\tv1\n", err), 0);
    assert_int_equal(store_set_experiment_evals(s, id2, "key2", "ppl\td\t-\tv2\n", err), 0);
    char *ev = NULL;
    assert_int_equal(store_get_experiment_evals(s, "e", NULL, &ev, err), 1);
    assert_string_equal(ev, "ppl\td\t-\tv2\n");
    free(ev);
    assert_int_equal(store_get_experiment_evals(s, "e", "key1", &ev, err), 1);
    assert_string_equal(ev, "ppl\td\t-\tv1\n");
    free(ev);
    assert_int_equal(store_get_experiment_evals(s, "e", "key3", &ev, err), 0);
    assert_null(ev);
    store_close(s);
}

static void test_open_errors_name_the_file(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    /* Written by a newer qbench. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path_in("future.db"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(store_open(path_in("future.db"), err));
    assert_non_null(strstr(err, "future.db"));
    assert_non_null(strstr(err, "99"));
    /* Not a database at all. */
    FILE *f = fopen(path_in("text.db"), "w");
    assert_non_null(f);
    fputs("this is not an SQLite file, just some text that is long enough to have a header......\n", f);
    fclose(f);
    assert_null(store_open(path_in("text.db"), err));
    assert_non_null(strstr(err, "text.db"));
    /* A directory that does not exist. */
    assert_null(store_open(path_in("no/such/dir/x.db"), err));
    assert_non_null(strstr(err, "no/such/dir/x.db"));
}

static void test_write_point_round_trip(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("rt.db"), err);
    assert_non_null(s);
    int64_t e1 = 0, e2 = 0, e3 = 0;
    assert_int_equal(store_upsert_experiment(s, "exp", "exp.yaml", "sha-a", &e1, err), 0);
    assert_int_equal(store_upsert_experiment(s, "exp", "exp.yaml", "sha-a", &e2, err), 0);
    assert_int_equal(store_upsert_experiment(s, "exp", "exp.yaml", "sha-b", &e3, err), 0);
    assert_true(e1 > 0 && e1 == e2 && e3 != e1);
    assert_int_equal(store_upsert_experiment(s, "", "exp.yaml", "sha-a", &e3, err), -1);

    Fixture f;
    make_point(&f, "key-1", 4, 10.5, 3);
    f.p.run.experiment_id = e1;
    assert_int_equal(store_point_is_done(s, "key-1", err), 0);
    assert_int_equal(store_begin_point(s, &f.p.run, err), 0);
    assert_int_equal(store_point_is_done(s, "key-1", err), 0);
    sqlite3 *db = store_db(s);
    assert_string_equal(query1(db, "SELECT status FROM runs WHERE key = 'key-1'"), "running");
    char started[64];
    snprintf(started, sizeof started, "%s", query1(db, "SELECT started FROM runs WHERE key = 'key-1'"));
    assert_true(strlen(started) >= 20); /* 2026-01-01T00:00:00.000Z */

    assert_int_equal(store_write_point(s, &f.p, err), 0);
    assert_int_equal(store_point_is_done(s, "key-1", err), 1);
    /* The start time of the 'running' row survives; finished is set. */
    assert_string_equal(query1(db, "SELECT started FROM runs WHERE key = 'key-1'"), started);
    assert_true(strlen(query1(db, "SELECT finished FROM runs WHERE key = 'key-1'")) >= 20);
    assert_int_equal(query_int(db, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM layers"), 3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM samples"), 3);
    /* NaN gptq_loss is stored as NULL. */
    assert_int_equal(query_int(db, "SELECT count(*) FROM layers WHERE gptq_loss IS NULL"), 3);
    assert_string_equal(query1(db, "SELECT against FROM metrics WHERE kind = 'ppl'"), "-");

    StoreRunRow *rows;
    int n;
    assert_int_equal(store_load_runs(s, "exp", "done", &rows, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].key, "key-1");
    assert_string_equal(rows[0].experiment, "exp");
    assert_string_equal(rows[0].host, "testhost");
    assert_int_equal(rows[0].bits, 4);
    assert_int_equal(rows[0].group_size, 32);
    assert_int_equal(rows[0].act_order, 1);
    assert_true(rows[0].bits_per_weight == 4.5);
    assert_int_equal(rows[0].packed_bytes, 4000);
    assert_true(isnan(rows[0].seconds_eval) == 0 && rows[0].seconds_quantize == 1.5);
    const StoreMetricRow *m = store_run_metric(&rows[0], "ppl", "tinystories-valid", NULL);
    assert_non_null(m);
    assert_true(m->value == 10.5);
    assert_int_equal(m->count, 4096);
    assert_string_equal(m->signature, "seqlen=256");
    m = store_run_metric(&rows[0], "chrf", NULL, "baseline");
    assert_non_null(m);
    assert_string_equal(m->stats_json, "[1,2,3]");
    assert_null(store_run_metric(&rows[0], "meteor", NULL, NULL));
    store_free_runs(rows, n);
    assert_int_equal(store_load_runs(s, "other-exp", NULL, &rows, &n, err), 0);
    assert_int_equal(n, 0);
    store_free_runs(rows, n);

    /* A done point is never rewritten, reset or failed. */
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    assert_non_null(strstr(err, "already done"));
    assert_int_equal(store_begin_point(s, &f.p.run, err), 0);
    assert_int_equal(store_fail_point(s, &f.p.run, "boom", err), 0);
    assert_string_equal(query1(db, "SELECT status FROM runs WHERE key = 'key-1'"), "done");
    store_close(s);
}

static void test_failed_write_rolls_back_everything(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("rb.db"), err);
    assert_non_null(s);
    sqlite3 *db = store_db(s);
    Fixture f;
    make_point(&f, "key-rb", 3, 20.0, 3);
    assert_int_equal(store_begin_point(s, &f.p.run, err), 0);

    /* The last sample lacks its task: the run row, both metrics, the layers and two samples were
     * already inserted when it fails. */
    f.s[2].task = NULL;
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    assert_non_null(strstr(err, "sample 2"));
    assert_non_null(strstr(err, "rb.db"));
    assert_int_equal(store_point_is_done(s, "key-rb", err), 0);
    assert_string_equal(query1(db, "SELECT status FROM runs WHERE key = 'key-rb'"), "running");
    assert_int_equal(query_int(db, "SELECT count(*) FROM metrics"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM layers"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM samples"), 0);

    /* Two layers with the same (block, name). */
    f.s[2].task = "tinystories-continuation";
    f.l[2].name = "attn.q";
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    assert_non_null(strstr(err, "layer 2"));
    assert_int_equal(store_point_is_done(s, "key-rb", err), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM metrics"), 0);

    /* A metric without a kind. */
    f.l[2].name = "mlp.down";
    f.m[1].kind = NULL;
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    assert_non_null(strstr(err, "metric 1"));
    assert_int_equal(store_point_is_done(s, "key-rb", err), 0);

    /* Arguments rejected before any SQL. */
    f.m[1].kind = "chrf";
    f.p.n_layers = -1;
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    f.p.n_layers = 3;
    f.p.run.key = "";
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    assert_int_equal(store_begin_point(s, &f.p.run, err), -1);
    f.p.run.key = "key-rb";
    f.p.run.method = NULL;
    assert_int_equal(store_write_point(s, &f.p, err), -1);
    assert_non_null(strstr(err, "method"));
    f.p.run.method = "gptq";

    /* Fixed, it goes through and replaces the 'running' row. */
    assert_int_equal(store_write_point(s, &f.p, err), 0);
    assert_int_equal(store_point_is_done(s, "key-rb", err), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM metrics"), 2);
    store_close(s);
}

static void test_failed_point_is_retried(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("fail.db"), err);
    assert_non_null(s);
    Fixture f;
    make_point(&f, "key-f", 2, 99.0, 1);
    assert_int_equal(store_fail_point(s, &f.p.run, "Cholesky failed in blk.0.attn.q", err), 0);
    assert_int_equal(store_point_is_done(s, "key-f", err), 0);
    assert_string_equal(query1(store_db(s), "SELECT status || ':' || error FROM runs"),
                        "failed:Cholesky failed in blk.0.attn.q");
    assert_int_equal(store_begin_point(s, &f.p.run, err), 0);
    assert_string_equal(query1(store_db(s), "SELECT status || ':' || COALESCE(error, '-') FROM runs"), "running:-");
    assert_int_equal(store_write_point(s, &f.p, err), 0);
    assert_int_equal(store_point_is_done(s, "key-f", err), 1);
    store_close(s);
}

/* ---- a kill in the middle of a write ------------------------------------------------------------- */

static int g_progress_calls, g_kill_after, g_pipe_fd;
static Store *g_child_store;

static int kill_in_progress(void *arg) {
    (void)arg;
    if (++g_progress_calls == g_kill_after) {
        /* Tell the parent whether we die inside the point's transaction, then die like kill -9. */
        char in_txn = sqlite3_get_autocommit(store_db(g_child_store)) ? 'n' : 'y';
        if (write(g_pipe_fd, &in_txn, 1) != 1) _exit(3);
        raise(SIGKILL);
    }
    return 0;
}

static void test_kill_during_write_leaves_nothing_done(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    const char *path = path_in("kill.db");
    Store *s = store_open(path, err); /* create it before forking */
    assert_non_null(s);
    store_close(s);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        g_pipe_fd = fds[1];
        g_child_store = store_open(path, err);
        if (!g_child_store) _exit(2);
        static Fixture cf;
        make_point(&cf, "key-kill", 4, 10.0, 200);
        g_kill_after = 40; /* 40 x 10 VM steps: past BEGIN and the run row, well before 200 samples end */
        sqlite3_progress_handler(store_db(g_child_store), 10, kill_in_progress, NULL);
        store_write_point(g_child_store, &cf.p, err);
        _exit(4); /* reached only if the handler never fired */
    }
    close(fds[1]);
    char in_txn = 0;
    assert_int_equal(read(fds[0], &in_txn, 1), 1);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(in_txn, 'y');

    s = store_open(path, err);
    assert_non_null(s);
    sqlite3 *db = store_db(s);
    assert_string_equal(query1(db, "PRAGMA integrity_check"), "ok");
    assert_int_equal(store_point_is_done(s, "key-kill", err), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM runs"), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM samples"), 0);
    /* Running it again finishes the point exactly once. */
    Fixture f;
    make_point(&f, "key-kill", 4, 10.0, 200);
    assert_int_equal(store_write_point(s, &f.p, err), 0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM samples"), 200);
    store_close(s);
}

/* ---- two connections ---------------------------------------------------------------------------- */

typedef struct {
    Store *s;
    Fixture f;
    int rc;
    char err[QB_ERRLEN];
} Writer;

static void *writer_thread(void *arg) {
    Writer *w = arg;
    w->rc = store_write_point(w->s, &w->f.p, w->err);
    return NULL;
}

/* What B's busy handler saw: SQLite calls it each time B's write finds the lock held. The first call
 * tells the main thread that B is waiting (a semaphore, not a sleep); later calls yield and retry. */
typedef struct {
    sem_t blocked;
    int calls;
} BusySeen;

static int busy_seen(void *arg, int n) {
    BusySeen *b = arg;
    if (__atomic_fetch_add(&b->calls, 1, __ATOMIC_SEQ_CST) == 0) sem_post(&b->blocked);
    (void)n;
    sched_yield();
    return 1; /* keep waiting, as a busy timeout does */
}

static void test_two_connections_share_one_file(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    const char *path = path_in("shared.db");
    Store *a = store_open(path, err), *b = store_open(path, err);
    assert_non_null(a);
    assert_non_null(b);
    Fixture fa;
    make_point(&fa, "key-a", 4, 10.0, 2);
    assert_int_equal(store_write_point(a, &fa.p, err), 0);
    assert_int_equal(store_point_is_done(b, "key-a", err), 1);
    /* the store waits for a lock rather than failing: a 10 s busy timeout on each connection */
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(store_db(b), "PRAGMA busy_timeout", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 10000);
    sqlite3_finalize(q);

    /* A holds the write lock (as during a long point write); B's reader still works (WAL) and B's
     * writer waits instead of failing with SQLITE_BUSY. The busy timeout is replaced by a handler
     * that reports the wait, so the test commits A exactly when B is known to be waiting. */
    static BusySeen seen;
    seen.calls = 0;
    assert_int_equal(sem_init(&seen.blocked, 0, 0), 0);
    sqlite3_busy_handler(store_db(b), busy_seen, &seen);
    assert_int_equal(sqlite3_exec(store_db(a), "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    static Writer w;
    w.s = b;
    make_point(&w.f, "key-b", 3, 12.0, 2);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_thread, &w), 0);
    assert_int_equal(sem_wait(&seen.blocked), 0); /* B is blocked on A's lock */
    assert_int_equal(store_point_is_done(a, "key-a", err), 1);
    assert_int_equal(store_point_is_done(a, "key-b", err), 0);
    assert_int_equal(sqlite3_exec(store_db(a), "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    assert_true(__atomic_load_n(&seen.calls, __ATOMIC_SEQ_CST) >= 1);
    assert_int_equal(store_point_is_done(a, "key-b", err), 1);
    sem_destroy(&seen.blocked);
    store_close(a);
    store_close(b);
}

/* ---- baselines ------------------------------------------------------------------------------------ */

static void test_baselines_put_get_replace(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Store *s = store_open(path_in("base.db"), err);
    assert_non_null(s);
    double v = 0;
    int64_t c = 0;
    char *stats = NULL;
    assert_int_equal(store_get_baseline(s, "sha", "ppl", "tinystories-valid", NULL, "seqlen=256", &v, &c, &stats, err), 0);
    StoreMetric b = {.kind = "ppl", .dataset = "tinystories-valid", .value = 10.0, .count = 512,
                     .stats_json = "{\"nll\":1179.0}", .signature = "seqlen=256"};
    assert_int_equal(store_put_baseline(s, "sha", &b, err), 0);
    assert_int_equal(store_get_baseline(s, "sha", "ppl", "tinystories-valid", "-", "seqlen=256", &v, &c, &stats, err), 1);
    assert_true(v == 10.0);
    assert_int_equal(c, 512);
    assert_string_equal(stats, "{\"nll\":1179.0}");
    free(stats);
    /* Another signature or model is another baseline. */
    assert_int_equal(store_get_baseline(s, "sha", "ppl", "tinystories-valid", NULL, "seqlen=128", &v, &c, NULL, err), 0);
    assert_int_equal(store_get_baseline(s, "other", "ppl", "tinystories-valid", NULL, "seqlen=256", &v, &c, NULL, err), 0);
    b.value = 9.5;
    assert_int_equal(store_put_baseline(s, "sha", &b, err), 0);
    assert_int_equal(store_get_baseline(s, "sha", "ppl", "tinystories-valid", NULL, "seqlen=256", &v, &c, NULL, err), 1);
    assert_true(v == 9.5);
    assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM baselines"), 1);
    assert_int_equal(store_put_baseline(s, "", &b, err), -1);
    b.kind = NULL;
    assert_int_equal(store_put_baseline(s, "sha", &b, err), -1);

    StoreSample gen[3] = {{.idx = 2, .prompt = "p2", .output = "o2"}, {.idx = 0, .prompt = "p0", .output = "o0"},
                          {.idx = 1, .prompt = "p1", .output = "o1", .reference = "r1"}};
    assert_int_equal(store_put_baseline_samples(s, "sha", "task", "new=32", gen, 3, err), 0);
    StoreSampleRow *rows;
    int n;
    assert_int_equal(store_get_baseline_samples(s, "sha", "task", "new=32", &rows, &n, err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof want, "o%d", i);
        assert_int_equal(rows[i].idx, i);
        assert_string_equal(rows[i].output, want);
        assert_string_equal(rows[i].task, "task");
    }
    assert_string_equal(rows[1].reference, "r1");
    store_free_samples(rows, n);
    /* Replacing the set replaces every sample; a duplicate idx rolls the replacement back. */
    StoreSample dup[2] = {{.idx = 0, .output = "x"}, {.idx = 0, .output = "y"}};
    assert_int_equal(store_put_baseline_samples(s, "sha", "task", "new=32", dup, 2, err), -1);
    assert_int_equal(store_get_baseline_samples(s, "sha", "task", "new=32", &rows, &n, err), 0);
    assert_int_equal(n, 3);
    store_free_samples(rows, n);
    assert_int_equal(store_put_baseline_samples(s, "sha", "task", "new=32", dup, 1, err), 0);
    assert_int_equal(store_get_baseline_samples(s, "sha", "task", "new=32", &rows, &n, err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].output, "x");
    store_free_samples(rows, n);
    assert_int_equal(store_get_baseline_samples(s, "sha", "task", "other", &rows, &n, err), 0);
    assert_int_equal(n, 0);
    store_free_samples(rows, n);
    assert_int_equal(store_put_baseline_samples(s, "sha", NULL, "x", dup, 1, err), -1);
    store_close(s);
}

/* ---- merge ---------------------------------------------------------------------------------------- */

/* Everything but ids and timestamps, in a canonical order. */
static char *content(const char *path) {
    char err[QB_ERRLEN];
    Store *s = store_open(path, err);
    assert_non_null(s);
    sqlite3 *db = store_db(s);
    const char *parts[] = {
        "SELECT group_concat(x, '\n') FROM (SELECT name||'|'||file_path||'|'||file_sha256 AS x FROM experiments ORDER BY x)",
        "SELECT group_concat(x, '\n') FROM (SELECT r.key||'|'||COALESCE(e.name,'')||'|'||r.method||'|'||r.bits||'|'||"
        " r.group_size||'|'||r.act_order||'|'||r.params_json||'|'||r.status||'|'||quote(r.bits_per_weight)||'|'||"
        " quote(r.packed_bytes)||'|'||r.host||'|'||quote(r.seconds_quantize) AS x FROM runs r LEFT JOIN experiments e"
        " ON e.id = r.experiment_id ORDER BY x)",
        "SELECT group_concat(x, '\n') FROM (SELECT r.key||'|'||m.kind||'|'||m.dataset||'|'||m.against||'|'||"
        " quote(m.value)||'|'||m.count||'|'||COALESCE(m.stats_json,'')||'|'||m.signature AS x FROM metrics m"
        " JOIN runs r ON r.id = m.run_id ORDER BY x)",
        "SELECT group_concat(x, '\n') FROM (SELECT r.key||'|'||l.block||'|'||l.name||'|'||quote(l.error) AS x"
        " FROM layers l JOIN runs r ON r.id = l.run_id ORDER BY x)",
        "SELECT group_concat(x, '\n') FROM (SELECT r.key||'|'||s.task||'|'||s.idx||'|'||s.output AS x"
        " FROM samples s JOIN runs r ON r.id = s.run_id ORDER BY x)",
        "SELECT group_concat(x, '\n') FROM (SELECT model_sha256||'|'||kind||'|'||dataset||'|'||quote(value) AS x"
        " FROM baselines ORDER BY x)",
        "SELECT group_concat(x, '\n') FROM (SELECT model_sha256||'|'||task||'|'||idx||'|'||output AS x"
        " FROM baseline_samples ORDER BY x)",
    };
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(cap, 1);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s\n--\n", query1(db, parts[i]));
    store_close(s);
    return out;
}

static void write_points(const char *path, const char **keys, const int *bits, const double *ppl, int n,
                         int with_baseline) {
    char err[QB_ERRLEN];
    Store *s = store_open(path, err);
    assert_non_null(s);
    int64_t eid = 0;
    assert_int_equal(store_upsert_experiment(s, "sweep", "exp.yaml", "sha-exp", &eid, err), 0);
    for (int i = 0; i < n; i++) {
        Fixture f;
        make_point(&f, keys[i], bits[i], ppl[i], 2);
        f.p.run.experiment_id = eid;
        assert_int_equal(store_write_point(s, &f.p, err), 0);
    }
    if (with_baseline) {
        StoreMetric b = {.kind = "ppl", .dataset = "tinystories-valid", .value = 10.0, .count = 4096,
                         .signature = "seqlen=256"};
        assert_int_equal(store_put_baseline(s, "abc123", &b, err), 0);
        StoreSample g = {.idx = 0, .output = "baseline out"};
        assert_int_equal(store_put_baseline_samples(s, "abc123", "tinystories-continuation", "", &g, 1, err), 0);
    }
    store_close(s);
}

static void test_merge_two_shards_equals_one_run(void **state) {
    (void)state;
    char err[QB_ERRLEN], warn[QB_ERRLEN];
    const char *keys[3] = {"k2", "k3", "k4"};
    const int bits[3] = {2, 3, 4};
    const double ppl[3] = {30.0, 14.0, 10.5};
    write_points(path_in("single.db"), keys, bits, ppl, 3, 1);
    /* Shard 1 holds k2 and k4; shard 2 holds k3 and an identical copy of k4 (a retried job), and
     * both computed the baseline. */
    const char *k1[2] = {"k2", "k4"}, *k2[2] = {"k3", "k4"};
    const int b1[2] = {2, 4}, b2[2] = {3, 4};
    const double p1[2] = {30.0, 10.5}, p2[2] = {14.0, 10.5};
    write_points(path_in("shard1.db"), k1, b1, p1, 2, 1);
    write_points(path_in("shard2.db"), k2, b2, p2, 2, 1);

    Store *out = store_open(path_in("merged.db"), err);
    assert_non_null(out);
    int added = -1, conflicts = -1;
    assert_int_equal(store_merge_from(out, path_in("shard1.db"), &added, &conflicts, warn, err), 0);
    assert_int_equal(added, 2);
    assert_int_equal(conflicts, 0);
    assert_int_equal(store_merge_from(out, path_in("shard2.db"), &added, &conflicts, warn, err), 0);
    assert_int_equal(added, 1);
    assert_int_equal(conflicts, 0);
    assert_string_equal(warn, "");
    store_close(out);
    char *a = content(path_in("single.db")), *b = content(path_in("merged.db"));
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "k3|sweep|gptq|3|32|1|")); /* the dump really holds the points */
    free(a);
    free(b);
}

static void test_merge_conflicts_keep_first_and_errors(void **state) {
    (void)state;
    char err[QB_ERRLEN], warn[QB_ERRLEN];
    const char *k[1] = {"kc"};
    const int bits[1] = {4};
    const double first[1] = {10.5}, second[1] = {10.75};
    write_points(path_in("c1.db"), k, bits, first, 1, 0);
    write_points(path_in("c2.db"), k, bits, second, 1, 0);
    Store *out = store_open(path_in("cm.db"), err);
    assert_non_null(out);
    int added, conflicts;
    assert_int_equal(store_merge_from(out, path_in("c1.db"), &added, &conflicts, warn, err), 0);
    assert_int_equal(store_merge_from(out, path_in("c2.db"), &added, &conflicts, warn, err), 0);
    assert_int_equal(added, 0);
    assert_int_equal(conflicts, 1);
    assert_non_null(strstr(warn, "kc"));
    assert_non_null(strstr(warn, "c2.db"));
    assert_true(strtod(query1(store_db(out), "SELECT value FROM metrics WHERE kind = 'ppl'"), NULL) == 10.5);

    /* A 'running' leftover in the destination is replaced by the finished copy. */
    Fixture f;
    make_point(&f, "kr", 3, 14.0, 1);
    assert_int_equal(store_begin_point(out, &f.p.run, err), 0);
    Store *src = store_open(path_in("c3.db"), err);
    assert_non_null(src);
    assert_int_equal(store_write_point(src, &f.p, err), 0);
    store_close(src);
    assert_int_equal(store_merge_from(out, path_in("c3.db"), &added, &conflicts, warn, err), 0);
    assert_int_equal(added, 1);
    assert_int_equal(store_point_is_done(out, "kr", err), 1);
    assert_int_equal(query_int(store_db(out), "SELECT count(*) FROM runs"), 2);

    /* Errors: itself, not a database, missing. Nothing changes. */
    assert_int_equal(store_merge_from(out, path_in("cm.db"), &added, &conflicts, warn, err), -1);
    assert_non_null(strstr(err, "itself"));
    FILE *t = fopen(path_in("junk.db"), "w");
    assert_non_null(t);
    fputs("definitely not sqlite, but long enough to have what looks like a header at the start\n", t);
    fclose(t);
    assert_int_equal(store_merge_from(out, path_in("junk.db"), &added, &conflicts, warn, err), -1);
    assert_non_null(strstr(err, "junk.db"));
    assert_int_equal(query_int(store_db(out), "SELECT count(*) FROM runs"), 2);

    /* The same point evaluated under other settings elsewhere: its numbers join the kept copy's,
     * each under its own signature; no conflict. */
    make_point(&f, "ks", 4, 9.0, 0);
    Store *d1 = store_open(path_in("s1.db"), err), *d2 = store_open(path_in("s2.db"), err);
    assert_int_equal(store_write_point(d1, &f.p, err), 0);
    f.m[0].signature = "seqlen=256|windows:8";
    f.m[0].value = 9.25;
    assert_int_equal(store_write_point(d2, &f.p, err), 0);
    store_close(d1);
    store_close(d2);
    assert_int_equal(store_merge_from(out, path_in("s1.db"), &added, &conflicts, warn, err), 0);
    assert_int_equal(store_merge_from(out, path_in("s2.db"), &added, &conflicts, warn, err), 0);
    assert_int_equal(conflicts, 0);
    assert_int_equal(query_int(store_db(out), "SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id"
                                               " WHERE r.key = 'ks' AND m.kind = 'ppl'"), 2);

    /* Inputs are only read: an empty file stays empty, an older schema stays as it was. */
    t = fopen(path_in("empty.db"), "w");
    fclose(t);
    assert_int_equal(store_merge_from(out, path_in("empty.db"), &added, &conflicts, warn, err), -1);
    assert_non_null(strstr(err, "not a qbench results database"));
    struct stat sb;
    assert_int_equal(stat(path_in("empty.db"), &sb), 0);
    assert_int_equal(sb.st_size, 0);
    sqlite3 *v2 = NULL;
    assert_int_equal(sqlite3_open(path_in("v2.db"), &v2), SQLITE_OK);
    assert_int_equal(sqlite3_exec(v2, "CREATE TABLE t(x); PRAGMA user_version = 2;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(v2);
    assert_int_equal(store_merge_from(out, path_in("v2.db"), &added, &conflicts, warn, err), -1); /* no runs table */
    assert_int_equal(sqlite3_open(path_in("v2.db"), &v2), SQLITE_OK);
    assert_int_equal(query_int(v2, "PRAGMA user_version"), 2);
    sqlite3_close(v2);
    store_close(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_database_has_current_schema_wal_and_timeout),
        cmocka_unit_test(test_migrates_hand_written_v1_database),
        cmocka_unit_test(test_point_speed_round_trip),
        cmocka_unit_test(test_point_records_provenance),
        cmocka_unit_test(test_reevaluated_point_keeps_old_signatures),
        cmocka_unit_test(test_open_errors_name_the_file),
        cmocka_unit_test(test_write_point_round_trip),
        cmocka_unit_test(test_failed_write_rolls_back_everything),
        cmocka_unit_test(test_failed_point_is_retried),
        cmocka_unit_test(test_kill_during_write_leaves_nothing_done),
        cmocka_unit_test(test_two_connections_share_one_file),
        cmocka_unit_test(test_baselines_put_get_replace),
        cmocka_unit_test(test_merge_two_shards_equals_one_run),
        cmocka_unit_test(test_merge_conflicts_keep_first_and_errors),
    };
    return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
