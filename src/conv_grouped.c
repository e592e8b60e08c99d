/*
 * Grouped convolution, direct (no GEMM): the depthwise and few-channels-per-group layers of the
 * arbitrary-style network (MicroAST: 16 -> 32 in 16 groups, 64 -> 32 in 32 groups, 64 depthwise),
 * where an im2col GEMM would multiply mostly zeros.  Output channel o reads the cin / groups input
 * channels of group o / (cout / groups).
 *
 * Each input row is first expanded so that every output channel finds its own inputs at its own
 * position:
 *     row [pw][cig][cout]:  row[x][j][o] = in[y][x - pad][group(o) * cig + j]
 * (pw = padded width, reflection or zeros at the sides; cig = cin / groups).  Then each kernel tap
 * is one contiguous multiply-add over cout floats per j.  A slot works on a block of consecutive
 * output rows and keeps the last kh expanded rows in a ring, so that each input row is expanded
 * once per block rather than once per kernel row.
 *
 * Upsampling (up 2): the input is read through PyTorch's bilinear x2 interpolation
 * (align_corners=False: output i reads input coordinate max(0, (i + 0.5) / 2 - 0.5), the last row
 * and column repeated), computed inside the expansion, so that no upsampled picture is stored; the
 * padding applies to the upsampled picture, as in F.pad(F.interpolate(x)).
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define BILINEAR_UP 2
#define MAX_KERNEL 16            /* rows in a slot's ring of expanded rows */
#define MAX_ROW_FLOATS 4096      /* cig * cout: the expansion's index table */
#define BLOCKS_PER_SLOT 4        /* output row blocks per slot: the ring's reuse against the balance */
#define MAX_TAPS 256             /* kh * kw * cig */

/* One expanded row: [padded width][cin / groups][cout] floats. */
static size_t row_floats(const struct nst_conv_shape *shape, int groups, int up, int w) {
	const size_t pw = (size_t)w * (size_t)up + 2 * (size_t)shape->pad;
	return pw * (size_t)(shape->in_channels / groups) * (size_t)shape->out_channels;
}

/* Per slot: the ring of kh expanded rows, then one picture pixel [cin]. */
size_t nst_conv_grouped_scratch_floats(const struct nst_conv_shape *shape, int groups, int up, int w) {
	return (size_t)shape->kernel_h * row_floats(shape, groups, up, w) + (size_t)shape->in_channels;
}

/* Where output coordinate i of an x2 bilinear upsampling of n samples reads: i0, i1 and the weight
 * of i1 (PyTorch's area_pixel_compute_source_index with scale 1/2, in float as it computes). */
struct bilinear_tap {
	int i0, i1;
	float l1;
};

static struct bilinear_tap bilinear_tap(int i, int n) {
	const float scale = 1.0f / (float)BILINEAR_UP;
	float src = scale * ((float)i + 0.5f) - 0.5f;
	if (src < 0.0f)
		src = 0.0f;
	struct bilinear_tap t;
	t.i0 = (int)src;
	t.i1 = t.i0 + 1 < n ? t.i0 + 1 : n - 1;
	t.l1 = src - (float)t.i0;
	return t;
}

struct grouped_task {
	const struct nst_engine *engine;
	const struct nst_conv_shape *shape;
	int groups, up;
	int h, w;                /* the input's size (before upsampling) */
	int vh, vw;              /* the picture convolved: h * up, w * up */
	int oh, ow;
	const float *in;         /* [h][w][cin] */
	const float *hwio;       /* [kh][kw][cin / groups][cout] */
	const float *bias;       /* [cout] */
	bool relu;
	float *out;              /* [oh][ow][cout] */
	size_t row_floats;       /* of one expanded row */
	nst_f32_dwconv_ukernel_fn kernel;
	struct nst_f32_minmax_params params;
	int block_rows;          /* output rows per item */
	uint16_t source[MAX_ROW_FLOATS]; /* [cig][cout]: the input channel each expanded value reads */
};

/* The picture's pixel (y, x), of the upsampled one when up is 2: [cin] floats into px. */
static void picture_pixel(const struct grouped_task *t, int y, int x, float *px) {
	const int cin = t->shape->in_channels;
	if (t->up == 1) {
		memcpy(px, t->in + ((size_t)y * (size_t)t->w + (size_t)x) * (size_t)cin, (size_t)cin * sizeof(float));
		return;
	}
	const struct bilinear_tap ty = bilinear_tap(y, t->h), tx = bilinear_tap(x, t->w);
	const float *r0 = t->in + (size_t)ty.i0 * (size_t)t->w * (size_t)cin;
	const float *r1 = t->in + (size_t)ty.i1 * (size_t)t->w * (size_t)cin;
	const float y1 = ty.l1, y0 = 1.0f - y1, x1 = tx.l1, x0 = 1.0f - x1;
	const size_t a = (size_t)tx.i0 * (size_t)cin, b = (size_t)tx.i1 * (size_t)cin;
	for (int c = 0; c < cin; c++)
		px[c] = y0 * (x0 * r0[a + (size_t)c] + x1 * r0[b + (size_t)c]) + y1 * (x0 * r1[a + (size_t)c] + x1 * r1[b + (size_t)c]);
}

