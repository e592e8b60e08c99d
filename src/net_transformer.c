/*
 * Feed-forward style transfer: the trained transformer networks of Johnson et al. (the five of
 * ../shared/fast-styles, ARCHITECTURE.md), run on the engine's convolutions.
 *
 *   conv1  9x9 s1   3 -> C1   instance norm, ReLU
 *   conv2  3x3 s2  C1 -> C2   instance norm, ReLU
 *   conv3  3x3 s2  C2 -> C3   instance norm, ReLU
 *   conv4..conv13: 5 residual blocks x + IN(conv(ReLU(IN(conv(x))))), 3x3 s1, C3 -> C3
 *   conv14 nearest 2x upsample, 3x3 s1 C3 -> C2'  instance norm, ReLU
 *   conv15 nearest 2x upsample, 3x3 s1 C2' -> C1' instance norm, ReLU
 *   conv16 9x9 s1  C1' -> 3
 * (32 / 64 / 128 channels in the trained networks.)  Every convolution pads by reflection, k/2.
 *
 * Memory.  One layout function assigns every buffer from an arena; nst_fast_plan runs it on a
 * measuring arena and nst_fast_init on the caller's, so the plan is the allocation.  The
 * activations live in ONE region of S floats: a layer reads its input at one end of the region
 * and writes its output at the other end, so S only has to hold the largest input + output pair
 * (conv2's and conv15's: 32 + 16 channels of full / half resolution, i.e. 48 floats per padded
 * pixel); a residual block keeps x at its end, writes its first convolution's output at the
 * other end and its second's beside x.  Instance norm runs in place with its ReLU or residual add
 * fused; no upsampled picture ever exists.  The weights are packed once at init; the float16 ->
 * float32 unpacking stages through the (still unused) activation region.
 *
 * Convolutions (each checked against a naive one in tests/test_fast.c), all on the engine's GEMM
 * microkernels:
 *   conv1          nst_conv2d_grid (src/conv_winograd_grid.c): the 9x9 kernel as 3x3 sub-kernels on
 *                  Winograd F(3x3, 3x3) tiles, 3.24x fewer multiplies (float32 kernels: on float16
 *                  ones nst_conv2d_up (up 1), one contiguous im2col run per kernel row);
 *   conv2, conv3   nst_conv2d (src/conv_im2col.c);
 *   conv4..conv13  nst_conv2d_winograd: F(4x4, 3x3), 4x fewer multiplies (its packed weights are
 *                  36 / 9 of the kernels': 22.5 MiB for the ten layers);
 *   conv14, 15     nst_conv2d_phases: the upsample + 3x3 as four 2x2 convolutions of the input,
 *                  2.25x fewer multiplies than convolving the upsampled picture;
 *   conv16         nst_conv2d_grid as conv1, its products along the tiles (the row mix kernels: 3
 *                  output channels would leave most of a GEMM microkernel's NR columns idle); on
 *                  float16 kernels nst_conv2d's dot kernels along the patch, from a band of the input.
 * Edge padding to a multiple of 4 replicates the last row / column (nst_fast_input).
 *
 * Precision fp16 swaps the GEMM kernel for a float16 one (engine.gemm->f16: the drivers are the
 * same, the packers write float16 panels, the kernel rounds its float32 operand rows as it reads
 * them) and keeps the residual blocks on F(2x2): with F(4x4)'s transforms the float16 sums reach
 * 1.1e-2 relative L2 from torch_fast.py on candy at 256x172, with F(2x2) 3.7e-3.
 *
 * Precision int8 swaps it for an int8 kernel set (engine.gemm->q8: nst_qu8s8_gemm_*) on the
 * layers int8_layer picks (the decoder's conv14 and conv15, by the phase driver): weights packed
 * per output channel at init, each layer's input quantized per tensor from its own range as the
 * driver builds its im2col blocks.  Every other layer runs the float32 kernels of the same
 * backend (fast_layer.gemm).
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "net_transformer.h"

#define FAST_LAYERS 16
#define RGB 3
#define BYTE_MAX 255.0f
#define MAX_THREADS 1024
#define MODEL_NAME_BYTES sizeof(((struct nstw_header *)0)->model)
#define DEL_CHAR 0x7f
/* The residual blocks' Winograd transform is F(4x4, 3x3) (4x fewer multiplies than the direct
 * convolution) unless its packed weights, 36 / 9 of the kernels' size (22.5 MiB for the trained
 * networks), would take the plan beyond NST_FAST_MEMORY_TARGET: then F(2x2, 3x3) (16 / 9, 2.25x
 * fewer multiplies, about 10% slower per picture on the x86 development machine). */

enum fast_role {
	ROLE_PLAIN,    /* conv, instance norm, ReLU */
	ROLE_RES_IN,   /* a residual block's first conv: conv, instance norm, ReLU; x is kept */
	ROLE_RES_OUT,  /* its second: conv, instance norm, added into x */
	ROLE_OUTPUT,   /* the last conv: no norm */
};

