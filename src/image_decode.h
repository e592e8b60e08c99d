/* What the picture readers share (src/image*.c); not part of the public API.
 *
 *   src/image.c          the API: files and streams, the budget, dispatch, orientation, resize, save
 *   src/image_formats.c  what the project parses itself: sizes from headers, PNM pixels, the
 *                        structure of BMP / TGA / GIF / PSD files, a JPEG's EXIF orientation
 *   src/image_jpeg.c     JPEG through libjpeg-turbo (DCT scaling, scanline by scanline)
 *   src/image_png.c      PNG through libpng (row by row)
 *   src/image_stb.c      the stb libraries (BMP, TGA, GIF, PSD decoding; encoding; resampling),
 *                        the only file built with stb's sanitizer exemptions
 */
#ifndef NST_IMAGE_DECODE_H
#define NST_IMAGE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* ---- the decode budget ------------------------------------------------------------------------
 * The most memory one decode may hold at once: the file's bytes, the decoder's buffers and the
 * pixels.  Decoders with allocation hooks (stb, libpng) allocate through image_budget_malloc,
 * which refuses what would go over the limit; the rest is charged with image_budget_take before
 * it is allocated.  Sizes are charged as malloc_usable_size reports them. */
struct image_budget {
	size_t limit; /* bytes */
	size_t used;  /* bytes charged now */
	bool refused; /* a charge did not fit: why an allocation in a decoder failed */
};

/* Charges bytes; false (and nothing charged) if they do not fit. */
bool image_budget_take(struct image_budget *budget, size_t bytes);
void image_budget_give(struct image_budget *budget, size_t bytes);
/* What is left. */
size_t image_budget_left(const struct image_budget *budget);
/* malloc (calloc if zero) / realloc / free, charged to budget (NULL: not charged). */
void *image_budget_malloc(struct image_budget *budget, size_t bytes, bool zero);
void *image_budget_realloc(struct image_budget *budget, void *pointer, size_t bytes);
void image_budget_free(struct image_budget *budget, void *pointer);
/* NST_ERR_OVER_MEMORY_LIMIT: "<name>: decoding this <what> needs <need> MiB, more than the
 * decoding budget of <limit> MiB" (need 0: not known, "more than the budget"). */
enum nst_status image_over_budget(const char *name, const char *what, size_t need, const struct image_budget *budget,
                                  struct nst_diag *diag);

/* ---- pixels and reduction ------------------------------------------------------------------- */

/* A decoded picture: rgb [height][width][3], malloc'ed and charged to the decode's budget. */
struct image_pixels {
	uint8_t *rgb;
	int width, height;
};

/* The integer factors a width x height picture may be reduced by while it is decoded, when the
 * caller resizes it to long_side afterwards: *first leaves at least a factor of 2 to that resize
 * (a block or DCT shrink alone aliases), *last keeps the long side at long_side or more.  Both 1
 * when long_side is 0 or the picture is less than 4 times larger. */
void image_reduction_range(int width, int height, int long_side, int *first, int *last);
/* ceil(side / factor) */
int image_reduced_side(int side, int factor);

/* Reduces a width x height picture to ceil(width / factor) x ceil(height / factor) as its rows
 * arrive, by exact area averaging: every output pixel is the rounded mean of the part of the
 * picture it covers, the picture spanning the output exactly (a factor that does not divide a side
 * gives output pixels of a fractional number of input pixels, not a smaller last one, so that the
 * resize that follows keeps the geometry).  A factor of 1 copies the rows. */
struct image_reducer {
	int width, height, factor;  /* the input */
	struct image_pixels out;
	uint64_t *sums;             /* [2][out.width][3]: two output rows being summed (factor > 1) */
	int row;                    /* input rows seen */
	int out_row;                /* the output row sums[out_row & 1] completes next */
};

enum nst_status image_reducer_init(struct image_reducer *reducer, int width, int height, int factor,
                                   struct image_budget *budget, const char *name, struct nst_diag *diag);
/* row [width][3]; rows beyond height are ignored. */
void image_reducer_row(struct image_reducer *reducer, const uint8_t *row);
/* The picture, once every row came (the reducer gives it up); frees the sums. */
struct image_pixels image_reducer_finish(struct image_reducer *reducer, struct image_budget *budget);
/* Frees everything (after a failure). */
void image_reducer_free(struct image_reducer *reducer, struct image_budget *budget);
/* Bytes the reducer will charge: the picture and the sums. */
size_t image_reducer_bytes(int width, int height, int factor);

/* Turns pixels (replaced; the old buffer freed) as EXIF orientation 1..8 asks, so that the picture
 * stands as it was taken: 2 mirrored, 3 turned 180 degrees, 4 flipped, 5 transposed, 6 turned 90
 * degrees clockwise, 7 transversed, 8 turned 90 degrees anticlockwise. */
enum nst_status image_orient(const char *name, struct image_pixels *pixels, int orientation,
                             struct image_budget *budget, struct nst_diag *diag);

