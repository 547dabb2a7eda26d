/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics_more.c - unit tests for the figures daemon/opstat.h keeps
 * below http/ and how http/metrics.c renders them: a wait for a contended
 * lock lands in zot_storage_lock_latency_seconds (zot's buckets, labels
 * storageName and lockType), the store's repository lock is counted, and
 * nothing is counted while no metrics object lives; the scheduler's
 * workers, generators and queue follow a real sched.c worker; dedupe's
 * savings follow the content store's links; the mount's counters render
 * by operation and kind. (it/ops-metrics moves them with real mount I/O.)
 */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"
#include "tests/unit/storelib.h"
#include "tests/unit/metricslib.h"

#include "daemon/opstat.h"
#include "daemon/sched.h"
#include "http/metrics.h"

/* New counters whose storage root is @root. */
static struct metrics *fresh(const char *root)
{
	struct metrics_info info = {"0.1.0", NULL, "-metrics", "1.1.0", root};
	struct err err = ERR_INIT;
	struct metrics *m = metrics_new(&info, &err);

	assert_non_null(m);
	return m;
}

/* The exposition of @m (with @st's figures when not NULL), for free(). */
static char *render(struct metrics *m, struct store *st)
{
	struct err err = ERR_INIT;
	char *text = NULL;
	size_t n = 0;

	assert_int_equal(metrics_render(m, st, 0, &text, &n, &err), 0);
	assert_non_null(text);
	return text;
}

/* value_of() for a series given as a format. */
static double value_fmt(const char *text, const char *fmt, ...) PRINTF(2, 3);

static double value_fmt(const char *text, const char *fmt, ...)
{
	char series[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(series, sizeof(series), fmt, ap);
	va_end(ap);
	return value_of(text, series);
}

#define LOCK_SERIES(root, part)                                         \
	"zot_storage_lock_latency_seconds_" part "{storageName=\"" root \
	"\",lockType=\"RWLock\""

struct holder {
	pthread_mutex_t *lock; /* taken by the waiter */
	bool done;             /* the waiter has it */
};

static void *waiter(void *arg)
{
	struct holder *h = arg;

	opstat_lock(h->lock);
	__atomic_store_n(&h->done, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(h->lock);
	return NULL;
}

static void
test_a_contended_lock_wait_lands_in_zots_lock_histogram(void **state)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct metrics *m = fresh("/srv/a \"b\"");
	struct holder h = {&lock, false};
	double before, after, sum_before;
	pthread_t t;
	char *text;

	(void)state;
	text = render(m, NULL);
	before = value_of(text, LOCK_SERIES("/srv/a \\\"b\\\"", "count") "}");
	sum_before = value_of(text, LOCK_SERIES("/srv/a \\\"b\\\"", "sum") "}");
	free(text);
	/* Held here: the waiter's try fails, so it waits and is timed. */
	pthread_mutex_lock(&lock);
	assert_int_equal(pthread_create(&t, NULL, waiter, &h), 0);
	/* glibc marks a mutex with a thread asleep on it with 2: let go
	 * only once the waiter sleeps, past its try. */
	while (__atomic_load_n(&lock.__data.__lock, __ATOMIC_ACQUIRE) != 2)
		sched_yield();
	assert_false(__atomic_load_n(&h.done, __ATOMIC_ACQUIRE));
	pthread_mutex_unlock(&lock);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(h.done);

	text = render(m, NULL);
	after = value_of(text, LOCK_SERIES("/srv/a \\\"b\\\"", "count") "}");
	assert_true(before < 0 ? after == 1 : after == before + 1);
	/* The wait took some time, and the sum is seconds. */
	assert_true(value_of(text, LOCK_SERIES("/srv/a \\\"b\\\"", "sum") "}") >
	            (sum_before < 0 ? 0 : sum_before));
	/* zot's GetStorageLatencyBuckets(), cumulative, ending in +Inf. */
	{
		static const char *const le[] = {"0.001", "0.01", "0.1", "1",
		                                 "5",     "10",   "15",  "30",
		                                 "60",    "+Inf"};
		double prev = 0;

		for (size_t i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
			double v =
				value_fmt(text,
			                  LOCK_SERIES("/srv/a \\\"b\\\"",
			                              "bucket") ",le=\"%s\"}",
			                  le[i]);

			assert_true(v >= prev);
			prev = v;
		}
		assert_true(prev == after);
	}
	assert_non_null(strstr(text, "# TYPE zot_storage_lock_latency_seconds "
	                             "histogram\n"));
	free(text);
	metrics_free(m);
}

/* The lock waits counted so far, all buckets. */
static uint64_t lock_waits(void)
{
	struct opstat_snap o;
	uint64_t n = 0;

	opstat_read(&o);
	for (int i = 0; i < OPSTAT_LOCK_BUCKETS; i++)
		n += o.lock[i];
	return n;
}

static void test_the_repository_lock_is_counted_only_with_metrics(void **state)
{
	struct test_fixture *f = *state;
	struct metrics *m;
	struct image im;
	uint64_t n0, n1, n2;

	/* No metrics object: a push takes locks, none is counted. */
	n0 = lock_waits();
	make_image(f, "lk/a", "layer one", "", &im);
	put_image(f, "lk/a", "v1", &im);
	assert_false(opstat_on());
	assert_int_equal(lock_waits(), n0);

	m = fresh(f->root);
	assert_true(opstat_on());
	n1 = lock_waits();
	make_image(f, "lk/a", "layer two", "", &im);
	put_image(f, "lk/a", "v2", &im);
	n2 = lock_waits();
	assert_true(n2 > n1);
	metrics_free(m);
	assert_false(opstat_on());
	put_image(f, "lk/a", "v3", &im);
	assert_int_equal(lock_waits(), n2);
}

/* A task that holds the worker until the test lets it go. */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started; /* the task is running */
	bool open;    /* it may return */
	int runs;     /* times it ran */
};

