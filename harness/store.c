/* store.c — the results database (SQLite): schema, forward migrations, and the one-transaction
 * writes of finished sweep points and baselines. See store.h for the API contract.
 *
 * ---- Schema (PRAGMA user_version = 5) -------------------------------------------------------------
 * experiments      one row per (experiment name, experiment-file sha256)
 *   id INTEGER PK, name TEXT, file_path TEXT, file_sha256 TEXT, created TEXT (ISO-8601 UTC),
 *   evals TEXT  -- the metrics this version of the file computes, one "kind TAB dataset TAB against
 *                  TAB signature" line each (a signature ending in '|' is a prefix); '' if unknown
 *   eval_key TEXT -- hash of the file's evaluation settings (sweep_eval_key)
 * runs             one row per sweep point
 *   id INTEGER PK, key TEXT UNIQUE   -- stable hash of model sha256 + canonical point params
 *   experiment_id -> experiments.id, model_path, model_sha256,
 *   method TEXT, bits INT, group_size INT (-1 = per row), act_order, sym, static_groups (0/1),
 *   params_json TEXT                 -- the full canonical parameters of the point
 *   status TEXT 'running'|'done'|'failed', error TEXT, started TEXT, finished TEXT,
 *   seconds_calibration, seconds_quantize, seconds_eval REAL, peak_rss_bytes INT,
 *   bits_per_weight REAL, packed_bytes INT, host TEXT, threads INT,
 *   provenance TEXT  -- the build that wrote the point (provenance.h: version, commit, flags, OpenBLAS)
 *   decode_tps, prefill_tps REAL, speed_threads INT -- tokens/s of the quantized model as stored, measured
 *                    on the machine with speed_threads threads (NULL: not measured; timing, never compared)
 * metrics          one number per (run, kind, dataset, against, signature)
 *   id, run_id -> runs.id (cascade), kind TEXT ('ppl','chrf','chrf++','meteor','top1','kl',...),
 *   dataset TEXT (dataset or generation task), against TEXT ('reference'|'baseline'|'-'),
 *   value REAL, count INT, stats_json TEXT (sufficient statistics), signature TEXT (eval settings)
 * layers           per linear layer of a run: id, run_id, block INT, name TEXT, rows, cols,
 *                  error, gptq_loss, damp_used REAL, retries INT, seconds REAL
 * samples          generations of a run: id, run_id, task, idx, prompt, output, reference, scores_json
 * baselines        the unquantized model's numbers, reused across points and runs:
 *   id, model_sha256, kind, dataset, against, signature, value, count, stats_json, created
 *   UNIQUE(model_sha256, kind, dataset, against, signature)
 * baseline_samples the unquantized model's generations:
 *   id, model_sha256, task, signature, idx, prompt, output, reference, scores_json
 *   UNIQUE(model_sha256, task, signature, idx)
 * task_items       per-item results of a run's zero-shot tasks: id, run_id, task, signature, idx, gold,
 *                  pred, pred_norm, correct, correct_norm, ll/ntok/greedy (JSON arrays, one per request)
 * baseline_task_items  the same for the unquantized model, keyed by model_sha256 instead of run_id
 * Example: SELECT r.method, r.bits, r.group_size, r.bits_per_weight, m.value FROM runs r
 *          JOIN metrics m ON m.run_id = r.id WHERE r.status = 'done' AND m.kind = 'ppl';
 * ------------------------------------------------------------------------------------------------
 * A point becomes 'done' only inside the transaction that also writes all its metrics, layers and
 * samples, so a crash can never leave a half-written point counted as done. */
#include "harness/store.h"
#include "harness/provenance.h"
#include "base/base.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct Store {
    sqlite3 *db;
    char path[512];
    int version; /* the file's schema version (STORE_SCHEMA_VERSION unless opened read-only) */
};

#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

/* Forward migrations: MIGRATIONS[v] takes a database from user_version v to v+1. Never edit a
 * released entry; append a new one and bump STORE_SCHEMA_VERSION. */
