/* Entry points of the command line's modes (src/cli/). */
#ifndef NST_CLI_H
#define NST_CLI_H

#include <stdbool.h>

#include "nst.h"

/* Exit codes (README: "Errors and exit codes"). */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILURE_RUN = 1,   /* a file could not be read or written, bad picture or weights */
	EXIT_USAGE = 2,         /* the command line is wrong */
	EXIT_MEMORY = 3,        /* the run does not fit --max-memory, or memory could not be had */
	EXIT_NUMERIC = 4,       /* the loss became NaN or infinite (lower --lr) */
	EXIT_INTERRUPTED = 130, /* SIGINT / SIGTERM: the current picture was written */
};

/* Shared by the modes (src/cli/args.c). */
/* "nst: MESSAGE" on stderr, one line; returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The exit code for a library status. */
int cli_exit_code(enum nst_status st);
/* The diag's message (or what: the status's name) through cli_fail, with the status's exit code. */
int cli_fail_status(enum nst_status st, const struct nst_diag *diag, const char *what);
/* Strict number parsing: the whole argument, finite, within [lo, hi]. */
bool cli_parse_int(const char *s, long lo, long hi, int *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);
/* CLOCK_MONOTONIC in seconds. */
double cli_now_seconds(void);

/* Feed-forward mode (src/cli/fast.c): `nst --model NAME|FILE.nstw -c PHOTO ... -o OUT [options]`.
 * Takes the whole command line (argv[0] is the program) and returns the process's exit code:
 * 0 done, 1 a file or run failed, 2 usage, 3 memory. */
int nst_cli_fast(int argc, char **argv);

#endif /* NST_CLI_H */
