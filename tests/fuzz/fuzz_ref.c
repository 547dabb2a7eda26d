/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ref.c - repository names, tags and repository globs (daemon/ref.c).
 *
 * Input: "<glob>\n<name>". The whole input is checked as a name and as a
 * tag; the glob is matched against the name. Invariants: what passes the
 * name check fits REF_NAME_MAX and has no empty, "." or ".." component;
 * every valid name matches itself as a glob; within one component, glob
 * matching agrees with the obvious backtracking matcher (on inputs small
 * enough for it). Globs have at most 8 stars, as the config allows.
 */
#include "daemon/ref.h"
#include "tests/fuzz/fuzz.h"

/* The obvious matcher: at a star, try every split. Exponential. */
static bool naive_match(const char *g, const char *n)
{
	if (*g == '*') {
		for (const char *p = n;; p++) {
			if (naive_match(g + 1, p))
				return true;
			if (!*p)
				return false;
		}
	}
	if (!*n)
		return !*g;
	return (*g == '?' || *g == *n) && naive_match(g + 1, n + 1);
}

static size_t count(const char *s, char c)
{
	size_t k = 0;

	for (; *s; s++)
		k += *s == c;
	return k;
}

static void check_glob(const char *glob, const char *name)
{
	bool m;

	if (count(glob, '*') > 8)
		return;
	m = ref_glob_match(glob, name);
	if (!strchr(glob, '/') && !strchr(name, '/') && strcmp(glob, "**") &&
	    count(glob, '*') <= 4 && strlen(name) <= 24)
		fuzz_check(m == naive_match(glob, name));
}

static void check_name(const char *s)
{
	struct err err = ERR_INIT;
	const char *p = s;

	if (ref_name_check(s, &err) < 0) {
		fuzz_check(err.code == ERR_INVALID);
		return;
	}
	fuzz_check(err.code == ERR_OK);
	fuzz_check(*s && strlen(s) <= REF_NAME_MAX);
	while (*p) {
		size_t n = strcspn(p, "/");

		fuzz_check(n > 0 && strncmp(p, ".", n) != 0 &&
		           strncmp(p, "..", n) != 0);
		p += n;
		if (*p == '/')
			fuzz_check(*++p);
	}
	fuzz_check(ref_glob_match(s, s));
	fuzz_check(!ref_is_digest(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = ERR_INIT;
	char *s = fuzz_str(data, size), *rest, *glob;

	if (!s)
		return 0;
	check_name(s);
	if (ref_tag_check(s, &err) == 0)
		fuzz_check(*s && strlen(s) <= REF_TAG_MAX && !strchr(s, '/'));
	(void)ref_is_digest(s);
	rest = s;
	glob = fuzz_field(&rest);
	check_glob(glob, rest);
	check_name(rest);
	free(s);
	return 0;
}
