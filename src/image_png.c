/*
 * PNG through libpng (Debian's libpng-dev), row by row: a non-interlaced picture is reduced as its
 * rows are inflated, so neither it nor its compressed stream is ever held at full size, and the
 * zlib stream cannot inflate past the rows the header promises.  Every libpng allocation is
 * charged to the decode's budget (its allocator hooks), ancillary chunks are skipped unread (no
 * iCCP / zTXt / iTXt inflation), and data after the last row ("Too much image data", the 1x1
 * picture whose IDAT inflates without end) or a missing IEND make the file corrupt.
 *
 * The samples become 8-bit RGB as stb_image made them: palette and grey expanded, 16-bit samples
 * cut to their high byte, alpha dropped (not composited), gamma and tRNS ignored.
 */
#include <png.h>
#include <setjmp.h>
#include <string.h>

#include "image_decode.h"

enum {
	PNG_CHUNK_BYTES_MAX = 1 << 20,  /* the most libpng allocates for one ancillary chunk */
	PNG_CHUNK_CACHE_MAX = 64,       /* unknown / sPLT chunks it keeps */
	PNG_BYTES_PER_COLUMN = 32,      /* libpng's rows (up to 8 bytes a pixel, twice) and ours */
	PNG_FIXED_BYTES = 256 << 10,    /* its structures and zlib's inflate window */
	PNG_RGB = 3,
};

/* Known ancillary chunks libpng would otherwise read (and inflate) for nothing. */
static const png_byte skipped_chunks[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0"
                                         "sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";

/* Everything a longjmp from libpng must find: reached through a pointer that setjmp's frame does
 * not change. */
struct png_job {
	const char *name;
	const uint8_t *bytes;
	size_t size, at;           /* next byte to give libpng */
	struct image_budget *budget;
	bool ended;                /* libpng asked for bytes past the end */
	char message[256];         /* libpng's error */
	struct image_reducer reducer;
	bool reducing;             /* reducer initialised */
	uint8_t *row;              /* [width][3]: one row (non-interlaced) */
	uint8_t *full;             /* [height][width][3]: the picture (interlaced) */
	png_bytep *rows;           /* [height] into full */
};

static void png_read_from_memory(png_structp png, png_bytep out, size_t n) {
	struct png_job *job = png_get_io_ptr(png);
	if (n > job->size - job->at) {
		job->ended = true;
		png_error(png, "the file ends early");
	}
	memcpy(out, job->bytes + job->at, n);
	job->at += n;
}

static void png_on_error(png_structp png, png_const_charp message) {
	struct png_job *job = png_get_error_ptr(png);
	if (!job->message[0]) snprintf(job->message, sizeof job->message, "%s", message);
	png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp message) { (void)png, (void)message; }

static png_voidp png_budget_malloc(png_structp png, png_alloc_size_t bytes) {
	return image_budget_malloc(png_get_mem_ptr(png), bytes, false);
}

static void png_budget_free(png_structp png, png_voidp pointer) { image_budget_free(png_get_mem_ptr(png), pointer); }

static void png_job_free(struct png_job *job) {
	if (job->reducing) image_reducer_free(&job->reducer, job->budget);
	image_budget_free(job->budget, job->row);
	image_budget_free(job->budget, job->full);
	image_budget_free(job->budget, job->rows);
	job->reducing = false;
	job->row = job->full = NULL;
	job->rows = NULL;
}

/* Bytes a decode at factor takes besides libpng's own: the reducer, and the rows. */
static size_t png_need(int width, int height, int factor, bool interlaced) {
	size_t need = image_reducer_bytes(width, height, factor) + (size_t)width * PNG_BYTES_PER_COLUMN + PNG_FIXED_BYTES;
	if (interlaced) need += (size_t)width * (size_t)height * PNG_RGB + (size_t)height * sizeof(png_bytep);
	return need;
}

/* The decode itself; libpng's errors come back here through the longjmp in png_on_error. */
static enum nst_status png_run(png_structp png, png_infop info, struct png_job *job, int long_side,
                               struct image_pixels *out, struct nst_diag *diag) {
	png_set_read_fn(png, job, png_read_from_memory);
	png_set_user_limits(png, NST_MAX_IMAGE_SIDE, NST_MAX_IMAGE_SIDE);
	png_set_chunk_malloc_max(png, PNG_CHUNK_BYTES_MAX);
	png_set_chunk_cache_max(png, PNG_CHUNK_CACHE_MAX);
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped_chunks, (int)(sizeof skipped_chunks / 5));
	png_set_check_for_invalid_index(png, 0); /* stb_image took an index past the palette too */
	png_read_info(png, info);

	png_uint_32 w, h;
	int depth, color, interlace;
	png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
	const int width = (int)w, height = (int)h; /* within NST_MAX_IMAGE_SIDE: png_set_user_limits */
	if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
	if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
	if (depth == 16) png_set_strip_16(png);
	png_set_strip_alpha(png);
	if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
	const int passes = png_set_interlace_handling(png);
	png_read_update_info(png, info);
	/* From here on a benign error is an error: compressed data beyond the rows ("Too much image
	 * data", reported when the last row is read) and what follows them up to IEND. */
	png_set_benign_errors(png, 0);
	if (png_get_rowbytes(png, info) != (size_t)width * PNG_RGB)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: corrupt PNG: rows of %zu bytes for %d RGB pixels", job->name,
		                (size_t)png_get_rowbytes(png, info), width);

	int first, last, factor = 0;
	image_reduction_range(width, height, long_side, &first, &last);
	for (int f = first; f <= last && !factor; f++)
		if (png_need(width, height, f, passes > 1) <= image_budget_left(job->budget)) factor = f;
	if (!factor)
		return image_over_budget(job->name, "PNG", png_need(width, height, last, passes > 1), job->budget, diag);
	enum nst_status status = image_reducer_init(&job->reducer, width, height, factor, job->budget, job->name, diag);
	if (status != NST_OK) return status;
	job->reducing = true;
	if (passes == 1) {
		job->row = image_budget_malloc(job->budget, (size_t)width * PNG_RGB, false);
		if (!job->row) return image_over_budget(job->name, "PNG", 0, job->budget, diag);
		for (int y = 0; y < height; y++) {
			png_read_row(png, job->row, NULL);
			image_reducer_row(&job->reducer, job->row);
		}
	} else { /* Adam7: the passes fill the whole picture in turn */
		job->full = image_budget_malloc(job->budget, (size_t)width * (size_t)height * PNG_RGB, false);
		job->rows = image_budget_malloc(job->budget, (size_t)height * sizeof *job->rows, false);
		if (!job->full || !job->rows) return image_over_budget(job->name, "PNG", 0, job->budget, diag);
		for (int y = 0; y < height; y++) job->rows[y] = job->full + (size_t)y * (size_t)width * PNG_RGB;
		png_read_image(png, job->rows);
		for (int y = 0; y < height; y++) image_reducer_row(&job->reducer, job->rows[y]);
	}
	png_read_end(png, NULL); /* up to IEND: a file cut after its rows is refused too */
	*out = image_reducer_finish(&job->reducer, job->budget);
	job->reducing = false;
	return NST_OK;
}

