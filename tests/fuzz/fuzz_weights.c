/* libFuzzer harness for the weights loader (src/weights.c): the input is a .nstw file's bytes.
 *
 * nst_weights_open takes a path and maps the file, so the bytes are written to a file in a
 * per-process scratch directory; where the library has the internal nst_weights_open_memory
 * (fuzz.mk then defines NST_FUZZ_WEIGHTS_MEMORY) the bytes are validated in place instead, which
 * is faster and covers the same checks.  Each input is opened twice:
 *   - as it is (the checksum check included: a mutated file almost always stops there), and
 *   - with its checksum field set to the CRC-32 of its contents, so that mutations of the layer
 *     table and the payload get past the checksum to the layer checks, the layer reads and the
 *     planners.
 * After a successful open every layer is read (nst_weights_read_kernel / _read_vector into
 * buffers of exactly the size the layer's shape says, so ASan sees any overrun), and the network
 * is planned and, when its plan is small, built and evaluated once on a tiny picture: the
 * optimization engine (nst_plan, nst_session_*) for VGG files, the feed-forward engine
 * (nst_fast_*) for transformer files.
 *
 * Contract checks (an abort, i.e. a crash to libFuzzer): a failure status the loader cannot
 * return, an empty or unterminated diag, a file accepted whose checksum is wrong, a file refused
 * for its checksum whose fixed twin is refused too, accessors disagreeing with the file.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nst.h"
#include "internal.h"
#include "fuzz_common.h"

/* Inputs longer than this are skipped (libFuzzer's -max_len keeps them shorter anyway). */
#define FUZZ_MAX_WEIGHTS_BYTES ((size_t)1 << 20)
/* Sessions whose plan exceeds these are planned but not built: the real VGG19 block 1 of the
 * seeds (20 MFLOP a pass at 17x16) would cost a fifth of a second an input. */
#define FUZZ_MAX_ARENA_BYTES ((size_t)64 << 20)
#define FUZZ_MAX_FLOPS 4e6
/* The pictures of the test run: not multiples of 4, and big enough for five poolings. */
#define FUZZ_CONTENT_W 17
#define FUZZ_CONTENT_H 16
#define FUZZ_STYLE_W 16
#define FUZZ_STYLE_H 19

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t get_le32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The checksum weights/FORMAT.md defines: CRC-32 of the file with the checksum field read as 0. */
static uint32_t nstw_crc(const uint8_t *bytes, size_t size) {
	const uint8_t zero[4] = {0};
	uint32_t crc = nst_crc32(0, bytes, NSTW_CHECKSUM_OFFSET);
	crc = nst_crc32(crc, zero, sizeof zero);
	return nst_crc32(crc, bytes + NSTW_CHECKSUM_OFFSET + 4, size - NSTW_CHECKSUM_OFFSET - 4);
}

/* Pixels for the test run, made from the input so that they vary. */
static uint8_t *make_pixels(int w, int h, const uint8_t *data, size_t size, size_t salt) {
	const size_t n = (size_t)w * (size_t)h * 3;
	uint8_t *rgb = malloc(n); // [h][w][3]
	if (!rgb) fuzz_die("out of memory");
	for (size_t i = 0; i < n; i++) rgb[i] = (uint8_t)(data[(i + salt) % size] ^ (uint8_t)(i * 37u));
	return rgb;
}

static void *arena_alloc(size_t bytes) {
	const size_t rounded = (bytes + NST_ARENA_ALIGNMENT - 1) / NST_ARENA_ALIGNMENT * NST_ARENA_ALIGNMENT;
	void *arena = aligned_alloc(NST_ARENA_ALIGNMENT, rounded ? rounded : NST_ARENA_ALIGNMENT);
	if (!arena) fuzz_die("out of memory for a %zu-byte arena", bytes);
	return arena;
}

/* A VGG network: plan it with its first layer as the style layer and its last as the content
 * layer; if the plan is small, build the session, evaluate once and take one optimizer step. */