struct fast_spec {
	int kernel, stride;
	bool upsample;      /* nearest 2x before the convolution */
	enum fast_role role;
};

/* ARCHITECTURE.md's table; channel widths come from the weights file. */
static const struct fast_spec NET[FAST_LAYERS] = {
	{9, 1, false, ROLE_PLAIN},   /* conv1 */
	{3, 2, false, ROLE_PLAIN},   /* conv2 */
	{3, 2, false, ROLE_PLAIN},   /* conv3 */
	{3, 1, false, ROLE_RES_IN},  /* conv4, residual block 1 */
	{3, 1, false, ROLE_RES_OUT}, /* conv5 */
	{3, 1, false, ROLE_RES_IN},  /* conv6, residual block 2 */
	{3, 1, false, ROLE_RES_OUT}, /* conv7 */
	{3, 1, false, ROLE_RES_IN},  /* conv8, residual block 3 */
	{3, 1, false, ROLE_RES_OUT}, /* conv9 */
	{3, 1, false, ROLE_RES_IN},  /* conv10, residual block 4 */
	{3, 1, false, ROLE_RES_OUT}, /* conv11 */
	{3, 1, false, ROLE_RES_IN},  /* conv12, residual block 5 */
	{3, 1, false, ROLE_RES_OUT}, /* conv13 */
	{3, 1, true, ROLE_PLAIN},    /* conv14 */
	{3, 1, true, ROLE_PLAIN},    /* conv15 */
	{9, 1, false, ROLE_OUTPUT},  /* conv16 */
};

/* Which convolution code runs a layer. */
enum fast_driver {
	DRIVER_ENGINE,  /* nst_conv2d (src/conv_im2col.c) */
	DRIVER_UP,      /* nst_conv2d_up: the upsample fused into the im2col, or a 3-channel input */
	DRIVER_WINOGRAD, /* nst_conv2d_winograd: the residual blocks' 3x3 convolutions */
	DRIVER_PHASES,  /* nst_conv2d_phases: upsample + 3x3 convolution as four 2x2 ones */
	DRIVER_GRID,    /* nst_conv2d_grid: the 9x9 layers on float32 kernels */
};

struct fast_layer {
	struct nst_conv_shape shape;   /* reflection padding k/2 */
	bool upsample;
	enum fast_role role;
	enum fast_driver driver;
	float *packed;                 /* nst_conv_packed_floats (DRIVER_UP: nst_conv_up_packed_floats):
	                                  biases and weights in NR-column panels */
	float *gamma, *beta;           /* [cout] instance norm (not for ROLE_OUTPUT) */
	const struct nst_gemm_kernel *gemm; /* the engine's, or the float32 one (int8_layer) */
};

struct nst_fast_session {
	struct nst_engine engine;
	struct nst_fast_plan plan;
	const struct nst_weights *weights; /* only during init */
	struct fast_layer layers[FAST_LAYERS];
	enum nst_wino wino;              /* the residual blocks' Winograd transform */
	uint64_t max_area;               /* padded_width * padded_height as planned */
	float *region;                   /* [region_floats]: every activation, see the top of the file */
	size_t region_floats;
	double *norm_scratch;            /* nst_instance_norm_scratch_doubles(threads, widest layer) */
};

/* Where one layer reads and writes, in floats from the start of the region. */
struct fast_step {
	int h, w;                        /* input size (before any upsampling) */
	int oh, ow;                      /* output size */
	uint64_t in_off, out_off;
	uint64_t residual_off;           /* ROLE_RES_OUT: x, which the normalized output is added into */
};

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* ---------------------------------------------------------------------------------------------
 * Configuration: the weights must be this network
 * ------------------------------------------------------------------------------------------- */

/* The weights' model name with control characters as '?', for messages (a file's bytes must not
 * reach a terminal as escape sequences or break a message into several lines). */
static void printable_name(const char *name, char out[MODEL_NAME_BYTES]) {
	size_t i = 0;
	for (; name[i] && i + 1 < MODEL_NAME_BYTES; i++)
		out[i] = (unsigned char)name[i] < ' ' || (unsigned char)name[i] == DEL_CHAR ? '?' : name[i];
	out[i] = '\0';
}

