/*
 * Grouped convolution, direct (no GEMM): the depthwise and few-channels-per-group layers of the
 * arbitrary-style network (MicroAST: 16 -> 32 in 16 groups, 64 -> 32 in 32 groups, 64 depthwise),
 * where an im2col GEMM would multiply mostly zeros.  Output channel o reads the cig = cin / groups
 * input channels of group o / cog (cog = cout / groups); cig or cog is 1 and neither above 2, the
 * tap-list kernel's contract (arch/kernels.h): its lanes are the input channels, each repeated
 * cog times, and an output sums cig lanes, so the kernel reads the picture's rows as they are.
 *
 * A slot works on a block of consecutive output rows and keeps the last kh padded picture rows in
 * a ring [kh][pw][cin] (pw = padded width; reflection or zeros at the sides), so that each picture
 * row is prepared once per block.  Tap (ky, kx) reads ring row ky from pixel kx on, one output
 * pixel stride * cin floats further on per pixel.
 *
 * Upsampling (up 2): the picture convolved is PyTorch's bilinear x2 interpolation of the input
 * (align_corners=False: output i reads input coordinate max(0, (i + 0.5) / 2 - 0.5), the last row
 * and column repeated), computed row by row into the ring (the two input rows blended vertically,
 * then each padded pixel horizontally), so that no upsampled picture is stored; the padding
 * applies to the upsampled picture, as in F.pad(F.interpolate(x)).
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define BILINEAR_UP 2
#define MAX_KERNEL 16            /* rows in a slot's ring */
#define MAX_PER_GROUP 2          /* channels per group on the side that has several */
#define MAX_TAPS (MAX_KERNEL * MAX_KERNEL)

bool nst_conv_grouped_applies(const struct nst_conv_shape *shape, int groups) {
	if (groups < 1 || shape->in_channels % groups || shape->out_channels % groups || shape->kernel_h > MAX_KERNEL ||
	    shape->kernel_w > MAX_KERNEL)
		return false;
	const int cig = shape->in_channels / groups, cog = shape->out_channels / groups;
	return (cig == 1 || cog == 1) && cig <= MAX_PER_GROUP && cog <= MAX_PER_GROUP;
}

/* One padded picture row: [pw][cin]. */
static size_t row_floats(const struct nst_conv_shape *shape, int up, int w) {
	return ((size_t)w * (size_t)up + 2 * (size_t)shape->pad) * (size_t)shape->in_channels;
}

/* Per slot: the ring of kh rows, then (up 2) the two input rows blended, [w][cin]. */
size_t nst_conv_grouped_scratch_floats(const struct nst_conv_shape *shape, int groups, int up, int w) {
	const size_t blend = up == BILINEAR_UP ? (size_t)w * (size_t)shape->in_channels : 0;
	return (size_t)shape->kernel_h * row_floats(shape, up, w) + blend;
}

static size_t lanes_of(const struct nst_conv_shape *shape, int groups) {
	return (size_t)shape->in_channels * (size_t)(shape->out_channels / groups);
}

size_t nst_conv_grouped_packed_floats(const struct nst_conv_shape *shape, int groups) {
	return (size_t)shape->kernel_h * (size_t)shape->kernel_w * lanes_of(shape, groups) + (size_t)shape->out_channels;
}

void nst_conv_grouped_pack(const struct nst_conv_shape *shape, int groups, const float *hwio, const float *bias,
                           float *packed) {
	assert(nst_conv_grouped_applies(shape, groups));
	const size_t cig = (size_t)(shape->in_channels / groups), cog = (size_t)(shape->out_channels / groups);
	const size_t cout = (size_t)shape->out_channels, lanes = lanes_of(shape, groups);
	const size_t taps = (size_t)shape->kernel_h * (size_t)shape->kernel_w;
	for (size_t t = 0; t < taps; t++)
		for (size_t l = 0; l < lanes; l++) { /* lane l: input channel i = l / cog = g * cig + j, output g * cog + k */
			const size_t i = l / cog, k = l % cog, g = i / cig, j = i % cig;
			packed[t * lanes + l] = hwio[(t * cig + j) * cout + g * cog + k]; // [kh][kw][cig][cout]
		}
	memcpy(packed + taps * lanes, bias, cout * sizeof(float));
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
	int up;
	int h, w;                /* the input's size (before upsampling) */
	int vh, vw;              /* the picture convolved: h * up, w * up */
	int oh, ow;
	size_t cig, cog, lanes;
	const float *in;         /* [h][w][cin] */
	const float *weights;    /* [kh * kw][lanes] */
	const float *bias;       /* [cout] */
	float *out;              /* [oh][ow][cout] */
	size_t row_floats;       /* of one padded row */
	nst_f32_dwconv_ukernel_fn kernel;
	struct nst_f32_minmax_params params;
	int block_rows;          /* output rows per item */
};

/* Picture row y (inside the picture) into row [pw][cin], padded at the sides; blended [w][cin] is
 * the slot's room for the vertically blended input row when up is 2. */
