/*
 * --init model:NAME: the optimization starts from a one-pass network's picture of the content, so
 * that a preview comes in a second and Gatys refines it.  NAME is a trained network (candy, ...:
 * its own painting) or arbitrary (the run's style pictures, blended as --style-blend says).  The
 * network runs in its own arena, freed before the optimization is planned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nst.h"

static enum nst_status trained(const struct nst_weights *w, const struct nst_image *content, int threads,
                               uint8_t *out, struct nst_diag *diag) {
	struct nst_fast_plan plan;
	enum nst_status st = nst_fast_plan(w, content->width, content->height, threads, NST_BACKEND_AUTO,
	                                   NST_PRECISION_FP32, &plan, diag);
	void *arena = st == NST_OK ? nst_arena_allocate(plan.total_bytes) : NULL;
	if (st == NST_OK && !arena)
		st = NST_ERR_OUT_OF_MEMORY;
	struct nst_fast_session *s = NULL;
	if (st == NST_OK)
		st = nst_fast_init(arena, plan.total_bytes, w, content->width, content->height, threads, NST_BACKEND_AUTO,
		                   NST_PRECISION_FP32, &s, diag);
	if (st == NST_OK)
		st = nst_fast_run(s, content->width, content->height, content->rgb, out, 1.0f);
	nst_fast_release(s);
	nst_arena_free(arena);
	return st;
}

static enum nst_status arbitrary(const struct nst_weights *w, const struct nst_image *content,
                                 const struct nst_image *given, int n_styles, const float *blend, int threads,
                                 uint8_t *out, struct nst_diag *diag) {
	/* The style pictures of the first scale may be smaller than the network takes: enlarged to
	 * its least side then (copies; the others are used as they are). */
	struct nst_image styles[NST_MAX_STYLES], enlarged[NST_MAX_STYLES] = {{0}};
	enum nst_status st = NST_OK;
	int sw = 0, sh = 0;
	for (int i = 0; i < n_styles; i++) {
		styles[i] = given[i];
		const int shorter = given[i].width < given[i].height ? given[i].width : given[i].height;
		if (shorter < NST_ARBITRARY_MIN_PAINTING_SIDE && st == NST_OK) {
			const int wide = (given[i].width * NST_ARBITRARY_MIN_PAINTING_SIDE + shorter - 1) / shorter;
			const int high = (given[i].height * NST_ARBITRARY_MIN_PAINTING_SIDE + shorter - 1) / shorter;
			st = nst_image_resize(&given[i], wide, high, &enlarged[i]);
			styles[i] = enlarged[i];
		}
		sw = styles[i].width > sw ? styles[i].width : sw;
		sh = styles[i].height > sh ? styles[i].height : sh;
	}
	struct nst_arbitrary_plan plan;
	if (st == NST_OK)
		st = nst_arbitrary_plan(w, content->width, content->height, sw, sh, threads, NST_BACKEND_AUTO, NST_PRECISION_FP32,
		                        &plan, diag);
	void *arena = st == NST_OK ? nst_arena_allocate(plan.total_bytes) : NULL;
	if (st == NST_OK && !arena)
		st = NST_ERR_OUT_OF_MEMORY;
	struct nst_arbitrary_session *s = NULL;
	if (st == NST_OK)
		st = nst_arbitrary_init(arena, plan.total_bytes, w, content->width, content->height, sw, sh, threads, NST_BACKEND_AUTO,
		                        NST_PRECISION_FP32, &s, diag);
	if (st == NST_OK)
		st = nst_arbitrary_set_style(s, n_styles, styles, blend, diag);
	if (st == NST_OK)
		st = nst_arbitrary_run(s, content->width, content->height, content->rgb, 1.0f, out);
	nst_arbitrary_release(s);
	nst_arena_free(arena);
	for (int i = 0; i < n_styles; i++)
		nst_image_free(&enlarged[i]);
	return st;
}

int cli_onepass_init(const char *model, const struct nst_image *content, const struct nst_image *styles,
                     int n_styles, const float *blend, int threads, bool quiet, struct nst_image *out) {
	char buf[CLI_PATH_BYTES], looked[4 * CLI_PATH_BYTES];
	const char *path = strchr(model, '/') ? model : cli_find_model(model, buf, sizeof buf, looked, sizeof looked);
	if (!path)
		return cli_fail(EXIT_USAGE, "--init model:%s: no such network (looked for %s" CLI_MODEL_EXTENSION " in %s)",
		                model, model, looked);
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	enum nst_status st = nst_weights_open(path, &w, &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, path);
	const enum nst_arch arch = nst_weights_arch(w);
	if (arch == NST_ARCH_VGG) {
		nst_weights_close(w);
		return cli_fail(EXIT_USAGE, "--init model:%s: %s is a VGG network, not a one-pass one", model, path);
	}
	*out = (struct nst_image){content->width, content->height, malloc((size_t)content->width * content->height * 3)};
	if (!out->rgb) {
		nst_weights_close(w);
		return cli_fail(EXIT_MEMORY, "out of memory for --init model:%s", model);
	}
	const double t0 = nst_seconds();
	st = arch == NST_ARCH_ARBITRARY ? arbitrary(w, content, styles, n_styles, blend, threads, out->rgb, &diag)
	                                : trained(w, content, threads, out->rgb, &diag);
	nst_weights_close(w);
	if (st != NST_OK) {
		nst_image_free(out);
		return cli_fail_status(st, &diag, path);
	}
	if (!quiet)
		fprintf(stderr, "nst: --init model:%s: the one-pass picture at %dx%d in %.1f ms\n", model, content->width,
		        content->height, (nst_seconds() - t0) * 1000.0);
	return EXIT_OK;
}
