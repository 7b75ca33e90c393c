/* store_tasks.c — per-item results of zero-shot tasks in the results database (tables task_items
 * and baseline_task_items, see store.c): one row per item with its gold and chosen answers and the
 * per-request log-likelihoods as JSON arrays (%.17g: read back bit for bit). */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "harness/store.h"

static int db_fail(Store *s, char err[QB_ERRLEN], const char *what) {
    snprintf(err, QB_ERRLEN, "results database: %s: %s", what, sqlite3_errmsg(store_db(s)));
    return -1;
}

/* "[a,b,...]" of n values; malloc'd. kind: 0 double, 1 int, 2 byte */
static char *json_array(const void *v, int n, int kind) {
    size_t cap = (size_t)n * 26 + 3;
    char *o = malloc(cap), *p = o;
    if (!o) return NULL;
    *p++ = '[';
    for (int i = 0; i < n; i++) {
        if (i) *p++ = ',';
        size_t left = cap - (size_t)(p - o);
        if (kind == 0) {
            double x = ((const double *)v)[i];
            p += isfinite(x) ? snprintf(p, left, "%.17g", x) : snprintf(p, left, "null");
        } else if (kind == 1) {
            p += snprintf(p, left, "%d", ((const int *)v)[i]);
        } else {
            p += snprintf(p, left, "%d", ((const unsigned char *)v)[i]);
        }
    }
    *p++ = ']';
    *p = 0;
    return o;
}

static int insert_items(Store *s, sqlite3_stmt *st, int first_col, const StoreTaskItems *set, char err[QB_ERRLEN]) {
    for (int i = 0; i < set->n; i++) {
        const StoreTaskItem *it = &set->items[i];
        char *ll = json_array(it->ll, it->n_req, 0), *nt = json_array(it->ntok, it->n_req, 1),
             *gr = json_array(it->greedy, it->n_req, 2);
        int c = first_col;
        sqlite3_reset(st);
        sqlite3_bind_text(st, c++, set->task, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, c++, set->signature ? set->signature : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, c++, it->idx);
        sqlite3_bind_int(st, c++, it->gold);
        sqlite3_bind_int(st, c++, it->pred);
        sqlite3_bind_int(st, c++, it->pred_norm);
        sqlite3_bind_int(st, c++, it->correct);
        sqlite3_bind_int(st, c++, it->correct_norm);
        if (ll) sqlite3_bind_text(st, c, ll, -1, SQLITE_TRANSIENT);
        if (nt) sqlite3_bind_text(st, c + 1, nt, -1, SQLITE_TRANSIENT);
        if (gr) sqlite3_bind_text(st, c + 2, gr, -1, SQLITE_TRANSIENT);
        int rc = ll && nt && gr ? sqlite3_step(st) : SQLITE_NOMEM;
        free(ll);
        free(nt);
        free(gr);
        if (rc != SQLITE_DONE) {
            char what[128];
            snprintf(what, sizeof what, "task %.60s item %d", set->task, it->idx);
            return db_fail(s, err, what);
        }
    }
    return 0;
}

int store_insert_task_items(Store *s, int64_t run_id, const StoreTaskItems *sets, int n, char err[QB_ERRLEN]) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store_db(s),
                           "INSERT INTO task_items(run_id, task, signature, idx, gold, pred, pred_norm, correct,"
                           " correct_norm, ll, ntok, greedy) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, err, "preparing task items");
    sqlite3_bind_int64(st, 1, run_id);
    for (int k = 0; k < n; k++)
        if (insert_items(s, st, 2, &sets[k], err)) { sqlite3_finalize(st); return -1; }
    sqlite3_finalize(st);
    return 0;
}

static int exec_simple(Store *s, const char *sql, char err[QB_ERRLEN]) {
    if (sqlite3_exec(store_db(s), sql, NULL, NULL, NULL) != SQLITE_OK) return db_fail(s, err, sql);
    return 0;
}

