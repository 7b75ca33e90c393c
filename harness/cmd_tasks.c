/* cmd_tasks.c — `qbench tasks`: zero-shot task accuracy of one model the way lm-evaluation-harness
 * computes it (datasets/tasks.h, metrics/loglik.h), and `qbench tasks compare`: McNemar and a paired
 * bootstrap between two points of a results database on the same items. Results on stdout (text or
 * --json), progress on stderr. Exit 0 success, 2 usage error or failure to run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cJSON.h>
#include <sqlite3.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "harness/progress.h"
#include "harness/store.h"
#include "harness/tasks_eval.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: qbench tasks --model M --task T [--task T2 ...] [options]\n"
            "       qbench tasks compare DB A B --task T [options]\n"
            "       qbench tasks --list\n"
            "Zero-shot accuracy as lm-evaluation-harness computes it (0-shot, its loglikelihood rules).\n"
            "  --model M            (required) llama2.c .bin, HF directory, .safetensors or qbench checkpoint\n"
            "  --tokenizer T        tokenizer.bin / tokenizer.json (default: found beside the model)\n"
            "  --task T             (required, repeatable) lambada_openai piqa arc_easy arc_challenge\n"
            "                       winogrande boolq copa hellaswag-llamacpp tinystories-cloze, or a .jsonl\n"
            "                       file of {\"context\", \"choices\", \"gold\"} lines\n"
            "  --limit N            only the first N items, as lm-eval's --limit (default: all)\n"
            "  --max-length N       the window; longer inputs lose their left end as in lm-eval (default:\n"
            "                       the model's context)\n"
            "  --bos B              auto|yes|no: BOS before every encoding (default auto: when the\n"
            "                       tokenizer adds one)\n"
            "  --bootstrap-iters N  resamples for the perplexity's standard error (default 100000, 0 = none)\n"
            "  --no-prepend-space   encode without the tokenizer's leading space\n"
            "  --threads N          threads; results do not depend on it (default: all cores)\n"
            "  --json               results as one JSON object\n"
            "  --quiet              no progress on stderr\n"
            "  --list               print the task names\n"
            "compare: McNemar (exact binomial p) on acc and a paired bootstrap of the difference in acc,\n"
            "acc_norm and the gold choice's log-likelihood between points A and B of results database DB,\n"
            "each a run id, a key prefix (8+ hex digits, as report and check print keys) or 'base':\n"
            "  --model-sha256 H     the model whose stored unquantized items 'base' means (required with base)\n"
            "  --iters N            paired-bootstrap resamples (default 10000)\n"
            "  --seed S             the resampling seed (default 0)\n");
}

static int cmd_list(void) {
    for (const char *const *n = task_names(); *n; n++) printf("%s\n", *n);
    return 0;
}

/* ---- compare ------------------------------------------------------------------------------------ */

/* A point named by its run id or by a prefix (8+ hex digits) of its key, as report and check print it. */
static int load_side(Store *st, const char *which, const char *task, const char *sig, StoreTaskItemRow **rows, int *n,
                     char **sig_out, char err[QB_ERRLEN]) {
    char *e;
    long id = strtol(which, &e, 10);
    size_t len = strlen(which);
    if (*e || id < 1) {
        int hex = len >= 8 && len <= 64;
        for (size_t i = 0; i < len && hex; i++) hex = strchr("0123456789abcdef", which[i]) != NULL;
        if (!hex) { snprintf(err, QB_ERRLEN, "'%s' is neither a run id nor a key prefix (8+ hex digits)", which); return -1; }
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(store_db(st), "SELECT id FROM runs WHERE substr(key, 1, ?2) = ?1 LIMIT 2", -1, &q, NULL) !=
            SQLITE_OK) {
            snprintf(err, QB_ERRLEN, "reading runs: %s", sqlite3_errmsg(store_db(st)));
            return -1;
        }
        sqlite3_bind_text(q, 1, which, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(q, 2, (int)len);
        int found = 0;
        while (sqlite3_step(q) == SQLITE_ROW) { id = (long)sqlite3_column_int64(q, 0); found++; }
        sqlite3_finalize(q);
        if (found != 1) { snprintf(err, QB_ERRLEN, "key prefix '%s' matches %s", which, found ? "several runs" : "no run"); return -1; }
    }
    return store_get_task_items(st, id, NULL, task, sig, rows, n, sig_out, err);
}

