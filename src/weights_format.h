/* The on-disk layout of a .nstw weights file, version 1 (weights/FORMAT.md). Little-endian. */
#ifndef NST_WEIGHTS_FORMAT_H
#define NST_WEIGHTS_FORMAT_H

#include <stdint.h>

#define NSTW_MAGIC "NSTW"
#define NSTW_VERSION 1u
#define NSTW_HEADER_BYTES 128u
#define NSTW_LAYER_BYTES 128u
#define NSTW_ALIGNMENT 64u
#define NSTW_MAX_LAYERS 256u
#define NSTW_MAX_DIM 65535u
#define NSTW_OP_CONV2D 1u
#define NSTW_FLAG_NORM 1u
#define NSTW_CHECKSUM_OFFSET 64u

struct nstw_header {             /* 128 bytes at offset 0 */
	char magic[4];
	uint32_t version;
	uint32_t header_bytes;
	uint32_t n_layers;
	uint32_t dtype;              /* enum nst_dtype */
	uint32_t arch;               /* enum nst_arch */
	char model[32];
	uint64_t payload_bytes;
	uint32_t checksum;           /* CRC-32 of the file with this field as 0 */
	uint32_t reserved;
	char source[56];
};

struct nstw_layer {              /* 128 bytes each, from offset 128 */
	char name[24];
	uint32_t op;
	uint32_t kernel_h, kernel_w;
	uint32_t in_channels, out_channels;
	uint32_t stride;
	uint32_t flags;
	uint32_t reserved0;
	uint64_t offset;             /* from the start of the payload */
	uint64_t bytes;
	uint8_t reserved1[56];
};

_Static_assert(sizeof(struct nstw_header) == NSTW_HEADER_BYTES, "nstw header is 128 bytes");
_Static_assert(sizeof(struct nstw_layer) == NSTW_LAYER_BYTES, "nstw layer entry is 128 bytes");

#endif
