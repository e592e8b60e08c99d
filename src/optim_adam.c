/* torch.optim.Adam (betas 0.9 / 0.999, eps 1e-8, no weight decay), behind the optimizer
 * interface (src/optimizer.h).  Row k of the log is the point after k steps; the last row is
 * evaluated without a gradient. */
#include <math.h>
#include <string.h>

#include "optimizer.h"

#define ADAM_LR 10.0f
#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8

struct adam_state {
	float *m, *v;                    /* [n] the moments */
	int step;                        /* steps taken */
};

static void adam_place(struct nst_optim *opt, struct nst_arena *a) {
	struct adam_state *st = NST_ARENA_NEW(a, struct adam_state, 1);
	float *m = NST_ARENA_NEW(a, float, opt->n);
	float *v = NST_ARENA_NEW(a, float, opt->n);
	opt->state = st;
	if (st)
		*st = (struct adam_state){m, v, 0};
}

static void adam_reset(struct nst_optim *opt) {
	struct adam_state *st = opt->state;
	memset(st->m, 0, opt->n * sizeof(float));
	memset(st->v, 0, opt->n * sizeof(float));
	st->step = 0;
}

/* One step on x with the gradient in grad. */
static void adam_step(const struct nst_optim *opt, struct adam_state *st, float *x, const float *grad) {
	st->step++;
	const double bc1 = 1.0 - pow(ADAM_BETA1, st->step);
	const double bc2_sqrt = sqrt(1.0 - pow(ADAM_BETA2, st->step));
	const float step_size = (float)((double)opt->learning_rate / bc1);
	const float b1 = (float)ADAM_BETA1, one_minus_b1 = (float)(1.0 - ADAM_BETA1);
	const float b2 = (float)ADAM_BETA2, one_minus_b2 = (float)(1.0 - ADAM_BETA2);
	const float bc2s = (float)bc2_sqrt, eps = (float)ADAM_EPS;
	for (size_t i = 0; i < opt->n; i++) {
		const float g = grad[i];
		const float m = st->m[i] * b1 + one_minus_b1 * g;
		const float v = st->v[i] * b2 + one_minus_b2 * g * g;
		st->m[i] = m;
		st->v[i] = v;
		const float denom = sqrtf(v) / bc2s + eps;
		x[i] -= step_size * (m / denom);
	}
}

static enum nst_status adam_run(struct nst_optim *opt, const struct nst_objective *obj, int iterations) {
	struct adam_state *st = opt->state;
	struct nst_run_state *r = obj->run;
	for (;;) {
		if (!r->pending) {
			obj->evaluate(obj->context, r->row < iterations);
			const enum nst_status s = obj->report(obj->context, false, r->row);
			if (s != NST_OK)
				return s;
		}
		if (r->row > iterations || obj->converged(obj->context, r->row - 1, r->last.total)) {
			r->done = true;
			return NST_OK;
		}
		const double t0 = nst_seconds();
		adam_step(opt, st, obj->x, obj->grad);
		*obj->seconds += nst_seconds() - t0;
		r->pending = false;
	}
}

static int adam_arrays(const struct nst_optim *opt, bool saving, struct nst_state_array *out, int k) {
	const struct adam_state *st = opt->state;
	out[k++] = (struct nst_state_array){st->m, opt->n * sizeof(float)};
	out[k++] = (struct nst_state_array){st->v, opt->n * sizeof(float)};
	return k;
}

static void adam_save(const struct nst_optim *opt, struct nst_optim_record *rec) {
	const struct adam_state *st = opt->state;
	rec->adam_step = st->step;
}

static const char *adam_check(const struct nst_optim *opt, const struct nst_optim_record *h) {
	if (h->searching || h->search_gtd != 0.0)
		return "searching";
	/* Row k is evaluated after k steps; its step is taken once it is no longer pending. */
	if (h->adam_step != h->row - (int)h->pending || (h->done && !h->pending))
		return "adam_step";
	if (h->n_iter || h->evals || h->n_old || h->oldest || h->loop_done || h->h_diag != 0.0 || h->t != 0.0 ||
	    h->f != 0.0 || h->tol_iteration > h->adam_step)
		return "the L-BFGS fields of an Adam run";
	return NULL;
}

static void adam_restore(struct nst_optim *opt, const struct nst_optim_record *rec) {
	struct adam_state *st = opt->state;
	st->step = rec->adam_step;
}

const struct nst_optim_ops nst_optim_adam = {
	"adam", ADAM_LR, adam_place, adam_reset, adam_run, adam_arrays, adam_save, adam_check, adam_restore,
};
