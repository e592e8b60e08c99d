/*
 * The int8 activations' range and quantization kernels on AVX2 (arch/kernels.h), 8 floats a
 * vector, the last few by the twins themselves (nst_f32_range__scalar, nst_qu8_quantize__scalar),
 * whose arithmetic the vectors repeat: min / max skip NaNs (vminps returns its second operand when
 * one is NaN), and a value is quantized as a product and a sum, each rounded, clamped to 0..255
 * (NaN to 0) and truncated.  Built with -mavx2 (Makefile), run beside nst_qu8s8_gemm_6x16__avxvnni.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8
#define QU8_MAX 255.0f

void nst_f32_range__avx2(size_t n, const float *x, float *lo, float *hi) {
	__m256 l = _mm256_set1_ps(__builtin_inff()), h = _mm256_set1_ps(-__builtin_inff());
	size_t i = 0;
	for (; i + LANES <= n; i += LANES) {
		const __m256 v = _mm256_loadu_ps(x + i);
		l = _mm256_min_ps(v, l); /* NaN v: l */
		h = _mm256_max_ps(v, h);
	}
	float ls[LANES], hs[LANES], tail_lo, tail_hi;
	_mm256_storeu_ps(ls, l);
	_mm256_storeu_ps(hs, h);
	nst_f32_range__scalar(n - i, x + i, &tail_lo, &tail_hi);
	for (size_t j = 0; j < LANES; j++) {
		tail_lo = ls[j] < tail_lo ? ls[j] : tail_lo;
		tail_hi = hs[j] > tail_hi ? hs[j] : tail_hi;
	}
	*lo = tail_lo;
	*hi = tail_hi;
}

void nst_qu8_quantize__avx2(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params) {
	const __m256 inv = _mm256_set1_ps(1.0f / params->a_scale), zero = _mm256_set1_ps((float)params->a_zero + 0.5f);
	const __m256 top = _mm256_set1_ps(QU8_MAX);
	size_t i = 0;
	for (; i + LANES <= n; i += LANES) { /* loaded before stored: q may overlap x */
		__m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), inv), zero);
		v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), top); /* NaN: 0 */
		const __m256i w = _mm256_cvttps_epi32(v);                        /* [8] int32 0..255 */
		const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
		_mm_storel_epi64((__m128i *)(void *)(q + i), _mm_packus_epi16(w16, w16));
	}
	nst_qu8_quantize__scalar(n - i, x + i, q + i, params);
}

#else
typedef int nst_quant_avx2_unused;
#endif
