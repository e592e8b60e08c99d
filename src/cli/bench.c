/*
 * nst bench: how fast and how much memory, on this machine, for each picture size, backend and
 * thread count.  Every configuration runs in a child process so that its peak RSS is its own, and
 * every row is printed (and written to --json) as soon as it is measured, so that a run stopped by
 * Ctrl-C, SIGTERM, SIGHUP or a timeout keeps what it measured (the JSON is closed with
 * "interrupted": true, and the exit code is 130).
 *
 *   nst bench [--sizes 128,256] [--threads N] [--backends simd,xnnpack] [--iterations 3] [--warmup 1]
 *             [--conv-size 128] [--json FILE] [--weights FILE] [--optimizer adam|lbfgs]
 *             [--model candy|FILE|none] [--pictures 5] [--frames 256x144,320x240,640x360|none]
 *             [--full] [--dry-run]
 *
 * Sections: the GEMM microkernel's L1-resident peak; the plan and its estimated duration (from that
 * peak); every VGG layer's convolution alone; whole optimization iterations; the feed-forward
 * mode's time per picture (--model); the arbitrary-style network's per video frame (--frames), its
 * painting encoded once and again with every frame; the stream path's frames per second (YUV 4:2:0
 * to RGB, the network, back to YUV, in memory: what nst --model -c - -o - does per frame) for the
 * model and the arbitrary network at the --frames sizes, 1 and 2 threads.  The defaults are sized to take about a minute on a
 * Raspberry Pi 4: the usable CPUs' thread count only, 128 and 256 px, the backends but scalar, the
 * layers of the default run; --full measures every backend (scalar too), thread counts 1, 2, 4, ..
 * and 512 px.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../frames.h"
#include "cli.h"
#include "nst.h"

#define MAX_LIST 8
#define MAX_TIMED 64
#define STR_(x) #x
#define STR(x) STR_(x) /* a limit in a message */
#define DEFAULT_ITERATIONS 3
#define DEFAULT_WARMUP 1
#define DEFAULT_CONV_SIZE 128
#define FULL_CONV_SIZE 256
#define DEFAULT_MODEL "candy"
#define DEFAULT_PICTURES 5
/* The arbitrary-style section's frames: 16:9 and 4:3 camera sizes a board can stylize live. */
#define DEFAULT_FRAME_WIDTHS {256, 320, 640}
#define DEFAULT_FRAME_HEIGHTS {144, 240, 360}
#define DEFAULT_FRAMES 3
#define DEFAULT_SIZES {128, 256}
#define FULL_SIZES {128, 256, 512}
/* The defaults' duration target: sizes are left out, largest first, until the estimate is within it. */
#define DEFAULT_BUDGET_SECONDS 60.0
/* The estimate: the fraction of the microkernel's peak each part reaches (whole iterations 0.6 to
 * 0.75 on the development machine, less on the boards' memory; single convolutions more; the
 * feed-forward mode's direct FLOPs count more multiplies than its Winograd kernels do), and a
 * child's start (the weights read and checked, the session planned and packed). */
#define ESTIMATE_ITERATION_SHARE 0.5
#define ESTIMATE_CONV_SHARE 0.7
#define ESTIMATE_PICTURE_SHARE 0.8
#define ESTIMATE_CHILD_SECONDS 0.2
#define ESTIMATE_READ_BYTES_PER_SECOND 2e8
#define MS_PER_S 1000.0
/* The XNNPACK this was built against (the Makefile: Debian's package version), "" if unknown. */
#if !defined(NST_HAVE_XNNPACK)
#define XNNPACK_VERSION "not built in"
#elif defined(NST_XNNPACK_VERSION)
#define XNNPACK_VERSION (NST_XNNPACK_VERSION[0] ? NST_XNNPACK_VERSION : "unknown")
#else
#define XNNPACK_VERSION "unknown"
#endif
#define LINE_BYTES 512
#define NUMBER_BYTES 32
#define EXIT_STOPPED 130

/* The signal that stopped the run (SIGINT, SIGTERM, SIGHUP), 0 while it runs. */
static volatile sig_atomic_t g_bench_stop;

struct bench_options {
	int sizes[MAX_LIST], n_sizes;
	int threads[MAX_LIST], n_threads;
	enum nst_backend backends[MAX_LIST];
	enum nst_precision precisions[MAX_LIST]; /* per backend entry: fp16 only with xnnpack */
	int n_backends;
	int iterations, warmup, conv_size;
	enum nst_optimizer optimizer;
	const char *json, *weights;
	const char *model;          /* feed-forward model: a name, a file, or NULL (skip) */
	bool model_given;           /* --model on the command line: a missing model is an error */
	int pictures;               /* timed feed-forward pictures */
	bool full;                  /* --full: every backend, thread count and size, every layer */
	bool dry_run;               /* --dry-run: the plan and its estimate only */
	bool sizes_given, threads_given, backends_given, conv_size_given;
	const char *arbitrary;      /* the arbitrary-style network's file, or NULL (skip) */
	int frame_w[MAX_LIST], frame_h[MAX_LIST], n_frames; /* its frame sizes */
	int n_stream_frames;        /* the stream section's: the first of them (the defaults: fewer to stay in budget) */
	bool frames_given;
};

enum bench_kind { BENCH_ITERATION, BENCH_PICTURE, BENCH_CONV, BENCH_FRAME, BENCH_STREAM };

/* What a child reports through its pipe. */
struct bench_result {
	int status;                 /* enum nst_status */
	char message[256];
	size_t plan_bytes;
	double seconds[MAX_TIMED];  /* per timed iteration (or feed-forward picture; BENCH_FRAME: the frame alone) */
	double with_painting[MAX_TIMED]; /* BENCH_FRAME: the painting encoded again, then the frame;
	                                    BENCH_STREAM: the YUV conversions alone */
	int timed;
	struct nst_profile profile;
	double flops;               /* forward + backward per iteration; per picture (as direct convolutions) */
	double wall;                /* the whole profiled run (the timed iterations and a last forward pass) */
	double forward_gflops, backward_gflops; /* BENCH_CONV: one layer alone, im2col + GEMM */
	double wino_forward_gflops, wino_backward_gflops; /* ... by Winograd, if the optimization runs it so */
	int winograd_tile;          /* that Winograd's F(m x m, 3x3), 0: none */
};

/* One configuration for a child. */
struct child_job {
	enum bench_kind kind;
	int size;                   /* the picture's side (BENCH_CONV: the layer's input side) */
	enum nst_backend backend;
	enum nst_precision precision;
	int threads;
	int in_channels, out_channels; /* BENCH_CONV */
	int height;                 /* BENCH_FRAME, BENCH_STREAM: the frame is size x height */
	bool arbitrary;             /* BENCH_STREAM: the arbitrary network (else the model) */
	int block;                  /* BENCH_CONV: the layer's VGG block (1: the picture's resolution) */
};

/* Single-convolution results at conv_size: [layer][backend entry][threads], GFLOP/s (0: not measured). */
struct conv_table {
	int n_layers;
	double forward[NST_PROFILE_MAX_LAYERS][MAX_LIST][MAX_LIST];
	double backward[NST_PROFILE_MAX_LAYERS][MAX_LIST][MAX_LIST];
	/* as the optimization runs the layer: Winograd's figures where it uses Winograd */
	double run_forward[NST_PROFILE_MAX_LAYERS][MAX_LIST][MAX_LIST];
	double run_backward[NST_PROFILE_MAX_LAYERS][MAX_LIST][MAX_LIST];
};

/* What the parent learns from the weights before any child runs: the layers of the
 * single-convolution section and the FLOPs of each size (for the estimate). */
struct bench_work {
	bool known;                 /* the weights opened */
	char why[LINE_BYTES];       /* else why not */
	double weights_bytes;
	int n_conv;
	struct nst_layer_info conv[NST_PROFILE_MAX_LAYERS];
	int conv_side[NST_PROFILE_MAX_LAYERS]; /* each layer's picture side at conv_size */
	double iteration_flops[MAX_LIST];      /* per size: one forward + backward pass */
	double picture_flops[MAX_LIST];        /* per size: one feed-forward picture (0: no model) */
	double stream_flops[MAX_LIST][2];      /* per frame size: the model's and the arbitrary network's frame */
};

static int parse_backends(const char *arg, struct bench_options *o) {
	char buf[LINE_BYTES];
	snprintf(buf, sizeof buf, "%s", arg);
	o->n_backends = 0;
	for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
		enum nst_backend b;
		enum nst_precision prec = NST_PRECISION_FP32;
		if (!strcmp(t, "xnnpack-fp16")) {
			b = NST_BACKEND_XNNPACK;
			prec = NST_PRECISION_FP16;
		} else if (!strcmp(t, "simd-fp16")) { /* feed-forward pictures only */
			b = NST_BACKEND_SIMD;
			prec = NST_PRECISION_FP16;
		} else if (!strcmp(t, "scalar-fp16")) {
			b = NST_BACKEND_SCALAR;
			prec = NST_PRECISION_FP16;
		} else if (!strcmp(t, "scalar"))
			b = NST_BACKEND_SCALAR;
		else if (!strcmp(t, "simd"))
			b = NST_BACKEND_SIMD;
		else if (!strcmp(t, "xnnpack"))
			b = NST_BACKEND_XNNPACK;
		else
			return -1;
		if (o->n_backends == MAX_LIST)
			return -1;
		o->precisions[o->n_backends] = prec;
		o->backends[o->n_backends++] = b;
	}
	return o->n_backends;
}

/* The engine's float16 GEMMs run the feed-forward networks only (the optimization's fp16 is
 * XNNPACK's): such an entry has no whole-iteration or single-convolution figures. */
