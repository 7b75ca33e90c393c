/* config.c — parses and validates experiment files (schema in config.h). libyaml loads the file
 * into a node tree (so every node knows its line); we walk it once, rejecting unknown keys,
 * duplicate keys, wrong types and impossible values, then expand the sweep and check every point's
 * parameter combination. Every message is "file:line: key.path: what is wrong". */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "datasets/datasets.h"
#include "datasets/tasks.h"
#include "harness/config.h"
#include "harness/sweep.h"
#include "quant/quant.h"

/* ---- parameters ------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    ParamType type;
    double lo, hi;        /* inclusive range for numbers */
    const char *choices;  /* "|a|b|c|" for strings */
} ParamDef;

/* Canonical order: the order of this table. */
static const ParamDef PARAMS[] = {
    {"method", PV_STR, 0, 0, "|rtn|gptq|gptqt|rtnt|bcq|"},
    {"bits", PV_INT, 2, 8, NULL},
    {"group_size", PV_INT, -1, 1 << 20, NULL},
    {"act_order", PV_BOOL, 0, 1, NULL},
    {"sym", PV_BOOL, 0, 1, NULL},
    {"static_groups", PV_BOOL, 0, 1, NULL},
    {"true_sequential", PV_BOOL, 0, 1, NULL},
    {"damp", PV_FLOAT, 1e-9, 1, NULL},
    {"mse", PV_BOOL, 0, 1, NULL},
    {"mse_norm", PV_FLOAT, 0.1, 100, NULL},
    {"mse_grid", PV_INT, 1, 10000, NULL},
    {"mse_maxshrink", PV_FLOAT, 0.01, 1, NULL},
    {"blocksize", PV_INT, 1, 1 << 20, NULL},
    {"high_bits", PV_INT, 3, 8, NULL},
    {"reexplore_lo", PV_FLOAT, 1e-3, 100, NULL},
    {"reexplore_hi", PV_FLOAT, 1e-3, 100, NULL},
    {"reexplore_steps", PV_INT, 1, 10000, NULL},
    {"bcq_iters", PV_INT, 1, 10000, NULL},
    {"objective", PV_STR, 0, 0, "|weight|hdiag|output|"},
    {"variant", PV_STR, 0, 0, "|merged|twopass|"},
    {"bcq_solver", PV_STR, 0, 0, "|greedy|refined|alternating|"},
    {"bcq_rounds", PV_INT, 1, 10000, NULL},
    {"quantize_head", PV_BOOL, 0, 1, NULL}, /* last: canonical keys of existing points stay as they were */
};
#define N_PARAMS ((int)(sizeof PARAMS / sizeof PARAMS[0]))
_Static_assert(N_PARAMS <= CFG_MAX_PARAMS, "raise CFG_MAX_PARAMS");

int param_count(void) { return N_PARAMS; }
const char *param_name(int idx) { return idx >= 0 && idx < N_PARAMS ? PARAMS[idx].name : NULL; }
int param_index(const char *name) {
    for (int i = 0; i < N_PARAMS; i++)
        if (!strcmp(PARAMS[i].name, name)) return i;
    return -1;
}

void param_value_str(const ParamValue *v, char *out, size_t outlen) {
    switch (v->type) {
    case PV_INT:
        if (v->relative) snprintf(out, outlen, "%+ld", v->i);
        else snprintf(out, outlen, "%ld", v->i);
        break;
    case PV_BOOL: snprintf(out, outlen, "%s", v->i ? "true" : "false"); break;
    case PV_FLOAT: snprintf(out, outlen, "%.17g", v->f); break;
    case PV_STR: snprintf(out, outlen, "%s", v->s); break;
    }
}

int param_value_equal(const ParamValue *a, const ParamValue *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case PV_INT: return a->i == b->i && a->relative == b->relative;
    case PV_BOOL: return a->i == b->i;
    case PV_FLOAT: return a->f == b->f;
    case PV_STR: return !strcmp(a->s, b->s);
    }
    return 0;
}

/* ---- the walker ------------------------------------------------------------------------------- */

typedef struct {
    yaml_document_t *doc;
    const char *file;
    char *err;
} Ctx;

static int line_of(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

static int fail(Ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...) {
    char msg[QB_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, QB_ERRLEN, "%.150s:%d: %.60s: %.280s", c->file, line_of(n), key, msg);
    return -1;
}

static yaml_node_t *node(Ctx *c, int idx) { return yaml_document_get_node(c->doc, idx); }

static const char *scalar(const yaml_node_t *n) {
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *type_name(const yaml_node_t *n) {
    if (!n) return "nothing";
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static int want_map(Ctx *c, const yaml_node_t *n, const char *key) {
    if (!n || n->type != YAML_MAPPING_NODE) return fail(c, n, key, "expected a mapping, got %s", type_name(n));
    /* duplicate keys: libyaml keeps both; a later one silently winning would hide a typo */
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++)
        for (yaml_node_pair_t *b = a + 1; b < n->data.mapping.pairs.top; b++) {
            const char *ka = scalar(node(c, a->key)), *kb = scalar(node(c, b->key));
            if (ka && kb && !strcmp(ka, kb)) return fail(c, node(c, b->key), key, "duplicate key '%s'", kb);
        }
    for (yaml_node_pair_t *a = n->data.mapping.pairs.start; a < n->data.mapping.pairs.top; a++)
        if (!scalar(node(c, a->key))) return fail(c, node(c, a->key), key, "keys must be plain names");
    return 0;
}

static int want_seq(Ctx *c, const yaml_node_t *n, const char *key) {
    if (!n || n->type != YAML_SEQUENCE_NODE) return fail(c, n, key, "expected a list, got %s", type_name(n));
    return 0;
}

static int get_str(Ctx *c, const yaml_node_t *n, const char *key, char *out, size_t outlen) {
    const char *s = scalar(n);
    if (!s) return fail(c, n, key, "expected a string, got %s", type_name(n));
    if (!*s) return fail(c, n, key, "empty string");
    if (strlen(s) >= outlen) return fail(c, n, key, "too long (%zu bytes, at most %zu)", strlen(s), outlen - 1);
    snprintf(out, outlen, "%s", s);
    return 0;
}

static int parse_long(const char *s, long *v) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end) return -1;
    *v = x;
    return 0;
}

