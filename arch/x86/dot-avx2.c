/*
 * AVX2 + FMA small-N ("dot") microkernel, 4 rows x up to 4 columns, vectorized along k: 8 k per
 * vector, one ymm accumulator per output (4x3: 12 accumulators, 3 weight vectors, 1 row vector:
 * the 16 ymm registers; 7 loads per 12 FMAs).  nc 4 runs as two passes of 2 columns.  The last
 * kc % 8 of each segment come through masked loads (nothing past a segment is read); the lanes
 * are summed at the end by a tree of horizontal adds, 4 outputs at a time.
 * Built with -mavx2 -mfma -mf16c (Makefile), called only when nst_cpu_detect reports AVX2 + FMA.
 * Twin: nst_f32_dot_4x4__scalar.
 */
#include <stdbool.h>

#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 4
#define LANES 8
#define LOW_HALVES 0x20  /* _mm256_permute2f128_ps: a's low 128 bits, then b's */
#define HIGH_HALVES 0x31 /* a's high 128 bits, then b's */
#define ROW3 3           /* the 16 -> 3 and 32 -> 3 layers' outputs: 4 rows of 3 are 12 contiguous floats */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* [sum(a), sum(b), sum(c), sum(d)] */
static ALWAYS_INLINE __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
	const __m256 ab = _mm256_hadd_ps(a, b);    /* a01 a23 b01 b23 | a45 a67 b45 b67 */
	const __m256 cd = _mm256_hadd_ps(c, d);
	const __m256 abcd = _mm256_hadd_ps(ab, cd); /* a0123 b0123 c0123 d0123 | a4567 ... */
	return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* [sum(a), ..., sum(h)]: reduce4's tree for each (the same sums, bit for bit), eight at once. */
static ALWAYS_INLINE __m256 reduce8(__m256 a, __m256 b, __m256 c, __m256 d, __m256 e, __m256 f, __m256 g, __m256 h) {
	const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d)); /* a0123 .. d0123 | a4567 .. */
	const __m256 efgh = _mm256_hadd_ps(_mm256_hadd_ps(e, f), _mm256_hadd_ps(g, h));
	return _mm256_add_ps(_mm256_permute2f128_ps(abcd, efgh, LOW_HALVES), _mm256_permute2f128_ps(abcd, efgh, HIGH_HALVES));
}

/* clamp(v + bias) lane by lane as the scalar clamp (a NaN stays NaN: maxps and minps return their
 * second operand when either is NaN); the last 4 of the 12 likewise in 128 bits. */
static ALWAYS_INLINE __m256 bias_clamp(__m256 v, __m256 bias, __m256 vmin, __m256 vmax) {
	return _mm256_min_ps(vmax, _mm256_max_ps(vmin, _mm256_add_ps(v, bias)));
}

