/*
 * AVX2 + FMA tap-list grouped convolution (arch/kernels.h, "Tap-list grouped convolution"; the
 * passes in arch/dwconv-body.h): 8 lanes per ymm; cog 2 duplicates 4 input channels into 8 lanes
 * with one permute, cig 2 sums lane pairs with a horizontal add and a permute.  Built with -mavx2
 * -mfma; twin: nst_f32_dwconv__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define PAIRS_IN_ORDER 0xd8 /* 64-bit elements 0, 2, 1, 3 */

static inline __m256 load_twice(const float *p) {
	const __m256i twice = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
	return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)), twice);
}

/* hadd: a0+a1 a2+a3 b0+b1 b2+b3 | a4+a5 a6+a7 b4+b5 b6+b7; then the middle pairs swapped */
static inline __m256 pair_sums(__m256 a, __m256 b) {
	return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_hadd_ps(a, b)), PAIRS_IN_ORDER));
}

#define DW_VEC __m256
#define DW_LANES 8
#define DW_ZERO() _mm256_setzero_ps()
#define DW_SPLAT(x) _mm256_set1_ps(x)
#define DW_LOAD(p) _mm256_loadu_ps(p)
#define DW_STORE(p, v) _mm256_storeu_ps(p, v)
#define DW_ADD(a, b) _mm256_add_ps(a, b)
#define DW_MIN(a, b) _mm256_min_ps(a, b)
#define DW_MAX(a, b) _mm256_max_ps(a, b)
#define DW_FMA(acc, a, b) _mm256_fmadd_ps(a, b, acc)
#define DW_LOAD_TWICE(p) load_twice(p)
#define DW_PAIR_SUMS(a, b) pair_sums(a, b)
#define DW_RUN 8 /* pixels per pass of the sliding 3 x 3 path: 8 sums, 3 weights and an input of the 16 ymm */
#define DW_FN nst_f32_dwconv__avx2
#include "dwconv-body.h"
#endif
