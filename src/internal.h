/* Declarations shared by the library's sources; not part of the public API. */
#ifndef NST_INTERNAL_H
#define NST_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthreadpool.h>

#include "nst.h"
#include "../arch/kernels.h"
#include "engine.h"
#include "weights_format.h"

/* Fills diag (if any) with a printf-style message; returns status, so that callers can write
 * `return nst_fail(diag, NST_ERR_IO, "cannot open %s", path);`. */
enum nst_status nst_fail(struct nst_diag *diag, enum nst_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------------------------------------
 * Arena: a bump allocator over the caller's buffer.  With base == NULL it only measures, which is
 * how nst_plan computes the exact size: planning and initialisation run the same layout code.
 * ------------------------------------------------------------------------------------------- */
struct nst_arena {
	uint8_t *base;  /* NULL while measuring */
	size_t size;    /* capacity in bytes (ignored while measuring) */
	size_t used;    /* bytes handed out so far, each allocation rounded up to NST_ARENA_ALIGNMENT */
	bool overflow;  /* an allocation did not fit */
};

void nst_arena_init(struct nst_arena *arena, void *base, size_t size);
/* Returns NST_ARENA_ALIGNMENT-aligned memory, or NULL while measuring or when out of space
 * (then arena->overflow is set). */
void *nst_arena_alloc(struct nst_arena *arena, size_t bytes);
/* count elements of size bytes each; a product beyond size_t sets arena->overflow. */
void *nst_arena_alloc_array(struct nst_arena *arena, size_t size, size_t count);
#define NST_MIB (1024.0 * 1024.0) /* bytes in a MiB, for messages */
#define NST_ARENA_NEW(arena, type, count) ((type *)nst_arena_alloc_array((arena), sizeof(type), (size_t)(count)))

/* ---------------------------------------------------------------------------------------------
 * Elementwise loops over float arrays, vectorized (src/floats.c); x, a, b never overlap y
 * ------------------------------------------------------------------------------------------- */
void nst_floats_add(size_t n, const float *restrict x, float *restrict y);           /* y += x */
void nst_floats_axpy(size_t n, float a, const float *restrict x, float *restrict y); /* y += a x */
void nst_floats_scale(size_t n, float a, const float *restrict x, float *restrict y); /* y = a x */
void nst_floats_scale_in_place(size_t n, float a, float *restrict y);                /* y *= a */
void nst_floats_step(size_t n, const float *restrict b, float a, const float *restrict x,
                     float *restrict y);                                               /* y = b + a x */
void nst_floats_blend(size_t n, float a0, const float *restrict a, float a1, const float *restrict b,
                      float *restrict y);                                               /* y = a0 a + a1 b */
/* g = f > 0 ? g : 0: the gradient g through a ReLU whose output is f (NaN in f: 0) */
void nst_floats_relu_grad(size_t n, const float *restrict f, float *restrict g);
void nst_floats_subtract_from(size_t n, const float *restrict x, float *restrict y); /* y = x - y */
void nst_floats_multiply(size_t n, const float *restrict x, float *restrict y);     /* y *= x */

/* ---------------------------------------------------------------------------------------------
 * Sums in double over [i0, i1) of float arrays a, b (src/reductions.c): the same bits for the same
 * range on any thread
 * ------------------------------------------------------------------------------------------- */
double nst_dot_range(size_t i0, size_t i1, const float *a, const float *b);              /* a . b */
double nst_squared_distance_range(size_t i0, size_t i1, const float *a, const float *b); /* |a - b|^2 */

/* ---------------------------------------------------------------------------------------------
 * Weights (src/weights.c)
 * ------------------------------------------------------------------------------------------- */
struct nst_weights {
	const uint8_t *map;          /* the whole file, read into memory (not mapped: see open_fd) */
	size_t map_bytes;
	struct nstw_header header;   /* copied out of the map */
	const struct nstw_layer *layers; /* [n_layers], inside the map */
	const uint8_t *payload;      /* map + header_bytes */
	struct nstw_defaults defaults; /* host order; all zero without a defaults block (version 1) */
};

/* The network's own defaults (version 2 files that carry them), else NULL. */
const struct nstw_defaults *nst_weights_defaults(const struct nst_weights *weights);

/* Copies layer's kernel as float32 ([kh][kw][cin][cout]) into dst, converting float16. */
void nst_weights_read_kernel(const struct nst_weights *weights, int layer, float *dst);
enum nst_weights_vector { NST_VECTOR_BIAS = 0, NST_VECTOR_GAMMA = 1, NST_VECTOR_BETA = 2 };
/* Copies the bias (or instance-norm gamma / beta) of a layer: [cout] floats.  For a layer
 * without instance norm, gamma reads as 1 and beta as 0. */
void nst_weights_read_vector(const struct nst_weights *weights, int layer, enum nst_weights_vector which, float *dst);

/* The 32-bit little-endian number at p (any alignment, any host). */
static inline uint32_t nst_le32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC-32 (zlib polynomial, src/crc32.c); crc starts at 0 and chains. */
uint32_t nst_crc32(uint32_t crc, const void *data, size_t bytes);
/* The same CRC by slicing-by-8 over tables made once (t[k][b]: the CRC register of byte b followed
 * by k zero bytes; 8 KiB), for data that comes in chunks (a file read piece by piece). */
#define NST_CRC32_SLICES 8
#define NST_CRC32_BYTE_VALUES 256
struct nst_crc32_tables {
	uint32_t t[NST_CRC32_SLICES][NST_CRC32_BYTE_VALUES];
};
void nst_crc32_tables_make(struct nst_crc32_tables *t);
uint32_t nst_crc32_sliced(const struct nst_crc32_tables *t, uint32_t crc, const void *data, size_t bytes);

/* ---------------------------------------------------------------------------------------------
 * Convolution by im2col + GEMM (src/conv_im2col.c); the engine is src/engine.h
 * ------------------------------------------------------------------------------------------- */

/* Per-thread scratch budget of an im2col block: a block of patch rows is sized to stay in L2. */
#define NST_IM2COL_BLOCK_BYTES (192u * 1024u)

struct nst_conv_shape {
	int kernel_h, kernel_w;
	int stride;
	int pad;                      /* on every side */
	bool reflect;                 /* reflection padding instead of zeros */
	int in_channels, out_channels;
};

/* Whether a convolution runs on the small-N kernels (the band path; its weights packed by
 * nst_dot_pack's layout) instead of the GEMM kernel. */
bool nst_conv_small_n(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);

static inline int nst_conv_out_size(int in, int kernel, int stride, int pad) {
	return (in + 2 * pad - kernel) / stride + 1;
}

/* Floats of one patch row (one output pixel's inputs): kh * kw * cin. */
static inline size_t nst_conv_patch_floats(const struct nst_conv_shape *shape) {
	return (size_t)shape->kernel_h * (size_t)shape->kernel_w * (size_t)shape->in_channels;
}

static inline size_t nst_max_size(size_t a, size_t b) { return a > b ? a : b; }

/* Reflection without repeating the edge (PyTorch's 'reflect'): -1 -> 1, n -> n - 2; n 1 gives 0. */
static inline int nst_reflect_index(int i, int n) {
	if (n == 1)
		return 0;
	while (i < 0 || i >= n)
		i = i < 0 ? -i : 2 * (n - 1) - i;
	return i;
}

/* Output pixels per im2col block of patch rows of k floats: as many as fit NST_IM2COL_BLOCK_BYTES,
 * a multiple of unit (the GEMM kernel's MR, or a multiple of it), at least unit. */
size_t nst_im2col_block_pixels(size_t k, size_t unit);
/* out [np][cout] (row stride cout) = a [np][k] (row stride lda) x packed (g's NR-column panels of
 * k weights and their biases), clamped by params: every panel over the block's rows. */
void nst_im2col_gemm(const struct nst_gemm_kernel *g, size_t np, size_t k, const float *a, size_t lda,
                     const float *packed, float *out, size_t cout, const struct nst_f32_minmax_params *params);
/* The same for an int8 kernel (g->q8): quantizes a's rows in place by params (g->quantize, nst_qu8_quantize_rows:
 * a becomes [np][nst_qu8_k(k)] bytes), then runs g->qfn over every panel. */
void nst_im2col_gemm_q8(const struct nst_gemm_kernel *g, size_t np, size_t k, float *a, size_t lda,
                        const float *packed, float *out, size_t cout, const struct nst_qu8_gemm_params *params);
/* An int8 convolution's parameters: the clamp, and the activations' quantization from the range
 * of its input in[0 .. n) (per tensor, dynamic: no calibration), found by g->range. */
void nst_qu8_input_params(const struct nst_gemm_kernel *g, const float *in, size_t n, float min, float max,
                          struct nst_qu8_gemm_params *params);

/* What happens to each output value after the GEMM, while the im2col block is still in cache. */
struct nst_conv_epilogue {
	float min, max;               /* clamp: min 0 is a fused ReLU */
	uint8_t *mask_out;            /* if set: bit (pixel * cout + channel) = output > 0     [H][W][C] bits */
	const float *addend;          /* if set: output += addend (same layout as the output) */
	const uint8_t *mask_in;       /* if set: output = bit ? output : 0, after the addend  [H][W][C] bits */
};
/* The epilogue but its clamp on out[0 .. n) = output values e0 .. e0 + n: += addend, then *= the
 * incoming mask, then the outgoing mask bits = (value > 0); e0 is a multiple of 8 (a run starts on
 * a mask byte; a run that ends inside a byte writes that whole byte). */
void nst_conv_epilogue_run(const struct nst_mask_kernel *mk, const struct nst_conv_epilogue *ep, size_t e0, size_t n,
                           float *out);

/* Floats of per-thread im2col scratch a convolution of this shape needs (see NST_IM2COL_BLOCK_BYTES). */
size_t nst_conv_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
/* Floats of packed weights for a forward convolution / its input-gradient convolution. */
size_t nst_conv_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
/* Packs HWIO weights [kh][kw][cin][cout] and bias [cout] for the forward convolution. */
void nst_conv_pack_forward(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                           const float *hwio, const float *bias, float *packed);
/* Packs the flipped, transposed weights of the input gradient of a stride-1 convolution: the
 * gradient is itself a convolution from cout to cin channels, with no bias. */
void nst_conv_pack_backward(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                            const float *hwio, float *packed);
/* The shape of the input-gradient convolution of a stride-1, zero-padded convolution. */
struct nst_conv_shape nst_conv_backward_shape(const struct nst_conv_shape *shape);

/* out [oh][ow][cout] = epilogue(conv(in [h][w][cin])), blocked im2col + GEMM on the engine's threads.
 * out may be in for a 1x1 convolution (stride 1, no padding) with as many outputs as inputs, on the
 * GEMM kernels, without an addend: each block's rows are copied to the scratch first. */
void nst_conv2d(const struct nst_engine *engine, const struct nst_conv_shape *shape, int h, int w,
                const float *in, const float *packed, float *out, const struct nst_conv_epilogue *epilogue);

/* ---------------------------------------------------------------------------------------------
 * Instance norm (src/instance_norm.c)
 * ------------------------------------------------------------------------------------------- */
/* Instance norm's epsilon (PyTorch's default, which the trained networks used). */
#define NST_INSTANCE_NORM_EPS 1e-5

/* What follows an instance norm. */
enum nst_norm_then {
	NST_NORM_RELU = 0,   /* x = relu(norm(x)) */
	NST_NORM_PLAIN = 1,  /* x = norm(x) */
	NST_NORM_ADD = 2,    /* residual += norm(x) (x is left as it was) */
};

/* sum [c] and sq [c] = each channel's sum and sum of squares over x [n][c], in double, zeroed
 * first, on kernel k in L1-sized runs of pixels (instance norm's and AdaIN's statistics). */
void nst_norm_sums(const struct nst_norm_kernel *k, size_t n, size_t c, const float *x, double *sum, double *sq);
/* Doubles of scratch nst_instance_norm needs: per-slot partial sums and the per-channel affine. */
size_t nst_instance_norm_scratch_doubles(int threads, int c);
/* Instance norm of x [n][c] (n = H*W) per channel: (x - mean) / sqrt(var + eps) * gamma + beta,
 * biased variance, sums in double; then `then`.  residual [n][c] for NST_NORM_ADD. */
void nst_instance_norm(const struct nst_engine *engine, size_t n, int c, float *x, const float *gamma,
                       const float *beta, enum nst_norm_then then, float *residual, double *scratch);

/* ---------------------------------------------------------------------------------------------
 * The upsample convolution (src/conv_upsample.c)
 * ------------------------------------------------------------------------------------------- */
/* Floats of packed weights nst_conv2d_up reads, and their packing: always the GEMM kernel's NR
 * panels (nst_conv_pack_forward packs few output channels for nst_conv2d's small-N kernels). */
size_t nst_conv_up_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
void nst_conv_up_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                      const float *bias, float *packed);
/* Floats of per-thread scratch nst_conv2d_up needs (its im2col block). */
size_t nst_conv_up_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
/* out [oh][ow][cout] = conv(nearest_up(in [h][w][cin])), packed as for nst_conv2d; up is 1 (a plain
 * convolution, any stride) or 2 (stride 1: the input upsampled 2x, nearest).  Padding (reflection
 * or zeros) applies to the upsampled picture, which is never built: the im2col block reads its
 * pixels from the input directly.  oh = nst_conv_out_size(up * h, ...), likewise ow. */