static bool pictures_only(const struct bench_options *o, int b) {
	return o->precisions[b] == NST_PRECISION_FP16 && o->backends[b] != NST_BACKEND_XNNPACK;
}

struct timing {
	double stamps[MAX_TIMED + 4];
	int rows;
};

static bool on_row(void *user, const struct nst_progress *p) {
	struct timing *t = user;
	if (t->rows < MAX_TIMED + 4)
		t->stamps[t->rows++] = p->seconds;
	return true;
}

/* A failed child's status and its reason, for the parent's row. */
static void set_failure(struct bench_result *r, enum nst_status st, const struct nst_diag *diag) {
	r->status = st;
	const char *why = diag->message[0] ? diag->message : nst_status_string(st);
	const size_t len = strnlen(why, sizeof r->message - 1);
	memcpy(r->message, why, len);
	r->message[len] = '\0';
}

/* The child: one configuration, synthetic pictures (speed does not depend on their content). */
static void run_config(const struct bench_options *o, int size, enum nst_backend backend,
                       enum nst_precision precision, int threads, struct bench_result *r) {
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	memset(r, 0, sizeof *r);
	enum nst_status st = nst_weights_open(o->weights, &w, &diag);
	if (st != NST_OK)
		goto fail;
	struct nst_options opt;
	nst_options_default(&opt);
	nst_options_network_defaults(&opt, w, 0); /* the run `nst -c -s -o` makes with this network */
	opt.tolerance = 0.0f;                     /* every timed iteration runs */
	opt.backend = backend;
	opt.precision = precision;
	opt.threads = threads;
	opt.optimizer = o->optimizer;
	struct nst_problem p = {size, size, 1, {size}, {size}};
	struct nst_plan plan;
	if ((st = nst_plan(w, &opt, &p, &plan, &diag)) != NST_OK)
		goto fail;
	if (plan.precision != precision) {
		st = NST_ERR_UNSUPPORTED;
		snprintf(diag.message, sizeof diag.message, "%s", plan.notice ? plan.notice : "precision not available");
		goto fail;
	}
	r->plan_bytes = plan.total_bytes;
	r->flops = plan.forward_flops + plan.backward_flops;
	void *arena = aligned_alloc(NST_ARENA_ALIGNMENT, (plan.total_bytes + 63) / 64 * 64);
	uint8_t *rgb = malloc((size_t)size * (size_t)size * 3);
	if (!arena || !rgb) {
		st = NST_ERR_OUT_OF_MEMORY;
		goto fail;
	}
	struct nst_session *s;
	if ((st = nst_session_init(arena, plan.total_bytes, w, &opt, &p, &s, &diag)) != NST_OK)
		goto fail;
	for (size_t i = 0; i < (size_t)size * (size_t)size * 3; i++)
		rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
	nst_session_set_content(s, rgb);
	for (size_t i = 0; i < (size_t)size * (size_t)size * 3; i++)
		rgb[i] = (uint8_t)((i * 40503u + 7) >> 8);
	nst_session_set_style(s, 0, rgb, 1.0f);
	nst_session_prepare(s);
	/* Warm-up iterations, then the timed ones; the run's last row is a forward pass only. */
	struct timing t = {{0}, 0};
	if ((st = nst_session_run(s, o->warmup, NULL, NULL)) != NST_OK)
		goto fail;
	nst_session_profile(s, NULL, true);
	nst_session_restart(s);
	const double wall0 = nst_seconds();
	/* One iteration more than timed: the run's last interval ends in a forward pass only. */
	if ((st = nst_session_run(s, o->iterations + 1, on_row, &t)) != NST_OK)
		goto fail;
	r->wall = nst_seconds() - wall0;
	nst_session_profile(s, &r->profile, false);
	for (int i = 0; i + 1 < t.rows && r->timed < MAX_TIMED && i < o->iterations; i++)
		r->seconds[r->timed++] = t.stamps[i + 1] - t.stamps[i];
	nst_session_release(s);
	free(arena);
	free(rgb);
	nst_weights_close(w);
	r->status = NST_OK;
	return;
fail:
	set_failure(r, st, &diag);
	nst_weights_close(w);
}

/* The side of the synthetic painting of the arbitrary-style section. */
#define BENCH_PAINTING_SIDE 256
/* The stream section: at most this many timed frames per row (the --pictures count otherwise),
 * and its thread counts when --threads does not give them. */
#define STREAM_MAX_TIMED 3
#define STREAM_THREADS {1, 2}

/* [n][3] bytes of a fixed pseudo-random picture (speed does not depend on its content). */
static void synthetic(uint8_t *rgb, size_t n, unsigned salt) {
	for (size_t i = 0; i < n * 3; i++)
		rgb[i] = (uint8_t)(((i + salt) * 2654435761u) >> 24);
}

/* The child of the arbitrary-style section: one frame size, backend and thread count; the painting
 * encoded once, warm-up frames, then each timed frame alone and each with the painting again. */
static void run_frame_config(const struct bench_options *o, int width, int height, enum nst_backend backend,
                             enum nst_precision precision, int threads, struct bench_result *r) {
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	void *arena = NULL;
	uint8_t *rgb = malloc((size_t)width * (size_t)height * 3), *paint = malloc(BENCH_PAINTING_SIDE * BENCH_PAINTING_SIDE * 3);
	struct nst_arbitrary_session *s = NULL;
	memset(r, 0, sizeof *r);
	enum nst_status st = rgb && paint ? nst_weights_open(o->arbitrary, &w, &diag) : NST_ERR_OUT_OF_MEMORY;
	struct nst_arbitrary_plan plan;
	if (st == NST_OK)
		st = nst_arbitrary_plan(w, width, height, BENCH_PAINTING_SIDE, BENCH_PAINTING_SIDE, threads, backend, precision,
		                        &plan, &diag);
	if (st == NST_OK && plan.precision != precision) {
		st = NST_ERR_UNSUPPORTED;
		snprintf(diag.message, sizeof diag.message, "%s", plan.notice ? plan.notice : "precision not available");
	}
	if (st == NST_OK) {
		r->plan_bytes = plan.total_bytes;
		r->flops = plan.flops;
		arena = aligned_alloc(NST_ARENA_ALIGNMENT, (plan.total_bytes + 63) / 64 * 64);
		st = arena ? nst_arbitrary_init(arena, plan.total_bytes, w, width, height, BENCH_PAINTING_SIDE,
		                                BENCH_PAINTING_SIDE, threads, backend, precision, &s, &diag)
		           : NST_ERR_OUT_OF_MEMORY;
	}
	nst_weights_close(w);
	if (st == NST_OK) {
		synthetic(rgb, (size_t)width * (size_t)height, 0);
		synthetic(paint, BENCH_PAINTING_SIDE * BENCH_PAINTING_SIDE, 1);
		const struct nst_image painting = {BENCH_PAINTING_SIDE, BENCH_PAINTING_SIDE, paint};
		st = nst_arbitrary_set_style(s, 1, &painting, NULL, &diag);
		for (int i = 0; i < o->warmup + o->pictures && st == NST_OK; i++) {
			const double t0 = nst_seconds();
			st = nst_arbitrary_run(s, width, height, rgb, 1.0f, rgb);
			const double t1 = nst_seconds();
			if (st == NST_OK)
				st = nst_arbitrary_set_style(s, 1, &painting, NULL, &diag);
			if (st == NST_OK)
				st = nst_arbitrary_run(s, width, height, rgb, 1.0f, rgb);
			if (i >= o->warmup && r->timed < MAX_TIMED) {
				r->seconds[r->timed] = t1 - t0;
				r->with_painting[r->timed++] = nst_seconds() - t1;
			}
		}
	}
	nst_arbitrary_release(s);
	free(arena);
	free(rgb);
	free(paint);
	if (st != NST_OK)
		set_failure(r, st, &diag);
	else
		r->status = NST_OK;
}

/* The child of the stream section: one network, frame size and thread count; a synthetic 4:2:0
 * frame converted to RGB, stylized and converted back per frame, as nst's stream path does. */
