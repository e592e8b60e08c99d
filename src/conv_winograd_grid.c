/*
 * A k x k stride-1 convolution, k a multiple of 3 (the arbitrary-style network's 9x9 first and last
 * layers), as a grid of q x q sub-kernels of 3x3 (q = k / 3) on Winograd's F(3x3, 3x3) tiles.
 *
 * out(y, x) = sum over (a, b) < (q, q) of the 3x3 convolution by the sub-kernel g_ab (taps
 * 3a .. 3a + 2, 3b .. 3b + 2) of the input shifted by (3a, 3b).  With output tiles of 3 x 3 the
 * shift is whole tiles: output tile (ty, tx) takes sub-kernel (a, b) from input tile (ty + a,
 * tx + b), the 5 x 5 pixels of the padded input at (3 (ty + a), 3 (tx + b)).  Each input tile is
 * transformed once (V = B^T d B) and used by the q^2 output tiles that read it; in the transformed
 * domain the sum over (a, b) and the channels is one GEMM per transform position xi (25 of them),
 * of K = q^2 cin: M[xi] = V'[xi] U[xi], where V''s row for an output tile is the q x q tiles
 * around it.  Then Y = A^T M A + bias.  25 products per 9 outputs and sub-kernel, against 81 for the
 * direct convolution: 3.24x fewer multiplications, for transforms of cin and cout values per
 * tile (cheap when the channels are few, as in these layers: 3 -> 16 and 16 -> 3).
 *
 * The rows of V' must be contiguous K-vectors for the GEMM kernel.  The transformed input
 * of a strip of tiles is skewed: input tile row r (counted from the band's first) of column col is
 * at (col q + r) cin in each position's plane.  Output tile row ty's tile j then finds its q x q
 * neighbourhood (b, a) at (j + b) q cin + (ty + a) cin = start + (b q + a) cin: q^2 cin contiguous
 * floats from start = (j q + ty) cin, consecutive tiles q cin apart.  Going down one tile row
 * transforms one new input tile row, which lands where row r - q of the next column was: a row no
 * output below reads any more.  One packing of the weights serves every row, and each input tile
 * is transformed once per band.
 *
 * The transforms are the arch/ kernels beside the GEMM kernel (nst_wino_kernel_for: wino33).
 * Work items are bands of tile rows by strips of tile columns: each band transforms its
 * first q - 1 input tile rows more than once (once per band), and a strip's scratch stays in L2.
 * A tile row's input pixels are copied into the band (padding filled in) only where the strip
 * reaches the padding or the channels are few; elsewhere the transforms read the picture's rows
 * in place.
 * Few output channels (at most NST_ROWMIX_NC: the 16 -> 3 last layer) turn the products around:
 * with K = 144 and 3 outputs a tile's sums are dot products whose lanes must be added together at
 * the end (the small-N kernels ran them at ~45% of the FMA peak).  There the lanes run along the
 * tiles instead ("lanes" below): each picture row is split into channel planes of its 3 pixel
 * phases ([cin][3][columns + skew]), the F(3x3) input transform runs on whole rows of tiles, one channel
 * at a time, into a ring of the q input tile rows the outputs read (V [q][25][cin][columns]), and
 * the row mix kernel sums, for each position, K rows of tiles times a weight into each output's row
 * of tiles: output tile j's neighbourhood (b, a) is row (ty + a) mod q, channel i, from column
 * j + b.  The output transform then runs along the tiles of each output channel.
 *
 * F(3x3, 3x3) on the points 0, 1, -1, 2 and infinity (Toom-Cook), derived exactly:
 *   B^T = [2 -1 -2 1 0; 0 -2 -1 1 0; 0 2 -3 1 0; 0 -1 0 1 0; 0 2 -1 -2 1]
 *   G   = [1/2 0 0; -1/2 -1/2 -1/2; -1/6 1/6 -1/6; 1/6 1/3 2/3; 0 0 1]
 *   A^T = [1 1 1 1 0; 0 1 -1 2 0; 0 1 1 4 1]
 * The kernel's transform is summed in double and rounded once (as src/conv_winograd.c's).
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define GRID_OUT 3                          /* outputs per tile side, F(3x3, 3x3) */
#define GRID_SUB 3                          /* a sub-kernel's side */
#define GRID_IN (GRID_OUT + GRID_SUB - 1)   /* an input tile's side, 5 */
#define GRID_XI (GRID_IN * GRID_IN)         /* transform positions, 25 */
/* A strip's transformed input and products (V' and M, 25 planes each) in at most this, so that
 * they stay in L2 with its band, and a thread's scratch stays below the im2col blocks' (the
 * networks' plans do not grow): its output tiles follow from the channels (grid_layout), up to
 * MAX_STRIP_TILES (3 -> 16, 3 -> 32).  The lanes path (few outputs) has its own budget below, and
 * its scratch does pass the im2col blocks' (~420 KiB a thread for 16 -> 3: plans +0.3-0.5 MiB). */
#define STRIP_BYTES (160u * 1024u)
#define MIN_STRIP_TILES 4
#define MAX_STRIP_TILES 32
/* Output tile rows per band: the band's first q - 1 input tile rows are transformed again by the
 * band above, (q - 1) / 16 more input transforms for 4 bands per 64 tile rows to share out. */
