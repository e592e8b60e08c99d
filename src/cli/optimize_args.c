/*
 * The optimization command's command line (src/cli/optimize.h): its help text and its options,
 * each checked as it is read, then what they must agree on.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "optimize.h"

static void usage(FILE *f) {
	fprintf(f,
	        "usage: nst -c CONTENT -s STYLE[,STYLE...] -o OUT [options]\n"
	        "       nst --model candy|mosaic|pointilism|rain_princess|udnie|FILE -c PHOTO -o OUT   (feed-forward)\n"
	        "       nst --model arbitrary -c PHOTO -s PAINTING -o OUT         (any painting, one pass)\n"
	        "       nst info [WEIGHTS.nstw|MODEL]                            (the machine; a network)\n"
	        "       nst bench [--sizes 128,256,512] [--threads 1,2] [--json FILE] ...   (nst bench --help)\n"
	        "\n"
	        "Paints CONTENT in the style of STYLE (Gatys et al.) by optimizing the picture's pixels.\n"
	        "\n"
	        "pictures\n"
	        "  -c, --content FILE       the photo (PNG, JPEG, BMP, TGA, ...)\n"
	        "  -s, --style FILE[,FILE]  one or more style pictures (another -s adds more)\n"
	        "  -o, --output FILE        .png, .jpg, .bmp or .tga, written atomically (a symbolic link: its\n"
	        "                           target; a FIFO or device: as a stream); - is standard output (PNG)\n"
	        "      --size N             long side of the output in pixels (default %d); from 512 the run\n"
	        "                           starts coarse, N halved while it stays >= 256: 1024 runs 256, 512,\n"
	        "                           1024; 768 runs 384, 768 (see --scales)\n"
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
	        "  -n, --iterations N       (default %d; L-BFGS also stops after 1.25 x N loss evaluations, as\n"
	        "                           PyTorch's and neural-style's: its line searches may end it earlier, and\n"
	        "                           it says so)\n"
	        "      --lr X               learning rate (adam default 10, lbfgs 1)\n"
	        "      --history M          L-BFGS history (default 10)\n"
	        "      --tolerance X        stop early once the loss falls by less than the fraction X over\n"
	        "                           10 iterations (default 0.02; 0: run every iteration)\n"
	        "      --line-search none|strong_wolfe  L-BFGS step length: fixed (PyTorch's default) or\n"
	        "                           PyTorch's strong-Wolfe search (default: no overshooting first steps)\n"
	        "      --init content|random|FILE|model:NAME  starting picture (default content); model:NAME starts\n"
	        "                           from a one-pass network's picture of the content: a trained one (candy,\n"
	        "                           ...) or arbitrary (the style pictures, blended as --style-blend says)\n"
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
	        "                           (default: what nst holds plus 90%% of the memory available, nst info;\n"
	        "                           more than is available is taken, with a notice)\n"
	        "      --tile N             optimize scales larger than N px in overlapping tiles of N px\n"
	        "      --tile-overlap N     pixels neighbouring tiles share (default: a quarter of the tile)\n"
	        "      --tile-sweeps N      passes over the tiles (default 2; odd passes shift the grid)\n"
	        "progress\n"
	        "      --print-every N      a progress line every N iterations when not on a terminal (default %d)\n"
	        "      --save-every N       write OUT-<iteration>.<ext> every N iterations (OUT-<scale>-<iteration>.<ext>\n"
	        "                           when the run has several scales)\n"
	        "      --log FILE.csv       iteration,total,content,style,tv,seconds\n"
	        "      --dump-grad FILE     the gradient at the start, raw float32 [H][W][3] (BGR)\n"
	        "interruption\n"
	        "      --checkpoint FILE    where checkpoints go (default OUT.ckpt, none when -o is - or a device;\n"
	        "                           FILE.options: what it was made with); SIGINT / SIGTERM / SIGHUP write\n"
	        "                           the current picture and a checkpoint, then exit with 130; a second one\n"
	        "                           ends at once; a run of several scales resumes in the scale it was\n"
	        "                           in, a run in tiles (--tile, --max-memory) from the start of its tile\n"
	        "      --checkpoint-every N also write a checkpoint every N loss rows (power cuts)\n"
	        "      --resume FILE        continue from a checkpoint (same pictures, options and -n; another\n"
	        "                           --threads only loses bit-exactness); without -c: the command\n"
	        "                           recorded in FILE.options, from its folder (nst --resume FILE)\n"
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

/* -s a.jpg,b.jpg, and another -s adds to the list (as in the one-pass mode). */
static int split_styles(struct cli *c, char *list) {
	const int n = cli_split_list(list, c->styles + c->n_styles, NST_MAX_STYLES - c->n_styles);
	if (c->n_styles + n > NST_MAX_STYLES)
		return cli_fail(EXIT_USAGE, "at most %d style pictures", NST_MAX_STYLES);
	if (n == 0)
		return cli_fail(EXIT_USAGE, "--style needs at least one picture");
	c->n_styles += n;
	return EXIT_OK;
}