static ALWAYS_INLINE __m128 bias_clamp4(__m128 v, __m128 bias, __m128 vmin, __m128 vmax) {
	return _mm_min_ps(vmax, _mm_max_ps(vmin, _mm_add_ps(v, bias)));
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
                                    float *const crow[MR], bool rows_together,
                                    const struct nst_f32_minmax_params *params) {
	const size_t wk = segs * kc;
	const float *wrow[NST_DOT_MAX_N]; /* each [segs * kc] */
#pragma GCC unroll 4
	for (size_t j = 0; j < N; j++)
		wrow[j] = w + nc + (j0 + j) * wk;
	__m256 acc[MR][NST_DOT_MAX_N];
#pragma GCC unroll 4
	for (size_t i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			acc[i][j] = _mm256_setzero_ps();
	const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(kc % LANES)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	for (size_t s = 0; s < segs; s++) {
		const float *ap[MR], *wp[NST_DOT_MAX_N];
#pragma GCC unroll 4
		for (size_t i = 0; i < MR; i++)
			ap[i] = arow[i] + s * seg_stride;
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			wp[j] = wrow[j] + s * kc;
		size_t k = 0;
		for (; k + LANES <= kc; k += LANES) {
			__m256 vw[NST_DOT_MAX_N];
#pragma GCC unroll 4
			for (size_t j = 0; j < N; j++)
				vw[j] = _mm256_loadu_ps(wp[j] + k);
#pragma GCC unroll 4
			for (size_t i = 0; i < MR; i++) {
				__m256 va = _mm256_loadu_ps(ap[i] + k);
				IN_REGISTER(va);
#pragma GCC unroll 4
				for (size_t j = 0; j < N; j++)
					acc[i][j] = _mm256_fmadd_ps(va, vw[j], acc[i][j]);
			}
		}
		if (k < kc) {
			__m256 vw[NST_DOT_MAX_N];
#pragma GCC unroll 4
			for (size_t j = 0; j < N; j++)
				vw[j] = _mm256_maskload_ps(wp[j] + k, tail);
#pragma GCC unroll 4
			for (size_t i = 0; i < MR; i++) {
				__m256 va = _mm256_maskload_ps(ap[i] + k, tail);
				IN_REGISTER(va);
#pragma GCC unroll 4
				for (size_t j = 0; j < N; j++)
					acc[i][j] = _mm256_fmadd_ps(va, vw[j], acc[i][j]);
			}
		}
	}
	const float vmin = params->min, vmax = params->max;
	if (N == ROW3 && rows_together) { /* the 12 outputs in one store and a half, bias and clamp in vectors */
		const __m256 lo = _mm256_set1_ps(vmin), hi = _mm256_set1_ps(vmax);
		const float b0 = w[0], b1 = w[1], b2 = w[2];
		const __m256 s8 = reduce8(acc[0][0], acc[0][1], acc[0][2], acc[1][0], acc[1][1], acc[1][2], acc[2][0], acc[2][1]);
		const __m128 s4 = reduce4(acc[2][2], acc[3][0], acc[3][1], acc[3][2]);
		_mm256_storeu_ps(crow[0], bias_clamp(s8, _mm256_setr_ps(b0, b1, b2, b0, b1, b2, b0, b1), lo, hi));
		_mm_storeu_ps(crow[0] + LANES, bias_clamp4(s4, _mm_setr_ps(b2, b0, b1, b2), _mm256_castps256_ps128(lo),
		                                           _mm256_castps256_ps128(hi)));
		return;
	}
	/* sums [MR][N]: MR * N is a multiple of 4 (MR is). */
	float sums[MR * NST_DOT_MAX_N];
#pragma GCC unroll 4
	for (size_t g = 0; g < MR * N; g += 4)
		_mm_storeu_ps(sums + g, reduce4(acc[g / N][g % N], acc[(g + 1) / N][(g + 1) % N], acc[(g + 2) / N][(g + 2) % N],
		                                acc[(g + 3) / N][(g + 3) % N]));
	/* Last row first: aliased rows (mr < MR) store identical values to the same row. */
	for (size_t i = MR; i-- > 0;)
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			crow[i][j0 + j] = clamp(sums[i * N + j] + w[j0 + j], vmin, vmax);
}

void nst_f32_dot_4x4__avx2(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
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
	/* all MR rows, one after the other: their outputs are MR * nc contiguous floats */
	const bool together = mr == MR && c_stride == nc;
	switch (nc) {
	case 1: dot_block(1, nc, 0, kc, segs, arow, seg_stride, w, crow, together, params); break;
	case 2: dot_block(2, nc, 0, kc, segs, arow, seg_stride, w, crow, together, params); break;
	case 3: dot_block(3, nc, 0, kc, segs, arow, seg_stride, w, crow, together, params); break;
	default: /* 4: 16 accumulators would not leave registers for the loads */
		dot_block(2, nc, 0, kc, segs, arow, seg_stride, w, crow, false, params);
		dot_block(2, nc, 2, kc, segs, arow, seg_stride, w, crow, false, params);
		break;
	}
}

#else
typedef int nst_dot_avx2_unused;
#endif
