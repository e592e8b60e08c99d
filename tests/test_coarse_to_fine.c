/*
 * Coarse to fine under a memory budget through the library alone (nst_schedule_make,
 * nst_scales_*): the schedule (the default halving, given sizes and counts, refusals); a run of two
 * scales on a random VGG, with no budget and with a budget that forces the larger scale into tiles,
 * each giving exactly the picture of the same steps written out with the session and tile
 * functions (what the command line did before the driver existed: the first scale's session, its
 * picture handed over in float with the content's detail, the second scale as a session or in
 * tiles); the one arena exact (a byte less is refused); every row reported once, numbered across the
 * run, with the scale, and the sweep and tile where tiled; a budget too small refused.  Checkpoints:
 * a run stopped in either scale (as one session or in tiles), saved and loaded by a fresh driver
 * before its first scale, continues to the uninterrupted run's picture and rows (a tile starts
 * over); a checkpoint of a scale as one session is refused by a plan that tiles it and the other
 * way round; every bit of a tiled checkpoint's header flipped, and crafted fields with a right
 * CRC, are refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "support.h"

#define SCALES 2
#define ITERATIONS_FIRST 4
#define ITERATIONS_SECOND 2

/* ---------------------------------------------------------------------------------------------
 * The schedule
 * ------------------------------------------------------------------------------------------- */

static void check_schedule(void) {
	struct nst_schedule s;
	CHECK(nst_schedule_make(1024, NULL, 0, 300, NULL, &s) == NST_OK, "default schedule of 1024");
	CHECK(s.n == 3 && s.size[0] == 256 && s.size[1] == 512 && s.size[2] == 1024, "1024: %d scales, %d %d %d", s.n,
	      s.size[0], s.size[1], s.size[2]);
	CHECK(s.iterations[0] == 300 && s.iterations[1] == 150 && s.iterations[2] == 75, "1024: %d %d %d iterations",
	      s.iterations[0], s.iterations[1], s.iterations[2]);
	CHECK(nst_schedule_make(300, NULL, 0, 7, NULL, &s) == NST_OK && s.n == 1 && s.size[0] == 300 && s.iterations[0] == 7,
	      "300: one scale (%d)", s.n);
	CHECK(nst_schedule_make(600, NULL, 0, 7, NULL, &s) == NST_OK && s.n == 2 && s.size[0] == 300 && s.iterations[1] == 4,
	      "600: 300 then 600, 7 then 4 iterations (%d scales)", s.n);
	const int sizes[] = {64, 128, 200}, counts[] = {9, 0, 3};
	CHECK(nst_schedule_make(0, sizes, 3, 10, counts, &s) == NST_OK && s.n == 3 && s.size[2] == 200 &&
	          s.iterations[0] == 9 && s.iterations[1] == 0 && s.iterations[2] == 3,
	      "given sizes and counts");
	CHECK(nst_schedule_make(0, sizes, 3, 0, NULL, &s) == NST_OK && s.iterations[0] == 0 && s.iterations[2] == 0,
	      "iterations 0: every scale 0");
	const int shrinking[] = {128, 64};
	CHECK(nst_schedule_make(0, shrinking, 2, 10, NULL, &s) == NST_ERR_INVALID_ARGUMENT, "sizes that do not grow refused");
	CHECK(nst_schedule_make(0, sizes, NST_MAX_SCALES + 1, 10, NULL, &s) == NST_ERR_INVALID_ARGUMENT,
	      "more than NST_MAX_SCALES refused");
	CHECK(nst_schedule_make(256, NULL, 0, -1, NULL, &s) == NST_ERR_INVALID_ARGUMENT, "negative iterations refused");
}

/* ---------------------------------------------------------------------------------------------
 * Two scales on a random VGG
 * ------------------------------------------------------------------------------------------- */

struct pictures {
	struct nst_image content[SCALES], style[SCALES];
};

