/* The optimizers (src/optim_adam.c, src/optim_lbfgs.c) through their interface (src/optimizer.h)
 * on a problem with a known answer: f(x) = 1/2 x^T A x - b^T x with A diagonal, its condition
 * number 100, n = 50, whose minimum is x* = A^-1 b.
 *   - L-BFGS without a line search and with the strong-Wolfe search reaches x* to 1e-5 within a
 *     bounded number of iterations; Adam comes close to it;
 *   - a run interrupted and continued continues exactly;
 *   - the state saved through the interface at some row (a line search's trial point included)
 *     and restored into a fresh optimizer, in another arena, continues bit for bit as the
 *     uninterrupted run does, and the restored record passes the optimizer's own check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "optimizer.h"

#define N 50
#define CONDITION 100.0
#define MAX_ROWS 4096

struct problem {
	double a[N], b[N], x_star[N];
};

static void problem_init(struct problem *p) {
	for (int i = 0; i < N; i++) {
		p->a[i] = pow(CONDITION, (double)i / (N - 1)); /* 1 .. 100 */
		p->b[i] = sin(1.0 + i) * (1.0 + 0.5 * (double)(i % 3));
		p->x_star[i] = p->b[i] / p->a[i];
	}
}

/* A run of the test: the objective's buffers and what the session's report does. */
struct run {
	const struct problem *p;
	float x[N], grad[N], x_good[N];
	struct nst_run_state state;
	double seconds;
	double f, rows_f[MAX_ROWS];      /* the last evaluation; every row's loss */
	int stop_at;                     /* report answers "stop" at this row (-1: never) */
	/* a snapshot taken while reporting row snap_at (-1: none) */
	int snap_at;
	const struct nst_optim *snap_opt;
	struct snapshot *snap;
};

struct snapshot {
	struct nst_run_state state;
	struct nst_optim_record record;
	int n_arrays;
	size_t bytes[NST_STATE_MAX_ARRAYS];
	unsigned char *data[NST_STATE_MAX_ARRAYS];
	bool taken;
};

static double run_evaluate(void *context, bool need_grad) {
	struct run *r = context;
	double f = 0.0;
	for (int i = 0; i < N; i++) {
		const double x = r->x[i];
		f += 0.5 * r->p->a[i] * x * x - r->p->b[i] * x;
		if (need_grad)
			r->grad[i] = (float)(r->p->a[i] * x - r->p->b[i]);
	}
	r->f = f;
	return f;
}

/* What a checkpoint saves, through the interface only. */
static void take_snapshot(const struct nst_optim *opt, const struct run *r, struct snapshot *s) {
	s->state = r->state;
	s->record = (struct nst_optim_record){.row = r->state.row,
	                                      .good_row = r->state.good_row,
	                                      .tol_iteration = r->state.tol_iteration,
	                                      .pending = r->state.pending,
	                                      .done = r->state.done};
	opt->ops->save(opt, &s->record);
	struct nst_state_array a[NST_STATE_MAX_ARRAYS] = {
	    {(void *)r->x, sizeof r->x}, {(void *)r->grad, sizeof r->grad}, {(void *)r->x_good, sizeof r->x_good}};
	s->n_arrays = opt->ops->arrays(opt, true, a, 3);
	for (int i = 0; i < s->n_arrays; i++) {
		s->bytes[i] = a[i].bytes;
		s->data[i] = malloc(a[i].bytes);
		memcpy(s->data[i], a[i].data, a[i].bytes);
	}
	s->taken = true;
}

static enum nst_status run_report(void *context, bool trial, int step) {
	struct run *r = context;
	struct nst_run_state *st = &r->state;
	st->last = (struct nst_losses){r->f, r->f, 0.0, 0.0};
	const int row = st->row++;
	if (row < MAX_ROWS)
		r->rows_f[row] = r->f;
	st->pending = true;
	if (isfinite(r->f)) {
		memcpy(r->x_good, r->x, sizeof r->x);
		st->good_row = row;
	}
	if (row == r->snap_at && r->snap && !r->snap->taken)
		take_snapshot(r->snap_opt, r, r->snap);
	if (!trial && !isfinite(r->f))
		return NST_ERR_NUMERIC;
	return row == r->stop_at ? NST_ERR_INTERRUPTED : NST_OK;
}

static bool run_converged(void *context, int iteration, double f) { return false; }

static struct nst_objective objective_of(struct run *r, const struct nst_engine *engine) {
	return (struct nst_objective){N,  r->x,      r->grad,     run_evaluate, run_report, run_converged,
	                              r,  &r->state, &r->seconds, engine};
}

static void run_init(struct run *r, const struct problem *p) {
	memset(r, 0, sizeof *r);
	r->p = p;
	r->stop_at = r->snap_at = -1;
	r->state.good_row = -1;
	for (int i = 0; i < N; i++)
		r->x[i] = 0.0f;
	memcpy(r->x_good, r->x, sizeof r->x);
}

