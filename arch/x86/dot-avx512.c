/*
 * AVX-512F small-N ("dot") microkernel, 8 rows x up to 4 columns, vectorized along k: 16 k per
 * vector, one zmm accumulator per output (8x3: 24 accumulators, 3 weight vectors, 1 row vector of
 * the 32 zmm registers; 11 loads per 24 FMAs).  nc 4 runs as two passes of 2 columns.  The last
 * kc % 16 of each segment come through masked loads (nothing past a segment is read).  Each
 * column's 8 accumulators are summed together by a transposing tree (reduce8: 24 shuffles and
 * adds for 8 outputs, where folding each alone took 38), and the column's bias and clamp are
 * applied to the 8 sums at once.
 * Built with -mavx512f -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports AVX-512F.
 * Twin: nst_f32_dot_8x4__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 8
#define LANES 16
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The sums of the 16 lanes of each of x[0..7], in lanes 0..7.  Quads (128-bit lanes) first: x_a
 * and x_b to [a.q0 + a.q2, a.q1 + a.q3, b.q0 + b.q2, b.q1 + b.q3]; then two of those to one quad
 * of four partial sums per accumulator; then within each quad (unpack and add twice), leaving
 * accumulators k and k + 4 in quad k's first two lanes, gathered by one permute. */
static ALWAYS_INLINE __m256 reduce8(const __m512 x[8]) {
	__m512 p[4], q[2];
#pragma GCC unroll 4
	for (int i = 0; i < 4; i++)
		p[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0x44),
		                     _mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], 0xEE));
#pragma GCC unroll 2
	for (int i = 0; i < 2; i++)
		q[i] = _mm512_add_ps(_mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0x88),
		                     _mm512_shuffle_f32x4(p[2 * i], p[2 * i + 1], 0xDD));
	/* quad k of q[0]: x_k's four partial sums; of q[1]: x_{k+4}'s */
	const __m512 t = _mm512_add_ps(_mm512_unpacklo_ps(q[0], q[1]), _mm512_unpackhi_ps(q[0], q[1]));
	const __m512 u = _mm512_add_ps(t, _mm512_shuffle_ps(t, t, 0x4E)); /* quad k: x_k, x_{k+4}, x_k, x_{k+4} */
	const __m512i order = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 13, 9, 5, 1, 12, 8, 4, 0);
	return _mm512_castps512_ps256(_mm512_permutexvar_ps(order, u));
}

/* Makes the compiler keep x in a register: otherwise it folds the row's load into each of the N
 * FMAs that use it (N loads instead of 1). */
#define IN_REGISTER(x) __asm__("" : "+v"(x))

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
	/* sums [N][MR]: column j's rows, its bias added and clamped as one vector */
	float sums[NST_DOT_MAX_N][MR];
	const __m256 vmin = _mm256_set1_ps(params->min), vmax = _mm256_set1_ps(params->max);
#pragma GCC unroll 4
	for (size_t j = 0; j < N; j++) {
		__m512 column[MR];
#pragma GCC unroll 8
		for (size_t i = 0; i < MR; i++)
			column[i] = acc[i][j];
		const __m256 v = _mm256_add_ps(reduce8(column), _mm256_set1_ps(w[j0 + j]));
		/* the bound first: a NaN sum stays NaN (max and min return their second operand then) */
		_mm256_storeu_ps(sums[j], _mm256_min_ps(vmax, _mm256_max_ps(vmin, v)));
	}
	/* Last row first: aliased rows (mr < MR) store identical values to the same row. */
	for (size_t i = MR; i-- > 0;)
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			crow[i][j0 + j] = sums[j][i];
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
