/*
 * AVX2 transpose (arch/kernels.h): whole blocks of 8 x 8 floats turned in registers (pairs of
 * rows, fours within 128-bit lanes, then the lanes across rows); the ragged edges one float at a time.
 * Built with -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports AVX2 and FMA.
 * Twin: nst_f32_transpose__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8

static void block8(const float *src, size_t src_stride, float *dst, size_t dst_stride) {
	__m256 r[LANES], a[LANES], b[LANES];
	for (size_t i = 0; i < LANES; i++)
		r[i] = _mm256_loadu_ps(src + i * src_stride);
	for (size_t k = 0; k < LANES / 2; k++) {
		a[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
		a[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
	}
	/* b[4k + e]: column 4L + e of rows 4k .. 4k + 3 in lane L */
	for (size_t k = 0; k < LANES / 4; k++) {
		b[4 * k] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
		b[4 * k + 1] = _mm256_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
		b[4 * k + 2] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
		b[4 * k + 3] = _mm256_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
	}
	for (size_t e = 0; e < 4; e++) {
		_mm256_storeu_ps(dst + e * dst_stride, _mm256_permute2f128_ps(b[e], b[4 + e], 0x20));
		_mm256_storeu_ps(dst + (4 + e) * dst_stride, _mm256_permute2f128_ps(b[e], b[4 + e], 0x31));
	}
}

NST_TRANSPOSE_BY_BLOCKS(avx2, LANES, block8)

#else
typedef int nst_transpose_avx2_unused;
#endif
