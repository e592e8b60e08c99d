/*
 * XNNPACK backend: the VGG convolutions (forward with the ReLU fused through the output clamp,
 * and the input gradient as a convolution with flipped, transposed weights) run as XNNPACK
 * operators, created once at init and only set up and run per step.  Pooling, masks and losses
 * come from the engine's own kernels (XNNPACK has no 2-bit argmax pooling).
 *
 * Memory: XNNPACK allocates through the struct xnn_allocator given to xnn_initialize; ours
 * hands out blocks from a heap inside the session's arena.  Debian's XNNPACK (2022) keeps the
 * allocator of the FIRST xnn_initialize for the life of the process, so the allocator's context
 * must outlive every session: it is the one process-wide router below, pointing at the heap of
 * the session being built or run.  That is the library's only mutable global, forced by that API;
 * if XNNPACK was initialized by someone else first, our allocator never sees a request and the
 * backend refuses to run rather than let XNNPACK's memory escape the arena.  The
 * planner measures the exact bytes by creating and setting up the same operators on a counting
 * heap (backed by malloc, freed at once); init then serves the same requests from the arena.
 * Because the operators only ever see the optimized picture's size, XNNPACK never reallocates
 * after its first setup.  One XNNPACK session per process at a time (the allocator is XNNPACK's
 * process-wide setting).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef NST_HAVE_XNNPACK
#include <xnnpack.h>

#define XNN_BLOCK_ALIGNMENT 64 /* every block: a size header of this many bytes, then the data */

/* The allocator's context: the heap of the session in use (NULL between sessions). */
struct xnn_router {
	struct nst_xnn_heap *heap;
};
static struct xnn_router g_router;

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static size_t block_bytes(size_t size) { return XNN_BLOCK_ALIGNMENT + round_up(size, XNN_BLOCK_ALIGNMENT); }

static void *heap_allocate(void *context, size_t size) {
	struct nst_xnn_heap *h = ((struct xnn_router *)context)->heap;
	if (!h)
		return NULL; /* XNNPACK used outside a session: nothing is allocated behind the plan's back */
	const size_t bytes = block_bytes(size);
	uint8_t *block;
	if (h->measuring) {
		block = aligned_alloc(XNN_BLOCK_ALIGNMENT, bytes);
		if (!block)
			return NULL;
		/* Blocks are chained through their headers so that the measurement frees them all. */
		memcpy(block + sizeof(size_t), &h->chain, sizeof h->chain);
		h->chain = block;
	} else {
		if (h->used + bytes > h->size) {
			h->escaped++;
			return NULL;
		}
		block = h->base + h->used;
	}
	h->used += bytes;
	h->allocations++;
	memcpy(block, &size, sizeof size);
	return block + XNN_BLOCK_ALIGNMENT;
}

static void *heap_aligned_allocate(void *context, size_t alignment, size_t size) {
	struct nst_xnn_heap *h = ((struct xnn_router *)context)->heap;
	if (alignment > XNN_BLOCK_ALIGNMENT) {
		if (h)
			h->escaped++;
		return NULL;
	}
	return heap_allocate(context, size);
}

static void *heap_reallocate(void *context, void *pointer, size_t size) {
	void *fresh = heap_allocate(context, size);
	if (fresh && pointer) {
		size_t old;
		memcpy(&old, (uint8_t *)pointer - XNN_BLOCK_ALIGNMENT, sizeof old);
		memcpy(fresh, pointer, old < size ? old : size);
	}
	return fresh;
}

/* Blocks live as long as the heap: the arena (or, while measuring, the chain) releases them. */
static void heap_deallocate(void *context, void *pointer) {
	(void)context;
	(void)pointer;
}

static enum nst_status start(struct nst_xnn_heap *h) {
	const struct xnn_allocator allocator = {&g_router, heap_allocate, heap_reallocate, heap_deallocate,
	                                        heap_aligned_allocate, heap_deallocate};
	h->previous = g_router.heap;
	g_router.heap = h;
	const enum xnn_status st = xnn_initialize(&allocator); /* installs it the first time only */
	if (st == xnn_status_unsupported_hardware)
		return NST_ERR_UNSUPPORTED;
	return st == xnn_status_success ? NST_OK : NST_ERR_OUT_OF_MEMORY;
}

enum nst_status nst_xnn_begin_measure(struct nst_xnn_heap *h) {
	memset(h, 0, sizeof *h);
	h->measuring = true;
	return start(h);
}

enum nst_status nst_xnn_begin(struct nst_xnn_heap *h, void *region, size_t bytes) {
	memset(h, 0, sizeof *h);
	h->base = region;
	h->size = bytes;
	return start(h);
}

