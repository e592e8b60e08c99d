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
 * and column repeated); the padding applies to the upsampled picture, as in F.pad(F.interpolate(x)).
 * Shapes other than the phases' below compute it row by row into the ring (the two input rows
 * blended vertically, then each padded pixel horizontally), so that no upsampled picture is stored.
 *
 * Phases (up 2, 3 x 3, stride 1, reflection padding 1: the decoder's layers).  The interpolation is
 * linear: upsampled row 2m is 1/4 of input row m - 1 and 3/4 of row m, row 2m + 1 3/4 of row m and
 * 1/4 of row m + 1 (rows clamped to the picture), and the reflected rows -1 and 2h are rows 1 and
 * 2h - 2.  So output row Y reads input rows i - 1, i, i + 1 (i = Y / 2) through a 3 x 3 mix that
 * depends only on its case: the first row, an even one, an odd one, the last row (PHASE_MIX); the
 * columns likewise.  Each of the 4 x 4 cases' kernels (the 3 x 3 kernel mixed both ways, in double
 * and rounded once: nst_conv_grouped_pack) is a 3 x 3 convolution of the input itself: a row of
 * outputs is four kernel calls (the first pixel, the even ones, the odd ones, the last), the even
 * and odd runs writing every other pixel.  No upsampled row is made (its blends cost as much as the
 * convolution), each input row is copied once per block into a ring [3][w + 2][cin] with its
 * edge pixels repeated, and the kernel's taps are its rows of three pixels one pixel apart (the
 * members' sliding path).  The same sums as the interpolation, up to rounding.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define BILINEAR_UP 2
#define MAX_KERNEL 16            /* rows in a slot's ring */
#define MAX_PER_GROUP 2          /* channels per group on the side that has several */
#define MAX_TAPS (MAX_KERNEL * MAX_KERNEL)
#define PHASE_SIDE 3             /* the phase path's kernel side, and the input rows and columns it reads */
#define PHASE_TAPS (PHASE_SIDE * PHASE_SIDE)

/* An output row's (or column's) case, and its kernel rows' mix of input rows i - 1, i, i + 1. */
enum { PHASE_FIRST, PHASE_EVEN, PHASE_ODD, PHASE_LAST, PHASE_CASES };
static const double PHASE_MIX[PHASE_CASES][PHASE_SIDE][PHASE_SIDE] = {
	{{0, 0.75, 0.25}, {0.25, 0.75, 0}, {0, 0.75, 0.25}},    /* Y = 0: upsampled rows 1 (row -1 reflected), 0, 1 */
	{{0.75, 0.25, 0}, {0.25, 0.75, 0}, {0, 0.75, 0.25}},    /* Y = 2i: 2i - 1, 2i, 2i + 1 */
	{{0.25, 0.75, 0}, {0, 0.75, 0.25}, {0, 0.25, 0.75}},    /* Y = 2i + 1: 2i, 2i + 1, 2i + 2 */
	{{0.25, 0.75, 0}, {0, 0.75, 0.25}, {0.25, 0.75, 0}},    /* Y = 2h - 1: 2h - 2, 2h - 1, 2h - 2 (2h reflected) */
};

static int phase_of(int y, int n) { return y == 0 ? PHASE_FIRST : y == n - 1 ? PHASE_LAST : y % 2 ? PHASE_ODD : PHASE_EVEN; }

/* Whether the shape runs on phases when upsampled by up. */
static bool phases(const struct nst_conv_shape *shape, int up) {
	return up == BILINEAR_UP && shape->kernel_h == PHASE_SIDE && shape->kernel_w == PHASE_SIDE && shape->stride == 1 &&
	       shape->pad == PHASE_SIDE / 2 && shape->reflect;
}

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

/* One ring row of the phase path: [w + 2][cin], the edge pixels repeated. */
static size_t phase_row_floats(const struct nst_conv_shape *shape, int w) {
	return ((size_t)w + 2) * (size_t)shape->in_channels;
}

/* Per slot: the ring of kh rows, then (up 2) the two input rows blended, [w][cin]; on phases the
 * ring of 3 input rows; then, with a pointwise convolution after it, one output row [ow][cout]. */
static size_t ring_floats(const struct nst_conv_shape *shape, int up, int w) {
	if (phases(shape, up))
		return PHASE_SIDE * phase_row_floats(shape, w);
	const size_t blend = up == BILINEAR_UP ? (size_t)w * (size_t)shape->in_channels : 0;
	return (size_t)shape->kernel_h * row_floats(shape, up, w) + blend;
}

size_t nst_conv_grouped_scratch_floats(const struct nst_conv_shape *shape, int groups, int up, int w, bool then) {
	(void)groups;
	const size_t ow = (size_t)nst_conv_out_size(w * up, shape->kernel_w, shape->stride, shape->pad);
	return ring_floats(shape, up, w) + (then ? ow * (size_t)shape->out_channels : 0);
}

