/*
 * The .nstw weights file (weights/FORMAT.md): open, read into memory, validate, and read layers
 * out as float32.  Every field is decoded from little-endian bytes, so the reader works on any host;
 * the layer table is never read through struct fields directly.
 *
 * Validation order (a file is refused on the first problem, with one line naming the file):
 *   1. the file opens and is a regular file of at least NSTW_HEADER_BYTES;
 *   2. header: magic, version, n_layers, header_bytes, dtype, arch, model name;
 *   3. size: exactly header_bytes + payload_bytes;
 *   4. each layer entry: name, op, shape in 1..NSTW_MAX_DIM, groups, flags, alignment, bytes == what
 *      the shape needs, data inside the payload and in table order; VGG names and channel chain;
 *   5. the CRC-32 of the whole file with the checksum field read as 0.
 * All size arithmetic is in uint64_t with explicit overflow checks, so no field, however absurd,
 * can cause a huge allocation or a read outside the map.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* ---------------------------------------------------------------------------------------------
 * Little-endian decoding
 * ------------------------------------------------------------------------------------------- */

static uint64_t le64(const uint8_t *p) { return (uint64_t)nst_le32(p) | (uint64_t)nst_le32(p + 4) << 32; }

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static float le_f32(const uint8_t *p) {
	const uint32_t bits = nst_le32(p);
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

#define HEADER_U32(p, field) nst_le32((p) + offsetof(struct nstw_header, field))
#define HEADER_U64(p, field) le64((p) + offsetof(struct nstw_header, field))
#define LAYER_U32(p, field) nst_le32((p) + offsetof(struct nstw_layer, field))
#define LAYER_U64(p, field) le64((p) + offsetof(struct nstw_layer, field))

static void decode_header(const uint8_t *p, struct nstw_header *h) {
	memcpy(h->magic, p + offsetof(struct nstw_header, magic), sizeof h->magic);
	h->version = HEADER_U32(p, version);
	h->header_bytes = HEADER_U32(p, header_bytes);
	h->n_layers = HEADER_U32(p, n_layers);
	h->dtype = HEADER_U32(p, dtype);
	h->arch = HEADER_U32(p, arch);
	memcpy(h->model, p + offsetof(struct nstw_header, model), sizeof h->model);
	h->payload_bytes = HEADER_U64(p, payload_bytes);
	h->checksum = HEADER_U32(p, checksum);
	h->input = HEADER_U32(p, input);
	memcpy(h->source, p + offsetof(struct nstw_header, source), sizeof h->source);
}

/* The host-order copy of layer entry `index` (the map itself stays little-endian). */
static void decode_layer(const struct nst_weights *w, int index, struct nstw_layer *l) {
	const uint8_t *p = w->map + NSTW_HEADER_BYTES + (size_t)index * NSTW_LAYER_BYTES;
	memset(l, 0, sizeof *l);
	memcpy(l->name, p + offsetof(struct nstw_layer, name), sizeof l->name);
	l->op = LAYER_U32(p, op);
	l->kernel_h = LAYER_U32(p, kernel_h);
	l->kernel_w = LAYER_U32(p, kernel_w);
	l->in_channels = LAYER_U32(p, in_channels);
	l->out_channels = LAYER_U32(p, out_channels);
	l->stride = LAYER_U32(p, stride);
	l->flags = LAYER_U32(p, flags);
	l->groups = LAYER_U32(p, groups);
	l->offset = LAYER_U64(p, offset);
	l->bytes = LAYER_U64(p, bytes);
	memcpy(l->tap_of, p + offsetof(struct nstw_layer, tap_of), sizeof l->tap_of);
}

/* The defaults block of a version 2 file (weights/FORMAT.md), decoded into host order. */
static void decode_defaults(const uint8_t *p, struct nstw_defaults *d) {
	memset(d, 0, sizeof *d);
	d->n_content = nst_le32(p + offsetof(struct nstw_defaults, n_content));
	d->n_style = nst_le32(p + offsetof(struct nstw_defaults, n_style));
	d->content_weight = le_f32(p + offsetof(struct nstw_defaults, content_weight));
	d->style_weight = le_f32(p + offsetof(struct nstw_defaults, style_weight));
	d->tv_weight = le_f32(p + offsetof(struct nstw_defaults, tv_weight));
	d->present = nst_le32(p + offsetof(struct nstw_defaults, present));
	memcpy(d->content, p + offsetof(struct nstw_defaults, content), sizeof d->content);
	memcpy(d->style, p + offsetof(struct nstw_defaults, style), sizeof d->style);
	for (unsigned i = 0; i < NSTW_DEFAULT_STYLE; i++)
		d->style_layer_weights[i] = le_f32(p + offsetof(struct nstw_defaults, style_layer_weights) + i * sizeof(float));
	memcpy(d->reserved, p + offsetof(struct nstw_defaults, reserved), sizeof d->reserved);
}

/* ---------------------------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------------------------- */

_Static_assert(NST_LAYER_NAME_BYTES == sizeof(((struct nstw_layer *)0)->name), "layer name sizes agree");
_Static_assert(offsetof(struct nstw_header, checksum) == NSTW_CHECKSUM_OFFSET, "checksum offset");
_Static_assert(NSTW_HEADER_BYTES % NSTW_ALIGNMENT == 0 && NSTW_LAYER_BYTES % NSTW_ALIGNMENT == 0,
               "header and layer table keep the payload aligned");

#define BIAS_ALIGNMENT sizeof(float) /* the bias starts at the next multiple of 4 after the kernel */

static bool mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
	if (a != 0 && b > UINT64_MAX / a)
		return false;
	*out = a * b;
	return true;
}

