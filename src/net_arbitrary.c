/*
 * The arbitrary-style network: MicroAST (Wang et al., AAAI 2023), any painting in one pass
 * (../shared/fast-styles/arbitrary/ARCHITECTURE.md is the exact arithmetic; torch_arbitrary.py the
 * reference).  Four parts, 31 convolutions, every one reflection padded by k/2:
 *
 *   encoder (content E_c and style E_s alike), RGB / 255 in:
 *     enc1.0  9x9 s1   3 -> 16             ReLU
 *     enc1.2  3x3 s2  16 -> 32, 16 groups  ReLU
 *     enc1.4  1x1     32 -> 32             ReLU
 *     enc1.6  3x3 s2  32 -> 64, 32 groups  ReLU
 *     enc1.8  1x1     64 -> 64             ReLU
 *     enc1.10 residual block x + conv2(relu(conv1(x))), 3x3 64 -> 64: f1
 *     enc2.0  residual block: f2
 *   modulator, from the painting's s1, s2: depthwise 3x3 convolutions, each globally averaged:
 *     (m1, b1) from s1, (m2, b2) from s2, one number per channel
 *   decoder, from the photo's c2:
 *     x = a adain(c2, s2) + (1 - a) c2; modulated block dec1 with (m2, b2);
 *     x = a adain(x, s1) + (1 - a) x;   modulated block dec2 with (m1, b1)
 *       (modulated block: h = relu(m conv1(x) + b x); x + (m conv2(h) + b h), each half one
 *       convolution: m conv(x) + b x is the convolution whose kernel is m times conv's plus b at
 *       its centre tap, packed by nst_arbitrary_set_style from the kept kernel)
 *     dec3.1 bilinear x2, 3x3 64 -> 32 in 32 groups, ReLU; dec3.3 1x1 32 -> 32 ReLU;
 *     dec3.6 bilinear x2, 3x3 32 -> 16 in 16 groups, ReLU; dec3.8 1x1 16 -> 16 ReLU;
 *     dec3.10 9x9 16 -> 3: RGB / 255 out.
 * The painting's part (E_s, the statistics of s1 and s2, the modulations) is computed once by
 * nst_arbitrary_set_style and kept (a few hundred floats), and the modulations folded into the
 * modulated blocks' four kernels (repacked from their HWIO kernels, kept in the arena: 0.56 MiB);
 * each photo then costs E_c and D.
 *
 * Convolutions: the residual and modulated blocks' 3x3 64 -> 64 (two thirds of a photo's
 * multiplies) by Winograd's F(4x4, 3x3) (F(2x2) with float16 GEMMs, as the trained networks);
 * the 9x9 layers (3 -> 16, 16 -> 3) as 3x3 sub-kernels on Winograd F(3x3, 3x3) tiles
 * (nst_conv2d_grid, float32 in every precision), the 1x1 ones on the engine's GEMM without im2col
 * (nst_conv2d; enc1.4, enc1.8 and dec3.8 on each output row of the grouped layer before them,
 * inside nst_conv2d_grouped); the grouped ones direct (nst_conv2d_grouped, src/conv_grouped.c),
 * the bilinear upsampling inside them.
 *
 * Memory.  One layout function places everything in the arena (nst_arbitrary_plan measures with
 * it, nst_arbitrary_init places with it).  The activations live in two regions, A of 12 floats
 * per pixel of the largest picture (photo or painting) and B of 16:
 *   encoder: picture (3 / px) in A -> enc1.0 B (16) -> enc1.2 and enc1.4 row by row A (8)
 *            -> enc1.6 and enc1.8 row by row B (4) -> residual blocks through Q0, Q2, Q1 (64
 *            channels at a quarter of the size: 4 floats per pixel each, Q0..Q2 inside A): f1 in
 *            Q2, f2 in Q1;
 *   decoder: c2 in Q1 -> dec1 (h in Q0) Q2 -> dec2 (h in Q0) Q1 -> dec3.1 B (8)
 *            -> dec3.3 A (8) -> dec3.6 and dec3.8 row by row B (16) -> dec3.10 A (3).
 * 112 bytes per pixel: 28 MiB at 512x512.  No upsampled picture is ever stored.  A is also the
 * weights' staging while they are packed, and the modulated kernels' while a painting is set.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define ARB_LAYERS 31
#define RGB 3
#define WIDTH 64                 /* channels of the residual and modulated blocks */
#define UP 2                     /* the decoder's bilinear upsampling */
#define ADAIN_EPS 1e-5f
#define PIXEL_SCALE 255.0f
#define MIN_PHOTO_SIDE NST_ARBITRARY_MIN_PHOTO_SIDE
#define MIN_PAINTING_SIDE NST_ARBITRARY_MIN_PAINTING_SIDE
#define A_FLOATS_PER_PIXEL 8     /* A's full-size steps (enc1.4's and dec3.3's outputs), besides Q0..Q2 */
#define B_FLOATS_PER_PIXEL 16    /* B's: enc1.0's and dec3.8's outputs */
#define QUARTER_SLOTS 3          /* Q0, Q1, Q2 */

/* Where the parts start in the file's layer order (weights/FORMAT.md). */
enum { CONTENT = 0, STYLE = 9, MODULATOR = 18, DECODER = 22 };
/* Within an encoder. */
enum { ENC_9X9, ENC_DOWN1, ENC_MIX1, ENC_DOWN2, ENC_MIX2, ENC_RES1_A, ENC_RES1_B, ENC_RES2_A, ENC_RES2_B };
/* Within the modulator: depthwise convolutions of s1 (weight1, bias1) and s2 (weight2, bias2). */
enum { MOD_M1, MOD_B1, MOD_M2, MOD_B2, MOD_COUNT };
/* Within the decoder. */
enum { DEC1_A, DEC1_B, DEC2_A, DEC2_B, DEC_UP1, DEC_MIX1, DEC_UP2, DEC_MIX2, DEC_OUT };

struct arb_spec {
	const char *name;            /* the layer's name in the file, after the part's prefix */
	int out, in, kernel, stride, groups, up;
	bool relu;
};

