/*
 * The planner of an optimization run on a VGG network: configure (the stack up to the deepest loss
 * layer, the losses), layout (the one function that measures and places every buffer), build
 * (backend, precision and threads, then the layout), nst_plan, and nst_session_init, which packs
 * the weights (and creates XNNPACK's operators) into the arena the plan measured.
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
 *   - one loss layer's tap features at a time (the largest kept), when a content loss reads them
 *     or a style loss's gradient would otherwise make them again (TAP_KEEP_MIN_INPUTS);
 *   - the packed forward and backward weights, per-thread im2col tiles, the optimizer state
 *     (placed by the optimizer itself: src/optimizer.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nst reads little-endian weights in place: a big-endian host is not supported"
#endif

/* ---------------------------------------------------------------------------------------------
 * Configuration: the network up to the deepest loss layer, and the losses
 * ------------------------------------------------------------------------------------------- */

/* A style loss on a tap of at least this many inputs keeps the tap's features for its gradient:
 * making them again costs in_channels multiply-adds per feature, keeping them a store and a load
 * (the distilled network's relu1_1 tap, 16 -> 64, gained nothing kept; its deeper ones, 32 -> 128
 * and wider, about 0.4 ms each of a 36 ms iteration at 256 px). */
#define TAP_KEEP_MIN_INPUTS 32

static int find_or_add_loss(struct nst_session *s, int layer) {
	if (s->layers[layer].loss != NO_LOSS)
		return s->layers[layer].loss;
	const int i = s->n_losses++;
	memset(&s->losses[i], 0, sizeof s->losses[i]);
	s->losses[i].layer = layer;
	s->layers[layer].loss = i;
	return i;
}

enum nst_status nst_configure(struct nst_session *s, const struct nst_weights *w, const struct nst_options *o,
                              const struct nst_problem *p, struct nst_diag *diag) {
	memset(s, 0, sizeof *s);
	enum nst_status st = nst_check_options(o, p, diag);
	if (st != NST_OK)
		return st;
	if (nst_weights_arch(w) != NST_ARCH_VGG)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s' are a feed-forward network, not VGG (use --model)",
		                nst_weights_model(w));
	s->options = *o;
	s->problem = *p;
	s->weights = w;

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
	/* Now that the network is known: its reflection padding (PyTorch's refuses padding >= the size)
	 * needs 2 pixels a side at every layer, so the smallest pictures double. */
	st = nst_check_picture_sizes(o, p, n_trunk > 0 && info[0].reflect ? info[0].kernel_h / 2 + 1 : 1, diag);
	if (st != NST_OK)
		return st;

	/* The deepest conv any loss uses, validating every name. */
	int deepest = -1;
	int loss_conv[2][NST_MAX_LOSS_LAYERS];
	const int counts[2] = {o->n_content_layers, o->n_style_layers};
	for (int kind = 0; kind < 2; kind++)
		for (int i = 0; i < counts[kind]; i++) {
			const char *name = kind ? o->style_layers[i] : o->content_layers[i];
			int block, index;
			if (!nst_vgg_parse_relu(name, &block, &index))
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
		/* A content loss reads its tap's features; a style loss keeps them for its gradient when
		 * making them again (a 1x1 convolution of in_channels per feature) costs more than storing
		 * them and reading them back. */
		l->keep_tap = l->tapped && (l->content || L->tap_shape.in_channels >= TAP_KEEP_MIN_INPUTS);
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
	nst_optim_setup(&s->optimizer, o->optimizer, s->n, o->learning_rate, o->history,
	                o->line_search == NST_LINE_SEARCH_STRONG_WOLFE);
	s->options.learning_rate = s->optimizer.learning_rate; /* the optimizer's default for 0 */
	return NST_OK;
}
/* ---------------------------------------------------------------------------------------------
 * Layout: every buffer from the arena, in a fixed order; measuring and real runs are identical.
 * ------------------------------------------------------------------------------------------- */

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
		m = nst_max_size(m, (size_t)h * (size_t)w * (size_t)L->shape.out_channels);
		m = nst_max_size(m, backward_floats(L, h, w));
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
		reach = nst_max_size(reach, (size_t)L->h * (size_t)L->w * (size_t)c);
		reach = nst_max_size(reach, backward_floats(L, L->h, L->w));
	}
	return reach;
}

