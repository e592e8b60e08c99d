/* libFuzzer harness for picture loading (src/image.c): the input is a file's bytes.
 *
 *   1. nst_image_info on the bytes written to a file (the header-only path), then
 *   2. nst_image_decode on the bytes in memory;
 *   3. if they decode: a small resize, then an encode (PNG, BMP or TGA, by the input's length) to
 *      a file and a decode of that file, which must give the resized pixels back exactly.
 *
 * Besides what ASan and UBSan catch, it aborts (a crash to libFuzzer) when the library breaks
 * its own contract: a status that the call cannot return, an empty or unterminated diag message,
 * info and decode disagreeing about the same bytes, a size outside the limits, a lossless round
 * trip that changes a pixel.
 *
 * Pictures whose header claims more than FUZZ_MAX_PIXELS are checked by info only: decoding them
 * allocates their full size (up to NST_MAX_IMAGE_PIXELS * 4 bytes, by design), which would make
 * libFuzzer report out-of-memory instead of finding bugs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nst.h"
#include "fuzz_common.h"

#define FUZZ_MAX_PIXELS ((int64_t)1 << 20)
#define FUZZ_RESIZE_SIDE 13 /* odd, so that both shrinking and enlarging filters run */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool decode_failure_expected(enum nst_status st) {
	return st == NST_ERR_NOT_AN_IMAGE || st == NST_ERR_IMAGE_TOO_LARGE || st == NST_ERR_OUT_OF_MEMORY;
}

static void round_trip(const struct nst_image *small, size_t selector) {
	static const char *const names[] = {"out.png", "out.bmp", "out.tga"};
	const char *name = names[selector % 3];
	char path[512];
	snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
	struct nst_diag diag = {{0}};
	enum nst_status st = nst_image_save(path, small, 0, &diag);
	if (st != NST_OK) fuzz_die("saving %dx%d as %s: %s: %s", small->width, small->height, name,
	                           nst_status_string(st), diag.message);
	struct nst_image back = {0};
	st = nst_image_load(path, &back, &diag);
	if (st != NST_OK) fuzz_die("reading back our own %s: %s: %s", name, nst_status_string(st), diag.message);
	if (back.width != small->width || back.height != small->height)
		fuzz_die("%s round trip: %dx%d became %dx%d", name, small->width, small->height, back.width, back.height);
	if (memcmp(back.rgb, small->rgb, (size_t)small->width * (size_t)small->height * 3) != 0)
		fuzz_die("%s round trip changed pixels", name);
	nst_image_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	/* 1. the header, from a file */
	char path[512];
	fuzz_write_file("in", data, size, path, sizeof path);
	struct nst_diag info_diag = {{0}};
	int iw = -1, ih = -1;
	const enum nst_status info = nst_image_info(path, &iw, &ih, &info_diag);
	if (info == NST_OK) {
		if (iw < 1 || ih < 1 || iw > NST_MAX_IMAGE_SIDE || ih > NST_MAX_IMAGE_SIDE ||
		    (int64_t)iw * ih > NST_MAX_IMAGE_PIXELS)
			fuzz_die("nst_image_info accepted %dx%d", iw, ih);
		if ((int64_t)iw * ih > FUZZ_MAX_PIXELS) return 0;
	} else {
		if (!decode_failure_expected(info) || info == NST_ERR_OUT_OF_MEMORY)
			fuzz_die("nst_image_info returned %s: %s", nst_status_string(info), info_diag.message);
		fuzz_check_diag(&info_diag, info);
	}

	/* 2. the whole picture, from memory */
	struct nst_diag diag = {{0}};
	struct nst_image image = {.width = -7, .height = -7, .rgb = (uint8_t *)&diag};
	const enum nst_status st = nst_image_decode(data, size, &image, &diag);
	if (st != NST_OK) {
		if (!decode_failure_expected(st))
			fuzz_die("nst_image_decode returned %s: %s", nst_status_string(st), diag.message);
		fuzz_check_diag(&diag, st);
		if (image.rgb || image.width || image.height) fuzz_die("a failed decode left an image behind");
		/* info reads the same bytes through the same header check: it fails the same way, or
		 * passes (a good header over bad pixel data). */
		if (info != NST_OK && info != st)
			fuzz_die("info says %s, decode says %s", nst_status_string(info), nst_status_string(st));
		return 0;
	}
	if (info != NST_OK)
		fuzz_die("decoded %dx%d, but info refused the same bytes: %s", image.width, image.height,
		         info_diag.message);
	if (image.width != iw || image.height != ih)
		fuzz_die("info says %dx%d, decode gave %dx%d", iw, ih, image.width, image.height);
	if (!image.rgb) fuzz_die("decode returned OK without pixels");
	/* Touch every byte, so that ASan sees a buffer shorter than [h][w][3] and MSan-like junk shows
	 * up as a data-dependent branch. */
	unsigned sum = 0;
	for (size_t i = 0; i < (size_t)image.width * (size_t)image.height * 3; i++) sum += image.rgb[i];
	(void)sum;

	/* 3. resize small, encode, decode again */
	int rw, rh;
	nst_image_fit(image.width, image.height, FUZZ_RESIZE_SIDE, &rw, &rh);
	if (rw < 1 || rh < 1 || (rw != FUZZ_RESIZE_SIDE && rh != FUZZ_RESIZE_SIDE))
		fuzz_die("nst_image_fit(%d, %d, %d) gave %dx%d", image.width, image.height, FUZZ_RESIZE_SIDE, rw, rh);
	struct nst_image small = {0};
	const enum nst_status rs = nst_image_resize(&image, rw, rh, &small);
	if (rs != NST_OK) fuzz_die("resizing %dx%d to %dx%d: %s", image.width, image.height, rw, rh, nst_status_string(rs));
	if (small.width != rw || small.height != rh || !small.rgb) fuzz_die("resize gave the wrong picture");
	round_trip(&small, size);
	nst_image_free(&small);
	nst_image_free(&image);
	if (image.rgb || image.width) fuzz_die("nst_image_free did not clear the image");
	return 0;
}
