/* test_tasks.c — zero-shot tasks against independent sources:
 *   - prompt construction: items worked out by hand from each task's definition (lm-eval's task
 *     yaml / utils.py; llama.cpp's hellaswag format), exact strings;
 *   - tinystories-cloze v1: the item set equals the one scripts/make_tinystories_cloze.py (an
 *     independent Python implementation) builds: count and sha256 of the texts;
 *   - tokenization (lm-eval's _encode_pair) and log-likelihoods: a plain-torch float64 llama2.c forward
 *     with a Python port of run.c's tokenizer (tests/fixtures/make_tasks_oracle.py) on stories260K,
 *     including a left-truncated request and llama.cpp's hellaswag scoring;
 *   - metrics: lm-eval's standard errors by hand and its perplexity bootstrap against CPython's
 *     random module; McNemar by hand; the acc / acc_norm decision on hand-made log-likelihoods;
 *   - results identical for 1 and 2 threads; per-item rows through the store; hostile user tasks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <cJSON.h>

#include "datasets/datasets.h"
#include "datasets/tasks.h"
#include "harness/cli.h"
#include "harness/config.h"
#include "harness/runner.h"
#include "harness/store.h"
#include "harness/tasks_eval.h"
#include "metrics/loglik.h"
#include "model/tokenizer.h"
#include "tests/common.h"

static Model *m260;
static Tokenizer *t260;

static int setup(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    m260 = model_load("assets/stories260K/stories260K.bin", err);
    if (!m260) { fprintf(stderr, "%s\n", err); return -1; }
    t260 = tokenizer_load("assets/stories260K/tok512.bin", m260->cfg.vocab_size, err);
    qb_set_threads(0);
    return t260 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    model_free(m260);
    tokenizer_free(t260);
    return 0;
}

static void load(const char *name, int limit, EvalTask *et) {
    char err[QB_ERRLEN];
    int rc = eval_task_load(name, limit, et, err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
}

/* ---- prompt construction, by hand from the definitions ---------------------------------------- */

