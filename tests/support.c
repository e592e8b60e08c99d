#include "support.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "support_engine.h"

#define SUPPORT_BIAS 0.05

size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* A table entry's shape (a k x k, stride-1 convolution) and its place at *payload, which moves past it. */
static void place_layer(struct nstw_layer *e, uint32_t op, uint32_t k, int cin, int cout, size_t elem, size_t *payload) {
	e->op = op;
	e->kernel_h = e->kernel_w = k;
	e->in_channels = (uint32_t)cin;
	e->out_channels = (uint32_t)cout;
	e->stride = 1;
	e->offset = *payload;
	e->bytes = align_up((size_t)k * k * e->in_channels * e->out_channels * elem, 4) + 4u * (size_t)e->out_channels;
	*payload = align_up(*payload + e->bytes, NSTW_ALIGNMENT);
}

int support_write_vgg(const char *path, const struct support_vgg_layer *layers, int n_layers, uint64_t seed,
                      enum nst_dtype dtype) {
	int n_entries = n_layers, taps = 0;
	for (int i = 0; i < n_layers; i++)
		taps += layers[i].tap > 0;
	n_entries += taps;
	if (n_entries > (int)NSTW_MAX_LAYERS)
		return -1;
	/* version 2 (taps): the defaults block, all zero (none), follows the layer table */
	const size_t header_bytes = align_up(NSTW_HEADER_BYTES + NSTW_LAYER_BYTES * (size_t)n_entries +
	                                         (taps ? NSTW_DEFAULTS_BYTES : 0),
	                                     NSTW_ALIGNMENT);
	const size_t elem = dtype == NST_DTYPE_F16 ? 2 : 4;
	struct nstw_layer table[NSTW_MAX_LAYERS];
	memset(table, 0, sizeof table);
	size_t payload = 0;
	int cin = 3, index_in_block = 0, prev_block = 0, e_i = 0;
	for (int i = 0; i < n_layers; i++) {
		struct nstw_layer *e = &table[e_i++];
		index_in_block = layers[i].block == prev_block ? index_in_block + 1 : 1;
		prev_block = layers[i].block;
		snprintf(e->name, sizeof e->name, "conv%d_%d", layers[i].block, index_in_block);
		place_layer(e, NSTW_OP_CONV2D, 3, cin, layers[i].out_channels, elem, &payload);
		cin = layers[i].out_channels;
		if (layers[i].tap > 0) { /* tapB_I: ReLU(1x1 conv) of convB_I's output */
			struct nstw_layer *t = &table[e_i++];
			snprintf(t->name, sizeof t->name, "tap%d_%d", layers[i].block, index_in_block);
			memcpy(t->tap_of, e->name, sizeof e->name < sizeof t->tap_of ? sizeof e->name : sizeof t->tap_of);
			place_layer(t, NSTW_OP_TAP, 1, cin, layers[i].tap, elem, &payload);
		}
	}
	uint8_t *file = calloc(1, header_bytes + payload);
	if (!file)
		return -1;
	struct nstw_header h;
	support_nstw_header(&h, header_bytes, n_entries, dtype, NST_ARCH_VGG, payload, "test-vgg", "tests/support.c random");
	if (taps)
		h.version = NSTW_VERSION;
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	for (int i = 0; i < n_entries; i++) {
		const struct nstw_layer *e = &table[i];
		uint8_t *p = file + header_bytes + e->offset;
		const size_t n = (size_t)e->kernel_h * e->kernel_w * e->in_channels * e->out_channels;
		const double scale = sqrt(2.0 / ((double)e->kernel_h * e->kernel_w * e->in_channels));
		for (size_t j = 0; j < n; j++) {
			const float v = (float)(nst_rng_normal(&rng) * scale);
			if (dtype == NST_DTYPE_F16) {
				const uint16_t hv = nst_f32_to_f16(v);
				memcpy(p + 2 * j, &hv, 2);
			} else {
				memcpy(p + 4 * j, &v, 4);
			}
		}
		float *bias = (float *)(void *)(p + align_up(n * elem, 4));
		for (uint32_t j = 0; j < e->out_channels; j++)
			bias[j] = (float)(SUPPORT_BIAS * (1.0 + nst_rng_uniform(&rng)));
	}
	const int rc = support_nstw_write(path, file, header_bytes + payload, &h, table, n_entries);
	free(file);
	return rc;
}

void support_nstw_header(struct nstw_header *h, size_t header_bytes, int n_layers, enum nst_dtype dtype, uint32_t arch,
                         size_t payload, const char *model, const char *source) {
	memset(h, 0, sizeof *h);
	memcpy(h->magic, NSTW_MAGIC, 4);
	h->version = NSTW_VERSION_1;
	h->header_bytes = (uint32_t)header_bytes;
	h->n_layers = (uint32_t)n_layers;
	h->dtype = (uint32_t)dtype;
	h->arch = arch;
	snprintf(h->model, sizeof h->model, "%s", model);
	h->payload_bytes = payload;
	snprintf(h->source, sizeof h->source, "%s", source);
}