static enum nst_status configure(struct nst_fast_session *s, const struct nst_weights *w, int width, int height,
                                 int threads, enum nst_backend backend, enum nst_precision precision,
                                 struct nst_diag *diag) {
	memset(s, 0, sizeof *s);
	if (width < 1 || height < 1 || width > NST_MAX_IMAGE_SIDE || height > NST_MAX_IMAGE_SIDE)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "picture size %dx%d is out of range (1..%d)", width, height,
		                NST_MAX_IMAGE_SIDE);
	if (threads < 0 || threads > MAX_THREADS)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "threads must be 0 (one per core) or 1..%d (got %d)",
		                MAX_THREADS, threads);
	if ((unsigned)backend > NST_BACKEND_XNNPACK)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "backend %d is out of range", (int)backend);
	if ((unsigned)precision > NST_PRECISION_INT8)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "precision %d is out of range", (int)precision);
	char model[MODEL_NAME_BYTES];
	printable_name(nst_weights_model(w), model);
	if (nst_weights_arch(w) != NST_ARCH_TRANSFORMER)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "weights '%s' are a VGG network, not a feed-forward style network (use -s STYLE for those)",
		                model);
	if (nst_weights_layer_count(w) != FAST_LAYERS)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s' have %d layers; a feed-forward style network has %d",
		                model, nst_weights_layer_count(w), FAST_LAYERS);
	int cin = RGB, res_channels = 0;
	for (int i = 0; i < FAST_LAYERS; i++) {
		const struct fast_spec *spec = &NET[i];
		struct nst_layer_info info;
		nst_weights_layer(w, i, &info);
		char name[NST_LAYER_NAME_BYTES];
		snprintf(name, sizeof name, "conv%d", i + 1);
		const bool norm = spec->role != ROLE_OUTPUT;
		if (strcmp(info.name, name) != 0)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s': layer %d is \"%s\", expected \"%s\"", model, i,
			                info.name, name);
		if (info.kernel_h != spec->kernel || info.kernel_w != spec->kernel || info.stride != spec->stride)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "weights '%s': %s is %dx%d stride %d; the network has %dx%d stride %d there", model, name,
			                info.kernel_h, info.kernel_w, info.stride, spec->kernel, spec->kernel, spec->stride);
		if (info.has_norm != norm)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s': %s %s instance-norm parameters", model, name,
			                norm ? "lacks" : "has unexpected");
		if (info.in_channels != cin)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s': %s has %d input channels; %s gives %d", model,
			                name, info.in_channels, i == 0 ? "the RGB picture" : "the previous layer", cin);
		if (spec->role == ROLE_RES_IN)
			res_channels = info.in_channels;
		if (spec->role == ROLE_RES_OUT && info.out_channels != res_channels)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "weights '%s': %s has %d output channels; its residual block's input has %d", model, name,
			                info.out_channels, res_channels);
		if (spec->role == ROLE_OUTPUT && info.out_channels != RGB)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s': %s has %d output channels, not RGB's 3", model,
			                name, info.out_channels);
		struct fast_layer *L = &s->layers[i];
		L->shape = (struct nst_conv_shape){spec->kernel, spec->kernel, spec->stride, spec->kernel / 2, true,
		                                   info.in_channels, info.out_channels};
		L->upsample = spec->upsample;
		L->role = spec->role;
		if (spec->role == ROLE_OUTPUT) /* 3 output channels: the small-N path of nst_conv2d */
			L->driver = DRIVER_ENGINE;
		else if (spec->upsample && nst_conv_phases_apply(&L->shape))
			L->driver = DRIVER_PHASES;
		else if (spec->upsample || i == 0)
			L->driver = DRIVER_UP;
		else if ((spec->role == ROLE_RES_IN || spec->role == ROLE_RES_OUT) && nst_conv_winograd_applies(&L->shape))
			L->driver = DRIVER_WINOGRAD;
		else
			L->driver = DRIVER_ENGINE;
		cin = info.out_channels;
	}
	s->weights = w;
	s->plan.width = width;
	s->plan.height = height;
	s->plan.padded_width = nst_fast_padded(width);
	s->plan.padded_height = nst_fast_padded(height);
	s->plan.threads = threads > 0 ? threads : nst_cpu_count();
	s->plan.backend = backend;
	s->plan.precision = precision;
	s->max_area = (uint64_t)s->plan.padded_width * (uint64_t)s->plan.padded_height;
	return NST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The walk through the region for a padded picture hp x wp: where each layer reads and writes
 * (given the region's size S), and the floats the region needs (returned).  Planning and running
 * use this one function.
 * ------------------------------------------------------------------------------------------- */

static uint64_t walk(const struct nst_fast_session *s, int hp, int wp, uint64_t S, struct fast_step *steps,
                     uint64_t *input_off) {
	/* Unsigned offsets: while planning (S = 0) the high-end offsets wrap and are not used. */
	int h = hp, w = wp;
	uint64_t cur_n = (uint64_t)hp * (uint64_t)wp * RGB; /* the input picture [hp][wp][3] */
	bool cur_lo = false;
	uint64_t cur_off = S - cur_n;
	uint64_t x_off = 0, x_n = 0, need = 0;
	bool x_lo = false;
	*input_off = cur_off;
	for (int i = 0; i < FAST_LAYERS; i++) {
		const struct fast_layer *L = &s->layers[i];
		struct fast_step *st = &steps[i];
		const int uh = L->upsample ? 2 * h : h, uw = L->upsample ? 2 * w : w;
		st->h = h;
		st->w = w;
		st->oh = nst_conv_out_size(uh, L->shape.kernel_h, L->shape.stride, L->shape.pad);
		st->ow = nst_conv_out_size(uw, L->shape.kernel_w, L->shape.stride, L->shape.pad);
		const uint64_t out_n = (uint64_t)st->oh * (uint64_t)st->ow * (uint64_t)L->shape.out_channels;
		st->in_off = cur_off;
		st->residual_off = 0;
		switch (L->role) {
		case ROLE_RES_IN:
			x_off = cur_off;
			x_n = cur_n;
			x_lo = cur_lo;
			st->out_off = x_lo ? S - out_n : 0;
			need = max_u64(need, x_n + out_n);
			cur_off = st->out_off;
			cur_n = out_n;
			cur_lo = !x_lo;
			break;
		case ROLE_RES_OUT:
			st->out_off = x_lo ? x_off + x_n : x_off - out_n; /* beside x */
			st->residual_off = x_off;
			need = max_u64(need, x_n + cur_n + out_n);
			cur_off = x_off;
			cur_n = x_n;
			cur_lo = x_lo;
			break;
		case ROLE_PLAIN:
		case ROLE_OUTPUT:
			st->out_off = cur_lo ? S - out_n : 0;
			need = max_u64(need, cur_n + out_n);
			cur_off = st->out_off;
			cur_n = out_n;
			cur_lo = !cur_lo;
			break;
		}
		h = st->oh;
		w = st->ow;
	}
	return need;
}

/* ---------------------------------------------------------------------------------------------
 * Layout: every buffer from the arena, in a fixed order; measuring and real runs are identical.
 * ------------------------------------------------------------------------------------------- */

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static size_t kernel_floats(const struct nst_conv_shape *sh) {
	return (size_t)sh->kernel_h * (size_t)sh->kernel_w * (size_t)sh->in_channels * (size_t)sh->out_channels;
}

static enum nst_status layout(struct nst_fast_session *s, struct nst_arena *a, struct nst_diag *diag) {
	size_t mark = a->used;
#define CATEGORY(field)                 \
	do {                                \
		s->plan.field += a->used - mark; \
		mark = a->used;                 \
	} while (0)

	for (int i = 0; i < FAST_LAYERS; i++) {
		struct fast_layer *L = &s->layers[i];
		const struct nst_gemm_kernel *g = L->gemm;
		size_t packed;
		switch (L->driver) {
		case DRIVER_WINOGRAD: packed = nst_conv_winograd_packed_floats(g, &L->shape, s->wino); break;
		case DRIVER_PHASES: packed = nst_conv_phases_packed_floats(g, &L->shape); break;
		case DRIVER_UP: packed = nst_conv_up_packed_floats(g, &L->shape); break;
		case DRIVER_GRID: packed = nst_conv_grid_packed_floats(g, &L->shape); break;
		default: packed = nst_conv_packed_floats(g, &L->shape); break;
		}
		L->packed = NST_ARENA_NEW(a, float, packed);
		if (L->role != ROLE_OUTPUT) {
			L->gamma = NST_ARENA_NEW(a, float, L->shape.out_channels);
			L->beta = NST_ARENA_NEW(a, float, L->shape.out_channels);
		}
	}
	CATEGORY(weights_bytes);

	/* The region: the largest input + output pair of the planned size, and at least the staging
	 * of the largest kernel and its bias while packing. */
	struct fast_step steps[FAST_LAYERS];
	uint64_t input_off;
	uint64_t need = walk(s, s->plan.padded_height, s->plan.padded_width, 0, steps, &input_off);
	for (int i = 0; i < FAST_LAYERS; i++) {
		const struct fast_layer *L = &s->layers[i];
		uint64_t staging = (uint64_t)kernel_floats(&L->shape) + (uint64_t)L->shape.out_channels;
		if (L->driver == DRIVER_WINOGRAD)
			staging += nst_conv_winograd_staging_floats(&L->shape);
		if (L->driver == DRIVER_PHASES)
			staging += nst_conv_phases_staging_floats(&L->shape);
		if (L->driver == DRIVER_GRID)
			staging += nst_conv_grid_staging_floats(&L->shape);
		need = max_u64(need, staging);
	}
	if (need > (uint64_t)(SIZE_MAX / 2) / sizeof(float))
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY,
		                "a %dx%d picture needs %.1f GiB of activations, beyond this system's address space",
		                s->plan.width, s->plan.height, (double)need * sizeof(float) / (1024.0 * 1024.0 * 1024.0));
	s->region_floats = (size_t)need;
	s->region = NST_ARENA_NEW(a, float, s->region_floats);
	CATEGORY(activations_bytes);

	size_t scratch = 0;
	int widest = 0;
	for (int i = 0; i < FAST_LAYERS; i++) {
		const struct fast_layer *L = &s->layers[i];
		const struct nst_gemm_kernel *g = L->gemm;
		switch (L->driver) {
		case DRIVER_ENGINE: scratch = max_size(scratch, nst_conv_scratch_floats(g, &L->shape)); break;
		case DRIVER_UP: scratch = max_size(scratch, nst_conv_up_scratch_floats(g, &L->shape)); break;
		case DRIVER_WINOGRAD:
			scratch = max_size(scratch, nst_conv_winograd_scratch_floats(g, &L->shape, s->wino));
			break;
		case DRIVER_PHASES: scratch = max_size(scratch, nst_conv_phases_scratch_floats(g, &L->shape)); break;
		case DRIVER_GRID: scratch = max_size(scratch, nst_conv_grid_scratch_floats(g, &L->shape)); break;
		}
		if (L->shape.out_channels > widest)
			widest = L->shape.out_channels;
	}
	s->engine.scratch_floats = scratch;
	s->engine.scratch = NST_ARENA_NEW(a, float, scratch * (size_t)s->engine.threads);
	s->norm_scratch = NST_ARENA_NEW(a, double, nst_instance_norm_scratch_doubles(s->engine.threads, widest));
	CATEGORY(scratch_bytes);
#undef CATEGORY
	return NST_OK;
}