/* Largest tap feature map stored for a picture of h x w: a kept tap's (a content loss's, or a
 * style loss's on a tap of TAP_KEEP_MIN_INPUTS or more inputs; the others exist only in chunks, in
 * the threads' scratch: nst_tap_gram, nst_tap_grad); 0 without one. */
static size_t max_tap_features(const struct nst_session *s, int h, int w) {
	size_t m = 0;
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		if (L->loss != NO_LOSS && s->losses[L->loss].keep_tap)
			m = nst_max_size(m, (size_t)h * (size_t)w * (size_t)L->tap_shape.out_channels);
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
		L->packed_forward = NST_ARENA_NEW(a, float, nst_vgg_packed_floats(g, L, false));
		if (!s->xnn || nst_vgg_engine_only(L))
			L->packed_backward = NST_ARENA_NEW(a, float, nst_vgg_packed_floats(g, L, true));
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
		buf = nst_max_size(buf, max_activation(s, p->style_height[k], p->style_width[k]));
	for (int i = 0; i < s->n_layers; i++) {
		const struct nst_conv_shape *sh = &s->layers[i].shape;
		/* kernel staging, then the bias after it (a tap's is smaller than its 3x3 conv's) */
		buf = nst_max_size(buf, (size_t)sh->kernel_h * (size_t)sh->kernel_w * (size_t)sh->in_channels *
		                        (size_t)sh->out_channels + (size_t)sh->out_channels);
		const struct nst_conv_shape *t = &s->layers[i].tap_shape;
		if (tap_used(s, &s->layers[i]))
			buf = nst_max_size(buf, (size_t)t->in_channels * (size_t)t->out_channels + (size_t)t->out_channels);
	}
	s->buf_floats = buf;
	s->buf_a = NST_ARENA_NEW(a, float, buf);
	s->buf_b = NST_ARENA_NEW(a, float, buf);
	if (s->f16) {
		/* A convolution's input and output at the picture's size, as float16: the largest feature
		 * map, or the picture itself. */
		s->f16_halves = nst_max_size(max_activation(s, p->height, p->width), s->n);
		s->f16_in = NST_ARENA_NEW(a, uint16_t, s->f16_halves);  /* [H'][W'][C'] float16 */
		s->f16_out = NST_ARENA_NEW(a, uint16_t, s->f16_halves); /* [H'][W'][C'] float16 */
	}
	/* Kept taps' features (the largest: one loss layer's at a time), for the picture: a content
	 * target and loss, and the gradient of a loss (which exists only in row blocks: nst_tap_grad). */
	const size_t taps = max_tap_features(s, p->height, p->width);
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
			l->style_m = NST_ARENA_NEW(a, float, nst_style_m_floats(&s->engine, (int)c));
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
	s->grad = NST_ARENA_NEW(a, float, s->n_layers > 0 ? nst_max_size(s->n, backward_floats(&s->layers[0], p->height, p->width))
	                                                  : s->n);
	s->x_good = NST_ARENA_NEW(a, float, s->n);
	s->optimizer.ops->place(&s->optimizer, a);
	CATEGORY(optimizer_bytes);

	/* Scratch: per-thread im2col tiles (and style-gradient rows), the pictures as given. */
	size_t scratch = 0;
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		scratch = nst_max_size(scratch, nst_vgg_scratch_floats(g, L, false));
		scratch = nst_max_size(scratch, nst_vgg_scratch_floats(g, L, true));
		if (tap_used(s, L)) {
			scratch = nst_max_size(scratch, nst_conv_scratch_floats(g, &L->tap_shape));
			scratch = nst_max_size(scratch, nst_tap_grad_scratch_floats(g, L->tap_shape.out_channels));
		}
		if (L->loss != NO_LOSS && s->losses[L->loss].style) {
			const int c = s->losses[L->loss].c;
			scratch = nst_max_size(scratch, (size_t)g->mr * (size_t)c);
			scratch = nst_max_size(scratch, nst_gram_scratch_floats(g, c));
		}
	}
	s->engine.scratch_floats = scratch;
	s->engine.scratch = NST_ARENA_NEW(a, float, scratch * (size_t)s->engine.threads);
	size_t staging = 0;
	for (int k = 0; k < p->n_styles; k++)
		staging = nst_max_size(staging, (size_t)p->style_width[k] * (size_t)p->style_height[k] * RGB);
	s->staging = NST_ARENA_NEW(a, float, staging);
	s->content_rgb = NST_ARENA_NEW(a, uint8_t, s->n);
	if (o->init == NST_INIT_IMAGE)
		s->init_rgb = NST_ARENA_NEW(a, uint8_t, s->n);
	CATEGORY(scratch_bytes);