/* An optimizer with its state placed in an arena of its own, the plan's way: measured, then placed. */
struct placed {
	struct nst_optim opt;
	void *arena;
};

static void placed_init_n(struct placed *o, enum nst_optimizer kind, size_t n, float lr, int history,
                          bool line_search) {
	nst_optim_setup(&o->opt, kind, n, lr, history, line_search);
	struct nst_arena a;
	nst_arena_init(&a, NULL, 0);
	o->opt.ops->place(&o->opt, &a);
	CHECK(o->opt.state == NULL, "measuring placed the state somewhere");
	const size_t bytes = a.used;
	o->arena = nst_arena_allocate(bytes);
	memset(o->arena, 0xff, bytes); /* NaN everywhere: a state that is not reset shows */
	nst_arena_init(&a, o->arena, bytes);
	o->opt.ops->place(&o->opt, &a);
	CHECK(o->opt.state != NULL && !a.overflow, "the state does not fit the %zu bytes it measured", bytes);
	o->opt.ops->reset(&o->opt);
}

static void placed_init(struct placed *o, enum nst_optimizer kind, float lr, int history, bool line_search) {
	placed_init_n(o, kind, N, lr, history, line_search);
}

/* The optimizer's vector passes on threads: a diagonal quadratic of BIG_N unknowns (past
 * NST_SUM_PARALLEL_MIN, so L-BFGS's sums run on the pool's threads), on no engine and on a
 * 2-thread one: the same rows and the same point, bit for bit. */
#define BIG_N (3 * NST_SUM_PARALLEL_MIN + 7)
#define BIG_ITERATIONS 12
struct big_run {
	float *x, *grad;      /* [BIG_N] */
	const float *a, *b;   /* [BIG_N]: f = sum a x^2 / 2 - b x */
	struct nst_run_state state;
	double seconds, rows_f[MAX_ROWS];
};

static double big_evaluate(void *context, bool need_grad) {
	struct big_run *r = context;
	double f = 0.0;
	for (size_t i = 0; i < BIG_N; i++) {
		f += 0.5 * (double)r->a[i] * (double)r->x[i] * (double)r->x[i] - (double)r->b[i] * (double)r->x[i];
		if (need_grad)
			r->grad[i] = r->a[i] * r->x[i] - r->b[i];
	}
	if (r->state.row < MAX_ROWS)
		r->rows_f[r->state.row] = f;
	r->state.last = (struct nst_losses){f, f, 0.0, 0.0};
	return f;
}

static enum nst_status big_report(void *context, bool trial, int step) {
	struct big_run *r = context;
	r->state.row++;
	r->state.pending = true;
	return NST_OK;
}

static void big_run_once(struct big_run *r, const float *a, const float *b, bool line_search,
                         const struct nst_engine *engine) {
	*r = (struct big_run){.x = calloc(BIG_N, sizeof(float)), .grad = calloc(BIG_N, sizeof(float)), .a = a, .b = b};
	struct placed o;
	placed_init_n(&o, NST_OPTIMIZER_LBFGS, BIG_N, 1.0f, 10, line_search);
	const struct nst_objective obj = {BIG_N, r->x, r->grad, big_evaluate, big_report, run_converged, r, &r->state,
	                                  &r->seconds, engine};
	CHECK(o.opt.ops->run(&o.opt, &obj, BIG_ITERATIONS) == NST_OK && r->state.done, "big quadratic: the run failed");
	nst_arena_free(o.arena);
}

static void test_threads(const struct nst_engine *two) {
	float *a = malloc(BIG_N * sizeof(float)), *b = malloc(BIG_N * sizeof(float));
	for (size_t i = 0; i < BIG_N; i++) {
		a[i] = (float)pow(CONDITION, (double)(i % 97) / 96.0);
		b[i] = (float)sin(1.0 + (double)i);
	}
	for (int ls = 0; ls < 2; ls++) {
		struct big_run one, pool;
		big_run_once(&one, a, b, ls, NULL);
		big_run_once(&pool, a, b, ls, two);
		CHECK(one.state.row == pool.state.row && one.state.row > BIG_ITERATIONS / 2 &&
		          memcmp(one.rows_f, pool.rows_f, (size_t)one.state.row * sizeof(double)) == 0 &&
		          memcmp(one.x, pool.x, BIG_N * sizeof(float)) == 0,
		      "lbfgs%s on %d unknowns: %d rows on one thread, %d on %d threads, or other losses or another point",
		      ls ? " strong_wolfe" : "", BIG_N, one.state.row, pool.state.row, two->threads);
		printf("lbfgs%s on %d unknowns, 1 and %d threads: %d rows, the same bits, f %.9g -> %.9g\n", ls ? " strong_wolfe" : "",
		       BIG_N, two->threads, one.state.row, one.rows_f[0], one.rows_f[one.state.row - 1]);
		free(one.x), free(one.grad), free(pool.x), free(pool.grad);
	}
	free(a);
	free(b);
}