static const struct arb_spec ENCODER[] = {
	{"enc1.0", 16, 3, 9, 1, 1, 1, true},       {"enc1.2", 32, 16, 3, 2, 16, 1, true},
	{"enc1.4", 32, 32, 1, 1, 1, 1, true},      {"enc1.6", 64, 32, 3, 2, 32, 1, true},
	{"enc1.8", 64, 64, 1, 1, 1, 1, true},      {"enc1.10.conv1", 64, 64, 3, 1, 1, 1, true},
	{"enc1.10.conv2", 64, 64, 3, 1, 1, 1, false}, {"enc2.0.conv1", 64, 64, 3, 1, 1, 1, true},
	{"enc2.0.conv2", 64, 64, 3, 1, 1, 1, false},
};
static const struct arb_spec MODULATOR_SPEC[MOD_COUNT] = {
	{"weight1.0", 64, 64, 3, 1, 64, 1, false}, {"bias1.0", 64, 64, 3, 1, 64, 1, false},
	{"weight2.0", 64, 64, 3, 1, 64, 1, false}, {"bias2.0", 64, 64, 3, 1, 64, 1, false},
};
static const struct arb_spec DECODER_SPEC[] = {
	/* the modulated blocks' (their ReLU: h's, after the modulation folded into the kernel) */
	{"dec1.conv1", 64, 64, 3, 1, 1, 1, true},  {"dec1.conv2", 64, 64, 3, 1, 1, 1, false},
	{"dec2.conv1", 64, 64, 3, 1, 1, 1, true},  {"dec2.conv2", 64, 64, 3, 1, 1, 1, false},
	{"dec3.1", 32, 64, 3, 1, 32, UP, true},    {"dec3.3", 32, 32, 1, 1, 1, 1, true},
	{"dec3.6", 16, 32, 3, 1, 16, UP, true},    {"dec3.8", 16, 16, 1, 1, 1, 1, true},
	{"dec3.10", 3, 16, 9, 1, 1, 1, false},
};
#define ENCODER_LAYERS ((int)(sizeof ENCODER / sizeof ENCODER[0]))
#define DECODER_LAYERS ((int)(sizeof DECODER_SPEC / sizeof DECODER_SPEC[0]))

struct arb_layer {
	struct arb_spec spec;
	struct nst_conv_shape shape;
	bool winograd;               /* a 3x3 64 -> 64 block convolution: nst_conv2d_winograd */
	bool grid;                   /* a 9x9 layer: nst_conv2d_grid (3x3 sub-kernels on Winograd tiles) */
	const struct nst_gemm_kernel *gemm; /* dense: the engine's, or float32 for the 9x9 layers in fp16 */
	float *packed;               /* nst_conv_packed_floats, the Winograd or the grouped packing; bias included */
	float *kept;                 /* a modulated block's: its HWIO kernel [3][3][64][64], then its bias [64] */
};

/* What the painting gives the decoder, blended over the paintings. */
struct style_state {
	float s1_mean[WIDTH], s1_std[WIDTH], s2_mean[WIDTH], s2_std[WIDTH];
	float mod[MOD_COUNT][WIDTH]; /* m1, b1, m2, b2 */
};

struct nst_arbitrary_session {
	struct nst_engine engine;
	struct nst_arbitrary_plan plan;
	const struct nst_weights *weights; /* only during init */
	struct arb_layer layers[ARB_LAYERS];
	enum nst_wino wino;          /* the blocks' Winograd transform */
	float *a, *b;                /* the regions A [region_floats] and B: see the top of the file */
	size_t region_floats;        /* A's: its steps, and the weights' staging */
	struct style_state style;
	bool style_set;
};

static const struct arb_spec *spec_of(int index) {
	if (index < STYLE)
		return &ENCODER[index - CONTENT];
	if (index < MODULATOR)
		return &ENCODER[index - STYLE];
	if (index < DECODER)
		return &MODULATOR_SPEC[index - MODULATOR];
	return &DECODER_SPEC[index - DECODER];
}

static const char *part_of(int index) {
	return index < STYLE ? "content" : index < MODULATOR ? "style" : index < DECODER ? "modulator" : "decoder";
}

static bool dense(const struct arb_layer *L) { return L->spec.groups == 1; }

/* The grouped layers whose 1x1 layer runs on each of their output rows while the row is in cache
 * (the grouped layer's output is never stored, nor read back): each encoder's enc1.2 (then enc1.4)
 * and enc1.6 (then enc1.8), and dec3.6 (bilinear x2, 3x3 32 -> 16 in 16 groups, then dec3.8).
 * dec3.1 and dec3.3 stay apart: their output (8 floats a pixel) has no room beside dec3.1's input
 * in A, nor does dec3.6's full-size output beside it in B. */
static bool followed_by_pointwise(int index) {
	if (index == DECODER + DEC_UP2)
		return true;
	const int part = index >= STYLE && index < MODULATOR ? STYLE : CONTENT;
	return index < MODULATOR && (index - part == ENC_DOWN1 || index - part == ENC_DOWN2);
}

/* The modulated blocks' convolutions (dec1, dec2): their kernels are the painting's too. */
static bool modulated(int index) { return index >= DECODER && index - DECODER <= DEC2_B; }

