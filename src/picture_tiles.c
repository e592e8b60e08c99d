/*
 * Tiled high resolution (include/nst.h, "Tiled high resolution"): the schedule of tiles and their
 * blend weights, the memory plan of a tiled run, and the driver that optimizes the picture tile by
 * tile with one session planned for the tile size.
 *
 * Memory.  One arena, laid out by one function for planning and for the run: the driver's state,
 * the picture ([H][W][3] float32, the only whole-picture buffer), one tile's pixels, then the tile
 * session's own arena.  The style pictures are read region by region (crops of at most the tile
 * size), so no buffer of the session grows with the picture.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "picture_tiles.h"

#define DEFAULT_SWEEPS 2
#define MAX_SWEEPS 64
#define DEFAULT_OVERLAP_DIVISOR 4   /* overlap = tile / 4 unless given */
#define MAX_OVERLAP_DIVISOR 2       /* overlap at most tile / 2 */
#define CROSSFADE_DIVISOR 2         /* crossfades half the overlap wide: less of the picture is a mix of two tiles */
#define RANDOM_INIT_SCALE 1e-3      /* as nst_session_prepare's NST_INIT_RANDOM */
#define PI 3.14159265358979323846


static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }
static int ceil_div(int a, int b) { return (a + b - 1) / b; }

/* ---------------------------------------------------------------------------------------------
 * The schedule along one axis: `count` tiles of `tile` pixels spread evenly over `length`, the
 * first at 0 and the last ending at length.
 * ------------------------------------------------------------------------------------------- */

/* Tiles of the even sweeps: the fewest whose neighbours overlap by at least `overlap`. */
static int axis_count(int length, int tile, int overlap) {
	if (length <= tile)
		return 1;
	return ceil_div(length - overlap, tile - overlap);
}

/* Odd sweeps: one tile more on a cut axis, so that their cut edges lie elsewhere. */
static int axis_count_odd(int even) { return even > 1 ? even + 1 : 1; }

static int axis_start(int length, int tile, int count, int i) {
	if (count <= 1)
		return 0;
	/* round(i * (length - tile) / (count - 1)) */
	const long long span = (long long)(length - tile);
	return (int)((2 * (long long)i * span + (count - 1)) / (2 * (long long)(count - 1)));
}

/* The crossfade between neighbours i and i+1 is centred on the middle of their overlap,
 * b_i = (start_{i+1} + start_i + tile) / 2, and is `width` pixels wide: each pixel belongs to one
 * tile, except within width / 2 of a b_i, and no tile is used within overlap / 2 of its cut edges
 * (where the zero padding of its network shows).  The width is the feather, narrowed where
 * overlaps or the distances between the b_i are smaller, so that crossfades never meet. */
static int axis_crossfade(int length, int tile, int count, int feather) {
	int width = feather;
	for (int i = 0; i + 1 < count; i++) {
		const int s0 = axis_start(length, tile, count, i), s1 = axis_start(length, tile, count, i + 1);
		width = min_int(width, s0 + tile - s1); /* the overlap */
		if (i + 2 < count)                     /* b_{i+1} - b_i = (s_{i+2} - s_i) / 2 */
			width = min_int(width, (axis_start(length, tile, count, i + 2) - s0) / 2);
	}
	return max_int(width, 1);
}

/* 0 before the crossfade around b_i, 1 after it, a raised cosine across (pixel centres u + 1/2). */
static double axis_rise(int length, int tile, int count, int width, int i, int u) {
	const double b = 0.5 * (double)(axis_start(length, tile, count, i + 1) + axis_start(length, tile, count, i) + tile);
	const double t = ((double)u + 0.5 - (b - 0.5 * width)) / (double)width;
	if (t <= 0.0)
		return 0.0;
	if (t >= 1.0)
		return 1.0;
	return 0.5 - 0.5 * cos(PI * t);
}

/* Tile i's share at u: rising after b_{i-1}, falling after b_i; the shares of all tiles sum to 1. */
static double axis_weight(int length, int tile, int count, int width, int i, int u) {
	const int start = axis_start(length, tile, count, i);
	if (u < start || u >= start + tile)
		return 0.0;
	const double rise = i > 0 ? axis_rise(length, tile, count, width, i - 1, u) : 1.0;
	const double fall = i + 1 < count ? 1.0 - axis_rise(length, tile, count, width, i, u) : 1.0;
	return rise * fall;
}

