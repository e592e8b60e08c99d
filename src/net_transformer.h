/* The trained feed-forward networks (src/net_transformer.c): the picture's way in and out,
 * internal, not part of the API (the API is include/nst.h's nst_fast_*). */
#ifndef NST_NET_TRANSFORMER_H
#define NST_NET_TRANSFORMER_H

#include "internal.h"

/* The network's pictures have sides that are multiples of this (two stride-2 convolutions, two
 * 2x upsamples): inputs are padded up to it and the output is cropped back. */
#define NST_FAST_SIDE_MULTIPLE 4

static inline int nst_fast_padded(int side) {
	return (side + NST_FAST_SIDE_MULTIPLE - 1) / NST_FAST_SIDE_MULTIPLE * NST_FAST_SIDE_MULTIPLE;
}

/* Both on engine's threads, in rows (NULL: the calling thread).
 * x [hp][wp][3] = rgb [h][w][3] as float 0..255, padded at the right and the bottom by
 * replicating the last column / row (hp >= h, wp >= w). */
void nst_fast_input(const struct nst_engine *engine, int w, int h, const uint8_t *rgb, int wp, int hp, float *x);

/* rgb_out [h][w][3] = round(s * clamp(y, 0, 255) + (1 - s) * rgb_in), y the top-left h x w of
 * [hp][wp][3]; strength s in 0..1 (0 returns rgb_in exactly; NaN reads as 0). rgb_out may be
 * rgb_in. */
void nst_fast_output(const struct nst_engine *engine, int w, int h, const float *y, int wp, const uint8_t *rgb_in,
                     float strength, uint8_t *rgb_out);
/* out [h][w][3] = the top-left h x w of y [hp][wp][3], unclamped. */
void nst_fast_output_raw(int w, int h, const float *y, int wp, float *out);

#endif /* NST_NET_TRANSFORMER_H */
