/*
 * Pictures in and out: decoding (stb_image), resampling (stb_image_resize), encoding
 * (stb_image_write) and the size rule of CONVENTIONS.md ('Images').
 *
 * Every picture crosses the API as 8-bit RGB, row-major: rgb [H][W][3], malloc'ed.
 *
 * The stb headers come from Debian's libstb-dev.  They are compiled here only, with static
 * linkage (so they never clash with another copy of stb in the application), without SIMD (so
 * that x86 and ARM decode a JPEG to the same bytes), and without their stdio layer: every byte
 * goes through memory buffers and write callbacks that this file checks.
 *
 * The header of a picture is checked before anything the size of its pixels is allocated, and
 * for PNG, JPEG and GIF the size is read here, before stb_image sees the file, so that an absurd
 * size is refused with our message rather than stb's ("too large").
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "internal.h"

/* ---- third-party: stb ------------------------------------------------------------------- */

#define STBI_MAX_DIMENSIONS NST_MAX_IMAGE_SIDE
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_SIMD
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_GIF
#define STBI_ONLY_PSD
#define STBI_ONLY_PNM
/* Zeroed: stb_image 2.27 reads some of its buffers before writing them when a file is corrupt (a
 * progressive JPEG's scan naming a Huffman table that no segment defined, a truncated TGA's
 * pixels); zeroed, a corrupt file decodes to the same wrong pixels every time, never to
 * whatever the heap held. */
#define STBI_MALLOC(bytes) calloc(1, (bytes))
#define STBI_REALLOC(pointer, bytes) realloc((pointer), (bytes))
#define STBI_FREE(pointer) free(pointer)
#define STB_IMAGE_IMPLEMENTATION

#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION

#define STB_IMAGE_RESIZE_STATIC
#define STB_IMAGE_RESIZE_IMPLEMENTATION

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

/* ---- limits ----------------------------------------------------------------------------- */

/* Largest file read as a picture: an uncompressed picture at the pixel limit (4 bytes a pixel,
 * 1 GiB) and 1 MiB of headers.  stb_image takes an int length, which this stays well under. */
#define NST_IMAGE_MAX_FILE_BYTES ((size_t)(4 * NST_MAX_IMAGE_PIXELS) + ((size_t)1 << 20))
/* How much of a file nst_image_info reads first; the whole file only if the header is not in it. */
#define NST_IMAGE_INFO_PREFIX_BYTES ((size_t)1 << 20)
#define NST_JPEG_DEFAULT_QUALITY 92

static const char stdin_name[] = "standard input";

