/* Helpers shared by the test programs. */
#ifndef NST_TESTS_SUPPORT_H
#define NST_TESTS_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "nst.h"

/* One convolution of a test VGG: its block (1..5) and output channels; names are convB_I. */
struct support_vgg_layer {
	int block;
	int out_channels;
};

/* Writes a VGG-shaped .nstw (3x3 convolutions, 3 input channels first) with He-initialised random
 * weights and small positive biases. Returns 0 on success. */
int support_write_vgg(const char *path, const struct support_vgg_layer *layers, int n_layers, uint64_t seed,
                      enum nst_dtype dtype);

/* A fresh directory under /tmp (removed by support_rmdir). Returns a malloc'ed path. */
char *support_tmpdir(const char *tag);
void support_rmdir(const char *dir);

/* The test's seed: $NST_TEST_SEED, else from the clock; printed by the caller. */
uint64_t support_seed(void);

#endif
