/*
 * The Winograd transforms of arch/kernels.h, written once for every ISA.  No include guard: each
 * kernel file (arch/generic/wino-scalar.c, arch/x86/wino-avx2.c, ...) includes it once per vector
 * width, after defining
 *
 *   WT_VEC                    the vector type (float for the scalar twins and the SIMD kernels' tails)
 *   WT_LOAD(p), WT_STORE(p, v), WT_SPLAT(x)
 *   WT_ADD(a, b), WT_SUB(a, b)
 *   WT_MADD(a, b, k)          a + b * k (fused or not), k a WT_VEC
 *   WT_CLAMP(v, lo, hi)       v raised to lo, then lowered to hi, a NaN v kept (as the GEMMs' clamp)
 *   WT_FN(name)               the name of the generated static function
 *
 * Each generated function transforms the WT_VEC of channels at offset ch of one tile.  The
 * arithmetic (Lavin and Gray 2016):
 *
 *   F(2x2, 3x3), tile side 4:   B^T rows d0 - d2, d1 + d2, d2 - d1, d1 - d3
 *                               A^T rows m0 + m1 + m2, m1 - m2 - m3
 *   F(3x3, 3x3), tile side 5:   B^T rows 2 (d0 - d2) + e, e - (d1 + d2), e + 3 (d1 - d2),
 *   (points 0, 1, -1, 2)        e = d3 - d1, (d4 - d2) + 2 (d1 - d3)
 *                               A^T rows m0 + a + m3, b + 2 m3, a + 4 m3 + m4 with
 *                               a = m1 + m2, b = m1 - m2
 *   F(4x4, 3x3), tile side 6:   B^T rows 4 d0 - 5 d2 + d4, (d4 - 4 d2) +- (d3 - 4 d1),
 *                               (d4 - d2) +- 2 (d3 - d1), 4 d1 - 5 d3 + d5
 *                               A^T rows m0 + a + c, b + 2 e, a + 4 c, b + 8 e + m5 with
 *                               a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4
 *
 * applied to the rows of the tile, then to its columns.  This file includes no intrinsics header.
 */

#ifndef NST_WINO_CLAMP_ONE
#define NST_WINO_CLAMP_ONE
/* WT_CLAMP of the float instantiations: max first, then min, each keeping a NaN v. */
static inline float nst_wino_clamp_one(float v, float lo, float hi) {
	v = v < lo ? lo : v;
	return v > hi ? hi : v;
}
#endif

#define WT_23_IN 4
#define WT_23_OUT 2
#define WT_33_IN 5
#define WT_33_OUT 3
#define WT_43_IN 6
#define WT_43_OUT 4

/* The 1-D input transforms: t[k * ts] = (B^T d)[k] for d[k * ds], k < the tile side. */
static inline __attribute__((always_inline)) void WT_FN(in23_1d)(const WT_VEC *d, size_t ds, WT_VEC *t, size_t ts) {
	const WT_VEC d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];
	t[0] = WT_SUB(d0, d2);
	t[ts] = WT_ADD(d1, d2);
	t[2 * ts] = WT_SUB(d2, d1);
	t[3 * ts] = WT_SUB(d1, d3);
}

static inline __attribute__((always_inline)) void WT_FN(in33_1d)(const WT_VEC *d, size_t ds, WT_VEC *t, size_t ts) {
	const WT_VEC two = WT_SPLAT(2.0f), three = WT_SPLAT(3.0f);
	const WT_VEC d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds];
	const WT_VEC e = WT_SUB(d3, d1);
	t[0] = WT_MADD(e, WT_SUB(d0, d2), two);
	t[ts] = WT_SUB(e, WT_ADD(d1, d2));
	t[2 * ts] = WT_MADD(e, WT_SUB(d1, d2), three);
	t[3 * ts] = e;
	t[4 * ts] = WT_MADD(WT_SUB(d4, d2), WT_SUB(d1, d3), two);
}

static inline __attribute__((always_inline)) void WT_FN(in43_1d)(const WT_VEC *d, size_t ds, WT_VEC *t, size_t ts) {
	const WT_VEC four = WT_SPLAT(4.0f), minus_four = WT_SPLAT(-4.0f), minus_five = WT_SPLAT(-5.0f);
	const WT_VEC two = WT_SPLAT(2.0f);
	const WT_VEC d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
	const WT_VEC p = WT_MADD(d4, d2, minus_four), q = WT_MADD(d3, d1, minus_four); /* d4 - 4 d2, d3 - 4 d1 */
	const WT_VEC r = WT_SUB(d4, d2), s = WT_SUB(d3, d1);
	t[0] = WT_MADD(WT_MADD(d4, d2, minus_five), d0, four);
	t[ts] = WT_ADD(p, q);
	t[2 * ts] = WT_SUB(p, q);
	t[3 * ts] = WT_MADD(r, s, two);
	t[4 * ts] = WT_SUB(r, WT_ADD(s, s));
	t[5 * ts] = WT_MADD(WT_MADD(d5, d3, minus_five), d1, four);
}

