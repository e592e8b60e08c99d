/*
 * The stb libraries, and only they: stb_image (BMP, TGA, GIF, PSD), stb_image_write (PNG, JPEG,
 * BMP, TGA) and stb_image_resize.  Debian's libstb-dev headers, compiled here only, with static
 * linkage (so they never clash with another copy of stb in the application), without SIMD (so
 * that x86 and ARM give the same bytes) and without their stdio layer.
 *
 * This file is alone in being built with -fwrapv and, in sanitizer builds, without the shift,
 * signed-overflow and float-cast checks (see the Makefile): stb's arithmetic on corrupt pictures
 * is not all defined.  Everything the project writes itself (src/image*.c) is checked in full.
 *
 * stb_image's allocations are charged to the decode's budget (src/image_decode.h) through
 * STBI_MALLOC / STBI_REALLOC / STBI_FREE.  Those macros have no context argument, so the budget
 * of the decode in progress is a _Thread_local pointer, set by stb_decode for the length of the
 * call and NULL otherwise: the one piece of mutable state here, per thread, so that decodes on
 * several threads never share it.
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "image_decode.h"

static _Thread_local struct image_budget *stb_budget;

/* Zeroed: stb_image 2.27 reads some of its buffers before writing them when a file is corrupt (a
 * truncated TGA's pixels); zeroed, a corrupt file decodes to the same wrong pixels every time,
 * never to whatever the heap held. */
static void *stb_malloc(size_t bytes) { return image_budget_malloc(stb_budget, bytes, true); }
static void *stb_realloc(void *pointer, size_t bytes) { return image_budget_realloc(stb_budget, pointer, bytes); }
static void stb_free(void *pointer) { image_budget_free(stb_budget, pointer); }

#define STBI_MAX_DIMENSIONS NST_MAX_IMAGE_SIDE
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_SIMD
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_GIF
#define STBI_ONLY_PSD
#define STBI_MALLOC(bytes) stb_malloc(bytes)
#define STBI_REALLOC(pointer, bytes) stb_realloc((pointer), (bytes))
#define STBI_FREE(pointer) stb_free(pointer)
#define STB_IMAGE_IMPLEMENTATION

#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION

/* stb_image_resize's one allocation per call: the caller's scratch if it has one (nothing is
 * allocated; too small a scratch fails the call before it touches a pixel, with the size it asked
 * for recorded), else malloc. */
static void *stb_scratch_take(size_t bytes, struct stb_scratch *scratch) {
	if (!scratch)
		return malloc(bytes);
	scratch->asked = bytes;
	return bytes <= scratch->capacity ? scratch->memory : NULL;
}
static void stb_scratch_give(void *pointer, struct stb_scratch *scratch) {
	if (!scratch)
		free(pointer);
}

#define STB_IMAGE_RESIZE_STATIC
#define STBIR_MALLOC(bytes, context) stb_scratch_take((bytes), (context))
#define STBIR_FREE(pointer, context) stb_scratch_give((pointer), (context))
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

enum stb_format stb_format(const uint8_t *bytes, size_t size) {
	if (size > (size_t)INT_MAX) return STB_NONE;
	stbi__context s;
	stbi__start_mem(&s, bytes, (int)size);
	/* stb_image's own order of trial (stbi__load_main): TGA, which has no signature, last. */
	if (stbi__bmp_test(&s)) return STB_BMP;
	if (stbi__gif_test(&s)) return STB_GIF;
	if (stbi__psd_test(&s)) return STB_PSD;
	if (stbi__tga_test(&s)) return STB_TGA;
	return STB_NONE;
}

bool stb_info(const uint8_t *bytes, size_t size, int *width, int *height) {
	int components;
	return size <= (size_t)INT_MAX && stbi_info_from_memory(bytes, (int)size, width, height, &components);
}

enum nst_status stb_decode(const char *name, const char *format, const uint8_t *bytes, size_t size,
                           struct image_budget *budget, struct image_pixels *out, struct nst_diag *diag) {
	int w = 0, h = 0, components = 0;
	stb_budget = budget;
	uint8_t *rgb = stbi_load_from_memory(bytes, (int)size, &w, &h, &components, 3); // [h][w][3]
	stb_budget = NULL;
	if (!rgb) {
		const char *reason = stbi_failure_reason();
		if (!reason || !*reason) reason = "no reason given";
		if (strcmp(reason, "outofmem") == 0)
			return image_over_budget(name, format, 0, budget, diag);
		if (strcmp(reason, "too large") == 0)
			return nst_fail(diag, NST_ERR_IMAGE_TOO_LARGE, "%s: too large to decode (stb: %s)", name, reason);
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated or corrupt %s (stb: %s)", name, format, reason);
	}
	*out = (struct image_pixels){rgb, w, h};
	return NST_OK;
}

int stb_encode(enum picture_format format, const struct nst_image *image, int quality, stbi_write_func *write,
               void *context) {
	switch (format) {
	case FORMAT_PNG:
		return stbi_write_png_to_func(write, context, image->width, image->height, 3, image->rgb, image->width * 3);
	case FORMAT_JPEG:
		return stbi_write_jpg_to_func(write, context, image->width, image->height, 3, image->rgb, quality);
	case FORMAT_BMP:
		return stbi_write_bmp_to_func(write, context, image->width, image->height, 3, image->rgb);
	case FORMAT_TGA:
		return stbi_write_tga_to_func(write, context, image->width, image->height, 3, image->rgb);
	}
	return 0;
}

bool stb_resize_rgb8(const uint8_t *src, int src_width, int src_height, uint8_t *dst, int width, int height,
                     struct stb_scratch *scratch) {
	return stbir_resize_uint8_generic(src, src_width, src_height, src_width * 3, dst, width, height, width * 3, 3,
	                                  STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP, STBIR_FILTER_DEFAULT,
	                                  STBIR_COLORSPACE_LINEAR, scratch) != 0;
}

bool stb_resize_rgb_float(const float *src, int src_width, int src_height, float *dst, int width, int height) {
	return stbir_resize_float_generic(src, src_width, src_height, src_width * 3 * (int)sizeof(float), dst, width,
	                                  height, width * 3 * (int)sizeof(float), 3, STBIR_ALPHA_CHANNEL_NONE, 0,
	                                  STBIR_EDGE_CLAMP, STBIR_FILTER_DEFAULT, STBIR_COLORSPACE_LINEAR, NULL) != 0;
}

/* stb_image 2.27 declares stbi_set_unpremultiply_on_load_thread and, with STBI_WRITE_NO_STDIO,
 * stb_image_write declares stbi_write_hdr_to_func without defining them.  With static linkage GCC
 * reports "declared 'static' but never defined" at the end of the file, where the state of the
 * diagnostic pragmas around the #includes no longer applies; this silences only that report
 * (unused functions that are defined are judged where they are defined). */
#pragma GCC diagnostic ignored "-Wunused-function"
