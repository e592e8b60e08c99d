/*
 * Convolution as blocked im2col + GEMM (the patch matrix built a block of rows at a time).
 *
 * The patch matrix of a convolution is (output pixels) x (kernel_h * kernel_w * in_channels).
 * It is never built whole: each slot of the engine builds a block of its rows at a time (sized to
 * stay in L2, see NST_IM2COL_BLOCK_BYTES) in its own scratch, multiplies the block by the packed
 * weights with the GEMM microkernel, one NR-column panel at a time over all the block's rows, and
 * then applies the epilogue (addend, incoming ReLU mask, outgoing ReLU mask) while the block's
 * output is still in cache.  The upsample and phases convolutions (src/conv_upsample.c,
 * src/conv_phases.c) use the same blocks (nst_im2col_block_pixels, nst_im2col_gemm).
 *
 * A picture's convolution (3 input channels, stride 1: VGG's conv1_1) has patch rows of only
 * kh * kw * 3 floats, and copying them costs a third of its GEMM.  It takes the "stacked" path
 * instead: for a run of output pixels of one row, the input columns are laid out as
 * [column][kh][3] (each column's kh rows stacked, 3 * kh floats), so that pixel i's patch is the
 * kw * kh * 3 contiguous floats at column i: the GEMM reads the patch rows in place with a row
 * stride of 3 * kh floats (consecutive rows overlap), from a copy kw times smaller than im2col's.
 * Its weights are packed in the matching [kx][ky][cin] row order.
 *
 * The input gradient of a stride-1 convolution is a convolution of the output gradient with the
 * kernel flipped in both spatial directions and its channel axes swapped; its weights are packed
 * once, beside the forward ones, and run through the same machinery.
 *
 * Few output channels (at most NST_DOT_MAX_N, stride 1: VGG's conv1_1 input gradient, 64 -> 3,
 * and the feed-forward networks' last layer, 32 -> 3) run on the small-N ("dot") kernels instead,
 * whose weights are packed [cout][kh*kw*cin] (no padding of N to NR).  They need no im2col: a
 * block of output pixels of one row reads a band of the input, kh rows of (pixels + kw - 1)
 * pixels (padding and reflection resolved while copying), and pixel i's patch is the band's kh
 * segments of kw * cin floats starting at pixel i.  The band is kw * kh times smaller than the
 * patch rows it stands for.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* Block rows are a multiple of this, so that a block's outgoing mask bits start on a byte. */
#define MASK_BYTE_BITS 8

static size_t lcm_size(size_t a, size_t b) {
	size_t x = a, y = b;
	while (y) {
		const size_t t = x % y;
		x = y;
		y = t;
	}
	return a / x * b;
}

size_t nst_im2col_block_pixels(size_t k, size_t unit) {
	size_t rows = NST_IM2COL_BLOCK_BYTES / (k * sizeof(float));
	rows -= rows % unit;
	return rows < unit ? unit : rows;
}

/* Output pixels per im2col block of this file's convolutions: a multiple of the kernel's rows and
 * of a mask byte's bits (the epilogue's masks start on a byte). */
static size_t block_pixels(const struct nst_gemm_kernel *gemm, size_t k) {
	return nst_im2col_block_pixels(k, lcm_size(gemm->mr, MASK_BYTE_BITS));
}

void nst_im2col_gemm(const struct nst_gemm_kernel *g, size_t np, size_t k, const float *a, size_t lda,
                     const float *packed, float *out, size_t cout, const struct nst_f32_minmax_params *params) {
	const size_t panel_floats = nst_gemm_kernel_panel_floats(g, k);
	for (size_t n0 = 0, panel = 0; n0 < cout; n0 += g->nr, panel++) {
		const size_t nc = cout - n0 < g->nr ? cout - n0 : g->nr;
		const float *w = packed + panel * panel_floats;
		for (size_t i = 0; i < np; i += g->mr) {
			const size_t mr = np - i < g->mr ? np - i : g->mr;
			g->fn(mr, nc, k, a + i * lda, lda, w, out + i * cout + n0, cout, params);
		}
	}
}

