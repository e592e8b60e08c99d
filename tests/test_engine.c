/*
 * The engine's parallel-for (src/engine.c):
 *   - every item runs exactly once, on the calling thread without a pool, on the pool's threads
 *     with one, each slot taking the items of its own range in increasing order;
 *   - a slot held up on one item holds up only that item: while the first item taken (whichever
 *     slot's thread starts first; a loaded machine may start the worker before the caller) waits
 *     (up to 5 s) for all the others to finish, the other slot takes them all, its own range
 *     first and in order, then what is left of the held slot's (with items dealt to slots for
 *     good, the held slot would keep half of them and the wait would time out; with one shared
 *     counter, the other slot would continue from the held item and its thread would not keep to
 *     its own part of the picture);
 *   - nst_parallel_sums gives the same bits on the pool as on the calling thread, and right sums;
 *   - after a region the pool's workers sleep in the kernel instead of spin-waiting for the next
 *     one: spinning burns a CPU between regions (the serial parts of an evaluation, the optimizer's
 *     step) that the calling thread, and on a shared machine every other process, needs.  Checked
 *     as the process's CPU time while the calling thread sleeps 100 ms after a region: a spinning
 *     worker (pthreadpool's default, about a million pause instructions) uses tens of
 *     milliseconds of it, a sleeping one none;
 *   - inside a burst (nst_parallel_burst) its function runs on the calling thread, every item still
 *     runs once, a held slot holds up only its item (so a worker joined the region), sums keep
 *     their bits; its workers spin only microseconds before they sleep (checked as above, inside
 *     the burst), and a region posted to sleeping workers wakes them (the same checks again); a
 *     nested burst runs inside the outer one; after the burst the workers sleep (as above).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/internal.h"
#include "check.h"

#define ITEMS 7
#define SLEEP_NS (100 * 1000 * 1000)
#define SPIN_BUDGET_S 0.005
#define HOLD_UP_S 5.0

struct count_task {
	atomic_int runs[ITEMS];
	atomic_int slot_of[ITEMS];
	atomic_int taken[ITEMS][ITEMS]; /* [slot][k]: the k-th item slot took */
	atomic_int n_taken[ITEMS];      /* [slot] */
	atomic_int done;                /* items finished */
	atomic_int held;                /* the item that waited, -1 before */
	bool hold_first;                /* the first item taken waits for all the others */
};

