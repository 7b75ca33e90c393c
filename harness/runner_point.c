/* runner_point.c — one sweep point: load the model afresh (mmap, copy-on-write, so the original
 * weights come back for every point), quantize it on the run's calibration windows, evaluate
 * perplexity, agreement with the baseline and generations, then write everything with ONE
 * store_write_point() transaction. */
#include <math.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <omp.h>

#include "harness/runner_internal.h"
#include "quant/checkpoint.h"
#include "quant/quant.h"

static int64_t peak_rss_bytes(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? 0 : (int64_t)ru.ru_maxrss * 1024;
}

/* ---- speed -------------------------------------------------------------------------------------- */

/* Decode and prefill tokens/s of the point's model as it would be deployed: a `models:` entry as
 * loaded; a quantized point through its .qbq written to a temporary file and loaded back packed (the
 * model in memory holds the dequantized float32 weights). Timing only: stored beside the point, never
 * in its key, metrics or anything `check` gates on. */
static int point_speed(const Model *m, const SweepPoint *p, const PipelineReport *rep, const PipelineOptions *po,
                       StoreRun *run, char err[QB_ERRLEN]) {
    int n_pre = m->cfg.seq_len < 128 ? m->cfg.seq_len : 128, n_dec = n_pre - 1 < 64 ? n_pre - 1 : 64;
    if (n_dec < 1) return 0; /* a model with one position has no decode to time */
    ModelSpeed sp;
    if (p->model_entry >= 0) {
        if (model_measure_speed(m, n_dec, n_pre, &sp, err)) return -1;
    } else {
        const char *tmp = getenv("TMPDIR");
        char path[600];
        snprintf(path, sizeof path, "%.500s/qbench-speed-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        int fd = mkstemp(path);
        if (fd < 0) {
            snprintf(err, QB_ERRLEN, "%.400s: cannot create a temporary checkpoint to time the point", path);
            return -1;
        }
        close(fd);
        Model *q = quant_checkpoint_write(m, rep, po, path, err) ? NULL : quant_checkpoint_load(path, err);
        unlink(path);
        if (!q) return -1;
        int rc = model_measure_speed(q, n_dec, n_pre, &sp, err);
        model_free(q);
        if (rc) return -1;
    }
    run->decode_tps = sp.decode_tps;
    run->prefill_tps = sp.prefill_tps;
    run->speed_threads = omp_get_max_threads();
    return 0;
}

/* ---- one point ---------------------------------------------------------------------------------- */

typedef struct {
    StoreMetric *m; int n; size_t cap;
    char **owned; int n_owned; size_t cap_owned; /* strings the metrics point to */
} MetricList;

static char *keep(MetricList *l, const char *s) {
    if (qb_grow((void **)&l->owned, &l->cap_owned, (size_t)l->n_owned + 1, sizeof *l->owned)) return NULL;
    char *c = strdup(s);
    if (c) l->owned[l->n_owned++] = c;
    return c;
}

static int add_metric(MetricList *l, const char *kind, const char *dataset, const char *against, double v, long count,
                      const char *sig, const char *stats) {
    if (qb_grow((void **)&l->m, &l->cap, (size_t)l->n + 1, sizeof *l->m)) return -1;
    const char *s = keep(l, sig), *js = stats ? keep(l, stats) : NULL;
    if (!s || (stats && !js)) return -1;
    l->m[l->n++] = (StoreMetric){kind, dataset, against, v, count, js, s};
    return 0;
}

static void metric_list_free(MetricList *l) {
    for (int i = 0; i < l->n_owned; i++) free(l->owned[i]);
    free(l->owned);
    free(l->m);
}

/* The sufficient statistics of an agreement as JSON: the sums (shards add them), llama.cpp's
 * --kl-divergence summary (agreement_summary), every position's KL (9 significant digits) so
 * the summary can be recomputed, and every position's top-1 agreement; malloc'd, NULL when out of
 * memory. */
static char *agreement_stats_json(const AgreementStats *as) {
    AgreementSummary su;
    agreement_summary(as, &su);
    size_t cap = 512 + (size_t)(as->kl_tok ? as->n : 0) * 18 + (size_t)(as->top1_tok ? as->n : 0), len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    len += (size_t)snprintf(out + len, cap - len,
                            "{\"n\":%ld,\"top1_agree\":%ld,\"kl_sum\":%.17g,\"kl_sum2\":%.17g,\"kl_se\":%.9g,"
                            "\"kl_median\":%.9g,\"kl_p90\":%.9g,\"kl_p95\":%.9g,\"kl_p99\":%.9g,\"kl_max\":%.9g,"
                            "\"same_top\":%.9g,\"same_top_se\":%.9g",
                            as->n, as->top1_agree, as->kl_sum, as->kl_sum2, su.kl_se, su.kl_median, su.kl_p90, su.kl_p95,
                            su.kl_p99, su.kl_max, su.same_top, su.same_top_se);
    if (as->kl_tok) {
        len += (size_t)snprintf(out + len, cap - len, ",\"kl_tokens\":[");
        for (long j = 0; j < as->n; j++) len += (size_t)snprintf(out + len, cap - len, "%s%.9g", j ? "," : "", as->kl_tok[j]);
        len += (size_t)snprintf(out + len, cap - len, "]");
    }
    if (as->top1_tok) { /* each position's top-1 agreement, "1" or "0": paired comparisons of top-1 */
        len += (size_t)snprintf(out + len, cap - len, ",\"top1_tokens\":\"");
        for (long j = 0; j < as->n; j++) out[len++] = as->top1_tok[j] ? '1' : '0';
        len += (size_t)snprintf(out + len, cap - len, "\"");
    }
    snprintf(out + len, cap - len, "}");
    /* (NaN prints as "nan", not JSON: a summary of fewer than one value never reaches here) */
    return out;
}

/* Generation task i of the experiment on the quantized model m: greedy outputs (*outs, malloc'd),
 * scored against the references and/or the baseline's outputs into sc[] (*nsc entries) and ml. */
static int point_generations(Run *r, int i, const Model *m, char ***outs, GenScore *sc, int *nsc, MetricList *ml,
                             char *summary, size_t sumlen, char err[QB_ERRLEN]) {
    const GenEval *ge = &r->e->gen[i];
    GenData *gd = &r->gen[i];
    int n = gd->ts.n, rc = -1;
    const char **prompts = malloc((size_t)n * sizeof *prompts + 1);
    const char *const **refs = malloc((size_t)n * sizeof *refs + 1);
    int *nrefs = malloc((size_t)n * sizeof *nrefs + 1);
    const char **bref = malloc((size_t)n * sizeof *bref + 1);
    char **out = *outs = calloc((size_t)n + 1, sizeof *out);
    if (!prompts || !refs || !nrefs || !bref || !out) { snprintf(err, QB_ERRLEN, "out of memory"); goto done; }
    for (int k = 0; k < n; k++) prompts[k] = gd->ts.pairs[k].prompt;
    if (eval_generate(m, r->tok, prompts, n, ge->max_new_tokens, out, err)) goto done;
    for (int k = 0; k < n; k++) {
        char *c = runner_utf8_clean(out[k]);
        if (!c) { snprintf(err, QB_ERRLEN, "out of memory"); goto done; }
        free(out[k]);
        out[k] = c;
    }
    for (int a = 0; a < 2; a++) { /* a = 0: against the references, 1: against the baseline's outputs */
        if (!(ge->against & (a ? AGAINST_BASELINE : AGAINST_REFERENCE))) continue;
        for (int k = 0; k < n; k++) {
            bref[k] = gd->base_out[k];
            refs[k] = a ? &bref[k] : (const char *const *)gd->ts.pairs[k].refs;
            nrefs[k] = a ? 1 : gd->ts.pairs[k].n_refs;
        }
        int before = *nsc, got = 0;
        if (runner_score_generations(r, (const char *const *)out, refs, nrefs, n, ge->metrics, sc + before, &got, err))
            goto done;
        *nsc += got;
        for (int s = before; s < *nsc; s++) {
            sc[s].vs_base = a;
            char sig[600];
            snprintf(sig, sizeof sig, "%s|%s", gd->sig, sc[s].sig);
            if (add_metric(ml, sc[s].kind, ge->task, a ? "baseline" : "reference", sc[s].value, n, sig, sc[s].stats)) {
                snprintf(err, QB_ERRLEN, "out of memory");
                goto done;
            }
            snprintf(summary + strlen(summary), sumlen - strlen(summary), " %s/%s %.2f", sc[s].kind, a ? "base" : "ref",
                     sc[s].value);
        }
    }
    rc = 0;
done:
    free(prompts);
    free(refs);
    free(nrefs);
    free(bref);
    return rc;
}

static Model *load_entry(const Run *r, const SweepPoint *p, char err[QB_ERRLEN]) {
    const ModelEntry *me = &r->e->models[p->model_entry];
    Model *m = quant_or_model_load(me->path, err);
    if (m && m->cfg.vocab_size != r->base->cfg.vocab_size) {
        snprintf(err, QB_ERRLEN, "%.200s:%d: models: '%.200s' has a vocabulary of %d, the experiment model %d", r->e->file,
                 me->line, me->path, m->cfg.vocab_size, r->base->cfg.vocab_size);
        model_free(m);
        return NULL;
    }
    return m;
}

int runner_model_entry(Run *r, SweepPoint *p, char method[96], char err[QB_ERRLEN]) {
    Model *m = load_entry(r, p, err);
    if (!m) return -1;
    snprintf(p->model_sha256, sizeof p->model_sha256, "%s", m->sha256);
    const char *fmt = m->stored.format[0] ? m->stored.format
                      : quant_checkpoint_detect(r->e->models[p->model_entry].path) == 1 ? "qbq" : "model";
    snprintf(method, 96, "%s:%.60s", fmt, p->model_label);
    model_free(m);
    return 0;
}

int runner_point(Run *r, const SweepPoint *p, StoreRun *run, char *summary, size_t sumlen, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    PipelineOptions po;
    if (p->model_entry < 0 && sweep_pipeline_options(p, &po, err)) return -1;
    /* fault injection for tests/test_e2e_run.c: the failure path of a point (recorded 'failed',
     * retried by the next run) without depending on a solver actually failing */
    const char *inject = getenv("QBENCH_TEST_FAIL_POINT");
    if (inject && *inject && atoi(inject) == p->index) {
        snprintf(err, QB_ERRLEN, "injected failure (QBENCH_TEST_FAIL_POINT=%d)", p->index);
        return -1;
    }
    /* for tests/test_e2e_run.c's kill -9 tests: the process stops itself (SIGSTOP) as point i
     * starts, its 'running' row committed, so the test kills it at a known moment (it sees the stop
     * through waitpid) instead of polling the database against the clock */
    const char *stop = getenv("QBENCH_TEST_STOP_POINT");
    if (stop && *stop && atoi(stop) == p->index) raise(SIGSTOP);
    double t_cal = 0;
    if (sweep_needs_calibration(p) && runner_calibration(r, &t_cal, err)) return -1;
    Model *m = p->model_entry >= 0 ? load_entry(r, p, err) : model_load(e->model_path, err);
    if (!m) return -1;
    int rc = -1;
    PipelineReport rep;
    memset(&rep, 0, sizeof rep);
    MetricList ml = {0};
    StoreLayer *layers = NULL;
    StoreSample *samples = NULL;
    char **sample_json = NULL;
    int n_samples = 0;
    char **gen_out[CFG_MAX_EVAL] = {0};
    GenScore scores[CFG_MAX_EVAL][6];
    int n_scores[CFG_MAX_EVAL] = {0};
    TaskPointResults *tres = calloc(1, sizeof *tres);
    if (!tres) { model_free(m); snprintf(err, QB_ERRLEN, "out of memory"); return -1; }

    double t0 = runner_now();
    CalibrationSet cs = {0, 0, NULL};
    if (sweep_needs_calibration(p)) cs = (CalibrationSet){r->calib.n_samples, r->calib.seqlen, r->calib.windows};
    if (p->model_entry >= 0) {
        /* as it is: its size is what its file stores (bits per weight of the linear layers as stored,
         * file bytes); a float model entry has no quantized layers to count */
        rep.bits_per_weight = m->stored.format[0] ? m->stored.linear_bits : NAN;
        rep.packed_bytes = m->stored.file_bytes;
    } else if (quant_model(m, sweep_needs_calibration(p) ? &cs : NULL, &po, 1, &rep, err)) goto done; /* results: point_speed */
    /* the Hessian forward passes are calibration work: only the solves count as quantization */
    double t_quant = runner_now() - t0 - rep.calib_seconds;
    t_cal += rep.calib_seconds;

    t0 = runner_now();
    summary[0] = 0;
    for (int i = 0; i < e->n_ppl; i++) {
        PplStats ps;
        char *sj = NULL;
        if (eval_perplexity(m, &r->ppl[i].tk, &e->ppl[i], &ps, &sj, err)) goto done;
        double v = ppl_value(&ps);
        int bad = add_metric(&ml, "ppl", e->ppl[i].dataset, "-", v, ps.n_scored, r->ppl[i].sig, sj);
        free(sj);
        if (bad) goto oom;
        snprintf(summary + strlen(summary), sumlen - strlen(summary), " ppl %.4g (base %.4g)", v, r->ppl[i].base_value);
    }
    for (int i = 0; i < e->n_agree; i++) {
        AgreementStats as;
        if (eval_agreement(r->base, m, &r->agree[i].tk, &e->agree[i], &as, err)) goto done;
        double top1 = agreement_top1(&as), kl = agreement_kl_mean(&as);
        char *sj = agreement_stats_json(&as);
        agreement_stats_free(&as);
        if (!sj) goto oom;
        int bad = add_metric(&ml, "top1", e->agree[i].dataset, "baseline", top1, as.n, r->agree[i].sig, sj) ||
                  add_metric(&ml, "kl", e->agree[i].dataset, "baseline", kl, as.n, r->agree[i].sig, sj);
        free(sj);
        if (bad) goto oom;
        snprintf(summary + strlen(summary), sumlen - strlen(summary), " top1 %.3f kl %.4f", top1, kl);
    }
    for (int i = 0; i < e->n_gen; i++) {
        if (point_generations(r, i, m, &gen_out[i], scores[i], &n_scores[i], &ml, summary, sumlen, err)) goto done;
        n_samples += r->gen[i].ts.n;
    }
    if (runner_tasks_point(r, m, tres, summary, sumlen, err)) goto done;
    for (int k = 0; k < tres->n_metrics; k++) {
        const StoreMetric *tm = &tres->metrics[k];
        if (add_metric(&ml, tm->kind, tm->dataset, tm->against, tm->value, (long)tm->count, tm->signature, tm->stats_json))
            goto oom;
    }
    double t_eval = runner_now() - t0;
    if (point_speed(m, p, &rep, &po, run, err)) goto done;

    /* per-layer stats and samples */
    layers = calloc((size_t)rep.n_layers + 1, sizeof *layers);
    samples = calloc((size_t)n_samples + 1, sizeof *samples);
    sample_json = calloc((size_t)n_samples + 1, sizeof *sample_json);
    if (!layers || !samples || !sample_json) goto oom;
    for (int i = 0; i < rep.n_layers; i++) {
        const LayerRecord *L = &rep.layers[i];
        layers[i] = (StoreLayer){L->layer, model_linear_name(&m->cfg, L->kind), L->rows, L->cols, L->error, L->gptq_loss,
                                 L->damp_used, L->damp_retries, L->seconds};
    }
    int si = 0;
    for (int i = 0; i < e->n_gen; i++) {
        for (int k = 0; k < r->gen[i].ts.n; k++, si++) {
            char buf[512] = "{";
            for (int s = 0; s < n_scores[i]; s++) {
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\"%s%s\":%.6f", s ? "," : "", scores[i][s].kind,
                         scores[i][s].vs_base ? "_vs_baseline" : "", scores[i][s].sent[k]);
            }
            strncat(buf, "}", sizeof buf - strlen(buf) - 1);
            if (!(sample_json[si] = strdup(buf))) goto oom;
            samples[si] = (StoreSample){e->gen[i].task, k, r->gen[i].ts.pairs[k].prompt, gen_out[i][k],
                                        r->gen[i].ts.pairs[k].refs[0], sample_json[si]};
        }
    }
    run->seconds_calibration = t_cal;
    run->seconds_quantize = t_quant;
    run->seconds_eval = t_eval;
    run->peak_rss_bytes = peak_rss_bytes();
    run->bits_per_weight = rep.bits_per_weight;
    run->packed_bytes = (int64_t)rep.packed_bytes;
    StorePoint sp = {*run, ml.m, ml.n, layers, rep.n_layers, samples, n_samples, tres->sets, tres->n, r->reevaluate};
    if (store_write_point(r->st, &sp, err)) goto done;
    snprintf(summary + strlen(summary), sumlen - strlen(summary),
             " | %.2f bits/w | cal %.1fs quant %.1fs eval %.1fs | decode %.3g tok/s prefill %.3g tok/s",
             rep.bits_per_weight, t_cal, t_quant, t_eval, run->decode_tps, run->prefill_tps);
    rc = 0;
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "out of memory");
done:
    for (int i = 0; i < e->n_gen; i++) {
        if (gen_out[i])
            for (int k = 0; k < r->gen[i].ts.n; k++) free(gen_out[i][k]);
        free(gen_out[i]);
        runner_free_scores(scores[i], n_scores[i]);
    }
    for (int i = 0; i < n_samples && sample_json; i++) free(sample_json[i]);
    free(sample_json);
    free(samples);
    free(layers);
    metric_list_free(&ml);
    runner_tasks_point_free(tres);
    free(tres);
    pipeline_report_free(&rep);
    model_free(m);
    return rc;
}

