/*
 * Int8 GEMM microkernels (qu8s8, arch/kernels.h): the packing against the float weights it
 * quantizes, the scalar twins against an int64 reference that reads the packed panels by their
 * documented layout, every SIMD kernel this CPU runs against its twin bit for bit (ragged mr, nc
 * and kc, padded strides, page-guarded a, c guarded around [mr][nc]), the activations'
 * quantization (range, parameters, rows quantized in place), and the int8 configuration table.
 *
 * NST_TEST_SEED=N reproduces a run; the seed is printed first.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "kernels.h"
#include "support.h"

static size_t rng_range(struct nst_rng *r, size_t lo, size_t hi) { return lo + (size_t)(nst_rng_next(r) % (hi - lo + 1)); }

static uint32_t float_bits(float f) {
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

/* ---- Packing ---------------------------------------------------------------------------------- */

/* A quantized weight's distance from its float, in steps, beyond the half step: three float
 * roundings of quotients up to 127 (seen: 0.5000133 steps at seed 1796647234347267447). */
#define QUANT_SLACK (3.0f * 127.0f * FLT_EPSILON)

/* The int8 weight of row kk, column j of panel-width nr packing (the contract's layout). */
static int8_t packed_weight(const float *packed, size_t k, size_t nr, size_t kk, size_t col) {
	const size_t panel = col / nr, j = col % nr;
	const float *p = packed + panel * nst_qu8s8_gemm_packed_floats(k, nr, nr);
	const int8_t *q = (const int8_t *)(const void *)(p + 3 * nr);
	return q[(kk / 4 * nr + j) * 4 + kk % 4];
}

static void check_pack(struct nst_rng *r, size_t k, size_t n, size_t nr) {
	const size_t ld = n + rng_range(r, 0, 3);
	float *w = xmalloc(k * ld * sizeof(float)), *bias = xmalloc(n * sizeof(float));
	fill_uniform(r, w, k * ld, -2.0, 2.0);
	fill_uniform(r, bias, n, -5.0, 5.0);
	if (n > 1) /* an all-zero column: scale 1, weights 0 */
		for (size_t kk = 0; kk < k; kk++)
			w[kk * ld + 1] = 0.0f;
	const size_t floats = nst_qu8s8_gemm_packed_floats(k, n, nr);
	CHECK(floats == (n + nr - 1) / nr * (3 * nr + (k + 3) / 4 * nr), "packed floats for k %zu n %zu nr %zu", k, n, nr);
	float *packed = galloc(floats);
	nst_qu8s8_gemm_pack(k, n, nr, w, ld, bias, packed);
	CHECK(guard_ok(packed, floats), "the packer writes only its %zu floats", floats);
	int bad = 0;
	for (size_t col = 0; col < (n + nr - 1) / nr * nr; col++) {
		const float *p = packed + col / nr * nst_qu8s8_gemm_packed_floats(k, nr, nr);
		const size_t j = col % nr;
		int32_t wsum;
		memcpy(&wsum, p + j, sizeof wsum);
		const float scale = p[nr + j], b = p[2 * nr + j];
		float most = 0.0f;
		int32_t sum = 0;
		for (size_t kk = 0; kk < (k + 3) / 4 * 4; kk++) {
			const int8_t q = packed_weight(packed, k, nr, kk, col);
			sum += q;
			if (kk >= k || col >= n) {
				bad += q != 0; /* padding: zero weights */
				continue;
			}
			const float x = w[kk * ld + col];
			most = fmaxf(most, fabsf(x));
			/* within half a step, but for float rounding: the packer rounds x * (1 / scale), two
			 * roundings of a quotient up to 127, and q * scale - x here a third */
			bad += q < -127 || fabsf((float)q * scale - x) > (0.5f + QUANT_SLACK) * scale;
		}
		bad += sum != wsum;
		if (col >= n)
			bad += b != 0.0f;
		else
			bad += b != bias[col] || (most > 0.0f ? fabsf(scale - most / 127.0f) > 1e-6f * most : scale != 1.0f);
	}
	CHECK(bad == 0, "packing k %zu n %zu nr %zu: %d bad entries", k, n, nr, bad);
	free(w);
	free(bias);
	free(packed);
}

