/*
 * Microkernels: the hot loops, one family per operation, one member per ISA.
 *
 * Naming follows XNNPACK: nst_<type>_<op>_<MR>x<NR>__<isa>.  Every SIMD kernel has a scalar twin
 * of the same shape (same MR, NR and packing) in arch/generic, and tests/test_kernels.c checks each
 * one against its twin on ragged shapes.  Only files under arch/<isa>/ include intrinsics headers.
 *
 * GEMM contract (all strides in elements):
 *
 *   c[i][j] = clamp(bias[j] + sum_k a[i][k] * w[k][j], min, max)   for i < mr, j < nc
 *
 *   a:  [mr][a_stride]   rows of the left operand (e.g. an im2col tile), kc used per row
 *   w:  packed: for each panel of NR columns, NR biases then [kc][NR] weights, the last panel
 *       zero-padded to NR columns (see nst_gemm_pack below)
 *   c:  [mr][c_stride]   output rows, nc columns written
 *   mr: 1..MR, nc: >= 1 (the kernel walks nc in panels of NR, the last one ragged), kc >= 1
 *
 * The kernel only reads the first mr rows of a and never writes past column nc of c.
 */
#ifndef NST_ARCH_KERNELS_H
#define NST_ARCH_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nst_f32_minmax_params {
	float min; /* 0 for a fused ReLU, -INFINITY otherwise */
	float max; /* +INFINITY */
};

/* The int8 (qu8s8) kernels' parameters: the clamp, and the activations' quantization: a real
 * value x is stored as the byte q = round(x / a_scale) + a_zero (see nst_qu8_params_for_range). */
struct nst_qu8_gemm_params {
	float min, max;
	float a_scale;
	int32_t a_zero;
};

typedef void (*nst_f32_gemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                                        const float *w, float *c, size_t c_stride,
                                        const struct nst_f32_minmax_params *params);

