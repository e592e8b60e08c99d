/*
 * Pictures in and out: files and streams, the decode budget, the choice of decoder, EXIF
 * orientation, resampling and saving; the size rule of CONVENTIONS.md ('Images').
 *
 * Every picture crosses the API as 8-bit RGB, row-major: rgb [H][W][3], malloc'ed.
 *
 * Decoders: libjpeg-turbo for JPEG (src/image_jpeg.c), libpng for PNG (src/image_png.c), the
 * project's own reader for PNM (src/image_formats.c), stb_image for BMP, TGA, GIF and PSD after
 * their structure was checked here (src/image_formats.c, src/image_stb.c).  The header of a
 * picture is checked before anything the size of its pixels is allocated, and every decode holds
 * at most its budget (nst_image_request.max_bytes): the file's bytes, the decoder's buffers and the
 * pixels are charged to it before they are taken, and what does not fit is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "image_decode.h"

/* ---- limits ----------------------------------------------------------------------------- */

/* Largest file read as a picture: an uncompressed picture at the pixel limit (4 bytes a pixel,
 * 1 GiB) and 1 MiB of headers.  The decoders take an int length, which this stays well under. */
#define NST_IMAGE_MAX_FILE_BYTES ((size_t)(4 * NST_MAX_IMAGE_PIXELS) + ((size_t)1 << 20))
/* How much of a file nst_image_info reads first; the whole file only if the header is not in it. */
#define NST_IMAGE_INFO_PREFIX_BYTES ((size_t)1 << 20)
/* The budget when the caller gives none: half the physical memory, at most this. */
#define NST_IMAGE_DEFAULT_BUDGET_MAX ((size_t)1 << 30)
/* A stream is read in pieces of this size at first. */
#define NST_IMAGE_READ_CHUNK ((size_t)64 << 10)
#define NST_JPEG_DEFAULT_QUALITY 92
#define KIB 1024.0

static const char stdin_name[] = "standard input";

/* ---- the decode budget ----------------------------------------------------------------------- */

bool image_budget_take(struct image_budget *budget, size_t bytes) {
	if (!budget) return true;
	if (bytes > budget->limit - budget->used) {
		budget->refused = true;
		return false;
	}
	budget->used += bytes;
	return true;
}

void image_budget_give(struct image_budget *budget, size_t bytes) {
	if (budget) budget->used = bytes < budget->used ? budget->used - bytes : 0;
}

size_t image_budget_left(const struct image_budget *budget) { return budget->limit - budget->used; }

/* What was allocated is charged by its usable size, which malloc may round up past the request:
 * the request is what must fit, the rounding (a few bytes, a page at most) is charged after. */
static void charge_usable(struct image_budget *budget, size_t requested, void *p) {
	image_budget_give(budget, requested);
	if (budget && p) budget->used += malloc_usable_size(p);
}

void *image_budget_malloc(struct image_budget *budget, size_t bytes, bool zero) {
	if (!image_budget_take(budget, bytes)) return NULL;
	void *p = zero ? calloc(1, bytes) : malloc(bytes);
	charge_usable(budget, bytes, p);
	return p;
}

void *image_budget_realloc(struct image_budget *budget, void *pointer, size_t bytes) {
	if (!pointer) return image_budget_malloc(budget, bytes, false);
	if (!image_budget_take(budget, bytes)) return NULL;
	const size_t old = malloc_usable_size(pointer);
	void *p = realloc(pointer, bytes);
	if (p) image_budget_give(budget, old); /* else the old block stays, charged */
	charge_usable(budget, bytes, p);
	return p;
}

void image_budget_free(struct image_budget *budget, void *pointer) {
	if (!pointer) return;
	image_budget_give(budget, malloc_usable_size(pointer));
	free(pointer);
}

/* "12.3 MiB", "4.9 KiB" or "17 bytes" into text [32]. */
static const char *byte_size(size_t bytes, char *text) {
	if (bytes >= (size_t)1 << 20) snprintf(text, 32, "%.1f MiB", (double)bytes / NST_MIB);
	else if (bytes >= (size_t)1 << 10) snprintf(text, 32, "%.1f KiB", (double)bytes / KIB);
	else snprintf(text, 32, "%zu bytes", bytes);
	return text;
}

enum nst_status image_over_budget(const char *name, const char *what, size_t need, const struct image_budget *budget,
                                  struct nst_diag *diag) {
	char needed[32], limit[32], used[32];
	if (need && budget->used > 0) /* what is charged already counts too */
		return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT,
		                "%s: decoding this %s needs %s beside the %s its decoder holds, more than the decoding budget of %s",
		                name, what, byte_size(need, needed), byte_size(budget->used, used), byte_size(budget->limit, limit));
	if (need)
		return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT, "%s: decoding this %s needs %s, more than the decoding budget of %s",
		                name, what, byte_size(need, needed), byte_size(budget->limit, limit));
	return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT, "%s: decoding this %s needs more than the decoding budget of %s", name,
	                what, byte_size(budget->limit, limit));
}

static size_t default_budget(void) {
	const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	size_t limit = NST_IMAGE_DEFAULT_BUDGET_MAX;
	if (pages > 0 && page > 0 && (uint64_t)pages * (uint64_t)page / 2 < limit)
		limit = (size_t)((uint64_t)pages * (uint64_t)page / 2);
	return limit;
}

/* ---- reduction while decoding ------------------------------------------------------------------ */

