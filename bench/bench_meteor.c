/* bench_meteor.c — segments per second of METEOR (NLTK mode, whitespace and treebank tokens) and
 * Meteor 1.5 mode (meteor_nltk_corpus / meteor15_corpus) on two corpora:
 *   - newstest2014-filtered.en.tok (2,737 segments): hypothesis = each English line with every 5th
 *     token dropped, reference = the line itself (the same fixed pairing as bench_chrf, on the
 *     English side because METEOR's stemmer and synonyms are English);
 *   - the Meteor example corpus: xray/system1.hyp against xray/reference (2,489 segments).
 * One thread and all threads; resource loading (WordNet, Meteor files) is timed separately.
 * If /usr/bin/python3 has NLTK and WordNet is installed, NLTK's meteor_score is timed on the
 * first 1000 xray segments (WordNet loaded before the clock starts) and the speed ratio printed.
 * Figures only, never pass/fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <omp.h>

#include "metrics/meteor.h"
#include "metrics/textfile.h"

#define NLTK_SEGMENTS 1000

static char *drop_every_fifth(const char *line) {
    size_t n = strlen(line);
    char *out = malloc(n + 1), *o = out;
    int tok = 0;
    for (const char *p = line; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ') q++;
        if (++tok % 5 != 0) {
            if (o != out) *o++ = ' ';
            memcpy(o, p, (size_t)(q - p));
            o += q - p;
        }
        p = q;
    }
    *o = 0;
    return out;
}

typedef struct {
    const char *label;
    const char *const *hyps, *const *refs;
    size_t n;
} Corpus;

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* kind 0: NLTK whitespace, 1: NLTK treebank, 2: Meteor 1.5. Returns seg/s (wall); *cpu gets
 * segments per CPU-second of the whole process (steadier than wall time on a shared machine). */
static double run(const WordNet *wn, const Meteor15 *m15, const Corpus *c, int kind, int threads, double *cpu) {
    char err[QB_ERRLEN];
    omp_set_num_threads(threads);
    int reps = 0;
    double score = 0, t0 = omp_get_wtime(), c0 = cpu_now(), t;
    do {
        if (kind < 2) {
            MeteorCorpus mc;
            if (meteor_nltk_corpus(wn, c->hyps, c->n, c->refs, 1, kind ? METEOR_TOK_TREEBANK : METEOR_TOK_WHITESPACE,
                                   &mc, NULL, err)) { fprintf(stderr, "%s\n", err); exit(1); }
            score = meteor_corpus_mean(&mc);
        } else {
            Meteor15Stats st;
            if (meteor15_corpus(m15, c->hyps, c->n, c->refs, 1, &st, NULL, err)) { fprintf(stderr, "%s\n", err); exit(1); }
            score = st.score;
        }
        reps++;
        t = omp_get_wtime() - t0;
    } while (t < 1.0);
    double sps = (double)c->n * reps / t, per_cpu = (double)c->n * reps / (cpu_now() - c0);
    static const char *const names[] = {"meteor (ws)", "meteor (treebank)", "meteor15"};
    printf("%-28s %-18s threads %d: %8.0f seg/s wall %8.0f seg per CPU-s  score %.4f\n", c->label, names[kind],
           threads, sps, per_cpu, score);
    if (cpu) *cpu = per_cpu;
    return sps;
}

/* NLTK's meteor_score on the first n xray segments; seg/s (wall; *cpu gets seg per CPU-second),
 * or 0 when NLTK/WordNet are missing */