static bool add_u64(uint64_t a, uint64_t b, uint64_t *out) {
	if (b > UINT64_MAX - a)
		return false;
	*out = a + b;
	return true;
}

static uint64_t dtype_bytes(uint32_t dtype) { return dtype == NST_DTYPE_F16 ? sizeof(uint16_t) : sizeof(float); }

/* The input channels each output channel reads: all of them, or its group's (version 3; the field
 * is 0 before, and checked to divide in_channels before any size is computed from it). */
static uint32_t group_in_channels(const struct nstw_layer *l) {
	return l->groups > 1 ? l->in_channels / l->groups : l->in_channels;
}

/* Bytes of the kernel ([kh][kw][cin / groups][cout]) and of the whole layer's data, from its shape;
 * false on overflow. */
static bool layer_sizes(const struct nstw_layer *l, uint32_t dtype, uint64_t *kernel_bytes, uint64_t *total_bytes) {
	uint64_t n, k, vec;
	if (!mul_u64(l->kernel_h, l->kernel_w, &n) || !mul_u64(n, group_in_channels(l), &n) ||
	    !mul_u64(n, l->out_channels, &n) || !mul_u64(n, dtype_bytes(dtype), &k))
		return false;
	const uint64_t vectors = (l->flags & NSTW_FLAG_NORM) ? 3 : 1; /* bias (+ gamma, beta) */
	if (!add_u64(k, BIAS_ALIGNMENT - 1, &n) || !mul_u64(vectors * sizeof(float), l->out_channels, &vec))
		return false;
	n -= n % BIAS_ALIGNMENT;
	*kernel_bytes = k;
	return add_u64(n, vec, total_bytes);
}

static size_t kernel_elements(const struct nstw_layer *l) {
	return (size_t)l->kernel_h * l->kernel_w * group_in_channels(l) * l->out_channels;
}

/* ---------------------------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------------------------- */

static bool nul_terminated(const char *s, size_t n) { return memchr(s, '\0', n) != NULL; }

/* Names are printed (nst info, messages): NUL-terminated printable ASCII, nothing that could move a
 * terminal's cursor or forge a line. */
