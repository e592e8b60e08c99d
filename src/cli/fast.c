/*
 * nst --model: one-pass style transfer from the command line, with a trained network (one
 * painting built in) or the arbitrary-style network (any painting, -s).
 *
 *   nst --model candy -c photo.jpg -o out.png
 *   nst --model mosaic -c a.jpg -c b.png -c frames/ -o outdir/ --format jpg
 *   camera | nst --model udnie -c - -o - | viewer
 *   nst --model arbitrary -c photo.jpg -s painting.jpg -o out.png
 *   ffmpeg -i clip.mp4 -f yuv4mpegpipe - | nst --model candy -c - -o - | ffplay -   (src/cli/stream.c)
 *
 * Every picture's size is read first (headers only), one plan and one arena are made for the
 * largest, and then each picture in turn is loaded, stylized and written: many pictures reuse
 * the plan, the arena, the packed weights and the thread pool (and the painting's encoding).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../frames.h"
#include "cli.h"
#include "nst.h"


#define MAX_SIZE 16384
#define MAX_THREADS 1024
#define MAX_BENCH_RUNS 1000
#define DEFAULT_FORMAT "png"
#define DEFAULT_JPEG_QUALITY 92
#define RGB 3
#define MS_PER_S 1000.0
#define MIB (1024.0 * 1024.0)
#define DEL_CHAR 0x7f
#define NAME_BYTES 64

static const char *const KNOWN_MODELS[] = {"candy", "mosaic", "pointilism", "rain_princess", "udnie", CLI_ARBITRARY_MODEL};
#define ARBITRARY_ALIAS "any"       /* nst --model any -s painting.jpg */
#define N_KNOWN_MODELS (sizeof KNOWN_MODELS / sizeof KNOWN_MODELS[0])
static const char *const PICTURE_EXTENSIONS[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif",
                                                 ".psd", ".pnm", ".ppm", ".pgm"};
#define N_PICTURE_EXTENSIONS (sizeof PICTURE_EXTENSIONS / sizeof PICTURE_EXTENSIONS[0])

struct input {
	char *path;        /* malloc'ed; "-" for standard input */
	char *output;      /* malloc'ed: where its result goes, as named */
	char *written;     /* malloc'ed: the file written (output, or a symbolic link's target) */
	bool stream;       /* written in place: a FIFO or a device */
	struct cli_id id;  /* the picture's file */
	int width, height; /* as it will run (after --size) */
	bool failed;       /* reported: skipped from then on */
};

struct fast_cli {
	const char *model, *output, *format, *raw, *sheet;
	bool format_given; /* --format: the results' extension in a directory */
	char **contents; /* the -c arguments, in order */
	int n_contents;
	int size;        /* 0: as is */
	float strength;  /* the pixel mix, both kinds of network */
	float alpha;     /* the arbitrary network's AdaIN mix (torch_arbitrary.py --alpha); < 0: not given */
	int threads;
	enum nst_backend backend;
	enum nst_precision precision;
	int jpeg_quality;
	int bench;       /* timed runs per picture after the first */
	bool quiet;
	/* the arbitrary-style network */
	char *styles[NST_MAX_STYLES]; /* -s: the paintings */
	int n_styles;
	float blend[NST_MAX_STYLES];  /* --style-blend */
	int n_blend;
	int style_size;               /* --style-size: the paintings' long side; 0: the photos' (planned) */
	/* frame streams (src/cli/stream.c) */
	struct cli_stream_options stream;
	const char *stream_option;    /* the first stream-only option given, for messages */
};

/* The network a run uses: a trained one (nst_fast_*) or the arbitrary-style one (nst_arbitrary_*). */
struct network {
	struct nst_fast_session *fast;
	struct nst_arbitrary_session *arbitrary;
};

static void usage(FILE *f) {
	fprintf(f,
	        "usage: nst --model NAME|FILE.nstw -c PHOTO [-c PHOTO|DIR ...] -o OUT [options]\n"
	        "       nst --model arbitrary -c PHOTO [...] -s PAINTING[,PAINTING...] -o OUT [options]\n"
	        "       nst --model NAME -c -|FILE.y4m|FIFO [--frame-size WxH] -o -|FILE|DIR/ [options]   (frame streams)\n"
	        "\n"
	        "Stylizes each PHOTO in one pass: with a trained network (its painting built in), or with the\n"
	        "arbitrary-style network (MicroAST), which takes any painting (-s).\n"
	        "\n"
	        "  --model NAME|FILE     candy, mosaic, pointilism, rain_princess, udnie, arbitrary (or any), or\n"
	        "                        a .nstw file;\n"
	        "                        NAME is looked up in $NST_STYLES, then as " CLI_STYLES_DIR "/NAME" CLI_MODEL_EXTENSION
	        " beside the nst binary,\n"
	        "                        then in ../share/nst/" CLI_STYLES_DIR
	        " from the binary, then " NST_DATADIR "/" CLI_STYLES_DIR "\n"
	        "  -c, --content PHOTO   a picture (PNG, JPEG, BMP, TGA, ...), a directory of pictures, or - for\n"
	        "                        a PNG / JPEG on standard input; repeat -c for several\n"
	        "  -o, --output OUT      the result (.png, .jpg, .bmp, .tga; - writes PNG to standard output);\n"
	        "                        with several pictures or a directory, OUT is a directory (created if\n"
	        "                        missing) and each result keeps its picture's name\n"
	        "      --format EXT      png, jpg, bmp or tga: the extension of results in a directory (default png)\n"
	        "      --size N          scale each picture's long side to N first (default: as it is)\n"
	        "      --strength S      0..1 (default 1): S * stylized + (1 - S) * the photo, pixel by pixel\n"
	        "      --alpha A         arbitrary: 0..1 (default 1), the network's own mix of the photo's features\n"
	        "                        and the painting's statistics (torch_arbitrary.py's --alpha; MicroAST was\n"
	        "                        trained at 1, and below about 0.9 it paints flat colour: use --strength)\n"
	        "  -s, --style PAINTING  arbitrary: the painting (any picture; a list a.jpg,b.jpg or -s again blends\n"
	        "                        them: their feature statistics and modulations are averaged)\n"
	        "      --style-blend W[,W]  arbitrary: the paintings' weights in the blend (normalized; default equal)\n"
	        "      --style-size N    arbitrary: the paintings' long side (default: the largest photo's, as\n"
	        "                        planned; a painting already that size is not resampled)\n"
	        "      --jpeg-quality Q  1..100 (default %d)\n"
	        "      --threads N       (default: the CPUs this process may use; more are reduced to them)\n"
	        "      --backend auto|simd|scalar  (default auto: the fastest here)\n"
	        "      --precision fp32|fp16|int8  GEMMs in float16 (default fp32): on CPUs with FP16 arithmetic\n"
	        "                        (Pi 5, Jetson Orin); with --backend scalar its portable reference;\n"
	        "                        elsewhere fp32, with a notice.  int8 (--model only): the im2col\n"
	        "                        convolutions in 8-bit integers (AVX-512 VNNI, or the dot product of\n"
	        "                        a Pi 5 / Jetson Orin), the residual blocks in fp32; elsewhere fp32\n"
	        "      --raw FILE        also write the network's output before rounding, float32 RGB [H][W][3]\n"
	        "                        (one picture only)\n"
	        "      --sheet FILE      also write photo | result side by side (one picture only)\n"
	        "      --bench N         after each picture, run it N more times and print the median time\n"
	        "                        (arbitrary: painting and photo, then the photo alone, painting cached)\n"
	        "  -q, --quiet           only errors\n"
	        "  -h, --help            this text\n"
	        "\n"
	        "Frame streams (camera and video): -c - (or a file or FIFO) starting with a YUV4MPEG2 header is read\n"
	        "frame by frame (chroma 420jpeg, 420mpeg2, 420paldv, 420, 444; BT.601 limited range, as ffmpeg's\n"
	        "default), as are raw frames of --frame-size; one plan, one arena and (arbitrary) one painting encoding\n"
	        "serve every frame, read, stylized and written in a pipeline (two frames at most waiting on each side).\n"
	        "      --frame-size WxH  raw frames of that size on -c (RGB24 unless --input-format says)\n"
	        "      --input-format y4m|rgb24|yuv420p  (default: YUV4MPEG2 when the stream starts so, else rgb24;\n"
	        "                        yuv420p: raw I420 planes, as rpicam-vid --codec yuv420 writes)\n"
	        "      --output-format y4m|rgb24|yuv420p|png  (default: Y4M with the input's header -- size as run, rate,\n"
	        "                        aspect, interlacing, chroma -- raw RGB24 for raw RGB24 in, PNG frames\n"
	        "                        DIR/frame_000001.png ... when -o is a directory)\n"
	        "      --frame-rate N[/D]  the output header's rate (default: the input's, else 25)\n"
	        "      --steady S        0..1 (default %.1f; 0: off): each pixel's result blended with the previous\n"
	        "                        frame's, S * g * previous + (1 - S * g) * new, where g is 1 where the input\n"
	        "                        stood still (its 3x3 luma change within %.0f levels, noise) and 0 where it moved\n"
	        "                        (%.0f levels and more), so sensor noise stops shimmering and moving things leave\n"
	        "                        no trail; a frame whose mean luma change exceeds %.0f levels (a cut) starts afresh\n"
	        "      --no-pipeline     read, stylize and write each frame in turn (for measurements)\n"
	        "  Progress (frames, frames per second) goes to stderr: a \\r line on a terminal, a line every %.0f s\n"
	        "  otherwise; -q silences it.  The input ending between frames ends the run (0); inside a frame, a\n"
	        "  broken pipe or a write error: the complete frames are written, one line, exit 1; SIGINT / SIGTERM /\n"
	        "  SIGHUP: the frame being stylized is written, exit 130.\n"
	        "\n"
	        "Pictures whose sides are not multiples of 4 are padded by repeating their last row / column\n"
	        "and cropped back: every result has its picture's size.  A picture that cannot be read is\n"
	        "reported in one line and the others are done; SIGINT / SIGTERM / SIGHUP stop after the\n"
	        "picture being done is written.\n"
	        "exit codes: 0 done, 1 a file or run failed (the first failure's code when several pictures\n"
	        "            fail), 2 usage, 3 memory, 130 interrupted (the finished pictures are written)\n",
	        DEFAULT_JPEG_QUALITY, (double)CLI_STEADY_DEFAULT, (double)NST_STEADY_DEFAULT_STILL,
	        (double)NST_STEADY_DEFAULT_MOVING, (double)NST_STEADY_DEFAULT_CUT, CLI_STREAM_LOG_SECONDS);
}

