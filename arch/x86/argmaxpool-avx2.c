/*
 * AVX 2x2 argmax pooling (see arch/kernels.h): 8 channels per ymm, the comparisons' sign bits
 * (movemask) as the codes (arch/argmaxpool-body.h's driver, the last channels as the twin does
 * them).  Built with -mavx2 -mfma -mf16c (Makefile), called only when nst_cpu_detect reports AVX2 +
 * FMA.  Twin: nst_f32_argmaxpool__scalar (the same bits).
 */
#include "argmaxpool-body.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define BLOCK 8

static inline uint32_t forward8(size_t c, const float *r0, const float *r1, float *out) {
	const __m256 a = _mm256_loadu_ps(r0), b = _mm256_loadu_ps(r0 + c);
	const __m256 d = _mm256_loadu_ps(r1), e = _mm256_loadu_ps(r1 + c);
	const __m256 b1 = _mm256_cmp_ps(b, a, _CMP_GT_OQ);
	__m256 m = _mm256_blendv_ps(a, b, b1);
	const __m256 b2 = _mm256_cmp_ps(d, m, _CMP_GT_OQ);
	m = _mm256_blendv_ps(m, d, b2);
	const __m256 b3 = _mm256_cmp_ps(e, m, _CMP_GT_OQ);
	_mm256_storeu_ps(out, _mm256_blendv_ps(m, e, b3));
	const uint32_t m1 = (uint32_t)_mm256_movemask_ps(b1), m2 = (uint32_t)_mm256_movemask_ps(b2);
	const uint32_t m3 = (uint32_t)_mm256_movemask_ps(b3);
	return nst_spread_bits(m3 | (m1 & ~m2)) | nst_spread_bits(m3 | m2) << 1;
}

/* All-ones lanes where bit j of the low 8 bits of x is set. */
static inline __m256 lanes(uint32_t x) {
	const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
	const __m256i v = _mm256_and_si256(_mm256_set1_epi32((int)x), bit);
	return _mm256_castsi256_ps(_mm256_cmpeq_epi32(v, bit));
}

static inline void backward8(size_t c, const float *g, uint32_t bits, float *d0, float *d1) {
	const uint32_t lo = nst_gather_bits(bits), hi = nst_gather_bits(bits >> 1);
	const __m256 v = _mm256_loadu_ps(g);
	_mm256_storeu_ps(d0, _mm256_and_ps(lanes(~lo & ~hi), v));
	_mm256_storeu_ps(d0 + c, _mm256_and_ps(lanes(lo & ~hi), v));
	_mm256_storeu_ps(d1, _mm256_and_ps(lanes(~lo & hi), v));
	_mm256_storeu_ps(d1 + c, _mm256_and_ps(lanes(lo & hi), v));
}

NST_ARGMAXPOOL_KERNEL(avx2, BLOCK, forward8, backward8)

#else
typedef int nst_argmaxpool_avx2_unused;
#endif