/* ---- small helpers ---------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | (uint32_t)p[1]; }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | (uint32_t)p[0]; }

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* What the first bytes say the file is, for messages. */
static const char *format_name(const uint8_t *bytes, size_t size) {
	if (size >= 8 && memcmp(bytes, png_signature, 8) == 0) return "PNG";
	if (size >= 2 && bytes[0] == 0xff && bytes[1] == 0xd8) return "JPEG";
	if (size >= 4 && memcmp(bytes, "GIF8", 4) == 0) return "GIF";
	if (size >= 2 && bytes[0] == 'B' && bytes[1] == 'M') return "BMP";
	if (size >= 4 && memcmp(bytes, "8BPS", 4) == 0) return "PSD";
	if (size >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7') return "PNM";
	return "picture";
}

/* Width and height from the header of a PNG, JPEG or GIF, read without stb_image (which would
 * refuse a size over STBI_MAX_DIMENSIONS with its own terse message).  Returns false if the
 * bytes are none of these or the header is not (all) there; then stb_image decides. */
static bool sniff_size(const uint8_t *bytes, size_t size, int64_t *width, int64_t *height) {
	if (size >= 24 && memcmp(bytes, png_signature, 8) == 0) {
		if (memcmp(bytes + 12, "IHDR", 4) != 0) return false; /* CgBI and other oddities */
		*width = be32(bytes + 16);
		*height = be32(bytes + 20);
		return true;
	}
	if (size >= 10 && (memcmp(bytes, "GIF87a", 6) == 0 || memcmp(bytes, "GIF89a", 6) == 0)) {
		*width = le16(bytes + 6);
		*height = le16(bytes + 8);
		return true;
	}
	if (size >= 4 && bytes[0] == 0xff && bytes[1] == 0xd8) {
		/* Walk the marker segments to the first start-of-frame. */
		size_t p = 2;
		for (;;) {
			while (p < size && bytes[p] != 0xff) p++; /* stb tolerates junk between segments */
			while (p < size && bytes[p] == 0xff) p++; /* fill bytes */
			if (p >= size) return false;
			uint8_t marker = bytes[p++];
			if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue; /* no length */
			if (marker == 0xd9 || marker == 0xda) return false; /* EOI / SOS before any frame */
			if (p + 2 > size) return false;
			size_t length = be16(bytes + p);
			if (length < 2) return false;
			bool frame = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 &&
			             marker != 0xcc;
			if (frame) {
				if (p + 7 > size) return false;
				*height = be16(bytes + p + 3);
				*width = be16(bytes + p + 5);
				return true;
			}
			p += length;
		}
	}
	return false;
}

/* ---- PNM, read here ------------------------------------------------------------------------
 * stb_image 2.27 reads a binary PNM's pixels without checking that the file holds them, and
 * converts a 16-bit one to RGB by reading past its buffer; the format is simple enough to read
 * here instead: P5 (grey) and P6 (RGB), maxval 1..65535 (two bytes per sample, big-endian, above
 * 255), samples scaled to 0..255. */

enum { PNM_MAX_MAXVAL = 65535, PNM_MAX_BYTE_VALUE = 255 };

struct pnm_header {
	int64_t width, height;
	int channels;   // 1 (P5) or 3 (P6)
	uint32_t maxval; // 1..65535
	size_t offset;  // first byte of the pixels
};

static bool is_pnm(const uint8_t *bytes, size_t size) {
	return size >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7';
}

static bool pnm_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* One decimal header field after whitespace and '#' comments; false if there is none or it
 * exceeds limit. */
static bool pnm_field(const uint8_t *bytes, size_t size, size_t *p, int64_t limit, int64_t *value) {
	for (;;) {
		while (*p < size && pnm_space(bytes[*p])) (*p)++;
		if (*p < size && bytes[*p] == '#') {
			while (*p < size && bytes[*p] != '\n' && bytes[*p] != '\r') (*p)++;
			continue;
		}
		break;
	}
	if (*p >= size || bytes[*p] < '0' || bytes[*p] > '9') return false;
	int64_t v = 0;
	while (*p < size && bytes[*p] >= '0' && bytes[*p] <= '9') {
		v = v * 10 + (bytes[*p] - '0');
		if (v > limit) return false;
		(*p)++;
	}
	*value = v;
	return true;
}

static enum nst_status pnm_parse(const char *name, const uint8_t *bytes, size_t size, struct pnm_header *h,
                                 struct nst_diag *diag) {
	if (bytes[1] != '5' && bytes[1] != '6')
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE,
		                "%s: PNM type P%c is not supported (binary P5 grey and P6 RGB are)", name, bytes[1]);
	size_t p = 2;
	int64_t maxval;
	/* A side over the limit still parses (up to INT32_MAX), so that check_size can say so. */
	if (!pnm_field(bytes, size, &p, INT32_MAX, &h->width) || !pnm_field(bytes, size, &p, INT32_MAX, &h->height) ||
	    !pnm_field(bytes, size, &p, PNM_MAX_MAXVAL, &maxval) || p >= size || !pnm_space(bytes[p]))
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated or corrupt PNM header", name);
	if (maxval == 0)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: PNM maxval 0", name);
	h->channels = bytes[1] == '5' ? 1 : 3;
	h->maxval = (uint32_t)maxval;
	h->offset = p + 1; /* exactly one whitespace byte ends the header */
	return NST_OK;
}

