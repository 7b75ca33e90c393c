/* runner.c — `qbench run`: every sweep point not yet done → quantize → evaluate → one transaction.
 * The contract (resume, baselines, agreement against a second copy of the model) is in runner.h.
 * Everything that can be checked is checked before the first point starts: the file (config.c),
 * the model's shapes (config_validate_model), every point's quantizer options, the datasets'
 * checksums, the tokenizer, the database. */
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <utf8proc.h>

#include "datasets/calib.h"
#include "datasets/datasets.h"
#include "harness/runner.h"
#include "harness/store.h"
#include "harness/sweep.h"
#include "metrics/chrf.h"
#include "metrics/meteor.h"
#include "quant/quant.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t peak_rss_bytes(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? 0 : (int64_t)ru.ru_maxrss * 1024;
}

/* Generated text may hold bytes from byte-fallback tokens that are not valid UTF-8; metrics and
 * SQLite want valid text, so invalid sequences become U+FFFD. Returns a malloc'd copy. */
static char *utf8_clean(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (n > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
        if (k < 1) { memcpy(o, "\xEF\xBF\xBD", 3); o += 3; p++; n--; continue; }
        memcpy(o, p, (size_t)k);
        o += k; p += k; n -= (size_t)k;
    }
    *o = 0;
    return out;
}

static void ppl_stats_json(const PplStats *s, char *out, size_t n) {
    snprintf(out, n, "{\"n_scored\":%ld,\"n_windows\":%ld,\"sum_nll\":%.17g,\"sum_nll2\":%.17g,\"n_bytes\":%.17g}",
             s->n_scored, s->n_windows, s->sum_nll, s->sum_nll2, s->n_bytes);
}

/* ---- per-run state ----------------------------------------------------------------------------- */

typedef struct {
    EvalTokens tk;
    char sig[400];
    double base_value; long base_count;
} PplData;

typedef struct {
    EvalTokens tk;
    char sig[400];
} AgreeData;

typedef struct {
    TaskSet ts;
    char sig[256];
    char **base_out; /* baseline generations, ts.n */
} GenData;

typedef struct {
    const Experiment *e;
    const RunOptions *o;
    Model *base;
    Tokenizer *tok;
    Store *st;
    int64_t experiment_id;
    PplData ppl[CFG_MAX_EVAL];
    AgreeData agree[CFG_MAX_EVAL];
    GenData gen[CFG_MAX_EVAL];
    WordNet *wn;
    CalibWindows calib;
    int have_calib;
} Run;

static void progress(const Run *r, const char *fmt, ...) {
    if (!r->o->progress) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->o->progress, fmt, ap);
    va_end(ap);
    fflush(r->o->progress);
}

static void run_free(Run *r) {
    for (int i = 0; i < CFG_MAX_EVAL; i++) {
        eval_tokens_free(&r->ppl[i].tk);
        eval_tokens_free(&r->agree[i].tk);
        if (r->gen[i].base_out)
            for (int k = 0; k < r->gen[i].ts.n; k++) free(r->gen[i].base_out[k]);
        free(r->gen[i].base_out);
        dataset_task_free(&r->gen[i].ts);
    }
    if (r->wn) wordnet_free(r->wn);
    calib_free(&r->calib);
    if (r->st) store_close(r->st);
    if (r->tok) tokenizer_free(r->tok);
    if (r->base) model_free(r->base);
}

/* ---- generation metrics ----------------------------------------------------------------------- */

typedef struct {
    const char *kind;    /* chrf, chrf++, meteor */
    double value;
    char sig[256];
    double *sent;        /* per-sample scores (n) */
    int vs_base;         /* scored against the baseline's generations, not the references */
} GenScore;

/* Scores outs[n] against refsets (refs of sample i: refs[i], nrefs[i]) for every metric in mask.
 * sc[] receives up to 3 entries (*nsc); each sc[k].sent is malloc'd. */
