/*
 * The scalar twin of the float16 GEMM microkernels: nst_f16_gemm_8x16__scalar.
 *
 * It computes what nst_f16_gemm_8x16__neonfp16arith computes, in portable C on any CPU: each
 * element of a is rounded to float16 as it is read, the accumulators start at the packed float16
 * biases and every multiply-add is rounded to float16 (NEON's FMLA on half-precision vectors is one
 * fused operation; here fmaf's float result is rounded again to float16, which differs from it only
 * when that float lands exactly halfway between two float16 values: a double rounding the twin
 * tests allow for), the clamp and the store are float32.  The x86 build has no float16 arithmetic,
 * so `--backend scalar --precision fp16` runs this kernel to give the float16 path's exact
 * arithmetic everywhere the tests run.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"

#define F16_ROWS 8
#define F16_COLS 16

#define F32_EXP_SHIFT 23
#define F32_EXP_FIELD 0xffu
#define F32_EXP_BIAS 127
#define F16_EXP_BIAS 15
#define F16_DROPPED_BITS 13            /* float mantissa bits float16 does not have */
#define F16_MIN_NORMAL_EXP (F32_EXP_BIAS - F16_EXP_BIAS + 1) /* the float exponent field of 2^-14 */
#define F16_OVERFLOW 65520.0f          /* halfway between float16's largest finite 65504 and 2^16 */
#define F16_SUBNORMAL_ROUNDER 0.5f     /* ulp(0.5f) = 2^-24, float16's subnormal step */

/* v rounded to the nearest float16 (ties to even), returned as a float. */
static inline float round_f16(float v) {
	uint32_t bits;
	memcpy(&bits, &v, sizeof bits);
	const uint32_t exp = (bits >> F32_EXP_SHIFT) & F32_EXP_FIELD;
	if (exp == F32_EXP_FIELD)
		return v; /* infinity, NaN */
	if (fabsf(v) >= F16_OVERFLOW)
		return copysignf(INFINITY, v);
	if (exp < F16_MIN_NORMAL_EXP) {
		/* Subnormal in float16: adding +-0.5 leaves float's 2^-24 steps, rounded to even. */
		const float r = copysignf(F16_SUBNORMAL_ROUNDER, v);
		volatile float t = v + r; /* no reassociation of the add and the subtract */
		return copysignf(t - r, v);
	}
	const uint32_t half = UINT32_C(1) << (F16_DROPPED_BITS - 1);
	bits += half - 1 + ((bits >> F16_DROPPED_BITS) & 1); /* to nearest, ties to even; carries into the exponent */
	bits &= ~((UINT32_C(1) << F16_DROPPED_BITS) - 1);
	memcpy(&v, &bits, sizeof v);
	return v;
}

static inline float clamp(float v, float vmin, float vmax) {
	v = v < vmin ? vmin : v;
	return v > vmax ? vmax : v;
}

void nst_f16_gemm_8x16__scalar(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride, const float *w,
                               float *c, size_t c_stride, const struct nst_f32_minmax_params *params) {
	const uint16_t *wh = (const uint16_t *)(const void *)w; // packed: panels of [1 + kc][16] float16
	const float *arow[F16_ROWS];
	float *crow[F16_ROWS];
	arow[0] = a;
	crow[0] = c;
	for (size_t i = 1; i < F16_ROWS; i++) {
		arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];
		crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];
	}
	const float vmin = params->min, vmax = params->max;
	do {
		float acc[F16_ROWS][F16_COLS]; // float16 values held in floats
		for (size_t i = 0; i < F16_ROWS; i++)
			for (size_t j = 0; j < F16_COLS; j++)
				acc[i][j] = nst_f16_to_f32(wh[j]);
		wh += F16_COLS;
		for (size_t k = 0; k < kc; k++) {
			float wk[F16_COLS]; // this k's weights
			for (size_t j = 0; j < F16_COLS; j++)
				wk[j] = nst_f16_to_f32(wh[j]);
			for (size_t i = 0; i < F16_ROWS; i++) {
				const float ai = round_f16(arow[i][k]);
				for (size_t j = 0; j < F16_COLS; j++)
					acc[i][j] = round_f16(fmaf(ai, wk[j], acc[i][j]));
			}
			wh += F16_COLS;
		}
		const size_t n = nc < F16_COLS ? nc : F16_COLS;
		for (size_t i = F16_ROWS; i-- > 0;) {
			for (size_t j = 0; j < n; j++)
				crow[i][j] = clamp(acc[i][j], vmin, vmax);
			crow[i] += n;
		}
		nc -= n;
	} while (nc != 0);
}

/* ---- Packing in a kernel's format ------------------------------------------------------------- */

size_t nst_gemm_kernel_packed_floats(const struct nst_gemm_kernel *gemm, size_t k, size_t n) {
	if (gemm->q8)
		return nst_qu8s8_gemm_packed_floats(k, n, gemm->nr);
	const size_t elements = nst_gemm_packed_floats(k, n, gemm->nr);
	return gemm->f16 ? elements / 2 : elements; /* two float16 per float32 slot; NR is even */
}

size_t nst_gemm_kernel_panel_floats(const struct nst_gemm_kernel *gemm, size_t k) {
	return nst_gemm_kernel_packed_floats(gemm, k, gemm->nr);
}

void nst_gemm_kernel_pack(const struct nst_gemm_kernel *gemm, size_t k, size_t n, const float *w, size_t w_stride,
                          const float *bias, float *packed) {
	if (gemm->q8) {
		nst_qu8s8_gemm_pack(k, n, gemm->nr, w, w_stride, bias, packed);
		return;
	}
	if (!gemm->f16) {
		nst_gemm_pack(k, n, gemm->nr, w, w_stride, bias, packed);
		return;
	}
	const size_t nr = gemm->nr;
	uint16_t *p = (uint16_t *)(void *)packed; // per panel: [nr] biases, then [k][nr] weights, float16
	for (size_t n0 = 0; n0 < n; n0 += nr) {
		const size_t cols = n - n0 < nr ? n - n0 : nr;
		for (size_t j = 0; j < nr; j++)
			*p++ = nst_f32_to_f16(j < cols && bias ? bias[n0 + j] : 0.0f);
		for (size_t kk = 0; kk < k; kk++)
			for (size_t j = 0; j < nr; j++)
				*p++ = nst_f32_to_f16(j < cols ? w[kk * w_stride + n0 + j] : 0.0f);
	}
}