void nst_conv2d_up(const struct nst_engine *engine, const struct nst_conv_shape *shape, int up, int h, int w,
                   const float *in, const float *packed, float *out);

/* ---------------------------------------------------------------------------------------------
 * Winograd's convolution (src/conv_winograd.c)
 * ------------------------------------------------------------------------------------------- */
/* A 3x3, stride-1 convolution by Winograd's F(m x m, 3x3), m = f (2 or 4): (m + 2)^2 input
 * tiles transformed (B^T d B, the arch/ transform kernels), (m + 2)^2 GEMMs over the channels with
 * the transformed kernels (G g G^T, packed once: (m + 2)^2 / 9 of the plain packing), and m x m
 * output tiles transformed back (A^T M A): 2.25 (F2) or 4 (F4) times fewer multiplies.  Padding 1
 * (zeros or reflection) or 2 (zeros).  Packing needs staging floats. */
enum nst_wino {
	NST_WINO_NONE = 0, /* not Winograd: im2col + GEMM */
	NST_WINO_F2 = 2, /* F(2x2, 3x3) */
	NST_WINO_F4 = 4, /* F(4x4, 3x3) */
};
bool nst_conv_winograd_applies(const struct nst_conv_shape *shape);
/* The optimization's rule: whether a layer's convolution (its shape; its input gradient too) runs
 * by Winograd on this engine: the SIMD float32 kernels only (the scalar backend is the reference
 * the others are checked against: it stays direct), channel counts that are multiples of 8 on
 * both sides (the epilogue's masks) and at least NST_WINO_MIN_CHANNELS (conv1_1's 3 input
 * channels: its transforms would cost more than its GEMMs; `nst bench` measures both: at 256 px, 2
 * threads, the distilled network's conv1_2 16 -> 16 runs 161 / 167 GFLOP/s direct (forward / input
 * gradient), 221 / 234 by Winograd, its conv2_1 16 -> 32 259 / 200 and 334 / 335). */
