/*
 * NEON GEMM microkernels.
 *   nst_f32_gemm_4x8__neon: aarch64 and ARMv7 NEON; 8 q accumulators.  On aarch64 a is loaded 4 k
 *                           at a time and used by lane (vfmaq_laneq_f32); on ARMv7 one broadcast
 *                           load per row and k, then vfmaq_f32 with VFPv4 (__ARM_FEATURE_FMA), else
 *                           vmlaq_f32 (separate multiply and add, flushing denormals as ARMv7 NEON
 *                           always does).
 *   nst_f32_gemm_8x8__neon: aarch64 only; 16 accumulators, a loaded 4 k at a time and used by lane
 *                           (vfmaq_laneq_f32), 26 of the 32 vector registers.
 * Twins: nst_f32_gemm_4x8__scalar and nst_f32_gemm_8x8__scalar.
 */
#include "gemm-rows.h"
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

/* acc + b * v[l] */
#if defined(__aarch64__)
#define FMA_LANE(acc, b, v, l) vfmaq_laneq_f32((acc), (b), (v), (l))
#elif defined(__ARM_FEATURE_FMA)
/* ARMv7 uses only lane 0 of broadcast vectors: v is already v[l] in every lane. */
#define FMA_LANE(acc, b, v, l) vfmaq_f32((acc), (b), (v))
#else
#define FMA_LANE(acc, b, v, l) vmlaq_f32((acc), (b), (v))
#endif

/* max first, then min: NEON's vmax / vmin return NaN when either input is, so a NaN sum stays NaN. */
#define CLAMP(x) vminq_f32(vmaxq_f32((x), vmin), vmax)

/* Stores the 8 columns (lo, hi) of one row, or its first nc < 8. */
static inline __attribute__((always_inline)) void store_row(float *c, size_t nc, float32x4_t lo, float32x4_t hi) {
	if (nc >= 8) {
		vst1q_f32(c, lo);
		vst1q_f32(c + 4, hi);
		return;
	}
	if (nc & 4) {
		vst1q_f32(c, lo);
		lo = hi;
		c += 4;
	}
	float32x2_t v = vget_low_f32(lo);
	if (nc & 2) {
		vst1_f32(c, v);
		v = vget_high_f32(lo);
		c += 2;
	}
	if (nc & 1)
		vst1_lane_f32(c, v, 0);
}

#define ROW(i, prev, cond) NST_GEMM_ROW(float, i, prev, cond)
/* One k of row i: lane l of va##i times the two weight vectors. */
#define STEP(i, l)                                                                                 \
	do {                                                                                           \
		acc##i##x0 = FMA_LANE(acc##i##x0, b0, va##i, l);                                           \
		acc##i##x1 = FMA_LANE(acc##i##x1, b1, va##i, l);                                           \
	} while (0)

void nst_f32_gemm_4x8__neon(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                            const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params) {
	const float *a0 = a;
	float *c0 = c;
	ROW(1, 0, mr < 2)
	ROW(2, 1, mr <= 2)
	ROW(3, 2, mr != 4)

	do {
		float32x4_t acc0x0 = vld1q_f32(w);
		float32x4_t acc0x1 = vld1q_f32(w + 4);
		float32x4_t acc1x0 = acc0x0, acc1x1 = acc0x1;
		float32x4_t acc2x0 = acc0x0, acc2x1 = acc0x1;
		float32x4_t acc3x0 = acc0x0, acc3x1 = acc0x1;
		w += 8;

#define K4x8(l)                                                                                    \
	do {                                                                                           \
		const float32x4_t b0 = vld1q_f32(w);                                                       \
		const float32x4_t b1 = vld1q_f32(w + 4);                                                   \
		w += 8;                                                                                    \
		STEP(0, l);                                                                                \
		STEP(1, l);                                                                                \
		STEP(2, l);                                                                                \
		STEP(3, l);                                                                                \
	} while (0)
		size_t k = 0;
#if defined(__aarch64__)
		/* 4 k at a time: one load of a per row, used by lane. */
		for (; k + 4 <= kc; k += 4) {
			const float32x4_t va0 = vld1q_f32(a0 + k);
			const float32x4_t va1 = vld1q_f32(a1 + k);
			const float32x4_t va2 = vld1q_f32(a2 + k);
			const float32x4_t va3 = vld1q_f32(a3 + k);
			K4x8(0);
			K4x8(1);
			K4x8(2);
			K4x8(3);
		}
#endif
		/* ARMv7 has only 16 q registers and no FMA by lane: a broadcast load per row and k keeps
		 * the loop at 14 registers (8 accumulators, 2 weights, 4 broadcasts) without spills. */
		for (; k < kc; k++) {
			const float32x4_t va0 = vld1q_dup_f32(a0 + k);
			const float32x4_t va1 = vld1q_dup_f32(a1 + k);
			const float32x4_t va2 = vld1q_dup_f32(a2 + k);
			const float32x4_t va3 = vld1q_dup_f32(a3 + k);
			K4x8(0);
		}
#undef K4x8

		/* Loaded here, not before the loop, to leave the loop every register. */
		const float32x4_t vmin = vld1q_dup_f32(&params->min);
		const float32x4_t vmax = vld1q_dup_f32(&params->max);

		store_row(c3, nc, CLAMP(acc3x0), CLAMP(acc3x1));
		store_row(c2, nc, CLAMP(acc2x0), CLAMP(acc2x1));
		store_row(c1, nc, CLAMP(acc1x0), CLAMP(acc1x1));
		store_row(c0, nc, CLAMP(acc0x0), CLAMP(acc0x1));
		if (nc <= 8)
			break;
		c0 += 8;
		c1 += 8;
		c2 += 8;
		c3 += 8;
		nc -= 8;
	} while (true);
}

