/*
 * Operators (src/conv_im2col.c, src/ops.c) against naive references written here in double precision,
 * and every gradient against central finite differences of a double-precision naive loss.
 *
 *   1. nst_conv2d forward: 3x3 s1 zero pad 1, 3x3 s2 reflect pad 1, 9x9 s1 reflect pad 4, 3x3 s1
 *      pad 0, 1x1; with and without bias; every epilogue (NULL, none, ReLU, ReLU + mask_out,
 *      clamp, addend, mask_in, addend + mask_in + mask_out).
 *      (cout <= 4 at stride 1 takes the small-N path: dot kernels over an input band)
 *   2. The input gradient (nst_conv_pack_backward + nst_conv_backward_shape): against a naive
 *      transposed convolution and by the adjoint identity <conv(x), y> == <x, conv_backward(y)>;
 *      with reflection padding (the padded picture's gradient, nst_reflect_pad_backward) also
 *      against finite differences at corners, edges and the centre.
 *   3. 2x2 max / average pooling forward, argmax codes (first maximum wins, ties tested
 *      explicitly), backward (zeros in dropped rows / columns), adjoint identities.
 *   4. nst_mask_apply with and without addend.
 *   5. nst_gram (one chunk and several, i.e. partial Grams summed over slots), nst_style_loss
 *      (value and M), nst_style_grad (overwrite / accumulate), and the whole chain
 *      gram -> M -> F M against finite differences of the double style loss.
 *   6. nst_content_loss and nst_tv_loss: values, gradients (finite differences), accumulate flag;
 *      the tv gradient on the engines' threads has a raster scatter's bits.
 *
 * Engines: the scalar GEMM kernel and the best kernel of this CPU, each on the calling thread
 * (pool NULL) and on a 2-thread pthreadpool, plus every other kernel of nst_kernel_configs
 * (e.g. 6x16, where MR does not divide NR) on the 2-thread pool.  Every output buffer is
 * pre-filled with NaN (so an element left unwritten shows) and followed by guard words (so a
 * write past the end shows).  Max pooling also runs many tiny 2-thread pools to expose threads
 * sharing an argmax byte.  Tolerances are relative to the sum of the magnitudes of the terms;
 * the worst error of each family is printed at the end, with its limit.
 *
 * NST_TEST_SEED=N reproduces a run; the seed is printed first.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthreadpool.h>

#include "check.h"
#include "internal.h"
#include "support.h"

/* ---------------------------------------------------------------------------------------------
 * Buffers (and tests/support.h's guarded ones, random fills)
 * ------------------------------------------------------------------------------------------- */

/* (A loop: GCC's -Wstringop-overflow misreads memcpy sizes after galloc under -fsanitize.) */
static void copy_floats(float *dst, const float *src, size_t n) {
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

/* The adjoint identity of a linear map A: <A x, dy> (*lhs, y = A x) against <x, A^T dy> (*rhs,
 * dx = A^T dy); returns |lhs - rhs| relative to the sum of the terms' magnitudes. */
static double adjoint_gap(const float *x, const float *dx, size_t n_x, const float *y, const float *dy, size_t n_y,
                          double *lhs, double *rhs) {
	double scale = 0.0;
	*lhs = *rhs = 0.0;
	for (size_t i = 0; i < n_y; i++) {
		*lhs += (double)y[i] * (double)dy[i];
		scale += fabs((double)y[i] * (double)dy[i]);
	}
	for (size_t i = 0; i < n_x; i++) {
		*rhs += (double)x[i] * (double)dx[i];
		scale += fabs((double)x[i] * (double)dx[i]);
	}
	return fabs(*lhs - *rhs) / (scale + 1e-30);
}

static double max_abs(const double *p, size_t n) {
	double m = 0.0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs(p[i]));
	return m;
}

/* ---------------------------------------------------------------------------------------------
 * Engines and the tally of worst errors
 * ------------------------------------------------------------------------------------------- */
struct test_engine {
	struct nst_engine e;
	char label[64];
};

#define MAX_ENGINES 12

struct worst {
	double conv, conv_bwd, conv_adjoint;
	double pool_avg, pool_adjoint;
	double gram, style_value, style_value_double, style_m, style_grad, style_fd;
	double content_value, content_fd;
	double tv_value, tv_fd;
};

/* ---------------------------------------------------------------------------------------------
 * Case tables (function-local, shared by the tests and the scratch sizing)
 * ------------------------------------------------------------------------------------------- */
struct conv_case {
	int k, stride, pad; /* square k x k kernel */
	bool reflect;
	int cin, cout, h, w;
	bool bias;
};

/* Forward cases.  Reflection is PyTorch's 'reflect' (edge not repeated); the naive reference
 * reflects once, so every reflect case has pad < size, or size 1 (then every tap reads the single
 * pixel: nst_reflect_index.s special case).  The 9x9 cases have patch rows long enough
 * (k = 81 * cin) that the im2col tile holds only a few dozen pixels: several tiles, and both
 * threads of the 2-thread engines busy, with mask bytes at tile boundaries. */
static const struct conv_case *conv_forward_cases(size_t *count) {
	static const struct conv_case cases[] = {
		/* k  s  pad reflect cin cout  h   w  bias */
		{3, 1, 1, false, 3, 8, 7, 11, true},    /* 3x3 s1 zero pad 1: [7][11][3] -> [7][11][8] */
		{3, 1, 1, false, 3, 9, 50, 45, true},   /* [50][45][3] -> [50][45][9]: two tiles, the second starts mid-row */
		{3, 1, 1, false, 5, 13, 11, 7, false},  /* [11][7][5] -> [11][7][13] */
		{3, 1, 1, false, 17, 16, 2, 7, true},   /* [2][7][17] -> [2][7][16] */
		{3, 1, 1, false, 8, 5, 1, 1, true},     /* [1][1][8] -> [1][1][5] */
		{3, 1, 1, false, 13, 17, 1, 2, true},   /* [1][2][13] -> [1][2][17] */
		{3, 1, 1, false, 64, 8, 11, 11, true},  /* [11][11][64] -> [11][11][8]: k = 576, several tiles */
		{3, 2, 1, true, 3, 16, 11, 7, true},    /* 3x3 s2 reflect pad 1: [11][7][3] -> [6][4][16] */
		{3, 2, 1, true, 16, 17, 7, 7, false},   /* [7][7][16] -> [4][4][17] */
		{3, 2, 1, true, 5, 8, 2, 1, true},      /* [2][1][5] -> [1][1][8] */
		{3, 2, 1, true, 8, 13, 1, 11, true},    /* [1][11][8] -> [1][6][13] */
		{3, 1, 1, true, 13, 8, 7, 2, true},     /* 3x3 s1 reflect pad 1: [7][2][13] -> [7][2][8] */
		{9, 1, 4, true, 3, 16, 7, 5, true},     /* 9x9 s1 reflect pad 4: [7][5][3] -> [7][5][16] */
		{9, 1, 4, true, 13, 3, 11, 7, true},    /* [11][7][13] -> [11][7][3]: k = 1053, several tiles */
		{9, 1, 4, true, 17, 9, 6, 9, false},    /* [6][9][17] -> [6][9][9]: k = 1377, several tiles */
		{3, 1, 0, false, 8, 8, 7, 5, true},     /* 3x3 s1 pad 0 (valid): [7][5][8] -> [5][3][8] */
		{1, 1, 0, false, 16, 8, 7, 11, true},   /* 1x1: [7][11][16] -> [7][11][8] */
		{1, 1, 0, false, 5, 17, 1, 1, true},    /* [1][1][5] -> [1][1][17] */
		{1, 1, 0, false, 17, 13, 2, 3, false},  /* [2][3][17] -> [2][3][13] */
		{1, 1, 0, false, 3, 3, 11, 13, true},   /* [11][13][3] -> [11][13][3] */
		{1, 1, 0, false, 16, 16, 61, 67, true}, /* [61][67][16] -> [61][67][16]: in place too (two 3072-pixel blocks) */
		{1, 1, 0, false, 40, 40, 5, 7, false},  /* [5][7][40] -> [5][7][40]: in place, several GEMM panels */
		/* Small-N path (cout <= 4, stride 1: dot kernels on an input band): every cout, both
		 * paddings, rows that end inside a tile, bands wider than the picture. */
		{3, 1, 1, false, 64, 3, 13, 37, true},  /* [13][37][64] -> [13][37][3]: conv1_1's gradient shape, k = 576 */
		{9, 1, 4, true, 32, 3, 21, 23, true},   /* [21][23][32] -> [21][23][3]: the fast networks' last layer */
		{3, 1, 1, false, 5, 1, 7, 9, true},     /* [7][9][5] -> [7][9][1] */
		{3, 1, 1, true, 7, 2, 9, 5, false},     /* [9][5][7] -> [9][5][2] */
		{3, 1, 1, false, 6, 4, 5, 19, true},    /* [5][19][6] -> [5][19][4] */
		{5, 1, 2, false, 3, 3, 4, 3, true},     /* [4][3][3] -> [4][3][3]: band past both edges */
		{3, 1, 1, true, 4, 3, 1, 6, true},      /* [1][6][4] -> [1][6][3]: reflection of a single row */
	};
	*count = sizeof(cases) / sizeof(cases[0]);
	return cases;
}

/* Input-gradient cases: stride 1, zero padding (all that nst_conv_pack_backward supports). */
static const struct conv_case *conv_backward_cases(size_t *count) {
	static const struct conv_case cases[] = {
		/* k  s  pad reflect cin cout  h   w  bias */
		{3, 1, 1, false, 3, 8, 7, 11, false},  /* x [7][11][3], y [7][11][8] */
		{3, 1, 1, false, 13, 5, 11, 7, false}, /* x [11][7][13], y [11][7][5] */
		{3, 1, 1, false, 17, 16, 2, 1, false}, /* x [2][1][17], y [2][1][16] */
		{3, 1, 1, false, 8, 17, 1, 7, false},  /* x [1][7][8], y [1][7][17] */
		{3, 1, 1, false, 16, 13, 5, 5, false}, /* x [5][5][16], y [5][5][13] */
		{3, 1, 1, false, 5, 3, 1, 1, false},   /* x [1][1][5], y [1][1][3] */
		{3, 1, 1, false, 64, 8, 9, 9, false},  /* x [9][9][64], y [9][9][8]: gradient k = 72 */
		{3, 1, 1, false, 8, 64, 9, 11, false}, /* x [9][11][8], y [9][11][64]: gradient k = 576, several tiles */
		{3, 1, 0, false, 5, 8, 7, 6, false},   /* pad 0: x [7][6][5], y [5][4][8]; gradient pad 2 */
		{1, 1, 0, false, 17, 13, 3, 7, false}, /* 1x1: x [3][7][17], y [3][7][13] */
		/* Gradients with cin <= 4 run on the small-N path. */
		{3, 1, 1, false, 3, 64, 13, 37, false}, /* conv1_1: x [13][37][3], y [13][37][64]; gradient k = 576 */
		{3, 1, 1, false, 1, 8, 6, 9, false},    /* x [6][9][1], y [6][9][8] */
		{3, 1, 1, false, 4, 5, 7, 7, false},    /* x [7][7][4], y [7][7][5] */
		{3, 1, 0, false, 2, 6, 7, 6, false},    /* pad 0: x [7][6][2], y [5][4][6]; gradient pad 2 */
	};
	*count = sizeof(cases) / sizeof(cases[0]);
	return cases;
}

static struct nst_conv_shape conv_shape(const struct conv_case *c) {
	struct nst_conv_shape s = {
		.kernel_h = c->k,
		.kernel_w = c->k,
		.stride = c->stride,
		.pad = c->pad,
		.reflect = c->reflect,
		.in_channels = c->cin,
		.out_channels = c->cout,
	};
	return s;
}

struct style_case {
	size_t n; /* pixels: H * W */
	int c;
	float weight;
};

/* Gram / style cases: F [n][c].  nst_gram splits the pixels into equal runs, one per slot, each in
 * chunks of 96 pixels: the 2-thread engines sum two partial Grams when n > 96; c = 67 is ragged for
 * every MR and NR; at c = 260 the parts are added up and M is packed on the pool's threads. */
