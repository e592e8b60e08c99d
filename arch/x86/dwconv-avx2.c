/*
 * AVX2 + FMA tap-list convolution (arch/kernels.h, "Tap-list convolution"): 8 channels per ymm,
 * up to 32 channels (4 accumulators) per pass over the taps, the ragged last channels through
 * masked loads and stores.  Built with -mavx2 -mfma; twin: nst_f32_dwconv__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8
#define BLOCKS 4

static inline __m256i lanes_mask(size_t k) {
	const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(k < LANES ? k : LANES)), index);
}

void nst_f32_dwconv__avx2(size_t pixels, size_t channels, size_t taps, const float *const *inputs, size_t input_step,
                          const float *const *weights, const float *bias, float *out,
                          const struct nst_f32_minmax_params *params) {
	const __m256 lo = _mm256_set1_ps(params->min), hi = _mm256_set1_ps(params->max);
	for (size_t p = 0; p < pixels; p++) {
		float *o = out + p * channels;
		const size_t at = p * input_step;
		for (size_t c0 = 0; c0 < channels; c0 += LANES * BLOCKS) {
			__m256i m[BLOCKS];
			__m256 acc[BLOCKS];
			for (int b = 0; b < BLOCKS; b++) {
				const size_t c = c0 + (size_t)b * LANES;
				m[b] = lanes_mask(c < channels ? channels - c : 0);
				acc[b] = _mm256_maskload_ps(bias + c, m[b]);
			}
			for (size_t t = 0; t < taps; t++) {
				const float *x = inputs[t] + at + c0, *w = weights[t] + c0;
				for (int b = 0; b < BLOCKS; b++)
					acc[b] = _mm256_fmadd_ps(_mm256_maskload_ps(w + b * LANES, m[b]),
					                         _mm256_maskload_ps(x + b * LANES, m[b]), acc[b]);
			}
			for (int b = 0; b < BLOCKS; b++)
				_mm256_maskstore_ps(o + c0 + (size_t)b * LANES, m[b], _mm256_min_ps(_mm256_max_ps(acc[b], lo), hi));
		}
	}
}
#endif