static double seconds(clockid_t clock) {
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void count_item(void *context, size_t slot, size_t item) {
	struct count_task *t = context;
	atomic_fetch_add(&t->runs[item], 1);
	atomic_store(&t->slot_of[item], (int)slot);
	atomic_store(&t->taken[slot][atomic_fetch_add(&t->n_taken[slot], 1)], (int)item);
	int none = -1;
	if (t->hold_first && atomic_compare_exchange_strong(&t->held, &none, (int)item)) {
		const double t0 = seconds(CLOCK_MONOTONIC);
		while (atomic_load(&t->done) < ITEMS - 1 && seconds(CLOCK_MONOTONIC) - t0 < HOLD_UP_S) {
			const struct timespec tick = {0, 1000 * 1000};
			nanosleep(&tick, NULL);
		}
	}
	atomic_fetch_add(&t->done, 1);
}

static void count_init(struct count_task *t, bool hold_first) {
	for (int i = 0; i < ITEMS; i++) {
		atomic_init(&t->runs[i], 0);
		atomic_init(&t->slot_of[i], -1);
		atomic_init(&t->n_taken[i], 0);
		for (int k = 0; k < ITEMS; k++)
			atomic_init(&t->taken[i][k], -1);
	}
	atomic_init(&t->done, 0);
	atomic_init(&t->held, -1);
	t->hold_first = hold_first;
}

static void check_each_item_once(const struct nst_engine *e, const char *what) {
	struct count_task t;
	count_init(&t, false);
	nst_parallel_for(e, ITEMS, count_item, &t);
	const size_t slots = nst_parallel_slots(e, ITEMS);
	for (int i = 0; i < ITEMS; i++) {
		CHECK(atomic_load(&t.runs[i]) == 1, "%s: item %d ran %d times", what, i, atomic_load(&t.runs[i]));
		CHECK(atomic_load(&t.slot_of[i]) >= 0 && (size_t)atomic_load(&t.slot_of[i]) < slots,
		      "%s: item %d ran in slot %d of %zu", what, i, atomic_load(&t.slot_of[i]), slots);
	}
	for (size_t s = 0; s < slots; s++) { /* its own range [ITEMS s / slots, ITEMS (s + 1) / slots) in order */
		int last = -1;
		for (int k = 0; k < atomic_load(&t.n_taken[s]); k++) {
			const int item = atomic_load(&t.taken[s][k]);
			if ((size_t)item * slots >= ITEMS * s && (size_t)item * slots < ITEMS * (s + 1)) {
				CHECK(item > last, "%s: slot %zu took its own item %d after %d", what, s, item, last);
				last = item;
			}
		}
	}
}

static void test_held_up_slot(const struct nst_engine *e) {
	struct count_task t;
	count_init(&t, true);
	const double t0 = seconds(CLOCK_MONOTONIC);
	nst_parallel_for(e, ITEMS, count_item, &t);
	const double waited = seconds(CLOCK_MONOTONIC) - t0;
	const int held = atomic_load(&t.held), held_slot = held >= 0 ? atomic_load(&t.slot_of[held]) : -1;
	int others = 0;
	for (int i = 0; i < ITEMS; i++)
		others += i != held && atomic_load(&t.slot_of[i]) != held_slot;
	CHECK(held_slot >= 0 && others == ITEMS - 1 && waited < HOLD_UP_S,
	      "a slot held up on item %d: %d of the %d other items ran in another slot, %.2f s", held, others, ITEMS - 1,
	      waited);
	if (held_slot < 0 || held_slot > 1)
		return;
	/* 2 slots, slot s owning [ITEMS s / 2, ITEMS (s + 1) / 2): the held slot was on its first item;
	 * the other took its own range in order, then the rest of the held slot's */
	const int other = 1 - held_slot;
	const int held_lo = ITEMS * held_slot / 2;
	const int own_lo = ITEMS * other / 2, own_hi = ITEMS * (other + 1) / 2;
	CHECK(held == held_lo, "the held slot %d was held on item %d, not its first (%d)", held_slot, held, held_lo);
	CHECK(atomic_load(&t.n_taken[other]) == ITEMS - 1, "the other slot took %d items", atomic_load(&t.n_taken[other]));
	for (int k = 0; k < ITEMS - 1; k++) {
		const int own = own_hi - own_lo, want = k < own ? own_lo + k : held_lo + 1 + (k - own);
		CHECK(atomic_load(&t.taken[other][k]) == want, "the other slot's item %d: %d, want %d (own range first)", k,
		      atomic_load(&t.taken[other][k]), want);
	}
}

/* nst_parallel_sums: the same bits on the pool as on the calling thread, and the sums right. */
static void squares(void *context, size_t i0, size_t i1, double *sums) {
	const float *x = context;
	for (size_t i = i0; i < i1; i++) {
		sums[0] += (double)x[i] * (double)x[i];
		sums[1] += (double)x[i];
	}
}

static void test_sums(const struct nst_engine *e) {
	const size_t sizes[] = {NST_SUM_PARTS - 1, NST_SUM_PARALLEL_MIN - 1, 3 * NST_SUM_PARALLEL_MIN + 7};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		const size_t n = sizes[k];
		float *x = malloc(n * sizeof(float));
		uint32_t state = 12345u;
		for (size_t i = 0; i < n; i++) {
			state = state * 1664525u + 1013904223u;
			x[i] = (float)(state >> 8) / (float)(1u << 24) - 0.5f;
		}
		double here[NST_SUM_MAX], pool[NST_SUM_MAX], want[2] = {0.0, 0.0};
		nst_parallel_sums(NULL, n, squares, x, 2, here);
		nst_parallel_sums(e, n, squares, x, 2, pool);
		for (size_t i = 0; i < n; i++) {
			want[0] += (double)x[i] * (double)x[i];
			want[1] += (double)x[i];
		}
		CHECK(memcmp(here, pool, sizeof here) == 0, "sums of %zu: %.17g %.17g on the pool, %.17g %.17g here", n, pool[0],
		      pool[1], here[0], here[1]);
		CHECK(fabs(here[0] - want[0]) <= 1e-12 * want[0] && fabs(here[1] - want[1]) <= 1e-9 * (double)n,
		      "sums of %zu: %.17g %.17g, want %.17g %.17g", n, here[0], here[1], want[0], want[1]);
		free(x);
	}
}


