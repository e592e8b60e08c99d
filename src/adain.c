/*
 * Adaptive instance normalization (AdaIN, Huang and Belongie 2017) as the arbitrary-style network
 * computes it (../shared/fast-styles/arbitrary/ARCHITECTURE.md): per channel of a feature map
 * f [n][c], the mean and std = sqrt(var + eps) with the UNBIASED variance (torch.var: the sum of
 * squared deviations / (n - 1)); then x is renormalized to the painting's statistics and mixed
 * with itself by alpha (the --strength of the arbitrary-style mode).
 *
 * The sums are in double (two passes: the mean, then the deviations), so that the statistics do
 * not depend on the picture's size beyond float rounding of the inputs.  Both passes cut the pixels
 * into NST_SUM_PARTS fixed parts, each part's per-channel sums added in part order: the same bits on
 * any thread count, and each thread reads the rows of the feature map it wrote (the convolution
 * before gives each thread its own rows: src/engine.h), as AdaIN's pass over pixels then does.
 * Runs of a constant count of channels are what GCC's -O2 vectorizes.
 */
#include <assert.h>
#include <math.h>

#include "internal.h"

#define CHANNEL_RUN 16

struct stats_task {
	size_t n, c;
	const float *f;       /* [n][c] */
	const double *center; /* [c]: NULL for the sums, the means for the squared deviations */
	double part[NST_SUM_PARTS][NST_ADAIN_MAX_CHANNELS];
};

/* Channels k0 .. k0 + run of pixels [i0, i1) into sums; run is CHANNEL_RUN (a constant, so that the
 * channel loop is vectorized) or the last few. */
static inline __attribute__((always_inline)) void stats_run(const struct stats_task *t, size_t i0, size_t i1, size_t k0,
                                                            size_t run, double *sums) {
	const size_t c = t->c;
	double acc[CHANNEL_RUN] = {0};
	if (t->center) {
		for (size_t i = i0; i < i1; i++) /* pixel by pixel: the channels of one pixel are contiguous */
			for (size_t k = 0; k < run; k++) {
				const double d = t->f[i * c + k0 + k] - t->center[k0 + k];
				acc[k] += d * d;
			}
	} else {
		for (size_t i = i0; i < i1; i++)
			for (size_t k = 0; k < run; k++)
				acc[k] += t->f[i * c + k0 + k];
	}
	for (size_t k = 0; k < run; k++)
		sums[k0 + k] = acc[k];
}

static void stats_part(void *context, size_t slot, size_t part) {
	(void)slot;
	struct stats_task *t = context;
	const size_t i0 = t->n * part / NST_SUM_PARTS, i1 = t->n * (part + 1) / NST_SUM_PARTS;
	size_t k0 = 0;
	for (; k0 + CHANNEL_RUN <= t->c; k0 += CHANNEL_RUN)
		stats_run(t, i0, i1, k0, CHANNEL_RUN, t->part[part]);
	if (k0 < t->c)
		stats_run(t, i0, i1, k0, t->c - k0, t->part[part]);
}

/* out[k] = the parts' sums of channel k, added in part order. */
static void stats_pass(const struct nst_engine *engine, struct stats_task *t, double *out) {
	if (engine && t->n * t->c >= NST_SUM_PARALLEL_MIN)
		nst_parallel_for(engine, NST_SUM_PARTS, stats_part, t);
	else
		for (size_t part = 0; part < NST_SUM_PARTS; part++)
			stats_part(t, 0, part);
	for (size_t k = 0; k < t->c; k++) {
		out[k] = 0.0;
		for (size_t part = 0; part < NST_SUM_PARTS; part++)
			out[k] += t->part[part][k];
	}
}

void nst_channel_stats(const struct nst_engine *engine, size_t n, int c, const float *f, float eps, float *mean,
                       float *std) {
	assert(c <= NST_ADAIN_MAX_CHANNELS);
	const size_t cc = (size_t)c;
	struct stats_task t = {.n = n, .c = cc, .f = f, .center = NULL};
	double m[NST_ADAIN_MAX_CHANNELS], squares[NST_ADAIN_MAX_CHANNELS];
	stats_pass(engine, &t, m);
	for (size_t k = 0; k < cc; k++) {
		m[k] /= (double)n; /* the mean, in double for the deviations */
		mean[k] = (float)m[k];
	}
	if (!std)
		return;
	t.center = m;
	stats_pass(engine, &t, squares);
	for (size_t k = 0; k < cc; k++)
		std[k] = (float)sqrt((n > 1 ? squares[k] / (double)(n - 1) : 0.0) + (double)eps);
}

struct adain_task {
	size_t n, c, items;
	float *x; /* [n][c] */
	const float *scale, *shift;
};

static void adain_item(void *context, size_t slot, size_t item) {
	(void)slot;
	const struct adain_task *t = context;
	const size_t c = t->c, i0 = t->n * item / t->items, i1 = t->n * (item + 1) / t->items;
	float *x = t->x;
	for (size_t i = i0; i < i1; i++) {
		size_t k = 0;
		for (; k + CHANNEL_RUN <= c; k += CHANNEL_RUN)
			for (size_t j = k; j < k + CHANNEL_RUN; j++)
				x[i * c + j] = t->scale[j] * x[i * c + j] + t->shift[j];
		for (; k < c; k++)
			x[i * c + k] = t->scale[k] * x[i * c + k] + t->shift[k];
	}
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
	struct adain_task t = {n, cc, engine ? nst_parallel_items(engine, n) : 1, x, scale, shift};
	if (engine)
		nst_parallel_for(engine, t.items, adain_item, &t);
	else
		adain_item(&t, 0, 0);
}
