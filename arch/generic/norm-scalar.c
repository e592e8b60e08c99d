/*
 * Scalar instance-norm kernels (see arch/kernels.h): the twins of every SIMD norm kernel and the
 * portable backend's own.
 */
#include "kernels.h"

void nst_f64_norm_sums__scalar(size_t n, size_t c, const float *x, double *sum, double *sq) {
	for (size_t p = 0; p < n; p++) {
		const float *row = x + p * c; // [c]
		for (size_t ch = 0; ch < c; ch++) {
			const double v = (double)row[ch];
			sum[ch] += v;
			sq[ch] += v * v;
		}
	}
}

void nst_f32_norm_affine__scalar(size_t n, size_t c, const float *x, const float *scale, const float *shift,
                                 const float *addend, bool relu, float *y) {
	for (size_t p = 0; p < n; p++)
		for (size_t ch = 0; ch < c; ch++) {
			const size_t i = p * c + ch;
			float v = x[i] * scale[ch] + shift[ch];
			if (addend)
				v = addend[i] + v;
			if (relu)
				v = v > 0.0f ? v : 0.0f; /* NaN gives 0 */
			y[i] = v;
		}
}