static void test_piqa_strings(void **state) {
    (void)state;
    EvalTask et;
    load("piqa", 2, &et);
    assert_int_equal(et.data.n, 2);
    assert_int_equal(et.data.kind, TASK_MULTIPLE_CHOICE);
    const TaskItem *a = &et.data.items[0], *b = &et.data.items[1];
    /* doc_to_text "Question: {{goal}}\nAnswer:", choices [sol1, sol2] after the delimiter " " */
    assert_string_equal(a->ctx[0], "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
    assert_string_equal(a->ctx[1], a->ctx[0]);
    assert_string_equal(a->cont[0], " Provide the guinea pig with a cage full of a few inches of bedding made of ripped "
                                    "paper strips, you will also need to supply it with a water bottle and a food dish.");
    assert_int_equal(a->gold, 0); /* valid-labels.lst line 1 */
    assert_int_equal(a->choice_chars[0], (long)strlen(a->cont[0]) - 1); /* len(sol1) (ASCII), the delimiter not counted */
    assert_string_equal(b->ctx[0], "Question: dresser\nAnswer:");
    assert_string_equal(b->cont[0], " replace drawer with bobby pin "); /* raw: the trailing space stays */
    assert_string_equal(b->cont[1], " finish, woodgrain with  bobby pin ");
    assert_int_equal(b->choice_chars[1], 34);
    assert_int_equal(b->gold, 1);
    eval_task_free(&et);
    load("piqa", 0, &et);
    assert_int_equal(et.data.n, 1838);
    assert_true(fabs(et.data.chance - 0.5) < 1e-12);
    eval_task_free(&et);
}

static void test_arc_strings(void **state) {
    (void)state;
    EvalTask et;
    load("arc_easy", 0, &et);
    assert_int_equal(et.data.n, 2376);
    assert_string_equal(et.data.items[0].ctx[0],
                        "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:");
    assert_string_equal(et.data.items[0].cont[0], " Sunlight is the source of energy for nearly all ecosystems.");
    assert_int_equal(et.data.items[0].n, 4);
    assert_int_equal(et.data.items[0].gold, 0);
    assert_true(et.data.has_acc_norm);
    eval_task_free(&et);
    load("arc_challenge", 1, &et);
    assert_string_equal(et.data.items[0].ctx[0], "Question: An astronomer observes that a planet rotates faster after a "
                                                 "meteorite impact. Which is the most likely effect of this increase in rotation?\nAnswer:");
    assert_string_equal(et.data.items[0].cont[2], " Planetary days will become shorter.");
    assert_int_equal(et.data.items[0].gold, 2);
    eval_task_free(&et);
}

static void test_copa_strings(void **state) {
    (void)state;
    EvalTask et;
    load("copa", 0, &et);
    assert_int_equal(et.data.n, 100);
    /* premise.strip()[:-1] + " therefore"; choices " " + lowercased-first choice, after the delimiter " " */
    assert_string_equal(et.data.items[0].ctx[0], "The man turned on the faucet therefore");
    assert_string_equal(et.data.items[0].cont[0], "  the toilet filled with water.");
    assert_string_equal(et.data.items[0].cont[1], "  water flowed from the spout.");
    assert_int_equal(et.data.items[0].gold, 1);
    assert_string_equal(et.data.items[3].ctx[0], "I wanted to conserve energy therefore");
    assert_string_equal(et.data.items[3].cont[0], "  i swept the floor in the unoccupied room.");
    assert_string_equal(et.data.items[4].ctx[0], "The hamburger meat browned because");
    assert_false(et.data.has_acc_norm);
    int gold1 = 0;
    for (int i = 0; i < et.data.n; i++) gold1 += et.data.items[i].gold;
    assert_int_equal(gold1, 45); /* the COPA validation split: 55 x gold 0, 45 x gold 1 */
    eval_task_free(&et);
}

static void test_winogrande_strings(void **state) {
    (void)state;
    EvalTask et;
    load("winogrande", 0, &et);
    assert_int_equal(et.data.n, 1267);
    assert_int_equal(et.data.kind, TASK_PARTIAL);
    const TaskItem *a = &et.data.items[0];
    /* "Sarah was a much better surgeon than Maria so _ always got the easier cases." answer 2 */
    assert_string_equal(a->ctx[0], "Sarah was a much better surgeon than Maria so Sarah");
    assert_string_equal(a->ctx[1], "Sarah was a much better surgeon than Maria so Maria");
    assert_string_equal(a->cont[0], " always got the easier cases.");
    assert_string_equal(a->cont[1], a->cont[0]);
    assert_int_equal(a->gold, 1);
    assert_int_equal(et.data.items[1].gold, 0);
    eval_task_free(&et);
}

static void test_boolq_lambada_hellaswag_strings(void **state) {
    (void)state;
    EvalTask et;
    load("boolq", 0, &et);
    assert_int_equal(et.data.n, 3270);
    int yes = 0;
    for (int i = 0; i < et.data.n; i++) yes += et.data.items[i].gold;
    assert_int_equal(yes, 2033); /* BoolQ dev: 2033 of 3270 answers are true */
    const char *c = et.data.items[0].ctx[0];
    const char *head = "Ethanol fuel -- All biomass goes through at least some of these steps:";
    assert_true(!strncmp(c, head, strlen(head)));
    const char *tail = "\nQuestion: does ethanol take more energy make that produces?\nAnswer:";
    assert_string_equal(c + strlen(c) - strlen(tail), tail);
    assert_string_equal(et.data.items[0].cont[0], " no");
    assert_string_equal(et.data.items[0].cont[1], " yes");
    assert_int_equal(et.data.items[0].gold, 0);
    eval_task_free(&et);

    load("lambada_openai", 0, &et);
    assert_int_equal(et.data.n, 5153);
    assert_int_equal(et.data.kind, TASK_GREEDY);
    c = et.data.items[0].ctx[0];
    assert_string_equal(c + strlen(c) - 18, "I don't care about"); /* split(' ')[:-1] joined */
    assert_string_equal(et.data.items[0].cont[0], " signs");
    assert_string_equal(et.data.items[1].cont[0], " Shane");
    eval_task_free(&et);

    load("hellaswag-llamacpp", 0, &et);
    assert_int_equal(et.data.n, 10042);
    assert_string_equal(et.data.items[0].ctx[0], "Roof shingle removal: A man is sitting on a roof. he");
    assert_string_equal(et.data.items[0].cont[3], " starts pulling up roofing on a roof.");
    assert_int_equal(et.data.items[0].gold, 3);
    assert_string_equal(et.data.items[1].ctx[0], "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. the lady");
    eval_task_free(&et);
}

/* ---- tinystories-cloze: the C construction equals the Python script's --------------------------- */

static void test_cloze_matches_script(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len;
    char *fx = qb_read_file("tests/fixtures/tasks/tinystories_cloze_v1.digest", &len, err);
    assert_non_null(fx);
    int count = 0;
    char sha[65] = "";
    assert_int_equal(sscanf(fx, "count %d\nsha256 %64s", &count, sha), 2);
    free(fx);
    EvalTask et;
    load("tinystories-cloze", 0, &et);
    assert_int_equal(et.data.n, count);
    size_t total = 0;
    for (int i = 0; i < et.data.n; i++) total += strlen(et.data.items[i].ctx[0]) + strlen(et.data.items[i].cont[0]) + 1;
    char *all = malloc(total + 1), *p = all;
    assert_non_null(all);
    for (int i = 0; i < et.data.n; i++) {
        if (i) *p++ = 0;
        p += sprintf(p, "%s%s", et.data.items[i].ctx[0], et.data.items[i].cont[0]);
    }
    char got[65];
    qb_sha256_hex(all, (size_t)(p - all), got);
    assert_string_equal(got, sha);
    free(all);
    /* every target is one word: the continuation is " " + letters */
    for (int i = 0; i < et.data.n; i++) assert_true(strchr(et.data.items[i].cont[0] + 1, ' ') == NULL);
    eval_task_free(&et);
}

/* ---- user tasks and hostile input ---------------------------------------------------------------- */

static char *write_tmp(const char *text) {
    static char path[64];
    snprintf(path, sizeof path, "/tmp/qb_test_tasks_XXXXXX.jsonl");
    int fd = mkstemps(path, 6);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_user_jsonl(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    char *p = write_tmp("{\"context\": \"The sky is\", \"choices\": [\"blue\", \"gr\\u00fcn\"], \"gold\": 0}\n\n"
                        "{\"context\": \"2+2=\", \"choices\": [\"3\", \"4\", \"5\"], \"gold\": 1}\n");
    EvalTask et;
    load(p, 0, &et);
    assert_int_equal(et.data.n, 2);
    assert_string_equal(et.data.items[0].ctx[0], "The sky is");
    assert_string_equal(et.data.items[0].cont[1], " gr\xc3\xbcn");
    assert_int_equal(et.data.items[0].choice_chars[1], 4); /* code points, not bytes */
    assert_int_equal(et.data.items[1].gold, 1);
    assert_true(fabs(et.data.chance - (0.5 + 1.0 / 3) / 2) < 1e-12);
    eval_task_free(&et);
    unlink(p);
    const char *bad[] = {"{\"context\": \"x\", \"choices\": [\"a\"], \"gold\": 1}\n",      /* gold out of range */
                         "{\"context\": \"x\", \"choices\": [], \"gold\": 0}\n",         /* no choices */
                         "{\"context\": \"x\", \"choices\": [\"a\", 3], \"gold\": 0}\n", /* not a string */
                         "{\"context\": \"x\", \"choices\": [\"a\"], \"gold\": 0.5}\n",  /* not an integer */
                         "{\"choices\": [\"a\"], \"gold\": 0}\n",                        /* no context */
                         "{\"context\": \"x\", \"choices\": [\"a\"], \"gold\": 0}\nnot json\n", ""};
    for (int i = 0; i < 7; i++) {
        p = write_tmp(bad[i]);
        int rc = eval_task_load(p, 0, &et, err);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, p)); /* names the file */
        if (i == 5) assert_non_null(strstr(err, ":2:")); /* and the line */
        unlink(p);
    }
    assert_int_equal(task_check("no-such-task", err), -1);
    assert_int_equal(task_check("/nonexistent/x.jsonl", err), -1);
}

