/*
 * The engine every mode runs on (src/engine.c): the kernel set that a backend and precision
 * select, the threads, and the one parallel-for that hands work to them.  Internal, not part of
 * the API.
 */
#ifndef NST_ENGINE_H
#define NST_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <pthreadpool.h>

#include "nst.h"
#include "../arch/kernels.h"

struct nst_engine {
	const struct nst_gemm_kernel *gemm; /* the kernel set's GEMM kernel; nst_kernels_of(gemm) is the set */
	pthreadpool_t pool;           /* NULL: every slot runs on the calling thread */
	int threads;                  /* work slots */
	float *scratch;               /* [threads][scratch_floats]: each slot's own (im2col blocks, ...) */
	size_t scratch_floats;        /* per slot */
	enum nst_backend backend;     /* as resolved by nst_engine_init: scalar, simd or xnnpack */
	enum nst_precision precision; /* as resolved: fp16 / int8 only when gemm is a float16 / int8 kernel */
};

/* The kernel set backend runs at precision on this CPU, or NULL when there is none:
 *   scalar       the scalar set (fp16: the float16 scalar GEMM's set, which every CPU runs);
 *   simd         the fastest SIMD set (fp16: the float16 SIMD set: ARMv8.2-A builds only);
 *   auto         simd's, or scalar's on a CPU without SIMD kernels in this build;
 *   xnnpack      simd's or scalar's as auto, fp32 (the engine's own operators beside XNNPACK's).
 * int8: the scalar int8 set (scalar), the SIMD one (simd: AVX-512 VNNI, ARMv8.2-A dot product),
 * auto as simd or scalar resolve; none for xnnpack. */
const struct nst_gemm_kernel *nst_engine_kernels(enum nst_backend backend, enum nst_precision precision);

/* Resolves backend (auto: simd, or scalar without SIMD kernels) and precision into engine->gemm,
 * and sets threads (0: nst_cpu_count()).  Precision fp16 (int8) without a float16 (int8) kernel
 * for the backend falls back to fp32 (engine->precision says which runs).  No pool and no scratch yet: planning
 * measures with this engine; nst_engine_start starts the threads.  NST_ERR_UNSUPPORTED: backend
 * simd on a CPU without SIMD kernels in this build. */
enum nst_status nst_engine_init(struct nst_engine *engine, enum nst_backend backend, enum nst_precision precision,
                                int threads, struct nst_diag *diag);
/* Starts the engine's thread pool (none for one slot). */
enum nst_status nst_engine_start(struct nst_engine *engine, struct nst_diag *diag);
/* Stops the threads; the engine may be started again. */
void nst_engine_release(struct nst_engine *engine);

/* A thread pool for `threads` work slots (NULL below 2): at most nst_cpu_count() threads run
 * them, so that more slots than CPUs do not fight over the CPUs; the work is still split into
 * `threads` slots, each with its own scratch, so the result is the same.  (nst_engine_start's;
 * tests/test_cpu_count.c checks it directly.) */
pthreadpool_t nst_pool_create(int threads);

/*
 * The one work policy: items are split between min(threads, items) slots (1 without a pool),
 * slot s taking items s, s + slots, s + 2 slots, ... in that order.  The split depends only on
 * items and the slot count, never on timing, so per-slot partial sums (Gram matrices, instance
 * norm) add up the same way on every run.  fn(context, slot, item) may use slot's own scratch,
 * nst_engine_scratch(engine, slot).  A pass that splits n values evenly passes items = the
 * number of chunks it wants (nst_parallel_slots) and computes its chunk from the item.
 */
typedef void (*nst_task_fn)(void *context, size_t slot, size_t item);
size_t nst_parallel_slots(const struct nst_engine *engine, size_t items);
void nst_parallel_for(const struct nst_engine *engine, size_t items, nst_task_fn fn, void *context);

static inline float *nst_engine_scratch(const struct nst_engine *engine, size_t slot) {
	return engine->scratch + slot * engine->scratch_floats;
}

#endif /* NST_ENGINE_H */
