/*
 * Scalar 2x2 argmax pooling (see arch/kernels.h): the twin of every SIMD member and the portable
 * backend's own (arch/argmaxpool-body.h's channel loops).
 */
#include "argmaxpool-body.h"

void nst_f32_argmaxpool__scalar(size_t c, const float *r0, const float *r1, float *out, uint8_t *codes) {
	nst_argmaxpool_channels(0, c, r0, r1, out, codes);
}

void nst_f32_argmaxpool_backward__scalar(size_t c, const float *g, const uint8_t *codes, float *d0, float *d1) {
	nst_argmaxpool_backward_channels(0, c, g, codes, d0, d1);
}