void nst_im2col_gemm_q8(const struct nst_gemm_kernel *g, size_t np, size_t k, float *a, size_t lda,
                        const float *packed, float *out, size_t cout, const struct nst_qu8_gemm_params *params) {
	const size_t panel_floats = nst_gemm_kernel_panel_floats(g, k), kq = nst_qu8_k(k);
	const uint8_t *a8 = nst_qu8_quantize_rows(g->quantize, np, k, a, lda, params); // [np][kq]
	for (size_t n0 = 0, panel = 0; n0 < cout; n0 += g->nr, panel++) {
		const size_t nc = cout - n0 < g->nr ? cout - n0 : g->nr;
		const float *w = packed + panel * panel_floats;
		for (size_t i = 0; i < np; i += g->mr) {
			const size_t mr = np - i < g->mr ? np - i : g->mr;
			g->qfn(mr, nc, kq, a8 + i * kq, kq, w, out + i * cout + n0, cout, params);
		}
	}
}

void nst_qu8_input_params(const struct nst_gemm_kernel *g, const float *in, size_t n, float min, float max,
                          struct nst_qu8_gemm_params *params) {
	float lo, hi;
	g->range(n, in, &lo, &hi);
	params->min = min;
	params->max = max;
	nst_qu8_params_for_range(lo, hi, params);
}

/* The GEMM kernel a convolution with these outputs runs: the configuration's narrow one where
 * they fit its tile (nst_gemm_kernel_for_columns).  Every function here that sizes, packs or runs
 * asks this one question, so that they agree. */
static const struct nst_gemm_kernel *kernel_for(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return nst_gemm_kernel_for_columns(gemm, (size_t)shape->out_channels);
}

bool nst_conv_small_n(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return shape->stride == 1 && (size_t)shape->out_channels <= nst_dot_kernel_for(gemm)->nr;
}

static bool small_n(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return nst_conv_small_n(gemm, shape);
}

/* An RGB picture's pixel: 3 floats. */
#define RGB_CHANNELS 3

/* Kernel rows the stacked path takes (its row pointers live on the stack). */
#define STACK_MAX_ROWS 16

/* Whether a convolution takes the stacked path (see the top of the file). */
static bool stacked(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	/* Float32 kernels only: the float16 and int8 packings have no [kx][ky][cin] row order (and
	 * int8 rows are quantized in place, which overlapping rows cannot be). */
	return !gemm->f16 && !gemm->q8 && shape->stride == 1 && shape->in_channels == RGB_CHANNELS &&
	       shape->kernel_h <= STACK_MAX_ROWS && !small_n(gemm, shape);
}

/* Output pixels per band block: the band, kh rows of (pixels + kw - 1) pixels of cin floats, fits
 * NST_IM2COL_BLOCK_BYTES; a multiple of the kernel's rows and of a mask byte's bits. */
static size_t band_pixels(const struct nst_dot_kernel *dot, const struct nst_conv_shape *shape) {
	const size_t unit = lcm_size(dot->mr, MASK_BYTE_BITS);
	const size_t column = (size_t)shape->kernel_h * (size_t)shape->in_channels; /* floats per band pixel */
	const size_t columns = NST_IM2COL_BLOCK_BYTES / (column * sizeof(float)), edge = (size_t)shape->kernel_w - 1;
	size_t pixels = columns > edge ? columns - edge : 0;
	pixels -= pixels % unit;
	return pixels < unit ? unit : pixels;
}

static size_t band_floats(const struct nst_dot_kernel *dot, const struct nst_conv_shape *shape) {
	return (size_t)shape->kernel_h * (band_pixels(dot, shape) + (size_t)shape->kernel_w - 1) *
	       (size_t)shape->in_channels;
}

size_t nst_conv_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	gemm = kernel_for(gemm, shape);
	if (small_n(gemm, shape))
		return band_floats(nst_dot_kernel_for(gemm), shape);
	const size_t k = nst_conv_patch_floats(shape);
	return block_pixels(gemm, k) * k;
}

