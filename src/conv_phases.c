/*
 * Nearest 2x upsample + 3x3 convolution (pad 1), by phases: the output pixel (2y + py, 2x + px)
 * sees only 2x2 distinct input pixels, so each of the four phases is a 2x2 convolution of the
 * input with the 3x3 kernel's taps summed per input pixel (rows {0}, {1, 2} for py = 0 and
 * {0, 1}, {2} for py = 1; likewise the columns).  Reflection padding of the upsampled picture is
 * replication of the input's edge (-1 -> 1 -> 0, 2h -> 2h - 2 -> h - 1), zero padding stays zero.
 * 16 multiplies per 4 outputs and input channel instead of 36, and no upsampled picture.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define PHASE_KERNEL 3 /* the 3x3 kernel the phases split */
#define PHASES 4     /* (py, px) */
#define PHASE_TAPS 2 /* a phase's kernel is 2x2 */

bool nst_conv_phases_apply(const struct nst_conv_shape *shape) {
	return shape->kernel_h == PHASE_KERNEL && shape->kernel_w == PHASE_KERNEL && shape->stride == 1 && shape->pad == 1;
}

static size_t phase_k(const struct nst_conv_shape *shape) {
	return PHASE_TAPS * PHASE_TAPS * (size_t)shape->in_channels;
}

size_t nst_conv_phases_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return PHASES * nst_gemm_kernel_packed_floats(gemm, phase_k(shape), (size_t)shape->out_channels);
}

size_t nst_conv_phases_staging_floats(const struct nst_conv_shape *shape) {
	return phase_k(shape) * (size_t)shape->out_channels;
}

size_t nst_conv_phases_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	const size_t k = phase_k(shape);
	return nst_im2col_block_pixels(k, gemm->mr) * k;
}

/* Whether kernel tap t (0..2) lands on the phase's input pixel a (0, 1) for phase p. */
static bool phase_tap(int p, int a, int t) {
	/* p = 0: taps {0} on the pixel before, {1, 2} on the pixel itself; p = 1: {0, 1} on the pixel
	 * itself, {2} on the one after. */
	return p == 0 ? (a == 0 ? t == 0 : t >= 1) : (a == 0 ? t <= 1 : t == 2);
}

void nst_conv_phases_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                          const float *bias, float *staging, float *packed) {
	const size_t cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels, k = phase_k(shape);
	const size_t per_phase = nst_gemm_kernel_packed_floats(gemm, k, cout);
	for (int phase = 0; phase < PHASES; phase++) {
		const int py = phase / 2, px = phase % 2;
		float *w = staging; // [2][2][cin][cout]
		memset(w, 0, k * cout * sizeof(float));
		for (int a = 0; a < PHASE_TAPS; a++)
			for (int b = 0; b < PHASE_TAPS; b++)
				for (int ky = 0; ky < PHASE_KERNEL; ky++)
					for (int kx = 0; kx < PHASE_KERNEL; kx++) {
						if (!phase_tap(py, a, ky) || !phase_tap(px, b, kx))
							continue;
						const float *src = hwio + (size_t)(ky * PHASE_KERNEL + kx) * cin * cout;
						float *dst = w + (size_t)(a * PHASE_TAPS + b) * cin * cout;
						for (size_t i = 0; i < cin * cout; i++)
							dst[i] += src[i];
					}
		nst_gemm_kernel_pack(gemm, k, cout, w, cout, bias, packed + (size_t)phase * per_phase);
	}
}

struct phases_task {
	const struct nst_engine *engine;
	const struct nst_conv_shape *shape;
	int h, w;            /* the input; the output is 2h x 2w */
	const float *in;     /* [h][w][cin] */
	const float *packed; /* [4] phases */
	float *out;          /* [2h][2w][cout] */
	size_t k, per_phase;  /* patch floats (2 * 2 * cin); floats of one phase's packed weights */
	size_t block, n_blocks; /* input pixels per block, blocks */
	struct nst_f32_minmax_params params;
	struct nst_qu8_gemm_params qparams; /* int8 kernels: the input's quantization */
};

/* The input row or column i of a phase's window: the edge replicated (reflection of the
 * upsampled picture) or -1 for zero padding. */
static int phase_index(int i, int n, bool reflect) {
	if (i >= 0 && i < n)
		return i;
	if (!reflect)
		return -1;
	return i < 0 ? 0 : n - 1;
}

