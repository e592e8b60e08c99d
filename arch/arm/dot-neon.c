/*
 * NEON small-N ("dot") microkernels, vectorized along k: 4 k per q register, one accumulator per
 * output, the lanes summed at the end by pairwise adds, 4 outputs at a time.
 *   nst_f32_dot_4x4__neon: aarch64 and ARMv7 NEON; 4x3 is 12 accumulators, 3 weight vectors and
 *                          1 row vector: ARMv7's 16 q registers (7 loads per 12 multiply-adds).
 *                          vfmaq_f32 with VFPv4 (__ARM_FEATURE_FMA), else vmlaq_f32.
 *   nst_f32_dot_8x4__neon: aarch64 only; 8x3 is 24 accumulators of the 32 (11 loads per 24 FMAs).
 * nc 4 runs as two passes of 2 columns.  The last kc % 4 of each segment are copied into a zeroed
 * vector (nothing past a segment is read).  When the MR rows' outputs are contiguous (c_stride nc,
 * as the RGB layers' products are), the sums go out 4 at a time with the bias and the clamp in
 * vectors rather than one by one.
 * Twins: nst_f32_dot_4x4__scalar and nst_f32_dot_8x4__scalar.
 */
#include <stdbool.h>
#include <string.h>

#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define LANES 4
#define MAX_MR 8
#define ALWAYS_INLINE inline __attribute__((always_inline))

#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define FMA(acc, a, b) vfmaq_f32((acc), (a), (b))
#else
#define FMA(acc, a, b) vmlaq_f32((acc), (a), (b))
#endif

/* [sum(a), sum(b), sum(c), sum(d)] */
static ALWAYS_INLINE float32x4_t reduce4(float32x4_t a, float32x4_t b, float32x4_t c, float32x4_t d) {
#if defined(__aarch64__)
	return vpaddq_f32(vpaddq_f32(a, b), vpaddq_f32(c, d));
#else
	const float32x2_t sa = vadd_f32(vget_low_f32(a), vget_high_f32(a));
	const float32x2_t sb = vadd_f32(vget_low_f32(b), vget_high_f32(b));
	const float32x2_t sc = vadd_f32(vget_low_f32(c), vget_high_f32(c));
	const float32x2_t sd = vadd_f32(vget_low_f32(d), vget_high_f32(d));
	return vcombine_f32(vpadd_f32(sa, sb), vpadd_f32(sc, sd));
#endif
}

/* The first n < 4 floats of p, zeros after them. */
static ALWAYS_INLINE float32x4_t load_tail(const float *p, size_t n) {
	float v[LANES] = {0.0f, 0.0f, 0.0f, 0.0f};
	memcpy(v, p, n * sizeof(float));
	return vld1q_f32(v);
}

static ALWAYS_INLINE float clamp(float v, float vmin, float vmax) {
	v = v < vmin ? vmin : v;
	return v > vmax ? vmax : v;
}

/* clamp of 4 lanes as selects, so that a NaN and a -0 stay as they are (vmaxq would give +0). */
static ALWAYS_INLINE float32x4_t clamp4(float32x4_t v, float32x4_t vmin, float32x4_t vmax) {
	v = vbslq_f32(vcltq_f32(v, vmin), vmin, v);
	return vbslq_f32(vcgtq_f32(v, vmax), vmax, v);
}