static void run_vgg(const struct nst_weights *w, const uint8_t *data, size_t size) {
	const int n = nst_weights_layer_count(w);
	struct nst_layer_info first, last;
	if (nst_weights_layer(w, 0, &first) != NST_OK || nst_weights_layer(w, n - 1, &last) != NST_OK)
		fuzz_die("nst_weights_layer refused an index in range");
	struct nst_options o;
	nst_options_default(&o);
	/* The loader guarantees "convB_I" names for VGG: the losses are on "reluB_I". */
	snprintf(o.style_layers[0], sizeof o.style_layers[0], "relu%s", first.name + 4);
	snprintf(o.content_layers[0], sizeof o.content_layers[0], "relu%s", last.name + 4);
	o.n_style_layers = 1;
	o.n_content_layers = 1;
	/* The file's checksum (a hash of its contents) picks the variants, so that the corpus covers
	 * them all. */
	const uint32_t pick = nst_weights_checksum(w);
	o.optimizer = (pick & 2) ? NST_OPTIMIZER_LBFGS : NST_OPTIMIZER_ADAM;
	o.pooling = (pick & 4) ? NST_POOLING_AVG : NST_POOLING_MAX;
	o.original_colors = (pick & 8) != 0;
	o.init = (pick & 16) ? NST_INIT_RANDOM : NST_INIT_CONTENT;
	o.seed = pick;
	o.threads = 1;
	o.backend = (pick & 1) ? NST_BACKEND_SCALAR : NST_BACKEND_AUTO;
	struct nst_problem p = {FUZZ_CONTENT_W, FUZZ_CONTENT_H, 1, {FUZZ_STYLE_W}, {FUZZ_STYLE_H}};
	struct nst_plan plan;
	struct nst_diag diag = {{0}};
	enum nst_status st = nst_plan(w, &o, &p, &plan, &diag);
	if (st != NST_OK) {
		/* Layer names are checked by the loader; a layer too deep for the picture or a stack
		 * longer than the engine's is refused here. */
		if (st != NST_ERR_INVALID_ARGUMENT && st != NST_ERR_WEIGHTS_FORMAT && st != NST_ERR_OUT_OF_MEMORY &&
		    st != NST_ERR_UNKNOWN_LAYER && st != NST_ERR_LAYER_NOT_IN_WEIGHTS)
			fuzz_die("nst_plan returned %s: %s", nst_status_string(st), diag.message);
		fuzz_check_diag(&diag, st);
		return;
	}
	if (plan.total_bytes == 0) fuzz_die("nst_plan: a zero-byte plan");
	if (plan.total_bytes > FUZZ_MAX_ARENA_BYTES || plan.forward_flops + plan.backward_flops > FUZZ_MAX_FLOPS) return;

	void *arena = arena_alloc(plan.total_bytes);
	struct nst_session *s = NULL;
	st = nst_session_init(arena, plan.total_bytes, w, &o, &p, &s, &diag);
	if (st != NST_OK) fuzz_die("nst_session_init after a plan of %zu bytes: %s: %s", plan.total_bytes,
	                           nst_status_string(st), diag.message);
	uint8_t *content = make_pixels(FUZZ_CONTENT_W, FUZZ_CONTENT_H, data, size, 1);
	uint8_t *style = make_pixels(FUZZ_STYLE_W, FUZZ_STYLE_H, data, size, 2);
	if (nst_session_set_content(s, content) != NST_OK || nst_session_set_style(s, 0, style, 1.0f) != NST_OK ||
	    nst_session_prepare(s) != NST_OK)
		fuzz_die("setting up a planned session failed");
	const size_t n_x = (size_t)FUZZ_CONTENT_W * FUZZ_CONTENT_H * 3;
	float *grad = malloc(n_x * sizeof *grad); // [H][W][3]
	if (!grad) fuzz_die("out of memory");
	struct nst_losses losses;
	if (nst_session_evaluate(s, &losses, grad) != NST_OK) fuzz_die("nst_session_evaluate failed");
	st = nst_session_run(s, 1, NULL, NULL);
	if (st != NST_OK && st != NST_ERR_NUMERIC) /* random weights may well overflow */
		fuzz_die("nst_session_run: %s", nst_status_string(st));
	uint8_t *out = malloc(n_x);
	if (!out) fuzz_die("out of memory");
	if (nst_session_image(s, out) != NST_OK) fuzz_die("nst_session_image failed");
	free(out);
	free(grad);
	free(style);
	free(content);
	nst_session_release(s);
	free(arena);
}

/* A feed-forward network: plan it for a small picture; if that works, stylize the planned
 * picture and a smaller one whose sides are not multiples of 4. */