size_t nst_conv_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	gemm = kernel_for(gemm, shape);
	if (small_n(gemm, shape))
		return nst_dot_packed_floats(nst_conv_patch_floats(shape), (size_t)shape->out_channels);
	return nst_gemm_kernel_packed_floats(gemm, nst_conv_patch_floats(shape), (size_t)shape->out_channels);
}

void nst_conv_pack_forward(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                           const float *hwio, const float *bias, float *packed) {
	/* HWIO is already the [kh*kw*cin][cout] weight matrix of the patch GEMM. */
	gemm = kernel_for(gemm, shape);
	const size_t k = nst_conv_patch_floats(shape), cout = (size_t)shape->out_channels;
	if (small_n(gemm, shape)) {
		nst_dot_pack(k, cout, hwio, cout, bias, packed);
		return;
	}
	if (!stacked(gemm, shape)) {
		nst_gemm_kernel_pack(gemm, k, cout, hwio, cout, bias, packed);
		return;
	}
	/* nst_gemm_pack's layout (per NR-column panel: NR biases, then k rows of NR weights, zero
	 * beyond cout) with the rows in [kx][ky][cin] order. */
	const size_t kh = (size_t)shape->kernel_h, kw = (size_t)shape->kernel_w, cin = (size_t)shape->in_channels;
	const size_t nr = gemm->nr;
	float *p = packed;
	for (size_t n0 = 0; n0 < cout; n0 += nr) {
		for (size_t j = 0; j < nr; j++)
			*p++ = n0 + j < cout && bias ? bias[n0 + j] : 0.0f;
		for (size_t kx = 0; kx < kw; kx++)
			for (size_t ky = 0; ky < kh; ky++)
				for (size_t ci = 0; ci < cin; ci++)
					for (size_t j = 0; j < nr; j++)
						*p++ = n0 + j < cout ? hwio[((ky * kw + kx) * cin + ci) * cout + n0 + j] : 0.0f;
	}
	assert((size_t)(p - packed) == nst_gemm_packed_floats(k, cout, nr));
}

struct nst_conv_shape nst_conv_backward_shape(const struct nst_conv_shape *shape) {
	struct nst_conv_shape b = *shape;
	b.in_channels = shape->out_channels;
	b.out_channels = shape->in_channels;
	b.pad = shape->kernel_h - 1 - shape->pad;
	b.stride = 1;
	b.reflect = false;
	return b;
}

void nst_conv_pack_backward(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                            const float *hwio, float *packed) {
	/* The gradient convolution's weight matrix is [kh][kw][cout][cin] with
	 * W'[ky][kx][co][ci] = W[kh-1-ky][kw-1-kx][ci][co]; packed in panels of NR of its cin columns. */
	const struct nst_conv_shape backward = nst_conv_backward_shape(shape);
	gemm = kernel_for(gemm, &backward);
	const size_t kh = (size_t)shape->kernel_h, kw = (size_t)shape->kernel_w;
	const size_t cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels;
	const size_t nr = gemm->nr, k = kh * kw * cout;
	if (small_n(gemm, &backward)) {
		/* [cin] zero biases, then [cin][kh][kw][cout]: row ci of the transposed matrix. */
		float *p = packed;
		for (size_t ci = 0; ci < cin; ci++)
			*p++ = 0.0f;
		for (size_t ci = 0; ci < cin; ci++)
			for (size_t ky = 0; ky < kh; ky++)
				for (size_t kx = 0; kx < kw; kx++)
					for (size_t co = 0; co < cout; co++)
						*p++ = hwio[(((kh - 1 - ky) * kw + (kw - 1 - kx)) * cin + ci) * cout + co];
		assert((size_t)(p - packed) == nst_dot_packed_floats(k, cin));
		return;
	}
	float *p = packed;
	for (size_t n0 = 0; n0 < cin; n0 += nr) {
		for (size_t j = 0; j < nr; j++)
			*p++ = 0.0f; /* no bias */
		for (size_t ky = 0; ky < kh; ky++)
			for (size_t kx = 0; kx < kw; kx++)
				for (size_t co = 0; co < cout; co++)
					for (size_t j = 0; j < nr; j++) {
						const size_t ci = n0 + j;
						*p++ = ci < cin ? hwio[(((kh - 1 - ky) * kw + (kw - 1 - kx)) * cin + ci) * cout + co] : 0.0f;
					}
	}
	assert((size_t)(p - packed) == nst_gemm_packed_floats(k, cin, nr));
}

