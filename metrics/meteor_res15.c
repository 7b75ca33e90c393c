/* meteor_res15.c — Meteor 1.5's English resources: the synonym database (english.synsets: a word
 * line, then its WordNet synset numbers), the morphological exceptions (english.exceptions: a
 * base line, then its inflected forms), the function-word list, and an optional paraphrase
 * table. Synonym classes follow SynonymDictionary.java: a word's synsets plus those of its base
 * forms, found in the exceptions or by WordNet's morph() suffix rules as Meteor ports them
 * (first rule whose result is a known word wins; no "-ves" rule). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/meteor_internal.h"
#include "metrics/meteor15.h"

/* next line of [*p, end): start and length without the '\n' / "\r\n" */
static int next_line(char **p, char *end, char **s, int *len) {
    if (*p >= end) return 0;
    char *e = memchr(*p, '\n', (size_t)(end - *p));
    char *stop = e ? e : end;
    *s = *p;
    *len = (int)(stop - *p);
    if (*len > 0 && (*s)[*len - 1] == '\r') (*len)--;
    *p = e ? e + 1 : end;
    return 1;
}

static int is_sp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f'; }

static char *read_res(const char *dir, const char *name, size_t *len, char *path, size_t pcap,
                      char err[QB_ERRLEN]) {
    snprintf(path, pcap, "%.900s/%.100s", dir, name);
    char e2[QB_ERRLEN];
    char *b = qb_read_file(path, len, e2);
    if (!b) snprintf(err, QB_ERRLEN, "Meteor 1.5 resource missing: %.300s (set --resources DIR)", path);
    return b;
}

/* The growable int arrays of the resource tables. */
static int grow_int(int **a, size_t *cap, int need) { return qb_grow((void **)a, cap, (size_t)need, sizeof **a); }

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int load_synsets(Meteor15 *m, const char *dir, char err[QB_ERRLEN]) {
    char path[1024];
    size_t len;
    if (!(m->syn_buf = read_res(dir, "english.synsets", &len, path, sizeof path, err))) return -1;
    char *p = m->syn_buf, *end = p + len, *w, *ids;
    int wl, il, line = 0, nids = 0;
    size_t cap_ids = 0, cap_s = 0, cap_c = 0;
    while (next_line(&p, end, &w, &wl)) {
        line++;
        if (!next_line(&p, end, &ids, &il)) {
            snprintf(err, QB_ERRLEN, "%.300s line %d: word without a synset line (truncated file)", path, line);
            return -1;
        }
        line++;
        int id = mt_intern(&m->syn, w, wl, 1);
        if (id < 0 || grow_int(&m->syn_start, &cap_s, id + 1) || grow_int(&m->syn_count, &cap_c, id + 1)) goto oom;
        int start = nids;
        for (int i = 0; i < il;) {
            while (i < il && is_sp(ids[i])) i++;
            if (i == il) break;
            long v = 0;
            int j = i;
            while (j < il && !is_sp(ids[j])) {
                if (ids[j] < '0' || ids[j] > '9' || v > 100000000L) {
                    snprintf(err, QB_ERRLEN, "%.300s line %d: bad synset number", path, line);
                    return -1;
                }
                v = v * 10 + (ids[j] - '0');
                j++;
            }
            if (grow_int(&m->syn_ids, &cap_ids, nids + 1)) goto oom;
            m->syn_ids[nids++] = (int)v;
            i = j;
        }
        qsort(m->syn_ids + start, (size_t)(nids - start), sizeof(int), cmp_int);
        m->syn_start[id] = start; /* a repeated word: the later entry wins (Hashtable.put) */
        m->syn_count[id] = nids - start;
    }
    return 0;
oom:
    snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
    return -1;
}

