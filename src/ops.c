/*
 * The operators around the convolutions: pooling (forward and backward), ReLU masks, Gram
 * matrices, the content / style / total-variation losses and their gradients.  Feature maps are
 * [H][W][C] float32; losses are summed in double.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "internal.h"

/* Codes per argmax byte (arch/kernels.h): 2 bits select one of the 4 positions of a 2x2 window. */
#define ARGMAX_CODES_PER_BYTE NST_ARGMAX_CODES_PER_BYTE
#define ARGMAX_BITS NST_ARGMAX_BITS
#define POOL 2

size_t nst_pool_argmax_bytes(int h, int w, int c) {
	const size_t n = (size_t)(h / POOL) * (size_t)(w / POOL) * (size_t)c;
	return (n + ARGMAX_CODES_PER_BYTE - 1) / ARGMAX_CODES_PER_BYTE;
}

struct pool_task {
	int h, w, c, oh, ow;
	const float *in;       /* [h][w][c] forward input, or [oh][ow][c] gradient */
	float *out;            /* [oh][ow][c], or [h][w][c] gradient */
	uint8_t *argmax;       /* [oh][ow][c] 2-bit codes */
	const uint8_t *argmax_in;
	int rows_per_item;
	int items;
	/* nst_maxpool2x2_backward_masked: then out = mask ? out + addend : 0 (addend may be NULL) */
	const uint8_t *mask;   /* [h][w][c] bits */
	const float *addend;   /* [h][w][c] */
	const struct nst_mask_kernel *mask_kernel;
	const struct nst_argmaxpool_kernel *kernel; /* with argmax codes of whole bytes (c % 4 == 0) */
};

#define MASK_BITS 8

/* v[i] = mask bit i ? v[i] + addend[i] : 0 (no addend: v[i]) for i0 <= i < i1: element by element
 * up to a mask byte boundary and after the last whole byte, whole bytes through the mask kernel. */
static void mask_range(const struct nst_mask_kernel *kernel, size_t i0, size_t i1, const uint8_t *mask,
                       const float *addend, float *v) {
	size_t i = i0;
	for (; i < i1 && (i % MASK_BITS != 0 || i1 - i < MASK_BITS); i++)
		v[i] = ((mask[i / MASK_BITS] >> (i % MASK_BITS)) & 1u) ? v[i] + (addend ? addend[i] : 0.0f) : 0.0f;
	const size_t whole = (i1 - i) / MASK_BITS;
	if (whole > 0) {
		if (addend)
			nst_floats_add(whole * MASK_BITS, addend + i, v + i);
		kernel->apply(whole, mask + i / MASK_BITS, v + i);
		i += whole * MASK_BITS;
	}
	for (; i < i1; i++)
		v[i] = ((mask[i / MASK_BITS] >> (i % MASK_BITS)) & 1u) ? v[i] + (addend ? addend[i] : 0.0f) : 0.0f;
}

/* Output rows are split into items of whole rows, NST_ITEMS_PER_SLOT per slot; a row's argmax
 * codes start on a byte when c % 4 == 0, and otherwise everything is one item. */
static int pool_items(const struct nst_engine *engine, int oh, int c) {
	if (c % ARGMAX_CODES_PER_BYTE != 0 || oh < 1)
		return 1;
	const size_t items = nst_parallel_items(engine, (size_t)oh);
	return (int)items;
}

static void maxpool_worker(void *context, size_t slot, size_t item) {
	const struct pool_task *t = context;
	const size_t c = (size_t)t->c;
	(void)slot;
	const int y0 = (int)item * t->rows_per_item;
	const int y1 = y0 + t->rows_per_item < t->oh ? y0 + t->rows_per_item : t->oh;
	for (int oy = y0; oy < y1; oy++)
		for (int ox = 0; ox < t->ow; ox++) {
			const float *r0 = t->in + ((size_t)(POOL * oy) * (size_t)t->w + (size_t)(POOL * ox)) * c;
			const float *r1 = r0 + (size_t)t->w * c;
			float *o = t->out + ((size_t)oy * (size_t)t->ow + (size_t)ox) * c;
			const size_t q0 = ((size_t)oy * (size_t)t->ow + (size_t)ox) * c;
			if (t->argmax && c % ARGMAX_CODES_PER_BYTE == 0) { /* whole argmax bytes: q0 starts one */
				t->kernel->forward(c, r0, r1, o, t->argmax + q0 / ARGMAX_CODES_PER_BYTE);
				continue;
			}
			for (size_t ch = 0; ch < c; ch++) {
				/* Row-major window order; strictly greater wins, so the first maximum is kept. */
				float m = r0[ch];
				unsigned code = 0;
				if (r0[c + ch] > m) { m = r0[c + ch]; code = 1; }
				if (r1[ch] > m) { m = r1[ch]; code = 2; }
				if (r1[c + ch] > m) { m = r1[c + ch]; code = 3; }
				o[ch] = m;
				if (!t->argmax)
					continue; /* targets need no backward */
				const size_t q = q0 + ch;
				uint8_t *byte = &t->argmax[q / ARGMAX_CODES_PER_BYTE];
				const unsigned shift = (unsigned)(q % ARGMAX_CODES_PER_BYTE) * ARGMAX_BITS;
				*byte = (uint8_t)((*byte & ~(3u << shift)) | (code << shift));
			}
		}
}

void nst_maxpool2x2(const struct nst_engine *engine, int h, int w, int c, const float *in, float *out, uint8_t *argmax) {
	struct pool_task t = {.h = h, .w = w, .c = c, .oh = h / POOL, .ow = w / POOL, .in = in, .out = out, .argmax = argmax,
	                      .kernel = nst_argmaxpool_kernel_for(engine->gemm)};
	t.items = pool_items(engine, t.oh, c);
	t.rows_per_item = (t.oh + t.items - 1) / t.items;
	nst_parallel_for(engine, (size_t)t.items, maxpool_worker, &t);
}