static char *dup_string(const char *s) {
	const size_t n = strlen(s) + 1;
	char *p = malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static bool is_directory(const char *path) {
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Standard input, or a pipe, FIFO or device given by name (/dev/stdin, <(cmd)): read once, so it
 * is decoded while the sizes are read. */
static bool is_stream(const char *path) {
	struct stat st;
	return !strcmp(path, "-") || (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode));
}

/* A name from a file (the weights' model) with control characters as '?', for messages. */
static const char *printable(const char *name, char *buf, size_t size) {
	size_t i = 0;
	for (; name[i] && i + 1 < size; i++)
		buf[i] = (unsigned char)name[i] < ' ' || (unsigned char)name[i] == DEL_CHAR ? '?' : name[i];
	buf[i] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

enum long_only {
	OPT_MODEL = 256, OPT_FORMAT, OPT_SIZE, OPT_STRENGTH, OPT_ALPHA, OPT_THREADS, OPT_BACKEND, OPT_JPEG_QUALITY, OPT_RAW,
	OPT_BENCH, OPT_PRECISION, OPT_SHEET, OPT_STYLE_BLEND, OPT_STYLE_SIZE, OPT_FRAME_SIZE, OPT_INPUT_FORMAT,
	OPT_OUTPUT_FORMAT, OPT_STEADY, OPT_FRAME_RATE, OPT_NO_PIPELINE,
};

#define MAX_FRAME_PIXELS (8192LL * 8192LL)
#define MAX_RATE 1000000

/* "640x360" -> sides 1..MAX_SIZE, at most MAX_FRAME_PIXELS. */
static bool parse_frame_size(const char *s, int *w, int *h) {
	char buf[32];
	snprintf(buf, sizeof buf, "%s", s);
	char *x = strchr(buf, 'x');
	if (!x)
		return false;
	*x = '\0';
	return cli_parse_int(buf, 1, MAX_SIZE, w) && cli_parse_int(x + 1, 1, MAX_SIZE, h) &&
	       (long long)*w * *h <= MAX_FRAME_PIXELS;
}

/* "30", "30000/1001" or "30000:1001" -> a positive ratio. */
static bool parse_rate(const char *s, int *num, int *den) {
	char buf[32];
	snprintf(buf, sizeof buf, "%s", s);
	char *sep = strpbrk(buf, "/:");
	if (sep)
		*sep = '\0';
	*den = 1;
	return cli_parse_int(buf, 1, MAX_RATE, num) && (!sep || cli_parse_int(sep + 1, 1, MAX_RATE, den));
}

/* y4m, rgb24, yuv420p (and png for the output) -> *out; false for anything else. */
static bool parse_frames(const char *s, bool output, enum cli_frames *out) {
	if (!strcmp(s, "y4m"))
		*out = CLI_FRAMES_Y4M;
	else if (!strcmp(s, "rgb24"))
		*out = CLI_FRAMES_RGB24;
	else if (!strcmp(s, "yuv420p"))
		*out = CLI_FRAMES_YUV420P;
	else if (output && !strcmp(s, "png"))
		*out = CLI_FRAMES_PNG;
	else
		return false;
	return true;
}

static int parse_args(struct fast_cli *c, int argc, char **argv) {
	static const struct option longopts[] = {
		{"model", required_argument, NULL, OPT_MODEL},
		{"content", required_argument, NULL, 'c'},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"size", required_argument, NULL, OPT_SIZE},
		{"strength", required_argument, NULL, OPT_STRENGTH},
		{"alpha", required_argument, NULL, OPT_ALPHA},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"backend", required_argument, NULL, OPT_BACKEND},
		{"jpeg-quality", required_argument, NULL, OPT_JPEG_QUALITY},
		{"raw", required_argument, NULL, OPT_RAW},
		{"bench", required_argument, NULL, OPT_BENCH},
		{"precision", required_argument, NULL, OPT_PRECISION},
		{"sheet", required_argument, NULL, OPT_SHEET},
		{"style", required_argument, NULL, 's'},
		{"style-blend", required_argument, NULL, OPT_STYLE_BLEND},
		{"style-size", required_argument, NULL, OPT_STYLE_SIZE},
		{"frame-size", required_argument, NULL, OPT_FRAME_SIZE},
		{"input-format", required_argument, NULL, OPT_INPUT_FORMAT},
		{"output-format", required_argument, NULL, OPT_OUTPUT_FORMAT},
		{"steady", required_argument, NULL, OPT_STEADY},
		{"frame-rate", required_argument, NULL, OPT_FRAME_RATE},
		{"no-pipeline", no_argument, NULL, OPT_NO_PIPELINE},
		{NULL, 0, NULL, 0},
	};
	static const char shortopts[] = ":c:o:s:qh";
	double v;
	int rc = cli_check_spelling(argc, argv, shortopts + 1, longopts, "nst --model --help");
	if (rc != EXIT_OK)
		return rc;
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_MODEL:
			if (!strcmp(optarg, "--help") || !strcmp(optarg, "-h")) { /* nst --model --help, as the messages say */
				usage(stdout);
				return -1;
			}
			c->model = optarg;
			break;
		case 'c': c->contents[c->n_contents++] = optarg; break;
		case 'o': c->output = optarg; break;
		case 'q': c->quiet = true; break;
		case 'h': usage(stdout); return -1;
		case OPT_FORMAT:
			if (strcasecmp(optarg, "png") && strcasecmp(optarg, "jpg") && strcasecmp(optarg, "jpeg") &&
			    strcasecmp(optarg, "bmp") && strcasecmp(optarg, "tga"))
				return cli_fail(EXIT_USAGE, "--format: '%s' is not png, jpg, bmp or tga", optarg);
			c->format = optarg;
			c->format_given = true;
			break;
		case OPT_SHEET: c->sheet = optarg; break;
		case 's': {
			const int n = cli_split_list(optarg, c->styles + c->n_styles, NST_MAX_STYLES - c->n_styles);
			if (n == 0 || c->n_styles + n > NST_MAX_STYLES)
				return cli_fail(EXIT_USAGE, "-s: %s (at most %d paintings)", n ? "too many paintings" : "no painting",
				                NST_MAX_STYLES);
			c->n_styles += n;
			break;
		}
		case OPT_STYLE_BLEND:
			if ((c->n_blend = cli_parse_float_list(optarg, c->blend, NST_MAX_STYLES, 0.0, CLI_MAX_BLEND)) < 0)
				return cli_fail(EXIT_USAGE, "--style-blend: '%s' is not a list of at most %d numbers >= 0", optarg,
				                NST_MAX_STYLES);
			break;
		case OPT_STYLE_SIZE:
			if (!cli_parse_int(optarg, NST_ARBITRARY_MIN_PAINTING_SIDE, MAX_SIZE, &c->style_size))
				return cli_fail(EXIT_USAGE, "--style-size: '%s' is not a whole number %d..%d", optarg,
				                NST_ARBITRARY_MIN_PAINTING_SIDE, MAX_SIZE);
			break;
		case OPT_SIZE:
			if (!cli_parse_int(optarg, 1, MAX_SIZE, &c->size))
				return cli_fail(EXIT_USAGE, "--size: '%s' is not a whole number 1..%d", optarg, MAX_SIZE);
			break;
		case OPT_STRENGTH:
			if (!cli_parse_float(optarg, 0.0, 1.0, &v))
				return cli_fail(EXIT_USAGE, "--strength: '%s' is not a number in 0..1", optarg);
			c->strength = (float)v;
			break;
		case OPT_ALPHA:
			if (!cli_parse_float(optarg, 0.0, 1.0, &v))
				return cli_fail(EXIT_USAGE, "--alpha: '%s' is not a number in 0..1", optarg);
			c->alpha = (float)v;
			break;
		case OPT_THREADS:
			if (!cli_parse_int(optarg, 1, MAX_THREADS, &c->threads))
				return cli_fail(EXIT_USAGE, "--threads: '%s' is not a whole number 1..%d", optarg, MAX_THREADS);
			break;
		case OPT_BACKEND:
			if (!strcmp(optarg, "auto"))
				c->backend = NST_BACKEND_AUTO;
			else if (!strcmp(optarg, "scalar"))
				c->backend = NST_BACKEND_SCALAR;
			else if (!strcmp(optarg, "simd"))
				c->backend = NST_BACKEND_SIMD;
			else if (!strcmp(optarg, "xnnpack"))
				c->backend = NST_BACKEND_XNNPACK;
			else
				return cli_fail(EXIT_USAGE, "--backend: '%s' is not auto, simd, scalar or xnnpack", optarg);
			break;
		case OPT_PRECISION:
			if (!strcmp(optarg, "fp32"))
				c->precision = NST_PRECISION_FP32;
			else if (!strcmp(optarg, "fp16"))
				c->precision = NST_PRECISION_FP16;
			else if (!strcmp(optarg, "int8"))
				c->precision = NST_PRECISION_INT8;
			else
				return cli_fail(EXIT_USAGE, "--precision: '%s' is not fp32, fp16 or int8", optarg);
			break;
		case OPT_JPEG_QUALITY:
			if (!cli_parse_int(optarg, 1, 100, &c->jpeg_quality))
				return cli_fail(EXIT_USAGE, "--jpeg-quality: '%s' is not a whole number 1..100", optarg);
			break;
		case OPT_RAW: c->raw = optarg; break;
		case OPT_BENCH:
			if (!cli_parse_int(optarg, 1, MAX_BENCH_RUNS, &c->bench))
				return cli_fail(EXIT_USAGE, "--bench: '%s' is not a whole number 1..%d", optarg, MAX_BENCH_RUNS);
			break;
		case OPT_FRAME_SIZE:
			if (!parse_frame_size(optarg, &c->stream.frame_width, &c->stream.frame_height))
				return cli_fail(EXIT_USAGE, "--frame-size: '%s' is not WxH (sides 1..%d, at most %lld pixels)", optarg,
				                MAX_SIZE, MAX_FRAME_PIXELS);
			c->stream_option = c->stream_option ? c->stream_option : "--frame-size";
			break;
		case OPT_INPUT_FORMAT:
			if (!parse_frames(optarg, false, &c->stream.input_format))
				return cli_fail(EXIT_USAGE, "--input-format: '%s' is not y4m, rgb24 or yuv420p", optarg);
			c->stream_option = c->stream_option ? c->stream_option : "--input-format";
			break;
		case OPT_OUTPUT_FORMAT:
			if (!parse_frames(optarg, true, &c->stream.output_format))
				return cli_fail(EXIT_USAGE, "--output-format: '%s' is not y4m, rgb24, yuv420p or png", optarg);
			c->stream_option = c->stream_option ? c->stream_option : "--output-format";
			break;
		case OPT_STEADY:
			if (!cli_parse_float(optarg, 0.0, 1.0, &v))
				return cli_fail(EXIT_USAGE, "--steady: '%s' is not a number in 0..1", optarg);
			c->stream.steady = (float)v;
			c->stream_option = c->stream_option ? c->stream_option : "--steady";
			break;
		case OPT_FRAME_RATE:
			if (!parse_rate(optarg, &c->stream.rate_num, &c->stream.rate_den))
				return cli_fail(EXIT_USAGE, "--frame-rate: '%s' is not N or N/D (1..%d)", optarg, MAX_RATE);
			c->stream_option = c->stream_option ? c->stream_option : "--frame-rate";
			break;
		case OPT_NO_PIPELINE:
			c->stream.no_pipeline = true;
			c->stream_option = c->stream_option ? c->stream_option : "--no-pipeline";
			break;
		case ':': return cli_fail(EXIT_USAGE, "%s needs a value (see nst --model --help)", argv[optind - 1]);
		default: return cli_unknown_option(argv[optind - 1], "nst --model --help");
		}
	}
	if (optind < argc)
		return cli_fail(EXIT_USAGE, "unexpected argument '%s' (see nst --model --help)", argv[optind]);
	if (!c->model || !*c->model)
		return cli_fail(EXIT_USAGE, "no model: give --model candy|mosaic|pointilism|rain_princess|udnie|arbitrary|FILE.nstw");
	if (c->n_contents == 0)
		return cli_fail(EXIT_USAGE, "no picture: give -c PHOTO (see nst --model --help)");
	if (!c->output)
		return cli_fail(EXIT_USAGE, "no output: give -o OUT.png (see nst --model --help)");
	if (!strcmp(c->model, ARBITRARY_ALIAS))
		c->model = CLI_ARBITRARY_MODEL;
	if (c->n_blend > 0 && c->n_styles > 0 && c->n_blend != c->n_styles) /* without -s: check_paintings says */
		return cli_fail(EXIT_USAGE, "--style-blend has %d weights for %d paintings", c->n_blend, c->n_styles);
	if (c->n_blend > 0) {
		float sum = 0.0f;
		for (int i = 0; i < c->n_blend; i++)
			sum += c->blend[i];
		if (!(sum > 0.0f))
			return cli_fail(EXIT_USAGE, "--style-blend weights must not all be 0");
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The model: a file, or a name looked up in the styles directories
 * ------------------------------------------------------------------------------------------- */

static bool is_model_file(const char *model) {
	const size_t n = strlen(model), e = strlen(CLI_MODEL_EXTENSION);
	return strchr(model, '/') || (n > e && !strcmp(model + n - e, CLI_MODEL_EXTENSION));
}

/* *path: the model's file (a name looked up, into buf), or EXIT_USAGE / EXIT_FAILURE_RUN. */
static int find_model(const char *model, char *buf, size_t size, const char **path) {
	char looked[4 * CLI_PATH_BYTES];
	*path = model;
	if (!is_model_file(model)) {
		bool known = false;
		for (size_t i = 0; i < N_KNOWN_MODELS; i++)
			known = known || !strcmp(model, KNOWN_MODELS[i]);
		*path = cli_find_model(model, buf, size, looked, sizeof looked);
		if (!*path && !known)
			return cli_fail(EXIT_USAGE,
			            "unknown model '%s': use candy, mosaic, pointilism, rain_princess, udnie, arbitrary or a FILE.nstw "
			            "(looked for %s" CLI_MODEL_EXTENSION " in %s)", model, model, looked);
		if (!*path)
			return cli_fail(EXIT_FAILURE_RUN,
			            "model '%s' not found: run 'make weights' or set NST_STYLES (looked for %s" CLI_MODEL_EXTENSION
			            " in %s)", model, model, looked);
	}
	return EXIT_OK;
}

static int open_model(const char *path, struct nst_weights **weights) {
	struct nst_diag diag = {{0}};
	const enum nst_status st = nst_weights_open(path, weights, &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, path);
	if (nst_weights_arch(*weights) == NST_ARCH_VGG) {
		nst_weights_close(*weights);
		*weights = NULL;
		return cli_fail(EXIT_FAILURE_RUN,
		                "%s is a VGG network, not a one-pass style network (use it with nst -c PHOTO -s STYLE --weights)",
		                path);
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Inputs and where their results go
 * ------------------------------------------------------------------------------------------- */

struct input_list {
	struct input *items;
	int n, capacity;
};

static int add_input(struct input_list *list, const char *path) {
	if (list->n == list->capacity) {
		const int cap = list->capacity ? 2 * list->capacity : 16;
		struct input *p = realloc(list->items, (size_t)cap * sizeof *p);
		if (!p)
			return cli_fail(EXIT_MEMORY, "out of memory listing the pictures");
		list->items = p;
		list->capacity = cap;
	}
	struct input *in = &list->items[list->n];
	memset(in, 0, sizeof *in);
	in->path = dup_string(path);
	if (!in->path)
		return cli_fail(EXIT_MEMORY, "out of memory listing the pictures");
	struct cli_file f;
	cli_input_identify(&f, "the picture", path);
	in->id = f.id;
	list->n++;
	return EXIT_OK;
}

static void free_inputs(struct input_list *list) {
	for (int i = 0; i < list->n; i++) {
		free(list->items[i].path);
		free(list->items[i].output);
		free(list->items[i].written);
	}
	free(list->items);
}

static bool has_picture_extension(const char *name) {
	const char *dot = strrchr(name, '.');
	if (!dot)
		return false;
	for (size_t i = 0; i < N_PICTURE_EXTENSIONS; i++)
		if (!strcasecmp(dot, PICTURE_EXTENSIONS[i]))
			return true;
	return false;
}

static int compare_strings(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *file_kind(mode_t mode) {
	return S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
	                                                                                              : "not a file";
}

/* The pictures of dir (by extension, not hidden, not recursive), sorted by name; FIFOs, sockets
 * and devices are skipped with a line (never opened: a FIFO would wait for a writer). */
static int add_directory(struct input_list *list, const char *dir, bool quiet) {
	DIR *d = opendir(dir);
	if (!d)
		return cli_fail(EXIT_FAILURE_RUN, "%s: cannot read the directory: %s", dir, strerror(errno));
	char **names = NULL;
	int n = 0, cap = 0, rc = EXIT_OK;
	const struct dirent *e;
	while (rc == EXIT_OK && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !has_picture_extension(e->d_name))
			continue;
		char path[CLI_PATH_BYTES];
		const int len = snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
		struct stat st;
		if (len < 0 || (size_t)len >= sizeof path || stat(path, &st) != 0 || S_ISDIR(st.st_mode))
			continue;
		if (!S_ISREG(st.st_mode)) {
			if (!quiet)
				fprintf(stderr, "nst: skipped %s: %s, not a picture file\n", path, file_kind(st.st_mode));
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			char **p = realloc(names, (size_t)cap * sizeof *p);
			if (!p) {
				rc = cli_fail(EXIT_MEMORY, "out of memory listing %s", dir);
				break;
			}
			names = p;
		}
		if (!(names[n] = dup_string(path))) {
			rc = cli_fail(EXIT_MEMORY, "out of memory listing %s", dir);
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == EXIT_OK && n == 0)
		rc = cli_fail(EXIT_FAILURE_RUN, "%s: no pictures in the directory (.png, .jpg, .bmp, .tga, ...)", dir);
	if (rc == EXIT_OK)
		qsort(names, (size_t)n, sizeof *names, compare_strings);
	for (int i = 0; i < n; i++) {
		if (rc == EXIT_OK)
			rc = add_input(list, names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* OUT/<name without its extension>.<format> for each picture; refuses two results with one name. */
static int name_outputs(struct input_list *list, const char *dir, const char *format) {
	int dir_len = (int)strlen(dir);
	while (dir_len > 1 && dir[dir_len - 1] == '/') /* "out/styled/" names "out/styled/a.png" */
		dir_len--;
	if (dir_len == 1 && dir[0] == '/')
		dir_len = 0; /* the root: "/a.png" */
	for (int i = 0; i < list->n; i++) {
		const char *path = list->items[i].path;
		const char *slash = strrchr(path, '/');
		const char *base = slash ? slash + 1 : path;
		const char *dot = strrchr(base, '.');
		const int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
		char buf[CLI_PATH_BYTES];
		const int len = snprintf(buf, sizeof buf, "%.*s/%.*s.%s", dir_len, dir, stem, base, format);
		if (len < 0 || (size_t)len >= sizeof buf)
			return cli_fail(EXIT_USAGE, "the output path for %s is too long", path);
		if (!(list->items[i].output = dup_string(buf)))
			return cli_fail(EXIT_MEMORY, "out of memory naming the results");
	}
	char **names = malloc((size_t)list->n * sizeof *names);
	if (!names)
		return cli_fail(EXIT_MEMORY, "out of memory naming the results");
	for (int i = 0; i < list->n; i++)
		names[i] = list->items[i].output;
	qsort(names, (size_t)list->n, sizeof *names, compare_strings);
	int rc = EXIT_OK;
	for (int i = 1; i < list->n && rc == EXIT_OK; i++)
		if (!strcmp(names[i - 1], names[i]))
			rc = cli_fail(EXIT_USAGE, "two pictures would both be written to %s (rename one, or run them separately)",
			          names[i]);
	free(names);
	return rc;
}

/* EXIT_USAGE when f is one of the pictures or the model. */
static int refuse_inputs(const struct cli_file *f, const struct input_list *list, const struct cli_id *model,
                         const char *model_path) {
	for (int j = 0; j < list->n; j++)
		if (cli_same_id(&f->id, &list->items[j].id))
			return cli_fail(EXIT_USAGE, "%s %s is the same file as the picture %s: an input is never overwritten",
			                f->what, f->name, list->items[j].path);
	if (cli_same_id(&f->id, model))
		return cli_fail(EXIT_USAGE, "%s %s is the same file as the model %s: an input is never overwritten", f->what,
		                f->name, model_path);
	return EXIT_OK;
}

/* The paintings (-s) are inputs too. */
static int refuse_paintings(const struct cli_file *f, const struct fast_cli *c) {
	for (int i = 0; i < c->n_styles; i++) {
		struct cli_file painting;
		cli_input_identify(&painting, "the painting", c->styles[i]);
		if (cli_same_id(&f->id, &painting.id))
			return cli_fail(EXIT_USAGE, "%s %s is the same file as the painting %s: an input is never overwritten",
			                f->what, f->name, c->styles[i]);
	}
	return EXIT_OK;
}

/* Every result, --raw and --sheet checked before any work (see cli_output_check): none an input,
 * no two the same; *out is the one result's file (several go into a folder, each named apart). */
static int check_outputs(const struct fast_cli *c, struct input_list *list, const char *model_path,
                         struct cli_file *out, struct cli_file *raw, struct cli_file *sheet) {
	struct cli_file model;
	cli_input_identify(&model, "the model", model_path);
	int rc;
	for (int i = 0; i < list->n; i++) {
		struct input *in = &list->items[i];
		if (!strcmp(in->output, "-")) {
			*out = (struct cli_file){.what = "-o", .name = "-", .stdio = true};
			continue;
		}
		if ((rc = cli_output_check(out, "-o", in->output, CLI_OUTPUT_PICTURE, 0)) != EXIT_OK ||
		    (rc = refuse_inputs(out, list, &model.id, model_path)) != EXIT_OK || (rc = refuse_paintings(out, c)) != EXIT_OK)
			return rc;
		in->stream = out->stream;
		if (!(in->written = dup_string(out->path)))
			return cli_fail(EXIT_MEMORY, "out of memory naming the results");
	}
	const struct cli_file *outputs[3] = {out};
	int n_out = 1;
	if (c->raw) {
		if ((rc = cli_output_check(raw, "--raw", c->raw, CLI_OUTPUT_DATA, 0)) != EXIT_OK ||
		    (rc = refuse_inputs(raw, list, &model.id, model_path)) != EXIT_OK || (rc = refuse_paintings(raw, c)) != EXIT_OK)
			return rc;
		outputs[n_out++] = raw;
	}
	if (c->sheet) {
		if ((rc = cli_output_check(sheet, "--sheet", c->sheet, CLI_OUTPUT_PICTURE, 0)) != EXIT_OK ||
		    (rc = refuse_inputs(sheet, list, &model.id, model_path)) != EXIT_OK ||
		    (rc = refuse_paintings(sheet, c)) != EXIT_OK)
			return rc;
		outputs[n_out++] = sheet;
	}
	return list->n == 1 ? cli_refuse_same(outputs, n_out, NULL, 0) : EXIT_OK;
}

/* The size a picture runs at: as it is, or with its long side at --size. */
static void run_size(const struct fast_cli *c, int width, int height, int *w, int *h) {
	if (c->size)
		nst_image_fit(width, height, c->size, w, h);
	else {
		*w = width;
		*h = height;
	}
}

/* Loads (or takes the stream's picture, decoded while sizing) and brings it to its run size; a
 * picture much larger than --size comes reduced (nst_image_load_for). */
static int load_input(const struct fast_cli *c, const struct input *in, struct nst_image *stdin_img,
                      struct nst_image *out) {
	struct nst_diag diag = {{0}};
	struct nst_image img = {0};
	int w = in->width, h = in->height;
	if (stdin_img->rgb) { /* the one input, a stream */
		img = *stdin_img;
		*stdin_img = (struct nst_image){0};
	} else {
		struct nst_image_request request = {c->size, 0, 0, 0};
		const enum nst_status st = nst_image_load_for(in->path, &request, &img, &diag);
		if (st != NST_OK)
			return cli_fail_status(st, &diag, in->path);
		run_size(c, request.width, request.height, &w, &h);
	}
	if (w != in->width || h != in->height) { /* the file changed since its header was read */
		nst_image_free(&img);
		return cli_fail(EXIT_FAILURE_RUN, "%s: changed while running (now %dx%d)", in->path, w, h);
	}
	if (w == img.width && h == img.height) {
		*out = img;
		return EXIT_OK;
	}
	const enum nst_status st = nst_image_resize(&img, w, h, out);
	nst_image_free(&img);
	return st == NST_OK ? EXIT_OK : cli_fail_status(st, NULL, in->path);
}

/* A picture's result, where check_outputs found it is written. */
static enum nst_status save_result(const struct input *in, const struct nst_image *img, int quality,
                                   struct nst_diag *diag) {
	struct cli_file f = {.what = "-o", .name = in->output, .stdio = !strcmp(in->output, "-"), .stream = in->stream};
	snprintf(f.path, sizeof f.path, "%s", in->written ? in->written : in->output);
	return cli_save_picture(&f, img, quality, diag);
}

/* The arbitrary network's alpha: --alpha, or 1 (the network as trained). */
static float arbitrary_alpha(const struct fast_cli *c) { return c->alpha >= 0.0f ? c->alpha : 1.0f; }

static enum nst_status network_run(const struct network *net, const struct fast_cli *c, const struct nst_image *img,
                                   uint8_t *result) {
	return net->fast ? nst_fast_run(net->fast, img->width, img->height, img->rgb, result, c->strength)
	                 : nst_arbitrary_run_mixed(net->arbitrary, img->width, img->height, img->rgb, arbitrary_alpha(c),
	                                           c->strength, result);
}

static enum nst_status network_run_raw(const struct network *net, const struct fast_cli *c, const struct nst_image *img,
                                       float *raw) {
	return net->fast ? nst_fast_run_raw(net->fast, img->width, img->height, img->rgb, raw)
	                 : nst_arbitrary_run_raw(net->arbitrary, img->width, img->height, img->rgb, arbitrary_alpha(c), raw);
}

static void network_release(struct network *net) {
	nst_fast_release(net->fast);
	nst_arbitrary_release(net->arbitrary);
	*net = (struct network){0};
}

/* --bench: the picture again `runs` times; prints the median and the fastest (arbitrary: first
 * with the paintings encoded again each time, then the photo alone, the paintings' part cached). */
static int bench(const struct fast_cli *c, const struct network *net, const struct nst_image *paintings,
                 const struct input *in, const struct nst_image *img, uint8_t *result) {
	double *ms = malloc((size_t)c->bench * sizeof *ms);
	if (!ms)
		return cli_fail(EXIT_MEMORY, "out of memory for --bench");
	const int passes = net->arbitrary ? 2 : 1;
	for (int pass = 0; pass < passes; pass++) {
		const bool with_painting = net->arbitrary && pass == 0;
		for (int i = 0; i < c->bench; i++) {
			const double t0 = nst_seconds();
			if (with_painting)
				nst_arbitrary_set_style(net->arbitrary, c->n_styles, paintings, c->n_blend ? c->blend : NULL, NULL);
			network_run(net, c, img, result);
			ms[i] = (nst_seconds() - t0) * MS_PER_S;
		}
		const double median = cli_median(ms, c->bench); /* sorts ms: ms[0] is the fastest */
		fprintf(stderr, "nst: bench %s %dx%d%s: median %.1f ms, fastest %.1f ms over %d runs\n", in->path, img->width,
		        img->height, !net->arbitrary ? "" : with_painting ? ", painting and photo" : ", photo alone (painting cached)",
		        median, ms[0], c->bench);
	}
	free(ms);
	return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The run
 * ------------------------------------------------------------------------------------------- */

/* A picture that failed (its line is printed): the run goes on with the others. */
static void failed(struct input *in, int rc, int *failures, int *first_code) {
	in->failed = true;
	if ((*failures)++ == 0)
		*first_code = rc;
}

/* The pictures (-c files, folders, standard input) and where each result goes. */
static int list_pictures(const struct fast_cli *c, struct input_list *list) {
	bool many = c->n_contents > 1, uses_stdin = false;
	int rc = EXIT_OK;
	for (int i = 0; i < c->n_contents && rc == EXIT_OK; i++) {
		const char *p = c->contents[i];
		if (is_stream(p)) {
			uses_stdin = true;
			rc = add_input(list, p);
		} else if (is_directory(p)) {
			many = true;
			rc = add_directory(list, p, c->quiet);
		} else {
			struct stat sb;
			if (c->n_contents == 1 && stat(p, &sb) != 0) /* the one input missing: say so before naming outputs */
				return cli_fail(EXIT_FAILURE_RUN, "-c %s: %s", p, strerror(errno));
			rc = add_input(list, p);
		}
	}
	if (rc != EXIT_OK)
		return rc;
	if (uses_stdin && many)
		return cli_fail(EXIT_USAGE, "-c - (standard input, or a pipe) cannot be combined with other pictures");
	if (!many) {
		const size_t len = strlen(c->output);
		if (len > 1 && c->output[len - 1] == '/' && !is_directory(c->output) && mkdir(c->output, 0777) != 0)
			return cli_fail(EXIT_FAILURE_RUN, "cannot create the directory %s: %s", c->output, strerror(errno));
		if (strcmp(c->output, "-") && is_directory(c->output))
			return name_outputs(list, c->output, c->format); /* one picture into a directory (DIR/ is made) */
		if (c->format_given) /* it would be ignored: the file's own extension decides */
			return cli_fail(EXIT_USAGE, "--format is the extension of results in a directory; -o %s names one file, "
			                "whose extension decides", c->output);
		if (!(list->items[0].output = dup_string(c->output)))
			return cli_fail(EXIT_MEMORY, "out of memory");
		return EXIT_OK;
	}
	if (!strcmp(c->output, "-"))
		return cli_fail(EXIT_USAGE, "-o - (standard output) takes one picture, not several");
	if (c->raw || c->sheet)
		return cli_fail(EXIT_USAGE, "%s takes one picture, not several", c->raw ? "--raw" : "--sheet");
	struct stat sb;
	const bool exists = stat(c->output, &sb) == 0;
	if (exists && !S_ISDIR(sb.st_mode))
		return cli_fail(EXIT_USAGE, "%s is a file: with several pictures -o must be a directory", c->output);
	if (!exists && has_picture_extension(c->output)) /* a typo'd file name, not a folder to make */
		return cli_fail(EXIT_USAGE, "-o %s names a picture, but the results of a folder or of several -c go into a "
		                "directory: give -o a directory's name", c->output);
	/* The results never go into a folder of pictures: they would replace or mix with the originals. */
	struct cli_file out_dir, in_dir;
	cli_input_identify(&out_dir, "-o", c->output);
	for (int i = 0; i < c->n_contents; i++) {
		cli_input_identify(&in_dir, "-c", c->contents[i]);
		if (cli_same_id(&out_dir.id, &in_dir.id))
			return cli_fail(EXIT_USAGE, "-o %s is the folder of the pictures (-c %s): give the results another folder",
			                c->output, c->contents[i]);
	}
	if ((rc = name_outputs(list, c->output, c->format)) != EXIT_OK)
		return rc;
	if (mkdir(c->output, 0777) != 0 && errno != EEXIST)
		return cli_fail(EXIT_FAILURE_RUN, "cannot create the directory %s: %s", c->output, strerror(errno));
	return EXIT_OK;
}

/* Sizes from the headers (standard input: decoded now into *stdin_img, it can be read only once);
 * the plan is for the largest padded area.  A picture that cannot be read is reported and left out. */
static void plan_size(const struct fast_cli *c, struct input_list *list, struct nst_image *stdin_img, int *plan_w,
                      int *plan_h, long long *plan_area, int *failures, int *first_code) {
	struct nst_diag diag = {{0}};
	enum nst_status st;
	for (int i = 0; i < list->n; i++) {
		struct input *in = &list->items[i];
		int w, h;
		if (list->n == 1 && is_stream(in->path)) {
			struct nst_image_request request = {c->size, 0, 0, 0};
			if ((st = nst_image_load_for(in->path, &request, stdin_img, &diag)) != NST_OK) {
				failed(in, cli_fail_status(st, &diag, strcmp(in->path, "-") ? in->path : "standard input"), failures,
				       first_code);
				continue;
			}
			w = request.width;
			h = request.height;
		} else if ((st = nst_image_info(in->path, &w, &h, &diag)) != NST_OK) {
			failed(in, cli_fail_status(st, &diag, in->path), failures, first_code);
			continue;
		}
		run_size(c, w, h, &in->width, &in->height);
		const long long area = (long long)((in->width + 3) / 4 * 4) * (long long)((in->height + 3) / 4 * 4);
		if (area > *plan_area) {
			*plan_area = area;
			*plan_w = in->width;
			*plan_h = in->height;
		}
	}
}

/* One picture img [H][W][3] through the network into result (and raw, [H][W][3] float, with
 * --raw), then its outputs written; *ms: the network's time. */
static int stylize(const struct fast_cli *c, const struct network *net, const struct input *in,
                   const struct nst_image *img, const struct cli_file *raw_file, const struct cli_file *sheet_file,
                   uint8_t *result, float *raw, double *ms) {
	struct nst_diag diag = {{0}};
	int rc = EXIT_OK;
	const double t0 = nst_seconds();
	enum nst_status st = network_run(net, c, img, result);
	*ms = (nst_seconds() - t0) * MS_PER_S;
	if (st == NST_OK && c->raw)
		network_run_raw(net, c, img, raw);
	const struct nst_image out = {img->width, img->height, result};
	if (st == NST_ERR_INVALID_ARGUMENT && net->arbitrary &&
	    (img->width < NST_ARBITRARY_MIN_PHOTO_SIDE || img->height < NST_ARBITRARY_MIN_PHOTO_SIDE))
		rc = cli_fail(EXIT_FAILURE_RUN, "%s: a %dx%d photo: the arbitrary-style network takes sides of at least %d",
		              in->path, img->width, img->height, NST_ARBITRARY_MIN_PHOTO_SIDE);
	else if (st != NST_OK)
		rc = cli_fail_status(st, NULL, in->path);
	else if (c->raw)
		rc = cli_write_data(raw_file, raw, (size_t)img->width * (size_t)img->height * RGB * sizeof(float));
	if (rc == EXIT_OK && (st = save_result(in, &out, c->jpeg_quality, &diag)) != NST_OK)
		rc = cli_fail_status(st, &diag, in->output);
	if (rc == EXIT_OK && c->sheet &&
	    (st = cli_write_sheet(sheet_file, img, NULL, 0, &out, c->jpeg_quality, &diag)) != NST_OK)
		rc = cli_fail_status(st, &diag, c->sheet);
	return rc;
}

/* The arena for a plan of total_bytes, rounded up to its alignment; NULL (after the message) if
 * it cannot be had, or (before anything runs) when it is more than this machine has available: an
 * allocation the kernel overcommits would end in the OOM killer mid-run.  smaller: the options
 * that would shrink it, for the message. */
static void *alloc_arena(size_t total_bytes, size_t *bytes, const char *smaller) {
	*bytes = total_bytes;
	const size_t available = nst_memory_available();
	if (available && total_bytes > available) {
		cli_fail(EXIT_MEMORY, "the run needs %.1f MiB, more than the %.0f MiB available here (nst info): %s",
		         (double)total_bytes / MIB, (double)available / MIB, smaller);
		return NULL;
	}
	void *arena = nst_arena_allocate(total_bytes);
	if (!arena)
		cli_fail(EXIT_MEMORY, "cannot allocate the %.1f MiB the run needs", (double)total_bytes / MIB);
	return arena;
}

/* "3 pictures" or "3 pictures (1 unreadable, left out)" into text [64]. */
/* What the plan is for, before its size: "3 pictures up to", or for a stream (pictures 0) "frames of". */
static const char *pictures_phrase(int pictures, int left_out, char *text) {
	if (pictures == 0)
		return "frames of";
	int n = snprintf(text, 64, "%d picture%s", pictures, pictures == 1 ? "" : "s");
	if (left_out > 0)
		n += snprintf(text + n, (size_t)(64 - n), " (%d unreadable, left out)", left_out);
	snprintf(text + n, (size_t)(64 - n), " up to");
	return text;
}

/* A trained network for pictures up to plan_w x plan_h (pictures 0: a stream's frames): planned, described,
 * started in *arena. */
static int start_fast(const struct fast_cli *c, struct nst_weights *weights, int pictures, int left_out, int plan_w, int plan_h,
                      struct network *net, void **arena, size_t *plan_bytes) {
	struct nst_diag diag = {{0}};
	struct nst_fast_plan plan;
	enum nst_status st = nst_fast_plan(weights, plan_w, plan_h, c->threads, c->backend, c->precision, &plan, &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, "plan");
	char model_name[NAME_BYTES], phrase[64];
	if (!c->quiet)
		fprintf(stderr,
		        "nst: model %s (%s weights), %s %dx%d, backend %s (%s, %s), %d thread%s\n"
		        "nst: memory plan %.1f MiB: weights %.1f, activations %.1f, scratch %.1f; Winograd F(%dx%d, 3x3)\n",
		        printable(nst_weights_model(weights), model_name, sizeof model_name),
		        nst_weights_dtype(weights) == NST_DTYPE_F16 ? "float16" : "float32", pictures_phrase(pictures, left_out, phrase),
		        plan_w, plan_h, nst_backend_name(plan.backend), plan.kernel, nst_precision_name(plan.precision),
		        plan.threads, plan.threads == 1 ? "" : "s", (double)plan.total_bytes / MIB, (double)plan.weights_bytes / MIB,
		        (double)plan.activations_bytes / MIB, (double)plan.scratch_bytes / MIB, plan.winograd_tile,
		        plan.winograd_tile);
	if (plan.notice && !c->quiet)
		fprintf(stderr, "nst: %s\n", plan.notice);
	size_t bytes;
	*plan_bytes = plan.total_bytes;
	if (!(*arena = alloc_arena(plan.total_bytes, &bytes, "give a smaller --size")))
		return EXIT_MEMORY;
	sigset_t mask;
	cli_signals_block(&mask); /* the thread pool's threads never take the stop signals */
	st = nst_fast_init(*arena, bytes, weights, plan_w, plan_h, c->threads, c->backend, c->precision, &net->fast, &diag);
	cli_signals_restore(&mask);
	return st == NST_OK ? EXIT_OK : cli_fail_status(st, &diag, "init");
}

/* The paintings (-s) at the size they run: their long side long_side, unless one already has it
 * (then it is not resampled), or longer where the short side would fall below the network's least
 * (a long, thin painting beside a small photo); *sw x *sh: the largest width and height. */
static int load_paintings(const struct fast_cli *c, int long_side, struct nst_image *paintings, int *sw, int *sh) {
	*sw = *sh = 0;
	for (int i = 0; i < c->n_styles; i++) {
		struct nst_diag diag = {{0}};
		struct nst_image_request request = {long_side, 0, 0, 0};
		struct nst_image img = {0};
		enum nst_status st = nst_image_load_for(c->styles[i], &request, &img, &diag); /* read once: pipes too */
		if (st != NST_OK)
			return cli_fail_status(st, &diag, c->styles[i]);
		/* the painting's own proportions (request: its size before any reduced decoding) */
		int w, h;
		nst_arbitrary_painting_size(request.width, request.height, long_side, &w, &h);
		if (w == img.width && h == img.height) {
			paintings[i] = img;
		} else {
			st = nst_image_resize(&img, w, h, &paintings[i]);
			nst_image_free(&img);
			if (st != NST_OK)
				return cli_fail_status(st, NULL, c->styles[i]);
		}
		*sw = w > *sw ? w : *sw;
		*sh = h > *sh ? h : *sh;
	}
	return EXIT_OK;
}

/* The arbitrary-style network for photos up to plan_w x plan_h and the paintings: planned,
 * described, started in *arena, the paintings encoded once. */
static int start_arbitrary(const struct fast_cli *c, struct nst_weights *weights, int pictures, int left_out, int plan_w, int plan_h,
                           const struct nst_image *paintings, int sw, int sh, struct network *net, void **arena,
                           size_t *plan_bytes) {
	struct nst_diag diag = {{0}};
	struct nst_arbitrary_plan plan;
	enum nst_status st = nst_arbitrary_plan(weights, plan_w, plan_h, sw, sh, c->threads, c->backend, c->precision, &plan,
	                                        &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, "plan");
	if (!c->quiet) {
		char phrase[64];
		fprintf(stderr, "nst: model arbitrary (any painting), %s %dx%d, painting%s",
		        pictures_phrase(pictures, left_out, phrase), plan_w, plan_h, c->n_styles == 1 ? "" : "s");
		for (int i = 0; i < c->n_styles; i++) {
			fprintf(stderr, "%s %s (%dx%d", i ? "," : "", c->styles[i], paintings[i].width, paintings[i].height);
			if (c->n_blend)
				fprintf(stderr, ", weight %g", (double)c->blend[i]);
			fputc(')', stderr);
		}
		fprintf(stderr,
		        "\nnst: backend %s (%s, %s), %d thread%s; memory plan %.1f MiB: weights %.1f, activations %.1f, "
		        "scratch %.1f\n",
		        nst_backend_name(plan.backend), plan.kernel, nst_precision_name(plan.precision), plan.threads,
		        plan.threads == 1 ? "" : "s", (double)plan.total_bytes / MIB, (double)plan.weights_bytes / MIB,
		        (double)plan.activations_bytes / MIB, (double)plan.scratch_bytes / MIB);
	}
	if (plan.notice && !c->quiet)
		fprintf(stderr, "nst: %s\n", plan.notice);
	size_t bytes;
	*plan_bytes = plan.total_bytes;
	char smaller[128];
	snprintf(smaller, sizeof smaller, "give a smaller --size (the photos' side) or --style-size (the paintings', %d px here)",
	         sw > sh ? sw : sh);
	if (!(*arena = alloc_arena(plan.total_bytes, &bytes, smaller)))
		return EXIT_MEMORY;
	sigset_t mask;
	cli_signals_block(&mask);
	st = nst_arbitrary_init(*arena, bytes, weights, plan_w, plan_h, sw, sh, c->threads, c->backend, c->precision,
	                        &net->arbitrary, &diag);
	cli_signals_restore(&mask);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, "init");
	const double t0 = nst_seconds();
	st = nst_arbitrary_set_style(net->arbitrary, c->n_styles, paintings, c->n_blend ? c->blend : NULL, &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, "the paintings");
	if (!c->quiet)
		fprintf(stderr, "nst: painting%s encoded (%.1f ms): every picture reuses %s\n", c->n_styles == 1 ? "" : "s",
		        (nst_seconds() - t0) * MS_PER_S, c->n_styles == 1 ? "it" : "their blend");
	return EXIT_OK;
}

/* -s and its options belong to the arbitrary-style network, which needs them. */
static int check_paintings(const struct fast_cli *c, bool arbitrary, const char *model_path) {
	if (arbitrary && c->n_styles == 0)
		return cli_fail(EXIT_USAGE, "the arbitrary-style network needs a painting: give -s PAINTING");
	if (!arbitrary && (c->n_styles || c->n_blend || c->style_size))
		return cli_fail(EXIT_USAGE, "%s: %s is for --model arbitrary; a trained network has its painting built in",
		                model_path, c->n_styles ? "-s" : c->n_blend ? "--style-blend" : "--style-size");
	if (!arbitrary && c->alpha >= 0.0f)
		return cli_fail(EXIT_USAGE, "%s: --alpha is the arbitrary-style network's; a trained one takes --strength",
		                model_path);
	return cli_stdin_once(c->n_contents == 1 ? c->contents[0] : NULL, c->styles, c->n_styles, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Frame streams (the loop, the formats and the pipeline: src/cli/stream.c)
 * ------------------------------------------------------------------------------------------- */

struct stream_network {
	const struct network *net;
	const struct fast_cli *c;
};

static enum nst_status stylize_frame(void *ctx, int width, int height, const uint8_t *in, uint8_t *out) {
	const struct stream_network *x = ctx;
	const struct nst_image img = {width, height, (uint8_t *)in};
	return network_run(x->net, x->c, &img, out);
}

/* -c is a frame stream: one plan and one arena for its frames' size, the paintings encoded once. */
static int run_stream(struct fast_cli *c) {
	struct nst_weights *weights = NULL;
	struct nst_image paintings[NST_MAX_STYLES] = {{0}};
	struct network net = {0};
	struct cli_stream *stream = NULL;
	void *arena = NULL;
	char model_buf[CLI_PATH_BYTES];
	const char *model_path;
	size_t plan_bytes;
	int w, h, rc;
	if (c->raw || c->sheet || c->bench)
		return cli_fail(EXIT_USAGE, "%s takes pictures, not a frame stream",
		                c->raw ? "--raw" : c->sheet ? "--sheet" : "--bench");
	if ((rc = find_model(c->model, model_buf, sizeof model_buf, &model_path)) != EXIT_OK)
		return rc;
	cli_signals_install();
	/* the command line is checked before the stream is opened: opening waits for its first bytes */
	if ((rc = open_model(model_path, &weights)) != EXIT_OK)
		goto done;
	const bool arbitrary = nst_weights_arch(weights) == NST_ARCH_ARBITRARY;
	if ((rc = check_paintings(c, arbitrary, model_path)) != EXIT_OK ||
	    (rc = cli_stream_open(&c->stream, &stream, &w, &h)) != EXIT_OK)
		goto done;
	if (arbitrary) {
		int sw, sh;
		if ((rc = load_paintings(c, c->style_size ? c->style_size : (w > h ? w : h), paintings, &sw, &sh)) != EXIT_OK ||
		    (rc = start_arbitrary(c, weights, 0, 0, w, h, paintings, sw, sh, &net, &arena, &plan_bytes)) != EXIT_OK)
			goto done;
	} else if ((rc = start_fast(c, weights, 0, 0, w, h, &net, &arena, &plan_bytes)) != EXIT_OK) {
		goto done;
	}
	nst_weights_close(weights); /* packed into the arena */
	weights = NULL;
	const struct stream_network ctx = {&net, c};
	rc = cli_stream_run(stream, stylize_frame, (void *)&ctx);
done:
	cli_stream_close(stream);
	network_release(&net);
	free(arena);
	nst_weights_close(weights);
	for (int i = 0; i < c->n_styles; i++)
		nst_image_free(&paintings[i]);
	return rc;
}

static int run_pictures(struct fast_cli *c);

static int run(struct fast_cli *c) {
	if (c->n_contents == 1) {
		c->stream.input = c->contents[0];
		c->stream.output = c->output;
		c->stream.size = c->size;
		c->stream.quiet = c->quiet;
		int fifo_fd;
		c->stream.input_fd = -1;
		const enum cli_input_kind kind = cli_stream_detect(&c->stream, &fifo_fd);
		if (kind == CLI_INPUT_FIFO_IDLE)
			return EXIT_FAILURE_RUN; /* said */
		if (kind == CLI_INPUT_STREAM) {
			c->stream.input_fd = fifo_fd; /* the stream owns it from here */
			return run_stream(c);
		}
		const int rc = run_pictures(c);
		if (fifo_fd >= 0)
			close(fifo_fd);
		return rc;
	}
	return run_pictures(c);
}

static int run_pictures(struct fast_cli *c) {
	if (c->stream_option)
		return cli_fail(EXIT_USAGE, "%s is for frame streams (YUV4MPEG2, or raw frames with --frame-size, on -c), "
		                "not pictures", c->stream_option);
	struct input_list list = {0};
	struct nst_image stdin_img = {0}, img = {0}, paintings[NST_MAX_STYLES] = {{0}};
	struct nst_weights *weights = NULL;
	struct network net = {0};
	void *arena = NULL;
	uint8_t *result = NULL;
	float *raw = NULL;
	struct cli_file out_file, raw_file, sheet_file;
	char model_buf[CLI_PATH_BYTES];
	const char *model_path;
	int failures = 0, first_code = EXIT_OK, written = 0;

	int rc = list_pictures(c, &list);
	if (rc != EXIT_OK || (rc = find_model(c->model, model_buf, sizeof model_buf, &model_path)) != EXIT_OK ||
	    (rc = check_outputs(c, &list, model_path, &out_file, &raw_file, &sheet_file)) != EXIT_OK)
		goto done;
	cli_signals_install();
	/* the network and its options before any picture is read (standard input can be read once) */
	if ((rc = open_model(model_path, &weights)) != EXIT_OK)
		goto done;
	const bool arbitrary = nst_weights_arch(weights) == NST_ARCH_ARBITRARY;
	if ((rc = check_paintings(c, arbitrary, model_path)) != EXIT_OK)
		goto done;

	int plan_w = 0, plan_h = 0;
	long long plan_area = 0;
	plan_size(c, &list, &stdin_img, &plan_w, &plan_h, &plan_area, &failures, &first_code);
	if (failures == list.n)
		goto done;
	size_t plan_bytes = 0, baseline = 0; /* baseline: the process before the arena (code, libraries, weights) */
	if (arbitrary) {
		int sw, sh;
		const int long_side = c->style_size ? c->style_size : (plan_w > plan_h ? plan_w : plan_h);
		if ((rc = load_paintings(c, long_side, paintings, &sw, &sh)) != EXIT_OK)
			goto done;
		baseline = cli_rss_now();
		rc = start_arbitrary(c, weights, list.n - failures, failures, plan_w, plan_h, paintings, sw, sh, &net, &arena, &plan_bytes);
	} else {
		baseline = cli_rss_now();
		rc = start_fast(c, weights, list.n - failures, failures, plan_w, plan_h, &net, &arena, &plan_bytes);
	}
	if (rc != EXIT_OK)
		goto done;
	nst_weights_close(weights); /* packed into the arena */
	weights = NULL;
	result = malloc((size_t)plan_area * RGB);
	if (c->raw)
		raw = malloc((size_t)plan_area * RGB * sizeof(float));
	if (!result || (c->raw && !raw)) {
		rc = cli_fail(EXIT_MEMORY, "out of memory for the result of a %dx%d picture", plan_w, plan_h);
		goto done;
	}

	/* Each picture in turn; a stop signal ends the run after the picture being done is written. */
	for (int i = 0; i < list.n && !cli_stop_signal(); i++) {
		struct input *in = &list.items[i];
		if (in->failed)
			continue;
		if ((rc = load_input(c, in, &stdin_img, &img)) != EXIT_OK) {
			failed(in, rc, &failures, &first_code);
			continue;
		}
		double ms;
		if ((rc = stylize(c, &net, in, &img, &raw_file, &sheet_file, result, raw, &ms)) != EXIT_OK) {
			failed(in, rc, &failures, &first_code);
			nst_image_free(&img);
			continue;
		}
		written++;
		if (!c->quiet)
			fprintf(stderr, "nst: wrote %s (%dx%d, %.1f ms)\n", !strcmp(in->output, "-") ? "standard output" : in->output,
			        img.width, img.height, ms);
		if (c->bench && (rc = bench(c, &net, paintings, in, &img, result)) != EXIT_OK)
			goto done;
		nst_image_free(&img);
	}
	rc = EXIT_OK;
	if (written > 0 && !c->quiet)
		fprintf(stderr, "nst: peak RSS %.1f MiB (plan %.1f MiB, the process before the arena %.1f MiB)\n",
		        cli_mib(cli_rss_peak()), cli_mib(plan_bytes), cli_mib(baseline));

done:
	if (rc == EXIT_OK && cli_stop_signal() && written + failures < list.n)
		rc = cli_fail(EXIT_INTERRUPTED, "interrupted (%s): wrote %d of %d pictures",
		              cli_signal_name(cli_stop_signal()), written,
		              list.n);
	else if (rc == EXIT_OK && failures > 0) {
		rc = first_code;
		if (list.n > 1)
			cli_fail(rc, "%d of %d pictures failed (each named above); wrote the other %d", failures, list.n, written);
	}
	network_release(&net);
	free(arena);
	free(result);
	free(raw);
	nst_weights_close(weights);
	nst_image_free(&img);
	nst_image_free(&stdin_img);
	for (int i = 0; i < c->n_styles; i++)
		nst_image_free(&paintings[i]);
	free_inputs(&list);
	return rc;
}

int cli_fast(int argc, char **argv) {
	struct fast_cli c = {0};
	c.stream.steady = CLI_STEADY_DEFAULT;
	c.format = DEFAULT_FORMAT;
	c.strength = 1.0f;
	c.alpha = -1.0f;
	c.jpeg_quality = DEFAULT_JPEG_QUALITY;
	c.backend = NST_BACKEND_AUTO;
	c.contents = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *c.contents); /* at most one per argument */
	if (!c.contents)
		return cli_fail(EXIT_MEMORY, "out of memory");
	int rc = parse_args(&c, argc, argv);
	if (rc == EXIT_OK) {
		c.threads = cli_threads(c.threads, c.quiet);
		rc = run(&c);
	}
	else if (rc < 0)
		rc = EXIT_OK; /* --help */
	free(c.contents);
	return rc;
}