static int score_generations(Run *r, const char *const *outs, const char *const *const *refs, const int *nrefs, int n,
                             int mask, GenScore *sc, int *nsc, char err[QB_ERRLEN]) {
    *nsc = 0;
    int maxr = 0;
    for (int i = 0; i < n; i++) if (nrefs[i] > maxr) maxr = nrefs[i];
    for (int w = 0; w < 2; w++) {
        int bit = w ? GEN_METRIC_CHRFPP : GEN_METRIC_CHRF;
        if (!(mask & bit)) continue;
        /* sacrebleu's layout: reference stream r holds the r-th reference of every segment (or NULL) */
        const char **flat = calloc((size_t)maxr * (size_t)n + 1, sizeof *flat);
        double *sent = malloc((size_t)n * sizeof *sent + 1);
        if (!flat || !sent) { free(flat); free(sent); snprintf(err, QB_ERRLEN, "chrf: out of memory"); return -1; }
        for (int i = 0; i < n; i++)
            for (int k = 0; k < nrefs[i]; k++) flat[(size_t)k * n + i] = refs[i][k];
        chrf_opts co = chrf_defaults(w ? 2 : 0);
        chrf_result res;
        int rc = chrf_corpus(outs, (size_t)n, flat, maxr, &co, &res, sent, err);
        free(flat);
        if (rc) { free(sent); return -1; }
        GenScore *g = &sc[(*nsc)++];
        memset(g, 0, sizeof *g);
        g->kind = w ? "chrf++" : "chrf";
        g->value = res.score;
        g->sent = sent;
        chrf_signature(&co, maxr, g->sig, sizeof g->sig);
    }
    if (mask & GEN_METRIC_METEOR) {
        if (!r->wn && !(r->wn = wordnet_open(NULL, err))) return -1;
        double *sent = malloc((size_t)n * sizeof *sent + 1);
        if (!sent) { snprintf(err, QB_ERRLEN, "meteor: out of memory"); return -1; }
        MeteorCorpus mc = {0, 0};
        for (int i = 0; i < n; i++) {
            MeteorStats ms;
            if (meteor_nltk_sentence(r->wn, outs[i], refs[i], nrefs[i], METEOR_TOK_TREEBANK, &ms, err)) {
                free(sent);
                return -1;
            }
            sent[i] = ms.score;
            mc.sum += ms.score;
            mc.n++;
        }
        GenScore *g = &sc[(*nsc)++];
        memset(g, 0, sizeof *g);
        g->kind = "meteor";
        g->value = meteor_corpus_mean(&mc);
        g->sent = sent;
        meteor_nltk_signature(METEOR_TOK_TREEBANK, maxr, g->sig, sizeof g->sig);
    }
    return 0;
}

static void free_scores(GenScore *sc, int n) {
    for (int i = 0; i < n; i++) free(sc[i].sent);
}

/* ---- preparation: data, baselines -------------------------------------------------------------- */

static int prepare_data(Run *r, const char *tokpath, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    char derr[QB_ERRLEN];
    const char *tok_name = strrchr(tokpath, '/') ? strrchr(tokpath, '/') + 1 : tokpath;
    for (int i = 0; i < e->n_ppl; i++) {
        const PplEval *pe = &e->ppl[i];
        TextDataset d;
        if (dataset_load_text(pe->dataset, &d, derr)) { snprintf(err, QB_ERRLEN, "%.200s:%d: %.300s", e->file, pe->line, derr); return -1; }
        int rc = eval_tokenize(r->tok, d.text, d.len, pe->mode, &r->ppl[i].tk, err);
        eval_ppl_signature(pe, tok_name, d.sha256, r->ppl[i].sig, sizeof r->ppl[i].sig);
        dataset_text_free(&d);
        if (rc) return -1;
    }
    for (int i = 0; i < e->n_agree; i++) {
        const AgreeEval *ae = &e->agree[i];
        TextDataset d;
        if (dataset_load_text(ae->dataset, &d, derr)) { snprintf(err, QB_ERRLEN, "%.200s:%d: %.300s", e->file, ae->line, derr); return -1; }
        int rc = eval_tokenize(r->tok, d.text, d.len, PPL_GPTQ, &r->agree[i].tk, err);
        eval_agree_signature(ae, tok_name, d.sha256, r->agree[i].sig, sizeof r->agree[i].sig);
        dataset_text_free(&d);
        if (rc) return -1;
        if (r->agree[i].tk.n < ae->seqlen) {
            snprintf(err, QB_ERRLEN, "%.200s:%d: eval.agreement: %.200s has %ld tokens, fewer than seqlen %d", e->file, ae->line,
                     ae->dataset, r->agree[i].tk.n, ae->seqlen);
            return -1;
        }
    }
    for (int i = 0; i < e->n_gen; i++) {
        const GenEval *ge = &e->gen[i];
        if (dataset_load_task(ge->task, ge->prompts, &r->gen[i].ts, derr)) {
            snprintf(err, QB_ERRLEN, "%.200s:%d: %.300s", e->file, ge->line, derr);
            return -1;
        }
        for (int k = 0; k < r->gen[i].ts.n; k++) { /* the prompts and references go into the DB: valid UTF-8 */
            PromptPair *pp = &r->gen[i].ts.pairs[k];
            char *c = utf8_clean(pp->prompt);
            if (!c) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
            free(pp->prompt);
            pp->prompt = c;
            for (int j = 0; j < pp->n_refs; j++) {
                if (!(c = utf8_clean(pp->refs[j]))) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
                free(pp->refs[j]);
                pp->refs[j] = c;
            }
        }
        eval_gen_signature(ge, r->gen[i].ts.sha256, r->gen[i].sig, sizeof r->gen[i].sig);
    }
    return 0;
}