#define BAND_TILE_ROWS 16

#define SIXTH (1.0 / 6)
#define THIRD (1.0 / 3)
static const double G3[GRID_IN][GRID_SUB] = {
	{0.5, 0, 0}, {-0.5, -0.5, -0.5}, {-SIXTH, SIXTH, -SIXTH}, {SIXTH, THIRD, 2 * THIRD}, {0, 0, 1},
};

static int subs(const struct nst_conv_shape *shape) { return shape->kernel_h / GRID_SUB; }

bool nst_conv_grid_applies(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return !gemm->f16 && !gemm->q8 && shape->stride == 1 && shape->kernel_h == shape->kernel_w &&
	       shape->kernel_h % GRID_SUB == 0 && shape->kernel_h > GRID_SUB && shape->pad < shape->kernel_h;
}

/* The GEMM kernel for these outputs (unless they are few: the row mixes instead). */
static const struct nst_gemm_kernel *grid_gemm(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return nst_gemm_kernel_for_columns(gemm, (size_t)shape->out_channels);
}

/* Few outputs: the products along the tiles ("lanes", the row mix kernels). */
static bool lanes(const struct nst_conv_shape *shape) { return shape->out_channels <= NST_ROWMIX_NC; }

static size_t grid_k(const struct nst_conv_shape *shape) {
	return (size_t)subs(shape) * (size_t)subs(shape) * (size_t)shape->in_channels;
}

/* Floats of one position xi's packed weights. */
static size_t per_xi_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	const struct nst_gemm_kernel *g = grid_gemm(gemm, shape);
	const size_t k = grid_k(shape), n = (size_t)shape->out_channels;
	return lanes(shape) ? k * NST_ROWMIX_NC : nst_gemm_kernel_packed_floats(g, k, n);
}

size_t nst_conv_grid_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	return GRID_XI * per_xi_floats(gemm, shape) + (size_t)shape->out_channels; /* then the bias */
}

size_t nst_conv_grid_staging_floats(const struct nst_conv_shape *shape) {
	return grid_k(shape) * (size_t)shape->out_channels; /* one position's U [K][cout] */
}

/* Channels below a vector's (8 floats) are transformed along tiles and channels together (the
 * "flat" paths below): the transforms vectorize along the channels, and 3 alone would leave the
 * vectors mostly empty (the network's 3 -> 16 input and 16 -> 3 output). */
#define FEW_CHANNELS 8
#define PICTURE_CHANNELS 3       /* RGB: the few channels of a network's first layer */
/* Floats between the planes of the transform positions beyond their contents: one cache line, so
 * that the 25 planes do not fall on the same L1 sets when a plane is a power of two of lines. */
#define PLANE_SKEW 16

/* The lanes path's tile columns (lanes) per strip: a multiple of this, at most LANES_MAX_COLUMNS,
 * as many as keep its ring of V within LANES_RING_BYTES (64 for the 16 -> 3 layer: 300 KiB, twice
 * STRIP_BYTES: at 32 columns the per-row work (splits, calls) and the 2-vector row mixes cost the
 * layer 10% more, measured at 512 px). */
#define LANES_COLUMN_STEP 16
#define LANES_MAX_COLUMNS 64
#define LANES_RING_BYTES (2u * STRIP_BYTES)
/* A cache line's floats (64 bytes), the prefetches' step */
#define CACHE_LINE_FLOATS 16
/* size_t offsets in the float scratch: floats per offset */
#define OFFSET_FLOATS ((sizeof(size_t) + sizeof(float) - 1) / sizeof(float))

/* A thread's scratch, measured and placed by the same code: offsets (floats) and plane strides. */
struct grid_layout {
	size_t tiles;        /* output tile columns of a strip, at most */
	size_t columns;      /* input tile columns of a strip: its tiles and the q - 1 to their right */
	size_t pixels;       /* a band row's pixels: 3 per column and the last tile's 2 more */
	size_t rows;         /* band [5][pixels][cin], or (few cin) phases [5][3][columns + 1][cin] */
	size_t v, v_plane;   /* V' [25][columns q + band rows - 1][cin], skewed (+ PLANE_SKEW per plane) */
	size_t flat, flat_plane; /* few cin: one tile row's transforms [25][columns][cin] */
	size_t m, m_plane;   /* M [25][tiles][cout] */
	size_t y, y_plane;   /* few cout: one tile row's outputs [3][3][tiles][cout] */
	size_t bias;         /* few cout: the bias repeated per tile [tiles][cout] (lanes: [cout][columns]) */
	/* lanes: columns is the lanes of a row (input tile columns, the last q - 1 read by no output) */
	size_t phase;        /* lanes: a phase row's floats, columns + 1 read by the transform, and a skew */
	size_t planar, planar_slot; /* lanes: 5 picture rows [5][cin][3][phase] (padded row y in slot y mod 5) */
	size_t ring_slot;    /* lanes: V [q][25][v_plane], v_plane = cin columns + skew */
	size_t offsets;      /* lanes: the row mix's K offsets (size_t) */
	size_t total;
};

