/*
 * What a run optimizes toward, and from where: the content picture and its features (the content
 * targets), the style pictures' Gram matrices blended into the style targets (whole, or region by
 * region for pictures larger than the arena allows), the style geometry those regions must
 * respect, the init picture, and nst_session_prepare, which normalises the targets and sets the
 * starting picture.
 */
#include <math.h>
#include <string.h>

#include "session.h"

#define RANDOM_INIT_SCALE 1e-3

enum nst_status nst_session_set_content(struct nst_session *s, const uint8_t *rgb) {
	if (!s || !rgb)
		return NST_ERR_INVALID_ARGUMENT;
	memcpy(s->content_rgb, rgb, s->n);
	s->content_set = true;
	s->prepared = false;
	return NST_OK;
}

enum nst_status nst_session_set_style(struct nst_session *s, int index, const uint8_t *rgb, float blend) {
	if (!s || !rgb || index < 0 || index >= s->problem.n_styles || !isfinite(blend) || blend < 0.0f)
		return NST_ERR_INVALID_ARGUMENT;
	if (s->style_set[index])
		return NST_ERR_INVALID_ARGUMENT; /* each style once: its Gram is added into the targets now */
	const int h = s->problem.style_height[index], w = s->problem.style_width[index];
	nst_vgg_preprocess(rgb, (size_t)h * (size_t)w, s->staging);
	const int32_t key[3] = {index, w, h};
	s->style_crc = nst_crc32(s->style_crc, key, sizeof key);
	s->style_crc = nst_crc32(s->style_crc, &blend, sizeof blend);
	s->style_crc = nst_crc32(s->style_crc, rgb, (size_t)h * (size_t)w * RGB);
	struct pass pass = {.mode = PASS_TARGET_STYLE, .blend = blend};
	if (s->n_layers > 0)
		nst_vgg_forward(s, s->staging, h, w, &pass);
	s->blend_sum += blend;
	s->style_set[index] = true;
	s->prepared = false;
	return NST_OK;
}

/* The pooling factor at the deepest style layer and the receptive radius of its features, in
 * input pixels (each 3x3 convolution reaches pad * factor further, each 2x2 pooling factor more). */
static void style_reach(const struct nst_session *s, int *alignment, int *radius) {
	int deepest = -1;
	for (int i = 0; i < s->n_losses; i++)
		if (s->losses[i].style && s->losses[i].layer > deepest)
			deepest = s->losses[i].layer;
	int factor = 1, reach = 0;
	for (int i = 0; i <= deepest; i++) {
		reach += s->layers[i].shape.pad * factor;
		if (s->layers[i].pool_after && i < deepest) {
			reach += factor;
			factor *= 2;
		}
	}
	*alignment = factor;
	*radius = reach;
}

enum nst_status nst_style_geometry(const struct nst_weights *w, const struct nst_options *o, int *alignment,
                                   int *halo, struct nst_diag *diag) {
	/* Any size the network accepts: the geometry depends on the layers only. */
	const int side = 1 << VGG_MAX_BLOCK;
	const struct nst_problem p = {side, side, o->n_style_layers > 0 ? 1 : 0, {side}, {side}};
	struct nst_session s;
	const enum nst_status st = nst_configure(&s, w, o, &p, diag);
	if (st != NST_OK)
		return st;
	int radius;
	style_reach(&s, alignment, &radius);
	*halo = (radius + *alignment - 1) / *alignment * *alignment;
	return NST_OK;
}

static bool rect_inside(const struct nst_rect *r, int x, int y, int w, int h) {
	return r->width > 0 && r->height > 0 && r->x >= x && r->y >= y && r->x + r->width <= x + w &&
	       r->y + r->height <= y + h;
}

