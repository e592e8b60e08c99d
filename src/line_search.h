/* The strong-Wolfe line search of L-BFGS: PyTorch's torch.optim.lbfgs._strong_wolfe (itself
 * Torch7's lswolfe.lua), step for step, so that `--line-search strong_wolfe` reaches the losses of
 * torch_nst.py with the same option.
 *
 * The search looks along a direction d from a point x0 for a step t that satisfies the strong
 * Wolfe conditions: sufficient decrease f(x0 + t d) <= f0 + c1 t g0.d and small slope
 * |g(x0 + t d).d| <= c2 |g0.d|.  It only sees the problem through `evaluate`, which computes
 * the loss and gradient at x0 + t d; the caller keeps x0 and d. */
#ifndef NST_LINE_SEARCH_H
#define NST_LINE_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

/* f(x0 + t d), its gradient written to grad [n]; a loss that is not finite counts as too far. */
typedef double (*nst_line_fn)(void *user, double t, float *grad);

struct nst_wolfe_scratch {
	size_t n;               /* the problem's size */
	float *scratch[3];      /* [3][n] gradients of the trial points the search keeps */
};

struct nst_line_result {
	double t;               /* the step taken (0: none was better) */
	double f;               /* the loss at x0 + t d */
	const float *grad;      /* [n] its gradient: a scratch buffer, or g0 itself when t is 0 */
	int evaluations;        /* calls of evaluate */
};

/* PyTorch's constants: c1 1e-4, c2 0.9, tolerance_change 1e-9, at most 25 evaluations. */
#define NST_WOLFE_C1 1e-4
#define NST_WOLFE_C2 0.9
#define NST_WOLFE_TOLERANCE_CHANGE 1e-9
#define NST_WOLFE_MAX_EVALUATIONS 25

/* Searches from t along d [n], starting from the loss f0, gradient g0 [n] and slope gtd0 = g0.d
 * (negative) at x0. */
void nst_strong_wolfe(const struct nst_wolfe_scratch *ls, const float *d, double t, double f0, const float *g0,
                      double gtd0, nst_line_fn evaluate, void *user, struct nst_line_result *out);

/* The minimum of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to [lo, hi]. */
double nst_cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, double lo,
                             double hi);

#endif