/* Checks the file against ARCHITECTURE.md, layer by layer. */
static enum nst_status configure(struct nst_arbitrary_session *s, const struct nst_weights *w, struct nst_diag *diag) {
	if (nst_weights_arch(w) != NST_ARCH_ARBITRARY)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s' are arch %d, not the arbitrary-style network (arch %d)",
		                nst_weights_model(w), (int)nst_weights_arch(w), NST_ARCH_ARBITRARY);
	if (nst_weights_layer_count(w) != ARB_LAYERS)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "weights '%s' have %d layers; the arbitrary-style network has %d",
		                nst_weights_model(w), nst_weights_layer_count(w), ARB_LAYERS);
	for (int i = 0; i < ARB_LAYERS; i++) {
		const struct arb_spec *sp = spec_of(i);
		struct nst_layer_info info;
		nst_weights_layer(w, i, &info);
		char want[NST_LAYER_NAME_BYTES];
		snprintf(want, sizeof want, "%s.%s", part_of(i), sp->name);
		if (strcmp(info.name, want) != 0 || info.out_channels != sp->out || info.in_channels != sp->in ||
		    info.kernel_h != sp->kernel || info.kernel_w != sp->kernel || info.stride != sp->stride ||
		    info.groups != sp->groups || info.has_norm || info.reflect != (sp->kernel > 1))
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "weights '%s': layer %d is %s %dx%d %d -> %d in %d groups, stride %d, %s padding%s; the "
			                "arbitrary-style network has %s %dx%d %d -> %d in %d groups, stride %d, %s padding",
			                nst_weights_model(w), i, info.name, info.kernel_h, info.kernel_w, info.in_channels,
			                info.out_channels, info.groups, info.stride, info.reflect ? "reflection" : "zero",
			                info.has_norm ? ", instance norm" : "", want, sp->kernel, sp->kernel, sp->in, sp->out, sp->groups,
			                sp->stride, sp->kernel > 1 ? "reflection" : "no");
		struct arb_layer *L = &s->layers[i];
		L->spec = *sp;
		L->shape = (struct nst_conv_shape){
			.kernel_h = sp->kernel, .kernel_w = sp->kernel, .stride = sp->stride, .pad = sp->kernel / 2,
			.reflect = sp->kernel > 1, .in_channels = sp->in, .out_channels = sp->out,
		};
	}
	return NST_OK;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }
static int half_up(int n) { return (n + 1) / 2; }

/* Floats of the regions A and B (the top of the file) for a picture of h x w (an encoder's steps,
 * and the decoder's when it is a photo padded to multiples of 4), in 64 bits: a 32-bit build checks
 * them against its address space. */
static uint64_t region_a_need(int h, int w) {
	const uint64_t full = (uint64_t)h * (uint64_t)w, quarter = (uint64_t)half_up(half_up(h)) * (uint64_t)half_up(half_up(w));
	const uint64_t steps = A_FLOATS_PER_PIXEL * full, slots = QUARTER_SLOTS * WIDTH * quarter;
	return steps > slots ? steps : slots;
}

static uint64_t region_b_need(int h, int w) { return B_FLOATS_PER_PIXEL * (uint64_t)h * (uint64_t)w; }

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

static size_t kernel_floats(const struct arb_layer *L) {
	return (size_t)L->shape.kernel_h * (size_t)L->shape.kernel_w * (size_t)(L->shape.in_channels / L->spec.groups) *
	       (size_t)L->shape.out_channels;
}

/* The input width a layer sees in the widest picture, for the grouped convolutions' row scratch. */
static int layer_input_width(const struct nst_arbitrary_session *s, int index) {
	const int widest = s->plan.padded_width > s->plan.style_width ? s->plan.padded_width : s->plan.style_width;
	const int quarter = half_up(half_up(widest));
	if (index >= DECODER) {
		const int d = index - DECODER;
		return d == DEC_UP1 ? quarter : d == DEC_MIX1 || d == DEC_UP2 ? quarter * UP : widest;
	}
	if (index >= MODULATOR)
		return quarter;
	const int e = (index - CONTENT) % STYLE;
	return e == ENC_9X9 || e == ENC_DOWN1 ? widest : e == ENC_MIX1 || e == ENC_DOWN2 ? half_up(widest) : quarter;
}

static void layout(struct nst_arbitrary_session *s, struct nst_arena *a) {
	size_t mark = a->used;
	for (int i = 0; i < ARB_LAYERS; i++) {
		struct arb_layer *L = &s->layers[i];
		if (L->winograd) {
			L->packed = NST_ARENA_NEW(a, float, nst_conv_winograd_packed_floats(L->gemm, &L->shape, s->wino));
			if (modulated(i))
				L->kept = NST_ARENA_NEW(a, float, kernel_floats(L) + (size_t)L->shape.out_channels);
		} else if (L->grid) {
			L->packed = NST_ARENA_NEW(a, float, nst_conv_grid_packed_floats(L->gemm, &L->shape));
		} else if (dense(L)) {
			L->packed = NST_ARENA_NEW(a, float, nst_conv_packed_floats(L->gemm, &L->shape));
		} else {
			L->packed = NST_ARENA_NEW(a, float, nst_conv_grouped_packed_floats(&L->shape, L->spec.groups, L->spec.up));
		}
	}
	s->plan.weights_bytes = a->used - mark;
	mark = a->used;
	const int ph = s->plan.padded_height, pw = s->plan.padded_width, sh = s->plan.style_height, sw = s->plan.style_width;
	const uint64_t need_a = max_u64(region_a_need(ph, pw), region_a_need(sh, sw));
	const uint64_t need_b = max_u64(region_b_need(ph, pw), region_b_need(sh, sw));
	if (need_a + need_b > (uint64_t)(SIZE_MAX / 2) / sizeof(float)) { /* beyond the address space: the plan overflows */
		a->overflow = true;
		return;
	}
	s->region_floats = (size_t)need_a;
	for (int i = 0; i < ARB_LAYERS; i++) { /* the weights are staged in A while packing */
		const struct arb_layer *L = &s->layers[i];
		const size_t staging = L->winograd && !modulated(i) ? nst_conv_winograd_staging_floats(&L->shape)
		                       : L->grid                      ? nst_conv_grid_staging_floats(&L->shape)
		                                                      : 0;
		s->region_floats = max_size(s->region_floats, kernel_floats(L) + (size_t)L->shape.out_channels + staging);
		if (modulated(i)) /* nst_arbitrary_set_style packs them with A as staging */
			s->region_floats = max_size(s->region_floats, nst_conv_winograd_scaled_staging_floats(&L->shape, s->wino));
	}
	s->a = NST_ARENA_NEW(a, float, s->region_floats);
	s->b = NST_ARENA_NEW(a, float, (size_t)need_b);
	s->plan.activations_bytes = a->used - mark;
	mark = a->used;
	size_t scratch = 0;
	for (int i = 0; i < ARB_LAYERS; i++) {
		const struct arb_layer *L = &s->layers[i];
		scratch = max_size(scratch, L->winograd ? nst_conv_winograd_scratch_floats(L->gemm, &L->shape, s->wino)
		                            : L->grid   ? nst_conv_grid_scratch_floats(L->gemm, &L->shape)
		                            : dense(L)  ? nst_conv_scratch_floats(L->gemm, &L->shape)
		                                        : nst_conv_grouped_scratch_floats(&L->shape, L->spec.groups, L->spec.up,
		                                                                          layer_input_width(s, i),
		                                                                          followed_by_pointwise(i)));
		if (modulated(i))
			scratch = max_size(scratch, nst_conv_winograd_scaled_scratch_floats(&L->shape));
	}
	s->engine.scratch_floats = scratch;
	s->engine.scratch = NST_ARENA_NEW(a, float, scratch * (size_t)s->engine.threads);
	s->plan.scratch_bytes += a->used - mark;
}

