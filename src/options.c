/*
 * Options of an optimization run: the defaults (CONVENTIONS.md's, or the network's own from its
 * weights file), the loss-layer lists and their weights, the backends and precisions and whether
 * this build and CPU have them, and the checks nst_plan runs before configuring anything
 * (nst_check_options; nst_check_picture_sizes, with the smallest picture each layer needs).
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

static const int VGG19_CONVS_PER_BLOCK[VGG_MAX_BLOCK + 1] = {0, 2, 2, 4, 4, 4};

#define DEFAULT_CONTENT_WEIGHT 5.0f
#define DEFAULT_STYLE_WEIGHT 100.0f
#define DEFAULT_TV_WEIGHT 1e-3f
#define DEFAULT_HISTORY 10
/* Stop once 10 iterations lower the loss by less than 2%: on the panel of `make gallery` the
 * picture no longer changes visibly by then (about 100-150 rows at 256 px). */
#define DEFAULT_TOLERANCE 0.02f
#define MAX_HISTORY 1000

static void set_names(char names[][NST_LAYER_NAME_BYTES], int *count, const char *const *list, int n) {
	for (int i = 0; i < n; i++)
		snprintf(names[i], NST_LAYER_NAME_BYTES, "%s", list[i]);
	*count = n;
}

void nst_options_default(struct nst_options *o) {
	static const char *const content[] = {"relu3_2"};
	static const char *const style[] = {"relu1_1", "relu2_1", "relu3_1"};
	memset(o, 0, sizeof *o);
	set_names(o->content_layers, &o->n_content_layers, content, 1);
	set_names(o->style_layers, &o->n_style_layers, style, 3);
	for (int i = 0; i < NST_MAX_LOSS_LAYERS; i++)
		o->style_layer_weights[i] = 1.0f;
	o->content_weight = DEFAULT_CONTENT_WEIGHT;
	o->style_weight = DEFAULT_STYLE_WEIGHT;
	o->tv_weight = DEFAULT_TV_WEIGHT;
	o->pooling = NST_POOLING_MAX;
	o->optimizer = NST_OPTIMIZER_LBFGS;
	o->learning_rate = 0.0f;
	o->history = DEFAULT_HISTORY;
	o->line_search = NST_LINE_SEARCH_STRONG_WOLFE;
	o->tolerance = DEFAULT_TOLERANCE;
	o->init = NST_INIT_CONTENT;
	/* Not auto: a measured choice may differ between two runs, and a resumed run must continue
	 * exactly the run it resumes. */
	o->backend = nst_backend_available(NST_BACKEND_SIMD) ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR;
	o->precision = NST_PRECISION_FP32;
}

enum nst_status nst_options_set_layers(struct nst_options *o, bool style, const char *list, struct nst_diag *diag) {
	char (*names)[NST_LAYER_NAME_BYTES] = style ? o->style_layers : o->content_layers;
	int *count = style ? &o->n_style_layers : &o->n_content_layers;
	int n = 0;
	const char *p = list ? list : "";
	while (*p) {
		const char *end = strchr(p, ',');
		const size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			return nst_fail(diag, NST_ERR_UNKNOWN_LAYER, "empty layer name in '%s'", list);
		if (len >= NST_LAYER_NAME_BYTES)
			return nst_fail(diag, NST_ERR_UNKNOWN_LAYER, "layer name '%.*s' is too long", (int)len, p);
		if (n == NST_MAX_LOSS_LAYERS)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "more than %d %s layers", NST_MAX_LOSS_LAYERS,
			                style ? "style" : "content");
		memcpy(names[n], p, len);
		names[n][len] = '\0';
		n++;
		p = end ? end + 1 : p + len;
	}
	*count = n;
	return NST_OK;
}

void nst_options_network_defaults(struct nst_options *o, const struct nst_weights *w, unsigned given) {
	const struct nstw_defaults *d = w ? nst_weights_defaults(w) : NULL;
	struct nst_options def;
	nst_options_default(&def); /* a file without defaults: CONVENTIONS.md's */
	if (d) {
		def.n_content_layers = (int)d->n_content;
		for (uint32_t i = 0; i < d->n_content; i++)
			snprintf(def.content_layers[i], NST_LAYER_NAME_BYTES, "%s", d->content[i]);
		def.n_style_layers = (int)d->n_style;
		for (uint32_t i = 0; i < d->n_style; i++) {
			snprintf(def.style_layers[i], NST_LAYER_NAME_BYTES, "%s", d->style[i]);
			def.style_layer_weights[i] = d->style_layer_weights[i];
		}
		def.content_weight = d->content_weight;
		def.style_weight = d->style_weight;
		def.tv_weight = d->tv_weight;
	}
	if (!(given & NST_GIVEN_CONTENT_LAYERS)) {
		memcpy(o->content_layers, def.content_layers, sizeof o->content_layers);
		o->n_content_layers = def.n_content_layers;
	}
	if (!(given & NST_GIVEN_STYLE_LAYERS)) {
		memcpy(o->style_layers, def.style_layers, sizeof o->style_layers);
		o->n_style_layers = def.n_style_layers;
		if (!(given & NST_GIVEN_STYLE_LAYER_WEIGHTS))
			memcpy(o->style_layer_weights, def.style_layer_weights, sizeof o->style_layer_weights);
	}
	if (!(given & NST_GIVEN_CONTENT_WEIGHT))
		o->content_weight = def.content_weight;
	if (!(given & NST_GIVEN_STYLE_WEIGHT))
		o->style_weight = def.style_weight;
	if (!(given & NST_GIVEN_TV_WEIGHT))
		o->tv_weight = def.tv_weight;
}

