/*
 * nst -c CONTENT -s STYLE[,STYLE...] -o OUT [options]: optimization-based style transfer, the
 * command.  Its options, the checks of every output before any work, the description a checkpoint
 * is compared with on --resume, the progress lines and log, and the run: the pictures of every
 * scale, then the library's coarse to fine (nst_scales_*, src/coarse_to_fine.c) does the rest.
 * The library returns status codes; this file turns them into one-line messages and exit codes
 * (see usage()).  Every output is written atomically by the library's image writer.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "nst.h"


#define DEFAULT_SIZE 256
#define DEFAULT_ITERATIONS 300

#define DEFAULT_PRINT_EVERY 10
#define MAX_SIZE 16384
#define MAX_ITERATIONS 1000000
#define NST_MAX_SCALES 8
#define MAX_TILE_SWEEPS 64
/* What nst_session_save_checkpoint appends to the checkpoint's name for its temporary file. */
#define CHECKPOINT_SUFFIX_BYTES (sizeof ".tmp-XXXXXX" - 1)
#define DESCRIPTION_BYTES ((NST_MAX_STYLES + 4) * CLI_PATH_BYTES)
/* parse_args: --help or --version is printed, nothing more to do. */
#define PARSED_DONE (-1)

struct cli {
	const char *content, *output, *weights, *log_path, *sheet, *dump_grad, *init_path;
	const char *checkpoint, *resume;
	int scales[NST_MAX_SCALES], n_scales;
	int scale_iterations[NST_MAX_SCALES], n_scale_iterations;
	char checkpoint_buf[CLI_PATH_BYTES];
	bool checkpoint_given;   /* --checkpoint, not the default OUT.ckpt */
	/* The outputs, checked before any work (check_files): where each is written. */
	struct cli_file out, log_file, sheet_file, grad_file, checkpoint_file;
	/* What decides the result, as "option value" lines: written beside checkpoints, compared on
	 * --resume (describe_run; empty for runs that cannot be resumed). */
	char description[DESCRIPTION_BYTES];
	int checkpoint_every;
	char *styles[NST_MAX_STYLES];
	int n_styles;
	float blend[NST_MAX_STYLES];
	bool blend_given;
	unsigned given; /* enum nst_given: the loss options the command line set (else the network's) */
	int size;
	double style_scale;
	int iterations;
	int save_every, print_every;
	bool quiet;
	int jpeg_quality;
	size_t max_memory;
	int tile, tile_overlap, tile_sweeps; /* --tile, --tile-overlap, --tile-sweeps (0: default) */
	struct nst_options options;
};

static void usage(FILE *f) {
	fprintf(f,
	        "usage: nst -c CONTENT -s STYLE[,STYLE...] -o OUT [options]\n"
	        "       nst --model candy|mosaic|pointilism|rain_princess|udnie|FILE -c PHOTO -o OUT   (feed-forward)\n"
	        "       nst info WEIGHTS.nstw\n"
	        "       nst bench [--sizes 128,256,512] [--threads 1,2] [--json FILE] ...   (nst bench --help)\n"
	        "\n"
	        "Paints CONTENT in the style of STYLE (Gatys et al.) by optimizing the picture's pixels.\n"
	        "\n"
	        "pictures\n"
	        "  -c, --content FILE       the photo (PNG, JPEG, BMP, TGA, ...)\n"
	        "  -s, --style FILE[,FILE]  one or more style pictures\n"
	        "  -o, --output FILE        .png, .jpg, .bmp or .tga, written atomically (a symbolic link: its\n"
	        "                           target; a FIFO or device: as a stream); - is standard output (PNG)\n"
	        "      --size N             long side of the output in pixels (default %d); above 256 the run\n"
	        "                           starts coarse: 256, 512, ... up to N (see --scales)\n"
	        "      --scales A,B,...     coarse to fine: optimize at A, upsample (in float, plus the content's\n"
	        "                           detail), continue at B, ...; the last is the output's size. -n is the\n"
	        "                           first scale's iterations, each next scale gets half (rounded up), or\n"
	        "                           --scale-iterations a,b,...\n"
	        "      --style-scale X      style pictures' long side = ceil(X * size) (default 1)\n"
	        "      --style-blend W[,W]  weights of several styles (normalized; default equal)\n"
	        "      --original-colors    keep the content's colours (luminance-only transfer)\n"
	        "      --jpeg-quality Q     1..100 (default 92)\n"
	        "      --sheet FILE         also write content | styles | result side by side\n"
	        "network and loss\n"
	        "      --weights FILE       VGG weights (.nstw); default: $NST_WEIGHTS, then %s (the\n"
	        "                           distilled VGG19, deep style layers offline), then %s,\n"
	        "                           each beside the nst binary, in ../share/nst from it, in " NST_DATADIR "\n"
	        "      --content-layers L   comma-separated (default: the network's; nst info shows them)\n"
	        "      --style-layers L     comma-separated (default: the network's)\n"
	        "      --style-layer-weights W  one weight per style layer, comma-separated (default 1 each,\n"
	        "                           or the network's with its style layers)\n"
	        "      --content-weight X   (default: the network's)\n"
	        "      --style-weight X     (default: the network's)\n"
	        "      --tv-weight X        total variation (default: the network's)\n"
	        "      --pooling max|avg    (default max)\n"
	        "optimization\n"
	        "      --optimizer lbfgs|adam  (default lbfgs)\n"
	        "  -n, --iterations N       (default %d)\n"
	        "      --lr X               learning rate (adam default 10, lbfgs 1)\n"
	        "      --history M          L-BFGS history (default 10)\n"
	        "      --tolerance X        stop early once the loss falls by less than the fraction X over\n"
	        "                           10 iterations (default 0: run every iteration)\n"
	        "      --line-search none|strong_wolfe  L-BFGS step length: fixed (PyTorch's default) or\n"
	        "                           PyTorch's strong-Wolfe search (no overshooting first steps)\n"
	        "      --init content|random|FILE  starting picture (default content)\n"
	        "      --seed N             for --init random (default 0)\n"
	        "engine\n"
	        "      --backend auto|simd|xnnpack|scalar  (default simd where the CPU has it, else scalar;\n"
	        "                           auto: the fastest here, measured on the run's largest layer)\n"
	        "      --precision fp32|fp16  convolutions in float16 (default fp32): needs --backend xnnpack (or\n"
	        "                           auto choosing it) and FP16 arithmetic (e.g. Raspberry Pi 5); else fp32\n"
	        "      --threads N          (default: the CPUs this process may use, as taskset and cgroups allow;\n"
	        "                           more are reduced to them)\n"
	        "      --max-memory SIZE    keep the run within SIZE (>= 1M: 512M, 2G): a scale whose plan exceeds it\n"
	        "                           is optimized in tiles, the largest that fit; refused if none does\n"
	        "      --tile N             optimize scales larger than N px in overlapping tiles of N px\n"
	        "      --tile-overlap N     pixels neighbouring tiles share (default: a quarter of the tile)\n"
	        "      --tile-sweeps N      passes over the tiles (default 2; odd passes shift the grid)\n"
	        "progress\n"
	        "      --print-every N      a progress line every N iterations when not on a terminal (default %d)\n"
	        "      --save-every N       write OUT-<iteration>.<ext> every N iterations\n"
	        "      --log FILE.csv       iteration,total,content,style,tv,seconds\n"
	        "      --dump-grad FILE     the gradient at the start, raw float32 [H][W][3] (BGR)\n"
	        "interruption\n"
	        "      --checkpoint FILE    where checkpoints go (default OUT.ckpt; FILE.options: what it was made\n"
	        "                           with); SIGINT / SIGTERM / SIGHUP write the current picture and a\n"
	        "                           checkpoint, then exit with 130; a second one ends at once\n"
	        "      --checkpoint-every N also write a checkpoint every N iterations (power cuts)\n"
	        "      --resume FILE        continue from a checkpoint (same pictures, options and -n; another\n"
	        "                           --threads only loses bit-exactness)\n"
	        "  -q, --quiet              only errors\n"
	        "  -h, --help               this text\n"
	        "      --version            the version\n"
	        "\n"
	        "Every output is checked before the run starts; no input is ever overwritten.\n"
	        "exit codes: 0 done, 1 a file or run failed, 2 usage, 3 memory, 4 loss not finite,\n"
	        "            130 interrupted (the current picture is written first)\n",
	        DEFAULT_SIZE, cli_weights_files[0], cli_weights_files[1], DEFAULT_ITERATIONS, DEFAULT_PRINT_EVERY);
}

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
};

