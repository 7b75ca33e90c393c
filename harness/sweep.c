/* sweep.c — expands an experiment's axes into points, and names each point stably (canonical JSON,
 * sha256 key) so a rerun, another shard or a merge recognises the same work. See sweep.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/sweep.h"

/* Parameters that always appear in the canonical form, with their defaults. */
static int default_value(const char *name, ParamValue *v) {
    memset(v, 0, sizeof *v);
    if (!strcmp(name, "group_size")) { v->type = PV_INT; v->i = -1; return 0; }
    if (!strcmp(name, "act_order") || !strcmp(name, "sym") || !strcmp(name, "static_groups")) {
        v->type = PV_BOOL; v->i = 0; return 0;
    }
    if (!strcmp(name, "true_sequential")) { v->type = PV_BOOL; v->i = 1; return 0; }
    return -1;
}

int sweep_expand(const Experiment *e, SweepPoint **pts, int *n, char err[QB_ERRLEN]) {
    *pts = NULL;
    *n = 0;
    size_t total = 1;
    for (int a = 0; a < e->n_axes; a++) {
        total *= (size_t)e->axes[a].n_values;
        /* a point is ~2 KB; a sweep of more than 10000 points is a typo, not a plan */
        if (total > 10000) { snprintf(err, QB_ERRLEN, "%.200s:%d: sweep: more than 10000 points", e->file, e->axes[a].line); return -1; }
    }
    SweepPoint *out = malloc((total + (size_t)e->n_models) * sizeof *out);
    if (!out) { snprintf(err, QB_ERRLEN, "%.200s: sweep: out of memory", e->file); return -1; }
    int count = 0;
    for (size_t t = 0; t < total; t++) {
        SweepPoint p;
        memset(&p, 0, sizeof p);
        for (int f = 0; f < e->n_fixed; f++) {
            int i = param_index(e->fixed[f].name);
            p.v[i] = e->fixed[f].value;
            p.has[i] = 1;
            p.line[i] = e->fixed[f].line;
        }
        /* mixed radix, last axis fastest: the first axis varies slowest, as written */
        size_t r = t;
        for (int a = e->n_axes - 1; a >= 0; a--) {
            const SweepAxis *ax = &e->axes[a];
            int i = param_index(ax->name);
            p.v[i] = ax->values[r % (size_t)ax->n_values];
            p.has[i] = 1;
            p.line[i] = ax->line;
            r /= (size_t)ax->n_values;
        }
        p.model_entry = -1;
        int excluded = 0;
        for (int x = 0; x < e->n_exclude && !excluded; x++) excluded = sweep_matches(&p, &e->exclude[x]);
        if (excluded) continue;
        p.index = count;
        out[count++] = p;
    }
    for (int k = 0; k < e->n_models; k++) {
        SweepPoint p;
        memset(&p, 0, sizeof p);
        p.model_entry = k;
        snprintf(p.model_label, sizeof p.model_label, "%s", e->models[k].label);
        p.index = count;
        out[count++] = p;
    }
    *pts = out;
    *n = count;
    return 0;
}

int sweep_get(const SweepPoint *p, const char *name, ParamValue *out) {
    int i = param_index(name);
    if (i < 0) return -1;
    if (p->has[i]) { *out = p->v[i]; return 0; }
    return default_value(name, out);
}

long sweep_get_int(const SweepPoint *p, const char *name, long dflt) {
    ParamValue v;
    if (sweep_get(p, name, &v) || (v.type != PV_INT && v.type != PV_BOOL)) return dflt;
    return v.i;
}

double sweep_get_float(const SweepPoint *p, const char *name, double dflt) {
    ParamValue v;
    if (sweep_get(p, name, &v)) return dflt;
    if (v.type == PV_FLOAT) return v.f;
    if (v.type == PV_INT) return (double)v.i;
    return dflt;
}

const char *sweep_get_str(const SweepPoint *p, const char *name, const char *dflt) {
    int i = param_index(name);
    if (i < 0 || !p->has[i] || p->v[i].type != PV_STR) return dflt;
    return p->v[i].s;
}

int sweep_matches(const SweepPoint *p, const ParamMatch *m) {
    for (int k = 0; k < m->n; k++) {
        ParamValue v;
        if (sweep_get(p, m->p[k].name, &v)) return 0;
        /* a float parameter written as an integer in a filter still matches (damp: 0 vs 0.0) */
        if (v.type == PV_FLOAT && m->p[k].value.type == PV_FLOAT) {
            if (v.f != m->p[k].value.f) return 0;
        } else if (!param_value_equal(&v, &m->p[k].value)) return 0;
    }
    return 1;
}

int sweep_needs_calibration(const SweepPoint *p) {
    if (p->model_entry >= 0) return 0;
    const char *m = sweep_get_str(p, "method", "");
    return !strcmp(m, "gptq") || !strcmp(m, "gptqt");
}

