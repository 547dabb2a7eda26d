/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_clock.c - unit tests for daemon/clock.h: the age clocks follow the
 * offset file that DRAY_TEST_CLOCK_FILE names (absent or malformed: no
 * offset; rewritten: the new offset), and the decisions by age read them:
 * a GC pass collects a loose blob and drops an idle upload session once
 * the offset makes them older than the delay, and not before.
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
	write_offset("90\n");
	assert_offset(90);
	unlink(clock_file);
	assert_offset(0);
}

static void test_gc_ages_by_the_test_clock(void **state)
{
	struct test_fixture *f = *state;
	static const char data[] = "loose blob";
	struct gc_opts o = {.delay_ms = HOUR_MS};
	char id[STORE_UPLOAD_ID_MAX], idle[STORE_UPLOAD_ID_MAX];
	struct gc_report rep = {0};
	struct err err = ERR_INIT;
	struct upload *u;
	uint64_t size;
	struct digest d;

	/* A blob that no manifest names, and a session left idle. */
	assert_int_equal(
		digest_buffer(DIGEST_SHA256, data, sizeof(data) - 1, &d, &err),
		0);
	assert_int_equal(store_upload_start(f->st, "clock/a", id, &err), 0);
	assert_non_null(u = store_upload_get(f->st, "clock/a", id, &err));
	assert_int_equal(store_upload_append(u, data, sizeof(data) - 1, &err),
	                 0);
	assert_int_equal(store_upload_commit(u, &d, &err), 0);
	assert_int_equal(store_upload_start(f->st, "clock/a", idle, &err), 0);

	/* 59 minutes on: younger than the delay, both stay. */
	write_offset("3540\n");
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.blobs + rep.uploads, 0);
	assert_int_equal(store_blob_stat(f->st, "clock/a", &d, &size, &err), 0);

	/* Two hours on: both go, in the same pass. */
	write_offset("7200\n");
	assert_int_equal(store_gc(f->st, &o, NULL, NULL, &rep, &err), 0);
	assert_int_equal(rep.blobs, 1);
	assert_int_equal(rep.uploads, 1);
	assert_int_equal(store_blob_stat(f->st, "clock/a", &d, &size, &err),
	                 -1);
	assert_int_equal(err.code, ERR_NOT_FOUND);
	err = ERR_INIT;
	assert_null(store_upload_get(f->st, "clock/a", idle, &err));
	assert_int_equal(err.code, ERR_NOT_FOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_the_age_clocks_follow_the_offset_file, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_gc_ages_by_the_test_clock,
	                                        setup, teardown),
	};
	int ret;

	if (test_mkdtemp(clock_dir, sizeof(clock_dir), "clockfile") < 0)
		return 1;
	snprintf(clock_file, sizeof(clock_file), "%s/off", clock_dir);
	setenv("DRAY_TEST_CLOCK_FILE", clock_file, 1);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	test_rm_tree(clock_dir);
	return ret;
}