static size_t lanes_of(const struct nst_conv_shape *shape, int groups) {
	return (size_t)shape->in_channels * (size_t)(shape->out_channels / groups);
}

static size_t taps_of(const struct nst_conv_shape *shape) {
	return (size_t)shape->kernel_h * (size_t)shape->kernel_w;
}

/* Packed: [taps][lanes], the bias [cout], then on phases the cases' kernels
 * [PHASE_CASES (rows)][PHASE_CASES (columns)][PHASE_TAPS][lanes]. */
size_t nst_conv_grouped_packed_floats(const struct nst_conv_shape *shape, int groups, int up) {
	const size_t lanes = lanes_of(shape, groups);
	const size_t cases = phases(shape, up) ? PHASE_CASES * PHASE_CASES * PHASE_TAPS * lanes : 0;
	return taps_of(shape) * lanes + (size_t)shape->out_channels + cases;
}

void nst_conv_grouped_pack(const struct nst_conv_shape *shape, int groups, int up, const float *hwio,
                           const float *bias, float *packed) {
	assert(nst_conv_grouped_applies(shape, groups));
	const size_t cig = (size_t)(shape->in_channels / groups), cog = (size_t)(shape->out_channels / groups);
	const size_t cout = (size_t)shape->out_channels, lanes = lanes_of(shape, groups), taps = taps_of(shape);
	for (size_t t = 0; t < taps; t++)
		for (size_t l = 0; l < lanes; l++) { /* lane l: input channel i = l / cog = g * cig + j, output g * cog + k */
			const size_t i = l / cog, k = l % cog, g = i / cig, j = i % cig;
			packed[t * lanes + l] = hwio[(t * cig + j) * cout + g * cog + k]; // [kh][kw][cig][cout]
		}
	memcpy(packed + taps * lanes, bias, cout * sizeof(float));
	if (!phases(shape, up))
		return;
	float *cases = packed + taps * lanes + cout; // [row case][column case][PHASE_TAPS][lanes]
	for (size_t cy = 0; cy < PHASE_CASES; cy++)
		for (size_t cx = 0; cx < PHASE_CASES; cx++)
			for (size_t r = 0; r < PHASE_SIDE; r++)
				for (size_t c = 0; c < PHASE_SIDE; c++) {
					float *dst = cases + ((cy * PHASE_CASES + cx) * PHASE_TAPS + r * PHASE_SIDE + c) * lanes;
					for (size_t l = 0; l < lanes; l++) {
						double sum = 0.0; /* over the kernel's taps (ky, kx): how much of input (r, c) each reads */
						for (size_t ky = 0; ky < PHASE_SIDE; ky++)
							for (size_t kx = 0; kx < PHASE_SIDE; kx++)
								sum += PHASE_MIX[cy][ky][r] * PHASE_MIX[cx][kx][c] *
								       (double)packed[(ky * PHASE_SIDE + kx) * lanes + l];
						dst[l] = (float)sum;
					}
				}
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
	float *out;              /* [oh][ow][cout], or [oh][ow][then->out_channels] */
	const struct nst_conv_pointwise *then; /* NULL, or run on each output row */
	size_t ring_floats;      /* a slot's scratch before its output row (then) */
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
	          t->bias, out, (size_t)s->out_channels, &t->params);
}

/* Where output row oy is made: in place, or in the slot's row for the pointwise convolution. */
static float *row_out(const struct grouped_task *t, float *slot_scratch, int oy) {
	return t->then ? slot_scratch + t->ring_floats
	               : t->out + (size_t)oy * (size_t)t->ow * (size_t)t->shape->out_channels;
}

/* Output row oy, made in the slot's row, through the pointwise convolution into out. */
static void row_then(const struct grouped_task *t, const float *row, int oy) {
	const struct nst_conv_pointwise *p = t->then;
	if (!p)
		return;
	const size_t ow = (size_t)t->ow, co = (size_t)p->out_channels;
	nst_im2col_gemm(p->gemm, ow, (size_t)t->shape->out_channels, row, (size_t)t->shape->out_channels, p->packed,
	                t->out + (size_t)oy * ow * co, co, &p->params);
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
		float *out = row_out(t, ring, oy);
		output_row(t, rows, out);
		row_then(t, out, oy);
	}
}

/* Input row y into a phase ring row [w + 2][cin], its first and last pixels repeated at the sides. */
static void phase_row(const struct grouped_task *t, int y, float *row) {
	const size_t cin = (size_t)t->shape->in_channels, w = (size_t)t->w;
	const float *src = t->in + (size_t)y * w * cin; // [w][cin]
	memcpy(row + cin, src, w * cin * sizeof(float));
	memcpy(row, src, cin * sizeof(float));
	memcpy(row + (w + 1) * cin, src + (w - 1) * cin, cin * sizeof(float));
}

