/*
 * The arbitrary-style network's own operators against naive references in double:
 *   - nst_conv2d_grouped (src/conv_grouped.c) on ragged random shapes: 1..4 groups or 8..32
 *     (outputs the SIMD kernels take), depthwise, two inputs into each output and each input into
 *     two outputs, kernels 1/3/5, strides 1 and 2, zero and reflection padding, with and without
 *     the bilinear x2 upsampling, ReLU or not; scalar on the calling thread and on two threads (the
 *     same bits), and on this CPU's SIMD kernels; the shapes it does not run refused;
 *   - the upsampling layers on phases (x2, 3x3, stride 1, reflection): random ones from 1x1 to
 *     6x40 pictures and the decoder's own kinds (16 and 32 groups of two inputs) at 1x1, 1x40 and
 *     6x40, each against the naive upsampling then convolution;
 *   - a 1x1 convolution after a grouped one, row by row (the decoder's dec3.6 + dec3.8): bit for
 *     bit the two run apart, random plain and phased shapes, 5 .. 40 outputs, on every engine;
 *   - bilinear x2 alone (a 1x1 identity kernel), against PyTorch's formula written out;
 *   - nst_channel_stats (mean, unbiased std) and nst_adain, alpha 0 leaving x unchanged bit for bit;
 *     on a feature map large enough for the pool's threads, the same bits on 2 threads as on the
 *     calling thread (fixed parts of pixels), the statistics against naive double sums.
 * The seed is printed; NST_TEST_SEED=N repeats a run.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"
#include "check.h"
#include "support.h"

#define CASES 300
#define MAX_SIDE 13
#define TOLERANCE 1e-5
#define PHASE_TESTS 120
#define PHASE_MAX_HEIGHT 6
#define POINTWISE_CASES 60
#define POINTWISE_MIN_OUT 5 /* above the small-N kernels' outputs: the GEMM kernels, as nst_conv2d's 1x1 */
#define POINTWISE_MAX_OUT 40
#define PHASE_MAX_WIDTH 40 /* a row's even and odd runs of 39 pixels: beyond the kernels' 32-pixel chunks */

static int pick(struct nst_rng *r, int lo, int hi) { return lo + (int)(nst_rng_next(r) % (uint64_t)(hi - lo + 1)); }

/* PyTorch's bilinear x2 (align_corners=False) of in [h][w][c] at output pixel (y, x), channel k. */
static double naive_up(const float *in, int h, int w, int c, int y, int x, int k) {
	double sy = ((double)y + 0.5) / 2.0 - 0.5, sx = ((double)x + 0.5) / 2.0 - 0.5;
	sy = sy < 0 ? 0 : sy;
	sx = sx < 0 ? 0 : sx;
	const int y0 = (int)sy, x0 = (int)sx, y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
	const double ly = sy - y0, lx = sx - x0;
	const double a = in[((size_t)y0 * w + x0) * c + k], b = in[((size_t)y0 * w + x1) * c + k];
	const double d = in[((size_t)y1 * w + x0) * c + k], e = in[((size_t)y1 * w + x1) * c + k];
	return (1 - ly) * ((1 - lx) * a + lx * b) + ly * ((1 - lx) * d + lx * e);
}

struct grouped_case {
	struct nst_conv_shape shape;
	int groups, up, h, w;
	bool relu;
};

/* The naive convolution; returns the largest |reference| (for the tolerance). */
static double naive_grouped(const struct grouped_case *g, const float *in, const float *hwio, const float *bias,
                            double *out) {
	const struct nst_conv_shape *s = &g->shape;
	const int vh = g->h * g->up, vw = g->w * g->up, cin = s->in_channels, cout = s->out_channels;
	const int cig = cin / g->groups, cog = cout / g->groups;
	const int oh = nst_conv_out_size(vh, s->kernel_h, s->stride, s->pad), ow = nst_conv_out_size(vw, s->kernel_w, s->stride, s->pad);
	double largest = 0.0;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++)
			for (int o = 0; o < cout; o++) {
				double acc = bias[o];
				for (int ky = 0; ky < s->kernel_h; ky++)
					for (int kx = 0; kx < s->kernel_w; kx++) {
						int y = oy * s->stride - s->pad + ky, x = ox * s->stride - s->pad + kx;
						if (y < 0 || y >= vh || x < 0 || x >= vw) {
							if (!s->reflect)
								continue;
							y = naive_reflect(y, vh);
							x = naive_reflect(x, vw);
						}
						for (int j = 0; j < cig; j++) {
							const int k = (o / cog) * cig + j;
							const double v = g->up == 2 ? naive_up(in, g->h, g->w, cin, y, x, k)
							                            : in[((size_t)y * g->w + x) * cin + k];
							acc += v * hwio[((size_t)(ky * s->kernel_w + kx) * cig + j) * cout + o];
						}
					}
				if (g->relu && acc < 0)
					acc = 0;
				out[((size_t)oy * ow + ox) * cout + o] = acc;
				largest = fabs(acc) > largest ? fabs(acc) : largest;
			}
	return largest;
}

