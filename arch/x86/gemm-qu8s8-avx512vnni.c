/*
 * Int8 GEMM on AVX-512 VNNI (arch/kernels.h's qu8s8 contract): 8 rows x 32 columns, 16 zmm
 * accumulators of int32.  Per group of 4 k: two weight vectors (16 columns x 4 int8 each), one
 * broadcast of a row's 4 bytes, and vpdpbusd (u8 x s8, 4 products summed into each int32 lane; no
 * saturation: the 4 products stay within 2^17).  The epilogue subtracts a_zero x the column's
 * weight sum, converts to float and applies scale and bias in one fused multiply-add, as the twin
 * nst_qu8s8_gemm_8x32__scalar does.  Built with -mavx512f -mavx512bw -mavx512vnni (Makefile),
 * called only when nst_cpu_detect reports AVX-512 VNNI and BW with the zmm states enabled.
 */
#include "gemm-rows.h"
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define COLS 32
#define LANES 16

#define ROW(i, prev, cond) NST_GEMM_ROW(uint8_t, i, prev, cond)
/* acc += vpdpbusd(u8 a, s8 b).  Inline assembly: GCC 12's _mm512_dpbusd_epi32 keeps its
 * accumulator in zmm0-15 (the VEX AVX-VNNI pattern's constraint), so 16 accumulators, two weight
 * vectors and a broadcast cost a register move per instruction; EVEX reaches all 32. */
static inline __attribute__((always_inline)) __m512i dpbusd(__m512i acc, __m512i a_u8, __m512i b_s8) {
	__asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a_u8), "v"(b_s8));
	return acc;
}
#define STEP(i)                                                                                    \
	do {                                                                                           \
		const __m512i va = _mm512_set1_epi32(nst_load_u8x4(a##i + k));                                \
		acc##i##x0 = dpbusd(acc##i##x0, va, b0);                                                   \
		acc##i##x1 = dpbusd(acc##i##x1, va, b1);                                                   \
	} while (0)
/* sum - a_zero * wsum, to float, times a_scale * scale plus bias (one rounding), clamped, stored. */
#define STORE(i)                                                                                   \
	do {                                                                                           \
		const __m512 v0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc##i##x0, corr0)), scale0, bias0); \
		const __m512 v1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc##i##x1, corr1)), scale1, bias1); \
		_mm512_mask_storeu_ps(c##i, m0, _mm512_min_ps(vmax, _mm512_max_ps(vmin, v0)));             \
		_mm512_mask_storeu_ps(c##i + LANES, m1, _mm512_min_ps(vmax, _mm512_max_ps(vmin, v1)));     \
		c##i += COLS;                                                                              \
	} while (0)

void nst_qu8s8_gemm_8x32__avx512vnni(NST_QU8S8_GEMM_ARGS) {
	const uint8_t *a0 = a;
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
	const __m512 a_scale = _mm512_set1_ps(params->a_scale);
	const __m512i a_zero = _mm512_set1_epi32(params->a_zero);
	do {
		__m512i acc0x0 = _mm512_setzero_si512(), acc0x1 = _mm512_setzero_si512();
		__m512i acc1x0 = acc0x0, acc1x1 = acc0x0, acc2x0 = acc0x0, acc2x1 = acc0x0;
		__m512i acc3x0 = acc0x0, acc3x1 = acc0x0, acc4x0 = acc0x0, acc4x1 = acc0x0;
		__m512i acc5x0 = acc0x0, acc5x1 = acc0x0, acc6x0 = acc0x0, acc6x1 = acc0x0;
		__m512i acc7x0 = acc0x0, acc7x1 = acc0x0;
		const int8_t *wq = (const int8_t *)(const void *)(w + 3 * COLS); // [kc / 4][32][4]
		for (size_t k = 0; k < kc; k += NST_QU8_K_GROUP) {
			const __m512i b0 = _mm512_loadu_si512((const void *)wq);
			const __m512i b1 = _mm512_loadu_si512((const void *)(wq + LANES * NST_QU8_K_GROUP));
			wq += COLS * NST_QU8_K_GROUP;
			STEP(0);
			STEP(1);
			STEP(2);
			STEP(3);
			STEP(4);
			STEP(5);
			STEP(6);
			STEP(7);
		}
		const __m512i corr0 = _mm512_mullo_epi32(a_zero, _mm512_loadu_si512((const void *)w));
		const __m512i corr1 = _mm512_mullo_epi32(a_zero, _mm512_loadu_si512((const void *)(w + LANES)));
		const __m512 scale0 = _mm512_mul_ps(a_scale, _mm512_loadu_ps(w + COLS));
		const __m512 scale1 = _mm512_mul_ps(a_scale, _mm512_loadu_ps(w + COLS + LANES));
		const __m512 bias0 = _mm512_loadu_ps(w + 2 * COLS), bias1 = _mm512_loadu_ps(w + 2 * COLS + LANES);
		const __mmask16 m0 = nc >= LANES ? (__mmask16)0xffffu : (__mmask16)((1u << nc) - 1u);
		const __mmask16 m1 = nc >= COLS ? (__mmask16)0xffffu
		                                : (nc > LANES ? (__mmask16)((1u << (nc - LANES)) - 1u) : (__mmask16)0);
		/* Last row first: aliased rows (mr < 8) store identical values to the same row. */
		STORE(7);
		STORE(6);
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
typedef int nst_gemm_qu8s8_avx512vnni_unused;
#endif