static void make_pictures(uint64_t seed, struct pictures *pic) {
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	/* smooth content (so that the detail hand-over has something to add) and noisy style */
	struct nst_image content = {96, 80, malloc(96 * 80 * 3)}, style = {64, 64, malloc(64 * 64 * 3)};
	for (int y = 0; y < content.height; y++)
		for (int x = 0; x < content.width; x++)
			for (int c = 0; c < 3; c++)
				content.rgb[((size_t)y * content.width + x) * 3 + c] =
				    (uint8_t)(128 + 100 * sin(0.11 * x * (c + 1) + 0.07 * y) + (double)(nst_rng_next(&rng) >> 61));
	for (size_t i = 0; i < (size_t)style.width * style.height * 3; i++)
		style.rgb[i] = (uint8_t)(nst_rng_next(&rng) >> 56);
	nst_image_resize(&content, 48, 40, &pic->content[0]);
	pic->content[1] = content;
	nst_image_resize(&style, 32, 32, &pic->style[0]);
	pic->style[1] = style;
}

static void free_pictures(struct pictures *pic) {
	for (int i = 0; i < SCALES; i++) {
		nst_image_free(&pic->content[i]);
		nst_image_free(&pic->style[i]);
	}
}

static void scales_options(const struct pictures *pic, size_t max_bytes, struct nst_scales_options *so) {
	memset(so, 0, sizeof *so);
	so->n_scales = SCALES;
	for (int i = 0; i < SCALES; i++) {
		so->problems[i] = (struct nst_problem){pic->content[i].width, pic->content[i].height, 1,
		                                       {pic->style[i].width}, {pic->style[i].height}};
		so->iterations[i] = i == 0 ? ITERATIONS_FIRST : ITERATIONS_SECOND;
	}
	so->max_bytes = max_bytes;
}


/* The same run written out with the session and tile functions: the first scale's session, its
 * picture upsampled with the content's detail, the second scale as a session or in tiles. */
static void reference(const struct nst_weights *w, const struct nst_scales_plan *p, const struct pictures *pic,
                      uint8_t *out) {
	const size_t bytes = p->scale_bytes;
	void *arena = nst_arena_allocate(bytes);
	float *finished = malloc((size_t)pic->content[0].width * pic->content[0].height * 3 * sizeof(float)); /* [H][W][3] */
	float *start = malloc((size_t)pic->content[1].width * pic->content[1].height * 3 * sizeof(float));   /* [H'][W'][3] */
	struct nst_session *s = NULL;
	struct nst_diag diag = {{0}};
	CHECK(nst_session_init(arena, bytes, w, &p->options[0], &p->problems[0], &s, &diag) == NST_OK, "reference init: %s",
	      diag.message);
	nst_session_set_content(s, pic->content[0].rgb);
	nst_session_set_style(s, 0, pic->style[0].rgb, 1.0f);
	nst_session_prepare(s);
	nst_session_run(s, p->iterations[0], NULL, NULL);
	nst_session_get_x(s, finished);
	nst_session_release(s);
	CHECK(nst_x_upsample(finished, &pic->content[0], start, &pic->content[1]) == NST_OK, "reference hand-over");
	if (p->tiled[1]) {
		struct nst_tiled *t = NULL;
		CHECK(nst_tiled_init(arena, bytes, w, &p->tile_plans[1], &t, &diag) == NST_OK, "reference tiles: %s", diag.message);
		nst_tiled_set_content(t, pic->content[1].rgb);
		nst_tiled_set_style(t, 0, pic->style[1].rgb, 1.0f);
		nst_tiled_set_init_x(t, start);
		nst_tiled_run(t, p->iterations[1], NULL, NULL);
		nst_tiled_image(t, out);
		nst_tiled_release(t);
	} else {
		CHECK(nst_session_init(arena, bytes, w, &p->options[1], &p->problems[1], &s, &diag) == NST_OK,
		      "reference init: %s", diag.message);
		nst_session_set_content(s, pic->content[1].rgb);
		nst_session_set_style(s, 0, pic->style[1].rgb, 1.0f);
		nst_session_prepare(s);
		nst_session_set_x(s, start);
		nst_session_restart(s);
		nst_session_run(s, p->iterations[1], NULL, NULL);
		nst_session_image(s, out);
		nst_session_release(s);
	}
	free(finished);
	free(start);
	nst_arena_free(arena);
}

struct rows {
	int n, bad_numbering, bad_scale, tiled_rows, bad_tile;
	int last_scale;
};

