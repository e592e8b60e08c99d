/*
 * nst --model: feed-forward style transfer from the command line.
 *
 *   nst --model candy -c photo.jpg -o out.png
 *   nst --model mosaic -c a.jpg -c b.png -c frames/ -o outdir/ --format jpg
 *   camera | nst --model udnie -c - -o - | viewer
 *
 * Every picture's size is read first (headers only), one plan and one arena are made for the
 * largest, and then each picture in turn is loaded, stylized and written: many pictures reuse
 * the plan, the arena, the packed weights and the thread pool.
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

#include "bench.h"
#include "cli.h"
#include "nst.h"

#ifndef NST_DATADIR
#define NST_DATADIR "/usr/local/share/nst"
#endif

#define PATH_BYTES 4096
#define MAX_SIZE 16384
#define MAX_THREADS 1024
#define MAX_BENCH_RUNS 1000
#define DEFAULT_FORMAT "png"
#define DEFAULT_JPEG_QUALITY 92
#define STYLES_DIR "styles"
#define MODEL_EXTENSION ".nstw"
#define RGB 3
#define MS_PER_S 1000.0
#define MIB (1024.0 * 1024.0)
#define DEL_CHAR 0x7f
#define NAME_BYTES 64

static const char *const KNOWN_MODELS[] = {"candy", "mosaic", "pointilism", "rain_princess", "udnie"};
#define N_KNOWN_MODELS (sizeof KNOWN_MODELS / sizeof KNOWN_MODELS[0])
static const char *const PICTURE_EXTENSIONS[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif",
                                                 ".psd", ".pnm", ".ppm", ".pgm"};
#define N_PICTURE_EXTENSIONS (sizeof PICTURE_EXTENSIONS / sizeof PICTURE_EXTENSIONS[0])

struct input {
	char *path;        /* malloc'ed; "-" for standard input */
	char *output;      /* malloc'ed: where its result goes */
	int width, height; /* as it will run (after --size) */
};

struct fast_cli {
	const char *model, *output, *format, *raw;
	char **contents; /* the -c arguments, in order */
	int n_contents;
	int size;        /* 0: as is */
	float strength;
	int threads;
	enum nst_backend backend;
	enum nst_precision precision;
	int jpeg_quality;
	int bench;       /* timed runs per picture after the first */
	bool quiet;
};

