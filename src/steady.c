/*
 * Steady frames (src/frames.h): a stylized frame blended with the previous result where the input
 * stood still, so that sensor noise stops shimmering through the network while moving things and
 * scene cuts come through at once.
 */
#include <math.h>

#include "frames.h"

/* BT.601 luma weights: the difference is judged on brightness, as the eye and the noise are. */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f
#define BOX 3 /* the neighbourhood over which the difference is averaged: BOX x BOX */

size_t nst_steady_scratch_floats(int width, int height) { return 2 * (size_t)width * (size_t)height; }

static float luma(const uint8_t *p) { return LUMA_R * p[0] + LUMA_G * p[1] + LUMA_B * p[2]; }

bool nst_steady_blend(const struct nst_steady_params *p, int width, int height, const uint8_t *prev_in,
                      const uint8_t *in, const uint8_t *prev_out, uint8_t *out, float *scratch, float *mean_change) {
	const size_t pixels = (size_t)width * (size_t)height;
	float *diff = scratch, *across = scratch + pixels; /* [height][width] each: |dY|, then its row sums */
	double sum = 0.0;
	for (size_t i = 0; i < pixels; i++) {
		diff[i] = fabsf(luma(in + 3 * i) - luma(prev_in + 3 * i));
		sum += diff[i];
	}
	*mean_change = (float)(sum / (double)pixels);
	if (!(p->strength > 0.0f) || *mean_change > p->cut)
		return *mean_change > p->cut;
	const int r = BOX / 2;
	for (int y = 0; y < height; y++) /* the box's rows, clamped at the edges */
		for (int x = 0; x < width; x++) {
			float s = 0.0f;
			for (int dx = -r; dx <= r; dx++) {
				const int xx = x + dx < 0 ? 0 : x + dx >= width ? width - 1 : x + dx;
				s += diff[(size_t)y * (size_t)width + xx];
			}
			across[(size_t)y * (size_t)width + x] = s;
		}
	const float span = p->moving > p->still ? p->moving - p->still : 1.0f;
	for (int y = 0; y < height; y++)
		for (int x = 0; x < width; x++) {
			float s = 0.0f;
			for (int dy = -r; dy <= r; dy++) {
				const int yy = y + dy < 0 ? 0 : y + dy >= height ? height - 1 : y + dy;
				s += across[(size_t)yy * (size_t)width + x];
			}
			const float d = s / (float)(BOX * BOX);
			float g = (p->moving - d) / span;
			g = g < 0.0f ? 0.0f : g > 1.0f ? 1.0f : g;
			const float a = p->strength * g;
			if (a <= 0.0f)
				continue;
			const size_t i = ((size_t)y * (size_t)width + x) * 3;
			for (int c = 0; c < 3; c++) {
				const float v = a * prev_out[i + c] + (1.0f - a) * out[i + c];
				out[i + c] = (uint8_t)(v + 0.5f);
			}
		}
	return false;
}