static int parse_double(const char *s, double *v) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || *end || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

static int parse_bool(const char *s, long *v) {
    if (!s) return -1;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "yes")) { *v = 1; return 0; }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "no")) { *v = 0; return 0; }
    return -1;
}

static int get_int(Ctx *c, const yaml_node_t *n, const char *key, long lo, long hi, long *out) {
    const char *s = scalar(n);
    long v;
    if (!s) return fail(c, n, key, "expected an integer, got %s", type_name(n));
    if (parse_long(s, &v)) return fail(c, n, key, "expected an integer, got '%s'", s);
    if (v < lo || v > hi) return fail(c, n, key, "%ld is not in %ld..%ld", v, lo, hi);
    *out = v;
    return 0;
}

static int get_int32(Ctx *c, const yaml_node_t *n, const char *key, long lo, long hi, int *out) {
    long v;
    if (get_int(c, n, key, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

static int get_double(Ctx *c, const yaml_node_t *n, const char *key, double *out) {
    const char *s = scalar(n);
    if (!s) return fail(c, n, key, "expected a number, got %s", type_name(n));
    if (parse_double(s, out)) return fail(c, n, key, "expected a number, got '%s'", s);
    return 0;
}

/* One parameter value (sweep list element, fixed value, exclude/where value). */
static int get_param(Ctx *c, const yaml_node_t *n, const char *key, int pidx, ParamValue *v) {
    const ParamDef *d = &PARAMS[pidx];
    const char *s = scalar(n);
    memset(v, 0, sizeof *v);
    v->type = d->type;
    if (!s) return fail(c, n, key, "expected a single value, got %s", type_name(n));
    switch (d->type) {
    case PV_INT:
        if (!strcmp(d->name, "high_bits") && s[0] == '+') { /* relative to bits */
            if (parse_long(s + 1, &v->i) || v->i < 1 || v->i > 6)
                return fail(c, n, key, "expected an integer 3..8 or +1..+6 (relative to bits), got '%s'", s);
            v->relative = 1;
            return 0;
        }
        if (parse_long(s, &v->i)) return fail(c, n, key, "expected an integer, got '%s'", s);
        if (v->i < (long)d->lo || v->i > (long)d->hi)
            return fail(c, n, key, "%ld is not in %ld..%ld", v->i, (long)d->lo, (long)d->hi);
        if (!strcmp(d->name, "group_size") && v->i == 0)
            return fail(c, n, key, "0 is not a group size (use -1 for one group per row)");
        return 0;
    case PV_FLOAT:
        if (parse_double(s, &v->f)) return fail(c, n, key, "expected a number, got '%s'", s);
        if (v->f < d->lo || v->f > d->hi) return fail(c, n, key, "%g is not in %g..%g", v->f, d->lo, d->hi);
        return 0;
    case PV_BOOL:
        if (parse_bool(s, &v->i)) return fail(c, n, key, "expected true or false, got '%s'", s);
        return 0;
    case PV_STR: {
        char pat[40];
        snprintf(pat, sizeof pat, "|%.36s|", s);
        if (strlen(s) >= sizeof v->s || !strstr(d->choices, pat))
            return fail(c, n, key, "'%s' is not one of %s", s, d->choices);
        snprintf(v->s, sizeof v->s, "%s", s);
        return 0;
    }
    }
    return 0;
}

static int unknown_key(Ctx *c, const yaml_node_t *k, const char *section, const char *allowed) {
    return fail(c, k, section, "unknown key '%s' (expected one of: %s)", scalar(k), allowed);
}

/* ---- sections --------------------------------------------------------------------------------- */

static int parse_model(Ctx *c, yaml_node_t *n, Experiment *e) {
    if (want_map(c, n, "model")) return -1;
    for (yaml_node_pair_t *pair_k = n->data.mapping.pairs.start; pair_k < n->data.mapping.pairs.top; pair_k++) {
        yaml_node_t *kn = node(c, pair_k->key), *vn = node(c, pair_k->value);
        const char *k = scalar(kn); /* want_map() checked keys are scalars */
        if (!strcmp(k, "path")) { if (get_str(c, vn, "model.path", e->model_path, sizeof e->model_path)) return -1; }
        else if (!strcmp(k, "tokenizer")) {
            if (get_str(c, vn, "model.tokenizer", e->tokenizer_path, sizeof e->tokenizer_path)) return -1;
        } else return unknown_key(c, kn, "model", "path, tokenizer");
    }
    if (!e->model_path[0]) return fail(c, n, "model.path", "required");
    return 0;
}

/* models: [PATH | {path: PATH, label: NAME}, ...] — each path must exist now. */
static int parse_models(Ctx *c, yaml_node_t *n, Experiment *e) {
    if (want_seq(c, n, "models")) return -1;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *en = node(c, *it);
        if (e->n_models == CFG_MAX_MODELS) return fail(c, en, "models", "more than %d entries", CFG_MAX_MODELS);
        ModelEntry *me = &e->models[e->n_models];
        memset(me, 0, sizeof *me);
        me->line = line_of(en);
        if (scalar(en)) {
            if (get_str(c, en, "models", me->path, sizeof me->path)) return -1;
        } else {
            if (want_map(c, en, "models")) return -1;
            for (yaml_node_pair_t *pk = en->data.mapping.pairs.start; pk < en->data.mapping.pairs.top; pk++) {
                yaml_node_t *kn = node(c, pk->key), *vn = node(c, pk->value);
                const char *k = scalar(kn);
                if (!strcmp(k, "path")) { if (get_str(c, vn, "models.path", me->path, sizeof me->path)) return -1; }
                else if (!strcmp(k, "label")) { if (get_str(c, vn, "models.label", me->label, sizeof me->label)) return -1; }
                else return unknown_key(c, kn, "models", "path, label");
            }
            if (!me->path[0]) return fail(c, en, "models.path", "required");
        }
        struct stat st;
        if (stat(me->path, &st) != 0) return fail(c, en, "models", "'%s': %s", me->path, strerror(errno));
        if (!me->label[0]) {
            char tmp[CFG_PATH];
            snprintf(tmp, sizeof tmp, "%s", me->path);
            size_t l = strlen(tmp);
            while (l > 1 && tmp[l - 1] == '/') tmp[--l] = 0;
            const char *b = strrchr(tmp, '/');
            snprintf(me->label, sizeof me->label, "%.63s", b ? b + 1 : tmp);
        }
        for (int i = 0; i < e->n_models; i++)
            if (!strcmp(e->models[i].label, me->label))
                return fail(c, en, "models.label", "'%s' is used twice (give each entry its own label)", me->label);
        e->n_models++;
    }
    return 0;
}

static int parse_calibration(Ctx *c, yaml_node_t *n, Experiment *e) {
    if (want_map(c, n, "calibration")) return -1;
    for (yaml_node_pair_t *pair_k = n->data.mapping.pairs.start; pair_k < n->data.mapping.pairs.top; pair_k++) {
        yaml_node_t *kn = node(c, pair_k->key), *vn = node(c, pair_k->value);
        const char *k = scalar(kn); /* want_map() checked keys are scalars */
        if (!strcmp(k, "dataset")) {
            if (get_str(c, vn, "calibration.dataset", e->calibration.dataset, sizeof e->calibration.dataset)) return -1;
            char derr[QB_ERRLEN];
            if (dataset_check(e->calibration.dataset, derr)) return fail(c, vn, "calibration.dataset", "%s", derr);
        } else if (!strcmp(k, "samples")) {
            if (get_int32(c, vn, "calibration.samples", 1, 1 << 20, &e->calibration.samples)) return -1;
        } else if (!strcmp(k, "seqlen")) {
            if (get_int32(c, vn, "calibration.seqlen", 2, 1 << 20, &e->calibration.seqlen)) return -1;
        } else if (!strcmp(k, "seed")) {
            long v;
            if (get_int(c, vn, "calibration.seed", 0, 0x7fffffffffffffffL, &v)) return -1;
            e->calibration.seed = (uint64_t)v;
        } else return unknown_key(c, kn, "calibration", "dataset, samples, seqlen, seed");
    }
    return 0;
}

/* Registers a parameter as set (fixed or swept) once only. */
static int claim_param(Ctx *c, yaml_node_t *kn, const char *section, const char *name, unsigned char *seen) {
    int p = param_index(name);
    if (p < 0) {
        char allowed[600] = "";
        for (int i = 0; i < N_PARAMS; i++) {
            strncat(allowed, PARAMS[i].name, sizeof allowed - strlen(allowed) - 1);
            if (i + 1 < N_PARAMS) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
        }
        return unknown_key(c, kn, section, allowed);
    }
    if (seen[p]) return fail(c, kn, section, "'%s' is set twice (in sweep and fixed, or twice)", name);
    seen[p] = 1;
    return p;
}

static int parse_match(Ctx *c, yaml_node_t *n, const char *key, ParamMatch *m) {
    if (want_map(c, n, key)) return -1;
    m->line = line_of(n);
    for (yaml_node_pair_t *pair_k = n->data.mapping.pairs.start; pair_k < n->data.mapping.pairs.top; pair_k++) {
        yaml_node_t *kn = node(c, pair_k->key), *vn = node(c, pair_k->value);
        const char *k = scalar(kn); /* want_map() checked keys are scalars */
        int p = param_index(k);
        char path[128];
        snprintf(path, sizeof path, "%.60s.%.60s", key, k);
        if (p < 0) return fail(c, kn, key, "unknown parameter '%s'", k);
        if (m->n >= CFG_MAX_PARAMS) return fail(c, kn, key, "too many parameters");
        ParamSetting *s = &m->p[m->n++];
        snprintf(s->name, sizeof s->name, "%s", k);
        s->line = line_of(vn);
        if (get_param(c, vn, path, p, &s->value)) return -1;
    }
    if (m->n == 0) return fail(c, n, key, "empty filter");
    return 0;
}

static int parse_param_map(Ctx *c, yaml_node_t *n, const char *section, Experiment *e, unsigned char *seen,
                           int is_sweep);

static int add_fixed(Ctx *c, yaml_node_t *kn, yaml_node_t *vn, const char *section, const char *k, Experiment *e,
                     unsigned char *seen) {
    int p = claim_param(c, kn, section, k, seen);
    if (p < 0) return -1;
    char path[128];
    snprintf(path, sizeof path, "%.60s.%.60s", section, k);
    ParamSetting *s = &e->fixed[e->n_fixed++];
    snprintf(s->name, sizeof s->name, "%s", k);
    s->line = line_of(vn);
    return get_param(c, vn, path, p, &s->value);
}

static int add_axis(Ctx *c, yaml_node_t *kn, yaml_node_t *vn, const char *section, const char *k, Experiment *e,
                    unsigned char *seen) {
    int p = claim_param(c, kn, section, k, seen);
    if (p < 0) return -1;
    char path[128];
    snprintf(path, sizeof path, "%.60s.%.60s", section, k);
    SweepAxis *a = &e->axes[e->n_axes++];
    snprintf(a->name, sizeof a->name, "%s", k);
    a->line = line_of(vn);
    if (vn->type == YAML_SCALAR_NODE) { /* a single value is an axis of one */
        a->n_values = 1;
        return get_param(c, vn, path, p, &a->values[0]);
    }
    if (want_seq(c, vn, path)) return -1;
    for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
        yaml_node_t *v = node(c, *it);
        if (a->n_values >= CFG_MAX_VALUES) return fail(c, v, path, "more than %d values", CFG_MAX_VALUES);
        ParamValue pv;
        if (get_param(c, v, path, p, &pv)) return -1;
        for (int j = 0; j < a->n_values; j++)
            if (param_value_equal(&a->values[j], &pv)) return fail(c, v, path, "value '%s' listed twice", scalar(v));
        a->values[a->n_values++] = pv;
    }
    if (a->n_values == 0) return fail(c, vn, path, "empty list (the sweep would have no points)");
    return 0;
}

static int parse_param_map(Ctx *c, yaml_node_t *n, const char *section, Experiment *e, unsigned char *seen,
                           int is_sweep) {
    if (want_map(c, n, section)) return -1;
    for (yaml_node_pair_t *pair_k = n->data.mapping.pairs.start; pair_k < n->data.mapping.pairs.top; pair_k++) {
        yaml_node_t *kn = node(c, pair_k->key), *vn = node(c, pair_k->value);
        const char *k = scalar(kn); /* want_map() checked keys are scalars */
        if (is_sweep && !strcmp(section, "sweep") && !strcmp(k, "exclude")) {
            if (want_seq(c, vn, "sweep.exclude")) return -1;
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
                if (e->n_exclude >= CFG_MAX_EXCLUDE) return fail(c, vn, "sweep.exclude", "too many entries");
                if (parse_match(c, node(c, *it), "sweep.exclude", &e->exclude[e->n_exclude++])) return -1;
            }
            continue;
        }
        if (!strcmp(k, "gptqt") && (!strcmp(section, "sweep") || !strcmp(section, "fixed"))) {
            char sub[32];
            snprintf(sub, sizeof sub, "%s.gptqt", section);
            if (parse_param_map(c, vn, sub, e, seen, is_sweep)) return -1;
            continue;
        }
        if ((is_sweep ? add_axis : add_fixed)(c, kn, vn, section, k, e, seen)) return -1;
    }
    return 0;
}

