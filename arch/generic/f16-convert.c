/*
 * IEEE binary16 <-> binary32, exact in C on every CPU (no F16C / NEON conversion instructions needed):
 * the weights files' float16 tensors, XNNPACK's float16 staging and the float16 GEMM kernels'
 * packed weights.
 */
#include <string.h>

#include "kernels.h"

#define F16_SIGN 0x8000u
#define F16_EXP_MASK 0x7c00u       /* all-ones exponent: infinity or NaN */
#define F16_MANT_BITS 10
#define F16_MANT_MASK 0x03ffu
#define F16_QUIET 0x0200u          /* top mantissa bit: quiet NaN */
#define F16_EXP_BIAS 15
#define F32_SIGN 0x80000000u
#define F32_EXP_MASK 0x7f800000u
#define F32_EXP_FIELD 0xffu
#define F32_MANT_BITS 23
#define F32_MANT_MASK 0x007fffffu
#define F32_HIDDEN 0x00800000u     /* the implicit leading 1 of a normal float */
#define F32_EXP_BIAS 127
#define F32_F16_SHIFT (F32_MANT_BITS - F16_MANT_BITS)   /* 13 mantissa bits dropped */

float nst_f16_to_f32(uint16_t h) {
	const uint32_t sign = (uint32_t)(h & F16_SIGN) << 16;
	const uint32_t exp = (uint32_t)(h & F16_EXP_MASK) >> F16_MANT_BITS;
	uint32_t mant = h & F16_MANT_MASK;
	uint32_t bits;
	if (exp == (F16_EXP_MASK >> F16_MANT_BITS)) {          /* infinity, NaN (payload kept) */
		bits = sign | F32_EXP_MASK | mant << F32_F16_SHIFT;
	} else if (exp != 0) {                                 /* normal */
		bits = sign | (exp + F32_EXP_BIAS - F16_EXP_BIAS) << F32_MANT_BITS | mant << F32_F16_SHIFT;
	} else if (mant == 0) {                                /* signed zero */
		bits = sign;
	} else {                                               /* subnormal: mant * 2^-24, normalise */
		uint32_t e = F32_EXP_BIAS - F16_EXP_BIAS + 1;      /* the exponent of 2^-14 */
		while (!(mant & (F16_MANT_MASK + 1))) {
			mant <<= 1;
			e--;
		}
		bits = sign | e << F32_MANT_BITS | (mant & F16_MANT_MASK) << F32_F16_SHIFT;
	}
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

/* Rounds `value >> shift` to nearest, ties to even (shift >= 1). */
static uint32_t shift_round_even(uint32_t value, unsigned shift) {
	const uint32_t kept = value >> shift;
	const uint32_t rest = value & ((UINT32_C(1) << shift) - 1);
	const uint32_t half = UINT32_C(1) << (shift - 1);
	return kept + (rest > half || (rest == half && (kept & 1)));
}

uint16_t nst_f32_to_f16(float f) {
	uint32_t x;
	memcpy(&x, &f, sizeof x);
	const uint16_t sign = (uint16_t)((x & F32_SIGN) >> 16);
	const int exp = (int)((x >> F32_MANT_BITS) & F32_EXP_FIELD);
	const uint32_t mant = x & F32_MANT_MASK;
	if (exp == (int)F32_EXP_FIELD) {
		if (mant == 0)
			return sign | F16_EXP_MASK;                    /* infinity */
		return (uint16_t)(sign | F16_EXP_MASK | F16_QUIET | (mant >> F32_F16_SHIFT)); /* quiet NaN */
	}
	const int e = exp - F32_EXP_BIAS + F16_EXP_BIAS;       /* the binary16 biased exponent */
	if (e >= (int)(F16_EXP_MASK >> F16_MANT_BITS))
		return sign | F16_EXP_MASK;                        /* too large: infinity */
	if (e >= 1) {
		/* Normal: the rounding carry may run into the exponent, up to infinity, as it should. */
		return (uint16_t)(sign | shift_round_even((uint32_t)e << F32_MANT_BITS | mant, F32_F16_SHIFT));
	}
	/* Subnormal result: the value in units of 2^-24 is (F32_HIDDEN | mant) >> shift, rounded. */
	const unsigned shift = (unsigned)(F32_F16_SHIFT + 1 - e);
	if (shift > F32_MANT_BITS + 1)
		return sign;                                       /* below half of 2^-24: zero */
	return (uint16_t)(sign | shift_round_even(F32_HIDDEN | mant, shift));
}

