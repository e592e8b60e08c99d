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
	float *scratch;               /* [threads][scratch_floats]: region s is slot s's (im2col blocks, ...), or in a
	                               * pass of at most `threads` parts, part s's (a Gram's partial sums), never both */
	size_t scratch_floats;        /* per slot */
	enum nst_backend backend;     /* as resolved by nst_engine_init: scalar, simd or xnnpack */
	enum nst_precision precision; /* as resolved: fp16 / int8 only when gemm is a float16 / int8 kernel */
	struct nst_burst *burst;      /* inside nst_parallel_burst: its regions go to its workers (engine.c) */
};

/* The kernel set backend runs at precision on this CPU, or NULL when there is none:
 *   scalar       the scalar set (fp16: the float16 scalar GEMM's set, which every CPU runs);
 *   simd         the fastest SIMD set (fp16: the float16 SIMD set: ARMv8.2-A builds only);
 *   auto         simd's, or scalar's on a CPU without SIMD kernels in this build;
 *   xnnpack      simd's or scalar's as auto, fp32 (the engine's own operators beside XNNPACK's).
 * int8: the scalar int8 set (scalar), the SIMD one (simd: AVX-512 VNNI, else AVX-VNNI; ARMv8.2-A dot product),
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
 * tests/test_machine_limits.c checks it directly.) */
pthreadpool_t nst_pool_create(int threads);

/*
 * The one work policy: min(threads, items, NST_MAX_SLOTS) slots (1 without a pool); slot s owns
 * the items [items s / slots, items (s + 1) / slots) and takes them in increasing order, then takes
 * over what is left of the others' (slot s + 1's, s + 2's, ... round), item by item from the front.
 * Owned ranges keep a thread on the same part of the picture from one layer to the next (its rows
 * of a feature map are still in its own cache: measured 11% faster on a trained network at 2
 * threads than items taken from one shared counter); taking over means a slot whose thread is off
 * the CPU (a shared machine, a board's other processes) holds up only the item it is on.  So an
 * item's result must not depend on which slot runs it or when: fn(context, slot, item) uses slot's
 * scratch, nst_engine_scratch(engine, slot), only for the item's own temporaries.  A pass that keeps
 * partial sums (Gram matrices, instance norm) splits them into parts fixed by the item count alone,
 * items = parts (at most the slots, see nst_parallel_slots), keeps part i's sums where item i says
 * (scratch i: each item runs exactly once), and adds the parts up in item order, so that every run
 * adds them up the same way.
 */
#define NST_MAX_SLOTS 64
#define NST_CACHE_LINE_BYTES 64
typedef void (*nst_task_fn)(void *context, size_t slot, size_t item);
size_t nst_parallel_slots(const struct nst_engine *engine, size_t items);
/* Items a pass that can split its work into `units` even pieces makes: 1 without a pool, else
 * NST_ITEMS_PER_SLOT per slot (so that the others can take over from a slot held up), at most
 * units. */
#define NST_ITEMS_PER_SLOT 4
size_t nst_parallel_items(const struct nst_engine *engine, size_t units);

/*
 * Sums over n elements on the engine's threads, the same bits on any number of them: the
 * elements are cut into NST_SUM_PARTS fixed parts, fn(context, i0, i1, sums) adds part [i0, i1)'s
 * `count` (at most NST_SUM_MAX) sums into sums (zeroed before), and out[k] is the parts' sums
 * added in part order.  engine may be NULL (this thread).
 */
#define NST_SUM_PARTS 8
/* Fewer elements run on the calling thread (the same parts, the same bits): a pass over 32k
 * floats takes about as long as waking a pool thread. */
#define NST_SUM_PARALLEL_MIN 32768
#define NST_SUM_MAX 2
typedef void (*nst_sum_fn)(void *context, size_t i0, size_t i1, double *sums);
void nst_parallel_sums(const struct nst_engine *engine, size_t n, nst_sum_fn fn, void *context, int count, double *out);
void nst_parallel_for(const struct nst_engine *engine, size_t items, nst_task_fn fn, void *context);

/* A burst: fn(context) on the calling thread, its nst_parallel_for regions (one after another, with
 * little work on the calling thread between them: a feed-forward pass, an evaluation's forward and
 * backward) handed to workers that wait for the next one spinning for some microseconds before
 * they sleep: a sleeping worker takes tens of microseconds to wake (22 us a region measured here,
 * about 0.8 ms of a 9 ms arbitrary-style pass).  After it, and with pthreadpool's regions outside
 * one, the workers sleep, so that they take no CPU from the calling thread's serial work (the
 * optimizer's step) nor, on a shared machine, from other processes.  Nested bursts run inside the
 * outer one; with the xnnpack backend (XNNPACK's operators take the pool themselves) and without a
 * pool fn just runs. */
struct nst_burst;
typedef void (*nst_burst_fn)(void *context);
void nst_parallel_burst(struct nst_engine *engine, nst_burst_fn fn, void *context);

/* fn(context, r0, r1) over the rows [r0, r1) of a picture of `rows` rows, in
 * nst_parallel_items(engine, rows) even blocks on the engine's threads (engine NULL: one call on
 * the calling thread).  For the passes into and out of a network: each thread converts the rows
 * that its own share of the first convolution then reads. */
typedef void (*nst_rows_fn)(void *context, size_t r0, size_t r1);
void nst_parallel_rows(const struct nst_engine *engine, size_t rows, nst_rows_fn fn, void *context);

static inline float *nst_engine_scratch(const struct nst_engine *engine, size_t slot) {
	return engine->scratch + slot * engine->scratch_floats;
}

#endif /* NST_ENGINE_H */
