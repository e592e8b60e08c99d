/*
 * Int8 GEMM on AVX-VNNI (arch/kernels.h's qu8s8 contract), for x86 CPUs with the VEX-encoded
 * vpdpbusd and no AVX-512 (Alder Lake and later Intel client cores): 6 rows x 16 columns, 12 ymm accumulators of int32 (with two weight vectors and a broadcast row, the 16
 * ymm registers AVX2 has, less one).  Per group of 4 k: two weight vectors (8 columns x 4 int8
 * each), one broadcast of a row's 4 bytes per row, and vpdpbusd (u8 x s8, 4 products summed into
 * each int32 lane; the 4 products stay within 2^17).  The epilogue is the contract's: subtract
 * a_zero x the column's weight sum, convert, one fused multiply-add with a_scale x scale and the
 * bias, clamp; the twin nst_qu8s8_gemm_6x16__scalar gives the same bits.  Built with -mavxvnni
 * -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports AVX-VNNI with the ymm state.
 */
#include "gemm-rows.h"
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define COLS 16
#define LANES 8

#define ROW(i, prev, cond) NST_GEMM_ROW(uint8_t, i, prev, cond)
#define STEP(i)                                                                                    \
	do {                                                                                           \
		const __m256i va = _mm256_set1_epi32(nst_load_u8x4(a##i + k));                               \
		acc##i##x0 = _mm256_dpbusd_avx_epi32(acc##i##x0, va, b0);                                  \
		acc##i##x1 = _mm256_dpbusd_avx_epi32(acc##i##x1, va, b1);                                  \
	} while (0)
/* sum - a_zero * wsum, to float, times a_scale * scale plus bias (one rounding), clamped, stored:
 * whole vectors where nc allows, else through the lane masks. */
#define STORE(i)                                                                                   \
	do {                                                                                           \
		const __m256 v0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc##i##x0, corr0)), scale0, bias0); \
		const __m256 v1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc##i##x1, corr1)), scale1, bias1); \
		const __m256 o0 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, v0));                            \
		const __m256 o1 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, v1));                            \
		if (nc >= COLS) {                                                                          \
			_mm256_storeu_ps(c##i, o0);                                                            \
			_mm256_storeu_ps(c##i + LANES, o1);                                                    \
		} else {                                                                                   \
			_mm256_maskstore_ps(c##i, m0, o0);                                                     \
			_mm256_maskstore_ps(c##i + LANES, m1, o1);                                             \
		}                                                                                          \
		c##i += COLS;                                                                              \
	} while (0)

void nst_qu8s8_gemm_6x16__avxvnni(NST_QU8S8_GEMM_ARGS) {
	const uint8_t *a0 = a;
	float *c0 = c;
	ROW(1, 0, mr < 2)
	ROW(2, 1, mr <= 2)
	ROW(3, 2, mr < 4)
	ROW(4, 3, mr <= 4)
	ROW(5, 4, mr != 6)
	const __m256 vmin = _mm256_set1_ps(params->min);
	const __m256 vmax = _mm256_set1_ps(params->max);
	const __m256 a_scale = _mm256_set1_ps(params->a_scale);
	const __m256i a_zero = _mm256_set1_epi32(params->a_zero);
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	do {
		__m256i acc0x0 = _mm256_setzero_si256(), acc0x1 = _mm256_setzero_si256();
		__m256i acc1x0 = acc0x0, acc1x1 = acc0x0, acc2x0 = acc0x0, acc2x1 = acc0x0;
		__m256i acc3x0 = acc0x0, acc3x1 = acc0x0, acc4x0 = acc0x0, acc4x1 = acc0x0;
		__m256i acc5x0 = acc0x0, acc5x1 = acc0x0;
		const int8_t *wq = (const int8_t *)(const void *)(w + 3 * COLS); // [kc / 4][16][4]
		for (size_t k = 0; k < kc; k += NST_QU8_K_GROUP) {
			const __m256i b0 = _mm256_loadu_si256((const void *)wq);
			const __m256i b1 = _mm256_loadu_si256((const void *)(wq + LANES * NST_QU8_K_GROUP));
			wq += COLS * NST_QU8_K_GROUP;
			STEP(0);
			STEP(1);
			STEP(2);
			STEP(3);
			STEP(4);
			STEP(5);
		}
		const __m256i corr0 = _mm256_mullo_epi32(a_zero, _mm256_loadu_si256((const void *)w));
		const __m256i corr1 = _mm256_mullo_epi32(a_zero, _mm256_loadu_si256((const void *)(w + LANES)));
		const __m256 scale0 = _mm256_mul_ps(a_scale, _mm256_loadu_ps(w + COLS));
		const __m256 scale1 = _mm256_mul_ps(a_scale, _mm256_loadu_ps(w + COLS + LANES));
		const __m256 bias0 = _mm256_loadu_ps(w + 2 * COLS), bias1 = _mm256_loadu_ps(w + 2 * COLS + LANES);
		/* lane j of the first (second) vector is written when j (LANES + j) < nc */
		const __m256i cols = _mm256_set1_epi32(nc < COLS ? (int)nc : COLS);
		const __m256i m0 = _mm256_cmpgt_epi32(cols, lane);
		const __m256i m1 = _mm256_cmpgt_epi32(cols, _mm256_add_epi32(lane, _mm256_set1_epi32(LANES)));
		/* Last row first: aliased rows (mr < 6) store identical values to the same row. */
		STORE(5);
		STORE(4);
		STORE(3);
		STORE(2);
		STORE(1);
		STORE(0);
		if (nc <= COLS)
			break;
		nc -= COLS;
		w += 3 * COLS + kc * COLS / NST_QU8_K_GROUP;
	} while (true);
}

#else
typedef int nst_gemm_qu8s8_avxvnni_unused;
#endif
