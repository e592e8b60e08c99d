/*
 * nst_cpu_detect for targets with no SIMD kernels: every feature false, the scalar kernels run.
 * x86-64 defines it in arch/x86/cpu-x86.c, ARM with NEON in arch/arm/cpu-arm.c; the conditions
 * here are the exact complement of theirs, so exactly one definition is linked on every target.
 */
#include <string.h>

#include "kernels.h"

#if !defined(__x86_64__) && !defined(__aarch64__) && !defined(__ARM_NEON) && !defined(__ARM_NEON__)
void nst_cpu_detect(struct nst_cpu_features *out) {
	memset(out, 0, sizeof(*out));
}
#else
typedef int nst_cpu_generic_unused;
#endif