static bool printable_name(const char *s, size_t n) {
	if (!nul_terminated(s, n))
		return false;
	for (; *s; s++) {
		if (*s < ' ' || *s > '~')
			return false;
	}
	return true;
}

static enum nst_status check_header(const char *path, const struct nstw_header *h, uint64_t file_bytes,
                                    struct nst_diag *diag) {
	if (memcmp(h->magic, NSTW_MAGIC, sizeof h->magic) != 0) {
		const uint8_t *m = (const uint8_t *)h->magic;
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: not a weights file: starts with bytes %02x %02x %02x %02x, not \"%s\"", path,
		                m[0], m[1], m[2], m[3], NSTW_MAGIC);
	}
	if (h->version < NSTW_VERSION_1 || h->version > NSTW_VERSION_GROUPS)
		return nst_fail(diag, NST_ERR_WEIGHTS_VERSION,
		                "%s: weights file version %" PRIu32 "; this build reads versions %u to %u", path,
		                h->version, NSTW_VERSION_1, NSTW_VERSION_GROUPS);
	if (h->n_layers < 1 || h->n_layers > NSTW_MAX_LAYERS)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: header says %" PRIu32 " layers; 1..%u allowed", path,
		                h->n_layers, NSTW_MAX_LAYERS);
	/* <= 33152 */
	const uint32_t table_end = NSTW_HEADER_BYTES + NSTW_LAYER_BYTES * h->n_layers +
	                           (h->version >= NSTW_VERSION ? NSTW_DEFAULTS_BYTES : 0);
	const uint32_t want_header = (table_end + NSTW_ALIGNMENT - 1) / NSTW_ALIGNMENT * NSTW_ALIGNMENT;
	if (h->header_bytes != want_header)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: header_bytes is %" PRIu32 "; %" PRIu32 " layers need %" PRIu32, path,
		                h->header_bytes, h->n_layers, want_header);
	if (h->dtype != NST_DTYPE_F32 && h->dtype != NST_DTYPE_F16)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: unknown kernel dtype %" PRIu32 " (%d float32, %d float16)", path, h->dtype,
		                NST_DTYPE_F32, NST_DTYPE_F16);
	const bool arbitrary = h->arch == NST_ARCH_ARBITRARY && h->version >= NSTW_VERSION_GROUPS;
	if (h->arch != NST_ARCH_VGG && h->arch != NST_ARCH_TRANSFORMER && !arbitrary)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: unknown arch %" PRIu32 " in a version %" PRIu32 " file (%d VGG, %d transformer, %d arbitrary-style from version %u)",
		                path, h->arch, h->version, NST_ARCH_VGG, NST_ARCH_TRANSFORMER, NST_ARCH_ARBITRARY,
		                NSTW_VERSION_GROUPS);
	const uint32_t input = arbitrary ? NSTW_INPUT_RGB01 : NSTW_INPUT_CAFFE;
	if (h->input != input)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: input convention %" PRIu32 "; arch %" PRIu32 " networks take %" PRIu32 " (%s)", path,
		                h->input, h->arch, input, arbitrary ? "RGB / 255" : "BGR minus the mean");
	if (!printable_name(h->model, sizeof h->model) || !printable_name(h->source, sizeof h->source))
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: the header's model or source name is not NUL-terminated printable ASCII", path);
	uint64_t want_file;
	if (!add_u64(h->header_bytes, h->payload_bytes, &want_file))
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: payload_bytes %" PRIu64 " is absurd", path,
		                h->payload_bytes);
	if (file_bytes < want_file)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: truncated: %" PRIu64 " bytes expected, %" PRIu64 " found", path, want_file, file_bytes);
	if (file_bytes > want_file)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: %" PRIu64 " bytes expected, %" PRIu64 " found: trailing bytes after the payload", path,
		                want_file, file_bytes);
	return NST_OK;
}