static void run_stream_config(const struct bench_options *o, const struct child_job *job, struct bench_result *r) {
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	struct nst_fast_session *fast = NULL;
	struct nst_arbitrary_session *arb = NULL;
	void *arena = NULL;
	const int width = job->size, height = job->height;
	const size_t pixels = (size_t)width * (size_t)height, yuv_bytes = nst_yuv_frame_bytes(width, height, NST_CHROMA_420JPEG);
	uint8_t *yuv = malloc(yuv_bytes), *rgb = malloc(pixels * 3), *out = malloc(pixels * 3);
	uint8_t *paint = malloc(BENCH_PAINTING_SIDE * BENCH_PAINTING_SIDE * 3);
	float *scratch = malloc(nst_yuv_scratch_floats(width, height) * sizeof(float));
	memset(r, 0, sizeof *r);
	enum nst_status st = yuv && rgb && out && paint && scratch ? nst_weights_open(job->arbitrary ? o->arbitrary : o->model, &w, &diag)
	                                                            : NST_ERR_OUT_OF_MEMORY;
	size_t bytes = 0;
	if (st == NST_OK && job->arbitrary) {
		struct nst_arbitrary_plan plan;
		st = nst_arbitrary_plan(w, width, height, BENCH_PAINTING_SIDE, BENCH_PAINTING_SIDE, job->threads, job->backend,
		                        job->precision, &plan, &diag);
		bytes = plan.total_bytes;
		r->flops = plan.flops;
	} else if (st == NST_OK) {
		struct nst_fast_plan plan;
		st = nst_fast_plan(w, width, height, job->threads, job->backend, job->precision, &plan, &diag);
		bytes = plan.total_bytes;
		r->flops = plan.flops;
	}
	if (st == NST_OK) {
		r->plan_bytes = bytes;
		arena = aligned_alloc(NST_ARENA_ALIGNMENT, (bytes + 63) / 64 * 64);
		if (!arena)
			st = NST_ERR_OUT_OF_MEMORY;
		else if (job->arbitrary)
			st = nst_arbitrary_init(arena, bytes, w, width, height, BENCH_PAINTING_SIDE, BENCH_PAINTING_SIDE, job->threads,
			                        job->backend, job->precision, &arb, &diag);
		else
			st = nst_fast_init(arena, bytes, w, width, height, job->threads, job->backend, job->precision, &fast, &diag);
	}
	nst_weights_close(w);
	if (st == NST_OK && arb) {
		synthetic(paint, BENCH_PAINTING_SIDE * BENCH_PAINTING_SIDE, 1);
		const struct nst_image painting = {BENCH_PAINTING_SIDE, BENCH_PAINTING_SIDE, paint};
		st = nst_arbitrary_set_style(arb, 1, &painting, NULL, &diag);
	}
	if (st == NST_OK) {
		memset(yuv, 128, yuv_bytes);
		synthetic(yuv, pixels / 3, 2); /* the luma (the speed does not depend on the content) */
		const int timed = o->pictures < STREAM_MAX_TIMED ? o->pictures : STREAM_MAX_TIMED;
		for (int i = 0; i < o->warmup + timed && st == NST_OK; i++) {
			const double t0 = nst_seconds();
			nst_yuv_to_rgb(yuv, width, height, NST_CHROMA_420JPEG, NST_RANGE_LIMITED, rgb);
			const double t1 = nst_seconds();
			st = arb ? nst_arbitrary_run(arb, width, height, rgb, 1.0f, out) : nst_fast_run(fast, width, height, rgb, out, 1.0f);
			const double t2 = nst_seconds();
			nst_rgb_to_yuv(out, width, height, NST_CHROMA_420JPEG, NST_RANGE_LIMITED, yuv, scratch);
			const double t3 = nst_seconds();
			if (i >= o->warmup && r->timed < MAX_TIMED) {
				r->seconds[r->timed] = t3 - t0;
				r->with_painting[r->timed++] = (t1 - t0) + (t3 - t2);
			}
		}
	}
	nst_fast_release(fast);
	nst_arbitrary_release(arb);
	free(arena);
	free(yuv);
	free(rgb);
	free(out);
	free(paint);
	free(scratch);
	if (st != NST_OK)
		set_failure(r, st, &diag);
	else
		r->status = NST_OK;
}

/* The child of the feed-forward section: one model, size, backend and thread count; warm-up
 * pictures, then each timed picture alone (a synthetic picture: the time does not depend on it). */
static void run_fast_config(const struct bench_options *o, int size, enum nst_backend backend,
                            enum nst_precision precision, int threads, struct bench_result *r) {
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	void *arena = NULL;
	uint8_t *rgb = NULL;
	memset(r, 0, sizeof *r);
	enum nst_status st = nst_weights_open(o->model, &w, &diag);
	if (st != NST_OK)
		goto fail;
	struct nst_fast_plan plan;
	if ((st = nst_fast_plan(w, size, size, threads, backend, precision, &plan, &diag)) != NST_OK)
		goto fail;
	if (plan.precision != precision) {
		st = NST_ERR_UNSUPPORTED;
		snprintf(diag.message, sizeof diag.message, "%s", plan.notice ? plan.notice : "precision not available");
		goto fail;
	}
	r->plan_bytes = plan.total_bytes;
	r->flops = plan.flops;
	arena = aligned_alloc(NST_ARENA_ALIGNMENT, (plan.total_bytes + 63) / 64 * 64);
	rgb = malloc((size_t)size * (size_t)size * 3); /* [size][size][3] */
	if (!arena || !rgb) {
		st = NST_ERR_OUT_OF_MEMORY;
		goto fail;
	}
	struct nst_fast_session *s;
	if ((st = nst_fast_init(arena, plan.total_bytes, w, size, size, threads, backend, precision, &s, &diag)) != NST_OK)
		goto fail;
	nst_weights_close(w);
	w = NULL;
	for (size_t i = 0; i < (size_t)size * (size_t)size * 3; i++)
		rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
	for (int i = 0; i < o->warmup + o->pictures && st == NST_OK; i++) {
		const double t0 = nst_seconds();
		st = nst_fast_run(s, size, size, rgb, rgb, 1.0f);
		if (i >= o->warmup && r->timed < MAX_TIMED)
			r->seconds[r->timed++] = nst_seconds() - t0;
	}
	nst_fast_release(s);
	if (st != NST_OK)
		goto fail;
	free(arena);
	free(rgb);
	r->status = NST_OK;
	return;
fail:
	set_failure(r, st, &diag);
	nst_weights_close(w);
	free(arena);
	free(rgb);
}

static void machine(char *cpu, size_t size) {
	snprintf(cpu, size, "unknown CPU");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return;
	char line[LINE_BYTES];
	while (fgets(line, sizeof line, f)) {
		const char *keys[] = {"model name", "Model", "Hardware", "CPU part"};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			if (!strncmp(line, keys[k], strlen(keys[k]))) {
				const char *colon = strchr(line, ':');
				if (colon) {
					snprintf(cpu, size, "%s", colon + 2);
					cpu[strcspn(cpu, "\n")] = '\0';
					fclose(f);
					return;
				}
			}
	}
	fclose(f);
}

static void on_stop(int sig) { g_bench_stop = sig; }

static bool stopped(void) { return g_bench_stop != 0; }

/* The child's measurement: one iteration configuration, one feed-forward one, or one layer alone. */
static void run_job(const struct bench_options *o, const struct child_job *job, struct bench_result *r) {
	memset(r, 0, sizeof *r);
	if (job->kind == BENCH_PICTURE) {
		run_fast_config(o, job->size, job->backend, job->precision, job->threads, r);
	} else if (job->kind == BENCH_FRAME) {
		run_frame_config(o, job->size, job->height, job->backend, job->precision, job->threads, r);
	} else if (job->kind == BENCH_STREAM) {
		run_stream_config(o, job, r);
	} else if (job->kind == BENCH_ITERATION) {
		run_config(o, job->size, job->backend, job->precision, job->threads, r);
	} else {
		r->winograd_tile = nst_bench_winograd_tile(job->backend, job->block, job->in_channels, job->out_channels);
		const enum nst_status st = nst_bench_conv(job->backend, job->threads, job->size, job->size, job->in_channels,
		                                          job->out_channels, r->winograd_tile, &r->forward_gflops,
		                                          &r->backward_gflops, &r->wino_forward_gflops, &r->wino_backward_gflops);
		const struct nst_diag none = {{0}};
		if (st != NST_OK)
			set_failure(r, st, &none);
	}
}

/* Runs one job in a child process; returns its peak RSS in bytes (0 on failure, r then says why).
 * A stop signal while it runs ends the child too. */
static size_t run_child(const struct bench_options *o, const struct child_job *job, struct bench_result *r) {
	memset(r, 0, sizeof *r);
	r->status = NST_ERR_IO;
	int fd[2];
	if (pipe(fd) != 0) {
		snprintf(r->message, sizeof r->message, "cannot start a benchmark process: %s", strerror(errno));
		return 0;
	}
	fflush(stdout);
	fflush(stderr);
	const pid_t pid = fork();
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(fd[0]);
		struct bench_result *res = calloc(1, sizeof *res);
		if (res) {
			run_job(o, job, res);
			const char *p = (const char *)res;
			size_t left = sizeof *res;
			while (left > 0) {
				const ssize_t n = write(fd[1], p, left);
				if (n <= 0)
					break;
				p += n;
				left -= (size_t)n;
			}
		}
		_exit(0);
	}
	close(fd[1]);
	char *p = (char *)r;
	size_t got = 0;
	while (pid > 0 && got < sizeof *r) {
		const ssize_t n = read(fd[0], p + got, sizeof *r - got);
		if (n < 0 && errno == EINTR && !stopped())
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd[0]);
	if (pid > 0 && stopped())
		kill(pid, SIGKILL);
	struct rusage ru;
	int wstatus = 0;
	while (pid > 0 && wait4(pid, &wstatus, 0, &ru) < 0 && errno == EINTR) {
	}
	if (pid <= 0 || got != sizeof *r) {
		memset(r, 0, sizeof *r);
		r->status = stopped() ? NST_ERR_INTERRUPTED : NST_ERR_IO;
		snprintf(r->message, sizeof r->message, "%s",
		         stopped() ? "interrupted" : pid <= 0 ? "cannot start a benchmark process" : "the benchmark process died");
		return 0;
	}
	return (size_t)ru.ru_maxrss * 1024u;
}

/* A JSON number, or null for what was not measured (v <= 0 or not finite). */
static const char *json_number(char *buf, double v, const char *fmt) {
	if (!(v > 0.0) || !isfinite(v))
		return "null";
	snprintf(buf, NUMBER_BYTES, fmt, v);
	return buf;
}

static void print_list(const char *what, const int *v, int n) {
	printf("%s", what);
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", v[i]);
}

static void print_backends(const struct bench_options *o) {
	for (int b = 0; b < o->n_backends; b++)
		printf("%s%s%s", b ? "," : "", nst_backend_name(o->backends[b]),
		       o->precisions[b] == NST_PRECISION_FP16 ? "-fp16" : "");
}