/* The sum of the shares of tiles 0..i at u (0 for i < 0). */
static double axis_weight_upto(int length, int tile, int count, int width, int i, int u) {
	double sum = 0.0;
	for (int j = 0; j <= i && j < count; j++)
		sum += axis_weight(length, tile, count, width, j, u);
	return sum;
}

int nst_tile_count(const struct nst_tile_plan *p, int sweep) {
	if (!p || sweep < 0)
		return 0;
	return p->cols[sweep % 2] * p->rows[sweep % 2];
}

struct nst_rect nst_tile_rect(const struct nst_tile_plan *p, int sweep, int index) {
	struct nst_rect r = {0, 0, 0, 0};
	if (!p || sweep < 0 || index < 0 || index >= nst_tile_count(p, sweep))
		return r;
	const int cols = p->cols[sweep % 2], rows = p->rows[sweep % 2];
	r.x = axis_start(p->width, p->tile_width, cols, index % cols);
	r.y = axis_start(p->height, p->tile_height, rows, index / cols);
	r.width = p->tile_width;
	r.height = p->tile_height;
	return r;
}

float nst_tile_weight(const struct nst_tile_plan *p, int sweep, int index, int x, int y) {
	if (!p || sweep < 0 || index < 0 || index >= nst_tile_count(p, sweep) || x < 0 || y < 0 || x >= p->width ||
	    y >= p->height)
		return 0.0f;
	const int cols = p->cols[sweep % 2], rows = p->rows[sweep % 2];
	const double wx = axis_weight(p->width, p->tile_width, cols, p->crossfade_x[sweep % 2], index % cols, x);
	const double wy = axis_weight(p->height, p->tile_height, rows, p->crossfade_y[sweep % 2], index / cols, y);
	return (float)(wx * wy);
}

/* ---------------------------------------------------------------------------------------------
 * Style regions: own rectangles of `step` pixels (a multiple of the alignment) partitioning the
 * style picture, each read through a crop `halo` wider on every side inside the picture.
 * ------------------------------------------------------------------------------------------- */

static int region_step(int tile, int halo, int alignment) { return (tile - 2 * halo) / alignment * alignment; }

static int region_count(int length, int tile, int step) { return length <= tile ? 1 : ceil_div(length, step); }

/* Region i along an axis: own [*own0, *own1), crop [*crop0, *crop1). */
static void region_axis(int length, int tile, int step, int halo, int i, int *own0, int *own1, int *crop0, int *crop1) {
	if (length <= tile) {
		*own0 = *crop0 = 0;
		*own1 = *crop1 = length;
		return;
	}
	*own0 = i * step;
	*own1 = min_int(length, *own0 + step);
	*crop0 = max_int(0, *own0 - halo);
	*crop1 = min_int(length, *own1 + halo);
}

/* ---------------------------------------------------------------------------------------------
 * Plan
 * ------------------------------------------------------------------------------------------- */

static size_t tile_rgb_pixels(const struct nst_tile_plan *p) {
	size_t n = (size_t)p->tile_width * (size_t)p->tile_height;
	for (int k = 0; k < p->session_problem.n_styles; k++) {
		const size_t s = (size_t)p->session_problem.style_width[k] * (size_t)p->session_problem.style_height[k];
		n = n > s ? n : s;
	}
	return n;
}

/* The arena of a tiled run, in order; measuring (base NULL) and real runs are identical. */
static void tiled_layout(struct nst_tiled *t, const struct nst_tile_plan *p, struct nst_arena *a) {
	nst_arena_alloc(a, sizeof(struct nst_tiled)); /* the driver's state, at offset 0 */
	size_t mark = a->used;
	t->picture = NST_ARENA_NEW(a, float, (size_t)p->width * (size_t)p->height * RGB); /* [H][W][3] */
	t->plan.picture_bytes = a->used - mark;
	mark = a->used;
	t->tile_x = NST_ARENA_NEW(a, float, (size_t)p->tile_width * (size_t)p->tile_height * RGB); /* [th][tw][3] */
	t->tile_rgb = NST_ARENA_NEW(a, uint8_t, tile_rgb_pixels(p) * RGB);                         /* [n][3] */
	t->plan.tile_bytes = a->used - mark;
	t->session_arena = NST_ARENA_NEW(a, uint8_t, p->session.total_bytes);
	t->plan.total_bytes = a->used;
}

