/*
 * Coarse to fine under a memory budget (include/nst.h, "Coarse to fine under a memory budget"):
 * the schedule of scales, each scale's plan (one session, or picture tiles when it does not fit the
 * budget), and the driver that runs the scales in turn, handing each one's picture over to the next
 * in float, and its checkpoints: the current scale's session or tiled run saved with its place in
 * the run (struct nst_checkpoint_place: the scale, the rows and seconds before it, how every
 * scale is painted), and a run resumed at that scale, refused unless planned as the run that
 * made it.
 *
 * Memory.  One arena, laid out by one function for planning and for the run: the driver's state,
 * the hand-over's two float pictures (the finished scale's [H][W][3] and the next scale's start
 * [H'][W'][3]), then one region of the largest scale's need, where each scale's session or tiles
 * are built in turn (the previous one released first).
 */
#include <math.h>
#include <string.h>

#include "checkpoint.h"

#define RGB 3

struct nst_scales {
	struct nst_scales_plan plan;
	const struct nst_weights *weights;          /* until the last scale has started */
	struct nst_weights *owned;                  /* nst_scales_take_weights: closed once the last scale packed them */
	float *finished;                            /* [H][W][3] the finished scale's picture (any scale but the last) */
	float *start;                               /* [H'][W'][3] the next scale's start (any scale but the first) */
	uint8_t *scale_arena;                       /* [plan.scale_bytes] */
	struct nst_image content[NST_MAX_SCALES];   /* the caller's pictures, by pointer (read only) */
	const uint8_t *style[NST_MAX_SCALES][NST_MAX_STYLES];
	float blend[NST_MAX_STYLES];
	const uint8_t *init;                        /* the first scale's start, NST_INIT_IMAGE */
	int scale;                                  /* the current scale, -1 before the first */
	struct nst_session *session;                /* the current scale's, unless tiled */
	struct nst_tiled *tiles;                    /* the current scale's when tiled */
	int row_offset, scale_rows;                 /* rows of the scales before this one, and of this one so far */
	bool failed;                                /* a checkpoint failed to load after the scale was started */
	bool unfinished;                            /* the current scale has started (or was interrupted), not ended */
	double seconds_offset, last_seconds;        /* the run's seconds before this scale, and at the last row */
};

static size_t float_picture_bytes(const struct nst_problem *p) {
	return (size_t)p->width * (size_t)p->height * RGB * sizeof(float);
}

/* ---------------------------------------------------------------------------------------------
 * The schedule
 * ------------------------------------------------------------------------------------------- */

