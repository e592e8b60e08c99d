/*
 * NEON tap-list convolution (arch/kernels.h, "Tap-list convolution"): 4 channels per q register,
 * up to 16 channels (4 accumulators) per pass over the taps, the last channels (fewer than 4)
 * in scalar code.  Twin: nst_f32_dwconv__scalar.
 */
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define LANES 4
#define BLOCKS 4

static inline float32x4_t fma4(float32x4_t acc, float32x4_t a, float32x4_t b) {
#if defined(__aarch64__)
	return vfmaq_f32(acc, a, b);
#else
	return vmlaq_f32(acc, a, b);
#endif
}

void nst_f32_dwconv__neon(size_t pixels, size_t channels, size_t taps, const float *const *inputs, size_t input_step,
                          const float *const *weights, const float *bias, float *out,
                          const struct nst_f32_minmax_params *params) {
	const float32x4_t lo = vdupq_n_f32(params->min), hi = vdupq_n_f32(params->max);
	const size_t vector = channels / LANES * LANES;
	for (size_t p = 0; p < pixels; p++) {
		float *o = out + p * channels;
		const size_t at = p * input_step;
		size_t c0 = 0;
		for (; c0 + LANES * BLOCKS <= vector; c0 += LANES * BLOCKS) {
			float32x4_t acc[BLOCKS];
			for (int b = 0; b < BLOCKS; b++)
				acc[b] = vld1q_f32(bias + c0 + b * LANES);
			for (size_t t = 0; t < taps; t++) {
				const float *x = inputs[t] + at + c0, *w = weights[t] + c0;
				for (int b = 0; b < BLOCKS; b++)
					acc[b] = fma4(acc[b], vld1q_f32(w + b * LANES), vld1q_f32(x + b * LANES));
			}
			for (int b = 0; b < BLOCKS; b++)
				vst1q_f32(o + c0 + b * LANES, vminq_f32(vmaxq_f32(acc[b], lo), hi));
		}
		for (; c0 < vector; c0 += LANES) {
			float32x4_t acc = vld1q_f32(bias + c0);
			for (size_t t = 0; t < taps; t++)
				acc = fma4(acc, vld1q_f32(weights[t] + c0), vld1q_f32(inputs[t] + at + c0));
			vst1q_f32(o + c0, vminq_f32(vmaxq_f32(acc, lo), hi));
		}
		for (size_t c = vector; c < channels; c++) {
			float acc = bias[c];
			for (size_t t = 0; t < taps; t++)
				acc += weights[t][c] * inputs[t][at + c];
			o[c] = acc < params->min ? params->min : acc > params->max ? params->max : acc;
		}
	}
}
#endif
