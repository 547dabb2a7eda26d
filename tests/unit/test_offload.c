/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_offload.c - unit tests for http/offload.c, the worker pool that
 * runs slow steps off the listener threads: every job queued is run and
 * done once; the queue is bounded and a job that does not fit is
 * refused (its caller runs it inline); stopping with jobs queued ends
 * those without running them, waits for the one under way, and refuses
 * more. Events, never sleeps: a job can be made to wait at a gate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <setjmp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "http/http_int.h"

struct tjob {
	struct offload_job base; /* first */
	bool gated;              /* run waits for the gate */
	bool was_queued;         /* @queued ran */
	bool queued_first;       /* ... before @run */
	int runs, dones;
	bool ran;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int started, finished;

static void t_queued(struct offload_job *base)
{
	((struct tjob *)base)->was_queued = true;
}

static void t_run(struct offload_job *base)
{
	struct tjob *j = (struct tjob *)base;

	pthread_mutex_lock(&lock);
	j->queued_first = j->was_queued;
	j->runs++;
	started++;
	pthread_cond_broadcast(&cond);
	while (j->gated && !gate_open)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void t_done(struct offload_job *base, bool ran)
{
	struct tjob *j = (struct tjob *)base;

	pthread_mutex_lock(&lock);
	j->dones++;
	j->ran = ran;
	finished++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static void tjob_init(struct tjob *j, bool gated)
{
	*j = (struct tjob){.gated = gated};
	j->base = (struct offload_job){t_queued, t_run, t_done, NULL};
}

static void reset(void)
{
	pthread_mutex_lock(&lock);
	gate_open = false;
	started = finished = 0;
	pthread_mutex_unlock(&lock);
}

static void wait_count(const int *counter, int n)
{
	pthread_mutex_lock(&lock);
	while (*counter < n)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void open_gate(void)
{
	pthread_mutex_lock(&lock);
	gate_open = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* Every job is run once on a worker, after its @queued hook. */
static void test_runs_all(void **state)
{
	struct err err = ERR_INIT;
	struct offload *o = offload_new(4, 64, 0, &err);
	struct tjob jobs[40];

	(void)state;
	reset();
	assert_non_null(o);
	for (int i = 0; i < 40; i++) {
		tjob_init(&jobs[i], false);
		assert_true(offload_submit(o, &jobs[i].base));
	}
	wait_count(&finished, 40);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(1, jobs[i].runs);
		assert_int_equal(1, jobs[i].dones);
		assert_true(jobs[i].ran);
		assert_true(jobs[i].queued_first);
	}
	offload_stop(o);
	offload_free(o);
}

/*
 * One worker, a queue of @max: @held taken by the worker and waiting at
 * the gate, @q1 and @q2 queued behind it; @extra only initialised.
 */
static struct offload *held_pool(size_t max, struct tjob *held, struct tjob *q1,
                                 struct tjob *q2, struct tjob *extra)
{
	struct err err = ERR_INIT;
	struct offload *o = offload_new(1, max, 0, &err);

	reset();
	assert_non_null(o);
	tjob_init(held, true);
	tjob_init(q1, false);
	tjob_init(q2, false);
	tjob_init(extra, false);
	assert_true(offload_submit(o, &held->base));
	wait_count(&started, 1); /* taken: no longer queued */
	assert_true(offload_submit(o, &q1->base));
	assert_true(offload_submit(o, &q2->base));
	return o;
}

/*
 * One worker held at the gate, a queue of 2: two more fit, the next is
 * refused (run inline by its caller) and never touched by the pool.
 */
static void test_queue_bound(void **state)
{
	struct tjob held, q1, q2, over;
	struct offload *o = held_pool(2, &held, &q1, &q2, &over);

	(void)state;
	assert_false(offload_submit(o, &over.base));
	assert_false(over.was_queued);
	open_gate();
	wait_count(&finished, 3);
	assert_int_equal(1, q1.runs);
	assert_int_equal(1, q2.runs);
	assert_int_equal(0, over.runs);
	assert_int_equal(0, over.dones);
	/* Room again once the queue drained. */
	assert_true(offload_submit(o, &over.base));
	wait_count(&finished, 4);
	assert_int_equal(1, over.runs);
	offload_stop(o);
	offload_free(o);
}

static void *stop_main(void *arg)
{
	offload_stop(arg);
	return NULL;
}

/*
 * Stopping with a job under way and two queued: the queued ones are done
 * without running (ran false) while the one under way still runs; stop
 * returns once it finished; later submissions are refused.
 */
static void test_stop_with_queued(void **state)
{
	struct tjob held, q1, q2, late;
	struct offload *o = held_pool(8, &held, &q1, &q2, &late);
	pthread_t stopper;

	(void)state;
	assert_int_equal(0, pthread_create(&stopper, NULL, stop_main, o));
	wait_count(&finished, 2); /* the queued two, while held waits */
	pthread_mutex_lock(&lock);
	assert_int_equal(0, held.dones);
	pthread_mutex_unlock(&lock);
	assert_int_equal(1, q1.dones);
	assert_false(q1.ran);
	assert_int_equal(0, q1.runs);
	assert_int_equal(1, q2.dones);
	assert_false(q2.ran);
	assert_int_equal(0, q2.runs);
	assert_false(offload_submit(o, &late.base));
	open_gate();
	assert_int_equal(0, pthread_join(stopper, NULL));
	assert_int_equal(1, held.dones);
	assert_true(held.ran);
	assert_false(offload_submit(o, &late.base));
	assert_int_equal(0, late.dones);
	offload_free(o);
}

/* No pool: everything inline; the destructors take NULL. */
static void test_null(void **state)
{
	struct tjob j;

	(void)state;
	tjob_init(&j, false);
	assert_false(offload_submit(NULL, &j.base));
	offload_stop(NULL);
	offload_free(NULL);
}

/* A job that notes its worker's nice value. */
struct nice_job {
	struct offload_job base; /* first */
	int nice;
	bool done;
};

static void n_run(struct offload_job *base)
{
	struct nice_job *j = (struct nice_job *)base;

	errno = 0;
	j->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	assert_int_equal(errno, 0);
}

static void n_done(struct offload_job *base, bool ran)
{
	struct nice_job *j = (struct nice_job *)base;

	assert_true(ran);
	pthread_mutex_lock(&lock);
	j->done = true;
	finished++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* Workers run at the nice value asked for, the caller's is unchanged. */
static void test_nice_workers(void **state)
{
	struct err err = ERR_INIT;
	int mine, n = 0;
	struct offload *o;
	struct nice_job j[2];

	(void)state;
	errno = 0;
	mine = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	assert_int_equal(errno, 0);
	for (int i = 0; i < 2; i++) {
		o = offload_new(1, 4, i ? 5 : 0, &err);
		assert_non_null(o);
		reset();
		j[i] = (struct nice_job){.base = {NULL, n_run, n_done, NULL}};
		assert_true(offload_submit(o, &j[i].base));
		wait_count(&finished, 1);
		offload_stop(o);
		offload_free(o);
		n++;
	}
	assert_int_equal(n, 2);
	assert_int_equal(j[0].nice, mine);
	assert_int_equal(j[1].nice, mine + 5 > 19 ? 19 : mine + 5);
	errno = 0;
	assert_int_equal(getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)),
	                 mine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_all),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_stop_with_queued),
		cmocka_unit_test(test_nice_workers),
		cmocka_unit_test(test_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
