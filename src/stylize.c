/*
 * nst_stylize: the common case in one call, on the detailed API (nst_scales_* for the
 * optimization, nst_fast_* and nst_arbitrary_* for the one-pass networks), sizing the pictures as
 * the command line does so that both give the same pixels.  The pictures at their run sizes are
 * made first (they allocate), then the plan, then ONE arena of the plan's size, freed on return.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "nst.h"

void nst_stylize_options_default(struct nst_stylize_options *o) {
	memset(o, 0, sizeof *o);
	o->mode = NST_MODE_OPTIMIZE;
	o->strength = 1.0f;
}

/* A new picture of the run size: the long side `size` (0: as it is), resampled as the CLI does. */
static enum nst_status at_size(const struct nst_image *in, int size, struct nst_image *out) {
	int w = in->width, h = in->height;
	if (size > 0)
		nst_image_fit(in->width, in->height, size, &w, &h);
	return nst_image_resize(in, w, h, out);
}

/* Opens the mode's network, refusing another kind with a line that names the mode it is for. */
static enum nst_status open_for(enum nst_mode mode, const char *path, struct nst_weights **out, struct nst_diag *diag) {
	static const char *const kinds[] = {"a VGG network (mode optimize)", "a trained one-pass network (mode trained)",
	                                    "the arbitrary-style network (mode arbitrary)"};
	static const enum nst_arch archs[] = {NST_ARCH_VGG, NST_ARCH_TRANSFORMER, NST_ARCH_ARBITRARY};
	const enum nst_status st = nst_weights_open(path, out, diag);
	if (st != NST_OK || nst_weights_arch(*out) == archs[mode])
		return st;
	const enum nst_arch arch = nst_weights_arch(*out);
	nst_weights_close(*out);
	*out = NULL;
	const int is = arch == NST_ARCH_VGG ? 0 : arch == NST_ARCH_TRANSFORMER ? 1 : 2;
	return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "%s is %s, not %s", path, kinds[is], kinds[mode]);
}

static bool valid_image(const struct nst_image *img) {
	return img && img->rgb && img->width > 0 && img->height > 0 && img->width <= NST_MAX_IMAGE_SIDE &&
	       img->height <= NST_MAX_IMAGE_SIDE;
}

/* ---------------------------------------------------------------------------------------------
 * The optimization: nst_schedule_make's scales, each picture resized from the original
 * ------------------------------------------------------------------------------------------- */

struct optimize_run {
	const struct nst_stylize_options *o;
	double t0;
};

static bool on_scales_progress(void *user, const struct nst_scales_progress *q) {
	const struct optimize_run *r = user;
	const struct nst_stylize_progress p = {q->scale, q->n_scales, q->row.iteration, q->row.iterations,
	                                       q->row.losses.total, nst_seconds() - r->t0, q->row.step};
	return r->o->progress(r->o->user, &p);
}

