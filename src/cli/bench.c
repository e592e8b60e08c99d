/*
 * nst bench: how fast and how much memory, on this machine, for each picture size, backend and
 * thread count.  Every configuration runs in a child process so that its peak RSS is its own.
 *
 *   nst bench [--sizes 128,256,512] [--threads 1,2] [--backends simd,scalar] [--iterations 3]
 *             [--conv-size 256] [--json FILE] [--weights FILE] [--optimizer adam|lbfgs]
 *             [--model candy|FILE|none] [--pictures 5]
 *
 * Sections: the GEMM microkernel's L1-resident peak; every VGG layer's convolution alone; whole
 * optimization iterations; the feed-forward mode's time per picture (--model).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "nst.h"

#define MAX_LIST 8
#define MAX_TIMED 64
#define DEFAULT_ITERATIONS 3
#define DEFAULT_WARMUP 1
#define DEFAULT_CONV_SIZE 256
#define DEFAULT_MODEL "candy"
#define DEFAULT_PICTURES 5
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
};

enum bench_kind { BENCH_ITERATION, BENCH_PICTURE };


/* What a child reports through its pipe. */
struct bench_result {
	int status;                 /* enum nst_status */
	char message[256];
	size_t plan_bytes;
	double seconds[MAX_TIMED];  /* per timed iteration (or feed-forward picture) */
	int timed;
	struct nst_profile profile;
	double flops;               /* forward + backward per iteration; per picture (as direct convolutions) */
	double wall;                /* the whole profiled run (the timed iterations and a last forward pass) */
};

/* One configuration's child: what it reported and its peak RSS in bytes (0 on failure). */
struct child_run {
	struct bench_result result;
	size_t rss;
};

/* Index of (size, backend entry, threads) in a grid of child runs. */
static size_t grid_index(const struct bench_options *o, int si, int b, int t) {
	return ((size_t)si * (size_t)o->n_backends + (size_t)b) * (size_t)o->n_threads + (size_t)t;
}

/* Single-convolution results at conv_size: [layer][backend entry][threads], GFLOP/s. */
struct conv_table {
	int n_layers;
	double forward[NST_PROFILE_MAX_LAYERS][MAX_LIST][MAX_LIST];
	double backward[NST_PROFILE_MAX_LAYERS][MAX_LIST][MAX_LIST];
};

static int parse_list(const char *arg, int *out, int max, int lo, int hi) {
	int n = 0;
	const char *p = arg;
	while (*p) {
		char *end;
		errno = 0;
		const long v = strtol(p, &end, 10);
		if (errno || end == p || v < lo || v > hi || n == max || (*end && *end != ','))
			return -1;
		out[n++] = (int)v;
		p = *end ? end + 1 : end;
	}
	return n;
}

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