/* The plan for tiles of side `side`; NST_ERR_INVALID_ARGUMENT if that side cannot work. */
static enum nst_status plan_side(const struct nst_weights *w, const struct nst_tile_options *to, int side,
                                 struct nst_tile_plan *p, struct nst_diag *diag) {
	const int min_side = 2 * p->style_halo + p->style_alignment;
	if (side < min_side)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "tiles of %d px are too small for these style layers (at least %d px: a %d px margin on "
		                "each side of the style regions)", side, min_side, p->style_halo);
	p->side = side;
	p->tile_width = min_int(side, p->width);
	p->tile_height = min_int(side, p->height);
	p->overlap = to->overlap > 0 ? to->overlap : side / DEFAULT_OVERLAP_DIVISOR;
	if (p->overlap < 1 || p->overlap > side / MAX_OVERLAP_DIVISOR)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "a tile overlap of %d px does not fit tiles of %d px (1..%d)",
		                p->overlap, side, side / MAX_OVERLAP_DIVISOR);
	p->feather = max_int(1, p->overlap / CROSSFADE_DIVISOR);
	p->cols[0] = axis_count(p->width, p->tile_width, p->overlap);
	p->rows[0] = axis_count(p->height, p->tile_height, p->overlap);
	p->cols[1] = axis_count_odd(p->cols[0]);
	p->rows[1] = axis_count_odd(p->rows[0]);
	for (int k = 0; k < 2; k++) {
		p->crossfade_x[k] = axis_crossfade(p->width, p->tile_width, p->cols[k], p->feather);
		p->crossfade_y[k] = axis_crossfade(p->height, p->tile_height, p->rows[k], p->feather);
	}
	if (p->cols[1] > NST_TILE_MAX_GRID || p->rows[1] > NST_TILE_MAX_GRID)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "tiles of %d px make a grid over %d tiles a side", side,
		                NST_TILE_MAX_GRID);
	p->sweeps = to->sweeps > 0 ? to->sweeps : DEFAULT_SWEEPS;

	/* The tile session: the tile's size, style crops of at most the tile, the tv weight scaled so
	 * that a tile's loss has the whole picture's balance (content and style are means, tv a sum). */
	p->session_options = p->whole_options;
	p->session_options.init = NST_INIT_CONTENT; /* replaced by the picture's pixels */
	p->session_options.original_colors = false; /* applied to the whole picture */
	p->session_options.tv_weight = (float)((double)p->whole_options.tv_weight * (double)p->width *
	                                       (double)p->height / ((double)p->tile_width * (double)p->tile_height));
	p->session_problem = p->whole;
	p->session_problem.width = p->tile_width;
	p->session_problem.height = p->tile_height;
	const int step = region_step(side, p->style_halo, p->style_alignment);
	p->style_regions = 0;
	for (int k = 0; k < p->whole.n_styles; k++) {
		p->session_problem.style_width[k] = min_int(side, p->whole.style_width[k]);
		p->session_problem.style_height[k] = min_int(side, p->whole.style_height[k]);
		p->style_regions += region_count(p->whole.style_width[k], side, step) *
		                    region_count(p->whole.style_height[k], side, step);
	}
	enum nst_status st = nst_plan(w, &p->session_options, &p->session_problem, &p->session, diag);
	if (st != NST_OK)
		return st;
	struct nst_tiled measure;
	struct nst_arena a;
	nst_arena_init(&a, NULL, 0);
	memset(&measure, 0, sizeof measure);
	tiled_layout(&measure, p, &a);
	p->picture_bytes = measure.plan.picture_bytes;
	p->tile_bytes = measure.plan.tile_bytes;
	p->total_bytes = measure.plan.total_bytes;
	return NST_OK;
}

