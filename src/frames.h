/* Frame streams (internal to the library; the command line's stream mode uses them): the
 * YUV4MPEG2 header (src/y4m.c), BT.601 conversion between planar YUV and RGB24 (src/yuv.c) and the
 * temporal steadying of stylized frames (src/steady.c).  Pure functions: no I/O, no printing, no
 * allocation. */
#ifndef NST_FRAMES_H
#define NST_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nst.h"

/* ---- planar YUV (src/yuv.c) ---------------------------------------------------------------- */

/* How a frame's chroma is laid out.  4:2:0 planes are ceil(W/2) x ceil(H/2); the siting says where
 * each chroma sample sits among its 2x2 luma samples:
 *   420jpeg  (Y4M "420jpeg", "420"): centred both ways (JPEG, MPEG-1; ffmpeg's yuv420p default)
 *   420mpeg2 (Y4M "420mpeg2"): on the left column, centred vertically (MPEG-2, H.264's default)
 *   420paldv (Y4M "420paldv"): on the top-left sample (an approximation: PAL DV puts Cr there and
 *            Cb one line lower; both are taken as top-left)
 *   444: one chroma sample per pixel. */
enum nst_chroma { NST_CHROMA_420JPEG, NST_CHROMA_420MPEG2, NST_CHROMA_420PALDV, NST_CHROMA_444 };

/* Bytes of one planar frame, Y then Cb then Cr: [H][W] + 2 x [CH][CW]; 0 for a size beyond size_t. */
size_t nst_yuv_frame_bytes(int width, int height, enum nst_chroma chroma);
/* The levels the samples use (Y4M's XCOLORRANGE, ffmpeg's color_range): limited, "tv" (Y 16..235,
 * Cb Cr 16..240: video's, and ffmpeg's yuv420p default) or full, "pc" (0..255 each: JPEG's, a
 * webcam's MJPEG, ffmpeg's yuvj420p). */
enum nst_yuv_range { NST_RANGE_LIMITED, NST_RANGE_FULL };
/* BT.601 at the range, as ffmpeg converts.  The 4:2:0 chroma is upsampled bilinearly at its
 * siting, downsampled by the matching filter (420jpeg: the mean of each 2x2 block; 420mpeg2:
 * [1 2 1]/4 across the left column, the mean of the two rows; 420paldv: [1 2 1]/4 both ways
 * around the top-left sample), edges clamped.
 * yuv [nst_yuv_frame_bytes], rgb [height][width][3]. */
void nst_yuv_to_rgb(const uint8_t *yuv, int width, int height, enum nst_chroma chroma, enum nst_yuv_range range,
                    uint8_t *rgb);
/* scratch [nst_yuv_scratch_floats]: the full-resolution Cb and Cr planes before subsampling. */
void nst_rgb_to_yuv(const uint8_t *rgb, int width, int height, enum nst_chroma chroma, enum nst_yuv_range range,
                    uint8_t *yuv, float *scratch);
/* Floats of scratch nst_rgb_to_yuv needs: [2][height][width]. */
size_t nst_yuv_scratch_floats(int width, int height);

/* ---- YUV4MPEG2 (src/y4m.c) ------------------------------------------------------------------ */

#define NST_Y4M_MAGIC "YUV4MPEG2 "
#define NST_Y4M_MAX_LINE 1024 /* the longest header or FRAME line taken */
#define NST_Y4M_FRAME_MAGIC "FRAME"

struct nst_y4m_header {
	int width, height;
	int rate_num, rate_den;     /* F; 0:0 when the header has none */
	int aspect_num, aspect_den; /* A; 0:0 when the header has none (Y4M's "unknown") */
	char interlace;             /* I: 'p', 't', 'b', 'm', or 0 when the header has none */
	enum nst_chroma chroma;     /* C; 420jpeg when the header has none */
	enum nst_yuv_range range;   /* XCOLORRANGE=FULL or =LIMITED (ffmpeg's); limited when the header has none */
};

/* Parses a header line (line [n], without its '\n'); sides 1..max_side and an area of at most
 * max_pixels; NST_ERR_NOT_AN_IMAGE (a garbage or unsupported header, with the reason) or
 * NST_ERR_IMAGE_TOO_LARGE. */
enum nst_status nst_y4m_parse_header(const char *line, size_t n, int max_side, long long max_pixels,
                                     struct nst_y4m_header *out, struct nst_diag *diag);
/* The header line, with its '\n', into buf; its length (snprintf's). */
int nst_y4m_format_header(const struct nst_y4m_header *h, char *buf, size_t size);
/* Whether line [n] (without its '\n') is a frame header: "FRAME" alone or with parameters. */
bool nst_y4m_frame_line(const char *line, size_t n);
/* The chroma's Y4M name (420jpeg, 420mpeg2, 420paldv, 444). */
const char *nst_chroma_name(enum nst_chroma chroma);

/* ---- pictures among frames (src/image_formats.c) -------------------------------------------- */

/* "PNG", "GIF" or "JPEG" when the first bytes carry that format's unmistakable signature (PNG's 8
 * bytes, GIF87a / GIF89a, a JPEG opening with its JFIF or Exif segment), which raw frames never
 * start with; else NULL.  size: the bytes there are (fewer than the signature: NULL). */
const char *nst_picture_signature(const uint8_t *bytes, size_t size);

/* ---- steady frames (src/steady.c) ---------------------------------------------------------- */

/* Blending each stylized frame with the previous result where the input did not change:
 *   out = S g prev_out + (1 - S g) new_out   per pixel and channel,
 * g the gate: 1 where the input's luma differs from the previous frame's by at most `still`
 * levels (noise), falling linearly to 0 at `moving` levels (the difference is averaged over a 3x3
 * neighbourhood first, so that sensor noise does not open the gate but an edge that moves does);
 * a frame whose mean luma difference exceeds `cut` levels is a new scene: taken as it is. */
struct nst_steady_params {
	float strength; /* S, 0..1; 0 leaves every frame as it is */
	float still;    /* levels */
	float moving;   /* levels, > still */
	float cut;      /* levels */
};
#define NST_STEADY_DEFAULT_STILL 3.0f
#define NST_STEADY_DEFAULT_MOVING 10.0f
#define NST_STEADY_DEFAULT_CUT 24.0f

/* Floats of scratch nst_steady_blend needs for frames width x height. */
size_t nst_steady_scratch_floats(int width, int height);
/* prev_in, in: the inputs [height][width][3] of the previous and this frame; prev_out: the previous
 * result; out: this frame's stylized result, blended in place.  scratch [nst_steady_scratch_floats].
 * Returns whether the frame was a scene cut (left as it is); *mean_change: the mean luma change. */
bool nst_steady_blend(const struct nst_steady_params *p, int width, int height, const uint8_t *prev_in,
                      const uint8_t *in, const uint8_t *prev_out, uint8_t *out, float *scratch, float *mean_change);

#endif /* NST_FRAMES_H */
