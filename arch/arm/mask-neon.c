/*
 * NEON ReLU mask kernels (see arch/kernels.h), for aarch64 and 32-bit ARMv7: two quads, one mask
 * byte, per step.  pack: compare, keep each lane's bit weight, add the lanes; apply: the byte
 * duplicated, each lane's bit tested.
 */
#include "kernels.h"

#include <arm_neon.h>

static const uint32_t low_bits[4] = {1, 2, 4, 8};
static const uint32_t high_bits[4] = {16, 32, 64, 128};

static inline uint32_t add_lanes(uint32x4_t v) {
#if defined(__aarch64__)
	return vaddvq_u32(v);
#else
	const uint32x2_t half = vadd_u32(vget_low_u32(v), vget_high_u32(v));
	return vget_lane_u32(vpadd_u32(half, half), 0);
#endif
}

void nst_u8_mask_pack__neon(size_t n_bytes, const float *x, uint8_t *mask) {
	const float32x4_t zero = vdupq_n_f32(0.0f);
	const uint32x4_t lo = vld1q_u32(low_bits), hi = vld1q_u32(high_bits);
	for (size_t i = 0; i < n_bytes; i++) {
		const float *v = x + i * NST_MASK_BITS; // [8]
		const uint32x4_t a = vandq_u32(vcgtq_f32(vld1q_f32(v), zero), lo);
		const uint32x4_t b = vandq_u32(vcgtq_f32(vld1q_f32(v + 4), zero), hi);
		mask[i] = (uint8_t)add_lanes(vorrq_u32(a, b));
	}
}

void nst_f32_mask_apply__neon(size_t n_bytes, const uint8_t *mask, float *x) {
	const uint32x4_t lo = vld1q_u32(low_bits), hi = vld1q_u32(high_bits);
	for (size_t i = 0; i < n_bytes; i++) {
		const unsigned bits = mask[i];
		float *v = x + i * NST_MASK_BITS; // [8]
		if (bits == 0xffu)
			continue;
		const uint32x4_t all = vdupq_n_u32(bits);
		const uint32x4_t keep_lo = vtstq_u32(all, lo), keep_hi = vtstq_u32(all, hi);
		vst1q_f32(v, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vld1q_f32(v)), keep_lo)));
		vst1q_f32(v + 4, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vld1q_f32(v + 4)), keep_hi)));
	}
}
