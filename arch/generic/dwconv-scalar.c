/*
 * The tap-list grouped convolution kernel, portable C: the twin of every SIMD member
 * (arch/kernels.h, "Tap-list grouped convolution"), in the same order of operations: each lane
 * accumulates its taps in order from zero, then the cig lanes of an output are summed, then the
 * bias is added and the result clamped.
 */
#include <assert.h>

#include "kernels.h"

#define MAX_LANES_PER_OUTPUT 2

void nst_f32_dwconv__scalar(size_t pixels, size_t outputs, size_t cig, size_t cog, size_t taps,
                            const float *const *inputs, size_t input_step, const float *const *weights,
                            const float *bias, float *out, size_t output_step,
                            const struct nst_f32_minmax_params *params) {
	assert((cig == 1 || cog == 1) && cig <= MAX_LANES_PER_OUTPUT && cog <= MAX_LANES_PER_OUTPUT);
	assert(output_step >= outputs);
	for (size_t p = 0; p < pixels; p++) {
		float *o = out + p * output_step;
		for (size_t c = 0; c < outputs; c++) {
			float lane_sum[MAX_LANES_PER_OUTPUT] = {0.0f}; // [cig]
			for (size_t j = 0; j < cig; j++) {
				const size_t l = c * cig + j, i = l / cog;
				float acc = 0.0f;
				for (size_t t = 0; t < taps; t++)
					acc += weights[t][l] * inputs[t][p * input_step + i];
				lane_sum[j] = acc;
			}
			float v = lane_sum[0];
			for (size_t j = 1; j < cig; j++)
				v += lane_sum[j];
			v += bias[c];
			o[c] = v < params->min ? params->min : v > params->max ? params->max : v;
		}
	}
}
