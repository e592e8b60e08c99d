/*
 * nst_cpu_count (src/cpu_count.c): the CPUs this process may use.
 *   - its CPU affinity: pinned to one CPU (what `taskset -c 0` does), it is 1; pinned to two, 2;
 *   - cgroup quotas, read from a cgroup tree made here (nst_cgroup_cpu_limit with the paths as
 *     parameters): v2 cpu.max "150000 100000" is 2 CPUs, "max 100000" none, a tighter parent wins;
 *     v1 cpu.cfs_quota_us / cpu.cfs_period_us, -1 none; a hybrid system's v2 under unified/;
 *     a container whose /proc/self/cgroup names a path the mount does not have (the limit sits at
 *     the mount's root); missing files give no limit;
 *   - nst_pool_create never starts more threads than that.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "support.h"

#define PATH_BYTES 1024

static char dir[512];

/* Writes text to dir/rel, making the folders on the way. */
static void put(const char *rel, const char *text) {
	char path[PATH_BYTES];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	CHECK(f != NULL, "cannot write %s", path);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* nst_cgroup_cpu_limit of a /proc/self/cgroup text over the tree dir/<tree>. */
static int limit_of(const char *cgroup_text, const char *tree) {
	char list[PATH_BYTES], root[PATH_BYTES];
	snprintf(list, sizeof list, "%s/%s.cgroup", dir, tree);
	snprintf(root, sizeof root, "%s/%s", dir, tree);
	FILE *f = fopen(list, "w");
	if (!f)
		return -1;
	fputs(cgroup_text, f);
	fclose(f);
	return nst_cgroup_cpu_limit(list, root);
}

static void test_cgroups(void) {
	/* cgroup v2 */
	put("v2/a/b/cpu.max", "150000 100000\n");
	CHECK(limit_of("0::/a/b\n", "v2") == 2, "v2 150000/100000: %d", limit_of("0::/a/b\n", "v2"));
	put("v2/a/b/cpu.max", "100000 100000\n");
	CHECK(limit_of("0::/a/b\n", "v2") == 1, "v2 100000/100000: %d", limit_of("0::/a/b\n", "v2"));
	put("v2/a/b/cpu.max", "max 100000\n");
	CHECK(limit_of("0::/a/b\n", "v2") == 0, "v2 max: %d", limit_of("0::/a/b\n", "v2"));
	put("v2/a/cpu.max", "300000 100000\n"); /* a parent's limit applies below it */
	CHECK(limit_of("0::/a/b\n", "v2") == 3, "v2 parent 3: %d", limit_of("0::/a/b\n", "v2"));
	put("v2/a/b/cpu.max", "50000 100000\n"); /* the tighter of the two: half a CPU is one */
	CHECK(limit_of("0::/a/b\n", "v2") == 1, "v2 tighter child: %d", limit_of("0::/a/b\n", "v2"));
	put("v2/cpu.max", "200000 100000\n"); /* a container: its own cgroup is the mount's root */
	CHECK(limit_of("0::/\n", "v2") == 2, "v2 container root: %d", limit_of("0::/\n", "v2"));
	CHECK(limit_of("0::/elsewhere/x\n", "v2") == 2, "v2 path absent under the mount: %d",
	      limit_of("0::/elsewhere/x\n", "v2"));
	CHECK(limit_of("0::/a/b\n", "none") == 0, "no cgroup files: %d", limit_of("0::/a/b\n", "none"));
	put("v2bad/x/cpu.max", "garbage\n");
	CHECK(limit_of("0::/x\n", "v2bad") == 0, "unparsable cpu.max: %d", limit_of("0::/x\n", "v2bad"));
	/* hybrid: v1 controllers beside v2 mounted at unified/ */
	put("hybrid/unified/s/cpu.max", "400000 100000\n");
	CHECK(limit_of("1:cpu:/\n0::/s\n", "hybrid") == 4, "hybrid unified: %d", limit_of("1:cpu:/\n0::/s\n", "hybrid"));

	/* cgroup v1 */
	put("v1/cpu,cpuacct/docker/c1/cpu.cfs_quota_us", "250000\n");
	put("v1/cpu,cpuacct/docker/c1/cpu.cfs_period_us", "100000\n");
	const char *v1 = "12:memory:/docker/c1\n4:cpu,cpuacct:/docker/c1\n0::/\n";
	CHECK(limit_of(v1, "v1") == 3, "v1 250000/100000: %d", limit_of(v1, "v1"));
	put("v1/cpu,cpuacct/docker/c1/cpu.cfs_quota_us", "-1\n");
	CHECK(limit_of(v1, "v1") == 0, "v1 -1: %d", limit_of(v1, "v1"));
	CHECK(limit_of("4:cpuacct:/docker/c1\n", "v1") == 0, "cpuacct is not cpu: %d", limit_of("4:cpuacct:/docker/c1\n", "v1"));
	put("v1/cpu/cpu.cfs_quota_us", "100000\n");
	put("v1/cpu/cpu.cfs_period_us", "100000\n");
	CHECK(limit_of("3:cpu:/docker/gone\n", "v1") == 1, "v1 container root: %d", limit_of("3:cpu:/docker/gone\n", "v1"));
	CHECK(nst_cgroup_cpu_limit("/nonexistent/cgroup", dir) == 0, "no /proc/self/cgroup");
}

static void test_affinity(void) {
	cpu_set_t all, one;
	CHECK(sched_getaffinity(0, sizeof all, &all) == 0, "sched_getaffinity");
	const int before = nst_cpu_count();
	CHECK(before >= 1 && before <= CPU_COUNT(&all), "nst_cpu_count %d with %d CPUs in the affinity", before,
	      CPU_COUNT(&all));
	int first = -1, second = -1;
	for (int c = 0; c < CPU_SETSIZE && second < 0; c++)
		if (CPU_ISSET(c, &all)) {
			if (first < 0)
				first = c;
			else
				second = c;
		}
	/* taskset -c <first>: one CPU. */
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "pin to CPU %d", first);
	CHECK(nst_cpu_count() == 1, "pinned to one CPU: nst_cpu_count %d", nst_cpu_count());
	pthreadpool_t pool = nst_pool_create(8);
	CHECK(pool != NULL && pthreadpool_get_threads_count(pool) == 1, "a pool of 8 slots on one CPU has %zu threads",
	      pool ? pthreadpool_get_threads_count(pool) : 0);
	if (pool)
		pthreadpool_destroy(pool);
	if (second >= 0) {
		CPU_SET(second, &one);
		CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "pin to CPUs %d,%d", first, second);
		const int two = nst_cpu_count();
		CHECK(two == 1 || two == 2, "pinned to two CPUs: %d", two); /* 1 under a one-CPU quota */
		pool = nst_pool_create(1000);
		CHECK(pool != NULL && (int)pthreadpool_get_threads_count(pool) == two, "a pool of 1000 slots: %zu threads",
		      pool ? pthreadpool_get_threads_count(pool) : 0);
		if (pool)
			pthreadpool_destroy(pool);
	} else {
		printf("one CPU only: the two-CPU case is skipped\n");
	}
	CHECK(nst_pool_create(1) == NULL, "one slot needs no pool");
	sched_setaffinity(0, sizeof all, &all);
	CHECK(nst_cpu_count() == before, "back to %d CPUs: %d", before, nst_cpu_count());
}

int main(void) {
	char *d = support_tmpdir("cpucount");
	if (!d)
		return 1;
	snprintf(dir, sizeof dir, "%s", d);
	test_cgroups();
	test_affinity();
	printf("nst_cpu_count here: %d (online: %ld)\n", nst_cpu_count(), sysconf(_SC_NPROCESSORS_ONLN));
	support_rmdir(d);
	free(d);
	return check_finish("test_cpu_count");
}
