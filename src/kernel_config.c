/*
 * The kernel configurations this build has (arch/kernels.h's struct nst_kernel_config), each with
 * its scalar twin, and which of them a CPU runs: x86-64 chooses at run time from the features
 * nst_cpu_detect found; ARM at compile time (the NEON kernels exist only when the compiler targets
 * NEON); every other CPU runs the scalar configuration.
 */
#include "internal.h"

#define GEMM(name, mr, nr) { #name, name, mr, nr, false, false, NULL, NULL, NULL }
#define GEMM_F16(name, mr, nr) { #name, name, mr, nr, true, false, NULL, NULL, NULL }
/* isa: the quantization kernels' (range, quantize) */
#define GEMM_Q8(name, mr, nr, isa) { #name, NULL, mr, nr, false, true, name, nst_f32_range__##isa, nst_qu8_quantize__##isa }
#define DOT(name, mr, nr) { #name, name, mr, nr }
#define MASK(isa) { "nst_mask__" #isa, nst_u8_mask_pack__##isa, nst_f32_mask_apply__##isa }
#define WINO(isa)                                                                                  \
	{                                                                                              \
		"nst_wino__" #isa, nst_f32_wino23_input__##isa, nst_f32_wino33_input__##isa,               \
		    nst_f32_wino43_input__##isa, nst_f32_wino23_output__##isa, nst_f32_wino33_output__##isa, \
		    nst_f32_wino43_output__##isa, nst_f32_rowmix__##isa, nst_f32_transpose__##isa          \
	}
#define NORM(isa) { "nst_norm__" #isa, nst_f64_norm_sums__##isa, nst_f32_norm_affine__##isa }
/* multiple: the outputs a member takes are a multiple of its vector (arch/kernels.h) */
#define DWCONV(isa, multiple) { "nst_f32_dwconv__" #isa, nst_f32_dwconv__##isa, multiple }
#define GRAM(name, mr, nr) { #name, name, mr, nr }
#define ARGMAXPOOL(isa) { "nst_f32_argmaxpool__" #isa, nst_f32_argmaxpool__##isa, nst_f32_argmaxpool_backward__##isa }

/* The portable configurations: float32 and float16 GEMMs, each its own twin. */
static const struct nst_kernel_config scalar = {
	GEMM(nst_f32_gemm_4x8__scalar, 4, 8), DOT(nst_f32_dot_4x4__scalar, 4, 4), MASK(scalar), WINO(scalar), NORM(scalar),
	DWCONV(scalar, 1), GRAM(nst_f32_gram_4x8__scalar, 4, 8), ARGMAXPOOL(scalar),
	&scalar, NULL,
};
static const struct nst_kernel_config f16_scalar = {
	GEMM_F16(nst_f16_gemm_8x16__scalar, 8, 16), DOT(nst_f32_dot_4x4__scalar, 4, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_4x8__scalar, 4, 8), ARGMAXPOOL(scalar), &f16_scalar, NULL,
};

/* The portable int8 configuration: the qu8s8 GEMM's scalar 8x8 tile beside the float32 kernels. */
static const struct nst_kernel_config q8_scalar = {
	GEMM_Q8(nst_qu8s8_gemm_8x8__scalar, 8, 8, scalar), DOT(nst_f32_dot_4x4__scalar, 4, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_4x8__scalar, 4, 8), ARGMAXPOOL(scalar), &q8_scalar, NULL,
};