static double layer_flops(const struct arb_layer *L, int oh, int ow) {
	return 2.0 * (double)oh * (double)ow * (double)kernel_floats(L);
}

/* Multiply-adds of an encoder on an h x w picture, and of the decoder on one padded photo. */
static double encoder_flops(const struct nst_arbitrary_session *s, int first, int h, int w) {
	double f = 0.0;
	for (int e = 0; e < ENCODER_LAYERS; e++) {
		const struct arb_layer *L = &s->layers[first + e];
		if (L->shape.stride == 2) {
			h = half_up(h);
			w = half_up(w);
		}
		f += layer_flops(L, h, w);
	}
	return f;
}

static double decoder_flops(const struct nst_arbitrary_session *s, int h, int w) {
	int dh = h / 4, dw = w / 4;
	double f = 0.0;
	for (int d = 0; d < DECODER_LAYERS; d++) {
		const struct arb_layer *L = &s->layers[DECODER + d];
		dh *= L->spec.up;
		dw *= L->spec.up;
		f += layer_flops(L, dh, dw);
	}
	return f;
}

static enum nst_status build(struct nst_arbitrary_session *s, struct nst_arena *a, struct nst_diag *diag) {
	if (s->plan.backend == NST_BACKEND_XNNPACK)
		return nst_fail(diag, NST_ERR_UNSUPPORTED,
		                "backend xnnpack does not run the arbitrary-style network (use simd or scalar)");
	const enum nst_precision asked = s->plan.precision;
	/* int8 is the trained networks' (nst_fast_*): this network runs fp32 then.  Measured on it
	 * (throwaway builds, int8 vs fp32 output over 2 photos x 3 paintings at 256 px; a photo with
	 * the painting cached, 2 threads, --bench 21, three rounds): the content encoder's 9x9 input
	 * layer in int8 stays within mean |difference| 0.43 and max 10 levels, but the photo takes
	 * 1.2x as long (10.2 -> 12.6 ms: its fp32 path reads the picture in place, the int8 one builds
	 * and quantizes the 243-value patches and fills half of the 32-column int8 tile); the decoder's
	 * 1x1 layers (0.95, max 6) gain nothing (10.2 -> 10.5 ms); the encoder's 1x1 layers reach max
	 * 34 levels. */
	enum nst_status st = nst_engine_init(&s->engine, s->plan.backend,
	                                     asked == NST_PRECISION_INT8 ? NST_PRECISION_FP32 : asked, s->plan.threads, diag);
	if (st != NST_OK)
		return st;
	s->plan.backend = s->engine.backend;
	s->plan.precision = s->engine.precision;
	if (asked == NST_PRECISION_INT8)
		s->plan.notice = "int8 runs the trained networks (--model NAME) only: on the arbitrary-style network it was "
		                 "slower than fp32 (README); running in fp32";
	else if (asked != s->plan.precision)
		s->plan.notice = "fp16 needs FP16 vector arithmetic (ARMv8.2-A, such as a Pi 5's Cortex-A76), "
		                 "which this CPU or build lacks; running in fp32";
	s->plan.threads = s->engine.threads;
	s->plan.kernel = s->engine.gemm->name;
	s->wino = s->engine.gemm->f16 ? NST_WINO_F2 : NST_WINO_F4;
	/* fp16 (float16 GEMMs, Winograd F(2x2)) on the content encoder's and the painting's layers; the
	 * decoder's modulated blocks stay float32: their outputs are scaled by the modulations, which
	 * magnify the float16 sums' rounding (relative L2 from torch_arbitrary.py at 128x96, scalar
	 * twin: 1.2e-2 with every dense layer in float16, 2.0e-3 with these four in float32; their
	 * second convolutions alone in float32: 7.4e-3).  The 9x9 layers (patches of 243 and 1296
	 * values, the longest float16 sums) stay float32 too. */
	const struct nst_gemm_kernel *fp32 = nst_engine_kernels(s->plan.backend, NST_PRECISION_FP32);
	for (int i = 0; i < ARB_LAYERS; i++) {
		struct arb_layer *L = &s->layers[i];
		L->winograd = dense(L) && L->shape.kernel_h == 3 && nst_conv_winograd_applies(&L->shape);
		assert(!modulated(i) || L->winograd);
		L->gemm = L->shape.kernel_h > 3 || modulated(i) ? fp32 : s->engine.gemm;
		L->grid = dense(L) && L->shape.kernel_h > 3 && nst_conv_grid_applies(L->gemm, &L->shape);
	}
	nst_arena_alloc(a, sizeof(struct nst_arbitrary_session)); /* the session comes first */
	s->plan.scratch_bytes = a->used;
	layout(s, a);
	s->plan.total_bytes = a->used;
	s->plan.style_flops = encoder_flops(s, STYLE, s->plan.style_height, s->plan.style_width);
	for (int m = 0; m < MOD_COUNT; m++)
		s->plan.style_flops += layer_flops(&s->layers[MODULATOR + m], half_up(half_up(s->plan.style_height)),
		                                   half_up(half_up(s->plan.style_width)));
	s->plan.flops = encoder_flops(s, CONTENT, s->plan.padded_height, s->plan.padded_width) +
	                decoder_flops(s, s->plan.padded_height, s->plan.padded_width);
	return NST_OK;
}