/* ---- the plain-torch oracle -------------------------------------------------------------------- */

static int ids_equal(const cJSON *arr, const int *v, int n) {
    if (cJSON_GetArraySize(arr) != n) return 0;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if ((int)e->valuedouble != v[i++]) return 0;
    return 1;
}

static void test_oracle(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    size_t len;
    char *buf = qb_read_file("tests/fixtures/tasks/oracle_stories260k.json", &len, err);
    assert_non_null(buf);
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    assert_non_null(root);
    const cJSON *c;
    int ncases = 0;
    double maxdiff = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        const char *task = cJSON_GetObjectItem(c, "task")->valuestring;
        int item = cJSON_GetObjectItem(c, "item")->valueint, ml = cJSON_GetObjectItem(c, "max_length")->valueint;
        EvalTask et;
        load(task, item + 1, &et);
        const TaskItem *it = &et.data.items[item];
        const cJSON *reqs = cJSON_GetObjectItem(c, "requests");
        assert_int_equal(cJSON_GetArraySize(reqs), it->n);
        assert_int_equal(cJSON_GetObjectItem(c, "gold")->valueint, it->gold);
        /* score this one item */
        LoglikItem one = et.items[item];
        LoglikTask lt = et.view;
        lt.items = &one;
        lt.n = 1;
        LoglikOptions o = {.bos = -1, .max_length = ml};
        TaskScores sc;
        int rc = loglik_eval_task(m260, t260, &lt, &o, &sc, err);
        if (rc) fprintf(stderr, "%s\n", err);
        assert_int_equal(rc, 0);
        int r = 0;
        const cJSON *q;
        cJSON_ArrayForEach(q, reqs) {
            /* the strings Python built from the raw file and lm-eval's definition */
            assert_string_equal(cJSON_GetObjectItem(q, "context")->valuestring, it->ctx[r]);
            assert_string_equal(cJSON_GetObjectItem(q, "continuation")->valuestring, it->cont[r]);
            if (strcmp(task, "hellaswag-llamacpp")) {
                int *ci, *oi, nc, no;
                assert_int_equal(loglik_encode_pair(t260, 1, it->ctx[r], it->cont[r], &ci, &nc, &oi, &no, err), 0);
                assert_true(ids_equal(cJSON_GetObjectItem(q, "ctx_ids"), ci, nc));
                assert_true(ids_equal(cJSON_GetObjectItem(q, "cont_ids"), oi, no));
                assert_int_equal(sc.greedy[r], cJSON_IsTrue(cJSON_GetObjectItem(q, "greedy")));
                assert_int_equal(sc.ntok[r], no);
                free(ci);
                free(oi);
            } else {
                assert_int_equal(sc.ntok[r], cJSON_GetObjectItem(q, "n")->valueint);
            }
            double want = cJSON_GetObjectItem(q, "ll")->valuedouble, d = fabs(sc.ll[r] - want);
            if (d > maxdiff) maxdiff = d;
            assert_true(d < 2e-3 + 1e-5 * fabs(want)); /* float32 forward vs float64 */
            r++;
        }
        loglik_scores_free(&sc);
        eval_task_free(&et);
        ncases++;
    }
    fprintf(stderr, "# %d oracle cases, max |ll - torch float64| = %.2e\n", ncases, maxdiff);
    assert_true(ncases >= 13);
    cJSON_Delete(root);
}

