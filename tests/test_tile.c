/*
 * Tiled high resolution: the schedule (tiles inside the picture, covering it, neighbours
 * overlapping by at least the plan's overlap, odd sweeps cutting elsewhere), the blend weights (in
 * 0..1, summing to 1 at every pixel of every sweep, ~0 at cut edges, 1 far from them, no jumps),
 * the memory budget (respected, and the largest tile that respects it), the style targets built
 * region by region (equal to the whole picture's; not without the margin), and a small tiled run
 * end to end on a random VGG (the exact arena, every row reported, a finite changed picture).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "support.h"

#define WEIGHT_SUM_TOLERANCE 1e-5
#define EDGE_WEIGHT_MAX 0.01       /* a tile's weight on its own cut edge */
#define STYLE_LOSS_TOLERANCE 2e-4  /* relative: regions vs the whole picture, float32 Gram sums */
#define STYLE_LOSS_SENSITIVITY 1e-3 /* without the margin the loss must differ by more than this */

static void options_for(struct nst_options *o, enum nst_pooling pooling) {
	nst_options_default(o);
	o->pooling = pooling;
	o->threads = 2;
	o->backend = NST_BACKEND_SCALAR; /* the same arithmetic everywhere, qemu included */
}

/* ---------------------------------------------------------------------------------------------
 * Schedule and weights
 * ------------------------------------------------------------------------------------------- */

