/*
 * AVX2 + FMA Winograd transforms (see arch/kernels.h): 8 channels per ymm, the arithmetic of
 * arch/wino-body.h; the last c % 8 channels one at a time.  Built with -mavx2 -mfma -mf16c
 * (Makefile), called only when nst_cpu_detect reports AVX2 + FMA.  Twins: the __scalar transforms.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8

#define WT_VEC __m256
#define WT_LOAD(p) _mm256_loadu_ps(p)
#define WT_STORE(p, v) _mm256_storeu_ps((p), (v))
#define WT_SPLAT(x) _mm256_set1_ps(x)
#define WT_ADD(a, b) _mm256_add_ps((a), (b))
#define WT_SUB(a, b) _mm256_sub_ps((a), (b))
#define WT_MADD(a, b, k) _mm256_fmadd_ps((b), (k), (a))
#define WT_CLAMP(v, lo, hi) _mm256_min_ps((hi), _mm256_max_ps((lo), (v)))
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

NST_WINO_KERNELS(avx2, LANES, vec_, one_)

#else
typedef int nst_wino_avx2_unused;
#endif