/* trailing whitespace of the context moves to the continuation: the same tokens either way */
static void test_encode_pair_rules(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    int *c1, *o1, *c2, *o2, n1, m1, n2, m2;
    assert_int_equal(loglik_encode_pair(t260, 1, "Answer: ", "yes", &c1, &n1, &o1, &m1, err), 0);
    assert_int_equal(loglik_encode_pair(t260, 1, "Answer:", " yes", &c2, &n2, &o2, &m2, err), 0);
    assert_int_equal(n1, n2);
    assert_int_equal(m1, m2);
    assert_memory_equal(c1, c2, (size_t)n1 * sizeof(int));
    assert_memory_equal(o1, o2, (size_t)m1 * sizeof(int));
    assert_int_equal(c1[0], tokenizer_bos(t260));
    free(c1); free(o1); free(c2); free(o2);
    /* empty context: [BOS] and the continuation alone, without BOS */
    assert_int_equal(loglik_encode_pair(t260, 1, "", " yes", &c1, &n1, &o1, &m1, err), 0);
    assert_int_equal(n1, 1);
    assert_int_equal(c1[0], tokenizer_bos(t260));
    assert_true(m1 >= 1 && o1[0] != tokenizer_bos(t260));
    free(c1); free(o1);
    /* no BOS when asked */
    assert_int_equal(loglik_encode_pair(t260, 0, "Answer:", " yes", &c1, &n1, &o1, &m1, err), 0);
    assert_int_equal(n1, n2 - 1);
    free(c1); free(o1);
}

/* TinyStories-656K's pieces span spaces ("was happy to "), so enc(context) can swallow the target:
 * lm-eval's whole[len(ctx):] is then empty (ll 0, greedy, as its empty sums give); tinystories-cloze
 * scores from the first token where the two encodings differ instead. */
static void test_empty_continuation(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Model *m = model_load("assets/tinystories-656K", err);
    assert_non_null(m);
    Tokenizer *t = tokenizer_load("assets/tinystories-656K/tokenizer.json", m->cfg.vocab_size, err);
    assert_non_null(t);
    const char *ctx[1] = {"Sue was happy to"}, *cont[1] = {" help"};
    int *c, *o, nc, no;
    assert_int_equal(loglik_encode_pair(t, 1, ctx[0], cont[0], &c, &nc, &o, &no, err), 0);
    assert_int_equal(no, 0); /* "to" + " help" → "to " + "help": as many tokens as the context alone */
    free(c);
    free(o);
    LoglikItem it = {1, ctx, cont, NULL, 0};
    LoglikTask task = {.kind = LL_GREEDY, .items = &it, .n = 1};
    LoglikOptions opt = {.bos = -1};
    TaskScores sc;
    assert_int_equal(loglik_eval_task(m, t, &task, &opt, &sc, err), 0);
    assert_int_equal(sc.cont_empty, 1);
    assert_true(sc.ll[0] == 0 && sc.greedy[0] == 1 && sc.ntok[0] == 0);
    loglik_scores_free(&sc);
    task.from_divergence = 1;
    assert_int_equal(loglik_eval_task(m, t, &task, &opt, &sc, err), 0);
    assert_int_equal(sc.cont_empty, 0);
    assert_int_equal(sc.ntok[0], 2); /* "to " and "help" */
    assert_true(sc.ll[0] < 0);
    loglik_scores_free(&sc);
    tokenizer_free(t);
    model_free(m);
}

