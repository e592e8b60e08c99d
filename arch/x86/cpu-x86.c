/*
 * x86-64 CPU feature detection from cpuid and XGETBV.  A feature counts only when the CPU has it
 * and the operating system saves its registers (XCR0): AVX2 / FMA / F16C need the xmm and ymm
 * state, AVX-512 also the opmask and zmm states.  Nothing is cached: the caller keeps the struct.
 */
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
	uint32_t lo, hi;
	/* xgetbv as inline assembly, so that this file needs no -mxsave. */
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

void nst_cpu_detect(struct nst_cpu_features *out) {
	memset(out, 0, sizeof(*out));
	unsigned eax, ebx, ecx, edx;
	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return;
	const bool fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1, f16c = (ecx >> 29) & 1;
	if (!osxsave || !avx)
		return;
	const uint64_t xcr0 = read_xcr0();
	const bool ymm_state = (xcr0 & 0x6) == 0x6;          /* SSE and AVX state */
	const bool zmm_state = (xcr0 & 0xe6) == 0xe6;        /* and opmask, ZMM_Hi256, Hi16_ZMM */
	if (!ymm_state)
		return;
	out->fma = fma;
	out->f16c = f16c;
	if (__get_cpuid_max(0, NULL) >= 7) {
		__cpuid_count(7, 0, eax, ebx, ecx, edx);
		const unsigned subleaves = eax; /* leaf 7's highest subleaf */
		out->avx2 = (ebx >> 5) & 1;
		out->avx512f = zmm_state && ((ebx >> 16) & 1);
		out->avx512bw = zmm_state && ((ebx >> 30) & 1);
		out->avx512vnni = zmm_state && ((ecx >> 11) & 1);
		if (subleaves >= 1) {
			__cpuid_count(7, 1, eax, ebx, ecx, edx);
			out->avxvnni = (eax >> 4) & 1; /* leaf 7 subleaf 1, EAX bit 4 */
		}
	}
}

#else
typedef int nst_cpu_x86_unused;
#endif
