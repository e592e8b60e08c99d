/* torch.optim.LBFGS behind the optimizer interface (src/optimizer.h): one call of PyTorch's
 * step() with max_iter = the run's iterations, max_eval = int(1.25 * iterations),
 * history_size = m, tolerance_grad = tolerance_change = -1, line_search_fn None or strong_wolfe
 * (src/line_search.c), then the reference's last evaluation of the final point. */
#include <math.h>
#include <string.h>

#include "line_search.h"
#include "optimizer.h"

#define LBFGS_LR 1.0f
#define LBFGS_MIN_CURVATURE 1e-10
#define LBFGS_MAX_EVAL_FACTOR 1.25
/* PyTorch's L-BFGS stops when the directional derivative exceeds -tolerance_change; the
 * reference turns tolerances off with -1. */
#define LBFGS_TOLERANCE_CHANGE (-1.0)

struct lbfgs_state {
	float *d, *prev_grad;            /* [n] the direction, the gradient before the step */
	float *dirs, *steps;             /* [history][n] ring buffers: y and s */
	double *ro, *al;                 /* [history] */
	float *x0;                       /* [n] the line search's start (strong_wolfe only) */
	float *search;                   /* [3][n] its trial gradients (strong_wolfe only) */
	int n_iter, evals, n_old, oldest;
	double h_diag, t;
	double f;                        /* the loss at x (the line search starts from it) */
	bool loop_done;                  /* the iterations are over (the final row may follow) */
	bool searching;                  /* inside a line search: rows are trial points */
	bool stop_requested;             /* the caller asked to stop during the line search */
	/* Where the current line search started (x0, g0 = prev_grad, f0 = f), what a checkpoint
	 * taken inside it records, and resume_search to start it again from there. */
	int search_row, search_evals;
	double search_t, search_gtd;
	bool resume_search;
};

/*
 * The vector passes over the picture (the two-loop recursion takes two dot products and two
 * updates per history pair, each over the whole picture), on the engine's threads in its fixed
 * parts (nst_parallel_sums: the same bits on any number of threads): a pass may first update its
 * range (y += alpha x) and then take dot products over it (nst_dot_range), a block at a time while
 * it is in L1.
 */
#define VECTOR_BLOCK 1024 /* floats per block: the update and the dot products of a block stay in L1 */

struct vector_pass {
	float alpha;
	const float *x;             /* [n]: y += alpha x first, if x */
	float *y;                   /* [n] */
	const float *u[2], *v[2];   /* [n] each: then sum[k] = u[k] . v[k] (v[k] NULL: y), for u[k] not NULL */
};

static void vector_part(void *context, size_t i0, size_t i1, double *sums) {
	const struct vector_pass *t = context;
	for (size_t b = i0; b < i1; b += VECTOR_BLOCK) {
		const size_t e = i1 - b < VECTOR_BLOCK ? i1 : b + VECTOR_BLOCK;
		if (t->x)
			nst_floats_axpy(e - b, t->alpha, t->x + b, t->y + b);
		for (int k = 0; k < 2; k++)
			if (t->u[k])
				sums[k] += nst_dot_range(b, e, t->u[k], t->v[k] ? t->v[k] : t->y);
	}
}

/* y += alpha x (if x), then out[k] = u[k] . (v[k] or y) for the u[k] given (out may be NULL). */
static void vector_pass(const struct nst_engine *engine, size_t n, float alpha, const float *x, float *y,
                        const float *u0, const float *v0, const float *u1, const float *v1, double out[2]) {
	struct vector_pass t = {alpha, x, y, {u0, u1}, {v0, v1}};
	nst_parallel_sums(engine, n, vector_part, &t, out ? 2 : 0, out);
}

/* The curvature pair, in place (the ring is written only if it is kept): y = g - prev into prev,
 * s = t d into d; sums[0] = y . s, sums[1] = y . y. */
struct curvature_pass {
	const float *g; /* [n] */
	float *y, *d;   /* [n] each: prev, becoming y; d, becoming s */
	float t;
};