enum nst_status nst_session_add_style_region(struct nst_session *s, int index, const uint8_t *rgb,
                                             const struct nst_rect *crop, const struct nst_rect *own, int whole_width,
                                             int whole_height, float blend) {
	if (!s || !rgb || !crop || !own || index < 0 || index >= s->problem.n_styles || !isfinite(blend) || blend < 0.0f)
		return NST_ERR_INVALID_ARGUMENT;
	if (s->style_set[index] && !s->style_by_region[index])
		return NST_ERR_INVALID_ARGUMENT; /* its whole Gram is in the targets already */
	if (!rect_inside(crop, 0, 0, whole_width, whole_height) || !rect_inside(own, crop->x, crop->y, crop->width, crop->height) ||
	    crop->width > s->problem.style_width[index] || crop->height > s->problem.style_height[index])
		return NST_ERR_INVALID_ARGUMENT;
	int alignment, radius;
	style_reach(s, &alignment, &radius);
	const bool aligned = crop->x % alignment == 0 && crop->y % alignment == 0 && own->x % alignment == 0 &&
	                     own->y % alignment == 0 &&
	                     ((own->x + own->width) % alignment == 0 || own->x + own->width == whole_width) &&
	                     ((own->y + own->height) % alignment == 0 || own->y + own->height == whole_height);
	if (!aligned)
		return NST_ERR_INVALID_ARGUMENT;
	const int32_t key[11] = {index, crop->x, crop->y, crop->width, crop->height, own->x, own->y, own->width,
	                         own->height, whole_width, whole_height};
	s->style_crc = nst_crc32(s->style_crc, key, sizeof key);
	s->style_crc = nst_crc32(s->style_crc, &blend, sizeof blend);
	s->style_crc = nst_crc32(s->style_crc, rgb, (size_t)crop->width * (size_t)crop->height * RGB);
	nst_vgg_preprocess(rgb, (size_t)crop->width * (size_t)crop->height, s->staging);
	struct pass pass = {.mode = PASS_TARGET_STYLE, .blend = blend, .crop = crop, .own = own,
	                    .whole_w = whole_width, .whole_h = whole_height};
	if (s->n_layers > 0)
		nst_vgg_forward(s, s->staging, crop->height, crop->width, &pass);
	if (!s->style_by_region[index])
		s->blend_sum += blend; /* once per style, however many regions it comes in */
	s->style_set[index] = s->style_by_region[index] = true;
	s->prepared = false;
	return NST_OK;
}

enum nst_status nst_session_set_init_image(struct nst_session *s, const uint8_t *rgb) {
	if (!s || !rgb || !s->init_rgb)
		return NST_ERR_INVALID_ARGUMENT;
	memcpy(s->init_rgb, rgb, s->n);
	s->init_set = true;
	return NST_OK;
}

enum nst_status nst_session_prepare(struct nst_session *s) {
	if (!s || !s->content_set)
		return NST_ERR_INVALID_ARGUMENT;
	for (int k = 0; k < s->problem.n_styles; k++)
		if (!s->style_set[k])
			return NST_ERR_INVALID_ARGUMENT;
	if (s->problem.n_styles > 0 && !(s->blend_sum > 0.0f))
		return NST_ERR_INVALID_ARGUMENT;
	/* Blend weights are normalised to sum 1 (once: the targets hold sum_k b_k Gram_k until then). */
	if (!s->targets_normalized) {
		for (int i = 0; i < s->n_losses; i++)
			if (s->losses[i].style) {
				const size_t c = (size_t)s->losses[i].c;
				for (size_t j = 0; j < c * c; j++)
					s->losses[i].style_target[j] /= s->blend_sum;
			}
		s->targets_normalized = true;
	}
	const size_t pixels = s->n / RGB;
	nst_vgg_preprocess(s->content_rgb, pixels, s->x);
	struct pass pass = {.mode = PASS_TARGET_CONTENT};
	if (s->n_layers > 0)
		nst_vgg_forward(s, s->x, s->problem.height, s->problem.width, &pass);
	if (s->options.init == NST_INIT_RANDOM) {
		struct nst_rng rng;
		nst_rng_seed(&rng, s->options.seed);
		for (size_t i = 0; i < s->n; i++)
			s->x[i] = (float)(nst_rng_normal(&rng) * RANDOM_INIT_SCALE);
	} else if (s->options.init == NST_INIT_IMAGE) {
		if (!s->init_set)
			return NST_ERR_INVALID_ARGUMENT;
		nst_vgg_preprocess(s->init_rgb, pixels, s->x);
	}
	nst_run_reset(s);
	s->prepared = true;
	return NST_OK;
}