int image_reduced_side(int side, int factor) { return (side + factor - 1) / factor; }

void image_reduction_range(int width, int height, int long_side, int *first, int *last) {
	const int longer = width > height ? width : height;
	*first = *last = 1;
	if (long_side <= 0 || longer <= long_side) return;
	*last = longer / long_side; /* ceil(longer / last) >= long_side */
	*first = longer / (2 * long_side);
	if (*first < 1) *first = 1;
}

size_t image_reducer_bytes(int width, int height, int factor) {
	const size_t out_width = (size_t)image_reduced_side(width, factor);
	return out_width * (size_t)image_reduced_side(height, factor) * 3 +
	       (factor > 1 ? 2 * out_width * 3 * sizeof(uint64_t) : 0);
}

enum nst_status image_reducer_init(struct image_reducer *r, int width, int height, int factor,
                                   struct image_budget *budget, const char *name, struct nst_diag *diag) {
	*r = (struct image_reducer){.width = width, .height = height, .factor = factor};
	r->out.width = image_reduced_side(width, factor);
	r->out.height = image_reduced_side(height, factor);
	r->out.rgb = image_budget_malloc(budget, (size_t)r->out.width * (size_t)r->out.height * 3, false);
	if (factor > 1) r->sums = image_budget_malloc(budget, 2 * (size_t)r->out.width * 3 * sizeof *r->sums, true);
	if (!r->out.rgb || (factor > 1 && !r->sums)) {
		image_reducer_free(r, budget);
		return image_over_budget(name, "picture", image_reducer_bytes(width, height, factor), budget, diag);
	}
	return NST_OK;
}

/* Exact area averaging in integers: lengths are measured in units of 1/(W * OW) of the picture's
 * width (input pixel x spans [x * OW, (x + 1) * OW), output pixel j spans [j * W, (j + 1) * W)),
 * likewise vertically, so an output pixel is the sum of value x overlap_x x overlap_y over the
 * input pixels it covers, divided by W * H.  OW <= W: an input pixel meets at most two output
 * pixels, an input row at most two output rows (sums[0], the row being completed, and sums[1]). */
void image_reducer_row(struct image_reducer *r, const uint8_t *row) {
	if (r->row >= r->height) return;
	const int y = r->row++;
	if (r->factor == 1) {
		memcpy(r->out.rgb + (size_t)y * (size_t)r->width * 3, row, (size_t)r->width * 3);
		return;
	}
	const uint64_t w = (uint64_t)r->width, h = (uint64_t)r->height;
	const uint64_t ow = (uint64_t)r->out.width, oh = (uint64_t)r->out.height;
	const size_t out_row_values = (size_t)ow * 3;
	uint64_t *now = r->sums + (size_t)(r->out_row & 1) * out_row_values;      // [ow][3]: output row out_row
	uint64_t *next = r->sums + (size_t)((r->out_row + 1) & 1) * out_row_values; // [ow][3]: the row after
	const uint64_t top = (uint64_t)y * oh, bottom = top + oh, split = (uint64_t)(r->out_row + 1) * h;
	const uint64_t a = bottom <= split ? oh : split - top, b = oh - a; /* into out_row, and the next */
	uint64_t edge = w; /* the right end of output column j */
	size_t j = 0;
	for (uint64_t x = 0; x < w; x++) {
		const uint64_t left = x * ow, right = left + ow;
		if (left >= edge) {
			j++;
			edge += w;
		}
		const uint64_t wa = right <= edge ? ow : edge - left, wb = ow - wa; /* into column j, and j + 1 */
		for (size_t c = 0; c < 3; c++) {
			const uint64_t v = row[(size_t)x * 3 + c];
			now[3 * j + c] += v * wa * a;
			if (wb) now[3 * (j + 1) + c] += v * wb * a;
			if (b) {
				next[3 * j + c] += v * wa * b;
				if (wb) next[3 * (j + 1) + c] += v * wb * b;
			}
		}
	}
	if (bottom < split) return;
	/* output row out_row is complete */
	const uint64_t area = w * h;
	uint8_t *out = r->out.rgb + (size_t)r->out_row * out_row_values; // [ow][3]
	for (size_t i = 0; i < out_row_values; i++) {
		out[i] = (uint8_t)((now[i] + area / 2) / area);
		now[i] = 0;
	}
	r->out_row++;
}

struct image_pixels image_reducer_finish(struct image_reducer *r, struct image_budget *budget) {
	struct image_pixels out = r->out;
	r->out.rgb = NULL;
	image_reducer_free(r, budget);
	return out;
}

void image_reducer_free(struct image_reducer *r, struct image_budget *budget) {
	image_budget_free(budget, r->out.rgb);
	image_budget_free(budget, r->sums);
	r->out.rgb = NULL;
	r->sums = NULL;
}

/* ---- EXIF orientation ----------------------------------------------------------------------- */

enum { EXIF_MIRRORED = 2, EXIF_TURNED_180 = 3, EXIF_FLIPPED = 4, EXIF_TRANSPOSED = 5, EXIF_TURNED_CW = 6,
       EXIF_TRANSVERSED = 7, EXIF_TURNED_CCW = 8 };

