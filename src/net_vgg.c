/*
 * The optimization network, VGG (CONVENTIONS.md, exactly): the picture's preprocessing, each
 * layer's convolution forward and backward (the engine's kernels or XNNPACK's operators), pooling,
 * the loss terms at the loss layers (their taps included), the forward pass (for the picture or
 * the targets), the backward pass and the evaluation of the losses and their gradient.  Another
 * optimization network goes in its own net_*.c beside this one.
 */
#include <math.h>
#include <string.h>

#include "session.h"

/* CONVENTIONS.md's preprocessing: BGR minus the ImageNet mean, 0-255. */
static const float MEAN_BGR[RGB] = {103.939f, 116.779f, 123.68f};

void nst_vgg_preprocess(const uint8_t *rgb, size_t pixels, float *x) {
	for (size_t i = 0; i < pixels; i++)
		for (int c = 0; c < RGB; c++) /* x[c] is BGR: channel c comes from RGB channel 2 - c */
			x[i * RGB + (size_t)c] = (float)rgb[i * RGB + (size_t)(RGB - 1 - c)] - MEAN_BGR[c];
}

uint8_t nst_to_byte(float v) {
	const float r = rintf(v);
	return (uint8_t)(r < 0.0f ? 0.0f : (r > 255.0f ? 255.0f : r));
}

void nst_vgg_deprocess(const float *x, size_t pixels, uint8_t *rgb) {
	for (size_t i = 0; i < pixels; i++)
		for (int c = 0; c < RGB; c++)
			rgb[i * RGB + (size_t)(RGB - 1 - c)] = nst_to_byte(x[i * RGB + (size_t)c] + MEAN_BGR[c]);
}

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
			nst_style_grad(&s->engine, hw, c, f, l->style_m, grad, accumulate);
			accumulate = true;
		} else {
			/* The reference multiplies the two weights first (in double, as Python does). */
			const float weight = (float)((double)s->options.style_weight * (double)l->layer_weight);
			if (!l->tapped) /* a tap's Gram was made with its features (loss_features) */
				nst_gram(&s->engine, hw, c, f, l->gram);
			l->style_value = nst_style_loss(&s->engine, c, hw, l->gram, l->style_target, weight, l->style_m);
		}
	}
	if (l->content) {
		const double v = nst_content_loss(&s->engine, hw * (size_t)c, f, l->content_target, s->options.content_weight,
		                                  grad, accumulate);
		if (!grad)
			l->content_value = v;
	}
}

/* Layer L's convolution on the engine's kernels, as L->wino says, at any size. */
static void engine_forward(const struct nst_engine *engine, const struct vgg_layer *L, int h, int w, const float *in,
                           float *out, const struct nst_conv_epilogue *ep) {
	if (L->wino != NST_WINO_NONE)
		nst_conv2d_winograd(engine, &L->shape, L->wino, h, w, in, L->packed_forward, out, ep);
	else
		nst_conv2d(engine, &L->shape, h, w, in, L->packed_forward, out, ep);
}

/* Layer L's input gradient on the engine's kernels into out (over the padded picture for reflection
 * padding: L->backward), as L->wino says. */
static void engine_backward(const struct nst_engine *engine, const struct vgg_layer *L, const float *g, float *out,
                            const struct nst_conv_epilogue *ep) {
	if (L->wino != NST_WINO_NONE)
		nst_conv2d_winograd(engine, &L->backward, L->wino, L->h, L->w, g, L->packed_backward, out, ep);
	else
		nst_conv2d(engine, &L->backward, L->h, L->w, g, L->packed_backward, out, ep);
}

/* Layer L's convolution for the optimized picture: on XNNPACK (then the ReLU mask from its
 * output) or on the engine with everything fused. */
void nst_vgg_conv_forward(const struct vgg_conv_runner *r, const struct vgg_layer *L, int h, int w, float *in,
                          bool keep_in, float *out, uint8_t *mask) {
	if (r->f16 && h == L->h && w == L->w && !nst_vgg_engine_only(L)) {
		/* The input is scaled in place, except the picture itself (|x| <= 255 fits float16). */
		const int cin = L->shape.in_channels, c = L->shape.out_channels;
		float unscale;
		nst_xnn_conv_run_f16(r->xnn_f16, L->xnn_forward, L->l1_forward, h, w, cin, c, in, !keep_in, out, &unscale,
		                     r->engine->pool);
		const size_t pixels = (size_t)h * (size_t)w;
		for (size_t i = 0; i < pixels; i++) {
			float *o = out + i * (size_t)c;
			for (int k = 0; k < c; k++) {
				const float v = o[k] * unscale + L->bias[k];
				o[k] = v > 0.0f ? v : 0.0f; /* the ReLU */
			}
		}
		if (mask)
			nst_mask_from_positive(r->engine, pixels * (size_t)c, out, mask);
		return;
	}
	if (r->xnn && h == L->h && w == L->w && !nst_vgg_engine_only(L)) {
		nst_xnn_conv_run(L->xnn_forward, h, w, in, out, r->engine->pool);
		if (mask)
			nst_mask_from_positive(r->engine, (size_t)h * (size_t)w * (size_t)L->shape.out_channels, out, mask);
		return;
	}
	const struct nst_conv_epilogue ep = {0.0f, INFINITY, mask, NULL, NULL};
	engine_forward(r->engine, L, h, w, in, out, &ep);
}

