/*
 * NEON Gram-tile kernels (arch/kernels.h): accumulators from 0, two vectors of b per pixel, then
 * added onto c:
 *   nst_f32_gram_4x8__neon: aarch64 and ARMv7 NEON, 8 accumulators.
 *   nst_f32_gram_8x8__neon: aarch64 only, 16 accumulators.
 * On aarch64 a whole tile's rows (mr == MR) are one or two vector loads of a pixel's channels, used
 * by lane (vfmaq_laneq_f32); otherwise one broadcast load per row (aliased rows load the last valid
 * one), multiplied-added with VFPv4's vfmaq_f32, or vmlaq_f32 (separate multiply and add, flushing
 * denormals as ARMv7 NEON always does) without it.
 * Twins: nst_f32_gram_4x8__scalar and nst_f32_gram_8x8__scalar.
 */
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>
#include <string.h>

#define NR 8

#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define FMA(acc, b, v) vfmaq_f32((acc), (b), (v))
#else
#define FMA(acc, b, v) vmlaq_f32((acc), (b), (v))
#endif

/* Row c's 8 columns into (lo, hi), or its first nc < 8 with zeros after them. */
static inline __attribute__((always_inline)) void load_row(const float *c, size_t nc, float32x4_t *lo, float32x4_t *hi) {
	if (nc >= NR) {
		*lo = vld1q_f32(c);
		*hi = vld1q_f32(c + 4);
		return;
	}
	float row[NR] = {0};
	memcpy(row, c, nc * sizeof(float));
	*lo = vld1q_f32(row);
	*hi = vld1q_f32(row + 4);
}

static inline __attribute__((always_inline)) void store_row(float *c, size_t nc, float32x4_t lo, float32x4_t hi) {
	if (nc >= NR) {
		vst1q_f32(c, lo);
		vst1q_f32(c + 4, hi);
		return;
	}
	float row[NR];
	vst1q_f32(row, lo);
	vst1q_f32(row + 4, hi);
	memcpy(c, row, nc * sizeof(float));
}

#define ZERO(i) float32x4_t acc##i##x0 = vdupq_n_f32(0.0f), acc##i##x1 = vdupq_n_f32(0.0f)
/* acc_i += row i of c (every row loaded before any is stored: aliased rows read the valid row's). */
#define ADD(i)                                                                                     \
	do {                                                                                           \
		float32x4_t lo, hi;                                                                        \
		load_row(c##i, nc, &lo, &hi);                                                              \
		acc##i##x0 = vaddq_f32(lo, acc##i##x0);                                                    \
		acc##i##x1 = vaddq_f32(hi, acc##i##x1);                                                    \
	} while (0)
#define STORE(i) store_row(c##i, nc, acc##i##x0, acc##i##x1)
/* One pixel of row i from a broadcast of its a. */
#define DUP_STEP(i)                                                                                \
	do {                                                                                           \
		const float32x4_t va = vld1q_dup_f32(ap + o##i);                                           \
		acc##i##x0 = FMA(acc##i##x0, b0, va);                                                      \
		acc##i##x1 = FMA(acc##i##x1, b1, va);                                                      \
	} while (0)
/* One pixel of row i from lane l of the vector v of the tile's a. */
#define LANE_STEP(i, v, l)                                                                         \
	do {                                                                                           \
		acc##i##x0 = vfmaq_laneq_f32(acc##i##x0, b0, v, l);                                        \
		acc##i##x1 = vfmaq_laneq_f32(acc##i##x1, b1, v, l);                                        \
	} while (0)

void nst_f32_gram_4x8__neon(NST_GRAM_ARGS) {
	const size_t o0 = 0, o1 = mr > 1 ? 1 : o0, o2 = mr > 2 ? 2 : o1, o3 = mr > 3 ? 3 : o2;
	float *c0 = c, *c1 = c + o1 * c_stride, *c2 = c + o2 * c_stride, *c3 = c + o3 * c_stride;
	do {
		ZERO(0);
		ZERO(1);
		ZERO(2);
		ZERO(3);
		const float *ap = a, *bp = b;
		size_t p = 0;
#if defined(__aarch64__)
		if (mr == 4)
			for (; p < kc; p++, ap += a_stride, bp += b_stride) {
				const float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4), va = vld1q_f32(ap);
				LANE_STEP(0, va, 0);
				LANE_STEP(1, va, 1);
				LANE_STEP(2, va, 2);
				LANE_STEP(3, va, 3);
			}
#endif
		for (; p < kc; p++, ap += a_stride, bp += b_stride) {
			const float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);
			DUP_STEP(0);
			DUP_STEP(1);
			DUP_STEP(2);
			DUP_STEP(3);
		}
		ADD(0);
		ADD(1);
		ADD(2);
		ADD(3);
		/* Last row first: aliased rows (mr < 4) store the valid row's values again. */
		STORE(3);
		STORE(2);
		STORE(1);
		STORE(0);
		if (nc <= NR)
			break;
		b += NR;
		c0 += NR;
		c1 += NR;
		c2 += NR;
		c3 += NR;
		nc -= NR;
	} while (true);
}