struct conv_task {
	const struct nst_engine *engine;
	const struct nst_conv_shape *shape;
	int h, w, oh, ow;
	const float *in;     /* [h][w][cin] */
	const float *packed;
	float *out;          /* [oh][ow][cout] */
	const struct nst_conv_epilogue *epilogue;
	size_t k, block, n_blocks; /* patch floats; output pixels per block, blocks */
	const struct nst_dot_kernel *dot; /* the small-N kernel, NULL for the GEMM path */
	struct nst_f32_minmax_params params;
	struct nst_qu8_gemm_params qparams; /* int8 kernels: the clamp and the input's quantization */
};

/* An RGB pixel's 3 floats are copied inline (a memcpy call per 12 bytes costs more than the copy). */

static inline void copy_rgb(float *restrict dst, const float *restrict src) {
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
}

static inline void zero_rgb(float *dst) {
	dst[0] = 0.0f;
	dst[1] = 0.0f;
	dst[2] = 0.0f;
}

/* A 3x3 kernel's row of RGB pixels: 9 floats, copied by a fixed-size memcpy, which the compiler
 * turns into a few vector moves (a variable-size one is a library call per 36 bytes). */
#define KERNEL3 3
#define RUN3_FLOATS (KERNEL3 * RGB_CHANNELS)

static inline void copy_run(float *restrict dst, const float *restrict src, int kw) {
	if (kw == KERNEL3) {
		memcpy(dst, src, RUN3_FLOATS * sizeof(float));
		return;
	}
	for (int kx = 0; kx < kw; kx++)
		copy_rgb(dst + (size_t)kx * RGB_CHANNELS, src + (size_t)kx * RGB_CHANNELS);
}

/* im2col_block for 3 input channels (a picture: VGG's first layer), pixel by pixel along the
 * output rows; a run inside the picture is one copy_run. */
static void im2col_block_rgb(const struct conv_task *t, size_t p0, size_t np, float *a) {
	const struct nst_conv_shape *s = t->shape;
	const int kh = s->kernel_h, kw = s->kernel_w;
	const size_t row_run = (size_t)kw * RGB_CHANNELS;
	int oy = (int)(p0 / (size_t)t->ow), ox = (int)(p0 % (size_t)t->ow);
	for (size_t i = 0; i < np; i++, ox++) {
		if (ox == t->ow) {
			ox = 0;
			oy++;
		}
		const int ix0 = ox * s->stride - s->pad;
		const bool inside = ix0 >= 0 && ix0 + kw <= t->w;
		float *row = a + i * t->k; // [kh][kw][3]
		for (int ky = 0; ky < kh; ky++) {
			float *dst = row + (size_t)ky * row_run; // [kw][3]
			int iy = oy * s->stride - s->pad + ky;
			if (s->reflect) {
				iy = nst_reflect_index(iy, t->h);
			} else if (iy < 0 || iy >= t->h) {
				for (int kx = 0; kx < kw; kx++)
					zero_rgb(dst + (size_t)kx * RGB_CHANNELS);
				continue;
			}
			const float *src_row = t->in + (size_t)iy * (size_t)t->w * RGB_CHANNELS; // [w][3]
			if (inside) { /* the common case: one contiguous run */
				copy_run(dst, src_row + (size_t)ix0 * RGB_CHANNELS, kw);
				continue;
			}
			for (int kx = 0; kx < kw; kx++) {
				int ix = ix0 + kx;
				if (s->reflect) {
					ix = nst_reflect_index(ix, t->w);
				} else if (ix < 0 || ix >= t->w) {
					zero_rgb(dst + (size_t)kx * RGB_CHANNELS);
					continue;
				}
				copy_rgb(dst + (size_t)kx * RGB_CHANNELS, src_row + (size_t)ix * RGB_CHANNELS);
			}
		}
	}
}

