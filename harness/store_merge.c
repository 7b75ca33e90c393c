/* store_merge.c — combining shard databases (`qbench merge`): copies the finished points and the
 * baselines of one database into another, deduplicating by run key. A sweep split with
 * `--shard i/n` and merged back holds the same points, metrics, layers and samples as one run.
 *
 * The source is ATTACHed to the destination's connection and copied with INSERT ... SELECT inside
 * one transaction per source, so an interrupted merge changes nothing. */
#include "harness/store.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int merr(char err[QB_ERRLEN], const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, QB_ERRLEN, fmt, ap);
    va_end(ap);
    return -1;
}

/* Everything that defines a finished point's results, as one string: configuration, size, every
 * metric (full precision) and every generation. Timings, host and timestamps are left out: two
 * runs of the same point on different machines agree on this and differ on those. */
static char *fingerprint(sqlite3 *db, const char *schema, sqlite3_int64 run_id) {
    char sql[1600];
    snprintf(sql, sizeof sql,
             "SELECT r.model_sha256 ||'|'|| r.method ||'|'|| r.bits ||'|'|| r.group_size ||'|'|| r.act_order"
             " ||'|'|| r.sym ||'|'|| r.static_groups ||'|'|| r.params_json ||'|'|| quote(r.bits_per_weight)"
             " ||'|'|| quote(r.packed_bytes) ||'|'|| COALESCE((SELECT group_concat(x, ';') FROM (SELECT"
             " kind ||','|| dataset ||','|| against ||','|| signature ||'='|| quote(value) ||'/'|| quote(count)"
             " AS x FROM %s.metrics WHERE run_id = r.id ORDER BY x)), '') ||'|'|| COALESCE((SELECT"
             " group_concat(y, ';') FROM (SELECT task ||','|| idx ||'='|| quote(output) AS y FROM %s.samples"
             " WHERE run_id = r.id ORDER BY task, idx)), '') FROM %s.runs r WHERE r.id = ?",
             schema, schema, schema);
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1; }

/* Runs `sql` with ?1 = a, ?2 = b (either may be unused); 0 on success. */
static int exec2(sqlite3 *db, const char *sql, sqlite3_int64 a, sqlite3_int64 b) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_bind_parameter_count(st) >= 1) sqlite3_bind_int64(st, 1, a);
    if (sqlite3_bind_parameter_count(st) >= 2) sqlite3_bind_int64(st, 2, b);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Copies run src.runs(id = src_id) and its children into main. */
static int copy_run(sqlite3 *db, sqlite3_int64 src_id) {
    if (exec2(db,
              "INSERT INTO main.runs(key, experiment_id, model_path, model_sha256, method, bits, group_size,"
              " act_order, sym, static_groups, params_json, status, error, started, finished, seconds_calibration,"
              " seconds_quantize, seconds_eval, peak_rss_bytes, bits_per_weight, packed_bytes, host, threads,"
              " provenance, decode_tps, prefill_tps, speed_threads)"
              " SELECT r.key, (SELECT m.id FROM main.experiments m JOIN src.experiments e ON m.name = e.name"
              " AND m.file_sha256 = e.file_sha256 WHERE e.id = r.experiment_id), r.model_path, r.model_sha256,"
              " r.method, r.bits, r.group_size, r.act_order, r.sym, r.static_groups, r.params_json, r.status,"
              " r.error, r.started, r.finished, r.seconds_calibration, r.seconds_quantize, r.seconds_eval,"
              " r.peak_rss_bytes, r.bits_per_weight, r.packed_bytes, r.host, r.threads, r.provenance,"
              " r.decode_tps, r.prefill_tps, r.speed_threads"
              " FROM src.runs r WHERE r.id = ?1",
              src_id, 0))
        return -1;
    sqlite3_int64 id = sqlite3_last_insert_rowid(db);
    if (exec2(db,
              "INSERT INTO main.metrics(run_id, kind, dataset, against, value, count, stats_json, signature)"
              " SELECT ?1, kind, dataset, against, value, count, stats_json, signature FROM src.metrics"
              " WHERE run_id = ?2 ORDER BY id",
              id, src_id))
        return -1;
    if (exec2(db,
              "INSERT INTO main.layers(run_id, block, name, rows, cols, error, gptq_loss, damp_used, retries,"
              " seconds) SELECT ?1, block, name, rows, cols, error, gptq_loss, damp_used, retries, seconds"
              " FROM src.layers WHERE run_id = ?2 ORDER BY id",
              id, src_id))
        return -1;
    if (exec2(db,
              "INSERT INTO main.samples(run_id, task, idx, prompt, output, reference, scores_json)"
              " SELECT ?1, task, idx, prompt, output, reference, scores_json FROM src.samples"
              " WHERE run_id = ?2 ORDER BY id",
              id, src_id))
        return -1;
    return exec2(db,
                 "INSERT INTO main.task_items(run_id, task, signature, idx, gold, pred, pred_norm, correct,"
                 " correct_norm, ll, ntok, greedy) SELECT ?1, task, signature, idx, gold, pred, pred_norm, correct,"
                 " correct_norm, ll, ntok, greedy FROM src.task_items WHERE run_id = ?2 ORDER BY id",
                 id, src_id);
}

