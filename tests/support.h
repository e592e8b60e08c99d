/* Helpers shared by the test programs. */
#ifndef NST_TESTS_SUPPORT_H
#define NST_TESTS_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "nst.h"

/* One convolution of a test VGG: its block (1..5) and output channels; names are convB_I. */
struct support_vgg_layer {
	int block;
	int out_channels;
	int tap; /* > 0: a tap of that many channels reads this layer (as the distilled network's) */
};

/* Writes a VGG-shaped .nstw (3x3 convolutions, 3 input channels first; version 2 with taps) with
 * He-initialised random weights and small positive biases. Returns 0 on success. */
int support_write_vgg(const char *path, const struct support_vgg_layer *layers, int n_layers, uint64_t seed,
                      enum nst_dtype dtype);

/* The parts of a .nstw file (weights/FORMAT.md) that every writer shares.  support_nstw_header
 * fills a version-1 header; support_nstw_write puts h and the layer table at the start of file
 * (size bytes, the payload already in place), stores the CRC and writes it to path (0 on success). */
struct nstw_header;
struct nstw_layer;
void support_nstw_header(struct nstw_header *h, size_t header_bytes, int n_layers, enum nst_dtype dtype, uint32_t arch,
                         size_t payload, const char *model, const char *source);
int support_nstw_write(const char *path, uint8_t *file, size_t size, const struct nstw_header *h,
                       const struct nstw_layer *table, int n_layers);
/* v rounded up to a multiple of a. */
size_t align_up(size_t v, size_t a);

/* The session tests' small VGG: conv1_1 conv1_2 | pool | conv2_1 conv2_2 | pool | conv3_1 conv3_2
 * (8, 8, 16, 8, 16, 8 channels), float32, random from seed.  Returns 0 on success. */
int support_write_small_vgg(const char *path, uint64_t seed);

/* A fresh directory under /tmp (removed by support_rmdir). Returns a malloc'ed path. */
char *support_tmpdir(const char *tag);
void support_rmdir(const char *dir);

/* The test's seed: $NST_TEST_SEED (decimal, or 0x... hex), else from the clock; printed (and
 * flushed) as "<test>: seed N", so that a failing run can be repeated. */
uint64_t support_seed(const char *test);

/* The whole file, malloc'ed (one byte more than its size, for a terminating NUL), its size in
 * *size; NULL if it cannot be read. */
uint8_t *support_read_file(const char *path, size_t *size);
/* Writes size bytes; returns 0 on success. */
int support_write_file(const char *path, const void *bytes, size_t size);

/* ---------------------------------------------------------------------------------------------
 * Buffers and random numbers of the operator tests.  Short names: the tests call them on almost
 * every line.  The random numbers are the library's (struct nst_rng, src/internal.h).
 * ------------------------------------------------------------------------------------------- */
struct nst_rng;
#define SUPPORT_POISON_BITS UINT32_C(0x7fc0dead) /* a quiet NaN: "not written" */
#define SUPPORT_GUARD_FLOATS 16
#define SUPPORT_GUARD_BYTES 64
#define SUPPORT_GUARD_BYTE 0x5a

/* malloc that ends the test (exit 1) when memory runs out; 0 bytes gives a 1-byte block. */
void *xmalloc(size_t bytes);
/* The float of SUPPORT_POISON_BITS. */
float poison(void);
/* n floats, all poison, followed by SUPPORT_GUARD_FLOATS guard words (poison too); guard_ok: the
 * guard words are untouched.  free() releases it. */
float *galloc(size_t n);
bool guard_ok(const float *p, size_t n);
/* n bytes of `fill`, followed by SUPPORT_GUARD_BYTES bytes of SUPPORT_GUARD_BYTE; gbytes_ok: the
 * guard is untouched. */
uint8_t *gbytes(size_t n, uint8_t fill);
bool gbytes_ok(const uint8_t *p, size_t n);

/* Page-guarded: `floats` floats ending exactly where an inaccessible page begins, so that any
 * access past the end faults.  Ends the test if the mapping fails. */
struct guarded {
	void *map;
	size_t map_bytes;
	float *p;
};
float *guarded_alloc(struct guarded *g, size_t floats);
void guarded_free(struct guarded *g);

/* The float32 GEMM kernels of this CPU's kernel configurations (each SIMD kernel and its scalar
 * twin) that are not among kernels[0 .. n) yet, appended up to max; returns the new count. */
struct nst_gemm_kernel;
size_t support_add_config_kernels(const struct nst_gemm_kernel **kernels, size_t n, size_t max);

/* Uniform in [lo, hi). */
double urand(struct nst_rng *r, double lo, double hi);
void fill_uniform(struct nst_rng *r, float *p, size_t n, double lo, double hi);
/* Uniform bytes (pixels). */
void fill_bytes(struct nst_rng *r, uint8_t *p, size_t n);

/* *worst = max(*worst, err); a NaN sticks. */
void note(double *worst, double err);
/* PyTorch's 'reflect' padding index (the edge not repeated), folded as often as needed for pads
 * wider than the picture; size 1 reads pixel 0.  Written independently of the library's. */
int naive_reflect(int i, int n);
/* A k x k convolution (padding k / 2, reflected or zero) of an input [h][w][cin] upsampled up
 * times (nearest), HWIO weights [k][k][cin][cout]. */
struct naive_conv_shape {
	int k, stride, up;
	bool reflect;
	int cin, cout, h, w;
};
/* out[oy][ox][co] in double, and the sum of the absolute values of its terms. */
void naive_conv_value(const struct naive_conv_shape *c, const float *in, const float *hwio, const float *bias, int oy,
                      int ox, int co, double *value, double *abs_sum);
/* Seconds of CLOCK_MONOTONIC since *t0. */
double seconds_since(const struct timespec *t0);

#endif