static void maxpool_backward_worker(void *context, size_t slot, size_t item) {
	const struct pool_task *t = context;
	const size_t c = (size_t)t->c;
	(void)slot;
	const int y0 = (int)item * t->rows_per_item;
	const int y1 = y0 + t->rows_per_item < t->oh ? y0 + t->rows_per_item : t->oh;
	for (int oy = y0; oy < y1; oy++)
		for (int ox = 0; ox < t->ow; ox++) {
			const float *g = t->in + ((size_t)oy * (size_t)t->ow + (size_t)ox) * c;
			float *d[4];
			d[0] = t->out + ((size_t)(POOL * oy) * (size_t)t->w + (size_t)(POOL * ox)) * c;
			d[1] = d[0] + c;
			d[2] = d[0] + (size_t)t->w * c;
			d[3] = d[2] + c;
			const size_t q0 = ((size_t)oy * (size_t)t->ow + (size_t)ox) * c;
			if (c % ARGMAX_CODES_PER_BYTE == 0) { /* whole argmax bytes: q0 starts one */
				t->kernel->backward(c, g, t->argmax_in + q0 / ARGMAX_CODES_PER_BYTE, d[0], d[2]);
				continue;
			}
			for (size_t ch = 0; ch < c; ch++) {
				const size_t q = q0 + ch;
				const unsigned code = (t->argmax_in[q / ARGMAX_CODES_PER_BYTE] >>
				                       ((unsigned)(q % ARGMAX_CODES_PER_BYTE) * ARGMAX_BITS)) & 3u;
				d[0][ch] = d[1][ch] = d[2][ch] = d[3][ch] = 0.0f;
				d[code][ch] = g[ch];
			}
		}
	if (!t->mask || y0 >= y1)
		return;
	/* This item's input rows 2 y0 .. 2 y1 (the last item's up to h: a dropped odd row), with the
	 * dropped odd column zeroed first (as zero_pool_remainder does), then masked. */
	const size_t row = (size_t)t->w * c;
	const int r1 = y1 == t->oh ? t->h : POOL * y1;
	for (int y = POOL * y0; y < r1; y++) {
		if (y >= POOL * t->oh)
			memset(t->out + (size_t)y * row, 0, row * sizeof(float));
		else if (t->w % POOL)
			memset(t->out + (size_t)y * row + (size_t)(t->w - 1) * c, 0, c * sizeof(float));
	}
	mask_range(t->mask_kernel, (size_t)(POOL * y0) * row, (size_t)r1 * row, t->mask, t->addend, t->out);
}

/* Rows and columns that the floor of the pooling dropped get no gradient. */
static void zero_pool_remainder(int h, int w, int c, float *grad_in) {
	const size_t cc = (size_t)c;
	if (w % POOL)
		for (int y = 0; y < h - h % POOL; y++)
			memset(grad_in + ((size_t)y * (size_t)w + (size_t)(w - 1)) * cc, 0, cc * sizeof(float));
	if (h % POOL)
		memset(grad_in + (size_t)(h - 1) * (size_t)w * cc, 0, (size_t)w * cc * sizeof(float));
}

void nst_maxpool2x2_backward(const struct nst_engine *engine, int h, int w, int c, const float *grad_out,
                             const uint8_t *argmax, float *grad_in) {
	struct pool_task t = {.h = h, .w = w, .c = c, .oh = h / POOL, .ow = w / POOL, .in = grad_out, .out = grad_in,
	                      .argmax_in = argmax, .kernel = nst_argmaxpool_kernel_for(engine->gemm)};
	t.items = pool_items(engine, t.oh, c);
	t.rows_per_item = (t.oh + t.items - 1) / t.items;
	nst_parallel_for(engine, (size_t)t.items, maxpool_backward_worker, &t);
	zero_pool_remainder(h, w, c, grad_in);
}

void nst_maxpool2x2_backward_masked(const struct nst_engine *engine, int h, int w, int c, const float *grad_out,
                                    const uint8_t *argmax, const uint8_t *mask, const float *addend, float *grad_in) {
	if (h < POOL || w < POOL) { /* no window: nothing for the slots to split */
		nst_maxpool2x2_backward(engine, h, w, c, grad_out, argmax, grad_in);
		nst_mask_apply(engine, (size_t)h * (size_t)w * (size_t)c, mask, addend, grad_in);
		return;
	}
	struct pool_task t = {.h = h, .w = w, .c = c, .oh = h / POOL, .ow = w / POOL, .in = grad_out, .out = grad_in,
	                      .argmax_in = argmax, .mask = mask, .addend = addend,
	                      .mask_kernel = nst_mask_kernel_for(engine->gemm), .kernel = nst_argmaxpool_kernel_for(engine->gemm)};
	t.items = pool_items(engine, t.oh, c);
	t.rows_per_item = (t.oh + t.items - 1) / t.items;
	nst_parallel_for(engine, (size_t)t.items, maxpool_backward_worker, &t);
}

void nst_avgpool2x2(const struct nst_engine *engine, int h, int w, int c, const float *in, float *out) {
	(void)engine;
	const size_t cc = (size_t)c;
	const int oh = h / POOL, ow = w / POOL;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++) {
			const float *r0 = in + ((size_t)(POOL * oy) * (size_t)w + (size_t)(POOL * ox)) * cc;
			const float *r1 = r0 + (size_t)w * cc;
			float *o = out + ((size_t)oy * (size_t)ow + (size_t)ox) * cc;
			for (size_t ch = 0; ch < cc; ch++)
				o[ch] = (r0[ch] + r0[cc + ch] + r1[ch] + r1[cc + ch]) * 0.25f;
		}
}

