/* runner_tasks.c — eval.tasks in `qbench run`: every zero-shot task is loaded once per run; the
 * unquantized model's results (metrics and per-item rows) come from the database or are computed and
 * stored as baselines; each point's results go into its one store transaction (runner_point.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/runner_internal.h"

static LoglikOptions task_options(const TaskEvalCfg *c) {
    return (LoglikOptions){.max_length = c->max_length, .bos = -1};
}

int runner_tasks_prepare(Run *r, const char *tokpath, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    char terr[QB_ERRLEN];
    for (int i = 0; i < e->n_task; i++) {
        const TaskEvalCfg *c = &e->task[i];
        TaskRunData *td = &r->task[i];
        if (eval_task_load(c->task, c->limit, &td->et, terr)) {
            snprintf(err, QB_ERRLEN, "%.150s:%d: eval.tasks: %.300s", e->file, c->line, terr);
            return -1;
        }
        td->loaded = 1;
        LoglikOptions o = task_options(c);
        int max_len = c->max_length ? c->max_length : r->base->cfg.seq_len;
        eval_task_signature(&td->et, tokpath, loglik_uses_bos(&o, r->tok), max_len, tokenizer_prepend_space(r->tok));
    }
    return 0;
}

void runner_tasks_free(Run *r) {
    for (int i = 0; i < CFG_MAX_EVAL; i++)
        if (r->task[i].loaded) {
            eval_task_free(&r->task[i].et);
            r->task[i].loaded = 0;
        }
}

/* Scores task i on m: metrics into out (appended), per-item rows into out->sets[out->n]. */
static int score_task(Run *r, int i, const Model *m, TaskPointResults *out, TaskSummary *s, char err[QB_ERRLEN]) {
    const TaskEvalCfg *c = &r->e->task[i];
    EvalTask *et = &r->task[i].et;
    LoglikOptions o = task_options(c);
    int k = out->n;
    if (loglik_eval_task(m, r->tok, &et->view, &o, &out->sc[k], err)) return -1;
    out->n++;
    if (out->sc[k].cont_empty)
        runner_progress(r, "%s: warning: %ld continuation(s) got no tokens of their own: scored ll 0, greedy (as lm-eval)\n",
                        et->data.name, out->sc[k].cont_empty);
    if (out->sc[k].cont_truncated)
        runner_progress(r, "%s: warning: %ld continuation(s) longer than the window: only their last tokens scored\n",
                        et->data.name, out->sc[k].cont_truncated);
    loglik_summarize(&et->view, &out->sc[k], c->bootstrap_iters, s);
    StoreMetric ms[3];
    char st[3][512];
    int nm = eval_task_metrics(et, s, ms, st);
    for (int j = 0; j < nm; j++) {
        memcpy(out->stats[out->n_metrics], st[j], sizeof st[j]);
        out->metrics[out->n_metrics] = ms[j];
        out->metrics[out->n_metrics].stats_json = out->stats[out->n_metrics];
        out->n_metrics++;
    }
    out->items[k] = eval_task_store_items(et, &out->sc[k]);
    if (!out->items[k]) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
    out->sets[k] = (StoreTaskItems){et->data.name, et->sig, out->items[k], out->sc[k].n_items};
    return 0;
}

void runner_tasks_point_free(TaskPointResults *out) {
    for (int k = 0; k < out->n; k++) {
        loglik_scores_free(&out->sc[k]);
        free(out->items[k]);
    }
    out->n = out->n_metrics = 0;
}

int runner_tasks_baselines(Run *r, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    const char *sha = r->base->sha256;
    for (int i = 0; i < e->n_task; i++) {
        EvalTask *et = &r->task[i].et;
        double v;
        int64_t cnt;
        int found = store_get_baseline(r->st, sha, "acc", et->data.name, "-", et->sig, &v, &cnt, NULL, err);
        if (found < 0) return -1;
        if (found) continue;
        double t0 = runner_now();
        TaskPointResults *res = calloc(1, sizeof *res);
        if (!res) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
        TaskSummary s;
        int rc = score_task(r, i, r->base, res, &s, err);
        /* items first: a baseline whose metric is stored always has its items */
        if (!rc) rc = store_put_baseline_task_items(r->st, sha, &res->sets[0], err);
        for (int k = 0; k < res->n_metrics && !rc; k++) rc = store_put_baseline(r->st, sha, &res->metrics[k], err);
        if (!rc) {
            char line[400];
            eval_task_summary_line(et, &s, line, sizeof line);
            runner_progress(r, "baseline: %s %s (%.1fs)\n", et->data.name, line, runner_now() - t0);
        }
        runner_tasks_point_free(res);
        free(res);
        if (rc) return -1;
    }
    return 0;
}

int runner_tasks_point(Run *r, const Model *m, TaskPointResults *out, char *summary, size_t sumlen, char err[QB_ERRLEN]) {
    for (int i = 0; i < r->e->n_task; i++) {
        TaskSummary s;
        if (score_task(r, i, m, out, &s, err)) return -1;
        size_t l = strlen(summary);
        snprintf(summary + l, sumlen - l, " %s acc %.3f", r->task[i].et.data.name, s.acc);
    }
    return 0;
}
