/*
 * How much more memory this process can get (include/nst.h): the least of the kernel's estimate
 * of what can be allocated without swapping (/proc/meminfo's MemAvailable), the headroom under
 * its cgroups' memory limits (a container's --memory) and the headroom under its address-space
 * limit (ulimit -v).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"

#define LINE_BYTES 4096
#define KIB 1024ull
#define CGROUP_ROOT "/sys/fs/cgroup"
/* A thread's stack when RLIMIT_STACK sets none (glibc's default on Linux). */
#define DEFAULT_THREAD_STACK_BYTES ((size_t)8 << 20)

static size_t to_size(unsigned long long v) { return v > SIZE_MAX ? SIZE_MAX : (size_t)v; }

/* A "Name:   123 kB" line's bytes from a /proc file, or 0. */
static size_t proc_kib(const char *path, const char *name) {
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[LINE_BYTES];
	unsigned long long kib = 0;
	const size_t n = strlen(name);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, name, n) && line[n] == ':' && sscanf(line + n + 1, "%llu", &kib) == 1)
			break;
	fclose(f);
	return kib > ULLONG_MAX / KIB ? SIZE_MAX : to_size(kib * KIB);
}

/* A "name 123" line's number from a cgroup's memory.stat, or 0. */
static long long stat_value(const char *dir, const char *name) {
	char path[LINE_BYTES], line[LINE_BYTES];
	if ((size_t)snprintf(path, sizeof path, "%s/memory.stat", dir) >= sizeof path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	long long v = 0;
	const size_t n = strlen(name);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, name, n) && line[n] == ' ' && sscanf(line + n + 1, "%lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* The tightest headroom so far; SIZE_MAX: no limit seen. */
static void visit_memory(void *context, const char *dir, bool v2) {
	size_t *room = context;
	long long limit, used;
	if (!nst_cgroup_number(dir, v2 ? "memory.max" : "memory.limit_in_bytes", &limit) || limit <= 0 ||
	    !nst_cgroup_number(dir, v2 ? "memory.current" : "memory.usage_in_bytes", &used))
		return; /* "max", or not this controller's folder */
	const long long working = used - stat_value(dir, v2 ? "inactive_file" : "total_inactive_file");
	const size_t here = limit > working ? to_size((unsigned long long)(limit - working)) : 1;
	if (here < *room)
		*room = here;
}

size_t nst_cgroup_memory_headroom(const char *cgroup_file, const char *root) {
	size_t room = SIZE_MAX;
	nst_cgroup_walk(cgroup_file, root, "memory", visit_memory, &room);
	return room == SIZE_MAX ? 0 : room;
}

/* RLIMIT_AS less VmSize and the stacks of the threads a run starts (ulimit -v), at least 1; 0 for
 * no limit. */
static size_t address_space_headroom(void) {
	struct rlimit as, stack;
	if (getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY)
		return 0;
	const size_t per_thread = getrlimit(RLIMIT_STACK, &stack) == 0 && stack.rlim_cur != RLIM_INFINITY
	                              ? to_size(stack.rlim_cur)
	                              : DEFAULT_THREAD_STACK_BYTES;
	const unsigned long long used =
		(unsigned long long)proc_kib("/proc/self/status", "VmSize") + (unsigned long long)nst_cpu_count() * per_thread;
	return as.rlim_cur > used ? to_size(as.rlim_cur - used) : 1;
}

size_t nst_memory_available(void) {
	const size_t sources[] = {proc_kib("/proc/meminfo", "MemAvailable"),
	                          nst_cgroup_memory_headroom("/proc/self/cgroup", CGROUP_ROOT), address_space_headroom()};
	size_t least = 0; /* none yet; a source beyond size_t (a 32-bit process) counts as SIZE_MAX */
	for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
		if (sources[i] && (!least || sources[i] < least))
			least = sources[i];
	return least;
}