/* ---- Kernels ---------------------------------------------------------------------------------- */

struct qcase {
	size_t mr, nc, kc, a_stride, c_stride;
	struct guarded ga;
	const uint8_t *a; /* [mr][a_stride], the last row ending at an inaccessible page */
	float *w;         /* packed, nc columns */
	struct nst_qu8_gemm_params params;
};

static void make_qcase(struct nst_rng *r, struct qcase *t, size_t mr, size_t nc, size_t kc, size_t nr) {
	t->mr = mr;
	t->nc = nc;
	t->kc = kc;
	t->a_stride = kc + rng_range(r, 0, 9);
	t->c_stride = nc + rng_range(r, 0, 5);
	const size_t bytes = (mr - 1) * t->a_stride + kc, floats = (bytes + 3) / 4;
	float *base = guarded_alloc(&t->ga, floats);
	uint8_t *a = (uint8_t *)(void *)base + floats * 4 - bytes;
	fill_bytes(r, a, bytes);
	t->a = a;
	float *wf = xmalloc(kc * nc * sizeof(float)), *bias = xmalloc(nc * sizeof(float));
	fill_uniform(r, wf, kc * nc, -1.0, 1.0);
	fill_uniform(r, bias, nc, -3.0, 3.0);
	t->w = xmalloc(nst_qu8s8_gemm_packed_floats(kc, nc, nr) * sizeof(float));
	nst_qu8s8_gemm_pack(kc, nc, nr, wf, nc, bias, t->w);
	free(wf);
	free(bias);
	const int clamp = (int)rng_range(r, 0, 2); /* none, ReLU, both sides */
	t->params.min = clamp == 0 ? -INFINITY : (clamp == 1 ? 0.0f : -0.5f);
	t->params.max = clamp == 2 ? 0.5f : INFINITY;
	t->params.a_scale = (float)urand(r, 0.001, 0.05);
	t->params.a_zero = (int32_t)rng_range(r, 0, 255);
}

static void free_qcase(struct qcase *t) {
	guarded_free(&t->ga);
	free(t->w);
}

/* c [mr][c_stride] plus a guard row, all poison; the kernel's output. */
static float *run_q(const struct nst_gemm_kernel *k, const struct qcase *t, size_t *floats) {
	*floats = (t->mr + 1) * t->c_stride;
	float *c = galloc(*floats);
	k->qfn(t->mr, t->nc, t->kc, t->a, t->a_stride, t->w, c, t->c_stride, &t->params);
	return c;
}

static float clampf(float v, float lo, float hi) {
	v = v < lo ? lo : v;
	return v > hi ? hi : v;
}

/* The contract in int64 from the packed layout. */
static float reference(const struct qcase *t, size_t nr, size_t i, size_t col) {
	const float *p = t->w + col / nr * nst_qu8s8_gemm_packed_floats(t->kc, nr, nr);
	const size_t j = col % nr;
	int64_t acc = 0, wsum = 0;
	for (size_t kk = 0; kk < t->kc; kk++) {
		const int8_t q = packed_weight(t->w, t->kc, nr, kk, col);
		acc += (int64_t)t->a[i * t->a_stride + kk] * q;
		wsum += q;
	}
	const float sum = (float)(acc - (int64_t)t->params.a_zero * wsum);
	return clampf(fmaf(sum, t->params.a_scale * p[nr + j], p[2 * nr + j]), t->params.min, t->params.max);
}

/* Checks c: [mr][nc] as want() says, everything else still poison. */
static int check_output(const struct qcase *t, const float *c, size_t floats, const float *want) {
	int bad = 0;
	for (size_t e = 0; e < floats; e++) {
		const size_t i = e / t->c_stride, j = e % t->c_stride;
		if (i < t->mr && j < t->nc)
			bad += float_bits(c[e]) != float_bits(want[i * t->nc + j]);
		else
			bad += float_bits(c[e]) != SUPPORT_POISON_BITS;
	}
	return bad + !guard_ok(c, floats);
}

