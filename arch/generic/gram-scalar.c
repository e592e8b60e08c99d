/*
 * Scalar Gram-tile kernels (arch/kernels.h): the twins of every SIMD member, one body instantiated
 * per tile shape with compile-time MR and NR.  Each sum starts from 0 and adds a[p][i] * b[p][j] in
 * p order, a multiply then an add (-ffp-contract=off keeps them two roundings), then goes onto c.
 */
#include "kernels.h"

#define NST_GRAM_SCALAR(MR, NR)                                                                    \
	void nst_f32_gram_##MR##x##NR##__scalar(NST_GRAM_ARGS) {                                        \
		float *crow[MR];                                                                           \
		size_t arow[MR]; /* row i's channel: i, or the last valid one */                           \
		for (size_t i = 0; i < MR; i++) {                                                          \
			arow[i] = i < mr ? i : mr - 1;                                                         \
			crow[i] = c + arow[i] * c_stride;                                                      \
		}                                                                                          \
		do {                                                                                       \
			const size_t n = nc < NR ? nc : NR;                                                    \
			float acc[MR][NR];                                                                     \
			for (size_t i = 0; i < MR; i++)                                                        \
				for (size_t j = 0; j < NR; j++)                                                    \
					acc[i][j] = 0.0f;                                                              \
			for (size_t p = 0; p < kc; p++) {                                                      \
				const float *ap = a + p * a_stride, *bp = b + p * b_stride;                        \
				for (size_t i = 0; i < MR; i++) {                                                  \
					const float ai = ap[arow[i]];                                                  \
					for (size_t j = 0; j < NR; j++)                                                \
						acc[i][j] += ai * bp[j];                                                   \
				}                                                                                  \
			}                                                                                      \
			/* Every row's c read before any is written; last row first: aliased rows store the  \
			 * valid row's values again. */                                                       \
			for (size_t i = 0; i < MR; i++)                                                        \
				for (size_t j = 0; j < n; j++)                                                     \
					acc[i][j] = crow[i][j] + acc[i][j];                                            \
			for (size_t i = MR; i-- > 0;) {                                                        \
				for (size_t j = 0; j < n; j++)                                                     \
					crow[i][j] = acc[i][j];                                                        \
				crow[i] += n;                                                                      \
			}                                                                                      \
			b += NR;                                                                               \
			nc -= n;                                                                               \
		} while (nc != 0);                                                                         \
	}

NST_GRAM_SCALAR(4, 8)
NST_GRAM_SCALAR(6, 16)
NST_GRAM_SCALAR(8, 8)
NST_GRAM_SCALAR(8, 32)
