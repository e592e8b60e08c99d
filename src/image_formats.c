/*
 * What the project parses itself, without a library: the size in a PNG, JPEG or GIF header, PNM
 * pixels, the structure of the BMP, TGA, GIF and PSD files stb_image decodes (so that a truncated
 * file or a header promising more than the file holds is refused before stb_image allocates the
 * promised size and fills the missing part with zeros), and a JPEG's EXIF orientation.
 *
 * Every reader here is bounded by the bytes it is given: no offset read from a file is used
 * before it is checked against the end.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frames.h"
#include "image_decode.h"

static uint32_t be32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | (uint32_t)p[1]; }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | (uint32_t)p[0]; }

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

enum {
	JPEG_MARKER = 0xff,
	JPEG_SOI = 0xd8,
	JPEG_EOI = 0xd9,
	JPEG_SOS = 0xda,
	JPEG_APP0 = 0xe0,
	JPEG_APP1 = 0xe1,
	JPEG_RST0 = 0xd0,
	JPEG_TEM = 0x01,
	JPEG_SOF0 = 0xc0,
	JPEG_SOF15 = 0xcf,
	JPEG_DHT = 0xc4,
	JPEG_JPG = 0xc8,
	JPEG_DAC = 0xcc,
};

bool image_is_png(const uint8_t *bytes, size_t size) { return size >= 8 && memcmp(bytes, png_signature, 8) == 0; }

bool image_is_jpeg(const uint8_t *bytes, size_t size) {
	size_t p = 0;
	if (size < 2 || bytes[p++] != JPEG_MARKER) return false;
	while (p < size && bytes[p] == JPEG_MARKER) p++;
	return p < size && bytes[p] == JPEG_SOI;
}

bool image_is_pnm(const uint8_t *bytes, size_t size) {
	return size >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7';
}

const char *image_format_name(const uint8_t *bytes, size_t size) {
	if (image_is_png(bytes, size)) return "PNG";
	if (size >= 2 && bytes[0] == JPEG_MARKER && bytes[1] == JPEG_SOI) return "JPEG";
	if (size >= 4 && memcmp(bytes, "GIF8", 4) == 0) return "GIF";
	if (size >= 2 && bytes[0] == 'B' && bytes[1] == 'M') return "BMP";
	if (size >= 4 && memcmp(bytes, "8BPS", 4) == 0) return "PSD";
	if (image_is_pnm(bytes, size)) return "PNM";
	return "picture";
}

/* A TGA header (which has no signature) as stb_image's test takes it: colour map type 0 or 1,
 * image type 1..3 or 9..11, a pixel size it reads. */
static bool plausible_tga(const uint8_t *bytes, size_t size) {
	if (size < IMAGE_SNIFF_BYTES || bytes[1] > 1) return false;
	const uint8_t type = bytes[2] & ~8u;
	const uint8_t bits = bytes[16];
	return type >= 1 && type <= 3 && (bits == 8 || bits == 15 || bits == 16 || bits == 24 || bits == 32);
}

/* GIF's 6-byte signature, either version. */
#define GIF_SIGNATURE_BYTES 6
static bool gif_signature(const uint8_t *bytes, size_t size) {
	return size >= GIF_SIGNATURE_BYTES && (memcmp(bytes, "GIF87a", GIF_SIGNATURE_BYTES) == 0 ||
	                                       memcmp(bytes, "GIF89a", GIF_SIGNATURE_BYTES) == 0);
}

/* A JPEG whose first segment is JFIF's APP0 or Exif's APP1 names it right after its length. */
#define JPEG_ID_AT 6 /* SOI (2), marker (2), length (2) */
const char *nst_picture_signature(const uint8_t *bytes, size_t size) {
	if (image_is_png(bytes, size)) return "PNG";
	if (gif_signature(bytes, size)) return "GIF";
	if (size >= JPEG_ID_AT + 5 && bytes[0] == JPEG_MARKER && bytes[1] == JPEG_SOI && bytes[2] == JPEG_MARKER &&
	    ((bytes[3] == JPEG_APP0 && memcmp(bytes + JPEG_ID_AT, "JFIF", 5) == 0) ||
	     (bytes[3] == JPEG_APP1 && memcmp(bytes + JPEG_ID_AT, "Exif", 5) == 0)))
		return "JPEG";
	return NULL;
}

