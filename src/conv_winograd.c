/*
 * 3x3 stride-1 convolution by Winograd's F(m x m, 3x3), m = 2 or 4 (Lavin and Gray 2016): each
 * m x m block of outputs comes from a T x T block of the (padded) input, T = m + 2: V = B^T d B,
 * T^2 GEMMs M[xi] = V[xi] U[xi] over the channels with U = G g G^T packed once, and Y = A^T M A:
 * T^2 multiplies per m^2 outputs instead of 9 m^2 (2.25x fewer for m = 2, 4x for m = 4).  The
 * transforms are the arch/ kernels that run beside the GEMM kernel (nst_wino_kernel_for).  Blocks
 * of tiles are the engine's work items; each slot transforms its block into its scratch, runs the
 * T^2 GEMMs and transforms back (with the epilogue's clamp, in the transform's registers), then
 * applies the rest of the epilogue (addend, masks) to each output tile while it is in cache.
 * Padding 1 (zeros or reflection: a tile reads the mirrored pixels) is a layer's convolution or a
 * zero-padded layer's input gradient; padding 2 (zeros) is the "full" convolution that gives a
 * reflection-padded layer's gradient over its padded input.  nst_conv_winograd_pack_scaled packs,
 * from a kernel, that of scale * conv(x) + diagonal * x (the arbitrary-style network's modulated
 * blocks, once per painting).
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define WINO_KERNEL 3
#define WINO_MAX_IN (NST_WINO_F4 + WINO_KERNEL - 1) /* the largest input tile side, 6 */
#define WINO_BLOCK_BYTES (128u * 1024u)              /* a block's transformed input, per thread */

static size_t wino_in(enum nst_wino f) { return (size_t)f + WINO_KERNEL - 1; }
static size_t wino_xi(enum nst_wino f) { return wino_in(f) * wino_in(f); }

/* The GEMM kernel of a layer's transformed products: the configuration's narrow one for few output
 * channels (as nst_conv2d's: 16 outputs on a 32-column tile would be half padding). */
static const struct nst_gemm_kernel *wino_gemm(const struct nst_gemm_kernel *gemm, size_t out_channels) {
	return nst_gemm_kernel_for_columns(gemm, out_channels);
}

static size_t wino_block_tiles(const struct nst_gemm_kernel *engine_gemm, const struct nst_conv_shape *shape,
                               enum nst_wino f) {
	const struct nst_gemm_kernel *gemm = wino_gemm(engine_gemm, (size_t)shape->out_channels);
	size_t t = WINO_BLOCK_BYTES / (wino_xi(f) * (size_t)shape->in_channels * sizeof(float));
	t -= t % gemm->mr;
	return t < gemm->mr ? gemm->mr : t;
}

bool nst_conv_winograd_applies(const struct nst_conv_shape *shape) {
	return shape->kernel_h == WINO_KERNEL && shape->kernel_w == WINO_KERNEL && shape->stride == 1 &&
	       (shape->pad == 1 || (shape->pad == 2 && !shape->reflect));
}

bool nst_conv_winograd_pays(const struct nst_engine *engine, const struct nst_conv_shape *shape) {
	const struct nst_conv_shape backward = nst_conv_backward_shape(shape);
	return engine->backend == NST_BACKEND_SIMD && !engine->gemm->f16 && nst_conv_winograd_applies(shape) &&
	       nst_conv_winograd_applies(&backward) && shape->in_channels % 8 == 0 && shape->out_channels % 8 == 0 &&
	       shape->in_channels >= NST_WINO_MIN_CHANNELS && shape->out_channels >= NST_WINO_MIN_CHANNELS;
}

enum nst_wino nst_vgg_winograd(const struct nst_engine *engine, int block, const struct nst_conv_shape *shape) {
	const bool narrow = shape->in_channels <= NST_VGG_WINO_BLOCK1_MAX_CHANNELS &&
	                    shape->out_channels <= NST_VGG_WINO_BLOCK1_MAX_CHANNELS;
	if ((block <= 1 && !narrow) || !nst_conv_winograd_pays(engine, shape))
		return NST_WINO_NONE;
	return shape->in_channels <= NST_VGG_WINO_F4_MAX_CHANNELS && shape->out_channels <= NST_VGG_WINO_F4_MAX_CHANNELS
	               ? NST_WINO_F4
	               : NST_WINO_F2;
}