static int load_exceptions(Meteor15 *m, const char *dir, char err[QB_ERRLEN]) {
    char path[1024];
    size_t len;
    if (!(m->exc_buf = read_res(dir, "english.exceptions", &len, path, sizeof path, err))) return -1;
    /* pass 1: (form, base) pairs in file order */
    int npair = 0, line = 0;
    size_t cap = 0, cap2 = 0;
    int *pform = NULL, *pbase_off = NULL;
    char *p = m->exc_buf, *end = p + len, *base, *forms;
    int bl, fl;
    int *pbase_len = NULL;
    size_t cap3 = 0;
    while (next_line(&p, end, &base, &bl)) {
        line++;
        if (!next_line(&p, end, &forms, &fl)) {
            snprintf(err, QB_ERRLEN, "%.300s line %d: base form without a line of inflections (truncated file)", path, line);
            free(pform); free(pbase_off); free(pbase_len);
            return -1;
        }
        line++;
        for (int i = 0; i < fl;) {
            while (i < fl && is_sp(forms[i])) i++;
            if (i == fl) break;
            int j = i;
            while (j < fl && !is_sp(forms[j])) j++;
            int id = mt_intern(&m->exc, forms + i, j - i, 1);
            if (id < 0 || grow_int(&pform, &cap, npair + 1) || grow_int(&pbase_off, &cap2, npair + 1) ||
                grow_int(&pbase_len, &cap3, npair + 1)) {
                free(pform); free(pbase_off); free(pbase_len);
                snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
                return -1;
            }
            pform[npair] = id;
            pbase_off[npair] = (int)(base - m->exc_buf);
            pbase_len[npair++] = bl;
            i = j;
        }
    }
    /* pass 2: group the bases by form, keeping file order (ArrayList.add) */
    int nf = m->exc.n;
    m->exc_start = calloc((size_t)nf + 1, sizeof(int));
    m->exc_count = calloc((size_t)nf + 1, sizeof(int));
    m->exc_base = malloc(sizeof(char *) * (size_t)(npair + 1));
    m->exc_base_len = malloc(sizeof(int) * (size_t)(npair + 1));
    int rc = -1;
    if (!m->exc_start || !m->exc_count || !m->exc_base || !m->exc_base_len) {
        snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
        goto done;
    }
    for (int k = 0; k < npair; k++) m->exc_count[pform[k]]++;
    for (int f = 1; f < nf; f++) m->exc_start[f] = m->exc_start[f - 1] + m->exc_count[f - 1];
    for (int f = 0; f < nf; f++) m->exc_count[f] = 0;
    for (int k = 0; k < npair; k++) {
        int f = pform[k], slot = m->exc_start[f] + m->exc_count[f]++;
        m->exc_base[slot] = m->exc_buf + pbase_off[k];
        m->exc_base_len[slot] = pbase_len[k];
    }
    rc = 0;
done:
    free(pform); free(pbase_off); free(pbase_len);
    return rc;
}

static int load_function_words(Meteor15 *m, const char *dir, char err[QB_ERRLEN]) {
    char path[1024];
    size_t len;
    if (!(m->fw_buf = read_res(dir, "english.function-words", &len, path, sizeof path, err))) return -1;
    char *p = m->fw_buf, *end = p + len, *w;
    int wl;
    while (next_line(&p, end, &w, &wl))
        if (mt_intern(&m->fw, w, wl, 1) < 0) {
            snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
            return -1;
        }
    return 0;
}

/* words of s[0..n) joined by single spaces into out; returns the word count */
static int norm_phrase(const char *s, int n, char *out, int *olen) {
    int k = 0, words = 0;
    for (int i = 0; i < n;) {
        while (i < n && is_sp(s[i])) i++;
        if (i == n) break;
        if (words) out[k++] = ' ';
        while (i < n && !is_sp(s[i])) out[k++] = s[i++];
        words++;
    }
    *olen = k;
    return words;
}