/* A block of output rows on phases (item): each row four kernel calls, its runs of pixels by case. */
static void phase_block(void *context, size_t slot, size_t item) {
	const struct grouped_task *t = context;
	const size_t cin = (size_t)t->shape->in_channels, cout = (size_t)t->shape->out_channels, w = (size_t)t->w;
	const size_t row_floats = phase_row_floats(t->shape, t->w);
	const float *cases = t->bias + cout; // [PHASE_CASES][PHASE_CASES][PHASE_TAPS][lanes]
	float *ring = nst_engine_scratch(t->engine, slot); // [3][w + 2][cin]
	int tag[PHASE_SIDE] = {-1, -1, -1};                // the input row each ring row holds
	const int oy0 = (int)item * t->block_rows;
	const int oy1 = oy0 + t->block_rows < t->oh ? oy0 + t->block_rows : t->oh;
	for (int oy = oy0; oy < oy1; oy++) {
		const float *rows[PHASE_SIDE]; /* input rows i - 1, i, i + 1, clamped */
		for (int r = 0; r < PHASE_SIDE; r++) {
			int y = oy / BILINEAR_UP - PHASE_SIDE / 2 + r;
			y = y < 0 ? 0 : y >= t->h ? t->h - 1 : y;
			float *row = ring + (size_t)(y % PHASE_SIDE) * row_floats; /* 3 consecutive rows: 3 ring rows */
			if (tag[y % PHASE_SIDE] != y) {
				phase_row(t, y, row);
				tag[y % PHASE_SIDE] = y;
			}
			rows[r] = row;
		}
		/* (the first output pixel's input column j - 1 in the ring, pixels, first output, cases' column) */
		const struct {
			size_t column, pixels, x;
			int phase;
		} runs[] = {
			{0, 1, 0, PHASE_FIRST},                   /* X = 0 */
			{1, w - 1, BILINEAR_UP, PHASE_EVEN},      /* X = 2j, 0 < j < w */
			{0, w - 1, 1, PHASE_ODD},                 /* X = 2j + 1, j < w - 1 */
			{w - 1, 1, BILINEAR_UP * w - 1, PHASE_LAST}, /* X = 2w - 1 */
		};
		const size_t row_case = (size_t)phase_of(oy, t->oh);
		float *out = row_out(t, ring, oy);
		for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
			if (!runs[k].pixels)
				continue;
			const float *inputs[PHASE_TAPS], *weights[PHASE_TAPS];
			const float *kernel = cases + (row_case * PHASE_CASES + (size_t)runs[k].phase) * PHASE_TAPS * t->lanes;
			for (size_t r = 0; r < PHASE_SIDE; r++)
				for (size_t c = 0; c < PHASE_SIDE; c++) {
					inputs[r * PHASE_SIDE + c] = rows[r] + (runs[k].column + c) * cin;
					weights[r * PHASE_SIDE + c] = kernel + (r * PHASE_SIDE + c) * t->lanes;
				}
			t->kernel(runs[k].pixels, cout, t->cig, t->cog, PHASE_TAPS, inputs, cin, weights, t->bias, out + runs[k].x * cout,
			          (runs[k].phase == PHASE_EVEN || runs[k].phase == PHASE_ODD ? BILINEAR_UP : 1) * cout, &t->params);
		}
		row_then(t, out, oy);
	}
}

void nst_conv2d_grouped(const struct nst_engine *engine, const struct nst_conv_shape *shape, int groups, int up,
                        int h, int w, const float *in, const float *packed, bool relu,
                        const struct nst_conv_pointwise *then, float *out) {
	assert(nst_conv_grouped_applies(shape, groups));
	assert(up == 1 || up == BILINEAR_UP);
	assert(h >= 1 && w >= 1);
	assert(engine->scratch_floats >= nst_conv_grouped_scratch_floats(shape, groups, up, w, then != NULL));
	assert(!then || (!then->gemm->q8 && !nst_conv_small_n(then->gemm, &(struct nst_conv_shape){1, 1, 1, 0, false,
	                                                                                       shape->out_channels,
	                                                                                       then->out_channels})));
	const size_t lanes = lanes_of(shape, groups);
	struct grouped_task t = {
		.engine = engine, .shape = shape, .up = up, .h = h, .w = w, .vh = h * up, .vw = w * up,
		.cig = (size_t)(shape->in_channels / groups), .cog = (size_t)(shape->out_channels / groups), .lanes = lanes,
		.in = in, .weights = packed,
		.bias = packed + (size_t)shape->kernel_h * (size_t)shape->kernel_w * lanes, .out = out, .then = then,
		.ring_floats = ring_floats(shape, up, w),
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
	/* blocks of output rows: each restarts the ring (its first rows prepared twice) */
	const size_t blocks = nst_parallel_items(engine, (size_t)t.oh);
	t.block_rows = (int)(((size_t)t.oh + blocks - 1) / blocks);
	nst_parallel_for(engine, ((size_t)t.oh + (size_t)t.block_rows - 1) / (size_t)t.block_rows,
	                 phases(shape, up) ? phase_block : grouped_block, &t);
}