/* Scalar twins (arch/generic): portable C, no intrinsics. */
void nst_f32_gemm_4x8__scalar(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                              const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
void nst_f32_gemm_6x16__scalar(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                               const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
void nst_f32_gemm_8x8__scalar(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                              const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
void nst_f32_gemm_8x32__scalar(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                               const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
void nst_f32_gemm_16x16__scalar(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                                const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);

/* Float16 GEMM (the same contract, tile and panel order; 16-bit multiply-adds, twice the lanes of
 * float32 on ARMv8.2-A): w is packed float16 (IEEE binary16 bits, the pointer keeps the family's
 * type; see nst_gemm_kernel.f16), each a[i][k] is rounded to float16 as it is read, the sums are
 * float16 from the biases on, and c is clamped and written as float32. */
void nst_f16_gemm_8x16__scalar(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                               const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
#if defined(__aarch64__) && defined(__ARM_FEATURE_FP16_VECTOR_ARITHMETIC)
#define NST_HAVE_F16_GEMM_NEON 1
/* arch/arm: ARMv8.2-A half-precision vector arithmetic (Pi 5, Jetson Orin), compile-time. */
void nst_f16_gemm_8x16__neonfp16arith(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                                      const float *w, float *c, size_t c_stride,
                                      const struct nst_f32_minmax_params *params);
#endif

#if defined(__x86_64__)
/* arch/x86: AVX2 + FMA and AVX-512F, selected at run time from cpuid (x86-64 only; 32-bit x86 runs scalar). */
void nst_f32_gemm_6x16__avx2(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                             const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
void nst_f32_gemm_8x32__avx512(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                               const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
/* For outputs of at most 16 columns (16 of 8x32's 32 would be padding): 16 rows x one zmm. */
void nst_f32_gemm_16x16__avx512(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                                const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
#endif

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
/* arch/arm: NEON, selected at compile time (aarch64, and ARMv7 with VFPv4). */
void nst_f32_gemm_4x8__neon(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                            const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
#if defined(__aarch64__)
void nst_f32_gemm_8x8__neon(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                            const float *w, float *c, size_t c_stride, const struct nst_f32_minmax_params *params);
#endif
#endif

/*
 * Int8 GEMM ("qu8s8": unsigned 8-bit activations x signed 8-bit weights, 32-bit integer sums,
 * float32 out), the same tile and panel order as the float32 family:
 *
 *   c[i][j] = clamp((float)(sum_k a[i][k] * w[k][j] - a_zero * wsum[j]) * (a_scale * scale[j]) + bias[j],
 *                   min, max)        (one fused multiply-add: fmaf(sum, a_scale * scale[j], bias[j]))
 *
 *   a:  [mr][a_stride] bytes, kc used per row; kc is a multiple of NST_QU8_K_GROUP (the packer pads
 *       k with zero weights, so the bytes a row holds there do not matter)
 *   w:  packed by nst_qu8s8_gemm_pack, per panel of NR columns: [NR] int32 wsum (the column's
 *       weight sum), [NR] float scale, [NR] float bias, then [kc / 4][NR][4] int8 weights (four
 *       consecutive k of one column together: one vpdpbusd / sdot lane), the last panel padded
 *       with zero columns; the pointer keeps the family's float type (float32 slots)
 *   c:  [mr][c_stride] floats, nc columns written; params: min, max, a_scale, a_zero (0..255)
 *
 * The integer sums are exact (|sum| < 2^31 for kc < 66000), and every member computes the same
 * float epilogue, so a SIMD kernel and its twin agree bit for bit.  The weights are quantized per
 * output column, symmetric: w[k][j] = round(wf[k][j] / scale[j]), scale[j] = max_k |wf[k][j]| / 127.
 */
#define NST_QU8_K_GROUP 4

typedef void (*nst_qu8s8_gemm_ukernel_fn)(size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride,
                                          const float *w, float *c, size_t c_stride,
                                          const struct nst_qu8_gemm_params *params);
#define NST_QU8S8_GEMM_ARGS                                                                        \
	size_t mr, size_t nc, size_t kc, const uint8_t *a, size_t a_stride, const float *w, float *c,  \
	    size_t c_stride, const struct nst_qu8_gemm_params *params
void nst_qu8s8_gemm_8x8__scalar(NST_QU8S8_GEMM_ARGS);
void nst_qu8s8_gemm_8x32__scalar(NST_QU8S8_GEMM_ARGS);
void nst_qu8s8_gemm_6x16__scalar(NST_QU8S8_GEMM_ARGS);
#if defined(__x86_64__)
/* arch/x86, selected at run time from cpuid: AVX-512 VNNI (vpdpbusd on zmm) with AVX-512BW, and
 * AVX-VNNI (its VEX form on ymm, for CPUs without AVX-512) with AVX2. */
void nst_qu8s8_gemm_8x32__avx512vnni(NST_QU8S8_GEMM_ARGS);
void nst_qu8s8_gemm_6x16__avxvnni(NST_QU8S8_GEMM_ARGS);
#endif
#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#define NST_HAVE_QU8S8_GEMM_NEONDOT 1
/* arch/arm: ARMv8.2-A dot product (sdot; Pi 5, Jetson Orin), compile-time. */
void nst_qu8s8_gemm_8x8__neondot(NST_QU8S8_GEMM_ARGS);
#endif

/* k rounded up to NST_QU8_K_GROUP: the bytes of a quantized patch row. */
static inline size_t nst_qu8_k(size_t k) { return (k + NST_QU8_K_GROUP - 1) / NST_QU8_K_GROUP * NST_QU8_K_GROUP; }
/* Float32 slots nst_qu8s8_gemm_pack writes for a k x n weight matrix at panel width nr. */
size_t nst_qu8s8_gemm_packed_floats(size_t k, size_t n, size_t nr);
/* Quantizes w ([k][w_stride], n columns used; per column, symmetric) and packs it with bias ([n],
 * or NULL for zeros) into panels of nr (see the contract above). */
void nst_qu8s8_gemm_pack(size_t k, size_t n, size_t nr, const float *w, size_t w_stride, const float *bias,
                         float *packed);
/* params->a_scale and a_zero for activations in [lo, hi]: the range widened to hold 0, 255 steps
 * over it (a_scale 1 for an all-zero range); NaN bounds count as 0. */
void nst_qu8_params_for_range(float lo, float hi, struct nst_qu8_gemm_params *params);
/*
 * The activations' quantization kernels, which travel with the int8 GEMM kernel (struct
 * nst_gemm_kernel's range and quantize), each with a scalar twin that gives the same results:
 *
 *   range:    *lo, *hi = the smallest and largest of x[0 .. n) (NaNs skipped; +INFINITY and
 *             -INFINITY for none)
 *   quantize: q[i] = trunc(clamp(x[i] * (1 / a_scale) + (a_zero + 0.5), 0, 255)) for i < n (a
 *             product, then a sum, each rounded to float; NaN gives 0); q may start at x's first
 *             byte (every byte lands on floats already read)
 */
typedef void (*nst_f32_range_fn)(size_t n, const float *x, float *lo, float *hi);
typedef void (*nst_qu8_quantize_fn)(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params);
void nst_f32_range__scalar(size_t n, const float *x, float *lo, float *hi);
void nst_qu8_quantize__scalar(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params);
#if defined(__x86_64__)
void nst_f32_range__avx2(size_t n, const float *x, float *lo, float *hi);
void nst_qu8_quantize__avx2(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params);
void nst_f32_range__avx512(size_t n, const float *x, float *lo, float *hi);
void nst_qu8_quantize__avx512(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params);
#endif
#if defined(__aarch64__)
void nst_f32_range__neon(size_t n, const float *x, float *lo, float *hi);
void nst_qu8_quantize__neon(size_t n, const float *x, uint8_t *q, const struct nst_qu8_gemm_params *params);
#endif
/* Quantizes rows of floats in place with quantize: row i of a ([rows][lda] floats, k used) becomes
 * the bytes [i * nst_qu8_k(k), (i + 1) * nst_qu8_k(k)) of a, the tail past k set to a_zero; returns
 * a as bytes ([rows][nst_qu8_k(k)]).  lda >= k. */
uint8_t *nst_qu8_quantize_rows(nst_qu8_quantize_fn quantize, size_t rows, size_t k, float *a, size_t lda,
                               const struct nst_qu8_gemm_params *params);

/*
 * Small-N ("dot") contract, for outputs with few columns (a convolution with 1..4 output channels,
 * where a GEMM kernel would pad N to NR and waste most of its FMAs).  Vectorized along k: each
 * output is a dot product, MR rows of a at a time (loads per FMA below 1 for nc >= 2), the lanes
 * summed at the end.  Strides in elements:
 *
 *   c[i][j] = clamp(w[j] + sum_{s < segs} sum_{k < kc} a[i * a_stride + s * seg_stride + k] *
 *                                                      w[nc + j * segs * kc + s * kc + k], min, max)
 *
 *   a:  mr rows, each `segs` segments of kc floats seg_stride apart (segs 1: plain row-major rows;
 *       a stride-1 convolution passes its kernel rows as segments of an input band, rows overlap)
 *   w:  packed by nst_dot_pack: nc biases, then [nc][segs * kc] weights (no padding)
 *   c:  [mr][c_stride], nc columns written
 *   mr: 1..MR, nc: 1..NR (NR <= NST_DOT_MAX_N), kc >= 1, segs >= 1
 *
 * The kernel reads only the mr rows' segments of a and writes only [mr][nc] of c.
 */
#define NST_DOT_MAX_N 4

typedef void (*nst_f32_dot_ukernel_fn)(size_t mr, size_t nc, size_t kc, size_t segs, const float *a,
                                       size_t a_stride, size_t seg_stride, const float *w, float *c,
                                       size_t c_stride, const struct nst_f32_minmax_params *params);

void nst_f32_dot_4x4__scalar(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                             size_t seg_stride, const float *w, float *c, size_t c_stride,
                             const struct nst_f32_minmax_params *params);
void nst_f32_dot_8x4__scalar(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                             size_t seg_stride, const float *w, float *c, size_t c_stride,
                             const struct nst_f32_minmax_params *params);
#if defined(__x86_64__)
void nst_f32_dot_4x4__avx2(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                           size_t seg_stride, const float *w, float *c, size_t c_stride,
                           const struct nst_f32_minmax_params *params);
void nst_f32_dot_8x4__avx512(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                             size_t seg_stride, const float *w, float *c, size_t c_stride,
                             const struct nst_f32_minmax_params *params);
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
void nst_f32_dot_4x4__neon(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                           size_t seg_stride, const float *w, float *c, size_t c_stride,
                           const struct nst_f32_minmax_params *params);
#if defined(__aarch64__)
void nst_f32_dot_8x4__neon(size_t mr, size_t nc, size_t kc, size_t segs, const float *a, size_t a_stride,
                           size_t seg_stride, const float *w, float *c, size_t c_stride,
                           const struct nst_f32_minmax_params *params);
#endif
#endif

/*
 * ReLU bit masks ("mask" kernels), the epilogue of every convolution that a ReLU follows or
 * precedes.  A mask holds one bit per float, bit b of byte i for element 8i + b:
 *
 *   pack:  mask[i] bit b = (x[8i + b] > 0)                  (NaN gives 0)
 *   apply: x[8i + b] = (mask[i] bit b) ? x[8i + b] : 0       (in place)
 *
 *   x: [8 * n_bytes] floats, mask: [n_bytes]; n_bytes >= 0.
 */
#define NST_MASK_BITS 8

typedef void (*nst_u8_mask_pack_fn)(size_t n_bytes, const float *x, uint8_t *mask);
typedef void (*nst_f32_mask_apply_fn)(size_t n_bytes, const uint8_t *mask, float *x);

void nst_u8_mask_pack__scalar(size_t n_bytes, const float *x, uint8_t *mask);
void nst_f32_mask_apply__scalar(size_t n_bytes, const uint8_t *mask, float *x);
#if defined(__x86_64__)
void nst_u8_mask_pack__avx2(size_t n_bytes, const float *x, uint8_t *mask);
void nst_f32_mask_apply__avx2(size_t n_bytes, const uint8_t *mask, float *x);
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
void nst_u8_mask_pack__neon(size_t n_bytes, const float *x, uint8_t *mask);
void nst_f32_mask_apply__neon(size_t n_bytes, const uint8_t *mask, float *x);
#endif

/*
 * Winograd transforms of F(2x2, 3x3) ("wino23", tile side T = 4, outputs m = 2), F(3x3, 3x3)
 * ("wino33", T = 5, m = 3: the tiles of src/conv_winograd_grid.c) and F(4x4, 3x3) ("wino43", T = 6,
 * m = 4), vectorized along the channels (the arithmetic: arch/wino-body.h).
 * Strides in floats; c >= 1:
 *
 *   input:  v[(y * T + x) * plane + ch] = (B^T d B)[y][x],  d[y][x] = tile[y * T + x][ch],  ch < c
 *           tile: T * T pointers, each to one input pixel's c channels (padding may repeat them)
 *   output: out[a * row_stride + b * pixel_stride + ch] = clamp(bias[ch] + (A^T M A)[a][b]) to
 *           [params->min, params->max] (max first, then min, a NaN kept, as the GEMMs do)
 *           for a < ny, b < nx (1 <= ny, nx <= m), ch < c, with M[y][x] = m[(y * T + x) * plane + ch]
 *
 * B and A are Lavin and Gray's (interpolation points 0, 1, -1 for wino23, also 2, -2 for wino43),
 * and Toom-Cook's on 0, 1, -1, 2 for wino33.
 * The kernels read and write nothing else.
 */
typedef void (*nst_f32_wino_input_fn)(size_t c, const float *const *tile, float *v, size_t plane);
typedef void (*nst_f32_wino_output_fn)(size_t c, const float *m, size_t plane, const float *bias,
                                       const struct nst_f32_minmax_params *params, float *out, size_t row_stride,
                                       size_t pixel_stride, size_t ny, size_t nx);

#define NST_WINO_DECLARE(ISA)                                                                      \
	void nst_f32_wino23_input__##ISA(size_t c, const float *const *tile, float *v, size_t plane);  \
	void nst_f32_wino33_input__##ISA(size_t c, const float *const *tile, float *v, size_t plane);  \
	void nst_f32_wino43_input__##ISA(size_t c, const float *const *tile, float *v, size_t plane);  \
	void nst_f32_wino23_output__##ISA(size_t c, const float *m, size_t plane, const float *bias,   \
	                                  const struct nst_f32_minmax_params *params, float *out,        \
	                                  size_t row_stride, size_t pixel_stride, size_t ny, size_t nx); \
	void nst_f32_wino33_output__##ISA(size_t c, const float *m, size_t plane, const float *bias,   \
	                                  const struct nst_f32_minmax_params *params, float *out,        \
	                                  size_t row_stride, size_t pixel_stride, size_t ny, size_t nx); \
	void nst_f32_wino43_output__##ISA(size_t c, const float *m, size_t plane, const float *bias,   \
	                                  const struct nst_f32_minmax_params *params, float *out,        \
	                                  size_t row_stride, size_t pixel_stride, size_t ny, size_t nx);
NST_WINO_DECLARE(scalar)
#if defined(__x86_64__)
NST_WINO_DECLARE(avx2)
NST_WINO_DECLARE(avx512)
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
NST_WINO_DECLARE(neon)
#endif

/*
 * Row mixes ("rowmix"): the transformed products of src/conv_winograd_grid.c's layers with few
 * output channels (the 16 -> 3 last layer), vectorized along the tiles instead of the channels, so
 * that no sum runs across the lanes.  For o < nc (1 <= nc <= NST_ROWMIX_NC), j < n, n >= 1:
 *
 *   c[o * c_stride + j] = sum over i < k, in the order of i, of w[i * NST_ROWMIX_NC + o] * base[offsets[i] + j]
 *
 * w: [k][NST_ROWMIX_NC] (columns from nc on are read by some kernels, never used); offsets in
 * floats.  The kernels read and write nothing else.
 */
#define NST_ROWMIX_NC 4
typedef void (*nst_f32_rowmix_fn)(size_t n, size_t nc, size_t k, const float *base, const size_t *offsets,
                                  const float *w, float *c, size_t c_stride);
#define NST_ROWMIX_DECLARE(ISA)                                                                    \
	void nst_f32_rowmix__##ISA(size_t n, size_t nc, size_t k, const float *base, const size_t *offsets, \
	                           const float *w, float *c, size_t c_stride);
NST_ROWMIX_DECLARE(scalar)
#if defined(__x86_64__)
NST_ROWMIX_DECLARE(avx2)
NST_ROWMIX_DECLARE(avx512)
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
NST_ROWMIX_DECLARE(neon)
#endif
/* An ISA's row mix entry point: nc 1 .. NST_ROWMIX_NC as constants into its
 * MIX(N, n, k, base, offsets, w, c, c_stride) (N a constant after inlining, so that its
 * accumulators live in registers). */
#define NST_ROWMIX_ENTRY(ISA, MIX)                                                                 \
	void nst_f32_rowmix__##ISA(size_t n, size_t nc, size_t k, const float *base, const size_t *offsets, \
	                           const float *w, float *c, size_t c_stride) {                        \
		switch (nc) {                                                                              \
		case 1: MIX(1, n, k, base, offsets, w, c, c_stride); break;                                \
		case 2: MIX(2, n, k, base, offsets, w, c, c_stride); break;                                \
		case 3: MIX(3, n, k, base, offsets, w, c, c_stride); break;                                \
		default: MIX(4, n, k, base, offsets, w, c, c_stride); break;                               \
		}                                                                                          \
	}

/*
 * Transpose: dst[j * dst_stride + i] = src[i * src_stride + j] for i < rows, j < cols (strides in
 * floats, the two regions apart).  The lanes path of src/conv_winograd_grid.c splits each picture
 * row into channel planes with it.  The kernels read and write nothing else.
 */
typedef void (*nst_f32_transpose_fn)(size_t rows, size_t cols, const float *src, size_t src_stride, float *dst,
                                     size_t dst_stride);
#define NST_TRANSPOSE_DECLARE(ISA)                                                                 \
	void nst_f32_transpose__##ISA(size_t rows, size_t cols, const float *src, size_t src_stride, float *dst, \
	                              size_t dst_stride);
NST_TRANSPOSE_DECLARE(scalar)
#if defined(__x86_64__)
NST_TRANSPOSE_DECLARE(avx2)
NST_TRANSPOSE_DECLARE(avx512)
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
NST_TRANSPOSE_DECLARE(neon)
#endif
/* An ISA's transpose from its whole blocks, BLOCK(src, src_stride, dst, dst_stride) turning
 * LANES x LANES floats, the ragged edges one float at a time. */
#define NST_TRANSPOSE_BY_BLOCKS(ISA, LANES, BLOCK)                                                 \
	void nst_f32_transpose__##ISA(size_t rows, size_t cols, const float *src, size_t src_stride, float *dst, \
	                              size_t dst_stride) {                                             \
		const size_t whole_rows = rows - rows % (LANES), whole_cols = cols - cols % (LANES);       \
		for (size_t i = 0; i < whole_rows; i += (LANES))                                           \
			for (size_t j = 0; j < whole_cols; j += (LANES))                                       \
				BLOCK(src + i * src_stride + j, src_stride, dst + j * dst_stride + i, dst_stride); \
		for (size_t i = 0; i < rows; i++) /* the edges */                                          \
			for (size_t j = i < whole_rows ? whole_cols : 0; j < cols; j++)                        \
				dst[j * dst_stride + i] = src[i * src_stride + j];                                 \
	}

/* The transform kernels of one ISA, and the grid's lanes path's row mix and transpose. */
struct nst_wino_kernel {
	const char *name; /* "nst_wino__avx2" */
	nst_f32_wino_input_fn input23, input33, input43;
	nst_f32_wino_output_fn output23, output33, output43;
	nst_f32_rowmix_fn rowmix;
	nst_f32_transpose_fn transpose;
};

/*
 * Instance-norm kernels over a feature map x [n][c] (n pixels of c channels), strides c:
 *
 *   sums:   sum[ch] += sum_{p < n} x[p][ch],  sq[ch] += sum_{p < n} x[p][ch]^2      in double
 *   affine: y[p][ch] = v, or max(v, 0) when relu (NaN gives 0), where
 *           v = x[p][ch] * scale[ch] + shift[ch]  (+ addend[p][ch], added last, when addend is not NULL)
 *
 * ch < c, p < n; y may be x or addend.  The sums are each channel's in the order of p, and the
 * squares of floats are exact in double: every ISA gives the same sums.
 */
typedef void (*nst_f64_norm_sums_fn)(size_t n, size_t c, const float *x, double *sum, double *sq);
typedef void (*nst_f32_norm_affine_fn)(size_t n, size_t c, const float *x, const float *scale, const float *shift,
                                       const float *addend, bool relu, float *y);
#define NST_NORM_DECLARE(ISA)                                                                      \
	void nst_f64_norm_sums__##ISA(size_t n, size_t c, const float *x, double *sum, double *sq);    \
	void nst_f32_norm_affine__##ISA(size_t n, size_t c, const float *x, const float *scale,        \
	                                const float *shift, const float *addend, bool relu, float *y);
NST_NORM_DECLARE(scalar)
#if defined(__x86_64__)
NST_NORM_DECLARE(avx2)
NST_NORM_DECLARE(avx512)
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
NST_NORM_DECLARE(neon)
#endif

/* The instance-norm kernels of one ISA. */
struct nst_norm_kernel {
	const char *name; /* "nst_norm__avx2" */
	nst_f64_norm_sums_fn sums;
	nst_f32_norm_affine_fn affine;
};

/* One pair of mask kernels of one ISA. */
struct nst_mask_kernel {
	const char *name; /* "nst_mask__avx2" */
	nst_u8_mask_pack_fn pack;
	nst_f32_mask_apply_fn apply;
};

/* One small-N microkernel: at most mr rows and nr columns per call. */
struct nst_dot_kernel {
	const char *name;           /* "nst_f32_dot_4x4__avx2" */
	nst_f32_dot_ukernel_fn fn;
	uint32_t mr, nr;
};

/* One GEMM microkernel and its tile shape. */
struct nst_gemm_kernel {
	const char *name;           /* "nst_f32_gemm_6x16__avx2" */
	nst_f32_gemm_ukernel_fn fn;
	uint32_t mr, nr;
	bool f16;                   /* packed weights are float16 (nst_gemm_kernel_pack), sums float16 */
	bool q8;                    /* int8: qfn runs instead of fn (NULL), on rows quantized by the driver */
	nst_qu8s8_gemm_ukernel_fn qfn;
	nst_f32_range_fn range;     /* int8: the input's range and its quantization (NULL otherwise) */
	nst_qu8_quantize_fn quantize;
};

/* CPU features that select kernels on x86 at run time. */
struct nst_cpu_features {
	bool avx2, fma, avx512f, f16c;
	bool avx512bw, avx512vnni;  /* the int8 GEMM (vpdpbusd) */
	bool avxvnni;               /* its VEX form on ymm (AVX-VNNI) */
	bool neon, neon_fp16, neon_dot; /* compile-time on ARM */
};

void nst_cpu_detect(struct nst_cpu_features *out);

/*
 * A kernel configuration (src/kernel_config.c): every kernel an engine runs, of one ISA and
 * register-file configuration, travelling together as in XNNPACK's xnn_gemm_config: the GEMM
 * kernel and its tile MR x NR (which the packers read from it), the small-N kernel beside it, the
 * ReLU mask, Winograd transform, instance-norm, tap-list, Gram-tile and argmax-pooling kernels,
 * and its twin: the configuration of scalar kernels with the same tiles, which
 * tests/test_kernels.c compares it with (a scalar configuration is its own twin).  x86-64 chooses at run time from nst_cpu_detect's features, ARM
 * at compile time; every other CPU runs the scalar configuration.
 */
/*
 * Tap-list grouped convolution (src/conv_grouped.c): the grouped convolutions with one or two
 * channels per group on one side (cig = in / groups, cog = out / groups; cig == 1 or cog == 1),
 * reading the picture's rows in place.  A "lane" is an input channel repeated cog times:
 * lane l = i * cog + k reads input channel i = l / cog; there are lanes = outputs * cig of them.
 *
 *   acc[p][l] = sum_t weights[t][l] * inputs[t][p * input_step + l / cog]      (t < taps, in order)
 *   out[p * output_step + o] = clamp(bias[o] + sum_{j < cig} acc[p][o * cig + j], min, max)  (o < outputs)
 *
 * so that depthwise (1, 1), two inputs into each output (2, 1: the pair summed at the end) and
 * each input into two outputs (1, 2: the input duplicated in registers) all multiply-add whole
 * vectors.  Each tap t points at the first pixel's input channel 0 (a kernel position in a row of
 * [width][in]); weights[t] is [lanes], bias [outputs]; out [pixels][output_step >= outputs] (the
 * upsampling layers write every other pixel of a row).  A member takes
 * outputs that are multiples of its outputs_multiple (the caller runs the twin otherwise); the
 * scalar one, the twin of the others, takes any.
 */
typedef void (*nst_f32_dwconv_ukernel_fn)(size_t pixels, size_t outputs, size_t cig, size_t cog, size_t taps,
                                          const float *const *inputs, size_t input_step, const float *const *weights,
                                          const float *bias, float *out, size_t output_step,
                                          const struct nst_f32_minmax_params *params);
struct nst_dwconv_kernel {
	const char *name;
	nst_f32_dwconv_ukernel_fn fn;
	size_t outputs_multiple;
};
#define NST_DWCONV_ARGS                                                                                                \
	size_t pixels, size_t outputs, size_t cig, size_t cog, size_t taps, const float *const *inputs, size_t input_step, \
	    const float *const *weights, const float *bias, float *out, size_t output_step,                                \
	    const struct nst_f32_minmax_params *params
void nst_f32_dwconv__scalar(NST_DWCONV_ARGS);
#if defined(__x86_64__)
void nst_f32_dwconv__avx2(NST_DWCONV_ARGS);
void nst_f32_dwconv__avx512(NST_DWCONV_ARGS);
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
void nst_f32_dwconv__neon(NST_DWCONV_ARGS);
#endif

/*
 * Gram tiles (the Gram matrices F^T F of src/ops.c): a rank-kc update read from the features in
 * place, neither operand transposed nor packed:
 *
 *   c[i][j] += sum_{p < kc} a[p][i] * b[p][j]      for i < mr, j < nc
 *
 * the sum made from 0 in p order, then added to c (as a blocked GEMM adds each block's products).
 *
 *   a:  [kc][a_stride]  each pixel's channels from the tile's first row (F + i0); mr used
 *   b:  [kc][b_stride]  each pixel's channels from the tile's first column (F + j0); the kernel
 *       walks nc in panels of NR and reads all NR columns of every panel, the ragged last one too
 *       (the caller makes them readable: a zero-padded copy of that panel)
 *   c:  [mr][c_stride]  mr: 1..MR, nc >= 1, kc >= 0; nothing past column nc written
 *
 * Rows >= mr alias the last valid row (its a and c: they store the same values, last row first).
 * SIMD members fuse each multiply-add (but ARMv7 NEON without VFPv4: vmla, unfused, flushing
 * denormals); the scalar twin multiplies, then adds.
 */
typedef void (*nst_f32_gram_ukernel_fn)(size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride,
                                        const float *b, size_t b_stride, float *c, size_t c_stride);
struct nst_gram_kernel {
	const char *name; /* "nst_f32_gram_6x16__avx2" */
	nst_f32_gram_ukernel_fn fn;
	uint32_t mr, nr;
};
#define NST_GRAM_ARGS                                                                              \
	size_t mr, size_t nc, size_t kc, const float *a, size_t a_stride, const float *b, size_t b_stride, float *c, \
	    size_t c_stride
void nst_f32_gram_4x8__scalar(NST_GRAM_ARGS);
void nst_f32_gram_6x16__scalar(NST_GRAM_ARGS);
void nst_f32_gram_8x8__scalar(NST_GRAM_ARGS);
void nst_f32_gram_8x32__scalar(NST_GRAM_ARGS);
#if defined(__x86_64__)
void nst_f32_gram_6x16__avx2(NST_GRAM_ARGS);
void nst_f32_gram_8x32__avx512(NST_GRAM_ARGS);
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
void nst_f32_gram_4x8__neon(NST_GRAM_ARGS);
#if defined(__aarch64__)
void nst_f32_gram_8x8__neon(NST_GRAM_ARGS);
#endif
#endif

/*
 * 2x2 max pooling with its argmax (src/ops.c), one output pixel's c channels at a time (c a
 * multiple of NST_ARGMAX_CODES_PER_BYTE: whole code bytes).  r0 is the window's top-left input
 * pixel (its top-right one c floats on), r1 its bottom-left one; out[k] = the window's maximum,
 * codes: channel k's 2 bits (bits 2 (k % 4) of byte k / 4) the position of its first maximum in
 * row-major order (0 top-left .. 3 bottom-right; strictly greater wins, NaN never does).  The
 * backward routes g[k] to the position its code names and writes 0 to the other three (d0: the
 * top-left input pixel's gradient, d1: the bottom-left one's).  Compares and selects are exact:
 * every member gives its scalar twin's bits.
 */
#define NST_ARGMAX_CODES_PER_BYTE 4
#define NST_ARGMAX_BITS 2
typedef void (*nst_f32_argmaxpool_fn)(size_t c, const float *r0, const float *r1, float *out, uint8_t *codes);
typedef void (*nst_f32_argmaxpool_backward_fn)(size_t c, const float *g, const uint8_t *codes, float *d0, float *d1);
struct nst_argmaxpool_kernel {
	const char *name;
	nst_f32_argmaxpool_fn forward;
	nst_f32_argmaxpool_backward_fn backward;
};
#define NST_ARGMAXPOOL_DECLARE(ISA)                                                                \
	void nst_f32_argmaxpool__##ISA(size_t c, const float *r0, const float *r1, float *out, uint8_t *codes); \
	void nst_f32_argmaxpool_backward__##ISA(size_t c, const float *g, const uint8_t *codes, float *d0, float *d1);
NST_ARGMAXPOOL_DECLARE(scalar)
#if defined(__x86_64__)
NST_ARGMAXPOOL_DECLARE(avx2)
NST_ARGMAXPOOL_DECLARE(avx512)
#endif
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
NST_ARGMAXPOOL_DECLARE(neon)
#endif

struct nst_kernel_config {
	struct nst_gemm_kernel gemm;    /* first: nst_kernels_of finds the configuration from it */
	struct nst_dot_kernel dot;
	struct nst_mask_kernel mask;
	struct nst_wino_kernel wino;
	struct nst_norm_kernel norm;
	struct nst_dwconv_kernel dwconv;
	struct nst_gram_kernel gram;
	struct nst_argmaxpool_kernel argmaxpool;
	const struct nst_kernel_config *twin;
	/* The same kernels with a narrower GEMM tile, for outputs of at most its NR columns where
	 * this one's NR would be mostly padding (nst_gemm_kernel_for_columns); NULL: none. */
	const struct nst_kernel_config *narrow;
};

/* The configuration whose GEMM kernel gemm is (every GEMM kernel an engine runs comes from one). */
static inline const struct nst_kernel_config *nst_kernels_of(const struct nst_gemm_kernel *gemm) {
	return (const struct nst_kernel_config *)(const void *)gemm;
}

/* The scalar configuration: float32 (the portable backend's), or with f16 the float16 GEMM's,
 * which runs on every CPU. */
const struct nst_kernel_config *nst_kernel_config_scalar(bool f16);
/* The SIMD configurations cpu runs (NULL: this CPU's), fastest first (a narrow one after its own),
 * float32 or float16 GEMMs (float16: ARMv8.2-A builds with FP16 vector arithmetic only); returns
 * how many, storing at most capacity (out may be NULL to count). */
size_t nst_kernel_configs(const struct nst_cpu_features *cpu, bool f16, const struct nst_kernel_config **out,
                          size_t capacity);

/* The int8 configurations (a qu8s8 GEMM with the float32 kernels of its ISA beside it): the
 * scalar one, or the SIMD ones cpu runs (NULL: this CPU's), as nst_kernel_configs counts them. */
const struct nst_kernel_config *nst_kernel_config_scalar_q8(void);
size_t nst_kernel_configs_q8(const struct nst_cpu_features *cpu, const struct nst_kernel_config **out,
                             size_t capacity);

/* The scalar GEMM kernel that the portable backend uses. */
static inline const struct nst_gemm_kernel *nst_gemm_kernel_scalar(void) { return &nst_kernel_config_scalar(false)->gemm; }
/* The fastest GEMM kernel this CPU runs (falls back to scalar); cpu NULL detects on the spot. */
const struct nst_gemm_kernel *nst_gemm_kernel_best(const struct nst_cpu_features *cpu);
/* The float16 GEMM kernel: the SIMD one this build and CPU run (NULL when none: x86, ARMv8.0,
 * ARMv7), or with scalar set its scalar twin, which runs on every CPU. */
const struct nst_gemm_kernel *nst_gemm_kernel_f16(const struct nst_cpu_features *cpu, bool scalar);

/* The GEMM kernel for outputs of n columns: gemm, or its configuration's narrow one when n fits
 * that one's tile. */
static inline const struct nst_gemm_kernel *nst_gemm_kernel_for_columns(const struct nst_gemm_kernel *gemm, size_t n) {
	const struct nst_kernel_config *narrow = nst_kernels_of(gemm)->narrow;
	return narrow && n <= narrow->gemm.nr ? &narrow->gemm : gemm;
}

/* The kernels that run beside a GEMM kernel, from its configuration. */
static inline const struct nst_dot_kernel *nst_dot_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &nst_kernels_of(gemm)->dot;
}
static inline const struct nst_mask_kernel *nst_mask_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &nst_kernels_of(gemm)->mask;
}
static inline const struct nst_wino_kernel *nst_wino_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &nst_kernels_of(gemm)->wino;
}
static inline const struct nst_norm_kernel *nst_norm_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &nst_kernels_of(gemm)->norm;
}
static inline const struct nst_dwconv_kernel *nst_dwconv_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &nst_kernels_of(gemm)->dwconv;
}
static inline const struct nst_gram_kernel *nst_gram_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &nst_kernels_of(gemm)->gram;
}
static inline const struct nst_argmaxpool_kernel *nst_argmaxpool_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &nst_kernels_of(gemm)->argmaxpool;
}
/* Floats nst_dot_pack writes for n columns of k weights: n biases, then [n][k]. */
size_t nst_dot_packed_floats(size_t k, size_t n);
/* Packs w ([k][w_stride], n columns used) transposed to [n][k], after bias ([n], or NULL for zeros). */
void nst_dot_pack(size_t k, size_t n, const float *w, size_t w_stride, const float *bias, float *packed);