/* After check_size: the pixels must all be in the file. */
static enum nst_status pnm_decode(const char *name, const uint8_t *bytes, size_t size, const struct pnm_header *h,
                                  uint8_t **out, struct nst_diag *diag) {
	const size_t sample_bytes = h->maxval > PNM_MAX_BYTE_VALUE ? 2 : 1;
	const size_t samples = (size_t)h->width * (size_t)h->height * (size_t)h->channels;
	if (size - h->offset < samples * sample_bytes)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE,
		                "%s: truncated PNM: %lldx%lld pixels need %zu bytes, the file has %zu after its header", name,
		                (long long)h->width, (long long)h->height, samples * sample_bytes, size - h->offset);
	uint8_t *rgb = malloc((size_t)h->width * (size_t)h->height * 3); // [h][w][3]
	if (!rgb)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: out of memory decoding %lldx%lld pixels", name,
		                (long long)h->width, (long long)h->height);
	const uint8_t *src = bytes + h->offset; // [h][w][channels] samples of sample_bytes
	const size_t pixels = (size_t)h->width * (size_t)h->height;
	for (size_t i = 0; i < pixels; i++) {
		for (int c = 0; c < 3; c++) {
			const size_t k = i * (size_t)h->channels + (h->channels == 1 ? 0 : (size_t)c);
			uint32_t v = sample_bytes == 2 ? be16(src + 2 * k) : src[k];
			if (v > h->maxval) v = h->maxval; /* out of range in a corrupt file: clamp */
			rgb[3 * i + (size_t)c] = (uint8_t)((v * PNM_MAX_BYTE_VALUE + h->maxval / 2) / h->maxval);
		}
	}
	*out = rgb;
	return NST_OK;
}

/* stb_image 2.27 reads an uncompressed TGA's pixels without checking that the file holds them:
 * refuse the file if it is shorter than its header says (colour-mapped, true-colour and grey
 * types 1..3; the run-length types read byte by byte, and stb stops at the end). */
enum { TGA_HEADER_BYTES = 18, TGA_TYPE_MAX_UNCOMPRESSED = 3, BITS_PER_BYTE = 8 };

static enum nst_status tga_check_length(const char *name, const uint8_t *bytes, size_t size, int width, int height,
                                        struct nst_diag *diag) {
	if (size < TGA_HEADER_BYTES || bytes[2] < 1 || bytes[2] > TGA_TYPE_MAX_UNCOMPRESSED) return NST_OK;
	const size_t id_bytes = bytes[0];
	const size_t map_entries = le16(bytes + 5);
	const size_t map_entry_bytes = ((size_t)bytes[7] + BITS_PER_BYTE - 1) / BITS_PER_BYTE;
	const size_t pixel_bytes = ((size_t)bytes[16] + BITS_PER_BYTE - 1) / BITS_PER_BYTE;
	const size_t need = TGA_HEADER_BYTES + id_bytes + (bytes[1] ? map_entries * map_entry_bytes : 0) +
	                    (size_t)width * (size_t)height * pixel_bytes;
	if (size < need)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated TGA: %dx%d pixels need %zu bytes, the file has %zu",
		                name, width, height, need, size);
	return NST_OK;
}

/* ---- JPEG Huffman tables ---------------------------------------------------------------------
 * stb_image 2.27 builds a Huffman table (DHT segment) without checking that its 16 code counts
 * add up to at most 256 symbols, and writes past the table when they do not.  Before stb sees a
 * JPEG, its segments are walked the way stb walks them (a marker is 0xff, fill bytes 0xff, the
 * marker's byte; segments skipped by their length; inside the entropy-coded data every marker but
 * a restart ends the scan) and every DHT's tables are checked the way stb reads them. */

