/*
 * What the command line measures of itself: the process's memory (resident set now and at its
 * peak) in MiB, and the median of timings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

double cli_mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Resident set size now (from /proc; 0 where there is none) and at its peak (getrusage). */
size_t cli_rss_now(void) {
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages_total = 0, pages_resident = 0;
	if (!f)
		return 0;
	const int n = fscanf(f, "%lu %lu", &pages_total, &pages_resident);
	fclose(f);
	return n == 2 ? (size_t)pages_resident * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

size_t cli_rss_peak(void) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (size_t)ru.ru_maxrss * 1024u; /* kilobytes on Linux */
}

static int compare_doubles(const void *a, const void *b) {
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double cli_median(double *v, int n) {
	qsort(v, (size_t)n, sizeof *v, compare_doubles);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