static bool count_row(void *user, const struct nst_scales_progress *q) {
	struct rows *r = user;
	r->bad_numbering += q->run_row != r->n;
	r->bad_scale += q->scale < r->last_scale || q->n_scales != SCALES || q->width != (q->scale == 0 ? 48 : 96);
	r->last_scale = q->scale;
	r->tiled_rows += q->tiled;
	r->bad_tile += q->tiled ? q->sweep < 0 || q->tile < 0 : q->sweep != 0 || q->tile != 0;
	r->n++;
	return true;
}

struct stop {
	int row;         /* the progress stops the run after this run row */
	int first_row;   /* the first row reported, -1 before any */
};

static bool stop_at(void *user, const struct nst_scales_progress *q) {
	struct stop *s = user;
	if (s->first_row < 0)
		s->first_row = q->run_row;
	return q->run_row < s->row;
}

/* A driver of plan p, its pictures set (NULL if init fails). */
static struct nst_scales *open_driver(const struct nst_weights *w, const struct nst_scales_plan *p,
                                      const struct pictures *pic, void **arena) {
	struct nst_scales *s = NULL;
	struct nst_diag diag = {{0}};
	*arena = nst_arena_allocate(p->total_bytes);
	if (!*arena || nst_scales_init(*arena, p->total_bytes, w, p, &s, &diag) != NST_OK) {
		CHECK(false, "driver init: %s", diag.message);
		return NULL;
	}
	for (int i = 0; i < SCALES; i++) {
		nst_scales_set_content(s, i, pic->content[i].rgb);
		nst_scales_set_style(s, i, 0, pic->style[i].rgb, 1.0f);
	}
	return s;
}

/* The run stopped after run row `row` or later (in scale `scale`) and checkpointed; a fresh driver loads
 * the file before its first scale and runs on: the uninterrupted picture (want) and rows (n_rows),
 * numbered on from the checkpoint's. */
static void check_resume(const struct nst_weights *w, const struct nst_scales_plan *p, const struct pictures *pic,
                         const char *ckpt, int row, int scale, const uint8_t *want, int n_rows) {
	struct nst_diag diag = {{0}};
	void *arena = NULL;
	struct nst_scales *s = open_driver(w, p, pic, &arena);
	struct stop stop = {row, -1};
	if (!s)
		return;
	CHECK(nst_scales_run(s, stop_at, &stop, &diag) == NST_ERR_INTERRUPTED, "stopped after row %d", row);
	int at = -1;
	nst_scales_position(s, &at, NULL, NULL);
	const int rows = nst_scales_rows(s); /* a line search stopped inside ends first */
	CHECK(at == scale && rows > row, "stopped in scale %d (expected %d) after %d rows", at, scale, rows);
	CHECK(nst_scales_save_checkpoint(s, ckpt, &diag) == NST_OK, "save in scale %d: %s", scale, diag.message);
	nst_scales_release(s);
	nst_arena_free(arena);

	s = open_driver(w, p, pic, &arena);
	if (!s)
		return;
	CHECK(nst_scales_load_checkpoint(s, ckpt, &diag) == NST_OK, "load before the first scale: %s", diag.message);
	nst_scales_position(s, &at, NULL, NULL);
	const int loaded = nst_scales_rows(s), tiled = p->tiled[scale]; /* in tiles: the rows before the tile */
	CHECK(at == scale && (tiled ? loaded <= rows && loaded > row - n_rows / 2 : loaded == rows),
	      "loaded at scale %d (expected %d), %d rows (stopped after %d)", at, scale, loaded, rows);
	stop = (struct stop){n_rows, -1};
	enum nst_status st = nst_scales_run_scale(s, stop_at, &stop);
	while (st == NST_OK && (nst_scales_position(s, &at, NULL, NULL), at + 1 < SCALES))
		if ((st = nst_scales_next(s, &diag)) == NST_OK)
			st = nst_scales_run_scale(s, stop_at, &stop);
	const size_t n = (size_t)96 * 80 * 3;
	uint8_t *got = malloc(n);
	CHECK(st == NST_OK && got && nst_scales_image(s, got) == NST_OK, "resumed run: %s", nst_status_string(st));
	CHECK(got && memcmp(got, want, n) == 0, "stopped in scale %d and resumed: the picture differs", scale);
	CHECK(nst_scales_rows(s) == n_rows && stop.first_row == loaded, "resumed: %d rows (expected %d), first %d (expected %d)",
	      nst_scales_rows(s), n_rows, stop.first_row, loaded);
	free(got);
	nst_scales_release(s);
	nst_arena_free(arena);
}

