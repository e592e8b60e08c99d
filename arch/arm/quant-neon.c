/*
 * The int8 activations' range and quantization kernels on aarch64 NEON (arch/kernels.h), 4
 * floats a vector, the tail one by one.  fminnm / fmaxnm skip NaNs; the quantization rounds as
 * the twin nst_qu8_quantize__scalar does (a product and a sum, each rounded, no fused
 * multiply-add; clamped; truncated).  Run beside nst_qu8s8_gemm_8x8__neondot.
 */
#include "kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define LANES 4
#define BYTES 16
#define QU8_MAX 255.0f

void nst_f32_range__neon(size_t n, const float *x, float *lo, float *hi) {
	float32x4_t l = vdupq_n_f32(__builtin_inff()), h = vdupq_n_f32(-__builtin_inff());
	size_t i = 0;
	for (; i + LANES <= n; i += LANES) {
		const float32x4_t v = vld1q_f32(x + i);
		l = vminnmq_f32(l, v);
		h = vmaxnmq_f32(h, v);
	}
	float lo_s = vminnmvq_f32(l), hi_s = vmaxnmvq_f32(h);
	for (; i < n; i++) {
		lo_s = x[i] < lo_s ? x[i] : lo_s;
		hi_s = x[i] > hi_s ? x[i] : hi_s;
	}
	*lo = lo_s;
	*hi = hi_s;
}

static inline float32x4_t step(float32x4_t v, float32x4_t inv, float32x4_t zero) {
	v = vaddq_f32(vmulq_f32(v, inv), zero);
	v = vmaxnmq_f32(v, vdupq_n_f32(0.0f)); /* NaN: 0 */
	return vminq_f32(v, vdupq_n_f32(QU8_MAX));
}

void nst_qu8_quantize__neon(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params) {
	const float inv_s = 1.0f / params->a_scale, zero_s = (float)params->a_zero + 0.5f;
	const float32x4_t inv = vdupq_n_f32(inv_s), zero = vdupq_n_f32(zero_s);
	size_t i = 0;
	for (; i + BYTES <= n; i += BYTES) { /* all 16 loaded before the store: q may overlap x */
		const uint32x4_t a = vcvtq_u32_f32(step(vld1q_f32(x + i), inv, zero));
		const uint32x4_t b = vcvtq_u32_f32(step(vld1q_f32(x + i + 4), inv, zero));
		const uint32x4_t c = vcvtq_u32_f32(step(vld1q_f32(x + i + 8), inv, zero));
		const uint32x4_t d = vcvtq_u32_f32(step(vld1q_f32(x + i + 12), inv, zero));
		const uint16x8_t ab = vcombine_u16(vmovn_u32(a), vmovn_u32(b)), cd = vcombine_u16(vmovn_u32(c), vmovn_u32(d));
		vst1q_u8(q + i, vcombine_u8(vmovn_u16(ab), vmovn_u16(cd)));
	}
	for (; i < n; i++) {
		float v = x[i] * inv_s + zero_s;
		v = v > 0.0f ? v : 0.0f;
		v = v < QU8_MAX ? v : QU8_MAX;
		q[i] = (uint8_t)v;
	}
}

#else
typedef int nst_quant_neon_unused;
#endif
