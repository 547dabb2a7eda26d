/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zot.h - zot's search API (pkg/extensions/search/schema.graphql) over
 * dray's store: the same types, queries, arguments, nullability and sort
 * orders, answered by the GraphQL executor of search/graphql.h, so that
 * what zot's web UI (zui) and CLI (zli) send gets an answer of the same
 * shape.
 *
 * What an image manifest says (config, layers, history, platform,
 * annotations and labels) and what a repository is ranked by are kept in
 * the store's index as images come and go; each request reads them, its
 * tags, referrers, pushes and pull counts from there. Vulnerability (CVE) queries answer a
 * GraphQL error: no scanner is packaged; CVE-typed fields are null.
 * Thread-safe: one struct zsearch serves every request.
 */
#ifndef DRAY_ZOT_H
#define DRAY_ZOT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "daemon/digest.h"
#include "daemon/err.h"

struct store;
struct zsearch; /* opaque */

/*
 * The caller's rights: @may(@arg, repo, action) is true when the caller
 * may do @action (enum access_action of daemon/access.h) on repo. A
 * repository the caller may not read never appears in an answer.
 */
struct zsearch_who {
	bool (*may)(void *arg, const char *repo, unsigned action);
	void *arg;
	const char *user; /* who is asking (NULL: anonymous) */
};

/*
 * The search API over @st (borrowed; it must outlive the result), pulls
 * written to the index @batch at a time (0: a default) or every few
 * seconds, and by zsearch_free().
 * NULL with ERR_NOMEM, or ERR_INTERNAL (the schema tables are bad).
 */
MUST_CHECK struct zsearch *zsearch_new(struct store *st, size_t batch,
                                       struct err *err);

/* Write the pulls still counted in memory and release @zs. Accepts NULL. */
void zsearch_free(struct zsearch *zs);

/*
 * Answer one GraphQL request (@query of @len bytes, @variables an object
 * or NULL, @operation or NULL) for the caller @who: a new reference to
 * the response ({"data", "errors"}), or NULL with ERR_NOMEM or
 * ERR_INTERNAL. Bad queries are answered, never failed.
 */
MUST_CHECK json_t *zsearch_run(struct zsearch *zs, const char *query,
                               size_t len, json_t *variables,
                               const char *operation,
                               const struct zsearch_who *who, struct err *err);

/* The schema in SDL, a string the caller frees; NULL with ERR_NOMEM. */
MUST_CHECK char *zsearch_sdl(const struct zsearch *zs, struct err *err);

/*
 * Manifest @d of @repo was pulled (a GET of it answered 200): counted in
 * DownloadCount and LastPullTimestamp, kept in the index (written in
 * batches: see zsearch_new()).
 */
void zsearch_pulled(struct zsearch *zs, const char *repo,
                    const struct digest *d);

struct userprefs;

/*
 * Answer StarredRepos, BookmarkedRepos, IsStarred, IsBookmarked and
 * StarCount from @up (search/userprefs.h; borrowed, it must outlive @zs;
 * NULL: nothing is starred). Call before the first zsearch_run().
 */
void zsearch_set_userprefs(struct zsearch *zs, struct userprefs *up);

#endif
