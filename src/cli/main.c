/*
 * nst — the command line: which command a command line is, nothing else.
 *
 *   nst -c CONTENT -s STYLE[,STYLE...] -o OUT [options]    optimization (src/cli/optimize.c)
 *   nst --model NAME|FILE.nstw -c PHOTO -o OUT [options]   feed-forward (src/cli/fast.c)
 *   nst info FILE.nstw                                      what a weights file holds (src/cli/info.c)
 *   nst bench [options]                                     the benchmark (src/cli/bench.c)
 */
#include <string.h>

#include "cli.h"

int main(int argc, char **argv) {
	cli_standard_fds();
	if (argc > 1 && !strcmp(argv[1], "info"))
		return cli_finish_stdout(cli_info(argc - 1, argv + 1));
	if (argc > 1 && !strcmp(argv[1], "bench"))
		return cli_finish_stdout(cli_bench(argc - 1, argv + 1));
	for (int i = 1; i < argc; i++) /* the feed-forward mode: nst --model NAME -c PHOTO -o OUT */
		if (!strcmp(argv[i], "--model") || !strncmp(argv[i], "--model=", 8))
			return cli_finish_stdout(cli_fast(argc, argv));
	return cli_finish_stdout(cli_optimize(argc, argv));
}
