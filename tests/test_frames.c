/*
 * Frame streams' pure parts (src/frames.h): the YUV4MPEG2 header, BT.601 conversion and its chroma
 * sitings, and the steadying of frames (noise damped, moving edges without a trail, cuts reset).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/frames.h"
#include "check.h"

#define MAX_SIDE 16384
#define MAX_PIXELS (8192LL * 8192LL)
#define W 48
#define H 32

static enum nst_status parse(const char *line, struct nst_y4m_header *h, struct nst_diag *diag) {
	return nst_y4m_parse_header(line, strlen(line), MAX_SIDE, MAX_PIXELS, h, diag);
}

static void test_header(void) {
	struct nst_y4m_header h;
	struct nst_diag diag = {{0}};
	CHECK(parse("YUV4MPEG2 W96 H64 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG", &h, &diag) == NST_OK, "%s", diag.message);
	CHECK(h.width == 96 && h.height == 64 && h.rate_num == 25 && h.rate_den == 1 && h.interlace == 'p' &&
	          h.aspect_num == 1 && h.aspect_den == 1 && h.chroma == NST_CHROMA_420JPEG,
	      "fields %dx%d F%d:%d I%c A%d:%d", h.width, h.height, h.rate_num, h.rate_den, h.interlace, h.aspect_num,
	      h.aspect_den);
	char buf[NST_Y4M_MAX_LINE];
	nst_y4m_format_header(&h, buf, sizeof buf);
	CHECK(!strcmp(buf, "YUV4MPEG2 W96 H64 F25:1 Ip A1:1 C420jpeg\n"), "formatted: %s", buf);
	CHECK(parse("YUV4MPEG2 W7 H5 F30000:1001 C420mpeg2", &h, &diag) == NST_OK && h.chroma == NST_CHROMA_420MPEG2 &&
	          h.rate_num == 30000 && h.interlace == 0, "420mpeg2, no I");
	CHECK(parse("YUV4MPEG2 W8 H8 C420paldv", &h, &diag) == NST_OK && h.chroma == NST_CHROMA_420PALDV, "420paldv");
	CHECK(parse("YUV4MPEG2 W8 H8 C420", &h, &diag) == NST_OK && h.chroma == NST_CHROMA_420JPEG, "420 = 420jpeg");
	CHECK(parse("YUV4MPEG2 W8 H8 C444", &h, &diag) == NST_OK && h.chroma == NST_CHROMA_444, "444");
	CHECK(parse("YUV4MPEG2 W8 H8", &h, &diag) == NST_OK && h.chroma == NST_CHROMA_420JPEG, "no C: 420jpeg");
	CHECK(parse("YUV4MPEG2 W8 H8", &h, &diag) == NST_OK && h.range == NST_RANGE_LIMITED, "no XCOLORRANGE: limited");
	CHECK(parse("YUV4MPEG2 W8 H8 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL", &h, &diag) == NST_OK &&
	          h.range == NST_RANGE_FULL, "XCOLORRANGE=FULL (ffmpeg's yuvj420p)");
	CHECK(parse("YUV4MPEG2 W8 H8 XCOLORRANGE=LIMITED", &h, &diag) == NST_OK && h.range == NST_RANGE_LIMITED,
	      "XCOLORRANGE=LIMITED");
	CHECK(parse("YUV4MPEG2 W8 H8 XCOLORRANGE=FULLER", &h, &diag) == NST_OK && h.range == NST_RANGE_LIMITED,
	      "an unknown X comment is ignored");
	{
		char line[NST_Y4M_MAX_LINE];
		h = (struct nst_y4m_header){.width = 8, .height = 6, .chroma = NST_CHROMA_420JPEG, .range = NST_RANGE_FULL};
		nst_y4m_format_header(&h, line, sizeof line);
		CHECK(!strcmp(line, "YUV4MPEG2 W8 H6 C420jpeg XCOLORRANGE=FULL\n"), "full range written: %s", line);
		h.range = NST_RANGE_LIMITED;
		nst_y4m_format_header(&h, line, sizeof line);
		CHECK(!strcmp(line, "YUV4MPEG2 W8 H6 C420jpeg\n"), "limited range: nothing written: %s", line);
	}
	CHECK(parse("YUV4MPEG2 W8 H8 C422", &h, &diag) == NST_ERR_NOT_AN_IMAGE && strstr(diag.message, "C422"),
	      "422 refused: %s", diag.message);
	CHECK(parse("YUV4MPEG2 W8 H8 Cmono", &h, &diag) == NST_ERR_NOT_AN_IMAGE, "mono refused");
	CHECK(parse("YUV4MPEG2 W0 H0", &h, &diag) == NST_ERR_NOT_AN_IMAGE && strstr(diag.message, "zero"),
	      "zero size: %s", diag.message);
	CHECK(parse("YUV4MPEG2 W100000 H8", &h, &diag) == NST_ERR_IMAGE_TOO_LARGE, "absurd width");
	CHECK(parse("YUV4MPEG2 W16000 H16000", &h, &diag) == NST_ERR_IMAGE_TOO_LARGE, "absurd area");
	CHECK(parse("YUV4MPEG2 W99999999999 H8", &h, &diag) == NST_ERR_NOT_AN_IMAGE, "overflowing number");
	CHECK(parse("YUV4MPEG2 H8", &h, &diag) == NST_ERR_NOT_AN_IMAGE, "no W");
	CHECK(parse("YUV4MPEG2 W8 H-8", &h, &diag) == NST_ERR_NOT_AN_IMAGE, "negative H");
	CHECK(parse("YUV4MPEG2 W8 H8 F0:0", &h, &diag) == NST_ERR_NOT_AN_IMAGE, "zero rate");
	CHECK(parse("\x89PNG\r\n", &h, &diag) == NST_ERR_NOT_AN_IMAGE, "not a Y4M stream");
	CHECK(nst_y4m_frame_line("FRAME", 5) && nst_y4m_frame_line("FRAME Ib", 8) && !nst_y4m_frame_line("FRAMES", 6) &&
	          !nst_y4m_frame_line("FRAM", 4), "FRAME lines");
	CHECK(nst_yuv_frame_bytes(7, 5, NST_CHROMA_420JPEG) == 35 + 2 * 4 * 3 && nst_yuv_frame_bytes(7, 5, NST_CHROMA_444) == 105,
	      "frame bytes, odd sides");
}

static void test_yuv(void) {
	static uint8_t rgb[H][W][3], back[H][W][3], yuv[3 * W * H];
	static float scratch[2 * W * H];
	/* grey: limited range's ends */
	memset(rgb, 0, sizeof rgb);
	nst_rgb_to_yuv(&rgb[0][0][0], W, H, NST_CHROMA_420JPEG, NST_RANGE_LIMITED, yuv, scratch);
	CHECK(yuv[0] == 16 && yuv[W * H] == 128, "black: Y %d Cb %d", yuv[0], yuv[W * H]);
	memset(rgb, 255, sizeof rgb);
	nst_rgb_to_yuv(&rgb[0][0][0], W, H, NST_CHROMA_420JPEG, NST_RANGE_LIMITED, yuv, scratch);
	CHECK(yuv[0] == 235 && yuv[W * H] == 128, "white: Y %d", yuv[0]);
	/* full range's ends: 0 and 255 */
	nst_rgb_to_yuv(&rgb[0][0][0], W, H, NST_CHROMA_420JPEG, NST_RANGE_FULL, yuv, scratch);
	CHECK(yuv[0] == 255 && yuv[W * H] == 128, "white, full range: Y %d", yuv[0]);
	memset(rgb, 0, sizeof rgb);
	nst_rgb_to_yuv(&rgb[0][0][0], W, H, NST_CHROMA_420JPEG, NST_RANGE_FULL, yuv, scratch);
	CHECK(yuv[0] == 0 && yuv[W * H] == 128, "black, full range: Y %d", yuv[0]);
	/* and back: full-range Y 0 / 255 with neutral chroma are black / white (limited range would
	 * take them below black and above white: 0 and 255 too, so Y 128 tells them apart: 128 in full
	 * range, 130 in limited) */
	memset(yuv, 128, sizeof yuv);
	memset(yuv, 0, (size_t)W * H);
	nst_yuv_to_rgb(yuv, W, H, NST_CHROMA_420JPEG, NST_RANGE_FULL, &back[0][0][0]);
	CHECK(back[3][3][0] == 0 && back[3][3][1] == 0 && back[3][3][2] == 0, "full range Y 0: black (%d)", back[3][3][0]);
	memset(yuv, 255, (size_t)W * H);
	nst_yuv_to_rgb(yuv, W, H, NST_CHROMA_420JPEG, NST_RANGE_FULL, &back[0][0][0]);
	CHECK(back[3][3][0] == 255 && back[3][3][2] == 255, "full range Y 255: white (%d)", back[3][3][0]);
	memset(yuv, 128, (size_t)W * H);
	nst_yuv_to_rgb(yuv, W, H, NST_CHROMA_420JPEG, NST_RANGE_FULL, &back[0][0][0]);
	const int full_grey = back[3][3][1];
	nst_yuv_to_rgb(yuv, W, H, NST_CHROMA_420JPEG, NST_RANGE_LIMITED, &back[0][0][0]);
	CHECK(full_grey == 128 && back[3][3][1] == 130, "Y 128: %d in full range, %d in limited", full_grey, back[3][3][1]);
	/* pure red, full range (JFIF): Y 76 (0.299 x 255), Cb 85, Cr 255 */
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			rgb[y][x][0] = 255, rgb[y][x][1] = 0, rgb[y][x][2] = 0;
	nst_rgb_to_yuv(&rgb[0][0][0], W, H, NST_CHROMA_420MPEG2, NST_RANGE_FULL, yuv, scratch);
	CHECK(yuv[0] == 76 && yuv[W * H] == 85 && yuv[W * H + W / 2 * H / 2] == 255, "red, full range: %d %d %d", yuv[0],
	      yuv[W * H], yuv[W * H + W / 2 * H / 2]);
	/* pure red: BT.601 Y 81 (16 + 65.481), Cb 90, Cr 240 */
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			rgb[y][x][0] = 255, rgb[y][x][1] = 0, rgb[y][x][2] = 0;
	nst_rgb_to_yuv(&rgb[0][0][0], W, H, NST_CHROMA_420MPEG2, NST_RANGE_LIMITED, yuv, scratch);
	CHECK(yuv[0] == 81 && yuv[W * H] == 90 && yuv[W * H + W / 2 * H / 2] == 240, "red: %d %d %d", yuv[0], yuv[W * H],
	      yuv[W * H + W / 2 * H / 2]);
	/* smooth colours survive each siting's round trip within a level or two */
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			rgb[y][x][0] = (uint8_t)(40 + 3 * x), rgb[y][x][1] = (uint8_t)(60 + 4 * y), rgb[y][x][2] = (uint8_t)(200 - 2 * x);
	const enum nst_chroma all[] = {NST_CHROMA_420JPEG, NST_CHROMA_420MPEG2, NST_CHROMA_420PALDV, NST_CHROMA_444};
	for (int k = 0; k < 8; k++) {
		const enum nst_yuv_range range = k < 4 ? NST_RANGE_LIMITED : NST_RANGE_FULL;
		nst_rgb_to_yuv(&rgb[0][0][0], W, H, all[k % 4], range, yuv, scratch);
		nst_yuv_to_rgb(yuv, W, H, all[k % 4], range, &back[0][0][0]);
		double sum = 0.0;
		int worst = 0;
		for (int y = 1; y < H - 1; y++)
			for (int x = 1; x < W - 1; x++)
				for (int c = 0; c < 3; c++) {
					const int d = abs(back[y][x][c] - rgb[y][x][c]);
					sum += d;
					worst = d > worst ? d : worst;
				}
		CHECK(sum / ((W - 2) * (H - 2) * 3) < 1.0 && worst <= 3, "%s %s range round trip: mean %.2f, worst %d",
		      nst_chroma_name(all[k % 4]), range == NST_RANGE_FULL ? "full" : "limited", sum / ((W - 2) * (H - 2) * 3),
		      worst);
	}
	/* siting: one bright chroma column (x = 10 of an 8-pixel-wide 444 picture turned 420) lands where
	 * its siting says: 420mpeg2 puts chroma sample 5 on luma column 10 exactly, 420jpeg between 10 and 11 */
	memset(yuv, 128, sizeof yuv);
	memset(yuv, 128, (size_t)W * H);
	for (int y = 0; y < H / 2; y++)
		yuv[W * H + y * (W / 2) + 5] = 228; /* Cb +100 at chroma column 5 */
	nst_yuv_to_rgb(yuv, W, H, NST_CHROMA_420MPEG2, NST_RANGE_LIMITED, &back[0][0][0]);
	const int b10 = back[4][10][2], b9 = back[4][9][2], b11 = back[4][11][2];
	CHECK(b10 > b9 && b10 > b11 && b9 == b11, "420mpeg2: co-sited on column 10 (%d %d %d)", b9, b10, b11);
	nst_yuv_to_rgb(yuv, W, H, NST_CHROMA_420JPEG, NST_RANGE_LIMITED, &back[0][0][0]);
	CHECK(back[4][10][2] == back[4][11][2] && back[4][10][2] > back[4][9][2], "420jpeg: centred between 10 and 11 (%d %d %d)",
	      back[4][9][2], back[4][10][2], back[4][11][2]);
}