enum nst_status image_orient(const char *name, struct image_pixels *px, int orientation, struct image_budget *budget,
                             struct nst_diag *diag) {
	const int w = px->width, h = px->height;
	const bool swap = orientation >= EXIF_TRANSPOSED;
	const int ow = swap ? h : w, oh = swap ? w : h;
	uint8_t *rgb = image_budget_malloc(budget, (size_t)w * (size_t)h * 3, false); // [oh][ow][3]
	if (!rgb) return image_over_budget(name, "picture", (size_t)w * (size_t)h * 3, budget, diag);
	for (int y = 0; y < oh; y++)
		for (int x = 0; x < ow; x++) {
			int sx = x, sy = y; /* where (x, y) of the upright picture is stored */
			switch (orientation) {
			case EXIF_MIRRORED: sx = w - 1 - x; break;
			case EXIF_TURNED_180: sx = w - 1 - x, sy = h - 1 - y; break;
			case EXIF_FLIPPED: sy = h - 1 - y; break;
			case EXIF_TRANSPOSED: sx = y, sy = x; break;
			case EXIF_TURNED_CW: sx = y, sy = h - 1 - x; break;
			case EXIF_TRANSVERSED: sx = w - 1 - y, sy = h - 1 - x; break;
			case EXIF_TURNED_CCW: sx = w - 1 - y, sy = x; break;
			default: break;
			}
			memcpy(rgb + ((size_t)y * (size_t)ow + (size_t)x) * 3,
			       px->rgb + ((size_t)sy * (size_t)w + (size_t)sx) * 3, 3);
		}
	image_budget_free(budget, px->rgb);
	*px = (struct image_pixels){rgb, ow, oh};
	return NST_OK;
}

/* ---- headers ------------------------------------------------------------------------------ */

/* The size checks shared by every reader; name is the file (or "standard input"). */
static enum nst_status check_size(const char *name, int64_t width, int64_t height, struct nst_diag *diag) {
	if (width <= 0 || height <= 0)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: the header says %lldx%lld pixels, an empty picture",
		                name, (long long)width, (long long)height);
	if (width > NST_MAX_IMAGE_SIDE || height > NST_MAX_IMAGE_SIDE)
		return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE,
		                "%s: %lldx%lld pixels is over the limit of %d pixels on a side", name,
		                (long long)width, (long long)height, NST_MAX_IMAGE_SIDE);
	if (width * height > NST_MAX_IMAGE_PIXELS)
		return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: %lldx%lld pixels is over the limit of %lld pixels",
		                name, (long long)width, (long long)height, (long long)NST_MAX_IMAGE_PIXELS);
	return NST_OK;
}

/* Checks the header of the picture in bytes [size] (possibly only a prefix of the file) and gives
 * its size as stored (before any EXIF orientation); nothing of the size of the pixels is
 * allocated. */
static enum nst_status check_header(const char *name, const uint8_t *bytes, size_t size, int *width,
                                    int *height, struct nst_diag *diag) {
	if (size == 0) return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: empty file", name);
	if (size > (size_t)INT_MAX)
		return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: %zu bytes is over the limit of %d bytes for a picture",
		                name, size, INT_MAX);
	const char *format = image_format_name(bytes, size);
	if (image_is_pnm(bytes, size)) {
		struct pnm_header pnm;
		enum nst_status status = pnm_parse(name, bytes, size, &pnm, diag);
		if (status == NST_OK) status = check_size(name, pnm.width, pnm.height, diag);
		if (status != NST_OK) return status;
		*width = (int)pnm.width;
		*height = (int)pnm.height;
		return NST_OK;
	}
	int64_t w64, h64;
	const bool sniffed = image_sniff_size(bytes, size, &w64, &h64);
	if (sniffed) {
		enum nst_status status = check_size(name, w64, h64, diag);
		if (status != NST_OK) return status;
	}
	if (image_is_png(bytes, size) || image_is_jpeg(bytes, size)) { /* not stb_image's any more */
		if (!sniffed)
			return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated or corrupt %s header", name,
			                image_is_png(bytes, size) ? "PNG" : "JPEG");
		*width = (int)w64;
		*height = (int)h64;
		return NST_OK;
	}
	int w = 0, h = 0;
	if (!stb_info(bytes, size, &w, &h)) {
		/* stb_image tries every format in turn, so its reason is always "unknown image type";
		 * the first bytes say more. */
		if (strcmp(format, "picture") == 0)
			return nst_fail(diag, NST_ERR_NOT_AN_IMAGE,
			                "%s: not a picture (PNG, JPEG, BMP, TGA, GIF, PSD or PNM expected)", name);
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated or corrupt %s header", name, format);
	}
	enum nst_status status = check_size(name, w, h, diag);
	if (status != NST_OK) return status;
	*width = w;
	*height = h;
	return NST_OK;
}

/* The EXIF orientation of the picture in bytes (1 for everything but a JPEG that has one). */
static int orientation_of(const uint8_t *bytes, size_t size) {
	return image_is_jpeg(bytes, size) ? image_exif_orientation(bytes, size) : 1;
}

/* EXIF orientations 5..8 turn the picture by a quarter: its sides swap. */
static bool sides_swap(int orientation) { return orientation >= EXIF_TRANSPOSED; }

/* ---- reading files and streams ---------------------------------------------------------------- */

/* A picture file being read: a regular file, or a stream (pipe, FIFO, device, standard input)
 * that can be read once and whose size is not known.  bytes is charged to the budget. */
struct source {
	int fd;
	const char *name;
	bool stream;
	size_t size_hint;  /* a regular file's size, for the first buffer */
	uint8_t *bytes;    /* [capacity] */
	size_t size, capacity;
	bool ended;        /* read returned 0 */
};