static double conv_flops(const struct nst_conv_shape *sh, int oh, int ow) {
	return 2.0 * (double)oh * (double)ow * (double)kernel_floats(sh);
}

/* Whether a layer runs the engine's GEMM kernel when that is an int8 one (else the float32 kernel
 * of the same backend): the decoder's upsampling layers (conv14, conv15) only.  Measured on the
 * five networks, chelsea and astronaut at 256 px, int8 vs fp32 output: conv14 + conv15 in int8,
 * mean |difference| 0.30 .. 0.86 levels, max 2 .. 6; conv3 alone in int8 already max 20 .. 67, conv2
 * alone 22, conv1 alone 15 (the encoder's quantization steps in smooth regions, such as a blurred
 * background, come out as the style's texture shifted: the network amplifies them).  The residual
 * blocks' Winograd transforms would amplify int8's rounding too, and conv16's row mixes are
 * float32 anyway. */
static bool int8_layer(const struct fast_layer *L) { return L->driver == DRIVER_PHASES; }

/* Resolves the backend, then measures (arena base NULL) or lays out for real. */
static enum nst_status build(struct nst_fast_session *s, struct nst_arena *a, struct nst_diag *diag) {
	if (s->plan.backend == NST_BACKEND_XNNPACK)
		return nst_fail(diag, NST_ERR_UNSUPPORTED,
		                "backend xnnpack does not run the feed-forward networks (use simd or scalar)");
	const enum nst_status engine_st =
		nst_engine_init(&s->engine, s->plan.backend, s->plan.precision, s->plan.threads, diag);
	if (engine_st != NST_OK)
		return engine_st;
	s->plan.backend = s->engine.backend;
	if (s->plan.precision != s->engine.precision) {
		s->plan.notice = s->plan.precision == NST_PRECISION_INT8
		                     ? "int8 needs AVX-512 VNNI or AVX-VNNI (x86) or the ARMv8.2-A dot product (such as a Pi 5's "
		                       "Cortex-A76), which this CPU or build lacks; running in fp32"
		                     : "fp16 needs FP16 vector arithmetic (ARMv8.2-A, such as a Pi 5's Cortex-A76), "
		                       "which this CPU or build lacks; running in fp32";
		s->plan.precision = s->engine.precision;
	}
	s->plan.kernel = s->engine.gemm->name;
	const struct nst_gemm_kernel *fp32 =
		s->engine.gemm->q8 ? nst_engine_kernels(s->engine.backend, NST_PRECISION_FP32) : s->engine.gemm;
	for (int i = 0; i < FAST_LAYERS; i++) {
		struct fast_layer *L = &s->layers[i];
		L->gemm = int8_layer(L) ? s->engine.gemm : fp32;
		if (!L->upsample && L->shape.kernel_h > 3 && nst_conv_grid_applies(L->gemm, &L->shape))
			L->driver = DRIVER_GRID;
	}