/* Runs one case on an engine of the backend (threads 1 or 2); returns the output. */
static float *run_grouped(const struct grouped_case *g, enum nst_backend backend, int threads, const float *packed,
                          const float *in, size_t out_n) {
	struct nst_engine e;
	nst_engine_init(&e, backend, NST_PRECISION_FP32, threads, NULL);
	e.scratch_floats = nst_conv_grouped_scratch_floats(&g->shape, g->groups, g->up, g->w, false);
	e.scratch = malloc(sizeof(float) * e.scratch_floats * (size_t)threads);
	nst_engine_start(&e, NULL);
	float *out = malloc(sizeof(float) * out_n);
	for (size_t i = 0; i < out_n; i++)
		out[i] = NAN; /* every output must be written */
	nst_conv2d_grouped(&e, &g->shape, g->groups, g->up, g->h, g->w, in, packed, g->relu, NULL, out);
	nst_engine_release(&e);
	free(e.scratch);
	return out;
}

static void random_case(struct nst_rng *r, struct grouped_case *g) {
	static const int kernels[] = {1, 3, 5};
	static const int per_group[][2] = {{1, 1}, {2, 1}, {1, 2}}; /* cin / groups, cout / groups */
	memset(g, 0, sizeof *g);
	g->groups = pick(r, 0, 1) ? pick(r, 1, 4) : 8 << pick(r, 0, 2);
	const int kind = pick(r, 0, 2), k = kernels[pick(r, 0, 2)];
	const int cig = per_group[kind][0], cog = per_group[kind][1];
	g->shape = (struct nst_conv_shape){.kernel_h = k, .kernel_w = k, .stride = pick(r, 1, 2), .pad = k / 2,
	                                   .reflect = pick(r, 0, 1) == 1, .in_channels = g->groups * cig,
	                                   .out_channels = g->groups * cog};
	g->up = pick(r, 1, 2);
	/* reflection needs sides above the padding */
	g->h = pick(r, k / 2 + 1, MAX_SIDE);
	g->w = pick(r, k / 2 + 1, MAX_SIDE);
	g->relu = pick(r, 0, 1) == 1;
}

/* One case against the naive convolution, on scalar engines of 1 and 2 threads (which must agree
 * bit for bit) and the SIMD one; returns whether it passed (reporting the first few failures). */
static bool check_case(struct nst_rng *r, const struct grouped_case *g, int c, int *failures) {
	const struct nst_conv_shape *s = &g->shape;
	const int oh = nst_conv_out_size(g->h * g->up, s->kernel_h, s->stride, s->pad);
	const int ow = nst_conv_out_size(g->w * g->up, s->kernel_w, s->stride, s->pad);
	const size_t in_n = (size_t)g->h * g->w * s->in_channels, out_n = (size_t)oh * ow * s->out_channels;
	const size_t w_n = (size_t)s->kernel_h * s->kernel_w * (s->in_channels / g->groups) * s->out_channels;
	float *in = malloc(sizeof(float) * in_n), *hwio = malloc(sizeof(float) * w_n);
	float *bias = malloc(sizeof(float) * s->out_channels);
	double *want = malloc(sizeof(double) * out_n);
	fill_uniform(r, in, in_n, -1, 1);
	fill_uniform(r, hwio, w_n, -1, 1);
	fill_uniform(r, bias, (size_t)s->out_channels, -1, 1);
	const double largest = naive_grouped(g, in, hwio, bias, want);
	float *packed = malloc(sizeof(float) * nst_conv_grouped_packed_floats(s, g->groups, g->up));
	nst_conv_grouped_pack(s, g->groups, g->up, hwio, bias, packed);
	float *one = run_grouped(g, NST_BACKEND_SCALAR, 1, packed, in, out_n);
	float *two = run_grouped(g, NST_BACKEND_SCALAR, 2, packed, in, out_n);
	float *simd = run_grouped(g, NST_BACKEND_SIMD, 2, packed, in, out_n);
	double worst = 0.0;
	for (size_t i = 0; i < out_n; i++)
		for (const float *got = one; got; got = got == one ? simd : NULL) {
			const double d = fabs((double)got[i] - want[i]);
			worst = isnan(got[i]) ? INFINITY : d > worst ? d : worst;
		}
	const bool ok = worst <= TOLERANCE * (largest > 1 ? largest : 1) && memcmp(one, two, sizeof(float) * out_n) == 0;
	if (!ok && (*failures)++ < 5)
		CHECK(ok, "case %d: %dx%d k%d s%d pad %s up %d groups %d cin %d cout %d relu %d: error %.3g (largest %.3g), "
		      "scalar on threads 1 and 2 %s",
		      c, g->h, g->w, s->kernel_h, s->stride, s->reflect ? "reflect" : "zero", g->up, g->groups, s->in_channels,
		      s->out_channels, g->relu, worst, largest, memcmp(one, two, sizeof(float) * out_n) ? "differ" : "agree");
	free(in), free(hwio), free(bias), free(want), free(packed), free(one), free(two), free(simd);
	return ok;
}