static void check_schedule(const struct nst_weights *w, int width, int height, int tile, int overlap) {
	struct nst_options o;
	options_for(&o, NST_POOLING_MAX);
	const struct nst_problem whole = {width, height, 1, {width}, {height}};
	const struct nst_tile_options to = {tile, overlap, 2, 0};
	struct nst_tile_plan p;
	struct nst_diag diag = {{0}};
	const enum nst_status st = nst_tile_plan(w, &o, &whole, &to, &p, &diag);
	CHECK(st == NST_OK, "%dx%d tile %d: plan: %s", width, height, tile, diag.message);
	if (st != NST_OK)
		return;
	CHECK(p.tile_width == (tile < width ? tile : width) && p.tile_height == (tile < height ? tile : height),
	      "%dx%d tile %d: tiles %dx%d", width, height, tile, p.tile_width, p.tile_height);
	CHECK(p.overlap == (overlap ? overlap : tile / 4), "%dx%d: overlap %d", width, height, p.overlap);
	CHECK(p.session_options.tv_weight > o.tv_weight * ((double)width * height / ((double)p.tile_width * p.tile_height)) * 0.999 &&
	          p.session_options.tv_weight < o.tv_weight * ((double)width * height / ((double)p.tile_width * p.tile_height)) * 1.001,
	      "%dx%d: tile tv weight %g", width, height, (double)p.session_options.tv_weight);
	const size_t pixels = (size_t)width * (size_t)height;
	float *sum = malloc(pixels * sizeof(float));       /* [H][W] */
	int *covered = malloc(pixels * sizeof(int));       /* [H][W] */
	for (int sweep = 0; sweep < 2; sweep++) {
		const int n = nst_tile_count(&p, sweep);
		const int cols = p.cols[sweep % 2], rows = p.rows[sweep % 2];
		CHECK(n == cols * rows && n >= 1, "%dx%d sweep %d: %d tiles", width, height, sweep, n);
		memset(covered, 0, pixels * sizeof(int));
		double worst_sum = 0.0, worst_edge = 0.0, worst_step = 0.0, worst_range = 0.0;
		int inside = 1, overlap_ok = 1, interior_one = 1;
		for (int i = 0; i < n; i++) {
			const struct nst_rect r = nst_tile_rect(&p, sweep, i);
			inside &= r.x >= 0 && r.y >= 0 && r.x + r.width <= width && r.y + r.height <= height &&
			          r.width == p.tile_width && r.height == p.tile_height;
			if (i % cols + 1 < cols) /* the right neighbour */
				overlap_ok &= r.x + r.width - nst_tile_rect(&p, sweep, i + 1).x >= p.overlap;
			if (i + cols < n) /* the one below */
				overlap_ok &= r.y + r.height - nst_tile_rect(&p, sweep, i + cols).y >= p.overlap;
			for (int y = r.y; y < r.y + r.height; y++)
				for (int x = r.x; x < r.x + r.width; x++)
					covered[(size_t)y * width + x]++;
			/* At a cut edge the weight is ~0; far from every cut, 1 (a single tile); no jumps inside. */
			const bool cut_left = r.x > 0, cut_right = r.x + r.width < width;
			const int ym = r.y + r.height / 2;
			if (cut_left)
				worst_edge = fmax(worst_edge, nst_tile_weight(&p, sweep, i, r.x, ym));
			if (cut_right)
				worst_edge = fmax(worst_edge, nst_tile_weight(&p, sweep, i, r.x + r.width - 1, ym));
			for (int y = r.y; y < r.y + r.height; y++)
				for (int x = r.x; x + 1 < r.x + r.width; x++) {
					const float a = nst_tile_weight(&p, sweep, i, x, y), b = nst_tile_weight(&p, sweep, i, x + 1, y);
					worst_step = fmax(worst_step, fabs((double)a - b));
				}
			if (cols == 1 && rows == 1)
				interior_one &= nst_tile_weight(&p, sweep, i, width / 2, height / 2) == 1.0f;
		}
		CHECK(inside, "%dx%d sweep %d: a tile outside the picture or of another size", width, height, sweep);
		CHECK(overlap_ok, "%dx%d sweep %d: neighbours overlap by less than %d px", width, height, sweep, p.overlap);
		CHECK(interior_one, "%dx%d sweep %d: a lone tile's weight is not 1", width, height, sweep);
		int all_covered = 1;
		for (size_t k = 0; k < pixels; k++)
			all_covered &= covered[k] > 0;
		CHECK(all_covered, "%dx%d sweep %d: a pixel no tile covers", width, height, sweep);
		memset(sum, 0, pixels * sizeof(float));
		for (int i = 0; i < n; i++)
			for (int y = 0; y < height; y++)
				for (int x = 0; x < width; x++) {
					const float v = nst_tile_weight(&p, sweep, i, x, y);
					worst_range = fmax(worst_range, v < 0.0f ? -v : (v > 1.0f ? v - 1.0f : 0.0));
					sum[(size_t)y * width + x] += v;
				}
		for (size_t k = 0; k < pixels; k++)
			worst_sum = fmax(worst_sum, fabs(sum[k] - 1.0));
		CHECK(worst_range == 0.0, "%dx%d sweep %d: a weight outside 0..1 by %g", width, height, sweep, worst_range);
		CHECK(worst_sum < WEIGHT_SUM_TOLERANCE, "%dx%d sweep %d: weights sum to 1 within %g", width, height, sweep,
		      worst_sum);
		CHECK(worst_edge <= EDGE_WEIGHT_MAX, "%dx%d sweep %d: weight %g at a cut edge", width, height, sweep, worst_edge);
		/* The raised cosine's steepest slope is pi / (2 width) per pixel. */
		const int fx = p.crossfade_x[sweep % 2];
		CHECK(fx >= 1 && fx <= p.overlap, "%dx%d sweep %d: crossfade %d", width, height, sweep, fx);
		CHECK(worst_step <= M_PI / (2.0 * fx) + 1e-6, "%dx%d sweep %d: the weight jumps by %g between neighbours "
		      "(crossfade %d)", width, height, sweep, worst_step, fx);
		printf("  %3dx%-3d tile %d overlap %2d sweep %d: %dx%d tiles, crossfade %2dx%-2d |sum - 1| <= %.1e, edge weight "
		       "<= %.1e, step <= %.3f\n", width, height, tile, p.overlap, sweep, cols, rows, fx,
		       p.crossfade_y[sweep % 2], worst_sum, worst_edge, worst_step);
	}
	/* Odd sweeps cut elsewhere: the first and the last tile of every grid lie at the picture's
	 * edges, every other tile of sweep 1 starts where no tile of sweep 0 does. */
	if (p.cols[0] > 1) {
		int shared = 0;
		for (int i = 1; i + 1 < p.cols[1]; i++)
			for (int j = 0; j < p.cols[0]; j++)
				shared += nst_tile_rect(&p, 1, i).x == nst_tile_rect(&p, 0, j).x;
		CHECK(shared == 0, "%dx%d: %d tiles of sweep 1 start where one of sweep 0 does", width, height, shared);
	}
	free(sum);
	free(covered);
}