enum {
	JPEG_MARKER = 0xff,
	JPEG_SOI = 0xd8,
	JPEG_EOI = 0xd9,
	JPEG_DHT = 0xc4,
	JPEG_RST0 = 0xd0,
	JPEG_RST7 = 0xd7,
	JPEG_TEM = 0x01,
	JPEG_STUFFED = 0x00,
	JPEG_HUFFMAN_LENGTHS = 16,   // code counts per table, for lengths 1..16
	JPEG_HUFFMAN_MAX_SYMBOLS = 256,
	JPEG_DHT_MAX_CLASS = 1,     // DC, AC
	JPEG_DHT_MAX_ID = 3,
};

static bool is_jpeg(const uint8_t *bytes, size_t size) {
	size_t p = 0;
	if (size < 2 || bytes[p++] != JPEG_MARKER) return false;
	while (p < size && bytes[p] == JPEG_MARKER) p++;
	return p < size && bytes[p] == JPEG_SOI;
}

/* bytes[p] as stb's reader gives it: 0 past the end. */
static uint32_t byte_at(const uint8_t *bytes, size_t size, size_t p) { return p < size ? bytes[p] : 0; }

static enum nst_status jpeg_check_tables(const char *name, const uint8_t *bytes, size_t size,
                                         struct nst_diag *diag) {
	size_t p = 0;
	while (p < size && bytes[p] == JPEG_MARKER) p++;
	p++; /* SOI */
	while (p < size) {
		if (bytes[p++] != JPEG_MARKER) continue; /* padding, or entropy-coded data */
		while (p < size && bytes[p] == JPEG_MARKER) p++;
		if (p >= size) break;
		const uint32_t marker = bytes[p++];
		if (marker == JPEG_EOI) break;
		if (marker == JPEG_STUFFED || marker == JPEG_TEM || (marker >= JPEG_RST0 && marker <= JPEG_RST7) ||
		    marker == JPEG_SOI)
			continue; /* no length: a stuffed 0xff in a scan, or a marker alone */
		const size_t length = (size_t)(byte_at(bytes, size, p) << 8 | byte_at(bytes, size, p + 1));
		if (marker == JPEG_DHT) {
			size_t q = p + 2;
			long left = (long)length - 2;
			while (left > 0) {
				const uint32_t class_id = byte_at(bytes, size, q++);
				if (class_id >> 4 > JPEG_DHT_MAX_CLASS || (class_id & 15) > JPEG_DHT_MAX_ID)
					break; /* stb refuses the file itself */
				uint32_t symbols = 0;
				for (int i = 0; i < JPEG_HUFFMAN_LENGTHS; i++) symbols += byte_at(bytes, size, q++);
				if (symbols > JPEG_HUFFMAN_MAX_SYMBOLS)
					return nst_fail(diag, NST_ERR_NOT_AN_IMAGE,
					                "%s: corrupt JPEG: a Huffman table of %u codes (at most %d)", name, symbols,
					                JPEG_HUFFMAN_MAX_SYMBOLS);
				q += symbols;
				left -= (long)(1 + JPEG_HUFFMAN_LENGTHS + symbols);
			}
		}
		p += length; /* a scan's header: its data follows, walked byte by byte */
	}
	return NST_OK;
}

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
 * its size; nothing of the size of the pixels is allocated. */
