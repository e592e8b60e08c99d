/* Operators of the feed-forward style networks (src/fast_ops.c); internal, not part of the API.
 * Feature maps are [H][W][C] float32 unless a comment says otherwise. */
#ifndef NST_FAST_OPS_H
#define NST_FAST_OPS_H

#include "internal.h"

/* The network's pictures have sides that are multiples of this (two stride-2 convolutions, two
 * 2x upsamples): inputs are padded up to it and the output is cropped back. */
#define NST_FAST_SIDE_MULTIPLE 4
/* Instance norm's epsilon (PyTorch's default, which the trained networks used). */
#define NST_FAST_NORM_EPS 1e-5

static inline int nst_fast_padded(int side) {
	return (side + NST_FAST_SIDE_MULTIPLE - 1) / NST_FAST_SIDE_MULTIPLE * NST_FAST_SIDE_MULTIPLE;
}

/* x [hp][wp][3] = rgb [h][w][3] as float 0..255, padded at the right and the bottom by
 * replicating the last column / row (hp >= h, wp >= w). */
void nst_fast_input(int w, int h, const uint8_t *rgb, int wp, int hp, float *x);

/* rgb_out [h][w][3] = round(s * clamp(y, 0, 255) + (1 - s) * rgb_in), y the top-left h x w of
 * [hp][wp][3]; strength s in 0..1 (0 returns rgb_in exactly; NaN reads as 0). rgb_out may be
 * rgb_in. */
void nst_fast_output(int w, int h, const float *y, int wp, const uint8_t *rgb_in, float strength, uint8_t *rgb_out);
/* out [h][w][3] = the top-left h x w of y [hp][wp][3], unclamped. */
void nst_fast_output_raw(int w, int h, const float *y, int wp, float *out);

/* What follows an instance norm. */
enum nst_norm_then {
	NST_NORM_RELU = 0,   /* x = relu(norm(x)) */
	NST_NORM_PLAIN = 1,  /* x = norm(x) */
	NST_NORM_ADD = 2,    /* residual += norm(x) (x is left as it was) */
};

/* Doubles of scratch nst_instance_norm needs: per-slot partial sums and the per-channel affine. */
size_t nst_instance_norm_scratch_doubles(int threads, int c);
/* Instance norm of x [n][c] (n = H*W) per channel: (x - mean) / sqrt(var + eps) * gamma + beta,
 * biased variance, sums in double; then `then`.  residual [n][c] for NST_NORM_ADD. */
void nst_instance_norm(const struct nst_engine *engine, size_t n, int c, float *x, const float *gamma,
                       const float *beta, enum nst_norm_then then, float *residual, double *scratch);

/* Floats of packed weights nst_conv2d_up reads, and their packing: always the GEMM kernel's NR
 * panels (nst_conv_pack_forward packs few output channels for nst_conv2d's small-N kernels). */
size_t nst_conv_up_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
void nst_conv_up_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, const float *hwio,
                      const float *bias, float *packed);
/* Floats of per-thread scratch nst_conv2d_up needs (its im2col tile). */
size_t nst_conv_up_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape);
/* out [oh][ow][cout] = conv(nearest_up(in [h][w][cin])), packed as for nst_conv2d; up is 1 (a plain
 * convolution, any stride) or 2 (stride 1: the input upsampled 2x, nearest).  Padding (reflection
 * or zeros) applies to the upsampled picture, which is never built: the im2col tile reads its
 * pixels from the input directly.  oh = nst_conv_out_size(up * h, ...), likewise ow. */
void nst_conv2d_up(const struct nst_engine *engine, const struct nst_conv_shape *shape, int up, int h, int w,
                   const float *in, const float *packed, float *out);

/* A 3x3, stride-1, pad-1 convolution by Winograd's F(m x m, 3x3), m = f (2 or 4): (m + 2)^2 input
 * tiles transformed (B^T d B, the arch/ transform kernels), (m + 2)^2 GEMMs over the channels with
 * the transformed kernels (G g G^T, packed once: (m + 2)^2 / 9 of the plain packing), and m x m
 * output tiles transformed back (A^T M A): 2.25 (F2) or 4 (F4) times fewer multiplies.  Packing
 * needs staging floats. */
enum nst_wino {
	NST_WINO_F2 = 2, /* F(2x2, 3x3) */
	NST_WINO_F4 = 4, /* F(4x4, 3x3) */
};
bool nst_conv_winograd_applies(const struct nst_conv_shape *shape);
size_t nst_conv_winograd_packed_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                       enum nst_wino f);
size_t nst_conv_winograd_staging_floats(const struct nst_conv_shape *shape);
size_t nst_conv_winograd_scratch_floats(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape,
                                        enum nst_wino f);
/* Packs HWIO weights [3][3][cin][cout] and bias [cout] (NULL: zeros). */
void nst_conv_winograd_pack(const struct nst_gemm_kernel *gemm, const struct nst_conv_shape *shape, enum nst_wino f,
                            const float *hwio, const float *bias, float *staging, float *packed);
/* out [h][w][cout] = conv(in [h][w][cin]), as nst_conv2d computes it (up to rounding). */
void nst_conv2d_winograd(const struct nst_engine *engine, const struct nst_conv_shape *shape, enum nst_wino f, int h,
                         int w, const float *in, const float *packed, float *out);

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

#endif /* NST_FAST_OPS_H */
