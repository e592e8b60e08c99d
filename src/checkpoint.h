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
 * rows and seconds of the scales before it; tiled: a tiled run's (else a session's); each
 * scale's tile side in the run (0: whole), so that a resumed run is planned the same.
 * nst_session_save_checkpoint's own are scale 0 of 1. */
struct nst_checkpoint_place {
	int scale, n_scales;
	int rows_before;
	double seconds_before;
	bool tiled;
	int tile_sides[NST_MAX_SCALES];
};

/* The place as both kinds of file hold it, little-endian. */
#define NST_CHECKPOINT_SCALES 8
_Static_assert(NST_MAX_SCALES == NST_CHECKPOINT_SCALES, "a checkpoint holds NST_MAX_SCALES scales' tile sides");
struct nst_checkpoint_place_record {
	uint32_t scale, n_scales;
	int32_t rows_before;
	uint32_t reserved;       /* 0 */
	double seconds_before;
	int32_t tile_sides[NST_CHECKPOINT_SCALES];
};
_Static_assert(sizeof(struct nst_checkpoint_place_record) == 56, "the place record has no padding");
void nst_checkpoint_place_write(const struct nst_checkpoint_place *place, struct nst_checkpoint_place_record *record);
/* The record's place if it is one a run can be at (of a tiled run's file if tiled): NULL, else the
 * first impossible field's name. */
const char *nst_checkpoint_place_read(const struct nst_checkpoint_place_record *record, bool tiled,
                                      struct nst_checkpoint_place *place);

/* The place and the picture size of a checkpoint of either kind, the whole file through its
 * CRC (the fields are checked when a session or a tiled run loads it). */
enum nst_status nst_checkpoint_read_place(const char *path, struct nst_checkpoint_place *place, int *width,
                                          int *height, struct nst_diag *diag);
/* nst_session_save_checkpoint / _load_checkpoint at a place: the load refuses a checkpoint of
 * another scale or number of scales than want's and fills *place. */
enum nst_status nst_session_save_checkpoint_at(const struct nst_session *s, const char *path,
                                               const struct nst_checkpoint_place *place, struct nst_diag *diag);
enum nst_status nst_session_load_checkpoint_at(struct nst_session *s, const char *path,
                                               const struct nst_checkpoint_place *want, struct nst_checkpoint_place *place,
                                               struct nst_diag *diag);

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
 * the trailer ends the file and matches, the place can be (nst_checkpoint_place_read; *place
 * filled) and it is want's scale of want's number of scales. */
enum nst_status nst_checkpoint_read_end(FILE *f, const char *path, bool complete, uint32_t crc,
                                        const struct nst_checkpoint_place_record *record, bool tiled,
                                        const struct nst_checkpoint_place *want, struct nst_checkpoint_place *place,
                                        struct nst_diag *diag);
/* "checkpoint PATH is corrupted: its FIELD is impossible ...": a right CRC over a wrong field. */
enum nst_status nst_checkpoint_impossible(const char *path, const char *field, struct nst_diag *diag);

/* A tiled run's checkpoint (src/checkpoint_tiled.c): the picture before the tile that runs (or
 * would run next) and its place; a load restarts that tile.  The tiled run's content and styles
 * are set before a load, which refuses another scale or number of scales than want's and fills
 * *place. */
enum nst_status nst_tiled_save_checkpoint(const struct nst_tiled *t, const char *path,
                                          const struct nst_checkpoint_place *place, struct nst_diag *diag);
enum nst_status nst_tiled_load_checkpoint(struct nst_tiled *t, const char *path, const struct nst_checkpoint_place *want,
                                          struct nst_checkpoint_place *place, struct nst_diag *diag);
/* Rows the tiled run has reported (after a load: those of the tiles before its tile). */
int nst_tiled_rows(const struct nst_tiled *t);
/* nst_checkpoint_read_place's part for a tiled checkpoint, f at its start. */
enum nst_status nst_tiled_checkpoint_place(FILE *f, const char *path, long long file_bytes,
                                           struct nst_checkpoint_place *place, int *width, int *height,
                                           struct nst_diag *diag);

#endif
