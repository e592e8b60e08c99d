/* A minimal assertion harness for the test programs: every CHECK counts, failures print where and
 * why, and check_finish() turns the tally into the exit code. */
#ifndef NST_TESTS_CHECK_H
#define NST_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_passed_count;
static int check_failed_count;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                           \
		if (cond) {                                                                                \
			check_passed_count++;                                                                  \
		} else {                                                                                   \
			check_failed_count++;                                                                  \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);             \
			fprintf(stderr, __VA_ARGS__);                                                          \
			fputc('\n', stderr);                                                                   \
		}                                                                                          \
	} while (0)

/* Prints the tally; the exit code is non-zero if anything failed or nothing was checked. */
static inline int check_finish(const char *name) {
	printf("%s: %d checks passed, %d failed\n", name, check_passed_count, check_failed_count);
	return (check_failed_count == 0 && check_passed_count > 0) ? 0 : 1;
}

/* Where ../shared and the build directory are (set by tests/run.sh). */
static inline const char *check_env(const char *name, const char *fallback) {
	const char *v = getenv(name);
	return (v && *v) ? v : fallback;
}

#endif
