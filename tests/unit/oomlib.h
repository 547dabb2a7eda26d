/* SPDX-License-Identifier: Apache-2.0 */
/*
 * oomlib.h - an allocator that fails on request, for the out-of-memory
 * tests of parsers (curl's torture mode). A test includes the module's .c
 * file with malloc, calloc, realloc and strdup defined to the oom_
 * wrappers below, sets alloc_countdown to n to fail the nth allocation
 * from then on (0 the next one), and reads alloc_failed to learn whether
 * one was failed. Header only, after every system header the module uses.
 */
#ifndef DRAY_OOMLIB_H
#define DRAY_OOMLIB_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static long alloc_countdown = -1; /* fail when it reaches 0; -1: never */
static bool alloc_failed;         /* an allocation was failed */

static inline bool fail_now(void)
{
	if (alloc_countdown < 0)
		return false;
	if (alloc_countdown-- > 0)
		return false;
	alloc_failed = true;
	return true;
}

static inline void *oom_malloc(size_t n)
{
	return fail_now() ? NULL : malloc(n);
}

static inline void *oom_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : calloc(n, size);
}

static inline void *oom_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : realloc(p, n);
}

static inline char *oom_strdup(const char *s)
{
	return fail_now() ? NULL : strdup(s);
}

#endif
