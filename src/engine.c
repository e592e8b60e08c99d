/*
 * The engine: backend + precision -> kernel set, the thread pool, and the parallel-for (see
 * src/engine.h for the work policy).
 */
#include <assert.h>
#include <stdatomic.h>

#include "internal.h"

/* The backend auto and xnnpack resolve to for the engine's own kernels. */
static enum nst_backend own_backend(void) {
	return nst_kernel_configs(NULL, false, NULL, 1) > 0 ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR;
}

/* The int8 kernel set of backend (scalar or simd), or NULL. */
static const struct nst_gemm_kernel *int8_kernels(enum nst_backend backend) {
	const struct nst_kernel_config *fastest;
	if (backend == NST_BACKEND_SCALAR)
		return &nst_kernel_config_scalar_q8()->gemm;
	return backend == NST_BACKEND_SIMD && nst_kernel_configs_q8(NULL, &fastest, 1) == 1 ? &fastest->gemm : NULL;
}

const struct nst_gemm_kernel *nst_engine_kernels(enum nst_backend backend, enum nst_precision precision) {
	const bool f16 = precision == NST_PRECISION_FP16;
	const struct nst_kernel_config *fastest;
	if (precision == NST_PRECISION_INT8)
		return int8_kernels(backend == NST_BACKEND_AUTO ? own_backend() : backend);
	switch (backend) {
	case NST_BACKEND_SCALAR: return &nst_kernel_config_scalar(f16)->gemm;
	case NST_BACKEND_SIMD: return nst_kernel_configs(NULL, f16, &fastest, 1) == 1 ? &fastest->gemm : NULL;
	case NST_BACKEND_AUTO: return nst_engine_kernels(own_backend(), precision);
	case NST_BACKEND_XNNPACK: return f16 ? NULL : nst_engine_kernels(own_backend(), precision);
	}
	return NULL;
}

enum nst_status nst_engine_init(struct nst_engine *engine, enum nst_backend backend, enum nst_precision precision,
                                int threads, struct nst_diag *diag) {
	*engine = (struct nst_engine){.threads = threads > 0 ? threads : nst_cpu_count()};
	if (backend == NST_BACKEND_AUTO)
		backend = own_backend();
	const struct nst_gemm_kernel *fp32 = nst_engine_kernels(backend, NST_PRECISION_FP32);
	if (!fp32)
		return nst_fail(diag, NST_ERR_UNSUPPORTED, "backend simd: this CPU has no SIMD kernels in this build");
	const struct nst_gemm_kernel *other = precision == NST_PRECISION_FP16 || precision == NST_PRECISION_INT8
	                                          ? nst_engine_kernels(backend, precision)
	                                          : NULL;
	engine->gemm = other ? other : fp32;
	engine->backend = backend;
	engine->precision = other ? precision : NST_PRECISION_FP32;
	return NST_OK;
}

pthreadpool_t nst_pool_create(int threads) {
	if (threads < 2)
		return NULL;
	/* no more threads than CPUs, nor than the slots a pass hands out (nst_parallel_slots) */
	const int cpus = nst_cpu_count(), most = cpus < NST_MAX_SLOTS ? cpus : NST_MAX_SLOTS;
	return pthreadpool_create((size_t)(threads < most ? threads : most));
}

enum nst_status nst_engine_start(struct nst_engine *engine, struct nst_diag *diag) {
	engine->pool = nst_pool_create(engine->threads);
	if (engine->threads > 1 && !engine->pool)
		return nst_fail(diag, NST_ERR_OUT_OF_MEMORY, "cannot start %d threads", engine->threads);
	return NST_OK;
}

void nst_engine_release(struct nst_engine *engine) {
	if (engine && engine->pool) {
		pthreadpool_destroy(engine->pool);
		engine->pool = NULL;
	}
}

size_t nst_parallel_slots(const struct nst_engine *engine, size_t items) {
	if (!engine->pool || engine->threads < 2 || items < 2)
		return 1;
	const size_t slots = engine->threads < NST_MAX_SLOTS ? (size_t)engine->threads : NST_MAX_SLOTS;
	return slots < items ? slots : items;
}

size_t nst_parallel_items(const struct nst_engine *engine, size_t units) {
	const size_t slots = nst_parallel_slots(engine, units);
	if (slots < 2)
		return 1;
	return units < slots * NST_ITEMS_PER_SLOT ? units : slots * NST_ITEMS_PER_SLOT;
}

/* A slot's own items [first, end): it takes them from the front through next, and so, once their
 * own are done, do the others.  One per cache line: the slots' counters do not share lines. */
struct slot_items {
	_Alignas(NST_CACHE_LINE_BYTES) atomic_size_t next; /* the next of these items nobody has taken */
	size_t end;
};

