/* test_alloc_fail.c — every allocation of the loaders and the results store may fail, SQLite-style:
 * the binary is linked with malloc/calloc/realloc/strdup wrapped (Makefile), cJSON and SQLite are
 * pointed at the same wrappers, and each loader runs once per allocation with exactly that one
 * allocation failing; the checkpoint writer likewise. Each run must fail cleanly (an error message,
 * no crash, no file left behind) or succeed; under
 * `make asan` a leak on any of these error paths fails the suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/config.h"
#include "harness/store.h"
#include "metrics/textfile.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"
#include "tests/common.h"

/* ---- the failing allocator ----------------------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static long g_countdown = -1; /* allocations left before the one that fails; -1: none fails */
static int g_failed;          /* the planned failure happened */

static int fail_now(void) {
    if (g_countdown < 0) return 0;
    if (g_countdown-- > 0) return 0;
    g_failed = 1;
    return 1;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) {
    if (fail_now()) return NULL;
    return __real_strdup(s);
}

/* SQLite allocates through these; each block carries its size in front (SQLite asks for it). */
static void *sq_malloc(int n) {
    if (n <= 0) return NULL;
    int64_t *p = __wrap_malloc((size_t)n + 16);
    if (!p) return NULL;
    p[0] = n;
    return p + 2;
}
static void sq_free(void *p) {
    if (p) free((int64_t *)p - 2);
}
static void *sq_realloc(void *p, int n) {
    if (!p) return sq_malloc(n);
    int64_t *q = __wrap_realloc((int64_t *)p - 2, (size_t)n + 16);
    if (!q) return NULL;
    q[0] = n;
    return q + 2;
}
static int sq_size(void *p) { return p ? (int)((int64_t *)p)[-2] : 0; }
static int sq_roundup(int n) { return (n + 7) & ~7; }
static int sq_init(void *x) { (void)x; return SQLITE_OK; }
static void sq_shutdown(void *x) { (void)x; }

static int setup(void **state) {
    (void)state;
    static const sqlite3_mem_methods mem = {sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init,
                                            sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK) return -1;
    cJSON_Hooks hooks = {__wrap_malloc, free};
    cJSON_InitHooks(&hooks);
    return 0;
}

/* ---- the driver ------------------------------------------------------------------------------------ */

/* One attempt: returns 0 when the operation succeeded (and cleans up after itself), -1 when it
 * reported an error in err. */
typedef int (*Attempt)(void *ctx, char err[QB_ERRLEN]);

/* Runs `attempt` with the k-th allocation failing for k = 0, 1, ... until a run completes without
 * reaching the planned failure. Past the first `dense` allocations only every `stride`-th k is
 * tried (the long tails are thousands of identical small allocations). */
static long run_failing(const char *what, Attempt attempt, void *ctx, long dense, long stride) {
    long tried = 0, failed_cleanly = 0;
    for (long k = 0;; k += k < dense ? 1 : stride) {
        char err[QB_ERRLEN] = "";
        g_failed = 0;
        g_countdown = k;
        int rc = attempt(ctx, err);
        g_countdown = -1;
        tried++;
        if (!g_failed) {
            if (rc != 0) fail_msg("%s: fails with no allocation failing: %s", what, err);
            break;
        }
        if (rc != 0) {
            if (!err[0]) fail_msg("%s: allocation %ld failed and the error message is empty", what, k);
            failed_cleanly++;
        }
    }
    print_message("  %s: %ld runs with one allocation failing, %ld reported an error, the rest recovered\n", what,
                  tried - 1, failed_cleanly);
    return tried - 1; /* runs with an allocation failing */
}

/* ---- what is loaded ---------------------------------------------------------------------------------- */

static int load_model(void *ctx, char err[QB_ERRLEN]) {
    Model *m = quant_or_model_load(ctx, err);
    if (!m) return -1;
    model_free(m);
    return 0;
}

static int load_tokenizer(void *ctx, char err[QB_ERRLEN]) {
    Tokenizer *t = tokenizer_load(ctx, 0, err);
    if (!t) return -1;
    tokenizer_free(t);
    return 0;
}

static int load_text(void *ctx, char err[QB_ERRLEN]) {
    TextFile tf;
    if (textfile_read(ctx, &tf, err)) return -1;
    textfile_free(&tf);
    return 0;
}

