/* cmd_quantize.c — placeholder until the owning module lands. */
#include <stdio.h>
#include "harness/commands.h"

int cmd_quantize(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "qbench quantize: not available in this build yet\n");
    return 2;
}