	/* F(4x4) if the whole plan stays within the target with it (measured on a copy); float16 GEMMs
	 * take F(2x2), whose transforms amplify rounding errors less. */
	struct nst_fast_session probe = *s;
	struct nst_arena measure;
	nst_arena_init(&measure, NULL, 0);
	probe.wino = NST_WINO_F4;
	nst_arena_alloc(&measure, sizeof(struct nst_fast_session));
	enum nst_status st = layout(&probe, &measure, diag);
	if (st != NST_OK)
		return st;
	s->wino = measure.used <= NST_FAST_MEMORY_TARGET && !s->engine.gemm->f16 ? NST_WINO_F4 : NST_WINO_F2;
	s->plan.winograd_tile = (int)s->wino;

	/* The session struct itself comes first. */
	nst_arena_alloc(a, sizeof(struct nst_fast_session));
	s->plan.scratch_bytes = a->used;
	st = layout(s, a, diag);
	if (st != NST_OK)
		return st;
	s->plan.total_bytes = a->used;
	struct fast_step steps[FAST_LAYERS];
	uint64_t input_off;
	walk(s, s->plan.padded_height, s->plan.padded_width, 0, steps, &input_off);
	s->plan.flops = 0.0;
	for (int i = 0; i < FAST_LAYERS; i++)
		s->plan.flops += conv_flops(&s->layers[i].shape, steps[i].oh, steps[i].ow);
	return NST_OK;
}