int support_nstw_write(const char *path, uint8_t *file, size_t size, const struct nstw_header *h,
                       const struct nstw_layer *table, int n_layers) {
	memcpy(file, h, sizeof *h);
	memcpy(file + NSTW_HEADER_BYTES, table, NSTW_LAYER_BYTES * (size_t)n_layers);
	const uint32_t crc = nst_crc32(0, file, size);
	memcpy(file + NSTW_CHECKSUM_OFFSET, &crc, sizeof crc);
	return support_write_file(path, file, size);
}

char *support_tmpdir(const char *tag) {
	char tmpl[256];
	snprintf(tmpl, sizeof tmpl, "/tmp/nst-%s-XXXXXX", tag);
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

void support_rmdir(const char *dir) {
	char cmd[512];
	if (dir && strncmp(dir, "/tmp/nst-", 9) == 0) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

uint64_t support_seed(const char *test) {
	const char *s = getenv("NST_TEST_SEED");
	uint64_t seed;
	if (s && *s) {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32);
	}
	printf("%s: seed %" PRIu64 " (NST_TEST_SEED)\n", test, seed);
	fflush(stdout);
	return seed;
}

int support_write_small_vgg(const char *path, uint64_t seed) {
	static const struct support_vgg_layer layers[] = {{1, 8, 0}, {1, 8, 0}, {2, 16, 0}, {2, 8, 0}, {3, 16, 0}, {3, 8, 0}};
	return support_write_vgg(path, layers, (int)(sizeof layers / sizeof layers[0]), seed, NST_DTYPE_F32);
}

uint8_t *support_read_file(const char *path, size_t *size) {
	*size = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0, got;
	uint8_t *buf = malloc(cap + 1);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			uint8_t *bigger = realloc(buf, cap + 1);
			if (!bigger)
				free(buf);
			buf = bigger;
		}
	}
	const bool failed = ferror(f) != 0;
	fclose(f);
	if (buf && failed) {
		free(buf);
		buf = NULL;
	}
	if (buf) {
		buf[n] = 0;
		*size = n;
	}
	return buf;
}

int support_write_file(const char *path, const void *bytes, size_t size) {
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	const bool ok = fwrite(bytes, 1, size, f) == size;
	return fclose(f) == 0 && ok ? 0 : -1;
}

void *xmalloc(size_t bytes) {
	void *p = malloc(bytes ? bytes : 1);
	if (!p) {
		fprintf(stderr, "out of memory (%zu bytes)\n", bytes);
		exit(1);
	}
	return p;
}

float poison(void) {
	float f;
	const uint32_t u = SUPPORT_POISON_BITS;
	memcpy(&f, &u, sizeof f);
	return f;
}

float *galloc(size_t n) {
	float *p = xmalloc((n + SUPPORT_GUARD_FLOATS) * sizeof(float));
	const float nan_ = poison();
	for (size_t i = 0; i < n + SUPPORT_GUARD_FLOATS; i++)
		p[i] = nan_;
	return p;
}

bool guard_ok(const float *p, size_t n) {
	for (size_t i = 0; i < SUPPORT_GUARD_FLOATS; i++) {
		uint32_t u;
		memcpy(&u, &p[n + i], sizeof u);
		if (u != SUPPORT_POISON_BITS)
			return false;
	}
	return true;
}

uint8_t *gbytes(size_t n, uint8_t fill) {
	uint8_t *p = xmalloc(n + SUPPORT_GUARD_BYTES);
	memset(p, fill, n);
	memset(p + n, SUPPORT_GUARD_BYTE, SUPPORT_GUARD_BYTES);
	return p;
}

bool gbytes_ok(const uint8_t *p, size_t n) {
	for (size_t i = 0; i < SUPPORT_GUARD_BYTES; i++)
		if (p[n + i] != SUPPORT_GUARD_BYTE)
			return false;
	return true;
}

float *guarded_alloc(struct guarded *g, size_t floats) {
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const size_t data_pages = (floats * sizeof(float) + page - 1) / page;
	g->map_bytes = (data_pages + 1) * page;
	g->map = mmap(NULL, g->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED || mprotect((char *)g->map + data_pages * page, page, PROT_NONE) != 0) {
		fprintf(stderr, "mmap / mprotect failed\n");
		exit(1);
	}
	g->p = (float *)((char *)g->map + data_pages * page) - floats;
	return g->p;
}

void guarded_free(struct guarded *g) { munmap(g->map, g->map_bytes); }

