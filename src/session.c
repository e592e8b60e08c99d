/*
 * The run of an optimization session: the optimizer (src/optimizer.h) steps the picture, each
 * evaluation a row of the loss log (report, with the progress callback that may stop the run),
 * the --tolerance window, a loss that is no longer finite (back to the last good picture); then
 * the picture out, the profile and the session's accessors.
 */
#include <math.h>
#include <string.h>

#include "session.h"

void nst_run_reset(struct nst_session *s) {
	memset(&s->run, 0, sizeof s->run);
	s->run.good_row = -1;
	memcpy(s->x_good, s->x, s->n * sizeof(float));
	s->optimizer.ops->reset(&s->optimizer);
}

/* After every reported row the run can stop (the callback said so) and later resume from the
 * session's state (the run's and the optimizer's), or from a checkpoint of it. */
static bool report(struct nst_session *s, int iterations, const struct nst_losses *v, int step, bool trial,
                   nst_progress_fn progress, void *user) {
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
	const struct nst_progress p = {row, iterations, *v, r->seconds + (nst_seconds() - r->t0), step,
	                               trial ? step - 1 : step};
	return progress(user, &p);
}

/* A loss that is no longer finite: back to the last picture whose loss was. */
static enum nst_status numeric_failure(struct nst_session *s) {
	memcpy(s->x, s->x_good, s->n * sizeof(float));
	s->run.failed = true;
	return NST_ERR_NUMERIC;
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

/* The optimizer's view of the session (struct nst_objective): one call of nst_session_run. */
struct run_call {
	struct nst_session *s;
	int iterations;
	nst_progress_fn progress;
	void *user;
	struct nst_losses v;             /* the last evaluation's */
};

static double objective_evaluate(void *context, bool need_grad) {
	struct run_call *c = context;
	nst_vgg_evaluate(c->s, need_grad, &c->v);
	return c->v.total;
}

static bool objective_converged(void *context, int iteration, double f) {
	const struct run_call *c = context;
	return converged(c->s, iteration, f);
}

static enum nst_status objective_report(void *context, bool trial, int step) {
	struct run_call *c = context;
	const bool go_on = report(c->s, c->iterations, &c->v, step, trial, c->progress, c->user);
	const bool finite = isfinite(c->v.total);
	if (trial) /* a trial point that is not finite is a step too far: the search goes on */
		return go_on ? NST_OK : NST_ERR_INTERRUPTED;
	if (!finite)
		return NST_ERR_NUMERIC;
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
	struct run_call call = {.s = s, .iterations = iterations, .progress = progress, .user = user};
	const struct nst_objective objective = {.n = s->n,
	                                        .x = s->x,
	                                        .grad = s->grad,
	                                        .evaluate = objective_evaluate,
	                                        .report = objective_report,
	                                        .converged = objective_converged,
	                                        .context = &call,
	                                        .run = r,
	                                        .engine = &s->engine,
	                                        .seconds = &s->profile.optimizer_seconds};
	enum nst_status st = s->optimizer.ops->run(&s->optimizer, &objective, iterations);
	if (st == NST_ERR_NUMERIC)
		st = numeric_failure(s);
	r->seconds += nst_seconds() - r->t0;
	return st;
}

enum nst_status nst_session_restart(struct nst_session *s) {
	if (!s || !s->prepared)
		return NST_ERR_INVALID_ARGUMENT;
	nst_run_reset(s);
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
	nst_vgg_evaluate(s, grad != NULL, losses);
	if (grad)
		memcpy(grad, s->grad, s->n * sizeof(float));
	return NST_OK;
}
/* The picture out. */

/* Luminance-only transfer: the result's luma (BT.601) with the content's chroma. */
static void keep_colors(const uint8_t *content, size_t pixels, uint8_t *rgb) {
	for (size_t i = 0; i < pixels; i++) {
		const uint8_t *c = content + i * RGB;
		uint8_t *r = rgb + i * RGB;
		const float y = 0.299f * r[0] + 0.587f * r[1] + 0.114f * r[2];
		const float u = -0.14713f * c[0] - 0.28886f * c[1] + 0.436f * c[2];
		const float v = 0.615f * c[0] - 0.51499f * c[1] - 0.10001f * c[2];
		r[0] = nst_to_byte(y + 1.13983f * v);
		r[1] = nst_to_byte(y - 0.39465f * u - 0.58060f * v);
		r[2] = nst_to_byte(y + 2.03211f * u);
	}
}

/* The picture the optimizer stands on: inside an L-BFGS line search the search's start (its trial
 * points are not pictures it has accepted), else x; the redirection a checkpoint saves by. */
static const float *accepted_x(const struct nst_session *s) {
	if (!s->optimizer.ops)
		return s->x;
	const size_t nb = s->n * sizeof(float);
	struct nst_state_array arrays[NST_STATE_MAX_ARRAYS] = {{s->x, nb}, {s->grad, nb}, {s->x_good, nb}};
	s->optimizer.ops->arrays(&s->optimizer, true, arrays, 3);
	return arrays[0].data;
}

enum nst_status nst_session_image(struct nst_session *s, uint8_t *rgb) {
	if (!s || !rgb)
		return NST_ERR_INVALID_ARGUMENT;
	const size_t pixels = s->n / RGB;
	nst_vgg_deprocess(accepted_x(s), pixels, rgb);
	if (s->options.original_colors)
		keep_colors(s->content_rgb, pixels, rgb);
	return NST_OK;
}

void nst_rgb_to_x(const uint8_t *rgb, size_t pixels, float *x) { nst_vgg_preprocess(rgb, pixels, x); }

void nst_x_to_rgb(const float *x, const uint8_t *content, size_t pixels, bool original_colors, uint8_t *rgb) {
	nst_vgg_deprocess(x, pixels, rgb);
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
		p->forward_flops = nst_conv_flops(&L->shape, L->h, L->w);
		p->backward_flops = nst_conv_flops(&L->backward, L->h, L->w);
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

const struct nst_xnn_heap *nst_session_xnn_heap(const struct nst_session *s) {
	return s && s->xnn ? &s->xnn_heap : NULL;
}
