/*
 * The whole loss's gradient against finite differences, through the public API, on small random
 * VGG networks: every path of the backward pass (the deepest layer, stored loss gradients, the
 * recomputed first layer, max and average pooling with odd sizes, content and style on one layer,
 * several blended styles, TV alone), both backends, one and two threads; on a network of 32
 * channels, the simd backend's Winograd convolutions (forward and input gradient; its plan packs
 * their transformed kernels: more weight bytes than the scalar backend's direct packing); on a
 * network with taps, their losses made again and kept.  Also:
 * the arena of exactly the planned size is enough, one byte less is refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "support.h"

#define H 11 /* odd: the floor of the pooling drops a row and a column */
#define W 9
#define N_DIRECTIONS 7
#define FD_STEP 0.02        /* pixels; the picture spans about +-128 */
#define FD_STEPS 3
#define FD_STEP_RATIO 4.0
#define FD_TOLERANCE 4e-3   /* relative: the median over the directions, and the gradient's own direction */
#define FD_ATTEMPTS 3

struct config {
	const char *name;
	const char *content_layers, *style_layers;
	enum nst_pooling pooling;
	int n_styles;
	enum nst_backend backend;
	int threads;
	float content_weight, style_weight, tv_weight;
	bool own_gradient; /* a stored loss gradient does not fit in a ping-pong buffer's tail */
};