struct vgg_position {
	int block, conv; /* of the previous layer; block 0 before the first */
	uint32_t channels; /* out_channels of the previous layer (3: the RGB input) */
};

#define VGG_BLOCKS 5
#define VGG_INPUT_CHANNELS 3

static enum nst_status check_vgg_layer(const char *path, int index, const struct nstw_layer *l,
                                       struct vgg_position *pos, struct nst_diag *diag) {
	char previous[NST_LAYER_NAME_BYTES], same_block[NST_LAYER_NAME_BYTES], next_block[NST_LAYER_NAME_BYTES];
	snprintf(previous, sizeof previous, "conv%d_%d", pos->block, pos->conv);
	snprintf(same_block, sizeof same_block, "conv%d_%d", pos->block, pos->conv + 1);
	snprintf(next_block, sizeof next_block, "conv%d_1", pos->block + 1);
	if (pos->block > 0 && strcmp(l->name, same_block) == 0) {
		pos->conv++;
	} else if (pos->block < VGG_BLOCKS && strcmp(l->name, next_block) == 0) {
		pos->block++;
		pos->conv = 1;
	} else if (pos->block == 0) {
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: layer %d is named \"%s\"; a VGG network starts with %s", path, index, l->name,
		                next_block);
	} else if (pos->block < VGG_BLOCKS) {
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: layer %d is named \"%s\"; after %s a VGG network has %s or %s", path, index, l->name,
		                previous, same_block, next_block);
	} else {
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: layer %d is named \"%s\"; after %s a VGG network (%d blocks) has only %s", path,
		                index, l->name, previous, VGG_BLOCKS, same_block);
	}
	if (l->in_channels != pos->channels)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: layer %d (%s) has %" PRIu32 " in_channels; the %s has %" PRIu32 " channels", path,
		                index, l->name, l->in_channels, index == 0 ? "RGB input" : "previous layer's output",
		                pos->channels);
	pos->channels = l->out_channels;
	return NST_OK;
}

/* A tap: a VGG network's 1x1, stride-1 conv (no flags) of an earlier conv's output, one per conv. */
static enum nst_status check_tap(const char *path, int index, const struct nst_weights *w, const struct nstw_layer *l,
                                 struct nst_diag *diag) {
	if (w->header.arch != NST_ARCH_VGG || l->kernel_h != 1 || l->kernel_w != 1 || l->stride != 1 || l->flags != 0)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: layer %d (%s): a tap is a VGG network's 1x1 stride-1 convolution without flags", path, index,
		                l->name);
	if (!printable_name(l->tap_of, sizeof l->tap_of))
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: layer %d (%s): its tap_of is not NUL-terminated printable ASCII",
		                path, index, l->name);
	int source = -1;
	for (int j = 0; j < index; j++) {
		struct nstw_layer other;
		decode_layer(w, j, &other);
		if (other.op == NSTW_OP_TAP && strcmp(other.tap_of, l->tap_of) == 0)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: layers %d and %d both tap %s", path, j, index, l->tap_of);
		if (other.op == NSTW_OP_CONV2D && strcmp(other.name, l->tap_of) == 0 && other.out_channels == l->in_channels)
			source = j;
	}
	if (source < 0)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: layer %d (%s) taps \"%s\", which is not an earlier convolution with %" PRIu32 " outputs", path,
		                index, l->name, l->tap_of, l->in_channels);
	return NST_OK;
}

