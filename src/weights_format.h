/* The on-disk layout of a .nstw weights file, versions 1 to 3 (weights/FORMAT.md). Little-endian. */
#ifndef NST_WEIGHTS_FORMAT_H
#define NST_WEIGHTS_FORMAT_H

#include <stdint.h>

#define NSTW_MAGIC "NSTW"
#define NSTW_VERSION 2u          /* what weights/convert.py writes for VGG and transformer networks */
#define NSTW_VERSION_1 1u        /* still read: no defaults block, no taps, zero padding only */
#define NSTW_VERSION_GROUPS 3u   /* grouped convolutions (the layer's groups field), the arbitrary-style arch */
#define NSTW_HEADER_BYTES 128u
#define NSTW_LAYER_BYTES 128u
#define NSTW_DEFAULTS_BYTES 256u /* version 2: after the layer table */
#define NSTW_ALIGNMENT 64u
#define NSTW_MAX_LAYERS 256u
#define NSTW_MAX_DIM 65535u
#define NSTW_OP_CONV2D 1u
#define NSTW_OP_TAP 2u           /* version 2: 1x1 conv + ReLU of the trunk conv named by tap_of */
#define NSTW_FLAG_NORM 1u
#define NSTW_FLAG_REFLECT 2u     /* version 2: reflection padding instead of zeros */
#define NSTW_INPUT_CAFFE 0u      /* header.input: x = BGR - ImageNet mean, 0..255 (VGG, transformer) */
#define NSTW_INPUT_RGB01 1u      /* version 3, the arbitrary-style arch: x = RGB / 255, 0..1 */
#define NSTW_CHECKSUM_OFFSET 64u
#define NSTW_DEFAULT_CONTENT 4u  /* most content layers the defaults block names */
#define NSTW_DEFAULT_STYLE 8u    /* most style layers */
#define NSTW_DEFAULT_NAME_BYTES 16u

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
	uint32_t input;              /* NSTW_INPUT_* as the arch says (version 1: reserved, 0) */
	char source[56];
};

struct nstw_layer {              /* 128 bytes each, from offset 128 */
	char name[24];
	uint32_t op;
	uint32_t kernel_h, kernel_w;
	uint32_t in_channels, out_channels;
	uint32_t stride;
	uint32_t flags;
	uint32_t groups;             /* version 3: 1.. (dividing in and out channels); before: reserved, 0 */
	uint64_t offset;             /* from the start of the payload */
	uint64_t bytes;
	char tap_of[24];             /* op NSTW_OP_TAP: the trunk conv it reads (version 1: reserved, 0) */
	uint8_t reserved1[32];
};

struct nstw_defaults {           /* 256 bytes after the layer table (version 2) */
	uint32_t n_content, n_style;
	float content_weight, style_weight, tv_weight;
	uint32_t present;            /* 1: the network's defaults; 0: none (the whole block is zero) */
	char content[NSTW_DEFAULT_CONTENT][NSTW_DEFAULT_NAME_BYTES];
	char style[NSTW_DEFAULT_STYLE][NSTW_DEFAULT_NAME_BYTES];
	float style_layer_weights[NSTW_DEFAULT_STYLE];
	uint8_t reserved[8];
};

_Static_assert(sizeof(struct nstw_header) == NSTW_HEADER_BYTES, "nstw header is 128 bytes");
_Static_assert(sizeof(struct nstw_layer) == NSTW_LAYER_BYTES, "nstw layer entry is 128 bytes");
_Static_assert(sizeof(struct nstw_defaults) == NSTW_DEFAULTS_BYTES, "nstw defaults block is 256 bytes");

#endif