enum nst_status nst_options_set_style_layer_weights(struct nst_options *o, const char *list, struct nst_diag *diag) {
	int n = 0;
	const char *p = list ? list : "";
	while (*p) {
		char *end;
		errno = 0;
		const double v = strtod(p, &end);
		if (end == p || errno || !isfinite(v) || v < 0.0 || v > FLT_MAX || (*end != ',' && *end != '\0'))
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			                "style layer weights '%s': not a comma-separated list of finite numbers >= 0", list);
		if (n == NST_MAX_LOSS_LAYERS)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "more than %d style layer weights", NST_MAX_LOSS_LAYERS);
		o->style_layer_weights[n++] = (float)v;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "style layer weights '%s': a trailing comma", list);
	}
	if (n == 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "style layer weights: an empty list");
	for (int i = n; i < NST_MAX_LOSS_LAYERS; i++)
		o->style_layer_weights[i] = 1.0f;
	o->n_style_layer_weights = n;
	return NST_OK;
}

bool nst_vgg_parse_relu(const char *name, int *block, int *index) {
	int b = 0, i = 0, used = 0;
	if (sscanf(name, "relu%d_%d%n", &b, &i, &used) != 2 || name[used] != '\0')
		return false;
	if (b < 1 || b > VGG_MAX_BLOCK || i < 1 || i > VGG19_CONVS_PER_BLOCK[b])
		return false;
	*block = b;
	*index = i;
	return true;
}

const char *nst_backend_name(enum nst_backend backend) {
	switch (backend) {
	case NST_BACKEND_AUTO: return "auto";
	case NST_BACKEND_SCALAR: return "scalar";
	case NST_BACKEND_SIMD: return "simd";
	case NST_BACKEND_XNNPACK: return "xnnpack";
	}
	return "unknown";
}

const char *nst_precision_name(enum nst_precision precision) {
	switch (precision) {
	case NST_PRECISION_FP32: return "fp32";
	case NST_PRECISION_FP16: return "fp16";
	case NST_PRECISION_INT8: return "int8";
	}
	return "unknown";
}

bool nst_precision_available(enum nst_backend backend, enum nst_precision precision) {
	if (precision == NST_PRECISION_FP32)
		return nst_backend_available(backend);
	return precision == NST_PRECISION_FP16 && backend == NST_BACKEND_XNNPACK && nst_xnn_available() &&
	       nst_xnn_f16_supported();
}

bool nst_backend_available(enum nst_backend backend) {
	switch (backend) {
	case NST_BACKEND_AUTO:
	case NST_BACKEND_SCALAR: return true;
	case NST_BACKEND_SIMD: return nst_engine_kernels(NST_BACKEND_SIMD, NST_PRECISION_FP32) != NULL;
	case NST_BACKEND_XNNPACK: return nst_xnn_available();
	}
	return false;
}

static bool finite_nonnegative(float v) { return isfinite(v) && v >= 0.0f; }

/* The deepest of some loss layers and the smallest picture side it works with: every 2x2
 * pooling before a layer halves the picture, rounding down, and the layer needs at least `least`
 * pixels a side (1, or 2 where the network's convolutions pad by reflection), so a layer of block b
 * needs least * 2^(b-1) pixels a side (with 1: relu1_x 1, relu2_x 2, relu3_x 4, relu4_x 8, relu5_x
 * 16; the distilled network's twice that).  Names that are no VGG layer are left to configure,
 * which reports them. */
struct layer_need {
	const char *layer;   /* NULL: no layer */
	int poolings;        /* before it */
	int side;            /* least << poolings */
};

static struct layer_need deepest_need(const char (*names)[NST_LAYER_NAME_BYTES], int count, int least) {
	struct layer_need need = {NULL, 0, 0};
	for (int i = 0; i < count; i++) {
		int block, index;
		if (nst_vgg_parse_relu(names[i], &block, &index) && (least << (block - 1)) > need.side)
			need = (struct layer_need){names[i], block - 1, least << (block - 1)};
	}
	return need;
}

/* Pictures too small for their layers would give empty feature maps (a NaN Gram matrix, a loss
 * of nothing): refused before anything is planned, saying the smallest size that works. */