int tasks_paired(const StoreTaskItemRow *a, int na, const StoreTaskItemRow *b, int nb, long iters, long seed,
                 TaskPaired *out, char err[QB_ERRLEN]) {
    memset(out, 0, sizeof *out);
    if (na != nb) { snprintf(err, QB_ERRLEN, "%d items against %d: not the same item set", na, nb); return -1; }
    for (int i = 0; i < na; i++)
        if (a[i].idx != b[i].idx || a[i].gold != b[i].gold || a[i].n_req != b[i].n_req) {
            snprintf(err, QB_ERRLEN, "item %d differs in index, gold or choices: not the same item set", i);
            return -1;
        }
    int N = na;
    unsigned char *ca = calloc((size_t)N + 1, 1), *cb = calloc((size_t)N + 1, 1);
    double *xa = malloc(((size_t)N + 1) * sizeof *xa), *xb = malloc(((size_t)N + 1) * sizeof *xb);
    if (!ca || !cb || !xa || !xb) {
        free(ca); free(cb); free(xa); free(xb);
        snprintf(err, QB_ERRLEN, "out of memory");
        return -1;
    }
    out->n = N;
    out->iters = iters;
    out->seed = seed;
    for (int i = 0; i < N; i++) {
        ca[i] = (unsigned char)a[i].correct;
        cb[i] = (unsigned char)b[i].correct;
        xa[i] = ca[i];
        xb[i] = cb[i];
    }
    loglik_mcnemar(ca, cb, N, &out->mc);
    loglik_paired_bootstrap(xa, xb, N, (int)iters, (uint64_t)seed, &out->acc);
    for (int i = 0; i < N; i++) out->have_norm |= a[i].pred_norm != a[i].pred || b[i].pred_norm != b[i].pred;
    for (int i = 0; i < N; i++) { xa[i] = a[i].correct_norm; xb[i] = b[i].correct_norm; }
    loglik_paired_bootstrap(xa, xb, N, (int)iters, (uint64_t)seed, &out->acc_norm);
    /* the gold request's log-likelihood: the target's for lambada-style tasks */
    for (int i = 0; i < N; i++) { xa[i] = a[i].ll[a[i].gold]; xb[i] = b[i].ll[b[i].gold]; }
    loglik_paired_bootstrap(xa, xb, N, (int)iters, (uint64_t)seed, &out->gold_ll);
    free(ca);
    free(cb);
    free(xa);
    free(xb);
    return 0;
}

cJSON *tasks_paired_json(const TaskPaired *t) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "n", t->n);
    cJSON *m = cJSON_AddObjectToObject(j, "mcnemar");
    cJSON_AddNumberToObject(m, "a_only", (double)t->mc.b);
    cJSON_AddNumberToObject(m, "b_only", (double)t->mc.c);
    cJSON_AddNumberToObject(m, "chi2", t->mc.chi2);
    cJSON_AddNumberToObject(m, "p", t->mc.p);
    const char *names[3] = {"acc", "acc_norm", "gold_loglik"};
    const PairedBootstrap *bs[3] = {&t->acc, &t->acc_norm, &t->gold_ll};
    for (int k = 0; k < 3; k++) {
        if (k == 1 && !t->have_norm) continue;
        cJSON *b = cJSON_AddObjectToObject(j, names[k]);
        cJSON_AddNumberToObject(b, "diff", bs[k]->diff);
        cJSON_AddNumberToObject(b, "ci_lo", bs[k]->lo);
        cJSON_AddNumberToObject(b, "ci_hi", bs[k]->hi);
        cJSON_AddNumberToObject(b, "p", bs[k]->p);
        cJSON_AddNumberToObject(b, "iters", bs[k]->iters);
    }
    return j;
}

