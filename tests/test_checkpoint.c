/*
 * Checkpoints (src/checkpoint.c, nst_session_save_checkpoint / nst_session_load_checkpoint):
 *   - a checkpoint of a stopped run, loaded into a fresh session, continues it bit for bit
 *     (Adam and L-BFGS);
 *   - every single-bit flip of the header and of the CRC trailer, and flips spread over the
 *     payload, are refused as corrupted (the CRC-32 covers the whole file);
 *   - a file whose CRC is right but whose fields are out of bounds or inconsistent (what a
 *     crafted file or a fuzzer gives) is refused too, and the session still runs afterwards
 *     (under `make SAN=1`: no signed overflow, no float-to-int overflow);
 *   - a truncated or extended file is refused; a checkpoint of other options is told apart, and
 *     one of another scale of a coarse-to-fine run too;
 *   - a version 2 file (nst 0.2: the header without the place in a coarse-to-fine run) still
 *     loads, as scale 0 of 1.
 * The network is a tiny random VGG written by this test (tests/support.c); the pictures are random.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "support.h"

#define PATH_BYTES 1024
#define DIR_BYTES 512 /* the mkdtemp directory; PATH_BYTES leaves room for the names in it */
#define W 12
#define H 10
#define STYLE_W 9
#define STYLE_H 11
#define ITERATIONS 5
#define STOP_AT 3          /* the first run stops after this many loss-log rows */
#define HISTORY 3
#define PAYLOAD_STRIDE 97  /* payload bytes between two flipped ones */

/* The checkpoint header's layout (version 3), as src/checkpoint.c writes it: little-endian.
 * Version 2's header is the same up to OFF_SCALE. */
enum {
	OFF_MAGIC = 0, OFF_VERSION = 4, OFF_WIDTH = 8, OFF_HEIGHT = 12, OFF_OPTIMIZER = 16, OFF_HISTORY = 20,
	OFF_ROW = 24, OFF_PENDING = 28, OFF_LOOP_DONE = 32, OFF_DONE = 36, OFF_GOOD_ROW = 40, OFF_ADAM_STEP = 44,
	OFF_N_ITER = 48, OFF_EVALS = 52, OFF_N_OLD = 56, OFF_OLDEST = 60, OFF_CONFIG_CRC = 64, OFF_RESERVED = 68,
	OFF_H_DIAG = 72, OFF_T = 80, OFF_SECONDS = 88, OFF_LAST = 96, OFF_F = 128, OFF_TOL_F = 136,
	OFF_TOL_ITERATION = 144, OFF_CONVERGED = 148, OFF_SEARCH_GTD = 152, OFF_SEARCHING = 160, OFF_RESERVED2 = 164,
	OFF_SCALE = 168, OFF_N_SCALES = 172, OFF_ROWS_BEFORE = 176, OFF_RESERVED3 = 180, OFF_SECONDS_BEFORE = 184,
	OFF_TILE_SIDES = 192, HEADER_BYTES = 224, TRAILER_BYTES = 4, VERSION_ONE_SCALE = 2
};

struct fixture {
	struct nst_weights *weights;
	uint8_t content[H * W * 3], style[STYLE_H * STYLE_W * 3]; /* [H][W][3] each */
	char dir[DIR_BYTES];
};

struct run {
	void *arena;
	struct nst_session *s;
};

static void options_for(enum nst_optimizer optimizer, struct nst_options *o) {
	nst_options_default(o);
	nst_options_set_layers(o, false, "relu2_1", NULL);
	nst_options_set_layers(o, true, "relu1_1,relu2_1", NULL);
	o->optimizer = optimizer;
	o->history = HISTORY;
	o->backend = NST_BACKEND_SCALAR; /* the same result on every machine */
	/* One evaluation an iteration, so that the crafted fields below have one right value each; the
	 * line search's checkpoints are test_search_resume's. */
	o->line_search = NST_LINE_SEARCH_NONE;
	o->threads = 1;
}