static int parse_mode(Ctx *c, yaml_node_t *n, const char *key, PplMode *m) {
    const char *s = scalar(n);
    if (s && !strcmp(s, "gptq")) *m = PPL_GPTQ;
    else if (s && !strcmp(s, "llamacpp")) *m = PPL_LLAMACPP;
    else if (s && !strcmp(s, "stride")) *m = PPL_STRIDE;
    else return fail(c, n, key, "expected gptq, llamacpp or stride, got %s", s ? s : type_name(n));
    return 0;
}

static int parse_names(Ctx *c, yaml_node_t *n, const char *key, const char *const *names, int *bits) {
    if (want_seq(c, n, key)) return -1;
    *bits = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *v = node(c, *it);
        const char *s = scalar(v);
        int found = -1;
        for (int i = 0; names[i] && s; i++)
            if (!strcmp(names[i], s)) found = i;
        if (found < 0) return fail(c, v, key, "unknown value '%s'", s ? s : type_name(v));
        *bits |= 1 << found;
    }
    if (!*bits) return fail(c, n, key, "empty list");
    return 0;
}

static const char *const GEN_METRICS[] = {"chrf", "chrf++", "meteor", NULL};
static const char *const AGAINST[] = {"reference", "baseline", NULL};

static int parse_eval(Ctx *c, yaml_node_t *n, Experiment *e) {
    if (want_map(c, n, "eval")) return -1;
    char derr[QB_ERRLEN];
    for (yaml_node_pair_t *pair_k = n->data.mapping.pairs.start; pair_k < n->data.mapping.pairs.top; pair_k++) {
        yaml_node_t *kn = node(c, pair_k->key), *vn = node(c, pair_k->value);
        const char *k = scalar(kn); /* want_map() checked keys are scalars */
        if (!strcmp(k, "seed")) {
            long v;
            if (get_int(c, vn, "eval.seed", 0, 0x7fffffffffffffffL, &v)) return -1;
            e->eval_seed = (uint64_t)v;
            continue;
        }
        int kind = !strcmp(k, "perplexity") ? 0 : !strcmp(k, "generation") ? 1 : !strcmp(k, "agreement") ? 2
                 : !strcmp(k, "tasks") ? 3 : -1;
        if (kind < 0) return unknown_key(c, kn, "eval", "perplexity, generation, agreement, tasks, seed");
        char key[32];
        snprintf(key, sizeof key, "eval.%s", k);
        if (want_seq(c, vn, key)) return -1;
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top; it++) {
            yaml_node_t *en = node(c, *it);
            if (want_map(c, en, key)) return -1;
            if (kind == 0) {
                if (e->n_ppl >= CFG_MAX_EVAL) return fail(c, en, key, "more than %d entries", CFG_MAX_EVAL);
                PplEval *p = &e->ppl[e->n_ppl++];
                *p = (PplEval){.mode = PPL_GPTQ, .seqlen = 256, .line = line_of(en)};
                for (yaml_node_pair_t *pair_f = en->data.mapping.pairs.start;
                     pair_f < en->data.mapping.pairs.top; pair_f++) {
                    yaml_node_t *fk = node(c, pair_f->key), *fv = node(c, pair_f->value);
                    const char *f = scalar(fk); /* want_map() checked keys are scalars */
                    if (!strcmp(f, "dataset")) {
                        if (get_str(c, fv, "eval.perplexity.dataset", p->dataset, sizeof p->dataset)) return -1;
                        if (dataset_check(p->dataset, derr)) return fail(c, fv, "eval.perplexity.dataset", "%s", derr);
                    } else if (!strcmp(f, "mode")) { if (parse_mode(c, fv, "eval.perplexity.mode", &p->mode)) return -1; }
                    else if (!strcmp(f, "seqlen")) { if (get_int32(c, fv, "eval.perplexity.seqlen", 2, 1 << 20, &p->seqlen)) return -1; }
                    else if (!strcmp(f, "stride")) { if (get_int32(c, fv, "eval.perplexity.stride", 1, 1 << 20, &p->stride)) return -1; }
                    else if (!strcmp(f, "max_windows")) {
                        if (get_int32(c, fv, "eval.perplexity.max_windows", 0, 1 << 30, &p->max_windows)) return -1;
                    } else return unknown_key(c, fk, key, "dataset, mode, seqlen, stride, max_windows");
                }
                if (!p->dataset[0]) return fail(c, en, "eval.perplexity.dataset", "required");
                if (p->stride && p->mode != PPL_STRIDE)
                    return fail(c, en, "eval.perplexity.stride", "only meaningful with mode: stride");
                if (p->mode == PPL_STRIDE && !p->stride) p->stride = p->seqlen / 2;
                if (p->stride > p->seqlen) return fail(c, en, "eval.perplexity.stride", "larger than seqlen %d", p->seqlen);
            } else if (kind == 1) {
                if (e->n_gen >= CFG_MAX_EVAL) return fail(c, en, key, "more than %d entries", CFG_MAX_EVAL);
                GenEval *g = &e->gen[e->n_gen++];
                *g = (GenEval){.prompts = 16, .max_new_tokens = 64, .metrics = GEN_METRIC_CHRF,
                               .against = AGAINST_REFERENCE | AGAINST_BASELINE, .line = line_of(en)};
                for (yaml_node_pair_t *pair_f = en->data.mapping.pairs.start;
                     pair_f < en->data.mapping.pairs.top; pair_f++) {
                    yaml_node_t *fk = node(c, pair_f->key), *fv = node(c, pair_f->value);
                    const char *f = scalar(fk); /* want_map() checked keys are scalars */
                    if (!strcmp(f, "task")) {
                        if (get_str(c, fv, "eval.generation.task", g->task, sizeof g->task)) return -1;
                        if (dataset_task_check(g->task, derr)) return fail(c, fv, "eval.generation.task", "%s", derr);
                    } else if (!strcmp(f, "prompts")) { if (get_int32(c, fv, "eval.generation.prompts", 1, 1 << 20, &g->prompts)) return -1; }
                    else if (!strcmp(f, "max_new_tokens")) {
                        if (get_int32(c, fv, "eval.generation.max_new_tokens", 1, 1 << 16, &g->max_new_tokens)) return -1;
                    } else if (!strcmp(f, "metrics")) { if (parse_names(c, fv, "eval.generation.metrics", GEN_METRICS, &g->metrics)) return -1; }
                    else if (!strcmp(f, "against")) { if (parse_names(c, fv, "eval.generation.against", AGAINST, &g->against)) return -1; }
                    else return unknown_key(c, fk, key, "task, prompts, max_new_tokens, metrics, against");
                }
                if (!g->task[0]) return fail(c, en, "eval.generation.task", "required");
            } else if (kind == 3) {
                if (e->n_task >= CFG_MAX_EVAL) return fail(c, en, key, "more than %d entries", CFG_MAX_EVAL);
                TaskEvalCfg *t = &e->task[e->n_task++];
                *t = (TaskEvalCfg){.bootstrap_iters = 100000, .line = line_of(en)};
                for (yaml_node_pair_t *pair_f = en->data.mapping.pairs.start;
                     pair_f < en->data.mapping.pairs.top; pair_f++) {
                    yaml_node_t *fk = node(c, pair_f->key), *fv = node(c, pair_f->value);
                    const char *f = scalar(fk); /* want_map() checked keys are scalars */
                    if (!strcmp(f, "task")) {
                        if (get_str(c, fv, "eval.tasks.task", t->task, sizeof t->task)) return -1;
                        if (task_check(t->task, derr)) return fail(c, fv, "eval.tasks.task", "%s", derr);
                        for (int j = 0; j < e->n_task - 1; j++)
                            if (!strcmp(e->task[j].task, t->task)) return fail(c, fv, "eval.tasks.task", "'%s' is listed twice", t->task);
                    } else if (!strcmp(f, "limit")) { if (get_int32(c, fv, "eval.tasks.limit", 1, 1 << 30, &t->limit)) return -1; }
                    else if (!strcmp(f, "max_length")) { if (get_int32(c, fv, "eval.tasks.max_length", 2, 1 << 20, &t->max_length)) return -1; }
                    else if (!strcmp(f, "bootstrap_iters")) {
                        if (get_int32(c, fv, "eval.tasks.bootstrap_iters", 0, 10000000, &t->bootstrap_iters)) return -1;
                    } else return unknown_key(c, fk, key, "task, limit, max_length, bootstrap_iters");
                }
                if (!t->task[0]) return fail(c, en, "eval.tasks.task", "required");
            } else {
                if (e->n_agree >= CFG_MAX_EVAL) return fail(c, en, key, "more than %d entries", CFG_MAX_EVAL);
                AgreeEval *a = &e->agree[e->n_agree++];
                *a = (AgreeEval){.seqlen = 128, .windows = 4, .line = line_of(en)};
                for (yaml_node_pair_t *pair_f = en->data.mapping.pairs.start;
                     pair_f < en->data.mapping.pairs.top; pair_f++) {
                    yaml_node_t *fk = node(c, pair_f->key), *fv = node(c, pair_f->value);
                    const char *f = scalar(fk); /* want_map() checked keys are scalars */
                    if (!strcmp(f, "dataset")) {
                        if (get_str(c, fv, "eval.agreement.dataset", a->dataset, sizeof a->dataset)) return -1;
                        if (dataset_check(a->dataset, derr)) return fail(c, fv, "eval.agreement.dataset", "%s", derr);
                    } else if (!strcmp(f, "seqlen")) { if (get_int32(c, fv, "eval.agreement.seqlen", 2, 1 << 20, &a->seqlen)) return -1; }
                    else if (!strcmp(f, "windows")) { if (get_int32(c, fv, "eval.agreement.windows", 1, 1 << 20, &a->windows)) return -1; }
                    else return unknown_key(c, fk, key, "dataset, seqlen, windows");
                }
                if (!a->dataset[0]) return fail(c, en, "eval.agreement.dataset", "required");
            }
        }
    }
    return 0;
}

