/*
 * nst_stylize, the one-call API: the optimization on a small random VGG (the result's size, the
 * same pixels twice, the progress rows, a stop from the callback keeping the picture), a trained
 * network against nst_fast_run on the same pixels, the arbitrary-style network against
 * nst_arbitrary_run (both from make weights: missing, they fail), every
 * refused argument with its one-line diagnostic, and the arbitrary network's painting sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "nst.h"
#include "support.h"

struct rows {
	int calls, last_iteration, stop_at;
	double last_loss;
};

static bool count_rows(void *user, const struct nst_stylize_progress *p) {
	struct rows *r = user;
	r->calls++;
	r->last_iteration = p->iteration;
	r->last_loss = p->loss;
	return r->stop_at == 0 || p->iteration < r->stop_at;
}

static struct nst_image random_image(struct nst_rng *rng, int w, int h) {
	struct nst_image img = {w, h, malloc((size_t)w * h * 3)};
	fill_bytes(rng, img.rgb, (size_t)w * h * 3);
	return img;
}

static void optimize_checks(const char *vgg, struct nst_rng *rng) {
	struct nst_image photo = random_image(rng, 40, 30), painting = random_image(rng, 24, 20), a = {0}, b = {0};
	struct nst_stylize_options o;
	nst_stylize_options_default(&o);
	CHECK(o.mode == NST_MODE_OPTIMIZE && o.strength == 1.0f && o.size == 0, "the defaults");
	o.weights = vgg;
	o.size = 32;
	o.iterations = 4;
	o.threads = 1;
	struct rows rows = {0};
	o.progress = count_rows;
	o.user = &rows;
	struct nst_diag diag = {{0}};
	enum nst_status st = nst_stylize(&o, &photo, &painting, &a, &diag);
	CHECK(st == NST_OK, "optimize: %s: %s", nst_status_string(st), diag.message);
	CHECK(a.width == 32 && a.height == 24 && a.rgb, "optimize: the result is %dx%d, not 32x24", a.width, a.height);
	CHECK(rows.calls >= 4 && rows.last_iteration >= 4 && rows.last_loss > 0, "progress: %d calls, last row %d, loss %g",
	      rows.calls, rows.last_iteration, rows.last_loss);
	st = nst_stylize(&o, &photo, &painting, &b, &diag);
	CHECK(st == NST_OK && b.rgb && !memcmp(a.rgb, b.rgb, (size_t)32 * 24 * 3), "optimize: the same pixels twice");
	nst_image_free(&b);

	/* A stop from the callback: NST_ERR_INTERRUPTED, the picture so far at the result's size. */
	rows = (struct rows){.stop_at = 2};
	o.iterations = 50;
	st = nst_stylize(&o, &photo, &painting, &b, &diag);
	CHECK(st == NST_ERR_INTERRUPTED, "a stop: %s", nst_status_string(st));
	CHECK(b.rgb && b.width == 32 && b.height == 24, "a stop keeps the picture (%dx%d)", b.width, b.height);
	CHECK(strstr(diag.message, "stopped by the progress callback") != NULL, "a stop's diag: %s", diag.message);
	CHECK(rows.calls < 10, "the run stopped soon after the callback said so (%d rows)", rows.calls);
	nst_image_free(&b);

	/* Refusals, each with its line, and out zeroed. */
	struct {
		const char *what;
		enum nst_mode mode;
		const char *weights;
		int size;
		float strength;
		bool painting;
		enum nst_status want;
		const char *says;
	} cases[] = {
	    {"no weights", NST_MODE_OPTIMIZE, NULL, 32, 1.0f, true, NST_ERR_INVALID_ARGUMENT, "weights"},
	    {"no painting", NST_MODE_OPTIMIZE, vgg, 32, 1.0f, false, NST_ERR_INVALID_ARGUMENT, "no painting"},
	    {"a painting for a trained network", NST_MODE_TRAINED, vgg, 32, 1.0f, true, NST_ERR_INVALID_ARGUMENT, "no painting"},
	    {"mode 7", (enum nst_mode)7, vgg, 32, 1.0f, true, NST_ERR_INVALID_ARGUMENT, "mode 7"},
	    {"strength 2", NST_MODE_ARBITRARY, vgg, 32, 2.0f, true, NST_ERR_INVALID_ARGUMENT, "strength 2"},
	    {"size -1", NST_MODE_OPTIMIZE, vgg, -1, 1.0f, true, NST_ERR_INVALID_ARGUMENT, "size -1"},
	    {"a missing file", NST_MODE_OPTIMIZE, "/nonexistent/vgg.nstw", 32, 1.0f, true, NST_ERR_IO, "/nonexistent/vgg.nstw"},
	    {"a VGG as a trained network", NST_MODE_TRAINED, vgg, 32, 1.0f, false, NST_ERR_INVALID_ARGUMENT,
	     "is a VGG network (mode optimize), not a trained one-pass network"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		nst_stylize_options_default(&o);
		o.mode = cases[i].mode;
		o.weights = cases[i].weights;
		o.size = cases[i].size;
		o.strength = cases[i].strength;
		o.threads = 1;
		struct nst_image out = {7, 7, (uint8_t *)&o};
		diag.message[0] = '\0';
		st = nst_stylize(&o, &photo, cases[i].painting ? &painting : NULL, &out, &diag);
		CHECK(st == cases[i].want, "%s: %s, not %s", cases[i].what, nst_status_string(st), nst_status_string(cases[i].want));
		CHECK(diag.message[0] && strstr(diag.message, cases[i].says), "%s: the diag says '%s'", cases[i].what, diag.message);
		CHECK(!out.rgb && !out.width && !out.height, "%s: out is zeroed", cases[i].what);
	}
	nst_image_free(&a);
	nst_image_free(&photo);
	nst_image_free(&painting);
}