static int calibration(Run *r, double *seconds, char err[QB_ERRLEN]) {
    *seconds = 0;
    if (r->have_calib) return 0;
    const Experiment *e = r->e;
    double t0 = now_s();
    TextDataset d;
    if (dataset_load_text(e->calibration.dataset, &d, err)) return -1;
    int rc;
    size_t sl = strlen(d.source);
    if (sl > 6 && !strcmp(d.source + sl - 6, ".jsonl")) {
        rc = calib_sample(r->tok, d.source, e->calibration.samples, e->calibration.seqlen, e->calibration.seed, CALIB_AUTO,
                          &r->calib, err);
    } else {
        /* a named split is not a file of its own: split and tokenize its text here, sample with calib's rule */
        char *owned = NULL;
        size_t *starts = NULL, *lens = NULL;
        int nd = calib_split_documents(d.text, d.len, 0, e->calibration.dataset, &owned, &starts, &lens, err);
        rc = nd < 0 ? -1 : 0;
        int **docs = nd > 0 ? calloc((size_t)nd, sizeof *docs) : NULL;
        int *dl = nd > 0 ? calloc((size_t)nd, sizeof *dl) : NULL;
        if (nd > 0 && (!docs || !dl)) { snprintf(err, QB_ERRLEN, "calibration: out of memory"); rc = -1; }
        const char *base = owned ? owned : d.text;
        for (int i = 0; i < nd && !rc; i++)
            rc = tokenizer_encode(r->tok, base + starts[i], lens[i], 1, &docs[i], &dl[i], err);
        if (!rc)
            rc = calib_sample_docs((const int *const *)docs, dl, nd, e->calibration.samples, e->calibration.seqlen,
                                   e->calibration.seed, CALIB_AUTO, e->calibration.dataset, &r->calib, err);
        for (int i = 0; i < nd && docs; i++) free(docs[i]);
        free(docs); free(dl); free(owned); free(starts); free(lens);
    }
    dataset_text_free(&d);
    if (rc) return -1;
    r->have_calib = 1;
    *seconds = now_s() - t0;
    return 0;
}

