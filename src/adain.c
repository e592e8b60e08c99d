/*
 * Adaptive instance normalization (AdaIN, Huang and Belongie 2017) as the arbitrary-style network
 * computes it (../shared/fast-styles/arbitrary/ARCHITECTURE.md): per channel of a feature map
 * f [n][c], the mean and std = sqrt(var + eps) with the UNBIASED variance (torch.var: the sum of
 * squared deviations / (n - 1)); then x is renormalized to the painting's statistics and mixed
 * with itself by alpha (the --strength of the arbitrary-style mode).
 *
 * Both run on the engine's instance-norm kernels (arch/kernels.h, SIMD with scalar twins): the
 * statistics from each channel's sum and sum of squares in double (one pass; a float's square is
 * exact in double, so the deviations' sum, sum x^2 - mean sum x, loses only what double rounding
 * of the n additions does: relatively about sqrt(n) .. n times 1e-16 times mean^2 / var, far below
 * float's rounding for these features), AdaIN itself as the kernels' per-channel affine.
 * The sums cut the pixels into NST_SUM_PARTS fixed parts, each part's sums added in part order:
 * the same bits on any thread count, and each thread reads the rows of the feature map it wrote
 * (the convolution before gives each thread its own rows: src/engine.h).
 */
#include <assert.h>
#include <math.h>

#include "internal.h"

struct stats_task {
	size_t n, c;
	const float *f; /* [n][c] */
	const struct nst_norm_kernel *kernel;
	double part[NST_SUM_PARTS][2][NST_ADAIN_MAX_CHANNELS]; /* each part's sums and sums of squares */
};

static void stats_part(void *context, size_t slot, size_t part) {
	(void)slot;
	struct stats_task *t = context;
	const size_t i0 = t->n * part / NST_SUM_PARTS, i1 = t->n * (part + 1) / NST_SUM_PARTS;
	nst_norm_sums(t->kernel, i1 - i0, t->c, t->f + i0 * t->c, t->part[part][0], t->part[part][1]);
}

/* The norm kernels of the engine's configuration, or the scalar ones without an engine. */
static const struct nst_norm_kernel *norm_kernel(const struct nst_engine *engine) {
	return engine ? nst_norm_kernel_for(engine->gemm) : &nst_kernel_config_scalar(false)->norm;
}

void nst_channel_stats(const struct nst_engine *engine, size_t n, int c, const float *f, float eps, float *mean,
                       float *std) {
	assert(c <= NST_ADAIN_MAX_CHANNELS);
	const size_t cc = (size_t)c;
	struct stats_task t = {.n = n, .c = cc, .f = f, .kernel = norm_kernel(engine)};
	if (engine && n * cc >= NST_SUM_PARALLEL_MIN)
		nst_parallel_for(engine, NST_SUM_PARTS, stats_part, &t);
	else
		for (size_t part = 0; part < NST_SUM_PARTS; part++)
			stats_part(&t, 0, part);
	for (size_t k = 0; k < cc; k++) {
		double sum = 0.0, sq = 0.0;
		for (size_t part = 0; part < NST_SUM_PARTS; part++) {
			sum += t.part[part][0][k];
			sq += t.part[part][1][k];
		}
		const double m = sum / (double)n;
		mean[k] = (float)m;
		if (std) {
			const double deviations = sq - m * sum; /* sum (x - m)^2 */
			const double var = n > 1 && deviations > 0.0 ? deviations / (double)(n - 1) : 0.0;
			std[k] = (float)sqrt(var + (double)eps);
		}
	}
}

struct adain_task {
	size_t n, c, items;
	float *x; /* [n][c] */
	const float *scale, *shift;
	const struct nst_norm_kernel *kernel;
};

static void adain_item(void *context, size_t slot, size_t item) {
	(void)slot;
	const struct adain_task *t = context;
	const size_t i0 = t->n * item / t->items, i1 = t->n * (item + 1) / t->items;
	float *x = t->x + i0 * t->c; // [i1 - i0][c]
	t->kernel->affine(i1 - i0, t->c, x, t->scale, t->shift, NULL, false, x);
}

void nst_adain(const struct nst_engine *engine, size_t n, int c, float *x, const float *x_mean, const float *x_std,
               const float *s_mean, const float *s_std, float alpha) {
	assert(c <= NST_ADAIN_MAX_CHANNELS);
	const size_t cc = (size_t)c;
	/* alpha ((x - xm) / xs * ss + sm) + (1 - alpha) x = scale x + shift, per channel */
	float scale[NST_ADAIN_MAX_CHANNELS], shift[NST_ADAIN_MAX_CHANNELS];
	for (size_t k = 0; k < cc; k++) {
		const double ratio = (double)s_std[k] / (double)x_std[k];
		scale[k] = (float)(alpha * ratio + (1.0 - alpha));
		shift[k] = (float)(alpha * ((double)s_mean[k] - (double)x_mean[k] * ratio));
	}
	struct adain_task t = {n, cc, engine ? nst_parallel_items(engine, n) : 1, x, scale, shift, norm_kernel(engine)};
	if (engine)
		nst_parallel_for(engine, t.items, adain_item, &t);
	else
		adain_item(&t, 0, 0);
}