enum nst_status nst_tile_plan(const struct nst_weights *w, const struct nst_options *o, const struct nst_problem *whole,
                              const struct nst_tile_options *to, struct nst_tile_plan *p, struct nst_diag *diag) {
	if (!w || !o || !whole || !to || !p)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_tile_plan: a required argument is NULL");
	if (to->tile < 0 || to->overlap < 0 || to->sweeps < 0 || to->sweeps > MAX_SWEEPS)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "tile options out of range (tile %d, overlap %d, sweeps %d of 1..%d)",
		                to->tile, to->overlap, to->sweeps, MAX_SWEEPS);
	if (to->tile == 0 && to->budget_bytes == 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "tiles need a tile size or a memory budget");
	memset(p, 0, sizeof *p);
	p->whole_options = *o;
	p->whole = *whole;
	p->width = whole->width;
	p->height = whole->height;
	/* The whole problem must be valid (sizes, options, layers) even though it is never planned. */
	struct nst_plan probe;
	struct nst_problem small = *whole;
	small.width = min_int(whole->width, NST_TILE_MIN);
	small.height = min_int(whole->height, NST_TILE_MIN);
	for (int k = 0; k < whole->n_styles; k++) {
		small.style_width[k] = min_int(whole->style_width[k], NST_TILE_MIN);
		small.style_height[k] = min_int(whole->style_height[k], NST_TILE_MIN);
	}
	enum nst_status st = nst_plan(w, o, &small, &probe, diag);
	if (st != NST_OK)
		return st;
	/* Every candidate uses the backend and precision this resolved to. */
	p->whole_options.backend = probe.backend;
	p->whole_options.precision = probe.precision;
	if ((st = nst_style_geometry(w, o, &p->style_alignment, &p->style_halo, diag)) != NST_OK)
		return st;

	if (to->tile > 0) {
		if ((st = plan_side(w, to, to->tile, p, diag)) != NST_OK)
			return st;
		if (to->budget_bytes && p->total_bytes > to->budget_bytes)
			return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT, "tiles of %d px need %.1f MiB, over the %.1f MiB budget",
			                to->tile, (double)p->total_bytes / (1024.0 * 1024.0),
			                (double)to->budget_bytes / (1024.0 * 1024.0));
		return NST_OK;
	}
	/* The largest side that fits: bytes grow with the side, so a binary search over multiples of
	 * NST_TILE_STEP between the smallest workable tile and the picture's long side. */
	const int min_side = max_int(NST_TILE_MIN, 2 * p->style_halo + p->style_alignment);
	int lo = ceil_div(min_side, NST_TILE_STEP), hi = ceil_div(max_int(whole->width, whole->height), NST_TILE_STEP);
	hi = max_int(lo, hi);
	int best = 0;
	struct nst_tile_plan candidate = *p;
	while (lo <= hi) {
		const int mid = lo + (hi - lo) / 2;
		candidate = *p;
		if ((st = plan_side(w, to, mid * NST_TILE_STEP, &candidate, diag)) != NST_OK)
			return st;
		if (candidate.total_bytes <= to->budget_bytes) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	if (best == 0) { /* the smallest tiles' plan stays in p: its total is the least budget that works */
		if ((st = plan_side(w, to, min_side, p, diag)) != NST_OK)
			return st;
		return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT, "even tiles of %d px need %.1f MiB, over the %.1f MiB budget%s",
		                min_side, (double)p->total_bytes / (1024.0 * 1024.0),
		                (double)to->budget_bytes / (1024.0 * 1024.0),
		                o->optimizer == NST_OPTIMIZER_LBFGS ? " (try --optimizer adam, or a smaller --history)"
		                                                    : " (the network's weights alone take part of it)");
	}
	return plan_side(w, to, best * NST_TILE_STEP, p, diag);
}

/* ---------------------------------------------------------------------------------------------
 * The driver
 * ------------------------------------------------------------------------------------------- */

enum nst_status nst_tiled_init(void *arena, size_t arena_bytes, const struct nst_weights *w,
                               const struct nst_tile_plan *plan, struct nst_tiled **out, struct nst_diag *diag) {
	if (!arena || !w || !plan || !out)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_tiled_init: a required argument is NULL");
	if ((uintptr_t)arena % NST_ARENA_ALIGNMENT)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "the arena must be %d-byte aligned", NST_ARENA_ALIGNMENT);
	struct nst_tiled tmp;
	memset(&tmp, 0, sizeof tmp);
	struct nst_arena a;
	nst_arena_init(&a, arena, arena_bytes);
	tiled_layout(&tmp, plan, &a);
	if (a.overflow || tmp.plan.total_bytes != plan->total_bytes)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "the arena has %zu bytes, the tiled plan needs %zu", arena_bytes,
		                plan->total_bytes);
	struct nst_tiled *t = arena; /* tiled_layout allocated it first, at offset 0 */
	*t = tmp;
	t->plan = *plan;
	const enum nst_status st = nst_session_init(t->session_arena, plan->session.total_bytes, w, &plan->session_options,
	                                            &plan->session_problem, &t->session, diag);
	if (st != NST_OK)
		return st;
	*out = t;
	return NST_OK;
}

