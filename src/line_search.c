/* The strong-Wolfe line search (line_search.h): PyTorch's _strong_wolfe, the bracketing phase
 * then the zoom phase, with the same tests in the same order.  Python keeps each trial gradient
 * as a new tensor; here three scratch buffers serve, a trial always going to one that no bracket
 * end refers to. */
#include "line_search.h"

#include <math.h>
#include <stdint.h>

double nst_cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, double lo,
                             double hi) {
	const double d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
	const double d2_square = d1 * d1 - g1 * g2;
	if (!(d2_square >= 0.0))
		return (lo + hi) / 2.0;
	const double d2 = sqrt(d2_square);
	const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
	                                : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2));
	return fmin(fmax(min_pos, lo), hi);
}

static double dot(size_t n, const float *a, const float *b) {
	double s = 0.0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * (double)b[i];
	return s;
}

static double max_abs(size_t n, const float *a) {
	double m = 0.0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs((double)a[i]));
	return m;
}

/* A scratch buffer that neither kept gradient uses. */
static float *free_scratch(const struct nst_wolfe_scratch *ls, const float *keep0, const float *keep1) {
	for (int i = 0; i < 3; i++)
		if (ls->scratch[i] != keep0 && ls->scratch[i] != keep1)
			return ls->scratch[i];
	return ls->scratch[0]; /* unreachable: two references leave one of three free */
}

/* evaluate, with a loss that is not finite (a step far too long) read as +infinity, so that the
 * sufficient-decrease test rejects it and the search shortens the step. */
static double trial(nst_line_fn evaluate, void *user, double t, float *grad, int *count) {
	const double f = evaluate(user, t, grad);
	(*count)++;
	return isfinite(f) ? f : INFINITY;
}

void nst_strong_wolfe(const struct nst_wolfe_scratch *ls, const float *d, double t, double f0, const float *g0,
                      double gtd0, nst_line_fn evaluate, void *user, struct nst_line_result *out) {
	const size_t n = ls->n;
	const double d_norm = max_abs(n, d);
	int evals = 0;
	float *g_new = ls->scratch[0];
	double f_new = trial(evaluate, user, t, g_new, &evals);
	double gtd_new = dot(n, g_new, d);

	/* Bracketing: an interval that holds a point satisfying the conditions. */
	double t_prev = 0.0, f_prev = f0, gtd_prev = gtd0;
	const float *g_prev = g0;
	double bracket[2] = {0.0, 0.0}, bracket_f[2] = {0.0, 0.0}, bracket_gtd[2] = {0.0, 0.0};
	const float *bracket_g[2] = {NULL, NULL};
	int n_bracket = 0;
	bool done = false;
	int ls_iter = 0;
	while (ls_iter < NST_WOLFE_MAX_EVALUATIONS) {
		const bool too_far = f_new > f0 + NST_WOLFE_C1 * t * gtd0 || (ls_iter > 1 && f_new >= f_prev);
		if (!too_far && fabs(gtd_new) <= -NST_WOLFE_C2 * gtd0) {
			bracket[0] = t, bracket_f[0] = f_new, bracket_g[0] = g_new;
			n_bracket = 1, done = true;
			break;
		}
		if (too_far || gtd_new >= 0.0) {
			bracket[0] = t_prev, bracket_f[0] = f_prev, bracket_g[0] = g_prev, bracket_gtd[0] = gtd_prev;
			bracket[1] = t, bracket_f[1] = f_new, bracket_g[1] = g_new, bracket_gtd[1] = gtd_new;
			n_bracket = 2;
			break;
		}
		/* Extrapolate: a cubic step within [t + 0.01 (t - t_prev), 10 t]. */
		const double min_step = t + 0.01 * (t - t_prev), max_step = t * 10.0;
		const double t_next = nst_cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step);
		t_prev = t, f_prev = f_new, g_prev = g_new, gtd_prev = gtd_new;
		t = t_next;
		g_new = free_scratch(ls, g_prev, NULL);
		f_new = trial(evaluate, user, t, g_new, &evals);
		gtd_new = dot(n, g_new, d);
		ls_iter++;
	}
	if (ls_iter == NST_WOLFE_MAX_EVALUATIONS) {
		bracket[0] = 0.0, bracket_f[0] = f0, bracket_g[0] = g0;
		bracket[1] = t, bracket_f[1] = f_new, bracket_g[1] = g_new;
		n_bracket = 2;
	}

	/* Zoom: shrink the bracket around a point that satisfies the conditions. */
	bool insufficient_progress = false;
	int low = 0, high = 1;
	if (n_bracket == 2 && bracket_f[0] > bracket_f[1])
		low = 1, high = 0;
	while (!done && ls_iter < NST_WOLFE_MAX_EVALUATIONS) {
		if (fabs(bracket[1] - bracket[0]) * d_norm < NST_WOLFE_TOLERANCE_CHANGE)
			break;
		const double b_min = fmin(bracket[0], bracket[1]), b_max = fmax(bracket[0], bracket[1]);
		t = nst_cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1],
		                          b_min, b_max);
		/* Too close to an end (or at it twice running): 0.1 of the bracket away from it. */
		const double eps = 0.1 * (b_max - b_min);
		if (fmin(b_max - t, t - b_min) < eps) {
			if (insufficient_progress || t >= b_max || t <= b_min) {
				t = fabs(t - b_max) < fabs(t - b_min) ? b_max - eps : b_min + eps;
				insufficient_progress = false;
			} else {
				insufficient_progress = true;
			}
		} else {
			insufficient_progress = false;
		}
		g_new = free_scratch(ls, bracket_g[0], bracket_g[1]);
		f_new = trial(evaluate, user, t, g_new, &evals);
		gtd_new = dot(n, g_new, d);
		ls_iter++;
		if (f_new > f0 + NST_WOLFE_C1 * t * gtd0 || f_new >= bracket_f[low]) {
			bracket[high] = t, bracket_f[high] = f_new, bracket_g[high] = g_new, bracket_gtd[high] = gtd_new;
			if (bracket_f[0] <= bracket_f[1])
				low = 0, high = 1;
			else
				low = 1, high = 0;
		} else {
			if (fabs(gtd_new) <= -NST_WOLFE_C2 * gtd0) {
				done = true;
			} else if (gtd_new * (bracket[high] - bracket[low]) >= 0.0) {
				bracket[high] = bracket[low], bracket_f[high] = bracket_f[low];
				bracket_g[high] = bracket_g[low], bracket_gtd[high] = bracket_gtd[low];
			}
			bracket[low] = t, bracket_f[low] = f_new, bracket_g[low] = g_new, bracket_gtd[low] = gtd_new;
		}
	}
	if (n_bracket == 1)
		low = 0;
	out->t = bracket[low];
	out->f = bracket_f[low];
	out->grad = bracket_g[low];
	out->evaluations = evals;
}