static const char *const CHECK_METRICS[] = {"ppl", "chrf", "chrf++", "meteor", "top1", "kl", "bits_per_weight",
                                            "acc", "acc_norm", "perplexity", NULL};
static const char *const CHECK_KINDS[] = {"max_increase_pct", "max_decrease_pct", "min", "max"};

static int parse_check(Ctx *c, yaml_node_t *n, Experiment *e) {
    if (want_seq(c, n, "check")) return -1;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *cn = node(c, *it);
        if (want_map(c, cn, "check")) return -1;
        if (e->n_checks >= CFG_MAX_CHECKS) return fail(c, cn, "check", "more than %d checks", CFG_MAX_CHECKS);
        CheckSpec *k = &e->checks[e->n_checks++];
        memset(k, 0, sizeof *k);
        k->line = line_of(cn);
        yaml_node_t *dataset_node = cn, *confidence_node = NULL;
        for (yaml_node_pair_t *pair_f = cn->data.mapping.pairs.start; pair_f < cn->data.mapping.pairs.top; pair_f++) {
            yaml_node_t *fk = node(c, pair_f->key), *fv = node(c, pair_f->value);
            const char *f = scalar(fk); /* want_map() checked keys are scalars */
            int kind = -1;
            for (int i = 0; i < 4; i++)
                if (!strcmp(f, CHECK_KINDS[i])) kind = i;
            if (!strcmp(f, "metric")) {
                const char *s = scalar(fv);
                int ok = 0;
                for (int i = 0; CHECK_METRICS[i] && s; i++) ok |= !strcmp(CHECK_METRICS[i], s);
                if (!ok) return fail(c, fv, "check.metric", "unknown metric '%s' (ppl, chrf, chrf++, meteor, top1, kl, bits_per_weight, acc, acc_norm, perplexity)",
                                     s ? s : type_name(fv));
                snprintf(k->metric, sizeof k->metric, "%s", s);
            } else if (!strcmp(f, "dataset") || !strcmp(f, "task")) {
                if (k->dataset[0]) return fail(c, fk, "check", "give dataset or task, not both");
                char key[32];
                snprintf(key, sizeof key, "check.%s", f);
                if (get_str(c, fv, key, k->dataset, sizeof k->dataset)) return -1;
                dataset_node = fv;
            } else if (!strcmp(f, "against")) {
                const char *s = scalar(fv);
                if (s && !strcmp(s, "reference")) k->against = AGAINST_REFERENCE;
                else if (s && !strcmp(s, "baseline")) k->against = AGAINST_BASELINE;
                else return fail(c, fv, "check.against", "expected reference or baseline, got '%s'", s ? s : type_name(fv));
            } else if (kind >= 0) {
                char key[40];
                snprintf(key, sizeof key, "check.%s", f);
                if (get_double(c, fv, key, &k->limit[kind])) return -1;
                if (kind <= CHECK_MAX_DECREASE_PCT && k->limit[kind] < 0)
                    return fail(c, fv, key, "a percentage limit must be >= 0, got %g", k->limit[kind]);
                k->has[kind] = 1;
            } else if (!strcmp(f, "where")) {
                if (parse_match(c, fv, "check.where", &k->where)) return -1;
            } else if (!strcmp(f, "confidence")) {
                if (get_double(c, fv, "check.confidence", &k->confidence)) return -1;
                if (!(k->confidence > 0 && k->confidence < 1))
                    return fail(c, fv, "check.confidence", "must be above 0 and below 1 (e.g. 0.95), got %g", k->confidence);
                confidence_node = fv;
            } else return unknown_key(c, fk, "check", "metric, dataset, task, against, max_increase_pct, max_decrease_pct, min, max, confidence, where");
        }
        if (!k->metric[0]) return fail(c, cn, "check.metric", "required");
        if (!k->has[0] && !k->has[1] && !k->has[2] && !k->has[3])
            return fail(c, cn, "check", "no threshold (max_increase_pct, max_decrease_pct, min or max)");
        if (k->has[CHECK_MIN] && k->has[CHECK_MAX] && k->limit[CHECK_MIN] > k->limit[CHECK_MAX])
            return fail(c, cn, "check.min", "min %g is above max %g", k->limit[CHECK_MIN], k->limit[CHECK_MAX]);
        int is_gen = !strcmp(k->metric, "chrf") || !strcmp(k->metric, "chrf++") || !strcmp(k->metric, "meteor");
        int is_bpw = !strcmp(k->metric, "bits_per_weight");
        if (confidence_node) { /* the metrics that carry an interval (README: What check judges) */
            int pct = k->has[CHECK_MAX_INCREASE_PCT] || k->has[CHECK_MAX_DECREASE_PCT];
            int paired = !strcmp(k->metric, "ppl") || is_gen;
            int own = paired || !strcmp(k->metric, "top1") || !strcmp(k->metric, "kl") || !strcmp(k->metric, "acc") ||
                      !strcmp(k->metric, "acc_norm");
            if (pct && !paired)
                return fail(c, confidence_node, "check.confidence", "a percentage change of %s has no paired interval "
                            "(ppl, chrf, chrf++, meteor have one)", k->metric);
            if (!own)
                return fail(c, confidence_node, "check.confidence", "%s carries no interval", k->metric);
        }
        if (is_bpw) {
            if (k->dataset[0]) return fail(c, dataset_node, "check.dataset", "bits_per_weight has no dataset");
            if (k->has[CHECK_MAX_INCREASE_PCT] || k->has[CHECK_MAX_DECREASE_PCT])
                return fail(c, cn, "check", "bits_per_weight has no baseline to compare with: use min/max");
            continue;
        }
        if (!k->dataset[0]) return fail(c, cn, "check.dataset", "required for metric %s", k->metric);
        /* the check must refer to something this experiment evaluates */
        int found = 0;
        if (!strcmp(k->metric, "ppl")) {
            for (int i = 0; i < e->n_ppl; i++) found |= !strcmp(e->ppl[i].dataset, k->dataset);
        } else if (is_gen) {
            int mbit = !strcmp(k->metric, "chrf") ? GEN_METRIC_CHRF : !strcmp(k->metric, "chrf++") ? GEN_METRIC_CHRFPP : GEN_METRIC_METEOR;
            if (!k->against) k->against = AGAINST_REFERENCE;
            for (int i = 0; i < e->n_gen; i++)
                found |= !strcmp(e->gen[i].task, k->dataset) && (e->gen[i].metrics & mbit) && (e->gen[i].against & k->against);
        } else if (!strcmp(k->metric, "acc") || !strcmp(k->metric, "acc_norm") || !strcmp(k->metric, "perplexity")) {
            for (int i = 0; i < e->n_task; i++) found |= !strcmp(e->task[i].task, k->dataset);
        } else {
            for (int i = 0; i < e->n_agree; i++) found |= !strcmp(e->agree[i].dataset, k->dataset);
            if (k->has[CHECK_MAX_INCREASE_PCT] || k->has[CHECK_MAX_DECREASE_PCT])
                return fail(c, cn, "check", "%s is already measured against the baseline: use min/max", k->metric);
        }
        if (k->against && !is_gen) return fail(c, cn, "check.against", "only for chrf, chrf++, meteor");
        if (!found)
            return fail(c, dataset_node, is_gen ? "check.task" : "check.dataset",
                        "'%s' with metric %s is not evaluated in this experiment's eval section", k->dataset, k->metric);
    }
    return 0;
}

