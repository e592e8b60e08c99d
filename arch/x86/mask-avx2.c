/*
 * AVX2 ReLU mask kernels (see arch/kernels.h): 8 floats, one mask byte, per step.
 * pack: a compare and movemask; apply: the byte broadcast, each lane's bit tested.
 */
#include "kernels.h"

#include <immintrin.h>

void nst_u8_mask_pack__avx2(size_t n_bytes, const float *x, uint8_t *mask) {
	const __m256 zero = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 4 <= n_bytes; i += 4) { /* four bytes per step: independent compares */
		const float *v = x + i * NST_MASK_BITS; // [32]
		const int m0 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v), zero, _CMP_GT_OQ));
		const int m1 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + 8), zero, _CMP_GT_OQ));
		const int m2 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + 16), zero, _CMP_GT_OQ));
		const int m3 = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(v + 24), zero, _CMP_GT_OQ));
		mask[i] = (uint8_t)m0;
		mask[i + 1] = (uint8_t)m1;
		mask[i + 2] = (uint8_t)m2;
		mask[i + 3] = (uint8_t)m3;
	}
	for (; i < n_bytes; i++)
		mask[i] = (uint8_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i * NST_MASK_BITS), zero, _CMP_GT_OQ));
}

void nst_f32_mask_apply__avx2(size_t n_bytes, const uint8_t *mask, float *x) {
	const __m256i lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
	for (size_t i = 0; i < n_bytes; i++) {
		const unsigned bits = mask[i];
		float *v = x + i * NST_MASK_BITS; // [8]
		if (bits == 0xffu)
			continue;
		if (bits == 0) {
			_mm256_storeu_ps(v, _mm256_setzero_ps());
			continue;
		}
		const __m256i set = _mm256_and_si256(_mm256_set1_epi32((int)bits), lane_bits);
		const __m256 keep = _mm256_castsi256_ps(_mm256_cmpeq_epi32(set, lane_bits));
		_mm256_storeu_ps(v, _mm256_and_ps(_mm256_loadu_ps(v), keep));
	}
}
