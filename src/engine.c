/*
 * The engine: backend + precision -> kernel set, the thread pool, and the parallel-for (see
 * src/engine.h for the work policy).
 */
#include "internal.h"

const struct nst_gemm_kernel *nst_engine_kernels(enum nst_backend backend, enum nst_precision precision) {
	struct nst_cpu_features cpu;
	nst_cpu_detect(&cpu);
	const struct nst_gemm_kernel *best = nst_gemm_kernel_best(&cpu), *scalar = nst_gemm_kernel_scalar();
	const bool has_simd = best != scalar;
	switch (backend) {
	case NST_BACKEND_SCALAR:
		return precision == NST_PRECISION_FP16 ? nst_gemm_kernel_f16(&cpu, true) : scalar;
	case NST_BACKEND_SIMD:
		if (!has_simd)
			return NULL;
		return precision == NST_PRECISION_FP16 ? nst_gemm_kernel_f16(&cpu, false) : best;
	case NST_BACKEND_AUTO:
		return nst_engine_kernels(has_simd ? NST_BACKEND_SIMD : NST_BACKEND_SCALAR, precision);
	case NST_BACKEND_XNNPACK:
		return precision == NST_PRECISION_FP16 ? NULL : best;
	}
	return NULL;
}

enum nst_status nst_engine_init(struct nst_engine *engine, enum nst_backend backend, enum nst_precision precision,
                                int threads, struct nst_diag *diag) {
	*engine = (struct nst_engine){.threads = threads > 0 ? threads : nst_cpu_count()};
	const struct nst_gemm_kernel *fp32 = nst_engine_kernels(backend, NST_PRECISION_FP32);
	if (!fp32)
		return nst_fail(diag, NST_ERR_UNSUPPORTED, "backend simd: this CPU has no SIMD kernels in this build");
	if (backend == NST_BACKEND_AUTO)
		backend = fp32 == nst_engine_kernels(NST_BACKEND_SCALAR, NST_PRECISION_FP32) ? NST_BACKEND_SCALAR
		                                                                             : NST_BACKEND_SIMD;
	const struct nst_gemm_kernel *f16 =
		precision == NST_PRECISION_FP16 ? nst_engine_kernels(backend, NST_PRECISION_FP16) : NULL;
	engine->gemm = f16 ? f16 : fp32;
	engine->backend = backend;
	engine->precision = f16 ? NST_PRECISION_FP16 : NST_PRECISION_FP32;
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

void nst_parallel_for(const struct nst_engine *engine, size_t items, nst_task_fn fn, void *context) {
	struct parallel_task t = {fn, context, items, nst_parallel_slots(engine, items)};
	if (t.slots > 1)
		pthreadpool_parallelize_1d(engine->pool, run_slot, &t, t.slots, 0);
	else
		run_slot(&t, 0);
}