static int parse_output(Ctx *c, yaml_node_t *n, Experiment *e) {
    if (want_map(c, n, "output")) return -1;
    for (yaml_node_pair_t *pair_k = n->data.mapping.pairs.start; pair_k < n->data.mapping.pairs.top; pair_k++) {
        yaml_node_t *kn = node(c, pair_k->key), *vn = node(c, pair_k->value);
        const char *k = scalar(kn); /* want_map() checked keys are scalars */
        if (!strcmp(k, "db")) { if (get_str(c, vn, "output.db", e->output.db, sizeof e->output.db)) return -1; }
        else if (!strcmp(k, "plots")) { if (get_str(c, vn, "output.plots", e->output.plots, sizeof e->output.plots)) return -1; }
        else if (!strcmp(k, "junit")) { if (get_str(c, vn, "output.junit", e->output.junit, sizeof e->output.junit)) return -1; }
        else return unknown_key(c, kn, "output", "db, plots, junit");
    }
    return 0;
}

/* ---- combination checks over the expanded sweep ------------------------------------------------ */

static int point_fail(Ctx *c, const SweepPoint *p, const char *param, const char *fmt, ...) {
    char msg[QB_ERRLEN], label[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int idx = param_index(param);
    sweep_label(p, label, sizeof label);
    snprintf(c->err, QB_ERRLEN, "%.150s:%d: %.30s: %.200s (point '%.90s')", c->file, idx >= 0 ? p->line[idx] : 0, param, msg,
             label);
    return -1;
}

static int validate_points(Ctx *c, const Experiment *e, yaml_node_t *root) {
    SweepPoint *pts = NULL;
    int n = 0;
    if (sweep_expand(e, &pts, &n, c->err)) return -1;
    int rc = 0;
    if (n == 0) rc = fail(c, root, "sweep", "every point is excluded: nothing to run");
    for (int i = 0; i < n && !rc; i++) {
        const SweepPoint *p = &pts[i];
        if (p->model_entry >= 0) continue; /* evaluated as it is: no quantization settings */
        ParamValue v;
        if (sweep_get(p, "method", &v)) { rc = fail(c, root, "method", "required (in sweep or fixed)"); break; }
        if (sweep_get(p, "bits", &v)) { rc = fail(c, root, "bits", "required (in sweep or fixed)"); break; }
        const char *m = sweep_get_str(p, "method", "");
        long bits = sweep_get_int(p, "bits", 0);
        int uses_h = !strcmp(m, "gptq") || !strcmp(m, "gptqt");
        int gptqt_family = !strcmp(m, "gptqt") || !strcmp(m, "rtnt");
        if (!uses_h && sweep_get_int(p, "act_order", 0))
            rc = point_fail(c, p, "act_order", "act-order needs GPTQ's Hessian; method %s has none (exclude {method: %s, act_order: true})", m, m);
        else if (!uses_h && sweep_get_int(p, "static_groups", 0))
            rc = point_fail(c, p, "static_groups", "static groups only apply to gptq/gptqt; method %s (exclude it)", m);
        else if (sweep_get_int(p, "static_groups", 0) && sweep_get_int(p, "group_size", -1) < 0)
            rc = point_fail(c, p, "static_groups", "static groups need a group_size (got -1, one group per row)");
        else if (gptqt_family && p->has[param_index("high_bits")] && !p->v[param_index("high_bits")].relative) {
            /* a relative "+k" caps at 8 (sweep_high_bits); an absolute value must be what it says */
            long high = p->v[param_index("high_bits")].i;
            if (high < bits || (high == bits && high != 8))
                rc = point_fail(c, p, "high_bits", "%ld must be above bits %ld (or 8 at 8 bits)", high, bits);
        }
        if (!rc && p->has[param_index("mse")] && sweep_get_int(p, "mse", 0) && (gptqt_family || !strcmp(m, "bcq")))
            rc = point_fail(c, p, "mse", "the MSE grid search applies to rtn/gptq, not %s", m);
        if (!rc && sweep_get_float(p, "reexplore_lo", 0.6) >= sweep_get_float(p, "reexplore_hi", 1.3))
            rc = point_fail(c, p, p->has[param_index("reexplore_lo")] ? "reexplore_lo" : "reexplore_hi",
                            "reexplore_lo must be below reexplore_hi");
        PipelineOptions po;
        char qerr[QB_ERRLEN];
        if (!rc && (sweep_pipeline_options(p, &po, qerr) || quant_options_validate(&po.opt, 0, qerr)))
            rc = point_fail(c, p, "method", "%s", qerr);
        if (!rc && uses_h && e->calibration.samples <= 0)
            rc = fail(c, root, "calibration", "method %s needs calibration data", m);
    }
    free(pts);
    return rc;
}

/* ---- entry points ----------------------------------------------------------------------------- */

static void basename_noext(const char *path, char *out, size_t outlen) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, outlen, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
}

