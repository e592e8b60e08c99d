/*
 * AVX2 + FMA GEMM microkernel, 6 rows x 16 columns: 12 ymm accumulators, two weight vectors and
 * one broadcast of a per row and k.  Built with -mavx2 -mfma -mf16c (Makefile) and called only when
 * nst_cpu_detect reports AVX2 and FMA with the ymm state enabled by the OS.
 * Twin: nst_f32_gemm_6x16__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* Stores the 16 columns (acc_lo, acc_hi) of one row, or its first nc < 16. */
static inline __attribute__((always_inline)) void store_row(float *c, size_t nc, __m256 lo, __m256 hi) {
	if (nc >= 16) {
		_mm256_storeu_ps(c, lo);
		_mm256_storeu_ps(c + 8, hi);
		return;
	}
	if (nc & 8) {
		_mm256_storeu_ps(c, lo);
		lo = hi;
		c += 8;
	}
	__m128 v = _mm256_castps256_ps128(lo);
	if (nc & 4) {
		_mm_storeu_ps(c, v);
		v = _mm256_extractf128_ps(lo, 1);
		c += 4;
	}
	if (nc & 2) {
		_mm_storel_pi((__m64 *)c, v);
		v = _mm_movehl_ps(v, v);
		c += 2;
	}
	if (nc & 1)
		_mm_store_ss(c, v);
}

void nst_f32_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                             const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params) {
	const float *a0 = a;
	float *c0 = c;
	const float *a1 = a0 + a_stride;
	float *c1 = c0 + c_stride;
	if (mr < 2) {
		a1 = a0;
		c1 = c0;
	}
	const float *a2 = a1 + a_stride;
	float *c2 = c1 + c_stride;
	if (mr <= 2) {
		a2 = a1;
		c2 = c1;
	}
	const float *a3 = a2 + a_stride;
	float *c3 = c2 + c_stride;
	if (mr < 4) {
		a3 = a2;
		c3 = c2;
	}
	const float *a4 = a3 + a_stride;
	float *c4 = c3 + c_stride;
	if (mr <= 4) {
		a4 = a3;
		c4 = c3;
	}
	const float *a5 = a4 + a_stride;
	float *c5 = c4 + c_stride;
	if (mr != 6) {
		a5 = a4;
		c5 = c4;
	}
	const __m256 vmin = _mm256_set1_ps(params->min);
	const __m256 vmax = _mm256_set1_ps(params->max);

	do {
		__m256 acc0x0 = _mm256_loadu_ps(w);
		__m256 acc0x1 = _mm256_loadu_ps(w + 8);
		__m256 acc1x0 = acc0x0, acc1x1 = acc0x1;
		__m256 acc2x0 = acc0x0, acc2x1 = acc0x1;
		__m256 acc3x0 = acc0x0, acc3x1 = acc0x1;
		__m256 acc4x0 = acc0x0, acc4x1 = acc0x1;
		__m256 acc5x0 = acc0x0, acc5x1 = acc0x1;
		w += 16;

		for (size_t k = 0; k < kc; k++) {
			const __m256 b0 = _mm256_loadu_ps(w);
			const __m256 b1 = _mm256_loadu_ps(w + 8);
			w += 16;
			const __m256 va0 = _mm256_broadcast_ss(a0 + k);
			acc0x0 = _mm256_fmadd_ps(va0, b0, acc0x0);
			acc0x1 = _mm256_fmadd_ps(va0, b1, acc0x1);
			const __m256 va1 = _mm256_broadcast_ss(a1 + k);
			acc1x0 = _mm256_fmadd_ps(va1, b0, acc1x0);
			acc1x1 = _mm256_fmadd_ps(va1, b1, acc1x1);
			const __m256 va2 = _mm256_broadcast_ss(a2 + k);
			acc2x0 = _mm256_fmadd_ps(va2, b0, acc2x0);
			acc2x1 = _mm256_fmadd_ps(va2, b1, acc2x1);
			const __m256 va3 = _mm256_broadcast_ss(a3 + k);
			acc3x0 = _mm256_fmadd_ps(va3, b0, acc3x0);
			acc3x1 = _mm256_fmadd_ps(va3, b1, acc3x1);
			const __m256 va4 = _mm256_broadcast_ss(a4 + k);
			acc4x0 = _mm256_fmadd_ps(va4, b0, acc4x0);
			acc4x1 = _mm256_fmadd_ps(va4, b1, acc4x1);
			const __m256 va5 = _mm256_broadcast_ss(a5 + k);
			acc5x0 = _mm256_fmadd_ps(va5, b0, acc5x0);
			acc5x1 = _mm256_fmadd_ps(va5, b1, acc5x1);
		}

		/* max(vmin, acc) and min(vmax, acc) return acc when it is NaN: a NaN sum stays NaN. */
		acc0x0 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc0x0));
		acc0x1 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc0x1));
		acc1x0 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc1x0));
		acc1x1 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc1x1));
		acc2x0 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc2x0));
		acc2x1 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc2x1));
		acc3x0 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc3x0));
		acc3x1 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc3x1));
		acc4x0 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc4x0));
		acc4x1 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc4x1));
		acc5x0 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc5x0));
		acc5x1 = _mm256_min_ps(vmax, _mm256_max_ps(vmin, acc5x1));

		/* Last row first: aliased rows (mr < 6) store identical values to the same row. */
		store_row(c5, nc, acc5x0, acc5x1);
		store_row(c4, nc, acc4x0, acc4x1);
		store_row(c3, nc, acc3x0, acc3x1);
		store_row(c2, nc, acc2x0, acc2x1);
		store_row(c1, nc, acc1x0, acc1x1);
		store_row(c0, nc, acc0x0, acc0x1);
		if (nc <= 16)
			break;
		c0 += 16;
		c1 += 16;
		c2 += 16;
		c3 += 16;
		c4 += 16;
		c5 += 16;
		nc -= 16;
	} while (true);
}

#else
/* Not x86-64: nothing to build (the kernel is declared and selected only there). */
typedef int nst_gemm_avx2_unused;
#endif
