/* How many CPUs this process may use: its affinity mask, then the cgroup (v1 or v2) CPU quota of
 * its cgroup and those above it. */
/* sched_getaffinity and CPU_COUNT are GNU extensions. */
#define _GNU_SOURCE
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define CGROUP_PATH_BYTES 4096
#define CGROUP_V1_NO_QUOTA (-1)

/* ceil(quota / period) CPUs, at least 1, or 0 for no limit (quota <= 0: unlimited or unreadable). */
static int quota_cpus(long long quota, long long period) {
	if (quota <= 0 || period <= 0)
		return 0;
	const long long cpus = quota / period + (quota % period != 0);
	return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

/* One cgroup folder's CPU limit: v2's cpu.max ("max 100000" or "QUOTA PERIOD"), v1's
 * cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us.  0: none, or no such files. */
static int folder_limit(const char *dir, bool v2) {
	long long quota = 0, period = 0;
	if (!v2)
		return nst_cgroup_number(dir, "cpu.cfs_quota_us", &quota) && quota != CGROUP_V1_NO_QUOTA &&
		               nst_cgroup_number(dir, "cpu.cfs_period_us", &period)
		           ? quota_cpus(quota, period)
		           : 0;
	char path[CGROUP_PATH_BYTES], max[32];
	if ((size_t)snprintf(path, sizeof path, "%s/cpu.max", dir) >= sizeof path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	const bool ok = fscanf(f, "%31s %lld", max, &period) == 2;
	fclose(f);
	char *end;
	quota = ok && strcmp(max, "max") != 0 ? strtoll(max, &end, 10) : 0;
	return ok && quota > 0 && *end == '\0' ? quota_cpus(quota, period) : 0;
}

static int tighter(int a, int b) { return a == 0 ? b : (b == 0 || a < b) ? a : b; }

static void visit_cpu(void *context, const char *dir, bool v2) {
	int *limit = context;
	*limit = tighter(*limit, folder_limit(dir, v2));
}

int nst_cgroup_cpu_limit(const char *cgroup_file, const char *root) {
	int limit = 0;
	nst_cgroup_walk(cgroup_file, root, "cpu", visit_cpu, &limit);
	return limit;
}

int nst_cpu_count(void) {
	int n = 0;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1) { /* more CPUs than a cpu_set_t holds, or no affinity: the online ones */
		const long online = sysconf(_SC_NPROCESSORS_ONLN);
		n = online > 0 && online < INT_MAX ? (int)online : 1;
	}
	const int quota = nst_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup");
	if (quota > 0 && quota < n)
		n = quota;
	return n;
}
