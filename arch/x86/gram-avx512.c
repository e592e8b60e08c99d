/*
 * AVX-512F Gram-tile kernel, 8 rows x 32 columns (arch/kernels.h): 16 zmm accumulators from 0, per
 * pixel two vectors of b and one broadcast of a per row, then added onto c (masked loads and stores
 * for a ragged panel).  Built
 * with -mavx512f -mavx2 -mfma (Makefile) and called only when nst_cpu_detect reports AVX-512F with
 * the opmask and zmm states enabled by the OS.  Twin: nst_f32_gram_8x32__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define NR 32
#define HALF 16

/* The lanes of one vector that hold columns below nc, for the vector starting at column first. */
static inline __attribute__((always_inline)) __mmask16 lanes(size_t nc, size_t first) {
	if (nc >= first + HALF)
		return (__mmask16)0xffff;
	return nc > first ? (__mmask16)((1u << (nc - first)) - 1) : (__mmask16)0;
}

#define ROW_STEP(i)                                                                                \
	do {                                                                                           \
		const __m512 va = _mm512_set1_ps(ap[o##i]);                                                \
		acc##i##x0 = _mm512_fmadd_ps(va, b0, acc##i##x0);                                          \
		acc##i##x1 = _mm512_fmadd_ps(va, b1, acc##i##x1);                                          \
	} while (0)
#define ROW_ZERO(i) __m512 acc##i##x0 = _mm512_setzero_ps(), acc##i##x1 = _mm512_setzero_ps()
#define ROW_ADD(i)                                                                                 \
	do {                                                                                           \
		acc##i##x0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c##i), acc##i##x0);                   \
		acc##i##x1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c##i + HALF), acc##i##x1);            \
	} while (0)
#define ROW_STORE(i)                                                                               \
	do {                                                                                           \
		_mm512_mask_storeu_ps(c##i, m0, acc##i##x0);                                               \
		_mm512_mask_storeu_ps(c##i + HALF, m1, acc##i##x1);                                        \
	} while (0)

void nst_f32_gram_8x32__avx512(NST_GRAM_ARGS) {
	/* Row i's channel offset in a and its c row: rows >= mr alias the last valid one. */
	const size_t o0 = 0, o1 = mr > 1 ? 1 : o0, o2 = mr > 2 ? 2 : o1, o3 = mr > 3 ? 3 : o2, o4 = mr > 4 ? 4 : o3,
	             o5 = mr > 5 ? 5 : o4, o6 = mr > 6 ? 6 : o5, o7 = mr > 7 ? 7 : o6;
	float *c0 = c, *c1 = c + o1 * c_stride, *c2 = c + o2 * c_stride, *c3 = c + o3 * c_stride,
	      *c4 = c + o4 * c_stride, *c5 = c + o5 * c_stride, *c6 = c + o6 * c_stride, *c7 = c + o7 * c_stride;
	do {
		const __mmask16 m0 = lanes(nc, 0), m1 = lanes(nc, HALF);
		ROW_ZERO(0);
		ROW_ZERO(1);
		ROW_ZERO(2);
		ROW_ZERO(3);
		ROW_ZERO(4);
		ROW_ZERO(5);
		ROW_ZERO(6);
		ROW_ZERO(7);
		const float *ap = a, *bp = b;
		for (size_t p = 0; p < kc; p++) {
			const __m512 b0 = _mm512_loadu_ps(bp);
			const __m512 b1 = _mm512_loadu_ps(bp + HALF);
			bp += b_stride;
			ROW_STEP(0);
			ROW_STEP(1);
			ROW_STEP(2);
			ROW_STEP(3);
			ROW_STEP(4);
			ROW_STEP(5);
			ROW_STEP(6);
			ROW_STEP(7);
			ap += a_stride;
		}
		/* Every row's c read before any is written (aliased rows read the valid row's); last row
		 * first: aliased rows (mr < 8) store the valid row's values again. */
		ROW_ADD(0);
		ROW_ADD(1);
		ROW_ADD(2);
		ROW_ADD(3);
		ROW_ADD(4);
		ROW_ADD(5);
		ROW_ADD(6);
		ROW_ADD(7);
		ROW_STORE(7);
		ROW_STORE(6);
		ROW_STORE(5);
		ROW_STORE(4);
		ROW_STORE(3);
		ROW_STORE(2);
		ROW_STORE(1);
		ROW_STORE(0);
		if (nc <= NR)
			break;
		b += NR;
		c0 += NR;
		c1 += NR;
		c2 += NR;
		c3 += NR;
		c4 += NR;
		c5 += NR;
		c6 += NR;
		c7 += NR;
		nc -= NR;
	} while (true);
}

#else
/* Not x86-64: nothing to build (the kernel is declared and selected only there). */
typedef int nst_gram_avx512_unused;
#endif
