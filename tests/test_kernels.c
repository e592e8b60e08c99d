/*
 * GEMM microkernels: every scalar twin against a naive triple loop in double, every SIMD kernel this
 * CPU runs against the reference and against its twin; ragged shapes, padded strides, unaligned
 * pointers, every clamp.  Guards: c outside [mr][nc] keeps its bit pattern, a holds NaN in the rows
 * >= mr and past kc, and page-guarded buffers turn any read or write past the end into a crash.
 * Also the packing, the kernel tables and the CPU detection; the other kernel families of each
 * configuration (small-N, masks, Winograd, norms, tap lists, Gram tiles) against their references
 * and twins.
 *
 * The float16 GEMM kernels (nst_f16_*: float16 weights and sums, float32 a and c) are checked the
 * same way, the scalar twin against the double reference on the float16-rounded inputs within a
 * running float16 error bound, the SIMD kernel against it and against the twin within a few
 * float16 ulps (see F16_TWIN_ULPS); and their packing, half for half.
 *
 * Links against libnst.a (its random numbers) and tests/support.c (page-guarded buffers).
 * NST_TEST_SEED=N reproduces a run; the seed is printed first.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "internal.h"
#include "kernels.h"
#include "support.h"

/* ---------------------------------------------------------------------------------------------
 * Random numbers: the library's (xoshiro256**, src/internal.h)
 * ------------------------------------------------------------------------------------------- */
/* Uniform integer in [lo, hi]. */
static size_t rng_range(struct nst_rng *r, size_t lo, size_t hi) { return lo + (size_t)(nst_rng_next(r) % (hi - lo + 1)); }
/* Uniform in [-1, 1). */
static float rng_float(struct nst_rng *r) { return (float)((double)(nst_rng_next(r) >> 11) * 0x1.0p-52 - 1.0); }

/* ---------------------------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------------------------- */
#define GUARD_BITS UINT32_C(0x7fc5a5a5) /* a quiet NaN no kernel produces */

