/* hash_cache.c — the sha256 of a weight file without reading the whole file on every load. Hashing a
 * 438 MB model took ~2 s of every `info`/`ppl`/`generate`; the hash only names the model in results,
 * so it is computed once and kept in a small cache file, one line per file:
 *   sha256 <TAB> device <TAB> inode <TAB> size <TAB> mtime ns <TAB> ctime ns <TAB> real path
 * A line counts only when every field matches the file as it is now. The ctime cannot be set back by
 * a program (unlike the mtime), so a file changed in place, even with its old size and mtime restored,
 * misses the cache and is hashed again. Location: $QBENCH_CACHE_DIR, else $XDG_CACHE_HOME/qbench,
 * else ~/.cache/qbench; QBENCH_HASH_CACHE=0 turns it off. A cache that cannot be read or written is
 * ignored (the hash is computed); lines that do not parse are skipped. New lines are appended with one
 * write() on an O_APPEND descriptor, so concurrent processes do not interleave them; past 1 MiB the
 * file is started afresh. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model_internal.h"

#define CACHE_MAX_BYTES (1L << 20)

static int cache_path(char *out, size_t n) {
    const char *e = getenv("QBENCH_HASH_CACHE");
    if (e && !strcmp(e, "0")) return -1;
    const char *dir = getenv("QBENCH_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (dir && *dir) w = snprintf(out, n, "%s/sha256-cache.tsv", dir);
    else if (xdg && *xdg) w = snprintf(out, n, "%s/qbench/sha256-cache.tsv", xdg);
    else if (home && *home) w = snprintf(out, n, "%s/.cache/qbench/sha256-cache.tsv", home);
    else return -1;
    return w > 0 && (size_t)w < n ? 0 : -1;
}

/* mkdir -p of the directory part of path */
static void make_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        (void)mkdir(path, 0700);
        *p = '/';
    }
}

static void key_of(const struct stat *st, const char *real, char *key, size_t n) {
    snprintf(key, n, "%ju\t%ju\t%jd\t%jd\t%jd\t%s", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino, (intmax_t)st->st_size,
             (intmax_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
             (intmax_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec, real);
}

static int is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* Finds key in the cache; 0 and out filled on a hit. */
static int cache_lookup(const char *cpath, const char *key, char out[65]) {
    FILE *f = fopen(cpath, "r");
    if (!f) return -1;
    char line[PATH_MAX + 256];
    size_t klen = strlen(key);
    int hit = -1;
    while (hit && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        if (len == 65 + klen && line[64] == '\t' && is_hex64(line) && !memcmp(line + 65, key, klen)) {
            memcpy(out, line, 64);
            out[64] = '\0';
            hit = 0;
        }
    }
    fclose(f);
    return hit;
}

static void cache_store(char *cpath, const char *key, const char sha[65]) {
    char line[PATH_MAX + 256];
    int n = snprintf(line, sizeof line, "%s\t%s\n", sha, key);
    if (n <= 0 || (size_t)n >= sizeof line) return;
    make_parents(cpath);
    struct stat st;
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
    if (stat(cpath, &st) == 0 && st.st_size > CACHE_MAX_BYTES) flags |= O_TRUNC;
    int fd = open(cpath, flags, 0600);
    if (fd < 0) return;
    ssize_t w = write(fd, line, (size_t)n); /* one append: whole or, on a full disk, a line that never matches */
    (void)w;
    close(fd);
}

void model_file_sha256(const char *path, const void *map, size_t size, char out[65]) {
    char cpath[PATH_MAX], real[PATH_MAX], key[PATH_MAX + 128];
    struct stat st;
    int use = cache_path(cpath, sizeof cpath) == 0 && realpath(path, real) && strlen(real) < PATH_MAX - 1 &&
              !strpbrk(real, "\t\n") && stat(real, &st) == 0 && (size_t)st.st_size == size;
    if (use) {
        key_of(&st, real, key, sizeof key);
        if (cache_lookup(cpath, key, out) == 0) return;
    }
    qb_sha256_hex(map, size, out);
    if (use) cache_store(cpath, key, out);
}