static void prepare_row(const struct grouped_task *t, int y, float *row, float *blended) {
	const struct nst_conv_shape *s = t->shape;
	const size_t cin = (size_t)s->in_channels, pad = (size_t)s->pad;
	const float *src = t->in + (size_t)y * (size_t)t->w * cin; // [w][cin]
	if (t->up == BILINEAR_UP) {
		const struct bilinear_tap ty = bilinear_tap(y, t->h);
		const float *r0 = t->in + (size_t)ty.i0 * (size_t)t->w * cin, *r1 = t->in + (size_t)ty.i1 * (size_t)t->w * cin;
		nst_floats_blend((size_t)t->w * cin, 1.0f - ty.l1, r0, ty.l1, r1, blended);
		src = blended;
		for (int x = 0; x < t->vw; x++) {
			const struct bilinear_tap tx = bilinear_tap(x, t->w);
			nst_floats_blend(cin, 1.0f - tx.l1, src + (size_t)tx.i0 * cin, tx.l1, src + (size_t)tx.i1 * cin,
			                 row + (pad + (size_t)x) * cin);
		}
	} else {
		memcpy(row + pad * cin, src, (size_t)t->vw * cin * sizeof(float));
	}
	/* the sides: mirrors of the pixels just written, or zeros */
	for (int k = 0; k < s->pad; k++)
		for (int side = 0; side < 2; side++) {
			const int x = side ? t->vw + k : k - s->pad; /* the picture's column, outside it */
			float *dst = row + (size_t)(x + s->pad) * cin;
			if (!s->reflect)
				memset(dst, 0, cin * sizeof(float));
			else
				memcpy(dst, row + (pad + (size_t)nst_reflect_index(x, t->vw)) * cin, cin * sizeof(float));
		}
}

/* One output row: out [ow][cout] from the kh ring rows it reads (rows [ky], NULL where zero
 * padding), as one tap list. */
static void output_row(const struct grouped_task *t, float *const *rows, float *out) {
	const struct nst_conv_shape *s = t->shape;
	const size_t cin = (size_t)s->in_channels;
	const float *inputs[MAX_TAPS], *weights[MAX_TAPS];
	size_t taps = 0;
	for (int ky = 0; ky < s->kernel_h; ky++) {
		if (!rows[ky])
			continue;
		for (int kx = 0; kx < s->kernel_w; kx++) {
			inputs[taps] = rows[ky] + (size_t)kx * cin;
			weights[taps++] = t->weights + ((size_t)ky * (size_t)s->kernel_w + (size_t)kx) * t->lanes;
		}
	}
	t->kernel((size_t)t->ow, (size_t)s->out_channels, t->cig, t->cog, taps, inputs, (size_t)s->stride * cin, weights,
	          t->bias, out, &t->params);
}

/* A block of output rows (item); the slot's ring holds the prepared rows by picture row. */
static void grouped_block(void *context, size_t slot, size_t item) {
	const struct grouped_task *t = context;
	const struct nst_conv_shape *s = t->shape;
	float *ring = nst_engine_scratch(t->engine, slot);                 // [kh][pw][cin]
	float *blended = ring + (size_t)s->kernel_h * t->row_floats;       // [w][cin] (up 2)
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
				prepare_row(t, y, rows[ky], blended);
				tag[k] = y;
			}
		}
		output_row(t, rows, t->out + (size_t)oy * (size_t)t->ow * (size_t)s->out_channels);
	}
}

void nst_conv2d_grouped(const struct nst_engine *engine, const struct nst_conv_shape *shape, int groups, int up,
                        int h, int w, const float *in, const float *packed, bool relu, float *out) {
	assert(nst_conv_grouped_applies(shape, groups));
	assert(up == 1 || up == BILINEAR_UP);
	assert(engine->scratch_floats >= nst_conv_grouped_scratch_floats(shape, groups, up, w));
	const size_t lanes = lanes_of(shape, groups);
	struct grouped_task t = {
		.engine = engine, .shape = shape, .up = up, .h = h, .w = w, .vh = h * up, .vw = w * up,
		.cig = (size_t)(shape->in_channels / groups), .cog = (size_t)(shape->out_channels / groups), .lanes = lanes,
		.in = in, .weights = packed,
		.bias = packed + (size_t)shape->kernel_h * (size_t)shape->kernel_w * lanes, .out = out,
	};
	t.oh = nst_conv_out_size(t.vh, shape->kernel_h, shape->stride, shape->pad);
	t.ow = nst_conv_out_size(t.vw, shape->kernel_w, shape->stride, shape->pad);
	/* the engine's member, or its twin for outputs it does not take */
	const struct nst_dwconv_kernel *k = nst_dwconv_kernel_for(engine->gemm);
	if ((size_t)shape->out_channels % k->outputs_multiple)
		k = &nst_kernels_of(engine->gemm)->twin->dwconv;
	t.kernel = k->fn;
	t.params = (struct nst_f32_minmax_params){relu ? 0.0f : -INFINITY, INFINITY};
	t.row_floats = row_floats(shape, up, w);
	/* blocks of output rows: each restarts the ring (its first kh - 1 rows prepared twice) */
	const size_t blocks = nst_parallel_items(engine, (size_t)t.oh);
	t.block_rows = (int)(((size_t)t.oh + blocks - 1) / blocks);
	nst_parallel_for(engine, ((size_t)t.oh + (size_t)t.block_rows - 1) / (size_t)t.block_rows, grouped_block, &t);
}