static uint32_t float_bits(float f) {
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_float(uint32_t u) {
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* Page-guarded buffers (struct guarded): tests/support.h. */

/* ---------------------------------------------------------------------------------------------
 * One GEMM case
 * ------------------------------------------------------------------------------------------- */
/* Filled in after the packed panels: a kernel that reads past them sees NaN, whether it reads
 * floats or float16 (each half, 0x7fc0, is a float16 NaN too). */
#define PACK_PAD_BITS UINT32_C(0x7fc07fc0)

/*
 * Float16 kernels (nst_f16_*) round a to float16 as they read it (the packer rounds w and the
 * biases) and round every multiply-add to float16.  The test computes the exact sums of the
 * rounded inputs (products of float16 are exact in double, their sums nearly so) and bounds how
 * far a kernel's float16 sum may be from them:
 *
 *   Each step s^_k = fl(s^_{k-1} + a_k w_k) makes an error e_k with |e_k| <= U |s^_k| + H: half
 *   an ulp of the result, 2^-11 relative for a normal float16, at most 2^-25 absolute in
 *   float16's subnormal range.  The scalar twin rounds twice (fmaf to float, then to float16),
 *   which adds float's half ulp: U = 2^-11 + 2^-23 and H = 2^-24 (twice 2^-25) cover both
 *   kernels.  With s_k the exact partial sum, |s^_k - s_k| <= E_k = E_{k-1} + U (|s_k| + E_k) + H:
 *
 *       E_0 = 0 (the bias is a float16),  E_k = (E_{k-1} + U |s_k| + H) / (1 - U)
 *
 *   E_kc bounds the output's error (the clamp only shrinks it).  This running bound is about
 *   U sum_k |s_k|: for random data, partial sums ~ sqrt(k) / 3, it is far tighter than the
 *   a priori gamma_kc (|bias| + sum |a w|), and it never fails for a correct kernel.
 *
 * The SIMD kernel against its twin: both hold float16 sums no larger than
 * M = max_k (|s_k| + E_k), one ulp of which is at most 2^-10 M.  They compute the same products
 * in the same order and round each sum once (FMLA) or twice (fmaf, then to float16): the results
 * differ only where fmaf's float lands exactly halfway between two float16 values, about one
 * step in 2^13, and then by one ulp; later steps carry that difference along (adding the same
 * products to two values on the same grid keeps their distance) or re-round it by at most an ulp
 * when the sum moves up a binade, where the two often merge again.  Measured on the Pi 5 model:
 * about 1 output in 1500 differs, the largest difference over 40 seeds 1.84 ulps of M.
 * F16_TWIN_ULPS = 4 ulps of M, twice that, leaves room for a few such events in one output (a
 * wrong product is tens of ulps); F16_MIN_IDENTICAL checks that nearly all outputs
 * agree bit for bit, which a kernel summing in another order or precision would not.
 */
#define F16_ROUNDOFF (0x1.0p-11 + 0x1.0p-23) /* U above */
#define F16_SUBNORMAL_ERROR 0x1.0p-24        /* H above */
#define F16_ULP_RATIO 0x1.0p-10              /* ulp(x) <= 2^-10 |x|: float16 has 10 fraction bits */
#define F16_MIN_STEP 0x1.0p-24               /* float16's smallest subnormal */
#define F16_TWIN_ULPS 4.0
#define F16_MIN_IDENTICAL 0.99               /* measured: 0.9992 .. 0.9996 */
#define DOUBLE_SUM_SLACK 0x1.0p-40           /* times sum |a w|: the double sums' own rounding */
#define F16_TINY_SCALE 0x1.0p-16             /* times [-1, 1): below float16's normal range 2^-14 */

static float f16_round(float x) { return nst_f16_to_f32(nst_f32_to_f16(x)); }

/* A value in [-1, 1] for a float16 case: mostly random floats, some exactly halfway between two
 * float16 values (the rounding must go to even) and some in float16's subnormal range. */
static float f16_case_value(struct nst_rng *r) {
	const float x = rng_float(r);
	switch (rng_range(r, 0, 15)) {
	case 0: {
		const uint16_t h = nst_f32_to_f16(x); /* |x| < 1: h + 1 is the next float16 away from zero */
		return (float)(((double)nst_f16_to_f32(h) + (double)nst_f16_to_f32((uint16_t)(h + 1))) / 2);
	}
	case 1:
		return x * (float)F16_TINY_SCALE;
	default:
		return x;
	}
}

struct gemm_case {
	size_t mr, nc, kc;
	size_t a_stride, c_stride, w_stride;
	size_t a_offset, c_offset; /* floats before a / c in their buffers: misaligns them */
	struct nst_f32_minmax_params params;
	const float *a;    /* [mr][a_stride], finite where valid */
	const float *w;    /* [kc][w_stride], unpacked */
	const float *bias; /* [nc] or NULL */
};

/* How the SIMD kernels of a family agree with their twins, bit for bit and at most. */
struct twin_stats {
	size_t outputs, identical;
	double worst_ulps; /* largest difference in ulps (2^-10 M) of the accumulator bound */
};

static void describe(char *buf, size_t size, const char *kernel, const struct gemm_case *t) {
	snprintf(buf, size, "%s mr=%zu nc=%zu kc=%zu a_stride=%zu c_stride=%zu a_off=%zu c_off=%zu min=%g max=%g%s",
	         kernel, t->mr, t->nc, t->kc, t->a_stride, t->c_stride, t->a_offset, t->c_offset,
	         (double)t->params.min, (double)t->params.max, t->bias ? "" : " bias=NULL");
}

/* Runs kernel k on the case: c [mr rows + 2 spare][c_stride] filled with the guard, returns it
 * (c_offset floats before row 0, one spare row after the last valid row and one further).  The
 * weights are packed in k's format (float16 for float16 kernels). */
static float *run_kernel(const struct nst_gemm_kernel *k, const struct gemm_case *t, size_t *c_floats) {
	const size_t packed_floats = nst_gemm_kernel_packed_floats(k, t->kc, t->nc);
	float *packed = xmalloc((packed_floats + 64) * sizeof(float));
	for (size_t i = 0; i < packed_floats + 64; i++)
		packed[i] = bits_float(PACK_PAD_BITS);
	nst_gemm_kernel_pack(k, t->kc, t->nc, t->w, t->w_stride, t->bias, packed);

	/* a: a copy of the case's rows, with NaN in the rows >= mr and in the columns >= kc. */
	const size_t a_floats = t->a_offset + (k->mr + 1) * t->a_stride;
	float *a = xmalloc(a_floats * sizeof(float));
	for (size_t i = 0; i < a_floats; i++)
		a[i] = NAN;
	for (size_t i = 0; i < t->mr; i++)
		memcpy(a + t->a_offset + i * t->a_stride, t->a + i * t->a_stride, t->kc * sizeof(float));

	*c_floats = t->c_offset + (k->mr + 2) * t->c_stride;
	float *c = xmalloc(*c_floats * sizeof(float));
	for (size_t i = 0; i < *c_floats; i++)
		c[i] = bits_float(GUARD_BITS);
	k->fn(t->mr, t->nc, t->kc, a + t->a_offset, t->a_stride, packed, c + t->c_offset, t->c_stride, &t->params);
	free(a);
	free(packed);
	return c;
}

static double clampd(double x, float lo, float hi) {
	if (x < (double)lo)
		x = (double)lo;
	if (x > (double)hi)
		x = (double)hi;
	return x;
}

static double tolerance(double mag) { return 1e-5 * mag + 1e-6; }

/* Reference in double, each [mr][nc]: ref clamped; tol, how far a correct kernel may be from it;
 * acc, a bound on every partial sum's magnitude (|bias| + sum |a w| for float32 kernels).  f16:
 * the inputs rounded to float16 as the kernel and its packer round them, and the running error
 * bound E_kc explained above. */
static void reference(const struct gemm_case *t, bool f16, double *ref, double *tol, double *acc) {
	for (size_t i = 0; i < t->mr; i++) {
		for (size_t j = 0; j < t->nc; j++) {
			const float b = t->bias ? t->bias[j] : 0.0f;
			double s = f16 ? (double)f16_round(b) : (double)b, m = fabs(s);
			double err = 0.0, most = fabs(s); /* E_k and max_k |s_k| + E_k */
			for (size_t k = 0; k < t->kc; k++) {
				const float x = t->a[i * t->a_stride + k], y = t->w[k * t->w_stride + j];
				const double p = f16 ? (double)f16_round(x) * (double)f16_round(y) : (double)x * (double)y;
				s += p;
				m += fabs(p);
				if (f16) {
					err = (err + F16_ROUNDOFF * fabs(s) + F16_SUBNORMAL_ERROR) / (1.0 - F16_ROUNDOFF);
					if (fabs(s) + err > most)
						most = fabs(s) + err;
				}
			}
			ref[i * t->nc + j] = clampd(s, t->params.min, t->params.max);
			tol[i * t->nc + j] = f16 ? err + DOUBLE_SUM_SLACK * m : tolerance(m);
			acc[i * t->nc + j] = f16 ? most : m;
		}
	}
}

/* How far a float16 SIMD kernel may be from its twin, given the accumulator bound M. */
static double f16_twin_tolerance(double most) { return F16_TWIN_ULPS * (F16_ULP_RATIO * most + F16_MIN_STEP); }

/* Checks that c (from run_kernel) matches want [mr][nc] within tol [mr][nc] and that nothing
 * else in c changed.  want_name says what it was compared with. */
static void check_result(const char *what, const struct gemm_case *t, const float *c, size_t c_floats,
                         const double *want, const double *tol, const char *want_name) {
	size_t bad = 0, bad_i = 0, bad_j = 0, touched = 0, touched_at = 0;
	double got_first = 0, want_first = 0;
	for (size_t x = 0; x < c_floats; x++) {
		const size_t rel = x - t->c_offset; /* wraps for x < c_offset: then outside */
		const size_t i = x >= t->c_offset ? rel / t->c_stride : SIZE_MAX, j = x >= t->c_offset ? rel % t->c_stride : 0;
		if (x >= t->c_offset && i < t->mr && j < t->nc) {
			const double g = (double)c[x], e = want[i * t->nc + j];
			if (!(fabs(g - e) <= tol[i * t->nc + j])) {
				if (bad++ == 0) {
					bad_i = i;
					bad_j = j;
					got_first = g;
					want_first = e;
				}
			}
		} else if (float_bits(c[x]) != GUARD_BITS) {
			if (touched++ == 0)
				touched_at = x;
		}
	}
	CHECK(bad == 0, "%s: %zu of %zu outputs differ from %s, first c[%zu][%zu] = %.9g, want %.9g (tolerance %.3g)", what,
	      bad, t->mr * t->nc, want_name, bad_i, bad_j, got_first, want_first, bad ? tol[bad_i * t->nc + bad_j] : 0.0);
	CHECK(touched == 0, "%s: %zu floats outside [mr][nc] written, first at c row %zd col %zu", what, touched,
	      touched_at >= t->c_offset ? (ssize_t)((touched_at - t->c_offset) / t->c_stride) : -1,
	      touched_at >= t->c_offset ? (touched_at - t->c_offset) % t->c_stride : 0);
}

/* Runs one case on kernel k (and its twin, if any) and checks both against the reference; stats
 * (if not NULL) counts how the outputs agree with the twin's. */
static void check_case(const struct nst_gemm_kernel *k, const struct nst_gemm_kernel *twin, const struct gemm_case *t,
                       struct twin_stats *stats) {
	char what[256];
	describe(what, sizeof(what), k->name, t);
	const size_t outputs = t->mr * t->nc;
	double *ref = xmalloc(outputs * sizeof(double));
	double *tol = xmalloc(outputs * sizeof(double));
	double *acc = xmalloc(outputs * sizeof(double));
	reference(t, k->f16, ref, tol, acc);

	size_t c_floats;
	float *c = run_kernel(k, t, &c_floats);
	check_result(what, t, c, c_floats, ref, tol, "the double reference");
	if (twin) {
		size_t twin_floats;
		float *ct = run_kernel(twin, t, &twin_floats);
		double *tw = xmalloc(outputs * sizeof(double));
		for (size_t i = 0; i < t->mr; i++)
			for (size_t j = 0; j < t->nc; j++) {
				const float g = c[t->c_offset + i * t->c_stride + j], e = ct[t->c_offset + i * t->c_stride + j];
				tw[i * t->nc + j] = (double)e;
				if (k->f16) {
					tol[i * t->nc + j] = f16_twin_tolerance(acc[i * t->nc + j]);
					const double ulps = fabs((double)g - (double)e) / (F16_ULP_RATIO * acc[i * t->nc + j] + F16_MIN_STEP);
					if (stats && ulps > stats->worst_ulps)
						stats->worst_ulps = ulps;
				}
				if (stats) {
					stats->outputs++;
					stats->identical += float_bits(g) == float_bits(e);
				}
			}
		check_result(what, t, c, c_floats, tw, tol, twin->name);
		free(tw);
		free(ct);
	}
	free(c);
	free(acc);
	free(tol);
	free(ref);
}

/* Fills a case of the given shape with random data, strides, offsets and clamp; returns the
 * buffers to free (a, w, bias).  f16: a_stride > kc (so that a read past kc meets NaN), and some
 * values are float16 ties or subnormals. */
static void make_case(struct nst_rng *r, struct gemm_case *t, size_t mr, size_t nc, size_t kc, bool f16, float **a,
                      float **w, float **bias) {
	memset(t, 0, sizeof(*t));
	t->mr = mr;
	t->nc = nc;
	t->kc = kc;
	t->a_stride = kc + (f16 ? 1 : 0) + (rng_range(r, 0, 2) ? rng_range(r, 0, 17) : 0);
	t->c_stride = nc + (rng_range(r, 0, 2) ? rng_range(r, 0, 17) : 0);
	t->w_stride = nc + rng_range(r, 0, 5);
	t->a_offset = rng_range(r, 0, 7);
	t->c_offset = rng_range(r, 0, 7);
	*a = xmalloc(mr * t->a_stride * sizeof(float));
	for (size_t i = 0; i < mr * t->a_stride; i++)
		(*a)[i] = f16 ? f16_case_value(r) : rng_float(r);
	*w = xmalloc(kc * t->w_stride * sizeof(float));
	for (size_t i = 0; i < kc * t->w_stride; i++)
		(*w)[i] = f16 ? f16_case_value(r) : rng_float(r);
	*bias = NULL;
	if (rng_range(r, 0, 4)) {
		*bias = xmalloc(nc * sizeof(float));
		for (size_t j = 0; j < nc; j++)
			(*bias)[j] = f16 ? f16_case_value(r) : rng_float(r);
	}
	/* Outputs spread about sqrt(kc) / 3: finite clamps inside that range clamp some of them. */
	const float spread = (float)sqrt((double)kc) / 3.0f + 0.3f;
	switch (rng_range(r, 0, 4)) {
	case 0:
		t->params.min = -INFINITY;
		t->params.max = INFINITY;
		break;
	case 1:
		t->params.min = 0.0f; /* fused ReLU */
		t->params.max = INFINITY;
		break;
	case 2:
		t->params.min = -INFINITY;
		t->params.max = spread * rng_float(r);
		break;
	case 3:
		t->params.min = spread * rng_float(r);
		t->params.max = INFINITY;
		break;
	default: {
		const float x = spread * rng_float(r), y = spread * rng_float(r);
		t->params.min = x < y ? x : y;
		t->params.max = x < y ? y : x;
		break;
	}
	}
	t->a = *a;
	t->w = *w;
	t->bias = *bias;
}

static void free_case(float *a, float *w, float *bias) {
	free(a);
	free(w);
	free(bias);
}

/* Every mr and every nc up to 2 NR + 1 with small kc (all k remainders), then random shapes
 * (kc up to 600, or 300 for float16 kernels, whose error bound grows with kc). */
static void check_kernel(const struct nst_gemm_kernel *k, const struct nst_gemm_kernel *twin, struct nst_rng *r,
                         int random_cases, struct twin_stats *stats) {
	const int failed_before = check_failed_count;
	const size_t max_kc = k->f16 ? 300 : 600;
	float *a, *w, *bias;
	struct gemm_case t;
	for (size_t mr = 1; mr <= k->mr; mr++) {
		for (size_t nc = 1; nc <= 2 * k->nr + 1; nc++) {
			make_case(r, &t, mr, nc, 1 + (mr + nc) % 9, k->f16, &a, &w, &bias);
			check_case(k, twin, &t, stats);
			free_case(a, w, bias);
		}
	}
	for (int n = 0; n < random_cases && check_failed_count - failed_before < 20; n++) {
		const size_t mr = rng_range(r, 1, k->mr);
		const size_t nc = rng_range(r, 1, 3 * k->nr + 5);
		const size_t kc = rng_range(r, 0, 3) ? rng_range(r, 1, max_kc) : rng_range(r, 1, 12);
		make_case(r, &t, mr, nc, kc, k->f16, &a, &w, &bias);
		check_case(k, twin, &t, stats);
		free_case(a, w, bias);
	}
	printf("  %-28s %s\n", k->name, check_failed_count == failed_before ? "ok" : "FAILED");
}

/* a, packed w and c each end at an inaccessible page: reading a row >= mr, a column >= kc of the
 * last row, past the packed panels, or writing past c[mr - 1][nc - 1] crashes the test. */
static void check_page_guards(const struct nst_gemm_kernel *k, struct nst_rng *r, int cases) {
	for (int n = 0; n < cases; n++) {
		struct gemm_case t;
		memset(&t, 0, sizeof t);
		t.mr = rng_range(r, 1, k->mr);
		t.nc = rng_range(r, 1, 3 * k->nr + 5);
		t.kc = rng_range(r, 1, 70);
		t.a_stride = t.kc + rng_range(r, 0, 3);
		t.c_stride = t.nc + rng_range(r, 0, 3);
		t.w_stride = t.nc;
		t.params = (struct nst_f32_minmax_params){-INFINITY, INFINITY};
		const size_t a_floats = (t.mr - 1) * t.a_stride + t.kc, c_floats = (t.mr - 1) * t.c_stride + t.nc;
		struct guarded ga, gw, gc;
		float *a = guarded_alloc(&ga, a_floats);
		for (size_t i = 0; i < a_floats; i++)
			a[i] = rng_float(r);
		const size_t packed_floats = nst_gemm_kernel_packed_floats(k, t.kc, t.nc);
		float *packed = guarded_alloc(&gw, packed_floats);
		float *wu = xmalloc(t.kc * t.nc * sizeof(float)), *bias = xmalloc(t.nc * sizeof(float));
		for (size_t i = 0; i < t.kc * t.nc; i++)
			wu[i] = rng_float(r);
		for (size_t j = 0; j < t.nc; j++)
			bias[j] = rng_float(r);
		nst_gemm_kernel_pack(k, t.kc, t.nc, wu, t.nc, bias, packed);
		float *c = guarded_alloc(&gc, c_floats);
		k->fn(t.mr, t.nc, t.kc, a, t.a_stride, packed, c, t.c_stride, &t.params);
		t.a = a;
		t.w = wu;
		t.bias = bias;
		double *ref = xmalloc(t.mr * t.nc * sizeof(double)), *tol = xmalloc(t.mr * t.nc * sizeof(double));
		double *acc = xmalloc(t.mr * t.nc * sizeof(double));
		reference(&t, k->f16, ref, tol, acc);
		size_t bad = 0, bad_at = 0;
		for (size_t i = 0; i < t.mr; i++)
			for (size_t j = 0; j < t.nc; j++)
				if (!(fabs((double)c[i * t.c_stride + j] - ref[i * t.nc + j]) <= tol[i * t.nc + j]) && bad++ == 0)
					bad_at = i * t.nc + j;
		CHECK(bad == 0, "%s page-guarded mr=%zu nc=%zu kc=%zu: %zu outputs wrong, first c[%zu][%zu] = %.9g, want %.9g",
		      k->name, t.mr, t.nc, t.kc, bad, bad_at / t.nc, bad_at % t.nc,
		      (double)c[bad_at / t.nc * t.c_stride + bad_at % t.nc], ref[bad_at]);
		free(ref);
		free(tol);
		free(acc);
		free(wu);
		free(bias);
		guarded_free(&ga);
		guarded_free(&gw);
		guarded_free(&gc);
	}
}

/* A NaN in a valid row of a makes that whole row NaN, even through a ReLU clamp (min 0): the loss
 * must see it (NST_ERR_NUMERIC).  Other rows stay finite.  Every row, every column vector. */
static void check_nan_propagation(const struct nst_gemm_kernel *k, struct nst_rng *r) {
	for (size_t nan_row = 0; nan_row < k->mr; nan_row++) {
		float *a, *w, *bias;
		struct gemm_case t;
		const size_t mr = k->mr, nc = 2 * k->nr + 3, kc = 13;
		make_case(r, &t, mr, nc, kc, k->f16, &a, &w, &bias);
		t.params.min = 0.0f;
		t.params.max = INFINITY;
		a[nan_row * t.a_stride + rng_range(r, 0, kc - 1)] = NAN;
		size_t c_floats;
		float *c = run_kernel(k, &t, &c_floats);
		size_t nan_ok = 0, finite_ok = 0;
		for (size_t i = 0; i < mr; i++)
			for (size_t j = 0; j < nc; j++) {
				const float v = c[t.c_offset + i * t.c_stride + j];
				if (i == nan_row)
					nan_ok += isnan(v) != 0;
				else
					finite_ok += isfinite(v) != 0;
			}
		CHECK(nan_ok == nc, "%s: %zu of %zu outputs of row %zu, which has a NaN input, are NaN (clamp min 0)", k->name,
		      nan_ok, nc, nan_row);
		CHECK(finite_ok == (mr - 1) * nc, "%s: %zu of %zu outputs of the other rows are finite", k->name, finite_ok,
		      (mr - 1) * nc);
		free(c);
		free_case(a, w, bias);
	}
}

/* ---------------------------------------------------------------------------------------------
 * Packing
 * ------------------------------------------------------------------------------------------- */
static void check_pack_example(void) {
	/* k = 2, n = 3, nr = 2, w_stride 4: panels {b0 b1 | w00 w01 | w10 w11}, {b2 0 | w02 0 | w12 0}. */
	const float w[2 * 4] = {1, 2, 3, 99, 4, 5, 6, 99};
	const float bias[3] = {10, 20, 30};
	const float want[12] = {10, 20, 1, 2, 4, 5, 30, 0, 3, 0, 6, 0};
	const float want_nobias[12] = {0, 0, 1, 2, 4, 5, 0, 0, 3, 0, 6, 0};
	float packed[13];
	CHECK(nst_gemm_packed_floats(2, 3, 2) == 12, "packed_floats(2, 3, 2) = %zu, want 12", nst_gemm_packed_floats(2, 3, 2));
	packed[12] = 777.0f;
	nst_gemm_pack(2, 3, 2, w, 4, bias, packed);
	CHECK(memcmp(packed, want, sizeof(want)) == 0 && packed[12] == 777.0f, "pack example with bias");
	nst_gemm_pack(2, 3, 2, w, 4, NULL, packed);
	CHECK(memcmp(packed, want_nobias, sizeof(want_nobias)) == 0 && packed[12] == 777.0f, "pack example, bias NULL");
}

static void check_pack_random(struct nst_rng *r, int cases) {
	static const size_t nrs[] = {1, 4, 8, 16, 32};
	for (int n = 0; n < cases; n++) {
		const size_t nr = nrs[rng_range(r, 0, 4)], k = rng_range(r, 1, 40), cols = rng_range(r, 1, 3 * nr + 5);
		const size_t w_stride = cols + rng_range(r, 0, 4);
		const size_t panels = (cols + nr - 1) / nr, floats = panels * nr * (k + 1);
		const size_t got_floats = nst_gemm_packed_floats(k, cols, nr);
		CHECK(got_floats == floats, "packed_floats(%zu, %zu, %zu) = %zu, want %zu", k, cols, nr, got_floats, floats);
		float *w = xmalloc(k * w_stride * sizeof(float)), *bias = NULL;
		for (size_t i = 0; i < k * w_stride; i++)
			w[i] = rng_float(r);
		if (rng_range(r, 0, 1)) {
			bias = xmalloc(cols * sizeof(float));
			for (size_t j = 0; j < cols; j++)
				bias[j] = rng_float(r);
		}
		float *packed = xmalloc((floats + 16) * sizeof(float));
		for (size_t i = 0; i < floats + 16; i++)
			packed[i] = bits_float(GUARD_BITS);
		nst_gemm_pack(k, cols, nr, w, w_stride, bias, packed);
		size_t bad = 0, first = 0;
		for (size_t p = 0; p < panels; p++) {
			for (size_t row = 0; row <= k; row++) { /* row 0: bias, row 1 + kk: weights */
				for (size_t j = 0; j < nr; j++) {
					const size_t col = p * nr + j, at = p * nr * (k + 1) + row * nr + j;
					float want = 0.0f;
					if (col < cols)
						want = row == 0 ? (bias ? bias[col] : 0.0f) : w[(row - 1) * w_stride + col];
					if (float_bits(packed[at]) != float_bits(want) && bad++ == 0)
						first = at;
				}
			}
		}
		for (size_t i = floats; i < floats + 16; i++)
			if (float_bits(packed[i]) != GUARD_BITS && bad++ == 0)
				first = i;
		CHECK(bad == 0, "pack k=%zu n=%zu nr=%zu w_stride=%zu bias=%s: %zu floats wrong, first at %zu", k, cols, nr,
		      w_stride, bias ? "yes" : "NULL", bad, first);
		free(packed);
		free(bias);
		free(w);
	}
}

/* A weight for the float16 packer: every kind of float16 rounding (ties, subnormals, overflow to
 * infinity, signed zeros, infinities, NaN) and random values. */
static float f16_pack_value(struct nst_rng *r) {
	static const float specials[] = {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, -1e6f, INFINITY, -INFINITY, NAN,
	                                 0x1.0p-24f, 0x1.0p-25f, 0x1.8p-25f, -0x1.0p-26f, 0x1.ffcp-15f, 0x1.002p0f};
	if (rng_range(r, 0, 5) == 0)
		return specials[rng_range(r, 0, sizeof specials / sizeof specials[0] - 1)];
	return rng_range(r, 0, 1) ? f16_case_value(r) : 100.0f * rng_float(r);
}

/* nst_gemm_kernel_pack for a float16 kernel: per panel of NR columns, NR biases then [k][NR]
 * weights, each half nst_f32_to_f16 of its float (zero in the padding), two halves per float
 * slot, half of nst_gemm_packed_floats in all; nothing written past them.  A float32 kernel's
 * format is nst_gemm_pack's. */
static void check_f16_pack(const struct nst_gemm_kernel *k, struct nst_rng *r, int cases) {
	const struct nst_gemm_kernel *f32 = nst_gemm_kernel_scalar();
	const size_t nr = k->nr;
	size_t bad_total = 0;
	for (int n = 0; n < cases; n++) {
		const size_t kk = rng_range(r, 1, 40), cols = rng_range(r, 1, 3 * nr + 5), w_stride = cols + rng_range(r, 0, 4);
		const size_t elements = nst_gemm_packed_floats(kk, cols, nr), floats = nst_gemm_kernel_packed_floats(k, kk, cols);
		CHECK(elements % 2 == 0 && floats == elements / 2, "%s packed_floats(%zu, %zu) = %zu, want %zu / 2", k->name, kk,
		      cols, floats, elements);
		CHECK(nst_gemm_kernel_panel_floats(k, kk) == nr * (kk + 1) / 2, "%s panel_floats(%zu) = %zu, want %zu", k->name,
		      kk, nst_gemm_kernel_panel_floats(k, kk), nr * (kk + 1) / 2);
		CHECK(nst_gemm_kernel_packed_floats(f32, kk, cols) == nst_gemm_packed_floats(kk, cols, f32->nr),
		      "%s packed_floats(%zu, %zu) is nst_gemm_packed_floats", f32->name, kk, cols);
		float *w = xmalloc(kk * w_stride * sizeof(float)), *bias = NULL;
		for (size_t i = 0; i < kk * w_stride; i++)
			w[i] = f16_pack_value(r);
		if (rng_range(r, 0, 1)) {
			bias = xmalloc(cols * sizeof(float));
			for (size_t j = 0; j < cols; j++)
				bias[j] = f16_pack_value(r);
		}
		float *packed = xmalloc((floats + 16) * sizeof(float));
		for (size_t i = 0; i < floats + 16; i++)
			packed[i] = bits_float(GUARD_BITS);
		nst_gemm_kernel_pack(k, kk, cols, w, w_stride, bias, packed);
		uint16_t *halves = xmalloc(floats * sizeof(float)); /* [panels][1 + kk][nr] */
		memcpy(halves, packed, floats * sizeof(float));
		size_t bad = 0, first = 0;
		for (size_t p = 0; p * nr < cols; p++) {
			for (size_t row = 0; row <= kk; row++) { /* row 0: bias, row 1 + kx: weights */
				for (size_t j = 0; j < nr; j++) {
					const size_t col = p * nr + j, at = p * nr * (kk + 1) + row * nr + j;
					float want = 0.0f;
					if (col < cols)
						want = row == 0 ? (bias ? bias[col] : 0.0f) : w[(row - 1) * w_stride + col];
					if (halves[at] != nst_f32_to_f16(want) && bad++ == 0)
						first = at;
				}
			}
		}
		for (size_t i = floats; i < floats + 16; i++)
			if (float_bits(packed[i]) != GUARD_BITS && bad++ == 0)
				first = 2 * i;
		CHECK(bad == 0, "%s pack k=%zu n=%zu w_stride=%zu bias=%s: %zu halves wrong, first at half %zu", k->name, kk, cols,
		      w_stride, bias ? "yes" : "NULL", bad, first);
		bad_total += bad;
		/* A float32 kernel packs as nst_gemm_pack does. */
		const size_t f32_floats = nst_gemm_packed_floats(kk, cols, f32->nr);
		float *want32 = xmalloc(f32_floats * sizeof(float)), *got32 = xmalloc(f32_floats * sizeof(float));
		nst_gemm_pack(kk, cols, f32->nr, w, w_stride, bias, want32);
		nst_gemm_kernel_pack(f32, kk, cols, w, w_stride, bias, got32);
		CHECK(memcmp(want32, got32, f32_floats * sizeof(float)) == 0, "%s: nst_gemm_kernel_pack is nst_gemm_pack",
		      f32->name);
		free(want32);
		free(got32);
		free(halves);
		free(packed);
		free(bias);
		free(w);
	}
	printf("  %-28s %s %d cases\n", "float16 packing", bad_total ? "FAILED," : "ok,", cases);
}

/* ---------------------------------------------------------------------------------------------
 * Small-N ("dot") kernels: c [mr][nc] = bias + rows of segments of a x packed [nc][segs * kc]
 * ------------------------------------------------------------------------------------------- */
struct dot_case {
	size_t mr, nc, kc, segs;
	size_t a_stride, seg_stride, c_stride, a_offset, c_offset;
	struct nst_f32_minmax_params params;
	float *a;    /* [a_floats]: the rows' segments random, every float no row reads NaN */
	size_t a_floats;
	float *w;    /* [segs * kc][nc] unpacked */
	float *bias; /* [nc] or NULL */
};

static size_t dot_a_floats(const struct dot_case *t) {
	return t->a_offset + (t->mr - 1) * t->a_stride + (t->segs - 1) * t->seg_stride + t->kc;
}

#define DOT_RGB 3 /* columns the AVX2 and NEON members write a block of rows of at once when contiguous (the RGB layers) */

/* A random case of the shape: rows overlap (a_stride < kc, as a convolution's band) or not,
 * segments spaced as a band's kernel rows or further. */
static void make_dot_case(struct nst_rng *r, struct dot_case *t, size_t mr, size_t nc, size_t kc, size_t segs) {
	memset(t, 0, sizeof(*t));
	t->mr = mr;
	t->nc = nc;
	t->kc = kc;
	t->segs = segs;
	t->a_stride = rng_range(r, 0, 1) ? rng_range(r, 1, kc) : kc + rng_range(r, 0, 9);
	t->seg_stride = kc + (mr - 1) * t->a_stride + rng_range(r, 0, 11);
	t->c_stride = nc + (rng_range(r, 0, 2) ? rng_range(r, 0, 5) : 0);
	t->a_offset = rng_range(r, 0, 7);
	t->c_offset = rng_range(r, 0, 7);
	t->a_floats = dot_a_floats(t);
	t->a = xmalloc(t->a_floats * sizeof(float));
	for (size_t i = 0; i < t->a_floats; i++)
		t->a[i] = NAN;
	for (size_t i = 0; i < mr; i++)
		for (size_t s = 0; s < segs; s++)
			for (size_t k = 0; k < kc; k++)
				t->a[t->a_offset + i * t->a_stride + s * t->seg_stride + k] = rng_float(r);
	t->w = xmalloc(segs * kc * nc * sizeof(float));
	for (size_t i = 0; i < segs * kc * nc; i++)
		t->w[i] = rng_float(r);
	t->bias = NULL;
	if (rng_range(r, 0, 4)) {
		t->bias = xmalloc(nc * sizeof(float));
		for (size_t j = 0; j < nc; j++)
			t->bias[j] = rng_float(r);
	}
	const float spread = (float)sqrt((double)(segs * kc)) / 3.0f + 0.3f;
	const float x = spread * rng_float(r), y = spread * rng_float(r);
	switch (rng_range(r, 0, 3)) {
	case 0: t->params = (struct nst_f32_minmax_params){-INFINITY, INFINITY}; break;
	case 1: t->params = (struct nst_f32_minmax_params){0.0f, INFINITY}; break;
	case 2: t->params = (struct nst_f32_minmax_params){-INFINITY, x}; break;
	default: t->params = (struct nst_f32_minmax_params){x < y ? x : y, x < y ? y : x}; break;
	}
}

static void free_dot_case(struct dot_case *t) {
	free(t->a);
	free(t->w);
	free(t->bias);
}

/* Runs k on the case: returns c [c_offset + (MR + 2) * c_stride] filled with the guard around
 * the outputs. */
static float *run_dot(const struct nst_dot_kernel *k, const struct dot_case *t, size_t *c_floats) {
	const size_t kk = t->segs * t->kc, packed_floats = nst_dot_packed_floats(kk, t->nc);
	float *packed = xmalloc((packed_floats + 64) * sizeof(float));
	for (size_t i = 0; i < packed_floats + 64; i++)
		packed[i] = NAN; /* a kernel that reads past the packed rows sees NaN */
	nst_dot_pack(kk, t->nc, t->w, t->nc, t->bias, packed);
	*c_floats = t->c_offset + (k->mr + 2) * t->c_stride;
	float *c = xmalloc(*c_floats * sizeof(float));
	for (size_t i = 0; i < *c_floats; i++)
		c[i] = bits_float(GUARD_BITS);
	k->fn(t->mr, t->nc, t->kc, t->segs, t->a + t->a_offset, t->a_stride, t->seg_stride, packed, c + t->c_offset,
	      t->c_stride, &t->params);
	free(packed);
	return c;
}

static void dot_reference(const struct dot_case *t, double *ref, double *mag) {
	for (size_t i = 0; i < t->mr; i++)
		for (size_t j = 0; j < t->nc; j++) {
			double s = t->bias ? (double)t->bias[j] : 0.0, m = fabs(s);
			for (size_t sg = 0; sg < t->segs; sg++)
				for (size_t k = 0; k < t->kc; k++) {
					const double p = (double)t->a[t->a_offset + i * t->a_stride + sg * t->seg_stride + k] *
					                 (double)t->w[(sg * t->kc + k) * t->nc + j];
					s += p;
					m += fabs(p);
				}
			ref[i * t->nc + j] = clampd(s, t->params.min, t->params.max);
			mag[i * t->nc + j] = m;
		}
}

/* Compares c with want [mr][nc]; nothing else in c may change. */
static void check_dot_result(const char *what, const struct dot_case *t, const float *c, size_t c_floats,
                             const double *want, const double *mag, const char *want_name) {
	size_t bad = 0, touched = 0, bad_at = 0;
	for (size_t x = 0; x < c_floats; x++) {
		const bool inside = x >= t->c_offset && (x - t->c_offset) / t->c_stride < t->mr &&
		                    (x - t->c_offset) % t->c_stride < t->nc;
		if (inside) {
			const size_t i = (x - t->c_offset) / t->c_stride, j = (x - t->c_offset) % t->c_stride;
			if (!(fabs((double)c[x] - want[i * t->nc + j]) <= tolerance(mag[i * t->nc + j])) && bad++ == 0)
				bad_at = i * t->nc + j;
		} else if (float_bits(c[x]) != GUARD_BITS) {
			touched++;
		}
	}
	CHECK(bad == 0, "%s: %zu of %zu outputs differ from %s, first [%zu][%zu] = %.9g, want %.9g", what, bad,
	      t->mr * t->nc, want_name, bad_at / t->nc, bad_at % t->nc,
	      (double)c[t->c_offset + bad_at / t->nc * t->c_stride + bad_at % t->nc], want[bad_at]);
	CHECK(touched == 0, "%s: %zu floats outside [mr][nc] written", what, touched);
}

static void check_dot_case(const struct nst_dot_kernel *k, const struct nst_dot_kernel *twin, const struct dot_case *t) {
	char what[256];
	snprintf(what, sizeof what, "%s mr=%zu nc=%zu kc=%zu segs=%zu a_stride=%zu seg_stride=%zu c_stride=%zu min=%g max=%g%s",
	         k->name, t->mr, t->nc, t->kc, t->segs, t->a_stride, t->seg_stride, t->c_stride, (double)t->params.min,
	         (double)t->params.max, t->bias ? "" : " bias=NULL");
	double *ref = xmalloc(t->mr * t->nc * sizeof(double)), *mag = xmalloc(t->mr * t->nc * sizeof(double));
	dot_reference(t, ref, mag);
	size_t c_floats;
	float *c = run_dot(k, t, &c_floats);
	check_dot_result(what, t, c, c_floats, ref, mag, "the double reference");
	if (twin) {
		size_t twin_floats;
		float *ct = run_dot(twin, t, &twin_floats);
		double *tw = xmalloc(t->mr * t->nc * sizeof(double));
		for (size_t i = 0; i < t->mr; i++)
			for (size_t j = 0; j < t->nc; j++)
				tw[i * t->nc + j] = (double)ct[t->c_offset + i * t->c_stride + j];
		check_dot_result(what, t, c, c_floats, tw, mag, twin->name);
		free(tw);
		free(ct);
	}
	free(c);
	free(mag);
	free(ref);
}

/* Every mr and nc with small kc (every remainder of the vector width), then random ragged shapes
 * (kc not a multiple of the unroll, 1..3 segments, overlapping rows). */
static void check_dot_kernel(const struct nst_dot_kernel *k, const struct nst_dot_kernel *twin, struct nst_rng *r,
                             int random_cases) {
	const int failed_before = check_failed_count;
	struct dot_case t;
	for (size_t mr = 1; mr <= k->mr; mr++)
		for (size_t nc = 1; nc <= k->nr; nc++)
			for (size_t kc = 1; kc <= 35; kc += 1 + (mr + nc) % 4) {
				make_dot_case(r, &t, mr, nc, kc, 1 + kc % 3);
				check_dot_case(k, twin, &t);
				free_dot_case(&t);
			}
	for (int n = 0; n < random_cases && check_failed_count - failed_before < 20; n++) {
		const size_t kc = rng_range(r, 0, 3) ? rng_range(r, 1, 700) : rng_range(r, 1, 40);
		make_dot_case(r, &t, rng_range(r, 1, k->mr), rng_range(r, 1, k->nr), kc, rng_range(r, 1, 3));
		check_dot_case(k, twin, &t);
		free_dot_case(&t);
	}
	/* NaN in one valid row reaches that row's outputs through a ReLU clamp, and no other's: all the
	 * columns, and 3 written together (outputs contiguous: the RGB layers' path). */
	for (size_t nan_row = 0; nan_row < 2 * k->mr; nan_row++) {
		const size_t nc = nan_row < k->mr ? k->nr : DOT_RGB < k->nr ? DOT_RGB : k->nr;
		make_dot_case(r, &t, k->mr, nc, 21, 2);
		t.c_stride = nan_row < k->mr ? t.c_stride : nc;
		t.params = (struct nst_f32_minmax_params){0.0f, INFINITY};
		t.a_stride = t.kc + 3; /* rows apart, so that the NaN is in one row only */
		t.seg_stride = t.kc + (t.mr - 1) * t.a_stride + 1;
		free(t.a);
		t.a_floats = dot_a_floats(&t);
		t.a = xmalloc(t.a_floats * sizeof(float));
		for (size_t i = 0; i < t.a_floats; i++)
			t.a[i] = rng_float(r);
		t.a[t.a_offset + nan_row % k->mr * t.a_stride + t.seg_stride + rng_range(r, 0, t.kc - 1)] = NAN;
		size_t c_floats, nan_ok = 0, finite_ok = 0;
		float *c = run_dot(k, &t, &c_floats);
		for (size_t i = 0; i < t.mr; i++)
			for (size_t j = 0; j < t.nc; j++) {
				const float v = c[t.c_offset + i * t.c_stride + j];
				if (i == nan_row % k->mr)
					nan_ok += isnan(v) != 0;
				else
					finite_ok += isfinite(v) != 0;
			}
		CHECK(nan_ok == t.nc && finite_ok == (t.mr - 1) * t.nc,
		      "%s, %zu columns: NaN in row %zu: %zu NaN outputs there, %zu finite elsewhere", k->name, t.nc,
		      nan_row % k->mr, nan_ok, finite_ok);
		free(c);
		free_dot_case(&t);
	}
	/* Page guards: the last row's last segment ends where an inaccessible page begins, the packed
	 * weights and c too: any read or write past them crashes. */
	for (int n = 0; n < 30; n++) {
		const size_t mr = rng_range(r, 1, k->mr), nc = rng_range(r, 1, k->nr), kc = rng_range(r, 1, 70);
		const size_t segs = rng_range(r, 1, 3), a_stride = rng_range(r, 1, kc + 2);
		const size_t seg_stride = kc + (mr - 1) * a_stride + rng_range(r, 0, 3), c_stride = nc + rng_range(r, 0, 2);
		const size_t a_floats = (mr - 1) * a_stride + (segs - 1) * seg_stride + kc, kk = segs * kc;
		struct guarded ga, gw, gc;
		float *a = guarded_alloc(&ga, a_floats);
		for (size_t i = 0; i < a_floats; i++)
			a[i] = rng_float(r);
		float *wu = xmalloc(kk * nc * sizeof(float)), *bias = xmalloc(nc * sizeof(float));
		for (size_t i = 0; i < kk * nc; i++)
			wu[i] = rng_float(r);
		for (size_t j = 0; j < nc; j++)
			bias[j] = rng_float(r);
		float *packed = guarded_alloc(&gw, nst_dot_packed_floats(kk, nc));
		nst_dot_pack(kk, nc, wu, nc, bias, packed);
		float *c = guarded_alloc(&gc, (mr - 1) * c_stride + nc);
		const struct nst_f32_minmax_params params = {-INFINITY, INFINITY};
		k->fn(mr, nc, kc, segs, a, a_stride, seg_stride, packed, c, c_stride, &params);
		double s = bias[nc - 1], m = fabs(s);
		for (size_t sg = 0; sg < segs; sg++)
			for (size_t kx = 0; kx < kc; kx++) {
				const double p = (double)a[(mr - 1) * a_stride + sg * seg_stride + kx] * (double)wu[(sg * kc + kx) * nc + nc - 1];
				s += p;
				m += fabs(p);
			}
		const double got = c[(mr - 1) * c_stride + nc - 1];
		CHECK(fabs(got - s) <= tolerance(m), "%s page-guarded mr=%zu nc=%zu kc=%zu segs=%zu: last output %.9g, want %.9g",
		      k->name, mr, nc, kc, segs, got, s);
		free(wu);
		free(bias);
		guarded_free(&ga);
		guarded_free(&gw);
		guarded_free(&gc);
	}
	printf("  %-28s %s\n", k->name, check_failed_count == failed_before ? "ok" : "FAILED");
}

static void check_dot_pack_example(void) {
	/* k = 2, n = 3, w_stride 4: {b0 b1 b2 | w00 w10 | w01 w11 | w02 w12}. */
	const float w[2 * 4] = {1, 2, 3, 99, 4, 5, 6, 99};
	const float bias[3] = {10, 20, 30};
	const float want[9] = {10, 20, 30, 1, 4, 2, 5, 3, 6};
	float packed[10];
	CHECK(nst_dot_packed_floats(2, 3) == 9, "dot packed_floats(2, 3) = %zu, want 9", nst_dot_packed_floats(2, 3));
	packed[9] = 777.0f;
	nst_dot_pack(2, 3, w, 4, bias, packed);
	CHECK(memcmp(packed, want, sizeof(want)) == 0 && packed[9] == 777.0f, "dot pack example with bias");
	nst_dot_pack(2, 3, w, 4, NULL, packed);
	CHECK(packed[0] == 0.0f && packed[1] == 0.0f && packed[2] == 0.0f && memcmp(packed + 3, want + 3, 6 * sizeof(float)) == 0,
	      "dot pack example, bias NULL");
}

static void check_dot_tables(const struct nst_cpu_features *cpu, const struct nst_dot_kernel **simd,
                             const struct nst_dot_kernel **twin, size_t pairs, size_t gemm_pairs,
                             const struct nst_gemm_kernel **gemm_simd) {
	CHECK(pairs == gemm_pairs, "one small-N kernel per SIMD GEMM kernel: %zu and %zu", pairs, gemm_pairs);
	CHECK(nst_dot_kernel_for(nst_gemm_kernel_scalar())->fn == nst_f32_dot_4x4__scalar,
	      "the scalar GEMM kernel's small-N kernel is nst_f32_dot_4x4__scalar");
	for (size_t i = 0; i < pairs; i++) {
		char want[96];
		CHECK(simd[i] == nst_dot_kernel_for(gemm_simd[i]), "%s runs beside %s", simd[i]->name, gemm_simd[i]->name);
		CHECK(simd[i]->mr == twin[i]->mr && simd[i]->nr == twin[i]->nr && simd[i]->fn != twin[i]->fn &&
		          simd[i]->nr <= NST_DOT_MAX_N,
		      "%s and its twin %s have the same tile", simd[i]->name, twin[i]->name);
		snprintf(want, sizeof want, "nst_f32_dot_%" PRIu32 "x%" PRIu32 "__scalar", twin[i]->mr, twin[i]->nr);
		CHECK(strcmp(twin[i]->name, want) == 0, "twin %s is named %s", twin[i]->name, want);
		snprintf(want, sizeof want, "nst_f32_dot_%" PRIu32 "x%" PRIu32 "__", simd[i]->mr, simd[i]->nr);
		CHECK(strncmp(simd[i]->name, want, strlen(want)) == 0 && !strstr(simd[i]->name, "scalar"),
		      "%s is a SIMD kernel named after its tile", simd[i]->name);
	}
	(void)cpu;
}

/* ---------------------------------------------------------------------------------------------
 * Tables and detection
 * ------------------------------------------------------------------------------------------- */
static int name_matches(const struct nst_gemm_kernel *k, const char *isa) {
	char want[96];
	snprintf(want, sizeof(want), "nst_f32_gemm_%" PRIu32 "x%" PRIu32 "__%s", k->mr, k->nr, isa);
	return strcmp(k->name, want) == 0;
}

/* Every configuration of the table: its twin is scalar, is its own twin, and has the same tiles
 * (GEMM and small-N) and GEMM format; SIMD configurations have no scalar kernels. */
static void check_config(const struct nst_kernel_config *c, bool simd_config) {
	const struct nst_kernel_config *t = c->twin;
	CHECK(t && t->twin == t, "%s's twin %s is its own twin", c->gemm.name, t ? t->gemm.name : "(none)");
	if (!t)
		return;
	CHECK(c->gemm.mr == t->gemm.mr && c->gemm.nr == t->gemm.nr && c->gemm.f16 == t->gemm.f16 &&
	          c->dot.mr == t->dot.mr && c->dot.nr == t->dot.nr,
	      "%s / %s and their twins %s / %s have the same tiles", c->gemm.name, c->dot.name, t->gemm.name, t->dot.name);
	CHECK(strstr(t->gemm.name, "__scalar") && strstr(t->dot.name, "__scalar") && strstr(t->mask.name, "__scalar") &&
	          strstr(t->wino.name, "__scalar") && strstr(t->norm.name, "__scalar"),
	      "%s's twin is all scalar kernels", c->gemm.name);
	if (simd_config)
		CHECK(!strstr(c->gemm.name, "scalar") && !strstr(c->dot.name, "scalar") && !strstr(c->mask.name, "scalar") &&
		          !strstr(c->wino.name, "scalar") && !strstr(c->norm.name, "scalar") && c != t,
		      "%s's configuration is all SIMD kernels", c->gemm.name);
	CHECK(nst_kernels_of(&c->gemm) == c && nst_dot_kernel_for(&c->gemm) == &c->dot && nst_norm_kernel_for(&c->gemm) == &c->norm,
	      "%s finds its configuration", c->gemm.name);
}

static void check_configs(const struct nst_cpu_features *cpu) {
	check_config(nst_kernel_config_scalar(false), false);
	check_config(nst_kernel_config_scalar(true), false);
	CHECK(nst_kernel_config_scalar(true)->gemm.f16 && !nst_kernel_config_scalar(false)->gemm.f16,
	      "the scalar configurations' GEMM formats");
	for (int f16 = 0; f16 < 2; f16++) {
		const struct nst_kernel_config *c[8];
		const size_t n = nst_kernel_configs(cpu, f16, c, 8);
		for (size_t i = 0; i < n; i++) {
			check_config(c[i], true);
			CHECK(c[i]->gemm.f16 == (f16 != 0), "%s in the %s list", c[i]->gemm.name, f16 ? "float16" : "float32");
		}
	}
}

static void check_tables(const struct nst_cpu_features *cpu, const struct nst_gemm_kernel **simd,
                         const struct nst_gemm_kernel **twin, size_t pairs) {
	const struct nst_gemm_kernel *s = nst_gemm_kernel_scalar();
	CHECK(s && s->fn == nst_f32_gemm_4x8__scalar && s->mr == 4 && s->nr == 8 && name_matches(s, "scalar"),
	      "nst_gemm_kernel_scalar is the 4x8 scalar kernel");
	for (size_t i = 0; i < pairs; i++) {
		CHECK(simd[i]->mr == twin[i]->mr && simd[i]->nr == twin[i]->nr, "%s and its twin %s have the same tile",
		      simd[i]->name, twin[i]->name);
		CHECK(name_matches(twin[i], "scalar"), "twin %s is named nst_f32_gemm_<mr>x<nr>__scalar", twin[i]->name);
		CHECK(!name_matches(simd[i], "scalar") && strncmp(simd[i]->name, "nst_f32_gemm_", 13) == 0 &&
		          strstr(simd[i]->name, "__") && simd[i]->fn != twin[i]->fn,
		      "%s is a SIMD kernel named after its tile", simd[i]->name);
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "nst_f32_gemm_%" PRIu32 "x%" PRIu32 "__", simd[i]->mr, simd[i]->nr);
		CHECK(strncmp(simd[i]->name, prefix, strlen(prefix)) == 0, "%s's name matches its tile %ux%u", simd[i]->name,
		      (unsigned)simd[i]->mr, (unsigned)simd[i]->nr);
	}
	const struct nst_gemm_kernel *best = nst_gemm_kernel_best(cpu);
	CHECK(best == (pairs ? simd[0] : s), "best kernel %s is the first pair (or scalar)", best->name);
	CHECK(nst_gemm_kernel_best(NULL) == best, "nst_gemm_kernel_best(NULL) detects the same CPU");
	CHECK(nst_kernel_configs(cpu, false, NULL, 0) == 0, "configurations with capacity 0 stores nothing");
	CHECK(nst_kernel_configs(NULL, false, NULL, 8) == pairs, "nst_kernel_configs(NULL) detects the same CPU");
	const struct nst_cpu_features none = {0};
	const struct nst_kernel_config *none_configs[8];
	CHECK(nst_gemm_kernel_best(&none) == s, "a CPU without features runs the scalar kernel");
	CHECK(nst_kernel_configs(&none, false, none_configs, 8) == 0, "a CPU without features has no SIMD configurations");

#if defined(__x86_64__)
	__builtin_cpu_init();
	const bool avx2 = __builtin_cpu_supports("avx2"), fma = __builtin_cpu_supports("fma");
	const bool avx512f = __builtin_cpu_supports("avx512f");
	CHECK(cpu->avx2 == avx2 && cpu->fma == fma && cpu->avx512f == avx512f,
	      "nst_cpu_detect avx2 %d fma %d avx512f %d, compiler runtime says %d %d %d", cpu->avx2, cpu->fma, cpu->avx512f,
	      avx2, fma, avx512f);
	CHECK(!cpu->neon && !cpu->neon_fp16, "no NEON on x86");
	/* AVX-512F: 8x32 and its narrow 16x16 */
	CHECK(pairs == (size_t)(avx2 && fma) + 2 * (size_t)(avx512f && avx2 && fma), "x86: %zu SIMD kernels for this CPU",
	      pairs);
	if (avx512f && avx2 && fma) {
		CHECK(strcmp(best->name, "nst_f32_gemm_8x32__avx512") == 0, "x86 with AVX-512F: best kernel %s", best->name);
		CHECK(nst_gemm_kernel_for_columns(best, 16)->nr == 16 && nst_gemm_kernel_for_columns(best, 17) == best &&
		          nst_kernels_of(nst_gemm_kernel_for_columns(best, 3))->narrow == NULL,
		      "x86 with AVX-512F: outputs of at most 16 columns on the 16x16 kernel, of 17 on 8x32");
	}
	else if (avx2 && fma)
		CHECK(strcmp(best->name, "nst_f32_gemm_6x16__avx2") == 0, "x86 with AVX2 + FMA: best kernel %s", best->name);
	/* Whatever this CPU has, a CPU with only AVX2 + FMA gets the AVX2 kernel. */
	const struct nst_cpu_features only_avx2 = {.avx2 = true, .fma = true, .f16c = true};
	CHECK(strcmp(nst_gemm_kernel_best(&only_avx2)->name, "nst_f32_gemm_6x16__avx2") == 0, "AVX2 + FMA only: best %s",
	      nst_gemm_kernel_best(&only_avx2)->name);
	const struct nst_cpu_features avx2_no_fma = {.avx2 = true};
	CHECK(nst_gemm_kernel_best(&avx2_no_fma) == s, "AVX2 without FMA runs the scalar kernel");
#elif defined(__aarch64__)
	CHECK(cpu->neon && cpu->neon_fp16 && !cpu->avx2 && !cpu->fma && !cpu->avx512f && !cpu->f16c, "aarch64 features");
	CHECK(pairs == 2 && best->fn == nst_f32_gemm_8x8__neon, "aarch64: best %s, %zu pairs", best->name, pairs);
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
	CHECK(cpu->neon && !cpu->avx2, "ARMv7 NEON features");
	CHECK(pairs == 1 && best->fn == nst_f32_gemm_4x8__neon, "ARMv7 NEON: best %s, %zu pairs", best->name, pairs);
#else
	CHECK(pairs == 0 && best == s, "no SIMD kernels on this target");
#endif
}

/* The float16 kernels: the scalar twin on every target; a SIMD kernel exactly when this build has
 * FP16 vector arithmetic (NST_HAVE_F16_GEMM_NEON: aarch64 with +fp16, such as -mcpu=cortex-a76),
 * paired with the twin, with the same tile and SIMD companion kernels. */
static void check_f16_tables(const struct nst_cpu_features *cpu, const struct nst_gemm_kernel **simd,
                             const struct nst_gemm_kernel **twin, size_t pairs) {
	const struct nst_gemm_kernel *s = nst_gemm_kernel_f16(NULL, true);
	CHECK(s && s->fn == nst_f16_gemm_8x16__scalar && s->f16 && s->mr == 8 && s->nr == 16 &&
	          strcmp(s->name, "nst_f16_gemm_8x16__scalar") == 0,
	      "nst_gemm_kernel_f16(NULL, true) is the float16 8x16 scalar kernel");
	CHECK(nst_gemm_kernel_f16(cpu, true) == s, "the float16 scalar kernel does not depend on the CPU");
	CHECK(!nst_gemm_kernel_scalar()->f16, "nst_gemm_kernel_scalar is a float32 kernel");
	const struct nst_kernel_config *f32_configs[8];
	const size_t f32_pairs = nst_kernel_configs(cpu, false, f32_configs, 8);
	for (size_t i = 0; i < f32_pairs; i++)
		CHECK(!f32_configs[i]->gemm.f16 && !f32_configs[i]->twin->gemm.f16, "%s is a float32 kernel",
		      f32_configs[i]->gemm.name);
	CHECK(nst_kernel_configs(cpu, true, NULL, 0) == 0, "float16 configurations with capacity 0 stores nothing");
	CHECK(nst_kernel_configs(cpu, true, NULL, 8) == pairs, "float16 configurations: counting gives %zu", pairs);
	const struct nst_gemm_kernel *best = nst_gemm_kernel_f16(cpu, false);
#if defined(NST_HAVE_F16_GEMM_NEON)
	CHECK(pairs == 1 && best && best->fn == nst_f16_gemm_8x16__neonfp16arith &&
	          strcmp(best->name, "nst_f16_gemm_8x16__neonfp16arith") == 0,
	      "FP16 vector arithmetic: the float16 kernel is the NEON one (%zu pairs)", pairs);
#else
	CHECK(pairs == 0 && best == NULL, "no FP16 vector arithmetic: no float16 SIMD kernel (%zu pairs)", pairs);
#endif
	for (size_t i = 0; i < pairs; i++) {
		CHECK(simd[i] == best && twin[i]->fn == s->fn && !strcmp(twin[i]->name, s->name), "float16 pair %zu is (%s, %s)",
		      i, simd[i]->name, twin[i]->name);
		CHECK(simd[i]->f16 && simd[i]->mr == s->mr && simd[i]->nr == s->nr && simd[i]->fn != s->fn,
		      "%s has its twin's tile and format", simd[i]->name);
		CHECK(!strstr(nst_dot_kernel_for(simd[i])->name, "scalar") && !strstr(nst_mask_kernel_for(simd[i])->name, "scalar") &&
		          !strstr(nst_wino_kernel_for(simd[i])->name, "scalar") &&
		          !strstr(nst_norm_kernel_for(simd[i])->name, "scalar"),
		      "%s runs beside SIMD companion kernels", simd[i]->name);
	}
	const struct nst_gemm_kernel *scalar = nst_gemm_kernel_scalar();
	CHECK(!strcmp(nst_dot_kernel_for(s)->name, nst_dot_kernel_for(scalar)->name) &&
	          !strcmp(nst_mask_kernel_for(s)->name, nst_mask_kernel_for(scalar)->name) &&
	          !strcmp(nst_wino_kernel_for(s)->name, nst_wino_kernel_for(scalar)->name) &&
	          !strcmp(nst_norm_kernel_for(s)->name, nst_norm_kernel_for(scalar)->name),
	      "%s runs beside the scalar companion kernels", s->name);
}

/* ---------------------------------------------------------------------------------------------
 * ReLU mask kernels: the scalar kernels against a reference written here, every SIMD pair
 * against its twin, bit for bit, on ragged lengths and on values that trip compares (zeros of
 * both signs, NaN, infinities, denormals).
 */
static float mask_value(struct nst_rng *r) {
	static const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f, INFINITY, -INFINITY, NAN, -NAN};
	if (rng_range(r, 0, 3) == 0)
		return specials[rng_range(r, 0, sizeof specials / sizeof specials[0] - 1)];
	return rng_float(r);
}

