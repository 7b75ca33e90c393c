/* runner_data.c — what a run computes once, before its points: evaluation texts tokenized, task
 * prompts and references, calibration windows (sampled on first use), and the unquantized
 * baseline's perplexities and generations (read from the database when a previous run stored
 * them with the same evaluation settings, otherwise computed and stored). Also the generation
 * scoring shared with the points, and the small helpers of runner_internal.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "harness/runner_internal.h"
#include "metrics/bootstrap.h"
#include "metrics/chrf.h"

double runner_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Generated text may hold bytes from byte-fallback tokens that are not valid UTF-8; metrics and
 * SQLite want valid text, so invalid sequences become U+FFFD. Returns a malloc'd copy. */
char *runner_utf8_clean(const char *s) {
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

/* One line of per-point progress; on a terminal the overall bar is cleared first and redrawn by
 * its next update. */
void runner_progress(Run *r, const char *fmt, ...) {
    if (!r->o->progress) return;
    if (r->bar.tty && r->bar.drawn) {
        fputs("\r\x1b[K", r->o->progress);
        r->bar.drawn = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->o->progress, fmt, ap);
    va_end(ap);
    fflush(r->o->progress);
}

void runner_free(Run *r) {
    runner_tasks_free(r);
    free(r->evals);
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

/* Scores outs[n] against refsets (refs of sample i: refs[i], nrefs[i]) for every metric in mask.
 * sc[] receives up to 3 entries (*nsc); each sc[k].sent is malloc'd. */
/* The statistics stored with a generation metric: sacrebleu's bootstrap CI (1,000 resamples, seed
 * 12345) of the corpus score, and every segment's chrF statistics (seg_stats) or score (sent). */
static char *gen_stats_json(const chrf_stats *seg_stats, const double *sent, int n, const chrf_opts *co,
                            char err[QB_ERRLEN]) {
    BootstrapCI ci;
    int rc = seg_stats ? chrf_bootstrap_ci(seg_stats, (size_t)n, co, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, &ci, err)
                       : bootstrap_ci(bootstrap_mean_score, (void *)sent, n, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, &ci, err);
    if (rc) return NULL;
    size_t cap = 400 + (size_t)n * (seg_stats ? (size_t)seg_stats[0].norder * 3 * 21 + 4 : 26), len = 0;
    char *out = malloc(cap);
    if (!out) { snprintf(err, QB_ERRLEN, "out of memory"); return NULL; }
    len += (size_t)snprintf(out + len, cap - len,
                            "{\"n\":%d,\"bs\":%d,\"seed\":%d,\"mu\":%.17g,\"ci\":%.17g,\"lo\":%.17g,\"hi\":%.17g,\"seg\":[",
                            n, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, ci.mean, ci.ci, ci.lower, ci.upper);
    for (int i = 0; i < n; i++) {
        if (!seg_stats) { len += (size_t)snprintf(out + len, cap - len, "%s%.17g", i ? "," : "", sent[i]); continue; }
        len += (size_t)snprintf(out + len, cap - len, "%s[", i ? "," : "");
        for (int k = 0; k < 3 * seg_stats[i].norder; k++)
            len += (size_t)snprintf(out + len, cap - len, "%s%lld", k ? "," : "", (long long)seg_stats[i].v[k]);
        len += (size_t)snprintf(out + len, cap - len, "]");
    }
    snprintf(out + len, cap - len, "]}");
    return out;
}

int runner_score_generations(Run *r, const char *const *outs, const char *const *const *refs, const int *nrefs, int n,
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
        if (n > 0) { /* each segment's statistics, as the corpus score summed them */
            chrf_stats *seg = malloc((size_t)n * sizeof *seg);
            if (!seg) { snprintf(err, QB_ERRLEN, "chrf: out of memory"); return -1; }
            for (int i = 0; i < n && !rc; i++) rc = chrf_segment_stats(NULL, outs[i], refs[i], nrefs[i], &co, &seg[i], NULL, err);
            if (!rc && !(g->stats = gen_stats_json(seg, NULL, n, &co, err))) rc = -1;
            free(seg);
            if (rc) return -1;
        }
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
        if (n > 0 && !(g->stats = gen_stats_json(NULL, sent, n, NULL, err))) return -1;
    }
    return 0;
}

void runner_free_scores(GenScore *sc, int n) {
    for (int i = 0; i < n; i++) {
        free(sc[i].sent);
        free(sc[i].stats);
    }
}

/* ---- preparation: data, baselines -------------------------------------------------------------- */

int runner_prepare_data(Run *r, const char *tokpath, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    char derr[QB_ERRLEN];
    const char *tok_name = strrchr(tokpath, '/') ? strrchr(tokpath, '/') + 1 : tokpath;
    for (int i = 0; i < e->n_ppl; i++) {
        const PplEval *pe = &e->ppl[i];
        TextDataset d;
        if (dataset_load_text(pe->dataset, &d, derr)) { snprintf(err, QB_ERRLEN, "%.200s:%d: %.300s", e->file, pe->line, derr); return -1; }
        int rc = eval_tokenize(r->tok, d.text, d.len, pe->mode, &r->ppl[i].tk, err);
        eval_ppl_signature(pe, tok_name, tokenizer_prepend_space(r->tok), d.sha256, r->ppl[i].sig, sizeof r->ppl[i].sig);
        dataset_text_free(&d);
        if (rc) return -1;
    }
    for (int i = 0; i < e->n_agree; i++) {
        const AgreeEval *ae = &e->agree[i];
        TextDataset d;
        if (dataset_load_text(ae->dataset, &d, derr)) { snprintf(err, QB_ERRLEN, "%.200s:%d: %.300s", e->file, ae->line, derr); return -1; }
        int rc = eval_tokenize(r->tok, d.text, d.len, PPL_GPTQ, &r->agree[i].tk, err);
        eval_agree_signature(ae, tok_name, tokenizer_prepend_space(r->tok), d.sha256, r->agree[i].sig, sizeof r->agree[i].sig);
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
            char *c = runner_utf8_clean(pp->prompt);
            if (!c) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
            free(pp->prompt);
            pp->prompt = c;
            for (int j = 0; j < pp->n_refs; j++) {
                if (!(c = runner_utf8_clean(pp->refs[j]))) { snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
                free(pp->refs[j]);
                pp->refs[j] = c;
            }
        }
        eval_gen_signature(ge, r->gen[i].ts.sha256, r->gen[i].sig, sizeof r->gen[i].sig);
    }
    return runner_tasks_prepare(r, tokpath, err);
}

int runner_calibration(Run *r, double *seconds, char err[QB_ERRLEN]) {
    *seconds = 0;
    if (r->have_calib) return 0;
    const Experiment *e = r->e;
    double t0 = runner_now();
    TextDataset d;
    if (dataset_load_text(e->calibration.dataset, &d, err)) return -1;
    /* A jsonl dataset's loaded text is its "text" fields joined, so its documents are re-read from
     * the file (one JSON object each, calib.h); a named text split (tinystories-calib) is not a file
     * of its own, so its loaded text is split into documents. */
    size_t sl = strlen(d.source);
    int rc = (sl > 6 && !strcmp(d.source + sl - 6, ".jsonl"))
                 ? calib_sample(r->tok, d.source, e->calibration.samples, e->calibration.seqlen,
                                e->calibration.seed, CALIB_AUTO, &r->calib, err)
                 : calib_sample_text(r->tok, d.text, d.len, 0, e->calibration.dataset, e->calibration.samples,
                                     e->calibration.seqlen, e->calibration.seed, CALIB_AUTO, &r->calib, err);
    dataset_text_free(&d);
    if (rc) return -1;
    r->have_calib = 1;
    *seconds = runner_now() - t0;
    return 0;
}

/* Baseline perplexities and generations: from the database, or computed now and stored. */
int runner_baselines(Run *r, char err[QB_ERRLEN]) {
    const Experiment *e = r->e;
    const char *sha = r->base->sha256;
    for (int i = 0; i < e->n_ppl; i++) {
        PplData *pd = &r->ppl[i];
        int64_t cnt = 0;
        char *stored = NULL;
        int found = store_get_baseline(r->st, sha, "ppl", e->ppl[i].dataset, "-", pd->sig, &pd->base_value, &cnt, &stored, err);
        if (found < 0) return -1;
        /* a baseline stored without its per-window sums (an older qbench) is computed again: paired
         * comparisons need them */
        int complete = found && stored && strstr(stored, "\"win_nll\"");
        free(stored);
        if (complete) { pd->base_count = (long)cnt; continue; }
        double t0 = runner_now();
        PplStats ps;
        char *sj = NULL;
        if (eval_perplexity(r->base, &pd->tk, &e->ppl[i], &ps, &sj, err)) return -1;
        pd->base_value = ppl_value(&ps);
        pd->base_count = ps.n_scored;
        StoreMetric m = {"ppl", e->ppl[i].dataset, "-", pd->base_value, pd->base_count, sj, pd->sig};
        int bad = store_put_baseline(r->st, sha, &m, err);
        free(sj);
        if (bad) return -1;
        runner_progress(r, "baseline: ppl %s = %.4f (%ld predictions, %.1fs)\n", e->ppl[i].dataset, pd->base_value,
                 pd->base_count, runner_now() - t0);
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
        double t0 = runner_now();
        const char **prompts = malloc((size_t)n * sizeof *prompts);
        char **raw = calloc((size_t)n, sizeof *raw);
        if (!prompts || !raw) { free(prompts); free(raw); snprintf(err, QB_ERRLEN, "out of memory"); return -1; }
        for (int k = 0; k < n; k++) prompts[k] = gd->ts.pairs[k].prompt;
        int rc = eval_generate(r->base, r->tok, prompts, n, ge->max_new_tokens, raw, err);
        free(prompts);
        for (int k = 0; k < n && !rc; k++)
            if (!(gd->base_out[k] = runner_utf8_clean(raw[k]))) { snprintf(err, QB_ERRLEN, "out of memory"); rc = -1; }
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
                 ? runner_score_generations(r, (const char *const *)gd->base_out, refs, nrefs, n, ge->metrics, sc, &nsc, err)
                 : 0;
        StoreSample *ss = calloc((size_t)n, sizeof *ss);
        char **sj = calloc((size_t)n, sizeof *sj);
        if (!rc && (!ss || !sj)) { snprintf(err, QB_ERRLEN, "out of memory"); rc = -1; }
        for (int k = 0; k < n && !rc; k++) {
            char buf[256] = "{";
            for (int s = 0; s < nsc; s++)
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s\"%s\":%.6f", s ? "," : "", sc[s].kind, sc[s].sent[k]);
            strncat(buf, "}", sizeof buf - strlen(buf) - 1);
            if (!(sj[k] = strdup(buf))) { snprintf(err, QB_ERRLEN, "out of memory"); rc = -1; }
            ss[k] = (StoreSample){ge->task, k, gd->ts.pairs[k].prompt, gd->base_out[k], gd->ts.pairs[k].refs[0], sj[k]};
        }
        if (!rc) rc = store_put_baseline_samples(r->st, sha, ge->task, gd->sig, ss, n, err);
        for (int s = 0; s < nsc && !rc; s++) {
            char sig[600];
            snprintf(sig, sizeof sig, "%s|%s", gd->sig, sc[s].sig);
            StoreMetric m = {sc[s].kind, ge->task, "reference", sc[s].value, n, sc[s].stats, sig};
            rc = store_put_baseline(r->st, sha, &m, err);
            runner_progress(r, "baseline: %s %s vs reference = %.4f\n", sc[s].kind, ge->task, sc[s].value);
        }
        runner_free_scores(sc, nsc);
        free(refs);
        free(nrefs);
        for (int k = 0; k < n && sj; k++) free(sj[k]);
        free(sj);
        free(ss);
        if (rc) return -1;
        runner_progress(r, "baseline: %d generations for %s (%.1fs)\n", n, ge->task, runner_now() - t0);
    }
    return runner_tasks_baselines(r, err);
}

