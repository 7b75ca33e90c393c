/* base.h — what every qbench module shares, beneath the model runtime in the layering
 * (harness → quant, metrics, datasets → model → base): the error convention, SHA-256, the seeded
 * random number generator, whole-file reads, the UTF-8 check of text inputs, growable arrays and
 * JSON building. Nothing here knows about models.
 *
 * The error convention, used by every module:
 *   - Functions that can fail return 0 on success and -1 on error (or NULL), writing a one-line
 *     message into `err` (QB_ERRLEN bytes) that names the file, line, tensor or field at fault.
 *   - Library code never prints and never exits; the command line prints the message and exits 2.
 */
#ifndef QBENCH_BASE_H
#define QBENCH_BASE_H

#include <stddef.h>
#include <stdint.h>

#define QB_ERRLEN 512

/* ---- SHA-256 (FIPS 180-4): asset, model and experiment identity ------------------------------ */

/* Incremental form, for data that arrives in pieces. */
typedef struct { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t nbuf; } QbSha256;
void qb_sha256_init(QbSha256 *c);
void qb_sha256_update(QbSha256 *c, const void *data, size_t n);
void qb_sha256_final_hex(QbSha256 *c, char out[65]); /* 64 hex chars + NUL */

/* SHA-256 of a buffer / of a file, as 64 hex chars + NUL. */
void qb_sha256_hex(const void *data, size_t len, char out[65]);
int qb_sha256_file(const char *path, char out[65], char err[QB_ERRLEN]);

/* ---- deterministic PRNG (xoshiro256** seeded through splitmix64) -------------------------------- */
/* Every random choice in qbench comes from one of these, so a seed fixes a run. */
typedef struct { uint64_t s[4]; } QbRng;
void qb_rng_seed(QbRng *r, uint64_t seed);
uint64_t qb_rng_next(QbRng *r);
double qb_rng_uniform(QbRng *r);            /* [0, 1) */
uint64_t qb_rng_below(QbRng *r, uint64_t n); /* [0, n), unbiased */
float qb_rng_normal(QbRng *r);

/* ---- files ------------------------------------------------------------------------------------- */

/* Whole file into a NUL-terminated buffer (the NUL is not counted in *len); NULL with err naming
 * the file on failure. */
char *qb_read_file(const char *path, size_t *len, char err[QB_ERRLEN]);
/* Drops the whole pages inside [p, p + n) of a file mapping from this process's memory (madvise
 * DONTNEED): for read-only data already copied out, so a loader's peak stays near what it keeps. The
 * pages must hold no private writes (they would be lost); partial pages at either end are kept. */
void qb_drop_pages(const void *p, size_t n);
/* Writes text and a final newline to path (created or truncated); -1 with err naming the file. A NULL
 * text (what a JSON printer returns when out of memory) is an error too. */
int qb_write_text_file(const char *path, const char *text, char err[QB_ERRLEN]);

/* ---- text -------------------------------------------------------------------------------------- */

/* Every text input is strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF) without
 * NUL bytes; otherwise -1 and err = "WHAT:LINE: invalid UTF-8 at byte column C (byte 0xXX)" or
 * "WHAT:LINE: NUL byte at column C" (lines split on '\n', columns in bytes from 1). */
int qb_text_validate(const char *data, size_t len, const char *what, char err[QB_ERRLEN]);
/* qb_read_file, then qb_text_validate naming the file. */
char *qb_read_text_file(const char *path, size_t *len, char err[QB_ERRLEN]);

/* ---- numbers ----------------------------------------------------------------------------------- */

/* The shortest decimal (6 to 9 significant digits) that reads back as the same float, so a JSON file
 * says 1e-05 rather than 9.99999975e-06. */
double qb_short_decimal(float f);

/* ---- growable arrays --------------------------------------------------------------------------- */

/* Makes *p (an array of `elem`-byte items with capacity *cap) hold at least `need` items, growing
 * geometrically; new items are uninitialised. Returns 0, or -1 on overflow or out of memory (then
 * *p and *cap are unchanged). Use: if (qb_grow((void **)&v, &cap, n + 1, sizeof *v)) goto oom; */
int qb_grow(void **p, size_t *cap, size_t need, size_t elem);

/* ---- JSON values that notice running out of memory (base/json.c) ------------------------------ */

/* cJSON returns NULL from every Create/Add when an allocation fails; a QbJson remembers whether any
 * addition failed, so a writer adds every field and checks once, in qb_json_finish. */
struct cJSON;
typedef struct { struct cJSON *j; int ok; } QbJson;
QbJson qb_json_object(void); /* ok = 0 when it could not be made */
QbJson qb_json_array(void);
void qb_json_num(QbJson *o, const char *key, double v);
void qb_json_bool(QbJson *o, const char *key, int v);
void qb_json_str(QbJson *o, const char *key, const char *v);
/* Adds item under key (an object) or at the end (key NULL: an array), taking it; a NULL item or a
 * failed addition clears ok (the item is freed). */
void qb_json_add(QbJson *o, const char *key, struct cJSON *item);
/* The value built, or NULL (all of it freed) when anything failed. */
struct cJSON *qb_json_finish(QbJson *o);

#endif
