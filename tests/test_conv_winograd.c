/*
 * Winograd's convolution as the optimization runs it (src/conv_winograd.c), against naive
 * convolutions written here in double precision:
 *
 *   1. forward, zero and reflection padding, with the optimization's epilogue (ReLU and the ReLU
 *      bit mask out) and without (the bias alone);
 *   1b. the kernel of scale * conv(x) + diagonal * x (nst_conv_winograd_pack_scaled, the
 *      arbitrary-style network's modulated blocks) with a ReLU or an addend after it;
 *   2. the input gradient: zero padding as a pad-1 convolution with the flipped, transposed
 *      weights (nst_conv_winograd_pack_backward) and the epilogue addend + incoming mask;
 *      reflection padding as the "full" pad-2 convolution over the padded picture, folded back by
 *      nst_reflect_pad_backward, against the naive scatter of every output's gradient onto the
 *      pixels its taps read (mirrored ones included);
 *   3. the naive gradient itself by finite differences of the naive forward pass (exact up to
 *      rounding: the convolution is linear), at corners, edges and inside;
 *
 * on F(2x2, 3x3) and F(4x4, 3x3), ragged sizes (odd, not multiples of 4, 2 rows, 1 pixel with
 * zero padding), channel counts that are not multiples of the GEMM tiles; on the scalar GEMM
 * kernel and every SIMD kernel of this CPU, on the calling thread and a 2-thread pool.  Outputs
 * are pre-filled with NaN and guarded; scratch is sized by the operator's own function and guarded.
 *
 * NST_TEST_SEED=N reproduces a run; the seed is printed first.
 */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>

#include "check.h"
#include "internal.h"
#include "support.h"
#include "support_engine.h"

#define MAX_ENGINES 12
#define K 3
/* The error of a value relative to the sum of the absolute values of its terms (float32 sums of
 * transformed values: F(4x4)'s transforms grow the terms by up to ~10x, still far below 1e-5; a
 * wrong tap, flip or mirrored pixel costs O(1)). */
#define CONV_TOL 1e-5
/* nst_conv_winograd_pack_scaled transforms the kernel in float (once per painting, so it must be
 * fast), not in double as the packers: its rounding, relative to the terms, reaches ~5e-5 at 64
 * channels on F(4x4) (seen over many seeds); a wrong tap or diagonal costs O(1). */
#define SCALED_TOL 2e-4
#define FD_TOL 1e-9
#define FD_STEP 0.5

struct wcase {
	int h, w, cin, cout;
	bool reflect;
};

/* The input pixel (iy, ix) that output (oy, ox)'s tap (ky, kx) reads with pad 1, or false (a zero). */
static bool tap_pixel(const struct wcase *c, int oy, int ox, int ky, int kx, int *iy, int *ix) {
	*iy = oy - 1 + ky;
	*ix = ox - 1 + kx;
	if (c->reflect) {
		*iy = naive_reflect(*iy, c->h);
		*ix = naive_reflect(*ix, c->w);
		return true;
	}
	return *iy >= 0 && *iy < c->h && *ix >= 0 && *ix < c->w;
}

