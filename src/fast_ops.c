/*
 * The operators that the feed-forward style networks add to the engine: instance norm (with its
 * ReLU or residual add fused), the picture's way in (padding to a multiple of 4) and out (crop,
 * strength, rounding), and three convolution drivers on the engine's GEMM microkernels: the 2x
 * nearest upsample fused into the im2col (nst_conv2d_up), the upsample + 3x3 convolution as four
 * 2x2 convolutions (nst_conv2d_phases) and Winograd F(2x2, 3x3) or F(4x4, 3x3)
 * (nst_conv2d_winograd, its transforms arch/ kernels); instance norm's sums and affine pass are
 * arch/ kernels too (nst_norm_kernel_for); the
 * 3-channel last layer runs on src/conv.c's small-N kernels.  Work is handed out to
 * the threads from an atomic counter, so a thread that is slowed down does not hold up the rest.
 */
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "fast_ops.h"

#define RGB 3
#define BYTE_MAX 255.0f
#define UP 2 /* the upsampling factor */
#define ALWAYS_INLINE inline __attribute__((always_inline))
/* Pixels below which a pass over a feature map stays on the calling thread. */
#define PARALLEL_MIN_VALUES 4096

/* ---------------------------------------------------------------------------------------------
 * Picture in and out
 * ------------------------------------------------------------------------------------------- */

void nst_fast_input(int w, int h, const uint8_t *rgb, int wp, int hp, float *x) {
	assert(wp >= w && hp >= h && w > 0 && h > 0);
	for (int y = 0; y < hp; y++) {
		const uint8_t *src = rgb + (size_t)(y < h ? y : h - 1) * (size_t)w * RGB; // [w][3]: row y, or the last
		float *dst = x + (size_t)y * (size_t)wp * RGB;                              // [wp][3]
		for (size_t i = 0; i < (size_t)w * RGB; i++)
			dst[i] = (float)src[i];
		for (int xx = w; xx < wp; xx++) /* replicate the last column */
			for (int c = 0; c < RGB; c++)
				dst[(size_t)xx * RGB + (size_t)c] = (float)src[(size_t)(w - 1) * RGB + (size_t)c];
	}
}

static float clamp_byte(float v) {
	/* NaN becomes 0: !(v > 0) holds for it. */
	return !(v > 0.0f) ? 0.0f : (v > BYTE_MAX ? BYTE_MAX : v);
}

void nst_fast_output(int w, int h, const float *y, int wp, const uint8_t *rgb_in, float strength, uint8_t *rgb_out) {
	const float keep = 1.0f - strength;
	for (int r = 0; r < h; r++) {
		const float *src = y + (size_t)r * (size_t)wp * RGB;        // [wp][3]
		const uint8_t *orig = rgb_in + (size_t)r * (size_t)w * RGB; // [w][3]
		uint8_t *dst = rgb_out + (size_t)r * (size_t)w * RGB;       // [w][3]
		for (size_t i = 0; i < (size_t)w * RGB; i++) {
			/* strength 1: exactly round(clamp(y)); strength 0: exactly the input. */
			const float v = strength * clamp_byte(src[i]) + keep * (float)orig[i];
			dst[i] = (uint8_t)clamp_byte(rintf(v));
		}
	}
}

void nst_fast_output_raw(int w, int h, const float *y, int wp, float *out) {
	for (int r = 0; r < h; r++)
		memcpy(out + (size_t)r * (size_t)w * RGB, y + (size_t)r * (size_t)wp * RGB, (size_t)w * RGB * sizeof(float));
}

/* ---------------------------------------------------------------------------------------------
 * Instance norm
 * ------------------------------------------------------------------------------------------- */

/* Slots a pass over n pixels of c channels is split into. */
static int pass_slots(const struct nst_engine *engine, size_t n, int c) {
	if (!engine->pool || engine->threads < 2 || n * (size_t)c < PARALLEL_MIN_VALUES)
		return 1;
	return (size_t)engine->threads < n ? engine->threads : (int)n;
}

size_t nst_instance_norm_scratch_doubles(int threads, int c) {
	/* [slots][2][c] partial sums and sums of squares, then [2][c] floats of scale and shift
	 * (c doubles hold them). */
	const size_t slots = threads > 1 ? (size_t)threads : 1;
	return slots * 2 * (size_t)c + (size_t)c;
}