static void gated(struct sched *s, void *arg)
{
	struct gate *g = arg;

	(void)s;
	pthread_mutex_lock(&g->lock);
	g->started = true;
	g->runs++;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void counted(struct sched *s, void *arg)
{
	struct gate *g = arg;

	(void)s;
	pthread_mutex_lock(&g->lock);
	g->runs++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void test_scheduler_figures_follow_the_worker(void **state)
{
	struct gate g = {.lock = PTHREAD_MUTEX_INITIALIZER,
	                 .cond = PTHREAD_COND_INITIALIZER};
	struct gate other = {.lock = PTHREAD_MUTEX_INITIALIZER,
	                     .cond = PTHREAD_COND_INITIALIZER};
	const uint64_t hour = 3600 * 1000;
	struct sched_task tasks[] = {
		{"gated", hour, 0, gated, &g},          /* runs at once */
		{"next", hour, 0, counted, &other},     /* due, queued */
		{"later", hour, hour, counted, &other}, /* waiting */
		{"never", 0, 0, counted, &other},       /* done */
	};
	struct metrics *m = fresh("/x");
	struct err err = ERR_INIT;
	struct sched *s;
	char *text;

	(void)state;
	text = render(m, NULL);
	assert_true(value_of(text, "zot_scheduler_workers_total") == 0);
	free(text);
	s = sched_start(tasks, 4, &err);
	assert_non_null(s);
	pthread_mutex_lock(&g.lock);
	while (!g.started)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);

	text = render(m, NULL);
	assert_true(value_of(text, "zot_scheduler_workers_total") == 1);
	assert_true(value_of(text,
	                     "zot_scheduler_workers{state=\"working\"}") == 1);
	assert_true(value_of(text, "zot_scheduler_workers{state=\"idle\"}") ==
	            0);
	assert_true(value_of(text, "zot_scheduler_generators_total") == 4);
	assert_true(value_of(text, "zot_scheduler_generators_status{priority="
	                           "\"low\",state=\"ready\"}") == 2);
	assert_true(value_of(text, "zot_scheduler_generators_status{priority="
	                           "\"low\",state=\"waiting\"}") == 1);
	assert_true(value_of(text, "zot_scheduler_generators_status{priority="
	                           "\"low\",state=\"done\"}") == 1);
	assert_true(value_of(text, "zot_scheduler_generators_status{priority="
	                           "\"high\",state=\"ready\"}") == 0);
	assert_true(value_of(text, "zot_scheduler_tasksqueue_length{priority="
	                           "\"low\"}") == 1);
	assert_true(value_of(text, "zot_scheduler_tasksqueue_length{priority="
	                           "\"medium\"}") == 0);
	free(text);

	/* Let it go: the queued task runs, and then nothing is due. */
	pthread_mutex_lock(&g.lock);
	g.open = true;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	pthread_mutex_lock(&other.lock);
	while (other.runs < 1)
		pthread_cond_wait(&other.cond, &other.lock);
	pthread_mutex_unlock(&other.lock);
	sched_stop(s);
	text = render(m, NULL);
	assert_true(value_of(text, "zot_scheduler_workers_total") == 0);
	assert_true(value_of(text, "zot_scheduler_tasksqueue_length{priority="
	                           "\"low\"}") == 0);
	free(text);
	metrics_free(m);
}

static void test_dedupe_savings_follow_the_content_stores_links(void **state)
{
	struct test_fixture *f = *state;
	static const char content[] = "the same layer in three repositories";
	const size_t len = sizeof(content) - 1;
	struct metrics *m = fresh(f->root);
	struct err err = ERR_INIT;
	double before;
	char *text;

	push_blob(f, "dd/one", content);
	assert_int_equal(store_dedupe_saved(f->st), 0); /* one link */
	text = render(m, f->st);
	before = value_of(text, "dray_dedupe_saved_bytes");
	assert_true(before == 0);
	free(text);
	push_blob(f, "dd/two", content);
	push_blob(f, "dd/three", content);
	assert_int_equal(store_dedupe_saved(f->st), 2 * len);
	text = render(m, f->st);
	assert_true(value_of(text, "dray_dedupe_saved_bytes") == 2.0 * len);
	free(text);
	/* A repository's link gone: one copy fewer saved. */
	{
		struct digest d = digest_of(DIGEST_SHA256, content, len);

		assert_int_equal(store_blob_delete(f->st, "dd/two", &d, &err),
		                 0);
	}
	assert_int_equal(store_dedupe_saved(f->st), len);
	metrics_free(m);
}

static void test_mount_counters_render_by_operation_and_kind(void **state)
{
	struct metrics *m = fresh("/x");
	struct opstat_snap o0;
	char *text;

	(void)state;
	opstat_read(&o0);
	opstat_mount_op(OPSTAT_LOOKUP);
	opstat_mount_op(OPSTAT_READ);
	opstat_mount_op(OPSTAT_READ);
	opstat_mount_bytes(false, 4096);
	opstat_mount_bytes(true, 100);
	opstat_mount_commit(OPSTAT_BLOB, true);
	opstat_mount_commit(OPSTAT_INDEX, false);
	text = render(m, NULL);
	assert_true(
		value_of(text, "dray_mount_operations_total{op=\"lookup\"}") ==
		(double)o0.ops[OPSTAT_LOOKUP] + 1);
	assert_true(
		value_of(text, "dray_mount_operations_total{op=\"read\"}") ==
		(double)o0.ops[OPSTAT_READ] + 2);
	assert_true(
		value_of(text, "dray_mount_operations_total{op=\"rename\"}") ==
		(double)o0.ops[OPSTAT_RENAME]);
	assert_true(value_of(text, "dray_mount_read_bytes_total") ==
	            (double)o0.read_bytes + 4096);
	assert_true(value_of(text, "dray_mount_written_bytes_total") ==
	            (double)o0.write_bytes + 100);
	assert_true(value_of(text, "dray_mount_commits_total{kind=\"blob\"}") ==
	            (double)o0.commits[OPSTAT_BLOB] + 1);
	assert_true(
		value_of(text, "dray_mount_refusals_total{kind=\"index\"}") ==
		(double)o0.refusals[OPSTAT_INDEX] + 1);
	assert_true(
		value_of(text, "dray_mount_refusals_total{kind=\"layout\"}") ==
		(double)o0.refusals[OPSTAT_LAYOUT]);
	assert_non_null(strstr(text, "# TYPE dray_mount_operations_total "
	                             "counter\n"));
	free(text);
	metrics_free(m);

	/* No metrics object: nothing moves. */
	opstat_read(&o0);
	opstat_mount_op(OPSTAT_LOOKUP);
	opstat_mount_bytes(false, 4096);
	opstat_mount_commit(OPSTAT_BLOB, true);
	{
		struct opstat_snap o1;

		opstat_read(&o1);
		assert_true(o1.ops[OPSTAT_LOOKUP] == o0.ops[OPSTAT_LOOKUP]);
		assert_true(o1.read_bytes == o0.read_bytes);
		assert_true(o1.commits[OPSTAT_BLOB] == o0.commits[OPSTAT_BLOB]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_a_contended_lock_wait_lands_in_zots_lock_histogram),
		TF(test_the_repository_lock_is_counted_only_with_metrics),
		cmocka_unit_test(test_scheduler_figures_follow_the_worker),
		TF(test_dedupe_savings_follow_the_content_stores_links),
		cmocka_unit_test(
			test_mount_counters_render_by_operation_and_kind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