#define NST_WINO_MIN_CHANNELS 16
bool nst_conv_winograd_pays(const struct nst_engine *engine, const struct nst_conv_shape *shape);
/*
 * The optimization's Winograd, from the second block on (the layers after a pooling), and in the
 * first block on layers of at most NST_VGG_WINO_BLOCK1_MAX_CHANNELS channels on both sides (the
 * distilled network's conv1_2), where nst_conv_winograd_pays: F(4x4, 3x3) on layers of at most
 * NST_VGG_WINO_F4_MAX_CHANNELS channels
 * on both sides (every such layer of the distilled network; conv2_1, conv2_2 of VGG19), F(2x2, 3x3)
 * on wider ones.  F(4x4) rounds ~10x more than F(2x2) (its points +-2, its 1/24 weights), and
 * its error grows with the channels summed.  Measured against the scalar backend on
 * tests/t_parity.sh's pictures (VGG19 blocks 1-3 at 64 px; the distilled network at 64 px), whose
 * Adam row 10 bound (1e-4) is the tight one: a max-pool window whose values tie in exact arithmetic
 * (flat, clamped patches) goes to another pixel under other rounding, and Adam's first steps
 * (+-lr whatever the gradient's size) make that a different picture:
 *   - this rule: row 10 within 3.2e-5 (VGG19) and 2.8e-5 (distilled); the first gradient 4.6e-7
 *     from torch's (VGG19; the distilled network's 4.0e-6, as its scalar backend's 3.5e-6);
 *   - F(4x4) on the 256-channel conv3_x too: row 10 1.5e-4 (the first gradient 5.5e-7);
 *   - F(4x4) on VGG19's conv1_2 (64 channels at the picture's full resolution) as well: the first
 *     gradient 5.7e-4; on the distilled network's conv1_2 (16 channels) and conv2_1 (16 -> 32),
 *     kept: row 10 1.5e-6 from scalar, the first gradient 1.9e-6 from torch's (2.5% faster);
 *   - F(2x2) on conv1_2: row 10 1.9e-4, though the same as torch's to 8 digits (torch's own
 *     rounding breaks that tie the same way); and only 6% faster.
 * F(4x4)'s packed kernels are 4x the direct packing (36 transform positions for 9 taps): the
 * distilled network's weights take 25.9 MiB instead of 12.2.
 * The bench helper nst_bench_winograd_tile says the same per layer (nst_vgg_winograd).
 */