static enum nst_status check_header(const char *name, const uint8_t *bytes, size_t size, int *width,
                                    int *height, struct nst_diag *diag) {
	if (size == 0) return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: empty file", name);
	if (size > (size_t)INT_MAX)
		return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: %zu bytes is over the limit of %d bytes for a picture",
		                name, size, INT_MAX);
	if (is_pnm(bytes, size)) {
		struct pnm_header pnm;
		enum nst_status status = pnm_parse(name, bytes, size, &pnm, diag);
		if (status != NST_OK) return status;
		status = check_size(name, pnm.width, pnm.height, diag);
		if (status != NST_OK) return status;
		*width = (int)pnm.width;
		*height = (int)pnm.height;
		return NST_OK;
	}
	if (is_jpeg(bytes, size)) {
		enum nst_status status = jpeg_check_tables(name, bytes, size, diag);
		if (status != NST_OK) return status;
	}
	int64_t w64, h64;
	if (sniff_size(bytes, size, &w64, &h64)) {
		enum nst_status status = check_size(name, w64, h64, diag);
		if (status != NST_OK) return status;
	}
	int w = 0, h = 0, components = 0;
	if (!stbi_info_from_memory(bytes, (int)size, &w, &h, &components)) {
		/* stb_image tries every format in turn, so its reason is always "unknown image type";
		 * the first bytes say more. */
		const char *format = format_name(bytes, size);
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

/* Reads from fd until EOF or until max_bytes have been read; *truncated tells whether there was
 * more.  size_hint (the file's size, or 0) sizes the first buffer.  The buffer is malloc'ed. */
static enum nst_status read_fd(int fd, const char *name, size_t max_bytes, size_t size_hint, uint8_t **out,
                               size_t *out_size, bool *truncated, struct nst_diag *diag) {
	size_t capacity = size_hint > 0 ? size_hint + 1 : (size_t)64 << 10;
	if (capacity > max_bytes + 1) capacity = max_bytes + 1;
	uint8_t *buffer = malloc(capacity);
	if (!buffer)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes to read it", name, capacity);
	size_t used = 0;
	for (;;) {
		if (used == capacity) {
			if (capacity > max_bytes) break; /* read max_bytes + 1: there is more */
			size_t grown = capacity * 2 > max_bytes + 1 ? max_bytes + 1 : capacity * 2;
			uint8_t *bigger = realloc(buffer, grown);
			if (!bigger) {
				free(buffer);
				return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes to read it", name,
				                grown);
			}
			buffer = bigger;
			capacity = grown;
		}
		ssize_t got = read(fd, buffer + used, capacity - used);
		if (got < 0) {
			if (errno == EINTR) continue;
			int error = errno;
			free(buffer);
			return nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", name, strerror(error));
		}
		if (got == 0) break;
		used += (size_t)got;
	}
	*truncated = used > max_bytes;
	if (*truncated) used = max_bytes;
	*out = buffer;
	*out_size = used;
	return NST_OK;
}

/* Opens path for reading, refusing directories and other things that are not files. */
static enum nst_status open_picture(const char *path, int *fd_out, struct stat *st, struct nst_diag *diag) {
	int fd;
	do {
		fd = open(path, O_RDONLY | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0) return nst_fail(diag, NST_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, st) != 0) {
		int error = errno;
		close(fd);
		return nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", path, strerror(error));
	}
	if (S_ISDIR(st->st_mode)) {
		close(fd);
		return nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", path, strerror(EISDIR));
	}
	*fd_out = fd;
	return NST_OK;
}

static enum nst_status too_big_file(const char *name, unsigned long long bytes, struct nst_diag *diag) {
	return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: %llu bytes is over the limit of %zu bytes for a picture file",
	                name, bytes, NST_IMAGE_MAX_FILE_BYTES);
}

/* ---- decoding --------------------------------------------------------------------------- */

static enum nst_status decode_named(const char *name, const uint8_t *bytes, size_t size, struct nst_image *out,
                                    struct nst_diag *diag) {
	int width, height;
	enum nst_status status = check_header(name, bytes, size, &width, &height, diag);
	if (status != NST_OK) return status;

	if (is_pnm(bytes, size)) {
		struct pnm_header pnm;
		status = pnm_parse(name, bytes, size, &pnm, diag);
		uint8_t *rgb = NULL;
		if (status == NST_OK) status = pnm_decode(name, bytes, size, &pnm, &rgb, diag);
		if (status != NST_OK) return status;
		*out = (struct nst_image){.width = width, .height = height, .rgb = rgb};
		return NST_OK;
	}
	status = tga_check_length(name, bytes, size, width, height, diag);
	if (status != NST_OK) return status;
	int w = 0, h = 0, components = 0;
	uint8_t *rgb = stbi_load_from_memory(bytes, (int)size, &w, &h, &components, 3); // [h][w][3]
	if (!rgb) {
		const char *reason = stbi_failure_reason();
		if (!reason || !*reason) reason = "no reason given";
		if (strcmp(reason, "outofmem") == 0)
			return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: out of memory decoding %dx%d pixels", name, width,
			                height);
		if (strcmp(reason, "too large") == 0)
			return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: %dx%d pixels is too large to decode (stb: %s)",
			                name, width, height, reason);
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated or corrupt %s (stb: %s)", name,
		                format_name(bytes, size), reason);
	}
	if (w != width || h != height) { /* cannot happen: info and load parse the same header */
		free(rgb);
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: the header says %dx%d pixels but %dx%d were decoded",
		                name, width, height, w, h);
	}
	out->width = w;
	out->height = h;
	out->rgb = rgb;
	return NST_OK;
}

