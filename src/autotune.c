/*
 * Backend auto: the fastest backend by measurement.  For the planned shapes, the stack's most
 * expensive convolution (by FLOPs) runs forward and backward, exactly as a run does (the same
 * functions, the real weights, the same threads), on a strip of at most NST_AUTO_MAX_PIXELS pixels
 * of its picture (a convolution's time per pixel hardly depends on the picture's size beyond a
 * few rows, and the strip keeps the measurement cheap: about 0.6 GFLOP for conv1_2).  One warm-up,
 * AUTO_REPEATS timed runs, the median.  Memory: the measurement happens inside nst_plan (and
 * nst_session_init given AUTO), before the arena's layout, on scratch from malloc (the strip's
 * feature maps, that layer's packed weights, XNNPACK's operators on a counting heap) that is freed
 * before the function returns: the plan then lays out the chosen backend exactly, and the caller
 * allocates the arena only after nst_plan.
 */
#include <stdlib.h>
#include <string.h>

#include "session.h"

#define AUTO_REPEATS 5            /* timed forward + backward runs per backend, after one warm-up */
#define AUTO_SIMD_MARGIN 0.05     /* within 5%, the engine's own kernels win (no XNNPACK heap) */
#define AUTO_PATTERN_PERIOD 1021  /* a prime: the measured input is a deterministic sawtooth */
#define AUTO_PATTERN_SCALE (1.0f / 64.0f)