void nst_xnn_end(struct nst_xnn_heap *h) {
	if (g_router.heap == h)
		/* A measurement (always within one call) inside a session gives the session its heap back;
		 * a session's end leaves none (the one before it may be gone). */
		g_router.heap = h->measuring ? h->previous : NULL;
	if (h->measuring)
		while (h->chain) {
			uint8_t *block = h->chain;
			memcpy(&h->chain, block + sizeof(size_t), sizeof h->chain);
			free(block);
		}
}

enum nst_status nst_xnn_conv_create(const struct nst_conv_shape *shape, const float *hwio, const float *bias,
                                    bool relu, bool backward, float *staging, void **op) {
	/* XNNPACK wants [out][kh][kw][in]; the input gradient's kernel is flipped and transposed. */
	const size_t kh = (size_t)shape->kernel_h, kw = (size_t)shape->kernel_w;
	const size_t cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels;
	const size_t xin = backward ? cout : cin, xout = backward ? cin : cout;
	float *ohwi = staging; /* [xout][kh][kw][xin] */
	for (size_t o = 0; o < xout; o++)
		for (size_t y = 0; y < kh; y++)
			for (size_t x = 0; x < kw; x++)
				for (size_t i = 0; i < xin; i++) {
					const size_t src = backward ? (((kh - 1 - y) * kw + (kw - 1 - x)) * cin + o) * cout + i
					                            : ((y * kw + x) * cin + i) * cout + o;
					ohwi[((o * kh + y) * kw + x) * xin + i] = hwio[src];
				}
	const uint32_t pad = backward ? (uint32_t)(shape->kernel_h - 1 - shape->pad) : (uint32_t)shape->pad;
	xnn_operator_t x = NULL;
	const size_t before = g_router.heap ? g_router.heap->allocations : 0;
	const enum xnn_status st = xnn_create_convolution2d_nhwc_f32(
		pad, pad, pad, pad, (uint32_t)kh, (uint32_t)kw, 1, 1, 1, 1, 1, xin, xout, xin, xout, ohwi,
		backward ? NULL : bias, relu ? 0.0f : -INFINITY, INFINITY, 0, &x);
	if (st != xnn_status_success)
		return st == xnn_status_out_of_memory ? NST_ERR_OUT_OF_MEMORY : NST_ERR_UNSUPPORTED;
	if (!g_router.heap || g_router.heap->allocations == before) {
		xnn_delete_operator(x); /* XNNPACK's allocator is someone else's: its memory would escape */
		return NST_ERR_UNSUPPORTED;
	}
	*op = x;
	return NST_OK;
}

enum nst_status nst_xnn_conv_setup(void *op, int h, int w, const float *in, float *out, pthreadpool_t pool) {
	return xnn_setup_convolution2d_nhwc_f32(op, 1, (size_t)h, (size_t)w, in, out, pool) == xnn_status_success
	           ? NST_OK
	           : NST_ERR_OUT_OF_MEMORY;
}

enum nst_status nst_xnn_conv_run(void *op, int h, int w, const float *in, float *out, pthreadpool_t pool) {
	const enum nst_status st = nst_xnn_conv_setup(op, h, w, in, out, pool);
	if (st != NST_OK)
		return st;
	return xnn_run_operator(op, pool) == xnn_status_success ? NST_OK : NST_ERR_INVALID_ARGUMENT;
}

void nst_xnn_delete(void *op) {
	if (op)
		xnn_delete_operator(op);
}

bool nst_xnn_available(void) { return true; }

/* ---------------------------------------------------------------------------------------------
 * float16.  XNNPACK's f16 convolutions accumulate in float16 on ARM (FP16 arithmetic), so every
 * operand is brought into float16's range by a power of two chosen per call: the input's largest
 * magnitude times the kernel's largest per-output-channel L1 norm bounds every partial sum, and
 * that bound is scaled to F16_BOUND_LOG2.  Powers of two are exact: the scaling changes which values
 * become subnormal or overflow, never the rounding of the others.  Gradients (1e-6 and below) would
 * otherwise flush to zero, activations of deep layers overflow.
 * ------------------------------------------------------------------------------------------- */

#define F16_BOUND_LOG2 13     /* scaled partial sums stay below 2^13; float16's largest is 65504 (~2^16) */
#define F16_MAX_SHIFT 100     /* the scale stays within 2^-100 .. 2^100: float32 holds the products */

bool nst_xnn_f16_supported(void) {
	struct nst_xnn_heap heap;
	if (nst_xnn_begin_measure(&heap) != NST_OK) {
		nst_xnn_end(&heap);
		return false;
	}
	const uint16_t kernel[1] = {0}; /* a 1x1 convolution of one channel */
	xnn_operator_t op = NULL;
	const enum xnn_status st =
		xnn_create_convolution2d_nhwc_f16(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, kernel, NULL, -INFINITY, INFINITY, 0, &op);
	if (op)
		xnn_delete_operator(op);
	nst_xnn_end(&heap);
	return st == xnn_status_success;
}

