/*
 * The k x k convolution on Winograd F(3x3, 3x3) tiles of 3x3 sub-kernels (src/conv_winograd_grid.c),
 * against a naive convolution written here in double precision: k = 9 (the arbitrary-style
 * network's first and last layers), 6 and 12; zero and reflection padding, (k - 1) / 2 as the
 * networks' and 0 or k - 1 (reflection as wide as the picture); with a ReLU and without
 * (the bias alone); sizes around the tiles (3), the strips (their tiles follow from the channels:
 * 32 at 3 -> 16; with at most 4 outputs (the lanes path) 62 at 16 -> 3, 30 at 32 -> 3) and the bands
 * (16 tile rows, 48 pixels), full ones included, 1 pixel with zero padding; channels 3 -> 16 and
 * 16 -> 3 (the network's, the second on the lanes path's row mixes) and ragged counts, 1 to 4
 * outputs on the lanes path with k = 6, 9 and 12 (2 to 4 sub-kernels a side: the ring of 2 to 4
 * tile rows); on the scalar GEMM kernel and every SIMD kernel of this CPU, on the calling thread and a 2-thread pool.  Outputs are pre-filled with NaN
 * and guarded; scratch and packing are sized by the operator's own functions and guarded.  And
 * which shapes it takes.
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
/* The error of a value relative to the sum of the absolute values of its terms: the transforms
 * grow the terms by up to ~10x (F(3x3)'s B^T and G, the sub-kernels' sums), float32 sums over
 * q^2 cin of them stay far below 1e-5; a wrong tap, sub-kernel, rotation or mirrored pixel costs O(1). */
#define CONV_TOL 1e-5

struct gcase {
	int h, w, k, cin, cout;
	bool reflect;
	int pad;
};
/* A case with the networks' padding, (k - 1) / 2. */
#define NET_PAD(h, w, k, cin, cout, reflect) {h, w, k, cin, cout, reflect, ((k) - 1) / 2}

static int case_pad(const struct gcase *c) { return c->pad; }

/* in [h][w][cin], hwio [k][k][cin][cout]: the naive value at (oy, ox, co), pad case_pad (the
 * output h + 2 pad - k + 1 high and as wide: one row and column fewer for an even k). */
