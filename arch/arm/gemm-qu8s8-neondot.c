/*
 * Int8 GEMM on ARMv8.2-A dot product (arch/kernels.h's qu8s8 contract): 8 rows x 8 columns, 16
 * int32x4 accumulators.  sdot multiplies signed bytes by signed bytes, so each activation byte is
 * flipped to a - 128 (xor 0x80) as it is loaded; the epilogue adds back (128 - a_zero) x the
 * column's weight sum, which leaves sum a w - a_zero wsum exactly as the twin
 * nst_qu8s8_gemm_8x8__scalar computes it, then converts and applies scale and bias in one fused
 * multiply-add.  16 bytes of each row (4 groups of 4 k) are loaded at a time and their groups
 * taken lane by lane (sdot by element); the last groups of a row one by one.  Compiled when the
 * target has dotprod (TARGET=rpi5: -mcpu=cortex-a76, jetson-orin: cortex-a78ae).
 */
#include <string.h>

#include "kernels.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

#define ROWS 8
#define COLS 8
#define QUAD 4 /* int32 lanes per vector */
#define FLIP 0x80

void nst_qu8s8_gemm_8x8__neondot(NST_QU8S8_GEMM_ARGS) {
	const uint8_t *arow[ROWS];
	float *crow[ROWS];
	arow[0] = a;
	crow[0] = c;
	for (size_t i = 1; i < ROWS; i++) {
		arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];
		crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];
	}
	const float32x4_t vmin = vdupq_n_f32(params->min), vmax = vdupq_n_f32(params->max);
	const float32x4_t a_scale = vdupq_n_f32(params->a_scale);
	const int32_t restore = FLIP - params->a_zero;
	const uint8x16_t flip = vdupq_n_u8(FLIP);
	do {
		int32x4_t acc[ROWS][2];
		for (size_t i = 0; i < ROWS; i++)
			acc[i][0] = acc[i][1] = vdupq_n_s32(0);
		const int8_t *wq = (const int8_t *)(const void *)(w + 3 * COLS); // [kc / 4][8][4]
		size_t k = 0;
		for (; k + 4 * NST_QU8_K_GROUP <= kc; k += 4 * NST_QU8_K_GROUP) {
			int8x16_t va[ROWS];
			for (size_t i = 0; i < ROWS; i++)
				va[i] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(arow[i] + k), flip));
#define GROUP(g)                                                                                   \
	do {                                                                                           \
		const int8x16_t b0 = vld1q_s8(wq), b1 = vld1q_s8(wq + 16);                                 \
		wq += COLS * NST_QU8_K_GROUP;                                                              \
		for (size_t i = 0; i < ROWS; i++) {                                                        \
			acc[i][0] = vdotq_laneq_s32(acc[i][0], b0, va[i], g);                                  \
			acc[i][1] = vdotq_laneq_s32(acc[i][1], b1, va[i], g);                                  \
		}                                                                                          \
	} while (0)
			GROUP(0);
			GROUP(1);
			GROUP(2);
			GROUP(3);
#undef GROUP
		}
		for (; k < kc; k += NST_QU8_K_GROUP) {
			const int8x16_t b0 = vld1q_s8(wq), b1 = vld1q_s8(wq + 16);
			wq += COLS * NST_QU8_K_GROUP;
			for (size_t i = 0; i < ROWS; i++) {
				uint32_t g;
				memcpy(&g, arow[i] + k, sizeof g);
				const int8x16_t va = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(g)), flip));
				acc[i][0] = vdotq_s32(acc[i][0], b0, va);
				acc[i][1] = vdotq_s32(acc[i][1], b1, va);
			}
		}
		int32x4_t corr[2];
		float32x4_t scale[2], bias[2];
		for (size_t h = 0; h < 2; h++) {
			corr[h] = vmulq_n_s32(vld1q_s32((const int32_t *)(const void *)w + h * QUAD), restore);
			scale[h] = vmulq_f32(a_scale, vld1q_f32(w + COLS + h * QUAD));
			bias[h] = vld1q_f32(w + 2 * COLS + h * QUAD);
		}
		const size_t n = nc < COLS ? nc : COLS;
		/* Last row first: aliased rows (mr < 8) store identical values to the same row. */
		for (size_t i = ROWS; i-- > 0;) {
			float out[COLS];
			for (size_t h = 0; h < 2; h++) {
				const float32x4_t sum = vcvtq_f32_s32(vaddq_s32(acc[i][h], corr[h]));
				const float32x4_t v = vfmaq_f32(bias[h], sum, scale[h]);
				vst1q_f32(out + h * QUAD, vminq_f32(vmax, vmaxq_f32(vmin, v)));
			}
			if (n == COLS)
				memcpy(crow[i], out, sizeof out);
			else
				memcpy(crow[i], out, n * sizeof(float));
			crow[i] += n;
		}
		nc -= n;
		w += 3 * COLS + kc * COLS / NST_QU8_K_GROUP;
	} while (nc != 0);
}

#else
typedef int nst_gemm_qu8s8_neondot_unused;
#endif