/* The defaults block: either all zero (none) or present with sane counts, names and weights. */
static enum nst_status check_defaults(const char *path, const struct nst_weights *w, struct nst_diag *diag) {
	const struct nstw_defaults *d = &w->defaults;
	if (!d->present) {
		const uint8_t *raw = w->map + NSTW_HEADER_BYTES + (size_t)NSTW_LAYER_BYTES * w->header.n_layers;
		for (size_t i = 0; i < NSTW_DEFAULTS_BYTES; i++)
			if (raw[i])
				return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: the defaults block says none but is not all zero",
				                path);
		return NST_OK;
	}
	if (d->present != 1 || d->n_content > NSTW_DEFAULT_CONTENT || d->n_style < 1 || d->n_style > NSTW_DEFAULT_STYLE)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: defaults block: flag %" PRIu32 ", %" PRIu32 " content and %" PRIu32
		                " style layers (at most %u and 1..%u)",
		                path, d->present, d->n_content, d->n_style, NSTW_DEFAULT_CONTENT, NSTW_DEFAULT_STYLE);
	for (uint32_t i = 0; i < d->n_content + d->n_style; i++) {
		const char *name = i < d->n_content ? d->content[i] : d->style[i - d->n_content];
		if (!printable_name(name, NSTW_DEFAULT_NAME_BYTES) || !name[0])
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: defaults block: a layer name is empty or not printable",
			                path);
	}
	bool ok = isfinite(d->content_weight) && d->content_weight >= 0.0f && isfinite(d->style_weight) &&
	          d->style_weight >= 0.0f && isfinite(d->tv_weight) && d->tv_weight >= 0.0f;
	for (uint32_t i = 0; i < d->n_style; i++)
		ok = ok && isfinite(d->style_layer_weights[i]) && d->style_layer_weights[i] >= 0.0f;
	if (!ok)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: defaults block: a weight is negative or not finite", path);
	return NST_OK;
}

static enum nst_status check_layers(const char *path, const struct nst_weights *w, struct nst_diag *diag) {
	const struct nstw_header *h = &w->header;
	struct vgg_position vgg = {0, 0, VGG_INPUT_CHANNELS};
	uint64_t previous_end = 0;
	for (int i = 0; i < (int)h->n_layers; i++) {
		struct nstw_layer l;
		decode_layer(w, i, &l);
		if (!printable_name(l.name, sizeof l.name) || l.name[0] == '\0')
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d: the name is empty or not NUL-terminated printable ASCII", path, i);
		for (int j = 0; j < i; j++) {
			struct nstw_layer other;
			decode_layer(w, j, &other);
			if (strcmp(other.name, l.name) == 0)
				return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: layers %d and %d are both named \"%s\"", path,
				                j, i, l.name);
		}
		const bool v2 = h->version >= NSTW_VERSION;
		if (l.op != NSTW_OP_CONV2D && !(v2 && l.op == NSTW_OP_TAP))
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: layer %d (%s): unknown op %" PRIu32, path, i,
			                l.name, l.op);
		const struct { const char *what; uint32_t value; } dims[] = {
			{"kernel_h", l.kernel_h}, {"kernel_w", l.kernel_w}, {"in_channels", l.in_channels},
			{"out_channels", l.out_channels}, {"stride", l.stride},
		};
		for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
			if (dims[d].value < 1 || dims[d].value > NSTW_MAX_DIM)
				return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
				                "%s: layer %d (%s): %s is %" PRIu32 ", outside 1..%u", path, i, l.name,
				                dims[d].what, dims[d].value, NSTW_MAX_DIM);
		if (l.flags & ~(uint32_t)(NSTW_FLAG_NORM | (v2 ? NSTW_FLAG_REFLECT : 0)))
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: layer %d (%s): unknown flags 0x%" PRIx32, path, i,
			                l.name, l.flags);
		if (h->version < NSTW_VERSION_GROUPS && l.groups != 0)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d (%s): a reserved field (groups, from version %u) is %" PRIu32 ", not 0", path, i,
			                l.name, NSTW_VERSION_GROUPS, l.groups);
		if (h->version >= NSTW_VERSION_GROUPS && (l.groups < 1 || l.in_channels % l.groups || l.out_channels % l.groups))
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d (%s): %" PRIu32 " groups do not divide %" PRIu32 " inputs and %" PRIu32 " outputs",
			                path, i, l.name, l.groups, l.in_channels, l.out_channels);
		if (l.groups > 1 && (h->arch != NST_ARCH_ARBITRARY || l.op != NSTW_OP_CONV2D))
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d (%s): groups %" PRIu32 ": only the arbitrary-style network's convolutions are grouped",
			                path, i, l.name, l.groups);
		uint64_t kernel_bytes, need;
		if (!layer_sizes(&l, h->dtype, &kernel_bytes, &need))
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: layer %d (%s): its shape's size overflows", path, i,
			                l.name);
		if (l.bytes != need)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d (%s): %" PRIu64 " data bytes, but its shape needs %" PRIu64, path, i,
			                l.name, l.bytes, need);
		if (l.offset % NSTW_ALIGNMENT != 0)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d (%s): data offset %" PRIu64 " is not a multiple of %u", path, i, l.name,
			                l.offset, NSTW_ALIGNMENT);
		if (l.offset > h->payload_bytes || l.bytes > h->payload_bytes - l.offset)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d (%s): data at offset %" PRIu64 " (%" PRIu64
			                " bytes) lies outside the %" PRIu64 "-byte payload",
			                path, i, l.name, l.offset, l.bytes, h->payload_bytes);
		if (l.offset < previous_end)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: layer %d (%s): data offset %" PRIu64 " overlaps the previous layer's (ending at %" PRIu64 ")",
			                path, i, l.name, l.offset, previous_end);
		previous_end = l.offset + l.bytes;
		if (l.op == NSTW_OP_TAP) {
			const enum nst_status s = check_tap(path, i, w, &l, diag);
			if (s != NST_OK)
				return s;
		} else if (h->arch == NST_ARCH_VGG) {
			const enum nst_status s = check_vgg_layer(path, i, &l, &vgg, diag);
			if (s != NST_OK)
				return s;
		}
	}
	return NST_OK;
}

