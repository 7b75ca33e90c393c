/* ppl.h — perplexity of a model on a text, in the three window schemes people compare against, and
 * agreement (top-1, KL) between a base and a candidate model on the same windows.
 *
 * Modes (the mode and its settings travel with every number; see ppl_signature):
 *   gptq     non-overlapping windows of seqlen over the text tokenized once (BOS first when the
 *            tokenizer adds one); in every window all positions after the first are scored. The
 *            GPTQ paper's evaluation. The tail shorter than seqlen is dropped.
 *   llamacpp llama.cpp's llama-perplexity step for step: one trailing newline dropped, tokenized once
 *            with BOS; floor(N/c) chunks of c tokens (the rest ignored); each chunk's first token is
 *            replaced by BOS; positions 0..c-1 run from an empty cache; only the logits at positions
 *            c/2 .. c-2 are scored (against the next token).
 *   stride   the Hugging Face perplexity guide's sliding window: windows of max_length = seqlen start
 *            every `stride` tokens; each scores only its last trg_len = end - prev_end tokens (the
 *            first window all but its first), so every token after the first is scored once when
 *            stride <= seqlen.
 * In all modes ppl = exp(mean NLL over the scored tokens).
 *
 * Statistics are sums (count, Σnll, Σnll², bytes), so shards merge by addition. The standard error
 * is llama.cpp's: se(ppl) = ppl · sqrt(var(nll) / (n-1)) with var the population variance (delta
 * method). Bits per byte = Σnll / ln 2 / bytes, where bytes is the number of UTF-8 bytes the scored
 * target tokens decode to (tokenizer_piece after their actual predecessor; BOS/EOS count 0). For a
 * fully scored text this is the text's byte count, except characters the vocabulary maps to <unk>,
 * which count as the bytes of "<unk>"; it compares models with different tokenizers.
 *
 * Nothing here prints; progress is reported through a callback. Functions return 0 / -1 with err. */
#ifndef QBENCH_PPL_H
#define QBENCH_PPL_H

#include <stddef.h>
#include "model/model.h"
#include "model/tokenizer.h"

typedef enum { PPL_GPTQ, PPL_LLAMACPP, PPL_STRIDE } PplMode;

const char *ppl_mode_name(PplMode m);             /* "gptq", "llamacpp", "stride" */
int ppl_mode_parse(const char *s, PplMode *m);    /* 0, or -1 for an unknown name */

/* One window: tokens[start .. start+len) run from position 0; targets at window indices
 * [first_target, len) are scored, each from the logits one position before it. */
typedef struct {
    long start;
    int len;
    int first_target;
    int bos_first; /* replace the window's first token by BOS (llamacpp) */
} PplWindow;

/* Progress: `done` of `total` window tokens have been run through the model. */
typedef void (*PplProgressFn)(void *ctx, long done, long total);

typedef struct {
    PplMode mode;
    int seqlen;        /* window length (c for llamacpp, max_length for stride) */
    int stride;        /* stride mode only */
    int max_windows;   /* 0 = all; otherwise only the first max_windows windows */
    PplProgressFn progress;
    void *progress_ctx;
    double *window_nll; /* optional (ppl_eval_tokens): receives each window's Σnll in window order, as
                           many entries as ppl_plan gives windows; paired comparisons need them */
} PplOptions;

/* Sufficient statistics; add two with ppl_stats_merge. */
typedef struct {
    long n_text_tokens; /* tokens of the evaluated text(s), BOS included */
    long n_windows;
    long n_scored;
    double sum_nll, sum_nll2;
    double n_bytes;
} PplStats;

/* The windows of a mode over n tokens (malloc'd, caller frees). Errors: bad seqlen / stride, or too
 * few tokens for a single window. */
int ppl_plan(const PplOptions *o, long n_tokens, PplWindow **w, long *nw, char err[QB_ERRLEN]);

/* Perplexity over token ids (bos = the id placed first in llamacpp windows; token_bytes[i] = bytes of
 * token i, or NULL to count no bytes). Statistics are added to *st (zero it first). */
int ppl_eval_tokens(const Model *m, const int *tokens, long n, int bos, const float *token_bytes,
                    const PplOptions *o, PplStats *st, char err[QB_ERRLEN]);

