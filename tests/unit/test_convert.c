/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_convert.c - store_dedupe_convert(): blobs brought in line with
 * storage.dedupe, and a shutdown heard between files, not only between
 * repositories.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testlib.h"
#include "storelib.h"

/* A yield that says stop from its @limit-th call on (*arg counts calls). */
struct stop_after {
	int calls;
	int limit;
};

static bool stop_after(void *arg)
{
	struct stop_after *s = arg;

	return ++s->calls >= s->limit;
}

/* Blobs of "a", each a copy of its own (dedupe off when pushed). */
static void push_copies(struct test_fixture *f, struct digest *d, int n)
{
	char text[32];

	store_set_dedupe(f->st, false);
	for (int i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "blob %d", i);
		d[i] = push_blob(f, "a", text);
	}
	store_set_dedupe(f->st, true);
}

/* A stop asked in the middle of a repository ends the pass there. */
static void test_stop_is_heard_between_files(void **state)
{
	struct test_fixture *f = *state;
	struct stop_after stop = {.limit = 3};
	struct err err = ERR_INIT;
	struct digest d[6];
	size_t n = 0;

	push_copies(f, d, 6);
	/* asked before each file: 1 and 2 go, 3 stops */
	assert_int_equal(
		store_dedupe_convert(f->st, stop_after, &stop, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(stop.calls, 3);

	/* the next pass does the rest */
	assert_int_equal(store_dedupe_convert(f->st, NULL, NULL, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(store_dedupe_convert(f->st, NULL, NULL, &n, &err), 0);
	assert_int_equal(n, 0);
}

/* Links become copies again with dedupe off, every one of them. */
static void test_copies_come_back_with_dedupe_off(void **state)
{
	struct test_fixture *f = *state;
	struct err err = ERR_INIT;
	struct digest d[3];
	char path[PATH_MAX];
	struct stat sb;
	size_t n = 0;

	push_copies(f, d, 3);
	assert_int_equal(store_dedupe_convert(f->st, NULL, NULL, &n, &err), 0);
	assert_int_equal(n, 3);
	blob_file(f, "a", &d[0], path);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sb.st_nlink > 1);

	store_set_dedupe(f->st, false);
	assert_int_equal(store_dedupe_convert(f->st, NULL, NULL, &n, &err), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++) {
		blob_file(f, "a", &d[i], path);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_nlink, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TF(test_stop_is_heard_between_files),
		TF(test_copies_come_back_with_dedupe_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