/* The lanes path's layout. */
static struct grid_layout lanes_layout(const struct nst_conv_shape *shape) {
	const size_t q = (size_t)subs(shape), cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels;
	struct grid_layout l = {0};
	const size_t fit = LANES_RING_BYTES / (q * GRID_XI * cin * sizeof(float));
	const size_t least = (q - 1 + MIN_STRIP_TILES + LANES_COLUMN_STEP - 1) / LANES_COLUMN_STEP * LANES_COLUMN_STEP;
	l.columns = fit / LANES_COLUMN_STEP * LANES_COLUMN_STEP;
	l.columns = l.columns > LANES_MAX_COLUMNS ? LANES_MAX_COLUMNS : l.columns < least ? least : l.columns;
	l.tiles = l.columns - (q - 1);
	l.phase = l.columns + PLANE_SKEW;
	l.planar = 0;
	l.planar_slot = cin * GRID_OUT * l.phase;
	l.v = l.planar + GRID_IN * l.planar_slot;
	l.v_plane = cin * l.columns + PLANE_SKEW;
	l.ring_slot = GRID_XI * l.v_plane;
	l.offsets = l.v + q * l.ring_slot; /* aligned for size_t where it is used (lanes_offsets) */
	l.m = l.offsets + (grid_k(shape) + 1) * OFFSET_FLOATS;
	l.m = (l.m + PLANE_SKEW - 1) / PLANE_SKEW * PLANE_SKEW;
	l.m_plane = cout * l.columns + PLANE_SKEW;
	l.y = l.m + GRID_XI * l.m_plane;
	l.y_plane = cout * l.columns;
	l.bias = l.y + GRID_OUT * GRID_OUT * l.y_plane;
	l.total = l.bias + cout * l.columns;
	return l;
}

static struct grid_layout grid_layout(const struct nst_conv_shape *shape) {
	if (lanes(shape))
		return lanes_layout(shape);
	const size_t q = (size_t)subs(shape), cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels;
	struct grid_layout l = {0};
	/* 25 (V' + M) floats <= STRIP_BYTES: (columns q + BAND_TILE_ROWS - 1) cin + tiles cout per plane */
	const size_t plane_floats = STRIP_BYTES / (GRID_XI * sizeof(float));
	const size_t fixed = ((q - 1) * q + BAND_TILE_ROWS - 1) * cin, per_tile = q * cin + cout;
	l.tiles = plane_floats > fixed ? (plane_floats - fixed) / per_tile : 0;
	l.tiles = l.tiles < MIN_STRIP_TILES ? MIN_STRIP_TILES : l.tiles > MAX_STRIP_TILES ? MAX_STRIP_TILES : l.tiles;
	l.columns = l.tiles + q - 1;
	l.pixels = GRID_OUT * l.columns + (GRID_IN - GRID_OUT);
	const size_t band = GRID_IN * l.pixels * cin, phases = GRID_IN * GRID_OUT * (l.columns + 1) * cin;
	l.rows = 0;
	l.v = l.rows + (cin < FEW_CHANNELS ? phases : band);
	/* the last column's rows reach the band's last input tile row, BAND_TILE_ROWS + q - 2 */
	l.v_plane = (l.columns * q + BAND_TILE_ROWS - 1) * cin + PLANE_SKEW;
	l.flat = l.v + GRID_XI * l.v_plane;
	l.flat_plane = cin < FEW_CHANNELS ? l.columns * cin + PLANE_SKEW : 0;
	l.m = l.flat + GRID_XI * l.flat_plane;
	l.m_plane = l.tiles * cout + PLANE_SKEW;
	l.y = l.m + GRID_XI * l.m_plane;
	l.y_plane = cout < FEW_CHANNELS ? l.tiles * cout + PLANE_SKEW : 0;
	l.bias = l.y + GRID_OUT * GRID_OUT * l.y_plane;
	l.total = l.bias + (cout < FEW_CHANNELS ? l.tiles * cout : 0);
	return l;
}

size_t nst_conv_grid_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape) {
	(void)gemm;
	return grid_layout(shape).total;
}

void nst_conv_grid_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                        const float *bias, float *staging, float *packed) {
	assert(nst_conv_grid_applies(gemm, shape));
	const struct nst_gemm_kernel *g = grid_gemm(gemm, shape);
	const bool few = lanes(shape);
	const size_t q = (size_t)subs(shape), cin = (size_t)shape->in_channels, cout = (size_t)shape->out_channels;
	const size_t kside = (size_t)shape->kernel_w, k = grid_k(shape), per_xi = per_xi_floats(gemm, shape);
	float *u = staging; // [K][cout], K = [b][a][cin]
	for (size_t xi = 0; xi < GRID_XI; xi++) {
			const size_t y = xi / GRID_IN, x = xi % GRID_IN;
			for (size_t b = 0; b < q; b++)
				for (size_t a = 0; a < q; a++) {
					for (size_t i = 0; i < cin; i++)
						for (size_t o = 0; o < cout; o++) {
							double s = 0.0;
							for (size_t r = 0; r < GRID_SUB; r++)
								for (size_t c = 0; c < GRID_SUB; c++) {
									const size_t tap = (GRID_SUB * a + r) * kside + GRID_SUB * b + c;
									s += G3[y][r] * G3[x][c] * (double)hwio[(tap * cin + i) * cout + o];
								}
							u[((b * q + a) * cin + i) * cout + o] = (float)s;
						}
				}
			float *dst = packed + xi * per_xi;
			if (few) /* [K][NST_ROWMIX_NC], the columns from cout on zeros */
				for (size_t i = 0; i < k; i++)
					for (size_t o = 0; o < NST_ROWMIX_NC; o++)
						dst[i * NST_ROWMIX_NC + o] = o < cout ? u[i * cout + o] : 0.0f;
			else
				nst_gemm_kernel_pack(g, k, cout, u, cout, NULL, dst);
		}
	for (size_t o = 0; o < cout; o++)
		packed[GRID_XI * per_xi + o] = bias ? bias[o] : 0.0f;
}