/* The layers the default run evaluates: up to its deepest loss layer (convB_I for reluB_I). */
static int default_stack_layers(const struct nst_weights *w) {
	struct nst_options d;
	nst_options_default(&d);
	nst_options_network_defaults(&d, w, 0);
	int deepest = -1;
	for (int kind = 0; kind < 2; kind++)
		for (int i = 0; i < (kind ? d.n_style_layers : d.n_content_layers); i++) {
			const char *name = kind ? d.style_layers[i] : d.content_layers[i];
			char conv[NST_LAYER_NAME_BYTES];
			snprintf(conv, sizeof conv, "conv%s", name + strlen("relu"));
			const int k = nst_weights_find(w, conv);
			if (k > deepest)
				deepest = k;
		}
	return deepest + 1;
}

/* The layers and FLOPs of what will run, read in this process (the weights are freed before any
 * child starts, so that the children's RSS stays their own). */
static void describe_work(const struct bench_options *o, struct bench_work *wk) {
	memset(wk, 0, sizeof *wk);
	struct nst_diag diag = {{0}};
	struct nst_weights *w = NULL;
	if (nst_weights_open(o->weights, &w, &diag) != NST_OK) {
		snprintf(wk->why, sizeof wk->why, "%s", diag.message);
		return;
	}
	wk->known = true;
	wk->weights_bytes = (double)nst_weights_file_bytes(w);
	const int stack = o->full ? nst_weights_layer_count(w) : default_stack_layers(w);
	int side = o->conv_size, block = 1;
	for (int i = 0; i < stack && wk->n_conv < NST_PROFILE_MAX_LAYERS && o->conv_size > 0; i++) {
		struct nst_layer_info L;
		nst_weights_layer(w, i, &L);
		if (L.tap) /* a 1x1 head beside the trunk: the trunk's sides go on without it */
			continue;
		const int lb = atoi(L.name + strlen("conv"));
		if (lb != block) {
			side /= 2;
			block = lb;
		}
		if (side < 1)
			break;
		wk->conv[wk->n_conv] = L;
		wk->conv_side[wk->n_conv++] = side;
	}
	struct nst_options opt;
	nst_options_default(&opt);
	nst_options_network_defaults(&opt, w, 0);
	opt.backend = NST_BACKEND_SCALAR; /* the FLOPs do not depend on it; nothing is measured */
	opt.threads = 1;
	opt.optimizer = o->optimizer;
	for (int si = 0; si < o->n_sizes; si++) {
		const int s = o->sizes[si];
		const struct nst_problem p = {s, s, 1, {s}, {s}};
		struct nst_plan plan;
		if (nst_plan(w, &opt, &p, &plan, &diag) == NST_OK)
			wk->iteration_flops[si] = plan.forward_flops + plan.backward_flops;
	}
	nst_weights_close(w);
	if (o->model && nst_weights_open(o->model, &w, &diag) == NST_OK) {
		for (int si = 0; si < o->n_sizes; si++) {
			struct nst_fast_plan plan;
			if (nst_fast_plan(w, o->sizes[si], o->sizes[si], 1, NST_BACKEND_SCALAR, NST_PRECISION_FP32, &plan, &diag) ==
			    NST_OK)
				wk->picture_flops[si] = plan.flops;
		}
		for (int f = 0; f < o->n_frames; f++) {
			struct nst_fast_plan plan;
			if (nst_fast_plan(w, o->frame_w[f], o->frame_h[f], 1, NST_BACKEND_SCALAR, NST_PRECISION_FP32, &plan, &diag) == NST_OK)
				wk->stream_flops[f][0] = plan.flops;
		}
		nst_weights_close(w);
	}
	if (o->arbitrary && nst_weights_open(o->arbitrary, &w, &diag) == NST_OK) {
		for (int f = 0; f < o->n_frames; f++) {
			struct nst_arbitrary_plan plan;
			if (nst_arbitrary_plan(w, o->frame_w[f], o->frame_h[f], BENCH_PAINTING_SIDE, BENCH_PAINTING_SIDE, 1,
			                       NST_BACKEND_SCALAR, NST_PRECISION_FP32, &plan, &diag) == NST_OK)
				wk->stream_flops[f][1] = plan.flops;
		}
		nst_weights_close(w);
	}
}

/* The seconds one computation of `flops` takes at share of a peak (the fastest measured one at
 * that thread count when the backend's own was not measured). */
static double at_peak(double flops, double peak, double fallback, double share) {
	const double rate = (peak > 0.0 ? peak : fallback) * 1e9 * share;
	return rate > 0.0 ? flops / rate : 0.0;
}

/* A VGG layer's block, from its name "convB_I". */
static int layer_block(const struct nst_layer_info *L) {
	return atoi(L->name + strlen("conv"));
}

/* The estimated seconds of everything after the peak, from the peak measured per backend entry
 * and thread count. */
static double estimate_seconds(const struct bench_options *o, const struct bench_work *wk,
                               double peak[MAX_LIST][MAX_LIST]) {
	double total = 0.0;
	for (int t = 0; t < o->n_threads; t++) {
		double best = 0.0;
		for (int b = 0; b < o->n_backends; b++)
			best = fmax(best, peak[b][t]);
		for (int b = 0; b < o->n_backends; b++) {
			const double child = ESTIMATE_CHILD_SECONDS + wk->weights_bytes / ESTIMATE_READ_BYTES_PER_SECOND;
			for (int l = 0; l < wk->n_conv && o->precisions[b] == NST_PRECISION_FP32; l++) {
				const double flops = 2.0 * wk->conv_side[l] * wk->conv_side[l] *
				                     (double)(wk->conv[l].kernel_h * wk->conv[l].kernel_w) * wk->conv[l].in_channels *
				                     wk->conv[l].out_channels;
				const double one = at_peak(flops, peak[b][t], best, ESTIMATE_CONV_SHARE);
				/* two directions (twice: by Winograd too, where the optimization uses it): a warm-up, then
				 * NST_BENCH_CONV_MIN_REPEATS and NST_BENCH_CONV_MIN_SECONDS at least */
				const int ways = nst_bench_winograd_tile(o->backends[b], layer_block(&wk->conv[l]), wk->conv[l].in_channels,
				                                         wk->conv[l].out_channels) ? 2 : 1;
				total += ESTIMATE_CHILD_SECONDS +
				         2.0 * ways * (one + fmax(NST_BENCH_CONV_MIN_REPEATS * one, NST_BENCH_CONV_MIN_SECONDS));
			}
			for (int si = 0; si < o->n_sizes; si++) {
				if (!pictures_only(o, b))
					total += child + (o->warmup + o->iterations + 1) *
					                     at_peak(wk->iteration_flops[si], peak[b][t], best, ESTIMATE_ITERATION_SHARE);
				if (o->model && o->backends[b] != NST_BACKEND_XNNPACK)
					total += ESTIMATE_CHILD_SECONDS +
					         (o->warmup + o->pictures) *
					             at_peak(wk->picture_flops[si], peak[b][t], best, ESTIMATE_PICTURE_SHARE);
			}
		}
	}
	return total;
}

/* A whole iteration's GFLOP/s over what its convolutions would reach at their single-convolution
 * speeds (the same backend and threads, at conv_size == size): the time each layer's forward and
 * backward FLOPs take at its measured GFLOP/s.  0 when there is nothing to compare with. */
static double vs_single_convs(const struct bench_result *r, const struct conv_table *conv, int b, int t) {
	double seconds = 0.0, flops = 0.0;
	for (int l = 0; l < r->profile.n_layers; l++) {
		const struct nst_layer_profile *L = &r->profile.layers[l];
		if (l >= conv->n_layers || conv->run_forward[l][b][t] <= 0.0 || conv->run_backward[l][b][t] <= 0.0)
			return 0.0;
		seconds += L->forward_flops / (conv->run_forward[l][b][t] * 1e9) +
		           L->backward_flops / (conv->run_backward[l][b][t] * 1e9);
		flops += L->forward_flops + L->backward_flops;
	}
	return seconds > 0.0 ? flops / seconds * 1e-9 : 0.0;
}

/* Whether a backend's single-convolution cells have a Winograd column beside them: the engine's
 * SIMD kernels (the scalar backend and XNNPACK run every layer direct). */
static bool winograd_column(enum nst_backend backend) {
	return nst_bench_winograd_tile(backend, 2, 64, 64) != 0;
}

/* The single-convolution section: every layer of wk at its side, for each fp32 backend entry and
 * thread count, each cell printed when measured. */
