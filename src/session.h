/* What the session's files share (src/options.c, plan.c, autotune.c, net_vgg.c, targets.c,
 * session.c, checkpoint.c): the session itself, the VGG network's layers and losses, and the
 * functions one file offers the others.  Not part of the public API. */
#ifndef NST_SESSION_H
#define NST_SESSION_H

#include "internal.h"
#include "optimizer.h"

#define MAX_VGG_LAYERS NST_PROFILE_MAX_LAYERS
#define MAX_LOSSES (2 * NST_MAX_LOSS_LAYERS)
#define VGG_MAX_BLOCK 5
#define RGB 3
#define NO_LOSS (-1)

/* A convolution of the VGG stack (with the ReLU after it), as the optimized picture runs it. */
struct vgg_layer {
	char name[NST_LAYER_NAME_BYTES]; /* "conv1_1" */
	int weights_index;
	int block;
	struct nst_conv_shape shape;     /* 3x3, stride 1, pad 1: zeros, or reflection (shape.reflect) */
	struct nst_conv_shape backward;  /* its input gradient (reflection: over the padded picture, pad 2) */
	int tap_index;                   /* weights index of its tap (what reluB_I means then), or -1 */
	struct nst_conv_shape tap_shape, tap_backward; /* the tap's 1x1 conv and its input gradient */
	float *tap_packed_forward, *tap_packed_backward; /* [nst_conv_packed_floats(tap_shape / tap_backward)] */
	int h, w;                        /* input (= output) size for the optimized image */
	bool pool_after;                 /* a 2x2 pooling follows it in the evaluated stack */
	int loss;                        /* index into losses, or NO_LOSS */
	enum nst_wino wino;              /* NST_WINO_NONE: im2col + GEMM; else both directions by Winograd F(wino) */
	float *packed_forward;           /* [nst_vgg_packed_floats(forward)] the kernel and bias, packed for the GEMM
	                                    (Winograd: transformed, nst_conv_winograd_pack) */
	float *packed_backward;          /* [nst_vgg_packed_floats(backward)] (NULL on XNNPACK, except engine-only) */
	uint8_t *mask;                   /* [h][w][cout] bits: ReLU output > 0 */
	uint8_t *argmax;                 /* [h/2][w/2][cout] 2-bit codes when pool_after and max pooling */
	void *xnn_forward, *xnn_backward; /* XNNPACK operators (backend xnnpack) */
	float *bias;                     /* [cout] precision fp16: added in float32 after the convolution */
	float l1_forward, l1_backward;   /* precision fp16: the kernels' largest per-channel L1 norms */
};

/* A layer where content or style losses are taken, and what they keep. */
struct loss_layer {
	int layer;                       /* conv index */
	bool tapped;                     /* the features are the layer's tap: ReLU(1x1 conv of its ReLU output) */
	int c;                           /* the features' channels (the tap's when tapped) */
	float layer_weight;              /* the style term's per-layer weight (--style-layer-weights) */
	bool content, style;
	bool keep_tap;                   /* a tap's features kept (s->tap_f) from its loss to its gradient */
	bool recompute;                  /* features recomputed in the backward pass (layer 0) */
	bool stored;                     /* gradient kept from the forward pass */
	float *content_target;           /* [h][w][c] */
	float *style_target;             /* [c][c] */
	float *gram;                     /* [c][c] of the current picture */
	float *style_m;                  /* dL/dF = F M, M [c][c] packed for the GEMM (nst_style_m_floats) */
	float *grad;                     /* [h][w][c] when stored */
	double content_value, style_value;
};

/* An optimization session: the plan's arena begins with it (src/plan.c says what follows). */
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
	uint8_t *content_rgb;            /* [H][W][3] for --original-colors and the init */
	uint8_t *init_rgb;               /* [H][W][3] NST_INIT_IMAGE */

	struct nst_optim optimizer;       /* Adam or L-BFGS, its state in the arena (src/optimizer.h) */

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
 * Options (src/options.c)
 * ------------------------------------------------------------------------------------------- */

/* The options and picture sizes nst_plan accepts (the message says what is wrong); the pictures
 * against the loss layers are checked by nst_check_picture_sizes. */
enum nst_status nst_check_options(const struct nst_options *o, const struct nst_problem *p, struct nst_diag *diag);
/* The pictures large enough for the loss layers, each of which needs `least` pixels a side after
 * its poolings (1; 2 where the network pads by reflection), saying the smallest size that works. */
