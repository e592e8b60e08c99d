/*
 * NEON instance-norm kernels (see arch/kernels.h), aarch64 and ARMv7: affine 4 channels per q
 * register (vfmaq_f32 with FMA, else vmlaq_f32), walking the pixels in order; sums in float64x2
 * pairs on aarch64, one channel at a time on ARMv7 (which has no double vectors).  The last c % 4
 * channels one at a time.  Twins: the __scalar norm kernels.
 */
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define LANES 4
#define HALF_LANES 2

#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define MADD(acc, a, b) vfmaq_f32((acc), (a), (b))
#else
#define MADD(acc, a, b) vmlaq_f32((acc), (a), (b))
#endif

void nst_f64_norm_sums__neon(size_t n, size_t c, const float *x, double *sum, double *sq) {
	size_t ch = 0;
#if defined(__aarch64__)
	for (; ch + LANES <= c; ch += LANES) {
		float64x2_t s_lo = vld1q_f64(sum + ch), s_hi = vld1q_f64(sum + ch + HALF_LANES);
		float64x2_t q_lo = vld1q_f64(sq + ch), q_hi = vld1q_f64(sq + ch + HALF_LANES);
		for (size_t p = 0; p < n; p++) {
			const float32x4_t v = vld1q_f32(x + p * c + ch);
			const float64x2_t lo = vcvt_f64_f32(vget_low_f32(v)), hi = vcvt_high_f64_f32(v);
			s_lo = vaddq_f64(s_lo, lo);
			s_hi = vaddq_f64(s_hi, hi);
			q_lo = vfmaq_f64(q_lo, lo, lo); /* exact products: the same as multiply, then add */
			q_hi = vfmaq_f64(q_hi, hi, hi);
		}
		vst1q_f64(sum + ch, s_lo);
		vst1q_f64(sum + ch + HALF_LANES, s_hi);
		vst1q_f64(sq + ch, q_lo);
		vst1q_f64(sq + ch + HALF_LANES, q_hi);
	}
#endif
	for (; ch < c; ch++)
		for (size_t p = 0; p < n; p++) {
			const double v = (double)x[p * c + ch];
			sum[ch] += v;
			sq[ch] += v * v;
		}
}

void nst_f32_norm_affine__neon(size_t n, size_t c, const float *x, const float *scale, const float *shift,
                               const float *addend, bool relu, float *y) {
	const float32x4_t zero = vdupq_n_f32(0.0f);
	for (size_t p = 0; p < n; p++) { /* pixels outer: one pass over the map, in order */
		size_t ch = 0;
		for (; ch + LANES <= c; ch += LANES) {
			const size_t i = p * c + ch;
			float32x4_t v = MADD(vld1q_f32(shift + ch), vld1q_f32(x + i), vld1q_f32(scale + ch));
			if (addend)
				v = vaddq_f32(vld1q_f32(addend + i), v);
			if (relu) /* a compare, so that NaN gives 0 as in the twin */
				v = vreinterpretq_f32_u32(vandq_u32(vcgtq_f32(v, zero), vreinterpretq_u32_f32(v)));
			vst1q_f32(y + i, v);
		}
		for (; ch < c; ch++) {
			const size_t i = p * c + ch;
			float v = x[i] * scale[ch] + shift[ch];
			if (addend)
				v = addend[i] + v;
			if (relu)
				v = v > 0.0f ? v : 0.0f;
			y[i] = v;
		}
	}
}

#else
typedef int nst_norm_neon_unused;
#endif