long sweep_high_bits(const SweepPoint *p) {
    const char *m = sweep_get_str(p, "method", "");
    if (strcmp(m, "gptqt") && strcmp(m, "rtnt")) return 0;
    long bits = sweep_get_int(p, "bits", 0);
    ParamValue hb;
    int set = !sweep_get(p, "high_bits", &hb);
    if (set && !hb.relative) return hb.i;
    long high = bits + (set ? hb.i : 1);
    return high > 8 ? 8 : high;
}

int sweep_pipeline_options(const SweepPoint *p, PipelineOptions *po, char err[QB_ERRLEN]) {
    memset(po, 0, sizeof *po);
    QuantMethod m;
    const char *ms = sweep_get_str(p, "method", NULL);
    if (!ms || quant_method_parse(ms, &m)) {
        snprintf(err, QB_ERRLEN, "point %d: unknown or missing method", p->index);
        return -1;
    }
    long bits = sweep_get_int(p, "bits", 0);
    QuantOptions *o = &po->opt;
    quant_options_default(o, m, (int)bits);
    o->group_size = (int)sweep_get_int(p, "group_size", -1);
    o->act_order = (int)sweep_get_int(p, "act_order", 0);
    o->sym = (int)sweep_get_int(p, "sym", 0);
    o->static_groups = (int)sweep_get_int(p, "static_groups", 0);
    o->mse = (int)sweep_get_int(p, "mse", 0);
    o->mse_norm = (float)sweep_get_float(p, "mse_norm", o->mse_norm);
    o->mse_grid = (int)sweep_get_int(p, "mse_grid", o->mse_grid);
    o->mse_maxshrink = (float)sweep_get_float(p, "mse_maxshrink", o->mse_maxshrink);
    o->percdamp = (float)sweep_get_float(p, "damp", o->percdamp);
    o->blocksize = (int)sweep_get_int(p, "blocksize", o->blocksize);
    o->high_bits = (int)sweep_high_bits(p);
    o->reexplore_lo = (float)sweep_get_float(p, "reexplore_lo", o->reexplore_lo);
    o->reexplore_hi = (float)sweep_get_float(p, "reexplore_hi", o->reexplore_hi);
    o->reexplore_steps = (int)sweep_get_int(p, "reexplore_steps", o->reexplore_steps);
    o->bcq_iters = (int)sweep_get_int(p, "bcq_iters", o->bcq_iters);
    const char *s = sweep_get_str(p, "objective", NULL);
    if (s) o->objective = !strcmp(s, "hdiag") ? QT_OBJ_HDIAG : !strcmp(s, "output") ? QT_OBJ_OUTPUT : QT_OBJ_WEIGHT;
    s = sweep_get_str(p, "variant", NULL);
    if (s) o->variant = !strcmp(s, "twopass") ? QT_VARIANT_TWOPASS : QT_VARIANT_MERGED;
    s = sweep_get_str(p, "bcq_solver", NULL);
    if (s) o->bcq_solver = !strcmp(s, "greedy") ? BCQ_GREEDY : !strcmp(s, "refined") ? BCQ_REFINED : BCQ_ALTERNATING;
    o->bcq_rounds = (int)sweep_get_int(p, "bcq_rounds", o->bcq_rounds);
    po->true_sequential = (int)sweep_get_int(p, "true_sequential", 1);
    po->quantize_head = (int)sweep_get_int(p, "quantize_head", 0);
    return 0;
}

/* Appends with bounds; returns -1 once out of room. */
static int put(char *out, size_t outlen, size_t *pos, const char *s) {
    size_t n = strlen(s);
    if (*pos + n + 1 > outlen) return -1;
    memcpy(out + *pos, s, n + 1);
    *pos += n;
    return 0;
}

static void json_string(const char *s, char *out, size_t outlen) {
    size_t o = 0;
    if (outlen < 3) { if (outlen) out[0] = 0; return; }
    out[o++] = '"';
    for (; *s && o + 8 < outlen; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { out[o++] = '\\'; out[o++] = (char)ch; }
        else if (ch < 0x20) o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", ch);
        else out[o++] = (char)ch;
    }
    out[o++] = '"';
    out[o] = 0;
}

