/*
 * AVX-512F small-N ("dot") microkernel, 8 rows x up to 4 columns, vectorized along k: 16 k per
 * vector, one zmm accumulator per output (8x3: 24 accumulators, 3 weight vectors, 1 row vector of
 * the 32 zmm registers; 11 loads per 24 FMAs).  nc 4 runs as two passes of 2 columns.  The last
 * kc % 16 of each segment come through masked loads (nothing past a segment is read); the lanes
 * are folded to 8 and summed by a tree of horizontal adds, 4 outputs at a time.
 * Built with -mavx512f -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports AVX-512F.
 * Twin: nst_f32_dot_8x4__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 8
#define LANES 16
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* [sum(a), sum(b), sum(c), sum(d)] */
static ALWAYS_INLINE __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
	const __m256 ab = _mm256_hadd_ps(a, b);    /* a01 a23 b01 b23 | a45 a67 b45 b67 */
	const __m256 cd = _mm256_hadd_ps(c, d);
	const __m256 abcd = _mm256_hadd_ps(ab, cd); /* a0123 b0123 c0123 d0123 | a4567 ... */
	return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* The sum of x's two halves: 16 lanes to 8 (AVX-512F only: no AVX512DQ extract). */
static ALWAYS_INLINE __m256 fold(__m512 x) {
	return _mm256_add_ps(_mm512_castps512_ps256(x), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}

/* Makes the compiler keep x in a register: otherwise it folds the row's load into each of the N
 * FMAs that use it (N loads instead of 1). */
#define IN_REGISTER(x) __asm__("" : "+v"(x))

static ALWAYS_INLINE float clamp(float v, float vmin, float vmax) {
	v = v < vmin ? vmin : v;
	return v > vmax ? vmax : v;
}

/* Columns j0 .. j0 + N of the MR rows (N a constant after inlining). */
static ALWAYS_INLINE void dot_block(const size_t N, size_t nc, size_t j0, size_t kc, size_t segs,
                                    const float *const arow[MR], size_t seg_stride, const float *w,
                                    float *const crow[MR], const struct nst_f32_minmax_params *params) {
	const size_t wk = segs * kc;
	const float *wrow[NST_DOT_MAX_N]; /* each [segs * kc] */
#pragma GCC unroll 4
	for (size_t j = 0; j < N; j++)
		wrow[j] = w + nc + (j0 + j) * wk;
	__m512 acc[MR][NST_DOT_MAX_N];
#pragma GCC unroll 8
	for (size_t i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			acc[i][j] = _mm512_setzero_ps();
	const __mmask16 tail = (__mmask16)((1u << (kc % LANES)) - 1u);
	for (size_t s = 0; s < segs; s++) {
		const float *ap[MR], *wp[NST_DOT_MAX_N];
#pragma GCC unroll 8
		for (size_t i = 0; i < MR; i++)
			ap[i] = arow[i] + s * seg_stride;
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			wp[j] = wrow[j] + s * kc;
		size_t k = 0;
		for (; k + LANES <= kc; k += LANES) {
			__m512 vw[NST_DOT_MAX_N];
#pragma GCC unroll 4
			for (size_t j = 0; j < N; j++)
				vw[j] = _mm512_loadu_ps(wp[j] + k);
#pragma GCC unroll 8
			for (size_t i = 0; i < MR; i++) {
				__m512 va = _mm512_loadu_ps(ap[i] + k);
				IN_REGISTER(va);
#pragma GCC unroll 4
				for (size_t j = 0; j < N; j++)
					acc[i][j] = _mm512_fmadd_ps(va, vw[j], acc[i][j]);
			}
		}
		if (k < kc) {
			__m512 vw[NST_DOT_MAX_N];
#pragma GCC unroll 4
			for (size_t j = 0; j < N; j++)
				vw[j] = _mm512_maskz_loadu_ps(tail, wp[j] + k);
#pragma GCC unroll 8
			for (size_t i = 0; i < MR; i++) {
				__m512 va = _mm512_maskz_loadu_ps(tail, ap[i] + k);
				IN_REGISTER(va);
#pragma GCC unroll 4
				for (size_t j = 0; j < N; j++)
					acc[i][j] = _mm512_fmadd_ps(va, vw[j], acc[i][j]);
			}
		}
	}
	/* sums [MR][N]: MR * N is a multiple of 4 (MR is). */
	float sums[MR * NST_DOT_MAX_N];
#pragma GCC unroll 8
	for (size_t g = 0; g < MR * N; g += 4)
		_mm_storeu_ps(sums + g, reduce4(fold(acc[g / N][g % N]), fold(acc[(g + 1) / N][(g + 1) % N]),
		                                fold(acc[(g + 2) / N][(g + 2) % N]), fold(acc[(g + 3) / N][(g + 3) % N])));
	const float vmin = params->min, vmax = params->max;
	/* Last row first: aliased rows (mr < MR) store identical values to the same row. */
	for (size_t i = MR; i-- > 0;)
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			crow[i][j0 + j] = clamp(sums[i * N + j] + w[j0 + j], vmin, vmax);
}

void nst_f32_dot_8x4__avx512(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                           size_t seg_stride, const float *w, float *c, size_t c_stride,
                           const struct nst_f32_minmax_params *params) {
	const float *arow[MR];
	float *crow[MR];
	arow[0] = a;
	crow[0] = c;
	for (size_t i = 1; i < MR; i++) {
		arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];
		crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];
	}
	switch (nc) {
	case 1: dot_block(1, nc, 0, kc, segs, arow, seg_stride, w, crow, params); break;
	case 2: dot_block(2, nc, 0, kc, segs, arow, seg_stride, w, crow, params); break;
	case 3: dot_block(3, nc, 0, kc, segs, arow, seg_stride, w, crow, params); break;
	default: /* 4: 32 accumulators would not leave registers for the loads */
		dot_block(2, nc, 0, kc, segs, arow, seg_stride, w, crow, params);
		dot_block(2, nc, 2, kc, segs, arow, seg_stride, w, crow, params);
		break;
	}
}

#else
typedef int nst_dot_avx512_unused;
#endif