struct norm_task {
	size_t n, chunk;
	int c;
	float *x;              /* [n][c] */
	float *residual;       /* [n][c] for NST_NORM_ADD */
	enum nst_norm_then then;
	double *partial;       /* [slots][2][c] */
	const float *scale, *shift; /* [c] each */
	const struct nst_norm_kernel *kernel;
};

/* The sums run over this many floats of a feature map at a time (an L1-sized run of pixels that
 * the SIMD kernels walk once per block of channels). */
#define NORM_RUN_FLOATS 4096

static void norm_sums_worker(void *context, size_t slot) {
	const struct norm_task *t = context;
	const size_t c = (size_t)t->c, p0 = slot * t->chunk;
	const size_t p1 = p0 + t->chunk < t->n ? p0 + t->chunk : t->n;
	const size_t run = NORM_RUN_FLOATS / c > 0 ? NORM_RUN_FLOATS / c : 1; /* pixels */
	double *sum = t->partial + slot * 2 * c, *sq = sum + c; // [c] each
	for (size_t ch = 0; ch < c; ch++)
		sum[ch] = sq[ch] = 0.0;
	for (size_t p = p0; p < p1; p += run)
		t->kernel->sums(p1 - p < run ? p1 - p : run, c, t->x + p * c, sum, sq);
}

static void norm_apply_worker(void *context, size_t slot) {
	const struct norm_task *t = context;
	const size_t c = (size_t)t->c, p0 = slot * t->chunk;
	const size_t p1 = p0 + t->chunk < t->n ? p0 + t->chunk : t->n;
	if (p1 <= p0)
		return;
	float *x = t->x + p0 * c; // [p1 - p0][c]
	switch (t->then) {
	case NST_NORM_RELU: t->kernel->affine(p1 - p0, c, x, t->scale, t->shift, NULL, true, x); break;
	case NST_NORM_PLAIN: t->kernel->affine(p1 - p0, c, x, t->scale, t->shift, NULL, false, x); break;
	case NST_NORM_ADD: {
		float *res = t->residual + p0 * c; // [p1 - p0][c]
		t->kernel->affine(p1 - p0, c, x, t->scale, t->shift, res, false, res);
		break;
	}
	}
}

static void run_slots(const struct nst_engine *engine, void (*fn)(void *, size_t), void *task, int slots) {
	if (slots > 1)
		pthreadpool_parallelize_1d(engine->pool, fn, task, (size_t)slots, 0);
	else
		fn(task, 0);
}

void nst_instance_norm(const struct nst_engine *engine, size_t n, int c, float *x, const float *gamma,
                       const float *beta, enum nst_norm_then then, float *residual, double *scratch) {
	const int slots = pass_slots(engine, n, c);
	const size_t cc = (size_t)c;
	struct norm_task t = {
		.n = n,
		.chunk = (n + (size_t)slots - 1) / (size_t)slots,
		.c = c,
		.x = x,
		.residual = residual,
		.then = then,
		.partial = scratch,
		.kernel = nst_norm_kernel_for(engine->gemm),
	};
	run_slots(engine, norm_sums_worker, &t, slots);
	/* The affine per channel, after the partials: [c] scale then [c] shift, as floats. */
	float *affine = (float *)(void *)(scratch + (size_t)slots * 2 * cc);
	for (size_t ch = 0; ch < cc; ch++) {
		double sum = 0.0, sq = 0.0;
		for (int s = 0; s < slots; s++) {
			sum += scratch[(size_t)s * 2 * cc + ch];
			sq += scratch[(size_t)s * 2 * cc + cc + ch];
		}
		const double mean = sum / (double)n;
		double var = sq / (double)n - mean * mean;
		var = var > 0.0 ? var : 0.0;
		const double scale = (double)gamma[ch] / sqrt(var + NST_FAST_NORM_EPS);
		affine[ch] = (float)scale;
		affine[cc + ch] = (float)((double)beta[ch] - mean * scale);
	}
	t.scale = affine;
	t.shift = affine + cc;
	run_slots(engine, norm_apply_worker, &t, slots);
}

/* ---------------------------------------------------------------------------------------------
 * Convolution with an optional 2x nearest upsample of its input done inside the im2col tile (the
 * tiling of src/conv.c: TP patch rows per tile, one NR panel at a time), tiles handed out from an
 * atomic counter so that a slow thread does not hold the others up.
 * ------------------------------------------------------------------------------------------- */