enum nst_status nst_check_picture_sizes(const struct nst_options *o, const struct nst_problem *p, int least,
                                        struct nst_diag *diag) {
	const struct layer_need style = deepest_need(o->style_layers, o->n_style_layers, least);
	struct layer_need any = deepest_need(o->content_layers, o->n_content_layers, least);
	char padding[64] = "";
	if (least > 1)
		snprintf(padding, sizeof padding, ", and its reflection padding needs %d", least);
	if (style.side > any.side)
		any = style; /* the optimized picture runs through every loss layer */
	if (any.layer && (p->width < any.side || p->height < any.side)) {
		/* the smallest long side that gives this shape's short side any.side */
		const int lo = p->width < p->height ? p->width : p->height, hi = p->width < p->height ? p->height : p->width;
		const long long long_side = lo > 0 ? ((long long)any.side * hi + lo - 1) / lo : any.side;
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "the picture is %dx%d: too small for layer %s, which needs at least %dx%d pixels (it comes "
		                "after %d pooling%s, each halving the picture%s): at this shape a long side of about %lld or more",
		                p->width, p->height, any.layer, any.side, any.side, any.poolings, any.poolings == 1 ? "" : "s",
		                padding, long_side);
	}
	for (int k = 0; k < p->n_styles && style.layer; k++)
		if (p->style_width[k] < style.side || p->style_height[k] < style.side)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			                "style picture %d is %dx%d: too small for style layer %s, which needs at least %dx%d "
			                "pixels (it comes after %d pooling%s, each halving the picture%s): use a larger style "
			                "picture or --style-scale",
			                k + 1, p->style_width[k], p->style_height[k], style.layer, style.side, style.side,
			                style.poolings, style.poolings == 1 ? "" : "s", padding);
	return NST_OK;
}

enum nst_status nst_check_options(const struct nst_options *o, const struct nst_problem *p, struct nst_diag *diag) {
	if (!finite_nonnegative(o->content_weight))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "content weight must be a finite number >= 0 (got %g)",
		                (double)o->content_weight);
	if (!finite_nonnegative(o->style_weight))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "style weight must be a finite number >= 0 (got %g)",
		                (double)o->style_weight);
	if (!finite_nonnegative(o->tv_weight))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "tv weight must be a finite number >= 0 (got %g)",
		                (double)o->tv_weight);
	if (!isfinite(o->learning_rate) || o->learning_rate < 0.0f)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "learning rate must be a finite number > 0 (got %g)",
		                (double)o->learning_rate);
	if (o->line_search != NST_LINE_SEARCH_NONE && o->line_search != NST_LINE_SEARCH_STRONG_WOLFE)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "unknown line search %d", (int)o->line_search);
	if (!isfinite(o->tolerance) || o->tolerance < 0.0f || o->tolerance >= 1.0f)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "the tolerance must be in [0, 1) (got %g)", (double)o->tolerance);
	for (int i = 0; i < o->n_style_layers && i < NST_MAX_LOSS_LAYERS; i++)
		if (!finite_nonnegative(o->style_layer_weights[i]))
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "style layer %d's weight must be a finite number >= 0 (got %g)",
			                i + 1, (double)o->style_layer_weights[i]);
	if (o->n_style_layer_weights != 0 && o->n_style_layer_weights != o->n_style_layers)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "%d style layer weights for %d style layers",
		                o->n_style_layer_weights, o->n_style_layers);
	if (o->history < 1 || o->history > MAX_HISTORY)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "L-BFGS history must be 1..%d (got %d)", MAX_HISTORY, o->history);
	if (o->threads < 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "threads must be >= 1 (got %d)", o->threads);
	if ((unsigned)o->pooling > NST_POOLING_AVG || (unsigned)o->optimizer > NST_OPTIMIZER_ADAM ||
	    (unsigned)o->init > NST_INIT_IMAGE || (unsigned)o->backend > NST_BACKEND_XNNPACK ||
	    (unsigned)o->precision > NST_PRECISION_FP16)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "an option's value is out of range");
	if (p->width < 1 || p->height < 1 || p->width > NST_MAX_IMAGE_SIDE || p->height > NST_MAX_IMAGE_SIDE)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "picture size %dx%d is out of range (1..%d)", p->width,
		                p->height, NST_MAX_IMAGE_SIDE);
	if (p->n_styles < 0 || p->n_styles > NST_MAX_STYLES)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "1..%d style pictures are needed (got %d)", NST_MAX_STYLES,
		                p->n_styles);
	if (o->n_content_layers < 0 || o->n_content_layers > NST_MAX_LOSS_LAYERS || o->n_style_layers < 0 ||
	    o->n_style_layers > NST_MAX_LOSS_LAYERS)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "0..%d content and style layers are possible (got %d and %d)",
		                NST_MAX_LOSS_LAYERS, o->n_content_layers, o->n_style_layers);
	if (p->n_styles == 0 && o->n_style_layers > 0)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "style layers are set but no style picture is given");
	for (int k = 0; k < p->n_styles; k++)
		if (p->style_width[k] < 1 || p->style_height[k] < 1 || p->style_width[k] > NST_MAX_IMAGE_SIDE ||
		    p->style_height[k] > NST_MAX_IMAGE_SIDE)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "style picture %d size %dx%d is out of range", k + 1,
			                p->style_width[k], p->style_height[k]);
	return NST_OK; /* the pictures' sizes: nst_check_picture_sizes, once the network is known */
}
