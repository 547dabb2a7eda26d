/* SPDX-License-Identifier: Apache-2.0 */
/* ref.c - repository name and tag grammar. */
#include <string.h>

#include "daemon/ref.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Check one component [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* of length @n. */
static bool component_ok(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t run = 0;

		while (i < n && is_lower_alnum(s[i])) {
			i++;
			run++;
		}
		if (run == 0)
			return false;
		if (i == n)
			return true;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == n)
			return false; /* a separator must be followed */
	}
	return n > 0;
}

static bool component_reserved(const char *s, size_t n)
{
	static const char *const reserved[] = {"blobs", "index.json",
	                                       "oci-layout"};

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == n && memcmp(s, reserved[i], n) == 0)
			return true;
	return false;
}

int ref_name_check(const char *name, struct err *err)
{
	size_t len = strlen(name);
	const char *p = name;

	if (len == 0)
		return err_set(err, ERR_INVALID, "empty repository name");
	if (len > REF_NAME_MAX)
		return err_set(err, ERR_INVALID,
		               "repository name longer than %d bytes",
		               REF_NAME_MAX);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (!component_ok(p, n))
			return err_set(err, ERR_INVALID,
			               "invalid repository name '%.*s'",
			               (int)len, name);
		if (component_reserved(p, n))
			return err_set(err, ERR_INVALID,
			               "repository name component '%.*s' is "
			               "reserved by the OCI image layout",
			               (int)n, p);
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

int ref_tag_check(const char *tag, struct err *err)
{
	size_t len = strlen(tag);

	if (len == 0 || len > REF_TAG_MAX)
		return err_set(err, ERR_INVALID, "tag must be 1 to %d bytes",
		               REF_TAG_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = tag[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '_' ||
		          (i > 0 && (c == '.' || c == '-'));

		if (!ok)
			return err_set(err, ERR_INVALID, "invalid tag '%.*s'",
			               (int)len, tag);
	}
	return 0;
}

bool ref_is_digest(const char *s)
{
	return strchr(s, ':') != NULL;
}

/*
 * Does name component [n, ne) match glob component [g, ge) ('*', '?')?
 * A mismatch after a star lets only the last star eat one more byte: an
 * earlier star can gain nothing the last one cannot, so this takes
 * O(len(g) * len(n)) steps; trying every split at every star took
 * O(len(n) ** stars), hours for a few stars and a long name.
 */
static bool component_match(const char *g, const char *ge, const char *n,
                            const char *ne)
{
	const char *star = NULL, *eaten = NULL;

	while (n < ne) {
		if (g < ge && *g == '*') {
			star = ++g;
			eaten = n;
		} else if (g < ge && (*g == '?' || *g == *n)) {
			g++;
			n++;
		} else if (star) {
			g = star;
			n = ++eaten;
		} else {
			return false;
		}
	}
	while (g < ge && *g == '*')
		g++;
	return g == ge;
}

bool ref_glob_match(const char *glob, const char *name)
{
	const char *ge = glob + strcspn(glob, "/");
	const char *ne = name + strcspn(name, "/");

	/* "**" as a whole component: zero or more components. */
	if (ge - glob == 2 && glob[0] == '*' && glob[1] == '*') {
		if (!*ge)
			return true;
		for (const char *p = name;; p++) {
			if (ref_glob_match(ge + 1, p))
				return true;
			p = strchr(p, '/');
			if (!p)
				return false;
		}
	}
	if (!component_match(glob, ge, name, ne))
		return false;
	if (!*ge && !*ne)
		return true;
	if (!*ne) /* a last "**" component may match none */
		return strcmp(ge, "/**") == 0;
	if (!*ge)
		return false;
	return ref_glob_match(ge + 1, ne + 1);
}