static int round_up4(int n) { return (n + 3) / 4 * 4; }

static enum nst_status setup(struct nst_arbitrary_session *s, const struct nst_weights *w, int width, int height,
                             int style_width, int style_height, int threads, enum nst_backend backend,
                             enum nst_precision precision, struct nst_diag *diag) {
	memset(s, 0, sizeof *s);
	if (width < MIN_PHOTO_SIDE || height < MIN_PHOTO_SIDE || width > NST_MAX_IMAGE_SIDE || height > NST_MAX_IMAGE_SIDE)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "a %dx%d photo: the arbitrary-style network takes sides of %d..%d",
		                width, height, MIN_PHOTO_SIDE, NST_MAX_IMAGE_SIDE);
	if (style_width < MIN_PAINTING_SIDE || style_height < MIN_PAINTING_SIDE || style_width > NST_MAX_IMAGE_SIDE ||
	    style_height > NST_MAX_IMAGE_SIDE)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "a %dx%d painting: the arbitrary-style network takes sides of %d..%d", style_width, style_height,
		                MIN_PAINTING_SIDE, NST_MAX_IMAGE_SIDE);
	s->plan.width = width;
	s->plan.height = height;
	s->plan.padded_width = round_up4(width);
	s->plan.padded_height = round_up4(height);
	s->plan.style_width = style_width;
	s->plan.style_height = style_height;
	s->plan.threads = threads;
	s->plan.backend = backend;
	s->plan.precision = precision;
	return configure(s, w, diag);
}

enum nst_status nst_arbitrary_plan(const struct nst_weights *weights, int width, int height, int style_width,
                                   int style_height, int threads, enum nst_backend backend, enum nst_precision precision,
                                   struct nst_arbitrary_plan *plan, struct nst_diag *diag) {
	if (!weights || !plan)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_arbitrary_plan: a required argument is NULL");
	struct nst_arbitrary_session s;
	enum nst_status st = setup(&s, weights, width, height, style_width, style_height, threads, backend, precision, diag);
	if (st != NST_OK)
		return st;
	struct nst_arena a;
	nst_arena_init(&a, NULL, 0);
	st = build(&s, &a, diag);
	if (st != NST_OK)
		return st;
	if (a.overflow)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY,
		                "a %dx%d photo with a %dx%d painting needs more memory than this system can address", width,
		                height, style_width, style_height);
	*plan = s.plan;
	return NST_OK;
}

static void pack_weights(struct nst_arbitrary_session *s) {
	for (int i = 0; i < ARB_LAYERS; i++) {
		struct arb_layer *L = &s->layers[i];
		float *hwio = s->a;                      // [k][k][in / groups][out] staging
		float *bias = s->a + kernel_floats(L);   // [out] staging
		nst_weights_read_kernel(s->weights, i, hwio);
		nst_weights_read_vector(s->weights, i, NST_VECTOR_BIAS, bias);
		if (modulated(i)) /* packed with the painting's modulations (fold_modulations) */
			memcpy(L->kept, hwio, (kernel_floats(L) + (size_t)L->shape.out_channels) * sizeof(float));
		else if (L->winograd)
			nst_conv_winograd_pack(L->gemm, &L->shape, s->wino, hwio, bias, bias + L->shape.out_channels, L->packed);
		else if (L->grid)
			nst_conv_grid_pack(L->gemm, &L->shape, hwio, bias, bias + L->shape.out_channels, L->packed);
		else if (dense(L))
			nst_conv_pack_forward(L->gemm, &L->shape, hwio, bias, L->packed);
		else
			nst_conv_grouped_pack(&L->shape, L->spec.groups, L->spec.up, hwio, bias, L->packed);
	}
}

enum nst_status nst_arbitrary_init(void *arena, size_t arena_bytes, const struct nst_weights *weights, int width,
                                   int height, int style_width, int style_height, int threads, enum nst_backend backend,
                                   enum nst_precision precision, struct nst_arbitrary_session **out,
                                   struct nst_diag *diag) {
	if (!arena || !weights || !out)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_arbitrary_init: a required argument is NULL");
	if ((uintptr_t)arena % NST_ARENA_ALIGNMENT)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "the arena must be %d-byte aligned", NST_ARENA_ALIGNMENT);
	struct nst_arbitrary_session tmp;
	enum nst_status st = setup(&tmp, weights, width, height, style_width, style_height, threads, backend, precision, diag);
	if (st != NST_OK)
		return st;
	struct nst_arena a;
	nst_arena_init(&a, arena, arena_bytes);
	st = build(&tmp, &a, diag);
	if (st != NST_OK)
		return st;
	if (a.overflow)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "the arena has %zu bytes, the plan needs %zu", arena_bytes,
		                tmp.plan.total_bytes);
	struct nst_arbitrary_session *s = arena; /* build() placed it first */
	*s = tmp;
	st = nst_engine_start(&s->engine, diag);
	if (st != NST_OK)
		return st;
	s->weights = weights;
	pack_weights(s);
	s->weights = NULL; /* everything is packed: the caller may close the weights */
	*out = s;
	return NST_OK;
}

void nst_arbitrary_release(struct nst_arbitrary_session *s) {
	if (s)
		nst_engine_release(&s->engine);
}

