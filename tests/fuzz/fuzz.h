/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz.h - what the libFuzzer harnesses share: the entry point's
 * prototype, input as C strings, and a store on a private directory
 * opened once per process. Header only.
 *
 * A harness reports a bug by crashing: a sanitizer report, or abort()
 * through fuzz_check() when an invariant of the parser's result fails.
 */
#ifndef DRAY_FUZZ_H
#define DRAY_FUZZ_H

#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fsutil.h"
#include "daemon/log.h"
#include "index/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort (a crash libFuzzer records) when @cond is false. */
#define fuzz_check(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* A new NUL-terminated copy of @data; NULL when it holds a NUL itself. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s;

	if (memchr(data, '\0', size))
		return NULL;
	s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Cut the next '\n'-terminated field off *@s (the rest when there is no
 * '\n'); the field is NUL-terminated in place.
 */
static inline char *fuzz_field(char **s)
{
	char *f = *s, *nl = strchr(f, '\n');

	if (nl) {
		*nl = '\0';
		*s = nl + 1;
	} else {
		*s = f + strlen(f);
	}
	return f;
}

static char fuzz_root[PATH_MAX];
static struct store *fuzz_st;

static void fuzz_store_remove(void)
{
	struct err err = ERR_INIT;

	store_close(fuzz_st);
	if (fs_remove_tree(fuzz_root, &err) < 0)
		fprintf(stderr, "cannot remove %s: %s\n", fuzz_root, err.msg);
}

/*
 * The process's store, on a new directory under $TMPDIR (or /tmp),
 * closed and removed at exit. Only errors are logged, so the fuzzer's
 * output stays readable.
 */
static inline struct store *fuzz_store(void)
{
	const char *tmp = getenv("TMPDIR");
	struct err err = ERR_INIT;

	if (fuzz_st)
		return fuzz_st;
	if (log_open(NULL, LOG_ERROR, &err) < 0)
		abort();
	if (snprintf(fuzz_root, sizeof(fuzz_root), "%s/dray-fuzz.XXXXXX",
	             tmp && *tmp ? tmp : "/tmp") >= (int)sizeof(fuzz_root) ||
	    !mkdtemp(fuzz_root))
		abort();
	fuzz_st = store_open(fuzz_root, &err);
	if (!fuzz_st) {
		fprintf(stderr, "store_open %s: %s\n", fuzz_root, err.msg);
		abort();
	}
	atexit(fuzz_store_remove);
	return fuzz_st;
}

#endif