void nst_tiled_release(struct nst_tiled *t) {
	if (t) {
		nst_session_release(t->session);
		t->session = NULL;
	}
}

enum nst_status nst_tiled_set_content(struct nst_tiled *t, const uint8_t *rgb) {
	if (!t || !rgb)
		return NST_ERR_INVALID_ARGUMENT;
	t->content = rgb;
	return NST_OK;
}

/* dst [r.height][r.width][channels] = the rectangle r of src [..][src_width][channels]. */
static void crop_bytes(const uint8_t *src, int src_width, const struct nst_rect *r, uint8_t *dst) {
	const size_t row = (size_t)r->width * RGB;
	for (int y = 0; y < r->height; y++)
		memcpy(dst + (size_t)y * row, src + ((size_t)(r->y + y) * (size_t)src_width + (size_t)r->x) * RGB, row);
}

static void crop_floats(const float *src, int src_width, const struct nst_rect *r, float *dst) {
	const size_t row = (size_t)r->width * RGB;
	for (int y = 0; y < r->height; y++)
		memcpy(dst + (size_t)y * row, src + ((size_t)(r->y + y) * (size_t)src_width + (size_t)r->x) * RGB,
		       row * sizeof(float));
}

enum nst_status nst_tiled_set_style(struct nst_tiled *t, int index, const uint8_t *rgb, float blend) {
	if (!t || !rgb || index < 0 || index >= t->plan.whole.n_styles)
		return NST_ERR_INVALID_ARGUMENT;
	const struct nst_tile_plan *p = &t->plan;
	const int ws = p->whole.style_width[index], hs = p->whole.style_height[index];
	const int side_w = p->session_problem.style_width[index], side_h = p->session_problem.style_height[index];
	const int step_w = region_step(side_w, p->style_halo, p->style_alignment);
	const int step_h = region_step(side_h, p->style_halo, p->style_alignment);
	const int nx = region_count(ws, side_w, step_w), ny = region_count(hs, side_h, step_h);
	for (int j = 0; j < ny; j++)
		for (int i = 0; i < nx; i++) {
			int ox0, ox1, cx0, cx1, oy0, oy1, cy0, cy1;
			region_axis(ws, side_w, step_w, p->style_halo, i, &ox0, &ox1, &cx0, &cx1);
			region_axis(hs, side_h, step_h, p->style_halo, j, &oy0, &oy1, &cy0, &cy1);
			const struct nst_rect crop = {cx0, cy0, cx1 - cx0, cy1 - cy0}, own = {ox0, oy0, ox1 - ox0, oy1 - oy0};
			crop_bytes(rgb, ws, &crop, t->tile_rgb); // tile_rgb: [crop.height][crop.width][3]
			const enum nst_status st = nst_session_add_style_region(t->session, index, t->tile_rgb, &crop, &own, ws, hs, blend);
			if (st != NST_OK)
				return st;
		}
	return NST_OK;
}

enum nst_status nst_tiled_set_init_image(struct nst_tiled *t, const uint8_t *rgb) {
	if (!t || !rgb)
		return NST_ERR_INVALID_ARGUMENT;
	nst_rgb_to_x(rgb, (size_t)t->plan.width * (size_t)t->plan.height, t->picture);
	t->picture_set = true;
	return NST_OK;
}

enum nst_status nst_tiled_set_init_x(struct nst_tiled *t, const float *x) {
	if (!t || !x)
		return NST_ERR_INVALID_ARGUMENT;
	const size_t n = (size_t)t->plan.width * (size_t)t->plan.height * RGB;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return NST_ERR_INVALID_ARGUMENT;
	memcpy(t->picture, x, n * sizeof(float)); /* [H][W][3] */
	t->picture_set = true;
	return NST_OK;
}

