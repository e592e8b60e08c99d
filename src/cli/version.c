/*
 * nst --version: the version, the commit it was built from, the copyright, licence (LICENSE: MIT)
 * and no-warranty lines the GNU conventions ask for, and what the build can do here (the GEMM
 * kernels compiled in and the one this CPU gets, XNNPACK, float16).
 */
#include <stdio.h>

#include "cli.h"
#include "nst.h"

/* The Makefile's: `git describe --always --dirty` at build time ("unknown" from a tarball), and
 * the instruction sets of the GEMM kernels compiled in. */
#ifndef NST_COMMIT
#define NST_COMMIT "unknown"
#endif
#ifndef NST_KERNEL_ISAS
#define NST_KERNEL_ISAS "scalar"
#endif

static const char *yes_no(bool b) { return b ? "yes" : "no"; }

void cli_print_version(FILE *f) {
	char features[256];
	nst_bench_cpu_features(features, sizeof features);
	fprintf(f, "nst %s (commit %s)\n", NST_VERSION_STRING, NST_COMMIT);
	fprintf(f, "Copyright (c) 2026 The nst authors.  License MIT <https://opensource.org/licenses/MIT>.\n"
	           "This is free software: you are free to change and redistribute it.\n"
	           "There is NO WARRANTY, to the extent permitted by law.\n");
	fprintf(f, "kernels:  compiled in: %s; chosen here: %s (CPU features: %s)\n", NST_KERNEL_ISAS,
	        nst_bench_kernel_name(NST_BACKEND_SIMD), features);
#ifdef NST_HAVE_XNNPACK
	const bool xnnpack = true;
#else
	const bool xnnpack = false;
#endif
	fprintf(f, "xnnpack:  built in: %s; usable here: %s\n", yes_no(xnnpack), yes_no(nst_backend_available(NST_BACKEND_XNNPACK)));
	fprintf(f, "fp16:     one-pass networks: %s; optimization: %s (here, --precision fp16)\n",
	        yes_no(nst_fast_precision_available(NST_BACKEND_AUTO, NST_PRECISION_FP16)),
	        yes_no(nst_precision_available(NST_BACKEND_XNNPACK, NST_PRECISION_FP16)));
	fprintf(f, "threads:  %d usable here\n", nst_cpu_count());
	const size_t memory = nst_memory_available();
	if (memory)
		fprintf(f, "memory:   %.0f MiB available here (runs that need more are painted in tiles, or refused)\n",
		        cli_mib(memory));
	else
		fprintf(f, "memory:   unknown here (no MemAvailable in /proc/meminfo, no cgroup or ulimit -v limit)\n");
}
