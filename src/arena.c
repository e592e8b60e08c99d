#include <stdlib.h>

#include "internal.h"
#include "nst.h"

void *nst_arena_allocate(size_t bytes) {
	const size_t rounded = (bytes + NST_ARENA_ALIGNMENT - 1) / NST_ARENA_ALIGNMENT * NST_ARENA_ALIGNMENT;
	return rounded < bytes || rounded == 0 ? NULL : aligned_alloc(NST_ARENA_ALIGNMENT, rounded);
}

void nst_arena_free(void *arena) { free(arena); }

void nst_arena_init(struct nst_arena *arena, void *base, size_t size) {
	arena->base = base;
	arena->size = base ? size : 0;
	arena->used = 0;
	arena->overflow = false;
}

void *nst_arena_alloc_array(struct nst_arena *arena, size_t size, size_t count) {
	if (size != 0 && count > SIZE_MAX / size) { /* the product would wrap (a 32-bit build, a huge picture) */
		arena->overflow = true;
		return NULL;
	}
	return nst_arena_alloc(arena, size * count);
}

void *nst_arena_alloc(struct nst_arena *arena, size_t bytes) {
	const size_t rounded = (bytes + NST_ARENA_ALIGNMENT - 1) & ~(size_t)(NST_ARENA_ALIGNMENT - 1);
	const size_t offset = arena->used;
	if (rounded < bytes || offset + rounded < offset) { /* size_t overflow */
		arena->overflow = true;
		return NULL;
	}
	arena->used = offset + rounded;
	if (!arena->base)
		return NULL;
	if (arena->used > arena->size) {
		arena->overflow = true;
		return NULL;
	}
	return arena->base + offset;
}