int config_parse(const char *yaml, size_t len, const char *file, Experiment *e, char err[QB_ERRLEN]) {
    memset(e, 0, sizeof *e);
    snprintf(e->file, sizeof e->file, "%s", file);
    snprintf(e->calibration.dataset, sizeof e->calibration.dataset, "tinystories-calib");
    e->calibration.samples = 128;
    e->calibration.seqlen = 256;

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) { snprintf(err, QB_ERRLEN, "%.200s: out of memory", file); return -1; }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, QB_ERRLEN, "%.200s:%d: yaml: %.200s%s%.100s", file, (int)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return -1;
    }
    Ctx c = {&doc, file, err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = 0;
    unsigned char seen[CFG_MAX_PARAMS] = {0};
    yaml_node_t *sweep = NULL, *fixed = NULL, *check = NULL, *model = NULL;
    if (!root) { snprintf(err, QB_ERRLEN, "%.200s:1: (file): empty experiment file", file); rc = -1; goto done; }
    if (want_map(&c, root, "(top level)")) { rc = -1; goto done; }
    /* eval before check (checks refer to evaluations); sweep/fixed in any order */
    yaml_node_t *eval = NULL;
    for (yaml_node_pair_t *pair_k = root->data.mapping.pairs.start; pair_k < root->data.mapping.pairs.top; pair_k++) {
        yaml_node_t *kn = node(&c, pair_k->key), *vn = node(&c, pair_k->value);
        const char *k = scalar(kn); /* want_map() checked keys are scalars */
        if (!strcmp(k, "name")) { if ((rc = get_str(&c, vn, "name", e->name, sizeof e->name))) goto done; }
        else if (!strcmp(k, "model")) model = vn;
        else if (!strcmp(k, "calibration")) { if ((rc = parse_calibration(&c, vn, e))) goto done; }
        else if (!strcmp(k, "sweep")) sweep = vn;
        else if (!strcmp(k, "fixed")) fixed = vn;
        else if (!strcmp(k, "eval")) eval = vn;
        else if (!strcmp(k, "check")) check = vn;
        else if (!strcmp(k, "output")) { if ((rc = parse_output(&c, vn, e))) goto done; }
        else if (!strcmp(k, "models")) { if ((rc = parse_models(&c, vn, e))) goto done; }
        else { rc = unknown_key(&c, kn, "(top level)", "name, model, calibration, sweep, fixed, eval, check, output, models"); goto done; }
    }
    if (!model) { rc = fail(&c, root, "model", "required (model: {path: ...})"); goto done; }
    if ((rc = parse_model(&c, model, e))) goto done;
    if (!sweep) { rc = fail(&c, root, "sweep", "required (at least one axis, e.g. bits: [4])"); goto done; }
    if ((rc = parse_param_map(&c, sweep, "sweep", e, seen, 1))) goto done;
    if (fixed && (rc = parse_param_map(&c, fixed, "fixed", e, seen, 0))) goto done;
    if (e->n_axes == 0) { rc = fail(&c, sweep, "sweep", "no axes"); goto done; }
    /* every exclude key must name something that varies, is fixed or has a default (the first seven
     * parameters, see sweep.h), or it would silently match nothing */
    for (int i = 0; i < e->n_exclude; i++)
        for (int j = 0; j < e->exclude[i].n; j++)
            if (!seen[param_index(e->exclude[i].p[j].name)] && param_index(e->exclude[i].p[j].name) > 6) {
                snprintf(err, QB_ERRLEN, "%.200s:%d: sweep.exclude.%s: not set in sweep or fixed", file,
                         e->exclude[i].p[j].line, e->exclude[i].p[j].name);
                rc = -1;
                goto done;
            }
    if (eval && (rc = parse_eval(&c, eval, e))) goto done;
    if (e->n_ppl + e->n_gen + e->n_agree + e->n_task == 0) {
        rc = fail(&c, eval ? eval : root, "eval", "nothing to evaluate (perplexity, generation, agreement or tasks)");
        goto done;
    }
    if (check && (rc = parse_check(&c, check, e))) goto done;
    if (!e->name[0]) basename_noext(file, e->name, sizeof e->name);
    if (!e->output.db[0]) snprintf(e->output.db, sizeof e->output.db, "results/%.100s.db", e->name);
    if (!e->output.plots[0]) snprintf(e->output.plots, sizeof e->output.plots, "results/plots");
    rc = validate_points(&c, e, root);
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc ? -1 : 0;
}