/* The driver's run of the plan equals the reference; its rows are the run's; it resumes from a
 * checkpoint of either scale, unless tiled. */
static void check_run(const struct nst_weights *w, const struct nst_options *o, const struct pictures *pic,
                      size_t max_bytes, bool expect_tiles, const char *ckpt) {
	struct nst_scales_options so;
	scales_options(pic, max_bytes, &so);
	struct nst_scales_plan p;
	struct nst_diag diag = {{0}};
	enum nst_status st = nst_scales_plan(w, o, &so, &p, &diag);
	CHECK(st == NST_OK, "plan (budget %zu): %s", max_bytes, diag.message);
	if (st != NST_OK)
		return;
	CHECK(!p.tiled[0] && p.tiled[1] == expect_tiles, "budget %zu: tiled %d %d", max_bytes, p.tiled[0], p.tiled[1]);
	CHECK(!max_bytes || p.total_bytes <= max_bytes, "plan %zu bytes over the budget %zu", p.total_bytes, max_bytes);
	CHECK(p.total_bytes == p.state_bytes + p.handover_bytes + p.scale_bytes, "arena = state + hand-over + scale");
	CHECK(p.handover_bytes >= (size_t)(48 * 40 + 96 * 80) * 3 * sizeof(float), "hand-over %zu bytes", p.handover_bytes);
	void *arena = nst_arena_allocate(p.total_bytes);
	struct nst_scales *s = NULL;
	CHECK(nst_scales_init(arena, p.total_bytes - 1, w, &p, &s, &diag) == NST_ERR_OUT_OF_MEMORY, "a byte less refused");
	CHECK(nst_scales_init(arena, p.total_bytes, w, &p, &s, &diag) == NST_OK, "init: %s", diag.message);
	for (int i = 0; i < SCALES; i++) {
		nst_scales_set_content(s, i, pic->content[i].rgb);
		nst_scales_set_style(s, i, 0, pic->style[i].rgb, 1.0f);
	}
	struct rows rows = {0};
	st = nst_scales_run(s, count_row, &rows, &diag);
	CHECK(st == NST_OK, "run: %s (%s)", nst_status_string(st), diag.message);
	int scale = -1, sweep = -1, tile = -1;
	nst_scales_position(s, &scale, &sweep, &tile);
	CHECK(scale == 1, "ends at the last scale (%d)", scale);
	CHECK(nst_scales_next(s, &diag) == NST_ERR_INVALID_ARGUMENT, "no scale after the last");
	CHECK(nst_scales_save_checkpoint(s, ckpt, &diag) == NST_OK, "a checkpoint of the finished run: %s", diag.message);
	CHECK(rows.n > ITERATIONS_FIRST && rows.bad_numbering == 0 && rows.bad_scale == 0 && rows.bad_tile == 0,
	      "rows: %d, numbering %d, scale %d, tile %d wrong", rows.n, rows.bad_numbering, rows.bad_scale, rows.bad_tile);
	CHECK((rows.tiled_rows > 0) == expect_tiles, "%d rows reported tiled", rows.tiled_rows);
	const size_t n = (size_t)96 * 80 * 3;
	uint8_t *got = malloc(n), *want = malloc(n);
	CHECK(nst_scales_image(s, got) == NST_OK, "image");
	nst_scales_release(s);
	nst_arena_free(arena);
	reference(w, &p, pic, want);
	CHECK(memcmp(got, want, n) == 0, "budget %zu (%s): the driver's picture differs from the steps written out",
	      max_bytes, expect_tiles ? "tiles" : "sessions");
	CHECK(memcmp(got, pic->content[1].rgb, n) != 0, "the picture changed");
	check_resume(w, &p, pic, ckpt, ITERATIONS_FIRST / 2, 0, got, rows.n);
	check_resume(w, &p, pic, ckpt, rows.n - 2, 1, got, rows.n); /* in tiles: inside the last tile */
	free(got);
	free(want);
}

