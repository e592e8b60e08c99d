/*
 * Feed-forward mode (src/net_transformer.c, its src/conv_*.c and src/instance_norm.c) against
 * naive references written here in double precision:
 *
 *   1. the picture's way in and out: padding to a multiple of 4 by replicating the last row and
 *      column; cropping, the strength mix, rounding and clamping (NaN and infinities included);
 *      strength 0 returns the input exactly, strength 1 the network's output rounded;
 *   2. instance norm followed by ReLU, by nothing, or added into a residual: means far from 0,
 *      variances near eps (so that eps itself shows), one pixel, channel counts around the
 *      8-wide blocks;
 *   3. nst_conv2d_up (the 2x nearest upsample fused into the im2col, and plain convolutions with
 *      the interior fast path) and nst_conv2d_phases (upsample + 3x3 as four 2x2 convolutions):
 *      against a naive upsample followed by a naive convolution;
 *   4. nst_conv2d with few output channels (the last layer, on the small-N kernels) and
 *      nst_conv2d_winograd (F(2x2, 3x3) and F(4x4, 3x3)):
 *      against a naive convolution;
 *   5. the whole network with random weights (narrow odd channel widths, and the real 32 / 64 /
 *      128; float32 and float16 files) against a naive forward pass, on pictures whose sides are
 *      and are not multiples of 4; strength 0 / 0.3 / 1; one plan reused for smaller pictures
 *      and for the other orientation (bit-identical to a session planned for each), refusing a
 *      larger area; the weights closed after init;
 *   6. plan exactness: an arena of exactly plan.total_bytes, pre-filled with NaN and followed by
 *      guard bytes, works and nothing is written past it; one byte less is refused; the real
 *      network's plan at 512 x 512 is printed and must be at most 64 MiB (F(2x2) there; F(4x4)
 *      where it fits, as at 256 x 256);
 *   7. every refusal: not a feed-forward network, sizes, threads, backend, alignment, strength.
 *
 * Operators run on several engines: the scalar GEMM kernel and every SIMD kernel of this CPU, on
 * the calling thread and on a 2-thread pthreadpool.  Outputs are pre-filled with NaN (so an
 * element left unwritten shows) and followed by guard words (so a write past the end shows);
 * per-thread scratch is sized by the operator's own scratch function and guarded too.
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
#include "net_transformer.h"
#include "internal.h"
#include "support.h"
#include "support_engine.h"

#define NAN_BYTE 0xff                    /* 0xffffffff is a NaN: an arena pre-filled with it */
#define RGB 3
#define FAST_LAYERS 16
#define MAX_ENGINES 16
#define MIB (1024.0 * 1024.0)
#define PLAN_512_LIMIT_BYTES ((size_t)64 << 20)
#define EPS 1e-5

/* Bounds: an operator's error relative to the sum of the absolute values of its terms; the
 * network's relative L2 error against the double forward pass (float32 noise, amplified by
 * instance norms over the few pixels of small pictures, reaches 2e-5; a wrong tap, pad, eps or
 * layer gives errors of order 1e-2 and more). */
#define CONV_TOL 1e-5
/* Float16 GEMMs (inputs and weights rounded to float16, float16 sums): each product is within
 * 2^-10 of |term| and each of the k <= 9 * 64 sums adds at most 2^-11 of the running |sum|, which
 * random signs keep near sqrt(k) of that; a misplaced weight or column costs O(1). */
#define CONV_TOL_F16 1e-2
#define NORM_TOL 2e-6
#define NET_TOL 1e-4
/* A picture of at most 4 x 4 (see check_picture): over 780 seeded cases the error ranged 0 - 0.036
 * (median 0.0023, 99th percentile 0.016; one seed, 1796646038346738869, 0.036 failed the bound of
 * 0.03 this had); a wrong bias, beta or padding costs O(1). */
#define NET_TOL_DEGENERATE 1e-1

/* Buffers and random fills: tests/support.h. */

/* Engines: tests/support_engine.h. */

/* ---------------------------------------------------------------------------------------------
 * 1. The picture in and out
 * ------------------------------------------------------------------------------------------- */

static void test_input(const struct test_engine *te, int w, int h, struct nst_rng *r) {
	const int wp = nst_fast_padded(w), hp = nst_fast_padded(h);
	CHECK(wp % 4 == 0 && hp % 4 == 0 && wp >= w && hp >= h && wp < w + 4 && hp < h + 4, "padded %dx%d -> %dx%d", w,
	      h, wp, hp);
	uint8_t *rgb = gbytes((size_t)w * (size_t)h * RGB, 0); // [h][w][3]
	fill_bytes(r, rgb, (size_t)w * (size_t)h * RGB);
	const size_t n = (size_t)wp * (size_t)hp * RGB;
	float *x = galloc(n); // [hp][wp][3]
	nst_fast_input(&te->e, w, h, rgb, wp, hp, x);
	size_t bad = 0;
	for (int y = 0; y < hp; y++)
		for (int xx = 0; xx < wp; xx++)
			for (int c = 0; c < RGB; c++) {
				const int sy = y < h ? y : h - 1, sx = xx < w ? xx : w - 1;
				const float want = (float)rgb[((size_t)sy * (size_t)w + (size_t)sx) * RGB + (size_t)c];
				bad += x[((size_t)y * (size_t)wp + (size_t)xx) * RGB + (size_t)c] != want;
			}
	CHECK(bad == 0, "%s: input %dx%d -> %dx%d: %zu values differ from edge replication", te->label, w, h, wp, hp, bad);
	CHECK(guard_ok(x, n), "input %dx%d: wrote past the end", w, h);
	free(rgb);
	free(x);
}

/* round(s * clamp(y, 0, 255) + (1 - s) * in) in float, NaN as 0, ties to even. */
static uint8_t ref_mix(float y, float s, uint8_t in) {
	const float c = isnan(y) ? 0.0f : fminf(fmaxf(y, 0.0f), 255.0f);
	const float v = s * c + (1.0f - s) * (float)in;
	return (uint8_t)fminf(fmaxf(nearbyintf(v), 0.0f), 255.0f);
}

static void test_output(const struct test_engine *te, int w, int h, float strength, struct nst_rng *r) {
	const int wp = nst_fast_padded(w), hp = nst_fast_padded(h);
	const size_t n = (size_t)wp * (size_t)hp * RGB, m = (size_t)w * (size_t)h * RGB;
	float *y = galloc(n); // [hp][wp][3]
	fill_uniform(r, y, n, -60.0, 320.0);
	for (size_t i = 0; i < n; i += 17) /* exact halves, and the values that need care */
		y[i] = (float)(floor(urand(r, -3, 258)) + 0.5);
	if (n > 40) {
		y[1] = NAN;
		y[5] = INFINITY;
		y[7] = -INFINITY;
		y[11] = 255.5f;
		y[13] = -0.5f;
	}
	uint8_t *in = gbytes(m, 0), *out = gbytes(m, 0xee);
	fill_bytes(r, in, m);
	nst_fast_output(&te->e, w, h, y, wp, in, strength, out);
	/* The reference computes the mix in float as the definition reads (its result must not depend
	 * on how a tie like 0.3 * 255 + 0.7 * 5 rounds in double), clamping NaN to 0. */
	size_t bad = 0;
	for (int yy = 0; yy < h; yy++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < RGB; c++) {
				const size_t o = ((size_t)yy * (size_t)w + (size_t)x) * RGB + (size_t)c;
				const float v = y[((size_t)yy * (size_t)wp + (size_t)x) * RGB + (size_t)c];
				bad += out[o] != ref_mix(v, strength, in[o]);
			}
	CHECK(bad == 0, "%s: output %dx%d strength %g: %zu values wrong", te->label, w, h, (double)strength, bad);
	if (strength == 0.0f)
		CHECK(memcmp(out, in, m) == 0, "output %dx%d strength 0 is not the input", w, h);
	CHECK(gbytes_ok(out, m), "output %dx%d: wrote past the end", w, h);
	/* in place */
	uint8_t *copy = gbytes(m, 0);
	memcpy(copy, in, m);
	nst_fast_output(&te->e, w, h, y, wp, copy, strength, copy);
	CHECK(memcmp(copy, out, m) == 0, "output %dx%d strength %g in place differs", w, h, (double)strength);
	/* raw: the crop, bit for bit */
	float *raw = galloc(m);
	nst_fast_output_raw(w, h, y, wp, raw);
	size_t raw_bad = 0;
	for (int yy = 0; yy < h; yy++)
		raw_bad += memcmp(raw + (size_t)yy * (size_t)w * RGB, y + (size_t)yy * (size_t)wp * RGB,
		                  (size_t)w * RGB * sizeof(float)) != 0;
	CHECK(raw_bad == 0 && guard_ok(raw, m), "raw output %dx%d: %zu rows differ from the crop", w, h, raw_bad);
	free(y);
	free(in);
	free(out);
	free(copy);
	free(raw);
}