static size_t patch_floats(const struct nst_conv_shape *shape) {
	return (size_t)shape->kernel_h * (size_t)shape->kernel_w * (size_t)shape->in_channels;
}

static size_t tile_pixels(const struct nst_gemm_kernel *gemm, size_t k) {
	size_t rows = NST_IM2COL_TILE_BYTES / (k * sizeof(float));
	rows -= rows % gemm->mr;
	return rows < gemm->mr ? gemm->mr : rows;
}

size_t nst_conv_up_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return nst_gemm_kernel_packed_floats(gemm, patch_floats(shape), (size_t)shape->out_channels);
}

void nst_conv_up_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                      const float *bias, float *packed) {
	const size_t cout = (size_t)shape->out_channels;
	nst_gemm_kernel_pack(gemm, patch_floats(shape), cout, hwio, cout, bias, packed); /* HWIO: [kh*kw*cin][cout] */
}

size_t nst_conv_up_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	const size_t k = patch_floats(shape);
	return tile_pixels(gemm, k) * k;
}

static inline int reflect_index(int i, int n) {
	/* PyTorch's 'reflect' (the edge is not repeated): -1 -> 1, n -> n - 2. */
	if (n == 1)
		return 0;
	while (i < 0 || i >= n)
		i = i < 0 ? -i : 2 * (n - 1) - i;
	return i;
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
	size_t k, tile, n_tiles;
	atomic_size_t next_tile;
	struct nst_f32_minmax_params params;
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
				uy = reflect_index(uy, t->uh);
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
					ux = reflect_index(ux, t->uw);
				} else if (ux < 0 || ux >= t->uw) {
					memset(dst + (size_t)kx * cin, 0, cin * sizeof(float));
					continue;
				}
				memcpy(dst + (size_t)kx * cin, src_row + (size_t)(ux / up) * cin, cin * sizeof(float));
			}
		}
	}
}

static void up_worker(void *context, size_t slot) {
	struct up_task *t = context;
	const struct nst_engine *e = t->engine;
	const struct nst_gemm_kernel *g = e->gemm;
	const size_t cout = (size_t)t->shape->out_channels, pixels = (size_t)t->oh * (size_t)t->ow;
	const size_t panel_floats = nst_gemm_kernel_panel_floats(g, t->k);
	float *a = e->scratch + slot * e->scratch_floats; // [tile][k]
	for (;;) {
		const size_t tile = atomic_fetch_add_explicit(&t->next_tile, 1, memory_order_relaxed);
		if (tile >= t->n_tiles)
			break;
		const size_t p0 = tile * t->tile;
		const size_t np = pixels - p0 < t->tile ? pixels - p0 : t->tile;
		up_im2col(t, p0, np, a);
		float *out = t->out + p0 * cout; // [np][cout]
		for (size_t n0 = 0, panel = 0; n0 < cout; n0 += g->nr, panel++) {
			const size_t nc = cout - n0 < g->nr ? cout - n0 : g->nr;
			const float *w = t->packed + panel * panel_floats;
			for (size_t i = 0; i < np; i += g->mr) {
				const size_t mr = np - i < g->mr ? np - i : g->mr;
				g->fn(mr, nc, t->k, a + i * t->k, t->k, w, out + i * cout + n0, cout, &t->params);
			}
		}
	}
}

/* Runs fn over `slots` slots on the engine's pool, which hand out work items among themselves. */
static void run_shared(const struct nst_engine *engine, void (*fn)(void *, size_t), void *task, size_t items) {
	const size_t slots = (size_t)engine->threads < items ? (size_t)engine->threads : items;
	if (engine->pool && slots > 1)
		pthreadpool_parallelize_1d(engine->pool, fn, task, slots, 0);
	else if (items > 0)
		fn(task, 0);
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
		.k = patch_floats(shape),
		.params = {-INFINITY, INFINITY},
	};
	t.tile = tile_pixels(engine->gemm, t.k);
	assert(t.tile * t.k <= engine->scratch_floats);
	t.n_tiles = ((size_t)t.oh * (size_t)t.ow + t.tile - 1) / t.tile;
	atomic_init(&t.next_tile, 0);
	run_shared(engine, up_worker, &t, t.n_tiles);
}