void nst_avgpool2x2_backward(const struct nst_engine *engine, int h, int w, int c, const float *grad_out, float *grad_in) {
	(void)engine;
	const size_t cc = (size_t)c;
	const int oh = h / POOL, ow = w / POOL;
	for (int oy = 0; oy < oh; oy++)
		for (int ox = 0; ox < ow; ox++) {
			const float *g = grad_out + ((size_t)oy * (size_t)ow + (size_t)ox) * cc;
			float *d0 = grad_in + ((size_t)(POOL * oy) * (size_t)w + (size_t)(POOL * ox)) * cc;
			float *d2 = d0 + (size_t)w * cc;
			for (size_t ch = 0; ch < cc; ch++) {
				const float v = g[ch] * 0.25f;
				d0[ch] = d0[cc + ch] = d2[ch] = d2[cc + ch] = v;
			}
		}
	zero_pool_remainder(h, w, c, grad_in);
}

/* Below this many mask bytes per item (128 Ki values, some 35 us on the AVX2 machine) one item is
 * cheaper than waking the pool: regions of the distilled network's 2 and 5 items of 4 KiB took 48
 * and 61 us where one thread takes 24 and 52 (timers around each region, 2 threads, 256 px). */
#define MASK_BYTES_PER_ITEM_MIN 16384

struct mask_task {
	size_t n, bytes_per_item;
	const uint8_t *mask;   /* [n] bits */
	const float *addend;   /* [n] or NULL */
	float *inout;          /* [n] */
	const struct nst_mask_kernel *kernel;
};

static void mask_worker(void *context, size_t slot, size_t item) {
	const struct mask_task *t = context;
	(void)slot;
	const size_t i0 = item * t->bytes_per_item * MASK_BITS, i1 = i0 + t->bytes_per_item * MASK_BITS;
	if (i0 < t->n)
		mask_range(t->kernel, i0, i1 < t->n ? i1 : t->n, t->mask, t->addend, t->inout);
}

void nst_mask_apply(const struct nst_engine *engine, size_t n, const uint8_t *mask, const float *addend, float *inout) {
	const size_t nbytes = (n + MASK_BITS - 1) / MASK_BITS;
	const size_t items = nst_parallel_items(engine, nbytes / MASK_BYTES_PER_ITEM_MIN);
	struct mask_task t = {n, (nbytes + items - 1) / items, mask, addend, inout, nst_mask_kernel_for(engine->gemm)};
	nst_parallel_for(engine, items, mask_worker, &t);
}

void nst_mask_from_positive(const struct nst_engine *engine, size_t n, const float *values, uint8_t *mask) {
	const size_t whole = n / MASK_BITS;
	nst_mask_kernel_for(engine->gemm)->pack(whole, values, mask);
	if (whole * MASK_BITS < n) { /* the last, partial byte */
		unsigned bits = 0;
		for (size_t b = 0; whole * MASK_BITS + b < n; b++)
			bits |= (unsigned)(values[whole * MASK_BITS + b] > 0.0f) << b;
		mask[whole] = (uint8_t)bits;
	}
}

/* ---------------------------------------------------------------------------------------------
 * Gram matrix: a symmetric rank-k update on the configuration's Gram-tile kernel, which reads both
 * operands from the same rows of features (neither transposed nor packed).  The pixels are split
 * into equal runs, one per part (one per slot: an item each); a part puts each chunk of its run
 * into its own scratch (a streamed tap's features are made there, others copied) and adds its
 * products, the tiles on or right of the diagonal only, into its own [c][c] sums; the parts are
 * then added up in order, scaled and mirrored, in bands of rows.
 * ------------------------------------------------------------------------------------------- */

/* Pixels per chunk: each tile of a row block reads the chunk's rows of its own channels and of the
 * block's, which then stay in L1 (measured on the AVX2 kernel: 64 .. 112 alike, 192 slower). */
#define GRAM_CHUNK_PIXELS 96
/* A part's copy of a chunk has rows of whole NR panels and one cache line more: rows a power of
 * two apart would fall into a few sets of the L1 cache and evict each other. */
#define GRAM_SKEW_FLOATS 16

static size_t gram_stride(size_t c, size_t nr) { return (c + nr - 1) / nr * nr + GRAM_SKEW_FLOATS; }

size_t nst_gram_scratch_floats(const struct nst_gemm_kernel *gemm, int c) {
	const size_t cc = (size_t)c;
	return cc * cc                                                          /* a part's sums [c][c] */
	       + GRAM_CHUNK_PIXELS * gram_stride(cc, nst_gram_kernel_for(gemm)->nr); /* a chunk's F [k][ld] */
}

/* Rows of the upper triangle summed, scaled and mirrored per band: each column written gets whole
 * cache lines. */
#define MIRROR_ROWS 16
/* Below this many Gram entries the parts are added up on the calling thread (timers around each
 * region, 2 threads: 128 channels took 30 us in parallel, 27 on one thread; 256, 62 against 92). */
#define GRAM_FINISH_PARALLEL_MIN (256u * 256u)

struct gram_task {
	const struct nst_engine *engine;
	size_t n;
	int c, parts; /* part q takes pixels [q n / parts, (q + 1) n / parts), in chunks */
	const float *f;   /* [n][c] (nst_gram) */
	float *gram;      /* [c][c] */
	/* nst_tap_gram: f is first made, chunk by chunk, as ReLU(in W + b) (in [n][cs], the tap's
	 * packed forward weights tap_packed) into tap_f, or into the part's scratch when tap_f is NULL. */
	const float *tap_in, *tap_packed;
	float *tap_f;
	int cs;
};

/* Rows of a tap's features: out [rows][ct] = ReLU(in [rows][cs] x W + b), on the kernel
 * nst_conv_pack_forward packed the tap for (the GEMM kernel for ct columns, or the small-N dot
 * kernel), called as nst_conv2d's 1x1 path calls it, so the values are the same. */