static enum nst_status optimize(const struct nst_stylize_options *o, const struct nst_image *photo,
                                const struct nst_image *painting, struct nst_image *out, struct nst_diag *diag) {
	struct nst_schedule sched;
	const int size = o->size > 0 ? o->size : NST_STYLIZE_SIZE;
	enum nst_status st = nst_schedule_make(size, NULL, 0, o->iterations > 0 ? o->iterations : NST_STYLIZE_ITERATIONS,
	                                       NULL, &sched);
	if (st != NST_OK)
		return nst_fail(diag, st, "size %d, iterations %d: not a schedule", size, o->iterations);
	struct nst_image content[NST_MAX_SCALES] = {{0}}, style[NST_MAX_SCALES] = {{0}};
	struct nst_weights *weights = NULL;
	struct nst_scales *scales = NULL;
	void *arena = NULL;
	/* within the memory available (tiles where the picture needs more), as the CLI plans; what this
	 * process holds already is not known here, so the share is of what it can still get */
	const size_t available = nst_memory_available(),
	             share = (size_t)(NST_AVAILABLE_MEMORY_SHARE * (double)available);
	struct nst_scales_options so = {.n_scales = sched.n, .max_bytes = available && !share ? 1 : share};
	for (int i = 0; i < sched.n && st == NST_OK; i++) {
		if ((st = at_size(photo, sched.size[i], &content[i])) == NST_OK)
			st = at_size(painting, sched.size[i], &style[i]); /* --style-scale 1 */
		so.problems[i] = (struct nst_problem){content[i].width, content[i].height, 1, {style[i].width}, {style[i].height}};
		so.iterations[i] = sched.iterations[i];
	}
	if (st != NST_OK) {
		nst_fail(diag, st, "cannot resample the pictures");
		goto done;
	}
	if ((st = open_for(o->mode, o->weights, &weights, diag)) != NST_OK)
		goto done;
	struct nst_options options;
	nst_options_default(&options);
	options.threads = o->threads;
	nst_options_network_defaults(&options, weights, 0);
	struct nst_scales_plan plan;
	if ((st = nst_scales_plan(weights, &options, &so, &plan, diag)) != NST_OK)
		goto done;
	if (!(arena = nst_arena_allocate(plan.total_bytes))) {
		st = nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "cannot allocate the %zu bytes of the plan", plan.total_bytes);
		goto done;
	}
	if ((st = nst_scales_init(arena, plan.total_bytes, weights, &plan, &scales, diag)) != NST_OK)
		goto done;
	nst_scales_take_weights(scales, weights); /* closed once packed */
	weights = NULL;
	for (int i = 0; i < sched.n; i++) {
		nst_scales_set_content(scales, i, content[i].rgb);
		nst_scales_set_style(scales, i, 0, style[i].rgb, 1.0f);
	}
	struct optimize_run run = {o, nst_seconds()};
	st = nst_scales_run(scales, o->progress ? on_scales_progress : NULL, &run, diag);
	if (st == NST_OK || st == NST_ERR_INTERRUPTED) {
		/* The current scale's picture ([h][w][3] at its size), at the result's size. */
		int scale, sweep, tile;
		nst_scales_position(scales, &scale, &sweep, &tile);
		const struct nst_image *top = &content[sched.n - 1];
		struct nst_image now = {content[scale].width, content[scale].height, content[scale].rgb};
		nst_scales_image(scales, now.rgb); /* the content is no longer read: the run is over */
		const enum nst_status rs = nst_image_resize(&now, top->width, top->height, out);
		if (rs != NST_OK)
			st = nst_fail(diag, rs, "cannot resample the result");
		else if (st == NST_ERR_INTERRUPTED)
			nst_fail(diag, st, "stopped by the progress callback at scale %d", scale + 1);
	}
done:
	nst_scales_release(scales);
	nst_arena_free(arena);
	nst_weights_close(weights);
	for (int i = 0; i < NST_MAX_SCALES; i++) {
		nst_image_free(&content[i]);
		nst_image_free(&style[i]);
	}
	return st;
}

/* ---------------------------------------------------------------------------------------------
 * The one-pass networks: one plan for the photo at its run size
 * ------------------------------------------------------------------------------------------- */