/* Columns j0 .. j0 + N of MR rows (MR and N constants after inlining). */
static ALWAYS_INLINE void dot_block(const size_t MR, const size_t N, size_t nc, size_t j0, size_t kc, size_t segs,
                                    const float *const arow[MAX_MR], size_t seg_stride, const float *w,
                                    float *const crow[MAX_MR], bool rows_together,
                                    const struct nst_f32_minmax_params *params) {
	const size_t wk = segs * kc;
	const float *wrow[NST_DOT_MAX_N]; /* each [segs * kc] */
#pragma GCC unroll 4
	for (size_t j = 0; j < N; j++)
		wrow[j] = w + nc + (j0 + j) * wk;
	float32x4_t acc[MAX_MR][NST_DOT_MAX_N];
#pragma GCC unroll 8
	for (size_t i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			acc[i][j] = vdupq_n_f32(0.0f);
	const size_t rem = kc % LANES;
	for (size_t s = 0; s < segs; s++) {
		const float *ap[MAX_MR], *wp[NST_DOT_MAX_N];
#pragma GCC unroll 8
		for (size_t i = 0; i < MR; i++)
			ap[i] = arow[i] + s * seg_stride;
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			wp[j] = wrow[j] + s * kc;
		size_t k = 0;
		for (; k + LANES <= kc; k += LANES) {
			float32x4_t vw[NST_DOT_MAX_N];
#pragma GCC unroll 4
			for (size_t j = 0; j < N; j++)
				vw[j] = vld1q_f32(wp[j] + k);
#pragma GCC unroll 8
			for (size_t i = 0; i < MR; i++) {
				const float32x4_t va = vld1q_f32(ap[i] + k);
#pragma GCC unroll 4
				for (size_t j = 0; j < N; j++)
					acc[i][j] = FMA(acc[i][j], va, vw[j]);
			}
		}
		if (rem) {
			float32x4_t vw[NST_DOT_MAX_N];
#pragma GCC unroll 4
			for (size_t j = 0; j < N; j++)
				vw[j] = load_tail(wp[j] + k, rem);
#pragma GCC unroll 8
			for (size_t i = 0; i < MR; i++) {
				const float32x4_t va = load_tail(ap[i] + k, rem);
#pragma GCC unroll 4
				for (size_t j = 0; j < N; j++)
					acc[i][j] = FMA(acc[i][j], va, vw[j]);
			}
		}
	}
	const float vmin = params->min, vmax = params->max;
	if (rows_together) { /* the MR * N outputs contiguous: 4 at a time, bias and clamp in vectors */
		const float32x4_t lo = vdupq_n_f32(vmin), hi = vdupq_n_f32(vmax);
#pragma GCC unroll 8
		for (size_t g = 0; g < MR * N; g += LANES) {
			const float b[LANES] = {w[g % N], w[(g + 1) % N], w[(g + 2) % N], w[(g + 3) % N]};
			const float32x4_t v = reduce4(acc[g / N][g % N], acc[(g + 1) / N][(g + 1) % N], acc[(g + 2) / N][(g + 2) % N],
			                              acc[(g + 3) / N][(g + 3) % N]);
			vst1q_f32(crow[0] + g, clamp4(vaddq_f32(v, vld1q_f32(b)), lo, hi));
		}
		return;
	}
	/* sums [MR][N]: MR * N is a multiple of 4 (MR is). */
	float sums[MAX_MR * NST_DOT_MAX_N];
#pragma GCC unroll 8
	for (size_t g = 0; g < MR * N; g += 4)
		vst1q_f32(sums + g, reduce4(acc[g / N][g % N], acc[(g + 1) / N][(g + 1) % N], acc[(g + 2) / N][(g + 2) % N],
		                            acc[(g + 3) / N][(g + 3) % N]));
	/* Last row first: aliased rows (mr < MR) store identical values to the same row. */
	for (size_t i = MR; i-- > 0;)
#pragma GCC unroll 4
		for (size_t j = 0; j < N; j++)
			crow[i][j0 + j] = clamp(sums[i * N + j] + w[j0 + j], vmin, vmax);
}

static ALWAYS_INLINE void dot_kernel(const size_t MR, size_t mr, size_t nc, size_t kc, size_t segs, const float *a,
                                     size_t a_stride, size_t seg_stride, const float *w, float *c, size_t c_stride,
                                     const struct nst_f32_minmax_params *params) {
	const float *arow[MAX_MR];
	float *crow[MAX_MR];
	arow[0] = a;
	crow[0] = c;
	for (size_t i = 1; i < MR; i++) {
		arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];
		crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];
	}
	/* all MR rows, one after the other: their outputs are MR * nc contiguous floats */
	const bool together = mr == MR && c_stride == nc;
	switch (nc) {
	case 1: dot_block(MR, 1, nc, 0, kc, segs, arow, seg_stride, w, crow, together, params); break;
	case 2: dot_block(MR, 2, nc, 0, kc, segs, arow, seg_stride, w, crow, together, params); break;
	case 3: dot_block(MR, 3, nc, 0, kc, segs, arow, seg_stride, w, crow, together, params); break;
	default: /* 4: MR x 4 accumulators would not leave registers for the loads */
		dot_block(MR, 2, nc, 0, kc, segs, arow, seg_stride, w, crow, false, params);
		dot_block(MR, 2, nc, 2, kc, segs, arow, seg_stride, w, crow, false, params);
		break;
	}
}

void nst_f32_dot_4x4__neon(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                           size_t seg_stride, const float *w, float *c, size_t c_stride,
                           const struct nst_f32_minmax_params *params) {
	dot_kernel(4, mr, nc, kc, segs, a, a_stride, seg_stride, w, c, c_stride, params);
}

#if defined(__aarch64__)
void nst_f32_dot_8x4__neon(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                           size_t seg_stride, const float *w, float *c, size_t c_stride,
                           const struct nst_f32_minmax_params *params) {
	dot_kernel(8, mr, nc, kc, segs, a, a_stride, seg_stride, w, c, c_stride, params);
}
#endif

#else
typedef int nst_dot_neon_unused;
#endif