/* Patch rows of input pixels [p0, p0 + np) for phase (py, px) into a ([np][2][2][cin]). */
static void phases_im2col(const struct phases_task *t, int py, int px, size_t p0, size_t np, float *a) {
	const size_t cin = (size_t)t->shape->in_channels, run = PHASE_TAPS * cin;
	const bool reflect = t->shape->reflect;
	for (size_t i = 0; i < np; i++) {
		const size_t p = p0 + i;
		const int y = (int)(p / (size_t)t->w), x = (int)(p % (size_t)t->w);
		const int x0 = x - 1 + px;
		float *row = a + i * t->k; // [2][2][cin]
		for (int ay = 0; ay < PHASE_TAPS; ay++) {
			float *dst = row + (size_t)ay * run;
			const int iy = phase_index(y - 1 + py + ay, t->h, reflect);
			if (iy < 0) {
				memset(dst, 0, run * sizeof(float));
				continue;
			}
			const float *src = t->in + (size_t)iy * (size_t)t->w * cin; // [w][cin]
			if (x0 >= 0 && x0 + PHASE_TAPS <= t->w) {
				memcpy(dst, src + (size_t)x0 * cin, run * sizeof(float));
				continue;
			}
			for (int b = 0; b < PHASE_TAPS; b++) {
				const int ix = phase_index(x0 + b, t->w, reflect);
				if (ix < 0)
					memset(dst + (size_t)b * cin, 0, cin * sizeof(float));
				else
					memcpy(dst + (size_t)b * cin, src + (size_t)ix * cin, cin * sizeof(float));
			}
		}
	}
}

static void phases_worker(void *context, size_t slot, size_t block) {
	const struct phases_task *t = context;
	const struct nst_engine *e = t->engine;
	const struct nst_gemm_kernel *g = e->gemm;
	const size_t cout = (size_t)t->shape->out_channels, pixels = (size_t)t->h * (size_t)t->w;
	const size_t ow = 2 * (size_t)t->w;
	float *a = nst_engine_scratch(e, slot); // [block][k]
	const size_t p0 = block * t->block, np = pixels - p0 < t->block ? pixels - p0 : t->block;
	for (int phase = 0; phase < PHASES; phase++) {
		const int py = phase / 2, px = phase % 2;
		phases_im2col(t, py, px, p0, np, a);
		const float *w = t->packed + (size_t)phase * t->per_phase;
		const size_t kq = nst_qu8_k(t->k);
		/* int8: the rows quantized in place, [np][kq] bytes */
		const uint8_t *a8 = g->q8 ? nst_qu8_quantize_rows(g->quantize, np, t->k, a, t->k, &t->qparams) : NULL;
		/* Consecutive input pixels of one row give outputs 2 pixels apart: blocks of MR rows
		 * stop at the end of an input row. */
		for (size_t i = 0; i < np;) {
			const size_t p = p0 + i, y = p / (size_t)t->w, x = p % (size_t)t->w;
			size_t mr = np - i < g->mr ? np - i : g->mr;
			if (mr > (size_t)t->w - x)
				mr = (size_t)t->w - x;
			float *c = t->out + ((2 * y + (size_t)py) * ow + 2 * x + (size_t)px) * cout;
			if (a8)
				g->qfn(mr, cout, kq, a8 + i * kq, kq, w, c, 2 * cout, &t->qparams);
			else
				g->fn(mr, cout, t->k, a + i * t->k, t->k, w, c, 2 * cout, &t->params);
			i += mr;
		}
	}
}

void nst_conv2d_phases(const struct nst_engine *engine, const struct nst_conv_shape *shape, int h, int w,
                       const float *in, const float *packed, float *out) {
	assert(nst_conv_phases_apply(shape));
	const struct nst_gemm_kernel *g = engine->gemm;
	struct phases_task t = {
		.engine = engine,
		.shape = shape,
		.h = h,
		.w = w,
		.in = in,
		.packed = packed,
		.out = out,
		.k = phase_k(shape),
		.per_phase = nst_gemm_kernel_packed_floats(g, phase_k(shape), (size_t)shape->out_channels),
		.params = {-INFINITY, INFINITY},
	};
	t.block = nst_im2col_block_pixels(t.k, g->mr);
	assert(t.block * t.k <= engine->scratch_floats);
	t.n_blocks = ((size_t)h * (size_t)w + t.block - 1) / t.block;
	if (g->q8)
		nst_qu8_input_params(engine->gemm, in, (size_t)h * (size_t)w * (size_t)shape->in_channels, -INFINITY, INFINITY, &t.qparams);
	nst_parallel_for(engine, t.n_blocks, phases_worker, &t);
}
