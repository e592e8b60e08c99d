/*
 * Which GEMM microkernel runs: the table of kernels this build has, each with its scalar twin.
 * x86-64 chooses at run time from the features nst_cpu_detect found; ARM at compile time (the NEON
 * kernels exist only when the compiler targets NEON); every other CPU runs the scalar kernels.
 */
#include "kernels.h"

#define KERNEL(name, mr, nr) { #name, name, mr, nr, false }
#define F16_KERNEL(name, mr, nr) { #name, name, mr, nr, true }
/* SIMD GEMM kernels a build has, at most (x86-64: AVX-512 and AVX2; aarch64: two NEON). */
#define MAX_SIMD_KERNELS 4

static const struct nst_gemm_kernel scalar_4x8 = KERNEL(nst_f32_gemm_4x8__scalar, 4, 8);
#if defined(__x86_64__)
static const struct nst_gemm_kernel scalar_6x16 = KERNEL(nst_f32_gemm_6x16__scalar, 6, 16);
static const struct nst_gemm_kernel avx2_6x16 = KERNEL(nst_f32_gemm_6x16__avx2, 6, 16);
static const struct nst_gemm_kernel scalar_8x32 = KERNEL(nst_f32_gemm_8x32__scalar, 8, 32);
static const struct nst_gemm_kernel avx512_8x32 = KERNEL(nst_f32_gemm_8x32__avx512, 8, 32);
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
static const struct nst_gemm_kernel neon_4x8 = KERNEL(nst_f32_gemm_4x8__neon, 4, 8);
#if defined(__aarch64__)
static const struct nst_gemm_kernel scalar_8x8 = KERNEL(nst_f32_gemm_8x8__scalar, 8, 8);
static const struct nst_gemm_kernel neon_8x8 = KERNEL(nst_f32_gemm_8x8__neon, 8, 8);
#endif
#endif
static const struct nst_gemm_kernel f16_scalar_8x16 = F16_KERNEL(nst_f16_gemm_8x16__scalar, 8, 16);
#if defined(NST_HAVE_F16_GEMM_NEON)
static const struct nst_gemm_kernel f16_neon_8x16 = F16_KERNEL(nst_f16_gemm_8x16__neonfp16arith, 8, 16);
#endif

/* The small-N kernels, one per GEMM kernel's ISA and register file. */
#define DOT(name, mr, nr) { #name, name, mr, nr }
static const struct nst_dot_kernel dot_scalar_4x4 = DOT(nst_f32_dot_4x4__scalar, 4, 4);
#if defined(__x86_64__)
static const struct nst_dot_kernel dot_avx2_4x4 = DOT(nst_f32_dot_4x4__avx2, 4, 4);
static const struct nst_dot_kernel dot_scalar_8x4 = DOT(nst_f32_dot_8x4__scalar, 8, 4);
static const struct nst_dot_kernel dot_avx512_8x4 = DOT(nst_f32_dot_8x4__avx512, 8, 4);
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
static const struct nst_dot_kernel dot_neon_4x4 = DOT(nst_f32_dot_4x4__neon, 4, 4);
#if defined(__aarch64__)
static const struct nst_dot_kernel dot_scalar_8x4 = DOT(nst_f32_dot_8x4__scalar, 8, 4);
static const struct nst_dot_kernel dot_neon_8x4 = DOT(nst_f32_dot_8x4__neon, 8, 4);
#endif
#endif

#if defined(__x86_64__) || defined(__aarch64__)
#define SCALAR_8X4 (&dot_scalar_8x4)
#else
#define SCALAR_8X4 (&dot_scalar_4x4) /* no 8-row small-N kernel on this target */
#endif

const struct nst_gemm_kernel *nst_gemm_kernel_scalar(void) {
	return &scalar_4x8;
}

/* The SIMD kernels cpu can run, fastest first, with their twins; returns how many (<= capacity). */
static size_t list_kernels(const struct nst_cpu_features *cpu, const struct nst_gemm_kernel **simd,
                           const struct nst_gemm_kernel **twin, size_t capacity) {
	size_t n = 0;
#define ADD(s, t)                                                                                  \
	do {                                                                                           \
		if (n < capacity) {                                                                        \
			if (simd)                                                                              \
				simd[n] = (s);                                                                     \
			if (twin)                                                                              \
				twin[n] = (t);                                                                     \
			n++;                                                                                   \
		}                                                                                          \
	} while (0)
#if defined(__x86_64__)
	if (cpu->avx512f && cpu->avx2 && cpu->fma)
		ADD(&avx512_8x32, &scalar_8x32);
	if (cpu->avx2 && cpu->fma)
		ADD(&avx2_6x16, &scalar_6x16);
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
	if (cpu->neon) {
#if defined(__aarch64__)
		ADD(&neon_8x8, &scalar_8x8);
#endif
		ADD(&neon_4x8, &scalar_4x8);
	}
#endif
#undef ADD
	return n;
}

