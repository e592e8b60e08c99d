/*
 * BT.601 limited range between planar YUV (4:2:0 in three sitings, 4:4:4) and RGB24 (src/frames.h):
 * what ffmpeg's swscale does by default for yuv420p <-> rgb24, with the chroma interpolated at its
 * siting instead of repeated.
 */
#include <math.h>

#include "frames.h"

/* BT.601, 8-bit limited range (ITU-R BT.601-7; the same matrix as swscale's default). */
#define Y_OFFSET 16.0f
#define C_OFFSET 128.0f
#define KR_Y 0.256788f
#define KG_Y 0.504129f
#define KB_Y 0.097906f
#define KR_CB (-0.148223f)
#define KG_CB (-0.290993f)
#define KB_CB 0.439216f
#define KR_CR 0.439216f
#define KG_CR (-0.367788f)
#define KB_CR (-0.071427f)
#define Y_SCALE 1.164384f
#define CR_R 1.596027f
#define CB_G (-0.391762f)
#define CR_G (-0.812968f)
#define CB_B 2.017232f

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

void nst_yuv_to_rgb(const uint8_t *yuv, int width, int height, enum nst_chroma chroma, uint8_t *rgb) {
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
			const float l = Y_SCALE * ((float)py[(size_t)y * (size_t)width + x] - Y_OFFSET);
			cb -= C_OFFSET;
			cr -= C_OFFSET;
			uint8_t *o = rgb + ((size_t)y * (size_t)width + x) * 3;
			o[0] = to_byte(l + CR_R * cr);
			o[1] = to_byte(l + CB_G * cb + CR_G * cr);
			o[2] = to_byte(l + CB_B * cb);
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

void nst_rgb_to_yuv(const uint8_t *rgb, int width, int height, enum nst_chroma chroma, uint8_t *yuv, float *scratch) {
	const size_t pixels = (size_t)width * (size_t)height;
	const int cw = chroma_side(width, chroma), ch = chroma_side(height, chroma);
	uint8_t *py = yuv, *pb = yuv + pixels, *pr = pb + (size_t)cw * (size_t)ch;
	float *fb = scratch, *fr = scratch + pixels; /* [height][width] each */
	for (size_t i = 0; i < pixels; i++) {
		const float r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
		py[i] = to_byte(Y_OFFSET + KR_Y * r + KG_Y * g + KB_Y * b);
		fb[i] = C_OFFSET + KR_CB * r + KG_CB * g + KB_CB * b;
		fr[i] = C_OFFSET + KR_CR * r + KG_CR * g + KB_CR * b;
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