/* Layer L's input gradient: out = mask_in ? (conv^T(g) + addend) : 0 (either may be NULL).  With
 * reflection padding, out first holds the gradient of the padded picture (backward_floats), which
 * is folded back onto the pixels the padding mirrors. */
void nst_vgg_conv_backward(const struct vgg_conv_runner *r, const struct vgg_layer *L, float *g, float *out,
                           const float *addend, const uint8_t *mask_in) {
	if (nst_vgg_engine_only(L)) {
		engine_backward(r->engine, L, g, out, NULL);
		nst_reflect_pad_backward_masked(r->engine, L->h, L->w, L->shape.in_channels, L->shape.pad, out, mask_in,
		                                addend);
		return;
	}
	if (r->f16) {
		/* g is not needed afterwards: scaled in place into float16's range. */
		const size_t n = (size_t)L->h * (size_t)L->w * (size_t)L->shape.in_channels;
		float unscale;
		nst_xnn_conv_run_f16(r->xnn_f16, L->xnn_backward, L->l1_backward, L->h, L->w, L->shape.out_channels,
		                     L->shape.in_channels, g, true, out, &unscale, r->engine->pool);
		if (unscale != 1.0f)
			for (size_t i = 0; i < n; i++)
				out[i] *= unscale;
		if (mask_in)
			nst_mask_apply(r->engine, n, mask_in, addend, out);
		return;
	}
	if (r->xnn) {
		nst_xnn_conv_run(L->xnn_backward, L->h, L->w, g, out, r->engine->pool);
		if (mask_in)
			nst_mask_apply(r->engine, (size_t)L->h * (size_t)L->w * (size_t)L->shape.in_channels, mask_in, addend, out);
		return;
	}
	const struct nst_conv_epilogue ep = {-INFINITY, INFINITY, NULL, addend, mask_in};
	engine_backward(r->engine, L, g, out, &ep);
}

/* The session's runner, and its layer convolutions for the picture x (kept unscaled) or features. */
static struct vgg_conv_runner runner(struct nst_session *s) {
	return (struct vgg_conv_runner){&s->engine, s->xnn, s->f16, &s->xnn_f16};
}

static void conv_forward(struct nst_session *s, const struct vgg_layer *L, int h, int w, float *in, float *out,
                         uint8_t *mask) {
	const struct vgg_conv_runner r = runner(s);
	nst_vgg_conv_forward(&r, L, h, w, in, in == s->x, out, mask);
}

static void conv_backward(struct nst_session *s, const struct vgg_layer *L, float *g, float *out, const float *addend,
                          const uint8_t *mask_in) {
	const struct vgg_conv_runner r = runner(s);
	nst_vgg_conv_backward(&r, L, g, out, addend, mask_in);
}

static struct nst_tap layer_tap(const struct vgg_layer *L) {
	return (struct nst_tap){L->tap_shape.in_channels, L->tap_shape.out_channels, L->tap_packed_forward,
	                        L->tap_packed_backward};
}

/* A loss layer's features from its layer's output out [h][w][c]: out itself, or its tap's
 * ReLU(1x1 conv(out)), with their Gram into gram if not NULL.  A tap's features are stored (in
 * s->tap_f [h][w][c_tap]) only when `keep` (a content loss or the gradient reads them: l->keep_tap);
 * else they exist only chunk by chunk, for their Gram, and NULL is returned (the gradient makes
 * them again: nst_tap_grad). */
static const float *loss_features(struct nst_session *s, const struct loss_layer *l, int h, int w, const float *out,
                                  float *gram, bool keep) {
	if (!l->tapped)
		return out;
	const struct vgg_layer *L = &s->layers[l->layer];
	const struct nst_tap tap = layer_tap(L);
	if (gram) {
		nst_tap_gram(&s->engine, &tap, (size_t)h * (size_t)w, out, keep ? s->tap_f : NULL, gram);
		return keep ? s->tap_f : NULL;
	}
	const struct nst_conv_epilogue relu = {0.0f, INFINITY, NULL, NULL, NULL};
	nst_conv2d(&s->engine, &L->tap_shape, h, w, out, L->tap_packed_forward, s->tap_f, &relu);
	return s->tap_f;
}

/* The loss gradient with respect to the layer's output out (before its own ReLU's mask) into grad
 * [h][w][c]: through the tap (its ReLU, then its 1x1 conv transposed) when the loss is tapped, its
 * features f as loss_features left them (NULL: made again from out). */
static void loss_grad(struct nst_session *s, struct loss_layer *l, const float *out, const float *f, float *grad) {
	if (!l->tapped) {
		layer_loss(s, l, f, grad, false);
		return;
	}
	/* Through the tap's ReLU (f = max(0, .)) and its 1x1 convolution, block by block. */
	const struct vgg_layer *L = &s->layers[l->layer];
	const struct nst_tap tap = layer_tap(L);
	nst_tap_grad(&s->engine, &tap, (size_t)L->h * (size_t)L->w, out, f, l->style ? l->style_m : NULL,
	             l->content ? l->content_target : NULL, s->options.content_weight, grad);
}