bool image_plausible_start(const uint8_t *bytes, size_t size) {
	return strcmp(image_format_name(bytes, size), "picture") != 0 || image_is_jpeg(bytes, size) ||
	       plausible_tga(bytes, size);
}

/* ---- sizes from headers --------------------------------------------------------------------- */

static bool is_frame_marker(uint32_t marker) {
	return marker >= JPEG_SOF0 && marker <= JPEG_SOF15 && marker != JPEG_DHT && marker != JPEG_JPG &&
	       marker != JPEG_DAC;
}

/* The next marker segment at or after *at, walked as decoders walk it (junk between segments and
 * fill bytes skipped, markers without a length passed over): its marker and length (>= 2), *at at
 * its length field (its data is bytes[*at + 2 .. *at + length)).  false at SOS, EOI or the end.
 * Start at jpeg_after_soi. */
static bool jpeg_next_segment(const uint8_t *bytes, size_t size, size_t *at, uint32_t *marker, size_t *length) {
	size_t p = *at;
	for (;;) {
		while (p < size && bytes[p] != JPEG_MARKER) p++;
		while (p < size && bytes[p] == JPEG_MARKER) p++;
		if (p >= size) return false;
		const uint32_t m = bytes[p++];
		if (m == JPEG_TEM || (m >= JPEG_RST0 && m <= JPEG_SOI)) continue; /* no length */
		if (m == JPEG_EOI || m == JPEG_SOS || p + 2 > size || be16(bytes + p) < 2) return false;
		*marker = m;
		*length = be16(bytes + p);
		*at = p;
		return true;
	}
}

static size_t jpeg_after_soi(const uint8_t *bytes, size_t size) {
	size_t p = 0;
	while (p < size && bytes[p] == JPEG_MARKER) p++;
	return p + 1;
}

bool image_sniff_size(const uint8_t *bytes, size_t size, int64_t *width, int64_t *height) {
	if (size >= 24 && image_is_png(bytes, size)) {
		if (memcmp(bytes + 12, "IHDR", 4) != 0) return false; /* CgBI and other oddities */
		*width = be32(bytes + 16);
		*height = be32(bytes + 20);
		return true;
	}
	if (size >= 10 && gif_signature(bytes, size)) { /* the logical screen's size follows */
		*width = le16(bytes + 6);
		*height = le16(bytes + 8);
		return true;
	}
	if (image_is_jpeg(bytes, size)) {
		uint32_t marker;
		size_t length;
		for (size_t p = jpeg_after_soi(bytes, size); jpeg_next_segment(bytes, size, &p, &marker, &length); p += length)
			if (is_frame_marker(marker)) {
				if (p + 7 > size) return false;
				*height = be16(bytes + p + 3);
				*width = be16(bytes + p + 5);
				return true;
			}
	}
	return false;
}

/* ---- EXIF orientation ----------------------------------------------------------------------- */

enum {
	EXIF_ORIENTATION_TAG = 0x0112,
	TIFF_SHORT = 3,
	TIFF_MAGIC = 42,
	TIFF_HEADER_BYTES = 8,
	TIFF_ENTRY_BYTES = 12,
	EXIF_ORIENTATION_MAX = 8,
};

