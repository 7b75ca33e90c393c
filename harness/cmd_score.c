/* cmd_score.c — `qbench score chrf|chrf++|meteor|meteor15 --hyp FILE --ref FILE [--ref ...]`:
 * scores a hypothesis file against one or more reference files (one segment per line) and prints
 * the score with its sacrebleu-style signature. METEOR goes to cmd_score_meteor().
 *
 * Output (text):   [i<TAB>sentence score, with --sentence]
 *                  chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 58.0911
 * With --popovic (chrF++.py compatibility) or --sentence a "mean of sentence scores" line follows
 * (chrF++.py's avgF). --json prints one object instead: name, score, signature, nseg,
 * mean_sentence, the summed statistics and, with --sentence, the sentence scores.
 * 0 segments (empty files) score 0.0, with a note on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "metrics/chrf.h"
#include "metrics/textfile.h"

#define MAX_REFS 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: qbench score chrf|chrf++|meteor|meteor15 --hyp FILE --ref FILE [--ref FILE2 ...] [options]\n"
            "  chrf, chrf++   sacrebleu 2.x CHRF (qbench score chrf --help)\n"
            "  meteor         NLTK 3.8 meteor_score, as Hugging Face evaluate reports it (qbench score meteor --help)\n"
            "  meteor15       Meteor 1.5, English (qbench score meteor15 --help)\n"
            "--hyp and --ref take a file (one segment per line) or a dataset name (a task's references, e.g.\n"
            "wmt14-ende). Exit status: 0 scored, 2 usage error or unreadable / mismatched input.\n");
}

/* cJSON prints doubles with a tolerance (the last bits can change); print them round-trip exact. */
static cJSON *exact_number(double x) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", x);
    return cJSON_CreateRaw(b);
}

static cJSON *exact_int(int64_t x) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)x);
    return cJSON_CreateRaw(b);
}

static int print_json(const char *name, const char *sig, const chrf_opts *o, const chrf_result *r,
                      const double *sent, const BootstrapCI *ci) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", name);
    cJSON_AddItemToObject(j, "score", exact_number(r->score));
    cJSON_AddStringToObject(j, "signature", sig);
    cJSON_AddNumberToObject(j, "nseg", (double)r->nseg);
    cJSON_AddItemToObject(j, "mean_sentence", exact_number(r->mean_sentence));
    cJSON_AddNumberToObject(j, "char_order", o->char_order);
    cJSON_AddNumberToObject(j, "word_order", o->word_order);
    cJSON_AddItemToObject(j, "beta", exact_number(o->beta));
    /* [hyp, ref, match] per order, char orders first: sums over shards merge by addition */
    cJSON *st = cJSON_AddArrayToObject(j, "statistics");
    for (int k = 0; k < 3 * r->total.norder; k++)
        cJSON_AddItemToArray(st, exact_int(r->total.v[k]));
    if (ci) { /* sacrebleu's μ and ±, and the percentile interval they come from */
        cJSON_AddItemToObject(j, "mean", exact_number(ci->mean));
        cJSON_AddItemToObject(j, "ci", exact_number(ci->ci));
        cJSON_AddItemToObject(j, "ci_lower", exact_number(ci->lower));
        cJSON_AddItemToObject(j, "ci_upper", exact_number(ci->upper));
    }
    if (sent) {
        cJSON *a = cJSON_AddArrayToObject(j, "sentences");
        for (size_t i = 0; i < r->nseg; i++) cJSON_AddItemToArray(a, exact_number(sent[i]));
    }
    char *s = cJSON_Print(j);
    int rc = s ? 0 : -1;
    if (s) printf("%s\n", s);
    else fprintf(stderr, "qbench score: out of memory writing JSON\n");
    free(s);
    cJSON_Delete(j);
    return rc;
}