static void bench_convs(const struct bench_options *o, const struct bench_work *wk, struct conv_table *table, FILE *json) {
	int rows = 0;
	if (json)
		fprintf(json, "  \"conv\": [");
	if (wk->n_conv > 0) {
		printf("\nsingle convolution layers at %d px, GFLOP/s forward / input gradient (as direct convolutions;\n"
		       "'winograd': the same layer by Winograd, where the optimization runs it so, '-' where not):\n",
		       o->conv_size);
		printf("  %-8s %-18s", "layer", "shape");
		for (int b = 0; b < o->n_backends; b++)
			for (int t = 0; t < o->n_threads && o->precisions[b] == NST_PRECISION_FP32; t++) {
				printf(" %7s %dt       ", nst_backend_name(o->backends[b]), o->threads[t]);
				if (winograd_column(o->backends[b]))
					printf(" winograd %dt     ", o->threads[t]);
			}
		printf("\n");
	}
	for (int i = 0; i < wk->n_conv && !stopped(); i++) {
		const struct nst_layer_info *L = &wk->conv[i];
		const int h = wk->conv_side[i];
		char shape[64];
		snprintf(shape, sizeof shape, "%dx%dx%d->%d", h, h, L->in_channels, L->out_channels);
		printf("  %-8s %-18s", L->name, shape);
		for (int b = 0; b < o->n_backends && !stopped(); b++)
			for (int t = 0; t < o->n_threads && o->precisions[b] == NST_PRECISION_FP32 && !stopped(); t++) {
				const struct child_job job = {BENCH_CONV, h, o->backends[b], NST_PRECISION_FP32, o->threads[t],
				                              L->in_channels, L->out_channels, 0, false, layer_block(L)};
				struct bench_result r;
				run_child(o, &job, &r);
				const double f = r.status == NST_OK ? r.forward_gflops : 0.0;
				const double g = r.status == NST_OK ? r.backward_gflops : 0.0;
				const int tile = r.status == NST_OK ? r.winograd_tile : 0;
				const double wf = tile ? r.wino_forward_gflops : 0.0, wg = tile ? r.wino_backward_gflops : 0.0;
				table->forward[i][b][t] = f;
				table->backward[i][b][t] = g;
				table->run_forward[i][b][t] = tile ? wf : f;
				table->run_backward[i][b][t] = tile ? wg : g;
				table->n_layers = i + 1;
				printf(" %7.1f / %-7.1f", f, g);
				if (winograd_column(o->backends[b]) && tile)
					printf("   %7.1f / %-7.1f", wf, wg);
				else if (winograd_column(o->backends[b]))
					printf("   %7s   %-7s", "-", "");
				fflush(stdout);
				char fb[NUMBER_BYTES], gb[NUMBER_BYTES], wfb[NUMBER_BYTES], wgb[NUMBER_BYTES];
				if (json && r.status == NST_OK)
					fprintf(json, "%s\n    {\"layer\": \"%s\", \"size\": %d, \"in\": %d, \"out\": %d, \"backend\": \"%s\", "
					              "\"threads\": %d, \"forward_gflops\": %s, \"backward_gflops\": %s, \"winograd_tile\": %d, "
					              "\"winograd_forward_gflops\": %s, \"winograd_backward_gflops\": %s}",
					        rows++ ? "," : "", L->name, h, L->in_channels, L->out_channels, nst_backend_name(o->backends[b]),
					        o->threads[t], json_number(fb, f, "%.2f"), json_number(gb, g, "%.2f"), tile,
					        json_number(wfb, wf, "%.2f"), json_number(wgb, wg, "%.2f"));
			}
		printf("\n");
		if (json)
			fflush(json);
	}
	if (json)
		fprintf(json, "\n  ],\n");
}

/* The median, least and most (lo, hi: NULL for none) of seconds [n], n >= 1. */
static void spread(const double *seconds, int n, double *med, double *lo, double *hi) {
	double tmp[MAX_TIMED];
	memcpy(tmp, seconds, sizeof(double) * (size_t)n);
	*med = cli_median(tmp, n); /* sorted: tmp[0] the least */
	if (lo)
		*lo = tmp[0];
	if (hi)
		*hi = tmp[n - 1];
}

/* One configuration of a section's grid (size si, backend entry b, threads t) in its child.  False
 * when it failed (its row says why) or the run was stopped; else its peak RSS and the median, least
 * and most of its timed seconds. */
static bool measure(const struct bench_options *o, enum bench_kind kind, int si, int b, int t, struct bench_result *r,
                    size_t *rss, double *med, double *lo, double *hi) {
	const struct child_job job = {kind, o->sizes[si], o->backends[b], o->precisions[b], o->threads[t], 0, 0, 0, false, 0};
	*rss = run_child(o, &job, r);
	if (stopped())
		return false;
	if (r->status != NST_OK || r->timed == 0) {
		printf("  %5d %-7s %-4s %3d  failed: %s\n", o->sizes[si], nst_backend_name(o->backends[b]),
		       nst_precision_name(o->precisions[b]), o->threads[t], r->message);
		return false;
	}
	spread(r->seconds, r->timed, med, lo, hi);
	return true;
}

/* The whole-iteration section: one child per size, backend entry and thread count, each row printed
 * when measured.  Returns the failed rows. */
static int bench_iterations(const struct bench_options *o, const struct conv_table *convs, double peak[MAX_LIST][MAX_LIST],
                            FILE *json) {
	printf("\nwhole iterations (%s, default layers, %d warm-up + %d timed; seconds median [min, max]):\n",
	       o->optimizer == NST_OPTIMIZER_ADAM ? "adam" : "l-bfgs", o->warmup, o->iterations);
	printf("  %5s %-7s %-4s %3s %26s %9s %9s %9s %8s %10s %10s\n", "size", "backend", "prec", "thr", "s/iteration",
	       "GFLOP/s", "of peak", "vs convs", "plan MiB", "peak MiB", "conv share");
	if (json)
		fprintf(json, "  \"iterations\": [");
	int rows = 0, failures = 0;
	for (int si = 0; si < o->n_sizes; si++)
		for (int b = 0; b < o->n_backends; b++)
			for (int t = 0; t < o->n_threads && !pictures_only(o, b) && !stopped(); t++) {
				struct bench_result r;
				size_t rss;
				double med, lo, hi;
				if (!measure(o, BENCH_ITERATION, si, b, t, &r, &rss, &med, &lo, &hi)) {
					failures += !stopped();
					continue;
				}
				const char *prec = nst_precision_name(o->precisions[b]);
				const double gflops = r.flops / med * 1e-9;
				double conv = 0;
				for (int l = 0; l < r.profile.n_layers; l++)
					conv += r.profile.layers[l].forward_seconds + r.profile.layers[l].backward_seconds;
				const double conv_share = r.wall > 0 ? conv / r.wall : 0.0;
				/* Against the single convolutions of the same shapes, backend and threads. */
				const double single = o->sizes[si] == o->conv_size && o->precisions[b] == NST_PRECISION_FP32
				                          ? vs_single_convs(&r, convs, b, t)
				                          : 0.0;
				const double of_peak = peak[b][t] > 0.0 ? gflops / peak[b][t] : 0.0;
				char vs[16] = "-", ofp[16] = "-";
				if (single > 0.0)
					snprintf(vs, sizeof vs, "%.0f%%", 100.0 * gflops / single);
				if (of_peak > 0.0)
					snprintf(ofp, sizeof ofp, "%.0f%%", 100.0 * of_peak);
				printf("  %5d %-7s %-4s %3d %9.3f [%6.3f, %6.3f] %9.1f %9s %9s %8.1f %10.1f %9.0f%%\n", o->sizes[si],
				       nst_backend_name(o->backends[b]), prec, o->threads[t], med, lo, hi, gflops, ofp, vs,
				       cli_mib(r.plan_bytes), cli_mib(rss), 100.0 * conv_share);
				if (!json)
					continue;
				char pb[NUMBER_BYTES], sb[NUMBER_BYTES];
				fprintf(json,
				        "%s\n    {\"size\": %d, \"backend\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"seconds_median\": %.5f, "
				        "\"seconds_min\": %.5f, \"seconds_max\": %.5f, \"gflops\": %.2f, \"fraction_of_peak\": %s, "
				        "\"fraction_of_single_convs\": %s, \"plan_bytes\": %zu, \"peak_rss_bytes\": %zu, \"layers\": [",
				        rows++ ? "," : "", o->sizes[si], nst_backend_name(o->backends[b]), prec, o->threads[t], med, lo, hi,
				        gflops, json_number(pb, of_peak, "%.3f"), json_number(sb, single > 0.0 ? gflops / single : 0.0, "%.3f"),
				        r.plan_bytes, rss);
				for (int l = 0; l < r.profile.n_layers; l++) {
					const struct nst_layer_profile *L = &r.profile.layers[l];
					const double fs = L->forward_seconds / (r.profile.forward_passes ? r.profile.forward_passes : 1);
					const double bs = L->backward_seconds / (r.profile.backward_passes ? r.profile.backward_passes : 1);
					char fb[NUMBER_BYTES], bb[NUMBER_BYTES];
					fprintf(json,
					        "%s{\"layer\": \"%s\", \"forward_seconds\": %.6f, \"backward_seconds\": %.6f, "
					        "\"forward_gflops\": %s, \"backward_gflops\": %s}",
					        l ? ", " : "", L->name, fs, bs, json_number(fb, fs > 0 ? L->forward_flops / fs * 1e-9 : 0.0, "%.2f"),
					        json_number(bb, bs > 0 ? L->backward_flops / bs * 1e-9 : 0.0, "%.2f"));
				}
				fprintf(json, "]}");
				fflush(json);
			}
	if (json)
		fprintf(json, "\n  ],\n");
	return failures;
}

/* The feed-forward section: milliseconds per picture for every size, engine backend (XNNPACK does
 * not run this mode) and thread count, each in its own child, each row printed when measured.
 * Returns the failed rows. */
