/*
 * Convolution with an optional 2x nearest upsample of its input done inside the im2col block (the
 * blocks of src/conv_im2col.c: patch rows a block at a time, one NR panel at a time): the
 * upsampled picture is never built.  The feed-forward networks' first layer (up 1: a 3-channel
 * picture, one contiguous run per kernel row) runs here too.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define UP 2 /* the upsampling factor */

/* Output pixels per im2col block: a multiple of MR (no masks here: see src/conv_im2col.c's). */
static size_t block_pixels(const struct nst_gemm_kernel *gemm, size_t k) {
	return nst_im2col_block_pixels(k, gemm->mr);
}

size_t nst_conv_up_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return nst_gemm_kernel_packed_floats(gemm, nst_conv_patch_floats(shape), (size_t)shape->out_channels);
}

void nst_conv_up_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                      const float *bias, float *packed) {
	const size_t cout = (size_t)shape->out_channels;
	nst_gemm_kernel_pack(gemm, nst_conv_patch_floats(shape), cout, hwio, cout, bias, packed); /* HWIO: [kh*kw*cin][cout] */
}

size_t nst_conv_up_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	const size_t k = nst_conv_patch_floats(shape);
	return block_pixels(gemm, k) * k;
}

struct up_task {
	const struct nst_engine *engine;
	const struct nst_conv_shape *shape;
	int up;              /* 1 or 2 */
	int h, w;            /* the input */
	int uh, uw;          /* the (virtually) upsampled input: up*h x up*w */
	int oh, ow;          /* the output */
	const float *in;     /* [h][w][cin] */
	const float *packed;
	float *out;          /* [oh][ow][cout] */
	size_t k, block, n_blocks; /* patch floats; output pixels per block, blocks */
	struct nst_f32_minmax_params params;
	struct nst_qu8_gemm_params qparams; /* int8 kernels: the input's quantization */
};

/* Rows [p0, p0 + np) of the patch matrix of the upsampled input into a ([np][k]). */
static void up_im2col(const struct up_task *t, size_t p0, size_t np, float *a) {
	const struct nst_conv_shape *s = t->shape;
	const size_t cin = (size_t)s->in_channels, row_run = (size_t)s->kernel_w * cin;
	const int up = t->up;
	for (size_t i = 0; i < np; i++) {
		const size_t p = p0 + i;
		const int oy = (int)(p / (size_t)t->ow), ox = (int)(p % (size_t)t->ow);
		const int ux0 = ox * s->stride - s->pad;
		const bool inside = ux0 >= 0 && ux0 + s->kernel_w <= t->uw;
		float *row = a + i * t->k; // [kh][kw][cin]
		for (int ky = 0; ky < s->kernel_h; ky++) {
			float *dst = row + (size_t)ky * row_run; // [kw][cin]
			int uy = oy * s->stride - s->pad + ky;
			if (s->reflect) {
				uy = nst_reflect_index(uy, t->uh);
			} else if (uy < 0 || uy >= t->uh) {
				memset(dst, 0, row_run * sizeof(float));
				continue;
			}
			const float *src_row = t->in + (size_t)(uy / up) * (size_t)t->w * cin; // [w][cin]
			if (up == 1 && inside) { /* the common case: one contiguous run */
				memcpy(dst, src_row + (size_t)ux0 * cin, row_run * sizeof(float));
				continue;
			}
			for (int kx = 0; kx < s->kernel_w; kx++) {
				int ux = ux0 + kx;
				if (s->reflect) {
					ux = nst_reflect_index(ux, t->uw);
				} else if (ux < 0 || ux >= t->uw) {
					memset(dst + (size_t)kx * cin, 0, cin * sizeof(float));
					continue;
				}
				memcpy(dst + (size_t)kx * cin, src_row + (size_t)(ux / up) * cin, cin * sizeof(float));
			}
		}
	}
}

static void up_worker(void *context, size_t slot, size_t block) {
	const struct up_task *t = context;
	const size_t cout = (size_t)t->shape->out_channels, pixels = (size_t)t->oh * (size_t)t->ow;
	float *a = nst_engine_scratch(t->engine, slot); // [block][k]
	const size_t p0 = block * t->block;
	const size_t np = pixels - p0 < t->block ? pixels - p0 : t->block;
	up_im2col(t, p0, np, a);
	if (t->engine->gemm->q8)
		nst_im2col_gemm_q8(t->engine->gemm, np, t->k, a, t->k, t->packed, t->out + p0 * cout, cout, &t->qparams);
	else
		nst_im2col_gemm(t->engine->gemm, np, t->k, a, t->k, t->packed, t->out + p0 * cout, cout, &t->params); // [np][cout]
}

void nst_conv2d_up(const struct nst_engine *engine, const struct nst_conv_shape *shape, int up, int h, int w,
                   const float *in, const float *packed, float *out) {
	assert(up == 1 || (up == UP && shape->stride == 1));
	struct up_task t = {
		.engine = engine,
		.shape = shape,
		.up = up,
		.h = h,
		.w = w,
		.uh = up * h,
		.uw = up * w,
		.oh = nst_conv_out_size(up * h, shape->kernel_h, shape->stride, shape->pad),
		.ow = nst_conv_out_size(up * w, shape->kernel_w, shape->stride, shape->pad),
		.in = in,
		.packed = packed,
		.out = out,
		.k = nst_conv_patch_floats(shape),
		.params = {-INFINITY, INFINITY},
	};
	t.block = block_pixels(engine->gemm, t.k);
	assert(t.block * t.k <= engine->scratch_floats);
	t.n_blocks = ((size_t)t.oh * (size_t)t.ow + t.block - 1) / t.block;
	if (engine->gemm->q8)
		nst_qu8_input_params(engine->gemm, in, (size_t)h * (size_t)w * (size_t)shape->in_channels, -INFINITY, INFINITY, &t.qparams);
	nst_parallel_for(engine, t.n_blocks, up_worker, &t);
}
