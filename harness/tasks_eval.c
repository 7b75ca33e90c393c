/* tasks_eval.c — glue between datasets/tasks.h (what a task is), metrics/loglik.h (how it is
 * scored) and the store (how its results are kept): see tasks_eval.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/tasks_eval.h"

int eval_task_load(const char *name, int limit, EvalTask *et, char err[QB_ERRLEN]) {
    memset(et, 0, sizeof *et);
    if (task_load(name, limit, &et->data, err)) return -1;
    et->limit = limit > 0 ? limit : 0;
    et->items = calloc((size_t)et->data.n, sizeof *et->items);
    if (!et->items) { task_free(&et->data); snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    for (int i = 0; i < et->data.n; i++) {
        const TaskItem *it = &et->data.items[i];
        et->items[i] = (LoglikItem){it->n, it->ctx, it->cont, it->choice_chars, it->gold};
    }
    static const LoglikKind KIND[] = {[TASK_MULTIPLE_CHOICE] = LL_MULTIPLE_CHOICE, [TASK_PARTIAL] = LL_PARTIAL,
                                      [TASK_GREEDY] = LL_GREEDY, [TASK_LLAMACPP_HS] = LL_LLAMACPP_HS};
    et->view = (LoglikTask){KIND[et->data.kind], !strcmp(et->data.name, "tinystories-cloze"), et->data.has_acc_norm,
                            et->items, et->data.n, et->data.chance};
    return 0;
}

void eval_task_free(EvalTask *et) {
    free(et->items);
    task_free(&et->data);
    memset(et, 0, sizeof *et);
}

void eval_task_signature(EvalTask *et, const char *tok_path, int bos, int max_length, int prepend_space) {
    const char *tok = tok_path ? strrchr(tok_path, '/') : NULL;
    tok = tok ? tok + 1 : tok_path ? tok_path : "-";
    const char *norm = et->data.kind == TASK_LLAMACPP_HS ? "tokens" : et->data.has_acc_norm ? "chars" : "none";
    char limit[24];
    if (et->limit) snprintf(limit, sizeof limit, "%d", et->limit);
    else snprintf(limit, sizeof limit, "none");
    snprintf(et->sig, sizeof et->sig,
             "task:%s|version:%s|limit:%s|num_fewshot:0|normalization:%s|bos:%s|max_length:%d|tok:%.100s|prepend:%s|data:%.12s",
             et->data.name, et->data.version, limit, norm, bos ? "yes" : "no", max_length, tok,
             prepend_space ? "yes" : "no", et->data.sha256);
}

int eval_task_metrics(const EvalTask *et, const TaskSummary *s, StoreMetric out[3], char stats[3][512]) {
    int k = 0;
    double correct = round(s->acc * s->n);
    snprintf(stats[k], 512, "{\"n\":%ld,\"correct\":%.0f,\"stderr\":%.17g,\"chance\":%.17g}", s->n, correct,
             isfinite(s->acc_stderr) ? s->acc_stderr : 0, s->chance);
    out[k] = (StoreMetric){"acc", et->data.name, "-", s->acc, s->n, stats[k], et->sig};
    k++;
    if (et->data.has_acc_norm) {
        snprintf(stats[k], 512, "{\"n\":%ld,\"correct\":%.0f,\"stderr\":%.17g,\"chance\":%.17g}", s->n,
                 round(s->acc_norm * s->n), isfinite(s->acc_norm_stderr) ? s->acc_norm_stderr : 0, s->chance);
        out[k] = (StoreMetric){"acc_norm", et->data.name, "-", s->acc_norm, s->n, stats[k], et->sig};
        k++;
    }
    if (et->data.kind == TASK_GREEDY) {
        snprintf(stats[k], 512, "{\"n\":%ld,\"stderr\":%.17g}", s->n, isfinite(s->ppl_stderr) ? s->ppl_stderr : 0);
        out[k] = (StoreMetric){"perplexity", et->data.name, "-", s->ppl, s->n, stats[k], et->sig};
        k++;
    }
    return k;
}

StoreTaskItem *eval_task_store_items(const EvalTask *et, const TaskScores *sc) {
    (void)et;
    StoreTaskItem *v = calloc((size_t)sc->n_items + 1, sizeof *v);
    if (!v) return NULL;
    for (int i = 0; i < sc->n_items; i++) {
        size_t o = (size_t)i * sc->max_req;
        v[i] = (StoreTaskItem){i, et->data.items[i].gold, sc->pred[i], sc->pred_norm[i], sc->correct[i],
                               sc->correct_norm[i], sc->n_req[i], sc->ll + o, sc->ntok + o, sc->greedy + o};
    }
    return v;
}

void eval_task_summary_line(const EvalTask *et, const TaskSummary *s, char *out, size_t n) {
    int k = snprintf(out, n, "acc = %.4f ± %.4f", s->acc, s->acc_stderr);
    if (et->data.has_acc_norm && k > 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, ", acc_norm = %.4f ± %.4f", s->acc_norm, s->acc_norm_stderr);
    if (et->data.kind == TASK_GREEDY && k > 0 && (size_t)k < n)
        k += isfinite(s->ppl_stderr) ? snprintf(out + k, n - (size_t)k, ", perplexity = %.4f ± %.4f", s->ppl, s->ppl_stderr)
                                     : snprintf(out + k, n - (size_t)k, ", perplexity = %.4f", s->ppl);
    if (k > 0 && (size_t)k < n) snprintf(out + k, n - (size_t)k, " (n = %ld, chance %.4f)", s->n, s->chance);
}
