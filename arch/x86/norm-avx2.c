/*
 * AVX2 + FMA instance-norm kernels (see arch/kernels.h): 8 channels per step, the last c % 8
 * channels one at a time.  affine walks the pixels in order; sums: each block of 8 channels
 * accumulates down all n pixels in 4 ymm of doubles, then adds into sum / sq (the caller passes
 * L1-sized runs of pixels).  Built with -mavx2 -mfma -mf16c (Makefile), called only when
 * nst_cpu_detect reports AVX2 + FMA.  Twins: the __scalar norm kernels.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8
#define HALF_LANES 4

void nst_f64_norm_sums__avx2(size_t n, size_t c, const float *x, double *sum, double *sq) {
	size_t ch = 0;
	for (; ch + LANES <= c; ch += LANES) {
		__m256d s_lo = _mm256_loadu_pd(sum + ch), s_hi = _mm256_loadu_pd(sum + ch + HALF_LANES);
		__m256d q_lo = _mm256_loadu_pd(sq + ch), q_hi = _mm256_loadu_pd(sq + ch + HALF_LANES);
		for (size_t p = 0; p < n; p++) {
			const __m256 v = _mm256_loadu_ps(x + p * c + ch);
			const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
			const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
			s_lo = _mm256_add_pd(s_lo, lo);
			s_hi = _mm256_add_pd(s_hi, hi);
			q_lo = _mm256_fmadd_pd(lo, lo, q_lo); /* exact products: the same as multiply, then add */
			q_hi = _mm256_fmadd_pd(hi, hi, q_hi);
		}
		_mm256_storeu_pd(sum + ch, s_lo);
		_mm256_storeu_pd(sum + ch + HALF_LANES, s_hi);
		_mm256_storeu_pd(sq + ch, q_lo);
		_mm256_storeu_pd(sq + ch + HALF_LANES, q_hi);
	}
	for (; ch < c; ch++)
		for (size_t p = 0; p < n; p++) {
			const double v = (double)x[p * c + ch];
			sum[ch] += v;
			sq[ch] += v * v;
		}
}

void nst_f32_norm_affine__avx2(size_t n, size_t c, const float *x, const float *scale, const float *shift,
                               const float *addend, bool relu, float *y) {
	const __m256 zero = _mm256_setzero_ps();
	for (size_t p = 0; p < n; p++) { /* pixels outer: one pass over the map, in order */
		size_t ch = 0;
		for (; ch + LANES <= c; ch += LANES) {
			const size_t i = p * c + ch;
			__m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(scale + ch), _mm256_loadu_ps(shift + ch));
			if (addend)
				v = _mm256_add_ps(_mm256_loadu_ps(addend + i), v);
			if (relu)
				v = _mm256_max_ps(v, zero); /* the second operand when v is NaN: 0 */
			_mm256_storeu_ps(y + i, v);
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
typedef int nst_norm_avx2_unused;
#endif