/* The larger scale does not fit: tiles within the budget; a budget smaller than any tile: refused. */
/* A checkpoint's bytes loaded by a fresh driver of plan p: the status, diag filled. */
static enum nst_status load_bytes(const struct nst_weights *w, const struct nst_scales_plan *p,
                                  const struct pictures *pic, const char *path, const uint8_t *b, size_t size,
                                  struct nst_diag *diag) {
	void *arena = NULL;
	enum nst_status st = NST_ERR_IO;
	memset(diag, 0, sizeof *diag);
	struct nst_scales *s = support_write_file(path, b, size) == 0 ? open_driver(w, p, pic, &arena) : NULL;
	if (s)
		st = nst_scales_load_checkpoint(s, path, diag);
	nst_scales_release(s);
	nst_arena_free(arena);
	return st;
}

/* The tiled checkpoint (its header: 128 bytes, then the picture) of the second scale: each bit of
 * the header and of the trailer flipped is "corrupted"; crafted fields with a right CRC are
 * "impossible". */
#define TILED_HEADER_BYTES 128
#define OFF_TILED_RESERVED 36
#define OFF_TILED_SWEEP 40
#define OFF_TILED_TILE 44
#define OFF_TILED_ROW 48
#define OFF_TILED_DONE 52
#define OFF_TILED_CONFIG_CRC 56
#define OFF_TILED_RESERVED2 60
#define OFF_TILED_SECONDS 64
#define OFF_TILED_SCALE 72
#define OFF_TILED_ROWS_BEFORE 80
#define OFF_TILED_SIDE_OF_SCALE_2 100
static void check_tiled_file(const struct nst_weights *w, const struct nst_scales_plan *p, const struct pictures *pic,
                             const char *ckpt, const char *mutated) {
	size_t size = 0;
	uint8_t *good = support_read_file(ckpt, &size);
	uint8_t *bad = good ? malloc(size) : NULL;
	struct nst_diag diag;
	CHECK(bad && size > TILED_HEADER_BYTES + 4 && memcmp(good, "NSTT", 4) == 0, "a tiled checkpoint (%zu bytes)", size);
	if (!bad) {
		free(good);
		return;
	}
	int accepted = 0, unworded = 0;
	for (size_t off = 0; off < size; off += off < TILED_HEADER_BYTES || off >= size - 4 ? 1 : 61)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, good, size);
			bad[off] ^= (uint8_t)(1u << bit);
			const enum nst_status st = load_bytes(w, p, pic, mutated, bad, size, &diag);
			accepted += st == NST_OK;
			unworded += st != NST_OK && !strstr(diag.message, "corrupted");
			if (st != NST_OK && !strstr(diag.message, "corrupted") && unworded == 1)
				fprintf(stderr, "offset %zu bit %d: %s\n", off, bit, diag.message);
		}
	CHECK(accepted == 0 && unworded == 0, "tiled checkpoint bit flips: %d accepted, %d not said corrupted", accepted,
	      unworded);
	const struct {
		int offset;
		int32_t value;
	} fields[] = {{OFF_TILED_SWEEP, 99}, {OFF_TILED_TILE, 99}, {OFF_TILED_ROW, -1}, {OFF_TILED_DONE, 2},
	              {OFF_TILED_RESERVED, 1}, {OFF_TILED_RESERVED2, 1}, {OFF_TILED_SCALE, 0}, {OFF_TILED_SCALE, 2},
	              {OFF_TILED_ROWS_BEFORE, -1}, {OFF_TILED_ROWS_BEFORE, 1 << 30}, {OFF_TILED_SIDE_OF_SCALE_2, 0},
	              {OFF_TILED_SIDE_OF_SCALE_2, 5000}};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		memcpy(bad, good, size);
		memcpy(bad + fields[i].offset, &fields[i].value, sizeof(int32_t));
		const uint32_t crc = nst_crc32(0, bad, size - 4);
		for (int k = 0; k < 4; k++)
			bad[size - 4 + (size_t)k] = (uint8_t)(crc >> (8 * k));
		CHECK(load_bytes(w, p, pic, mutated, bad, size, &diag) != NST_OK && strstr(diag.message, "impossible"),
		      "a crafted field at %d: %s", fields[i].offset, diag.message);
	}
	const double nan = NAN;
	memcpy(bad, good, size);
	memcpy(bad + OFF_TILED_SECONDS, &nan, sizeof nan);
	const uint32_t crc = nst_crc32(0, bad, size - 4);
	for (int k = 0; k < 4; k++)
		bad[size - 4 + (size_t)k] = (uint8_t)(crc >> (8 * k));
	CHECK(load_bytes(w, p, pic, mutated, bad, size, &diag) != NST_OK && strstr(diag.message, "impossible"),
	      "seconds NaN: %s", diag.message);
	CHECK(load_bytes(w, p, pic, mutated, good, size, &diag) == NST_OK, "the genuine tiled checkpoint: %s", diag.message);
	/* Other options (the fingerprint changed, the CRC right): refused, and the driver, its scale
	 * started for the load, refuses to go on rather than run that scale from the wrong start. */
	memcpy(bad, good, size);
	bad[OFF_TILED_CONFIG_CRC] ^= 1;
	const uint32_t fixed = nst_crc32(0, bad, size - 4);
	for (int k = 0; k < 4; k++)
		bad[size - 4 + (size_t)k] = (uint8_t)(fixed >> (8 * k));
	void *arena = NULL;
	struct nst_scales *s = support_write_file(mutated, bad, size) == 0 ? open_driver(w, p, pic, &arena) : NULL;
	if (s) {
		CHECK(nst_scales_load_checkpoint(s, mutated, &diag) == NST_ERR_INVALID_ARGUMENT &&
		      strstr(diag.message, "other pictures or options"), "other options: %s", diag.message);
		CHECK(nst_scales_run(s, NULL, NULL, &diag) == NST_ERR_INVALID_ARGUMENT && strstr(diag.message, "cannot go on"),
		      "the driver after a failed load: %s", diag.message);
		nst_scales_release(s);
	}
	nst_arena_free(arena);
	remove(mutated);
	free(good);
	free(bad);
}

