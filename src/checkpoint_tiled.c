/*
 * A tiled run's checkpoints (src/picture_tiles.c's driver): the whole picture as the tiles before
 * the current one left it, and where the run stands; a resumed run starts the current tile over
 * (a tile is -n iterations at the tile's size), so that it continues to exactly the uninterrupted
 * run's picture: the picture under a running tile changes only when the tile ends, so the
 * checkpoint can be taken at any row, and an interrupted tile's own pixels are not saved.
 *
 * File (version 1): the header below, the picture [H][W][3] float32, then the CRC-32 of every
 * byte before it (as src/checkpoint.c's).  A load checks the magic, the version, the size, the
 * CRC, the tile grid (the plan of the tiles), the fingerprint (options, the whole content
 * picture, the style pictures' regions), then each field's bounds.
 */
#include <math.h>
#include <string.h>

#include "checkpoint.h"
#include "picture_tiles.h"

#define TILED_VERSION 1u

struct tiled_header {
	char magic[4];               /* NST_CHECKPOINT_TILED_MAGIC */
	uint32_t version;
	uint32_t width, height;      /* the picture */
	uint32_t side, tile_width, tile_height, overlap, sweeps;
	uint32_t reserved;           /* 0 */
	uint32_t sweep, tile;        /* the tile to run (from its start) */
	int32_t row;                 /* loss rows of the tiles before it */
	uint32_t done;               /* every tile has run */
	uint32_t config_crc;         /* options, the whole content picture, the style regions, the grid */
	uint32_t reserved2;          /* 0 */
	double seconds;              /* of the tiles before it */
	struct nst_checkpoint_place_record place; /* in a coarse-to-fine run */
};
_Static_assert(sizeof(struct tiled_header) == 128, "the tiled checkpoint header has no padding");

static size_t picture_bytes(const struct nst_tile_plan *p) {
	return (size_t)p->width * (size_t)p->height * RGB * sizeof(float);
}

static uint32_t tiled_fingerprint(const struct nst_tiled *t) {
	const struct nst_tile_plan *p = &t->plan;
	uint32_t c = nst_session_fingerprint(t->session, t->content, (size_t)p->width * (size_t)p->height * RGB);
	const int32_t grid[7] = {p->side, p->tile_width, p->tile_height, p->overlap, p->sweeps, p->width, p->height};
	return nst_crc32(c, grid, sizeof grid);
}

enum nst_status nst_tiled_save_checkpoint(const struct nst_tiled *t, const char *path,
                                          const struct nst_checkpoint_place *place, struct nst_diag *diag) {
	if (!t || !path || !place || !t->picture_set || !t->content)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no started tiled run to checkpoint");
	const struct nst_tile_plan *p = &t->plan;
	struct tiled_header h;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, NST_CHECKPOINT_TILED_MAGIC, NST_CHECKPOINT_MAGIC_BYTES);
	h.version = TILED_VERSION;
	h.width = (uint32_t)p->width;
	h.height = (uint32_t)p->height;
	h.side = (uint32_t)p->side;
	h.tile_width = (uint32_t)p->tile_width;
	h.tile_height = (uint32_t)p->tile_height;
	h.overlap = (uint32_t)p->overlap;
	h.sweeps = (uint32_t)p->sweeps;
	h.sweep = (uint32_t)t->sweep;
	h.tile = (uint32_t)t->tile;
	h.row = t->done ? t->row : t->tile_row;
	h.done = t->done;
	h.seconds = t->done ? t->seconds : t->tile_seconds;
	h.config_crc = tiled_fingerprint(t);
	nst_checkpoint_place_write(place, &h.place);
	const struct nst_state_array parts[2] = {{&h, sizeof h}, {t->picture, picture_bytes(p)}};
	return nst_checkpoint_write(path, parts, 2, diag);
}

/* The header of a tiled checkpoint, f at its start: magic and version checked. */
static enum nst_status read_header(FILE *f, const char *path, long long file_bytes, struct tiled_header *h,
                                   struct nst_diag *diag) {
	if (fread(h, sizeof *h, 1, f) != 1)
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                "checkpoint %s is corrupted: %lld bytes, shorter than a tiled checkpoint's header", path, file_bytes);
	if (memcmp(h->magic, NST_CHECKPOINT_TILED_MAGIC, NST_CHECKPOINT_MAGIC_BYTES) != 0)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s is not a checkpoint of a run in tiles (no NSTT signature: another kind of file, or corrupted)",
		                path);
	if (h->version != TILED_VERSION)
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                "checkpoint %s is corrupted (or from a newer nst): version %u, this build reads version %u", path,
		                h->version, TILED_VERSION);
	return NST_OK;
}

/* Whether the header's place and sizes are ones a run can have (*place filled): NULL if so, else
 * the field's name. */
static const char *place_error(const struct tiled_header *h, struct nst_checkpoint_place *place) {
	if (h->reserved != 0 || h->reserved2 != 0)
		return "reserved";
	if (h->width < 1 || h->height < 1 || h->width > INT32_MAX || h->height > INT32_MAX)
		return "size";
	const char *bad = nst_checkpoint_place_read(&h->place, true, place);
	if (bad)
		return bad;
	if (h->side < 1 || h->side != (uint32_t)place->tile_sides[place->scale])
		return "tile side";
	return NULL;
}

