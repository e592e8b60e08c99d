/*
 * Measurements for `nst bench`: the GEMM microkernel's peak on data that stays in L1, and one
 * convolution layer (forward and input gradient) timed in isolation.  These allocate with malloc:
 * they are benchmarks, not planned runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PEAK_KC 128            /* a and the packed panel stay in L1 */
#define PEAK_BATCH 256         /* kernel calls between clock reads */

/* The GEMM kernel the backend's engine runs (simd on a CPU without SIMD kernels: the scalar one,
 * as XNNPACK's peak is ours). */
static const struct nst_gemm_kernel *bench_kernel_named(enum nst_backend backend) {
	return nst_engine_kernels(backend == NST_BACKEND_SCALAR ? NST_BACKEND_SCALAR : NST_BACKEND_AUTO,
	                          NST_PRECISION_FP32);
}

const char *nst_bench_kernel_name(enum nst_backend backend) {
	return backend == NST_BACKEND_XNNPACK ? "XNNPACK (peak: our SIMD kernel's)" : bench_kernel_named(backend)->name;
}

void nst_bench_cpu_features(char *buf, size_t size) {
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	snprintf(buf, size, "%s%s%s%s%s%s%s%s%s", cpu.avx2 ? "avx2 " : "", cpu.fma ? "fma " : "",
	         cpu.avx512f ? "avx512f " : "", cpu.avx512vnni && cpu.avx512bw ? "avx512vnni " : "",
	         cpu.avxvnni ? "avxvnni " : "", cpu.f16c ? "f16c " : "", cpu.neon ? "neon " : "",
	         cpu.neon_fp16 ? "neon-fp16-conversion " : "", cpu.neon_dot ? "neon-dotprod " : "");
	const size_t n = strlen(buf);
	if (n > 0 && buf[n - 1] == ' ')
		buf[n - 1] = '\0';
	else if (n == 0)
		snprintf(buf, size, "none (scalar kernels)");
}

struct peak_task {
	const struct nst_gemm_kernel *g;
	double flops[NST_PROFILE_MAX_LAYERS];
	double seconds[NST_PROFILE_MAX_LAYERS];
};

static void peak_worker(void *context, size_t slot, size_t item) {
	struct peak_task *t = context;
	const struct nst_gemm_kernel *g = t->g;
	const size_t mr = g->mr, nr = g->nr;
	float a[PEAK_KC * 16];                   /* [mr][kc], mr <= 16 */
	float c[16 * 64];                        /* [mr][nr], nr <= 64 */
	float *w = malloc(nst_gemm_packed_floats(PEAK_KC, nr, nr) * sizeof(float));
	if (!w || mr > 16 || nr > 64) {
		free(w);
		return;
	}
	for (size_t i = 0; i < mr * PEAK_KC; i++)
		a[i] = 1e-3f * (float)(i % 7);
	float *src = malloc(PEAK_KC * nr * sizeof(float)); /* [kc][nr] */
	if (!src) {
		free(w);
		return;
	}
	for (size_t i = 0; i < PEAK_KC * nr; i++)
		src[i] = 1e-3f * (float)(i % 5);
	nst_gemm_pack(PEAK_KC, nr, nr, src, nr, NULL, w);
	free(src);
	const struct nst_f32_minmax_params params = {-INFINITY, INFINITY};
	size_t calls = 0;
	const double t0 = nst_seconds();
	double t1 = t0;
	while (t1 - t0 < NST_BENCH_PEAK_SECONDS) {
		for (int i = 0; i < PEAK_BATCH; i++)
			g->fn(mr, nr, PEAK_KC, a, PEAK_KC, w, c, nr, &params);
		calls += PEAK_BATCH;
		t1 = nst_seconds();
	}
	t->flops[item] = 2.0 * (double)calls * (double)(mr * nr * PEAK_KC);
	t->seconds[item] = t1 - t0;
	free(w);
}

double nst_bench_peak_gflops(enum nst_backend backend, int threads) {
	struct peak_task t;
	memset(&t, 0, sizeof t);
	t.g = bench_kernel_named(backend);
	if (threads < 1)
		threads = 1;
	if (threads > NST_PROFILE_MAX_LAYERS)
		threads = NST_PROFILE_MAX_LAYERS;
	/* Each slot times itself: more slots than CPUs would run in turn and add up to a peak that
	 * no run reaches. */
	if (threads > nst_cpu_count())
		threads = nst_cpu_count();
	struct nst_engine e = {.gemm = t.g, .threads = threads};
	(void)nst_engine_start(&e, NULL); /* without threads the slots time themselves in turn */
	nst_parallel_for(&e, (size_t)threads, peak_worker, &t);
	nst_engine_release(&e);
	double gflops = 0.0;
	for (int s = 0; s < threads; s++)
		if (t.seconds[s] > 0)
			gflops += t.flops[s] / t.seconds[s] * 1e-9;
	return gflops;
}

