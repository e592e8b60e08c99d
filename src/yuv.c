/*
 * BT.601 between planar YUV (4:2:0 in three sitings, 4:4:4; limited or full range) and RGB24
 * (src/frames.h): what ffmpeg's swscale does for yuv420p / yuvj420p <-> rgb24, with the chroma
 * interpolated at its siting instead of repeated.
 */
#include <math.h>

#include "frames.h"

/* One range's arithmetic: Y = y_offset + ky . RGB, Cb = 128 + kcb . RGB, Cr = 128 + kcr . RGB, and
 * back R = ys (Y - y_offset) + cr_r Cr', G = ... + cb_g Cb' + cr_g Cr', B = ... + cb_b Cb'. */
struct yuv_matrix {
	float y_offset;
	float ky[3], kcb[3], kcr[3];
	float y_scale, cr_r, cb_g, cr_g, cb_b;
};
#define C_OFFSET 128.0f
/* ITU-R BT.601-7, 8 bits: full range (KR 0.299, KB 0.114; JPEG / JFIF) and limited range (the same
 * scaled by 219/255 for Y and 224/255 for chroma: swscale's default matrix). */
static const struct yuv_matrix MATRICES[] = {
	[NST_RANGE_LIMITED] = {16.0f,
	                       {0.256788f, 0.504129f, 0.097906f},
	                       {-0.148223f, -0.290993f, 0.439216f},
	                       {0.439216f, -0.367788f, -0.071427f},
	                       1.164384f, 1.596027f, -0.391762f, -0.812968f, 2.017232f},
	[NST_RANGE_FULL] = {0.0f,
	                    {0.299f, 0.587f, 0.114f},
	                    {-0.168736f, -0.331264f, 0.5f},
	                    {0.5f, -0.418688f, -0.081312f},
	                    1.0f, 1.402f, -0.344136f, -0.714136f, 1.772f},
};

static int chroma_side(int side, enum nst_chroma chroma) { return chroma == NST_CHROMA_444 ? side : (side + 1) / 2; }

size_t nst_yuv_frame_bytes(int width, int height, enum nst_chroma chroma) {
	if (width <= 0 || height <= 0)
		return 0;
	const size_t luma = (size_t)width * (size_t)height;
	const size_t cw = (size_t)chroma_side(width, chroma), ch = (size_t)chroma_side(height, chroma);
	if (luma / (size_t)width != (size_t)height || cw * ch > (SIZE_MAX - luma) / 2)
		return 0;
	return luma + 2 * cw * ch;
}

size_t nst_yuv_scratch_floats(int width, int height) { return 2 * (size_t)width * (size_t)height; }