#define NST_VGG_WINO_F4_MAX_CHANNELS 128
#define NST_VGG_WINO_BLOCK1_MAX_CHANNELS 16
/* The tile the optimization runs a layer of VGG block `block` (1: the picture's resolution) with on
 * this engine: F(4x4), F(2x2), or none (im2col + GEMM). */
enum nst_wino nst_vgg_winograd(const struct nst_engine *engine, int block, const struct nst_conv_shape *shape);
size_t nst_conv_winograd_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                       enum nst_wino f);
size_t nst_conv_winograd_staging_floats(const struct nst_conv_shape *shape);
size_t nst_conv_winograd_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                        enum nst_wino f);
/* Packs HWIO weights [3][3][cin][cout] and bias [cout] (NULL: zeros). */
void nst_conv_winograd_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, enum nst_wino f,
                            const float *hwio, const float *bias, float *staging, float *packed);
/* Packs the kernel of scale * conv(x) + diagonal * x, conv the convolution from c to c channels
 * with HWIO weights [3][3][c][c] and bias [c]: per output channel o, scale[o] times the
 * convolution (bias included) plus diagonal[o] times the input's channel o at the output's own
 * pixel, as nst_conv_winograd_pack would pack that kernel (the transform is linear: the centre
 * tap's identity transforms to G[y][1] G[x][1] I), in float, separably and on the engine's
 * threads (fast enough to run for each painting): engine not NULL, its slots' scratch at least
 * nst_conv_winograd_scaled_scratch_floats; bias not NULL.  staging:
 * nst_conv_winograd_scaled_staging_floats. */
size_t nst_conv_winograd_scaled_staging_floats(const struct nst_conv_shape *shape, enum nst_wino f);
/* The scratch each engine slot needs for it. */
size_t nst_conv_winograd_scaled_scratch_floats(const struct nst_conv_shape *shape);
void nst_conv_winograd_pack_scaled(const struct nst_engine *engine, const struct nst_gemm_kernel *gemm,
                                   const struct nst_conv_shape *shape, enum nst_wino f, const float *hwio,
                                   const float *bias, const float *scale, const float *diagonal, float *staging,
                                   float *packed);
/* Packs the input gradient's kernel of the stride-1 convolution shape with HWIO weights
 * [3][3][cin][cout]: flipped and transposed (cout -> cin channels, no bias), for a shape
 * nst_conv_backward_shape(shape) (pad 2 for the gradient over a reflection-padded input).  Packed
 * and staging floats: those of that backward shape. */
void nst_conv_winograd_pack_backward(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                     enum nst_wino f, const float *hwio, float *staging, float *packed);
/* out [oh][ow][cout] = epilogue(conv(in [h][w][cin])) (oh = h + 2 pad - 2, likewise ow), as
 * nst_conv2d computes it (up to rounding).  An epilogue with masks needs cout % 8 == 0. */