#if defined(__aarch64__)
void nst_f32_gemm_8x8__neon(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                            const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params) {
	const float *a0 = a;
	float *c0 = c;
	ROW(1, 0, mr < 2)
	ROW(2, 1, mr <= 2)
	ROW(3, 2, mr < 4)
	ROW(4, 3, mr <= 4)
	ROW(5, 4, mr < 6)
	ROW(6, 5, mr <= 6)
	ROW(7, 6, mr != 8)

	do {
		float32x4_t acc0x0 = vld1q_f32(w);
		float32x4_t acc0x1 = vld1q_f32(w + 4);
		float32x4_t acc1x0 = acc0x0, acc1x1 = acc0x1;
		float32x4_t acc2x0 = acc0x0, acc2x1 = acc0x1;
		float32x4_t acc3x0 = acc0x0, acc3x1 = acc0x1;
		float32x4_t acc4x0 = acc0x0, acc4x1 = acc0x1;
		float32x4_t acc5x0 = acc0x0, acc5x1 = acc0x1;
		float32x4_t acc6x0 = acc0x0, acc6x1 = acc0x1;
		float32x4_t acc7x0 = acc0x0, acc7x1 = acc0x1;
		w += 8;

#define K8x8(l)                                                                                    \
	do {                                                                                           \
		const float32x4_t b0 = vld1q_f32(w);                                                       \
		const float32x4_t b1 = vld1q_f32(w + 4);                                                   \
		w += 8;                                                                                    \
		STEP(0, l);                                                                                \
		STEP(1, l);                                                                                \
		STEP(2, l);                                                                                \
		STEP(3, l);                                                                                \
		STEP(4, l);                                                                                \
		STEP(5, l);                                                                                \
		STEP(6, l);                                                                                \
		STEP(7, l);                                                                                \
	} while (0)
		size_t k = 0;
		for (; k + 4 <= kc; k += 4) {
			const float32x4_t va0 = vld1q_f32(a0 + k);
			const float32x4_t va1 = vld1q_f32(a1 + k);
			const float32x4_t va2 = vld1q_f32(a2 + k);
			const float32x4_t va3 = vld1q_f32(a3 + k);
			const float32x4_t va4 = vld1q_f32(a4 + k);
			const float32x4_t va5 = vld1q_f32(a5 + k);
			const float32x4_t va6 = vld1q_f32(a6 + k);
			const float32x4_t va7 = vld1q_f32(a7 + k);
			K8x8(0);
			K8x8(1);
			K8x8(2);
			K8x8(3);
		}
		for (; k < kc; k++) {
			const float32x4_t va0 = vld1q_dup_f32(a0 + k);
			const float32x4_t va1 = vld1q_dup_f32(a1 + k);
			const float32x4_t va2 = vld1q_dup_f32(a2 + k);
			const float32x4_t va3 = vld1q_dup_f32(a3 + k);
			const float32x4_t va4 = vld1q_dup_f32(a4 + k);
			const float32x4_t va5 = vld1q_dup_f32(a5 + k);
			const float32x4_t va6 = vld1q_dup_f32(a6 + k);
			const float32x4_t va7 = vld1q_dup_f32(a7 + k);
			K8x8(0);
		}
#undef K8x8

		const float32x4_t vmin = vld1q_dup_f32(&params->min);
		const float32x4_t vmax = vld1q_dup_f32(&params->max);

		store_row(c7, nc, CLAMP(acc7x0), CLAMP(acc7x1));
		store_row(c6, nc, CLAMP(acc6x0), CLAMP(acc6x1));
		store_row(c5, nc, CLAMP(acc5x0), CLAMP(acc5x1));
		store_row(c4, nc, CLAMP(acc4x0), CLAMP(acc4x1));
		store_row(c3, nc, CLAMP(acc3x0), CLAMP(acc3x1));
		store_row(c2, nc, CLAMP(acc2x0), CLAMP(acc2x1));
		store_row(c1, nc, CLAMP(acc1x0), CLAMP(acc1x1));
		store_row(c0, nc, CLAMP(acc0x0), CLAMP(acc0x1));
		if (nc <= 8)
			break;
		c0 += 8;
		c1 += 8;
		c2 += 8;
		c3 += 8;
		c4 += 8;
		c5 += 8;
		c6 += 8;
		c7 += 8;
		nc -= 8;
	} while (true);
}
#endif /* __aarch64__ */

#else
/* No NEON (e.g. ARMv6): the scalar kernels run. */
typedef int nst_gemm_neon_unused;
#endif
