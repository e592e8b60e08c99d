/*
 * The tap-list grouped convolution of arch/kernels.h ("Tap-list grouped convolution"), written
 * once for every SIMD ISA.  No include guard: each kernel file (arch/x86/dwconv-avx2.c, ...)
 * includes it once, after defining
 *
 *   DW_VEC, DW_LANES              the vector type and its floats
 *   DW_ZERO(), DW_SPLAT(x), DW_LOAD(p), DW_STORE(p, v), DW_ADD(a, b), DW_MIN(a, b), DW_MAX(a, b)
 *   DW_FMA(acc, a, b)             acc + a * b (fused or not)
 *   DW_LOAD_TWICE(p)              p[0 .. DW_LANES / 2 - 1], each twice in a row (cog 2)
 *   DW_PAIR_SUMS(a, b)            a0+a1, a2+a3, ..., then b0+b1, ... (cig 2)
 *   DW_FN                         the name of the generated kernel
 *
 * A pass over the taps keeps DW_ACC accumulators: the lane vectors of one pixel, or of several
 * pixels when a pixel has fewer (2 x 4, 4 x 2, 8 x 1), so that each weight vector loaded serves
 * them all; a pixel's vectors go in runs of 8, 4, 2, 1 (runs of cig at least, whole outputs).
 * The lanes accumulate from zero in tap order, then the cig lanes of an output are summed, then
 * the bias is added: the order of the scalar twin.  Outputs a multiple of DW_LANES.  This file
 * includes no intrinsics header.
 */
#include <assert.h>

#define DW_ACC 8 /* accumulators: two FMA pipes times a four-cycle latency */
#define DW_INLINE static inline __attribute__((always_inline))

struct dw_job {
	size_t outputs, taps, step;
	const float *const *inputs, *const *weights;
	const float *bias;
	float *out;
	DW_VEC lo, hi;
};

/* np pixels from p, lane vectors v0 .. v0 + nv of each. */
DW_INLINE void dw_pass(const struct dw_job *j, size_t p, size_t v0, size_t np, size_t nv, size_t cig, size_t cog) {
	DW_VEC acc[DW_ACC];
	/* the small loops unrolled whole: the accumulators live in registers */
#pragma GCC unroll 8
	for (size_t a = 0; a < np * nv; a++)
		acc[a] = DW_ZERO();
	for (size_t t = 0; t < j->taps; t++) {
		const float *x = j->inputs[t] + p * j->step + v0 * DW_LANES / cog, *w = j->weights[t] + v0 * DW_LANES;
#pragma GCC unroll 8
		for (size_t v = 0; v < nv; v++) {
			const DW_VEC wv = DW_LOAD(w + v * DW_LANES);
#pragma GCC unroll 8
			for (size_t q = 0; q < np; q++) {
				const float *xq = x + q * j->step + v * DW_LANES / cog;
				acc[q * nv + v] = DW_FMA(acc[q * nv + v], wv, cog == 1 ? DW_LOAD(xq) : DW_LOAD_TWICE(xq));
			}
		}
	}
#pragma GCC unroll 8
	for (size_t q = 0; q < np; q++)
#pragma GCC unroll 8
		for (size_t v = 0; v < nv; v += cig) {
			DW_VEC r = acc[q * nv + v];
			if (cig == 2)
				r = DW_PAIR_SUMS(r, acc[q * nv + v + 1]);
			const size_t o = (v0 + v) / cig * DW_LANES;
			r = DW_ADD(r, DW_LOAD(j->bias + o));
			DW_STORE(j->out + (p + q) * j->outputs + o, DW_MIN(DW_MAX(r, j->lo), j->hi));
		}
}

/* Every pixel's lane vectors v0 .. v0 + nv: DW_ACC / nv pixels per pass, then one at a time. */
DW_INLINE void dw_vectors(const struct dw_job *j, size_t pixels, size_t v0, size_t nv, size_t cig, size_t cog) {
	const size_t np = DW_ACC / nv;
	size_t p = 0;
	for (; p + np <= pixels; p += np)
		dw_pass(j, p, v0, np, nv, cig, cog);
	for (; p < pixels; p++)
		dw_pass(j, p, v0, 1, nv, cig, cog);
}

DW_INLINE void dw_all_vectors(const struct dw_job *j, size_t pixels, size_t cig, size_t cog) {
	const size_t per_pixel = j->outputs / DW_LANES * cig;
	size_t v0 = 0;
	for (; v0 + DW_ACC <= per_pixel; v0 += DW_ACC)
		dw_vectors(j, pixels, v0, DW_ACC, cig, cog);
	/* the runs spelled out, so that each pass is compiled for its own count */
	if (per_pixel - v0 >= DW_ACC / 2) {
		dw_vectors(j, pixels, v0, DW_ACC / 2, cig, cog);
		v0 += DW_ACC / 2;
	}
	if (per_pixel - v0 >= DW_ACC / 4) {
		dw_vectors(j, pixels, v0, DW_ACC / 4, cig, cog);
		v0 += DW_ACC / 4;
	}
	if (cig == 1 && per_pixel - v0 == DW_ACC / 8)
		dw_vectors(j, pixels, v0, DW_ACC / 8, cig, cog);
}

void DW_FN(size_t pixels, size_t outputs, size_t cig, size_t cog, size_t taps, const float *const *inputs,
           size_t input_step, const float *const *weights, const float *bias, float *out,
           const struct nst_f32_minmax_params *params) {
	assert(outputs % DW_LANES == 0);
	const struct dw_job j = {outputs, taps, input_step, inputs, weights, bias, out, DW_SPLAT(params->min),
	                         DW_SPLAT(params->max)};
	/* the three kinds as constants, so that each pass is compiled for its own */
	if (cig == 2 && cog == 1)
		dw_all_vectors(&j, pixels, 2, 1);
	else if (cig == 1 && cog == 2)
		dw_all_vectors(&j, pixels, 1, 2);
	else {
		assert(cig == 1 && cog == 1);
		dw_all_vectors(&j, pixels, 1, 1);
	}
}