int config_load(const char *path, Experiment *e, char err[QB_ERRLEN]) {
    size_t len;
    char *buf = qb_read_file(path, &len, err);
    if (!buf) { memset(e, 0, sizeof *e); return -1; }
    int rc = config_parse(buf, len, path, e, err);
    free(buf);
    return rc;
}

const ParamSetting *config_fixed(const Experiment *e, const char *name) {
    for (int i = 0; i < e->n_fixed; i++)
        if (!strcmp(e->fixed[i].name, name)) return &e->fixed[i];
    return NULL;
}

/* Group sizes follow quant_group_size_check (the rule `quantize --group-size` applies too); sequence
 * lengths must fit the model's context. */
int config_validate_model(const Experiment *e, const ModelConfig *cfg, char err[QB_ERRLEN]) {
    SweepPoint *pts = NULL;
    int n = 0;
    if (sweep_expand(e, &pts, &n, err)) return -1;
    int rc = 0, gi = param_index("group_size");
    for (int i = 0; i < n && !rc; i++) {
        char why[QB_ERRLEN];
        if (quant_group_size_check(sweep_get_int(&pts[i], "group_size", -1), cfg, why)) {
            snprintf(err, QB_ERRLEN, "%.160s:%d: group_size: %.100s (%.160s)", e->file, pts[i].line[gi], why,
                     e->model_path);
            rc = -1;
        }
    }
    free(pts);
    if (rc) return -1;
    if (e->calibration.seqlen > cfg->seq_len) {
        snprintf(err, QB_ERRLEN, "%.200s: calibration.seqlen: %d is above the model's context %d", e->file,
                 e->calibration.seqlen, cfg->seq_len);
        return -1;
    }
    for (int i = 0; i < e->n_ppl; i++)
        if (e->ppl[i].seqlen > cfg->seq_len) {
            snprintf(err, QB_ERRLEN, "%.200s:%d: eval.perplexity.seqlen: %d is above the model's context %d", e->file,
                     e->ppl[i].line, e->ppl[i].seqlen, cfg->seq_len);
            return -1;
        }
    for (int i = 0; i < e->n_agree; i++)
        if (e->agree[i].seqlen > cfg->seq_len) {
            snprintf(err, QB_ERRLEN, "%.200s:%d: eval.agreement.seqlen: %d is above the model's context %d", e->file,
                     e->agree[i].line, e->agree[i].seqlen, cfg->seq_len);
            return -1;
        }
    for (int i = 0; i < e->n_task; i++)
        if (e->task[i].max_length > cfg->seq_len) {
            snprintf(err, QB_ERRLEN, "%.200s:%d: eval.tasks.max_length: %d is above the model's context %d", e->file,
                     e->task[i].line, e->task[i].max_length, cfg->seq_len);
            return -1;
        }
    for (int i = 0; i < e->n_gen; i++)
        if (e->gen[i].max_new_tokens >= cfg->seq_len) {
            snprintf(err, QB_ERRLEN, "%.200s:%d: eval.generation.max_new_tokens: %d does not fit the model's context %d",
                     e->file, e->gen[i].line, e->gen[i].max_new_tokens, cfg->seq_len);
            return -1;
        }
    return 0;
}