/* Reads until the source holds want bytes or has ended, in a buffer of at most max bytes (>= want,
 * within what the budget leaves). */
static enum nst_status source_fill(struct source *s, size_t want, size_t max, struct image_budget *budget,
                                   struct nst_diag *diag) {
	while (!s->ended && s->size < want) {
		if (s->size == s->capacity) {
			/* doubling (a regular file: its size and one byte, to see it end), but never much past
			 * want: a prefix is read as a prefix */
			const size_t enough = want > NST_IMAGE_READ_CHUNK ? want : NST_IMAGE_READ_CHUNK;
			size_t grown = s->capacity ? s->capacity * 2 : s->size_hint ? s->size_hint + 1 : NST_IMAGE_READ_CHUNK;
			if (grown < s->capacity) grown = max; /* overflow */
			if (grown > enough) grown = enough > s->capacity ? enough : grown;
			if (grown > max) grown = max;
			if (!image_budget_take(budget, grown - s->capacity))
				return image_over_budget(s->name, "stream", 0, budget, diag);
			uint8_t *bigger = realloc(s->bytes, grown);
			if (!bigger) {
				image_budget_give(budget, grown - s->capacity);
				return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes to read it", s->name,
				                grown);
			}
			s->bytes = bigger;
			s->capacity = grown;
		}
		const ssize_t got = read(s->fd, s->bytes + s->size, s->capacity - s->size);
		if (got < 0) {
			if (errno == EINTR) continue;
			return nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", s->name, strerror(errno));
		}
		if (got == 0) s->ended = true;
		s->size += (size_t)got;
	}
	return NST_OK;
}

/* The most bytes of the source that may be held: the file limit, or what the budget leaves
 * (*by_budget). */
static size_t source_limit(const struct source *s, const struct image_budget *budget, bool *by_budget) {
	const size_t left = image_budget_left(budget) + s->capacity; /* the buffer is charged already */
	*by_budget = left <= NST_IMAGE_MAX_FILE_BYTES;
	return *by_budget ? (left > 0 ? left - 1 : 0) : NST_IMAGE_MAX_FILE_BYTES;
}

static void source_close(struct source *s, struct image_budget *budget) {
	if (s->fd >= 0 && s->fd != STDIN_FILENO) close(s->fd);
	image_budget_give(budget, s->capacity);
	free(s->bytes);
	*s = (struct source){.fd = -1};
}

/* A FIFO opened through a name in the file system (not an inherited pipe such as /dev/stdin or
 * bash's <(...), which /proc shows as "pipe:[...]"): nobody may ever open it to write. */
static bool named_fifo(int fd) {
	char link[64], target[16] = "";
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	const ssize_t n = readlink(link, target, sizeof target - 1);
	return n < 0 || strncmp(target, "pipe:", 5) != 0;
}

/* Opens path ("-": standard input) for reading; a directory is refused, a named FIFO must give
 * its first byte within NST_FIFO_WAIT_MS (open itself never waits: O_NONBLOCK). */
static enum nst_status source_open(const char *path, struct source *s, struct nst_diag *diag) {
	*s = (struct source){.fd = -1, .name = path};
	if (strcmp(path, "-") == 0) {
		s->fd = STDIN_FILENO;
		s->name = stdin_name;
	} else {
		do {
			s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		} while (s->fd < 0 && errno == EINTR);
		if (s->fd < 0) return nst_fail(diag, NST_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	}
	struct stat st;
	enum nst_status status = NST_OK;
	if (fstat(s->fd, &st) != 0)
		status = nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", s->name, strerror(errno));
	else if (S_ISDIR(st.st_mode))
		status = nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", s->name, strerror(EISDIR));
	else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > NST_IMAGE_MAX_FILE_BYTES)
		status = nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: %llu bytes is over the limit of %zu bytes for a picture file",
		                  s->name, (unsigned long long)st.st_size, NST_IMAGE_MAX_FILE_BYTES);
	if (status == NST_OK && s->fd != STDIN_FILENO && S_ISFIFO(st.st_mode) && named_fifo(s->fd)) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		int ready;
		do {
			ready = poll(&p, 1, NST_FIFO_WAIT_MS);
		} while (ready < 0 && errno == EINTR);
		if (ready == 0)
			status = nst_fail(diag, NST_ERR_IO,
			                  "cannot read %s: nothing came through this FIFO in %d s (does a program write to it?)",
			                  s->name, NST_FIFO_WAIT_MS / 1000);
	}
	if (status == NST_OK && s->fd != STDIN_FILENO) {
		const int flags = fcntl(s->fd, F_GETFL);
		if (flags < 0 || fcntl(s->fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
			status = nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", s->name, strerror(errno));
	}
	if (status != NST_OK) {
		source_close(s, NULL);
		return status;
	}
	s->stream = !S_ISREG(st.st_mode);
	s->size_hint = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
	return NST_OK;
}

/* The first bytes of a stream must be able to start a picture: /dev/zero or a text is refused
 * before more of it is read. */
static enum nst_status source_sniff(struct source *s, struct image_budget *budget, struct nst_diag *diag) {
	if (!s->stream) return NST_OK;
	bool by_budget;
	const size_t limit = source_limit(s, budget, &by_budget);
	enum nst_status status = source_fill(s, IMAGE_SNIFF_BYTES < limit ? IMAGE_SNIFF_BYTES : limit, limit + 1, budget, diag);
	if (status != NST_OK) return status;
	if (s->size > 0 && !image_plausible_start(s->bytes, s->size))
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: not a picture (PNG, JPEG, BMP, TGA, GIF, PSD or PNM expected)",
		                s->name);
	return NST_OK;
}