static void check_budget(const struct nst_weights *w, const struct nst_options *o, const struct pictures *pic,
                         const char *ckpt, const char *ckpt_tiles, const char *mutated) {
	struct nst_scales_options so;
	scales_options(pic, 0, &so);
	struct nst_scales_plan whole;
	struct nst_diag diag = {{0}};
	CHECK(nst_scales_plan(w, o, &so, &whole, &diag) == NST_OK, "plan without a budget: %s", diag.message);
	CHECK(!whole.tiled[0] && !whole.tiled[1], "no budget: no tiles");
	check_run(w, o, pic, 0, false, ckpt);
	/* a byte less than the whole plan: the larger scale goes to tiles; check_run's last checkpoints
	 * (of the second scale) do not load into the other plan */
	check_run(w, o, pic, whole.total_bytes - 1, true, ckpt_tiles);
	scales_options(pic, whole.total_bytes - 1, &so);
	struct nst_scales_plan tiled;
	CHECK(nst_scales_plan(w, o, &so, &tiled, &diag) == NST_OK && tiled.tiled[1], "the tiled plan");
	const struct {
		const struct nst_scales_plan *plan;
		const char *path, *what;
	} crossed[] = {{&tiled, ckpt, "a session's checkpoint into a tiled scale"},
	               {&whole, ckpt_tiles, "a tiled checkpoint into a scale run whole"}};
	for (int i = 0; i < 2; i++) {
		void *arena = NULL;
		struct nst_scales *s = open_driver(w, crossed[i].plan, pic, &arena);
		if (s) {
			const enum nst_status st = nst_scales_load_checkpoint(s, crossed[i].path, &diag);
			CHECK(st == NST_ERR_INVALID_ARGUMENT && strstr(diag.message, "tiles"), "%s: %s", crossed[i].what,
			      diag.message);
			nst_scales_release(s);
		}
		nst_arena_free(arena);
	}
	check_tiled_file(w, &tiled, pic, ckpt_tiles, mutated);
	/* A scale's tiles pinned (a tiled checkpoint's, resumed): in tiles of that side without a budget. */
	scales_options(pic, 0, &so);
	so.tile_sides[1] = tiled.tile_plans[1].side;
	struct nst_scales_plan pinned;
	CHECK(nst_scales_plan(w, o, &so, &pinned, &diag) == NST_OK && !pinned.tiled[0] && pinned.tiled[1] &&
	      pinned.tile_plans[1].side == tiled.tile_plans[1].side, "tiles pinned at %d px: %s", so.tile_sides[1],
	      diag.message);
	so.tile_sides[1] = NST_SCALE_WHOLE - 1;
	CHECK(nst_scales_plan(w, o, &so, &pinned, &diag) == NST_ERR_INVALID_ARGUMENT, "a negative tile side refused");
	/* A scale pinned whole (as the checkpoint's run painted it) is refused over the budget that
	 * would tile it, and planned whole within one that would not. */
	scales_options(pic, whole.total_bytes - 1, &so);
	so.tile_sides[1] = NST_SCALE_WHOLE;
	CHECK(nst_scales_plan(w, o, &so, &pinned, &diag) == NST_ERR_OVER_MEMORY_LIMIT && strstr(diag.message, "one session"),
	      "pinned whole over the budget: %s", diag.message);
	scales_options(pic, whole.total_bytes, &so);
	so.tile_sides[1] = NST_SCALE_WHOLE;
	CHECK(nst_scales_plan(w, o, &so, &pinned, &diag) == NST_OK && !pinned.tiled[1], "pinned whole: %s", diag.message);
	scales_options(pic, whole.state_bytes + whole.handover_bytes + 1024, &so);
	struct nst_scales_plan none;
	CHECK(nst_scales_plan(w, o, &so, &none, &diag) == NST_ERR_OVER_MEMORY_LIMIT, "a budget below any tile refused");
	/* The refusal names the least limit that works (every tiled scale's smallest tiles beside what
	 * is held, rounded up to a MiB, and a MiB of margin for the caller's RSS): it does, and two MiB
	 * less does not. */
	const char *named = strstr(diag.message, "the run needs a limit of ");
	double least = 0.0;
	CHECK(named && sscanf(named, "the run needs a limit of %lf MiB or more", &least) == 1 && least > 0.0,
	      "the least limit named: %s", diag.message);
	const double mib = 1024.0 * 1024.0;
	scales_options(pic, (size_t)(least * mib), &so);
	CHECK(nst_scales_plan(w, o, &so, &none, &diag) == NST_OK, "the named least limit, %.0f MiB: %s", least, diag.message);
	scales_options(pic, (size_t)((least - 2.0) * mib), &so);
	CHECK(nst_scales_plan(w, o, &so, &none, &diag) == NST_ERR_OVER_MEMORY_LIMIT, "two MiB under the named least limit");
}

