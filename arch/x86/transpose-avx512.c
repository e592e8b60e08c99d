/*
 * AVX-512F transpose (arch/kernels.h): blocks of 16 x 16 floats, each row one zmm (masked at the
 * last columns, zeros for rows past the last), turned in registers by three rounds of shuffles
 * (pairs of rows within 128-bit lanes, fours within them, then the 128-bit lanes across rows),
 * each column stored as one zmm (masked at the last rows).
 * Built with -mavx512f -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports AVX-512F.
 * Twin: nst_f32_transpose__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16

static __mmask16 first_lanes(size_t n) { return (__mmask16)(n >= LANES ? 0xFFFFu : (1u << n) - 1u); }

/* The block of nr <= 16 rows and nc <= 16 columns at src into dst. */
static void block16(size_t nr, size_t nc, const float *src, size_t src_stride, float *dst, size_t dst_stride) {
	const __mmask16 columns = first_lanes(nc), rows = first_lanes(nr);
	__m512 r[LANES], a[LANES], b[LANES];
	for (size_t i = 0; i < LANES; i++)
		r[i] = i < nr ? _mm512_maskz_loadu_ps(columns, src + i * src_stride) : _mm512_setzero_ps();
	/* a[2k], a[2k + 1]: rows 2k and 2k + 1 interleaved, columns 4L + 0, 1 and 4L + 2, 3 of lane L */
	for (size_t k = 0; k < LANES / 2; k++) {
		a[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
		a[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
	}
	/* b[4k + e]: column 4L + e of rows 4k .. 4k + 3 in lane L */
	for (size_t k = 0; k < LANES / 4; k++) {
		b[4 * k] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0x44);
		b[4 * k + 1] = _mm512_shuffle_ps(a[4 * k], a[4 * k + 2], 0xEE);
		b[4 * k + 2] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0x44);
		b[4 * k + 3] = _mm512_shuffle_ps(a[4 * k + 1], a[4 * k + 3], 0xEE);
	}
	/* column 4L + e: lane L of b[e], b[4 + e], b[8 + e], b[12 + e] */
	for (size_t e = 0; e < 4; e++) {
		const __m512 c0 = _mm512_shuffle_f32x4(b[e], b[4 + e], 0x88), c1 = _mm512_shuffle_f32x4(b[e], b[4 + e], 0xDD);
		const __m512 d0 = _mm512_shuffle_f32x4(b[8 + e], b[12 + e], 0x88);
		const __m512 d1 = _mm512_shuffle_f32x4(b[8 + e], b[12 + e], 0xDD);
		const __m512 col[4] = {_mm512_shuffle_f32x4(c0, d0, 0x88), _mm512_shuffle_f32x4(c1, d1, 0x88),
		                       _mm512_shuffle_f32x4(c0, d0, 0xDD), _mm512_shuffle_f32x4(c1, d1, 0xDD)};
		for (size_t l = 0; l < 4; l++)
			if (4 * l + e < nc)
				_mm512_mask_storeu_ps(dst + (4 * l + e) * dst_stride, rows, col[l]);
	}
}

void nst_f32_transpose__avx512(size_t rows, size_t cols, const float *src, size_t src_stride, float *dst,
                               size_t dst_stride) {
	for (size_t i = 0; i < rows; i += LANES)
		for (size_t j = 0; j < cols; j += LANES)
			block16(rows - i < LANES ? rows - i : LANES, cols - j < LANES ? cols - j : LANES, src + i * src_stride + j,
			        src_stride, dst + j * dst_stride + i, dst_stride);
}

#else
typedef int nst_transpose_avx512_unused;
#endif