static int load_paraphrases(Meteor15 *m, const char *path, char err[QB_ERRLEN]) {
    size_t len;
    char e2[QB_ERRLEN];
    if (!(m->para_buf = qb_read_file(path, &len, e2))) {
        snprintf(err, QB_ERRLEN, "paraphrase table: %.300s", e2);
        return -1;
    }
    /* each pair gives two keys "a\tb" and "b\ta": at most 2 * (len + 2) bytes */
    m->para_keys = malloc(2 * len + 16);
    if (!m->para_keys) { snprintf(err, QB_ERRLEN, "%.300s: out of memory", path); return -1; }
    size_t used = 0;
    char *p = m->para_buf, *end = p + len, *s;
    int sl, line = 0;
    while (next_line(&p, end, &s, &sl)) {
        line++;
        char *f[3];
        int fl[3], nf = 0;
        char *q = s, *qe = s + sl;
        while (nf < 3) {
            char *sep = NULL;
            for (char *t = q; t + 3 <= qe; t++)
                if (t[0] == '|' && t[1] == '|' && t[2] == '|') { sep = t; break; }
            f[nf] = q;
            fl[nf++] = (int)((sep ? sep : qe) - q);
            if (!sep) break;
            q = sep + 3;
        }
        if (nf == 1 && fl[0] == 0) continue; /* blank line */
        if (nf < 2) {
            snprintf(err, QB_ERRLEN, "%.300s line %d: expected \"phrase ||| paraphrase\"", path, line);
            return -1;
        }
        char *a = f[nf - 2], *b = f[nf - 1];
        int al = fl[nf - 2], bl = fl[nf - 1];
        char *ka = m->para_keys + used;
        int la, lb;
        int wa = norm_phrase(a, al, ka, &la);
        ka[la] = '\t';
        int wb = norm_phrase(b, bl, ka + la + 1, &lb);
        if (wa == 0 || wb == 0) {
            snprintf(err, QB_ERRLEN, "%.300s line %d: empty phrase", path, line);
            return -1;
        }
        char *kb = ka + la + 1 + lb;
        memcpy(kb, ka + la + 1, (size_t)lb);
        kb[lb] = '\t';
        memcpy(kb + lb + 1, ka, (size_t)la);
        used += 2 * (size_t)(la + lb + 1);
        if (mt_intern(&m->para, ka, la + lb + 1, 1) < 0 || mt_intern(&m->para, kb, la + lb + 1, 1) < 0) {
            snprintf(err, QB_ERRLEN, "%.300s: out of memory", path);
            return -1;
        }
        if (wa > m->para_maxlen) m->para_maxlen = wa;
        if (wb > m->para_maxlen) m->para_maxlen = wb;
    }
    return 0;
}

int m15_load(Meteor15 *m, const char *resources, const char *paraphrase, char err[QB_ERRLEN]) {
    if (!resources) resources = "assets/meteor-examples/resources-en";
    snprintf(m->resources, sizeof m->resources, "%s", resources);
    if (load_function_words(m, resources, err) || load_synsets(m, resources, err) ||
        load_exceptions(m, resources, err))
        return -1;
    if (paraphrase) {
        snprintf(m->paraphrase, sizeof m->paraphrase, "%s", paraphrase);
        if (load_paraphrases(m, paraphrase, err)) return -1;
    }
    return 0;
}

void m15_unload(Meteor15 *m) {
    free(m->syn_buf); free(m->exc_buf); free(m->fw_buf); free(m->para_buf); free(m->para_keys);
    mt_intern_free(&m->syn); mt_intern_free(&m->exc); mt_intern_free(&m->fw); mt_intern_free(&m->para);
    free(m->syn_start); free(m->syn_count); free(m->syn_ids);
    free(m->exc_start); free(m->exc_count); free(m->exc_base); free(m->exc_base_len);
}

int m15_is_function_word(const Meteor15 *m, const char *w, int len) {
    return mt_intern((MtIntern *)&m->fw, w, len, 0) >= 0; /* add = 0 never writes */
}