#if defined(__x86_64__)
/* AVX-512 VNNI int8 GEMM beside the AVX-512 float32 kernels. */
static const struct nst_kernel_config q8_avx512vnni_twin = {
	GEMM_Q8(nst_qu8s8_gemm_8x32__scalar, 8, 32, scalar), DOT(nst_f32_dot_8x4__scalar, 8, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_8x32__scalar, 8, 32), ARGMAXPOOL(scalar), &q8_avx512vnni_twin, NULL,
};
/* AVX-VNNI (VEX vpdpbusd) beside the AVX2 float32 kernels: CPUs without AVX-512. */
static const struct nst_kernel_config q8_avxvnni_twin = {
	GEMM_Q8(nst_qu8s8_gemm_6x16__scalar, 6, 16, scalar), DOT(nst_f32_dot_4x4__scalar, 4, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_6x16__scalar, 6, 16), ARGMAXPOOL(scalar), &q8_avxvnni_twin, NULL,
};
static const struct nst_kernel_config q8_avxvnni = {
	GEMM_Q8(nst_qu8s8_gemm_6x16__avxvnni, 6, 16, avx2), DOT(nst_f32_dot_4x4__avx2, 4, 4), MASK(avx2), WINO(avx2),
	NORM(avx2), DWCONV(avx2, 8), GRAM(nst_f32_gram_6x16__avx2, 6, 16), ARGMAXPOOL(avx2), &q8_avxvnni_twin, NULL,
};
static const struct nst_kernel_config q8_avx512vnni = {
	GEMM_Q8(nst_qu8s8_gemm_8x32__avx512vnni, 8, 32, avx512), DOT(nst_f32_dot_8x4__avx512, 8, 4), MASK(avx2), WINO(avx512),
	NORM(avx512), DWCONV(avx512, 16), GRAM(nst_f32_gram_8x32__avx512, 8, 32), ARGMAXPOOL(avx512), &q8_avx512vnni_twin, NULL,
};
#endif
#if defined(NST_HAVE_QU8S8_GEMM_NEONDOT)
/* ARMv8.2-A sdot int8 GEMM beside aarch64's NEON float32 kernels. */
static const struct nst_kernel_config q8_neondot_twin = {
	GEMM_Q8(nst_qu8s8_gemm_8x8__scalar, 8, 8, scalar), DOT(nst_f32_dot_8x4__scalar, 8, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_8x8__scalar, 8, 8), ARGMAXPOOL(scalar), &q8_neondot_twin, NULL,
};
static const struct nst_kernel_config q8_neondot = {
	GEMM_Q8(nst_qu8s8_gemm_8x8__neondot, 8, 8, neon), DOT(nst_f32_dot_8x4__neon, 8, 4), MASK(neon), WINO(neon),
	NORM(neon), DWCONV(neon, 4), GRAM(nst_f32_gram_8x8__neon, 8, 8), ARGMAXPOOL(neon), &q8_neondot_twin, NULL,
};
#endif

#if defined(__x86_64__)
/* AVX-512: its own GEMM, small-N, Winograd and norm kernels; the masks are AVX2's (a mask byte is
 * 8 floats, an AVX2 vector).  Both need AVX2 and FMA. */
static const struct nst_kernel_config avx512_twin = {
	GEMM(nst_f32_gemm_8x32__scalar, 8, 32), DOT(nst_f32_dot_8x4__scalar, 8, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_8x32__scalar, 8, 32), ARGMAXPOOL(scalar), &avx512_twin, NULL,
};
/* The same with the 16x16 GEMM tile, for outputs of at most 16 columns. */
static const struct nst_kernel_config avx512_narrow_twin = {
	GEMM(nst_f32_gemm_16x16__scalar, 16, 16), DOT(nst_f32_dot_8x4__scalar, 8, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_8x32__scalar, 8, 32), ARGMAXPOOL(scalar), &avx512_narrow_twin, NULL,
};
static const struct nst_kernel_config avx512_narrow = {
	GEMM(nst_f32_gemm_16x16__avx512, 16, 16), DOT(nst_f32_dot_8x4__avx512, 8, 4), MASK(avx2), WINO(avx512),
	NORM(avx512), DWCONV(avx512, 16), GRAM(nst_f32_gram_8x32__avx512, 8, 32), ARGMAXPOOL(avx512), &avx512_narrow_twin, NULL,
};
static const struct nst_kernel_config avx512 = {
	GEMM(nst_f32_gemm_8x32__avx512, 8, 32), DOT(nst_f32_dot_8x4__avx512, 8, 4), MASK(avx2), WINO(avx512),
	NORM(avx512), DWCONV(avx512, 16), GRAM(nst_f32_gram_8x32__avx512, 8, 32), ARGMAXPOOL(avx512), &avx512_twin, &avx512_narrow,
};
static const struct nst_kernel_config avx2_twin = {
	GEMM(nst_f32_gemm_6x16__scalar, 6, 16), DOT(nst_f32_dot_4x4__scalar, 4, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_6x16__scalar, 6, 16), ARGMAXPOOL(scalar), &avx2_twin, NULL,
};
static const struct nst_kernel_config avx2 = {
	GEMM(nst_f32_gemm_6x16__avx2, 6, 16), DOT(nst_f32_dot_4x4__avx2, 4, 4), MASK(avx2), WINO(avx2), NORM(avx2),
	DWCONV(avx2, 8), GRAM(nst_f32_gram_6x16__avx2, 6, 16), ARGMAXPOOL(avx2),
	&avx2_twin, NULL,
};
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
#if defined(__aarch64__)
static const struct nst_kernel_config neon_8x8_twin = {
	GEMM(nst_f32_gemm_8x8__scalar, 8, 8), DOT(nst_f32_dot_8x4__scalar, 8, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_8x8__scalar, 8, 8), ARGMAXPOOL(scalar), &neon_8x8_twin, NULL,
};
static const struct nst_kernel_config neon_8x8 = {
	GEMM(nst_f32_gemm_8x8__neon, 8, 8), DOT(nst_f32_dot_8x4__neon, 8, 4), MASK(neon), WINO(neon), NORM(neon),
	DWCONV(neon, 4), GRAM(nst_f32_gram_8x8__neon, 8, 8), ARGMAXPOOL(neon),
	&neon_8x8_twin, NULL,
};
#endif
/* Its twin is the portable configuration (the same 4x8 and 4x4 tiles). */
static const struct nst_kernel_config neon_4x8 = {
	GEMM(nst_f32_gemm_4x8__neon, 4, 8), DOT(nst_f32_dot_4x4__neon, 4, 4), MASK(neon), WINO(neon), NORM(neon),
	DWCONV(neon, 4), GRAM(nst_f32_gram_4x8__neon, 4, 8), ARGMAXPOOL(neon),
	&scalar, NULL,
};
#endif

