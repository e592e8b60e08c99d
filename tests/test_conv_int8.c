/*
 * Int8 convolutions (engine.gemm->q8): nst_conv2d (im2col), nst_conv2d_up (upsample 1 and 2) and
 * nst_conv2d_phases on the int8 kernels against a naive double convolution of the float input and
 * weights, within the quantization bound below; and every int8 engine (the scalar 8x8 and each
 * SIMD configuration of this CPU, 1 and 2 threads) bit for bit equal to the scalar one: the sums
 * are exact integers and the epilogue the same fused multiply-add whatever the tile.
 *
 * The bound.  The input is quantized per tensor, x^ = (q - zero) sa with |x^ - x| <= sa / 2; each
 * weight column per channel, w^ = q sw with |w^ - w| <= sw / 2, sw = max |w| / 127.  Then
 *
 *   |sum x w - sum x^ w^| <= sum |x| |w - w^| + |w^| |x - x^| <= K (X sw / 2 + (W + sw / 2) sa / 2)
 *
 * with K the products per output, X = max |x|, W = max |w| of the weights the GEMM multiplies
 * (phases: sums of up to four taps, so W and sw up to 4x the kernel's).  Plus float rounding of
 * the result (1e-5 relative to the sum of |terms| covers the int32 -> float conversion and the
 * fused multiply-add).  The test also prints the largest error as a fraction of the bound.  And
 * for im2col and upsample (whose GEMM weights are the kernel's), the output matches the double
 * convolution of the quantized operands, rebuilt by the test, to float rounding: a zero point or
 * scale off by one step shows there.
 *
 * NST_TEST_SEED=N reproduces a run; the seed is printed first.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "support.h"

enum kind { PLAIN, UP, PHASES };
static const char *const KIND_NAMES[] = {"conv2d", "conv2d_up", "conv2d_phases"};

struct ccase {
	enum kind kind;
	int k, stride, up;
	bool reflect;
	int cin, cout, h, w;
	double lo, hi; /* the input's values */
};

static void naive(const struct ccase *c, const float *in, const float *hwio, const float *bias, int oy, int ox, int co,
                  double *value, double *abs_sum) {
	const struct naive_conv_shape shape = {c->k, c->stride, c->up, c->reflect, c->cin, c->cout, c->h, c->w};
	naive_conv_value(&shape, in, hwio, bias, oy, ox, co, value, abs_sum);
}

/* Runs case c on engine e; returns the output [oh][ow][cout] (malloc'd). */
static float *run(struct nst_engine *e, const struct ccase *c, const float *in, const float *hwio, const float *bias,
                  size_t n_out) {
	const struct nst_gemm_kernel *g = e->gemm;
	const struct nst_conv_shape shape = {c->k, c->k, c->stride, c->k / 2, c->reflect, c->cin, c->cout};
	size_t packed_n, scratch_n;
	switch (c->kind) {
	case PLAIN:
		packed_n = nst_conv_packed_floats(g, &shape);
		scratch_n = nst_conv_scratch_floats(g, &shape);
		break;
	case UP:
		packed_n = nst_conv_up_packed_floats(g, &shape);
		scratch_n = nst_conv_up_scratch_floats(g, &shape);
		break;
	default:
		packed_n = nst_conv_phases_packed_floats(g, &shape);
		scratch_n = nst_conv_phases_scratch_floats(g, &shape);
		break;
	}
	float *packed = galloc(packed_n), *out = galloc(n_out);
	e->scratch_floats = scratch_n;
	e->scratch = galloc(scratch_n * (size_t)e->threads);
	switch (c->kind) {
	case PLAIN:
		nst_conv_pack_forward(g, &shape, hwio, bias, packed);
		nst_conv2d(e, &shape, c->h, c->w, in, packed, out, NULL);
		break;
	case UP:
		nst_conv_up_pack(g, &shape, hwio, bias, packed);
		nst_conv2d_up(e, &shape, c->up, c->h, c->w, in, packed, out);
		break;
	default: {
		const size_t staging_n = nst_conv_phases_staging_floats(&shape);
		float *staging = galloc(staging_n);
		nst_conv_phases_pack(g, &shape, hwio, bias, staging, packed);
		free(staging);
		nst_conv2d_phases(e, &shape, c->h, c->w, in, packed, out);
		break;
	}
	}
	CHECK(guard_ok(packed, packed_n) && guard_ok(out, n_out) && guard_ok(e->scratch, scratch_n * (size_t)e->threads),
	      "%s on %s: nothing written past packed, output or scratch", KIND_NAMES[c->kind], g->name);
	free(packed);
	free(e->scratch);
	e->scratch = NULL;
	return out;
}