static void run_fast(const struct nst_weights *w, const uint8_t *data, size_t size) {
	struct nst_fast_plan plan;
	struct nst_diag diag = {{0}};
	const enum nst_backend backend = (nst_weights_checksum(w) & 1) ? NST_BACKEND_SCALAR : NST_BACKEND_AUTO;
	enum nst_status st = nst_fast_plan(w, FUZZ_CONTENT_W, FUZZ_CONTENT_H, 1, backend, NST_PRECISION_FP32, &plan, &diag);
	if (st != NST_OK) {
		if (st != NST_ERR_WEIGHTS_FORMAT && st != NST_ERR_INVALID_ARGUMENT && st != NST_ERR_OUT_OF_MEMORY &&
		    st != NST_ERR_UNSUPPORTED)
			fuzz_die("nst_fast_plan returned %s: %s", nst_status_string(st), diag.message);
		fuzz_check_diag(&diag, st);
		return;
	}
	if (plan.total_bytes == 0) fuzz_die("nst_fast_plan: a zero-byte plan");
	if (plan.total_bytes > FUZZ_MAX_ARENA_BYTES || plan.flops > FUZZ_MAX_FLOPS) return;
	void *arena = arena_alloc(plan.total_bytes);
	struct nst_fast_session *s = NULL;
	st = nst_fast_init(arena, plan.total_bytes, w, FUZZ_CONTENT_W, FUZZ_CONTENT_H, 1, backend, NST_PRECISION_FP32, &s, &diag);
	if (st != NST_OK) fuzz_die("nst_fast_init after a plan of %zu bytes: %s: %s", plan.total_bytes,
	                           nst_status_string(st), diag.message);
	uint8_t *in = make_pixels(FUZZ_CONTENT_W, FUZZ_CONTENT_H, data, size, 3);
	uint8_t *out = malloc((size_t)FUZZ_CONTENT_W * FUZZ_CONTENT_H * 3);
	if (!out) fuzz_die("out of memory");
	if ((st = nst_fast_run(s, FUZZ_CONTENT_W, FUZZ_CONTENT_H, in, out, 1.0f)) != NST_OK)
		fuzz_die("nst_fast_run at the planned size: %s", nst_status_string(st));
	if ((st = nst_fast_run(s, 5, 3, in, out, 0.5f)) != NST_OK)
		fuzz_die("nst_fast_run at 5x3: %s", nst_status_string(st));
	free(out);
	free(in);
	nst_fast_release(s);
	free(arena);
}

/* Everything the API says about an opened file, checked against the bytes; then every layer read. */
static void exercise(const struct nst_weights *w, const uint8_t *bytes, size_t size) {
	if (nst_weights_file_bytes(w) != size) fuzz_die("file_bytes %llu for a %zu-byte file",
	                                                (unsigned long long)nst_weights_file_bytes(w), size);
	if (nst_weights_version(w) != NSTW_VERSION && nst_weights_version(w) != NSTW_VERSION_1) fuzz_die("version %u accepted", nst_weights_version(w));
	if (nst_weights_checksum(w) != nstw_crc(bytes, size)) fuzz_die("a file with a wrong checksum was accepted");
	const enum nst_arch arch = nst_weights_arch(w);
	if (arch != NST_ARCH_VGG && arch != NST_ARCH_TRANSFORMER) fuzz_die("arch %d accepted", (int)arch);
	const enum nst_dtype dtype = nst_weights_dtype(w);
	if (dtype != NST_DTYPE_F32 && dtype != NST_DTYPE_F16) fuzz_die("dtype %d accepted", (int)dtype);
	if (!memchr(nst_weights_model(w), '\0', 32)) fuzz_die("model name not NUL-terminated");
	const int n = nst_weights_layer_count(w);
	if (n < 1 || n > (int)NSTW_MAX_LAYERS) fuzz_die("%d layers accepted", n);
	struct nst_layer_info info;
	if (nst_weights_layer(w, -1, &info) != NST_ERR_INVALID_ARGUMENT ||
	    nst_weights_layer(w, n, &info) != NST_ERR_INVALID_ARGUMENT)
		fuzz_die("nst_weights_layer accepted an index out of range");
	if (nst_weights_find(w, "no such layer") != -1) fuzz_die("found a layer that is not there");

	const size_t elem = dtype == NST_DTYPE_F16 ? 2 : 4;
	uint64_t data_bytes = 0;
	for (int i = 0; i < n; i++) {
		if (nst_weights_layer(w, i, &info) != NST_OK) fuzz_die("layer %d of %d refused", i, n);
		const int dims[] = {info.kernel_h, info.kernel_w, info.in_channels, info.out_channels, info.stride};
		for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
			if (dims[d] < 1 || dims[d] > (int)NSTW_MAX_DIM) fuzz_die("layer %d: dimension %d accepted", i, dims[d]);
		if (!memchr(info.name, '\0', sizeof info.name) || !info.name[0]) fuzz_die("layer %d: bad name", i);
		if (nst_weights_find(w, info.name) != i) fuzz_die("layer %d (%s) is not found by its name", i, info.name);
		const size_t elements = (size_t)info.kernel_h * info.kernel_w * info.in_channels * info.out_channels;
		/* The data lies in the file: its size bounds the reads (and so the harness's time). */
		data_bytes += elements * elem + (size_t)info.out_channels * 4 * (info.has_norm ? 3 : 1);
		if (data_bytes > size) fuzz_die("layers hold %llu bytes of data in a %zu-byte file",
		                                (unsigned long long)data_bytes, size);
		float *kernel = malloc(elements * sizeof(float)); // [kh][kw][cin][cout]: exactly, for ASan
		float *vec = malloc((size_t)info.out_channels * sizeof(float)); // [cout]
		if (!kernel || !vec) fuzz_die("out of memory");
		nst_weights_read_kernel(w, i, kernel);
		float sum = 0.0f;
		for (size_t k = 0; k < elements; k++) sum += kernel[k];
		for (int which = NST_VECTOR_BIAS; which <= NST_VECTOR_BETA; which++) {
			nst_weights_read_vector(w, i, (enum nst_weights_vector)which, vec);
			for (int k = 0; k < info.out_channels; k++) sum += vec[k];
			if (!info.has_norm && which != NST_VECTOR_BIAS)
				for (int k = 0; k < info.out_channels; k++)
					if (vec[k] != (which == NST_VECTOR_GAMMA ? 1.0f : 0.0f))
						fuzz_die("layer %d without norm: gamma/beta %g", i, (double)vec[k]);
		}
		(void)sum;
		free(vec);
		free(kernel);
	}
	if (arch == NST_ARCH_VGG) run_vgg(w, bytes, size);
	else run_fast(w, bytes, size);
}

