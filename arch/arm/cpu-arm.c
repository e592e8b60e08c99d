/*
 * ARM CPU features, fixed at compile time: the NEON kernels are built when the compiler targets
 * NEON (always on aarch64; ARMv7 with -mfpu=neon*), and then every CPU the binary runs on has it.
 * Without NEON (e.g. ARMv6) arch/generic/cpu-generic.c defines nst_cpu_detect instead.
 */
#include <string.h>

#include "kernels.h"

#if defined(__aarch64__) || defined(__ARM_NEON) || defined(__ARM_NEON__)
void nst_cpu_detect(struct nst_cpu_features *out) {
	memset(out, 0, sizeof(*out));
	out->neon = true;
	/* neon_fp16: NEON converts between float16 and float32 (vcvt_f32_f16). */
#if defined(__aarch64__) || (defined(__ARM_NEON_FP) && (__ARM_NEON_FP & 2))
	out->neon_fp16 = true;
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
	out->neon_dot = true; /* sdot / udot (ARMv8.2-A dotprod: -mcpu=cortex-a76, a78ae) */
#endif
}
#else
typedef int nst_cpu_arm_unused;
#endif