size_t nst_conv_winograd_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                       enum nst_wino f) {
	const size_t cout = (size_t)shape->out_channels;
	return wino_xi(f) * nst_gemm_kernel_packed_floats(wino_gemm(gemm, cout), (size_t)shape->in_channels, cout) +
	       cout; /* then the bias */
}

size_t nst_conv_winograd_staging_floats(const struct nst_conv_shape *shape) {
	return (size_t)shape->in_channels * (size_t)shape->out_channels; /* one transform position at a time */
}

size_t nst_conv_winograd_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                        enum nst_wino f) {
	const size_t t = wino_block_tiles(gemm, shape, f);
	/* V, then M, then a pixel of zeros */
	return wino_xi(f) * t * ((size_t)shape->in_channels + (size_t)shape->out_channels) + (size_t)shape->in_channels;
}

/* G, T x 3, of F(2x2, 3x3) and F(4x4, 3x3) (Lavin and Gray's). */
#define HALF 0.5
static const double G2[NST_WINO_F2 + WINO_KERNEL - 1][WINO_KERNEL] = {
	{1, 0, 0}, {HALF, HALF, HALF}, {HALF, -HALF, HALF}, {0, 0, 1},
};
#define QUARTER (1.0 / 4)
#define SIXTH (1.0 / 6)
#define TWELFTH (1.0 / 12)
#define TWENTYFOURTH (1.0 / 24)
static const double G4[NST_WINO_F4 + WINO_KERNEL - 1][WINO_KERNEL] = {
	{QUARTER, 0, 0},
	{-SIXTH, -SIXTH, -SIXTH},
	{-SIXTH, SIXTH, -SIXTH},
	{TWENTYFOURTH, TWELFTH, SIXTH},
	{TWENTYFOURTH, -TWELFTH, SIXTH},
	{0, 0, 1},
};

/* U = G g G^T of the kernel g[a][b][i][o] of a convolution from cin to cout channels, one transform
 * position xi = (y, x) at a time: U[y][x] = sum G[y][a] G[x][b] g[a][b], summed in double and
 * rounded once, packed for gemm; then the bias (NULL: zeros).  g is hwio itself, or (flipped) the
 * input gradient's kernel of the convolution hwio [3][3][cout][cin] holds:
 * g[a][b][i][o] = hwio[2 - a][2 - b][o][i]. */
static void pack_transformed(const struct nst_gemm_kernel *engine_gemm, size_t cin, size_t cout, enum nst_wino f,
                             const float *hwio, bool flipped, const float *bias, float *staging, float *packed) {
	const struct nst_gemm_kernel *gemm = wino_gemm(engine_gemm, cout);
	const size_t k = WINO_KERNEL;
	const size_t side = wino_in(f), xis = wino_xi(f), per_xi = nst_gemm_kernel_packed_floats(gemm, cin, cout);
	float *u = staging; // [cin][cout]: U[xi]
	for (size_t xi = 0; xi < xis; xi++) {
		const size_t y = xi / side, x = xi % side;
		double coef[WINO_KERNEL * WINO_KERNEL]; // [a][b]
		for (size_t a = 0; a < k; a++)
			for (size_t b = 0; b < k; b++) {
				const size_t ga = flipped ? k - 1 - a : a, gb = flipped ? k - 1 - b : b; /* g's tap, in hwio */
				coef[ga * k + gb] = f == NST_WINO_F2 ? G2[y][a] * G2[x][b] : G4[y][a] * G4[x][b];
			}
		for (size_t i = 0; i < cin; i++)
			for (size_t o = 0; o < cout; o++) {
				const size_t at = flipped ? o * cin + i : i * cout + o; /* within one tap of hwio */
				double s = 0.0;
				for (size_t ab = 0; ab < k * k; ab++)
					s += coef[ab] * (double)hwio[ab * cin * cout + at];
				u[i * cout + o] = (float)s;
			}
		nst_gemm_kernel_pack(gemm, cin, cout, u, cout, NULL, packed + xi * per_xi);
	}
	for (size_t co = 0; co < cout; co++)
		packed[xis * per_xi + co] = bias ? bias[co] : 0.0f;
}

