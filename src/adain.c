/*
 * Adaptive instance normalization (AdaIN, Huang and Belongie 2017) as the arbitrary-style network
 * computes it (../shared/fast-styles/arbitrary/ARCHITECTURE.md): per channel of a feature map
 * f [n][c], the mean and std = sqrt(var + eps) with the UNBIASED variance (torch.var: the sum of
 * squared deviations / (n - 1)); then x is renormalized to the painting's statistics and mixed
 * with itself by alpha (the --strength of the arbitrary-style mode).
 *
 * The sums are in double (two passes: the mean, then the deviations), so that the statistics do
 * not depend on the picture's size beyond float rounding of the inputs.  The engine's threads
 * take runs of CHANNEL_RUN channels (the statistics) or of pixels (AdaIN), and each channel's sums
 * run over the pixels in order whatever the threads: the same bits on any thread count.  Runs of
 * a constant count of channels are what GCC's -O2 vectorizes.
 */
#include <assert.h>
#include <math.h>

#include "internal.h"

#define CHANNEL_RUN 16

struct stats_task {
	size_t n, c;
	const float *f; /* [n][c] */
	float eps;
	float *mean, *std;
};

/* The sums of channels k0 .. k0 + run over every pixel; run is CHANNEL_RUN (a constant, so that
 * the channel loop is vectorized) or the last few. */
static inline __attribute__((always_inline)) void stats_run(const struct stats_task *t, size_t k0, size_t run) {
	const size_t c = t->c, n = t->n;
	double sum[CHANNEL_RUN] = {0}, squares[CHANNEL_RUN] = {0};
	for (size_t i = 0; i < n; i++) /* pixel by pixel: the channels of one pixel are contiguous */
		for (size_t k = 0; k < run; k++)
			sum[k] += t->f[i * c + k0 + k];
	for (size_t k = 0; k < run; k++) {
		sum[k] /= (double)n; /* the mean, in double for the deviations */
		t->mean[k0 + k] = (float)sum[k];
	}
	if (!t->std)
		return;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < run; k++) {
			const double d = t->f[i * c + k0 + k] - sum[k];
			squares[k] += d * d;
		}
	for (size_t k = 0; k < run; k++)
		t->std[k0 + k] = (float)sqrt((n > 1 ? squares[k] / (double)(n - 1) : 0.0) + (double)t->eps);
}

static void stats_item(void *context, size_t slot, size_t item) {
	(void)slot;
	const struct stats_task *t = context;
	const size_t k0 = item * CHANNEL_RUN;
	if (t->c - k0 >= CHANNEL_RUN)
		stats_run(t, k0, CHANNEL_RUN);
	else
		stats_run(t, k0, t->c - k0);
}

void nst_channel_stats(const struct nst_engine *engine, size_t n, int c, const float *f, float eps, float *mean,
                       float *std) {
	assert(c <= NST_ADAIN_MAX_CHANNELS);
	struct stats_task t = {n, (size_t)c, f, eps, mean, std};
	const size_t items = ((size_t)c + CHANNEL_RUN - 1) / CHANNEL_RUN;
	if (engine)
		nst_parallel_for(engine, items, stats_item, &t);
	else
		for (size_t i = 0; i < items; i++)
			stats_item(&t, 0, i);
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