#undef CATEGORY
}

/* ---------------------------------------------------------------------------------------------
 * The weights as the layers take them, and XNNPACK's operators (created on a counting heap to
 * measure, on the arena's region for real)
 * ------------------------------------------------------------------------------------------- */

double nst_conv_flops(const struct nst_conv_shape *sh, int h, int w) {
	return 2.0 * (double)h * (double)w * (double)sh->kernel_h * (double)sh->kernel_w * (double)sh->in_channels *
	       (double)sh->out_channels;
}

size_t nst_vgg_packed_floats(const struct nst_gemm_kernel *g, const struct vgg_layer *L, bool backward) {
	const struct nst_conv_shape *sh = backward ? &L->backward : &L->shape;
	return L->wino != NST_WINO_NONE ? nst_conv_winograd_packed_floats(g, sh, L->wino) : nst_conv_packed_floats(g, sh);
}

size_t nst_vgg_scratch_floats(const struct nst_gemm_kernel *g, const struct vgg_layer *L, bool backward) {
	const struct nst_conv_shape *sh = backward ? &L->backward : &L->shape;
	const size_t conv =
		L->wino != NST_WINO_NONE ? nst_conv_winograd_scratch_floats(g, sh, L->wino) : nst_conv_scratch_floats(g, sh);
	if (!backward || !L->shape.reflect) /* the input gradient's fold onto the mirrored pixels after it */
		return conv;
	return nst_max_size(conv, nst_reflect_pad_backward_scratch_floats(L->h, L->w, L->shape.in_channels, L->shape.pad));
}

