/*
 * How much more memory this process can get (include/nst.h): the least of the kernel's estimate
 * of what can be allocated without swapping (/proc/meminfo's MemAvailable), the headroom under
 * its own cgroup's memory limit (v2 memory.max or v1 memory.limit_in_bytes, less what it uses: a
 * container's --memory) and the headroom under its address-space limit (RLIMIT_AS - VmSize:
 * ulimit -v).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "internal.h"

#define LINE_BYTES 4096
#define KIB 1024u
#define CGROUP_ROOT "/sys/fs/cgroup"

/* The tighter of two limits, 0 meaning none. */
static size_t least(size_t a, size_t b) { return a == 0 ? b : (b == 0 || a < b) ? a : b; }

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
	return kib > SIZE_MAX / KIB ? SIZE_MAX : (size_t)(kib * KIB);
}

/* A cgroup file holding one number ("max" or unreadable: 0). */
static unsigned long long cgroup_number(const char *dir, const char *file) {
	char path[LINE_BYTES];
	unsigned long long v = 0;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static size_t headroom(unsigned long long limit, unsigned long long used) {
	if (limit == 0)
		return 0; /* none */
	return limit > used ? (size_t)(limit - used < SIZE_MAX ? limit - used : SIZE_MAX) : 1;
}

/* The headroom under the memory limit of this process's cgroup (v2 "0::PATH": memory.max -
 * memory.current; v1 "N:...memory...:PATH": memory.limit_in_bytes - memory.usage_in_bytes), or 0
 * (no limit, or unreadable).  A v1 "no limit" is a huge number, which MemAvailable undercuts. */
static size_t cgroup_headroom(void) {
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return 0;
	char line[LINE_BYTES], dir[LINE_BYTES];
	size_t room = 0;
	while (fgets(line, sizeof line, f)) {
		const char *controllers, *path;
		bool v2;
		if (!nst_cgroup_entry(line, &controllers, &path, &v2))
			continue;
		if (!strcmp(path, "/"))
			path = ""; /* the root: no "//" */
		if (v2) {
			if ((size_t)snprintf(dir, sizeof dir, CGROUP_ROOT "%s", path) < sizeof dir)
				room = least(room, headroom(cgroup_number(dir, "memory.max"), cgroup_number(dir, "memory.current")));
		} else if (nst_cgroup_names(controllers, "memory") &&
		           (size_t)snprintf(dir, sizeof dir, CGROUP_ROOT "/memory%s", path) < sizeof dir) {
			room = least(room, headroom(cgroup_number(dir, "memory.limit_in_bytes"),
			                            cgroup_number(dir, "memory.usage_in_bytes")));
		}
	}
	fclose(f);
	return room;
}

/* RLIMIT_AS - VmSize (ulimit -v), or 0 for none. */
static size_t address_space_headroom(void) {
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	const size_t used = proc_kib("/proc/self/status", "VmSize");
	return rl.rlim_cur > used ? (size_t)(rl.rlim_cur - used) : 1;
}

size_t nst_memory_available(void) {
	return least(least(proc_kib("/proc/meminfo", "MemAvailable"), cgroup_headroom()), address_space_headroom());
}
