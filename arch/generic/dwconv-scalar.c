/*
 * The tap-list convolution kernel, portable C: the twin of every SIMD member (arch/kernels.h,
 * "Tap-list convolution").
 */
#include "kernels.h"

void nst_f32_dwconv__scalar(size_t pixels, size_t channels, size_t taps, const float *const *inputs, size_t input_step,
                            const float *const *weights, const float *bias, float *out,
                            const struct nst_f32_minmax_params *params) {
	for (size_t p = 0; p < pixels; p++) {
		float *o = out + p * channels;
		for (size_t c = 0; c < channels; c++)
			o[c] = bias[c];
		for (size_t t = 0; t < taps; t++) {
			const float *x = inputs[t] + p * input_step, *w = weights[t];
			for (size_t c = 0; c < channels; c++)
				o[c] += w[c] * x[c];
		}
		for (size_t c = 0; c < channels; c++)
			o[c] = o[c] < params->min ? params->min : o[c] > params->max ? params->max : o[c];
	}
}
