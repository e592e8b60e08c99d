/*
 * Scalar ReLU mask kernels (see arch/kernels.h): the twins of every SIMD mask kernel and the
 * portable backend's own.
 */
#include "kernels.h"

void nst_u8_mask_pack__scalar(size_t n_bytes, const float *x, uint8_t *mask) {
	for (size_t i = 0; i < n_bytes; i++) {
		const float *v = x + i * NST_MASK_BITS; // [8]
		unsigned bits = 0;
		for (unsigned b = 0; b < NST_MASK_BITS; b++)
			bits |= (unsigned)(v[b] > 0.0f) << b;
		mask[i] = (uint8_t)bits;
	}
}

void nst_f32_mask_apply__scalar(size_t n_bytes, const uint8_t *mask, float *x) {
	for (size_t i = 0; i < n_bytes; i++) {
		float *v = x + i * NST_MASK_BITS; // [8]
		const unsigned bits = mask[i];
		for (unsigned b = 0; b < NST_MASK_BITS; b++)
			v[b] = ((bits >> b) & 1u) ? v[b] : 0.0f;
	}
}
