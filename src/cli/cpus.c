/*
 * TEMPORARY (issue 19, item 12): nst_cpu_count until the library's definition (declared in
 * include/nst.h by another branch) is merged; then delete this file and the declaration in
 * src/cli/cli.h.  Weak, so that the library's definition wins if both are linked.
 *
 * The CPUs this process may use: its affinity mask (taskset, cpusets) and its cgroup v2 CPU
 * quota (cpu.max: "QUOTA PERIOD", e.g. a container's --cpus), whichever is smaller; at least 1.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

__attribute__((weak)) int nst_cpu_count(void) {
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		n = CPU_COUNT(&set);
	FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
	if (f) {
		long long quota, period;
		if (fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
			const long long cpus = (quota + period - 1) / period;
			if (cpus < n)
				n = (long)cpus;
		}
		fclose(f);
	}
	return n > 0 ? (int)n : 1;
}