/* ---- numbers independent of the thread count ---------------------------------------------------- */

static void test_threads(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    EvalTask et;
    load("winogrande", 24, &et);
    TaskScores a, b;
    LoglikOptions o = {.bos = -1, .max_batch = 8}; /* small batches: several prefill chunks */
    qb_set_threads(1);
    assert_int_equal(loglik_eval_task(m260, t260, &et.view, &o, &a, err), 0);
    qb_set_threads(2);
    assert_int_equal(loglik_eval_task(m260, t260, &et.view, &o, &b, err), 0);
    qb_set_threads(0);
    assert_memory_equal(a.ll, b.ll, (size_t)a.n_items * a.max_req * sizeof(double));
    assert_memory_equal(a.correct, b.correct, (size_t)a.n_items);
    loglik_scores_free(&a);
    loglik_scores_free(&b);
    eval_task_free(&et);
}

/* ---- metrics -------------------------------------------------------------------------------------- */

static void test_stats(void **state) {
    (void)state;
    double x[4] = {1, 0, 1, 1};
    /* sample sd sqrt(0.75/3 * ... ): Σ(x-0.75)² = 0.75, /3 = 0.25, sqrt = 0.5, /sqrt(4) = 0.25 */
    assert_true(fabs(loglik_mean_stderr(x, 4) - 0.25) < 1e-15);
    assert_true(isnan(loglik_mean_stderr(x, 1)));
    double ll[7] = {-1.0, -2.5, -0.3, -4.0, -1.7, -0.9, -3.3};
    assert_true(fabs(loglik_perplexity(ll, 7) - exp(13.7 / 7)) < 1e-12);
    /* CPython 3.11: bootstrap_stderr(perplexity, ll, 2000) with lm-eval's chunks of random.Random(i).choices
     * = 4.173943786406186; 500 iterations (one chunk of 500) = 3.872500142162681 */
    assert_true(fabs(loglik_perplexity_stderr(ll, 7, 2000) - 4.173943786406186) < 1e-9);
    assert_true(fabs(loglik_perplexity_stderr(ll, 7, 500) - 3.872500142162681) < 1e-9);
    /* McNemar: 5 right only under A, 1 only under B: chi2 (4-1)²/6, p = 2 (1 + 6) / 64 */
    unsigned char a[10] = {1, 1, 1, 1, 1, 0, 1, 0, 1, 0}, b[10] = {0, 0, 0, 0, 0, 1, 1, 0, 1, 0};
    McNemar mc;
    loglik_mcnemar(a, b, 10, &mc);
    assert_int_equal(mc.b, 5);
    assert_int_equal(mc.c, 1);
    assert_true(fabs(mc.chi2 - 1.5) < 1e-12);
    assert_true(fabs(mc.p - 14.0 / 64) < 1e-12);
    PairedBootstrap pb;
    double da[10], db[10];
    for (int i = 0; i < 10; i++) da[i] = db[i] = a[i];
    assert_int_equal(loglik_paired_bootstrap(da, db, 10, 500, 1, &pb), 0);
    assert_true(pb.diff == 0 && pb.lo == 0 && pb.hi == 0 && pb.p == 1);
    for (int i = 0; i < 10; i++) db[i] = da[i] + 1; /* B better on every item */
    assert_int_equal(loglik_paired_bootstrap(da, db, 10, 500, 1, &pb), 0);
    assert_true(pb.diff == 1 && pb.lo == 1 && pb.p == 0);
}

/* acc = argmax ll, acc_norm = argmax ll / len(choice), first index on ties, llama.cpp = mean per token */
static void test_decide(void **state) {
    (void)state;
    const char *ctx[2] = {"c", "c"}, *cont[2] = {" short", " much longer"};
    long chars[2] = {5, 11};
    LoglikItem it = {2, ctx, cont, chars, 1};
    LoglikTask t = {.kind = LL_MULTIPLE_CHOICE, .has_acc_norm = 1, .items = &it, .n = 1, .chance = 0.5};
    double ll[2] = {-10, -12};
    int ntok[2] = {2, 6}, pred, pn, nreq = 2;
    unsigned char g[2] = {0, 0}, corr, corrn;
    TaskScores sc = {.n_items = 1, .max_req = 2, .ll = ll, .ntok = ntok, .greedy = g, .n_req = &nreq, .pred = &pred,
                     .pred_norm = &pn, .correct = &corr, .correct_norm = &corrn};
    loglik_decide(&t, &sc);
    assert_int_equal(pred, 0);   /* -10 > -12 */
    assert_int_equal(pn, 1);     /* -2.0 < -12/11 */
    assert_int_equal(corr, 0);
    assert_int_equal(corrn, 1);
    ll[1] = -10; /* tie: the first */
    loglik_decide(&t, &sc);
    assert_int_equal(pred, 0);
    t.kind = LL_LLAMACPP_HS; /* -10/2 vs -10/6 */
    loglik_decide(&t, &sc);
    assert_int_equal(pred, 1);
}

