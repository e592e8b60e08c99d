/* The tiled driver's state (src/picture_tiles.c), shared with its checkpoints
 * (src/checkpoint_tiled.c).  Not part of the public API. */
#ifndef NST_PICTURE_TILES_H
#define NST_PICTURE_TILES_H

#include "internal.h"

#define RGB 3

struct nst_tiled {
	struct nst_tile_plan plan;
	struct nst_session *session;
	float *picture;          /* [H][W][3] preprocessed BGR */
	float *tile_x;           /* [th][tw][3] */
	uint8_t *tile_rgb;       /* [tile_rgb_pixels][3]: a tile of the content, or a style crop */
	uint8_t *session_arena;  /* [plan.session.total_bytes] */
	const uint8_t *content;  /* [H][W][3], the caller's */
	bool picture_set;
	int sweep, tile;         /* the tile being (or last) optimized */
	int row;                 /* loss-log rows reported so far */
	int tile_row;            /* ... before the current tile (its first row) */
	double tile_seconds;     /* the run's seconds when the current tile started */
	bool partial;            /* a stopped tile's picture is in tile_x, not blended into picture */
	int iterations;          /* each tile's optimizer steps (nst_tiled_run's) */
	int total_tiles;         /* over all sweeps */
	double seconds;          /* run time before the current call of nst_tiled_run */
	bool done;
};

#endif
