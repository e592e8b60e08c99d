/*
 * The cgroups this process is in (/proc/self/cgroup: "ID:CONTROLLERS:PATH", one line per v1
 * hierarchy, and cgroup v2's "0::PATH"), walked folder by folder for the CPU count
 * (src/cpu_count.c) and the memory available (src/memory_available.c).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define CGROUP_PATH_BYTES 4096

/* One line split in place into *controllers (empty for v2) and *path (from its '/'); false for a
 * line that is not one. */
static bool split_line(char *line, const char **controllers, const char **path, bool *v2) {
	line[strcspn(line, "\n")] = '\0';
	char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2 || c2[1] != '/')
		return false;
	*c1 = *c2 = '\0';
	*controllers = c1 + 1;
	*path = c2 + 1;
	*v2 = !strcmp(line, "0") && !**controllers;
	return true;
}

/* Whether a comma-separated controller list ("cpu,cpuacct") names name exactly. */
static bool names(const char *controllers, const char *name) {
	const size_t n = strlen(name);
	for (const char *p = controllers; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* The cgroup's folder under base, then every folder above it up to base itself. */
static void walk_up(const char *base, const char *cgroup, bool v2, nst_cgroup_visit_fn visit, void *context) {
	char dir[CGROUP_PATH_BYTES];
	const size_t base_len = strlen(base);
	if ((size_t)snprintf(dir, sizeof dir, "%s%s", base, strcmp(cgroup, "/") ? cgroup : "") >= sizeof dir)
		return;
	for (;;) {
		visit(context, dir, v2);
		char *slash = strrchr(dir, '/');
		if (strlen(dir) <= base_len || !slash || (size_t)(slash - dir) < base_len)
			break;
		*slash = '\0';
	}
}

void nst_cgroup_walk(const char *cgroup_file, const char *root, const char *controller, nst_cgroup_visit_fn visit,
                     void *context) {
	FILE *f = fopen(cgroup_file, "r");
	if (!f)
		return;
	char line[CGROUP_PATH_BYTES], base[CGROUP_PATH_BYTES];
	while (fgets(line, sizeof line, f)) {
		const char *controllers, *cgroup;
		bool v2;
		if (!split_line(line, &controllers, &cgroup, &v2))
			continue;
		if (v2) {
			/* mounted at the root, or at root/unified beside v1's controllers (hybrid) */
			walk_up(root, cgroup, true, visit, context);
			if ((size_t)snprintf(base, sizeof base, "%s/unified", root) < sizeof base)
				walk_up(base, cgroup, true, visit, context);
		} else if (names(controllers, controller) &&
		           (size_t)snprintf(base, sizeof base, "%s/%s", root, controllers) < sizeof base) {
			walk_up(base, cgroup, false, visit, context);
		}
	}
	fclose(f);
}

bool nst_cgroup_number(const char *dir, const char *file, long long *out) {
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