enum nst_status nst_check_picture_sizes(const struct nst_options *o, const struct nst_problem *p, int least,
                                        struct nst_diag *diag);
/* "relu3_2" -> block 3, conv 2, if it names a VGG19 layer. */
bool nst_vgg_parse_relu(const char *name, int *block, int *index);

/* ---------------------------------------------------------------------------------------------
 * The planner (src/plan.c)
 * ------------------------------------------------------------------------------------------- */

/* The session for these options and sizes, before any memory: the stack up to the deepest loss
 * layer, the losses, the sizes.  Clears s first. */
enum nst_status nst_configure(struct nst_session *s, const struct nst_weights *w, const struct nst_options *o,
                              const struct nst_problem *p, struct nst_diag *diag);
/* Layers the engine's kernels run even in an XNNPACK session: XNNPACK has no reflection padding. */
static inline bool nst_vgg_engine_only(const struct vgg_layer *L) { return L->shape.reflect; }
double nst_conv_flops(const struct nst_conv_shape *sh, int h, int w);
/* Floats of layer L's packed weights for its forward convolution or its input gradient (backward),
 * as L->wino runs them, and the per-thread scratch that convolution needs. */
size_t nst_vgg_packed_floats(const struct nst_gemm_kernel *g, const struct vgg_layer *L, bool backward);
size_t nst_vgg_scratch_floats(const struct nst_gemm_kernel *g, const struct vgg_layer *L, bool backward);
/* Layer i's HWIO kernel as float32 (in place in the map, or converted into staging) and its bias
 * (in staging, after the kernel). */
const float *nst_vgg_layer_weights(const struct nst_weights *w, int i, float *staging, float **bias);

/* ---------------------------------------------------------------------------------------------
 * Backend auto (src/autotune.c)
 * ------------------------------------------------------------------------------------------- */

/* Backend auto: simd (or scalar, without SIMD kernels) against xnnpack, timed on the configured
 * stack's most expensive layer (its name and the times go into s->plan). */
enum nst_status nst_auto_choose(struct nst_session *s, bool f16, enum nst_backend *out, struct nst_diag *diag);

/* ---------------------------------------------------------------------------------------------
 * The VGG network's passes (src/net_vgg.c)
 * ------------------------------------------------------------------------------------------- */

/* How a layer's convolutions for the optimized picture run: on the engine's kernels, or on
 * XNNPACK's float32 or float16 operators. */
struct vgg_conv_runner {
	struct nst_engine *engine;
	bool xnn, f16;
	struct nst_xnn_f16 *xnn_f16;     /* f16: the conversions and buffers */
};

/* Layer L's convolution + ReLU on in [h][w][cin] into out [h][w][cout], the ReLU's bit mask into
 * mask if not NULL.  With fp16, in is scaled in place unless keep_in (the picture itself). */
void nst_vgg_conv_forward(const struct vgg_conv_runner *r, const struct vgg_layer *L, int h, int w, float *in,
                          bool keep_in, float *out, uint8_t *mask);
/* Layer L's input gradient out [h][w][cin] (reflection padding: first over the padded picture) from
 * g [h][w][cout]: out = mask_in ? (conv^T(g) + addend) : 0 (either may be NULL). */
void nst_vgg_conv_backward(const struct vgg_conv_runner *r, const struct vgg_layer *L, float *g, float *out,
                           const float *addend, const uint8_t *mask_in);

/* CONVENTIONS.md's preprocessing: RGB bytes [pixels][3] <-> BGR minus the ImageNet mean, 0-255. */
void nst_vgg_preprocess(const uint8_t *rgb, size_t pixels, float *x);
void nst_vgg_deprocess(const float *x, size_t pixels, uint8_t *rgb);
/* Rounded and clamped to 0..255. */
uint8_t nst_to_byte(float v);

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

/* Runs the stack on x ([h][w][3]) for the pass. */
void nst_vgg_forward(struct nst_session *s, float *x, int h, int w, struct pass *pass);
/* Losses at s->x, and the gradient into s->grad when need_grad. */
void nst_vgg_evaluate(struct nst_session *s, bool need_grad, struct nst_losses *out);

/* ---------------------------------------------------------------------------------------------
 * The run (src/session.c)
 * ------------------------------------------------------------------------------------------- */

/* A new run from s->x: the run state and the optimizer's. */
void nst_run_reset(struct nst_session *s);

#endif