/* Reads the first bytes of the source (want of them, or all there are). */
static enum nst_status source_read_prefix(struct source *s, size_t want, struct image_budget *budget,
                                          struct nst_diag *diag) {
	bool by_budget;
	const size_t limit = source_limit(s, budget, &by_budget);
	return source_fill(s, want < limit ? want : limit, limit + 1, budget, diag);
}

/* Reads the whole source, within the file limit and the budget. */
static enum nst_status source_read_all(struct source *s, struct image_budget *budget, struct nst_diag *diag) {
	bool by_budget;
	const size_t limit = source_limit(s, budget, &by_budget);
	char limit_text[32];
	if (!s->stream && s->size_hint > limit && by_budget)
		return nst_fail(diag, NST_ERR_OVER_MEMORY_LIMIT, "%s: a file of %zu bytes does not fit the decoding budget of %s",
		                s->name, s->size_hint, byte_size(budget->limit, limit_text));
	enum nst_status status = source_fill(s, limit + 1, limit + 1, budget, diag);
	if (status != NST_OK) return status;
	if (s->size > limit) { /* a stream, or a file that grew while it was read */
		if (by_budget) return image_over_budget(s->name, s->stream ? "stream" : "file", 0, budget, diag);
		return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: over the limit of %zu bytes for a picture file", s->name,
		                NST_IMAGE_MAX_FILE_BYTES);
	}
	return NST_OK;
}

/* ---- decoding --------------------------------------------------------------------------- */

/* stb_image's formats: the structure checked, the whole picture decoded (within the budget), then
 * reduced if the request allows. */
static enum nst_status decode_with_stb(const char *name, const uint8_t *bytes, size_t size, int width, int height,
                                       int long_side, struct image_budget *budget, struct image_pixels *out,
                                       struct nst_diag *diag) {
	const char *format = image_format_name(bytes, size);
	if (strcmp(format, "picture") == 0) format = "TGA";
	size_t need;
	enum nst_status status = stb_check_structure(name, stb_format(bytes, size), bytes, size, width, height, &need, diag);
	if (status != NST_OK) return status;
	int first, last, factor = 0;
	image_reduction_range(width, height, long_side, &first, &last);
	for (int f = first; f <= last && !factor; f++)
		if (need + (f > 1 ? image_reducer_bytes(width, height, f) : 0) <= image_budget_left(budget)) factor = f;
	if (!factor) return image_over_budget(name, format, need, budget, diag);
	struct image_pixels full;
	status = stb_decode(name, format, bytes, size, budget, &full, diag);
	if (status != NST_OK) return status;
	if (full.width != width || full.height != height) { /* cannot happen: info and load parse the same header */
		image_budget_free(budget, full.rgb);
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: the header says %dx%d pixels but %dx%d were decoded", name,
		                width, height, full.width, full.height);
	}
	if (factor == 1) {
		*out = full;
		return NST_OK;
	}
	struct image_reducer reducer;
	status = image_reducer_init(&reducer, width, height, factor, budget, name, diag);
	if (status == NST_OK) {
		for (int y = 0; y < height; y++) image_reducer_row(&reducer, full.rgb + (size_t)y * (size_t)width * 3);
		*out = image_reducer_finish(&reducer, budget);
	}
	image_budget_free(budget, full.rgb);
	return status;
}

static enum nst_status decode_named(const char *name, const uint8_t *bytes, size_t size,
                                    struct nst_image_request *request, struct image_budget *budget,
                                    struct nst_image *out, struct nst_diag *diag) {
	int width, height;
	enum nst_status status = check_header(name, bytes, size, &width, &height, diag);
	if (status != NST_OK) return status;
	const int orientation = orientation_of(bytes, size);
	request->width = sides_swap(orientation) ? height : width;
	request->height = sides_swap(orientation) ? width : height;
	const int long_side = request->long_side;
	struct image_pixels px = {0};
	if (image_is_pnm(bytes, size)) {
		struct pnm_header pnm;
		status = pnm_parse(name, bytes, size, &pnm, diag);
		if (status == NST_OK) status = pnm_decode(name, bytes, size, &pnm, long_side, budget, &px, diag);
	} else if (image_is_jpeg(bytes, size)) {
		status = jpeg_decode(name, bytes, size, long_side, orientation, budget, &px, diag);
	} else if (image_is_png(bytes, size)) {
		status = png_decode(name, bytes, size, long_side, budget, &px, diag);
	} else {
		status = decode_with_stb(name, bytes, size, width, height, long_side, budget, &px, diag);
	}
	if (status != NST_OK) return status;
	*out = (struct nst_image){.width = px.width, .height = px.height, .rgb = px.rgb};
	return NST_OK;
}

/* The request with its defaults (no request: full size, the default budget). */
static struct image_budget budget_for(struct nst_image_request *request) {
	return (struct image_budget){.limit = request->max_bytes ? request->max_bytes : default_budget()};
}

