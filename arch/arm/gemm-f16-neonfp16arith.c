/*
 * NEON float16 GEMM microkernel (ARMv8.2-A half-precision vector arithmetic).
 *   nst_f16_gemm_8x16__neonfp16arith: aarch64 with __ARM_FEATURE_FP16_VECTOR_ARITHMETIC (Pi 5's
 *                           Cortex-A76, Jetson Orin's Cortex-A78AE); 16 float16x8_t accumulators
 *                           (8 rows x 16 columns) started at the packed float16 biases; a is loaded
 *                           4 k at a time per row as float32, narrowed to float16 (vcvt_f16_f32) and
 *                           used by lane (vfmaq_lane_f16: one fused multiply-add, rounded once to
 *                           float16); 16 accumulators, 8 rows of a and the weights in the 32
 *                           vector registers.  The sums are widened to float32 for the clamp and
 *                           the store.
 * Twin: nst_f16_gemm_8x16__scalar.
 */
#include "gemm-rows.h"
#include "kernels.h"

#if defined(NST_HAVE_F16_GEMM_NEON)
#include <arm_neon.h>

#define NR 16        /* columns per panel: two float16x8_t */
#define F16_LANES 8  /* float16 lanes of a q register */
#define F32_LANES 4  /* float32 lanes of a q register */
#define F32_PAIR 2   /* float32 lanes of a d register */
#define K_BLOCK 4    /* k per load of a: one float32x4_t, narrowed to one float16x4_t */

/* acc + b * v[l], one fused multiply-add rounded once to float16 (FMLA by element).  GCC 12's
 * by-element FMLA patterns cover float32 and float64 only: it turns vfmaq_lane_f16 of lanes 1..3
 * into a DUP and a vector FMLA, and the extra registers spill accumulators to the stack inside
 * the loop.  For GCC the instruction is written out: "x" keeps v in v0..v15, the only registers
 * the half-precision by-element form can index. */
#if defined(__clang__) || !defined(__GNUC__)
#define FMA_LANE(acc, b, v, l) vfmaq_lane_f16((acc), (b), (v), (l))
#else
#define FMA_LANE(acc, b, v, l) fma_lane_asm((acc), (b), (v), (l))
#define fma_lane_asm(acc, b, v, l)                                                                 \
	__extension__({                                                                                \
		float16x8_t fma_acc_ = (acc);                                                              \
		__asm__("fmla %0.8h, %1.8h, %2.h[%3]" : "+w"(fma_acc_) : "w"(b), "x"(v), "i"(l));          \
		fma_acc_;                                                                                  \
	})
#endif

/* max first, then min: NEON's vmax / vmin return NaN when either input is, so a NaN sum stays NaN. */
#define CLAMP(x) vminq_f32(vmaxq_f32((x), vmin), vmax)

/* Stores the 16 columns (v0..v3, 4 each) of one row, or its first nc < 16. */
static inline __attribute__((always_inline)) void store_row(float *c, size_t nc, float32x4_t v0, float32x4_t v1,
                                                            float32x4_t v2, float32x4_t v3) {
	if (nc >= NR) {
		vst1q_f32(c, v0);
		vst1q_f32(c + F32_LANES, v1);
		vst1q_f32(c + 2 * F32_LANES, v2);
		vst1q_f32(c + 3 * F32_LANES, v3);
		return;
	}
	if (nc & F16_LANES) {
		vst1q_f32(c, v0);
		vst1q_f32(c + F32_LANES, v1);
		v0 = v2;
		v1 = v3;
		c += F16_LANES;
	}
	if (nc & F32_LANES) {
		vst1q_f32(c, v0);
		v0 = v1;
		c += F32_LANES;
	}
	float32x2_t v = vget_low_f32(v0);
	if (nc & F32_PAIR) {
		vst1_f32(c, v);
		v = vget_high_f32(v0);
		c += F32_PAIR;
	}
	if (nc & 1)
		vst1_lane_f32(c, v, 0);
}

#define ROW(i, prev, cond) NST_GEMM_ROW(float, i, prev, cond)
/* One k of row i: lane l of va##i (float16x4_t) times the two weight vectors. */
#define STEP(i, l)                                                                                 \
	do {                                                                                           \
		acc##i##x0 = FMA_LANE(acc##i##x0, b0, va##i, l);                                           \
		acc##i##x1 = FMA_LANE(acc##i##x1, b1, va##i, l);                                           \
	} while (0)
