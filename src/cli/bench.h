/* The CLI's commands beside the main one, and what they share with it. */
#ifndef NST_CLI_BENCH_H
#define NST_CLI_BENCH_H

#include <stddef.h>

/* nst bench ... (src/cli/bench.c) */
int nst_cli_bench(int argc, char **argv);
/* The default weights file: $NST_WEIGHTS, beside the binary, ../share/nst, the install prefix. */
const char *nst_cli_default_weights(char *buf, size_t size);
/* A named feed-forward model's file (beside the binary, $NST_STYLES, ../share/nst, the install
 * prefix), or NULL; `looked` lists the directories searched. (src/cli/fast.c) */
const char *nst_cli_find_model(const char *name, char *buf, size_t size, char *looked, size_t looked_size);

#endif
