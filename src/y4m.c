/*
 * The YUV4MPEG2 stream header (src/frames.h): "YUV4MPEG2 W640 H360 F25:1 Ip A1:1 C420jpeg X...",
 * parameters separated by single spaces, each a letter and its value; X COLORRANGE=FULL / LIMITED
 * (ffmpeg's) is read, other X comments (ffmpeg's XYSCSS=...) and unknown letters are ignored.  Frames follow, each "FRAME[ params]\n" and the
 * planes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "internal.h"

#define MAX_FIELD 64
#define COLOR_RANGE "COLORRANGE=" /* ffmpeg's X parameter for the range: FULL or LIMITED */

static const struct {
	const char *name;
	enum nst_chroma chroma;
} CHROMAS[] = {
	{"420jpeg", NST_CHROMA_420JPEG}, {"420", NST_CHROMA_420JPEG}, {"420mpeg2", NST_CHROMA_420MPEG2},
	{"420paldv", NST_CHROMA_420PALDV}, {"444", NST_CHROMA_444},
};
#define N_CHROMAS (int)(sizeof CHROMAS / sizeof CHROMAS[0])

const char *nst_chroma_name(enum nst_chroma chroma) {
	switch (chroma) {
	case NST_CHROMA_420MPEG2: return "420mpeg2";
	case NST_CHROMA_420PALDV: return "420paldv";
	case NST_CHROMA_444: return "444";
	default: return "420jpeg";
	}
}

/* A whole decimal number 0..INT_MAX (digits only). */
static bool parse_count(const char *s, int *out) {
	if (!*s)
		return false;
	long long v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > 0x7fffffff)
			return false;
	}
	*out = (int)v;
	return true;
}

static bool parse_ratio(const char *s, int *num, int *den) {
	char buf[MAX_FIELD];
	snprintf(buf, sizeof buf, "%s", s);
	char *colon = strchr(buf, ':');
	if (!colon)
		return false;
	*colon = '\0';
	return parse_count(buf, num) && parse_count(colon + 1, den);
}

/* One printable field of the line for messages (control characters as '?'). */
static const char *shown(const char *field, char *buf, size_t size) {
	size_t i = 0;
	for (; field[i] && i + 1 < size; i++)
		buf[i] = (unsigned char)field[i] < ' ' || (unsigned char)field[i] >= 0x7f ? '?' : field[i];
	buf[i] = '\0';
	return buf;
}

enum nst_status nst_y4m_parse_header(const char *line, size_t n, int max_side, long long max_pixels,
                                     struct nst_y4m_header *out, struct nst_diag *diag) {
	const size_t magic = strlen(NST_Y4M_MAGIC);
	*out = (struct nst_y4m_header){.chroma = NST_CHROMA_420JPEG};
	if (n < magic || memcmp(line, NST_Y4M_MAGIC, magic) != 0)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "not a YUV4MPEG2 stream (no \"YUV4MPEG2 \" header)");
	bool has_w = false, has_h = false;
	char field[MAX_FIELD], show[MAX_FIELD];
	for (size_t i = magic; i < n;) {
		size_t j = i;
		while (j < n && line[j] != ' ')
			j++;
		if (j == i) { /* two spaces in a row, or a trailing one */
			i++;
			continue;
		}
		const size_t len = j - i < sizeof field - 1 ? j - i : sizeof field - 1;
		memcpy(field, line + i, len);
		field[len] = '\0';
		if (memchr(field, '\0', len))
			return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "YUV4MPEG2 header: a NUL byte in it");
		i = j;
		const char *v = field + 1;
		bool good = true;
		switch (field[0]) {
		case 'W': good = parse_count(v, &out->width); has_w = true; break;
		case 'H': good = parse_count(v, &out->height); has_h = true; break;
		case 'F':
			good = parse_ratio(v, &out->rate_num, &out->rate_den) && out->rate_num > 0 && out->rate_den > 0;
			break;
		case 'A': good = parse_ratio(v, &out->aspect_num, &out->aspect_den); break;
		case 'I':
			good = strlen(v) == 1 && strchr("ptbm", v[0]);
			out->interlace = v[0];
			break;
		case 'C': {
			int k = 0;
			while (k < N_CHROMAS && strcmp(v, CHROMAS[k].name))
				k++;
			if (k == N_CHROMAS)
				return nst_fail(diag, NST_ERR_NOT_AN_IMAGE,
				                "YUV4MPEG2 chroma C%s is not supported: nst reads 420jpeg, 420mpeg2, 420paldv, 420 and 444 "
				                "(convert with ffmpeg -pix_fmt yuv420p)", shown(v, show, sizeof show));
			out->chroma = CHROMAS[k].chroma;
			break;
		}
		case 'X':
			if (!strcmp(v, COLOR_RANGE "FULL"))
				out->range = NST_RANGE_FULL;
			else if (!strcmp(v, COLOR_RANGE "LIMITED"))
				out->range = NST_RANGE_LIMITED;
			break; /* other X comments (ffmpeg's XYSCSS=...) are ignored */
		default: break; /* letters a later version may add */
		}
		if (!good)
			return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "YUV4MPEG2 header: bad parameter '%s'",
			                shown(field, show, sizeof show));
	}
	if (!has_w || !has_h)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "YUV4MPEG2 header without a frame %s", has_w ? "height (H)" : "width (W)");
	if (out->width <= 0 || out->height <= 0)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "YUV4MPEG2 header: zero frame size %dx%d", out->width, out->height);
	if (out->width > max_side || out->height > max_side || (long long)out->width * out->height > max_pixels)
		return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "YUV4MPEG2 frames of %dx%d are beyond the limit (sides up to %d, %lld pixels)",
		                out->width, out->height, max_side, max_pixels);
	return NST_OK;
}

int nst_y4m_format_header(const struct nst_y4m_header *h, char *buf, size_t size) {
	char rate[32] = "", aspect[32] = "", interlace[8] = "";
	if (h->rate_num > 0 && h->rate_den > 0)
		snprintf(rate, sizeof rate, " F%d:%d", h->rate_num, h->rate_den);
	if (h->aspect_num > 0 && h->aspect_den > 0)
		snprintf(aspect, sizeof aspect, " A%d:%d", h->aspect_num, h->aspect_den);
	if (h->interlace)
		snprintf(interlace, sizeof interlace, " I%c", h->interlace);
	return snprintf(buf, size, NST_Y4M_MAGIC "W%d H%d%s%s%s C%s%s\n", h->width, h->height, rate, interlace, aspect,
	                nst_chroma_name(h->chroma), h->range == NST_RANGE_FULL ? " X" COLOR_RANGE "FULL" : "");
}

bool nst_y4m_frame_line(const char *line, size_t n) {
	const size_t m = strlen(NST_Y4M_FRAME_MAGIC);
	return n >= m && memcmp(line, NST_Y4M_FRAME_MAGIC, m) == 0 && (n == m || line[m] == ' ');
}