static void check_case(struct nst_engine *engines, int n_engines, const struct ccase *c, struct nst_rng *r,
                       double *worst_fraction) {
	const int oh = nst_conv_out_size(c->up * c->h, c->k, c->stride, c->k / 2);
	const int ow = nst_conv_out_size(c->up * c->w, c->k, c->stride, c->k / 2);
	const size_t n_in = (size_t)c->h * (size_t)c->w * (size_t)c->cin;
	const size_t n_w = (size_t)c->k * (size_t)c->k * (size_t)c->cin * (size_t)c->cout;
	const size_t n_out = (size_t)oh * (size_t)ow * (size_t)c->cout;
	float *in = xmalloc(n_in * sizeof(float)), *hwio = xmalloc(n_w * sizeof(float));
	float *bias = xmalloc((size_t)c->cout * sizeof(float));
	fill_uniform(r, in, n_in, c->lo, c->hi);
	fill_uniform(r, hwio, n_w, -0.2, 0.2);
	fill_uniform(r, bias, (size_t)c->cout, -1, 1);

	float lo, hi;
	nst_f32_range__scalar(n_in, in, &lo, &hi);
	struct nst_qu8_gemm_params q;
	nst_qu8_params_for_range(lo, hi, &q);
	double x_max = fmax(fabs(lo), fabs(hi)), w_max = 0.0;
	for (size_t i = 0; i < n_w; i++)
		w_max = fmax(w_max, fabs((double)hwio[i]));
	double products = (double)c->k * c->k * c->cin;
	if (c->kind == PHASES) {
		w_max *= 4.0;
		products = 4.0 * c->cin;
	}
	const double sw = w_max / 127.0, sa = q.a_scale;
	const double bound = products * (x_max * sw / 2 + (w_max + sw / 2) * sa / 2) * (1.0 + 1e-3);

	float *first = run(&engines[0], c, in, hwio, bias, n_out);
	double err = 0.0;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int co = 0; co < c->cout; co++) {
				double want, abs_sum;
				naive(c, in, hwio, bias, oy, ox, co, &want, &abs_sum);
				const double got = first[((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c->cout + (size_t)co];
				note(&err, fabs(got - want) / (bound + 1e-5 * abs_sum + 1e-6));
			}
	CHECK(err <= 1.0, "%s k%d s%d up%d cin %d cout %d [%d][%d] in [%g, %g] on %s: error %.3g of the bound %.3g",
	      KIND_NAMES[c->kind], c->k, c->stride, c->up, c->cin, c->cout, c->h, c->w, c->lo, c->hi, engines[0].gemm->name,
	      err, bound);
	note(worst_fraction, err);
	if (c->kind != PHASES) { /* the quantized operands, rebuilt here: the sums match to rounding */
		float *xq = xmalloc(n_in * sizeof(float)), *wq = xmalloc(n_w * sizeof(float));
		const float inv = 1.0f / q.a_scale;
		for (size_t i = 0; i < n_in; i++)
			xq[i] = (float)((int)fminf(fmaxf(in[i] * inv + (float)q.a_zero + 0.5f, 0.0f), 255.0f) - q.a_zero) * q.a_scale;
		const size_t rows = n_w / (size_t)c->cout;
		for (size_t co = 0; co < (size_t)c->cout; co++) {
			float most = 0.0f;
			for (size_t k = 0; k < rows; k++)
				most = fmaxf(most, fabsf(hwio[k * (size_t)c->cout + co]));
			const float scale = most > 0.0f ? most / 127.0f : 1.0f, winv = 1.0f / scale;
			for (size_t k = 0; k < rows; k++)
				wq[k * (size_t)c->cout + co] = rintf(hwio[k * (size_t)c->cout + co] * winv) * scale;
		}
		double exact = 0.0;
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++)
				for (int co = 0; co < c->cout; co++) {
					double want, abs_sum;
					naive(c, xq, wq, bias, oy, ox, co, &want, &abs_sum);
					const double got = first[((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c->cout + (size_t)co];
					note(&exact, fabs(got - want) / (1e-5 * abs_sum + 1e-6));
				}
		CHECK(exact <= 1.0, "%s k%d cin %d cout %d: %.3g from the convolution of the quantized operands",
		      KIND_NAMES[c->kind], c->k, c->cin, c->cout, exact);
		free(xq);
		free(wq);
	}
	for (int e = 1; e < n_engines; e++) {
		float *out = run(&engines[e], c, in, hwio, bias, n_out);
		CHECK(memcmp(out, first, n_out * sizeof(float)) == 0, "%s k%d cin %d cout %d: %s / %d threads differs from %s",
		      KIND_NAMES[c->kind], c->k, c->cin, c->cout, engines[e].gemm->name, engines[e].threads,
		      engines[0].gemm->name);
		free(out);
	}
	free(first);
	free(in);
	free(hwio);
	free(bias);
}

#define MAX_ENGINES 8

int main(void) {
	const uint64_t seed = support_seed("test_conv_int8");
	struct nst_rng r;
	nst_rng_seed(&r, seed);
	pthreadpool_t pool = pthreadpool_create(2);
	CHECK(pool != NULL, "pthreadpool_create(2)");
	struct nst_engine engines[MAX_ENGINES];
	int n = 0;
	const struct nst_kernel_config *configs[4];
	const size_t simd = nst_kernel_configs_q8(NULL, configs, 4);
	const struct nst_gemm_kernel *kernels[5] = {&nst_kernel_config_scalar_q8()->gemm};
	size_t n_kernels = 1;
	for (size_t i = 0; i < simd; i++) {
		kernels[n_kernels++] = &configs[i]->gemm;
		kernels[n_kernels++] = &configs[i]->twin->gemm;
	}
	for (size_t k = 0; k < n_kernels && n + 2 <= MAX_ENGINES; k++)
		for (int t = 0; t < 2; t++) {
			memset(&engines[n], 0, sizeof engines[n]);
			engines[n].gemm = kernels[k];
			engines[n].threads = t && pool ? 2 : 1;
			engines[n].pool = t ? pool : NULL;
			printf("engine %s, %d thread%s\n", kernels[k]->name, engines[n].threads, engines[n].threads > 1 ? "s" : "");
			n++;
		}
	static const struct ccase cases[] = {
		/* the trained networks' shapes, small: conv2/3 (3x3 s2), a residual 3x3, conv1 (9x9 RGB) */
		{PLAIN, 3, 2, 1, true, 32, 64, 17, 13, 0.0, 3.0},
		{PLAIN, 3, 2, 1, true, 64, 128, 9, 10, 0.0, 2.0},
		{PLAIN, 3, 1, 1, true, 128, 128, 8, 7, -2.0, 2.0},
		{PLAIN, 3, 1, 1, false, 5, 7, 6, 5, -1.0, 3.0},  /* zero padding, ragged channels */
		{PLAIN, 1, 1, 1, false, 16, 40, 5, 6, -1.0, 1.0}, /* pointwise: int8 copies its rows */
		{UP, 9, 1, 1, true, 3, 32, 21, 19, 0.0, 255.0},   /* conv1 on a picture's values */
		{UP, 3, 1, 2, true, 16, 12, 7, 6, -0.5, 4.0},
		{PHASES, 3, 1, 2, true, 128, 64, 6, 5, 0.0, 5.0}, /* conv14 */
		{PHASES, 3, 1, 2, true, 64, 32, 9, 8, 0.0, 5.0},  /* conv15 */
		{PHASES, 3, 1, 2, true, 6, 5, 4, 3, -3.0, 1.0},
	};
	double worst = 0.0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(engines, n, &cases[i], &r, &worst);
	printf("largest error: %.3f of the quantization bound\n", worst);
	if (pool)
		pthreadpool_destroy(pool);
	return check_finish("test_conv_int8");
}
