/*
 * Optimization-based style transfer on a VGG network: configuration, the memory plan, the
 * forward and backward passes, the targets and the optimizers (CONVENTIONS.md, exactly).
 *
 * Memory.  One layout function assigns every buffer from an arena; nst_plan runs it on a
 * measuring arena and nst_session_init on the caller's, so the plan is the allocation.  What
 * the run keeps, and why:
 *   - two ping-pong feature buffers (the largest activation each): the forward pass alternates
 *     between them, the backward pass reuses them for the gradients;
 *   - per convolution a ReLU bit mask (1 bit per value), per max-pool a 2-bit argmax per output;
 *   - per loss layer its target (content features or the blended style Gram) and, for layers
 *     that are neither the deepest (whose gradient starts the backward pass in a ping-pong
 *     buffer) nor the first (whose features one cheap convolution of the image recomputes during
 *     the backward pass), the loss gradient computed in the forward pass, placed in a
 *     ping-pong buffer's tail that the passes do not reach before it is used (buffer_reach),
 *     else in its own area;
 *   - the packed forward and backward weights, per-thread im2col tiles, the optimizer state.
 */
#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "line_search.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nst reads little-endian weights in place: a big-endian host is not supported"
#endif

#define MAX_VGG_LAYERS NST_PROFILE_MAX_LAYERS
#define MAX_LOSSES (2 * NST_MAX_LOSS_LAYERS)
#define VGG_MAX_BLOCK 5
#define RGB 3
#define NO_LOSS (-1)

/* CONVENTIONS.md's preprocessing: BGR minus the ImageNet mean, 0-255. */
static const float MEAN_BGR[RGB] = {103.939f, 116.779f, 123.68f};
static const int VGG19_CONVS_PER_BLOCK[VGG_MAX_BLOCK + 1] = {0, 2, 2, 4, 4, 4};

#define DEFAULT_CONTENT_WEIGHT 5.0f
#define DEFAULT_STYLE_WEIGHT 100.0f
#define DEFAULT_TV_WEIGHT 1e-3f
#define DEFAULT_ADAM_LR 10.0f
#define DEFAULT_LBFGS_LR 1.0f
#define DEFAULT_HISTORY 10
/* Stop once 10 iterations lower the loss by less than 2%: on the panel of `make gallery` the
 * picture no longer changes visibly by then (about 100-150 rows at 256 px). */
#define DEFAULT_TOLERANCE 0.02f
#define MAX_HISTORY 1000
#define RANDOM_INIT_SCALE 1e-3
#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8
#define LBFGS_MIN_CURVATURE 1e-10
#define LBFGS_MAX_EVAL_FACTOR 1.25
/* PyTorch's L-BFGS stops when the directional derivative exceeds -tolerance_change; the
 * reference turns tolerances off with -1. */
#define LBFGS_TOLERANCE_CHANGE (-1.0)

struct vgg_layer {
	char name[NST_LAYER_NAME_BYTES]; /* "conv1_1" */
	int weights_index;
	int block;
	struct nst_conv_shape shape;     /* 3x3, stride 1, pad 1: zeros, or reflection (shape.reflect) */
	struct nst_conv_shape backward;  /* its input gradient (reflection: over the padded picture, pad 2) */
	int tap_index;                   /* weights index of its tap (what reluB_I means then), or -1 */
	struct nst_conv_shape tap_shape, tap_backward; /* the tap's 1x1 conv and its input gradient */
	float *tap_packed_forward, *tap_packed_backward;
	int h, w;                        /* input (= output) size for the optimized image */
	bool pool_after;                 /* a 2x2 pooling follows it in the evaluated stack */
	int loss;                        /* index into losses, or NO_LOSS */
	float *packed_forward;
	float *packed_backward;
	uint8_t *mask;                   /* [h][w][cout] bits: ReLU output > 0 */
	uint8_t *argmax;                 /* [h/2][w/2][cout] 2-bit codes when pool_after and max pooling */
	void *xnn_forward, *xnn_backward; /* XNNPACK operators (backend xnnpack) */
	float *bias;                     /* [cout] precision fp16: added in float32 after the convolution */
	float l1_forward, l1_backward;   /* precision fp16: the kernels' largest per-channel L1 norms */
};

struct loss_layer {
	int layer;                       /* conv index */
	bool tapped;                     /* the features are the layer's tap: ReLU(1x1 conv of its ReLU output) */
	int c;                           /* the features' channels (the tap's when tapped) */
	float layer_weight;              /* the style term's per-layer weight (--style-layer-weights) */
	bool content, style;
	bool recompute;                  /* features recomputed in the backward pass (layer 0) */
	bool stored;                     /* gradient kept from the forward pass */
	float *content_target;           /* [h][w][c] */
	float *style_target;             /* [c][c] */
	float *gram;                     /* [c][c] of the current picture */
	float *style_m;                  /* [c][c]: dL/dF = F * style_m */
	float *grad;                     /* [h][w][c] when stored */
	double content_value, style_value;
};

/* Where a run is: every field a checkpoint needs to continue it exactly. */
struct nst_run_state {
	int row;                         /* loss-log rows reported so far */
	bool pending;                    /* the last row's picture is evaluated, its step not taken yet */
	bool loop_done, done, failed;
	int good_row;                    /* the row of x_good */
	double seconds;                  /* optimization time before this call of nst_session_run */
	double t0;
	struct nst_losses last;
	/* L-BFGS */
	int n_iter, evals, n_old, oldest;
	double h_diag, t;
	double f;                        /* the loss at x (the line search starts from it) */
	bool searching;                  /* inside a line search: rows are trial points */
	bool stop_requested;             /* the callback asked to stop during the line search */
	/* Where the current line search started (x0 = lbfgs_x0, g0 = lbfgs_prev_grad, f0 = f), what a
	 * checkpoint taken inside it records, and resume_search to start it again from there. */
	int search_row, search_evals;
	double search_t, search_gtd;
	bool resume_search;
	/* --tolerance: the loss at iteration tol_iteration, the start of the current window */
	int tol_iteration;
	double tol_f;
	bool converged;
};

struct nst_session {
	struct nst_options options;
	struct nst_problem problem;
	struct nst_engine engine;
	struct nst_plan plan;
	const struct nst_weights *weights; /* only during init */

	int n_layers;                    /* convolutions evaluated: up to the deepest loss layer */
	struct vgg_layer layers[MAX_VGG_LAYERS];
	int n_losses;
	struct loss_layer losses[MAX_LOSSES];
	float blend_sum;
	uint32_t style_crc;              /* CRC-32 of every style picture given, its index and blend */
	bool content_set, style_set[NST_MAX_STYLES], init_set, prepared, targets_normalized;
	bool style_by_region[NST_MAX_STYLES]; /* targets added region by region (nst_session_add_style_region) */

	size_t n;                        /* H * W * 3 */
	float *x;                        /* [H][W][3] the optimized picture, preprocessed BGR */
	float *grad;                     /* [H][W][3] */
	float *buf_a, *buf_b;            /* [max activation] ping-pong */
	size_t buf_floats;
	float *tap_f;                    /* [max tap features] a tapped loss layer's features */
	float *staging;                  /* [Hs][Ws][3] a style picture, preprocessed */
	float *style_pack;               /* packed M of the style gradient GEMM */
	uint8_t *content_rgb;            /* [H][W][3] for --original-colors and the init */
	uint8_t *init_rgb;               /* [H][W][3] NST_INIT_IMAGE */

	/* Adam */
	float *adam_m, *adam_v;          /* [n] */
	int adam_step;
	/* L-BFGS (PyTorch's) */
	float *lbfgs_d, *lbfgs_prev_grad; /* [n] */
	float *lbfgs_dirs, *lbfgs_steps;  /* [history][n] ring buffers: y and s */
	double *lbfgs_ro, *lbfgs_al;      /* [history] */
	float *lbfgs_x0;                  /* [n] the line search's start (strong_wolfe only) */
	float *lbfgs_search;              /* [3][n] its trial gradients (strong_wolfe only) */

	bool xnn;                         /* the picture's convolutions run on XNNPACK */
	bool f16;                         /* ... as float16 operators (precision fp16) */
	struct nst_xnn_f16 xnn_f16;       /* the float16 conversions and buffers */
	uint16_t *f16_in, *f16_out;       /* [f16_halves] each: a convolution's input and output as float16 */
	size_t f16_halves;
	struct nst_xnn_heap xnn_heap;     /* XNNPACK's allocations, in xnn_region */
	uint8_t *xnn_region;              /* [xnn_bytes] */
	size_t xnn_bytes;
	float *x_good;                    /* [n] the last picture whose loss was finite */
	struct nst_run_state run;
	struct nst_profile profile;
};

/* ---------------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------------- */

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

/* "relu3_2" -> block 3, conv 2, if it names a VGG19 layer. */
static bool parse_relu(const char *name, int *block, int *index) {
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
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	switch (backend) {
	case NST_BACKEND_AUTO:
	case NST_BACKEND_SCALAR: return true;
	case NST_BACKEND_SIMD: return nst_gemm_kernel_best(&cpu) != nst_gemm_kernel_scalar();
	case NST_BACKEND_XNNPACK: return nst_xnn_available();
	}
	return false;
}

static bool finite_nonnegative(float v) { return isfinite(v) && v >= 0.0f; }

/* The deepest of some loss layers and the smallest picture side it works with: every 2x2
 * pooling before a layer halves the picture, rounding down, and the layer needs at least 1x1, so
 * a layer of block b needs 2^(b-1) pixels a side (relu1_x 1, relu2_x 2, relu3_x 4, relu4_x 8,
 * relu5_x 16).  Names that are no VGG layer are left to configure, which reports them. */
struct layer_need {
	const char *layer;   /* NULL: no layer */
	int poolings;        /* before it */
	int side;            /* 1 << poolings */
};

static struct layer_need deepest_need(const char (*names)[NST_LAYER_NAME_BYTES], int count) {
	struct layer_need need = {NULL, 0, 0};
	for (int i = 0; i < count; i++) {
		int block, index;
		if (parse_relu(names[i], &block, &index) && (1 << (block - 1)) > need.side)
			need = (struct layer_need){names[i], block - 1, 1 << (block - 1)};
	}
	return need;
}

/* Pictures too small for their layers would give empty feature maps (a NaN Gram matrix, a loss
 * of nothing): refused before anything is planned, saying the smallest size that works. */
static enum nst_status check_picture_sizes(const struct nst_options *o, const struct nst_problem *p,
                                           struct nst_diag *diag) {
	const struct layer_need style = deepest_need(o->style_layers, o->n_style_layers);
	struct layer_need any = deepest_need(o->content_layers, o->n_content_layers);
	if (style.side > any.side)
		any = style; /* the optimized picture runs through every loss layer */
	if (any.layer && (p->width < any.side || p->height < any.side))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "the picture is %dx%d: too small for layer %s, which needs at least %dx%d pixels (it comes "
		                "after %d pooling%s, each halving the picture)",
		                p->width, p->height, any.layer, any.side, any.side, any.poolings, any.poolings == 1 ? "" : "s");
	for (int k = 0; k < p->n_styles && style.layer; k++)
		if (p->style_width[k] < style.side || p->style_height[k] < style.side)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			                "style picture %d is %dx%d: too small for style layer %s, which needs at least %dx%d "
			                "pixels (it comes after %d pooling%s, each halving the picture): use a larger style picture "
			                "or --style-scale",
			                k + 1, p->style_width[k], p->style_height[k], style.layer, style.side, style.side,
			                style.poolings, style.poolings == 1 ? "" : "s");
	return NST_OK;
}

static enum nst_status check_options(const struct nst_options *o, const struct nst_problem *p, struct nst_diag *diag) {
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
	return check_picture_sizes(o, p, diag);
}

/* ---------------------------------------------------------------------------------------------
 * Configuration: the network up to the deepest loss layer, and the losses
 * ------------------------------------------------------------------------------------------- */

static int find_or_add_loss(struct nst_session *s, int layer) {
	if (s->layers[layer].loss != NO_LOSS)
		return s->layers[layer].loss;
	const int i = s->n_losses++;
	memset(&s->losses[i], 0, sizeof s->losses[i]);
	s->losses[i].layer = layer;
	s->layers[layer].loss = i;
	return i;
}