static int compare_seconds(const void *a, const void *b) {
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One backend's median seconds for forward + backward of layer L (its shape, of weights w) on a
 * rows x cols strip, on an engine of its own with the given threads. */
static enum nst_status auto_time(const struct nst_weights *w, const struct vgg_layer *L, int threads, int rows,
                                 int cols, enum nst_backend backend, bool f16, double *seconds) {
	const struct nst_conv_shape *sh = &L->shape;
	const size_t pixels = (size_t)rows * (size_t)cols;
	const size_t n_in = pixels * (size_t)sh->in_channels, n_out = pixels * (size_t)sh->out_channels;
	const size_t k = (size_t)sh->kernel_h * sh->kernel_w * sh->in_channels * sh->out_channels + sh->out_channels;
	/* The layer at the strip's size, and what running it needs: an engine, XNNPACK's state. */
	struct nst_engine engine;
	nst_engine_init(&engine, backend == NST_BACKEND_SCALAR ? NST_BACKEND_SCALAR : NST_BACKEND_AUTO, NST_PRECISION_FP32,
	                threads, NULL);
	const enum nst_status started = nst_engine_start(&engine, NULL);
	struct nst_xnn_f16 xnn_f16 = {0};
	const bool xnn = backend == NST_BACKEND_XNNPACK;
	const struct vgg_conv_runner run = {&engine, xnn, xnn && f16, &xnn_f16};
	struct vgg_layer Lm = *L;
	Lm.h = rows;
	Lm.w = cols;
	Lm.packed_forward = Lm.packed_backward = Lm.bias = NULL;
	Lm.wino = NST_WINO_NONE; /* the engine's side is timed on its im2col kernels */
	Lm.xnn_forward = Lm.xnn_backward = NULL;
	engine.scratch_floats = nst_max_size(nst_conv_scratch_floats(engine.gemm, &Lm.shape),
	                                     nst_conv_scratch_floats(engine.gemm, &Lm.backward));
	float *src = malloc(n_in * sizeof(float)), *in = malloc(n_in * sizeof(float));
	float *out = malloc(n_out * sizeof(float)), *back = malloc(n_in * sizeof(float));
	float *staging = malloc(k * sizeof(float)), *relayout = malloc(k * sizeof(float));
	uint8_t *mask_out = malloc(nst_mask_bytes(n_out)), *mask_in = malloc(nst_mask_bytes(n_in));
	float *scratch = NULL, *bias_copy = NULL;
	uint16_t *h_in = NULL, *h_out = NULL;
	struct nst_xnn_heap heap;
	bool heap_started = false, f16_started = false;
	enum nst_status st = NST_OK;
	if (!src || !in || !out || !back || !staging || !relayout || !mask_out || !mask_in || started != NST_OK) {
		st = NST_ERR_OUT_OF_MEMORY;
		goto done;
	}
	for (size_t i = 0; i < n_in; i++)
		src[i] = (float)((int)(i % AUTO_PATTERN_PERIOD) - AUTO_PATTERN_PERIOD / 2) * AUTO_PATTERN_SCALE;
	memset(mask_in, 0x55, nst_mask_bytes(n_in)); /* half of the ReLUs below pass */
	float *bias;
	const float *hwio = nst_vgg_layer_weights(w, L->weights_index, staging, &bias);
	if (run.xnn) {
		heap_started = true;
		st = nst_xnn_begin_measure(&heap);
		if (st == NST_OK && run.f16) {
			bias_copy = malloc((size_t)sh->out_channels * sizeof(float));
			h_in = malloc(nst_max_size(n_in, n_out) * sizeof(uint16_t));
			h_out = malloc(nst_max_size(n_in, n_out) * sizeof(uint16_t));
			st = bias_copy && h_in && h_out ? NST_OK : NST_ERR_OUT_OF_MEMORY;
			if (st == NST_OK) {
				memcpy(bias_copy, bias, (size_t)sh->out_channels * sizeof(float));
				Lm.bias = bias_copy;
				st = nst_xnn_conv_create_f16(&Lm.shape, hwio, false, relayout, &Lm.l1_forward, &Lm.xnn_forward);
			}
			if (st == NST_OK)
				st = nst_xnn_conv_create_f16(&Lm.shape, hwio, true, relayout, &Lm.l1_backward, &Lm.xnn_backward);
			if (st == NST_OK) {
				f16_started = true;
				st = nst_xnn_f16_begin(&xnn_f16, h_in, h_out, nst_max_size(n_in, n_out));
			}
		} else if (st == NST_OK) {
			st = nst_xnn_conv_create(&Lm.shape, hwio, bias, true, false, relayout, &Lm.xnn_forward);
			if (st == NST_OK)
				st = nst_xnn_conv_create(&Lm.shape, hwio, NULL, false, true, relayout, &Lm.xnn_backward);
		}
	} else {
		Lm.packed_forward = malloc(nst_conv_packed_floats(engine.gemm, &Lm.shape) * sizeof(float));
		Lm.packed_backward = malloc(nst_conv_packed_floats(engine.gemm, &Lm.backward) * sizeof(float));
		scratch = malloc(engine.scratch_floats * (size_t)engine.threads * sizeof(float));
		st = Lm.packed_forward && Lm.packed_backward && scratch ? NST_OK : NST_ERR_OUT_OF_MEMORY;
		if (st == NST_OK) {
			nst_conv_pack_forward(engine.gemm, &Lm.shape, hwio, bias, Lm.packed_forward);
			nst_conv_pack_backward(engine.gemm, &Lm.shape, hwio, Lm.packed_backward);
		}
	}
	engine.scratch = scratch;
	double t[AUTO_REPEATS];
	for (int r = -1; st == NST_OK && r < AUTO_REPEATS; r++) { /* r = -1: the warm-up */
		memcpy(in, src, n_in * sizeof(float));
		const double t0 = nst_seconds();
		nst_vgg_conv_forward(&run, &Lm, rows, cols, in, false, out, mask_out);
		nst_vgg_conv_backward(&run, &Lm, out, back, NULL, mask_in);
		if (r >= 0)
			t[r] = nst_seconds() - t0;
	}
	if (st == NST_OK) {
		qsort(t, AUTO_REPEATS, sizeof t[0], compare_seconds);
		*seconds = t[AUTO_REPEATS / 2];
	}
done:
	if (f16_started)
		nst_xnn_f16_end(&xnn_f16);
	nst_xnn_delete(Lm.xnn_forward);
	nst_xnn_delete(Lm.xnn_backward);
	if (heap_started)
		nst_xnn_end(&heap);
	nst_engine_release(&engine);
	free(Lm.packed_forward);
	free(Lm.packed_backward);
	free(scratch);
	free(bias_copy);
	free(h_in);
	free(h_out);
	free(src);
	free(in);
	free(out);
	free(back);
	free(staging);
	free(relayout);
	free(mask_out);
	free(mask_in);
	return st;
}

enum nst_status nst_auto_choose(struct nst_session *s, bool f16, enum nst_backend *out, struct nst_diag *diag) {
	const enum nst_backend own = nst_backend_available(NST_BACKEND_SIMD) ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR;
	*out = own;
	if (!nst_xnn_available() || s->n_layers == 0)
		return NST_OK;
	for (int i = 0; i < s->n_layers; i++)
		if (nst_vgg_engine_only(&s->layers[i]))
			return NST_OK; /* XNNPACK would run those layers on the engine's kernels anyway */
	const struct vgg_layer *L = &s->layers[0];
	for (int i = 1; i < s->n_layers; i++)
		if (nst_conv_flops(&s->layers[i].shape, s->layers[i].h, s->layers[i].w) > nst_conv_flops(&L->shape, L->h, L->w))
			L = &s->layers[i];
	const int cols = L->w < NST_AUTO_MAX_PIXELS ? L->w : NST_AUTO_MAX_PIXELS;
	const int rows = L->h < NST_AUTO_MAX_PIXELS / cols ? L->h : (NST_AUTO_MAX_PIXELS / cols > 0 ? NST_AUTO_MAX_PIXELS / cols : 1);
	memcpy(s->plan.auto_layer, L->name, sizeof s->plan.auto_layer);
	double t_own = 0.0, t_xnn = 0.0;
	enum nst_status st = auto_time(s->weights, L, s->engine.threads, rows, cols, own, false, &t_own);
	if (st != NST_OK)
		return nst_fail(diag, st, "backend auto: cannot time %s on backend %s (%s)", L->name, nst_backend_name(own),
		                nst_status_string(st));
	s->plan.auto_seconds[own] = t_own;
	if (auto_time(s->weights, L, s->engine.threads, rows, cols, NST_BACKEND_XNNPACK, f16, &t_xnn) != NST_OK)
		return NST_OK; /* XNNPACK cannot run here (someone else's allocator): the engine's kernels */
	s->plan.auto_seconds[NST_BACKEND_XNNPACK] = t_xnn;
	if (t_xnn * (1.0 + AUTO_SIMD_MARGIN) < t_own)
		*out = NST_BACKEND_XNNPACK;
	return NST_OK;
}