static const struct style_case *style_cases(size_t *count) {
	static const struct style_case cases[] = {
		{77, 3, 1.0f},     /* [7*11][3] */
		{13, 5, 250.0f},   /* [13][5] */
		{1, 8, 1.0f},      /* [1][8] */
		{14, 17, 1e4f},    /* [2*7][17] */
		{77, 16, 1.0f},    /* [11*7][16] */
		{3, 13, 0.5f},     /* [3][13] */
		{9, 1, 1.0f},      /* [9][1] */
		{64, 8, 1.0f},     /* [8*8][8]: n a multiple of 8 */
		{21, 33, 1e3f},    /* [3*7][33]: ragged panels for every NR */
		{400, 64, 1e3f},   /* [400][64]: runs of 200 pixels on two threads: chunks of 96, 96, 8 */
		{370, 67, 1e4f},   /* [370][67]: runs of 185: 96 + 89 */
		{16, 182, 1e3f},   /* [16][182]: c^2 >= NST_SUM_PARALLEL_MIN, the loss on the pool's threads */
		{100, 260, 1e3f},  /* [100][260]: c^2 >= the parallel finish's and M packing's minimum */
	};
	*count = sizeof(cases) / sizeof(cases[0]);
	return cases;
}

/* nst_tap_grad cases: n pixels, the tap cs -> ct (ragged: neither a multiple of MR or NR); 450
 * pixels of 128 channels: runs of 225 pixels for the Gram on two threads (chunks of 96, 96, 33),
 * eight gradient blocks of 60 or 64 rows (MR 6 or 8; the last ragged); 120 pixels of 260: the
 * Gram's parts added up and M packed on the pool's threads. */
struct tap_case {
	size_t n;
	int cs, ct;
};

static const struct tap_case *tap_cases(size_t *count) {
	static const struct tap_case cases[] = {
		{37, 5, 19}, {1, 3, 8}, {200, 16, 64}, {3, 33, 40}, {450, 32, 128}, {129, 17, 9}, {50, 6, 3}, {120, 40, 260},
	};
	*count = sizeof(cases) / sizeof(cases[0]);
	return cases;
}

/* Per-thread scratch for gemm: the largest conv tile of every shape used, nst_gram's need, and
 * mr * c for nst_style_grad's accumulate mode. */
static size_t scratch_floats_for(const struct nst_gemm_kernel *gemm) {
	size_t need = 0, n;
	const struct style_case *sc = style_cases(&n);
	for (size_t i = 0; i < n; i++) {
		const size_t g = nst_gram_scratch_floats(gemm, sc[i].c), acc = (size_t)gemm->mr * (size_t)sc[i].c;
		need = g > need ? g : need;
		need = acc > need ? acc : need;
	}
	const struct tap_case *tc = tap_cases(&n);
	for (size_t i = 0; i < n; i++) {
		const struct nst_conv_shape tap = {1, 1, 1, 0, false, tc[i].cs, tc[i].ct};
		const size_t t = nst_tap_grad_scratch_floats(gemm, tc[i].ct), g = nst_gram_scratch_floats(gemm, tc[i].ct);
		const size_t f = nst_conv_scratch_floats(gemm, &tap);
		need = t > need ? t : need;
		need = g > need ? g : need;
		need = f > need ? f : need;
	}
	const struct conv_case *fc = conv_forward_cases(&n);
	for (size_t i = 0; i < n; i++) {
		const struct nst_conv_shape s = conv_shape(&fc[i]);
		const size_t f = nst_conv_scratch_floats(gemm, &s);
		need = f > need ? f : need;
	}
	const struct conv_case *bc = conv_backward_cases(&n);
	for (size_t i = 0; i < n; i++) {
		const struct nst_conv_shape s = conv_shape(&bc[i]);
		const struct nst_conv_shape b = nst_conv_backward_shape(&s);
		const size_t f1 = nst_conv_scratch_floats(gemm, &s), f2 = nst_conv_scratch_floats(gemm, &b);
		need = f1 > need ? f1 : need;
		need = f2 > need ? f2 : need;
	}
	return need;
}

/* ---------------------------------------------------------------------------------------------
 * 1. Convolution forward
 * ------------------------------------------------------------------------------------------- */