/* ---- per-item rows through the store ------------------------------------------------------------- */

static void test_store_items(void **state) {
    (void)state;
    char err[QB_ERRLEN], path[] = "/tmp/qb_test_tasks_db_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    Store *st = store_open(path, err);
    assert_non_null(st);
    double ll[4] = {-1.25, -3.0000000000000004, -0.5, -7};
    int nt[4] = {3, 4, 1, 2};
    unsigned char gr[4] = {0, 1, 1, 0};
    StoreTaskItem items[2] = {{0, 1, 1, 0, 1, 0, 2, ll, nt, gr}, {1, 0, 1, 1, 0, 0, 2, ll + 2, nt + 2, gr + 2}};
    StoreTaskItems set = {"piqa", "task:piqa|x", items, 2};
    StorePoint p = {.run = {.key = "k1", .method = "rtn", .bits = 4, .group_size = -1}, .task_items = &set, .n_task_items = 1};
    assert_int_equal(store_write_point(st, &p, err), 0);
    StoreTaskItemRow *rows;
    int n;
    char *sig;
    assert_int_equal(store_get_task_items(st, 1, NULL, "piqa", NULL, &rows, &n, &sig, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(sig, "task:piqa|x");
    assert_true(rows[0].ll[1] == ll[1]); /* %.17g: bit for bit */
    assert_int_equal(rows[1].ntok[1], 2);
    assert_int_equal(rows[0].greedy[1], 1);
    assert_int_equal(rows[1].pred, 1);
    assert_int_equal(rows[0].correct, 1);
    store_free_task_items(rows, n);
    free(sig);
    assert_int_equal(store_put_baseline_task_items(st, "msha", &set, err), 0);
    assert_int_equal(store_put_baseline_task_items(st, "msha", &set, err), 0); /* replaces */
    assert_int_equal(store_get_task_items(st, 0, "msha", "piqa", "task:piqa|x", &rows, &n, NULL, err), 0);
    assert_int_equal(n, 2);
    store_free_task_items(rows, n);
    assert_int_equal(store_get_task_items(st, 1, NULL, "copa", NULL, &rows, &n, NULL, err), -1);
    store_close(st);
    unlink(path);
}

/* ---- eval.tasks in experiment files --------------------------------------------------------------- */

#define EXP_HEAD "name: t\nmodel: {path: assets/stories260K/stories260K.bin, tokenizer: assets/stories260K/tok512.bin}\n" \
                 "sweep: {method: [rtn], bits: [4, 8]}\nfixed: {group_size: 32}\n"

static void test_config_tasks(void **state) {
    (void)state;
    char err[QB_ERRLEN];
    Experiment *e = calloc(1, sizeof *e);
    assert_non_null(e);
    const char *good = EXP_HEAD "eval:\n  tasks: [{task: copa}, {task: piqa, limit: 50, max_length: 128, bootstrap_iters: 0}]\n"
                                "check: [{metric: acc, task: copa, min: 0.5}, {metric: acc_norm, task: piqa, max_decrease_pct: 5}]\n";
    int rc = config_parse(good, strlen(good), "t.yaml", e, err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(e->n_task, 2);
    assert_string_equal(e->task[0].task, "copa");
    assert_int_equal(e->task[0].limit, 0);
    assert_int_equal(e->task[0].bootstrap_iters, 100000);
    assert_int_equal(e->task[1].limit, 50);
    assert_int_equal(e->task[1].max_length, 128);
    assert_int_equal(e->task[1].bootstrap_iters, 0);
    assert_int_equal(e->task[1].line, 6);
    static const struct { const char *yaml, *want; } BAD[] = {
        {EXP_HEAD "eval: {tasks: [{task: nope}]}\n", "t.yaml:5: eval.tasks.task"},
        {EXP_HEAD "eval: {tasks: [{task: copa, limit: 0}]}\n", "eval.tasks.limit"},
        {EXP_HEAD "eval: {tasks: [{task: copa, shots: 5}]}\n", "shots"},
        {EXP_HEAD "eval: {tasks: [{limit: 5}]}\n", "eval.tasks.task: required"},
        {EXP_HEAD "eval: {tasks: [{task: copa}, {task: copa}]}\n", "listed twice"},
        {EXP_HEAD "eval: {tasks: [{task: copa}]}\ncheck: [{metric: acc, task: piqa, min: 0.5}]\n", "not evaluated"},
        {EXP_HEAD "eval: {tasks: {task: copa}}\n", "eval.tasks"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        memset(e, 0, sizeof *e);
        assert_int_equal(config_parse(BAD[i].yaml, strlen(BAD[i].yaml), "t.yaml", e, err), -1);
        if (!strstr(err, BAD[i].want)) fprintf(stderr, "case %zu: %s\n", i, err);
        assert_non_null(strstr(err, BAD[i].want));
    }
    const char *longer = EXP_HEAD "eval: {tasks: [{task: copa, max_length: 4096}]}\n";
    memset(e, 0, sizeof *e);
    assert_int_equal(config_parse(longer, strlen(longer), "t.yaml", e, err), 0);
    assert_int_equal(config_validate_model(e, &m260->cfg, err), -1); /* beyond the model's 512 positions */
    assert_non_null(strstr(err, "eval.tasks.max_length"));
    free(e);
}

/* A two-point run: task metrics, baselines and per-item rows land in the database; rerunning does
 * nothing; the stored rows give McNemar's counts recomputed here from the correct flags. */
static void test_run_tasks(void **state) {
    (void)state;
    char err[QB_ERRLEN], db[] = "/tmp/qb_test_tasks_run_XXXXXX";
    int fd = mkstemp(db);
    assert_true(fd >= 0);
    close(fd);
    unlink(db);
    Experiment *e = calloc(1, sizeof *e);
    assert_non_null(e);
    char yp[] = "/tmp/qb_test_tasks_exp_XXXXXX.yaml";
    fd = mkstemps(yp, 5);
    assert_true(fd >= 0);
    FILE *yf = fdopen(fd, "w");
    fputs(EXP_HEAD "eval: {tasks: [{task: copa, limit: 30}, {task: tinystories-cloze, limit: 40, bootstrap_iters: 100}]}\n", yf);
    fclose(yf);
    assert_int_equal(config_load(yp, e, err), 0);
    RunOptions o = {.db_path = db, .out = stderr, .progress = NULL};
    RunSummary sum;
    int rc = runner_run(e, &o, &sum, err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(sum.done, 2);
    Store *st = store_open(db, err);
    assert_non_null(st);
    StoreRunRow *runs;
    int nr;
    assert_int_equal(store_load_runs(st, NULL, "done", &runs, &nr, err), 0);
    assert_int_equal(nr, 2);
    for (int i = 0; i < nr; i++) {
        const StoreMetricRow *acc = store_run_metric(&runs[i], "acc", "copa", NULL);
        const StoreMetricRow *ppl = store_run_metric(&runs[i], "perplexity", "tinystories-cloze", NULL);
        assert_non_null(acc);
        assert_non_null(ppl);
        assert_int_equal(acc->count, 30);
        assert_non_null(strstr(acc->signature, "task:copa|version:1.0|limit:30|num_fewshot:0"));
        StoreTaskItemRow *rows;
        int n;
        assert_int_equal(store_get_task_items(st, runs[i].id, NULL, "copa", NULL, &rows, &n, NULL, err), 0);
        assert_int_equal(n, 30);
        int correct = 0;
        for (int k = 0; k < n; k++) correct += rows[k].correct;
        assert_true(fabs(acc->value - correct / 30.0) < 1e-12); /* the metric is the mean of the stored items */
        store_free_task_items(rows, n);
    }
    StoreBaselineRow *bl;
    int nb;
    assert_int_equal(store_load_baselines(st, &bl, &nb, err), 0);
    int seen = 0;
    for (int i = 0; i < nb; i++) seen += !strcmp(bl[i].m.kind, "acc") || !strcmp(bl[i].m.kind, "perplexity");
    assert_int_equal(seen, 3); /* acc copa, acc and perplexity tinystories-cloze */
    StoreTaskItemRow *rows;
    int n;
    assert_int_equal(store_get_task_items(st, 0, runs[0].model_sha256, "tinystories-cloze", NULL, &rows, &n, NULL, err), 0);
    assert_int_equal(n, 40);
    store_free_task_items(rows, n);
    store_free_baselines(bl, nb);
    store_free_runs(runs, nr);
    store_close(st);
    assert_int_equal(runner_run(e, &o, &sum, err), 0);
    assert_int_equal(sum.skipped, 2);
    /* qbench tasks compare on the two points: McNemar's counts equal the ones from the stored rows */
    {
        Store *s2 = store_open(db, err);
        assert_non_null(s2);
        StoreTaskItemRow *ra, *rb;
        int na, nb2;
        assert_int_equal(store_get_task_items(s2, 1, NULL, "copa", NULL, &ra, &na, NULL, err), 0);
        assert_int_equal(store_get_task_items(s2, 2, NULL, "copa", NULL, &rb, &nb2, NULL, err), 0);
        long a_only = 0, b_only = 0;
        for (int k = 0; k < na; k++) {
            a_only += ra[k].correct && !rb[k].correct;
            b_only += !ra[k].correct && rb[k].correct;
        }
        store_free_task_items(ra, na);
        store_free_task_items(rb, nb2);
        store_close(s2);
        char args[256], *out = NULL;
        snprintf(args, sizeof args, "tasks compare %s 1 2 --task copa --json --iters 200", db);
        assert_int_equal(t_run_qbench(args, &out, NULL), 0);
        cJSON *j = cJSON_Parse(out);
        assert_non_null(j);
        const cJSON *mc = cJSON_GetObjectItem(j, "mcnemar");
        assert_int_equal((long)cJSON_GetObjectItem(mc, "a_only")->valuedouble, a_only);
        assert_int_equal((long)cJSON_GetObjectItem(mc, "b_only")->valuedouble, b_only);
        assert_int_equal(cJSON_GetObjectItem(j, "n")->valueint, 30);
        cJSON_Delete(j);
        free(out);
        /* the same with point 2 named by its key prefix */
        Store *s3 = store_open(db, err);
        assert_non_null(s3);
        StoreRunRow *rr;
        int nrr;
        assert_int_equal(store_load_runs(s3, NULL, "done", &rr, &nrr, err), 0);
        char prefix[9] = "";
        for (int k = 0; k < nrr; k++)
            if (rr[k].id == 2) snprintf(prefix, sizeof prefix, "%.8s", rr[k].key);
        store_free_runs(rr, nrr);
        store_close(s3);
        snprintf(args, sizeof args, "tasks compare %s 1 %s --task copa --json --iters 200", db, prefix);
        assert_int_equal(t_run_qbench(args, &out, NULL), 0);
        j = cJSON_Parse(out);
        assert_non_null(j);
        assert_int_equal((long)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "mcnemar"), "a_only")->valuedouble, a_only);
        cJSON_Delete(j);
        free(out);
        snprintf(args, sizeof args, "tasks compare %s 1 2 --task piqa", db); /* not evaluated there */
        assert_int_equal(t_run_qbench(args, NULL, NULL), 2);
    }
    free(e);
    unlink(yp);
    unlink(db);
    char side[64];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
}

/* ---- the command line ----------------------------------------------------------------------------- */

static void test_cli(void **state) {
    (void)state;
    char *out = NULL, *err = NULL;
    assert_int_equal(t_run_qbench("tasks --help", &out, NULL), 0);
    assert_non_null(strstr(out, "--limit"));
    free(out);
    assert_int_equal(t_run_qbench("tasks --model assets/stories260K/stories260K.bin --task nope", NULL, &err), 2);
    assert_non_null(strstr(err, "nope"));
    free(err);
    err = NULL;
    assert_int_equal(t_run_qbench("tasks --model assets/stories260K/stories260K.bin --task copa --limit 0", NULL, NULL), 2);
    assert_int_equal(t_run_qbench("tasks --model assets/stories260K/stories260K.bin --task copa --limit 12 --json "
                                  "--quiet --threads 2", &out, NULL), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tasks"), 0);
    assert_string_equal(cJSON_GetObjectItem(t, "task")->valuestring, "copa");
    assert_int_equal(cJSON_GetObjectItem(t, "n")->valueint, 12);
    double acc = cJSON_GetObjectItem(t, "acc")->valuedouble, se = cJSON_GetObjectItem(t, "acc_stderr")->valuedouble;
    assert_true(fabs(se - sqrt(acc * (1 - acc) / 11)) < 1e-12); /* lm-eval's sqrt(p(1-p)/(n-1)) */
    cJSON_Delete(j);
    free(out);
    out = NULL;
    assert_int_equal(t_run_qbench("tasks --list", &out, NULL), 0);
    assert_non_null(strstr(out, "hellaswag-llamacpp"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_piqa_strings),
        cmocka_unit_test(test_arc_strings),
        cmocka_unit_test(test_copa_strings),
        cmocka_unit_test(test_winogrande_strings),
        cmocka_unit_test(test_boolq_lambada_hellaswag_strings),
        cmocka_unit_test(test_cloze_matches_script),
        cmocka_unit_test(test_user_jsonl),
        cmocka_unit_test(test_oracle),
        cmocka_unit_test(test_encode_pair_rules),
        cmocka_unit_test(test_empty_continuation),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_store_items),
        cmocka_unit_test(test_config_tasks),
        cmocka_unit_test(test_run_tasks),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