double urand(struct nst_rng *r, double lo, double hi) { return lo + (hi - lo) * nst_rng_uniform(r); }

void fill_uniform(struct nst_rng *r, float *p, size_t n, double lo, double hi) {
	for (size_t i = 0; i < n; i++)
		p[i] = (float)urand(r, lo, hi);
}

void fill_bytes(struct nst_rng *r, uint8_t *p, size_t n) {
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(nst_rng_next(r) >> 56);
}

void note(double *worst, double err) {
	if (!(err <= *worst)) /* NaN sticks */
		*worst = err;
}

int naive_reflect(int i, int n) {
	if (n == 1)
		return 0;
	const int period = 2 * (n - 1);
	int m = i % period;
	if (m < 0)
		m += period;
	return m < n ? m : period - m;
}

void naive_conv_value(const struct naive_conv_shape *c, const float *in, const float *hwio, const float *bias, int oy,
                      int ox, int co, double *value, double *abs_sum) {
	const int uh = c->up * c->h, uw = c->up * c->w, pad = c->k / 2;
	double v = (double)bias[co], a = fabs((double)bias[co]);
	for (int ky = 0; ky < c->k; ky++)
		for (int kx = 0; kx < c->k; kx++) {
			int uy = oy * c->stride - pad + ky, ux = ox * c->stride - pad + kx;
			if (c->reflect) {
				uy = naive_reflect(uy, uh);
				ux = naive_reflect(ux, uw);
			} else if (uy < 0 || uy >= uh || ux < 0 || ux >= uw) {
				continue;
			}
			const int iy = uy / c->up, ix = ux / c->up; /* nearest upsampling */
			for (int ci = 0; ci < c->cin; ci++) {
				const double t = (double)in[((size_t)iy * (size_t)c->w + (size_t)ix) * (size_t)c->cin + (size_t)ci] *
				                 (double)hwio[(((size_t)ky * (size_t)c->k + (size_t)kx) * (size_t)c->cin + (size_t)ci) *
				                                  (size_t)c->cout + (size_t)co];
				v += t;
				a += fabs(t);
			}
		}
	*value = v;
	*abs_sum = a;
}

double seconds_since(const struct timespec *t0) {
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

size_t support_add_config_kernels(const struct nst_gemm_kernel **kernels, size_t n, size_t max) {
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	const struct nst_kernel_config *configs[4];
	const size_t pairs = nst_kernel_configs(&cpu, false, configs, 4);
	for (size_t i = 0; i < 2 * pairs && n < max; i++) {
		const struct nst_gemm_kernel *k = i % 2 ? &configs[i / 2]->twin->gemm : &configs[i / 2]->gemm;
		bool seen = false;
		for (size_t j = 0; j < n; j++)
			seen = seen || kernels[j]->fn == k->fn;
		if (!seen)
			kernels[n++] = k;
	}
	return n;
}

int support_engines(struct test_engine *engines, int max, const struct nst_gemm_kernel *const *kernels,
                    size_t n_kernels, pthreadpool_t pool) {
	int n = 0;
	for (size_t k = 0; k < n_kernels && n + 2 <= max; k++)
		for (int t = 0; t < 2; t++) {
			struct test_engine *te = &engines[n++];
			memset(te, 0, sizeof *te);
			te->e.gemm = kernels[k];
			te->e.threads = pool && t == 1 ? 2 : 1;
			te->e.pool = t == 0 ? NULL : pool;
			snprintf(te->label, sizeof te->label, "%s/%d thread%s", kernels[k]->name, te->e.threads,
			         te->e.threads > 1 ? "s" : "");
			printf("engine %s\n", te->label);
		}
	return n;
}

int support_kernel_engines(struct test_engine *engines, int max, pthreadpool_t *pool) {
	const struct nst_gemm_kernel *kernels[1 + 2 * 4];
	size_t n_kernels = 0;
	kernels[n_kernels++] = nst_gemm_kernel_scalar();
	n_kernels = support_add_config_kernels(kernels, n_kernels, sizeof kernels / sizeof kernels[0]);
	*pool = pthreadpool_create(2);
	if (!*pool) {
		fprintf(stderr, "pthreadpool_create(2) failed\n");
		exit(1);
	}
	return support_engines(engines, max, kernels, n_kernels, *pool);
}

void engine_scratch(struct test_engine *te, size_t floats) {
	te->e.scratch_floats = floats;
	te->e.scratch = galloc(floats * (size_t)te->e.threads);
}

bool engine_scratch_done(struct test_engine *te) {
	const bool ok = guard_ok(te->e.scratch, te->e.scratch_floats * (size_t)te->e.threads);
	free(te->e.scratch);
	te->e.scratch = NULL;
	return ok;
}