static void curvature_part(void *context, size_t i0, size_t i1, double *sums) {
	const struct curvature_pass *c = context;
	for (size_t b = i0; b < i1; b += VECTOR_BLOCK) {
		const size_t e = i1 - b < VECTOR_BLOCK ? i1 : b + VECTOR_BLOCK;
		nst_floats_subtract_from(e - b, c->g + b, c->y + b);
		nst_floats_scale_in_place(e - b, c->t, c->d + b);
		sums[0] += nst_dot_range(b, e, c->y, c->d);
		sums[1] += nst_dot_range(b, e, c->y, c->y);
	}
}

/* The pair kept (y, s copied into the ring's slot, if ring_y) and the new direction started:
 * d = -g. */
struct restart_pass {
	const float *g, *y;   /* [n] each */
	float *d;             /* [n] */
	float *ring_y, *ring_s; /* [n] each, or NULL */
};

static void restart_part(void *context, size_t i0, size_t i1, double *sums) {
	const struct restart_pass *r = context;
	(void)sums;
	if (r->ring_y) {
		memcpy(r->ring_y + i0, r->y + i0, (i1 - i0) * sizeof(float));
		memcpy(r->ring_s + i0, r->d + i0, (i1 - i0) * sizeof(float));
	}
	nst_floats_scale(i1 - i0, -1.0f, r->g + i0, r->d + i0);
}

/* After the direction: prev = g, and sums[0] = g . d (the directional derivative). */
struct keep_pass {
	const float *g, *d; /* [n] each */
	float *prev;        /* [n] */
};

static void keep_part(void *context, size_t i0, size_t i1, double *sums) {
	const struct keep_pass *k = context;
	memcpy(k->prev + i0, k->g + i0, (i1 - i0) * sizeof(float));
	for (size_t b = i0; b < i1; b += VECTOR_BLOCK) {
		const size_t e = i1 - b < VECTOR_BLOCK ? i1 : b + VECTOR_BLOCK;
		sums[0] += nst_dot_range(b, e, k->g, k->d);
	}
}

static void lbfgs_place(struct nst_optim *opt, struct nst_arena *a) {
	const size_t n = opt->n, m = (size_t)opt->history;
	struct lbfgs_state *st = NST_ARENA_NEW(a, struct lbfgs_state, 1);
	struct lbfgs_state p = {0};
	p.d = NST_ARENA_NEW(a, float, n);
	p.prev_grad = NST_ARENA_NEW(a, float, n);
	p.dirs = NST_ARENA_NEW(a, float, m * n);
	p.steps = NST_ARENA_NEW(a, float, m * n);
	p.ro = NST_ARENA_NEW(a, double, m);
	p.al = NST_ARENA_NEW(a, double, m);
	if (opt->line_search) {
		p.x0 = NST_ARENA_NEW(a, float, n);
		p.search = NST_ARENA_NEW(a, float, 3 * n);
	}
	opt->state = st;
	if (st)
		*st = p;
}

static void lbfgs_reset(struct nst_optim *opt) {
	struct lbfgs_state *st = opt->state;
	const struct lbfgs_state keep = *st;
	memset(st, 0, sizeof *st);
	st->d = keep.d;
	st->prev_grad = keep.prev_grad;
	st->dirs = keep.dirs;
	st->steps = keep.steps;
	st->ro = keep.ro;
	st->al = keep.al;
	st->x0 = keep.x0;
	st->search = keep.search;
}

/* One trial point of the line search: x = x0 + t d, its loss and gradient, reported as a row. */
struct line_trial {
	const struct nst_optim *opt;
	const struct nst_objective *obj;
};

static double line_trial_evaluate(void *context, double t, float *grad) {
	const struct line_trial *c = context;
	const struct nst_objective *obj = c->obj;
	struct lbfgs_state *st = c->opt->state;
	const float tf = (float)t, *x0 = st->x0, *d = st->d;
	nst_floats_step(obj->n, x0, tf, d, obj->x);
	const double f = obj->evaluate(obj->context, true);
	st->evals++;
	if (obj->report(obj->context, true, st->n_iter) != NST_OK) /* stop after the search, at the point it accepts */
		st->stop_requested = true;
	memcpy(grad, obj->grad, obj->n * sizeof(float));
	return f;
}