/* Counts rows of the query (a SELECT count(*)); -1 on error. */
static long long count_of(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    long long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* "" when every metric the two copies of a run share has the same value and count and their
 * configurations agree; otherwise a description naming the point and the first difference. */
static int describe_conflict(sqlite3 *db, sqlite3_int64 dst_id, sqlite3_int64 src_id, char *out, size_t n) {
    out[0] = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
            "SELECT COALESCE((SELECT name FROM main.experiments WHERE id = r.experiment_id), '?'), r.method, r.bits,"
            " r.group_size, r.act_order, (SELECT m.kind ||' '|| m.dataset ||' '|| m.against ||' ['|| m.signature"
            " ||'] '|| quote(m.value) ||' vs '|| quote(x.value) FROM main.metrics m JOIN src.metrics x ON"
            " x.run_id = ?2 AND x.kind = m.kind AND x.dataset = m.dataset AND x.against = m.against AND"
            " x.signature = m.signature WHERE m.run_id = r.id AND (m.value IS NOT x.value OR m.count IS NOT x.count)"
            " LIMIT 1), (SELECT s.params_json IS NOT r.params_json OR s.bits_per_weight IS NOT r.bits_per_weight"
            " OR s.packed_bytes IS NOT r.packed_bytes FROM src.runs s WHERE s.id = ?2), r.key"
            " FROM main.runs r WHERE r.id = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, dst_id);
    sqlite3_bind_int64(st, 2, src_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *metric = (const char *)sqlite3_column_text(st, 5);
        int config = sqlite3_column_int(st, 6);
        if (metric || config)
            snprintf(out, n, "point %.16s (experiment '%.60s', %.20s w%d g%d%s): %.200s",
                     (const char *)sqlite3_column_text(st, 7), (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
                     sqlite3_column_int(st, 4) ? " act" : "", metric ? metric : "configuration or size");
    }
    sqlite3_finalize(st);
    return 0;
}

static int merge_attached(sqlite3 *db, const char *src_path, int *runs_added, int *conflicts, char warn[QB_ERRLEN],
                          char err[QB_ERRLEN]) {
    if (exec(db, "INSERT OR IGNORE INTO main.experiments(name, file_path, file_sha256, created, evals)"
                 " SELECT name, file_path, file_sha256, created, evals FROM src.experiments ORDER BY id") ||
        exec(db, "UPDATE main.experiments SET evals = (SELECT e.evals FROM src.experiments e WHERE e.name ="
                 " main.experiments.name AND e.file_sha256 = main.experiments.file_sha256 AND e.evals <> '')"
                 " WHERE evals = '' AND EXISTS (SELECT 1 FROM src.experiments e WHERE e.name = main.experiments.name"
                 " AND e.file_sha256 = main.experiments.file_sha256 AND e.evals <> '')"))
        return merr(err, "%s: copying experiments: %s", src_path, sqlite3_errmsg(db));

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT s.id, s.key, m.id, m.status FROM src.runs s LEFT JOIN main.runs m"
                               " ON m.key = s.key WHERE s.status = 'done' ORDER BY s.id", -1, &st, NULL) != SQLITE_OK)
        return merr(err, "%s: reading runs: %s", src_path, sqlite3_errmsg(db));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 src_id = sqlite3_column_int64(st, 0);
        const char *key = (const char *)sqlite3_column_text(st, 1);
        int in_dst = sqlite3_column_type(st, 2) != SQLITE_NULL;
        sqlite3_int64 dst_id = sqlite3_column_int64(st, 2);
        const char *dst_status = (const char *)sqlite3_column_text(st, 3);
        if (in_dst && dst_status && !strcmp(dst_status, "done")) {
            char *a = fingerprint(db, "main", dst_id), *b = fingerprint(db, "src", src_id);
            int same = a && b && !strcmp(a, b);
            free(a);
            free(b);
            if (!a || !b) {
                merr(err, "%s: comparing run %s: %s", src_path, key ? key : "?", sqlite3_errmsg(db));
                sqlite3_finalize(st);
                return -1;
            }
            if (same) continue;
            /* The same point (one key: same experiment, quantization and quantizer version). Numbers
             * under evaluation settings the kept copy lacks are added beside its own (each metric
             * keeps its signature); the same metric with another value is a conflict, named. */
            char what[400];
            if (describe_conflict(db, dst_id, src_id, what, sizeof what) < 0 ||
                exec2(db, "INSERT OR IGNORE INTO main.metrics(run_id, kind, dataset, against, value, count, stats_json,"
                          " signature) SELECT ?1, kind, dataset, against, value, count, stats_json, signature FROM"
                          " src.metrics WHERE run_id = ?2 ORDER BY id", dst_id, src_id)) {
                merr(err, "%s: comparing run %s: %s", src_path, key ? key : "?", sqlite3_errmsg(db));
                sqlite3_finalize(st);
                return -1;
            }
            if (*what) {
                if (*conflicts == 0 && warn)
                    snprintf(warn, QB_ERRLEN, "%.150s: %.300s differs from the copy already merged; kept the first",
                             src_path, what);
                (*conflicts)++;
            }
            continue;
        }
        /* A 'running' or 'failed' row in dst is an unfinished attempt: the finished one replaces it. */
        if ((in_dst && exec2(db, "DELETE FROM main.runs WHERE id = ?1", dst_id, 0)) || copy_run(db, src_id)) {
            merr(err, "%s: copying run %s: %s", src_path, key ? key : "?", sqlite3_errmsg(db));
            sqlite3_finalize(st);
            return -1;
        }
        (*runs_added)++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return merr(err, "%s: reading runs: %s", src_path, sqlite3_errmsg(db));

    /* Baselines: same identity with a different number is a conflict; keep the first. */
    long long bad = count_of(db,
        "SELECT (SELECT count(*) FROM src.baselines b JOIN main.baselines m USING (model_sha256, kind, dataset,"
        " against, signature) WHERE m.value IS NOT b.value OR m.count IS NOT b.count) + (SELECT count(*) FROM"
        " src.baseline_samples b JOIN main.baseline_samples m USING (model_sha256, task, signature, idx)"
        " WHERE m.output IS NOT b.output)");
    if (bad < 0) return merr(err, "%s: comparing baselines: %s", src_path, sqlite3_errmsg(db));
    if (bad > 0) {
        if (*conflicts == 0 && warn)
            snprintf(warn, QB_ERRLEN, "%.200s: %lld baseline value(s) differ from those already merged; kept the first",
                     src_path, bad);
        *conflicts += bad > INT_MAX ? INT_MAX : (int)bad;
    }
    if (exec(db, "INSERT OR IGNORE INTO main.baselines(model_sha256, kind, dataset, against, signature, value,"
                 " count, stats_json, created) SELECT model_sha256, kind, dataset, against, signature, value,"
                 " count, stats_json, created FROM src.baselines ORDER BY id") ||
        exec(db, "INSERT OR IGNORE INTO main.baseline_samples(model_sha256, task, signature, idx, prompt, output,"
                 " reference, scores_json) SELECT model_sha256, task, signature, idx, prompt, output, reference,"
                 " scores_json FROM src.baseline_samples ORDER BY id") ||
        exec(db, "INSERT OR IGNORE INTO main.baseline_task_items(model_sha256, task, signature, idx, gold, pred,"
                 " pred_norm, correct, correct_norm, ll, ntok, greedy) SELECT model_sha256, task, signature, idx,"
                 " gold, pred, pred_norm, correct, correct_norm, ll, ntok, greedy FROM src.baseline_task_items"
                 " ORDER BY id"))
        return merr(err, "%s: copying baselines: %s", src_path, sqlite3_errmsg(db));
    return 0;
}