static double naive(const struct gcase *c, const double *in, const float *hwio, const float *bias, int oy, int ox,
                    int co, double *abs_sum) {
	const int pad = case_pad(c);
	double v = (double)bias[co], a = fabs(v);
	for (int ky = 0; ky < c->k; ky++)
		for (int kx = 0; kx < c->k; kx++) {
			int iy = oy - pad + ky, ix = ox - pad + kx;
			if (c->reflect) {
				iy = naive_reflect(iy, c->h);
				ix = naive_reflect(ix, c->w);
			} else if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) {
				continue;
			}
			for (int ci = 0; ci < c->cin; ci++) {
				const double t = in[((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci] *
				                 (double)hwio[((size_t)(ky * c->k + kx) * (size_t)c->cin + (size_t)ci) *
				                                      (size_t)c->cout + (size_t)co];
				v += t;
				a += fabs(t);
			}
		}
	*abs_sum = a;
	return v;
}

/* One case's data and its naive values, made once and checked on every engine. */
struct gdata {
	const struct gcase *c;
	int oh, ow;
	size_t n_in, n_out, n_w;
	float *in, *hwio, *bias; /* [h][w][cin], [k][k][cin][cout], [cout] */
	double *want, *abs_sum;  /* [oh][ow][cout]: before the ReLU, and the sums of |terms| */
};

static void gdata_make(struct gdata *d, const struct gcase *c, struct nst_rng *r) {
	d->c = c;
	const int pad = case_pad(c);
	d->oh = nst_conv_out_size(c->h, c->k, 1, pad);
	d->ow = nst_conv_out_size(c->w, c->k, 1, pad);
	d->n_in = (size_t)c->h * (size_t)c->w * (size_t)c->cin;
	d->n_out = (size_t)d->oh * (size_t)d->ow * (size_t)c->cout;
	d->n_w = (size_t)c->k * (size_t)c->k * (size_t)c->cin * (size_t)c->cout;
	d->in = galloc(d->n_in);
	d->hwio = galloc(d->n_w);
	d->bias = galloc((size_t)c->cout);
	d->want = xmalloc(d->n_out * sizeof(double));
	d->abs_sum = xmalloc(d->n_out * sizeof(double));
	double *ind = xmalloc(d->n_in * sizeof(double));
	fill_uniform(r, d->in, d->n_in, -1, 1);
	for (size_t i = 0; i < d->n_in; i++)
		ind[i] = d->in[i];
	fill_uniform(r, d->hwio, d->n_w, -1, 1);
	fill_uniform(r, d->bias, (size_t)c->cout, -1, 1);
	for (int oy = 0; oy < d->oh; oy++)
		for (int ox = 0; ox < d->ow; ox++)
			for (int co = 0; co < c->cout; co++) {
				const size_t i = ((size_t)oy * (size_t)d->ow + (size_t)ox) * (size_t)c->cout + (size_t)co;
				d->want[i] = naive(c, ind, d->hwio, d->bias, oy, ox, co, &d->abs_sum[i]);
			}
	free(ind);
}

static void gdata_free(struct gdata *d) {
	free(d->in);
	free(d->hwio);
	free(d->bias);
	free(d->want);
	free(d->abs_sum);
}

static void test_forward(struct test_engine *te, const struct gdata *d, bool relu, double *worst) {
	const struct gcase *c = d->c;
	const struct nst_gemm_kernel *gm = te->e.gemm;
	const struct nst_conv_shape shape = {c->k, c->k, 1, case_pad(c), c->reflect, c->cin, c->cout};
	CHECK(nst_conv_grid_applies(gm, &shape), "k %d does not apply (%s)", c->k, te->label);
	float *out = galloc(d->n_out);
	const size_t packed_n = nst_conv_grid_packed_floats(gm, &shape), staging_n = nst_conv_grid_staging_floats(&shape);
	float *packed = galloc(packed_n), *staging = galloc(staging_n);
	nst_conv_grid_pack(gm, &shape, d->hwio, d->bias, staging, packed);
	CHECK(guard_ok(staging, staging_n) && guard_ok(packed, packed_n), "pack overran (%s)", te->label);
	/* an odd slot size with the ReLU: the slots (the largest layer's scratch apart in a network)
	 * then start at odd floats, and the lanes path's size_t offsets must align themselves */
	engine_scratch(te, nst_conv_grid_scratch_floats(gm, &shape) + (relu ? 1 : 0));
	const struct nst_conv_epilogue ep = {0.0f, INFINITY, NULL, NULL, NULL};
	nst_conv2d_grid(&te->e, &shape, c->h, c->w, d->in, packed, out, relu ? &ep : NULL);
	CHECK(engine_scratch_done(te), "scratch overrun (%s)", te->label);
	CHECK(guard_ok(out, d->n_out), "wrote past the end (%s)", te->label);
	double err = 0.0;
	for (size_t i = 0; i < d->n_out; i++) {
		const double want = relu && d->want[i] < 0.0 ? 0.0 : d->want[i];
		note(&err, isnan(out[i]) ? INFINITY : fabs(out[i] - want) / (d->abs_sum[i] + DBL_MIN));
	}
	CHECK(err <= CONV_TOL, "k %d %s [%d][%d] cin %d cout %d%s (%s): error %.3g > %.3g", c->k,
	      c->reflect ? "reflect" : "zero", c->h, c->w, c->cin, c->cout, relu ? " relu" : "", te->label, err, CONV_TOL);
	note(worst, err);
	free(out);
	free(packed);
	free(staging);
}

int main(void) {
	const uint64_t seed = support_seed("test_conv_winograd_grid");
	struct nst_rng r;
	nst_rng_seed(&r, seed);

	pthreadpool_t pool;
	struct test_engine engines[MAX_ENGINES];
	const int n_engines = support_kernel_engines(engines, MAX_ENGINES, &pool);

	/* Reflection needs more rows and columns than the padding (4 for k = 9). */
	static const struct gcase cases[] = {
	        NET_PAD(1, 1, 9, 3, 16, false),   NET_PAD(2, 5, 9, 16, 3, false),   NET_PAD(5, 5, 9, 3, 16, true),   NET_PAD(7, 11, 9, 16, 3, true),
	        NET_PAD(13, 8, 9, 5, 7, true),    NET_PAD(6, 9, 6, 4, 9, false),    NET_PAD(10, 14, 6, 3, 2, true),  NET_PAD(9, 9, 9, 1, 1, true),
	        NET_PAD(50, 100, 9, 3, 16, true), NET_PAD(52, 98, 9, 16, 3, false), NET_PAD(49, 97, 9, 3, 20, true), NET_PAD(8, 200, 9, 16, 3, true),
	        /* full strips and bands: the layout's largest offsets */
	        NET_PAD(48, 96, 9, 3, 16, true),  NET_PAD(96, 75, 9, 16, 3, false), NET_PAD(48, 54, 9, 32, 3, true),  NET_PAD(97, 27, 9, 32, 5, false),
	        /* strips inside the picture read its rows in place, beside strips that copy them (zero padding,
	         * 32 channels; more than 4 outputs: not the lanes path), and full strips of that path */
	        NET_PAD(8, 200, 9, 16, 5, false), NET_PAD(14, 160, 9, 32, 6, true), NET_PAD(96, 75, 9, 16, 6, false),
	        /* the lanes path: a full strip of 62 (16 -> 3) and of 30 tiles (32 -> 3) over several bands,
	         * 2 strips of 33 and 32 tiles, 4 and 2 outputs, a ring of 2 rows (k = 6) */
	        NET_PAD(100, 186, 9, 16, 3, true), NET_PAD(60, 90, 9, 32, 3, false), NET_PAD(20, 195, 9, 16, 4, true), NET_PAD(35, 64, 6, 16, 2, false),
	        /* other paddings than the networks' (pad 0, k - 1; reflection as wide as the picture), q = 4 */
	        {30, 70, 9, 16, 3, false, 0}, {25, 40, 9, 16, 3, false, 8}, {12, 33, 12, 8, 2, true, 5},
	        {9, 9, 9, 16, 1, true, 8}, {22, 70, 9, 3, 16, true, 0}, {20, 50, 12, 5, 9, false, 11},
	};
	double worst = 0.0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct gdata d;
		gdata_make(&d, &cases[i], &r);
		for (int k = 0; k < n_engines; k++) {
			test_forward(&engines[k], &d, true, &worst);
			test_forward(&engines[k], &d, false, &worst);
		}
		gdata_free(&d);
	}

	/* What it takes: k a multiple of 3 above 3, stride 1, float32 kernels. */
	const struct nst_gemm_kernel *scalar = nst_gemm_kernel_scalar();
	const struct nst_conv_shape k3 = {3, 3, 1, 1, true, 8, 8}, k9s2 = {9, 9, 2, 4, true, 3, 16},
	                            k7 = {7, 7, 1, 3, true, 3, 16}, k9 = {9, 9, 1, 4, true, 3, 16};
	CHECK(!nst_conv_grid_applies(scalar, &k3) && !nst_conv_grid_applies(scalar, &k9s2) &&
	              !nst_conv_grid_applies(scalar, &k7) && nst_conv_grid_applies(scalar, &k9),
	      "the shapes it applies to are wrong");
	printf("errors relative to the sum of |terms|: worst %.3g (limit %.3g) on %d engines\n", worst, CONV_TOL, n_engines);
	if (pool)
		pthreadpool_destroy(pool);
	return check_finish("test_conv_winograd_grid");
}