const struct nst_arbitrary_plan *nst_arbitrary_session_plan(const struct nst_arbitrary_session *s) {
	return s ? &s->plan : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The passes
 * ------------------------------------------------------------------------------------------- */

/* h x w: layer L's input size, then its output's. */
static void output_size(const struct arb_layer *L, int *h, int *w) {
	const int vh = *h * L->spec.up, vw = *w * L->spec.up;
	*h = nst_conv_out_size(vh, L->shape.kernel_h, L->shape.stride, L->shape.pad);
	*w = nst_conv_out_size(vw, L->shape.kernel_w, L->shape.stride, L->shape.pad);
}

/* Runs layer index on in [h][w][cin] into out [oh][ow][cout]; addend (dense only) is added after
 * the bias and the ReLU.  Updates h and w to the output's size. */
static void conv(struct nst_arbitrary_session *s, int index, int *h, int *w, const float *in, float *out,
                 const float *addend) {
	const struct arb_layer *L = &s->layers[index];
	struct nst_engine engine = s->engine; /* with the layer's GEMM kernel */
	engine.gemm = L->gemm;
	const struct nst_conv_epilogue ep = {L->spec.relu ? 0.0f : -INFINITY, INFINITY, NULL, addend, NULL};
	if (L->winograd) {
		nst_conv2d_winograd(&engine, &L->shape, s->wino, *h, *w, in, L->packed, out, &ep);
	} else if (L->grid) {
		assert(!addend);
		nst_conv2d_grid(&engine, &L->shape, *h, *w, in, L->packed, out, &ep);
	} else if (dense(L)) {
		nst_conv2d(&engine, &L->shape, *h, *w, in, L->packed, out, &ep);
	} else {
		assert(!addend);
		nst_conv2d_grouped(&s->engine, &L->shape, L->spec.groups, L->spec.up, *h, *w, in, L->packed, L->spec.relu, NULL,
		                   out);
	}
	output_size(L, h, w);
}

/* Layer index (grouped) and the 1x1 layer after it on in [h][w][cin] into out: conv() of both,
 * the same values. */
static void conv_then(struct nst_arbitrary_session *s, int index, int *h, int *w, const float *in, float *out) {
	const struct arb_layer *L = &s->layers[index], *P = &s->layers[index + 1];
	assert(followed_by_pointwise(index) && !dense(L) && dense(P) && !P->winograd && !P->grid &&
	       P->shape.kernel_h == 1 && P->shape.kernel_w == 1 && P->shape.in_channels == L->shape.out_channels);
	const struct nst_conv_pointwise then = {
		nst_gemm_kernel_for_columns(P->gemm, (size_t)P->shape.out_channels), P->packed, P->shape.out_channels,
		{P->spec.relu ? 0.0f : -INFINITY, INFINITY}};
	assert(!nst_conv_small_n(then.gemm, &P->shape));
	nst_conv2d_grouped(&s->engine, &L->shape, L->spec.groups, L->spec.up, *h, *w, in, L->packed, L->spec.relu, &then,
	                   out);
	output_size(L, h, w);
}

/* The quarter-size slots inside A. */
static float *quarter(struct nst_arbitrary_session *s, int slot, size_t quarter_floats) {
	return s->a + (size_t)slot * quarter_floats;
}

/* Encoder first on the picture in A [h][w][3]: f1 in Q2, f2 in Q1 ([h/4][w/4][64] each). */
static void encode(struct nst_arbitrary_session *s, int first, int *h, int *w, size_t *quarter_floats) {
	conv(s, first + ENC_9X9, h, w, s->a, s->b, NULL);
	conv_then(s, first + ENC_DOWN1, h, w, s->b, s->a); /* enc1.2, enc1.4 */
	const int hh = half_up(*h), hw = half_up(*w);
	*quarter_floats = (size_t)hh * (size_t)hw * WIDTH;
	float *q0 = quarter(s, 0, *quarter_floats), *q1 = quarter(s, 1, *quarter_floats), *q2 = quarter(s, 2, *quarter_floats);
	float *x = s->b; /* enc1.8's output [h/4][w/4][64]: B is free until the decoder */
	conv_then(s, first + ENC_DOWN2, h, w, s->a, x); /* enc1.6, enc1.8 */
	int qh, qw;
	qh = *h, qw = *w;
	conv(s, first + ENC_RES1_A, &qh, &qw, x, q0, NULL);
	qh = *h, qw = *w;
	conv(s, first + ENC_RES1_B, &qh, &qw, q0, q2, x); /* f1 = x + conv2(relu(conv1(x))) */
	qh = *h, qw = *w;
	conv(s, first + ENC_RES2_A, &qh, &qw, q2, q0, NULL);
	qh = *h, qw = *w;
	conv(s, first + ENC_RES2_B, &qh, &qw, q0, q1, q2); /* f2 */
}

/* RGB / 255 of the picture into A [ph][pw][3], the last row and column repeated out to ph x pw. */
/* A picture into the network and out of it, on the engine's threads in rows. */
struct picture_rows {
	int width, height, pw;
	const uint8_t *rgb; /* in: [height][width][3] */
	float *x;           /* in: [ph][pw][3] */
	const float *y;     /* out: [ph][pw][3], the first width pixels of each row kept */
	uint8_t *bytes;     /* out: [height][width][3], or NULL */
	float *floats;      /* out: [height][width][3], or NULL */
	float strength;     /* bytes: strength * stylized + (1 - strength) * the photo's rgb */
	const float *scaled; /* in: [256] byte / 255 as the division gives it, looked up (a division per value was slow) */
};

static void load_rows(void *context, size_t r0, size_t r1) {
	const struct picture_rows *t = context;
	const int width = t->width, height = t->height, pw = t->pw; /* locals: the float stores may alias t */
	const uint8_t *rgb = t->rgb;
	const float *scaled = t->scaled;
	float *x = t->x;
	for (int y = (int)r0; y < (int)r1; y++) {
		const uint8_t *row = rgb + (size_t)(y < height ? y : height - 1) * (size_t)width * RGB;
		float *d = x + (size_t)y * (size_t)pw * RGB;
		for (size_t i = 0; i < (size_t)width * RGB; i++)
			d[i] = scaled[row[i]];
		for (int xx = width; xx < pw; xx++) /* the last column repeated */
			for (int c = 0; c < RGB; c++)
				d[(size_t)xx * RGB + (size_t)c] = d[(size_t)(width - 1) * RGB + (size_t)c];
	}
}

/* x [ph][pw][3] = rgb [height][width][3] / 255, the last row and column repeated. */
static void load_picture(const struct nst_engine *engine, float *x, int width, int height, const uint8_t *rgb, int pw,
                         int ph) {
	float scaled[UINT8_MAX + 1];
	for (int b = 0; b <= UINT8_MAX; b++)
		scaled[b] = (float)b / PIXEL_SCALE;
	struct picture_rows t = {.width = width, .height = height, .pw = pw, .rgb = rgb, .x = x, .scaled = scaled};
	nst_parallel_rows(engine, (size_t)ph, load_rows, &t);
}

static void output_rows(void *context, size_t r0, size_t r1) {
	const struct picture_rows *t = context;
	const size_t row = (size_t)t->width * RGB, pw = (size_t)t->pw;
	/* the fields in locals: a byte store may alias them, the compiler would reload each per value */
	const float strength = t->strength, keep = 1.0f - strength;
	const uint8_t *rgb = t->rgb;
	float *floats = t->floats;
	uint8_t *bytes = t->bytes;
	for (size_t y = r0; y < r1; y++) {
		const float *src = t->y + y * pw * RGB; // [pw][3], the first width pixels kept
		if (floats) {
			for (size_t i = 0; i < row; i++)
				floats[y * row + i] = src[i] * PIXEL_SCALE;
			continue;
		}
		/* clamps written as a > b ? a : b and a < b ? a : b (maxss and minss, no branch; a NaN
		 * becomes 0) */
		if (strength < 1.0f) {
			for (size_t i = 0; i < row; i++) {
				/* as the trained networks' mix: the stylized value clamped first; the photo's byte is
				 * read before its place is written (rgb_out may be rgb_in) */
				const float v = src[i] * PIXEL_SCALE, low = v > 0.0f ? v : 0.0f;
				const float styled = low < PIXEL_SCALE ? low : PIXEL_SCALE;
				const float r = rintf(strength * styled + keep * (float)rgb[y * row + i]), lifted = r > 0.0f ? r : 0.0f;
				bytes[y * row + i] = (uint8_t)(lifted < PIXEL_SCALE ? lifted : PIXEL_SCALE);
			}
			continue;
		}
		for (size_t i = 0; i < row; i++) {
			const float r = rintf(src[i] * PIXEL_SCALE), lifted = r > 0.0f ? r : 0.0f;
			bytes[y * row + i] = (uint8_t)(lifted < PIXEL_SCALE ? lifted : PIXEL_SCALE);
		}
	}
}

/* The modulated blocks' kernels for the painting: dec1's with (m2, b2), dec2's with (m1, b1). */
static void fold_modulations(struct nst_arbitrary_session *s) {
	const struct style_state *st = &s->style;
	for (int d = DEC1_A; d <= DEC2_B; d++) {
		struct arb_layer *L = &s->layers[DECODER + d];
		const bool dec1 = d <= DEC1_B;
		nst_conv_winograd_pack_scaled(&s->engine, L->gemm, &L->shape, s->wino, L->kept, L->kept + kernel_floats(L),
		                              st->mod[dec1 ? MOD_M2 : MOD_M1],
		                              st->mod[dec1 ? MOD_B2 : MOD_B1], s->a /* staging: A is free now */, L->packed);
	}
}

/* The paintings' statistics and modulations, blended, as one burst (nst_parallel_burst) */
struct style_pass {
	struct nst_arbitrary_session *s;
	int n;
	const struct nst_image *paintings;
	const float *blend;
	double total;
};

static void style_pass(void *context) {
	const struct style_pass *p = context;
	struct nst_arbitrary_session *s = p->s;
	struct style_state sum;
	memset(&sum, 0, sizeof sum);
	for (int i = 0; i < p->n; i++) {
		const struct nst_image *pic = &p->paintings[i];
		const float share = (float)((p->blend ? p->blend[i] : 1.0f) / p->total);
		load_picture(&s->engine, s->a, pic->width, pic->height, pic->rgb, pic->width, pic->height);
		int h = pic->height, w = pic->width;
		size_t qf;
		encode(s, STYLE, &h, &w, &qf);
		const size_t n_px = (size_t)h * (size_t)w;
		struct style_state one;
		nst_channel_stats(&s->engine, n_px, WIDTH, quarter(s, 2, qf), ADAIN_EPS, one.s1_mean, one.s1_std);
		nst_channel_stats(&s->engine, n_px, WIDTH, quarter(s, 1, qf), ADAIN_EPS, one.s2_mean, one.s2_std);
		for (int m = 0; m < MOD_COUNT; m++) {
			int mh = h, mw = w;
			const float *src = quarter(s, m == MOD_M1 || m == MOD_B1 ? 2 : 1, qf); /* s1 or s2 */
			conv(s, MODULATOR + m, &mh, &mw, src, s->b, NULL);
			nst_channel_stats(&s->engine, n_px, WIDTH, s->b, ADAIN_EPS, one.mod[m], NULL);
		}
		const float *from = (const float *)&one;
		float *to = (float *)&sum;
		for (size_t k = 0; k < sizeof sum / sizeof(float); k++)
			to[k] += share * from[k];
	}
	s->style = sum;
	fold_modulations(s);
}

enum nst_status nst_arbitrary_set_style(struct nst_arbitrary_session *s, int n, const struct nst_image *paintings,
                                        const float *blend, struct nst_diag *diag) {
	if (!s || n < 1 || !paintings)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_arbitrary_set_style: no painting");
	double total = 0.0;
	for (int i = 0; i < n; i++) {
		const struct nst_image *p = &paintings[i];
		const float b = blend ? blend[i] : 1.0f;
		if (!p->rgb || p->width < MIN_PAINTING_SIDE || p->height < MIN_PAINTING_SIDE ||
		    p->width > s->plan.style_width || p->height > s->plan.style_height)
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "painting %d is %dx%d: the session takes %d..%d x %d..%d",
			                i + 1, p->width, p->height, MIN_PAINTING_SIDE, s->plan.style_width, MIN_PAINTING_SIDE,
			                s->plan.style_height);
		if (!(b >= 0.0f) || !isfinite(b))
			return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "painting %d: blend weight %g is not a finite number >= 0",
			                i + 1, (double)b);
		total += b;
	}
	if (!(total > 0.0))
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "the paintings' blend weights add up to 0");
	struct style_pass p = {s, n, paintings, blend, total};
	nst_parallel_burst(&s->engine, style_pass, &p);
	s->style_set = true;
	return NST_OK;
}