#if defined(NST_HAVE_F16_GEMM_NEON)
/* The float16 GEMM beside aarch64's NEON kernels; its twin has the 8-row small-N kernel too. */
static const struct nst_kernel_config f16_neon_twin = {
	GEMM_F16(nst_f16_gemm_8x16__scalar, 8, 16), DOT(nst_f32_dot_8x4__scalar, 8, 4), MASK(scalar), WINO(scalar),
	NORM(scalar), DWCONV(scalar, 1), GRAM(nst_f32_gram_8x8__scalar, 8, 8), ARGMAXPOOL(scalar), &f16_neon_twin, NULL,
};
static const struct nst_kernel_config f16_neon = {
	GEMM_F16(nst_f16_gemm_8x16__neonfp16arith, 8, 16), DOT(nst_f32_dot_8x4__neon, 8, 4), MASK(neon), WINO(neon),
	NORM(neon), DWCONV(neon, 4), GRAM(nst_f32_gram_8x8__neon, 8, 8), ARGMAXPOOL(neon), &f16_neon_twin, NULL,
};
#endif

const struct nst_kernel_config *nst_kernel_config_scalar(bool f16) { return f16 ? &f16_scalar : &scalar; }

size_t nst_kernel_configs(const struct nst_cpu_features *cpu, bool f16, const struct nst_kernel_config **out,
                          size_t capacity) {
	struct nst_cpu_features detected;
	if (!cpu) {
		nst_cpu_detect(&detected);
		cpu = &detected;
	}
	size_t n = 0;
#define ADD(config)                                                                                \
	do {                                                                                           \
		if (n < capacity && out)                                                               \
			out[n] = (config);                                                                 \
		if (n < capacity)                                                                      \
			n++;                                                                               \
	} while (0)
	if (f16) {
#if defined(NST_HAVE_F16_GEMM_NEON)
		ADD(&f16_neon); /* chosen at compile time */
#endif
		(void)cpu;
		return n;
	}
#if defined(__x86_64__)
	if (cpu->avx512f && cpu->avx2 && cpu->fma) {
		ADD(&avx512);
		ADD(&avx512_narrow); /* never the first: nst_gemm_kernel_for_columns picks it per layer */
	}
	if (cpu->avx2 && cpu->fma)
		ADD(&avx2);
#elif defined(__ARM_NEON) || defined(__ARM_NEON__)
	if (cpu->neon) {
#if defined(__aarch64__)
		ADD(&neon_8x8);
#endif
		ADD(&neon_4x8);
	}
#endif
#undef ADD
	return n;
}

const struct nst_kernel_config *nst_kernel_config_scalar_q8(void) { return &q8_scalar; }

size_t nst_kernel_configs_q8(const struct nst_cpu_features *cpu, const struct nst_kernel_config **out,
                             size_t capacity) {
	struct nst_cpu_features detected;
	if (!cpu) {
		nst_cpu_detect(&detected);
		cpu = &detected;
	}
	size_t n = 0;
#if defined(__x86_64__)
	if (cpu->avx512vnni && cpu->avx512bw && cpu->avx512f && cpu->avx2 && cpu->fma && n < capacity) {
		if (out)
			out[n] = &q8_avx512vnni;
		n++;
	}
	if (cpu->avxvnni && cpu->avx2 && cpu->fma && n < capacity) {
		if (out)
			out[n] = &q8_avxvnni;
		n++;
	}
#elif defined(NST_HAVE_QU8S8_GEMM_NEONDOT)
	if (cpu->neon && cpu->neon_dot && n < capacity) {
		if (out)
			out[n] = &q8_neondot;
		n++;
	}
#endif
	(void)cpu;
	(void)out;
	(void)capacity;
	return n;
}

const struct nst_gemm_kernel *nst_gemm_kernel_best(const struct nst_cpu_features *cpu) {
	const struct nst_kernel_config *best;
	return nst_kernel_configs(cpu, false, &best, 1) == 1 ? &best->gemm : &scalar.gemm;
}

const struct nst_gemm_kernel *nst_gemm_kernel_f16(const struct nst_cpu_features *cpu, bool scalar_twin) {
	const struct nst_kernel_config *simd;
	if (scalar_twin)
		return &f16_scalar.gemm;
	return nst_kernel_configs(cpu, true, &simd, 1) == 1 ? &simd->gemm : NULL;
}