static double cpu_while_sleeping(void) {
	const double c0 = seconds(CLOCK_PROCESS_CPUTIME_ID);
	const struct timespec pause = {0, SLEEP_NS};
	nanosleep(&pause, NULL);
	return seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

static void test_workers_sleep(const struct nst_engine *e) {
	struct count_task t;
	count_init(&t, false);
	nst_parallel_for(e, ITEMS, count_item, &t);
	const double used = cpu_while_sleeping();
	CHECK(used < SPIN_BUDGET_S, "the pool's workers used %.1f ms of CPU in the 100 ms after a region", 1e3 * used);
}

struct burst_case {
	struct nst_engine *e;
	pthread_t caller;
	bool on_caller, nested_ran;
	double spun; /* CPU in SLEEP_NS on the calling thread inside the burst */
};

static void nested_burst(void *context) {
	struct burst_case *c = context;
	c->nested_ran = true;
	check_each_item_once(c->e, "a nested burst");
}

static void burst_body(void *context) {
	struct burst_case *c = context;
	c->on_caller = pthread_equal(pthread_self(), c->caller);
	check_each_item_once(c->e, "pool of 2 in a burst");
	test_held_up_slot(c->e); /* a worker joined the region: the held item waited for the others */
	test_sums(c->e);
	c->spun = cpu_while_sleeping(); /* the workers spin some microseconds, then sleep */
	check_each_item_once(c->e, "in a burst, the workers woken");
	test_held_up_slot(c->e);
	nst_parallel_burst(c->e, nested_burst, c);
}

static void test_burst(struct nst_engine *e) {
	struct burst_case c = {.e = e, .caller = pthread_self()};
	nst_parallel_burst(e, burst_body, &c);
	CHECK(c.on_caller, "a burst's function ran on another thread than the caller's");
	CHECK(c.nested_ran, "a nested burst's function did not run");
	CHECK(c.spun < SPIN_BUDGET_S, "inside a burst the workers used %.1f ms of CPU in 100 ms: they spun on", 1e3 * c.spun);
	const double used = cpu_while_sleeping();
	printf("CPU in 100 ms: %.2f ms inside a burst, %.2f ms after its end\n", 1e3 * c.spun, 1e3 * used);
	CHECK(used < SPIN_BUDGET_S, "after a burst the pool's workers used %.1f ms of CPU in 100 ms", 1e3 * used);
}

static void count_in_burst(void *context) {
	struct burst_case *c = context;
	c->on_caller = pthread_equal(pthread_self(), c->caller);
	check_each_item_once(c->e, "no pool, in a burst");
}

int main(void) {
	struct nst_engine one, two;
	CHECK(nst_engine_init(&one, NST_BACKEND_SCALAR, NST_PRECISION_FP32, 1, NULL) == NST_OK, "engine of 1 thread");
	CHECK(nst_engine_start(&one, NULL) == NST_OK && one.pool == NULL, "one thread: no pool");
	check_each_item_once(&one, "no pool");
	struct burst_case alone = {.e = &one, .caller = pthread_self()}; /* without a pool: fn just runs */
	nst_parallel_burst(&one, count_in_burst, &alone);
	CHECK(alone.on_caller, "no pool: the burst's function ran on another thread");
	CHECK(nst_engine_init(&two, NST_BACKEND_SCALAR, NST_PRECISION_FP32, 2, NULL) == NST_OK, "engine of 2 threads");
	CHECK(nst_engine_start(&two, NULL) == NST_OK, "2 threads start");
	if (two.pool && pthreadpool_get_threads_count(two.pool) > 1) {
		check_each_item_once(&two, "pool of 2");
		test_held_up_slot(&two);
		test_sums(&two);
		test_workers_sleep(&two);
		test_burst(&two);
	} else {
		printf("one CPU only: the pool's cases are skipped\n");
	}
	nst_engine_release(&two);
	nst_engine_release(&one);
	return check_finish("test_engine");
}