/* Orientation from a TIFF structure tiff [size] (what follows "Exif\0\0"); 1 if not there. */
static int tiff_orientation(const uint8_t *tiff, size_t size) {
	if (size < TIFF_HEADER_BYTES) return 1;
	const bool little = tiff[0] == 'I' && tiff[1] == 'I';
	if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
	uint32_t (*u16)(const uint8_t *) = little ? le16 : be16;
	uint32_t (*u32)(const uint8_t *) = little ? nst_le32 : be32;
	if (u16(tiff + 2) != TIFF_MAGIC) return 1;
	const size_t ifd = u32(tiff + 4);
	if (ifd < TIFF_HEADER_BYTES || ifd > size - 2) return 1;
	const size_t entries = u16(tiff + ifd);
	for (size_t i = 0; i < entries; i++) {
		const size_t e = ifd + 2 + i * TIFF_ENTRY_BYTES; /* at most size + 2 + 65535 * 12: no overflow */
		if (e + TIFF_ENTRY_BYTES > size) return 1;
		if (u16(tiff + e) != EXIF_ORIENTATION_TAG) continue;
		/* one SHORT, held in the first two bytes of the value field */
		const uint32_t value = u16(tiff + e + 2) == TIFF_SHORT && u32(tiff + e + 4) >= 1 ? u16(tiff + e + 8) : 1;
		return value >= 1 && value <= EXIF_ORIENTATION_MAX ? (int)value : 1;
	}
	return 1;
}

int image_exif_orientation(const uint8_t *bytes, size_t size) {
	static const uint8_t exif[6] = {'E', 'x', 'i', 'f', 0, 0};
	uint32_t marker;
	size_t length;
	for (size_t p = jpeg_after_soi(bytes, size); jpeg_next_segment(bytes, size, &p, &marker, &length); p += length) {
		if (marker != JPEG_APP1 || length < 2 + sizeof exif || p + 2 + sizeof exif > size ||
		    memcmp(bytes + p + 2, exif, sizeof exif) != 0)
			continue; /* not Exif: XMP is an APP1 too */
		const size_t tiff = p + 2 + sizeof exif, end = p + length < size ? p + length : size;
		return tiff_orientation(bytes + tiff, end - tiff);
	}
	return 1;
}

/* ---- PNM ---------------------------------------------------------------------------------------
 * stb_image 2.27 reads a binary PNM's pixels without checking that the file holds them, and
 * converts a 16-bit one to RGB by reading past its buffer; the format is simple enough to read
 * here instead: P5 (grey) and P6 (RGB), maxval 1..65535 (two bytes per sample, big-endian, above
 * 255), samples scaled to 0..255. */

enum { PNM_MAX_MAXVAL = 65535, PNM_MAX_BYTE_VALUE = 255 };

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

enum nst_status pnm_parse(const char *name, const uint8_t *bytes, size_t size, struct pnm_header *h,
                          struct nst_diag *diag) {
	if (bytes[1] != '5' && bytes[1] != '6')
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE,
		                "%s: PNM type P%c is not supported (binary P5 grey and P6 RGB are)", name, bytes[1]);
	size_t p = 2;
	int64_t maxval;
	/* A side over the limit still parses (up to INT32_MAX), so that the size check can say so. */
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

/* After the size check: the pixels must all be in the file.  Rows are converted one at a time
 * into the reducer, so a reduced picture never exists at full size. */
enum nst_status pnm_decode(const char *name, const uint8_t *bytes, size_t size, const struct pnm_header *h,
                           int long_side, struct image_budget *budget, struct image_pixels *out,
                           struct nst_diag *diag) {
	const int width = (int)h->width, height = (int)h->height;
	const size_t sample_bytes = h->maxval > PNM_MAX_BYTE_VALUE ? 2 : 1;
	const size_t row_samples = (size_t)width * (size_t)h->channels;
	if (size - h->offset < row_samples * (size_t)height * sample_bytes)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE,
		                "%s: truncated PNM: %dx%d pixels need %zu bytes, the file has %zu after its header", name,
		                width, height, row_samples * (size_t)height * sample_bytes, size - h->offset);
	int first, last, factor = 0;
	image_reduction_range(width, height, long_side, &first, &last);
	const size_t row_bytes = (size_t)width * 3;
	for (int f = first; f <= last && !factor; f++)
		if (image_reducer_bytes(width, height, f) + row_bytes <= image_budget_left(budget)) factor = f;
	if (!factor)
		return image_over_budget(name, "PNM", image_reducer_bytes(width, height, last) + row_bytes, budget, diag);
	struct image_reducer reducer;
	enum nst_status status = image_reducer_init(&reducer, width, height, factor, budget, name, diag);
	if (status != NST_OK) return status;
	uint8_t *row = image_budget_malloc(budget, row_bytes, false); // [width][3]
	if (!row) {
		image_reducer_free(&reducer, budget);
		return image_over_budget(name, "PNM", 0, budget, diag);
	}
	const uint8_t *src = bytes + h->offset; // [height][width][channels] samples of sample_bytes
	for (int y = 0; y < height; y++, src += row_samples * sample_bytes) {
		for (size_t x = 0; x < (size_t)width; x++)
			for (size_t c = 0; c < 3; c++) {
				const size_t k = x * (size_t)h->channels + (h->channels == 1 ? 0 : c);
				uint32_t v = sample_bytes == 2 ? be16(src + 2 * k) : src[k];
				if (v > h->maxval) v = h->maxval; /* out of range in a corrupt file: clamp */
				row[3 * x + c] = (uint8_t)((v * PNM_MAX_BYTE_VALUE + h->maxval / 2) / h->maxval);
			}
		image_reducer_row(&reducer, row);
	}
	image_budget_free(budget, row);
	*out = image_reducer_finish(&reducer, budget);
	return NST_OK;
}

