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

#endif