/* OUT-<iteration>.<ext>: false if it does not fit in buf. */
static bool save_path(const char *output, int iteration, char *buf, size_t size) {
	const char *dot = strrchr(output, '.');
	const char *slash = strrchr(output, '/');
	if (!dot || (slash && dot < slash))
		dot = output + strlen(output);
	const int len = snprintf(buf, size, "%.*s-%04d%s", (int)(dot - output), output, iteration, dot);
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

static bool on_progress(void *user, const struct nst_scales_progress *q) {
	struct run_state *r = user;
	const struct cli *c = r->cli;
	const struct nst_progress *p = &q->row;
	const struct nst_losses *l = &p->losses;
	char scale[64] = "";
	if (q->n_scales > 1)
		snprintf(scale, sizeof scale, "scale %d/%d (%dx%d) ", q->scale + 1, q->n_scales, q->width, q->height);
	if (q->tiled) {
		const size_t used = strlen(scale);
		snprintf(scale + used, sizeof scale - used, "sweep %d tile %d ", q->sweep + 1, q->tile + 1);
	}
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
	/* Iterations are the optimizer's steps (an L-BFGS line search may evaluate several rows in one). */
	const double rate = p->step > 0 && p->seconds > 0 ? p->step / p->seconds : 0.0;
	if (!c->quiet) {
		const int eta = rate > 0 && p->iterations > p->step ? (int)((p->iterations - p->step) / rate) : 0;
		if (r->tty) {
			fprintf(stderr, "\r\033[K%siteration %d/%d  loss %.4e  %.2f it/s  ETA %d:%02d", scale, p->step,
			        p->iterations, l->total, rate, eta / 60, eta % 60);
			r->line_open = true;
		} else if (p->iteration % c->print_every == 0 || p->step >= p->iterations) {
			fprintf(stderr, "%siteration %d/%d loss %.6e (content %.4e style %.4e tv %.4e) %.2f it/s\n", scale,
			        p->step, p->iterations, l->total, l->content, l->style, l->tv, rate);
		}
	}
	if (c->save_every > 0 && p->iteration > 0 && p->iteration % c->save_every == 0 && p->iteration < p->iterations) {
		char path[CLI_PATH_BYTES];
		save_path(c->output, p->iteration, path, sizeof path);
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
	if (c->checkpoint_every > 0 && p->iteration > 0 && p->iteration % c->checkpoint_every == 0 &&
	    p->iteration < p->iterations) {
		struct nst_diag diag = {{0}};
		if (save_checkpoint(c, r->scales, &diag) != NST_OK)
			return progress_failed(r, diag.message);
	}
	return cli_stop_signal() == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

enum long_only {
	OPT_STYLE_BLEND = 256, OPT_SIZE, OPT_STYLE_SCALE, OPT_WEIGHTS, OPT_CONTENT_LAYERS, OPT_STYLE_LAYERS,
	OPT_CONTENT_WEIGHT, OPT_STYLE_WEIGHT, OPT_TV_WEIGHT, OPT_POOLING, OPT_INIT, OPT_OPTIMIZER, OPT_LR, OPT_HISTORY,
	OPT_ORIGINAL_COLORS, OPT_SEED, OPT_THREADS, OPT_BACKEND, OPT_SAVE_EVERY, OPT_PRINT_EVERY, OPT_LOG, OPT_SHEET,
	OPT_VERSION, OPT_MAX_MEMORY, OPT_DUMP_GRAD, OPT_JPEG_QUALITY, OPT_CHECKPOINT, OPT_CHECKPOINT_EVERY, OPT_RESUME,
	OPT_SCALES, OPT_SCALE_ITERATIONS, OPT_PRECISION, OPT_LINE_SEARCH, OPT_TOLERANCE,
	OPT_TILE, OPT_TILE_OVERLAP, OPT_TILE_SWEEPS, OPT_STYLE_LAYER_WEIGHTS,
};

static int split_styles(struct cli *c, char *list) {
	c->n_styles = 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		if (c->n_styles == NST_MAX_STYLES)
			return cli_fail(EXIT_USAGE, "at most %d style pictures", NST_MAX_STYLES);
		c->styles[c->n_styles++] = tok;
	}
	if (c->n_styles == 0)
		return cli_fail(EXIT_USAGE, "--style needs at least one picture");
	return EXIT_OK;
}

static int parse_blend(struct cli *c, const char *arg) {
	char buf[CLI_PATH_BYTES];
	snprintf(buf, sizeof buf, "%s", arg);
	int n = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		double v;
		if (n == NST_MAX_STYLES || !cli_parse_float(tok, 0.0, 1e30, &v)) {
			cli_fail(EXIT_USAGE, "--style-blend: '%s' is not a list of numbers >= 0", arg);
			return -1;
		}
		c->blend[n++] = (float)v;
	}
	if (n == 0) {
		cli_fail(EXIT_USAGE, "--style-blend: '%s' is not a list of numbers >= 0", arg);
		return -1;
	}
	c->blend_given = true;
	return n; /* the count is checked against the number of styles later; -1: error */
}

static int parse_args(struct cli *c, int argc, char **argv) {
	static const struct option longopts[] = {
		{"content", required_argument, NULL, 'c'},
		{"style", required_argument, NULL, 's'},
		{"output", required_argument, NULL, 'o'},
		{"iterations", required_argument, NULL, 'n'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"style-blend", required_argument, NULL, OPT_STYLE_BLEND},
		{"size", required_argument, NULL, OPT_SIZE},
		{"style-scale", required_argument, NULL, OPT_STYLE_SCALE},
		{"weights", required_argument, NULL, OPT_WEIGHTS},
		{"content-layers", required_argument, NULL, OPT_CONTENT_LAYERS},
		{"style-layers", required_argument, NULL, OPT_STYLE_LAYERS},
		{"style-layer-weights", required_argument, NULL, OPT_STYLE_LAYER_WEIGHTS},
		{"content-weight", required_argument, NULL, OPT_CONTENT_WEIGHT},
		{"style-weight", required_argument, NULL, OPT_STYLE_WEIGHT},
		{"tv-weight", required_argument, NULL, OPT_TV_WEIGHT},
		{"pooling", required_argument, NULL, OPT_POOLING},
		{"init", required_argument, NULL, OPT_INIT},
		{"optimizer", required_argument, NULL, OPT_OPTIMIZER},
		{"lr", required_argument, NULL, OPT_LR},
		{"history", required_argument, NULL, OPT_HISTORY},
		{"line-search", required_argument, NULL, OPT_LINE_SEARCH},
		{"tolerance", required_argument, NULL, OPT_TOLERANCE},
		{"original-colors", no_argument, NULL, OPT_ORIGINAL_COLORS},
		{"seed", required_argument, NULL, OPT_SEED},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"backend", required_argument, NULL, OPT_BACKEND},
		{"precision", required_argument, NULL, OPT_PRECISION},
		{"save-every", required_argument, NULL, OPT_SAVE_EVERY},
		{"print-every", required_argument, NULL, OPT_PRINT_EVERY},
		{"log", required_argument, NULL, OPT_LOG},
		{"sheet", required_argument, NULL, OPT_SHEET},
		{"version", no_argument, NULL, OPT_VERSION},
		{"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
		{"dump-grad", required_argument, NULL, OPT_DUMP_GRAD},
		{"jpeg-quality", required_argument, NULL, OPT_JPEG_QUALITY},
		{"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
		{"checkpoint-every", required_argument, NULL, OPT_CHECKPOINT_EVERY},
		{"resume", required_argument, NULL, OPT_RESUME},
		{"scales", required_argument, NULL, OPT_SCALES},
		{"scale-iterations", required_argument, NULL, OPT_SCALE_ITERATIONS},
		{"tile", required_argument, NULL, OPT_TILE},
		{"tile-overlap", required_argument, NULL, OPT_TILE_OVERLAP},
		{"tile-sweeps", required_argument, NULL, OPT_TILE_SWEEPS},
		{NULL, 0, NULL, 0},
	};
	struct nst_diag diag = {{0}};
	double v;
	int n_blend = 0, rc;
	static const char shortopts[] = ":c:s:o:n:qh";
	if ((rc = cli_check_spelling(argc, argv, shortopts + 1, longopts, "nst --help")) != EXIT_OK)
		return rc;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': c->content = optarg; break;
		case 's':
			if ((rc = split_styles(c, optarg)) != EXIT_OK)
				return rc;
			break;
		case 'o': c->output = optarg; break;
		case 'n':
			if (!cli_parse_int(optarg, 0, MAX_ITERATIONS, &c->iterations))
				return cli_fail(EXIT_USAGE, "--iterations: '%s' is not a whole number 0..%d", optarg, MAX_ITERATIONS);
			break;
		case 'q': c->quiet = true; break;
		case 'h': usage(stdout); return PARSED_DONE;
		case OPT_VERSION: printf("nst %s\n", NST_VERSION_STRING); return PARSED_DONE;
		case OPT_STYLE_BLEND:
			if ((n_blend = parse_blend(c, optarg)) < 0)
				return EXIT_USAGE;
			break;
		case OPT_SIZE:
			if (!cli_parse_int(optarg, 1, MAX_SIZE, &c->size))
				return cli_fail(EXIT_USAGE, "--size: '%s' is not a whole number 1..%d", optarg, MAX_SIZE);
			break;
		case OPT_STYLE_SCALE:
			if (!cli_parse_float(optarg, 1e-3, 16.0, &c->style_scale))
				return cli_fail(EXIT_USAGE, "--style-scale: '%s' is not a number in 0.001..16", optarg);
			break;
		case OPT_WEIGHTS: c->weights = optarg; break;
		case OPT_CONTENT_LAYERS:
		case OPT_STYLE_LAYERS: {
			const enum nst_status st = nst_options_set_layers(&c->options, opt == OPT_STYLE_LAYERS, optarg, &diag);
			if (st != NST_OK)
				return cli_fail(EXIT_USAGE, "%s", diag.message);
			c->given |= opt == OPT_STYLE_LAYERS ? NST_GIVEN_STYLE_LAYERS : NST_GIVEN_CONTENT_LAYERS;
			break;
		}
		case OPT_STYLE_LAYER_WEIGHTS:
			if (nst_options_set_style_layer_weights(&c->options, optarg, &diag) != NST_OK)
				return cli_fail(EXIT_USAGE, "--style-layer-weights: %s", diag.message);
			c->given |= NST_GIVEN_STYLE_LAYER_WEIGHTS;
			break;
		case OPT_CONTENT_WEIGHT:
		case OPT_STYLE_WEIGHT:
		case OPT_TV_WEIGHT:
			if (!cli_parse_float(optarg, 0.0, 1e30, &v))
				return cli_fail(EXIT_USAGE, "--%s: '%s' is not a finite number >= 0",
				            opt == OPT_CONTENT_WEIGHT ? "content-weight" : opt == OPT_STYLE_WEIGHT ? "style-weight" : "tv-weight",
				            optarg);
			c->given |= opt == OPT_CONTENT_WEIGHT ? NST_GIVEN_CONTENT_WEIGHT
			            : opt == OPT_STYLE_WEIGHT  ? NST_GIVEN_STYLE_WEIGHT
			                                       : NST_GIVEN_TV_WEIGHT;
			if (opt == OPT_CONTENT_WEIGHT)
				c->options.content_weight = (float)v;
			else if (opt == OPT_STYLE_WEIGHT)
				c->options.style_weight = (float)v;
			else
				c->options.tv_weight = (float)v;
			break;
		case OPT_POOLING:
			if (!strcmp(optarg, "max"))
				c->options.pooling = NST_POOLING_MAX;
			else if (!strcmp(optarg, "avg"))
				c->options.pooling = NST_POOLING_AVG;
			else
				return cli_fail(EXIT_USAGE, "--pooling: '%s' is not max or avg", optarg);
			break;
		case OPT_INIT:
			if (!strcmp(optarg, "content"))
				c->options.init = NST_INIT_CONTENT;
			else if (!strcmp(optarg, "random"))
				c->options.init = NST_INIT_RANDOM;
			else {
				c->options.init = NST_INIT_IMAGE;
				c->init_path = !strncmp(optarg, "image:", 6) ? optarg + 6 : optarg;
				if (!*c->init_path)
					return cli_fail(EXIT_USAGE, "--init %s: no picture named (--init content|random|FILE)", optarg);
			}
			break;
		case OPT_OPTIMIZER:
			if (!strcmp(optarg, "lbfgs"))
				c->options.optimizer = NST_OPTIMIZER_LBFGS;
			else if (!strcmp(optarg, "adam"))
				c->options.optimizer = NST_OPTIMIZER_ADAM;
			else
				return cli_fail(EXIT_USAGE, "--optimizer: '%s' is not lbfgs or adam", optarg);
			break;
		case OPT_LR:
			if (!cli_parse_float(optarg, 0.0, 1e30, &v) || !((float)v > 0)) /* 1e-50 is 0 as a float */
				return cli_fail(EXIT_USAGE, "--lr: '%s' is not a finite number > 0 (and at least 1e-38)", optarg);
			c->options.learning_rate = (float)v;
			break;
		case OPT_TOLERANCE:
			if (!cli_parse_float(optarg, 0.0, 0.999, &v))
				return cli_fail(EXIT_USAGE, "--tolerance: '%s' is not a fraction 0 .. 0.999", optarg);
			c->options.tolerance = (float)v;
			break;
		case OPT_LINE_SEARCH:
			if (strcmp(optarg, "none") == 0)
				c->options.line_search = NST_LINE_SEARCH_NONE;
			else if (strcmp(optarg, "strong_wolfe") == 0 || strcmp(optarg, "strong-wolfe") == 0)
				c->options.line_search = NST_LINE_SEARCH_STRONG_WOLFE;
			else
				return cli_fail(EXIT_USAGE, "--line-search: '%s' is not none or strong_wolfe", optarg);
			break;
		case OPT_HISTORY:
			if (!cli_parse_int(optarg, 1, 1000, &c->options.history))
				return cli_fail(EXIT_USAGE, "--history: '%s' is not a whole number 1..1000", optarg);
			break;
		case OPT_ORIGINAL_COLORS: c->options.original_colors = true; break;
		case OPT_SEED:
			if (!cli_parse_seed(optarg, &c->options.seed))
				return cli_fail(EXIT_USAGE, "--seed: '%s' is not a whole number 0..18446744073709551615", optarg);
			break;
		case OPT_THREADS:
			if (!cli_parse_int(optarg, 1, 1024, &c->options.threads))
				return cli_fail(EXIT_USAGE, "--threads: '%s' is not a whole number 1..1024", optarg);
			break;
		case OPT_BACKEND:
			if (!strcmp(optarg, "auto"))
				c->options.backend = NST_BACKEND_AUTO;
			else if (!strcmp(optarg, "scalar"))
				c->options.backend = NST_BACKEND_SCALAR;
			else if (!strcmp(optarg, "simd"))
				c->options.backend = NST_BACKEND_SIMD;
			else if (!strcmp(optarg, "xnnpack"))
				c->options.backend = NST_BACKEND_XNNPACK;
			else
				return cli_fail(EXIT_USAGE, "--backend: '%s' is not auto, simd, scalar or xnnpack", optarg);
			break;
		case OPT_PRECISION:
			if (!strcmp(optarg, "fp32"))
				c->options.precision = NST_PRECISION_FP32;
			else if (!strcmp(optarg, "fp16"))
				c->options.precision = NST_PRECISION_FP16;
			else
				return cli_fail(EXIT_USAGE, "--precision: '%s' is not fp32 or fp16", optarg);
			break;
		case OPT_SAVE_EVERY:
			if (!cli_parse_int(optarg, 1, MAX_ITERATIONS, &c->save_every))
				return cli_fail(EXIT_USAGE, "--save-every: '%s' is not a whole number >= 1", optarg);
			break;
		case OPT_PRINT_EVERY:
			if (!cli_parse_int(optarg, 1, MAX_ITERATIONS, &c->print_every))
				return cli_fail(EXIT_USAGE, "--print-every: '%s' is not a whole number >= 1", optarg);
			break;
		case OPT_LOG: c->log_path = optarg; break;
		case OPT_SHEET: c->sheet = optarg; break;
		case OPT_MAX_MEMORY:
			if (!cli_parse_bytes(optarg, &c->max_memory))
				return cli_fail(EXIT_USAGE, "--max-memory: '%s' is not a size of 1M or more, such as 512M or 2G", optarg);
			break;
		case OPT_DUMP_GRAD: c->dump_grad = optarg; break;
		case OPT_JPEG_QUALITY:
			if (!cli_parse_int(optarg, 1, 100, &c->jpeg_quality))
				return cli_fail(EXIT_USAGE, "--jpeg-quality: '%s' is not a whole number 1..100", optarg);
			break;
		case OPT_CHECKPOINT:
			c->checkpoint = optarg;
			c->checkpoint_given = true;
			break;
		case OPT_CHECKPOINT_EVERY:
			if (!cli_parse_int(optarg, 1, MAX_ITERATIONS, &c->checkpoint_every))
				return cli_fail(EXIT_USAGE, "--checkpoint-every: '%s' is not a whole number >= 1", optarg);
			break;
		case OPT_RESUME: c->resume = optarg; break;
		case OPT_SCALES:
			c->n_scales = cli_parse_int_list(optarg, c->scales, NST_MAX_SCALES, 1, MAX_SIZE);
			if (c->n_scales < 0)
				return cli_fail(EXIT_USAGE, "--scales: '%s' is not a list of up to %d sizes 1..%d", optarg, NST_MAX_SCALES, MAX_SIZE);
			for (int i = 1; i < c->n_scales; i++)
				if (c->scales[i] <= c->scales[i - 1])
					return cli_fail(EXIT_USAGE, "--scales: sizes must grow (got '%s')", optarg);
			c->size = c->scales[c->n_scales - 1];
			break;
		case OPT_SCALE_ITERATIONS:
			c->n_scale_iterations = cli_parse_int_list(optarg, c->scale_iterations, NST_MAX_SCALES, 0, MAX_ITERATIONS);
			if (c->n_scale_iterations < 0)
				return cli_fail(EXIT_USAGE, "--scale-iterations: '%s' is not a list of whole numbers >= 0", optarg);
			break;
		case OPT_TILE:
			if (!cli_parse_int(optarg, NST_TILE_MIN / 2, MAX_SIZE, &c->tile))
				return cli_fail(EXIT_USAGE, "--tile: '%s' is not a whole number %d..%d", optarg, NST_TILE_MIN / 2, MAX_SIZE);
			break;
		case OPT_TILE_OVERLAP:
			if (!cli_parse_int(optarg, 1, MAX_SIZE, &c->tile_overlap))
				return cli_fail(EXIT_USAGE, "--tile-overlap: '%s' is not a whole number 1..%d", optarg, MAX_SIZE);
			break;
		case OPT_TILE_SWEEPS:
			if (!cli_parse_int(optarg, 1, MAX_TILE_SWEEPS, &c->tile_sweeps))
				return cli_fail(EXIT_USAGE, "--tile-sweeps: '%s' is not a whole number 1..%d", optarg, MAX_TILE_SWEEPS);
			break;
		case ':': return cli_fail(EXIT_USAGE, "%s needs a value (see nst --help)", argv[optind - 1]);
		default: return cli_unknown_option(argv[optind - 1], "nst --help");
		}
	}
	if (optind < argc)
		return cli_fail(EXIT_USAGE, "unexpected argument '%s' (see nst --help)", argv[optind]);
	if (!c->content)
		return cli_fail(EXIT_USAGE, "no content picture: give -c CONTENT (see nst --help)");
	if (!c->output)
		return cli_fail(EXIT_USAGE, "no output: give -o OUT.png (see nst --help)");
	if (c->n_styles == 0 && c->options.n_style_layers > 0)
		return cli_fail(EXIT_USAGE, "no style picture: give -s STYLE (see nst --help)");
	if (!strcmp(c->output, "-") && c->save_every)
		return cli_fail(EXIT_USAGE, "--save-every writes OUT-<iteration>.<ext> files: give -o a file name, not - "
		                "(standard output)");
	if (c->n_scale_iterations > 0 && c->n_scale_iterations != (c->n_scales > 0 ? c->n_scales : 1))
		return cli_fail(EXIT_USAGE, "--scale-iterations has %d counts for %d scales", c->n_scale_iterations,
		            c->n_scales > 0 ? c->n_scales : 1);
	if (!c->checkpoint) {
		if ((size_t)snprintf(c->checkpoint_buf, sizeof c->checkpoint_buf, "%s.ckpt", c->output) >= sizeof c->checkpoint_buf)
			return cli_fail(EXIT_USAGE, "the output path is too long");
		c->checkpoint = c->checkpoint_buf;
	}
	if (c->blend_given && n_blend != c->n_styles)
		return cli_fail(EXIT_USAGE, "--style-blend has %d weights for %d style pictures", n_blend, c->n_styles);
	if (c->blend_given) {
		double sum = 0;
		for (int k = 0; k < n_blend; k++)
			sum += c->blend[k];
		if (!(sum > 0))
			return cli_fail(EXIT_USAGE, "--style-blend weights must not all be 0");
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Everything the run writes, checked before any work
 * ------------------------------------------------------------------------------------------- */

/* The longest --save-every name ("OUT-<iteration>.<ext>") must be a picture its folder takes, and
 * no name an input (each existing one is compared: a hard link counts). */
static int check_save_names(const struct cli *c, const struct nst_schedule *sched, const struct cli_file *const *inputs,
                            int n_inputs) {
	int most = 0;
	for (int i = 0; i < sched->n; i++)
		most = sched->iterations[i] > most ? sched->iterations[i] : most;
	if (!c->save_every || most <= c->save_every)
		return EXIT_OK;
	char path[CLI_PATH_BYTES];
	struct cli_file f;
	const int last = (most - 1) / c->save_every * c->save_every; /* written below the last iteration */
	if (!save_path(c->output, last, path, sizeof path))
		return cli_fail(EXIT_USAGE, "--save-every: the name of %s's intermediate pictures is too long", c->output);
	int rc = cli_output_check(&f, "--save-every", path, CLI_OUTPUT_PICTURE, 0);
	for (int it = c->save_every; it < most && rc == EXIT_OK; it += c->save_every) {
		save_path(c->output, it, path, sizeof path);
		cli_input_identify(&f, "--save-every", path);
		const struct cli_file *one = &f;
		if (f.id.exists)
			rc = cli_refuse_same(&one, 1, inputs, n_inputs);
	}
	return rc;
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
	/* The default checkpoint, OUT.ckpt, is checked where OUT is a file; beside standard output or a
	 * pipe it is written if it can be. */
	if (c->checkpoint_given || !(c->out.stdio || c->out.stream)) {
		if ((rc = cli_output_check(&c->checkpoint_file, "--checkpoint", c->checkpoint, CLI_OUTPUT_CHECKPOINT,
		                           CHECKPOINT_SUFFIX_BYTES)) != EXIT_OK)
			return rc;
		outputs[n_out++] = &c->checkpoint_file;
	} else {
		c->checkpoint_file = (struct cli_file){.what = "--checkpoint", .name = c->checkpoint};
		snprintf(c->checkpoint_file.path, sizeof c->checkpoint_file.path, "%s", c->checkpoint);
	}
	cli_input_identify(&in[n_in++], "the content picture", c->content);
	for (int k = 0; k < c->n_styles; k++)
		cli_input_identify(&in[n_in++], "the style picture", c->styles[k]);
	if (c->options.init == NST_INIT_IMAGE)
		cli_input_identify(&in[n_in++], "--init", c->init_path);
	cli_input_identify(&in[n_in++], "the weights", weights_path);
	for (int i = 0; i < n_in; i++)
		inputs[i] = &in[i];
	if ((rc = cli_refuse_same(outputs, n_out, inputs, n_in)) != EXIT_OK)
		return rc;
	if ((rc = check_save_names(c, sched, inputs, n_in)) != EXIT_OK)
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

/* The options that decide a one-scale run's result, one "option value" line each. */
static void describe_run(struct cli *c, const struct nst_plan *plan, const struct nst_weights *weights,
                         const struct nst_problem *problem) {
	char *d = c->description, path[CLI_PATH_BYTES];
	const size_t size = sizeof c->description;
	const struct nst_options *o = &c->options;
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
	    o->init == NST_INIT_RANDOM ? "random" : o->init == NST_INIT_IMAGE ? real_name(c->init_path, path) : "content",
	    (unsigned long long)o->seed, o->original_colors ? "yes" : "no", nst_backend_name(plan->backend),
	    nst_precision_name(plan->precision), plan->threads, c->iterations);
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

/* --resume: the checkpoint loaded into the prepared session. */
static int resume(const struct cli *c, struct nst_scales *scales) {
	struct nst_diag diag = {{0}};
	const enum nst_status st = nst_scales_load_checkpoint(scales, c->resume, &diag);
	return st == NST_OK ? EXIT_OK : cli_fail_status(st, &diag, c->resume);
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
	if (rc == EXIT_OK && c->options.init == NST_INIT_IMAGE &&
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
	if (rc == EXIT_OK && st == NST_OK && c->options.init == NST_INIT_IMAGE)
		st = nst_image_resize(&init_original, pic->content[0].width, pic->content[0].height, &pic->init);
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

/* The plan of every scale: one session each, or tiles where a scale exceeds --tile or --max-memory. */
static int plan_scales(const struct cli *c, const struct nst_weights *weights, const struct nst_schedule *sched,
                       const struct pictures *pic, struct nst_scales_plan *plan) {
	struct nst_scales_options so = {.n_scales = sched->n, .tiles = {c->tile, c->tile_overlap, c->tile_sweeps, 0},
	                                .max_bytes = c->max_memory};
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
	const enum nst_status st = nst_scales_plan(weights, &c->options, &so, plan, &diag);
	return st == NST_OK ? EXIT_OK : cli_fail_status(st, &diag, "plan");
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
		snprintf(odd, sizeof odd, " (odd sweeps %dx%d)", t->cols[1], t->rows[1]);
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

/* The first scale's extras before it runs: --dump-grad's gradient, --resume's checkpoint (and the
 * log cut back to its rows). */
static int before_first_scale(const struct cli *c, struct nst_scales *scales, const struct nst_problem *problem,
                              FILE *log) {
	struct nst_session *session = nst_scales_session(scales);
	int rc = EXIT_OK;
	if (c->dump_grad && session) {
		const size_t n = (size_t)problem->width * (size_t)problem->height * 3;
		float *grad = malloc(n * sizeof(float)); /* [H][W][3] */
		struct nst_losses losses;
		if (!grad)
			return cli_fail(EXIT_MEMORY, "cannot allocate the gradient dump");
		nst_session_evaluate(session, &losses, grad);
		rc = cli_write_data(&c->grad_file, grad, n * sizeof(float));
		free(grad);
		if (rc != EXIT_OK)
			return rc;
	}
	if (c->resume && ((rc = resume(c, scales)) != EXIT_OK ||
	                  (log && (rc = truncate_log(log, c->log_path, nst_session_rows(session))) != EXIT_OK)))
		return rc;
	return EXIT_OK;
}

/* Every scale in turn; *st: how the last scale's run ended. */
static int run_scales(const struct cli *c, struct nst_scales *scales, const struct nst_scales_plan *plan,
                      struct run_state *state, enum nst_status *st) {
	struct nst_diag diag = {{0}};
	sigset_t mask;
	int rc = EXIT_OK;
	for (int i = 0; i < plan->n_scales; i++) {
		cli_signals_block(&mask); /* the thread pool's threads never take the stop signals */
		*st = nst_scales_next(scales, &diag);
		cli_signals_restore(&mask);
		if (*st != NST_OK)
			return cli_fail_status(*st, &diag, "init");
		if (i == 0 && (rc = before_first_scale(c, scales, &plan->problems[0], state->log)) != EXIT_OK)
			return rc;
		*st = nst_scales_run_scale(scales, on_progress, state);
		if (state->line_open) { /* the terminal's progress line ends with the scale */
			fputc('\n', stderr);
			state->line_open = false;
		}
		const struct nst_session *session = nst_scales_session(scales);
		if (*st == NST_OK && session && nst_session_converged(session) && !c->quiet)
			fprintf(stderr, "nst: converged at row %d: the loss fell by less than %g over %d iterations\n",
			        nst_session_rows(session) - 1, (double)c->options.tolerance, NST_TOLERANCE_WINDOW);
		if (*st != NST_OK)
			break;
	}
	return EXIT_OK;
}

/* How the run ended, and what was written, as the exit code and its one line. */
struct ending {
	enum nst_status st;          /* the run's */
	enum nst_status wst;         /* writing the picture */
	struct nst_diag diag;        /* of writing the picture */
	enum nst_status sheet_st, checkpoint_st;
	struct nst_diag sheet_diag, checkpoint_diag;
	bool resumable, checkpoint;
	int scale, n_scales, sweep, tile;
	int rows, good_row;          /* one session: its rows and last finite row */
};

static int report_end(const struct cli *c, const struct ending *e) {
	char stopped[96] = "";
	if (e->st == NST_ERR_INTERRUPTED && e->resumable)
		snprintf(stopped, sizeof stopped, "interrupted (signal %d) at iteration %d: ", cli_stop_signal(), e->rows - 1);
	if (e->wst != NST_OK && e->checkpoint && e->checkpoint_st == NST_OK)
		return cli_fail(EXIT_FAILURE_RUN, "%s%s; wrote the checkpoint %s (continue with --resume %s once %s can be written)",
		                stopped, e->diag.message, c->checkpoint, c->checkpoint, c->output);
	if (e->wst != NST_OK)
		return cli_fail(cli_exit_code(e->wst), "%s%s%s%s", stopped, e->diag.message,
		                e->checkpoint ? "; nor the checkpoint: " : "", e->checkpoint ? e->checkpoint_diag.message : "");
	if (e->sheet_st != NST_OK)
		return cli_fail(cli_exit_code(e->sheet_st), "wrote %s, but not the sheet: %s", c->output, e->sheet_diag.message);
	if (e->st == NST_ERR_NUMERIC && e->sweep >= 0)
		return cli_fail(EXIT_NUMERIC,
		                "the loss stopped being finite in tile %d of sweep %d (try a smaller --lr); wrote the picture "
		                "with that tile's last finite state to %s", e->tile + 1, e->sweep + 1, c->output);
	if (e->st == NST_ERR_NUMERIC)
		return cli_fail(EXIT_NUMERIC,
		                "the loss stopped being finite at iteration %d (try a smaller --lr); wrote the last good "
		                "picture (iteration %d) to %s", e->rows - 1, e->good_row, c->output);
	if (e->st == NST_ERR_INTERRUPTED && !e->resumable)
		return cli_fail(EXIT_INTERRUPTED, "interrupted (signal %d) at scale %d of %d: wrote the picture so far to %s",
		                cli_stop_signal(), e->scale + 1, e->n_scales, c->output);
	if (e->st == NST_ERR_INTERRUPTED && e->checkpoint_st != NST_OK)
		return cli_fail(EXIT_FAILURE_RUN, "%swrote %s; %s", stopped, c->output, e->checkpoint_diag.message);
	if (e->st == NST_ERR_INTERRUPTED)
		return cli_fail(EXIT_INTERRUPTED, "%swrote %s and the checkpoint %s (continue with --resume %s)", stopped,
		                c->output, c->checkpoint, c->checkpoint);
	return EXIT_OK;
}

/* The picture (at the output's size even when a multi-scale run stopped early), the sheet, and the
 * checkpoint to continue from when the run was stopped or its picture could not be written (one
 * scale, whole pictures).  A tiled run's arena is given back before writing (*arena, *scales). */
static int write_result(const struct cli *c, struct nst_scales **scales, void **arena, const struct nst_scales_plan *plan,
                        const struct pictures *pic, uint8_t *result, enum nst_status st) {
	struct ending e = {.st = st, .n_scales = plan->n_scales, .sweep = -1};
	nst_scales_image(*scales, result);
	nst_scales_position(*scales, &e.scale, &e.sweep, &e.tile);
	const struct nst_session *session = nst_scales_session(*scales);
	if (session) {
		e.sweep = -1;
		e.rows = nst_session_rows(session);
		e.good_row = nst_session_good_row(session);
	} else { /* tiles: writing the picture needs no arena, give it back first */
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
	e.resumable = plan->n_scales == 1 && !plan->tiled[0];
	e.checkpoint = e.resumable && (st == NST_ERR_INTERRUPTED || e.wst != NST_OK);
	if (e.checkpoint)
		e.checkpoint_st = save_checkpoint(c, *scales, &e.checkpoint_diag);
	return report_end(c, &e);
}

/* The run's arena, its result picture and its log; then the scales and the result. */
static int run_plan(const struct cli *c, struct nst_weights **weights, const struct nst_scales_plan *plan,
                    const struct pictures *pic) {
	const struct nst_problem *top = &plan->problems[plan->n_scales - 1];
	const size_t baseline = cli_rss_now(); /* the process before the arena: code, libraries, pictures, weights */
	const size_t arena_bytes = (plan->total_bytes + NST_ARENA_ALIGNMENT - 1) / NST_ARENA_ALIGNMENT * NST_ARENA_ALIGNMENT;
	void *arena = aligned_alloc(NST_ARENA_ALIGNMENT, arena_bytes);
	uint8_t *result = malloc((size_t)top->width * (size_t)top->height * 3); /* [H][W][3] */
	struct nst_scales *scales = NULL;
	struct nst_diag diag = {{0}};
	enum nst_status st = NST_OK;
	sigset_t mask;
	int rc = EXIT_OK;
	struct run_state state = {.cli = c, .tty = isatty(STDERR_FILENO) != 0, .rgb = result};
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
		rc = cli_fail(EXIT_INTERRUPTED, "interrupted (signal %d) before the first iteration: nothing written",
		              cli_stop_signal());
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
	if ((rc = write_result(c, &scales, &arena, plan, pic, result, st)) == EXIT_OK && !c->quiet)
		fprintf(stderr, "nst: wrote %s; peak RSS %.1f MiB (plan %.1f MiB, the process before the arena %.1f MiB)\n",
		        c->output, cli_mib(cli_rss_peak()), cli_mib(plan->total_bytes), cli_mib(baseline));
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
	if (sched.n > 1 && (c->resume || c->checkpoint_every || c->dump_grad))
		return cli_fail(EXIT_USAGE, "--resume, --checkpoint-every and --dump-grad work with one scale: add --scales %d",
		            sched.size[last]);
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
	if ((rc = plan_scales(c, weights, &sched, &pic, &plan)) != EXIT_OK)
		goto done;
	bool any_tiled = false;
	for (int i = 0; i < plan.n_scales; i++)
		any_tiled = any_tiled || plan.tiled[i];
	if (any_tiled && (c->resume || c->checkpoint_every || c->dump_grad)) {
		rc = cli_fail(EXIT_USAGE, "--resume, --checkpoint-every and --dump-grad do not work with tiles");
		goto done;
	}
	if (plan.n_scales == 1 && !plan.tiled[0]) /* a run that can be resumed */
		describe_run(c, &plan.plans[0], weights, &plan.problems[0]);
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

int cli_optimize(int argc, char **argv) {
	struct cli c = {0};
	nst_options_default(&c.options);
	c.size = DEFAULT_SIZE;
	c.style_scale = 1.0;
	c.iterations = DEFAULT_ITERATIONS;
	c.print_every = DEFAULT_PRINT_EVERY;
	const int rc = parse_args(&c, argc, argv);
	if (rc != EXIT_OK)
		return rc == PARSED_DONE ? EXIT_OK : rc;
	c.options.threads = cli_threads(c.options.threads, c.quiet);
	return run(&c);
}