int sweep_canonical(const Experiment *e, const SweepPoint *p, char *out, size_t outlen) {
    size_t pos = 0;
    int first = 1;
    char val[1100], item[1200];
    if (p->model_entry >= 0) {
        const ModelEntry *me = &e->models[p->model_entry];
        char lab[200];
        json_string(me->path, val, sizeof val);
        json_string(me->label, lab, sizeof lab);
        if (put(out, outlen, &pos, "{\"model\":{\"path\":") || put(out, outlen, &pos, val) ||
            put(out, outlen, &pos, ",\"label\":") || put(out, outlen, &pos, lab) || put(out, outlen, &pos, ",\"sha256\":\"") ||
            put(out, outlen, &pos, p->model_sha256) || put(out, outlen, &pos, "\"}}"))
            return -1;
        return 0;
    }
    json_string(e->name, val, sizeof val);
    snprintf(item, sizeof item, "{\"experiment\":%s,\"params\":{", val);
    if (put(out, outlen, &pos, item)) return -1;
    for (int i = 0; i < param_count(); i++) {
        ParamValue v;
        if (sweep_get(p, param_name(i), &v)) continue;
        char raw[64];
        param_value_str(&v, raw, sizeof raw);
        if (v.type == PV_STR || (v.type == PV_INT && v.relative)) json_string(raw, val, sizeof val);
        else snprintf(val, sizeof val, "%s", raw);
        snprintf(item, sizeof item, "%s\"%s\":%s", first ? "" : ",", param_name(i), val);
        if (put(out, outlen, &pos, item)) return -1;
        first = 0;
    }
    QuantMethod qm;
    int version = quant_method_parse(sweep_get_str(p, "method", ""), &qm) ? 0 : quant_algorithm_version(qm);
    snprintf(item, sizeof item, "},\"quantizer_version\":%d", version);
    if (put(out, outlen, &pos, item)) return -1;
    if (sweep_needs_calibration(p)) {
        json_string(e->calibration.dataset, val, sizeof val);
        snprintf(item, sizeof item, ",\"calibration\":{\"dataset\":%s,\"samples\":%d,\"seqlen\":%d,\"seed\":%llu}", val,
                 e->calibration.samples, e->calibration.seqlen, (unsigned long long)e->calibration.seed);
        if (put(out, outlen, &pos, item)) return -1;
    }
    return put(out, outlen, &pos, "}");
}

void sweep_key(const char *model_sha256, const char *canonical, char key[65]) {
    size_t a = strlen(model_sha256), b = strlen(canonical);
    char *buf = malloc(a + b + 2);
    if (!buf) { /* cannot happen in practice; a fixed fallback keeps the key deterministic */
        qb_sha256_hex(canonical, b, key);
        return;
    }
    memcpy(buf, model_sha256, a);
    buf[a] = '\n';
    memcpy(buf + a + 1, canonical, b + 1);
    qb_sha256_hex(buf, a + 1 + b, key);
    free(buf);
}

void sweep_eval_key(const Experiment *e, char key[65]) {
    char buf[8192];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "model %s\ntokenizer %s\n", e->model_path, e->tokenizer_path);
    for (int i = 0; i < e->n_ppl && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "ppl %s %d %d %d %d\n", e->ppl[i].dataset, (int)e->ppl[i].mode,
                              e->ppl[i].seqlen, e->ppl[i].stride, e->ppl[i].max_windows);
    for (int i = 0; i < e->n_agree && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "agree %s %d %d\n", e->agree[i].dataset, e->agree[i].seqlen,
                              e->agree[i].windows);
    for (int i = 0; i < e->n_gen && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "gen %s %d %d %d %d\n", e->gen[i].task, e->gen[i].prompts,
                              e->gen[i].max_new_tokens, e->gen[i].metrics, e->gen[i].against);
    for (int i = 0; i < e->n_task && n < sizeof buf; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "task %s %d %d %d\n", e->task[i].task, e->task[i].limit,
                              e->task[i].max_length, e->task[i].bootstrap_iters);
    qb_sha256_hex(buf, n < sizeof buf ? n : sizeof buf - 1, key);
}

void sweep_label(const SweepPoint *p, char *out, size_t outlen) {
    if (p->model_entry >= 0) { snprintf(out, outlen, "model %s", p->model_label); return; }
    long g = sweep_get_int(p, "group_size", -1);
    char gs[24];
    if (g < 0) snprintf(gs, sizeof gs, "row");
    else snprintf(gs, sizeof gs, "g%ld", g);
    snprintf(out, outlen, "%s w%ld %s%s%s%s", sweep_get_str(p, "method", "?"), sweep_get_int(p, "bits", 0), gs,
             sweep_get_int(p, "act_order", 0) ? " act" : "", sweep_get_int(p, "sym", 0) ? " sym" : "",
             sweep_get_int(p, "static_groups", 0) ? " static" : "");
}

int sweep_parse_shard(const char *s, int *i, int *n, char err[QB_ERRLEN]) {
    long a, b;
    char *end;
    if (!s) goto bad;
    a = strtol(s, &end, 10);
    if (end == s || *end != '/') goto bad;
    const char *t = end + 1;
    b = strtol(t, &end, 10);
    if (end == t || *end) goto bad;
    if (b < 1 || b > 100000 || a < 0 || a >= b) {
        snprintf(err, QB_ERRLEN, "--shard %.40s: need 0 <= i < n (n >= 1)", s);
        return -1;
    }
    *i = (int)a;
    *n = (int)b;
    return 0;
bad:
    snprintf(err, QB_ERRLEN, "--shard %.40s: expected i/n, e.g. 0/4", s ? s : "(missing)");
    return -1;
}

int sweep_in_shard(const SweepPoint *p, int shard_i, int shard_n) {
    return shard_n <= 1 || p->index % shard_n == shard_i;
}
