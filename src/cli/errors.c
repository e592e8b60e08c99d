/*
 * How the commands end (src/cli/cli.h): one-line errors on stderr, the exit code of a library
 * status, standard output's write errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_fail(int code, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("nst: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

int cli_exit_code(enum nst_status st) {
	switch (st) {
	case NST_OK: return EXIT_OK;
	case NST_ERR_INVALID_ARGUMENT:
	case NST_ERR_UNKNOWN_LAYER:
	case NST_ERR_LAYER_NOT_IN_WEIGHTS:
	case NST_ERR_UNSUPPORTED: return EXIT_USAGE;
	case NST_ERR_OUT_OF_MEMORY:
	case NST_ERR_OVER_MEMORY_LIMIT: return EXIT_MEMORY;
	case NST_ERR_NUMERIC: return EXIT_NUMERIC;
	case NST_ERR_INTERRUPTED: return EXIT_INTERRUPTED;
	default: return EXIT_FAILURE_RUN;
	}
}

int cli_fail_status(enum nst_status st, const struct nst_diag *diag, const char *what) {
	if (diag && diag->message[0])
		return cli_fail(cli_exit_code(st), "%s", diag->message);
	return cli_fail(cli_exit_code(st), "%s: %s", what, nst_status_string(st));
}

int cli_finish_stdout(int rc) {
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	const int e = errno ? errno : EIO; /* the failed write's, when it was earlier */
	return rc == EXIT_OK ? cli_fail(EXIT_FAILURE_RUN, "cannot write to standard output: %s", strerror(e)) : rc;
}