size_t nst_conv_winograd_scaled_staging_floats(const struct nst_conv_shape *shape, enum nst_wino f) {
	return wino_in(f) * WINO_KERNEL * (size_t)shape->in_channels * (size_t)shape->out_channels;
}

size_t nst_conv_winograd_scaled_scratch_floats(const struct nst_conv_shape *shape) {
	return (size_t)shape->out_channels * (size_t)shape->out_channels; /* one position's U */
}

struct scaled_task {
	const struct nst_engine *engine;
	const struct nst_gemm_kernel *gemm;
	const double (*g)[WINO_KERNEL]; /* G, T x 3 */
	size_t c, side, per_xi;
	const float *hwio, *scale, *diagonal;
	float *t;      /* [T][3][c][c] */
	float *packed;
};

/* t[y][b] = sum_a G[y][a] hwio[a][b] over whole [c][c] maps, item y * 3 + b. */
static void scaled_rows_worker(void *context, size_t slot, size_t item) {
	const struct scaled_task *s = context;
	const size_t cc = s->c * s->c, y = item / WINO_KERNEL, b = item % WINO_KERNEL;
	const float *h0 = s->hwio + b * cc, *h1 = h0 + WINO_KERNEL * cc, *h2 = h1 + WINO_KERNEL * cc; /* taps (0..2, b) */
	float *ty = s->t + item * cc;
	(void)slot;
	nst_floats_blend(cc, (float)s->g[y][0], h0, (float)s->g[y][1], h1, ty);
	nst_floats_axpy(cc, (float)s->g[y][2], h2, ty);
}

/* U[y][x] = scale (sum_b G[x][b] t[y][b]) + G[y][1] G[x][1] diag(diagonal), packed: item xi. */
static void scaled_position_worker(void *context, size_t slot, size_t xi) {
	const struct scaled_task *s = context;
	const size_t c = s->c, cc = c * c, y = xi / s->side, x = xi % s->side, centre = WINO_KERNEL / 2;
	const float *t0 = s->t + y * WINO_KERNEL * cc, *t1 = t0 + cc, *t2 = t1 + cc;
	float *u = nst_engine_scratch(s->engine, slot); // [c][c]
	for (size_t i = 0; i < c; i++) {
		float *row = u + i * c;
		nst_floats_blend(c, (float)s->g[x][0], t0 + i * c, (float)s->g[x][1], t1 + i * c, row);
		nst_floats_axpy(c, (float)s->g[x][2], t2 + i * c, row);
		nst_floats_multiply(c, s->scale, row);
		row[i] += (float)(s->g[y][centre] * s->g[x][centre]) * s->diagonal[i];
	}
	nst_gemm_kernel_pack(s->gemm, c, c, u, c, NULL, s->packed + xi * s->per_xi);
}

void nst_conv_winograd_pack_scaled(const struct nst_engine *engine, const struct nst_gemm_kernel *gemm,
                                   const struct nst_conv_shape *shape, enum nst_wino f, const float *hwio,
                                   const float *bias, const float *scale, const float *diagonal, float *staging,
                                   float *packed) {
	assert(shape->in_channels == shape->out_channels);
	const size_t c = (size_t)shape->out_channels, xis = wino_xi(f);
	assert(nst_conv_winograd_scaled_scratch_floats(shape) <= engine->scratch_floats && bias);
	gemm = wino_gemm(gemm, c);
	struct scaled_task t = {
		.engine = engine,
		.gemm = gemm,
		.g = f == NST_WINO_F2 ? G2 : G4,
		.c = c,
		.side = wino_in(f),
		.per_xi = nst_gemm_kernel_packed_floats(gemm, c, c),
		.hwio = hwio,
		.scale = scale,
		.diagonal = diagonal,
		.t = staging,
		.packed = packed,
	};
	nst_parallel_for(engine, t.side * WINO_KERNEL, scaled_rows_worker, &t);
	nst_parallel_for(engine, xis, scaled_position_worker, &t);
	for (size_t o = 0; o < c; o++)
		packed[xis * t.per_xi + o] = scale[o] * bias[o];
}

void nst_conv_winograd_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, enum nst_wino f,
                            const float *hwio, const float *bias, float *staging, float *packed) {
	pack_transformed(gemm, (size_t)shape->in_channels, (size_t)shape->out_channels, f, hwio, false, bias, staging,
	                 packed);
}