void nst_conv2d_winograd(const struct nst_engine *engine, const struct nst_conv_shape *shape, enum nst_wino f, int h,
                         int w, const float *in, const float *packed, float *out,
                         const struct nst_conv_epilogue *epilogue);

/* A k x k stride-1 convolution with k a multiple of 3 (k > 3), padding below k (zeros or
 * reflection, PyTorch's, folded again on sides narrower than the padding as nst_reflect_index
 * does), as a grid of 3x3 sub-kernels on Winograd F(3x3, 3x3) tiles (src/conv_winograd_grid.c):
 * float32 kernels only.  Its weights: nst_conv_grid_pack from HWIO and
 * the bias (NULL: zeros), with nst_conv_grid_staging_floats of staging.  The epilogue's clamp only
 * (no addend, no masks). */
bool nst_conv_grid_applies(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
size_t nst_conv_grid_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
size_t nst_conv_grid_staging_floats(const struct nst_conv_shape *shape);
size_t nst_conv_grid_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
void nst_conv_grid_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                        const float *bias, float *staging, float *packed);
void nst_conv2d_grid(const struct nst_engine *engine, const struct nst_conv_shape *shape, int h, int w,
                     const float *in, const float *packed, float *out, const struct nst_conv_epilogue *epilogue);

/* ---------------------------------------------------------------------------------------------
 * The upsample + 3x3 convolution by phases (src/conv_phases.c)
 * ------------------------------------------------------------------------------------------- */
/* Nearest 2x upsample + 3x3 pad-1 stride-1 convolution by phases: each output pixel
 * (2y + py, 2x + px) sees 2x2 distinct input pixels, so each phase is a 2x2 convolution of the
 * input with the kernel's taps summed per input pixel (reflection of the upsampled picture is
 * replication of the input's edge; zero padding stays zero): 16 multiplies per 4 outputs and
 * input channel instead of 36.  Packing needs staging floats. */
bool nst_conv_phases_apply(const struct nst_conv_shape *shape);
size_t nst_conv_phases_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
size_t nst_conv_phases_staging_floats(const struct nst_conv_shape *shape);
size_t nst_conv_phases_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
void nst_conv_phases_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                          const float *bias, float *staging, float *packed);
/* out [2h][2w][cout] = conv(nearest2x(in [h][w][cin])), as nst_conv2d_up with up = 2 computes it. */
void nst_conv2d_phases(const struct nst_engine *engine, const struct nst_conv_shape *shape, int h, int w,
                       const float *in, const float *packed, float *out);

/* ---------------------------------------------------------------------------------------------
 * Grouped convolution, direct (src/conv_grouped.c)
 * ------------------------------------------------------------------------------------------- */
/* Whether nst_conv2d_grouped runs the shape: groups dividing cin and cout with one or two
 * channels per group on one side (cin / groups == 1 or cout / groups == 1, each at most 2). */
bool nst_conv_grouped_applies(const struct nst_conv_shape *shape, int groups);
/* A 1x1 convolution run on each output row of nst_conv2d_grouped while the row is in cache: the
 * grouped layer's cout -> out_channels, packed by nst_conv_pack_forward for a GEMM kernel (not int8),
 * run on gemm = nst_gemm_kernel_for_columns(that kernel, out_channels) as nst_conv2d runs it (the
 * same values), clamped to params. */
struct nst_conv_pointwise {
	const struct nst_gemm_kernel *gemm;
	const float *packed;
	int out_channels;
	struct nst_f32_minmax_params params;
};
/* Per-slot scratch floats of nst_conv2d_grouped on inputs w wide (before upsampling), with a
 * pointwise convolution after it (then) or not. */
size_t nst_conv_grouped_scratch_floats(const struct nst_conv_shape *shape, int groups, int up, int w, bool then);
/* Packed weights for inputs upsampled by up: the kernel's lanes per tap, then the bias (then, for
 * the 3 x 3 layers upsampled x2, their kernels by output phase). */
size_t nst_conv_grouped_packed_floats(const struct nst_conv_shape *shape, int groups, int up);
/* hwio [kh][kw][cin / groups][cout] and bias [cout] into packed [kh * kw][cin * cog] + [cout], then
 * for a 3x3 stride-1 reflection-padded shape upsampled x2 the kernels by output row and column
 * case [4][4][9][cin * cog] (src/conv_grouped.c, "Phases"). */
void nst_conv_grouped_pack(const struct nst_conv_shape *shape, int groups, int up, const float *hwio,
                           const float *bias, float *packed);
/* out [oh][ow][cout] = relu?(conv(up(in [h][w][cin])) + bias): output channel o reads the inputs
 * of group o / (cout / groups); packed from nst_conv_grouped_pack; up 1, or 2: PyTorch's bilinear
 * x2 (align_corners=False) applied first, never stored.  With then, each output row goes through
 * that 1x1 convolution before it is stored: out [oh][ow][then->out_channels] (in and out apart). */