enum nst_status nst_image_decode(const uint8_t *bytes, size_t size, struct nst_image *out, struct nst_diag *diag) {
	if (!out) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_decode: no output image");
	*out = (struct nst_image){0};
	if (!bytes && size > 0) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_decode: no bytes");
	return decode_named("picture in memory", bytes, size, out, diag);
}

enum nst_status nst_image_load(const char *path, struct nst_image *out, struct nst_diag *diag) {
	if (!out) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_load: no output image");
	*out = (struct nst_image){0};
	if (!path || !*path) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_load: no path");

	uint8_t *bytes = NULL;
	size_t size = 0;
	bool truncated = false;
	enum nst_status status;
	const char *name = path;
	if (strcmp(path, "-") == 0) {
		name = stdin_name;
		status = read_fd(STDIN_FILENO, name, NST_IMAGE_MAX_FILE_BYTES, 0, &bytes, &size, &truncated, diag);
		if (status != NST_OK) return status;
		if (truncated) {
			free(bytes);
			return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: over the limit of %zu bytes for a picture file",
			                name, NST_IMAGE_MAX_FILE_BYTES);
		}
	} else {
		int fd;
		struct stat st;
		status = open_picture(path, &fd, &st, diag);
		if (status != NST_OK) return status;
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > NST_IMAGE_MAX_FILE_BYTES) {
			close(fd);
			return too_big_file(path, (unsigned long long)st.st_size, diag);
		}
		size_t hint = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
		status = read_fd(fd, path, NST_IMAGE_MAX_FILE_BYTES, hint, &bytes, &size, &truncated, diag);
		close(fd);
		if (status != NST_OK) return status;
		if (truncated) { /* it grew while we read it, or it is not a regular file */
			free(bytes);
			return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: over the limit of %zu bytes for a picture file",
			                name, NST_IMAGE_MAX_FILE_BYTES);
		}
	}
	status = decode_named(name, bytes, size, out, diag);
	free(bytes);
	return status;
}

enum nst_status nst_image_info(const char *path, int *width, int *height, struct nst_diag *diag) {
	if (!path || !*path) return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_image_info: no path");
	if (strcmp(path, "-") == 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "nst_image_info: standard input cannot be read twice; use nst_image_load(\"-\")");
	int fd;
	struct stat st;
	enum nst_status status = open_picture(path, &fd, &st, diag);
	if (status != NST_OK) return status;