/* Rows [p0, p0 + np) of the patch matrix into a ([np][k]). */
static void im2col_block(const struct conv_task *t, size_t p0, size_t np, float *a) {
	const struct nst_conv_shape *s = t->shape;
	if (s->in_channels == RGB_CHANNELS) {
		im2col_block_rgb(t, p0, np, a);
		return;
	}
	const size_t cin = (size_t)s->in_channels, row_run = (size_t)s->kernel_w * cin;
	for (size_t i = 0; i < np; i++) {
		const size_t p = p0 + i;
		const int oy = (int)(p / (size_t)t->ow), ox = (int)(p % (size_t)t->ow);
		float *row = a + i * t->k;
		for (int ky = 0; ky < s->kernel_h; ky++) {
			float *dst = row + (size_t)ky * row_run;
			int iy = oy * s->stride - s->pad + ky;
			const int ix0 = ox * s->stride - s->pad;
			if (s->reflect) {
				iy = nst_reflect_index(iy, t->h);
				if (ix0 >= 0 && ix0 + s->kernel_w <= t->w) { /* inside: one contiguous run */
					memcpy(dst, t->in + ((size_t)iy * (size_t)t->w + (size_t)ix0) * cin, row_run * sizeof(float));
					continue;
				}
				for (int kx = 0; kx < s->kernel_w; kx++) {
					const int ix = nst_reflect_index(ix0 + kx, t->w);
					memcpy(dst + (size_t)kx * cin, t->in + ((size_t)iy * (size_t)t->w + (size_t)ix) * cin,
					       cin * sizeof(float));
				}
				continue;
			}
			if (iy < 0 || iy >= t->h) {
				memset(dst, 0, row_run * sizeof(float));
				continue;
			}
			const float *src_row = t->in + (size_t)iy * (size_t)t->w * cin;
			if (ix0 >= 0 && ix0 + s->kernel_w <= t->w) { /* the common case: one contiguous run */
				memcpy(dst, src_row + (size_t)ix0 * cin, row_run * sizeof(float));
				continue;
			}
			for (int kx = 0; kx < s->kernel_w; kx++) {
				const int ix = ix0 + kx;
				if (ix < 0 || ix >= t->w)
					memset(dst + (size_t)kx * cin, 0, cin * sizeof(float));
				else
					memcpy(dst + (size_t)kx * cin, src_row + (size_t)ix * cin, cin * sizeof(float));
			}
		}
	}
}

/* Whole mask bytes go through the mask kernels; the last partial byte (a layer's last block)
 * element by element. */
void nst_conv_epilogue_run(const struct nst_mask_kernel *mk, const struct nst_conv_epilogue *ep, size_t e0, size_t n,
                         float *out) {
	if (!ep->addend && !ep->mask_in && !ep->mask_out)
		return;
	const size_t whole = n / MASK_BYTE_BITS, b0 = e0 / MASK_BYTE_BITS;
	if (ep->addend)
		nst_floats_add(whole * MASK_BYTE_BITS, ep->addend + e0, out);
	if (ep->mask_in)
		mk->apply(whole, ep->mask_in + b0, out);
	if (ep->mask_out)
		mk->pack(whole, out, ep->mask_out + b0);
	const size_t t = whole * MASK_BYTE_BITS, m = n - t; /* the tail: m < 8 elements */
	if (m == 0)
		return;
	float *o = out + t;
	const size_t e = e0 + t;
	if (ep->addend)
		for (size_t b = 0; b < m; b++)
			o[b] += ep->addend[e + b];
	if (ep->mask_in) {
		const unsigned bits = ep->mask_in[e >> 3];
		for (size_t b = 0; b < m; b++)
			o[b] = ((bits >> b) & 1u) ? o[b] : 0.0f;
	}
	if (ep->mask_out) {
		unsigned bits = 0;
		for (size_t b = 0; b < m; b++)
			bits |= (unsigned)(o[b] > 0.0f) << b;
		ep->mask_out[e >> 3] = (uint8_t)bits;
	}
}