enum nst_status nst_fast_plan(const struct nst_weights *weights, int width, int height, int threads,
                              enum nst_backend backend, enum nst_precision precision, struct nst_fast_plan *plan,
                              struct nst_diag *diag) {
	if (!weights || !plan)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_fast_plan: a required argument is NULL");
	struct nst_fast_session s;
	enum nst_status st = configure(&s, weights, width, height, threads, backend, precision, diag);
	if (st != NST_OK)
		return st;
	struct nst_arena a;
	nst_arena_init(&a, NULL, 0);
	st = build(&s, &a, diag);
	if (st != NST_OK)
		return st;
	if (a.overflow)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "a %dx%d picture needs more memory than this system can address",
		                width, height);
	*plan = s.plan;
	return NST_OK;
}

static void pack_weights(struct nst_fast_session *s) {
	const struct nst_weights *w = s->weights;
	for (int i = 0; i < FAST_LAYERS; i++) {
		struct fast_layer *L = &s->layers[i];
		float *hwio = s->region;                            // [kh][kw][cin][cout] float32 staging
		float *bias = s->region + kernel_floats(&L->shape); // [cout] staging
		nst_weights_read_kernel(w, i, hwio);
		nst_weights_read_vector(w, i, NST_VECTOR_BIAS, bias);
		if (L->driver == DRIVER_WINOGRAD)
			nst_conv_winograd_pack(L->gemm, &L->shape, s->wino, hwio, bias, bias + L->shape.out_channels,
			                       L->packed);
		else if (L->driver == DRIVER_PHASES)
			nst_conv_phases_pack(L->gemm, &L->shape, hwio, bias, bias + L->shape.out_channels, L->packed);
		else if (L->driver == DRIVER_UP)
			nst_conv_up_pack(L->gemm, &L->shape, hwio, bias, L->packed);
		else if (L->driver == DRIVER_GRID)
			nst_conv_grid_pack(L->gemm, &L->shape, hwio, bias, bias + L->shape.out_channels, L->packed);
		else
			nst_conv_pack_forward(L->gemm, &L->shape, hwio, bias, L->packed);
		if (L->role != ROLE_OUTPUT) {
			nst_weights_read_vector(w, i, NST_VECTOR_GAMMA, L->gamma);
			nst_weights_read_vector(w, i, NST_VECTOR_BETA, L->beta);
		}
	}
}

enum nst_status nst_fast_init(void *arena, size_t arena_bytes, const struct nst_weights *weights, int width,
                              int height, int threads, enum nst_backend backend, enum nst_precision precision,
                              struct nst_fast_session **out, struct nst_diag *diag) {
	if (!arena || !weights || !out)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_fast_init: a required argument is NULL");
	if ((uintptr_t)arena % NST_ARENA_ALIGNMENT)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "the arena must be %d-byte aligned", NST_ARENA_ALIGNMENT);
	struct nst_fast_session tmp;
	enum nst_status st = configure(&tmp, weights, width, height, threads, backend, precision, diag);
	if (st != NST_OK)
		return st;
	struct nst_arena a;
	nst_arena_init(&a, arena, arena_bytes);
	struct nst_fast_session *s = arena; /* build() allocates it first, at offset 0 */
	st = build(&tmp, &a, diag);
	if (st != NST_OK)
		return st;
	if (a.overflow)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "the arena has %zu bytes, the plan needs %zu", arena_bytes,
		                tmp.plan.total_bytes);
	*s = tmp;
	st = nst_engine_start(&s->engine, diag);
	if (st != NST_OK)
		return st;
	pack_weights(s);
	s->weights = NULL; /* everything needed is packed: the caller may close the weights now */
	*out = s;
	return NST_OK;
}