/* setjmp's frame: nothing of it changes after setjmp (the job lives in the caller's). */
static enum nst_status png_guarded(png_structp png, png_infop info, struct png_job *job, int long_side,
                                   struct image_pixels *out, struct nst_diag *diag) {
	if (setjmp(png_jmpbuf(png)) == 0) return png_run(png, info, job, long_side, out, diag);
	if (job->budget->refused) return image_over_budget(job->name, "PNG", 0, job->budget, diag);
	if (job->ended) return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated PNG: the file ends early", job->name);
	return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: corrupt PNG: %s", job->name, job->message);
}

enum nst_status png_decode(const char *name, const uint8_t *bytes, size_t size, int long_side,
                           struct image_budget *budget, struct image_pixels *out, struct nst_diag *diag) {
	struct png_job job = {.name = name, .bytes = bytes, .size = size, .budget = budget};
	png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning, budget,
	                                           png_budget_malloc, png_budget_free);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info) {
		png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
		return image_over_budget(name, "PNG", 0, budget, diag);
	}
	const enum nst_status status = png_guarded(png, info, &job, long_side, out, diag);
	png_job_free(&job);
	png_destroy_read_struct(&png, &info, NULL);
	return status;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* Writing: the picture's rows handed to libpng one at a time, its output to write as it comes, so
 * that no compressed or filtered copy of the picture is held (stb_image_write builds both whole:
 * about two thirds of the picture's own bytes again, at the peak of a run). */
struct png_sink {
	image_write_func *write;
	void *context;
};

static void png_write_to_sink(png_structp png, png_bytep data, size_t n) {
	const struct png_sink *sink = png_get_io_ptr(png);
	/* the sink takes an int: libpng's blocks are its zlib buffer (8 KiB), far below */
	sink->write(sink->context, data, (int)n);
}

static void png_flush_nothing(png_structp png) { (void)png; }

static void png_write_error(png_structp png, png_const_charp message) {
	(void)message;
	png_longjmp(png, 1);
}

/* An encoding whose setjmp frame holds nothing that changes after it. */
static int png_encode_rows(png_structp png, png_infop info, const struct nst_image *image) {
	if (setjmp(png_jmpbuf(png)))
		return 0;
	png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, 8, PNG_COLOR_TYPE_RGB,
	             PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < image->height; y++)
		png_write_row(png, image->rgb + (size_t)y * (size_t)image->width * PNG_RGB);
	png_write_end(png, info);
	return 1;
}

int png_encode(const struct nst_image *image, image_write_func *write, void *context) {
	struct png_sink sink = {write, context};
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_write_error, png_on_warning);
	if (!png)
		return 0;
	png_infop info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return 0;
	}
	png_set_write_fn(png, &sink, png_write_to_sink, png_flush_nothing);
	const int ok = png_encode_rows(png, info, image);
	png_destroy_write_struct(&png, &info);
	return ok;
}