/* A 1x1 stride-1 convolution without padding: its input [h][w][cin] is the patch matrix itself. */
static bool pointwise(const struct nst_conv_shape *shape) {
	return shape->kernel_h == 1 && shape->kernel_w == 1 && shape->stride == 1 && shape->pad == 0;
}

static void conv_worker(void *context, size_t slot, size_t block) {
	const struct conv_task *t = context;
	const struct nst_engine *e = t->engine;
	const size_t cout = (size_t)t->shape->out_channels, pixels = (size_t)t->oh * (size_t)t->ow;
	float *scratch = nst_engine_scratch(e, slot); /* [block][k] */
	const size_t p0 = block * t->block;
	const size_t np = pixels - p0 < t->block ? pixels - p0 : t->block;
	const float *a = scratch; /* [np][k] */
	float *out = t->out + p0 * cout; /* [np][cout] */
	if (e->gemm->q8) { /* the rows are quantized in place: always a copy */
		im2col_block(t, p0, np, scratch);
		nst_im2col_gemm_q8(e->gemm, np, t->k, scratch, t->k, t->packed, out, cout, &t->qparams);
		nst_conv_epilogue_run(nst_mask_kernel_for(e->gemm), t->epilogue, p0 * cout, np * cout, out);
		return;
	}
	if (pointwise(t->shape) && t->in != t->out) {
		a = t->in + p0 * t->k;
	} else if (pointwise(t->shape)) { /* in place: the block's rows first, the GEMM writes over them */
		memcpy(scratch, t->in + p0 * t->k, np * t->k * sizeof(float));
	} else {
		im2col_block(t, p0, np, scratch);
	}
	nst_im2col_gemm(e->gemm, np, t->k, a, t->k, t->packed, out, cout, &t->params);
	nst_conv_epilogue_run(nst_mask_kernel_for(e->gemm), t->epilogue, p0 * cout, np * cout, out);
}

/* stack [span][kh][3] = the input pixels (oy - pad + ky, ix0 + dx) for dx < span, reflected or
 * zero outside the picture. */
static void stack_build(const struct conv_task *t, int oy, int ix0, size_t span, float *stack) {
	const struct nst_conv_shape *s = t->shape;
	const size_t kh = (size_t)s->kernel_h, column = kh * RGB_CHANNELS;
	const float *rows[STACK_MAX_ROWS]; /* [kh] input rows [w][3], NULL: zero padding */
	assert(kh <= STACK_MAX_ROWS);
	for (size_t ky = 0; ky < kh; ky++) {
		int iy = oy - s->pad + (int)ky;
		if (s->reflect)
			iy = nst_reflect_index(iy, t->h);
		rows[ky] = iy >= 0 && iy < t->h ? t->in + (size_t)iy * (size_t)t->w * RGB_CHANNELS : NULL;
	}
	for (size_t dx = 0; dx < span; dx++) {
		float *dst = stack + dx * column; // [kh][3]
		int ix = ix0 + (int)dx;
		if (s->reflect)
			ix = nst_reflect_index(ix, t->w);
		const bool inside = ix >= 0 && ix < t->w;
		for (size_t ky = 0; ky < kh; ky++) {
			if (inside && rows[ky])
				copy_rgb(dst + ky * RGB_CHANNELS, rows[ky] + (size_t)ix * RGB_CHANNELS);
			else
				zero_rgb(dst + ky * RGB_CHANNELS);
		}
	}
}

/* The stacked path: a block's pixels, one output row's run at a time, from a stack. */
static void conv_worker_stacked(void *context, size_t slot, size_t block) {
	const struct conv_task *t = context;
	const struct nst_engine *e = t->engine;
	const struct nst_conv_shape *s = t->shape;
	const size_t cout = (size_t)s->out_channels, kw = (size_t)s->kernel_w, ow = (size_t)t->ow;
	const size_t pixels = (size_t)t->oh * ow, lda = (size_t)s->kernel_h * RGB_CHANNELS;
	float *stack = nst_engine_scratch(e, slot); /* [block + kw - 1][kh][3] */
	const size_t p0 = block * t->block;
	const size_t np = pixels - p0 < t->block ? pixels - p0 : t->block;
	for (size_t p = p0; p < p0 + np;) {
		const size_t oy = p / ow, ox = p % ow;
		const size_t n = ow - ox < p0 + np - p ? ow - ox : p0 + np - p; /* pixels of this row */
		stack_build(t, (int)oy, (int)ox - s->pad, n + kw - 1, stack);
		nst_im2col_gemm(e->gemm, n, t->k, stack, lda, t->packed, t->out + p * cout, cout, &t->params); /* [n][cout] */
		p += n;
	}
	nst_conv_epilogue_run(nst_mask_kernel_for(e->gemm), t->epilogue, p0 * cout, np * cout, t->out + p0 * cout);
}