/* in [h][w][cin], hwio [3][3][cin][cout]: the naive forward value at (oy, ox, co), pad 1. */
static double naive_forward(const struct wcase *c, const double *in, const float *hwio, const float *bias, int oy,
                            int ox, int co, double *abs_sum) {
	double v = bias ? (double)bias[co] : 0.0, a = fabs(v);
	for (int ky = 0; ky < K; ky++)
		for (int kx = 0; kx < K; kx++) {
			int iy, ix;
			if (!tap_pixel(c, oy, ox, ky, kx, &iy, &ix))
				continue;
			for (int ci = 0; ci < c->cin; ci++) {
				const double t = in[((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci] *
				                 (double)hwio[((size_t)(ky * K + kx) * (size_t)c->cin + (size_t)ci) * (size_t)c->cout +
				                              (size_t)co];
				v += t;
				a += fabs(t);
			}
		}
	if (abs_sum)
		*abs_sum = a;
	return v;
}

/* The naive input gradient grad [h][w][cin] of sum(g * conv(in)), g [h][w][cout]: every output's
 * gradient scattered onto the pixels its taps read; abs [h][w][cin]: the sums of |terms|. */
static void naive_backward(const struct wcase *c, const float *g, const float *hwio, double *grad, double *abs) {
	const size_t n = (size_t)c->h * (size_t)c->w * (size_t)c->cin;
	memset(grad, 0, n * sizeof(double));
	memset(abs, 0, n * sizeof(double));
	for (int oy = 0; oy < c->h; oy++)
		for (int ox = 0; ox < c->w; ox++)
			for (int ky = 0; ky < K; ky++)
				for (int kx = 0; kx < K; kx++) {
					int iy, ix;
					if (!tap_pixel(c, oy, ox, ky, kx, &iy, &ix))
						continue;
					for (int ci = 0; ci < c->cin; ci++)
						for (int co = 0; co < c->cout; co++) {
							const double t =
							        (double)g[((size_t)oy * (size_t)c->w + (size_t)ox) * (size_t)c->cout + (size_t)co] *
							        (double)hwio[((size_t)(ky * K + kx) * (size_t)c->cin + (size_t)ci) * (size_t)c->cout +
							                     (size_t)co];
							const size_t at = ((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci;
							grad[at] += t;
							abs[at] += fabs(t);
						}
				}
}

/* sum(g * conv(in)) in double (no bias: its gradient with respect to in is the same). */
static double naive_objective(const struct wcase *c, const double *in, const float *hwio, const float *g) {
	double s = 0.0;
	for (int oy = 0; oy < c->h; oy++)
		for (int ox = 0; ox < c->w; ox++)
			for (int co = 0; co < c->cout; co++)
				s += (double)g[((size_t)oy * (size_t)c->w + (size_t)ox) * (size_t)c->cout + (size_t)co] *
				     naive_forward(c, in, hwio, NULL, oy, ox, co, NULL);
	return s;
}

/* 3. The naive gradient against central differences of the naive objective at a few pixels. */
static void test_naive_gradient(const struct wcase *c, struct nst_rng *r) {
	const size_t n_in = (size_t)c->h * (size_t)c->w * (size_t)c->cin, n_out = (size_t)c->h * (size_t)c->w * (size_t)c->cout;
	double *in = xmalloc(n_in * sizeof(double)), *grad = xmalloc(n_in * sizeof(double)), *abs = xmalloc(n_in * sizeof(double));
	float *hwio = galloc((size_t)K * K * (size_t)c->cin * (size_t)c->cout), *g = galloc(n_out);
	for (size_t i = 0; i < n_in; i++)
		in[i] = urand(r, -1, 1);
	fill_uniform(r, hwio, (size_t)K * K * (size_t)c->cin * (size_t)c->cout, -1, 1);
	fill_uniform(r, g, n_out, -1, 1);
	naive_backward(c, g, hwio, grad, abs);
	const int ys[] = {0, c->h - 1, c->h / 2, 1 % c->h}, xs[] = {0, c->w - 1, c->w / 2, c->w - 1};
	double worst = 0.0;
	for (size_t p = 0; p < sizeof ys / sizeof ys[0]; p++)
		for (int ci = 0; ci < c->cin; ci += c->cin > 2 ? c->cin - 1 : 1) {
			const size_t at = ((size_t)ys[p] * (size_t)c->w + (size_t)xs[p]) * (size_t)c->cin + (size_t)ci;
			const double x0 = in[at];
			in[at] = x0 + FD_STEP;
			const double up = naive_objective(c, in, hwio, g);
			in[at] = x0 - FD_STEP;
			const double down = naive_objective(c, in, hwio, g);
			in[at] = x0;
			note(&worst, fabs((up - down) / (2 * FD_STEP) - grad[at]) / (abs[at] + DBL_MIN));
		}
	CHECK(worst <= FD_TOL, "naive gradient %s [%d][%d] cin %d cout %d: finite differences differ by %.3g",
	      c->reflect ? "reflect" : "zero", c->h, c->w, c->cin, c->cout, worst);
	free(in);
	free(grad);
	free(abs);
	free(hwio);
	free(g);
}

/* A random layer, made once per case and checked on every engine and tile: its input [h][w][cin]
 * (and a double copy), HWIO weights and bias in [-1, 1); the naive convolution [h][w][cout] and
 * the sums of its terms' magnitudes; the scaled kernel's per-channel scale and diagonal and an
 * addend [h][w][cout] (test_scaled's, cin == cout). */
struct layer_data {
	const struct wcase *c;
	size_t n_in, n_out;
	float *in, *hwio, *bias, *scale, *diagonal, *add;
	double *ind, *conv, *conv_abs;
};

static struct layer_data random_layer(const struct wcase *c, struct nst_rng *r) {
	const size_t n_in = (size_t)c->h * (size_t)c->w * (size_t)c->cin;
	const size_t n_out = (size_t)c->h * (size_t)c->w * (size_t)c->cout;
	const size_t n_w = (size_t)K * K * (size_t)c->cin * (size_t)c->cout, cout = (size_t)c->cout;
	struct layer_data d = {c,           n_in,        n_out,       galloc(n_in),
	                       galloc(n_w), galloc(cout), galloc(cout), galloc(cout),
	                       galloc(n_out), xmalloc(n_in * sizeof(double)), xmalloc(n_out * sizeof(double)),
	                       xmalloc(n_out * sizeof(double))};
	fill_uniform(r, d.in, n_in, -1, 1);
	for (size_t i = 0; i < n_in; i++)
		d.ind[i] = d.in[i];
	fill_uniform(r, d.hwio, n_w, -1, 1);
	fill_uniform(r, d.bias, cout, -1, 1);
	fill_uniform(r, d.scale, cout, -2, 2);
	fill_uniform(r, d.diagonal, cout, -2, 2);
	fill_uniform(r, d.add, n_out, -1, 1);
	for (int oy = 0; oy < c->h; oy++)
		for (int ox = 0; ox < c->w; ox++)
			for (int co = 0; co < c->cout; co++) {
				const size_t at = ((size_t)oy * (size_t)c->w + (size_t)ox) * cout + (size_t)co;
				d.conv[at] = naive_forward(c, d.ind, d.hwio, d.bias, oy, ox, co, &d.conv_abs[at]);
			}
	return d;
}

static void free_layer(struct layer_data *d) {
	free(d->in);
	free(d->hwio);
	free(d->bias);
	free(d->scale);
	free(d->diagonal);
	free(d->add);
	free(d->ind);
	free(d->conv);
	free(d->conv_abs);
}

/* 1. Forward, with (ReLU + mask out) and without the epilogue. */
static void test_forward(struct test_engine *te, const struct layer_data *d, enum nst_wino f, bool relu,
                         double *worst) {
	const struct wcase *c = d->c;
	const struct nst_gemm_kernel *gm = te->e.gemm;
	const struct nst_conv_shape shape = {K, K, 1, 1, c->reflect, c->cin, c->cout};
	const size_t n_out = d->n_out;
	float *out = galloc(n_out);
	const size_t packed_n = nst_conv_winograd_packed_floats(gm, &shape, f), staging_n = nst_conv_winograd_staging_floats(&shape);
	float *packed = galloc(packed_n), *staging = galloc(staging_n);
	nst_conv_winograd_pack(gm, &shape, f, d->hwio, d->bias, staging, packed);
	CHECK(guard_ok(staging, staging_n) && guard_ok(packed, packed_n), "forward pack overran (%s)", te->label);
	uint8_t *mask = gbytes(nst_mask_bytes(n_out), 0xa5);
	const struct nst_conv_epilogue ep = {0.0f, INFINITY, mask, NULL, NULL};
	engine_scratch(te, nst_conv_winograd_scratch_floats(gm, &shape, f));
	nst_conv2d_winograd(&te->e, &shape, f, c->h, c->w, d->in, packed, out, relu ? &ep : NULL);
	CHECK(engine_scratch_done(te), "forward: scratch overrun (%s)", te->label);
	double err = 0.0;
	size_t bad_mask = 0;
	for (size_t at = 0; at < n_out; at++) {
		double want = d->conv[at];
		if (relu) {
			want = want > 0.0 ? want : 0.0;
			bad_mask += nst_mask_get(mask, at) != (out[at] > 0.0f);
		}
		note(&err, fabs((double)out[at] - want) / (d->conv_abs[at] + DBL_MIN));
	}
	CHECK(err <= CONV_TOL, "forward F%d %s [%d][%d] cin %d cout %d%s (%s): error %.3g > %.3g", (int)f,
	      c->reflect ? "reflect" : "zero", c->h, c->w, c->cin, c->cout, relu ? " relu" : "", te->label, err, CONV_TOL);
	CHECK(bad_mask == 0, "forward F%d: %zu mask bits differ from the output's signs (%s)", (int)f, bad_mask, te->label);
	CHECK(guard_ok(out, n_out) && gbytes_ok(mask, nst_mask_bytes(n_out)), "forward: wrote past the end (%s)", te->label);
	note(worst, err);
	free(out);
	free(packed);
	free(staging);
	free(mask);
}

/* 1b. The kernel of scale * conv(x) + diagonal * x packed from conv's (the arbitrary-style
 * network's modulated blocks), run with a ReLU or an addend as those blocks do. */
static void test_scaled(struct test_engine *te, const struct layer_data *d, enum nst_wino f, bool relu,
                        double *worst) {
	const struct wcase *c = d->c;
	const struct nst_gemm_kernel *gm = te->e.gemm;
	const struct nst_conv_shape shape = {K, K, 1, 1, c->reflect, c->cin, c->cout};
	const size_t n = d->n_in;
	float *out = galloc(n);
	const size_t packed_n = nst_conv_winograd_packed_floats(gm, &shape, f);
	const size_t staging_n = nst_conv_winograd_scaled_staging_floats(&shape, f);
	float *packed = galloc(packed_n), *staging = galloc(staging_n);
	const size_t scratch = nst_conv_winograd_scratch_floats(gm, &shape, f);
	const size_t scaled = nst_conv_winograd_scaled_scratch_floats(&shape);
	engine_scratch(te, scratch > scaled ? scratch : scaled);
	nst_conv_winograd_pack_scaled(&te->e, gm, &shape, f, d->hwio, d->bias, d->scale, d->diagonal, staging, packed);
	CHECK(guard_ok(staging, staging_n) && guard_ok(packed, packed_n), "scaled pack overran (%s)", te->label);
	const struct nst_conv_epilogue ep = {relu ? 0.0f : -INFINITY, INFINITY, NULL, relu ? NULL : d->add, NULL};
	nst_conv2d_winograd(&te->e, &shape, f, c->h, c->w, d->in, packed, out, &ep);
	CHECK(engine_scratch_done(te), "scaled: scratch overrun (%s)", te->label);
	double err = 0.0;
	for (size_t at = 0; at < n; at++) {
		const size_t co = at % (size_t)c->cout;
		double want = (double)d->scale[co] * d->conv[at] + (double)d->diagonal[co] * d->ind[at];
		want = relu ? (want > 0.0 ? want : 0.0) : want + (double)d->add[at];
		const double mag = fabs((double)d->scale[co]) * d->conv_abs[at] + fabs((double)d->diagonal[co] * d->ind[at]) +
		                   (relu ? 0.0 : fabs((double)d->add[at]));
		note(&err, fabs((double)out[at] - want) / (mag + DBL_MIN));
	}
	CHECK(err <= SCALED_TOL, "scaled F%d %s [%d][%d] c %d%s (%s): error %.3g > %.3g", (int)f,
	      c->reflect ? "reflect" : "zero", c->h, c->w, c->cin, relu ? " relu" : " addend", te->label, err, SCALED_TOL);
	CHECK(guard_ok(out, n), "scaled: wrote past the end (%s)", te->label);
	note(worst, err);
	free(out);
	free(packed);
	free(staging);
}

/* An input gradient's case, made once: the incoming gradient g [h][w][cout], weights, the
 * epilogue's addend and incoming mask [h][w][cin], and the naive gradient with its |terms| sums. */
struct grad_data {
	const struct wcase *c;
	size_t n_in, n_out;
	float *g, *hwio, *addend;
	uint8_t *mask_in;
	double *want, *abs;
};

static struct grad_data random_grad(const struct wcase *c, struct nst_rng *r) {
	const size_t n_in = (size_t)c->h * (size_t)c->w * (size_t)c->cin, n_out = (size_t)c->h * (size_t)c->w * (size_t)c->cout;
	const size_t n_w = (size_t)K * K * (size_t)c->cin * (size_t)c->cout;
	struct grad_data d = {c,
	                      n_in,
	                      n_out,
	                      galloc(n_out),
	                      galloc(n_w),
	                      galloc(n_in),
	                      gbytes(nst_mask_bytes(n_in), 0),
	                      xmalloc(n_in * sizeof(double)),
	                      xmalloc(n_in * sizeof(double))};
	fill_uniform(r, d.g, n_out, -1, 1);
	fill_uniform(r, d.hwio, n_w, -1, 1);
	fill_uniform(r, d.addend, n_in, -1, 1);
	for (size_t i = 0; i < nst_mask_bytes(n_in); i++)
		d.mask_in[i] = (uint8_t)nst_rng_next(r);
	naive_backward(c, d.g, d.hwio, d.want, d.abs);
	return d;
}

static void free_grad(struct grad_data *d) {
	free(d->g);
	free(d->hwio);
	free(d->addend);
	free(d->mask_in);
	free(d->want);
	free(d->abs);
}

/* 2. The input gradient: zero padding with addend + incoming mask, reflection over the padded
 * picture then folded (and the same addend and mask applied after, as the VGG pass does). */
static void test_backward(struct test_engine *te, const struct grad_data *d, enum nst_wino f, double *worst) {
	const struct wcase *c = d->c;
	const struct nst_gemm_kernel *gm = te->e.gemm;
	const struct nst_conv_shape shape = {K, K, 1, 1, c->reflect, c->cin, c->cout};
	struct nst_conv_shape back = nst_conv_backward_shape(&shape);
	if (c->reflect)
		back.pad = K - 1; /* the gradient of the padded picture: the full convolution */
	CHECK(nst_conv_winograd_applies(&back), "backward shape pad %d does not apply", back.pad);
	const int ph = c->h + 2 * (back.pad - 1), pw = c->w + 2 * (back.pad - 1); /* what it writes */
	const size_t n_in = d->n_in, n_padded = (size_t)ph * (size_t)pw * (size_t)c->cin;
	float *out = galloc(n_padded);
	const size_t packed_n = nst_conv_winograd_packed_floats(gm, &back, f), staging_n = nst_conv_winograd_staging_floats(&back);
	float *packed = galloc(packed_n), *staging = galloc(staging_n);
	nst_conv_winograd_pack_backward(gm, &shape, f, d->hwio, staging, packed);
	CHECK(guard_ok(staging, staging_n) && guard_ok(packed, packed_n), "backward pack overran (%s)", te->label);
	engine_scratch(te, nst_conv_winograd_scratch_floats(gm, &back, f));
	const struct nst_conv_epilogue ep = {-INFINITY, INFINITY, NULL, d->addend, d->mask_in};
	nst_conv2d_winograd(&te->e, &back, f, c->h, c->w, d->g, packed, out, c->reflect ? NULL : &ep);
	CHECK(engine_scratch_done(te), "backward: scratch overrun (%s)", te->label);
	CHECK(guard_ok(out, n_padded), "backward: wrote past the end (%s)", te->label);
	if (c->reflect) {
		nst_reflect_pad_backward(c->h, c->w, c->cin, 1, out);
		nst_mask_apply(&te->e, n_in, d->mask_in, d->addend, out);
	}
	double err = 0.0;
	for (size_t i = 0; i < n_in; i++) {
		const double v = nst_mask_get(d->mask_in, i) ? d->want[i] + (double)d->addend[i] : 0.0;
		note(&err, fabs((double)out[i] - v) / (d->abs[i] + fabs((double)d->addend[i]) + DBL_MIN));
	}
	CHECK(err <= CONV_TOL, "input gradient F%d %s [%d][%d] cin %d cout %d (%s): error %.3g > %.3g", (int)f,
	      c->reflect ? "reflect" : "zero", c->h, c->w, c->cin, c->cout, te->label, err, CONV_TOL);
	note(worst, err);
	free(out);
	free(packed);
	free(staging);
}

int main(void) {
	const uint64_t seed = support_seed("test_conv_winograd");
	struct nst_rng r;
	nst_rng_seed(&r, seed);

	pthreadpool_t pool;
	struct test_engine engines[MAX_ENGINES];
	const int n_engines = support_kernel_engines(engines, MAX_ENGINES, &pool);

	/* Sizes around the tiles (m = 2, 4) and the GEMM's MR; channels around the NR panels and
	 * vector widths.  The masks' runs need cout % 8 == 0 (forward) and cin % 8 == 0 (gradient). */
	static const struct wcase cases[] = {
	        {1, 1, 8, 8, false},   {2, 3, 8, 16, false},  {5, 7, 16, 8, false},  {9, 13, 24, 40, false},
	        {17, 6, 8, 24, false}, {2, 2, 8, 8, true},    {2, 5, 16, 8, true},   {7, 9, 8, 24, true},
	        {13, 11, 24, 16, true}, {6, 18, 40, 8, true}, {21, 19, 64, 64, false}, {19, 21, 64, 64, true},
	};
	/* Forward without an epilogue: any channel count (the feed-forward networks' use). */
	static const struct wcase odd[] = {{5, 3, 3, 5, false}, {7, 6, 13, 7, true}, {3, 3, 1, 1, true}};
	/* The scaled kernel: as many outputs as inputs, ragged counts too (no masks). */
	static const struct wcase square[] = {{1, 1, 8, 8, false}, {2, 2, 8, 8, true}, {7, 6, 13, 13, true},
	                                      {5, 9, 3, 3, false}, {19, 21, 64, 64, true}};
	static const enum nst_wino fs[] = {NST_WINO_F2, NST_WINO_F4};
	double worst_forward[2] = {0, 0}, worst_backward[2] = {0, 0}, worst_scaled[2] = {0, 0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct layer_data d = random_layer(&cases[i], &r);
		struct grad_data gd = random_grad(&cases[i], &r);
		for (size_t fi = 0; fi < 2; fi++)
			for (int k = 0; k < n_engines; k++) {
				test_forward(&engines[k], &d, fs[fi], true, &worst_forward[fi]);
				test_forward(&engines[k], &d, fs[fi], false, &worst_forward[fi]);
				test_backward(&engines[k], &gd, fs[fi], &worst_backward[fi]);
			}
		free_layer(&d);
		free_grad(&gd);
	}
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		struct layer_data d = random_layer(&odd[i], &r);
		for (size_t fi = 0; fi < 2; fi++)
			for (int k = 0; k < n_engines; k++)
				test_forward(&engines[k], &d, fs[fi], false, &worst_forward[fi]);
		free_layer(&d);
	}
	for (size_t i = 0; i < sizeof square / sizeof square[0]; i++) {
		struct layer_data d = random_layer(&square[i], &r);
		for (size_t fi = 0; fi < 2; fi++)
			for (int k = 0; k < n_engines; k++) {
				test_scaled(&engines[k], &d, fs[fi], true, &worst_scaled[fi]);
				test_scaled(&engines[k], &d, fs[fi], false, &worst_scaled[fi]);
			}
		free_layer(&d);
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (cases[i].h * cases[i].w * cases[i].cin * cases[i].cout <= 13 * 11 * 24 * 16)
			test_naive_gradient(&cases[i], &r);
	/* Pad 2 is only the zero-padded full convolution; reflection stays pad 1. */
	const struct nst_conv_shape reflect2 = {K, K, 1, 2, true, 8, 8}, zero2 = {K, K, 1, 2, false, 8, 8};
	CHECK(!nst_conv_winograd_applies(&reflect2) && nst_conv_winograd_applies(&zero2), "pad 2 applies wrongly");

	/* The optimization's rule (nst_vgg_winograd, as nst bench reports it): none on the first block
	 * but its narrow layers, none below 16 channels, F(2x2) past 128. */
	if (nst_backend_available(NST_BACKEND_SIMD)) {
		static const struct {
			int block, in, out, tile;
		} rule[] = {{1, 3, 16, 0},     {1, 16, 16, 4},    {1, 3, 64, 0},      {1, 64, 64, 0},   {1, 16, 24, 0},
		            {2, 16, 32, 4},    {2, 8, 16, 0},     {2, 64, 128, 4},    {3, 128, 256, 2}, {3, 256, 256, 2},
		            {4, 128, 128, 4},  {4, 256, 512, 2},  {2, 20, 32, 0}};
		for (size_t i = 0; i < sizeof rule / sizeof rule[0]; i++) {
			const int tile = nst_bench_winograd_tile(NST_BACKEND_SIMD, rule[i].block, rule[i].in, rule[i].out);
			CHECK(tile == rule[i].tile, "block %d, %d -> %d channels: Winograd F(%d), expected F(%d)", rule[i].block,
			      rule[i].in, rule[i].out, tile, rule[i].tile);
		}
	}

	printf("errors relative to the sum of |terms| (limit %.3g, scaled %.3g):\n", CONV_TOL, SCALED_TOL);
	printf("  F2 forward %.3g, input gradient %.3g, scaled %.3g\n", worst_forward[0], worst_backward[0], worst_scaled[0]);
	printf("  F4 forward %.3g, input gradient %.3g, scaled %.3g\n", worst_forward[1], worst_backward[1], worst_scaled[1]);
	if (pool)
		pthreadpool_destroy(pool);
	return check_finish("test_conv_winograd");
}