void tasks_paired_print(FILE *f, const TaskPaired *t, const char *la, const char *lb) {
    fprintf(f, "McNemar: right only under %s %ld, only under %s %ld, chi2 %.4f, exact p %.4g\n", la, t->mc.b, lb, t->mc.c,
            t->mc.chi2, t->mc.p);
    fprintf(f, "paired bootstrap (%ld resamples, seed %ld): acc %s - %s = %+.4f [%+.4f, %+.4f] p %.4g\n", t->iters, t->seed,
            lb, la, t->acc.diff, t->acc.lo, t->acc.hi, t->acc.p);
    if (t->have_norm)
        fprintf(f, "  acc_norm %+.4f [%+.4f, %+.4f] p %.4g\n", t->acc_norm.diff, t->acc_norm.lo, t->acc_norm.hi, t->acc_norm.p);
    fprintf(f, "  gold log-likelihood %+.4f [%+.4f, %+.4f] p %.4g\n", t->gold_ll.diff, t->gold_ll.lo, t->gold_ll.hi, t->gold_ll.p);
}

static int cmd_tasks_compare(int argc, char **argv) {
    const char *pos[3] = {NULL, NULL, NULL}, *task = NULL, *base_model = NULL;
    long iters = 10000, seed = 0;
    int np = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--task")) { if (!v) goto need; task = v; i++; }
        else if (!strcmp(a, "--model-sha256")) { if (!v) goto need; base_model = v; i++; }
        else if (!strcmp(a, "--iters")) { if (cli_parse_long("tasks compare", a, v, 1, 10000000, &iters)) return 2; i++; }
        else if (!strcmp(a, "--seed")) { if (cli_parse_long("tasks compare", a, v, 0, 0x7fffffffL, &seed)) return 2; i++; }
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "qbench tasks compare: unknown option '%s'\n", a); return 2; }
        else if (np < 3) pos[np++] = a;
        else { fprintf(stderr, "qbench tasks compare: too many arguments\n"); return 2; }
        continue;
    need:
        fprintf(stderr, "qbench tasks compare: %s needs a value\n", a);
        return 2;
    }
    if (np != 3 || !task) { fprintf(stderr, "qbench tasks compare: DB RUN_A RUN_B and --task are required\n"); usage(stderr); return 2; }
    char err[QB_ERRLEN];
    if (access(pos[0], R_OK) != 0) { fprintf(stderr, "qbench tasks compare: %s: no such results database\n", pos[0]); return 2; }
    Store *st = store_open_readonly(pos[0], err); /* reads only */
    if (!st) { fprintf(stderr, "qbench tasks compare: %s\n", err); return 2; }
    StoreTaskItemRow *r[2] = {NULL, NULL};
    int n[2] = {0, 0}, rc = 2;
    char *sig[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        const char *which = pos[1 + k];
        int lr;
        if (!strcmp(which, "base")) {
            if (!base_model) { fprintf(stderr, "qbench tasks compare: 'base' needs --model-sha256 H (the model's sha256, see report)\n"); goto done; }
            lr = store_get_task_items(st, 0, base_model, task, k ? sig[0] : NULL, &r[k], &n[k], &sig[k], err);
        } else {
            lr = load_side(st, which, task, k ? sig[0] : NULL, &r[k], &n[k], &sig[k], err);
        }
        if (lr) { fprintf(stderr, "qbench tasks compare: %s: %s\n", which, err); goto done; }
    }
    {
        TaskPaired tp;
        if (tasks_paired(r[0], n[0], r[1], n[1], iters, seed, &tp, err)) { fprintf(stderr, "qbench tasks compare: %s\n", err); goto done; }
        if (json) {
            cJSON *j = tasks_paired_json(&tp);
            cJSON_AddStringToObject(j, "task", task);
            cJSON_AddStringToObject(j, "signature", sig[0]);
            cJSON_AddStringToObject(j, "a", pos[1]);
            cJSON_AddStringToObject(j, "b", pos[2]);
            char *s = cJSON_Print(j);
            if (s) printf("%s\n", s);
            free(s);
            cJSON_Delete(j);
        } else {
            printf("%s: %s vs %s on %d items (%s)\n", task, pos[1], pos[2], tp.n, sig[0]);
            tasks_paired_print(stdout, &tp, pos[1], pos[2]);
        }
        rc = 0;
    }