static double distance(const struct run *r) {
	double m = 0.0;
	for (int i = 0; i < N; i++)
		m = fmax(m, fabs((double)r->x[i] - r->p->x_star[i]));
	return m;
}

/* The optimizers' states, as a checkpoint sees them: the same scalars and the same arrays. */
static bool same_state(const struct nst_optim *a, struct run *ra, const struct nst_optim *b, struct run *rb) {
	struct nst_optim_record x = {0}, y = {0};
	a->ops->save(a, &x);
	b->ops->save(b, &y);
	if (x.adam_step != y.adam_step || x.n_iter != y.n_iter || x.evals != y.evals || x.n_old != y.n_old ||
	    x.oldest != y.oldest || memcmp(&x.h_diag, &y.h_diag, sizeof x.h_diag) || memcmp(&x.t, &y.t, sizeof x.t) ||
	    memcmp(&x.f, &y.f, sizeof x.f) || x.loop_done != y.loop_done || x.searching != y.searching)
		return false;
	struct nst_state_array u[NST_STATE_MAX_ARRAYS] = {
	    {ra->x, sizeof ra->x}, {ra->grad, sizeof ra->grad}, {ra->x_good, sizeof ra->x_good}};
	struct nst_state_array v[NST_STATE_MAX_ARRAYS] = {
	    {rb->x, sizeof rb->x}, {rb->grad, sizeof rb->grad}, {rb->x_good, sizeof rb->x_good}};
	const int n = a->ops->arrays(a, true, u, 3);
	if (b->ops->arrays(b, true, v, 3) != n)
		return false;
	for (int i = 0; i < n; i++)
		if (u[i].bytes != v[i].bytes || memcmp(u[i].data, v[i].data, u[i].bytes) != 0)
			return false;
	return true;
}

struct config {
	const char *name;
	enum nst_optimizer kind;
	float lr;
	bool line_search;
	int iterations;
	double tolerance;        /* the distance to x* at the end */
	int snap_at;             /* the row where a checkpoint is taken */
};

