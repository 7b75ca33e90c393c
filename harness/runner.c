/* runner.c — `qbench run`: every sweep point not yet done → quantize → evaluate → one transaction.
 * The contract (resume, baselines, agreement against a second copy of the model) is in runner.h.
 * Everything that can be checked is checked before the first point starts: the file (config.c),
 * the model's shapes (config_validate_model), every point's quantizer options, the datasets'
 * checksums, the tokenizer, the database. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/runner_internal.h"
#include "quant/quant.h"

/* An output's folder must exist: run creates the file (the database, or the plots folder itself),
 * never the folders above it, so a mistyped path is refused before any work instead of growing a
 * tree somewhere unexpected. */
static int check_parent(const char *what, const char *file, char err[QB_ERRLEN]) {
    char p[1024];
    snprintf(p, sizeof p, "%s", file);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0; /* "plots/" names the folder plots */
    char *slash = strrchr(p, '/');
    if (!slash) return 0; /* in the working directory */
    if (slash == p) return 0; /* in / */
    *slash = 0;
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, QB_ERRLEN, "%s %.200s: folder %.200s %s (run creates no folders above its outputs)", what, file,
                 p, stat(p, &st) != 0 ? "does not exist" : "is not a folder");
        return -1;
    }
    return 0;
}

/* ---- what a point must have ------------------------------------------------------------------------ */

static int append(char **buf, size_t *len, size_t *cap, const char *kind, const char *dataset, const char *against,
                  const char *sig) {
    size_t need = strlen(kind) + strlen(dataset) + strlen(against) + strlen(sig) + 6;
    if (qb_grow((void **)buf, cap, *len + need, 1)) return -1;
    *len += (size_t)snprintf(*buf + *len, *cap - *len, "%s\t%s\t%s\t%s\n", kind, dataset, against, sig);
    return 0;
}

/* The metrics the experiment's eval section computes (zero-shot tasks included), one "kind TAB
 * dataset TAB against TAB signature" line each; a generation metric's signature is its entry's prefix (the metric's own
 * sacrebleu/NLTK-style signature follows it). NULL when out of memory. */
static char *expected_evals(const Run *r) {
    const Experiment *e = r->e;
    char *buf = calloc(1, 1);
    size_t len = 0, cap = 1;
    int bad = !buf;
    for (int i = 0; i < e->n_ppl && !bad; i++) bad = append(&buf, &len, &cap, "ppl", e->ppl[i].dataset, "-", r->ppl[i].sig);
    for (int i = 0; i < e->n_agree && !bad; i++)
        bad = append(&buf, &len, &cap, "top1", e->agree[i].dataset, "baseline", r->agree[i].sig) ||
              append(&buf, &len, &cap, "kl", e->agree[i].dataset, "baseline", r->agree[i].sig);
    static const struct { int bit; const char *kind; } GM[] = {
        {GEN_METRIC_CHRF, "chrf"}, {GEN_METRIC_CHRFPP, "chrf++"}, {GEN_METRIC_METEOR, "meteor"}};
    for (int i = 0; i < e->n_gen && !bad; i++) {
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s|", r->gen[i].sig);
        for (int a = 0; a < 2 && !bad; a++) {
            if (!(e->gen[i].against & (a ? AGAINST_BASELINE : AGAINST_REFERENCE))) continue;
            for (size_t k = 0; k < sizeof GM / sizeof GM[0] && !bad; k++)
                if (e->gen[i].metrics & GM[k].bit)
                    bad = append(&buf, &len, &cap, GM[k].kind, e->gen[i].task, a ? "baseline" : "reference", prefix);
        }
    }
    for (int i = 0; i < e->n_task && !bad; i++) { /* zero-shot tasks: the metrics eval_task_metrics writes */
        const EvalTask *et = &r->task[i].et;
        bad = append(&buf, &len, &cap, "acc", et->data.name, "-", et->sig) ||
              (et->data.has_acc_norm && append(&buf, &len, &cap, "acc_norm", et->data.name, "-", et->sig)) ||
              (et->data.kind == TASK_GREEDY && append(&buf, &len, &cap, "perplexity", et->data.name, "-", et->sig));
    }
    if (bad) free(buf);
    return bad ? NULL : buf;
}

/* 0: the point is to run; 1: done with every current metric; 2: done, but some metric of the current
 * eval section is missing (its settings changed): to evaluate again. -1 on error. */
