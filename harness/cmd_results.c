/* cmd_results.c — placeholder until the owning module lands. */
#include <stdio.h>
#include "harness/commands.h"

int cmd_merge(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench merge: not available in this build yet\n");
    return 2;
}

int cmd_plot(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench plot: not available in this build yet\n");
    return 2;
}

int cmd_report(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench report: not available in this build yet\n");
    return 2;
}

int cmd_check(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench check: not available in this build yet\n");
    return 2;
}