/* The CRC of the mapped file with the checksum field read as zero. */
static uint32_t file_crc(const uint8_t *map, size_t bytes) {
	const uint8_t zero[sizeof(uint32_t)] = {0};
	uint32_t crc = nst_crc32(0, map, NSTW_CHECKSUM_OFFSET);
	crc = nst_crc32(crc, zero, sizeof zero);
	const size_t after = NSTW_CHECKSUM_OFFSET + sizeof zero;
	return nst_crc32(crc, map + after, bytes - after);
}

/* ---------------------------------------------------------------------------------------------
 * Open / close
 * ------------------------------------------------------------------------------------------- */

/* The first n bytes of the file into buf; a file that ends before them was truncated while it
 * was read (its size was checked first). */
static enum nst_status read_exactly(int fd, uint8_t *buf, size_t n, const char *path, struct nst_diag *diag) {
	size_t done = 0;
	while (done < n) {
		const ssize_t r = pread(fd, buf + done, n - done, (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return nst_fail(diag, NST_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
		if (r == 0)
			return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
			                "%s: truncated while being read: it ends after %zu of its %zu bytes (replaced or cut "
			                "while nst loaded it?)",
			                path, done, n);
		done += (size_t)r;
	}
	return NST_OK;
}

static enum nst_status open_fd(const char *path, int fd, struct nst_weights **out, struct nst_diag *diag) {
	struct stat st;
	if (fstat(fd, &st) != 0)
		return nst_fail(diag, NST_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return nst_fail(diag, NST_ERR_IO, "%s: not a regular file", path);
	const uint64_t file_bytes = (uint64_t)st.st_size;
	if (file_bytes == 0)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: empty file, not a weights file", path);
	if (file_bytes < NSTW_HEADER_BYTES)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s: %" PRIu64 " bytes, shorter than the %u-byte header of a weights file", path, file_bytes,
		                NSTW_HEADER_BYTES);
	uint8_t raw[NSTW_HEADER_BYTES];
	enum nst_status s = read_exactly(fd, raw, sizeof raw, path, diag);
	if (s != NST_OK)
		return s;
	struct nstw_header header;
	decode_header(raw, &header);
	s = check_header(path, &header, file_bytes, diag);
	if (s != NST_OK)
		return s;
	if (file_bytes > SIZE_MAX)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: %" PRIu64 " bytes do not fit this system's address space",
		                path, file_bytes);

	/* Read, not mapped: a mapped file that is truncated or replaced in place while it is read
	 * (an update, a full disk, a second copy) raises SIGBUS at the first page beyond its new end,
	 * which a library cannot catch without a signal handler of its own.  A read file ends short
	 * instead (an error here), and once read it is what the checks below saw. */
	struct nst_weights *w = calloc(1, sizeof *w);
	const size_t rounded = ((size_t)file_bytes + NSTW_ALIGNMENT - 1) / NSTW_ALIGNMENT * NSTW_ALIGNMENT;
	uint8_t *bytes = w && rounded >= file_bytes ? aligned_alloc(NSTW_ALIGNMENT, rounded) : NULL; // [file_bytes]
	if (!w || !bytes) {
		free(w);
		free(bytes);
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "%s: no memory for its %" PRIu64 " bytes", path, file_bytes);
	}
	w->map = bytes;
	w->map_bytes = (size_t)file_bytes;
	s = read_exactly(fd, bytes, w->map_bytes, path, diag);
	if (s == NST_OK && memcmp(bytes, raw, sizeof raw) != 0)
		s = nst_fail(diag, NST_ERR_WEIGHTS_FORMAT, "%s: its header changed while being read (replaced while nst loaded it?)",
		             path);
	if (s != NST_OK) {
		nst_weights_close(w);
		return s;
	}
	w->header = header;
	w->layers = (const struct nstw_layer *)(w->map + NSTW_HEADER_BYTES);
	w->payload = w->map + header.header_bytes;

