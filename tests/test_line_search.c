/* The strong-Wolfe line search (src/line_search.c) on problems with known answers:
 *   - a quadratic along its steepest descent: every search ends on a point satisfying both strong
 *     Wolfe conditions, and from a step too long the cubic zoom lands on the exact minimiser;
 *   - the cubic interpolation against its closed form, and its midpoint fallback;
 *   - a loss that becomes NaN beyond some step: the search comes back to finite ground;
 *   - Rosenbrock's function: a step from far too short extrapolates to a Wolfe point. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "line_search.h"

#define N 8

/* f(x) = 1/2 sum a_i x_i^2 at x = x0 + t d. */
struct quadratic {
	const float *x0, *d;
	double a[N];
	double nan_beyond; /* > 0: steps past it give NaN */
	int calls;
};

static double quadratic_at(void *user, double t, float *grad) {
	struct quadratic *q = user;
	q->calls++;
	double f = 0.0;
	for (int i = 0; i < N; i++) {
		const double x = (double)q->x0[i] + t * (double)q->d[i];
		f += 0.5 * q->a[i] * x * x;
		grad[i] = (float)(q->a[i] * x);
	}
	return q->nan_beyond > 0.0 && t > q->nan_beyond ? NAN : f;
}

static double dotf(const float *a, const float *b) {
	double s = 0.0;
	for (int i = 0; i < N; i++)
		s += (double)a[i] * (double)b[i];
	return s;
}

static void check_wolfe(const char *what, double f0, double gtd0, const struct nst_line_result *r, const float *d) {
	const double gtd = dotf(r->grad, d);
	CHECK(r->f <= f0 + NST_WOLFE_C1 * r->t * gtd0, "%s: sufficient decrease: f %g, f0 %g, t %g", what, r->f, f0, r->t);
	CHECK(fabs(gtd) <= -NST_WOLFE_C2 * gtd0, "%s: curvature: |g.d| %g > %g", what, fabs(gtd), -NST_WOLFE_C2 * gtd0);
	/* One evaluation, then at most NST_WOLFE_MAX_EVALUATIONS more (as PyTorch's ls_func_evals). */
	CHECK(r->t > 0.0 && r->evaluations >= 1 && r->evaluations <= NST_WOLFE_MAX_EVALUATIONS + 1,
	      "%s: t %g after %d calls", what, r->t, r->evaluations);
}

static void quadratic_cases(void) {
	float x0[N], d[N], g0[N], scratch[3][N];
	struct quadratic q = {x0, d, {0}, 0.0, 0};
	for (int i = 0; i < N; i++) {
		x0[i] = (float)(1.0 + 0.25 * i) * (i % 2 ? -1.0f : 1.0f);
		q.a[i] = 1.0 + i; /* condition number 8 */
	}
	const double f0 = quadratic_at(&q, 0.0, g0);
	for (int i = 0; i < N; i++)
		d[i] = -g0[i];
	const double gtd0 = dotf(g0, d);
	/* The exact minimiser along d: t* = g.g / g'Ag. */
	double gag = 0.0;
	for (int i = 0; i < N; i++)
		gag += q.a[i] * (double)g0[i] * (double)g0[i];
	const double t_star = -gtd0 / gag;
	const struct nst_wolfe_scratch ls = {N, {scratch[0], scratch[1], scratch[2]}};
	const double starts[] = {1e-6 * t_star, 0.1 * t_star, t_star, 1.9 * t_star, 50.0 * t_star};
	for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
		struct nst_line_result r;
		char what[64];
		snprintf(what, sizeof what, "quadratic from t = %.3g t*", starts[k] / t_star);
		q.calls = 0;
		nst_strong_wolfe(&ls, d, starts[k], f0, g0, gtd0, quadratic_at, &q, &r);
		check_wolfe(what, f0, gtd0, &r, d);
		CHECK(r.evaluations == q.calls, "%s: %d evaluations reported, %d made", what, r.evaluations, q.calls);
		/* The gradient returned is the one at x0 + t d. */
		float g[N];
		const double f = quadratic_at(&q, r.t, g);
		CHECK(fabs(f - r.f) <= 1e-12 * fabs(f) && memcmp(g, r.grad, sizeof g) == 0, "%s: result is not f(t)", what);
	}
	/* From 50 t*: bracketed at once, then a cubic through a quadratic's two ends is exact. */
	struct nst_line_result r;
	nst_strong_wolfe(&ls, d, 50.0 * t_star, f0, g0, gtd0, quadratic_at, &q, &r);
	CHECK(fabs(r.t - t_star) <= 1e-6 * t_star, "zoom on a quadratic: t %.9g, t* %.9g", r.t, t_star);

	/* NaN beyond 2 t*, starting at 100 t*: the search must come back below 2 t*. */
	q.nan_beyond = 2.0 * t_star;
	nst_strong_wolfe(&ls, d, 100.0 * t_star, f0, g0, gtd0, quadratic_at, &q, &r);
	CHECK(isfinite(r.f) && r.t <= 2.0 * t_star, "NaN region: t %g (t* %g), f %g", r.t, t_star, r.f);
	check_wolfe("NaN region", f0, gtd0, &r, d);
}