enum nst_status nst_schedule_make(int size, const int *sizes, int n_sizes, int iterations, const int *per_scale,
                                  struct nst_schedule *s) {
	if (!s || n_sizes < 0 || n_sizes > NST_MAX_SCALES || (n_sizes > 0 && !sizes) || iterations < 0 ||
	    (n_sizes == 0 && size < 1))
		return NST_ERR_INVALID_ARGUMENT;
	memset(s, 0, sizeof *s);
	if (n_sizes > 0) {
		for (int i = 0; i < n_sizes; i++) {
			if (sizes[i] < 1 || (i > 0 && sizes[i] <= sizes[i - 1]))
				return NST_ERR_INVALID_ARGUMENT;
			s->size[i] = sizes[i];
		}
		s->n = n_sizes;
	} else {
		/* Halve down to NST_SCALES_START, so a large picture starts coarse. */
		int halved[NST_MAX_SCALES], n = 0;
		for (int side = size; n < NST_MAX_SCALES; side /= 2) {
			halved[n++] = side;
			if (side / 2 < NST_SCALES_START || side <= NST_SCALES_START)
				break;
		}
		for (int i = 0; i < n; i++)
			s->size[i] = halved[n - 1 - i];
		s->n = n;
	}
	for (int i = 0; i < s->n; i++) {
		if (per_scale && per_scale[i] < 0)
			return NST_ERR_INVALID_ARGUMENT;
		if (per_scale)
			s->iterations[i] = per_scale[i];
		else if (i == 0)
			s->iterations[i] = iterations;
		else /* half of the scale before, rounded up: never more than it */
			s->iterations[i] = (s->iterations[i - 1] + 1) / 2;
		if (iterations == 0)
			s->iterations[i] = 0;
	}
	return NST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Plan
 * ------------------------------------------------------------------------------------------- */

/* The arena of a run of scales, in order; measuring (base NULL) and real runs are identical. */
static void scales_layout(struct nst_scales *s, const struct nst_scales_plan *p, struct nst_arena *a) {
	nst_arena_alloc(a, sizeof(struct nst_scales)); /* the driver's state, at offset 0 */
	const size_t state = a->used;
	size_t finished = 0, start = 0;
	for (int i = 0; i + 1 < p->n_scales; i++) {
		const size_t from = float_picture_bytes(&p->problems[i]), to = float_picture_bytes(&p->problems[i + 1]);
		finished = from > finished ? from : finished;
		start = to > start ? to : start;
	}
	s->finished = finished ? NST_ARENA_NEW(a, float, finished / sizeof(float)) : NULL; /* [H][W][3] */
	s->start = start ? NST_ARENA_NEW(a, float, start / sizeof(float)) : NULL;          /* [H'][W'][3] */
	const size_t handover = a->used - state;
	s->scale_arena = NST_ARENA_NEW(a, uint8_t, p->scale_bytes);
	s->plan.state_bytes = state;
	s->plan.handover_bytes = handover;
	s->plan.total_bytes = a->used;
}

static void measure(struct nst_scales_plan *p) {
	struct nst_scales m;
	struct nst_arena a;
	memset(&m, 0, sizeof m);
	nst_arena_init(&a, NULL, 0);
	scales_layout(&m, p, &a);
	p->state_bytes = m.plan.state_bytes;
	p->handover_bytes = m.plan.handover_bytes;
	p->total_bytes = m.plan.total_bytes;
}

/* The tile options of scale i: the budget that the limit leaves beside the caller's and the
 * driver's (held), the tile side pinned for it if any. */
static struct nst_tile_options scale_tile_options(const struct nst_scales_options *so, int i, size_t held) {
	struct nst_tile_options to = so->tiles;
	to.budget_bytes = so->max_bytes ? so->max_bytes - held : 0;
	if (so->tile_sides[i] > 0)
		to.tile = so->tile_sides[i];
	return to;
}

/* The least limit with which every tiled scale from `from` on fits: its smallest tiles (or its
 * given ones) beside what is held, and a margin for what the caller holds to vary from one run to
 * the next (its RSS: pages of the decoders, the allocator).  The picture grows with the scale, so a
 * later scale can need more than the one that failed. */
#define LEAST_LIMIT_MARGIN ((size_t)NST_MIB) /* see least_limit */

static size_t least_limit(const struct nst_weights *w, const struct nst_scales_options *so, int from,
                          const struct nst_scales_plan *p, size_t held) {
	size_t least = 0;
	struct nst_tile_plan smallest;
	struct nst_diag ignored;
	for (int j = from; j < p->n_scales; j++) {
		if (!p->tiled[j])
			continue;
		struct nst_tile_options to = scale_tile_options(so, j, held);
		to.budget_bytes = 1; /* nothing fits: nst_tile_plan leaves the smallest tiles' plan */
		if (nst_tile_plan(w, &p->options[j], &p->problems[j], &to, &smallest, &ignored) == NST_ERR_OVER_MEMORY_LIMIT &&
		    held + smallest.total_bytes > least)
			least = held + smallest.total_bytes;
	}
	return least + LEAST_LIMIT_MARGIN;
}

/* least_limit in whole MiB, rounded up, as the messages name it. */
static double least_limit_mib(const struct nst_weights *w, const struct nst_scales_options *so, int from,
                              const struct nst_scales_plan *p, size_t held) {
	return ceil((double)least_limit(w, so, from, p, held) / NST_MIB);
}

/* A scale in tiles: their plan within what the budget leaves beside the caller's and the driver's. */
static enum nst_status plan_tiles(const struct nst_weights *w, const struct nst_scales_options *so, int i,
                                  struct nst_scales_plan *p, struct nst_diag *diag) {
	const size_t held = so->held_bytes + p->state_bytes + p->handover_bytes;
	if (so->max_bytes && so->max_bytes <= held)
		return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT,
		                "a limit of %.1f MiB leaves nothing for the run: what the caller holds (the process, its "
		                "pictures) and the hand-over between scales take %.1f MiB already; the run needs a limit of "
		                "%.0f MiB or more", (double)so->max_bytes / NST_MIB, (double)held / NST_MIB,
		                least_limit_mib(w, so, i, p, held));
	const struct nst_tile_options to = scale_tile_options(so, i, held);
	const enum nst_status st = nst_tile_plan(w, &p->options[i], &p->problems[i], &to, &p->tile_plans[i], diag);
	if (st == NST_ERR_OVER_MEMORY_LIMIT && so->max_bytes) { /* said as the limit the budget came from */
		const struct nst_tile_plan *t = &p->tile_plans[i];
		char scale[48] = "";
		if (p->n_scales > 1)
			snprintf(scale, sizeof scale, "scale %d of %d: ", i + 1, p->n_scales);
		return nst_fail(diag, st, "%s%stiles of %d px need %.1f MiB beside the %.1f MiB held (the process, its "
		                "pictures, the hand-over between scales): the run needs a limit of %.0f MiB or more%s", scale,
		                to.tile > 0 ? "" : "even ", t->side, (double)t->total_bytes / NST_MIB, (double)held / NST_MIB,
		                least_limit_mib(w, so, i, p, held),
		                p->options[i].optimizer == NST_OPTIMIZER_LBFGS ? " (Adam, or a shorter L-BFGS history, needs less)" : "");
	}
	return st;
}