static enum nst_status one_pass(const struct nst_stylize_options *o, const struct nst_image *photo,
                                const struct nst_image *painting, struct nst_image *out, struct nst_diag *diag) {
	const double t0 = nst_seconds();
	const bool arbitrary = o->mode == NST_MODE_ARBITRARY;
	struct nst_image in = {0}, style = {0};
	struct nst_weights *weights = NULL;
	struct nst_fast_session *fast = NULL;
	struct nst_arbitrary_session *any = NULL;
	void *arena = NULL;
	enum nst_status st = at_size(photo, o->size, &in);
	if (st == NST_OK && arbitrary) {
		int w, h;
		nst_arbitrary_painting_size(painting->width, painting->height,
		                            o->style_size > 0 ? o->style_size : (in.width > in.height ? in.width : in.height), &w,
		                            &h);
		st = nst_image_resize(painting, w, h, &style);
	}
	if (st != NST_OK) {
		nst_fail(diag, st, "cannot resample the pictures");
		goto done;
	}
	if ((st = open_for(o->mode, o->weights, &weights, diag)) != NST_OK)
		goto done;
	size_t total;
	if (arbitrary) {
		struct nst_arbitrary_plan plan;
		st = nst_arbitrary_plan(weights, in.width, in.height, style.width, style.height, o->threads, NST_BACKEND_AUTO,
		                        NST_PRECISION_FP32, &plan, diag);
		total = plan.total_bytes;
	} else {
		struct nst_fast_plan plan;
		st = nst_fast_plan(weights, in.width, in.height, o->threads, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, diag);
		total = plan.total_bytes;
	}
	if (st != NST_OK)
		goto done;
	const size_t available = nst_memory_available(); /* one pass cannot tile: refused only where it cannot fit */
	if (available && total > available) {
		st = nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT, "the run needs %.1f MiB, more than the %.0f MiB available here",
		              (double)total / NST_MIB, (double)available / NST_MIB);
		goto done;
	}
	if (!(arena = nst_arena_allocate(total))) {
		st = nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "cannot allocate the %zu bytes of the plan", total);
		goto done;
	}
	if (arbitrary) {
		if ((st = nst_arbitrary_init(arena, total, weights, in.width, in.height, style.width, style.height, o->threads,
		                             NST_BACKEND_AUTO, NST_PRECISION_FP32, &any, diag)) == NST_OK &&
		    (st = nst_arbitrary_set_style(any, 1, &style, NULL, diag)) == NST_OK)
			st = nst_arbitrary_run_mixed(any, in.width, in.height, in.rgb, 1.0f, o->strength, in.rgb);
	} else if ((st = nst_fast_init(arena, total, weights, in.width, in.height, o->threads, NST_BACKEND_AUTO,
	                               NST_PRECISION_FP32, &fast, diag)) == NST_OK) {
		st = nst_fast_run(fast, in.width, in.height, in.rgb, in.rgb, o->strength);
	}
	if (st != NST_OK) {
		if (!diag || !diag->message[0])
			nst_fail(diag, st, "strength %g: the run failed", (double)o->strength);
		goto done;
	}
	*out = in; /* stylized in place */
	in = (struct nst_image){0};
	if (o->progress) {
		const struct nst_stylize_progress p = {0, 1, 1, 1, 0.0, nst_seconds() - t0, 1};
		o->progress(o->user, &p); /* nothing is left to stop */
	}
done:
	nst_fast_release(fast);
	nst_arbitrary_release(any);
	nst_arena_free(arena);
	nst_weights_close(weights);
	nst_image_free(&in);
	nst_image_free(&style);
	return st;
}

enum nst_status nst_stylize(const struct nst_stylize_options *o, const struct nst_image *photo,
                            const struct nst_image *painting, struct nst_image *out, struct nst_diag *diag) {
	if (diag)
		diag->message[0] = '\0';
	if (out)
		*out = (struct nst_image){0};
	if (!o || !out || !o->weights)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_stylize: options, their weights and out are required");
	if ((unsigned)o->mode > NST_MODE_ARBITRARY)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "mode %d is not one of optimize, trained, arbitrary", (int)o->mode);
	/* each out-of-range option named alone (the Python module passes them all) */
	const struct {
		const char *name;
		int value;
	} counts[] = {{"size", o->size}, {"style size", o->style_size}, {"iterations", o->iterations},
	              {"threads", o->threads}};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
		if (counts[i].value < 0)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "%s %d: out of range (0 or more; 0: the default)",
			                counts[i].name, counts[i].value);
	if (!(o->strength >= 0.0f && o->strength <= 1.0f))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "strength %g: out of range (0..1)", (double)o->strength);
	if (!valid_image(photo))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no photo (a picture of at least 1x1 pixels)");
	if (o->mode == NST_MODE_TRAINED ? painting != NULL : !valid_image(painting))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, o->mode == NST_MODE_TRAINED
		                                                    ? "a trained network takes no painting (its style is its own)"
		                                                    : "no painting (a picture of at least 1x1 pixels)");
	return o->mode == NST_MODE_OPTIMIZE ? optimize(o, photo, painting, out, diag) : one_pass(o, photo, painting, out, diag);
}
