/*
 * Pictures in and out (src/image.c): every bad input gives its exact status and a message;
 * grey, alpha, 16-bit and palette PNGs (built here, byte by byte) decode to the exact RGB values;
 * PNG, BMP and TGA round trips are exact and JPEG is close; saving is atomic; nst_image_fit
 * follows CONVENTIONS.md (checked against Python's round); the pictures in $NST_SHARED/images
 * load at the sizes SOURCES.md gives and, for the PNGs, to exactly PIL's pixels.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "check.h"
#include "nst.h"
#include "support.h"

static char tmpdir[64];

/* ---- files ------------------------------------------------------------------------------ */

static char *path_in(const char *dir, const char *name) {
	size_t n = strlen(dir) + 1 + strlen(name) + 1;
	char *p = malloc(n);
	if (!p) abort();
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static char *tmp_path(const char *name) { return path_in(tmpdir, name); }

static void write_file(const char *path, const void *bytes, size_t size) {
	CHECK(support_write_file(path, bytes, size) == 0, "cannot write %s: %s", path, strerror(errno));
}

static bool file_exists(const char *path) {
	struct stat st;
	return stat(path, &st) == 0;
}

/* Entries of dir whose name contains needle (NULL: every entry but . and ..). */
static int count_entries(const char *dir, const char *needle) {
	DIR *d = opendir(dir);
	if (!d) return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
		if (!needle || strstr(e->d_name, needle)) n++;
	}
	closedir(d);
	return n;
}

static int count_temporaries(const char *dir) { return count_entries(dir, ".tmp-"); }

/* ---- PNG bytes, built here ---------------------------------------------------------------- */

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n) {
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static uint32_t adler32(const uint8_t *p, size_t n) {
	uint32_t a = 1, b = 0;
	for (size_t i = 0; i < n; i++) {
		a = (a + p[i]) % 65521u;
		b = (b + a) % 65521u;
	}
	return b << 16 | a;
}

struct bytes {
	uint8_t *data;
	size_t size, cap;
};

static void put(struct bytes *b, const void *data, size_t n) {
	if (b->size + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->size + n) cap *= 2;
		uint8_t *bigger = realloc(b->data, cap);
		if (!bigger) abort();
		b->data = bigger;
		b->cap = cap;
	}
	if (n) memcpy(b->data + b->size, data, n);
	b->size += n;
}

static void put8(struct bytes *b, uint32_t v) {
	uint8_t x = (uint8_t)v;
	put(b, &x, 1);
}

static void put_be32(struct bytes *b, uint32_t v) {
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 4);
}

static void put_be16(struct bytes *b, uint32_t v) {
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	put(b, x, 2);
}

static void put_le16(struct bytes *b, uint32_t v) {
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(b, x, 2);
}

static void put_le32(struct bytes *b, uint32_t v) {
	put_le16(b, v & 0xffff);
	put_le16(b, v >> 16);
}

static void png_chunk(struct bytes *b, const char type[4], const uint8_t *data, size_t n) {
	put_be32(b, (uint32_t)n);
	size_t start = b->size;
	put(b, type, 4);
	put(b, data, n);
	put_be32(b, crc32_update(0, b->data + start, n + 4));
}

/* A PNG of width x height at the given bit depth and colour type; rows [height][row_bytes] are the
 * packed samples without filter bytes (filter 0 is added here), compressed as zlib stored blocks.
 * plte [n_plte][3] and trns are written if given.  rows may be NULL for a header-only file. */
static struct bytes png_build(uint32_t width, uint32_t height, int depth, int color_type, const uint8_t *rows,
                              size_t row_bytes, const uint8_t *plte, int n_plte, const uint8_t *trns, int n_trns) {
	static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	struct bytes b = {0};
	put(&b, signature, 8);
	uint8_t ihdr[13] = {(uint8_t)(width >> 24), (uint8_t)(width >> 16), (uint8_t)(width >> 8), (uint8_t)width,
	                    (uint8_t)(height >> 24), (uint8_t)(height >> 16), (uint8_t)(height >> 8), (uint8_t)height,
	                    (uint8_t)depth, (uint8_t)color_type, 0, 0, 0};
	png_chunk(&b, "IHDR", ihdr, 13);
	if (plte) png_chunk(&b, "PLTE", plte, (size_t)n_plte * 3);
	if (trns) png_chunk(&b, "tRNS", trns, (size_t)n_trns);
	struct bytes raw = {0}; /* filtered scanlines [height][1 + row_bytes] */
	if (rows) {
		for (uint32_t y = 0; y < height; y++) {
			put8(&raw, 0);
			put(&raw, rows + (size_t)y * row_bytes, row_bytes);
		}
	} else {
		put8(&raw, 0); /* a token scanline: the header is what these files are about */
	}
	struct bytes z = {0};
	put8(&z, 0x78);
	put8(&z, 0x01);
	size_t off = 0;
	do {
		size_t n = raw.size - off > 65535 ? 65535 : raw.size - off;
		put8(&z, off + n == raw.size ? 1 : 0); /* BFINAL, BTYPE 00 (stored) */
		put_le16(&z, (uint32_t)n);
		put_le16(&z, (uint32_t)(~n & 0xffff));
		put(&z, raw.data + off, n);
		off += n;
	} while (off < raw.size);
	put_be32(&z, adler32(raw.data, raw.size));
	png_chunk(&b, "IDAT", z.data, z.size);
	png_chunk(&b, "IEND", NULL, 0);
	free(raw.data);
	free(z.data);
	return b;
}

/* A JPEG header (SOI, APP0, SOF0) claiming width x height; no scan data. */
static struct bytes jpeg_header(uint32_t width, uint32_t height) {
	struct bytes b = {0};
	static const uint8_t soi_app0[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F',
	                                   0,    1,    1,    0,    0,    1,    0,   1,   0,   0};
	put(&b, soi_app0, sizeof soi_app0);
	uint8_t sof[] = {0xff, 0xc0, 0x00, 0x11, 8, (uint8_t)(height >> 8), (uint8_t)height, (uint8_t)(width >> 8),
	                 (uint8_t)width, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1};
	put(&b, sof, sizeof sof);
	put8(&b, 0xff);
	put8(&b, 0xd9);
	return b;
}

/* A BMP header (24-bit, no pixels) claiming width x height. */
static struct bytes bmp_header(uint32_t width, uint32_t height) {
	struct bytes b = {0};
	put(&b, "BM", 2);
	put_le32(&b, 54);
	put_le32(&b, 0);
	put_le32(&b, 54);
	put_le32(&b, 40);
	put_le32(&b, width);
	put_le32(&b, height);
	put_le16(&b, 1);
	put_le16(&b, 24);
	for (int i = 0; i < 6; i++) put_le32(&b, 0);
	return b;
}

/* ---- checking helpers --------------------------------------------------------------------- */

static void fill_noise(struct nst_image *im, int width, int height, uint32_t seed) {
	im->width = width;
	im->height = height;
	im->rgb = malloc((size_t)width * height * 3);
	if (!im->rgb) abort();
	uint32_t s = seed;
	for (size_t i = 0; i < (size_t)width * height * 3; i++) {
		s = s * 1664525u + 1013904223u;
		im->rgb[i] = (uint8_t)(s >> 24);
	}
}

static void fill_smooth(struct nst_image *im, int width, int height) {
	im->width = width;
	im->height = height;
	im->rgb = malloc((size_t)width * height * 3);
	if (!im->rgb) abort();
	for (int y = 0; y < height; y++)
		for (int x = 0; x < width; x++) {
			uint8_t *p = im->rgb + ((size_t)y * width + x) * 3;
			p[0] = (uint8_t)(40 + 160 * x / width);
			p[1] = (uint8_t)(30 + 180 * y / height);
			p[2] = (uint8_t)(128 + 60 * sin(0.15 * x + 0.1 * y));
		}
}

static double mean_abs_error(const struct nst_image *a, const struct nst_image *b) {
	double sum = 0;
	size_t n = (size_t)a->width * a->height * 3;
	for (size_t i = 0; i < n; i++) sum += fabs((double)a->rgb[i] - (double)b->rgb[i]);
	return sum / (double)n;
}

static bool same_image(const struct nst_image *a, const struct nst_image *b) {
	return a->width == b->width && a->height == b->height && a->rgb && b->rgb &&
	       memcmp(a->rgb, b->rgb, (size_t)a->width * a->height * 3) == 0;
}