static bool open_run(const struct fixture *f, const struct nst_options *o, struct run *r) {
	const struct nst_problem p = {W, H, 1, {STYLE_W}, {STYLE_H}};
	struct nst_plan plan;
	struct nst_diag diag = {{0}};
	memset(r, 0, sizeof *r);
	if (nst_plan(f->weights, o, &p, &plan, &diag) != NST_OK) {
		fprintf(stderr, "plan: %s\n", diag.message);
		return false;
	}
	r->arena = nst_arena_allocate(plan.total_bytes);
	if (!r->arena || nst_session_init(r->arena, plan.total_bytes, f->weights, o, &p, &r->s, &diag) != NST_OK) {
		fprintf(stderr, "init: %s\n", diag.message);
		nst_arena_free(r->arena);
		return false;
	}
	return nst_session_set_content(r->s, f->content) == NST_OK && nst_session_set_style(r->s, 0, f->style, 1.0f) == NST_OK &&
	       nst_session_prepare(r->s) == NST_OK;
}

static void close_run(struct run *r) {
	if (r->s)
		nst_session_release(r->s);
	nst_arena_free(r->arena);
	memset(r, 0, sizeof *r);
}

static bool stop_early(void *user, const struct nst_progress *p) {
	(void)user;
	return p->iteration + 1 < STOP_AT;
}

