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
	snprintf(buf, size, "%s%s%s%s%s%s", cpu.avx2 ? "avx2 " : "", cpu.fma ? "fma " : "", cpu.avx512f ? "avx512f " : "",
	         cpu.f16c ? "f16c " : "", cpu.neon ? "neon " : "", cpu.neon_fp16 ? "neon-fp16-conversion " : "");
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

enum nst_status nst_bench_conv(enum nst_backend backend, int threads, int h, int w, int cin, int cout,
                               double *forward_gflops, double *backward_gflops) {
	if (h < 1 || w < 1 || cin < 1 || cout < 1 || threads < 1)
		return NST_ERR_INVALID_ARGUMENT;
	const struct nst_gemm_kernel *g = bench_kernel_named(backend);
	const struct nst_conv_shape shape = {3, 3, 1, 1, false, cin, cout};
	const struct nst_conv_shape bshape = nst_conv_backward_shape(&shape);
	const size_t in_n = (size_t)h * (size_t)w * (size_t)cin, out_n = (size_t)h * (size_t)w * (size_t)cout;
	const size_t wn = 9u * (size_t)cin * (size_t)cout;
	size_t scratch = nst_conv_scratch_floats(g, &shape);
	if (nst_conv_scratch_floats(g, &bshape) > scratch)
		scratch = nst_conv_scratch_floats(g, &bshape);
	float *in = malloc(in_n * sizeof(float)), *out = malloc(out_n * sizeof(float));
	float *hwio = malloc(wn * sizeof(float)), *bias = calloc((size_t)cout, sizeof(float));
	float *pf = malloc(nst_conv_packed_floats(g, &shape) * sizeof(float));
	float *pb = malloc(nst_conv_packed_floats(g, &bshape) * sizeof(float));
	float *sc = malloc(scratch * (size_t)threads * sizeof(float));
	uint8_t *mask = malloc(nst_mask_bytes(out_n) + nst_mask_bytes(in_n));
	enum nst_status st = NST_OK;
	if (!in || !out || !hwio || !bias || !pf || !pb || !sc || !mask) {
		st = NST_ERR_OUT_OF_MEMORY;
		goto done;
	}
	for (size_t i = 0; i < in_n; i++)
		in[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.3f;
	for (size_t i = 0; i < wn; i++)
		hwio[i] = (float)((i * 40503u) % 1000) * 1e-4f - 0.05f;
	nst_conv_pack_forward(g, &shape, hwio, bias, pf);
	nst_conv_pack_backward(g, &shape, hwio, pb);
	struct nst_engine e = {.gemm = g, .threads = threads, .scratch = sc, .scratch_floats = scratch};
	(void)nst_engine_start(&e, NULL); /* without threads its slots run in turn, as before */
	/* XNNPACK: its own operators (on a malloc-backed counting heap), the same shapes and data. */
	struct nst_xnn_heap heap;
	void *xf = NULL, *xb = NULL;
	if (backend == NST_BACKEND_XNNPACK) {
		float *staging = malloc(wn * sizeof(float));
		st = staging ? nst_xnn_begin_measure(&heap) : NST_ERR_OUT_OF_MEMORY;
		if (st == NST_OK)
			st = nst_xnn_conv_create(&shape, hwio, bias, true, false, staging, &xf);
		if (st == NST_OK)
			st = nst_xnn_conv_create(&shape, hwio, NULL, false, true, staging, &xb);
		free(staging);
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
	for (int dir = 0; dir < 2; dir++) {
		const double flops = 2.0 * (double)h * (double)w * 9.0 * (double)cin * (double)cout;
		int repeats = -1; /* the first run is a warm-up */
		double t0 = 0.0, t1 = 0.0;
		while (repeats < NST_BENCH_CONV_MIN_REPEATS || t1 - t0 < NST_BENCH_CONV_MIN_SECONDS) {
			if (xf)
				nst_xnn_conv_run(dir == 0 ? xf : xb, h, w, dir == 0 ? in : out, dir == 0 ? out : in, e.pool);
			else if (dir == 0)
				nst_conv2d(&e, &shape, h, w, in, pf, out, &fwd);
			else
				nst_conv2d(&e, &bshape, h, w, out, pb, in, &bwd);
			if (++repeats == 0)
				t0 = nst_seconds();
			t1 = nst_seconds();
		}
		const double gf = flops * repeats / (t1 - t0) * 1e-9;
		if (dir == 0)
			*forward_gflops = gf;
		else
			*backward_gflops = gf;
	}
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
	free(sc);
	free(mask);
	return st;
}
