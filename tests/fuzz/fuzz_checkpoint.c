/* libFuzzer harness for the checkpoint readers (src/checkpoint.c, nst_session_load_checkpoint;
 * src/checkpoint_tiled.c through nst_scales_load_checkpoint).
 *
 * Once per process: a tiny random VGG (tests/support.c), an Adam and an L-BFGS session on a 6x6
 * picture, each stopped after two rows and checkpointed, and a run of one scale in tiles (40x36
 * in tiles of 32 px) stopped inside its second tile and checkpointed: the genuine files.  An
 * input is
 *   byte 0       flags: bit 0 the L-BFGS session (else Adam); bit 3 the tiled run instead (bit 0
 *                unused); bit 1 recompute the CRC trailer (so
 *                that the mutation reaches the field checks); bit 2 the rest is the whole file
 *                (else the rest patches the genuine one);
 *   a patch      5-byte records: a little-endian offset (modulo the file's size + 1) and a byte
 *                XORed there; XOR 0 cuts the file at that offset instead.
 * The result is loaded into the session of its optimizer, and when it loads the run goes on for a
 * few iterations (UBSan: no overflow from any counter; ASan: no access outside the buffers).
 *
 * Contract checks (an abort, i.e. a crash to libFuzzer): a status the loader cannot return, an
 * empty or multi-line diag, a file that differs from the genuine one accepted without its CRC
 * fixed (the CRC-32 covers every byte), the genuine file refused, a run after a load that fails
 * otherwise than NST_ERR_NUMERIC.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nst.h"
#include "internal.h"
#include "fuzz_common.h"
#include "support.h"

#define SIDE 6                 /* the picture: relu2_1 needs 2 px, one pooling */
#define HISTORY 2
#define STOP_ROWS 2
#define RUN_ITERATIONS 5
#define RECORD_BYTES 5
#define CRC_BYTES 4
#define FLAG_LBFGS 1
#define FLAG_FIX_CRC 2
#define FLAG_WHOLE_FILE 4
#define FLAG_TILED 8
#define TILED_W 40
#define TILED_H 36
#define TILED_SIDE 32          /* 2x2 tiles, one sweep */
#define TILED_SWEEPS 1
#define TILED_ITERATIONS 1     /* a tile's: rows 0 and 1 (an instrumented run of every tile is slow) */
#define TILED_STOP_ROWS 3      /* inside the second tile */
#define GENUINE_TILED 2        /* g_genuine's index of the tiled file */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's own state, made at the first input. */
static struct nst_weights *g_weights;
static struct nst_session *g_sessions[2];
static void *g_arenas[2];
static uint8_t *g_genuine[3];
static size_t g_genuine_size[3];
static struct nst_scales *g_tiled;
static struct nst_scales_plan g_tiled_plan;
static void *g_tiled_arena;
static uint8_t g_tiled_content[TILED_H * TILED_W * 3], g_tiled_style[TILED_H * TILED_W * 3]; /* [H][W][3] each */

static bool stop_early(void *user, const struct nst_progress *p) {
	(void)user;
	return p->iteration + 1 < STOP_ROWS;
}

static bool stop_tiled(void *user, const struct nst_scales_progress *q) {
	(void)user;
	return q->run_row + 1 < TILED_STOP_ROWS;
}

/* The tiled driver, made afresh in its arena (a driver whose load failed refuses to go on). */
static bool open_tiled(void) {
	struct nst_diag diag = {{0}};
	nst_scales_release(g_tiled);
	g_tiled = NULL;
	return nst_scales_init(g_tiled_arena, g_tiled_plan.total_bytes, g_weights, &g_tiled_plan, &g_tiled, &diag) == NST_OK &&
	       nst_scales_set_content(g_tiled, 0, g_tiled_content) == NST_OK &&
	       nst_scales_set_style(g_tiled, 0, 0, g_tiled_style, 1.0f) == NST_OK;
}

static uint8_t *read_file(const char *path, size_t *size) {
	FILE *f = fopen(path, "rb");
	if (!f) fuzz_die("cannot read %s", path);
	fseek(f, 0, SEEK_END);
	const long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) fuzz_die("cannot read %s", path);
	fclose(f);
	*size = (size_t)n;
	return b;
}

