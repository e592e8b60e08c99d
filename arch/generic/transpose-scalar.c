/*
 * Scalar transpose (see arch/kernels.h): the twin of every SIMD transpose and the portable
 * backend's own.  Rows are taken TRANSPOSE_ROWS at a time (they stay in L1 while each column of
 * them is written as one contiguous run).
 */
#include "kernels.h"

#define TRANSPOSE_ROWS 16

void nst_x32_transpose__scalar(size_t rows, size_t cols, const float *src, size_t src_stride, float *dst,
                               size_t dst_stride) {
	for (size_t i0 = 0; i0 < rows; i0 += TRANSPOSE_ROWS) {
		const size_t i1 = rows - i0 < TRANSPOSE_ROWS ? rows : i0 + TRANSPOSE_ROWS;
		for (size_t j = 0; j < cols; j++)
			for (size_t i = i0; i < i1; i++)
				dst[j * dst_stride + i] = src[i * src_stride + j];
	}
}