	s = check_layers(path, w, diag);
	if (s == NST_OK && header.version >= NSTW_VERSION) {
		decode_defaults(w->map + NSTW_HEADER_BYTES + (size_t)NSTW_LAYER_BYTES * header.n_layers, &w->defaults);
		s = check_defaults(path, w, diag);
	}
	if (s == NST_OK) {
		const uint32_t crc = file_crc(w->map, w->map_bytes);
		if (crc != header.checksum)
			s = nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
			             "%s: checksum mismatch: the header says 0x%08" PRIx32 ", the contents give 0x%08" PRIx32
			             " (the file is corrupt)",
			             path, header.checksum, crc);
	}
	if (s != NST_OK) {
		nst_weights_close(w);
		return s;
	}
	*out = w;
	return NST_OK;
}

enum nst_status nst_weights_open(const char *path, struct nst_weights **out, struct nst_diag *diag) {
	if (!out)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_weights_open: no place for the result (out is NULL)");
	*out = NULL;
	if (!path || !*path)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_weights_open: no weights file named");
	/* O_NONBLOCK: a FIFO nobody writes to would block open forever; open_fd refuses it at once. */
	const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return nst_fail(diag, NST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	const enum nst_status s = open_fd(path, fd, out, diag);
	close(fd); /* everything needed was read */
	return s;
}

void nst_weights_close(struct nst_weights *weights) {
	if (!weights)
		return;
	free((void *)weights->map);
	free(weights);
}

/* ---------------------------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------------------------- */

enum nst_arch nst_weights_arch(const struct nst_weights *weights) { return (enum nst_arch)weights->header.arch; }
const char *nst_weights_model(const struct nst_weights *weights) { return weights->header.model; }
enum nst_dtype nst_weights_dtype(const struct nst_weights *weights) { return (enum nst_dtype)weights->header.dtype; }
uint32_t nst_weights_version(const struct nst_weights *weights) { return weights->header.version; }
uint32_t nst_weights_checksum(const struct nst_weights *weights) { return weights->header.checksum; }
uint64_t nst_weights_file_bytes(const struct nst_weights *weights) { return weights->map_bytes; }
int nst_weights_layer_count(const struct nst_weights *weights) { return (int)weights->header.n_layers; }

enum nst_status nst_weights_layer(const struct nst_weights *weights, int index, struct nst_layer_info *out) {
	if (!weights || !out || index < 0 || index >= (int)weights->header.n_layers)
		return NST_ERR_INVALID_ARGUMENT;
	struct nstw_layer l;
	decode_layer(weights, index, &l);
	memset(out, 0, sizeof *out);
	memcpy(out->name, l.name, sizeof out->name); /* NUL-terminated: checked by open */
	out->kernel_h = (int)l.kernel_h;
	out->kernel_w = (int)l.kernel_w;
	out->in_channels = (int)l.in_channels;
	out->out_channels = (int)l.out_channels;
	out->stride = (int)l.stride;
	out->groups = l.groups > 1 ? (int)l.groups : 1;
	out->has_norm = (l.flags & NSTW_FLAG_NORM) != 0;
	out->reflect = (l.flags & NSTW_FLAG_REFLECT) != 0;
	out->tap = l.op == NSTW_OP_TAP;
	if (out->tap)
		memcpy(out->tap_of, l.tap_of, sizeof out->tap_of); /* NUL-terminated: checked by open */
	return NST_OK;
}

const struct nstw_defaults *nst_weights_defaults(const struct nst_weights *weights) {
	return weights->defaults.present ? &weights->defaults : NULL;
}

int nst_weights_find(const struct nst_weights *weights, const char *name) {
	if (!weights || !name)
		return -1;
	for (int i = 0; i < (int)weights->header.n_layers; i++) {
		struct nstw_layer l;
		decode_layer(weights, i, &l);
		if (strcmp(l.name, name) == 0)
			return i;
	}
	return -1;
}

void nst_weights_read_kernel(const struct nst_weights *weights, int layer, float *dst) {
	struct nstw_layer l;
	decode_layer(weights, layer, &l);
	const uint8_t *src = weights->payload + l.offset;  // [kh][kw][cin / groups][cout] in the file's dtype
	const size_t n = kernel_elements(&l);
	if (weights->header.dtype == NST_DTYPE_F16) {
		for (size_t i = 0; i < n; i++)
			dst[i] = nst_f16_to_f32(le16(src + i * sizeof(uint16_t)));
	} else {
		for (size_t i = 0; i < n; i++)
			dst[i] = le_f32(src + i * sizeof(float));
	}
}

void nst_weights_read_vector(const struct nst_weights *weights, int layer, enum nst_weights_vector which, float *dst) {
	struct nstw_layer l;
	decode_layer(weights, layer, &l);
	const size_t cout = l.out_channels;
	if (which != NST_VECTOR_BIAS && !(l.flags & NSTW_FLAG_NORM)) {
		/* No instance norm stored: the identity (gamma 1, beta 0). */
		for (size_t i = 0; i < cout; i++)
			dst[i] = which == NST_VECTOR_GAMMA ? 1.0f : 0.0f;
		return;
	}
	uint64_t kernel_bytes, total;
	layer_sizes(&l, weights->header.dtype, &kernel_bytes, &total); /* cannot overflow: checked by open */
	const size_t bias_at = (size_t)((kernel_bytes + BIAS_ALIGNMENT - 1) / BIAS_ALIGNMENT * BIAS_ALIGNMENT);
	// bias [cout], then gamma [cout], beta [cout], all float32
	const uint8_t *src = weights->payload + l.offset + bias_at + (size_t)which * cout * sizeof(float);
	for (size_t i = 0; i < cout; i++)
		dst[i] = le_f32(src + i * sizeof(float));
}