/* Writing a checkpoint: on failure neither the file nor its temporary may be left; on success the
 * file must be byte for byte the one written with no allocation failing. */
typedef struct {
    const Model *m;
    const PipelineReport *rep;
    const PipelineOptions *po;
    const char *path;
    const char *want; /* the reference file's bytes */
    size_t want_len;
} WriteCtx;

static int write_checkpoint(void *ctx, char err[QB_ERRLEN]) {
    const WriteCtx *w = ctx;
    int rc = quant_checkpoint_write(w->m, w->rep, w->po, w->path, err);
    long saved = g_countdown; /* the checks below allocate and must not be the ones failing */
    g_countdown = -1;
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", w->path);
    FILE *f = fopen(tmp, "rb");
    if (f) fail_msg("checkpoint writer left %s behind (rc %d)", tmp, rc);
    f = fopen(w->path, "rb");
    if (rc != 0 && f) fail_msg("checkpoint writer failed (%s) but left %s", err, w->path);
    if (f) fclose(f);
    if (rc == 0) {
        size_t len = 0;
        char *got = t_slurp(w->path, &len);
        if (len != w->want_len || memcmp(got, w->want, len))
            fail_msg("checkpoint written with an allocation failing differs from the reference");
        free(got);
        remove(w->path);
    }
    g_countdown = saved;
    return rc;
}

static int load_experiment(void *ctx, char err[QB_ERRLEN]) {
    Experiment *e = calloc(1, sizeof *e);
    if (!e) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    int rc = config_load(ctx, e, err);
    free(e);
    return rc;
}

static int open_store_and_read(void *ctx, char err[QB_ERRLEN]) {
    Store *s = store_open(ctx, err);
    if (!s) return -1;
    StoreRunRow *rows = NULL;
    int n = 0;
    int rc = store_load_runs(s, NULL, NULL, &rows, &n, err);
    /* what a successful read returns is whole: the file holds no run or the one written below */
    if (!rc && n == 1) {
        const StoreRunRow *r = &rows[0];
        int whole = r->key && !strcmp(r->key, "k1") && r->method && !strcmp(r->method, "rtn") && r->model_path &&
                    r->model_sha256 && r->params_json && r->status && r->host && r->started && r->n_metrics == 1 &&
                    r->metrics[0].kind && !strcmp(r->metrics[0].kind, "ppl") && r->metrics[0].signature &&
                    r->metrics[0].dataset && r->metrics[0].against;
        if (!whole) fail_msg("store_load_runs succeeded with a field missing");
    }
    if (!rc) store_free_runs(rows, n);
    StoreBaselineRow *base = NULL;
    if (!rc) rc = store_load_baselines(s, &base, &n, err);
    if (!rc && n == 1 && !(base[0].model_sha256 && base[0].m.kind && !strcmp(base[0].m.kind, "ppl") &&
                            base[0].m.dataset && base[0].m.against && base[0].m.signature && base[0].m.stats_json))
        fail_msg("store_load_baselines succeeded with a field missing");
    if (!rc) store_free_baselines(base, n);
    store_close(s);
    return rc;
}

static void test_model_loaders(void **state) {
    (void)state;
    assert_true(run_failing("llama2.c stories260K", load_model, "assets/stories260K/stories260K.bin", 400, 1) > 0);
    assert_true(run_failing("HF tinystories-656K", load_model, "assets/tinystories-656K", 400, 1) > 0);
    assert_true(run_failing("GGUF s260k-Q4_K_M", load_model, "assets/gguf/s260k-Q4_K_M.gguf", 400, 1) > 0);
    assert_true(run_failing("AutoGPTQ b4-g32-sym-actorder", load_model, "assets/autogptq/b4-g32-sym-actorder", 400, 7) > 0);
}

