/*
 * Int8 GEMM (qu8s8, arch/kernels.h): the scalar twins of the SIMD kernels, the weight packing
 * they all share, and the activations' quantization (range, parameters, rows in place).
 *
 * One generic body per tile shape, as in gemm-scalar.c: rows >= mr alias the last valid row.  The
 * sums are int32 and exact; the epilogue is the contract's fused multiply-add, so that the SIMD
 * kernels (vpdpbusd, sdot) give the same bits.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"

#define QU8_MAX 255
#define QS8_MAX 127

static inline float qclamp(float v, float vmin, float vmax) {
	v = v < vmin ? vmin : v;
	return v > vmax ? vmax : v;
}

/* The body of nst_qu8s8_gemm_<MR>x<NR>__scalar. */
#define NST_QU8S8_GEMM_SCALAR(MR, NR)                                                              \
	void nst_qu8s8_gemm_##MR##x##NR##__scalar(NST_QU8S8_GEMM_ARGS) {                               \
		const uint8_t *arow[MR];                                                                   \
		float *crow[MR];                                                                           \
		arow[0] = a;                                                                               \
		crow[0] = c;                                                                               \
		for (size_t i = 1; i < MR; i++) {                                                          \
			arow[i] = i < mr ? arow[i - 1] + a_stride : arow[i - 1];                               \
			crow[i] = i < mr ? crow[i - 1] + c_stride : crow[i - 1];                               \
		}                                                                                          \
		const float vmin = params->min, vmax = params->max, a_scale = params->a_scale;             \
		const int32_t a_zero = params->a_zero;                                                     \
		do {                                                                                       \
			const int32_t *wsum = (const int32_t *)(const void *)w; /* [NR] */                     \
			const float *scale = w + NR, *bias = w + 2 * NR;        /* [NR] each */                \
			const int8_t *wq = (const int8_t *)(const void *)(w + 3 * NR); /* [kc/4][NR][4] */      \
			int32_t acc[MR][NR];                                                                   \
			memset(acc, 0, sizeof acc);                                                            \
			for (size_t k = 0; k < kc; k += NST_QU8_K_GROUP) {                                     \
				for (size_t i = 0; i < MR; i++)                                                    \
					for (size_t j = 0; j < NR; j++)                                                \
						for (size_t t = 0; t < NST_QU8_K_GROUP; t++)                               \
							acc[i][j] += (int32_t)arow[i][k + t] * (int32_t)wq[j * NST_QU8_K_GROUP + t]; \
				wq += NR * NST_QU8_K_GROUP;                                                        \
			}                                                                                      \
			const size_t n = nc < NR ? nc : NR;                                                    \
			for (size_t i = MR; i-- > 0;) {                                                        \
				for (size_t j = 0; j < n; j++) {                                                   \
					const float sum = (float)(acc[i][j] - a_zero * wsum[j]);                       \
					crow[i][j] = qclamp(fmaf(sum, a_scale * scale[j], bias[j]), vmin, vmax);       \
				}                                                                                  \
				crow[i] += n;                                                                      \
			}                                                                                      \
			w += nst_qu8s8_gemm_packed_floats(kc, NR, NR);                                         \
			nc -= n;                                                                               \
		} while (nc != 0);                                                                         \
	}

NST_QU8S8_GEMM_SCALAR(8, 8)
NST_QU8S8_GEMM_SCALAR(8, 32)
NST_QU8S8_GEMM_SCALAR(6, 16)

size_t nst_qu8s8_gemm_packed_floats(size_t k, size_t n, size_t nr) {
	const size_t panels = (n + nr - 1) / nr;
	/* wsum, scale, bias, then nst_qu8_k(k) bytes per column (4 to a float slot) */
	return panels * (3 * nr + nst_qu8_k(k) * nr / NST_QU8_K_GROUP);
}

void nst_qu8s8_gemm_pack(size_t k, size_t n, size_t nr, const float *w, size_t w_stride, const float *bias,
                         float *packed) {
	const size_t kq = nst_qu8_k(k), panel = nst_qu8s8_gemm_packed_floats(k, nr, nr);
	for (size_t n0 = 0; n0 < n; n0 += nr, packed += panel) {
		int32_t *wsum = (int32_t *)(void *)packed;          // [nr]
		float *scale = packed + nr, *b = packed + 2 * nr;     // [nr] each
		int8_t *q = (int8_t *)(void *)(packed + 3 * nr);      // [kq / 4][nr][4]
		memset(q, 0, kq * nr);
		for (size_t j = 0; j < nr; j++) {
			const size_t col = n0 + j;
			wsum[j] = 0;
			scale[j] = 1.0f;
			b[j] = 0.0f;
			if (col >= n)
				continue;
			b[j] = bias ? bias[col] : 0.0f;
			float most = 0.0f;
			for (size_t kk = 0; kk < k; kk++)
				most = fmaxf(most, fabsf(w[kk * w_stride + col]));
			if (most > 0.0f)
				scale[j] = most / (float)QS8_MAX;
			const float inv = 1.0f / scale[j];
			for (size_t kk = 0; kk < k; kk++) {
				float v = rintf(w[kk * w_stride + col] * inv);
				v = v > QS8_MAX ? QS8_MAX : (v < -QS8_MAX ? -QS8_MAX : v);
				q[(kk / NST_QU8_K_GROUP * nr + j) * NST_QU8_K_GROUP + kk % NST_QU8_K_GROUP] = (int8_t)v;
				wsum[j] += (int32_t)v;
			}
		}
	}
}

void nst_qu8_params_for_range(float lo, float hi, struct nst_qu8_gemm_params *params) {
	lo = lo < 0.0f ? lo : 0.0f; /* NaN: 0 */
	hi = hi > 0.0f ? hi : 0.0f;
	const float scale = (hi - lo) / (float)QU8_MAX;
	params->a_scale = scale > 0.0f && isfinite(scale) ? scale : 1.0f;
	const float zero = rintf(-lo / params->a_scale);
	params->a_zero = zero > QU8_MAX ? QU8_MAX : (int32_t)zero;
}

void nst_f32_range__scalar(size_t n, const float *x, float *lo, float *hi) {
	float l = INFINITY, h = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		l = x[i] < l ? x[i] : l;
		h = x[i] > h ? x[i] : h;
	}
	*lo = l;
	*hi = h;
}

void nst_qu8_quantize__scalar(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params) {
	const float inv = 1.0f / params->a_scale, zero = (float)params->a_zero + 0.5f;
	for (size_t i = 0; i < n; i++) {
		float v = x[i] * inv + zero; /* rounds half up when truncated */
		v = v > 0.0f ? v : 0.0f;      /* NaN: 0 */
		v = v < (float)QU8_MAX ? v : (float)QU8_MAX;
		q[i] = (uint8_t)v;
	}
}

uint8_t *nst_qu8_quantize_rows(nst_qu8_quantize_fn quantize, size_t rows, size_t k, float *a, size_t lda,
                               const struct nst_qu8_gemm_params *params) {
	/* Row i's bytes start at i * kq <= 4 * i * lda, at or below its floats (kq <= 4 * k): every
	 * byte lands on floats already read. */
	uint8_t *q = (uint8_t *)(void *)a;
	const size_t kq = nst_qu8_k(k);
	for (size_t i = 0; i < rows; i++) {
		uint8_t *dst = q + i * kq;
		quantize(k, a + i * lda, dst, params);
		for (size_t j = k; j < kq; j++)
			dst[j] = (uint8_t)params->a_zero;
	}
	return q;
}