/* The 1-D output transforms: y[k * ys] = (A^T m)[k] for m[k * ms]. */
static inline __attribute__((always_inline)) void WT_FN(out23_1d)(const WT_VEC *m, size_t ms, WT_VEC *y, size_t ys) {
	const WT_VEC m1 = m[ms], m2 = m[2 * ms];
	y[0] = WT_ADD(WT_ADD(m[0], m1), m2);
	y[ys] = WT_SUB(WT_SUB(m1, m2), m[3 * ms]);
}

static inline __attribute__((always_inline)) void WT_FN(out33_1d)(const WT_VEC *m, size_t ms, WT_VEC *y, size_t ys) {
	const WT_VEC two = WT_SPLAT(2.0f), four = WT_SPLAT(4.0f);
	const WT_VEC m3 = m[3 * ms], a = WT_ADD(m[ms], m[2 * ms]), b = WT_SUB(m[ms], m[2 * ms]);
	y[0] = WT_ADD(WT_ADD(m[0], a), m3);
	y[ys] = WT_MADD(b, m3, two);
	y[2 * ys] = WT_ADD(WT_MADD(a, m3, four), m[4 * ms]);
}

static inline __attribute__((always_inline)) void WT_FN(out43_1d)(const WT_VEC *m, size_t ms, WT_VEC *y, size_t ys) {
	const WT_VEC two = WT_SPLAT(2.0f), four = WT_SPLAT(4.0f), eight = WT_SPLAT(8.0f);
	const WT_VEC a = WT_ADD(m[ms], m[2 * ms]), b = WT_SUB(m[ms], m[2 * ms]);
	const WT_VEC c = WT_ADD(m[3 * ms], m[4 * ms]), e = WT_SUB(m[3 * ms], m[4 * ms]);
	y[0] = WT_ADD(WT_ADD(m[0], a), c);
	y[ys] = WT_MADD(b, e, two);
	y[2 * ys] = WT_MADD(a, c, four);
	y[3 * ys] = WT_ADD(WT_MADD(b, e, eight), m[5 * ms]);
}

/* The tile loops unrolled whole, so that the tile's vectors live in registers (rolled, GCC at -O2
 * kept the three [side][side] arrays on the stack: a store and a load per value); 36 is the largest
 * count, F(4x4)'s WT_43_IN * WT_43_IN values. */
#define WT_UNROLL _Pragma("GCC unroll 36")
_Static_assert(WT_43_IN * WT_43_IN <= 36, "WT_UNROLL covers the largest tile");

/* One vector of channels of one tile: v[xi * plane + ch] = (B^T d B)[xi]. */
#define WT_INPUT(NAME, SIDE, ONE_D)                                                                \
	static inline __attribute__((always_inline)) void WT_FN(NAME)(const float *const *tile, size_t ch, float *v, \
	                                                              size_t plane) {                 \
		WT_VEC d[SIDE * SIDE], t[SIDE * SIDE], o[SIDE * SIDE]; /* [y][x] */                        \
		WT_UNROLL for (size_t i = 0; i < SIDE * SIDE; i++)                                         \
			d[i] = WT_LOAD(tile[i] + ch);                                                          \
		WT_UNROLL for (size_t x = 0; x < SIDE; x++) /* down the columns: t = B^T d */              \
			WT_FN(ONE_D)(d + x, SIDE, t + x, SIDE);                                                \
		WT_UNROLL for (size_t y = 0; y < SIDE; y++) /* along the rows: o = t B */                  \
			WT_FN(ONE_D)(t + y * SIDE, 1, o + y * SIDE, 1);                                        \
		WT_UNROLL for (size_t i = 0; i < SIDE * SIDE; i++)                                         \
			WT_STORE(v + i * plane + ch, o[i]);                                                    \
	}

/* One vector of channels of one tile: out[a * row_stride + b * pixel_stride + ch] =
 * clamp(bias[ch] + (A^T M A)[a][b], params) for a < ny, b < nx. */