static enum nst_status configure(struct nst_session *s, const struct nst_weights *w, const struct nst_options *o,
                                 const struct nst_problem *p, struct nst_diag *diag) {
	memset(s, 0, sizeof *s);
	enum nst_status st = check_options(o, p, diag);
	if (st != NST_OK)
		return st;
	if (nst_weights_arch(w) != NST_ARCH_VGG)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s' are a feed-forward network, not VGG (use --model)",
		                nst_weights_model(w));
	s->options = *o;
	s->problem = *p;
	s->weights = w;
	if (s->options.learning_rate == 0.0f)
		s->options.learning_rate = o->optimizer == NST_OPTIMIZER_ADAM ? DEFAULT_ADAM_LR : DEFAULT_LBFGS_LR;

	/* The trunk: the weights' convolutions in file order (the loader checked names and channels),
	 * each with its tap if the file has one (a tap's entry follows the conv it reads). */
	const int n_weights = nst_weights_layer_count(w);
	int n_trunk = 0;
	struct nst_layer_info info[MAX_VGG_LAYERS];
	int weights_index[MAX_VGG_LAYERS], tap_index[MAX_VGG_LAYERS];
	struct nst_layer_info tap_info[MAX_VGG_LAYERS];
	for (int i = 0; i < n_weights; i++) {
		struct nst_layer_info L;
		nst_weights_layer(w, i, &L);
		if (L.tap) {
			for (int t = 0; t < n_trunk; t++)
				if (strcmp(info[t].name, L.tap_of) == 0) {
					tap_index[t] = i;
					tap_info[t] = L;
				}
			continue;
		}
		if (n_trunk == MAX_VGG_LAYERS)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "more than %d VGG convolutions", MAX_VGG_LAYERS);
		info[n_trunk] = L;
		weights_index[n_trunk] = i;
		tap_index[n_trunk] = -1;
		n_trunk++;
	}

	/* The deepest conv any loss uses, validating every name. */
	int deepest = -1;
	int loss_conv[2][NST_MAX_LOSS_LAYERS];
	const int counts[2] = {o->n_content_layers, o->n_style_layers};
	for (int kind = 0; kind < 2; kind++)
		for (int i = 0; i < counts[kind]; i++) {
			const char *name = kind ? o->style_layers[i] : o->content_layers[i];
			int block, index;
			if (!parse_relu(name, &block, &index))
				return nst_fail(diag, NST_ERR_UNKNOWN_LAYER,
				                "unknown layer '%s' (VGG layers are relu1_1..relu1_2, relu2_1..relu2_2, "
				                "relu3_1..relu3_4, relu4_1..relu4_4, relu5_1..relu5_4)", name);
			char conv[NST_LAYER_NAME_BYTES];
			snprintf(conv, sizeof conv, "conv%d_%d", block, index);
			int t = -1;
			for (int j = 0; j < n_trunk; j++)
				if (strcmp(info[j].name, conv) == 0)
					t = j;
			if (t < 0)
				return nst_fail(diag, NST_ERR_LAYER_NOT_IN_WEIGHTS,
				                "layer '%s' is not in the weights: %s holds %s..%s, without %s", name,
				                nst_weights_model(w), info[0].name, info[n_trunk - 1].name, conv);
			loss_conv[kind][i] = t;
			if (t > deepest)
				deepest = t;
		}

	/* The stack: trunk layers 0..deepest. */
	s->n_layers = deepest + 1;
	int h = p->height, wd = p->width;
	for (int i = 0; i < s->n_layers; i++) {
		struct vgg_layer *L = &s->layers[i];
		memcpy(L->name, info[i].name, sizeof L->name);
		L->weights_index = weights_index[i];
		L->block = atoi(info[i].name + strlen("conv"));
		L->shape = (struct nst_conv_shape){info[i].kernel_h, info[i].kernel_w, 1, info[i].kernel_h / 2,
		                                   info[i].reflect, info[i].in_channels, info[i].out_channels};
		L->backward = nst_conv_backward_shape(&L->shape);
		if (L->shape.reflect) /* the gradient over the padded picture, folded back afterwards */
			L->backward.pad = L->shape.kernel_h - 1;
		L->tap_index = tap_index[i];
		if (L->tap_index >= 0) {
			L->tap_shape = (struct nst_conv_shape){1, 1, 1, 0, false, tap_info[i].in_channels, tap_info[i].out_channels};
			L->tap_backward = nst_conv_backward_shape(&L->tap_shape);
		}
		L->loss = NO_LOSS;
		/* Reflection padding needs 2 rows and columns (PyTorch refuses padding >= the size). */
		const int least = L->shape.reflect ? L->shape.pad + 1 : 1;
		if (h < least || wd < least)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			                "a %dx%d picture is too small for layer %s (every pooling halves it%s)", p->width,
			                p->height, L->name, L->shape.reflect ? "; its reflection padding needs 2 pixels" : "");
		L->h = h;
		L->w = wd;
		L->pool_after = i + 1 < s->n_layers && atoi(info[i + 1].name + strlen("conv")) != L->block;
		if (L->pool_after) {
			h /= 2;
			wd /= 2;
		}
	}

	for (int kind = 0; kind < 2; kind++)
		for (int i = 0; i < counts[kind]; i++) {
			struct loss_layer *l = &s->losses[find_or_add_loss(s, loss_conv[kind][i])];
			if (kind) {
				l->style = true;
				l->layer_weight += o->style_layer_weights[i];
			} else {
				l->content = true;
			}
		}
	for (int i = 0; i < s->n_losses; i++) {
		struct loss_layer *l = &s->losses[i];
		const struct vgg_layer *L = &s->layers[l->layer];
		l->tapped = L->tap_index >= 0;
		l->c = l->tapped ? L->tap_shape.out_channels : L->shape.out_channels;
		const bool deepest_layer = l->layer == s->n_layers - 1;
		l->recompute = !deepest_layer && l->layer == 0 && !l->tapped;
		l->stored = !deepest_layer && !l->recompute;
	}
	/* Style pictures, forward only up to the deepest style layer, need 2 pixels at each
	 * reflection-padded layer too. */
	int style_layers_end = 0;
	for (int i = 0; i < s->n_losses; i++)
		if (s->losses[i].style && s->losses[i].layer + 1 > style_layers_end)
			style_layers_end = s->losses[i].layer + 1;
	for (int k = 0; k < p->n_styles; k++) {
		int sh = p->style_height[k], sw = p->style_width[k];
		for (int i = 0; i < style_layers_end; i++) {
			const struct vgg_layer *L = &s->layers[i];
			const int least = L->shape.reflect ? L->shape.pad + 1 : 1;
			if (sh < least || sw < least)
				return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "style picture %d (%dx%d) is too small for layer %s",
				                k + 1, p->style_width[k], p->style_height[k], L->name);
			if (L->pool_after) {
				sh /= 2;
				sw /= 2;
			}
		}
	}
	s->n = (size_t)p->width * (size_t)p->height * RGB;
	return NST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Layout: every buffer from the arena, in a fixed order; measuring and real runs are identical.
 * ------------------------------------------------------------------------------------------- */

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Floats of layer L's input gradient as its backward convolution writes it: over the padded
 * picture for reflection padding (then folded back in place), else the input's size. */
static size_t backward_floats(const struct vgg_layer *L, int h, int w) {
	const int pad = L->shape.reflect ? L->shape.pad : 0;
	return (size_t)(h + 2 * pad) * (size_t)(w + 2 * pad) * (size_t)L->shape.in_channels;
}

/* Largest feature map of the stack for a picture of h x w (and the gradients' padded pictures). */
static size_t max_activation(const struct nst_session *s, int h, int w) {
	size_t m = 0;
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		m = max_size(m, (size_t)h * (size_t)w * (size_t)L->shape.out_channels);
		m = max_size(m, backward_floats(L, h, w));
		if (L->pool_after) {
			h /= 2;
			w /= 2;
		}
	}
	return m;
}

/*
 * How far into a ping-pong buffer the passes write between layer j's forward convolution and
 * the backward step that consumes layer j's stored loss gradient: the largest input or output
 * of layers j.. (the backward pass writes gradients of the same sizes; pooling only shrinks).
 * A stored gradient placed beyond it survives until it is used, so the gradients of deeper
 * layers, whose feature maps are smaller than the first block's, cost no memory of their own.
 */
static size_t buffer_reach(const struct nst_session *s, int j) {
	size_t reach = 0;
	for (int k = j; k < s->n_layers; k++) {
		const struct vgg_layer *L = &s->layers[k];
		const int c = L->shape.in_channels > L->shape.out_channels ? L->shape.in_channels : L->shape.out_channels;
		reach = max_size(reach, (size_t)L->h * (size_t)L->w * (size_t)c);
		reach = max_size(reach, backward_floats(L, L->h, L->w));
	}
	return reach;
}

/* Largest tapped loss feature map for a picture of h x w (0 without tapped losses). */
static size_t max_tap_features(const struct nst_session *s, int h, int w) {
	size_t m = 0;
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		if (L->loss != NO_LOSS && s->losses[L->loss].tapped)
			m = max_size(m, (size_t)h * (size_t)w * (size_t)L->tap_shape.out_channels);
		if (L->pool_after) {
			h /= 2;
			w /= 2;
		}
	}
	return m;
}

/* A tapped loss layer: its tap is run (and its weights packed). */
static bool tap_used(const struct nst_session *s, const struct vgg_layer *L) {
	return L->loss != NO_LOSS && s->losses[L->loss].tapped;
}

/* Layers the engine's kernels run even in an XNNPACK session: XNNPACK has no reflection padding. */
static bool engine_only(const struct vgg_layer *L) { return L->shape.reflect; }

static void layout(struct nst_session *s, struct nst_arena *a) {
	const struct nst_options *o = &s->options;
	const struct nst_problem *p = &s->problem;
	const struct nst_gemm_kernel *g = s->engine.gemm;
	size_t mark = a->used;
#define CATEGORY(field)                 \
	do {                                \
		s->plan.field += a->used - mark; \
		mark = a->used;                 \
	} while (0)

	/* Packed weights: forward and input-gradient. */
	for (int i = 0; i < s->n_layers; i++) {
		struct vgg_layer *L = &s->layers[i];
		L->packed_forward = NST_ARENA_NEW(a, float, nst_conv_packed_floats(g, &L->shape));
		if (!s->xnn || engine_only(L))
			L->packed_backward = NST_ARENA_NEW(a, float, nst_conv_packed_floats(g, &L->backward));
		if (s->f16)
			L->bias = NST_ARENA_NEW(a, float, L->shape.out_channels); /* [cout] */
		if (tap_used(s, L)) {
			L->tap_packed_forward = NST_ARENA_NEW(a, float, nst_conv_packed_floats(g, &L->tap_shape));
			L->tap_packed_backward = NST_ARENA_NEW(a, float, nst_conv_packed_floats(g, &L->tap_backward));
		}
	}
	if (s->xnn)
		s->xnn_region = NST_ARENA_NEW(a, uint8_t, s->xnn_bytes);
	CATEGORY(weights_bytes);

	/* Ping-pong buffers: the largest activation for the picture and every style picture; also the
	 * staging area for converting float16 weights while packing. */
	size_t buf = max_activation(s, p->height, p->width);
	for (int k = 0; k < p->n_styles; k++)
		buf = max_size(buf, max_activation(s, p->style_height[k], p->style_width[k]));
	for (int i = 0; i < s->n_layers; i++) {
		const struct nst_conv_shape *sh = &s->layers[i].shape;
		/* kernel staging, then the bias after it (a tap's is smaller than its 3x3 conv's) */
		buf = max_size(buf, (size_t)sh->kernel_h * (size_t)sh->kernel_w * (size_t)sh->in_channels *
		                        (size_t)sh->out_channels + (size_t)sh->out_channels);
		const struct nst_conv_shape *t = &s->layers[i].tap_shape;
		if (tap_used(s, &s->layers[i]))
			buf = max_size(buf, (size_t)t->in_channels * (size_t)t->out_channels + (size_t)t->out_channels);
	}
	s->buf_floats = buf;
	s->buf_a = NST_ARENA_NEW(a, float, buf);
	s->buf_b = NST_ARENA_NEW(a, float, buf);
	if (s->f16) {
		/* A convolution's input and output at the picture's size, as float16: the largest feature
		 * map, or the picture itself. */
		s->f16_halves = max_size(max_activation(s, p->height, p->width), s->n);
		s->f16_in = NST_ARENA_NEW(a, uint16_t, s->f16_halves);  /* [H'][W'][C'] float16 */
		s->f16_out = NST_ARENA_NEW(a, uint16_t, s->f16_halves); /* [H'][W'][C'] float16 */
	}
	/* Tapped loss layers: the tap's features, for the picture and the styles (their gradient
	 * exists only in row blocks: nst_tap_grad). */
	size_t taps = max_tap_features(s, p->height, p->width);
	for (int k = 0; k < p->n_styles; k++)
		taps = max_size(taps, max_tap_features(s, p->style_height[k], p->style_width[k]));
	if (taps)
		s->tap_f = NST_ARENA_NEW(a, float, taps); /* [h][w][c_tap] */
	CATEGORY(activations_bytes);

	/* Stored loss gradients: in the ping-pong buffers' tails where they fit, else their own. */
	size_t top[2] = {buf, buf}; /* floats of buf_a / buf_b still free at their ends */
	for (int j = 0; j < s->n_layers; j++) { /* shallow ones (the largest reach) first */
		const struct vgg_layer *L = &s->layers[j];
		struct loss_layer *l = L->loss != NO_LOSS ? &s->losses[L->loss] : NULL;
		if (!l || !l->stored)
			continue;
		const size_t size = (size_t)L->h * (size_t)L->w * (size_t)L->shape.out_channels;
		const size_t reach = buffer_reach(s, j);
		const int k = top[0] >= top[1] ? 0 : 1;
		if (top[k] >= reach + size) {
			top[k] -= size;
			l->grad = (k == 0 ? s->buf_a : s->buf_b) + top[k];
		} else {
			l->grad = NST_ARENA_NEW(a, float, size);
		}
	}
	CATEGORY(features_bytes);

	for (int i = 0; i < s->n_losses; i++) {
		struct loss_layer *l = &s->losses[i];
		const struct vgg_layer *L = &s->layers[l->layer];
		const size_t c = (size_t)l->c, hw = (size_t)L->h * (size_t)L->w;
		if (l->content)
			l->content_target = NST_ARENA_NEW(a, float, hw * c);
		if (l->style) {
			l->style_target = NST_ARENA_NEW(a, float, c * c);
			l->gram = NST_ARENA_NEW(a, float, c * c);
			l->style_m = NST_ARENA_NEW(a, float, c * c);
		}
	}
	CATEGORY(targets_bytes);

	for (int i = 0; i < s->n_layers; i++) {
		struct vgg_layer *L = &s->layers[i];
		const size_t c = (size_t)L->shape.out_channels;
		L->mask = NST_ARENA_NEW(a, uint8_t, nst_mask_bytes((size_t)L->h * (size_t)L->w * c));
		if (L->pool_after && o->pooling == NST_POOLING_MAX)
			L->argmax = NST_ARENA_NEW(a, uint8_t, nst_pool_argmax_bytes(L->h, L->w, (int)c));
	}
	CATEGORY(masks_bytes);

	s->x = NST_ARENA_NEW(a, float, s->n);
	/* [H][W][3]; a reflection-padded first layer writes its padded picture's gradient here first */
	s->grad = NST_ARENA_NEW(a, float, s->n_layers > 0 ? max_size(s->n, backward_floats(&s->layers[0], p->height, p->width))
	                                                  : s->n);
	s->x_good = NST_ARENA_NEW(a, float, s->n);
	if (o->optimizer == NST_OPTIMIZER_ADAM) {
		s->adam_m = NST_ARENA_NEW(a, float, s->n);
		s->adam_v = NST_ARENA_NEW(a, float, s->n);
	} else {
		const size_t m = (size_t)o->history;
		s->lbfgs_d = NST_ARENA_NEW(a, float, s->n);
		s->lbfgs_prev_grad = NST_ARENA_NEW(a, float, s->n);
		s->lbfgs_dirs = NST_ARENA_NEW(a, float, m * s->n);
		s->lbfgs_steps = NST_ARENA_NEW(a, float, m * s->n);
		s->lbfgs_ro = NST_ARENA_NEW(a, double, m);
		s->lbfgs_al = NST_ARENA_NEW(a, double, m);
		if (o->line_search == NST_LINE_SEARCH_STRONG_WOLFE) {
			s->lbfgs_x0 = NST_ARENA_NEW(a, float, s->n);
			s->lbfgs_search = NST_ARENA_NEW(a, float, 3 * s->n);
		}
	}
	CATEGORY(optimizer_bytes);

	/* Scratch: per-thread im2col tiles (and style-gradient rows), the packed style matrix, the
	 * pictures as given. */
	size_t scratch = 0, style_pack = 0;
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		scratch = max_size(scratch, nst_conv_scratch_floats(g, &L->shape));
		scratch = max_size(scratch, nst_conv_scratch_floats(g, &L->backward));
		if (tap_used(s, L)) {
			scratch = max_size(scratch, nst_conv_scratch_floats(g, &L->tap_shape));
			scratch = max_size(scratch, nst_tap_grad_scratch_floats(g, L->tap_shape.out_channels));
		}
		if (L->loss != NO_LOSS && s->losses[L->loss].style) {
			const int c = s->losses[L->loss].c;
			scratch = max_size(scratch, (size_t)g->mr * (size_t)c);
			scratch = max_size(scratch, nst_gram_scratch_floats(g, c));
			style_pack = max_size(style_pack, nst_style_grad_scratch_floats(&s->engine, c));
		}
	}
	s->engine.scratch_floats = scratch;
	s->engine.scratch = NST_ARENA_NEW(a, float, scratch * (size_t)s->engine.threads);
	s->style_pack = NST_ARENA_NEW(a, float, style_pack);
	size_t staging = 0;
	for (int k = 0; k < p->n_styles; k++)
		staging = max_size(staging, (size_t)p->style_width[k] * (size_t)p->style_height[k] * RGB);
	s->staging = NST_ARENA_NEW(a, float, staging);
	s->content_rgb = NST_ARENA_NEW(a, uint8_t, s->n);
	if (o->init == NST_INIT_IMAGE)
		s->init_rgb = NST_ARENA_NEW(a, uint8_t, s->n);
	CATEGORY(scratch_bytes);