const float *nst_vgg_layer_weights(const struct nst_weights *w, int i, float *staging, float **bias) {
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
		if (nst_vgg_engine_only(L))
			continue;
		float *bias;
		const float *hwio = nst_vgg_layer_weights(s->weights, L->weights_index, staging, &bias);
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
		k = nst_max_size(k, (size_t)sh->kernel_h * sh->kernel_w * sh->in_channels * sh->out_channels + sh->out_channels);
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
 * Build (backend, precision, threads, then the layout), nst_plan, nst_session_init / release
 * ------------------------------------------------------------------------------------------- */

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
	s->engine.threads = s->options.threads > 0 ? s->options.threads : nst_cpu_count();
	s->plan.threads = s->engine.threads;
	const bool want_f16 = s->options.precision == NST_PRECISION_FP16;
	/* Probed once: XNNPACK answers xnn_status_unsupported_hardware without FP16 arithmetic. */
	const bool f16_possible = want_f16 && nst_xnn_available() && nst_xnn_f16_supported();
	enum nst_backend backend = s->options.backend;
	if (backend == NST_BACKEND_AUTO) {
		const enum nst_status st = nst_auto_choose(s, f16_possible, &backend, diag);
		if (st != NST_OK)
			return st;
	}
	s->plan.precision = NST_PRECISION_FP32;
	s->plan.notice = NULL;
	if (backend == NST_BACKEND_XNNPACK && !nst_xnn_available())
		return nst_fail(diag, NST_ERR_UNSUPPORTED,
		                "backend xnnpack: this build has no XNNPACK (install libxnnpack-dev and rebuild)");
	/* auto is resolved above; xnnpack's engine (targets, Gram matrices, style gradients, the
	 * reflection-padded layers) runs the SIMD kernels, or the scalar ones without them */
	enum nst_status st = nst_engine_init(&s->engine, backend, NST_PRECISION_FP32, s->engine.threads, diag);
	if (st != NST_OK)
		return st;
	s->plan.backend = backend == NST_BACKEND_AUTO ? s->engine.backend : backend;
	switch (backend) {
	case NST_BACKEND_AUTO:
	case NST_BACKEND_SCALAR:
	case NST_BACKEND_SIMD:
		break;
	case NST_BACKEND_XNNPACK: {
		s->xnn = true;
		s->f16 = f16_possible;
		st = xnn_measure(s, &s->xnn_bytes, diag);
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
	/* Winograd where it pays (nst_conv_winograd_pays), forward and backward, from the second block
	 * on and on the first block's narrow layers: F(4x4) or F(2x2) as the channels say
	 * (nst_vgg_winograd).  XNNPACK sessions run their own
	 * operators. */
	for (int i = 0; i < s->n_layers; i++) {
		struct vgg_layer *L = &s->layers[i];
		L->wino = s->xnn ? NST_WINO_NONE : nst_vgg_winograd(&s->engine, L->block, &L->shape);
	}

	/* The session struct itself comes first. */
	nst_arena_alloc(a, sizeof(struct nst_session));
	s->plan.scratch_bytes = a->used;
	layout(s, a);
	s->plan.total_bytes = a->used;
	for (int i = 0; i < s->n_layers; i++) {
		const struct vgg_layer *L = &s->layers[i];
		s->plan.forward_flops += nst_conv_flops(&L->shape, L->h, L->w);
		s->plan.backward_flops += nst_conv_flops(&L->shape, L->h, L->w); /* as many as the forward (padded: a bit more) */
		if (tap_used(s, L)) {
			s->plan.forward_flops += nst_conv_flops(&L->tap_shape, L->h, L->w);
			s->plan.backward_flops += nst_conv_flops(&L->tap_backward, L->h, L->w);
		}
	}
	return NST_OK;
}

enum nst_status nst_plan(const struct nst_weights *w, const struct nst_options *o, const struct nst_problem *p,
                         struct nst_plan *plan, struct nst_diag *diag) {
	if (!w || !o || !p || !plan)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_plan: a required argument is NULL");
	struct nst_session s;
	enum nst_status st = nst_configure(&s, w, o, p, diag);
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
		const float *hwio = nst_vgg_layer_weights(s->weights, L->weights_index, s->buf_a, &bias);
		if (L->wino != NST_WINO_NONE) { /* staging: buf_b, as large as any layer's kernel */
			nst_conv_winograd_pack(s->engine.gemm, &L->shape, L->wino, hwio, bias, s->buf_b, L->packed_forward);
			nst_conv_winograd_pack_backward(s->engine.gemm, &L->shape, L->wino, hwio, s->buf_b, L->packed_backward);
		} else {
			nst_conv_pack_forward(s->engine.gemm, &L->shape, hwio, bias, L->packed_forward);
			if (L->packed_backward)
				nst_conv_pack_backward(s->engine.gemm, &L->shape, hwio, L->packed_backward);
		}
		if (L->tap_packed_forward) {
			hwio = nst_vgg_layer_weights(s->weights, L->tap_index, s->buf_a, &bias);
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
	enum nst_status st = nst_configure(&tmp, w, o, p, diag);
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
		if (nst_backend_available(other.backend) && nst_configure(&alt, w, &other, p, diag) == NST_OK &&
		    build(&alt, &b, diag) == NST_OK && !b.overflow) {
			tmp = alt;
			a = b;
		}
	}
	if (a.overflow)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "the arena has %zu bytes, the plan needs %zu", arena_bytes,
		                tmp.plan.total_bytes);
	*s = tmp;
	st = nst_engine_start(&s->engine, diag);
	if (st != NST_OK)
		return st;
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
	if (s)
		nst_engine_release(&s->engine);
}
