/*
 * The engine: backend + precision -> kernel set, the thread pool, and the parallel-for (see
 * src/engine.h for the work policy).
 */
#include <assert.h>
#include <pthread.h>
#include <sched.h>
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
	/* its own items first, then the others', slot + 1, slot + 2, ... round; relaxed: the end of
	 * the region (the pool's, or a burst's count of workers inside) orders the items' writes before
	 * the caller reads them */
	for (size_t k = 0; k < t->slots; k++) {
		struct slot_items *r = &t->own[(slot + k) % t->slots];
		for (size_t item; (item = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed)) < r->end;)
			t->fn(t->context, slot, item);
	}
}

/* A burst (nst_parallel_burst): the pool runs one region of as many items as it has threads.  Item 0
 * is the driver: it runs the burst's function, whose nst_parallel_for regions it posts to the
 * others, the workers, instead of to pthreadpool.  A worker waits for the next region spinning for
 * BURST_SPIN_SECONDS, then sleeps on a condition variable until one is posted or the burst ends.
 * A region is open until the driver has taken the last of its items: a worker joins it only while
 * it is open (one that wakes late finds it closed and waits for the next), and the driver then
 * waits only for the workers that joined to finish their items.  So a worker held up (off the
 * CPU) holds up no region it did not join.
 *
 * state: the region's generation (high 32 bits), BURST_OPEN, BURST_ENDING, and the count of
 * workers inside the region (low bits). */
#define BURST_INSIDE_MASK UINT64_C(0xffff)
#define BURST_OPEN (UINT64_C(1) << 16)
#define BURST_ENDING (UINT64_C(1) << 17)
#define BURST_GENERATION_SHIFT 32
/* About two wake-ups of a sleeping thread (22 us measured here): a gap between regions longer than
 * that costs a wake-up more than it saves, and a worker that spins longer takes the CPU from the
 * calling thread on a loaded machine (pthreadpool's own spin, about a million pause instructions,
 * made an evaluation 2.4x slower there). */
#define BURST_SPIN_SECONDS 50e-6
/* Spins between looks at the clock (a vDSO call of tens of nanoseconds) */
#define BURST_SPINS_PER_CLOCK 64

struct nst_burst {
	_Alignas(NST_CACHE_LINE_BYTES) _Atomic uint64_t state;
	struct parallel_task *task; /* the open region's: written before state publishes it */
	atomic_int sleepers;        /* workers waiting on `posted` */
	pthread_mutex_t mutex;
	pthread_cond_t posted; /* a region posted, or the burst's end */
	nst_burst_fn fn;
	void *context;
};

/* The CPU's spin-wait hint (x86 pause, ARM yield), without an intrinsics header */
static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t burst_generation(uint64_t state) {
	return state >> BURST_GENERATION_SHIFT;
}

/* Waits until the burst's state leaves generation `seen` (a region posted) or the burst ends;
 * returns the state that ended the wait. */
static uint64_t burst_wait(struct nst_burst *b, uint64_t seen) {
	uint64_t st;
	double deadline = 0.0;
	for (unsigned spins = 0;; spins++) {
		st = atomic_load_explicit(&b->state, memory_order_acquire);
		if ((st & BURST_ENDING) || burst_generation(st) != seen)
			return st;
		if (spins % BURST_SPINS_PER_CLOCK == 0) {
			const double now = nst_seconds();
			if (spins == 0)
				deadline = now + BURST_SPIN_SECONDS;
			else if (now > deadline)
				break;
		}
		spin_pause();
	}
	pthread_mutex_lock(&b->mutex);
	atomic_fetch_add(&b->sleepers, 1); /* seq_cst, then the state: the poster's order reversed */
	while (!((st = atomic_load(&b->state)) & BURST_ENDING) && burst_generation(st) == seen)
		pthread_cond_wait(&b->posted, &b->mutex);
	atomic_fetch_sub(&b->sleepers, 1);
	pthread_mutex_unlock(&b->mutex);
	return st;
}