#undef CATEGORY
}

static double conv_flops(const struct nst_conv_shape *sh, int h, int w) {
	return 2.0 * (double)h * (double)w * (double)sh->kernel_h * (double)sh->kernel_w * (double)sh->in_channels *
	       (double)sh->out_channels;
}

/* Layer i's HWIO kernel as float32 (in place in the map, or converted into staging) and its bias. */
static const float *layer_weights(const struct nst_weights *w, int i, float *staging, float **bias) {
	const struct nstw_layer *e = &w->layers[i];
	const size_t k = (size_t)e->kernel_h * e->kernel_w * e->in_channels * e->out_channels;
	const float *hwio;
	if (nst_weights_dtype(w) == NST_DTYPE_F32) {
		hwio = (const float *)(const void *)(w->payload + e->offset); /* 64-byte aligned in the map */
	} else {
		nst_weights_read_kernel(w, i, staging); /* float16 -> float32 */
		hwio = staging;
	}
	*bias = staging + k;
	nst_weights_read_vector(w, i, NST_VECTOR_BIAS, *bias);
	return hwio;
}

/* Creates (and sets up at the picture's size) every XNNPACK operator of the stack on the heap. */
static enum nst_status xnn_create_all(struct nst_session *s, float *staging, float *relayout, bool setup,
                                      struct nst_diag *diag) {
	for (int i = 0; i < s->n_layers; i++) {
		struct vgg_layer *L = &s->layers[i];
		if (engine_only(L))
			continue;
		float *bias;
		const float *hwio = layer_weights(s->weights, L->weights_index, staging, &bias);
		enum nst_status st;
		if (s->f16) {
			if (L->bias) /* NULL while measuring */
				memcpy(L->bias, bias, (size_t)L->shape.out_channels * sizeof(float));
			st = nst_xnn_conv_create_f16(&L->shape, hwio, false, relayout, &L->l1_forward, &L->xnn_forward);
			if (st == NST_OK)
				st = nst_xnn_conv_create_f16(&L->shape, hwio, true, relayout, &L->l1_backward, &L->xnn_backward);
			/* pointers are not dereferenced by a setup */
			const uint16_t *any_in = (const uint16_t *)(const void *)staging;
			uint16_t *any_out = (uint16_t *)(void *)relayout;
			if (st == NST_OK && setup)
				st = nst_xnn_conv_setup_f16(L->xnn_forward, L->h, L->w, any_in, any_out);
			if (st == NST_OK && setup)
				st = nst_xnn_conv_setup_f16(L->xnn_backward, L->h, L->w, any_in, any_out);
		} else {
			st = nst_xnn_conv_create(&L->shape, hwio, bias, true, false, relayout, &L->xnn_forward);
			if (st == NST_OK)
				st = nst_xnn_conv_create(&L->shape, hwio, NULL, false, true, relayout, &L->xnn_backward);
			if (st == NST_OK && setup) /* pointers are not dereferenced by a setup */
				st = nst_xnn_conv_setup(L->xnn_forward, L->h, L->w, staging, relayout, NULL);
			if (st == NST_OK && setup)
				st = nst_xnn_conv_setup(L->xnn_backward, L->h, L->w, staging, relayout, NULL);
		}
		if (st != NST_OK)
			return nst_fail(diag, st, "XNNPACK could not create the operators of layer %s (%s)", L->name,
			                nst_status_string(st));
	}
	return NST_OK;
}

static void xnn_delete_all(struct nst_session *s) {
	for (int i = 0; i < s->n_layers; i++) {
		nst_xnn_delete(s->layers[i].xnn_forward);
		nst_xnn_delete(s->layers[i].xnn_backward);
		s->layers[i].xnn_forward = s->layers[i].xnn_backward = NULL;
	}
}

/* The bytes XNNPACK will ask for: the same operators, created and set up on a counting heap. */
static enum nst_status xnn_measure(struct nst_session *s, size_t *bytes, struct nst_diag *diag) {
	size_t k = 0;
	for (int i = 0; i < s->n_layers; i++) {
		const struct nst_conv_shape *sh = &s->layers[i].shape;
		k = max_size(k, (size_t)sh->kernel_h * sh->kernel_w * sh->in_channels * sh->out_channels + sh->out_channels);
	}
	float *staging = malloc(k * sizeof(float)), *relayout = malloc(k * sizeof(float));
	struct nst_xnn_heap heap;
	enum nst_status st = staging && relayout ? nst_xnn_begin_measure(&heap) : NST_ERR_OUT_OF_MEMORY;
	if (st == NST_OK)
		st = xnn_create_all(s, staging, relayout, true, diag);
	else
		nst_fail(diag, st, "XNNPACK cannot start here (%s)", nst_status_string(st));
	if (st == NST_OK && s->f16 && (st = nst_xnn_f16_begin(&s->xnn_f16, NULL, NULL, 0)) != NST_OK)
		nst_fail(diag, st, "XNNPACK cannot convert to float16 here (%s)", nst_status_string(st));
	nst_xnn_f16_end(&s->xnn_f16);
	xnn_delete_all(s);
	nst_xnn_end(&heap);
	*bytes = heap.used;
	free(staging);
	free(relayout);
	return st;
}

/* ---------------------------------------------------------------------------------------------
 * Backend auto: the fastest backend by measurement.  For the planned shapes, the stack's most
 * expensive convolution (by FLOPs) runs forward and backward, exactly as a run does (the same
 * functions, the real weights, the same threads), on a strip of at most NST_AUTO_MAX_PIXELS pixels
 * of its picture (a convolution's time per pixel hardly depends on the picture's size beyond a
 * few rows, and the strip keeps the measurement cheap: about 0.6 GFLOP for conv1_2).  One warm-up,
 * AUTO_REPEATS timed runs, the median.  Memory: the measurement happens inside nst_plan (and
 * nst_session_init given AUTO), before the arena's layout, on scratch from malloc (the strip's
 * feature maps, that layer's packed weights, XNNPACK's operators on a counting heap) that is freed
 * before the function returns: the plan then lays out the chosen backend exactly, and the caller
 * allocates the arena only after nst_plan.
 * ------------------------------------------------------------------------------------------- */

#define AUTO_REPEATS 5            /* timed forward + backward runs per backend, after one warm-up */
#define AUTO_SIMD_MARGIN 0.05     /* within 5%, the engine's own kernels win (no XNNPACK heap) */
#define AUTO_PATTERN_PERIOD 1021  /* a prime: the measured input is a deterministic sawtooth */
#define AUTO_PATTERN_SCALE (1.0f / 64.0f)

static void conv_forward(struct nst_session *s, const struct vgg_layer *L, int h, int w, float *in, float *out,
                         uint8_t *mask);
static void conv_backward(struct nst_session *s, const struct vgg_layer *L, float *g, float *out, const float *addend,
                          const uint8_t *mask_in);