static int point_state(Run *r, const char *key, char err[QB_ERRLEN]) {
    int d = store_point_is_done(r->st, key, err);
    if (d <= 0) return d;
    for (const char *line = r->evals; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        char buf[1024], *f[4];
        snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf ? n : sizeof buf - 1), line);
        f[0] = buf;
        for (int k = 1; k < 4; k++) {
            char *t = f[k - 1] ? strchr(f[k - 1], '\t') : NULL;
            if (t) *t++ = 0;
            f[k] = t;
        }
        if (f[3]) {
            int has = store_run_has_metric(r->st, key, f[0], f[1], f[2], f[3], err);
            if (has < 0) return -1;
            if (!has) return 2;
        }
        line += n + (nl != NULL);
    }
    return 1;
}

/* ---- the run ------------------------------------------------------------------------------------- */

static void fmt_secs(double s, char *out, size_t n) {
    if (s < 0 || !isfinite(s)) snprintf(out, n, "?");
    else if (s < 90) snprintf(out, n, "%.0fs", s);
    else if (s < 5400) snprintf(out, n, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
    else snprintf(out, n, "%.0fh%02.0fm", floor(s / 3600), fmod(floor(s / 60), 60));
}

/* Time estimates, for --dry-run and the live ETA. A point's time is estimated, in order of
 * preference, from
 *   1. the mean time of finished points of the same method and bits (this run's and the database's);
 *   2. finished points of the same method at the nearest other bits, scaled by the cost model's
 *      ratio between the two bit widths;
 *   3. the cost model alone: this machine's measured forward speed (seconds per token of a batched
 *      window) times the tokens a point pushes through the model — evaluation windows, token-by-token
 *      decoding (~GEN_COST times a batched token) and for calibrated methods the calibration passes
 *      (~CALIB_COST per calibration token). GPTQT/RTNT's re-exploration grows with the grid of the
 *      high step: x (1 + GPTQT_COST * 2^(high_bits - 4)). Fitted on experiments/demo.yaml
 *      (stories260K, 64 x 256 calibration tokens, a loaded 2-core machine measuring ~85 us/token):
 *      the calibration passes took ~3.5 s (2.5 forward tokens per calibration token), GPTQT's solve
 *      0.2-0.5 s at 3 high bits, 0.5-1.2 s at 4, 1.9-3.7 s at 5 and 15 s at 8. */
#define GEN_COST 6.0
#define CALIB_COST 2.5
#define GPTQT_COST 0.27

typedef struct { char method[16]; int bits; double sum; int n; } TimeObs;
typedef struct { TimeObs o[64]; int n; int n_points; } TimeModel;
enum { EST_SAME, EST_SCALED, EST_MODEL };
static const char *const EST_TAG[] = {"same", "scaled", "model"};

static void tm_add(TimeModel *tm, const char *method, int bits, double secs) {
    if (!isfinite(secs) || secs < 0) return;
    int h = 0;
    while (h < tm->n && (strcmp(tm->o[h].method, method) || tm->o[h].bits != bits)) h++;
    if (h == tm->n) {
        if (tm->n == (int)(sizeof tm->o / sizeof tm->o[0])) return;
        memset(&tm->o[h], 0, sizeof tm->o[h]);
        snprintf(tm->o[h].method, sizeof tm->o[h].method, "%s", method);
        tm->o[h].bits = bits;
        tm->n++;
    }
    tm->o[h].sum += secs;
    tm->o[h].n++;
    tm->n_points++;
}

static double model_cost(const Run *r, const SweepPoint *p, double sec_per_token) {
    const Experiment *e = r->e;
    const char *method = sweep_get_str(p, "method", "");
    double tokens = 0;
    for (int i = 0; i < e->n_ppl; i++) {
        long w = r->ppl[i].tk.n / e->ppl[i].seqlen;
        if (e->ppl[i].max_windows > 0 && w > e->ppl[i].max_windows) w = e->ppl[i].max_windows;
        tokens += (double)w * e->ppl[i].seqlen;
    }
    for (int i = 0; i < e->n_agree; i++) tokens += 2.0 * e->agree[i].windows * e->agree[i].seqlen;
    for (int i = 0; i < e->n_gen; i++) tokens += GEN_COST * e->gen[i].prompts * e->gen[i].max_new_tokens;
    if (sweep_needs_calibration(p)) {
        long hb = sweep_high_bits(p);
        double solve = hb > 0 ? 1.0 + GPTQT_COST * pow(2.0, (double)hb - 4.0) : 1.0;
        tokens += CALIB_COST * e->calibration.samples * e->calibration.seqlen * solve;
    } else if (!strcmp(method, "gptqt") || !strcmp(method, "rtnt")) {
        tokens *= 1.0 + GPTQT_COST * pow(2.0, (double)sweep_high_bits(p) - 4.0) / 4.0;
    }
    return tokens * sec_per_token;
}

static double estimate_point(const Run *r, const SweepPoint *p, double sec_per_token, const TimeModel *tm, int *basis) {
    const char *method = sweep_get_str(p, "method", "");
    int bits = (int)sweep_get_int(p, "bits", 0);
    const TimeObs *near = NULL;
    for (int i = 0; i < tm->n; i++) {
        const TimeObs *o = &tm->o[i];
        if (strcmp(o->method, method) || o->n == 0) continue;
        if (o->bits == bits) {
            *basis = EST_SAME;
            return o->sum / o->n;
        }
        int d = abs(o->bits - bits), dn = near ? abs(near->bits - bits) : 1 << 30;
        if (d < dn || (d == dn && o->bits > near->bits)) near = o;
    }
    double here = model_cost(r, p, sec_per_token);
    if (near) {
        /* the same point at the observed bits, through the cost model */
        SweepPoint q = *p;
        q.v[param_index("bits")].i = near->bits;
        double there = model_cost(r, &q, sec_per_token);
        *basis = EST_SCALED;
        return there > 0 ? near->sum / near->n * here / there : near->sum / near->n;
    }
    *basis = EST_MODEL;
    return here;
}

/* What the estimates rest on: "based on 30 same method and bits, 2 scaled from other bits, 8 cost
 * model (no finished point of the method); 40 finished points observed". */
static void basis_text(const int counts[3], int n_obs, char *out, size_t n) {
    const char *what[3] = {"same method and bits", "scaled from other bits", "cost model (no finished point of the method)"};
    size_t k = (size_t)snprintf(out, n, "based on");
    int any = 0;
    for (int b = 0; b < 3 && k < n; b++) {
        if (!counts[b]) continue;
        k += (size_t)snprintf(out + k, n - k, "%s %d %s", any ? "," : "", counts[b], what[b]);
        any = 1;
    }
    if (!any && k < n) k += (size_t)snprintf(out + k, n - k, " nothing (no point left)");
    if (k < n) snprintf(out + k, n - k, "; %d finished point%s observed", n_obs, n_obs == 1 ? "" : "s");
}

/* Seconds per token of one batched forward over a 128-token window (best of three, after a warm-up). */
static double measure_forward(const Model *m, const int *ids, long n) {
    int T = n < 128 ? (int)n : 128;
    if (T < 2) return 1e-5;
    ModelState *s = model_state_new(m, T, T);
    float *lg = malloc((size_t)T * m->cfg.vocab_size * sizeof *lg);
    char err[QB_ERRLEN];
    double best = 1e-5;
    if (s && lg && !model_forward(m, s, ids, T, 0, lg, err)) {
        best = 1e30;
        for (int k = 0; k < 3; k++) {
            double t0 = runner_now();
            if (model_forward(m, s, ids, T, 0, lg, err)) break;
            double dt = (runner_now() - t0) / T;
            if (dt < best) best = dt;
        }
        if (best > 1e29) best = 1e-5;
    }
    free(lg);
    model_state_free(s);
    return best;
}

/* Every finished point's time in the database, by method and bits. */
static int runner_load_times(Run *r, TimeModel *tm, char err[QB_ERRLEN]) {
    StoreRunRow *rows = NULL;
    int nr = 0;
    if (store_load_runs(r->st, NULL, "done", &rows, &nr, err)) return -1;
    for (int i = 0; i < nr; i++)
        tm_add(tm, rows[i].method, rows[i].bits,
               rows[i].seconds_calibration + rows[i].seconds_quantize + rows[i].seconds_eval);
    store_free_runs(rows, nr);
    return 0;
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
    char (*entry_method)[96] = NULL; /* per point: "FORMAT:LABEL" of a `models:` entry, "" otherwise */
    int n = 0, rc = -1;
    const char *db = o->db_path ? o->db_path : e->output.db;

    if (!o->dry_run && (check_parent("output.db", db, err) || check_parent("output.plots", e->output.plots, err) ||
                        (e->output.junit[0] && check_parent("output.junit", e->output.junit, err))))
        goto out;
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
    entry_method = calloc((size_t)n + 1, sizeof *entry_method);
    if (!keys || !canon || !entry_method) { snprintf(err, QB_ERRLEN, "out of memory"); goto out; }
    /* every point's options against every layer's shape, before any work */
    for (int i = 0; i < n; i++) {
        PipelineOptions po;
        char label[96], buf[4096];
        sweep_label(&pts[i], label, sizeof label);
        if (pts[i].model_entry >= 0) { /* evaluated as it is: load it once for its hash, format and vocabulary */
            if (runner_model_entry(&r, &pts[i], entry_method[i], err)) goto out;
        } else if (sweep_pipeline_options(&pts[i], &po, err)) goto out;
        LinearKind kinds[LIN_COUNT];
        const int nk = model_block_linears(&r.base->cfg, kinds);
        for (int ki = 0; ki < nk && pts[i].model_entry < 0; ki++) {
            const int l = kinds[ki];
            char qerr[QB_ERRLEN];
            if (quant_options_validate(&po.opt, r.base->blocks[0].lin[l].cols, qerr)) {
                snprintf(err, QB_ERRLEN, "%.150s: point '%.80s' on %.40s: %.220s", e->file, label,
                         model_linear_name(&r.base->cfg, (LinearKind)l), qerr);
                goto out;
            }
        }
        if (sweep_canonical(e, &pts[i], buf, sizeof buf)) { snprintf(err, QB_ERRLEN, "point '%.80s': parameters too long", label); goto out; }
        keys[i] = malloc(65);
        canon[i] = strdup(buf);
        if (!keys[i] || !canon[i]) { snprintf(err, QB_ERRLEN, "out of memory"); goto out; }
        sweep_key(r.base->sha256, buf, keys[i]);
    }
    if (runner_prepare_data(&r, tokpath, err)) goto out;
    if (!(r.evals = expected_evals(&r))) { snprintf(err, QB_ERRLEN, "out of memory"); goto out; }

    int in_shard = 0;
    for (int i = 0; i < n; i++) in_shard += sweep_in_shard(&pts[i], o->shard_i, o->shard_n);
    sum->points = in_shard;

    if (o->dry_run) {
        /* read the database only if it exists: a dry run creates nothing */
        if (access(db, F_OK) == 0 && !(r.st = store_open(db, err))) goto out;
        const EvalTokens *tk = r.ppl[0].tk.ids ? &r.ppl[0].tk : &r.agree[0].tk;
        double spt = measure_forward(r.base, tk->ids, tk->n);
        TimeModel tm = {0};
        if (r.st && runner_load_times(&r, &tm, err)) goto out;
        double total = 0;
        int counts[3] = {0, 0, 0};
        FILE *f = o->out ? o->out : stdout;
        fprintf(f, "%-5s %-28s %-8s %-9s %-7s %s\n", "#", "point", "status", "estimate", "basis", "key");
        for (int i = 0; i < n; i++) {
            if (!sweep_in_shard(&pts[i], o->shard_i, o->shard_n)) continue;
            int done = 0, basis = EST_MODEL;
            if (r.st && (done = point_state(&r, keys[i], err)) < 0) goto out;
            char label[96], est[32];
            sweep_label(&pts[i], label, sizeof label);
            double t = done == 1 ? 0 : estimate_point(&r, &pts[i], spt, &tm, &basis);
            if (done != 1) counts[basis]++;
            total += t;
            fmt_secs(t, est, sizeof est);
            fprintf(f, "%-5d %-28s %-8s %-9s %-7s %.16s\n", i, label, done == 1 ? "done" : done ? "re-eval" : "todo",
                    done == 1 ? "-" : est, done == 1 ? "-" : EST_TAG[basis], keys[i]);
            sum->skipped += done == 1;
        }
        char tot[32], why[400];
        fmt_secs(total, tot, sizeof tot);
        basis_text(counts, tm.n_points, why, sizeof why);
        fprintf(f, "%d points in this shard, %d already done; estimated %s for the rest, %s (forward %.2f us/token)\n",
                in_shard, sum->skipped, tot, why, spt * 1e6);
        rc = 0;
        goto out;
    }

    if (!(r.st = store_open(db, err))) goto out;
    char esha[65];
    if (qb_sha256_file(e->file, esha, err)) goto out;
    if (store_upsert_experiment(r.st, e->name, e->file, esha, &r.experiment_id, err)) goto out;
    char ekey[65];
    sweep_eval_key(e, ekey);
    if (store_set_experiment_evals(r.st, r.experiment_id, ekey, r.evals, err)) goto out;

    /* which points are left */
    int todo = 0, reeval = 0;
    for (int i = 0; i < n; i++) {
        if (!sweep_in_shard(&pts[i], o->shard_i, o->shard_n)) continue;
        int d = point_state(&r, keys[i], err);
        if (d < 0) goto out;
        if (d == 1) sum->skipped++;
        else todo++;
        reeval += d == 2;
    }
    char rev[96] = "";
    if (reeval)
        snprintf(rev, sizeof rev, " (%d of them done under other evaluation settings: evaluated again)", reeval);
    runner_progress(&r, "qbench run %s: %d points in this shard, %d done before, %d to run%s -> %s\n", e->name, in_shard,
             sum->skipped, todo, rev, db);
    if (todo > 0 && runner_baselines(&r, err)) goto out;

    int k = 0;
    /* the live ETA: each point left, estimated from the finished ones (database and this run) */
    TimeModel tm = {0};
    if (runner_load_times(&r, &tm, err)) goto out;
    double spt = -1;
    unsigned char *left = calloc((size_t)n + 1, 1);
    if (!left) { snprintf(err, QB_ERRLEN, "out of memory"); goto out; }
    for (int i = 0; i < n; i++) left[i] = sweep_in_shard(&pts[i], o->shard_i, o->shard_n);
    progress_init_stream(&r.bar, o->progress, o->progress && isatty(fileno(o->progress)), "run", todo, "points", !o->progress);
    for (int i = 0; i < n; i++) {
        if (!sweep_in_shard(&pts[i], o->shard_i, o->shard_n)) continue;
        int d = point_state(&r, keys[i], err); /* again: another process may share the DB */
        if (d < 0) goto out;
        if (d == 1) continue;
        r.reevaluate = d == 2;
        k++;
        left[i] = 0;
        char label[96], summary[1024], perr[QB_ERRLEN];
        sweep_label(&pts[i], label, sizeof label);
        StoreRun run = {
            .key = keys[i], .experiment_id = r.experiment_id, .model_path = e->model_path, .model_sha256 = r.base->sha256,
            .method = entry_method[i][0] ? entry_method[i] : sweep_get_str(&pts[i], "method", "?"), .bits = (int)sweep_get_int(&pts[i], "bits", 0),
            .group_size = (int)sweep_get_int(&pts[i], "group_size", -1), .act_order = (int)sweep_get_int(&pts[i], "act_order", 0),
            .sym = (int)sweep_get_int(&pts[i], "sym", 0), .static_groups = (int)sweep_get_int(&pts[i], "static_groups", 0),
            .params_json = canon[i], .host = NULL, .threads = omp_get_max_threads(), .bits_per_weight = NAN,
        };
        runner_progress(&r, "[%d/%d] %s ...\n", k, todo, label);
        if (store_begin_point(r.st, &run, err)) goto out;
        double tp = runner_now();
        if (runner_point(&r, &pts[i], &run, summary, sizeof summary, perr)) {
            /* another process sharing this database may have finished the same point meanwhile: its
             * result stands, and must not be marked failed */
            int other = point_state(&r, keys[i], err);
            if (other < 0) goto out;
            if (other == 1) {
                sum->skipped++;
                runner_progress(&r, "[%d/%d] %s finished by another process\n", k, todo, label);
                continue;
            }
            sum->failed++;
            runner_progress(&r, "[%d/%d] %s FAILED: %s\n", k, todo, label, perr);
            if (store_fail_point(r.st, &run, perr, err)) goto out;
        } else {
            sum->done++;
            tm_add(&tm, run.method, run.bits, run.seconds_calibration + run.seconds_quantize + run.seconds_eval);
            double eta = 0;
            int counts[3] = {0, 0, 0};
            for (int j = i + 1; j < n; j++) {
                if (!left[j]) continue;
                int basis = EST_MODEL;
                if (spt < 0) { /* the cost model needs the forward speed: measured once, when first needed */
                    const EvalTokens *tk = r.ppl[0].tk.ids ? &r.ppl[0].tk : &r.agree[0].tk;
                    spt = measure_forward(r.base, tk->ids, tk->n);
                }
                eta += estimate_point(&r, &pts[j], spt, &tm, &basis);
                counts[basis]++;
            }
            char ets[32], pts_s[32], why[400];
            fmt_secs(eta, ets, sizeof ets);
            fmt_secs(runner_now() - tp, pts_s, sizeof pts_s);
            basis_text(counts, tm.n_points, why, sizeof why);
            r.bar.eta = eta;
            runner_progress(&r, "[%d/%d] %s done in %s (ETA %s %s):%s\n", k, todo, label, pts_s, ets, why, summary);
        }
        progress_update(&r.bar, k);
    }
    if (todo > 0) progress_finish(&r.bar);
    free(left);
    rc = 0;
out:
    for (int i = 0; i < n && keys; i++) free(keys[i]);
    for (int i = 0; i < n && canon; i++) free(canon[i]);
    free(keys);
    free(canon);
    free(entry_method);
    free(pts);
    runner_free(&r);
    return rc;
}