static void tap_rows(const struct nst_gemm_kernel *gemm, size_t rows, size_t cs, const float *in, const float *packed,
                     size_t ct, float *out, size_t out_stride) {
	const struct nst_f32_minmax_params relu = {0.0f, INFINITY};
	const struct nst_conv_shape shape = {1, 1, 1, 0, false, (int)cs, (int)ct};
	const struct nst_gemm_kernel *g = nst_gemm_kernel_for_columns(gemm, ct);
	if (nst_conv_small_n(g, &shape)) { /* packed as [ct] biases + [ct][cs] */
		const struct nst_dot_kernel *dot = nst_dot_kernel_for(g);
		for (size_t i = 0; i < rows; i += dot->mr) {
			const size_t mr = rows - i < dot->mr ? rows - i : dot->mr;
			dot->fn(mr, ct, cs, 1, in + i * cs, cs, cs, packed, out + i * out_stride, out_stride, &relu);
		}
		return;
	}
	const size_t panel_floats = nst_gemm_kernel_panel_floats(g, cs);
	for (size_t n0 = 0, panel = 0; n0 < ct; n0 += g->nr, panel++) {
		const size_t nc = ct - n0 < g->nr ? ct - n0 : g->nr;
		for (size_t i = 0; i < rows; i += g->mr) {
			const size_t mr = rows - i < g->mr ? rows - i : g->mr;
			g->fn(mr, nc, cs, in + i * cs, cs, packed + panel * panel_floats, out + i * out_stride + n0, out_stride, &relu);
		}
	}
}

static void gram_worker(void *context, size_t slot, size_t item) {
	const struct gram_task *t = context;
	const struct nst_gram_kernel *gk = nst_gram_kernel_for(t->engine->gemm);
	const size_t c = (size_t)t->c, nr = gk->nr, ld = gram_stride(c, nr);
	(void)slot;
	float *scratch = t->engine->scratch + item * t->engine->scratch_floats; /* part item's: it outlives the item */
	float *acc = scratch;      /* [c][c]: each tile row from its block's diagonal panel on */
	float *own = acc + c * c;  /* [chunk][ld]: the chunk's F, then zeros (read by a ragged panel) */
	for (size_t i0 = 0; i0 < c; i0 += gk->mr)
		for (size_t i = i0; i < i0 + gk->mr && i < c; i++)
			memset(acc + i * c + i0 / nr * nr, 0, (c - i0 / nr * nr) * sizeof(float));
	for (size_t p = 0; p < GRAM_CHUNK_PIXELS; p++)
		memset(own + p * ld + c, 0, (ld - c) * sizeof(float));
	const size_t end = t->n * (item + 1) / (size_t)t->parts;
	for (size_t p0 = t->n * item / (size_t)t->parts; p0 < end; p0 += GRAM_CHUNK_PIXELS) {
		const size_t k = end - p0 < GRAM_CHUNK_PIXELS ? end - p0 : GRAM_CHUNK_PIXELS;
		if (t->tap_in && !t->tap_f) { /* made here, where the tiles read it */
			tap_rows(t->engine->gemm, k, (size_t)t->cs, t->tap_in + p0 * (size_t)t->cs, t->tap_packed, c, own, ld);
		} else {
			const float *f = t->f ? t->f + p0 * c : t->tap_f + p0 * c; /* [k][c] */
			if (t->tap_in)
				tap_rows(t->engine->gemm, k, (size_t)t->cs, t->tap_in + p0 * (size_t)t->cs, t->tap_packed, c,
				         t->tap_f + p0 * c, c);
			for (size_t p = 0; p < k; p++)
				memcpy(own + p * ld, f + p * c, c * sizeof(float));
		}
		for (size_t i0 = 0; i0 < c; i0 += gk->mr) {
			const size_t mr = c - i0 < gk->mr ? c - i0 : gk->mr;
			const size_t first = i0 / nr * nr; /* panels left of the diagonal are not needed */
			gk->fn(mr, c - first, k, own + i0, ld, own + first, ld, acc + i0 * c + first, c);
		}
	}
}

struct gram_finish_task {
	const struct nst_engine *engine;
	size_t c;
	int parts;
	float scale;
	float *gram; /* [c][c] */
};

/* Rows [band * MIRROR_ROWS, ...) of the Gram: the parts' upper triangles added up in part order,
 * scaled, then mirrored into the columns below (rows of other bands there: only their columns
 * left of their own diagonal, which no other band writes). */
static void gram_finish_band(void *context, size_t slot, size_t band) {
	const struct gram_finish_task *t = context;
	const size_t cc = t->c, i0 = band * MIRROR_ROWS, i1 = i0 + MIRROR_ROWS < cc ? i0 + MIRROR_ROWS : cc;
	const float *scratch = t->engine->scratch;
	const size_t stride = t->engine->scratch_floats;
	(void)slot;
	for (size_t i = i0; i < i1; i++) {
		float *row = t->gram + i * cc;
		memcpy(row + i, scratch + i * cc + i, (cc - i) * sizeof(float));
		for (int part = 1; part < t->parts; part++)
			nst_floats_add(cc - i, scratch + (size_t)part * stride + i * cc + i, row + i);
		for (size_t j = i; j < cc; j++)
			row[j] *= t->scale;
	}
	for (size_t j = i0; j < cc; j++)
		for (size_t i = i0; i < i1 && i < j; i++)
			t->gram[j * cc + i] = t->gram[i * cc + j];
}

static void gram_run(struct gram_task t) {
	const struct nst_engine *engine = t.engine;
	const size_t n = t.n, cc = (size_t)t.c;
	/* each part's sums in its own scratch */
	t.parts = (int)nst_parallel_slots(engine, (n + GRAM_CHUNK_PIXELS - 1) / GRAM_CHUNK_PIXELS);
	assert(nst_gram_scratch_floats(engine->gemm, t.c) <= engine->scratch_floats);
	nst_parallel_for(engine, (size_t)t.parts, gram_worker, &t);
	struct gram_finish_task f = {engine, cc, t.parts, (float)(1.0 / ((double)n * (double)t.c)), t.gram};
	const size_t bands = (cc + MIRROR_ROWS - 1) / MIRROR_ROWS;
	if (cc * cc >= GRAM_FINISH_PARALLEL_MIN)
		nst_parallel_for(engine, bands, gram_finish_band, &f);
	else
		for (size_t band = 0; band < bands; band++)
			gram_finish_band(&f, 0, band);
}