void nst_conv_winograd_pack_backward(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                     enum nst_wino f, const float *hwio, float *staging, float *packed) {
	/* the gradient runs from the layer's cout to its cin channels */
	pack_transformed(gemm, (size_t)shape->out_channels, (size_t)shape->in_channels, f, hwio, true, NULL, staging,
	                 packed);
}

struct wino_task {
	const struct nst_engine *engine;
	const struct nst_gemm_kernel *gemm; /* the products' kernel (wino_gemm) */
	const struct nst_conv_shape *shape;
	int h, w;              /* input size */
	int oh, ow;            /* output size: h + 2 pad - 2, w + 2 pad - 2 */
	int out_side, in_side; /* m, T */
	size_t xis;            /* T * T */
	size_t tiles_x, n_tiles, block, n_blocks, per_xi;
	nst_f32_wino_input_fn input;
	nst_f32_wino_output_fn output;
	const float *in;       /* [h][w][cin] */
	const float *packed;   /* [T * T] packed U, then bias [cout] */
	float *out;            /* [oh][ow][cout] */
	const struct nst_conv_epilogue *epilogue; /* NULL: none */
	const struct nst_mask_kernel *mask;
	struct nst_f32_minmax_params params;
};

/* The input index a tile's row or column i (of a picture side n) reads: reflected, or -1 outside
 * a zero-padded picture. */
static inline int wino_source_index(bool reflect, int i, int n) {
	if (reflect)
		return nst_reflect_index(i, n);
	return i < 0 || i >= n ? -1 : i;
}

/* V[xi][i][c] for the tiles [t0, t0 + nt): B^T d B of each tile's T x T input pixels.  With zero
 * padding, pixels outside the picture read from `zeros` ([cin] zeros). */

static void wino_input(const struct wino_task *t, size_t t0, size_t nt, float *v, const float *zeros) {
	const size_t cin = (size_t)t->shape->in_channels, plane = nt * cin;
	const int side = t->in_side;
	const int pad = t->shape->pad;
	for (size_t i = 0; i < nt; i++) {
		const size_t tile = t0 + i;
		const int y0 = (int)(tile / t->tiles_x) * t->out_side - pad, x0 = (int)(tile % t->tiles_x) * t->out_side - pad;
		/* The input row and column of each of the tile's rows and columns (reflected), or -1: zero
		 * padding; the pixels' pointers from them. */
		int rows[WINO_MAX_IN], cols[WINO_MAX_IN];
		for (int k = 0; k < side; k++) {
			rows[k] = wino_source_index(t->shape->reflect, y0 + k, t->h);
			cols[k] = wino_source_index(t->shape->reflect, x0 + k, t->w);
		}
		const float *d[WINO_MAX_IN * WINO_MAX_IN]; // [T][T], each: the input pixel's [cin]
		for (int y = 0; y < side; y++) {
			const float *row = rows[y] < 0 ? NULL : t->in + (size_t)rows[y] * (size_t)t->w * cin; /* [w][cin] */
			for (int x = 0; x < side; x++)
				d[y * side + x] = !row || cols[x] < 0 ? zeros : row + (size_t)cols[x] * cin;
		}
		t->input(cin, d, v + i * cin, plane);
	}
}

/* Y = A^T M A + bias for the tiles [t0, t0 + nt), the outputs inside the picture only, clamped
 * to the epilogue's bounds by the transform, then the rest of the epilogue on each of the tile's rows. */
static void wino_output(const struct wino_task *t, size_t t0, size_t nt, const float *m) {
	const size_t cout = (size_t)t->shape->out_channels, plane = nt * cout, row = (size_t)t->ow * cout;
	const float *bias = t->packed + t->xis * t->per_xi;
	const struct nst_conv_epilogue *ep = t->epilogue;
	const struct nst_f32_minmax_params clamp = {ep ? ep->min : -INFINITY, ep ? ep->max : INFINITY};
	const int side = t->out_side;
	for (size_t i = 0; i < nt; i++) {
		const size_t tile = t0 + i;
		const int y0 = (int)(tile / t->tiles_x) * side, x0 = (int)(tile % t->tiles_x) * side;
		const int ny = t->oh - y0 < side ? t->oh - y0 : side, nx = t->ow - x0 < side ? t->ow - x0 : side;
		float *out = t->out + ((size_t)y0 * (size_t)t->ow + (size_t)x0) * cout; // the tile's [ny][nx][cout]
		t->output(cout, m + i * cout, plane, bias, &clamp, out, row, cout, (size_t)ny, (size_t)nx);
		if (!ep)
			continue;
		const size_t run = (size_t)nx * cout; /* one row of the tile */
		for (int y = 0; y < ny; y++) {
			const size_t e0 = ((size_t)(y0 + y) * (size_t)t->ow + (size_t)x0) * cout;
			nst_conv_epilogue_run(t->mask, ep, e0, run, out + (size_t)y * row);
		}
	}
}

