/*
 * Scalar small-N ("dot") microkernels, the twins of every SIMD dot kernel, and their packing.
 *
 * One generic body per MR (compile-time, so that the row loops unroll).  Each output is a dot
 * product along k of one row of a (its segments) with one packed weight row.  Rows >= mr alias
 * the last valid row, as in the GEMM kernels: nothing outside [mr][nc] is read or written.
 */
#include <string.h>

#include "kernels.h"

/* max first, then min, each keeping v when it is NaN (as the SIMD kernels do). */
static inline float clamp(float v, float vmin, float vmax) {
	v = v < vmin ? vmin : v;
	return v > vmax ? vmax : v;
}

#define NST_DOT_SCALAR(MR)                                                                         \
	void nst_f32_dot_##MR##x4__scalar(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, \
	                                  size_t a_stride, size_t seg_stride, const float *w, float *c, \
	                                  size_t c_stride, const struct nst_f32_minmax_params *params) { \
		const float *arow[MR];                                                                     \
		float *crow[MR];                                                                           \
		arow[0] = a;                                                                               \
		crow[0] = c;                                                                               \
		for (size_t i = 1; i < MR; i++) {                                                          \
			arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];                               \
			crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];                               \
		}                                                                                          \
		const size_t wk = segs * kc; /* floats per packed weight row */                            \
		const float *wrow = w + nc;  /* [nc][wk] */                                                \
		float acc[MR][NST_DOT_MAX_N];                                                              \
		for (size_t i = 0; i < MR; i++)                                                            \
			for (size_t j = 0; j < nc; j++)                                                        \
				acc[i][j] = 0.0f;                                                                  \
		for (size_t s = 0; s < segs; s++)                                                          \
			for (size_t k = 0; k < kc; k++)                                                        \
				for (size_t i = 0; i < MR; i++) {                                                  \
					const float ai = arow[i][s * seg_stride + k];                                  \
					for (size_t j = 0; j < nc; j++)                                                \
						acc[i][j] += ai * wrow[j * wk + s * kc + k];                               \
				}                                                                                  \
		const float vmin = params->min, vmax = params->max;                                        \
		/* Last row first: when rows alias, every store of a row writes the same values. */        \
		for (size_t i = MR; i-- > 0;)                                                              \
			for (size_t j = 0; j < nc; j++)                                                        \
				crow[i][j] = clamp(w[j] + acc[i][j], vmin, vmax);                                  \
	}

NST_DOT_SCALAR(4)
NST_DOT_SCALAR(8)

size_t nst_dot_packed_floats(size_t k, size_t n) {
	return n * (k + 1);
}

void nst_dot_pack(size_t k, size_t n, const float *w, size_t w_stride, const float *bias, float *packed) {
	for (size_t j = 0; j < n; j++)
		packed[j] = bias ? bias[j] : 0.0f;
	float *rows = packed + n; // [n][k]
	for (size_t j = 0; j < n; j++)
		for (size_t kk = 0; kk < k; kk++)
			rows[j * k + kk] = w[kk * w_stride + j];
}
