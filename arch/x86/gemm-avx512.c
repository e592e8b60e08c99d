/*
 * AVX-512F GEMM microkernels.  8 rows x 32 columns: 16 zmm accumulators, two weight vectors per k
 * and one broadcast of a per row and k.  16 rows x 16 columns, for outputs of at most 16 columns
 * (where half of 8x32's multiply-adds would be padding): 16 accumulators, one weight vector per k
 * and sixteen broadcasts, each folded into its multiply-add as a memory operand.  Built with
 * -mavx512f -mavx2 -mfma (Makefile) and called only when nst_cpu_detect reports AVX-512F with the
 * opmask and zmm states enabled by the OS.  Twins: nst_f32_gemm_8x32__scalar and
 * nst_f32_gemm_16x16__scalar.
 */
#include "gemm-rows.h"
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* Stores the 32 columns (lo, hi) of one row, or its first nc < 32, with masked stores. */
static inline __attribute__((always_inline)) void store_row(float *c, size_t nc, __m512 lo, __m512 hi) {
	if (nc >= 32) {
		_mm512_storeu_ps(c, lo);
		_mm512_storeu_ps(c + 16, hi);
	} else if (nc >= 16) {
		_mm512_storeu_ps(c, lo);
		_mm512_mask_storeu_ps(c + 16, (__mmask16)((1u << (nc - 16)) - 1), hi);
	} else {
		_mm512_mask_storeu_ps(c, (__mmask16)((1u << nc) - 1), lo);
	}
}

#define ROW(i, prev, cond) NST_GEMM_ROW(float, i, prev, cond)
#define STEP(i)                                                                                    \
	do {                                                                                           \
		const __m512 va = _mm512_set1_ps(a##i[k]);                                                 \
		acc##i##x0 = _mm512_fmadd_ps(va, b0, acc##i##x0);                                          \
		acc##i##x1 = _mm512_fmadd_ps(va, b1, acc##i##x1);                                          \
	} while (0)
#define CLAMP(i)                                                                                   \
	do {                                                                                           \
		acc##i##x0 = _mm512_min_ps(vmax, _mm512_max_ps(vmin, acc##i##x0));                         \
		acc##i##x1 = _mm512_min_ps(vmax, _mm512_max_ps(vmin, acc##i##x1));                         \
	} while (0)

void nst_f32_gemm_8x32__avx512(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                               const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params) {
	const float *a0 = a;
	float *c0 = c;
	ROW(1, 0, mr < 2)
	ROW(2, 1, mr <= 2)
	ROW(3, 2, mr < 4)
	ROW(4, 3, mr <= 4)
	ROW(5, 4, mr < 6)
	ROW(6, 5, mr <= 6)
	ROW(7, 6, mr != 8)
	const __m512 vmin = _mm512_set1_ps(params->min);
	const __m512 vmax = _mm512_set1_ps(params->max);

	do {
		__m512 acc0x0 = _mm512_loadu_ps(w);
		__m512 acc0x1 = _mm512_loadu_ps(w + 16);
		__m512 acc1x0 = acc0x0, acc1x1 = acc0x1;
		__m512 acc2x0 = acc0x0, acc2x1 = acc0x1;
		__m512 acc3x0 = acc0x0, acc3x1 = acc0x1;
		__m512 acc4x0 = acc0x0, acc4x1 = acc0x1;
		__m512 acc5x0 = acc0x0, acc5x1 = acc0x1;
		__m512 acc6x0 = acc0x0, acc6x1 = acc0x1;
		__m512 acc7x0 = acc0x0, acc7x1 = acc0x1;
		w += 32;

		for (size_t k = 0; k < kc; k++) {
			const __m512 b0 = _mm512_loadu_ps(w);
			const __m512 b1 = _mm512_loadu_ps(w + 16);
			w += 32;
			STEP(0);
			STEP(1);
			STEP(2);
			STEP(3);
			STEP(4);
			STEP(5);
			STEP(6);
			STEP(7);
		}

		/* max(vmin, acc) and min(vmax, acc) return acc when it is NaN: a NaN sum stays NaN. */
		CLAMP(0);
		CLAMP(1);
		CLAMP(2);
		CLAMP(3);
		CLAMP(4);
		CLAMP(5);
		CLAMP(6);
		CLAMP(7);

		/* Last row first: aliased rows (mr < 8) store identical values to the same row. */
		store_row(c7, nc, acc7x0, acc7x1);
		store_row(c6, nc, acc6x0, acc6x1);
		store_row(c5, nc, acc5x0, acc5x1);
		store_row(c4, nc, acc4x0, acc4x1);
		store_row(c3, nc, acc3x0, acc3x1);
		store_row(c2, nc, acc2x0, acc2x1);
		store_row(c1, nc, acc1x0, acc1x1);
		store_row(c0, nc, acc0x0, acc0x1);
		if (nc <= 32)
			break;
		c0 += 32;
		c1 += 32;
		c2 += 32;
		c3 += 32;
		c4 += 32;
		c5 += 32;
		c6 += 32;
		c7 += 32;
		nc -= 32;
	} while (true);
}

#define TALL_ROWS 16
#define TALL_LANES 16

void nst_f32_gemm_16x16__avx512(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                                const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params) {
	/* rows >= mr alias the last valid row: they read its a and store its values again */
	const float *arow[TALL_ROWS];
	float *crow[TALL_ROWS];
	arow[0] = a;
	crow[0] = c;
#pragma GCC unroll 16
	for (size_t i = 1; i < TALL_ROWS; i++) {
		arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];
		crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];
	}
	const __m512 vmin = _mm512_set1_ps(params->min);
	const __m512 vmax = _mm512_set1_ps(params->max);
	do {
		__m512 acc[TALL_ROWS];
		const __m512 bias = _mm512_loadu_ps(w);
#pragma GCC unroll 16
		for (size_t i = 0; i < TALL_ROWS; i++)
			acc[i] = bias;
		w += TALL_LANES;
		for (size_t k = 0; k < kc; k++) {
			const __m512 b = _mm512_loadu_ps(w);
			w += TALL_LANES;
#pragma GCC unroll 16
			for (size_t i = 0; i < TALL_ROWS; i++)
				acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(arow[i][k]), b, acc[i]);
		}
		const __mmask16 m = nc >= TALL_LANES ? (__mmask16)0xffffu : (__mmask16)((1u << nc) - 1u);
		/* Last row first: aliased rows (mr < 16) store identical values to the same row.
		 * max(vmin, acc) and min(vmax, acc) return acc when it is NaN: a NaN sum stays NaN. */
#pragma GCC unroll 16
		for (size_t i = TALL_ROWS; i-- > 0;) {
			_mm512_mask_storeu_ps(crow[i], m, _mm512_min_ps(vmax, _mm512_max_ps(vmin, acc[i])));
			crow[i] += TALL_LANES;
		}
		if (nc <= TALL_LANES)
			break;
		nc -= TALL_LANES;
	} while (true);
}

#else
typedef int nst_gemm_avx512_unused;
#endif
