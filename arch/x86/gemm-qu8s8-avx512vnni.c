/*
 * Int8 GEMM on AVX-512 VNNI (arch/kernels.h's qu8s8 contract): 8 rows x 32 columns, 16 zmm
 * accumulators of int32.  Per group of 4 k: two weight vectors (16 columns x 4 int8 each), one
 * broadcast of a row's 4 bytes, and vpdpbusd (u8 x s8, 4 products summed into each int32 lane; no
 * saturation: the 4 products stay within 2^17).  The epilogue subtracts a_zero x the column's
 * weight sum, converts to float and applies scale and bias in one fused multiply-add, as the twin
 * nst_qu8s8_gemm_8x32__scalar does.  Built with -mavx512f -mavx512bw -mavx512vnni (Makefile),
 * called only when nst_cpu_detect reports AVX-512 VNNI and BW with the zmm states enabled.
 */
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define ROWS 8
#define COLS 32
#define LANES 16

static inline __attribute__((always_inline)) int32_t load_group(const uint8_t *p) {
	int32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

void nst_qu8s8_gemm_8x32__avx512vnni(NST_QU8S8_GEMM_ARGS) {
	/* rows >= mr alias the last valid row: they read its a and store its values again */
	const uint8_t *arow[ROWS];
	float *crow[ROWS];
	arow[0] = a;
	crow[0] = c;
#pragma GCC unroll 8
	for (size_t i = 1; i < ROWS; i++) {
		arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];
		crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];
	}
	const __m512 vmin = _mm512_set1_ps(params->min);
	const __m512 vmax = _mm512_set1_ps(params->max);
	const __m512 a_scale = _mm512_set1_ps(params->a_scale);
	const __m512i a_zero = _mm512_set1_epi32(params->a_zero);
	do {
		__m512i acc[ROWS][2];
#pragma GCC unroll 8
		for (size_t i = 0; i < ROWS; i++)
			acc[i][0] = acc[i][1] = _mm512_setzero_si512();
		const int8_t *wq = (const int8_t *)(const void *)(w + 3 * COLS); // [kc / 4][32][4]
		for (size_t k = 0; k < kc; k += NST_QU8_K_GROUP) {
			const __m512i b0 = _mm512_loadu_si512((const void *)wq);
			const __m512i b1 = _mm512_loadu_si512((const void *)(wq + LANES * NST_QU8_K_GROUP));
			wq += COLS * NST_QU8_K_GROUP;
#pragma GCC unroll 8
			for (size_t i = 0; i < ROWS; i++) {
				const __m512i va = _mm512_set1_epi32(load_group(arow[i] + k));
				acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], va, b0);
				acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], va, b1);
			}
		}
		__m512i corr[2];
		__m512 scale[2], bias[2];
		for (size_t h = 0; h < 2; h++) {
			corr[h] = _mm512_mullo_epi32(a_zero, _mm512_loadu_si512((const void *)(w + h * LANES)));
			scale[h] = _mm512_mul_ps(a_scale, _mm512_loadu_ps(w + COLS + h * LANES));
			bias[h] = _mm512_loadu_ps(w + 2 * COLS + h * LANES);
		}
		const __mmask16 m0 = nc >= LANES ? (__mmask16)0xffffu : (__mmask16)((1u << nc) - 1u);
		const __mmask16 m1 = nc >= COLS ? (__mmask16)0xffffu
		                                : (nc > LANES ? (__mmask16)((1u << (nc - LANES)) - 1u) : (__mmask16)0);
		/* Last row first: aliased rows (mr < 8) store identical values to the same row. */
#pragma GCC unroll 8
		for (size_t i = ROWS; i-- > 0;) {
			for (size_t h = 0; h < 2; h++) {
				const __m512 sum = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][h], corr[h]));
				const __m512 v = _mm512_fmadd_ps(sum, scale[h], bias[h]);
				_mm512_mask_storeu_ps(crow[i] + h * LANES, h ? m1 : m0, _mm512_min_ps(vmax, _mm512_max_ps(vmin, v)));
			}
			crow[i] += COLS;
		}
		if (nc <= COLS)
			break;
		nc -= COLS;
		w += 3 * COLS + kc * COLS / NST_QU8_K_GROUP;
	} while (true);
}

#else
typedef int nst_gemm_qu8s8_avx512vnni_unused;
#endif
