/*
 * Scalar Winograd transforms (see arch/kernels.h): the twins of every SIMD transform kernel and the
 * portable backend's own, one channel at a time from the arithmetic of arch/wino-body.h.
 */
#include "kernels.h"

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

NST_WINO_KERNELS(scalar, 1, one_, one_)