static void test_grouped(uint64_t seed) {
	struct nst_rng r;
	nst_rng_seed(&r, seed);
	int failures = 0;
	for (int c = 0; c < CASES; c++) {
		struct grouped_case g;
		random_case(&r, &g);
		check_case(&r, &g, c, &failures);
	}
	CHECK(failures == 0, "%d of %d grouped convolutions differ from the naive one", failures, CASES);
	/* more than one channel per group on both sides, or more than two on one: not this algorithm */
	static const int refused[][2] = {{2, 2}, {3, 1}, {1, 3}};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		const struct nst_conv_shape s = {.kernel_h = 3, .kernel_w = 3, .stride = 1, .pad = 1,
		                                 .in_channels = 4 * refused[i][0], .out_channels = 4 * refused[i][1]};
		CHECK(!nst_conv_grouped_applies(&s, 4), "%d -> %d in 4 groups taken", s.in_channels, s.out_channels);
	}
}

/* The decoder's upsampling layers (x2, 3 x 3, stride 1, reflection padding 1) run on phases (a
 * kernel per output row and column case, the first and last ones included): pictures from 1 pixel
 * high or wide (every pixel a first or last one) to rows longer than the kernels' chunks. */
static void test_phases(uint64_t seed) {
	struct nst_rng r;
	nst_rng_seed(&r, seed ^ 0x9a5e);
	int failures = 0;
	const struct nst_conv_shape phased = {.kernel_h = 3, .kernel_w = 3, .stride = 1, .pad = 1, .reflect = true};
	for (int c = 0; c < PHASE_TESTS; c++) {
		struct grouped_case g;
		random_case(&r, &g);
		g.shape.kernel_h = phased.kernel_h, g.shape.kernel_w = phased.kernel_w;
		g.shape.stride = phased.stride, g.shape.pad = phased.pad, g.shape.reflect = phased.reflect;
		g.up = 2;
		g.h = pick(&r, 1, PHASE_MAX_HEIGHT);
		g.w = pick(&r, 1, PHASE_MAX_WIDTH);
		check_case(&r, &g, c, &failures);
	}
	/* the decoder's kinds (two inputs into each output, 16 and 32 groups: the SIMD members run
	 * them) on a single pixel, a single row and a picture with rows longer than a chunk */
	static const int sides[][2] = {{1, 1}, {1, PHASE_MAX_WIDTH}, {PHASE_MAX_HEIGHT, PHASE_MAX_WIDTH}};
	static const int decoder_groups[] = {16, 32};
	int c = PHASE_TESTS;
	for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++)
		for (size_t k = 0; k < sizeof decoder_groups / sizeof decoder_groups[0]; k++, c++) {
			struct grouped_case g = {.shape = phased, .groups = decoder_groups[k], .up = 2, .h = sides[i][0],
			                         .w = sides[i][1], .relu = true};
			g.shape.in_channels = 2 * g.groups;
			g.shape.out_channels = g.groups;
			check_case(&r, &g, c, &failures);
		}
	CHECK(failures == 0, "%d of %d upsampling layers on phases differ from the naive ones", failures, c);
}

/* A 1x1 convolution after the grouped one, row by row inside it (nst_conv2d_grouped's then: the
 * decoder's dec3.6 + dec3.8): bit for bit the grouped output stored and then nst_conv2d's 1x1 on
 * it, on scalar engines of 1 and 2 threads and the SIMD one, plain and phased shapes, 5 .. 40
 * outputs (ragged for every NR), ReLU or not; every output written. */
