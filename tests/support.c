#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SUPPORT_BIAS 0.05

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

int support_write_vgg(const char *path, const struct support_vgg_layer *layers, int n_layers, uint64_t seed,
                      enum nst_dtype dtype) {
	const size_t header_bytes = align_up(NSTW_HEADER_BYTES + NSTW_LAYER_BYTES * (size_t)n_layers, NSTW_ALIGNMENT);
	const size_t elem = dtype == NST_DTYPE_F16 ? 2 : 4;
	struct nstw_layer table[NSTW_MAX_LAYERS];
	memset(table, 0, sizeof table);
	size_t payload = 0;
	int cin = 3, index_in_block = 0, prev_block = 0;
	for (int i = 0; i < n_layers; i++) {
		struct nstw_layer *e = &table[i];
		index_in_block = layers[i].block == prev_block ? index_in_block + 1 : 1;
		prev_block = layers[i].block;
		snprintf(e->name, sizeof e->name, "conv%d_%d", layers[i].block, index_in_block);
		e->op = NSTW_OP_CONV2D;
		e->kernel_h = e->kernel_w = 3;
		e->in_channels = (uint32_t)cin;
		e->out_channels = (uint32_t)layers[i].out_channels;
		e->stride = 1;
		e->offset = payload;
		const size_t kernel = 9u * (size_t)cin * (size_t)layers[i].out_channels * elem;
		e->bytes = align_up(kernel, 4) + 4u * (size_t)layers[i].out_channels;
		payload = align_up(payload + e->bytes, NSTW_ALIGNMENT);
		cin = layers[i].out_channels;
	}
	uint8_t *file = calloc(1, header_bytes + payload);
	if (!file)
		return -1;
	struct nstw_header h;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, NSTW_MAGIC, 4);
	h.version = NSTW_VERSION_1;
	h.header_bytes = (uint32_t)header_bytes;
	h.n_layers = (uint32_t)n_layers;
	h.dtype = (uint32_t)dtype;
	h.arch = NST_ARCH_VGG;
	snprintf(h.model, sizeof h.model, "test-vgg");
	h.payload_bytes = payload;
	snprintf(h.source, sizeof h.source, "tests/support.c random");
	struct nst_rng rng;
	nst_rng_seed(&rng, seed);
	for (int i = 0; i < n_layers; i++) {
		const struct nstw_layer *e = &table[i];
		uint8_t *p = file + header_bytes + e->offset;
		const size_t n = 9u * e->in_channels * e->out_channels;
		const double scale = sqrt(2.0 / (9.0 * e->in_channels));
		for (size_t j = 0; j < n; j++) {
			const float v = (float)(nst_rng_normal(&rng) * scale);
			if (dtype == NST_DTYPE_F16) {
				const uint16_t hv = nst_f32_to_f16(v);
				memcpy(p + 2 * j, &hv, 2);
			} else {
				memcpy(p + 4 * j, &v, 4);
			}
		}
		float *bias = (float *)(void *)(p + align_up(n * elem, 4));
		for (uint32_t j = 0; j < e->out_channels; j++)
			bias[j] = (float)(SUPPORT_BIAS * (1.0 + nst_rng_uniform(&rng)));
	}
	memcpy(file, &h, sizeof h);
	memcpy(file + NSTW_HEADER_BYTES, table, NSTW_LAYER_BYTES * (size_t)n_layers);
	const uint32_t crc = nst_crc32(0, file, header_bytes + payload);
	memcpy(file + NSTW_CHECKSUM_OFFSET, &crc, sizeof crc);
	FILE *f = fopen(path, "wb");
	int rc = -1;
	if (f) {
		rc = fwrite(file, 1, header_bytes + payload, f) == header_bytes + payload ? 0 : -1;
		if (fclose(f) != 0)
			rc = -1;
	}
	free(file);
	return rc;
}

char *support_tmpdir(const char *tag) {
	char tmpl[256];
	snprintf(tmpl, sizeof tmpl, "/tmp/nst-%s-XXXXXX", tag);
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

void support_rmdir(const char *dir) {
	char cmd[512];
	if (dir && strncmp(dir, "/tmp/nst-", 9) == 0) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

uint64_t support_seed(void) {
	const char *s = getenv("NST_TEST_SEED");
	if (s && *s)
		return strtoull(s, NULL, 10);
	return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
}