struct grid_task {
	const struct nst_engine *engine;
	const struct nst_conv_shape *shape;
	const struct nst_gemm_kernel *gemm; /* the GEMM kernel for cout columns */
	const struct nst_wino_kernel *wino; /* the transforms beside them */
	struct grid_layout layout;
	int h, w;                           /* input size */
	int oh, ow;                         /* output size: h + 2 pad - k + 1, w + 2 pad - k + 1 */
	int q;                              /* sub-kernels per side */
	size_t tiles_y, tiles_x;
	size_t strip_tiles, strips;         /* tile columns per strip (at most layout.tiles) */
	size_t band_rows, bands;            /* tile rows per band */
	size_t per_xi;
	const float *in;                    /* [h][w][cin] */
	const float *packed;                /* [25] packed U (per_xi floats each), then bias [cout] */
	float *out;                         /* [oh][ow][cout] */
	struct nst_f32_minmax_params clamp;
};

/* The padded input's index i (0 <= i) on a side of n pixels and padding pad: the picture's index,
 * or -1 for a zero (zero padding, or beyond the padded picture, whose outputs are not kept). */
static int source_index(int i, int n, int pad, bool reflect) {
	const int s = i - pad;
	if (s >= 0 && s < n)
		return s;
	if (!reflect || s >= n + pad)
		return -1;
	return nst_reflect_index(s, n);
}

static void copy_pixel(float *dst, const float *src, size_t c) {
	for (size_t i = 0; i < c; i++)
		dst[i] = src ? src[i] : 0.0f;
}

/* n runs of c floats from src to dst, src_step and dst_step floats apart (c a constant after
 * inlining: the few-channel paths' per-pixel moves were the 3 -> 16 layer's hot loop as calls). */
static inline __attribute__((always_inline)) void move_runs(float *dst, size_t dst_step, const float *src,
                                                            size_t src_step, size_t n, size_t c) {
	for (size_t j = 0; j < n; j++)
#pragma GCC unroll 4
		for (size_t i = 0; i < c; i++)
			dst[j * dst_step + i] = src[j * src_step + i];
}

/* move_runs, compiled for a picture's channels (the network's first layer) and for any. */
static void move_pixels(float *dst, size_t dst_step, const float *src, size_t src_step, size_t n, size_t c) {
	if (c == PICTURE_CHANNELS)
		move_runs(dst, dst_step, src, src_step, n, PICTURE_CHANNELS);
	else
		move_runs(dst, dst_step, src, src_step, n, c);
}

/* The band: padded input row y of input tile row r, `used` pixels from the strip's first one at
 * picture column px0, into dst: whole ([pixels][cin], the inner run in one copy) or, with few
 * channels, split in phases ([3][columns + 1][cin]: pixel x in phase x mod 3 at x / 3). */
static void band_row(const struct grid_task *t, int sy, int px0, size_t used, bool phases, float *dst) {
	const size_t cin = (size_t)t->shape->in_channels, phase = (t->layout.columns + 1) * cin;
	const float *src = sy < 0 ? NULL : t->in + (size_t)sy * (size_t)t->w * cin; // the input row [w][cin]
	const int pad = t->shape->pad;
	/* the band's pixels [inner0, inner1) are the picture's px0 + x: moved in runs, the rest one by one */
	size_t inner0 = 0, inner1 = 0;
	if (src) {
		inner0 = px0 >= 0 ? 0 : (size_t)-px0;
		inner1 = px0 + (int)used <= t->w ? used : (size_t)(t->w - px0);
		inner1 = inner1 > inner0 ? inner1 : inner0;
	}
	if (inner1 > inner0 && !phases)
		memcpy(dst + inner0 * cin, src + (size_t)(px0 + (int)inner0) * cin, (inner1 - inner0) * cin * sizeof(float));
	for (size_t p = 0; p < GRID_OUT && inner1 > inner0 && phases; p++) { /* phase p takes pixels p, p + 3, ... */
		const size_t x0 = inner0 + (p + GRID_OUT - inner0 % GRID_OUT) % GRID_OUT; /* the first x = p mod 3 */
		if (x0 < inner1)
			move_pixels(dst + p * phase + (x0 / GRID_OUT) * cin, cin, src + (size_t)(px0 + (int)x0) * cin,
			            GRID_OUT * cin, (inner1 - x0 + GRID_OUT - 1) / GRID_OUT, cin);
	}
	for (size_t x = 0; x < used; x++) { /* the padding (or the whole row of zeros) */
		if (x == inner0 && inner1 > inner0)
			x = inner1;
		if (x >= used)
			break;
		const int sx = src ? source_index((int)x + px0 + pad, t->w, pad, t->shape->reflect) : -1;
		float *d = phases ? dst + (x % GRID_OUT) * phase + (x / GRID_OUT) * cin : dst + x * cin;
		copy_pixel(d, sx < 0 ? NULL : src + (size_t)sx * cin, cin);
	}
}

