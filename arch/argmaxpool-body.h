/*
 * The 2x2 argmax pooling of arch/kernels.h (nst_f32_argmaxpool__*), written once: the scalar twin's
 * channel loops, and the driver of the SIMD members, which take whole vectors of BLOCK channels
 * through the ISA's block functions and the remaining channels (whole code bytes) through the
 * twin's loops.  A forward block function FORWARD(c, r0, r1, out) stores BLOCK maxima and returns
 * their codes, channel j's at bits 2 j; BACKWARD(c, g, bits, d0, d1) routes BLOCK gradients by
 * such codes.  This file includes no intrinsics header.
 */
#ifndef NST_ARGMAXPOOL_BODY_H
#define NST_ARGMAXPOOL_BODY_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels.h"

/* Channels [k0, c) forward, k0 a multiple of NST_ARGMAX_CODES_PER_BYTE. */
static inline void nst_argmaxpool_channels(size_t k0, size_t c, const float *r0, const float *r1, float *out,
                                           uint8_t *codes) {
	for (size_t k = k0; k < c; k += NST_ARGMAX_CODES_PER_BYTE) {
		unsigned byte = 0;
		for (unsigned j = 0; j < NST_ARGMAX_CODES_PER_BYTE; j++) { /* branchless: the compiler selects */
			const size_t ch = k + j;
			float m = r0[ch];
			unsigned code = 0;
			const bool b1 = r0[c + ch] > m;
			m = b1 ? r0[c + ch] : m;
			code = b1 ? 1u : code;
			const bool b2 = r1[ch] > m;
			m = b2 ? r1[ch] : m;
			code = b2 ? 2u : code;
			const bool b3 = r1[c + ch] > m;
			m = b3 ? r1[c + ch] : m;
			code = b3 ? 3u : code;
			out[ch] = m;
			byte |= code << (j * NST_ARGMAX_BITS);
		}
		codes[k / NST_ARGMAX_CODES_PER_BYTE] = (uint8_t)byte;
	}
}

/* Channels [k0, c) backward. */
static inline void nst_argmaxpool_backward_channels(size_t k0, size_t c, const float *g, const uint8_t *codes,
                                                    float *d0, float *d1) {
	for (size_t k = k0; k < c; k++) {
		const unsigned shift = (unsigned)(k % NST_ARGMAX_CODES_PER_BYTE) * NST_ARGMAX_BITS;
		const unsigned code = (codes[k / NST_ARGMAX_CODES_PER_BYTE] >> shift) & 3u;
		d0[k] = code == 0 ? g[k] : 0.0f;
		d0[c + k] = code == 1 ? g[k] : 0.0f;
		d1[k] = code == 2 ? g[k] : 0.0f;
		d1[c + k] = code == 3 ? g[k] : 0.0f;
	}
}

/* Bit j of x to bit 2 j (x of at most 16 bits), and back (the even bits of x). */
static inline uint32_t nst_spread_bits(uint32_t x) {
	x = (x | x << 8) & 0x00ff00ffu;
	x = (x | x << 4) & 0x0f0f0f0fu;
	x = (x | x << 2) & 0x33333333u;
	return (x | x << 1) & 0x55555555u;
}
static inline uint32_t nst_gather_bits(uint32_t x) {
	x &= 0x55555555u;
	x = (x | x >> 1) & 0x33333333u;
	x = (x | x >> 2) & 0x0f0f0f0fu;
	x = (x | x >> 4) & 0x00ff00ffu;
	return (x | x >> 8) & 0x0000ffffu;
}

#define NST_ARGMAXPOOL_BYTES(BLOCK) ((BLOCK) / NST_ARGMAX_CODES_PER_BYTE)

#define NST_ARGMAXPOOL_KERNEL(ISA, BLOCK, FORWARD, BACKWARD)                                       \
	void nst_f32_argmaxpool__##ISA(size_t c, const float *r0, const float *r1, float *out, uint8_t *codes) { \
		size_t k = 0;                                                                              \
		for (; k + (BLOCK) <= c; k += (BLOCK)) {                                                   \
			const uint32_t bits = FORWARD(c, r0 + k, r1 + k, out + k);                             \
			for (size_t b = 0; b < NST_ARGMAXPOOL_BYTES(BLOCK); b++)                               \
				codes[k / NST_ARGMAX_CODES_PER_BYTE + b] = (uint8_t)(bits >> (8 * b));             \
		}                                                                                          \
		nst_argmaxpool_channels(k, c, r0, r1, out, codes);                                         \
	}                                                                                              \
	void nst_f32_argmaxpool_backward__##ISA(size_t c, const float *g, const uint8_t *codes, float *d0, float *d1) { \
		size_t k = 0;                                                                              \
		for (; k + (BLOCK) <= c; k += (BLOCK)) {                                                   \
			uint32_t bits = 0;                                                                     \
			for (size_t b = 0; b < NST_ARGMAXPOOL_BYTES(BLOCK); b++)                               \
				bits |= (uint32_t)codes[k / NST_ARGMAX_CODES_PER_BYTE + b] << (8 * b);             \
			BACKWARD(c, g + k, bits, d0 + k, d1 + k);                                              \
		}                                                                                          \
		nst_argmaxpool_backward_channels(k, c, g, codes, d0, d1);                                  \
	}

#endif
