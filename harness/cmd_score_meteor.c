/* cmd_score_meteor.c — `qbench score meteor|meteor15 --hyp FILE --ref FILE [--ref FILE2 ...]`:
 * METEOR of a hypothesis file against reference files (one segment per line), printed with its
 * signature. argv[0] is the metric name.
 *
 *   meteor    NLTK 3.8 meteor_score (what Hugging Face `evaluate` reports), 0..1; corpus = mean of
 *             the segment scores; treebank tokens by default, as evaluate and the sweeps use
 *             (--tokenize whitespace for str.split()); WordNet from /usr/share/wordnet (--wordnet DIR).
 *   meteor15  Meteor 1.5 (English, task rank, -norm); corpus = the score of the summed
 *             statistics; resources from <assets>/meteor-examples/resources-en, found from any
 *             working directory (cli_assets_dir), or --resources DIR.
 *
 * Output (text):  [i<TAB>segment score, with --sentence]
 *                 METEOR|nrefs:1|tok:treebank|...|version:nltk-3.8 = 0.5429
 * --json prints one object: name, score, signature, nseg, sentences (with --sentence) and, for
 * meteor15, the summed statistics. 0 segments (empty files) score 0.0, with a note on stderr.
 * Exit status: 0 scored, 2 usage error or unreadable / mismatched input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "harness/cli.h"
#include "harness/commands.h"
#include "metrics/bootstrap.h"
#include "metrics/meteor.h"
#include "metrics/textfile.h"
#include "metrics/meteor15.h"

#define MAX_REFS 64

static cJSON *exact_number(double x) {
    char b[40];
    snprintf(b, sizeof b, "%.17g", x);
    return cJSON_CreateRaw(b);
}

static void add_stats15(cJSON *j, const Meteor15Stats *t) {
    cJSON *s = cJSON_AddObjectToObject(j, "statistics");
    cJSON_AddItemToObject(s, "test_words", exact_number(t->test_len));
    cJSON_AddItemToObject(s, "ref_words", exact_number(t->ref_len));
    cJSON_AddItemToObject(s, "test_function_words", exact_number(t->test_fn));
    cJSON_AddItemToObject(s, "ref_function_words", exact_number(t->ref_fn));
    const char *names[] = {"exact", "stem", "synonym", "paraphrase"};
    for (int k = 0; k < METEOR15_MODULES; k++) {
        cJSON *m = cJSON_AddObjectToObject(s, names[k]);
        cJSON_AddItemToObject(m, "test_content", exact_number(t->test_content[k]));
        cJSON_AddItemToObject(m, "test_function", exact_number(t->test_function[k]));
        cJSON_AddItemToObject(m, "ref_content", exact_number(t->ref_content[k]));
        cJSON_AddItemToObject(m, "ref_function", exact_number(t->ref_function[k]));
    }
    cJSON_AddItemToObject(s, "test_matches", exact_number(t->test_matches));
    cJSON_AddItemToObject(s, "ref_matches", exact_number(t->ref_matches));
    cJSON_AddItemToObject(s, "chunks", exact_number(t->chunks));
}

int cmd_score_meteor(int argc, char **argv, int meteor15) {
    const char *name = meteor15 ? "Meteor1.5" : "METEOR";
    const char *hyp_path = NULL, *ref_v[MAX_REFS], *wordnet_dir = NULL, *resources = NULL, *para = NULL,
               *tok_s = "treebank";
    const char **ref_paths = ref_v;
    CliList refl = {ref_v, 0, MAX_REFS};
    long width_l = 4, threads = 0;
    int sentence = 0, json = 0, norm = 1, confidence = 0;
    char res_def[1200];
    snprintf(res_def, sizeof res_def, "%s/meteor-examples/resources-en", cli_assets_dir());
    const CliOpt common[] = {
        {"--hyp", NULL, CLI_STR, &hyp_path, "FILE", "hypotheses, one segment per line, or a dataset name (required)", NULL, 0, 0, NULL, NULL},
        {"--ref", NULL, CLI_LIST, &refl, "FILE", "references, as --hyp; a task name gives its references (at least one)", NULL, 0, 0, NULL, NULL},
        {"--sentence", NULL, CLI_FLAG, &sentence, NULL, "also print each segment's score", NULL, 0, 0, NULL, NULL},
        {"--json", NULL, CLI_FLAG, &json, NULL, "one JSON object: score, signature, nseg (meteor15: statistics)", NULL, 0, 0, NULL, NULL},
        {"--width", NULL, CLI_INT, &width_l, "N", "decimals printed", "4", 0, 17, NULL, NULL},
        {"--threads", NULL, CLI_INT, &threads, "N", "threads (scores are identical for any count)", "all cores", 1, 4096, NULL, NULL},
    };
    const CliOpt nltk[] = {
        common[0], common[1], common[2], common[3], common[4], common[5],
        {"--tokenize", NULL, CLI_STR, &tok_s, "T", "nltk.word_tokenize (as Hugging Face evaluate) or str.split(); in the signature",
         "treebank", 0, 0, "treebank|whitespace", NULL},
        {"--wordnet", NULL, CLI_STR, &wordnet_dir, "DIR", "WordNet dict folder", "/usr/share/wordnet", 0, 0, NULL, NULL},
        {"--confidence", NULL, CLI_FLAG, &confidence, NULL, "bootstrap interval as sacrebleu's --confidence: 1000 resamples "
         "of segments, seed 12345 (mu = mean +- CI)", "off", 0, 0, NULL, NULL},
    };
    const CliOpt opts15[] = {
        common[0], common[1], common[2], common[3], common[4], common[5],
        {"--resources", NULL, CLI_STR, &resources, "DIR", "english.synsets/.exceptions/.function-words; found from any "
         "working directory ($QBENCH_ASSETS or assets/ beside bin/)", res_def, 0, 0, NULL, NULL},
        {"--paraphrase", NULL, CLI_STR, &para, "FILE", "paraphrase table, lines \"[prob |||] phrase ||| paraphrase\"", "none", 0, 0, NULL, NULL},
        {"--no-norm", NULL, CLI_OFF, &norm, NULL, "split on whitespace only (no tokenisation, no lowercasing)", "normalise", 0, 0, NULL, NULL},
    };
    const CliSpec spec = meteor15
        ? (CliSpec){"score meteor15", "qbench score meteor15 --hyp FILE --ref FILE [--ref FILE2 ...] [options]",
                    "  Meteor 1.5 (English, task rank, -norm); corpus score from the summed statistics.\n", opts15, CLI_N(opts15),
                    NULL, 0, NULL, "Files: one segment per line, UTF-8; CRLF read as LF.\n"}
        : (CliSpec){"score meteor", "qbench score meteor --hyp FILE --ref FILE [--ref FILE2 ...] [options]",
                    "  NLTK 3.8 meteor_score (what Hugging Face evaluate reports), 0..1; corpus = mean of the segments.\n",
                    nltk, CLI_N(nltk), NULL, 0, NULL, "Files: one segment per line, UTF-8; CRLF read as LF.\n"};
    int parsed = cli_parse(&spec, argc, argv);
    if (parsed) return parsed > 0 ? 0 : 2;
    int nrefs = refl.n, width = (int)width_l;
    MeteorTokenize tok = !strcmp(tok_s, "whitespace") ? METEOR_TOK_WHITESPACE : METEOR_TOK_TREEBANK;
    if (!resources) resources = res_def;
    qb_set_threads((int)threads);
    if (!hyp_path || nrefs == 0) {
        fprintf(stderr, "qbench score %s: need --hyp FILE and at least one --ref FILE\n", argv[0]);
        return 2;
    }
    char err[QB_ERRLEN];
    TextFile hyp = {0}, refs[MAX_REFS];
    memset(refs, 0, sizeof refs);
    const char **flat = NULL;
    double *sent = NULL;
    WordNet *wn = NULL;
    Meteor15 *m15 = NULL;
    int rc = 2;
    if (cli_read_lines(hyp_path, 0, &hyp, err)) { fprintf(stderr, "qbench score %s: %s\n", argv[0], err); goto done; }
    for (int r = 0; r < nrefs; r++) {
        if (cli_read_lines(ref_paths[r], 1, &refs[r], err)) { fprintf(stderr, "qbench score %s: %s\n", argv[0], err); goto done; }
        if (refs[r].n != hyp.n) {
            fprintf(stderr, "qbench score %s: %s has %zu lines but %s has %zu\n", argv[0], hyp_path, hyp.n,
                    ref_paths[r], refs[r].n);
            goto done;
        }
    }
    size_t n = hyp.n;
    flat = malloc(((size_t)nrefs * n + 1) * sizeof(char *));
    sent = malloc((n + 1) * sizeof(double));
    if (!flat || !sent) { fprintf(stderr, "qbench score %s: out of memory\n", argv[0]); goto done; }
    for (int r = 0; r < nrefs; r++)
        for (size_t i = 0; i < n; i++) flat[(size_t)r * n + i] = refs[r].lines[i];

    double score;
    char sig[512];
    Meteor15Stats total;
    if (meteor15) {
        Meteor15Params p = meteor15_default_params();
        p.normalize = norm;
        if (!(m15 = meteor15_open(resources, para, &p, err))) { fprintf(stderr, "qbench score meteor15: %s\n", err); goto done; }
        for (int f = -1; f < nrefs; f++) { /* a segment too long to align: name its file and line */
            const TextFile *tf = f < 0 ? &hyp : &refs[f];
            const char *path = f < 0 ? hyp_path : ref_paths[f];
            for (size_t i = 0; i < n; i++) {
                long w = meteor15_words(m15, tf->lines[i], err);
                if (w < 0 || w > METEOR15_MAX_WORDS) {
                    if (w > METEOR15_MAX_WORDS)
                        snprintf(err, sizeof err, "%ld words; meteor15 aligns at most %d words per segment", w,
                                 METEOR15_MAX_WORDS);
                    fprintf(stderr, "qbench score meteor15: %s:%zu: %s\n", path, i + 1, err);
                    goto done;
                }
            }
        }
        if (meteor15_corpus(m15, (const char *const *)hyp.lines, n, flat, nrefs, &total, sent, err)) {
            fprintf(stderr, "qbench score meteor15: %s: %s\n", hyp_path, err);
            goto done;
        }
        score = total.score;
        meteor15_signature(m15, nrefs, sig, sizeof sig);
    } else {
        if (!(wn = wordnet_open(wordnet_dir, err))) { fprintf(stderr, "qbench score meteor: %s\n", err); goto done; }
        MeteorCorpus c;
        if (meteor_nltk_corpus(wn, (const char *const *)hyp.lines, n, flat, nrefs, tok, &c, sent, err)) {
            fprintf(stderr, "qbench score meteor: %s: %s\n", hyp_path, err);
            goto done;
        }
        score = meteor_corpus_mean(&c);
        meteor_nltk_signature(tok, nrefs, sig, sizeof sig);
    }
    BootstrapCI ci = {0};
    char conf[128] = "";
    if (confidence && n > 0) { /* the corpus score is the mean of segments: a resample's is its mean */
        if (bootstrap_ci(bootstrap_mean_score, sent, (int)n, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, &ci, err)) {
            fprintf(stderr, "qbench score meteor: %s: confidence: %s\n", hyp_path, err);
            goto done;
        }
        char rest[512];
        snprintf(rest, sizeof rest, "%s", sig);
        snprintf(sig, sizeof sig, "bs:%d|seed:%d|%.480s", BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, rest);
        snprintf(conf, sizeof conf, " (μ = %.*f ± %.*f)", width, ci.mean, width, ci.ci);
    }
    if (n == 0) fprintf(stderr, "qbench score %s: note: %s has 0 segments; the score is 0.0 by definition\n", argv[0], hyp_path);

    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", name);
        cJSON_AddItemToObject(j, "score", exact_number(score));
        cJSON_AddStringToObject(j, "signature", sig);
        cJSON_AddNumberToObject(j, "nseg", (double)n);
        if (meteor15) add_stats15(j, &total);
        if (confidence && n > 0) {
            cJSON_AddItemToObject(j, "mean", exact_number(ci.mean));
            cJSON_AddItemToObject(j, "ci", exact_number(ci.ci));
            cJSON_AddItemToObject(j, "ci_lower", exact_number(ci.lower));
            cJSON_AddItemToObject(j, "ci_upper", exact_number(ci.upper));
        }
        if (sentence) {
            cJSON *a = cJSON_AddArrayToObject(j, "sentences");
            for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, exact_number(sent[i]));
        }
        char *s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!s) { fprintf(stderr, "qbench score %s: out of memory\n", argv[0]); goto done; }
        puts(s);
        free(s);
    } else {
        if (sentence)
            for (size_t i = 0; i < n; i++) printf("%zu\t%.*f\n", i + 1, width, sent[i]);
        printf("%s|%s = %.*f%s\n", name, sig, width, score, conf);
    }
    rc = 0;
done:
    textfile_free(&hyp);
    for (int r = 0; r < nrefs; r++) textfile_free(&refs[r]);
    free(flat);
    free(sent);
    wordnet_free(wn);
    meteor15_free(m15);
    return rc;
}
