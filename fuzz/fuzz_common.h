/* fuzz_common.h — what the libFuzzer harnesses share: a private folder under /tmp per harness and
 * process, and writing the fuzzer's bytes to a file there (for readers that take a path). */
#ifndef QBENCH_FUZZ_COMMON_H
#define QBENCH_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* /tmp/qbench-fuzz-NAME-PID, created on first use. */
static inline const char *fuzz_dir(const char *name) {
    static char dir[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/qbench-fuzz-%s-%d", name, (int)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

/* dir/file holding exactly data[size]; returns the path (a static buffer), or NULL. */
static inline const char *fuzz_file(const char *name, const char *file, const uint8_t *data, size_t size) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(name), file);
    FILE *f = fopen(path, "wb");
    if (!f) return NULL;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || w != size) return NULL;
    return path;
}

#endif