void nst_conv2d_grouped(const struct nst_engine *engine, const struct nst_conv_shape *shape, int groups, int up,
                        int h, int w, const float *in, const float *packed, bool relu,
                        const struct nst_conv_pointwise *then, float *out);

/* ---------------------------------------------------------------------------------------------
 * AdaIN (src/adain.c): feature maps f [n][c]
 * ------------------------------------------------------------------------------------------- */
#define NST_ADAIN_MAX_CHANNELS 128 /* the network's 64, with room; the statistics' parts live on the stack */
/* mean [c], and (if std) std [c] = sqrt(unbiased variance + eps), per channel; on the engine's
 * threads (NULL: the calling thread), the same bits on any. */
void nst_channel_stats(const struct nst_engine *engine, size_t n, int c, const float *f, float eps, float *mean,
                       float *std);
/* x = alpha ((x - x_mean) / x_std * s_std + s_mean) + (1 - alpha) x, per channel; c <= NST_ADAIN_MAX_CHANNELS;
 * on the engine's threads (NULL: the calling thread). */
void nst_adain(const struct nst_engine *engine, size_t n, int c, float *x, const float *x_mean, const float *x_std,
               const float *s_mean, const float *s_std, float alpha);

/* ---------------------------------------------------------------------------------------------
 * Operators (src/ops.c); all feature maps are [H][W][C] float32.
 * ------------------------------------------------------------------------------------------- */

/* Bytes of a bit mask over n values. */
static inline size_t nst_mask_bytes(size_t n) { return (n + 7) / 8; }
static inline bool nst_mask_get(const uint8_t *mask, size_t i) { return (mask[i >> 3] >> (i & 7)) & 1; }

/* 2x2 stride-2 pooling, floor: out [h/2][w/2][c].  Max pooling records the argmax of each window
 * (0..3, row-major, first maximum wins as in PyTorch) as 2-bit codes: argmax [h/2][w/2][c] 2 bits. */
size_t nst_pool_argmax_bytes(int h, int w, int c);
void nst_maxpool2x2(const struct nst_engine *engine, int h, int w, int c, const float *in, float *out, uint8_t *argmax);
void nst_avgpool2x2(const struct nst_engine *engine, int h, int w, int c, const float *in, float *out);
/* Backward: grad_in [h][w][c] (every element written: zero outside the windows' winners). */
void nst_maxpool2x2_backward(const struct nst_engine *engine, int h, int w, int c, const float *grad_out,
                             const uint8_t *argmax, float *grad_in);
/* nst_maxpool2x2_backward, then grad_in = mask ? grad_in + addend : 0 (nst_mask_apply; addend may
 * be NULL) in the same parallel region, each slot on its own rows. */
void nst_maxpool2x2_backward_masked(const struct nst_engine *engine, int h, int w, int c, const float *grad_out,
                                    const uint8_t *argmax, const uint8_t *mask, const float *addend, float *grad_in);
void nst_avgpool2x2_backward(const struct nst_engine *engine, int h, int w, int c, const float *grad_out, float *grad_in);

/* The backward pass of reflection padding by pad (< h, w), in place: g [h + 2 pad][w + 2 pad][c], the
 * gradient of the padded picture, becomes g [h][w][c], each padded pixel's gradient added onto the
 * pixel it mirrors (PyTorch's 'reflect': the edge is not repeated). */
void nst_reflect_pad_backward(int h, int w, int c, int pad, float *g);
/* nst_reflect_pad_backward, then g = mask ? g + addend : 0 as nst_mask_apply (no mask: g += addend;
 * either may be NULL), the same values, on the engine's threads: each item copies the rows the
 * next items' compaction overwrites into its scratch first, needing
 * nst_reflect_pad_backward_scratch_floats of it (less: one item does everything). */
size_t nst_reflect_pad_backward_scratch_floats(int h, int w, int c, int pad);
void nst_reflect_pad_backward_masked(const struct nst_engine *engine, int h, int w, int c, int pad, float *g,
                                     const uint8_t *mask, const float *addend);

/* out[i] = mask bit i ? in[i] : 0 (in place allowed), optionally after adding addend. */
void nst_mask_apply(const struct nst_engine *engine, size_t n, const uint8_t *mask, const float *addend, float *inout);

/* gram [c][c] = F^T F / (n * c) with F [n][c] (n = H*W): both halves written.  Needs
 * nst_gram_scratch_floats of the engine's per-thread scratch. */
size_t nst_gram_scratch_floats(const struct nst_gemm_kernel *gemm, int c);
void nst_gram(const struct nst_engine *engine, size_t n, int c, const float *f, float *gram);
/* A tap (the distilled network's loss heads): features ReLU(1x1 conv (cs -> ct) of its input), its
 * weights packed both ways (nst_conv_pack_forward, nst_conv_pack_backward). */
struct nst_tap {
	int cs, ct;
	const float *forward, *backward;
};
/* A tap's features and their Gram in one pass: f [n][ct] = ReLU(1x1 conv of in [n][cs]), the same
 * values nst_conv2d makes, and gram [ct][ct] as nst_gram(f) makes it, each chunk of f multiplied
 * while it is still in cache.  f NULL: the features are never stored whole (each chunk lives in
 * the thread's scratch).  Needs the scratch of nst_gram (ct). */
