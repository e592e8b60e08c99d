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
		g_router.heap = NULL;
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

#endif
