/*
 * AVX2 + FMA Gram-tile kernel, 6 rows x 16 columns (arch/kernels.h): 12 ymm accumulators from 0,
 * per pixel two vectors of b and one broadcast of a per row, then added onto c.  Built with -mavx2 -mfma
 * (Makefile) and called only when nst_cpu_detect reports AVX2 and FMA.
 * Twin: nst_f32_gram_6x16__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define NR 16

/* Row c's 16 columns into (lo, hi), or its first nc < 16 with zeros after them. */
static inline __attribute__((always_inline)) void load_row(const float *c, size_t nc, __m256 *lo, __m256 *hi) {
	if (nc >= NR) {
		*lo = _mm256_loadu_ps(c);
		*hi = _mm256_loadu_ps(c + 8);
		return;
	}
	float row[NR] = {0};
	memcpy(row, c, nc * sizeof(float));
	*lo = _mm256_loadu_ps(row);
	*hi = _mm256_loadu_ps(row + 8);
}

static inline __attribute__((always_inline)) void store_row(float *c, size_t nc, __m256 lo, __m256 hi) {
	if (nc >= NR) {
		_mm256_storeu_ps(c, lo);
		_mm256_storeu_ps(c + 8, hi);
		return;
	}
	float row[NR];
	_mm256_storeu_ps(row, lo);
	_mm256_storeu_ps(row + 8, hi);
	memcpy(c, row, nc * sizeof(float));
}

/* acc_i += row i of c, loaded (all rows before any store). */
#define ADD_ROW(i)                                                                                 \
	do {                                                                                           \
		__m256 lo, hi;                                                                             \
		load_row(c##i, nc, &lo, &hi);                                                              \
		acc##i##x0 = _mm256_add_ps(lo, acc##i##x0);                                                \
		acc##i##x1 = _mm256_add_ps(hi, acc##i##x1);                                                \
	} while (0)

void nst_f32_gram_6x16__avx2(NST_GRAM_ARGS) {
	/* Row i's channel offset in a and its c row: rows >= mr alias the last valid one. */
	const size_t i1 = mr > 1 ? 1 : 0, i2 = mr > 2 ? 2 : i1, i3 = mr > 3 ? 3 : i2, i4 = mr > 4 ? 4 : i3,
	             i5 = mr > 5 ? 5 : i4;
	float *c0 = c, *c1 = c + i1 * c_stride, *c2 = c + i2 * c_stride, *c3 = c + i3 * c_stride,
	      *c4 = c + i4 * c_stride, *c5 = c + i5 * c_stride;
	do {
		__m256 acc0x0 = _mm256_setzero_ps(), acc0x1 = acc0x0, acc1x0 = acc0x0, acc1x1 = acc0x0, acc2x0 = acc0x0,
		       acc2x1 = acc0x0, acc3x0 = acc0x0, acc3x1 = acc0x0, acc4x0 = acc0x0, acc4x1 = acc0x0, acc5x0 = acc0x0,
		       acc5x1 = acc0x0;
		const float *ap = a, *bp = b;
		for (size_t p = 0; p < kc; p++) {
			const __m256 b0 = _mm256_loadu_ps(bp);
			const __m256 b1 = _mm256_loadu_ps(bp + 8);
			bp += b_stride;
			const __m256 va0 = _mm256_broadcast_ss(ap);
			acc0x0 = _mm256_fmadd_ps(va0, b0, acc0x0);
			acc0x1 = _mm256_fmadd_ps(va0, b1, acc0x1);
			const __m256 va1 = _mm256_broadcast_ss(ap + i1);
			acc1x0 = _mm256_fmadd_ps(va1, b0, acc1x0);
			acc1x1 = _mm256_fmadd_ps(va1, b1, acc1x1);
			const __m256 va2 = _mm256_broadcast_ss(ap + i2);
			acc2x0 = _mm256_fmadd_ps(va2, b0, acc2x0);
			acc2x1 = _mm256_fmadd_ps(va2, b1, acc2x1);
			const __m256 va3 = _mm256_broadcast_ss(ap + i3);
			acc3x0 = _mm256_fmadd_ps(va3, b0, acc3x0);
			acc3x1 = _mm256_fmadd_ps(va3, b1, acc3x1);
			const __m256 va4 = _mm256_broadcast_ss(ap + i4);
			acc4x0 = _mm256_fmadd_ps(va4, b0, acc4x0);
			acc4x1 = _mm256_fmadd_ps(va4, b1, acc4x1);
			const __m256 va5 = _mm256_broadcast_ss(ap + i5);
			acc5x0 = _mm256_fmadd_ps(va5, b0, acc5x0);
			acc5x1 = _mm256_fmadd_ps(va5, b1, acc5x1);
			ap += a_stride;
		}
		/* Every row's c read before any is written (aliased rows read the valid row's); last row
		 * first: aliased rows (mr < 6) store the valid row's values again. */
		ADD_ROW(0);
		ADD_ROW(1);
		ADD_ROW(2);
		ADD_ROW(3);
		ADD_ROW(4);
		ADD_ROW(5);
		store_row(c5, nc, acc5x0, acc5x1);
		store_row(c4, nc, acc4x0, acc4x1);
		store_row(c3, nc, acc3x0, acc3x1);
		store_row(c2, nc, acc2x0, acc2x1);
		store_row(c1, nc, acc1x0, acc1x1);
		store_row(c0, nc, acc0x0, acc0x1);
		if (nc <= NR)
			break;
		b += NR;
		c0 += NR;
		c1 += NR;
		c2 += NR;
		c3 += NR;
		c4 += NR;
		c5 += NR;
		nc -= NR;
	} while (true);
}

#else
/* Not x86-64: nothing to build (the kernel is declared and selected only there). */
typedef int nst_gram_avx2_unused;
#endif