int nst_bench_winograd_tile(enum nst_backend backend, int block, int in_channels, int out_channels) {
	if (backend != NST_BACKEND_SIMD && backend != NST_BACKEND_AUTO)
		return 0;
	const struct nst_engine e = {.gemm = bench_kernel_named(backend), .backend = NST_BACKEND_SIMD};
	const struct nst_conv_shape shape = {3, 3, 1, 1, false, in_channels, out_channels};
	return nst_backend_available(NST_BACKEND_SIMD) ? (int)nst_vgg_winograd(&e, block, &shape) : 0;
}

/* Seconds of one run of a direction: a warm-up, then at least NST_BENCH_CONV_MIN_REPEATS runs and
 * NST_BENCH_CONV_MIN_SECONDS; returns GFLOP/s of flops per run. */
struct conv_run {
	const struct nst_engine *e;
	const struct nst_conv_shape *shape; /* the direction's */
	int h, w;
	enum nst_wino wino;                 /* NST_WINO_NONE: nst_conv2d */
	void *xnn;                          /* else XNNPACK's operator */
	const float *in, *packed;
	float *out;
	const struct nst_conv_epilogue *ep;
};

static double timed_gflops(const struct conv_run *c, double flops) {
	int repeats = -1; /* the first run is a warm-up */
	double t0 = 0.0, t1 = 0.0;
	while (repeats < NST_BENCH_CONV_MIN_REPEATS || t1 - t0 < NST_BENCH_CONV_MIN_SECONDS) {
		if (c->xnn)
			nst_xnn_conv_run(c->xnn, c->h, c->w, c->in, c->out, c->e->pool);
		else if (c->wino != NST_WINO_NONE)
			nst_conv2d_winograd(c->e, c->shape, c->wino, c->h, c->w, c->in, c->packed, c->out, c->ep);
		else
			nst_conv2d(c->e, c->shape, c->h, c->w, c->in, c->packed, c->out, c->ep);
		if (++repeats == 0)
			t0 = nst_seconds();
		t1 = nst_seconds();
	}
	return flops * repeats / (t1 - t0) * 1e-9;
}