void nst_gram(const struct nst_engine *engine, size_t n, int c, const float *f, float *gram) {
	gram_run((struct gram_task){.engine = engine, .n = n, .c = c, .f = f, .gram = gram});
}

void nst_tap_gram(const struct nst_engine *engine, const struct nst_tap *tap, size_t n, const float *in, float *f,
                  float *gram) {
	gram_run((struct gram_task){.engine = engine, .n = n, .c = tap->ct, .gram = gram, .tap_in = in,
	                            .tap_packed = tap->forward, .tap_f = f, .cs = tap->cs});
}

struct difference_task {
	const float *a, *b; /* [n] */
	float scale;
	float *m;           /* [n] scale (a - b), if not NULL */
	bool accumulate;    /* m += instead of m = */
	/* or a style matrix M = scale (a - b) of a, b [c][c], written straight into panels of nr columns
	 * (nst_gemm_pack's layout: nr biases, then c rows of nr), if not NULL */
	float *m_packed;
	size_t c, nr;
};

/* m_packed's entries for [i0, i1) of the [c][c] difference: each run of a row within a panel goes
 * to that panel's row. */
static void pack_difference(const struct difference_task *t, size_t i0, size_t i1) {
	const size_t c = t->c, nr = t->nr, panel_floats = nr * (c + 1);
	for (size_t i = i0; i < i1;) {
		const size_t k = i / c, j = i % c, panel = j / nr;
		size_t end = k * c + (panel + 1) * nr; /* the panel's last column in row k, or the row's end */
		end = end < (k + 1) * c ? end : (k + 1) * c;
		end = end < i1 ? end : i1;
		float *dst = t->m_packed + panel * panel_floats + nr + k * nr + (j - panel * nr); /* [nr] of row k */
		for (size_t x = i; x < end; x++)
			dst[x - i] = t->scale * (t->a[x] - t->b[x]);
		i = end;
	}
}

/* sums[0] += |a - b|^2 over [i0, i1); m gets (or, accumulating, adds) scale (a - b). */
static void difference_part(void *context, size_t i0, size_t i1, double *sums) {
	const struct difference_task *t = context;
	sums[0] += nst_squared_distance_range(i0, i1, t->a, t->b);
	if (t->m_packed) {
		pack_difference(t, i0, i1);
		return;
	}
	if (!t->m)
		return;
	if (t->accumulate)
		for (size_t i = i0; i < i1; i++)
			t->m[i] += t->scale * (t->a[i] - t->b[i]);
	else
		for (size_t i = i0; i < i1; i++)
			t->m[i] = t->scale * (t->a[i] - t->b[i]);
}

size_t nst_style_m_floats(const struct nst_engine *engine, int c) {
	return nst_gemm_packed_floats((size_t)c, (size_t)c, engine->gemm->nr);
}

double nst_style_loss(const struct nst_engine *engine, int c, size_t n, const float *gram, const float *target,
                      float weight, float *m_packed) {
	const size_t cc = (size_t)c * (size_t)c;
	/* L = weight / c^2 * sum (G - A)^2 with G = F^T F / N, N = n * c:
	 * dL/dF = F (dL/dG + dL/dG^T) / N = F * 4 * weight / (c^2 N) * (G - A). */
	const float scale = (float)(4.0 * (double)weight / ((double)cc * (double)n * (double)c));
	assert(!m_packed || engine);
	struct difference_task t = {.a = gram, .b = target, .scale = scale, .m_packed = m_packed, .c = (size_t)c,
	                            .nr = m_packed ? engine->gemm->nr : 1};
	double sum;
	nst_parallel_sums(engine, cc, difference_part, &t, 1, &sum);
	if (m_packed) { /* the panels' biases, and the last panel's columns past c: zeros */
		const size_t nr = t.nr, panels = (t.c + nr - 1) / nr, last = t.c - (panels - 1) * nr;
		for (size_t panel = 0; panel < panels; panel++)
			memset(m_packed + panel * nr * (t.c + 1), 0, nr * sizeof(float));
		float *rows = m_packed + (panels - 1) * nr * (t.c + 1) + nr; /* [c][nr] */
		for (size_t k = 0; last < nr && k < t.c; k++)
			memset(rows + k * nr + last, 0, (nr - last) * sizeof(float));
	}
	return (double)weight * sum / (double)cc;
}

struct style_grad_task {
	const struct nst_engine *engine;
	size_t n;
	int c;
	const float *f;       /* [n][c] */
	const float *packed;  /* M packed for the GEMM */
	float *grad;          /* [n][c] */
	bool accumulate;
	size_t rows_per_item; /* a multiple of the kernel's MR */
};

static void style_grad_worker(void *context, size_t slot, size_t item) {
	const struct style_grad_task *t = context;
	const struct nst_gemm_kernel *g = t->engine->gemm;
	const struct nst_f32_minmax_params params = {-INFINITY, INFINITY};
	const size_t c = (size_t)t->c, panel_floats = g->nr * (c + 1);
	float *tmp = t->engine->scratch + slot * t->engine->scratch_floats; /* [MR][c] when accumulating */
	const size_t p0 = item * t->rows_per_item;
	const size_t p1 = p0 + t->rows_per_item < t->n ? p0 + t->rows_per_item : t->n;
	for (size_t p = p0; p < p1; p += g->mr) {
		const size_t mr = p1 - p < g->mr ? p1 - p : g->mr;
		float *dst = t->accumulate ? tmp : t->grad + p * c;
		for (size_t n0 = 0, panel = 0; n0 < c; n0 += g->nr, panel++) {
			const size_t nc = c - n0 < g->nr ? c - n0 : g->nr;
			g->fn(mr, nc, c, t->f + p * c, c, t->packed + panel * panel_floats, dst + n0, c, &params);
		}
		if (t->accumulate)
			for (size_t i = 0; i < mr * c; i++)
				t->grad[p * c + i] += tmp[i];
	}
}