/* The decoder's modulated block `first` (DEC1_A or DEC2_A) on x [qh][qw][64] in `in` into `out`,
 * its h in Q0: two convolutions, the modulations folded into their kernels (fold_modulations). */
static void modulated_block(struct nst_arbitrary_session *s, int first, const float *in, float *out, int qh, int qw,
                            size_t qf) {
	float *h_buf = quarter(s, 0, qf);
	int h = qh, w = qw;
	conv(s, DECODER + first, &h, &w, in, h_buf, NULL); /* h = relu(m conv1(x) + b x) */
	h = qh, w = qw;
	conv(s, DECODER + first + 1, &h, &w, h_buf, out, in); /* x + (m conv2(h) + b h) */
}

/* The photo through E_c and D: the output [ph][pw][3] (RGB / 255, unclamped) in A. */
static enum nst_status forward(struct nst_arbitrary_session *s, int width, int height, const uint8_t *rgb, float alpha) {
	if (!s->style_set)
		return NST_ERR_INVALID_ARGUMENT;
	const int pw = round_up4(width), ph = round_up4(height);
	load_picture(&s->engine, s->a, width, height, rgb, pw, ph);
	int h = ph, w = pw;
	size_t qf;
	encode(s, CONTENT, &h, &w, &qf);
	const size_t n = (size_t)h * (size_t)w;
	float *c2 = quarter(s, 1, qf), *x1 = quarter(s, 2, qf);
	float x_mean[WIDTH], x_std[WIDTH];
	const struct style_state *st = &s->style;
	nst_channel_stats(&s->engine, n, WIDTH, c2, ADAIN_EPS, x_mean, x_std);
	nst_adain(&s->engine, n, WIDTH, c2, x_mean, x_std, st->s2_mean, st->s2_std, alpha);
	modulated_block(s, DEC1_A, c2, x1, h, w, qf);
	nst_channel_stats(&s->engine, n, WIDTH, x1, ADAIN_EPS, x_mean, x_std);
	nst_adain(&s->engine, n, WIDTH, x1, x_mean, x_std, st->s1_mean, st->s1_std, alpha);
	modulated_block(s, DEC2_A, x1, c2, h, w, qf);
	conv(s, DECODER + DEC_UP1, &h, &w, c2, s->b, NULL);
	conv(s, DECODER + DEC_MIX1, &h, &w, s->b, s->a, NULL);
	conv_then(s, DECODER + DEC_UP2, &h, &w, s->a, s->b); /* dec3.6, dec3.8 */
	conv(s, DECODER + DEC_OUT, &h, &w, s->b, s->a, NULL);
	assert(h == ph && w == pw);
	return NST_OK;
}