/* ---------------------------------------------------------------------------------------------
 * 2. Instance norm
 * ------------------------------------------------------------------------------------------- */

enum norm_fill { NORM_PLAIN_FILL, NORM_FAR_MEAN, NORM_TINY_VARIANCE };

static void test_norm_case(struct test_engine *te, size_t n, int c, enum nst_norm_then then, enum norm_fill fill,
                           struct nst_rng *r, double *worst) {
	const size_t cc = (size_t)c, total = n * cc;
	float *x = galloc(total), *x0 = galloc(total), *res = galloc(total), *res0 = galloc(total); // [n][c]
	float *gamma = galloc(cc), *beta = galloc(cc);
	for (size_t ch = 0; ch < cc; ch++) {
		const double mean = fill == NORM_FAR_MEAN ? urand(r, -2000, 2000) : urand(r, -3, 3);
		const double spread = fill == NORM_TINY_VARIANCE ? 1e-3 * urand(r, 0.5, 3) : urand(r, 0.1, 5);
		for (size_t p = 0; p < n; p++)
			x0[p * cc + ch] = (float)(mean + spread * urand(r, -1.7, 1.7));
		gamma[ch] = (float)urand(r, -1.5, 1.5);
		beta[ch] = (float)urand(r, -1, 1);
	}
	fill_uniform(r, res0, total, -2, 2);
	memcpy(x, x0, total * sizeof(float));
	memcpy(res, res0, total * sizeof(float));
	const size_t scratch_doubles = nst_instance_norm_scratch_doubles(te->e.threads, c);
	double *scratch = xmalloc((scratch_doubles + 1) * sizeof(double));
	const double canary = -12345.678;
	scratch[scratch_doubles] = canary;
	nst_instance_norm(&te->e, n, c, x, gamma, beta, then, then == NST_NORM_ADD ? res : NULL, scratch);
	CHECK(scratch[scratch_doubles] == canary, "instance norm %zux%d: scratch overrun (%s)", n, c, te->label);

	double err = 0.0;
	for (size_t ch = 0; ch < cc; ch++) {
		double mean = 0.0, var = 0.0;
		for (size_t p = 0; p < n; p++)
			mean += x0[p * cc + ch];
		mean /= (double)n;
		for (size_t p = 0; p < n; p++)
			var += (x0[p * cc + ch] - mean) * (x0[p * cc + ch] - mean);
		var /= (double)n;
		const double inv = 1.0 / sqrt(var + EPS);
		for (size_t p = 0; p < n; p++) {
			const size_t i = p * cc + ch;
			const double z = (x0[i] - mean) * inv * gamma[ch] + beta[ch];
			/* terms' scale: |x - mean| * inv * |gamma| + |beta|, and |x| * inv * |gamma| for the rounding of x */
			const double scale = (fabs(x0[i]) + fabs(mean)) * inv * fabs(gamma[ch]) + fabs(beta[ch]) + 1.0;
			double want, got;
			switch (then) {
			case NST_NORM_RELU: want = z > 0 ? z : 0; got = x[i]; break;
			case NST_NORM_PLAIN: want = z; got = x[i]; break;
			case NST_NORM_ADD: want = res0[i] + z; got = res[i]; break;
			}
			note(&err, fabs(got - want) / scale);
		}
	}
	CHECK(err <= NORM_TOL, "instance norm n %zu c %d then %d fill %d (%s): error %.3g > %.3g", n, c, (int)then,
	      (int)fill, te->label, err, NORM_TOL);
	note(worst, err);
	if (then == NST_NORM_ADD)
		CHECK(memcmp(x, x0, total * sizeof(float)) == 0, "instance norm add (%s): x was modified", te->label);
	CHECK(guard_ok(x, total) && guard_ok(res, total), "instance norm (%s): wrote past the end", te->label);
	free(x);
	free(x0);
	free(res);
	free(res0);
	free(gamma);
	free(beta);
	free(scratch);
}

/* ---------------------------------------------------------------------------------------------
 * 3, 4. Convolutions
 * ------------------------------------------------------------------------------------------- */

struct conv_case {
	int k, stride, up; /* square k x k kernel; up 1 or 2 */
	bool reflect;
	int cin, cout, h, w; /* h, w: the input, before upsampling */
};

/* Naive: out[oy][ox][co] (double) and the sum of the absolute values of its terms. */
static void naive_conv(const struct conv_case *c, const float *in, const float *hwio, const float *bias, int oy,
                       int ox, int co, double *value, double *abs_sum) {
	const struct naive_conv_shape shape = {c->k, c->stride, c->up, c->reflect, c->cin, c->cout, c->h, c->w};
	naive_conv_value(&shape, in, hwio, bias, oy, ox, co, value, abs_sum);
}

enum conv_kind { CONV_UP, CONV_NARROW, CONV_WINOGRAD, CONV_PHASES };
static const char *const CONV_KIND_NAMES[] = {"conv_up", "narrow", "winograd", "phases"};

/* wino: CONV_WINOGRAD's transform (ignored by the other kinds). */
static void test_conv_case(struct test_engine *te, const struct conv_case *c, enum conv_kind kind, enum nst_wino wino,
                           struct nst_rng *r, double *worst) {
	const struct nst_gemm_kernel *g = te->e.gemm;
	const struct nst_conv_shape shape = {c->k, c->k, c->stride, c->k / 2, c->reflect, c->cin, c->cout};
	const int oh = nst_conv_out_size(c->up * c->h, c->k, c->stride, c->k / 2);
	const int ow = nst_conv_out_size(c->up * c->w, c->k, c->stride, c->k / 2);
	const size_t n_in = (size_t)c->h * (size_t)c->w * (size_t)c->cin;
	const size_t n_w = (size_t)c->k * (size_t)c->k * (size_t)c->cin * (size_t)c->cout;
	const size_t n_out = (size_t)oh * (size_t)ow * (size_t)c->cout;
	float *in = galloc(n_in), *hwio = galloc(n_w), *bias = galloc((size_t)c->cout), *out = galloc(n_out);
	fill_uniform(r, in, n_in, -1, 1);
	fill_uniform(r, hwio, n_w, -1, 1);
	fill_uniform(r, bias, (size_t)c->cout, -1, 1);
	float *packed;
	size_t packed_n;
	if (kind == CONV_UP) {
		packed_n = nst_conv_up_packed_floats(g, &shape);
		packed = galloc(packed_n);
		nst_conv_up_pack(g, &shape, hwio, bias, packed);
		engine_scratch(te, nst_conv_up_scratch_floats(g, &shape));
		nst_conv2d_up(&te->e, &shape, c->up, c->h, c->w, in, packed, out);
	} else if (kind == CONV_NARROW) { /* nst_conv2d: few output channels take the small-N kernels */
		packed_n = nst_conv_packed_floats(g, &shape);
		packed = galloc(packed_n);
		nst_conv_pack_forward(g, &shape, hwio, bias, packed);
		engine_scratch(te, nst_conv_scratch_floats(g, &shape));
		nst_conv2d(&te->e, &shape, c->h, c->w, in, packed, out, NULL);
	} else if (kind == CONV_PHASES) {
		CHECK(nst_conv_phases_apply(&shape) && c->up == 2, "phases case k%d s%d up%d", c->k, c->stride, c->up);
		packed_n = nst_conv_phases_packed_floats(g, &shape);
		packed = galloc(packed_n);
		const size_t staging_n = nst_conv_phases_staging_floats(&shape);
		float *staging = galloc(staging_n);
		nst_conv_phases_pack(g, &shape, hwio, bias, staging, packed);
		CHECK(guard_ok(staging, staging_n), "phases pack: staging overrun");
		free(staging);
		engine_scratch(te, nst_conv_phases_scratch_floats(g, &shape));
		nst_conv2d_phases(&te->e, &shape, c->h, c->w, in, packed, out);
	} else {
		CHECK(nst_conv_winograd_applies(&shape), "winograd case k%d s%d is not 3x3 stride 1 pad 1", c->k, c->stride);
		packed_n = nst_conv_winograd_packed_floats(g, &shape, wino);
		packed = galloc(packed_n);
		const size_t staging_n = nst_conv_winograd_staging_floats(&shape);
		float *staging = galloc(staging_n);
		nst_conv_winograd_pack(g, &shape, wino, hwio, bias, staging, packed);
		CHECK(guard_ok(staging, staging_n), "winograd pack: staging overrun");
		free(staging);
		engine_scratch(te, nst_conv_winograd_scratch_floats(g, &shape, wino));
		nst_conv2d_winograd(&te->e, &shape, wino, c->h, c->w, in, packed, out, NULL);
	}
	CHECK(engine_scratch_done(te), "%s %dx%d k%d: scratch overrun (%s)", CONV_KIND_NAMES[kind], c->h, c->w, c->k,
	      te->label);
	CHECK(guard_ok(packed, packed_n), "pack overrun (%s)", te->label);
	double err = 0.0;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int co = 0; co < c->cout; co++) {
				double want, abs_sum;
				naive_conv(c, in, hwio, bias, oy, ox, co, &want, &abs_sum);
				const double got = out[((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)c->cout + (size_t)co];
				note(&err, fabs(got - want) / (abs_sum + DBL_MIN));
			}
	const double tol = te->e.gemm->f16 ? CONV_TOL_F16 : CONV_TOL;
	CHECK(err <= tol, "%s k%d s%d up%d %s cin %d cout %d [%d][%d] F%d (%s): error %.3g > %.3g",
	      CONV_KIND_NAMES[kind], c->k, c->stride, c->up, c->reflect ? "reflect" : "zero", c->cin,
	      c->cout, c->h, c->w, (int)wino, te->label, err, tol);
	CHECK(guard_ok(out, n_out), "%s (%s): wrote past the end", CONV_KIND_NAMES[kind], te->label);
	note(worst, err);
	free(in);
	free(hwio);
	free(bias);
	free(out);
	free(packed);
}