static int bench_fast(const struct bench_options *o, const char *model_name, FILE *json) {
	if (json)
		fprintf(json, "  \"feed_forward\": [");
	if (!o->model) {
		printf("\nfeed-forward mode: %s\n", model_name ? "no model found (make weights), skipped" : "skipped (--model none)");
		if (json)
			fprintf(json, "\n  ],\n");
		return 0;
	}
	printf("\nfeed-forward mode (model %s, %d warm-up + %d timed pictures; ms per picture median [min, max]):\n",
	       model_name, o->warmup, o->pictures);
	printf("  %5s %-7s %-4s %3s %26s %14s %8s %10s\n", "size", "backend", "prec", "thr", "ms/picture",
	       "direct GFLOP/s", "plan MiB", "peak MiB");
	int rows = 0, failures = 0;
	for (int si = 0; si < o->n_sizes; si++)
		for (int b = 0; b < o->n_backends; b++)
			for (int t = 0; t < o->n_threads && o->backends[b] != NST_BACKEND_XNNPACK && !stopped(); t++) {
				struct bench_result r;
				size_t rss;
				double med, lo, hi;
				if (!measure(o, BENCH_PICTURE, si, b, t, &r, &rss, &med, &lo, &hi)) {
					failures += !stopped();
					continue;
				}
				const char *prec = nst_precision_name(o->precisions[b]);
				const double gflops = r.flops / med * 1e-9;
				printf("  %5d %-7s %-4s %3d %9.1f [%6.1f, %6.1f] %14.1f %8.1f %10.1f\n", o->sizes[si],
				       nst_backend_name(o->backends[b]), prec, o->threads[t], med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S,
				       gflops, cli_mib(r.plan_bytes), cli_mib(rss));
				if (json) {
					fprintf(json,
					        "%s\n    {\"model\": \"%s\", \"size\": %d, \"backend\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
					        "\"ms_median\": %.3f, \"ms_min\": %.3f, \"ms_max\": %.3f, \"direct_gflops\": %.2f, "
					        "\"plan_bytes\": %zu, \"peak_rss_bytes\": %zu}",
					        rows++ ? "," : "", model_name, o->sizes[si], nst_backend_name(o->backends[b]), prec, o->threads[t],
					        med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S, gflops, r.plan_bytes, rss);
					fflush(json);
				}
			}
	if (json)
		fprintf(json, "\n  ],\n");
	return failures;
}

/* The arbitrary-style section: milliseconds per video frame (the painting's part cached, and again
 * with it), frames per second, for every frame size, engine backend and thread count, each in its
 * own child, each row printed when measured.  Returns the failed rows. */
static int bench_frames(const struct bench_options *o, FILE *json) {
	if (json)
		fprintf(json, "  \"arbitrary\": [");
	if (!o->arbitrary || o->n_frames == 0) {
		printf("\narbitrary-style mode: %s\n", o->n_frames ? "no network found (make weights), skipped" : "skipped (--frames none)");
		if (json)
			fprintf(json, "\n  ],\n");
		return 0;
	}
	printf("\narbitrary-style mode (a %dx%d painting, %d warm-up + %d timed frames; ms per frame median [min, max]):\n",
	       BENCH_PAINTING_SIDE, BENCH_PAINTING_SIDE, o->warmup, o->pictures);
	printf("  %9s %-7s %-4s %3s %26s %7s %18s %8s %10s\n", "frame", "backend", "prec", "thr", "ms/frame (painting cached)",
	       "fps", "ms with painting", "plan MiB", "peak MiB");
	int rows = 0, failures = 0;
	for (int f = 0; f < o->n_frames; f++)
		for (int b = 0; b < o->n_backends; b++)
			for (int t = 0; t < o->n_threads && o->backends[b] != NST_BACKEND_XNNPACK && !stopped(); t++) {
				const struct child_job job = {BENCH_FRAME, o->frame_w[f], o->backends[b], o->precisions[b], o->threads[t],
				                              0, 0, o->frame_h[f], false, 0};
				struct bench_result r;
				const size_t rss = run_child(o, &job, &r);
				if (stopped())
					break;
				char frame[NUMBER_BYTES];
				snprintf(frame, sizeof frame, "%dx%d", o->frame_w[f], o->frame_h[f]);
				const char *prec = nst_precision_name(o->precisions[b]);
				if (r.status != NST_OK || r.timed == 0) {
					printf("  %9s %-7s %-4s %3d  failed: %s\n", frame, nst_backend_name(o->backends[b]), prec, o->threads[t],
					       r.message);
					failures++;
					continue;
				}
				double med, lo, hi, both;
				spread(r.seconds, r.timed, &med, &lo, &hi);
				spread(r.with_painting, r.timed, &both, NULL, NULL);
				printf("  %9s %-7s %-4s %3d %9.1f [%6.1f, %6.1f] %7.1f %18.1f %8.1f %10.1f\n", frame,
				       nst_backend_name(o->backends[b]), prec, o->threads[t], med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S,
				       1.0 / med, both * MS_PER_S, cli_mib(r.plan_bytes), cli_mib(rss));
				if (json) {
					fprintf(json,
					        "%s\n    {\"width\": %d, \"height\": %d, \"backend\": \"%s\", \"precision\": \"%s\", "
					        "\"threads\": %d, \"ms_median\": %.3f, \"ms_min\": %.3f, \"ms_max\": %.3f, \"fps\": %.2f, "
					        "\"ms_with_painting\": %.3f, \"plan_bytes\": %zu, \"peak_rss_bytes\": %zu}",
					        rows++ ? "," : "", o->frame_w[f], o->frame_h[f], nst_backend_name(o->backends[b]), prec,
					        o->threads[t], med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S, 1.0 / med, both * MS_PER_S,
					        r.plan_bytes, rss);
					fflush(json);
				}
			}
	if (json)
		fprintf(json, "\n  ],\n");
	return failures;
}

/* The stream section's thread counts: --threads, else 1 and 2 (those the CPUs allow). */
static int stream_threads(const struct bench_options *o, int *threads) {
	if (o->threads_given) {
		memcpy(threads, o->threads, sizeof(int) * (size_t)o->n_threads);
		return o->n_threads;
	}
	const int d[] = STREAM_THREADS, cores = nst_cpu_count();
	int n = 0;
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
		if (d[i] <= cores || i == 0)
			threads[n++] = d[i];
	return n;
}

/* The first backend entry the networks run on (XNNPACK does not). */
static int stream_backend(const struct bench_options *o) {
	for (int b = 0; b < o->n_backends; b++)
		if (o->backends[b] != NST_BACKEND_XNNPACK)
			return b;
	return -1;
}

/* The stream section's estimated seconds: its rows at the best peak per thread measured. */
static double estimate_stream_seconds(const struct bench_options *o, const struct bench_work *wk,
                                      double peak[MAX_LIST][MAX_LIST]) {
	int threads[MAX_LIST];
	const int n_threads = stream_threads(o, threads);
	const int timed = o->pictures < STREAM_MAX_TIMED ? o->pictures : STREAM_MAX_TIMED;
	double per_thread = 0.0;
	for (int b = 0; b < o->n_backends; b++)
		for (int t = 0; t < o->n_threads; t++)
			per_thread = fmax(per_thread, peak[b][t] / o->threads[t]);
	double total = 0.0;
	for (int f = 0; f < o->n_stream_frames && stream_backend(o) >= 0; f++)
		for (int net = 0; net < 2; net++)
			for (int t = 0; t < n_threads && wk->stream_flops[f][net] > 0.0; t++)
				total += ESTIMATE_CHILD_SECONDS + (o->warmup + timed) * at_peak(wk->stream_flops[f][net], per_thread * threads[t], 0.0,
				                                       ESTIMATE_PICTURE_SHARE);
	return total;
}

/* The stream section: frames per second of nst's stream path (YUV 4:2:0 to RGB, the network, RGB to
 * YUV, in memory) for the model and the arbitrary network at every frame size and its thread
 * counts, on the first backend the networks run on; each row in its own child.  Returns the
 * failed rows. */
static int bench_streams(const struct bench_options *o, const char *model_name, FILE *json) {
	if (json)
		fprintf(json, "  \"stream\": [");
	const int b = stream_backend(o);
	if ((!o->model && !o->arbitrary) || o->n_frames == 0 || b < 0) {
		printf("\nstream mode: skipped (%s)\n", o->n_frames == 0 ? "--frames none" : b < 0 ? "no backend runs the networks"
		                                                                                   : "no network");
		if (json)
			fprintf(json, "\n  ],\n");
		return 0;
	}
	int threads[MAX_LIST];
	const int n_threads = stream_threads(o, threads);
	const int timed = o->pictures < STREAM_MAX_TIMED ? o->pictures : STREAM_MAX_TIMED;
	printf("\nstream mode (YUV 4:2:0 -> RGB -> network -> YUV, in memory; backend %s %s; %d warm-up + %d timed frames):\n",
	       nst_backend_name(o->backends[b]), nst_precision_name(o->precisions[b]), o->warmup, timed);
	printf("  %9s %-10s %3s %26s %7s %15s %8s %10s\n", "frame", "network", "thr", "ms/frame median [min, max]", "fps",
	       "ms conversions", "plan MiB", "peak MiB");
	int rows = 0, failures = 0;
	for (int f = 0; f < o->n_stream_frames; f++)
		for (int net = 0; net < 2; net++) {
			const char *name = net ? CLI_ARBITRARY_MODEL : model_name;
			if (!(net ? o->arbitrary : o->model))
				continue;
			for (int t = 0; t < n_threads && !stopped(); t++) {
				const struct child_job job = {BENCH_STREAM, o->frame_w[f], o->backends[b], o->precisions[b], threads[t], 0, 0,
				                              o->frame_h[f], net == 1, 0};
				struct bench_result r;
				const size_t rss = run_child(o, &job, &r);
				if (stopped())
					break;
				char frame[NUMBER_BYTES];
				snprintf(frame, sizeof frame, "%dx%d", o->frame_w[f], o->frame_h[f]);
				if (r.status != NST_OK || r.timed == 0) {
					printf("  %9s %-10s %3d  failed: %s\n", frame, name, threads[t], r.message);
					failures++;
					continue;
				}
				double med, lo, hi, conv;
				spread(r.seconds, r.timed, &med, &lo, &hi);
				spread(r.with_painting, r.timed, &conv, NULL, NULL);
				printf("  %9s %-10s %3d %9.1f [%6.1f, %6.1f] %7.1f %15.2f %8.1f %10.1f\n", frame, name, threads[t],
				       med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S, 1.0 / med, conv * MS_PER_S, cli_mib(r.plan_bytes),
				       cli_mib(rss));
				if (json) {
					fprintf(json,
					        "%s\n    {\"network\": \"%s\", \"width\": %d, \"height\": %d, \"backend\": \"%s\", "
					        "\"precision\": \"%s\", \"threads\": %d, \"ms_median\": %.3f, \"ms_min\": %.3f, \"ms_max\": %.3f, "
					        "\"fps\": %.2f, \"ms_conversions\": %.3f, \"plan_bytes\": %zu, \"peak_rss_bytes\": %zu}",
					        rows++ ? "," : "", name, o->frame_w[f], o->frame_h[f], nst_backend_name(o->backends[b]),
					        nst_precision_name(o->precisions[b]), threads[t], med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S,
					        1.0 / med, conv * MS_PER_S, r.plan_bytes, rss);
					fflush(json);
				}
			}
		}
	if (json)
		fprintf(json, "\n  ],\n");
	return failures;
}

