/* libFuzzer harness for picture loading (src/image*.c): the input is a file's bytes.
 *
 *   1. nst_image_info on the bytes written to a file (the header-only path), then
 *   2. nst_image_decode_for on the bytes in memory, within FUZZ_BUDGET, for a long side picked by
 *      the input's length (0: full size; small ones: the reducing paths, DCT scaling, row-by-row
 *      area means, EXIF orientation on the reduced picture), then
 *   3. nst_image_load_for on the file with a budget of FUZZ_TIGHT_BUDGET (the file's bytes
 *      charged, most decoders refused part way: every failure path must free what it took);
 *   4. if it decoded: a small resize, then an encode (PNG, BMP or TGA, by the input's length) to a
 *      file and a decode of that file, which must give the resized pixels back exactly.
 *
 * The budget is the harness's allocation cap: no decode may hold more than FUZZ_BUDGET bytes,
 * whatever the header claims (fuzz.sh also runs this harness with -malloc_limit_mb and a low
 * -rss_limit_mb, so that an allocation the budget failed to count is reported as a crash).
 *
 * Besides what ASan and UBSan catch, it aborts (a crash to libFuzzer) when the library breaks
 * its own contract: a status that the call cannot return, an empty or unterminated diag message,
 * info and decode disagreeing about the same bytes, a size outside the limits or the request, a
 * lossless round trip that changes a pixel. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nst.h"
#include "fuzz_common.h"

#define FUZZ_BUDGET ((size_t)32 << 20)
#define FUZZ_TIGHT_BUDGET ((size_t)48 << 10)
#define FUZZ_RESIZE_SIDE 13 /* odd, so that both shrinking and enlarging filters run */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool decode_failure_expected(enum nst_status st) {
	return st == NST_ERR_NOT_AN_IMAGE || st == NST_ERR_IMAGE_TOO_LARGE || st == NST_ERR_OVER_MEMORY_LIMIT;
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

/* A decoded picture against its request: its own size is info's, and it is that size or reduced
 * to no less than the long side. */
static void check_decoded(const struct nst_image *image, const struct nst_image_request *request, int iw, int ih) {
	if (!image->rgb) fuzz_die("decode returned OK without pixels");
	if (request->width != iw || request->height != ih)
		fuzz_die("info says %dx%d, the request's own size is %dx%d", iw, ih, request->width, request->height);
	const int full_long = iw > ih ? iw : ih, long_side = image->width > image->height ? image->width : image->height;
	if (image->width < 1 || image->height < 1 || image->width > iw || image->height > ih)
		fuzz_die("decoded %dx%d of a %dx%d picture", image->width, image->height, iw, ih);
	if (request->long_side == 0 ? image->width != iw || image->height != ih
	                            : long_side < (request->long_side < full_long ? request->long_side : full_long))
		fuzz_die("decoded %dx%d of a %dx%d picture for a long side of %d", image->width, image->height, iw, ih,
		         request->long_side);
	/* Touch every byte, so that ASan sees a buffer shorter than [h][w][3] and MSan-like junk shows
	 * up as a data-dependent branch. */
	unsigned sum = 0;
	for (size_t i = 0; i < (size_t)image->width * (size_t)image->height * 3; i++) sum += image->rgb[i];
	(void)sum;
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
	} else {
		if (info != NST_ERR_NOT_AN_IMAGE && info != NST_ERR_IMAGE_TOO_LARGE)
			fuzz_die("nst_image_info returned %s: %s", nst_status_string(info), info_diag.message);
		fuzz_check_diag(&info_diag, info);
	}

	/* 2. the whole picture, from memory, for a long side and within the budget */
	static const int long_sides[] = {0, FUZZ_RESIZE_SIDE, 1, 4};
	struct nst_image_request request = {long_sides[size % 4], FUZZ_BUDGET, -7, -7};
	struct nst_diag diag = {{0}};
	struct nst_image image = {.width = -7, .height = -7, .rgb = (uint8_t *)&diag};
	const enum nst_status st = nst_image_decode_for(data, size, &request, &image, &diag);
	if (st != NST_OK) {
		if (!decode_failure_expected(st))
			fuzz_die("nst_image_decode_for returned %s: %s", nst_status_string(st), diag.message);
		fuzz_check_diag(&diag, st);
		if (image.rgb || image.width || image.height) fuzz_die("a failed decode left an image behind");
		/* info reads the same bytes through the same header check: it fails the same way, or
		 * passes (a good header over bad pixel data, or over more pixels than the budget). */
		if (info != NST_OK && info != st)
			fuzz_die("info says %s, decode says %s", nst_status_string(info), nst_status_string(st));
	} else {
		if (info != NST_OK)
			fuzz_die("decoded %dx%d, but info refused the same bytes: %s", image.width, image.height,
			         info_diag.message);
		check_decoded(&image, &request, iw, ih);
	}

	/* 3. from the file, within a budget that refuses most decodes part way */
	struct nst_image_request tight = {FUZZ_RESIZE_SIDE, FUZZ_TIGHT_BUDGET, 0, 0};
	struct nst_image small_load = {0};
	struct nst_diag tight_diag = {{0}};
	const enum nst_status tst = nst_image_load_for(path, &tight, &small_load, &tight_diag);
	if (tst == NST_OK) {
		if (info != NST_OK) fuzz_die("loaded within %zu bytes, but info refused the bytes", FUZZ_TIGHT_BUDGET);
		check_decoded(&small_load, &tight, iw, ih);
		nst_image_free(&small_load);
	} else {
		if (!decode_failure_expected(tst))
			fuzz_die("nst_image_load_for returned %s: %s", nst_status_string(tst), tight_diag.message);
		fuzz_check_diag(&tight_diag, tst);
		if (small_load.rgb) fuzz_die("a failed load left pixels behind");
	}
	if (st != NST_OK) return 0;

	/* 4. resize small, encode, decode again */
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