enum nst_status nst_scales_plan(const struct nst_weights *w, const struct nst_options *o,
                                const struct nst_scales_options *so, struct nst_scales_plan *p, struct nst_diag *diag) {
	if (!w || !o || !so || !p)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_scales_plan: a required argument is NULL");
	if (so->n_scales < 1 || so->n_scales > NST_MAX_SCALES)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "%d scales (1..%d)", so->n_scales, NST_MAX_SCALES);
	memset(p, 0, sizeof *p);
	p->n_scales = so->n_scales;
	p->detail = o->init == NST_INIT_CONTENT; /* a random or given start has no content detail to give */
	for (int i = 0; i < so->n_scales; i++) {
		if (so->iterations[i] < 0)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "scale %d: %d iterations", i + 1, so->iterations[i]);
		if (so->tile_sides[i] < NST_SCALE_WHOLE)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "scale %d: tiles of %d px", i + 1, so->tile_sides[i]);
		if (i > 0 && (so->problems[i].width < so->problems[i - 1].width ||
		              so->problems[i].height < so->problems[i - 1].height))
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "scale %d (%dx%d) is smaller than the scale before", i + 1,
			                so->problems[i].width, so->problems[i].height);
		p->problems[i] = so->problems[i];
		p->iterations[i] = so->iterations[i];
		p->options[i] = *o;
		if (i > 0) /* replaced by the previous scale's picture, handed over in float */
			p->options[i].init = NST_INIT_CONTENT;
		const enum nst_status st = nst_plan(w, &p->options[i], &p->problems[i], &p->plans[i], diag);
		if (st != NST_OK)
			return st;
		p->options[i].backend = p->plans[i].backend; /* auto's measured choice: the session is the one planned */
	}
	measure(p); /* the state and the hand-over, before any scale's region */
	const size_t beside = p->state_bytes + p->handover_bytes;
	for (int i = 0; i < p->n_scales; i++) { /* which scales run in tiles (all known before any is planned) */
		const struct nst_problem *q = &p->problems[i];
		const int side = q->width > q->height ? q->width : q->height;
		p->tiled[i] = so->tile_sides[i] > 0 || (so->tiles.tile > 0 && side > so->tiles.tile) ||
		              (so->max_bytes && p->plans[i].total_bytes + beside > so->max_bytes);
		if (so->tile_sides[i] == NST_SCALE_WHOLE) {
			p->tiled[i] = false;
			if (so->max_bytes && p->plans[i].total_bytes + beside > so->max_bytes)
				return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT,
				                "scale %d as one session (as it was run) needs %.1f MiB, over the %.1f MiB budget", i + 1,
				                (double)(p->plans[i].total_bytes + beside) / NST_MIB, (double)so->max_bytes / NST_MIB);
		}
	}
	for (int i = 0; i < p->n_scales; i++) {
		size_t need = p->plans[i].total_bytes;
		if (p->tiled[i]) {
			const enum nst_status st = plan_tiles(w, so, i, p, diag);
			if (st != NST_OK)
				return st;
			need = p->tile_plans[i].total_bytes;
		}
		p->scale_bytes = need > p->scale_bytes ? need : p->scale_bytes;
	}
	measure(p);
	return NST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The driver
 * ------------------------------------------------------------------------------------------- */