/* A frame: a dark background with a bright 12x12 square at x0, and seeded noise of about sigma levels. */
static void frame(uint8_t *rgb, int x0, double sigma, unsigned *seed) {
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			for (int c = 0; c < 3; c++) {
				double v = (x >= x0 && x < x0 + 12 && y >= 10 && y < 22) ? 200.0 : 60.0;
				if (sigma > 0) { /* Irwin-Hall: the sum of 12 uniforms, variance 1 */
					double s = -6.0;
					for (int k = 0; k < 12; k++)
						s += (double)rand_r(seed) / RAND_MAX;
					v += sigma * s;
				}
				rgb[(y * W + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
			}
}

static double mean_abs(const uint8_t *a, const uint8_t *b, size_t n) {
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += abs(a[i] - b[i]);
	return s / (double)n;
}

static void test_steady(void) {
	static uint8_t prev_in[H * W * 3], in[H * W * 3], prev_out[H * W * 3], out[H * W * 3], raw_prev[H * W * 3];
	static float scratch[2 * W * H];
	const size_t n = (size_t)W * H * 3;
	const struct nst_steady_params p = {0.7f, NST_STEADY_DEFAULT_STILL, NST_STEADY_DEFAULT_MOVING, NST_STEADY_DEFAULT_CUT};
	unsigned seed = 7;
	float change;
	/* noise only: the "network" is the identity, so out = in; the output's change falls */
	frame(prev_in, 10, 2.5, &seed);
	memcpy(prev_out, prev_in, n);
	memcpy(raw_prev, prev_in, n);
	double raw_change = 0.0, steady_change = 0.0;
	for (int t = 0; t < 20; t++) {
		frame(in, 10, 2.5, &seed);
		memcpy(out, in, n);
		const bool cut = nst_steady_blend(&p, W, H, prev_in, in, prev_out, out, scratch, &change);
		CHECK(!cut, "noise is not a cut (mean change %.2f)", change);
		if (t >= 5) {
			raw_change += mean_abs(in, raw_prev, n);
			steady_change += mean_abs(out, prev_out, n);
		}
		memcpy(prev_in, in, n);
		memcpy(raw_prev, in, n);
		memcpy(prev_out, out, n);
	}
	CHECK(steady_change < 0.5 * raw_change, "static noise: the output's change %.3f vs %.3f unsteadied (-%.0f%%)",
	      steady_change / 15, raw_change / 15, 100.0 * (1.0 - steady_change / raw_change));
	/* the square moves 4 px: where it was and where it is now, the output is the new frame (no trail) */
	frame(prev_in, 10, 0, &seed);
	memcpy(prev_out, prev_in, n);
	frame(in, 14, 0, &seed);
	memcpy(out, in, n);
	nst_steady_blend(&p, W, H, prev_in, in, prev_out, out, scratch, &change);
	CHECK(mean_abs(out, in, n) < 0.5 && out[(16 * W + 11) * 3] == in[(16 * W + 11) * 3] &&
	          out[(16 * W + 24) * 3] == in[(16 * W + 24) * 3],
	      "moving edges: no trail (mean |steady - new| %.3f; left edge %d vs %d)", mean_abs(out, in, n),
	      out[(16 * W + 11) * 3], in[(16 * W + 11) * 3]);
	/* the same without the gate (every pixel counted as still) leaves a trail: the check above can fail */
	const struct nst_steady_params ungated = {0.7f, 1000.0f, 1001.0f, NST_STEADY_DEFAULT_CUT};
	memcpy(out, in, n);
	nst_steady_blend(&ungated, W, H, prev_in, in, prev_out, out, scratch, &change);
	CHECK(mean_abs(out, in, n) > 2.0, "ungated: a trail (%.3f)", mean_abs(out, in, n));
	/* a cut: another picture, taken as it is */
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)(255 - prev_in[i]);
	memcpy(out, in, n);
	CHECK(nst_steady_blend(&p, W, H, prev_in, in, prev_out, out, scratch, &change) && !memcmp(out, in, n),
	      "a scene cut resets (mean change %.1f)", change);
	/* strength 0: untouched */
	const struct nst_steady_params off = {0.0f, NST_STEADY_DEFAULT_STILL, NST_STEADY_DEFAULT_MOVING, NST_STEADY_DEFAULT_CUT};
	frame(in, 10, 2.5, &seed);
	memcpy(out, in, n);
	nst_steady_blend(&off, W, H, in, in, prev_out, out, scratch, &change);
	CHECK(!memcmp(out, in, n), "--steady 0 leaves the frame");
}

int main(void) {
	test_header();
	test_yuv();
	test_steady();
	return check_finish("test_frames");
}