#define WT_OUTPUT(NAME, SIDE, OUT, ONE_D)                                                          \
	static inline __attribute__((always_inline)) void WT_FN(NAME)(                                 \
	    const float *m, size_t plane, const float *bias, const struct nst_f32_minmax_params *params,   \
	    size_t ch, float *out, size_t row_stride, size_t pixel_stride, size_t ny, size_t nx) {       \
		WT_VEC s[SIDE * SIDE], p[OUT * SIDE], y[OUT * OUT]; /* [row][column] */                    \
		WT_UNROLL for (size_t i = 0; i < SIDE * SIDE; i++)                                         \
			s[i] = WT_LOAD(m + i * plane + ch);                                                    \
		WT_UNROLL for (size_t x = 0; x < SIDE; x++) /* down the columns: p = A^T M */              \
			WT_FN(ONE_D)(s + x, SIDE, p + x, SIDE);                                                \
		WT_UNROLL for (size_t a = 0; a < OUT; a++) /* along the rows: y = p A */                   \
			WT_FN(ONE_D)(p + a * SIDE, 1, y + a * OUT, 1);                                         \
		const WT_VEC b = WT_LOAD(bias + ch), lo = WT_SPLAT(params->min), hi = WT_SPLAT(params->max); \
		if (ny == OUT && nx == OUT) {                                                              \
			WT_UNROLL for (size_t a = 0; a < OUT; a++)                                             \
				WT_UNROLL for (size_t x = 0; x < OUT; x++)                                         \
					WT_STORE(out + a * row_stride + x * pixel_stride + ch,                         \
					         WT_CLAMP(WT_ADD(y[a * OUT + x], b), lo, hi));                         \
			return;                                                                                \
		}                                                                                          \
		for (size_t a = 0; a < ny; a++)                                                            \
			for (size_t x = 0; x < nx; x++)                                                        \
				WT_STORE(out + a * row_stride + x * pixel_stride + ch,                             \
				         WT_CLAMP(WT_ADD(y[a * OUT + x], b), lo, hi));                             \
	}

WT_INPUT(23_input, WT_23_IN, in23_1d)
WT_INPUT(33_input, WT_33_IN, in33_1d)
WT_INPUT(43_input, WT_43_IN, in43_1d)
WT_OUTPUT(23_output, WT_23_IN, WT_23_OUT, out23_1d)
WT_OUTPUT(33_output, WT_33_IN, WT_33_OUT, out33_1d)
WT_OUTPUT(43_output, WT_43_IN, WT_43_OUT, out43_1d)

#undef WT_INPUT
#undef WT_OUTPUT
#undef WT_UNROLL
#undef WT_23_IN
#undef WT_23_OUT
#undef WT_33_IN
#undef WT_33_OUT
#undef WT_43_IN
#undef WT_43_OUT

#ifndef NST_WINO_KERNELS
/* The six kernels of arch/kernels.h for one ISA: VEC's steps over the channels in blocks of LANES,
 * then ONE's (a float instantiation) for the last c % LANES. */
#define NST_WINO_KERNEL_IN(ISA, NAME, LANES, VEC, ONE)                                             \
	void nst_f32_wino##NAME##__##ISA(size_t c, const float *const *tile, float *v, size_t plane) { \
		size_t ch = 0;                                                                             \
		for (; ch + (LANES) <= c; ch += (LANES))                                                   \
			VEC##NAME(tile, ch, v, plane);                                                         \
		for (; ch < c; ch++)                                                                       \
			ONE##NAME(tile, ch, v, plane);                                                         \
	}
#define NST_WINO_KERNEL_OUT(ISA, NAME, LANES, VEC, ONE)                                            \
	void nst_f32_wino##NAME##__##ISA(size_t c, const float *m, size_t plane, const float *bias,   \
	                                 const struct nst_f32_minmax_params *params, float *out,         \
	                                 size_t row_stride, size_t pixel_stride, size_t ny, size_t nx) { \
		size_t ch = 0;                                                                             \
		for (; ch + (LANES) <= c; ch += (LANES))                                                   \
			VEC##NAME(m, plane, bias, params, ch, out, row_stride, pixel_stride, ny, nx);          \
		for (; ch < c; ch++)                                                                       \
			ONE##NAME(m, plane, bias, params, ch, out, row_stride, pixel_stride, ny, nx);          \
	}
#define NST_WINO_KERNELS(ISA, LANES, VEC, ONE)                                                     \
	NST_WINO_KERNEL_IN(ISA, 23_input, LANES, VEC, ONE)                                             \
	NST_WINO_KERNEL_IN(ISA, 33_input, LANES, VEC, ONE)                                             \
	NST_WINO_KERNEL_IN(ISA, 43_input, LANES, VEC, ONE)                                             \
	NST_WINO_KERNEL_OUT(ISA, 23_output, LANES, VEC, ONE)                                           \
	NST_WINO_KERNEL_OUT(ISA, 33_output, LANES, VEC, ONE)                                           \
	NST_WINO_KERNEL_OUT(ISA, 43_output, LANES, VEC, ONE)
#endif