/* "256x144,320x240": the frame sizes (at most MAX_LIST, sides 8..8192); the count, or -1. */
static int parse_frames(const char *arg, struct bench_options *o) {
	char buf[LINE_BYTES];
	snprintf(buf, sizeof buf, "%s", arg);
	char *items[MAX_LIST];
	const int n = cli_split_list(buf, items, MAX_LIST);
	if (n < 1 || n > MAX_LIST)
		return -1;
	for (int i = 0; i < n; i++) {
		char *x = strchr(items[i], 'x');
		if (!x)
			return -1;
		*x = '\0';
		if (!cli_parse_int(items[i], 8, 8192, &o->frame_w[i]) || !cli_parse_int(x + 1, 8, 8192, &o->frame_h[i]))
			return -1;
	}
	return o->n_frames = n;
}

/* What an option that takes a value expects (for the message when it is missing or bad); NULL for
 * an option that is not one of these. */
static const char *expected_value(const char *option) {
	static const char *const table[][2] = {
		{"--sizes", "up to " STR(MAX_LIST) " long sides 16..8192, comma-separated (128,256)"},
		{"--threads", "up to " STR(MAX_LIST) " thread counts 1..256, comma-separated (1,2)"},
		{"--backends", "scalar, simd, xnnpack (each may end in -fp16), comma-separated"},
		{"--iterations", "timed iterations, 1.." STR(MAX_TIMED)},
		{"--warmup", "warm-up iterations, 0..100"},
		{"--conv-size", "a long side 0..8192 (0: no layer section)"},
		{"--json", "a file name"},
		{"--weights", "a .nstw file"},
		{"--model", "a network's name (candy), a .nstw file, or none"},
		{"--pictures", "timed pictures, 1.." STR(MAX_TIMED)},
		{"--frames", "up to " STR(MAX_LIST) " WxH sizes, sides 8..8192, comma-separated (256x144,320x240), or none"},
		{"--optimizer", "adam or lbfgs"},
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(option, table[i][0]))
			return table[i][1];
	return NULL;
}

static void usage(const struct bench_options *o, int cores) {
	printf("usage: nst bench [options]\n"
	       "Measures, on this machine: the GEMM microkernel's peak, each VGG layer's convolution alone, whole\n"
	       "optimization iterations per picture size, and the feed-forward mode's time per picture; each\n"
	       "configuration in its own process, each row printed as soon as it is measured (Ctrl-C, SIGTERM or a\n"
	       "timeout keep the rows measured so far, and --json closes with \"interrupted\": true; exit 130).\n"
	       "\n"
	       "  --sizes LIST        picture sizes (default 128,256; --full 128,256,512)\n"
	       "  --threads LIST      thread counts (default %d: the CPUs this process may use; --full 1,2,4,..,%d)\n"
	       "  --backends LIST     simd, simd-fp16, xnnpack, xnnpack-fp16, scalar (default here: ",
	       cores, cores);
	print_backends(o);
	printf(";\n"
	       "                      scalar only with --full or when named: it is many times slower)\n"
	       "  --iterations N      timed iterations (and pictures' warm-up) per configuration (default %d)\n"
	       "  --warmup N          warm-up iterations or pictures first (default %d)\n"
	       "  --conv-size N       side of the single-convolution pictures (default %d: the layers of the default\n"
	       "                      run; --full %d and every layer; 0 skips the section)\n"
	       "  --model NAME|FILE   feed-forward model timed (default %s; none skips the section)\n"
	       "  --pictures N        timed feed-forward pictures and arbitrary-style frames (default %d)\n"
	       "  --frames WxH,...    the arbitrary-style network's and the stream section's frame sizes (default\n"
	       "                      256x144,320x240,640x360; none skips both sections); the stream section runs\n"
	       "                      the model and the arbitrary network at 1 and 2 threads (or --threads), at most\n"
	       "                      %d timed frames each\n"
	       "  --optimizer adam|lbfgs   the whole iterations' optimizer (default adam)\n"
	       "  --weights FILE      VGG weights (default: as nst finds them)\n"
	       "  --json FILE         the same figures and the machine's description, as JSON (null: not measured)\n"
	       "  --full              every backend (scalar too), thread counts 1,2,4,.. and 512 px: many minutes on a\n"
	       "                      board (a scalar 512 px iteration alone takes minutes on a Raspberry Pi)\n"
	       "  --dry-run           measure the peak only, print the configurations and the estimate, and stop\n"
	       "\n"
	       "Duration: the defaults take about a minute on a Raspberry Pi 4, less on faster machines; before it\n"
	       "measures anything long, nst bench prints its estimate for this machine (from the measured peak)\n"
	       "and leaves out the largest default size if the estimate is over %.0f s.\n",
	       DEFAULT_ITERATIONS, DEFAULT_WARMUP, DEFAULT_CONV_SIZE, FULL_CONV_SIZE, DEFAULT_MODEL, DEFAULT_PICTURES,
	       STREAM_MAX_TIMED, DEFAULT_BUDGET_SECONDS);
}

/* The defaults of what --full and the command line did not set. */
static void apply_defaults(struct bench_options *o, int cores) {
	if (!o->sizes_given) {
		const int d[] = DEFAULT_SIZES, f[] = FULL_SIZES;
		const int *v = o->full ? f : d;
		o->n_sizes = o->full ? (int)(sizeof f / sizeof f[0]) : (int)(sizeof d / sizeof d[0]);
		memcpy(o->sizes, v, sizeof(int) * (size_t)o->n_sizes);
	}
	if (!o->threads_given) {
		o->n_threads = 0;
		for (int t = o->full ? 1 : cores; t <= cores && o->n_threads < MAX_LIST; t *= 2)
			o->threads[o->n_threads++] = t;
		if (o->threads[o->n_threads - 1] != cores && o->n_threads < MAX_LIST)
			o->threads[o->n_threads++] = cores;
	}
	if (!o->conv_size_given)
		o->conv_size = o->full ? FULL_CONV_SIZE : DEFAULT_CONV_SIZE;
	if (!o->backends_given && o->full && o->n_backends < MAX_LIST) {
		o->precisions[o->n_backends] = NST_PRECISION_FP32;
		o->backends[o->n_backends++] = NST_BACKEND_SCALAR;
	}
}

