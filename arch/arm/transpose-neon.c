/*
 * NEON transpose (arch/kernels.h), aarch64 and ARMv7: whole blocks of 4 x 4 floats turned in
 * registers (vtrnq of row pairs, then the halves combined); the ragged edges one float at a time.
 * Twin: nst_f32_transpose__scalar.
 */
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define LANES 4

static void block4(const float *src, size_t src_stride, float *dst, size_t dst_stride) {
	const float32x4x2_t t01 = vtrnq_f32(vld1q_f32(src), vld1q_f32(src + src_stride));
	const float32x4x2_t t23 = vtrnq_f32(vld1q_f32(src + 2 * src_stride), vld1q_f32(src + 3 * src_stride));
	vst1q_f32(dst, vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0])));
	vst1q_f32(dst + dst_stride, vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1])));
	vst1q_f32(dst + 2 * dst_stride, vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0])));
	vst1q_f32(dst + 3 * dst_stride, vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1])));
}

NST_TRANSPOSE_BY_BLOCKS(neon, LANES, block4)

#else
typedef int nst_transpose_neon_unused;
#endif
