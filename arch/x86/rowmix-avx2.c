/*
 * AVX2 + FMA row mix (arch/kernels.h): 16 lanes (two ymm) of each of the nc outputs at a time,
 * the last 1 .. 16 in one or two vectors, the last masked; per row, nc weights broadcast and
 * 2 nc FMAs (nc 4: 8 accumulators, 2 row vectors and a weight of the 16 registers).
 * Built with -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports AVX2 and FMA.
 * Twin: nst_f32_rowmix__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 8
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Lanes j0 .. j0 + V * 8 of the N outputs (V vectors; when masked, the last through tail: each
 * lane's mask has its sign bit set when the lane is in; N, V and masked constants after inlining:
 * whole blocks load and store plainly, vmaskmov costs more, its stores most on AMD). */
static ALWAYS_INLINE void mix_block(const size_t N, const size_t V, const bool masked, size_t j0, __m256i tail, size_t k,
                                    const float *base, const size_t *offsets, const float *w, float *c,
                                    size_t c_stride) {
	__m256 acc[NST_ROWMIX_NC][2];
#pragma GCC unroll 4
	for (size_t o = 0; o < N; o++)
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++)
			acc[o][v] = _mm256_setzero_ps();
	for (size_t i = 0; i < k; i++) {
		const float *row = base + offsets[i] + j0;
		__m256 x[2];
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++)
			x[v] = v + 1 < V || !masked ? _mm256_loadu_ps(row + v * LANES) : _mm256_maskload_ps(row + v * LANES, tail);
#pragma GCC unroll 4
		for (size_t o = 0; o < N; o++) {
			const __m256 wo = _mm256_broadcast_ss(w + i * NST_ROWMIX_NC + o);
#pragma GCC unroll 2
			for (size_t v = 0; v < V; v++)
				acc[o][v] = _mm256_fmadd_ps(wo, x[v], acc[o][v]);
		}
	}
#pragma GCC unroll 4
	for (size_t o = 0; o < N; o++)
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++) {
			float *dst = c + o * c_stride + j0 + v * LANES;
			if (v + 1 < V || !masked)
				_mm256_storeu_ps(dst, acc[o][v]);
			else
				_mm256_maskstore_ps(dst, tail, acc[o][v]);
		}
}

static ALWAYS_INLINE void mix(const size_t N, size_t n, size_t k, const float *base, const size_t *offsets,
                              const float *w, float *c, size_t c_stride) {
	size_t j = 0;
	for (; j + 2 * LANES <= n; j += 2 * LANES)
		mix_block(N, 2, false, j, _mm256_set1_epi32(-1), k, base, offsets, w, c, c_stride);
	/* the last 1 .. 16 lanes: two vectors (the second masked) while there are more than 8 */
	const size_t last = (n - j - 1) % LANES + 1; /* lanes of the last vector */
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)last), lane);
	if (n - j > LANES)
		mix_block(N, 2, true, j, tail, k, base, offsets, w, c, c_stride);
	else if (j < n)
		mix_block(N, 1, true, j, tail, k, base, offsets, w, c, c_stride);
}

NST_ROWMIX_ENTRY(avx2, mix)

#else
typedef int nst_rowmix_avx2_unused;
#endif