enum nst_status nst_image_decode_for(const uint8_t *bytes, size_t size, struct nst_image_request *request,
                                     struct nst_image *out, struct nst_diag *diag) {
	if (!out) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_decode: no output image");
	*out = (struct nst_image){0};
	if (!bytes && size > 0) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_decode: no bytes");
	struct nst_image_request defaults = {0};
	if (!request) request = &defaults;
	if (request->long_side < 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_decode: long side %d", request->long_side);
	struct image_budget budget = budget_for(request);
	return decode_named("picture in memory", bytes, size, request, &budget, out, diag);
}

enum nst_status nst_image_decode(const uint8_t *bytes, size_t size, struct nst_image *out, struct nst_diag *diag) {
	return nst_image_decode_for(bytes, size, NULL, out, diag);
}

enum nst_status nst_image_load_for(const char *path, struct nst_image_request *request, struct nst_image *out,
                                   struct nst_diag *diag) {
	if (!out) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_load: no output image");
	*out = (struct nst_image){0};
	if (!path || !*path) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_load: no path");
	struct nst_image_request defaults = {0};
	if (!request) request = &defaults;
	if (request->long_side < 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_load: long side %d", request->long_side);
	struct image_budget budget = budget_for(request);
	struct source s;
	enum nst_status status = source_open(path, &s, diag);
	if (status != NST_OK) return status;
	status = source_sniff(&s, &budget, diag);
	if (status == NST_OK) status = source_read_all(&s, &budget, diag);
	if (status == NST_OK) status = decode_named(s.name, s.bytes, s.size, request, &budget, out, diag);
	source_close(&s, &budget);
	return status;
}

enum nst_status nst_image_load(const char *path, struct nst_image *out, struct nst_diag *diag) {
	return nst_image_load_for(path, NULL, out, diag);
}

enum nst_status nst_image_info(const char *path, int *width, int *height, struct nst_diag *diag) {
	if (!path || !*path) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_info: no path");
	if (strcmp(path, "-") == 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "nst_image_info: standard input cannot be read twice; use nst_image_load(\"-\")");
	struct image_budget budget = {.limit = default_budget()};
	struct source s;
	enum nst_status status = source_open(path, &s, diag);
	if (status != NST_OK) return status;
	/* The header is at the start of the file: read a prefix, and the whole file only if a JPEG's
	 * frame header is not in the prefix (it may follow megabytes of EXIF). */
	status = source_sniff(&s, &budget, diag);
	if (status == NST_OK) status = source_read_prefix(&s, NST_IMAGE_INFO_PREFIX_BYTES, &budget, diag);
	int w = 0, h = 0;
	if (status == NST_OK) {
		struct nst_diag header_diag = {{0}};
		enum nst_status header = check_header(s.name, s.bytes, s.size, &w, &h, &header_diag);
		if (header == NST_ERR_NOT_AN_IMAGE && !s.ended && image_is_jpeg(s.bytes, s.size)) {
			status = source_read_all(&s, &budget, diag);
			if (status == NST_OK) header = check_header(s.name, s.bytes, s.size, &w, &h, &header_diag);
		}
		if (status == NST_OK && header != NST_OK) {
			status = header;
			if (diag) *diag = header_diag;
		}
	}
	const int orientation = status == NST_OK ? orientation_of(s.bytes, s.size) : 1;
	source_close(&s, &budget);
	if (status != NST_OK) return status;
	if (width) *width = sides_swap(orientation) ? h : w;
	if (height) *height = sides_swap(orientation) ? w : h;
	return NST_OK;
}

/* ---- size and resampling ---------------------------------------------------------------- */

/* CONVENTIONS.md / torch_nst.py resize_long_side:
 *     s = size / max(w, h);  nw, nh = max(1, round(w * s)), max(1, round(h * s))
 * in double, rounding half to even like Python's round (rint in the default rounding mode).
 * A picture whose longer side already is long_side keeps its size.  Non-positive arguments leave
 * the size as it is (the caller validates them). */
void nst_image_fit(int width, int height, int long_side, int *out_width, int *out_height) {
	int w = width, h = height;
	int longer = width > height ? width : height;
	if (width > 0 && height > 0 && long_side > 0 && longer != long_side) {
		double s = (double)long_side / (double)longer;
		double fw = rint((double)width * s), fh = rint((double)height * s);
		w = fw < 1.0 ? 1 : (int)fw;
		h = fh < 1.0 ? 1 : (int)fh;
	}
	if (out_width) *out_width = w;
	if (out_height) *out_height = h;
}

static bool image_valid(const struct nst_image *image) {
	return image && image->rgb && image->width > 0 && image->height > 0 &&
	       image->width <= NST_MAX_IMAGE_SIDE && image->height <= NST_MAX_IMAGE_SIDE &&
	       (int64_t)image->width * image->height <= NST_MAX_IMAGE_PIXELS;
}

static enum nst_status resize_size_valid(int width, int height) {
	if (width <= 0 || height <= 0) return NST_ERR_INVALID_ARGUMENT;
	if (width > NST_MAX_IMAGE_SIDE || height > NST_MAX_IMAGE_SIDE || (int64_t)width * height > NST_MAX_IMAGE_PIXELS)
		return NST_ERR_IMAGE_TOO_LARGE;
	return NST_OK;
}

size_t nst_image_resize_scratch_bytes(int src_width, int src_height, int width, int height) {
	if (resize_size_valid(src_width, src_height) != NST_OK || resize_size_valid(width, height) != NST_OK) return 0;
	if (src_width == width && src_height == height) return 0; /* a copy */
	/* stb_image_resize asks for its memory before it reads a pixel: a call with none says how much */
	struct stb_scratch measure = {NULL, 0, 0};
	uint8_t pixel[3] = {0};
	stb_resize_rgb8(pixel, src_width, src_height, pixel, width, height, &measure);
	return measure.asked;
}

enum nst_status nst_image_resize_into(const struct nst_image *src, struct nst_image *dst, void *scratch,
                                      size_t scratch_bytes) {
	if (!dst || !dst->rgb || !image_valid(src)) return NST_ERR_INVALID_ARGUMENT;
	const enum nst_status st = resize_size_valid(dst->width, dst->height);
	if (st != NST_OK) return st;
	if (dst->width == src->width && dst->height == src->height) {
		memcpy(dst->rgb, src->rgb, (size_t)dst->width * (size_t)dst->height * 3);
		return NST_OK;
	}
	struct stb_scratch own = {scratch, scratch_bytes, 0};
	if (!scratch || !stb_resize_rgb8(src->rgb, src->width, src->height, dst->rgb, dst->width, dst->height, &own))
		return NST_ERR_INVALID_ARGUMENT; /* fails only when the scratch is smaller than it needs */
	return NST_OK;
}

enum nst_status nst_image_resize(const struct nst_image *src, int width, int height, struct nst_image *out) {
	if (!out || !image_valid(src)) return NST_ERR_INVALID_ARGUMENT;
	const enum nst_status st = resize_size_valid(width, height);
	if (st != NST_OK) return st;
	size_t bytes = (size_t)width * (size_t)height * 3;
	uint8_t *rgb = malloc(bytes); // [height][width][3]
	if (!rgb) return NST_ERR_OUT_OF_MEMORY;
	if (width == src->width && height == src->height) {
		memcpy(rgb, src->rgb, bytes);
	} else if (!stb_resize_rgb8(src->rgb, src->width, src->height, rgb, width, height, NULL)) {
		free(rgb); /* stb_image_resize fails only when its scratch allocation fails */
		return NST_ERR_OUT_OF_MEMORY;
	}
	out->width = width;
	out->height = height;
	out->rgb = rgb;
	return NST_OK;
}

enum nst_status nst_x_resize(const float *src, int src_width, int src_height, float *dst, int width, int height) {
	if (!src || !dst || src_width <= 0 || src_height <= 0 || width <= 0 || height <= 0 ||
	    (int64_t)src_width * src_height > NST_MAX_IMAGE_PIXELS || (int64_t)width * height > NST_MAX_IMAGE_PIXELS)
		return NST_ERR_INVALID_ARGUMENT;
	const size_t row = (size_t)width * 3 * sizeof(float); // dst row: [width][3]
	if (width == src_width && height == src_height) {
		memcpy(dst, src, row * (size_t)height);
		return NST_OK;
	}
	/* The 8-bit path's filters (Catmull-Rom enlarging, Mitchell shrinking), in float: no rounding,
	 * no clamping to 0..255 (the optimized picture goes beyond it), nothing lost between scales. */
	if (!stb_resize_rgb_float(src, src_width, src_height, dst, width, height))
		return NST_ERR_OUT_OF_MEMORY; /* stb_image_resize fails only when its scratch allocation fails */
	return NST_OK;
}

enum nst_status nst_x_upsample(float *x, const struct nst_image *coarse, float *dst, const struct nst_image *fine) {
	if (!x || !dst || !image_valid(coarse) || !image_valid(fine))
		return NST_ERR_INVALID_ARGUMENT;
	const size_t coarse_values = (size_t)coarse->width * (size_t)coarse->height * 3;
	const size_t fine_values = (size_t)fine->width * (size_t)fine->height * 3;
	/* resize(x) + fine - resize(coarse) = resize(x - coarse) + fine: the resize is linear, so no
	 * third picture is needed.  x is BGR, the pictures RGB; the mean cancels in the differences. */
	for (size_t i = 0; i < coarse_values; i += 3)
		for (size_t c = 0; c < 3; c++) x[i + c] -= (float)coarse->rgb[i + 2 - c];
	const enum nst_status st = nst_x_resize(x, coarse->width, coarse->height, dst, fine->width, fine->height);
	if (st != NST_OK)
		return st;
	for (size_t i = 0; i < fine_values; i += 3)
		for (size_t c = 0; c < 3; c++) dst[i + c] += (float)fine->rgb[i + 2 - c];
	return NST_OK;
}

void nst_image_free(struct nst_image *image) {
	if (!image) return;
	free(image->rgb);
	*image = (struct nst_image){0};
}

/* ---- encoding --------------------------------------------------------------------------- */

/* Where an encoder's output goes; the first failing write is remembered. */
struct write_sink {
	FILE *file;
	int error; /* errno of the first failed write, 0 if none */
};

static void sink_write(void *context, void *data, int size) {
	struct write_sink *sink = context;
	if (sink->error || size <= 0) return;
	errno = 0;
	if (fwrite(data, 1, (size_t)size, sink->file) != (size_t)size) sink->error = errno ? errno : EIO;
}

/* Encodes image into sink: 0 if the encoder failed (it only does when out of memory).  PNG row by
 * row through libpng, the others through stb_image_write. */
static int encode(enum picture_format format, const struct nst_image *image, int quality, struct write_sink *sink) {
	if (format == FORMAT_PNG)
		return png_encode(image, sink_write, sink);
	return stb_encode(format, image, quality, sink_write, sink);
}

/* The process's umask, read without changing it (umask(2) can only be read by setting it, which
 * would race with other threads creating files).  022 if /proc is not there. */
static mode_t current_umask(void) {
	mode_t mask = 022;
	FILE *status = fopen("/proc/self/status", "re");
	if (!status) return mask;
	char line[256];
	while (fgets(line, sizeof line, status)) {
		unsigned int value;
		if (strncmp(line, "Umask:", 6) == 0 && sscanf(line + 6, "%o", &value) == 1) {
			mask = (mode_t)(value & 0777);
			break;
		}
	}
	fclose(status);
	return mask;
}

static enum nst_status save_stdout(const struct nst_image *image, struct nst_diag *diag) {
	struct write_sink sink = {stdout, 0};
	if (!encode(FORMAT_PNG, image, 0, &sink))
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "standard output: out of memory encoding %dx%d pixels as PNG",
		                image->width, image->height);
	if (!sink.error && fflush(stdout) != 0) sink.error = errno ? errno : EIO;
	if (!sink.error && ferror(stdout)) sink.error = EIO;
	if (sink.error)
		return nst_fail(diag, NST_ERR_IO, "cannot write to standard output: %s", strerror(sink.error));
	return NST_OK;
}

enum nst_status nst_image_save(const char *path, const struct nst_image *image, int jpeg_quality,
                               struct nst_diag *diag) {
	if (!path || !*path) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_save: no path");
	if (!image || !image->rgb || image->width <= 0 || image->height <= 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "%s: nothing to save (%dx%d pixels%s)", path,
		                image ? image->width : 0, image ? image->height : 0,
		                image && !image->rgb ? ", no pixel buffer" : "");
	if (!image_valid(image))
		return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE,
		                "%s: %dx%d pixels is over the limit of %d pixels on a side and %lld in all", path,
		                image->width, image->height, NST_MAX_IMAGE_SIDE, (long long)NST_MAX_IMAGE_PIXELS);
	if (jpeg_quality == 0) jpeg_quality = NST_JPEG_DEFAULT_QUALITY;
	if (jpeg_quality < 1 || jpeg_quality > 100)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "%s: JPEG quality %d is not in 1..100", path, jpeg_quality);
	if (strcmp(path, "-") == 0) return save_stdout(image, diag);

	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	const char *dot = strrchr(base, '.');
	enum picture_format format;
	if (!dot || dot == base) /* "x" or ".png": no extension */
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "%s: no file extension to tell the picture format (use .png, .jpg, .bmp or .tga)", path);
	if (strcasecmp(dot, ".png") == 0) format = FORMAT_PNG;
	else if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) format = FORMAT_JPEG;
	else if (strcasecmp(dot, ".bmp") == 0) format = FORMAT_BMP;
	else if (strcasecmp(dot, ".tga") == 0) format = FORMAT_TGA;
	else
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "%s: unknown picture format '%s' (use .png, .jpg, .bmp or .tga)", path, dot);

	/* The temporary file: "<dir>/.<base>.tmp-XXXXXX" beside the target, so that rename is atomic.
	 * A long base is shortened to keep the name under NAME_MAX. */
	size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0; /* with the slash */
	size_t base_len = strlen(base);
	if (base_len > 200) base_len = 200;
	size_t tmp_bytes = dir_len + 1 + base_len + sizeof ".tmp-XXXXXX";
	char *tmp = malloc(tmp_bytes);
	if (!tmp) return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
	snprintf(tmp, tmp_bytes, "%.*s.%.*s.tmp-XXXXXX", (int)dir_len, path, (int)base_len, base);

	int fd = mkstemp(tmp);
	if (fd < 0) {
		int error = errno;
		free(tmp);
		return nst_fail(diag, NST_ERR_IO, "cannot write %s: %s", path, strerror(error));
	}
	int error = 0;
	const char *what = "cannot write";
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC); /* mkostemp is not POSIX */
	if (fchmod(fd, 0644 & ~current_umask()) != 0) {
		error = errno;
		close(fd);
		goto fail;
	}
	FILE *file = fdopen(fd, "wb");
	if (!file) {
		error = errno;
		close(fd);
		goto fail;
	}
	struct write_sink sink = {file, 0};
	int encoded = encode(format, image, jpeg_quality, &sink);
	if (!sink.error && fflush(file) != 0) sink.error = errno ? errno : EIO;
	if (!sink.error && ferror(file)) sink.error = EIO;
	if (!sink.error && fsync(fileno(file)) != 0) sink.error = errno;
	if (fclose(file) != 0 && !sink.error) sink.error = errno ? errno : EIO;
	if (!encoded && !sink.error) {
		unlink(tmp);
		free(tmp);
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: out of memory encoding %dx%d pixels", path,
		                image->width, image->height);
	}
	if (sink.error) {
		error = sink.error;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		error = errno;
		what = "cannot replace";
		goto fail;
	}
	free(tmp);
	/* Make the rename itself durable; a directory that cannot be synced does not undo the save. */
	{
		char *dir = dir_len ? strndup(path, dir_len) : NULL;
		int dir_fd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dir_fd >= 0) {
			(void)fsync(dir_fd);
			close(dir_fd);
		}
		free(dir);
	}
	return NST_OK;

fail:
	unlink(tmp);
	free(tmp);
	return nst_fail(diag, NST_ERR_IO, "%s %s: %s", what, path, strerror(error));
}
