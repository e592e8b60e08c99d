/*
 * Scalar GEMM microkernels (the twins of every SIMD kernel) and the weight packing they all share.
 *
 * One generic body, instantiated per tile shape with compile-time MR and NR so that the compiler
 * can unroll the row and column loops.  Rows >= mr alias the last valid row (as in XNNPACK): they
 * read the same a and store the same values to the same c row, so nothing outside [mr][nc] is read
 * or written and the loops keep their constant trip counts.
 */
#include <string.h>

#include "kernels.h"

/* The body of nst_f32_gemm_<MR>x<NR>__scalar, with the tile's exact sizes (no maximum-sized arrays). */
#define NST_GEMM_SCALAR(MR, NR)                                                                    \
	void nst_f32_gemm_##MR##x##NR##__scalar(size_t mr, size_t nc, size_t kc, const float *a,        \
	                                        size_t a_stride, const float *w, float *c,              \
	                                        size_t c_stride,                                        \
	                                        const struct nst_f32_minmax_params *params) {           \
		const float *arow[MR];                                                                     \
		float *crow[MR];                                                                           \
		arow[0] = a;                                                                               \
		crow[0] = c;                                                                               \
		for (size_t i = 1; i < MR; i++) {                                                          \
			arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];                               \
			crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];                               \
		}                                                                                          \
		const float vmin = params->min, vmax = params->max;                                        \
		do {                                                                                       \
			float acc[MR][NR];                                                                     \
			for (size_t i = 0; i < MR; i++)                                                        \
				for (size_t j = 0; j < NR; j++)                                                    \
					acc[i][j] = w[j];                                                              \
			w += NR;                                                                               \
			for (size_t k = 0; k < kc; k++) {                                                      \
				for (size_t i = 0; i < MR; i++) {                                                  \
					const float ai = arow[i][k];                                                   \
					for (size_t j = 0; j < NR; j++)                                                \
						acc[i][j] += ai * w[j];                                                    \
				}                                                                                  \
				w += NR;                                                                           \
			}                                                                                      \
			const size_t n = nc < NR ? nc : NR;                                                    \
			/* Last row first: when rows alias, every store of a row writes the same values. */    \
			for (size_t i = MR; i-- > 0;) {                                                        \
				for (size_t j = 0; j < n; j++)                                                     \
					crow[i][j] = clamp(acc[i][j], vmin, vmax);                                     \
				crow[i] += n;                                                                      \
			}                                                                                      \
			nc -= n;                                                                               \
		} while (nc != 0);                                                                         \
	}

/* max first, then min, each keeping v when it is NaN (as the SIMD kernels do): a NaN sum stays NaN. */
static inline float clamp(float v, float vmin, float vmax) {
	v = v < vmin ? vmin : v;
	return v > vmax ? vmax : v;
}

NST_GEMM_SCALAR(4, 8)
NST_GEMM_SCALAR(6, 16)
NST_GEMM_SCALAR(8, 8)
NST_GEMM_SCALAR(8, 32)
NST_GEMM_SCALAR(16, 16)

size_t nst_gemm_packed_floats(size_t k, size_t n, size_t nr) {
	const size_t panels = (n + nr - 1) / nr;
	return panels * nr * (k + 1);
}

void nst_gemm_pack(size_t k, size_t n, size_t nr, const float *w, size_t w_stride, const float *bias, float *packed) {
	for (size_t n0 = 0; n0 < n; n0 += nr) {
		const size_t cols = n - n0 < nr ? n - n0 : nr;
		for (size_t j = 0; j < cols; j++)
			packed[j] = bias ? bias[n0 + j] : 0.0f;
		for (size_t j = cols; j < nr; j++)
			packed[j] = 0.0f;
		packed += nr;
		for (size_t kk = 0; kk < k; kk++) {
			memcpy(packed, w + kk * w_stride + n0, cols * sizeof(float));
			for (size_t j = cols; j < nr; j++)
				packed[j] = 0.0f;
			packed += nr;
		}
	}
}
