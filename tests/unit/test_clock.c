/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_clock.c - unit tests for daemon/clock.h: the age clocks follow the
 * offset file that DRAY_TEST_CLOCK_FILE names (absent or malformed: no
 * offset; rewritten: the new offset), and the decisions by age read them:
 * each time maps onto the age clock with the offset in force then; a GC
 * pass collects a loose blob and drops an idle upload session once the
 * offsets make them older than the delay, and not before, while a blob
 * pushed after a step stays.
 *
 * main() sets DRAY_TEST_CLOCK_FILE before any clock is read; each test
 * gets its own store in a mkdtemp directory and writes the offset file
 * there (the variable names a path inside a directory made first).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tests/unit/testlib.h"

#include "daemon/clock.h"
#include "daemon/digest.h"
#include "daemon/err.h"
#include "daemon/fsutil.h"
#include "index/store.h"

#define HOUR_MS (3600u * 1000u)

/* Where the offset file lives: DRAY_TEST_CLOCK_FILE is "<clock_dir>/off". */
static char clock_dir[64];
static char clock_file[96];

static int setup(void **state)
{
	unlink(clock_file);
	return test_fixture_setup(state, "clock");
}

static int teardown(void **state)
{
	unlink(clock_file);
	return test_fixture_teardown(state);
}

/* Replace the offset file atomically with @text. */
static void write_offset(const char *text)
{
	struct err err = ERR_INIT;

	assert_int_equal(fs_write_atomic(clock_dir, clock_file, text,
	                                 strlen(text), &err),
	                 0);
}

/* The age clocks are the real ones shifted by exactly @off_s seconds. */
static void assert_offset(int64_t off_s)
{
	int64_t off = off_s * 1000;
	uint64_t w1 = clock_wall_ms(), a = clock_age_wall_ms();
	uint64_t w2 = clock_wall_ms();
	uint64_t m1 = clock_mono_ms(), b = clock_age_mono_ms();
	uint64_t m2 = clock_mono_ms();

	assert_true((int64_t)a >= (int64_t)w1 + off);
	assert_true((int64_t)a <= (int64_t)w2 + off);
	assert_true((int64_t)b >= (int64_t)m1 + off);
	assert_true((int64_t)b <= (int64_t)m2 + off);
}

static void test_the_age_clocks_follow_the_offset_file(void **state)
{
	(void)state;
	assert_string_equal(clock_test_file(), clock_file);
	assert_offset(0); /* no file yet */
	write_offset("7200\n");
	assert_offset(7200);
	write_offset("60");
	assert_offset(60);
	write_offset("-30\n");
	assert_offset(-30);
	write_offset("5 minutes"); /* malformed: no offset */
	assert_offset(0);
	write_offset("0 90\n");
	assert_offset(90);
	unlink(clock_file);
	assert_offset(0);
}

/* Wait until the wall clock is past @t, and file times too (they come
 * from a coarser clock, a tick behind at most). */
static void pass_time(uint64_t t)
{
	struct timespec ms = {0, 1000000};

	while (clock_wall_ms() <= t + 50)
		nanosleep(&ms, NULL);
}

/* Append step "<now> <off_s>" to @text (the file's lines so far) and
 * write it; returns the step's time, after which it is in force. */
static uint64_t add_step(char *text, size_t n, long long off_s)
{
	uint64_t since = clock_wall_ms();
	size_t len = strlen(text);

	assert_true((size_t)snprintf(text + len, n - len, "%llu %lld\n",
	                             (unsigned long long)since,
	                             off_s) < n - len);
	write_offset(text);
	return since;
}

static void test_times_map_with_the_offset_in_force_then(void **state)
{
	char text[256] = "";
	uint64_t since, a;

	(void)state;
	since = add_step(text, sizeof(text), 3600);
	pass_time(since);
	assert_offset(3600);
	/* Up to the step's time, no offset; after it, an hour. */
	assert_int_equal(clock_age_wall_of(since - 5000), since - 5000);
	assert_int_equal(clock_age_wall_of(since), since);
	assert_int_equal(clock_age_wall_of(since + 1), since + 1 + HOUR_MS);
	/* A later step: times between the two keep the first offset. */
	pass_time(add_step(text, sizeof(text), 7200));
	assert_offset(7200);
	a = clock_age_wall_of(since + 1);
	assert_int_equal(a, since + 1 + HOUR_MS);
	assert_int_equal(clock_age_wall_of(since - 1), since - 1);
}

static void test_gc_ages_by_the_test_clock(void **state)
{
	struct test_fixture *f = *state;
	struct gc_opts o = {.delay_ms = HOUR_MS};
	char id[STORE_UPLOAD_ID_MAX], idle[STORE_UPLOAD_ID_MAX];
	static const char old[] = "loose blob", young[] = "pushed later";
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	char text[256] = "";
	struct digest d, e;
	struct upload *u;
	uint64_t size;
	const char *data = old;

	/* A blob that no manifest names, and a session left idle. */
	for (int k = 0; k < 2; k++) {
		struct digest *dd = k ? &e : &d;

		if (k) { /* the second blob 59 minutes later */
			pass_time(add_step(text, sizeof(text), 3540));
			data = young;
		}
		assert_int_equal(digest_buffer(DIGEST_SHA256, data,
		                               strlen(data), dd, &err),
		                 0);
		assert_int_equal(store_upload_start(f->st, "clock/a", id, &err),
		                 0);
		assert_non_null(
			u = store_upload_get(f->st, "clock/a", id, &err));
		assert_int_equal(
			store_upload_append(u, data, strlen(data), &err), 0);
		assert_int_equal(store_upload_commit(u, dd, &err), 0);
		if (!k)
			assert_int_equal(store_upload_start(f->st, "clock/a",
			                                    idle, &err),
			                 0);
	}

	/* 59 minutes on: younger than the delay, all stay. */
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.blobs + rep.uploads, 0);
	assert_int_equal(store_blob_stat(f->st, "clock/a", &d, &size, &err), 0);

	/* 118 minutes on: the first blob and the session go, in one pass;
	 * the blob pushed at 59 minutes is 59 minutes old and stays. */
	add_step(text, sizeof(text), 7080);
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.blobs, 1);
	assert_int_equal(rep.uploads, 1);
	assert_int_equal(store_blob_stat(f->st, "clock/a", &d, &size, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_int_equal(store_blob_stat(f->st, "clock/a", &e, &size, &err), 0);
	assert_null(store_upload_get(f->st, "clock/a", idle, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_the_age_clocks_follow_the_offset_file, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_times_map_with_the_offset_in_force_then, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_gc_ages_by_the_test_clock,
	                                        setup, teardown),
	};
	int ret;

	if (test_clock_file(clock_dir, sizeof(clock_dir), clock_file,
	                    sizeof(clock_file), "clockfile") < 0)
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	test_rm_tree(clock_dir);
	return ret;
}