#if defined(__aarch64__)
void nst_f32_gram_8x8__neon(NST_GRAM_ARGS) {
	const size_t o0 = 0, o1 = mr > 1 ? 1 : o0, o2 = mr > 2 ? 2 : o1, o3 = mr > 3 ? 3 : o2, o4 = mr > 4 ? 4 : o3,
	             o5 = mr > 5 ? 5 : o4, o6 = mr > 6 ? 6 : o5, o7 = mr > 7 ? 7 : o6;
	float *c0 = c, *c1 = c + o1 * c_stride, *c2 = c + o2 * c_stride, *c3 = c + o3 * c_stride,
	      *c4 = c + o4 * c_stride, *c5 = c + o5 * c_stride, *c6 = c + o6 * c_stride, *c7 = c + o7 * c_stride;
	do {
		ZERO(0);
		ZERO(1);
		ZERO(2);
		ZERO(3);
		ZERO(4);
		ZERO(5);
		ZERO(6);
		ZERO(7);
		const float *ap = a, *bp = b;
		if (mr == 8) {
			for (size_t p = 0; p < kc; p++, ap += a_stride, bp += b_stride) {
				const float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);
				const float32x4_t va = vld1q_f32(ap), vb = vld1q_f32(ap + 4);
				LANE_STEP(0, va, 0);
				LANE_STEP(1, va, 1);
				LANE_STEP(2, va, 2);
				LANE_STEP(3, va, 3);
				LANE_STEP(4, vb, 0);
				LANE_STEP(5, vb, 1);
				LANE_STEP(6, vb, 2);
				LANE_STEP(7, vb, 3);
			}
		} else {
			for (size_t p = 0; p < kc; p++, ap += a_stride, bp += b_stride) {
				const float32x4_t b0 = vld1q_f32(bp), b1 = vld1q_f32(bp + 4);
				DUP_STEP(0);
				DUP_STEP(1);
				DUP_STEP(2);
				DUP_STEP(3);
				DUP_STEP(4);
				DUP_STEP(5);
				DUP_STEP(6);
				DUP_STEP(7);
			}
		}
		ADD(0);
		ADD(1);
		ADD(2);
		ADD(3);
		ADD(4);
		ADD(5);
		ADD(6);
		ADD(7);
		/* Last row first: aliased rows (mr < 8) store the valid row's values again. */
		STORE(7);
		STORE(6);
		STORE(5);
		STORE(4);
		STORE(3);
		STORE(2);
		STORE(1);
		STORE(0);
		if (nc <= NR)
			break;
		b += NR;
		c0 += NR;
		c1 += NR;
		c2 += NR;
		c3 += NR;
		c4 += NR;
		c5 += NR;
		c6 += NR;
		c7 += NR;
		nc -= NR;
	} while (true);
}
#endif /* __aarch64__ */

#else
/* No NEON (e.g. ARMv6): the scalar kernels run. */
typedef int nst_gram_neon_unused;
#endif