/* Runs a call that must fail with status and leave a one-line message. */
#define EXPECT_FAIL(call, want)                                                                    \
	do {                                                                                           \
		struct nst_diag diag_ = {{0}};                                                             \
		struct nst_diag *diag = &diag_;                                                            \
		enum nst_status got_ = (call);                                                             \
		CHECK(got_ == (want), "%s: got %s (%d), want %s: %s", #call, nst_status_string(got_),     \
		      (int)got_, nst_status_string(want), diag_.message);                                 \
		CHECK(diag_.message[0] != '\0', "%s: no message", #call);                                 \
		CHECK(strchr(diag_.message, '\n') == NULL, "%s: message is not one line", #call);         \
		printf("  %-22s -> %s\n", nst_status_string(got_), diag_.message);                        \
		(void)diag;                                                                                \
	} while (0)

/* As EXPECT_FAIL, and the message must contain needle. */
#define EXPECT_FAIL_SAYING(call, want, needle)                                                     \
	do {                                                                                           \
		struct nst_diag diag_ = {{0}};                                                             \
		struct nst_diag *diag = &diag_;                                                            \
		enum nst_status got_ = (call);                                                             \
		CHECK(got_ == (want), "%s: got %s (%d), want %s: %s", #call, nst_status_string(got_),     \
		      (int)got_, nst_status_string(want), diag_.message);                                 \
		CHECK(strstr(diag_.message, (needle)) != NULL, "%s: message '%s' lacks '%s'", #call,      \
		      diag_.message, (needle));                                                            \
		CHECK(strchr(diag_.message, '\n') == NULL, "%s: message is not one line", #call);         \
		printf("  %-22s -> %s\n", nst_status_string(got_), diag_.message);                        \
		(void)diag;                                                                                \
	} while (0)

/* ---- bad input ---------------------------------------------------------------------------- */

static void test_missing_file(void) {
	printf("missing file\n");
	char *p = tmp_path("no-such-picture.png");
	struct nst_image im = {0};
	int w = -1, h = -1;
	EXPECT_FAIL_SAYING(nst_image_load(p, &im, diag), NST_ERR_IO, "No such file or directory");
	EXPECT_FAIL_SAYING(nst_image_load(p, &im, diag), NST_ERR_IO, p);
	CHECK(im.rgb == NULL && im.width == 0 && im.height == 0, "failed load left an image");
	EXPECT_FAIL_SAYING(nst_image_info(p, &w, &h, diag), NST_ERR_IO, "No such file or directory");
	CHECK(w == -1 && h == -1, "failed info wrote a size");
	free(p);
}

static void test_directory(void) {
	printf("directory as a picture\n");
	char *p = tmp_path("a-folder.png");
	CHECK(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
	struct nst_image im = {0};
	int w, h;
	EXPECT_FAIL_SAYING(nst_image_load(p, &im, diag), NST_ERR_IO, "Is a directory");
	EXPECT_FAIL_SAYING(nst_image_info(p, &w, &h, diag), NST_ERR_IO, "Is a directory");
	CHECK(im.rgb == NULL, "failed load left pixels");
	rmdir(p);
	free(p);
}

static void test_empty_file(void) {
	printf("empty file\n");
	char *p = tmp_path("empty.png");
	write_file(p, "", 0);
	struct nst_image im = {0};
	int w, h;
	EXPECT_FAIL_SAYING(nst_image_load(p, &im, diag), NST_ERR_NOT_AN_IMAGE, "empty file");
	EXPECT_FAIL_SAYING(nst_image_info(p, &w, &h, diag), NST_ERR_NOT_AN_IMAGE, "empty file");
	static const uint8_t nothing[1] = {0};
	EXPECT_FAIL_SAYING(nst_image_decode(nothing, 0, &im, diag), NST_ERR_NOT_AN_IMAGE, "empty");
	unlink(p);
	free(p);
}

static void test_text_file(void) {
	printf("text file\n");
	char *p = tmp_path("notes.png");
	const char *text = "This is not a picture, only some words.\nAnd a second line.\n";
	write_file(p, text, strlen(text));
	struct nst_image im = {0};
	int w, h;
	EXPECT_FAIL_SAYING(nst_image_load(p, &im, diag), NST_ERR_NOT_AN_IMAGE, p);
	EXPECT_FAIL(nst_image_info(p, &w, &h, diag), NST_ERR_NOT_AN_IMAGE);
	EXPECT_FAIL(nst_image_decode((const uint8_t *)text, strlen(text), &im, diag), NST_ERR_NOT_AN_IMAGE);
	CHECK(im.rgb == NULL, "failed decode left pixels");
	unlink(p);
	free(p);
}

/* Cuts the picture in bytes to half and to 20 bytes: loading fails with NOT_AN_IMAGE; info of the
 * half still reads the header, info of the 20 bytes does not. */
static void check_truncations(const char *label, const char *format, const uint8_t *bytes, size_t size, int width,
                              int height) {
	printf("truncated %s (%zu bytes)\n", label, size);
	size_t cuts[2] = {size / 2, 20};
	for (int i = 0; i < 2; i++) {
		char name[96];
		snprintf(name, sizeof name, "cut-%zu-%s", cuts[i], label);
		char *p = tmp_path(name);
		write_file(p, bytes, cuts[i]);
		struct nst_image im = {0};
		EXPECT_FAIL_SAYING(nst_image_load(p, &im, diag), NST_ERR_NOT_AN_IMAGE, p);
		CHECK(im.rgb == NULL, "failed load left pixels");
		EXPECT_FAIL_SAYING(nst_image_decode(bytes, cuts[i], &im, diag), NST_ERR_NOT_AN_IMAGE, format);
		int w = 0, h = 0;
		if (i == 0) {
			struct nst_diag d = {{0}};
			enum nst_status s = nst_image_info(p, &w, &h, &d);
			CHECK(s == NST_OK && w == width && h == height, "info of half of %s: %s %dx%d: %s", label,
			      nst_status_string(s), w, h, d.message);
		} else {
			EXPECT_FAIL_SAYING(nst_image_info(p, &w, &h, diag), NST_ERR_NOT_AN_IMAGE, format);
		}
		unlink(p);
		free(p);
	}
}

static void test_truncated(const char *images) {
	/* Our own pictures first (always there), then the real ones. */
	struct nst_image noisy;
	fill_noise(&noisy, 61, 47, 7);
	const char *exts[2] = {"png", "jpg"};
	for (int i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof name, "whole.%s", exts[i]);
		char *p = tmp_path(name);
		struct nst_diag d = {{0}};
		CHECK(nst_image_save(p, &noisy, 90, &d) == NST_OK, "save %s: %s", p, d.message);
		size_t size;
		uint8_t *bytes = support_read_file(p, &size);
		CHECK(bytes && size > 100, "cannot read back %s", p);
		if (bytes && size > 100) check_truncations(name, i == 0 ? "PNG" : "JPEG", bytes, size, 61, 47);
		free(bytes);
		unlink(p);
		free(p);
	}
	nst_image_free(&noisy);

	if (!images) return;
	const char *real[2] = {"astronaut.png", "starry_night.jpg"};
	const int sizes[2][2] = {{512, 512}, {1024, 640}};
	for (int i = 0; i < 2; i++) {
		char *p = path_in(images, real[i]);
		size_t size;
		uint8_t *bytes = support_read_file(p, &size);
		CHECK(bytes != NULL, "cannot read %s", p);
		if (bytes) check_truncations(real[i], i == 0 ? "PNG" : "JPEG", bytes, size, sizes[i][0], sizes[i][1]);
		free(bytes);
		free(p);
	}
}

static void test_too_large(const char *images) {
	printf("absurd sizes\n");
	struct nst_image im = {0};
	int w = -1, h = -1;
	struct bytes png = png_build(100000, 100000, 8, 2, NULL, 0, NULL, 0, NULL, 0);
	EXPECT_FAIL_SAYING(nst_image_decode(png.data, png.size, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "100000x100000");
	char *p = tmp_path("huge.png");
	write_file(p, png.data, png.size);
	EXPECT_FAIL_SAYING(nst_image_load(p, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "100000x100000");
	EXPECT_FAIL_SAYING(nst_image_info(p, &w, &h, diag), NST_ERR_IMAGE_TOO_LARGE, p);
	CHECK(w == -1 && h == -1 && im.rgb == NULL, "refused picture left a size or pixels");
	free(png.data);

	/* Over the side limit only; over the pixel limit only; exactly at both limits (info reads
	 * only the header, so the full-size picture is never decoded). */
	png = png_build(NST_MAX_IMAGE_SIDE + 1, 1, 8, 2, NULL, 0, NULL, 0, NULL, 0);
	EXPECT_FAIL_SAYING(nst_image_decode(png.data, png.size, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "32769x1");
	free(png.data);
	png = png_build(20000, 20000, 8, 2, NULL, 0, NULL, 0, NULL, 0);
	EXPECT_FAIL_SAYING(nst_image_decode(png.data, png.size, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "20000x20000");
	free(png.data);
	png = png_build(NST_MAX_IMAGE_SIDE, (uint32_t)(NST_MAX_IMAGE_PIXELS / NST_MAX_IMAGE_SIDE) + 1, 8, 2, NULL, 0,
	                NULL, 0, NULL, 0);
	write_file(p, png.data, png.size);
	EXPECT_FAIL(nst_image_info(p, &w, &h, diag), NST_ERR_IMAGE_TOO_LARGE);
	free(png.data);
	png = png_build(NST_MAX_IMAGE_SIDE, (uint32_t)(NST_MAX_IMAGE_PIXELS / NST_MAX_IMAGE_SIDE), 8, 2, NULL, 0, NULL,
	                0, NULL, 0);
	write_file(p, png.data, png.size);
	struct nst_diag d = {{0}};
	enum nst_status s = nst_image_info(p, &w, &h, &d);
	CHECK(s == NST_OK && w == NST_MAX_IMAGE_SIDE && (int64_t)h * w == NST_MAX_IMAGE_PIXELS,
	      "info at the limits: %s %dx%d %s", nst_status_string(s), w, h, d.message);
	free(png.data);
	unlink(p);
	free(p);

	struct bytes jpg = jpeg_header(60000, 40000);
	EXPECT_FAIL_SAYING(nst_image_decode(jpg.data, jpg.size, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "60000x40000");
	free(jpg.data);
	jpg = jpeg_header(20000, 20000); /* within each side, over the pixels */
	EXPECT_FAIL_SAYING(nst_image_decode(jpg.data, jpg.size, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "20000x20000");
	free(jpg.data);

	struct bytes bmp = bmp_header(100000, 100000);
	EXPECT_FAIL_SAYING(nst_image_decode(bmp.data, bmp.size, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "100000x100000");
	free(bmp.data);

	static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 0x40, 0x9c, 10, 0, 0, 0, 0, 0x3b}; /* 40000x10 */
	EXPECT_FAIL_SAYING(nst_image_decode(gif, sizeof gif, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "40000x10");

	/* A real JPEG with APP segments before its frame header, the size patched to 60000x50000. */
	if (images) {
		char *jp = path_in(images, "shipwreck.jpg");
		size_t size;
		uint8_t *bytes = support_read_file(jp, &size);
		CHECK(bytes != NULL, "cannot read %s", jp);
		size_t sof = 0;
		for (size_t i = 2; bytes && i + 9 < size; i++)
			if (bytes[i] == 0xff && (bytes[i + 1] == 0xc0 || bytes[i + 1] == 0xc2)) {
				sof = i;
				break;
			}
		CHECK(sof > 2, "no frame header in %s", jp);
		if (sof > 2) {
			CHECK(bytes[sof + 5] == 662 >> 8 && bytes[sof + 6] == (662 & 0xff), "frame header of %s", jp);
			bytes[sof + 5] = 50000 >> 8;
			bytes[sof + 6] = 50000 & 0xff;
			bytes[sof + 7] = 60000 >> 8;
			bytes[sof + 8] = 60000 & 0xff;
			EXPECT_FAIL_SAYING(nst_image_decode(bytes, size, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "60000x50000");
		}
		free(bytes);
		free(jp);
	}

	/* A 3 GiB file (sparse) is refused from its size, before anything is read or allocated. */
	char *big = tmp_path("sparse.png");
	int fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)3 << 30) == 0, "cannot make the sparse file %s", big);
	if (fd >= 0) close(fd);
	EXPECT_FAIL_SAYING(nst_image_load(big, &im, diag), NST_ERR_IMAGE_TOO_LARGE, "3221225472 bytes");
	unlink(big);
	free(big);
}

static void test_zero_size(void) {
	printf("0x0 and 0xN headers\n");
	struct nst_image im = {0};
	int w, h;
	struct bytes png = png_build(0, 0, 8, 2, NULL, 0, NULL, 0, NULL, 0);
	EXPECT_FAIL_SAYING(nst_image_decode(png.data, png.size, &im, diag), NST_ERR_NOT_AN_IMAGE, "0x0");
	char *p = tmp_path("zero.png");
	write_file(p, png.data, png.size);
	EXPECT_FAIL(nst_image_load(p, &im, diag), NST_ERR_NOT_AN_IMAGE);
	EXPECT_FAIL(nst_image_info(p, &w, &h, diag), NST_ERR_NOT_AN_IMAGE);
	free(png.data);
	png = png_build(5, 0, 8, 2, NULL, 0, NULL, 0, NULL, 0);
	EXPECT_FAIL_SAYING(nst_image_decode(png.data, png.size, &im, diag), NST_ERR_NOT_AN_IMAGE, "5x0");
	free(png.data);
	struct bytes bmp = bmp_header(0, 7);
	EXPECT_FAIL(nst_image_decode(bmp.data, bmp.size, &im, diag), NST_ERR_NOT_AN_IMAGE);
	free(bmp.data);
	CHECK(im.rgb == NULL, "refused picture left pixels");
	unlink(p);
	free(p);
}

static void test_bad_arguments(void) {
	printf("bad arguments\n");
	struct nst_image im = {0};
	int w, h;
	static const uint8_t one[1] = {0};
	EXPECT_FAIL(nst_image_decode(NULL, 10, &im, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_decode(one, 1, NULL, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_load(NULL, &im, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_load("", &im, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_info(NULL, &w, &h, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_info("-", &w, &h, diag), NST_ERR_INVALID_ARGUMENT);
	/* No diag at all is fine. */
	CHECK(nst_image_load("/nonexistent/nst/x.png", &im, NULL) == NST_ERR_IO, "load without diag");
}

/* ---- decoding conversions ----------------------------------------------------------------- */

/* Decodes png and checks every pixel against want [h][w][3]. */
static void expect_pixels(const char *label, struct bytes png, int width, int height, const uint8_t *want) {
	struct nst_image im = {0};
	struct nst_diag d = {{0}};
	enum nst_status s = nst_image_decode(png.data, png.size, &im, &d);
	CHECK(s == NST_OK, "%s: %s: %s", label, nst_status_string(s), d.message);
	CHECK(im.width == width && im.height == height, "%s: %dx%d, want %dx%d", label, im.width, im.height, width,
	      height);
	if (s == NST_OK && im.width == width && im.height == height) {
		int bad = -1;
		for (int i = 0; i < width * height * 3 && bad < 0; i++)
			if (im.rgb[i] != want[i]) bad = i;
		CHECK(bad < 0, "%s: byte %d is %d, want %d", label, bad, bad < 0 ? 0 : im.rgb[bad], bad < 0 ? 0 : want[bad]);
	}
	/* And the same through a file. */
	char name[64];
	snprintf(name, sizeof name, "conv-%s.png", label);
	char *p = tmp_path(name);
	write_file(p, png.data, png.size);
	struct nst_image from_file = {0};
	s = nst_image_load(p, &from_file, &d);
	CHECK(s == NST_OK && same_image(&im, &from_file), "%s: loading the file differs from decoding", label);
	int w = 0, h = 0;
	s = nst_image_info(p, &w, &h, &d);
	CHECK(s == NST_OK && w == width && h == height, "%s: info %dx%d", label, w, h);
	unlink(p);
	free(p);
	nst_image_free(&from_file);
	nst_image_free(&im);
	free(png.data);
}

static void test_conversions(void) {
	printf("grey, alpha, 16-bit and palette PNGs\n");
	enum { W = 5, H = 3, N = W * H };
	uint8_t want[N * 3];

	/* 8-bit grey */
	uint8_t grey[N];
	for (int i = 0; i < N; i++) grey[i] = (uint8_t)(i * 17 + 3);
	for (int i = 0; i < N; i++) want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = grey[i];
	expect_pixels("grey8", png_build(W, H, 8, 0, grey, W, NULL, 0, NULL, 0), W, H, want);

	/* 8-bit grey + alpha: alpha dropped, not composited */
	uint8_t ga[N * 2];
	for (int i = 0; i < N; i++) {
		ga[2 * i] = grey[i];
		ga[2 * i + 1] = (uint8_t)(i * 31);
	}
	expect_pixels("grey-alpha8", png_build(W, H, 8, 4, ga, W * 2, NULL, 0, NULL, 0), W, H, want);

	/* 8-bit RGBA: alpha dropped (PIL's convert('RGB')) */
	uint8_t rgba[N * 4];
	for (int i = 0; i < N; i++) {
		rgba[4 * i] = want[3 * i] = (uint8_t)(i * 13);
		rgba[4 * i + 1] = want[3 * i + 1] = (uint8_t)(255 - i * 7);
		rgba[4 * i + 2] = want[3 * i + 2] = (uint8_t)(i * i);
		rgba[4 * i + 3] = (uint8_t)(i & 1 ? 0 : 128);
	}
	expect_pixels("rgba8", png_build(W, H, 8, 6, rgba, W * 4, NULL, 0, NULL, 0), W, H, want);

	/* 16-bit RGB: the high byte of each sample */
	uint8_t rgb16[N * 6];
	for (int i = 0; i < N * 3; i++) {
		uint16_t v = (uint16_t)(i * 4099 + 0x00ff); /* low bytes non-zero, so a wrong byte shows */
		rgb16[2 * i] = (uint8_t)(v >> 8);
		rgb16[2 * i + 1] = (uint8_t)v;
		want[i] = (uint8_t)(v >> 8);
	}
	expect_pixels("rgb16", png_build(W, H, 16, 2, rgb16, W * 6, NULL, 0, NULL, 0), W, H, want);

	/* 16-bit RGBA */
	uint8_t rgba16[N * 8];
	for (int i = 0; i < N; i++)
		for (int c = 0; c < 4; c++) {
			uint16_t v = (uint16_t)(c == 3 ? 0x1234 : (i * 3 + c) * 4099 + 0x80);
			rgba16[8 * i + 2 * c] = (uint8_t)(v >> 8);
			rgba16[8 * i + 2 * c + 1] = (uint8_t)v;
			if (c < 3) want[3 * i + c] = (uint8_t)(v >> 8);
		}
	expect_pixels("rgba16", png_build(W, H, 16, 6, rgba16, W * 8, NULL, 0, NULL, 0), W, H, want);

	/* 16-bit grey */
	uint8_t grey16[N * 2];
	for (int i = 0; i < N; i++) {
		uint16_t v = (uint16_t)(65535 - i * 4321);
		grey16[2 * i] = (uint8_t)(v >> 8);
		grey16[2 * i + 1] = (uint8_t)v;
		want[3 * i] = want[3 * i + 1] = want[3 * i + 2] = (uint8_t)(v >> 8);
	}
	expect_pixels("grey16", png_build(W, H, 16, 0, grey16, W * 2, NULL, 0, NULL, 0), W, H, want);

	/* 1-bit grey: 0 and 1 become 0 and 255 */
	uint8_t bits[H] = {0xa8, 0x50, 0xf8}; /* rows 10101, 01010, 11111 (5 of 8 bits used) */
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint8_t v = (bits[y] >> (7 - x)) & 1 ? 255 : 0;
			want[3 * (y * W + x)] = want[3 * (y * W + x) + 1] = want[3 * (y * W + x) + 2] = v;
		}
	expect_pixels("grey1", png_build(W, H, 1, 0, bits, 1, NULL, 0, NULL, 0), W, H, want);

	/* 8-bit palette with transparency: the palette's colours, alpha dropped */
	uint8_t plte[6 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 150, 100, 1, 2, 3};
	uint8_t trns[6] = {0, 64, 128, 255, 7, 9};
	uint8_t index8[N];
	for (int i = 0; i < N; i++) {
		index8[i] = (uint8_t)((i * 5) % 6);
		memcpy(want + 3 * i, plte + 3 * index8[i], 3);
	}
	expect_pixels("palette8", png_build(W, H, 8, 3, index8, W, plte, 6, trns, 6), W, H, want);

	/* 2-bit palette, 5 pixels a row (rows padded to a byte boundary) */
	uint8_t index2[H * 2];
	memset(index2, 0, sizeof index2);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			int idx = (x + 2 * y) % 4;
			index2[y * 2 + x / 4] |= (uint8_t)(idx << (6 - 2 * (x % 4)));
			memcpy(want + 3 * (y * W + x), plte + 3 * idx, 3);
		}
	expect_pixels("palette2", png_build(W, H, 2, 3, index2, 2, plte, 4, NULL, 0), W, H, want);

	/* 1x1 RGB */
	uint8_t px[3] = {12, 34, 56};
	expect_pixels("one-pixel", png_build(1, 1, 8, 2, px, 3, NULL, 0, NULL, 0), 1, 1, px);
}

/* nst_image_info reads a prefix of the file; a JPEG whose frame header comes after more than a
 * megabyte of APP segments still gives its size (and loads). */
static void test_info_far_header(void) {
	printf("frame header after 1.3 MB of metadata\n");
	struct nst_image im;
	fill_noise(&im, 33, 21, 4);
	char *p = tmp_path("far.jpg");
	CHECK(nst_image_save(p, &im, 90, NULL) == NST_OK, "save %s", p);
	size_t size;
	uint8_t *jpg = support_read_file(p, &size);
	CHECK(jpg && size > 2, "read %s", p);
	if (jpg && size > 2) {
		struct bytes b = {0};
		put(&b, jpg, 2); /* SOI */
		uint8_t *filler = calloc(65533, 1);
		if (!filler) abort();
		for (int i = 0; i < 20; i++) {
			static const uint8_t app15[4] = {0xff, 0xef, 0xff, 0xff}; /* APP15, length 65535 */
			put(&b, app15, 4);
			put(&b, filler, 65533);
		}
		free(filler);
		put(&b, jpg + 2, size - 2);
		write_file(p, b.data, b.size);
		struct nst_diag d = {{0}};
		int w = 0, h = 0;
		enum nst_status s = nst_image_info(p, &w, &h, &d);
		CHECK(s == NST_OK && w == 33 && h == 21, "info of %s (%zu bytes): %s %dx%d %s", p, b.size,
		      nst_status_string(s), w, h, d.message);
		struct nst_image back = {0};
		s = nst_image_load(p, &back, &d);
		CHECK(s == NST_OK && back.width == 33 && back.height == 21, "load of %s: %s", p, d.message);
		nst_image_free(&back);
		/* cut inside the metadata: no frame header anywhere */
		write_file(p, b.data, 1200000);
		EXPECT_FAIL_SAYING(nst_image_info(p, &w, &h, diag), NST_ERR_NOT_AN_IMAGE, "JPEG");
		free(b.data);
	}
	/* more than a megabyte of text: not a picture, from the prefix */
	size_t n = (size_t)3 << 20;
	char *text = malloc(n);
	if (!text) abort();
	memset(text, 'a', n);
	write_file(p, text, n);
	free(text);
	int w, h;
	EXPECT_FAIL_SAYING(nst_image_info(p, &w, &h, diag), NST_ERR_NOT_AN_IMAGE, "not a picture");
	unlink(p);
	free(p);
	free(jpg);
	nst_image_free(&im);
}

/* ---- decoding for a size, within a budget ------------------------------------------------ */

/* A P6 picture of width x height whose pixels are given by value(x, y, c). */
static struct bytes ppm_build(int width, int height, uint8_t (*value)(int x, int y, int c)) {
	struct bytes b = {0};
	char header[64];
	snprintf(header, sizeof header, "P6\n%d %d\n255\n", width, height);
	put(&b, header, strlen(header));
	for (int y = 0; y < height; y++)
		for (int x = 0; x < width; x++)
			for (int c = 0; c < 3; c++) put8(&b, value(x, y, c));
	return b;
}

static uint8_t pattern_value(int x, int y, int c) { return (uint8_t)((x * 7 + y * 13 + c * 50) % 256); }
static uint8_t flat_value(int x, int y, int c) { return (uint8_t)(c == 0 ? 200 : c == 1 ? 17 : 99); }

static void test_request(void) {
	printf("decoding for a size, within a budget\n");
	struct nst_image full = {0}, im = {0};
	struct nst_diag d = {{0}};

	/* Less than 4 times larger than the long side: decoded at full size, the same bytes. */
	struct bytes ppm = ppm_build(100, 60, pattern_value);
	CHECK(nst_image_decode(ppm.data, ppm.size, &full, &d) == NST_OK, "decode: %s", d.message);
	const int kept[] = {0, 100, 30, 26, 200};
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		struct nst_image_request r = {kept[i], 0, 0, 0};
		CHECK(nst_image_decode_for(ppm.data, ppm.size, &r, &im, &d) == NST_OK && same_image(&im, &full) &&
		          r.width == 100 && r.height == 60,
		      "long side %d: %dx%d (own %dx%d), not the full picture: %s", kept[i], im.width, im.height, r.width,
		      r.height, d.message);
		nst_image_free(&im);
	}
	/* 4 times or more: reduced by the largest factor that leaves 2 to the resize; each pixel the
	 * mean of its block (here 2x2 and 5x5: they divide the sides). */
	struct nst_image_request r = {25, 0, 0, 0};
	CHECK(nst_image_decode_for(ppm.data, ppm.size, &r, &im, &d) == NST_OK && im.width == 50 && im.height == 30 &&
	          r.width == 100 && r.height == 60,
	      "long side 25: %dx%d (own %dx%d): %s", im.width, im.height, r.width, r.height, d.message);
	int bad = 0;
	for (int y = 0; im.rgb && y < 30; y++)
		for (int x = 0; x < 50; x++)
			for (int c = 0; c < 3; c++) {
				int sum = 0;
				for (int k = 0; k < 4; k++) sum += full.rgb[((size_t)(2 * y + k / 2) * 100 + (size_t)(2 * x + k % 2)) * 3 + c];
				bad += im.rgb[((size_t)y * 50 + x) * 3 + c] != (sum + 2) / 4;
			}
	CHECK(bad == 0, "2x2 means: %d values differ", bad);
	nst_image_free(&im);
	r = (struct nst_image_request){10, 0, 0, 0};
	CHECK(nst_image_decode_for(ppm.data, ppm.size, &r, &im, &d) == NST_OK && im.width == 20 && im.height == 12,
	      "long side 10: %dx%d: %s", im.width, im.height, d.message);
	nst_image_free(&im);
	nst_image_free(&full);
	free(ppm.data);

	/* A factor that does not divide the sides: exact area means (5 pixels 0, 10, .. 40 into 3 of
	 * 5/3 pixels each: 4, 20, 36), a flat picture stays flat. */
	static const char ramp[] = "P5 5 1 255\n\x00\x0a\x14\x1e\x28";
	r = (struct nst_image_request){1, 0, 0, 0};
	CHECK(nst_image_decode_for((const uint8_t *)ramp, sizeof ramp - 1, &r, &im, &d) == NST_OK && im.width == 3 &&
	          im.height == 1 && im.rgb[0] == 4 && im.rgb[3] == 20 && im.rgb[6] == 36 && im.rgb[7] == 36,
	      "area means of 5 into 3: %dx%d %d %d %d: %s", im.width, im.height, im.rgb ? im.rgb[0] : -1,
	      im.rgb ? im.rgb[3] : -1, im.rgb ? im.rgb[6] : -1, d.message);
	nst_image_free(&im);
	ppm = ppm_build(101, 61, flat_value);
	r = (struct nst_image_request){12, 0, 0, 0};
	CHECK(nst_image_decode_for(ppm.data, ppm.size, &r, &im, &d) == NST_OK && im.width == 26 && im.height == 16,
	      "101x61 for 12: %dx%d: %s", im.width, im.height, d.message);
	bad = 0;
	for (int i = 0; im.rgb && i < im.width * im.height; i++)
		bad += im.rgb[3 * i] != 200 || im.rgb[3 * i + 1] != 17 || im.rgb[3 * i + 2] != 99;
	CHECK(bad == 0, "a flat picture, reduced by 4 (not dividing 101x61): %d pixels changed", bad);
	nst_image_free(&im);
	free(ppm.data);

	/* The budget: a tighter one reduces more (never below the long side), a still tighter one is
	 * refused before the memory is taken. */
	ppm = ppm_build(400, 300, pattern_value);
	r = (struct nst_image_request){50, 0, 0, 0};
	CHECK(nst_image_decode_for(ppm.data, ppm.size, &r, &im, &d) == NST_OK && im.width == 100 && im.height == 75,
	      "400x300 for 50: %dx%d: %s", im.width, im.height, d.message);
	nst_image_free(&im);
	r = (struct nst_image_request){50, 20000, 0, 0};
	CHECK(nst_image_decode_for(ppm.data, ppm.size, &r, &im, &d) == NST_OK && im.width == 80 && im.height == 60,
	      "400x300 for 50 in 20000 bytes: %dx%d: %s", im.width, im.height, d.message);
	nst_image_free(&im);
	r = (struct nst_image_request){50, 5000, 0, 0};
	EXPECT_FAIL_SAYING(nst_image_decode_for(ppm.data, ppm.size, &r, &im, diag), NST_ERR_OVER_MEMORY_LIMIT,
	                   "decoding budget");
	r = (struct nst_image_request){0, 100000, 0, 0};
	EXPECT_FAIL_SAYING(nst_image_decode_for(ppm.data, ppm.size, &r, &im, diag), NST_ERR_OVER_MEMORY_LIMIT, "PNM");
	CHECK(im.rgb == NULL, "a refused decode left pixels");
	/* the file itself counts when it is read */
	char *p = tmp_path("budget.ppm");
	write_file(p, ppm.data, ppm.size);
	r = (struct nst_image_request){0, ppm.size, 0, 0};
	EXPECT_FAIL_SAYING(nst_image_load_for(p, &r, &im, diag), NST_ERR_OVER_MEMORY_LIMIT, "decoding budget");
	r = (struct nst_image_request){-1, 0, 0, 0};
	EXPECT_FAIL(nst_image_load_for(p, &r, &im, diag), NST_ERR_INVALID_ARGUMENT);
	unlink(p);
	free(p);
	free(ppm.data);

	/* PNG, row by row: reduced the same way; JPEG: by DCT scaling */
	struct nst_image smooth;
	fill_smooth(&smooth, 320, 200);
	const char *names[] = {"req.png", "req.jpg"};
	for (int i = 0; i < 2; i++) {
		p = tmp_path(names[i]);
		CHECK(nst_image_save(p, &smooth, 95, NULL) == NST_OK, "save %s", p);
		r = (struct nst_image_request){40, 0, 0, 0};
		CHECK(nst_image_load_for(p, &r, &im, &d) == NST_OK && im.width == 80 && im.height == 50 && r.width == 320 &&
		          r.height == 200,
		      "%s for 40: %dx%d (own %dx%d): %s", names[i], im.width, im.height, r.width, r.height, d.message);
		struct nst_image whole = {0}, a = {0}, b = {0};
		CHECK(nst_image_load(p, &whole, NULL) == NST_OK, "load %s", p);
		if (im.rgb && whole.rgb && nst_image_resize(&whole, 40, 25, &a) == NST_OK &&
		    nst_image_resize(&im, 40, 25, &b) == NST_OK) {
			const double e = mean_abs_error(&a, &b);
			printf("  %s: reduced then resized vs resized: mean abs error %.3f\n", names[i], e);
			CHECK(e < 1.5, "%s: reduced then resized differs from resized by %.3f", names[i], e);
		}
		nst_image_free(&a);
		nst_image_free(&b);
		nst_image_free(&whole);
		nst_image_free(&im);
		unlink(p);
		free(p);
	}
	nst_image_free(&smooth);
}

/* A PNG whose IDAT holds more rows than its header: the 1x1 picture that inflates without end. */
static void test_png_extra_data(void) {
	printf("PNG with more data than its rows\n");
	uint8_t rows[64 * 3];
	memset(rows, 7, sizeof rows);
	struct bytes png = png_build(1, 64, 8, 2, rows, 3, NULL, 0, NULL, 0);
	png.data[23] = 1; /* height 64 -> 1 */
	const uint32_t crc = crc32_update(0, png.data + 12, 17);
	for (int i = 0; i < 4; i++) png.data[29 + i] = (uint8_t)(crc >> (24 - 8 * i));
	struct nst_image im = {0};
	EXPECT_FAIL_SAYING(nst_image_decode(png.data, png.size, &im, diag), NST_ERR_NOT_AN_IMAGE, "Too much image data");
	free(png.data);
}

/* ---- EXIF orientation ----------------------------------------------------------------------- */

/* jpg with an APP1 Exif segment right after SOI holding IFD0 with the orientation tag, in the
 * byte order given ("II" or "MM"); a first entry of another tag before it. */
static struct bytes jpeg_with_orientation(const uint8_t *jpg, size_t size, int orientation, bool motorola) {
	struct bytes tiff = {0};
	void (*u16)(struct bytes *, uint32_t) = motorola ? put_be16 : put_le16;
	put(&tiff, motorola ? "MM" : "II", 2);
	u16(&tiff, 42);
	if (motorola) put_be32(&tiff, 8); else put_le32(&tiff, 8);
	u16(&tiff, 2); /* entries */
	u16(&tiff, 0x010f); /* Make, ASCII, 4 bytes: in the value field */
	u16(&tiff, 2);
	if (motorola) put_be32(&tiff, 4); else put_le32(&tiff, 4);
	put(&tiff, "nst", 4);
	u16(&tiff, 0x0112);
	u16(&tiff, 3);
	if (motorola) put_be32(&tiff, 1); else put_le32(&tiff, 1);
	u16(&tiff, (uint32_t)orientation);
	u16(&tiff, 0);
	put(&tiff, "\0\0\0\0", 4); /* no next IFD */
	struct bytes b = {0};
	put(&b, jpg, 2);
	put8(&b, 0xff);
	put8(&b, 0xe1);
	put_be16(&b, (uint32_t)(2 + 6 + tiff.size));
	put(&b, "Exif\0\0", 6);
	put(&b, tiff.data, tiff.size);
	put(&b, jpg + 2, size - 2);
	free(tiff.data);
	return b;
}

static void test_exif(void) {
	printf("EXIF orientation\n");
	struct nst_image src;
	fill_smooth(&src, 24, 16);
	for (int y = 2; y < 6; y++) /* something asymmetric */
		for (int x = 3; x < 12; x++) memset(src.rgb + ((size_t)y * 24 + (size_t)x) * 3, 250, 3);
	char *p = tmp_path("exif.jpg");
	CHECK(nst_image_save(p, &src, 95, NULL) == NST_OK, "save %s", p);
	size_t size;
	uint8_t *jpg = support_read_file(p, &size);
	struct nst_image stored = {0};
	CHECK(jpg && nst_image_decode(jpg, size, &stored, NULL) == NST_OK, "decode %s", p);
	for (int o = 1; o <= 8 && stored.rgb; o++)
		for (int order = 0; order < 2; order++) {
			struct bytes tagged = jpeg_with_orientation(jpg, size, o, order == 1);
			struct nst_image im = {0};
			struct nst_diag d = {{0}};
			const bool swap = o >= 5;
			CHECK(nst_image_decode(tagged.data, tagged.size, &im, &d) == NST_OK && im.width == (swap ? 16 : 24) &&
			          im.height == (swap ? 24 : 16),
			      "orientation %d (%s): %dx%d: %s", o, order ? "MM" : "II", im.width, im.height, d.message);
			int bad = 0;
			for (int y = 0; im.rgb && y < im.height; y++)
				for (int x = 0; x < im.width; x++) {
					int sx = x, sy = y; /* the stored pixel that (x, y) of the upright picture shows */
					switch (o) {
					case 2: sx = 23 - x; break;
					case 3: sx = 23 - x, sy = 15 - y; break;
					case 4: sy = 15 - y; break;
					case 5: sx = y, sy = x; break;
					case 6: sx = y, sy = 15 - x; break;
					case 7: sx = 23 - y, sy = 15 - x; break;
					case 8: sx = 23 - y, sy = x; break;
					default: break;
					}
					bad += memcmp(im.rgb + ((size_t)y * (size_t)im.width + (size_t)x) * 3,
					              stored.rgb + ((size_t)sy * 24 + (size_t)sx) * 3, 3) != 0;
				}
			CHECK(bad == 0, "orientation %d (%s): %d pixels misplaced", o, order ? "MM" : "II", bad);
			write_file(p, tagged.data, tagged.size);
			int w = 0, h = 0;
			CHECK(nst_image_info(p, &w, &h, NULL) == NST_OK && w == (swap ? 16 : 24) && h == (swap ? 24 : 16),
			      "info of orientation %d: %dx%d", o, w, h);
			struct nst_image_request r = {0, 0, 0, 0};
			struct nst_image loaded = {0};
			CHECK(nst_image_load_for(p, &r, &loaded, NULL) == NST_OK && same_image(&loaded, &im) &&
			          r.width == im.width && r.height == im.height,
			      "load_for of orientation %d: own size %dx%d", o, r.width, r.height);
			nst_image_free(&loaded);
			nst_image_free(&im);
			free(tagged.data);
		}
	/* Unreadable tags are ignored: an orientation out of range, an IFD offset past the segment. */
	struct bytes tagged = jpeg_with_orientation(jpg, size, 9, false);
	struct nst_image im = {0};
	CHECK(nst_image_decode(tagged.data, tagged.size, &im, NULL) == NST_OK && same_image(&im, &stored),
	      "orientation 9 is not ignored");
	nst_image_free(&im);
	tagged.data[2 + 4 + 6 + 4] = 0xf0; /* IFD0 offset 0xf0 */
	CHECK(nst_image_decode(tagged.data, tagged.size, &im, NULL) == NST_OK && same_image(&im, &stored),
	      "an IFD past the segment is not ignored");
	nst_image_free(&im);
	free(tagged.data);
	nst_image_free(&stored);
	nst_image_free(&src);
	free(jpg);
	unlink(p);
	free(p);
}

/* ---- structure of stb_image's formats --------------------------------------------------------- */

/* A GIF of width x height, 4 colours, pixels (x + y) % 4, LZW without compression (a clear code
 * before every 2 pixel codes keeps the code size at 3 bits). */
static struct bytes gif_build(int width, int height) {
	struct bytes b = {0};
	put(&b, "GIF89a", 6);
	put_le16(&b, (uint32_t)width);
	put_le16(&b, (uint32_t)height);
	put8(&b, 0x81); /* a global table of 4 colours */
	put8(&b, 0);
	put8(&b, 0);
	static const uint8_t table[12] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255};
	put(&b, table, sizeof table);
	put8(&b, 0x2c);
	put_le16(&b, 0);
	put_le16(&b, 0);
	put_le16(&b, (uint32_t)width);
	put_le16(&b, (uint32_t)height);
	put8(&b, 0);
	put8(&b, 2); /* LZW minimum code size: clear 4, end 5, 3-bit codes */
	struct bytes data = {0};
	uint32_t bits = 0;
	int n = 0;
	for (int i = 0; i <= width * height; i++) {
		const uint32_t code = i == width * height ? 5 : (uint32_t)((i % width + i / width) % 4);
		if (i % 2 == 0 && i < width * height) { /* clear */
			bits |= 4u << n;
			n += 3;
		}
		bits |= code << n;
		n += 3;
		while (n >= 8) {
			put8(&data, bits & 0xff);
			bits >>= 8;
			n -= 8;
		}
	}
	if (n > 0) put8(&data, bits & 0xff);
	for (size_t off = 0; off < data.size; off += 255) {
		const size_t k = data.size - off < 255 ? data.size - off : 255;
		put8(&b, (uint32_t)k);
		put(&b, data.data + off, k);
	}
	put8(&b, 0);
	put8(&b, 0x3b);
	free(data.data);
	return b;
}

/* An 8-bit RGB PSD of width x height, raw or run-length (PackBits literals). */
static struct bytes psd_build(int width, int height, bool rle) {
	struct bytes b = {0};
	put(&b, "8BPS", 4);
	put_be16(&b, 1);
	put(&b, "\0\0\0\0\0\0", 6);
	put_be16(&b, 3);
	put_be32(&b, (uint32_t)height);
	put_be32(&b, (uint32_t)width);
	put_be16(&b, 8);
	put_be16(&b, 3);
	for (int i = 0; i < 3; i++) put_be32(&b, 0);
	put_be16(&b, rle ? 1 : 0);
	if (rle) /* row lengths: a literal header and the samples */
		for (int i = 0; i < 3 * height; i++) put_be16(&b, (uint32_t)width + 1);
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < height; y++) {
			if (rle) put8(&b, (uint32_t)width - 1); /* width <= 128 */
			for (int x = 0; x < width; x++) put8(&b, (uint32_t)(x * 9 + y * 5 + c * 80));
		}
	return b;
}

/* Every cut of a picture that loses pixels is refused as truncated; the whole file decodes. */
static void check_cuts(const char *label, const char *format, struct bytes whole, size_t header_end) {
	printf("truncated %s (%zu bytes)\n", label, whole.size);
	struct nst_image im = {0};
	struct nst_diag d = {{0}};
	CHECK(nst_image_decode(whole.data, whole.size, &im, &d) == NST_OK, "%s: the whole file: %s", label, d.message);
	nst_image_free(&im);
	int refused = 0, tried = 0;
	for (size_t cut = header_end; cut < whole.size; cut += (whole.size - header_end) / 7 + 1) {
		tried++;
		d.message[0] = '\0';
		const enum nst_status st = nst_image_decode(whole.data, cut, &im, &d);
		refused += st == NST_ERR_NOT_AN_IMAGE && strstr(d.message, "truncated") && strstr(d.message, format);
		CHECK(st == NST_ERR_NOT_AN_IMAGE && strstr(d.message, "truncated"), "%s cut at %zu of %zu: %s: %s", label, cut,
		      whole.size, nst_status_string(st), d.message);
		nst_image_free(&im);
	}
	printf("  %d of %d cuts refused as truncated %s\n", refused, tried, format);
}

static void test_truncated_stb_formats(void) {
	struct nst_image noisy;
	fill_noise(&noisy, 45, 31, 21);
	const char *names[] = {"stb.bmp", "stb.tga"};
	const char *formats[] = {"BMP", "TGA"};
	for (int i = 0; i < 2; i++) { /* stb_image_write's TGA is run-length coded */
		char *p = tmp_path(names[i]);
		CHECK(nst_image_save(p, &noisy, 0, NULL) == NST_OK, "save %s", p);
		size_t size;
		uint8_t *bytes = support_read_file(p, &size);
		struct bytes whole = {bytes, size, size};
		if (bytes) check_cuts(names[i], formats[i], whole, 60);
		CHECK(bytes && (i == 0 || (bytes[2] & 8)), "stb.tga is not run-length coded");
		free(bytes);
		unlink(p);
		free(p);
	}
	nst_image_free(&noisy);
	struct bytes gif = gif_build(23, 17);
	check_cuts("built.gif", "GIF", gif, 40);
	free(gif.data);
	for (int rle = 0; rle < 2; rle++) {
		struct bytes psd = psd_build(21, 13, rle);
		check_cuts(rle ? "rle.psd" : "raw.psd", "PSD", psd, 60);
		free(psd.data);
	}
	/* The GIF's pixels, as built */
	gif = gif_build(5, 3);
	struct nst_image im = {0};
	CHECK(nst_image_decode(gif.data, gif.size, &im, NULL) == NST_OK && im.width == 5 && im.height == 3,
	      "the built GIF does not decode");
	static const uint8_t colours[4][3] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
	int bad = 0;
	for (int i = 0; im.rgb && i < 15; i++) bad += memcmp(im.rgb + 3 * i, colours[(i % 5 + i / 5) % 4], 3) != 0;
	CHECK(bad == 0, "the built GIF: %d pixels wrong", bad);
	nst_image_free(&im);
	free(gif.data);
}

/* ---- streams ---------------------------------------------------------------------------------- */

static void test_streams(void) {
	printf("pipes and devices as paths\n");
	struct nst_image im, back = {0};
	fill_noise(&im, 30, 20, 17);
	char *p = tmp_path("pipe.png");
	CHECK(nst_image_save(p, &im, 0, NULL) == NST_OK, "save %s", p);
	size_t size;
	uint8_t *png = support_read_file(p, &size);
	int fds[2];
	CHECK(png && size < 60000 && pipe(fds) == 0, "pipe");
	if (png && size < 60000) { /* fits the pipe's buffer: written before it is read */
		CHECK(write(fds[1], png, size) == (ssize_t)size, "write to the pipe");
		close(fds[1]);
		char path[64];
		snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
		struct nst_diag d = {{0}};
		CHECK(nst_image_load(path, &back, &d) == NST_OK && same_image(&back, &im), "load %s: %s", path, d.message);
		nst_image_free(&back);
		close(fds[0]);
	}
	/* a device that never ends: refused from its first bytes */
	EXPECT_FAIL_SAYING(nst_image_load("/dev/zero", &back, diag), NST_ERR_NOT_AN_IMAGE, "not a picture");
	int w, h;
	EXPECT_FAIL_SAYING(nst_image_info("/dev/zero", &w, &h, diag), NST_ERR_NOT_AN_IMAGE, "not a picture");
	EXPECT_FAIL_SAYING(nst_image_load("/dev/null", &back, diag), NST_ERR_NOT_AN_IMAGE, "empty");
	free(png);
	unlink(p);
	free(p);
	nst_image_free(&im);
}

/* ---- saving ------------------------------------------------------------------------------- */

static void round_trip(const char *name, const struct nst_image *im, int quality, double max_error) {
	char *p = tmp_path(name);
	struct nst_diag d = {{0}};
	enum nst_status s = nst_image_save(p, im, quality, &d);
	CHECK(s == NST_OK, "save %s: %s: %s", name, nst_status_string(s), d.message);
	struct nst_image back = {0};
	s = nst_image_load(p, &back, &d);
	CHECK(s == NST_OK, "load %s: %s: %s", name, nst_status_string(s), d.message);
	CHECK(back.width == im->width && back.height == im->height, "%s: %dx%d after the round trip", name, back.width,
	      back.height);
	if (back.rgb && back.width == im->width && back.height == im->height) {
		if (max_error == 0) {
			CHECK(same_image(im, &back), "%s: the round trip is not exact", name);
		} else {
			double e = mean_abs_error(im, &back);
			printf("  %s: mean abs error %.3f\n", name, e);
			CHECK(e <= max_error, "%s: mean abs error %.3f > %.3f", name, e, max_error);
			CHECK(!same_image(im, &back) || quality == 100, "%s: a lossy round trip was exact?", name);
		}
	}
	nst_image_free(&back);
	unlink(p);
	free(p);
}

static void test_round_trips(void) {
	printf("round trips\n");
	struct nst_image noisy, smooth, one;
	fill_noise(&noisy, 37, 23, 1); /* odd width: BMP rows are padded */
	fill_smooth(&smooth, 96, 64);
	fill_noise(&one, 1, 1, 99);
	const char *exact[] = {"rt.png", "rt.bmp", "rt.tga", "RT-UPPER.PNG", "rt.Bmp", "rt.TGA"};
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
		round_trip(exact[i], &noisy, 0, 0);
		round_trip(exact[i], &smooth, 0, 0);
		round_trip(exact[i], &one, 0, 0);
	}
	round_trip("rt.jpg", &smooth, 95, 2.0);
	round_trip("rt.JPEG", &smooth, 0, 2.5); /* default quality 92 */
	round_trip("rt-low.jpg", &smooth, 5, 20.0);
	round_trip("rt-one.jpg", &one, 100, 3.0);

	/* quality changes the file: 5 gives a smaller JPEG than 95 */
	char *lo = tmp_path("q5.jpg"), *hi = tmp_path("q95.jpg");
	CHECK(nst_image_save(lo, &smooth, 5, NULL) == NST_OK && nst_image_save(hi, &smooth, 95, NULL) == NST_OK,
	      "jpeg saves");
	size_t nlo, nhi;
	uint8_t *blo = support_read_file(lo, &nlo), *bhi = support_read_file(hi, &nhi);
	CHECK(blo && bhi && nlo < nhi, "JPEG quality 5 (%zu bytes) is not smaller than 95 (%zu bytes)", nlo, nhi);
	free(blo);
	free(bhi);
	unlink(lo);
	unlink(hi);
	free(lo);
	free(hi);

	/* Saving over an existing picture replaces it. */
	char *p = tmp_path("over.png");
	CHECK(nst_image_save(p, &smooth, 0, NULL) == NST_OK, "first save");
	CHECK(nst_image_save(p, &noisy, 0, NULL) == NST_OK, "second save");
	struct nst_image back = {0};
	CHECK(nst_image_load(p, &back, NULL) == NST_OK && same_image(&back, &noisy), "the second save did not replace");
	nst_image_free(&back);

	/* Permissions: 0644 under the umask. */
	mode_t old = umask(022);
	CHECK(nst_image_save(p, &one, 0, NULL) == NST_OK, "save under umask 022");
	struct stat st;
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0644, "mode %o under umask 022", st.st_mode & 07777);
	umask(077);
	CHECK(nst_image_save(p, &one, 0, NULL) == NST_OK, "save under umask 077");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600, "mode %o under umask 077", st.st_mode & 07777);
	umask(027);
	CHECK(nst_image_save(p, &one, 0, NULL) == NST_OK, "save under umask 027");
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0640, "mode %o under umask 027", st.st_mode & 07777);
	umask(old);
	unlink(p);
	free(p);

	/* A path without a directory part goes to the working directory. */
	char cwd[4096];
	CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
	CHECK(chdir(tmpdir) == 0, "chdir %s", tmpdir);
	CHECK(nst_image_save("plain.bmp", &noisy, 0, NULL) == NST_OK, "save plain.bmp in the working directory");
	CHECK(nst_image_load("plain.bmp", &back, NULL) == NST_OK && same_image(&back, &noisy), "plain.bmp");
	nst_image_free(&back);
	unlink("plain.bmp");
	CHECK(count_temporaries(".") == 0, "temporaries left in the working directory");
	CHECK(chdir(cwd) == 0, "chdir back");

	CHECK(count_temporaries(tmpdir) == 0, "temporary files left after successful saves");
	nst_image_free(&noisy);
	nst_image_free(&smooth);
	nst_image_free(&one);
}

static void test_stdio(void) {
	printf("standard input and output\n");
	struct nst_image im;
	fill_noise(&im, 19, 11, 5);
	char *p = tmp_path("stdout.png");

	/* save "-" with fd 1 on a file */
	fflush(stdout);
	int saved_out = dup(STDOUT_FILENO);
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(saved_out >= 0 && fd >= 0, "dup / open");
	dup2(fd, STDOUT_FILENO);
	close(fd);
	struct nst_diag d = {{0}};
	enum nst_status s = nst_image_save("-", &im, 0, &d);
	fflush(stdout);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_out);
	CHECK(s == NST_OK, "save to standard output: %s", d.message);
	struct nst_image back = {0};
	s = nst_image_load(p, &back, &d);
	CHECK(s == NST_OK && same_image(&im, &back), "what went to standard output is not the picture as PNG: %s",
	      d.message);
	nst_image_free(&back);

	/* load "-" with fd 0 on that file, then on a text file */
	int saved_in = dup(STDIN_FILENO);
	fd = open(p, O_RDONLY);
	CHECK(saved_in >= 0 && fd >= 0, "dup / open");
	dup2(fd, STDIN_FILENO);
	close(fd);
	s = nst_image_load("-", &back, &d);
	CHECK(s == NST_OK && same_image(&im, &back), "load from standard input: %s", d.message);
	nst_image_free(&back);
	const char *text = "plain words";
	write_file(p, text, strlen(text));
	fd = open(p, O_RDONLY);
	dup2(fd, STDIN_FILENO);
	close(fd);
	EXPECT_FAIL_SAYING(nst_image_load("-", &back, diag), NST_ERR_NOT_AN_IMAGE, "standard input");
	fd = open("/dev/null", O_RDONLY);
	dup2(fd, STDIN_FILENO);
	close(fd);
	EXPECT_FAIL_SAYING(nst_image_load("-", &back, diag), NST_ERR_NOT_AN_IMAGE, "empty");
	dup2(saved_in, STDIN_FILENO);
	close(saved_in);

	unlink(p);
	free(p);
	nst_image_free(&im);
}

/* Saves with RLIMIT_FSIZE at limit bytes, so that writing the temporary fails part way. */
static enum nst_status save_limited(const char *path, const struct nst_image *im, rlim_t limit,
                                    struct nst_diag *diag) {
	struct rlimit old, small;
	getrlimit(RLIMIT_FSIZE, &old);
	small = old;
	small.rlim_cur = limit;
	void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit: %s", strerror(errno));
	enum nst_status s = nst_image_save(path, im, 0, diag);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0, "setrlimit back: %s", strerror(errno));
	signal(SIGXFSZ, old_handler);
	return s;
}

static void test_atomic_save(void) {
	printf("atomic saving\n");
	struct nst_image im;
	fill_noise(&im, 128, 96, 3); /* ~37 KB in every format */
	int before = count_entries(tmpdir, NULL);

	/* a missing folder: NST_ERR_IO, nothing created */
	char *missing = tmp_path("missing-folder/out.png");
	char *missing_dir = tmp_path("missing-folder");
	EXPECT_FAIL_SAYING(nst_image_save(missing, &im, 0, diag), NST_ERR_IO, "No such file or directory");
	EXPECT_FAIL_SAYING(nst_image_save(missing, &im, 0, diag), NST_ERR_IO, missing);
	CHECK(!file_exists(missing) && !file_exists(missing_dir), "the missing folder appeared");
	CHECK(count_entries(tmpdir, NULL) == before, "a failed save created something");
	free(missing);
	free(missing_dir);

	/* unknown or no extension: NST_ERR_INVALID_ARGUMENT, nothing created or touched */
	char *xyz = tmp_path("out.xyz");
	EXPECT_FAIL_SAYING(nst_image_save(xyz, &im, 0, diag), NST_ERR_INVALID_ARGUMENT, "'.xyz'");
	CHECK(!file_exists(xyz), "out.xyz was created");
	write_file(xyz, "keep me", 7);
	EXPECT_FAIL(nst_image_save(xyz, &im, 0, diag), NST_ERR_INVALID_ARGUMENT);
	size_t n;
	uint8_t *kept = support_read_file(xyz, &n);
	CHECK(kept && n == 7 && memcmp(kept, "keep me", 7) == 0, "out.xyz was touched");
	free(kept);
	unlink(xyz);
	free(xyz);
	char *noext = tmp_path("no-extension");
	EXPECT_FAIL(nst_image_save(noext, &im, 0, diag), NST_ERR_INVALID_ARGUMENT);
	CHECK(!file_exists(noext), "no-extension was created");
	free(noext);
	char *dotdir = tmp_path("x.png/y");
	EXPECT_FAIL(nst_image_save(dotdir, &im, 0, diag), NST_ERR_INVALID_ARGUMENT); /* the dot is in the folder */
	free(dotdir);

	/* bad pictures and qualities */
	char *p = tmp_path("bad.png");
	struct nst_image empty = {0, 0, NULL}, no_pixels = {4, 4, NULL}, zero_width = {0, 4, im.rgb},
	                 negative = {-3, 4, im.rgb};
	EXPECT_FAIL(nst_image_save(p, &empty, 0, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_save(p, &no_pixels, 0, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_save(p, &zero_width, 0, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_save(p, &negative, 0, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_save(p, NULL, 0, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_save(NULL, &im, 0, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL(nst_image_save("", &im, 0, diag), NST_ERR_INVALID_ARGUMENT);
	EXPECT_FAIL_SAYING(nst_image_save(p, &im, 101, diag), NST_ERR_INVALID_ARGUMENT, "101");
	EXPECT_FAIL(nst_image_save(p, &im, -1, diag), NST_ERR_INVALID_ARGUMENT);
	CHECK(!file_exists(p), "a refused save created %s", p);
	free(p);

	/* A save that fails while writing leaves the existing picture byte-identical and no temporary. */
	const char *targets[] = {"keep.png", "keep.jpg", "keep.bmp", "keep.tga"};
	struct nst_image small;
	fill_noise(&small, 3, 2, 11);
	for (int i = 0; i < 4; i++) {
		char *t = tmp_path(targets[i]);
		CHECK(nst_image_save(t, &small, 0, NULL) == NST_OK, "save %s", t);
		size_t n0, n1;
		uint8_t *b0 = support_read_file(t, &n0);
		EXPECT_FAIL_SAYING(save_limited(t, &im, 4096, diag), NST_ERR_IO, "File too large");
		uint8_t *b1 = support_read_file(t, &n1);
		CHECK(b0 && b1 && n0 == n1 && memcmp(b0, b1, n0) == 0, "%s changed after a failed save", targets[i]);
		CHECK(count_temporaries(tmpdir) == 0, "a temporary was left after the failed save of %s", targets[i]);
		struct nst_image back = {0};
		CHECK(nst_image_load(t, &back, NULL) == NST_OK && back.width == 3 && back.height == 2,
		      "%s no longer loads", targets[i]);
		nst_image_free(&back);
		/* the same save without the limit succeeds: the failure was the limit's */
		CHECK(save_limited(t, &im, RLIM_INFINITY, NULL) == NST_OK, "save %s without a limit", targets[i]);
		unlink(t);
		free(t);
		free(b0);
		free(b1);
	}
	nst_image_free(&small);

	/* the target is a folder: rename fails, the folder stays, no temporary */
	char *folder = tmp_path("folder.png");
	CHECK(mkdir(folder, 0755) == 0, "mkdir %s", folder);
	EXPECT_FAIL(nst_image_save(folder, &im, 0, diag), NST_ERR_IO);
	struct stat st;
	CHECK(stat(folder, &st) == 0 && S_ISDIR(st.st_mode), "the folder is gone");
	CHECK(count_temporaries(tmpdir) == 0, "a temporary was left after saving over a folder");
	rmdir(folder);
	free(folder);

	CHECK(count_entries(tmpdir, NULL) == before, "saves left %d entries, want %d", count_entries(tmpdir, NULL),
	      before);
	nst_image_free(&im);
}

/* ---- sizes and resampling ---------------------------------------------------------------- */

static void test_fit(void) {
	printf("nst_image_fit\n");
	/* expected values from Python: max(1, round(side * (size / max(w, h)))), unchanged at size */
	static const int cases[][5] = {
		{512, 512, 256, 256, 256}, {451, 300, 256, 256, 170}, {1024, 640, 384, 384, 240},
		{1, 1000, 256, 1, 256},    {1000, 1, 256, 256, 1},    {960, 662, 512, 512, 353},
		{928, 514, 384, 384, 213}, {3, 2, 5, 5, 3},           {5, 3, 4, 4, 2},
		{7, 5, 2, 2, 1},           {999, 3, 2, 2, 1},         {300, 451, 100, 67, 100},
		{2, 1, 3, 3, 2},           /* 1.5 rounds to 2 */      {10, 5, 5, 5, 2}, /* 2.5 rounds to 2 (half to even) */
		{10, 7, 5, 5, 4},          /* 3.5 rounds to 4 */      {4, 3, 6, 6, 4},  /* 4.5 rounds to 4 */
		{5, 10, 5, 2, 5},          /* the same, width the shorter side */ {3, 4, 6, 4, 6},
		{7, 10, 5, 4, 5},          {6, 1, 4, 4, 1},           {512, 300, 512, 512, 300}, /* already at size: unchanged */
		{300, 512, 512, 300, 512}, {1, 1, 1, 1, 1},           {1, 1, 7, 7, 7},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int w = -1, h = -1;
		nst_image_fit(cases[i][0], cases[i][1], cases[i][2], &w, &h);
		CHECK(w == cases[i][3] && h == cases[i][4], "fit %dx%d to %d: %dx%d, want %dx%d", cases[i][0], cases[i][1],
		      cases[i][2], w, h, cases[i][3], cases[i][4]);
	}
	/* The style's long side is ceil(style_scale * size): 1.5 * 256 = 384 for starry_night. */
	int w, h;
	nst_image_fit(1024, 640, (int)ceil(1.5 * 256), &w, &h);
	CHECK(w == 384 && h == 240, "starry_night at style scale 1.5: %dx%d", w, h);
	/* non-positive arguments leave the size as it is */
	nst_image_fit(300, 200, 0, &w, &h);
	CHECK(w == 300 && h == 200, "fit to 0: %dx%d", w, h);
	nst_image_fit(0, 200, 100, &w, &h);
	CHECK(w == 0 && h == 200, "fit of 0x200: %dx%d", w, h);
	/* every size from 1 to 64 against the rule itself, and the longer side is exact */
	for (int a = 1; a <= 64; a++)
		for (int b = 1; b <= 64; b++) {
			nst_image_fit(a, b, 32, &w, &h);
			CHECK((a >= b ? w : h) == 32, "fit %dx%d to 32: %dx%d", a, b, w, h);
			CHECK(w >= 1 && h >= 1 && w <= 32 && h <= 32, "fit %dx%d to 32: %dx%d", a, b, w, h);
		}
}

static void test_resize(void) {
	printf("nst_image_resize\n");
	struct nst_image src, out = {0};
	fill_noise(&src, 40, 30, 9);

	/* same size: a copy */
	CHECK(nst_image_resize(&src, 40, 30, &out) == NST_OK, "same-size resize");
	CHECK(same_image(&src, &out) && out.rgb != src.rgb, "same size is not a plain copy");
	nst_image_free(&out);

	/* sizes */
	const int sizes[][2] = {{20, 15}, {17, 11}, {1, 1}, {80, 60}, {41, 29}, {200, 3}};
	for (int i = 0; i < 6; i++) {
		enum nst_status s = nst_image_resize(&src, sizes[i][0], sizes[i][1], &out);
		CHECK(s == NST_OK && out.width == sizes[i][0] && out.height == sizes[i][1] && out.rgb,
		      "resize to %dx%d: %s %dx%d", sizes[i][0], sizes[i][1], nst_status_string(s), out.width, out.height);
		nst_image_free(&out);
	}

	/* into the caller's buffer with the caller's scratch: the same bytes as nst_image_resize; a
	 * scratch one byte short is refused with the output untouched; the same size needs none */
	for (int i = 0; i < 6; i++) {
		const int w = sizes[i][0], h = sizes[i][1];
		const size_t bytes = nst_image_resize_scratch_bytes(src.width, src.height, w, h), n = (size_t)w * h * 3;
		uint8_t *scratch = malloc(bytes), *into = malloc(n);
		struct nst_image dst = {w, h, into};
		CHECK(bytes > 0 && nst_image_resize(&src, w, h, &out) == NST_OK, "resize to %dx%d: %zu scratch bytes", w, h,
		      bytes);
		CHECK(nst_image_resize_into(&src, &dst, scratch, bytes) == NST_OK && out.rgb && memcmp(into, out.rgb, n) == 0,
		      "resize into the caller's buffer at %dx%d: other bytes than nst_image_resize's", w, h);
		memset(into, 7, n);
		CHECK(nst_image_resize_into(&src, &dst, scratch, bytes - 1) == NST_ERR_INVALID_ARGUMENT && into[0] == 7 &&
		          into[n - 1] == 7,
		      "resize into %dx%d with a scratch one byte short: not refused, or the output touched", w, h);
		nst_image_free(&out);
		free(scratch);
		free(into);
	}
	{
		uint8_t *into = malloc(40 * 30 * 3);
		struct nst_image dst = {40, 30, into};
		CHECK(nst_image_resize_scratch_bytes(40, 30, 40, 30) == 0 && nst_image_resize_into(&src, &dst, NULL, 0) == NST_OK &&
		          memcmp(into, src.rgb, 40 * 30 * 3) == 0,
		      "same-size resize into the caller's buffer: not a copy without scratch");
		CHECK(nst_image_resize_scratch_bytes(0, 30, 40, 30) == 0 && nst_image_resize_into(&src, NULL, NULL, 0) ==
		          NST_ERR_INVALID_ARGUMENT, "resize into: bad arguments accepted");
		free(into);
	}

	/* a constant picture stays constant, shrinking or growing */
	struct nst_image flat = {13, 9, malloc(13 * 9 * 3)};
	for (int i = 0; i < 13 * 9; i++) {
		flat.rgb[3 * i] = 200;
		flat.rgb[3 * i + 1] = 17;
		flat.rgb[3 * i + 2] = 255;
	}
	const int flat_sizes[][2] = {{5, 4}, {40, 27}, {1, 1}, {13, 20}};
	for (int k = 0; k < 4; k++) {
		CHECK(nst_image_resize(&flat, flat_sizes[k][0], flat_sizes[k][1], &out) == NST_OK, "resize flat");
		int bad = 0;
		for (int i = 0; out.rgb && i < out.width * out.height; i++)
			bad += out.rgb[3 * i] != 200 || out.rgb[3 * i + 1] != 17 || out.rgb[3 * i + 2] != 255;
		CHECK(bad == 0, "flat picture at %dx%d: %d pixels changed", flat_sizes[k][0], flat_sizes[k][1], bad);
		nst_image_free(&out);
	}
	nst_image_free(&flat);

	/* a horizontal ramp halves to a ramp: non-decreasing, the same in every row, the mean kept */
	struct nst_image ramp = {64, 8, malloc(64 * 8 * 3)};
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 64; x++) memset(ramp.rgb + (y * 64 + x) * 3, 2 * x + 60, 3);
	CHECK(nst_image_resize(&ramp, 32, 4, &out) == NST_OK, "resize ramp");
	int bad = 0;
	double sum = 0;
	for (int y = 0; out.rgb && y < 4; y++)
		for (int x = 0; x < 32; x++) {
			const uint8_t *p = out.rgb + (y * 32 + x) * 3;
			bad += p[0] != p[1] || p[1] != p[2] || p[0] != out.rgb[x * 3];
			if (x > 0) bad += p[0] < p[-3];
			sum += p[0];
		}
	CHECK(bad == 0, "resized ramp is not a ramp (%d bad)", bad);
	CHECK(fabs(sum / 128 - (60 + 63)) < 1.0, "resized ramp mean %.2f, want %.2f", sum / 128, 60.0 + 63);
	nst_image_free(&out);
	nst_image_free(&ramp);

	/* bad arguments */
	struct nst_image none = {0};
	CHECK(nst_image_resize(&src, 0, 10, &out) == NST_ERR_INVALID_ARGUMENT, "resize to width 0");
	CHECK(nst_image_resize(&src, 10, -1, &out) == NST_ERR_INVALID_ARGUMENT, "resize to height -1");
	CHECK(nst_image_resize(&none, 10, 10, &out) == NST_ERR_INVALID_ARGUMENT, "resize of nothing");
	CHECK(nst_image_resize(NULL, 10, 10, &out) == NST_ERR_INVALID_ARGUMENT, "resize of NULL");
	CHECK(nst_image_resize(&src, 10, 10, NULL) == NST_ERR_INVALID_ARGUMENT, "resize into NULL");
	CHECK(nst_image_resize(&src, NST_MAX_IMAGE_SIDE + 1, 10, &out) == NST_ERR_IMAGE_TOO_LARGE, "resize too wide");
	CHECK(nst_image_resize(&src, 20000, 20000, &out) == NST_ERR_IMAGE_TOO_LARGE, "resize to too many pixels");
	CHECK(out.rgb == NULL, "failed resize left pixels");
	nst_image_free(&src);
}

/* nst_x_resize: nst_image_resize's filters on float pictures, without rounding or clamping;
 * nst_x_upsample: the same plus the detail of the finer picture. */
static void test_x_resize(void) {
	printf("nst_x_resize\n");
	enum { W = 40, H = 30, UP_W = 80, UP_H = 60, FLAT_W = 7, FLAT_H = 5 };
	const double FLAT_TOLERANCE = 1e-4;  /* float sums of filter weights that add up to 1 */
	const double ROUNDING_MAX = 1.0;     /* stb's 8-bit path rounds each value once */
	const float OUT_OF_RANGE = -312.625f, FRACTION = 0.375f; /* beyond 0..255, not an integer */
	struct nst_image src, up8 = {0};
	fill_noise(&src, W, H, 11);
	static float x[H][W][3], same[H][W][3], up[UP_H][UP_W][3];
	for (int y = 0; y < H; y++)
		for (int i = 0; i < W; i++)
			for (int c = 0; c < 3; c++) x[y][i][c] = src.rgb[(y * W + i) * 3 + c];

	/* the same size: an exact copy */
	CHECK(nst_x_resize(&x[0][0][0], W, H, &same[0][0][0], W, H) == NST_OK, "same-size resize");
	CHECK(memcmp(x, same, sizeof x) == 0, "the same size is not an exact copy");

	/* integer pictures in 0..255: the 8-bit resize is this one rounded */
	CHECK(nst_x_resize(&x[0][0][0], W, H, &up[0][0][0], UP_W, UP_H) == NST_OK, "upsample");
	CHECK(nst_image_resize(&src, UP_W, UP_H, &up8) == NST_OK, "8-bit upsample");
	double worst = 0, fraction = 0;
	for (int i = 0; up8.rgb && i < UP_W * UP_H * 3; i++) {
		const double v = (&up[0][0][0])[i];
		const double clamped = v < 0 ? 0 : v > 255 ? 255 : v;
		const double d = fabs(clamped - up8.rgb[i]), f = fabs(v - rint(v));
		if (d > worst) /* not fmax: GCC 12's aarch64 vectorizer crashes on these reductions */
			worst = d;
		if (f > fraction)
			fraction = f;
	}
	CHECK(worst <= ROUNDING_MAX, "float and 8-bit upsampling differ by %.3f", worst);
	CHECK(fraction > 0.1, "the float upsample looks rounded (largest fraction %.3f)", fraction);
	nst_image_free(&up8);

	/* values beyond 0..255 and fractions survive: a constant picture stays that constant */
	static float flat[FLAT_H][FLAT_W][3], flat_up[2 * FLAT_H + 1][3 * FLAT_W][3];
	for (int i = 0; i < FLAT_W * FLAT_H * 3; i++) (&flat[0][0][0])[i] = OUT_OF_RANGE + FRACTION * (float)(i % 3);
	CHECK(nst_x_resize(&flat[0][0][0], FLAT_W, FLAT_H, &flat_up[0][0][0], 3 * FLAT_W, 2 * FLAT_H + 1) == NST_OK,
	      "upsample flat");
	int bad = 0;
	for (int i = 0; i < (2 * FLAT_H + 1) * 3 * FLAT_W * 3; i++)
		if (fabs((&flat_up[0][0][0])[i] - (OUT_OF_RANGE + FRACTION * (float)(i % 3))) > FLAT_TOLERANCE)
			bad++;
	CHECK(bad == 0, "a constant float picture changed at %d values", bad);

	/* nst_x_upsample: a coarse picture, upsampled, plus the detail of the same picture is that
	 * picture at the fine size (BGR minus the mean as nst_session_get_x's; the mean cancels) */
	const float MEAN[3] = {103.939f, 116.779f, 123.68f};
	const double DETAIL_TOLERANCE = 1e-3; /* float sums of a few hundred */
	const float OFFSET = 7.25f;            /* a coarse result: the picture moved, off the 8-bit grid */
	struct nst_image fine, coarse;
	fill_noise(&fine, UP_W, UP_H, 12);
	CHECK(nst_image_resize(&fine, W, H, &coarse) == NST_OK, "coarse picture");
	for (int i = 0; coarse.rgb && i < W * H * 3; i++)
		(&x[0][0][0])[i] = (float)coarse.rgb[i - i % 3 + 2 - i % 3] - MEAN[i % 3] + OFFSET;
	CHECK(nst_x_upsample(&x[0][0][0], &coarse, &up[0][0][0], &fine) == NST_OK, "upsample with the detail");
	worst = 0;
	for (int i = 0; i < UP_W * UP_H * 3; i++)
	{
		const double d = fabs((&up[0][0][0])[i] - ((float)fine.rgb[i - i % 3 + 2 - i % 3] - MEAN[i % 3] + OFFSET));
		if (d > worst)
			worst = d;
	}
	CHECK(worst <= DETAIL_TOLERANCE, "upsampled + detail differs from the fine picture by %g", worst);
	CHECK(nst_x_upsample(NULL, &coarse, &up[0][0][0], &fine) == NST_ERR_INVALID_ARGUMENT, "upsample of NULL");
	CHECK(nst_x_upsample(&x[0][0][0], &coarse, NULL, &fine) == NST_ERR_INVALID_ARGUMENT, "upsample into NULL");
	CHECK(nst_x_upsample(&x[0][0][0], NULL, &up[0][0][0], &fine) == NST_ERR_INVALID_ARGUMENT, "no coarse picture");
	nst_image_free(&fine);
	nst_image_free(&coarse);

	/* bad arguments */
	CHECK(nst_x_resize(NULL, W, H, &up[0][0][0], UP_W, UP_H) == NST_ERR_INVALID_ARGUMENT, "resize of NULL");
	CHECK(nst_x_resize(&x[0][0][0], W, H, NULL, UP_W, UP_H) == NST_ERR_INVALID_ARGUMENT, "resize into NULL");
	CHECK(nst_x_resize(&x[0][0][0], 0, H, &up[0][0][0], UP_W, UP_H) == NST_ERR_INVALID_ARGUMENT, "from width 0");
	CHECK(nst_x_resize(&x[0][0][0], W, H, &up[0][0][0], UP_W, -1) == NST_ERR_INVALID_ARGUMENT, "to height -1");
	nst_image_free(&src);
}

static void test_free(void) {
	printf("nst_image_free\n");
	struct nst_image im;
	fill_noise(&im, 3, 3, 1);
	nst_image_free(&im);
	CHECK(im.rgb == NULL && im.width == 0 && im.height == 0, "free did not zero the image");
	nst_image_free(&im); /* twice is harmless */
	nst_image_free(NULL);
}

/* ---- the shared pictures ------------------------------------------------------------------ */

static uint64_t fnv1a(const uint8_t *p, size_t n) {
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void test_shared(const char *images) {
	printf("pictures in %s\n", images);
	/* sizes from SOURCES.md; PIL's convert('RGB') pixels: FNV-1a 64 of every byte (the JPEGs too:
	 * both decode them with libjpeg-turbo's defaults), and the channel means */
	static const struct {
		const char *file;
		int width, height;
		uint64_t pil_fnv;
		double pil_mean[3];
	} pictures[] = {
		{"astronaut.png", 512, 512, 0xfa4e6bff08e5e8fbull, {141.56249237, 105.75944519, 96.47507477}},
		{"chelsea.png", 451, 300, 0xb2179687966157a8ull, {147.67308943, 111.44447894, 86.79785661}},
		{"starry_night.jpg", 1024, 640, 0x36813fc50a7b195dull, {86.26364288, 113.87021027, 125.41635742}},
		{"shipwreck.jpg", 960, 662, 0xe0270ad2ae45ee8aull, {78.49175478, 85.87020707, 59.5774657}},
		{"great_wave.jpg", 928, 514, 0xd9def87a300113f2ull, {153.57488595, 159.86936259, 143.6083079}},
	};
	char *sources_path = path_in(images, "SOURCES.md");
	size_t sources_size;
	uint8_t *sources = support_read_file(sources_path, &sources_size);
	CHECK(sources != NULL, "cannot read %s", sources_path);
	char *text = sources ? realloc(sources, sources_size + 1) : NULL;
	if (text) text[sources_size] = '\0';
	for (size_t i = 0; i < sizeof pictures / sizeof pictures[0]; i++) {
		/* the row of SOURCES.md names the same size */
		if (text) {
			char row[64], dims[32];
			snprintf(row, sizeof row, "| %s |", pictures[i].file);
			snprintf(dims, sizeof dims, "%dx%d", pictures[i].width, pictures[i].height);
			const char *at = strstr(text, row);
			const char *eol = at ? strchr(at, '\n') : NULL;
			const char *d = at ? strstr(at, dims) : NULL;
			CHECK(at && d && (!eol || d < eol), "SOURCES.md does not give %s for %s", dims, pictures[i].file);
		}
		char *p = path_in(images, pictures[i].file);
		struct nst_diag d = {{0}};
		int w = 0, h = 0;
		enum nst_status s = nst_image_info(p, &w, &h, &d);
		CHECK(s == NST_OK && w == pictures[i].width && h == pictures[i].height, "info %s: %s %dx%d %s", p,
		      nst_status_string(s), w, h, d.message);
		struct nst_image im = {0};
		s = nst_image_load(p, &im, &d);
		CHECK(s == NST_OK && im.width == pictures[i].width && im.height == pictures[i].height, "load %s: %s %dx%d %s",
		      p, nst_status_string(s), im.width, im.height, d.message);
		if (s == NST_OK) {
			size_t n = (size_t)im.width * im.height;
			if (pictures[i].pil_fnv) {
				uint64_t got = fnv1a(im.rgb, n * 3);
				CHECK(got == pictures[i].pil_fnv, "%s: pixels differ from PIL's (fnv %016llx)", p,
				      (unsigned long long)got);
			}
			double mean[3] = {0, 0, 0};
			for (size_t k = 0; k < n; k++)
				for (int c = 0; c < 3; c++) mean[c] += im.rgb[3 * k + c];
			for (int c = 0; c < 3; c++) {
				mean[c] /= (double)n;
				CHECK(fabs(mean[c] - pictures[i].pil_mean[c]) < 0.5, "%s: channel %d mean %.3f, PIL %.3f", p, c,
				      mean[c], pictures[i].pil_mean[c]);
			}
			printf("  %-18s %4dx%-4d means %.2f %.2f %.2f (PIL %.2f %.2f %.2f) fnv %016llx\n", pictures[i].file,
			       im.width, im.height, mean[0], mean[1], mean[2], pictures[i].pil_mean[0], pictures[i].pil_mean[1],
			       pictures[i].pil_mean[2], (unsigned long long)fnv1a(im.rgb, n * 3));
		}
		nst_image_free(&im);
		free(p);
	}
	free(text ? text : (char *)sources);
	free(sources_path);
}

/* PNM is read by the library itself (stb_image 2.27 reads past its buffers on 16-bit and
 * truncated files): 8- and 16-bit, grey and RGB, comments in the header, every way to be short. */
static void test_pnm(void) {
	struct nst_image im = {0};
	/* P6, maxval 255, a comment between fields: bytes pass through. */
	static const char p6[] = "P6\n# made by hand\n2 1\n255\n\x0a\x14\x1e\xff\x00\x80";
	CHECK(nst_image_decode((const uint8_t *)p6, sizeof p6 - 1, &im, NULL) == NST_OK, "8-bit P6");
	static const uint8_t want6[] = {10, 20, 30, 255, 0, 128};
	CHECK(im.width == 2 && im.height == 1 && memcmp(im.rgb, want6, sizeof want6) == 0, "8-bit P6 pixels");
	nst_image_free(&im);
	/* P5, maxval 65535, big-endian samples, scaled and rounded to 0..255 and copied to RGB. */
	static const char p5[] = "P5 3 1 65535\n\x00\x00\x80\x00\xff\xff";
	CHECK(nst_image_decode((const uint8_t *)p5, sizeof p5 - 1, &im, NULL) == NST_OK, "16-bit P5");
	static const uint8_t want5[] = {0, 0, 0, 128, 128, 128, 255, 255, 255};
	CHECK(im.width == 3 && im.height == 1 && memcmp(im.rgb, want5, sizeof want5) == 0,
	      "16-bit P5 pixels: %d %d %d", im.rgb ? im.rgb[0] : -1, im.rgb ? im.rgb[3] : -1, im.rgb ? im.rgb[6] : -1);
	nst_image_free(&im);
	/* maxval 15: 15 -> 255, 7 -> 119 (7 * 255 / 15 = 119). */
	static const char p5_15[] = "P5 2 1 15\n\x0f\x07";
	CHECK(nst_image_decode((const uint8_t *)p5_15, sizeof p5_15 - 1, &im, NULL) == NST_OK && im.rgb[0] == 255 &&
	          im.rgb[3] == 119, "P5 maxval 15");
	nst_image_free(&im);

	int w = -1, h = -1;
	char path[600];
	snprintf(path, sizeof path, "%s/short.ppm", tmpdir);
	static const char short6[] = "P6\n8 8\n255\n\x01\x02\x03";
	write_file(path, short6, sizeof short6 - 1);
	CHECK(nst_image_info(path, &w, &h, NULL) == NST_OK && w == 8 && h == 8, "info of a truncated PPM reads its header");
	EXPECT_FAIL_SAYING(nst_image_load(path, &im, diag), NST_ERR_NOT_AN_IMAGE, "truncated PNM");
	static const char short16[] = "P5 2 2 1000\n\x01\x02\x03\x04\x05\x06\x07";
	EXPECT_FAIL_SAYING(nst_image_decode((const uint8_t *)short16, sizeof short16 - 1, &im, diag), NST_ERR_NOT_AN_IMAGE,
	                   "truncated PNM");
	static const char no_maxval[] = "P6 4 4";
	EXPECT_FAIL_SAYING(nst_image_decode((const uint8_t *)no_maxval, sizeof no_maxval - 1, &im, diag),
	                   NST_ERR_NOT_AN_IMAGE, "PNM header");
	static const char maxval0[] = "P5 1 1 0\n\x00";
	EXPECT_FAIL_SAYING(nst_image_decode((const uint8_t *)maxval0, sizeof maxval0 - 1, &im, diag), NST_ERR_NOT_AN_IMAGE,
	                   "maxval 0");
	static const char ascii[] = "P3 1 1 255 1 2 3\n";
	EXPECT_FAIL_SAYING(nst_image_decode((const uint8_t *)ascii, sizeof ascii - 1, &im, diag), NST_ERR_NOT_AN_IMAGE,
	                   "P3 is not supported");
	static const char huge[] = "P6 100000 100000 255\n";
	EXPECT_FAIL(nst_image_decode((const uint8_t *)huge, sizeof huge - 1, &im, diag), NST_ERR_IMAGE_TOO_LARGE);
	static const char empty[] = "P5 0 4 255\n";
	EXPECT_FAIL(nst_image_decode((const uint8_t *)empty, sizeof empty - 1, &im, diag), NST_ERR_NOT_AN_IMAGE);
	CHECK(im.rgb == NULL, "a refused PNM left pixels");

	/* An uncompressed true-colour TGA, 2x2 at 24 bits, with one pixel's bytes: refused. */
	static const uint8_t tga[] = {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0x20, 1, 2, 3};
	EXPECT_FAIL_SAYING(nst_image_decode(tga, sizeof tga, &im, diag), NST_ERR_NOT_AN_IMAGE, "truncated TGA");
	/* The same header with all four pixels decodes (BGR in the file). */
	uint8_t full[sizeof tga + 9];
	memcpy(full, tga, sizeof tga);
	for (size_t i = sizeof tga; i < sizeof full; i++) full[i] = (uint8_t)i;
	CHECK(nst_image_decode(full, sizeof full, &im, NULL) == NST_OK && im.width == 2 && im.rgb[0] == 3 &&
	          im.rgb[2] == 1, "complete TGA");
	nst_image_free(&im);
}

int main(void) {
	snprintf(tmpdir, sizeof tmpdir, "/tmp/nst-test-image-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	const char *shared = check_env("NST_SHARED", "../shared");
	char *images = path_in(shared, "images");
	char *probe = path_in(images, "SOURCES.md");
	bool have_images = file_exists(probe);
	free(probe);
	if (!have_images) printf("note: %s is not there; the checks on the shared pictures are skipped\n", images);

	test_missing_file();
	test_directory();
	test_empty_file();
	test_text_file();
	test_pnm();
	test_truncated(have_images ? images : NULL);
	test_too_large(have_images ? images : NULL);
	test_zero_size();
	test_bad_arguments();
	test_conversions();
	test_info_far_header();
	test_request();
	test_png_extra_data();
	test_exif();
	test_truncated_stb_formats();
	test_streams();
	test_round_trips();
	test_stdio();
	test_atomic_save();
	test_fit();
	test_resize();
	test_x_resize();
	test_free();
	if (have_images) test_shared(images);

	CHECK(count_temporaries(tmpdir) == 0, "temporary files left in %s", tmpdir);
	support_rmdir(tmpdir);
	CHECK(!file_exists(tmpdir), "%s was not removed", tmpdir);
	free(images);
	return check_finish("test_image");
}
