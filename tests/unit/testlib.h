/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testlib.h - what the cmocka unit tests share: a private directory per
 * test, and a store opened on one. Header only; tests include it after
 * cmocka.h.
 */
#ifndef DRAY_TESTLIB_H
#define DRAY_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>

#include "daemon/fsutil.h"
#include "index/store.h"

/* Make "/tmp/dray-test-<name>.XXXXXX" into @dir (@n bytes). 0 or -1. */
static inline int test_mkdtemp(char *dir, size_t n, const char *name)
{
	if (snprintf(dir, n, "/tmp/dray-test-%s.XXXXXX", name) >= (int)n)
		return -1;
	return mkdtemp(dir) ? 0 : -1;
}

/*
 * Make a test directory (@dir, @n bytes) and point DRAY_TEST_CLOCK_FILE,
 * the age clock's offset file (daemon/clock.h), at "<dir>/off" (@file,
 * @fn bytes). 0 or -1.
 */
static inline int test_clock_file(char *dir, size_t n, char *file, size_t fn,
                                  const char *name)
{
	if (test_mkdtemp(dir, n, name) < 0 ||
	    snprintf(file, fn, "%s/off", dir) >= (int)fn)
		return -1;
	return setenv("DRAY_TEST_CLOCK_FILE", file, 1);
}

/* A store on a new test directory (written to @dir), or NULL. */
static inline struct store *test_store_open(char *dir, size_t n,
                                            const char *name)
{
	struct err err = ERR_INIT;
	struct store *st;

	if (test_mkdtemp(dir, n, name) < 0)
		return NULL;
	st = store_open(dir, &err);
	if (!st)
		fprintf(stderr, "store_open: %s\n", err.msg);
	return st;
}

/* Remove a test directory and everything in it (symlinks not followed). */
static inline void test_rm_tree(const char *dir)
{
	struct err err = ERR_INIT;

	if (fs_remove_tree(dir, &err) < 0)
		fprintf(stderr, "cannot remove %s: %s\n", dir, err.msg);
}

/* The usual fixture: a store open on a test directory of its own. */
struct test_fixture {
	char root[64];    /* this test's mkdtemp directory, the store root */
	struct store *st; /* the store opened on it (NULL when closed) */
};

/* cmocka setup: a test_fixture in *@state, its directory named @name. */
static inline int test_fixture_setup(void **state, const char *name)
{
	struct test_fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->st = test_store_open(f->root, sizeof(f->root), name);
	if (!f->st) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* cmocka teardown of test_fixture_setup(): close, remove, free. */
static inline int test_fixture_teardown(void **state)
{
	struct test_fixture *f = *state;

	store_close(f->st);
	test_rm_tree(f->root);
	free(f);
	return 0;
}

#endif
