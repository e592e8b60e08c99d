/*
 * AVX transpose (see arch/kernels.h): 8 x 8 blocks through 8 ymm (unpack pairs of rows, shuffle
 * pairs of those, then the 128-bit halves), the ragged edges one float at a time (the driver: arch/transpose-body.h).  Built with
 * -mavx2 -mfma -mf16c (Makefile), called only when nst_cpu_detect reports AVX2 + FMA.  Twin:
 * nst_x32_transpose__scalar (a transpose is exact: the same bits).
 */
#include "kernels.h"
#include "transpose-body.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define BLOCK 8

/* d[j * ds + i] = s[i * ss + j], i, j < 8. */
static inline void block8(const float *s, size_t ss, float *d, size_t ds) {
	__m256 r[BLOCK], t[BLOCK];
	for (size_t i = 0; i < BLOCK; i++)
		r[i] = _mm256_loadu_ps(s + i * ss);
	for (size_t i = 0; i < BLOCK / 2; i++) {
		t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
	for (size_t i = 0; i < BLOCK / 4; i++) {
		r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
		r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
		r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
		r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
	}
	for (size_t i = 0; i < BLOCK / 2; i++) { /* the low halves, then the high ones: column j */
		_mm256_storeu_ps(d + i * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
		_mm256_storeu_ps(d + (i + 4) * ds, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
	}
}

NST_TRANSPOSE_KERNEL(avx2, BLOCK, block8)

#else
typedef int nst_transpose_avx2_unused;
#endif