static void wino_worker(void *context, size_t slot, size_t b) {
	const struct wino_task *t = context;
	const struct nst_engine *e = t->engine;
	const struct nst_gemm_kernel *g = t->gemm;
	const size_t cin = (size_t)t->shape->in_channels, cout = (size_t)t->shape->out_channels;
	float *v = nst_engine_scratch(e, slot);            // [T * T][block][cin]
	float *m = v + t->xis * t->block * cin;            // [T * T][block][cout]
	float *zeros = m + t->xis * t->block * cout;       // [cin]: the zero padding's pixel
	memset(zeros, 0, cin * sizeof(float));
	const size_t t0 = b * t->block, nt = t->n_tiles - t0 < t->block ? t->n_tiles - t0 : t->block;
	wino_input(t, t0, nt, v, zeros);
	for (size_t xi = 0; xi < t->xis; xi++) {
		const float *a = v + xi * nt * cin, *w = t->packed + xi * t->per_xi;
		float *c = m + xi * nt * cout;
		for (size_t i = 0; i < nt; i += g->mr) {
			const size_t mr = nt - i < g->mr ? nt - i : g->mr;
			g->fn(mr, cout, cin, a + i * cin, cin, w, c + i * cout, cout, &t->params);
		}
	}
	wino_output(t, t0, nt, m);
}

void nst_conv2d_winograd(const struct nst_engine *engine, const struct nst_conv_shape *shape, enum nst_wino f, int h,
                         int w, const float *in, const float *packed, float *out,
                         const struct nst_conv_epilogue *epilogue) {
	assert(nst_conv_winograd_applies(shape) && (f == NST_WINO_F2 || f == NST_WINO_F4));
	/* the epilogue's runs start on mask bytes (tile rows start on pixels) */
	assert(!epilogue || (!epilogue->mask_out && !epilogue->mask_in) || shape->out_channels % 8 == 0);
	const struct nst_gemm_kernel *g = wino_gemm(engine->gemm, (size_t)shape->out_channels);
	const struct nst_wino_kernel *k = nst_wino_kernel_for(engine->gemm);
	const int oh = nst_conv_out_size(h, WINO_KERNEL, 1, shape->pad), ow = nst_conv_out_size(w, WINO_KERNEL, 1, shape->pad);
	struct wino_task t = {
		.engine = engine,
		.gemm = g,
		.shape = shape,
		.h = h,
		.w = w,
		.oh = oh,
		.ow = ow,
		.out_side = (int)f,
		.in_side = (int)wino_in(f),
		.xis = wino_xi(f),
		.tiles_x = ((size_t)ow + (size_t)f - 1) / (size_t)f,
		.block = wino_block_tiles(engine->gemm, shape, f),
		.per_xi = nst_gemm_kernel_packed_floats(g, (size_t)shape->in_channels, (size_t)shape->out_channels),
		.input = f == NST_WINO_F2 ? k->input23 : k->input43,
		.output = f == NST_WINO_F2 ? k->output23 : k->output43,
		.in = in,
		.packed = packed,
		.out = out,
		.epilogue = epilogue,
		.mask = nst_mask_kernel_for(engine->gemm),
		.params = {-INFINITY, INFINITY},
	};
	t.n_tiles = t.tiles_x * (((size_t)oh + (size_t)f - 1) / (size_t)f);
	t.n_blocks = (t.n_tiles + t.block - 1) / t.block;
	assert(nst_conv_winograd_scratch_floats(engine->gemm, shape, f) <= engine->scratch_floats);
	nst_parallel_for(engine, t.n_blocks, wino_worker, &t);
}
