/*
 * Instance norm over a feature map [n][c] with its ReLU or residual add fused (the feed-forward
 * networks'): per-channel sums in double over even chunks of pixels, one per slot of the engine
 * (arch/ kernels: nst_norm_kernel_for), then the affine pass in place.
 */
#include <math.h>

#include "internal.h"

/* Values below which a pass over a feature map stays on the calling thread. */
#define PARALLEL_MIN_VALUES 4096

/* Chunks a pass over n pixels of c channels is split into: one per slot of the engine (the
 * partial sums, one per chunk, are added in chunk order). */
static int pass_chunks(const struct nst_engine *engine, size_t n, int c) {
	return n * (size_t)c < PARALLEL_MIN_VALUES ? 1 : (int)nst_parallel_slots(engine, n);
}

size_t nst_instance_norm_scratch_doubles(int threads, int c) {
	/* [chunks][2][c] partial sums and sums of squares (a chunk per slot), then [2][c] floats of
	 * scale and shift (c doubles hold them). */
	const size_t chunks = threads > 1 ? (size_t)threads : 1;
	return chunks * 2 * (size_t)c + (size_t)c;
}

struct norm_task {
	size_t n, chunk;       /* pixels, pixels per chunk */
	int c;
	float *x;              /* [n][c] */
	float *residual;       /* [n][c] for NST_NORM_ADD */
	enum nst_norm_then then;
	double *partial;       /* [chunks][2][c] */
	const float *scale, *shift; /* [c] each */
	const struct nst_norm_kernel *kernel;
};

/* The sums run over this many floats of a feature map at a time (an L1-sized run of pixels that
 * the SIMD kernels walk once per block of channels). */
#define NORM_RUN_FLOATS 4096

void nst_norm_sums(const struct nst_norm_kernel *k, size_t n, size_t c, const float *x, double *sum, double *sq) {
	const size_t run = NORM_RUN_FLOATS / c > 0 ? NORM_RUN_FLOATS / c : 1; /* pixels */
	for (size_t ch = 0; ch < c; ch++)
		sum[ch] = sq[ch] = 0.0;
	for (size_t p = 0; p < n; p += run)
		k->sums(n - p < run ? n - p : run, c, x + p * c, sum, sq);
}

static void norm_sums_worker(void *context, size_t slot, size_t chunk) {
	const struct norm_task *t = context;
	const size_t c = (size_t)t->c, p0 = chunk * t->chunk;
	const size_t p1 = p0 + t->chunk < t->n ? p0 + t->chunk : t->n;
	double *sum = t->partial + chunk * 2 * c, *sq = sum + c; // [c] each
	nst_norm_sums(t->kernel, p1 > p0 ? p1 - p0 : 0, c, t->x + p0 * c, sum, sq);
}

static void norm_apply_worker(void *context, size_t slot, size_t chunk) {
	const struct norm_task *t = context;
	const size_t c = (size_t)t->c, p0 = chunk * t->chunk;
	const size_t p1 = p0 + t->chunk < t->n ? p0 + t->chunk : t->n;
	if (p1 <= p0)
		return;
	float *x = t->x + p0 * c; // [p1 - p0][c]
	switch (t->then) {
	case NST_NORM_RELU: t->kernel->affine(p1 - p0, c, x, t->scale, t->shift, NULL, true, x); break;
	case NST_NORM_PLAIN: t->kernel->affine(p1 - p0, c, x, t->scale, t->shift, NULL, false, x); break;
	case NST_NORM_ADD: {
		float *res = t->residual + p0 * c; // [p1 - p0][c]
		t->kernel->affine(p1 - p0, c, x, t->scale, t->shift, res, false, res);
		break;
	}
	}
}

void nst_instance_norm(const struct nst_engine *engine, size_t n, int c, float *x, const float *gamma,
                       const float *beta, enum nst_norm_then then, float *residual, double *scratch) {
	const int chunks = pass_chunks(engine, n, c);
	const size_t cc = (size_t)c;
	struct norm_task t = {
		.n = n,
		.chunk = (n + (size_t)chunks - 1) / (size_t)chunks,
		.c = c,
		.x = x,
		.residual = residual,
		.then = then,
		.partial = scratch,
		.kernel = nst_norm_kernel_for(engine->gemm),
	};
	nst_parallel_for(engine, (size_t)chunks, norm_sums_worker, &t);
	/* The affine per channel, after the partials: [c] scale then [c] shift, as floats. */
	float *affine = (float *)(void *)(scratch + (size_t)chunks * 2 * cc); // [2][c]
	for (size_t ch = 0; ch < cc; ch++) {
		double sum = 0.0, sq = 0.0;
		for (int s = 0; s < chunks; s++) {
			sum += scratch[(size_t)s * 2 * cc + ch];
			sq += scratch[(size_t)s * 2 * cc + cc + ch];
		}
		const double mean = sum / (double)n;
		double var = sq / (double)n - mean * mean;
		var = var > 0.0 ? var : 0.0;
		const double scale = (double)gamma[ch] / sqrt(var + NST_INSTANCE_NORM_EPS);
		affine[ch] = (float)scale;
		affine[cc + ch] = (float)((double)beta[ch] - mean * scale);
	}
	t.scale = affine;
	t.shift = affine + cc;
	nst_parallel_for(engine, (size_t)chunks, norm_apply_worker, &t);
}