static enum nst_status check_run(const struct nst_arbitrary_session *s, int width, int height, const void *in,
                                 const void *out, float alpha, float strength) {
	if (!s || !in || !out || width < MIN_PHOTO_SIDE || height < MIN_PHOTO_SIDE || width > s->plan.width ||
	    height > s->plan.height || !(alpha >= 0.0f && alpha <= 1.0f) || !(strength >= 0.0f && strength <= 1.0f) ||
	    !s->style_set)
		return NST_ERR_INVALID_ARGUMENT;
	return NST_OK;
}

/* A photo through the network and into its output (run_into), as one burst */
struct photo_pass {
	struct nst_arbitrary_session *s;
	int width, height;
	const uint8_t *rgb_in;
	float alpha, strength;
	uint8_t *bytes;
	float *floats;
	enum nst_status status;
};

static void photo_pass(void *context) {
	struct photo_pass *p = context;
	p->status = forward(p->s, p->width, p->height, p->rgb_in, p->alpha);
	if (p->status != NST_OK)
		return;
	struct picture_rows t = {.width = p->width, .height = p->height, .pw = round_up4(p->width), .rgb = p->rgb_in,
	                         .y = p->s->a, .bytes = p->bytes, .floats = p->floats, .strength = p->strength};
	nst_parallel_rows(&p->s->engine, (size_t)p->height, output_rows, &t);
}

/* The photo through the network, its output cropped into bytes (rounded, clamped) or floats
 * (times 255, as they are): one of them given. */
static enum nst_status run_into(struct nst_arbitrary_session *s, int width, int height, const uint8_t *rgb_in,
                                float alpha, float strength, uint8_t *bytes, float *floats) {
	enum nst_status st =
		check_run(s, width, height, rgb_in, bytes ? (const void *)bytes : (const void *)floats, alpha, strength);
	if (st != NST_OK)
		return st;
	struct photo_pass p = {s, width, height, rgb_in, alpha, strength, bytes, floats, NST_OK};
	nst_parallel_burst(&s->engine, photo_pass, &p);
	return p.status;
}

enum nst_status nst_arbitrary_run(struct nst_arbitrary_session *s, int width, int height, const uint8_t *rgb_in,
                                  float alpha, uint8_t *rgb_out) {
	return run_into(s, width, height, rgb_in, alpha, 1.0f, rgb_out, NULL);
}

enum nst_status nst_arbitrary_run_mixed(struct nst_arbitrary_session *s, int width, int height, const uint8_t *rgb_in,
                                        float alpha, float strength, uint8_t *rgb_out) {
	return run_into(s, width, height, rgb_in, alpha, strength, rgb_out, NULL);
}

enum nst_status nst_arbitrary_run_raw(struct nst_arbitrary_session *s, int width, int height, const uint8_t *rgb_in,
                                      float alpha, float *out) {
	return run_into(s, width, height, rgb_in, alpha, 1.0f, NULL, out);
}

/* The painting size the network runs at (include/nst.h). */
void nst_arbitrary_painting_size(int width, int height, int long_side, int *out_width, int *out_height) {
	const int shorter = width < height ? width : height;
	const int longer = width > height ? width : height;
	const long least = shorter > 0 ? ((long)NST_ARBITRARY_MIN_PAINTING_SIDE * longer + shorter - 1) / shorter : long_side;
	const int side = long_side >= least ? long_side : least > NST_MAX_IMAGE_SIDE / 2 ? NST_MAX_IMAGE_SIDE / 2 : (int)least;
	nst_image_fit(width, height, side, out_width, out_height);
}