/* ---------------------------------------------------------------------------------------------
 * 5. The whole network: a weights file with random values, and the naive forward pass
 * ------------------------------------------------------------------------------------------- */

enum role { ROLE_PLAIN, ROLE_RES_IN, ROLE_RES_OUT, ROLE_OUTPUT };

struct ref_layer {
	int k, stride, cin, cout;
	bool up;
	enum role role;
	float *hwio, *bias, *gamma, *beta; /* the values as stored (float16-rounded when the file is) */
};

struct ref_net {
	struct ref_layer L[FAST_LAYERS];
};

/* widths: conv1, conv2, conv3 (= every residual block), conv14, conv15 outputs. */
static void make_net(struct ref_net *net, const int widths[5], bool f16, struct nst_rng *r) {
	static const struct { int k, stride; bool up; enum role role; } spec[FAST_LAYERS] = {
		{9, 1, false, ROLE_PLAIN}, {3, 2, false, ROLE_PLAIN}, {3, 2, false, ROLE_PLAIN},
		{3, 1, false, ROLE_RES_IN}, {3, 1, false, ROLE_RES_OUT}, {3, 1, false, ROLE_RES_IN},
		{3, 1, false, ROLE_RES_OUT}, {3, 1, false, ROLE_RES_IN}, {3, 1, false, ROLE_RES_OUT},
		{3, 1, false, ROLE_RES_IN}, {3, 1, false, ROLE_RES_OUT}, {3, 1, false, ROLE_RES_IN},
		{3, 1, false, ROLE_RES_OUT}, {3, 1, true, ROLE_PLAIN}, {3, 1, true, ROLE_PLAIN},
		{9, 1, false, ROLE_OUTPUT},
	};
	int cin = RGB;
	for (int i = 0; i < FAST_LAYERS; i++) {
		struct ref_layer *L = &net->L[i];
		L->k = spec[i].k;
		L->stride = spec[i].stride;
		L->up = spec[i].up;
		L->role = spec[i].role;
		L->cin = cin;
		L->cout = i < 3 ? widths[i] : i < 13 ? widths[2] : i == 13 ? widths[3] : i == 14 ? widths[4] : RGB;
		const size_t n = (size_t)L->k * (size_t)L->k * (size_t)L->cin * (size_t)L->cout;
		L->hwio = xmalloc(n * sizeof(float));
		L->bias = xmalloc((size_t)L->cout * sizeof(float));
		L->gamma = xmalloc((size_t)L->cout * sizeof(float));
		L->beta = xmalloc((size_t)L->cout * sizeof(float));
		/* He-scaled weights; the last layer maps to roughly 0..255 so that clamping happens. */
		const double std = sqrt(2.0 / ((double)L->k * L->k * L->cin)) * (L->role == ROLE_OUTPUT ? 60.0 : 1.0);
		for (size_t j = 0; j < n; j++) {
			float v = (float)(nst_rng_normal(r) * std);
			L->hwio[j] = f16 ? nst_f16_to_f32(nst_f32_to_f16(v)) : v;
		}
		for (int j = 0; j < L->cout; j++) {
			L->bias[j] = (float)(L->role == ROLE_OUTPUT ? urand(r, 100, 150) : urand(r, -0.2, 0.2));
			L->gamma[j] = (float)urand(r, 0.5, 1.5);
			L->beta[j] = (float)urand(r, -0.5, 0.5);
		}
		cin = L->cout;
	}
}

static void free_net(struct ref_net *net) {
	for (int i = 0; i < FAST_LAYERS; i++) {
		free(net->L[i].hwio);
		free(net->L[i].bias);
		free(net->L[i].gamma);
		free(net->L[i].beta);
	}
}

/* Writes net as a .nstw feed-forward file (weights/FORMAT.md); arch and the layer count can be
 * overridden to make bad files. Returns 0 on success. */
static int write_net(const char *path, const struct ref_net *net, bool f16, uint32_t arch, int n_layers) {
	const size_t header_bytes = align_up(NSTW_HEADER_BYTES + NSTW_LAYER_BYTES * (size_t)n_layers, NSTW_ALIGNMENT);
	const size_t elem = f16 ? sizeof(uint16_t) : sizeof(float);
	struct nstw_layer table[FAST_LAYERS];
	memset(table, 0, sizeof table);
	size_t payload = 0;
	for (int i = 0; i < n_layers; i++) {
		const struct ref_layer *L = &net->L[i];
		struct nstw_layer *e = &table[i];
		snprintf(e->name, sizeof e->name, "conv%d", i + 1);
		e->op = NSTW_OP_CONV2D;
		e->kernel_h = e->kernel_w = (uint32_t)L->k;
		e->in_channels = (uint32_t)L->cin;
		e->out_channels = (uint32_t)L->cout;
		e->stride = (uint32_t)L->stride;
		e->flags = L->role == ROLE_OUTPUT ? 0 : NSTW_FLAG_NORM;
		e->offset = payload;
		const size_t kernel = (size_t)L->k * (size_t)L->k * (size_t)L->cin * (size_t)L->cout * elem;
		e->bytes = align_up(kernel, sizeof(float)) + sizeof(float) * (size_t)L->cout * (e->flags ? 3 : 1);
		payload = align_up(payload + e->bytes, NSTW_ALIGNMENT);
	}
	uint8_t *file = calloc(1, header_bytes + payload);
	if (!file)
		return -1;
	struct nstw_header h;
	support_nstw_header(&h, header_bytes, n_layers, f16 ? NST_DTYPE_F16 : NST_DTYPE_F32, arch, payload, "test-fast",
	                    "tests/test_fast.c random");
	for (int i = 0; i < n_layers; i++) {
		const struct ref_layer *L = &net->L[i];
		const struct nstw_layer *e = &table[i];
		uint8_t *p = file + header_bytes + e->offset;
		const size_t n = (size_t)L->k * (size_t)L->k * (size_t)L->cin * (size_t)L->cout;
		for (size_t j = 0; j < n; j++) {
			if (f16) {
				const uint16_t hv = nst_f32_to_f16(L->hwio[j]);
				memcpy(p + 2 * j, &hv, 2);
			} else {
				memcpy(p + 4 * j, &L->hwio[j], 4);
			}
		}
		uint8_t *v = p + align_up(n * elem, sizeof(float)); // bias [cout], gamma [cout], beta [cout]
		const size_t vb = (size_t)L->cout * sizeof(float);
		memcpy(v, L->bias, vb);
		if (e->flags) {
			memcpy(v + vb, L->gamma, vb);
			memcpy(v + 2 * vb, L->beta, vb);
		}
	}
	const int rc = support_nstw_write(path, file, header_bytes + payload, &h, table, n_layers);
	free(file);
	return rc;
}

/* A feature map of the naive pass: [h][w][c] doubles. */
struct fmap {
	int h, w, c;
	double *v;
};

static struct fmap fmap_new(int h, int w, int c) {
	struct fmap m = {h, w, c, xmalloc((size_t)h * (size_t)w * (size_t)c * sizeof(double))};
	return m;
}

static struct fmap ref_upsample(const struct fmap *in) {
	struct fmap o = fmap_new(2 * in->h, 2 * in->w, in->c);
	for (int y = 0; y < o.h; y++)
		for (int x = 0; x < o.w; x++)
			for (int ch = 0; ch < o.c; ch++)
				o.v[((size_t)y * (size_t)o.w + (size_t)x) * (size_t)o.c + (size_t)ch] =
					in->v[((size_t)(y / 2) * (size_t)in->w + (size_t)(x / 2)) * (size_t)in->c + (size_t)ch];
	return o;
}