static void usage(FILE *f) {
	fprintf(f,
	        "usage: nst --model NAME|FILE.nstw -c PHOTO [-c PHOTO|DIR ...] -o OUT [options]\n"
	        "\n"
	        "Stylizes each PHOTO with a trained feed-forward network: one pass per picture.\n"
	        "\n"
	        "  --model NAME|FILE     candy, mosaic, pointilism, rain_princess, udnie, or a .nstw file;\n"
	        "                        NAME is looked up as " STYLES_DIR "/NAME" MODEL_EXTENSION
	        " beside the nst binary, then\n"
	        "                        in $NST_STYLES, then in ../share/nst/" STYLES_DIR
	        " from the binary, then " NST_DATADIR "/" STYLES_DIR "\n"
	        "  -c, --content PHOTO   a picture (PNG, JPEG, BMP, TGA, ...), a directory of pictures, or - for\n"
	        "                        a PNG / JPEG on standard input; repeat -c for several\n"
	        "  -o, --output OUT      the result (.png, .jpg, .bmp, .tga; - writes PNG to standard output);\n"
	        "                        with several pictures or a directory, OUT is a directory (created if\n"
	        "                        missing) and each result keeps its picture's name\n"
	        "      --format EXT      png, jpg, bmp or tga: the extension of results in a directory (default png)\n"
	        "      --size N          scale each picture's long side to N first (default: as it is)\n"
	        "      --strength S      0..1: S * stylized + (1 - S) * original (default 1)\n"
	        "      --jpeg-quality Q  1..100 (default %d)\n"
	        "      --threads N       (default: one per online core)\n"
	        "      --backend auto|simd|scalar  (default auto: the fastest here)\n"
	        "      --precision fp32|fp16  GEMMs in float16 (default fp32): on CPUs with FP16 arithmetic\n"
	        "                        (Pi 5, Jetson Orin); with --backend scalar its portable reference;\n"
	        "                        elsewhere fp32, with a notice\n"
	        "      --raw FILE        also write the network's output before rounding, float32 RGB [H][W][3]\n"
	        "                        (one picture only)\n"
	        "      --bench N         after each picture, run it N more times and print the median time\n"
	        "  -q, --quiet           only errors\n"
	        "  -h, --help            this text\n"
	        "\n"
	        "Pictures whose sides are not multiples of 4 are padded by repeating their last row / column\n"
	        "and cropped back: every result has its picture's size.\n"
	        "exit codes: 0 done, 1 a file or run failed, 2 usage, 3 memory\n",
	        DEFAULT_JPEG_QUALITY);
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

static bool readable(const char *path) { return access(path, R_OK) == 0; }

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
	OPT_MODEL = 256, OPT_FORMAT, OPT_SIZE, OPT_STRENGTH, OPT_THREADS, OPT_BACKEND, OPT_JPEG_QUALITY, OPT_RAW,
	OPT_BENCH, OPT_PRECISION,
};

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
		{"threads", required_argument, NULL, OPT_THREADS},
		{"backend", required_argument, NULL, OPT_BACKEND},
		{"jpeg-quality", required_argument, NULL, OPT_JPEG_QUALITY},
		{"raw", required_argument, NULL, OPT_RAW},
		{"bench", required_argument, NULL, OPT_BENCH},
		{"precision", required_argument, NULL, OPT_PRECISION},
		{NULL, 0, NULL, 0},
	};
	double v;
	opterr = 0;
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, ":c:o:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_MODEL: c->model = optarg; break;
		case 'c': c->contents[c->n_contents++] = optarg; break;
		case 'o': c->output = optarg; break;
		case 'q': c->quiet = true; break;
		case 'h': usage(stdout); return -1;
		case OPT_FORMAT:
			if (strcasecmp(optarg, "png") && strcasecmp(optarg, "jpg") && strcasecmp(optarg, "jpeg") &&
			    strcasecmp(optarg, "bmp") && strcasecmp(optarg, "tga"))
				return cli_fail(EXIT_USAGE, "--format: '%s' is not png, jpg, bmp or tga", optarg);
			c->format = optarg;
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
			else
				return cli_fail(EXIT_USAGE, "--precision: '%s' is not fp32 or fp16", optarg);
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
		case ':': return cli_fail(EXIT_USAGE, "%s needs a value (see nst --model --help)", argv[optind - 1]);
		default: return cli_fail(EXIT_USAGE, "unknown option '%s' (see nst --model --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_fail(EXIT_USAGE, "unexpected argument '%s' (see nst --model --help)", argv[optind]);
	if (!c->model || !*c->model)
		return cli_fail(EXIT_USAGE, "no model: give --model candy|mosaic|pointilism|rain_princess|udnie|FILE.nstw");
	if (c->n_contents == 0)
		return cli_fail(EXIT_USAGE, "no picture: give -c PHOTO (see nst --model --help)");
	if (!c->output)
		return cli_fail(EXIT_USAGE, "no output: give -o OUT.png (see nst --model --help)");
	return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The model: a file, or a name looked up in the styles directories
 * ------------------------------------------------------------------------------------------- */

static bool is_model_file(const char *model) {
	const size_t n = strlen(model), e = strlen(MODEL_EXTENSION);
	return strchr(model, '/') || (n > e && !strcmp(model + n - e, MODEL_EXTENSION));
}

/* The path of a named model, or NULL; `looked` lists where it looked. */
const char *nst_cli_find_model(const char *name, char *buf, size_t size, char *looked, size_t looked_size) {
	enum { MAX_DIRS = 4 };
	char dirs[MAX_DIRS][PATH_BYTES];
	int n = 0, len;
	char exe[PATH_BYTES];
	const ssize_t got = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = NULL;
	if (got > 0) {
		exe[got] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
	}
	if (slash && (len = snprintf(dirs[n], PATH_BYTES, "%s/" STYLES_DIR, exe)) > 0 && len < PATH_BYTES)
		n++;
	const char *env = getenv("NST_STYLES");
	if (env && *env && (len = snprintf(dirs[n], PATH_BYTES, "%s", env)) > 0 && len < PATH_BYTES)
		n++;
	if (slash && (len = snprintf(dirs[n], PATH_BYTES, "%s/../share/nst/" STYLES_DIR, exe)) > 0 && len < PATH_BYTES)
		n++;
	if ((len = snprintf(dirs[n], PATH_BYTES, "%s/" STYLES_DIR, NST_DATADIR)) > 0 && len < PATH_BYTES)
		n++;
	looked[0] = '\0';
	for (int i = 0; i < n; i++) {
		len = snprintf(buf, size, "%s/%s" MODEL_EXTENSION, dirs[i], name);
		if (len > 0 && (size_t)len < size && readable(buf))
			return buf;
		const size_t used = strlen(looked);
		if (snprintf(looked + used, looked_size - used, "%s%s", i ? ", " : "", dirs[i]) < 0)
			break;
	}
	return NULL;
}

static int open_model(const char *model, struct nst_weights **weights) {
	struct nst_diag diag = {{0}};
	char buf[PATH_BYTES], looked[4 * PATH_BYTES];
	const char *path = model;
	if (!is_model_file(model)) {
		bool known = false;
		for (size_t i = 0; i < N_KNOWN_MODELS; i++)
			known = known || !strcmp(model, KNOWN_MODELS[i]);
		path = nst_cli_find_model(model, buf, sizeof buf, looked, sizeof looked);
		if (!path && !known)
			return cli_fail(EXIT_USAGE,
			            "unknown model '%s': use candy, mosaic, pointilism, rain_princess, udnie or a FILE.nstw "
			            "(looked for %s" MODEL_EXTENSION " in %s)", model, model, looked);
		if (!path)
			return cli_fail(EXIT_FAILURE_RUN,
			            "model '%s' not found: run 'make weights' or set NST_STYLES (looked for %s" MODEL_EXTENSION
			            " in %s)", model, model, looked);
	}
	const enum nst_status st = nst_weights_open(path, weights, &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, path);
	if (nst_weights_arch(*weights) != NST_ARCH_TRANSFORMER) {
		nst_weights_close(*weights);
		*weights = NULL;
		return cli_fail(EXIT_FAILURE_RUN, "%s is a VGG network, not a feed-forward style network (use it with -s STYLE)",
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
	list->n++;
	return EXIT_OK;
}

static void free_inputs(struct input_list *list) {
	for (int i = 0; i < list->n; i++) {
		free(list->items[i].path);
		free(list->items[i].output);
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

/* The pictures of dir (by extension, not hidden, not recursive), sorted by name. */
static int add_directory(struct input_list *list, const char *dir) {
	DIR *d = opendir(dir);
	if (!d)
		return cli_fail(EXIT_FAILURE_RUN, "%s: cannot read the directory: %s", dir, strerror(errno));
	char **names = NULL;
	int n = 0, cap = 0, rc = EXIT_OK;
	const struct dirent *e;
	while (rc == EXIT_OK && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || !has_picture_extension(e->d_name))
			continue;
		char path[PATH_BYTES];
		const int len = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (len < 0 || (size_t)len >= sizeof path || is_directory(path))
			continue;
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
	for (int i = 0; i < list->n; i++) {
		const char *path = list->items[i].path;
		const char *slash = strrchr(path, '/');
		const char *base = slash ? slash + 1 : path;
		const char *dot = strrchr(base, '.');
		const int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
		char buf[PATH_BYTES];
		const int len = snprintf(buf, sizeof buf, "%s/%.*s.%s", dir, stem, base, format);
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

static int write_raw(const char *path, const float *data, size_t n) {
	FILE *f = fopen(path, "wb");
	if (!f)
		return cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", path, strerror(errno));
	const bool ok = fwrite(data, sizeof(float), n, f) == n;
	if (fclose(f) != 0 || !ok)
		return cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", path, strerror(errno));
	return EXIT_OK;
}

static int compare_doubles(const void *a, const void *b) {
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* --bench: the picture again `runs` times; prints the median and the fastest. */
static int bench(const struct fast_cli *c, struct nst_fast_session *session, const struct input *in,
                 const struct nst_image *img, uint8_t *result) {
	double *ms = malloc((size_t)c->bench * sizeof *ms);
	if (!ms)
		return cli_fail(EXIT_MEMORY, "out of memory for --bench");
	for (int i = 0; i < c->bench; i++) {
		const double t0 = cli_now_seconds();
		nst_fast_run(session, img->width, img->height, img->rgb, result, c->strength);
		ms[i] = (cli_now_seconds() - t0) * MS_PER_S;
	}
	qsort(ms, (size_t)c->bench, sizeof *ms, compare_doubles);
	const double median = c->bench % 2 ? ms[c->bench / 2] : 0.5 * (ms[c->bench / 2 - 1] + ms[c->bench / 2]);
	fprintf(stderr, "nst: bench %s %dx%d: median %.1f ms, fastest %.1f ms over %d runs\n", in->path, img->width,
	        img->height, median, ms[0], c->bench);
	free(ms);
	return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The run
 * ------------------------------------------------------------------------------------------- */

static int run(struct fast_cli *c) {
	struct input_list list = {0};
	struct nst_image stdin_img = {0}, img = {0};
	struct nst_weights *weights = NULL;
	struct nst_fast_session *session = NULL;
	void *arena = NULL;
	uint8_t *result = NULL;
	float *raw = NULL;
	struct nst_diag diag = {{0}};
	enum nst_status st;
	int rc = EXIT_OK;

	/* The pictures, and whether the output is one file or a directory. */
	bool many = c->n_contents > 1, uses_stdin = false;
	for (int i = 0; i < c->n_contents && rc == EXIT_OK; i++) {
		const char *p = c->contents[i];
		if (is_stream(p)) {
			uses_stdin = true;
			rc = add_input(&list, p);
		} else if (is_directory(p)) {
			many = true;
			rc = add_directory(&list, p);
		} else {
			rc = add_input(&list, p);
		}
	}
	if (rc != EXIT_OK)
		goto done;
	if (uses_stdin && many) {
		rc = cli_fail(EXIT_USAGE, "-c - (standard input, or a pipe) cannot be combined with other pictures");
		goto done;
	}
	if (many) {
		if (!strcmp(c->output, "-")) {
			rc = cli_fail(EXIT_USAGE, "-o - (standard output) takes one picture, not several");
			goto done;
		}
		if (c->raw) {
			rc = cli_fail(EXIT_USAGE, "--raw takes one picture, not several");
			goto done;
		}
		struct stat sb;
		if (stat(c->output, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
			rc = cli_fail(EXIT_USAGE, "%s is a file: with several pictures -o must be a directory", c->output);
			goto done;
		}
		if ((rc = name_outputs(&list, c->output, c->format)) != EXIT_OK)
			goto done;
		if (mkdir(c->output, 0777) != 0 && errno != EEXIST) {
			rc = cli_fail(EXIT_FAILURE_RUN, "cannot create the directory %s: %s", c->output, strerror(errno));
			goto done;
		}
	} else if (strcmp(c->output, "-") && is_directory(c->output)) {
		if ((rc = name_outputs(&list, c->output, c->format)) != EXIT_OK) /* one picture into a directory */
			goto done;
	} else if (!(list.items[0].output = dup_string(c->output))) {
		rc = cli_fail(EXIT_MEMORY, "out of memory");
		goto done;
	}

	/* Sizes from the headers (standard input: decoded now, it can be read only once); the plan is
	 * for the largest padded area. */
	int plan_w = 0, plan_h = 0;
	long long plan_area = 0;
	for (int i = 0; i < list.n; i++) {
		struct input *in = &list.items[i];
		int w, h;
		if (list.n == 1 && is_stream(in->path)) {
			struct nst_image_request request = {c->size, 0, 0, 0};
			if ((st = nst_image_load_for(in->path, &request, &stdin_img, &diag)) != NST_OK) {
				rc = cli_fail_status(st, &diag, in->path);
				goto done;
			}
			w = request.width;
			h = request.height;
		} else if ((st = nst_image_info(in->path, &w, &h, &diag)) != NST_OK) {
			rc = cli_fail_status(st, &diag, in->path);
			goto done;
		}
		run_size(c, w, h, &in->width, &in->height);
		const long long area = (long long)((in->width + 3) / 4 * 4) * (long long)((in->height + 3) / 4 * 4);
		if (area > plan_area) {
			plan_area = area;
			plan_w = in->width;
			plan_h = in->height;
		}
	}

	if ((rc = open_model(c->model, &weights)) != EXIT_OK)
		goto done;
	struct nst_fast_plan plan;
	if ((st = nst_fast_plan(weights, plan_w, plan_h, c->threads, c->backend, c->precision, &plan, &diag)) != NST_OK) {
		rc = cli_fail_status(st, &diag, "plan");
		goto done;
	}
	char model_name[NAME_BYTES];
	if (!c->quiet)
		fprintf(stderr,
		        "nst: model %s (%s weights), %d picture%s up to %dx%d, backend %s (%s, %s), %d thread%s\n"
		        "nst: memory plan %.1f MiB: weights %.1f, activations %.1f, scratch %.1f; Winograd F(%dx%d, 3x3)\n",
		        printable(nst_weights_model(weights), model_name, sizeof model_name),
		        nst_weights_dtype(weights) == NST_DTYPE_F16 ? "float16" : "float32",
		        list.n, list.n == 1 ? "" : "s", plan_w, plan_h, nst_backend_name(plan.backend), plan.kernel,
		        nst_precision_name(plan.precision), plan.threads, plan.threads == 1 ? "" : "s", (double)plan.total_bytes / MIB,
		        (double)plan.weights_bytes / MIB, (double)plan.activations_bytes / MIB,
		        (double)plan.scratch_bytes / MIB, plan.winograd_tile, plan.winograd_tile);
	if (plan.notice && !c->quiet)
		fprintf(stderr, "nst: %s\n", plan.notice);
	const size_t arena_bytes = (plan.total_bytes + NST_ARENA_ALIGNMENT - 1) / NST_ARENA_ALIGNMENT * NST_ARENA_ALIGNMENT;
	arena = aligned_alloc(NST_ARENA_ALIGNMENT, arena_bytes);
	result = malloc((size_t)plan_area * RGB);
	if (c->raw)
		raw = malloc((size_t)plan_area * RGB * sizeof(float));
	if (!arena || !result || (c->raw && !raw)) {
		rc = cli_fail(EXIT_MEMORY, "cannot allocate the %.1f MiB the run needs", (double)plan.total_bytes / MIB);
		goto done;
	}
	if ((st = nst_fast_init(arena, arena_bytes, weights, plan_w, plan_h, c->threads, c->backend, c->precision,
	                        &session, &diag)) != NST_OK) {
		rc = cli_fail_status(st, &diag, "init");
		goto done;
	}
	nst_weights_close(weights); /* packed into the arena */
	weights = NULL;

	for (int i = 0; i < list.n; i++) {
		const struct input *in = &list.items[i];
		if ((rc = load_input(c, in, &stdin_img, &img)) != EXIT_OK)
			goto done;
		const double t0 = cli_now_seconds();
		st = nst_fast_run(session, img.width, img.height, img.rgb, result, c->strength);
		const double ms = (cli_now_seconds() - t0) * MS_PER_S;
		if (st != NST_OK) {
			rc = cli_fail_status(st, NULL, in->path);
			goto done;
		}
		if (c->raw) {
			nst_fast_run_raw(session, img.width, img.height, img.rgb, raw);
			if ((rc = write_raw(c->raw, raw, (size_t)img.width * (size_t)img.height * RGB)) != EXIT_OK)
				goto done;
		}
		const struct nst_image out = {img.width, img.height, result};
		if ((st = nst_image_save(in->output, &out, c->jpeg_quality, &diag)) != NST_OK) {
			rc = cli_fail_status(st, &diag, in->output);
			goto done;
		}
		if (!c->quiet)
			fprintf(stderr, "nst: wrote %s (%dx%d, %.1f ms)\n", !strcmp(in->output, "-") ? "standard output" : in->output,
			        img.width, img.height, ms);
		if (c->bench && (rc = bench(c, session, in, &img, result)) != EXIT_OK)
			goto done;
		nst_image_free(&img);
	}

done:
	nst_fast_release(session);
	free(arena);
	free(result);
	free(raw);
	nst_weights_close(weights);
	nst_image_free(&img);
	nst_image_free(&stdin_img);
	free_inputs(&list);
	return rc;
}

int nst_cli_fast(int argc, char **argv) {
	struct fast_cli c = {0};
	c.format = DEFAULT_FORMAT;
	c.strength = 1.0f;
	c.jpeg_quality = DEFAULT_JPEG_QUALITY;
	c.backend = NST_BACKEND_AUTO;
	c.contents = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *c.contents); /* at most one per argument */
	if (!c.contents)
		return cli_fail(EXIT_MEMORY, "out of memory");
	int rc = parse_args(&c, argc, argv);
	if (rc == EXIT_OK)
		rc = run(&c);
	else if (rc < 0)
		rc = EXIT_OK; /* --help */
	free(c.contents);
	return rc;
}