static enum nst_status open_weights(const char *file_name, const uint8_t *bytes, size_t size, struct nst_weights **w,
                                    struct nst_diag *diag) {
#ifdef NST_FUZZ_WEIGHTS_MEMORY
	(void)file_name;
	return nst_weights_open_memory(bytes, size, w, diag);
#else
	char path[512];
	fuzz_write_file(file_name, bytes, size, path, sizeof path);
	return nst_weights_open(path, w, diag);
#endif
}

/* Opens bytes (as the file file_name); returns the status after checking the contract. */
static enum nst_status open_and_check(const char *file_name, const uint8_t *bytes, size_t size, bool crc_fixed) {
	struct nst_weights *w = (struct nst_weights *)(uintptr_t)1; /* must be set to NULL on failure */
	struct nst_diag diag = {{0}};
	const enum nst_status st = open_weights(file_name, bytes, size, &w, &diag);
	if (st != NST_OK) {
		if (w) fuzz_die("a failed open left *out set");
		if (st != NST_ERR_WEIGHTS_FORMAT && st != NST_ERR_WEIGHTS_VERSION && st != NST_ERR_WEIGHTS_CHECKSUM)
			fuzz_die("nst_weights_open returned %s: %s", nst_status_string(st), diag.message);
		if (st == NST_ERR_WEIGHTS_CHECKSUM && crc_fixed) fuzz_die("checksum refused after fixing it: %s", diag.message);
		fuzz_check_diag(&diag, st);
		return st;
	}
	if (!w) fuzz_die("nst_weights_open returned OK without weights");
	exercise(w, bytes, size);
	nst_weights_close(w);
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size > FUZZ_MAX_WEIGHTS_BYTES) return 0;
	const enum nst_status raw = open_and_check("raw.nstw", data, size, false);
	if (size < NSTW_HEADER_BYTES || raw == NST_OK) return 0;

	uint8_t *fixed = malloc(size);
	if (!fixed) fuzz_die("out of memory");
	memcpy(fixed, data, size);
	const uint32_t crc = nstw_crc(fixed, size);
	if (get_le32(fixed + NSTW_CHECKSUM_OFFSET) != crc) {
		for (int i = 0; i < 4; i++) fixed[NSTW_CHECKSUM_OFFSET + i] = (uint8_t)(crc >> (8 * i));
		const enum nst_status st = open_and_check("fixed.nstw", fixed, size, true);
		/* The checksum is the last check: a file refused only for it opens once it is fixed. */
		if (raw == NST_ERR_WEIGHTS_CHECKSUM && st != NST_OK)
			fuzz_die("refused for its checksum, then for %s once the checksum was fixed", nst_status_string(st));
		if (raw != NST_ERR_WEIGHTS_CHECKSUM && st != raw)
			fuzz_die("refused with %s, then with %s once the checksum was fixed", nst_status_string(raw),
			         nst_status_string(st));
	}
	free(fixed);
	return 0;
}