void nst_tap_gram(const struct nst_engine *engine, const struct nst_tap *tap, size_t n, const float *in, float *f,
                  float *gram);
/* style loss value sum((G - A)^2) / c^2 * weight, and the matrix M = 4 * weight / (c^2 * n * c) * (G - A)
 * such that dL/dF = F M, written in the same pass straight into the form the gradient's GEMM reads
 * (nst_gemm_pack's panels at the engine's GEMM kernel's NR: nst_style_m_floats of them), or NULL when
 * only the value is wanted (engine may then be NULL: the calling thread). */
size_t nst_style_m_floats(const struct nst_engine *engine, int c);
double nst_style_loss(const struct nst_engine *engine, int c, size_t n, const float *gram, const float *target,
                      float weight, float *m_packed);
/* grad [n][c] (+)= F [n][c] x M [c][c] (m_packed: as nst_style_loss writes it); accumulate adds to grad
 * instead of overwriting it. */
void nst_style_grad(const struct nst_engine *engine, size_t n, int c, const float *f, const float *m_packed,
                    float *grad, bool accumulate);
/* The loss gradient at a tapped layer's output in [n][cs]: with the tap's features f [n][ct] (NULL:
 * remade from in, block by block, as nst_tap_gram makes them), G = F M (style, when m_packed, M
 * [ct][ct] as nst_style_loss packs it, is not NULL) + 2 content_weight / (n ct) (F - P) (content, when p [n][ct] is not NULL), zero where
 * F <= 0, then out [n][cs] = the tap's convolution transposed applied to G.  G is never stored
 * whole: it lives in per-thread row blocks (nst_tap_grad_scratch_floats of the engine's scratch). */
size_t nst_tap_grad_scratch_floats(const struct nst_gemm_kernel *gemm, int ct);
void nst_tap_grad(const struct nst_engine *engine, const struct nst_tap *tap, size_t n, const float *in, const float *f,
                  const float *m_packed, const float *p, float content_weight, float *out);
/* content loss weight * sum((F - P)^2) / count; grad (+)= 2 * weight / count * (F - P) if grad. */
double nst_content_loss(const struct nst_engine *engine, size_t count, const float *f, const float *p,
                        float weight, float *grad, bool accumulate);
/* total variation of x [h][w][3] times weight; grad (+)= its gradient. */
double nst_tv_loss(const struct nst_engine *engine, int h, int w, int c, const float *x, float weight, float *grad,
                   bool accumulate);

/* ---------------------------------------------------------------------------------------------
 * XNNPACK backend (src/xnnpack.c): convolution operators whose memory comes from a heap in the
 * arena; without XNNPACK in the build every call returns NST_ERR_UNSUPPORTED.
 * ------------------------------------------------------------------------------------------- */
struct nst_xnn_heap {
	uint8_t *base;        /* the arena region (NULL while measuring) */
	size_t size;          /* its bytes */
	size_t used;          /* bytes handed out (or, while measuring, that would have been) */
	bool measuring;       /* blocks come from malloc and are freed by nst_xnn_end */
	void *chain;          /* measuring: the malloc'ed blocks */
	size_t allocations;   /* requests served */
	size_t escaped;       /* requests refused: did not fit the region (must stay 0) */
	struct nst_xnn_heap *previous; /* the heap in use before this one started (restored at its end) */
};
bool nst_xnn_available(void);
enum nst_status nst_xnn_begin_measure(struct nst_xnn_heap *heap);
enum nst_status nst_xnn_begin(struct nst_xnn_heap *heap, void *region, size_t bytes);
void nst_xnn_end(struct nst_xnn_heap *heap);
/* A convolution operator from HWIO weights (backward: the input gradient's operator, no bias);
 * staging holds kh*kw*cin*cout floats for the relayout. */
enum nst_status nst_xnn_conv_create(const struct nst_conv_shape *shape, const float *hwio, const float *bias,
                                    bool relu, bool backward, float *staging, void **op);
enum nst_status nst_xnn_conv_run(void *op, int h, int w, const float *in, float *out, pthreadpool_t pool);
/* Setup only (what the planner measures: XNNPACK allocates its indirection buffer here). */
enum nst_status nst_xnn_conv_setup(void *op, int h, int w, const float *in, float *out, pthreadpool_t pool);
void nst_xnn_delete(void *op);
/* float16 (precision fp16): whether XNNPACK has f16 convolutions on this CPU (a probe on a
 * counting heap; false where it answers xnn_status_unsupported_hardware). */
bool nst_xnn_f16_supported(void);
/* An f16 convolution operator (no bias, no clamp) from HWIO float32 weights, converted to IEEE
 * half; staging holds kh*kw*cin*cout floats; *l1 is the kernel's largest per-output-channel L1
 * norm (what bounds the output from the input's largest magnitude). */
enum nst_status nst_xnn_conv_create_f16(const struct nst_conv_shape *shape, const float *hwio, bool backward,
                                        float *staging, float *l1, void **op);
/* What the f16 convolutions share: float32 <-> float16 conversion operators and the float16
 * copies of one convolution's input and output. */
