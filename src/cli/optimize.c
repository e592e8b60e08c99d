/*
 * nst -c CONTENT -s STYLE[,STYLE...] -o OUT [options]: optimization-based style transfer, the
 * command (its options: src/cli/optimize_args.c).  The checks of every output before any work, the
 * description a checkpoint is compared with on --resume, the progress lines and log, and the run:
 * the pictures of every scale, then the library's coarse to fine (nst_scales_*,
 * src/coarse_to_fine.c) does the rest.  The library returns status codes; this file turns them
 * into one-line messages and exit codes.  Every output is written atomically.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optimize.h"

/* ---------------------------------------------------------------------------------------------
 * Progress
 * ------------------------------------------------------------------------------------------- */

struct run_state {
	const struct cli *cli;
	struct nst_scales *scales;
	FILE *log;
	bool tty;
	uint8_t *rgb;           /* [H][W][3] for intermediate saves */
	int save_failed;
	bool line_open;         /* a terminal progress line waits for its newline */
	/* The optimizer's steps (what -n counts) of the scale running: the last reported, and the last
	 * printed and saved (several loss rows share a step inside an L-BFGS line search). */
	int scale, step, iterations, printed_step, saved_step;
	/* The last row, printed once the next row shows its step over (or the scale ends): each progress
	 * line is the loss at the end of its iteration. */
	struct nst_scales_progress pending;
	bool have_pending;
	/* The last --checkpoint-every checkpoint: its run row, and in tiles its scale, sweep and tile. */
	int checkpoint_row, checkpoint_scale, checkpoint_sweep, checkpoint_tile;
};

/* OUT-<iteration>.<ext>: false if it does not fit in buf. */
/* --save-every's names: OUT-<iteration>.<ext>, and in a run of several scales (whose iterations
 * each count from 1) OUT-<scale>-<iteration>.<ext>, scale from 1. */
static bool save_path(const char *output, int scale, int n_scales, int iteration, char *buf, size_t size) {
	const char *dot = strrchr(output, '.');
	const char *slash = strrchr(output, '/');
	if (!dot || (slash && dot < slash))
		dot = output + strlen(output);
	char scale_part[16] = "";
	if (n_scales > 1)
		snprintf(scale_part, sizeof scale_part, "-%d", scale + 1);
	const int len = snprintf(buf, size, "%.*s%s-%04d%s", (int)(dot - output), output, scale_part, iteration, dot);
	return len > 0 && (size_t)len < size;
}

/* The checkpoint and what it was made with, each whole or not at all (the stop signals wait
 * meanwhile).  The description is a help for --resume's messages: without it the checkpoint
 * still resumes. */
static enum nst_status save_checkpoint(const struct cli *c, const struct nst_scales *scales, struct nst_diag *diag) {
	sigset_t mask;
	cli_signals_block(&mask);
	if (c->description[0])
		cli_write_run_options(c->checkpoint_file.path, c->description);
	const enum nst_status st = nst_scales_save_checkpoint(scales, c->checkpoint_file.path, diag);
	cli_signals_restore(&mask);
	return st;
}

/* A failure inside the progress: its line (after the open progress line), and the run stops. */
static bool progress_failed(struct run_state *r, const char *message) {
	fprintf(stderr, "%snst: %s\n", r->line_open ? "\n" : "", message);
	r->line_open = false;
	r->save_failed = 1;
	return false;
}

/* "scale 2/3 (512x340) sweep 1 tile 4 " as the run has them. */
static void progress_place(const struct nst_scales_progress *q, char *place, size_t size) {
	place[0] = '\0';
	if (q->n_scales > 1)
		snprintf(place, size, "scale %d/%d (%dx%d) ", q->scale + 1, q->n_scales, q->width, q->height);
	if (q->tiled) {
		const size_t used = strlen(place);
		snprintf(place + used, size - used, "sweep %d tile %d ", q->sweep + 1, q->tile + 1);
	}
}

/* The pending row's line, when its step is one --print-every asks for (or the last). */
static void print_pending(struct run_state *r, bool last) {
	const struct cli *c = r->cli;
	const struct nst_progress *p = &r->pending.row;
	const struct nst_losses *l = &p->losses;
	if (!r->have_pending || c->quiet || r->tty || p->step == r->printed_step ||
	    !(last || p->step % c->print_every == 0 || p->step >= p->iterations))
		return;
	char place[64];
	progress_place(&r->pending, place, sizeof place);
	const double rate = p->step > 0 && p->seconds > 0 ? p->step / p->seconds : 0.0;
	r->printed_step = p->step;
	fprintf(stderr, "%siteration %d/%d loss %.6e (content %.4e style %.4e tv %.4e) %.2f it/s\n", place, p->step,
	        p->iterations, l->total, l->content, l->style, l->tv, rate);
}

/* --checkpoint-every N: every N rows of a scale; in tiles, where a checkpoint holds the picture
 * at its tile's start, at most one per tile, N rows or more after the last. */
static bool checkpoint_due(const struct run_state *r, const struct nst_scales_progress *q) {
	const int every = r->cli->checkpoint_every;
	const struct nst_progress *p = &q->row;
	if (every <= 0 || p->iteration == 0)
		return false;
	if (!q->tiled)
		return p->iteration < p->iterations && p->iteration % every == 0;
	if (p->step >= p->iterations) /* in tiles iterations counts steps: an L-BFGS tile has more rows */
		return false;
	const bool same_tile = q->scale == r->checkpoint_scale && q->sweep == r->checkpoint_sweep && q->tile == r->checkpoint_tile;
	return !same_tile && q->run_row - r->checkpoint_row >= every;
}