/* The step along d by PyTorch's strong-Wolfe search from x, starting at the step st->t: x, grad
 * and the loss end at the point it accepts.  A stop asked for inside the search takes effect when
 * it ends (NST_ERR_INTERRUPTED), so that the point is an accepted one. */
static enum nst_status line_search(const struct nst_optim *opt, const struct nst_objective *obj, double gtd) {
	struct lbfgs_state *st = opt->state;
	const size_t n = opt->n;
	memcpy(st->x0, obj->x, n * sizeof(float));
	st->search_row = obj->run->row;
	st->search_evals = st->evals;
	st->search_t = st->t;
	st->search_gtd = gtd;
	const struct nst_wolfe_scratch ls = {n, {st->search, st->search + n, st->search + 2 * n}};
	struct line_trial trial = {opt, obj};
	struct nst_line_result res;
	st->searching = true;
	/* prev_grad holds the gradient at x0 (copied before the step). */
	nst_strong_wolfe(&ls, st->d, st->t, st->f, st->prev_grad, gtd, line_trial_evaluate, &trial, &res);
	st->searching = false;
	const float tf = (float)res.t;
	nst_floats_step(n, st->x0, tf, st->d, obj->x);
	memcpy(obj->grad, res.grad, n * sizeof(float));
	st->t = res.t;
	st->f = res.f;
	if (!isfinite(res.f))
		return NST_ERR_NUMERIC;
	if (st->stop_requested) {
		st->stop_requested = false;
		return NST_ERR_INTERRUPTED;
	}
	return NST_OK;
}

/* d = -H g by the two-loop recursion, after storing the newest pair (y = g - prev, s = d * t) in
 * the ring's next slot if its curvature is positive. */
static void direction(const struct nst_optim *opt, const struct nst_engine *engine, struct lbfgs_state *r,
                      const float *g) {
	const size_t n = opt->n;
	const int m = opt->history;
	float *d = r->d;
	const int slot = (r->oldest + r->n_old) % m; /* == oldest when the ring is full */
	float *y = r->dirs + (size_t)slot * n;
	float *st = r->steps + (size_t)slot * n;
	/* y = g - prev and s = t d are written to the ring only if the curvature is kept: first into
	 * prev (not needed after this) and d (scaled in place), then ys = y . s and yy = y . y. */
	float *yv = r->prev_grad;
	struct curvature_pass cp = {g, yv, d, (float)r->t};
	double c[2];
	nst_parallel_sums(engine, n, curvature_part, &cp, 2, c);
	const double ys = c[0], yy = c[1];
	const bool keep = ys > LBFGS_MIN_CURVATURE;
	struct restart_pass rp = {g, yv, d, keep ? y : NULL, keep ? st : NULL};
	nst_parallel_sums(engine, n, restart_part, &rp, 0, NULL);
	if (keep) {
		r->ro[slot] = 1.0 / ys;
		if (r->n_old == m)
			r->oldest = (r->oldest + 1) % m; /* the oldest pair was overwritten */
		else
			r->n_old++;
		r->h_diag = ys / yy;
	}
	/* First loop, newest pair to oldest: al_j = ro_j s_j . d, d -= al_j y_j; each pass makes its
	 * update and the next pair's dot product. */
	const float *upd = NULL; /* the update each pass makes first: d -= a upd */
	float a = 0.0f;
	for (int k = r->n_old - 1; k >= 0; k--) {
		const int j = (r->oldest + k) % m;
		vector_pass(engine, n, -a, upd, d, r->steps + (size_t)j * n, NULL, NULL, NULL, c);
		const double al = c[0] * r->ro[j];
		r->al[j] = al;
		a = (float)al;
		upd = r->dirs + (size_t)j * n;
	}
	if (upd)
		vector_pass(engine, n, -a, upd, d, NULL, NULL, NULL, NULL, NULL);
	nst_floats_scale_in_place(n, (float)r->h_diag, d);
	/* Second loop, oldest to newest: be_j = ro_j y_j . d, d += (al_j - be_j) s_j, fused the same way. */
	upd = NULL;
	for (int k = 0; k < r->n_old; k++) {
		const int j = (r->oldest + k) % m;
		vector_pass(engine, n, a, upd, d, r->dirs + (size_t)j * n, NULL, NULL, NULL, c);
		const double be = c[0] * r->ro[j];
		a = (float)(r->al[j] - be);
		upd = r->steps + (size_t)j * n;
	}
	if (upd)
		vector_pass(engine, n, a, upd, d, NULL, NULL, NULL, NULL, NULL);
}

