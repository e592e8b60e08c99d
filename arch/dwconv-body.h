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
 *   DW_RUN                        pixels per pass of the sliding 3 x 3 path (its sums in registers)
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
#include <stdbool.h>

#define DW_ACC 8 /* accumulators: two FMA pipes times a four-cycle latency */
#define DW_INLINE static inline __attribute__((always_inline))

struct dw_job {
	size_t outputs, taps, step, out_step;
	const float *const *inputs, *const *weights;
	const float *bias;
	float *out;
	DW_VEC lo, hi;
};

/* Output vector o of pixel p from its lane sums (cig 2: lane vectors a and b, pairs summed): the
 * bias, then the clamp. */
DW_INLINE void dw_finish(const struct dw_job *j, size_t p, size_t o, DW_VEC a, DW_VEC b, size_t cig) {
	DW_VEC r = cig == 2 ? DW_PAIR_SUMS(a, b) : a;
	r = DW_ADD(r, DW_LOAD(j->bias + o));
	DW_STORE(j->out + p * j->out_step + o, DW_MIN(DW_MAX(r, j->lo), j->hi));
}

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
		for (size_t v = 0; v < nv; v += cig)
			dw_finish(j, p + q, (v0 + v) / cig * DW_LANES, acc[q * nv + v], acc[q * nv + v + cig - 1], cig);
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

/* The 3 x 3 stride-1 path (cog 1, the taps three rows of three consecutive pixels, as the
 * upsampling and depthwise layers have them): a row of the kernel slides along the pixels, each
 * input vector loaded once and multiplied into the DW_RUN sums it belongs to (half a load per FMA,
 * against dw_pass's 1.5), one lane vector at a time over a chunk of DW_CHUNK pixels; the lane sums
 * go to the stack, then (cig 2: lane vectors v and v + 1 of an output vector, pairs summed) the
 * bias and the clamp.  Each sum still takes its taps in order, from zero: dw_pass's results. */
#define DW_SIDE 3
#define DW_SLIDE_TAPS (DW_SIDE * DW_SIDE)
#define DW_CHUNK (4 * DW_RUN) /* pixels per chunk */

/* sums[q] = lane vector v of pixel p + q (q < np), rows[ky] the first pixel of kernel row ky.  The
 * loops unrolled whole so that the sums stay in registers: the pragmas' 16 and 18 bound DW_RUN and
 * DW_RUN + 2 (asserted), 3 is DW_SIDE. */
_Static_assert(DW_RUN <= 16, "the sliding pass's unroll pragmas cover DW_RUN pixels");
DW_INLINE void dw_slide_pass(const struct dw_job *j, const float *const *rows, size_t p, size_t np, size_t v,
                             DW_VEC *sums) {
	DW_VEC acc[DW_RUN];
#pragma GCC unroll 16
	for (size_t q = 0; q < np; q++)
		acc[q] = DW_ZERO();
#pragma GCC unroll 3
	for (size_t ky = 0; ky < DW_SIDE; ky++) {
		const float *x = rows[ky] + p * j->step + v * DW_LANES;
		const DW_VEC w0 = DW_LOAD(j->weights[ky * DW_SIDE] + v * DW_LANES);
		const DW_VEC w1 = DW_LOAD(j->weights[ky * DW_SIDE + 1] + v * DW_LANES);
		const DW_VEC w2 = DW_LOAD(j->weights[ky * DW_SIDE + 2] + v * DW_LANES);
#pragma GCC unroll 18
		for (size_t i = 0; i < np + DW_SIDE - 1; i++, x += j->step) { /* pixel i: tap 0 of sum i, 1 of i - 1, 2 of i - 2 */
			const DW_VEC in = DW_LOAD(x);
			if (i < np)
				acc[i] = DW_FMA(acc[i], w0, in);
			if (i >= 1 && i - 1 < np)
				acc[i - 1] = DW_FMA(acc[i - 1], w1, in);
			if (i >= 2)
				acc[i - 2] = DW_FMA(acc[i - 2], w2, in);
		}
	}
#pragma GCC unroll 16
	for (size_t q = 0; q < np; q++)
		sums[q] = acc[q];
}

DW_INLINE void dw_slide_chunk(const struct dw_job *j, const float *const *rows, size_t p0, size_t n, size_t v,
                              DW_VEC *sums) {
	size_t q = 0;
	for (; q + DW_RUN <= n; q += DW_RUN)
		dw_slide_pass(j, rows, p0 + q, DW_RUN, v, sums + q);
	for (; q < n; q++)
		dw_slide_pass(j, rows, p0 + q, 1, v, sums + q);
}

DW_INLINE void dw_slide(const struct dw_job *j, size_t pixels, size_t cig) {
	const float *rows[DW_SIDE] = {j->inputs[0], j->inputs[DW_SIDE], j->inputs[2 * DW_SIDE]};
	const size_t lane_vectors = j->outputs / DW_LANES * cig;
	for (size_t p0 = 0; p0 < pixels; p0 += DW_CHUNK) {
		const size_t n = pixels - p0 < DW_CHUNK ? pixels - p0 : DW_CHUNK;
		for (size_t v = 0; v < lane_vectors; v += cig) {
			DW_VEC first[DW_CHUNK], sums[DW_CHUNK];
			if (cig == 2)
				dw_slide_chunk(j, rows, p0, n, v, first);
			dw_slide_chunk(j, rows, p0, n, v + cig - 1, sums);
			for (size_t q = 0; q < n; q++)
				dw_finish(j, p0 + q, v / cig * DW_LANES, cig == 2 ? first[q] : sums[q], sums[q], cig);
		}
	}
}

/* The taps are three rows of three pixels one input step apart. */
static inline bool dw_slides(size_t taps, const float *const *inputs, size_t step) {
	if (taps != DW_SLIDE_TAPS)
		return false;
	for (size_t ky = 0; ky < DW_SIDE; ky++)
		for (size_t kx = 1; kx < DW_SIDE; kx++)
			if (inputs[ky * DW_SIDE + kx] != inputs[ky * DW_SIDE] + kx * step)
				return false;
	return true;
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
           size_t input_step, const float *const *weights, const float *bias, float *out, size_t output_step,
           const struct nst_f32_minmax_params *params) {
	assert(outputs % DW_LANES == 0 && output_step >= outputs);
	const struct dw_job j = {outputs, taps, input_step, output_step, inputs, weights, bias, out, DW_SPLAT(params->min),
	                         DW_SPLAT(params->max)};
	/* the three kinds as constants, so that each pass is compiled for its own */
	const bool slides = cog == 1 && dw_slides(taps, inputs, input_step);
	if (slides && cig == 2)
		dw_slide(&j, pixels, 2);
	else if (slides)
		dw_slide(&j, pixels, 1);
	else if (cig == 2 && cog == 1)
		dw_all_vectors(&j, pixels, 2, 1);
	else if (cig == 1 && cog == 2)
		dw_all_vectors(&j, pixels, 1, 2);
	else {
		assert(cig == 1 && cog == 1);
		dw_all_vectors(&j, pixels, 1, 1);
	}
}
