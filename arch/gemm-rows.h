/*
 * What the GEMM microkernels of arch/ share (included by the microkernel files only).
 */
#ifndef NST_GEMM_ROWS_H
#define NST_GEMM_ROWS_H

#include <stdint.h>
#include <string.h>

/* Row i of a microkernel's tile (a##i, c##i from row prev's): rows at or beyond mr (cond) alias
 * the last valid row, reading its a and storing its values again, so that the kernel needs no
 * branch per row; the stores run last row first, so the valid row's values are the last written. */
#define NST_GEMM_ROW(type, i, prev, cond)                                                          \
	const type *a##i = a##prev + a_stride;                                                         \
	float *c##i = c##prev + c_stride;                                                              \
	if (cond) {                                                                                    \
		a##i = a##prev;                                                                            \
		c##i = c##prev;                                                                            \
	}

/* The 4 bytes of one k group of an int8 row (NST_QU8_K_GROUP), for a 32-bit broadcast. */
static inline __attribute__((always_inline)) int32_t nst_load_u8x4(const uint8_t *p) {
	int32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

#endif /* NST_GEMM_ROWS_H */
