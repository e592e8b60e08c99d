/* The optimizers of the picture behind one interface: Adam (src/optim_adam.c) and PyTorch's
 * L-BFGS (src/optim_lbfgs.c, with src/line_search.c).  An optimizer sees the problem only through
 * a struct nst_objective (the point x, its gradient, an evaluate callback that also reports the
 * row of the loss log); its state is its own, placed in the plan's arena by its place function,
 * and a checkpoint saves and restores that state through the interface (the arrays it lists and
 * the scalars of struct nst_optim_record) without knowing its layout. */
#ifndef NST_OPTIMIZER_H
#define NST_OPTIMIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Rows a checkpoint may have reached: far beyond any run, far below where int arithmetic on the
 * counters (row + 1, evaluations, Adam's step) could overflow. */
#define NST_CHECKPOINT_MAX_ROWS (1 << 30)

/* Where a run is, kept by the run loop (src/session.c: report, the tolerance) and checkpointed:
 * every field a checkpoint needs to continue it exactly, besides the optimizer's own state. */
struct nst_run_state {
	int row;                         /* loss-log rows reported so far */
	bool pending;                    /* the last row's picture is evaluated, its step not taken yet */
	bool done, failed;               /* done: set by the optimizer when the run is over */
	int good_row;                    /* the row of x_good */
	double seconds;                  /* optimization time before this call of nst_session_run */
	double t0;
	struct nst_losses last;          /* the last row's losses */
	/* --tolerance: the loss at iteration tol_iteration, the start of the current window */
	int tol_iteration;
	double tol_f;
	bool converged;
};

/* What an optimizer sees of the problem.  Each evaluation is reported as a row of the loss log
 * once the optimizer has counted it (a checkpoint may be taken while the row is reported). */
struct nst_objective {
	size_t n;
	float *x;                        /* [n] the point */
	float *grad;                     /* [n] the gradient at x after an evaluation that computes it */
	/* f(x), and its gradient into grad when need_grad. */
	double (*evaluate)(void *context, bool need_grad);
	/* The last evaluation as a row whose optimizer step is `step`.  NST_OK: go on;
	 * NST_ERR_INTERRUPTED: the caller asked to stop; NST_ERR_NUMERIC: the loss is not finite.  A
	 * line search's trial point (trial) answers NST_OK or NST_ERR_INTERRUPTED only, and the search
	 * goes on whatever it answers (a stop takes effect once it ends). */
	enum nst_status (*report)(void *context, bool trial, int step);
	/* --tolerance: whether the run stops after `iteration`, whose loss is f. */
	bool (*converged)(void *context, int iteration, double f);
	void *context;
	struct nst_run_state *run;       /* the rows so far (read), done (set) */
	double *seconds;                 /* the optimizer's own arithmetic is timed into it */
	const struct nst_engine *engine; /* the threads the optimizer's vector passes run on (NULL: this one) */
};

/* An array of an optimizer's state, as a checkpoint writes and reads it. */
struct nst_state_array {
	void *data;
	size_t bytes;
};
#define NST_STATE_MAX_ARRAYS 9       /* the run's three (x, grad, x_good) and an optimizer's */

/* An optimizer's scalars in a checkpoint: the fields of the version 2 header, 0 where an
 * optimizer has no such field.  row, good_row, pending, done and tol_iteration are the run's; an
 * optimizer reads them to check its own, and may move row and good_row back when it saves (a
 * checkpoint inside a line search restarts the search). */
struct nst_optim_record {
	int32_t row, good_row, tol_iteration;
	bool pending, done;
	int32_t adam_step;               /* Adam: steps taken */
	int32_t n_iter, evals, n_old, oldest; /* L-BFGS: iterations, evaluations, its history ring */
	double h_diag, t, f;             /* L-BFGS: H0's scale, the step, the loss at x */
	double search_gtd;               /* L-BFGS inside a line search: the slope at its start */
	bool loop_done, searching;       /* L-BFGS: its iterations are over / inside a line search */
};

struct nst_optim;

struct nst_optim_ops {
	const char *name;
	float default_learning_rate;
	/* Places the state in the arena (only measures when its base is NULL). */
	void (*place)(struct nst_optim *opt, struct nst_arena *arena);
	/* A new run from the current point. */
	void (*reset)(struct nst_optim *opt);
	/* Runs until `iterations` (the whole run's budget) or an interruption; resumes where the
	 * state is (after a reset, a stop, or a restore). */
	enum nst_status (*run)(struct nst_optim *opt, const struct nst_objective *objective, int iterations);
	/* The state's arrays in checkpoint order appended to out[k..] (out[0..2] hold the run's x,
	 * grad and x_good, which the optimizer may redirect while saving); returns the new count. */
	int (*arrays)(const struct nst_optim *opt, bool saving, struct nst_state_array *out, int k);
	void (*save)(const struct nst_optim *opt, struct nst_optim_record *record);
	/* NULL if a record (with arrays already read into the state) is one this optimizer can be
	 * in, else the name of the first field that is not. */
	const char *(*check)(const struct nst_optim *opt, const struct nst_optim_record *record);
	void (*restore)(struct nst_optim *opt, const struct nst_optim_record *record);
};

struct nst_optim {
	const struct nst_optim_ops *ops;
	size_t n;                        /* the problem's size */
	float learning_rate;
	int history;                     /* L-BFGS: the pairs kept */
	bool line_search;                /* L-BFGS: the strong-Wolfe search */
	void *state;                     /* the optimizer's own (in the arena) */
};

extern const struct nst_optim_ops nst_optim_adam;
extern const struct nst_optim_ops nst_optim_lbfgs;

/* Sets up opt for the options' optimizer (src/optimizer.c): a learning rate of 0 is the
 * optimizer's default.  Its state is placed later, by ops->place. */
void nst_optim_setup(struct nst_optim *opt, enum nst_optimizer kind, size_t n, float learning_rate,
                         int history, bool line_search);

#endif
