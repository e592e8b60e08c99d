/*
 * NEON Winograd transforms (see arch/kernels.h), aarch64 and ARMv7: 4 channels per q register,
 * the arithmetic of arch/wino-body.h (vfmaq_f32 with FMA, else vmlaq_f32); the last c % 4
 * channels one at a time.  Twins: the __scalar transforms.
 */
#include "kernels.h"

#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include <arm_neon.h>

#define LANES 4

#define WT_VEC float32x4_t
#define WT_LOAD(p) vld1q_f32(p)
#define WT_STORE(p, v) vst1q_f32((p), (v))
#define WT_SPLAT(x) vdupq_n_f32(x)
#define WT_ADD(a, b) vaddq_f32((a), (b))
#define WT_SUB(a, b) vsubq_f32((a), (b))
#if defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
#define WT_MADD(a, b, k) vfmaq_f32((a), (b), (k))
#else
#define WT_MADD(a, b, k) vmlaq_f32((a), (b), (k))
#endif
#define WT_CLAMP(v, lo, hi) vminq_f32(vmaxq_f32((v), (lo)), (hi))
#define WT_FN(name) vec_##name
#include "wino-body.h"
#undef WT_VEC
#undef WT_LOAD
#undef WT_STORE
#undef WT_SPLAT
#undef WT_ADD
#undef WT_SUB
#undef WT_MADD
#undef WT_CLAMP
#undef WT_FN

#define WT_VEC float
#define WT_LOAD(p) (*(p))
#define WT_STORE(p, v) (*(p) = (v))
#define WT_SPLAT(x) (x)
#define WT_ADD(a, b) ((a) + (b))
#define WT_SUB(a, b) ((a) - (b))
#define WT_MADD(a, b, k) ((a) + (b) * (k))
#define WT_CLAMP(v, lo, hi) nst_wino_clamp_one((v), (lo), (hi))
#define WT_FN(name) one_##name
#include "wino-body.h"

NST_WINO_KERNELS(neon, LANES, vec_, one_)

#else
typedef int nst_wino_neon_unused;
#endif