/* The state stored (seq_cst), then the sleepers woken if any (a worker counts itself a sleeper,
 * then reads the state: one of the two sees the other) */
static void burst_publish(struct nst_burst *b, uint64_t state) {
	atomic_store(&b->state, state);
	if (atomic_load(&b->sleepers) > 0) {
		pthread_mutex_lock(&b->mutex);
		pthread_cond_broadcast(&b->posted);
		pthread_mutex_unlock(&b->mutex);
	}
}

static void burst_worker(struct nst_burst *b, size_t slot) {
	uint64_t seen = 0;
	for (;;) {
		uint64_t st = burst_wait(b, seen);
		if (st & BURST_ENDING)
			return;
		seen = burst_generation(st);
		/* join while the region is open: the CAS that counts this worker in also acquires the task */
		while ((st & BURST_OPEN) && burst_generation(st) == seen) {
			if (atomic_compare_exchange_weak_explicit(&b->state, &st, st + 1, memory_order_acquire,
			                                          memory_order_relaxed)) {
				if (slot < b->task->slots)
					run_slot(b->task, slot);
				atomic_fetch_sub_explicit(&b->state, 1, memory_order_release);
				break;
			}
		}
	}
}

/* nst_parallel_for inside a burst: t posted as the next region, the driver's own slot run, the
 * region closed, and the workers that joined it waited for. */
static void burst_region(struct nst_burst *b, struct parallel_task *t) {
	const uint64_t generation = burst_generation(atomic_load_explicit(&b->state, memory_order_relaxed)) + 1;
	b->task = t;
	burst_publish(b, generation << BURST_GENERATION_SHIFT | BURST_OPEN);
	run_slot(t, 0); /* returns when every item is taken */
	atomic_fetch_and_explicit(&b->state, ~BURST_OPEN, memory_order_relaxed);
	double deadline = 0.0;
	for (unsigned spins = 0; atomic_load_explicit(&b->state, memory_order_acquire) & BURST_INSIDE_MASK; spins++) {
		if (deadline > 0.0 && spins % BURST_SPINS_PER_CLOCK == 0 && nst_seconds() > deadline) {
			sched_yield(); /* a worker inside is off the CPU: let it have ours */
			continue;
		}
		if (deadline == 0.0)
			deadline = nst_seconds() + BURST_SPIN_SECONDS;
		spin_pause();
	}
}

static void burst_item(void *context, size_t item) {
	struct nst_burst *b = context;
	if (item > 0) {
		burst_worker(b, item);
		return;
	}
	b->fn(b->context);
	burst_publish(b, atomic_load(&b->state) | BURST_ENDING);
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
	if (t.slots < 2)
		run_slot(&t, 0);
	else if (engine->burst)
		burst_region(engine->burst, &t);
	else /* workers that sleep after the region: without PTHREADPOOL_FLAG_YIELD_WORKERS pthreadpool's
	      * spin (see BURST_SPIN_SECONDS) */
		pthreadpool_parallelize_1d(engine->pool, run_slot, &t, t.slots, PTHREADPOOL_FLAG_YIELD_WORKERS);
}

void nst_parallel_burst(struct nst_engine *engine, nst_burst_fn fn, void *context) {
	const size_t threads = engine->pool ? pthreadpool_get_threads_count(engine->pool) : 1;
	/* XNNPACK's operators take the pool themselves: they cannot run inside one of its regions */
	if (engine->burst || threads < 2 || engine->threads < 2 || engine->backend == NST_BACKEND_XNNPACK) {
		fn(context);
		return;
	}
	struct nst_burst b = {.fn = fn, .context = context};
	atomic_init(&b.state, 0);
	atomic_init(&b.sleepers, 0);
	pthread_mutex_init(&b.mutex, NULL);
	pthread_cond_init(&b.posted, NULL);
	engine->burst = &b;
	pthreadpool_parallelize_1d(engine->pool, burst_item, &b, threads, PTHREADPOOL_FLAG_YIELD_WORKERS);
	engine->burst = NULL;
	pthread_cond_destroy(&b.posted);
	pthread_mutex_destroy(&b.mutex);
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