static void check_mask_kernel(const struct nst_mask_kernel *k, const struct nst_mask_kernel *twin, struct nst_rng *r,
                              int cases) {
	int bad = 0;
	for (int c = 0; c < cases && bad < 5; c++) {
		const size_t n_bytes = rng_range(r, 0, 70), n = n_bytes * NST_MASK_BITS;
		float *x = malloc((n + 1) * sizeof(float));         // [n] and a guard
		float *y = malloc((n + 1) * sizeof(float));         // [n] and a guard
		uint8_t *m = malloc(n_bytes + 1), *want = malloc(n_bytes + 1);
		for (size_t i = 0; i < n; i++)
			x[i] = mask_value(r);
		x[n] = y[n] = 42.0f;
		m[n_bytes] = want[n_bytes] = 0x5a;
		for (size_t i = 0; i < n_bytes; i++) {
			unsigned bits = 0;
			for (unsigned b = 0; b < NST_MASK_BITS; b++)
				bits |= (unsigned)(x[i * NST_MASK_BITS + b] > 0.0f) << b;
			want[i] = (uint8_t)bits;
		}
		if (twin)
			twin->pack(n_bytes, x, want);
		k->pack(n_bytes, x, m);
		if (memcmp(m, want, n_bytes + 1) != 0) {
			bad++;
			CHECK(false, "%s pack, %zu bytes: differs from %s", k->name, n_bytes, twin ? twin->name : "the reference");
		}
		/* apply: a random mask (all-on and all-off bytes included) */
		for (size_t i = 0; i < n_bytes; i++)
			m[i] = (uint8_t)(rng_range(r, 0, 3) == 0 ? (rng_range(r, 0, 1) ? 0xff : 0) : nst_rng_next(r));
		memcpy(y, x, (n + 1) * sizeof(float));
		if (twin) {
			twin->apply(n_bytes, m, y);
		} else {
			for (size_t i = 0; i < n; i++)
				y[i] = ((m[i / NST_MASK_BITS] >> (i % NST_MASK_BITS)) & 1u) ? y[i] : 0.0f;
		}
		k->apply(n_bytes, m, x);
		if (memcmp(x, y, (n + 1) * sizeof(float)) != 0) {
			bad++;
			CHECK(false, "%s apply, %zu bytes: differs from %s", k->name, n_bytes, twin ? twin->name : "the reference");
		}
		CHECK(x[n] == 42.0f && m[n_bytes] == 0x5a, "%s wrote past its %zu bytes", k->name, n_bytes);
		free(x);
		free(y);
		free(m);
		free(want);
	}
	if (bad == 0)
		CHECK(true, "%s", k->name);
	printf("  %-28s %s %d cases\n", k->name, twin ? "vs its twin," : "vs the reference,", cases);
}