/* ---------------------------------------------------------------------------------------------
 * 3x3 stride-1 convolution by Winograd's F(m x m, 3x3), m = 2 or 4 (Lavin and Gray 2016): each
 * m x m block of outputs comes from a T x T block of the (padded) input, T = m + 2: V = B^T d B,
 * T^2 GEMMs M[xi] = V[xi] U[xi] over the channels with U = G g G^T packed once, and Y = A^T M A:
 * T^2 multiplies per m^2 outputs instead of 9 m^2 (2.25x fewer for m = 2, 4x for m = 4).  The
 * transforms are the arch/ kernels that run beside the GEMM kernel (nst_wino_kernel_for).  Blocks
 * of tiles are handed out from an atomic counter; each thread transforms its block into scratch,
 * runs the T^2 GEMMs and transforms back.
 * ------------------------------------------------------------------------------------------- */

#define WINO_KERNEL 3
#define WINO_MAX_IN (NST_WINO_F4 + WINO_KERNEL - 1) /* the largest input tile side, 6 */
#define WINO_TILE_BYTES (128u * 1024u)              /* a block's transformed input, per thread */

static size_t wino_in(enum nst_wino f) { return (size_t)f + WINO_KERNEL - 1; }
static size_t wino_xi(enum nst_wino f) { return wino_in(f) * wino_in(f); }

static size_t wino_tiles(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, enum nst_wino f) {
	size_t t = WINO_TILE_BYTES / (wino_xi(f) * (size_t)shape->in_channels * sizeof(float));
	t -= t % gemm->mr;
	return t < gemm->mr ? gemm->mr : t;
}

bool nst_conv_winograd_applies(const struct nst_conv_shape *shape) {
	return shape->kernel_h == WINO_KERNEL && shape->kernel_w == WINO_KERNEL && shape->stride == 1 && shape->pad == 1;
}

size_t nst_conv_winograd_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                       enum nst_wino f) {
	return wino_xi(f) * nst_gemm_kernel_packed_floats(gemm, (size_t)shape->in_channels, (size_t)shape->out_channels) +
	       (size_t)shape->out_channels; /* then the bias */
}

size_t nst_conv_winograd_staging_floats(const struct nst_conv_shape *shape) {
	return (size_t)shape->in_channels * (size_t)shape->out_channels; /* one transform position at a time */
}

size_t nst_conv_winograd_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                        enum nst_wino f) {
	const size_t t = wino_tiles(gemm, shape, f);
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

void nst_conv_winograd_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, enum nst_wino f,
                            const float *hwio, const float *bias, float *staging, float *packed) {
	/* U = G g G^T, one transform position xi = (y, x) at a time: U[y][x] = sum G[y][a] G[x][b] g[a][b],
	 * summed in double and rounded once. */
	const size_t cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels, k = WINO_KERNEL;
	const size_t side = wino_in(f), xis = wino_xi(f), per_xi = nst_gemm_kernel_packed_floats(gemm, cin, cout);
	float *u = staging; // [cin][cout]: U[xi]
	for (size_t xi = 0; xi < xis; xi++) {
		const size_t y = xi / side, x = xi % side;
		double coef[WINO_KERNEL * WINO_KERNEL]; // [a][b]
		for (size_t a = 0; a < k; a++)
			for (size_t b = 0; b < k; b++)
				coef[a * k + b] = f == NST_WINO_F2 ? G2[y][a] * G2[x][b] : G4[y][a] * G4[x][b];
		for (size_t i = 0; i < cin * cout; i++) {
			double s = 0.0;
			for (size_t ab = 0; ab < k * k; ab++)
				s += coef[ab] * (double)hwio[ab * cin * cout + i];
			u[i] = (float)s;
		}
		nst_gemm_kernel_pack(gemm, cin, cout, u, cout, NULL, packed + xi * per_xi);
	}
	for (size_t co = 0; co < cout; co++)
		packed[xis * per_xi + co] = bias ? bias[co] : 0.0f;
}

struct wino_task {
	const struct nst_engine *engine;
	const struct nst_conv_shape *shape;
	int h, w;              /* input = output size */
	int out_side, in_side; /* m, T */
	size_t xis;            /* T * T */
	size_t tiles_x, n_tiles, block, n_blocks, per_xi;
	nst_f32_wino_input_fn input;
	nst_f32_wino_output_fn output;
	const float *in;       /* [h][w][cin] */
	const float *packed;   /* [T * T] packed U, then bias [cout] */
	float *out;            /* [h][w][cout] */
	atomic_size_t next_block;
	struct nst_f32_minmax_params params;
};