/* Transforms input tile row r of the strip of nt tiles from tile column x0 into V' (row rr of the
 * band: at (column q + rr) cin of each position's plane), as B^T d B of each column's 5 x 5 pixels (the wino33 input kernel,
 * vectorized along the channels): column by column, or with few channels all the columns' channels
 * at once from the band's phases (pixel 3 j + x of column j is phase x mod 3 at j + x / 3), then
 * moved into their slots. */
static void input_row(const struct grid_task *t, size_t r, size_t rr, size_t x0, size_t nt, float *scratch) {
	const struct grid_layout *l = &t->layout;
	const size_t cin = (size_t)t->shape->in_channels, q = (size_t)t->q;
	const size_t columns = nt + q - 1, used = GRID_OUT * columns + (GRID_IN - GRID_OUT); /* of the band's pixels */
	const bool few = cin < FEW_CHANNELS;
	const size_t row_floats = few ? GRID_OUT * (l->columns + 1) * cin : l->pixels * cin;
	const int px0 = GRID_OUT * (int)x0 - t->shape->pad; /* the picture column of the band's first pixel */
	float *rows = scratch + l->rows, *v = scratch + l->v;
	int sy[GRID_IN]; /* the picture rows, -1 for zeros */
	bool in_place = !few && px0 >= 0 && px0 + (int)used <= t->w; /* no padding column in the strip */
	for (size_t y = 0; y < GRID_IN; y++) {
		sy[y] = source_index((int)(GRID_OUT * r + y), t->h, t->shape->pad, t->shape->reflect);
		in_place = in_place && sy[y] >= 0;
	}
	/* The band's rows [pixels][cin] (few: phases), or, inside the picture, the picture's own rows. */
	const float *band[GRID_IN];
	for (size_t y = 0; y < GRID_IN; y++) {
		if (in_place) {
			band[y] = t->in + ((size_t)sy[y] * (size_t)t->w + (size_t)px0) * cin;
		} else {
			band_row(t, sy[y], px0, used, few, rows + y * row_floats);
			band[y] = rows + y * row_floats;
		}
	}
	const float *tile[GRID_XI]; /* [5][5]: the pixels (few: the phases) */
	if (!few) {
		for (size_t col = 0; col < columns; col++) {
			for (size_t y = 0; y < GRID_IN; y++)
				for (size_t x = 0; x < GRID_IN; x++)
					tile[y * GRID_IN + x] = band[y] + (GRID_OUT * col + x) * cin;
			t->wino->input33(cin, tile, v + (col * q + rr) * cin, l->v_plane);
		}
		return;
	}
	const size_t phase = (l->columns + 1) * cin;
	for (size_t y = 0; y < GRID_IN; y++)
		for (size_t x = 0; x < GRID_IN; x++)
			tile[y * GRID_IN + x] = band[y] + (x % GRID_OUT) * phase + (x / GRID_OUT) * cin;
	float *flat = scratch + l->flat; // [25][columns][cin]
	t->wino->input33(columns * cin, tile, flat, l->flat_plane);
	for (size_t xi = 0; xi < GRID_XI; xi++)
		move_pixels(v + xi * l->v_plane + rr * cin, q * cin, flat + xi * l->flat_plane, cin, columns, cin);
}

/* M[xi][tile][cout] = V'[xi] U[xi] for the strip's nt tiles of the band's tile row rr. */
static void products(const struct grid_task *t, size_t rr, size_t nt, const float *scratch, float *m) {
	const struct grid_layout *l = &t->layout;
	const size_t cin = (size_t)t->shape->in_channels, cout = (size_t)t->shape->out_channels, q = (size_t)t->q;
	const size_t k = grid_k(t->shape), lda = q * cin;
	const struct nst_f32_minmax_params none = {-INFINITY, INFINITY};
	for (size_t xi = 0; xi < GRID_XI; xi++) {
		const float *a = scratch + l->v + xi * l->v_plane + rr * cin, *w = t->packed + xi * t->per_xi;
		nst_im2col_gemm(t->gemm, nt, k, a, lda, w, m + xi * l->m_plane, cout, &none);
	}
}

/* Y = A^T M A + bias, clamped, for the strip's nt tiles of output tile row ty (first column x0):
 * the wino33 output kernel, vectorized along the channels: tile by tile, or with few channels all
 * the tiles' channels at once into 3 x 3 planes, then moved to their pixels. */