static enum nst_status init_picture(struct nst_tiled *t) {
	const size_t pixels = (size_t)t->plan.width * (size_t)t->plan.height;
	switch (t->plan.whole_options.init) {
	case NST_INIT_CONTENT:
		nst_rgb_to_x(t->content, pixels, t->picture);
		break;
	case NST_INIT_RANDOM: {
		struct nst_rng rng;
		nst_rng_seed(&rng, t->plan.whole_options.seed);
		for (size_t i = 0; i < pixels * RGB; i++)
			t->picture[i] = (float)(nst_rng_normal(&rng) * RANDOM_INIT_SCALE);
		break;
	}
	case NST_INIT_IMAGE:
		return NST_ERR_INVALID_ARGUMENT; /* nst_tiled_set_init_image first */
	}
	t->picture_set = true;
	return NST_OK;
}

struct row_relay {
	struct nst_tiled *t;
	nst_progress_fn progress;
	void *user;
	double t0;
};

/* A tile's row, renumbered across the whole tiled run; its steps counted as the tiles before it
 * had each taken the whole -n (a tile that stopped early, converged or out of evaluations, counts
 * whole), so that the count ends at the tiles times -n. */
static bool relay_row(void *user, const struct nst_progress *p) {
	struct row_relay *r = user;
	struct nst_tiled *t = r->t;
	const int row = t->row++;
	int tiles_before = t->tile;
	for (int s = 0; s < t->sweep; s++)
		tiles_before += nst_tile_count(&t->plan, s);
	const struct nst_progress q = {row, t->total_tiles * t->iterations, p->losses,
	                               t->seconds + (nst_seconds() - r->t0), tiles_before * t->iterations + p->step,
	                               tiles_before * t->iterations + p->accepted};
	return r->progress ? r->progress(r->user, &q) : true;
}

/* The tile's result into the picture as a running weighted mean over the sweep's tiles so far:
 * picture += w / W * (tile - picture), w the tile's weight at the pixel and W the sum of the
 * weights of the sweep's tiles up to this one (row-major), so that after the sweep every pixel is
 * sum_t w_t tile_t (the weights sum to 1) and nothing of the picture before the sweep remains.
 * In row-major order W = Y_<r(y) + wy_r(y) * X_<=c(x), Y and X the axes' cumulative shares.
 * Pixels no tile has claimed yet (W = 0) take the tile's pixels provisionally, so that the next
 * tiles start from a continuous picture; the tile that claims them later replaces them.
 * With rgb (the picture's [H][W][3] bytes), the blended pixels go there instead (an unfinished
 * tile shown, the picture unchanged): the same arithmetic, pixel by pixel. */
static void blend_tile(struct nst_tiled *t, const struct nst_rect *r, uint8_t *rgb) {
	const struct nst_tile_plan *p = &t->plan;
	const int k = t->sweep % 2, cols = p->cols[k], rows = p->rows[k];
	const int ci = t->tile % cols, ri = t->tile / cols, fx = p->crossfade_x[k], fy = p->crossfade_y[k];
	for (int y = 0; y < r->height; y++) {
		const double wy = axis_weight(p->height, p->tile_height, rows, fy, ri, r->y + y);
		const double rows_before = axis_weight_upto(p->height, p->tile_height, rows, fy, ri - 1, r->y + y);
		float *dst = t->picture + ((size_t)(r->y + y) * (size_t)p->width + (size_t)r->x) * RGB; /* [tw][3] */
		const float *src = t->tile_x + (size_t)y * (size_t)r->width * RGB;                      /* [tw][3] */
		for (int x = 0; x < r->width; x++) {
			const double w = wy * axis_weight(p->width, p->tile_width, cols, fx, ci, r->x + x);
			const double upto = rows_before + wy * axis_weight_upto(p->width, p->tile_width, cols, fx, ci, r->x + x);
			const float share = upto > 0.0 ? (float)(w / upto) : 1.0f;
			float blended[RGB];
			for (int c = 0; c < RGB; c++)
				blended[c] = dst[x * RGB + c] + share * (src[x * RGB + c] - dst[x * RGB + c]);
			if (rgb) {
				const size_t at = ((size_t)(r->y + y) * (size_t)p->width + (size_t)(r->x + x)) * RGB;
				nst_x_to_rgb(blended, t->content + at, 1, p->whole_options.original_colors, rgb + at);
			} else {
				memcpy(dst + x * RGB, blended, sizeof blended);
			}
		}
	}
}