static const char *const MIGRATIONS[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: experiments, runs and their children */
    "CREATE TABLE experiments("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL, file_path TEXT, file_sha256 TEXT NOT NULL DEFAULT '',"
    " created TEXT NOT NULL DEFAULT (" NOW_SQL "), UNIQUE(name, file_sha256));"
    "CREATE TABLE runs("
    " id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    " experiment_id INTEGER REFERENCES experiments(id),"
    " model_path TEXT, model_sha256 TEXT NOT NULL DEFAULT '',"
    " method TEXT NOT NULL, bits INTEGER NOT NULL, group_size INTEGER NOT NULL,"
    " act_order INTEGER NOT NULL DEFAULT 0, sym INTEGER NOT NULL DEFAULT 0,"
    " static_groups INTEGER NOT NULL DEFAULT 0, params_json TEXT NOT NULL DEFAULT '{}',"
    " status TEXT NOT NULL CHECK (status IN ('running','done','failed')), error TEXT,"
    " started TEXT, finished TEXT,"
    " seconds_calibration REAL, seconds_quantize REAL, seconds_eval REAL, peak_rss_bytes INTEGER,"
    " bits_per_weight REAL, packed_bytes INTEGER, host TEXT, threads INTEGER);"
    "CREATE TABLE metrics("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL, dataset TEXT NOT NULL, against TEXT NOT NULL DEFAULT '-',"
    " value REAL, count INTEGER, stats_json TEXT, signature TEXT NOT NULL DEFAULT '',"
    " UNIQUE(run_id, kind, dataset, against, signature));"
    "CREATE TABLE layers("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " block INTEGER NOT NULL, name TEXT NOT NULL, rows INTEGER, cols INTEGER, error REAL,"
    " gptq_loss REAL, damp_used REAL, retries INTEGER, seconds REAL, UNIQUE(run_id, block, name));"
    "CREATE TABLE samples("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " task TEXT NOT NULL, idx INTEGER NOT NULL, prompt TEXT, output TEXT, reference TEXT,"
    " scores_json TEXT, UNIQUE(run_id, task, idx));",
    /* 1 -> 2: baselines shared by every point of a model, and an index for per-experiment queries */
    "CREATE TABLE baselines("
    " id INTEGER PRIMARY KEY, model_sha256 TEXT NOT NULL, kind TEXT NOT NULL, dataset TEXT NOT NULL,"
    " against TEXT NOT NULL DEFAULT '-', signature TEXT NOT NULL DEFAULT '', value REAL, count INTEGER,"
    " stats_json TEXT, created TEXT NOT NULL DEFAULT (" NOW_SQL "),"
    " UNIQUE(model_sha256, kind, dataset, against, signature));"
    "CREATE TABLE baseline_samples("
    " id INTEGER PRIMARY KEY, model_sha256 TEXT NOT NULL, task TEXT NOT NULL,"
    " signature TEXT NOT NULL DEFAULT '', idx INTEGER NOT NULL, prompt TEXT, output TEXT,"
    " reference TEXT, scores_json TEXT, UNIQUE(model_sha256, task, signature, idx));"
    "CREATE INDEX runs_experiment ON runs(experiment_id);",
    /* 2 -> 3: per-item results of zero-shot tasks (paired tests between points; harness/store_tasks.c) */
    "CREATE TABLE task_items("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " task TEXT NOT NULL, signature TEXT NOT NULL DEFAULT '', idx INTEGER NOT NULL, gold INTEGER, pred INTEGER,"
    " pred_norm INTEGER, correct INTEGER, correct_norm INTEGER, ll TEXT, ntok TEXT, greedy TEXT,"
    " UNIQUE(run_id, task, signature, idx));"
    "CREATE TABLE baseline_task_items("
    " id INTEGER PRIMARY KEY, model_sha256 TEXT NOT NULL, task TEXT NOT NULL, signature TEXT NOT NULL DEFAULT '',"
    " idx INTEGER NOT NULL, gold INTEGER, pred INTEGER, pred_norm INTEGER, correct INTEGER, correct_norm INTEGER,"
    " ll TEXT, ntok TEXT, greedy TEXT, UNIQUE(model_sha256, task, signature, idx));",
    /* 3 -> 4: provenance of every point, the evaluation signatures of every experiment version */
    "ALTER TABLE runs ADD COLUMN provenance TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE experiments ADD COLUMN evals TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE experiments ADD COLUMN eval_key TEXT NOT NULL DEFAULT '';",
    /* 4 -> 5: decode and prefill speed of every point, with the threads they were measured with */
    "ALTER TABLE runs ADD COLUMN decode_tps REAL;"
    "ALTER TABLE runs ADD COLUMN prefill_tps REAL;"
    "ALTER TABLE runs ADD COLUMN speed_threads INTEGER;",
};

/* ---- small helpers ------------------------------------------------------------------------------ */

/* "PATH: message" into err; always -1 so callers can `return errf(...)`. */
static int errf(Store *s, char err[QB_ERRLEN], const char *fmt, ...) {
    int k = snprintf(err, QB_ERRLEN, "%.300s: ", s->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + k, (size_t)(QB_ERRLEN - k), fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_db(Store *s, char err[QB_ERRLEN], const char *what) {
    return errf(s, err, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* ROLLBACK after err has been written (rolling back may overwrite sqlite3_errmsg). */
static int rollback(Store *s) {
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int exec_sql(Store *s, const char *sql, char err[QB_ERRLEN], const char *what) {
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) return fail_db(s, err, what);
    return 0;
}

static sqlite3_stmt *prep(Store *s, const char *sql, char err[QB_ERRLEN], const char *what) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail_db(s, err, what);
        return NULL;
    }
    return st;
}

static void bind_str(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static void bind_str_or(sqlite3_stmt *st, int i, const char *v, const char *dflt) {
    sqlite3_bind_text(st, i, v ? v : dflt, -1, SQLITE_TRANSIENT);
}

/* NaN / inf cannot be stored as REAL; they become NULL (read back as NAN). */
static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

static double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

/* Runs a statement that returns no rows; finalizes it. */
static int step_done(Store *s, sqlite3_stmt *st, char err[QB_ERRLEN], const char *what) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        fail_db(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- open / migrate ----------------------------------------------------------------------------- */

static int user_version(Store *s, int *v, char err[QB_ERRLEN]) {
    sqlite3_stmt *st = prep(s, "PRAGMA user_version", err, "reading schema version");
    if (!st) return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        fail_db(s, err, "reading schema version");
        sqlite3_finalize(st);
        return -1;
    }
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int migrate(Store *s, char err[QB_ERRLEN]) {
    int v = 0;
    if (user_version(s, &v, err)) return -1;
    if (v == STORE_SCHEMA_VERSION) return 0;
    if (v > STORE_SCHEMA_VERSION || v < 0) {
        errf(s, err, "schema version %d is newer than this qbench understands (%d)", v,
                 STORE_SCHEMA_VERSION);
        return -1;
    }
    /* IMMEDIATE: two processes opening a fresh file at once must not both migrate. Re-read the
     * version inside the lock. */
    if (exec_sql(s, "BEGIN IMMEDIATE", err, "starting migration")) return -1;
    if (user_version(s, &v, err)) return rollback(s);
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof what, "migrating schema %d -> %d", v, v + 1);
        if (exec_sql(s, MIGRATIONS[v], err, what)) return rollback(s);
    }
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
    if (exec_sql(s, sql, err, "setting schema version")) return rollback(s);
    if (exec_sql(s, "COMMIT", err, "committing migration")) return rollback(s);
    return 0;
}

Store *store_open(const char *path, char err[QB_ERRLEN]) {
    Store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, QB_ERRLEN, "%s: out of memory", path);
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, QB_ERRLEN, "%s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return NULL;
    }
    /* Another process may hold the write lock for a whole point; wait instead of failing. */
    sqlite3_busy_timeout(s->db, 10000);
    if (exec_sql(s, "PRAGMA foreign_keys = ON", err, "enabling foreign keys")) goto bad;
    {
        /* The first real read: a file that is not SQLite fails here ("file is not a database"). */
        sqlite3_stmt *st = prep(s, "PRAGMA journal_mode = WAL", err, "enabling WAL");
        if (!st) goto bad;
        if (sqlite3_step(st) != SQLITE_ROW) {
            fail_db(s, err, "enabling WAL");
            sqlite3_finalize(st);
            goto bad;
        }
        sqlite3_finalize(st);
    }
    /* FULL: a committed point survives a power cut too (one fsync per point, negligible next to
     * the minutes a point takes). */
    if (exec_sql(s, "PRAGMA synchronous = FULL", err, "setting synchronous")) goto bad;
    if (migrate(s, err)) goto bad;
    s->version = STORE_SCHEMA_VERSION;
    return s;
bad:
    store_close(s);
    return NULL;
}

