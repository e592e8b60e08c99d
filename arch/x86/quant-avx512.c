/*
 * The int8 activations' range and quantization kernels on AVX-512F (arch/kernels.h), 16 floats a
 * vector, the tail under a mask.  min / max skip NaNs (vminps returns its second operand when one
 * is NaN), and the quantization rounds as the twins nst_f32_range__scalar and
 * nst_qu8_quantize__scalar do (a product and a sum, each rounded; clamped; truncated).  Built
 * with -mavx512f (Makefile), run beside nst_qu8s8_gemm_8x32__avx512vnni.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16
#define QU8_MAX 255.0f

void nst_f32_range__avx512(size_t n, const float *x, float *lo, float *hi) {
	__m512 l = _mm512_set1_ps(__builtin_inff()), h = _mm512_set1_ps(-__builtin_inff());
	size_t i = 0;
	for (; i + LANES <= n; i += LANES) {
		const __m512 v = _mm512_loadu_ps(x + i);
		l = _mm512_min_ps(v, l); /* NaN v: l */
		h = _mm512_max_ps(v, h);
	}
	if (i < n) {
		const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
		l = _mm512_min_ps(_mm512_mask_loadu_ps(l, m, x + i), l);
		h = _mm512_max_ps(_mm512_mask_loadu_ps(h, m, x + i), h);
	}
	*lo = _mm512_reduce_min_ps(l);
	*hi = _mm512_reduce_max_ps(h);
}

/* 16 quantized values as int32 0..255. */
static inline __attribute__((always_inline)) __m512i quantize16(__m512 v, __m512 inv, __m512 zero) {
	v = _mm512_add_ps(_mm512_mul_ps(v, inv), zero);
	v = _mm512_max_ps(v, _mm512_setzero_ps()); /* NaN: 0 */
	v = _mm512_min_ps(v, _mm512_set1_ps(QU8_MAX));
	return _mm512_cvttps_epi32(v);
}

void nst_qu8_quantize__avx512(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params) {
	const __m512 inv = _mm512_set1_ps(1.0f / params->a_scale), zero = _mm512_set1_ps((float)params->a_zero + 0.5f);
	size_t i = 0;
	for (; i + LANES <= n; i += LANES) /* loaded before stored: q may overlap x */
		_mm_storeu_si128((__m128i *)(void *)(q + i), _mm512_cvtepi32_epi8(quantize16(_mm512_loadu_ps(x + i), inv, zero)));
	if (i < n) {
		const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
		_mm512_mask_cvtepi32_storeu_epi8(q + i, m, quantize16(_mm512_maskz_loadu_ps(m, x + i), inv, zero));
	}
}

#else
typedef int nst_quant_avx512_unused;
#endif