void nst_style_grad(const struct nst_engine *engine, size_t n, int c, const float *f, const float *m_packed,
                    float *grad, bool accumulate) {
	struct style_grad_task t = {.engine = engine, .n = n, .c = c, .f = f, .packed = m_packed, .grad = grad,
	                            .accumulate = accumulate};
	if (n == 0)
		return;
	const size_t mr = engine->gemm->mr, row_blocks = (n + mr - 1) / mr, items = nst_parallel_items(engine, row_blocks);
	t.rows_per_item = (row_blocks + items - 1) / items * mr;
	assert(!accumulate || mr * (size_t)c <= engine->scratch_floats);
	nst_parallel_for(engine, (n + t.rows_per_item - 1) / t.rows_per_item, style_grad_worker, &t);
}

/* ---------------------------------------------------------------------------------------------
 * A tap's loss gradient (see nst_tap_grad) in row blocks: per block of pixels, the gradient at the
 * tap's features lives only in the slot's scratch, between the GEMM that makes it and the one that
 * takes it back through the tap's 1x1 convolution.
 * ------------------------------------------------------------------------------------------- */

#define TAP_BLOCK_BYTES (32u * 1024u) /* one block's gradient [rows][ct] stays in L1 / L2 */

static size_t tap_block_rows(const struct nst_gemm_kernel *gemm, int ct) {
	size_t rows = TAP_BLOCK_BYTES / ((size_t)ct * sizeof(float));
	rows -= rows % gemm->mr;
	return rows < gemm->mr ? gemm->mr : rows;
}

size_t nst_tap_grad_scratch_floats(const struct nst_gemm_kernel *gemm, int ct) {
	return 2 * tap_block_rows(gemm, ct) * (size_t)ct; /* the block's gradient, then its F when remade */
}

struct tap_grad_task {
	const struct nst_engine *engine;
	size_t n, rows, n_blocks;
	int ct, cs;
	const float *f;        /* [n][ct] the tap's features (after its ReLU), or NULL: remade from in */
	const float *in;       /* [n][cs] the tap's input */
	const float *f_packed; /* the tap's forward weights, packed */
	const float *m_packed; /* style M packed, or NULL */
	const float *p;        /* [n][ct] content target, or NULL */
	float content_scale;
	const float *w_packed; /* the tap's 1x1 backward convolution, packed (ct -> cs) */
	const struct nst_gemm_kernel *w_gemm; /* its GEMM kernel, as nst_conv_pack_backward packed it */
	const struct nst_dot_kernel *dot; /* its kernel when it runs on the small-N one, else NULL */
	float *out;            /* [n][cs] */
};

static void tap_grad_worker(void *context, size_t slot, size_t item) {
	const struct tap_grad_task *t = context;
	const struct nst_gemm_kernel *g = t->engine->gemm;
	const struct nst_f32_minmax_params params = {-INFINITY, INFINITY};
	const size_t ct = (size_t)t->ct, cs = (size_t)t->cs;
	const struct nst_gemm_kernel *wg = t->w_gemm; /* the kernel nst_conv_pack_backward packed the cs outputs for */
	const size_t m_panel = g->nr * (ct + 1), w_panel = nst_gemm_kernel_panel_floats(wg, ct);
	float *gt = t->engine->scratch + slot * t->engine->scratch_floats; /* [rows][ct] */
	{
		const size_t p0 = item * t->rows, np = t->n - p0 < t->rows ? t->n - p0 : t->rows;
		const float *f; /* [np][ct] */
		if (t->f) {
			f = t->f + p0 * ct;
		} else { /* remade: a 1x1 convolution of cs inputs costs cs / ct of the F M below */
			float *made = gt + t->rows * ct;
			tap_rows(t->engine->gemm, np, cs, t->in + p0 * cs, t->f_packed, ct, made, ct);
			f = made;
		}
		if (t->m_packed) {
			for (size_t i = 0; i < np; i += g->mr) {
				const size_t mr = np - i < g->mr ? np - i : g->mr;
				for (size_t n0 = 0, panel = 0; n0 < ct; n0 += g->nr, panel++) {
					const size_t nc = ct - n0 < g->nr ? ct - n0 : g->nr;
					g->fn(mr, nc, ct, f + i * ct, ct, t->m_packed + panel * m_panel, gt + i * ct + n0, ct, &params);
				}
			}
		} else {
			memset(gt, 0, np * ct * sizeof(float));
		}
		if (t->p) /* as nst_content_loss: += 2 w / count (F - P) */
			for (size_t i = 0; i < np * ct; i++)
				gt[i] += t->content_scale * (f[i] - t->p[p0 * ct + i]);
		nst_floats_relu_grad(np * ct, f, gt);
		float *out = t->out + p0 * cs; /* [np][cs] */
		if (t->dot) { /* few tap inputs: the small-N kernel, weights [cs] biases + [cs][ct] */
			for (size_t i = 0; i < np; i += t->dot->mr) {
				const size_t mr = np - i < t->dot->mr ? np - i : t->dot->mr;
				t->dot->fn(mr, cs, ct, 1, gt + i * ct, ct, ct, t->w_packed, out + i * cs, cs, &params);
			}
			return;
		}
		for (size_t n0 = 0, panel = 0; n0 < cs; n0 += wg->nr, panel++) {
			const size_t nc = cs - n0 < wg->nr ? cs - n0 : wg->nr;
			for (size_t i = 0; i < np; i += wg->mr) {
				const size_t mr = np - i < wg->mr ? np - i : wg->mr;
				wg->fn(mr, nc, ct, gt + i * ct, ct, t->w_packed + panel * w_panel, out + i * cs + n0, cs, &params);
			}
		}
	}
}

