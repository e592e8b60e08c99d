/*
 * AVX-512F row mix (arch/kernels.h): 32 lanes (two zmm) of each of the nc outputs at a time, then
 * the last 1 .. 32 in one or two vectors, the last masked; per row, nc weights broadcast and
 * 2 nc FMAs on the row's two vectors (nc 3: 6 accumulators, 5 loads per 6 FMAs).
 * Built with -mavx512f -mavx2 -mfma (Makefile), called only when nst_cpu_detect reports AVX-512F.
 * Twin: nst_f32_rowmix__scalar.
 */
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LANES 16
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Lanes j0 .. j0 + V * 16 of the N outputs (V vectors, the last masked by tail; N, V constants after
 * inlining). */
static ALWAYS_INLINE void mix_block(const size_t N, const size_t V, size_t j0, __mmask16 tail, size_t k,
                                    const float *base, const size_t *offsets, const float *w, float *c,
                                    size_t c_stride) {
	__m512 acc[NST_ROWMIX_NC][2];
#pragma GCC unroll 4
	for (size_t o = 0; o < N; o++)
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++)
			acc[o][v] = _mm512_setzero_ps();
	for (size_t i = 0; i < k; i++) {
		const float *row = base + offsets[i] + j0;
		__m512 x[2];
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++)
			x[v] = v + 1 < V ? _mm512_loadu_ps(row + v * LANES) : _mm512_maskz_loadu_ps(tail, row + v * LANES);
#pragma GCC unroll 4
		for (size_t o = 0; o < N; o++) {
			const __m512 wo = _mm512_set1_ps(w[i * NST_ROWMIX_NC + o]);
#pragma GCC unroll 2
			for (size_t v = 0; v < V; v++)
				acc[o][v] = _mm512_fmadd_ps(wo, x[v], acc[o][v]);
		}
	}
#pragma GCC unroll 4
	for (size_t o = 0; o < N; o++)
#pragma GCC unroll 2
		for (size_t v = 0; v < V; v++) {
			float *dst = c + o * c_stride + j0 + v * LANES;
			if (v + 1 < V)
				_mm512_storeu_ps(dst, acc[o][v]);
			else
				_mm512_mask_storeu_ps(dst, tail, acc[o][v]);
		}
}

static ALWAYS_INLINE void mix(const size_t N, size_t n, size_t k, const float *base, const size_t *offsets,
                              const float *w, float *c, size_t c_stride) {
	size_t j = 0;
	for (; j + 2 * LANES <= n; j += 2 * LANES)
		mix_block(N, 2, j, (__mmask16)0xFFFF, k, base, offsets, w, c, c_stride);
	/* the last 1 .. 32 lanes: two vectors (the second masked) while there are more than 16, so that
	 * a strip of 30 tiles keeps its 2 nc accumulators */
	const __mmask16 tail = (__mmask16)(0xFFFFu >> ((LANES - (n - j) % LANES) % LANES));
	if (n - j > LANES)
		mix_block(N, 2, j, tail, k, base, offsets, w, c, c_stride);
	else if (j < n)
		mix_block(N, 1, j, tail, k, base, offsets, w, c, c_stride);
}

NST_ROWMIX_ENTRY(avx512, mix)

#else
typedef int nst_rowmix_avx512_unused;
#endif