/* The check that ends PyTorch's loop body runs at the top of the next pass, so that every stop
 * falls right after an evaluation. */
static enum nst_status lbfgs_run(struct nst_optim *opt, const struct nst_objective *obj, int iterations) {
	struct lbfgs_state *r = opt->state;
	const size_t n = opt->n;
	const float lr = opt->learning_rate;
	const int max_iter = iterations > 1 ? iterations : 1;
	const int max_eval = (int)(iterations * LBFGS_MAX_EVAL_FACTOR) > 1 ? (int)(iterations * LBFGS_MAX_EVAL_FACTOR) : 1;
	float *d = r->d, *g = obj->grad, *prev = r->prev_grad;
	enum nst_status s;

	if (iterations > 0 && !r->loop_done) {
		if (r->evals == 0) {
			r->f = obj->evaluate(obj->context, true);
			r->evals = 1;
			s = obj->report(obj->context, false, r->n_iter);
			if (s != NST_OK)
				return s;
		}
		for (;;) {
			if (r->resume_search) { /* a checkpoint taken inside this iteration's line search */
				r->resume_search = false;
				s = line_search(opt, obj, r->search_gtd);
				if (s != NST_OK)
					return s;
				continue;
			}
			if (r->n_iter > 0 && (r->n_iter == max_iter || r->evals >= max_eval))
				break;
			if (r->n_iter >= max_iter)
				break;
			if (r->n_iter > 0 && obj->converged(obj->context, r->n_iter, r->f))
				break;
			const double t0 = nst_seconds();
			r->n_iter++;
			if (r->n_iter == 1) {
				nst_floats_scale(n, -1.0f, g, d);
				r->n_old = 0;
				r->h_diag = 1.0;
			} else {
				direction(opt, obj->engine, r, g);
			}
			struct keep_pass kp = {g, d, prev};
			double gtd;
			nst_parallel_sums(obj->engine, n, keep_part, &kp, 1, &gtd);
			if (r->n_iter == 1) {
				double l1 = 0.0;
				for (size_t i = 0; i < n; i++)
					l1 += fabs((double)g[i]);
				r->t = (l1 > 0.0 && 1.0 / l1 < 1.0 ? 1.0 / l1 : 1.0) * (double)lr;
			} else {
				r->t = (double)lr;
			}
			if (gtd > -LBFGS_TOLERANCE_CHANGE)
				break;
			if (opt->line_search) {
				s = line_search(opt, obj, gtd);
				if (s != NST_OK)
					return s;
				continue;
			}
			vector_pass(obj->engine, n, (float)r->t, d, obj->x, NULL, NULL, NULL, NULL, NULL); /* x += t d */
			*obj->seconds += nst_seconds() - t0;
			if (r->n_iter != max_iter) {
				r->f = obj->evaluate(obj->context, true);
				r->evals++;
				s = obj->report(obj->context, false, r->n_iter);
				if (s != NST_OK)
					return s;
			}
		}
	}
	/* The reference records the losses of the final point once more; a run resumed from its final
	 * row (loop_done: that row is reported, as the checkpoint's row count says) has it. */
	const bool final_reported = r->loop_done;
	r->loop_done = true;
	s = NST_OK;
	if (final_reported) {
		if (!isfinite(obj->run->last.total))
			s = NST_ERR_NUMERIC;
	} else {
		obj->evaluate(obj->context, false);
		s = obj->report(obj->context, false, r->n_iter);
	}
	obj->run->done = true;
	return s;
}