Store *store_open_readonly(const char *path, char err[QB_ERRLEN]) {
    Store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, QB_ERRLEN, "%s: out of memory", path);
        return NULL;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, QB_ERRLEN, "%s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 10000);
    /* The first read: a file that is not SQLite fails here ("file is not a database"). An empty
     * file is a valid empty SQLite database of version 0, refused below: nothing is written. */
    if (user_version(s, &s->version, err)) goto bad;
    if (s->version < 1 || s->version > STORE_SCHEMA_VERSION) {
        if (s->version < 1) errf(s, err, "not a qbench results database (no schema)");
        else errf(s, err, "schema version %d is newer than this qbench understands (%d)", s->version,
                  STORE_SCHEMA_VERSION);
        goto bad;
    }
    return s;
bad:
    store_close(s);
    return NULL;
}

void store_close(Store *s) {
    if (!s) return;
    if (s->db) sqlite3_close_v2(s->db);
    free(s);
}

sqlite3 *store_db(Store *s) { return s->db; }

/* ---- experiments and points --------------------------------------------------------------------- */

int store_upsert_experiment(Store *s, const char *name, const char *file_path, const char *file_sha256,
                            int64_t *id, char err[QB_ERRLEN]) {
    if (!name || !*name) {
        errf(s, err, "experiment name is empty");
        return -1;
    }
    sqlite3_stmt *st = prep(s, "INSERT OR IGNORE INTO experiments(name, file_path, file_sha256) VALUES (?,?,?)",
                            err, "inserting experiment");
    if (!st) return -1;
    bind_str(st, 1, name);
    bind_str(st, 2, file_path);
    bind_str_or(st, 3, file_sha256, "");
    if (step_done(s, st, err, "inserting experiment")) return -1;
    st = prep(s, "SELECT id FROM experiments WHERE name = ? AND file_sha256 = ?", err, "reading experiment");
    if (!st) return -1;
    bind_str(st, 1, name);
    bind_str_or(st, 2, file_sha256, "");
    if (sqlite3_step(st) != SQLITE_ROW) {
        fail_db(s, err, "reading experiment back");
        sqlite3_finalize(st);
        return -1;
    }
    *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* -1 error, 0 absent, 1 present; *status (if non-NULL) gets 'r','d','f'. */
static int run_status(Store *s, const char *key, int64_t *id, char *status, char err[QB_ERRLEN]) {
    sqlite3_stmt *st = prep(s, "SELECT id, status FROM runs WHERE key = ?", err, "looking up run");
    if (!st) return -1;
    bind_str(st, 1, key);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (id) *id = sqlite3_column_int64(st, 0);
        const unsigned char *t = sqlite3_column_text(st, 1);
        if (status) *status = t ? (char)t[0] : '?';
    } else if (rc != SQLITE_DONE) {
        fail_db(s, err, "looking up run");
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

static int check_key(Store *s, const StoreRun *r, char err[QB_ERRLEN]) {
    if (!r->key || !*r->key) {
        errf(s, err, "run key is empty");
        return -1;
    }
    if (!r->method || !*r->method) {
        errf(s, err, "run %s: method is empty", r->key);
        return -1;
    }
    return 0;
}

int store_point_is_done(Store *s, const char *key, char err[QB_ERRLEN]) {
    char status = 0;
    int found = run_status(s, key ? key : "", NULL, &status, err);
    if (found < 0) return -1;
    return found && status == 'd';
}

/* Column list shared by every INSERT INTO runs; the values are bound by bind_run(). */
#define RUN_COLS                                                                                     \
    "key, experiment_id, model_path, model_sha256, method, bits, group_size, act_order, sym,"       \
    " static_groups, params_json, host, threads, seconds_calibration, seconds_quantize, seconds_eval," \
    " peak_rss_bytes, bits_per_weight, packed_bytes, provenance, decode_tps, prefill_tps, speed_threads"
#define RUN_QMARKS "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"
#define RUN_NCOLS 23

static void bind_run(sqlite3_stmt *st, const StoreRun *r) {
    char host[256] = "";
    if (!r->host && gethostname(host, sizeof host - 1) != 0) host[0] = 0;
    bind_str(st, 1, r->key);
    if (r->experiment_id > 0) sqlite3_bind_int64(st, 2, r->experiment_id);
    else sqlite3_bind_null(st, 2);
    bind_str(st, 3, r->model_path);
    bind_str_or(st, 4, r->model_sha256, "");
    bind_str(st, 5, r->method);
    sqlite3_bind_int(st, 6, r->bits);
    sqlite3_bind_int(st, 7, r->group_size);
    sqlite3_bind_int(st, 8, r->act_order != 0);
    sqlite3_bind_int(st, 9, r->sym != 0);
    sqlite3_bind_int(st, 10, r->static_groups != 0);
    bind_str_or(st, 11, r->params_json, "{}");
    bind_str(st, 12, r->host ? r->host : host);
    sqlite3_bind_int(st, 13, r->threads);
    bind_real(st, 14, r->seconds_calibration);
    bind_real(st, 15, r->seconds_quantize);
    bind_real(st, 16, r->seconds_eval);
    sqlite3_bind_int64(st, 17, r->peak_rss_bytes);
    bind_real(st, 18, r->bits_per_weight);
    sqlite3_bind_int64(st, 19, r->packed_bytes);
    char prov[512];
    if (!r->provenance) qb_provenance(prov, sizeof prov);
    bind_str(st, 20, r->provenance ? r->provenance : prov);
    bind_real(st, 21, r->speed_threads > 0 ? r->decode_tps : NAN);
    bind_real(st, 22, r->speed_threads > 0 ? r->prefill_tps : NAN);
    if (r->speed_threads > 0) sqlite3_bind_int(st, 23, r->speed_threads);
    else sqlite3_bind_null(st, 23);
}

int store_begin_point(Store *s, const StoreRun *run, char err[QB_ERRLEN]) {
    if (check_key(s, run, err)) return -1;
    /* Upsert: a stale 'running' or 'failed' row is reset; a 'done' row is left alone. */
    sqlite3_stmt *st = prep(s,
        "INSERT INTO runs(" RUN_COLS ", status, started) VALUES (" RUN_QMARKS ", 'running', " NOW_SQL ")"
        " ON CONFLICT(key) DO UPDATE SET status = 'running', error = NULL, finished = NULL,"
        " started = excluded.started, host = excluded.host, threads = excluded.threads,"
        " experiment_id = excluded.experiment_id WHERE status <> 'done'",
        err, "starting point");
    if (!st) return -1;
    bind_run(st, run);
    return step_done(s, st, err, "starting point");
}

int store_fail_point(Store *s, const StoreRun *run, const char *message, char err[QB_ERRLEN]) {
    if (check_key(s, run, err)) return -1;
    sqlite3_stmt *st = prep(s,
        "INSERT INTO runs(" RUN_COLS ", status, error, started, finished) VALUES (" RUN_QMARKS
        ", 'failed', ?, " NOW_SQL ", " NOW_SQL ")"
        " ON CONFLICT(key) DO UPDATE SET status = 'failed', error = excluded.error,"
        " finished = excluded.finished WHERE status <> 'done'",
        err, "marking point failed");
    if (!st) return -1;
    bind_run(st, run);
    bind_str_or(st, RUN_NCOLS + 1, message, "");
    return step_done(s, st, err, "marking point failed");
}

static int insert_metric(sqlite3_stmt *st, int64_t run_id, const StoreMetric *m) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, run_id);
    bind_str(st, 2, m->kind);
    bind_str(st, 3, m->dataset);
    bind_str_or(st, 4, m->against, "-");
    bind_real(st, 5, m->value);
    sqlite3_bind_int64(st, 6, m->count);
    bind_str(st, 7, m->stats_json);
    bind_str_or(st, 8, m->signature, "");
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

static int insert_layer(sqlite3_stmt *st, int64_t run_id, const StoreLayer *l) {
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int(st, 2, l->block);
    bind_str(st, 3, l->name);
    sqlite3_bind_int(st, 4, l->rows);
    sqlite3_bind_int(st, 5, l->cols);
    bind_real(st, 6, l->error);
    bind_real(st, 7, l->gptq_loss);
    bind_real(st, 8, l->damp_used);
    sqlite3_bind_int(st, 9, l->retries);
    bind_real(st, 10, l->seconds);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/* Samples of a run (owner = run id) or of a baseline (owner bound by the caller at 1..3). */
static int insert_sample(sqlite3_stmt *st, int first, const StoreSample *x) {
    sqlite3_reset(st);
    bind_str(st, first, x->task);
    sqlite3_bind_int(st, first + 1, x->idx);
    bind_str(st, first + 2, x->prompt);
    bind_str(st, first + 3, x->output);
    bind_str(st, first + 4, x->reference);
    bind_str(st, first + 5, x->scores_json);
    return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int store_write_point(Store *s, const StorePoint *p, char err[QB_ERRLEN]) {
    const StoreRun *r = &p->run;
    if (check_key(s, r, err)) return -1;
    if (p->n_metrics < 0 || p->n_layers < 0 || p->n_samples < 0 || (p->n_metrics && !p->metrics) ||
        (p->n_layers && !p->layers) || (p->n_samples && !p->samples)) {
        errf(s, err, "run %s: bad metric/layer/sample arrays", r->key);
        return -1;
    }
    /* IMMEDIATE takes the write lock now (waiting up to the busy timeout), so the status we read
     * cannot change under us before COMMIT. */
    if (exec_sql(s, "BEGIN IMMEDIATE", err, "starting point transaction")) return -1;
    int64_t old_id = 0;
    char status = 0;
    int found = run_status(s, r->key, &old_id, &status, err);
    if (found < 0) return rollback(s);
    if (found && status == 'd' && !p->reevaluated) {
        errf(s, err, "run %s is already done", r->key);
        return rollback(s);
    }
    if (found && status == 'd') { /* its metrics under other signatures are copied over below */
        sqlite3_stmt *st = prep(s, "UPDATE runs SET key = key || '#old' WHERE id = ?", err, "re-evaluating run");
        if (!st) return rollback(s);
        sqlite3_bind_int64(st, 1, old_id);
        if (step_done(s, st, err, "re-evaluating run")) return rollback(s);
    }
    /* Keep the start time of the 'running' row this write completes. */
    char started[64] = "";
    if (found) {
        sqlite3_stmt *st = prep(s, "SELECT started FROM runs WHERE id = ?", err, "reading run start");
        if (!st) return rollback(s);
        sqlite3_bind_int64(st, 1, old_id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(started, sizeof started, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (status != 'd') {
            st = prep(s, "DELETE FROM runs WHERE id = ?", err, "replacing unfinished run");
            if (!st) return rollback(s);
            sqlite3_bind_int64(st, 1, old_id);
            if (step_done(s, st, err, "replacing unfinished run")) return rollback(s);
        }
    }
    sqlite3_stmt *st = prep(s,
        "INSERT INTO runs(" RUN_COLS ", status, started, finished) VALUES (" RUN_QMARKS
        ", 'done', COALESCE(NULLIF(?, ''), " NOW_SQL "), " NOW_SQL ")",
        err, "inserting run");
    if (!st) return rollback(s);
    bind_run(st, r);
    sqlite3_bind_text(st, RUN_NCOLS + 1, started, -1, SQLITE_TRANSIENT);
    char what[256];
    snprintf(what, sizeof what, "run %.100s: inserting run", r->key);
    if (step_done(s, st, err, what)) return rollback(s);
    int64_t run_id = sqlite3_last_insert_rowid(s->db);

    st = prep(s, "INSERT INTO metrics(run_id, kind, dataset, against, value, count, stats_json, signature)"
                 " VALUES (?,?,?,?,?,?,?,?)", err, "preparing metrics");
    if (!st) return rollback(s);
    for (int i = 0; i < p->n_metrics; i++)
        if (insert_metric(st, run_id, &p->metrics[i])) {
            snprintf(what, sizeof what, "run %.100s: metric %d", r->key, i);
            fail_db(s, err, what);
            sqlite3_finalize(st);
            return rollback(s);
        }
    sqlite3_finalize(st);

    st = prep(s, "INSERT INTO layers(run_id, block, name, rows, cols, error, gptq_loss, damp_used, retries, seconds)"
                 " VALUES (?,?,?,?,?,?,?,?,?,?)", err, "preparing layers");
    if (!st) return rollback(s);
    for (int i = 0; i < p->n_layers; i++)
        if (insert_layer(st, run_id, &p->layers[i])) {
            snprintf(what, sizeof what, "run %.100s: layer %d (block %d %.40s)", r->key, i, p->layers[i].block,
                     p->layers[i].name ? p->layers[i].name : "(null)");
            fail_db(s, err, what);
            sqlite3_finalize(st);
            return rollback(s);
        }
    sqlite3_finalize(st);

    st = prep(s, "INSERT INTO samples(run_id, task, idx, prompt, output, reference, scores_json)"
                 " VALUES (?,?,?,?,?,?,?)", err, "preparing samples");
    if (!st) return rollback(s);
    sqlite3_bind_int64(st, 1, run_id);
    for (int i = 0; i < p->n_samples; i++)
        if (insert_sample(st, 2, &p->samples[i])) {
            snprintf(what, sizeof what, "run %.100s: sample %d", r->key, i);
            fail_db(s, err, what);
            sqlite3_finalize(st);
            return rollback(s);
        }
    sqlite3_finalize(st);

    if (p->n_task_items && store_insert_task_items(s, run_id, p->task_items, p->n_task_items, err)) return rollback(s);

    if (found && status == 'd') {
        /* a re-evaluated point keeps the numbers it had under other evaluation settings (stale
         * for the current experiment file, still there for the record) and its other generations */
        static const char *const COPY[] = {
            "INSERT OR IGNORE INTO metrics(run_id, kind, dataset, against, value, count, stats_json, signature)"
            " SELECT ?1, kind, dataset, against, value, count, stats_json, signature FROM metrics WHERE run_id = ?2",
            "INSERT OR IGNORE INTO samples(run_id, task, idx, prompt, output, reference, scores_json)"
            " SELECT ?1, task, idx, prompt, output, reference, scores_json FROM samples WHERE run_id = ?2",
            "INSERT OR IGNORE INTO task_items(run_id, task, signature, idx, gold, pred, pred_norm, correct,"
            " correct_norm, ll, ntok, greedy) SELECT ?1, task, signature, idx, gold, pred, pred_norm, correct,"
            " correct_norm, ll, ntok, greedy FROM task_items WHERE run_id = ?2",
            "DELETE FROM runs WHERE id = ?2",
        };
        for (size_t i = 0; i < sizeof COPY / sizeof COPY[0]; i++) {
            st = prep(s, COPY[i], err, "re-evaluating run");
            if (!st) return rollback(s);
            sqlite3_bind_int64(st, 1, run_id);
            sqlite3_bind_int64(st, 2, old_id);
            if (step_done(s, st, err, "re-evaluating run")) return rollback(s);
        }
    }
    if (exec_sql(s, "COMMIT", err, "committing point")) return rollback(s);
    return 0;
}

int store_set_experiment_evals(Store *s, int64_t experiment_id, const char *eval_key, const char *evals,
                               char err[QB_ERRLEN]) {
    sqlite3_stmt *st = prep(s, "UPDATE experiments SET evals = ?, eval_key = ? WHERE id = ?", err, "recording evaluations");
    if (!st) return -1;
    bind_str_or(st, 1, evals, "");
    bind_str_or(st, 2, eval_key, "");
    sqlite3_bind_int64(st, 3, experiment_id);
    return step_done(s, st, err, "recording evaluations");
}

int store_get_experiment_evals(Store *s, const char *name, const char *eval_key, char **evals,
                               char err[QB_ERRLEN]) {
    *evals = NULL;
    if (s->version < 4) return 0; /* recorded from schema 4 on */
    sqlite3_stmt *st = prep(s,
        "SELECT evals FROM experiments WHERE name = ?1 AND (?2 IS NULL OR eval_key = ?2) AND evals <> ''"
        " ORDER BY id DESC LIMIT 1", err, "reading evaluations");
    if (!st) return -1;
    bind_str(st, 1, name);
    bind_str(st, 2, eval_key);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (!(*evals = col_dup(st, 0))) found = errf(s, err, "out of memory");
    } else if (rc != SQLITE_DONE) {
        found = fail_db(s, err, "reading evaluations");
    }
    sqlite3_finalize(st);
    return found;
}

int store_run_has_metric(Store *s, const char *key, const char *kind, const char *dataset, const char *against,
                         const char *signature, char err[QB_ERRLEN]) {
    size_t n = strlen(signature);
    int prefix = n > 0 && signature[n - 1] == '|';
    sqlite3_stmt *st = prep(s,
        "SELECT 1 FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.key = ?1 AND m.kind = ?2 AND m.dataset = ?3"
        " AND m.against = ?4 AND (m.signature = ?5 OR (?6 AND substr(m.signature, 1, length(?5)) = ?5)) LIMIT 1",
        err, "looking up metric");
    if (!st) return -1;
    bind_str(st, 1, key);
    bind_str(st, 2, kind);
    bind_str(st, 3, dataset);
    bind_str_or(st, 4, against, "-");
    bind_str(st, 5, signature);
    sqlite3_bind_int(st, 6, prefix);
    int rc = sqlite3_step(st), found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) found = fail_db(s, err, "looking up metric");
    sqlite3_finalize(st);
    return found;
}

/* ---- baselines ------------------------------------------------------------------------------------ */

int store_put_baseline(Store *s, const char *model_sha256, const StoreMetric *m, char err[QB_ERRLEN]) {
    if (!model_sha256 || !*model_sha256) {
        errf(s, err, "baseline: model sha256 is empty");
        return -1;
    }
    sqlite3_stmt *st = prep(s,
        "INSERT INTO baselines(model_sha256, kind, dataset, against, value, count, stats_json, signature)"
        " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(model_sha256, kind, dataset, against, signature) DO UPDATE SET"
        " value = excluded.value, count = excluded.count, stats_json = excluded.stats_json,"
        " created = " NOW_SQL,
        err, "writing baseline");
    if (!st) return -1;
    bind_str(st, 1, model_sha256);
    bind_str(st, 2, m->kind);
    bind_str(st, 3, m->dataset);
    bind_str_or(st, 4, m->against, "-");
    bind_real(st, 5, m->value);
    sqlite3_bind_int64(st, 6, m->count);
    bind_str(st, 7, m->stats_json);
    bind_str_or(st, 8, m->signature, "");
    return step_done(s, st, err, "writing baseline");
}

int store_get_baseline(Store *s, const char *model_sha256, const char *kind, const char *dataset,
                       const char *against, const char *signature, double *value, int64_t *count,
                       char **stats_json, char err[QB_ERRLEN]) {
    sqlite3_stmt *st = prep(s,
        "SELECT value, count, stats_json FROM baselines WHERE model_sha256 = ? AND kind = ? AND dataset = ?"
        " AND against = ? AND signature = ?", err, "reading baseline");
    if (!st) return -1;
    bind_str(st, 1, model_sha256);
    bind_str(st, 2, kind);
    bind_str(st, 3, dataset);
    bind_str_or(st, 4, against, "-");
    bind_str_or(st, 5, signature, "");
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (value) *value = col_real(st, 0);
        if (count) *count = sqlite3_column_int64(st, 1);
        if (stats_json) {
            *stats_json = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : col_dup(st, 2);
            if (sqlite3_column_type(st, 2) != SQLITE_NULL && !*stats_json) {
                errf(s, err, "out of memory reading baseline");
                found = -1;
            }
        }
    } else if (rc != SQLITE_DONE) {
        fail_db(s, err, "reading baseline");
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

int store_put_baseline_samples(Store *s, const char *model_sha256, const char *task, const char *signature,
                               const StoreSample *samples, int n, char err[QB_ERRLEN]) {
    if (!model_sha256 || !*model_sha256 || !task || !*task || n < 0 || (n && !samples)) {
        errf(s, err, "baseline samples: empty model sha256 or task, or bad array");
        return -1;
    }
    if (exec_sql(s, "BEGIN IMMEDIATE", err, "starting baseline samples")) return -1;
    sqlite3_stmt *st = prep(s, "DELETE FROM baseline_samples WHERE model_sha256 = ? AND task = ? AND signature = ?",
                            err, "replacing baseline samples");
    if (!st) return rollback(s);
    bind_str(st, 1, model_sha256);
    bind_str(st, 2, task);
    bind_str_or(st, 3, signature, "");
    if (step_done(s, st, err, "replacing baseline samples")) return rollback(s);
    st = prep(s, "INSERT INTO baseline_samples(model_sha256, signature, task, idx, prompt, output, reference,"
                 " scores_json) VALUES (?,?,?,?,?,?,?,?)", err, "writing baseline samples");
    if (!st) return rollback(s);
    bind_str(st, 1, model_sha256);
    bind_str_or(st, 2, signature, "");
    for (int i = 0; i < n; i++) {
        StoreSample x = samples[i];
        x.task = task; /* the set's task, whatever the element says */
        if (insert_sample(st, 3, &x)) {
            char what[64];
            snprintf(what, sizeof what, "baseline sample %d", i);
            fail_db(s, err, what);
            sqlite3_finalize(st);
            return rollback(s);
        }
    }
    sqlite3_finalize(st);
    if (exec_sql(s, "COMMIT", err, "committing baseline samples")) return rollback(s);
    return 0;
}

/* The one row loader: steps `st` (bound, not finalized here) and appends each row to the array *rows
 * of *n `elem`-byte items (capacity *cap), zeroing the item and handing it to fill. fill returns 0,
 * 1 when out of memory, or -1 with err written. Returns 0, or -1 with err naming `what`; then, when
 * `drop` is given, every item read (a partly filled last one included) is dropped and the array freed
 * (*rows NULL, *n 0); without it they stay for the caller's owner to free. */
typedef int (*RowFill)(Store *s, sqlite3_stmt *st, void *item, void *ctx, char err[QB_ERRLEN]);

static int load_rows(Store *s, sqlite3_stmt *st, size_t elem, RowFill fill, void *ctx, void (*drop)(void *item),
                     void **rows, int *n, size_t *cap, const char *what, char err[QB_ERRLEN]) {
    int rc, bad = 0;
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((size_t)*n + 1 > (size_t)INT_MAX || qb_grow(rows, cap, (size_t)*n + 1, elem)) {
            bad = errf(s, err, "out of memory reading %s", what);
            break;
        }
        void *item = (char *)*rows + (size_t)*n * elem;
        memset(item, 0, elem);
        ++*n;
        int f = fill(s, st, item, ctx, err);
        if (f > 0) bad = errf(s, err, "out of memory reading %s", what);
        else if (f < 0) bad = -1;
    }
    if (!bad && rc != SQLITE_DONE) bad = errf(s, err, "reading %s: %s", what, sqlite3_errmsg(s->db));
    if (bad && drop) {
        for (int i = 0; i < *n; i++) drop((char *)*rows + (size_t)i * elem);
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return bad;
}

static void drop_sample(void *item) {
    StoreSampleRow *x = item;
    free(x->task);
    free(x->prompt);
    free(x->output);
    free(x->reference);
    free(x->scores_json);
}

static int fill_sample(Store *s, sqlite3_stmt *st, void *item, void *ctx, char err[QB_ERRLEN]) {
    (void)s, (void)ctx, (void)err;
    StoreSampleRow *x = item;
    x->task = col_dup(st, 0);
    x->idx = sqlite3_column_int(st, 1);
    x->prompt = col_dup(st, 2);
    x->output = col_dup(st, 3);
    x->reference = col_dup(st, 4);
    x->scores_json = col_dup(st, 5);
    return !x->task || !x->prompt || !x->output || !x->reference || !x->scores_json;
}

int store_get_baseline_samples(Store *s, const char *model_sha256, const char *task, const char *signature,
                               StoreSampleRow **out, int *n, char err[QB_ERRLEN]) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = prep(s,
        "SELECT task, idx, prompt, output, reference, scores_json FROM baseline_samples"
        " WHERE model_sha256 = ? AND task = ? AND signature = ? ORDER BY idx", err, "reading baseline samples");
    if (!st) return -1;
    bind_str(st, 1, model_sha256);
    bind_str(st, 2, task);
    bind_str_or(st, 3, signature, "");
    size_t cap = 0;
    int rc = load_rows(s, st, sizeof **out, fill_sample, NULL, drop_sample, (void **)out, n, &cap, "baseline samples", err);
    sqlite3_finalize(st);
    return rc;
}

void store_free_samples(StoreSampleRow *rows, int n) {
    for (int i = 0; i < n; i++) drop_sample(&rows[i]);
    free(rows);
}

/* ---- queries ------------------------------------------------------------------------------------ */

void store_free_metric_row(StoreMetricRow *m) {
    free(m->kind);
    free(m->dataset);
    free(m->against);
    free(m->signature);
    free(m->stats_json);
}

void store_free_run_row(StoreRunRow *r) {
    char **strs[] = {&r->key, &r->experiment, &r->model_path, &r->model_sha256, &r->method, &r->params_json,
                     &r->status, &r->error, &r->host, &r->started, &r->finished, &r->provenance};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) free(*strs[i]);
    for (int i = 0; i < r->n_metrics; i++) store_free_metric_row(&r->metrics[i]);
    free(r->metrics);
}

static void drop_run(void *item) { store_free_run_row(item); }

void store_free_runs(StoreRunRow *rows, int n) {
    for (int i = 0; i < n; i++) store_free_run_row(&rows[i]);
    free(rows);
}

/* kind, dataset, against, signature, stats_json, value, count from column c on: 1 when out of memory. */
static int metric_cols(sqlite3_stmt *st, int c, StoreMetricRow *m) {
    m->kind = col_dup(st, c);
    m->dataset = col_dup(st, c + 1);
    m->against = col_dup(st, c + 2);
    m->signature = col_dup(st, c + 3);
    m->stats_json = col_dup(st, c + 4);
    m->value = col_real(st, c + 5);
    m->count = sqlite3_column_int64(st, c + 6);
    return !m->kind || !m->dataset || !m->against || !m->signature || !m->stats_json;
}

static int fill_metric(Store *s, sqlite3_stmt *st, void *item, void *ctx, char err[QB_ERRLEN]) {
    (void)s, (void)ctx, (void)err;
    return metric_cols(st, 0, item);
}

/* A run row, then its metrics through the metrics statement (ctx). */
static int fill_run(Store *s, sqlite3_stmt *st, void *item, void *ctx, char err[QB_ERRLEN]) {
    StoreRunRow *r = item;
    r->id = sqlite3_column_int64(st, 0);
    r->key = col_dup(st, 1);
    r->experiment = col_dup(st, 2);
    r->model_path = col_dup(st, 3);
    r->model_sha256 = col_dup(st, 4);
    r->method = col_dup(st, 5);
    r->params_json = col_dup(st, 6);
    r->status = col_dup(st, 7);
    r->error = col_dup(st, 8);
    r->host = col_dup(st, 9);
    r->started = col_dup(st, 10);
    r->finished = col_dup(st, 11);
    r->bits = sqlite3_column_int(st, 12);
    r->group_size = sqlite3_column_int(st, 13);
    r->act_order = sqlite3_column_int(st, 14);
    r->sym = sqlite3_column_int(st, 15);
    r->static_groups = sqlite3_column_int(st, 16);
    r->threads = sqlite3_column_int(st, 17);
    r->seconds_calibration = col_real(st, 18);
    r->seconds_quantize = col_real(st, 19);
    r->seconds_eval = col_real(st, 20);
    r->peak_rss_bytes = sqlite3_column_int64(st, 21);
    r->packed_bytes = sqlite3_column_int64(st, 22);
    r->bits_per_weight = col_real(st, 23);
    r->provenance = col_dup(st, 24);
    r->decode_tps = col_real(st, 25);
    r->prefill_tps = col_real(st, 26);
    r->speed_threads = sqlite3_column_int(st, 27);
    if (!r->key || !r->experiment || !r->model_path || !r->model_sha256 || !r->method || !r->params_json ||
        !r->status || !r->error || !r->host || !r->started || !r->finished || !r->provenance)
        return 1;
    sqlite3_stmt *mst = ctx;
    sqlite3_reset(mst);
    sqlite3_bind_int64(mst, 1, r->id);
    size_t cap = 0;
    return load_rows(s, mst, sizeof *r->metrics, fill_metric, NULL, NULL, (void **)&r->metrics, &r->n_metrics, &cap,
                     "metrics", err);
}

int store_load_runs(Store *s, const char *experiment, const char *status, StoreRunRow **out, int *n,
                    char err[QB_ERRLEN]) {
    *out = NULL;
    *n = 0;
    char sql[1200];
    snprintf(sql, sizeof sql,
        "SELECT r.id, r.key, COALESCE(e.name, ''), r.model_path, r.model_sha256, r.method, r.params_json,"
        " r.status, r.error, r.host, r.started, r.finished, r.bits, r.group_size, r.act_order, r.sym,"
        " r.static_groups, r.threads, r.seconds_calibration, r.seconds_quantize, r.seconds_eval,"
        " r.peak_rss_bytes, r.packed_bytes, r.bits_per_weight, %s, %s"
        " FROM runs r LEFT JOIN experiments e ON e.id = r.experiment_id"
        " WHERE (?1 IS NULL OR e.name = ?1) AND (?2 IS NULL OR r.status = ?2)"
        " ORDER BY r.method, r.group_size, r.bits, r.act_order, r.sym, r.static_groups, r.id",
        s->version >= 4 ? "r.provenance" : "''", /* read-only on an older schema */
        s->version >= 5 ? "r.decode_tps, r.prefill_tps, COALESCE(r.speed_threads, 0)" : "NULL, NULL, 0");
    sqlite3_stmt *st = prep(s, sql, err, "reading runs");
    if (!st) return -1;
    sqlite3_stmt *mst = prep(s,
        "SELECT kind, dataset, against, signature, stats_json, value, count FROM metrics WHERE run_id = ?"
        " ORDER BY kind, dataset, against, signature", err, "reading metrics");
    if (!mst) {
        sqlite3_finalize(st);
        return -1;
    }
    bind_str(st, 1, experiment);
    bind_str(st, 2, status);
    size_t cap = 0;
    int rc = load_rows(s, st, sizeof **out, fill_run, mst, drop_run, (void **)out, n, &cap, "runs", err);
    sqlite3_finalize(st);
    sqlite3_finalize(mst);
    return rc;
}

const StoreMetricRow *store_run_metric(const StoreRunRow *r, const char *kind, const char *dataset,
                                       const char *against) {
    for (int i = 0; i < r->n_metrics; i++) {
        const StoreMetricRow *m = &r->metrics[i];
        if ((!kind || !strcmp(m->kind, kind)) && (!dataset || !strcmp(m->dataset, dataset)) &&
            (!against || !strcmp(m->against, against)))
            return m;
    }
    return NULL;
}

static void drop_baseline(void *item) {
    StoreBaselineRow *b = item;
    free(b->model_sha256);
    store_free_metric_row(&b->m);
}

static int fill_baseline(Store *s, sqlite3_stmt *st, void *item, void *ctx, char err[QB_ERRLEN]) {
    (void)s, (void)ctx, (void)err;
    StoreBaselineRow *b = item;
    b->model_sha256 = col_dup(st, 0);
    return metric_cols(st, 1, &b->m) || !b->model_sha256;
}

int store_load_baselines(Store *s, StoreBaselineRow **out, int *n, char err[QB_ERRLEN]) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = prep(s,
        "SELECT model_sha256, kind, dataset, against, signature, stats_json, value, count FROM baselines"
        " ORDER BY model_sha256, kind, dataset, against, signature", err, "reading baselines");
    if (!st) return -1;
    size_t cap = 0;
    int rc = load_rows(s, st, sizeof **out, fill_baseline, NULL, drop_baseline, (void **)out, n, &cap, "baselines", err);
    sqlite3_finalize(st);
    return rc;
}

void store_free_baselines(StoreBaselineRow *rows, int n) {
    for (int i = 0; i < n; i++) drop_baseline(&rows[i]);
    free(rows);
}
