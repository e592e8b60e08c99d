/*
 * What the command line's modes share (src/cli/cli.h): one-line errors, the exit code of a
 * library status, strict number parsing, a monotonic clock.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

bool cli_parse_int(const char *s, long lo, long hi, int *out) {
	char *end;
	errno = 0;
	const long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

bool cli_parse_float(const char *s, double lo, double hi, double *out) {
	char *end;
	errno = 0;
	const double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

double cli_now_seconds(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