/* ---- the structure of stb_image's formats ---------------------------------------------------- */

/* NST_ERR_NOT_AN_IMAGE: "<name>: truncated <format>: <what>". */
__attribute__((format(printf, 4, 5))) static enum nst_status truncated(struct nst_diag *diag, const char *name,
                                                                       const char *format, const char *what, ...) {
	char text[256];
	va_list ap;
	va_start(ap, what);
	vsnprintf(text, sizeof text, what, ap);
	va_end(ap);
	return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated %s: %s", name, format, text);
}

/* BMP: the pixel rows, from the offset the header gives (stb_image 2.27 reads no RLE BMP). */
enum { BMP_FILE_HEADER = 14, BMP_CORE_HEADER = 12, BMP_BITS_ALIGN = 32, BMP_RGB = 0, BMP_BITFIELDS = 3 };

static enum nst_status bmp_check(const char *name, const uint8_t *bytes, size_t size, int width, int height,
                                 size_t *need, struct nst_diag *diag) {
	*need = (size_t)width * (size_t)height * 3;
	if (size < BMP_FILE_HEADER + 4) return NST_OK;
	const uint32_t offset = nst_le32(bytes + 10), header = nst_le32(bytes + 14);
	const size_t bpp_at = BMP_FILE_HEADER + (header == BMP_CORE_HEADER ? 10 : 14);
	if (size < bpp_at + 6) return NST_OK;
	const uint32_t bpp = le16(bytes + bpp_at);
	const uint32_t compression = header == BMP_CORE_HEADER ? BMP_RGB : nst_le32(bytes + bpp_at + 2);
	if (bpp == 0 || bpp > BMP_BITS_ALIGN || (compression != BMP_RGB && compression != BMP_BITFIELDS)) return NST_OK;
	const uint64_t bits = (uint64_t)width * bpp;
	const uint64_t stride = (bits + BMP_BITS_ALIGN - 1) / BMP_BITS_ALIGN * 4;
	const uint64_t want = (uint64_t)offset + stride * (uint64_t)(height - 1) + (bits + 7) / 8; /* last row unpadded */
	if ((uint64_t)size < want) {
		return truncated(diag, name, "BMP", "%dx%d pixels at %u bits need %llu bytes, the file has %zu", width,
		                 height, bpp, (unsigned long long)want, size);
	}
	return NST_OK;
}

/* Run-length packets as stb_image 2.27 reads TGA's and PSD's (PackBits): a header byte, then one
 * value repeated (a run) or `count` values (a literal), each value `unit` bytes. */
struct rle_packet {
	uint64_t count; /* values; 0: a no-op packet */
	bool run;
};

enum rle_end {
	RLE_COVERED,    /* the packets cover `total` values */
	RLE_FILE_ENDS,  /* the file ends before a packet's header */
	RLE_PACKET_CUT, /* the file ends inside a packet */
	RLE_OVERRUN,    /* a packet holds more than the values left (with clamp false) */
};