/* Region passes: blend * (n_own / n_whole) * Gram(own features) into l's style target, so that
 * the regions of a partition of the whole picture add up to blend * Gram(whole picture).  At this
 * layer the picture is `factor` times smaller than the input (h x w: the crop's layer output, in
 * out; whole_h x whole_w: the whole picture's); the own pixels of out are gathered into spare (a
 * tap's Gram is then made from them, chunk by chunk). */
static void style_region_gram(struct nst_session *s, struct loss_layer *l, const struct pass *pass, int factor,
                              int whole_h, int whole_w, int h, int w, const float *out, float *spare) {
	const struct vgg_layer *L = &s->layers[l->layer];
	const int c = l->tapped ? L->tap_shape.in_channels : l->c; /* out's channels */
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
	if (l->tapped) {
		const struct nst_tap tap = layer_tap(L);
		nst_tap_gram(&s->engine, &tap, n_own, spare, NULL, l->gram);
	} else {
		nst_gram(&s->engine, n_own, c, spare, l->gram);
	}
	const float share = (float)((double)pass->blend * (double)n_own / ((double)whole_h * (double)whole_w));
	for (size_t j = 0; j < (size_t)l->c * (size_t)l->c; j++)
		l->style_target[j] += share * l->gram[j];
}

void nst_vgg_forward(struct nst_session *s, float *x, int h, int w, struct pass *pass) {
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
			engine_forward(&s->engine, L, h, w, cur, out, &ep);
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
			const bool region = pass->mode == PASS_TARGET_STYLE && l->style && pass->own;
			const bool whole_gram = l->style && (pass->mode == PASS_LOSS || (pass->mode == PASS_TARGET_STYLE && !pass->own));
			/* a tap's features kept: the content loss reads them, a kept style tap's gradient too */
			const bool keep = l->keep_tap && (l->content ? pass->mode != PASS_TARGET_STYLE
			                                             : pass->mode == PASS_LOSS && pass->need_grad);
			/* [h][w][c], or NULL: a tap's features not kept */
			const float *f = used && !region ? loss_features(s, l, h, w, out, whole_gram ? l->gram : NULL, keep) : out;
			if (pass->mode == PASS_TARGET_CONTENT && l->content) {
				memcpy(l->content_target, f, (size_t)h * (size_t)w * (size_t)c * sizeof(float));
			} else if (region) {
				style_region_gram(s, l, pass, factor, whole_h, whole_w, h, w, out, other);
			} else if (pass->mode == PASS_TARGET_STYLE && l->style) {
				if (!l->tapped)
					nst_gram(&s->engine, (size_t)h * (size_t)w, c, f, l->gram);
				for (size_t j = 0; j < (size_t)c * (size_t)c; j++)
					l->style_target[j] += pass->blend * l->gram[j];
			} else if (pass->mode == PASS_LOSS) {
				layer_loss(s, l, f, NULL, false);
				if (pass->need_grad) {
					if (i == s->n_layers - 1) {
						loss_grad(s, l, out, f, other);
						pass->start_grad = other;
					} else if (l->stored) {
						loss_grad(s, l, out, f, l->grad);
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
			if (s->options.pooling == NST_POOLING_MAX && !(l && l->recompute)) { /* the mask in the same pass */
				nst_maxpool2x2_backward_masked(&s->engine, below->h, below->w, below->shape.out_channels, other,
				                               below->argmax, below->mask, l && l->stored ? l->grad : NULL, g);
				s->profile.layers[i].backward_seconds += nst_seconds() - t0;
				continue;
			}
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

struct evaluation {
	struct nst_session *s;
	bool need_grad;
	struct nst_losses *out;
};

static void evaluate(void *context) {
	const struct evaluation *e = context;
	struct nst_session *s = e->s;
	const bool need_grad = e->need_grad;
	struct pass pass = {.mode = PASS_LOSS, .need_grad = need_grad};
	const int h = s->problem.height, w = s->problem.width;
	if (s->n_layers > 0)
		nst_vgg_forward(s, s->x, h, w, &pass);
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
	v.tv = nst_tv_loss(&s->engine, h, w, RGB, s->x, s->options.tv_weight, need_grad ? s->grad : NULL, true);
	s->profile.loss_seconds += nst_seconds() - t0;
	/* The reference sums in float32 in this order: content + style + tv. */
	v.total = (double)((float)v.content + (float)v.style + (float)v.tv);
	*e->out = v;
}

/* One burst: the forward's and backward's ~60-90 regions (the distilled network's) follow each
 * other with little serial work between them. */
void nst_vgg_evaluate(struct nst_session *s, bool need_grad, struct nst_losses *out) {
	struct evaluation e = {s, need_grad, out};
	nst_parallel_burst(&s->engine, evaluate, &e);
}