/* ref [oh][ow][cout] = bias + sum in * w in double; mag = |bias| + sum |in * w| (the error scale). */
static void naive_conv(const struct conv_case *c, const float *in, const float *hwio, const float *bias, double *ref,
                       double *mag) {
	const int oh = nst_conv_out_size(c->h, c->k, c->stride, c->pad);
	const int ow = nst_conv_out_size(c->w, c->k, c->stride, c->pad);
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int co = 0; co < c->cout; co++) {
				double s = bias ? bias[co] : 0.0, m = bias ? fabs(bias[co]) : 0.0;
				for (int ky = 0; ky < c->k; ky++)
					for (int kx = 0; kx < c->k; kx++) {
						int iy = oy * c->stride - c->pad + ky, ix = ox * c->stride - c->pad + kx;
						if (c->reflect) {
							iy = naive_reflect(iy, c->h);
							ix = naive_reflect(ix, c->w);
						} else if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) {
							continue;
						}
						for (int ci = 0; ci < c->cin; ci++) {
							const double p = (double)in[((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci] *
							                 (double)hwio[(((size_t)ky * (size_t)c->k + (size_t)kx) * (size_t)c->cin + (size_t)ci) *
							                                  (size_t)c->cout + (size_t)co];
							s += p;
							m += fabs(p);
						}
					}
				const size_t o = ((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c->cout + (size_t)co;
				ref[o] = s;
				mag[o] = m;
			}
}

enum epilogue_variant {
	EP_NULL,          /* epilogue pointer NULL */
	EP_NONE,          /* min -inf, max +inf, nothing else */
	EP_RELU,          /* min 0 */
	EP_RELU_MASK_OUT, /* min 0, mask_out */
	EP_CLAMP,         /* min -0.25, max 0.5, mask_out */
	EP_ADDEND,        /* addend */
	EP_MASK_IN,       /* mask_in */
	EP_BACKWARD,      /* addend + mask_in + mask_out (as in a backward pass through a ReLU) */
	EP_COUNT
};

static const char *epilogue_name(int v) {
	switch (v) {
	case EP_NULL: return "NULL";
	case EP_NONE: return "none";
	case EP_RELU: return "relu";
	case EP_RELU_MASK_OUT: return "relu+mask_out";
	case EP_CLAMP: return "clamp+mask_out";
	case EP_ADDEND: return "addend";
	case EP_MASK_IN: return "mask_in";
	case EP_BACKWARD: return "addend+mask_in+mask_out";
	}
	return "?";
}

/* Relative error allowed against mag (|bias| + sum |products| + |addend|), in float. */
#define CONV_TOL 2e-5

static void test_conv_forward_case(const struct test_engine *te, const struct conv_case *c, struct nst_rng *r,
                                   struct worst *worst) {
	const struct nst_engine *e = &te->e;
	const struct nst_conv_shape shape = conv_shape(c);
	const int oh = nst_conv_out_size(c->h, c->k, c->stride, c->pad);
	const int ow = nst_conv_out_size(c->w, c->k, c->stride, c->pad);
	const size_t n_in = (size_t)c->h * (size_t)c->w * (size_t)c->cin;
	const size_t n_w = (size_t)c->k * (size_t)c->k * (size_t)c->cin * (size_t)c->cout;
	const size_t n_out = (size_t)oh * (size_t)ow * (size_t)c->cout, mbytes = nst_mask_bytes(n_out);

	float *in = xmalloc(n_in * sizeof(float)), *hwio = xmalloc(n_w * sizeof(float));
	float *bias = xmalloc((size_t)c->cout * sizeof(float)), *addend = xmalloc(n_out * sizeof(float));
	uint8_t *mask_in = xmalloc(mbytes);
	fill_uniform(r, in, n_in, -1.0, 1.0);
	fill_uniform(r, hwio, n_w, -1.0, 1.0);
	fill_uniform(r, bias, (size_t)c->cout, -1.0, 1.0);
	fill_uniform(r, addend, n_out, -2.0, 2.0);
	fill_bytes(r, mask_in, mbytes);

	const size_t packed_floats = nst_conv_packed_floats(e->gemm, &shape);
	float *packed = galloc(packed_floats);
	nst_conv_pack_forward(e->gemm, &shape, hwio, c->bias ? bias : NULL, packed);
	CHECK(guard_ok(packed, packed_floats), "%s: conv %dx%d cin %d cout %d: pack_forward wrote past %zu floats",
	      te->label, c->k, c->k, c->cin, c->cout, packed_floats);

	double *ref = xmalloc(n_out * sizeof(double)), *mag = xmalloc(n_out * sizeof(double));
	naive_conv(c, in, hwio, c->bias ? bias : NULL, ref, mag);

	for (int v = 0; v < EP_COUNT; v++) {
		float *out = galloc(n_out);
		uint8_t *mask_out = gbytes(mbytes, 0xa5);
		struct nst_conv_epilogue ep = {-INFINITY, INFINITY, NULL, NULL, NULL};
		if (v == EP_RELU || v == EP_RELU_MASK_OUT)
			ep.min = 0.0f;
		if (v == EP_CLAMP) {
			ep.min = -0.25f;
			ep.max = 0.5f;
		}
		if (v == EP_RELU_MASK_OUT || v == EP_CLAMP || v == EP_BACKWARD)
			ep.mask_out = mask_out;
		if (v == EP_ADDEND || v == EP_BACKWARD)
			ep.addend = addend;
		if (v == EP_MASK_IN || v == EP_BACKWARD)
			ep.mask_in = mask_in;
		nst_conv2d(e, &shape, c->h, c->w, in, packed, out, v == EP_NULL ? NULL : &ep);

		/* Order (conv_im2col.c): clamp (in the GEMM), += addend, mask_in, then mask_out = value > 0. */
		double err = 0.0;
		size_t bad = SIZE_MAX, bad_exact = SIZE_MAX, bad_bits = SIZE_MAX;
		for (size_t i = 0; i < n_out; i++) {
			double x = fmin(fmax(ref[i], (double)ep.min), (double)ep.max), m = mag[i];
			if (ep.addend) {
				x += ep.addend[i];
				m += fabs(ep.addend[i]);
			}
			const bool kept = !ep.mask_in || nst_mask_get(ep.mask_in, i);
			if (!kept)
				x = 0.0;
			const double ei = fabs((double)out[i] - x) / (m + 1e-30);
			if (!(ei <= err))
				err = ei;
			if (!(ei <= CONV_TOL) && bad == SIZE_MAX)
				bad = i;
			/* Exact properties: masked-out values are 0, clamped values stay inside the clamp. */
			const bool exact = kept ? (ep.addend || (out[i] >= ep.min && out[i] <= ep.max)) : out[i] == 0.0f;
			if (!exact && bad_exact == SIZE_MAX)
				bad_exact = i;
			if (ep.mask_out && nst_mask_get(mask_out, i) != (out[i] > 0.0f) && bad_bits == SIZE_MAX)
				bad_bits = i;
		}
		note(&worst->conv, err);
		CHECK(bad == SIZE_MAX, "%s: conv %dx%d s%d pad %d %s cin %d cout %d %dx%d bias %d epilogue %s: worst rel err %.3g, "
		      "first bad [%zu] got %.9g want %.9g", te->label, c->k, c->k, c->stride, c->pad, c->reflect ? "reflect" : "zero",
		      c->cin, c->cout, c->h, c->w, c->bias, epilogue_name(v), err, bad == SIZE_MAX ? 0 : bad,
		      bad == SIZE_MAX ? 0.0 : (double)out[bad], bad == SIZE_MAX ? 0.0 : ref[bad]);
		CHECK(bad_exact == SIZE_MAX, "%s: conv %dx%d cin %d cout %d %dx%d epilogue %s: [%zu] = %.9g breaks the clamp / mask",
		      te->label, c->k, c->k, c->cin, c->cout, c->h, c->w, epilogue_name(v), bad_exact,
		      bad_exact == SIZE_MAX ? 0.0 : (double)out[bad_exact]);
		if (ep.mask_out) {
			CHECK(bad_bits == SIZE_MAX, "%s: conv %dx%d cin %d cout %d %dx%d epilogue %s: mask_out bit %zu != (%.9g > 0)",
			      te->label, c->k, c->k, c->cin, c->cout, c->h, c->w, epilogue_name(v), bad_bits,
			      bad_bits == SIZE_MAX ? 0.0 : (double)out[bad_bits]);
		}
		CHECK(guard_ok(out, n_out) && gbytes_ok(mask_out, mbytes),
		      "%s: conv %dx%d cin %d cout %d %dx%d epilogue %s: write past the output or the mask", te->label, c->k, c->k,
		      c->cin, c->cout, c->h, c->w, epilogue_name(v));
		/* In place (out = in: a 1x1 convolution keeping the channels, on the GEMM kernels): the same
		 * bits as into another buffer. */
		const bool in_place = c->k == 1 && c->stride == 1 && c->pad == 0 && c->cin == c->cout &&
		                      !nst_conv_small_n(nst_gemm_kernel_for_columns(e->gemm, (size_t)c->cout), &shape) &&
		                      !ep.addend;
		if (in_place) {
			float *same = galloc(n_in);
			memcpy(same, in, n_in * sizeof(float));
			uint8_t *mask_same = gbytes(mbytes, 0xa5);
			if (ep.mask_out)
				ep.mask_out = mask_same;
			nst_conv2d(e, &shape, c->h, c->w, same, packed, same, v == EP_NULL ? NULL : &ep);
			CHECK(!memcmp(same, out, n_out * sizeof(float)) && (!ep.mask_out || !memcmp(mask_same, mask_out, mbytes)) &&
			              guard_ok(same, n_in),
			      "%s: conv 1x1 cin %d %dx%d epilogue %s: in place differs from out of place", te->label, c->cin,
			      c->h, c->w, epilogue_name(v));
			free(same);
			free(mask_same);
		}
		free(out);
		free(mask_out);
	}
	free(in);
	free(hwio);
	free(bias);
	free(addend);
	free(mask_in);
	free(packed);
	free(ref);
	free(mag);
}

/* ---------------------------------------------------------------------------------------------
 * 2. Convolution input gradient
 * ------------------------------------------------------------------------------------------- */
static void test_conv_backward_case(const struct test_engine *te, const struct conv_case *c, struct nst_rng *r,
                                    struct worst *worst) {
	const struct nst_engine *e = &te->e;
	const struct nst_conv_shape shape = conv_shape(c);
	const struct nst_conv_shape b = nst_conv_backward_shape(&shape);
	CHECK(b.kernel_h == c->k && b.kernel_w == c->k && b.stride == 1 && !b.reflect && b.in_channels == c->cout &&
	          b.out_channels == c->cin && b.pad == c->k - 1 - c->pad,
	      "backward shape of %dx%d pad %d cin %d cout %d: %dx%d s%d pad %d reflect %d cin %d cout %d", c->k, c->k, c->pad,
	      c->cin, c->cout, b.kernel_h, b.kernel_w, b.stride, b.pad, b.reflect, b.in_channels, b.out_channels);
	const int oh = nst_conv_out_size(c->h, c->k, 1, c->pad), ow = nst_conv_out_size(c->w, c->k, 1, c->pad);
	CHECK(nst_conv_out_size(oh, b.kernel_h, 1, b.pad) == c->h && nst_conv_out_size(ow, b.kernel_w, 1, b.pad) == c->w,
	      "backward of %dx%d pad %d on %dx%d does not map %dx%d back", c->k, c->k, c->pad, c->h, c->w, oh, ow);
	const size_t n_x = (size_t)c->h * (size_t)c->w * (size_t)c->cin, n_y = (size_t)oh * (size_t)ow * (size_t)c->cout;
	const size_t n_w = (size_t)c->k * (size_t)c->k * (size_t)c->cin * (size_t)c->cout;

	float *x = xmalloc(n_x * sizeof(float)), *dy = xmalloc(n_y * sizeof(float)), *hwio = xmalloc(n_w * sizeof(float));
	fill_uniform(r, x, n_x, -1.0, 1.0);
	fill_uniform(r, dy, n_y, -1.0, 1.0);
	fill_uniform(r, hwio, n_w, -1.0, 1.0);

	const size_t pf = nst_conv_packed_floats(e->gemm, &shape), pb = nst_conv_packed_floats(e->gemm, &b);
	float *packed_f = galloc(pf), *packed_b = galloc(pb);
	nst_conv_pack_forward(e->gemm, &shape, hwio, NULL, packed_f);
	nst_conv_pack_backward(e->gemm, &shape, hwio, packed_b);
	CHECK(guard_ok(packed_f, pf) && guard_ok(packed_b, pb), "%s: packing wrote past nst_conv_packed_floats", te->label);

	float *dx = galloc(n_x), *y = galloc(n_y);
	nst_conv2d(e, &b, oh, ow, dy, packed_b, dx, NULL);
	nst_conv2d(e, &shape, c->h, c->w, x, packed_f, y, NULL);
	CHECK(guard_ok(dx, n_x) && guard_ok(y, n_y), "%s: conv backward %dx%d cin %d cout %d: write past the output",
	      te->label, c->k, c->k, c->cin, c->cout);

	/* (a) naive transposed convolution: scatter every dy through the kernel. */
	double *ref = calloc(n_x, sizeof(double)), *mag = calloc(n_x, sizeof(double));
	if (!ref || !mag) {
		fprintf(stderr, "test_ops: out of memory\n");
		exit(1);
	}
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ky = 0; ky < c->k; ky++)
				for (int kx = 0; kx < c->k; kx++) {
					const int iy = oy - c->pad + ky, ix = ox - c->pad + kx;
					if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
						continue;
					for (int ci = 0; ci < c->cin; ci++)
						for (int co = 0; co < c->cout; co++) {
							const double p =
								(double)hwio[(((size_t)ky * (size_t)c->k + (size_t)kx) * (size_t)c->cin + (size_t)ci) * (size_t)c->cout + (size_t)co] *
								(double)dy[((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c->cout + (size_t)co];
							const size_t i = ((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci;
							ref[i] += p;
							mag[i] += fabs(p);
						}
				}
	double err = 0.0;
	size_t bad = SIZE_MAX;
	for (size_t i = 0; i < n_x; i++) {
		const double ei = fabs((double)dx[i] - ref[i]) / (mag[i] + 1e-30);
		if (!(ei <= err))
			err = ei;
		if (!(ei <= CONV_TOL) && bad == SIZE_MAX)
			bad = i;
	}
	note(&worst->conv_bwd, err);
	CHECK(bad == SIZE_MAX, "%s: conv backward %dx%d pad %d cin %d cout %d %dx%d vs naive transposed conv: worst rel err %.3g, "
	      "first bad [%zu] got %.9g want %.9g", te->label, c->k, c->k, c->pad, c->cin, c->cout, c->h, c->w, err,
	      bad == SIZE_MAX ? 0 : bad, bad == SIZE_MAX ? 0.0 : (double)dx[bad], bad == SIZE_MAX ? 0.0 : ref[bad]);

	/* (b) adjoint identity <conv(x), dy> == <x, conv_backward(dy)> (no bias). */
	double lhs, rhs;
	const double adj = adjoint_gap(x, dx, n_x, y, dy, n_y, &lhs, &rhs);
	note(&worst->conv_adjoint, adj);
	CHECK(adj <= 1e-5, "%s: conv %dx%d pad %d cin %d cout %d %dx%d: <conv x, y> = %.12g but <x, conv_backward y> = %.12g "
	      "(rel %.3g)", te->label, c->k, c->k, c->pad, c->cin, c->cout, c->h, c->w, lhs, rhs, adj);

	free(x);
	free(dy);
	free(hwio);
	free(packed_f);
	free(packed_b);
	free(dx);
	free(y);
	free(ref);
	free(mag);
}

/* 2b. The input gradient of a stride-1, reflection-padded convolution, as src/net_vgg.c computes it:
 * the gradient convolution over the padded picture (backward shape, pad k - 1), then
 * nst_reflect_pad_backward folding every padded pixel onto the pixel it mirrors.  Against (a) a
 * naive scatter through the kernel with the naive reflection, (b) the adjoint identity with the
 * engine's reflect forward, (c) central finite differences of the double loss <conv(x), dy> at a
 * few pixels, edges and corners included. */
static double naive_reflect_conv_loss(const struct conv_case *c, const double *x, const float *hwio, const float *dy) {
	double l = 0.0;
	for (int oy = 0; oy < c->h; oy++)
		for (int ox = 0; ox < c->w; ox++)
			for (int co = 0; co < c->cout; co++) {
				double v = 0.0;
				for (int ky = 0; ky < c->k; ky++)
					for (int kx = 0; kx < c->k; kx++) {
						const int iy = naive_reflect(oy - c->pad + ky, c->h), ix = naive_reflect(ox - c->pad + kx, c->w);
						for (int ci = 0; ci < c->cin; ci++)
							v += x[((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci] *
							     (double)hwio[(((size_t)ky * (size_t)c->k + (size_t)kx) * (size_t)c->cin + (size_t)ci) * (size_t)c->cout + (size_t)co];
					}
				l += v * (double)dy[((size_t)oy * (size_t)c->w + (size_t)ox) * (size_t)c->cout + (size_t)co];
			}
	return l;
}

/* 2c. nst_reflect_pad_backward_masked: the fold, the compaction and the mask (or only the addend,
 * or neither) on the engine's threads, against the serial fold then the mask applied naively, bit
 * for bit.  Pictures large enough to be split over the threads (several items; tall ones, whose
 * items copy more rows before the compaction; channel counts that put an item's first value
 * inside a mask byte), on the engine's own scratch sized by
 * nst_reflect_pad_backward_scratch_floats, and on a 3-thread pool. */
static void test_reflect_fold_parallel(const struct nst_engine *base, const char *label, int h, int w, int c, int pad,
                                       bool with_mask, bool with_addend, struct nst_rng *r) {
	const size_t n = (size_t)h * (size_t)w * (size_t)c;
	const size_t n_p = (size_t)(h + 2 * pad) * (size_t)(w + 2 * pad) * (size_t)c;
	float *g0 = xmalloc(n_p * sizeof(float)), *ref = xmalloc(n_p * sizeof(float)), *add = xmalloc(n * sizeof(float));
	uint8_t *mask = xmalloc(nst_mask_bytes(n));
	fill_uniform(r, g0, n_p, -1.0, 1.0);
	fill_uniform(r, add, n, -1.0, 1.0);
	for (size_t i = 0; i < nst_mask_bytes(n); i++)
		mask[i] = (uint8_t)(nst_rng_next(r) >> 56);
	memcpy(ref, g0, n_p * sizeof(float));
	nst_reflect_pad_backward(h, w, c, pad, ref);
	for (size_t i = 0; i < n; i++) {
		const float v = with_addend ? ref[i] + add[i] : ref[i];
		ref[i] = !with_mask || nst_mask_get(mask, i) ? v : 0.0f;
	}
	struct nst_engine e = *base;
	e.scratch_floats = nst_reflect_pad_backward_scratch_floats(h, w, c, pad);
	e.scratch = galloc((size_t)(e.threads > 0 ? e.threads : 1) * e.scratch_floats);
	float *got = galloc(n_p);
	memcpy(got, g0, n_p * sizeof(float));
	nst_reflect_pad_backward_masked(&e, h, w, c, pad, got, with_mask ? mask : NULL, with_addend ? add : NULL);
	CHECK(guard_ok(got, n_p) && guard_ok(e.scratch, (size_t)(e.threads > 0 ? e.threads : 1) * e.scratch_floats),
	      "%s: reflect fold %dx%dx%d pad %d: write past its buffers", label, h, w, c, pad);
	size_t bad = n;
	for (size_t i = 0; i < n && bad == n; i++)
		if (memcmp(&got[i], &ref[i], sizeof(float)) != 0)
			bad = i;
	CHECK(bad == n, "%s: reflect fold %dx%dx%d pad %d mask %d addend %d: value %zu (row %zu) is %.9g, serial %.9g",
	      label, h, w, c, pad, with_mask, with_addend, bad, bad / ((size_t)w * (size_t)c), bad < n ? (double)got[bad] : 0.0,
	      bad < n ? (double)ref[bad] : 0.0);
	free(got);
	free(e.scratch);
	free(g0);
	free(ref);
	free(add);
	free(mask);
}

static void test_reflect_backward_case(const struct test_engine *te, const struct conv_case *c, struct nst_rng *r,
                                       struct worst *worst) {
	const struct nst_engine *e = &te->e;
	const struct nst_conv_shape shape = conv_shape(c);
	struct nst_conv_shape b = nst_conv_backward_shape(&shape);
	b.pad = c->k - 1; /* the full gradient: [h + 2 pad][w + 2 pad][cin] */
	const int ph = c->h + 2 * c->pad, pw = c->w + 2 * c->pad;
	CHECK(nst_conv_out_size(c->h, b.kernel_h, 1, b.pad) == ph && nst_conv_out_size(c->w, b.kernel_w, 1, b.pad) == pw,
	      "reflect backward of %dx%d pad %d does not give the padded picture", c->k, c->k, c->pad);
	const size_t n_x = (size_t)c->h * (size_t)c->w * (size_t)c->cin, n_y = (size_t)c->h * (size_t)c->w * (size_t)c->cout;
	const size_t n_p = (size_t)ph * (size_t)pw * (size_t)c->cin;
	const size_t n_w = (size_t)c->k * (size_t)c->k * (size_t)c->cin * (size_t)c->cout;
	float *x = xmalloc(n_x * sizeof(float)), *dy = xmalloc(n_y * sizeof(float)), *hwio = xmalloc(n_w * sizeof(float));
	fill_uniform(r, x, n_x, -1.0, 1.0);
	fill_uniform(r, dy, n_y, -1.0, 1.0);
	fill_uniform(r, hwio, n_w, -1.0, 1.0);
	float *packed_f = galloc(nst_conv_packed_floats(e->gemm, &shape)), *packed_b = galloc(nst_conv_packed_floats(e->gemm, &b));
	nst_conv_pack_forward(e->gemm, &shape, hwio, NULL, packed_f);
	nst_conv_pack_backward(e->gemm, &shape, hwio, packed_b);
	float *dx = galloc(n_p), *y = galloc(n_y);
	nst_conv2d(e, &b, c->h, c->w, dy, packed_b, dx, NULL);
	nst_reflect_pad_backward(c->h, c->w, c->cin, c->pad, dx);
	nst_conv2d(e, &shape, c->h, c->w, x, packed_f, y, NULL);
	CHECK(guard_ok(dx, n_p) && guard_ok(y, n_y), "%s: reflect conv: write past the output", te->label);

	/* (a) naive: every dy scattered through the kernel onto the reflected input pixel. */
	double *ref = calloc(n_x, sizeof(double)), *mag = calloc(n_x, sizeof(double)), *xd = calloc(n_x, sizeof(double));
	if (!ref || !mag || !xd) {
		fprintf(stderr, "test_ops: out of memory\n");
		exit(1);
	}
	for (int oy = 0; oy < c->h; oy++)
		for (int ox = 0; ox < c->w; ox++)
			for (int ky = 0; ky < c->k; ky++)
				for (int kx = 0; kx < c->k; kx++) {
					const int iy = naive_reflect(oy - c->pad + ky, c->h), ix = naive_reflect(ox - c->pad + kx, c->w);
					for (int ci = 0; ci < c->cin; ci++)
						for (int co = 0; co < c->cout; co++) {
							const double p =
								(double)hwio[(((size_t)ky * (size_t)c->k + (size_t)kx) * (size_t)c->cin + (size_t)ci) * (size_t)c->cout + (size_t)co] *
								(double)dy[((size_t)oy * (size_t)c->w + (size_t)ox) * (size_t)c->cout + (size_t)co];
							const size_t i = ((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci;
							ref[i] += p;
							mag[i] += fabs(p);
						}
				}
	double err = 0.0;
	for (size_t i = 0; i < n_x; i++) {
		const double ei = fabs((double)dx[i] - ref[i]) / (mag[i] + 1e-30);
		err = ei > err || ei != ei ? ei : err;
	}
	note(&worst->conv_bwd, err);
	CHECK(err <= CONV_TOL, "%s: reflect conv backward %dx%d cin %d cout %d %dx%d vs naive: worst rel err %.3g", te->label,
	      c->k, c->k, c->cin, c->cout, c->h, c->w, err);
	/* (b) adjoint identity with the engine's reflect forward. */
	double lhs, rhs;
	const double adj = adjoint_gap(x, dx, n_x, y, dy, n_y, &lhs, &rhs);
	note(&worst->conv_adjoint, adj);
	CHECK(adj <= 1e-5, "%s: reflect conv: <conv x, y> = %.12g, <x, backward y> = %.12g (rel %.3g)", te->label, lhs, rhs,
	      adj);
	/* (c) finite differences of the double loss at the corners, an edge pixel and the centre. */
	for (size_t i = 0; i < n_x; i++)
		xd[i] = x[i];
	const int probes[][2] = {{0, 0}, {c->h - 1, c->w - 1}, {0, c->w / 2}, {c->h / 2, 0}, {c->h / 2, c->w / 2}};
	for (size_t q = 0; q < sizeof probes / sizeof probes[0]; q++) {
		const size_t i = ((size_t)probes[q][0] * (size_t)c->w + (size_t)probes[q][1]) * (size_t)c->cin + (size_t)(q % (size_t)c->cin);
		const double step = 1e-3, keep = xd[i];
		xd[i] = keep + step;
		const double up = naive_reflect_conv_loss(c, xd, hwio, dy);
		xd[i] = keep - step;
		const double down = naive_reflect_conv_loss(c, xd, hwio, dy);
		xd[i] = keep;
		const double fd = (up - down) / (2 * step);
		CHECK(fabs(fd - (double)dx[i]) <= 1e-4 * (mag[i] + 1e-12),
		      "%s: reflect conv backward at (%d, %d): finite difference %.9g, gradient %.9g", te->label, probes[q][0],
		      probes[q][1], fd, (double)dx[i]);
	}
	free(x);
	free(dy);
	free(hwio);
	free(packed_f);
	free(packed_b);
	free(dx);
	free(y);
	free(ref);
	free(mag);
	free(xd);
}

/* ---------------------------------------------------------------------------------------------
 * 3. Pooling
 * ------------------------------------------------------------------------------------------- */
static unsigned argmax_code(const uint8_t *argmax, size_t q) { return (argmax[q / 4] >> ((q % 4) * 2)) & 3u; }

/* The 4 inputs of window (oy, ox), channel ch, in row-major order. */
static void window(int w, int c, const float *in, int oy, int ox, int ch, float v[4]) {
	const size_t cc = (size_t)c, i0 = ((size_t)(2 * oy) * (size_t)w + (size_t)(2 * ox)) * cc + (size_t)ch;
	v[0] = in[i0];
	v[1] = in[i0 + cc];
	v[2] = in[i0 + (size_t)w * cc];
	v[3] = in[i0 + (size_t)w * cc + cc];
}

enum pool_fill { FILL_UNIFORM, FILL_TIES };

static void test_pool_case(const struct test_engine *te, int h, int w, int c, enum pool_fill fill, struct nst_rng *r,
                           struct worst *worst) {
	const struct nst_engine *e = &te->e;
	const int oh = h / 2, ow = w / 2;
	const size_t n_in = (size_t)h * (size_t)w * (size_t)c, n_out = (size_t)oh * (size_t)ow * (size_t)c;
	const size_t abytes = nst_pool_argmax_bytes(h, w, c);
	CHECK(abytes == (n_out + 3) / 4, "nst_pool_argmax_bytes(%d, %d, %d) = %zu", h, w, c, abytes);
	float *in = xmalloc(n_in * sizeof(float)), *g = xmalloc(n_out * sizeof(float));
	if (fill == FILL_TIES) /* values in {-1, 0, 1}: most windows have tied maxima */
		for (size_t i = 0; i < n_in; i++)
			in[i] = (float)(int)(nst_rng_next(r) % 3) - 1.0f;
	else
		fill_uniform(r, in, n_in, -1.0, 1.0);
	fill_uniform(r, g, n_out, -1.0, 1.0);

	/* max forward, argmax */
	float *out = galloc(n_out), *out2 = galloc(n_out);
	uint8_t *argmax = gbytes(abytes, 0xa5); /* garbage: the codes must not depend on the old bits */
	nst_maxpool2x2(e, h, w, c, in, out, argmax);
	nst_maxpool2x2(e, h, w, c, in, out2, NULL); /* targets: no argmax */
	size_t bad_v = SIZE_MAX, bad_a = SIZE_MAX;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ch = 0; ch < c; ch++) {
				float v[4];
				window(w, c, in, oy, ox, ch, v);
				unsigned code = 0;
				for (unsigned k = 1; k < 4; k++)
					if (v[k] > v[code])
						code = k; /* strictly greater: the first maximum wins */
				const size_t q = ((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c + (size_t)ch;
				if ((out[q] != v[code] || out2[q] != v[code]) && bad_v == SIZE_MAX)
					bad_v = q;
				if (argmax_code(argmax, q) != code && bad_a == SIZE_MAX)
					bad_a = q;
			}
	CHECK(bad_v == SIZE_MAX, "%s: maxpool %dx%dx%d: value [%zu] wrong", te->label, h, w, c, bad_v);
	CHECK(bad_a == SIZE_MAX, "%s: maxpool %dx%dx%d %s: argmax code [%zu] = %u is not the first maximum", te->label, h, w, c,
	      fill == FILL_TIES ? "ties" : "uniform", bad_a, bad_a == SIZE_MAX ? 0u : argmax_code(argmax, bad_a));
	CHECK(guard_ok(out, n_out) && guard_ok(out2, n_out) && gbytes_ok(argmax, abytes),
	      "%s: maxpool %dx%dx%d: write past out / argmax", te->label, h, w, c);

	/* max backward: naive scatter; every element written (pre-filled NaN), zeros elsewhere. */
	float *gin = galloc(n_in);
	double *ref = calloc(n_in, sizeof(double));
	if (!ref) {
		fprintf(stderr, "test_ops: out of memory\n");
		exit(1);
	}
	nst_maxpool2x2_backward(e, h, w, c, g, argmax, gin);
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ch = 0; ch < c; ch++) {
				float v[4];
				window(w, c, in, oy, ox, ch, v);
				unsigned k = 0;
				for (unsigned j = 1; j < 4; j++)
					if (v[j] > v[k])
						k = j;
				const size_t q = ((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c + (size_t)ch;
				const size_t i = ((size_t)(2 * oy + (int)(k / 2)) * (size_t)w + (size_t)(2 * ox + (int)(k % 2))) * (size_t)c + (size_t)ch;
				ref[i] = g[q];
			}
	size_t bad = SIZE_MAX;
	for (size_t i = 0; i < n_in && bad == SIZE_MAX; i++)
		if (!((double)gin[i] == ref[i]))
			bad = i;
	CHECK(bad == SIZE_MAX, "%s: maxpool backward %dx%dx%d: grad_in [%zu] (y %zu x %zu) = %.9g, want %.9g", te->label, h, w,
	      c, bad, bad == SIZE_MAX ? 0 : bad / ((size_t)w * (size_t)c), bad == SIZE_MAX ? 0 : bad / (size_t)c % (size_t)w,
	      bad == SIZE_MAX ? 0.0 : (double)gin[bad], bad == SIZE_MAX ? 0.0 : ref[bad]);
	CHECK(guard_ok(gin, n_in), "%s: maxpool backward %dx%dx%d: write past grad_in", te->label, h, w, c);

	/* max backward then ReLU mask (+ addend) in one region: gin = bit ? ref + addend : 0, dropped
	 * rows and columns included (their gradient is the addend's). */
	uint8_t *mask = gbytes(nst_mask_bytes(n_in), 0);
	float *addend = galloc(n_in), *gm = galloc(n_in);
	fill_bytes(r, mask, nst_mask_bytes(n_in));
	fill_uniform(r, addend, n_in, -1.0, 1.0);
	for (int with_addend = 0; with_addend < 2; with_addend++) {
		for (size_t i = 0; i < n_in; i++)
			gm[i] = poison();
		nst_maxpool2x2_backward_masked(e, h, w, c, g, argmax, mask, with_addend ? addend : NULL, gm);
		bad = SIZE_MAX;
		for (size_t i = 0; i < n_in && bad == SIZE_MAX; i++) {
			const float want = ((mask[i / 8] >> (i % 8)) & 1u) ? (float)ref[i] + (with_addend ? addend[i] : 0.0f) : 0.0f;
			if (!(gm[i] == want))
				bad = i;
		}
		CHECK(bad == SIZE_MAX && guard_ok(gm, n_in), "%s: maxpool backward masked %dx%dx%d addend %d: grad_in [%zu] = %.9g",
		      te->label, h, w, c, with_addend, bad, bad == SIZE_MAX ? 0.0 : (double)gm[bad]);
	}
	free(mask);
	free(addend);
	free(gm);

	/* avg forward */
	nst_avgpool2x2(e, h, w, c, in, out);
	double err = 0.0;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ch = 0; ch < c; ch++) {
				float v[4];
				window(w, c, in, oy, ox, ch, v);
				const double want = ((double)v[0] + v[1] + v[2] + v[3]) / 4.0;
				const double m = (fabs(v[0]) + fabs(v[1]) + fabs(v[2]) + fabs(v[3])) / 4.0;
				const size_t q = ((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c + (size_t)ch;
				const double ei = fabs((double)out[q] - want) / (m + 1e-30);
				if (!(ei <= err))
					err = ei;
			}
	note(&worst->pool_avg, err);
	CHECK(err <= 4 * FLT_EPSILON, "%s: avgpool %dx%dx%d: worst rel err %.3g", te->label, h, w, c, err);

	/* avg backward: g / 4 on each window's 4 inputs, 0 in the dropped row / column. */
	float *gin2 = galloc(n_in);
	nst_avgpool2x2_backward(e, h, w, c, g, gin2);
	bad = SIZE_MAX;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int ch = 0; ch < c; ch++) {
				const size_t i = ((size_t)y * (size_t)w + (size_t)x) * (size_t)c + (size_t)ch;
				const bool inside = y / 2 < oh && x / 2 < ow;
				const double want =
					inside ? (double)g[((size_t)(y / 2) * (size_t)ow + (size_t)(x / 2)) * (size_t)c + (size_t)ch] / 4.0 : 0.0;
				if (!((double)gin2[i] == want) && bad == SIZE_MAX)
					bad = i;
			}
	CHECK(bad == SIZE_MAX, "%s: avgpool backward %dx%dx%d: grad_in [%zu] = %.9g wrong", te->label, h, w, c, bad,
	      bad == SIZE_MAX ? 0.0 : (double)gin2[bad]);
	CHECK(guard_ok(out, n_out) && guard_ok(gin2, n_in), "%s: avgpool %dx%dx%d: write past the output", te->label, h, w, c);

	/* adjoint identities: <pool(x), g> == <x, pool_backward(g)> (max: for the recorded argmax). */
	double l_avg, l_max, r_avg, r_max;
	nst_maxpool2x2(e, h, w, c, in, out2, NULL);
	const double adj = adjoint_gap(in, gin2, n_in, out, g, n_out, &l_avg, &r_avg);
	note(&worst->pool_adjoint, adj);
	CHECK(adj <= 1e-6, "%s: avgpool %dx%dx%d: <pool x, g> = %.12g, <x, pool_backward g> = %.12g", te->label, h, w, c, l_avg,
	      r_avg);
	/* (the scale counts both sides, which are the same terms here: 5e-13 of it is 1e-12 of one) */
	CHECK(adjoint_gap(in, gin, n_in, out2, g, n_out, &l_max, &r_max) <= 5e-13,
	      "%s: maxpool %dx%dx%d: <pool x, g> = %.12g, <x, pool_backward g> = %.12g", te->label, h, w, c, l_max, r_max);

	free(in);
	free(g);
	free(out);
	free(out2);
	free(argmax);
	free(gin);
	free(gin2);
	free(ref);
}

/* Every tie pattern of a 2x2 window: channel ch has its maximum at the positions of bit set
 * (ch % 15) + 1, the others lower; the code must be the lowest position of the set. */
static void test_pool_ties(const struct test_engine *te, int c) {
	const struct nst_engine *e = &te->e;
	const int h = 4, w = 6, oh = 2, ow = 3; /* [4][6][c] -> [2][3][c] */
	const size_t n_in = (size_t)h * (size_t)w * (size_t)c, n_out = (size_t)oh * (size_t)ow * (size_t)c;
	float *in = xmalloc(n_in * sizeof(float)), *out = galloc(n_out);
	uint8_t *argmax = gbytes(nst_pool_argmax_bytes(h, w, c), 0xff);
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ch = 0; ch < c; ch++) {
				const unsigned set = (unsigned)((ch + oy * ow + ox) % 15) + 1;
				const float top = (float)(oy - ox) * 0.5f; /* negative, zero and positive maxima */
				for (unsigned k = 0; k < 4; k++) {
					const size_t i = ((size_t)(2 * oy + (int)(k / 2)) * (size_t)w + (size_t)(2 * ox + (int)(k % 2))) * (size_t)c + (size_t)ch;
					in[i] = ((set >> k) & 1u) ? top : top - 1.0f - (float)k;
				}
			}
	nst_maxpool2x2(e, h, w, c, in, out, argmax);
	int bad = 0;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int ch = 0; ch < c; ch++) {
				const unsigned set = (unsigned)((ch + oy * ow + ox) % 15) + 1;
				unsigned want = 0;
				while (!((set >> want) & 1u))
					want++;
				const size_t q = ((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c + (size_t)ch;
				if (argmax_code(argmax, q) != want || out[q] != (float)(oy - ox) * 0.5f)
					bad++;
			}
	CHECK(bad == 0, "%s: maxpool ties, c %d: %d windows do not record the first maximum", te->label, c, bad);
	free(in);
	free(out);
	free(argmax);
}

/* Many tiny max pools on 2 threads, [4][2][c] -> [2][1][c]: one output row per item; when c % 4
 * != 0 the rows share an argmax byte, so splitting them between threads would race on it. */
static void test_pool_race(const struct test_engine *te, int c, int reps, struct nst_rng *r) {
	const struct nst_engine *e = &te->e;
	const int h = 4, w = 2;
	const size_t n_in = (size_t)h * (size_t)w * (size_t)c, n_out = 2 * (size_t)c;
	float *in = xmalloc(n_in * sizeof(float)), *out = xmalloc(n_out * sizeof(float));
	uint8_t *argmax = gbytes(nst_pool_argmax_bytes(h, w, c), 0);
	int bad = 0;
	for (int rep = 0; rep < reps && !bad; rep++) {
		fill_uniform(r, in, n_in, -1.0, 1.0);
		memset(argmax, rep & 1 ? 0xff : 0x00, nst_pool_argmax_bytes(h, w, c));
		nst_maxpool2x2(e, h, w, c, in, out, argmax);
		for (int oy = 0; oy < 2; oy++)
			for (int ch = 0; ch < c; ch++) {
				float v[4];
				window(w, c, in, oy, 0, ch, v);
				unsigned code = 0;
				for (unsigned k = 1; k < 4; k++)
					if (v[k] > v[code])
						code = k;
				if (argmax_code(argmax, (size_t)oy * (size_t)c + (size_t)ch) != code)
					bad++;
			}
	}
	CHECK(bad == 0, "%s: maxpool [4][2][%d] repeated: %d wrong argmax codes (threads racing on a shared byte?)", te->label,
	      c, bad);
	free(in);
	free(out);
	free(argmax);
}

/* ---------------------------------------------------------------------------------------------
 * 4. Masks
 * ------------------------------------------------------------------------------------------- */
static void test_mask_apply(const struct test_engine *te, size_t n, struct nst_rng *r) {
	const struct nst_engine *e = &te->e;
	float *x = galloc(n), *a = xmalloc(n * sizeof(float)), *orig = xmalloc(n * sizeof(float));
	uint8_t *mask = xmalloc(nst_mask_bytes(n));
	fill_bytes(r, mask, nst_mask_bytes(n));
	fill_uniform(r, orig, n, -1.0, 1.0);
	fill_uniform(r, a, n, -1.0, 1.0);
	for (int with_addend = 0; with_addend < 2; with_addend++) {
		memcpy(x, orig, n * sizeof(float));
		nst_mask_apply(e, n, mask, with_addend ? a : NULL, x);
		size_t bad = SIZE_MAX;
		for (size_t i = 0; i < n && bad == SIZE_MAX; i++) {
			const bool bit = (mask[i / 8] >> (i % 8)) & 1;
			const float want = bit ? (with_addend ? orig[i] + a[i] : orig[i]) : 0.0f;
			if (x[i] != want)
				bad = i;
		}
		CHECK(bad == SIZE_MAX, "%s: mask_apply n %zu addend %d: [%zu] = %.9g wrong", te->label, n, with_addend, bad,
		      bad == SIZE_MAX ? 0.0 : (double)x[bad]);
		CHECK(guard_ok(x, n), "%s: mask_apply n %zu: write past the end", te->label, n);
	}
	free(x);
	free(a);
	free(orig);
	free(mask);
}

/* ---------------------------------------------------------------------------------------------
 * 5. Gram matrix and style loss
 * ------------------------------------------------------------------------------------------- */
/* gram [c][c] = F^T F / (n c) in double. */
static void naive_gram(size_t n, int c, const double *f, double *gram, double *mag) {
	const size_t cc = (size_t)c;
	for (size_t i = 0; i < cc; i++)
		for (size_t j = 0; j < cc; j++) {
			double s = 0.0, m = 0.0;
			for (size_t p = 0; p < n; p++) {
				s += f[p * cc + i] * f[p * cc + j];
				m += fabs(f[p * cc + i] * f[p * cc + j]);
			}
			gram[i * cc + j] = s / ((double)n * (double)c);
			if (mag)
				mag[i * cc + j] = m / ((double)n * (double)c);
		}
}

/* weight / c^2 * sum (G - A)^2 for a double Gram G. */
static double style_loss_of_gram(int c, const double *gram, const float *target, double weight) {
	double s = 0.0;
	for (size_t i = 0; i < (size_t)c * (size_t)c; i++) {
		const double d = gram[i] - (double)target[i];
		s += d * d;
	}
	return weight * s / ((double)c * (double)c);
}

/* weight / c^2 * sum (G(F) - A)^2 with G(F) in double. */
static double naive_style_loss(size_t n, int c, const double *f, const float *target, double weight, double *gram) {
	naive_gram(n, c, f, gram, NULL);
	return style_loss_of_gram(c, gram, target, weight);
}

/* The same loss with F[p][i] += delta, from the unperturbed double Gram g in O(c^2): only row and
 * column i of the Gram change, by delta F[p][.] / N (and the diagonal by (2 delta F[p][i] + delta^2) / N). */
static double style_loss_perturbed(size_t n, int c, const double *f, const double *g, const float *target,
                                   double weight, size_t p, size_t i, double delta) {
	const size_t cc = (size_t)c;
	const double inv_n = 1.0 / ((double)n * (double)c);
	const double *fp = f + p * cc;
	double s = 0.0;
	for (size_t a = 0; a < cc; a++)
		for (size_t b = 0; b < cc; b++) {
			double v = g[a * cc + b];
			if (a == i && b == i)
				v += (2.0 * delta * fp[i] + delta * delta) * inv_n;
			else if (a == i)
				v += delta * fp[b] * inv_n;
			else if (b == i)
				v += delta * fp[a] * inv_n;
			const double d = v - (double)target[a * cc + b];
			s += d * d;
		}
	return weight * s / ((double)c * (double)c);
}

static void test_style_case(const struct test_engine *te, const struct style_case *sc, bool self_check,
                            struct nst_rng *r, struct worst *worst) {
	const struct nst_engine *e = &te->e;
	const size_t n = sc->n, cc = (size_t)sc->c, nf = n * cc, c2 = cc * cc;
	float *f = xmalloc(nf * sizeof(float)), *f2 = xmalloc(nf * sizeof(float));
	fill_uniform(r, f, nf, 0.0, 1.0);   /* like post-ReLU features */
	fill_uniform(r, f2, nf, 0.0, 1.5);  /* the style target: a different Gram */
	double *fd = xmalloc(nf * sizeof(double));
	for (size_t i = 0; i < nf; i++)
		fd[i] = f[i];

	/* gram vs naive, symmetric, every element written */
	float *gram = galloc(c2), *target = galloc(c2);
	double *gref = xmalloc(c2 * sizeof(double)), *gmag = xmalloc(c2 * sizeof(double));
	nst_gram(e, n, sc->c, f, gram);
	nst_gram(e, n, sc->c, f2, target);
	naive_gram(n, sc->c, fd, gref, gmag);
	double err = 0.0;
	bool symmetric = true;
	for (size_t i = 0; i < cc; i++)
		for (size_t j = 0; j < cc; j++) {
			const double ei = fabs((double)gram[i * cc + j] - gref[i * cc + j]) / (gmag[i * cc + j] + 1e-30);
			if (!(ei <= err))
				err = ei;
			if (!(gram[i * cc + j] == gram[j * cc + i]))
				symmetric = false;
		}
	note(&worst->gram, err);
	CHECK(err <= 1e-5, "%s: gram n %zu c %d: worst rel err %.3g", te->label, n, sc->c, err);
	CHECK(symmetric, "%s: gram n %zu c %d is not exactly symmetric", te->label, n, sc->c);
	CHECK(guard_ok(gram, c2) && guard_ok(target, c2), "%s: gram n %zu c %d: write past [c][c]", te->label, n, sc->c);

	/* style loss value and M (packed for the gradient's GEMM: unpacked into m here, the biases and
	 * the last panel's columns past c checked to be zeros), from the library's (float) Gram */
	const size_t m_floats = nst_style_m_floats(e, sc->c), nr = e->gemm->nr, panel_floats = nr * (cc + 1);
	float *m_packed = galloc(m_floats), *m = galloc(c2);
	const double loss = nst_style_loss(e, sc->c, n, gram, target, sc->weight, m_packed);
	bool zeros_ok = true;
	for (size_t q = 0; q < m_floats; q++) {
		const size_t panel = q / panel_floats, at = q % panel_floats, col = panel * nr + at % nr;
		if (at < nr || col >= cc) /* a bias, or a column past c */
			zeros_ok = zeros_ok && m_packed[q] == 0.0f;
		else
			m[(at / nr - 1) * cc + col] = m_packed[q];
	}
	CHECK(zeros_ok && guard_ok(m_packed, m_floats), "%s: style M n %zu c %d: packed biases or padding not 0, or written past",
	      te->label, n, sc->c);
	const double loss_nom = nst_style_loss(e, sc->c, n, gram, target, sc->weight, NULL);
	const double loss_here = nst_style_loss(NULL, sc->c, n, gram, target, sc->weight, NULL);
	CHECK(loss_here == loss, "%s: style loss on this thread %.17g, on the engine's %.17g", te->label, loss_here, loss);
	double s = 0.0;
	const double mscale = 4.0 * (double)sc->weight / ((double)c2 * (double)n * (double)sc->c);
	double *mref = xmalloc(c2 * sizeof(double));
	for (size_t i = 0; i < c2; i++) {
		const double d = (double)gram[i] - (double)target[i];
		s += d * d;
		mref[i] = mscale * d;
	}
	const double want = (double)sc->weight * s / (double)c2;
	const double verr = fabs(loss - want) / (fabs(want) + 1e-300);
	note(&worst->style_value, verr);
	CHECK(verr <= 1e-6, "%s: style loss n %zu c %d: %.12g, want %.12g", te->label, n, sc->c, loss, want);
	CHECK(loss_nom == loss, "%s: style loss with m NULL: %.17g != %.17g", te->label, loss_nom, loss);
	err = 0.0;
	const double mmax = max_abs(mref, c2);
	for (size_t i = 0; i < c2; i++)
		note(&err, fabs((double)m[i] - mref[i]) / (mmax + 1e-300));
	note(&worst->style_m, err);
	CHECK(err <= 1e-6 && guard_ok(m, c2), "%s: style M n %zu c %d: worst err %.3g (relative to max |M|)", te->label, n,
	      sc->c, err);

	/* style grad: overwrite (grad pre-filled with NaN) and accumulate, against F M in double */
	float *grad = galloc(nf), *grad_acc = galloc(nf), *g0 = xmalloc(nf * sizeof(float));
	fill_uniform(r, g0, nf, -1.0, 1.0);
	const double g0_scale = 1e-3 * mmax * (double)sc->c; /* |g0| comparable to |F M| */
	for (size_t i = 0; i < nf; i++)
		g0[i] = (float)(g0[i] * g0_scale);
	copy_floats(grad_acc, g0, nf);
	nst_style_grad(e, n, sc->c, f, m_packed, grad, false);
	nst_style_grad(e, n, sc->c, f, m_packed, grad_acc, true);
	CHECK(guard_ok(grad, nf) && guard_ok(grad_acc, nf), "%s: style grad n %zu c %d: write past grad", te->label, n,
	      sc->c);
	double *fm = xmalloc(nf * sizeof(double)), *fm_mag = xmalloc(nf * sizeof(double));
	for (size_t p = 0; p < n; p++)
		for (size_t j = 0; j < cc; j++) {
			double t = 0.0, a = 0.0;
			for (size_t k = 0; k < cc; k++) {
				t += (double)f[p * cc + k] * (double)m[k * cc + j]; /* the library's M: checks only the product */
				a += fabs((double)f[p * cc + k] * (double)m[k * cc + j]);
			}
			fm[p * cc + j] = t;
			fm_mag[p * cc + j] = a;
		}
	double err_over = 0.0, err_acc = 0.0;
	for (size_t i = 0; i < nf; i++) {
		note(&err_over, fabs((double)grad[i] - fm[i]) / (fm_mag[i] + 1e-300));
		note(&err_acc, fabs((double)grad_acc[i] - ((double)g0[i] + fm[i])) / (fm_mag[i] + fabs((double)g0[i]) + 1e-300));
	}
	note(&worst->style_grad, fmax(err_over, err_acc));
	CHECK(err_over <= 1e-5, "%s: style grad n %zu c %d overwrite: worst rel err %.3g", te->label, n, sc->c, err_over);
	CHECK(err_acc <= 1e-5, "%s: style grad n %zu c %d accumulate: worst rel err %.3g", te->label, n, sc->c, err_acc);

	/* The chain gram -> M -> F M against central differences of the double loss in F. */
	double *gtmp = xmalloc(c2 * sizeof(double));
	const double l0 = style_loss_of_gram(sc->c, gref, target, sc->weight); /* gref = G(F) in double */
	const double lerr = fabs(loss - l0) / (fabs(l0) + 1e-300);
	note(&worst->style_value_double, lerr);
	CHECK(lerr <= 1e-4, "%s: style loss n %zu c %d: %.12g, but the double loss of F is %.12g", te->label, n, sc->c, loss, l0);
	const size_t probes = nf < 48 ? nf : 48;
	double *fdv = xmalloc(probes * sizeof(double));
	size_t *idx = xmalloc(probes * sizeof(size_t));
	const double step = 1e-4;
	for (size_t t = 0; t < probes; t++) {
		const size_t i = probes == nf ? t : (size_t)(nst_rng_next(r) % nf);
		const double lp = style_loss_perturbed(n, sc->c, fd, gref, target, sc->weight, i / cc, i % cc, step);
		const double lm = style_loss_perturbed(n, sc->c, fd, gref, target, sc->weight, i / cc, i % cc, -step);
		idx[t] = i;
		fdv[t] = (lp - lm) / (2.0 * step);
		if (t == 0 && self_check) { /* the shortcut against recomputing the whole Gram of the perturbed F */
			const double saved = fd[i];
			fd[i] = saved + step;
			const double full = naive_style_loss(n, sc->c, fd, target, sc->weight, gtmp);
			fd[i] = saved;
			CHECK(fabs(full - lp) <= 1e-12 * fabs(full), "style loss of perturbed F[%zu]: shortcut %.17g, full %.17g", i, lp,
			      full);
		}
	}
	const double fd_scale = max_abs(fdv, probes);
	err = 0.0;
	size_t worst_i = 0;
	for (size_t t = 0; t < probes; t++) {
		const double ei = fabs((double)grad[idx[t]] - fdv[t]) / (fd_scale + 1e-300);
		if (!(ei <= err)) {
			err = ei;
			worst_i = t;
		}
	}
	note(&worst->style_fd, err);
	CHECK(err <= 1e-4, "%s: style grad n %zu c %d weight %g vs finite differences: err %.3g at F[%zu]: %.9g, fd %.9g",
	      te->label, n, sc->c, (double)sc->weight, err, idx[worst_i], (double)grad[idx[worst_i]], fdv[worst_i]);

	free(f);
	free(f2);
	free(fd);
	free(gram);
	free(target);
	free(gref);
	free(gmag);
	free(m);
	free(mref);
	free(grad);
	free(grad_acc);
	free(g0);
	free(m_packed);
	free(fm);
	free(fm_mag);
	free(gtmp);
	free(fdv);
	free(idx);
}

/* ---------------------------------------------------------------------------------------------
 * 6. Content and total-variation losses
 * ------------------------------------------------------------------------------------------- */
static double naive_content_loss(size_t count, const double *f, const float *p, double weight) {
	double s = 0.0;
	for (size_t i = 0; i < count; i++) {
		const double d = f[i] - (double)p[i];
		s += d * d;
	}
	return weight * s / (double)count;
}

/* nst_tap_grad against the naive chain: G = F M (style) + 2 w / (n ct) (F - P) (content), 0 where
 * F <= 0, out = G W^T; with style, content, or both.  F = ReLU(in W + b) as nst_conv2d makes it (its
 * bias puts about a third of F at 0); given F, and made again from in (bit for bit the same). */
static void test_tap_grad_case(const struct test_engine *te, const struct tap_case *tc, bool style, bool content,
                               struct nst_rng *r) {
	const struct nst_engine *e = &te->e;
	const size_t n = tc->n, cs = (size_t)tc->cs, ct = (size_t)tc->ct;
	const float weight = 3.0f;
	float *in = xmalloc(n * cs * sizeof(float)), *b = xmalloc(ct * sizeof(float)), *p = xmalloc(n * ct * sizeof(float));
	float *m = xmalloc(ct * ct * sizeof(float)), *w = xmalloc(cs * ct * sizeof(float));
	fill_uniform(r, in, n * cs, -1.0, 1.0); /* centred: each channel of F is 0 about half the time */
	fill_uniform(r, b, ct, -0.5, 0.5);
	fill_uniform(r, p, n * ct, 0.0, 1.0);
	fill_uniform(r, m, ct * ct, -1.0, 1.0);
	fill_uniform(r, w, cs * ct, -1.0, 1.0); /* HWIO of the 1x1 tap: [cs][ct] */
	const struct nst_conv_shape shape = {1, 1, 1, 0, false, (int)cs, (int)ct};
	const struct nst_conv_shape back = nst_conv_backward_shape(&shape);
	float *wfp = galloc(nst_conv_packed_floats(e->gemm, &shape)), *wp = galloc(nst_conv_packed_floats(e->gemm, &back));
	nst_conv_pack_forward(e->gemm, &shape, w, b, wfp);
	nst_conv_pack_backward(e->gemm, &shape, w, wp);
	const struct nst_tap tap = {(int)cs, (int)ct, wfp, wp};
	float *f = galloc(n * ct);
	const struct nst_conv_epilogue relu = {0.0f, INFINITY, NULL, NULL, NULL};
	nst_conv2d(e, &shape, 1, (int)n, in, wfp, f, &relu);
	float *mp = galloc(nst_style_m_floats(e, (int)ct)), *out = galloc(n * cs), *out2 = galloc(n * cs);
	nst_gemm_pack(ct, ct, e->gemm->nr, m, ct, NULL, mp); /* as nst_style_loss leaves M */
	nst_tap_grad(e, &tap, n, in, f, style ? mp : NULL, content ? p : NULL, weight, out);
	nst_tap_grad(e, &tap, n, in, NULL, style ? mp : NULL, content ? p : NULL, weight, out2);
	CHECK(guard_ok(out, n * cs) && guard_ok(out2, n * cs) && guard_ok(mp, nst_style_m_floats(e, (int)ct)),
	      "%s: tap grad n %zu %zu -> %zu: write past out or M", te->label, n, cs, ct);
	CHECK(memcmp(out, out2, n * cs * sizeof(float)) == 0,
	      "%s: tap grad n %zu %zu -> %zu style %d content %d: the features made again give another gradient", te->label,
	      n, cs, ct, style, content);
	size_t zeros = 0;
	for (size_t i = 0; i < n * ct; i++)
		zeros += f[i] == 0.0f;
	CHECK(n * ct < 64 || (zeros > n * ct / 8 && zeros < n * ct * 7 / 8), "%s: tap grad n %zu %zu -> %zu: %zu of %zu features are 0 (the ReLU's mask is not exercised)",
	      te->label, n, cs, ct, zeros, n * ct);
	const double scale = 2.0 * (double)weight / ((double)n * (double)ct);
	double *g = xmalloc(ct * sizeof(double)), *gmag = xmalloc(ct * sizeof(double)), err = 0.0;
	for (size_t q = 0; q < n; q++) {
		for (size_t j = 0; j < ct; j++) {
			double v = 0.0, a = 0.0;
			for (size_t k = 0; style && k < ct; k++) {
				v += (double)f[q * ct + k] * (double)m[k * ct + j];
				a += fabs((double)f[q * ct + k] * (double)m[k * ct + j]);
			}
			if (content) {
				v += scale * ((double)f[q * ct + j] - (double)p[q * ct + j]);
				a += fabs(scale * ((double)f[q * ct + j] - (double)p[q * ct + j]));
			}
			g[j] = f[q * ct + j] > 0.0f ? v : 0.0;
			gmag[j] = f[q * ct + j] > 0.0f ? a : 0.0;
		}
		for (size_t i = 0; i < cs; i++) {
			double v = 0.0, a = 0.0;
			for (size_t j = 0; j < ct; j++) {
				v += g[j] * (double)w[i * ct + j];
				a += gmag[j] * fabs((double)w[i * ct + j]);
			}
			note(&err, fabs((double)out[q * cs + i] - v) / (a + 1e-30));
		}
	}
	CHECK(err <= 1e-5, "%s: tap grad n %zu %zu -> %zu style %d content %d: worst rel err %.3g", te->label, n, cs, ct,
	      style, content, err);
	free(in);
	free(b);
	free(f);
	free(p);
	free(m);
	free(w);
	free(wfp);
	free(wp);
	free(mp);
	free(out);
	free(out2);
	free(g);
	free(gmag);
}

/* nst_tap_gram: the tap's features F = ReLU(in W + b) and their Gram in one pass, against the
 * naive ones in double, and bit for bit what nst_conv2d (1x1, ReLU) and nst_gram make separately;
 * ct = 3 takes the small-N kernels' path. */
static void test_tap_gram_case(const struct test_engine *te, const struct tap_case *tc, struct nst_rng *r) {
	const struct nst_engine *e = &te->e;
	const size_t n = tc->n, cs = (size_t)tc->cs, ct = (size_t)tc->ct;
	float *in = xmalloc(n * cs * sizeof(float)), *w = xmalloc(cs * ct * sizeof(float)), *b = xmalloc(ct * sizeof(float));
	fill_uniform(r, in, n * cs, 0.0, 1.0); /* a ReLU's output */
	fill_uniform(r, w, cs * ct, -1.0, 1.0); /* HWIO of the 1x1 tap: [cs][ct] */
	fill_uniform(r, b, ct, -0.5, 0.5);
	const struct nst_conv_shape shape = {1, 1, 1, 0, false, (int)cs, (int)ct};
	float *wp = galloc(nst_conv_packed_floats(e->gemm, &shape));
	nst_conv_pack_forward(e->gemm, &shape, w, b, wp);
	float *f = galloc(n * ct), *gram = galloc(ct * ct), *f2 = galloc(n * ct), *gram2 = galloc(ct * ct);
	const struct nst_tap tap = {(int)cs, (int)ct, wp, NULL};
	nst_tap_gram(e, &tap, n, in, f, gram);
	CHECK(guard_ok(f, n * ct) && guard_ok(gram, ct * ct), "%s: tap gram n %zu %zu -> %zu: write past f or gram",
	      te->label, n, cs, ct);
	float *gram3 = galloc(ct * ct); /* the features never stored whole: the same Gram */
	nst_tap_gram(e, &tap, n, in, NULL, gram3);
	CHECK(guard_ok(gram3, ct * ct) && memcmp(gram, gram3, ct * ct * sizeof(float)) == 0,
	      "%s: tap gram n %zu %zu -> %zu: streamed, not the Gram of the stored features", te->label, n, cs, ct);
	free(gram3);
	const struct nst_conv_epilogue relu = {0.0f, INFINITY, NULL, NULL, NULL};
	nst_conv2d(e, &shape, 1, (int)n, in, wp, f2, &relu);
	nst_gram(e, n, (int)ct, f2, gram2);
	CHECK(memcmp(f, f2, n * ct * sizeof(float)) == 0 && memcmp(gram, gram2, ct * ct * sizeof(float)) == 0,
	      "%s: tap gram n %zu %zu -> %zu: not what nst_conv2d + nst_gram make", te->label, n, cs, ct);
	double *fd = xmalloc(n * ct * sizeof(double)), *gref = xmalloc(ct * ct * sizeof(double));
	double *gmag = xmalloc(ct * ct * sizeof(double)), ferr = 0.0, gerr = 0.0;
	for (size_t q = 0; q < n; q++)
		for (size_t j = 0; j < ct; j++) {
			double v = (double)b[j], a = fabs((double)b[j]);
			for (size_t i = 0; i < cs; i++) {
				v += (double)in[q * cs + i] * (double)w[i * ct + j];
				a += fabs((double)in[q * cs + i] * (double)w[i * ct + j]);
			}
			fd[q * ct + j] = v > 0.0 ? v : 0.0;
			note(&ferr, fabs((double)f[q * ct + j] - fd[q * ct + j]) / (a + 1e-30));
		}
	for (size_t i = 0; i < n * ct; i++) /* the Gram of the features made (their own error is ferr) */
		fd[i] = (double)f[i];
	naive_gram(n, (int)ct, fd, gref, gmag);
	for (size_t i = 0; i < ct * ct; i++)
		note(&gerr, fabs((double)gram[i] - gref[i]) / (gmag[i] + 1e-30));
	CHECK(ferr <= 1e-5 && gerr <= 1e-5, "%s: tap gram n %zu %zu -> %zu: worst rel err features %.3g, gram %.3g",
	      te->label, n, cs, ct, ferr, gerr);
	free(in);
	free(w);
	free(b);
	free(wp);
	free(f);
	free(gram);
	free(f2);
	free(gram2);
	free(fd);
	free(gref);
	free(gmag);
}

static void test_content_case(const struct test_engine *te, size_t count, float weight, struct nst_rng *r,
                              struct worst *worst) {
	const struct nst_engine *e = &te->e;
	float *f = xmalloc(count * sizeof(float)), *p = xmalloc(count * sizeof(float)), *g0 = xmalloc(count * sizeof(float));
	fill_uniform(r, f, count, -1.0, 2.0);
	fill_uniform(r, p, count, -1.0, 2.0);
	fill_uniform(r, g0, count, -1.0, 1.0);
	for (size_t i = 0; i < count; i++)
		g0[i] *= 2.0f * weight / (float)count;
	double *fd = xmalloc(count * sizeof(double));
	for (size_t i = 0; i < count; i++)
		fd[i] = f[i];

	float *grad = galloc(count), *grad_acc = galloc(count);
	copy_floats(grad_acc, g0, count);
	const double v_none = nst_content_loss(e, count, f, p, weight, NULL, false);
	const double v_over = nst_content_loss(e, count, f, p, weight, grad, false);
	const double v_acc = nst_content_loss(e, count, f, p, weight, grad_acc, true);
	CHECK(nst_content_loss(NULL, count, f, p, weight, NULL, false) == v_none,
	      "%s: content loss count %zu: another value on this thread than on the engine's", te->label, count);
	const double want = naive_content_loss(count, fd, p, weight);
	const double verr = fabs(v_over - want) / (fabs(want) + 1e-300);
	note(&worst->content_value, verr);
	CHECK(verr <= 1e-6, "%s: content loss count %zu: %.12g, want %.12g", te->label, count, v_over, want);
	CHECK(v_none == v_over && v_acc == v_over, "%s: content loss count %zu: value depends on grad / accumulate (%.17g %.17g %.17g)",
	      te->label, count, v_none, v_over, v_acc);
	CHECK(guard_ok(grad, count) && guard_ok(grad_acc, count), "%s: content loss count %zu: write past grad", te->label, count);

	const size_t probes = count < 64 ? count : 64;
	double *fdv = xmalloc(probes * sizeof(double));
	size_t *idx = xmalloc(probes * sizeof(size_t));
	for (size_t t = 0; t < probes; t++) {
		const size_t i = probes == count ? t : (size_t)(nst_rng_next(r) % count);
		const double step = 1e-3, saved = fd[i];
		fd[i] = saved + step;
		const double lp = naive_content_loss(count, fd, p, weight);
		fd[i] = saved - step;
		const double lm = naive_content_loss(count, fd, p, weight);
		fd[i] = saved;
		idx[t] = i;
		fdv[t] = (lp - lm) / (2.0 * step);
	}
	const double scale = max_abs(fdv, probes);
	double err = 0.0, err_acc = 0.0;
	for (size_t t = 0; t < probes; t++) {
		const size_t i = idx[t];
		note(&err, fabs((double)grad[i] - fdv[t]) / (scale + 1e-300));
		note(&err_acc, fabs((double)grad_acc[i] - ((double)g0[i] + fdv[t])) / (scale + fabs((double)g0[i]) + 1e-300));
	}
	note(&worst->content_fd, fmax(err, err_acc));
	CHECK(err <= 1e-5, "%s: content grad count %zu vs finite differences: err %.3g", te->label, count, err);
	CHECK(err_acc <= 1e-5, "%s: content grad count %zu accumulate vs g0 + finite differences: err %.3g", te->label, count,
	      err_acc);
	free(f);
	free(p);
	free(g0);
	free(fd);
	free(grad);
	free(grad_acc);
	free(fdv);
	free(idx);
}

/* weight * sum of squared differences of vertical and horizontal neighbours, in double. */
static double naive_tv_loss(int h, int w, int c, const double *x, double weight) {
	double s = 0.0;
	for (int y = 0; y < h; y++)
		for (int xx = 0; xx < w; xx++)
			for (int ch = 0; ch < c; ch++) {
				const double v = x[((size_t)y * (size_t)w + (size_t)xx) * (size_t)c + (size_t)ch];
				if (y + 1 < h) {
					const double d = x[((size_t)(y + 1) * (size_t)w + (size_t)xx) * (size_t)c + (size_t)ch] - v;
					s += d * d;
				}
				if (xx + 1 < w) {
					const double d = x[((size_t)y * (size_t)w + (size_t)(xx + 1)) * (size_t)c + (size_t)ch] - v;
					s += d * d;
				}
			}
	return weight * s;
}

/* The gradient as a raster pass scatters it in float (each difference added to the pixel after it
 * and taken from its own, vertical then horizontal): the engine's gather must give these bits. */
static void scatter_tv_grad(int h, int w, int c, const float *x, float weight, float *grad) {
	const size_t cc = (size_t)c, row = (size_t)w * cc;
	const float two_w = 2.0f * weight;
	for (int y = 0; y < h; y++)
		for (int xx = 0; xx < w; xx++)
			for (size_t ch = 0; ch < cc; ch++) {
				const size_t i = (size_t)y * row + (size_t)xx * cc + ch;
				if (y + 1 < h) {
					const float d = x[i + row] - x[i];
					grad[i + row] += two_w * d;
					grad[i] -= two_w * d;
				}
				if (xx + 1 < w) {
					const float d = x[i + cc] - x[i];
					grad[i + cc] += two_w * d;
					grad[i] -= two_w * d;
				}
			}
}

/* The engine's gradient (written and accumulated) has the raster scatter's bits, and its value
 * the calling thread's bits, on pictures large enough for the pool's threads. */
static void test_tv_bits(const struct test_engine *te, int h, int w, int c, struct nst_rng *r) {
	const size_t n = (size_t)h * (size_t)w * (size_t)c;
	float *x = xmalloc(n * sizeof(float)), *g0 = xmalloc(n * sizeof(float)), *want = xmalloc(n * sizeof(float));
	float *want_acc = xmalloc(n * sizeof(float)), *grad = galloc(n), *grad_acc = galloc(n);
	fill_uniform(r, x, n, 0.0, 255.0);
	fill_uniform(r, g0, n, -1.0, 1.0);
	const float weight = 1e-3f;
	memset(want, 0, n * sizeof(float));
	scatter_tv_grad(h, w, c, x, weight, want);
	copy_floats(want_acc, g0, n);
	scatter_tv_grad(h, w, c, x, weight, want_acc);
	copy_floats(grad_acc, g0, n);
	const double v = nst_tv_loss(&te->e, h, w, c, x, weight, grad, false);
	nst_tv_loss(&te->e, h, w, c, x, weight, grad_acc, true);
	CHECK(nst_tv_loss(NULL, h, w, c, x, weight, NULL, false) == v, "%s: tv loss %dx%dx%d: another value on this thread",
	      te->label, h, w, c);
	CHECK(memcmp(grad, want, n * sizeof(float)) == 0 && memcmp(grad_acc, want_acc, n * sizeof(float)) == 0,
	      "%s: tv grad %dx%dx%d: not the raster scatter's bits", te->label, h, w, c);
	CHECK(guard_ok(grad, n) && guard_ok(grad_acc, n), "%s: tv loss %dx%dx%d: write past grad", te->label, h, w, c);
	free(x);
	free(g0);
	free(want);
	free(want_acc);
	free(grad);
	free(grad_acc);
}

static void test_tv_case(int h, int w, int c, float weight, struct nst_rng *r, struct worst *worst) {
	const size_t n = (size_t)h * (size_t)w * (size_t)c;
	float *x = xmalloc(n * sizeof(float)), *g0 = xmalloc(n * sizeof(float));
	fill_uniform(r, x, n, 0.0, 255.0); /* pixel values */
	fill_uniform(r, g0, n, -1.0, 1.0);
	for (size_t i = 0; i < n; i++)
		g0[i] *= 100.0f * weight;
	double *xd = xmalloc(n * sizeof(double));
	for (size_t i = 0; i < n; i++)
		xd[i] = x[i];

	float *grad = galloc(n), *grad_acc = galloc(n);
	copy_floats(grad_acc, g0, n);
	const double v_none = nst_tv_loss(NULL, h, w, c, x, weight, NULL, false);
	const double v_over = nst_tv_loss(NULL, h, w, c, x, weight, grad, false);
	const double v_acc = nst_tv_loss(NULL, h, w, c, x, weight, grad_acc, true);
	const double want = naive_tv_loss(h, w, c, xd, weight);
	const double verr = fabs(v_over - want) / (fabs(want) + 1e-300);
	note(&worst->tv_value, verr);
	CHECK(want == 0.0 ? v_over == 0.0 : verr <= 1e-6, "tv loss %dx%dx%d: %.12g, want %.12g", h, w, c, v_over, want);
	CHECK(v_none == v_over && v_acc == v_over, "tv loss %dx%dx%d: value depends on grad / accumulate", h, w, c);
	CHECK(guard_ok(grad, n) && guard_ok(grad_acc, n), "tv loss %dx%dx%d: write past grad", h, w, c);

	/* every entry: the shapes are small */
	double *fdv = xmalloc(n * sizeof(double));
	for (size_t i = 0; i < n; i++) {
		const double step = 1e-2, saved = xd[i];
		xd[i] = saved + step;
		const double lp = naive_tv_loss(h, w, c, xd, weight);
		xd[i] = saved - step;
		const double lm = naive_tv_loss(h, w, c, xd, weight);
		xd[i] = saved;
		fdv[i] = (lp - lm) / (2.0 * step);
	}
	const double scale = max_abs(fdv, n);
	double err = 0.0, err_acc = 0.0;
	bool zero_ok = true;
	for (size_t i = 0; i < n; i++) {
		if (scale == 0.0) { /* 1x1: no neighbours, the gradient is exactly 0 */
			zero_ok = zero_ok && grad[i] == 0.0f && grad_acc[i] == g0[i];
			continue;
		}
		note(&err, fabs((double)grad[i] - fdv[i]) / scale);
		note(&err_acc, fabs((double)grad_acc[i] - ((double)g0[i] + fdv[i])) / (scale + fabs((double)g0[i])));
	}
	note(&worst->tv_fd, fmax(err, err_acc));
	CHECK(zero_ok, "tv grad %dx%dx%d: not exactly zero / g0 without neighbours", h, w, c);
	CHECK(err <= 1e-5, "tv grad %dx%dx%d weight %g vs finite differences: err %.3g", h, w, c, (double)weight, err);
	CHECK(err_acc <= 1e-5, "tv grad %dx%dx%d accumulate vs g0 + finite differences: err %.3g", h, w, c, err_acc);
	free(x);
	free(g0);
	free(xd);
	free(grad);
	free(grad_acc);
	free(fdv);
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */
int main(void) {
	const uint64_t seed = support_seed("test_ops");
	struct nst_rng r;
	nst_rng_seed(&r, seed);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	/* Engines: {scalar, best} x {calling thread, 2-thread pool}, then every other kernel this CPU
	 * runs (the SIMD kernels and their scalar twins: other MR x NR tiles, e.g. 6x16 where MR does
	 * not divide NR) on the 2-thread pool. */
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	const struct nst_gemm_kernel *kernels[2 + 2 * 4];
	size_t n_kernels = 0;
	kernels[n_kernels++] = nst_gemm_kernel_scalar();
	kernels[n_kernels++] = nst_gemm_kernel_best(&cpu);
	n_kernels = support_add_config_kernels(kernels, n_kernels, sizeof kernels / sizeof kernels[0]);
	pthreadpool_t pool = pthreadpool_create(2);
	CHECK(pool != NULL, "pthreadpool_create(2) failed");
	struct test_engine engines[MAX_ENGINES];
	int n_engines = 0;
	for (size_t k = 0; k < n_kernels; k++)
		for (int t = k < 2 ? 0 : 1; t < 2; t++) {
			struct test_engine *te = &engines[n_engines++];
			memset(te, 0, sizeof *te);
			te->e.gemm = kernels[k];
			te->e.threads = pool && t == 1 ? 2 : 1; /* without a pool the "2-thread" engines run on 1 */
			te->e.pool = t == 0 ? NULL : pool;
			te->e.scratch_floats = scratch_floats_for(kernels[k]);
			te->e.scratch = xmalloc((size_t)te->e.threads * te->e.scratch_floats * sizeof(float));
			snprintf(te->label, sizeof(te->label), "%s/%d thread%s", kernels[k]->name, te->e.threads,
			         te->e.threads > 1 ? "s" : "");
			printf("engine %s: scratch %zu floats per thread\n", te->label, te->e.scratch_floats);
		}

	struct worst worst;
	memset(&worst, 0, sizeof(worst));
	size_t n;

	/* 1. conv forward */
	const struct conv_case *fc = conv_forward_cases(&n);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < n_engines; k++)
			test_conv_forward_case(&engines[k], &fc[i], &r, &worst);

	printf("conv forward: %.2f s\n", seconds_since(&t0));
	/* 2. conv input gradient */
	const struct conv_case *bc = conv_backward_cases(&n);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < n_engines; k++)
			test_conv_backward_case(&engines[k], &bc[i], &r, &worst);

	/* 2b. reflection-padded (the distilled VGG19's 3x3 layers; 9x9 pad 4 as the feed-forward nets' ends;
	 * 2 rows: each border row mirrors the other; the small-N path with cin 3 and cout 4) */
	static const struct conv_case reflect_cases[] = {
		/* k  s  pad reflect cin cout  h   w  bias */
		{3, 1, 1, true, 3, 16, 7, 9, false},
		{3, 1, 1, true, 16, 4, 5, 6, false},
		{3, 1, 1, true, 8, 12, 2, 5, false},
		{3, 1, 1, true, 5, 40, 11, 3, false},
		{9, 1, 4, true, 3, 8, 9, 6, false},
	};
	for (size_t i = 0; i < sizeof reflect_cases / sizeof reflect_cases[0]; i++)
		for (int k = 0; k < n_engines; k++)
			test_reflect_backward_case(&engines[k], &reflect_cases[i], &r, &worst);
	{
		/* h, w, c, pad: rows of values not a multiple of 8 (c 17, 5), tall (more rows copied), pad 2 and 4 */
		static const int folds[][4] = {
			{130, 70, 32, 1}, {300, 20, 48, 1}, {64, 129, 40, 2}, {40, 400, 17, 1}, {700, 9, 50, 4}, {23, 31, 5, 1},
		};
		pthreadpool_t pool3 = pthreadpool_create(3);
		CHECK(pool3 != NULL, "pthreadpool_create(3) failed");
		for (size_t i = 0; i < sizeof folds / sizeof folds[0]; i++)
			for (int v = 0; v < 4; v++) {
				for (int k = 0; k < n_engines; k++)
					test_reflect_fold_parallel(&engines[k].e, engines[k].label, folds[i][0], folds[i][1], folds[i][2],
					                           folds[i][3], v & 1, v & 2, &r);
				/* the best kernel's engine (engines: scalar, scalar on 2 threads, best, best on 2) */
				struct nst_engine three = engines[3].e;
				three.pool = pool3;
				three.threads = 3;
				test_reflect_fold_parallel(&three, "best/3 threads", folds[i][0], folds[i][1], folds[i][2], folds[i][3],
				                           v & 1, v & 2, &r);
			}
		pthreadpool_destroy(pool3);
	}
	printf("conv backward: %.2f s\n", seconds_since(&t0));
	/* 3. pooling: {h, w, c}; channel counts multiple of 4 (split over threads) and not (one item) */
	static const int pools[][3] = {
		{7, 11, 8},  /* [7][11][8] -> [3][5][8] */
		{11, 7, 5},  /* [11][7][5] -> [5][3][5] */
		{8, 6, 13},  /* [8][6][13] -> [4][3][13] */
		{9, 4, 12},  /* [9][4][12] -> [4][2][12] */
		{3, 3, 17},  /* [3][3][17] -> [1][1][17] */
		{2, 2, 16},  /* [2][2][16] -> [1][1][16] */
		{1, 1, 3},   /* [1][1][3] -> nothing; grad all zero */
		{1, 5, 4},   /* [1][5][4] -> [0][2][4] */
		{5, 1, 8},   /* [5][1][8] -> [2][0][8] */
		{13, 13, 3}, /* [13][13][3] -> [6][6][3] */
		{10, 7, 16}, /* [10][7][16] -> [5][3][16] */
		{6, 6, 6},   /* [6][6][6] -> [3][3][6]: c % 4 == 2, rows of codes do not start on a byte */
		{9, 10, 10}, /* [9][10][10] -> [4][5][10] */
		{17, 9, 4},  /* [17][9][4] -> [8][4][4]: several slots, rows of 36 floats (masks not on a byte) */
	};
	for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++)
		for (int k = 0; k < n_engines; k++) {
			test_pool_case(&engines[k], pools[i][0], pools[i][1], pools[i][2], FILL_UNIFORM, &r, &worst);
			test_pool_case(&engines[k], pools[i][0], pools[i][1], pools[i][2], FILL_TIES, &r, &worst);
		}
	for (int k = 0; k < n_engines; k++) {
		test_pool_ties(&engines[k], 15); /* [4][6][15] */
		test_pool_ties(&engines[k], 16); /* [4][6][16] */
		if (engines[k].e.threads > 1) {
			test_pool_race(&engines[k], 6, 500, &r);  /* [4][2][6] */
			test_pool_race(&engines[k], 10, 500, &r); /* [4][2][10] */
		}
	}

	printf("pooling: %.2f s\n", seconds_since(&t0));
	/* 4. masks: n values */
	/* values: [n], mask bits [(n + 7) / 8] bytes; 300001: items of 16 KiB of mask on the pool (ragged) */
	static const size_t masks[] = {1, 7, 8, 13, 64, 1003, 300001};
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++)
		for (int k = 0; k < n_engines; k++)
			test_mask_apply(&engines[k], masks[i], &r);

	printf("masks: %.2f s\n", seconds_since(&t0));
	/* 5. gram and style loss */
	const struct style_case *styles = style_cases(&n);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < n_engines; k++)
			test_style_case(&engines[k], &styles[i], k == 0, &r, &worst);

	const struct tap_case *taps = tap_cases(&n);
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < n_engines; k++) {
			test_tap_grad_case(&engines[k], &taps[i], true, false, &r);
			test_tap_grad_case(&engines[k], &taps[i], false, true, &r);
			test_tap_grad_case(&engines[k], &taps[i], true, true, &r);
			test_tap_gram_case(&engines[k], &taps[i], &r);
		}
	printf("gram and style: %.2f s\n", seconds_since(&t0));
	/* 6. content loss (count values) and total variation ([h][w][c]) */
	static const size_t contents[] = {1, 7, 231, 1000, 3 * NST_SUM_PARALLEL_MIN + 7}; /* values: [count]; the last
	                                                                                       on the pool's threads */
	for (size_t i = 0; i < sizeof(contents) / sizeof(contents[0]); i++)
		for (int k = 0; k < n_engines; k++)
			test_content_case(&engines[k], contents[i], k % 2 ? 1e-2f : 3.0f, &r, &worst);
	static const int tvs[][3] = {{7, 11, 3}, {1, 1, 3}, {1, 5, 3}, {6, 1, 3}, {2, 2, 1}, {5, 4, 5}}; /* [h][w][c] */
	for (size_t i = 0; i < sizeof(tvs) / sizeof(tvs[0]); i++) {
		test_tv_case(tvs[i][0], tvs[i][1], tvs[i][2], 1.0f, &r, &worst);
		test_tv_case(tvs[i][0], tvs[i][1], tvs[i][2], 1e-4f, &r, &worst);
	}
	static const int tv_bits[][3] = {{7, 11, 3}, {1, 5, 3}, {131, 89, 3}, {3, 4099, 3}}; /* the last two on the pool */
	for (size_t i = 0; i < sizeof(tv_bits) / sizeof(tv_bits[0]); i++)
		for (int k = 0; k < n_engines; k++)
			test_tv_bits(&engines[k], tv_bits[i][0], tv_bits[i][1], tv_bits[i][2], &r);

	printf("content and tv: %.2f s\n", seconds_since(&t0));
	printf("worst relative errors:\n");
	printf("  conv forward vs naive            %.3g (limit %.3g)\n", worst.conv, CONV_TOL);
	printf("  conv backward vs naive transpose %.3g (limit %.3g)\n", worst.conv_bwd, CONV_TOL);
	printf("  conv adjoint identity            %.3g (limit 1e-5)\n", worst.conv_adjoint);
	printf("  avgpool forward                  %.3g (limit %.3g)\n", worst.pool_avg, 4 * FLT_EPSILON);
	printf("  avgpool adjoint identity         %.3g (limit 1e-6)\n", worst.pool_adjoint);
	printf("  gram                             %.3g (limit 1e-5)\n", worst.gram);
	printf("  style loss value vs float Gram   %.3g (limit 1e-6)\n", worst.style_value);
	printf("  style loss value vs double Gram  %.3g (limit 1e-4)\n", worst.style_value_double);
	printf("  style M                          %.3g (limit 1e-6)\n", worst.style_m);
	printf("  style grad F M                   %.3g (limit 1e-5)\n", worst.style_grad);
	printf("  style grad vs finite differences %.3g (limit 1e-4)\n", worst.style_fd);
	printf("  content loss value               %.3g (limit 1e-6)\n", worst.content_value);
	printf("  content grad vs finite diffs     %.3g (limit 1e-5)\n", worst.content_fd);
	printf("  tv loss value                    %.3g (limit 1e-6)\n", worst.tv_value);
	printf("  tv grad vs finite differences    %.3g (limit 1e-5)\n", worst.tv_fd);

	for (int i = 0; i < n_engines; i++)
		free(engines[i].e.scratch);
	if (pool)
		pthreadpool_destroy(pool);
	printf("total: %.2f s\n", seconds_since(&t0));
	if (check_failed_count)
		printf("test_ops: FAILED; rerun with NST_TEST_SEED=%" PRIu64 "\n", seed);
	return check_finish("test_ops");
}
