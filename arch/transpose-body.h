/*
 * The driver of the SIMD transposes of arch/kernels.h, written once: whole BLOCK x BLOCK blocks
 * through BLOCK_FN(s, ss, d, ds) (d[j * ds + i] = s[i * ss + j], i, j < BLOCK), the ragged edges
 * one float at a time.  Each kernel file (arch/x86/transpose-avx512.c, ...) defines its block
 * function and expands NST_TRANSPOSE_KERNEL once.  This file includes no intrinsics header.
 */
#ifndef NST_TRANSPOSE_BODY_H
#define NST_TRANSPOSE_BODY_H

#define NST_TRANSPOSE_KERNEL(ISA, BLOCK, BLOCK_FN)                                                 \
	void nst_x32_transpose__##ISA(size_t rows, size_t cols, const float *src, size_t src_stride, float *dst, \
	                              size_t dst_stride) {                                               \
		const size_t whole_rows = rows - rows % (BLOCK), whole_cols = cols - cols % (BLOCK);     \
		for (size_t i0 = 0; i0 < whole_rows; i0 += (BLOCK))                                      \
			for (size_t j0 = 0; j0 < whole_cols; j0 += (BLOCK))                                  \
				BLOCK_FN(src + i0 * src_stride + j0, src_stride, dst + j0 * dst_stride + i0, dst_stride); \
		for (size_t i = 0; i < rows; i++) /* the ragged edges */                                 \
			for (size_t j = i < whole_rows ? whole_cols : 0; j < cols; j++)                      \
				dst[j * dst_stride + i] = src[i * src_stride + j];                               \
	}

#endif