static double median(double *v, int n) {
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			const double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
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
	const double wall0 = cli_now_seconds();
	/* One iteration more than timed: the run's last interval ends in a forward pass only. */
	if ((st = nst_session_run(s, o->iterations + 1, on_row, &t)) != NST_OK)
		goto fail;
	r->wall = cli_now_seconds() - wall0;
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
		const double t0 = cli_now_seconds();
		st = nst_fast_run(s, size, size, rgb, rgb, 1.0f);
		if (i >= o->warmup && r->timed < MAX_TIMED)
			r->seconds[r->timed++] = cli_now_seconds() - t0;
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

/* Runs one configuration in a child; returns its peak RSS in bytes (0 on failure). */
static size_t run_child(const struct bench_options *o, enum bench_kind kind, int size, enum nst_backend backend,
                        enum nst_precision precision, int threads, struct bench_result *r) {
	int fd[2];
	if (pipe(fd) != 0)
		return 0;
	fflush(stdout);
	fflush(stderr);
	const pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		struct bench_result *res = calloc(1, sizeof *res);
		if (res) {
			if (kind == BENCH_PICTURE)
				run_fast_config(o, size, backend, precision, threads, res);
			else
				run_config(o, size, backend, precision, threads, res);
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
	memset(r, 0, sizeof *r);
	r->status = NST_ERR_IO;
	snprintf(r->message, sizeof r->message, "the benchmark child failed");
	char *p = (char *)r;
	size_t got = 0;
	while (pid > 0 && got < sizeof *r) {
		const ssize_t n = read(fd[0], p + got, sizeof *r - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd[0]);
	struct rusage ru;
	int wstatus = 0;
	if (pid <= 0 || wait4(pid, &wstatus, 0, &ru) < 0)
		return 0;
	if (got != sizeof *r) {
		r->status = NST_ERR_IO;
		snprintf(r->message, sizeof r->message, "the benchmark child died (status %d)", wstatus);
		return 0;
	}
	return (size_t)ru.ru_maxrss * 1024u;
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

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

/* The feed-forward section: milliseconds per picture for every size, engine backend (XNNPACK does
 * not run this mode) and thread count, each in its own child.  Returns the failed rows. */
static int bench_fast(const struct bench_options *o, const char *model_name, const struct child_run *runs,
                      FILE *json) {
	if (!o->model) {
		printf("\nfeed-forward mode: %s\n", model_name ? "no model found (make weights), skipped" : "skipped (--model none)");
		return 0;
	}
	printf("\nfeed-forward mode (model %s, %d warm-up + %d timed pictures; ms per picture median [min, max]):\n",
	       model_name, o->warmup, o->pictures);
	printf("  %5s %-7s %-4s %3s %26s %14s %8s %10s\n", "size", "backend", "prec", "thr", "ms/picture",
	       "direct GFLOP/s", "plan MiB", "peak MiB");
	int rows = 0, failures = 0;
	for (int si = 0; si < o->n_sizes; si++)
		for (int b = 0; b < o->n_backends; b++)
			for (int t = 0; t < o->n_threads; t++) {
				if (o->backends[b] == NST_BACKEND_XNNPACK)
					continue;
				const struct bench_result *r = &runs[grid_index(o, si, b, t)].result;
				const size_t rss = runs[grid_index(o, si, b, t)].rss;
				const char *prec = nst_precision_name(o->precisions[b]);
				if (r->status != NST_OK || r->timed == 0) {
					printf("  %5d %-7s %-4s %3d  failed: %s\n", o->sizes[si], nst_backend_name(o->backends[b]), prec,
					       o->threads[t], r->message);
					failures++;
					continue;
				}
				double lo = r->seconds[0], hi = r->seconds[0], tmp[MAX_TIMED];
				for (int k = 0; k < r->timed; k++) {
					lo = fmin(lo, r->seconds[k]);
					hi = fmax(hi, r->seconds[k]);
				}
				memcpy(tmp, r->seconds, sizeof tmp);
				const double med = median(tmp, r->timed);
				const double gflops = r->flops / med * 1e-9;
				printf("  %5d %-7s %-4s %3d %9.1f [%6.1f, %6.1f] %14.1f %8.1f %10.1f\n", o->sizes[si],
				       nst_backend_name(o->backends[b]), prec, o->threads[t], med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S,
				       gflops, mib(r->plan_bytes), mib(rss));
				if (json)
					fprintf(json,
					        "%s\n    {\"model\": \"%s\", \"size\": %d, \"backend\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
					        "\"ms_median\": %.3f, \"ms_min\": %.3f, \"ms_max\": %.3f, \"direct_gflops\": %.2f, "
					        "\"plan_bytes\": %zu, \"peak_rss_bytes\": %zu}",
					        rows++ ? "," : "", model_name, o->sizes[si], nst_backend_name(o->backends[b]), prec, o->threads[t],
					        med * MS_PER_S, lo * MS_PER_S, hi * MS_PER_S, gflops, r->plan_bytes, rss);
			}
	return failures;
}

/* Every child configuration, before the parent process grows: a forked child's peak RSS counts
 * the pages it shares with its parent, so the children run while the parent is still small (as
 * small as a plain nst run) and their RSS is what such a run would reach.  Returns the two grids
 * (feed-forward: NULL when no model), or false when out of memory. */
static bool run_children(const struct bench_options *o, struct child_run **iterations, struct child_run **pictures) {
	const size_t n = grid_index(o, o->n_sizes, 0, 0);
	*iterations = calloc(n, sizeof **iterations);
	*pictures = o->model ? calloc(n, sizeof **pictures) : NULL;
	if (!*iterations || (o->model && !*pictures))
		return false;
	for (int si = 0; si < o->n_sizes; si++)
		for (int b = 0; b < o->n_backends; b++)
			for (int t = 0; t < o->n_threads; t++) {
				struct child_run *it = &(*iterations)[grid_index(o, si, b, t)];
				if (!pictures_only(o, b))
					it->rss = run_child(o, BENCH_ITERATION, o->sizes[si], o->backends[b], o->precisions[b],
					                    o->threads[t], &it->result);
				if (!o->model || o->backends[b] == NST_BACKEND_XNNPACK)
					continue;
				struct child_run *pic = &(*pictures)[grid_index(o, si, b, t)];
				pic->rss = run_child(o, BENCH_PICTURE, o->sizes[si], o->backends[b], o->precisions[b], o->threads[t],
				                     &pic->result);
			}
	return true;
}

/* A whole iteration's GFLOP/s over what its convolutions would reach at their single-convolution
 * speeds (the same backend and threads, at conv_size == size): the time each layer's forward and
 * backward FLOPs take at its measured GFLOP/s.  0 when there is nothing to compare with. */
static double vs_single_convs(const struct bench_result *r, const struct conv_table *conv, int b, int t) {
	double seconds = 0.0, flops = 0.0;
	for (int l = 0; l < r->profile.n_layers; l++) {
		const struct nst_layer_profile *L = &r->profile.layers[l];
		if (l >= conv->n_layers || conv->forward[l][b][t] <= 0.0 || conv->backward[l][b][t] <= 0.0)
			return 0.0;
		seconds += L->forward_flops / (conv->forward[l][b][t] * 1e9) + L->backward_flops / (conv->backward[l][b][t] * 1e9);
		flops += L->forward_flops + L->backward_flops;
	}
	return seconds > 0.0 ? flops / seconds * 1e-9 : 0.0;
}

int nst_cli_bench(int argc, char **argv) {
	struct bench_options o = {{128, 256, 512}, 3, {0}, 0, {0}, {NST_PRECISION_FP32}, 0, DEFAULT_ITERATIONS, DEFAULT_WARMUP,
	                          DEFAULT_CONV_SIZE, NST_OPTIMIZER_ADAM, NULL, NULL, DEFAULT_MODEL, false, DEFAULT_PICTURES};
	const int cores = nst_cpu_count(); /* usable: affinity and cgroup quota */
	for (int t = 1; t <= cores && o.n_threads < MAX_LIST; t *= 2)
		o.threads[o.n_threads++] = t;
	if (o.threads[o.n_threads - 1] != cores && o.n_threads < MAX_LIST)
		o.threads[o.n_threads++] = cores;
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
	o.backends[o.n_backends++] = NST_BACKEND_SCALAR;
	char weights_buf[LINE_BYTES];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int n;
		if (!strcmp(a, "--sizes") && v && (n = parse_list(v, o.sizes, MAX_LIST, 16, 8192)) > 0) {
			o.n_sizes = n;
			i++;
		} else if (!strcmp(a, "--threads") && v && (n = parse_list(v, o.threads, MAX_LIST, 1, 256)) > 0) {
			o.n_threads = n;
			i++;
		} else if (!strcmp(a, "--backends") && v && parse_backends(v, &o) > 0) {
			i++;
		} else if (!strcmp(a, "--iterations") && v && parse_list(v, &o.iterations, 1, 1, MAX_TIMED) == 1) {
			i++;
		} else if (!strcmp(a, "--warmup") && v && parse_list(v, &o.warmup, 1, 0, 100) == 1) {
			i++;
		} else if (!strcmp(a, "--conv-size") && v && parse_list(v, &o.conv_size, 1, 0, 8192) == 1) {
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
		} else if (!strcmp(a, "--pictures") && v && parse_list(v, &o.pictures, 1, 1, MAX_TIMED) == 1) {
			i++;
		} else if (!strcmp(a, "--optimizer") && v && (!strcmp(v, "adam") || !strcmp(v, "lbfgs"))) {
			o.optimizer = !strcmp(v, "adam") ? NST_OPTIMIZER_ADAM : NST_OPTIMIZER_LBFGS;
			i++;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: nst bench [--sizes 128,256,512] [--threads 1,2] [--backends simd,simd-fp16,xnnpack,xnnpack-fp16,scalar]\n"
			       "                 [--iterations N] [--warmup N] [--conv-size N (0: skip)] [--json FILE]\n"
			       "                 [--weights FILE] [--optimizer adam|lbfgs] [--model candy|FILE|none] [--pictures N]\n");
			return 0;
		} else {
			fprintf(stderr, "nst bench: bad option '%s'%s (see nst bench --help)\n", a, v ? " or its value" : "");
			return 2;
		}
	}
	if (!o.weights) {
		o.weights = nst_cli_default_weights(weights_buf, sizeof weights_buf);
		if (!o.weights) {
			fprintf(stderr, "nst bench: no weights found: run 'make weights' or pass --weights FILE\n");
			return 1;
		}
	}
	char model_buf[LINE_BYTES], looked[LINE_BYTES];
	const char *model_name = o.model;
	if (o.model && !strchr(o.model, '/') && !strstr(o.model, ".nstw")) {
		o.model = nst_cli_find_model(model_name, model_buf, sizeof model_buf, looked, sizeof looked);
		if (!o.model && o.model_given) {
			fprintf(stderr, "nst bench: no model '%s' in %s (run 'make weights')\n", model_name, looked);
			return 1;
		}
	}
	FILE *json = NULL;
	if (o.json && !(json = fopen(o.json, "w"))) {
		fprintf(stderr, "nst bench: cannot write %s: %s\n", o.json, strerror(errno));
		return 1;
	}

	struct child_run *iteration_runs = NULL, *picture_runs = NULL;
	printf("nst bench: measuring whole iterations%s first, each configuration in its own process ...\n",
	       o.model ? " and feed-forward pictures" : "");
	fflush(stdout);
	if (!run_children(&o, &iteration_runs, &picture_runs)) {
		fprintf(stderr, "nst bench: out of memory\n");
		return 3;
	}

	char cpu[LINE_BYTES], features[LINE_BYTES];
	machine(cpu, sizeof cpu);
	nst_bench_cpu_features(features, sizeof features);
	printf("nst %s bench on %s, %d cores (%s); compiler %s; XNNPACK %s; weights %s\n", NST_VERSION_STRING, cpu, cores,
	       features, __VERSION__, XNNPACK_VERSION, o.weights);
	if (json)
		fprintf(json, "{\n  \"nst\": \"%s\",\n  \"machine\": {\"cpu\": \"%s\", \"cores\": %d, \"features\": \"%s\", "
		              "\"compiler\": \"%s\", \"xnnpack\": \"%s\"},\n",
		        NST_VERSION_STRING, cpu, cores, features, __VERSION__, XNNPACK_VERSION);

	/* The kernel's peak. */
	printf("\nmicrokernel peak (L1-resident GEMM):\n");
	if (json)
		fprintf(json, "  \"peak\": [");
	double peak[MAX_LIST][MAX_LIST];
	for (int b = 0; b < o.n_backends; b++)
		for (int t = 0; t < o.n_threads; t++) {
			if (pictures_only(&o, b)) { /* no iterations to compare with a peak */
				peak[b][t] = 0.0;
				continue;
			}
			if (b > 0 && o.backends[b] == o.backends[b - 1] && !pictures_only(&o, b - 1)) { /* xnnpack-fp16 after xnnpack: the same peak */
				peak[b][t] = peak[b - 1][t];
				continue;
			}
			peak[b][t] = nst_bench_peak_gflops(o.backends[b], o.threads[t]);
			printf("  %-6s %-28s %2d thread%s %8.1f GFLOP/s\n", nst_backend_name(o.backends[b]),
			       nst_bench_kernel_name(o.backends[b]), o.threads[t], o.threads[t] == 1 ? " " : "s", peak[b][t]);
			if (json)
				fprintf(json, "%s\n    {\"backend\": \"%s\", \"kernel\": \"%s\", \"threads\": %d, \"gflops\": %.2f}",
				        b || t ? "," : "", nst_backend_name(o.backends[b]), nst_bench_kernel_name(o.backends[b]),
				        o.threads[t], peak[b][t]);
		}
	if (json)
		fprintf(json, "\n  ],\n");

	/* Single convolutions: every layer shape of the network at conv_size. */
	if (json)
		fprintf(json, "  \"conv\": [");
	int conv_rows = 0;
	static struct conv_table single_convs; /* zero: no single-convolution figures */
	if (o.conv_size > 0) {
		struct nst_diag diag = {{0}};
		struct nst_weights *w;
		if (nst_weights_open(o.weights, &w, &diag) == NST_OK) {
			printf("\nsingle convolution layers at %d px, GFLOP/s forward / input gradient:\n", o.conv_size);
			printf("  %-8s %-18s", "layer", "shape");
			for (int b = 0; b < o.n_backends; b++)
				for (int t = 0; t < o.n_threads && o.precisions[b] == NST_PRECISION_FP32; t++)
					printf(" %7s %dt       ", nst_backend_name(o.backends[b]), o.threads[t]);
			printf("\n");
			int h = o.conv_size, block = 1;
			for (int i = 0; i < nst_weights_layer_count(w); i++) {
				struct nst_layer_info L;
				nst_weights_layer(w, i, &L);
				const int lb = atoi(L.name + 4);
				if (lb != block) {
					h /= 2;
					block = lb;
				}
				if (h < 1)
					break;
				char shape[64];
				snprintf(shape, sizeof shape, "%dx%dx%d->%d", h, h, L.in_channels, L.out_channels);
				printf("  %-8s %-18s", L.name, shape);
				for (int b = 0; b < o.n_backends; b++)
					for (int t = 0; t < o.n_threads && o.precisions[b] == NST_PRECISION_FP32; t++) {
						double f = 0, g = 0;
						nst_bench_conv(o.backends[b], o.threads[t], h, h, L.in_channels, L.out_channels, &f, &g);
						if (i < NST_PROFILE_MAX_LAYERS) {
							single_convs.forward[i][b][t] = f;
							single_convs.backward[i][b][t] = g;
							single_convs.n_layers = i + 1;
						}
						printf(" %7.1f / %-7.1f", f, g);
						if (json)
							fprintf(json, "%s\n    {\"layer\": \"%s\", \"size\": %d, \"in\": %d, \"out\": %d, \"backend\": \"%s\", "
							              "\"threads\": %d, \"forward_gflops\": %.2f, \"backward_gflops\": %.2f}",
							        conv_rows++ ? "," : "", L.name, h, L.in_channels, L.out_channels,
							        nst_backend_name(o.backends[b]), o.threads[t], f, g);
					}
				printf("\n");
			}
			nst_weights_close(w);
		}
	}
	if (json)
		fprintf(json, "\n  ],\n  \"iterations\": [");

	/* Whole iterations, one child process per configuration. */
	printf("\nwhole iterations (%s, default layers, %d warm-up + %d timed; seconds median [min, max]):\n",
	       o.optimizer == NST_OPTIMIZER_ADAM ? "adam" : "l-bfgs", o.warmup, o.iterations);
	printf("  %5s %-7s %-4s %3s %26s %9s %9s %9s %8s %10s %10s\n", "size", "backend", "prec", "thr", "s/iteration",
	       "GFLOP/s", "of peak", "vs convs", "plan MiB", "peak MiB", "conv share");
	int rows = 0, failures = 0;
	for (int si = 0; si < o.n_sizes; si++)
		for (int b = 0; b < o.n_backends; b++)
			for (int t = 0; t < o.n_threads && !pictures_only(&o, b); t++) {
				const struct bench_result *r = &iteration_runs[grid_index(&o, si, b, t)].result;
				const size_t rss = iteration_runs[grid_index(&o, si, b, t)].rss;
				const char *prec = nst_precision_name(o.precisions[b]);
				if (r->status != NST_OK || r->timed == 0) {
					printf("  %5d %-7s %-4s %3d  failed: %s\n", o.sizes[si], nst_backend_name(o.backends[b]), prec,
					       o.threads[t], r->message);
					failures++;
					continue;
				}
				double lo = r->seconds[0], hi = r->seconds[0];
				for (int k = 0; k < r->timed; k++) {
					lo = fmin(lo, r->seconds[k]);
					hi = fmax(hi, r->seconds[k]);
				}
				double tmp[MAX_TIMED];
				memcpy(tmp, r->seconds, sizeof tmp);
				const double med = median(tmp, r->timed);
				const double gflops = r->flops / med * 1e-9;
				double conv = 0;
				for (int l = 0; l < r->profile.n_layers; l++)
					conv += r->profile.layers[l].forward_seconds + r->profile.layers[l].backward_seconds;
				const double conv_share = r->wall > 0 ? conv / r->wall : 0.0;
				/* Against the single convolutions of the same shapes, backend and threads. */
				const double single = o.sizes[si] == o.conv_size && o.precisions[b] == NST_PRECISION_FP32
				                          ? vs_single_convs(r, &single_convs, b, t)
				                          : 0.0;
				char vs[16] = "-";
				if (single > 0.0)
					snprintf(vs, sizeof vs, "%.0f%%", 100.0 * gflops / single);
				printf("  %5d %-7s %-4s %3d %9.3f [%6.3f, %6.3f] %9.1f %8.0f%% %9s %8.1f %10.1f %9.0f%%\n", o.sizes[si],
				       nst_backend_name(o.backends[b]), prec, o.threads[t], med, lo, hi, gflops,
				       100.0 * gflops / peak[b][t], vs, mib(r->plan_bytes), mib(rss), 100.0 * conv_share);
				if (json) {
					fprintf(json,
					        "%s\n    {\"size\": %d, \"backend\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"seconds_median\": %.5f, "
					        "\"seconds_min\": %.5f, \"seconds_max\": %.5f, \"gflops\": %.2f, \"fraction_of_peak\": %.3f, "
					        "\"fraction_of_single_convs\": %.3f, \"plan_bytes\": %zu, \"peak_rss_bytes\": %zu, \"layers\": [",
					        rows++ ? "," : "", o.sizes[si], nst_backend_name(o.backends[b]), prec, o.threads[t], med, lo, hi,
					        gflops, gflops / peak[b][t], single > 0.0 ? gflops / single : 0.0, r->plan_bytes, rss);
					for (int l = 0; l < r->profile.n_layers; l++) {
						const struct nst_layer_profile *L = &r->profile.layers[l];
						const double fs = L->forward_seconds / (r->profile.forward_passes ? r->profile.forward_passes : 1);
						const double bs = L->backward_seconds / (r->profile.backward_passes ? r->profile.backward_passes : 1);
						fprintf(json,
						        "%s{\"layer\": \"%s\", \"forward_seconds\": %.6f, \"backward_seconds\": %.6f, "
						        "\"forward_gflops\": %.2f, \"backward_gflops\": %.2f}",
						        l ? ", " : "", L->name, fs, bs, fs > 0 ? L->forward_flops / fs * 1e-9 : 0.0,
						        bs > 0 ? L->backward_flops / bs * 1e-9 : 0.0);
					}
					fprintf(json, "]}");
				}
			}
	if (json)
		fprintf(json, "\n  ],\n  \"feed_forward\": [");
	failures += bench_fast(&o, model_name, picture_runs, json);
	free(iteration_runs);
	free(picture_runs);
	if (json) {
		fprintf(json, "\n  ]\n}\n");
		if (fclose(json) != 0) {
			fprintf(stderr, "nst bench: cannot write %s\n", o.json);
			return 1;
		}
	}
	printf("\nGFLOP/s counts the convolutions only (forward + input gradient); 'of peak' is against the\n"
	       "microkernel's L1-resident peak at the same thread count; 'vs convs' against the speed its\n"
	       "convolutions reach alone in the single-layer test (same backend and threads, when --conv-size\n"
	       "is the size); peak MiB is each run's own peak RSS (its process, as a plain nst run's).\n"
	       "The feed-forward mode's direct GFLOP/s counts its convolutions as direct ones, though it runs\n"
	       "the residual blocks (Winograd) and the upsampling ones (phases) with fewer multiplies.\n");
	return failures ? 1 : 0;
}