/* band [kh][span][cin] = the input pixels (oy - pad + ky, ix0 + dx) for dx < span, reflected or
 * zero outside the picture. */
static void band_build(const struct conv_task *t, int oy, int ix0, size_t span, float *band) {
	const struct nst_conv_shape *s = t->shape;
	const size_t cin = (size_t)s->in_channels, run = span * cin;
	const bool inside = ix0 >= 0 && (size_t)ix0 + span <= (size_t)t->w;
	for (int ky = 0; ky < s->kernel_h; ky++) {
		float *dst = band + (size_t)ky * run; // [span][cin]
		int iy = oy - s->pad + ky;
		if (s->reflect) {
			iy = nst_reflect_index(iy, t->h);
		} else if (iy < 0 || iy >= t->h) {
			memset(dst, 0, run * sizeof(float));
			continue;
		}
		const float *src_row = t->in + (size_t)iy * (size_t)t->w * cin; // [w][cin]
		if (inside) {
			memcpy(dst, src_row + (size_t)ix0 * cin, run * sizeof(float));
			continue;
		}
		for (size_t dx = 0; dx < span; dx++) {
			int ix = ix0 + (int)dx;
			if (s->reflect) {
				ix = nst_reflect_index(ix, t->w);
			} else if (ix < 0 || ix >= t->w) {
				memset(dst + dx * cin, 0, cin * sizeof(float));
				continue;
			}
			memcpy(dst + dx * cin, src_row + (size_t)ix * cin, cin * sizeof(float));
		}
	}
}

/* n output pixels of one row into out [n][cout] on the dot kernel, their windows' rows in a: the
 * first pixel's window at a, the next pixel's cin floats on, each kernel row row_stride floats on. */
static void dot_run(const struct conv_task *t, const float *a, size_t row_stride, size_t n, float *out) {
	const struct nst_dot_kernel *d = t->dot;
	const struct nst_conv_shape *s = t->shape;
	const size_t cin = (size_t)s->in_channels, cout = (size_t)s->out_channels, kc = (size_t)s->kernel_w * cin;
	for (size_t i = 0; i < n; i += d->mr) {
		const size_t mr = n - i < d->mr ? n - i : d->mr;
		d->fn(mr, cout, kc, (size_t)s->kernel_h, a + i * cin, cin, row_stride, t->packed, out + i * cout, cout,
		      &t->params);
	}
}

/* The small-N path (stride 1): a block's pixels, one output row's run at a time.  Pixels whose
 * windows lie inside the picture read it in place; the others (padding) from a band built for them. */