/* IEEE binary16 bits <-> float (arch/generic/f16-convert.c): widening is exact, narrowing rounds to
 * nearest, ties to even, overflowing to infinity and keeping NaNs quiet NaNs. */
float nst_f16_to_f32(uint16_t h);
uint16_t nst_f32_to_f16(float f);

/* Floats (float32 slots) of gemm's packed k x n weights: nst_gemm_packed_floats for float32
 * kernels, half of it for float16 ones (NR is even). */
size_t nst_gemm_kernel_packed_floats(const struct nst_gemm_kernel *gemm, size_t k, size_t n);
/* Floats (float32 slots) of one panel of NR columns of k weights, its biases included. */
size_t nst_gemm_kernel_panel_floats(const struct nst_gemm_kernel *gemm, size_t k);
/* nst_gemm_pack in gemm's format: float32, or float16 (rounded to nearest) for f16 kernels. */
void nst_gemm_kernel_pack(const struct nst_gemm_kernel *gemm, size_t k, size_t n, const float *w, size_t w_stride,
                          const float *bias, float *packed);

/* Floats that nst_gemm_pack writes for a k x n weight matrix at panel width nr. */
size_t nst_gemm_packed_floats(size_t k, size_t n, size_t nr);
/* Packs w ([k][w_stride], n columns used) and bias ([n], or NULL for zeros) into panels of nr. */
void nst_gemm_pack(size_t k, size_t n, size_t nr, const float *w, size_t w_stride, const float *bias, float *packed);

#endif /* NST_ARCH_KERNELS_H */