enum nst_status nst_tiled_checkpoint_place(FILE *f, const char *path, long long file_bytes,
                                           struct nst_checkpoint_place *place, int *width, int *height,
                                           struct nst_diag *diag) {
	struct tiled_header h;
	enum nst_status st = read_header(f, path, file_bytes, &h, diag);
	if (st == NST_OK)
		st = nst_checkpoint_verify_rest(f, path, file_bytes, sizeof h, nst_crc32(0, &h, sizeof h), diag);
	const char *bad_field = st == NST_OK ? place_error(&h, place) : NULL;
	if (bad_field)
		st = nst_checkpoint_impossible(path, bad_field, diag);
	if (st != NST_OK)
		return st;
	*width = (int)h.width;
	*height = (int)h.height;
	return NST_OK;
}

/* The fields against their bounds and each other: NULL, or the first impossible one's name. */
static const char *state_error(const struct nst_tiled *t, const struct tiled_header *h) {
	const struct nst_tile_plan *p = &t->plan;
	if (h->reserved != 0 || h->reserved2 != 0)
		return "reserved";
	if (h->done > 1)
		return "done";
	if (h->sweep >= (uint32_t)p->sweeps || h->tile >= (uint32_t)nst_tile_count(p, (int)h->sweep))
		return "tile";
	if (h->done && (h->sweep != (uint32_t)p->sweeps - 1 || h->tile != (uint32_t)nst_tile_count(p, (int)h->sweep) - 1))
		return "tile of a finished run";
	if (h->row < 0 || h->row > NST_CHECKPOINT_MAX_ROWS || (int64_t)h->row + h->place.rows_before > NST_CHECKPOINT_MAX_ROWS ||
	    (h->sweep == 0 && h->tile == 0 && !h->done && h->row != 0))
		return "row";
	if (h->side < 1 || h->side != (uint32_t)h->place.tile_sides[h->place.scale])
		return "tile side";
	if (!isfinite(h->seconds) || h->seconds < 0.0)
		return "seconds";
	const size_t n = (size_t)p->width * (size_t)p->height * RGB;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(t->picture[i]))
			return "picture";
	return NULL;
}

enum nst_status nst_tiled_load_checkpoint(struct nst_tiled *t, const char *path, const struct nst_checkpoint_place *want,
                                          struct nst_checkpoint_place *place, struct nst_diag *diag) {
	if (!t || !path || !want || !place || !t->content)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no tiled run (with its content) to resume");
	const struct nst_tile_plan *p = &t->plan;
	long long file_bytes = 0;
	enum nst_status st = NST_OK;
	FILE *f = nst_checkpoint_open(path, &file_bytes, &st, diag);
	if (!f)
		return st;
	struct tiled_header h;
	const size_t expected = sizeof h + picture_bytes(p) + NST_CHECKPOINT_CRC_BYTES;
	bool touched = false; /* the picture holds part of the file */
	const char *bad_field = NULL;
	if ((st = read_header(f, path, file_bytes, &h, diag)) != NST_OK) {
		/* said */
	} else if (h.width != (uint32_t)p->width || h.height != (uint32_t)p->height || h.side != (uint32_t)p->side ||
	           h.tile_width != (uint32_t)p->tile_width || h.tile_height != (uint32_t)p->tile_height ||
	           h.overlap != (uint32_t)p->overlap || h.sweeps != (uint32_t)p->sweeps) {
		st = nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		              "checkpoint %s was made at %ux%u in tiles of %u px (overlap %u, %u sweeps), this run plans %dx%d in "
		              "tiles of %d px (overlap %d, %d sweeps); resume with the same command (--tile %u plans those tiles)",
		              path, h.width, h.height, h.side, h.overlap, h.sweeps, p->width, p->height, p->side, p->overlap,
		              p->sweeps, h.side);
	} else if ((uint64_t)file_bytes != (uint64_t)expected) {
		st = nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		              "checkpoint %s is corrupted: %lld bytes, a checkpoint of this run has %zu (truncated?)", path,
		              file_bytes, expected);
	} else {
		touched = true;
		const bool complete = fread(t->picture, 1, picture_bytes(p), f) == picture_bytes(p);
		const uint32_t crc = nst_crc32(nst_crc32(0, &h, sizeof h), t->picture, picture_bytes(p));
		if ((st = nst_checkpoint_read_end(f, path, complete, crc, &h.place, true, want, place, diag)) != NST_OK) {
			/* said */
		} else if (h.config_crc != tiled_fingerprint(t)) {
			st = nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			              "checkpoint %s was made with other pictures or options; resume with the same command", path);
		} else if ((bad_field = state_error(t, &h)) != NULL) {
			st = nst_checkpoint_impossible(path, bad_field, diag);
		}
	}
	fclose(f);
	if (st != NST_OK) {
		if (touched)
			t->picture_set = false; /* the picture holds part of the file: the run starts over */
		return st;
	}
	t->picture_set = true;
	t->partial = false;
	t->done = h.done != 0;
	t->sweep = (int)h.sweep;
	t->tile = (int)h.tile;
	t->row = t->tile_row = h.row;
	t->seconds = t->tile_seconds = h.seconds;
	return NST_OK;
}

int nst_tiled_rows(const struct nst_tiled *t) { return t ? t->row : 0; }
