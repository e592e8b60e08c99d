/*
 * AVX-512F tap-list convolution (arch/kernels.h, "Tap-list convolution"): 16 channels per zmm,
 * up to 64 channels (4 accumulators) per pass over the taps, the ragged last channels through
 * masked loads and stores.  Built with -mavx512f -mavx2 -mfma; twin: nst_f32_dwconv__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16
#define BLOCKS 4 /* accumulators: 64 channels per pass */

static inline __mmask16 lanes_mask(size_t k) { return k >= LANES ? (__mmask16)0xffffu : (__mmask16)((1u << k) - 1u); }

void nst_f32_dwconv__avx512(size_t pixels, size_t channels, size_t taps, const float *const *inputs, size_t input_step,
                            const float *const *weights, const float *bias, float *out,
                            const struct nst_f32_minmax_params *params) {
	const __m512 lo = _mm512_set1_ps(params->min), hi = _mm512_set1_ps(params->max);
	for (size_t p = 0; p < pixels; p++) {
		float *o = out + p * channels;
		const size_t at = p * input_step;
		for (size_t c0 = 0; c0 < channels; c0 += LANES * BLOCKS) {
			__mmask16 m[BLOCKS];
			__m512 acc[BLOCKS];
			for (int b = 0; b < BLOCKS; b++) {
				const size_t c = c0 + (size_t)b * LANES;
				m[b] = c < channels ? lanes_mask(channels - c) : 0;
				acc[b] = _mm512_maskz_loadu_ps(m[b], bias + c);
			}
			for (size_t t = 0; t < taps; t++) {
				const float *x = inputs[t] + at + c0, *w = weights[t] + c0;
				for (int b = 0; b < BLOCKS; b++)
					acc[b] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[b], w + b * LANES),
					                         _mm512_maskz_loadu_ps(m[b], x + b * LANES), acc[b]);
			}
			for (int b = 0; b < BLOCKS; b++)
				_mm512_mask_storeu_ps(o + c0 + (size_t)b * LANES, m[b], _mm512_min_ps(_mm512_max_ps(acc[b], lo), hi));
		}
	}
}
#endif