static int compare_seconds(const void *a, const void *b) {
	const double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One backend's median seconds for forward + backward of layer L on a rows x cols strip. */
static enum nst_status auto_time(const struct nst_session *s, const struct vgg_layer *L, int rows, int cols,
                                 enum nst_backend backend, bool f16, double *seconds) {
	const struct nst_conv_shape *sh = &L->shape;
	const size_t pixels = (size_t)rows * (size_t)cols;
	const size_t n_in = pixels * (size_t)sh->in_channels, n_out = pixels * (size_t)sh->out_channels;
	const size_t k = (size_t)sh->kernel_h * sh->kernel_w * sh->in_channels * sh->out_channels + sh->out_channels;
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	/* A copy of the session that runs this one layer at the strip's size. */
	struct nst_session *m = malloc(sizeof *m);
	if (!m)
		return NST_ERR_OUT_OF_MEMORY;
	*m = *s;
	m->x = NULL;
	m->xnn = backend == NST_BACKEND_XNNPACK;
	m->f16 = m->xnn && f16;
	m->engine.gemm = backend == NST_BACKEND_SCALAR ? nst_gemm_kernel_scalar() : nst_gemm_kernel_best(&cpu);
	m->engine.pool = nst_pool_create(m->engine.threads);
	struct vgg_layer Lm = *L;
	Lm.h = rows;
	Lm.w = cols;
	Lm.packed_forward = Lm.packed_backward = Lm.bias = NULL;
	Lm.xnn_forward = Lm.xnn_backward = NULL;
	m->engine.scratch_floats = max_size(nst_conv_scratch_floats(m->engine.gemm, &Lm.shape),
	                                    nst_conv_scratch_floats(m->engine.gemm, &Lm.backward));
	float *src = malloc(n_in * sizeof(float)), *in = malloc(n_in * sizeof(float));
	float *out = malloc(n_out * sizeof(float)), *back = malloc(n_in * sizeof(float));
	float *staging = malloc(k * sizeof(float)), *relayout = malloc(k * sizeof(float));
	uint8_t *mask_out = malloc(nst_mask_bytes(n_out)), *mask_in = malloc(nst_mask_bytes(n_in));
	float *scratch = NULL, *bias_copy = NULL;
	uint16_t *h_in = NULL, *h_out = NULL;
	struct nst_xnn_heap heap;
	bool heap_started = false, f16_started = false;
	enum nst_status st = NST_OK;
	if (!src || !in || !out || !back || !staging || !relayout || !mask_out || !mask_in ||
	    (m->engine.threads > 1 && !m->engine.pool)) {
		st = NST_ERR_OUT_OF_MEMORY;
		goto done;
	}
	for (size_t i = 0; i < n_in; i++)
		src[i] = (float)((int)(i % AUTO_PATTERN_PERIOD) - AUTO_PATTERN_PERIOD / 2) * AUTO_PATTERN_SCALE;
	memset(mask_in, 0x55, nst_mask_bytes(n_in)); /* half of the ReLUs below pass */
	float *bias;
	const float *hwio = layer_weights(s->weights, L->weights_index, staging, &bias);
	if (m->xnn) {
		heap_started = true;
		st = nst_xnn_begin_measure(&heap);
		if (st == NST_OK && m->f16) {
			bias_copy = malloc((size_t)sh->out_channels * sizeof(float));
			h_in = malloc(max_size(n_in, n_out) * sizeof(uint16_t));
			h_out = malloc(max_size(n_in, n_out) * sizeof(uint16_t));
			st = bias_copy && h_in && h_out ? NST_OK : NST_ERR_OUT_OF_MEMORY;
			if (st == NST_OK) {
				memcpy(bias_copy, bias, (size_t)sh->out_channels * sizeof(float));
				Lm.bias = bias_copy;
				st = nst_xnn_conv_create_f16(&Lm.shape, hwio, false, relayout, &Lm.l1_forward, &Lm.xnn_forward);
			}
			if (st == NST_OK)
				st = nst_xnn_conv_create_f16(&Lm.shape, hwio, true, relayout, &Lm.l1_backward, &Lm.xnn_backward);
			if (st == NST_OK) {
				f16_started = true;
				st = nst_xnn_f16_begin(&m->xnn_f16, h_in, h_out, max_size(n_in, n_out));
			}
		} else if (st == NST_OK) {
			st = nst_xnn_conv_create(&Lm.shape, hwio, bias, true, false, relayout, &Lm.xnn_forward);
			if (st == NST_OK)
				st = nst_xnn_conv_create(&Lm.shape, hwio, NULL, false, true, relayout, &Lm.xnn_backward);
		}
	} else {
		Lm.packed_forward = malloc(nst_conv_packed_floats(m->engine.gemm, &Lm.shape) * sizeof(float));
		Lm.packed_backward = malloc(nst_conv_packed_floats(m->engine.gemm, &Lm.backward) * sizeof(float));
		scratch = malloc(m->engine.scratch_floats * (size_t)m->engine.threads * sizeof(float));
		st = Lm.packed_forward && Lm.packed_backward && scratch ? NST_OK : NST_ERR_OUT_OF_MEMORY;
		if (st == NST_OK) {
			nst_conv_pack_forward(m->engine.gemm, &Lm.shape, hwio, bias, Lm.packed_forward);
			nst_conv_pack_backward(m->engine.gemm, &Lm.shape, hwio, Lm.packed_backward);
		}
	}
	m->engine.scratch = scratch;
	double t[AUTO_REPEATS];
	for (int r = -1; st == NST_OK && r < AUTO_REPEATS; r++) { /* r = -1: the warm-up */
		memcpy(in, src, n_in * sizeof(float));
		const double t0 = nst_seconds();
		conv_forward(m, &Lm, rows, cols, in, out, mask_out);
		conv_backward(m, &Lm, out, back, NULL, mask_in);
		if (r >= 0)
			t[r] = nst_seconds() - t0;
	}
	if (st == NST_OK) {
		qsort(t, AUTO_REPEATS, sizeof t[0], compare_seconds);
		*seconds = t[AUTO_REPEATS / 2];
	}
done:
	if (f16_started)
		nst_xnn_f16_end(&m->xnn_f16);
	nst_xnn_delete(Lm.xnn_forward);
	nst_xnn_delete(Lm.xnn_backward);
	if (heap_started)
		nst_xnn_end(&heap);
	if (m->engine.pool)
		pthreadpool_destroy(m->engine.pool);
	free(Lm.packed_forward);
	free(Lm.packed_backward);
	free(scratch);
	free(bias_copy);
	free(h_in);
	free(h_out);
	free(src);
	free(in);
	free(out);
	free(back);
	free(staging);
	free(relayout);
	free(mask_out);
	free(mask_in);
	free(m);
	return st;
}

/* Backend auto: simd (or scalar, without SIMD kernels) against xnnpack, when both can run. */
static enum nst_status auto_choose(struct nst_session *s, bool f16, enum nst_backend *out, struct nst_diag *diag) {
	const enum nst_backend own = nst_backend_available(NST_BACKEND_SIMD) ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR;
	*out = own;
	if (!nst_xnn_available() || s->n_layers == 0)
		return NST_OK;
	for (int i = 0; i < s->n_layers; i++)
		if (engine_only(&s->layers[i]))
			return NST_OK; /* XNNPACK would run those layers on the engine's kernels anyway */
	const struct vgg_layer *L = &s->layers[0];
	for (int i = 1; i < s->n_layers; i++)
		if (conv_flops(&s->layers[i].shape, s->layers[i].h, s->layers[i].w) > conv_flops(&L->shape, L->h, L->w))
			L = &s->layers[i];
	const int cols = L->w < NST_AUTO_MAX_PIXELS ? L->w : NST_AUTO_MAX_PIXELS;
	const int rows = L->h < NST_AUTO_MAX_PIXELS / cols ? L->h : (NST_AUTO_MAX_PIXELS / cols > 0 ? NST_AUTO_MAX_PIXELS / cols : 1);
	memcpy(s->plan.auto_layer, L->name, sizeof s->plan.auto_layer);
	double t_own = 0.0, t_xnn = 0.0;
	enum nst_status st = auto_time(s, L, rows, cols, own, false, &t_own);
	if (st != NST_OK)
		return nst_fail(diag, st, "backend auto: cannot time %s on backend %s (%s)", L->name, nst_backend_name(own),
		                nst_status_string(st));
	s->plan.auto_seconds[own] = t_own;
	if (auto_time(s, L, rows, cols, NST_BACKEND_XNNPACK, f16, &t_xnn) != NST_OK)
		return NST_OK; /* XNNPACK cannot run here (someone else's allocator): the engine's kernels */
	s->plan.auto_seconds[NST_BACKEND_XNNPACK] = t_xnn;
	if (t_xnn * (1.0 + AUTO_SIMD_MARGIN) < t_own)
		*out = NST_BACKEND_XNNPACK;
	return NST_OK;
}

/* Why fp16 is not used with this backend (static text: the plan keeps the pointer). */
static const char *fp16_backend_notice(enum nst_backend asked, enum nst_backend used) {
	if (asked == NST_BACKEND_AUTO)
		return used == NST_BACKEND_SIMD ? "fp16 runs only on backend xnnpack, and backend auto measured simd faster; running in fp32"
		                                : "fp16 runs only on backend xnnpack, and backend auto measured scalar faster; running in fp32";
	return used == NST_BACKEND_SIMD ? "fp16 runs only with --backend xnnpack, not simd; running in fp32"
	                                : "fp16 runs only with --backend xnnpack, not scalar; running in fp32";
}

/* Resolves backend, precision and threads, then measures (arena base NULL) or lays out for real. */
static enum nst_status build(struct nst_session *s, struct nst_arena *a, struct nst_diag *diag) {
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	const struct nst_gemm_kernel *best = nst_gemm_kernel_best(&cpu);
	s->engine.threads = s->options.threads > 0 ? s->options.threads : nst_cpu_count();
	s->plan.threads = s->engine.threads;
	const bool want_f16 = s->options.precision == NST_PRECISION_FP16;
	/* Probed once: XNNPACK answers xnn_status_unsupported_hardware without FP16 arithmetic. */
	const bool f16_possible = want_f16 && nst_xnn_available() && nst_xnn_f16_supported();
	enum nst_backend backend = s->options.backend;
	if (backend == NST_BACKEND_AUTO) {
		const enum nst_status st = auto_choose(s, f16_possible, &backend, diag);
		if (st != NST_OK)
			return st;
	}
	s->plan.precision = NST_PRECISION_FP32;
	s->plan.notice = NULL;
	switch (backend) {
	case NST_BACKEND_AUTO: /* resolved above */
	case NST_BACKEND_SCALAR:
		s->engine.gemm = nst_gemm_kernel_scalar();
		s->plan.backend = NST_BACKEND_SCALAR;
		break;
	case NST_BACKEND_SIMD:
		if (best == nst_gemm_kernel_scalar())
			return nst_fail(diag, NST_ERR_UNSUPPORTED, "backend simd: this CPU has no SIMD kernels in this build");
		s->engine.gemm = best;
		s->plan.backend = NST_BACKEND_SIMD;
		break;
	case NST_BACKEND_XNNPACK: {
		if (!nst_xnn_available())
			return nst_fail(diag, NST_ERR_UNSUPPORTED,
			                "backend xnnpack: this build has no XNNPACK (install libxnnpack-dev and rebuild)");
		s->engine.gemm = best; /* targets, Gram matrices and style gradients */
		s->plan.backend = NST_BACKEND_XNNPACK;
		s->xnn = true;
		s->f16 = f16_possible;
		const enum nst_status st = xnn_measure(s, &s->xnn_bytes, diag);
		if (st != NST_OK)
			return st;
		break;
	}
	}
	if (want_f16 && !s->f16)
		s->plan.notice = s->plan.backend != NST_BACKEND_XNNPACK ? fp16_backend_notice(s->options.backend, s->plan.backend)
		                 : nst_xnn_available()                 ? "fp16 is not available on this CPU; running in fp32"
		                                                       : "fp16 needs XNNPACK, which this build lacks; running in fp32";
	if (s->f16)
		s->plan.precision = NST_PRECISION_FP16;
	s->plan.kernel = s->f16 ? "XNNPACK float16 convolutions" : s->xnn ? "XNNPACK convolutions" : s->engine.gemm->name;

	/* The session struct itself comes first. */
	nst_arena_alloc(a, sizeof(struct nst_session));
	s->plan.scratch_bytes = a->used;
	layout(s, a);
	s->plan.total_bytes = a->used;
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		s->plan.forward_flops += conv_flops(&L->shape, L->h, L->w);
		s->plan.backward_flops += conv_flops(&L->shape, L->h, L->w); /* as many as the forward (padded: a bit more) */
		if (tap_used(s, L)) {
			s->plan.forward_flops += conv_flops(&L->tap_shape, L->h, L->w);
			s->plan.backward_flops += conv_flops(&L->tap_backward, L->h, L->w);
		}
	}
	return NST_OK;
}

enum nst_status nst_plan(const struct nst_weights *w, const struct nst_options *o, const struct nst_problem *p,
                         struct nst_plan *plan, struct nst_diag *diag) {
	if (!w || !o || !p || !plan)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_plan: a required argument is NULL");
	struct nst_session s;
	enum nst_status st = configure(&s, w, o, p, diag);
	if (st != NST_OK)
		return st;
	struct nst_arena a;
	nst_arena_init(&a, NULL, 0);
	st = build(&s, &a, diag);
	if (st != NST_OK)
		return st;
	*plan = s.plan;
	return NST_OK;
}

static enum nst_status pack_weights(struct nst_session *s, struct nst_diag *diag) {
	for (int i = 0; i < s->n_layers; i++) {
		struct vgg_layer *L = &s->layers[i];
		float *bias;
		const float *hwio = layer_weights(s->weights, L->weights_index, s->buf_a, &bias);
		nst_conv_pack_forward(s->engine.gemm, &L->shape, hwio, bias, L->packed_forward);
		if (L->packed_backward)
			nst_conv_pack_backward(s->engine.gemm, &L->shape, hwio, L->packed_backward);
		if (L->tap_packed_forward) {
			hwio = layer_weights(s->weights, L->tap_index, s->buf_a, &bias);
			nst_conv_pack_forward(s->engine.gemm, &L->tap_shape, hwio, bias, L->tap_packed_forward);
			nst_conv_pack_backward(s->engine.gemm, &L->tap_shape, hwio, L->tap_packed_backward);
		}
	}
	if (!s->xnn)
		return NST_OK;
	enum nst_status st = nst_xnn_begin(&s->xnn_heap, s->xnn_region, s->xnn_bytes);
	if (st == NST_OK)
		st = xnn_create_all(s, s->buf_a, s->buf_b, false, diag);
	else
		nst_fail(diag, st, "XNNPACK cannot start here (%s)", nst_status_string(st));
	if (st == NST_OK && s->f16 &&
	    (st = nst_xnn_f16_begin(&s->xnn_f16, s->f16_in, s->f16_out, s->f16_halves)) != NST_OK)
		nst_fail(diag, st, "XNNPACK cannot convert to float16 here (%s)", nst_status_string(st));
	return st;
}

enum nst_status nst_session_init(void *arena, size_t arena_bytes, const struct nst_weights *w,
                                 const struct nst_options *o, const struct nst_problem *p, struct nst_session **out,
                                 struct nst_diag *diag) {
	if (!arena || !w || !o || !p || !out)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_session_init: a required argument is NULL");
	if ((uintptr_t)arena % NST_ARENA_ALIGNMENT)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "the arena must be %d-byte aligned", NST_ARENA_ALIGNMENT);
	struct nst_session tmp;
	enum nst_status st = configure(&tmp, w, o, p, diag);
	if (st != NST_OK)
		return st;
	struct nst_arena a;
	nst_arena_init(&a, arena, arena_bytes);
	struct nst_session *s = arena; /* build() allocates it first, at offset 0 */
	st = build(&tmp, &a, diag);
	if (st != NST_OK)
		return st;
	if (a.overflow && o->backend == NST_BACKEND_AUTO) {
		/* Measured again here, auto may have chosen otherwise than nst_plan did: the arena is the
		 * plan of some backend, so the other candidate is tried before giving up. */
		const enum nst_backend measured = tmp.plan.backend;
		struct nst_options other = *o;
		other.backend = measured == NST_BACKEND_XNNPACK
		                    ? (nst_backend_available(NST_BACKEND_SIMD) ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR)
		                    : NST_BACKEND_XNNPACK;
		struct nst_session alt;
		struct nst_arena b;
		nst_arena_init(&b, arena, arena_bytes);
		if (nst_backend_available(other.backend) && configure(&alt, w, &other, p, diag) == NST_OK &&
		    build(&alt, &b, diag) == NST_OK && !b.overflow) {
			tmp = alt;
			a = b;
		}
	}
	if (a.overflow)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "the arena has %zu bytes, the plan needs %zu", arena_bytes,
		                tmp.plan.total_bytes);
	*s = tmp;
	s->engine.pool = nst_pool_create(s->engine.threads);
	if (s->engine.threads > 1 && !s->engine.pool)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "cannot start %d threads", s->engine.threads);
	st = pack_weights(s, diag);
	if (st != NST_OK) {
		nst_session_release(s);
		return st;
	}
	for (int i = 0; i < s->n_losses; i++)
		if (s->losses[i].style) {
			const size_t c = (size_t)s->losses[i].c;
			memset(s->losses[i].style_target, 0, c * c * sizeof(float));
		}
	s->weights = NULL; /* everything needed is packed: the caller may close the weights now */
	*out = s;
	return NST_OK;
}

void nst_session_release(struct nst_session *s) {
	if (s && s->xnn) {
		nst_xnn_f16_end(&s->xnn_f16);
		xnn_delete_all(s);
		nst_xnn_end(&s->xnn_heap);
		s->xnn = false;
	}
	if (s && s->engine.pool) {
		pthreadpool_destroy(s->engine.pool);
		s->engine.pool = NULL;
	}
}

/* ---------------------------------------------------------------------------------------------
 * Forward and backward
 * ------------------------------------------------------------------------------------------- */

static void preprocess(const uint8_t *rgb, size_t pixels, float *x) {
	for (size_t i = 0; i < pixels; i++)
		for (int c = 0; c < RGB; c++) /* x[c] is BGR: channel c comes from RGB channel 2 - c */
			x[i * RGB + (size_t)c] = (float)rgb[i * RGB + (size_t)(RGB - 1 - c)] - MEAN_BGR[c];
}

static uint8_t to_byte(float v) {
	const float r = rintf(v);
	return (uint8_t)(r < 0.0f ? 0.0f : (r > 255.0f ? 255.0f : r));
}