static void test_quantized_checkpoint(void **state) {
    (void)state;
    char dir[64], path[128], err[QB_ERRLEN];
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qbench_allocfail"), 0);
    snprintf(path, sizeof path, "%s/rtn4.qbq", dir);
    Model *m = model_load("assets/stories260K/stories260K.bin", err);
    assert_non_null(m);
    PipelineOptions po = {.true_sequential = 1};
    quant_options_default(&po.opt, QM_RTN, 4);
    po.opt.group_size = 32;
    PipelineReport rep;
    assert_int_equal(quant_model(m, NULL, &po, 1, &rep, err), 0);
    assert_int_equal(quant_checkpoint_write(m, &rep, &po, path, err), 0);
    pipeline_report_free(&rep);
    model_free(m);
    assert_true(run_failing("qbench checkpoint (RTN 4-bit g32)", load_model, path, 400, 1) > 0);
    /* the writer, from the same model and results */
    m = model_load("assets/stories260K/stories260K.bin", err);
    assert_non_null(m);
    assert_int_equal(quant_model(m, NULL, &po, 1, &rep, err), 0);
    WriteCtx w = {m, &rep, &po, NULL, NULL, 0};
    w.want = t_slurp(path, &w.want_len);
    assert_non_null(w.want);
    char out[160];
    snprintf(out, sizeof out, "%s/written.qbq", dir);
    w.path = out;
    assert_true(run_failing("checkpoint writer (RTN 4-bit g32)", write_checkpoint, &w, 300, 5) > 0);
    free((char *)w.want);
    pipeline_report_free(&rep);
    model_free(m);
    assert_int_equal(t_rm_rf(dir), 0);
}

static void test_tokenizers(void **state) {
    (void)state;
    assert_true(run_failing("tokenizer.bin (tok512)", load_tokenizer, "assets/stories260K/tok512.bin", 300, 1) > 0);
    assert_true(run_failing("tokenizer.json (tinystories-656K)", load_tokenizer, "assets/tinystories-656K/tokenizer.json", 300,
                97) > 0);
    assert_true(run_failing("GGUF vocabulary (s260k-f32.gguf)", load_tokenizer, "assets/gguf/s260k-f32.gguf", 300, 7) > 0);
}

static void test_text_and_experiment(void **state) {
    (void)state;
    assert_true(run_failing("text file", load_text, "assets/tinystories/tinystories_v1_validation_head.txt", 50, 1) > 0);
    assert_true(run_failing("experiment file (demo.yaml)", load_experiment, "experiments/demo.yaml", 300, 1) > 0);
}

static void test_store(void **state) {
    (void)state;
    char dir[64], path[128], err[QB_ERRLEN];
    assert_int_equal(t_mkdtemp(dir, sizeof dir, "qbench_allocfail"), 0);
    snprintf(path, sizeof path, "%s/fresh.db", dir);
    /* a fresh file each run: creating the schema is part of what may fail */
    for (long k = 0;; k++) {
        remove(path);
        char wal[160];
        snprintf(wal, sizeof wal, "%s-wal", path);
        remove(wal);
        g_failed = 0;
        g_countdown = k;
        err[0] = 0;
        int rc = open_store_and_read(path, err);
        g_countdown = -1;
        if (!g_failed) {
            assert_int_equal(rc, 0);
            print_message("  store_open on a new file: %ld runs with one allocation failing\n", k);
            break;
        }
        if (rc != 0 && !err[0]) fail_msg("store_open: allocation %ld failed and the error message is empty", k);
    }
    /* then reading a file that holds a point */
    Store *s = store_open(path, err);
    assert_non_null(s);
    StoreMetric metric = {.kind = "ppl", .dataset = "tinystories-valid", .value = 4.5, .count = 100, .signature = "s"};
    StoreLayer layer = {.block = 0, .name = "attn.q", .rows = 8, .cols = 8, .error = 0.1, .gptq_loss = 0.2};
    StorePoint p = {.run = {.key = "k1", .model_path = "m.bin", .model_sha256 = "abc", .method = "rtn", .bits = 4,
                            .group_size = 32, .params_json = "{}", .host = "h", .threads = 1},
                    .metrics = &metric, .n_metrics = 1, .layers = &layer, .n_layers = 1};
    assert_int_equal(store_begin_point(s, &p.run, err), 0);
    assert_int_equal(store_write_point(s, &p, err), 0);
    assert_int_equal(store_put_baseline(s, "abc", &metric, err), 0);
    store_close(s);
    assert_true(run_failing("store with one point", open_store_and_read, path, 400, 1) > 0);
    assert_int_equal(t_rm_rf(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_loaders),   cmocka_unit_test(test_quantized_checkpoint),
        cmocka_unit_test(test_tokenizers),      cmocka_unit_test(test_text_and_experiment),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
