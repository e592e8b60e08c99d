/*
 * The lines of /proc/self/cgroup, shared by the CPU count (src/cpu_count.c) and the memory
 * available (src/memory_available.c): "ID:CONTROLLERS:PATH", one per v1 hierarchy, and cgroup v2's
 * "0::PATH".
 */
#include <string.h>

#include "internal.h"

bool nst_cgroup_entry(char *line, const char **controllers, const char **path, bool *v2) {
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

bool nst_cgroup_names(const char *controllers, const char *name) {
	const size_t n = strlen(name);
	for (const char *p = controllers; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}