static void deprocess(const float *x, size_t pixels, uint8_t *rgb) {
	for (size_t i = 0; i < pixels; i++)
		for (int c = 0; c < RGB; c++)
			rgb[i * RGB + (size_t)(RGB - 1 - c)] = to_byte(x[i * RGB + (size_t)c] + MEAN_BGR[c]);
}

enum pass_mode {
	PASS_TARGET_CONTENT, /* record the content features */
	PASS_TARGET_STYLE,   /* add blend * Gram into the style targets */
	PASS_LOSS,           /* losses of the picture (and what the backward pass needs) */
};

struct pass {
	enum pass_mode mode;
	float blend;
	bool need_grad;
	float *start_grad;   /* out: the deepest layer's gradient buffer */
	/* PASS_TARGET_STYLE of one region of a larger style picture (nst_session_add_style_region):
	 * the input is the crop, only the features of own enter the Gram, weighted by their share of
	 * the whole picture's features. */
	const struct nst_rect *crop, *own;  /* whole-picture pixels */
	int whole_w, whole_h;
};

static void pool_forward(struct nst_session *s, const struct vgg_layer *L, int h, int w, const float *in, float *out,
                         bool record) {
	if (s->options.pooling == NST_POOLING_MAX)
		nst_maxpool2x2(&s->engine, h, w, L->shape.out_channels, in, out, record ? L->argmax : NULL);
	else
		nst_avgpool2x2(&s->engine, h, w, L->shape.out_channels, in, out);
}

/* Loss terms at layer L's features f ([h][w][c]); the gradient goes to grad if not NULL. */
static void layer_loss(struct nst_session *s, struct loss_layer *l, const float *f, float *grad, bool accumulate) {
	const struct vgg_layer *L = &s->layers[l->layer];
	const int c = l->c;
	const size_t hw = (size_t)L->h * (size_t)L->w;
	if (l->style) {
		if (grad) {
			nst_style_grad(&s->engine, hw, c, f, l->style_m, grad, accumulate, s->style_pack);
			accumulate = true;
		} else {
			/* The reference multiplies the two weights first (in double, as Python does). */
			const float weight = (float)((double)s->options.style_weight * (double)l->layer_weight);
			nst_gram(&s->engine, hw, c, f, l->gram);
			l->style_value = nst_style_loss(c, hw, l->gram, l->style_target, weight, l->style_m);
		}
	}
	if (l->content) {
		const double v = nst_content_loss(&s->engine, hw * (size_t)c, f, l->content_target, s->options.content_weight,
		                                  grad, accumulate);
		if (!grad)
			l->content_value = v;
	}
}

/* Layer L's convolution for the optimized picture: on XNNPACK (then the ReLU mask from its
 * output) or on the engine with everything fused. */
static void conv_forward(struct nst_session *s, const struct vgg_layer *L, int h, int w, float *in, float *out,
                         uint8_t *mask) {
	if (s->f16 && h == L->h && w == L->w && !engine_only(L)) {
		/* The input is scaled in place, except the picture itself (|x| <= 255 fits float16). */
		const int cin = L->shape.in_channels, c = L->shape.out_channels;
		float unscale;
		nst_xnn_conv_run_f16(&s->xnn_f16, L->xnn_forward, L->l1_forward, h, w, cin, c, in, in != s->x, out, &unscale,
		                     s->engine.pool);
		const size_t pixels = (size_t)h * (size_t)w;
		for (size_t i = 0; i < pixels; i++) {
			float *o = out + i * (size_t)c;
			for (int k = 0; k < c; k++) {
				const float v = o[k] * unscale + L->bias[k];
				o[k] = v > 0.0f ? v : 0.0f; /* the ReLU */
			}
		}
		if (mask)
			nst_mask_from_positive(&s->engine, pixels * (size_t)c, out, mask);
		return;
	}
	if (s->xnn && h == L->h && w == L->w && !engine_only(L)) {
		nst_xnn_conv_run(L->xnn_forward, h, w, in, out, s->engine.pool);
		if (mask)
			nst_mask_from_positive(&s->engine, (size_t)h * (size_t)w * (size_t)L->shape.out_channels, out, mask);
		return;
	}
	const struct nst_conv_epilogue ep = {0.0f, INFINITY, mask, NULL, NULL};
	nst_conv2d(&s->engine, &L->shape, h, w, in, L->packed_forward, out, &ep);
}

/* Layer L's input gradient: out = mask_in ? (conv^T(g) + addend) : 0 (either may be NULL).  With
 * reflection padding, out first holds the gradient of the padded picture (backward_floats), which
 * is folded back onto the pixels the padding mirrors. */
static void conv_backward(struct nst_session *s, const struct vgg_layer *L, float *g, float *out,
                          const float *addend, const uint8_t *mask_in) {
	if (engine_only(L)) {
		nst_conv2d(&s->engine, &L->backward, L->h, L->w, g, L->packed_backward, out, NULL);
		nst_reflect_pad_backward(L->h, L->w, L->shape.in_channels, L->shape.pad, out);
		const size_t n = (size_t)L->h * (size_t)L->w * (size_t)L->shape.in_channels;
		if (mask_in)
			nst_mask_apply(&s->engine, n, mask_in, addend, out);
		else if (addend)
			for (size_t i = 0; i < n; i++)
				out[i] += addend[i];
		return;
	}
	if (s->f16) {
		/* g is not needed afterwards: scaled in place into float16's range. */
		const size_t n = (size_t)L->h * (size_t)L->w * (size_t)L->shape.in_channels;
		float unscale;
		nst_xnn_conv_run_f16(&s->xnn_f16, L->xnn_backward, L->l1_backward, L->h, L->w, L->shape.out_channels,
		                     L->shape.in_channels, g, true, out, &unscale, s->engine.pool);
		if (unscale != 1.0f)
			for (size_t i = 0; i < n; i++)
				out[i] *= unscale;
		if (mask_in)
			nst_mask_apply(&s->engine, n, mask_in, addend, out);
		return;
	}
	if (s->xnn) {
		nst_xnn_conv_run(L->xnn_backward, L->h, L->w, g, out, s->engine.pool);
		if (mask_in)
			nst_mask_apply(&s->engine, (size_t)L->h * (size_t)L->w * (size_t)L->shape.in_channels, mask_in, addend, out);
		return;
	}
	const struct nst_conv_epilogue ep = {-INFINITY, INFINITY, NULL, addend, mask_in};
	nst_conv2d(&s->engine, &L->backward, L->h, L->w, g, L->packed_backward, out, &ep);
}

/* A loss layer's features from its layer's output out [h][w][c]: out itself, or its tap's
 * ReLU(1x1 conv(out)) in s->tap_f [h][w][c_tap]. */
static const float *loss_features(struct nst_session *s, const struct loss_layer *l, int h, int w, const float *out) {
	if (!l->tapped)
		return out;
	const struct vgg_layer *L = &s->layers[l->layer];
	const struct nst_conv_epilogue relu = {0.0f, INFINITY, NULL, NULL, NULL};
	nst_conv2d(&s->engine, &L->tap_shape, h, w, out, L->tap_packed_forward, s->tap_f, &relu);
	return s->tap_f;
}

/* The loss gradient with respect to the layer's output (before its own ReLU's mask) into grad
 * [h][w][c]: through the tap (its ReLU, then its 1x1 conv transposed) when the loss is tapped. */
static void loss_grad(struct nst_session *s, struct loss_layer *l, const float *f, float *grad) {
	if (!l->tapped) {
		layer_loss(s, l, f, grad, false);
		return;
	}
	/* Through the tap's ReLU (f = max(0, .)) and its 1x1 convolution, block by block. */
	const struct vgg_layer *L = &s->layers[l->layer];
	nst_tap_grad(&s->engine, (size_t)L->h * (size_t)L->w, l->c, f, l->style ? l->style_m : NULL, s->style_pack,
	             l->content ? l->content_target : NULL, s->options.content_weight, L->tap_shape.in_channels,
	             L->tap_packed_backward, grad);
}

/* Runs the stack on x ([h][w][3]). */
/* Region passes: blend * (n_own / n_whole) * Gram(own features) into l's style target, so that
 * the regions of a partition of the whole picture add up to blend * Gram(whole picture).  At this
 * layer the picture is `factor` times smaller than the input (h x w: the crop's features, in out;
 * whole_h x whole_w: the whole picture's); the own features are gathered into spare. */
static void style_region_gram(struct nst_session *s, struct loss_layer *l, const struct pass *pass, int factor,
                              int whole_h, int whole_w, int h, int w, const float *out, float *spare) {
	const int c = l->c;
	const struct nst_rect *crop = pass->crop, *own = pass->own;
	/* Own rows / columns at this layer, relative to the crop; an own edge on the picture's edge
	 * takes everything the floor of the pooling left there. */
	const int x0 = (own->x - crop->x) / factor, y0 = (own->y - crop->y) / factor;
	int x1 = own->x + own->width == pass->whole_w ? w : (own->x + own->width - crop->x) / factor;
	int y1 = own->y + own->height == pass->whole_h ? h : (own->y + own->height - crop->y) / factor;
	x1 = x1 < w ? x1 : w;
	y1 = y1 < h ? y1 : h;
	if (x1 <= x0 || y1 <= y0)
		return;
	const size_t row = (size_t)(x1 - x0) * (size_t)c; /* floats of one own row */
	for (int y = y0; y < y1; y++)                     // spare: [y1 - y0][x1 - x0][c]; may be out (moves down only)
		memmove(spare + (size_t)(y - y0) * row, out + ((size_t)y * (size_t)w + (size_t)x0) * (size_t)c,
		       row * sizeof(float));
	const size_t n_own = (size_t)(y1 - y0) * (size_t)(x1 - x0);
	nst_gram(&s->engine, n_own, c, spare, l->gram);
	const float share = (float)((double)pass->blend * (double)n_own / ((double)whole_h * (double)whole_w));
	for (size_t j = 0; j < (size_t)c * (size_t)c; j++)
		l->style_target[j] += share * l->gram[j];
}

static void forward(struct nst_session *s, float *x, int h, int w, struct pass *pass) {
	float *cur = x;
	const bool record = pass->mode == PASS_LOSS;
	int factor = 1, whole_h = pass->whole_h, whole_w = pass->whole_w; /* region passes */
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		float *out = cur == s->buf_a ? s->buf_b : s->buf_a;
		float *other = out == s->buf_a ? s->buf_b : s->buf_a;
		double t0 = nst_seconds();
		if (pass->mode == PASS_TARGET_STYLE) { /* other sizes: always the engine's kernels */
			const struct nst_conv_epilogue ep = {0.0f, INFINITY, NULL, NULL, NULL};
			nst_conv2d(&s->engine, &L->shape, h, w, cur, L->packed_forward, out, &ep);
		} else {
			conv_forward(s, L, h, w, cur, out, record ? L->mask : NULL);
		}
		double t1 = nst_seconds();
		if (record)
			s->profile.layers[i].forward_seconds += t1 - t0;
		if (L->loss != NO_LOSS) {
			struct loss_layer *l = &s->losses[L->loss];
			const int c = l->c;
			const bool used = (pass->mode == PASS_TARGET_CONTENT && l->content) ||
			                  (pass->mode == PASS_TARGET_STYLE && l->style) || pass->mode == PASS_LOSS;
			const float *f = used ? loss_features(s, l, h, w, out) : out; /* [h][w][c] */
			if (pass->mode == PASS_TARGET_CONTENT && l->content) {
				memcpy(l->content_target, f, (size_t)h * (size_t)w * (size_t)c * sizeof(float));
			} else if (pass->mode == PASS_TARGET_STYLE && l->style && pass->own) {
				/* a tap's features are not needed after: gathered in place */
				style_region_gram(s, l, pass, factor, whole_h, whole_w, h, w, f, l->tapped ? s->tap_f : other);
			} else if (pass->mode == PASS_TARGET_STYLE && l->style) {
				nst_gram(&s->engine, (size_t)h * (size_t)w, c, f, l->gram);
				for (size_t j = 0; j < (size_t)c * (size_t)c; j++)
					l->style_target[j] += pass->blend * l->gram[j];
			} else if (pass->mode == PASS_LOSS) {
				layer_loss(s, l, f, NULL, false);
				if (pass->need_grad) {
					if (i == s->n_layers - 1) {
						loss_grad(s, l, f, other);
						pass->start_grad = other;
					} else if (l->stored) {
						loss_grad(s, l, f, l->grad);
					}
				}
			}
		}
		t0 = nst_seconds();
		if (record)
			s->profile.loss_seconds += t0 - t1;
		if (L->pool_after) {
			pool_forward(s, L, h, w, out, other, record);
			h /= 2;
			w /= 2;
			factor *= 2;
			whole_h /= 2;
			whole_w /= 2;
			cur = other;
		} else {
			cur = out;
		}
		if (record)
			s->profile.layers[i].forward_seconds += nst_seconds() - t0;
	}
	if (record)
		s->profile.forward_passes++;
}

