/*
 * The engine's parallel-for (src/engine.c):
 *   - every item runs exactly once, on the calling thread without a pool, on the pool's threads
 *     with one, and the slots follow the one work policy (item i in slot i mod slots);
 *   - after a region the pool's workers sleep in the kernel instead of spin-waiting for the next
 *     one: spinning burns a CPU between regions (the serial parts of an evaluation, the optimizer's
 *     step) that the calling thread, and on a shared machine every other process, needs.  Checked
 *     as the process's CPU time while the calling thread sleeps 100 ms after a region: a spinning
 *     worker (pthreadpool's default, about a million pause instructions) uses tens of
 *     milliseconds of it, a sleeping one none.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "../src/internal.h"
#include "check.h"

#define ITEMS 7
#define SLEEP_NS (100 * 1000 * 1000)
#define SPIN_BUDGET_S 0.005

struct count_task {
	atomic_int runs[ITEMS];
	atomic_int slot_of[ITEMS];
};

static void count_item(void *context, size_t slot, size_t item) {
	struct count_task *t = context;
	atomic_fetch_add(&t->runs[item], 1);
	atomic_store(&t->slot_of[item], (int)slot);
}

static double cpu_seconds(void) {
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check_each_item_once(const struct nst_engine *e, const char *what) {
	struct count_task t;
	for (int i = 0; i < ITEMS; i++) {
		atomic_init(&t.runs[i], 0);
		atomic_init(&t.slot_of[i], -1);
	}
	nst_parallel_for(e, ITEMS, count_item, &t);
	const size_t slots = nst_parallel_slots(e, ITEMS);
	for (int i = 0; i < ITEMS; i++) {
		CHECK(atomic_load(&t.runs[i]) == 1, "%s: item %d ran %d times", what, i, atomic_load(&t.runs[i]));
		CHECK(atomic_load(&t.slot_of[i]) == (int)((size_t)i % slots), "%s: item %d ran in slot %d of %zu", what, i,
		      atomic_load(&t.slot_of[i]), slots);
	}
}

static void test_workers_sleep(const struct nst_engine *e) {
	struct count_task t;
	for (int i = 0; i < ITEMS; i++) {
		atomic_init(&t.runs[i], 0);
		atomic_init(&t.slot_of[i], -1);
	}
	nst_parallel_for(e, ITEMS, count_item, &t);
	const double c0 = cpu_seconds();
	const struct timespec pause = {0, SLEEP_NS};
	nanosleep(&pause, NULL);
	const double used = cpu_seconds() - c0;
	CHECK(used < SPIN_BUDGET_S, "the pool's workers used %.1f ms of CPU in the 100 ms after a region", 1e3 * used);
}

int main(void) {
	struct nst_engine one, two;
	CHECK(nst_engine_init(&one, NST_BACKEND_SCALAR, NST_PRECISION_FP32, 1, NULL) == NST_OK, "engine of 1 thread");
	CHECK(nst_engine_start(&one, NULL) == NST_OK && one.pool == NULL, "one thread: no pool");
	check_each_item_once(&one, "no pool");
	CHECK(nst_engine_init(&two, NST_BACKEND_SCALAR, NST_PRECISION_FP32, 2, NULL) == NST_OK, "engine of 2 threads");
	CHECK(nst_engine_start(&two, NULL) == NST_OK, "2 threads start");
	if (two.pool && pthreadpool_get_threads_count(two.pool) > 1) {
		check_each_item_once(&two, "pool of 2");
		test_workers_sleep(&two);
	} else {
		printf("one CPU only: the pool's cases are skipped\n");
	}
	nst_engine_release(&two);
	nst_engine_release(&one);
	return check_finish("test_engine");
}