enum nst_status nst_scales_init(void *arena, size_t arena_bytes, const struct nst_weights *w,
                                const struct nst_scales_plan *plan, struct nst_scales **out, struct nst_diag *diag) {
	if (!arena || !w || !plan || !out)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_scales_init: a required argument is NULL");
	if ((uintptr_t)arena % NST_ARENA_ALIGNMENT)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "the arena must be %d-byte aligned", NST_ARENA_ALIGNMENT);
	struct nst_scales tmp;
	memset(&tmp, 0, sizeof tmp);
	struct nst_arena a;
	nst_arena_init(&a, arena, arena_bytes);
	scales_layout(&tmp, plan, &a);
	if (a.overflow || tmp.plan.total_bytes != plan->total_bytes)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "the arena has %zu bytes, the plan of the scales needs %zu",
		                arena_bytes, plan->total_bytes);
	struct nst_scales *s = arena; /* scales_layout allocated it first, at offset 0 */
	const struct nst_scales_plan measured = tmp.plan;
	*s = tmp;
	s->plan = *plan;
	s->plan.state_bytes = measured.state_bytes;
	s->plan.handover_bytes = measured.handover_bytes;
	s->weights = w;
	s->scale = -1;
	for (int k = 0; k < NST_MAX_STYLES; k++)
		s->blend[k] = 1.0f;
	*out = s;
	return NST_OK;
}

/* The last scale has packed the weights into the arena: they are no longer needed. */
static void packed(struct nst_scales *s, int i) {
	if (i < s->plan.n_scales - 1)
		return;
	s->weights = NULL;
	nst_weights_close(s->owned);
	s->owned = NULL;
}

static void release_scale(struct nst_scales *s) {
	nst_session_release(s->session);
	s->session = NULL;
	nst_tiled_release(s->tiles);
	s->tiles = NULL;
}

void nst_scales_release(struct nst_scales *s) {
	if (s) {
		release_scale(s);
		nst_weights_close(s->owned);
		s->owned = NULL;
	}
}

void nst_scales_take_weights(struct nst_scales *s, struct nst_weights *w) {
	if (s && w == s->weights)
		s->owned = w;
}

static bool valid_scale(const struct nst_scales *s, int scale) {
	return s && scale >= 0 && scale < s->plan.n_scales;
}

enum nst_status nst_scales_set_content(struct nst_scales *s, int scale, const uint8_t *rgb) {
	if (!valid_scale(s, scale) || !rgb)
		return NST_ERR_INVALID_ARGUMENT;
	/* nst_image's pixels are not const; the driver only reads them */
	s->content[scale] = (struct nst_image){s->plan.problems[scale].width, s->plan.problems[scale].height, (uint8_t *)rgb};
	return NST_OK;
}

enum nst_status nst_scales_set_style(struct nst_scales *s, int scale, int index, const uint8_t *rgb, float blend) {
	if (!valid_scale(s, scale) || !rgb || index < 0 || index >= s->plan.problems[scale].n_styles)
		return NST_ERR_INVALID_ARGUMENT;
	s->style[scale][index] = rgb;
	s->blend[index] = blend;
	return NST_OK;
}

enum nst_status nst_scales_set_init_image(struct nst_scales *s, const uint8_t *rgb) {
	if (!s || !rgb)
		return NST_ERR_INVALID_ARGUMENT;
	s->init = rgb;
	return NST_OK;
}