/* The CRC-32 trailer recomputed, as a crafted file would have it. */
static void fix_crc(uint8_t *b, size_t size) {
	const uint32_t crc = nst_crc32(0, b, size - TRAILER_BYTES);
	for (int i = 0; i < 4; i++)
		b[size - TRAILER_BYTES + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

/* Loads bytes as a checkpoint into r; returns the status, diag filled. */
static enum nst_status load_bytes(const struct fixture *f, struct run *r, const uint8_t *b, size_t size,
                                  struct nst_diag *diag) {
	char path[PATH_BYTES];
	snprintf(path, sizeof path, "%s/mutated.ckpt", f->dir);
	if (support_write_file(path, b, size) != 0)
		return NST_ERR_IO;
	memset(diag, 0, sizeof *diag);
	return nst_session_load_checkpoint(r->s, path, diag);
}

/* Saves a checkpoint from inside the progress callback at row SEARCH_SAVE_AT, which falls inside
 * an L-BFGS line search (the first search extrapolates from a tiny step for several rows). */
#define SEARCH_SAVE_AT 3
struct search_save {
	const char *path;
	bool saved;
	enum nst_status status;
	struct nst_session *session_for_save;
};

static bool save_inside(void *user, const struct nst_progress *p) {
	struct search_save *c = user;
	if (p->iteration == SEARCH_SAVE_AT && !c->saved) {
		struct nst_diag diag = {{0}};
		c->saved = true;
		c->status = nst_session_save_checkpoint(c->session_for_save, c->path, &diag);
	}
	return true;
}

/* The strong-Wolfe line search: a checkpoint taken inside a search resumes to exactly the
 * uninterrupted run (the search starts again from where it began); a stop asked for inside a
 * search ends the run at the point the search accepts, and resumes exactly too. */
static void test_search_resume(const struct fixture *f) {
	struct nst_options o;
	options_for(NST_OPTIMIZER_LBFGS, &o);
	o.line_search = NST_LINE_SEARCH_STRONG_WOLFE;
	const size_t n = (size_t)W * H * 3;
	float *reference = malloc(n * sizeof(float)), *resumed = malloc(n * sizeof(float)); /* [H][W][3] each */
	char ckpt[PATH_BYTES], stopped[PATH_BYTES];
	snprintf(ckpt, sizeof ckpt, "%s/search.ckpt", f->dir);
	snprintf(stopped, sizeof stopped, "%s/stopped.ckpt", f->dir);
	struct run a, b, c;
	if (!reference || !resumed || !open_run(f, &o, &a)) {
		CHECK(false, "line search: cannot set up the session");
		free(reference);
		free(resumed);
		return;
	}
	struct search_save save = {ckpt, false, NST_ERR_INVALID_ARGUMENT, a.s};
	CHECK(nst_session_run(a.s, ITERATIONS * 2, save_inside, &save) == NST_OK, "line search: the reference run");
	CHECK(save.saved && save.status == NST_OK, "line search: no checkpoint inside the search (%s)",
	      nst_status_string(save.status));
	nst_session_get_x(a.s, reference);
	const int rows = nst_session_rows(a.s);
	close_run(&a);

	CHECK(open_run(f, &o, &b), "line search: second session");
	if (b.s) {
		struct nst_diag diag = {{0}};
		CHECK(nst_session_load_checkpoint(b.s, ckpt, &diag) == NST_OK, "line search: load: %s", diag.message);
		CHECK(nst_session_rows(b.s) < SEARCH_SAVE_AT, "line search: resumed at row %d, not at the search's start",
		      nst_session_rows(b.s));
		CHECK(nst_session_run(b.s, ITERATIONS * 2, NULL, NULL) == NST_OK, "line search: the resumed run");
		nst_session_get_x(b.s, resumed);
		CHECK(memcmp(reference, resumed, n * sizeof(float)) == 0 && nst_session_rows(b.s) == rows,
		      "line search: the run resumed from inside a search differs (%d rows, %d uninterrupted)",
		      nst_session_rows(b.s), rows);
		close_run(&b);
	}

	/* A stop asked for at row SEARCH_SAVE_AT: the run ends after the search, then resumes exactly. */
	CHECK(open_run(f, &o, &c), "line search: third session");
	if (c.s) {
		struct nst_diag diag = {{0}};
		CHECK(nst_session_run(c.s, ITERATIONS * 2, stop_early, NULL) == NST_ERR_INTERRUPTED, "line search: the stop");
		CHECK(nst_session_rows(c.s) >= STOP_AT, "line search: stopped after %d rows", nst_session_rows(c.s));
		CHECK(nst_session_save_checkpoint(c.s, stopped, &diag) == NST_OK, "line search: save: %s", diag.message);
		close_run(&c);
		CHECK(open_run(f, &o, &c), "line search: fourth session");
		if (c.s) {
			CHECK(nst_session_load_checkpoint(c.s, stopped, &diag) == NST_OK, "line search: load: %s", diag.message);
			CHECK(nst_session_run(c.s, ITERATIONS * 2, NULL, NULL) == NST_OK, "line search: the resumed run");
			nst_session_get_x(c.s, resumed);
			CHECK(memcmp(reference, resumed, n * sizeof(float)) == 0,
			      "line search: the run resumed after a stop differs from the uninterrupted one");
		}
		close_run(&c);
	}
	free(reference);
	free(resumed);
}

/* The last checkpoint written by a callback that saves at every row, i.e. at the final row of a
 * run the tolerance ended early: accepted, and resuming it adds no row and changes nothing. */
static bool save_every_row(void *user, const struct nst_progress *p) {
	struct search_save *c = user;
	struct nst_diag diag = {{0}};
	(void)p;
	c->saved = true;
	c->status = nst_session_save_checkpoint(c->session_for_save, c->path, &diag);
	return c->status == NST_OK;
}

static void test_converged_resume(const struct fixture *f, enum nst_optimizer optimizer) {
	const char *name = optimizer == NST_OPTIMIZER_ADAM ? "adam converged" : "lbfgs converged";
	struct nst_options o;
	options_for(optimizer, &o);
	o.line_search = NST_LINE_SEARCH_STRONG_WOLFE;
	o.tolerance = 0.9f; /* ends at the first window */
	const size_t n = (size_t)W * H * 3;
	float *reference = malloc(n * sizeof(float)), *resumed = malloc(n * sizeof(float)); /* [H][W][3] each */
	char ckpt[PATH_BYTES];
	snprintf(ckpt, sizeof ckpt, "%s/converged.ckpt", f->dir);
	struct run a, b;
	if (!reference || !resumed || !open_run(f, &o, &a)) {
		CHECK(false, "%s: cannot set up the session", name);
		free(reference);
		free(resumed);
		return;
	}
	struct search_save save = {ckpt, false, NST_ERR_INVALID_ARGUMENT, a.s};
	CHECK(nst_session_run(a.s, 4 * NST_TOLERANCE_WINDOW, save_every_row, &save) == NST_OK, "%s: the run", name);
	CHECK(nst_session_converged(a.s) && save.status == NST_OK, "%s: converged %d, last save %s", name,
	      nst_session_converged(a.s), nst_status_string(save.status));
	const int rows = nst_session_rows(a.s);
	nst_session_get_x(a.s, reference);
	close_run(&a);
	CHECK(open_run(f, &o, &b), "%s: second session", name);
	if (b.s) {
		struct nst_diag diag = {{0}};
		CHECK(nst_session_load_checkpoint(b.s, ckpt, &diag) == NST_OK, "%s: the final row's checkpoint: %s", name,
		      diag.message);
		CHECK(nst_session_run(b.s, 4 * NST_TOLERANCE_WINDOW, NULL, NULL) == NST_OK, "%s: the resumed run", name);
		nst_session_get_x(b.s, resumed);
		CHECK(nst_session_rows(b.s) == rows && memcmp(reference, resumed, n * sizeof(float)) == 0,
		      "%s: resumed at the final row: %d rows (%d before), picture %s", name, nst_session_rows(b.s), rows,
		      memcmp(reference, resumed, n * sizeof(float)) ? "differs" : "the same");
		close_run(&b);
	}
	free(reference);
	free(resumed);
}

static void test_optimizer(const struct fixture *f, enum nst_optimizer optimizer) {
	const char *name = optimizer == NST_OPTIMIZER_ADAM ? "adam" : "lbfgs";
	struct nst_options o;
	options_for(optimizer, &o);
	const size_t n = (size_t)W * H * 3;
	float *reference = malloc(n * sizeof(float)), *resumed = malloc(n * sizeof(float)); /* [H][W][3] each */
	char ckpt[PATH_BYTES];
	snprintf(ckpt, sizeof ckpt, "%s/%s.ckpt", f->dir, name);

	/* The stopped run, its checkpoint, then the rest of it: the reference. */
	struct run a, b;
	if (!open_run(f, &o, &a) || !reference || !resumed) {
		CHECK(false, "%s: cannot set up the session", name);
		close_run(&a);
		free(reference);
		free(resumed);
		return;
	}
	CHECK(nst_session_run(a.s, ITERATIONS, stop_early, NULL) == NST_ERR_INTERRUPTED, "%s: the run stops early", name);
	struct nst_diag diag = {{0}};
	CHECK(nst_session_save_checkpoint(a.s, ckpt, &diag) == NST_OK, "%s: save: %s", name, diag.message);
	CHECK(nst_session_run(a.s, ITERATIONS, NULL, NULL) == NST_OK, "%s: the run finishes", name);
	nst_session_get_x(a.s, reference);
	close_run(&a);

	/* A fresh session resumes it exactly. */
	CHECK(open_run(f, &o, &b), "%s: second session", name);
	if (!b.s) {
		free(reference);
		free(resumed);
		return;
	}
	CHECK(nst_session_load_checkpoint(b.s, ckpt, &diag) == NST_OK, "%s: load: %s", name, diag.message);
	CHECK(nst_session_rows(b.s) == STOP_AT, "%s: resumed at row %d, expected %d", name, nst_session_rows(b.s), STOP_AT);
	CHECK(nst_session_run(b.s, ITERATIONS, NULL, NULL) == NST_OK, "%s: the resumed run finishes", name);
	nst_session_get_x(b.s, resumed);
	CHECK(memcmp(reference, resumed, n * sizeof(float)) == 0, "%s: the resumed run differs from the uninterrupted one",
	      name);

	size_t size = 0;
	uint8_t *good = support_read_file(ckpt, &size);
	uint8_t *bad = good ? malloc(size + 1) : NULL;
	CHECK(bad && size > HEADER_BYTES + TRAILER_BYTES, "%s: read the checkpoint back (%zu bytes)", name, size);
	if (!bad) {
		close_run(&b);
		free(good);
		free(reference);
		free(resumed);
		return;
	}

	/* Every bit of the header and the trailer, and bits spread over the payload, flipped one at
	 * a time: each refused as corrupted. */
	int flips = 0, accepted = 0, unworded = 0;
	for (size_t off = 0; off < size; off++) {
		const bool dense = off < HEADER_BYTES || off >= size - TRAILER_BYTES;
		if (!dense && (off - HEADER_BYTES) % PAYLOAD_STRIDE != 0)
			continue;
		for (int bit = 0; bit < 8; bit++) {
			if (!dense && bit != (int)(off % 8))
				continue;
			memcpy(bad, good, size);
			bad[off] ^= (uint8_t)(1u << bit);
			const enum nst_status st = load_bytes(f, &b, bad, size, &diag);
			flips++;
			if (st == NST_OK) {
				if (accepted++ < 5)
					fprintf(stderr, "%s: a flip of bit %d at offset %zu was accepted\n", name, bit, off);
			} else if (!strstr(diag.message, "corrupted")) {
				if (unworded++ < 5)
					fprintf(stderr, "%s: offset %zu bit %d: status %s, message '%s' does not say corrupted\n", name,
					        off, bit, nst_status_string(st), diag.message);
			}
		}
	}
	CHECK(accepted == 0, "%s: %d of %d single-bit flips were accepted", name, accepted, flips);
	CHECK(unworded == 0, "%s: %d of %d refusals do not say 'corrupted'", name, unworded, flips);

	/* Truncated by one byte, extended by one byte, cut to the header. */
	CHECK(load_bytes(f, &b, good, size - 1, &diag) != NST_OK && strstr(diag.message, "corrupted"),
	      "%s: one byte short: %s", name, diag.message);
	memcpy(bad, good, size);
	bad[size] = 0;
	CHECK(load_bytes(f, &b, bad, size + 1, &diag) != NST_OK && strstr(diag.message, "corrupted"),
	      "%s: one byte too many: %s", name, diag.message);
	CHECK(load_bytes(f, &b, good, HEADER_BYTES, &diag) != NST_OK, "%s: the header alone was accepted", name);

	/* A right CRC over wrong fields: what a crafted file or a fuzzer gives. */
	struct field {
		int offset;
		int32_t value;
	};
	const struct field ints[] = {
		{OFF_ROW, INT32_MAX}, {OFF_ROW, (1 << 30) + 1}, {OFF_ROW, STOP_AT + 1}, {OFF_ROW, -1},
		{OFF_ADAM_STEP, -1}, {OFF_ADAM_STEP, INT32_MAX}, {OFF_ADAM_STEP, STOP_AT + 7},
		{OFF_N_ITER, INT32_MAX}, {OFF_N_ITER, -5}, {OFF_EVALS, -1}, {OFF_EVALS, INT32_MAX},
		{OFF_N_OLD, HISTORY + 1}, {OFF_N_OLD, -1}, {OFF_OLDEST, HISTORY}, {OFF_OLDEST, -1},
		{OFF_PENDING, 2}, {OFF_LOOP_DONE, 7}, {OFF_DONE, 2}, {OFF_GOOD_ROW, STOP_AT}, {OFF_GOOD_ROW, -2},
		{OFF_RESERVED, 1}, {OFF_TOL_ITERATION, -1}, {OFF_TOL_ITERATION, INT32_MAX}, {OFF_CONVERGED, 2},
		{OFF_CONVERGED, 1}, {OFF_SEARCHING, 1}, {OFF_SEARCHING, 2}, {OFF_RESERVED2, 1},
		{OFF_SCALE, 1}, {OFF_SCALE, -1}, {OFF_N_SCALES, 0}, {OFF_N_SCALES, NST_MAX_SCALES + 1},
		{OFF_ROWS_BEFORE, 5}, {OFF_ROWS_BEFORE, -1}, {OFF_RESERVED3, 1}, {OFF_TILE_SIDES, 64}, {OFF_TILE_SIDES, -1},
		{OFF_TILE_SIDES + 4, 64},
	};
	const struct field *seen = ints + sizeof ints / sizeof ints[0];
	int crafted_accepted = 0;
	for (const struct field *fl = ints; fl < seen; fl++) {
		memcpy(bad, good, size);
		memcpy(bad + fl->offset, &fl->value, sizeof fl->value);
		fix_crc(bad, size);
		if (memcmp(bad, good, size) == 0)
			continue; /* the field already had that value */
		const enum nst_status st = load_bytes(f, &b, bad, size, &diag);
		if (st == NST_OK || !strstr(diag.message, "impossible")) {
			crafted_accepted++;
			fprintf(stderr, "%s: field at %d = %d with a right CRC: %s\n", name, fl->offset, fl->value,
			        st == NST_OK ? "accepted" : diag.message);
		}
		/* Whatever the load said, the session runs on (re-prepared): no overflow, no crash. */
		const enum nst_status run = nst_session_run(b.s, ITERATIONS, NULL, NULL);
		CHECK(run == NST_OK || run == NST_ERR_NUMERIC, "%s: a run after the crafted field at %d: %s", name, fl->offset,
		      nst_status_string(run));
	}
	const struct {
		int offset;
		double value;
	} doubles[] = {{OFF_H_DIAG, NAN}, {OFF_H_DIAG, -1.0}, {OFF_H_DIAG, INFINITY}, {OFF_T, NAN}, {OFF_T, -2.0},
	               {OFF_SECONDS, -1.0}, {OFF_SECONDS, NAN}, {OFF_F, NAN}, {OFF_TOL_F, NAN}, {OFF_TOL_F, INFINITY},
	               {OFF_SECONDS_BEFORE, 1.0}, {OFF_SECONDS_BEFORE, NAN}};
	for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
		if (optimizer == NST_OPTIMIZER_ADAM && doubles[i].offset != OFF_SECONDS && doubles[i].offset != OFF_TOL_F &&
		    doubles[i].offset != OFF_SECONDS_BEFORE && isnan(doubles[i].value))
			continue; /* Adam's L-BFGS fields are 0: -1 and inf are enough there */
		memcpy(bad, good, size);
		memcpy(bad + doubles[i].offset, &doubles[i].value, sizeof(double));
		fix_crc(bad, size);
		if (load_bytes(f, &b, bad, size, &diag) == NST_OK || !strstr(diag.message, "impossible")) {
			crafted_accepted++;
			fprintf(stderr, "%s: double at %d = %g with a right CRC: %s\n", name, doubles[i].offset,
			        doubles[i].value, diag.message);
		}
	}
	/* A picture value that is not finite (the first float of x). */
	memcpy(bad, good, size);
	const float nan_value = NAN;
	memcpy(bad + HEADER_BYTES, &nan_value, sizeof nan_value);
	fix_crc(bad, size);
	if (load_bytes(f, &b, bad, size, &diag) == NST_OK || !strstr(diag.message, "impossible")) {
		crafted_accepted++;
		fprintf(stderr, "%s: a NaN pixel with a right CRC: %s\n", name, diag.message);
	}
	CHECK(crafted_accepted == 0, "%s: %d crafted files with a right CRC were not refused for their fields", name,
	      crafted_accepted);

	/* The second scale of a run of two: a place a run can be at, not this session's. */
	memcpy(bad, good, size);
	const uint32_t two = 2;
	memcpy(bad + OFF_N_SCALES, &two, sizeof two);
	fix_crc(bad, size);
	CHECK(load_bytes(f, &b, bad, size, &diag) == NST_ERR_INVALID_ARGUMENT && strstr(diag.message, "of a run of 2"),
	      "%s: a checkpoint of scale 1 of 2: %s", name, diag.message);

	/* Version 2 (the header without its place): loads as scale 0 of 1, and continues the run. */
	const size_t old_size = size - (HEADER_BYTES - OFF_SCALE);
	memcpy(bad, good, OFF_SCALE);
	memcpy(bad + OFF_SCALE, good + HEADER_BYTES, size - HEADER_BYTES);
	const uint32_t old_version = VERSION_ONE_SCALE;
	memcpy(bad + OFF_VERSION, &old_version, sizeof old_version);
	fix_crc(bad, old_size);
	CHECK(load_bytes(f, &b, bad, old_size, &diag) == NST_OK && nst_session_rows(b.s) == STOP_AT,
	      "%s: a version 2 checkpoint: %s (%d rows)", name, diag.message, nst_session_rows(b.s));

	/* The control: the genuine file through the same path still loads. */
	CHECK(load_bytes(f, &b, good, size, &diag) == NST_OK, "%s: the genuine checkpoint: %s", name, diag.message);
	close_run(&b);

	/* Other options: told apart from corruption (exit 2 on the command line, not 1). */
	struct nst_options other = o;
	other.style_weight *= 2.0f;
	struct run c;
	CHECK(open_run(f, &other, &c), "%s: a session of other options", name);
	if (c.s) {
		const enum nst_status st = nst_session_load_checkpoint(c.s, ckpt, &diag);
		CHECK(st == NST_ERR_INVALID_ARGUMENT && strstr(diag.message, "other pictures or options") &&
		          strstr(diag.message, "the same size and optimizer; the pictures' pixels or another option differ"),
		      "%s: other options: %s: %s", name, nst_status_string(st), diag.message);
	}
	close_run(&c);
	/* Another L-BFGS history: said as such, the one in the file first. */
	if (o.optimizer == NST_OPTIMIZER_LBFGS) {
		struct nst_options longer = o;
		longer.history = o.history + 1;
		char want[64];
		snprintf(want, sizeof want, "(history %d, here %d)", o.history, longer.history);
		CHECK(open_run(f, &longer, &c), "%s: a session of another history", name);
		if (c.s) {
			const enum nst_status st = nst_session_load_checkpoint(c.s, ckpt, &diag);
			CHECK(st == NST_ERR_INVALID_ARGUMENT && strstr(diag.message, want), "%s: another history: %s: %s", name,
			      nst_status_string(st), diag.message);
		}
		close_run(&c);
	}
	free(bad);
	free(good);
	free(reference);
	free(resumed);
}

int main(void) {
	struct fixture f;
	memset(&f, 0, sizeof f);
	char *dir = support_tmpdir("checkpoint");
	if (!dir) {
		fprintf(stderr, "cannot make a temporary directory\n");
		return 1;
	}
	snprintf(f.dir, sizeof f.dir, "%s", dir);
	const uint64_t seed = support_seed("test_checkpoint");
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	for (size_t i = 0; i < sizeof f.content; i++)
		f.content[i] = (uint8_t)(nst_rng_next(&rng) >> 56);
	for (size_t i = 0; i < sizeof f.style; i++)
		f.style[i] = (uint8_t)(nst_rng_next(&rng) >> 56);
	const struct support_vgg_layer layers[] = {{1, 4, 0}, {1, 4, 0}, {2, 6, 0}};
	char path[PATH_BYTES];
	snprintf(path, sizeof path, "%s/tiny.nstw", f.dir);
	struct nst_diag diag = {{0}};
	CHECK(support_write_vgg(path, layers, 3, seed, NST_DTYPE_F32) == 0, "write %s", path);
	CHECK(nst_weights_open(path, &f.weights, &diag) == NST_OK, "open %s: %s", path, diag.message);
	if (f.weights) {
		test_optimizer(&f, NST_OPTIMIZER_ADAM);
		test_optimizer(&f, NST_OPTIMIZER_LBFGS);
		test_search_resume(&f);
		test_converged_resume(&f, NST_OPTIMIZER_LBFGS);
		test_converged_resume(&f, NST_OPTIMIZER_ADAM);
		nst_weights_close(f.weights);
	}
	support_rmdir(dir);
	free(dir);
	return check_finish("test_checkpoint");
}
