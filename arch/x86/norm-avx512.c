/*
 * AVX-512F instance-norm kernels (see arch/kernels.h): 16 channels per step, the ragged last
 * channels through masked loads and stores.  affine walks the pixels in order; sums: each block of
 * 16 channels accumulates down all n pixels in 4 zmm of doubles, then adds into sum / sq (the
 * caller passes L1-sized runs of pixels).  Built with -mavx512f -mavx2 -mfma (Makefile), called
 * only when nst_cpu_detect reports AVX-512F.  Twins: the __scalar norm kernels.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16
#define HALF_LANES 8

static inline __mmask16 lanes_mask(size_t k) { return (__mmask16)((1u << k) - 1u); }

void nst_f64_norm_sums__avx512(size_t n, size_t c, const float *x, double *sum, double *sq) {
	for (size_t ch = 0; ch < c; ch += LANES) {
		const size_t k = c - ch < LANES ? c - ch : LANES;
		const __mmask16 m = lanes_mask(k);
		const __mmask8 m_lo = (__mmask8)(m & 0xffu), m_hi = (__mmask8)(m >> HALF_LANES);
		__m512d s_lo = _mm512_maskz_loadu_pd(m_lo, sum + ch), s_hi = _mm512_maskz_loadu_pd(m_hi, sum + ch + HALF_LANES);
		__m512d q_lo = _mm512_maskz_loadu_pd(m_lo, sq + ch), q_hi = _mm512_maskz_loadu_pd(m_hi, sq + ch + HALF_LANES);
		for (size_t p = 0; p < n; p++) {
			const __m512 v = _mm512_maskz_loadu_ps(m, x + p * c + ch);
			const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
			const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
			s_lo = _mm512_add_pd(s_lo, lo);
			s_hi = _mm512_add_pd(s_hi, hi);
			q_lo = _mm512_fmadd_pd(lo, lo, q_lo); /* exact products: the same as multiply, then add */
			q_hi = _mm512_fmadd_pd(hi, hi, q_hi);
		}
		_mm512_mask_storeu_pd(sum + ch, m_lo, s_lo);
		_mm512_mask_storeu_pd(sum + ch + HALF_LANES, m_hi, s_hi);
		_mm512_mask_storeu_pd(sq + ch, m_lo, q_lo);
		_mm512_mask_storeu_pd(sq + ch + HALF_LANES, m_hi, q_hi);
	}
}

void nst_f32_norm_affine__avx512(size_t n, size_t c, const float *x, const float *scale, const float *shift,
                                 const float *addend, bool relu, float *y) {
	const __m512 zero = _mm512_setzero_ps();
	for (size_t p = 0; p < n; p++) /* pixels outer: one pass over the map, in order */
		for (size_t ch = 0; ch < c; ch += LANES) {
			const size_t i = p * c + ch, k = c - ch < LANES ? c - ch : LANES;
			const __mmask16 m = lanes_mask(k);
			const __m512 s = _mm512_maskz_loadu_ps(m, scale + ch), b = _mm512_maskz_loadu_ps(m, shift + ch);
			__m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), s, b);
			if (addend)
				v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, addend + i), v);
			if (relu)
				v = _mm512_max_ps(v, zero); /* the second operand when v is NaN: 0 */
			_mm512_mask_storeu_ps(y + i, m, v);
		}
}

#else
typedef int nst_norm_avx512_unused;
#endif