/* make test makes the networks first: a missing one fails (NULL), as the shell tests' `need` does. */
static struct nst_weights *network(const char *path) {
	struct nst_weights *w = NULL;
	struct nst_diag diag = {{0}};
	const enum nst_status st = nst_weights_open(path, &w, &diag);
	CHECK(st == NST_OK, "no %s (make weights): %s", path, diag.message);
	return st == NST_OK ? w : NULL;
}

/* The options of a one-pass run on one thread. */
static struct nst_stylize_options one_pass_options(enum nst_mode mode, const char *weights, float strength) {
	struct nst_stylize_options o;
	nst_stylize_options_default(&o);
	o.mode = mode;
	o.weights = weights;
	o.threads = 1;
	o.strength = strength;
	return o;
}

/* A run that needs more than the memory available (here: an address-space limit 64 MiB above what
 * the process maps) is refused before it allocates, naming both.  Not under qemu or a sanitizer,
 * whose own mappings such a limit would starve. */
#define HEADROOM_BYTES ((rlim_t)64 << 20)
#define OVER_MEMORY_SIZE 4000 /* candy at 4000 px plans about 1.8 GiB */
static void over_memory_check(struct nst_stylize_options *o, const struct nst_image *photo) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	(void)o, (void)photo;
#else
	const char *emu = getenv("NST_EMU");
	if (emu && *emu)
		return;
	struct rlimit before, low;
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long pages = 0;
	const bool read = f && fscanf(f, "%llu", &pages) == 1;
	if (f)
		fclose(f);
	if (!read || getrlimit(RLIMIT_AS, &before) != 0)
		return;
	low = before;
	low.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + HEADROOM_BYTES;
	CHECK(setrlimit(RLIMIT_AS, &low) == 0, "setrlimit");
	const size_t available = nst_memory_available();
	struct nst_image out = {0};
	struct nst_diag diag = {{0}};
	o->size = OVER_MEMORY_SIZE;
	const enum nst_status st = nst_stylize(o, photo, NULL, &out, &diag);
	setrlimit(RLIMIT_AS, &before);
	CHECK(available > 0 && available <= HEADROOM_BYTES, "ulimit -v: %zu bytes available", available);
	CHECK(st == NST_ERR_OVER_MEMORY_LIMIT && strstr(diag.message, "MiB available here") && !out.rgb,
	      "beyond the memory available: %s: %s", nst_status_string(st), diag.message);
	nst_image_free(&out);
#endif
}

