/*
 * The engine: backend + precision -> kernel set, the thread pool, and the parallel-for (see
 * src/engine.h for the work policy).
 */
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
	const int cpus = nst_cpu_count();
	return pthreadpool_create((size_t)(threads < cpus ? threads : cpus));
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
	return (size_t)engine->threads < items ? (size_t)engine->threads : items;
}

struct parallel_task {
	nst_task_fn fn;
	void *context;
	size_t items, slots;
};

static void run_slot(void *context, size_t slot) {
	const struct parallel_task *t = context;
	for (size_t item = slot; item < t->items; item += t->slots)
		t->fn(t->context, slot, item);
}

/* PTHREADPOOL_FLAG_YIELD_WORKERS: without it, pthreadpool's workers spin (about a million pause
 * instructions, milliseconds) waiting for the next region after each one.  An evaluation of the
 * distilled network runs about 60 regions with serial work between them; with more runnable threads
 * than CPUs (a shared machine) the spinning worker takes the CPU from the calling thread, which has
 * that serial work to do: measured at 2 threads on 2 loaded CPUs, 2.4x the wall time of sleeping
 * workers.  Idle, waking a sleeping worker costs a system call and some microseconds per region. */
void nst_parallel_for(const struct nst_engine *engine, size_t items, nst_task_fn fn, void *context) {
	struct parallel_task t = {fn, context, items, nst_parallel_slots(engine, items)};
	if (t.slots > 1)
		pthreadpool_parallelize_1d(engine->pool, run_slot, &t, t.slots, PTHREADPOOL_FLAG_YIELD_WORKERS);
	else
		run_slot(&t, 0);
}