static bool on_progress(void *user, const struct nst_scales_progress *q) {
	struct run_state *r = user;
	const struct cli *c = r->cli;
	const struct nst_progress *p = &q->row;
	const struct nst_losses *l = &p->losses;
	char scale[64];
	progress_place(q, scale, sizeof scale);
	if (r->log) {
		/* One log for the whole run: rows and seconds continue across scales; flushed, so that it
		 * is readable while the run goes on and complete up to an interruption. */
		if (fprintf(r->log, "%d,%.9g,%.9g,%.9g,%.9g,%.4f\n", q->run_row, l->total, l->content, l->style, l->tv,
		            q->run_seconds) < 0 || fflush(r->log) != 0) {
			char message[CLI_PATH_BYTES + 64];
			snprintf(message, sizeof message, "cannot write %s: %s", c->log_path, strerror(errno));
			return progress_failed(r, message);
		}
	}
	/* Iterations are the optimizer's steps (an L-BFGS line search may evaluate several rows in one):
	 * a step's first row is printed and saved, once. */
	if (q->scale != r->scale) {
		r->scale = q->scale;
		r->printed_step = r->saved_step = -1;
		r->have_pending = false;
	}
	if (r->have_pending && (r->pending.sweep != q->sweep || r->pending.tile != q->tile)) {
		print_pending(r, true); /* the tile's last step: a line per tile at least (its own steps may
		                         * never reach a multiple of --print-every when it converges early) */
		r->printed_step = p->step; /* the next tile's start is not an iteration's end */
	} else if (r->have_pending && r->pending.row.step != p->step) {
		print_pending(r, false); /* its step is over */
	}
	r->pending = *q;
	r->have_pending = true;
	r->step = p->step;
	r->iterations = p->iterations;
	if (!c->quiet && r->tty) {
		const double rate = p->step > 0 && p->seconds > 0 ? p->step / p->seconds : 0.0;
		const int eta = rate > 0 && p->iterations > p->step ? (int)((p->iterations - p->step) / rate) : 0;
		fprintf(stderr, "\r\033[K%siteration %d/%d  loss %.4e  %.2f it/s  ETA %d:%02d", scale, p->step,
		        p->iterations, l->total, rate, eta / 60, eta % 60);
		r->line_open = true;
	}
	/* An iteration's picture once the optimizer has accepted it (a line search's trial rows report
	 * the previous iteration as accepted, and nst_scales_image gives that picture). */
	if (c->save_every > 0 && p->accepted > 0 && p->accepted % c->save_every == 0 && p->accepted < p->iterations &&
	    p->accepted != r->saved_step) {
		char path[CLI_PATH_BYTES];
		r->saved_step = p->accepted;
		save_path(c->output, q->scale, q->n_scales, p->accepted, path, sizeof path);
		struct nst_image img = {q->width, q->height, r->rgb};
		struct nst_diag diag = {{0}};
		nst_scales_image(r->scales, r->rgb);
		sigset_t mask;
		cli_signals_block(&mask); /* never half a file */
		const enum nst_status st = nst_image_save(path, &img, c->jpeg_quality, &diag);
		cli_signals_restore(&mask);
		if (st != NST_OK)
			return progress_failed(r, diag.message);
	}
	if (checkpoint_due(r, q)) {
		struct nst_diag diag = {{0}};
		if (save_checkpoint(c, r->scales, &diag) != NST_OK)
			return progress_failed(r, diag.message);
		r->checkpoint_row = q->run_row;
		r->checkpoint_scale = q->scale;
		r->checkpoint_sweep = q->sweep;
		r->checkpoint_tile = q->tile;
	}
	return cli_stop_signal() == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Everything the run writes, checked before any work
 * ------------------------------------------------------------------------------------------- */

/* The longest --save-every name (see save_path) must be a picture its folder takes, and no name an
 * input (each existing one is compared: a hard link counts); most: the iterations of the longest
 * of the n_scales scales. */
static int check_save_names(const struct cli *c, int n_scales, int most, const struct cli_file *const *inputs,
                            int n_inputs) {
	if (!c->save_every || most <= c->save_every)
		return EXIT_OK;
	char path[CLI_PATH_BYTES];
	struct cli_file f;
	const int last = (most - 1) / c->save_every * c->save_every; /* written below the last iteration */
	if (!save_path(c->output, n_scales - 1, n_scales, last, path, sizeof path))
		return cli_fail(EXIT_USAGE, "--save-every: the name of %s's intermediate pictures is too long", c->output);
	int rc = cli_output_check(&f, "--save-every", path, CLI_OUTPUT_PICTURE, 0);
	for (int s = 0; s < n_scales; s++)
		for (int it = c->save_every; it < most && rc == EXIT_OK; it += c->save_every) {
			save_path(c->output, s, n_scales, it, path, sizeof path);
			cli_input_identify(&f, "--save-every", path);
			const struct cli_file *one = &f;
			if (f.id.exists)
				rc = cli_refuse_same(&one, 1, inputs, n_inputs);
		}
	return rc;
}

/* The run's inputs (pictures, --init, the weights) identified into in[] and listed in inputs[]
 * (NST_MAX_STYLES + 3 each); returns their count. */
static int identify_inputs(const struct cli *c, const char *weights_path, struct cli_file *in,
                           const struct cli_file **inputs) {
	int n_in = 0;
	cli_input_identify(&in[n_in++], "the content picture", c->content);
	for (int k = 0; k < c->n_styles; k++)
		cli_input_identify(&in[n_in++], "the style picture", c->styles[k]);
	if (c->options.init == NST_INIT_IMAGE && c->init_path)
		cli_input_identify(&in[n_in++], "--init", c->init_path);
	cli_input_identify(&in[n_in++], "the weights", weights_path);
	for (int i = 0; i < n_in; i++)
		inputs[i] = &in[i];
	return n_in;
}

/* A tiled scale counts its iterations over all its tiles (tiles x -n): --save-every's names up to
 * there, checked again once the plan says which scales are tiled. */
static int check_tiled_save_names(const struct cli *c, const struct nst_scales_plan *plan, const char *weights_path) {
	int most = 0;
	for (int i = 0; i < plan->n_scales; i++) {
		int n = plan->iterations[i];
		if (plan->tiled[i]) {
			const struct nst_tile_plan *t = &plan->tile_plans[i];
			int tiles = 0;
			for (int k = 0; k < t->sweeps; k++)
				tiles += nst_tile_count(t, k);
			n *= tiles;
		}
		most = n > most ? n : most;
	}
	struct cli_file in[NST_MAX_STYLES + 3];
	const struct cli_file *inputs[NST_MAX_STYLES + 3];
	const int n_in = identify_inputs(c, weights_path, in, inputs);
	return check_save_names(c, plan->n_scales, most, inputs, n_in);
}

/* Fills c's output files: each checked (see cli_output_check), none an input, no two the same. */
static int check_files(struct cli *c, const struct nst_schedule *sched, const char *weights_path) {
	struct cli_file in[NST_MAX_STYLES + 4];
	const struct cli_file *inputs[NST_MAX_STYLES + 4], *outputs[5];
	int n_in = 0, n_out = 0, rc;
	if (!strcmp(c->output, "-"))
		c->out = (struct cli_file){.what = "-o", .name = c->output, .stdio = true};
	else if ((rc = cli_output_check(&c->out, "-o", c->output, CLI_OUTPUT_PICTURE, 0)) != EXIT_OK)
		return rc;
	outputs[n_out++] = &c->out;
	const struct {
		struct cli_file *file;
		const char *what, *name;
		enum cli_output_type type;
	} side[] = {
		{&c->log_file, "--log", c->log_path, CLI_OUTPUT_DATA},
		{&c->sheet_file, "--sheet", c->sheet, CLI_OUTPUT_PICTURE},
		{&c->grad_file, "--dump-grad", c->dump_grad, CLI_OUTPUT_DATA},
	};
	for (size_t i = 0; i < sizeof side / sizeof side[0]; i++) {
		if (!side[i].name)
			continue;
		if ((rc = cli_output_check(side[i].file, side[i].what, side[i].name, side[i].type, 0)) != EXIT_OK)
			return rc;
		outputs[n_out++] = side[i].file;
	}
	/* The default checkpoint, OUT.ckpt, is checked where OUT is a file; beside a FIFO it is written
	 * if it can be; beside standard output or a device there is none (no ./-.ckpt, no
	 * /dev/full.ckpt) unless --checkpoint names one. */
	if (c->checkpoint_given || !(c->out.stdio || c->out.stream)) {
		if ((rc = cli_output_check(&c->checkpoint_file, "--checkpoint", c->checkpoint, CLI_OUTPUT_CHECKPOINT,
		                           CHECKPOINT_SUFFIX_BYTES)) != EXIT_OK)
			return rc;
		outputs[n_out++] = &c->checkpoint_file;
	} else if (c->out.stdio || c->out.id.device) {
		if (c->checkpoint_every > 0)
			return cli_fail(EXIT_USAGE, "--checkpoint-every: -o %s is %s, so there is no OUT.ckpt; give --checkpoint FILE",
			                c->output, c->out.stdio ? "standard output" : "a device");
		c->checkpoint = NULL;
	} else {
		c->checkpoint_file = (struct cli_file){.what = "--checkpoint", .name = c->checkpoint};
		snprintf(c->checkpoint_file.path, sizeof c->checkpoint_file.path, "%s", c->checkpoint);
	}
	n_in += identify_inputs(c, weights_path, in + n_in, inputs + n_in);
	if ((rc = cli_refuse_same(outputs, n_out, inputs, n_in)) != EXIT_OK)
		return rc;
	int most = 0;
	for (int i = 0; i < sched->n; i++)
		most = sched->iterations[i] > most ? sched->iterations[i] : most;
	if ((rc = check_save_names(c, sched->n, most, inputs, n_in)) != EXIT_OK)
		return rc;
	if (c->resume) { /* continuing in place (--resume OUT.ckpt, the default checkpoint) is the usual way */
		struct cli_file resume;
		cli_input_identify(&resume, "--resume", c->resume);
		const struct cli_file *r = &resume;
		for (int i = 0; i < n_out && rc == EXIT_OK; i++)
			if (outputs[i] != &c->checkpoint_file)
				rc = cli_refuse_same(&outputs[i], 1, &r, 1);
	}
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * What a run was made with, for --resume
 * ------------------------------------------------------------------------------------------- */

/* Appends to a description; what does not fit is left out. */
static void __attribute__((format(printf, 4, 5))) add(char *buf, size_t size, size_t *used, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	const int n = *used < size ? vsnprintf(buf + *used, size - *used, fmt, ap) : 0;
	va_end(ap);
	*used = n > 0 && *used + (size_t)n < size ? *used + (size_t)n : *used;
}

/* A picture by its real path (the same file named from another folder is the same picture). */
static const char *real_name(const char *path, char *buf) {
	return strcmp(path, "-") && realpath(path, buf) ? buf : path;
}

/* The options that decide a run's result, one "option value" line each. */
static void describe_run(struct cli *c, const struct nst_scales_plan *scales, const struct nst_weights *weights) {
	char *d = c->description, path[CLI_PATH_BYTES];
	const size_t size = sizeof c->description;
	const struct nst_options *o = &c->options;
	const struct nst_plan *plan = &scales->plans[0];
	const struct nst_problem *problem = &scales->problems[scales->n_scales - 1];
	size_t used = 0;
	add(d, size, &used, "-c %s\n-s ", real_name(c->content, path));
	for (int k = 0; k < c->n_styles; k++)
		add(d, size, &used, "%s%s", k ? "," : "", real_name(c->styles[k], path));
	add(d, size, &used, "\n--style-blend ");
	for (int k = 0; k < c->n_styles; k++)
		add(d, size, &used, "%s%.9g", k ? "," : "", c->blend_given ? (double)c->blend[k] : 1.0);
	add(d, size, &used, "\n--size %dx%d\n--style-scale %.9g\n--weights checksum %08x\n--content-layers ", problem->width,
	    problem->height, c->style_scale, nst_weights_checksum(weights));
	for (int i = 0; i < o->n_content_layers; i++)
		add(d, size, &used, "%s%s", i ? "," : "", o->content_layers[i]);
	add(d, size, &used, "\n--style-layers ");
	for (int i = 0; i < o->n_style_layers; i++)
		add(d, size, &used, "%s%s", i ? "," : "", o->style_layers[i]);
	add(d, size, &used, "\n--style-layer-weights ");
	for (int i = 0; i < o->n_style_layers; i++)
		add(d, size, &used, "%s%.9g", i ? "," : "", (double)o->style_layer_weights[i]);
	add(d, size, &used, "\n--content-weight %.9g\n--style-weight %.9g\n--tv-weight %.9g\n--pooling %s\n--optimizer %s\n"
	    "--lr %.9g\n--history %d\n--line-search %s\n--tolerance %.9g\n--init %s\n--seed %llu\n--original-colors %s\n"
	    "--backend %s\n--precision %s\n--threads %d\n-n %d\n", (double)o->content_weight, (double)o->style_weight,
	    (double)o->tv_weight, o->pooling == NST_POOLING_AVG ? "avg" : "max",
	    o->optimizer == NST_OPTIMIZER_ADAM ? "adam" : "lbfgs", (double)o->learning_rate, o->history,
	    o->line_search == NST_LINE_SEARCH_STRONG_WOLFE ? "strong_wolfe" : "none", (double)o->tolerance,
	    o->init == NST_INIT_RANDOM  ? "random"
	    : c->init_model             ? c->init_model
	    : o->init == NST_INIT_IMAGE ? real_name(c->init_path, path)
	                                : "content",
	    (unsigned long long)o->seed, o->original_colors ? "yes" : "no", nst_backend_name(plan->backend),
	    nst_precision_name(plan->precision), plan->threads, c->iterations);
	add(d, size, &used, "--scales ");
	for (int i = 0; i < scales->n_scales; i++)
		add(d, size, &used, "%s%dx%d", i ? "," : "", scales->problems[i].width, scales->problems[i].height);
	add(d, size, &used, "\n--scale-iterations ");
	for (int i = 0; i < scales->n_scales; i++)
		add(d, size, &used, "%s%d", i ? "," : "", scales->iterations[i]);
	add(d, size, &used, "\n");
	/* last, within a bound of its own: the command, for `nst --resume CHECKPOINT` alone (without
	 * --resume itself, and after a recall the recorded words only, not the options given then) */
	cli_record_command(c->record_argc, c->argv, d, size, &used);
}

/* --resume, before any work: the options compared with the checkpoint's (a refusal names what
 * differs).  Another thread count is allowed, with a notice: *then_threads is the checkpoint's. */
static int check_resume(const struct cli *c, const struct nst_plan *plan, int *then_threads) {
	const int rc = cli_check_run_options(c->resume, c->description, then_threads);
	if (rc == EXIT_OK && *then_threads && !c->quiet)
		fprintf(stderr, "nst: resuming with --threads %d where the checkpoint ran with %d: the result will not be "
		        "bit for bit the uninterrupted run's\n", plan->threads, *then_threads);
	return rc;
}

/* --resume: the log opened for appending keeps its header and the checkpoint's first `rows` rows
 * only, so that rows written after the checkpoint (a power cut), or inside a line search that the
 * resumed run starts again, are not there twice. */
static int truncate_log(FILE *log, const char *path, int rows) {
	if (rows < 0)
		return cli_fail(EXIT_FAILURE_RUN, "cannot continue %s: the checkpoint has %d rows", path, rows);
	FILE *in = fopen(path, "r");
	if (!in)
		return cli_fail(EXIT_FAILURE_RUN, "cannot read %s: %s", path, strerror(errno));
	long keep = 0;
	int lines = 0, ch;
	while (lines <= rows && (ch = fgetc(in)) != EOF) { /* the header, then `rows` rows */
		keep++;
		if (ch == '\n')
			lines++;
	}
	fclose(in);
	if (fflush(log) != 0 || ftruncate(fileno(log), (off_t)keep) != 0)
		return cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", path, strerror(errno));
	return EXIT_OK;
}

/* --resume: the checkpoint's scale started from it, and the log cut back to its rows. */
static int resume(const struct cli *c, struct nst_scales *scales, FILE *log) {
	struct nst_diag diag = {{0}};
	sigset_t mask;
	cli_signals_block(&mask); /* the thread pool's threads never take the stop signals */
	const enum nst_status st = nst_scales_load_checkpoint(scales, c->resume, &diag);
	cli_signals_restore(&mask);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, c->resume);
	return log ? truncate_log(log, c->log_path, nst_scales_rows(scales)) : EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The run: pictures, the plan of the scales (src/coarse_to_fine.c), the scales, the result
 * ------------------------------------------------------------------------------------------- */

/* Every scale's pictures, resampled from the originals before the plan (they allocate). */
struct pictures {
	struct nst_image content[NST_MAX_SCALES];                 /* [H][W][3] per scale */
	struct nst_image styles[NST_MAX_SCALES][NST_MAX_STYLES];  /* [Hs][Ws][3] per scale and style */
	struct nst_image init;                                    /* --init FILE at the first scale's size */
};

static void free_pictures(struct pictures *pic) {
	for (int i = 0; i < NST_MAX_SCALES; i++) {
		nst_image_free(&pic->content[i]);
		for (int k = 0; k < NST_MAX_STYLES; k++)
			nst_image_free(&pic->styles[i][k]);
	}
	nst_image_free(&pic->init);
}

/* Decoded for the largest scale (a much larger picture comes reduced) within --max-memory; each
 * scale's sizes come from the pictures' own (the requests' width and height). */
static int load_pictures(const struct cli *c, const struct nst_schedule *sched, struct pictures *pic) {
	struct nst_diag diag = {{0}};
	const int top = sched->size[sched->n - 1];
	struct nst_image original = {0}, styles_original[NST_MAX_STYLES] = {{0}}, init_original = {0};
	struct nst_image_request content_request = {top, c->max_memory, 0, 0};
	struct nst_image_request style_requests[NST_MAX_STYLES], init_request = {0, c->max_memory, 0, 0};
	int rc = EXIT_OK;
	enum nst_status st = nst_image_load_for(c->content, &content_request, &original, &diag);
	if (st != NST_OK)
		rc = cli_fail_status(st, &diag, c->content);
	for (int k = 0; k < c->n_styles && rc == EXIT_OK; k++) {
		style_requests[k] = (struct nst_image_request){(int)ceil(c->style_scale * top), c->max_memory, 0, 0};
		if ((st = nst_image_load_for(c->styles[k], &style_requests[k], &styles_original[k], &diag)) != NST_OK)
			rc = cli_fail_status(st, &diag, c->styles[k]);
	}
	if (rc == EXIT_OK && c->options.init == NST_INIT_IMAGE && c->init_path &&
	    (st = nst_image_load_for(c->init_path, &init_request, &init_original, &diag)) != NST_OK)
		rc = cli_fail_status(st, &diag, c->init_path);
	for (int i = 0; i < sched->n && rc == EXIT_OK && st == NST_OK; i++) {
		int w, h;
		nst_image_fit(content_request.width, content_request.height, sched->size[i], &w, &h);
		st = nst_image_resize(&original, w, h, &pic->content[i]); /* a plain copy at the same size */
		const int style_side = (int)ceil(c->style_scale * sched->size[i]);
		for (int k = 0; k < c->n_styles && st == NST_OK; k++) {
			nst_image_fit(style_requests[k].width, style_requests[k].height, style_side, &w, &h);
			st = nst_image_resize(&styles_original[k], w, h, &pic->styles[i][k]);
		}
	}
	if (rc == EXIT_OK && st == NST_OK && c->options.init == NST_INIT_IMAGE && c->init_path)
		st = nst_image_resize(&init_original, pic->content[0].width, pic->content[0].height, &pic->init);
	if (rc == EXIT_OK && st == NST_OK && c->init_model) /* the first scale's content and styles */
		rc = cli_onepass_init(c->init_model, &pic->content[0], pic->styles[0], c->n_styles,
		                      c->blend_given ? c->blend : NULL, c->options.threads, c->quiet, &pic->init);
	nst_image_free(&original);
	nst_image_free(&init_original);
	for (int k = 0; k < c->n_styles; k++)
		nst_image_free(&styles_original[k]);
	if (rc == EXIT_OK && st != NST_OK)
		rc = cli_fail(cli_exit_code(st), "cannot resample the pictures: %s", nst_status_string(st));
	return rc;
}

/* Whole 8-bit pictures the CLI holds beside the arena (the result and --init's picture): a tiled
 * scale's budget leaves room for them and for what the process holds already. */
#define HELD_PICTURE_COPIES 2

/* The memory a run is planned within: --max-memory, else NST_AVAILABLE_MEMORY_SHARE of what the
 * process holds and can still get; 0: no limit known. */
static size_t memory_budget(const struct cli *c, size_t *available) {
	*available = nst_memory_available();
	if (c->max_memory || !*available)
		return c->max_memory;
	const size_t held = cli_rss_now(), share = (size_t)(NST_AVAILABLE_MEMORY_SHARE * (double)*available);
	return share > SIZE_MAX - held ? SIZE_MAX : held + (share > 0 ? share : 1);
}

/* The plan of every scale: one session each, or tiles where a scale exceeds --tile, --max-memory
 * or (without it) the memory available here. */
static int plan_scales(const struct cli *c, const struct nst_weights *weights, const struct nst_schedule *sched,
                       const struct pictures *pic, struct nst_scales_plan *plan, size_t *tiled_for_memory) {
	size_t available;
	const size_t budget = memory_budget(c, &available);
	struct nst_scales_options so = {.n_scales = sched->n, .tiles = {c->tile, c->tile_overlap, c->tile_sweeps, 0},
	                                .max_bytes = budget};
	for (int i = 0; i < sched->n; i++) {
		so.problems[i] = (struct nst_problem){pic->content[i].width, pic->content[i].height, c->n_styles, {0}, {0}};
		for (int k = 0; k < c->n_styles; k++) {
			so.problems[i].style_width[k] = pic->styles[i][k].width;
			so.problems[i].style_height[k] = pic->styles[i][k].height;
		}
		so.iterations[i] = sched->iterations[i];
	}
	const struct nst_image *top = &pic->content[sched->n - 1];
	so.held_bytes = cli_rss_now() + (size_t)HELD_PICTURE_COPIES * (size_t)top->width * (size_t)top->height * 3;
	struct nst_diag diag = {{0}};
	/* A resumed run paints its scales from the checkpoint's on as the run it continues did (whole,
	 * or in the same tiles), whatever the memory available now or --tile would choose (a bad
	 * checkpoint is said when it is loaded). */
	struct nst_checkpoint_info resumed;
	const bool pinned = c->resume && nst_checkpoint_info(c->resume, &resumed, &diag) == NST_OK &&
	                    resumed.n_scales == sched->n;
	for (int i = pinned ? resumed.scale : sched->n; i < sched->n; i++)
		so.tile_sides[i] = resumed.tile_sides[i] > 0 ? resumed.tile_sides[i] : NST_SCALE_WHOLE;
	const enum nst_status st = nst_scales_plan(weights, &c->options, &so, plan, &diag);
	const char *why = pinned ? " (resuming: the scales as the checkpoint's run painted them)" : "";
	if (st == NST_ERR_OVER_MEMORY_LIMIT && c->max_memory) /* the limit is the option's */
		return cli_fail(EXIT_MEMORY, "--max-memory: %s%s", diag.message, why);
	if (st == NST_ERR_OVER_MEMORY_LIMIT && budget) /* the machine's */
		return cli_fail(EXIT_MEMORY, "%.0f MiB available here (nst info), so the run's budget is %.0f%% of it: %s%s",
		                cli_mib(available), 100.0 * NST_AVAILABLE_MEMORY_SHARE, diag.message, why);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, "plan");
	/* A --max-memory past what is available here is taken (the user may know better, or mean to free
	 * memory), and said: the allocation, or later the system, may refuse it. */
	if (c->max_memory && available && plan->total_bytes > available && !c->quiet)
		fprintf(stderr, "nst: the run needs %.0f MiB, more than the %.0f MiB available here (nst info): --max-memory "
		        "lets it try, but the system may refuse the memory or end the run (without --max-memory it would be "
		        "painted in tiles within %.0f%% of what is available)\n", cli_mib(plan->total_bytes),
		        cli_mib(available), 100.0 * NST_AVAILABLE_MEMORY_SHARE);
	*tiled_for_memory = 0;
	for (int i = 0; i < plan->n_scales; i++)
		if (plan->tiled[i] && !c->tile && !c->max_memory && !(pinned && i >= resumed.scale))
			*tiled_for_memory = available;
	/* --tile given to a resumed run that paints a scale otherwise: said, not silently overridden. */
	for (int i = pinned ? resumed.scale : sched->n; i < sched->n && c->tile && !c->quiet; i++) {
		const int side = pic->content[i].width > pic->content[i].height ? pic->content[i].width : pic->content[i].height;
		if ((side > c->tile ? c->tile : 0) != resumed.tile_sides[i]) {
			fprintf(stderr, "nst: resuming as the checkpoint's run painted the scales (whole or in its tiles), not as "
			        "--tile %d says\n", c->tile);
			break;
		}
	}
	return EXIT_OK;
}

/* The plan the memory line shows: the largest whole-picture scale's, else the top tile session's. */
static const struct nst_plan *shown_plan(const struct nst_scales_plan *p) {
	const struct nst_plan *shown = NULL;
	for (int i = 0; i < p->n_scales; i++)
		if (!p->tiled[i] && (!shown || p->plans[i].total_bytes > shown->total_bytes))
			shown = &p->plans[i];
	return shown ? shown : &p->tile_plans[p->n_scales - 1].session;
}

static void print_tiles(const struct nst_tile_plan *t, int iterations) {
	char odd[64] = "";
	if (t->sweeps > 1 && (t->cols[1] != t->cols[0] || t->rows[1] != t->rows[0]))
		snprintf(odd, sizeof odd, " (%dx%d on sweeps 2, 4, ...)", t->cols[1], t->rows[1]);
	fprintf(stderr,
	        "nst: %dx%d in tiles of %dx%d px, overlap %d px: %dx%d tiles%s, %d sweep%s x %d iterations per tile; "
	        "style Gram matrices from %d region%s (margin %d px)\n",
	        t->width, t->height, t->tile_width, t->tile_height, t->overlap, t->cols[0], t->rows[0], odd, t->sweeps,
	        t->sweeps == 1 ? "" : "s", iterations, t->style_regions, t->style_regions == 1 ? "" : "s", t->style_halo);
	fprintf(stderr, "nst: tiled memory plan %.1f MiB: tile session %.1f, picture %.1f, tile %.1f\n",
	        cli_mib(t->total_bytes), cli_mib(t->session.total_bytes), cli_mib(t->picture_bytes), cli_mib(t->tile_bytes));
}

/* What the run will do: size, network, memory plan, backend, tiles. */
static void print_header(const struct cli *c, const struct nst_weights *weights, const struct nst_scales_plan *p) {
	const struct nst_plan *plan = shown_plan(p);
	const struct nst_problem *top = &p->problems[p->n_scales - 1];
	fprintf(stderr, "nst: %dx%d, %d style%s, %s, backend %s (%s), %d thread%s", top->width, top->height, c->n_styles,
	        c->n_styles == 1 ? "" : "s", c->options.optimizer == NST_OPTIMIZER_ADAM ? "adam" : "l-bfgs",
	        nst_backend_name(plan->backend), plan->kernel, plan->threads, plan->threads == 1 ? "" : "s");
	for (int i = 0; i < p->n_scales && p->n_scales > 1; i++)
		fprintf(stderr, "%s%d px x %d", i ? ", " : "; scales ",
		        p->problems[i].width > p->problems[i].height ? p->problems[i].width : p->problems[i].height,
		        p->iterations[i]);
	cli_print_network(stderr, "\nnst: ", weights, &c->options);
	fprintf(stderr,
	        "\nnst: memory plan %.1f MiB: weights %.1f, activations %.1f, loss gradients %.1f, targets %.1f, "
	        "masks %.1f, optimizer %.1f, scratch %.1f\n",
	        cli_mib(plan->total_bytes), cli_mib(plan->weights_bytes), cli_mib(plan->activations_bytes), cli_mib(plan->features_bytes),
	        cli_mib(plan->targets_bytes), cli_mib(plan->masks_bytes), cli_mib(plan->optimizer_bytes), cli_mib(plan->scratch_bytes));
	if (c->options.backend == NST_BACKEND_AUTO && plan->auto_layer[0])
		fprintf(stderr, "nst: backend auto resolved to %s (%s forward + backward: %s %.2f ms, xnnpack %.2f ms)\n",
		        nst_backend_name(plan->backend), plan->auto_layer,
		        nst_backend_name(plan->auto_seconds[NST_BACKEND_SIMD] > 0 ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR),
		        1e3 * (plan->auto_seconds[NST_BACKEND_SIMD] + plan->auto_seconds[NST_BACKEND_SCALAR]),
		        1e3 * plan->auto_seconds[NST_BACKEND_XNNPACK]);
	else if (c->options.backend == NST_BACKEND_AUTO)
		fprintf(stderr, "nst: backend auto resolved to %s (the only one available)\n", nst_backend_name(plan->backend));
	if (plan->notice)
		fprintf(stderr, "nst: %s\n", plan->notice);
	for (int i = 0; i < p->n_scales; i++)
		if (p->tiled[i])
			print_tiles(&p->tile_plans[i], p->iterations[i]);
}

/* --dump-grad: the first scale's gradient at its start (a run of one scale without tiles). */
static int dump_grad(const struct cli *c, struct nst_scales *scales, const struct nst_problem *problem) {
	struct nst_session *session = nst_scales_session(scales);
	if (!session)
		return EXIT_OK;
	const size_t n = (size_t)problem->width * (size_t)problem->height * 3;
	float *grad = malloc(n * sizeof(float)); /* [H][W][3] */
	struct nst_losses losses;
	if (!grad)
		return cli_fail(EXIT_MEMORY, "cannot allocate the gradient dump");
	nst_session_evaluate(session, &losses, grad);
	const int rc = cli_write_data(&c->grad_file, grad, n * sizeof(float));
	free(grad);
	return rc;
}

/* Every scale in turn, a resumed run from its checkpoint's; *st: how the last scale's run ended. */
static int run_scales(const struct cli *c, struct nst_scales *scales, const struct nst_scales_plan *plan,
                      struct run_state *state, enum nst_status *st) {
	struct nst_diag diag = {{0}};
	sigset_t mask;
	int rc = EXIT_OK, scale = -1;
	bool started = false; /* a scale has started and waits for its run (the resumed one) */
	if (c->resume) {
		if ((rc = resume(c, scales, state->log)) != EXIT_OK)
			return rc;
		started = true;
		nst_scales_position(scales, &scale, NULL, NULL);
	}
	for (; started || scale + 1 < plan->n_scales; started = false) {
		if (!started) {
			cli_signals_block(&mask); /* the thread pool's threads never take the stop signals */
			*st = nst_scales_next(scales, &diag);
			cli_signals_restore(&mask);
			if (*st != NST_OK)
				return cli_fail_status(*st, &diag, "init");
			if (++scale == 0 && c->dump_grad && (rc = dump_grad(c, scales, &plan->problems[0])) != EXIT_OK)
				return rc;
		}
		*st = nst_scales_run_scale(scales, on_progress, state);
		print_pending(state, true);
		state->have_pending = false;
		if (state->line_open) { /* the terminal's progress line ends with the scale */
			fputc('\n', stderr);
			state->line_open = false;
		}
		const struct nst_session *session = nst_scales_session(scales);
		if (*st == NST_OK && session && nst_session_converged(session) && !c->quiet)
			fprintf(stderr, "nst: converged at iteration %d: the loss fell by less than %g over %d iterations\n",
			        state->step, (double)c->options.tolerance, NST_TOLERANCE_WINDOW);
		else if (*st == NST_OK && session && state->step < state->iterations && !c->quiet)
			fprintf(stderr, "nst: stopped at iteration %d of %d: L-BFGS spent its loss evaluations (1.25 x -n, as "
			        "PyTorch's and neural-style's L-BFGS; its line searches take several per iteration)\n",
			        state->step, state->iterations);
		if (*st != NST_OK)
			break;
	}
	return EXIT_OK;
}

/* Whether a scale of the plan runs in tiles. */
static bool any_tiled(const struct nst_scales_plan *plan) {
	for (int i = 0; i < plan->n_scales; i++)
		if (plan->tiled[i])
			return true;
	return false;
}

/* How the run ended, and what was written, as the exit code and its one line. */
struct ending {
	enum nst_status st;          /* the run's */
	enum nst_status wst;         /* writing the picture */
	struct nst_diag diag;        /* of writing the picture */
	enum nst_status sheet_st, checkpoint_st;
	struct nst_diag sheet_diag, checkpoint_diag;
	bool checkpoint;
	int scale, n_scales, sweep, tile; /* sweep -1: the scale runs as one session */
	int rows, good_row;          /* a scale as one session: the run's rows and its last finite row */
	int step;                    /* the optimizer's steps (iterations) when it ended */
};

/* A file the run names, as the user sees it: after a recall (which runs in the recorded folder,
 * not the user's) a relative name is given from that folder. */
#define SEEN_PATH_BYTES (2 * CLI_PATH_BYTES)
static const char *as_seen(const struct cli *c, const char *path, char *buf) {
	if (!c->recalled_folder || path[0] == '/' || !strcmp(path, "-"))
		return path;
	snprintf(buf, SEEN_PATH_BYTES, "%s/%s", c->recalled_folder, path);
	return buf;
}

/* How the user's shell names the checkpoint in "nst --resume ...": as_seen, quoted where it needs. */
#define SHELL_PATH_BYTES (4 * CLI_PATH_BYTES) /* quoting a path at most quadruples it */
static const char *checkpoint_for_shell(const struct cli *c, char *buf) {
	char seen[SEEN_PATH_BYTES];
	const char *path = as_seen(c, c->checkpoint, seen);
	if (cli_quote(path, buf, SHELL_PATH_BYTES) != buf)
		snprintf(buf, SHELL_PATH_BYTES, "%s", path);
	return buf;
}

static int report_end(const struct cli *c, const struct ending *e) {
	char stopped[160] = "", at_scale[48] = "", at_tile[48] = "", shell[SHELL_PATH_BYTES];
	char seen_output[SEEN_PATH_BYTES], seen_checkpoint[SEEN_PATH_BYTES];
	const char *output = as_seen(c, c->output, seen_output), *checkpoint = as_seen(c, c->checkpoint, seen_checkpoint);
	if (e->n_scales > 1)
		snprintf(at_scale, sizeof at_scale, "scale %d of %d, ", e->scale + 1, e->n_scales);
	if (e->sweep >= 0)
		snprintf(at_tile, sizeof at_tile, "sweep %d tile %d, ", e->sweep + 1, e->tile + 1);
	if (e->st == NST_ERR_INTERRUPTED)
		snprintf(stopped, sizeof stopped, "interrupted (%s) at %s%siteration %d (loss row %d): ",
		         cli_signal_name(cli_stop_signal()), at_scale, at_tile, e->step,
		         e->rows - 1);
	if (e->wst != NST_OK && e->checkpoint && e->checkpoint_st == NST_OK)
		return cli_fail(EXIT_FAILURE_RUN, "%s%s; wrote the checkpoint %s (continue with nst --resume %s once %s can be written)",
		                stopped, e->diag.message, checkpoint, checkpoint_for_shell(c, shell), output);
	if (e->wst != NST_OK)
		return cli_fail(cli_exit_code(e->wst), "%s%s%s%s", stopped, e->diag.message,
		                e->checkpoint ? "; nor the checkpoint: " : "", e->checkpoint ? e->checkpoint_diag.message : "");
	if (e->sheet_st != NST_OK)
		return cli_fail(cli_exit_code(e->sheet_st), "wrote %s, but not the sheet: %s", output, e->sheet_diag.message);
	if (e->st == NST_ERR_NUMERIC && e->sweep >= 0)
		return cli_fail(EXIT_NUMERIC,
		                "the loss stopped being finite in tile %d of sweep %d (try a smaller --lr); wrote the picture "
		                "with that tile's last finite state to %s", e->tile + 1, e->sweep + 1, output);
	if (e->st == NST_ERR_NUMERIC)
		return cli_fail(EXIT_NUMERIC,
		                "the loss stopped being finite at iteration %d (try a smaller --lr); wrote the last good "
		                "picture (iteration %d) to %s", e->rows - 1, e->good_row, output);
	if (e->st == NST_ERR_INTERRUPTED && !c->checkpoint)
		return cli_fail(EXIT_INTERRUPTED, "%swrote %s; no checkpoint: -o is %s (--checkpoint FILE keeps one to resume from)",
		                stopped, output, c->out.stdio ? "standard output" : "a device");
	if (e->st == NST_ERR_INTERRUPTED && e->checkpoint_st != NST_OK)
		return cli_fail(EXIT_FAILURE_RUN, "%swrote %s; %s", stopped, output, e->checkpoint_diag.message);
	if (e->st == NST_ERR_INTERRUPTED)
		return cli_fail(EXIT_INTERRUPTED, "%swrote %s and the checkpoint %s (continue with: nst --resume %s%s)", stopped,
		                output, checkpoint, checkpoint_for_shell(c, shell), e->sweep >= 0 ? ": the tile starts over" : "");
	return EXIT_OK;
}

/* The picture (at the output's size even when a multi-scale run stopped early), the sheet, and the
 * checkpoint to continue from when the run was stopped or its picture could not be written.  A
 * tiled run's arena is given back before writing (*arena, *scales), its checkpoint written first
 * (also of a finished run: *finished_checkpoint, for the caller to remove once all is written). */
static int write_result(const struct cli *c, struct nst_scales **scales, void **arena, const struct nst_scales_plan *plan,
                        const struct pictures *pic, uint8_t *result, enum nst_status st, int step,
                        bool *finished_checkpoint) {
	struct ending e = {.st = st, .n_scales = plan->n_scales, .sweep = -1, .step = step};
	nst_scales_image(*scales, result);
	nst_scales_position(*scales, &e.scale, &e.sweep, &e.tile);
	const struct nst_session *session = nst_scales_session(*scales);
	e.rows = nst_scales_rows(*scales);
	if (session) {
		e.sweep = -1;
		e.good_row = nst_session_good_row(session);
	} else { /* tiles: writing the picture needs no arena, give it back first (the checkpoint before
		          * it: a finished run's too, in case the picture cannot be written; removed once it is) */
		e.checkpoint = c->checkpoint && (st == NST_ERR_INTERRUPTED || st == NST_OK);
		*finished_checkpoint = e.checkpoint && st == NST_OK;
		if (e.checkpoint)
			e.checkpoint_st = save_checkpoint(c, *scales, &e.checkpoint_diag);
		nst_scales_release(*scales);
		*scales = NULL;
		free(*arena);
		*arena = NULL;
	}
	const struct nst_image *top = &pic->content[plan->n_scales - 1];
	struct nst_image out = {plan->problems[e.scale].width, plan->problems[e.scale].height, result}, out_full = {0};
	if (out.width != top->width || out.height != top->height) {
		if (nst_image_resize(&out, top->width, top->height, &out_full) != NST_OK)
			return cli_fail(EXIT_MEMORY, "cannot upsample the picture");
		out = out_full;
	}
	e.wst = cli_save_picture(&c->out, &out, c->jpeg_quality, &e.diag);
	if (e.wst == NST_OK && c->sheet)
		e.sheet_st = cli_write_sheet(&c->sheet_file, top, pic->styles[plan->n_scales - 1], c->n_styles, &out,
		                             c->jpeg_quality, &e.sheet_diag);
	nst_image_free(&out_full);
	if (session && c->checkpoint && (st == NST_ERR_INTERRUPTED || e.wst != NST_OK)) {
		e.checkpoint = true;
		e.checkpoint_st = save_checkpoint(c, *scales, &e.checkpoint_diag);
	}
	return report_end(c, &e);
}

/* A checkpoint and its description (the files written: through a link, its target's; the link
 * stays); whether the checkpoint was there. */
static bool remove_checkpoint_files(const char *path) {
	char options[CLI_PATH_BYTES];
	const bool removed = unlink(path) == 0;
	if (cli_run_options_path(path, options, sizeof options))
		unlink(options);
	return removed;
}

/* A resumed run that completed: the checkpoint it continued (its own, OUT.ckpt or --checkpoint)
 * can continue nothing any more (--resume needs the same -n), so it goes, with its description. */
static void remove_finished_checkpoint(const struct cli *c) {
	if (!c->resume || !c->checkpoint)
		return;
	struct cli_file from, own;
	cli_input_identify(&from, "--resume", c->resume);
	cli_input_identify(&own, "--checkpoint", c->checkpoint);
	if (!cli_same_id(&from.id, &own.id))
		return; /* continued from another file: the user's, left alone */
	const char *path = c->checkpoint_file.path[0] ? c->checkpoint_file.path : c->checkpoint;
	if (remove_checkpoint_files(path) && !c->quiet)
		fprintf(stderr, "nst: removed the checkpoint %s: the run it continued is complete\n", path);
}

/* The run's arena, its result picture and its log; then the scales and the result. */
static int run_plan(const struct cli *c, struct nst_weights **weights, const struct nst_scales_plan *plan,
                    const struct pictures *pic) {
	const struct nst_problem *top = &plan->problems[plan->n_scales - 1];
	const size_t baseline = cli_rss_now(); /* the process before the arena: code, libraries, pictures, weights */
	const size_t arena_bytes = plan->total_bytes;
	void *arena = nst_arena_allocate(arena_bytes);
	uint8_t *result = malloc((size_t)top->width * (size_t)top->height * 3); /* [H][W][3] */
	struct nst_scales *scales = NULL;
	struct nst_diag diag = {{0}};
	enum nst_status st = NST_OK;
	sigset_t mask;
	int rc = EXIT_OK;
	struct run_state state = {.cli = c, .tty = isatty(STDERR_FILENO) != 0, .rgb = result, .scale = -1,
	                          .checkpoint_scale = -1};
	if (!arena || !result) {
		rc = cli_fail(EXIT_MEMORY, "cannot allocate the %.1f MiB the run needs", cli_mib(plan->total_bytes));
		goto done;
	}
	if (c->log_path) {
		/* A resumed run continues its log; a new run starts one. */
		state.log = fopen(c->log_path, c->resume ? "a" : "w");
		if (!state.log || (!c->resume && fprintf(state.log, "iteration,total,content,style,tv,seconds\n") < 0)) {
			rc = cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", c->log_path, strerror(errno));
			goto done;
		}
	}
	if (cli_stop_signal()) {
		rc = cli_fail(EXIT_INTERRUPTED, "interrupted (%s) before the first iteration: nothing written",
		              cli_signal_name(cli_stop_signal()));
		goto done;
	}
	if ((st = nst_scales_init(arena, arena_bytes, *weights, plan, &scales, &diag)) != NST_OK) {
		rc = cli_fail_status(st, &diag, "init");
		goto done;
	}
	nst_scales_take_weights(scales, *weights); /* closed once packed: never beside the largest scale */
	*weights = NULL;
	for (int i = 0; i < plan->n_scales; i++) {
		nst_scales_set_content(scales, i, pic->content[i].rgb);
		for (int k = 0; k < c->n_styles; k++)
			nst_scales_set_style(scales, i, k, pic->styles[i][k].rgb, c->blend_given ? c->blend[k] : 1.0f);
	}
	if (c->options.init == NST_INIT_IMAGE)
		nst_scales_set_init_image(scales, pic->init.rgb);
	state.scales = scales;
	if ((rc = run_scales(c, scales, plan, &state, &st)) != EXIT_OK)
		goto done;
	cli_signals_block(&mask); /* from here on the stop signals wait: nothing is left half written */
	if (state.save_failed) {
		rc = EXIT_FAILURE_RUN;
		goto done;
	}
	if (st != NST_OK && st != NST_ERR_INTERRUPTED && st != NST_ERR_NUMERIC) {
		rc = cli_fail_status(st, &diag, "run");
		goto done;
	}
	bool finished_checkpoint = false;
	char seen[SEEN_PATH_BYTES];
	if ((rc = write_result(c, &scales, &arena, plan, pic, result, st, state.step, &finished_checkpoint)) == EXIT_OK &&
	    !c->quiet)
		fprintf(stderr, "nst: wrote %s; peak RSS %.1f MiB (plan %.1f MiB, the process before the arena %.1f MiB)\n",
		        as_seen(c, c->output, seen), cli_mib(cli_rss_peak()), cli_mib(plan->total_bytes), cli_mib(baseline));
	if (rc == EXIT_OK && st == NST_OK) {
		remove_finished_checkpoint(c);
		if (finished_checkpoint)
			remove_checkpoint_files(c->checkpoint_file.path[0] ? c->checkpoint_file.path : c->checkpoint);
	}
done:
	if (state.log && fclose(state.log) != 0 && rc == EXIT_OK)
		rc = cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", c->log_path, strerror(errno));
	nst_scales_release(scales);
	free(arena);
	free(result);
	return rc;
}

/* Checks, pictures, plan, run. */
static int run(struct cli *c) {
	char weights_buf[CLI_PATH_BYTES];
	const char *weights_path = c->weights ? c->weights : cli_default_weights(weights_buf, sizeof weights_buf);
	if (!weights_path)
		return cli_fail(EXIT_FAILURE_RUN,
		            "no weights found: run 'make weights', or pass --weights FILE.nstw, or set NST_WEIGHTS "
		            "(looked beside the nst binary and in " NST_DATADIR ")");
	struct nst_schedule sched;
	if (nst_schedule_make(c->size, c->n_scales ? c->scales : NULL, c->n_scales, c->iterations,
	                      c->n_scale_iterations ? c->scale_iterations : NULL, &sched) != NST_OK)
		return cli_fail(EXIT_USAGE, "--scales / --scale-iterations: not a schedule");
	const int last = sched.n - 1;
	if (sched.n > 1 && c->dump_grad)
		return cli_fail(EXIT_USAGE, "--dump-grad works with one scale: add --scales %d", sched.size[last]);
	int rc = check_files(c, &sched, weights_path);
	if (rc != EXIT_OK)
		return rc;
	cli_signals_install();

	struct pictures pic;
	memset(&pic, 0, sizeof pic);
	struct nst_weights *weights = NULL;
	struct nst_diag diag = {{0}};
	struct nst_scales_plan plan;
	enum nst_status st;
	if ((rc = load_pictures(c, &sched, &pic)) != EXIT_OK)
		goto done;
	if ((st = nst_weights_open(weights_path, &weights, &diag)) != NST_OK) {
		rc = cli_fail_status(st, &diag, weights_path);
		goto done;
	}
	nst_options_network_defaults(&c->options, weights, c->given); /* what the command line left to the network */
	size_t tiled_for_memory = 0;
	if ((rc = plan_scales(c, weights, &sched, &pic, &plan, &tiled_for_memory)) != EXIT_OK)
		goto done;
	const bool tiled = any_tiled(&plan);
	if (tiled && tiled_for_memory && c->dump_grad) {
		rc = cli_fail(EXIT_MEMORY, "the whole picture needs more than %.0f%% of the %.0f MiB available here, so it would "
		              "be painted in tiles, and --dump-grad does not work with tiles: free memory, or give a smaller --size",
		              100.0 * NST_AVAILABLE_MEMORY_SHARE, cli_mib(tiled_for_memory));
		goto done;
	}
	if (tiled && c->dump_grad) {
		rc = cli_fail(EXIT_USAGE, "--dump-grad does not work with tiles (%s)",
		              c->tile ? "--tile asks for them" : "--max-memory needs them");
		goto done;
	}
	if (tiled_for_memory && !c->quiet)
		fprintf(stderr, "nst: the whole picture needs more than %.0f%% of the %.0f MiB available here: painted in "
		        "tiles (--max-memory sets the budget, --size a smaller picture)\n", 100.0 * NST_AVAILABLE_MEMORY_SHARE,
		        cli_mib(tiled_for_memory));
	if (tiled && (rc = check_tiled_save_names(c, &plan, weights_path)) != EXIT_OK)
		goto done;
	describe_run(c, &plan, weights);
	int then_threads = 0;
	if (c->resume && (rc = check_resume(c, &plan.plans[0], &then_threads)) != EXIT_OK)
		goto done;
	if (!c->quiet)
		print_header(c, weights, &plan);
	if (c->max_memory && plan.total_bytes > c->max_memory) {
		rc = cli_fail(EXIT_MEMORY, "the run needs %.1f MiB, over --max-memory %.1f MiB (try a smaller --size, or --optimizer adam)",
		          cli_mib(plan.total_bytes), cli_mib(c->max_memory));
		goto done;
	}
	rc = run_plan(c, &weights, &plan, &pic);
done:
	nst_weights_close(weights);
	free_pictures(&pic);
	return rc;
}

/* argv as given, in one allocation (the parser's list splitting writes NULs into its arguments,
 * and the command recorded beside checkpoints is the one given); NULL without memory. */
static char **copy_args(int argc, char **argv) {
	size_t bytes = ((size_t)argc + 1) * sizeof(char *);
	for (int i = 0; i < argc; i++)
		bytes += strlen(argv[i]) + 1;
	char **copy = malloc(bytes);
	if (!copy)
		return NULL;
	char *text = (char *)(copy + argc + 1);
	for (int i = 0; i < argc; i++) {
		const size_t len = strlen(argv[i]) + 1;
		copy[i] = memcpy(text, argv[i], len);
		text += len;
	}
	copy[argc] = NULL;
	return copy;
}

int cli_optimize(int argc, char **argv) {
	struct cli c = {0};
	struct cli_recalled recalled; /* `nst --resume CHECKPOINT` alone: the recorded command */
	int rc = cli_recall_command(argc, argv, &recalled);
	if (rc != EXIT_OK)
		return rc;
	bool quiet_now = false; /* -q given now (a recorded -q does not hide what the recall runs) */
	for (int i = 1; i < argc; i++)
		quiet_now |= !strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet");
	if (recalled.argv) {
		argc = recalled.argc;
		argv = recalled.argv;
	}
	char **given = copy_args(argc, argv); /* before the parser writes into argv */
	if (!given) {
		cli_recall_free(&recalled);
		return cli_fail(EXIT_FAILURE_RUN, "%s", strerror(ENOMEM));
	}
	c.argv = given;
	rc = optimize_parse_args(&c, argc, argv);
	if (rc == EXIT_OK) {
		if (recalled.argv && !quiet_now) {
			char folder[4 * CLI_PATH_BYTES];
			fprintf(stderr, "nst: resuming the command recorded with the checkpoint, in %s: ",
			        cli_quote(recalled.folder, folder, sizeof folder));
			cli_print_command(stderr, argc, given);
			fprintf(stderr, "\n");
		}
		c.record_argc = recalled.argv ? recalled.recorded_argc : argc;
		c.recalled_folder = recalled.argv ? recalled.folder : NULL;
		c.options.threads = cli_threads(c.options.threads, c.quiet);
		rc = run(&c);
	} else if (rc == PARSED_DONE) {
		rc = EXIT_OK;
	}
	free(given);
	cli_recall_free(&recalled);
	return rc;
}