static void output_row(const struct grid_task *t, size_t ty, size_t x0, size_t nt, float *scratch) {
	const struct grid_layout *l = &t->layout;
	const size_t cout = (size_t)t->shape->out_channels, row = (size_t)t->ow * cout;
	const float *bias = t->packed + GRID_XI * t->per_xi, *m = scratch + l->m;
	const size_t oy = GRID_OUT * ty, ny = (size_t)t->oh - oy < GRID_OUT ? (size_t)t->oh - oy : GRID_OUT;
	if (cout >= FEW_CHANNELS) {
		for (size_t j = 0; j < nt; j++) {
			const size_t ox = GRID_OUT * (x0 + j), nx = (size_t)t->ow - ox < GRID_OUT ? (size_t)t->ow - ox : GRID_OUT;
			t->wino->output33(cout, m + j * cout, l->m_plane, bias, &t->clamp, t->out + oy * row + ox * cout, row, cout,
			                  ny, nx);
		}
		return;
	}
	float *y = scratch + l->y, *biases = scratch + l->bias; // [3][3][tiles][cout], [tiles][cout]
	for (size_t j = 0; j < nt; j++)
		copy_pixel(biases + j * cout, bias, cout);
	t->wino->output33(nt * cout, m, l->m_plane, biases, &t->clamp, y, GRID_OUT * l->y_plane, l->y_plane, GRID_OUT,
	                  GRID_OUT);
	const size_t ox0 = GRID_OUT * x0; /* the strip's first output column */
	for (size_t a = 0; a < ny; a++)
		for (size_t b = 0; b < GRID_OUT; b++) { /* column b of every tile: those inside the picture */
			const size_t inside = ox0 + b < (size_t)t->ow ? ((size_t)t->ow - ox0 - b + GRID_OUT - 1) / GRID_OUT : 0;
			move_pixels(t->out + (oy + a) * row + (ox0 + b) * cout, GRID_OUT * cout,
			            y + (a * GRID_OUT + b) * l->y_plane, cout, inside < nt ? inside : nt, cout);
		}
}

static void grid_worker(void *context, size_t slot, size_t item) {
	const struct grid_task *t = context;
	const size_t q = (size_t)t->q;
	float *scratch = nst_engine_scratch(t->engine, slot); // grid_layout
	const size_t strip = item % t->strips, b = item / t->strips;
	const size_t x0 = strip * t->strip_tiles, nt = t->tiles_x - x0 < t->strip_tiles ? t->tiles_x - x0 : t->strip_tiles;
	const size_t ty0 = b * t->band_rows, ty1 = ty0 + t->band_rows < t->tiles_y ? ty0 + t->band_rows : t->tiles_y;
	for (size_t r = ty0; r + 1 < ty0 + q; r++)
		input_row(t, r, r - ty0, x0, nt, scratch);
	for (size_t ty = ty0; ty < ty1; ty++) {
		input_row(t, ty + q - 1, ty + q - 1 - ty0, x0, nt, scratch);
		products(t, ty - ty0, nt, scratch, scratch + t->layout.m);
		output_row(t, ty, x0, nt, scratch);
	}
}


/* The lanes path (few outputs). */

/* Padded picture row y of the strip (the band's pixels from picture column px0, `used` of them)
 * into channel planes of its phases: dst[c][x mod 3][x / 3] = pixel x's channel c, zeros for the
 * zero padding and from the used pixels to the transform's last read (index `width`: the
 * transform runs on `width` lanes).  The pixels
 * inside the picture by the transpose kernel, one phase at a time; the padding one by one. */
static void planar_row(const struct grid_task *t, int y, int px0, size_t used, size_t width, float *dst) {
	const struct grid_layout *l = &t->layout;
	const size_t cin = (size_t)t->shape->in_channels, phase = l->phase, channel = GRID_OUT * phase;
	const int sy = source_index(y, t->h, t->shape->pad, t->shape->reflect);
	if (sy < 0) {
		memset(dst, 0, l->planar_slot * sizeof(float));
		return;
	}
	const float *row = t->in + (size_t)sy * (size_t)t->w * cin; // [w][cin]
	/* the used pixels inside the picture: [in0, in1) */
	const size_t in0 = px0 >= 0 ? 0 : (size_t)-px0;
	size_t in1 = px0 + (int)used <= t->w ? used : (size_t)(t->w - px0);
	in1 = in1 > in0 ? in1 : in0;
	for (size_t p = 0; p < GRID_OUT; p++) {
		const size_t i0 = in0 > p ? (in0 - p + GRID_OUT - 1) / GRID_OUT : 0; /* the first inside pixel 3 i + p */
		const size_t i1 = in1 > p ? (in1 - p + GRID_OUT - 1) / GRID_OUT : 0;
		const size_t count = used > p ? (used - p + GRID_OUT - 1) / GRID_OUT : 0; /* the phase's used pixels */
		float *d = dst + p * phase;
		if (i1 > i0)
			t->wino->transpose(i1 - i0, cin, row + (size_t)(px0 + (int)(GRID_OUT * i0 + p)) * cin, GRID_OUT * cin,
			                   d + i0, channel);
		for (size_t i = 0; i < count; i++) { /* the padding */
			if (i == i0 && i1 > i0)
				i = i1;
			if (i >= count)
				break;
			const int px = px0 + (int)(GRID_OUT * i + p);
			const int sx = source_index(px + t->shape->pad, t->w, t->shape->pad, t->shape->reflect);
			for (size_t c = 0; c < cin; c++)
				d[c * channel + i] = sx < 0 ? 0.0f : row[(size_t)sx * cin + c];
		}
		for (size_t c = 0; c < cin; c++) /* past the used pixels, as far as the transform reads */
			for (size_t i = count; i <= width; i++)
				d[c * channel + i] = 0.0f;
	}
}

