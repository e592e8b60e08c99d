/*
 * NEON row mix (arch/kernels.h), aarch64 and ARMv7: 8 lanes (two q registers) of each of the nc
 * outputs at a time, then 4, then the last n % 4 one by one; per row, the NST_ROWMIX_NC weights in
 * one q register and 2 nc multiply-adds by lane (nc 4: 8 accumulators, 2 row vectors and the
 * weights: 11 of ARMv7's 16 q registers).  vfmaq with aarch64 or VFPv4 (__ARM_FEATURE_FMA), else
 * vmlaq.  Twin: nst_f32_rowmix__scalar.
 */
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define LANES 4
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* acc + x * lane o of w (o a constant after inlining) */
#if defined(__aarch64__)
#define FMA_LANE(acc, x, w, o) vfmaq_laneq_f32((acc), (x), (w), (o))
#else
static ALWAYS_INLINE float32x4_t fma_lane(float32x4_t acc, float32x4_t x, float32x4_t w, const int o) {
	const float32x2_t half = o < 2 ? vget_low_f32(w) : vget_high_f32(w);
#if defined(__ARM_FEATURE_FMA)
	return o % 2 ? vfmaq_f32(acc, x, vdupq_lane_f32(half, 1)) : vfmaq_f32(acc, x, vdupq_lane_f32(half, 0));
#else
	return o % 2 ? vmlaq_lane_f32(acc, x, half, 1) : vmlaq_lane_f32(acc, x, half, 0);
#endif
}
#define FMA_LANE(acc, x, w, o) fma_lane((acc), (x), (w), (o))
#endif

/* Lanes j0 .. j0 + V * 4 of the N outputs (N, V constants after inlining). */
static ALWAYS_INLINE void mix_block(const int N, const size_t V, size_t j0, size_t k, const float *base,
                                    const size_t *offsets, const float *w, float *c, size_t c_stride) {
	float32x4_t acc[NST_ROWMIX_NC][2];
#pragma GCC unroll 4
	for (int o = 0; o < N; o++)
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++)
			acc[o][v] = vdupq_n_f32(0.0f);
	for (size_t i = 0; i < k; i++) {
		const float *row = base + offsets[i] + j0;
		const float32x4_t wi = vld1q_f32(w + i * NST_ROWMIX_NC);
		float32x4_t x[2];
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++)
			x[v] = vld1q_f32(row + v * LANES);
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++) {
			acc[0][v] = FMA_LANE(acc[0][v], x[v], wi, 0);
			if (N > 1)
				acc[1][v] = FMA_LANE(acc[1][v], x[v], wi, 1);
			if (N > 2)
				acc[2][v] = FMA_LANE(acc[2][v], x[v], wi, 2);
			if (N > 3)
				acc[3][v] = FMA_LANE(acc[3][v], x[v], wi, 3);
		}
	}
#pragma GCC unroll 4
	for (int o = 0; o < N; o++)
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++)
			vst1q_f32(c + (size_t)o * c_stride + j0 + v * LANES, acc[o][v]);
}

static ALWAYS_INLINE void mix(const int N, size_t n, size_t k, const float *base, const size_t *offsets,
                              const float *w, float *c, size_t c_stride) {
	size_t j = 0;
	for (; j + 2 * LANES <= n; j += 2 * LANES)
		mix_block(N, 2, j, k, base, offsets, w, c, c_stride);
	for (; j + LANES <= n; j += LANES)
		mix_block(N, 1, j, k, base, offsets, w, c, c_stride);
	for (; j < n; j++) /* the last n % 4 lanes */
		for (int o = 0; o < N; o++) {
			float s = 0.0f;
			for (size_t i = 0; i < k; i++)
				s += w[i * NST_ROWMIX_NC + (size_t)o] * base[offsets[i] + j];
			c[(size_t)o * c_stride + j] = s;
		}
}

NST_ROWMIX_ENTRY(neon, mix)

#else
typedef int nst_rowmix_neon_unused;
#endif