static double nltk_speed(int n, double *cpu) {
    static const char *script =
        "import os, shutil, sys, tempfile, time\n"
        "tmp = tempfile.mkdtemp()\n"
        "d = os.path.join(tmp, 'corpora', 'wordnet')\n"
        "shutil.copytree('/usr/share/wordnet', d, ignore=shutil.ignore_patterns('pixmaps', 'bin', 'wnres'))\n"
        "open(os.path.join(d, 'lexnames'), 'w').write(''.join('%02d\\tx.%d\\t1\\n' % (i, i) for i in range(45)))\n"
        "import nltk\n"
        "nltk.data.path.insert(0, tmp)\n"
        "from nltk.translate.meteor_score import meteor_score\n"
        "n = int(sys.argv[1])\n"
        "h = open('assets/meteor-examples/xray/system1.hyp', encoding='utf-8').read().split('\\n')[:n]\n"
        "r = open('assets/meteor-examples/xray/reference', encoding='utf-8').read().split('\\n')[:n]\n"
        "meteor_score([r[0].split()], h[0].split())  # loads WordNet\n"
        "t, c = time.perf_counter(), time.process_time()\n"
        "s = sum(meteor_score([b.split()], a.split()) for a, b in zip(h, r))\n"
        "t, c = time.perf_counter() - t, time.process_time() - c\n"
        "shutil.rmtree(tmp)\n"
        "print('segps %f cpu %f mean %f' % (n / t, n / c, s / n))\n";
    if (access("/usr/bin/python3", X_OK) != 0 || access("/usr/share/wordnet/index.noun", R_OK) != 0) return 0;
    char path[] = "/tmp/qbench_bench_meteor_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    FILE *f = fdopen(fd, "w");
    fputs(script, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d 2>/dev/null", path, n);
    FILE *p = popen(cmd, "r");
    double sps = 0, mean = 0;
    if (p) {
        if (fscanf(p, "segps %lf cpu %lf mean %lf", &sps, cpu, &mean) != 3) sps = 0;
        pclose(p);
    }
    unlink(path);
    if (sps > 0)
        printf("NLTK 3.8 meteor_score (python3, 1 thread), first %d xray segments: %.0f seg/s wall, %.0f seg per "
               "CPU-second (mean %.4f)\n", n, sps, *cpu, mean);
    return sps;
}

int main(void) {
    char err[QB_ERRLEN];
    TextFile en, xh, xr;
    if (textfile_read("assets/wmt14-ende/newstest2014-filtered.en.tok", &en, err) ||
        textfile_read("assets/meteor-examples/xray/system1.hyp", &xh, err) ||
        textfile_read("assets/meteor-examples/xray/reference", &xr, err)) {
        fprintf(stderr, "bench_meteor: %s (run `make assets` and start from the repository root)\n", err);
        return 1;
    }
    double t0 = omp_get_wtime();
    WordNet *wn = wordnet_open(NULL, err);
    if (!wn) { fprintf(stderr, "bench_meteor: %s\n", err); return 1; }
    double t1 = omp_get_wtime();
    Meteor15 *m15 = meteor15_open(NULL, NULL, NULL, err);
    if (!m15) { fprintf(stderr, "bench_meteor: %s\n", err); return 1; }
    double t2 = omp_get_wtime();
    printf("METEOR benchmark (a shared, busy machine: figures are noisy)\n");
    printf("load: WordNet %.0f ms, Meteor 1.5 resources %.0f ms\n", 1e3 * (t1 - t0), 1e3 * (t2 - t1));
    char **pert = malloc(en.n * sizeof(char *));
    for (size_t i = 0; i < en.n; i++) pert[i] = drop_every_fifth(en.lines[i]);
    Corpus cs[2] = {{"newstest2014 en (drop 5th)", (const char *const *)pert, (const char *const *)en.lines, en.n},
                    {"xray system1 vs reference", (const char *const *)xh.lines, (const char *const *)xr.lines, xh.n}};
    /* the NLTK ratio compares like with like: its subset, one C thread */
    Corpus sub = {"xray first 1000", cs[1].hyps, cs[1].refs, NLTK_SEGMENTS};
    int maxt = omp_get_max_threads();
    for (int t = 1; t <= maxt; t = (t == maxt ? maxt + 1 : maxt))
        for (int c = 0; c < 2; c++)
            for (int k = 0; k < 3; k++) run(wn, m15, &cs[c], k, t, NULL);
    double c_cpu = 0, py_cpu = 0;
    double c_sps = run(wn, m15, &sub, 0, 1, &c_cpu);
    double py = nltk_speed(NLTK_SEGMENTS, &py_cpu);
    if (py > 0)
        printf("speed ratio C / NLTK (1 thread, same %d segments): %.0fx wall, %.0fx per CPU-second (target >= 100x)\n",
               NLTK_SEGMENTS, c_sps / py, c_cpu / py_cpu);
    else printf("NLTK not available (/usr/bin/python3 with nltk, /usr/share/wordnet): ratio skipped\n");
    for (size_t i = 0; i < en.n; i++) free(pert[i]);
    free(pert);
    wordnet_free(wn);
    meteor15_free(m15);
    textfile_free(&en);
    textfile_free(&xh);
    textfile_free(&xr);
    return 0;
}
