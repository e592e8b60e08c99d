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

static bool read_ll(const char *dir, const char *file, long long *out) {
	char path[CGROUP_PATH_BYTES];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
		return false;
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	const bool ok = fscanf(f, "%lld", out) == 1;
	fclose(f);
	return ok;
}

/* One cgroup folder's CPU limit: v2's cpu.max ("max 100000" or "QUOTA PERIOD"), v1's
 * cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us.  0: none, or no such files. */
static int folder_limit(const char *dir, bool v2) {
	long long quota = 0, period = 0;
	if (!v2)
		return read_ll(dir, "cpu.cfs_quota_us", &quota) && quota != CGROUP_V1_NO_QUOTA &&
		               read_ll(dir, "cpu.cfs_period_us", &period)
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

/* The tightest limit of a cgroup and every cgroup above it, up to base (a limit applies to the
 * cgroups below it; inside a container the base itself is the container's cgroup). */
static int path_limit(const char *base, const char *cgroup, bool v2) {
	char dir[CGROUP_PATH_BYTES];
	const size_t base_len = strlen(base);
	if ((size_t)snprintf(dir, sizeof dir, "%s%s", base, cgroup) >= sizeof dir)
		return 0;
	int limit = 0;
	for (;;) {
		limit = tighter(limit, folder_limit(dir, v2));
		char *slash = strrchr(dir, '/');
		if (strlen(dir) <= base_len || !slash || (size_t)(slash - dir) < base_len)
			break;
		*slash = '\0';
	}
	return limit;
}

int nst_cgroup_cpu_limit(const char *cgroup_file, const char *root) {
	FILE *f = fopen(cgroup_file, "r");
	if (!f)
		return 0;
	char line[CGROUP_PATH_BYTES];
	int limit = 0;
	while (fgets(line, sizeof line, f)) {
		const char *controllers, *cgroup;
		bool v2;
		if (!nst_cgroup_entry(line, &controllers, &cgroup, &v2))
			continue;
		char base[CGROUP_PATH_BYTES];
		if (v2) {
			/* v2: mounted at the root, or at root/unified beside v1's controllers (hybrid). */
			limit = tighter(limit, path_limit(root, cgroup, true));
			if ((size_t)snprintf(base, sizeof base, "%s/unified", root) < sizeof base)
				limit = tighter(limit, path_limit(base, cgroup, true));
		} else if (nst_cgroup_names(controllers, "cpu") &&
		           (size_t)snprintf(base, sizeof base, "%s/%s", root, controllers) < sizeof base) {
			limit = tighter(limit, path_limit(base, cgroup, false));
		}
	}
	fclose(f);
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
