/*
 * The arena (src/arena.c): measuring and placing agree, every block is aligned, a request that
 * does not fit sets overflow, and so does an element count whose byte size would wrap around
 * size_t (a 32-bit build asked for a huge picture) instead of handing out a small block.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../src/internal.h"
#include "check.h"

#define BUFFER_BYTES 4096

int main(void) {
	struct nst_arena measure, place;
	nst_arena_init(&measure, NULL, 0);
	CHECK(NST_ARENA_NEW(&measure, float, 3) == NULL && NST_ARENA_NEW(&measure, double, 5) == NULL, "measuring hands out nothing");
	CHECK(!measure.overflow && measure.used == 2 * NST_ARENA_ALIGNMENT, "measured %zu bytes", measure.used);

	void *buffer = aligned_alloc(NST_ARENA_ALIGNMENT, BUFFER_BYTES);
	nst_arena_init(&place, buffer, BUFFER_BYTES);
	float *a = NST_ARENA_NEW(&place, float, 3);
	double *b = NST_ARENA_NEW(&place, double, 5);
	CHECK(a && b && (uintptr_t)a % NST_ARENA_ALIGNMENT == 0 && (uintptr_t)b % NST_ARENA_ALIGNMENT == 0,
	      "aligned blocks");
	CHECK(place.used == measure.used && !place.overflow, "placing uses what measuring said: %zu vs %zu", place.used,
	      measure.used);
	CHECK(NST_ARENA_NEW(&place, uint8_t, BUFFER_BYTES) == NULL && place.overflow, "a block beyond the buffer");

	/* sizeof(float) * count wraps: 4 * (SIZE_MAX / 4 + 2) is 4 modulo 2^N */
	nst_arena_init(&measure, NULL, 0);
	CHECK(NST_ARENA_NEW(&measure, float, SIZE_MAX / sizeof(float) + 2) == NULL && measure.overflow,
	      "an element count whose bytes wrap sets overflow (used %zu)", measure.used);
	nst_arena_init(&place, buffer, BUFFER_BYTES);
	CHECK(NST_ARENA_NEW(&place, float, SIZE_MAX / sizeof(float) + 2) == NULL && place.overflow,
	      "... also while placing");
	free(buffer);
	return check_finish("test_arena");
}