/* -c, -o and --resume name one file each: a second one is an error, not a silent replacement. */
static int once(const char **slot, const char *option, const char *arg) {
	if (*slot)
		return cli_fail(EXIT_USAGE, "%s is given twice (%s, then %s): give it once", option, *slot, arg);
	*slot = arg;
	return EXIT_OK;
}

static int parse_blend(struct cli *c, const char *arg) {
	const int n = cli_parse_float_list(arg, c->blend, NST_MAX_STYLES, 0.0, CLI_MAX_BLEND);
	if (n < 0) {
		cli_fail(EXIT_USAGE, "--style-blend: '%s' is not a list of numbers >= 0", arg);
		return -1;
	}
	c->blend_given = true;
	return n; /* the count is checked against the number of styles later; -1: error */
}

int optimize_parse_args(struct cli *c, int argc, char **argv) {
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
	nst_options_default(&c->options);
	c->size = DEFAULT_SIZE;
	c->style_scale = 1.0;
	c->iterations = DEFAULT_ITERATIONS;
	c->print_every = DEFAULT_PRINT_EVERY;
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
		case 'c':
			if ((rc = once(&c->content, "-c", optarg)) != EXIT_OK)
				return rc;
			break;
		case 's':
			if ((rc = split_styles(c, optarg)) != EXIT_OK)
				return rc;
			break;
		case 'o':
			if ((rc = once(&c->output, "-o", optarg)) != EXIT_OK)
				return rc;
			break;
		case 'n':
			if (!cli_parse_int(optarg, 0, MAX_ITERATIONS, &c->iterations))
				return cli_fail(EXIT_USAGE, "--iterations: '%s' is not a whole number 0..%d", optarg, MAX_ITERATIONS);
			break;
		case 'q': c->quiet = true; break;
		case 'h': usage(stdout); return PARSED_DONE;
		case OPT_VERSION: cli_print_version(stdout); return PARSED_DONE;
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
			else if (!strncmp(optarg, "model:", 6)) {
				c->options.init = NST_INIT_IMAGE;
				c->init_model = optarg + 6;
				c->init_path = NULL;
				if (!*c->init_model)
					return cli_fail(EXIT_USAGE, "--init %s: no network named (--init model:arbitrary, model:candy, ...)",
					                optarg);
			} else {
				c->options.init = NST_INIT_IMAGE;
				c->init_path = !strncmp(optarg, "image:", 6) ? optarg + 6 : optarg;
				c->init_model = NULL;
				if (!*c->init_path)
					return cli_fail(EXIT_USAGE, "--init %s: no picture named (--init content|random|FILE|model:NAME)",
					                optarg);
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
		case OPT_RESUME:
			if ((rc = once(&c->resume, "--resume", optarg)) != EXIT_OK)
				return rc;
			break;
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
	const int stdin_rc = cli_stdin_once(c->content, c->styles, c->n_styles, c->init_path);
	if (stdin_rc != EXIT_OK)
		return stdin_rc;
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