static void check_kernel(const struct nst_gemm_kernel *k, const struct nst_gemm_kernel *twin, struct nst_rng *r,
                         int cases) {
	int failed = 0;
	for (int n = 0; n < cases && failed < 5; n++) {
		const size_t mr = rng_range(r, 1, k->mr);
		const size_t nc = n % 4 == 0 ? rng_range(r, 1, k->nr) : rng_range(r, 1, 3 * (size_t)k->nr + 5);
		const size_t kc = 4 * (n % 5 == 0 ? rng_range(r, 1, 4) : rng_range(r, 1, 300));
		struct qcase t;
		make_qcase(r, &t, mr, nc, kc, k->nr);
		float *want = xmalloc(mr * nc * sizeof(float));
		size_t floats;
		if (twin) {
			float *tc = run_q(twin, &t, &floats);
			for (size_t i = 0; i < mr; i++)
				memcpy(want + i * nc, tc + i * t.c_stride, nc * sizeof(float));
			free(tc);
		} else {
			for (size_t i = 0; i < mr; i++)
				for (size_t j = 0; j < nc; j++)
					want[i * nc + j] = reference(&t, k->nr, i, j);
		}
		float *c = run_q(k, &t, &floats);
		const int bad = check_output(&t, c, floats, want);
		CHECK(bad == 0, "%s vs %s: mr %zu nc %zu kc %zu a_stride %zu c_stride %zu a_zero %d: %d bad", k->name,
		      twin ? twin->name : "the int64 reference", mr, nc, kc, t.a_stride, t.c_stride, (int)t.params.a_zero, bad);
		failed += bad != 0;
		free(c);
		free(want);
		free_qcase(&t);
	}
}

/* ---- Activations ------------------------------------------------------------------------------ */

static void check_quantize(struct nst_rng *r) {
	struct nst_qu8_gemm_params p;
	nst_qu8_params_for_range(0.0f, 255.0f, &p);
	CHECK(p.a_scale == 1.0f && p.a_zero == 0, "a picture's 0..255: scale 1, zero 0 (got %g, %d)", p.a_scale, (int)p.a_zero);
	nst_qu8_params_for_range(2.0f, 5.1f, &p);
	CHECK(p.a_zero == 0 && fabsf(p.a_scale - 5.1f / 255.0f) < 1e-7f, "a positive range starts at 0");
	nst_qu8_params_for_range(-1.0f, 3.0f, &p);
	CHECK(p.a_zero == 64 && fabsf(p.a_scale - 4.0f / 255.0f) < 1e-7f, "[-1, 3]: zero 64 (got %d)", (int)p.a_zero);
	nst_qu8_params_for_range(-4.0f, -1.0f, &p);
	CHECK(p.a_zero == 255, "a negative range ends at 0 (zero %d)", (int)p.a_zero);
	nst_qu8_params_for_range(0.0f, 0.0f, &p);
	CHECK(p.a_scale == 1.0f && p.a_zero == 0, "an all-zero range");
	nst_qu8_params_for_range(NAN, NAN, &p);
	CHECK(p.a_scale == 1.0f && p.a_zero == 0, "a NaN range counts as 0");

	float lo, hi;
	const float xs[] = {3.0f, NAN, -2.5f, 7.0f, 0.5f};
	nst_f32_range__scalar(5, xs, &lo, &hi);
	CHECK(lo == -2.5f && hi == 7.0f, "range skips NaN: [%g, %g]", lo, hi);
	nst_f32_range__scalar(0, xs, &lo, &hi);
	CHECK(lo == INFINITY && hi == -INFINITY, "the range of nothing");

	for (int n = 0; n < 50; n++) {
		const size_t rows = rng_range(r, 1, 20), k = rng_range(r, 1, 70), lda = k + rng_range(r, 0, 6);
		const float a0 = (float)urand(r, -3.0, 0.5), a1 = (float)urand(r, 0.5, 6.0);
		float *a = xmalloc(rows * lda * sizeof(float)), *copy = xmalloc(rows * lda * sizeof(float));
		fill_uniform(r, a, rows * lda, a0, a1);
		memcpy(copy, a, rows * lda * sizeof(float));
		nst_f32_range__scalar(rows * lda, a, &lo, &hi);
		nst_qu8_params_for_range(lo, hi, &p);
		const uint8_t *q = nst_qu8_quantize_rows(nst_qu8_quantize__scalar, rows, k, a, lda, &p);
		const size_t kq = nst_qu8_k(k);
		int bad = 0;
		for (size_t i = 0; i < rows; i++)
			for (size_t j = 0; j < kq; j++) {
				const int v = q[i * kq + j];
				if (j >= k) {
					bad += v != p.a_zero;
					continue;
				}
				const float back = (float)(v - p.a_zero) * p.a_scale;
				bad += fabsf(back - copy[i * lda + j]) > 0.5f * p.a_scale * (1.0f + 1e-4f) + 1e-6f;
			}
		CHECK(bad == 0, "quantized in place: rows %zu k %zu lda %zu [%g, %g]: %d bytes off by more than half a step",
		      rows, k, lda, lo, hi, bad);
		free(a);
		free(copy);
	}
}

