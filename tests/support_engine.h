/* Engines of the operator tests (tests/support.c): one GEMM kernel each, on the calling thread or
 * on a 2-thread pool, with guarded scratch. */
#ifndef NST_TESTS_SUPPORT_ENGINE_H
#define NST_TESTS_SUPPORT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <pthreadpool.h>

#include "engine.h"

struct test_engine {
	struct nst_engine e;
	char label[64];
};

/* For each of kernels[0 .. n_kernels): an engine on the calling thread, then one on pool with 2
 * slots (1 without a pool), up to max engines, each labelled and printed.  Returns the count. */
int support_engines(struct test_engine *engines, int max, const struct nst_gemm_kernel *const *kernels,
                    size_t n_kernels, pthreadpool_t pool);
/* The operator tests' engines: the scalar kernel and every SIMD kernel (and twin) of this CPU
 * (support_add_config_kernels), each on the calling thread and on a 2-thread pool, created into
 * *pool (checked).  Returns the count. */
int support_kernel_engines(struct test_engine *engines, int max, pthreadpool_t *pool);
/* Points the engine at fresh NaN-filled scratch of `floats` per thread (guarded). */
void engine_scratch(struct test_engine *te, size_t floats);
/* Whether the scratch's guard is intact; frees it. */
bool engine_scratch_done(struct test_engine *te);

#endif