/* ---------------------------------------------------------------------------------------------
 * Winograd transforms: the scalar kernels against B^T d B and A^T M A computed here in double from
 * the matrices written out, every SIMD set against its twin; ragged channel counts (around every
 * vector width), padded planes and strides, partial output tiles, repeated tile pointers.
 * ------------------------------------------------------------------------------------------- */
#define WINO_MAX_T 6
#define WINO_MAX_M 4
#define WINO_TOL 1e-5

static const double BT23[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double AT23[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
/* F(3x3, 3x3) on the points 0, 1, -1, 2 (src/conv_winograd_grid.c derives them) */
static const double BT33[5][5] = {
        {2, -1, -2, 1, 0}, {0, -2, -1, 1, 0}, {0, 2, -3, 1, 0}, {0, -1, 0, 1, 0}, {0, 2, -1, -2, 1}};
static const double AT33[3][5] = {{1, 1, 1, 1, 0}, {0, 1, -1, 2, 0}, {0, 1, 1, 4, 1}};
static const double BT43[6][6] = {
	{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
	{0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
static const double AT43[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

/* out [r][r] = L [r][t] X [t][t] L^T, and its magnitude |L| |X| |L|^T (for the tolerance). */
static void sandwich(size_t r, size_t t, const double *l, const double *x, double *out, double *mag) {
	for (size_t i = 0; i < r; i++)
		for (size_t j = 0; j < r; j++) {
			double s = 0, m = 0;
			for (size_t a = 0; a < t; a++)
				for (size_t b = 0; b < t; b++) {
					const double p = l[i * t + a] * x[a * t + b] * l[j * t + b];
					s += p;
					m += fabs(p);
				}
			out[i * r + j] = s;
			mag[i * r + j] = m;
		}
}

/* The grid's lanes kernels beside the transforms (k->rowmix, k->transpose): the row mix against a
 * double sum and its twin within the float sums' bound, weights' unused columns NaN (a kernel that
 * used them would say so), the rows ragged and placed at random offsets of a page-guarded buffer
 * that ends where the last row does; the transpose exact; the outputs' gaps and LANES_FRONT floats
 * before them untouched. */
#define LANES_FRONT 16
static void check_lanes_kernels(const struct nst_wino_kernel *k, const struct nst_wino_kernel *twin, struct nst_rng *r,
                                int cases) {
	const int failed_before = check_failed_count;
	for (int n_case = 0; n_case < cases && check_failed_count - failed_before < 10; n_case++) {
		const size_t nc = rng_range(r, 1, NST_ROWMIX_NC), kk = rng_range(r, 1, rng_range(r, 0, 3) ? 40 : 160);
		const size_t n = rng_range(r, 0, 3) ? rng_range(r, 1, 70) : rng_range(r, 1, 140);
		const size_t span = n + rng_range(r, 0, 200), c_stride = n + rng_range(r, 0, 9);
		struct guarded gb, gw, gc, gt;
		float *base = guarded_alloc(&gb, span), *w = guarded_alloc(&gw, kk * NST_ROWMIX_NC);
		size_t *offsets = xmalloc(kk * sizeof(size_t));
		for (size_t i = 0; i < span; i++)
			base[i] = rng_float(r);
		for (size_t i = 0; i < kk; i++) {
			offsets[i] = rng_range(r, 0, 2) ? rng_range(r, 0, span - n) : span - n; /* often the last row */
			for (size_t o = 0; o < NST_ROWMIX_NC; o++)
				w[i * NST_ROWMIX_NC + o] = o < nc ? rng_float(r) : NAN;
		}
		const size_t c_floats = (nc - 1) * c_stride + n;
		float *c_all = guarded_alloc(&gc, LANES_FRONT + c_floats), *ct = guarded_alloc(&gt, c_floats);
		float *c = c_all + LANES_FRONT;
		for (size_t i = 0; i < LANES_FRONT + c_floats; i++)
			c_all[i] = bits_float(GUARD_BITS);
		for (size_t i = 0; i < c_floats; i++)
			ct[i] = bits_float(GUARD_BITS);
		k->rowmix(n, nc, kk, base, offsets, w, c, c_stride);
		if (twin)
			twin->rowmix(n, nc, kk, base, offsets, w, ct, c_stride);
		size_t bad = 0, touched = 0;
		for (size_t o = 0; o < nc; o++)
			for (size_t j = 0; j < n; j++) {
				double want = 0.0, mag = 0.0;
				for (size_t i = 0; i < kk; i++) {
					const double term = (double)w[i * NST_ROWMIX_NC + o] * (double)base[offsets[i] + j];
					want += term;
					mag += fabs(term);
				}
				const double tol = (double)(kk + 1) * FLT_EPSILON * mag, got = (double)c[o * c_stride + j];
				bad += !(fabs(got - want) <= tol);
				if (twin)
					bad += !(fabs(got - (double)ct[o * c_stride + j]) <= 2.0 * tol);
			}
		for (size_t i = 0; i < c_floats; i++)
			touched += i % c_stride >= n && float_bits(c[i]) != GUARD_BITS;
		for (size_t i = 0; i < LANES_FRONT; i++)
			touched += float_bits(c_all[i]) != GUARD_BITS;
		CHECK(bad == 0 && touched == 0, "%s rowmix n=%zu nc=%zu k=%zu c_stride=%zu: %zu values wrong, %zu gaps written",
		      k->name, n, nc, kk, c_stride, bad, touched);
		guarded_free(&gb);
		guarded_free(&gw);
		guarded_free(&gc);
		guarded_free(&gt);
		free(offsets);

		const size_t rows = rng_range(r, 0, 3) ? rng_range(r, 1, 40) : rng_range(r, 1, 100);
		const size_t cols = rng_range(r, 0, 3) ? rng_range(r, 1, 40) : rng_range(r, 1, 100);
		const size_t src_stride = cols + rng_range(r, 0, 50), dst_stride = rows + rng_range(r, 0, 5);
		const size_t src_floats = (rows - 1) * src_stride + cols, dst_floats = (cols - 1) * dst_stride + rows;
		float *src = guarded_alloc(&gb, src_floats), *dst_all = guarded_alloc(&gc, LANES_FRONT + dst_floats);
		float *dst = dst_all + LANES_FRONT;
		for (size_t i = 0; i < src_floats; i++)
			src[i] = rng_float(r);
		for (size_t i = 0; i < LANES_FRONT + dst_floats; i++)
			dst_all[i] = bits_float(GUARD_BITS);
		k->transpose(rows, cols, src, src_stride, dst, dst_stride);
		bad = touched = 0;
		for (size_t j = 0; j < cols; j++)
			for (size_t i = 0; i < rows; i++)
				bad += float_bits(dst[j * dst_stride + i]) != float_bits(src[i * src_stride + j]);
		for (size_t i = 0; i < dst_floats; i++)
			touched += i % dst_stride >= rows && float_bits(dst[i]) != GUARD_BITS;
		for (size_t i = 0; i < LANES_FRONT; i++)
			touched += float_bits(dst_all[i]) != GUARD_BITS;
		CHECK(bad == 0 && touched == 0, "%s transpose %zu x %zu strides %zu, %zu: %zu values wrong, %zu gaps written",
		      k->name, rows, cols, src_stride, dst_stride, bad, touched);
		guarded_free(&gb);
		guarded_free(&gc);
	}
}

static void check_wino_kernel(const struct nst_wino_kernel *k, const struct nst_wino_kernel *twin, struct nst_rng *r,
                              int cases) {
	const int failed_before = check_failed_count;
	for (int n = 0; n < cases && check_failed_count - failed_before < 10; n++) {
		const size_t m = rng_range(r, 2, 4), t = m + 2, xis = t * t; /* F(m x m, 3x3) */
		const double *bt = m == 4 ? &BT43[0][0] : m == 3 ? &BT33[0][0] : &BT23[0][0];
		const double *at = m == 4 ? &AT43[0][0] : m == 3 ? &AT33[0][0] : &AT23[0][0];
		const nst_f32_wino_input_fn input = m == 4 ? k->input43 : m == 3 ? k->input33 : k->input23;
		const nst_f32_wino_output_fn output = m == 4 ? k->output43 : m == 3 ? k->output33 : k->output23;
		const nst_f32_wino_input_fn twin_input = !twin ? NULL : m == 4 ? twin->input43 : m == 3 ? twin->input33 : twin->input23;
		const nst_f32_wino_output_fn twin_output = !twin ? NULL : m == 4 ? twin->output43 : m == 3 ? twin->output33 : twin->output23;
		const size_t c = rng_range(r, 0, 3) ? rng_range(r, 1, 40) : rng_range(r, 1, 140);
		const size_t plane = c + rng_range(r, 0, 9);
		/* input: t * t pixels of c channels, some pointers repeated (as padding repeats pixels) */
		const size_t pixels = xis;
		float *img = xmalloc(pixels * c * sizeof(float));
		for (size_t i = 0; i < pixels * c; i++)
			img[i] = rng_float(r);
		const float *tile[WINO_MAX_T * WINO_MAX_T];
		for (size_t i = 0; i < xis; i++)
			tile[i] = img + (rng_range(r, 0, 4) ? i : rng_range(r, 0, pixels - 1)) * c;
		const size_t v_floats = (xis - 1) * plane + c;
		struct guarded gv, gt;
		float *v = guarded_alloc(&gv, v_floats), *vt = guarded_alloc(&gt, v_floats);
		for (size_t i = 0; i < v_floats; i++)
			v[i] = vt[i] = bits_float(GUARD_BITS);
		input(c, tile, v, plane);
		if (twin)
			twin_input(c, tile, vt, plane);
		size_t bad = 0, touched = 0;
		for (size_t ch = 0; ch < c; ch++) {
			double d[WINO_MAX_T * WINO_MAX_T], want[WINO_MAX_T * WINO_MAX_T], mag[WINO_MAX_T * WINO_MAX_T];
			for (size_t i = 0; i < xis; i++)
				d[i] = (double)tile[i][ch];
			sandwich(t, t, bt, d, want, mag);
			for (size_t i = 0; i < xis; i++) {
				const double got = (double)v[i * plane + ch];
				bad += !(fabs(got - want[i]) <= WINO_TOL * mag[i]);
				if (twin)
					bad += !(fabs(got - (double)vt[i * plane + ch]) <= WINO_TOL * mag[i]);
			}
		}
		for (size_t i = 0; i < v_floats; i++)
			touched += i % plane >= c && float_bits(v[i]) != GUARD_BITS;
		CHECK(bad == 0 && touched == 0, "%s input F(%zux%zu) c=%zu plane=%zu: %zu values wrong, %zu gaps written",
		      k->name, m, m, c, plane, bad, touched);
		guarded_free(&gv);
		guarded_free(&gt);
		free(img);

		/* output: M [t * t][plane] -> out [ny][nx] of a picture row_stride wide, pixel_stride apart */
		const size_t ny = rng_range(r, 1, m), nx = rng_range(r, 1, m);
		const size_t pixel_stride = c + rng_range(r, 0, 3), row_stride = pixel_stride * (nx + rng_range(r, 0, 3));
		float *mm = xmalloc(((xis - 1) * plane + c) * sizeof(float)), *bias = xmalloc(c * sizeof(float));
		for (size_t i = 0; i < (xis - 1) * plane + c; i++)
			mm[i] = rng_float(r);
		for (size_t ch = 0; ch < c; ch++)
			bias[ch] = rng_float(r);
		const size_t out_floats = (ny - 1) * row_stride + (nx - 1) * pixel_stride + c;
		float *out = guarded_alloc(&gv, out_floats), *outt = guarded_alloc(&gt, out_floats);
		for (size_t i = 0; i < out_floats; i++)
			out[i] = outt[i] = bits_float(GUARD_BITS);
		/* the clamp: none, a ReLU, or bounds inside the values' range (rng_float's) */
		const int bounds = (int)rng_range(r, 0, 2);
		const struct nst_f32_minmax_params clamp = {bounds == 0 ? -INFINITY : bounds == 1 ? 0.0f : -0.25f,
		                                            bounds == 2 ? 0.5f : INFINITY};
		output(c, mm, plane, bias, &clamp, out, row_stride, pixel_stride, ny, nx);
		if (twin)
			twin_output(c, mm, plane, bias, &clamp, outt, row_stride, pixel_stride, ny, nx);
		bad = touched = 0;
		for (size_t ch = 0; ch < c; ch++) {
			double x[WINO_MAX_T * WINO_MAX_T], want[WINO_MAX_M * WINO_MAX_M], mag[WINO_MAX_M * WINO_MAX_M];
			for (size_t i = 0; i < xis; i++)
				x[i] = (double)mm[i * plane + ch];
			/* sandwich with the r x t matrix A^T */
			for (size_t i = 0; i < m; i++)
				for (size_t j = 0; j < m; j++) {
					double sum = bias[ch], mg = fabs((double)bias[ch]);
					for (size_t a = 0; a < t; a++)
						for (size_t b = 0; b < t; b++) {
							const double p = at[i * t + a] * x[a * t + b] * at[j * t + b];
							sum += p;
							mg += fabs(p);
						}
					want[i * m + j] = fmin(fmax(sum, (double)clamp.min), (double)clamp.max);
					mag[i * m + j] = mg;
				}
			for (size_t a = 0; a < ny; a++)
				for (size_t b = 0; b < nx; b++) {
					const size_t at_ = a * row_stride + b * pixel_stride + ch;
					const double got = (double)out[at_];
					bad += !(fabs(got - want[a * m + b]) <= WINO_TOL * mag[a * m + b]);
					if (twin)
						bad += !(fabs(got - (double)outt[at_]) <= WINO_TOL * mag[a * m + b]);
				}
		}
		for (size_t i = 0; i < out_floats; i++) {
			const size_t a = i / row_stride, rest = i % row_stride, b = rest / pixel_stride, ch = rest % pixel_stride;
			const bool inside = a < ny && b < nx && ch < c;
			touched += !inside && float_bits(out[i]) != GUARD_BITS;
		}
		CHECK(bad == 0 && touched == 0,
		      "%s output F(%zux%zu) c=%zu plane=%zu ny=%zu nx=%zu clamp [%g, %g]: %zu values wrong, %zu floats outside written",
		      k->name, m, m, c, plane, ny, nx, (double)clamp.min, (double)clamp.max, bad, touched);
		guarded_free(&gv);
		guarded_free(&gt);
		free(mm);
		free(bias);
	}
	printf("  %-28s %s %d cases\n", k->name, twin ? "vs the reference and its twin," : "vs the reference,", cases);
}

/* ---------------------------------------------------------------------------------------------
 * Tap-list grouped convolution kernels against a double reference and the twin: depthwise, two
 * lanes into each output and each input into two outputs; ragged pixel counts (the several-pixel
 * passes and their tails), output counts of 1..8 vectors (runs of 8, 4, 2, 1), 1..20 taps at
 * ragged offsets, clamps.  A SIMD member gets multiples of its outputs_multiple; the scalar one
 * any count.
 * ------------------------------------------------------------------------------------------- */
/* Gram tiles: mr 1..MR, nc over one to three panels (the last ragged), kc 0..120, strides wider
 * than the tile; c starts from random values (the kernel adds to them) and its gaps hold
 * GUARD_BITS, a's channels past mr and b's columns past nc (read: the ragged panel's padding) NaN,
 * each buffer ending where an inaccessible page begins.  Against a double reference within the
 * GEMM tolerance (of c + sum |a b|) and the twin; every gap keeps its bits; kc = 0 changes no bit.
 * Then a NaN in one valid row of a reaches that row's outputs only, and the sum is made before it
 * goes onto c. */
struct gram_run {
	size_t mr, nc, kc, a_stride, b_stride, c_stride;
	struct guarded ga, gb, gc;
	float *a, *b, *c; /* [kc][a_stride], [kc][b_stride], [mr][c_stride] */
};

static size_t gram_panels_floats(size_t nc, size_t nr) { return (nc + nr - 1) / nr * nr; }

static void gram_run_make(struct gram_run *g, const struct nst_gram_kernel *k, struct nst_rng *r, size_t mr, size_t nc,
                          size_t kc) {
	g->mr = mr;
	g->nc = nc;
	g->kc = kc;
	g->a_stride = mr + rng_range(r, 0, 9);
	g->b_stride = gram_panels_floats(nc, k->nr) + rng_range(r, 0, 5);
	g->c_stride = nc + rng_range(r, 0, 3);
	const size_t a_floats = kc ? (kc - 1) * g->a_stride + mr : 1;
	const size_t b_floats = kc ? (kc - 1) * g->b_stride + gram_panels_floats(nc, k->nr) : 1;
	g->a = guarded_alloc(&g->ga, a_floats);
	g->b = guarded_alloc(&g->gb, b_floats);
	g->c = guarded_alloc(&g->gc, (mr - 1) * g->c_stride + nc);
	for (size_t i = 0; i < a_floats; i++)
		g->a[i] = i % g->a_stride < mr ? rng_float(r) : NAN;
	for (size_t i = 0; i < b_floats; i++)
		g->b[i] = i % g->b_stride < nc ? rng_float(r) : NAN;
	for (size_t i = 0; i < (mr - 1) * g->c_stride + nc; i++)
		g->c[i] = i % g->c_stride < nc ? rng_float(r) : bits_float(GUARD_BITS);
}

static void gram_run_free(struct gram_run *g) {
	guarded_free(&g->ga);
	guarded_free(&g->gb);
	guarded_free(&g->gc);
}

/* c after k's update, in a fresh copy (the case's c keeps its values for the twin). */
static float *gram_run_kernel(const struct nst_gram_kernel *k, const struct gram_run *g) {
	const size_t c_floats = (g->mr - 1) * g->c_stride + g->nc;
	float *c = xmalloc(c_floats * sizeof(float));
	memcpy(c, g->c, c_floats * sizeof(float));
	k->fn(g->mr, g->nc, g->kc, g->a, g->a_stride, g->b, g->b_stride, c, g->c_stride);
	return c;
}

static void check_gram_case(const struct nst_gram_kernel *k, const struct nst_gram_kernel *twin, struct nst_rng *r,
                            size_t mr, size_t nc, size_t kc) {
	struct gram_run g;
	gram_run_make(&g, k, r, mr, nc, kc);
	float *c = gram_run_kernel(k, &g), *ct = twin ? gram_run_kernel(twin, &g) : NULL;
	size_t bad = 0, bad_twin = 0, gaps = 0, unchanged = 0;
	double worst = 0.0;
	for (size_t i = 0; i < mr; i++)
		for (size_t j = 0; j < g.c_stride && (i + 1 < mr || j < nc); j++) {
			const size_t at = i * g.c_stride + j;
			if (j >= nc) {
				gaps += float_bits(c[at]) != GUARD_BITS || (ct && float_bits(ct[at]) != GUARD_BITS);
				continue;
			}
			double s = g.c[at], m = fabs(s);
			for (size_t p = 0; p < kc; p++) {
				const double term = (double)g.a[p * g.a_stride + i] * (double)g.b[p * g.b_stride + j];
				s += term;
				m += fabs(term);
			}
			const double err = fabs((double)c[at] - s);
			worst = err > worst ? err : worst;
			bad += !(err <= tolerance(m));
			bad_twin += ct && !(fabs((double)c[at] - (double)ct[at]) <= 2.0 * tolerance(m));
			unchanged += float_bits(c[at]) == float_bits(g.c[at]);
		}
	CHECK(bad == 0 && bad_twin == 0 && gaps == 0, "%s mr=%zu nc=%zu kc=%zu strides %zu %zu %zu: %zu outputs off the reference "
	      "(worst %.3g), %zu off the twin, %zu gaps written", k->name, mr, nc, kc, g.a_stride, g.b_stride, g.c_stride, bad,
	      worst, bad_twin, gaps);
	CHECK(kc > 0 || unchanged == mr * nc, "%s mr=%zu nc=%zu kc=0: %zu of %zu outputs kept their bits", k->name, mr, nc,
	      unchanged, mr * nc);
	free(c);
	free(ct);
	gram_run_free(&g);
}

static void check_gram_kernel(const struct nst_gram_kernel *k, const struct nst_gram_kernel *twin, struct nst_rng *r,
                              int random_cases) {
	const int failed_before = check_failed_count;
	for (size_t mr = 1; mr <= k->mr; mr++)
		for (size_t nc = 1; nc <= 3 * k->nr; nc += 1 + (nc + mr) % 3)
			check_gram_case(k, twin, r, mr, nc, rng_range(r, 0, 3) ? rng_range(r, 1, 40) : 0);
	for (int n = 0; n < random_cases && check_failed_count - failed_before < 20; n++)
		check_gram_case(k, twin, r, rng_range(r, 1, k->mr), rng_range(r, 1, 3 * k->nr), rng_range(r, 0, 120));
	for (size_t nan_row = 0; nan_row < k->mr; nan_row++) {
		struct gram_run g;
		gram_run_make(&g, k, r, k->mr, k->nr + 1 + nan_row % k->nr, 9);
		g.a[rng_range(r, 0, g.kc - 1) * g.a_stride + nan_row] = NAN;
		float *c = gram_run_kernel(k, &g);
		size_t nan_ok = 0, finite_ok = 0;
		for (size_t i = 0; i < g.mr; i++)
			for (size_t j = 0; j < g.nc; j++) {
				const float v = c[i * g.c_stride + j];
				nan_ok += i == nan_row && isnan(v);
				finite_ok += i != nan_row && isfinite(v);
			}
		CHECK(nan_ok == g.nc && finite_ok == (g.mr - 1) * g.nc, "%s: NaN in row %zu: %zu NaN outputs there, %zu finite elsewhere",
		      k->name, nan_row, nan_ok, finite_ok);
		free(c);
		gram_run_free(&g);
	}
	/* The sum is made from 0, then added to c: 16 products of 1 onto 2^27 (whose ulp is 16) give
	 * 2^27 + 16; added one at a time each would round away. */
	{
		struct gram_run g;
		gram_run_make(&g, k, r, k->mr, k->nr, 16);
		for (size_t p = 0; p < g.kc; p++) {
			for (size_t i = 0; i < g.mr; i++)
				g.a[p * g.a_stride + i] = 1.0f;
			for (size_t j = 0; j < g.nc; j++)
				g.b[p * g.b_stride + j] = 1.0f;
		}
		for (size_t i = 0; i < g.mr; i++)
			for (size_t j = 0; j < g.nc; j++)
				g.c[i * g.c_stride + j] = 0x1p27f;
		float *c = gram_run_kernel(k, &g);
		size_t exact = 0;
		for (size_t i = 0; i < g.mr; i++)
			for (size_t j = 0; j < g.nc; j++)
				exact += c[i * g.c_stride + j] == 0x1p27f + 16.0f;
		CHECK(exact == g.mr * g.nc, "%s: %zu of %zu sums of 16 ones onto 2^27 are 2^27 + 16 (the sum made first, then added)",
		      k->name, exact, g.mr * g.nc);
		free(c);
		gram_run_free(&g);
	}
	printf("  %-28s %s %s\n", k->name, twin ? "vs the reference and its twin:" : "vs the reference:",
	       check_failed_count == failed_before ? "ok" : "FAILED");
}

/* 2x2 argmax pooling: c of 4 .. 96 channels (whole code bytes; whole vectors and tails), values
 * from a few levels (ties everywhere, -0 beside 0) and now and then a NaN, against the naive
 * window scan (first maximum in row-major order, strictly greater wins) and the twin, bit for bit;
 * the backward from random codes.  Outputs guarded: nothing written past them. */
#define ARGMAX_MAX_CHANNELS 96
#define ARGMAX_GUARD_BYTES 16

static float argmax_value(struct nst_rng *r) {
	static const float levels[] = {-1.0f, -0.0f, 0.0f, 0.5f, 1.0f, 2.0f};
	const size_t i = rng_range(r, 0, 40);
	return i == 0 ? NAN : i < 8 ? rng_float(r) : levels[i % (sizeof levels / sizeof levels[0])];
}

static void check_argmaxpool_kernel(const struct nst_argmaxpool_kernel *k, const struct nst_argmaxpool_kernel *twin,
                                    struct nst_rng *r, int cases) {
	const int failed_before = check_failed_count;
	for (int n = 0; n < cases && check_failed_count - failed_before < 10; n++) {
		const size_t c = NST_ARGMAX_CODES_PER_BYTE * rng_range(r, 1, ARGMAX_MAX_CHANNELS / NST_ARGMAX_CODES_PER_BYTE);
		const size_t bytes = c / NST_ARGMAX_CODES_PER_BYTE, gap = rng_range(r, 0, 5); /* r1 after r0's two pixels */
		float *in = xmalloc((4 * c + gap) * sizeof(float));
		for (size_t i = 0; i < 4 * c + gap; i++)
			in[i] = argmax_value(r);
		const float *r0 = in, *r1 = in + 2 * c + gap;
		struct guarded go, gt;
		float *out = guarded_alloc(&go, c), *outt = guarded_alloc(&gt, c);
		uint8_t *codes = xmalloc(bytes + ARGMAX_GUARD_BYTES), *codest = xmalloc(bytes + ARGMAX_GUARD_BYTES);
		memset(codes, 0xa5, bytes + ARGMAX_GUARD_BYTES);
		memset(codest, 0xa5, bytes + ARGMAX_GUARD_BYTES);
		k->forward(c, r0, r1, out, codes);
		if (twin)
			twin->forward(c, r0, r1, outt, codest);
		size_t bad = 0;
		for (size_t ch = 0; ch < c; ch++) {
			const float v[4] = {r0[ch], r0[c + ch], r1[ch], r1[c + ch]};
			unsigned code = 0;
			for (unsigned p = 1; p < 4; p++)
				code = v[p] > v[code] ? p : code;
			const unsigned got = (codes[ch / 4] >> (2 * (ch % 4))) & 3u;
			bad += got != code || float_bits(out[ch]) != float_bits(v[code]);
			bad += twin && float_bits(outt[ch]) != float_bits(out[ch]);
		}
		for (size_t i = 0; i < bytes + ARGMAX_GUARD_BYTES; i++)
			bad += (i >= bytes && codes[i] != 0xa5) || (twin && codest[i] != codes[i]);
		CHECK(bad == 0, "%s forward, %zu channels: %zu wrong", k->name, c, bad);
		guarded_free(&go);
		guarded_free(&gt);

		/* backward: g routed by random codes, zeros elsewhere */
		for (size_t i = 0; i < bytes; i++)
			codes[i] = (uint8_t)rng_range(r, 0, 255);
		struct guarded g0, g1, t0, t1;
		float *d0 = guarded_alloc(&g0, 2 * c), *d1 = guarded_alloc(&g1, 2 * c);
		float *e0 = guarded_alloc(&t0, 2 * c), *e1 = guarded_alloc(&t1, 2 * c);
		k->backward(c, in, codes, d0, d1);
		if (twin)
			twin->backward(c, in, codes, e0, e1);
		bad = 0;
		for (size_t ch = 0; ch < c; ch++) {
			const unsigned code = (codes[ch / 4] >> (2 * (ch % 4))) & 3u;
			const float *d[4] = {d0 + ch, d0 + c + ch, d1 + ch, d1 + c + ch}, *e[4] = {e0 + ch, e0 + c + ch, e1 + ch, e1 + c + ch};
			for (unsigned p = 0; p < 4; p++) {
				bad += float_bits(*d[p]) != float_bits(p == code ? in[ch] : 0.0f);
				bad += twin && float_bits(*e[p]) != float_bits(*d[p]);
			}
		}
		CHECK(bad == 0, "%s backward, %zu channels: %zu wrong", k->name, c, bad);
		guarded_free(&g0);
		guarded_free(&g1);
		guarded_free(&t0);
		guarded_free(&t1);
		free(codes);
		free(codest);
		free(in);
	}
	printf("  %-28s %s %d cases\n", k->name, twin ? "vs the reference and its twin," : "vs the reference,", cases);
}

#define DWCONV_TOL 1e-5
#define DWCONV_MAX_TAPS 20
#define DWCONV_SIDE 3 /* the 3 x 3 kernels' rows */
#define DWCONV_SLIDE_PIXELS 70 /* beyond two of the sliding path's chunks (32 pixels) and a ragged rest */

static void check_dwconv_kernel(const struct nst_dwconv_kernel *k, const struct nst_dwconv_kernel *twin, struct nst_rng *r,
                                int cases) {
	static const size_t per_group[][2] = {{1, 1}, {2, 1}, {1, 2}}; /* cig, cog */
	const int failed_before = check_failed_count;
	for (int t = 0; t < cases && check_failed_count - failed_before < 10; t++) {
		const size_t kind = rng_range(r, 0, 2), cig = per_group[kind][0], cog = per_group[kind][1];
		/* a whole number of groups (cog outputs each), a multiple of what the member takes */
		const size_t unit = k->outputs_multiple % cog ? k->outputs_multiple * cog : k->outputs_multiple;
		const size_t outputs = unit * rng_range(r, 1, unit > 2 ? 8 : 70);
		const size_t lanes = outputs * cig, cin = lanes / cog;
		/* a third of the cases a 3 x 3 kernel's rows of three pixels one step apart (the members' sliding path) */
		const bool slide = rng_range(r, 0, 2) == 0;
		const size_t pixels = rng_range(r, 1, slide ? DWCONV_SLIDE_PIXELS : 19);
		const size_t taps = slide ? DWCONV_SIDE * DWCONV_SIDE : rng_range(r, 1, DWCONV_MAX_TAPS);
		/* the last pixel's last read ends at the guard page: span is exactly what the taps reach */
		const size_t step = cin + rng_range(r, 0, 5), reach = slide ? (2 * DWCONV_SIDE - 1) * step : taps * 3;
		const size_t span = (pixels - 1) * step + reach + cin, out_step = outputs + rng_range(r, 0, 3);
		const size_t out_n = (pixels - 1) * out_step + outputs;
		struct guarded gin, gout;
		float *in = guarded_alloc(&gin, span), *out = guarded_alloc(&gout, out_n);
		float *w = xmalloc(taps * lanes * sizeof(float)), *bias = xmalloc(outputs * sizeof(float));
		const float *inputs[DWCONV_MAX_TAPS], *weights[DWCONV_MAX_TAPS];
		for (size_t i = 0; i < span; i++)
			in[i] = rng_float(r);
		for (size_t i = 0; i < taps * lanes; i++)
			w[i] = rng_float(r);
		for (size_t c = 0; c < outputs; c++)
			bias[c] = rng_float(r);
		for (size_t i = 0; i < taps; i++) {
			if (slide) { /* rows anywhere below the last one's start, which reads up to the end */
				const size_t ky = i / DWCONV_SIDE, kx = i % DWCONV_SIDE, last = reach - (DWCONV_SIDE - 1) * step;
				const size_t row = ky == DWCONV_SIDE - 1 ? last : rng_range(r, 0, last);
				inputs[i] = kx == 0 ? in + row : inputs[i - 1] + step;
			} else {
				inputs[i] = in + (i == 0 ? reach : rng_range(r, 0, reach)); /* tap 0 reads up to the end */
			}
			weights[i] = w + i * lanes;
		}
		for (size_t i = 0; i < out_n; i++)
			out[i] = NAN; /* the gaps between pixels stay untouched */
		const bool relu = rng_range(r, 0, 1) != 0;
		const struct nst_f32_minmax_params params = {relu ? 0.0f : -INFINITY, INFINITY};
		k->fn(pixels, outputs, cig, cog, taps, inputs, step, weights, bias, out, out_step, &params);
		double worst = 0.0;
		size_t gaps_written = 0;
		for (size_t i = 0; i < out_n; i++)
			gaps_written += i % out_step >= outputs && !isnan(out[i]);
		for (size_t p = 0; p < pixels; p++)
			for (size_t o = 0; o < outputs; o++) {
				double want = bias[o], mag = fabs(bias[o]);
				for (size_t j = 0; j < cig; j++) {
					const size_t l = o * cig + j;
					for (size_t i = 0; i < taps; i++) {
						const double v = (double)weights[i][l] * inputs[i][p * step + l / cog];
						want += v;
						mag += fabs(v);
					}
				}
				want = relu && want < 0 ? 0 : want;
				const double got = out[p * out_step + o], d = fabs(got - want) / (mag + 1e-6);
				worst = isnan(got) ? INFINITY : d > worst ? d : worst;
			}
		CHECK(worst <= DWCONV_TOL && gaps_written == 0,
		      "%s pixels %zu outputs %zu (step %zu) cig %zu cog %zu taps %zu%s step %zu: relative error %.3g, %zu "
		      "floats between pixels written",
		      k->name, pixels, outputs, out_step, cig, cog, taps, slide ? " (3 x 3 rows)" : "", step, worst, gaps_written);
		if (slide && cog == 1) { /* the same bits as the general pass: tap 1 read from a copy, so not sliding */
			float *copy = xmalloc(span * sizeof(float)), *general = xmalloc(out_n * sizeof(float));
			memcpy(copy, in, span * sizeof(float));
			const float *moved[DWCONV_MAX_TAPS];
			memcpy(moved, inputs, taps * sizeof(inputs[0]));
			moved[1] = copy + (inputs[1] - in);
			k->fn(pixels, outputs, cig, cog, taps, moved, step, weights, bias, general, out_step, &params);
			size_t differ = 0;
			for (size_t i = 0; i < out_n; i++)
				differ += i % out_step < outputs && memcmp(&general[i], &out[i], sizeof(float)) != 0;
			CHECK(differ == 0, "%s pixels %zu outputs %zu cig %zu: %zu outputs of the sliding path differ from the "
			      "general pass's bits", k->name, pixels, outputs, cig, differ);
			free(copy);
			free(general);
		}
		if (twin) {
			float *again = xmalloc(out_n * sizeof(float));
			twin->fn(pixels, outputs, cig, cog, taps, inputs, step, weights, bias, again, out_step, &params);
			double apart = 0.0;
			for (size_t i = 0; i < out_n; i++)
				if (i % out_step < outputs)
					apart = fmax(apart, fabs((double)again[i] - out[i]) / (1.0 + fabs((double)again[i])));
			CHECK(apart <= DWCONV_TOL, "%s vs %s: %.3g apart", k->name, twin->name, apart);
			free(again);
		}
		guarded_free(&gin);
		guarded_free(&gout);
		free(w);
		free(bias);
	}
	printf("  %-28s %s %d cases\n", k->name, twin ? "vs the reference and its twin," : "vs the reference,", cases);
}

/* ---------------------------------------------------------------------------------------------
 * Instance-norm kernels: sums against double sums here (every ISA's bit for bit: the same order,
 * exact squares), affine against a double reference and the twin; ragged channels, NaN under ReLU.
 * ------------------------------------------------------------------------------------------- */
#define NORM_AFFINE_TOL 1e-6

static void check_norm_kernel(const struct nst_norm_kernel *k, const struct nst_norm_kernel *twin, struct nst_rng *r,
                              int cases) {
	const int failed_before = check_failed_count;
	for (int t = 0; t < cases && check_failed_count - failed_before < 10; t++) {
		const size_t c = rng_range(r, 0, 3) ? rng_range(r, 1, 40) : rng_range(r, 1, 140), n = rng_range(r, 1, 50);
		const float offset = 100.0f * rng_float(r);
		struct guarded gx, gy;
		float *x = guarded_alloc(&gx, n * c);
		for (size_t i = 0; i < n * c; i++)
			x[i] = offset + rng_float(r);
		/* sums: start from random values, as a run continues its slot's sums */
		double *sum = xmalloc(c * sizeof(double)), *sq = xmalloc(c * sizeof(double));
		double *want_sum = xmalloc(c * sizeof(double)), *want_sq = xmalloc(c * sizeof(double));
		for (size_t ch = 0; ch < c; ch++) {
			sum[ch] = want_sum[ch] = (double)rng_float(r);
			sq[ch] = want_sq[ch] = 1.0 + (double)rng_float(r);
		}
		k->sums(n, c, x, sum, sq);
		for (size_t p = 0; p < n; p++)
			for (size_t ch = 0; ch < c; ch++) {
				const double v = (double)x[p * c + ch];
				want_sum[ch] += v;
				want_sq[ch] += v * v;
			}
		CHECK(memcmp(sum, want_sum, c * sizeof(double)) == 0 && memcmp(sq, want_sq, c * sizeof(double)) == 0,
		      "%s sums n=%zu c=%zu: differ from the double sums in order", k->name, n, c);
		/* affine: every combination of addend and relu, in place or not */
		const bool relu = rng_range(r, 0, 1) != 0, add = rng_range(r, 0, 1) != 0, in_place = rng_range(r, 0, 1) != 0;
		float *scale = xmalloc(c * sizeof(float)), *shift = xmalloc(c * sizeof(float));
		float *addend = xmalloc(n * c * sizeof(float)), *y = guarded_alloc(&gy, n * c);
		float *y_twin = xmalloc(n * c * sizeof(float));
		for (size_t ch = 0; ch < c; ch++) {
			scale[ch] = rng_float(r);
			shift[ch] = 2.0f * rng_float(r);
		}
		for (size_t i = 0; i < n * c; i++)
			addend[i] = rng_float(r);
		if (relu)
			x[rng_range(r, 0, n * c - 1)] = NAN;
		float *x0 = xmalloc(n * c * sizeof(float));
		memcpy(x0, x, n * c * sizeof(float));
		if (in_place)
			memcpy(y, x, n * c * sizeof(float));
		k->affine(n, c, in_place ? y : x, scale, shift, add ? addend : NULL, relu, y);
		if (twin) {
			memcpy(y_twin, x0, n * c * sizeof(float));
			twin->affine(n, c, y_twin, scale, shift, add ? addend : NULL, relu, y_twin);
		}
		size_t bad = 0;
		for (size_t p = 0; p < n; p++)
			for (size_t ch = 0; ch < c; ch++) {
				const size_t i = p * c + ch;
				double want = (double)x0[i] * scale[ch] + shift[ch] + (add ? (double)addend[i] : 0.0);
				if (relu)
					want = want > 0 ? want : 0; /* NaN gives 0 */
				const double mag =
				    fabs((double)x0[i] * scale[ch]) + fabs((double)shift[ch]) + (add ? fabs((double)addend[i]) : 0) + 1;
				const double got = (double)y[i];
				if (isnan(x0[i])) { /* NaN: 0 under ReLU (relu is set whenever x holds a NaN) */
					bad += got != 0.0 || (twin && y_twin[i] != 0.0f);
					continue;
				}
				bad += !(fabs(got - want) <= NORM_AFFINE_TOL * mag);
				if (twin)
					bad += !(fabs(got - (double)y_twin[i]) <= NORM_AFFINE_TOL * mag);
			}
		CHECK(bad == 0, "%s affine n=%zu c=%zu relu=%d addend=%d in place=%d: %zu values wrong", k->name, n, c, relu, add,
		      in_place, bad);
		free(x0);
		free(y_twin);
		free(addend);
		free(scale);
		free(shift);
		free(sum);
		free(sq);
		free(want_sum);
		free(want_sq);
		guarded_free(&gx);
		guarded_free(&gy);
	}
	printf("  %-28s %s %d cases\n", k->name, twin ? "vs the reference and its twin," : "vs the reference,", cases);
}

int main(void) {
	const uint64_t seed = support_seed("test_kernels");
	struct nst_rng r;
	nst_rng_seed(&r, seed);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	printf("cpu: avx2 %d fma %d avx512f %d f16c %d neon %d neon_fp16 %d\n", cpu.avx2, cpu.fma, cpu.avx512f, cpu.f16c,
	       cpu.neon, cpu.neon_fp16);
	/* Every SIMD configuration this CPU runs, each family against its scalar twin. */
	const struct nst_kernel_config *configs[8];
	const size_t pairs = nst_kernel_configs(&cpu, false, configs, 8);
	const struct nst_gemm_kernel *simd[8], *twin[8];
	for (size_t i = 0; i < pairs; i++) {
		simd[i] = &configs[i]->gemm;
		twin[i] = &configs[i]->twin->gemm;
	}
	printf("best kernel: %s; %zu SIMD kernel configurations\n", nst_gemm_kernel_best(&cpu)->name, pairs);
	check_configs(&cpu);

	check_tables(&cpu, simd, twin, pairs);
	check_pack_example();
	check_pack_random(&r, 200);

	static const struct nst_gemm_kernel scalars[] = {
		{"nst_f32_gemm_4x8__scalar", nst_f32_gemm_4x8__scalar, 4, 8, false, false, NULL, NULL, NULL},
		{"nst_f32_gemm_6x16__scalar", nst_f32_gemm_6x16__scalar, 6, 16, false, false, NULL, NULL, NULL},
		{"nst_f32_gemm_8x8__scalar", nst_f32_gemm_8x8__scalar, 8, 8, false, false, NULL, NULL, NULL},
		{"nst_f32_gemm_8x32__scalar", nst_f32_gemm_8x32__scalar, 8, 32, false, false, NULL, NULL, NULL},
	};
	printf("scalar twins against the double reference:\n");
	for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
		check_kernel(&scalars[i], NULL, &r, 150, NULL);
		check_nan_propagation(&scalars[i], &r);
		check_page_guards(&scalars[i], &r, 20);
	}
	printf("SIMD kernels against the double reference and their twins:\n");
	for (size_t i = 0; i < pairs; i++) {
		check_kernel(simd[i], twin[i], &r, 300, NULL);
		check_nan_propagation(simd[i], &r);
		check_page_guards(simd[i], &r, 40);
	}

	const struct nst_kernel_config *f16_configs[4];
	const size_t f16_pairs = nst_kernel_configs(&cpu, true, f16_configs, 4);
	const struct nst_gemm_kernel *f16_simd[4], *f16_twin[4];
	for (size_t i = 0; i < f16_pairs; i++) {
		f16_simd[i] = &f16_configs[i]->gemm;
		f16_twin[i] = &f16_configs[i]->twin->gemm;
	}
	const struct nst_gemm_kernel *f16_scalar = nst_gemm_kernel_f16(NULL, true);
	check_f16_tables(&cpu, f16_simd, f16_twin, f16_pairs);
	printf("float16 scalar twin against the double reference on float16-rounded inputs:\n");
	if (f16_scalar) {
		check_f16_pack(f16_scalar, &r, 200);
		check_kernel(f16_scalar, NULL, &r, 150, NULL);
		check_nan_propagation(f16_scalar, &r);
		check_page_guards(f16_scalar, &r, 20);
	}
	printf("float16 SIMD kernels against the double reference and their twins (%zu pairs):\n", f16_pairs);
	for (size_t i = 0; i < f16_pairs; i++) {
		struct twin_stats stats = {0, 0, 0.0};
		check_kernel(f16_simd[i], f16_twin[i], &r, 300, &stats);
		const double identical = stats.outputs ? (double)stats.identical / (double)stats.outputs : 0.0;
		CHECK(identical >= F16_MIN_IDENTICAL, "%s: %zu of %zu outputs bit for bit its twin's (%.4f, want >= %.2f)",
		      f16_simd[i]->name, stats.identical, stats.outputs, identical, F16_MIN_IDENTICAL);
		printf("    %zu of %zu outputs bit for bit the twin's (%.2f%%), largest difference %.2f ulps (tolerance %.0f)\n",
		       stats.identical, stats.outputs, 100.0 * identical, stats.worst_ulps, F16_TWIN_ULPS);
		check_nan_propagation(f16_simd[i], &r);
		check_page_guards(f16_simd[i], &r, 40);
	}

	const struct nst_dot_kernel *dot_simd[8], *dot_twin[8];
	const size_t dot_pairs = pairs;
	for (size_t i = 0; i < pairs; i++) {
		dot_simd[i] = &configs[i]->dot;
		dot_twin[i] = &configs[i]->twin->dot;
	}
	check_dot_tables(&cpu, dot_simd, dot_twin, dot_pairs, pairs, simd);
	check_dot_pack_example();
	static const struct nst_dot_kernel dot_scalars[] = {
		{"nst_f32_dot_4x4__scalar", nst_f32_dot_4x4__scalar, 4, 4},
		{"nst_f32_dot_8x4__scalar", nst_f32_dot_8x4__scalar, 8, 4},
	};
	printf("small-N scalar twins against the double reference:\n");
	for (size_t i = 0; i < sizeof(dot_scalars) / sizeof(dot_scalars[0]); i++)
		check_dot_kernel(&dot_scalars[i], NULL, &r, 150);
	printf("small-N SIMD kernels against the double reference and their twins:\n");
	for (size_t i = 0; i < dot_pairs; i++)
		check_dot_kernel(dot_simd[i], dot_twin[i], &r, 300);

	const struct nst_mask_kernel *scalar_mask = nst_mask_kernel_for(nst_gemm_kernel_scalar());
	printf("ReLU mask kernels:\n");
	check_mask_kernel(scalar_mask, NULL, &r, 200);
	for (size_t i = 0; i < pairs; i++) {
		const struct nst_mask_kernel *k = &configs[i]->mask, *t = &configs[i]->twin->mask;
		CHECK(!strcmp(t->name, scalar_mask->name) && t->pack == scalar_mask->pack && t->apply == scalar_mask->apply,
		      "%s's twin is the scalar mask kernel", k->name);
		CHECK(!strstr(k->name, "scalar"), "%s runs beside a SIMD mask kernel (%s)", simd[i]->name, k->name);
		check_mask_kernel(k, t, &r, 400);
	}

	const struct nst_wino_kernel *scalar_wino = nst_wino_kernel_for(nst_gemm_kernel_scalar());
	printf("Winograd transforms:\n");
	CHECK(scalar_wino->input23 == nst_f32_wino23_input__scalar && scalar_wino->input33 == nst_f32_wino33_input__scalar &&
	              scalar_wino->output33 == nst_f32_wino33_output__scalar &&
	              scalar_wino->output43 == nst_f32_wino43_output__scalar &&
	              scalar_wino->rowmix == nst_f32_rowmix__scalar && scalar_wino->transpose == nst_f32_transpose__scalar,
	      "the scalar GEMM kernel's transforms are the scalar ones");
	check_wino_kernel(scalar_wino, NULL, &r, 300);
	check_lanes_kernels(scalar_wino, NULL, &r, 300);
	for (size_t i = 0; i < pairs; i++) {
		const struct nst_wino_kernel *k = &configs[i]->wino, *t = &configs[i]->twin->wino;
		CHECK(!strcmp(t->name, scalar_wino->name) && t->input23 == scalar_wino->input23 &&
		          t->output43 == scalar_wino->output43 && t->rowmix == scalar_wino->rowmix &&
		          t->transpose == scalar_wino->transpose && !strstr(k->name, "scalar"),
		      "%s (beside %s) has the scalar set as its twin", k->name, simd[i]->name);
		check_wino_kernel(k, t, &r, 500);
		check_lanes_kernels(k, t, &r, 500);
	}

	const struct nst_norm_kernel *scalar_norm = nst_norm_kernel_for(nst_gemm_kernel_scalar());
	printf("instance-norm kernels:\n");
	check_norm_kernel(scalar_norm, NULL, &r, 300);
	for (size_t i = 0; i < pairs; i++) {
		const struct nst_norm_kernel *k = &configs[i]->norm, *t = &configs[i]->twin->norm;
		CHECK(!strcmp(t->name, scalar_norm->name) && t->sums == scalar_norm->sums && t->affine == scalar_norm->affine &&
		          !strstr(k->name, "scalar"),
		      "%s (beside %s) has the scalar set as its twin", k->name, simd[i]->name);
		check_norm_kernel(k, t, &r, 500);
	}

	const struct nst_dwconv_kernel *scalar_dwconv = nst_dwconv_kernel_for(nst_gemm_kernel_scalar());
	printf("tap-list convolution kernels:\n");
	CHECK(scalar_dwconv->fn == nst_f32_dwconv__scalar, "the scalar GEMM kernel's tap-list kernel is the scalar one");
	check_dwconv_kernel(scalar_dwconv, NULL, &r, 300);
	for (size_t i = 0; i < pairs; i++) {
		const struct nst_dwconv_kernel *k = &configs[i]->dwconv, *t = &configs[i]->twin->dwconv;
		CHECK(t->fn == scalar_dwconv->fn && !strstr(k->name, "scalar"), "%s (beside %s) has the scalar one as its twin",
		      k->name, simd[i]->name);
		check_dwconv_kernel(k, t, &r, 500);
	}

	static const struct nst_gram_kernel gram_scalars[] = {
		{"nst_f32_gram_4x8__scalar", nst_f32_gram_4x8__scalar, 4, 8},
		{"nst_f32_gram_6x16__scalar", nst_f32_gram_6x16__scalar, 6, 16},
		{"nst_f32_gram_8x8__scalar", nst_f32_gram_8x8__scalar, 8, 8},
		{"nst_f32_gram_8x32__scalar", nst_f32_gram_8x32__scalar, 8, 32},
	};
	printf("Gram-tile kernels:\n");
	CHECK(nst_gram_kernel_for(nst_gemm_kernel_scalar())->fn == nst_f32_gram_4x8__scalar,
	      "the scalar GEMM kernel's Gram tiles are the scalar 4x8 ones");
	for (size_t i = 0; i < sizeof(gram_scalars) / sizeof(gram_scalars[0]); i++)
		check_gram_kernel(&gram_scalars[i], NULL, &r, 100);
	for (size_t i = 0; i < pairs; i++) {
		const struct nst_gram_kernel *k = &configs[i]->gram, *t = &configs[i]->twin->gram;
		CHECK(strstr(t->name, "scalar") && !strstr(k->name, "scalar") && t->mr == k->mr && t->nr == k->nr,
		      "%s (beside %s) has a scalar twin of its tile (%s)", k->name, simd[i]->name, t->name);
		check_gram_kernel(k, t, &r, 300);
	}

	const struct nst_argmaxpool_kernel *scalar_argmax = nst_argmaxpool_kernel_for(nst_gemm_kernel_scalar());
	printf("argmax pooling kernels:\n");
	CHECK(scalar_argmax->forward == nst_f32_argmaxpool__scalar && scalar_argmax->backward == nst_f32_argmaxpool_backward__scalar,
	      "the scalar GEMM kernel's argmax pooling is the scalar one");
	check_argmaxpool_kernel(scalar_argmax, NULL, &r, 200);
	for (size_t i = 0; i < pairs; i++) {
		const struct nst_argmaxpool_kernel *k = &configs[i]->argmaxpool, *t = &configs[i]->twin->argmaxpool;
		CHECK(t->forward == scalar_argmax->forward && !strstr(k->name, "scalar"), "%s (beside %s) has the scalar one as its twin",
		      k->name, simd[i]->name);
		check_argmaxpool_kernel(k, t, &r, 300);
	}

	printf("%.2f s\n", seconds_since(&t0));
	if (check_failed_count)
		printf("test_kernels: FAILED; rerun with NST_TEST_SEED=%" PRIu64 "\n", seed);
	return check_finish("test_kernels");
}