/* V[xi][i][c] for the tiles [t0, t0 + nt): B^T d B of each tile's T x T input pixels.  With zero
 * padding, pixels outside the picture read from `zeros` ([cin] zeros). */
static void wino_input(const struct wino_task *t, size_t t0, size_t nt, float *v, const float *zeros) {
	const size_t cin = (size_t)t->shape->in_channels, plane = nt * cin;
	const int side = t->in_side;
	for (size_t i = 0; i < nt; i++) {
		const size_t tile = t0 + i;
		const int y0 = (int)(tile / t->tiles_x) * t->out_side - 1, x0 = (int)(tile % t->tiles_x) * t->out_side - 1;
		const float *d[WINO_MAX_IN * WINO_MAX_IN]; // [T][T], each: the input pixel's [cin]
		for (int y = 0; y < side; y++)
			for (int x = 0; x < side; x++) {
				int iy = y0 + y, ix = x0 + x;
				if (t->shape->reflect) {
					iy = reflect_index(iy, t->h);
					ix = reflect_index(ix, t->w);
				} else if (iy < 0 || iy >= t->h || ix < 0 || ix >= t->w) {
					d[y * side + x] = zeros;
					continue;
				}
				d[y * side + x] = t->in + ((size_t)iy * (size_t)t->w + (size_t)ix) * cin;
			}
		t->input(cin, d, v + i * cin, plane);
	}
}

/* Y = A^T M A + bias for the tiles [t0, t0 + nt), the outputs inside the picture only. */
static void wino_output(const struct wino_task *t, size_t t0, size_t nt, const float *m) {
	const size_t cout = (size_t)t->shape->out_channels, plane = nt * cout, row = (size_t)t->w * cout;
	const float *bias = t->packed + t->xis * t->per_xi;
	const int side = t->out_side;
	for (size_t i = 0; i < nt; i++) {
		const size_t tile = t0 + i;
		const int y0 = (int)(tile / t->tiles_x) * side, x0 = (int)(tile % t->tiles_x) * side;
		const int ny = t->h - y0 < side ? t->h - y0 : side, nx = t->w - x0 < side ? t->w - x0 : side;
		float *out = t->out + ((size_t)y0 * (size_t)t->w + (size_t)x0) * cout; // the tile's [ny][nx][cout]
		t->output(cout, m + i * cout, plane, bias, out, row, cout, (size_t)ny, (size_t)nx);
	}
}

