/*
 * Elementwise float loops over long arrays (the optimizer's vectors, feature maps, blends), each
 * in runs of FLOATS_RUN elements, then the last few one at a time: GCC at -O2 turns a loop of a
 * constant count into whole vector instructions and leaves a loop of unknown count scalar.  No
 * reductions here: every element is computed as the scalar loop would, in the same bits.
 */
#include "internal.h"

#define FLOATS_RUN 16

void nst_floats_add(size_t n, const float *restrict x, float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] += x[j];
	for (; i < n; i++)
		y[i] += x[i];
}

void nst_floats_axpy(size_t n, float a, const float *restrict x, float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] += a * x[j];
	for (; i < n; i++)
		y[i] += a * x[i];
}

void nst_floats_scale(size_t n, float a, const float *restrict x, float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] = a * x[j];
	for (; i < n; i++)
		y[i] = a * x[i];
}

void nst_floats_scale_in_place(size_t n, float a, float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] *= a;
	for (; i < n; i++)
		y[i] *= a;
}

void nst_floats_step(size_t n, const float *restrict b, float a, const float *restrict x, float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] = b[j] + a * x[j];
	for (; i < n; i++)
		y[i] = b[i] + a * x[i];
}

void nst_floats_blend(size_t n, float a0, const float *restrict a, float a1, const float *restrict b,
                      float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] = a0 * a[j] + a1 * b[j];
	for (; i < n; i++)
		y[i] = a0 * a[i] + a1 * b[i];
}

void nst_floats_relu_grad(size_t n, const float *restrict f, float *restrict g) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			g[j] = f[j] > 0.0f ? g[j] : 0.0f;
	for (; i < n; i++)
		g[i] = f[i] > 0.0f ? g[i] : 0.0f;
}

void nst_floats_subtract_from(size_t n, const float *restrict x, float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] = x[j] - y[j];
	for (; i < n; i++)
		y[i] = x[i] - y[i];
}

void nst_floats_multiply(size_t n, const float *restrict x, float *restrict y) {
	size_t i = 0;
	for (; i + FLOATS_RUN <= n; i += FLOATS_RUN)
		for (size_t j = i; j < i + FLOATS_RUN; j++)
			y[j] *= x[j];
	for (; i < n; i++)
		y[i] *= x[i];
}