const struct nst_gemm_kernel *nst_gemm_kernel_best(const struct nst_cpu_features *cpu) {
	struct nst_cpu_features detected;
	if (!cpu) {
		nst_cpu_detect(&detected);
		cpu = &detected;
	}
	const struct nst_gemm_kernel *best;
	return list_kernels(cpu, &best, NULL, 1) == 1 ? best : &scalar_4x8;
}

size_t nst_gemm_kernel_pairs(const struct nst_cpu_features *cpu, const struct nst_gemm_kernel **simd,
                             const struct nst_gemm_kernel **twin, size_t capacity) {
	struct nst_cpu_features detected;
	if (!cpu) {
		nst_cpu_detect(&detected);
		cpu = &detected;
	}
	return list_kernels(cpu, simd, twin, capacity);
}

const struct nst_gemm_kernel *nst_gemm_kernel_f16(const struct nst_cpu_features *cpu, bool scalar) {
	(void)cpu; /* the float16 kernels are chosen at compile time (ARM only) */
	if (scalar)
		return &f16_scalar_8x16;
#if defined(NST_HAVE_F16_GEMM_NEON)
	return &f16_neon_8x16;
#else
	return NULL;
#endif
}

size_t nst_gemm_kernel_f16_pairs(const struct nst_cpu_features *cpu, const struct nst_gemm_kernel **simd,
                                 const struct nst_gemm_kernel **twin, size_t capacity) {
	const struct nst_gemm_kernel *k = nst_gemm_kernel_f16(cpu, false);
	if (!k || capacity == 0)
		return 0;
	if (simd)
		simd[0] = k;
	if (twin)
		twin[0] = &f16_scalar_8x16;
	return 1;
}

const struct nst_dot_kernel *nst_dot_kernel_for(const struct nst_gemm_kernel *gemm) {
#if defined(NST_HAVE_F16_GEMM_NEON)
	if (gemm == &f16_neon_8x16)
		return &dot_neon_8x4;
#endif
#if defined(__x86_64__)
	if (gemm == &avx512_8x32)
		return &dot_avx512_8x4;
	if (gemm == &avx2_6x16)
		return &dot_avx2_4x4;
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
#if defined(__aarch64__)
	if (gemm == &neon_8x8)
		return &dot_neon_8x4;
#endif
	if (gemm == &neon_4x8)
		return &dot_neon_4x4;
#endif
	(void)gemm;
	return &dot_scalar_4x4;
}

size_t nst_dot_kernel_pairs(const struct nst_cpu_features *cpu, const struct nst_dot_kernel **simd,
                            const struct nst_dot_kernel **twin, size_t capacity) {
	struct nst_cpu_features detected;
	if (!cpu) {
		nst_cpu_detect(&detected);
		cpu = &detected;
	}
	/* The same order as the GEMM kernels: the best one's companion first. */
	const struct nst_gemm_kernel *gemm[MAX_SIMD_KERNELS];
	const size_t n = list_kernels(cpu, gemm, NULL, MAX_SIMD_KERNELS);
	size_t stored = 0;
	for (size_t i = 0; i < n && stored < capacity; i++, stored++) {
		const struct nst_dot_kernel *d = nst_dot_kernel_for(gemm[i]);
		if (simd)
			simd[stored] = d;
		if (twin)
			twin[stored] = d->mr == dot_scalar_4x4.mr ? &dot_scalar_4x4 : SCALAR_8X4;
	}
	return stored;
}

/* ---- Companion kernels: one set per ISA ------------------------------------------------------- */

/* The mask, Winograd and instance-norm kernels come one set per ISA (both aarch64 GEMM
 * kernels and the float16 one use the NEON set; AVX-512 has its own but for the masks). */
enum isa { ISA_SCALAR, ISA_AVX2, ISA_AVX512, ISA_NEON, ISA_COUNT };

static enum isa isa_of(const struct nst_gemm_kernel *gemm) {
#if defined(NST_HAVE_F16_GEMM_NEON)
	if (gemm == &f16_neon_8x16)
		return ISA_NEON;
#endif
#if defined(__x86_64__)
	if (gemm == &avx512_8x32)
		return ISA_AVX512;
	if (gemm == &avx2_6x16)
		return ISA_AVX2;
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
#if defined(__aarch64__)
	if (gemm == &neon_8x8)
		return ISA_NEON;
#endif
	if (gemm == &neon_4x8)
		return ISA_NEON;
#endif
	(void)gemm;
	return ISA_SCALAR;
}

/* ---- ReLU mask kernels ------------------------------------------------------------------------ */

static const struct nst_mask_kernel mask_scalar = {"nst_mask__scalar", nst_u8_mask_pack__scalar, nst_f32_mask_apply__scalar};
#if defined(__x86_64__)
static const struct nst_mask_kernel mask_avx2 = {"nst_mask__avx2", nst_u8_mask_pack__avx2, nst_f32_mask_apply__avx2};
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
static const struct nst_mask_kernel mask_neon = {"nst_mask__neon", nst_u8_mask_pack__neon, nst_f32_mask_apply__neon};
#endif

