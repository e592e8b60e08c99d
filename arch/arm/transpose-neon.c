/*
 * NEON transpose (see arch/kernels.h), aarch64 and ARMv7: 4 x 4 blocks through 4 q registers
 * (vtrnq_f32 on pairs of rows, then their low and high halves combined), the ragged edges one
 * float at a time.  Twin: nst_x32_transpose__scalar (a transpose is exact: the same bits).
 */
#include "kernels.h"
#include "transpose-body.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define BLOCK 4

/* d[j * ds + i] = s[i * ss + j], i, j < 4. */
static inline void block4(const float *s, size_t ss, float *d, size_t ds) {
	const float32x4x2_t p = vtrnq_f32(vld1q_f32(s), vld1q_f32(s + ss));          /* rows 0, 1 */
	const float32x4x2_t q = vtrnq_f32(vld1q_f32(s + 2 * ss), vld1q_f32(s + 3 * ss)); /* rows 2, 3 */
	vst1q_f32(d, vcombine_f32(vget_low_f32(p.val[0]), vget_low_f32(q.val[0])));
	vst1q_f32(d + ds, vcombine_f32(vget_low_f32(p.val[1]), vget_low_f32(q.val[1])));
	vst1q_f32(d + 2 * ds, vcombine_f32(vget_high_f32(p.val[0]), vget_high_f32(q.val[0])));
	vst1q_f32(d + 3 * ds, vcombine_f32(vget_high_f32(p.val[1]), vget_high_f32(q.val[1])));
}

NST_TRANSPOSE_KERNEL(neon, BLOCK, block4)

#else
typedef int nst_transpose_neon_unused;
#endif