static void check_budget(const struct nst_weights *w) {
	struct nst_options o;
	options_for(&o, NST_POOLING_MAX);
	const struct nst_problem whole = {300, 200, 1, {260}, {180}};
	struct nst_diag diag = {{0}};
	struct nst_tile_plan small, p, bigger;
	const struct nst_tile_options fixed = {NST_TILE_MIN, 0, 1, 0};
	CHECK(nst_tile_plan(w, &o, &whole, &fixed, &small, &diag) == NST_OK, "plan tile %d: %s", NST_TILE_MIN, diag.message);
	/* A budget between the smallest tile's bytes and the whole picture's. */
	const size_t budget = small.total_bytes + small.total_bytes / 2;
	const struct nst_tile_options auto_tile = {0, 0, 1, budget};
	enum nst_status st = nst_tile_plan(w, &o, &whole, &auto_tile, &p, &diag);
	CHECK(st == NST_OK, "plan within %zu bytes: %s", budget, diag.message);
	if (st != NST_OK)
		return;
	const int side = p.tile_width > p.tile_height ? p.tile_width : p.tile_height;
	CHECK(p.total_bytes <= budget, "the plan's %zu bytes exceed the budget %zu", p.total_bytes, budget);
	CHECK(side % NST_TILE_STEP == 0 && side >= NST_TILE_MIN, "tile side %d", side);
	const struct nst_tile_options next = {side + NST_TILE_STEP, 0, 1, 0};
	CHECK(nst_tile_plan(w, &o, &whole, &next, &bigger, &diag) == NST_OK, "plan tile %d", side + NST_TILE_STEP);
	CHECK(bigger.total_bytes > budget, "tiles of %d px (%zu bytes) would have fit %zu too: not the largest", side + NST_TILE_STEP,
	      bigger.total_bytes, budget);
	CHECK(p.total_bytes >= p.session.total_bytes + p.picture_bytes + p.tile_bytes &&
	          p.picture_bytes >= (size_t)300 * 200 * 3 * sizeof(float),
	      "the picture's %zu bytes and the session's are counted in %zu", p.picture_bytes, p.total_bytes);
	printf("  budget %zu bytes: tiles of %d px, %zu bytes (session %zu, picture %zu, tile %zu)\n", budget, side,
	       p.total_bytes, p.session.total_bytes, p.picture_bytes, p.tile_bytes);
	/* Below the smallest tile: refused, with the memory status. */
	const struct nst_tile_options tiny = {0, 0, 1, small.total_bytes / 2};
	st = nst_tile_plan(w, &o, &whole, &tiny, &p, &diag);
	CHECK(st == NST_ERR_OVER_MEMORY_LIMIT, "a budget below the smallest tile gave %s", nst_status_string(st));
	/* Bad options. */
	const struct nst_tile_options bad[] = {{0, 0, 0, 0}, {8, 0, 0, 0}, {64, 40, 0, 0}, {-1, 0, 0, 0}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK(nst_tile_plan(w, &o, &whole, &bad[i], &p, &diag) == NST_ERR_INVALID_ARGUMENT,
		      "tile %d overlap %d accepted", bad[i].tile, bad[i].overlap);
}

/* ---------------------------------------------------------------------------------------------
 * Style targets region by region
 * ------------------------------------------------------------------------------------------- */

#define CONTENT_SIDE 24
#define STYLE_W 71 /* odd: the floor of the pooling */
#define STYLE_H 53

static double style_loss_of(struct nst_session *s, const uint8_t *content, const float *x) {
	struct nst_losses l;
	nst_session_set_content(s, content);
	nst_session_prepare(s);
	nst_session_set_x(s, x);
	nst_session_evaluate(s, &l, NULL);
	return l.style;
}

static struct nst_session *make_session(const struct nst_weights *w, const struct nst_options *o, int n_styles,
                                        int style_w, int style_h, void **arena) {
	struct nst_problem p = {CONTENT_SIDE, CONTENT_SIDE, n_styles, {0}, {0}};
	for (int k = 0; k < n_styles; k++) {
		p.style_width[k] = style_w;
		p.style_height[k] = style_h;
	}
	struct nst_plan plan;
	struct nst_diag diag = {{0}};
	struct nst_session *s = NULL;
	if (nst_plan(w, o, &p, &plan, &diag) != NST_OK)
		return NULL;
	*arena = nst_arena_allocate(plan.total_bytes);
	if (nst_session_init(*arena, plan.total_bytes, w, o, &p, &s, &diag) != NST_OK)
		return NULL;
	return s;
}

/* Gram targets from regions of `step` pixels with `halo` margins, both styles, against the whole. */
static void check_style_regions(const struct nst_weights *w, enum nst_pooling pooling, uint64_t seed) {
	struct nst_options o;
	options_for(&o, pooling);
	int alignment, halo;
	struct nst_diag diag = {{0}};
	CHECK(nst_style_geometry(w, &o, &alignment, &halo, &diag) == NST_OK, "geometry: %s", diag.message);
	CHECK(alignment == 4 && halo >= 13 && halo % alignment == 0, "relu3_1: alignment %d, halo %d", alignment, halo);
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	static uint8_t style[2][STYLE_H * STYLE_W * 3], content[CONTENT_SIDE * CONTENT_SIDE * 3];
	static uint8_t crop_rgb[STYLE_H * STYLE_W * 3];
	fill_bytes(&rng, style[0], sizeof style[0]);
	fill_bytes(&rng, style[1], sizeof style[1]);
	fill_bytes(&rng, content, sizeof content);
	const float blend[2] = {1.0f, 3.0f};
	float x[CONTENT_SIDE * CONTENT_SIDE * 3];
	for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
		x[i] = (float)(nst_rng_normal(&rng) * 40.0);

	void *arena_whole = NULL;
	struct nst_session *whole = make_session(w, &o, 2, STYLE_W, STYLE_H, &arena_whole);
	CHECK(whole != NULL, "whole session");
	if (!whole)
		return;
	for (int k = 0; k < 2; k++)
		nst_session_set_style(whole, k, style[k], blend[k]);
	const double expected = style_loss_of(whole, content, x);
	nst_session_release(whole);
	nst_arena_free(arena_whole);

	const int steps[] = {2 * alignment, 5 * alignment, 8 * alignment};
	for (int with_halo = 1; with_halo >= 0; with_halo--)
		for (size_t si = 0; si < sizeof steps / sizeof steps[0]; si++) {
			const int step = steps[si], margin = with_halo ? halo : 0;
			void *arena = NULL;
			struct nst_session *s = make_session(w, &o, 2, STYLE_W, STYLE_H, &arena);
			CHECK(s != NULL, "region session");
			if (!s)
				return;
			int regions = 0, refused = 0;
			for (int k = 0; k < 2; k++)
				for (int y = 0; y < STYLE_H; y += step)
					for (int xx = 0; xx < STYLE_W; xx += step) {
						const struct nst_rect own = {xx, y, xx + step < STYLE_W ? step : STYLE_W - xx,
						                             y + step < STYLE_H ? step : STYLE_H - y};
						const int x0 = xx - margin > 0 ? xx - margin : 0, y0 = y - margin > 0 ? y - margin : 0;
						const int x1 = own.x + own.width + margin < STYLE_W ? own.x + own.width + margin : STYLE_W;
						const int y1 = own.y + own.height + margin < STYLE_H ? own.y + own.height + margin : STYLE_H;
						const struct nst_rect crop = {x0, y0, x1 - x0, y1 - y0};
						for (int r = 0; r < crop.height; r++) // crop_rgb: [crop.height][crop.width][3]
							memcpy(crop_rgb + (size_t)r * crop.width * 3,
							       style[k] + ((size_t)(crop.y + r) * STYLE_W + crop.x) * 3, (size_t)crop.width * 3);
						refused += nst_session_add_style_region(s, k, crop_rgb, &crop, &own, STYLE_W, STYLE_H, blend[k]) != NST_OK;
						regions++;
					}
			CHECK(refused == 0, "step %d: %d of %d regions refused", step, refused, regions);
			const double got = style_loss_of(s, content, x);
			const double rel = fabs(got - expected) / fabs(expected);
			if (with_halo)
				CHECK(rel < STYLE_LOSS_TOLERANCE, "%s pooling, regions of %d px, halo %d: style loss %.9g vs the whole "
				      "picture's %.9g (rel %.2e)", pooling == NST_POOLING_MAX ? "max" : "avg", step, margin, got,
				      expected, rel);
			else
				CHECK(rel > STYLE_LOSS_SENSITIVITY, "without a margin, regions of %d px still match (rel %.2e): the "
				      "check is blind", step, rel);
			printf("  %s pooling, %2d regions of %2d px, margin %2d: style loss %.9g vs %.9g (rel %.2e)\n",
			       pooling == NST_POOLING_MAX ? "max" : "avg", regions, step, margin, got, expected, rel);
			/* Misaligned corners and a set_style on a regioned style are refused. */
			if (si == 0 && with_halo) {
				const struct nst_rect bad_own = {1, 0, 8, 8}, bad_crop = {0, 0, 32, 32};
				CHECK(nst_session_add_style_region(s, 0, crop_rgb, &bad_crop, &bad_own, STYLE_W, STYLE_H, 1.0f) ==
				          NST_ERR_INVALID_ARGUMENT, "a misaligned region was accepted");
				CHECK(nst_session_set_style(s, 0, style[0], 1.0f) == NST_ERR_INVALID_ARGUMENT,
				      "set_style after regions was accepted");
			}
			nst_session_release(s);
			nst_arena_free(arena);
		}
}

/* ---------------------------------------------------------------------------------------------
 * A small tiled run
 * ------------------------------------------------------------------------------------------- */

struct rows {
	int count, last_step, last_total;
	bool finite, rising;
};

/* Rows numbered 0, 1, ...; steps (the iterations -n counts, over all tiles) never going back. */
static bool count_row(void *user, const struct nst_progress *p) {
	struct rows *r = user;
	r->finite &= isfinite(p->losses.total) != 0;
	CHECK(p->iteration == r->count, "row %d reported as %d", r->count, p->iteration);
	r->rising &= r->count == 0 || p->step >= r->last_step;
	r->count++;
	r->last_step = p->step;
	r->last_total = p->iterations;
	return true;
}

static void check_run(const struct nst_weights *w, uint64_t seed) {
	enum { WIDTH = 90, HEIGHT = 61, SWIDTH = 80, SHEIGHT = 70, TILE = 40, ITERATIONS = 3 };
	struct nst_options o;
	options_for(&o, NST_POOLING_MAX);
	o.optimizer = NST_OPTIMIZER_ADAM;
	const struct nst_problem whole = {WIDTH, HEIGHT, 1, {SWIDTH}, {SHEIGHT}};
	const struct nst_tile_options to = {TILE, 0, 2, 0};
	struct nst_tile_plan p;
	struct nst_diag diag = {{0}};
	enum nst_status st = nst_tile_plan(w, &o, &whole, &to, &p, &diag);
	CHECK(st == NST_OK, "plan: %s", diag.message);
	if (st != NST_OK)
		return;
	CHECK(p.style_regions > 1, "the %dx%d style picture comes in %d regions", SWIDTH, SHEIGHT, p.style_regions);
	void *arena = nst_arena_allocate(p.total_bytes);
	struct nst_tiled *t = NULL;
	st = nst_tiled_init(arena, p.total_bytes - 1, w, &p, &t, &diag);
	CHECK(st == NST_ERR_OUT_OF_MEMORY, "an arena one byte short gave %s", nst_status_string(st));
	st = nst_tiled_init(arena, p.total_bytes, w, &p, &t, &diag);
	CHECK(st == NST_OK, "init with the planned size: %s", diag.message);
	if (st != NST_OK) {
		nst_arena_free(arena);
		return;
	}
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	static uint8_t content[HEIGHT * WIDTH * 3], style[SHEIGHT * SWIDTH * 3], out[HEIGHT * WIDTH * 3];
	fill_bytes(&rng, content, sizeof content);
	fill_bytes(&rng, style, sizeof style);
	CHECK(nst_tiled_set_content(t, content) == NST_OK, "set content");
	CHECK(nst_tiled_set_style(t, 0, style, 1.0f) == NST_OK, "set style");
	struct rows rows = {0, -1, -1, true, true};
	st = nst_tiled_run(t, ITERATIONS, count_row, &rows);
	CHECK(st == NST_OK, "run: %s", nst_status_string(st));
	const int tiles = nst_tile_count(&p, 0) + nst_tile_count(&p, 1), expected_rows = tiles * (ITERATIONS + 1);
	CHECK(rows.count == expected_rows && rows.last_step == tiles * ITERATIONS && rows.last_total == tiles * ITERATIONS &&
	          rows.rising,
	      "%d rows (expected %d), last step %d of %d (expected %d of %d tiles x %d), rising %d", rows.count,
	      expected_rows, rows.last_step, rows.last_total, tiles * ITERATIONS, tiles, ITERATIONS, rows.rising);
	CHECK(rows.finite, "a non-finite loss");
	const float *x = nst_tiled_picture(t);
	int finite = 1;
	double moved = 0.0;
	float *x0 = malloc(sizeof(float) * WIDTH * HEIGHT * 3);
	nst_rgb_to_x(content, (size_t)WIDTH * HEIGHT, x0);
	for (size_t i = 0; i < (size_t)WIDTH * HEIGHT * 3; i++) {
		finite &= isfinite(x[i]) != 0;
		moved = fmax(moved, fabs((double)x[i] - x0[i]));
	}
	CHECK(finite, "a non-finite pixel");
	CHECK(moved > 1.0, "the picture did not change (max %g)", moved);
	CHECK(nst_tiled_image(t, out) == NST_OK, "image");
	printf("  tiled run %dx%d, tiles %dx%d (%d + %d tiles), %d rows, pixels moved up to %.1f\n", WIDTH, HEIGHT,
	       p.tile_width, p.tile_height, nst_tile_count(&p, 0), nst_tile_count(&p, 1), rows.count, moved);
	free(x0);
	nst_tiled_release(t);
	nst_arena_free(arena);
}

/* The coarse-to-fine hand-over as the CLI does it: a scale's optimized picture (nst_session_get_x)
 * resampled in float (nst_x_upsample) starts the next scale exactly, whole (nst_session_set_x after
 * prepare, then restart) or tiled (nst_tiled_set_init_x): no 8-bit rounding on the way. */
static void check_handover(const struct nst_weights *w, uint64_t seed) {
	enum { CW = 24, CH = 17, FW = 45, FH = 33, SW = 30, SH = 30, TILE = 40, ITERATIONS = 3 };
	const double ROUNDING_MIN = 0.01; /* an optimized picture is not on the 8-bit grid */
	struct nst_options o;
	options_for(&o, NST_POOLING_MAX);
	o.optimizer = NST_OPTIMIZER_ADAM;
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	static uint8_t content_c[CH * CW * 3], content_f[FH * FW * 3], style[SH * SW * 3];
	fill_bytes(&rng, content_c, sizeof content_c);
	fill_bytes(&rng, content_f, sizeof content_f);
	fill_bytes(&rng, style, sizeof style);
	static float coarse[CH][CW][3], start[FH][FW][3], got[FH][FW][3];
	const struct nst_problem problems[2] = {{CW, CH, 1, {SW}, {SH}}, {FW, FH, 1, {SW}, {SH}}};
	struct nst_plan plans[2];
	struct nst_diag diag = {{0}};
	for (int i = 0; i < 2; i++)
		CHECK(nst_plan(w, &o, &problems[i], &plans[i], &diag) == NST_OK, "plan %d: %s", i, diag.message);
	const size_t bytes = (plans[1].total_bytes > plans[0].total_bytes ? plans[1].total_bytes : plans[0].total_bytes);
	void *arena = nst_arena_allocate(bytes);
	struct nst_session *s = NULL;

	/* 0 iterations: the coarse picture is the content, preprocessed; at the same size the hand-over copies it */
	CHECK(nst_session_init(arena, bytes, w, &o, &problems[0], &s, &diag) == NST_OK, "coarse init: %s", diag.message);
	nst_session_set_content(s, content_c);
	nst_session_set_style(s, 0, style, 1.0f);
	CHECK(nst_session_prepare(s) == NST_OK, "coarse prepare");
	CHECK(nst_session_run(s, 0, NULL, NULL) == NST_OK, "0 iterations");
	CHECK(nst_session_get_x(s, &coarse[0][0][0]) == NST_OK, "coarse x");
	static float content_x[CH][CW][3], copy[CH][CW][3];
	nst_rgb_to_x(content_c, (size_t)CW * CH, &content_x[0][0][0]);
	CHECK(memcmp(coarse, content_x, sizeof coarse) == 0, "0 iterations changed the picture");
	CHECK(nst_x_resize(&coarse[0][0][0], CW, CH, &copy[0][0][0], CW, CH) == NST_OK &&
	          memcmp(copy, coarse, sizeof copy) == 0, "the same-size hand-over is not exact");

	/* a few iterations: off the 8-bit grid */
	nst_session_restart(s);
	CHECK(nst_session_run(s, ITERATIONS, NULL, NULL) == NST_OK, "coarse run");
	nst_session_get_x(s, &coarse[0][0][0]);
	nst_session_release(s);
	static uint8_t rgb[CH * CW * 3];
	nst_x_to_rgb(&coarse[0][0][0], NULL, (size_t)CW * CH, false, rgb); /* the 8-bit round trip the hand-over avoids */
	nst_rgb_to_x(rgb, (size_t)CW * CH, &copy[0][0][0]);
	double lost = 0;
	for (int i = 0; i < CW * CH * 3; i++)
	{
		const double d = fabs((double)(&coarse[0][0][0])[i] - (&copy[0][0][0])[i]);
		if (d > lost) /* not fmax: GCC 12's aarch64 vectorizer crashes on this reduction */
			lost = d;
	}
	CHECK(lost > ROUNDING_MIN, "the coarse result is on the 8-bit grid (8 bits lose at most %.4f)", lost);
	/* the CLI's hand-over from a content start: upsampled with the content's detail (x is its scratch) */
	const struct nst_image coarse_content = {CW, CH, content_c}, fine_content = {FW, FH, content_f};
	memcpy(copy, coarse, sizeof copy);
	CHECK(nst_x_upsample(&copy[0][0][0], &coarse_content, &start[0][0][0], &fine_content) == NST_OK, "upsample");

	/* whole: the next scale starts from exactly the upsampled floats */
	CHECK(nst_session_init(arena, bytes, w, &o, &problems[1], &s, &diag) == NST_OK, "fine init: %s", diag.message);
	nst_session_set_content(s, content_f);
	nst_session_set_style(s, 0, style, 1.0f);
	CHECK(nst_session_prepare(s) == NST_OK, "fine prepare");
	CHECK(nst_session_set_x(s, &start[0][0][0]) == NST_OK && nst_session_restart(s) == NST_OK, "fine start");
	CHECK(nst_session_get_x(s, &got[0][0][0]) == NST_OK && memcmp(got, start, sizeof got) == 0,
	      "the whole session does not start from the upsampled floats");
	struct nst_losses losses;
	CHECK(nst_session_evaluate(s, &losses, NULL) == NST_OK && isfinite(losses.total), "fine loss");
	nst_session_release(s);
	nst_arena_free(arena);

	/* tiled: the same */
	const struct nst_tile_options to = {TILE, 0, 1, 0};
	struct nst_tile_plan p;
	const enum nst_status st = nst_tile_plan(w, &o, &problems[1], &to, &p, &diag);
	CHECK(st == NST_OK, "tile plan: %s", diag.message);
	if (st != NST_OK)
		return;
	arena = nst_arena_allocate(p.total_bytes);
	struct nst_tiled *t = NULL;
	CHECK(nst_tiled_init(arena, p.total_bytes, w, &p, &t, &diag) == NST_OK, "tiled init: %s", diag.message);
	if (t) {
		nst_tiled_set_content(t, content_f);
		nst_tiled_set_style(t, 0, style, 1.0f);
		CHECK(nst_tiled_set_init_x(t, &start[0][0][0]) == NST_OK, "tiled start");
		CHECK(memcmp(nst_tiled_picture(t), start, sizeof start) == 0, "the tiles do not start from the upsampled floats");
		got[0][0][0] = NAN;
		CHECK(nst_tiled_set_init_x(t, &got[0][0][0]) == NST_ERR_INVALID_ARGUMENT, "a NaN start accepted");
		CHECK(nst_tiled_set_init_x(t, &start[0][0][0]) == NST_OK, "tiled start again");
		CHECK(nst_tiled_run(t, 1, NULL, NULL) == NST_OK, "tiled run from the hand-over");
	}
	nst_tiled_release(t);
	nst_arena_free(arena);
}

int main(void) {
	const uint64_t seed = support_seed("test_tile");
	char *dir = support_tmpdir("tile");
	CHECK(dir != NULL, "mkdtemp");
	if (!dir)
		return check_finish("test_tile");
	char path[512];
	snprintf(path, sizeof path, "%s/vgg.nstw", dir);
	CHECK(support_write_small_vgg(path, seed) == 0, "write %s", path);
	struct nst_weights *w = NULL;
	struct nst_diag diag = {{0}};
	CHECK(nst_weights_open(path, &w, &diag) == NST_OK, "open %s: %s", path, diag.message);
	if (w) {
		const int sizes[][4] = {
			/* width, height, tile, overlap (0: default) */
			{100, 70, 48, 0}, {37, 90, 40, 0}, {64, 64, 64, 0}, {200, 45, 36, 9}, {129, 131, 64, 20}, {300, 41, 80, 0},
		};
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
			check_schedule(w, sizes[i][0], sizes[i][1], sizes[i][2], sizes[i][3]);
		check_budget(w);
		check_style_regions(w, NST_POOLING_MAX, seed);
		check_style_regions(w, NST_POOLING_AVG, seed + 1);
		check_run(w, seed + 2);
		check_handover(w, seed + 3);
		nst_weights_close(w);
	}
	/* The same trunk with taps (as the distilled network's): a tap's Gram made from a region's
	 * gathered trunk pixels, chunk by chunk. */
	static const struct support_vgg_layer tapped[] = {{1, 8, 16}, {1, 8, 0}, {2, 16, 24}, {2, 8, 0}, {3, 16, 40}, {3, 8, 0}};
	snprintf(path, sizeof path, "%s/tapped.nstw", dir);
	CHECK(support_write_vgg(path, tapped, (int)(sizeof tapped / sizeof tapped[0]), seed + 4, NST_DTYPE_F32) == 0,
	      "write %s", path);
	w = NULL;
	CHECK(nst_weights_open(path, &w, &diag) == NST_OK, "open %s: %s", path, diag.message);
	if (w) {
		printf("tapped network (tap1_1, tap2_1, tap3_1):\n");
		check_style_regions(w, NST_POOLING_MAX, seed + 5);
		nst_weights_close(w);
	}
	support_rmdir(dir);
	free(dir);
	return check_finish("test_tile");
}
