/*
 * What the machine lets this process use.
 * nst_cpu_count (src/cpu_count.c): the CPUs this process may use.
 *   - its CPU affinity: pinned to one CPU (what `taskset -c 0` does), it is 1; pinned to two, 2;
 *   - cgroup quotas, read from a cgroup tree made here (nst_cgroup_cpu_limit with the paths as
 *     parameters): v2 cpu.max "150000 100000" is 2 CPUs, "max 100000" none, a tighter parent wins;
 *     v1 cpu.cfs_quota_us / cpu.cfs_period_us, -1 none; a hybrid system's v2 under unified/;
 *     a container whose /proc/self/cgroup names a path the mount does not have (the limit sits at
 *     the mount's root); missing files give no limit;
 *   - nst_pool_create never starts more threads than that.
 * nst_memory_available (src/memory_available.c): the memory it can still get.
 *   - cgroup memory limits (nst_cgroup_memory_headroom over a tree made here): v2 memory.max less
 *     memory.current less the droppable page cache (memory.stat inactive_file), "max" none, a
 *     tighter parent wins; v1 memory.limit_in_bytes / usage_in_bytes / total_inactive_file; a
 *     working set over the limit leaves 1 byte, not "no limit";
 *   - ulimit -v (RLIMIT_AS set here): at most the limit, less than it by what is mapped.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* A /proc/self/cgroup text written to dir/<tree>.cgroup (its path into list), the tree's root
 * dir/<tree> into root; false if it cannot be written. */
static bool cgroup_file(const char *cgroup_text, const char *tree, char *list, char *root) {
	snprintf(list, PATH_BYTES, "%s/%s.cgroup", dir, tree);
	snprintf(root, PATH_BYTES, "%s/%s", dir, tree);
	FILE *f = fopen(list, "w");
	if (!f)
		return false;
	fputs(cgroup_text, f);
	fclose(f);
	return true;
}

/* nst_cgroup_cpu_limit of a /proc/self/cgroup text over the tree dir/<tree>. */
static int limit_of(const char *cgroup_text, const char *tree) {
	char list[PATH_BYTES], root[PATH_BYTES];
	return cgroup_file(cgroup_text, tree, list, root) ? nst_cgroup_cpu_limit(list, root) : -1;
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

/* nst_cgroup_memory_headroom of a /proc/self/cgroup text over the tree dir/<tree>. */
static size_t headroom_of(const char *cgroup_text, const char *tree) {
	char list[PATH_BYTES], root[PATH_BYTES];
	return cgroup_file(cgroup_text, tree, list, root) ? nst_cgroup_memory_headroom(list, root) : (size_t)-1;
}

#define MIB_BYTES ((size_t)1 << 20)

static void test_memory_cgroups(void) {
	/* v2: limit 100 MiB, 60 used of which 20 is droppable cache: 60 left */
	put("m2/a/b/memory.max", "104857600\n");
	put("m2/a/b/memory.current", "62914560\n");
	put("m2/a/b/memory.stat", "anon 41943040\nfile 20971520\ninactive_file 20971520\nactive_file 0\n");
	size_t h = headroom_of("0::/a/b\n", "m2");
	CHECK(h == 60 * MIB_BYTES, "v2: %zu bytes (60 MiB expected)", h);
	put("m2/a/memory.max", "83886080\n"); /* a tighter parent (80 MiB, the same use) applies below it */
	put("m2/a/memory.current", "62914560\n");
	put("m2/a/memory.stat", "inactive_file 20971520\n");
	h = headroom_of("0::/a/b\n", "m2");
	CHECK(h == 40 * MIB_BYTES, "v2 tighter parent: %zu bytes (40 MiB expected)", h);
	put("m2/a/memory.max", "max\n");
	put("m2/a/b/memory.max", "max\n");
	CHECK(headroom_of("0::/a/b\n", "m2") == 0, "v2 max: no limit");
	put("m2/a/b/memory.max", "10485760\n"); /* 10 MiB, 40 MiB in use without the cache */
	CHECK(headroom_of("0::/a/b\n", "m2") == 1, "v2 over its limit: 1 byte, not 'no limit'");
	CHECK(headroom_of("0::/a/b\n", "none") == 0, "no cgroup files: no limit");
	/* v1: a container whose /proc/self/cgroup names a path the mount does not have */
	put("m1/memory/memory.limit_in_bytes", "209715200\n");
	put("m1/memory/memory.usage_in_bytes", "104857600\n");
	put("m1/memory/memory.stat", "cache 52428800\ntotal_inactive_file 52428800\n");
	h = headroom_of("9:memory:/docker/c1\n4:cpu,cpuacct:/docker/c1\n", "m1");
	CHECK(h == 150 * MIB_BYTES, "v1 container root: %zu bytes (150 MiB expected)", h);
	put("m1/memory/memory.limit_in_bytes", "9223372036854771712\n"); /* v1's "no limit" */
	h = headroom_of("9:memory:/docker/c1\n", "m1");
	CHECK(h == 0 || h > ((size_t)1 << 30), "v1 unlimited: %zu bytes (0: none, as on 32 bits)", h);
	CHECK(headroom_of("4:cpu,cpuacct:/docker/c1\n", "m1") == 0, "a cpu hierarchy is not memory's");
}

/* ulimit -v: what is left under it, never more than the limit. */
static void test_address_space(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	printf("address-space limit: skipped under a sanitizer (its shadow memory is mapped already)\n");
#else
	const char *emu = getenv("NST_EMU");
	if (emu && *emu) {
		printf("address-space limit: skipped under emulation (qemu maps the guest's space itself)\n");
		return;
	}
	struct rlimit before, low;
	CHECK(getrlimit(RLIMIT_AS, &before) == 0, "getrlimit");
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long pages = 0;
	CHECK(f && fscanf(f, "%llu", &pages) == 1, "/proc/self/statm");
	if (f)
		fclose(f);
	const size_t mapped = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE), limit = mapped + ((size_t)512 << 20);
	low = before;
	low.rlim_cur = (rlim_t)limit;
	CHECK(setrlimit(RLIMIT_AS, &low) == 0, "setrlimit");
	const size_t available = nst_memory_available();
	setrlimit(RLIMIT_AS, &before);
	CHECK(available > 0 && available < limit - mapped, "ulimit -v %zu MiB with %zu MiB mapped: %zu MiB available",
	      limit / MIB_BYTES, mapped / MIB_BYTES, available / MIB_BYTES);
#endif
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
	test_memory_cgroups();
	test_address_space();
	printf("nst_cpu_count here: %d (online: %ld); nst_memory_available: %zu MiB\n", nst_cpu_count(),
	       sysconf(_SC_NPROCESSORS_ONLN), nst_memory_available() / MIB_BYTES);
	support_rmdir(d);
	free(d);
	return check_finish("test_machine_limits");
}