/* A SIMD configuration's range and quantize kernels against the scalar twins, bit for bit: ragged
 * lengths, unaligned starts, NaN and infinities, values beyond the range (clamped), and in place. */
static void check_quantize_kernels(const struct nst_gemm_kernel *k, struct nst_rng *r) {
	int bad = 0;
	for (int n = 0; n < 300; n++) {
		const size_t len = n < 40 ? (size_t)n : rng_range(r, 1, 700), off = rng_range(r, 0, 3);
		float *x = galloc(len + off), *copy = xmalloc((len + off + 1) * sizeof(float));
		fill_uniform(r, x + off, len, -4.0, 9.0);
		if (len > 3 && n % 3 == 0) {
			x[off + rng_range(r, 0, len - 1)] = NAN;
			x[off + rng_range(r, 0, len - 1)] = n % 2 ? INFINITY : -INFINITY;
		}
		float lo, hi, tlo, thi;
		k->range(len, x + off, &lo, &hi);
		nst_f32_range__scalar(len, x + off, &tlo, &thi);
		bad += float_bits(lo) != float_bits(tlo) || float_bits(hi) != float_bits(thi);
		struct nst_qu8_gemm_params p = {-INFINITY, INFINITY, 1.0f, 0};
		nst_qu8_params_for_range((float)urand(r, -3.0, 0.0), (float)urand(r, 0.1, 7.0), &p); /* clamps some */
		uint8_t *want = xmalloc(len + 1), *got = gbytes(len, 0);
		nst_qu8_quantize__scalar(len, x + off, want, &p);
		k->quantize(len, x + off, got, &p);
		bad += memcmp(want, got, len) != 0 || !gbytes_ok(got, len);
		memcpy(copy, x, (len + off) * sizeof(float));
		k->quantize(len, x + off, (uint8_t *)(void *)(x + off), &p); /* in place */
		bad += memcmp(want, x + off, len) != 0 || !guard_ok(x, len + off);
		free(x);
		free(copy);
		free(want);
		free(got);
	}
	CHECK(bad == 0, "%s's range and quantize kernels against the scalar twins: %d of 300 cases differ", k->name, bad);
}

/* ---- Tables ----------------------------------------------------------------------------------- */