void nst_tap_grad(const struct nst_engine *engine, const struct nst_tap *tap, size_t n, const float *in, const float *f,
                  const float *m_packed, const float *p, float content_weight, float *out) {
	const int ct = tap->ct, cs = tap->cs;
	struct tap_grad_task t = {.engine = engine, .n = n, .ct = ct, .cs = cs, .f = f, .in = in, .f_packed = tap->forward,
	                          .m_packed = m_packed, .p = p, .w_packed = tap->backward, .out = out};
	const struct nst_conv_shape back = {1, 1, 1, 0, false, ct, cs}; /* the tap's backward: ct -> cs */
	/* the kernels nst_conv_pack_backward packed the tap's backward for (conv_im2col.c's choice) */
	t.w_gemm = nst_gemm_kernel_for_columns(engine->gemm, (size_t)cs);
	t.dot = nst_conv_small_n(t.w_gemm, &back) ? nst_dot_kernel_for(t.w_gemm) : NULL;
	t.content_scale = (float)(2.0 * (double)content_weight / (double)(n * (size_t)ct));
	t.rows = tap_block_rows(engine->gemm, ct);
	t.n_blocks = (n + t.rows - 1) / t.rows;
	assert(nst_tap_grad_scratch_floats(engine->gemm, ct) <= engine->scratch_floats);
	nst_parallel_for(engine, t.n_blocks, tap_grad_worker, &t);
}

double nst_content_loss(const struct nst_engine *engine, size_t count, const float *f, const float *p,
                        float weight, float *grad, bool accumulate) {
	const float scale = (float)(2.0 * (double)weight / (double)count);
	struct difference_task t = {.a = f, .b = p, .scale = scale, .m = grad, .accumulate = accumulate};
	double sum;
	nst_parallel_sums(engine, count, difference_part, &t, 1, &sum);
	return (double)weight * sum / (double)count;
}

struct tv_task {
	int h, w;
	size_t c, row, n; /* channels, floats per row, floats */
	const float *x;   /* [h][w][c] */
	float two_w;
	float *grad;      /* [h][w][c] or NULL */
	bool accumulate;
};

/* Rows [i0 / row, i1 / row) (the last part to the last row): their squared differences with the
 * next row and column into sums[0] (the row's vertical ones, then its horizontal ones); each
 * gradient entry gathered from the differences that touch it, in the order a raster pass
 * scattering them would add them (the one above, the one to the left, then its own two), a pass
 * over the row for each (loops without branches, which the compiler vectorizes), so that the bits
 * do not depend on the parts. */
static void tv_part(void *context, size_t i0, size_t i1, double *sums) {
	const struct tv_task *t = context;
	const size_t cc = t->c, row = t->row;
	const float two_w = t->two_w;
	const int y1 = i1 == t->n ? t->h : (int)(i1 / row);
	for (int y = (int)(i0 / row); y < y1; y++) {
		const float *x = t->x + (size_t)y * row; /* [w][c] */
		const bool up = y > 0, down = y + 1 < t->h;
		if (down)
			sums[0] += nst_squared_distance_range(0, row, x + row, x);
		sums[0] += nst_squared_distance_range(0, row - cc, x + cc, x);
		if (!t->grad)
			continue;
		float *g = t->grad + (size_t)y * row; /* [w][c] */
		if (!t->accumulate)
			for (size_t j = 0; j < row; j++)
				g[j] = 0.0f;
		if (up) {
			const float *above = x - row;
			for (size_t j = 0; j < row; j++)
				g[j] += two_w * (x[j] - above[j]);
		}
		for (size_t j = cc; j < row; j++)
			g[j] += two_w * (x[j] - x[j - cc]);
		if (down) {
			const float *below = x + row;
			for (size_t j = 0; j < row; j++)
				g[j] -= two_w * (below[j] - x[j]);
		}
		for (size_t j = 0; j + cc < row; j++)
			g[j] -= two_w * (x[j + cc] - x[j]);
	}
}

double nst_tv_loss(const struct nst_engine *engine, int h, int w, int c, const float *x, float weight, float *grad,
                   bool accumulate) {
	const size_t cc = (size_t)c, row = (size_t)w * cc;
	struct tv_task t = {h, w, cc, row, (size_t)h * row, x, 2.0f * weight, grad, accumulate};
	if (t.n == 0)
		return 0.0;
	double sum;
	nst_parallel_sums(engine, t.n, tv_part, &t, 1, &sum);
	return (double)weight * sum;
}

/* ---------------------------------------------------------------------------------------------
 * The same fold and compaction, then the mask, in parallel (nst_reflect_pad_backward_masked).
 * Items are runs of the picture's rows.  In a first region each item folds the padded rows and
 * columns that mirror onto its own rows into them (a row's sums in nst_reflect_pad_backward's
 * order: the top padded row, the bottom one, then the columns left to right), so no item writes
 * what another reads.  The compaction moves every row towards the start, never onto its own
 * source: item i + 1's first rows land on the padded rows of item i's last ones, so item i first
 * copies those (reflect_saved_rows of them) into its scratch; in a second region each item moves
 * its rows (the copied ones from the copy) and masks them.
 * ------------------------------------------------------------------------------------------- */

/* Padded row r's floats start at g + padded_row_start(..., r); picture row y's interior at
 * padded_row_start(y + pad) + pad * c. */
static size_t interior_start(int w, int c, int pad, int y) {
	const size_t pw = (size_t)w + 2 * (size_t)pad;
	return ((size_t)(y + pad) * pw + (size_t)pad) * (size_t)c;
}

/* Rows just above `boundary` whose interior (the compaction's source) the rows from `boundary` on
 * overwrite: those whose interior ends past boundary's compacted start. */
static int reflect_saved_rows(int w, int c, int pad, int boundary) {
	const size_t compact = (size_t)boundary * (size_t)w * (size_t)c;
	int rows = 0;
	while (rows < boundary && interior_start(w, c, pad, boundary - rows - 1) + (size_t)w * (size_t)c > compact)
		rows++;
	return rows;
}

size_t nst_reflect_pad_backward_scratch_floats(int h, int w, int c, int pad) {
	return (size_t)reflect_saved_rows(w, c, pad, h) * (size_t)w * (size_t)c;
}

struct reflect_task {
	int h, w, c, pad, items;
	float *g;
	const uint8_t *mask;  /* [h][w][c] bits, or NULL */
	const float *addend;  /* [h][w][c], or NULL */
	const struct nst_engine *engine;
	const struct nst_mask_kernel *kernel;
};