static uint8_t to_byte(float v) {
	return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

/* Where luma sample i sits in the chroma grid, along one axis: centred (jpeg) or co-sited. */
static float chroma_position(int i, bool centred) { return centred ? 0.5f * (float)i - 0.25f : 0.5f * (float)i; }

/* Bilinear taps along one axis of n chroma samples: *i0, *i1 and the weight of *i1. */
static void taps(float pos, int n, int *i0, int *i1, float *w1) {
	const float f = floorf(pos);
	int a = (int)f, b = a + 1;
	*w1 = pos - f;
	a = a < 0 ? 0 : a > n - 1 ? n - 1 : a;
	b = b < 0 ? 0 : b > n - 1 ? n - 1 : b;
	*i0 = a;
	*i1 = b;
}

void nst_yuv_to_rgb(const uint8_t *yuv, int width, int height, enum nst_chroma chroma, enum nst_yuv_range range,
                    uint8_t *rgb) {
	const struct yuv_matrix *m = &MATRICES[range];
	const int cw = chroma_side(width, chroma), ch = chroma_side(height, chroma);
	const uint8_t *py = yuv, *pb = yuv + (size_t)width * (size_t)height, *pr = pb + (size_t)cw * (size_t)ch;
	const bool sub = chroma != NST_CHROMA_444;
	const bool h_centred = chroma == NST_CHROMA_420JPEG, v_centred = chroma != NST_CHROMA_420PALDV;
	for (int y = 0; y < height; y++) {
		int r0 = y, r1 = y;
		float wy = 0.0f;
		if (sub)
			taps(chroma_position(y, v_centred), ch, &r0, &r1, &wy);
		for (int x = 0; x < width; x++) {
			float cb, cr;
			if (sub) {
				int c0, c1;
				float wx;
				taps(chroma_position(x, h_centred), cw, &c0, &c1, &wx);
				const size_t a = (size_t)r0 * (size_t)cw, b = (size_t)r1 * (size_t)cw;
				cb = (1 - wy) * ((1 - wx) * pb[a + c0] + wx * pb[a + c1]) + wy * ((1 - wx) * pb[b + c0] + wx * pb[b + c1]);
				cr = (1 - wy) * ((1 - wx) * pr[a + c0] + wx * pr[a + c1]) + wy * ((1 - wx) * pr[b + c0] + wx * pr[b + c1]);
			} else {
				cb = pb[(size_t)y * (size_t)width + x];
				cr = pr[(size_t)y * (size_t)width + x];
			}
			const float l = m->y_scale * ((float)py[(size_t)y * (size_t)width + x] - m->y_offset);
			cb -= C_OFFSET;
			cr -= C_OFFSET;
			uint8_t *o = rgb + ((size_t)y * (size_t)width + x) * 3;
			o[0] = to_byte(l + m->cr_r * cr);
			o[1] = to_byte(l + m->cb_g * cb + m->cr_g * cr);
			o[2] = to_byte(l + m->cb_b * cb);
		}
	}
}

/* The filter that takes full-resolution chroma to sample k along one axis of n: the mean of 2k
 * and 2k+1 (centred) or [1 2 1]/4 around 2k (co-sited); edges clamped. */
static float downsample(const float *v, size_t stride, int k, int n, bool centred) {
	const int i = 2 * k;
	const int next = i + 1 < n ? i + 1 : n - 1;
	if (centred)
		return 0.5f * (v[(size_t)i * stride] + v[(size_t)next * stride]);
	const int prev = i > 0 ? i - 1 : 0;
	return 0.25f * v[(size_t)prev * stride] + 0.5f * v[(size_t)i * stride] + 0.25f * v[(size_t)next * stride];
}

void nst_rgb_to_yuv(const uint8_t *rgb, int width, int height, enum nst_chroma chroma, enum nst_yuv_range range,
                    uint8_t *yuv, float *scratch) {
	const struct yuv_matrix *m = &MATRICES[range];
	const size_t pixels = (size_t)width * (size_t)height;
	const int cw = chroma_side(width, chroma), ch = chroma_side(height, chroma);
	uint8_t *py = yuv, *pb = yuv + pixels, *pr = pb + (size_t)cw * (size_t)ch;
	float *fb = scratch, *fr = scratch + pixels; /* [height][width] each */
	for (size_t i = 0; i < pixels; i++) {
		const float r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
		py[i] = to_byte(m->y_offset + m->ky[0] * r + m->ky[1] * g + m->ky[2] * b);
		fb[i] = C_OFFSET + m->kcb[0] * r + m->kcb[1] * g + m->kcb[2] * b;
		fr[i] = C_OFFSET + m->kcr[0] * r + m->kcr[1] * g + m->kcr[2] * b;
	}
	if (chroma == NST_CHROMA_444) {
		for (size_t i = 0; i < pixels; i++) {
			pb[i] = to_byte(fb[i]);
			pr[i] = to_byte(fr[i]);
		}
		return;
	}
	const bool h_centred = chroma == NST_CHROMA_420JPEG, v_centred = chroma != NST_CHROMA_420PALDV;
	/* vertically, in place: output row k goes to row k, and the rows read after it (2j-1 and up,
	 * j > k) all lie below it; then horizontally */
	for (int k = 0; k < ch; k++)
		for (int x = 0; x < width; x++) {
			const float b = downsample(fb + x, (size_t)width, k, height, v_centred);
			const float r = downsample(fr + x, (size_t)width, k, height, v_centred);
			fb[(size_t)k * (size_t)width + x] = b;
			fr[(size_t)k * (size_t)width + x] = r;
		}
	for (int k = 0; k < ch; k++)
		for (int c = 0; c < cw; c++) {
			pb[(size_t)k * (size_t)cw + c] = to_byte(downsample(fb + (size_t)k * (size_t)width, 1, c, width, h_centred));
			pr[(size_t)k * (size_t)cw + c] = to_byte(downsample(fr + (size_t)k * (size_t)width, 1, c, width, h_centred));
		}
}