/* The lanes the input transform runs on for a strip of nt tiles: its nt + q - 1 input tile columns
 * in whole steps (the last strip and narrow pictures have fewer than the layout's columns). */
static size_t lanes_width(const struct grid_layout *l, size_t nt, size_t q) {
	const size_t w = (nt + q - 1 + LANES_COLUMN_STEP - 1) / LANES_COLUMN_STEP * LANES_COLUMN_STEP;
	return w < l->columns ? w : l->columns;
}

/* Input tile row r of the strip (first tile column x0) into its ring slot r mod q of V: the picture
 * rows it reads that are not split yet first (*next_row: the first padded row not split), then the
 * transform of every column, one channel at a time. */
static void lanes_input_row(const struct grid_task *t, size_t r, int *next_row, size_t x0, size_t nt, float *scratch) {
	const struct grid_layout *l = &t->layout;
	const size_t cin = (size_t)t->shape->in_channels, q = (size_t)t->q;
	const size_t used = GRID_OUT * (nt + q - 1) + (GRID_IN - GRID_OUT); /* the pixels the strip's tiles read */
	const size_t width = lanes_width(l, nt, q);
	const int px0 = GRID_OUT * (int)x0 - t->shape->pad;
	float *planar = scratch + l->planar;
	for (; *next_row < (int)(GRID_OUT * r + GRID_IN); (*next_row)++)
		planar_row(t, *next_row, px0, used, width, planar + (size_t)(*next_row % GRID_IN) * l->planar_slot);
	/* The next tile row's new picture rows into the cache while this one is transformed: the split
	 * reads every third pixel, which the hardware's prefetchers follow poorly. */
	for (int y = *next_row; y < *next_row + GRID_OUT; y++) {
		const int sy = source_index(y, t->h, t->shape->pad, t->shape->reflect);
		const int x0p = px0 < 0 ? 0 : px0, x1p = px0 + (int)used < t->w ? px0 + (int)used : t->w;
		for (int x = x0p; sy >= 0 && x < x1p; x += (int)(CACHE_LINE_FLOATS / cin > 0 ? CACHE_LINE_FLOATS / cin : 1))
			__builtin_prefetch(t->in + ((size_t)sy * (size_t)t->w + (size_t)x) * cin);
	}
	const float *rows[GRID_IN]; /* the tile's picture rows' planes */
	for (size_t y = 0; y < GRID_IN; y++)
		rows[y] = planar + ((GRID_OUT * r + y) % GRID_IN) * l->planar_slot;
	float *v = scratch + l->v + (r % q) * l->ring_slot;
	const size_t channel = GRID_OUT * l->phase;
	for (size_t c = 0; c < cin; c++) {
		const float *tile[GRID_XI]; /* pixel (y, x) of column j: phase x mod 3 at j + x / 3 */
		for (size_t y = 0; y < GRID_IN; y++)
			for (size_t x = 0; x < GRID_IN; x++)
				tile[y * GRID_IN + x] = rows[y] + c * channel + (x % GRID_OUT) * l->phase + x / GRID_OUT;
		t->wino->input33(width, tile, v + c * l->columns, l->v_plane);
	}
}

/* The row mix's offsets at p, rounded up to a size_t's alignment (a slot's scratch starts at any
 * float: the engine's slots are the largest layer's scratch apart; the layout leaves a size_t). */
static size_t *lanes_offsets(float *p) {
	const uintptr_t a = (uintptr_t)p, align = (uintptr_t)_Alignof(size_t);
	return (size_t *)(void *)((a + align - 1) / align * align);
}

/* M[xi][o][j] for the strip's nt tiles of output tile row ty: the row mix of the K = q^2 cin rows
 * (b, a, i) -> ring slot (ty + a) mod q, channel i, from column b (the weights' order). */
static void lanes_products(const struct grid_task *t, size_t ty, size_t nt, float *scratch) {
	const struct grid_layout *l = &t->layout;
	const size_t cin = (size_t)t->shape->in_channels, cout = (size_t)t->shape->out_channels, q = (size_t)t->q;
	size_t *offsets = lanes_offsets(scratch + l->offsets); // [K]
	for (size_t b = 0, i = 0; b < q; b++)
		for (size_t a = 0; a < q; a++)
			for (size_t c = 0; c < cin; c++, i++)
				offsets[i] = ((ty + a) % q) * l->ring_slot + c * l->columns + b;
	const float *v = scratch + l->v;
	float *m = scratch + l->m;
	for (size_t xi = 0; xi < GRID_XI; xi++)
		t->wino->rowmix(nt, cout, grid_k(t->shape), v + xi * l->v_plane, offsets, t->packed + xi * t->per_xi,
		                m + xi * l->m_plane, l->columns);
}