/* One mask byte is 8 floats, an AVX2 vector: AVX-512 CPUs (which have AVX2) use the AVX2 set. */
static const struct nst_mask_kernel *const mask_kernels[ISA_COUNT] = {
	[ISA_SCALAR] = &mask_scalar,
#if defined(__x86_64__)
	[ISA_AVX2] = &mask_avx2,
	[ISA_AVX512] = &mask_avx2,
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
	[ISA_NEON] = &mask_neon,
#endif
};

const struct nst_mask_kernel *nst_mask_kernel_for(const struct nst_gemm_kernel *gemm) {
	return mask_kernels[isa_of(gemm)];
}

size_t nst_mask_kernel_pairs(const struct nst_cpu_features *cpu, const struct nst_mask_kernel **simd,
                             const struct nst_mask_kernel **twin, size_t capacity) {
	struct nst_cpu_features detected;
	if (!cpu) {
		nst_cpu_detect(&detected);
		cpu = &detected;
	}
	size_t n = 0;
#if defined(__x86_64__)
	if (cpu->avx2 && n < capacity) {
		if (simd)
			simd[n] = &mask_avx2;
		if (twin)
			twin[n] = &mask_scalar;
		n++;
	}
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
	if (cpu->neon && n < capacity) {
		if (simd)
			simd[n] = &mask_neon;
		if (twin)
			twin[n] = &mask_scalar;
		n++;
	}
#endif
	(void)cpu;
	return n;
}

/* The distinct ISAs of the SIMD GEMM kernels cpu can run, in their order (NULL: this CPU's). */
static size_t simd_isas(const struct nst_cpu_features *cpu, enum isa *out, size_t capacity) {
	struct nst_cpu_features detected;
	if (!cpu) {
		nst_cpu_detect(&detected);
		cpu = &detected;
	}
	const struct nst_gemm_kernel *gemm[MAX_SIMD_KERNELS];
	const size_t n = list_kernels(cpu, gemm, NULL, MAX_SIMD_KERNELS);
	size_t stored = 0;
	for (size_t i = 0; i < n && stored < capacity; i++) {
		const enum isa isa = isa_of(gemm[i]);
		bool seen = false;
		for (size_t j = 0; j < stored; j++)
			seen = seen || out[j] == isa;
		if (!seen)
			out[stored++] = isa;
	}
	return stored;
}

/* nst_*_kernel_pairs of a companion family: each SIMD set of cpu with the scalar one as its twin. */
#define COMPANION_PAIRS(table, simd, twin, capacity, cpu)                                         \
	do {                                                                                       \
		enum isa isas[MAX_SIMD_KERNELS];                                                       \
		const size_t n = simd_isas((cpu), isas, (capacity) < MAX_SIMD_KERNELS ? (capacity) : MAX_SIMD_KERNELS); \
		for (size_t i = 0; i < n; i++) {                                                       \
			if (simd)                                                                          \
				(simd)[i] = &(table)[isas[i]];                                                 \
			if (twin)                                                                          \
				(twin)[i] = &(table)[ISA_SCALAR];                                              \
		}                                                                                      \
		return n;                                                                              \
	} while (0)

#define WINO(isa)                                                                                  \
	{                                                                                              \
		"nst_wino__" #isa, nst_f32_wino23_input__##isa, nst_f32_wino43_input__##isa,               \
		    nst_f32_wino23_output__##isa, nst_f32_wino43_output__##isa                             \
	}
static const struct nst_wino_kernel wino_kernels[ISA_COUNT] = {
	[ISA_SCALAR] = WINO(scalar),
#if defined(__x86_64__)
	[ISA_AVX2] = WINO(avx2),
	[ISA_AVX512] = WINO(avx512),
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
	[ISA_NEON] = WINO(neon),
#endif
};

const struct nst_wino_kernel *nst_wino_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &wino_kernels[isa_of(gemm)];
}

size_t nst_wino_kernel_pairs(const struct nst_cpu_features *cpu, const struct nst_wino_kernel **simd,
                             const struct nst_wino_kernel **twin, size_t capacity) {
	COMPANION_PAIRS(wino_kernels, simd, twin, capacity, cpu);
}

#define NORM(isa) { "nst_norm__" #isa, nst_f64_norm_sums__##isa, nst_f32_norm_affine__##isa }
static const struct nst_norm_kernel norm_kernels[ISA_COUNT] = {
	[ISA_SCALAR] = NORM(scalar),
#if defined(__x86_64__)
	[ISA_AVX2] = NORM(avx2),
	[ISA_AVX512] = NORM(avx512),
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
	[ISA_NEON] = NORM(neon),
#endif
};

const struct nst_norm_kernel *nst_norm_kernel_for(const struct nst_gemm_kernel *gemm) {
	return &norm_kernels[isa_of(gemm)];
}

size_t nst_norm_kernel_pairs(const struct nst_cpu_features *cpu, const struct nst_norm_kernel **simd,
                             const struct nst_norm_kernel **twin, size_t capacity) {
	COMPANION_PAIRS(norm_kernels, simd, twin, capacity, cpu);
}