bool nst_fast_precision_available(enum nst_backend backend, enum nst_precision precision) {
	if (backend == NST_BACKEND_XNNPACK || (unsigned)backend > NST_BACKEND_XNNPACK || (unsigned)precision > NST_PRECISION_INT8)
		return false;
	if (precision == NST_PRECISION_FP32)
		return true;
	if (precision == NST_PRECISION_INT8) /* auto as simd, as for fp16 */
		return nst_engine_kernels(backend == NST_BACKEND_SCALAR ? NST_BACKEND_SCALAR : NST_BACKEND_SIMD,
		                          NST_PRECISION_INT8) != NULL;
	/* auto as simd: its float16 SIMD kernel (nst_fast_init's auto on a CPU without SIMD kernels
	 * would run the float16 scalar one; this answers as before the engine module). */
	return nst_engine_kernels(backend == NST_BACKEND_SCALAR ? NST_BACKEND_SCALAR : NST_BACKEND_SIMD,
	                          NST_PRECISION_FP16) != NULL;
}

void nst_fast_release(struct nst_fast_session *s) {
	if (s)
		nst_engine_release(&s->engine);
}

const struct nst_fast_plan *nst_fast_session_plan(const struct nst_fast_session *s) { return s ? &s->plan : NULL; }

/* ---------------------------------------------------------------------------------------------
 * Picture in and out
 * ------------------------------------------------------------------------------------------- */

struct picture_rows {
	int w, h, wp;
	const uint8_t *rgb;    /* [h][w][3] */
	float *x;              /* input: [hp][wp][3] */
	const float *y;        /* output: [hp][wp][3] */
	const uint8_t *rgb_in; /* output: [h][w][3] */
	float strength;
	uint8_t *rgb_out;      /* output: [h][w][3] */
};

static void input_rows(void *context, size_t r0, size_t r1) {
	const struct picture_rows *p = context;
	const int w = p->w, h = p->h, wp = p->wp;
	for (int y = (int)r0; y < (int)r1; y++) {
		const uint8_t *src = p->rgb + (size_t)(y < h ? y : h - 1) * (size_t)w * RGB; // [w][3]: row y, or the last
		float *dst = p->x + (size_t)y * (size_t)wp * RGB;                              // [wp][3]
		for (size_t i = 0; i < (size_t)w * RGB; i++)
			dst[i] = (float)src[i];
		for (int xx = w; xx < wp; xx++) /* replicate the last column */
			for (int c = 0; c < RGB; c++)
				dst[(size_t)xx * RGB + (size_t)c] = (float)src[(size_t)(w - 1) * RGB + (size_t)c];
	}
}

void nst_fast_input(const struct nst_engine *engine, int w, int h, const uint8_t *rgb, int wp, int hp, float *x) {
	assert(wp >= w && hp >= h && w > 0 && h > 0);
	struct picture_rows p = {.w = w, .h = h, .wp = wp, .rgb = rgb, .x = x};
	nst_parallel_rows(engine, (size_t)hp, input_rows, &p);
}

static float clamp_byte(float v) {
	/* NaN becomes 0: !(v > 0) holds for it. */
	return !(v > 0.0f) ? 0.0f : (v > BYTE_MAX ? BYTE_MAX : v);
}

static void output_rows(void *context, size_t r0, size_t r1) {
	const struct picture_rows *p = context;
	const size_t w = (size_t)p->w;
	const float strength = p->strength, keep = 1.0f - strength;
	for (size_t r = r0; r < r1; r++) {
		const float *src = p->y + r * (size_t)p->wp * RGB;  // [wp][3]
		const uint8_t *orig = p->rgb_in + r * w * RGB;      // [w][3]
		uint8_t *dst = p->rgb_out + r * w * RGB;            // [w][3]
		for (size_t i = 0; i < w * RGB; i++) {
			/* strength 1: exactly round(clamp(y)); strength 0: exactly the input. */
			const float v = strength * clamp_byte(src[i]) + keep * (float)orig[i];
			dst[i] = (uint8_t)clamp_byte(rintf(v));
		}
	}
}

void nst_fast_output(const struct nst_engine *engine, int w, int h, const float *y, int wp, const uint8_t *rgb_in,
                     float strength, uint8_t *rgb_out) {
	struct picture_rows p = {.w = w, .h = h, .wp = wp, .y = y, .rgb_in = rgb_in, .strength = strength, .rgb_out = rgb_out};
	nst_parallel_rows(engine, (size_t)h, output_rows, &p);
}

void nst_fast_output_raw(int w, int h, const float *y, int wp, float *out) {
	for (int r = 0; r < h; r++)
		memcpy(out + (size_t)r * (size_t)w * RGB, y + (size_t)r * (size_t)wp * RGB, (size_t)w * RGB * sizeof(float));
}

/* ---------------------------------------------------------------------------------------------
 * The forward pass
 * ------------------------------------------------------------------------------------------- */