/* Y = A^T M A + bias, clamped, along the tiles of each output channel, then to the output's pixels. */
static void lanes_output_row(const struct grid_task *t, size_t ty, size_t x0, size_t nt, float *scratch) {
	const struct grid_layout *l = &t->layout;
	const size_t cout = (size_t)t->shape->out_channels, row = (size_t)t->ow * cout;
	const float *m = scratch + l->m, *biases = scratch + l->bias; // [25][cout][columns], [cout][columns]
	float *y = scratch + l->y;                                     // [3][3][cout][columns]
	for (size_t o = 0; o < cout; o++)
		t->wino->output33(nt, m + o * l->columns, l->m_plane, biases + o * l->columns, &t->clamp, y + o * l->columns,
		                  GRID_OUT * l->y_plane, l->y_plane, GRID_OUT, GRID_OUT);
	const size_t oy = GRID_OUT * ty, ny = (size_t)t->oh - oy < GRID_OUT ? (size_t)t->oh - oy : GRID_OUT;
	const size_t ox0 = GRID_OUT * x0; /* the strip's first output column */
	for (size_t a = 0; a < ny; a++)
		for (size_t b = 0; b < GRID_OUT; b++) { /* column b of every tile: those inside the picture */
			const size_t inside = ox0 + b < (size_t)t->ow ? ((size_t)t->ow - ox0 - b + GRID_OUT - 1) / GRID_OUT : 0;
			const float *src = y + (a * GRID_OUT + b) * l->y_plane; // [cout][columns]
			float *dst = t->out + (oy + a) * row + (ox0 + b) * cout;
			for (size_t j = 0; j < (inside < nt ? inside : nt); j++)
				for (size_t o = 0; o < cout; o++)
					dst[j * GRID_OUT * cout + o] = src[o * l->columns + j];
		}
}

static void lanes_worker(void *context, size_t slot, size_t item) {
	const struct grid_task *t = context;
	const size_t q = (size_t)t->q, cout = (size_t)t->shape->out_channels;
	float *scratch = nst_engine_scratch(t->engine, slot); // lanes_layout
	const size_t strip = item % t->strips, b = item / t->strips;
	const size_t x0 = strip * t->strip_tiles, nt = t->tiles_x - x0 < t->strip_tiles ? t->tiles_x - x0 : t->strip_tiles;
	const size_t ty0 = b * t->band_rows, ty1 = ty0 + t->band_rows < t->tiles_y ? ty0 + t->band_rows : t->tiles_y;
	const float *bias = t->packed + GRID_XI * t->per_xi;
	for (size_t o = 0; o < cout; o++)
		for (size_t j = 0; j < nt; j++)
			scratch[t->layout.bias + o * t->layout.columns + j] = bias[o];
	int next_row = (int)(GRID_OUT * ty0); /* the first padded picture row the band reads */
	for (size_t r = ty0; r + 1 < ty0 + q; r++)
		lanes_input_row(t, r, &next_row, x0, nt, scratch);
	for (size_t ty = ty0; ty < ty1; ty++) {
		lanes_input_row(t, ty + q - 1, &next_row, x0, nt, scratch);
		lanes_products(t, ty, nt, scratch);
		lanes_output_row(t, ty, x0, nt, scratch);
	}
}

static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

void nst_conv2d_grid(const struct nst_engine *engine, const struct nst_conv_shape *shape, int h, int w,
                     const float *in, const float *packed, float *out, const struct nst_conv_epilogue *epilogue) {
	assert(nst_conv_grid_applies(engine->gemm, shape));
	assert(!epilogue || (!epilogue->mask_out && !epilogue->mask_in && !epilogue->addend));
	assert(nst_conv_grid_scratch_floats(engine->gemm, shape) <= engine->scratch_floats);
	const struct nst_gemm_kernel *g = grid_gemm(engine->gemm, shape);
	const int oh = nst_conv_out_size(h, shape->kernel_h, 1, shape->pad), ow = nst_conv_out_size(w, shape->kernel_w, 1, shape->pad);
	if (oh <= 0 || ow <= 0)
		return;
	struct grid_task t = {
		.engine = engine,
		.shape = shape,
		.gemm = g,
		.wino = nst_wino_kernel_for(g),
		.layout = grid_layout(shape),
		.h = h,
		.w = w,
		.oh = oh,
		.ow = ow,
		.q = subs(shape),
		.tiles_y = ceil_div((size_t)oh, GRID_OUT),
		.tiles_x = ceil_div((size_t)ow, GRID_OUT),
		.per_xi = per_xi_floats(engine->gemm, shape),
		.in = in,
		.packed = packed,
		.out = out,
		.clamp = {epilogue ? epilogue->min : -INFINITY, epilogue ? epilogue->max : INFINITY},
	};
	/* Strips and bands of even sizes, so that the threads' items weigh alike. */
	t.strips = ceil_div(t.tiles_x, t.layout.tiles);
	t.strip_tiles = ceil_div(t.tiles_x, t.strips);
	t.strips = ceil_div(t.tiles_x, t.strip_tiles);
	t.bands = ceil_div(t.tiles_y, BAND_TILE_ROWS);
	t.band_rows = ceil_div(t.tiles_y, t.bands);
	t.bands = ceil_div(t.tiles_y, t.band_rows);
	nst_parallel_for(engine, t.strips * t.bands, lanes(shape) ? lanes_worker : grid_worker, &t);
}