	/* The header is at the start of the file: read a prefix, and the whole file only if stb_image
	 * cannot find the header in the prefix (a JPEG whose frame header follows megabytes of EXIF). */
	uint8_t *bytes = NULL;
	size_t size = 0;
	bool truncated = false;
	status = read_fd(fd, path, NST_IMAGE_INFO_PREFIX_BYTES, 0, &bytes, &size, &truncated, diag);
	if (status != NST_OK) {
		close(fd);
		return status;
	}
	int w = 0, h = 0;
	struct nst_diag prefix_diag;
	status = check_header(path, bytes, size, &w, &h, &prefix_diag);
	if (status == NST_ERR_NOT_AN_IMAGE && truncated && strcmp(format_name(bytes, size), "picture") != 0) {
		free(bytes);
		bytes = NULL;
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > NST_IMAGE_MAX_FILE_BYTES) {
			close(fd);
			return too_big_file(path, (unsigned long long)st.st_size, diag);
		}
		if (lseek(fd, 0, SEEK_SET) != 0) {
			int error = errno;
			close(fd);
			return nst_fail(diag, NST_ERR_IO, "cannot read %s: %s", path, strerror(error));
		}
		size_t hint = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
		status = read_fd(fd, path, NST_IMAGE_MAX_FILE_BYTES, hint, &bytes, &size, &truncated, diag);
		if (status != NST_OK) {
			close(fd);
			return status;
		}
		if (truncated) {
			free(bytes);
			close(fd);
			return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: over the limit of %zu bytes for a picture file",
			                path, NST_IMAGE_MAX_FILE_BYTES);
		}
		status = check_header(path, bytes, size, &w, &h, &prefix_diag);
	}
	close(fd);
	free(bytes);
	if (status != NST_OK) {
		if (diag) *diag = prefix_diag;
		return status;
	}
	if (width) *width = w;
	if (height) *height = h;
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

enum nst_status nst_image_resize(const struct nst_image *src, int width, int height, struct nst_image *out) {
	if (!out || !image_valid(src) || width <= 0 || height <= 0) return NST_ERR_INVALID_ARGUMENT;
	if (width > NST_MAX_IMAGE_SIDE || height > NST_MAX_IMAGE_SIDE ||
	    (int64_t)width * height > NST_MAX_IMAGE_PIXELS)
		return NST_ERR_IMAGE_TOO_LARGE;
	size_t bytes = (size_t)width * (size_t)height * 3;
	uint8_t *rgb = malloc(bytes); // [height][width][3]
	if (!rgb) return NST_ERR_OUT_OF_MEMORY;
	if (width == src->width && height == src->height) {
		memcpy(rgb, src->rgb, bytes);
	} else if (!stbir_resize_uint8_generic(src->rgb, src->width, src->height, src->width * 3, rgb, width, height,
	                                       width * 3, 3, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
	                                       STBIR_FILTER_DEFAULT, STBIR_COLORSPACE_LINEAR, NULL)) {
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
	if (!stbir_resize_float_generic(src, src_width, src_height, src_width * 3 * (int)sizeof(float), dst, width, height,
	                                (int)row, 3, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_DEFAULT,
	                                STBIR_COLORSPACE_LINEAR, NULL))
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

enum picture_format { FORMAT_PNG, FORMAT_JPEG, FORMAT_BMP, FORMAT_TGA };

/* Where stb_image_write's output goes; the first failing write is remembered. */
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

/* Encodes image into sink: 0 if stb_image_write failed (it only does when out of memory). */
static int encode(enum picture_format format, const struct nst_image *image, int quality, struct write_sink *sink) {
	switch (format) {
	case FORMAT_PNG:
		return stbi_write_png_to_func(sink_write, sink, image->width, image->height, 3, image->rgb,
		                              image->width * 3);
	case FORMAT_JPEG:
		return stbi_write_jpg_to_func(sink_write, sink, image->width, image->height, 3, image->rgb, quality);
	case FORMAT_BMP:
		return stbi_write_bmp_to_func(sink_write, sink, image->width, image->height, 3, image->rgb);
	case FORMAT_TGA:
		return stbi_write_tga_to_func(sink_write, sink, image->width, image->height, 3, image->rgb);
	}
	return 0;
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

/* stb_image 2.27 declares stbi_set_unpremultiply_on_load_thread and, with STBI_WRITE_NO_STDIO,
 * stb_image_write declares stbi_write_hdr_to_func without defining them.  With static linkage GCC
 * reports "declared 'static' but never defined" at the end of the file, where the state of the
 * diagnostic pragmas around the #includes no longer applies; this silences only that report
 * (unused functions that are defined are judged where they are defined). */
#pragma GCC diagnostic ignored "-Wunused-function"