static void wino_worker(void *context, size_t slot) {
	struct wino_task *t = context;
	const struct nst_engine *e = t->engine;
	const struct nst_gemm_kernel *g = e->gemm;
	const size_t cin = (size_t)t->shape->in_channels, cout = (size_t)t->shape->out_channels;
	float *v = e->scratch + slot * e->scratch_floats; // [T * T][block][cin]
	float *m = v + t->xis * t->block * cin;            // [T * T][block][cout]
	float *zeros = m + t->xis * t->block * cout;       // [cin]: the zero padding's pixel
	memset(zeros, 0, cin * sizeof(float));
	for (;;) {
		const size_t b = atomic_fetch_add_explicit(&t->next_block, 1, memory_order_relaxed);
		if (b >= t->n_blocks)
			break;
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
}

void nst_conv2d_winograd(const struct nst_engine *engine, const struct nst_conv_shape *shape, enum nst_wino f, int h,
                         int w, const float *in, const float *packed, float *out) {
	assert(nst_conv_winograd_applies(shape) && (f == NST_WINO_F2 || f == NST_WINO_F4));
	const struct nst_gemm_kernel *g = engine->gemm;
	const struct nst_wino_kernel *k = nst_wino_kernel_for(g);
	struct wino_task t = {
		.engine = engine,
		.shape = shape,
		.h = h,
		.w = w,
		.out_side = (int)f,
		.in_side = (int)wino_in(f),
		.xis = wino_xi(f),
		.tiles_x = ((size_t)w + (size_t)f - 1) / (size_t)f,
		.block = wino_tiles(g, shape, f),
		.per_xi = nst_gemm_kernel_packed_floats(g, (size_t)shape->in_channels, (size_t)shape->out_channels),
		.input = f == NST_WINO_F2 ? k->input23 : k->input43,
		.output = f == NST_WINO_F2 ? k->output23 : k->output43,
		.in = in,
		.packed = packed,
		.out = out,
		.params = {-INFINITY, INFINITY},
	};
	t.n_tiles = t.tiles_x * (((size_t)h + (size_t)f - 1) / (size_t)f);
	t.n_blocks = (t.n_tiles + t.block - 1) / t.block;
	assert(nst_conv_winograd_scratch_floats(g, shape, f) <= engine->scratch_floats);
	atomic_init(&t.next_block, 0);
	run_shared(engine, wino_worker, &t, t.n_blocks);
}

/* ---------------------------------------------------------------------------------------------
 * Nearest 2x upsample + 3x3 convolution (pad 1), by phases: the output pixel (2y + py, 2x + px)
 * sees only 2x2 distinct input pixels, so each of the four phases is a 2x2 convolution of the
 * input with the 3x3 kernel's taps summed per input pixel (rows {0}, {1, 2} for py = 0 and
 * {0, 1}, {2} for py = 1; likewise the columns).  Reflection padding of the upsampled picture is
 * replication of the input's edge (-1 -> 1 -> 0, 2h -> 2h - 2 -> h - 1), zero padding stays zero.
 * 16 multiplies per 4 outputs and input channel instead of 36, and no upsampled picture.
 * ------------------------------------------------------------------------------------------- */

#define PHASES 4     /* (py, px) */
#define PHASE_TAPS 2 /* a phase's kernel is 2x2 */

bool nst_conv_phases_apply(const struct nst_conv_shape *shape) {
	return shape->kernel_h == WINO_KERNEL && shape->kernel_w == WINO_KERNEL && shape->stride == 1 && shape->pad == 1;
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
	return tile_pixels(gemm, k) * k;
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
				for (int ky = 0; ky < WINO_KERNEL; ky++)
					for (int kx = 0; kx < WINO_KERNEL; kx++) {
						if (!phase_tap(py, a, ky) || !phase_tap(px, b, kx))
							continue;
						const float *src = hwio + (size_t)(ky * WINO_KERNEL + kx) * cin * cout;
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
	size_t k, per_phase, tile, n_tiles;
	atomic_size_t next_tile;
	struct nst_f32_minmax_params params;
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

static void phases_worker(void *context, size_t slot) {
	struct phases_task *t = context;
	const struct nst_engine *e = t->engine;
	const struct nst_gemm_kernel *g = e->gemm;
	const size_t cout = (size_t)t->shape->out_channels, pixels = (size_t)t->h * (size_t)t->w;
	const size_t ow = 2 * (size_t)t->w;
	float *a = e->scratch + slot * e->scratch_floats; // [tile][k]
	for (;;) {
		const size_t tile = atomic_fetch_add_explicit(&t->next_tile, 1, memory_order_relaxed);
		if (tile >= t->n_tiles)
			break;
		const size_t p0 = tile * t->tile, np = pixels - p0 < t->tile ? pixels - p0 : t->tile;
		for (int phase = 0; phase < PHASES; phase++) {
			const int py = phase / 2, px = phase % 2;
			phases_im2col(t, py, px, p0, np, a);
			const float *w = t->packed + (size_t)phase * t->per_phase;
			/* Consecutive input pixels of one row give outputs 2 pixels apart: blocks of MR rows
			 * stop at the end of an input row. */
			for (size_t i = 0; i < np;) {
				const size_t p = p0 + i, y = p / (size_t)t->w, x = p % (size_t)t->w;
				size_t mr = np - i < g->mr ? np - i : g->mr;
				if (mr > (size_t)t->w - x)
					mr = (size_t)t->w - x;
				float *c = t->out + ((2 * y + (size_t)py) * ow + 2 * x + (size_t)px) * cout;
				g->fn(mr, cout, t->k, a + i * t->k, t->k, w, c, 2 * cout, &t->params);
				i += mr;
			}
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
	t.tile = tile_pixels(g, t.k);
	assert(t.tile * t.k <= engine->scratch_floats);
	t.n_tiles = ((size_t)h * (size_t)w + t.tile - 1) / t.tile;
	atomic_init(&t.next_tile, 0);
	run_shared(engine, phases_worker, &t, t.n_tiles);
}