done:
    for (int k = 0; k < 2; k++) { store_free_task_items(r[k], n[k]); free(sig[k]); }
    store_close(st);
    return rc;
}

/* ---- evaluate --------------------------------------------------------------------------------- */

int cmd_tasks(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "compare")) return cmd_tasks_compare(argc - 1, argv + 1);
    const char *model_path = NULL, *tok_path = NULL, *tasks[32];
    int n_tasks = 0, json = 0, quiet = 0, no_prepend = 0;
    long limit = 0, max_length = 0, threads = 0, iters = TASK_BOOTSTRAP_ITERS;
    LoglikOptions o = {.bos = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--tokenizer")) tok_path = v;
        else if (!strcmp(a, "--task")) {
            if (n_tasks == 32) { fprintf(stderr, "qbench tasks: at most 32 --task\n"); return 2; }
            if (v) tasks[n_tasks++] = v;
        } else if (!strcmp(a, "--limit")) { if (cli_parse_long("tasks", a, v, 1, 1L << 30, &limit)) return 2; }
        else if (!strcmp(a, "--max-length")) { if (cli_parse_long("tasks", a, v, 2, 1 << 20, &max_length)) return 2; }
        else if (!strcmp(a, "--threads")) { if (cli_parse_long("tasks", a, v, 1, 4096, &threads)) return 2; }
        else if (!strcmp(a, "--bootstrap-iters")) { if (cli_parse_long("tasks", a, v, 0, 10000000, &iters)) return 2; }
        else if (!strcmp(a, "--bos")) {
            if (v && !strcmp(v, "auto")) o.bos = -1;
            else if (v && !strcmp(v, "yes")) o.bos = 1;
            else if (v && !strcmp(v, "no")) o.bos = 0;
            else { fprintf(stderr, "qbench tasks: --bos must be auto, yes or no, got '%s'\n", v ? v : ""); return 2; }
        } else {
            takes = 0;
            if (!strcmp(a, "--json")) json = 1;
            else if (!strcmp(a, "--quiet")) quiet = 1;
            else if (!strcmp(a, "--no-prepend-space")) no_prepend = 1;
            else if (!strcmp(a, "--list")) return cmd_list();
            else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
            else { fprintf(stderr, "qbench tasks: unknown option '%s'\n", a); usage(stderr); return 2; }
        }
        if (takes) {
            if (!v) { fprintf(stderr, "qbench tasks: %s needs a value\n", a); return 2; }
            i++;
        }
    }
    if (!model_path || !n_tasks) {
        fprintf(stderr, "qbench tasks: --model and --task are required\n");
        usage(stderr);
        return 2;
    }
    char err[QB_ERRLEN], tok_used[2048];
    for (int k = 0; k < n_tasks; k++) /* every task name checked before the model loads */
        if (task_check(tasks[k], err)) { fprintf(stderr, "qbench tasks: %s\n", err); return 2; }
    int nthreads = qb_set_threads((int)threads);
    Model *m;
    Tokenizer *t;
    if (load_model_and_tokenizer("tasks", model_path, tok_path, no_prepend, &m, &t, tok_used, sizeof tok_used)) return 2;
    o.max_length = (int)max_length;
    if (o.max_length > m->cfg.seq_len) {
        fprintf(stderr, "qbench tasks: --max-length %d is beyond the model's %d positions\n", o.max_length, m->cfg.seq_len);
        model_free(m);
        tokenizer_free(t);
        return 2;
    }
    int max_len = o.max_length ? o.max_length : m->cfg.seq_len, bos = loglik_uses_bos(&o, t), rc = 0;
    cJSON *jroot = json ? cJSON_CreateObject() : NULL, *jt = NULL;
    if (jroot) {
        cJSON_AddStringToObject(jroot, "model", m->path);
        cJSON_AddStringToObject(jroot, "model_sha256", m->sha256);
        cJSON_AddStringToObject(jroot, "tokenizer", tok_used);
        cJSON_AddNumberToObject(jroot, "threads", nthreads);
        jt = cJSON_AddArrayToObject(jroot, "tasks");
    }
    for (int k = 0; k < n_tasks && rc == 0; k++) {
        EvalTask et;
        if (eval_task_load(tasks[k], (int)limit, &et, err)) { fprintf(stderr, "qbench tasks: %s\n", err); rc = 2; break; }
        eval_task_signature(&et, tok_used, bos, max_len, tokenizer_prepend_space(t));
        Progress pr;
        progress_init(&pr, et.data.name, et.data.n, "items", quiet);
        o.progress = progress_callback;
        o.progress_ctx = &pr;
        TaskScores sc;
        double t0 = now_s();
        if (loglik_eval_task(m, t, &et.view, &o, &sc, err)) {
            if (pr.drawn) fputc('\n', stderr);
            fprintf(stderr, "qbench tasks: %s: %s\n", et.data.name, err);
            eval_task_free(&et);
            rc = 2;
            break;
        }
        double secs = now_s() - t0;
        progress_finish(&pr);
        TaskSummary s;
        loglik_summarize(&et.view, &sc, (int)iters, &s);
        if (jt) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "task", et.data.name);
            cJSON_AddStringToObject(x, "signature", et.sig);
            cJSON_AddNumberToObject(x, "n", (double)s.n);
            cJSON_AddNumberToObject(x, "acc", s.acc);
            cJSON_AddNumberToObject(x, "acc_stderr", isfinite(s.acc_stderr) ? s.acc_stderr : 0);
            if (et.data.has_acc_norm) {
                cJSON_AddNumberToObject(x, "acc_norm", s.acc_norm);
                cJSON_AddNumberToObject(x, "acc_norm_stderr", isfinite(s.acc_norm_stderr) ? s.acc_norm_stderr : 0);
            }
            if (et.data.kind == TASK_GREEDY) {
                cJSON_AddNumberToObject(x, "perplexity", s.ppl);
                if (isfinite(s.ppl_stderr)) cJSON_AddNumberToObject(x, "perplexity_stderr", s.ppl_stderr);
            }
            cJSON_AddNumberToObject(x, "chance", s.chance);
            cJSON_AddNumberToObject(x, "seconds", secs);
            cJSON_AddNumberToObject(x, "items_per_second", secs > 0 ? s.n / secs : 0);
            cJSON_AddItemToArray(jt, x);
        } else {
            char line[512];
            eval_task_summary_line(&et, &s, line, sizeof line);
            printf("%s = %s\n", et.sig, line);
        }
        if (sc.cont_empty)
            fprintf(stderr, "qbench tasks: %s: warning: %ld continuation(s) got no tokens of their own (merged into the "
                            "context's): scored ll 0 and greedy, as lm-eval does\n", et.data.name, sc.cont_empty);
        if (sc.cont_truncated)
            fprintf(stderr, "qbench tasks: %s: warning: %ld continuation(s) longer than the window of %d tokens: only "
                            "their last %d tokens were scored (lm-eval cannot score these)\n", et.data.name,
                    sc.cont_truncated, max_len, max_len);
        if (!quiet) fprintf(stderr, "qbench tasks: %s: %ld items in %.1fs (%.1f items/s, %ld positions run)\n", et.data.name, s.n,
                            secs, secs > 0 ? s.n / secs : 0, sc.tokens_run);
        loglik_scores_free(&sc);
        eval_task_free(&et);
    }
    if (jroot) {
        if (rc == 0) {
            char *s = cJSON_Print(jroot);
            if (s) printf("%s\n", s);
            free(s);
        }
        cJSON_Delete(jroot);
    }
    model_free(m);
    tokenizer_free(t);
    return rc;
}