/* The finished scale's picture (i - 1), upsampled in float into s->start for scale i. */
static enum nst_status hand_over(struct nst_scales *s, int i, struct nst_diag *diag) {
	const struct nst_image *from = &s->content[i - 1], *to = &s->content[i];
	if (s->tiles)
		memcpy(s->finished, nst_tiled_picture(s->tiles), float_picture_bytes(&s->plan.problems[i - 1]));
	else
		nst_session_get_x(s->session, s->finished);
	const enum nst_status st = s->plan.detail ? nst_x_upsample(s->finished, from, s->start, to)
	                                          : nst_x_resize(s->finished, from->width, from->height, s->start,
	                                                         to->width, to->height);
	return st == NST_OK ? NST_OK
	                    : nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "cannot upsample the picture for the next scale");
}

/* Scale i in tiles: one session of the tile size serves every tile, starting from the previous
 * scale's picture if handed_over (a resumed scale's picture comes from its checkpoint instead). */
static enum nst_status start_tiles(struct nst_scales *s, int i, bool handed_over, struct nst_diag *diag) {
	enum nst_status st = nst_tiled_init(s->scale_arena, s->plan.scale_bytes, s->weights, &s->plan.tile_plans[i],
	                                    &s->tiles, diag);
	if (st != NST_OK)
		return st;
	packed(s, i);
	nst_tiled_set_content(s->tiles, s->content[i].rgb);
	for (int k = 0; k < s->plan.problems[i].n_styles; k++)
		if ((st = nst_tiled_set_style(s->tiles, k, s->style[i][k], s->blend[k])) != NST_OK)
			return nst_fail(diag, st, "style targets: %s", nst_status_string(st));
	if (i == 0 && handed_over && s->plan.options[0].init == NST_INIT_IMAGE)
		nst_tiled_set_init_image(s->tiles, s->init);
	if (i > 0 && handed_over && (st = nst_tiled_set_init_x(s->tiles, s->start)) != NST_OK)
		return nst_fail(diag, st, "the previous scale's picture: %s", nst_status_string(st));
	return NST_OK;
}

/* Scale i as one session, starting from the previous scale's picture if handed_over (a resumed
 * scale's picture comes from its checkpoint instead). */
static enum nst_status start_session(struct nst_scales *s, int i, bool handed_over, struct nst_diag *diag) {
	enum nst_status st = nst_session_init(s->scale_arena, s->plan.scale_bytes, s->weights, &s->plan.options[i],
	                                      &s->plan.problems[i], &s->session, diag);
	if (st != NST_OK)
		return st;
	packed(s, i);
	nst_session_set_content(s->session, s->content[i].rgb);
	for (int k = 0; k < s->plan.problems[i].n_styles; k++)
		nst_session_set_style(s->session, k, s->style[i][k], s->blend[k]);
	if (i == 0 && s->plan.options[0].init == NST_INIT_IMAGE)
		nst_session_set_init_image(s->session, s->init);
	if ((st = nst_session_prepare(s->session)) != NST_OK)
		return nst_fail(diag, st, "prepare: %s", nst_status_string(st));
	if (i > 0 && handed_over && ((st = nst_session_set_x(s->session, s->start)) != NST_OK ||
	              (st = nst_session_restart(s->session)) != NST_OK))
		return nst_fail(diag, st, "the previous scale's picture: %s", nst_status_string(st));
	return NST_OK;
}

enum nst_status nst_scales_next(struct nst_scales *s, struct nst_diag *diag) {
	if (s && s->failed)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "a checkpoint failed to load: this run cannot go on (start it again)");
	if (!s || s->scale + 1 >= s->plan.n_scales)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_scales_next: no scale left");
	const int i = s->scale + 1;
	if (!s->content[i].rgb || !s->weights)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "scale %d: no content picture (or no weights)", i + 1);
	for (int k = 0; k < s->plan.problems[i].n_styles; k++)
		if (!s->style[i][k])
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "scale %d: no style picture %d", i + 1, k + 1);
	if (i == 0 && s->plan.options[0].init == NST_INIT_IMAGE && !s->init)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no starting picture (nst_scales_set_init_image)");
	if (i > 0) {
		const enum nst_status st = hand_over(s, i, diag);
		if (st != NST_OK)
			return st;
	}
	if (i > 0) { /* the finished scale's rows and seconds */
		s->row_offset += s->tiles ? s->scale_rows : nst_session_rows(s->session);
		s->seconds_offset = s->last_seconds;
	}
	release_scale(s);
	s->scale = i;
	s->scale_rows = 0;
	s->unfinished = true;
	return s->plan.tiled[i] ? start_tiles(s, i, true, diag) : start_session(s, i, true, diag);
}