static struct fmap ref_conv(const struct fmap *in, const struct ref_layer *L) {
	const int pad = L->k / 2;
	const int oh = (in->h + 2 * pad - L->k) / L->stride + 1, ow = (in->w + 2 * pad - L->k) / L->stride + 1;
	struct fmap o = fmap_new(oh, ow, L->cout);
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++) {
			double *dst = o.v + ((size_t)oy * (size_t)ow + (size_t)ox) * (size_t)L->cout;
			for (int co = 0; co < L->cout; co++)
				dst[co] = L->bias[co];
			for (int ky = 0; ky < L->k; ky++)
				for (int kx = 0; kx < L->k; kx++) {
					const int iy = naive_reflect(oy * L->stride - pad + ky, in->h);
					const int ix = naive_reflect(ox * L->stride - pad + kx, in->w);
					const double *src = in->v + ((size_t)iy * (size_t)in->w + (size_t)ix) * (size_t)in->c;
					const float *wk = L->hwio + ((size_t)ky * (size_t)L->k + (size_t)kx) * (size_t)L->cin * (size_t)L->cout;
					for (int ci = 0; ci < L->cin; ci++)
						for (int co = 0; co < L->cout; co++)
							dst[co] += src[ci] * (double)wk[(size_t)ci * (size_t)L->cout + (size_t)co];
				}
		}
	return o;
}

static void ref_norm(struct fmap *m, const struct ref_layer *L) {
	const size_t n = (size_t)m->h * (size_t)m->w, c = (size_t)m->c;
	for (size_t ch = 0; ch < c; ch++) {
		double mean = 0, var = 0;
		for (size_t p = 0; p < n; p++)
			mean += m->v[p * c + ch];
		mean /= (double)n;
		for (size_t p = 0; p < n; p++)
			var += (m->v[p * c + ch] - mean) * (m->v[p * c + ch] - mean);
		var /= (double)n;
		for (size_t p = 0; p < n; p++)
			m->v[p * c + ch] = (m->v[p * c + ch] - mean) / sqrt(var + EPS) * L->gamma[ch] + L->beta[ch];
	}
}

/* The network on rgb [h][w][3]: out [h][w][3] (doubles, unclamped). */
static void ref_forward(const struct ref_net *net, int w, int h, const uint8_t *rgb, double *out) {
	const int hp = (h + 3) / 4 * 4, wp = (w + 3) / 4 * 4;
	struct fmap cur = fmap_new(hp, wp, RGB), x = {0};
	for (int y = 0; y < hp; y++)
		for (int xx = 0; xx < wp; xx++)
			for (int c = 0; c < RGB; c++)
				cur.v[((size_t)y * (size_t)wp + (size_t)xx) * RGB + (size_t)c] =
					rgb[((size_t)(y < h ? y : h - 1) * (size_t)w + (size_t)(xx < w ? xx : w - 1)) * RGB + (size_t)c];
	for (int i = 0; i < FAST_LAYERS; i++) {
		const struct ref_layer *L = &net->L[i];
		if (L->role == ROLE_RES_IN)
			x = cur; /* kept for the add */
		if (L->up) {
			struct fmap u = ref_upsample(&cur);
			free(cur.v);
			cur = u;
		}
		struct fmap o = ref_conv(&cur, L);
		if (L->role != ROLE_RES_IN)
			free(cur.v);
		cur = o;
		if (L->role != ROLE_OUTPUT)
			ref_norm(&cur, L);
		const size_t n = (size_t)cur.h * (size_t)cur.w * (size_t)cur.c;
		if (L->role == ROLE_PLAIN || L->role == ROLE_RES_IN)
			for (size_t j = 0; j < n; j++)
				cur.v[j] = cur.v[j] > 0 ? cur.v[j] : 0;
		if (L->role == ROLE_RES_OUT) {
			for (size_t j = 0; j < n; j++)
				cur.v[j] += x.v[j];
			free(x.v);
			x.v = NULL;
		}
	}
	for (int y = 0; y < h; y++)
		memcpy(out + (size_t)y * (size_t)w * RGB, cur.v + (size_t)y * (size_t)wp * RGB, (size_t)w * RGB * sizeof(double));
	free(cur.v);
}

/* An arena of exactly `bytes` (aligned), pre-filled with NaN bytes, followed by guard bytes. */
static uint8_t *arena_new(size_t bytes) {
	const size_t total = align_up(bytes + SUPPORT_GUARD_BYTES, NST_ARENA_ALIGNMENT);
	uint8_t *a = aligned_alloc(NST_ARENA_ALIGNMENT, total);
	if (!a) {
		fprintf(stderr, "test_fast: out of memory\n");
		exit(1);
	}
	memset(a, NAN_BYTE, bytes);
	memset(a + bytes, SUPPORT_GUARD_BYTE, total - bytes);
	return a;
}

static bool arena_guard_ok(const uint8_t *a, size_t bytes) {
	const size_t total = align_up(bytes + SUPPORT_GUARD_BYTES, NST_ARENA_ALIGNMENT);
	for (size_t i = bytes; i < total; i++)
		if (a[i] != SUPPORT_GUARD_BYTE)
			return false;
	return true;
}

struct session {
	struct nst_fast_session *s;
	struct nst_fast_plan plan;
	uint8_t *arena;
};

/* Plans and initialises a session for width x height from the file at path (closed after init). */
static bool session_open(struct session *out, const char *path, int width, int height, int threads,
                         enum nst_backend backend) {
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	enum nst_status st = nst_weights_open(path, &w, &diag);
	CHECK(st == NST_OK, "open %s: %s", path, diag.message);
	if (st != NST_OK)
		return false;
	st = nst_fast_plan(w, width, height, threads, backend, NST_PRECISION_FP32, &out->plan, &diag);
	CHECK(st == NST_OK, "plan %dx%d: %s", width, height, diag.message);
	if (st == NST_OK) {
		out->arena = arena_new(out->plan.total_bytes);
		st = nst_fast_init(out->arena, out->plan.total_bytes, w, width, height, threads, backend, NST_PRECISION_FP32, &out->s, &diag);
		CHECK(st == NST_OK, "init %dx%d with exactly the plan's %zu bytes: %s", width, height, out->plan.total_bytes,
		      diag.message);
		if (st != NST_OK)
			free(out->arena);
	}
	nst_weights_close(w); /* everything needed is packed */
	return st == NST_OK;
}

static void session_close(struct session *s) {
	CHECK(arena_guard_ok(s->arena, s->plan.total_bytes), "the session wrote past its %zu-byte arena",
	      s->plan.total_bytes);
	nst_fast_release(s->s);
	free(s->arena);
}

/* One picture through the session against the naive pass: raw output's relative L2 error, the
 * rounded output at strengths 1, 0.3 and 0. */
static void check_picture(struct session *ss, const struct ref_net *net, int w, int h, const char *what,
                          struct nst_rng *r, double *worst) {
	const size_t m = (size_t)w * (size_t)h * RGB;
	uint8_t *rgb = gbytes(m, 0), *out = gbytes(m, 0xee);
	fill_bytes(r, rgb, m);
	double *want = xmalloc(m * sizeof(double));
	ref_forward(net, w, h, rgb, want);
	float *raw = galloc(m);
	enum nst_status st = nst_fast_run_raw(ss->s, w, h, rgb, raw);
	CHECK(st == NST_OK, "%s %dx%d: run_raw: %s", what, w, h, nst_status_string(st));
	double num = 0, den = 0;
	for (size_t i = 0; i < m; i++) {
		num += ((double)raw[i] - want[i]) * ((double)raw[i] - want[i]);
		den += want[i] * want[i];
	}
	const double rel = sqrt(num / (den + DBL_MIN));
	/* A picture of at most 4 x 4 (padded) is one pixel at quarter resolution: the upsampling
	 * layers then see a constant picture whose instance-norm variance is 0 in exact arithmetic,
	 * and float rounding (which differs between the four phases of nst_conv2d_phases) is divided
	 * by sqrt(eps): only a loose bound there, structural errors are still of order 1. */
	const bool degenerate = nst_fast_padded(w) <= NST_FAST_SIDE_MULTIPLE && nst_fast_padded(h) <= NST_FAST_SIDE_MULTIPLE;
	const double tol = degenerate ? NET_TOL_DEGENERATE : NET_TOL;
	CHECK(rel <= tol, "%s %dx%d: relative L2 error %.3g > %.3g", what, w, h, rel, tol);
	CHECK(guard_ok(raw, m), "%s %dx%d: run_raw wrote past the end", what, w, h);
	if (!degenerate)
		note(worst, rel);

	static const float strengths[] = {1.0f, 0.3f, 0.0f};
	for (size_t k = 0; k < sizeof strengths / sizeof strengths[0]; k++) {
		const float s = strengths[k];
		st = nst_fast_run(ss->s, w, h, rgb, out, s);
		CHECK(st == NST_OK, "%s %dx%d strength %g: %s", what, w, h, (double)s, nst_status_string(st));
		/* The rounded output is exactly the mix of the raw output (which matched the naive pass
		 * above): comparing it with the naive pass directly would only add float noise at the
		 * rounding boundaries. */
		size_t bad = 0;
		for (size_t i = 0; i < m; i++)
			bad += out[i] != ref_mix(raw[i], s, rgb[i]);
		CHECK(bad == 0, "%s %dx%d strength %g: %zu values are not round(s * clamp(raw) + (1 - s) * in)", what, w, h,
		      (double)s, bad);
		if (s == 0.0f)
			CHECK(memcmp(out, rgb, m) == 0, "%s %dx%d: strength 0 is not the input exactly", what, w, h);
		CHECK(gbytes_ok(out, m), "%s %dx%d: run wrote past the end", what, w, h);
	}
	free(rgb);
	free(out);
	free(want);
	free(raw);
}