static void setup(void) {
	char path[512];
	snprintf(path, sizeof path, "%s/tiny.nstw", fuzz_dir());
	const struct support_vgg_layer layers[] = {{1, 3, 0}, {1, 3, 0}, {2, 4, 0}};
	if (support_write_vgg(path, layers, 3, 1, NST_DTYPE_F32) != 0) fuzz_die("cannot write %s", path);
	struct nst_diag diag = {{0}};
	if (nst_weights_open(path, &g_weights, &diag) != NST_OK) fuzz_die("tiny weights: %s", diag.message);
	uint8_t content[SIDE * SIDE * 3], style[SIDE * SIDE * 3]; /* [SIDE][SIDE][3] each */
	for (size_t i = 0; i < sizeof content; i++) {
		content[i] = (uint8_t)(i * 37u);
		style[i] = (uint8_t)(i * 91u + 5u);
	}
	for (int k = 0; k < 2; k++) {
		struct nst_options o;
		nst_options_default(&o);
		nst_options_set_layers(&o, false, "relu2_1", NULL);
		nst_options_set_layers(&o, true, "relu1_1,relu2_1", NULL);
		o.optimizer = k ? NST_OPTIMIZER_LBFGS : NST_OPTIMIZER_ADAM;
		o.history = HISTORY;
		o.backend = NST_BACKEND_SCALAR;
		o.threads = 1;
		const struct nst_problem p = {SIDE, SIDE, 1, {SIDE}, {SIDE}};
		struct nst_plan plan;
		if (nst_plan(g_weights, &o, &p, &plan, &diag) != NST_OK) fuzz_die("plan: %s", diag.message);
		g_arenas[k] = aligned_alloc(NST_ARENA_ALIGNMENT, (plan.total_bytes + 63) / 64 * 64);
		if (!g_arenas[k] || nst_session_init(g_arenas[k], plan.total_bytes, g_weights, &o, &p, &g_sessions[k], &diag) != NST_OK)
			fuzz_die("init: %s", diag.message);
		struct nst_session *s = g_sessions[k];
		if (nst_session_set_content(s, content) != NST_OK || nst_session_set_style(s, 0, style, 1.0f) != NST_OK ||
		    nst_session_prepare(s) != NST_OK || nst_session_run(s, RUN_ITERATIONS, stop_early, NULL) != NST_ERR_INTERRUPTED)
			fuzz_die("cannot run the tiny session");
		snprintf(path, sizeof path, "%s/genuine-%d.ckpt", fuzz_dir(), k);
		if (nst_session_save_checkpoint(s, path, &diag) != NST_OK) fuzz_die("save: %s", diag.message);
		g_genuine[k] = read_file(path, &g_genuine_size[k]);
	}
	/* The tiled run: one scale, Adam, its driver kept for every tiled input. */
	for (size_t i = 0; i < sizeof g_tiled_content; i++) {
		g_tiled_content[i] = (uint8_t)(i * 53u + 1u);
		g_tiled_style[i] = (uint8_t)(i * 29u + 7u);
	}
	struct nst_options o;
	nst_options_default(&o);
	nst_options_set_layers(&o, false, "relu2_1", NULL);
	nst_options_set_layers(&o, true, "relu1_1,relu2_1", NULL);
	o.optimizer = NST_OPTIMIZER_ADAM;
	o.backend = NST_BACKEND_SCALAR;
	o.threads = 1;
	struct nst_scales_options so = {.n_scales = 1, .tiles = {TILED_SIDE, 0, TILED_SWEEPS, 0}};
	so.problems[0] = (struct nst_problem){TILED_W, TILED_H, 1, {TILED_W}, {TILED_H}};
	so.iterations[0] = TILED_ITERATIONS;
	if (nst_scales_plan(g_weights, &o, &so, &g_tiled_plan, &diag) != NST_OK || !g_tiled_plan.tiled[0])
		fuzz_die("tiled plan: %s", diag.message);
	g_tiled_arena = aligned_alloc(NST_ARENA_ALIGNMENT, (g_tiled_plan.total_bytes + 63) / 64 * 64);
	if (!g_tiled_arena || !open_tiled() || nst_scales_next(g_tiled, &diag) != NST_OK ||
	    nst_scales_run_scale(g_tiled, stop_tiled, NULL) != NST_ERR_INTERRUPTED)
		fuzz_die("cannot run the tiled driver: %s", diag.message);
	snprintf(path, sizeof path, "%s/genuine-tiled.ckpt", fuzz_dir());
	if (nst_scales_save_checkpoint(g_tiled, path, &diag) != NST_OK) fuzz_die("tiled save: %s", diag.message);
	g_genuine[GENUINE_TILED] = read_file(path, &g_genuine_size[GENUINE_TILED]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (!g_weights) setup();
	if (size < 1) return 0;
	const bool tiled = (data[0] & FLAG_TILED) != 0;
	const int k = tiled ? GENUINE_TILED : data[0] & FLAG_LBFGS;
	const uint8_t *genuine = g_genuine[k];
	const size_t genuine_size = g_genuine_size[k];
	size_t n;
	uint8_t *file;
	if (data[0] & FLAG_WHOLE_FILE) {
		n = size - 1;
		file = malloc(n ? n : 1);
		if (!file) fuzz_die("out of memory");
		memcpy(file, data + 1, n);
	} else {
		n = genuine_size;
		file = malloc(n);
		if (!file) fuzz_die("out of memory");
		memcpy(file, genuine, n);
		for (size_t r = 1; r + RECORD_BYTES <= size; r += RECORD_BYTES) {
			const uint32_t at = (uint32_t)data[r] | (uint32_t)data[r + 1] << 8 | (uint32_t)data[r + 2] << 16 |
			                    (uint32_t)data[r + 3] << 24;
			const size_t offset = at % (n + 1);
			if (data[r + 4] == 0) n = offset; /* a cut */
			else if (offset < n) file[offset] ^= data[r + 4];
		}
	}
	if ((data[0] & FLAG_FIX_CRC) && n >= CRC_BYTES) {
		const uint32_t crc = nst_crc32(0, file, n - CRC_BYTES);
		for (int i = 0; i < CRC_BYTES; i++) file[n - CRC_BYTES + (size_t)i] = (uint8_t)(crc >> (8 * i));
	}
	const bool is_genuine = n == genuine_size && memcmp(file, genuine, n) == 0;
	char path[512];
	fuzz_write_file("input.ckpt", file, n, path, sizeof path);
	free(file);

	struct nst_session *s = tiled ? NULL : g_sessions[k];
	struct nst_diag diag = {{0}};
	if (tiled && !open_tiled()) fuzz_die("cannot make the tiled driver again");
	const enum nst_status st = tiled ? nst_scales_load_checkpoint(g_tiled, path, &diag)
	                                 : nst_session_load_checkpoint(s, path, &diag);
	if (st != NST_OK) {
		if (st != NST_ERR_WEIGHTS_FORMAT && st != NST_ERR_WEIGHTS_VERSION && st != NST_ERR_WEIGHTS_CHECKSUM &&
		    st != NST_ERR_INVALID_ARGUMENT && st != NST_ERR_IO)
			fuzz_die("loading the checkpoint returned %s: %s", nst_status_string(st), diag.message);
		fuzz_check_diag(&diag, st);
		if (is_genuine) fuzz_die("the genuine checkpoint was refused: %s", diag.message);
		return 0;
	}
	if (!is_genuine && !(data[0] & FLAG_FIX_CRC))
		fuzz_die("a checkpoint that differs from the genuine one was accepted with its CRC as it was");
	const enum nst_status run = tiled ? nst_scales_run_scale(g_tiled, NULL, NULL) : nst_session_run(s, RUN_ITERATIONS, NULL, NULL);
	if (run != NST_OK && run != NST_ERR_NUMERIC)
		fuzz_die("a run after an accepted checkpoint: %s", nst_status_string(run));
	return 0;
}