static bool check_pointwise_after(struct nst_rng *r, const struct grouped_case *g, enum nst_backend backend,
                                  int threads, int co2, bool relu2) {
	const struct nst_conv_shape *s = &g->shape;
	const int oh = nst_conv_out_size(g->h * g->up, s->kernel_h, s->stride, s->pad);
	const int ow = nst_conv_out_size(g->w * g->up, s->kernel_w, s->stride, s->pad);
	const size_t in_n = (size_t)g->h * g->w * s->in_channels, mid_n = (size_t)oh * ow * s->out_channels;
	const size_t out_n = (size_t)oh * ow * (size_t)co2;
	const size_t w_n = (size_t)s->kernel_h * s->kernel_w * (s->in_channels / g->groups) * s->out_channels;
	const struct nst_conv_shape pw = {1, 1, 1, 0, false, s->out_channels, co2};
	struct nst_engine e;
	nst_engine_init(&e, backend, NST_PRECISION_FP32, threads, NULL);
	const size_t a = nst_conv_grouped_scratch_floats(s, g->groups, g->up, g->w, true);
	const size_t b = nst_conv_scratch_floats(e.gemm, &pw);
	e.scratch_floats = a > b ? a : b;
	e.scratch = malloc(sizeof(float) * e.scratch_floats * (size_t)threads);
	nst_engine_start(&e, NULL);
	float *in = malloc(sizeof(float) * in_n), *hwio = malloc(sizeof(float) * w_n);
	float *bias = malloc(sizeof(float) * s->out_channels), *hwio2 = malloc(sizeof(float) * (size_t)s->out_channels * co2);
	float *bias2 = malloc(sizeof(float) * (size_t)co2);
	fill_uniform(r, in, in_n, -1, 1);
	fill_uniform(r, hwio, w_n, -1, 1);
	fill_uniform(r, bias, (size_t)s->out_channels, -1, 1);
	fill_uniform(r, hwio2, (size_t)s->out_channels * co2, -1, 1);
	fill_uniform(r, bias2, (size_t)co2, -1, 1);
	float *packed = malloc(sizeof(float) * nst_conv_grouped_packed_floats(s, g->groups, g->up));
	nst_conv_grouped_pack(s, g->groups, g->up, hwio, bias, packed);
	float *packed2 = malloc(sizeof(float) * nst_conv_packed_floats(e.gemm, &pw));
	nst_conv_pack_forward(e.gemm, &pw, hwio2, bias2, packed2);
	float *mid = malloc(sizeof(float) * mid_n), *apart = malloc(sizeof(float) * out_n);
	float *fused = malloc(sizeof(float) * out_n);
	for (size_t i = 0; i < out_n; i++)
		fused[i] = NAN; /* every output must be written */
	nst_conv2d_grouped(&e, s, g->groups, g->up, g->h, g->w, in, packed, g->relu, NULL, mid);
	const struct nst_conv_epilogue ep = {relu2 ? 0.0f : -INFINITY, INFINITY, NULL, NULL, NULL};
	nst_conv2d(&e, &pw, oh, ow, mid, packed2, apart, &ep);
	const struct nst_conv_pointwise then = {nst_gemm_kernel_for_columns(e.gemm, (size_t)co2), packed2, co2,
	                                        {ep.min, ep.max}};
	nst_conv2d_grouped(&e, s, g->groups, g->up, g->h, g->w, in, packed, g->relu, &then, fused);
	const bool ok = memcmp(apart, fused, sizeof(float) * out_n) == 0;
	nst_engine_release(&e);
	free(e.scratch), free(in), free(hwio), free(bias), free(hwio2), free(bias2), free(packed), free(packed2);
	free(mid), free(apart), free(fused);
	return ok;
}