/* Expands picture row y (already inside the picture) into row [pw][cig][cout]. */
static void expand_row(const struct grouped_task *t, int y, float *row, float *px) {
	const struct nst_conv_shape *s = t->shape;
	const size_t n = (size_t)(s->in_channels / t->groups) * (size_t)s->out_channels;
	const int pw = t->vw + 2 * s->pad;
	for (int xp = 0; xp < pw; xp++) {
		float *dst = row + (size_t)xp * n;
		int x = xp - s->pad;
		if (x < 0 || x >= t->vw) {
			if (!s->reflect) {
				memset(dst, 0, n * sizeof(float));
				continue;
			}
			x = nst_reflect_index(x, t->vw);
		}
		picture_pixel(t, y, x, px);
		for (size_t i = 0; i < n; i++)
			dst[i] = px[t->source[i]];
	}
}

/* One output row: out [ow][cout] from the kh expanded rows it reads (rows [ky], NULL where zero
 * padding), as one tap list: tap (ky, kx, j) reads rows[ky] + (kx * cig + j) * cout, one output
 * pixel stride * cig * cout further on per pixel. */
static void output_row(const struct grouped_task *t, float *const *rows, float *out) {
	const struct nst_conv_shape *s = t->shape;
	const size_t cout = (size_t)s->out_channels, cig = (size_t)(s->in_channels / t->groups), n = cig * cout;
	const float *inputs[MAX_TAPS], *weights[MAX_TAPS];
	size_t taps = 0;
	for (int ky = 0; ky < s->kernel_h; ky++) {
		if (!rows[ky])
			continue;
		for (int kx = 0; kx < s->kernel_w; kx++)
			for (size_t j = 0; j < cig; j++) {
				const size_t at = (size_t)kx * n + j * cout;
				inputs[taps] = rows[ky] + at;
				weights[taps++] = t->hwio + ((size_t)ky * (size_t)s->kernel_w) * n + at; // [kh][kw][cig][cout]
			}
	}
	t->kernel((size_t)t->ow, cout, taps, inputs, (size_t)s->stride * n, weights, t->bias, out, &t->params);
}

/* A block of output rows (item); the slot's ring holds the expanded rows by picture row. */
static void grouped_block(void *context, size_t slot, size_t item) {
	const struct grouped_task *t = context;
	const struct nst_conv_shape *s = t->shape;
	float *ring = nst_engine_scratch(t->engine, slot);                 // [kh][row_floats]
	float *px = ring + (size_t)s->kernel_h * t->row_floats;            // [cin]
	int tag[MAX_KERNEL];                                               // the picture row each ring row holds
	for (int k = 0; k < s->kernel_h; k++)
		tag[k] = -1;
	const int oy0 = (int)item * t->block_rows;
	const int oy1 = oy0 + t->block_rows < t->oh ? oy0 + t->block_rows : t->oh;
	for (int oy = oy0; oy < oy1; oy++) {
		float *rows[MAX_KERNEL];
		for (int ky = 0; ky < s->kernel_h; ky++) {
			const int v = oy * s->stride - s->pad + ky; /* the padded picture's row */
			int y = v;
			if (y < 0 || y >= t->vh) {
				if (!s->reflect) {
					rows[ky] = NULL;
					continue;
				}
				y = nst_reflect_index(y, t->vh);
			}
			/* kh consecutive padded rows never share a ring row */
			const int k = ((v % s->kernel_h) + s->kernel_h) % s->kernel_h;
			rows[ky] = ring + (size_t)k * t->row_floats;
			if (tag[k] != y) {
				expand_row(t, y, rows[ky], px);
				tag[k] = y;
			}
		}
		output_row(t, rows, t->out + (size_t)oy * (size_t)t->ow * (size_t)s->out_channels);
	}
}

void nst_conv2d_grouped(const struct nst_engine *engine, const struct nst_conv_shape *shape, int groups, int up,
                        int h, int w, const float *in, const float *hwio, const float *bias, bool relu, float *out) {
	assert(groups >= 1 && shape->in_channels % groups == 0 && shape->out_channels % groups == 0);
	assert(up == 1 || up == BILINEAR_UP);
	assert(engine->scratch_floats >= nst_conv_grouped_scratch_floats(shape, groups, up, w));
	struct grouped_task t = {
		.engine = engine, .shape = shape, .groups = groups, .up = up, .h = h, .w = w, .vh = h * up, .vw = w * up,
		.in = in, .hwio = hwio, .bias = bias, .relu = relu, .out = out,
	};
	t.oh = nst_conv_out_size(t.vh, shape->kernel_h, shape->stride, shape->pad);
	t.ow = nst_conv_out_size(t.vw, shape->kernel_w, shape->stride, shape->pad);
	const size_t cig = (size_t)(shape->in_channels / groups), cout = (size_t)shape->out_channels;
	const size_t cog = cout / (size_t)groups;
	assert(cig * cout <= MAX_ROW_FLOATS && shape->kernel_h <= MAX_KERNEL &&
	       (size_t)shape->kernel_h * (size_t)shape->kernel_w * cig <= MAX_TAPS);
	t.kernel = nst_dwconv_kernel_for(engine->gemm)->fn;
	t.params = (struct nst_f32_minmax_params){relu ? 0.0f : -INFINITY, INFINITY};
	for (size_t j = 0; j < cig; j++)
		for (size_t o = 0; o < cout; o++)
			t.source[j * cout + o] = (uint16_t)((o / cog) * cig + j);
	t.row_floats = row_floats(shape, groups, up, w);
	const size_t slots = nst_parallel_slots(engine, (size_t)t.oh);
	const size_t blocks = slots * BLOCKS_PER_SLOT < (size_t)t.oh ? slots * BLOCKS_PER_SLOT : (size_t)t.oh;
	t.block_rows = (int)(((size_t)t.oh + blocks - 1) / blocks);
	nst_parallel_for(engine, ((size_t)t.oh + (size_t)t.block_rows - 1) / (size_t)t.block_rows, grouped_block, &t);
}
