/*
 * Sums of products over float arrays in double, over REDUCTION_LANES independent partial sums (one
 * chain of dependent additions was the bound: a double add's latency per element), the lanes
 * added in a fixed order: the same bits for the same range, on any thread.  nst_parallel_sums
 * (src/engine.c) runs them over fixed parts of longer arrays.
 */
#include "internal.h"

#define REDUCTION_LANES 4

double nst_dot_range(size_t i0, size_t i1, const float *a, const float *b) {
	double lane[REDUCTION_LANES] = {0.0};
	size_t i = i0;
	for (; i + REDUCTION_LANES <= i1; i += REDUCTION_LANES)
		for (size_t k = 0; k < REDUCTION_LANES; k++)
			lane[k] += (double)a[i + k] * (double)b[i + k];
	for (; i < i1; i++)
		lane[0] += (double)a[i] * (double)b[i];
	return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

double nst_squared_distance_range(size_t i0, size_t i1, const float *a, const float *b) {
	double lane[REDUCTION_LANES] = {0.0};
	size_t i = i0;
	for (; i + REDUCTION_LANES <= i1; i += REDUCTION_LANES)
		for (size_t k = 0; k < REDUCTION_LANES; k++) {
			const float d = a[i + k] - b[i + k];
			lane[k] += (double)d * (double)d;
		}
	for (; i < i1; i++) {
		const float d = a[i] - b[i];
		lane[0] += (double)d * (double)d;
	}
	return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}
