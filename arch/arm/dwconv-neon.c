/*
 * NEON tap-list grouped convolution (arch/kernels.h, "Tap-list grouped convolution"; the passes
 * in arch/dwconv-body.h): 4 lanes per q register; cog 2 duplicates 2 input channels into 4
 * lanes, cig 2 sums lane pairs with pairwise adds.  AArch64 and 32-bit NEON (vmla where there is
 * no vfma); twin: nst_f32_dwconv__scalar.
 */
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

static inline float32x4_t fma4(float32x4_t acc, float32x4_t a, float32x4_t b) {
#if defined(__aarch64__)
	return vfmaq_f32(acc, a, b);
#else
	return vmlaq_f32(acc, a, b);
#endif
}

static inline float32x4_t load_twice(const float *p) {
	const float32x2_t two = vld1_f32(p);
	return vcombine_f32(vdup_lane_f32(two, 0), vdup_lane_f32(two, 1));
}

static inline float32x4_t pair_sums(float32x4_t a, float32x4_t b) {
	return vcombine_f32(vpadd_f32(vget_low_f32(a), vget_high_f32(a)), vpadd_f32(vget_low_f32(b), vget_high_f32(b)));
}

#define DW_VEC float32x4_t
#define DW_LANES 4
#define DW_ZERO() vdupq_n_f32(0.0f)
#define DW_SPLAT(x) vdupq_n_f32(x)
#define DW_LOAD(p) vld1q_f32(p)
#define DW_STORE(p, v) vst1q_f32(p, v)
#define DW_ADD(a, b) vaddq_f32(a, b)
#define DW_MIN(a, b) vminq_f32(a, b)
#define DW_MAX(a, b) vmaxq_f32(a, b)
#define DW_FMA(acc, a, b) fma4(acc, a, b)
#define DW_LOAD_TWICE(p) load_twice(p)
#define DW_PAIR_SUMS(a, b) pair_sums(a, b)
/* pixels per pass of the sliding 3 x 3 path: its sums, 3 weights and an input in the q registers */
#if defined(__aarch64__)
#define DW_RUN 8 /* of 32 */
#else
#define DW_RUN 4 /* of 16 (32-bit ARM) */
#endif
#define DW_FN nst_f32_dwconv__neon
#include "dwconv-body.h"
#endif