enum nst_status nst_xnn_conv_create_f16(const struct nst_conv_shape *shape, const float *hwio, bool backward,
                                        float *staging, float *l1, void **op) {
	const size_t kh = (size_t)shape->kernel_h, kw = (size_t)shape->kernel_w;
	const size_t cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels;
	const size_t xin = backward ? cout : cin, xout = backward ? cin : cout;
	const size_t per_out = kh * kw * xin;
	/* [xout][kh][kw][xin] as float32 first, then converted in place to float16: half i is written
	 * after float i is read and below every float still to be read. */
	float *ohwi = staging;
	for (size_t o = 0; o < xout; o++)
		for (size_t y = 0; y < kh; y++)
			for (size_t x = 0; x < kw; x++)
				for (size_t i = 0; i < xin; i++) {
					const size_t src = backward ? (((kh - 1 - y) * kw + (kw - 1 - x)) * cin + o) * cout + i
					                            : ((y * kw + x) * cin + i) * cout + o;
					ohwi[((o * kh + y) * kw + x) * xin + i] = hwio[src];
				}
	float bound = 0.0f;
	for (size_t o = 0; o < xout; o++) {
		double sum = 0.0;
		for (size_t k = 0; k < per_out; k++)
			sum += fabs((double)ohwi[o * per_out + k]);
		if ((float)sum > bound)
			bound = (float)sum;
	}
	*l1 = bound;
	uint8_t *bytes = (uint8_t *)staging;
	for (size_t k = 0; k < xout * per_out; k++) {
		float v;
		memcpy(&v, bytes + k * sizeof(float), sizeof v);
		const uint16_t h = nst_f32_to_f16(v);
		memcpy(bytes + k * sizeof(uint16_t), &h, sizeof h);
	}
	const uint32_t pad = backward ? (uint32_t)(shape->kernel_h - 1 - shape->pad) : (uint32_t)shape->pad;
	xnn_operator_t x = NULL;
	const size_t before = g_router.heap ? g_router.heap->allocations : 0;
	/* No bias and no clamp: the caller adds the bias and applies the ReLU in float32, after scaling back. */
	const enum xnn_status st = xnn_create_convolution2d_nhwc_f16(pad, pad, pad, pad, (uint32_t)kh, (uint32_t)kw, 1, 1, 1, 1,
	                                                             1, xin, xout, xin, xout, staging, NULL, -INFINITY,
	                                                             INFINITY, 0, &x);
	if (st != xnn_status_success)
		return st == xnn_status_out_of_memory ? NST_ERR_OUT_OF_MEMORY : NST_ERR_UNSUPPORTED;
	if (!g_router.heap || g_router.heap->allocations == before) {
		xnn_delete_operator(x);
		return NST_ERR_UNSUPPORTED;
	}
	*op = x;
	return NST_OK;
}

enum nst_status nst_xnn_f16_begin(struct nst_xnn_f16 *c, uint16_t *in, uint16_t *out, size_t halves) {
	memset(c, 0, sizeof *c);
	c->in = in;
	c->out = out;
	c->halves = halves;
	xnn_operator_t a = NULL, b = NULL;
	/* One channel, unit strides: XNNPACK treats the batch as one contiguous run of values. */
	if (xnn_create_convert_nc_f32_f16(1, 1, 1, 0, &a) != xnn_status_success ||
	    xnn_create_convert_nc_f16_f32(1, 1, 1, 0, &b) != xnn_status_success) {
		if (a)
			xnn_delete_operator(a);
		return NST_ERR_UNSUPPORTED;
	}
	c->to_f16 = a;
	c->to_f32 = b;
	return NST_OK;
}

void nst_xnn_f16_end(struct nst_xnn_f16 *c) {
	nst_xnn_delete(c->to_f16);
	nst_xnn_delete(c->to_f32);
	c->to_f16 = c->to_f32 = NULL;
}

/* The power of two that brings |in| <= amax through a kernel of L1 norm l1 below F16_BOUND_LOG2. */
static int f16_shift(float amax, float l1) {
	const float bound = amax * (l1 > 1.0f ? l1 : 1.0f);
	if (!(bound > 0.0f) || !isfinite(bound))
		return 0;
	int k;
	frexpf(bound, &k); /* bound < 2^k */
	const int e = F16_BOUND_LOG2 - k;
	return e > F16_MAX_SHIFT ? F16_MAX_SHIFT : (e < -F16_MAX_SHIFT ? -F16_MAX_SHIFT : e);
}