/* The current tile from the picture as the tiles before it left it (an unfinished tile starts
 * over: its rows are reported again).  Stopped (interrupted, or by a non-finite loss: its last
 * finite picture), the tile's picture stays in tile_x (partial; nst_tiled_image shows it) and the
 * picture keeps what it was before the tile, which a checkpoint saves. */
static enum nst_status run_tile(struct nst_tiled *t, int iterations, struct row_relay *relay) {
	const struct nst_rect r = nst_tile_rect(&t->plan, t->sweep, t->tile);
	t->row = t->tile_row;
	t->tile_seconds = t->seconds + (nst_seconds() - relay->t0);
	t->partial = false;
	crop_bytes(t->content, t->plan.width, &r, t->tile_rgb); // tile_rgb: [th][tw][3]
	enum nst_status st = nst_session_set_content(t->session, t->tile_rgb);
	if (st == NST_OK)
		st = nst_session_prepare(t->session); /* the tile's content target */
	if (st != NST_OK)
		return st;
	crop_floats(t->picture, t->plan.width, &r, t->tile_x); // tile_x: [th][tw][3]
	if ((st = nst_session_set_x(t->session, t->tile_x)) != NST_OK || (st = nst_session_restart(t->session)) != NST_OK)
		return st;
	st = nst_session_run(t->session, iterations, relay_row, relay);
	if (st != NST_OK && st != NST_ERR_INTERRUPTED && st != NST_ERR_NUMERIC)
		return st;
	const enum nst_status got = nst_session_get_x(t->session, t->tile_x); /* after NUMERIC: the last finite */
	if (got != NST_OK)
		return got;
	if (st != NST_OK) {
		t->partial = true;
		return st;
	}
	blend_tile(t, &r, NULL);
	t->tile_row = t->row;
	return st;
}

enum nst_status nst_tiled_run(struct nst_tiled *t, int iterations, nst_progress_fn progress, void *user) {
	if (!t || iterations < 0 || !t->content)
		return NST_ERR_INVALID_ARGUMENT;
	if (t->done)
		return NST_OK;
	if (!t->picture_set) {
		const enum nst_status st = init_picture(t);
		if (st != NST_OK)
			return st;
	}
	t->iterations = iterations;
	t->total_tiles = 0;
	for (int s = 0; s < t->plan.sweeps; s++)
		t->total_tiles += nst_tile_count(&t->plan, s);
	struct row_relay relay = {t, progress, user, nst_seconds()};
	enum nst_status st = NST_OK;
	for (; t->sweep < t->plan.sweeps && st == NST_OK; t->sweep++, t->tile = 0) {
		for (; t->tile < nst_tile_count(&t->plan, t->sweep); t->tile++)
			if ((st = run_tile(t, iterations, &relay)) != NST_OK)
				break;
		if (st != NST_OK)
			break;
	}
	t->seconds += nst_seconds() - relay.t0;
	if (st == NST_OK) {
		t->done = true;
		t->sweep = t->plan.sweeps - 1;
		t->tile = nst_tile_count(&t->plan, t->sweep) - 1;
	}
	return st;
}

void nst_tiled_position(const struct nst_tiled *t, int *sweep, int *tile) {
	if (sweep)
		*sweep = t ? t->sweep : 0;
	if (tile)
		*tile = t ? t->tile : 0;
}

enum nst_status nst_tiled_image(struct nst_tiled *t, uint8_t *rgb) {
	if (!t || !rgb || !t->picture_set || !t->content)
		return NST_ERR_INVALID_ARGUMENT;
	nst_x_to_rgb(t->picture, t->content, (size_t)t->plan.width * (size_t)t->plan.height,
	             t->plan.whole_options.original_colors, rgb);
	if (t->partial) { /* an unfinished tile's picture over it, in the image only */
		const struct nst_rect r = nst_tile_rect(&t->plan, t->sweep, t->tile);
		blend_tile(t, &r, rgb);
	}
	return NST_OK;
}

const float *nst_tiled_picture(const struct nst_tiled *t) { return t && t->picture_set ? t->picture : NULL; }