static void conv_worker_small(void *context, size_t slot, size_t block) {
	const struct conv_task *t = context;
	const struct nst_engine *e = t->engine;
	const struct nst_conv_shape *s = t->shape;
	const size_t cin = (size_t)s->in_channels, cout = (size_t)s->out_channels;
	const size_t kw = (size_t)s->kernel_w, kh = (size_t)s->kernel_h, ow = (size_t)t->ow, pixels = (size_t)t->oh * ow;
	const size_t pad = (size_t)s->pad, w = (size_t)t->w, row = w * cin;
	/* output columns [lo, hi) read input columns [x - pad, x - pad + kw) inside the picture */
	const size_t lo = pad, hi = w + pad >= kw ? w + pad - kw + 1 : 0;
	float *band = nst_engine_scratch(e, slot); /* [kh][block + kw - 1][cin] */
	const size_t p0 = block * t->block;
	const size_t np = pixels - p0 < t->block ? pixels - p0 : t->block;
	for (size_t p = p0; p < p0 + np;) {
		const size_t oy = p / ow, ox = p % ow;
		const size_t n = ow - ox < p0 + np - p ? ow - ox : p0 + np - p; /* pixels of this row */
		float *out = t->out + p * cout; // [n][cout]
		const bool rows_inside = oy >= pad && oy - pad + kh <= (size_t)t->h;
		/* [ox, a): before the inside columns, [a, b): inside, [b, ox + n): after */
		size_t a = ox + n, b = ox + n;
		if (rows_inside && lo < hi) {
			a = ox > lo ? ox : lo < ox + n ? lo : ox + n;
			b = hi < ox + n ? (hi > a ? hi : a) : ox + n;
		}
		if (a > ox) {
			band_build(t, (int)oy, (int)ox - s->pad, a - ox + kw - 1, band);
			dot_run(t, band, (a - ox + kw - 1) * cin, a - ox, out);
		}
		if (b > a)
			dot_run(t, t->in + (oy - pad) * row + (a - pad) * cin, row, b - a, out + (a - ox) * cout);
		if (ox + n > b) {
			band_build(t, (int)oy, (int)b - s->pad, ox + n - b + kw - 1, band);
			dot_run(t, band, (ox + n - b + kw - 1) * cin, ox + n - b, out + (b - ox) * cout);
		}
		p += n;
	}
	nst_conv_epilogue_run(nst_mask_kernel_for(e->gemm), t->epilogue, p0 * cout, np * cout, t->out + p0 * cout);
}

void nst_conv2d(const struct nst_engine *engine, const struct nst_conv_shape *shape, int h, int w,
                const float *in, const float *packed, float *out, const struct nst_conv_epilogue *epilogue) {
	static const struct nst_conv_epilogue none = {-INFINITY, INFINITY, NULL, NULL, NULL};
	const struct nst_conv_epilogue *ep = epilogue ? epilogue : &none;
	/* in place: a pointwise convolution whose pixels keep their size, on the GEMM kernels */
	assert(in != out || (pointwise(shape) && shape->in_channels == shape->out_channels && !small_n(engine->gemm, shape) &&
	                     !ep->addend));
	struct nst_engine narrow; /* the engine with the GEMM kernel these outputs run on */
	if (kernel_for(engine->gemm, shape) != engine->gemm) {
		narrow = *engine;
		narrow.gemm = kernel_for(engine->gemm, shape);
		engine = &narrow;
	}
	struct conv_task t = {
		.engine = engine,
		.shape = shape,
		.h = h,
		.w = w,
		.oh = nst_conv_out_size(h, shape->kernel_h, shape->stride, shape->pad),
		.ow = nst_conv_out_size(w, shape->kernel_w, shape->stride, shape->pad),
		.in = in,
		.packed = packed,
		.out = out,
		.epilogue = ep,
		.k = nst_conv_patch_floats(shape),
		.params = {ep->min, ep->max},
	};
	nst_task_fn worker = conv_worker;
	if (small_n(engine->gemm, shape)) {
		t.dot = nst_dot_kernel_for(engine->gemm);
		t.block = band_pixels(t.dot, shape);
		assert(band_floats(t.dot, shape) <= engine->scratch_floats);
		worker = conv_worker_small;
	} else {
		t.block = block_pixels(engine->gemm, t.k);
		/* The stacked path's [block + kw - 1][kh][3] fits the im2col block's [block][kw * kh * 3]. */
		assert(t.block * t.k <= engine->scratch_floats);
		if (stacked(engine->gemm, shape))
			worker = conv_worker_stacked;
		if (engine->gemm->q8)
			nst_qu8_input_params(engine->gemm, in, (size_t)h * (size_t)w * (size_t)shape->in_channels, ep->min, ep->max, &t.qparams);
	}
	const size_t pixels = (size_t)t.oh * (size_t)t.ow;
	t.n_blocks = (pixels + t.block - 1) / t.block;
	nst_parallel_for(engine, t.n_blocks, worker, &t);
}