enum nst_status nst_xnn_conv_run_f16(const struct nst_xnn_f16 *c, void *op, float l1, int h, int w, int cin, int cout,
                                     float *in, bool writable, float *out, float *unscale, pthreadpool_t pool) {
	const size_t n_in = (size_t)h * (size_t)w * (size_t)cin, n_out = (size_t)h * (size_t)w * (size_t)cout;
	if (n_in > c->halves || n_out > c->halves)
		return NST_ERR_INVALID_ARGUMENT;
	int e = 0;
	if (writable) {
		float amax = 0.0f;
		for (size_t i = 0; i < n_in; i++)
			amax = fmaxf(amax, fabsf(in[i]));
		e = f16_shift(amax, l1);
		if (e != 0) {
			const float scale = ldexpf(1.0f, e);
			for (size_t i = 0; i < n_in; i++)
				in[i] *= scale;
		}
	}
	*unscale = ldexpf(1.0f, -e);
	if (xnn_setup_convert_nc_f32_f16(c->to_f16, n_in, in, c->in, pool) != xnn_status_success ||
	    xnn_run_operator(c->to_f16, pool) != xnn_status_success ||
	    xnn_setup_convolution2d_nhwc_f16(op, 1, (size_t)h, (size_t)w, c->in, c->out, pool) != xnn_status_success ||
	    xnn_run_operator(op, pool) != xnn_status_success ||
	    xnn_setup_convert_nc_f16_f32(c->to_f32, n_out, c->out, out, pool) != xnn_status_success ||
	    xnn_run_operator(c->to_f32, pool) != xnn_status_success)
		return NST_ERR_INVALID_ARGUMENT;
	return NST_OK;
}

enum nst_status nst_xnn_conv_setup_f16(void *op, int h, int w, const uint16_t *in, uint16_t *out) {
	return xnn_setup_convolution2d_nhwc_f16(op, 1, (size_t)h, (size_t)w, in, out, NULL) == xnn_status_success
	           ? NST_OK
	           : NST_ERR_OUT_OF_MEMORY;
}

#else /* built without XNNPACK */

enum nst_status nst_xnn_begin_measure(struct nst_xnn_heap *h) {
	memset(h, 0, sizeof *h);
	return NST_ERR_UNSUPPORTED;
}
enum nst_status nst_xnn_begin(struct nst_xnn_heap *h, void *region, size_t bytes) {
	(void)region;
	(void)bytes;
	memset(h, 0, sizeof *h);
	return NST_ERR_UNSUPPORTED;
}
void nst_xnn_end(struct nst_xnn_heap *h) { (void)h; }
enum nst_status nst_xnn_conv_create(const struct nst_conv_shape *shape, const float *hwio, const float *bias,
                                    bool relu, bool backward, float *staging, void **op) {
	(void)shape, (void)hwio, (void)bias, (void)relu, (void)backward, (void)staging;
	*op = NULL;
	return NST_ERR_UNSUPPORTED;
}
enum nst_status nst_xnn_conv_run(void *op, int h, int w, const float *in, float *out, pthreadpool_t pool) {
	(void)op, (void)h, (void)w, (void)in, (void)out, (void)pool;
	return NST_ERR_UNSUPPORTED;
}
enum nst_status nst_xnn_conv_setup(void *op, int h, int w, const float *in, float *out, pthreadpool_t pool) {
	return nst_xnn_conv_run(op, h, w, in, out, pool);
}
void nst_xnn_delete(void *op) { (void)op; }
bool nst_xnn_available(void) { return false; }
bool nst_xnn_f16_supported(void) { return false; }
enum nst_status nst_xnn_conv_create_f16(const struct nst_conv_shape *shape, const float *hwio, bool backward,
                                        float *staging, float *l1, void **op) {
	(void)shape, (void)hwio, (void)backward, (void)staging;
	*l1 = 0.0f;
	*op = NULL;
	return NST_ERR_UNSUPPORTED;
}
enum nst_status nst_xnn_f16_begin(struct nst_xnn_f16 *c, uint16_t *in, uint16_t *out, size_t halves) {
	(void)in, (void)out, (void)halves;
	memset(c, 0, sizeof *c);
	return NST_ERR_UNSUPPORTED;
}
void nst_xnn_f16_end(struct nst_xnn_f16 *c) { (void)c; }
enum nst_status nst_xnn_conv_run_f16(const struct nst_xnn_f16 *c, void *op, float l1, int h, int w, int cin, int cout,
                                     float *in, bool writable, float *out, float *unscale, pthreadpool_t pool) {
	(void)c, (void)op, (void)l1, (void)h, (void)w, (void)cin, (void)cout, (void)in, (void)writable, (void)out, (void)pool;
	*unscale = 1.0f;
	return NST_ERR_UNSUPPORTED;
}
enum nst_status nst_xnn_conv_setup_f16(void *op, int h, int w, const uint16_t *in, uint16_t *out) {
	(void)op, (void)h, (void)w, (void)in, (void)out;
	return NST_ERR_UNSUPPORTED;
}

#endif