static void check_tables(const struct nst_cpu_features *cpu, const struct nst_kernel_config **configs, size_t n) {
	const struct nst_kernel_config *s = nst_kernel_config_scalar_q8();
	CHECK(s->gemm.q8 && s->gemm.qfn && !s->gemm.fn && s->gemm.range == nst_f32_range__scalar &&
	          s->gemm.quantize == nst_qu8_quantize__scalar && s->twin == s && strstr(s->gemm.name, "nst_qu8s8_gemm_") == s->gemm.name,
	      "the scalar int8 configuration: %s", s->gemm.name);
	for (size_t i = 0; i < n; i++) {
		const struct nst_kernel_config *c = configs[i], *t = c->twin;
		CHECK(c->gemm.q8 && t->gemm.q8 && t->twin == t && c->gemm.mr == t->gemm.mr && c->gemm.nr == t->gemm.nr &&
		          c->dot.mr == t->dot.mr && strstr(t->gemm.name, "__scalar") && !strstr(c->gemm.name, "scalar") &&
		          !strstr(c->dot.name, "scalar") && !strstr(c->norm.name, "scalar") && nst_kernels_of(&c->gemm) == c &&
		          c->gemm.range != nst_f32_range__scalar && c->gemm.quantize != nst_qu8_quantize__scalar &&
		          t->gemm.range == nst_f32_range__scalar && t->gemm.quantize == nst_qu8_quantize__scalar,
		      "%s: an int8 SIMD configuration with its scalar twin %s", c->gemm.name, t->gemm.name);
	}
	const struct nst_cpu_features none = {0};
	CHECK(nst_kernel_configs_q8(&none, NULL, 8) == 0, "a CPU without features has no int8 SIMD kernels");
	CHECK(nst_kernel_configs_q8(NULL, NULL, 8) == n, "nst_kernel_configs_q8(NULL) detects the same CPU");
	CHECK(nst_kernel_configs_q8(cpu, NULL, 0) == 0, "capacity 0 stores nothing");
#if defined(__x86_64__)
	__builtin_cpu_init();
	const bool vnni = __builtin_cpu_supports("avx512vnni"), bw = __builtin_cpu_supports("avx512bw");
	const bool avxvnni = __builtin_cpu_supports("avxvnni");
	CHECK(cpu->avx512vnni == vnni && cpu->avx512bw == bw && cpu->avxvnni == avxvnni,
	      "nst_cpu_detect avx512vnni %d bw %d avxvnni %d, compiler runtime %d %d %d", cpu->avx512vnni, cpu->avx512bw,
	      cpu->avxvnni, vnni, bw, avxvnni);
	const bool zmm = vnni && bw && cpu->avx512f && cpu->avx2 && cpu->fma, ymm = avxvnni && cpu->avx2 && cpu->fma;
	CHECK(n == (size_t)zmm + (size_t)ymm, "x86: %zu int8 SIMD configurations", n);
	if (n) /* the fastest first */
		CHECK(configs[0]->gemm.qfn == (zmm ? nst_qu8s8_gemm_8x32__avx512vnni : nst_qu8s8_gemm_6x16__avxvnni), "x86: %s",
		      configs[0]->gemm.name);
	const struct nst_cpu_features no_vnni = {.avx2 = true, .fma = true, .avx512f = true, .avx512bw = true};
	CHECK(nst_kernel_configs_q8(&no_vnni, NULL, 8) == 0, "AVX-512 without VNNI: no int8 SIMD kernel");
	const struct nst_cpu_features client = {.avx2 = true, .fma = true, .avxvnni = true}; /* no AVX-512 */
	const struct nst_kernel_config *only;
	CHECK(nst_kernel_configs_q8(&client, &only, 1) == 1 && only->gemm.qfn == nst_qu8s8_gemm_6x16__avxvnni,
	      "AVX-VNNI without AVX-512: the 6x16 ymm kernel");
#elif defined(NST_HAVE_QU8S8_GEMM_NEONDOT)
	CHECK(cpu->neon_dot && n == 1 && configs[0]->gemm.qfn == nst_qu8s8_gemm_8x8__neondot, "dotprod build: %zu, %s", n,
	      n ? configs[0]->gemm.name : "-");
#else
	CHECK(n == 0 && !cpu->neon_dot, "no int8 SIMD kernels in this build (%zu)", n);
#endif
}