static void test_config(const struct problem *p, const struct config *c, const struct nst_engine *two) {
	/* The uninterrupted run, a snapshot taken on the way. */
	struct placed a;
	placed_init(&a, c->kind, c->lr, 10, c->line_search);
	struct run *ra = malloc(sizeof *ra);
	run_init(ra, p);
	const double d0 = distance(ra);
	struct snapshot snap = {0};
	ra->snap_at = c->snap_at;
	ra->snap = &snap;
	ra->snap_opt = &a.opt;
	struct nst_objective oa = objective_of(ra, NULL);
	enum nst_status st = a.opt.ops->run(&a.opt, &oa, c->iterations);
	const double d = distance(ra);
	CHECK(st == NST_OK && ra->state.done, "%s: status %d, done %d", c->name, (int)st, ra->state.done);
	CHECK(d < c->tolerance, "%s: |x - x*| = %.3g after %d iterations (%d rows), from %.3g; expected < %.1g", c->name, d,
	      c->iterations, ra->state.row, d0, c->tolerance);
	CHECK(ra->state.row <= (int)(1.25 * c->iterations) + 2 + (c->line_search ? 25 : 0) || c->kind == NST_OPTIMIZER_ADAM,
	      "%s: %d rows for %d iterations", c->name, ra->state.row, c->iterations);
	printf("%s: |x - x*| %.3g -> %.3g in %d rows\n", c->name, d0, d, ra->state.row);

	/* Restored into a fresh optimizer in another arena: the same rows, bit for bit. */
	CHECK(snap.taken, "%s: no snapshot at row %d", c->name, c->snap_at);
	if (snap.taken) {
		struct placed b;
		placed_init(&b, c->kind, c->lr, 10, c->line_search);
		struct run *rb = malloc(sizeof *rb);
		run_init(rb, p);
		struct nst_state_array arr[NST_STATE_MAX_ARRAYS] = {
		    {rb->x, sizeof rb->x}, {rb->grad, sizeof rb->grad}, {rb->x_good, sizeof rb->x_good}};
		const int n_arrays = b.opt.ops->arrays(&b.opt, false, arr, 3);
		CHECK(n_arrays == snap.n_arrays, "%s: %d arrays saved, %d to restore", c->name, snap.n_arrays, n_arrays);
		for (int i = 0; i < n_arrays && i < snap.n_arrays; i++) {
			CHECK(arr[i].bytes == snap.bytes[i], "%s: array %d has %zu bytes, %zu saved", c->name, i, arr[i].bytes,
			      snap.bytes[i]);
			if (arr[i].bytes == snap.bytes[i])
				memcpy(arr[i].data, snap.data[i], snap.bytes[i]);
		}
		rb->state = snap.state;
		rb->state.row = snap.record.row;
		rb->state.good_row = snap.record.good_row;
		const char *bad = b.opt.ops->check(&b.opt, &snap.record);
		CHECK(bad == NULL, "%s: the saved record fails its own check at %s", c->name, bad ? bad : "");
		b.opt.ops->restore(&b.opt, &snap.record);
		struct nst_objective ob = objective_of(rb, NULL);
		st = b.opt.ops->run(&b.opt, &ob, c->iterations);
		CHECK(st == NST_OK && rb->state.done, "%s resumed: status %d", c->name, (int)st);
		CHECK(rb->state.row == ra->state.row, "%s resumed: %d rows, %d uninterrupted", c->name, rb->state.row,
		      ra->state.row);
		CHECK(memcmp(rb->x, ra->x, sizeof rb->x) == 0, "%s resumed from row %d: another point", c->name, c->snap_at);
		int differ = 0;
		for (int i = snap.record.row; i < rb->state.row && i < MAX_ROWS; i++)
			differ += memcmp(&rb->rows_f[i], &ra->rows_f[i], sizeof(double)) != 0;
		CHECK(differ == 0, "%s resumed: %d rows differ from the uninterrupted run's", c->name, differ);
		CHECK(same_state(&a.opt, ra, &b.opt, rb), "%s resumed: the optimizer's state differs at the end", c->name);
		/* A record the optimizer cannot be in is refused. */
		struct nst_optim_record wrong = snap.record;
		wrong.n_old = -1;
		wrong.adam_step = -1;
		CHECK(b.opt.ops->check(&b.opt, &wrong) != NULL, "%s: an impossible record passes the check", c->name);
		free(rb);
		nst_arena_free(b.arena);
	}
	for (int i = 0; i < snap.n_arrays; i++)
		free(snap.data[i]);

	/* On the threads of an engine (the optimizer's vector passes): the same rows, bit for bit. */
	if (two) {
		struct placed t;
		placed_init(&t, c->kind, c->lr, 10, c->line_search);
		struct run *rt = malloc(sizeof *rt);
		run_init(rt, p);
		struct nst_objective ot = objective_of(rt, two);
		st = t.opt.ops->run(&t.opt, &ot, c->iterations);
		CHECK(st == NST_OK && rt->state.row == ra->state.row && memcmp(rt->x, ra->x, sizeof rt->x) == 0,
		      "%s on %d threads: %d rows (%d on one), another point", c->name, two->threads, rt->state.row,
		      ra->state.row);
		free(rt);
		nst_arena_free(t.arena);
	}

	/* Stopped (the caller asked) and continued in the same optimizer: the same end. */
	struct placed s;
	placed_init(&s, c->kind, c->lr, 10, c->line_search);
	struct run *rs = malloc(sizeof *rs);
	run_init(rs, p);
	rs->stop_at = c->snap_at;
	struct nst_objective os = objective_of(rs, NULL);
	st = s.opt.ops->run(&s.opt, &os, c->iterations);
	CHECK(st == NST_ERR_INTERRUPTED && !rs->state.done, "%s: a stop at row %d gave status %d", c->name, c->snap_at,
	      (int)st);
	rs->stop_at = -1;
	st = s.opt.ops->run(&s.opt, &os, c->iterations);
	CHECK(st == NST_OK && memcmp(rs->x, ra->x, sizeof rs->x) == 0, "%s: stopped and continued, another point (status %d)",
	      c->name, (int)st);
	free(rs);
	nst_arena_free(s.arena);
	free(ra);
	nst_arena_free(a.arena);
}

int main(void) {
	struct problem p;
	problem_init(&p);
	const struct config configs[] = {
	    {"lbfgs", NST_OPTIMIZER_LBFGS, 1.0f, false, 100, 1e-5, 17},
	    {"lbfgs strong_wolfe", NST_OPTIMIZER_LBFGS, 1.0f, true, 100, 1e-5, 9},
	    {"adam", NST_OPTIMIZER_ADAM, 0.05f, false, 1500, 2e-2, 700},
	};
	struct nst_engine two;
	CHECK(nst_engine_init(&two, NST_BACKEND_SCALAR, NST_PRECISION_FP32, 2, NULL) == NST_OK &&
	          nst_engine_start(&two, NULL) == NST_OK,
	      "an engine of 2 threads");
	for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
		test_config(&p, &configs[i], &two);
	test_threads(&two);
	nst_engine_release(&two);
	return check_finish("test_optimizer");
}
