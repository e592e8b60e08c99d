/*
 * The row mix of arch/kernels.h, one lane at a time: the twin of every SIMD row mix, and the
 * kernel of the portable configurations.
 */
#include "kernels.h"

void nst_f32_rowmix__scalar(size_t n, size_t nc, size_t k, const float *base, const size_t *offsets, const float *w,
                            float *c, size_t c_stride) {
	for (size_t o = 0; o < nc; o++)
		for (size_t j = 0; j < n; j++) {
			float s = 0.0f;
			for (size_t i = 0; i < k; i++)
				s += w[i * NST_ROWMIX_NC + o] * base[offsets[i] + j];
			c[o * c_stride + j] = s;
		}
}
