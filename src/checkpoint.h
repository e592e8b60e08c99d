/* Checkpoints (src/checkpoint.c: a session's; src/checkpoint_tiled.c: a tiled run's) and what
 * the coarse-to-fine driver (src/coarse_to_fine.c) needs of them.  Not part of the public API. */
#ifndef NST_CHECKPOINT_H
#define NST_CHECKPOINT_H

#include <stdio.h>

#include "internal.h"
#include "optimizer.h"

#define NST_CHECKPOINT_MAGIC "NSTC"       /* a session's: src/checkpoint.c */
#define NST_CHECKPOINT_TILED_MAGIC "NSTT" /* a tiled run's: src/checkpoint_tiled.c */
#define NST_CHECKPOINT_MAGIC_BYTES 4
#define NST_CHECKPOINT_CRC_BYTES 4

/* Where a checkpoint stands in a coarse-to-fine run: scale (from 0) of n_scales, after the loss
 * rows and seconds of the scales before it; tiled: a tiled run's (else a session's).
 * nst_session_save_checkpoint's own are scale 0 of 1. */
struct nst_checkpoint_place {
	int scale, n_scales;
	int rows_before;
	double seconds_before;
	bool tiled;
	int tile_side;  /* tiled: the tile side (struct nst_tile_plan's side) */
};

/* The place and the picture size of a checkpoint of either kind, the whole file through its
 * CRC (the fields are checked when a session or a tiled run loads it). */
enum nst_status nst_checkpoint_read_place(const char *path, struct nst_checkpoint_place *place, int *width,
                                          int *height, struct nst_diag *diag);
/* nst_session_save_checkpoint / _load_checkpoint at a place: the load refuses a checkpoint of
 * another scale or number of scales (place's scale and n_scales), and gives its rows and seconds
 * before. */
enum nst_status nst_session_save_checkpoint_at(const struct nst_session *s, const char *path,
                                               const struct nst_checkpoint_place *place, struct nst_diag *diag);
enum nst_status nst_session_load_checkpoint_at(struct nst_session *s, const char *path,
                                               struct nst_checkpoint_place *place, struct nst_diag *diag);

/* What both kinds share.  The options and pictures a session's result depends on, with content
 * (content_bytes) for the session's own content picture (a tiled run: the whole picture's). */
uint32_t nst_session_fingerprint(const struct nst_session *s, const uint8_t *content, size_t content_bytes);
/* parts[0..n) (the header first) and their CRC-32, little-endian, written atomically: a temporary
 * file beside path, fsync, rename. */
enum nst_status nst_checkpoint_write(const char *path, const struct nst_state_array *parts, int n_parts,
                                     struct nst_diag *diag);
/* A checkpoint opened for reading, a regular file (its size in *bytes); NULL with the failure said. */
FILE *nst_checkpoint_open(const char *path, long long *bytes, enum nst_status *st, struct nst_diag *diag);
/* The rest of an open checkpoint of file_bytes, after `done` bytes whose CRC is crc: into the CRC
 * up to its trailer, which must match and end the file; NST_OK or "corrupted". */
enum nst_status nst_checkpoint_verify_rest(FILE *f, const char *path, long long file_bytes, size_t done, uint32_t crc,
                                           struct nst_diag *diag);
uint32_t nst_checkpoint_trailer(const uint8_t *trailer); /* [NST_CHECKPOINT_CRC_BYTES] little-endian */
/* A load's checks after its arrays were read (complete: all of them; crc: over every byte read):
 * the trailer ends the file and matches, the place's fields can be (scale of n_scales, the rows
 * and seconds before it: 0 at scale 0), and it is want's scale of want's number of scales. */
enum nst_status nst_checkpoint_read_end(FILE *f, const char *path, bool complete, uint32_t crc, uint32_t scale,
                                        uint32_t n_scales, int32_t rows_before, double seconds_before,
                                        const struct nst_checkpoint_place *want, struct nst_diag *diag);
/* The place's fields as nst_checkpoint_read_end checks them: NULL, or the first impossible one's name. */
const char *nst_checkpoint_place_error(uint32_t scale, uint32_t n_scales, int32_t rows_before, double seconds_before);
/* "checkpoint PATH is corrupted: its FIELD is impossible ...": a right CRC over a wrong field. */
enum nst_status nst_checkpoint_impossible(const char *path, const char *field, struct nst_diag *diag);

/* A tiled run's checkpoint (src/checkpoint_tiled.c): the picture before the tile that runs (or
 * would run next) and its place; a load restarts that tile.  The tiled run's content and styles
 * are set before a load. */
enum nst_status nst_tiled_save_checkpoint(const struct nst_tiled *t, const char *path,
                                          const struct nst_checkpoint_place *place, struct nst_diag *diag);
enum nst_status nst_tiled_load_checkpoint(struct nst_tiled *t, const char *path, struct nst_checkpoint_place *place,
                                          struct nst_diag *diag);
/* Rows the tiled run has reported (after a load: those of the tiles before its tile). */
int nst_tiled_rows(const struct nst_tiled *t);
/* nst_checkpoint_read_place's part for a tiled checkpoint, f at its start. */
enum nst_status nst_tiled_checkpoint_place(FILE *f, const char *path, long long file_bytes,
                                           struct nst_checkpoint_place *place, int *width, int *height,
                                           struct nst_diag *diag);

#endif