int main(void) {
	const uint64_t seed = support_seed("test_coarse_to_fine");
	check_schedule();
	char *dir = support_tmpdir("coarse");
	CHECK(dir != NULL, "mkdtemp");
	if (!dir)
		return check_finish("test_coarse_to_fine");
	char path[512];
	snprintf(path, sizeof path, "%s/vgg.nstw", dir);
	/* conv1_1 conv1_2 | pool | conv2_1 conv2_2 | pool | conv3_1 conv3_2 */
	const struct support_vgg_layer layers[] = {{1, 8, 0}, {1, 8, 0}, {2, 16, 0}, {2, 8, 0}, {3, 16, 0}, {3, 8, 0}};
	CHECK(support_write_vgg(path, layers, 6, seed, NST_DTYPE_F32) == 0, "write %s", path);
	struct nst_weights *w = NULL;
	struct nst_diag diag = {{0}};
	CHECK(nst_weights_open(path, &w, &diag) == NST_OK, "open %s: %s", path, diag.message);
	if (w) {
		struct nst_options o;
		nst_options_default(&o);
		o.threads = 2;
		o.backend = NST_BACKEND_SCALAR; /* the same arithmetic everywhere, qemu included */
		struct pictures pic;
		make_pictures(seed, &pic);
		char ckpt[600], ckpt_tiles[600], mutated[600];
		snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
		snprintf(ckpt_tiles, sizeof ckpt_tiles, "%s/tiles.ckpt", dir);
		snprintf(mutated, sizeof mutated, "%s/mutated.ckpt", dir);
		check_budget(w, &o, &pic, ckpt, ckpt_tiles, mutated);
		remove(ckpt);
		remove(ckpt_tiles);
		free_pictures(&pic);
		nst_weights_close(w);
	}
	support_rmdir(dir);
	free(dir);
	return check_finish("test_coarse_to_fine");
}