/* The raw output of a picture, for comparing sessions bit for bit. */
static float *raw_of(struct session *ss, int w, int h, const uint8_t *rgb) {
	float *raw = galloc((size_t)w * (size_t)h * RGB);
	const enum nst_status st = nst_fast_run_raw(ss->s, w, h, rgb, raw);
	CHECK(st == NST_OK, "run_raw %dx%d: %s", w, h, nst_status_string(st));
	return raw;
}

/* Floats of activations the network needs for a w x h picture, by the region's rule (each layer's
 * input + output, a residual block's x + both outputs), computed here from the widths. */
static size_t expected_activation_floats(const int widths[5], int w, int h) {
	const size_t hw = (size_t)nst_fast_padded(w) * (size_t)nst_fast_padded(h);
	const size_t x = hw * RGB, f1 = hw * (size_t)widths[0], f2 = hw / 4 * (size_t)widths[1];
	const size_t f3 = hw / 16 * (size_t)widths[2], u2 = hw / 4 * (size_t)widths[3], u1 = hw * (size_t)widths[4];
	const size_t pairs[] = {x + f1, f1 + f2, f2 + f3, 3 * f3, f3 + u2, u2 + u1, u1 + x};
	size_t need = 0;
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
		need = pairs[i] > need ? pairs[i] : need;
	return need;
}

static void test_network(const char *dir, const int widths[5], bool f16, const int (*sizes)[2], size_t n_sizes,
                         size_t max_runs, struct nst_rng *r, double *worst) {
	struct ref_net net;
	make_net(&net, widths, f16, r);
	char path[512];
	snprintf(path, sizeof path, "%s/net-%d-%d-%d-%s.nstw", dir, widths[0], widths[1], widths[2], f16 ? "f16" : "f32");
	CHECK(write_net(path, &net, f16, NST_ARCH_TRANSFORMER, FAST_LAYERS) == 0, "cannot write %s", path);
	static const struct { enum nst_backend backend; int threads; } runs[] = {
		{NST_BACKEND_AUTO, 2}, {NST_BACKEND_SCALAR, 1}, {NST_BACKEND_AUTO, 1}};
	const size_t n_runs = max_runs < sizeof runs / sizeof runs[0] ? max_runs : sizeof runs / sizeof runs[0];
	for (size_t k = 0; k < n_runs; k++)
		for (size_t i = 0; i < n_sizes; i++) {
			const int w = sizes[i][0], h = sizes[i][1];
			struct session ss;
			if (!session_open(&ss, path, w, h, runs[k].threads, runs[k].backend))
				continue;
			char what[160];
			snprintf(what, sizeof what, "network %d/%d/%d/%d/%d %s, %s (%s), %d thread%s", widths[0], widths[1],
			         widths[2], widths[3], widths[4], f16 ? "f16" : "f32", nst_backend_name(ss.plan.backend),
			         ss.plan.kernel, ss.plan.threads, ss.plan.threads > 1 ? "s" : "");
			check_picture(&ss, &net, w, h, what, r, worst);
			/* The region is what the layers need, or the staging of the weights while packing if
			 * that is more: a kernel and its bias, and a residual layer's Winograd matrix, a 9x9
			 * layer's on float32 kernels (nst_conv2d_grid: one position's [9 cin][cout]; on float16
			 * ones conv1 and the last layer pack straight from the kernel). */
			size_t staging = 0;
			for (int j = 0; j < FAST_LAYERS; j++) {
				const struct ref_layer *L = &net.L[j];
				size_t f = (size_t)L->k * (size_t)L->k * (size_t)L->cin * (size_t)L->cout + (size_t)L->cout;
				if (L->role == ROLE_RES_IN || L->role == ROLE_RES_OUT) /* Winograd: one transformed matrix */
					f += (size_t)L->cin * (size_t)L->cout;
				if (L->up) /* phases: one phase's 2x2 kernel */
					f += 4 * (size_t)L->cin * (size_t)L->cout;
				if (L->k == 9 && ss.plan.precision != NST_PRECISION_FP16) /* the grid: 3 x 3 sub-kernels */
					f += 9 * (size_t)L->cin * (size_t)L->cout;
				staging = f > staging ? f : staging;
			}
			size_t need = expected_activation_floats(widths, w, h);
			need = (need > staging ? need : staging) * sizeof(float);
			CHECK(ss.plan.activations_bytes == align_up(need, NST_ARENA_ALIGNMENT),
			      "%s %dx%d: activations %zu bytes, the layers need %zu", what, w, h, ss.plan.activations_bytes, need);
			session_close(&ss);
		}
	free_net(&net);
}

/* One plan for many pictures: smaller ones and the other orientation give the same bits as a
 * session planned for each; a larger padded area is refused. */
static void test_reuse(const char *dir, struct nst_rng *r) {
	static const int widths[5] = {5, 7, 9, 6, 4};
	struct ref_net net;
	make_net(&net, widths, false, r);
	char path[512];
	snprintf(path, sizeof path, "%s/reuse.nstw", dir);
	CHECK(write_net(path, &net, false, NST_ARCH_TRANSFORMER, FAST_LAYERS) == 0, "cannot write %s", path);
	struct session big;
	if (!session_open(&big, path, 24, 16, 2, NST_BACKEND_AUTO)) {
		free_net(&net);
		return;
	}
	/* (w, h): smaller, the other orientation (same padded area), not multiples of 4 */
	static const int pictures[][2] = {{13, 7}, {16, 24}, {24, 16}, {1, 1}, {21, 15}, {9, 30}};
	for (size_t i = 0; i < sizeof pictures / sizeof pictures[0]; i++) {
		const int w = pictures[i][0], h = pictures[i][1];
		const size_t m = (size_t)w * (size_t)h * RGB;
		uint8_t *rgb = gbytes(m, 0);
		fill_bytes(r, rgb, m);
		float *a = raw_of(&big, w, h, rgb);
		float *again = raw_of(&big, w, h, rgb);
		CHECK(memcmp(a, again, m * sizeof(float)) == 0, "reuse %dx%d: a second run differs", w, h);
		struct session exact;
		if (session_open(&exact, path, w, h, 2, NST_BACKEND_AUTO)) {
			float *b = raw_of(&exact, w, h, rgb);
			CHECK(memcmp(a, b, m * sizeof(float)) == 0,
			      "reuse %dx%d: the 24x16 plan's result differs from the exact plan's", w, h);
			CHECK(exact.plan.total_bytes <= big.plan.total_bytes,
			      "reuse %dx%d: the exact plan (%zu) is larger than 24x16's (%zu)", w, h, exact.plan.total_bytes,
			      big.plan.total_bytes);
			free(b);
			session_close(&exact);
		}
		free(a);
		free(again);
		free(rgb);
	}
	/* Larger padded areas than 24 x 16 (= 384): refused, nothing written (21 x 18 = 378 pixels,
	 * but 24 x 20 padded). */
	static const int larger[][2] = {{25, 16}, {24, 17}, {28, 14}, {400, 1}, {21, 18}, {17, 21}};
	for (size_t i = 0; i < sizeof larger / sizeof larger[0]; i++) {
		const int w = larger[i][0], h = larger[i][1];
		const size_t m = (size_t)w * (size_t)h * RGB;
		uint8_t *rgb = gbytes(m, 7), *out = gbytes(m, 9);
		const enum nst_status st = nst_fast_run(big.s, w, h, rgb, out, 1.0f);
		CHECK(st == NST_ERR_INVALID_ARGUMENT, "a %dx%d picture on a 24x16 plan: %s, expected refusal", w, h,
		      nst_status_string(st));
		bool untouched = true;
		for (size_t j = 0; j < m; j++)
			untouched = untouched && out[j] == 9;
		CHECK(untouched, "a refused %dx%d run wrote its output", w, h);
		free(rgb);
		free(out);
	}
	session_close(&big);
	free_net(&net);
}

/* ---------------------------------------------------------------------------------------------
 * 6, 7. Plans and refusals
 * ------------------------------------------------------------------------------------------- */

