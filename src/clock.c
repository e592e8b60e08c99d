/* The monotonic clock the library times itself with (backend auto, nst bench). */
#include <time.h>

#include "internal.h"

double nst_seconds(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