/* ---- formats parsed here (src/image_formats.c) ---------------------------------------------- */

bool image_is_png(const uint8_t *bytes, size_t size);
bool image_is_jpeg(const uint8_t *bytes, size_t size);
bool image_is_pnm(const uint8_t *bytes, size_t size);
/* "PNG", "JPEG", "GIF", "BMP", "PSD", "PNM" by the first bytes, else "picture". */
const char *image_format_name(const uint8_t *bytes, size_t size);
/* Whether the first bytes can start a picture this library reads (a signature, or a plausible TGA
 * header): what a stream is checked with before more of it is read.  size >= IMAGE_SNIFF_BYTES, or
 * the whole stream. */
enum { IMAGE_SNIFF_BYTES = 18 };
bool image_plausible_start(const uint8_t *bytes, size_t size);
/* Width and height from the header of a PNG, JPEG or GIF; false if the bytes are none of these or
 * the header is not (all) there. */
bool image_sniff_size(const uint8_t *bytes, size_t size, int64_t *width, int64_t *height);
/* The EXIF orientation (1..8) of a JPEG: tag 0x0112 of IFD0 in its first Exif APP1 segment; 1
 * when there is none or it cannot be read. */
int image_exif_orientation(const uint8_t *bytes, size_t size);

/* PNM (binary P5 / P6): header and pixels, read here. */
struct pnm_header {
	int64_t width, height;
	int channels;    /* 1 (P5) or 3 (P6) */
	uint32_t maxval; /* 1..65535 */
	size_t offset;   /* first byte of the pixels */
};
enum nst_status pnm_parse(const char *name, const uint8_t *bytes, size_t size, struct pnm_header *header,
                          struct nst_diag *diag);
enum nst_status pnm_decode(const char *name, const uint8_t *bytes, size_t size, const struct pnm_header *header,
                           int long_side, struct image_budget *budget, struct image_pixels *out, struct nst_diag *diag);

/* stb_image's formats.  Which one stb_image takes the bytes for (its own tests, in its order). */
enum stb_format { STB_NONE, STB_BMP, STB_GIF, STB_PSD, STB_TGA };
enum stb_format stb_format(const uint8_t *bytes, size_t size);
/* Before stb_image decodes them: the file must hold every pixel its header promises (stb_image
 * 2.27 reads zeros past the end and accepts the picture).  NST_ERR_NOT_AN_IMAGE ("truncated ...")
 * if not; NST_OK also when the structure is corrupt in a way stb_image refuses itself.  *need
 * becomes the bytes stb_image will allocate for it. */
enum nst_status stb_check_structure(const char *name, enum stb_format format, const uint8_t *bytes, size_t size,
                                    int width, int height, size_t *need, struct nst_diag *diag);

/* ---- the libraries -------------------------------------------------------------------------- */

/* src/image_stb.c */
bool stb_info(const uint8_t *bytes, size_t size, int *width, int *height);
/* The whole picture; its allocations (and the result) charged to budget. */
enum nst_status stb_decode(const char *name, const char *format, const uint8_t *bytes, size_t size,
                           struct image_budget *budget, struct image_pixels *out, struct nst_diag *diag);
enum picture_format { FORMAT_PNG, FORMAT_JPEG, FORMAT_BMP, FORMAT_TGA };
typedef void image_write_func(void *context, void *data, int size);
/* src/image_png.c: PNG written row by row through libpng; 0 if libpng failed (out of memory). */
int png_encode(const struct nst_image *image, image_write_func *write, void *context);
/* 0 if stb_image_write failed (it only does when out of memory). */
int stb_encode(enum picture_format format, const struct nst_image *image, int quality, image_write_func *write,
               void *context);
/* stb_image_resize's defaults (Mitchell shrinking, Catmull-Rom enlarging, edges clamped, no sRGB):
 * false only when its scratch allocation fails. */
/* stb_image_resize's working memory: the caller's memory [capacity bytes], or NULL for malloc;
 * asked is set to the bytes a call needed (a call given too few fails before touching a pixel). */
struct stb_scratch {
	void *memory;
	size_t capacity, asked;
};
bool stb_resize_rgb8(const uint8_t *src, int src_width, int src_height, uint8_t *dst, int width, int height,
                     struct stb_scratch *scratch);
bool stb_resize_rgb_float(const float *src, int src_width, int src_height, float *dst, int width, int height);

/* src/image_jpeg.c: reduced by DCT scaling (1/2, 1/4, 1/8) and then, if the budget needs it, by
 * image_reducer; turned by its EXIF orientation (1..8) last. */
enum nst_status jpeg_decode(const char *name, const uint8_t *bytes, size_t size, int long_side, int orientation,
                            struct image_budget *budget, struct image_pixels *out, struct nst_diag *diag);
/* src/image_png.c: row by row through image_reducer. */
enum nst_status png_decode(const char *name, const uint8_t *bytes, size_t size, int long_side,
                           struct image_budget *budget, struct image_pixels *out, struct nst_diag *diag);

#endif