enum nst_status nst_bench_conv(enum nst_backend backend, int threads, int h, int w, int cin, int cout, int winograd_tile,
                               double *forward_gflops, double *backward_gflops, double *winograd_forward_gflops,
                               double *winograd_backward_gflops) {
	if (h < 1 || w < 1 || cin < 1 || cout < 1 || threads < 1 ||
	    (winograd_tile != 0 && winograd_tile != NST_WINO_F2 && winograd_tile != NST_WINO_F4) ||
	    (winograd_tile && backend == NST_BACKEND_XNNPACK))
		return NST_ERR_INVALID_ARGUMENT;
	const struct nst_gemm_kernel *g = bench_kernel_named(backend);
	const struct nst_conv_shape shape = {3, 3, 1, 1, false, cin, cout};
	const struct nst_conv_shape bshape = nst_conv_backward_shape(&shape);
	const enum nst_wino wino = (enum nst_wino)winograd_tile;
	const size_t in_n = (size_t)h * (size_t)w * (size_t)cin, out_n = (size_t)h * (size_t)w * (size_t)cout;
	const size_t wn = 9u * (size_t)cin * (size_t)cout;
	size_t scratch = nst_max_size(nst_conv_scratch_floats(g, &shape), nst_conv_scratch_floats(g, &bshape));
	size_t wino_f = 0, wino_b = 0;
	if (wino != NST_WINO_NONE) {
		scratch = nst_max_size(scratch, nst_max_size(nst_conv_winograd_scratch_floats(g, &shape, wino),
		                                             nst_conv_winograd_scratch_floats(g, &bshape, wino)));
		wino_f = nst_conv_winograd_packed_floats(g, &shape, wino);
		wino_b = nst_conv_winograd_packed_floats(g, &bshape, wino);
	}
	float *in = malloc(in_n * sizeof(float)), *out = malloc(out_n * sizeof(float));
	float *hwio = malloc(wn * sizeof(float)), *bias = calloc((size_t)cout, sizeof(float));
	float *pf = malloc(nst_conv_packed_floats(g, &shape) * sizeof(float));
	float *pb = malloc(nst_conv_packed_floats(g, &bshape) * sizeof(float));
	float *wf = malloc((wino_f + 1) * sizeof(float)), *wb = malloc((wino_b + 1) * sizeof(float));
	float *staging = malloc(wn * sizeof(float)); /* Winograd's packing, XNNPACK's relayout */
	float *sc = malloc(scratch * (size_t)threads * sizeof(float));
	uint8_t *mask = malloc(nst_mask_bytes(out_n) + nst_mask_bytes(in_n));
	enum nst_status st = NST_OK;
	if (!in || !out || !hwio || !bias || !pf || !pb || !wf || !wb || !staging || !sc || !mask) {
		st = NST_ERR_OUT_OF_MEMORY;
		goto done;
	}
	for (size_t i = 0; i < in_n; i++)
		in[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.3f;
	for (size_t i = 0; i < wn; i++)
		hwio[i] = (float)((i * 40503u) % 1000) * 1e-4f - 0.05f;
	nst_conv_pack_forward(g, &shape, hwio, bias, pf);
	nst_conv_pack_backward(g, &shape, hwio, pb);
	if (wino != NST_WINO_NONE) {
		nst_conv_winograd_pack(g, &shape, wino, hwio, bias, staging, wf);
		nst_conv_winograd_pack_backward(g, &shape, wino, hwio, staging, wb);
	}
	struct nst_engine e = {.gemm = g, .threads = threads, .scratch = sc, .scratch_floats = scratch};
	(void)nst_engine_start(&e, NULL); /* without threads its slots run in turn, as before */
	/* XNNPACK: its own operators (on a malloc-backed counting heap), the same shapes and data. */
	struct nst_xnn_heap heap;
	void *xf = NULL, *xb = NULL;
	if (backend == NST_BACKEND_XNNPACK) {
		st = nst_xnn_begin_measure(&heap);
		if (st == NST_OK)
			st = nst_xnn_conv_create(&shape, hwio, bias, true, false, staging, &xf);
		if (st == NST_OK)
			st = nst_xnn_conv_create(&shape, hwio, NULL, false, true, staging, &xb);
		if (st != NST_OK) {
			nst_xnn_delete(xf);
			nst_xnn_delete(xb);
			nst_xnn_end(&heap);
			nst_engine_release(&e);
			goto done;
		}
	}
	/* Forward as the engine runs it (ReLU + mask); backward with the incoming mask. */
	const struct nst_conv_epilogue fwd = {0.0f, INFINITY, mask, NULL, NULL};
	const struct nst_conv_epilogue bwd = {-INFINITY, INFINITY, NULL, NULL, mask + nst_mask_bytes(out_n)};
	memset(mask, 0xff, nst_mask_bytes(out_n) + nst_mask_bytes(in_n));
	const double flops = 2.0 * (double)h * (double)w * 9.0 * (double)cin * (double)cout;
	const struct conv_run forward = {&e, &shape, h, w, NST_WINO_NONE, xf, in, pf, out, &fwd};
	const struct conv_run backward = {&e, &bshape, h, w, NST_WINO_NONE, xb, out, pb, in, &bwd};
	*forward_gflops = timed_gflops(&forward, flops);
	*backward_gflops = timed_gflops(&backward, flops);
	double wino_forward = 0.0, wino_backward = 0.0;
	if (wino != NST_WINO_NONE) {
		const struct conv_run wforward = {&e, &shape, h, w, wino, NULL, in, wf, out, &fwd};
		const struct conv_run wbackward = {&e, &bshape, h, w, wino, NULL, out, wb, in, &bwd};
		wino_forward = timed_gflops(&wforward, flops);
		wino_backward = timed_gflops(&wbackward, flops);
	}
	if (winograd_forward_gflops)
		*winograd_forward_gflops = wino_forward;
	if (winograd_backward_gflops)
		*winograd_backward_gflops = wino_backward;
	if (xf) {
		nst_xnn_delete(xf);
		nst_xnn_delete(xb);
		nst_xnn_end(&heap);
	}
	nst_engine_release(&e);
done:
	free(in);
	free(out);
	free(hwio);
	free(bias);
	free(pf);
	free(pb);
	free(wf);
	free(wb);
	free(staging);
	free(sc);
	free(mask);
	return st;
}