static void test_pointwise_after(uint64_t seed) {
	struct nst_rng r;
	nst_rng_seed(&r, seed ^ 0x1f1);
	int failures = 0;
	for (int c = 0; c < POINTWISE_CASES; c++) {
		struct grouped_case g;
		random_case(&r, &g);
		if (c % 2) { /* the decoder's kind: on phases */
			g.shape.kernel_h = g.shape.kernel_w = 3;
			g.shape.stride = 1, g.shape.pad = 1, g.shape.reflect = true;
			g.up = 2;
		}
		const int co2 = pick(&r, POINTWISE_MIN_OUT, POINTWISE_MAX_OUT);
		const bool relu2 = pick(&r, 0, 1) == 1;
		static const struct {
			enum nst_backend backend;
			int threads;
		} engines[] = {{NST_BACKEND_SCALAR, 1}, {NST_BACKEND_SCALAR, 2}, {NST_BACKEND_SIMD, 2}};
		for (size_t k = 0; k < sizeof engines / sizeof engines[0]; k++) {
			const bool ok = check_pointwise_after(&r, &g, engines[k].backend, engines[k].threads, co2, relu2);
			if (!ok && failures++ < 5)
				CHECK(ok, "case %d: %dx%d k%d s%d up %d groups %d %d -> %d then 1x1 -> %d relu %d, %s on %d threads: "
				      "not the grouped output stored then convolved",
				      c, g.h, g.w, g.shape.kernel_h, g.shape.stride, g.up, g.groups, g.shape.in_channels,
				      g.shape.out_channels, co2, relu2, engines[k].backend == NST_BACKEND_SIMD ? "simd" : "scalar",
				      engines[k].threads);
		}
	}
	CHECK(failures == 0, "%d grouped convolutions with a 1x1 after them differ from the two apart", failures);
}

/* Bilinear x2 through a 1x1 identity convolution, depthwise: every output pixel is PyTorch's. */
static void test_bilinear(uint64_t seed) {
	struct nst_rng r;
	nst_rng_seed(&r, seed ^ 0xb111);
	const int h = 5, w = 7, c = 4;
	struct grouped_case g = {
		.shape = {.kernel_h = 1, .kernel_w = 1, .stride = 1, .pad = 0, .in_channels = c, .out_channels = c},
		.groups = c, .up = 2, .h = h, .w = w,
	};
	float in[5 * 7 * 4], hwio[4] = {1, 1, 1, 1}, bias[4] = {0, 0, 0, 0}, packed[8];
	fill_uniform(&r, in, sizeof in / sizeof in[0], -1, 1);
	nst_conv_grouped_pack(&g.shape, g.groups, g.up, hwio, bias, packed);
	float *out = run_grouped(&g, NST_BACKEND_SCALAR, 1, packed, in, (size_t)4 * h * w * c);
	double worst = 0.0;
	for (int y = 0; y < 2 * h; y++)
		for (int x = 0; x < 2 * w; x++)
			for (int k = 0; k < c; k++) {
				const double d = fabs(out[((size_t)y * 2 * w + x) * c + k] - naive_up(in, h, w, c, y, x, k));
				worst = d > worst ? d : worst;
			}
	CHECK(worst < 1e-6, "bilinear x2 differs from PyTorch's formula by %.3g", worst);
	/* corners: the first output pixel is the input's first (coordinate -0.25 clamps to 0) */
	CHECK(out[0] == in[0], "output (0, 0) is %g, input (0, 0) is %g", (double)out[0], (double)in[0]);
	free(out);
}

/* Channel k of f [n][c]: its mean and unbiased variance (as torch.var), naively in double. */
static void naive_stats(const float *f, int n, int c, int k, double *mean, double *var) {
	double m = 0, v = 0;
	for (int i = 0; i < n; i++)
		m += f[i * c + k];
	m /= n;
	for (int i = 0; i < n; i++)
		v += (f[i * c + k] - m) * (f[i * c + k] - m);
	*mean = m;
	*var = v / (n - 1);
}

