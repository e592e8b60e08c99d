/*
 * AVX-512F transpose (see arch/kernels.h): 16 x 16 blocks through 16 zmm (unpack pairs of rows,
 * shuffle pairs of those, then two rounds of 128-bit lane shuffles), the ragged edges one float at
 * a time.  Built with -mavx512f -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports
 * AVX-512F.  Twin: nst_x32_transpose__scalar (a transpose is exact: the same bits).
 */
#include "kernels.h"
#include "transpose-body.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define BLOCK 16

/* d[j * ds + i] = s[i * ss + j], i, j < 16. */
static inline void block16(const float *s, size_t ss, float *d, size_t ds) {
	__m512 r[BLOCK], t[BLOCK];
	for (size_t i = 0; i < BLOCK; i++)
		r[i] = _mm512_loadu_ps(s + i * ss);
	for (size_t i = 0; i < BLOCK / 2; i++) { /* rows 2i, 2i + 1 interleaved within 128-bit lanes */
		t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
	for (size_t i = 0; i < BLOCK / 4; i++) { /* four rows' elements side by side in each lane */
		r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
		r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
		r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
		r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
	}
	for (size_t i = 0; i < BLOCK / 4; i++) { /* then the lanes: eight rows */
		t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
		t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
		t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
		t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
	}
	for (size_t i = 0; i < BLOCK / 2; i++) { /* and sixteen: t[j] is column j */
		_mm512_storeu_ps(d + i * ds, _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88));
		_mm512_storeu_ps(d + (i + 8) * ds, _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd));
	}
}

NST_TRANSPOSE_KERNEL(avx512, BLOCK, block16)

#else
typedef int nst_transpose_avx512_unused;
#endif