/* Inside a line search the picture, its gradient and the last good picture are saved as the
 * search's start, x0 and g0. */
static int lbfgs_arrays(const struct nst_optim *opt, bool saving, struct nst_state_array *out, int k) {
	const struct lbfgs_state *st = opt->state;
	const size_t nb = opt->n * sizeof(float), m = (size_t)opt->history;
	if (saving && st->searching) {
		out[0].data = st->x0;
		out[1].data = st->prev_grad;
		out[2].data = st->x0;
	}
	out[k++] = (struct nst_state_array){st->d, nb};
	out[k++] = (struct nst_state_array){st->prev_grad, nb};
	out[k++] = (struct nst_state_array){st->dirs, m * nb};
	out[k++] = (struct nst_state_array){st->steps, m * nb};
	out[k++] = (struct nst_state_array){st->ro, m * sizeof(double)};
	out[k++] = (struct nst_state_array){st->al, m * sizeof(double)};
	return k;
}

static void lbfgs_save(const struct nst_optim *opt, struct nst_optim_record *h) {
	const struct lbfgs_state *r = opt->state;
	h->n_iter = r->n_iter;
	h->evals = r->evals;
	h->n_old = r->n_old;
	h->oldest = r->oldest;
	h->h_diag = r->h_diag;
	h->t = r->t;
	h->f = r->f;
	h->loop_done = r->loop_done;
	if (r->searching) { /* the state where the search began: resume searches again from there */
		h->row = r->search_row;
		h->evals = r->search_evals;
		h->good_row = r->search_row - 1;
		h->t = r->search_t;
		h->search_gtd = r->search_gtd;
		h->searching = true;
	}
}

static const char *lbfgs_check(const struct nst_optim *opt, const struct nst_optim_record *h) {
	const int m = opt->history;
	if (h->searching ? !opt->line_search || h->n_iter < 1 || h->loop_done ||
	                       !(isfinite(h->search_gtd) && h->search_gtd < 0.0)
	                 : h->search_gtd != 0.0)
		return "searching";
	if (h->adam_step != 0)
		return "adam_step";
	/* Every evaluation is a row, and so is the final one after the loop. */
	if (h->n_iter < 0 || h->n_iter > NST_CHECKPOINT_MAX_ROWS)
		return "n_iter";
	/* A line search evaluates once, then up to NST_WOLFE_MAX_EVALUATIONS times more. */
	const int64_t evals_per_iteration = opt->line_search ? NST_WOLFE_MAX_EVALUATIONS + 1 : 1;
	if (h->evals < h->n_iter || (int64_t)h->evals > (int64_t)h->n_iter * evals_per_iteration + 1 ||
	    h->row != h->evals + (int)h->loop_done)
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
	if (h->n_iter == 0 ? (h->h_diag != 0.0 || h->t != 0.0)
	                   : !(isfinite(h->h_diag) && h->h_diag > 0.0 && isfinite(h->t) &&
	                       (h->t > 0.0 || (opt->line_search && h->t == 0.0))))
		return "h_diag / t";
	return NULL;
}

static void lbfgs_restore(struct nst_optim *opt, const struct nst_optim_record *h) {
	struct lbfgs_state *r = opt->state;
	lbfgs_reset(opt);
	r->n_iter = h->n_iter;
	r->evals = h->evals;
	r->n_old = h->n_old;
	r->oldest = h->oldest;
	r->h_diag = h->h_diag;
	r->t = h->t;
	r->f = h->f;
	r->loop_done = h->loop_done;
	r->resume_search = h->searching;
	r->search_gtd = h->search_gtd;
}

const struct nst_optim_ops nst_optim_lbfgs = {
	"lbfgs", LBFGS_LR, lbfgs_place, lbfgs_reset, lbfgs_run, lbfgs_arrays, lbfgs_save, lbfgs_check, lbfgs_restore,
};