/* From the deepest layer's loss gradient (in pass->start_grad) to the picture's gradient. */
static void backward(struct nst_session *s, float *g) {
	float *other = g == s->buf_a ? s->buf_b : s->buf_a;
	const struct vgg_layer *top = &s->layers[s->n_layers - 1];
	nst_mask_apply(&s->engine, (size_t)top->h * (size_t)top->w * (size_t)top->shape.out_channels, top->mask, NULL, g);
	s->profile.backward_passes++;
	for (int i = s->n_layers - 1; i >= 0; i--) {
		const struct vgg_layer *L = &s->layers[i];
		const double t0 = nst_seconds();
		if (i == 0) {
			conv_backward(s, L, g, s->grad, NULL, NULL);
			s->profile.layers[i].backward_seconds += nst_seconds() - t0;
			return;
		}
		const struct vgg_layer *below = &s->layers[i - 1];
		const size_t below_n = (size_t)below->h * (size_t)below->w * (size_t)below->shape.out_channels;
		struct loss_layer *l = below->loss != NO_LOSS ? &s->losses[below->loss] : NULL;
		if (below->pool_after) {
			/* conv input gradient at the pooled size, then through the pooling, then losses + ReLU. */
			conv_backward(s, L, g, other, NULL, NULL);
			if (s->options.pooling == NST_POOLING_MAX)
				nst_maxpool2x2_backward(&s->engine, below->h, below->w, below->shape.out_channels, other, below->argmax, g);
			else
				nst_avgpool2x2_backward(&s->engine, below->h, below->w, below->shape.out_channels, other, g);
			if (l && l->recompute) {
				/* relu of layer 0 again, from the picture, into the free buffer. */
				conv_forward(s, below, below->h, below->w, s->x, other, NULL);
				layer_loss(s, l, other, g, true);
			}
			nst_mask_apply(&s->engine, below_n, below->mask, l && l->stored ? l->grad : NULL, g);
			s->profile.layers[i].backward_seconds += nst_seconds() - t0;
			continue; /* the gradient stays in g */
		}
		if (l && l->recompute) {
			conv_backward(s, L, g, other, NULL, NULL);
			conv_forward(s, below, below->h, below->w, s->x, g, NULL);
			layer_loss(s, l, g, other, true);
			nst_mask_apply(&s->engine, below_n, below->mask, NULL, other);
		} else {
			conv_backward(s, L, g, other, l && l->stored ? l->grad : NULL, below->mask);
		}
		s->profile.layers[i].backward_seconds += nst_seconds() - t0;
		float *t = g;
		g = other;
		other = t;
	}
}

/* Losses at x, and the gradient into s->grad when need_grad. */
static void evaluate(struct nst_session *s, bool need_grad, struct nst_losses *out) {
	struct pass pass = {.mode = PASS_LOSS, .need_grad = need_grad};
	const int h = s->problem.height, w = s->problem.width;
	if (s->n_layers > 0)
		forward(s, s->x, h, w, &pass);
	if (need_grad) {
		if (s->n_layers > 0)
			backward(s, pass.start_grad);
		else
			memset(s->grad, 0, s->n * sizeof(float));
	}
	struct nst_losses v = {0};
	for (int i = 0; i < s->n_losses; i++) {
		v.content += s->losses[i].content ? s->losses[i].content_value : 0.0;
		v.style += s->losses[i].style ? s->losses[i].style_value : 0.0;
	}
	const double t0 = nst_seconds();
	v.tv = nst_tv_loss(h, w, RGB, s->x, s->options.tv_weight, need_grad ? s->grad : NULL, true);
	s->profile.loss_seconds += nst_seconds() - t0;
	/* The reference sums in float32 in this order: content + style + tv. */
	v.total = (double)((float)v.content + (float)v.style + (float)v.tv);
	*out = v;
}

/* ---------------------------------------------------------------------------------------------
 * Inputs and targets
 * ------------------------------------------------------------------------------------------- */

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
	preprocess(rgb, (size_t)h * (size_t)w, s->staging);
	const int32_t key[3] = {index, w, h};
	s->style_crc = nst_crc32(s->style_crc, key, sizeof key);
	s->style_crc = nst_crc32(s->style_crc, &blend, sizeof blend);
	s->style_crc = nst_crc32(s->style_crc, rgb, (size_t)h * (size_t)w * RGB);
	struct pass pass = {.mode = PASS_TARGET_STYLE, .blend = blend};
	if (s->n_layers > 0)
		forward(s, s->staging, h, w, &pass);
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
	const enum nst_status st = configure(&s, w, o, &p, diag);
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
	preprocess(rgb, (size_t)crop->width * (size_t)crop->height, s->staging);
	struct pass pass = {.mode = PASS_TARGET_STYLE, .blend = blend, .crop = crop, .own = own,
	                    .whole_w = whole_width, .whole_h = whole_height};
	if (s->n_layers > 0)
		forward(s, s->staging, crop->height, crop->width, &pass);
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