static void test_plans(const char *dir, struct nst_rng *r) {
	static const int real[5] = {32, 64, 128, 64, 32};
	struct ref_net net;
	make_net(&net, real, true, r);
	char path[512], vgg[512], short_path[512];
	snprintf(path, sizeof path, "%s/real.nstw", dir);
	snprintf(vgg, sizeof vgg, "%s/vgg.nstw", dir);
	snprintf(short_path, sizeof short_path, "%s/short.nstw", dir);
	CHECK(write_net(path, &net, true, NST_ARCH_TRANSFORMER, FAST_LAYERS) == 0, "cannot write %s", path);
	CHECK(write_net(short_path, &net, true, NST_ARCH_TRANSFORMER, FAST_LAYERS - 1) == 0, "cannot write %s", short_path);
	const struct support_vgg_layer vgg_layers[] = {{1, 8, 0}, {1, 8, 0}};
	CHECK(support_write_vgg(vgg, vgg_layers, 2, 1, NST_DTYPE_F32) == 0, "cannot write %s", vgg);
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	CHECK(nst_weights_open(path, &w, &diag) == NST_OK, "open %s: %s", path, diag.message);
	if (!w) {
		free_net(&net);
		return;
	}

	/* The real network at 512 x 512 on 2 threads: at most 64 MiB, activations exactly 48 floats
	 * per pixel (conv2's input + output). */
	struct nst_fast_plan plan;
	enum nst_status st = nst_fast_plan(w, 512, 512, 2, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
	CHECK(st == NST_OK, "plan 512x512: %s", diag.message);
	printf("plan 512x512, 2 threads, %s: %zu bytes (%.2f MiB): weights %.2f, activations %.2f, scratch %.2f MiB; "
	       "%.2f GFLOP\n",
	       plan.kernel, plan.total_bytes, (double)plan.total_bytes / MIB, (double)plan.weights_bytes / MIB,
	       (double)plan.activations_bytes / MIB, (double)plan.scratch_bytes / MIB, plan.flops * 1e-9);
	CHECK(plan.total_bytes <= PLAN_512_LIMIT_BYTES, "plan 512x512: %zu bytes > %zu MiB", plan.total_bytes,
	      PLAN_512_LIMIT_BYTES >> 20);
	CHECK(plan.activations_bytes == align_up((size_t)48 * 512 * 512 * sizeof(float), NST_ARENA_ALIGNMENT),
	      "plan 512x512: activations %zu bytes, expected 48 floats per pixel", plan.activations_bytes);
	CHECK(plan.total_bytes == plan.weights_bytes + plan.activations_bytes + plan.scratch_bytes,
	      "plan: the categories do not add up to the total");
	CHECK(plan.padded_width == 512 && plan.padded_height == 512 && plan.threads == 2, "plan fields");
	/* F(4x4)'s weights would take 512 x 512 beyond the target: F(2x2) there, F(4x4) at 256 x 256. */
	CHECK(plan.winograd_tile == 2, "plan 512x512: Winograd F(%d), expected F(2) within the memory target",
	      plan.winograd_tile);
	struct nst_fast_plan small;
	st = nst_fast_plan(w, 256, 256, 2, NST_BACKEND_AUTO, NST_PRECISION_FP32, &small, &diag);
	CHECK(st == NST_OK && small.winograd_tile == 4 && small.total_bytes <= NST_FAST_MEMORY_TARGET,
	      "plan 256x256: %s, Winograd F(%d), %zu bytes", nst_status_string(st), small.winograd_tile, small.total_bytes);

	/* The largest picture: planned without overflow where size_t has 64 bits (about 192 GiB, never
	 * allocated here), refused as out of memory where it has 32. */
	st = nst_fast_plan(w, NST_MAX_IMAGE_SIDE, NST_MAX_IMAGE_SIDE, 2, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
	const double huge = 48.0 * NST_MAX_IMAGE_SIDE * (double)NST_MAX_IMAGE_SIDE * sizeof(float);
	if (sizeof(size_t) >= sizeof(uint64_t))
		CHECK(st == NST_OK && (double)plan.total_bytes >= huge, "plan %dx%d: %s, %zu bytes", NST_MAX_IMAGE_SIDE,
		      NST_MAX_IMAGE_SIDE, nst_status_string(st), plan.total_bytes);
	else
		CHECK(st == NST_ERR_OUT_OF_MEMORY, "plan %dx%d on a 32-bit system: %s (%s)", NST_MAX_IMAGE_SIDE,
		      NST_MAX_IMAGE_SIDE, nst_status_string(st), diag.message);

	/* Exactness: the plan's bytes work (test_network checks nothing is written past them); one
	 * byte less is refused; sizes not multiples of 4 plan their padded size. */
	static const int sizes[][2] = {{64, 48}, {13, 7}, {1, 1}};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		const int width = sizes[i][0], height = sizes[i][1];
		st = nst_fast_plan(w, width, height, 2, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
		CHECK(st == NST_OK, "plan %dx%d: %s", width, height, diag.message);
		uint8_t *arena = arena_new(plan.total_bytes);
		struct nst_fast_session *s = NULL;
		st = nst_fast_init(arena, plan.total_bytes - 1, w, width, height, 2, NST_BACKEND_AUTO, NST_PRECISION_FP32, &s, &diag);
		CHECK(st == NST_ERR_OUT_OF_MEMORY, "init %dx%d with one byte less than the plan: %s", width, height,
		      nst_status_string(st));
		st = nst_fast_init(arena, plan.total_bytes, w, width, height, 2, NST_BACKEND_AUTO, NST_PRECISION_FP32, &s, &diag);
		CHECK(st == NST_OK, "init %dx%d with the plan's bytes: %s", width, height, diag.message);
		if (st == NST_OK) {
			const size_t m = (size_t)width * (size_t)height * RGB;
			uint8_t *rgb = gbytes(m, 0), *out = gbytes(m, 0);
			fill_bytes(r, rgb, m);
			CHECK(nst_fast_run(s, width, height, rgb, out, 1.0f) == NST_OK, "run %dx%d", width, height);
			CHECK(nst_fast_session_plan(s)->total_bytes == plan.total_bytes, "the session's plan differs");
			nst_fast_release(s);
			free(rgb);
			free(out);
		}
		CHECK(arena_guard_ok(arena, plan.total_bytes), "%dx%d: wrote past the arena", width, height);
		free(arena);
	}

	/* Precision: fp16 on the scalar backend is the float16 twin, F(2x2); elsewhere the float16
	 * SIMD kernel where this CPU has one, else fp32 with a notice. */
	st = nst_fast_plan(w, 256, 256, 1, NST_BACKEND_SCALAR, NST_PRECISION_FP16, &plan, &diag);
	CHECK(st == NST_OK && plan.precision == NST_PRECISION_FP16 && !plan.notice && plan.winograd_tile == 2 &&
	          strstr(plan.kernel, "f16_gemm") && strstr(plan.kernel, "__scalar"),
	      "scalar fp16 plan: %s, precision %d, kernel %s, F(%d), notice %s", nst_status_string(st), (int)plan.precision,
	      plan.kernel, plan.winograd_tile, plan.notice ? plan.notice : "none");
	CHECK(nst_fast_precision_available(NST_BACKEND_SCALAR, NST_PRECISION_FP16) &&
	          nst_fast_precision_available(NST_BACKEND_SIMD, NST_PRECISION_FP32) &&
	          !nst_fast_precision_available(NST_BACKEND_XNNPACK, NST_PRECISION_FP32) &&
	          !nst_fast_precision_available(NST_BACKEND_SIMD, (enum nst_precision)7),
	      "nst_fast_precision_available");
	const bool simd_f16 = nst_fast_precision_available(NST_BACKEND_SIMD, NST_PRECISION_FP16);
	st = nst_fast_plan(w, 256, 256, 1, NST_BACKEND_AUTO, NST_PRECISION_FP16, &plan, &diag);
	CHECK(st == NST_OK && (simd_f16 ? plan.precision == NST_PRECISION_FP16 && !plan.notice && strstr(plan.kernel, "f16_gemm")
	                                : plan.precision == NST_PRECISION_FP32 && plan.notice && !strstr(plan.kernel, "f16")),
	      "auto fp16 plan (float16 SIMD kernel here: %s): precision %d, kernel %s, notice %s", simd_f16 ? "yes" : "no",
	      (int)plan.precision, plan.kernel, plan.notice ? plan.notice : "none");
	printf("fp16 here: %s (%s)\n", nst_precision_name(plan.precision), plan.notice ? plan.notice : plan.kernel);
	diag.message[0] = '\0';
	st = nst_fast_plan(w, 8, 8, 1, NST_BACKEND_AUTO, (enum nst_precision)7, &plan, &diag);
	CHECK(st == NST_ERR_INVALID_ARGUMENT && diag.message[0], "plan with precision 7: %s", nst_status_string(st));

	/* Refusals. */
	const struct { int width, height, threads; enum nst_backend backend; enum nst_status want; const char *what; } bad[] = {
		{0, 10, 1, NST_BACKEND_AUTO, NST_ERR_INVALID_ARGUMENT, "width 0"},
		{10, -1, 1, NST_BACKEND_AUTO, NST_ERR_INVALID_ARGUMENT, "height -1"},
		{NST_MAX_IMAGE_SIDE + 1, 8, 1, NST_BACKEND_AUTO, NST_ERR_INVALID_ARGUMENT, "width over the limit"},
		{8, 8, -1, NST_BACKEND_AUTO, NST_ERR_INVALID_ARGUMENT, "threads -1"},
		{8, 8, 1, (enum nst_backend)99, NST_ERR_INVALID_ARGUMENT, "backend 99"},
		{8, 8, 1, NST_BACKEND_XNNPACK, NST_ERR_UNSUPPORTED, "backend xnnpack"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		diag.message[0] = '\0';
		st = nst_fast_plan(w, bad[i].width, bad[i].height, bad[i].threads, bad[i].backend, NST_PRECISION_FP32, &plan, &diag);
		CHECK(st == bad[i].want && diag.message[0], "plan with %s: %s (%s)", bad[i].what, nst_status_string(st),
		      diag.message);
	}
	CHECK(nst_fast_plan(NULL, 8, 8, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag) == NST_ERR_INVALID_ARGUMENT, "plan NULL weights");
	st = nst_fast_plan(w, 8, 8, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
	uint8_t *arena = arena_new(plan.total_bytes + NST_ARENA_ALIGNMENT);
	struct nst_fast_session *s = NULL;
	st = nst_fast_init(arena + 4, plan.total_bytes, w, 8, 8, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &s, &diag);
	CHECK(st == NST_ERR_INVALID_ARGUMENT, "init with a misaligned arena: %s", nst_status_string(st));
	st = nst_fast_init(arena, plan.total_bytes, w, 8, 8, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &s, &diag);
	CHECK(st == NST_OK, "init 8x8: %s", diag.message);
	if (st == NST_OK) {
		uint8_t rgb[8 * 8 * RGB] = {0}, out[8 * 8 * RGB];
		float raw[8 * 8 * RGB];
		const float strengths[] = {-0.01f, 1.01f, NAN, INFINITY};
		for (size_t i = 0; i < sizeof strengths / sizeof strengths[0]; i++)
			CHECK(nst_fast_run(s, 8, 8, rgb, out, strengths[i]) == NST_ERR_INVALID_ARGUMENT, "strength %g accepted",
			      (double)strengths[i]);
		CHECK(nst_fast_run(s, 0, 8, rgb, out, 1.0f) == NST_ERR_INVALID_ARGUMENT, "width 0 accepted");
		CHECK(nst_fast_run(s, 8, 8, NULL, out, 1.0f) == NST_ERR_INVALID_ARGUMENT, "NULL input accepted");
		CHECK(nst_fast_run(s, 8, 8, rgb, NULL, 1.0f) == NST_ERR_INVALID_ARGUMENT, "NULL output accepted");
		CHECK(nst_fast_run_raw(s, 8, 8, rgb, NULL) == NST_ERR_INVALID_ARGUMENT, "NULL raw output accepted");
		CHECK(nst_fast_run_raw(s, 12, 8, rgb, raw) == NST_ERR_INVALID_ARGUMENT, "12x8 on an 8x8 plan accepted");
		CHECK(nst_fast_run(NULL, 8, 8, rgb, out, 1.0f) == NST_ERR_INVALID_ARGUMENT, "NULL session accepted");
		nst_fast_release(s);
	}
	free(arena);
	nst_weights_close(w);

	/* Weights that are not this network. */
	const char *files[] = {vgg, short_path};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		CHECK(nst_weights_open(files[i], &w, &diag) == NST_OK, "open %s: %s", files[i], diag.message);
		if (!w)
			continue;
		diag.message[0] = '\0';
		st = nst_fast_plan(w, 8, 8, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
		CHECK(st == NST_ERR_WEIGHTS_FORMAT && diag.message[0], "plan with %s: %s, expected a weights-format refusal",
		      files[i], nst_status_string(st));
		printf("refused %s: %s\n", files[i], diag.message);
		nst_weights_close(w);
	}
	/* A residual block whose output width differs from its input's. */
	struct ref_net bad_net;
	static const int narrow[5] = {4, 6, 8, 6, 4};
	make_net(&bad_net, narrow, false, r);
	bad_net.L[4].cout = 7; /* conv5: 8 -> 7 */
	bad_net.L[5].cin = 7;
	free(bad_net.L[4].hwio);
	bad_net.L[4].hwio = calloc((size_t)9 * 8 * 7, sizeof(float));
	free(bad_net.L[5].hwio);
	bad_net.L[5].hwio = calloc((size_t)9 * 7 * 8, sizeof(float));
	char bad_path[512];
	snprintf(bad_path, sizeof bad_path, "%s/bad-residual.nstw", dir);
	CHECK(write_net(bad_path, &bad_net, false, NST_ARCH_TRANSFORMER, FAST_LAYERS) == 0, "cannot write %s", bad_path);
	if (nst_weights_open(bad_path, &w, &diag) == NST_OK) {
		st = nst_fast_plan(w, 8, 8, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
		CHECK(st == NST_ERR_WEIGHTS_FORMAT, "a residual block 8 -> 7 channels: %s", nst_status_string(st));
		printf("refused %s: %s\n", bad_path, diag.message);
		nst_weights_close(w);
	}
	free_net(&bad_net);
	free_net(&net);
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

int main(void) {
	const uint64_t seed = support_seed("test_fast");
	struct nst_rng r;
	nst_rng_seed(&r, seed);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char *dir = support_tmpdir("fast");
	CHECK(dir != NULL, "cannot make a temporary directory");
	if (!dir)
		return check_finish("test_fast");

	/* Engines: the scalar kernel and every SIMD kernel (and twin) of this CPU, each on the calling
	 * thread and on a 2-thread pool. */
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	const struct nst_gemm_kernel *kernels[2 + 2 * 4 + 2];
	size_t n_kernels = 0;
	kernels[n_kernels++] = nst_gemm_kernel_scalar();
	/* The float16 GEMMs (the feed-forward networks' fp16): the twin everywhere, NEON's on ARMv8.2. */
	kernels[n_kernels++] = nst_gemm_kernel_f16(&cpu, true);
	if (nst_gemm_kernel_f16(&cpu, false))
		kernels[n_kernels++] = nst_gemm_kernel_f16(&cpu, false);
	n_kernels = support_add_config_kernels(kernels, n_kernels, sizeof kernels / sizeof kernels[0]);
	pthreadpool_t pool = pthreadpool_create(2);
	CHECK(pool != NULL, "pthreadpool_create(2) failed");
	struct test_engine engines[MAX_ENGINES];
	const int n_engines = support_engines(engines, MAX_ENGINES, kernels, n_kernels, pool);

	/* 1. in and out: sides that are and are not multiples of 4, 1; on each engine (the picture's
	 * rows on the pool's threads) */
	static const int pictures[][2] = {{1, 1}, {4, 4}, {5, 3}, {13, 7}, {64, 48}, {2, 9}};
	static const float strengths[] = {0.0f, 1.0f, 0.5f, 0.37f};
	for (size_t i = 0; i < sizeof pictures / sizeof pictures[0]; i++)
		for (int e = 0; e < n_engines; e++) {
			test_input(&engines[e], pictures[i][0], pictures[i][1], &r);
			for (size_t k = 0; k < sizeof strengths / sizeof strengths[0]; k++)
				test_output(&engines[e], pictures[i][0], pictures[i][1], strengths[k], &r);
		}
	printf("input and output: %.2f s\n", seconds_since(&t0));

	/* 2. instance norm: [n][c] */
	double worst_norm = 0;
	static const struct { size_t n; int c; } norms[] = {
		{1, 8}, {7, 3}, {100, 13}, {5000, 32}, {333, 128}, {2, 1}, {64, 17}, {4096, 9},
	};
	for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++)
		for (int k = 0; k < 2 && k < n_engines; k++) /* no GEMM: the scalar engines, 1 and 2 threads */
			for (int then = NST_NORM_RELU; then <= NST_NORM_ADD; then++)
				for (int fill = NORM_PLAIN_FILL; fill <= NORM_TINY_VARIANCE; fill++)
					test_norm_case(&engines[k], norms[i].n, norms[i].c, (enum nst_norm_then)then, (enum norm_fill)fill,
					               &r, &worst_norm);
	printf("instance norm: %.2f s\n", seconds_since(&t0));

	/* 3. conv_up: the upsampling cases, then plain ones (stride 1 and 2; the interior fast path) */
	double worst_up = 0, worst_narrow = 0;
	double worst_f16 = 0; /* every convolution on a float16 GEMM kernel */
	static const struct conv_case ups[] = {
		/* k  s up reflect cin cout  h   w */
		{3, 1, 2, true, 8, 5, 5, 7},     /* [5][7][8] -> upsampled [10][14] -> [10][14][5] */
		{3, 1, 2, true, 16, 17, 3, 4},   /* [3][4][16] -> [6][8][17] */
		{3, 1, 2, true, 3, 8, 1, 1},     /* [1][1][3] -> [2][2][8] */
		{3, 1, 2, true, 5, 3, 1, 6},     /* [1][6][5] -> [2][12][3] */
		{3, 1, 2, false, 7, 9, 4, 3},    /* zero padding around the upsampled picture */
		{9, 1, 2, true, 3, 4, 3, 5},     /* pad 4 on a 6x10 upsampled picture */
		{1, 1, 2, true, 6, 6, 3, 3},     /* 1x1 after the upsample */
		{9, 1, 1, true, 3, 16, 12, 20},  /* conv1's shape: [12][20][3] -> [12][20][16], interior rows */
		{9, 1, 1, true, 3, 8, 4, 4},     /* pad 4 on a 4x4 picture: reflected twice */
		{3, 2, 1, true, 8, 12, 9, 7},    /* stride 2, odd sizes: [9][7][8] -> [5][4][12] */
		{3, 2, 1, true, 32, 16, 8, 8},   /* conv2's shape */
		{3, 1, 1, false, 5, 6, 6, 5},    /* zero padding, stride 1 */
		{9, 1, 1, false, 4, 5, 11, 13},  /* zero padding, 9x9 */
	};
	for (size_t i = 0; i < sizeof ups / sizeof ups[0]; i++)
		for (int k = 0; k < n_engines; k++)
			test_conv_case(&engines[k], &ups[i], CONV_UP, NST_WINO_F2, &r, engines[k].e.gemm->f16 ? &worst_f16 : &worst_up);
	printf("conv_up: %.2f s\n", seconds_since(&t0));
	/* 3b. the same upsampling 3x3 cases by phases (and more: long rows, several tiles) */
	double worst_phases = 0;
	static const struct conv_case phases[] = {
		/* k  s up reflect cin cout  h   w */
		{3, 1, 2, true, 8, 5, 5, 7},     /* [5][7][8] -> [10][14][5] */
		{3, 1, 2, true, 16, 17, 3, 4},
		{3, 1, 2, true, 3, 8, 1, 1},     /* a 1x1 input: every window replicated */
		{3, 1, 2, true, 5, 3, 1, 6},
		{3, 1, 2, false, 7, 9, 4, 3},    /* zero padding */
		{3, 1, 2, true, 64, 32, 6, 37},  /* rows longer than MR, several tiles */
		{3, 1, 2, true, 13, 6, 9, 2},    /* rows shorter than MR */
	};
	for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
		for (int k = 0; k < n_engines; k++)
			test_conv_case(&engines[k], &phases[i], CONV_PHASES, NST_WINO_F2, &r, engines[k].e.gemm->f16 ? &worst_f16 : &worst_phases);
	printf("phases conv: %.2f s\n", seconds_since(&t0));

	/* 4. narrow (nst_conv2d, as the network's last layer runs): cout 1..5 (1..4 on the small-N
	 * kernels, 9 on the GEMM), reflect and zero padding, widths not multiples of the kernels' rows */
	static const struct conv_case groups[] = {
		/* k  s up reflect cin cout  h   w */
		{9, 1, 1, true, 32, 3, 12, 23},  /* the network's last layer */
		{9, 1, 1, true, 5, 3, 4, 4},     /* 4x4: every window reflected */
		{9, 1, 1, true, 3, 1, 7, 41},
		{9, 1, 1, true, 7, 2, 9, 10},
		{3, 1, 1, true, 6, 5, 5, 11},
		{3, 1, 1, false, 4, 3, 6, 17},   /* zero padding */
		{1, 1, 1, true, 9, 3, 3, 33},
		{3, 1, 1, true, 2, 9, 4, 9},     /* cout 9: more than one column panel for 4x8 */
		{9, 1, 1, true, 4, 3, 1, 1},
	};
	for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
		for (int k = 0; k < n_engines; k++)
			test_conv_case(&engines[k], &groups[i], CONV_NARROW, NST_WINO_F2, &r, engines[k].e.gemm->f16 ? &worst_f16 : &worst_narrow);
	printf("narrow conv: %.2f s\n", seconds_since(&t0));

	/* 4b. Winograd F(2x2, 3x3) and F(4x4, 3x3): odd sizes (partial tiles), 1 x 1, channels around
	 * the vector widths, zero padding too */
	double worst_winograd[2] = {0, 0}; /* F2, F4 */
	static const struct conv_case winos[] = {
		/* k  s up reflect cin cout  h   w */
		{3, 1, 1, true, 16, 16, 8, 8},   /* [8][8][16] -> [8][8][16] */
		{3, 1, 1, true, 13, 9, 5, 7},    /* odd sides: partial tiles */
		{3, 1, 1, true, 8, 5, 1, 1},
		{3, 1, 1, true, 3, 17, 2, 9},
		{3, 1, 1, true, 32, 24, 12, 13}, /* several blocks of tiles */
		{3, 1, 1, false, 7, 8, 6, 5},    /* zero padding */
		{3, 1, 1, false, 9, 3, 1, 4},
		{3, 1, 1, true, 64, 64, 3, 50},  /* more tiles than a block holds */
	};
	static const enum nst_wino wino_sizes[] = {NST_WINO_F2, NST_WINO_F4};
	for (size_t f = 0; f < sizeof wino_sizes / sizeof wino_sizes[0]; f++)
		for (size_t i = 0; i < sizeof winos / sizeof winos[0]; i++)
			for (int k = 0; k < n_engines; k++) /* float16 sessions use F(2x2) only */
				if (!(engines[k].e.gemm->f16 && wino_sizes[f] == NST_WINO_F4))
					test_conv_case(&engines[k], &winos[i], CONV_WINOGRAD, wino_sizes[f], &r, engines[k].e.gemm->f16 ? &worst_f16 : &worst_winograd[f]);
	printf("winograd conv: %.2f s\n", seconds_since(&t0));

	/* 5. whole networks (smaller under emulation: NST_EMU set by tests/run.sh for qemu) */
	const char *emu_env = getenv("NST_EMU");
	const bool emulated = emu_env && *emu_env;
	double worst_net = 0;
	static const int odd[5] = {5, 7, 9, 6, 4};
	static const int odd_sizes[][2] = {{16, 12}, {13, 7}, {1, 1}, {4, 4}, {5, 9}, {20, 3}};
	test_network(dir, odd, false, odd_sizes, sizeof odd_sizes / sizeof odd_sizes[0], emulated ? 2 : 3, &r, &worst_net);
	test_network(dir, odd, true, odd_sizes, 2, emulated ? 1 : 3, &r, &worst_net);
	/* Wide residual blocks: x and the blocks' two outputs (3 * 48 / 16 floats per pixel) need
	 * more of the region than any input + output pair (at most 3 + 2), and than the staging of the
	 * weights (a 48 x 48 3x3 kernel) at these sizes. */
	static const int wide_res[5] = {2, 3, 48, 3, 2};
	static const int wide_sizes[][2] = {{128, 96}, {64, 48}, {13, 7}};
	test_network(dir, wide_res, false, wide_sizes + (emulated ? 1 : 0), 2, emulated ? 1 : 3, &r, &worst_net);
	static const int real[5] = {32, 64, 128, 64, 32};
	static const int real_sizes[][2] = {{20, 12}, {11, 6}, {12, 8}};
	test_network(dir, real, true, real_sizes + (emulated ? 2 : 0), emulated ? 1 : 2, emulated ? 1 : 3, &r, &worst_net);
	printf("networks: %.2f s\n", seconds_since(&t0));
	test_reuse(dir, &r);
	printf("plan reuse: %.2f s\n", seconds_since(&t0));

	/* 6, 7. plans and refusals */
	test_plans(dir, &r);

	printf("worst errors:\n");
	printf("  instance norm vs naive (relative to its terms) %.3g (limit %.3g)\n", worst_norm, NORM_TOL);
	printf("  conv_up vs naive (relative to |terms|)         %.3g (limit %.3g)\n", worst_up, CONV_TOL);
	printf("  narrow conv vs naive (relative to |terms|)     %.3g (limit %.3g)\n", worst_narrow, CONV_TOL);
	printf("  winograd F2 conv vs naive (relative to |terms|) %.3g (limit %.3g)\n", worst_winograd[0], CONV_TOL);
	printf("  winograd F4 conv vs naive (relative to |terms|) %.3g (limit %.3g)\n", worst_winograd[1], CONV_TOL);
	printf("  phases conv vs naive (relative to |terms|)     %.3g (limit %.3g)\n", worst_phases, CONV_TOL);
	printf("  float16 GEMM convs vs naive (rel. to |terms|)  %.3g (limit %.3g)\n", worst_f16, CONV_TOL_F16);
	printf("  network vs naive (relative L2)                 %.3g (limit %.3g)\n", worst_net, NET_TOL);
	if (pool)
		pthreadpool_destroy(pool);
	support_rmdir(dir);
	free(dir);
	printf("total: %.2f s\n", seconds_since(&t0));
	if (check_failed_count)
		printf("test_fast: FAILED; rerun with NST_TEST_SEED=%" PRIu64 "\n", seed);
	return check_finish("test_fast");
}
