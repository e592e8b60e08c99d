/*
 * AVX-512F tap-list grouped convolution (arch/kernels.h, "Tap-list grouped convolution"; the
 * passes in arch/dwconv-body.h): 16 lanes per zmm; cog 2 duplicates 8 input channels into 16
 * lanes with one permute, cig 2 sums lane pairs with two permutes.  Built with -mavx512f -mavx2
 * -mfma; twin: nst_f32_dwconv__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

static inline __m512 load_twice(const float *p) {
	const __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
	return _mm512_permutexvar_ps(twice, _mm512_castps256_ps512(_mm256_loadu_ps(p)));
}

static inline __m512 pair_sums(__m512 a, __m512 b) {
	const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
	return _mm512_add_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

#define DW_VEC __m512
#define DW_LANES 16
#define DW_ZERO() _mm512_setzero_ps()
#define DW_SPLAT(x) _mm512_set1_ps(x)
#define DW_LOAD(p) _mm512_loadu_ps(p)
#define DW_STORE(p, v) _mm512_storeu_ps(p, v)
#define DW_ADD(a, b) _mm512_add_ps(a, b)
#define DW_MIN(a, b) _mm512_min_ps(a, b)
#define DW_MAX(a, b) _mm512_max_ps(a, b)
#define DW_FMA(acc, a, b) _mm512_fmadd_ps(a, b, acc)
#define DW_LOAD_TWICE(p) load_twice(p)
#define DW_PAIR_SUMS(a, b) pair_sums(a, b)
#define DW_RUN 8 /* pixels per pass of the sliding 3 x 3 path: 8 sums, 3 weights and an input (of 32 zmm) */
#define DW_FN nst_f32_dwconv__avx512
#include "dwconv-body.h"
#endif