/* f(t) = 1 + t along d with a slope claimed negative (a wrong gradient, as float16 can give):
 * nothing beats f0, so the search returns t = 0 with f0 and g0, after at most 26 evaluations. */
static double rising_at(void *user, double t, float *grad) {
	(void)user;
	for (int i = 0; i < N; i++)
		grad[i] = 1.0f;
	return 1.0 + t;
}

static void no_better_point_case(void) {
	float d[N], g0[N], scratch[3][N];
	for (int i = 0; i < N; i++)
		d[i] = 1.0f, g0[i] = -1.0f;
	const struct nst_wolfe_scratch ls = {N, {scratch[0], scratch[1], scratch[2]}};
	struct nst_line_result r;
	nst_strong_wolfe(&ls, d, 1.0, 0.0, g0, -(double)N, rising_at, NULL, &r);
	CHECK(r.t == 0.0 && r.f == 0.0 && r.grad == g0, "no better point: t %g, f %g", r.t, r.f);
	CHECK(r.evaluations >= 1 && r.evaluations <= NST_WOLFE_MAX_EVALUATIONS + 1, "no better point: %d evaluations",
	      r.evaluations);
}

static void cubic_cases(void) {
	/* f(x) = (x - 2)^2 at x = 0 and 3: f 4 and 1, slopes -4 and 2; the minimum is at 2. */
	double t = nst_cubic_interpolate(0.0, 4.0, -4.0, 3.0, 1.0, 2.0, 0.0, 3.0);
	CHECK(fabs(t - 2.0) < 1e-12, "cubic on a parabola: %.15g", t);
	/* The same points given in the other order. */
	t = nst_cubic_interpolate(3.0, 1.0, 2.0, 0.0, 4.0, -4.0, 0.0, 3.0);
	CHECK(fabs(t - 2.0) < 1e-12, "cubic on a parabola, reversed: %.15g", t);
	/* f(x) = x^3 - 3x: minimum at 1 (f -2, slope 0): from (0, 0, -3) and (2, 2, 9). */
	t = nst_cubic_interpolate(0.0, 0.0, -3.0, 2.0, 2.0, 9.0, 0.0, 2.0);
	CHECK(fabs(t - 1.0) < 1e-12, "cubic on a cubic: %.15g", t);
	/* Clamped to the bounds. */
	t = nst_cubic_interpolate(0.0, 4.0, -4.0, 3.0, 1.0, 2.0, 0.0, 1.5);
	CHECK(t == 1.5, "clamped: %.15g", t);
	/* No real minimum (d2^2 < 0): the middle of the bounds. */
	t = nst_cubic_interpolate(0.0, 0.0, 1.5, 1.0, 1.0, 1.5, 0.5, 0.7);
	CHECK(fabs(t - 0.6) < 1e-15, "no minimum: %.15g", t);
}

/* Rosenbrock in 2-D, embedded in N with the rest zero: f = (1 - x)^2 + 100 (y - x^2)^2. */
struct rosen {
	const float *x0, *d;
};

static double rosen_at(void *user, double t, float *grad) {
	const struct rosen *r = user;
	const double x = r->x0[0] + t * r->d[0], y = r->x0[1] + t * r->d[1];
	memset(grad, 0, N * sizeof(float));
	grad[0] = (float)(-2.0 * (1.0 - x) - 400.0 * x * (y - x * x));
	grad[1] = (float)(200.0 * (y - x * x));
	return (1.0 - x) * (1.0 - x) + 100.0 * (y - x * x) * (y - x * x);
}

static void rosenbrock_case(void) {
	float x0[N] = {-1.2f, 1.0f}, d[N] = {0}, g0[N], scratch[3][N];
	struct rosen r = {x0, d};
	const double f0 = rosen_at(&r, 0.0, g0);
	for (int i = 0; i < N; i++)
		d[i] = -g0[i];
	const double gtd0 = dotf(g0, d);
	const struct nst_wolfe_scratch ls = {N, {scratch[0], scratch[1], scratch[2]}};
	struct nst_line_result res;
	nst_strong_wolfe(&ls, d, 1e-7, f0, g0, gtd0, rosen_at, &r, &res);
	check_wolfe("rosenbrock from a tiny step", f0, gtd0, &res, d);
	CHECK(res.evaluations > 1, "rosenbrock: a tiny first step must be extrapolated (%d evaluations)", res.evaluations);
}

int main(void) {
	cubic_cases();
	quadratic_cases();
	rosenbrock_case();
	no_better_point_case();
	return check_finish("test_line_search");
}