static int reflect_first_row(const struct reflect_task *t, size_t item) {
	return (int)((size_t)t->h * item / (size_t)t->items);
}

static void reflect_fold_worker(void *context, size_t slot, size_t item) {
	const struct reflect_task *t = context;
	const int h = t->h, w = t->w, pad = t->pad, ph = h + 2 * pad;
	const size_t pw = (size_t)w + 2 * (size_t)pad, cs = (size_t)t->c, row = pw * cs;
	const int y0 = reflect_first_row(t, item), y1 = reflect_first_row(t, item + 1);
	float *g = t->g;
	(void)slot;
	for (int y = y0 + pad; y < y1 + pad; y++) { /* padded rows */
		float *dst = g + (size_t)y * row;
		const int top = 2 * pad - y, bottom = 2 * h + 2 * pad - 2 - y; /* the padded rows mirrored here */
		if (top >= 0 && top < pad)
			nst_floats_add(row, g + (size_t)top * row, dst);
		if (bottom >= h + pad && bottom < ph)
			nst_floats_add(row, g + (size_t)bottom * row, dst);
		for (int x = 0; x < pad; x++)
			nst_floats_add(cs, dst + (size_t)x * cs, dst + (size_t)(2 * pad - x) * cs);
		for (int x = w + pad; x < w + 2 * pad; x++)
			nst_floats_add(cs, dst + (size_t)x * cs, dst + (size_t)(2 * w + 2 * pad - 2 - x) * cs);
	}
	if ((int)item + 1 < t->items) { /* the rows the next items' compaction overwrites */
		const size_t n = (size_t)w * cs;
		float *saved = nst_engine_scratch(t->engine, item);
		const int first = y1 - reflect_saved_rows(w, t->c, pad, y1);
		for (int y = first; y < y1; y++)
			memcpy(saved + (size_t)(y - first) * n, g + interior_start(w, t->c, pad, y), n * sizeof(float));
	}
}

static void reflect_compact_worker(void *context, size_t slot, size_t item) {
	const struct reflect_task *t = context;
	const int w = t->w, pad = t->pad;
	const size_t n = (size_t)w * (size_t)t->c;
	const int y0 = reflect_first_row(t, item), y1 = reflect_first_row(t, item + 1);
	const int first_saved = (int)item + 1 < t->items ? y1 - reflect_saved_rows(w, t->c, pad, y1) : y1;
	const float *saved = nst_engine_scratch(t->engine, item);
	float *g = t->g;
	(void)slot;
	for (int y = y0; y < y1; y++) {
		const float *src = y >= first_saved ? saved + (size_t)(y - first_saved) * n : g + interior_start(w, t->c, pad, y);
		memmove(g + (size_t)y * n, src, n * sizeof(float));
	}
	const size_t i0 = (size_t)y0 * n, i1 = (size_t)y1 * n;
	if (t->mask)
		mask_range(t->kernel, i0, i1, t->mask, t->addend, g);
	else if (t->addend)
		nst_floats_add(i1 - i0, t->addend + i0, g + i0);
}

void nst_reflect_pad_backward_masked(const struct nst_engine *engine, int h, int w, int c, int pad, float *g,
                                     const uint8_t *mask, const float *addend) {
	struct reflect_task t = {h, w, c, pad, 1, g, mask, addend, engine, nst_mask_kernel_for(engine->gemm)};
	/* items: each at least as many rows as it may have to copy, its copy within its scratch */
	const size_t values = (size_t)h * (size_t)w * (size_t)c;
	size_t items = nst_parallel_slots(engine, values / (MASK_BYTES_PER_ITEM_MIN * MASK_BITS));
	const int most_saved = reflect_saved_rows(w, c, pad, h);
	while (items > 1 && ((size_t)h / items < (size_t)most_saved + 1 ||
	                     (size_t)most_saved * (size_t)w * (size_t)c > engine->scratch_floats))
		items--;
	t.items = (int)items;
	nst_parallel_for(engine, items, reflect_fold_worker, &t);
	nst_parallel_for(engine, items, reflect_compact_worker, &t);
}

void nst_reflect_pad_backward(int h, int w, int c, int pad, float *g) {
	const size_t pw = (size_t)w + 2 * (size_t)pad, cs = (size_t)c;
	const int ph = h + 2 * pad;
#define AT(y, x) (g + ((size_t)(y) * pw + (size_t)(x)) * cs)
	/* Padded row r < pad mirrors picture row pad - r, padded row 2 pad - r; row r >= h + pad mirrors
	 * picture row 2 (h - 1) - (r - pad), padded row 2 h + 2 pad - 2 - r.  Rows first (whole padded rows,
	 * corners included), then columns within the picture's rows: a corner reaches its pixel in two steps. */
	for (int r = 0; r < pad; r++) {
		float *src = AT(r, 0), *dst = AT(2 * pad - r, 0);
		for (size_t i = 0; i < pw * cs; i++)
			dst[i] += src[i];
	}
	for (int r = h + pad; r < ph; r++) {
		float *src = AT(r, 0), *dst = AT(2 * h + 2 * pad - 2 - r, 0);
		for (size_t i = 0; i < pw * cs; i++)
			dst[i] += src[i];
	}
	for (int y = pad; y < h + pad; y++) {
		for (int x = 0; x < pad; x++) {
			float *src = AT(y, x), *dst = AT(y, 2 * pad - x);
			for (size_t k = 0; k < cs; k++)
				dst[k] += src[k];
		}
		for (int x = w + pad; x < w + 2 * pad; x++) {
			float *src = AT(y, x), *dst = AT(y, 2 * w + 2 * pad - 2 - x);
			for (size_t k = 0; k < cs; k++)
				dst[k] += src[k];
		}
	}
	/* Compacted to [h][w][c] at the start: each row moves down (towards the start) only. */
	for (int y = 0; y < h; y++)
		memmove(g + (size_t)y * (size_t)w * cs, AT(y + pad, pad), (size_t)w * cs * sizeof(float));
#undef AT
}