/* Perplexity of a UTF-8 text: tokenizes it as the mode says (llamacpp drops one trailing newline),
 * BOS first, bytes from the tokenizer. */
int ppl_eval_text(const Model *m, const Tokenizer *t, const char *text, size_t len, const PplOptions *o,
                  PplStats *st, char err[QB_ERRLEN]);

void ppl_stats_merge(PplStats *into, const PplStats *from);
double ppl_mean_nll(const PplStats *s);
double ppl_value(const PplStats *s);          /* exp(mean nll) */
double ppl_stderr(const PplStats *s);         /* llama.cpp's ± */
double ppl_bits_per_byte(const PplStats *s);  /* NAN when no bytes were counted */

/* Algorithm versions of the perplexity and agreement numbers: bumped when a change alters them.
 * They are part of every signature, so a number computed before the change is never matched. */
#define PPL_ALGORITHM_VERSION 1
#define AGREEMENT_ALGORITHM_VERSION 1

/* The settings behind a number, as key:value pairs separated by '|' (no '|' or ':' inside a value),
 * e.g. "metric:ppl|v:1|mode:llamacpp|ctx:256|scored:128-254|bos:overwrite|tok:tok512.bin|prepend:yes|data:0123456789ab".
 * `windows:N` when max_windows limits the windows; `data:` (the first 12 hex digits of the text's
 * sha256) when data_sha256 is given. tokenizer_name may be NULL. The CLI and a sweep print the
 * same signature for the same computation. */
void ppl_signature(const PplOptions *o, const char *tokenizer_name, int prepend_space, const char *data_sha256,
                   char *out, size_t outlen);

/* Negative log-likelihood (nats) of `target` under softmax(logits[vocab]), as llama.cpp computes it:
 * float max, double sum of expf. */
double ppl_token_nll(const float *logits, int vocab, int target);

/* ---- agreement between two models (metrics/agreement.c) ---------------------------------------- */

/* Sums over positions; merge by adding. */
typedef struct {
    long n;           /* positions compared */
    long top1_agree;  /* argmax(base) == argmax(cand) (first index wins ties) */
    double kl_sum;    /* Σ KL(p_base ‖ p_cand), nats */
    double kl_sum2;   /* Σ KL², for the standard error */
    double *kl_tok;   /* per-position KL in window order (n values) or NULL: kept so the summary
                         can be recomputed; owned, free with agreement_stats_free */
    unsigned char *top1_tok; /* per-position top-1 agreement (0/1) beside kl_tok, or NULL; owned */
} AgreementStats;

/* llama.cpp's --kl-divergence summary (perplexity.cpp): mean KL ± its standard error
 * sqrt((Σx²/n − mean²)/(n − 1)), the median, 90/95/99th percentiles and the maximum of the
 * per-position values (linear interpolation at fraction·(n − 1) of the sorted values), and the
 * same-top-token rate ± sqrt(p(1 − p)/(n − 1)). Percentiles are NAN without per-position values. */
typedef struct {
    long n;
    double kl_mean, kl_se, kl_median, kl_p90, kl_p95, kl_p99, kl_max;
    double same_top, same_top_se;
} AgreementSummary;
void agreement_summary(const AgreementStats *st, AgreementSummary *out);
void agreement_stats_free(AgreementStats *st);

/* base[n][vocab] vs cand[n][vocab] logits, position by position, added to *st (sums only). */
void agreement_add_logits(AgreementStats *st, const float *base, const float *cand, int n, int vocab);
void agreement_merge(AgreementStats *into, const AgreementStats *from);
double agreement_top1(const AgreementStats *st);   /* fraction, NAN when n == 0 */
double agreement_kl_mean(const AgreementStats *st); /* nats per position, NAN when n == 0 */
/* KL(p ‖ q) in nats for one position, from logits (double log-softmax). */
double agreement_kl(const float *base, const float *cand, int vocab);

/* Runs both models on the windows of o over tokens[n] and compares their logits at the scored
 * positions of each window (the same positions perplexity scores). Models must share the vocabulary. */
int agreement_eval_tokens(const Model *base, const Model *cand, const int *tokens, long n, int bos,
                          const PplOptions *o, AgreementStats *st, char err[QB_ERRLEN]);

#endif