/* Walks packets from bytes[*p] until `total` values are covered; *done: the values of the whole
 * packets read.  A packet longer than what is left is cut to it (clamp) or ends the walk. */
static enum rle_end rle_walk(const uint8_t *bytes, size_t size, uint64_t *p, uint64_t total, uint64_t unit,
                             void (*packet)(uint8_t header, struct rle_packet *), bool clamp, uint64_t *done) {
	*done = 0;
	while (*done < total) {
		if (*p >= size) return RLE_FILE_ENDS;
		struct rle_packet k;
		packet(bytes[(*p)++], &k);
		if (k.count > total - *done) {
			if (!clamp) return RLE_OVERRUN;
			k.count = total - *done;
		}
		*p += k.run ? (k.count ? unit : 0) : k.count * unit;
		if (*p > size) return RLE_PACKET_CUT;
		*done += k.count;
	}
	return RLE_COVERED;
}

/* TGA: as stb_image 2.27 reads it: after the header and the ID, a colour-mapped file's palette
 * (from its first entry's offset), then the pixels, raw or in run-length packets. */
enum { TGA_HEADER_BYTES = 18, TGA_RLE = 8, TGA_PACKET_RUN = 0x80, TGA_PACKET_COUNT = 0x7f, BITS_PER_BYTE = 8 };

static void tga_packet(uint8_t header, struct rle_packet *k) {
	k->count = (uint64_t)(header & TGA_PACKET_COUNT) + 1;
	k->run = (header & TGA_PACKET_RUN) != 0;
}

static enum nst_status tga_check(const char *name, const uint8_t *bytes, size_t size, int width, int height,
                                 size_t *need, struct nst_diag *diag) {
	*need = (size_t)width * (size_t)height * (4 + 3); /* stb's pixels (up to 4 bytes), then RGB */
	if (size < TGA_HEADER_BYTES) return NST_OK;
	const bool indexed = bytes[1] != 0, rle = (bytes[2] & TGA_RLE) != 0;
	const uint64_t entry_bytes = ((uint64_t)bytes[7] + BITS_PER_BYTE - 1) / BITS_PER_BYTE;
	const uint64_t map_bytes = indexed ? le16(bytes + 3) + (uint64_t)le16(bytes + 5) * entry_bytes : 0;
	const uint64_t pixel_bytes = ((uint64_t)bytes[16] + BITS_PER_BYTE - 1) / BITS_PER_BYTE;
	const uint64_t pixels = (uint64_t)width * (uint64_t)height;
	uint64_t p = TGA_HEADER_BYTES + (uint64_t)bytes[0] + map_bytes;
	if (!rle) {
		if ((uint64_t)size < p + pixels * pixel_bytes) {
			return truncated(diag, name, "TGA", "%dx%d pixels need %llu bytes, the file has %zu", width, height,
			                 (unsigned long long)(p + pixels * pixel_bytes), size);
		}
		return NST_OK;
	}
	uint64_t done;
	if (rle_walk(bytes, size, &p, pixels, pixel_bytes, tga_packet, true, &done) != RLE_COVERED)
		return truncated(diag, name, "TGA", "its run-length packets hold %llu of %dx%d pixels",
		                 (unsigned long long)done, width, height);
	return NST_OK;
}

/* GIF: the blocks up to the first image, and that image's LZW codes, counted as stb_image 2.27
 * decodes them (a clear code first; a code up to the next free entry; the code size grows while
 * the table is under 4096 entries): the pixels they give must cover the frame.  stb_image takes a
 * stream that ends early as complete and paints the rest with the background. */
enum {
	GIF_HEADER_BYTES = 13,
	GIF_COLOR_TABLE = 0x80,
	GIF_TABLE_BITS = 7,
	GIF_EXTENSION = 0x21,
	GIF_IMAGE = 0x2c,
	GIF_DESCRIPTOR_BYTES = 9,
	GIF_MAX_CODE_BITS = 12,
	GIF_MAX_CODES = 8192,     /* stb_image's table */
	GIF_CODE_SIZE_LIMIT = 0x0fff,
};