struct nst_xnn_f16 {
	void *to_f16, *to_f32;        /* XNNPACK convert operators, created once */
	uint16_t *in, *out;           /* [halves] each: the largest activation as float16 */
	size_t halves;
};
enum nst_status nst_xnn_f16_begin(struct nst_xnn_f16 *c, uint16_t *in, uint16_t *out, size_t halves);
void nst_xnn_f16_end(struct nst_xnn_f16 *c);
/* out [h][w][cout] = conv(in [h][w][cin]) through float16, times *unscale: the caller multiplies
 * out by *unscale (with its bias, ReLU or mask).  When writable, in is first multiplied in place by
 * the power of two that fits it into float16 (its values are not needed afterwards); otherwise it
 * must already fit (|in| * l1 < 65504: a picture's pixels do). */
enum nst_status nst_xnn_conv_run_f16(const struct nst_xnn_f16 *c, void *op, float l1, int h, int w, int cin, int cout,
                                     float *in, bool writable, float *out, float *unscale, pthreadpool_t pool);
/* Setup only, at the size it will run (the planner's measurement). */
enum nst_status nst_xnn_conv_setup_f16(void *op, int h, int w, const uint16_t *in, uint16_t *out);
/* The XNNPACK heap of a session (NULL unless its backend is xnnpack): for tests. */
struct nst_session;
const struct nst_xnn_heap *nst_session_xnn_heap(const struct nst_session *session);
/* mask bit i = (values[i] > 0): the ReLU mask of an output computed elsewhere. */
void nst_mask_from_positive(const struct nst_engine *engine, size_t n, const float *values, uint8_t *mask);

/* ---------------------------------------------------------------------------------------------
 * The clock (src/clock.c), the CPU count (src/cpu_count.c), the generator (src/rng.c)
 * ------------------------------------------------------------------------------------------- */
/* nst_seconds: include/nst.h */
/* The CPU limit of the cgroups listed in cgroup_file (/proc/self/cgroup's format) under the
 * cgroup mount root (/sys/fs/cgroup): the tightest ceil(quota / period) of cgroup v2's cpu.max
 * and v1's cpu.cfs_quota_us / cpu.cfs_period_us over the cgroup and those above it; 0 for none.
 * (nst_cpu_count's; the paths are parameters for the tests.) */
int nst_cgroup_cpu_limit(const char *cgroup_file, const char *root);
/* The cgroups of cgroup_file (/proc/self/cgroup's format) under the mount root (/sys/fs/cgroup):
 * visit(context, folder, v2) for each v2 cgroup's folder (under root and root/unified) and each v1
 * hierarchy naming controller (under root/CONTROLLERS), then for every folder above it up to that
 * mount's root (a limit applies to the cgroups below it; in a container the mount's root is the
 * container's own cgroup, and a path the mount does not have ends there too).  src/cgroup.c */
typedef void (*nst_cgroup_visit_fn)(void *context, const char *dir, bool v2);
void nst_cgroup_walk(const char *cgroup_file, const char *root, const char *controller, nst_cgroup_visit_fn visit,
                     void *context);
/* The number a cgroup file dir/file starts with; false when there is none ("max") or no file. */
bool nst_cgroup_number(const char *dir, const char *file, long long *out);
/* The headroom under the memory limits of the cgroups of cgroup_file under root (v2 memory.max,
 * v1 memory.limit_in_bytes) over the cgroup and those above it: the tightest limit less the
 * cgroup's working set (memory.current / memory.usage_in_bytes less the page cache the kernel can
 * drop: memory.stat's inactive_file / total_inactive_file), at least 1; 0 for no limit.
 * (nst_memory_available's; the paths are parameters for the tests.) */
size_t nst_cgroup_memory_headroom(const char *cgroup_file, const char *root);

/* Deterministic generator (splitmix64 seeding xoshiro256**) for NST_INIT_RANDOM and the tests. */
struct nst_rng { uint64_t s[4]; };
void nst_rng_seed(struct nst_rng *rng, uint64_t seed);
uint64_t nst_rng_next(struct nst_rng *rng);
double nst_rng_uniform(struct nst_rng *rng);   /* [0, 1) */
double nst_rng_normal(struct nst_rng *rng);    /* N(0, 1), Box-Muller */

/* ---------------------------------------------------------------------------------------------
 * Picture tiles (src/picture_tiles.c) and what they use of the session (src/session.c)
 * ------------------------------------------------------------------------------------------- */
/* For the style layers of options: the pooling factor at the deepest one (style regions' corners
 * must be multiples of it) and the margin, in input pixels, a crop needs around its own region for
 * those features to be exactly the whole picture's (the receptive radius rounded up to it). */
enum nst_status nst_style_geometry(const struct nst_weights *weights, const struct nst_options *options,
                                   int *alignment, int *halo, struct nst_diag *diag);
/* CONVENTIONS.md's preprocessing: x [pixels][3] = BGR(rgb [pixels][3]) - mean, and back (rounded,
 * clamped; with the content's colours, content [pixels][3], when original_colors). */
void nst_rgb_to_x(const uint8_t *rgb, size_t pixels, float *x);
void nst_x_to_rgb(const float *x, const uint8_t *content, size_t pixels, bool original_colors, uint8_t *rgb);

#endif /* NST_INTERNAL_H */