/* Baseline perplexities and generations: from the database, or computed now and stored. */
static int baselines(Run *r, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    const char *sha = r->base->sha256;
    for (int i = 0; i < e->n_ppl; i++) {
        PplData *pd = &r->ppl[i];
        int64_t cnt = 0;
        int found = store_get_baseline(r->st, sha, "ppl", e->ppl[i].dataset, "-", pd->sig, &pd->base_value, &cnt, NULL, err);
        if (found < 0) return -1;
        if (found) { pd->base_count = (long)cnt; continue; }
        double t0 = now_s();
        PplStats ps;
        if (eval_perplexity(r->base, &pd->tk, &e->ppl[i], &ps, err)) return -1;
        pd->base_value = ppl_value(&ps);
        pd->base_count = ps.n_scored;
        char sj[256];
        ppl_stats_json(&ps, sj, sizeof sj);
        StoreMetric m = {"ppl", e->ppl[i].dataset, "-", pd->base_value, pd->base_count, sj, pd->sig};
        if (store_put_baseline(r->st, sha, &m, err)) return -1;
        progress(r, "baseline: ppl %s = %.4f (%ld predictions, %.1fs)\n", e->ppl[i].dataset, pd->base_value,
                 pd->base_count, now_s() - t0);
    }
    for (int i = 0; i < e->n_gen; i++) {
        GenData *gd = &r->gen[i];
        const GenEval *ge = &e->gen[i];
        int n = gd->ts.n;
        gd->base_out = calloc((size_t)n, sizeof *gd->base_out);
        if (!gd->base_out) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
        StoreSampleRow *rows = NULL;
        int nr = 0;
        if (store_get_baseline_samples(r->st, sha, ge->task, gd->sig, &rows, &nr, err)) return -1;
        int ok = nr == n;
        for (int k = 0; k < nr && ok; k++) ok = rows[k].idx == k && rows[k].output;
        if (ok) {
            for (int k = 0; k < n; k++) { gd->base_out[k] = rows[k].output; rows[k].output = NULL; }
            store_free_samples(rows, nr);
            continue;
        }
        store_free_samples(rows, nr);
        double t0 = now_s();
        const char **prompts = malloc((size_t)n * sizeof *prompts);
        char **raw = calloc((size_t)n, sizeof *raw);
        if (!prompts || !raw) { free(prompts); free(raw); snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
        for (int k = 0; k < n; k++) prompts[k] = gd->ts.pairs[k].prompt;
        int rc = eval_generate(r->base, r->tok, prompts, n, ge->max_new_tokens, raw, err);
        free(prompts);
        for (int k = 0; k < n && !rc; k++)
            if (!(gd->base_out[k] = utf8_clean(raw[k]))) { snprintf(err, QB_ERRLEN, "out of memory"); rc = -1; }
        for (int k = 0; k < n; k++) free(raw[k]);
        free(raw);
        if (rc) return -1;
        /* the baseline's own scores against the references (what a point's are compared with) */
        GenScore sc[3];
        int nsc = 0;
        const char *const **refs = malloc((size_t)n * sizeof *refs);
        int *nrefs = malloc((size_t)n * sizeof *nrefs);
        if (!refs || !nrefs) { free(refs); free(nrefs); snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
        for (int k = 0; k < n; k++) { refs[k] = (const char *const *)gd->ts.pairs[k].refs; nrefs[k] = gd->ts.pairs[k].n_refs; }
        rc = (ge->against & AGAINST_REFERENCE)
                 ? score_generations(r, (const char *const *)gd->base_out, refs, nrefs, n, ge->metrics, sc, &nsc, err)
                 : 0;
        StoreSample *ss = calloc((size_t)n, sizeof *ss);
        char **sj = calloc((size_t)n, sizeof *sj);
        if (!rc && (!ss || !sj)) { snprintf(err, QB_ERRLEN, "out of memory"); rc = -1; }
        for (int k = 0; k < n && !rc; k++) {
            char buf[256] = "{";
            for (int s = 0; s < nsc; s++)
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\"%s\":%.6f", s ? "," : "", sc[s].kind, sc[s].sent[k]);
            strncat(buf, "}", sizeof buf - strlen(buf) - 1);
            sj[k] = strdup(buf);
            ss[k] = (StoreSample){ge->task, k, gd->ts.pairs[k].prompt, gd->base_out[k], gd->ts.pairs[k].refs[0], sj[k]};
        }
        if (!rc) rc = store_put_baseline_samples(r->st, sha, ge->task, gd->sig, ss, n, err);
        for (int s = 0; s < nsc && !rc; s++) {
            char sig[600];
            snprintf(sig, sizeof sig, "%s|%s", gd->sig, sc[s].sig);
            StoreMetric m = {sc[s].kind, ge->task, "reference", sc[s].value, n, NULL, sig};
            rc = store_put_baseline(r->st, sha, &m, err);
            progress(r, "baseline: %s %s vs reference = %.4f\n", sc[s].kind, ge->task, sc[s].value);
        }
        free_scores(sc, nsc);
        free(refs);
        free(nrefs);
        for (int k = 0; k < n && sj; k++) free(sj[k]);
        free(sj);
        free(ss);
        if (rc) return -1;
        progress(r, "baseline: %d generations for %s (%.1fs)\n", n, ge->task, now_s() - t0);
    }
    return 0;
}

/* ---- one point ---------------------------------------------------------------------------------- */

typedef struct {
    StoreMetric *m; int n, cap;
    char **owned; int n_owned, cap_owned; /* strings the metrics point to */
} MetricList;

static char *keep(MetricList *l, const char *s) {
    if (l->n_owned == l->cap_owned) {
        int cap = l->cap_owned ? 2 * l->cap_owned : 16;
        char **p = realloc(l->owned, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        l->owned = p;
        l->cap_owned = cap;
    }
    char *c = strdup(s);
    if (c) l->owned[l->n_owned++] = c;
    return c;
}

static int add_metric(MetricList *l, const char *kind, const char *dataset, const char *against, double v, long count,
                      const char *sig, const char *stats) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        StoreMetric *p = realloc(l->m, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->m = p;
        l->cap = cap;
    }
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

/* Quantizes and evaluates one point; on success the point is in the database as 'done'. */
static int run_point(Run *r, const SweepPoint *p, StoreRun *run, char *summary, size_t sumlen, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    PipelineOptions po;
    if (sweep_pipeline_options(p, &po, err)) return -1;
    double t_cal = 0;
    if (sweep_needs_calibration(p) && calibration(r, &t_cal, err)) return -1;
    Model *m = model_load(e->model_path, err);
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

    double t0 = now_s();
    CalibrationSet cs = {0, 0, NULL};
    if (sweep_needs_calibration(p)) cs = (CalibrationSet){r->calib.n_samples, r->calib.seqlen, r->calib.windows};
    if (quant_model(m, sweep_needs_calibration(p) ? &cs : NULL, &po, 0, &rep, err)) goto done;
    double t_quant = now_s() - t0;

    t0 = now_s();
    summary[0] = 0;
    for (int i = 0; i < e->n_ppl; i++) {
        PplStats ps;
        if (eval_perplexity(m, &r->ppl[i].tk, &e->ppl[i], &ps, err)) goto done;
        double v = ppl_value(&ps);
        char sj[256];
        ppl_stats_json(&ps, sj, sizeof sj);
        if (add_metric(&ml, "ppl", e->ppl[i].dataset, "-", v, ps.n_scored, r->ppl[i].sig, sj)) goto oom;
        snprintf(summary + strlen(summary), sumlen - strlen(summary), " ppl %.4g (base %.4g)", v, r->ppl[i].base_value);
    }
    for (int i = 0; i < e->n_agree; i++) {
        AgreementStats as;
        if (eval_agreement(r->base, m, &r->agree[i].tk, &e->agree[i], &as, err)) goto done;
        double top1 = agreement_top1(&as), kl = agreement_kl_mean(&as);
        char sj[256];
        snprintf(sj, sizeof sj, "{\"n\":%ld,\"top1_agree\":%ld,\"kl_sum\":%.17g}", as.n, as.top1_agree, as.kl_sum);
        if (add_metric(&ml, "top1", e->agree[i].dataset, "baseline", top1, as.n, r->agree[i].sig, sj) ||
            add_metric(&ml, "kl", e->agree[i].dataset, "baseline", kl, as.n, r->agree[i].sig, sj))
            goto oom;
        snprintf(summary + strlen(summary), sumlen - strlen(summary), " top1 %.3f kl %.4f", top1, kl);
    }
    for (int i = 0; i < e->n_gen; i++) {
        const GenEval *ge = &e->gen[i];
        GenData *gd = &r->gen[i];
        int n = gd->ts.n;
        const char **prompts = malloc((size_t)n * sizeof *prompts + 1);
        gen_out[i] = calloc((size_t)n + 1, sizeof *gen_out[i]);
        if (!prompts || !gen_out[i]) { free(prompts); goto oom; }
        for (int k = 0; k < n; k++) prompts[k] = gd->ts.pairs[k].prompt;
        int grc = eval_generate(m, r->tok, prompts, n, ge->max_new_tokens, gen_out[i], err);
        free(prompts);
        if (grc) goto done;
        for (int k = 0; k < n; k++) {
            char *c = utf8_clean(gen_out[i][k]);
            if (!c) goto oom;
            free(gen_out[i][k]);
            gen_out[i][k] = c;
        }
        const char *const **refs = malloc((size_t)n * sizeof *refs + 1);
        int *nrefs = malloc((size_t)n * sizeof *nrefs + 1);
        const char **bref = malloc((size_t)n * sizeof *bref + 1);
        if (!refs || !nrefs || !bref) { free(refs); free(nrefs); free(bref); goto oom; }
        int src = 0;
        for (int a = 0; a < 2 && !src; a++) {
            int which = a ? AGAINST_BASELINE : AGAINST_REFERENCE;
            if (!(ge->against & which)) continue;
            for (int k = 0; k < n; k++) {
                bref[k] = gd->base_out[k];
                refs[k] = a ? &bref[k] : (const char *const *)gd->ts.pairs[k].refs;
                nrefs[k] = a ? 1 : gd->ts.pairs[k].n_refs;
            }
            int before = n_scores[i], got = 0;
            src = score_generations(r, (const char *const *)gen_out[i], refs, nrefs, n, ge->metrics, scores[i] + before, &got, err);
            if (src) break;
            n_scores[i] += got;
            for (int s = before; s < n_scores[i]; s++) {
                scores[i][s].vs_base = a;
                char sig[600];
                snprintf(sig, sizeof sig, "%s|%s", gd->sig, scores[i][s].sig);
                if (add_metric(&ml, scores[i][s].kind, ge->task, a ? "baseline" : "reference", scores[i][s].value, n, sig, NULL)) {
                    src = -1;
                    snprintf(err, QB_ERRLEN, "out of memory");
                    break;
                }
                snprintf(summary + strlen(summary), sumlen - strlen(summary), " %s/%s %.2f", scores[i][s].kind,
                         a ? "base" : "ref", scores[i][s].value);
            }
        }
        free(refs);
        free(nrefs);
        free(bref);
        if (src) goto done;
        n_samples += n;
    }
    double t_eval = now_s() - t0;

    /* per-layer stats and samples */
    layers = calloc((size_t)rep.n_layers + 1, sizeof *layers);
    samples = calloc((size_t)n_samples + 1, sizeof *samples);
    sample_json = calloc((size_t)n_samples + 1, sizeof *sample_json);
    if (!layers || !samples || !sample_json) goto oom;
    for (int i = 0; i < rep.n_layers; i++) {
        const LayerRecord *L = &rep.layers[i];
        layers[i] = (StoreLayer){L->layer, linear_kind_name(L->kind), L->rows, L->cols, L->error, L->gptq_loss,
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
    StorePoint sp = {*run, ml.m, ml.n, layers, rep.n_layers, samples, n_samples};
    if (store_write_point(r->st, &sp, err)) goto done;
    snprintf(summary + strlen(summary), sumlen - strlen(summary), " | %.2f bits/w | cal %.1fs quant %.1fs eval %.1fs",
             rep.bits_per_weight, t_cal, t_quant, t_eval);
    rc = 0;
    goto done;
oom:
    snprintf(err, QB_ERRLEN, "out of memory");
done:
    for (int i = 0; i < e->n_gen; i++) {
        if (gen_out[i])
            for (int k = 0; k < r->gen[i].ts.n; k++) free(gen_out[i][k]);
        free(gen_out[i]);
        free_scores(scores[i], n_scores[i]);
    }
    for (int i = 0; i < n_samples && sample_json; i++) free(sample_json[i]);
    free(sample_json);
    free(samples);
    free(layers);
    metric_list_free(&ml);
    pipeline_report_free(&rep);
    model_free(m);
    return rc;
}

/* ---- the run ------------------------------------------------------------------------------------- */

static void fmt_secs(double s, char *out, size_t n) {
    if (s < 0 || !isfinite(s)) snprintf(out, n, "?");
    else if (s < 90) snprintf(out, n, "%.0fs", s);
    else if (s < 5400) snprintf(out, n, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(out, n, "%.0fh%02.0fm", floor(s / 3600), fmod(floor(s / 60), 60));
}

/* A rough per-point estimate for --dry-run, from the model's size and the work the experiment asks
 * for: forward passes cost ~2 flops per linear parameter per token; GPTQ adds ~3 passes over the
 * calibration tokens plus the solves. The measured forward speed of this machine sets the scale. */
static double estimate_point(const Run *r, const SweepPoint *p, double sec_per_token) {
    const Experiment *e = r->e;
    double tokens = 0;
    for (int i = 0; i < e->n_ppl; i++) {
        long w = r->ppl[i].tk.n / e->ppl[i].seqlen;
        if (e->ppl[i].max_windows > 0 && w > e->ppl[i].max_windows) w = e->ppl[i].max_windows;
        tokens += (double)w * e->ppl[i].seqlen;
    }
    for (int i = 0; i < e->n_agree; i++) tokens += 2.0 * e->agree[i].windows * e->agree[i].seqlen;
    /* decoding one token at a time is far slower per token than a batched window */
    for (int i = 0; i < e->n_gen; i++) tokens += 8.0 * e->gen[i].prompts * e->gen[i].max_new_tokens;
    if (sweep_needs_calibration(p)) tokens += 3.0 * e->calibration.samples * e->calibration.seqlen;
    return tokens * sec_per_token + 0.05;
}

static double measure_forward(const Model *m, const int *ids, long n) {
    int T = n < 128 ? (int)n : 128;
    if (T < 2) return 1e-4;
    ModelState *s = model_state_new(m, T, T);
    float *lg = malloc((size_t)T * m->cfg.vocab_size * sizeof *lg);
    char err[QB_ERRLEN];
    double t0 = now_s(), dt = 1e-4;
    if (s && lg && !model_forward(m, s, ids, T, 0, lg, err)) dt = (now_s() - t0) / T;
    free(lg);
    model_state_free(s);
    return dt;
}

int runner_run(const Experiment *e, const RunOptions *o, RunSummary *sum, char err[QB_ERRLEN]) {
    memset(sum, 0, sizeof *sum);
    Run r;
    memset(&r, 0, sizeof r);
    r.e = e;
    r.o = o;
    SweepPoint *pts = NULL;
    char **keys = NULL;
    char **canon = NULL;
    int n = 0, rc = -1;
    const char *db = o->db_path ? o->db_path : e->output.db;

    if (!(r.base = model_load(e->model_path, err))) goto out;
    if (config_validate_model(e, &r.base->cfg, err)) goto out;
    char tokpath[1024];
    if (e->tokenizer_path[0]) snprintf(tokpath, sizeof tokpath, "%s", e->tokenizer_path);
    else if (tokenizer_find_for_model(e->model_path, tokpath, sizeof tokpath)) {
        snprintf(err, QB_ERRLEN, "%.200s: no tokenizer found beside %.200s; set model.tokenizer", e->file, e->model_path);
        goto out;
    }
    if (!(r.tok = tokenizer_load(tokpath, r.base->cfg.vocab_size, err))) goto out;
    if (sweep_expand(e, &pts, &n, err)) goto out;
    keys = calloc((size_t)n + 1, sizeof *keys);
    canon = calloc((size_t)n + 1, sizeof *canon);
    if (!keys || !canon) { snprintf(err, QB_ERRLEN, "out of memory"); goto out; }
    /* every point's options against every layer's shape, before any work */
    for (int i = 0; i < n; i++) {
        PipelineOptions po;
        char label[96], buf[4096];
        sweep_label(&pts[i], label, sizeof label);
        if (sweep_pipeline_options(&pts[i], &po, err)) goto out;
        for (int l = 0; l < LIN_COUNT; l++) {
            char qerr[QB_ERRLEN];
            if (quant_options_validate(&po.opt, r.base->blocks[0].lin[l].cols, qerr)) {
                snprintf(err, QB_ERRLEN, "%.150s: point '%.80s' on %.40s: %.220s", e->file, label, linear_kind_name((LinearKind)l), qerr);
                goto out;
            }
        }
        if (sweep_canonical(e, &pts[i], buf, sizeof buf)) { snprintf(err, QB_ERRLEN, "point '%.80s': parameters too long", label); goto out; }
        keys[i] = malloc(65);
        canon[i] = strdup(buf);
        if (!keys[i] || !canon[i]) { snprintf(err, QB_ERRLEN, "out of memory"); goto out; }
        sweep_key(r.base->sha256, buf, keys[i]);
    }
    if (prepare_data(&r, tokpath, err)) goto out;

    int in_shard = 0;
    for (int i = 0; i < n; i++) in_shard += sweep_in_shard(&pts[i], o->shard_i, o->shard_n);
    sum->points = in_shard;

    if (o->dry_run) {
        /* read the database only if it exists: a dry run creates nothing */
        if (access(db, F_OK) == 0 && !(r.st = store_open(db, err))) goto out;
        const EvalTokens *tk = r.ppl[0].tk.ids ? &r.ppl[0].tk : &r.agree[0].tk;
        double spt = measure_forward(r.base, tk->ids, tk->n);
        double total = 0;
        FILE *f = o->out ? o->out : stdout;
        fprintf(f, "%-5s %-28s %-8s %-9s %s\n", "#", "point", "status", "estimate", "key");
        for (int i = 0; i < n; i++) {
            if (!sweep_in_shard(&pts[i], o->shard_i, o->shard_n)) continue;
            int done = 0;
            if (r.st && (done = store_point_is_done(r.st, keys[i], err)) < 0) goto out;
            char label[96], est[32];
            sweep_label(&pts[i], label, sizeof label);
            double t = done ? 0 : estimate_point(&r, &pts[i], spt);
            total += t;
            fmt_secs(t, est, sizeof est);
            fprintf(f, "%-5d %-28s %-8s %-9s %.16s\n", i, label, done ? "done" : "todo", done ? "-" : est, keys[i]);
            sum->skipped += done;
        }
        char tot[32];
        fmt_secs(total, tot, sizeof tot);
        fprintf(f, "%d points in this shard, %d already done; estimated %s for the rest (rough: scaled from one forward pass)\n",
                in_shard, sum->skipped, tot);
        rc = 0;
        goto out;
    }

    if (!(r.st = store_open(db, err))) goto out;
    char esha[65];
    if (qb_sha256_file(e->file, esha, err)) goto out;
    if (store_upsert_experiment(r.st, e->name, e->file, esha, &r.experiment_id, err)) goto out;

    /* which points are left */
    int todo = 0;
    for (int i = 0; i < n; i++) {
        if (!sweep_in_shard(&pts[i], o->shard_i, o->shard_n)) continue;
        int d = store_point_is_done(r.st, keys[i], err);
        if (d < 0) goto out;
        if (d) sum->skipped++;
        else todo++;
    }
    progress(&r, "qbench run %s: %d points in this shard, %d done before, %d to run -> %s\n", e->name, in_shard,
             sum->skipped, todo, db);
    if (todo > 0 && baselines(&r, err)) goto out;

    int k = 0;
    double t_start = now_s();
    for (int i = 0; i < n; i++) {
        if (!sweep_in_shard(&pts[i], o->shard_i, o->shard_n)) continue;
        int d = store_point_is_done(r.st, keys[i], err); /* again: another process may share the DB */
        if (d < 0) goto out;
        if (d) continue;
        k++;
        char label[96], summary[1024], perr[QB_ERRLEN];
        sweep_label(&pts[i], label, sizeof label);
        StoreRun run = {
            .key = keys[i], .experiment_id = r.experiment_id, .model_path = e->model_path, .model_sha256 = r.base->sha256,
            .method = sweep_get_str(&pts[i], "method", "?"), .bits = (int)sweep_get_int(&pts[i], "bits", 0),
            .group_size = (int)sweep_get_int(&pts[i], "group_size", -1), .act_order = (int)sweep_get_int(&pts[i], "act_order", 0),
            .sym = (int)sweep_get_int(&pts[i], "sym", 0), .static_groups = (int)sweep_get_int(&pts[i], "static_groups", 0),
            .params_json = canon[i], .host = NULL, .threads = omp_get_max_threads(), .bits_per_weight = NAN,
        };
        progress(&r, "[%d/%d] %s ...\n", k, todo, label);
        if (store_begin_point(r.st, &run, err)) goto out;
        double tp = now_s();
        if (run_point(&r, &pts[i], &run, summary, sizeof summary, perr)) {
            sum->failed++;
            progress(&r, "[%d/%d] %s FAILED: %s\n", k, todo, label, perr);
            if (store_fail_point(r.st, &run, perr, err)) goto out;
        } else {
            sum->done++;
            double el = now_s() - t_start, eta = el / k * (todo - k);
            char ets[32], pts_s[32];
            fmt_secs(eta, ets, sizeof ets);
            fmt_secs(now_s() - tp, pts_s, sizeof pts_s);
            progress(&r, "[%d/%d] %s done in %s:%s\n", k, todo, label, pts_s, summary);
            if (r.o->progress) {
                int width = 30, fill = todo ? width * k / todo : width;
                char bar[64];
                for (int b = 0; b < width; b++) bar[b] = b < fill ? '#' : '.';
                bar[width] = 0;
                progress(&r, "[%s] %d/%d points, ETA %s\n", bar, k, todo, ets);
            }
        }
    }
    rc = 0;
out:
    for (int i = 0; i < n && keys; i++) free(keys[i]);
    for (int i = 0; i < n && canon; i++) free(canon[i]);
    free(keys);
    free(canon);
    free(pts);
    run_free(&r);
    return rc;
}
