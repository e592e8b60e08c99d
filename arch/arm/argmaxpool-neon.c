/*
 * NEON 2x2 argmax pooling (see arch/kernels.h), aarch64 and ARMv7: 4 channels per q register, the
 * comparisons' lanes turned into codes (3, 2, 1 by precedence), shifted to bits 2 j and added
 * across (arch/argmaxpool-body.h's driver).  Twin: nst_f32_argmaxpool__scalar (the same bits).
 */
#include "argmaxpool-body.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define BLOCK 4

static inline uint32_t add_lanes(uint32x4_t v) {
#if defined(__aarch64__)
	return vaddvq_u32(v);
#else
	uint32x2_t s = vadd_u32(vget_low_u32(v), vget_high_u32(v));
	s = vpadd_u32(s, s);
	return vget_lane_u32(s, 0);
#endif
}

static inline uint32_t forward4(size_t c, const float *r0, const float *r1, float *out) {
	static const int32_t code_shifts[BLOCK] = {0, 2, 4, 6}; /* lane j's code to bits 2 j */
	const float32x4_t a = vld1q_f32(r0), b = vld1q_f32(r0 + c), d = vld1q_f32(r1), e = vld1q_f32(r1 + c);
	const uint32x4_t b1 = vcgtq_f32(b, a);
	float32x4_t m = vbslq_f32(b1, b, a);
	const uint32x4_t b2 = vcgtq_f32(d, m);
	m = vbslq_f32(b2, d, m);
	const uint32x4_t b3 = vcgtq_f32(e, m);
	vst1q_f32(out, vbslq_f32(b3, e, m));
	uint32x4_t code = vandq_u32(b1, vdupq_n_u32(1));
	code = vbslq_u32(b2, vdupq_n_u32(2), code);
	code = vbslq_u32(b3, vdupq_n_u32(3), code);
	return add_lanes(vshlq_u32(code, vld1q_s32(code_shifts)));
}

static inline void backward4(size_t c, const float *g, uint32_t bits, float *d0, float *d1) {
	static const int32_t code_shifts[BLOCK] = {0, -2, -4, -6}; /* bits 2 j to lane j */
	const uint32x4_t code = vandq_u32(vshlq_u32(vdupq_n_u32(bits), vld1q_s32(code_shifts)), vdupq_n_u32(3));
	const uint32x4_t v = vreinterpretq_u32_f32(vld1q_f32(g));
	float *const d[] = {d0, d0 + c, d1, d1 + c};
	for (uint32_t p = 0; p < 4; p++)
		vst1q_f32(d[p], vreinterpretq_f32_u32(vandq_u32(vceqq_u32(code, vdupq_n_u32(p)), v)));
}

NST_ARGMAXPOOL_KERNEL(neon, BLOCK, forward4, backward4)

#else
typedef int nst_argmaxpool_neon_unused;
#endif
