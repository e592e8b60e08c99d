/*
 * AVX-512 2x2 argmax pooling (see arch/kernels.h): 16 channels per zmm, the comparisons as mask
 * registers, whose bits are the codes (arch/argmaxpool-body.h's driver, the last channels as the
 * twin does them).  Built with -mavx512f (Makefile), called only when nst_cpu_detect reports
 * AVX-512F.  Twin: nst_f32_argmaxpool__scalar (the same bits).
 */
#include "argmaxpool-body.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define BLOCK 16

static inline uint32_t forward16(size_t c, const float *r0, const float *r1, float *out) {
	const __m512 a = _mm512_loadu_ps(r0), b = _mm512_loadu_ps(r0 + c);
	const __m512 d = _mm512_loadu_ps(r1), e = _mm512_loadu_ps(r1 + c);
	const __mmask16 b1 = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ);
	__m512 m = _mm512_mask_blend_ps(b1, a, b);
	const __mmask16 b2 = _mm512_cmp_ps_mask(d, m, _CMP_GT_OQ);
	m = _mm512_mask_blend_ps(b2, m, d);
	const __mmask16 b3 = _mm512_cmp_ps_mask(e, m, _CMP_GT_OQ);
	_mm512_storeu_ps(out, _mm512_mask_blend_ps(b3, m, e));
	/* code 3 where b3, else 2 where b2, else 1 where b1: bit 0 = b3 | (b1 & ~b2), bit 1 = b3 | b2 */
	const uint32_t lo = (uint32_t)(b3 | (b1 & ~b2)), hi = (uint32_t)(b3 | b2);
	return nst_spread_bits(lo & 0xffffu) | nst_spread_bits(hi & 0xffffu) << 1;
}

static inline void backward16(size_t c, const float *g, uint32_t bits, float *d0, float *d1) {
	const __mmask16 lo = (__mmask16)nst_gather_bits(bits), hi = (__mmask16)nst_gather_bits(bits >> 1);
	const __m512 v = _mm512_loadu_ps(g);
	_mm512_storeu_ps(d0, _mm512_maskz_mov_ps((__mmask16)(~lo & ~hi), v));
	_mm512_storeu_ps(d0 + c, _mm512_maskz_mov_ps((__mmask16)(lo & ~hi), v));
	_mm512_storeu_ps(d1, _mm512_maskz_mov_ps((__mmask16)(~lo & hi), v));
	_mm512_storeu_ps(d1 + c, _mm512_maskz_mov_ps((__mmask16)(lo & hi), v));
}

NST_ARGMAXPOOL_KERNEL(avx512, BLOCK, forward16, backward16)

#else
typedef int nst_argmaxpool_avx512_unused;
#endif