struct row_relay {
	struct nst_scales *s;
	nst_scales_progress_fn progress;
	void *user;
};

/* A scale's row, numbered and timed across the run. */
static bool relay_row(void *user, const struct nst_progress *p) {
	struct row_relay *r = user;
	struct nst_scales *s = r->s;
	s->last_seconds = s->seconds_offset + p->seconds;
	s->scale_rows = p->iteration + 1;
	struct nst_scales_progress q = {*p, s->scale, s->plan.n_scales, s->plan.problems[s->scale].width,
	                                s->plan.problems[s->scale].height, s->tiles != NULL, 0, 0,
	                                s->row_offset + p->iteration, s->last_seconds};
	nst_tiled_position(s->tiles, &q.sweep, &q.tile);
	return r->progress ? r->progress(r->user, &q) : true;
}

enum nst_status nst_scales_run_scale(struct nst_scales *s, nst_scales_progress_fn progress, void *user) {
	if (!s || s->failed || (!s->session && !s->tiles))
		return NST_ERR_INVALID_ARGUMENT;
	struct row_relay relay = {s, progress, user};
	const int iterations = s->plan.iterations[s->scale];
	const enum nst_status st = s->tiles ? nst_tiled_run(s->tiles, iterations, relay_row, &relay)
	                                    : nst_session_run(s->session, iterations, relay_row, &relay);
	s->unfinished = st == NST_ERR_INTERRUPTED;
	return st;
}

enum nst_status nst_scales_run(struct nst_scales *s, nst_scales_progress_fn progress, void *user,
                               struct nst_diag *diag) {
	if (!s)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_scales_run: no driver");
	if (s->failed)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "a checkpoint failed to load: this run cannot go on (start it again)");
	enum nst_status st = s->unfinished ? nst_scales_run_scale(s, progress, user) : NST_OK;
	while (st == NST_OK && s->scale + 1 < s->plan.n_scales)
		if ((st = nst_scales_next(s, diag)) == NST_OK)
			st = nst_scales_run_scale(s, progress, user);
	return st;
}

void nst_scales_position(const struct nst_scales *s, int *scale, int *sweep, int *tile) {
	if (scale)
		*scale = s ? s->scale : -1;
	nst_tiled_position(s ? s->tiles : NULL, sweep, tile);
}

enum nst_status nst_scales_image(struct nst_scales *s, uint8_t *rgb) {
	if (!s || !rgb || s->failed)
		return NST_ERR_INVALID_ARGUMENT;
	if (s->tiles)
		return nst_tiled_image(s->tiles, rgb);
	return s->session ? nst_session_image(s->session, rgb) : NST_ERR_INVALID_ARGUMENT;
}

struct nst_session *nst_scales_session(struct nst_scales *s) { return s ? s->session : NULL; }

int nst_scales_rows(const struct nst_scales *s) {
	if (!s || s->scale < 0)
		return 0;
	return s->row_offset + (s->session ? nst_session_rows(s->session) : s->scale_rows);
}

enum nst_status nst_scales_save_checkpoint(const struct nst_scales *s, const char *path, struct nst_diag *diag) {
	if (!s || s->failed || (!s->session && !s->tiles))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no scale has started (or a checkpoint failed to load): nothing to checkpoint");
	struct nst_checkpoint_place place = {s->scale, s->plan.n_scales, s->row_offset, s->seconds_offset, s->tiles != NULL, {0}};
	for (int i = 0; i < s->plan.n_scales; i++)
		place.tile_sides[i] = s->plan.tiled[i] ? s->plan.tile_plans[i].side : 0;
	return s->tiles ? nst_tiled_save_checkpoint(s->tiles, path, &place, diag)
	                : nst_session_save_checkpoint_at(s->session, path, &place, diag);
}