/* One k of all 8 rows: the next 16 float16 weights, lane l of each row's a. */
#define K8x16(l)                                                                                   \
	do {                                                                                           \
		const float16x8_t b0 = vld1q_f16(wh);                                                      \
		const float16x8_t b1 = vld1q_f16(wh + F16_LANES);                                          \
		wh += NR;                                                                                  \
		STEP(0, l);                                                                                \
		STEP(1, l);                                                                                \
		STEP(2, l);                                                                                \
		STEP(3, l);                                                                                \
		STEP(4, l);                                                                                \
		STEP(5, l);                                                                                \
		STEP(6, l);                                                                                \
		STEP(7, l);                                                                                \
	} while (0)
/* Row i's accumulators widened to float32, clamped and stored. */
#define STORE(i)                                                                                   \
	store_row(c##i, nc, CLAMP(vcvt_f32_f16(vget_low_f16(acc##i##x0))), CLAMP(vcvt_high_f32_f16(acc##i##x0)), \
	          CLAMP(vcvt_f32_f16(vget_low_f16(acc##i##x1))), CLAMP(vcvt_high_f32_f16(acc##i##x1)))

void nst_f16_gemm_8x16__neonfp16arith(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                                      const float *w, float *c, size_t c_stride,
                                      const struct nst_f32_minmax_params *params) {
	const float16_t *wh = (const float16_t *)(const void *)w; /* packed: panels of [1 + kc][16] float16 */
	const float *a0 = a;                                       /* [mr][a_stride] float32 */
	float *c0 = c;                                             /* [mr][c_stride] float32 */
	ROW(1, 0, mr < 2)
	ROW(2, 1, mr <= 2)
	ROW(3, 2, mr < 4)
	ROW(4, 3, mr <= 4)
	ROW(5, 4, mr < 6)
	ROW(6, 5, mr <= 6)
	ROW(7, 6, mr != 8)

	do {
		float16x8_t acc0x0 = vld1q_f16(wh);
		float16x8_t acc0x1 = vld1q_f16(wh + F16_LANES);
		float16x8_t acc1x0 = acc0x0, acc1x1 = acc0x1;
		float16x8_t acc2x0 = acc0x0, acc2x1 = acc0x1;
		float16x8_t acc3x0 = acc0x0, acc3x1 = acc0x1;
		float16x8_t acc4x0 = acc0x0, acc4x1 = acc0x1;
		float16x8_t acc5x0 = acc0x0, acc5x1 = acc0x1;
		float16x8_t acc6x0 = acc0x0, acc6x1 = acc0x1;
		float16x8_t acc7x0 = acc0x0, acc7x1 = acc0x1;
		wh += NR;

		size_t k = 0;
		for (; k + K_BLOCK <= kc; k += K_BLOCK) {
			const float16x4_t va0 = vcvt_f16_f32(vld1q_f32(a0 + k));
			const float16x4_t va1 = vcvt_f16_f32(vld1q_f32(a1 + k));
			const float16x4_t va2 = vcvt_f16_f32(vld1q_f32(a2 + k));
			const float16x4_t va3 = vcvt_f16_f32(vld1q_f32(a3 + k));
			const float16x4_t va4 = vcvt_f16_f32(vld1q_f32(a4 + k));
			const float16x4_t va5 = vcvt_f16_f32(vld1q_f32(a5 + k));
			const float16x4_t va6 = vcvt_f16_f32(vld1q_f32(a6 + k));
			const float16x4_t va7 = vcvt_f16_f32(vld1q_f32(a7 + k));
			K8x16(0);
			K8x16(1);
			K8x16(2);
			K8x16(3);
		}
		/* kc % 4 left: one k at a time, a broadcast and narrowed (lane 0 is used). */
		for (; k < kc; k++) {
			const float16x4_t va0 = vcvt_f16_f32(vld1q_dup_f32(a0 + k));
			const float16x4_t va1 = vcvt_f16_f32(vld1q_dup_f32(a1 + k));
			const float16x4_t va2 = vcvt_f16_f32(vld1q_dup_f32(a2 + k));
			const float16x4_t va3 = vcvt_f16_f32(vld1q_dup_f32(a3 + k));
			const float16x4_t va4 = vcvt_f16_f32(vld1q_dup_f32(a4 + k));
			const float16x4_t va5 = vcvt_f16_f32(vld1q_dup_f32(a5 + k));
			const float16x4_t va6 = vcvt_f16_f32(vld1q_dup_f32(a6 + k));
			const float16x4_t va7 = vcvt_f16_f32(vld1q_dup_f32(a7 + k));
			K8x16(0);
		}

		/* Loaded here, not before the loop, to leave the loop every register. */
		const float32x4_t vmin = vld1q_dup_f32(&params->min);
		const float32x4_t vmax = vld1q_dup_f32(&params->max);

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

#else
/* No FP16 vector arithmetic (x86, ARMv7, ARMv8.0 such as the Pi 4): the scalar twin runs. */
typedef int nst_gemm_f16_neonfp16arith_unused;
#endif