struct parallel_task {
	nst_task_fn fn;
	void *context;
	size_t slots;
	struct slot_items own[NST_MAX_SLOTS];
};

static void run_slot(void *context, size_t slot) {
	struct parallel_task *t = context;
	/* its own items first, then the others', slot + 1, slot + 2, ... round; relaxed: the pool's
	 * end of region orders the items' writes before the caller reads them */
	for (size_t k = 0; k < t->slots; k++) {
		struct slot_items *r = &t->own[(slot + k) % t->slots];
		for (size_t item; (item = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed)) < r->end;)
			t->fn(t->context, slot, item);
	}
}

/* PTHREADPOOL_FLAG_YIELD_WORKERS: without it, pthreadpool's workers spin (about a million pause
 * instructions, milliseconds) waiting for the next region after each one.  An evaluation of the
 * distilled network runs about 60 regions with serial work between them; with more runnable threads
 * than CPUs (a shared machine) the spinning worker takes the CPU from the calling thread, which has
 * that serial work to do: measured at 2 threads on 2 loaded CPUs, 2.4x the wall time of sleeping
 * workers.  Idle, waking a sleeping worker costs a system call and some microseconds per region;
 * inside a burst (nst_parallel_burst_begin) the workers spin. */
static uint32_t region_flags(const struct nst_engine *engine) {
	const uint32_t flags = PTHREADPOOL_FLAG_YIELD_WORKERS;
	return engine->burst ? flags & ~(uint32_t)PTHREADPOOL_FLAG_YIELD_WORKERS : flags;
}

void nst_parallel_for(const struct nst_engine *engine, size_t items, nst_task_fn fn, void *context) {
	struct parallel_task t; /* own[] initialized for the slots used only */
	t.fn = fn;
	t.context = context;
	t.slots = nst_parallel_slots(engine, items);
	for (size_t s = 0; s < t.slots; s++) {
		atomic_init(&t.own[s].next, items * s / t.slots);
		t.own[s].end = items * (s + 1) / t.slots;
	}
	if (t.slots > 1)
		pthreadpool_parallelize_1d(engine->pool, run_slot, &t, t.slots, region_flags(engine));
	else
		run_slot(&t, 0);
}

void nst_parallel_burst_begin(struct nst_engine *engine) {
	assert(!engine->burst); /* not nested: the inner end would end the outer burst */
	engine->burst = true;
}

static void park(void *context, size_t item) {
	(void)context;
	(void)item;
}

void nst_parallel_burst_end(struct nst_engine *engine) {
	engine->burst = false;
	/* a region of more than one item is signalled to every worker (fewer run inline on the
	 * caller): each takes the command and its flag, sleep after it */
	if (engine->pool && engine->threads > 1)
		pthreadpool_parallelize_1d(engine->pool, park, NULL, pthreadpool_get_threads_count(engine->pool),
		                           PTHREADPOOL_FLAG_YIELD_WORKERS);
}

struct rows_task {
	nst_rows_fn fn;
	void *context;
	size_t rows, items;
};

static void rows_item(void *context, size_t slot, size_t item) {
	(void)slot;
	const struct rows_task *t = context;
	t->fn(t->context, t->rows * item / t->items, t->rows * (item + 1) / t->items);
}

void nst_parallel_rows(const struct nst_engine *engine, size_t rows, nst_rows_fn fn, void *context) {
	struct rows_task t = {fn, context, rows, engine ? nst_parallel_items(engine, rows) : 1};
	if (engine)
		nst_parallel_for(engine, t.items, rows_item, &t);
	else
		fn(context, 0, rows);
}

struct sums_task {
	size_t n;
	nst_sum_fn fn;
	void *context;
	double part[NST_SUM_PARTS][NST_SUM_MAX];
};

static void sums_part(void *context, size_t slot, size_t part) {
	(void)slot;
	struct sums_task *t = context;
	for (int k = 0; k < NST_SUM_MAX; k++)
		t->part[part][k] = 0.0;
	t->fn(t->context, t->n * part / NST_SUM_PARTS, t->n * (part + 1) / NST_SUM_PARTS, t->part[part]);
}

void nst_parallel_sums(const struct nst_engine *engine, size_t n, nst_sum_fn fn, void *context, int count, double *out) {
	assert(count >= 0 && count <= NST_SUM_MAX);
	struct sums_task t = {.n = n, .fn = fn, .context = context};
	if (engine && n >= NST_SUM_PARALLEL_MIN)
		nst_parallel_for(engine, NST_SUM_PARTS, sums_part, &t);
	else
		for (size_t part = 0; part < NST_SUM_PARTS; part++)
			sums_part(&t, 0, part);
	for (int k = 0; k < count; k++) {
		out[k] = 0.0;
		for (size_t part = 0; part < NST_SUM_PARTS; part++)
			out[k] += t.part[part][k];
	}
}