int store_put_baseline_task_items(Store *s, const char *model_sha256, const StoreTaskItems *set, char err[QB_ERRLEN]) {
    if (!model_sha256 || !*model_sha256 || !set->task) { snprintf(err, QB_ERRLEN, "baseline task items: no model or task"); return -1; }
    if (exec_simple(s, "BEGIN IMMEDIATE", err)) return -1;
    sqlite3_stmt *st = NULL;
    sqlite3 *db = store_db(s);
    if (sqlite3_prepare_v2(db, "DELETE FROM baseline_task_items WHERE model_sha256 = ? AND task = ? AND signature = ?",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, model_sha256, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, set->task, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, set->signature ? set->signature : "", -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) goto fail;
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO baseline_task_items(model_sha256, task, signature, idx, gold, pred, pred_norm,"
                           " correct, correct_norm, ll, ntok, greedy) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, model_sha256, -1, SQLITE_TRANSIENT);
    if (insert_items(s, st, 2, set, err)) {
        sqlite3_finalize(st);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    sqlite3_finalize(st);
    if (exec_simple(s, "COMMIT", err)) { sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL); return -1; }
    return 0;
fail:
    db_fail(s, err, "writing baseline task items");
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

void store_free_task_items(StoreTaskItemRow *rows, int n) {
    for (int i = 0; i < n; i++) {
        free(rows[i].ll);
        free(rows[i].ntok);
        free(rows[i].greedy);
    }
    free(rows);
}

/* Parses a JSON array column into row r's arrays (hostile: lengths must agree). */
static int parse_arrays(StoreTaskItemRow *r, const char *ll, const char *nt, const char *gr) {
    cJSON *a = ll ? cJSON_Parse(ll) : NULL, *b = nt ? cJSON_Parse(nt) : NULL, *c = gr ? cJSON_Parse(gr) : NULL;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1, rc = -1;
    if (n < 1 || n > 4096 || !cJSON_IsArray(b) || !cJSON_IsArray(c) || cJSON_GetArraySize(b) != n ||
        cJSON_GetArraySize(c) != n)
        goto done;
    r->n_req = n;
    r->ll = malloc((size_t)n * sizeof *r->ll);
    r->ntok = malloc((size_t)n * sizeof *r->ntok);
    r->greedy = malloc((size_t)n);
    if (!r->ll || !r->ntok || !r->greedy) goto done;
    for (int i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i), *z = cJSON_GetArrayItem(c, i);
        if (!(cJSON_IsNumber(x) || cJSON_IsNull(x)) || !cJSON_IsNumber(y) || !cJSON_IsNumber(z)) goto done;
        r->ll[i] = cJSON_IsNull(x) ? NAN : x->valuedouble;
        r->ntok[i] = (int)y->valuedouble;
        r->greedy[i] = z->valuedouble != 0;
    }
    rc = 0;
done:
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    return rc;
}

int store_get_task_items(Store *s, int64_t run_id, const char *model_sha256, const char *task, const char *signature,
                         StoreTaskItemRow **rows, int *n, char **sig_out, char err[QB_ERRLEN]) {
    *rows = NULL;
    *n = 0;
    if (sig_out) *sig_out = NULL;
    sqlite3 *db = store_db(s);
    sqlite3_stmt *st = NULL;
    const char *table = run_id > 0 ? "task_items" : "baseline_task_items";
    const char *owner = run_id > 0 ? "run_id" : "model_sha256";
    char sql[512];
    /* which signatures exist for this task */
    snprintf(sql, sizeof sql, "SELECT DISTINCT signature FROM %s WHERE %s = ? AND task = ?%s", table, owner,
             signature ? " AND signature = ?" : "");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return db_fail(s, err, "reading task items");
    if (run_id > 0) sqlite3_bind_int64(st, 1, run_id);
    else sqlite3_bind_text(st, 1, model_sha256 ? model_sha256 : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    if (signature) sqlite3_bind_text(st, 3, signature, -1, SQLITE_TRANSIENT);
    char *sig = NULL;
    int nsig = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (nsig++ == 0) sig = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) { free(sig); return db_fail(s, err, "reading task items"); }
    if (nsig == 0) { snprintf(err, QB_ERRLEN, "no items of task %.100s stored for %s %.80s", task, run_id > 0 ? "run" : "baseline", run_id > 0 ? "" : model_sha256 ? model_sha256 : ""); return -1; }
    if (nsig > 1) { free(sig); snprintf(err, QB_ERRLEN, "task %.100s has items under %d signatures: name one", task, nsig); return -1; }
    if (!sig) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    snprintf(sql, sizeof sql,
             "SELECT idx, gold, pred, pred_norm, correct, correct_norm, ll, ntok, greedy FROM %s"
             " WHERE %s = ? AND task = ? AND signature = ? ORDER BY idx", table, owner);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) { free(sig); return db_fail(s, err, "reading task items"); }
    if (run_id > 0) sqlite3_bind_int64(st, 1, run_id);
    else sqlite3_bind_text(st, 1, model_sha256 ? model_sha256 : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, task, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, sig, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    int cnt = 0;
    StoreTaskItemRow *v = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (qb_grow((void **)&v, &cap, (size_t)cnt + 1, sizeof *v)) { rc = SQLITE_NOMEM; break; }
        StoreTaskItemRow *r = &v[cnt];
        memset(r, 0, sizeof *r);
        r->idx = sqlite3_column_int(st, 0);
        r->gold = sqlite3_column_int(st, 1);
        r->pred = sqlite3_column_int(st, 2);
        r->pred_norm = sqlite3_column_int(st, 3);
        r->correct = sqlite3_column_int(st, 4) != 0;
        r->correct_norm = sqlite3_column_int(st, 5) != 0;
        cnt++;
        if (parse_arrays(r, (const char *)sqlite3_column_text(st, 6), (const char *)sqlite3_column_text(st, 7),
                         (const char *)sqlite3_column_text(st, 8))) {
            rc = SQLITE_CORRUPT;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_free_task_items(v, cnt);
        free(sig);
        snprintf(err, QB_ERRLEN, "task %.100s: item %d: %s", task, cnt, rc == SQLITE_CORRUPT ? "malformed per-request arrays" : "read failed");
        return -1;
    }
    *rows = v;
    *n = cnt;
    if (sig_out) *sig_out = sig;
    else free(sig);
    return 0;
}