struct gif_bits {
	const uint8_t *bytes;
	size_t size, p;   /* next byte */
	size_t block;     /* bytes left in the current sub-block */
	uint32_t bits;
	int valid;        /* bits held */
	bool end;         /* a zero-length sub-block, or the end of the file */
};

static bool gif_next_code(struct gif_bits *g, int code_size, uint32_t *code) {
	while (g->valid < code_size) {
		if (g->block == 0) {
			if (g->p >= g->size || g->bytes[g->p] == 0) {
				g->end = true;
				return false;
			}
			g->block = g->bytes[g->p++];
		}
		if (g->p >= g->size) {
			g->end = true;
			return false;
		}
		g->bits |= (uint32_t)g->bytes[g->p++] << g->valid;
		g->valid += BITS_PER_BYTE;
		g->block--;
	}
	*code = g->bits & ((1u << code_size) - 1);
	g->bits >>= code_size;
	g->valid -= code_size;
	return true;
}

/* Sub-blocks from bytes[*p]: skips them; false if the file ends first. */
static bool gif_skip_blocks(const uint8_t *bytes, size_t size, size_t *p) {
	for (;;) {
		if (*p >= size) return false;
		const size_t n = bytes[(*p)++];
		if (n == 0) return true;
		*p += n;
	}
}

static enum nst_status gif_check(const char *name, const uint8_t *bytes, size_t size, int width, int height,
                                 size_t *need, struct nst_diag *diag) {
	*need = (size_t)width * (size_t)height * (4 + 4 + 1 + 3); /* stb's picture, background, history; RGB */
	if (size < GIF_HEADER_BYTES) return NST_OK;
	size_t p = GIF_HEADER_BYTES;
	if (bytes[10] & GIF_COLOR_TABLE) p += (size_t)3 << ((bytes[10] & GIF_TABLE_BITS) + 1);
	for (;;) {
		if (p >= size) return truncated(diag, name, "GIF", "no image before the end of the file");
		const uint8_t tag = bytes[p++];
		if (tag == GIF_EXTENSION) {
			p++; /* label */
			if (!gif_skip_blocks(bytes, size, &p))
				return truncated(diag, name, "GIF", "the file ends inside an extension block");
			continue;
		}
		if (tag != GIF_IMAGE) return NST_OK; /* the trailer, or junk: stb_image refuses it */
		break;
	}
	if (p + GIF_DESCRIPTOR_BYTES + 1 > size) return truncated(diag, name, "GIF", "the file ends in the image header");
	const uint32_t frame_width = le16(bytes + p + 4), frame_height = le16(bytes + p + 6);
	const uint64_t frame = (uint64_t)frame_width * frame_height;
	const uint8_t flags = bytes[p + 8];
	p += GIF_DESCRIPTOR_BYTES;
	if (flags & GIF_COLOR_TABLE) p += (size_t)3 << ((flags & GIF_TABLE_BITS) + 1);
	if (p >= size) return truncated(diag, name, "GIF", "the file ends before the image data");
	const int min_size = bytes[p++];
	if (min_size > GIF_MAX_CODE_BITS) return NST_OK; /* stb_image refuses it */
	uint16_t length[GIF_MAX_CODES]; /* pixels each code gives */
	const uint32_t clear = 1u << min_size;
	for (uint32_t i = 0; i < clear; i++) length[i] = 1;
	struct gif_bits g = {bytes, size, p, 0, 0, 0, false};
	int code_size = min_size + 1;
	uint32_t avail = clear + 2, code;
	int64_t old = -1;
	bool first = true;
	uint64_t pixels = 0;
	while (pixels < frame && gif_next_code(&g, code_size, &code)) {
		if (code == clear) {
			code_size = min_size + 1;
			avail = clear + 2;
			old = -1;
			first = false;
			continue;
		}
		if (code == clear + 1 || code > avail || first) break; /* the end code; or stb_image refuses it */
		if (old >= 0) {
			if (avail >= GIF_MAX_CODES) break; /* stb_image refuses it */
			length[avail++] = (uint16_t)(length[old] + 1);
		} else if (code == avail) {
			break; /* stb_image refuses it */
		}
		pixels += length[code];
		if ((avail & ((1u << code_size) - 1)) == 0 && avail <= GIF_CODE_SIZE_LIMIT) code_size++;
		old = code;
	}
	if (pixels < frame)
		return truncated(diag, name, "GIF", "its first image's data gives %llu of %ux%u pixels",
		                 (unsigned long long)pixels, frame_width, frame_height);
	return NST_OK;
}

