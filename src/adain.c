/*
 * Adaptive instance normalization (AdaIN, Huang and Belongie 2017) as the arbitrary-style network
 * computes it (../shared/fast-styles/arbitrary/ARCHITECTURE.md): per channel of a feature map
 * f [n][c], the mean and std = sqrt(var + eps) with the UNBIASED variance (torch.var: the sum of
 * squared deviations / (n - 1)); then x is renormalized to the painting's statistics and mixed
 * with itself by alpha (the --strength of the arbitrary-style mode).
 *
 * The sums are in double (two passes: the mean, then the deviations), so that the statistics do
 * not depend on the picture's size beyond float rounding of the inputs.  The maps here are at a
 * quarter of the picture's size (64 channels): one thread is enough.
 */
#include <assert.h>
#include <math.h>

#include "internal.h"

void nst_channel_stats(size_t n, int c, const float *f, float eps, float *mean, float *std) {
	assert(c <= NST_ADAIN_MAX_CHANNELS);
	const size_t cc = (size_t)c;
	double sum[NST_ADAIN_MAX_CHANNELS] = {0}, squares[NST_ADAIN_MAX_CHANNELS] = {0};
	for (size_t i = 0; i < n; i++) /* pixel by pixel: the channels of one pixel are contiguous */
		for (size_t k = 0; k < cc; k++)
			sum[k] += f[i * cc + k];
	for (size_t k = 0; k < cc; k++) {
		sum[k] /= (double)n; /* the mean, in double for the deviations */
		mean[k] = (float)sum[k];
	}
	if (!std)
		return;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < cc; k++) {
			const double d = f[i * cc + k] - sum[k];
			squares[k] += d * d;
		}
	for (size_t k = 0; k < cc; k++)
		std[k] = (float)sqrt((n > 1 ? squares[k] / (double)(n - 1) : 0.0) + (double)eps);
}

void nst_adain(size_t n, int c, float *x, const float *x_mean, const float *x_std, const float *s_mean,
               const float *s_std, float alpha) {
	assert(c <= NST_ADAIN_MAX_CHANNELS);
	const size_t cc = (size_t)c;
	/* alpha ((x - xm) / xs * ss + sm) + (1 - alpha) x = scale x + shift, per channel */
	float scale[NST_ADAIN_MAX_CHANNELS], shift[NST_ADAIN_MAX_CHANNELS];
	for (size_t k = 0; k < cc; k++) {
		const double ratio = (double)s_std[k] / (double)x_std[k];
		scale[k] = (float)(alpha * ratio + (1.0 - alpha));
		shift[k] = (float)(alpha * ((double)s_mean[k] - (double)x_mean[k] * ratio));
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < cc; k++)
			x[i * cc + k] = scale[k] * x[i * cc + k] + shift[k];
}
