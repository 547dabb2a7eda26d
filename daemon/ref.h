/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ref.h - repository names and tags, as the distribution-spec defines them.
 *
 * A name is path components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* joined by
 * '/', at most REF_NAME_MAX bytes. Since every repository is a directory of
 * OCI image layouts, a component may not be one of the layout's own entries
 * (blobs, index.json, oci-layout): `a/blobs` would land inside `a`'s blob
 * store. A tag is [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
 */
#ifndef DRAY_REF_H
#define DRAY_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/err.h"

#define REF_NAME_MAX 255
#define REF_TAG_MAX  128

/* 0 if @name (NUL-terminated) is a valid repository name; else ERR_INVALID. */
MUST_CHECK int ref_name_check(const char *name, struct err *err);

/* 0 if @tag is a valid tag; else ERR_INVALID. */
MUST_CHECK int ref_tag_check(const char *tag, struct err *err);

/* True if @s looks like a digest ("alg:enc") rather than a tag. */
bool ref_is_digest(const char *s);

/*
 * True if repository name @name matches @glob, as zot's configuration
 * reads repository globs (doublestar): a component that is exactly "**"
 * matches zero or more whole components, so "tmp" followed by a "**"
 * component matches tmp, tmp/a and tmp/a/b; '*' and '?' match within
 * one component; other characters match themselves. Braces, classes and
 * escapes are not supported (the config refuses them).
 */
bool ref_glob_match(const char *glob, const char *name);

#endif