/* PSD: after the header, three length-prefixed sections and the compression; then each of the
 * first four channels' samples, raw or run-length coded (PackBits, one stream per channel as
 * stb_image 2.27 reads it, after the table of row lengths). */
enum {
	PSD_HEADER_BYTES = 26,
	PSD_MAX_CHANNELS_READ = 4,
	PSD_RLE = 1,
	PSD_NOOP = 128,
	PSD_LITERAL_MAX = 127,
	PSD_RUN_BASE = 257,
};

static void psd_packet(uint8_t header, struct rle_packet *k) {
	k->run = header > PSD_LITERAL_MAX;
	k->count = header == PSD_NOOP ? 0 : k->run ? PSD_RUN_BASE - (uint64_t)header : (uint64_t)header + 1;
}

static enum nst_status psd_check(const char *name, const uint8_t *bytes, size_t size, int width, int height,
                                 size_t *need, struct nst_diag *diag) {
	*need = (size_t)width * (size_t)height * (4 + 3); /* stb's RGBA, then RGB */
	if (size < PSD_HEADER_BYTES) return NST_OK;
	const uint32_t channels = be16(bytes + 12), depth = be16(bytes + 22);
	uint64_t p = PSD_HEADER_BYTES;
	for (int section = 0; section < 3; section++) {
		if (p + 4 > size) return truncated(diag, name, "PSD", "the file ends in its header sections");
		p += 4 + (uint64_t)be32(bytes + p);
	}
	if (p + 2 > size) return truncated(diag, name, "PSD", "the file ends before the image data");
	const uint32_t compression = be16(bytes + p);
	p += 2;
	const uint64_t pixels = (uint64_t)width * (uint64_t)height;
	const uint32_t read = channels < PSD_MAX_CHANNELS_READ ? channels : PSD_MAX_CHANNELS_READ;
	if (compression != PSD_RLE) {
		const uint64_t want = p + pixels * read * (depth / BITS_PER_BYTE);
		if (want > size) {
			return truncated(diag, name, "PSD", "%dx%d pixels need %llu bytes, the file has %zu", width, height,
			                 (unsigned long long)want, size);
		}
		return NST_OK;
	}
	p += (uint64_t)height * channels * 2; /* the row lengths */
	for (uint32_t c = 0; c < read; c++) {
		uint64_t done;
		switch (rle_walk(bytes, size, &p, pixels, 1, psd_packet, false, &done)) {
		case RLE_COVERED: break;
		case RLE_FILE_ENDS:
			return truncated(diag, name, "PSD", "channel %u holds %llu of %dx%d samples", c, (unsigned long long)done,
			                 width, height);
		case RLE_PACKET_CUT: return truncated(diag, name, "PSD", "channel %u ends inside a run", c);
		case RLE_OVERRUN: return NST_OK; /* stb_image refuses it */
		}
	}
	return NST_OK;
}

enum nst_status stb_check_structure(const char *name, enum stb_format format, const uint8_t *bytes, size_t size,
                                    int width, int height, size_t *need, struct nst_diag *diag) {
	switch (format) {
	case STB_BMP: return bmp_check(name, bytes, size, width, height, need, diag);
	case STB_TGA: return tga_check(name, bytes, size, width, height, need, diag);
	case STB_GIF: return gif_check(name, bytes, size, width, height, need, diag);
	case STB_PSD: return psd_check(name, bytes, size, width, height, need, diag);
	case STB_NONE: break;
	}
	*need = 0;
	return NST_OK;
}