int m15_is_paraphrase(const Meteor15 *m, const char *a, int alen, const char *b, int blen) {
    if (!m->para_maxlen) return 0;
    char small[512];
    size_t n = (size_t)alen + (size_t)blen + 1;
    char *k = n <= sizeof small ? small : malloc(n);
    if (!k) return 0;
    memcpy(k, a, (size_t)alen);
    k[alen] = '\t';
    memcpy(k + alen + 1, b, (size_t)blen);
    int hit = mt_intern((MtIntern *)&m->para, k, (int)n, 0) >= 0;
    if (k != small) free(k);
    return hit;
}

static int syn_id(const Meteor15 *m, const char *w, int len) {
    return mt_intern((MtIntern *)&m->syn, w, len, 0);
}

/* WordNet morph() as SynonymDictionary.morph ports it: noun, verb, adjective suffixes in order,
 * the first rewrite that is a known word wins. A word ending in "ful" gets "ful" appended to the
 * result (Meteor keeps that part of WordNet's rule but not the stripping). Returns the length
 * written to out, 0 for none, or -1 for "the word itself" (ends in "ss" or <= 2 letters). */
static int morph(const Meteor15 *m, const char *w, int len, char *out) {
    static const char *const SUF[20] = {"s", "ses", "xes", "zes", "ches", "shes", "men", "ies", "s", "ies",
                                        "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"};
    static const char *const ADD[20] = {"", "s", "x", "z", "ch", "sh", "man", "y", "", "y",
                                        "e", "", "e", "", "e", "", "", "", "e", "e"};
    int ful = len >= 3 && memcmp(w + len - 3, "ful", 3) == 0;
    /* Java's String.length() counts UTF-16 units; for the <= 2 test bytes differ only for
     * non-ASCII words, which have no English morphology anyway */
    if ((len >= 2 && w[len - 1] == 's' && w[len - 2] == 's') || len <= 2) return -1;
    for (int r = 0; r < 20; r++) {
        int sl = (int)strlen(SUF[r]);
        if (len < sl || memcmp(w + len - sl, SUF[r], (size_t)sl) != 0) continue;
        int al = (int)strlen(ADD[r]), n = len - sl;
        memcpy(out, w, (size_t)n);
        memcpy(out + n, ADD[r], (size_t)al);
        n += al;
        if (syn_id(m, out, n) >= 0) {
            if (ful) { memcpy(out + n, "ful", 3); n += 3; }
            return n;
        }
    }
    return 0;
}

static int append_syn(const Meteor15 *m, int id, int **ids, int *n, size_t *cap) {
    if (id < 0) return 0;
    int c = m->syn_count[id];
    if (grow_int(ids, cap, *n + c)) return -1;
    memcpy(*ids + *n, m->syn_ids + m->syn_start[id], sizeof(int) * (size_t)c);
    *n += c;
    return 0;
}

int m15_synsets(const Meteor15 *m, const char *w, int len, int **ids, int *n) {
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    if (append_syn(m, syn_id(m, w, len), ids, n, &cap)) return -1;
    int e = mt_intern((MtIntern *)&m->exc, w, len, 0);
    if (e >= 0) {
        for (int k = 0; k < m->exc_count[e]; k++) {
            int s = m->exc_start[e] + k;
            if (append_syn(m, syn_id(m, m->exc_base[s], m->exc_base_len[s]), ids, n, &cap)) return -1;
        }
    } else {
        char *buf = malloc((size_t)len + 8);
        if (!buf) return -1;
        int k = morph(m, w, len, buf);
        int rc = append_syn(m, k < 0 ? syn_id(m, w, len) : k > 0 ? syn_id(m, buf, k) : -1, ids, n, &cap);
        free(buf);
        if (rc) return -1;
    }
    if (*n > 1) {
        qsort(*ids, (size_t)*n, sizeof(int), cmp_int);
        int k = 1;
        for (int i = 1; i < *n; i++) if ((*ids)[i] != (*ids)[k - 1]) (*ids)[k++] = (*ids)[i];
        *n = k;
    }
    return 0;
}