static int compare_double(const void *a, const void *b) {
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double loss_at(struct nst_session *s, const float *x) {
	struct nst_losses l;
	nst_session_set_x(s, x);
	nst_session_evaluate(s, &l, NULL);
	return l.content + l.style + l.tv; /* in double: total is rounded to float32 like the reference's */
}

static void check_config(const char *weights_path, const struct config *cfg, uint64_t seed) {
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	enum nst_status st = nst_weights_open(weights_path, &w, &diag);
	CHECK(st == NST_OK, "%s: open weights: %s", cfg->name, diag.message);
	if (st != NST_OK)
		return;
	struct nst_options o;
	nst_options_default(&o);
	CHECK(nst_options_set_layers(&o, false, cfg->content_layers, &diag) == NST_OK, "%s", diag.message);
	CHECK(nst_options_set_layers(&o, true, cfg->style_layers, &diag) == NST_OK, "%s", diag.message);
	o.pooling = cfg->pooling;
	o.backend = cfg->backend;
	o.threads = cfg->threads;
	o.content_weight = cfg->content_weight;
	o.style_weight = cfg->style_weight;
	o.tv_weight = cfg->tv_weight;
	const int style_sizes[2][2] = {{13, 10}, {8, 8}};
	struct nst_problem p = {W, H, cfg->n_styles, {0}, {0}};
	for (int k = 0; k < cfg->n_styles; k++) {
		p.style_width[k] = style_sizes[k][0];
		p.style_height[k] = style_sizes[k][1];
	}
	struct nst_plan plan;
	st = nst_plan(w, &o, &p, &plan, &diag);
	CHECK(st == NST_OK, "%s: plan: %s", cfg->name, diag.message);
	if (st != NST_OK) {
		nst_weights_close(w);
		return;
	}
	/* Stored gradients of pooled layers live in the ping-pong buffers' tails; one of the first
	 * block's (relu1_2: as large as the buffers) needs its own area. */
	CHECK((plan.features_bytes > 0) == cfg->own_gradient, "%s: loss gradients take %zu bytes of their own",
	      cfg->name, plan.features_bytes);
	o.backend = plan.backend; /* auto's measured choice: the session is the one planned */
	void *arena = aligned_alloc(NST_ARENA_ALIGNMENT, (plan.total_bytes + 63) / 64 * 64);
	struct nst_session *s = NULL;
	/* One byte short of the plan is refused; exactly the plan is enough. */
	st = nst_session_init(arena, plan.total_bytes - 1, w, &o, &p, &s, &diag);
	CHECK(st == NST_ERR_OUT_OF_MEMORY, "%s: an arena one byte short gave %s", cfg->name, nst_status_string(st));
	st = nst_session_init(arena, plan.total_bytes, w, &o, &p, &s, &diag);
	CHECK(st == NST_OK, "%s: init with the planned size: %s", cfg->name, diag.message);
	nst_weights_close(w);
	if (st != NST_OK) {
		free(arena);
		return;
	}
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	uint8_t content[H * W * 3], style[13 * 10 * 3];
	fill_bytes(&rng, content, sizeof content);
	nst_session_set_content(s, content);
	for (int k = 0; k < cfg->n_styles; k++) {
		fill_bytes(&rng, style, (size_t)(style_sizes[k][0] * style_sizes[k][1] * 3));
		nst_session_set_style(s, k, style, k == 0 ? 1.0f : 3.0f);
	}
	CHECK(nst_session_prepare(s) == NST_OK, "%s: prepare", cfg->name);

	/* Start away from the content so that every term has a gradient.  A ReLU or max-pool switch
	 * within a hair of the starting point spoils the finite differences of every direction; a
	 * wrong gradient is wrong at every point, so a miss is retried once from a fresh point. */
	const size_t n = (size_t)H * W * 3;
	float *x0 = malloc(n * sizeof(float)), *x = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
	float *v = malloc(n * sizeof(float)), *content_x = malloc(n * sizeof(float));
	nst_session_get_x(s, content_x);
	double median = INFINITY, worst = 0.0;
	struct nst_losses l0 = {0};
	double along_g = INFINITY; /* the error along the gradient itself */
	for (int attempt = 0; attempt < FD_ATTEMPTS && !(median < FD_TOLERANCE && along_g < FD_TOLERANCE); attempt++) {
		for (size_t i = 0; i < n; i++)
			x0[i] = content_x[i] + (float)(nst_rng_normal(&rng) * 8.0);
		nst_session_set_x(s, x0);
		nst_session_evaluate(s, &l0, g);
		CHECK(isfinite(l0.total) && l0.total > 0, "%s: loss %g", cfg->name, l0.total);
		double gnorm = 0.0, errors[N_DIRECTIONS];
		for (size_t i = 0; i < n; i++)
			gnorm += (double)g[i] * g[i];
		worst = 0.0;
		for (int d = 0; d < N_DIRECTIONS; d++) {
			/* Direction 0 is the gradient itself (so that a wrong scale shows undiluted), the others
			 * random; each has unit RMS per value. */
			double gv = 0.0, vv = 0.0;
			const double g_rms = sqrt(gnorm / (double)n);
			for (size_t i = 0; i < n; i++) {
				v[i] = d == 0 ? (float)(g[i] / g_rms) : (float)nst_rng_normal(&rng);
				gv += (double)g[i] * v[i];
				vv += (double)v[i] * v[i];
			}
			/* Central differences at several steps: a switch inside one step spoils that step only.
			 * The error is relative to the directional derivative, or to its typical size for a
			 * random direction, |g| |v| / sqrt(n), when it happens to be smaller. */
			const double scale = fmax(fabs(gv), sqrt(gnorm) * sqrt(vv) / sqrt((double)n));
			double err = INFINITY, fd = 0.0;
			for (int k = 0; k < FD_STEPS; k++) {
				const double h = FD_STEP / pow(FD_STEP_RATIO, k);
				for (size_t i = 0; i < n; i++)
					x[i] = x0[i] + (float)h * v[i];
				const double lp = loss_at(s, x);
				for (size_t i = 0; i < n; i++)
					x[i] = x0[i] - (float)h * v[i];
				const double lm = loss_at(s, x);
				const double fd_k = (lp - lm) / (2.0 * h);
				const double err_k = fabs(fd_k - gv) / scale;
				if (err_k < err) {
					err = err_k;
					fd = fd_k;
				}
			}
			if (err > worst)
				worst = err;
			(void)fd;
			errors[d] = err;
			if (d == 0)
				along_g = err;
		}
		qsort(errors, N_DIRECTIONS, sizeof errors[0], compare_double);
		median = errors[N_DIRECTIONS / 2];
		printf("  %-38s loss %.6e  relative error along g %.2e, median %.2e, worst %.2e%s\n", cfg->name, l0.total,
		       along_g, median, worst, attempt ? " (another starting point)" : "");
	}
	CHECK(median < FD_TOLERANCE, "%s: median relative error %.2e over %d directions, at %d starting points", cfg->name,
	      median, N_DIRECTIONS, FD_ATTEMPTS);
	CHECK(along_g < FD_TOLERANCE, "%s: relative error %.2e along the gradient, at %d starting points", cfg->name, along_g,
	      FD_ATTEMPTS);
	if (cfg->backend == NST_BACKEND_XNNPACK) {
		/* Every byte XNNPACK asked for came from the planned region of the arena. */
		const struct nst_xnn_heap *heap = nst_session_xnn_heap(s);
		CHECK(heap != NULL, "%s: no XNNPACK heap", cfg->name);
		if (heap) {
			CHECK(heap->escaped == 0, "%s: %zu XNNPACK allocations did not fit the plan", cfg->name, heap->escaped);
			CHECK(heap->allocations > 0 && heap->used <= heap->size, "%s: XNNPACK used %zu of %zu bytes in %zu allocations",
			      cfg->name, heap->used, heap->size, heap->allocations);
			CHECK(heap->used == heap->size, "%s: XNNPACK used %zu bytes, the plan measured %zu", cfg->name, heap->used,
			      heap->size);
		}
	}
	free(content_x);
	free(x0);
	free(x);
	free(g);
	free(v);
	nst_session_release(s);
	free(arena);
}

/* precision fp16 on XNNPACK: the same heap accounting (every byte from the planned region, none
 * escaping), and the gradient close to fp32's (float16 is too coarse for finite differences);
 * where the CPU has no FP16 arithmetic, the plan falls back to fp32 and says so. */
#define FP16_GRAD_TOLERANCE 5e-2 /* relative L2 distance of the fp16 gradient from fp32's */
#define FP16_LOSS_TOLERANCE 1e-2
/* float16's distance from fp32 depends on the network: where rounding flips a ReLU or a max-pool
 * choice of these 8-16-channel layers, the gradient changes outright (over random networks the
 * distance is mostly 2e-3..3e-2, for about one in twenty 0.1).  The check runs on one fixed
 * network so that it judges the implementation, not the draw. */
#define FP16_NETWORK_SEED 1

static bool fp16_session(const char *path, enum nst_precision precision, struct nst_plan *plan, void **arena,
                         struct nst_session **s) {
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	if (nst_weights_open(path, &w, &diag) != NST_OK)
		return false;
	struct nst_options o;
	nst_options_default(&o);
	o.backend = NST_BACKEND_XNNPACK;
	o.precision = precision;
	o.threads = 2;
	struct nst_problem p = {W, H, 1, {13}, {10}};
	enum nst_status st = nst_plan(w, &o, &p, plan, &diag);
	CHECK(st == NST_OK, "fp16: plan: %s", diag.message);
	*arena = st == NST_OK ? aligned_alloc(NST_ARENA_ALIGNMENT, (plan->total_bytes + 63) / 64 * 64) : NULL;
	if (*arena) {
		st = nst_session_init(*arena, plan->total_bytes - 1, w, &o, &p, s, &diag);
		CHECK(st == NST_ERR_OUT_OF_MEMORY, "fp16: an arena one byte short gave %s", nst_status_string(st));
		st = nst_session_init(*arena, plan->total_bytes, w, &o, &p, s, &diag);
		CHECK(st == NST_OK, "fp16: init with the planned size: %s", diag.message);
	}
	nst_weights_close(w);
	if (st != NST_OK || !*arena) {
		free(*arena);
		return false;
	}
	struct nst_rng rng;
	nst_rng_seed(&rng, 7);
	uint8_t content[H * W * 3], style[13 * 10 * 3];
	fill_bytes(&rng, content, sizeof content);
	fill_bytes(&rng, style, sizeof style);
	nst_session_set_content(*s, content);
	nst_session_set_style(*s, 0, style, 1.0f);
	CHECK(nst_session_prepare(*s) == NST_OK, "fp16: prepare");
	return true;
}

static void check_fp16(const char *path) {
	struct nst_plan p32, p16;
	void *a32 = NULL, *a16 = NULL;
	struct nst_session *s32 = NULL, *s16 = NULL;
	/* One XNNPACK session at a time (XNNPACK's allocator is process-wide): fp32's first. */
	const size_t n = (size_t)H * W * 3;
	float *x = malloc(n * sizeof(float)), *g32 = malloc(n * sizeof(float)), *g16 = malloc(n * sizeof(float));
	struct nst_losses l32, l16;
	if (!x || !g32 || !g16 || !fp16_session(path, NST_PRECISION_FP32, &p32, &a32, &s32)) {
		free(x);
		free(g32);
		free(g16);
		return;
	}
	struct nst_rng rng;
	nst_rng_seed(&rng, 11);
	nst_session_get_x(s32, x);
	for (size_t i = 0; i < n; i++)
		x[i] += (float)(nst_rng_normal(&rng) * 8.0);
	nst_session_set_x(s32, x);
	nst_session_evaluate(s32, &l32, g32);
	nst_session_release(s32);
	free(a32);
	if (!fp16_session(path, NST_PRECISION_FP16, &p16, &a16, &s16)) {
		free(x);
		free(g32);
		free(g16);
		return;
	}
	const bool have = nst_precision_available(NST_BACKEND_XNNPACK, NST_PRECISION_FP16);
	CHECK(p32.precision == NST_PRECISION_FP32 && p32.notice == NULL, "fp32 plan: precision %s, notice %s",
	      nst_precision_name(p32.precision), p32.notice ? p32.notice : "none");
	if (have)
		CHECK(p16.precision == NST_PRECISION_FP16 && p16.notice == NULL, "fp16 plan: precision %s, notice %s",
		      nst_precision_name(p16.precision), p16.notice ? p16.notice : "none");
	else
		CHECK(p16.precision == NST_PRECISION_FP32 && p16.notice != NULL, "fp16 without FP16 arithmetic: precision %s, no notice",
		      nst_precision_name(p16.precision));
	for (int rep = 0; rep < 2; rep++) { /* twice: a second evaluation must not allocate either */
		nst_session_set_x(s16, x);
		nst_session_evaluate(s16, &l16, g16);
	}
	double d = 0.0, r = 0.0;
	for (size_t i = 0; i < n; i++) {
		d += ((double)g16[i] - g32[i]) * ((double)g16[i] - g32[i]);
		r += (double)g32[i] * g32[i];
	}
	const double grad_err = sqrt(d / r), loss_err = fabs(l16.total - l32.total) / l32.total;
	printf("  %-38s loss %.6e vs fp32 %.6e (relative %.2e), gradient relative L2 %.2e\n",
	       have ? "xnnpack fp16 vs fp32" : "xnnpack fp16 (fallback: fp32)", l16.total, l32.total, loss_err, grad_err);
	CHECK(loss_err < FP16_LOSS_TOLERANCE, "fp16 loss %g vs fp32 %g", l16.total, l32.total);
	CHECK(grad_err < FP16_GRAD_TOLERANCE, "fp16 gradient: relative L2 distance %.3e from fp32's", grad_err);
	const struct nst_xnn_heap *heap = nst_session_xnn_heap(s16);
	CHECK(heap != NULL, "fp16: no XNNPACK heap");
	if (heap) {
		CHECK(heap->escaped == 0, "fp16: %zu XNNPACK allocations did not fit the plan", heap->escaped);
		CHECK(heap->used == heap->size, "fp16: XNNPACK used %zu bytes in %zu allocations, the plan measured %zu", heap->used,
		      heap->allocations, heap->size);
	}
	free(x);
	free(g32);
	free(g16);
	nst_session_release(s16);
	free(a16);
}

/* check_config of each of configs [n], the seeds seed, seed + 1, ... */
static void check_configs(const char *weights_path, const struct config *configs, size_t n, uint64_t seed) {
	for (size_t i = 0; i < n; i++)
		check_config(weights_path, &configs[i], seed + i);
}

int main(void) {
	const uint64_t seed = support_seed("test_gradient");
	char *dir = support_tmpdir("gradient");
	CHECK(dir != NULL, "mkdtemp");
	if (!dir)
		return check_finish("test_gradient");
	char path[512];
	snprintf(path, sizeof path, "%s/vgg.nstw", dir);
	CHECK(support_write_small_vgg(path, seed) == 0, "write %s", path);

	const struct config configs[] = {
		{"defaults (recompute/stored/deepest)", "relu3_2", "relu1_1,relu2_1,relu3_1", NST_POOLING_MAX, 1,
		 NST_BACKEND_SCALAR, 1, 5.0f, 100.0f, 1e-3f, false},
		{"defaults, simd, 2 threads", "relu3_2", "relu1_1,relu2_1,relu3_1", NST_POOLING_MAX, 1, NST_BACKEND_AUTO, 2,
		 5.0f, 100.0f, 1e-3f, false},
		{"avg pooling, 2 blended styles", "relu3_2", "relu1_1,relu2_1,relu3_1", NST_POOLING_AVG, 2,
		 NST_BACKEND_AUTO, 2, 5.0f, 100.0f, 1e-3f, false},
		{"content+style on one layer, pre-pool", "relu1_2,relu2_1", "relu1_2,relu2_1,relu2_2", NST_POOLING_MAX, 1,
		 NST_BACKEND_SCALAR, 2, 5.0f, 100.0f, 1e-3f, true},
		{"first layer only (deepest = 0)", "relu1_1", "relu1_1", NST_POOLING_MAX, 1, NST_BACKEND_AUTO, 1, 5.0f,
		 100.0f, 1e-3f, false},
		{"content only", "relu2_2", "", NST_POOLING_MAX, 1, NST_BACKEND_AUTO, 2, 5.0f, 0.0f, 0.0f, false},
		{"total variation only", "", "", NST_POOLING_MAX, 1, NST_BACKEND_AUTO, 1, 0.0f, 0.0f, 1.0f, false},
	};
	check_configs(path, configs, sizeof configs / sizeof configs[0], seed);
	if (nst_backend_available(NST_BACKEND_XNNPACK)) {
		const struct config xnn[] = {
			{"xnnpack: defaults, 2 threads", "relu3_2", "relu1_1,relu2_1,relu3_1", NST_POOLING_MAX, 1,
			 NST_BACKEND_XNNPACK, 2, 5.0f, 100.0f, 1e-3f, false},
			{"xnnpack: content+style one layer, avg", "relu1_2,relu2_1", "relu1_2,relu2_1,relu2_2", NST_POOLING_AVG,
			 2, NST_BACKEND_XNNPACK, 1, 5.0f, 100.0f, 1e-3f, true},
		};
		check_configs(path, xnn, sizeof xnn / sizeof xnn[0], seed + 100);
		char fp16_path[512];
		snprintf(fp16_path, sizeof fp16_path, "%s/fp16.nstw", dir);
		CHECK(support_write_small_vgg(fp16_path, FP16_NETWORK_SEED) == 0, "write %s", fp16_path);
		check_fp16(fp16_path);
	} else {
		printf("  (this build has no XNNPACK backend)\n");
	}
	/* Channels the optimization runs by Winograd on the simd backend (nst_vgg_winograd): conv1_2
	 * 16 -> 16 (a narrow first-block layer), conv2_1 16 -> 40 and on. */
	snprintf(path, sizeof path, "%s/wide.nstw", dir);
	static const struct support_vgg_layer wide[] = {{1, 16, 0}, {1, 16, 0}, {2, 40, 0}, {2, 32, 0}, {3, 32, 0}, {3, 32, 0}};
	CHECK(support_write_vgg(path, wide, (int)(sizeof wide / sizeof wide[0]), seed, NST_DTYPE_F32) == 0, "write %s", path);
	if (nst_backend_available(NST_BACKEND_SIMD)) {
		const struct config winograd[] = {
			{"winograd: defaults, simd, 2 threads", "relu3_2", "relu1_1,relu2_1,relu3_1", NST_POOLING_MAX, 1,
			 NST_BACKEND_SIMD, 2, 5.0f, 100.0f, 1e-3f, false},
			{"winograd: content+style one layer, simd", "relu1_2,relu2_1", "relu1_2,relu2_1,relu2_2", NST_POOLING_MAX,
			 1, NST_BACKEND_SIMD, 1, 5.0f, 100.0f, 1e-3f, false},
		};
		check_configs(path, winograd, sizeof winograd / sizeof winograd[0], seed + 200);
		/* The transformed kernels: (2 + 2)^2 / 9 of the direct packing for conv2_1 .. conv3_2. */
		struct nst_weights *w = NULL;
		struct nst_diag diag = {{0}};
		struct nst_options o;
		nst_options_default(&o);
		o.threads = 1;
		struct nst_plan simd, scalar;
		const struct nst_problem p = {W, H, 1, {W}, {H}};
		CHECK(nst_weights_open(path, &w, &diag) == NST_OK && nst_options_set_layers(&o, false, "relu3_2", &diag) == NST_OK &&
		          nst_options_set_layers(&o, true, "relu1_1,relu2_1,relu3_1", &diag) == NST_OK,
		      "wide network: %s", diag.message);
		o.backend = NST_BACKEND_SIMD;
		const enum nst_status a = nst_plan(w, &o, &p, &simd, &diag);
		o.backend = NST_BACKEND_SCALAR;
		const enum nst_status b = nst_plan(w, &o, &p, &scalar, &diag);
		CHECK(a == NST_OK && b == NST_OK && (double)simd.weights_bytes > 1.5 * (double)scalar.weights_bytes,
		      "wide network: simd packs %zu weight bytes, scalar %zu: not Winograd's transformed kernels",
		      simd.weights_bytes, scalar.weights_bytes);
		printf("  wide network's packed weights: simd (Winograd) %zu bytes, scalar (direct) %zu\n", simd.weights_bytes,
		       scalar.weights_bytes);
		nst_weights_close(w);
	}
	/* Taps (the distilled network's loss heads): relu1_1's and relu3_1's of few inputs, made again
	 * for their gradient; relu2_1's of 32, kept from the loss to the gradient (plan.c's
	 * TAP_KEEP_MIN_INPUTS): for a style loss alone, its gradient stored while a deeper tap's features
	 * take the buffer, and with a content loss on it; the kept one the deepest. */
	snprintf(path, sizeof path, "%s/taps.nstw", dir);
	static const struct support_vgg_layer tapped[] = {{1, 8, 6}, {1, 8, 0}, {2, 32, 40}, {2, 16, 0}, {3, 16, 20}};
	CHECK(support_write_vgg(path, tapped, (int)(sizeof tapped / sizeof tapped[0]), seed, NST_DTYPE_F32) == 0, "write %s",
	      path);
	const struct config taps[] = {
		{"taps: style on three, content on the kept one, scalar", "relu2_1", "relu1_1,relu2_1,relu3_1", NST_POOLING_MAX,
		 1, NST_BACKEND_SCALAR, 1, 5.0f, 100.0f, 1e-3f, false},
		{"taps: style on three, content on the kept one, simd, 2 threads", "relu2_1", "relu1_1,relu2_1,relu3_1",
		 NST_POOLING_MAX, 1, nst_backend_available(NST_BACKEND_SIMD) ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR, 2, 5.0f,
		 100.0f, 1e-3f, false},
		{"taps: a style-only kept tap, a deeper one after it", "relu3_1", "relu1_1,relu2_1,relu3_1", NST_POOLING_MAX, 1,
		 NST_BACKEND_SCALAR, 1, 5.0f, 100.0f, 1e-3f, false},
		{"taps: a style-only kept tap, simd, 2 threads, avg", "relu3_1", "relu2_1,relu3_1", NST_POOLING_AVG, 1,
		 nst_backend_available(NST_BACKEND_SIMD) ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR, 2, 5.0f, 100.0f, 1e-3f, false},
		{"taps: the kept one the deepest, content on a tap of few inputs, avg", "relu1_1", "relu1_1,relu2_1", NST_POOLING_AVG, 2,
		 NST_BACKEND_SCALAR, 2, 5.0f, 100.0f, 1e-3f, false},
	};
	check_configs(path, taps, sizeof taps / sizeof taps[0], seed + 300);
	support_rmdir(dir);
	free(dir);
	return check_finish("test_gradient");
}