/* The engine and API side: which kernel set precision int8 resolves to, and its fallback. */
static void check_engine(size_t simd) {
	const struct nst_gemm_kernel *scalar = nst_engine_kernels(NST_BACKEND_SCALAR, NST_PRECISION_INT8);
	const struct nst_gemm_kernel *fast = nst_engine_kernels(NST_BACKEND_SIMD, NST_PRECISION_INT8);
	CHECK(scalar == &nst_kernel_config_scalar_q8()->gemm, "int8 scalar: the scalar int8 set");
	CHECK(simd ? fast && fast->q8 && fast != scalar : fast == NULL, "int8 simd: %s", fast ? fast->name : "none");
	CHECK(nst_engine_kernels(NST_BACKEND_XNNPACK, NST_PRECISION_INT8) == NULL, "int8 xnnpack: none");
	CHECK(nst_fast_precision_available(NST_BACKEND_SCALAR, NST_PRECISION_INT8) &&
	          nst_fast_precision_available(NST_BACKEND_SIMD, NST_PRECISION_INT8) == (simd > 0) &&
	          nst_fast_precision_available(NST_BACKEND_AUTO, NST_PRECISION_INT8) == (simd > 0) &&
	          !nst_fast_precision_available(NST_BACKEND_XNNPACK, NST_PRECISION_INT8) &&
	          !nst_precision_available(NST_BACKEND_SIMD, NST_PRECISION_INT8),
	      "int8 availability (one-pass: where the kernels are; the optimization: never)");
	CHECK(strcmp(nst_precision_name(NST_PRECISION_INT8), "int8") == 0, "nst_precision_name(int8)");
	struct nst_engine e;
	struct nst_diag diag;
	CHECK(nst_engine_init(&e, NST_BACKEND_SIMD, NST_PRECISION_INT8, 1, &diag) == NST_OK &&
	          e.precision == (simd ? NST_PRECISION_INT8 : NST_PRECISION_FP32) && e.gemm->q8 == (simd > 0),
	      "nst_engine_init int8: %s, %s", e.gemm->name, nst_precision_name(e.precision));
	CHECK(nst_engine_init(&e, NST_BACKEND_SCALAR, NST_PRECISION_INT8, 1, &diag) == NST_OK &&
	          e.precision == NST_PRECISION_INT8 && e.gemm == scalar,
	      "nst_engine_init scalar int8");
}

int main(void) {
	const uint64_t seed = support_seed("test_kernels_int8");
	struct nst_rng r;
	nst_rng_seed(&r, seed);
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	printf("cpu: avx512f %d avx512bw %d avx512vnni %d neon %d neon_dot %d\n", cpu.avx512f, cpu.avx512bw, cpu.avx512vnni,
	       cpu.neon, cpu.neon_dot);

	for (int n = 0; n < 40; n++)
		check_pack(&r, rng_range(&r, 1, 80), rng_range(&r, 1, 70), n % 2 ? 8 : 32);

	static const struct nst_gemm_kernel twins[] = {
		{"nst_qu8s8_gemm_8x8__scalar", NULL, 8, 8, false, true, nst_qu8s8_gemm_8x8__scalar, nst_f32_range__scalar,
		 nst_qu8_quantize__scalar},
		{"nst_qu8s8_gemm_8x32__scalar", NULL, 8, 32, false, true, nst_qu8s8_gemm_8x32__scalar, nst_f32_range__scalar,
		 nst_qu8_quantize__scalar},
	};
	for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++)
		check_kernel(&twins[i], NULL, &r, 150);

	const struct nst_kernel_config *configs[4];
	const size_t n = nst_kernel_configs_q8(&cpu, configs, 4);
	for (size_t i = 0; i < n; i++) {
		printf("%s against its twin %s\n", configs[i]->gemm.name, configs[i]->twin->gemm.name);
		check_kernel(&configs[i]->gemm, &configs[i]->twin->gemm, &r, 400);
		check_quantize_kernels(&configs[i]->gemm, &r);
	}
	check_quantize(&r);
	check_tables(&cpu, configs, n);
	check_engine(n);
	return check_finish("test_kernels_int8");
}
