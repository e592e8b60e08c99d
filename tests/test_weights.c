/*
 * The weights file (src/weights.c): float16 conversion over every bit pattern, CRC-32, the real
 * VGG19 file if `make weights` built it, and every way a file can be broken.  The broken files are
 * made here from a tiny valid file written by this test itself, in a mkdtemp directory.
 *
 * Env: NST_BUILD (default "build") for $NST_BUILD/vgg19.nstw, NST_SHARED (default "../shared") for
 * the raw TensorFlow.js shards the real file is cross-checked against.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "support.h"

#define PATH_BYTES 2048

/* ---------------------------------------------------------------------------------------------
 * float16 <-> float32
 * ------------------------------------------------------------------------------------------- */

#define F16_COUNT 65536
#define F16_EXP_MASK 0x7c00u
#define F16_MANT_MASK 0x03ffu
#define F16_SIGN 0x8000u
#define F16_MAX_FINITE 0x7bffu
#define F16_INF 0x7c00u

static uint32_t f32_bits(float f) {
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static bool f16_is_nan(uint16_t h) { return (h & F16_EXP_MASK) == F16_EXP_MASK && (h & F16_MANT_MASK) != 0; }

/* The value of a half computed independently: (-1)^s * mant * 2^(exp - 25), or the subnormal rule. */
static float f16_reference(uint16_t h) {
	const int exp = (h & F16_EXP_MASK) >> 10;
	const int mant = h & F16_MANT_MASK;
	double v;
	if (exp == 0x1f)
		v = mant ? NAN : INFINITY;
	else if (exp == 0)
		v = ldexp((double)mant, -24);
	else
		v = ldexp((double)(mant | 0x400), exp - 25);
	return (float)((h & F16_SIGN) ? -v : v);
}

static void test_f16(void) {
	int value_errors = 0, trip_errors = 0, nan_errors = 0, first_value = -1, first_trip = -1, first_nan = -1;
	for (uint32_t i = 0; i < F16_COUNT; i++) {
		const uint16_t h = (uint16_t)i;
		const float f = nst_f16_to_f32(h);
		const uint16_t back = nst_f32_to_f16(f);
		if (f16_is_nan(h)) {
			/* NaN stays NaN, sign kept (payload may differ) */
			if (!isnan(f) || !f16_is_nan(back) || (back & F16_SIGN) != (h & F16_SIGN) ||
			    (signbit(f) != 0) != ((h & F16_SIGN) != 0)) {
				nan_errors++;
				if (first_nan < 0)
					first_nan = (int)i;
			}
			continue;
		}
		if (f32_bits(f) != f32_bits(f16_reference(h))) { /* bits: -0 differs from +0 */
			value_errors++;
			if (first_value < 0)
				first_value = (int)i;
		}
		if (back != h) {
			trip_errors++;
			if (first_trip < 0)
				first_trip = (int)i;
		}
	}
	CHECK(value_errors == 0, "%d halfs decode wrongly, the first 0x%04x -> %a (expected %a)", value_errors,
	      (unsigned)first_value, first_value < 0 ? 0.0 : (double)nst_f16_to_f32((uint16_t)first_value),
	      first_value < 0 ? 0.0 : (double)f16_reference((uint16_t)first_value));
	CHECK(trip_errors == 0, "%d halfs do not round-trip, the first 0x%04x -> 0x%04x", trip_errors,
	      (unsigned)first_trip, first_trip < 0 ? 0u : (unsigned)nst_f32_to_f16(nst_f16_to_f32((uint16_t)first_trip)));
	CHECK(nan_errors == 0, "%d NaN halfs do not stay NaN, the first 0x%04x", nan_errors, (unsigned)first_nan);

	/* Round to nearest, ties to even, between every two neighbouring finite halfs of both signs:
	 * the midpoint (exact in float32) goes to the even one, a float32 step either side to the near one. */
	int tie_errors = 0, side_errors = 0, first_tie = -1, first_side = -1;
	for (uint32_t sign = 0; sign <= F16_SIGN; sign += F16_SIGN) {
		for (uint32_t m = 0; m < F16_MAX_FINITE + 1; m++) {   /* pairs (m, m+1), the last (max, inf) */
			const uint16_t lo = (uint16_t)(sign | m), hi = (uint16_t)(sign | (m + 1));
			const double a = fabs((double)nst_f16_to_f32(lo));
			/* past the largest half, rounding acts as if 65536 came next: 65520 and up round to infinity */
			const double b = m + 1 == F16_INF ? 65536.0 : fabs((double)nst_f16_to_f32(hi));
			const float mid = (float)((a + b) / 2);
			const float smid = sign ? -mid : mid;
			if ((double)mid * 2 != a + b) { /* not exact: the test itself is wrong */
				tie_errors++;
				continue;
			}
			const uint16_t even = (m & 1) ? hi : lo;
			if (nst_f32_to_f16(smid) != even) {
				tie_errors++;
				if (first_tie < 0)
					first_tie = (int)lo;
			}
			const float up = nextafterf(smid, sign ? -INFINITY : INFINITY);
			const float down = nextafterf(smid, 0.0f);
			if (nst_f32_to_f16(up) != hi || nst_f32_to_f16(down) != lo) {
				side_errors++;
				if (first_side < 0)
					first_side = (int)lo;
			}
		}
	}
	CHECK(tie_errors == 0, "%d midpoints do not round to even, the first above 0x%04x", tie_errors, (unsigned)first_tie);
	CHECK(side_errors == 0, "%d near-midpoints round the wrong way, the first above 0x%04x", side_errors,
	      (unsigned)first_side);

	const struct { float f; uint16_t h; } fixed[] = {
		{1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.0f, 0x0000}, {-0.0f, 0x8000}, {65504.0f, 0x7bff},
		{65519.99f, 0x7bff}, {65520.0f, 0x7c00}, {1e9f, 0x7c00}, {-1e30f, 0xfc00}, {INFINITY, 0x7c00},
		{-INFINITY, 0xfc00}, {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x1.8p-25f, 0x0001}, {0x1p-26f, 0x0000},
		{0x1p-14f, 0x0400}, {0x1.ff8p-15f, 0x03ff}, {0x1.ffcp-15f, 0x0400}, {0x1.ffbfp-15f, 0x03ff}, {1e-30f, 0x0000}, {-1e-45f, 0x8000}, {0.1f, 0x2e66},
		{3.14159265f, 0x4248},
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		CHECK(nst_f32_to_f16(fixed[i].f) == fixed[i].h, "%a -> 0x%04x, expected 0x%04x", (double)fixed[i].f,
		      (unsigned)nst_f32_to_f16(fixed[i].f), (unsigned)fixed[i].h);
	CHECK(f16_is_nan(nst_f32_to_f16(NAN)), "NaN -> 0x%04x", (unsigned)nst_f32_to_f16(NAN));
	const uint32_t snan_bits = 0x7f800001u; /* a signalling NaN whose payload is only in the low bits */
	float snan;
	memcpy(&snan, &snan_bits, sizeof snan);
	CHECK(f16_is_nan(nst_f32_to_f16(snan)), "NaN with a low payload -> 0x%04x, not NaN", (unsigned)nst_f32_to_f16(snan));
}

/* ---------------------------------------------------------------------------------------------
 * CRC-32
 * ------------------------------------------------------------------------------------------- */

#define CRC_LONG_BYTES 300001u  /* past the slicing threshold, and not a multiple of 8 */
#define CRC_PIECE_BYTES 1000u   /* below it: the byte-at-a-time path */
#define CRC_PIECE_PRIME 7919u   /* ragged pieces: lengths 1 .. 16, then (piece number x a prime) modulo a bound */
#define CRC_PIECE_MAX_BYTES 3000u

static void test_crc(void) {
	CHECK(nst_crc32(0, "123456789", 9) == 0xCBF43926u, "crc32(\"123456789\") = 0x%08x", nst_crc32(0, "123456789", 9));
	CHECK(nst_crc32(nst_crc32(0, "1234", 4), "56789", 5) == 0xCBF43926u, "chained crc32 differs");
	CHECK(nst_crc32(0, "", 0) == 0, "crc32 of nothing is not 0");
	CHECK(nst_crc32(0, "a", 1) == 0xE8B7BE43u, "crc32(\"a\") = 0x%08x", nst_crc32(0, "a", 1));

	uint8_t *buf = malloc(CRC_LONG_BYTES);
	CHECK(buf != NULL, "malloc");
	if (!buf)
		return;
	struct nst_rng rng;
	nst_rng_seed(&rng, 7);
	for (size_t i = 0; i < CRC_LONG_BYTES; i++)
		buf[i] = (uint8_t)nst_rng_next(&rng);
	uint32_t pieces = 0;
	for (size_t at = 0; at < CRC_LONG_BYTES; at += CRC_PIECE_BYTES)
		pieces = nst_crc32(pieces, buf + at, at + CRC_PIECE_BYTES <= CRC_LONG_BYTES ? CRC_PIECE_BYTES : CRC_LONG_BYTES - at);
	const uint32_t whole = nst_crc32(0, buf, CRC_LONG_BYTES);
	CHECK(whole == pieces, "long-buffer crc 0x%08x differs from the byte-wise one 0x%08x", whole, pieces);
	/* unaligned start */
	CHECK(nst_crc32(nst_crc32(0, buf, 3), buf + 3, CRC_LONG_BYTES - 3) == whole, "crc from an unaligned start differs");
	/* the sliced CRC over tables made once, in pieces of every length up to two slices, then ragged
	 * ones of every length modulo a slice (a checkpoint's file read in chunks) */
	struct nst_crc32_tables tables;
	nst_crc32_tables_make(&tables);
	CHECK(nst_crc32_sliced(&tables, 0, "123456789", 9) == 0xCBF43926u, "sliced crc32(\"123456789\")");
	uint32_t sliced = 0;
	int residues = 0; /* bit r: a piece of length r modulo a slice (8) was taken */
	for (size_t at = 0, piece = 0, k = 0; at < CRC_LONG_BYTES; at += piece, k++) {
		piece = k < 2 * NST_CRC32_SLICES ? k + 1 : 1 + (k * CRC_PIECE_PRIME) % CRC_PIECE_MAX_BYTES;
		if (piece > CRC_LONG_BYTES - at)
			piece = CRC_LONG_BYTES - at;
		residues |= 1 << (piece % NST_CRC32_SLICES);
		sliced = nst_crc32_sliced(&tables, sliced, buf + at, piece);
	}
	CHECK(residues == (1 << NST_CRC32_SLICES) - 1, "the ragged pieces missed a length modulo 8 (0x%x)", residues);
	CHECK(sliced == whole, "the sliced crc in ragged pieces 0x%08x differs from 0x%08x", sliced, whole);
	free(buf);
}

/* ---------------------------------------------------------------------------------------------
 * A tiny .nstw writer (independent of weights/convert.py)
 * ------------------------------------------------------------------------------------------- */

struct tiny_layer {
	const char *name;
	uint32_t kh, kw, cin, cout, stride;
	bool norm;
};

#define TINY_MAX_LAYERS 8
#define HDR(field) offsetof(struct nstw_header, field)
#define LAYER_AT(i, field) (NSTW_HEADER_BYTES + (size_t)(i) * NSTW_LAYER_BYTES + offsetof(struct nstw_layer, field))

struct tiny_file {
	uint8_t *bytes;
	size_t size;
	uint32_t dtype;
	int n_layers;
	struct tiny_layer layers[TINY_MAX_LAYERS];
};

static void put_u32(uint8_t *p, uint32_t v) {
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v) {
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_u64(const uint8_t *p) {
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* Values with many mantissa bits, so that float16 storage must round them. */
static float kernel_value(int layer, size_t i) { return 1.5f * sinf(0.37f * (float)i + (float)layer); }
static float vector_value(int layer, int which, size_t i) {
	return (float)(which + 1) * 0.01f * (float)(i + 1) - 0.1f * (float)layer;
}

/* Sets the checksum: CRC-32 of the file with the field as 0. */
static void seal(uint8_t *bytes, size_t size) {
	put_u32(bytes + HDR(checksum), 0);
	put_u32(bytes + HDR(checksum), nst_crc32(0, bytes, size));
}

static bool tiny_build(struct tiny_file *t, uint32_t arch, uint32_t dtype, const struct tiny_layer *layers, int n) {
	memset(t, 0, sizeof *t);
	t->dtype = dtype;
	t->n_layers = n;
	memcpy(t->layers, layers, sizeof *layers * (size_t)n);
	const size_t esize = dtype == NST_DTYPE_F16 ? sizeof(uint16_t) : sizeof(float);
	const size_t header_bytes = round_up(NSTW_HEADER_BYTES + NSTW_LAYER_BYTES * (size_t)n, NSTW_ALIGNMENT);
	size_t offsets[TINY_MAX_LAYERS], bias_at[TINY_MAX_LAYERS], pos = 0;
	for (int l = 0; l < n; l++) {
		offsets[l] = round_up(pos, NSTW_ALIGNMENT);
		const size_t elems = (size_t)layers[l].kh * layers[l].kw * layers[l].cin * layers[l].cout;
		bias_at[l] = round_up(elems * esize, sizeof(float));
		pos = offsets[l] + bias_at[l] + sizeof(float) * layers[l].cout * (layers[l].norm ? 3 : 1);
	}
	t->size = header_bytes + pos;
	t->bytes = calloc(1, t->size);
	if (!t->bytes)
		return false;
	uint8_t *b = t->bytes;
	memcpy(b + HDR(magic), NSTW_MAGIC, 4);
	put_u32(b + HDR(version), NSTW_VERSION_1);
	put_u32(b + HDR(header_bytes), (uint32_t)header_bytes);
	put_u32(b + HDR(n_layers), (uint32_t)n);
	put_u32(b + HDR(dtype), dtype);
	put_u32(b + HDR(arch), arch);
	strcpy((char *)b + HDR(model), "tiny");
	put_u64(b + HDR(payload_bytes), pos);
	strcpy((char *)b + HDR(source), "test_weights.c");
	for (int l = 0; l < n; l++) {
		const struct tiny_layer *s = &layers[l];
		strcpy((char *)b + LAYER_AT(l, name), s->name);
		put_u32(b + LAYER_AT(l, op), NSTW_OP_CONV2D);
		put_u32(b + LAYER_AT(l, kernel_h), s->kh);
		put_u32(b + LAYER_AT(l, kernel_w), s->kw);
		put_u32(b + LAYER_AT(l, in_channels), s->cin);
		put_u32(b + LAYER_AT(l, out_channels), s->cout);
		put_u32(b + LAYER_AT(l, stride), s->stride);
		put_u32(b + LAYER_AT(l, flags), s->norm ? NSTW_FLAG_NORM : 0);
		put_u64(b + LAYER_AT(l, offset), offsets[l]);
		put_u64(b + LAYER_AT(l, bytes), bias_at[l] + sizeof(float) * s->cout * (s->norm ? 3 : 1));
		uint8_t *data = b + header_bytes + offsets[l];
		const size_t elems = (size_t)s->kh * s->kw * s->cin * s->cout;
		for (size_t i = 0; i < elems; i++) { // [kh][kw][cin][cout]
			const float v = kernel_value(l, i);
			if (dtype == NST_DTYPE_F16) {
				const uint16_t h = nst_f32_to_f16(v);
				data[2 * i] = (uint8_t)h;
				data[2 * i + 1] = (uint8_t)(h >> 8);
			} else {
				put_u32(data + 4 * i, f32_bits(v));
			}
		}
		for (int which = 0; which < (s->norm ? 3 : 1); which++) // bias, gamma, beta: [cout] each
			for (size_t i = 0; i < s->cout; i++)
				put_u32(data + bias_at[l] + sizeof(float) * (which * s->cout + i), f32_bits(vector_value(l, which, i)));
	}
	seal(b, t->size);
	return true;
}

/* Opens path expecting failure `want` with a one-line message naming the file and holding needle. */
static void expect_open_fails(const char *path, const char *what, enum nst_status want, const char *needle) {
	struct nst_weights *w = (struct nst_weights *)(uintptr_t)&check_passed_count; /* must be reset to NULL */
	struct nst_diag diag;
	memset(&diag, 0, sizeof diag);
	const enum nst_status s = nst_weights_open(path, &w, &diag);
	CHECK(s == want, "%s: status \"%s\", expected \"%s\" (%s)", what, nst_status_string(s), nst_status_string(want),
	      diag.message);
	CHECK(w == NULL, "%s: the failed open left *out set", what);
	if (s == NST_OK && w)
		nst_weights_close(w);
	CHECK(diag.message[0] != '\0', "%s: empty message", what);
	CHECK(strstr(diag.message, path) != NULL, "%s: message \"%s\" does not name %s", what, diag.message, path);
	CHECK(strchr(diag.message, '\n') == NULL, "%s: message is not one line", what);
	CHECK(strstr(diag.message, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, diag.message, needle);
	/* the same without a diag: no crash, same status */
	w = NULL;
	CHECK(nst_weights_open(path, &w, NULL) == want, "%s: different status without a diag", what);
	if (w)
		nst_weights_close(w);
}

/* Writes bytes as dir/what.nstw and expects the open to fail. */
static void expect_bytes_fail(const char *dir, const char *what, const uint8_t *bytes, size_t size,
                              enum nst_status want, const char *needle) {
	char path[PATH_BYTES];
	snprintf(path, sizeof path, "%s/%s.nstw", dir, what);
	CHECK(support_write_file(path, bytes, size) == 0, "cannot write %s", path);
	expect_open_fails(path, what, want, needle);
}

/* A copy of the tiny file with a u32 (or u64) field changed, resealed or not. */
static void expect_mutation(const char *dir, const struct tiny_file *t, const char *what, size_t at, uint64_t value,
                            bool is_u64, bool reseal, enum nst_status want, const char *needle) {
	uint8_t *c = malloc(t->size);
	CHECK(c != NULL, "malloc");
	if (!c)
		return;
	memcpy(c, t->bytes, t->size);
	if (is_u64)
		put_u64(c + at, value);
	else
		put_u32(c + at, (uint32_t)value);
	if (reseal)
		seal(c, t->size);
	expect_bytes_fail(dir, what, c, t->size, want, needle);
	free(c);
}

static void expect_tiny_fails(const char *dir, const char *what, uint32_t arch, const struct tiny_layer *layers, int n,
                              const char *needle) {
	struct tiny_file t;
	CHECK(tiny_build(&t, arch, NST_DTYPE_F32, layers, n), "tiny_build");
	if (!t.bytes)
		return;
	expect_bytes_fail(dir, what, t.bytes, t.size, NST_ERR_WEIGHTS_FORMAT, needle);
	free(t.bytes);
}

/* Opens a valid tiny file and checks every accessor and value. */
static void check_tiny_reads(const char *path, const struct tiny_file *t, uint32_t arch) {
	struct nst_weights *w = NULL;
	struct nst_diag diag = {{0}};
	const enum nst_status s = nst_weights_open(path, &w, &diag);
	CHECK(s == NST_OK && w != NULL, "%s: %s: %s", path, nst_status_string(s), diag.message);
	if (s != NST_OK || !w)
		return;
	CHECK(nst_weights_arch(w) == (enum nst_arch)arch, "arch %d", (int)nst_weights_arch(w));
	CHECK(strcmp(nst_weights_model(w), "tiny") == 0, "model \"%s\"", nst_weights_model(w));
	CHECK(nst_weights_dtype(w) == (enum nst_dtype)t->dtype, "dtype %d", (int)nst_weights_dtype(w));
	CHECK(nst_weights_version(w) == NSTW_VERSION_1, "version %u", nst_weights_version(w));
	uint32_t stored = 0;
	for (int i = 3; i >= 0; i--)
		stored = stored << 8 | t->bytes[HDR(checksum) + (size_t)i];
	CHECK(nst_weights_checksum(w) == stored, "checksum 0x%08x, file has 0x%08x", nst_weights_checksum(w), stored);
	CHECK(nst_weights_file_bytes(w) == t->size, "file_bytes %llu, expected %zu",
	      (unsigned long long)nst_weights_file_bytes(w), t->size);
	CHECK(nst_weights_layer_count(w) == t->n_layers, "layer count %d", nst_weights_layer_count(w));
	struct nst_layer_info info;
	CHECK(nst_weights_layer(w, t->n_layers, &info) == NST_ERR_INVALID_ARGUMENT, "layer index past the end accepted");
	CHECK(nst_weights_layer(w, -1, &info) == NST_ERR_INVALID_ARGUMENT, "layer index -1 accepted");
	CHECK(nst_weights_find(w, "nope") == -1, "found a layer named nope");
	CHECK(nst_weights_find(w, "") == -1, "found a layer with an empty name");
	for (int l = 0; l < t->n_layers; l++) {
		const struct tiny_layer *e = &t->layers[l];
		CHECK(nst_weights_layer(w, l, &info) == NST_OK, "layer %d", l);
		CHECK(strcmp(info.name, e->name) == 0 && info.kernel_h == (int)e->kh && info.kernel_w == (int)e->kw &&
		          info.in_channels == (int)e->cin && info.out_channels == (int)e->cout &&
		          info.stride == (int)e->stride && info.has_norm == e->norm,
		      "layer %d reads back as %s %dx%d %d->%d stride %d norm %d", l, info.name, info.kernel_h,
		      info.kernel_w, info.in_channels, info.out_channels, info.stride, (int)info.has_norm);
		CHECK(nst_weights_find(w, e->name) == l, "find(%s) = %d", e->name, nst_weights_find(w, e->name));
		const size_t elems = (size_t)e->kh * e->kw * e->cin * e->cout;
		float *k = malloc(sizeof(float) * elems), *v = malloc(sizeof(float) * e->cout);
		CHECK(k && v, "malloc");
		if (!k || !v) {
			free(k);
			free(v);
			break;
		}
		nst_weights_read_kernel(w, l, k); // [kh][kw][cin][cout]
		int bad = 0, first = -1;
		for (size_t i = 0; i < elems; i++) {
			const float want = kernel_value(l, i);
			bool ok;
			if (t->dtype == NST_DTYPE_F16) /* within half a float16 ulp (all values here are normal halfs) */
				ok = fabsf(k[i] - want) <= ldexpf(fabsf(want), -11) && k[i] == nst_f16_to_f32(nst_f32_to_f16(want));
			else
				ok = f32_bits(k[i]) == f32_bits(want);
			if (!ok && bad++ == 0)
				first = (int)i;
		}
		CHECK(bad == 0, "layer %d: %d kernel values differ, the first [%d] %a vs %a", l, bad, first,
		      first < 0 ? 0.0 : (double)k[first], first < 0 ? 0.0 : (double)kernel_value(l, (size_t)first));
		const enum nst_weights_vector which[] = {NST_VECTOR_BIAS, NST_VECTOR_GAMMA, NST_VECTOR_BETA};
		for (int j = 0; j < 3; j++) {
			nst_weights_read_vector(w, l, which[j], v);
			bad = 0;
			for (size_t i = 0; i < e->cout; i++) {
				const float want = (j == 0 || e->norm) ? vector_value(l, j, i) : (j == 1 ? 1.0f : 0.0f);
				bad += f32_bits(v[i]) != f32_bits(want);
			}
			CHECK(bad == 0, "layer %d vector %d: %d values differ", l, j, bad);
		}
		free(k);
		free(v);
	}
	nst_weights_close(w);
}

static void test_files(const char *dir) {
	const struct tiny_layer vgg[] = {
		{"conv1_1", 3, 3, 3, 4, 1, false},
		{"conv1_2", 3, 3, 4, 5, 1, false},
	};
	struct tiny_file t;
	CHECK(tiny_build(&t, NST_ARCH_VGG, NST_DTYPE_F32, vgg, 2), "tiny_build");
	if (!t.bytes)
		return;
	char path[PATH_BYTES];
	snprintf(path, sizeof path, "%s/valid.nstw", dir);
	CHECK(support_write_file(path, t.bytes, t.size) == 0, "cannot write %s", path);
	check_tiny_reads(path, &t, NST_ARCH_VGG);

	/* float16 storage, a transformer with instance norm, an odd kernel size (the bias is then padded
	 * to a multiple of 4 bytes) and a stride of 2 */
	const struct tiny_layer fast[] = {
		{"conv1", 3, 3, 3, 3, 1, true},
		{"conv2", 1, 1, 3, 5, 2, true},
		{"conv3", 3, 3, 5, 3, 1, false},
	};
	struct tiny_file t16;
	CHECK(tiny_build(&t16, NST_ARCH_TRANSFORMER, NST_DTYPE_F16, fast, 3), "tiny_build f16");
	if (t16.bytes) {
		char p16[PATH_BYTES];
		snprintf(p16, sizeof p16, "%s/valid16.nstw", dir);
		CHECK(support_write_file(p16, t16.bytes, t16.size) == 0, "cannot write %s", p16);
		check_tiny_reads(p16, &t16, NST_ARCH_TRANSFORMER);
		free(t16.bytes);
	}

	/* --- the corruption matrix --- */
	char missing[PATH_BYTES];
	snprintf(missing, sizeof missing, "%s/does-not-exist.nstw", dir);
	expect_open_fails(missing, "nonexistent", NST_ERR_IO, "cannot open");
	expect_open_fails(dir, "directory", NST_ERR_IO, "not a regular file");
	expect_bytes_fail(dir, "empty", t.bytes, 0, NST_ERR_WEIGHTS_FORMAT, "empty");
	expect_bytes_fail(dir, "ten-bytes", t.bytes, 10, NST_ERR_WEIGHTS_FORMAT, "10 bytes, shorter than the 128-byte header");
	expect_bytes_fail(dir, "header-only", t.bytes, NSTW_HEADER_BYTES, NST_ERR_WEIGHTS_FORMAT, "truncated");
	char needle[128];
	snprintf(needle, sizeof needle, "truncated: %zu bytes expected, %zu found", t.size, t.size - 10);
	expect_bytes_fail(dir, "truncated", t.bytes, t.size - 10, NST_ERR_WEIGHTS_FORMAT, needle);
	{
		uint8_t *c = calloc(1, t.size + 1);
		CHECK(c != NULL, "calloc");
		if (c) {
			memcpy(c, t.bytes, t.size);
			expect_bytes_fail(dir, "trailing", c, t.size + 1, NST_ERR_WEIGHTS_FORMAT, "trailing");
			memcpy(c, t.bytes, t.size);
			c[t.size - 7] ^= 0x10;   /* a payload byte (the last bias) */
			expect_bytes_fail(dir, "flipped-payload", c, t.size, NST_ERR_WEIGHTS_CHECKSUM, "checksum mismatch");
			memcpy(c, t.bytes, t.size);
			c[HDR(source) + 20] ^= 0x01; /* a header byte that nothing else checks */
			expect_bytes_fail(dir, "flipped-header", c, t.size, NST_ERR_WEIGHTS_CHECKSUM, "checksum mismatch");
			memcpy(c, t.bytes, t.size);
			c[LAYER_AT(1, reserved1) + 3] ^= 0x80; /* a reserved byte of the layer table */
			expect_bytes_fail(dir, "flipped-table", c, t.size, NST_ERR_WEIGHTS_CHECKSUM, "checksum mismatch");
			memcpy(c, t.bytes, t.size);
			c[HDR(checksum)] ^= 0x01;
			expect_bytes_fail(dir, "flipped-checksum", c, t.size, NST_ERR_WEIGHTS_CHECKSUM, "checksum mismatch");
			memcpy(c, t.bytes, t.size);
			memset(c + LAYER_AT(0, name), 'x', NST_LAYER_NAME_BYTES);
			seal(c, t.size);
			expect_bytes_fail(dir, "name-unterminated", c, t.size, NST_ERR_WEIGHTS_FORMAT, "NUL-terminated");
			memcpy(c, t.bytes, t.size);
			memset(c + HDR(model), 'm', sizeof(((struct nstw_header *)0)->model));
			seal(c, t.size);
			expect_bytes_fail(dir, "model-unterminated", c, t.size, NST_ERR_WEIGHTS_FORMAT, "NUL-terminated");
			memcpy(c, t.bytes, t.size);
			memcpy(c + HDR(magic), "GGUF", 4);
			seal(c, t.size);
			expect_bytes_fail(dir, "magic", c, t.size, NST_ERR_WEIGHTS_FORMAT, "not a weights file");
			free(c);
		}
	}
	const uint64_t payload = get_u64(t.bytes + HDR(payload_bytes));
	const uint64_t offset1 = get_u64(t.bytes + LAYER_AT(1, offset));
	const uint64_t bytes1 = get_u64(t.bytes + LAYER_AT(1, bytes));
	/*                          name                offset                      value    u64?   reseal  status                   needle */
	expect_mutation(dir, &t, "version4", HDR(version), 4, false, true, NST_ERR_WEIGHTS_VERSION, "version 4; this build reads versions 1 to 3");
	expect_mutation(dir, &t, "version0", HDR(version), 0, false, true, NST_ERR_WEIGHTS_VERSION, "version 0");
	expect_mutation(dir, &t, "version4-unsealed", HDR(version), 4, false, false, NST_ERR_WEIGHTS_VERSION, "version 4");
	expect_mutation(dir, &t, "layers0", HDR(n_layers), 0, false, true, NST_ERR_WEIGHTS_FORMAT, "0 layers");
	expect_mutation(dir, &t, "layers100000", HDR(n_layers), 100000, false, true, NST_ERR_WEIGHTS_FORMAT, "100000 layers");
	expect_mutation(dir, &t, "layers3", HDR(n_layers), 3, false, true, NST_ERR_WEIGHTS_FORMAT, "header_bytes");
	expect_mutation(dir, &t, "header-bytes-absurd", HDR(header_bytes), 0xfffffff0u, false, true, NST_ERR_WEIGHTS_FORMAT, "header_bytes is 4294967280");
	expect_mutation(dir, &t, "header-bytes-0", HDR(header_bytes), 0, false, true, NST_ERR_WEIGHTS_FORMAT, "header_bytes is 0");
	expect_mutation(dir, &t, "dtype7", HDR(dtype), 7, false, true, NST_ERR_WEIGHTS_FORMAT, "dtype 7");
	expect_mutation(dir, &t, "arch9", HDR(arch), 9, false, true, NST_ERR_WEIGHTS_FORMAT, "arch 9");
	expect_mutation(dir, &t, "payload-absurd", HDR(payload_bytes), UINT64_MAX - 5, true, true, NST_ERR_WEIGHTS_FORMAT, "absurd");
	expect_mutation(dir, &t, "payload-longer", HDR(payload_bytes), payload + 64, true, true, NST_ERR_WEIGHTS_FORMAT, "truncated");
	expect_mutation(dir, &t, "payload-shorter", HDR(payload_bytes), payload - 64, true, true, NST_ERR_WEIGHTS_FORMAT, "trailing");
	expect_mutation(dir, &t, "offset-past-end", LAYER_AT(1, offset), round_up(payload, NSTW_ALIGNMENT) + NSTW_ALIGNMENT, true, true, NST_ERR_WEIGHTS_FORMAT, "outside");
	expect_mutation(dir, &t, "offset-huge", LAYER_AT(1, offset), UINT64_MAX - 63, true, true, NST_ERR_WEIGHTS_FORMAT, "outside");
	expect_mutation(dir, &t, "offset-misaligned", LAYER_AT(1, offset), offset1 + 4, true, true, NST_ERR_WEIGHTS_FORMAT, "not a multiple of 64");
	expect_mutation(dir, &t, "offset-overlap", LAYER_AT(1, offset), 0, true, true, NST_ERR_WEIGHTS_FORMAT, "overlaps");
	expect_mutation(dir, &t, "bytes-wrong", LAYER_AT(1, bytes), bytes1 - 4, true, true, NST_ERR_WEIGHTS_FORMAT, "its shape needs");
	expect_mutation(dir, &t, "bytes-huge", LAYER_AT(1, bytes), UINT64_MAX, true, true, NST_ERR_WEIGHTS_FORMAT, "its shape needs");
	expect_mutation(dir, &t, "cout-7fffffff", LAYER_AT(1, out_channels), 0x7fffffffu, false, true, NST_ERR_WEIGHTS_FORMAT, "out_channels is 2147483647");
	expect_mutation(dir, &t, "cin-65536", LAYER_AT(0, in_channels), 65536, false, true, NST_ERR_WEIGHTS_FORMAT, "in_channels is 65536");
	expect_mutation(dir, &t, "kh-0", LAYER_AT(0, kernel_h), 0, false, true, NST_ERR_WEIGHTS_FORMAT, "kernel_h is 0");
	expect_mutation(dir, &t, "kw-ffffffff", LAYER_AT(0, kernel_w), 0xffffffffu, false, true, NST_ERR_WEIGHTS_FORMAT, "kernel_w is 4294967295");
	expect_mutation(dir, &t, "stride-0", LAYER_AT(1, stride), 0, false, true, NST_ERR_WEIGHTS_FORMAT, "stride is 0");
	expect_mutation(dir, &t, "op-2", LAYER_AT(0, op), 2, false, true, NST_ERR_WEIGHTS_FORMAT, "unknown op 2");
	expect_mutation(dir, &t, "flags-2", LAYER_AT(0, flags), 2, false, true, NST_ERR_WEIGHTS_FORMAT, "unknown flags");
	expect_mutation(dir, &t, "flags-norm", LAYER_AT(0, flags), NSTW_FLAG_NORM, false, true, NST_ERR_WEIGHTS_FORMAT, "its shape needs");
	{
		/* the largest shape every field allows: its size overflows 64 bits and must not be used */
		uint8_t *c = malloc(t.size);
		CHECK(c != NULL, "malloc");
		if (c) {
			memcpy(c, t.bytes, t.size);
			put_u32(c + LAYER_AT(1, kernel_h), NSTW_MAX_DIM);
			put_u32(c + LAYER_AT(1, kernel_w), NSTW_MAX_DIM);
			put_u32(c + LAYER_AT(1, in_channels), NSTW_MAX_DIM);
			put_u32(c + LAYER_AT(1, out_channels), NSTW_MAX_DIM);
			seal(c, t.size);
			expect_bytes_fail(dir, "shape-overflow", c, t.size, NST_ERR_WEIGHTS_FORMAT, "overflows");
			/* large but representable: 65535^3 * 4 bytes, claimed by `bytes` too, beyond the payload */
			put_u32(c + LAYER_AT(1, kernel_w), 1);
			put_u64(c + LAYER_AT(1, bytes), (uint64_t)NSTW_MAX_DIM * NSTW_MAX_DIM * NSTW_MAX_DIM * sizeof(float) +
			                                    sizeof(float) * NSTW_MAX_DIM);
			seal(c, t.size);
			expect_bytes_fail(dir, "shape-huge", c, t.size, NST_ERR_WEIGHTS_FORMAT, "outside");
			free(c);
		}
	}

	/* VGG structure: names without gaps in table order, channels chained from the RGB input */
	const struct tiny_layer gap[] = {{"conv1_1", 3, 3, 3, 4, 1, false}, {"conv1_3", 3, 3, 4, 4, 1, false}};
	expect_tiny_fails(dir, "vgg-gap", NST_ARCH_VGG, gap, 2, "\"conv1_3\"; after conv1_1 a VGG network has conv1_2 or conv2_1");
	const struct tiny_layer block_gap[] = {{"conv1_1", 3, 3, 3, 4, 1, false}, {"conv3_1", 3, 3, 4, 4, 1, false}};
	expect_tiny_fails(dir, "vgg-block-gap", NST_ARCH_VGG, block_gap, 2, "conv3_1");
	const struct tiny_layer first[] = {{"conv2_1", 3, 3, 3, 4, 1, false}};
	expect_tiny_fails(dir, "vgg-first", NST_ARCH_VGG, first, 1, "starts with conv1_1");
	const struct tiny_layer foreign[] = {{"conv1_1", 3, 3, 3, 4, 1, false}, {"fc6", 3, 3, 4, 4, 1, false}};
	expect_tiny_fails(dir, "vgg-foreign", NST_ARCH_VGG, foreign, 2, "\"fc6\"");
	const struct tiny_layer chain[] = {{"conv1_1", 3, 3, 3, 4, 1, false}, {"conv1_2", 3, 3, 5, 4, 1, false}};
	expect_tiny_fails(dir, "vgg-channels", NST_ARCH_VGG, chain, 2, "has 5 in_channels; the previous layer's output has 4");
	const struct tiny_layer rgb[] = {{"conv1_1", 3, 3, 4, 4, 1, false}};
	expect_tiny_fails(dir, "vgg-input", NST_ARCH_VGG, rgb, 1, "RGB input has 3");
	const struct tiny_layer twice[] = {{"conv1", 3, 3, 3, 4, 1, false}, {"conv1", 3, 3, 4, 4, 1, false}};
	expect_tiny_fails(dir, "duplicate-name", NST_ARCH_TRANSFORMER, twice, 2, "both named \"conv1\"");
	/* a valid VGG prefix with 1x1 kernels, one conv per block */
	const struct tiny_layer blocks[] = {
		{"conv1_1", 1, 1, 3, 2, 1, false}, {"conv2_1", 1, 1, 2, 2, 1, false}, {"conv3_1", 1, 1, 2, 2, 1, false},
		{"conv4_1", 1, 1, 2, 2, 1, false}, {"conv5_1", 1, 1, 2, 2, 1, false}, {"conv6_1", 1, 1, 2, 2, 1, false},
	};
	struct tiny_file t5;
	CHECK(tiny_build(&t5, NST_ARCH_VGG, NST_DTYPE_F32, blocks, 5), "tiny_build");
	if (t5.bytes) {
		char p5[PATH_BYTES];
		snprintf(p5, sizeof p5, "%s/five-blocks.nstw", dir);
		CHECK(support_write_file(p5, t5.bytes, t5.size) == 0, "write");
		check_tiny_reads(p5, &t5, NST_ARCH_VGG);
		free(t5.bytes);
	}
	/* VGG has five blocks: conv6_1 is not a VGG layer */
	expect_tiny_fails(dir, "vgg-block6", NST_ARCH_VGG, blocks, 6, "\"conv6_1\"; after conv5_1 a VGG network (5 blocks) has only conv5_2");
	free(t.bytes);
}

/* ---------------------------------------------------------------------------------------------
 * The real file
 * ------------------------------------------------------------------------------------------- */

static const struct { const char *name; int cin, cout; } vgg19_layers[] = {
	{"conv1_1", 3, 64},    {"conv1_2", 64, 64},   {"conv2_1", 64, 128},  {"conv2_2", 128, 128},
	{"conv3_1", 128, 256}, {"conv3_2", 256, 256}, {"conv3_3", 256, 256}, {"conv3_4", 256, 256},
	{"conv4_1", 256, 512}, {"conv4_2", 512, 512}, {"conv4_3", 512, 512}, {"conv4_4", 512, 512},
	{"conv5_1", 512, 512}, {"conv5_2", 512, 512}, {"conv5_3", 512, 512}, {"conv5_4", 512, 512},
};
#define VGG19_BLOCKS1_3 8
#define VGG19_ALL 16

/* Layer `layer` of the file against the raw float32 shard (kernel HWIO then bias), value by value. */
static void cross_check_shard(const struct nst_weights *w, int layer, const char *shard) {
	size_t size = 0;
	uint8_t *raw = support_read_file(shard, &size);
	if (!raw) {
		printf("note: %s not readable: skipping the shard cross-check of layer %d\n", shard, layer);
		return;
	}
	struct nst_layer_info info;
	CHECK(nst_weights_layer(w, layer, &info) == NST_OK, "layer %d", layer);
	const size_t elems = (size_t)info.kernel_h * info.kernel_w * info.in_channels * info.out_channels;
	CHECK(size == sizeof(float) * (elems + (size_t)info.out_channels), "%s is %zu bytes; %s needs %zu", shard, size,
	      info.name, sizeof(float) * (elems + (size_t)info.out_channels));
	float *k = malloc(sizeof(float) * elems), *b = malloc(sizeof(float) * (size_t)info.out_channels);
	if (k && b && size == sizeof(float) * (elems + (size_t)info.out_channels)) {
		nst_weights_read_kernel(w, layer, k); // [3][3][cin][cout]
		nst_weights_read_vector(w, layer, NST_VECTOR_BIAS, b);
		size_t bad = 0, first = 0;
		for (size_t i = 0; i < elems + (size_t)info.out_channels; i++) {
			uint32_t want = 0;
			for (int j = 3; j >= 0; j--)
				want = want << 8 | raw[4 * i + (size_t)j];
			const float got = i < elems ? k[i] : b[i - elems];
			if (f32_bits(got) != want && bad++ == 0)
				first = i;
		}
		CHECK(bad == 0, "%s: %zu values differ from %s, the first at float %zu", info.name, bad, shard, first);
		/* one value by its HWIO coordinates: kernel[1][2][c][o] */
		const size_t c = (size_t)info.in_channels - 1, o = 5;
		const size_t at = ((1 * 3 + 2) * (size_t)info.in_channels + c) * (size_t)info.out_channels + o;
		uint32_t want = 0;
		for (int j = 3; j >= 0; j--)
			want = want << 8 | raw[4 * at + (size_t)j];
		CHECK(f32_bits(k[at]) == want, "%s kernel[1][2][%zu][%zu] = %a, shard has bits 0x%08x", info.name, c, o,
		      (double)k[at], want);
	}
	free(k);
	free(b);
	free(raw);
}

static void test_real_file(const char *build, const char *shared) {
	char path[PATH_BYTES];
	snprintf(path, sizeof path, "%s/vgg19.nstw", build);
	if (access(path, F_OK) != 0) {
		printf("note: %s not found: skipping the real-weights checks (run make weights)\n", path);
		return;
	}
	struct nst_weights *w = NULL;
	struct nst_diag diag = {{0}};
	const enum nst_status s = nst_weights_open(path, &w, &diag);
	CHECK(s == NST_OK, "%s: %s", nst_status_string(s), diag.message);
	if (s != NST_OK)
		return;
	const int n = nst_weights_layer_count(w);
	CHECK(n == VGG19_BLOCKS1_3 || n == VGG19_ALL, "%s has %d layers", path, n);
	CHECK(strcmp(nst_weights_model(w), "vgg19") == 0, "model %s", nst_weights_model(w));
	CHECK(nst_weights_arch(w) == NST_ARCH_VGG, "arch %d", (int)nst_weights_arch(w));
	for (int l = 0; l < n && l < VGG19_ALL; l++) {
		struct nst_layer_info info;
		CHECK(nst_weights_layer(w, l, &info) == NST_OK, "layer %d", l);
		CHECK(strcmp(info.name, vgg19_layers[l].name) == 0 && info.kernel_h == 3 && info.kernel_w == 3 &&
		          info.in_channels == vgg19_layers[l].cin && info.out_channels == vgg19_layers[l].cout &&
		          info.stride == 1 && !info.has_norm,
		      "layer %d is %s %dx%d %d->%d, expected %s 3x3 %d->%d", l, info.name, info.kernel_h, info.kernel_w,
		      info.in_channels, info.out_channels, vgg19_layers[l].name, vgg19_layers[l].cin, vgg19_layers[l].cout);
	}
	float bias[64];
	nst_weights_read_vector(w, 0, NST_VECTOR_BIAS, bias);
	const float want[] = {0.7301776f, 0.06493629f, 0.03428847f};
	for (int i = 0; i < 3; i++)
		CHECK(fabsf(bias[i] - want[i]) <= 1e-7f, "conv1_1 bias[%d] = %.9g, expected %.9g", i, (double)bias[i],
		      (double)want[i]);
	if (nst_weights_dtype(w) == NST_DTYPE_F32) {
		char shard[PATH_BYTES];
		snprintf(shard, sizeof shard, "%s/weights/vgg19-imagenet-blocks1-3/group1-shard1of1", shared);
		cross_check_shard(w, 0, shard);
		snprintf(shard, sizeof shard, "%s/weights/vgg19-imagenet-blocks1-3/group8-shard1of1", shared);
		cross_check_shard(w, 7, shard);
	}
	nst_weights_close(w);
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

int main(void) {
	const char *build = check_env("NST_BUILD", "build");
	const char *shared = check_env("NST_SHARED", "../shared");
	test_f16();
	test_crc();
	char *dir = support_tmpdir("weights");
	CHECK(dir != NULL, "mkdtemp");
	if (dir)
		test_files(dir);
	support_rmdir(dir);
	free(dir);
	test_real_file(build, shared);
	nst_weights_close(NULL);
	return check_finish("test_weights");
}