int cmd_score(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *metric = argv[1];
    if (!strcmp(metric, "meteor")) return cmd_score_meteor(argc - 1, argv + 1, 0);
    if (!strcmp(metric, "meteor15")) return cmd_score_meteor(argc - 1, argv + 1, 1);
    chrf_opts o;
    if (!strcmp(metric, "chrf")) o = chrf_defaults(0);
    else if (!strcmp(metric, "chrf++")) o = chrf_defaults(2);
    else {
        fprintf(stderr, "qbench score: unknown metric '%s' (chrf, chrf++, meteor, meteor15)\n", metric);
        return 2;
    }

    const char *hyp_path = NULL, *ref_v[MAX_REFS];
    CliList refl = {ref_v, 0, MAX_REFS};
    const char **ref_paths = ref_v;
    long char_order = o.char_order, word_order = o.word_order, width_l = 4, threads = 0;
    double beta = o.beta;
    int sentence = 0, json = 0, confidence = 0;
    char wdef[8];
    snprintf(wdef, sizeof wdef, "%d", o.word_order);
    const CliOpt opts[] = {
        {"--hyp", NULL, CLI_STR, &hyp_path, "FILE", "hypotheses, one segment per line, or a dataset name (required)", NULL, 0, 0, NULL, NULL},
        {"--ref", NULL, CLI_LIST, &refl, "FILE", "references, as --hyp; a task name gives its references (at least one)", NULL, 0, 0, NULL, NULL},
        {"--char-order", NULL, CLI_INT, &char_order, "N", "character n-gram order", "6", 0, CHRF_MAX_CHAR_ORDER, NULL, NULL},
        {"--word-order", NULL, CLI_INT, &word_order, "N", "word n-gram order (chrf: 0, chrf++: 2)", wdef, 0, CHRF_MAX_WORD_ORDER, NULL, NULL},
        {"--beta", NULL, CLI_NUM, &beta, "B", "recall weight", "2", 0, 1e6, NULL, NULL},
        {"--lowercase", NULL, CLI_FLAG, &o.lowercase, NULL, "Python str.lower() first", "off", 0, 0, NULL, NULL},
        {"--whitespace", NULL, CLI_FLAG, &o.whitespace, NULL, "keep whitespace in character n-grams", "off", 0, 0, NULL, NULL},
        {"--eps-smoothing", NULL, CLI_FLAG, &o.eps_smoothing, NULL, "average per-order F over all orders (chrF++.py / NLTK style)", "off", 0, 0, NULL, NULL},
        {"--popovic", NULL, CLI_FLAG, &o.popovic, NULL, "chrF++.py compatibility (its whitespace rule and averaging)", "off", 0, 0, NULL, NULL},
        {"--sentence", NULL, CLI_FLAG, &sentence, NULL, "also print each segment's score", NULL, 0, 0, NULL, NULL},
        {"--json", NULL, CLI_FLAG, &json, NULL, "one JSON object: score, signature, statistics", NULL, 0, 0, NULL, NULL},
        {"--width", NULL, CLI_INT, &width_l, "N", "decimals printed", "4", 0, 17, NULL, NULL},
        {"--confidence", NULL, CLI_FLAG, &confidence, NULL, "sacrebleu's bootstrap interval: 1000 resamples, seed 12345 (μ = mean ± CI)", "off", 0, 0, NULL, NULL},
        {"--threads", NULL, CLI_INT, &threads, "N", "threads (scores are identical for any count)", "all cores", 1, 4096, NULL, NULL},
    };
    char cmdname[32];
    snprintf(cmdname, sizeof cmdname, "score %s", metric);
    const CliSpec spec = {cmdname, "qbench score chrf|chrf++ --hyp FILE --ref FILE [--ref FILE2 ...] [options]",
                          "  chrF / chrF++ with sacrebleu 2.x CHRF semantics, printed with its signature.\n", opts,
                          CLI_N(opts), NULL, 0, NULL,
                          "Files: one segment per line, UTF-8; CRLF read as LF; a final newline ends the last line.\n"
                          "Exit status: 0 scored, 2 usage error or unreadable / mismatched input.\n"};
    int parsed = cli_parse(&spec, argc - 1, argv + 1);
    if (parsed) return parsed > 0 ? 0 : 2;
    int nrefs = refl.n, width = (int)width_l;
    o.char_order = (int)char_order;
    o.word_order = (int)word_order;
    o.beta = beta;
    qb_set_threads((int)threads);
    if (!hyp_path || nrefs == 0) {
        fprintf(stderr, "qbench score: need --hyp FILE and at least one --ref FILE\n");
        return 2;
    }
    char err[QB_ERRLEN];
    if (chrf_opts_check(&o, err)) { fprintf(stderr, "qbench score: %s\n", err); return 2; }

    TextFile hyp = {0}, refs[MAX_REFS];
    memset(refs, 0, sizeof refs);
    const char **flat = NULL;
    double *sent = NULL;
    int rc = 2;
    if (cli_read_lines(hyp_path, 0, &hyp, err)) { fprintf(stderr, "qbench score: %s\n", err); goto done; }
    for (int r = 0; r < nrefs; r++) {
        if (cli_read_lines(ref_paths[r], 1, &refs[r], err)) { fprintf(stderr, "qbench score: %s\n", err); goto done; }
        if (refs[r].n != hyp.n) {
            fprintf(stderr, "qbench score: %s has %zu lines but %s has %zu\n", hyp_path, hyp.n,
                    ref_paths[r], refs[r].n);
            goto done;
        }
    }
    size_t n = hyp.n;
    flat = malloc(((size_t)nrefs * n + 1) * sizeof(char *));
    sent = malloc((n + 1) * sizeof(double));
    if (!flat || !sent) { fprintf(stderr, "qbench score: out of memory\n"); goto done; }
    for (int r = 0; r < nrefs; r++)
        for (size_t i = 0; i < n; i++) flat[(size_t)r * n + i] = refs[r].lines[i];
    chrf_result res;
    if (chrf_corpus((const char *const *)hyp.lines, n, flat, nrefs, &o, &res, sent, err)) {
        fprintf(stderr, "qbench score: %s: %s\n", hyp_path, err);
        goto done;
    }
    if (n == 0) fprintf(stderr, "qbench score: note: %s has 0 segments; the score is 0.0 by definition\n", hyp_path);

    char name[32], sig[256], conf[128] = "";
    chrf_name(&o, name, sizeof name);
    chrf_signature(&o, nrefs, sig, sizeof sig);
    BootstrapCI ci = {0};
    if (confidence && n > 0) { /* sacrebleu --confidence: 1,000 resamples, seed 12345, in the signature */
        chrf_stats *seg = malloc(n * sizeof *seg);
        const char **sr = malloc(((size_t)nrefs + 1) * sizeof *sr);
        int bad = !seg || !sr;
        for (size_t i = 0; i < n && !bad; i++) {
            for (int r = 0; r < nrefs; r++) sr[r] = refs[r].lines[i];
            bad = chrf_segment_stats(NULL, hyp.lines[i], sr, nrefs, &o, &seg[i], NULL, err) != 0;
        }
        if (!bad) bad = chrf_bootstrap_ci(seg, n, &o, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, &ci, err) != 0;
        free(seg);
        free(sr);
        if (bad) { fprintf(stderr, "qbench score: %s: confidence: %s\n", hyp_path, err); goto done; }
        char rest[256];
        const char *bar = strchr(sig, '|');
        snprintf(rest, sizeof rest, "%s", bar ? bar : "");
        if (bar) snprintf(sig + (bar - sig), sizeof sig - (size_t)(bar - sig), "|bs:%d|seed:%d%s", BOOTSTRAP_SAMPLES,
                          BOOTSTRAP_SEED, rest);
        snprintf(conf, sizeof conf, " (μ = %.*f ± %.*f)", width, ci.mean, width, ci.ci);
    }
    if (json) {
        if (print_json(name, sig, &o, &res, sentence ? sent : NULL, confidence && n > 0 ? &ci : NULL)) goto done;
    } else {
        if (sentence)
            for (size_t i = 0; i < n; i++) printf("%zu\t%.*f\n", i + 1, width, sent[i]);
        printf("%s|%s = %.*f%s\n", name, sig, width, res.score, conf);
        if (sentence || o.popovic) printf("%s mean of sentence scores = %.*f\n", name, width, res.mean_sentence);
    }
    rc = 0;
done:
    textfile_free(&hyp);
    for (int r = 0; r < nrefs; r++) textfile_free(&refs[r]);
    free(flat);
    free(sent);
    return rc;
}