int cli_bench(int argc, char **argv) {
	/* Every row reaches the terminal, a pipe or a file as soon as it is printed. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct bench_options o = {{0}, 0, {0}, 0, {0}, {NST_PRECISION_FP32}, 0, DEFAULT_ITERATIONS, DEFAULT_WARMUP,
	                          DEFAULT_CONV_SIZE, NST_OPTIMIZER_ADAM, NULL, NULL, DEFAULT_MODEL, false, DEFAULT_PICTURES,
	                          false, false, false, false, false, false, NULL, DEFAULT_FRAME_WIDTHS,
	                          DEFAULT_FRAME_HEIGHTS, DEFAULT_FRAMES, DEFAULT_FRAMES, false};
	const int cores = nst_cpu_count(); /* usable: affinity and cgroup quota */
	if (nst_backend_available(NST_BACKEND_SIMD))
		o.backends[o.n_backends++] = NST_BACKEND_SIMD;
	if (nst_backend_available(NST_BACKEND_XNNPACK))
		o.backends[o.n_backends++] = NST_BACKEND_XNNPACK;
	if (nst_precision_available(NST_BACKEND_XNNPACK, NST_PRECISION_FP16)) {
		o.precisions[o.n_backends] = NST_PRECISION_FP16; /* whole iterations only */
		o.backends[o.n_backends++] = NST_BACKEND_XNNPACK;
	}
	if (nst_fast_precision_available(NST_BACKEND_SIMD, NST_PRECISION_FP16)) {
		o.precisions[o.n_backends] = NST_PRECISION_FP16; /* feed-forward pictures only */
		o.backends[o.n_backends++] = NST_BACKEND_SIMD;
	}
	if (o.n_backends == 0) /* no SIMD kernels and no XNNPACK: the portable C is what there is */
		o.backends[o.n_backends++] = NST_BACKEND_SCALAR;
	char weights_buf[LINE_BYTES];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int n;
		if (!strcmp(a, "--sizes") && v && (n = cli_parse_int_list(v, o.sizes, MAX_LIST, 16, 8192)) > 0) {
			o.n_sizes = n;
			o.sizes_given = true;
			i++;
		} else if (!strcmp(a, "--threads") && v && (n = cli_parse_int_list(v, o.threads, MAX_LIST, 1, 256)) > 0) {
			o.n_threads = n;
			o.threads_given = true;
			i++;
		} else if (!strcmp(a, "--backends") && v && parse_backends(v, &o) > 0) {
			o.backends_given = true;
			i++;
		} else if (!strcmp(a, "--iterations") && v && cli_parse_int_list(v, &o.iterations, 1, 1, MAX_TIMED) == 1) {
			i++;
		} else if (!strcmp(a, "--warmup") && v && cli_parse_int_list(v, &o.warmup, 1, 0, 100) == 1) {
			i++;
		} else if (!strcmp(a, "--conv-size") && v && cli_parse_int_list(v, &o.conv_size, 1, 0, 8192) == 1) {
			o.conv_size_given = true;
			i++;
		} else if (!strcmp(a, "--json") && v) {
			o.json = v;
			i++;
		} else if (!strcmp(a, "--weights") && v) {
			o.weights = v;
			i++;
		} else if (!strcmp(a, "--model") && v) {
			o.model = strcmp(v, "none") ? v : NULL;
			o.model_given = true;
			i++;
		} else if (!strcmp(a, "--pictures") && v && cli_parse_int_list(v, &o.pictures, 1, 1, MAX_TIMED) == 1) {
			i++;
		} else if (!strcmp(a, "--frames") && v && (!strcmp(v, "none") || parse_frames(v, &o) > 0)) {
			if (!strcmp(v, "none"))
				o.n_frames = 0;
			o.frames_given = true;
			i++;
		} else if (!strcmp(a, "--optimizer") && v && (!strcmp(v, "adam") || !strcmp(v, "lbfgs"))) {
			o.optimizer = !strcmp(v, "adam") ? NST_OPTIMIZER_ADAM : NST_OPTIMIZER_LBFGS;
			i++;
		} else if (!strcmp(a, "--full")) {
			o.full = true;
		} else if (!strcmp(a, "--dry-run")) {
			o.dry_run = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(&o, cores);
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		} else {
			const char *expected = expected_value(a);
			if (!expected)
				fprintf(stderr, "nst bench: unknown option '%s' (see nst bench --help)\n", a);
			else if (!v)
				fprintf(stderr, "nst bench: %s needs a value: %s\n", a, expected);
			else
				fprintf(stderr, "nst bench: %s '%s': expected %s\n", a, v, expected);
			return 2;
		}
	}
	apply_defaults(&o, cores);
	o.n_stream_frames = o.n_frames;
	if (!o.weights) {
		o.weights = cli_default_weights(weights_buf, sizeof weights_buf);
		if (!o.weights) {
			fprintf(stderr, "nst bench: no weights found: run 'make weights' or pass --weights FILE\n");
			return 1;
		}
	}
	char model_buf[LINE_BYTES], looked[LINE_BYTES];
	const char *model_name = o.model;
	if (o.model && !strchr(o.model, '/') && !strstr(o.model, ".nstw")) {
		o.model = cli_find_model(model_name, model_buf, sizeof model_buf, looked, sizeof looked);
		if (!o.model && o.model_given) {
			fprintf(stderr, "nst bench: no model '%s' in %s (run 'make weights')\n", model_name, looked);
			return 1;
		}
	}
	char arbitrary_buf[LINE_BYTES];
	o.arbitrary = o.n_frames ? cli_find_model(CLI_ARBITRARY_MODEL, arbitrary_buf, sizeof arbitrary_buf, looked, sizeof looked)
	                         : NULL;
	FILE *json = NULL;
	if (o.json && !(json = fopen(o.json, "w"))) {
		fprintf(stderr, "nst bench: cannot write %s: %s\n", o.json, strerror(errno));
		return 1;
	}
	/* Stop signals end the run after the row being measured, keeping what was measured. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	char cpu[LINE_BYTES], features[LINE_BYTES];
	machine(cpu, sizeof cpu);
	nst_bench_cpu_features(features, sizeof features);
	printf("nst %s bench on %s, %d cores (%s); compiler %s; XNNPACK %s; weights %s\n", NST_VERSION_STRING, cpu, cores,
	       features, __VERSION__, XNNPACK_VERSION, o.weights);
	if (json)
		fprintf(json, "{\n  \"nst\": \"%s\",\n  \"machine\": {\"cpu\": \"%s\", \"cores\": %d, \"features\": \"%s\", "
		              "\"compiler\": \"%s\", \"xnnpack\": \"%s\"},\n",
		        NST_VERSION_STRING, cpu, cores, features, __VERSION__, XNNPACK_VERSION);

	/* The kernel's peak: measured here first, the estimate is made from it. */
	printf("\nmicrokernel peak (L1-resident GEMM):\n");
	if (json)
		fprintf(json, "  \"peak\": [");
	double peak[MAX_LIST][MAX_LIST] = {{0}};
	int peak_rows = 0;
	for (int b = 0; b < o.n_backends && !stopped(); b++)
		for (int t = 0; t < o.n_threads && !stopped(); t++) {
			if (pictures_only(&o, b)) /* no iterations to compare with a peak */
				continue;
			if (b > 0 && o.backends[b] == o.backends[b - 1] && !pictures_only(&o, b - 1)) { /* xnnpack-fp16 after xnnpack: the same peak */
				peak[b][t] = peak[b - 1][t];
				continue;
			}
			peak[b][t] = nst_bench_peak_gflops(o.backends[b], o.threads[t]);
			printf("  %-6s %-28s %2d thread%s %8.1f GFLOP/s\n", nst_backend_name(o.backends[b]),
			       nst_bench_kernel_name(o.backends[b]), o.threads[t], o.threads[t] == 1 ? " " : "s", peak[b][t]);
			if (json)
				fprintf(json, "%s\n    {\"backend\": \"%s\", \"kernel\": \"%s\", \"threads\": %d, \"gflops\": %.2f}",
				        peak_rows++ ? "," : "", nst_backend_name(o.backends[b]), nst_bench_kernel_name(o.backends[b]),
				        o.threads[t], peak[b][t]);
		}
	if (json)
		fprintf(json, "\n  ],\n");

	/* The plan and its estimate, before anything long. */
	struct bench_work work;
	describe_work(&o, &work);
	double estimate = work.known ? estimate_seconds(&o, &work, peak) + estimate_stream_seconds(&o, &work, peak) : 0.0;
	int dropped = 0;
	while (work.known && !o.full && estimate > DEFAULT_BUDGET_SECONDS) {
		if (!o.sizes_given && o.n_sizes > 1)
			o.n_sizes--; /* the largest default size, which costs the most */
		else if (!o.frames_given && o.n_stream_frames > 1)
			o.n_stream_frames--; /* then the stream section's largest frame */
		else
			break;
		dropped++;
		estimate = estimate_seconds(&o, &work, peak) + estimate_stream_seconds(&o, &work, peak);
	}
	printf("\nnst bench: ");
	print_list("sizes ", o.sizes, o.n_sizes);
	print_list(" px, threads ", o.threads, o.n_threads);
	printf(", backends ");
	print_backends(&o);
	printf(", %d timed iterations, single convolutions %s, feed-forward %s\n", o.iterations,
	       o.conv_size > 0 ? (o.full ? "of every layer" : "of the default run's layers") : "skipped",
	       o.model ? model_name : "skipped");
	if (work.known)
		printf("nst bench: estimated %.0f s here (from the peak above; the defaults take about a minute on a Raspberry Pi 4)%s; "
		       "each row is printed as it is measured, and Ctrl-C keeps them\n",
		       estimate, dropped ? "; the largest default sizes or stream frames are left out to stay near a minute (--sizes, --frames to "
		                 "choose)" : "");
	else
		printf("nst bench: no estimate: %s\n", work.why);
	if (o.dry_run || stopped()) {
		if (json)
			fprintf(json, "  \"conv\": [],\n  \"iterations\": [],\n  \"feed_forward\": [],\n  \"arbitrary\": [],\n  \"stream\": [],\n"
			              "  \"interrupted\": %s\n}\n",
			        stopped() ? "true" : "false");
		if (json && fclose(json) != 0) {
			fprintf(stderr, "nst bench: cannot write %s\n", o.json);
			return 1;
		}
		return stopped() ? EXIT_STOPPED : 0;
	}

	static struct conv_table single_convs; /* zero: no single-convolution figures */
	bench_convs(&o, &work, &single_convs, json);
	int failures = bench_iterations(&o, &single_convs, peak, json);
	failures += bench_fast(&o, model_name, json);
	failures += bench_frames(&o, json);
	failures += bench_streams(&o, model_name, json);
	if (json) {
		fprintf(json, "  \"interrupted\": %s\n}\n", stopped() ? "true" : "false");
		if (fclose(json) != 0) {
			fprintf(stderr, "nst bench: cannot write %s\n", o.json);
			return 1;
		}
	}
	if (stopped()) {
		printf("\nnst bench: stopped by %s: the rows above are what was measured%s\n",
		       cli_signal_name((int)g_bench_stop),
		       o.json ? " (and the JSON holds them)" : "");
		return EXIT_STOPPED;
	}
	printf("\nGFLOP/s counts the convolutions only (forward + input gradient), as direct convolutions: the\n"
	       "Winograd layers do fewer multiplies, so 'of peak', against the microkernel's L1-resident peak\n"
	       "at the same thread count, can pass 100%%; 'vs convs' against the speed its\n"
	       "convolutions reach alone in the single-layer test (same backend and threads, when --conv-size\n"
	       "is the size); peak MiB is each run's own peak RSS (its process, as a plain nst run's).\n"
	       "The feed-forward mode's direct GFLOP/s counts its convolutions as direct ones, though it runs\n"
	       "the residual blocks (Winograd) and the upsampling ones (phases) with fewer multiplies.\n");
	return failures ? 1 : 0;
}