static enum nst_status check_picture(const struct nst_fast_session *s, int width, int height, const void *in,
                                     const void *out) {
	if (!s || !in || !out || width < 1 || height < 1 || width > NST_MAX_IMAGE_SIDE || height > NST_MAX_IMAGE_SIDE)
		return NST_ERR_INVALID_ARGUMENT;
	if ((uint64_t)nst_fast_padded(width) * (uint64_t)nst_fast_padded(height) > s->max_area)
		return NST_ERR_INVALID_ARGUMENT; /* beyond the plan */
	return NST_OK;
}

/* Runs the network on rgb [height][width][3]; returns its output [hp][wp][3] inside the region. */
static const float *forward(struct nst_fast_session *s, int width, int height, const uint8_t *rgb) {
	const int hp = nst_fast_padded(height), wp = nst_fast_padded(width);
	struct fast_step steps[FAST_LAYERS];
	uint64_t input_off;
	const uint64_t need = walk(s, hp, wp, s->region_floats, steps, &input_off);
	assert(need <= s->region_floats);
	(void)need;
	float *r = s->region;
	struct nst_engine engine = s->engine; /* with each layer's GEMM kernel */
	nst_fast_input(&s->engine, width, height, rgb, wp, hp, r + input_off);
	for (int i = 0; i < FAST_LAYERS; i++) {
		const struct fast_layer *L = &s->layers[i];
		const struct fast_step *st = &steps[i];
		const float *in = r + st->in_off; // [h][w][cin]
		float *out = r + st->out_off;      // [oh][ow][cout]
		engine.gemm = L->gemm;
		switch (L->driver) {
		case DRIVER_ENGINE: nst_conv2d(&engine, &L->shape, st->h, st->w, in, L->packed, out, NULL); break;
		case DRIVER_UP:
			nst_conv2d_up(&engine, &L->shape, L->upsample ? 2 : 1, st->h, st->w, in, L->packed, out);
			break;
		case DRIVER_WINOGRAD:
			nst_conv2d_winograd(&engine, &L->shape, s->wino, st->h, st->w, in, L->packed, out, NULL);
			break;
		case DRIVER_PHASES: nst_conv2d_phases(&engine, &L->shape, st->h, st->w, in, L->packed, out); break;
		case DRIVER_GRID: nst_conv2d_grid(&engine, &L->shape, st->h, st->w, in, L->packed, out, NULL); break;
		}
		const size_t n = (size_t)st->oh * (size_t)st->ow;
		switch (L->role) {
		case ROLE_PLAIN:
		case ROLE_RES_IN:
			nst_instance_norm(&s->engine, n, L->shape.out_channels, out, L->gamma, L->beta, NST_NORM_RELU, NULL,
			                  s->norm_scratch);
			break;
		case ROLE_RES_OUT:
			nst_instance_norm(&s->engine, n, L->shape.out_channels, out, L->gamma, L->beta, NST_NORM_ADD,
			                  r + st->residual_off, s->norm_scratch);
			break;
		case ROLE_OUTPUT:
			break;
		}
	}
	return r + steps[FAST_LAYERS - 1].out_off;
}

/* One picture through the network as a burst (nst_parallel_burst): into bytes mixed with the
 * photo by strength, or raw floats when bytes is NULL. */
struct picture_pass {
	struct nst_fast_session *s;
	int width, height;
	const uint8_t *rgb_in;
	float strength;
	uint8_t *bytes;
	float *raw;
};

static void picture_pass(void *context) {
	const struct picture_pass *p = context;
	const float *y = forward(p->s, p->width, p->height, p->rgb_in); // [hp][wp][3]
	if (p->bytes)
		nst_fast_output(&p->s->engine, p->width, p->height, y, nst_fast_padded(p->width), p->rgb_in, p->strength,
		                p->bytes);
	else
		nst_fast_output_raw(p->width, p->height, y, nst_fast_padded(p->width), p->raw);
}

enum nst_status nst_fast_run(struct nst_fast_session *s, int width, int height, const uint8_t *rgb_in,
                             uint8_t *rgb_out, float strength) {
	const enum nst_status st = check_picture(s, width, height, rgb_in, rgb_out);
	if (st != NST_OK)
		return st;
	if (!(strength >= 0.0f && strength <= 1.0f))
		return NST_ERR_INVALID_ARGUMENT;
	struct picture_pass p = {s, width, height, rgb_in, strength, rgb_out, NULL};
	nst_parallel_burst(&s->engine, picture_pass, &p);
	return NST_OK;
}

enum nst_status nst_fast_run_raw(struct nst_fast_session *s, int width, int height, const uint8_t *rgb_in,
                                 float *out) {
	const enum nst_status st = check_picture(s, width, height, rgb_in, out);
	if (st != NST_OK)
		return st;
	struct picture_pass p = {s, width, height, rgb_in, 1.0f, NULL, out};
	nst_parallel_burst(&s->engine, picture_pass, &p);
	return NST_OK;
}