/* Copies the results database at path (opened read-only, checked) into a new temporary file
 * migrated to the current schema; its name into tmp. */
static int snapshot(const char *path, char *tmp, size_t n, char err[QB_ERRLEN]) {
    Store *in = store_open_readonly(path, err);
    if (!in) return -1;
    const char *dir = getenv("TMPDIR");
    snprintf(tmp, n, "%s/qbench-merge-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        store_close(in);
        return merr(err, "%s: cannot create a temporary file: %s", tmp, strerror(errno));
    }
    close(fd);
    sqlite3 *out = NULL;
    int rc = sqlite3_open(tmp, &out);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(out, "main", store_db(in), "main") : NULL;
    if (b) {
        rc = sqlite3_backup_step(b, -1);
        sqlite3_backup_finish(b);
    }
    if (!b || rc != SQLITE_DONE) {
        merr(err, "%s: copying: %s", path, out ? sqlite3_errmsg(out) : "out of memory");
        sqlite3_close(out);
        store_close(in);
        unlink(tmp);
        return -1;
    }
    sqlite3_close(out);
    store_close(in);
    Store *m = store_open(tmp, err); /* forward migrations */
    if (!m) {
        unlink(tmp);
        return -1;
    }
    store_close(m);
    return 0;
}

int store_merge_from(Store *dst, const char *src_path, int *runs_added, int *conflicts, char warn[QB_ERRLEN],
                     char err[QB_ERRLEN]) {
    *runs_added = 0;
    *conflicts = 0;
    if (warn) warn[0] = 0;
    sqlite3 *db = store_db(dst);
    const char *dst_path = sqlite3_db_filename(db, "main");
    char a[PATH_MAX], b[PATH_MAX];
    if (dst_path && realpath(dst_path, a) && realpath(src_path, b) && !strcmp(a, b))
        return merr(err, "%s: cannot merge a database into itself", src_path);
    if (access(src_path, R_OK) != 0) return merr(err, "%s: cannot read: %s", src_path, strerror(errno));
    /* The source is only read: copied (SQLite's backup API) into a temporary file that the store
     * migrates to the current schema, so the two sides have the same tables when copied. */
    char tmp[PATH_MAX];
    if (snapshot(src_path, tmp, sizeof tmp, err)) return -1;

    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "ATTACH DATABASE ? AS src", -1, &st, NULL) != SQLITE_OK) {
        unlink(tmp);
        return merr(err, "%s: attaching: %s", src_path, sqlite3_errmsg(db));
    }
    sqlite3_bind_text(st, 1, tmp, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        merr(err, "%s: attaching: %s", src_path, sqlite3_errmsg(db));
        unlink(tmp);
        return -1;
    }

    int ret = -1;
    if (exec(db, "BEGIN IMMEDIATE")) {
        merr(err, "%s: starting merge: %s", src_path, sqlite3_errmsg(db));
    } else if (merge_attached(db, src_path, runs_added, conflicts, warn, err)) {
        exec(db, "ROLLBACK");
        *runs_added = 0;
    } else if (exec(db, "COMMIT")) {
        merr(err, "%s: committing merge: %s", src_path, sqlite3_errmsg(db));
        exec(db, "ROLLBACK");
        *runs_added = 0;
    } else {
        ret = 0;
    }
    exec(db, "DETACH DATABASE src");
    unlink(tmp);
    return ret;
}