/* Whether scale i runs as the checkpoint's run ran it (whole, or in tiles of the same side). */
static bool planned_as(const struct nst_scales_plan *p, const struct nst_checkpoint_place *place, int i) {
	return p->tiled[i] ? p->tile_plans[i].side == place->tile_sides[i] : place->tile_sides[i] == 0;
}

/* "whole" or "in tiles of N px". */
static const char *tiles_text(int side, char *buf, size_t size) {
	if (side <= 0)
		return "whole";
	snprintf(buf, size, "in tiles of %d px", side);
	return buf;
}

enum nst_status nst_scales_load_checkpoint(struct nst_scales *s, const char *path, struct nst_diag *diag) {
	if (!s || !path)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_scales_load_checkpoint: a required argument is NULL");
	if (s->failed)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "a checkpoint failed to load: this run cannot go on (start it again)");
	struct nst_checkpoint_place want, place;
	int width, height;
	enum nst_status st = nst_checkpoint_read_place(path, &want, &width, &height, diag);
	if (st != NST_OK)
		return st;
	const int k = want.scale;
	if (want.n_scales != s->plan.n_scales)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "checkpoint %s was made by a run of %d scale%s, this one has %d; resume with the same command",
		                path, want.n_scales, want.n_scales == 1 ? "" : "s", s->plan.n_scales);
	if (width != s->plan.problems[k].width || height != s->plan.problems[k].height)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "checkpoint %s was made with other pictures or options (scale %d at %dx%d, here %dx%d); resume "
		                "with the same command", path, k + 1, width, height, s->plan.problems[k].width,
		                s->plan.problems[k].height);
	if (s->plan.tiled[k] != want.tiled)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "checkpoint %s is of scale %d %s, which this run paints %s; plan the run as the checkpoint's "
		                "(nst_checkpoint_info, nst_scales_options.tile_sides)", path, k + 1,
		                want.tiled ? "in tiles" : "as one session", s->plan.tiled[k] ? "in tiles" : "whole");
	for (int i = k + 1; i < s->plan.n_scales; i++) {
		char then[32], now[32];
		if (!planned_as(&s->plan, &want, i))
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			                "checkpoint %s: its run painted scale %d %s, this one plans it %s; plan the run as the "
			                "checkpoint's (nst_checkpoint_info, nst_scales_options.tile_sides)", path, i + 1,
			                tiles_text(want.tile_sides[i], then, sizeof then),
			                tiles_text(s->plan.tiled[i] ? s->plan.tile_plans[i].side : 0, now, sizeof now));
	}
	if (k != s->scale || (!s->session && !s->tiles)) { /* that scale started afresh, its picture from the checkpoint */
		if (!s->content[k].rgb || !s->weights)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "scale %d: no content picture (or the weights were "
			                "released: the last scale has started)", k + 1);
		for (int j = 0; j < s->plan.problems[k].n_styles; j++)
			if (!s->style[k][j])
				return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "scale %d: no style picture %d", k + 1, j + 1);
		release_scale(s);
		s->scale = k;
		if ((st = want.tiled ? start_tiles(s, k, false, diag) : start_session(s, k, false, diag)) != NST_OK) {
			s->failed = true;
			return st;
		}
	}
	/* From here a failure leaves the scale without its start (the previous scale's picture, or the
	 * checkpoint's): the driver refuses to go on. */
	if ((st = want.tiled ? nst_tiled_load_checkpoint(s->tiles, path, &want, &place, diag)
	                     : nst_session_load_checkpoint_at(s->session, path, &want, &place, diag)) != NST_OK) {
		s->failed = true;
		return st;
	}
	s->row_offset = place.rows_before;
	s->seconds_offset = s->last_seconds = place.seconds_before;
	s->scale_rows = place.tiled ? nst_tiled_rows(s->tiles) : nst_session_rows(s->session);
	s->unfinished = true;
	return NST_OK;
}