/* A trained network (make weights builds it): nst_stylize = nst_fast_run on the same pixels, and --size. */
static void trained_checks(const char *candy, struct nst_rng *rng) {
	struct nst_weights *w = network(candy);
	struct nst_diag diag = {{0}};
	if (!w)
		return;
	struct nst_image photo = random_image(rng, 30, 22), out = {0};
	struct nst_fast_plan plan;
	struct nst_fast_session *s = NULL;
	uint8_t *want = malloc((size_t)30 * 22 * 3);
	void *arena = NULL;
	enum nst_status st = nst_fast_plan(w, 30, 22, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
	if (st == NST_OK) {
		arena = nst_arena_allocate(plan.total_bytes);
		st = nst_fast_init(arena, plan.total_bytes, w, 30, 22, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &s, &diag);
	}
	if (st == NST_OK)
		st = nst_fast_run(s, 30, 22, photo.rgb, want, 0.75f);
	CHECK(st == NST_OK, "nst_fast_run: %s", diag.message);
	nst_fast_release(s);
	nst_arena_free(arena);
	nst_weights_close(w);
	struct nst_stylize_options o = one_pass_options(NST_MODE_TRAINED, candy, 0.75f);
	struct rows rows = {0};
	o.progress = count_rows;
	o.user = &rows;
	st = nst_stylize(&o, &photo, NULL, &out, &diag);
	CHECK(st == NST_OK && out.width == 30 && out.height == 22, "trained: %s %s (%dx%d)", nst_status_string(st),
	      diag.message, out.width, out.height);
	CHECK(out.rgb && !memcmp(out.rgb, want, (size_t)30 * 22 * 3), "trained: nst_stylize = nst_fast_run");
	CHECK(rows.calls == 1 && rows.last_iteration == 1, "trained: one progress call (%d)", rows.calls);
	nst_image_free(&out);
	o.size = 60;
	st = nst_stylize(&o, &photo, NULL, &out, &diag);
	CHECK(st == NST_OK && out.width == 60 && out.height == 44, "trained --size 60: %dx%d", out.width, out.height);
	nst_image_free(&out);
	over_memory_check(&o, &photo);
	free(want);
	nst_image_free(&photo);
}

/* The arbitrary-style network: the result's size (the photo's own; --size), the same pixels twice,
 * and equal to nst_arbitrary_run's on the pictures at the sizes nst_stylize runs them at. */
static void arbitrary_checks(const char *path, struct nst_rng *rng) {
	struct nst_weights *w = network(path);
	struct nst_diag diag = {{0}};
	if (!w)
		return;
	struct nst_image photo = random_image(rng, 36, 28), painting = random_image(rng, 50, 40), a = {0}, b = {0};
	struct nst_stylize_options o = one_pass_options(NST_MODE_ARBITRARY, path, 0.8f);
	enum nst_status st = nst_stylize(&o, &photo, &painting, &a, &diag);
	CHECK(st == NST_OK && a.width == 36 && a.height == 28 && a.rgb, "arbitrary: %s %s (%dx%d)", nst_status_string(st),
	      diag.message, a.width, a.height);
	st = nst_stylize(&o, &photo, &painting, &b, &diag);
	CHECK(st == NST_OK && a.rgb && b.rgb && !memcmp(a.rgb, b.rgb, (size_t)36 * 28 * 3), "arbitrary: the same pixels twice");
	nst_image_free(&b);

	/* The detailed API on the same pictures: the painting at nst_arbitrary_painting_size of the photo's long side. */
	int sw, sh;
	nst_arbitrary_painting_size(painting.width, painting.height, 36, &sw, &sh);
	struct nst_image style = {0};
	st = nst_image_resize(&painting, sw, sh, &style);
	CHECK(st == NST_OK, "resize the painting to %dx%d", sw, sh);
	struct nst_arbitrary_plan plan;
	struct nst_arbitrary_session *s = NULL;
	uint8_t *want = calloc((size_t)36 * 28 * 3, 1);
	void *arena = NULL;
	if (st == NST_OK)
		st = nst_arbitrary_plan(w, 36, 28, sw, sh, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
	if (st == NST_OK && !(arena = nst_arena_allocate(plan.total_bytes)))
		st = NST_ERR_OUT_OF_MEMORY;
	if (st == NST_OK)
		st = nst_arbitrary_init(arena, plan.total_bytes, w, 36, 28, sw, sh, 1, NST_BACKEND_AUTO, NST_PRECISION_FP32, &s,
		                        &diag);
	if (st == NST_OK)
		st = nst_arbitrary_set_style(s, 1, &style, NULL, &diag);
	if (st == NST_OK)
		st = nst_arbitrary_run_mixed(s, 36, 28, photo.rgb, 1.0f, 0.8f, want);
	CHECK(st == NST_OK, "nst_arbitrary_run: %s %s", nst_status_string(st), diag.message);
	CHECK(a.rgb && !memcmp(a.rgb, want, (size_t)36 * 28 * 3), "arbitrary: nst_stylize = nst_arbitrary_run");
	/* Another painting (a colour ramp, nothing like the first's noise), then the first again: the
	 * session repacks its modulated blocks from the kept kernels each time, and gives the first's
	 * output bit for bit.  Compared unrounded: this noise photo's bytes are mostly clamped. */
	const size_t style_bytes = (size_t)sw * (size_t)sh * 3, out_floats = (size_t)36 * 28 * 3;
	struct nst_image ramp = {sw, sh, malloc(style_bytes)};
	float *first = malloc(out_floats * sizeof(float)), *other = malloc(out_floats * sizeof(float));
	float *again = malloc(out_floats * sizeof(float));
	if (st == NST_OK && ramp.rgb && first && other && again) {
		for (int y = 0; y < sh; y++)
			for (int x = 0; x < sw; x++) {
				uint8_t *px = ramp.rgb + ((size_t)y * (size_t)sw + (size_t)x) * 3;
				px[0] = (uint8_t)(255 * x / sw);
				px[1] = (uint8_t)(64 + 128 * (y % 2));
				px[2] = (uint8_t)(255 - 255 * y / sh);
			}
		st = nst_arbitrary_run_raw(s, 36, 28, photo.rgb, 0.8f, first);
		if (st == NST_OK)
			st = nst_arbitrary_set_style(s, 1, &ramp, NULL, &diag);
		if (st == NST_OK)
			st = nst_arbitrary_run_raw(s, 36, 28, photo.rgb, 0.8f, other);
		if (st == NST_OK)
			st = nst_arbitrary_set_style(s, 1, &style, NULL, &diag);
		if (st == NST_OK)
			st = nst_arbitrary_run_raw(s, 36, 28, photo.rgb, 0.8f, again);
		CHECK(st == NST_OK && memcmp(other, first, out_floats * sizeof(float)) != 0 &&
		          !memcmp(again, first, out_floats * sizeof(float)),
		      "arbitrary: another painting differs, and the first again gives its output bit for bit (%s)",
		      nst_status_string(st));
	}
	free(first);
	free(ramp.rgb);
	free(other);
	free(again);
	nst_arbitrary_release(s);
	nst_arena_free(arena);
	nst_weights_close(w);
	nst_image_free(&a);
	o.size = 48;
	st = nst_stylize(&o, &photo, &painting, &a, &diag);
	CHECK(st == NST_OK && a.width == 48 && a.height == 37, "arbitrary --size 48: %dx%d", a.width, a.height);
	nst_image_free(&a);
	nst_image_free(&style);
	nst_image_free(&photo);
	nst_image_free(&painting);
	free(want);
}

int main(void) {
	const uint64_t seed = support_seed("test_stylize");
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	char *dir = support_tmpdir("stylize");
	char vgg[512], candy[512], arbitrary[512];
	snprintf(vgg, sizeof vgg, "%s/vgg.nstw", dir);
	snprintf(candy, sizeof candy, "%s/styles/candy.nstw", check_env("NST_BUILD", "build"));
	snprintf(arbitrary, sizeof arbitrary, "%s/styles/arbitrary.nstw", check_env("NST_BUILD", "build"));
	CHECK(support_write_small_vgg(vgg, seed) == 0, "the small VGG");
	optimize_checks(vgg, &rng);
	trained_checks(candy, &rng);
	arbitrary_checks(arbitrary, &rng);

	/* The arbitrary network's painting sizes (the CLI's too). */
	int w, h;
	nst_arbitrary_painting_size(64, 48, 32, &w, &h);
	CHECK(w == 32 && h == 24, "64x48 at 32: %dx%d", w, h);
	nst_arbitrary_painting_size(400, 20, 64, &w, &h);
	CHECK(w == 320 && h == 16, "400x20 at 64: %dx%d (its short side at least %d)", w, h, NST_ARBITRARY_MIN_PAINTING_SIDE);
	nst_arbitrary_painting_size(20, 100000, 64, &w, &h);
	CHECK(h == NST_MAX_IMAGE_SIDE / 2, "20x100000: the long side at most %d (%dx%d)", NST_MAX_IMAGE_SIDE / 2, w, h);
	support_rmdir(dir);
	free(dir);
	return check_finish("test_stylize");
}