static void reset_run(struct nst_session *s) {
	memset(&s->run, 0, sizeof s->run);
	s->run.good_row = -1;
	memcpy(s->x_good, s->x, s->n * sizeof(float));
	if (s->options.optimizer == NST_OPTIMIZER_ADAM) {
		memset(s->adam_m, 0, s->n * sizeof(float));
		memset(s->adam_v, 0, s->n * sizeof(float));
		s->adam_step = 0;
	}
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
	preprocess(s->content_rgb, pixels, s->x);
	struct pass pass = {.mode = PASS_TARGET_CONTENT};
	if (s->n_layers > 0)
		forward(s, s->x, s->problem.height, s->problem.width, &pass);
	if (s->options.init == NST_INIT_RANDOM) {
		struct nst_rng rng;
		nst_rng_seed(&rng, s->options.seed);
		for (size_t i = 0; i < s->n; i++)
			s->x[i] = (float)(nst_rng_normal(&rng) * RANDOM_INIT_SCALE);
	} else if (s->options.init == NST_INIT_IMAGE) {
		if (!s->init_set)
			return NST_ERR_INVALID_ARGUMENT;
		preprocess(s->init_rgb, pixels, s->x);
	}
	reset_run(s);
	s->prepared = true;
	return NST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Optimizers
 * ------------------------------------------------------------------------------------------- */

/* After every reported row the run can stop (the callback said so) and later resume from the
 * session's state, or from a checkpoint of it: all of the optimizers' state lives here. */
static bool report(struct nst_session *s, int iterations, const struct nst_losses *v, nst_progress_fn progress,
                   void *user) {
	struct nst_run_state *r = &s->run;
	r->last = *v;
	const int row = r->row++;
	if (row == 0)
		r->tol_f = v->total;
	r->pending = true;
	if (isfinite(v->total)) {
		memcpy(s->x_good, s->x, s->n * sizeof(float));
		r->good_row = row;
	}
	if (!progress)
		return true;
	const int step = s->options.optimizer == NST_OPTIMIZER_ADAM ? row : r->n_iter;
	const struct nst_progress p = {row, iterations, *v, r->seconds + (nst_seconds() - r->t0), step};
	const bool go_on = progress(user, &p);
	if (!go_on && r->searching) { /* stop after the search, at the point it accepts */
		r->stop_requested = true;
		return true;
	}
	return go_on;
}

/* A loss that is no longer finite: back to the last picture whose loss was. */
static enum nst_status numeric_failure(struct nst_session *s) {
	memcpy(s->x, s->x_good, s->n * sizeof(float));
	s->run.failed = true;
	return NST_ERR_NUMERIC;
}

static bool finite_losses(const struct nst_losses *v) { return isfinite(v->total); }

/* torch.optim.Adam, one step on x with the gradient in s->grad. */
static void adam_step(struct nst_session *s) {
	s->adam_step++;
	const double bc1 = 1.0 - pow(ADAM_BETA1, s->adam_step);
	const double bc2_sqrt = sqrt(1.0 - pow(ADAM_BETA2, s->adam_step));
	const float step_size = (float)((double)s->options.learning_rate / bc1);
	const float b1 = (float)ADAM_BETA1, one_minus_b1 = (float)(1.0 - ADAM_BETA1);
	const float b2 = (float)ADAM_BETA2, one_minus_b2 = (float)(1.0 - ADAM_BETA2);
	const float bc2s = (float)bc2_sqrt, eps = (float)ADAM_EPS;
	for (size_t i = 0; i < s->n; i++) {
		const float g = s->grad[i];
		const float m = s->adam_m[i] * b1 + one_minus_b1 * g;
		const float v = s->adam_v[i] * b2 + one_minus_b2 * g * g;
		s->adam_m[i] = m;
		s->adam_v[i] = v;
		const float denom = sqrtf(v) / bc2s + eps;
		s->x[i] -= step_size * (m / denom);
	}
}

/* In double, over DOT_LANES partial sums: one chain of dependent additions was the bound (the
 * L-BFGS two-loop recursion takes 2 history dots per iteration over the whole picture). */
#define DOT_LANES 4
static double dot(size_t n, const float *a, const float *b) {
	double lane[DOT_LANES] = {0.0};
	size_t i = 0;
	for (; i + DOT_LANES <= n; i += DOT_LANES)
		for (size_t k = 0; k < DOT_LANES; k++)
			lane[k] += (double)a[i + k] * (double)b[i + k];
	for (; i < n; i++)
		lane[0] += (double)a[i] * (double)b[i];
	return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

/* options.tolerance: at the end of every NST_TOLERANCE_WINDOW-th iteration, whether the loss
 * fell by less than that fraction since the window began. */
static bool converged(struct nst_session *s, int iteration, double f) {
	struct nst_run_state *r = &s->run;
	const double tolerance = s->options.tolerance;
	if (!(tolerance > 0.0) || iteration < r->tol_iteration + NST_TOLERANCE_WINDOW)
		return false;
	r->converged = !(r->tol_f - f > tolerance * fabs(r->tol_f));
	r->tol_f = f;
	r->tol_iteration = iteration;
	return r->converged;
}

/* Row k is the picture after k steps; the last row is evaluated without a gradient. */
static enum nst_status run_adam(struct nst_session *s, int iterations, nst_progress_fn progress, void *user) {
	struct nst_run_state *r = &s->run;
	for (;;) {
		if (!r->pending) {
			struct nst_losses v;
			evaluate(s, r->row < iterations, &v);
			if (!report(s, iterations, &v, progress, user))
				return finite_losses(&v) ? NST_ERR_INTERRUPTED : numeric_failure(s);
			if (!finite_losses(&v))
				return numeric_failure(s);
		}
		if (r->row > iterations || converged(s, r->row - 1, r->last.total)) {
			r->done = true;
			return NST_OK;
		}
		const double t0 = nst_seconds();
		adam_step(s);
		s->profile.optimizer_seconds += nst_seconds() - t0;
		r->pending = false;
	}
}

/* One trial point of the line search: x = x0 + t d, its loss and gradient, reported as a row. */
struct line_trial {
	struct nst_session *s;
	int iterations;
	nst_progress_fn progress;
	void *user;
};

static double line_trial_evaluate(void *context, double t, float *grad) {
	struct line_trial *c = context;
	struct nst_session *s = c->s;
	const float tf = (float)t, *x0 = s->lbfgs_x0, *d = s->lbfgs_d;
	for (size_t i = 0; i < s->n; i++)
		s->x[i] = x0[i] + tf * d[i];
	struct nst_losses v;
	evaluate(s, true, &v);
	s->run.evals++;
	report(s, c->iterations, &v, c->progress, c->user);
	memcpy(grad, s->grad, s->n * sizeof(float));
	return v.total;
}

/* The step along d by PyTorch's strong-Wolfe search from x, starting at the step r->t: x, grad
 * and the loss end at the point it accepts.  A stop asked for inside the search takes effect when
 * it ends (NST_ERR_INTERRUPTED), so that the picture is an accepted one. */
static enum nst_status lbfgs_line_search(struct nst_session *s, double gtd, int iterations, nst_progress_fn progress,
                                         void *user) {
	struct nst_run_state *r = &s->run;
	const size_t n = s->n;
	memcpy(s->lbfgs_x0, s->x, n * sizeof(float));
	r->search_row = r->row;
	r->search_evals = r->evals;
	r->search_t = r->t;
	r->search_gtd = gtd;
	const struct nst_wolfe_scratch ls = {n, {s->lbfgs_search, s->lbfgs_search + n, s->lbfgs_search + 2 * n}};
	struct line_trial trial = {s, iterations, progress, user};
	struct nst_line_result res;
	r->searching = true;
	/* lbfgs_prev_grad holds the gradient at x0 (copied before the step). */
	nst_strong_wolfe(&ls, s->lbfgs_d, r->t, r->f, s->lbfgs_prev_grad, gtd, line_trial_evaluate, &trial, &res);
	r->searching = false;
	const float tf = (float)res.t;
	for (size_t i = 0; i < n; i++)
		s->x[i] = s->lbfgs_x0[i] + tf * s->lbfgs_d[i];
	memcpy(s->grad, res.grad, n * sizeof(float));
	r->t = res.t;
	r->f = res.f;
	if (!isfinite(res.f))
		return numeric_failure(s);
	if (r->stop_requested) {
		r->stop_requested = false;
		return NST_ERR_INTERRUPTED;
	}
	return NST_OK;
}

/* torch.optim.LBFGS(lr, max_iter=iterations, max_eval=int(1.25 * iterations), history_size=m,
 * tolerance_grad=-1, tolerance_change=-1, line_search_fn=None), one call of step(), then the
 * reference's last evaluation of the final picture.  The check that ends PyTorch's loop body runs
 * here at the top of the next pass, so that every stop falls right after an evaluation. */
static enum nst_status run_lbfgs(struct nst_session *s, int iterations, nst_progress_fn progress, void *user) {
	struct nst_run_state *r = &s->run;
	const size_t n = s->n;
	const int m = s->options.history;
	const float lr = s->options.learning_rate;
	const int max_iter = iterations > 1 ? iterations : 1;
	const int max_eval = (int)(iterations * LBFGS_MAX_EVAL_FACTOR) > 1 ? (int)(iterations * LBFGS_MAX_EVAL_FACTOR) : 1;
	float *d = s->lbfgs_d, *g = s->grad, *prev = s->lbfgs_prev_grad;
	struct nst_losses v;

	if (iterations > 0 && !r->loop_done) {
		if (r->evals == 0) {
			evaluate(s, true, &v);
			r->evals = 1;
			r->f = v.total;
			if (!report(s, iterations, &v, progress, user))
				return finite_losses(&v) ? NST_ERR_INTERRUPTED : numeric_failure(s);
			if (!finite_losses(&v))
				return numeric_failure(s);
		}
		for (;;) {
			if (r->resume_search) { /* a checkpoint taken inside this iteration's line search */
				r->resume_search = false;
				const enum nst_status st = lbfgs_line_search(s, r->search_gtd, iterations, progress, user);
				if (st != NST_OK)
					return st;
				continue;
			}
			if (r->n_iter > 0 && (r->n_iter == max_iter || r->evals >= max_eval))
				break;
			if (r->n_iter >= max_iter)
				break;
			if (r->n_iter > 0 && converged(s, r->n_iter, r->f))
				break;
			const double t0 = nst_seconds();
			r->n_iter++;
			if (r->n_iter == 1) {
				for (size_t i = 0; i < n; i++)
					d[i] = -g[i];
				r->n_old = 0;
				r->h_diag = 1.0;
			} else {
				/* y = g - prev, s = d * t: stored in the ring's next slot if the curvature is positive. */
				const int slot = (r->oldest + r->n_old) % m; /* == oldest when the ring is full */
				float *y = s->lbfgs_dirs + (size_t)slot * n;
				float *st = s->lbfgs_steps + (size_t)slot * n;
				double ys = 0.0, yy = 0.0;
				for (size_t i = 0; i < n; i++) {
					const float yi = g[i] - prev[i], si = d[i] * (float)r->t;
					ys += (double)yi * (double)si;
					yy += (double)yi * (double)yi;
				}
				if (ys > LBFGS_MIN_CURVATURE) {
					for (size_t i = 0; i < n; i++) {
						y[i] = g[i] - prev[i];
						st[i] = d[i] * (float)r->t;
					}
					s->lbfgs_ro[slot] = 1.0 / ys;
					if (r->n_old == m)
						r->oldest = (r->oldest + 1) % m; /* the oldest pair was overwritten */
					else
						r->n_old++;
					r->h_diag = ys / yy;
				}
				/* Two-loop recursion: d = -H g. */
				for (size_t i = 0; i < n; i++)
					d[i] = -g[i];
				for (int k = r->n_old - 1; k >= 0; k--) {
					const int j = (r->oldest + k) % m;
					const double al = dot(n, s->lbfgs_steps + (size_t)j * n, d) * s->lbfgs_ro[j];
					s->lbfgs_al[j] = al;
					const float a = (float)al;
					const float *yj = s->lbfgs_dirs + (size_t)j * n;
					for (size_t i = 0; i < n; i++)
						d[i] -= a * yj[i];
				}
				for (size_t i = 0; i < n; i++)
					d[i] *= (float)r->h_diag;
				for (int k = 0; k < r->n_old; k++) {
					const int j = (r->oldest + k) % m;
					const double be = dot(n, s->lbfgs_dirs + (size_t)j * n, d) * s->lbfgs_ro[j];
					const float a = (float)(s->lbfgs_al[j] - be);
					const float *sj = s->lbfgs_steps + (size_t)j * n;
					for (size_t i = 0; i < n; i++)
						d[i] += a * sj[i];
				}
			}
			memcpy(prev, g, n * sizeof(float));
			if (r->n_iter == 1) {
				double l1 = 0.0;
				for (size_t i = 0; i < n; i++)
					l1 += fabs((double)g[i]);
				r->t = (l1 > 0.0 && 1.0 / l1 < 1.0 ? 1.0 / l1 : 1.0) * (double)lr;
			} else {
				r->t = (double)lr;
			}
			const double gtd = dot(n, g, d);
			if (gtd > -LBFGS_TOLERANCE_CHANGE)
				break;
			if (s->options.line_search == NST_LINE_SEARCH_STRONG_WOLFE) {
				const enum nst_status st = lbfgs_line_search(s, gtd, iterations, progress, user);
				if (st != NST_OK)
					return st;
				continue;
			}
			const float tf = (float)r->t;
			for (size_t i = 0; i < n; i++)
				s->x[i] += tf * d[i];
			s->profile.optimizer_seconds += nst_seconds() - t0;
			if (r->n_iter != max_iter) {
				evaluate(s, true, &v);
				r->evals++;
				r->f = v.total;
				if (!report(s, iterations, &v, progress, user))
					return finite_losses(&v) ? NST_ERR_INTERRUPTED : numeric_failure(s);
				if (!finite_losses(&v))
					return numeric_failure(s);
			}
		}
	}
	/* The reference records the losses of the final picture once more; a run resumed from its
	 * final row (loop_done: that row is reported, as the checkpoint's row count says) has it. */
	const bool final_reported = r->loop_done;
	r->loop_done = true;
	bool go_on = true;
	if (final_reported) {
		v = r->last;
	} else {
		evaluate(s, false, &v);
		go_on = report(s, iterations, &v, progress, user);
	}
	r->done = true;
	if (!finite_losses(&v))
		return numeric_failure(s);
	return go_on ? NST_OK : NST_ERR_INTERRUPTED;
}

enum nst_status nst_session_run(struct nst_session *s, int iterations, nst_progress_fn progress, void *user) {
	if (!s || iterations < 0)
		return NST_ERR_INVALID_ARGUMENT;
	if (!s->prepared) {
		const enum nst_status st = nst_session_prepare(s);
		if (st != NST_OK)
			return st;
	}
	struct nst_run_state *r = &s->run;
	if (r->failed)
		return NST_ERR_NUMERIC;
	if (r->done) /* finished (nst_session_restart starts a new run) */
		return NST_OK;
	r->t0 = nst_seconds();
	const enum nst_status st = s->options.optimizer == NST_OPTIMIZER_ADAM ? run_adam(s, iterations, progress, user)
	                                                                       : run_lbfgs(s, iterations, progress, user);
	r->seconds += nst_seconds() - r->t0;
	return st;
}

enum nst_status nst_session_restart(struct nst_session *s) {
	if (!s || !s->prepared)
		return NST_ERR_INVALID_ARGUMENT;
	reset_run(s);
	return NST_OK;
}

int nst_session_rows(const struct nst_session *s) { return s ? s->run.row : 0; }
int nst_session_good_row(const struct nst_session *s) { return s ? s->run.good_row : -1; }
bool nst_session_converged(const struct nst_session *s) { return s && s->run.converged; }

enum nst_status nst_session_evaluate(struct nst_session *s, struct nst_losses *losses, float *grad) {
	if (!s || !losses)
		return NST_ERR_INVALID_ARGUMENT;
	if (!s->prepared) {
		const enum nst_status st = nst_session_prepare(s);
		if (st != NST_OK)
			return st;
	}
	evaluate(s, grad != NULL, losses);
	if (grad)
		memcpy(grad, s->grad, s->n * sizeof(float));
	return NST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------------------------- */

/* Luminance-only transfer: the result's luma (BT.601) with the content's chroma. */
static void keep_colors(const uint8_t *content, size_t pixels, uint8_t *rgb) {
	for (size_t i = 0; i < pixels; i++) {
		const uint8_t *c = content + i * RGB;
		uint8_t *r = rgb + i * RGB;
		const float y = 0.299f * r[0] + 0.587f * r[1] + 0.114f * r[2];
		const float u = -0.14713f * c[0] - 0.28886f * c[1] + 0.436f * c[2];
		const float v = 0.615f * c[0] - 0.51499f * c[1] - 0.10001f * c[2];
		r[0] = to_byte(y + 1.13983f * v);
		r[1] = to_byte(y - 0.39465f * u - 0.58060f * v);
		r[2] = to_byte(y + 2.03211f * u);
	}
}

enum nst_status nst_session_image(struct nst_session *s, uint8_t *rgb) {
	if (!s || !rgb)
		return NST_ERR_INVALID_ARGUMENT;
	const size_t pixels = s->n / RGB;
	deprocess(s->x, pixels, rgb);
	if (s->options.original_colors)
		keep_colors(s->content_rgb, pixels, rgb);
	return NST_OK;
}

void nst_rgb_to_x(const uint8_t *rgb, size_t pixels, float *x) { preprocess(rgb, pixels, x); }

void nst_x_to_rgb(const float *x, const uint8_t *content, size_t pixels, bool original_colors, uint8_t *rgb) {
	deprocess(x, pixels, rgb);
	if (original_colors)
		keep_colors(content, pixels, rgb);
}

enum nst_status nst_session_get_x(struct nst_session *s, float *x) {
	if (!s || !x || !s->prepared)
		return NST_ERR_INVALID_ARGUMENT;
	memcpy(x, s->x, s->n * sizeof(float));
	return NST_OK;
}

enum nst_status nst_session_set_x(struct nst_session *s, const float *x) {
	if (!s || !x || !s->prepared)
		return NST_ERR_INVALID_ARGUMENT;
	for (size_t i = 0; i < s->n; i++)
		if (!isfinite(x[i]))
			return NST_ERR_INVALID_ARGUMENT;
	memcpy(s->x, x, s->n * sizeof(float));
	return NST_OK;
}

void nst_session_profile(struct nst_session *s, struct nst_profile *out, bool reset) {
	if (!s)
		return;
	s->profile.n_layers = s->n_layers;
	for (int i = 0; i < s->n_layers && i < NST_PROFILE_MAX_LAYERS; i++) {
		const struct vgg_layer *L = &s->layers[i];
		struct nst_layer_profile *p = &s->profile.layers[i];
		memcpy(p->name, L->name, sizeof p->name);
		p->height = L->h;
		p->width = L->w;
		p->in_channels = L->shape.in_channels;
		p->out_channels = L->shape.out_channels;
		p->forward_flops = conv_flops(&L->shape, L->h, L->w);
		p->backward_flops = conv_flops(&L->backward, L->h, L->w);
	}
	if (out)
		*out = s->profile;
	if (reset) {
		const int n = s->profile.n_layers;
		struct nst_layer_profile keep[NST_PROFILE_MAX_LAYERS];
		memcpy(keep, s->profile.layers, sizeof keep);
		memset(&s->profile, 0, sizeof s->profile);
		s->profile.n_layers = n;
		for (int i = 0; i < n; i++) {
			s->profile.layers[i] = keep[i];
			s->profile.layers[i].forward_seconds = s->profile.layers[i].backward_seconds = 0.0;
		}
	}
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints: the run state and every optimizer buffer, so that a resumed run continues
 * exactly (Adam bit for bit; L-BFGS with its history).  The targets are recomputed from the same
 * pictures and options, which a fingerprint in the header checks.
 *
 * File (version 2): the header below, the arrays of checkpoint_arrays in order, then the CRC-32
 * (nst_crc32, little-endian) of every byte before it.  A load checks, in this order: the magic,
 * the version, the size this session's checkpoints have, the CRC over the whole file (so one
 * flipped bit anywhere is "corrupted", never a different run), then the options and pictures
 * (the fingerprint: "other pictures or options"), then every field against its bounds and the
 * others (a file with a right CRC and wrong fields was crafted or written by a broken build).
 * ------------------------------------------------------------------------------------------- */

#define CHECKPOINT_MAGIC "NSTC"
#define CHECKPOINT_VERSION 2u
#define CHECKPOINT_CRC_BYTES sizeof(uint32_t)
/* Rows a checkpoint may have reached: far beyond any run, far below where int arithmetic on the
 * counters (row + 1, evaluations, Adam's step) could overflow. */
#define CHECKPOINT_MAX_ROWS (1 << 30)

struct checkpoint_header {
	char magic[4];
	uint32_t version;
	uint32_t width, height, optimizer, history;
	uint32_t row, pending, loop_done, done;
	int32_t good_row, adam_step;
	int32_t n_iter, evals, n_old, oldest;
	uint32_t config_crc;       /* options, picture sizes, content picture, style targets */
	uint32_t reserved;         /* 0 */
	double h_diag, t, seconds;
	double last[4];            /* total, content, style, tv of the last row */
	double f;                  /* L-BFGS: the loss at x, where a line search starts */
	double tol_f;              /* --tolerance: the loss at the start of the current window */
	int32_t tol_iteration;     /* ... and that window's first iteration */
	uint32_t converged;        /* the run ended early on the tolerance */
	double search_gtd;         /* searching: the slope along d at the search's start */
	uint32_t searching;        /* taken inside a line search: resume starts it again (row, evals, t,
	                            * x and grad are the search's start) */
	uint32_t reserved2;        /* 0 */
};
_Static_assert(sizeof(struct checkpoint_header) == 168, "the checkpoint header has no padding");

struct checkpoint_array {
	void *data;
	size_t bytes;
};

/* The arrays of a checkpoint, in file order.  Inside a line search (search_start) the picture,
 * its gradient and the last good picture are the search's start, x0 and g0. */
static int checkpoint_arrays(const struct nst_session *s, bool search_start, struct checkpoint_array *out) {
	const size_t nb = s->n * sizeof(float);
	int k = 0;
	out[k++] = (struct checkpoint_array){search_start ? s->lbfgs_x0 : s->x, nb};
	out[k++] = (struct checkpoint_array){search_start ? s->lbfgs_prev_grad : s->grad, nb};
	out[k++] = (struct checkpoint_array){search_start ? s->lbfgs_x0 : s->x_good, nb};
	if (s->options.optimizer == NST_OPTIMIZER_ADAM) {
		out[k++] = (struct checkpoint_array){s->adam_m, nb};
		out[k++] = (struct checkpoint_array){s->adam_v, nb};
	} else {
		const size_t m = (size_t)s->options.history;
		out[k++] = (struct checkpoint_array){s->lbfgs_d, nb};
		out[k++] = (struct checkpoint_array){s->lbfgs_prev_grad, nb};
		out[k++] = (struct checkpoint_array){s->lbfgs_dirs, m * nb};
		out[k++] = (struct checkpoint_array){s->lbfgs_steps, m * nb};
		out[k++] = (struct checkpoint_array){s->lbfgs_ro, m * sizeof(double)};
		out[k++] = (struct checkpoint_array){s->lbfgs_al, m * sizeof(double)};
	}
	return k;
}
#define CHECKPOINT_MAX_ARRAYS 9

/* Bytes of this session's checkpoint file: header, arrays, CRC. */
static size_t checkpoint_bytes(const struct nst_session *s) {
	struct checkpoint_array arrays[CHECKPOINT_MAX_ARRAYS];
	const int n_arrays = checkpoint_arrays(s, false, arrays);
	size_t bytes = sizeof(struct checkpoint_header) + CHECKPOINT_CRC_BYTES;
	for (int i = 0; i < n_arrays; i++)
		bytes += arrays[i].bytes;
	return bytes;
}

static uint32_t crc_value(uint32_t crc, const void *p, size_t n) { return nst_crc32(crc, p, n); }

static uint32_t config_fingerprint(const struct nst_session *s) {
	const struct nst_options *o = &s->options;
	uint32_t c = 0;
	for (int i = 0; i < o->n_content_layers; i++)
		c = crc_value(c, o->content_layers[i], strlen(o->content_layers[i]) + 1);
	c = crc_value(c, "|", 1);
	for (int i = 0; i < o->n_style_layers; i++)
		c = crc_value(c, o->style_layers[i], strlen(o->style_layers[i]) + 1);
	const float weights[4] = {o->content_weight, o->style_weight, o->tv_weight, o->learning_rate};
	const int32_t ints[6] = {(int32_t)o->pooling, (int32_t)o->optimizer, o->history, (int32_t)o->init,
	                         s->problem.width, s->problem.height};
	const int32_t line_search = (int32_t)o->line_search;
	c = crc_value(c, weights, sizeof weights);
	c = crc_value(c, ints, sizeof ints);
	c = crc_value(c, &line_search, sizeof line_search);
	c = crc_value(c, &o->tolerance, sizeof o->tolerance);
	/* The precision the run computes in (fp32 checkpoints keep the fingerprint they always had). */
	if (s->plan.precision == NST_PRECISION_FP16)
		c = crc_value(c, "fp16", 4);
	c = crc_value(c, s->content_rgb, s->n);
	/* The style pictures themselves, not their Gram targets, whose float sums depend on how the
	 * work was split between threads: a run may resume with another --threads. */
	c = crc_value(c, &s->style_crc, sizeof s->style_crc);
	for (int i = 0; i < s->n_losses; i++)
		if (s->losses[i].style) {
			const size_t ch = (size_t)s->losses[i].c;
			c = crc_value(c, &ch, sizeof ch);
			c = crc_value(c, &s->losses[i].layer_weight, sizeof(float));
		}
	return c;
}

enum nst_status nst_session_save_checkpoint(const struct nst_session *s, const char *path, struct nst_diag *diag) {
	if (!s || !path || !s->prepared)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no prepared session to checkpoint");
	const struct nst_run_state *r = &s->run;
	struct checkpoint_header h;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, CHECKPOINT_MAGIC, 4);
	h.version = CHECKPOINT_VERSION;
	h.width = (uint32_t)s->problem.width;
	h.height = (uint32_t)s->problem.height;
	h.optimizer = (uint32_t)s->options.optimizer;
	h.history = (uint32_t)s->options.history;
	h.row = (uint32_t)r->row;
	h.pending = r->pending;
	h.loop_done = r->loop_done;
	h.done = r->done;
	h.good_row = r->good_row;
	h.adam_step = s->adam_step;
	h.n_iter = r->n_iter;
	h.evals = r->evals;
	h.n_old = r->n_old;
	h.oldest = r->oldest;
	h.h_diag = r->h_diag;
	h.t = r->t;
	h.seconds = r->seconds;
	h.last[0] = r->last.total;
	h.last[1] = r->last.content;
	h.last[2] = r->last.style;
	h.last[3] = r->last.tv;
	h.f = r->f;
	h.tol_f = r->tol_f;
	h.tol_iteration = r->tol_iteration;
	h.converged = r->converged;
	if (r->searching) { /* the state where the search began: resume searches again from there */
		h.row = (uint32_t)r->search_row;
		h.evals = r->search_evals;
		h.good_row = r->search_row - 1;
		h.t = r->search_t;
		h.search_gtd = r->search_gtd;
		h.searching = 1;
	}
	h.config_crc = config_fingerprint(s);
	struct checkpoint_array arrays[CHECKPOINT_MAX_ARRAYS];
	const int n_arrays = checkpoint_arrays(s, r->searching, arrays);
	uint32_t crc = crc_value(0, &h, sizeof h);
	for (int i = 0; i < n_arrays; i++)
		crc = crc_value(crc, arrays[i].data, arrays[i].bytes);
	const uint8_t trailer[CHECKPOINT_CRC_BYTES] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
	                                               (uint8_t)(crc >> 24)};

	/* Atomically: a temporary file beside the target, then a rename. */
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "checkpoint path too long");
	const int fd = mkstemp(tmp);
	if (fd < 0)
		return nst_fail(diag, NST_ERR_IO, "cannot write checkpoint %s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "wb");
	bool ok = f && fwrite(&h, sizeof h, 1, f) == 1;
	for (int i = 0; ok && i < n_arrays; i++)
		ok = fwrite(arrays[i].data, 1, arrays[i].bytes, f) == arrays[i].bytes;
	ok = ok && fwrite(trailer, sizeof trailer, 1, f) == 1;
	ok = ok && fflush(f) == 0 && fsync(fd) == 0;
	if (f)
		ok = (fclose(f) == 0) && ok;
	else
		close(fd);
	if (!ok || rename(tmp, path) != 0) {
		const int e = errno;
		unlink(tmp);
		return nst_fail(diag, NST_ERR_IO, "cannot write checkpoint %s: %s", path, strerror(e));
	}
	return NST_OK;
}

static bool all_finite(const float *v, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

/* Whether a checkpoint's run state is one the optimizers can be in (see report, run_adam and
 * run_lbfgs): each counter within bounds and consistent with the others.  NULL if so, else the
 * name of the first field that is not. */
static const char *checkpoint_state_error(const struct nst_session *s, const struct checkpoint_header *h) {
	const int m = s->options.history;
	if (h->reserved != 0 || h->reserved2 != 0)
		return "reserved";
	if (h->searching > 1 ||
	    (h->searching ? s->options.optimizer != NST_OPTIMIZER_LBFGS ||
	                        s->options.line_search != NST_LINE_SEARCH_STRONG_WOLFE || h->n_iter < 1 || h->loop_done ||
	                        !(isfinite(h->search_gtd) && h->search_gtd < 0.0)
	                  : h->search_gtd != 0.0))
		return "searching";
	if (h->pending > 1 || h->loop_done > 1 || h->done > 1)
		return "pending / loop_done / done";
	if (h->row > CHECKPOINT_MAX_ROWS)
		return "row";
	const int row = (int)h->row;
	if (h->good_row < -1 || h->good_row >= row)
		return "good_row";
	if (!isfinite(h->seconds) || h->seconds < 0.0)
		return "seconds";
	if (h->converged > 1 || (h->converged && !h->done && !h->loop_done) || h->tol_iteration < 0 ||
	    (row > 0 && !isfinite(h->tol_f)) || (row == 0 && h->tol_f != 0.0))
		return "the tolerance's window";
	if (!all_finite(s->x, s->n) || !all_finite(s->x_good, s->n))
		return "the picture";
	if (s->options.optimizer == NST_OPTIMIZER_ADAM) {
		/* Row k is evaluated after k steps; its step is taken once it is no longer pending. */
		if (h->adam_step != row - (int)h->pending || (h->done && !h->pending))
			return "adam_step";
		if (h->n_iter || h->evals || h->n_old || h->oldest || h->loop_done || h->h_diag != 0.0 || h->t != 0.0 ||
		    h->f != 0.0 || h->tol_iteration > h->adam_step)
			return "the L-BFGS fields of an Adam run";
		return NULL;
	}
	if (h->adam_step != 0)
		return "adam_step";
	/* Every evaluation is a row, and so is the final one after the loop. */
	if (h->n_iter < 0 || h->n_iter > CHECKPOINT_MAX_ROWS)
		return "n_iter";
	/* A line search evaluates once, then up to NST_WOLFE_MAX_EVALUATIONS times more. */
	const int64_t evals_per_iteration =
	    s->options.line_search == NST_LINE_SEARCH_STRONG_WOLFE ? NST_WOLFE_MAX_EVALUATIONS + 1 : 1;
	if (h->evals < h->n_iter || (int64_t)h->evals > (int64_t)h->n_iter * evals_per_iteration + 1 ||
	    row != h->evals + (int)h->loop_done)
		return "evals";
	if (h->evals > 0 ? !isfinite(h->f) : h->f != 0.0)
		return "f";
	if (h->tol_iteration > h->n_iter)
		return "the tolerance's window";

	if (h->done && !h->loop_done)
		return "done";
	if (h->n_old < 0 || h->n_old > m || h->n_old > h->n_iter)
		return "n_old";
	if (h->oldest < 0 || h->oldest >= m || (h->n_old < m && h->oldest != 0))
		return "oldest";
	/* A line search that finds no better point returns the step 0 (as PyTorch's does). */
	const bool searched = s->options.line_search == NST_LINE_SEARCH_STRONG_WOLFE;
	if (h->n_iter == 0 ? (h->h_diag != 0.0 || h->t != 0.0)
	                   : !(isfinite(h->h_diag) && h->h_diag > 0.0 && isfinite(h->t) && (h->t > 0.0 || (searched && h->t == 0.0))))
		return "h_diag / t";
	return NULL;
}

enum nst_status nst_session_load_checkpoint(struct nst_session *s, const char *path, struct nst_diag *diag) {
	if (!s || !path)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no session to resume");
	if (!s->prepared) {
		const enum nst_status st = nst_session_prepare(s);
		if (st != NST_OK)
			return nst_fail(diag, st, "cannot prepare the session to resume");
	}
	FILE *f = fopen(path, "rb");
	if (!f)
		return nst_fail(diag, NST_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
	struct stat file;
	const size_t expected = checkpoint_bytes(s);
	struct checkpoint_header h;
	bool touched = false; /* the session's buffers hold part of the file */
	enum nst_status st = NST_OK;
	if (fstat(fileno(f), &file) != 0 || !S_ISREG(file.st_mode)) {
		st = nst_fail(diag, NST_ERR_IO, "checkpoint %s is not a regular file", path);
	} else if (fread(&h, sizeof h, 1, f) != 1) {
		st = nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		              "checkpoint %s is corrupted: %lld bytes, shorter than a checkpoint's header", path,
		              (long long)file.st_size);
	} else if (memcmp(h.magic, CHECKPOINT_MAGIC, 4) != 0) {
		st = nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		              "%s is not an nst checkpoint (no NSTC signature: another kind of file, or a corrupted checkpoint)", path);
	} else if (h.version == 1) {
		st = nst_fail(diag, NST_ERR_WEIGHTS_VERSION,
		              "checkpoint %s has version 1 (an older nst); this build reads version %u: start the run again", path,
		              CHECKPOINT_VERSION);
	} else if (h.version != CHECKPOINT_VERSION) {
		st = nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		              "checkpoint %s is corrupted (or from a newer nst): version %u, this build reads version %u", path,
		              h.version, CHECKPOINT_VERSION);
	} else if ((uint64_t)file.st_size != (uint64_t)expected) {
		const bool other = h.width != (uint32_t)s->problem.width || h.height != (uint32_t)s->problem.height ||
		                   h.optimizer != (uint32_t)s->options.optimizer || h.history != (uint32_t)s->options.history;
		st = other ? nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                      "checkpoint %s was made with other pictures or options (%ux%u, %s, history %u); "
		                      "resume with the same command",
		                      path, h.width, h.height, h.optimizer == NST_OPTIMIZER_ADAM ? "adam" : "lbfgs", h.history)
		           : nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                      "checkpoint %s is corrupted: %lld bytes, a checkpoint of this run has %zu (truncated?)", path,
		                      (long long)file.st_size, expected);
	} else {
		/* The whole file through the CRC, the arrays straight into the session's buffers. */
		struct checkpoint_array arrays[CHECKPOINT_MAX_ARRAYS];
		const int n_arrays = checkpoint_arrays(s, false, arrays);
		uint32_t crc = crc_value(0, &h, sizeof h);
		uint8_t trailer[CHECKPOINT_CRC_BYTES];
		touched = true;
		bool complete = true;
		for (int i = 0; i < n_arrays && complete; i++) {
			complete = fread(arrays[i].data, 1, arrays[i].bytes, f) == arrays[i].bytes;
			crc = crc_value(crc, arrays[i].data, arrays[i].bytes);
		}
		complete = complete && fread(trailer, sizeof trailer, 1, f) == 1 && fgetc(f) == EOF;
		const uint32_t stored = (uint32_t)trailer[0] | (uint32_t)trailer[1] << 8 | (uint32_t)trailer[2] << 16 |
		                        (uint32_t)trailer[3] << 24;
		const char *bad_field = NULL;
		if (!complete)
			st = nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM, "checkpoint %s is corrupted: it changed size while being read",
			              path);
		else if (crc != stored)
			st = nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
			              "checkpoint %s is corrupted: its CRC-32 is 0x%08x, its contents give 0x%08x", path, stored, crc);
		else if (h.width != (uint32_t)s->problem.width || h.height != (uint32_t)s->problem.height ||
		         h.optimizer != (uint32_t)s->options.optimizer || h.history != (uint32_t)s->options.history ||
		         h.config_crc != config_fingerprint(s))
			st = nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			              "checkpoint %s was made with other pictures or options (%ux%u, %s); resume with the same command",
			              path, h.width, h.height, h.optimizer == NST_OPTIMIZER_ADAM ? "adam" : "lbfgs");
		else if ((bad_field = checkpoint_state_error(s, &h)) != NULL)
			st = nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			              "checkpoint %s is corrupted: its %s is impossible (its CRC is right: not written by this nst)",
			              path, bad_field);
	}
	fclose(f);
	if (st != NST_OK) {
		if (touched)
			s->prepared = false; /* the buffers hold part of the file: start over */
		return st;
	}
	struct nst_run_state *r = &s->run;
	memset(r, 0, sizeof *r);
	r->row = (int)h.row;
	r->pending = h.pending;
	r->loop_done = h.loop_done;
	r->done = h.done;
	r->good_row = h.good_row;
	r->n_iter = h.n_iter;
	r->evals = h.evals;
	r->n_old = h.n_old;
	r->oldest = h.oldest;
	r->h_diag = h.h_diag;
	r->t = h.t;
	r->seconds = h.seconds;
	r->last = (struct nst_losses){h.last[0], h.last[1], h.last[2], h.last[3]};
	r->f = h.f;
	r->tol_f = h.tol_f;
	r->tol_iteration = h.tol_iteration;
	r->converged = h.converged;
	r->resume_search = h.searching;
	r->search_gtd = h.search_gtd;
	s->adam_step = h.adam_step;
	return NST_OK;
}

const struct nst_xnn_heap *nst_session_xnn_heap(const struct nst_session *s) {
	return s && s->xnn ? &s->xnn_heap : NULL;
}