static void test_adain(uint64_t seed) {
	struct nst_rng r;
	nst_rng_seed(&r, seed ^ 0xada1);
	enum { N = 37, C = 5 };
	float f[N * C], mean[C], std[C], x[N * C], before[N * C];
	for (int i = 0; i < N * C; i++)
		f[i] = (float)urand(&r, -3, 5) * (float)(1 + i % C);
	nst_channel_stats(NULL, N, C, f, 1e-5f, mean, std);
	for (int k = 0; k < C; k++) {
		double m, v;
		naive_stats(f, N, C, k, &m, &v);
		CHECK(fabs(mean[k] - m) <= 1e-6 * (1 + fabs(m)), "channel %d mean %g, naive %g", k, (double)mean[k], m);
		CHECK(fabs(std[k] - sqrt(v + 1e-5)) <= 1e-6 * sqrt(v), "channel %d std %g, naive %g", k, (double)std[k],
		      sqrt(v + 1e-5));
	}
	const float s_mean[C] = {1, -2, 0.5f, 3, 0}, s_std[C] = {2, 0.5f, 1, 4, 0.1f};
	memcpy(x, f, sizeof x);
	memcpy(before, f, sizeof x);
	nst_adain(NULL, N, C, x, mean, std, s_mean, s_std, 0.0f);
	CHECK(memcmp(x, before, sizeof x) == 0, "alpha 0 changed x");
	nst_adain(NULL, N, C, x, mean, std, s_mean, s_std, 1.0f);
	float m2[C], sd2[C];
	nst_channel_stats(NULL, N, C, x, 1e-5f, m2, sd2);
	for (int k = 0; k < C; k++) {
		/* x now has the painting's mean, and its std up to the eps in both */
		CHECK(fabs(m2[k] - s_mean[k]) < 1e-4, "channel %d: mean %g after AdaIN, painting's %g", k, (double)m2[k],
		      (double)s_mean[k]);
		const double want = s_std[k] * sqrt((double)std[k] * std[k] - 1e-5) / std[k];
		CHECK(fabs(sqrt((double)sd2[k] * sd2[k] - 1e-5) - want) < 1e-4 * (1 + want), "channel %d: std %g after AdaIN, want %g",
		      k, (double)sd2[k], want);
	}
	const float half = 0.5f;
	memcpy(x, before, sizeof x);
	nst_adain(NULL, N, C, x, mean, std, s_mean, s_std, half);
	for (int i = 0; i < N * C; i++) {
		const int k = i % C;
		const double full = (before[i] - mean[k]) / std[k] * s_std[k] + s_mean[k];
		const double want = half * full + (1 - half) * before[i];
		if (fabs(x[i] - want) > 1e-5 * (1 + fabs(want))) {
			CHECK(false, "alpha 0.5, value %d: %g, want %g", i, (double)x[i], want);
			break;
		}
	}
}

/* A feature map large enough for the pool's threads: statistics and AdaIN with the same bits on 2
 * threads as on the calling thread, and the statistics right. */
static void test_adain_threads(uint64_t seed) {
	struct nst_rng r;
	nst_rng_seed(&r, seed ^ 0xada2);
	enum { N = 4099, C = 37 }; /* N C above NST_SUM_PARALLEL_MIN; 37 channels: SIMD blocks and a tail */
	static float f[N * C], x1[N * C], x2[N * C];
	float mean1[C], std1[C], mean2[C], std2[C];
	for (int i = 0; i < N * C; i++)
		f[i] = (float)urand(&r, -3, 5) + (float)(i % C);
	struct nst_engine e;
	CHECK(nst_engine_init(&e, NST_BACKEND_SCALAR, NST_PRECISION_FP32, 2, NULL) == NST_OK &&
	          nst_engine_start(&e, NULL) == NST_OK,
	      "engine of 2 threads");
	nst_channel_stats(&e, N, C, f, 1e-5f, mean2, std2);
	nst_channel_stats(NULL, N, C, f, 1e-5f, mean1, std1);
	CHECK(memcmp(mean1, mean2, sizeof mean1) == 0 && memcmp(std1, std2, sizeof std1) == 0,
	      "channel statistics: other bits on 2 threads than on the calling thread");
	for (int k = 0; k < C; k++) {
		double m, v;
		naive_stats(f, N, C, k, &m, &v);
		const double sd = sqrt(v + 1e-5);
		CHECK(fabs(mean2[k] - m) <= 1e-6 * (1 + fabs(m)) && fabs(std2[k] - sd) <= 1e-6 * sd,
		      "channel %d of %d x %d: mean %g std %g, naive %g %g", k, N, C, (double)mean2[k], (double)std2[k], m, sd);
	}
	float s_mean[C], s_std[C];
	for (int k = 0; k < C; k++) {
		s_mean[k] = (float)urand(&r, -1, 1);
		s_std[k] = (float)urand(&r, 0.5, 2);
	}
	memcpy(x1, f, sizeof x1);
	memcpy(x2, f, sizeof x2);
	nst_adain(NULL, N, C, x1, mean1, std1, s_mean, s_std, 0.75f);
	nst_adain(&e, N, C, x2, mean2, std2, s_mean, s_std, 0.75f);
	CHECK(memcmp(x1, x2, sizeof x1) == 0, "AdaIN: other bits on 2 threads than on the calling thread");
	nst_engine_release(&e);
}

int main(void) {
	const uint64_t seed = support_seed("test_conv_grouped");
	test_grouped(seed);
	test_phases(seed);
	test_pointwise_after(seed);
	test_bilinear(seed);
	test_adain(seed);
	test_adain_threads(seed);
	return check_finish("test_conv_grouped");
}
